//! Production store on PostgreSQL (tokio-postgres + deadpool-postgres).
//!
//! Several nodes may share one database. Instances are locked with `FOR UPDATE`; due waits
//! and outbox rows are claimed with `FOR UPDATE SKIP LOCKED`, so runners on different nodes
//! never block each other or take the same row. A transaction that produced runner work
//! issues `NOTIFY holdpoint_work`, delivered at commit to every node's listener connection;
//! runners poll as well, so a lost notification only costs latency.
//!
//! The statements themselves are the shared SQL layer's ([`super::sql`]); [`conn`] runs
//! them on a pooled connection, pipelining the writes nobody reads ([`pipeline`]).
//!
//! Migrations run at start under a session advisory lock, so nodes may start together.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool};
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::group_commit::settled_since;
use super::sql::SqlTx;
use super::{Backend, Connections, Store, StoreError, Tx};

mod batch;
mod conn;
mod pipeline;
mod thread_pool;

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// Key of the advisory lock held while migrating ("holdpoint" in ASCII, truncated).
const MIGRATION_LOCK: i64 = 0x686f_6c64_706f_696e;
const WORK_CHANNEL: &str = "holdpoint_work";
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PostgresStore {
    pool: Pool,
    /// For the pools of the threads that serve requests ([`thread_pool`]).
    config: tokio_postgres::Config,
    id: thread_pool::StoreId,
    /// Connections of each such thread's own; 0: they use `pool`.
    worker_connections: usize,
    /// Lanes of each such thread's own, over its own connections ([`batch`]).
    worker_lanes: usize,
    /// Where the engine's commands run off those threads, committed in batches; `None`:
    /// each command is a transaction of its own.
    lanes: Option<batch::Lanes>,
    /// Failed batches of every lane, the node's and the workers'.
    failed_batches: Arc<AtomicU64>,
    work: Arc<Notify>,
    listener: AbortHandle,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PostgresStore {
    /// Connects, migrates under the advisory lock, and starts the LISTEN connection.
    /// With `worker_connections` > 0, each thread that serves requests keeps that many
    /// connections of its own ([`thread_pool`]), and its commands share commits on
    /// `worker_lanes` of them ([`batch`]); with `group_commit_lanes` > 0, commands
    /// elsewhere share commits on that many connections of the pool.
    pub async fn connect(url: &str, connections: Connections) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|error| StoreError::Other(format!("invalid database url: {error}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(POOL_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("holdpoint");
        }
        migrate(&config, &connections).await?;
        // Runners and the listener run on this runtime; the pool's connections are driven
        // here too, whichever thread opened them.
        let driven_on = thread_pool::DrivenOn::Runtime(tokio::runtime::Handle::current());
        let pool = thread_pool::pool(&config, connections.pool_size, driven_on)?;
        let work = Arc::new(Notify::new());
        let listener = tokio::spawn(listen_forever(config.clone(), work.clone())).abort_handle();
        let failed_batches = Arc::new(AtomicU64::new(0));
        let lanes = (connections.group_commit_lanes > 0)
            .then(|| batch::Lanes::new(connections.group_commit_lanes, &work, &failed_batches));
        Ok(Self {
            pool,
            config,
            id: thread_pool::StoreId::next(),
            worker_connections: connections.worker_connections,
            worker_lanes: connections.worker_lanes,
            lanes,
            failed_batches,
            work,
            listener,
        })
    }

    /// A transaction on this thread's own connections if it has them (`own`), else on the
    /// node's pool.
    async fn begin_on(&self, own: Option<&thread_pool::Own>) -> Result<Box<dyn Tx>, StoreError> {
        let client = thread_pool::take(own.map(|own| &own.pool), &self.pool).await?;
        let conn = conn::PgConn::begin(client, self.work.clone());
        Ok(Box::new(SqlTx::new(conn)))
    }

    /// A connection of the pool, for work outside the [`Tx`] methods (the store copy).
    pub(super) async fn client(&self) -> Result<Object, StoreError> {
        Ok(self.pool.get().await?)
    }
}

async fn migrate(
    config: &tokio_postgres::Config,
    connections: &Connections,
) -> Result<(), StoreError> {
    let (mut client, connection) = config.connect(NoTls).await?;
    let driver = tokio::spawn(connection);
    check_sessions(&client, connections).await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let outcome = embedded::migrations::runner().run_async(&mut client).await;
    // Closing the session releases the lock too; unlock explicitly for clarity.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    drop(client);
    let _ = driver.await;
    outcome?;
    Ok(())
}

/// Refuses a node that may open more sessions than the server accepts from ordinary
/// users: it would start, then fail with "too many clients" under load, when its pools
/// grow. Sessions of other nodes and clients vary, so only the node's own need is checked.
async fn check_sessions(client: &Client, connections: &Connections) -> Result<(), StoreError> {
    let row = client.query_one(SESSION_LIMITS, &[]).await?;
    let (max, reserved): (i32, i32) = (row.try_get(0)?, row.try_get(1)?);
    let allowed = usize::try_from(max.saturating_sub(reserved)).unwrap_or(0);
    let need = connections.sessions();
    if need <= allowed {
        return Ok(());
    }
    Err(StoreError::Other(format!(
        "this node may open {need} PostgreSQL sessions ([store] pool_size {}, 1 to listen, \
         [http] workers {} × [store] worker_connections {}) but the server accepts {allowed} \
         (max_connections {max} less {reserved} reserved): lower those settings or raise \
         max_connections",
        connections.pool_size, connections.workers, connections.worker_connections,
    )))
}

/// The server's `max_connections`, and how many of them ordinary users cannot take
/// (`reserved_connections` exists from PostgreSQL 16 on).
const SESSION_LIMITS: &str = "SELECT current_setting('max_connections')::int, \
     current_setting('superuser_reserved_connections')::int \
     + COALESCE(current_setting('reserved_connections', true)::int, 0)";

/// Keeps one connection LISTENing and turns notifications into wake-ups; reconnects with
/// a pause when the database goes away.
async fn listen_forever(config: tokio_postgres::Config, work: Arc<Notify>) {
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                // The connection future delivers notifications; drive it in its own task
                // and keep the client alive until the connection ends.
                let signal = work.clone();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(AsyncMessage::Notification(_)) => signal.notify_waiters(),
                            Ok(_) => {}
                            Err(error) => {
                                tracing::warn!(%error, "listen connection lost");
                                break;
                            }
                        }
                    }
                });
                let listen = format!("LISTEN {WORK_CHANNEL}");
                match client.batch_execute(&listen).await {
                    Ok(()) => {
                        let _ = driver.await;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "listen failed");
                        driver.abort();
                    }
                }
                drop(client);
            }
            Err(error) => tracing::debug!(%error, "listen connection failed"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn serve_on_this_thread(&self) {
        if self.worker_connections == 0 {
            return;
        }
        thread_pool::adopt(self.id, || {
            let driven_on = thread_pool::DrivenOn::ThisThread;
            let pool = thread_pool::pool(&self.config, self.worker_connections, driven_on)?;
            let lanes = (self.worker_lanes > 0).then(|| {
                Arc::new(batch::Lanes::new(
                    self.worker_lanes,
                    &self.work,
                    &self.failed_batches,
                ))
            });
            Ok(thread_pool::Own { pool, lanes })
        });
    }

    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        self.begin_on(thread_pool::of_this_thread(self.id).as_ref())
            .await
    }

    async fn begin_command(&self) -> Result<Box<dyn Tx>, StoreError> {
        let own = thread_pool::of_this_thread(self.id);
        // A worker's lanes keep connections of its own (waiting for one, never taking the
        // node's for good); the node's lanes, of the shared pool.
        let (lanes, pool) = match &own {
            Some(thread_pool::Own {
                pool,
                lanes: Some(lanes),
            }) => (&**lanes, pool),
            _ => match &self.lanes {
                Some(lanes) => (lanes, &self.pool),
                None => return self.begin_on(own.as_ref()).await,
            },
        };
        let turn = lanes.turn().await;
        let conn = conn::PgConn::begin_batched(turn, pool, self.work.clone()).await?;
        Ok(Box::new(SqlTx::new(conn)))
    }

    fn settle_mark(&self) -> u64 {
        self.failed_batches.load(Ordering::SeqCst)
    }

    async fn settled(&self, mark: u64) -> Result<(), StoreError> {
        // A command's own batch is on its thread's lanes or on the node's.
        if let Some(lanes) = thread_pool::of_this_thread(self.id).and_then(|own| own.lanes) {
            lanes.settle().await?;
        }
        if let Some(lanes) = &self.lanes {
            lanes.settle().await?;
        }
        settled_since(&self.failed_batches, mark)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .query_one("SELECT count(*) FROM settings", &[])
            .await?;
        Ok(())
    }

    fn work_signal(&self) -> Arc<Notify> {
        self.work.clone()
    }
}
