//! Server items (K2 asynchronous server events) by serial number: open, finish, fail,
//! extend. Each needs the `server_event` permission on the item's workflow; a forged,
//! altered or unknown serial is `404 unknown_serial`, a closed item `409 item_not_open`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::DIALECT;
use crate::duration::{millis, parse_duration};
use crate::engine::{FinishOutcome, InstanceView, ServerItemView};
use crate::http::body::JsonBody;
use crate::http::errors::ApiError;
use crate::services::DEFAULT_FAIL_MESSAGE;
use crate::services::rest::{
    Closed, Committing, Denied, EngineCall, Malformed, Missing, keyed_caller,
};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishBody {
    /// Data fields to set; declared names only, converted to their types.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailBody {
    /// Why the external system failed the item; goes to history and the step's `on_error`.
    pub message: Option<String>,
}

/// Exactly one of `deadline` and `extend_by`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    /// New deadline, RFC 3339 (`2026-12-01T12:00:00Z`).
    pub deadline: Option<String>,
    /// Or: from now, as a duration (`2h`, `1d12h`).
    pub extend_by: Option<String>,
}

/// Open a server item (K2 `OpenServerItem`): its step, deadline and instance fields.
#[utoipa::path(get, path = "/api/v1/server-items/{serial}", tag = "server items",
    params(("serial" = String, Path, description = "serial number, e.g. 5_31.Xk2…")),
    responses((status = 200, body = ServerItemView), Denied, Missing, Closed))]
pub async fn open(call: EngineCall, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let view = call
        .engine
        .open_server_item(&path, &call.caller(DIALECT))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The same as `GET`, for clients that only POST.
#[utoipa::path(post, path = "/api/v1/server-items/{serial}", tag = "server items",
    params(("serial" = String, Path, description = "serial number")),
    responses((status = 200, body = ServerItemView), Denied, Missing, Closed))]
pub async fn open_post(
    call: EngineCall,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    open(call, path).await
}

/// Finish a server item with data fields; the instance continues to its next wait.
#[utoipa::path(post, path = "/api/v1/server-items/{serial}/finish", tag = "server items",
    params(
        ("serial" = String, Path, description = "serial number"),
        ("Idempotency-Key" = Option<String>, Header, description = "a repeat returns the first outcome instead of 409"),
    ),
    request_body = FinishBody,
    responses(
        (status = 200, body = FinishOutcome),
        (status = 400, body = ApiError, description = "invalid_field names the field and its type"),
        Denied, Missing, Closed, Committing,
    ))]
pub async fn finish(
    call: EngineCall,
    path: web::Path<String>,
    request: HttpRequest,
    JsonBody(body): JsonBody<FinishBody>,
) -> Result<HttpResponse, ApiError> {
    let (caller, key) = keyed_caller(&request, &call.auth, DIALECT)?;
    let outcome = call
        .engine
        .finish_server_item(&path, &body.fields, &caller, key.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(outcome))
}

/// Fail a server item: its step's `on_error` runs, else the instance fails.
#[utoipa::path(post, path = "/api/v1/server-items/{serial}/fail", tag = "server items",
    params(("serial" = String, Path, description = "serial number")),
    request_body = FailBody,
    responses((status = 200, body = InstanceView), Denied, Missing, Closed))]
pub async fn fail(
    call: EngineCall,
    path: web::Path<String>,
    JsonBody(body): JsonBody<FailBody>,
) -> Result<HttpResponse, ApiError> {
    let message = body
        .message
        .filter(|message| !message.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_FAIL_MESSAGE.to_string());
    let view = call
        .engine
        .fail_server_item(&path, &message, &call.caller(DIALECT))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Push the deadline of an open server item (a heartbeat from a long job).
#[utoipa::path(post, path = "/api/v1/server-items/{serial}/extend", tag = "server items",
    params(("serial" = String, Path, description = "serial number")),
    request_body = ExtendBody,
    responses((status = 200, body = ServerItemView), Malformed, Denied, Missing, Closed))]
pub async fn extend(
    call: EngineCall,
    path: web::Path<String>,
    JsonBody(body): JsonBody<ExtendBody>,
) -> Result<HttpResponse, ApiError> {
    let deadline = resolve_deadline(&body, call.engine.now_ms())?;
    let view = call
        .engine
        .extend_server_item(&path, deadline, &call.caller(DIALECT))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The new deadline in Unix ms from an [`ExtendBody`].
pub(crate) fn resolve_deadline(body: &ExtendBody, now_ms: i64) -> Result<i64, ApiError> {
    match (&body.deadline, &body.extend_by) {
        (Some(deadline), None) => chrono::DateTime::parse_from_rfc3339(deadline)
            .map(|at| at.timestamp_millis())
            .map_err(|error| {
                ApiError::malformed(format!(
                    "`deadline` must be an RFC 3339 date-time such as 2026-12-01T12:00:00Z: {error}"
                ))
            }),
        (None, Some(by)) => parse_duration(by)
            .map(|by| now_ms.saturating_add(millis(by)))
            .map_err(|why| ApiError::malformed(format!("`extend_by`: {why}"))),
        _ => Err(ApiError::malformed(
            "give exactly one of `deadline` (RFC 3339) and `extend_by` (a duration)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines() {
        let body = |deadline: Option<&str>, by: Option<&str>| ExtendBody {
            deadline: deadline.map(str::to_string),
            extend_by: by.map(str::to_string),
        };
        assert_eq!(
            resolve_deadline(&body(Some("1970-01-01T00:00:01Z"), None), 0).unwrap(),
            1000
        );
        assert_eq!(resolve_deadline(&body(None, Some("2s")), 5).unwrap(), 2005);
        assert!(resolve_deadline(&body(None, None), 0).is_err());
        assert!(resolve_deadline(&body(Some("x"), Some("1s")), 0).is_err());
        assert!(resolve_deadline(&body(Some("tomorrow"), None), 0).is_err());
    }
}
