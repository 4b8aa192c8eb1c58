//! What commands return: plain, serialisable views of stored rows, with timestamps in
//! RFC 3339 and serials formatted for the caller.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::clock::rfc3339;
use super::serial::SerialCodec;
use crate::store::{
    EventScope, HistoryRow, InstanceRow, InstanceStatus, WaitKind, WaitRow, WaitState,
};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InstanceView {
    pub id: i64,
    pub workflow_id: String,
    /// The definition version the instance runs on (the hash of its workflow file).
    pub version: String,
    pub folio: String,
    pub status: InstanceStatus,
    pub current_step: Option<String>,
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    /// What a `reply` step set, for synchronous triggers.
    #[schema(value_type = Option<Object>)]
    pub reply: Option<Value>,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Open waits (at most one in practice).
    pub waits: Vec<WaitView>,
}

impl InstanceView {
    pub(crate) fn new(row: InstanceRow, waits: Vec<WaitView>) -> Self {
        Self {
            id: row.id,
            workflow_id: row.workflow_id,
            version: row.definition_hash,
            folio: row.folio,
            status: row.status,
            current_step: row.current_step,
            fields: row.fields,
            reply: row.reply,
            error: row.error,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
            waits,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WaitView {
    pub id: i64,
    pub instance_id: i64,
    pub step: String,
    pub kind: WaitKind,
    /// Set for server items.
    pub serial: Option<String>,
    pub event_name: Option<String>,
    pub scope: Option<EventScope>,
    pub state: WaitState,
    pub deadline: String,
    pub deadline_ms: i64,
    pub created_at: String,
    /// The item's capability URL (`callback_url = true`; `engine::callback`), shown to
    /// callers who may view the workflow, never logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

impl WaitView {
    pub(crate) fn new(row: WaitRow, serials: &SerialCodec) -> Self {
        Self {
            serial: (row.kind == WaitKind::ServerItem)
                .then(|| serials.format(row.instance_id, row.id)),
            id: row.id,
            instance_id: row.instance_id,
            step: row.step_id,
            kind: row.kind,
            event_name: row.event_name,
            scope: row.scope,
            state: row.state,
            deadline: rfc3339(row.deadline),
            deadline_ms: row.deadline,
            created_at: rfc3339(row.created_at),
            callback_url: None,
        }
    }
}

/// A server item as K2's `OpenServerItem` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServerItemView {
    pub serial: String,
    pub instance_id: i64,
    pub workflow_id: String,
    pub folio: String,
    pub step: String,
    pub state: WaitState,
    pub deadline: String,
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

impl ServerItemView {
    pub(crate) fn new(wait: WaitRow, instance: InstanceRow, serials: &SerialCodec) -> Self {
        Self {
            serial: serials.format(wait.instance_id, wait.id),
            instance_id: instance.id,
            workflow_id: instance.workflow_id,
            folio: instance.folio,
            step: wait.step_id,
            state: wait.state,
            deadline: rfc3339(wait.deadline),
            fields: instance.fields,
        }
    }
}

/// Result of `send_custom_event`; stored as the outcome of its message id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventOutcome {
    /// Instances woken, in the order they were woken.
    pub woken: Vec<i64>,
    /// Set when nobody waited and the event was buffered.
    pub buffered_id: Option<i64>,
    /// True when this is a repeat of an earlier message id (nothing was done again).
    #[serde(default)]
    pub duplicate: bool,
}

/// Result of finishing a server item.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FinishOutcome {
    pub instance: InstanceView,
    /// True when an earlier call with the same idempotency key did the work.
    pub replayed: bool,
}

/// An instance's id and status, for callers that answer without its view (K2 REST,
/// `ServerItemService`, callback URLs): a command's commit then reads nothing more, where
/// a view costs a query of the instance's open waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceSummary {
    pub id: i64,
    pub status: InstanceStatus,
}

/// Result of finishing a server item, for a caller that answers without the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinishSummary {
    pub instance: InstanceSummary,
    /// True when an earlier call with the same idempotency key did the work.
    pub replayed: bool,
}

/// Result of starting an instance.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StartOutcome {
    pub instance: InstanceView,
    /// True when an earlier call with the same idempotency key started it.
    pub replayed: bool,
}

/// One audit row of an instance's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryView {
    pub id: i64,
    pub at: String,
    /// `started`, `wait_opened`, `server_item_finished`, `event_received`, `completed`, …
    pub kind: String,
    pub step: Option<String>,
    pub wait_id: Option<i64>,
    /// The account (or `holdpoint` for the engine itself).
    pub actor: String,
    /// `api`, `k2`, `soap`, `engine`, `cli`, …
    pub dialect: String,
    /// Remote address of the caller, when it came over the network.
    pub source: Option<String>,
    /// Idempotency key or message id the caller sent.
    pub message_id: Option<String>,
    #[schema(value_type = Object)]
    pub detail: Value,
}

impl From<HistoryRow> for HistoryView {
    fn from(row: HistoryRow) -> Self {
        Self {
            id: row.id,
            at: rfc3339(row.at),
            kind: row.kind,
            step: row.step_id,
            wait_id: row.wait_id,
            actor: row.actor,
            dialect: row.dialect,
            source: row.source,
            message_id: row.message_id,
            detail: row.detail,
        }
    }
}
