//! One PostgreSQL transaction on a pooled connection, or one command in the savepoint of a
//! lane's batch ([`super::batch`]): statements are prepared once per connection
//! (`prepare_cached`), and deferred writes go out with the next statement or `COMMIT`
//! (`RELEASE` for a command of a batch) in one pipeline (see [`super::pipeline`]). A
//! command of a batch leaves its last writes and its `RELEASE` to the next command of its
//! lane or to the batch's `COMMIT` ([`Unsent`]), and sends those the previous command left.

use std::borrow::Cow;
use std::sync::Arc;

use deadpool_postgres::Object;
use tokio::sync::Notify;
use tokio_postgres::Statement;
use tokio_postgres::types::ToSql;

use futures_util::future::try_join;

use super::WORK_CHANNEL;
use super::batch::{self, Turn};
use super::pipeline::{self, Deferred, Unsent};
use crate::store::StoreError;
use crate::store::sql::row::FromRow;
use crate::store::sql::{Conn, Dialect, Param, Sql};

mod batched;

const BEGIN: &str = "BEGIN";

pub(super) struct PgConn {
    /// The connection, on loan from the pool or from a lane's turn.
    holder: Holder,
    /// A statement failed: the transaction may only roll back now (PostgreSQL refuses
    /// further statements anyway, and a `COMMIT` would answer `ROLLBACK` without an error).
    failed: bool,
    /// Writes waiting to go out with the next statement.
    pending: Vec<Deferred>,
    /// What the lane's previous command left unsent: it goes out in front of `pending`.
    carried: Option<Unsent>,
    /// `carried` was taken to be sent (it may be on the wire) and what became of it is
    /// not known yet; it stays set when that is never learnt (`Carried::Unknown`), so
    /// that the command's drop fails the whole batch.
    carrying: bool,
    /// This node's runners, woken at once after a `COMMIT` that notified (the `NOTIFY`
    /// reaches them too, a round trip later).
    work: Arc<Notify>,
}

/// Where the connection comes from.
#[expect(
    clippy::large_enum_variant,
    reason = "one per transaction, on its task: boxing the pooled connection would cost an allocation for nothing"
)]
enum Holder {
    /// A transaction of its own on a pooled connection; `None` once committed.
    Pooled(Option<Object>),
    /// A command of a lane's batch ([`super::batch`]); `None` once released into it.
    Batched {
        turn: Option<Turn>,
        /// Its `SAVEPOINT` has gone out: dropped uncommitted, it is rolled back to it.
        savepoint_sent: bool,
        /// Its pending statements open the batch's transaction.
        opens_batch: bool,
    },
}

impl PgConn {
    /// Starts a transaction: its `BEGIN` goes out with the first statement, in the same
    /// pipeline, which saves a round trip per transaction.
    pub(super) fn begin(client: Object, work: Arc<Notify>) -> Self {
        Self {
            holder: Holder::Pooled(Some(client)),
            failed: false,
            pending: vec![Deferred::Control(BEGIN)],
            carried: None,
            carrying: false,
            work,
        }
    }

    /// The writes to send with the next statement, behind what the previous command left
    /// unsent; what they begin is then under way.
    fn take_pending(&mut self) -> Outgoing {
        if let Holder::Batched {
            turn: Some(turn),
            savepoint_sent,
            opens_batch,
        } = &mut self.holder
        {
            *savepoint_sent = true;
            if std::mem::take(opens_batch) {
                turn.session_mut().open = true;
            }
        }
        let carried = self.carried.take();
        self.carrying = carried.is_some();
        Outgoing {
            pending: std::mem::take(&mut self.pending),
            carried,
        }
    }

    fn client(&self) -> Result<&Object, StoreError> {
        let client = match &self.holder {
            Holder::Pooled(client) => client.as_ref(),
            Holder::Batched { turn, .. } => turn
                .as_ref()
                .and_then(|turn| turn.session().client.as_ref()),
        };
        client.ok_or_else(|| StoreError::Other("transaction already ended".into()))
    }

    /// The statement, prepared once per connection, and the writes to send before it
    /// (taken only once the statement is prepared, so that a failed prepare loses none).
    async fn prepared(&mut self, sql: &str) -> Result<(&Object, Statement, Outgoing), StoreError> {
        if self.failed {
            return Err(failed_before());
        }
        let statement = self.client()?.prepare_cached(sql).await;
        self.failed |= statement.is_err();
        let statement = statement?;
        let pending = self.take_pending();
        Ok((self.client()?, statement, pending))
    }

    /// The connection, taken for the `COMMIT`: dropping the transaction no longer rolls
    /// back, and abandoned before its outcome is known, the connection is discarded.
    fn ending(&mut self) -> Result<Ending, StoreError> {
        if self.failed {
            return Err(failed_before());
        }
        match &mut self.holder {
            Holder::Pooled(client) => client.take().map(|client| Ending(Some(client))),
            Holder::Batched { .. } => None,
        }
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

impl PgConn {
    fn is_batched(&self) -> bool {
        matches!(self.holder, Holder::Batched { .. })
    }

    fn take_pending_unless_failed(&mut self) -> Result<Outgoing, StoreError> {
        if self.failed {
            return Err(failed_before());
        }
        Ok(self.take_pending())
    }
}

/// What goes out with a transaction's next statement.
struct Outgoing {
    /// This transaction's deferred writes (and `BEGIN` or its `SAVEPOINT` first).
    pending: Vec<Deferred>,
    /// The lane's previous command's unsent statements, to go out in front.
    carried: Option<Unsent>,
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
        let client = match &mut self.holder {
            Holder::Pooled(client) => client.take(),
            Holder::Batched { .. } => {
                self.let_go_of_the_turn();
                None
            }
        };
        let Some(client) = client else {
            return;
        };
        if matches!(self.pending.first(), Some(Deferred::Control(BEGIN))) {
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
        let (client, statement, out) = self.prepared(&sql).await?;
        let params = bound(&params);
        let next = || client.query(&statement, &params);
        let sent = pipeline::after_unsent(client, out.carried, out.pending, next).await;
        self.sent(sent)?.iter().map(T::from_row).collect()
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
        let (client, statement, out) = self.prepared(&first.0).await?;
        let (first_params, second_params) = (bound(&first.1), bound(&second.1));
        let both = || {
            try_join(
                client.query(&statement, &first_params),
                client.query(&then, &second_params),
            )
        };
        let sent = pipeline::after_unsent(client, out.carried, out.pending, both).await;
        let (rows_a, rows_b) = self.sent(sent)?;
        let read_a = rows_a.iter().map(A::from_row).collect::<Result<_, _>>()?;
        let read_b = rows_b.iter().map(B::from_row).collect::<Result<_, _>>()?;
        Ok((read_a, read_b))
    }

    async fn execute(&mut self, sql: Sql, params: Vec<Param<'_>>) -> Result<u64, StoreError> {
        let (client, statement, out) = self.prepared(&sql).await?;
        let params = bound(&params);
        let next = || client.execute(&statement, &params);
        let sent = pipeline::after_unsent(client, out.carried, out.pending, next).await;
        self.sent(sent)
    }

    fn defer(&mut self, sql: &'static str, params: Vec<Param<'_>>) -> Result<(), StoreError> {
        let params = params.into_iter().map(Param::into_owned).collect();
        self.pending.push(Deferred::Write { sql, params });
        Ok(())
    }

    async fn commit(mut self, notify: bool) -> Result<(), StoreError> {
        if self.is_batched() {
            return self.release(notify).await;
        }
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
        let batched = self.is_batched();
        let (client, statement, out) = self.prepared(&sql).await?;
        if batched {
            let params = bound(&params);
            let query_then_release = || {
                try_join(
                    client.query(&statement, &params),
                    client.batch_execute(batch::RELEASE_COMMAND),
                )
            };
            let sent =
                pipeline::after_unsent(client, out.carried, out.pending, query_then_release).await;
            let outcome = self.sent(sent);
            let (rows, ()) = self.released(notify, outcome, None).await?;
            return rows.iter().map(T::from_row).collect();
        }
        self.pending = out.pending; // they go out with the query, below
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
pub(super) fn commit_sql(notify: bool) -> Cow<'static, str> {
    if notify {
        Cow::Owned(format!("NOTIFY {WORK_CHANNEL}; COMMIT"))
    } else {
        Cow::Borrowed("COMMIT")
    }
}
