//! A real Holdpoint HTTP server on a loopback port, with a few accounts, for the
//! end-to-end API tests. Requests go over real HTTP with reqwest.

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{HttpServer, web};
use holdpoint::app::{AppState, create_app};
use holdpoint::auth::{Accounts, NewAccount};
use holdpoint::http::EdgeState;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::workflows::*;
use super::{TestEngine, TestStore, engine_with, test_config};

/// Body limit of the test server, small enough to test 413 cheaply.
pub const TEST_MAX_BODY: usize = 64 * 1024;

/// Accounts every test server has: (name, admin, rights). Passwords are `{name}-pw`.
const ACCOUNTS: &[(&str, bool, &[&str])] = &[
    ("root", true, &[]),
    ("erp", false, &[]),
    ("ops", false, &[]),
    ("sender", false, &["send_events"]),
];

pub struct ApiServer {
    pub base: String,
    pub te: TestEngine,
    pub accounts: Arc<Accounts>,
    client: reqwest::Client,
    handle: ServerHandle,
    pub store: TestStore,
}

/// An answer: status, headers, and the body as JSON (`Null` when empty).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The stable error code of an error answer.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
}

pub async fn api_server(store: TestStore) -> ApiServer {
    api_server_with_max_body(store, TEST_MAX_BODY).await
}

/// A test server with another body cap (the hostile-input tests use the default).
pub async fn api_server_with_max_body(store: TestStore, max_body: usize) -> ApiServer {
    api_server_with(store, &[], max_body).await
}

/// A test server whose engine also loads `extra` workflow definitions.
pub async fn api_server_with(store: TestStore, extra: &[&str], max_body: usize) -> ApiServer {
    api_server_custom(store, extra, max_body, None).await
}

/// A test server with extra workflows, body cap, SharePoint/Orchestrator settings.
pub async fn api_server_custom(
    store: TestStore,
    extra: &[&str],
    max_body: usize,
    settings: Option<holdpoint::config::SoapSettings>,
) -> ApiServer {
    api_server_tuned(store, extra, max_body, settings, test_config(), |_| {}).await
}

/// The most general test server: also the engine configuration, and `tune` to set the
/// rest of the app state (allow-lists, trusted proxies, …).
pub async fn api_server_tuned(
    store: TestStore,
    extra: &[&str],
    max_body: usize,
    settings: Option<holdpoint::config::SoapSettings>,
    config: holdpoint::engine::EngineConfig,
    tune: impl FnOnce(&mut AppState),
) -> ApiServer {
    let sources: Vec<&str> = ALL
        .iter()
        .copied()
        .chain([PERMITTED])
        .chain(extra.iter().copied())
        .collect();
    let te = engine_with(store.store.clone(), &sources, config).await;
    let accounts = Arc::new(Accounts::new(store.store.clone(), Duration::from_secs(60)));
    for (name, admin, rights) in ACCOUNTS {
        accounts
            .add(&NewAccount {
                name: name.to_string(),
                password: format!("{name}-pw"),
                admin: *admin,
                rights: rights.iter().map(|r| r.to_string()).collect(),
            })
            .await
            .expect("add test account");
    }
    let edge = EdgeState::new(te.engine.clone(), accounts.clone()).with_max_body(max_body);
    let mut state = AppState::from_edge(edge);
    if let Some(settings) = settings {
        state.soap_services = holdpoint::services::soap_services(&settings);
    }
    tune(&mut state);
    let state = web::Data::new(state);
    let server = HttpServer::new(move || create_app(state.clone()))
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .expect("bind a loopback port");
    let address = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    ApiServer {
        base: format!("http://{address}"),
        te,
        accounts,
        client: reqwest::Client::new(),
        handle,
        store,
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { handle.stop(false).await });
        }
    }
}

impl ApiServer {
    /// A request without credentials.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// `?key=…`: what a receiver path needs on a default install (the key is made now
    /// if there is none yet), as the URL registered in SharePoint carries it.
    pub async fn sharepoint_query(&self) -> String {
        let key = holdpoint::services::sharepoint::receiver_key::load_or_create(
            self.store.store.as_ref(),
        )
        .await
        .expect("receiver key");
        format!("?{}", key.query())
    }

    /// A request as `user` (password `{user}-pw`).
    pub fn as_user(&self, user: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.request(method, path)
            .basic_auth(user, Some(format!("{user}-pw")))
    }

    pub async fn get(&self, user: &str, path: &str) -> Answer {
        send(self.as_user(user, Method::GET, path)).await
    }

    pub async fn post(&self, user: &str, path: &str, body: Value) -> Answer {
        send(self.as_user(user, Method::POST, path).json(&body)).await
    }
}

/// Starts an instance of the `permitted` workflow (trusted caller) and returns the serial
/// of the server item it waits on.
pub async fn start_permitted(server: &ApiServer, order_id: &str) -> String {
    let outcome = server
        .te
        .engine
        .start(holdpoint::engine::StartRequest {
            workflow: "permitted".into(),
            fields: serde_json::from_value(serde_json::json!({"order_id": order_id}))
                .expect("fields"),
            folio: None,
            event: serde_json::json!({}),
            caller: holdpoint::engine::Caller::new("tester", "test"),
            idempotency_key: None,
        })
        .await
        .expect("start");
    outcome.instance.waits[0]
        .serial
        .clone()
        .expect("waiting on a server item")
}

pub async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("a body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "a JSON body, got {status}: {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// Stamps every API case out for the embedded store and for PostgreSQL.
#[macro_export]
macro_rules! api_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let store = $crate::support::sqlite_store().await;
                    let server = $crate::support::api::api_server(store).await;
                    super::cases::$case(&server).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(store) = $crate::support::postgres_store().await else { return };
                    let server = $crate::support::api::api_server(store).await;
                    super::cases::$case(&server).await;
                }
            )*
        }
    };
}
