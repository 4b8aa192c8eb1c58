//! Durable state behind the engine.
//!
//! The engine talks to storage only through [`Store`] and [`Tx`]. A command opens one
//! transaction with [`Store::begin`], reads and writes through the [`Tx`] methods and
//! commits; nothing it did is visible to anyone, and nothing is acknowledged, before
//! [`Tx::commit`] returns `Ok`. Dropping a transaction without committing rolls it back.
//!
//! Locking contract (what makes finish / expire / cancel races safe on every backend):
//! - [`Tx::lock_instance`] takes the instance's row lock until the transaction ends
//!   (`FOR UPDATE` on PostgreSQL; SQLite serialises all writers with `BEGIN IMMEDIATE`).
//!   Commands always lock the instance *before* touching its waits, so lock order is the
//!   same everywhere and deadlocks cannot form between two single-instance commands.
//! - [`Tx::close_wait`] moves a wait out of `open` with one conditional update and reports
//!   whether this transaction won; the loser sees `false`.
//! - [`Tx::lock_due_waits`] and [`Tx::claim_outbox`] skip rows another transaction holds
//!   (`SKIP LOCKED`), so several nodes can run the same runners on one database.
//!
//! Backend failures are translated once, in [`errors`], into [`StoreError`].
//!
//! Where things are:
//! - [`sql`]: the one SQL layer. Statements, column lists, row mappers and parameters are
//!   written once for both backends, and [`Tx`] is implemented once over a backend
//!   connection (`sql::Conn`), with the rules that hold everywhere: the dedup-key claim
//!   and which writes wake the runners. Two backends stay consistent by construction
//!   instead of by review.
//! - [`postgres`]: the pool, migrations under an advisory lock, `LISTEN/NOTIFY`, the
//!   pipelining of writes nobody reads, and (when configured) group commit on lanes.
//! - [`sqlite`]: the embedded store, whose `COMMIT` (the fsync) runs on a thread of its
//!   own (`sqlite::writer`), so that no wait for the disk blocks a runtime worker; the
//!   module documents why the other statements stay on the command's task; its commands
//!   always share commits.
//! - [`group_commit`]: the rules of group commit both backends follow: when a batch is
//!   due, who commits it, and that every command hears its outcome.
//! - [`model`]: the row types; [`copy`]: moving the embedded store to PostgreSQL.

pub mod copy;
pub mod errors;
mod group_commit;
pub mod model;
pub mod postgres;
pub(crate) mod sql;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

pub use errors::StoreError;
pub use model::{
    AccountRow, BufferedEventRow, DedupClaim, DefinitionRow, DueCount, EventScope, HistoryRow,
    InboundFilter, InboundRow, InboundState, InstanceFilter, InstanceRow, InstanceStatus,
    ListScope, LiveCount, NewBufferedEvent, NewHistory, NewInbound, NewInstance, NewOutbox,
    NewWait, OutboxKind, OutboxRow, OutboxState, StepCount, StoreStats, WaitFilter, WaitKind,
    WaitRow, WaitState,
};

/// Which backend a store runs on; used for reporting only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A transactional store. Implementations are cheap to share behind an `Arc`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Opens a read-write transaction.
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError>;

    /// Opens the transaction of one engine command: short, and acknowledged only once
    /// committed. Backends with group commit run it as a savepoint of a batch shared with
    /// other commands ([`group_commit`]); its `commit` still answers only after the
    /// `COMMIT` that holds its change.
    async fn begin_command(&self) -> Result<Box<dyn Tx>, StoreError> {
        self.begin().await
    }

    /// Checks that the database answers and migrations are applied.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Called on each thread that will serve requests (an HTTP worker, which runs its own
    /// event loop) before it serves any: a store may keep connections of that thread's own,
    /// driven by its loop, and lanes of group commit over them ([`postgres`]: `[store]
    /// worker_connections`, `worker_lanes`). Nothing by default.
    fn serve_on_this_thread(&self) {}

    /// A mark for [`Store::settled`], taken before a command starts.
    fn settle_mark(&self) -> u64 {
        0
    }

    /// Returns once every change this node's transactions have committed is durable.
    /// Where commands share one `COMMIT` (group commit: always on SQLite; on PostgreSQL on
    /// the HTTP workers' lanes and with `[store] group_commit_lanes`), a command's `commit`
    /// answers only after that `COMMIT`, but a command that *fails* may have seen another
    /// command's change that is not on disk yet (an item already closed): the engine
    /// waits here before it answers such an error. Should a shared `COMMIT` have failed
    /// since `mark`, the change may be gone and the error with it: this fails then, and
    /// the command answers that instead (on PostgreSQL a failure on any lane counts:
    /// cautious, and rare). Stores whose commits are each durable at once have nothing to
    /// wait for. Called on the thread the command ran on: a worker's lanes are that
    /// thread's (an actix handler's future never leaves its worker).
    async fn settled(&self, mark: u64) -> Result<(), StoreError> {
        let _ = mark;
        Ok(())
    }

    /// Notified (best effort) whenever any node commits work for the runners: new outbox
    /// rows, or waits. Runners also poll, so a lost wake-up only costs latency.
    fn work_signal(&self) -> Arc<Notify>;
}

/// One database transaction. See the module documentation for the locking contract.
#[async_trait]
pub trait Tx: Send {
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;

    /// Lists waits as [`Tx::list_waits`] does, then commits; the rows are returned only
    /// when the commit succeeded. PostgreSQL sends both in one pipeline, which saves the
    /// round trip a command pays for the view it answers with; its rows are then read
    /// after `COMMIT`, so a row that cannot be read (`corrupt`) fails a call whose changes
    /// are committed.
    async fn commit_with_waits(
        self: Box<Self>,
        filter: &WaitFilter,
    ) -> Result<Vec<WaitRow>, StoreError>;

    // Nothing asks for the runners to be woken: every write that gives them work (a wait,
    // an outbox row or reschedule, an inbound row queued) does so once it commits, by the
    // one rule in `sql::SqlTx::gives_runners_work`.

    // settings ---------------------------------------------------------------------------

    async fn setting(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores `value` under `key` unless a value is there already (first writer wins).
    async fn insert_setting_if_absent(&mut self, key: &str, value: &[u8])
    -> Result<(), StoreError>;
    /// Stores `value` under `key`, replacing what was there (a key rotation).
    async fn replace_setting(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError>;

    // instances --------------------------------------------------------------------------

    async fn insert_instance(&mut self, new: &NewInstance) -> Result<i64, StoreError>;
    /// Reads an instance and holds its row lock until the transaction ends.
    async fn lock_instance(&mut self, id: i64) -> Result<Option<InstanceRow>, StoreError>;
    /// [`Tx::lock_instance`], then [`Tx::get_wait`] under that lock, in one round trip
    /// where the backend pipelines: what every command that settles a known wait reads
    /// first (a wait read before its instance's lock could be stale: a migration may
    /// have committed in between).
    async fn lock_instance_and_get_wait(
        &mut self,
        instance_id: i64,
        wait_id: i64,
    ) -> Result<(Option<InstanceRow>, Option<WaitRow>), StoreError>;
    /// Reads an instance without locking it.
    async fn get_instance(&mut self, id: i64) -> Result<Option<InstanceRow>, StoreError>;
    /// Reads several instances in one query, without locking them (the timer reads the
    /// instances `lock_due_waits` has just locked); unknown ids are left out.
    async fn get_instances(&mut self, ids: &[i64]) -> Result<Vec<InstanceRow>, StoreError>;
    /// Writes status, current step, fields, reply, error and `updated_at`; never the
    /// trigger event, which the engine may hold opened (`engine::sealed`).
    async fn update_instance(&mut self, row: &InstanceRow) -> Result<(), StoreError>;

    // waits ------------------------------------------------------------------------------

    async fn insert_wait(&mut self, new: &NewWait) -> Result<i64, StoreError>;
    async fn get_wait(&mut self, id: i64) -> Result<Option<WaitRow>, StoreError>;
    /// `open` → `to`, conditionally. Returns whether this transaction made the change.
    async fn close_wait(&mut self, id: i64, to: WaitState, now: i64) -> Result<bool, StoreError>;
    /// `open` → `to`, for a wait this transaction read `open` under its instance's lock
    /// ([`Tx::lock_instance_and_get_wait`]). Every command closes waits under that lock, so
    /// it is still open; PostgreSQL sends the update with the next round trip instead of
    /// waiting for its row count. Should it have been closed after all, the transaction
    /// fails with [`StoreError::Conflict`] (at once, or with that round trip, before its
    /// commit), and the engine runs the command again, which then reads it closed.
    async fn close_wait_read_open(
        &mut self,
        id: i64,
        to: WaitState,
        now: i64,
    ) -> Result<(), StoreError>;
    /// `close_wait` for several waits at once (the timer's batch: one statement on
    /// PostgreSQL instead of a round trip each). Returns the ids this transaction closed.
    async fn close_waits(
        &mut self,
        ids: &[i64],
        to: WaitState,
        now: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let mut closed = Vec::with_capacity(ids.len());
        for &id in ids {
            if self.close_wait(id, to, now).await? {
                closed.push(id);
            }
        }
        Ok(closed)
    }
    /// Moves the deadline of an open wait. Returns false when the wait is not open.
    async fn extend_wait(&mut self, id: i64, deadline: i64) -> Result<bool, StoreError>;
    /// Locks, in instance id order, every instance with an open wait on an event name and
    /// scope, then reads those open waits under the locks: (instance, wait) pairs by
    /// instance id, then wait id. One round trip on PostgreSQL. A wait opened after the
    /// locks were taken, by an instance they do not cover, is left out (it opened after the
    /// event). An instance with two such waits comes twice, with the same row: whoever
    /// changes it through the first must read it again for the second.
    async fn lock_open_waits_for_event(
        &mut self,
        name: &str,
        scope: EventScope,
    ) -> Result<Vec<(InstanceRow, WaitRow)>, StoreError>;
    /// Open waits whose deadline is at or before `now`, oldest deadline first, whose
    /// instances this transaction could lock without waiting (the instance locks are held).
    async fn lock_due_waits(&mut self, now: i64, limit: i64) -> Result<Vec<WaitRow>, StoreError>;
    async fn list_waits(&mut self, filter: &WaitFilter) -> Result<Vec<WaitRow>, StoreError>;

    // history ----------------------------------------------------------------------------

    async fn append_history(&mut self, entry: &NewHistory) -> Result<(), StoreError>;
    async fn history(&mut self, instance_id: i64) -> Result<Vec<HistoryRow>, StoreError>;

    // buffered custom events -------------------------------------------------------------

    async fn buffer_event(&mut self, event: &NewBufferedEvent) -> Result<i64, StoreError>;
    /// Removes and returns the oldest unexpired buffered event with this name and scope.
    async fn take_buffered_event(
        &mut self,
        name: &str,
        scope: EventScope,
        now: i64,
    ) -> Result<Option<BufferedEventRow>, StoreError>;
    async fn purge_expired(&mut self, now: i64) -> Result<u64, StoreError>;

    // idempotency keys and message ids ---------------------------------------------------

    /// Claims `key` for this transaction. An expired key is reclaimed. When another
    /// transaction holds the key uncommitted, this waits for it (PostgreSQL) so that the
    /// loser reads the winner's outcome.
    async fn claim_dedup_key(
        &mut self,
        key: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<DedupClaim, StoreError>;
    async fn set_dedup_outcome(&mut self, key: &str, outcome: &str) -> Result<(), StoreError>;

    // outbox -----------------------------------------------------------------------------

    async fn insert_outbox(&mut self, new: &NewOutbox) -> Result<i64, StoreError>;
    /// Leases up to `limit` due rows (pending, or running with an expired lease) to `owner`
    /// until `lease_until`, and counts the attempt.
    async fn claim_outbox(
        &mut self,
        now: i64,
        lease_until: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError>;
    async fn get_outbox(&mut self, id: i64) -> Result<Option<OutboxRow>, StoreError>;
    /// Ends a row (done, failed or cancelled), recording the last error if any.
    async fn settle_outbox(
        &mut self,
        id: i64,
        state: OutboxState,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Puts a row back to pending for another attempt at `next_attempt_at`.
    async fn reschedule_outbox(
        &mut self,
        id: i64,
        next_attempt_at: i64,
        error: &str,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Cancels the unsettled outbox rows of a wait (the wait was closed otherwise).
    async fn cancel_outbox_for_wait(&mut self, wait_id: i64, now: i64) -> Result<(), StoreError>;

    // accounts ---------------------------------------------------------------------------

    /// Adds an account. Returns false, changing nothing, when the name is taken.
    async fn insert_account(&mut self, account: &AccountRow) -> Result<bool, StoreError>;
    async fn get_account(&mut self, name: &str) -> Result<Option<AccountRow>, StoreError>;
    /// Every account, by name.
    async fn list_accounts(&mut self) -> Result<Vec<AccountRow>, StoreError>;
    /// Returns false when there was no such account.
    async fn delete_account(&mut self, name: &str) -> Result<bool, StoreError>;
    /// Replaces the password hash. Returns false when there is no such account.
    async fn set_account_password(
        &mut self,
        name: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError>;

    // inbound queue ----------------------------------------------------------------------

    async fn insert_inbound(&mut self, new: &NewInbound) -> Result<i64, StoreError>;
    /// Leases up to `limit` due rows (queued and due, or running with an expired lease) to
    /// `owner` until `lease_until`, counting the attempt; oldest first. Rows another
    /// transaction holds are skipped (`SKIP LOCKED`).
    async fn claim_inbound(
        &mut self,
        now: i64,
        lease_until: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<InboundRow>, StoreError>;
    /// `running` → `done`, only while `owner` holds the lease (a node whose lease was
    /// reclaimed gets `false` and must not act on the row any more).
    async fn finish_inbound(
        &mut self,
        id: i64,
        owner: &str,
        instance_id: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// `running` → `queued` for another attempt at `next_attempt_at`, under the same
    /// lease condition.
    async fn postpone_inbound(
        &mut self,
        id: i64,
        owner: &str,
        next_attempt_at: i64,
        error: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// `running` → `dead`, under the same lease condition.
    async fn dead_letter_inbound(
        &mut self,
        id: i64,
        owner: &str,
        error: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
    async fn get_inbound(&mut self, id: i64) -> Result<Option<InboundRow>, StoreError>;
    async fn list_inbound(&mut self, filter: &InboundFilter)
    -> Result<Vec<InboundRow>, StoreError>;
    /// `dead` → `queued`, due now, living until `expires_at`. False when not dead.
    async fn requeue_inbound(
        &mut self,
        id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError>;
    /// Gives back every lease `owner` holds (graceful shutdown): due again at once.
    async fn release_inbound_leases(&mut self, owner: &str, now: i64) -> Result<u64, StoreError>;

    // definition versions (see the `definitions` migration) ------------------------------

    /// Stores a version unless its hash is there already (first writer wins; the content
    /// is the same by construction). Returns whether this call stored it.
    async fn insert_definition(&mut self, row: &DefinitionRow) -> Result<bool, StoreError>;
    async fn get_definition(&mut self, hash: &str) -> Result<Option<DefinitionRow>, StoreError>;
    /// Every stored version of a workflow, oldest first.
    async fn list_definitions(
        &mut self,
        workflow_id: &str,
    ) -> Result<Vec<DefinitionRow>, StoreError>;
    /// A workflow's instances that have not ended, counted per version and current step.
    async fn count_live_instances(
        &mut self,
        workflow_id: &str,
    ) -> Result<Vec<LiveCount>, StoreError>;
    /// Ids of a workflow's instances that have not ended and run on another version than
    /// `except_hash`, in id order.
    async fn live_instance_ids(
        &mut self,
        workflow_id: &str,
        except_hash: &str,
    ) -> Result<Vec<i64>, StoreError>;
    /// Moves an instance onto another version (a migration; its fields and step are
    /// written by [`Tx::update_instance`]).
    async fn set_instance_definition(&mut self, id: i64, hash: &str) -> Result<(), StoreError>;
    /// Renames the step a wait belongs to (a migration): id, serial, event name and
    /// deadline stay as they are.
    async fn set_wait_step(&mut self, wait_id: i64, step_id: &str) -> Result<(), StoreError>;

    // retention ---------------------------------------------------------------------------

    /// Deletes up to `limit` ended instances (completed, failed, cancelled) last updated
    /// before `before`, oldest first, with their waits, history and outbound calls.
    /// Instances another transaction holds are skipped (`SKIP LOCKED`); nothing that has
    /// not ended is ever touched. Returns the number of instances deleted.
    async fn purge_ended_instances(&mut self, before: i64, limit: i64) -> Result<u64, StoreError>;

    // Overview (admin page, metrics)
    /// Instances, newest first.
    async fn list_instances(
        &mut self,
        filter: &InstanceFilter,
    ) -> Result<Vec<InstanceRow>, StoreError>;
    /// Counts of open waits, queued events and outbound calls, and the lags, at `now`.
    async fn stats(&mut self, now: i64) -> Result<StoreStats, StoreError>;
    /// One workflow's open waits (overdue ones counted apart) and failed instances per
    /// step, in one aggregate query: what the workflow map draws.
    async fn count_by_step(
        &mut self,
        workflow_id: &str,
        now: i64,
    ) -> Result<Vec<StepCount>, StoreError>;
    /// Open waits of the workflows in `scope` (its limit unused) falling due in each of
    /// the next `hours` hours from `now`, and those overdue (hour -1), in one aggregate
    /// query; hours without waits are absent.
    async fn count_due(
        &mut self,
        scope: &ListScope,
        now: i64,
        hours: i64,
    ) -> Result<Vec<DueCount>, StoreError>;
}

/// Opens the store a configuration names, running migrations first.
pub async fn open(target: &StoreTarget) -> Result<Arc<dyn Store>, StoreError> {
    match target {
        StoreTarget::Sqlite { path } => Ok(Arc::new(sqlite::SqliteStore::open(path).await?)),
        StoreTarget::Postgres { url, connections } => Ok(Arc::new(
            postgres::PostgresStore::connect(url, *connections).await?,
        )),
    }
}

/// Where the data lives, as resolved from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreTarget {
    Sqlite {
        path: std::path::PathBuf,
    },
    Postgres {
        url: String,
        connections: Connections,
    },
}

impl StoreTarget {
    /// The target of a node that serves HTTP on `workers` threads, each of which keeps
    /// `worker_connections` of its own: the sessions it may open count them
    /// ([`Connections::sessions`]). Other commands open no worker connections.
    pub fn served_by(self, workers: usize) -> Self {
        match self {
            Self::Postgres { url, connections } => Self::Postgres {
                url,
                connections: Connections {
                    workers,
                    ..connections
                },
            },
            sqlite @ Self::Sqlite { .. } => sqlite,
        }
    }
}

/// How many PostgreSQL connections a node keeps, and what for (`[store]` settings; see
/// `postgres::thread_pool` and `postgres::batch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connections {
    /// The node's shared pool: runners, listings off the workers, the workers' overflow.
    pub pool_size: usize,
    /// Lanes of group commit over the shared pool, for commands off the workers (0: each
    /// such command commits on its own).
    pub group_commit_lanes: usize,
    /// HTTP workers of the node, each keeping `worker_connections` of its own; 0 for a
    /// command that serves nothing ([`StoreTarget::served_by`]).
    pub workers: usize,
    /// Connections each HTTP worker keeps of its own (0: none, workers use the pool).
    pub worker_connections: usize,
    /// How many of those carry the worker's commands, committed in batches (0: each
    /// command commits on its own).
    pub worker_lanes: usize,
}

impl Connections {
    /// One connection, nothing else: a tool's session (the store copy).
    pub const ONE: Connections = Connections {
        pool_size: 1,
        group_commit_lanes: 0,
        workers: 0,
        worker_connections: 0,
        worker_lanes: 0,
    };

    /// The most PostgreSQL sessions the node opens: its pool, its `LISTEN` session and
    /// every worker's own connections. The migration's session is closed before any of
    /// them opens.
    pub fn sessions(&self) -> usize {
        self.pool_size + 1 + self.workers * self.worker_connections
    }
}
