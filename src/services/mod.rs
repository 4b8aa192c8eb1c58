//! Wire dialects (SharePoint, Orchestrator, server items, remote events, native API), each
//! mapping its calls onto engine commands and nothing else.

pub mod admin;
pub mod api;
pub mod orchestrator;
pub mod remote_events;
pub mod server_items;
pub mod sharepoint;

use std::sync::Arc;

use crate::http::soap::SoapService;

/// The configuration of the SOAP dialects.
#[derive(Debug, Clone, Default)]
pub struct SoapSettings {
    pub sharepoint: sharepoint::service::SharePointSettings,
    pub orchestrator: orchestrator::OrchestratorSettings,
}

/// Every SOAP service the gateway serves. SharePoint triggers that do not parse are
/// left out with a log line; `serve` and `check` refuse such definitions before this.
pub fn soap_services(
    workflows: &crate::engine::definition::Workflows,
    settings: &SoapSettings,
) -> Vec<Arc<dyn SoapService>> {
    let triggers = sharepoint::triggers::collect(workflows).unwrap_or_else(|problems| {
        tracing::error!(?problems, "SharePoint triggers ignored");
        Vec::new()
    });
    vec![
        Arc::new(server_items::soap::ServerItemService::default()),
        Arc::new(sharepoint::service::RemoteEventService::new(
            settings.sharepoint.clone(),
            triggers,
        )),
        Arc::new(orchestrator::OrchestratorService::new(
            settings.orchestrator.clone(),
        )),
    ]
}
