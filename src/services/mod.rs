//! Wire dialects (SharePoint, Orchestrator, server items, remote events, native API,
//! admin pages), each mapping its calls onto engine commands and nothing else. They build
//! on the edge toolkit (`crate::http`) and the engine, read their settings from
//! `crate::config`, and know nothing of the app that mounts them. What more than one
//! dialect needs has one home: [`rest`] (REST helpers), [`envelope`] (reading SOAP bodies),
//! [`deploy`] (re-reading the workflows folder). No dialect imports another's internals.

pub mod admin;
pub mod api;
pub mod callbacks;
pub mod deploy;
pub mod envelope;
pub mod orchestrator;
pub mod remote_events;
pub mod rest;
pub mod server_items;
pub mod sharepoint;

use std::sync::Arc;

use crate::config::SoapSettings;
use crate::http::soap::SoapService;

/// Why a server item failed when the caller that failed it gave no message, in every
/// dialect.
pub const DEFAULT_FAIL_MESSAGE: &str = "failed by the external system";

/// Every SOAP service the gateway serves. The SharePoint receiver reads its triggers
/// from the engine's current definitions, so a deploy changes them without a restart.
pub fn soap_services(settings: &SoapSettings) -> Vec<Arc<dyn SoapService>> {
    vec![
        Arc::new(server_items::soap::ServerItemService::default()),
        Arc::new(sharepoint::service::RemoteEventService::new(
            settings.sharepoint.clone(),
        )),
        Arc::new(orchestrator::OrchestratorService::new(
            settings.orchestrator.clone(),
        )),
    ]
}
