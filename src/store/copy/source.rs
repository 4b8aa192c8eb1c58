//! The SQLite side of the copy: the embedded store read in key order, batch by batch,
//! inside one read transaction, so every batch comes from the same snapshot.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::rows::{self, Cell};
use super::tables::Table;
use super::{CopyError, Schema};
use crate::store::StoreError;
use crate::store::sqlite::SqliteStore;

/// A batch is cut short once its rows hold this many bytes.
const BATCH_BYTES: usize = 8 << 20;

/// The embedded store, read inside one read transaction (one snapshot).
pub(super) struct Source {
    // Behind a mutex so that the copy's future stays `Send`: a rusqlite connection may
    // move between threads but not be shared. It is only ever locked between awaits.
    conn: Mutex<Connection>,
}

impl Source {
    pub(super) async fn open(path: &Path) -> Result<Self, CopyError> {
        if !path.is_file() {
            return Err(CopyError::NoSource(path.to_path_buf()));
        }
        // Brings an older file to this version's schema first, as every command does.
        drop(SqliteStore::open(path).await?);
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "query_only", "ON")?;
        conn.execute_batch("BEGIN")?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Other("the source connection was poisoned".into()))
    }

    /// The next rows after key `after`, at most `table.batch` of them and about
    /// [`BATCH_BYTES`]; empty at the end.
    pub(super) fn batch(
        &self,
        table: &Table,
        after: Option<&Cell>,
    ) -> Result<Vec<Vec<Cell>>, StoreError> {
        let conn = self.conn()?;
        let key = table.key().name;
        let (filter, after) = match after {
            None => (String::new(), rusqlite::types::Value::Null),
            Some(Cell::Int(id)) => (format!("WHERE {key} > ?2"), (*id).into()),
            Some(Cell::Text(text)) => (format!("WHERE {key} > ?2"), text.clone().into()),
            Some(other) => {
                return Err(StoreError::Other(format!("unusable key {other:?}")));
            }
        };
        let sql = format!(
            "SELECT {} FROM {} {filter} ORDER BY {key} LIMIT ?1",
            table.column_list(),
            table.name
        );
        let mut statement = conn.prepare_cached(&sql)?;
        let limit = i64::try_from(table.batch).unwrap_or(i64::MAX);
        let mut rows = if filter.is_empty() {
            statement.query(rusqlite::params![limit])?
        } else {
            statement.query(rusqlite::params![limit, after])?
        };
        let (mut batch, mut bytes) = (Vec::new(), 0);
        while let Some(row) = rows.next()? {
            let (cells, size) = rows::from_sqlite(table, row)?;
            batch.push(cells);
            bytes += size;
            if bytes >= BATCH_BYTES {
                break;
            }
        }
        Ok(batch)
    }

    /// SQLite's AUTOINCREMENT high-water mark for a table (0 when it never had a row).
    pub(super) fn sequence(&self, table: &Table) -> Result<i64, StoreError> {
        let conn = self.conn()?;
        let seq = conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = ?1",
                [table.name],
                |row| row.get::<_, i64>(0),
            )
            .optional()?;
        Ok(seq.unwrap_or(0))
    }

    pub(super) fn schema(&self) -> Result<Schema, StoreError> {
        let conn = self.conn()?;
        let mut statement = conn.prepare(
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table'",
        )?;
        let mut schema = Schema::new();
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let (table, column): (String, String) = (row.get(0)?, row.get(1)?);
            schema.entry(table).or_default().insert(column);
        }
        Ok(schema)
    }
}
