//! One SQLite transaction: its statements run on the command's own task against the
//! connection its turn holds, and its `COMMIT` runs on the writer thread ([`Writer`]),
//! which takes the turn with it and releases it once the commit is done.
//!
//! Writes whose row count nobody reads (history rows, the instance update) run at once:
//! there is no round trip to save, as there is on PostgreSQL. A statement that failed
//! leaves the transaction able only to roll back, as on PostgreSQL. Dropping a
//! transaction uncommitted rolls it back before the turn is released, so the next
//! transaction's `BEGIN` always finds the connection idle.

use std::sync::Arc;

use rusqlite::{Connection, Statement};
use tokio::sync::{Notify, OwnedMutexGuard};

use super::writer::Writer;
use crate::store::StoreError;
use crate::store::sql::row::FromRow;
use crate::store::sql::{Conn, Dialect, Param, Sql};

/// The connection, held by one transaction at a time.
pub(super) type Turn = OwnedMutexGuard<Connection>;

pub(super) struct SqliteConn {
    /// `None` once `commit` has handed it to the writer thread.
    turn: Option<Turn>,
    writer: Arc<Writer>,
    /// The runners' wake-up, given on the writer thread once `COMMIT` is done, so that it
    /// is not lost when the caller stops waiting for its commit.
    work: Arc<Notify>,
    /// A statement failed: like PostgreSQL, the transaction may only roll back now.
    failed: bool,
}

impl SqliteConn {
    /// Starts a transaction on the connection whose turn the caller holds.
    pub(super) fn begin(
        writer: Arc<Writer>,
        work: Arc<Notify>,
        turn: Turn,
    ) -> Result<Self, StoreError> {
        turn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Self {
            turn: Some(turn),
            writer,
            work,
            failed: false,
        })
    }

    /// Prepares and binds the statement, then runs `work` on it.
    fn on_statement<T>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        work: impl FnOnce(&mut Statement<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.turn.as_deref_mut().ok_or_else(committed)?;
        let outcome =
            conn.prepare_cached(sql)
                .map_err(StoreError::from)
                .and_then(|mut statement| {
                    bind(&mut statement, params)?;
                    work(&mut statement)
                });
        self.failed |= outcome.is_err();
        outcome
    }
}

impl Drop for SqliteConn {
    fn drop(&mut self) {
        // Dropped mid-way (an error or a cancelled request): undo everything.
        if let Some(conn) = self.turn.as_deref_mut() {
            rollback_if_open(conn);
        }
    }
}

impl Conn for SqliteConn {
    const DIALECT: Dialect = Dialect::Sqlite;

    async fn rows<T: FromRow>(
        &mut self,
        sql: Sql,
        params: Vec<Param<'_>>,
    ) -> Result<Vec<T>, StoreError> {
        self.on_statement(&sql, &params, |statement| {
            let mut rows = statement.raw_query();
            let mut mapped = Vec::new();
            while let Some(row) = rows.next()? {
                mapped.push(T::from_row(row)?);
            }
            Ok(mapped)
        })
    }

    async fn execute(&mut self, sql: Sql, params: Vec<Param<'_>>) -> Result<u64, StoreError> {
        let execute = |statement: &mut Statement<'_>| Ok(statement.raw_execute()? as u64);
        self.on_statement(&sql, &params, execute)
    }

    fn defer(&mut self, sql: &'static str, params: Vec<Param<'_>>) -> Result<(), StoreError> {
        self.on_statement(sql, &params, |statement| {
            statement.raw_execute()?;
            Ok(())
        })
    }

    async fn commit(mut self, notify: bool) -> Result<(), StoreError> {
        if self.failed {
            return Err(StoreError::Other(
                "a statement of this transaction failed; it was rolled back".into(),
            ));
        }
        let committing = Committing(self.turn.take().ok_or_else(committed)?);
        let work = self.work.clone();
        self.writer
            .run(move || {
                committing.0.execute_batch("COMMIT")?;
                if notify {
                    work.notify_waiters();
                }
                Ok(())
            })
            .await
    }
}

/// The turn on its way through `COMMIT`: a commit that failed, or a job that panicked, is
/// rolled back before the turn is released, so the next `BEGIN` finds the connection idle.
struct Committing(Turn);

impl Drop for Committing {
    fn drop(&mut self) {
        rollback_if_open(&mut self.0);
    }
}

fn rollback_if_open(conn: &mut Connection) {
    // A BEGIN that failed, or a COMMIT that went through after all, leaves nothing to undo.
    if !conn.is_autocommit()
        && let Err(error) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(%error, "sqlite rollback failed");
    }
}

fn committed() -> StoreError {
    StoreError::Other("the transaction was handed over for its commit".into())
}

/// Binds each `$n` of the statement to `params[n - 1]`, whatever order the statement
/// names them in: SQLite numbers named parameters by first appearance, not by name.
fn bind(statement: &mut Statement<'_>, params: &[Param<'_>]) -> Result<(), StoreError> {
    for index in 1..=statement.parameter_count() {
        let param = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$')?.parse::<usize>().ok())
            .and_then(|number| params.get(number.checked_sub(1)?))
            .ok_or_else(|| StoreError::Other(format!("statement parameter {index} is unbound")))?;
        statement.raw_bind_parameter(index, param)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::bind;
    use crate::store::sql::Param;

    #[test]
    fn parameters_bind_by_their_number_not_their_position() {
        let conn = Connection::open_in_memory().expect("open");
        let mut statement = conn.prepare("SELECT $2, $1, $2").expect("prepare");
        bind(&mut statement, &[Param::from(10_i64), Param::from(20_i64)]).expect("bind");
        let mut rows = statement.raw_query();
        let row = rows.next().expect("step").expect("a row");
        let values: (i64, i64, i64) = (
            row.get(0).unwrap(),
            row.get(1).unwrap(),
            row.get(2).unwrap(),
        );
        assert_eq!(values, (20, 10, 20));
    }

    #[test]
    fn a_missing_parameter_is_an_error() {
        let conn = Connection::open_in_memory().expect("open");
        let mut statement = conn.prepare("SELECT $1, $3").expect("prepare");
        assert!(bind(&mut statement, &[Param::from(1_i64), Param::from(2_i64)]).is_err());
    }
}
