//! What there is: workflows a caller may use, and what is waiting for what.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DIALECT;
use crate::engine::definition::Permissions;
use crate::engine::{Engine, WaitView};
use crate::error::ErrorCode;
use crate::http::errors::ApiError;
use crate::services::rest::{
    Denied, EngineCall, Malformed, Missing, known_workflow, list_limit, query_word,
};
use crate::store::{ListScope, WaitFilter, WaitKind, WaitState};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkflowSummary {
    pub id: String,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FieldInfo {
    /// `string`, `number`, `boolean`, `datetime` or `json`.
    #[serde(rename = "type")]
    pub ty: String,
    #[schema(value_type = Option<Object>)]
    pub default: Option<Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StepInfo {
    pub id: String,
    pub kind: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkflowDetail {
    pub id: String,
    pub name: String,
    pub description: String,
    pub outputs: Vec<String>,
    pub fields: BTreeMap<String, FieldInfo>,
    pub steps: Vec<StepInfo>,
    #[schema(value_type = Object)]
    pub permissions: Permissions,
    /// First 16 hex digits of the definition's SHA-256, stored on each instance.
    pub hash: String,
}

/// Workflows the caller holds some permission on.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows",
    responses((status = 200, body = Vec<WorkflowSummary>), (status = 401, body = ApiError)))]
pub async fn list_workflows(call: EngineCall) -> HttpResponse {
    let caller = call.caller(DIALECT);
    let list: Vec<WorkflowSummary> = call
        .engine
        .workflows()
        .iter()
        .filter(|workflow| caller.access.sees(&caller.name, workflow))
        .map(|workflow| WorkflowSummary {
            id: workflow.id.clone(),
            name: workflow.name.clone(),
            description: workflow.description.clone(),
        })
        .collect();
    HttpResponse::Ok().json(list)
}

/// One workflow: fields with types and defaults, steps, permissions.
#[utoipa::path(get, path = "/api/v1/workflows/{id}", tag = "workflows",
    params(("id" = String, Path, description = "workflow GUID or name")),
    responses((status = 200, body = WorkflowDetail), Denied, Missing))]
pub async fn get_workflow(
    call: EngineCall,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let workflow = known_workflow(&call.engine, &path)?;
    let caller = call.caller(DIALECT);
    if !caller.access.sees(&caller.name, &workflow) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "account `{}` holds no permission on workflow `{}`",
                caller.name, workflow.name
            ),
        ));
    }
    let detail = WorkflowDetail {
        id: workflow.id.clone(),
        name: workflow.name.clone(),
        description: workflow.description.clone(),
        outputs: workflow.outputs.clone(),
        fields: workflow
            .fields
            .iter()
            .map(|(name, def)| {
                let info = FieldInfo {
                    ty: def.ty.as_str().to_string(),
                    default: def.default.clone(),
                };
                (name.clone(), info)
            })
            .collect(),
        steps: workflow
            .steps
            .iter()
            .map(|step| StepInfo {
                id: step.id.clone(),
                kind: step.kind.name().to_string(),
            })
            .collect(),
        permissions: workflow.permissions.clone(),
        hash: workflow.hash.clone(),
    };
    Ok(HttpResponse::Ok().json(detail))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WaitsQuery {
    /// Workflow GUID or name.
    pub workflow: Option<String>,
    /// `server_item`, `custom_event`, `input` or `call`.
    pub kind: Option<String>,
    /// `open` (default), `finished`, `failed`, `expired`, `cancelled` or `all`.
    pub state: Option<String>,
    /// Event name of custom-event waits.
    pub event: Option<String>,
    pub instance: Option<i64>,
    /// Step id the waits belong to.
    pub step: Option<String>,
    /// At most this many, oldest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// What is waiting for what. Callers see the waits of workflows they may `view`.
#[utoipa::path(get, path = "/api/v1/waits", tag = "waits",
    params(WaitsQuery),
    responses((status = 200, body = Vec<WaitView>), Malformed, Denied))]
pub async fn list_waits(
    call: EngineCall,
    query: web::Query<WaitsQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = wait_filter(&call.engine, query.into_inner())?;
    let waits = call
        .engine
        .list_waits(&filter, &call.caller(DIALECT))
        .await?;
    Ok(HttpResponse::Ok().json(waits))
}

fn wait_filter(engine: &Engine, query: WaitsQuery) -> Result<WaitFilter, ApiError> {
    let kind = query
        .kind
        .as_deref()
        .map(|text| {
            query_word(
                "kind",
                text,
                WaitKind::parse,
                "server_item, custom_event, input, call",
            )
        })
        .transpose()?;
    let state_filter = match query.state.as_deref() {
        None => Some(WaitState::Open),
        Some("all") => None,
        Some(text) => Some(query_word(
            "state",
            text,
            WaitState::parse,
            "open, finished, failed, expired, cancelled, all",
        )?),
    };
    // Names are accepted as well as GUIDs; the store knows GUIDs only.
    let workflow_id = query
        .workflow
        .map(|given| known_workflow(engine, &given).map(|workflow| workflow.id.clone()))
        .transpose()?;
    let limit = list_limit(query.limit)?;
    Ok(WaitFilter {
        scope: ListScope::new(workflow_id, limit),
        kind,
        state: state_filter,
        event_name: query.event,
        instance_id: query.instance,
        step_id: query.step,
    })
}
