//! The actix-web application. [`create_app`] builds it from shared state so that `serve`
//! and the integration tests run exactly the same app.
//!
//! Health endpoints answer without authentication: `/healthz` says the process is up,
//! `/readyz` that the store answers and is migrated (503 with `Retry-After` otherwise, so
//! a load balancer takes the node out while its database is away).

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpResponse, web};
use serde_json::json;

use crate::engine::{Engine, EngineError};

/// What every handler can reach.
pub struct AppState {
    pub engine: Arc<Engine>,
}

/// An endpoint served by the app, for the start-up listing.
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub what: &'static str,
}

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "GET",
        path: "/healthz",
        what: "process is up",
    },
    Endpoint {
        method: "GET",
        path: "/readyz",
        what: "store reachable and migrated",
    },
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
    App::new()
        .app_data(state)
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "up"}))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.engine.store().ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            let error = EngineError::from(error);
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .json(json!({"code": error.code().as_str(), "message": error.to_string()}))
        }
    }
}
