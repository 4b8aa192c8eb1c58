//! The thread that owns the embedded store's connection.
//!
//! Every SQLite call of the server (opening, migrations, each statement, `COMMIT` with its
//! fsync) runs here, never on a runtime worker: the async side sends a [`Job`] and awaits
//! its answer on a oneshot channel, a round trip of microseconds. Jobs run one at a time,
//! in the order they were sent; a transaction's statements are ordered by that, and
//! `SqliteStore` hands the connection to one transaction at a time (see `SqliteConn`).
//!
//! Group commit would fit here without changing the async side: instead of one
//! `BEGIN IMMEDIATE … COMMIT` per transaction, the thread would keep one outer transaction
//! open, run each command's statements inside a `SAVEPOINT` (rolling back to it when the
//! command fails or is abandoned, releasing it when the command commits), and hold the
//! commands' `commit` answers until the outer `COMMIT` (one fsync for the batch) returns,
//! when there is no more work queued or after a short bound. Acknowledgements would still
//! follow durability, since each `commit` future only resolves after the outer `COMMIT`.

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::store::StoreError;

/// Work for the connection; it answers through a channel it carries.
pub(super) type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Statements kept prepared on the connection (every statement of the store, and the
/// listing shapes in use).
const STATEMENT_CACHE: usize = 128;

pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the thread, which opens the database with `open` and then serves jobs until
    /// the writer is dropped.
    pub(super) async fn start(
        path: PathBuf,
        open: fn(&std::path::Path) -> Result<Connection, StoreError>,
    ) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (opened, ready) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("holdpoint-sqlite".into())
            .spawn(move || {
                let mut conn = match open(&path) {
                    Ok(conn) => conn,
                    Err(error) => {
                        let _ = opened.send(Err(error));
                        return;
                    }
                };
                conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                let _ = opened.send(Ok(()));
                for job in queue {
                    // A job that panics loses its answer (its caller gets an error and
                    // drops the transaction, which rolls back); the thread serves on.
                    let outcome = panic::catch_unwind(AssertUnwindSafe(|| job(&mut conn)));
                    if outcome.is_err() {
                        tracing::error!("a sqlite job panicked");
                    }
                }
            })
            .map_err(|error| {
                StoreError::Unavailable(format!("cannot start sqlite thread: {error}"))
            })?;
        let writer = Self {
            jobs: Some(jobs),
            thread: Some(thread),
        };
        ready.await.map_err(|_| stopped())??;
        Ok(writer)
    }

    /// Runs `job` on the connection and returns its result.
    pub(super) async fn run<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, result) = oneshot::channel();
        self.send(Box::new(move |conn| {
            let _ = answer.send(job(conn));
        }))?;
        result.await.map_err(|_| stopped())?
    }

    /// Queues `job` without waiting for it (a rollback on drop).
    pub(super) fn send(&self, job: Job) -> Result<(), StoreError> {
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        jobs.send(job).map_err(|_| stopped())
    }
}

impl Drop for Writer {
    /// Lets the thread finish the jobs queued so far and close the connection, so that
    /// the database file is released when the store is gone.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
            && thread.join().is_err()
        {
            tracing::error!("the sqlite thread panicked");
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the sqlite thread did not answer".into())
}
