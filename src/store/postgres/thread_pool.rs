//! Connections of a thread's own: each HTTP worker (a thread with its own event loop) keeps
//! `[store] worker_connections` connections for the requests it serves, driven by its loop.
//!
//! A `tokio-postgres` connection is two halves: the client a command holds, and the task
//! that drives the socket. A connection of the node's shared pool is driven on whichever
//! thread created it, so a command of one worker hands each statement to another thread
//! and is woken from there when the answer comes: two thread wake-ups per round trip, on
//! top of the socket's. On two cores shared with the database those context switches were
//! most of Holdpoint's CPU per callback (`perf`, BENCHMARKS.md). A worker's own connections
//! are created, and so driven, on its own thread: a round trip wakes nobody else. The
//! worker's commands share commits on lanes over some of them ([`super::batch`]).
//!
//! The shared pool still serves everything off the workers (runners, the node's lanes of
//! group commit, the readiness check, the store copy), and takes a worker's overflow: when
//! all of a worker's own connections are busy (behind a row lock, say), its next
//! transaction takes one of the pool's instead of waiting; a worker's lane waits for one of
//! the worker's own instead. A node opens at most `pool_size`
//! connections there, plus `worker_connections` on each worker that has needed them.
//!
//! The shared pool's connections are opened on the node's main runtime whichever thread
//! asks ([`DrivenOn::Runtime`]): one opened on a worker would be driven by the worker's
//! loop, and die with it when the workers stop at shutdown, under a runner still draining.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::{
    ConfigConnectImpl, Connect, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod,
    Runtime, TimeoutType, Timeouts,
};
use futures_util::future::BoxFuture;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

use super::super::StoreError;
use super::POOL_TIMEOUT;
use super::batch::Lanes;

/// Taking one of a thread's own connections: none free is an answer at once (the caller
/// then turns to the node's pool); creating or recycling one is bounded as in the pool.
const AT_ONCE: Timeouts = Timeouts {
    wait: Some(std::time::Duration::ZERO),
    create: Some(POOL_TIMEOUT),
    recycle: Some(POOL_TIMEOUT),
};

thread_local! {
    /// What this thread keeps of its own, per store that adopted it (tests open several).
    static OWN: RefCell<Vec<(StoreId, Own)>> = const { RefCell::new(Vec::new()) };
}

/// A thread's own connections, and the lanes its commands share commits on.
#[derive(Clone)]
pub(super) struct Own {
    pub pool: Pool,
    /// `[store] worker_lanes`; `None`: each command is a transaction of its own.
    pub lanes: Option<Arc<Lanes>>,
}

/// A transaction's connection: one of the thread's `own`, if it has a pool and one is free
/// at once, else one of the node's `shared` pool.
pub(super) async fn take(own: Option<&Pool>, shared: &Pool) -> Result<Object, StoreError> {
    let Some(own) = own else {
        return Ok(shared.get().await?);
    };
    match own.timeout_get(&AT_ONCE).await {
        Ok(client) => Ok(client),
        // Every one of the thread's own is busy (say, behind a row lock): the node's pool
        // takes the overflow rather than the thread's other requests waiting.
        Err(PoolError::Timeout(TimeoutType::Wait)) => Ok(shared.get().await?),
        Err(error) => Err(error.into()),
    }
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

/// Where a pool's connections are opened, and so driven: a socket belongs to the event
/// loop of the runtime it was opened on, and its driving task is spawned there.
pub(super) enum DrivenOn {
    /// The runtime of the task that needs a connection (a worker's own pool).
    ThisThread,
    /// One runtime for every caller (the node's shared pool).
    Runtime(Handle),
}

/// A pool of `size` connections to `config`, opened and driven as `driven_on` says.
pub(super) fn pool(
    config: &tokio_postgres::Config,
    size: usize,
    driven_on: DrivenOn,
) -> Result<Pool, StoreError> {
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match driven_on {
        DrivenOn::ThisThread => Manager::from_config(config.clone(), NoTls, manager_config),
        DrivenOn::Runtime(runtime) => {
            Manager::from_connect(config.clone(), OpenOn { runtime }, manager_config)
        }
    };
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_TIMEOUT))
        .create_timeout(Some(POOL_TIMEOUT))
        .recycle_timeout(Some(POOL_TIMEOUT))
        .build()
        .map_err(|error| StoreError::Other(format!("cannot build pool: {error}")))
}

/// Opens connections on one runtime, whichever thread asks (see [`DrivenOn::Runtime`]).
struct OpenOn {
    runtime: Handle,
}

type Opened = Result<(Client, JoinHandle<()>), tokio_postgres::Error>;

impl Connect for OpenOn {
    fn connect(&self, config: &tokio_postgres::Config) -> BoxFuture<'_, Opened> {
        let there = config.clone();
        let opening = self
            .runtime
            .spawn(async move { ConfigConnectImpl { tls: NoTls }.connect(&there).await });
        let here = config.clone();
        Box::pin(async move {
            match opening.await {
                Ok(opened) => opened,
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                // That runtime is shutting down: open the connection here instead, as the
                // pool would without this opener, rather than fail the caller.
                Err(_) => {
                    tracing::debug!("node runtime stopping; connection opened on this thread");
                    ConfigConnectImpl { tls: NoTls }.connect(&here).await
                }
            }
        })
    }
}

/// Gives this thread connections (and lanes) of its own for store `id`, unless it has them.
pub(super) fn adopt(id: StoreId, make: impl FnOnce() -> Result<Own, StoreError>) {
    OWN.with(|own| {
        let mut own = own.borrow_mut();
        if own.iter().any(|(owner, _)| *owner == id) {
            return;
        }
        match make() {
            Ok(made) => own.push((id, made)),
            // The thread then uses the shared pool, as it would without the setting.
            Err(error) => tracing::warn!(%error, "no connections of the worker's own"),
        }
    });
}

/// What this thread keeps of its own for store `id`, if it adopted any.
pub(super) fn of_this_thread(id: StoreId) -> Option<Own> {
    OWN.with(|own| {
        own.borrow()
            .iter()
            .find(|(owner, _)| *owner == id)
            .map(|(_, own)| own.clone())
    })
}
