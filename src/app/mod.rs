//! The assembly: [`create_app`] builds the actix-web application from an [`AppState`],
//! so that `serve` and the integration tests run exactly the same app. It registers the
//! edge's state ([`EdgeState`]) for the extractors, mounts the health routes
//! ([`health`]), the OpenAPI document ([`openapi`]) and every service with its own
//! settings, and answers anything else through [`errors::no_route`]. [`endpoints`] lists
//! what is served, for the start-up listing.
//!
//! This is the top of the dependency graph: app → services → {http, engine} → store.
//! Nothing below imports it.

pub mod endpoints;
pub mod health;
pub mod openapi;

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, web};

use crate::auth::Accounts;
use crate::config::sharepoint::SharePointSettings;
use crate::config::{RemoteEventSettings, SoapSettings};
use crate::engine::Engine;
use crate::http::soap::SoapService;
use crate::http::{EdgeState, errors, observe};
use crate::services::{
    admin, api, callbacks, remote_events, server_items, sharepoint, soap_services,
};

pub use endpoints::{ENDPOINTS, Endpoint};

/// What the app is built from: the edge's settings and each service's own.
pub struct AppState {
    pub edge: EdgeState,
    /// Every SOAP service, mounted at its paths ([`soap_services`]).
    pub soap_services: Vec<Arc<dyn SoapService>>,
    /// `[remote_events]`: the path prefix and the allow-list of the kenaflow endpoints.
    pub remote_events: RemoteEventSettings,
    /// `[sharepoint] webhook_paths`: where list webhook notifications are received.
    pub sharepoint_webhook_paths: Vec<String>,
    /// The folder a deploy re-reads (`POST /api/v1/deploy`); `None`: deploys are refused.
    pub workflows_dir: Option<PathBuf>,
}

impl AppState {
    /// Built-in defaults everywhere.
    pub fn new(engine: Arc<Engine>, accounts: Arc<Accounts>) -> Self {
        Self::from_edge(EdgeState::new(engine, accounts))
    }

    /// `edge` as given, every service with its defaults.
    pub fn from_edge(edge: EdgeState) -> Self {
        // Installed before the first request so that nothing goes unrecorded.
        crate::metrics::handle();
        Self {
            edge,
            soap_services: soap_services(&SoapSettings::default()),
            remote_events: RemoteEventSettings::default(),
            sharepoint_webhook_paths: SharePointSettings::default().webhook_paths,
            workflows_dir: None,
        }
    }
}

/// The SharePoint receiver among the SOAP services, for the admin pages' URL listing.
fn sharepoint_receiver(soap_services: &[Arc<dyn SoapService>]) -> Option<Arc<dyn SoapService>> {
    soap_services
        .iter()
        .find(|service| service.descriptor().dialect == sharepoint::service::DIALECT)
        .cloned()
}

/// The application `state` describes: what `serve` runs on every worker, and what the
/// integration tests call.
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
    // Called once per worker: the clones share the engine, accounts and body budget.
    let remote_events = state.remote_events.clone();
    let workflows_dir = state.workflows_dir.clone();
    let webhook_paths = state.sharepoint_webhook_paths.clone();
    App::new()
        .app_data(web::Data::new(state.edge.clone()))
        .app_data(web::QueryConfig::default().error_handler(errors::query_error))
        // Outside routing, inside the observer (which logs the path as sent).
        .wrap(actix_web::middleware::from_fn(
            server_items::casing::k2_route_casing,
        ))
        .wrap(actix_web::middleware::from_fn(observe::observe))
        .configure(health::configure)
        .configure(openapi::configure)
        .configure(|config| api::configure(config, workflows_dir))
        .configure(server_items::configure_rest)
        .configure(|config| crate::http::soap::configure(config, &state.soap_services))
        .configure(|config| remote_events::configure(config, remote_events))
        .configure(|config| sharepoint::webhooks::configure(config, &webhook_paths))
        // Each one scope, tried last: a request for a route above never reaches their
        // patterns, and a configured SOAP or webhook path under `/admin` or `/callbacks`
        // is not hidden by their prefix.
        .configure(|config| {
            admin::configure(
                config,
                sharepoint_receiver(&state.soap_services),
                webhook_paths.clone(),
            )
        })
        .configure(callbacks::configure)
        .default_service(web::to(errors::no_route))
}
