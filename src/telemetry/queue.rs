//! The bounded buffer between the threads that log and the writer thread that writes
//! their lines to stderr.
//!
//! A thread appends its lines to a small buffer of its own, its stage ([`stage`]), under a
//! lock that only it and the writer thread take. The writer thread moves each stage into
//! the shared buffer in turn, swaps that buffer for the one it has just written and writes
//! the whole batch in one `write`; a thread whose stage is full (or while lines are being
//! dropped, below) moves it itself. With one
//! shared buffer every line took the same lock, whose cache line went from core to core
//! on each line: on the echo benchmark that lock was the largest single cost of the
//! default level in time (`perf`, 2026-12-06), for 72 instructions. In a steady state no
//! line allocates (the buffers keep their capacity) and no log call clones a handle or
//! touches a shared reference count.
//!
//! A thread's lines are written in the order it logged them: a stage is moved into the
//! shared buffer under both locks, after whatever its thread moved before. Lines of
//! different threads are written in the order of the writer's passes (a few
//! milliseconds), and within a pass thread by thread: their timestamps may go back by up
//! to a pass where one thread's lines follow another's, and a line that another thread's
//! line caused may come out before it.
//!
//! After writing a batch the thread rests a moment ([`WRITE_PAUSE`]), so that a busy
//! node's lines gather instead of waking the thread once per line; when it finds nothing
//! staged or buffered it sleeps until a line arrives, so a quiet node's line appears at
//! once.
//!
//! Lossy, never blocking: the shared buffer holds at most [`BUFFERED_LINES`] lines and
//! [`BUFFERED_BYTES`] (stderr stalls: a slow pipe, a stopped log collector); the lines of a
//! stage that do not fit when it is moved are dropped and counted. Once a line has been
//! dropped, and until the writer thread's next pass, threads stage nothing: each line
//! logged after the first drop goes to the shared buffer at once and is counted as it is
//! dropped, while stderr stays stuck; lines staged before are counted when their stage is
//! moved (by its thread's next line, its end, or the writer). A stalled stderr costs at most the
//! shared bound and a stage ([`STAGE_BYTES`], twice that in capacity) per live thread
//! that logs: a thread that ends moves its stage ([`stage`]). Dropping the
//! [`QueueGuard`] writes out what is staged and buffered (waiting at most
//! [`CLOSING_GRACE`] for a stuck sink) and sends later lines to stderr directly, a thread's
//! staged lines before its line (they may overtake the writer's last batch).

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

use self::stage::{Stage, Staged};

mod stage;
#[cfg(test)]
mod tests;

/// Lines the buffer holds while stderr is slower than the node logs: at 20,000 requests a
/// second (one `request` line each) it rides out a stall of most of a second.
pub const BUFFERED_LINES: usize = 16_384;

/// Bytes the buffer holds at most, whatever the number of lines: it bounds the memory a
/// stalled stderr can cost (lines of 10 KB, say, would reach the line bound at 160 MiB).
pub const BUFFERED_BYTES: usize = 8 * 1024 * 1024;

/// Bytes a thread stages before it moves them into the shared buffer itself: more than a
/// busy worker logs in one [`WRITE_PAUSE`] (some 150 `request` lines), so that the writer
/// thread's passes move nearly every stage.
pub const STAGE_BYTES: usize = 32 * 1024;

/// Capacity a buffer keeps after its batch is written: some 2 ms of lines of a busy node.
const RETAINED_BYTES: usize = 256 * 1024;

/// How long the writer thread rests after writing a batch (module doc).
const WRITE_PAUSE: Duration = Duration::from_millis(2);

/// How long dropping the guard waits for the writer thread to write out the buffer.
const CLOSING_GRACE: Duration = Duration::from_secs(1);

/// Tells one queue's stages from another's in a thread's list (tests make many queues).
static NEXT_QUEUE_ID: AtomicU64 = AtomicU64::new(0);

/// What the loggers and the writer thread share.
struct Shared {
    id: u64,
    state: Mutex<State>,
    /// Signalled when a line arrives while the writer thread sleeps, and at closing.
    wake: Condvar,
    /// `State::idle`, readable without the lock: a logger that staged a line reads it to
    /// know whether the writer thread must be woken (`push_staged` says why that is safe).
    writer_idle: AtomicBool,
    /// `State::closed`, readable without the lock: once the guard is gone no line is
    /// staged, even if the writer thread, stuck in the sink, never closes the stages.
    closed: AtomicBool,
    overflow: Overflow,
}

/// What the loggers learn of lines dropped.
#[derive(Default)]
struct Overflow {
    dropped: AtomicU64,
    /// A line was dropped since the writer thread last took the buffer: stage nothing.
    full: AtomicBool,
}

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    count: usize,
    /// Every thread's stage; the stage of a thread that has ended goes once it is empty.
    stages: Vec<Arc<Stage>>,
    /// The writer thread is asleep on `wake`, or about to be (the next line must wake it).
    idle: bool,
    /// The guard is gone: lines go to stderr directly.
    closed: bool,
}

impl State {
    /// Appends the lines in `lines` (each ending where `ends` says), as many of them as
    /// the bounds leave room for, in order; the rest are counted as dropped, and while
    /// any are, loggers stage nothing (module doc).
    fn take_in(&mut self, lines: &[u8], ends: &[usize], overflow: &Overflow) {
        // A line longer than the byte bound fits an empty buffer: it is not lost for good.
        let fits = |len: usize, bytes: usize| len + bytes <= BUFFERED_BYTES.max(bytes);
        if self.count + ends.len() <= BUFFERED_LINES && fits(self.lines.len(), lines.len()) {
            self.lines.extend_from_slice(lines);
            self.count += ends.len();
            return;
        }
        // Only while stderr stalls: line by line, up to the first that does not fit (the
        // rest is newer still, and one slice keeps the copy whole).
        let (mut kept, mut kept_bytes) = (0, 0);
        for &end in ends {
            if self.count + kept >= BUFFERED_LINES || !fits(self.lines.len(), end) {
                break;
            }
            kept += 1;
            kept_bytes = end;
        }
        self.lines.extend_from_slice(&lines[..kept_bytes]);
        self.count += kept;
        if kept < ends.len() {
            overflow
                .dropped
                .fetch_add((ends.len() - kept) as u64, Ordering::Relaxed);
            overflow.full.store(true, Ordering::Relaxed);
        }
    }

    /// Forgets the stages of threads that have ended: held by the list alone, a stage has
    /// no thread left to stage on it (and its thread moved its lines when it ended).
    fn forget_ended_stages(&mut self) {
        // Locking a stage under the shared lock is safe only here: nobody else holds it.
        self.stages
            .retain(|stage| Arc::strong_count(stage) > 1 || !stage.is_empty());
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A logger that panicked mid-copy leaves at worst a torn line: keep logging.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push(self: &Arc<Self>, line: &[u8]) {
        let staged = stage::with_stage(self, |stage| self.push_staged(stage, line));
        if staged != Some(true) {
            self.push_shared(line);
        }
    }

    /// Stages `line` on this thread's stage; false once the guard is gone.
    fn push_staged(&self, stage: &Stage, line: &[u8]) -> bool {
        let mut staged = stage.lock();
        if staged.closed || self.closed.load(Ordering::Relaxed) {
            // The writer thread may be stuck and never close this stage: its lines go to
            // stderr first, ahead of the line that follows them there.
            if !staged.lines.is_empty() {
                let _ = std::io::stderr().write_all(&staged.lines);
                staged.clear();
            }
            return false;
        }
        let full = self.overflow.full.load(Ordering::Relaxed);
        if full || staged.lines.len() + line.len() > STAGE_BYTES {
            // The thread moves its stage itself, so that a stage stays small whatever the
            // writer thread does; this line follows the stage's.
            let mut state = self.state();
            self.move_stage(&mut state, &mut staged);
            state.take_in(line, &[line.len()], &self.overflow);
            self.wake_if_idle(&mut state);
            return true;
        }
        staged.push(line);
        drop(staged);
        // No line is left asleep: the writer thread sets `writer_idle`, then looks at every
        // stage under its lock (`next_batch`). If it took this stage's lock after the
        // line was staged, it saw the line; if before, that lock ordered its setting of
        // `writer_idle` before this read.
        if self.writer_idle.load(Ordering::Relaxed) {
            self.wake_if_idle(&mut self.state());
        }
        true
    }

    /// Appends `line` to the shared buffer, or writes it to stderr once the guard is gone.
    fn push_shared(&self, line: &[u8]) {
        let mut state = self.state();
        if state.closed {
            drop(state);
            let _ = std::io::stderr().write_all(line);
            return;
        }
        state.take_in(line, &[line.len()], &self.overflow);
        self.wake_if_idle(&mut state);
    }

    fn wake_if_idle(&self, state: &mut State) {
        if std::mem::take(&mut state.idle) {
            self.wake.notify_one();
        }
    }

    /// Sends later lines to stderr directly (module doc).
    fn close(&self) {
        self.state().closed = true;
        self.closed.store(true, Ordering::Relaxed);
    }

    /// A stage for the calling thread, unless the guard is gone.
    fn register_stage(&self) -> Option<Arc<Stage>> {
        let mut state = self.state();
        if state.closed {
            return None;
        }
        // Here too, not only on the writer's passes: threads may come and go while the
        // writer thread is stuck in the sink.
        state.forget_ended_stages();
        let stage = Arc::new(Stage::default());
        state.stages.push(stage.clone());
        Some(stage)
    }

    /// Moves the stage of a thread that is ending, and gives back its capacity.
    fn retire_stage(&self, stage: &Stage) {
        let mut staged = stage.lock();
        if !staged.lines.is_empty() {
            let mut state = self.state();
            self.move_stage(&mut state, &mut staged);
            self.wake_if_idle(&mut state);
        }
        *staged = Staged {
            closed: staged.closed,
            ..Staged::default()
        };
    }

    fn move_stage(&self, state: &mut State, staged: &mut Staged) {
        state.take_in(&staged.lines, &staged.ends, &self.overflow);
        staged.clear();
    }

    /// Moves every stage into the shared buffer (closing them too when `closing`), then
    /// forgets the stages of threads that have ended. `stages` is the caller's to reuse.
    fn move_stages(&self, stages: &mut Vec<Arc<Stage>>, closing: bool) {
        stages.clone_from(&self.state().stages);
        // A stage's lock before the shared one, as its thread takes them.
        for stage in stages.iter() {
            let mut staged = stage.lock();
            staged.closed |= closing;
            if !staged.lines.is_empty() {
                self.move_stage(&mut self.state(), &mut staged);
            }
        }
        stages.clear();
        self.state().forget_ended_stages();
    }

    /// Waits for lines, then swaps them into `batch`; true once the guard is gone (the
    /// batch is then the last). `stages` is the caller's to reuse.
    fn next_batch(&self, stages: &mut Vec<Arc<Stage>>, batch: &mut Vec<u8>) -> bool {
        loop {
            let closing = {
                let state = self.state();
                // Lines may be staged again from here: this pass moves what was staged
                // before it, and a line logged after the stage's turn goes into the next
                // pass rather than into a buffer that is still full (and dropped).
                self.overflow.full.store(false, Ordering::Relaxed);
                state.closed
            };
            self.move_stages(stages, closing);
            let mut state = self.state();
            if closing || !state.lines.is_empty() {
                state.idle = false;
                self.writer_idle.store(false, Ordering::Relaxed);
                std::mem::swap(&mut state.lines, batch);
                state.count = 0;
                self.overflow.full.store(false, Ordering::Relaxed);
                return closing;
            }
            if state.closed {
                // Closed since this pass began: one more, to close every stage.
                continue;
            }
            if !state.idle {
                // Say so, then look at every stage once more before sleeping: a logger
                // that staged a line after the pass above finds `writer_idle` set, or
                // that look finds its line (`push_staged`).
                state.idle = true;
                self.writer_idle.store(true, Ordering::Relaxed);
                continue;
            }
            while state.idle && !state.closed {
                state = self
                    .wake
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        }
    }
}

/// The subscriber's writer: every line it is given goes into the queue.
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
        self.shared.overflow.dropped.load(Ordering::Relaxed)
    }
}

/// One line's writer, borrowed from the queue (nothing to clone per line).
pub struct QueuedLine<'a>(&'a Arc<Shared>);

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
        self.close_within(CLOSING_GRACE);
    }
}

impl QueueGuard {
    /// Sends later lines to stderr and waits up to `grace` for the writer thread to write
    /// out what is staged and buffered.
    fn close_within(&self, grace: Duration) {
        self.shared.close();
        self.shared.wake.notify_one();
        let _ = self.finished.recv_timeout(grace);
    }

    /// Drops the guard once the writer thread has written everything out, waiting for
    /// it far longer than [`CLOSING_GRACE`]: on a loaded test machine the thread may not
    /// run within a second, and a test that reads what was written must not fail for it.
    #[cfg(test)]
    pub(super) fn close_and_wait(self) {
        self.close_within(Duration::from_secs(60));
    }
}

/// A queue in front of `sink` and the guard of the thread that writes into it.
pub fn line_queue<W: Write + Send + 'static>(sink: W) -> (LineQueue, QueueGuard) {
    let shared = Arc::new(Shared {
        id: NEXT_QUEUE_ID.fetch_add(1, Ordering::Relaxed),
        state: Mutex::default(),
        wake: Condvar::new(),
        writer_idle: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        overflow: Overflow::default(),
    });
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
        shared.close();
    }
    (
        LineQueue {
            shared: shared.clone(),
        },
        QueueGuard { shared, finished },
    )
}

/// The writer thread: takes every line staged or buffered, writes them, rests; sleeps
/// while nothing comes.
fn write_until_closed<W: Write>(shared: &Shared, mut sink: W) {
    let (mut batch, mut stages) = (Vec::new(), Vec::new());
    loop {
        let closed = shared.next_batch(&mut stages, &mut batch);
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
