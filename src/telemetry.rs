//! Logging setup: `RUST_LOG` wins over the configured level; text or JSON lines on stderr,
//! written by a thread of their own so that no request ever waits on stderr.
//!
//! A request's span is made only when something is logged inside the request, and its
//! `request` line is written without it ([`scope`], [`request_line`]).
//!
//! A log line is formatted where it is logged, then copied into a bounded buffer that the
//! writer thread empties into few large writes ([`queue`]: lossy under overload, never
//! blocking; dropped lines are counted in [`log_lines_dropped`], exported as a metric).
//!
//! [`init`] returns the [`LogGuard`] that owns the writer thread. Dropping it writes out
//! every buffered line before it returns (bounded by the writer's one-second grace), and
//! lines logged after that go to stderr directly, so an orderly exit loses nothing.

use std::sync::OnceLock;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt;
use tracing_subscriber::fmt::format::{DefaultFields, Format, Full};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::LogFormat;

mod clock;
mod fields;
mod line;
mod queue;
mod request_line;
mod scope;

pub use request_line::Answered;
pub use scope::{InRequest, RequestScope};

/// The writer of the installed subscriber, whose dropped-lines count the exporter reads.
static INSTALLED: OnceLock<queue::LineQueue> = OnceLock::new();

/// Log lines dropped so far because the buffer was full (0 before [`init`]).
pub fn log_lines_dropped() -> u64 {
    INSTALLED.get().map_or(0, queue::LineQueue::dropped)
}

/// Owns the writer thread (see [`queue`]); must live as long as the process logs.
pub type LogGuard = queue::QueueGuard;

/// Installs the process's log subscriber; the returned guard must live as long as the
/// process logs. A second call (tests) installs nothing and its guard owns an idle thread.
pub fn init(level: &str, format: LogFormat) -> LogGuard {
    let (writer, guard) = queue::line_queue(std::io::stderr());
    // Colours only on a terminal; log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (filter, spans) = filter(level);
    let registry = tracing_subscriber::registry().with(filter);
    let scopes = match format {
        LogFormat::Text if !ansi => {
            let plain = lines(&writer, ansi)
                .event_format(line::PlainLine)
                .fmt_fields(fields::PlainFields);
            let subscriber = registry.with(fields::SizedSpanFields).with(plain);
            scope::Scopes::new(subscriber, spans, Some(writer.clone()))
        }
        LogFormat::Text => scope::Scopes::new(registry.with(lines(&writer, ansi)), spans, None),
        LogFormat::Json => {
            scope::Scopes::new(registry.with(lines(&writer, ansi).json()), spans, None)
        }
    };
    let installed = scopes.try_init();
    if installed.is_ok() {
        let _ = INSTALLED.set(writer);
    }
    guard
}

/// The library's line layer, writing into `queue` with our clock.
fn lines<S>(
    queue: &queue::LineQueue,
    ansi: bool,
) -> fmt::Layer<S, DefaultFields, Format<Full, clock::UtcMicros>, queue::LineQueue> {
    fmt::layer()
        .with_writer(queue.clone())
        .with_timer(clock::UtcMicros)
        .with_ansi(ansi)
}

/// `RUST_LOG` when it is set and valid (any `EnvFilter` directive), else the configured
/// level with refinery's migration chatter kept to warnings. A plain `target=level` list
/// becomes a static [`Targets`] filter, decided once per call site: `EnvFilter` takes a
/// lock shared by every worker on each span's creation, entry, exit and field record,
/// which is several times per request.
///
/// Request spans may be made late ([`scope`]) under a static filter only: an `EnvFilter`
/// may enable a line by the spans it is logged in (`[request{path=/x}]=debug`), so it must
/// find the request's span entered when it decides. And only under one of targets and
/// levels alone, without field names (`target[{field}]=level`, which `Targets` accepts):
/// there a line with the request span's target and level is enabled exactly when the
/// span is, which the `request` line relies on ([`scope::RequestScope::log_answered`]).
fn filter(level: &str) -> (Box<dyn Layer<Registry> + Send + Sync>, scope::RequestSpans) {
    filter_of(EnvFilter::try_from_default_env().ok(), level)
}

/// [`filter`], given what `RUST_LOG` made (`None`: unset or invalid).
fn filter_of(
    from_env: Option<EnvFilter>,
    level: &str,
) -> (Box<dyn Layer<Registry> + Send + Sync>, scope::RequestSpans) {
    use scope::RequestSpans::{Eager, Lazy};
    if let Some(from_env) = from_env {
        return (Box::new(from_env), Eager);
    }
    let directives = directives(level);
    match directives.parse::<Targets>() {
        Ok(targets) if !directives.contains('[') => (Box::new(targets), Lazy),
        Ok(targets) => (Box::new(targets), Eager),
        Err(_) => (Box::new(EnvFilter::new(directives)), Eager),
    }
}

fn directives(level: &str) -> String {
    format!("{level},refinery_core=warn")
}

/// Log lines kept in memory, for tests that read what a subscriber wrote.
#[cfg(test)]
pub(crate) mod captured {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing::Subscriber;
    use tracing_subscriber::Layer;
    use tracing_subscriber::fmt::{self, MakeWriter};
    use tracing_subscriber::registry::LookupSpan;

    use super::fields::{PlainFields, SizedSpanFields};
    use super::line::PlainLine;

    /// The node's plain text lines (`init` without colours), written into `lines`.
    pub(crate) fn plain_lines<S>(lines: &Lines) -> impl Layer<S> + Send + Sync
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let plain = fmt::layer()
            .with_writer(lines.clone())
            .with_ansi(false)
            .event_format(PlainLine)
            .fmt_fields(PlainFields);
        SizedSpanFields.and_then(plain)
    }

    /// A writer for a test subscriber; every clone appends to the same text.
    #[derive(Clone, Default)]
    pub(crate) struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Lines {
        pub(crate) fn text(&self) -> String {
            let bytes = self.0.lock().expect("not poisoned").clone();
            String::from_utf8(bytes).expect("log lines are text")
        }
    }

    impl Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .expect("not poisoned")
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;

        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_spans_are_made_late_under_a_static_filter_only() {
        use scope::RequestSpans::{Eager, Lazy};
        assert_eq!(filter_of(None, "info").1, Lazy);
        assert_eq!(filter_of(None, "warn,holdpoint::http=info").1, Lazy);
        // A span's fields in a directive: not a static list.
        assert_eq!(filter_of(None, "info,[request{path=/x}]=debug").1, Eager);
        // Field names: a static filter, but not of targets and levels alone.
        assert_eq!(filter_of(None, "warn,holdpoint[{status}]=info").1, Eager);
        let from_env = EnvFilter::new("info");
        assert_eq!(filter_of(Some(from_env), "info").1, Eager);
    }

    #[test]
    fn a_level_list_is_a_static_filter() {
        let targets: Targets = directives("info").parse().expect("valid directives");
        assert!(targets.would_enable("holdpoint::http::observe", &tracing::Level::INFO));
        assert!(!targets.would_enable("holdpoint::http::observe", &tracing::Level::DEBUG));
        assert!(!targets.would_enable("refinery_core::traits", &tracing::Level::INFO));
        assert!(targets.would_enable("refinery_core::traits", &tracing::Level::WARN));
    }
}
