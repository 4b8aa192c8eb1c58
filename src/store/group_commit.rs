//! Group commit, for both backends: one `COMMIT` (one fsync) for every command that
//! finished while the previous batch was being committed.
//!
//! A backend connection is behind an async mutex, its *turn*, held by one command at a
//! time. The first command of a batch opens the outer transaction; each command runs
//! inside a `SAVEPOINT` of it, rolled back to when the command fails or is dropped (it
//! fails alone and changes nothing), released when it commits. A command that committed
//! leaves an *acknowledgement* in the batch and waits for it: its caller hears `Ok` only
//! after the outer `COMMIT` that holds its change is on disk. What the savepoints are, and
//! how a statement reaches the connection, is the backend's (`sqlite::batch`,
//! `postgres::batch`); this module holds the rules both follow.
//!
//! Whoever lets go of the turn decides whether the batch is *due*: it is when an outer
//! transaction is open and nobody is waiting for the turn, or it holds
//! [`Flush::MAX_COMMANDS`] acknowledgements, or the oldest of them has waited [`MAX_WAIT`].
//! A due batch is handed, with the turn, to the backend's [`Flush`], which commits it (or
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
//! Reads see the released but not yet committed changes of their own batch (on PostgreSQL,
//! of their lane's; other lanes' are other transactions): a transaction that
//! only read commits like any other, so what it answers waits for the same `COMMIT`. A
//! command that *fails* may rest on such a change; [`Gate::settle`] waits for it.
//!
//! A command's answer depends on the next holder of the turn letting go of it, so no task
//! may hold, across a `commit`, a lock that a holder of the turn might wait for.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, Notify, OwnedMutexGuard, oneshot};

use crate::store::StoreError;

/// How long the oldest command of a batch may wait for its `COMMIT` while others keep
/// taking the turn: a bound on how long a batch keeps its locks when its commands are
/// slow. It is checked whenever the turn is let go, so a batch can wait longer by as much
/// as one command holds the turn (including the time the OS does not run that command's
/// task).
///
/// A batch is due as soon as nobody waits for the turn, so this only matters when
/// commands queue for it, and then cutting the batch short lengthens the tail: the
/// commands still queued run first in the next batch, whose own wait starts only when
/// they are released, so they wait for two commits. With a fixed number of clients (each
/// sends its next callback once answered) a batch ends by itself when every waiting
/// client's command has run, and [`Flush::MAX_COMMANDS`] bounds it when more keep coming;
/// this is a backstop above both. K2 finishes at 64 clients on PostgreSQL (16 a worker's
/// lane), in runs side by side when the host was slow enough that those 16 commands took
/// longer than 10 ms: 10 ms gave a p99 of 21–29 ms, 20 and 40 ms 17–22 ms at the same
/// throughput (BENCHMARKS.md, 2026-12-05, sixth pass).
const MAX_WAIT: Duration = Duration::from_millis(40);

/// What a command waits for after it committed: the outcome of its batch's `COMMIT`.
pub(super) type Ack = oneshot::Receiver<Result<(), StoreError>>;

/// How a backend commits a batch.
pub(super) trait Flush: Send + Sync + Sized + 'static {
    /// The backend's connection, and what it knows of the outer transaction.
    type Session: Send + 'static;

    /// Commands acknowledged by one `COMMIT` at most: bounds the latency a full batch
    /// adds to its first command, and the work a failed `COMMIT` undoes.
    const MAX_COMMANDS: usize;

    /// True when no outer transaction is open: none was begun, or the backend rolled it
    /// back on its own (SQLite does on some I/O and memory errors).
    fn is_idle(session: &mut Self::Session) -> bool;

    /// Commits the due batch, answers its commands ([`Batch::answer_commit`]) and lets go
    /// of the turn by dropping `batch`, here or on a thread or task of its own.
    fn flush(&self, batch: OwnedMutexGuard<Batch<Self::Session>>, work: Arc<Notify>);
}

/// The connection and the commands released into its open transaction.
pub(super) struct Batch<S> {
    pub session: S,
    acks: Vec<oneshot::Sender<Result<(), StoreError>>>,
    /// When the oldest acknowledgement was added.
    oldest: Option<Instant>,
    /// A command of the batch wrote work for the runners.
    wake_runners: bool,
    /// Batches with commands that failed to commit, ever (shared with the [`Gate`]s).
    failed: Arc<AtomicU64>,
}

/// The turn and the backend that commits.
pub(super) struct Gate<F: Flush> {
    batch: Arc<Mutex<Batch<F::Session>>>,
    /// Tasks waiting for the turn.
    waiting: AtomicUsize,
    flush: F,
    work: Arc<Notify>,
    failed: Arc<AtomicU64>,
}

impl<F: Flush> Gate<F> {
    /// `failed` counts failed batches; gates whose commands are settled together share it.
    pub(super) fn new(
        session: F::Session,
        flush: F,
        work: Arc<Notify>,
        failed: Arc<AtomicU64>,
    ) -> Arc<Self> {
        let batch = Batch {
            session,
            acks: Vec::new(),
            oldest: None,
            wake_runners: false,
            failed: failed.clone(),
        };
        Arc::new(Self {
            batch: Arc::new(Mutex::new(batch)),
            waiting: AtomicUsize::new(0),
            flush,
            work,
            failed,
        })
    }

    /// How many batches failed to commit so far: a mark for [`Gate::settled`].
    pub(super) fn failed_batches(&self) -> u64 {
        self.failed.load(Ordering::SeqCst)
    }

    /// Tasks waiting for the turn now.
    pub(super) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Waits for the turn.
    pub(super) async fn turn(self: &Arc<Self>) -> Turn<F> {
        let waiter = Waiter::new(self);
        // Cancelled here, the lock's future (a temporary of this statement) is dropped
        // before `waiter`, giving back a turn already handed to us, so that the waiter's
        // `try_lock` can take it and look at the batch. Keep that order.
        let guard = self.batch.clone().lock_owned().await;
        waiter.served();
        self.holding(guard)
    }

    /// The turn, if nobody holds it.
    pub(super) fn try_turn(self: &Arc<Self>) -> Option<Turn<F>> {
        let guard = self.batch.clone().try_lock_owned().ok()?;
        Some(self.holding(guard))
    }

    fn holding(self: &Arc<Self>, guard: OwnedMutexGuard<Batch<F::Session>>) -> Turn<F> {
        Turn {
            guard: Some(guard),
            gate: self.clone(),
        }
    }

    /// Returns once every change released so far is on disk, or failed
    /// (see [`crate::store::Store::settled`], and [`settled_since`] for the verdict).
    pub(super) async fn settle(self: &Arc<Self>) -> Result<(), StoreError> {
        let mut turn = self.turn().await;
        if let Some(ack) = turn.wait_for_batch() {
            drop(turn);
            // A failed batch is counted before it is answered; the count decides.
            let _outcome = ack.await.map_err(|_| unanswered())?;
        }
        Ok(())
    }

    /// [`Gate::settle`], then whether a batch failed since `mark`.
    pub(super) async fn settled(self: &Arc<Self>, mark: u64) -> Result<(), StoreError> {
        self.settle().await?;
        settled_since(&self.failed, mark)
    }

    /// Lets go of the turn, committing the batch first when it is due (module doc).
    fn release(&self, mut guard: OwnedMutexGuard<Batch<F::Session>>) {
        loop {
            if guard.lost(F::is_idle) {
                return;
            }
            let waiting = self.waiting.load(Ordering::SeqCst);
            if guard.is_due(waiting, F::MAX_COMMANDS, Instant::now()) {
                self.flush.flush(guard, self.work.clone());
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
}

/// Fails when a batch failed since `mark` (of `failed`): a change a command rested on may
/// be gone, and its error with it.
pub(super) fn settled_since(failed: &AtomicU64, mark: u64) -> Result<(), StoreError> {
    if failed.load(Ordering::SeqCst) > mark {
        return Err(StoreError::Unavailable(
            "a commit failed while this command ran; its outcome is unknown".into(),
        ));
    }
    Ok(())
}

/// Counts a task waiting for the turn, for as long as it waits.
struct Waiter<'a, F: Flush> {
    gate: &'a Gate<F>,
    served: bool,
}

impl<'a, F: Flush> Waiter<'a, F> {
    fn new(gate: &'a Gate<F>) -> Self {
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

impl<F: Flush> Drop for Waiter<'_, F> {
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
pub(super) struct Turn<F: Flush> {
    /// `None` only while being dropped.
    guard: Option<OwnedMutexGuard<Batch<F::Session>>>,
    gate: Arc<Gate<F>>,
}

impl<F: Flush> Turn<F> {
    pub(super) fn batch(&mut self) -> &mut Batch<F::Session> {
        // Taken only in `drop`.
        self.guard.as_deref_mut().expect("the turn is held")
    }

    pub(super) fn session(&self) -> &F::Session {
        &self.guard.as_deref().expect("the turn is held").session
    }

    pub(super) fn session_mut(&mut self) -> &mut F::Session {
        &mut self.batch().session
    }

    /// What to wait for until every change released so far is on disk; `None` when no
    /// command waits for a `COMMIT`.
    pub(super) fn wait_for_batch(&mut self) -> Option<Ack> {
        let batch = self.batch();
        (!batch.acks.is_empty()).then(|| batch.ack(false))
    }
}

impl<F: Flush> Drop for Turn<F> {
    fn drop(&mut self) {
        if let Some(guard) = self.guard.take() {
            self.gate.release(guard);
        }
    }
}

impl<S> Batch<S> {
    /// True when no transaction is open. Commands still waiting then lost their changes
    /// (the backend rolled the whole transaction back): they hear so here, before a new
    /// batch could answer them.
    pub(super) fn lost(&mut self, is_idle: fn(&mut S) -> bool) -> bool {
        if !is_idle(&mut self.session) {
            return false;
        }
        if !self.acks.is_empty() {
            self.fail("the database rolled back the batch".into());
        }
        true
    }

    fn is_due(&self, waiting: usize, max_commands: usize, now: Instant) -> bool {
        waiting == 0
            || self.acks.len() >= max_commands
            || self
                .oldest
                .is_some_and(|oldest| now.saturating_duration_since(oldest) >= MAX_WAIT)
    }

    /// Adds a released command; what it returns is answered after the batch's `COMMIT`.
    pub(super) fn ack(&mut self, wake_runners: bool) -> Ack {
        let (ack, answer) = oneshot::channel();
        self.acks.push(ack);
        self.oldest.get_or_insert_with(Instant::now);
        self.wake_runners |= wake_runners;
        answer
    }

    /// How many commands were released into the batch: the place [`Batch::ack`] gives
    /// the next one.
    pub(super) fn commands(&self) -> usize {
        self.acks.len()
    }

    /// The command at `place` hears that it failed and the others stay in the batch: its
    /// writes went out after it was released into the batch (PostgreSQL's unsent writes)
    /// and it was rolled back to its savepoint.
    pub(super) fn fail_one(&mut self, place: usize, error: StoreError) {
        if let Some(ack) = self.acks.get_mut(place) {
            let (answered, _) = oneshot::channel();
            // A caller that stopped waiting misses nothing it could act on.
            let _ = std::mem::replace(ack, answered).send(Err(error));
        }
    }

    /// A command of the batch wrote work for the runners.
    pub(super) fn wakes_runners(&self) -> bool {
        self.wake_runners
    }

    /// Commands released into the batch and not answered yet.
    pub(super) fn has_commands(&self) -> bool {
        !self.acks.is_empty()
    }

    /// After the outer `COMMIT` (or its failure): wakes this node's runners when the batch
    /// gave them work, answers every command and starts a new batch.
    pub(super) fn answer_commit(&mut self, outcome: Result<(), StoreError>, work: &Notify) {
        if outcome.is_ok() && self.wake_runners {
            work.notify_waiters();
        }
        self.answer(&outcome);
    }

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

    /// Every command of the batch hears that it failed.
    pub(super) fn fail(&mut self, reason: String) {
        self.answer(&Err(StoreError::Other(reason)));
    }
}

pub(super) fn unanswered() -> StoreError {
    StoreError::Unavailable("the batch's commit was not answered".into())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::{Batch, MAX_WAIT};

    /// A batch of `commands` acknowledgements, and when its oldest was added.
    fn batch_of(commands: usize) -> (Batch<()>, Vec<super::Ack>, Instant) {
        let mut batch = Batch {
            session: (),
            acks: Vec::new(),
            oldest: None,
            wake_runners: false,
            failed: Arc::default(),
        };
        let acks = (0..commands).map(|_| batch.ack(false)).collect();
        let oldest = batch.oldest.expect("a command was added");
        (batch, acks, oldest)
    }

    #[test]
    fn a_batch_is_due_when_nobody_waits_for_the_turn() {
        let (batch, _acks, added) = batch_of(3);
        assert!(batch.is_due(0, 48, added));
        assert!(!batch.is_due(5, 48, added), "others wait and it is young");
    }

    #[test]
    fn a_full_batch_is_due_while_others_wait() {
        let (batch, _acks, added) = batch_of(4);
        assert!(!batch.is_due(9, 5, added));
        assert!(batch.is_due(9, 4, added));
    }

    #[test]
    fn a_batch_is_due_once_its_oldest_command_waited_long_enough() {
        let (batch, _acks, added) = batch_of(1);
        assert!(!batch.is_due(9, 48, added + MAX_WAIT / 2));
        assert!(batch.is_due(9, 48, added + MAX_WAIT));
    }
}
