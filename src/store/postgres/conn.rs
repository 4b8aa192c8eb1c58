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

pub(super) struct PgConn {
    /// `None` once committed.
    client: Option<Object>,
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
            sql: "BEGIN",
            params: Vec::new(),
        };
        Self {
            client: Some(client),
            pending: vec![begin],
            work,
        }
    }

    fn client(&self) -> Result<&Object, StoreError> {
        self.client
            .as_ref()
            .ok_or_else(|| StoreError::Other("transaction already ended".into()))
    }

    /// The statement, prepared once per connection, and the writes to send before it.
    async fn prepared(
        &mut self,
        sql: &str,
    ) -> Result<(&Object, Statement, Vec<Deferred>), StoreError> {
        let pending = std::mem::take(&mut self.pending);
        let client = self.client()?;
        Ok((client, client.prepare_cached(sql).await?, pending))
    }
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
        let rows = pipeline::with_pending(client, pending, next).await?;
        rows.iter().map(T::from_row).collect()
    }

    async fn execute(&mut self, sql: Sql, params: Vec<Param<'_>>) -> Result<u64, StoreError> {
        let (client, statement, pending) = self.prepared(&sql).await?;
        let params = bound(&params);
        let next = client.execute(&statement, &params);
        Ok(pipeline::with_pending(client, pending, next).await?)
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
        let commit = client.batch_execute(&commit_sql);
        let outcome = pipeline::with_pending(&client, pending, commit).await;
        self.ended(client, notify, outcome)
    }

    /// The query goes out after the deferred writes and before `COMMIT`, in one pipeline.
    async fn rows_and_commit<T: FromRow>(
        mut self,
        sql: Sql,
        params: Vec<Param<'_>>,
        notify: bool,
    ) -> Result<Vec<T>, StoreError> {
        let statement = self.client()?.prepare_cached(&sql).await?;
        let client = self.ending()?;
        let pending = std::mem::take(&mut self.pending);
        let params = bound(&params);
        let commit_sql = commit_sql(notify);
        let query_then_commit = try_join(
            client.query(&statement, &params),
            client.batch_execute(&commit_sql),
        );
        let outcome = pipeline::with_pending(&client, pending, query_then_commit).await;
        let (rows, ()) = self.ended(client, notify, outcome)?;
        rows.iter().map(T::from_row).collect()
    }
}

impl PgConn {
    /// The connection, taken for the `COMMIT`: dropping the transaction no longer rolls back.
    fn ending(&mut self) -> Result<Object, StoreError> {
        self.client
            .take()
            .ok_or_else(|| StoreError::Other("transaction already ended".into()))
    }

    /// After the pipeline that held `COMMIT`: wakes the runners, or discards a connection
    /// whose `COMMIT` failed, since its outcome is unknown to us.
    fn ended<T>(
        &self,
        client: Object,
        notify: bool,
        outcome: Result<T, tokio_postgres::Error>,
    ) -> Result<T, StoreError> {
        match outcome {
            Ok(output) => {
                if notify {
                    self.work.notify_waiters();
                }
                Ok(output)
            }
            Err(error) => {
                drop(Object::take(client));
                Err(error.into())
            }
        }
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
