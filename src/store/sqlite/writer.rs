//! The thread that commits for the embedded store.
//!
//! What blocks runs here, never on a runtime worker: opening the database with its
//! migrations, and every `COMMIT`, which with `synchronous = FULL` waits for the disk
//! (fsync). A command's other statements run on its own task, against the connection its
//! turn holds: they work in SQLite's page cache (the WAL is written at `COMMIT`), a few
//! microseconds each, with at most a `read` of a page the OS has cached. They ran here
//! too at first, one job per statement, and callback throughput fell by about 40 %: a
//! hop to a thread and back costs tens of microseconds on this kind of virtual machine, a
//! K2 finish made about seven, and each lengthened the time the single writer's turn is
//! held (`benches/callbacks.sh`, BENCHMARKS.md, 2026-12-05). The hop left, for `COMMIT`,
//! is paid once per batch of commands ([`super::batch`]), not once per command.
//!
//! A job may own the connection's turn (a batch being committed), so a job is never
//! dropped unrun: should the thread be gone, it runs on the caller's thread instead.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::store::StoreError;

/// Work for the thread; it answers through a channel it carries.
pub(super) type Job = Box<dyn FnOnce() + Send>;

pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the thread, which serves jobs until the writer is dropped.
    pub(super) fn start() -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("holdpoint-sqlite".into())
            .spawn(move || {
                for job in queue {
                    // A job that panics loses its answer (its caller gets an error); the
                    // connection guard it owned is released as it unwinds.
                    if panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                        tracing::error!("a sqlite job panicked");
                    }
                }
            })
            .map_err(|error| {
                StoreError::Unavailable(format!("cannot start sqlite thread: {error}"))
            })?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Runs `job` on the thread and returns its result. Should the thread be gone, the
    /// job runs here instead: it may own the connection's turn, which must not be lost.
    pub(super) async fn run<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(job());
        });
        self.send(job);
        result.await.map_err(|_| stopped())?
    }

    /// Queues `job` for the thread without waiting for it. Should the thread be gone, the
    /// job runs here instead: it may own the connection's turn, which must not be lost.
    pub(super) fn send(&self, job: Job) {
        match &self.jobs {
            Some(jobs) => {
                if let Err(mpsc::SendError(job)) = jobs.send(job) {
                    job();
                }
            }
            None => job(),
        }
    }
}

impl Drop for Writer {
    /// Lets the thread finish the jobs queued so far (a commit releases the connection),
    /// so that the database file is closed once the store is gone.
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
