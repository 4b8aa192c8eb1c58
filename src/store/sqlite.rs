//! Embedded store on SQLite (rusqlite, bundled).
//!
//! One connection serves the whole process, owned by a thread of its own
//! ([`writer`]): no SQLite call, and no fsync, runs on a runtime worker. SQLite has a
//! single writer anyway, and `BEGIN IMMEDIATE` makes every transaction a writer from its
//! first statement; the store hands the connection to one transaction at a time (an
//! async mutex, held by the transaction until it commits or is dropped), so commands are
//! serialised and the locking contract of [`super::Tx`] holds trivially. Reads go the
//! same way, inside the transaction that asked for them.
//!
//! The journal is WAL with `synchronous = FULL`: a transaction is on disk when `COMMIT`
//! returns, so an acknowledgement survives a crash or power loss of the process. Other
//! processes (the CLI) may open the same file; `busy_timeout` makes them wait.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::Connection;
use tokio::sync::{Mutex, Notify};

use super::sql::SqlTx;
use super::{Backend, Store, StoreError, Tx};

mod backup;
mod conn;
mod writer;

pub use backup::{Backup, backup};

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

pub struct SqliteStore {
    writer: Arc<writer::Writer>,
    /// The connection's turn: held by one transaction at a time.
    turn: Arc<Mutex<()>>,
    work: Arc<Notify>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations, on the
    /// store's own thread.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let writer = writer::Writer::start(path.to_path_buf(), open_connection).await?;
        Ok(Self {
            writer: Arc::new(writer),
            turn: Arc::new(Mutex::new(())),
            work: Arc::new(Notify::new()),
        })
    }
}

/// Runs on the writer thread.
fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|error| {
            StoreError::Unavailable(format!("cannot create {}: {error}", parent.display()))
        })?;
    }
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    embedded::migrations::runner().run(&mut conn)?;
    Ok(conn)
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        let turn = self.turn.clone().lock_owned().await;
        let conn = conn::SqliteConn::begin(self.writer.clone(), turn).await?;
        Ok(Box::new(SqlTx::new(conn, self.work.clone())))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let count = |conn: &mut Connection| {
            let sql = "SELECT count(*) FROM settings";
            Ok(conn.query_row(sql, [], |row| row.get::<_, i64>(0))?)
        };
        self.writer.run(count).await?;
        Ok(())
    }

    fn work_signal(&self) -> Arc<Notify> {
        self.work.clone()
    }
}
