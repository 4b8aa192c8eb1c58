//! The native JSON API under `/api/v1` (DESIGN §6 "Native API"): every engine command over
//! HTTP with Basic authentication. Requests and answers are JSON; errors are
//! `{"code", "message"}` with the status of DESIGN §5. `Idempotency-Key` is honoured on
//! start and finish. [`ApiDoc`] documents these handlers from their annotations; the app
//! serves it, merged with the other parts, at `/api/v1/openapi.json`.

mod catalog;
mod events;
mod inbound;
mod instances;
mod items;
mod versions;

use std::path::PathBuf;

use actix_web::middleware::from_fn;
use actix_web::web;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::auth::Authenticated;
use crate::http::errors::ApiError;
use crate::http::gate::before_body;
use crate::services::deploy::WorkflowsFolder;

pub use items::{ExtendBody, FailBody, FinishBody};

/// The dialect recorded in history for calls through this API.
pub const DIALECT: &str = "api";

/// Mounts the API; `workflows_dir` is the folder a deploy re-reads. Every route checks
/// credentials before the body (the public OpenAPI document is mounted by the app).
pub fn configure(config: &mut web::ServiceConfig, workflows_dir: Option<PathBuf>) {
    config.app_data(web::Data::new(WorkflowsFolder(workflows_dir)));
    // One route a line: a table reads better than rustfmt's wrapped calls.
    #[rustfmt::skip]
    let scope = web::scope("/api/v1")
        .wrap(from_fn(before_body::<Authenticated>))
        .route("/workflows", web::get().to(catalog::list_workflows))
        .route("/workflows/{id}", web::get().to(catalog::get_workflow))
        .route("/workflows/{id}/versions", web::get().to(versions::list))
        .route("/workflows/{id}/migrate", web::post().to(versions::migrate))
        .route("/deploy", web::post().to(versions::deploy))
        .route("/workflows/{id}/instances", web::post().to(instances::start))
        .route("/instances/{id}", web::get().to(instances::get))
        .route("/instances/{id}/history", web::get().to(instances::history))
        .route("/instances/{id}/cancel", web::post().to(instances::cancel))
        .route("/waits", web::get().to(catalog::list_waits))
        .route("/server-items/{serial}", web::get().to(items::open))
        .route("/server-items/{serial}", web::post().to(items::open_post))
        .route("/server-items/{serial}/finish", web::post().to(items::finish))
        .route("/server-items/{serial}/fail", web::post().to(items::fail))
        .route("/server-items/{serial}/extend", web::post().to(items::extend))
        .route("/events/{name}", web::post().to(events::send))
        .route("/inbound-events", web::get().to(inbound::list))
        .route("/inbound-events/{id}/retry", web::post().to(inbound::retry));
    config.service(scope);
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Holdpoint",
        description = "Native JSON API and K2-compatible REST of the Holdpoint wait engine. \
                       Every endpoint but the health checks needs HTTP Basic credentials."
    ),
    paths(
        catalog::list_workflows,
        catalog::get_workflow,
        instances::start,
        instances::get,
        instances::history,
        instances::cancel,
        catalog::list_waits,
        items::open,
        items::open_post,
        items::finish,
        items::fail,
        items::extend,
        events::send,
        inbound::list,
        inbound::retry,
        versions::deploy,
        versions::list,
        versions::migrate,
    ),
    modifiers(&BasicAuth),
    security(("basic" = []))
)]
pub struct ApiDoc;

struct BasicAuth;

impl Modify for BasicAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
    }
}

/// An instance id from the path; anything but a positive integer is unknown.
pub(crate) fn instance_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            ApiError::new(
                crate::error::ErrorCode::UnknownInstance,
                format!("unknown instance `{text}`"),
            )
        })
}
