//! Logging setup: `RUST_LOG` wins over the configured level; text or JSON lines on stderr,
//! written by a thread of their own so that no request ever waits on stderr.
//!
//! A log line is formatted where it is logged, then handed to a bounded queue
//! ([`BUFFERED_LINES`]); the writer thread empties the queue into few large writes, then
//! rests a moment ([`WRITE_PAUSE`]) so that a busy node's lines gather in the queue
//! instead of waking the thread once per line. When the queue is full (stderr stalls: a
//! slow pipe, a stopped log collector) new lines are dropped and counted
//! ([`log_lines_dropped`], exported as a metric) instead of making the request wait:
//! lossy under overload, never blocking.
//!
//! [`init`] returns the [`LogGuard`] that owns the writer thread. Dropping it writes out
//! every queued line before it returns (bounded by the writer's one-second grace), and
//! lines logged after that go to stderr directly, so an orderly exit loses nothing.

use std::io::{BufWriter, Stderr, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::EitherWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::LogFormat;

mod clock;
mod fields;
mod line;

/// Lines the queue holds while stderr is slower than the node logs. At a few hundred
/// bytes a line this bounds the queue's memory to about 5 to 8 MiB, and at 20,000 requests
/// a second (one `request` line each) it rides out a stall of most of a second. The
/// library's default (128,000) would let a stalled collector hold some 50 MiB of lines, on
/// a node whose memory is otherwise bounded by its request limits.
pub const BUFFERED_LINES: usize = 16_384;

/// The writer thread's buffer: a burst of queued lines becomes one `write` of up to this
/// many bytes; the buffer is flushed whenever the queue runs empty, so a quiet node's
/// lines appear at once.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// The dropped-lines count of the installed writer, published for the exporter.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Log lines dropped so far because the queue was full (0 before [`init`]).
pub fn log_lines_dropped() -> u64 {
    DROPPED
        .get()
        .map_or(0, |counter| counter.dropped_lines() as u64)
}

/// Installs the process's log subscriber; the returned guard must live as long as the
/// process logs. A second call (tests) installs nothing and its guard owns an idle thread.
pub fn init(level: &str, format: LogFormat) -> LogGuard {
    let (writer, guard) = log_writer(sink(std::io::stderr()));
    let dropped = writer.queue.error_counter();
    // Colours only on a terminal; log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_timer(clock::UtcMicros)
        .with_ansi(ansi);
    let registry = tracing_subscriber::registry().with(filter(level));
    let installed = match format {
        LogFormat::Text if !ansi => {
            let plain = lines
                .event_format(line::PlainLine)
                .fmt_fields(fields::PlainFields);
            registry.with(plain).try_init()
        }
        LogFormat::Text => registry.with(lines).try_init(),
        LogFormat::Json => registry.with(lines.json()).try_init(),
    };
    if installed.is_ok() {
        let _ = DROPPED.set(dropped);
    }
    guard
}

/// `RUST_LOG` when it is set and valid (any `EnvFilter` directive), else the configured
/// level with refinery's migration chatter kept to warnings. A plain `target=level` list
/// becomes a static [`Targets`] filter, decided once per call site: `EnvFilter` takes a
/// lock shared by every worker on each span's creation, entry, exit and field record,
/// which is several times per request.
fn filter(level: &str) -> Box<dyn Layer<Registry> + Send + Sync> {
    if let Ok(from_env) = EnvFilter::try_from_default_env() {
        return Box::new(from_env);
    }
    let directives = directives(level);
    match directives.parse::<Targets>() {
        Ok(targets) => Box::new(targets),
        Err(_) => Box::new(EnvFilter::new(directives)),
    }
}

fn directives(level: &str) -> String {
    format!("{level},refinery_core=warn")
}

/// Owns the writer thread. Dropping it sends the thread its stop behind every queued line
/// and waits until they are written; from then on lines go straight to stderr.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    closed: Arc<AtomicBool>,
    // Dropped after `drop` below has closed the queue to new lines.
    _worker: WorkerGuard,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        // Lines sent once the thread has stopped would count as dropped: write them directly.
        self.closed.store(true, Ordering::Release);
    }
}

/// How long the writer thread rests after writing out what was queued. The queue wakes a
/// thread blocked on it for every line, a context switch per request on a busy node; while
/// the thread rests, lines gather without waking anyone and go out together. A quiet
/// node's line is still written at once: the rest comes after it.
const WRITE_PAUSE: Duration = Duration::from_millis(2);

/// What the writer thread writes into: `out` behind a buffer, resting after each flush.
fn sink<W: Write>(out: W) -> Paced<BufWriter<W>> {
    Paced(BufWriter::with_capacity(WRITE_BUFFER_BYTES, out))
}

/// The writer thread's sink: flushing it (which the thread does whenever the queue has
/// run empty) rests for [`WRITE_PAUSE`] afterwards.
struct Paced<W>(W);

impl<W: Write> Write for Paced<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let flushed = self.0.flush();
        std::thread::sleep(WRITE_PAUSE);
        flushed
    }
}

/// The subscriber's writer: the queue while the writer thread runs, stderr after.
#[derive(Clone)]
struct LogWriter {
    queue: NonBlocking,
    closed: Arc<AtomicBool>,
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = EitherWriter<NonBlocking, Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        if self.closed.load(Ordering::Acquire) {
            EitherWriter::B(std::io::stderr())
        } else {
            // A clone is what `NonBlocking` itself hands out per line (its writes need `&mut`).
            EitherWriter::A(self.queue.clone())
        }
    }
}

/// A lossy queue of [`BUFFERED_LINES`] in front of `sink`, and the guard of its thread.
fn log_writer<W: Write + Send + 'static>(sink: W) -> (LogWriter, LogGuard) {
    let (queue, worker) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("holdpoint-log")
        .finish(sink);
    let closed = Arc::new(AtomicBool::new(false));
    let writer = LogWriter {
        queue,
        closed: closed.clone(),
    };
    (
        writer,
        LogGuard {
            closed,
            _worker: worker,
        },
    )
}

/// Log lines kept in memory, for tests that read what a subscriber wrote.
#[cfg(test)]
pub(crate) mod captured {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

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
    use std::sync::Mutex;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    /// A sink whose first write blocks until the test lets it go, then keeps every line.
    struct SlowSink {
        entered: Option<mpsc::Sender<()>>,
        release: mpsc::Receiver<()>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for SlowSink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Some(entered) = self.entered.take() {
                let _ = entered.send(());
                let _ = self.release.recv();
            }
            self.written.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn log_line(writer: &LogWriter, line: &str) {
        writer.make_writer().write_all(line.as_bytes()).unwrap();
    }

    #[test]
    fn lines_beyond_the_bound_are_dropped_and_counted_while_the_sink_is_stuck() {
        let (entered, on_entered) = mpsc::channel();
        let (release, on_release) = mpsc::channel();
        let written = Arc::new(Mutex::new(Vec::new()));
        let (writer, guard) = log_writer(SlowSink {
            entered: Some(entered),
            release: on_release,
            written: written.clone(),
        });
        log_line(&writer, "first\n");
        // The writer thread holds the first line and is stuck in the sink: the queue is empty.
        on_entered
            .recv_timeout(Duration::from_secs(10))
            .expect("the writer thread takes the first line");
        const OVER: usize = 25;
        for n in 0..BUFFERED_LINES + OVER {
            log_line(&writer, &format!("line {n}\n"));
        }
        assert_eq!(writer.queue.error_counter().dropped_lines(), OVER);
        release.send(()).unwrap();
        drop(guard);
        // Everything that was queued is written by the time the guard is gone, in order.
        let written = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), 1 + BUFFERED_LINES);
        assert_eq!(lines[0], "first");
        assert_eq!(
            lines[BUFFERED_LINES],
            format!("line {}", BUFFERED_LINES - 1)
        );
    }

    #[test]
    fn dropping_the_guard_writes_out_the_write_buffer() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let sink = SlowSink {
            entered: None,
            release: mpsc::channel().1,
            written: written.clone(),
        };
        // As `init` has it: small lines stay in the thread's buffer until it is flushed,
        // and the thread rests after each flush.
        let (writer, guard) = log_writer(super::sink(sink));
        for n in 0..1000 {
            log_line(&writer, &format!("line {n}\n"));
        }
        drop(guard);
        let written = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        assert_eq!(written.lines().count(), 1000);
        assert!(written.ends_with("line 999\n"));
    }

    #[test]
    fn after_the_guard_lines_bypass_the_stopped_queue() {
        let (writer, guard) = log_writer(SlowSink {
            entered: None,
            release: mpsc::channel().1,
            written: Arc::new(Mutex::new(Vec::new())),
        });
        assert!(matches!(writer.make_writer(), EitherWriter::A(_)));
        drop(guard);
        assert!(matches!(writer.make_writer(), EitherWriter::B(_)));
        assert_eq!(writer.queue.error_counter().dropped_lines(), 0);
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
