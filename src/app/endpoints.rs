//! Every endpoint the app serves: [`ENDPOINTS`] is the listing printed at start (and what
//! the OpenAPI test checks the document against), [`print()`] writes it for each bound
//! address, the SharePoint receiver at its configured paths.

use crate::config::sharepoint::DEFAULT_PATH as SHAREPOINT_DEFAULT_PATH;
use crate::config::sharepoint::DEFAULT_WEBHOOK_PATH;

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

/// Outside the OpenAPI document: an admin page (HTML).
const fn admin_page(path: &'static str, what: &'static str) -> Endpoint {
    Endpoint {
        in_openapi: false,
        ..endpoint("GET", path, what)
    }
}

/// Outside the OpenAPI document: a SOAP service (its WSDL describes it).
const fn soap_endpoint(path: &'static str, what: &'static str) -> Endpoint {
    Endpoint {
        in_openapi: false,
        ..endpoint("POST", path, what)
    }
}

// One endpoint a line: a table reads better than rustfmt's wrapped calls.
#[rustfmt::skip]
pub const ENDPOINTS: &[Endpoint] = &[
    endpoint("GET", "/healthz", "process is up"),
    endpoint("GET", "/readyz", "store reachable and migrated"),
    endpoint("GET", "/metrics", "Prometheus metrics"),
    admin_page("/admin", "admin pages (sign in with an admin account)"),
    endpoint("GET", "/api/v1/openapi.json", "OpenAPI 3 document of this API"),
    endpoint("GET", "/api/v1/workflows", "workflows you may use"),
    endpoint("GET", "/api/v1/workflows/{id}", "one workflow: fields, steps"),
    endpoint("POST", "/api/v1/workflows/{id}/instances", "start an instance"),
    endpoint("GET", "/api/v1/instances/{id}", "an instance and its open waits"),
    endpoint("GET", "/api/v1/instances/{id}/history", "its audit trail"),
    endpoint("POST", "/api/v1/instances/{id}/cancel", "cancel it"),
    endpoint("GET", "/api/v1/waits", "what is waiting for what"),
    endpoint("GET", "/api/v1/server-items/{serial}", "open a server item"),
    endpoint("POST", "/api/v1/server-items/{serial}", "open a server item"),
    endpoint("POST", "/api/v1/server-items/{serial}/finish", "finish it"),
    endpoint("POST", "/api/v1/server-items/{serial}/fail", "fail it"),
    endpoint("POST", "/api/v1/server-items/{serial}/extend", "push its deadline"),
    endpoint("POST", "/api/v1/events/{name}", "send a custom event"),
    endpoint("GET", "/api/v1/inbound-events", "inbound queue, dead letters"),
    endpoint("POST", "/api/v1/inbound-events/{id}/retry", "requeue a dead letter"),
    endpoint("POST", "/api/v1/deploy", "re-read the workflows folder (admins)"),
    endpoint("GET", "/api/v1/workflows/{id}/versions", "stored definition versions (admins)"),
    endpoint("POST", "/api/v1/workflows/{id}/migrate", "migrate live instances to a version (admins)"),
    endpoint("GET", "/api/workflow/v1/serverEvents/{serialNumber}", "K2: open a server event"),
    endpoint("POST", "/api/workflow/v1/serverEvents/{serialNumber}/finish", "K2: finish a server event"),
    endpoint("POST", "/callbacks/{token}", "finish a server item by its callback URL (no account)"),
    endpoint("POST", "/callbacks/{token}/fail", "fail it by its callback URL"),
    soap_endpoint("/soap/server-items", "SOAP 1.1/1.2 ServerItemService (WSDL: ?wsdl)"),
    soap_endpoint(SHAREPOINT_DEFAULT_PATH, "SharePoint remote event receiver: the URL to register ([sharepoint] paths)"),
    Endpoint { in_openapi: false, ..endpoint("POST", DEFAULT_WEBHOOK_PATH, "SharePoint list webhooks: the notificationUrl to subscribe ([sharepoint] webhook_paths)") },
    soap_endpoint("/vmware-vmo-webcontrol/webservice", "Orchestrator VSOWebControl, SOAP 1.1 (WSDL: ?wsdl)"),
    soap_endpoint("/vco/vmware-vmo-webcontrol/webservice", "the same, at vRO's later path"),
];

/// Every endpoint at every bound address, with its scheme; the SharePoint receiver at
/// `sharepoint_paths` with the query its registration needs, the list webhook receiver
/// at `webhook_paths`.
pub fn print(
    bound: &[(std::net::SocketAddr, &str)],
    sharepoint_paths: &[String],
    sharepoint_query: Option<&str>,
    webhook_paths: &[String],
) {
    let query = sharepoint_query
        .map(|query| format!("?{query}"))
        .unwrap_or_default();
    for (address, scheme) in bound {
        for endpoint in ENDPOINTS {
            let paths: Vec<String> = if endpoint.path == SHAREPOINT_DEFAULT_PATH {
                sharepoint_paths
                    .iter()
                    .map(|path| format!("{path}{query}"))
                    .collect()
            } else if endpoint.path == DEFAULT_WEBHOOK_PATH {
                webhook_paths.to_vec()
            } else {
                vec![endpoint.path.to_string()]
            };
            for path in paths {
                println!(
                    "  {:<6} {scheme}://{address}{:<54} {}",
                    endpoint.method, path, endpoint.what
                );
            }
        }
    }
}
