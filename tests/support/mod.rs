//! Shared test support: stores for both backends, engines on a manual clock, inline
//! workflow definitions, and a real local HTTP server for outbound calls.
#![allow(dead_code)]

pub mod api;
pub mod browser;
pub mod pg;
pub mod process;
pub mod proxy;
pub mod workflows;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use holdpoint::engine::clock::ManualClock;
use holdpoint::engine::definition::{Workflows, compile};
use holdpoint::engine::{Caller, Engine, EngineConfig, InstanceView, StartRequest};
use holdpoint::store::{Connections, Store, StoreTarget};

/// A store under test and what keeps it alive.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub target: StoreTarget,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite_store() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = StoreTarget::Sqlite {
        path: dir.path().join("holdpoint.db"),
    };
    let store = holdpoint::store::open(&target)
        .await
        .expect("open sqlite store");
    TestStore {
        store,
        target,
        _dir: Some(dir),
    }
}

/// `None` when PostgreSQL is not available here (the test then returns early; under
/// `CI=true` it panics instead).
pub async fn postgres_store() -> Option<TestStore> {
    postgres_store_with_lanes(0).await
}

/// [`postgres_store`] whose commands share commits on `lanes` connections.
pub async fn postgres_store_with_lanes(lanes: usize) -> Option<TestStore> {
    postgres_store_configured(Connections {
        group_commit_lanes: lanes,
        ..Connections::ONE
    })
    .await
}

/// [`postgres_store`] whose transactions begun on the calling thread use `connections`
/// of its own, as on an HTTP worker (`Store::serve_on_this_thread`), and whose commands
/// there share commits on `lanes` of them.
pub async fn postgres_store_on_this_thread(connections: usize, lanes: usize) -> Option<TestStore> {
    let store = postgres_store_configured(Connections {
        worker_connections: connections,
        worker_lanes: lanes,
        ..Connections::ONE
    })
    .await?;
    store.store.serve_on_this_thread();
    Some(store)
}

async fn postgres_store_configured(connections: Connections) -> Option<TestStore> {
    let url = pg::fresh_database().await?;
    let target = StoreTarget::Postgres {
        url,
        connections: Connections {
            pool_size: 8,
            ..connections
        },
    };
    let store = holdpoint::store::open(&target)
        .await
        .expect("open postgres store");
    Some(TestStore {
        store,
        target,
        _dir: None,
    })
}

impl TestStore {
    /// A second, independent store (own pool) on the same database: another node.
    pub async fn another_node(&self) -> Arc<dyn Store> {
        holdpoint::store::open(&self.target)
            .await
            .expect("open second store")
    }
}

/// Wall-clock-like start so that RFC 3339 renderings look sensible.
pub const T0: i64 = 1_800_000_000_000;

pub fn test_config() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.outbox.backoff_initial = Duration::from_secs(1);
    config.outbox.backoff_max = Duration::from_secs(60);
    config.outbox.request_timeout = Duration::from_secs(5);
    config.outbox.lease = Duration::from_secs(30);
    config
}

pub fn workflows(sources: &[&str]) -> Arc<Workflows> {
    let list = sources
        .iter()
        .enumerate()
        .map(|(index, source)| {
            compile(Path::new(&format!("test-{index}.toml")), source.as_bytes())
                .unwrap_or_else(|errors| panic!("bad test workflow: {errors:?}"))
        })
        .collect();
    Arc::new(Workflows::from_list(list))
}

pub struct TestEngine {
    pub engine: Arc<Engine>,
    pub clock: ManualClock,
}

pub async fn engine(store: &TestStore, sources: &[&str]) -> TestEngine {
    engine_with(store.store.clone(), sources, test_config()).await
}

pub async fn engine_with(
    store: Arc<dyn Store>,
    sources: &[&str],
    config: EngineConfig,
) -> TestEngine {
    let clock = ManualClock::new(T0);
    let engine = Engine::new(store, workflows(sources), config, Arc::new(clock.clone()))
        .await
        .expect("engine");
    TestEngine {
        engine: Arc::new(engine),
        clock,
    }
}

pub fn caller() -> Caller {
    Caller::new("tester", "test")
}

/// Starts an instance of `workflow` with `fields` (a JSON object) as the test caller.
pub async fn start(te: &TestEngine, workflow: &str, fields: serde_json::Value) -> InstanceView {
    let fields = serde_json::from_value(fields).expect("fields object");
    let request = StartRequest {
        workflow: workflow.into(),
        fields,
        folio: None,
        event: serde_json::json!({}),
        caller: caller(),
        idempotency_key: None,
    };
    te.engine.start(request).await.expect("start").instance
}

pub fn props(pairs: &[(&str, serde_json::Value)]) -> serde_json::Map<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.clone()))
        .collect()
}

/// A real HTTP server on loopback whose answers follow a script: the n-th request (from 0)
/// gets `script(n)` as (status, JSON body). Records the bodies it received.
pub struct ScriptedServer {
    pub url: String,
    pub hits: Arc<AtomicUsize>,
    pub bodies: Arc<std::sync::Mutex<Vec<String>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

pub async fn scripted_server(script: fn(usize) -> (u16, &'static str)) -> ScriptedServer {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let hits = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (server_hits, server_bodies) = (hits.clone(), bodies.clone());
    let server = HttpServer::new(move || {
        let hits = server_hits.clone();
        let bodies = server_bodies.clone();
        App::new().default_service(web::to(move |body: String| {
            let hits = hits.clone();
            let bodies = bodies.clone();
            async move {
                let n = hits.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut seen) = bodies.lock() {
                    seen.push(body);
                }
                let (status, answer) = script(n);
                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
                    .content_type("application/json")
                    .body(answer)
            }
        }))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("bind test server");
    let address = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    ScriptedServer {
        url: format!("http://{address}"),
        hits,
        bodies,
        handle,
    }
}

/// Stamps each named case (an `async fn(TestStore)` in `cases`) as one test per backend:
/// SQLite, PostgreSQL, PostgreSQL on a thread's own connections (an HTTP worker's), and
/// PostgreSQL with group commit on two lanes.
#[macro_export]
macro_rules! store_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let store = $crate::support::sqlite_store().await;
                    super::cases::$case(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(store) = $crate::support::postgres_store().await else { return };
                    super::cases::$case(store).await;
                }
            )*
        }
        mod postgres_worker_connections {
            $(
                // One thread with its own event loop, connections and lane, as an HTTP
                // worker by default.
                #[tokio::test(flavor = "current_thread")]
                async fn $case() {
                    let Some(store) = $crate::support::postgres_store_on_this_thread(4, 1).await
                    else {
                        return;
                    };
                    super::cases::$case(store).await;
                }
            )*
        }
        mod postgres_lanes {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(store) = $crate::support::postgres_store_with_lanes(2).await else {
                        return;
                    };
                    super::cases::$case(store).await;
                }
            )*
        }
    };
}

/// A file of `../shared` (beside the clone), read at run time and never copied into the
/// repository. `None` (the test then returns early, loudly) when it is absent; under
/// `CI=true` that is a failure instead.
pub fn shared_file(relative: &str) -> Option<std::path::PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(relative);
    if path.exists() {
        return Some(path);
    }
    let hint = format!("{} is expected (shared/ beside the clone)", path.display());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{hint}");
    }
    eprintln!("\n*** SKIPPED: {hint} ***\n");
    None
}
