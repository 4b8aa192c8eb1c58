//! Statements whose outcome nobody reads (history rows, the instance update, cancelling
//! an item's deliveries) are not sent on their own: they wait in the transaction and go
//! out together with the next statement that returns something, or with `COMMIT`, as one
//! pipeline (tokio-postgres sends requests in the order their futures are first polled
//! and PostgreSQL answers in order). `BEGIN` itself waits for the first statement. A
//! finish then costs 5 round trips instead of 10.
//!
//! Errors are not lost, only reported later: a failed deferred statement aborts the
//! transaction, its error is the first one the pipeline yields (answers come in order),
//! and the command fails with it. A `COMMIT` sent after a failed statement ends the
//! transaction with a rollback, so nothing of it is stored; the connection is then not
//! reused (see `PgConn::commit`). A command of a batch sends `RELEASE` instead, which
//! fails too; the command is then rolled back to its savepoint as it is dropped, and the
//! batch goes on.

use deadpool_postgres::Object;
use futures_util::future::{try_join, try_join_all};
use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

use crate::store::sql::Param;

/// A statement whose outcome nobody reads, waiting to go out with the next one.
pub(super) enum Deferred {
    /// One write whose row count nobody checks; its parameters are owned by the
    /// transaction until the statement is sent. Prepared once per connection.
    Write {
        sql: &'static str,
        params: Vec<Param<'static>>,
    },
    /// Transaction control without parameters (`BEGIN`, a savepoint), possibly several
    /// statements: one simple query, so one answer for all of them. PostgreSQL answers
    /// each request of a pipeline on its own, flushing its socket each time: a batch's
    /// opening `BEGIN`, `SET LOCAL` and `SAVEPOINT` are one answer instead of three.
    Control(&'static str),
}

/// Prepares the writes (from the connection's cache after the first time) and sends
/// `pending`, then runs `next` in the same pipeline; `next`'s output when everything
/// succeeded.
pub(super) async fn with_pending<T, F>(
    client: &Object,
    pending: Vec<Deferred>,
    next: F,
) -> Result<T, tokio_postgres::Error>
where
    F: Future<Output = Result<T, tokio_postgres::Error>>,
{
    if pending.is_empty() {
        return next.await;
    }
    let mut ready = Vec::with_capacity(pending.len());
    for deferred in &pending {
        ready.push(match deferred {
            Deferred::Write { sql, params } => {
                Ready::Write(client.prepare_cached(sql).await?, params)
            }
            Deferred::Control(sql) => Ready::Control(sql),
        });
    }
    let sends = ready.iter().map(|ready| async move {
        match ready {
            Ready::Write(statement, params) => {
                let params: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(Param::as_postgres).collect();
                client.execute(statement, &params).await.map(drop)
            }
            Ready::Control(sql) => client.batch_execute(sql).await,
        }
    });
    let (_, output) = try_join(try_join_all(sends), next).await?;
    Ok(output)
}

/// A deferred statement, its write prepared.
enum Ready<'a> {
    Write(Statement, &'a [Param<'static>]),
    Control(&'static str),
}
