//! Group commit on PostgreSQL ([`crate::store::group_commit`]) for the engine's commands
//! ([`crate::store::Store::begin_command`]); other transactions (runners, listings, the
//! CLI) run on pooled connections of their own, as before.
//!
//! Each HTTP worker keeps *lanes* (`[store] worker_lanes`, default 1), each a gate over one
//! of the worker's own connections ([`super::thread_pool`]) that it keeps between batches
//! (its prepared statements with it); a node may keep lanes over its shared pool too, for
//! commands run off the workers. A command takes a free lane, or waits for the one with the
//! fewest waiting. Its statements go out as on a connection of its own (`BEGIN` and
//! `SAVEPOINT` with its first statement, deferred writes with the next one). Its commit
//! sends nothing: its last writes and its `RELEASE` ([`super::pipeline::Unsent`]) go out
//! in front of the first statement of the lane's next command, or of the batch's
//! `COMMIT`, since the command waits for that `COMMIT` anyway. A finish of a batch of one
//! then costs two round trips (reads; writes, `RELEASE` and `COMMIT`) instead of three,
//! and a batch of four five instead of nine. Should those statements fail, whoever sent
//! them answers the command with their error, rolls it back to its savepoint, sends its
//! own statements again and goes on.
//!
//! Lanes of one node (its workers' too) and other nodes' lanes hold row locks until their
//! batch commits, so two batches can wait for each other (each has released a command that
//! locked what the other's running command wants). PostgreSQL would find that deadlock only
//! after `deadlock_timeout` (1 s) with both lanes stalled; a batch's transaction instead
//! sets `lock_timeout` to 200 ms ([`OPEN_BATCH`]), longer than a healthy batch keeps its
//! locks: the waiting command fails with a conflict, rolls back to its savepoint, and the
//! engine runs it again (`Engine::retrying`), after the other batch has committed.
//!
//! A command dropped half-way (its client went away) is rolled back to its savepoint by a
//! task that holds the turn until that is done. Dropped while its `RELEASE` is on the
//! wire, it cannot know whether the savepoint is still there; the rollback then fails and
//! the whole batch with it: its other commands hear an error, none is acknowledged. So
//! does a command dropped while the previous command's unsent statements, sent with its
//! own, are unanswered, or one whose own writes failed to prepare before those went out
//! (a failed prepare may have aborted the transaction): rolling back to a savepoint could
//! undo that command unseen.
//!
//! On the workers' lanes a command's every round trip stays on its thread, and a batch's
//! `COMMIT` saves the database a share of its CPU per callback: at 64 clients on two cores
//! shared with the database, K2 finishes rose by about a quarter. The node's lanes
//! (`[store] group_commit_lanes`) are off by default: their connections are driven by
//! another thread than the command's, which cost what the fewer commits saved
//! (BENCHMARKS.md, 2026-12-05).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use deadpool_postgres::{Object, Pool};
use tokio::sync::{Notify, OwnedMutexGuard};

use super::conn::commit_sql;
use super::pipeline::{Carried, Unsent, after_unsent};
use crate::store::StoreError;
use crate::store::group_commit::{self, Batch, Flush};

/// How a batch begins, in one request: its transaction, how long a command of it waits
/// for a row lock before it gives up and is run again (module doc), and the first
/// command's savepoint. A batch keeps its locks while its commands run one after another
/// (up to [`PgFlush`]'s 48, or [`group_commit`]'s 40 ms of waiting, whichever comes first,
/// plus the command that holds the turn then) and through its `COMMIT`: a few
/// milliseconds when the database is healthy, longer behind a long command (the timer's
/// batch of expiries). 200 ms is above that.
pub(super) const OPEN_BATCH: &str = "BEGIN; SET LOCAL lock_timeout = '200ms'; SAVEPOINT command";

/// Sent before a batch's `COMMIT`. The timeout is for row locks between commands, not for
/// the `COMMIT` (whose `NOTIFY` waits for other notifying commits to be flushed). And in a
/// transaction PostgreSQL has aborted, this fails where a lone `COMMIT` would answer
/// `ROLLBACK` without an error, telling commands that their batch was lost.
const BEFORE_COMMIT: &str = "SET LOCAL lock_timeout = 0";
pub(super) const BEGIN_COMMAND: &str = "SAVEPOINT command";
pub(super) const RELEASE_COMMAND: &str = "RELEASE command";
pub(super) const UNDO_COMMAND: &str = "ROLLBACK TO command; RELEASE command";

pub(super) type Gate = group_commit::Gate<PgFlush>;
pub(super) type Turn = group_commit::Turn<PgFlush>;

/// A lane's connection and whether its batch's transaction is open.
#[derive(Default)]
pub(super) struct Session {
    /// Taken from the pool by the first command that needs it; discarded (closed) when
    /// its state is unknown.
    pub client: Option<Object>,
    /// `BEGIN` has been sent and no `COMMIT` or `ROLLBACK` since.
    pub open: bool,
    /// The last released command's writes and `RELEASE`, not sent yet.
    pub unsent: Option<Unsent>,
}

impl Session {
    /// Closes the connection (which rolls back whatever it had open) instead of giving it
    /// back to the pool.
    fn discard(&mut self) {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
        self.open = false;
        self.unsent = None;
    }
}

/// Commits a lane's batch on a task of its own.
pub(super) struct PgFlush;

impl Flush for PgFlush {
    type Session = Session;

    /// Within the 64 subtransactions PostgreSQL caches per backend, past which every
    /// snapshot in the database gets slower.
    const MAX_COMMANDS: usize = 48;

    fn is_idle(session: &mut Session) -> bool {
        !session.open
    }

    fn flush(&self, batch: OwnedMutexGuard<Batch<Session>>, work: Arc<Notify>) {
        let committing = Committing(batch);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(committing.commit(work));
            }
            // Dropped unfinished: the batch is rolled back and its commands hear so.
            Err(_) => drop(committing),
        }
    }
}

// The bound's reason, checked where the bound is set.
const _: () = assert!(
    PgFlush::MAX_COMMANDS < 64,
    "a batch stays within the subtransactions postgresql caches per backend"
);

/// A batch on its way through `COMMIT`. Dropped before the outcome is known (the runtime
/// shutting down), its connection is closed, which rolls it back, and its commands hear
/// that it failed.
struct Committing(OwnedMutexGuard<Batch<Session>>);

impl Committing {
    async fn commit(mut self, work: Arc<Notify>) {
        let batch = &mut *self.0;
        let sql = format!("{BEFORE_COMMIT}; {}", commit_sql(batch.wakes_runners()));
        let unsent = batch.session.unsent.take();
        let outcome = match batch.session.client.as_ref() {
            Some(client) => {
                let sent = after_unsent(client, unsent, Vec::new(), || client.batch_execute(&sql));
                let sent = sent.await;
                // (`Unknown` only when preparing the caller's statements failed: there
                // are none here, and the outcome fails the whole batch anyway.)
                if let Carried::Failed(place, error) = sent.carried {
                    batch.fail_one(place, error.into());
                }
                sent.outcome.map_err(StoreError::from)
            }
            None => Err(StoreError::Other("the batch lost its connection".into())),
        };
        match &outcome {
            Ok(()) => batch.session.open = false,
            // Its outcome is unknown to us: the connection is not used again.
            Err(_) => batch.session.discard(),
        }
        batch.answer_commit(outcome, &work);
    }
}

impl Drop for Committing {
    fn drop(&mut self) {
        let batch = &mut *self.0;
        if batch.session.open {
            batch.session.discard();
            batch.fail("the commit of the batch did not finish".into());
        }
    }
}

impl Turn {
    /// The lane's connection, taken from the pool if it has none or its own was closed
    /// (the database restarted, an idle session timed out): a lane keeps its connection,
    /// out of the pool's checks.
    pub(super) async fn connect(&mut self, pool: &Pool) -> Result<(), StoreError> {
        if let Some(client) = &self.session().client
            && client.is_closed()
        {
            self.fail_batch("the batch's connection was closed");
        }
        if self.session().client.is_none() {
            self.session_mut().client = Some(pool.get().await?);
        }
        Ok(())
    }

    /// Whether the command opens the batch's transaction (its `BEGIN` goes out with its
    /// first statement). Commands of a batch the database rolled back hear so here.
    pub(super) fn opens_batch(&mut self) -> bool {
        self.batch().lost(PgFlush::is_idle)
    }

    /// Undoes the command on a task of its own, which holds the turn until it is done:
    /// back to its savepoint. Should that fail, the whole batch is rolled back and every
    /// command of it hears so.
    pub(super) fn undo_command(mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.fail_batch("the batch was abandoned without a runtime");
            return;
        };
        runtime.spawn(async move {
            let undone = match self.session().client.as_ref() {
                Some(client) => client.batch_execute(UNDO_COMMAND).await.err(),
                None => return,
            };
            if let Some(error) = undone {
                tracing::warn!(%error, "savepoint rollback failed; rolling back the batch");
                self.fail_batch("the batch was rolled back");
            }
        });
    }

    /// Closes the connection, which rolls the batch back, and tells its commands so.
    pub(super) fn fail_batch(&mut self, reason: &str) {
        self.session_mut().discard();
        self.batch().fail(reason.into());
    }
}

/// The lanes of a node, or of one of its HTTP workers.
pub(super) struct Lanes {
    gates: Vec<Arc<Gate>>,
    /// Where a command that finds no free lane starts looking.
    next: AtomicUsize,
}

impl Lanes {
    /// `count` lanes whose failed batches are counted in `failed` (one count for a node's
    /// every lane: see [`crate::store::Store::settled`]).
    pub(super) fn new(count: usize, work: &Arc<Notify>, failed: &Arc<AtomicU64>) -> Self {
        let gates = (0..count.max(1))
            .map(|_| Gate::new(Session::default(), PgFlush, work.clone(), failed.clone()))
            .collect();
        Self {
            gates,
            next: AtomicUsize::new(0),
        }
    }

    /// A free lane's turn, or the turn of the lane with the fewest waiting.
    pub(super) async fn turn(&self) -> Turn {
        if let Some(turn) = self.gates.iter().find_map(Gate::try_turn) {
            return turn;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.gates.len();
        let gate = (0..count)
            .map(|offset| &self.gates[(start + offset) % count])
            .min_by_key(|gate| gate.waiting())
            .expect("at least one lane");
        gate.turn().await
    }

    /// Waits for every lane's open batch to be committed or rolled back.
    pub(super) async fn settle(&self) -> Result<(), StoreError> {
        for gate in &self.gates {
            gate.settle().await?;
        }
        Ok(())
    }
}
