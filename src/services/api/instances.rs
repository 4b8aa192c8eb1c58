//! Starting, reading and cancelling instances.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{DIALECT, instance_id};
use crate::engine::{HistoryView, InstanceView, StartOutcome, StartRequest};
use crate::http::body::JsonBody;
use crate::http::errors::ApiError;
use crate::services::rest::{
    Closed, Committing, Denied, EngineCall, Malformed, Missing, keyed_caller,
};

/// Body of a start request; both members are optional.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// Initial data fields; declared names only, converted to their types.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    /// K2 folio: a caller-chosen label; defaults to the workflow name.
    pub folio: Option<String>,
}

/// Start an instance; it runs to its first wait. Needs the workflow's `start` permission.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/instances", tag = "instances",
    params(
        ("id" = String, Path, description = "workflow GUID or name"),
        ("Idempotency-Key" = Option<String>, Header, description = "a repeat returns the first instance"),
    ),
    request_body = StartBody,
    responses(
        (status = 201, body = StartOutcome, description = "started"),
        (status = 200, body = StartOutcome, description = "a repeat of an earlier Idempotency-Key"),
        Malformed, Denied, Missing, Committing,
    ))]
pub async fn start(
    call: EngineCall,
    path: web::Path<String>,
    request: HttpRequest,
    JsonBody(body): JsonBody<StartBody>,
) -> Result<HttpResponse, ApiError> {
    let (caller, key) = keyed_caller(&request, &call.auth, DIALECT)?;
    let outcome = call
        .engine
        .start(StartRequest {
            workflow: path.into_inner(),
            fields: body.fields,
            folio: body.folio,
            event: json!({}),
            caller,
            idempotency_key: key,
        })
        .await?;
    let mut response = if outcome.replayed {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    };
    Ok(response
        .insert_header((
            header::LOCATION,
            format!("/api/v1/instances/{}", outcome.instance.id),
        ))
        .json(outcome))
}

/// An instance with its fields and open waits. Needs `view`.
#[utoipa::path(get, path = "/api/v1/instances/{id}", tag = "instances",
    params(("id" = i64, Path, description = "instance id (K2 ProcInstID)")),
    responses((status = 200, body = InstanceView), Denied, Missing))]
pub async fn get(call: EngineCall, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = instance_id(&path)?;
    let view = call.engine.get(id, &call.caller(DIALECT)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The audit trail: every transition and callback, with account, address, dialect and
/// message id. Needs `view`.
#[utoipa::path(get, path = "/api/v1/instances/{id}/history", tag = "instances",
    params(("id" = i64, Path, description = "instance id")),
    responses((status = 200, body = Vec<HistoryView>), Denied, Missing))]
pub async fn history(call: EngineCall, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = instance_id(&path)?;
    let rows = call.engine.history(id, &call.caller(DIALECT)).await?;
    let views: Vec<HistoryView> = rows.into_iter().map(HistoryView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Cancel a running or waiting instance; its waits close as `cancelled`. Needs `start`.
#[utoipa::path(post, path = "/api/v1/instances/{id}/cancel", tag = "instances",
    params(("id" = i64, Path, description = "instance id")),
    responses((status = 200, body = InstanceView), Denied, Missing, Closed))]
pub async fn cancel(call: EngineCall, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = instance_id(&path)?;
    let view = call.engine.cancel(id, &call.caller(DIALECT)).await?;
    Ok(HttpResponse::Ok().json(view))
}
