//! kenaflow-style remote events over plain HTTP (DESIGN §6 "Remote events"):
//!
//! - custom data `/cd{a|b}/{workflow}/`: GET (query string) or POST (JSON object) with
//!   `__wfid`, `__itemid`, optional `__list`, `__web`, and custom fields; the query string
//!   wins over the body;
//! - unstructured `/ud{a|b}/{workflow}/`: POST anything; the event holds `__body` and the
//!   request's metadata (method, headers, query, remote address, content type);
//! - with return data `/ud{a|b}/{j|x|b}/{workflow}/`: runs the workflow inline and answers
//!   its `reply` body as JSON, XML, or bytes (a base64 body decoded; content type from the
//!   `__as` query parameter, else the first `Accept` value).
//!
//! With `[remote_events] instance_guid` set, every path starts with `/{instance_guid}`.
//! `a` is anonymous and only allowed where the workflow says `[remote_events] anonymous =
//! true`, and from the networks both `[remote_events] allow_from` of the configuration and
//! of the workflow list (an empty or absent list: anywhere); `b` takes HTTP Basic
//! credentials and the workflow's `start` permission. The remote address, in history and
//! in an unstructured event, is the client's ([`crate::http::client_addr`]). Each
//! event carries `__user`, `__userIsAuthenticated` and `__userAuthType`. Queued events
//! answer `202 {"event_id": …}` once stored; the inbound queue delivers them. A queued event
//! sent with an `Idempotency-Key` header is stored once: a resend answers the first id.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::config::RemoteEventSettings;
use crate::engine::access::Action;
use crate::engine::definition::Workflow;
use crate::engine::inbound::{InboundAction, InboundPayload, InboundRequest};
use crate::engine::{Caller, EngineError, StartRequest};
use crate::error::ErrorCode;
use crate::http::EdgeState;
use crate::http::auth::{basic_credentials, basic_principal};
use crate::http::body::{Buffered, declared_length, read_limited};
use crate::http::errors::{ApiError, RefusedBeforeBody};
use crate::networks::refusal;
use crate::services::rest::{idempotency_key, known_workflow};

/// Mounts the endpoints, under `/{prefix}` when an instance GUID is configured
/// (`[remote_events] instance_guid`), as kenaflow does to tell its instances apart.
pub fn configure(config: &mut web::ServiceConfig, settings: RemoteEventSettings) {
    let base = settings
        .prefix
        .as_deref()
        .map(|p| format!("/{p}"))
        .unwrap_or_default();
    config.app_data(web::Data::new(settings));
    for suffix in ["/", ""] {
        let custom = format!("{base}/{{variant:cd[ab]}}/{{workflow}}{suffix}");
        let unstructured_path = format!("{base}/{{variant:ud[ab]}}/{{workflow}}{suffix}");
        let returning = format!("{base}/{{variant:ud[ab]}}/{{format:[jxb]}}/{{workflow}}{suffix}");
        config
            .route(&custom, web::get().to(custom_data))
            .route(&custom, web::post().to(custom_data))
            .route(&unstructured_path, web::post().to(unstructured))
            .route(&returning, web::post().to(with_return_data));
    }
}

/// Who sent a remote event.
struct Sender {
    caller: Caller,
    fields: Map<String, Value>,
}

/// One request to an endpoint: the edge, the `[remote_events]` settings, the request
/// itself and what its path names, taken together so that each step of a handler needs
/// only this.
struct RemoteCall {
    state: web::Data<EdgeState>,
    settings: web::Data<RemoteEventSettings>,
    request: HttpRequest,
    /// `cda`, `cdb`, `uda` or `udb`: the kind and whether it is anonymous (`a`).
    variant: String,
    /// The workflow's GUID or name.
    workflow: String,
}

impl FromRequest for RemoteCall {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = request.app_data::<web::Data<EdgeState>>().cloned();
        let settings = request
            .app_data::<web::Data<RemoteEventSettings>>()
            .cloned();
        let path = |name: &str| request.match_info().get(name).map(str::to_string);
        std::future::ready(match (state, settings, path("variant"), path("workflow")) {
            (Some(state), Some(settings), Some(variant), Some(workflow)) => Ok(Self {
                state,
                settings,
                request: request.clone(),
                variant,
                workflow,
            }),
            _ => Err(ApiError::from(EngineError::Internal(
                "remote event state missing".into(),
            ))),
        })
    }
}

impl RemoteCall {
    /// The workflow and its sender, or the refusal: answered before the body was read,
    /// so the connection is closed.
    async fn admit(&self, feature: &str) -> Result<(Arc<Workflow>, Sender), RefusedBeforeBody> {
        check_sender(self, feature).await.map_err(RefusedBeforeBody)
    }

    async fn body(&self, payload: &mut web::Payload) -> Result<Buffered, ApiError> {
        let limits = self.state.body_limits();
        Ok(read_limited(payload, declared_length(&self.request), limits).await?)
    }
}

/// The workflow, checked for the endpoint kind and the `a`/`b` variant.
async fn check_sender(
    call: &RemoteCall,
    feature: &str,
) -> Result<(Arc<Workflow>, Sender), ApiError> {
    let workflow = known_workflow(&call.state.engine, &call.workflow)?;
    let setting = |key: &str| {
        workflow
            .remote_events
            .as_ref()
            .and_then(|t| t.get(key))
            .and_then(toml::Value::as_bool)
            .unwrap_or(false)
    };
    if !setting(feature) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "workflow `{}` does not take {feature} remote events ([remote_events] {feature} = true)",
                workflow.name
            ),
        ));
    }
    let client = call.state.client_ip(&call.request);
    let source = client.map(|ip| ip.to_string());
    let sender = if call.variant.ends_with('a') {
        if !setting("anonymous") {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "workflow `{}` does not take anonymous remote events; use the `b` variant with credentials",
                    workflow.name
                ),
            ));
        }
        // Both lists must admit the client: the node's, then the workflow's own.
        if !call.settings.allow_from.admits(client)
            || !workflow.remote_events_allow_from.admits(client)
        {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "{}; use the `b` variant with credentials",
                    refusal("anonymous remote events", source.as_deref())
                ),
            ));
        }
        let mut caller = Caller::new("anonymous", "remote_events");
        caller.source = source;
        Sender {
            caller,
            fields: identity("anonymous", false, "Anonymous"),
        }
    } else {
        let credentials = basic_credentials(&call.request);
        let principal = basic_principal(&call.state.accounts, credentials).await?;
        let caller = principal.caller("remote_events", source);
        caller
            .access
            .require(&caller.name, &workflow, Action::Start)?;
        Sender {
            fields: identity(&principal.name, true, "Basic"),
            caller,
        }
    };
    Ok((workflow, sender))
}

fn identity(user: &str, authenticated: bool, kind: &str) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("__user".into(), json!(user));
    fields.insert("__userIsAuthenticated".into(), json!(authenticated));
    fields.insert("__userAuthType".into(), json!(kind));
    fields
}

fn query_map(request: &HttpRequest) -> Result<Map<String, Value>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(request.query_string())
        .map_err(|error| ApiError::malformed(format!("invalid query string: {error}")))?;
    Ok(pairs
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect())
}

async fn enqueue(
    call: &RemoteCall,
    workflow: Arc<Workflow>,
    kind: &str,
    event: Map<String, Value>,
    sender: &Sender,
) -> Result<HttpResponse, ApiError> {
    let ids = call
        .state
        .engine
        .enqueue_remote_events(&[InboundRequest {
            workflow,
            kind: kind.to_string(),
            payload: InboundPayload {
                action: InboundAction::Start,
                event: Value::Object(event),
                sender: sender.caller.name.clone(),
            },
            idempotency_key: idempotency_key(&call.request)?,
            coalesce_key: None,
        }])
        .await?;
    Ok(HttpResponse::Accepted().json(json!({"event_id": ids[0]})))
}

/// `/cd{a|b}/{workflow}/`: custom data from the query string and/or a JSON body.
async fn custom_data(
    call: RemoteCall,
    mut payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let (workflow, sender) = call.admit("custom_data").await?;
    let body = call.body(&mut payload).await?;
    let mut event = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(
                    ApiError::malformed("the custom data body must be a JSON object").into(),
                );
            }
            Err(error) => {
                return Err(ApiError::malformed(format!("invalid JSON body: {error}")).into());
            }
        }
    };
    event.extend(query_map(&call.request)?);
    for required in ["__wfid", "__itemid"] {
        if !event.contains_key(required) {
            return Err(ApiError::malformed(format!(
                "custom data needs `{required}` (query string or JSON body)"
            ))
            .into());
        }
    }
    event.extend(sender.fields.clone());
    Ok(enqueue(&call, workflow, "custom_data", event, &sender).await?)
}

/// The request as an unstructured event: `__body` plus its metadata.
async fn unstructured_event(
    call: &RemoteCall,
    payload: &mut web::Payload,
    sender: &Sender,
) -> Result<Map<String, Value>, ApiError> {
    let body = call.body(payload).await?;
    let request = &call.request;
    let text = match std::str::from_utf8(&body) {
        Ok(text) => json!(text),
        Err(_) => json!(base64::engine::general_purpose::STANDARD.encode(&body[..])),
    };
    let headers: Map<String, Value> = request
        .headers()
        .iter()
        .filter(|(name, _)| *name != header::AUTHORIZATION)
        .map(|(name, value)| (name.to_string(), json!(value.to_str().unwrap_or(""))))
        .collect();
    let mut event = Map::new();
    event.insert("__body".into(), text);
    event.insert("__method".into(), json!(request.method().as_str()));
    event.insert("__headers".into(), Value::Object(headers));
    event.insert("__query".into(), Value::Object(query_map(request)?));
    event.insert(
        "__remoteAddress".into(),
        json!(call.state.client_ip(request).map(|ip| ip.to_string())),
    );
    event.insert(
        "__contentType".into(),
        json!(
            request
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
        ),
    );
    event.extend(sender.fields.clone());
    Ok(event)
}

/// `/ud{a|b}/{workflow}/`: anything, queued.
async fn unstructured(
    call: RemoteCall,
    mut payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let (workflow, sender) = call.admit("unstructured").await?;
    let event = unstructured_event(&call, &mut payload, &sender).await?;
    Ok(enqueue(&call, workflow, "unstructured", event, &sender).await?)
}

/// The `{j|x|b}` of a return-data path: JSON, XML or bytes.
#[derive(serde::Deserialize)]
struct ReplyFormat {
    format: String,
}

/// `/ud{a|b}/{j|x|b}/{workflow}/`: runs inline and answers the workflow's reply body.
async fn with_return_data(
    call: RemoteCall,
    format: web::Path<ReplyFormat>,
    mut payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let (workflow, sender) = call.admit("unstructured").await?;
    let event = unstructured_event(&call, &mut payload, &sender).await?;
    let outcome = call
        .state
        .engine
        .start(StartRequest {
            workflow: workflow.id.clone(),
            fields: Map::new(),
            folio: None,
            event: Value::Object(event),
            caller: sender.caller.clone(),
            idempotency_key: None,
        })
        .await
        .map_err(ApiError::from)?;
    let reply = outcome.instance.reply.unwrap_or(Value::Null);
    let body = reply["body"].as_str().unwrap_or("").to_string();
    let declared = reply["content_type"].as_str().map(str::to_string);
    Ok(match format.format.as_str() {
        "j" => {
            let value: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
            HttpResponse::Ok().json(value)
        }
        "x" => HttpResponse::Ok()
            .content_type(declared.unwrap_or_else(|| "application/xml; charset=utf-8".into()))
            .body(body),
        _ => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(body.trim())
                .unwrap_or_else(|_| body.into_bytes());
            let requested = query_map(&call.request)?
                .get("__as")
                .and_then(Value::as_str)
                .map(str::to_string);
            let accepted = call
                .request
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
                .filter(|v| !v.is_empty() && v != "*/*");
            HttpResponse::Ok()
                .content_type(
                    requested
                        .or(accepted)
                        .or(declared)
                        .unwrap_or_else(|| "application/octet-stream".into()),
                )
                .body(bytes)
        }
    })
}
