//! The JSON request body extractor. It reads at most the configured number of bytes
//! (`413 limit_exceeded` past that, before parsing, and at once when `Content-Length`
//! says so), requires a JSON content type when there is a body, and reports parse errors
//! with line and column as `400 malformed_request`. An empty body is the type's default,
//! so `POST …/finish` or `…/cancel` need no body at all.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::EdgeState;
use super::budget::{BodyBudget, Reservation};
use super::errors::ApiError;
use crate::error::ErrorCode;

pub struct JsonBody<T>(pub T);

/// How much of a request body is read, for how long, and from which budget (`[http]
/// max_body`, `body_timeout`, `max_buffered`).
#[derive(Debug, Clone)]
pub struct BodyLimits {
    pub max: usize,
    pub timeout: std::time::Duration,
    /// The node's budget for buffered bodies; `None` in unit tests only.
    pub budget: Option<Arc<BodyBudget>>,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            max: crate::config::DEFAULT_MAX_BODY,
            timeout: crate::config::DEFAULT_BODY_TIMEOUT,
            budget: None,
        }
    }
}

/// A body held in memory, with its share of the node's budget (given back on drop).
#[derive(Debug)]
pub struct Buffered {
    pub bytes: Vec<u8>,
    _reservation: Reservation,
}

impl std::ops::Deref for Buffered {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl<T: DeserializeOwned + Default + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limits = request
            .app_data::<web::Data<EdgeState>>()
            .map_or_else(BodyLimits::default, |state| state.body_limits());
        let declared = declared_length(request);
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap_or("").to_ascii_lowercase());
        let mut payload = payload.take();
        Box::pin(async move {
            let bytes = read_limited(&mut payload, declared, limits)
                .await
                .map_err(ApiError::from)?;
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
    /// The node's budget for buffered bodies had no room for it.
    Overloaded,
}

impl BodyError {
    /// The code and message every dialect answers with.
    pub fn code_and_message(&self) -> (ErrorCode, String) {
        match self {
            Self::TooLarge(limit) => (
                ErrorCode::LimitExceeded,
                format!("the body exceeds the limit of {limit} bytes"),
            ),
            Self::Read(why) => (
                ErrorCode::MalformedRequest,
                format!("cannot read the body: {why}"),
            ),
            Self::Overloaded => (
                ErrorCode::Overloaded,
                "the node is holding as many request bodies as it may; retry later".to_string(),
            ),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(error: BodyError) -> Self {
        let (code, message) = error.code_and_message();
        ApiError::new(code, message)
    }
}

/// Reads a whole body of at most `limits.max` bytes within `limits.timeout`, inside the
/// node's budget. A `Content-Length` over the limit is refused before reading anything; a
/// longer stream is refused as soon as it passes the limit, so memory stays bounded
/// whatever the client sends; a body dribbled slower than the timeout allows is refused
/// when it runs out, so that slow clients cannot hold connections and buffers for ever; a
/// body the budget has no room for is refused `overloaded` (see [`super::budget`]).
pub async fn read_limited<S, E>(
    payload: &mut S,
    declared: Option<usize>,
    limits: BodyLimits,
) -> Result<Buffered, BodyError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let limit = limits.max;
    if declared.is_some_and(|length| length > limit) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut reservation = Reservation::default();
    let reserve = async |reservation: &mut Reservation, needed: usize| match &limits.budget {
        Some(budget) => budget
            .cover(reservation, needed, limit)
            .await
            .map_err(|_| BodyError::Overloaded),
        None => Ok(()),
    };
    // A declared length is reserved at once (the client learns before it sends) and
    // allocated at once: growing by doubling would copy the body several times and leave
    // the freed buffers resident until the allocator purges them (measured: 543 MiB peak
    // against 496 MiB in the burst scenario); pages never sent are never touched. A
    // stranger who declares a large body and sends nothing holds its share until
    // `body_timeout` (RELIABILITY.md says what that leaves open).
    let promised = declared.unwrap_or(0).min(limit);
    reserve(&mut reservation, promised).await?;
    // The budget covers what is allocated, not only what arrived: a buffer that must grow
    // (a chunked body) is grown here, by doubling, each new capacity reserved first.
    let mut bytes: Vec<u8> = Vec::with_capacity(promised);
    let deadline = tokio::time::Instant::now() + limits.timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, payload.next()).await;
        let Ok(next) = next else {
            return Err(BodyError::Read(format!(
                "the body did not arrive within {} s",
                limits.timeout.as_secs_f64()
            )));
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|error| BodyError::Read(error.to_string()))?;
        let needed = bytes.len() + chunk.len();
        if needed > limit {
            return Err(BodyError::TooLarge(limit));
        }
        if needed > bytes.capacity() {
            let capacity = needed.max(bytes.capacity().saturating_mul(2)).min(limit);
            reserve(&mut reservation, capacity).await?;
            bytes.reserve_exact(capacity - bytes.len());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Buffered {
        bytes,
        _reservation: reservation,
    })
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix_web::web;

    use futures_util::stream::{self, StreamExt};

    use super::{BodyError, BodyLimits, is_json, read_limited};

    fn limits(max: usize, timeout_ms: u64) -> BodyLimits {
        BodyLimits {
            max,
            timeout: Duration::from_millis(timeout_ms),
            budget: None,
        }
    }

    #[tokio::test]
    async fn a_dribbled_body_is_refused_when_its_time_runs_out() {
        // One chunk, then nothing more: a client that stopped sending.
        let mut dribble = stream::iter([Ok::<_, String>(web::Bytes::from_static(b"<a"))])
            .chain(stream::pending());
        let error = read_limited(&mut dribble, Some(4096), limits(1 << 20, 50))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, BodyError::Read(why) if why.contains("did not arrive within")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_body_is_read_whole_up_to_the_limit_and_refused_past_it() {
        let chunks =
            || stream::iter((0..3).map(|_| Ok::<_, String>(web::Bytes::from_static(b"abc"))));
        let whole = read_limited(&mut chunks(), None, limits(9, 1000))
            .await
            .unwrap();
        assert_eq!(&whole.bytes[..], b"abcabcabc");
        let error = read_limited(&mut chunks(), None, limits(8, 1000))
            .await
            .unwrap_err();
        assert!(matches!(error, BodyError::TooLarge(8)), "{error:?}");
        let error = read_limited(&mut chunks(), Some(100), limits(8, 1000))
            .await
            .unwrap_err();
        assert!(
            matches!(error, BodyError::TooLarge(8)),
            "declared: {error:?}"
        );
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/xml"));
    }
}
