//! A request's span, made only when something is logged inside the request.
//!
//! Every request runs in a `request` span (`method`, `path`, `request_id`) so that each line
//! logged while it is served carries them. Made for every request, that span was half of
//! what logging cost an echo request at the default level (a slot in the registry, its
//! fields formatted, an entry and an exit per poll: `perf`, 2026-12-05), while most
//! requests log one line only, the `request` line of their answer, which is written
//! without the span ([`RequestScope::write_request_line`]). So a [`RequestScope`] keeps the
//! span's fields, and [`Scopes`], the subscriber `telemetry::init` installs, makes the span
//! when the first line or span inside the request is logged with the current span as its
//! parent: it makes the span, enters it, and lets that line or span go on as if the span
//! had been entered from the start. The request's future ([`InRequest`]) enters the span on
//! every later poll, as `tracing`'s `Instrumented` does.
//!
//! - The span is a root, as it was in effect: nothing is entered above a request
//!   (`observe` is the outermost layer of the app).
//! - A line logged inside a span that was entered in the request before the request's span
//!   existed (a span made with an explicit parent, or none) keeps that span as its parent,
//!   without the request's: such a span was never the request's child.
//! - Under any other subscriber (a test's, an embedder's), and under `RUST_LOG` (whose
//!   filter may decide by the spans a line is in), the span is made at once.

use std::cell::{OnceCell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::OnceLock;

use tracing::field::{Field, Value, display};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Level, Metadata, Span, Subscriber};
use tracing_core::callsite::DefaultCallsite;
use tracing_core::dispatcher::WeakDispatch;
use tracing_core::metadata::Kind;
use tracing_core::span::Current;

use super::queue::LineQueue;
use super::request_line::{self, Answered};

/// The `request` span's callsite: what `tracing::info_span!` would declare for it.
static CALLSITE: DefaultCallsite = DefaultCallsite::new(&REQUEST_SPAN);

static REQUEST_SPAN: Metadata<'static> = tracing_core::metadata! {
    name: "request",
    // The span's filters name the HTTP edge, as they did when `http::observe` made it.
    target: request_line::TARGET,
    level: Level::INFO,
    fields: &["method", "path", "request_id"],
    callsite: &CALLSITE,
    kind: Kind::SPAN,
};

thread_local! {
    /// The request being polled on this thread while its span is not made yet.
    static PENDING: RefCell<Option<Rc<ScopeState>>> = const { RefCell::new(None) };
}

/// The log context of one request (module doc).
pub struct RequestScope {
    /// `None` when the `request` span is disabled: nothing to make, enter or write.
    state: Option<Rc<ScopeState>>,
    /// [`Scopes`] makes the span late: its filter is one of targets and levels alone.
    lazy: bool,
}

struct ScopeState {
    fields: SpanFields,
    span: OnceCell<Span>,
}

/// The span's three values in one allocation: `method`, `path`, `request_id`, in a row.
struct SpanFields {
    text: String,
    method_end: usize,
    path_end: usize,
}

impl SpanFields {
    fn method(&self) -> &str {
        &self.text[..self.method_end]
    }

    fn path(&self) -> &str {
        &self.text[self.method_end..self.path_end]
    }

    fn request_id(&self) -> &str {
        &self.text[self.path_end..]
    }

    /// The span, made by `dispatch` (as `info_span!` makes it, without asking which
    /// dispatcher is current: [`Scopes`] makes it while it dispatches a line).
    fn span(&self, dispatch: &Dispatch) -> Span {
        let names = REQUEST_SPAN.fields();
        let (Some(method), Some(path), Some(request_id)) = (
            names.field("method"),
            names.field("path"),
            names.field("request_id"),
        ) else {
            return Span::none();
        };
        let (method_value, path_value, request_id_value) = (
            display(self.method()),
            display(self.path()),
            display(self.request_id()),
        );
        let values: [(&Field, Option<&dyn Value>); 3] = [
            (&method, Some(&method_value)),
            (&path, Some(&path_value)),
            (&request_id, Some(&request_id_value)),
        ];
        // What `info_span!(parent: None, …)` expands to, with the dispatcher given rather
        // than looked up. A root is never made pending-first by [`Scopes`], so making it
        // while the request is pending cannot recurse.
        Span::new_root_with(&REQUEST_SPAN, &names.value_set(&values), dispatch)
    }
}

impl RequestScope {
    /// The scope of a request; `path` gives the path as it may be logged, asked only when
    /// the span is enabled (at `warn` no request spends anything on it).
    pub fn new<P: AsRef<str>>(method: &str, path: impl FnOnce() -> P, request_id: &str) -> Self {
        // Asked outside `get_default`: registering the callsite may look the dispatcher up.
        let interest = span_interest();
        let (enabled, lazy) = tracing::dispatcher::get_default(|dispatch| {
            let enabled =
                interest.is_always() || interest.is_sometimes() && dispatch.enabled(&REQUEST_SPAN);
            let lazy = dispatch
                .downcast_ref::<Scopes>()
                .is_some_and(|scopes| scopes.spans == RequestSpans::Lazy);
            (enabled, lazy)
        });
        if !enabled {
            return Self { state: None, lazy };
        }
        let path = path();
        let path = path.as_ref();
        let mut text = String::with_capacity(method.len() + path.len() + request_id.len());
        text.push_str(method);
        text.push_str(path);
        let (method_end, path_end) = (method.len(), text.len());
        text.push_str(request_id);
        let state = ScopeState {
            fields: SpanFields {
                text,
                method_end,
                path_end,
            },
            span: OnceCell::new(),
        };
        if !lazy {
            let span = tracing::dispatcher::get_default(|dispatch| state.fields.span(dispatch));
            let _ = state.span.set(span);
        }
        Self {
            state: Some(Rc::new(state)),
            lazy,
        }
    }

    /// `future`, run inside this scope.
    pub fn instrument<F: Future>(&self, future: F) -> InRequest<F> {
        InRequest::new(future, self.state.clone())
    }

    /// The request's span, made now if nothing inside the request made it.
    pub fn span(&self) -> Option<&Span> {
        let state = self.state.as_ref()?;
        Some(
            state
                .span
                .get_or_init(|| tracing::dispatcher::get_default(|d| state.fields.span(d))),
        )
    }

    /// Logs the request's `request` line, with what its answer settled, when enabled: in
    /// the plain text format straight into the log queue, exactly as that format writes
    /// it inside the span, without the span ([`request_line`]); else through `tracing`.
    pub fn log_answered(&self, answered: &Answered) {
        // Lazy scopes come with a filter of targets and levels alone (`telemetry::filter_of`),
        // and the line has the span's target and level: there it is enabled exactly when the
        // span is, which `new` asked already (of the same dispatcher: a request's future
        // stays on its thread, under the process's subscriber).
        let enabled = if self.lazy {
            self.state.is_some()
        } else {
            request_line::enabled()
        };
        if enabled && !self.write_request_line(answered) {
            answered.log_in(self.span().and_then(Span::id));
        }
    }

    /// Writes the `request` line straight into the log queue and returns true; returns
    /// false, having written nothing, when the plain text format is not the one installed
    /// or the span is disabled.
    fn write_request_line(&self, answered: &Answered) -> bool {
        let Some(state) = &self.state else {
            return false;
        };
        tracing::dispatcher::get_default(|dispatch| {
            let Some(queue) = dispatch
                .downcast_ref::<Scopes>()
                .and_then(|s| s.plain.as_ref())
            else {
                return false;
            };
            let fields = &state.fields;
            let span = request_line::SpanValues {
                method: fields.method(),
                path: fields.path(),
                request_id: fields.request_id(),
            };
            request_line::with_line(&span, answered, |line| queue.push(line));
            true
        })
    }
}

/// What the dispatchers want of the `request` span, as `info_span!` asks them.
fn span_interest() -> Interest {
    if Level::INFO > LevelFilter::current() {
        return Interest::never();
    }
    CALLSITE.interest()
}

/// When [`Scopes`] makes a request's span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RequestSpans {
    /// When the first line or span inside the request is logged (module doc).
    Lazy,
    /// When the request comes in, as any other subscriber has it made.
    Eager,
}

/// The process's subscriber: `inner`, with the request spans made when first needed
/// (module doc), and the plain text queue the `request` line is written into directly.
pub(super) struct Scopes {
    inner: Box<dyn Subscriber + Send + Sync>,
    spans: RequestSpans,
    plain: Option<LineQueue>,
    /// This subscriber's dispatcher, which the spans it makes are tied to.
    dispatch: OnceLock<WeakDispatch>,
}

impl Scopes {
    /// `inner` with request spans made as `spans` says; `plain` is the queue of the plain
    /// text format, when that is `inner`'s.
    pub(super) fn new(
        inner: impl Subscriber + Send + Sync,
        spans: RequestSpans,
        plain: Option<LineQueue>,
    ) -> Self {
        Self {
            inner: Box::new(inner),
            spans,
            plain,
            dispatch: OnceLock::new(),
        }
    }

    /// Makes and enters the pending request's span, if a request is pending on this
    /// thread and no span of its own is entered (module doc).
    fn make_pending_span(&self) {
        let Some(state) = PENDING.with(|pending| pending.borrow_mut().take()) else {
            return;
        };
        // Made already (the request's future polled inside itself): its poll entered it.
        let unmade = state.span.get().is_none();
        let dispatch = self.dispatch.get().and_then(WeakDispatch::upgrade);
        let Some(dispatch) =
            dispatch.filter(|_| unmade && self.inner.current_span().id().is_none())
        else {
            PENDING.set(Some(state));
            return;
        };
        let span = state.fields.span(&dispatch);
        if let Some(id) = span.id() {
            self.inner.enter(&id);
        }
        let _ = state.span.set(span);
    }
}

impl Subscriber for Scopes {
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        let _ = self.dispatch.set(dispatch.downgrade());
        self.inner.on_register_dispatch(dispatch);
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.inner.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.inner.max_level_hint()
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        if span.is_contextual() {
            self.make_pending_span();
        }
        self.inner.new_span(span)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.inner.record(span, values);
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.inner.record_follows_from(span, follows);
    }

    fn event_enabled(&self, event: &Event<'_>) -> bool {
        self.inner.event_enabled(event)
    }

    fn event(&self, event: &Event<'_>) {
        if event.is_contextual() {
            self.make_pending_span();
        }
        self.inner.event(event);
    }

    fn enter(&self, span: &Id) {
        self.inner.enter(span);
    }

    fn exit(&self, span: &Id) {
        self.inner.exit(span);
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.inner.clone_span(id)
    }

    #[allow(deprecated)]
    fn drop_span(&self, id: Id) {
        self.inner.drop_span(id);
    }

    fn try_close(&self, id: Id) -> bool {
        self.inner.try_close(id)
    }

    fn current_span(&self) -> Current {
        // `Span::current()` inside a request is the request's span, as before.
        self.make_pending_span();
        self.inner.current_span()
    }
}

mod in_request;
#[cfg(test)]
mod tests;

pub use in_request::InRequest;
