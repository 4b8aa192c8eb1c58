//! The inbound queue over the API: what was received, what is postponed, what is dead,
//! and putting a dead letter back. Callers see the rows of the workflows they may `view`
//! and replay those they may `start`; admins see and replay everything.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::DIALECT;
use crate::engine::inbound::InboundView;
use crate::http::errors::ApiError;
use crate::services::rest::{Denied, EngineCall, Malformed, list_limit, query_word};
use crate::store::{InboundFilter, InboundState, ListScope};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InboundQuery {
    /// `queued`, `running`, `done` or `dead`; all when absent.
    pub state: Option<String>,
    /// Workflow GUID.
    pub workflow: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// Inbound events of the workflows you may view, newest first.
#[utoipa::path(get, path = "/api/v1/inbound-events", tag = "inbound events",
    params(InboundQuery),
    responses((status = 200, body = Vec<InboundView>), Malformed, Denied))]
pub async fn list(
    call: EngineCall,
    query: web::Query<InboundQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let wanted = query
        .state
        .as_deref()
        .map(|text| {
            query_word(
                "state",
                text,
                InboundState::parse,
                "queued, running, done, dead",
            )
        })
        .transpose()?;
    let limit = list_limit(query.limit)?;
    let filter = InboundFilter {
        scope: ListScope::new(query.workflow, limit),
        state: wanted,
    };
    let rows = call
        .engine
        .list_inbound(&filter, &call.caller(DIALECT))
        .await?;
    Ok(HttpResponse::Ok().json(rows))
}

/// Put a dead letter back in the queue, due now, with a fresh lifetime. Needs `start`.
#[utoipa::path(post, path = "/api/v1/inbound-events/{id}/retry", tag = "inbound events",
    params(("id" = i64, Path, description = "inbound event id")),
    responses(
        (status = 200, body = InboundView),
        (status = 400, body = ApiError, description = "no such event"),
        (status = 409, body = ApiError, description = "item_not_open: the event is not dead"),
        Denied,
    ))]
pub async fn retry(call: EngineCall, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id: i64 = path
        .parse()
        .map_err(|_| ApiError::malformed(format!("`{path}` is not an inbound event id")))?;
    let row = call.engine.retry_inbound(id, &call.caller(DIALECT)).await?;
    Ok(HttpResponse::Ok().json(row))
}
