//! Per-request observation, as one middleware around the whole app:
//!
//! - a request id: the caller's `X-Request-Id` when it is a sane token (1 to 128 of
//!   `A-Z a-z 0-9 . _ : -`), else a new UUID; echoed in the answer's `X-Request-Id`;
//! - a tracing span per request (`method`, `path`, `request_id`), so every log line of the
//!   request and of the commands it runs carries them (a [`RequestScope`], which makes the
//!   span when the first such line is logged), and one `request` log line when it
//!   is answered, with what the answer settled (`route`, `status`, `dialect`, `operation`,
//!   `elapsed_ms`). Those are fields of the line, not of the span: they are known only at
//!   the end, when no other line of the request is left to carry them, and recording
//!   them on the span cost every request a second formatting of the span's fields;
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

use crate::engine::callback::{CALLBACK_DIALECT, CALLBACK_PATH};
use crate::telemetry::{Answered, RequestScope};

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

/// The path as logged: a callback URL's token is a credential, so its path is logged
/// without it. The router decodes percent-escapes before it matches, so a path is judged
/// as decoded (`/%63allbacks/…` reaches the callback route too).
fn logged_path(path: &str) -> std::borrow::Cow<'_, str> {
    let decoded = if path.contains('%') {
        Some(percent_decoded(path))
    } else {
        None
    };
    match callback_template(decoded.as_deref().unwrap_or(path)) {
        Some(template) => template.into(),
        None => path.into(),
    }
}

/// `%XX` escapes decoded (invalid ones kept), as text.
fn percent_decoded(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                index += 3;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The route template of a callback path, if `path` is one.
fn callback_template(path: &str) -> Option<&'static str> {
    match path.strip_prefix(CALLBACK_PATH) {
        Some(rest) if rest.starts_with('/') && rest.ends_with("/fail") => {
            Some("/callbacks/{token}/fail")
        }
        Some(rest) if rest.starts_with('/') => Some("/callbacks/{token}"),
        _ => None,
    }
}

/// The dialect of a non-SOAP route, from its template.
pub fn dialect_of(route: &str) -> &'static str {
    if route.starts_with("/api/v1") {
        "api"
    } else if route.starts_with("/api/workflow") {
        "k2"
    } else if route.starts_with(CALLBACK_PATH) {
        CALLBACK_DIALECT
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
    let scope = RequestScope::new(method.as_str(), || logged_path(request.path()), &request_id);
    let mut response = scope.instrument(next.call(request)).await?;
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
    let answered = Answered {
        route,
        status,
        dialect,
        operation,
        elapsed_ms: elapsed_ms(elapsed),
    };
    scope.log_answered(&answered);
    crate::metrics::http_request(route, dialect, operation, status, elapsed);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

/// The line's `elapsed_ms`, to the microsecond: a finer fraction says nothing about a
/// request, and a number of few digits is written without a `core::fmt` round
/// (`telemetry::fields`).
fn elapsed_ms(elapsed: std::time::Duration) -> f64 {
    // Exact below 2^53 microseconds (285 years).
    elapsed.as_micros() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialects_follow_route_templates() {
        for (template, dialect) in [
            ("/api/v1/events/{name}", "api"),
            ("/api/workflow/v1/serverEvents/{serialNumber}", "k2"),
            ("/{variant:cd[ab]}/{workflow}/", "remote_events"),
            ("/metrics", "ops"),
            ("/admin/waits", "admin"),
            ("unmatched", "none"),
            ("/callbacks/{token}", "callback_url"),
        ] {
            assert_eq!(dialect_of(template), dialect, "{template}");
        }
    }

    #[test]
    fn callback_tokens_are_not_logged() {
        for (path, logged) in [
            ("/callbacks/5_31.abcdef", "/callbacks/{token}"),
            ("/callbacks/5_31.abcdef/fail", "/callbacks/{token}/fail"),
            ("/api/v1/waits", "/api/v1/waits"),
            ("/callbacksx", "/callbacksx"),
            ("/%63allbacks/5_31.abc", "/callbacks/{token}"),
            ("/api/v1/a%20b", "/api/v1/a%20b"),
        ] {
            assert_eq!(logged_path(path), logged, "{path}");
        }
    }
}
