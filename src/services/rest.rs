//! What the REST dialects (the native API, K2's REST routes, remote events) share, so
//! that each rule has one home: the `Idempotency-Key` header, and the caller of a keyed
//! request.

use actix_web::HttpRequest;

use crate::engine::Caller;
use crate::http::auth::Authenticated;
use crate::http::errors::ApiError;

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
