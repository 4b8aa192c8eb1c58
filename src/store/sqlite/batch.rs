//! Group commit for the embedded store: one `COMMIT`, one fsync, for every command that
//! finished while the previous one was being synced.
//!
//! The connection is behind an async mutex, its *turn*, held by one command at a time.
//! The first command of a batch opens the outer transaction (`BEGIN IMMEDIATE`); each
//! command runs inside a `SAVEPOINT` of it, rolled back to when the command fails or is
//! dropped (it fails alone and changes nothing), released when it commits. A command
//! that committed leaves an *acknowledgement* in the batch and waits for it: its caller
//! hears `Ok` only after the outer `COMMIT` that holds its change is on disk.
//!
//! Whoever lets go of the turn decides whether the batch is *due*: it is when an outer
//! transaction is open and nobody is waiting for the turn, or it holds
//! [`MAX_COMMANDS`] acknowledgements, or the oldest of them has waited [`MAX_WAIT`].
//! A due batch is handed, with the turn, to the writer thread, which commits it (or
//! rolls it back, failing every acknowledgement), answers every command of it, wakes
//! the runners if one of them wrote work for them, and only then lets the turn go.
//!
//! The one rule that keeps a batch from being forgotten: *a batch is never left open
//! without a task that will look at it again*. A release that sees someone waiting
//! leaves the batch to that task; should the count fall to zero meanwhile (a waiter
//! cancelled, such as a client that disconnected), the release looks again, and a
//! cancelled waiter itself looks again when it can take the turn. Every counter access
//! is `SeqCst`, so a release and a cancellation cannot both conclude that the other
//! will look.
//!
//! Reads see the released but not yet synced changes of the batch: a transaction that
//! only read commits like any other, so what it answers waits for the same `COMMIT`.
//!
//! A command's answer depends on the next holder of the turn letting go of it, so no task
//! may hold, across a `commit`, a lock that a holder of the turn might wait for.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{Mutex, Notify, OwnedMutexGuard, oneshot};

use super::writer::Writer;
use crate::store::StoreError;

/// Commands acknowledged by one `COMMIT` at most: bounds the latency a full batch adds
/// to its first command, and the work a failed `COMMIT` undoes.
const MAX_COMMANDS: usize = 64;

/// How long the oldest command of a batch may wait for its `COMMIT` while others keep
/// arriving; without it a steady stream of commands would postpone it indefinitely. It is
/// checked whenever the turn is let go, so a batch can wait longer by as much as one
/// command holds the turn (including the time the OS does not run that command's thread).
const MAX_WAIT: Duration = Duration::from_millis(5);

/// The savepoint each command runs in. One command holds the turn at a time, so one
/// name serves them all.
const BEGIN_COMMAND: &str = "SAVEPOINT command";
const RELEASE_COMMAND: &str = "RELEASE command";
const UNDO_COMMAND: &str = "ROLLBACK TO command; RELEASE command";

/// What a command waits for after it committed: the outcome of its batch's `COMMIT`.
pub(super) type Ack = oneshot::Receiver<Result<(), StoreError>>;

/// The connection and the commands released into its open transaction.
pub(super) struct Batch {
    conn: Connection,
    acks: Vec<oneshot::Sender<Result<(), StoreError>>>,
    /// When the oldest acknowledgement was added.
    oldest: Option<Instant>,
    /// A command of the batch wrote work for the runners.
    wake_runners: bool,
    /// Batches with commands that failed to commit, ever (shared with the [`Gate`]).
    failed: Arc<AtomicU64>,
}

/// The turn and the thread that commits.
pub(super) struct Gate {
    batch: Arc<Mutex<Batch>>,
    /// Tasks waiting for the turn.
    waiting: AtomicUsize,
    writer: Arc<Writer>,
    work: Arc<Notify>,
    failed: Arc<AtomicU64>,
}

impl Gate {
    pub(super) fn new(conn: Connection, writer: Arc<Writer>, work: Arc<Notify>) -> Arc<Self> {
        let failed = Arc::new(AtomicU64::new(0));
        let batch = Batch {
            conn,
            acks: Vec::new(),
            oldest: None,
            wake_runners: false,
            failed: failed.clone(),
        };
        Arc::new(Self {
            batch: Arc::new(Mutex::new(batch)),
            waiting: AtomicUsize::new(0),
            writer,
            work,
            failed,
        })
    }

    /// How many batches failed to commit so far: a mark for [`Gate::settled`].
    pub(super) fn failed_batches(&self) -> u64 {
        self.failed.load(Ordering::SeqCst)
    }

    /// Waits for the turn.
    pub(super) async fn turn(self: &Arc<Self>) -> Turn {
        let waiter = Waiter::new(self);
        // Cancelled here, the lock's future (a temporary of this statement) is dropped
        // before `waiter`, giving back a turn already handed to us, so that the waiter's
        // `try_lock` can take it and look at the batch. Keep that order.
        let guard = self.batch.clone().lock_owned().await;
        waiter.served();
        Turn {
            guard: Some(guard),
            gate: self.clone(),
        }
    }

    /// Returns once every change released so far is on disk (see [`crate::store::Store::settled`]).
    pub(super) async fn settled(self: &Arc<Self>, mark: u64) -> Result<(), StoreError> {
        let mut turn = self.turn().await;
        if let Some(ack) = turn.wait_for_batch() {
            drop(turn);
            // A failed batch is counted before it is answered; the count decides below.
            let _outcome = ack.await.map_err(|_| unanswered())?;
        }
        if self.failed_batches() > mark {
            return Err(StoreError::Unavailable(
                "a commit failed while this command ran; its outcome is unknown".into(),
            ));
        }
        Ok(())
    }

    /// Lets go of the turn, committing the batch first when it is due (module doc).
    fn release(&self, mut guard: OwnedMutexGuard<Batch>) {
        loop {
            if guard.lost_by_sqlite() {
                return;
            }
            if guard.is_due(self.waiting.load(Ordering::SeqCst)) {
                self.commit_batch(guard);
                return;
            }
            drop(guard);
            // Someone was waiting; if they all gave up meanwhile, nobody will look.
            if self.waiting.load(Ordering::SeqCst) > 0 {
                return;
            }
            match self.batch.clone().try_lock_owned() {
                Ok(again) => guard = again,
                // Its holder looks when it lets go.
                Err(_) => return,
            }
        }
    }

    fn commit_batch(&self, guard: OwnedMutexGuard<Batch>) {
        let work = self.work.clone();
        self.writer
            .send(Box::new(move || Flushing(guard).commit(&work)));
    }
}

/// Counts a task waiting for the turn, for as long as it waits.
struct Waiter<'a> {
    gate: &'a Gate,
    served: bool,
}

impl<'a> Waiter<'a> {
    fn new(gate: &'a Gate) -> Self {
        gate.waiting.fetch_add(1, Ordering::SeqCst);
        Self {
            gate,
            served: false,
        }
    }

    fn served(mut self) {
        self.served = true;
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.gate.waiting.fetch_sub(1, Ordering::SeqCst);
        // Cancelled: a release may have left the batch to us.
        if !self.served
            && let Ok(guard) = self.gate.batch.clone().try_lock_owned()
        {
            self.gate.release(guard);
        }
    }
}

/// The connection, held by one task; letting go of it may commit the batch.
pub(super) struct Turn {
    /// `None` only while being dropped.
    guard: Option<OwnedMutexGuard<Batch>>,
    gate: Arc<Gate>,
}

impl Turn {
    pub(super) fn conn(&mut self) -> &mut Connection {
        &mut self.batch().conn
    }

    fn batch(&mut self) -> &mut Batch {
        // Taken only in `drop`.
        self.guard.as_deref_mut().expect("the turn is held")
    }

    /// Opens the batch's transaction if none is open, then the command's savepoint.
    pub(super) fn begin_command(&mut self) -> Result<(), StoreError> {
        if self.batch().lost_by_sqlite() {
            self.conn().execute_batch("BEGIN IMMEDIATE")?;
        }
        let conn = self.conn();
        conn.execute_batch(BEGIN_COMMAND)?;
        Ok(())
    }

    /// Releases the command's savepoint into the batch and returns what to wait for.
    pub(super) fn commit_command(&mut self, wake_runners: bool) -> Result<Ack, StoreError> {
        let batch = self.batch();
        batch.conn.execute_batch(RELEASE_COMMAND)?;
        Ok(batch.ack(wake_runners))
    }

    /// What to wait for until every change released so far is on disk; `None` when no
    /// command waits for a `COMMIT`.
    pub(super) fn wait_for_batch(&mut self) -> Option<Ack> {
        let batch = self.batch();
        (!batch.acks.is_empty()).then(|| batch.ack(false))
    }

    /// Undoes the command: back to its savepoint. Should SQLite have rolled back the
    /// whole transaction (it does on some I/O and memory errors), or the undo fail, the
    /// batch is lost and every command of it hears so.
    pub(super) fn undo_command(&mut self) {
        let batch = self.batch();
        match batch.conn.execute_batch(UNDO_COMMAND) {
            Ok(()) => {}
            Err(error) if batch.conn.is_autocommit() => {
                batch.fail(format!("sqlite rolled back the batch: {error}"));
            }
            Err(error) => {
                tracing::error!(%error, "sqlite savepoint rollback failed");
                rollback_if_open(&mut batch.conn);
                batch.fail(format!("the batch was rolled back: {error}"));
            }
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(guard) = self.guard.take() {
            self.gate.release(guard);
        }
    }
}

impl Batch {
    /// True when no transaction is open. Commands still waiting then lost their changes:
    /// SQLite rolls the whole transaction back on some I/O and memory errors, whichever
    /// turn holder met them (a command, `ping`). They hear so here, before a new batch
    /// could answer them.
    fn lost_by_sqlite(&mut self) -> bool {
        if !self.conn.is_autocommit() {
            return false;
        }
        if !self.acks.is_empty() {
            self.fail("sqlite rolled back the batch".into());
        }
        true
    }

    fn is_due(&self, waiting: usize) -> bool {
        waiting == 0
            || self.acks.len() >= MAX_COMMANDS
            || self
                .oldest
                .is_some_and(|oldest| oldest.elapsed() >= MAX_WAIT)
    }

    fn ack(&mut self, wake_runners: bool) -> Ack {
        let (ack, answer) = oneshot::channel();
        self.acks.push(ack);
        self.oldest.get_or_insert_with(Instant::now);
        self.wake_runners |= wake_runners;
        answer
    }

    /// Answers every command of the batch and starts a new one.
    fn answer(&mut self, outcome: &Result<(), StoreError>) {
        if outcome.is_err() && !self.acks.is_empty() {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
        self.oldest = None;
        self.wake_runners = false;
        for ack in self.acks.drain(..) {
            // A caller that stopped waiting misses nothing it could act on.
            let _ = ack.send(outcome.clone());
        }
    }

    fn fail(&mut self, reason: String) {
        self.answer(&Err(StoreError::Other(reason)));
    }
}

/// A batch on the writer thread. Should committing it panic, it is rolled back and its
/// commands hear that it failed, before the turn is let go.
struct Flushing(OwnedMutexGuard<Batch>);

impl Flushing {
    fn commit(mut self, work: &Notify) {
        let batch = &mut *self.0;
        let outcome = batch.conn.execute_batch("COMMIT").map_err(StoreError::from);
        if outcome.is_err() {
            rollback_if_open(&mut batch.conn);
        } else if batch.wake_runners {
            work.notify_waiters();
        }
        batch.answer(&outcome);
    }
}

impl Drop for Flushing {
    fn drop(&mut self) {
        let batch = &mut *self.0;
        if !batch.acks.is_empty() || !batch.conn.is_autocommit() {
            rollback_if_open(&mut batch.conn);
            batch.fail("the commit of the batch did not finish".into());
        }
    }
}

pub(super) fn rollback_if_open(conn: &mut Connection) {
    // A BEGIN that failed, or a COMMIT that went through after all, leaves nothing to undo.
    if !conn.is_autocommit()
        && let Err(error) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(%error, "sqlite rollback failed");
    }
}

pub(super) fn unanswered() -> StoreError {
    StoreError::Unavailable("the sqlite thread did not answer the commit".into())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rusqlite::Connection;
    use tokio::sync::Notify;

    use super::Gate;
    use crate::store::sqlite::writer::Writer;

    #[tokio::test]
    async fn settling_fails_when_a_batch_failed_since_the_mark() {
        let conn = Connection::open_in_memory().expect("open");
        let writer = Arc::new(Writer::start().expect("writer"));
        let gate = Gate::new(conn, writer, Arc::new(Notify::new()));
        let mark = gate.failed_batches();
        gate.settled(mark).await.expect("nothing failed");

        let mut turn = gate.turn().await;
        turn.begin_command().expect("begin");
        let ack = turn.commit_command(false).expect("released");
        turn.batch().fail("lost".into());
        drop(turn);
        assert!(ack.await.expect("answered").is_err());

        assert!(gate.settled(mark).await.is_err(), "a batch failed since");
        gate.settled(gate.failed_batches())
            .await
            .expect("none failed since the new mark");
    }
}
