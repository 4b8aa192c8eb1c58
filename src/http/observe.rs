//! Per-request observation, as one middleware around the whole app:
//!
//! - a request id: the caller's `X-Request-Id` when it is a sane token (1 to 128 of
//!   `A-Z a-z 0-9 . _ : -`), else a new UUID; echoed in the answer's `X-Request-Id`;
//! - a tracing span per request (`method`, `path`, `request_id`, then `route`, `status`,
//!   `dialect`, `operation`), so every log line of the request and of the commands it
//!   runs carries them, and one `request` log line when it is answered;
//! - the request metrics of [`crate::metrics`], labelled by route *template*.
//!
//! SOAP services name their dialect and operation through [`Observed`] in the request's
//! extensions, since one route serves many operations; other routes get their dialect
//! from the route template and their operation from the method.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;
use tracing::field::Empty;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What a handler knows about its request that the route does not say.
#[derive(Debug, Clone, Copy)]
pub struct Observed {
    pub dialect: &'static str,
    pub operation: &'static str,
    /// The route template, when the handler knows it (saves matching the path again).
    pub route: Option<&'static str>,
}

/// The caller's request id, when it is safe to log and echo.
fn incoming_id(request: &ServiceRequest) -> Option<String> {
    let value = request.headers().get(&REQUEST_ID)?.to_str().ok()?;
    let sane = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b));
    sane.then(|| value.to_string())
}

/// A request id of this process: a random prefix drawn once, then a counter (cheaper than
/// a random UUID per request, and still unique across nodes and restarts).
fn new_request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_string());
    // Written by hand: `format!` showed up in profiles of the echo benchmark.
    let mut n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut id = String::with_capacity(prefix.len() + 1 + digits.len() - at);
    id.push_str(prefix);
    id.push('-');
    id.extend(digits[at..].iter().map(|&d| d as char));
    id
}

/// The method as a label: the standard ones, or `OTHER` (methods are caller-chosen).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// The dialect of a non-SOAP route, from its template.
pub fn dialect_of(route: &str) -> &'static str {
    if route.starts_with("/api/v1") {
        "api"
    } else if route.starts_with("/api/workflow") {
        "k2"
    } else if route.starts_with("/admin") {
        "admin"
    } else if matches!(route, "/healthz" | "/readyz" | "/metrics") {
        "ops"
    } else if route.contains("{variant:") {
        "remote_events"
    } else if route == "unmatched" {
        "none"
    } else {
        "soap"
    }
}

pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = incoming_id(&request).unwrap_or_else(new_request_id);
    let method = request.method().clone();
    let span = tracing::info_span!(
        "request",
        method = %method,
        path = %request.path(),
        request_id = %request_id,
        route = Empty,
        status = Empty,
        dialect = Empty,
        operation = Empty,
    );
    let mut response = next.call(request).instrument(span.clone()).await?;
    let observed = response.request().extensions().get::<Observed>().copied();
    // Route templates are a bounded set; paths that matched none share one label.
    let route = match observed.and_then(|o| o.route) {
        Some(route) => route,
        None => response
            .request()
            .match_pattern()
            .map_or("unmatched", |route| crate::metrics::intern(&route)),
    };
    let dialect = observed.map_or_else(|| dialect_of(route), |o| o.dialect);
    let operation = observed.map_or_else(|| method_label(&method), |o| o.operation);
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.record("route", route)
        .record("status", status)
        .record("dialect", dialect)
        .record("operation", operation);
    tracing::info!(parent: &span, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "request");
    crate::metrics::http_request(route, dialect, operation, status, elapsed);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialects_follow_route_templates() {
        assert_eq!(dialect_of("/api/v1/events/{name}"), "api");
        assert_eq!(
            dialect_of("/api/workflow/v1/serverEvents/{serialNumber}"),
            "k2"
        );
        assert_eq!(dialect_of("/{variant:cd[ab]}/{workflow}/"), "remote_events");
        assert_eq!(dialect_of("/metrics"), "ops");
        assert_eq!(dialect_of("/admin/waits"), "admin");
        assert_eq!(dialect_of("unmatched"), "none");
    }
}
