//! Wire dialects (SharePoint, Orchestrator, server items, remote events, native API), each
//! mapping its calls onto engine commands and nothing else.

pub mod api;
pub mod remote_events;
pub mod server_items;
pub mod sharepoint;

use std::sync::Arc;

use crate::http::soap::SoapService;

/// Every SOAP service the gateway serves. SharePoint triggers that do not parse are
/// left out with a log line; `serve` and `check` refuse such definitions before this.
pub fn soap_services(
    workflows: &crate::engine::definition::Workflows,
    sharepoint: &sharepoint::service::SharePointSettings,
) -> Vec<Arc<dyn SoapService>> {
    let triggers = sharepoint::triggers::collect(workflows).unwrap_or_else(|problems| {
        tracing::error!(?problems, "SharePoint triggers ignored");
        Vec::new()
    });
    vec![
        Arc::new(server_items::soap::ServerItemService::default()),
        Arc::new(sharepoint::service::RemoteEventService::new(
            sharepoint.clone(),
            triggers,
        )),
    ]
}
