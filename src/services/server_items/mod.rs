//! Server items for K2-style callers (DESIGN §6 "Server items"): the K2 Workflow REST
//! routes `GET /api/workflow/v1/serverEvents/{serialNumber}` and
//! `POST …/{serialNumber}/finish` with `{"dataFields": {…}}` → `204`. The caller needs the
//! workflow's `server_event` permission (K2's "Server Event" right); each route calls
//! the engine itself. [`K2Doc`] documents them for the app's OpenAPI document. The SOAP
//! `ServerItemService` is in [`soap`]; [`casing`] lets every casing of the routes' literal
//! segments reach them, as ASP.NET does in K2.

pub mod casing;
pub mod soap;

use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::http::auth::Authenticated;
use crate::http::body::JsonBody;
use crate::http::errors::ApiError;
use crate::http::gate::before_body;
use crate::services::rest::{
    Closed, Committing, Denied, EngineCall, Malformed, Missing, keyed_caller,
};

/// The K2 REST routes' part of the OpenAPI document (assembled by the app).
#[derive(utoipa::OpenApi)]
#[openapi(paths(k2_open, k2_finish))]
pub struct K2Doc;

/// The dialect recorded in history for K2 REST calls.
pub const K2_DIALECT: &str = "k2";

pub fn configure_rest(config: &mut web::ServiceConfig) {
    // Credentials are checked before the body (see `http::gate`).
    config.service(
        web::scope("/api/workflow/v1")
            .wrap(from_fn(before_body::<Authenticated>))
            .route("/serverEvents/{serialNumber}", web::get().to(k2_open))
            .route(
                "/serverEvents/{serialNumber}/finish",
                web::post().to(k2_finish),
            ),
    );
}

/// A server event as the K2 REST API shows it (camelCase).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct K2ServerEvent {
    pub serial_number: String,
    pub workflow_id: String,
    pub workflow_instance_id: i64,
    pub folio: String,
    /// The step that opened the item.
    pub event_name: String,
    /// RFC 3339.
    pub deadline: String,
    #[schema(value_type = Object)]
    pub data_fields: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct K2FinishBody {
    /// Data fields to set; declared names only, converted to their types.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data_fields: Map<String, Value>,
    /// K2 item references: accepted when empty, as K2 clients send them; Holdpoint has
    /// no SmartObject items to reference.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub item_references: Option<Value>,
}

/// K2: get a server event by serial number.
#[utoipa::path(get, path = "/api/workflow/v1/serverEvents/{serialNumber}", tag = "k2",
    params(("serialNumber" = String, Path, description = "serial number")),
    responses((status = 200, body = K2ServerEvent), Denied, Missing, Closed))]
pub async fn k2_open(call: EngineCall, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let item = call
        .engine
        .open_server_item(&path, &call.caller(K2_DIALECT))
        .await?;
    Ok(HttpResponse::Ok().json(K2ServerEvent {
        serial_number: item.serial,
        workflow_id: item.workflow_id,
        workflow_instance_id: item.instance_id,
        folio: item.folio,
        event_name: item.step,
        deadline: item.deadline,
        data_fields: item.fields,
    }))
}

/// K2: finish a server event; `204` once committed. A repeat answers `409 item_not_open`,
/// unless it carries the same `Idempotency-Key`, which answers `204` again.
#[utoipa::path(post, path = "/api/workflow/v1/serverEvents/{serialNumber}/finish", tag = "k2",
    params(
        ("serialNumber" = String, Path, description = "serial number"),
        ("Idempotency-Key" = Option<String>, Header, description = "a repeat returns the first outcome"),
    ),
    request_body = K2FinishBody,
    responses(
        (status = 204, description = "finished"),
        Malformed, Denied, Missing, Closed, Committing,
    ))]
pub async fn k2_finish(
    call: EngineCall,
    path: web::Path<String>,
    request: HttpRequest,
    JsonBody(body): JsonBody<K2FinishBody>,
) -> Result<HttpResponse, ApiError> {
    let (caller, key) = keyed_caller(&request, &call.auth, K2_DIALECT)?;
    let references = body.item_references.as_ref();
    if references.is_some_and(|refs| !(refs.is_null() || refs == &Value::Object(Map::new()))) {
        return Err(ApiError::new(
            crate::error::ErrorCode::NotSupported,
            "itemReferences are not supported; send data fields only",
        ));
    }
    call.engine
        .finish_server_item_summary(&path, &body.data_fields, &caller, key.as_deref())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
