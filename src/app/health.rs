//! Health, readiness and metrics: the routes a load balancer and Prometheus use, all
//! without authentication. `/healthz` says the process is up, `/readyz` that the store
//! answers and is migrated (503 with `Retry-After` otherwise, so a load balancer takes
//! the node out while its database is away), `/metrics` the Prometheus text format.

use actix_web::{HttpResponse, web};
use serde_json::json;
use utoipa::OpenApi;

use crate::engine::EngineError;
use crate::http::EdgeState;
use crate::http::errors::ApiError;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// The health routes' part of the OpenAPI document ([`super::openapi`]).
#[derive(OpenApi)]
#[openapi(paths(healthz, readyz, metrics))]
pub struct HealthDoc;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "up"}))
}

/// The store answers and is migrated.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200),
    (status = 503, body = ApiError, description = "store_unavailable"),
))]
pub async fn readyz(state: web::Data<EdgeState>) -> Result<HttpResponse, ApiError> {
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
pub async fn metrics(state: web::Data<EdgeState>) -> HttpResponse {
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
