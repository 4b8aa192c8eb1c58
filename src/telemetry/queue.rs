//! The bounded buffer between the threads that log and the writer thread that writes
//! their lines to stderr.
//!
//! A line is appended to one shared buffer under a lock held for the copy only; the writer
//! thread swaps that buffer for the one it has just written and writes the whole batch in
//! one `write`. In a steady state no line allocates (the two buffers keep their capacity)
//! and no log call clones a handle or touches a shared reference count: the channel of
//! `tracing-appender` we used before cost every line an allocation, a copy and four
//! contended atomic operations (`perf` of the echo benchmark, 2026-12-06).
//!
//! After writing a batch the thread rests a moment ([`WRITE_PAUSE`]), so that a busy
//! node's lines gather instead of waking the thread once per line; when it finds the
//! buffer empty it sleeps until a line arrives, so a quiet node's line appears at once.
//!
//! Lossy, never blocking: when the buffer holds [`BUFFERED_LINES`] lines or
//! [`BUFFERED_BYTES`] (stderr stalls: a slow pipe, a stopped log collector) new lines are
//! dropped and counted. Dropping the [`QueueGuard`] writes out what is buffered (waiting at
//! most [`CLOSING_GRACE`] for a stuck sink) and sends later lines to stderr directly.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Lines the buffer holds while stderr is slower than the node logs: at 20,000 requests a
/// second (one `request` line each) it rides out a stall of most of a second.
pub const BUFFERED_LINES: usize = 16_384;

/// Bytes the buffer holds at most, whatever the number of lines: it bounds the memory a
/// stalled stderr can cost (lines of 10 KB, say, would reach the line bound at 160 MiB).
pub const BUFFERED_BYTES: usize = 8 * 1024 * 1024;

/// Capacity a buffer keeps after its batch is written: some 2 ms of lines of a busy node.
const RETAINED_BYTES: usize = 256 * 1024;

/// How long the writer thread rests after writing a batch (module doc).
const WRITE_PAUSE: Duration = Duration::from_millis(2);

/// How long dropping the guard waits for the writer thread to write out the buffer.
const CLOSING_GRACE: Duration = Duration::from_secs(1);

/// What the loggers and the writer thread share.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when a line arrives while the writer thread sleeps, and at closing.
    wake: Condvar,
    dropped: AtomicU64,
}

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    count: usize,
    /// The writer thread is asleep on `wake` (the next line must wake it).
    idle: bool,
    /// The guard is gone: lines go to stderr directly.
    closed: bool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A logger that panicked mid-copy leaves at worst a torn line: keep logging.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push(&self, line: &[u8]) {
        let mut state = self.state();
        if state.closed {
            drop(state);
            let _ = std::io::stderr().write_all(line);
            return;
        }
        let full = state.count >= BUFFERED_LINES
            || state.lines.len() + line.len() > BUFFERED_BYTES.max(line.len());
        if full {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        state.lines.extend_from_slice(line);
        state.count += 1;
        if std::mem::take(&mut state.idle) {
            self.wake.notify_one();
        }
    }
}

/// The subscriber's writer: every line it is given goes into the shared buffer.
#[derive(Clone)]
pub struct LineQueue {
    shared: Arc<Shared>,
}

impl LineQueue {
    /// Queues one whole line (its newline included).
    pub(super) fn push(&self, line: &[u8]) {
        self.shared.push(line);
    }

    /// Lines dropped so far because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

/// One line's writer, borrowed from the queue (nothing to clone per line).
pub struct QueuedLine<'a>(&'a Shared);

impl Write for QueuedLine<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        // The formatting layers hand over a whole line in one write.
        self.0.push(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LineQueue {
    type Writer = QueuedLine<'a>;

    fn make_writer(&'a self) -> QueuedLine<'a> {
        QueuedLine(&self.shared)
    }
}

/// Owns the writer thread: dropping it writes out the buffer (module doc).
#[must_use = "dropping the guard stops the log writer"]
pub struct QueueGuard {
    shared: Arc<Shared>,
    finished: mpsc::Receiver<()>,
}

impl Drop for QueueGuard {
    fn drop(&mut self) {
        self.shared.state().closed = true;
        self.shared.wake.notify_one();
        let _ = self.finished.recv_timeout(CLOSING_GRACE);
    }
}

/// A queue in front of `sink` and the guard of the thread that writes into it.
pub fn line_queue<W: Write + Send + 'static>(sink: W) -> (LineQueue, QueueGuard) {
    let shared = Arc::new(Shared::default());
    let (finish, finished) = mpsc::sync_channel(1);
    let writer = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("holdpoint-log".into())
        .spawn(move || {
            write_until_closed(&writer, sink);
            let _ = finish.send(());
        });
    if spawned.is_err() {
        // No thread to write the buffer: log to stderr directly rather than not at all.
        shared.state().closed = true;
    }
    (
        LineQueue {
            shared: shared.clone(),
        },
        QueueGuard { shared, finished },
    )
}

/// The writer thread: takes the buffer whole, writes it, rests; sleeps while nothing comes.
fn write_until_closed<W: Write>(shared: &Shared, mut sink: W) {
    let mut batch = Vec::new();
    loop {
        let closed = {
            let mut state = shared.state();
            while state.lines.is_empty() && !state.closed {
                state.idle = true;
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            std::mem::swap(&mut state.lines, &mut batch);
            state.count = 0;
            state.closed
        };
        // A failing stderr has nobody left to tell: the lines are given up.
        let _ = sink.write_all(&batch).and_then(|()| sink.flush());
        batch.clear();
        // After a burst, give back what a steady flow of lines does not need.
        batch.shrink_to(RETAINED_BYTES);
        if closed {
            return;
        }
        std::thread::sleep(WRITE_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    type Written = Arc<Mutex<Vec<u8>>>;

    /// A sink whose first write blocks until the test lets it go, then keeps every line.
    struct SlowSink {
        entered: Option<mpsc::Sender<()>>,
        release: mpsc::Receiver<()>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl SlowSink {
        /// A sink stuck in its first write until `release`, which `on_entered` announces.
        fn stuck() -> (SlowSink, mpsc::Receiver<()>, mpsc::Sender<()>, Written) {
            let (entered, on_entered) = mpsc::channel();
            let (release, on_release) = mpsc::channel();
            let written = Written::default();
            let sink = SlowSink {
                entered: Some(entered),
                release: on_release,
                written: written.clone(),
            };
            (sink, on_entered, release, written)
        }

        fn fast(written: &Arc<Mutex<Vec<u8>>>) -> SlowSink {
            SlowSink {
                entered: None,
                release: mpsc::channel().1,
                written: written.clone(),
            }
        }
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

    fn log_line(queue: &LineQueue, line: &str) {
        queue.make_writer().write_all(line.as_bytes()).unwrap();
    }

    fn text(written: &Arc<Mutex<Vec<u8>>>) -> String {
        String::from_utf8(written.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn lines_beyond_the_bound_are_dropped_and_counted_while_the_sink_is_stuck() {
        let (sink, on_entered, release, written) = SlowSink::stuck();
        let (queue, guard) = line_queue(sink);
        log_line(&queue, "first\n");
        // The writer thread holds the first line and is stuck in the sink: the buffer is empty.
        on_entered
            .recv_timeout(Duration::from_secs(10))
            .expect("the writer thread takes the first line");
        const OVER: usize = 25;
        for n in 0..BUFFERED_LINES + OVER {
            log_line(&queue, &format!("line {n}\n"));
        }
        assert_eq!(queue.dropped(), OVER as u64);
        release.send(()).unwrap();
        drop(guard);
        // Everything that was buffered is written by the time the guard is gone, in order.
        let written = text(&written);
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), 1 + BUFFERED_LINES);
        assert_eq!(lines[0], "first");
        assert_eq!(
            lines[BUFFERED_LINES],
            format!("line {}", BUFFERED_LINES - 1)
        );
    }

    #[test]
    fn the_byte_bound_holds_whatever_the_number_of_lines() {
        let (sink, on_entered, release, written) = SlowSink::stuck();
        let (queue, guard) = line_queue(sink);
        log_line(&queue, "first\n");
        on_entered.recv_timeout(Duration::from_secs(10)).unwrap();
        let long = format!("{}\n", "x".repeat(BUFFERED_BYTES / 4 - 1));
        for _ in 0..6 {
            log_line(&queue, &long);
        }
        assert_eq!(queue.dropped(), 2, "four lines fill the buffer");
        release.send(()).unwrap();
        drop(guard);
        assert_eq!(text(&written).lines().count(), 5);
    }

    #[test]
    fn a_quiet_nodes_line_is_written_at_once() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let (queue, _guard) = line_queue(SlowSink::fast(&written));
        for n in 0..3 {
            // Each time the thread has gone back to sleep on an empty buffer first.
            std::thread::sleep(Duration::from_millis(20));
            log_line(&queue, &format!("line {n}\n"));
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while text(&written).lines().count() <= n {
                assert!(std::time::Instant::now() < deadline, "line {n} not written");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    #[test]
    fn dropping_the_guard_writes_out_the_buffer_then_lines_bypass_it() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let (queue, guard) = line_queue(SlowSink::fast(&written));
        for n in 0..1000 {
            log_line(&queue, &format!("line {n}\n"));
        }
        drop(guard);
        let all = text(&written);
        assert_eq!(all.lines().count(), 1000);
        assert!(all.ends_with("line 999\n"));
        // After the guard the line goes to stderr, not into a buffer nobody writes.
        log_line(&queue, "after the guard\n");
        assert_eq!(queue.dropped(), 0);
        assert!(queue.shared.state().lines.is_empty());
    }
}
