//! Wire dialects (SharePoint, Orchestrator, server items, remote events, native API), each
//! mapping its calls onto engine commands and nothing else.

pub mod api;
pub mod server_items;
pub mod sharepoint;

use std::sync::Arc;

use crate::http::soap::SoapService;

/// Every SOAP service the gateway serves.
pub fn soap_services() -> Vec<Arc<dyn SoapService>> {
    vec![Arc::new(server_items::soap::ServerItemService::default())]
}
