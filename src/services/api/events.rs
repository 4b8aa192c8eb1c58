//! Custom events (vRO `sendCustomEvent` semantics): wake every open wait on the name, or
//! buffer the event for `ttl` when none is open. Needs the `send_events` right.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::DIALECT;
use crate::duration::parse_duration;
use crate::engine::{CustomEvent, EventOutcome};
use crate::http::body::JsonBody;
use crate::http::errors::ApiError;
use crate::services::rest::{EngineCall, Malformed};
use crate::store::EventScope;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// Event properties; waiting instances take the names they declare as fields.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    /// A repeat within the dedup window (24h) does nothing and returns the first outcome.
    pub message_id: Option<String>,
    /// How long to keep the event when nobody waits: a duration (`"5m"`) or seconds;
    /// `0` drops it as vRO does. Default: `[events] buffer_ttl`.
    #[schema(value_type = Option<String>, example = "5m")]
    pub ttl: Option<Value>,
}

/// Send a custom event.
#[utoipa::path(post, path = "/api/v1/events/{name}", tag = "events",
    params(("name" = String, Path, description = "event name, e.g. shipped-4711")),
    request_body = EventBody,
    responses(
        (status = 200, body = EventOutcome),
        (status = 403, body = ApiError, description = "the account lacks `send_events`"),
        (status = 401, body = ApiError),
        (status = 503, body = ApiError),
        Malformed,
    ))]
pub async fn send(
    call: EngineCall,
    path: web::Path<String>,
    JsonBody(body): JsonBody<EventBody>,
) -> Result<HttpResponse, ApiError> {
    let ttl = body.ttl.as_ref().map(parse_ttl).transpose()?;
    let message_id = body.message_id.filter(|id| !id.is_empty());
    let mut caller = call.caller(DIALECT);
    caller.message_id = message_id.clone();
    let outcome = call
        .engine
        .send_custom_event(&CustomEvent {
            name: path.into_inner(),
            properties: body.properties,
            scope: EventScope::External,
            caller,
            message_id,
            ttl,
        })
        .await?;
    Ok(HttpResponse::Ok().json(outcome))
}

fn parse_ttl(value: &Value) -> Result<Duration, ApiError> {
    match value {
        Value::Number(number) => number
            .as_u64()
            .map(Duration::from_secs)
            .ok_or_else(|| ApiError::malformed("`ttl` in seconds must be a whole number ≥ 0")),
        Value::String(text) => {
            parse_duration(text).map_err(|why| ApiError::malformed(format!("`ttl`: {why}")))
        }
        _ => Err(ApiError::malformed(
            "`ttl` must be a duration such as \"5m\" or a number of seconds",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl(&json!(30)).unwrap(), Duration::from_secs(30));
        assert_eq!(parse_ttl(&json!("2m")).unwrap(), Duration::from_secs(120));
        assert_eq!(parse_ttl(&json!(0)).unwrap(), Duration::ZERO);
        assert!(parse_ttl(&json!(-1)).is_err());
        assert!(parse_ttl(&json!(true)).is_err());
        assert!(parse_ttl(&json!("soon")).is_err());
    }
}
