//! Group commit for the embedded store ([`crate::store::group_commit`]): the connection
//! is the batch's session, every `COMMIT` runs on the writer thread, and the statements of
//! a command run on its own task against the connection its turn holds.
//!
//! SQLite rolls the whole transaction back on some I/O and memory errors, whichever turn
//! holder met them (a command, `ping`): the connection is then in autocommit mode, which
//! is how the batch learns it was lost.

use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{Notify, OwnedMutexGuard};

use super::writer::Writer;
use crate::store::StoreError;
use crate::store::group_commit::{self, Ack, Batch, Flush};

/// The savepoint each command runs in. One command holds the turn at a time, so one
/// name serves them all.
const BEGIN_COMMAND: &str = "SAVEPOINT command";
const RELEASE_COMMAND: &str = "RELEASE command";
const UNDO_COMMAND: &str = "ROLLBACK TO command; RELEASE command";

/// Commits on the writer thread.
pub(super) struct SqliteFlush {
    writer: Arc<Writer>,
}

pub(super) type Gate = group_commit::Gate<SqliteFlush>;
pub(super) type Turn = group_commit::Turn<SqliteFlush>;

impl SqliteFlush {
    pub(super) fn gate(conn: Connection, writer: Arc<Writer>, work: Arc<Notify>) -> Arc<Gate> {
        Gate::new(conn, Self { writer }, work, Default::default())
    }
}

impl Flush for SqliteFlush {
    type Session = Connection;

    /// SQLite keeps no per-savepoint state past a command's own statements, so a batch
    /// may take one command from each client of a busy node: at 48, the 64 clients of the
    /// callbacks benchmark left 16 commands to every next batch, and those waited for two
    /// commits (p99 12–15 ms against 10–12 ms at 256; BENCHMARKS.md, 2026-12-05, sixth
    /// pass). At the 0.1 ms a command holds the turn there, 256 of them take some 26 ms,
    /// under [`group_commit`]'s 40 ms backstop.
    const MAX_COMMANDS: usize = 256;

    fn is_idle(conn: &mut Connection) -> bool {
        conn.is_autocommit()
    }

    fn flush(&self, batch: OwnedMutexGuard<Batch<Connection>>, work: Arc<Notify>) {
        self.writer
            .send(Box::new(move || Flushing(batch).commit(&work)));
    }
}

impl Turn {
    pub(super) fn conn(&mut self) -> &mut Connection {
        self.session_mut()
    }

    /// Opens the batch's transaction if none is open, then the command's savepoint.
    pub(super) fn begin_command(&mut self) -> Result<(), StoreError> {
        if self.batch().lost(SqliteFlush::is_idle) {
            self.conn().execute_batch("BEGIN IMMEDIATE")?;
        }
        self.conn().execute_batch(BEGIN_COMMAND)?;
        Ok(())
    }

    /// Releases the command's savepoint into the batch and returns what to wait for.
    pub(super) fn commit_command(&mut self, wake_runners: bool) -> Result<Ack, StoreError> {
        self.conn().execute_batch(RELEASE_COMMAND)?;
        Ok(self.batch().ack(wake_runners))
    }

    /// Undoes the command: back to its savepoint. Should SQLite have rolled back the
    /// whole transaction, or the undo fail, the batch is lost and every command of it
    /// hears so.
    pub(super) fn undo_command(&mut self) {
        let batch = self.batch();
        match batch.session.execute_batch(UNDO_COMMAND) {
            Ok(()) => {}
            Err(error) if batch.session.is_autocommit() => {
                batch.fail(format!("sqlite rolled back the batch: {error}"));
            }
            Err(error) => {
                tracing::error!(%error, "sqlite savepoint rollback failed");
                rollback_if_open(&mut batch.session);
                batch.fail(format!("the batch was rolled back: {error}"));
            }
        }
    }
}

/// A batch on the writer thread. Should committing it panic, it is rolled back and its
/// commands hear that it failed, before the turn is let go.
struct Flushing(OwnedMutexGuard<Batch<Connection>>);

impl Flushing {
    fn commit(mut self, work: &Notify) {
        let batch = &mut *self.0;
        let outcome = batch
            .session
            .execute_batch("COMMIT")
            .map_err(StoreError::from);
        if outcome.is_err() {
            rollback_if_open(&mut batch.session);
        }
        batch.answer_commit(outcome, work);
    }
}

impl Drop for Flushing {
    fn drop(&mut self) {
        let batch = &mut *self.0;
        if batch.has_commands() || !batch.session.is_autocommit() {
            rollback_if_open(&mut batch.session);
            batch.fail("the commit of the batch did not finish".into());
        }
    }
}

pub(super) fn rollback_if_open(conn: &mut Connection) {
    // A BEGIN that failed, or a COMMIT that went through after all, leaves nothing to undo.
    if !conn.is_autocommit()
        && let Err(error) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(%error, "sqlite rollback failed");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rusqlite::Connection;
    use tokio::sync::Notify;

    use super::SqliteFlush;
    use crate::store::sqlite::writer::Writer;

    #[tokio::test]
    async fn settling_fails_when_a_batch_failed_since_the_mark() {
        let conn = Connection::open_in_memory().expect("open");
        let writer = Arc::new(Writer::start().expect("writer"));
        let gate = SqliteFlush::gate(conn, writer, Arc::new(Notify::new()));
        let mark = gate.failed_batches();
        gate.settled(mark).await.expect("nothing failed");

        let mut turn = gate.turn().await;
        turn.begin_command().expect("begin");
        let ack = turn.commit_command(false).expect("released");
        turn.batch().fail("lost".into());
        drop(turn);
        assert!(ack.await.expect("answered").is_err());

        assert!(gate.settled(mark).await.is_err(), "a batch failed since");
        gate.settled(gate.failed_batches())
            .await
            .expect("none failed since the new mark");
    }
}
