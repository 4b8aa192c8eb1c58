//! Embedded store on SQLite (rusqlite, bundled).
//!
//! One connection serves the whole process, held by one command at a time: SQLite has a
//! single writer anyway, so commands are serialised and the locking contract of
//! [`super::Tx`] holds trivially. Commands that arrive while others run are committed
//! together, each in a savepoint of one transaction, with one `COMMIT` and one fsync
//! ([`batch`]: group commit); every command's `commit` answers after that `COMMIT`. What
//! blocks on the disk (opening with migrations, every `COMMIT`) runs on a thread of its
//! own ([`writer`]), never on a runtime worker; see there why the other statements do not.
//!
//! The journal is WAL with `synchronous = FULL`: a transaction is on disk when `COMMIT`
//! returns, so an acknowledgement survives a crash or power loss of the process. Other
//! processes (the CLI) may open the same file; `busy_timeout` makes them wait.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::Connection;
use rusqlite::config::DbConfig;
use tokio::sync::Notify;

use super::sql::SqlTx;
use super::{Backend, Store, StoreError, Tx};

mod backup;
mod batch;
mod conn;
#[cfg(test)]
mod plans;
#[cfg(test)]
mod tests;
mod writer;

pub use backup::{Backup, backup};

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

pub struct SqliteStore {
    /// The connection's turn and its batch; its writer thread is joined when the last
    /// batch on it has been committed.
    gate: Arc<batch::Gate>,
    work: Arc<Notify>,
}

/// Statements kept prepared on the connection (every statement of the store, and the
/// listing shapes in use).
const STATEMENT_CACHE: usize = 128;

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations, on the
    /// store's own thread.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let writer = writer::Writer::start()?;
        let path = path.to_path_buf();
        let conn = writer.run(move || open_connection(&path)).await?;
        let work = Arc::new(Notify::new());
        Ok(Self {
            gate: batch::SqliteFlush::gate(conn, Arc::new(writer), work.clone()),
            work,
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
    // Plans that never depend on the values bound: SQLite 3.54 reads a bound `LIMIT` (and
    // small integers compared for equality) while planning, and then prepares the
    // statement again each time a new value is bound. That made the listing every
    // command answers with a full parse and plan: a third of the server's instructions in
    // K2 callbacks (callgrind, 2026-12-06). Our statements are written for generic plans.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    embedded::migrations::runner().run(&mut conn)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        let conn = conn::SqliteConn::begin(self.gate.turn().await)?;
        Ok(Box::new(SqlTx::new(conn)))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut turn = self.gate.turn().await;
        turn.conn()
            .query_row("SELECT count(*) FROM settings", [], |row| {
                row.get::<_, i64>(0)
            })?;
        Ok(())
    }

    fn settle_mark(&self) -> u64 {
        self.gate.failed_batches()
    }

    async fn settled(&self, mark: u64) -> Result<(), StoreError> {
        self.gate.settled(mark).await
    }

    fn work_signal(&self) -> Arc<Notify> {
        self.work.clone()
    }
}
