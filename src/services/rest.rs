//! What the REST dialects (the native API, K2's REST routes, remote events) share, so
//! that each rule has one home: the `Idempotency-Key` header, the caller of a keyed
//! request, and the error statuses their OpenAPI annotations list.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use utoipa::IntoResponses;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

use crate::engine::definition::Workflow;
use crate::engine::{Caller, Engine, EngineError};
use crate::error::ErrorCode;
use crate::http::EdgeState;
use crate::http::auth::Authenticated;
use crate::http::errors::ApiError;

/// An authenticated call on the engine, as an extractor: what a REST handler starts from.
pub struct EngineCall {
    pub engine: Arc<Engine>,
    pub auth: Authenticated,
}

impl EngineCall {
    /// The engine caller for this request in `dialect` (`api`, `k2`, …).
    pub fn caller(&self, dialect: &str) -> Caller {
        self.auth.caller(dialect)
    }
}

impl FromRequest for EngineCall {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let engine = request
            .app_data::<web::Data<EdgeState>>()
            .map(|state| state.engine.clone());
        let auth = Authenticated::from_request(request, payload);
        Box::pin(async move {
            let engine = engine.ok_or_else(|| {
                ApiError::from(EngineError::Internal("edge state missing".into()))
            })?;
            Ok(Self {
                engine,
                auth: auth.await?,
            })
        })
    }
}

/// The `Idempotency-Key` header: at most 255 visible ASCII characters.
pub fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|text| !text.is_empty() && text.len() <= 255)
        .ok_or_else(|| {
            ApiError::malformed("Idempotency-Key must be 1 to 255 visible ASCII characters")
        })?;
    Ok(Some(text.to_string()))
}

/// The workflow a request names by GUID or name; an unknown one is `404 unknown_workflow`.
pub fn known_workflow(engine: &Engine, given: &str) -> Result<Arc<Workflow>, ApiError> {
    engine.workflows().get(given).cloned().ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnknownWorkflow,
            format!("unknown workflow `{given}`"),
        )
    })
}

/// Most rows one listing returns.
const MAX_LIMIT: i64 = 1000;

/// A listing's `limit` query parameter: 100 when absent, else 1 to [`MAX_LIMIT`].
pub fn list_limit(given: Option<i64>) -> Result<i64, ApiError> {
    let limit = given.unwrap_or(100);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::malformed(format!(
            "`limit` must be between 1 and {MAX_LIMIT}"
        )))
    }
}

/// A word of a closed set given in a query parameter (`kind`, `state`, …), read by
/// `parse`; anything else is malformed, and the message lists `choices`.
pub fn query_word<T>(
    what: &str,
    text: &str,
    parse: fn(&str) -> Option<T>,
    choices: &str,
) -> Result<T, ApiError> {
    parse(text).ok_or_else(|| ApiError::malformed(format!("unknown {what} `{text}` ({choices})")))
}

/// The request's `Idempotency-Key` and the caller `auth` makes in `dialect`, the key as
/// its message id so that history ties a repeat to the first call.
pub fn keyed_caller(
    request: &HttpRequest,
    auth: &Authenticated,
    dialect: &str,
) -> Result<(Caller, Option<String>), ApiError> {
    let key = idempotency_key(request)?;
    let mut caller = auth.caller(dialect);
    caller.message_id = key.clone();
    Ok((caller, key))
}

/// How the OpenAPI document shows an [`ApiError`] answer: JSON, the `ApiError` schema, no
/// description (the code in the body says which).
fn api_errors(statuses: &[u16]) -> BTreeMap<String, RefOr<Response>> {
    statuses
        .iter()
        .map(|status| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ApiError")))
                .build();
            let response = ResponseBuilder::new()
                .description("")
                .content("application/json", content)
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

/// Declares a set of error statuses for `responses(...)` in the handlers' OpenAPI
/// annotations, so that each set is written once.
macro_rules! error_statuses {
    ($($(#[$doc:meta])* $name:ident = [$($status:literal),+];)+) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    api_errors(&[$($status),+])
                }
            }
        )+
    };
}

error_statuses! {
    /// `401 unauthenticated`, `403 forbidden`: every call with credentials.
    Denied = [401, 403];
    /// `404`: the workflow, instance or serial named in the path is unknown.
    Missing = [404];
    /// `409 item_not_open`: the item or instance is no longer open.
    Closed = [409];
    /// `400`: a malformed request or an invalid field.
    Malformed = [400];
    /// `413 limit_exceeded`, `503` (store unavailable, overloaded): a body is read and
    /// a change committed.
    Committing = [413, 503];
}
