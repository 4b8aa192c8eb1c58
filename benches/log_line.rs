//! What a request's logging costs the worker that serves it, at a given level, through the
//! node's own subscriber (`telemetry::init`, text format, the bounded queue):
//!
//! - `scope_ns`: the request's scope, as `http::observe` opens it (the `request` span's
//!   values kept; the span itself is made only if a line is logged inside the request);
//! - `scope_and_line_ns`: the same and the `request` line of the answer;
//! - `eager_ns`: the span made for every request and the line logged through `tracing`
//!   inside it, as every request paid before the scope (kept for comparison).
//!
//! `cargo bench --bench log_line -- [LEVEL] 2>/dev/null` (stderr is where the lines go;
//! a pipe or file, not a terminal, as on a server). Prints nanoseconds per request, one
//! thread, two rounds; the writer thread runs beside it.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use holdpoint::telemetry::{Answered, RequestScope};

const REQUESTS: u32 = 200_000;
const PATH: &str = "/vmware-vmo-webcontrol/webservice";
const REQUEST_ID: &str = "0123456789ab-42";

fn main() {
    let level = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .unwrap_or_else(|| "info".into());
    let _guard = holdpoint::telemetry::init(&level, holdpoint::config::LogFormat::Text);
    for round in 1..=2 {
        let scope = per_request(|n| {
            let scope = RequestScope::new("POST", || PATH, REQUEST_ID);
            poll_once(scope.instrument(std::future::ready(n)));
        });
        let scope_and_line = per_request(|n| {
            let scope = RequestScope::new("POST", || PATH, REQUEST_ID);
            poll_once(scope.instrument(std::future::ready(n)));
            scope.log_answered(&answered(n));
        });
        let eager = per_request(|n| {
            let span = tracing::info_span!(
                "request",
                method = %"POST",
                path = %PATH,
                request_id = %REQUEST_ID,
            );
            poll_once(std::future::ready(n));
            answered(n).log_in(span.id());
        });
        println!(
            "log_line round={round} level={level} scope_ns={} scope_and_line_ns={} eager_ns={}",
            scope.as_nanos(),
            scope_and_line.as_nanos(),
            eager.as_nanos()
        );
        // Let the writer thread drain the queue between rounds.
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// What an echo's answer settles (same kinds of value as `http::observe`'s).
fn answered(n: u32) -> Answered {
    Answered {
        route: PATH,
        status: 200,
        dialect: "orchestrator",
        operation: "echo",
        elapsed_ms: f64::from(125 + n % 1000) / 1000.0,
    }
}

/// Polls a future that is ready at once, as a worker polls a request that needs no I/O.
fn poll_once<F: Future>(future: F) {
    let mut cx = Context::from_waker(Waker::noop());
    black_box(pin!(future).poll(&mut cx).is_ready());
}

fn per_request(mut request: impl FnMut(u32)) -> Duration {
    let started = Instant::now();
    for n in 0..REQUESTS {
        request(n);
    }
    started.elapsed() / REQUESTS
}
