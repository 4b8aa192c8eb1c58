//! The one SQL layer both backends share.
//!
//! Statements, column lists and row mappers are written once ([`statements`], [`row`]);
//! parameters are bound through one type ([`param`]); the [`Tx`](super::Tx) methods are
//! implemented once, in [`tx`], by [`SqlTx`] over a backend's [`Conn`]. A backend only
//! supplies what really differs:
//! - how a statement reaches its database: PostgreSQL pipelines deferred writes with the
//!   next statement (`postgres::pipeline`); SQLite runs them on the command's task and
//!   its `COMMIT` on a thread of its own (`sqlite::writer`);
//! - its [`Dialect`] fragments (`FOR UPDATE SKIP LOCKED`, list parameters);
//! - `COMMIT`, with `NOTIFY` on PostgreSQL, and rollback of an abandoned transaction.
//!
//! Rules that hold whatever the backend lives here too, once: the dedup-key claim
//! ([`SqlTx::claim_key`]) and which writes wake the runners
//! ([`SqlTx::gives_runners_work`]).

pub(crate) mod filter;
pub(crate) mod param;
pub(crate) mod row;
pub(crate) mod statements;
mod tx;
mod upkeep;

use std::borrow::Cow;

use super::StoreError;
use super::model::DedupClaim;
pub(crate) use param::{Param, args};
use row::FromRow;
pub(crate) use statements::Dialect;

/// SQL text: a statement constant, or a query built from a filter.
pub(crate) type Sql = Cow<'static, str>;

/// One backend connection inside an open transaction.
pub(crate) trait Conn: Send + 'static {
    const DIALECT: Dialect;

    /// Every row the statement returns.
    fn rows<T: FromRow>(
        &mut self,
        sql: Sql,
        params: Vec<Param<'_>>,
    ) -> impl Future<Output = Result<Vec<T>, StoreError>> + Send;

    /// The number of rows changed.
    fn execute(
        &mut self,
        sql: Sql,
        params: Vec<Param<'_>>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Runs an `INSERT … RETURNING id` of one row (a statement ending in
    /// [`statements::RETURNING_ID`]) and gives back the id. A plain insert only: an upsert
    /// (`ON CONFLICT … DO UPDATE`) that updates moves no "last inserted row", which is
    /// what SQLite answers with.
    fn insert(
        &mut self,
        sql: &'static str,
        params: Vec<Param<'_>>,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send {
        async move {
            let ids: Vec<i64> = self.rows(sql.into(), params).await?;
            ids.into_iter()
                .next()
                .ok_or_else(|| StoreError::Other("insert returned no row".into()))
        }
    }

    /// A write whose row count nobody reads: sent with the next statement or `COMMIT`.
    /// Its error, if any, fails that statement instead.
    fn defer(&mut self, sql: &'static str, params: Vec<Param<'_>>) -> Result<(), StoreError>;

    /// The rows of `first`, then of `second`, which runs after `first` has (a lock it takes
    /// is held). A backend that pipelines sends both at once: one round trip.
    fn rows_of_two<A: FromRow, B: FromRow>(
        &mut self,
        first: (Sql, Vec<Param<'_>>),
        second: (Sql, Vec<Param<'_>>),
    ) -> impl Future<Output = Result<(Vec<A>, Vec<B>), StoreError>> + Send {
        async move {
            let rows_a = self.rows(first.0, first.1).await?;
            let rows_b = self.rows(second.0, second.1).await?;
            Ok((rows_a, rows_b))
        }
    }

    /// Commits and, when `notify`, wakes the runners: this node's at once, every node's
    /// on PostgreSQL (`NOTIFY`). The wake-up holds even when the caller stops waiting
    /// while `COMMIT` runs.
    fn commit(self, notify: bool) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every row the statement returns, then [`Conn::commit`]; the rows only when the
    /// commit succeeded. A backend that pipelines sends both at once.
    fn rows_and_commit<T: FromRow>(
        mut self,
        sql: Sql,
        params: Vec<Param<'_>>,
        notify: bool,
    ) -> impl Future<Output = Result<Vec<T>, StoreError>> + Send
    where
        Self: Sized,
    {
        async move {
            let rows = self.rows(sql, params).await?;
            self.commit(notify).await?;
            Ok(rows)
        }
    }
}

/// A transaction on a SQL backend: the [`Tx`](super::Tx) contract implemented once.
pub(crate) struct SqlTx<C: Conn> {
    conn: C,
    /// Set by [`SqlTx::gives_runners_work`]; acted on at commit.
    wake_runners: bool,
}

impl<C: Conn> SqlTx<C> {
    pub(crate) fn new(conn: C) -> Self {
        Self {
            conn,
            wake_runners: false,
        }
    }

    /// The one rule for waking runners: a write that gives them new work (a new wait or
    /// outbox row for the timer and the outbound runner, a rescheduled outbound call, an
    /// inbound row queued again or for the first time) makes this transaction wake the
    /// runners of every node at commit. Everything else waits for their poll.
    fn gives_runners_work(&mut self) {
        self.wake_runners = true;
    }

    async fn all<T: FromRow>(
        &mut self,
        sql: impl Into<Sql>,
        params: Vec<Param<'_>>,
    ) -> Result<Vec<T>, StoreError> {
        self.conn.rows(sql.into(), params).await
    }

    /// The first row, if any: the store's single-row statements select by key, or
    /// return what one delete gave back.
    async fn one<T: FromRow>(
        &mut self,
        sql: impl Into<Sql>,
        params: Vec<Param<'_>>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.all(sql, params).await?.into_iter().next())
    }

    async fn exec(
        &mut self,
        sql: impl Into<Sql>,
        params: Vec<Param<'_>>,
    ) -> Result<u64, StoreError> {
        self.conn.execute(sql.into(), params).await
    }

    fn dialected() -> &'static statements::Dialected {
        C::DIALECT.statements()
    }

    async fn commit_and_wake(self) -> Result<(), StoreError> {
        self.conn.commit(self.wake_runners).await
    }

    async fn rows_and_commit<T: FromRow>(
        self,
        sql: Sql,
        params: Vec<Param<'_>>,
    ) -> Result<Vec<T>, StoreError> {
        self.conn
            .rows_and_commit(sql, params, self.wake_runners)
            .await
    }

    /// Claims an idempotency key: an expired key is dropped first, then the insert either
    /// takes the key or finds it taken. On PostgreSQL a concurrent uncommitted insert of
    /// the same key makes the insert wait; then it inserts (the other rolled back) or
    /// does nothing (the other committed) and reads the winner's outcome. On SQLite no
    /// other writer can hold it.
    async fn claim_key(
        &mut self,
        key: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<DedupClaim, StoreError> {
        let expired = args![key, now];
        self.exec(statements::DROP_EXPIRED_KEY, expired).await?;
        let claim = args![key, now, expires_at];
        if self.exec(statements::INSERT_KEY, claim).await? == 1 {
            return Ok(DedupClaim::Claimed);
        }
        let outcome: Option<Option<String>> = self.one(statements::KEY_OUTCOME, args![key]).await?;
        Ok(DedupClaim::Existing(outcome.flatten()))
    }
}
