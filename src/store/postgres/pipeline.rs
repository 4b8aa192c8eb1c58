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
//! reused (see `PgConn::commit`).
//!
//! A command of a batch goes further ([`Unsent`]): its last writes and its `RELEASE` wait
//! for the next command of its lane, or for the batch's `COMMIT`. Should they fail, the
//! pipeline that carried them rolls the command back to its savepoint and tells it so
//! ([`Sent`]), and the batch goes on. A command whose statement fails before its
//! `RELEASE` is rolled back to its savepoint as it is dropped.

use std::future::poll_fn;
use std::pin::pin;
use std::task::Poll;

use deadpool_postgres::Object;
use futures_util::future::{join, try_join};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Statement};

use super::batch::UNDO_COMMAND;
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

/// A deferred statement, its write prepared: sending it needs no round trip first.
pub(super) enum Prepared {
    Write {
        statement: Statement,
        params: Vec<Param<'static>>,
    },
    Control(&'static str),
}

/// The writes and `RELEASE` of a command of a batch that let go of its lane before they
/// went out: the lane's next command sends them in front of its own first statements,
/// or the batch's flush in front of its `COMMIT`, saving the round trip the command
/// would wait on (it waits for the `COMMIT` anyway). Whoever sends them answers the
/// command should they fail, rolls it back to its savepoint and goes on.
pub(super) struct Unsent {
    pub statements: Vec<Prepared>,
    /// The command's place among its batch's acknowledgements
    /// ([`crate::store::group_commit::Batch::fail_one`]).
    pub ack: usize,
}

/// The outcome of a pipeline, and what became of the [`Unsent`] statements it carried in
/// front.
pub(super) struct Sent<T> {
    pub carried: Carried,
    pub outcome: Result<T, Error>,
}

/// What became of the [`Unsent`] statements a pipeline carried.
pub(super) enum Carried {
    /// None were carried, or they went through.
    Through,
    /// They failed, and their command (its acknowledgement's place) was rolled back to
    /// its savepoint.
    Failed(usize, Error),
    /// They were not sent, and the transaction may be aborted (preparing one of the
    /// caller's statements failed): only the whole batch can fail now.
    Unknown,
}

/// Prepares the writes (from the connection's cache after the first time).
pub(super) async fn prepare(
    client: &Object,
    pending: Vec<Deferred>,
) -> Result<Vec<Prepared>, Error> {
    let mut ready = Vec::with_capacity(pending.len());
    for deferred in pending {
        ready.push(match deferred {
            Deferred::Write { sql, params } => Prepared::Write {
                statement: client.prepare_cached(sql).await?,
                params,
            },
            Deferred::Control(sql) => Prepared::Control(sql),
        });
    }
    Ok(ready)
}

/// Sends every statement, in order, as it is first polled; the first error. None goes out
/// after one that failed before it was sent (a parameter that would not encode), which
/// [`after_unsent`] relies on; `try_join_all` would send them all past 30 statements.
async fn send(client: &Object, prepared: &[Prepared]) -> Result<(), Error> {
    let mut requests: Vec<_> = prepared
        .iter()
        .map(|prepared| Some(Box::pin(request(client, prepared))))
        .collect();
    poll_fn(|cx| {
        let mut waiting = false;
        for slot in &mut requests {
            let Some(request) = slot else { continue };
            match request.as_mut().poll(cx) {
                Poll::Ready(Ok(())) => *slot = None,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => waiting = true,
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    })
    .await
}

/// One statement: its request goes out at the first poll, before any wait.
async fn request(client: &Object, prepared: &Prepared) -> Result<(), Error> {
    match prepared {
        Prepared::Write { statement, params } => {
            let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::as_postgres).collect();
            client.execute(statement, &params).await.map(drop)
        }
        Prepared::Control(sql) => client.batch_execute(sql).await,
    }
}

/// Sends `pending`, then runs `next` in the same pipeline; `next`'s output when everything
/// succeeded.
pub(super) async fn with_pending<T, F>(
    client: &Object,
    pending: Vec<Deferred>,
    next: F,
) -> Result<T, Error>
where
    F: Future<Output = Result<T, Error>>,
{
    if pending.is_empty() {
        return next.await;
    }
    let ready = prepare(client, pending).await?;
    let (_, output) = try_join(send(client, &ready), next).await?;
    Ok(output)
}

/// [`with_pending`] behind a released command's [`Unsent`] statements, with nothing of
/// the caller's sent before them. Should they fail, the transaction is aborted and the
/// caller's statements with it: the released command is rolled back to its savepoint and
/// the caller's statements are sent again (`next` makes them anew). Should that rollback
/// fail, the caller hears its error.
pub(super) async fn after_unsent<T, F, Fut>(
    client: &Object,
    unsent: Option<Unsent>,
    pending: Vec<Deferred>,
    next: F,
) -> Sent<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let through = |outcome| Sent {
        carried: Carried::Through,
        outcome,
    };
    let Some(unsent) = unsent else {
        return through(with_pending(client, pending, next()).await);
    };
    let ready = match prepare(client, pending).await {
        Ok(ready) => ready,
        Err(error) => {
            return Sent {
                carried: Carried::Unknown,
                outcome: Err(error),
            };
        }
    };
    let own = || async {
        try_join(send(client, &ready), next())
            .await
            .map(|(_, out)| out)
    };
    let mut carried = pin!(send(client, &unsent.statements));
    // Polled once on its own, every carried statement is on the wire, unless one failed
    // before it was sent (a parameter that would not encode): the caller's statements
    // must not go out then, they would run ahead of the command's rollback. Once all are
    // on the wire, answers come in order: `join` learns both outcomes.
    let first = poll_fn(|cx| Poll::Ready(carried.as_mut().poll(cx))).await;
    let error = match first {
        Poll::Ready(Err(error)) => error,
        Poll::Ready(Ok(())) => return through(own().await),
        Poll::Pending => match join(carried, own()).await {
            (Ok(()), outcome) => return through(outcome),
            (Err(error), _) => error,
        },
    };
    let outcome = match client.batch_execute(UNDO_COMMAND).await {
        Ok(()) => own().await,
        Err(undo) => Err(undo),
    };
    Sent {
        carried: Carried::Failed(unsent.ack, error),
        outcome,
    }
}
