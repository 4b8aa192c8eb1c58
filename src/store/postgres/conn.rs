//! One PostgreSQL transaction on a pooled connection: statements are prepared once per
//! connection (`prepare_cached`), and deferred writes go out with the next statement or
//! `COMMIT` in one pipeline (see [`super::pipeline`]).

use std::borrow::Cow;
use std::sync::Arc;

use deadpool_postgres::Object;
use tokio::sync::Notify;
use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

use futures_util::future::try_join;

use super::WORK_CHANNEL;
use super::pipeline::{self, Deferred};
use crate::store::StoreError;
use crate::store::sql::row::FromRow;
use crate::store::sql::{Conn, Dialect, Param, Sql};

const BEGIN: &str = "BEGIN";

pub(super) struct PgConn {
    /// `None` once committed.
    client: Option<Object>,
    /// A statement failed: the transaction may only roll back now (PostgreSQL refuses
    /// further statements anyway, and a `COMMIT` would answer `ROLLBACK` without an error).
    failed: bool,
    /// Writes waiting to go out with the next statement.
    pending: Vec<Deferred>,
    /// This node's runners, woken at once after a `COMMIT` that notified (the `NOTIFY`
    /// reaches them too, a round trip later).
    work: Arc<Notify>,
}

impl PgConn {
    /// Starts a transaction: its `BEGIN` goes out with the first statement, in the same
    /// pipeline, which saves a round trip per transaction.
    pub(super) fn begin(client: Object, work: Arc<Notify>) -> Self {
        let begin = Deferred {
            sql: BEGIN,
            params: Vec::new(),
        };
        Self {
            client: Some(client),
            failed: false,
            pending: vec![begin],
            work,
        }
    }

    fn client(&self) -> Result<&Object, StoreError> {
        self.client
            .as_ref()
            .ok_or_else(|| StoreError::Other("transaction already ended".into()))
    }

    /// The statement, prepared once per connection, and the writes to send before it
    /// (taken only once the statement is prepared, so that a failed prepare loses none).
    async fn prepared(
        &mut self,
        sql: &str,
    ) -> Result<(&Object, Statement, Vec<Deferred>), StoreError> {
        if self.failed {
            return Err(failed_before());
        }
        let statement = self.client()?.prepare_cached(sql).await;
        self.failed |= statement.is_err();
        let pending = std::mem::take(&mut self.pending);
        Ok((self.client()?, statement?, pending))
    }

    /// The connection, taken for the `COMMIT`: dropping the transaction no longer rolls
    /// back, and abandoned before its outcome is known, the connection is discarded.
    fn ending(&mut self) -> Result<Ending, StoreError> {
        if self.failed {
            return Err(failed_before());
        }
        self.client
            .take()
            .map(|client| Ending(Some(client)))
            .ok_or_else(|| StoreError::Other("transaction already ended".into()))
    }

    /// After the pipeline that held `COMMIT`: wakes the runners, or discards a connection
    /// whose `COMMIT` failed, since its outcome is unknown to us.
    fn ended<T>(
        &self,
        client: Ending,
        notify: bool,
        outcome: Result<T, tokio_postgres::Error>,
    ) -> Result<T, StoreError> {
        let output = outcome?; // `client` is discarded as it drops
        client.back_to_pool();
        if notify {
            self.work.notify_waiters();
        }
        Ok(output)
    }
}

/// A connection on its way through `COMMIT`. Unless it is given back once the outcome is
/// known, it is closed: a caller that gives up half-way (a client that disconnects) must
/// not hand the pool a connection that may still be inside the transaction.
struct Ending(Option<Object>);

impl Ending {
    fn client(&self) -> &Object {
        // Taken only by `back_to_pool` and `drop`, which consume it.
        self.0
            .as_ref()
            .expect("the connection is held until the commit ends")
    }

    fn back_to_pool(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Ending {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            drop(Object::take(client));
        }
    }
}

fn failed_before() -> StoreError {
    StoreError::Other("a statement of this transaction failed; it may only roll back".into())
}

/// The parameters as tokio-postgres takes them.
fn bound<'p>(params: &'p [Param<'_>]) -> Vec<&'p (dyn ToSql + Sync)> {
    params.iter().map(Param::as_postgres).collect()
}

impl Drop for PgConn {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if self.pending.first().is_some_and(|first| first.sql == BEGIN) {
            return; // nothing was sent: the connection is idle, back to the pool
        }
        // Not committed: roll back before the connection goes back to the pool (should the
        // `BEGIN` not have gone out, PostgreSQL only warns that nothing was open). Without a
        // runtime, detach the connection so that it closes (which also rolls back).
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        drop(Object::take(client));
                    }
                });
            }
            Err(_) => drop(Object::take(client)),
        }
    }
}

impl Conn for PgConn {
    const DIALECT: Dialect = Dialect::Postgres;

    async fn rows<T: FromRow>(
        &mut self,
        sql: Sql,
        params: Vec<Param<'_>>,
    ) -> Result<Vec<T>, StoreError> {
        let (client, statement, pending) = self.prepared(&sql).await?;
        let params = bound(&params);
        let next = client.query(&statement, &params);
        let rows = pipeline::with_pending(client, pending, next).await;
        self.failed |= rows.is_err();
        rows?.iter().map(T::from_row).collect()
    }

    /// Both queries go out together, after the deferred writes: PostgreSQL runs them in
    /// order, so the second sees what the first locked.
    async fn rows_of_two<A: FromRow, B: FromRow>(
        &mut self,
        first: (Sql, Vec<Param<'_>>),
        second: (Sql, Vec<Param<'_>>),
    ) -> Result<(Vec<A>, Vec<B>), StoreError> {
        if self.failed {
            return Err(failed_before());
        }
        let then = self.client()?.prepare_cached(&second.0).await;
        self.failed |= then.is_err();
        let then = then?;
        let (client, statement, pending) = self.prepared(&first.0).await?;
        let (first_params, second_params) = (bound(&first.1), bound(&second.1));
        let both = try_join(
            client.query(&statement, &first_params),
            client.query(&then, &second_params),
        );
        let rows = pipeline::with_pending(client, pending, both).await;
        self.failed |= rows.is_err();
        let (rows_a, rows_b) = rows?;
        let read_a = rows_a.iter().map(A::from_row).collect::<Result<_, _>>()?;
        let read_b = rows_b.iter().map(B::from_row).collect::<Result<_, _>>()?;
        Ok((read_a, read_b))
    }

    async fn execute(&mut self, sql: Sql, params: Vec<Param<'_>>) -> Result<u64, StoreError> {
        let (client, statement, pending) = self.prepared(&sql).await?;
        let params = bound(&params);
        let next = client.execute(&statement, &params);
        let changed = pipeline::with_pending(client, pending, next).await;
        self.failed |= changed.is_err();
        Ok(changed?)
    }

    fn defer(&mut self, sql: &'static str, params: Vec<Param<'_>>) -> Result<(), StoreError> {
        let params = params.into_iter().map(Param::into_owned).collect();
        self.pending.push(Deferred { sql, params });
        Ok(())
    }

    async fn commit(mut self, notify: bool) -> Result<(), StoreError> {
        let client = self.ending()?;
        let pending = std::mem::take(&mut self.pending);
        let commit_sql = commit_sql(notify);
        let connection = client.client();
        let commit = connection.batch_execute(&commit_sql);
        let outcome = pipeline::with_pending(connection, pending, commit).await;
        self.ended(client, notify, outcome)
    }

    /// The query goes out after the deferred writes and before `COMMIT`, in one pipeline.
    async fn rows_and_commit<T: FromRow>(
        mut self,
        sql: Sql,
        params: Vec<Param<'_>>,
        notify: bool,
    ) -> Result<Vec<T>, StoreError> {
        let (_, statement, pending) = self.prepared(&sql).await?;
        self.pending = pending; // they go out with the query, below
        let client = self.ending()?;
        let pending = std::mem::take(&mut self.pending);
        let params = bound(&params);
        let commit_sql = commit_sql(notify);
        let connection = client.client();
        let query_then_commit = try_join(
            connection.query(&statement, &params),
            connection.batch_execute(&commit_sql),
        );
        let outcome = pipeline::with_pending(connection, pending, query_then_commit).await;
        let (rows, ()) = self.ended(client, notify, outcome)?;
        rows.iter().map(T::from_row).collect()
    }
}

/// Ends the transaction; one that gave the runners work also tells every node (the
/// `NOTIFY` is delivered at commit).
fn commit_sql(notify: bool) -> Cow<'static, str> {
    if notify {
        Cow::Owned(format!("NOTIFY {WORK_CHANNEL}; COMMIT"))
    } else {
        Cow::Borrowed("COMMIT")
    }
}
