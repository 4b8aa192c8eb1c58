//! The request span made lazily under [`Scopes`], at once under any other subscriber.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use tracing::span::{Attributes, Id};
use tracing::{Dispatch, Span, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt;
use tracing_subscriber::layer::{self, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use super::{RequestScope, RequestSpans, Scopes};
use crate::telemetry::captured::{Lines, plain_lines};
use crate::telemetry::queue;
use crate::telemetry::request_line::Answered;

/// Counts the spans made.
struct CountSpans(Arc<AtomicUsize>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for CountSpans {
    fn on_new_span(&self, _: &Attributes<'_>, _: &Id, _: layer::Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Plain text lines into `lines`, spans counted into `spans`, under [`Scopes`] when
/// `scoped` says how (as the node logs), else as a test subscriber would.
fn subscriber(lines: &Lines, spans: &Arc<AtomicUsize>, scoped: Option<RequestSpans>) -> Dispatch {
    let inner = tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(CountSpans(spans.clone()))
        .with(plain_lines(lines));
    match scoped {
        Some(request_spans) => Dispatch::new(Scopes::new(inner, request_spans, None)),
        None => Dispatch::new(inner),
    }
}

/// Pending once, then ready: a request that waits for something once.
#[derive(Default)]
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn scope() -> RequestScope {
    RequestScope::new("POST", || "/p", "id-1")
}

const PREFIX: &str = "request{method=POST path=/p request_id=id-1}:";

/// Request spans as the node makes them.
const LAZY: Option<RequestSpans> = Some(RequestSpans::Lazy);

/// This module's target, as a line shows it.
const TARGET: &str = "holdpoint::telemetry::scope::tests:";

/// Runs `body` under [`subscriber`] (`scoped` as there), which it hands the count of spans
/// made; returns the lines it logged and the spans made in all.
fn logged_under(
    scoped: Option<RequestSpans>,
    body: impl FnOnce(&AtomicUsize),
) -> (Vec<String>, usize) {
    let (lines, spans) = (Lines::default(), Arc::new(AtomicUsize::new(0)));
    tracing::dispatcher::with_default(&subscriber(&lines, &spans, scoped), || body(&spans));
    (logged(&lines), spans.load(Ordering::Relaxed))
}

fn made(spans: &AtomicUsize) -> usize {
    spans.load(Ordering::Relaxed)
}

/// The lines written, each without its timestamp and level.
fn logged(lines: &Lines) -> Vec<String> {
    lines
        .text()
        .lines()
        .map(|line| line.splitn(4, ' ').last().unwrap_or_default().trim().into())
        .collect()
}

#[test]
fn a_request_that_logs_nothing_makes_no_span() {
    logged_under(LAZY, |spans| {
        let scope = scope();
        run(scope.instrument(YieldOnce::default()));
        assert_eq!(made(spans), 0);
        let span = scope.span().expect("the span is enabled");
        assert_eq!(span.metadata().map(|meta| meta.name()), Some("request"));
        assert_eq!(made(spans), 1);
    });
}

#[test]
fn lines_in_a_request_carry_its_span_from_the_first_on() {
    let (lines, spans) = logged_under(LAZY, |_| {
        let scope = scope();
        run(scope.instrument(async {
            tracing::info!("first");
            YieldOnce::default().await;
            tracing::info!("second");
            tracing::info_span!("command").in_scope(|| tracing::info!("third"));
        }));
        tracing::info!("outside");
    });
    assert_eq!(
        lines,
        [
            format!("{PREFIX} {TARGET} first"),
            format!("{PREFIX} {TARGET} second"),
            format!("{PREFIX}command: {TARGET} third"),
            format!("{TARGET} outside"),
        ]
    );
    assert_eq!(spans, 2, "the request's and the command's");
}

#[test]
fn a_span_without_the_request_as_parent_keeps_its_own_scope() {
    let (lines, _) = logged_under(LAZY, |_| {
        run(scope().instrument(async {
            tracing::info_span!(parent: None, "job").in_scope(|| tracing::info!("in job"));
            tracing::info!("after job");
        }));
    });
    assert_eq!(
        lines,
        [
            format!("job: {TARGET} in job"),
            format!("{PREFIX} {TARGET} after job"),
        ]
    );
}

#[test]
fn the_current_span_in_a_request_is_the_request_s() {
    logged_under(LAZY, |_| {
        let name = run(scope().instrument(async {
            YieldOnce::default().await;
            Span::current().metadata().map(|meta| meta.name())
        }));
        assert_eq!(name, Some("request"));
    });
}

#[test]
fn under_another_subscriber_or_eager_scopes_the_span_is_made_at_once() {
    for scoped in [None, Some(RequestSpans::Eager)] {
        let (lines, _) = logged_under(scoped, |spans| {
            let scope = scope();
            assert_eq!(made(spans), 1, "{scoped:?}");
            run(scope.instrument(async {
                YieldOnce::default().await;
                tracing::info!("inside");
            }));
        });
        assert_eq!(lines, [format!("{PREFIX} {TARGET} inside")]);
    }
}

#[test]
fn a_disabled_span_leaves_nothing_to_make_or_write() {
    let lines = Lines::default();
    let filtered = tracing_subscriber::registry()
        .with(LevelFilter::WARN)
        .with(fmt::layer().with_writer(lines.clone()));
    let (queue, _guard) = queue::line_queue(lines.clone());
    let dispatch = Dispatch::new(Scopes::new(filtered, RequestSpans::Lazy, Some(queue)));
    tracing::dispatcher::with_default(&dispatch, || {
        let scope = scope();
        assert!(scope.span().is_none());
        assert!(!scope.write_request_line(&answered()));
    });
}

#[test]
fn the_request_line_follows_the_configured_filter() {
    for (directives, expected) in [
        ("info,holdpoint::http::observe=warn", 0),
        ("warn,holdpoint::http::observe=info", 1),
        ("warn", 0),
        // Field names: the span and the line, whose fields differ, may be decided apart.
        ("warn,holdpoint::http::observe[{method}]=info", 0),
        ("info,holdpoint::http::observe[{nothing}]=warn", 1),
    ] {
        let (filter, spans) = crate::telemetry::filter_of(None, directives);
        // Written straight into the queue, or through `tracing` when the span is disabled.
        let (written, through_tracing) = (Lines::default(), Lines::default());
        let (queue, guard) = queue::line_queue(written.clone());
        let inner = tracing_subscriber::registry()
            .with(filter)
            .with(fmt::layer().with_writer(through_tracing.clone()));
        let dispatch = Dispatch::new(Scopes::new(inner, spans, Some(queue)));
        tracing::dispatcher::with_default(&dispatch, || scope().log_answered(&answered()));
        guard.close_and_wait();
        let lines = logged(&written).len() + logged(&through_tracing).len();
        assert_eq!(lines, expected, "{directives}");
    }
}

fn answered() -> Answered {
    Answered {
        route: "/p",
        status: 200,
        dialect: "api",
        operation: "POST",
        elapsed_ms: 0.5,
    }
}

#[test]
fn the_request_line_goes_into_the_plain_queue_without_a_span() {
    let (lines, spans) = (Lines::default(), Arc::new(AtomicUsize::new(0)));
    let written = Lines::default();
    let (queue, guard) = queue::line_queue(written.clone());
    let inner = tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(CountSpans(spans.clone()))
        .with(fmt::layer().with_writer(lines.clone()));
    let dispatch = Dispatch::new(Scopes::new(inner, RequestSpans::Lazy, Some(queue)));
    tracing::dispatcher::with_default(&dispatch, || {
        let scope = scope();
        run(scope.instrument(YieldOnce::default()));
        scope.log_answered(&answered());
    });
    guard.close_and_wait();
    assert_eq!(spans.load(Ordering::Relaxed), 0);
    assert_eq!(
        logged(&written),
        [format!(
            "{PREFIX} holdpoint::http::observe: request route=\"/p\" status=200 \
             dialect=\"api\" operation=\"POST\" elapsed_ms=0.5"
        )]
    );
}

/// Logs when dropped, as a command undone by a request cut short does.
struct LogsOnDrop;

impl Drop for LogsOnDrop {
    fn drop(&mut self) {
        tracing::info!("undone");
    }
}

#[test]
fn what_a_request_cut_short_logs_is_the_request_s() {
    let (lines, _) = logged_under(LAZY, |_| {
        let scope = scope();
        let mut request = Box::pin(scope.instrument(async {
            let _undo = LogsOnDrop;
            YieldOnce::default().await;
            std::future::pending::<()>().await;
        }));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(request.as_mut().poll(&mut cx).is_pending());
        drop(request);
        tracing::info!("after");
    });
    assert_eq!(
        lines,
        [
            format!("{PREFIX} {TARGET} undone"),
            format!("{TARGET} after")
        ]
    );
}

#[test]
fn a_scope_polled_inside_itself_makes_one_span() {
    let (lines, spans) = logged_under(LAZY, |_| {
        let scope = scope();
        run(scope.instrument(async {
            tracing::info!("outer");
            scope.instrument(async { tracing::info!("inner") }).await;
        }));
        tracing::info!("after");
    });
    assert_eq!(
        lines,
        [
            format!("{PREFIX} {TARGET} outer"),
            format!("{PREFIX} {TARGET} inner"),
            format!("{TARGET} after"),
        ]
    );
    assert_eq!(spans, 1);
}
