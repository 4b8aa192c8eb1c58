//! One SQLite transaction, driven from the async side: each statement is a job for the
//! writer thread, and its rows are mapped there, so only model values cross back.
//!
//! Writes whose row count nobody reads (history rows, the instance update) wait in the
//! transaction and run at the start of the next job, as on PostgreSQL, which saves their
//! round trips to the thread; their errors fail that job. A transaction holds the
//! connection's turn until it is gone: dropping it uncommitted queues a `ROLLBACK` before
//! the turn is released, so the next transaction's `BEGIN` always finds the connection
//! idle (jobs run in the order they were sent).

use std::sync::Arc;

use rusqlite::{Connection, Statement};
use tokio::sync::OwnedMutexGuard;

use super::writer::Writer;
use crate::store::StoreError;
use crate::store::sql::row::FromRow;
use crate::store::sql::{Conn, Dialect, Param, Sql};

/// A write held back until the next job.
struct Deferred {
    sql: &'static str,
    params: Vec<Param<'static>>,
}

pub(super) struct SqliteConn {
    writer: Arc<Writer>,
    pending: Vec<Deferred>,
    committed: bool,
    /// A statement failed: like PostgreSQL, the transaction may only roll back now (a
    /// deferred write's error surfaces on a later statement, which must not let the
    /// rest commit without it).
    failed: bool,
    /// Released after `Drop::drop` has queued the rollback (fields drop after it).
    _turn: OwnedMutexGuard<()>,
}

impl SqliteConn {
    /// Starts a transaction on the connection whose turn the caller holds.
    pub(super) async fn begin(
        writer: Arc<Writer>,
        turn: OwnedMutexGuard<()>,
    ) -> Result<Self, StoreError> {
        // Built first, so that a caller that gives up while BEGIN runs still rolls back.
        let conn = Self {
            writer,
            pending: Vec::new(),
            committed: false,
            failed: false,
            _turn: turn,
        };
        let begin = |conn: &mut Connection| Ok(conn.execute_batch("BEGIN IMMEDIATE")?);
        conn.writer.run(begin).await?;
        Ok(conn)
    }

    /// Runs the pending writes, then `work` on the prepared and bound statement.
    async fn on_statement<T: Send + 'static>(
        &mut self,
        sql: Sql,
        params: Vec<Param<'_>>,
        work: fn(&mut Statement<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let params = owned(params)?;
        let pending = std::mem::take(&mut self.pending);
        let outcome = self
            .writer
            .run(move |conn| {
                run_pending(conn, pending)?;
                let mut statement = conn.prepare_cached(&sql)?;
                bind(&mut statement, &params)?;
                work(&mut statement)
            })
            .await;
        self.failed |= outcome.is_err();
        outcome
    }
}

impl Drop for SqliteConn {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // Dropped mid-way (an error or a cancelled request): undo everything. A BEGIN
        // that failed, or a COMMIT that went through after all, leaves nothing to undo.
        let rollback = Box::new(|conn: &mut Connection| {
            if !conn.is_autocommit()
                && let Err(error) = conn.execute_batch("ROLLBACK")
            {
                tracing::error!(%error, "sqlite rollback failed");
            }
        });
        if let Err(error) = self.writer.send(rollback) {
            tracing::error!(%error, "sqlite rollback not sent");
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
        self.on_statement(sql, params, |statement| {
            let mut rows = statement.raw_query();
            let mut mapped = Vec::new();
            while let Some(row) = rows.next()? {
                mapped.push(T::from_row(row)?);
            }
            Ok(mapped)
        })
        .await
    }

    async fn execute(&mut self, sql: Sql, params: Vec<Param<'_>>) -> Result<u64, StoreError> {
        let execute = |statement: &mut Statement<'_>| Ok(statement.raw_execute()? as u64);
        self.on_statement(sql, params, execute).await
    }

    fn defer(&mut self, sql: &'static str, params: Vec<Param<'_>>) -> Result<(), StoreError> {
        let params = owned(params)?;
        self.pending.push(Deferred { sql, params });
        Ok(())
    }

    async fn commit(mut self, _notify: bool) -> Result<(), StoreError> {
        if self.failed {
            return Err(StoreError::Other(
                "a statement of this transaction failed; it was rolled back".into(),
            ));
        }
        let pending = std::mem::take(&mut self.pending);
        self.writer
            .run(move |conn| {
                run_pending(conn, pending)?;
                Ok(conn.execute_batch("COMMIT")?)
            })
            .await?;
        self.committed = true;
        Ok(())
    }
}

/// Parameters the writer thread can own (JSON rendered on the way).
fn owned(params: Vec<Param<'_>>) -> Result<Vec<Param<'static>>, StoreError> {
    params.into_iter().map(Param::into_sqlite).collect()
}

fn run_pending(conn: &mut Connection, pending: Vec<Deferred>) -> Result<(), StoreError> {
    for deferred in pending {
        let mut statement = conn.prepare_cached(deferred.sql)?;
        bind(&mut statement, &deferred.params)?;
        statement.raw_execute()?;
    }
    Ok(())
}

/// Binds each `$n` of the statement to `params[n - 1]`, whatever order the statement
/// names them in: SQLite numbers named parameters by first appearance, not by name.
fn bind(statement: &mut Statement<'_>, params: &[Param<'static>]) -> Result<(), StoreError> {
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
