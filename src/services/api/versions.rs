//! Definition versions over the API (admins only): deploy the node's workflows folder,
//! list the stored versions of a workflow, migrate live instances to another version.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::DIALECT;
use crate::engine::Caller;
use crate::engine::clock::rfc3339;
use crate::engine::migration::MigrationRequest;
use crate::error::ErrorCode;
use crate::http::auth::Authenticated;
use crate::http::body::JsonBody;
use crate::http::errors::ApiError;
use crate::services::deploy::{self, DeployError, WorkflowsFolder};
use crate::services::rest::{Denied, EngineCall, Malformed, Missing, known_workflow};

fn admin(auth: &Authenticated) -> Result<Caller, ApiError> {
    let caller = auth.caller(DIALECT);
    if caller.access.has_every_permission() {
        Ok(caller)
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("account `{}` is not an admin", caller.name),
        ))
    }
}

/// Re-reads this node's workflows folder: valid changes become current at once, an
/// invalid folder changes nothing (the problems are in the message).
#[utoipa::path(post, path = "/api/v1/deploy", tag = "versions",
    responses(
        (status = 200, description = "deployed: workflows with their versions, and the review"),
        (status = 501, body = ApiError),
        Malformed, Denied,
    ))]
pub async fn deploy(
    call: EngineCall,
    folder: web::Data<WorkflowsFolder>,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&call.auth)?;
    let dir = folder.0.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotSupported,
            "this node was not started from a workflows folder",
        )
    })?;
    match deploy::deploy(&call.engine, dir).await {
        Ok(report) => {
            tracing::info!(by = %caller.name, workflows = report.workflows.len(), "workflows deployed");
            Ok(HttpResponse::Ok().json(report))
        }
        Err(error @ DeployError::Invalid(_)) => Err(ApiError::malformed(error.to_string())),
        Err(DeployError::Engine(error)) => Err(error.into()),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    pub version: String,
    pub name: String,
    pub file_name: String,
    pub loaded_at: String,
    /// Whether this node runs new instances on it.
    pub current: bool,
}

/// Every stored version of a workflow, oldest first.
#[utoipa::path(get, path = "/api/v1/workflows/{id}/versions", tag = "versions",
    params(("id" = String, Path, description = "workflow GUID or name")),
    responses((status = 200, body = Vec<VersionInfo>), Denied, Missing))]
pub async fn list(call: EngineCall, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    admin(&call.auth)?;
    let workflow = known_workflow(&call.engine, &path)?;
    let rows = call.engine.versions(&workflow.id).await?;
    let list: Vec<VersionInfo> = rows
        .into_iter()
        .map(|row| VersionInfo {
            current: row.hash == workflow.hash,
            version: row.hash,
            name: row.name,
            file_name: row.file_name,
            loaded_at: rfc3339(row.loaded_at),
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrateBody {
    /// A stored version of the workflow, or `current`.
    pub to: String,
    /// Old step id → new step id; unmapped steps keep their id.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// Moves the workflow's live instances to another version, or with `dry_run` says what
/// would happen to each. A refused instance (a wait on a step of another kind, a field
/// that does not convert) refuses the whole migration and changes nothing.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/migrate", tag = "versions",
    params(("id" = String, Path, description = "workflow GUID or name")),
    request_body = MigrateBody,
    responses(
        (status = 200, description = "the plan per instance, applied unless a dry run"),
        Malformed, Denied, Missing,
    ))]
pub async fn migrate(
    call: EngineCall,
    path: web::Path<String>,
    JsonBody(body): JsonBody<MigrateBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = admin(&call.auth)?;
    if body.to.trim().is_empty() {
        return Err(ApiError::malformed(
            "`to` is required: a stored version of the workflow, or `current`",
        ));
    }
    let request = MigrationRequest {
        workflow: path.into_inner(),
        to: body.to,
        map: body.map,
        dry_run: body.dry_run,
        caller,
    };
    let report = call.engine.migrate(&request).await?;
    if !request.dry_run && !report.applied {
        let reasons: Vec<String> = report
            .refused()
            .map(|plan| {
                format!(
                    "instance {}: {}",
                    plan.instance_id,
                    plan.refused.as_deref().unwrap_or_default()
                )
            })
            .collect();
        return Err(ApiError::malformed(format!(
            "migration refused, nothing changed: {}",
            reasons.join("; ")
        )));
    }
    Ok(HttpResponse::Ok().json(report))
}
