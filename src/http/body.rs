//! The JSON request body extractor. It reads at most the configured number of bytes
//! (`413 limit_exceeded` past that, before parsing, and at once when `Content-Length`
//! says so), requires a JSON content type when there is a body, and reports parse errors
//! with line and column as `400 malformed_request`. An empty body is the type's default,
//! so `POST …/finish` or `…/cancel` need no body at all.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::AppState;
use super::errors::ApiError;
use crate::error::ErrorCode;

pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = request
            .app_data::<web::Data<AppState>>()
            .map_or(super::DEFAULT_MAX_BODY, |state| state.max_body);
        let declared = declared_length(request);
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap_or("").to_ascii_lowercase());
        let mut payload = payload.take();
        Box::pin(async move {
            let bytes = read_limited(&mut payload, declared, limit)
                .await
                .map_err(|error| match error {
                    BodyError::TooLarge(limit) => too_large(limit),
                    BodyError::Read(why) => {
                        ApiError::malformed(format!("cannot read the body: {why}"))
                    }
                })?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Self(T::default()));
            }
            if !content_type.as_deref().is_some_and(is_json) {
                return Err(ApiError::malformed(format!(
                    "the body must be JSON with content type application/json, not {}",
                    content_type.as_deref().unwrap_or("none")
                )));
            }
            serde_json::from_slice(&bytes)
                .map(Self)
                .map_err(|error| ApiError::malformed(format!("invalid JSON body: {error}")))
        })
    }
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Larger than this many bytes (declared, or seen while reading).
    TooLarge(usize),
    Read(String),
}

/// Reads a whole body of at most `limit` bytes. A `Content-Length` over the limit is
/// refused before reading anything; a longer stream is refused as soon as it passes the
/// limit, so memory stays bounded whatever the client sends.
pub async fn read_limited<S, E>(
    payload: &mut S,
    declared: Option<usize>,
    limit: usize,
) -> Result<web::BytesMut, BodyError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    if declared.is_some_and(|length| length > limit) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut bytes = web::BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| BodyError::Read(error.to_string()))?;
        if bytes.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The declared `Content-Length`, if any.
pub fn declared_length(request: &HttpRequest) -> Option<usize> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<usize>().ok())
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::LimitExceeded,
        format!("the body exceeds the limit of {limit} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/xml"));
    }
}
