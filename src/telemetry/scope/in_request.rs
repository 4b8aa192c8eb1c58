//! A request's future in its scope: the request's span entered on every poll once it is
//! made, the request pending on the thread while it is not ([`super::Scopes`] then makes
//! it when a line is logged), and the same while the future is dropped, as `tracing`'s
//! `Instrumented` does: a request cut short (its client gone) undoes what it had begun,
//! and what that logs belongs to the request.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::{PENDING, ScopeState};

pin_project! {
    /// A request's future in its [`super::RequestScope`].
    pub struct InRequest<F> {
        // `None` once dropped in scope (see `PinnedDrop` below).
        #[pin]
        inner: Option<F>,
        state: Option<Rc<ScopeState>>,
    }

    impl<F> PinnedDrop for InRequest<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut inner = this.inner;
            in_scope(this.state.as_ref(), || inner.set(None));
        }
    }
}

impl<F> InRequest<F> {
    pub(super) fn new(inner: F, state: Option<Rc<ScopeState>>) -> Self {
        Self {
            inner: Some(inner),
            state,
        }
    }
}

impl<F: Future> Future for InRequest<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let inner = this.inner;
        in_scope(this.state.as_ref(), || match inner.as_pin_mut() {
            Some(inner) => inner.poll(cx),
            // Polled after being dropped in scope: cannot happen, `drop` is the last call.
            None => Poll::Pending,
        })
    }
}

/// Runs `f` with the request's span entered if it is made, else with the request pending
/// on this thread (and its span exited afterwards if `Scopes` made it meanwhile).
fn in_scope<T>(state: Option<&Rc<ScopeState>>, f: impl FnOnce() -> T) -> T {
    let Some(state) = state else {
        return f();
    };
    if let Some(span) = state.span.get() {
        let _entered = span.enter();
        return f();
    }
    let _pending = Pending::set(state);
    f()
}

/// `state` pending on this thread for one poll; afterwards the previous one is restored,
/// and the span, if [`super::Scopes`] made and entered it meanwhile, exited (a panic
/// included).
struct Pending<'a> {
    previous: Option<Rc<ScopeState>>,
    state: &'a ScopeState,
}

impl<'a> Pending<'a> {
    fn set(state: &'a Rc<ScopeState>) -> Self {
        let previous = PENDING.replace(Some(state.clone()));
        Self { previous, state }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        PENDING.set(self.previous.take());
        if let Some(span) = self.state.span.get() {
            span.with_subscriber(|(id, dispatch)| dispatch.exit(id));
        }
    }
}
