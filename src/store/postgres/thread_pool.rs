//! Connections of a thread's own: each HTTP worker (a thread with its own event loop) keeps
//! `[store] worker_connections` connections for the requests it serves, driven by its loop.
//!
//! A `tokio-postgres` connection is two halves: the client a command holds, and the task
//! that drives the socket. A connection of the node's shared pool is driven on whichever
//! thread created it, so a command of one worker hands each statement to another thread
//! and is woken from there when the answer comes: two thread wake-ups per round trip, on
//! top of the socket's. On two cores shared with the database those context switches were
//! most of Holdpoint's CPU per callback (`perf`, BENCHMARKS.md). A worker's own connections
//! are created, and so driven, on its own thread: a round trip wakes nobody else.
//!
//! The shared pool still serves everything off the workers (runners, lanes of group
//! commit, the readiness check, the store copy), and takes a worker's overflow: when all of
//! a worker's own connections are busy (behind a row lock, say), its next transaction
//! takes one of the pool's instead of waiting. A node opens at most `pool_size`
//! connections there, plus `worker_connections` on each worker that has needed them.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::NoTls;

use super::super::StoreError;
use super::POOL_TIMEOUT;

/// Taking one of a thread's own connections: none free is an answer at once (the caller
/// then turns to the node's pool); creating or recycling one is bounded as in the pool.
pub(super) const AT_ONCE: Timeouts = Timeouts {
    wait: Some(std::time::Duration::ZERO),
    create: Some(POOL_TIMEOUT),
    recycle: Some(POOL_TIMEOUT),
};

thread_local! {
    /// The pools of this thread, one per store that adopted it (tests open several stores).
    static POOLS: RefCell<Vec<(StoreId, Pool)>> = const { RefCell::new(Vec::new()) };
}

/// Tells one store's pools from another's on a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StoreId(u64);

impl StoreId {
    pub(super) fn next() -> StoreId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        StoreId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A pool of `size` connections to `config`, handing out connections created by the
/// caller's task (so driven on the caller's runtime).
pub(super) fn pool(config: &tokio_postgres::Config, size: usize) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        config.clone(),
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_TIMEOUT))
        .create_timeout(Some(POOL_TIMEOUT))
        .recycle_timeout(Some(POOL_TIMEOUT))
        .build()
        .map_err(|error| StoreError::Other(format!("cannot build pool: {error}")))
}

/// Gives this thread a pool of its own for store `id` (nothing if it has one).
pub(super) fn adopt(id: StoreId, make: impl FnOnce() -> Result<Pool, StoreError>) {
    POOLS.with(|pools| {
        let mut pools = pools.borrow_mut();
        if pools.iter().any(|(owner, _)| *owner == id) {
            return;
        }
        match make() {
            Ok(pool) => pools.push((id, pool)),
            // The thread then uses the shared pool, as it would without the setting.
            Err(error) => tracing::warn!(%error, "no connections of the worker's own"),
        }
    });
}

/// This thread's pool for store `id`, if it adopted one.
pub(super) fn of_this_thread(id: StoreId) -> Option<Pool> {
    POOLS.with(|pools| {
        pools
            .borrow()
            .iter()
            .find(|(owner, _)| *owner == id)
            .map(|(_, pool)| pool.clone())
    })
}
