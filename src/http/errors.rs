//! Every error an HTTP client sees, in the one JSON shape `{"code", "message"}`.
//!
//! The status comes from [`ErrorCode::http_status`], the single mapping of DESIGN §5.
//! Framework errors (bad JSON, wrong content type, oversized body, bad query, unknown
//! route) are turned into [`ApiError`]s too, so no default error page ever reaches a
//! client. Details of store and internal errors go to the log, never to the client.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

use crate::engine::EngineError;
use crate::error::ErrorCode;

/// Seconds a client is asked to wait when the store is unavailable.
pub const RETRY_AFTER_SECS: u32 = 5;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiError {
    #[schema(value_type = String, example = "item_not_open")]
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::MalformedRequest, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        error.log_detail();
        Self::new(error.code(), error.to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if self.code == ErrorCode::Unauthenticated {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"holdpoint\", charset=\"UTF-8\""),
            ));
        }
        if self.code.retry_later() {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
        }
        response.json(self)
    }
}

/// An error answered before the request's body was read: the connection cannot carry
/// another request, so it is closed and a body that follows is never buffered.
pub fn refused_before_body(error: &ApiError) -> HttpResponse {
    let mut response = error.error_response();
    response
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    response
}

/// An [`ApiError`] to answer with [`refused_before_body`], for handlers that refuse a
/// request on what precedes its body and return the refusal with `?`.
#[derive(Debug)]
pub struct RefusedBeforeBody(pub ApiError);

impl std::fmt::Display for RefusedBeforeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for RefusedBeforeBody {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        refused_before_body(&self.0)
    }
}

/// Query strings that do not parse (`?limit=abc`).
pub fn query_error(
    error: actix_web::error::QueryPayloadError,
    _request: &HttpRequest,
) -> actix_web::Error {
    ApiError::malformed(format!("invalid query string: {error}")).into()
}

/// Routes that do not exist, or exist with another method.
pub async fn no_route(request: HttpRequest) -> HttpResponse {
    ApiError::new(
        ErrorCode::UnknownOperation,
        format!("no endpoint {} {}", request.method(), request.path()),
    )
    .error_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_headers_follow_the_code() {
        let response = ApiError::unauthenticated("credentials required").error_response();
        assert_eq!(response.status(), 401);
        assert!(
            response
                .headers()
                .get("www-authenticate")
                .is_some_and(|value| value
                    .to_str()
                    .unwrap()
                    .starts_with("Basic realm=\"holdpoint\""))
        );
        let unavailable: ApiError = EngineError::StoreUnavailable("pool timed out".into()).into();
        assert_eq!(unavailable.message, "the store is unavailable, retry later");
        let response = unavailable.error_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers().get("retry-after").unwrap(), "5");
    }
}
