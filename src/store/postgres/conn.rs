//! One PostgreSQL transaction on a pooled connection: statements are prepared once per
//! connection (`prepare_cached`), and deferred writes go out with the next statement or
//! `COMMIT` in one pipeline (see [`super::pipeline`]).

use std::sync::Arc;

use deadpool_postgres::Object;
use tokio::sync::Notify;
use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

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
        let client = self
            .client
            .take()
            .ok_or_else(|| StoreError::Other("transaction already ended".into()))?;
        let sql = if notify {
            format!("NOTIFY {WORK_CHANNEL}; COMMIT")
        } else {
            "COMMIT".to_string()
        };
        let pending = std::mem::take(&mut self.pending);
        if let Err(error) =
            pipeline::with_pending(&client, pending, client.batch_execute(&sql)).await
        {
            // The outcome of a failed COMMIT is unknown to us; never reuse the connection.
            drop(Object::take(client));
            return Err(error.into());
        }
        if notify {
            self.work.notify_waiters();
        }
        Ok(())
    }
}
