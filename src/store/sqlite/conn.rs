//! One command of the embedded store: a savepoint in the open batch ([`super::batch`]).
//! Its statements run on the command's own task against the connection its turn holds;
//! its commit releases the savepoint into the batch and waits for the batch's `COMMIT`.
//!
//! Writes whose row count nobody reads (history rows, the instance update) run at once:
//! there is no round trip to save, as there is on PostgreSQL. A statement that failed
//! leaves the command able only to roll back, as on PostgreSQL. Dropping a command
//! uncommitted rolls it back to its savepoint before the turn is let go, so it changes
//! nothing and the other commands of its batch keep theirs.

use rusqlite::Statement;

use super::batch::Turn;
use crate::store::StoreError;
use crate::store::group_commit::unanswered;
use crate::store::sql::row::FromRow;
use crate::store::sql::statements::RETURNING_ID;
use crate::store::sql::{Conn, Dialect, Param, Sql};

pub(super) struct SqliteConn {
    /// `None` once `commit` has released the command into the batch.
    turn: Option<Turn>,
    /// A statement failed: like PostgreSQL, the transaction may only roll back now.
    failed: bool,
}

impl SqliteConn {
    /// Starts a command on the connection whose turn the caller holds.
    pub(super) fn begin(mut turn: Turn) -> Result<Self, StoreError> {
        turn.begin_command()?;
        Ok(Self {
            turn: Some(turn),
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
        if self.failed {
            // As on PostgreSQL; and should SQLite have rolled the batch back, a statement
            // run now would commit on its own.
            return Err(StoreError::Other(
                "a statement of this transaction failed; it may only roll back".into(),
            ));
        }
        let conn = self.turn.as_mut().ok_or_else(committed)?.conn();
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
        // Dropped mid-way (an error or a cancelled request): undo the command alone.
        if let Some(turn) = self.turn.as_mut() {
            turn.undo_command();
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

    /// Without its `RETURNING id`: SQLite gathers the rows a write returns in a temporary
    /// b-tree, a page allocated and cleared for every insert (callgrind, 2026-12-06). The
    /// id is the connection's last rowid, which nothing else can move while the command
    /// holds the turn.
    async fn insert(
        &mut self,
        sql: &'static str,
        params: Vec<Param<'_>>,
    ) -> Result<i64, StoreError> {
        let plain = without_returning_id(sql)?;
        let changed =
            self.on_statement(plain, &params, |statement| Ok(statement.raw_execute()?))?;
        if changed != 1 {
            return Err(StoreError::Other(format!(
                "insert changed {changed} rows, not one"
            )));
        }
        Ok(self
            .turn
            .as_mut()
            .ok_or_else(committed)?
            .conn()
            .last_insert_rowid())
    }

    fn defer(&mut self, sql: &'static str, params: Vec<Param<'_>>) -> Result<(), StoreError> {
        self.on_statement(sql, &params, |statement| {
            statement.raw_execute()?;
            Ok(())
        })
    }

    /// Releases the command into its batch, lets go of the turn (which commits the batch
    /// when it is due) and answers once the batch's `COMMIT` is on disk.
    async fn commit(mut self, notify: bool) -> Result<(), StoreError> {
        if self.failed {
            return Err(StoreError::Other(
                "a statement of this transaction failed; it was rolled back".into(),
            ));
        }
        let mut turn = self.turn.take().ok_or_else(committed)?;
        let ack = match turn.commit_command(notify) {
            Ok(ack) => ack,
            Err(error) => {
                self.turn = Some(turn);
                return Err(error);
            }
        };
        drop(turn);
        ack.await.map_err(|_| unanswered())?
    }
}

/// `sql`, a plain insert of one row ending in [`RETURNING_ID`], without that ending. An
/// upsert is refused: its update moves no last rowid, so the id read after it would be
/// another row's.
fn without_returning_id(sql: &str) -> Result<&str, StoreError> {
    sql.strip_suffix(RETURNING_ID)
        .filter(|plain| !plain.contains(" ON CONFLICT ") && !plain.starts_with("INSERT OR"))
        .ok_or_else(|| StoreError::Other(format!("not a plain insert returning its id: {sql}")))
}

fn committed() -> StoreError {
    StoreError::Other("the transaction was released into its batch".into())
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

    use super::{bind, without_returning_id};
    use crate::store::sql::Param;
    use crate::store::sql::statements as sql;

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

    #[test]
    fn the_store_s_inserts_run_without_returning_and_an_upsert_is_refused() {
        for insert in [
            sql::INSERT_INSTANCE,
            sql::INSERT_WAIT,
            sql::BUFFER_EVENT,
            sql::INSERT_OUTBOX,
            sql::INSERT_INBOUND,
        ] {
            let plain = without_returning_id(insert).expect("a plain insert");
            assert!(plain.starts_with("INSERT INTO") && !plain.contains("RETURNING"));
        }
        for refused in [
            "INSERT INTO t (a) VALUES ($1) ON CONFLICT (a) DO UPDATE SET a = $1 RETURNING id",
            "INSERT OR REPLACE INTO t (a) VALUES ($1) RETURNING id",
            "INSERT INTO t (a) VALUES ($1)",
        ] {
            assert!(without_returning_id(refused).is_err(), "{refused}");
        }
    }
}
