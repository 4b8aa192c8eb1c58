//! The engine's own metrics: their names, defined once here, and the few places that
//! record them. The exporter (the top-level `metrics` module, above the engine) describes
//! and serves these names; the engine records through the `metrics` crate's macros and
//! knows nothing of the exporter.
//!
//! Store errors are counted where an engine command's outcome is observed (a command, a
//! retried attempt, a runner tick), not where a `StoreError` is converted, so that a
//! conversion stays a plain conversion.

use std::future::Future;
use std::time::Instant;

use metrics::{counter, histogram};
use tracing::Instrument;

use super::EngineError;

/// Histogram; labels `command`, `outcome` (`ok` or an error code).
pub const COMMAND_DURATION: &str = "holdpoint_command_duration_seconds";
/// Counter; label `kind` (`unavailable`, `conflict`, `corrupt`, `other`).
pub const STORE_ERRORS: &str = "holdpoint_store_errors_total";
/// Counter.
pub const INSTANCES_PURGED: &str = "holdpoint_instances_purged_total";

/// What a command acts on, recorded in its span.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Subject<'a> {
    /// Not known before the command runs (it may record `instance_id` itself).
    Unknown,
    Instance(i64),
    Serial(&'a str),
}

/// Runs an engine command in its own span (`command`, and `instance_id`/`serial` of its
/// subject) and records its latency and outcome.
pub(crate) async fn observe<T>(
    name: &'static str,
    subject: Subject<'_>,
    run: impl Future<Output = Result<T, EngineError>>,
) -> Result<T, EngineError> {
    let span = tracing::info_span!(
        "command",
        command = name,
        instance_id = tracing::field::Empty,
        serial = tracing::field::Empty,
    );
    match subject {
        Subject::Unknown => {}
        Subject::Instance(id) => {
            span.record("instance_id", id);
        }
        Subject::Serial(serial) => {
            span.record("serial", serial);
        }
    }
    let started = Instant::now();
    let result = run.instrument(span).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(error) => {
            count_store_error(error);
            error.code().as_str()
        }
    };
    histogram!(COMMAND_DURATION, "command" => name, "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    result
}

/// Counts `error` when the store caused it (an outage, a lost serialisation race, a
/// value that does not read back, anything else the store reported).
pub(crate) fn count_store_error(error: &EngineError) {
    let kind = match error {
        EngineError::StoreUnavailable(_) => "unavailable",
        EngineError::Conflict(_) => "conflict",
        EngineError::StoreFailed { kind, .. } => kind,
        _ => return,
    };
    counter!(STORE_ERRORS, "kind" => kind).increment(1);
}

/// Counts ended instances removed by retention.
pub(crate) fn instances_purged(count: u64) {
    counter!(INSTANCES_PURGED).increment(count);
}
