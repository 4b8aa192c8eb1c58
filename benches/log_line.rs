//! What a request's log line costs the worker that serves it, at a given level: the
//! request span (its fields) and the `request` line inside it (what the answer settled),
//! through the node's own subscriber (`telemetry::init`, text format, the bounded queue).
//!
//! `cargo bench --bench log_line -- [LEVEL] 2>/dev/null` (stderr is where the lines go;
//! a pipe or file, not a terminal, as on a server). Prints nanoseconds per request, one
//! thread, two rounds; the writer thread runs beside it.

use std::hint::black_box;
use std::time::{Duration, Instant};

const REQUESTS: u32 = 200_000;

fn main() {
    let level = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with('-'))
        .unwrap_or_else(|| "info".into());
    let _guard = holdpoint::telemetry::init(&level, holdpoint::config::LogFormat::Text);
    for round in 1..=2 {
        let span_only = per_request(|n| {
            let span = request_span();
            let _entered = span.enter();
            black_box(n);
        });
        let with_line = per_request(|n| {
            let span = request_span();
            request_line(&span, n);
        });
        println!(
            "log_line round={round} level={level} span_ns={} span_and_line_ns={}",
            span_only.as_nanos(),
            with_line.as_nanos()
        );
        // Let the writer thread drain the queue between rounds.
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The span `http::observe` opens for every request (same fields, same kinds of value).
fn request_span() -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %"POST",
        path = %"/vmware-vmo-webcontrol/webservice",
        request_id = %"0123456789ab-42",
    )
}

/// The line `http::observe` writes when the request is answered (same fields and kinds).
fn request_line(span: &tracing::Span, n: u32) {
    let (route, status, dialect, operation) = (
        "/vmware-vmo-webcontrol/webservice",
        200u16,
        "orchestrator",
        "echo",
    );
    tracing::info!(
        parent: span,
        route,
        status,
        dialect,
        operation,
        elapsed_ms = 0.125 + f64::from(n),
        "request"
    );
}

fn per_request(mut request: impl FnMut(u32)) -> Duration {
    let started = Instant::now();
    for n in 0..REQUESTS {
        request(n);
    }
    started.elapsed() / REQUESTS
}
