//! The actix-web application. [`create_app`] builds it from shared state so that `serve`
//! and the integration tests run exactly the same app.
//!
//! Health endpoints answer without authentication: `/healthz` says the process is up,
//! `/readyz` that the store answers and is migrated (503 with `Retry-After` otherwise, so
//! a load balancer takes the node out while its database is away). Everything else needs
//! an account ([`auth::Authenticated`]) and answers errors through [`errors::ApiError`].

pub mod auth;
pub mod body;
pub mod budget;
pub mod client_addr;
pub mod errors;
pub mod gate;
pub mod observe;
pub mod soap;
pub mod tls;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, web};
use serde_json::json;

use crate::auth::Accounts;
use crate::engine::{Engine, EngineError};
use crate::networks::NetworkList;

/// Largest request body accepted by default (SharePoint item payloads exceed WCF's 64 KB).
pub const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;

/// How long a request body may take to arrive by default: 4 MiB at 70 KB/s.
pub const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Connections a node holds at once by default; more wait in the listen backlog, so a
/// flood of idle connections costs a bounded amount of memory (about 20 KiB each: 5,000
/// idle connections measured 94 MiB of RSS). High enough that a flood of idle strangers,
/// which the head timeout (5 s) cuts, does not lock out health checks and clients first.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// How long an idle keep-alive connection stays open by default.
pub const DEFAULT_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(5);

/// What every handler can reach.
pub struct AppState {
    pub engine: Arc<Engine>,
    pub accounts: Arc<Accounts>,
    /// Request bodies larger than this are refused with `413 limit_exceeded`.
    pub max_body: usize,
    /// A body not complete this long after its head is refused (slow-loris on bodies).
    pub body_timeout: std::time::Duration,
    /// What the SOAP reader accepts (its `max_body` follows [`AppState::max_body`]).
    pub soap_limits: crate::soap::Limits,
    /// Status of an answered one-way SOAP operation: 202 (default) or 200.
    pub one_way_status: u16,
    pub soap_services: Vec<Arc<dyn soap::SoapService>>,
    /// `[remote_events] instance_guid`: the path prefix of the kenaflow-style endpoints.
    pub remote_events_prefix: Option<String>,
    /// The node's budget for buffered request bodies (`[http] max_buffered`).
    pub body_budget: Arc<budget::BodyBudget>,
    /// The folder a deploy re-reads (`POST /api/v1/deploy`); `None`: deploys are refused.
    pub workflows_dir: Option<std::path::PathBuf>,
    /// `[remote_events] allow_from`: where the anonymous `a` variants may come from
    /// (empty: anywhere).
    pub remote_events_allow_from: NetworkList,
    /// `[http] trusted_proxies`: peers whose `Forwarded`/`X-Forwarded-For` are believed.
    pub trusted_proxies: NetworkList,
}

impl AppState {
    pub fn new(engine: Arc<Engine>, accounts: Arc<Accounts>) -> Self {
        // Installed before the first request so that nothing goes unrecorded.
        crate::metrics::handle();
        Self {
            soap_services: crate::services::soap_services(&crate::services::SoapSettings::default()),
            engine,
            accounts,
            max_body: DEFAULT_MAX_BODY,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            soap_limits: crate::soap::Limits::default(),
            one_way_status: 202,
            remote_events_prefix: None,
            workflows_dir: None,
            body_budget: Arc::new(budget::BodyBudget::new(budget::DEFAULT_MAX_BUFFERED)),
            remote_events_allow_from: NetworkList::default(),
            trusted_proxies: NetworkList::default(),
        }
    }

    /// Who sent `request` ([`client_addr`]): every allow-list and audit record asks here.
    pub fn client_ip(&self, request: &actix_web::HttpRequest) -> Option<std::net::IpAddr> {
        client_addr::client_ip(
            request.peer_addr().map(|address| address.ip()),
            request.headers(),
            &self.trusted_proxies,
        )
    }

    /// Sets the body cap of JSON and SOAP requests alike.
    pub fn with_max_body(mut self, max_body: usize) -> Self {
        self.max_body = max_body;
        self.soap_limits.max_body = max_body;
        self
    }

    pub fn with_body_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    pub fn with_max_buffered(mut self, max_buffered: usize) -> Self {
        self.body_budget = Arc::new(budget::BodyBudget::new(max_buffered));
        self
    }

    pub fn body_limits(&self) -> body::BodyLimits {
        body::BodyLimits {
            max: self.max_body,
            timeout: self.body_timeout,
            budget: Some(self.body_budget.clone()),
        }
    }
}

/// An endpoint served by the app, for the start-up listing and the OpenAPI check.
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub what: &'static str,
    /// Part of the JSON API and so of the OpenAPI document; SOAP services (described by
    /// their WSDL) and the admin pages are not.
    pub in_openapi: bool,
}

const fn endpoint(method: &'static str, path: &'static str, what: &'static str) -> Endpoint {
    Endpoint {
        method,
        path,
        what,
        in_openapi: true,
    }
}

const fn admin_page(path: &'static str, what: &'static str) -> Endpoint {
    Endpoint {
        method: "GET",
        path,
        what,
        in_openapi: false,
    }
}

const fn soap_endpoint(path: &'static str, what: &'static str) -> Endpoint {
    Endpoint {
        method: "POST",
        path,
        what,
        in_openapi: false,
    }
}

pub const ENDPOINTS: &[Endpoint] = &[
    endpoint("GET", "/healthz", "process is up"),
    endpoint("GET", "/readyz", "store reachable and migrated"),
    endpoint("GET", "/metrics", "Prometheus metrics"),
    admin_page("/admin", "admin pages (sign in with an admin account)"),
    endpoint(
        "GET",
        "/api/v1/openapi.json",
        "OpenAPI 3 document of this API",
    ),
    endpoint("GET", "/api/v1/workflows", "workflows you may use"),
    endpoint(
        "GET",
        "/api/v1/workflows/{id}",
        "one workflow: fields, steps",
    ),
    endpoint(
        "POST",
        "/api/v1/workflows/{id}/instances",
        "start an instance",
    ),
    endpoint(
        "GET",
        "/api/v1/instances/{id}",
        "an instance and its open waits",
    ),
    endpoint("GET", "/api/v1/instances/{id}/history", "its audit trail"),
    endpoint("POST", "/api/v1/instances/{id}/cancel", "cancel it"),
    endpoint("GET", "/api/v1/waits", "what is waiting for what"),
    endpoint("GET", "/api/v1/server-items/{serial}", "open a server item"),
    endpoint(
        "POST",
        "/api/v1/server-items/{serial}",
        "open a server item",
    ),
    endpoint("POST", "/api/v1/server-items/{serial}/finish", "finish it"),
    endpoint("POST", "/api/v1/server-items/{serial}/fail", "fail it"),
    endpoint(
        "POST",
        "/api/v1/server-items/{serial}/extend",
        "push its deadline",
    ),
    endpoint("POST", "/api/v1/events/{name}", "send a custom event"),
    endpoint(
        "GET",
        "/api/v1/inbound-events",
        "inbound queue, dead letters",
    ),
    endpoint(
        "POST",
        "/api/v1/inbound-events/{id}/retry",
        "requeue a dead letter",
    ),
    endpoint(
        "POST",
        "/api/v1/deploy",
        "re-read the workflows folder (admins)",
    ),
    endpoint(
        "GET",
        "/api/v1/workflows/{id}/versions",
        "stored definition versions (admins)",
    ),
    endpoint(
        "POST",
        "/api/v1/workflows/{id}/migrate",
        "migrate live instances to a version (admins)",
    ),
    endpoint(
        "GET",
        "/api/workflow/v1/serverEvents/{serialNumber}",
        "K2: open a server event",
    ),
    endpoint(
        "POST",
        "/api/workflow/v1/serverEvents/{serialNumber}/finish",
        "K2: finish a server event",
    ),
    soap_endpoint(
        "/soap/server-items",
        "SOAP 1.1/1.2 ServerItemService (WSDL: ?wsdl)",
    ),
    soap_endpoint(
        "/sharepoint/RemoteEventService.svc",
        "SharePoint remote event receiver: the URL to register ([sharepoint] paths)",
    ),
    soap_endpoint(
        "/vmware-vmo-webcontrol/webservice",
        "Orchestrator VSOWebControl, SOAP 1.1 (WSDL: ?wsdl)",
    ),
    soap_endpoint(
        "/vco/vmware-vmo-webcontrol/webservice",
        "the same, at vRO's later path",
    ),
];

pub fn create_app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let soap_services = state.soap_services.clone();
    let remote_events_prefix = state.remote_events_prefix.clone();
    App::new()
        .app_data(state)
        .app_data(web::QueryConfig::default().error_handler(errors::query_error))
        .wrap(actix_web::middleware::from_fn(observe::observe))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .configure(crate::services::api::configure)
        .configure(crate::services::admin::configure)
        .configure(crate::services::server_items::configure_rest)
        .configure(|config| soap::configure(config, &soap_services))
        .configure(|config| {
            crate::services::remote_events::configure(config, remote_events_prefix.as_deref())
        })
        .default_service(web::to(errors::no_route))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "up"}))
}

/// The store answers and is migrated.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200),
    (status = 503, body = errors::ApiError, description = "store_unavailable"),
))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, errors::ApiError> {
    match state.engine.store().ping().await {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({"status": "ready"}))),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            Err(EngineError::from(error).into())
        }
    }
}

/// Prometheus metrics, text format 0.0.4 (no authentication, like the health checks; labels carry no
/// business data). Store gauges are read at scrape time; without a store they are left
/// as they were and the rest is still served.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let stats = match state.engine.stats().await {
        Ok(stats) => Some(stats),
        Err(error) => {
            tracing::warn!(%error, "metrics: store gauges not refreshed");
            None
        }
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render(
            stats.as_ref(),
            state.engine.now_ms(),
        ))
}
