//! Capability callback URLs (`engine::callback`): `POST /callbacks/{token}` finishes the
//! server item the token names, `POST /callbacks/{token}/fail` fails it. The URL is the
//! only credential. Finish takes `{"fields": {…}}` or K2's `{"dataFields": {…}}` as JSON,
//! a form body (`name=value&…`), or no body; fail takes `{"message": "…"}` (or a form
//! `message`). `Idempotency-Key` is honoured on finish. Both answer `204` after the
//! commit. A tampered, closed, expired or unknown token is `404 unknown_serial`, one
//! answer for all, decided from the token alone before its body is read when the token
//! is not ours. History records the dialect `callback_url` and the client's address.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_util::future::LocalBoxFuture;
use serde_json::{Map, Value};

use crate::engine::EngineError;
use crate::engine::callback::CALLBACK_PATH;
use crate::error::ErrorCode;
use crate::http::EdgeState;
use crate::http::body::{declared_length, read_limited};
use crate::http::errors::{ApiError, RefusedBeforeBody};
use crate::services::DEFAULT_FAIL_MESSAGE;
use crate::services::rest::{Committing, Malformed, Missing, idempotency_key};

/// The callback routes' part of the OpenAPI document (assembled by the app).
#[derive(utoipa::OpenApi)]
#[openapi(paths(finish, fail))]
pub struct CallbackDoc;

pub fn configure(config: &mut web::ServiceConfig) {
    // A scope, so that other requests are told apart by its prefix, without a regex; the
    // app mounts it after the configured paths (see `app::create_app`).
    config.service(
        web::scope(CALLBACK_PATH)
            .route("/{token}", web::post().to(finish))
            .route("/{token}/fail", web::post().to(fail)),
    );
}

/// The one answer for every token that cannot act.
fn unknown_callback() -> ApiError {
    ApiError::new(
        ErrorCode::UnknownSerial,
        "unknown, closed or expired callback url",
    )
}

fn answer(error: EngineError) -> ApiError {
    match error {
        EngineError::UnknownSerial(_) | EngineError::ItemNotOpen(_) => unknown_callback(),
        other => other.into(),
    }
}

/// Finish the server item a callback URL names; `204` once committed. No credentials:
/// the URL is the authority.
#[utoipa::path(post, path = "/callbacks/{token}", tag = "callbacks", security(()),
    params(
        ("token" = String, Path, description = "the capability token of the item's callback URL"),
        ("Idempotency-Key" = Option<String>, Header, description = "a repeat returns the first outcome"),
    ),
    request_body(content = Object, description = "`{\"fields\": {…}}` or `{\"dataFields\": {…}}`, a form, or nothing"),
    responses((status = 204, description = "finished"), Malformed, Missing, Committing))]
async fn finish(callback: Received) -> Result<HttpResponse, ApiError> {
    let fields = finish_fields(&callback.body)?;
    let finished = callback.state.engine.finish_by_callback(
        &callback.token,
        &fields,
        callback.source,
        callback.idempotency_key.as_deref(),
    );
    finished.await.map_err(answer)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Fail the server item a callback URL names; `204` once committed.
#[utoipa::path(post, path = "/callbacks/{token}/fail", tag = "callbacks", security(()),
    params(("token" = String, Path, description = "the capability token of the item's callback URL")),
    request_body(content = Object, description = "`{\"message\": \"…\"}`, a form with `message`, or nothing"),
    responses((status = 204, description = "failed"), Malformed, Missing, Committing))]
async fn fail(callback: Received) -> Result<HttpResponse, ApiError> {
    let message = fail_message(&callback.body)?;
    let failed = callback
        .state
        .engine
        .fail_by_callback(&callback.token, &message, callback.source);
    failed.await.map_err(answer)?;
    Ok(HttpResponse::NoContent().finish())
}

/// A callback request as its handler starts from it: a token that passed the check, the
/// `Idempotency-Key`, the body read within the limits, and the client's address. What is
/// refused before the body (a token not ours, a malformed key) closes the connection, so
/// a stranger's guesses cost an HMAC and nothing buffered.
struct Received {
    token: String,
    idempotency_key: Option<String>,
    body: Body,
    source: Option<String>,
    state: web::Data<EdgeState>,
}

impl FromRequest for Received {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        let payload = web::Payload::from_request(&request, payload).into_inner();
        Box::pin(async move {
            let state = request
                .app_data::<web::Data<EdgeState>>()
                .cloned()
                .ok_or_else(|| {
                    ApiError::from(EngineError::Internal("edge state missing".into()))
                })?;
            let token = request
                .match_info()
                .get("token")
                .unwrap_or_default()
                .to_string();
            if !state.engine.callback_token_checks(&token) {
                return Err(RefusedBeforeBody(unknown_callback()).into());
            }
            let idempotency_key = idempotency_key(&request).map_err(RefusedBeforeBody)?;
            let body = read_body(&request, payload?, &state).await?;
            let source = state.client_ip(&request).map(|ip| ip.to_string());
            Ok(Self {
                token,
                idempotency_key,
                body,
                source,
                state,
            })
        })
    }
}

/// A request body, as far as a callback reads one.
enum Body {
    Empty,
    Json(Map<String, Value>),
    Form(Vec<(String, String)>),
}

/// The body, bounded by `[http] max_body` and the node's budget.
async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    state: &EdgeState,
) -> Result<Body, ApiError> {
    let bytes = read_limited(&mut payload, declared_length(request), state.body_limits())
        .await
        .map_err(|error| {
            let (code, message) = error.code_and_message();
            ApiError::new(code, message)
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Body::Empty);
    }
    let media = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|media| media.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media.as_str() {
        "application/json" => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(object)) => Ok(Body::Json(object)),
            Ok(_) => Err(ApiError::malformed("the JSON body must be an object")),
            Err(error) => Err(ApiError::malformed(format!(
                "the body is not valid JSON: {error}"
            ))),
        },
        "application/x-www-form-urlencoded" => serde_urlencoded::from_bytes(&bytes)
            .map(Body::Form)
            .map_err(|error| ApiError::malformed(format!("the form body does not parse: {error}"))),
        other => Err(ApiError::malformed(format!(
            "a callback takes application/json, application/x-www-form-urlencoded or no body, not `{}`",
            if other.is_empty() { "none" } else { other }
        ))),
    }
}

/// The data fields of a finish: `fields` or `dataFields` of a JSON body (not both, and
/// nothing else), every pair of a form, nothing for no body.
fn finish_fields(body: &Body) -> Result<Map<String, Value>, ApiError> {
    match body {
        Body::Empty => Ok(Map::new()),
        Body::Json(object) => {
            if let Some(other) = object
                .keys()
                .find(|key| !matches!(key.as_str(), "fields" | "dataFields"))
            {
                return Err(ApiError::malformed(format!(
                    "unknown member `{other}`: send {{\"fields\": {{…}}}} or {{\"dataFields\": {{…}}}}"
                )));
            }
            match (object.get("fields"), object.get("dataFields")) {
                (Some(_), Some(_)) => Err(ApiError::malformed(
                    "send `fields` or `dataFields`, not both",
                )),
                (Some(Value::Object(fields)), None) | (None, Some(Value::Object(fields))) => {
                    Ok(fields.clone())
                }
                (None, None) => Ok(Map::new()),
                _ => Err(ApiError::malformed("`fields` must be an object")),
            }
        }
        Body::Form(pairs) => {
            let mut fields = Map::new();
            for (name, value) in pairs {
                if fields
                    .insert(name.clone(), Value::String(value.clone()))
                    .is_some()
                {
                    return Err(ApiError::malformed(format!(
                        "form field `{name}` is given twice"
                    )));
                }
            }
            Ok(fields)
        }
    }
}

/// The failure message: `message` of a JSON or form body, else the default.
fn fail_message(body: &Body) -> Result<String, ApiError> {
    let given = match body {
        Body::Empty => None,
        Body::Json(object) => {
            if let Some(other) = object.keys().find(|key| key.as_str() != "message") {
                return Err(ApiError::malformed(format!(
                    "unknown member `{other}`: send {{\"message\": \"…\"}}"
                )));
            }
            match object.get("message") {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => Some(text.clone()),
                Some(_) => return Err(ApiError::malformed("`message` must be a string")),
            }
        }
        Body::Form(pairs) => pairs
            .iter()
            .find(|(name, _)| name == "message")
            .map(|(_, value)| value.clone()),
    };
    Ok(given
        .filter(|text| !text.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_FAIL_MESSAGE.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Body {
        match serde_json::from_str(text).unwrap() {
            Value::Object(object) => Body::Json(object),
            _ => unreachable!(),
        }
    }

    #[test]
    fn finish_bodies() {
        assert!(finish_fields(&Body::Empty).unwrap().is_empty());
        let fields = finish_fields(&json(r#"{"fields": {"approved": true}}"#)).unwrap();
        assert_eq!(fields["approved"], Value::Bool(true));
        let k2 = finish_fields(&json(r#"{"dataFields": {"amount": 5}}"#)).unwrap();
        assert_eq!(k2["amount"], Value::from(5));
        let form = Body::Form(vec![("approved".into(), "true".into())]);
        assert_eq!(
            finish_fields(&form).unwrap()["approved"],
            Value::from("true")
        );
        for bad in [
            r#"{"fields": {}, "dataFields": {}}"#,
            r#"{"fields": [1]}"#,
            r#"{"other": 1}"#,
        ] {
            assert!(finish_fields(&json(bad)).is_err(), "{bad}");
        }
        let twice = Body::Form(vec![("a".into(), "1".into()), ("a".into(), "2".into())]);
        assert!(finish_fields(&twice).is_err());
    }

    #[test]
    fn fail_bodies() {
        assert_eq!(fail_message(&Body::Empty).unwrap(), DEFAULT_FAIL_MESSAGE);
        let given = fail_message(&json(r#"{"message": "rejected"}"#)).unwrap();
        assert_eq!(given, "rejected");
        assert!(fail_message(&json(r#"{"message": 5}"#)).is_err());
        assert!(fail_message(&json(r#"{"fields": {}}"#)).is_err());
    }
}
