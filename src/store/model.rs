//! Row types shared by every store backend.
//!
//! Timestamps are Unix milliseconds. JSON columns are `serde_json` values; the engine owns
//! their meaning, the store only persists them.

use serde::Serialize;
use serde_json::{Map, Value};

/// Lifecycle of a workflow instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    Running,
    Waiting,
    Completed,
    Failed,
    Cancelled,
}

impl InstanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "running" => Self::Running,
            "waiting" => Self::Waiting,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// What a wait row is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaitKind {
    ServerItem,
    CustomEvent,
    Input,
    Call,
}

impl WaitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServerItem => "server_item",
            Self::CustomEvent => "custom_event",
            Self::Input => "input",
            Self::Call => "call",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "server_item" => Self::ServerItem,
            "custom_event" => Self::CustomEvent,
            "input" => Self::Input,
            "call" => Self::Call,
            _ => return None,
        })
    }
}

/// A wait moves out of `Open` exactly once, by one conditional update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaitState {
    Open,
    Finished,
    Failed,
    Expired,
    Cancelled,
}

impl WaitState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Finished => "finished",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "open" => Self::Open,
            "finished" => Self::Finished,
            "failed" => Self::Failed,
            "expired" => Self::Expired,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }
}

/// Custom events are either external (sendCustomEvent, REST) or internal (`emit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventScope {
    External,
    Internal,
}

impl EventScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::External => "external",
            Self::Internal => "internal",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "external" => Self::External,
            "internal" => Self::Internal,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewInstance {
    pub workflow_id: String,
    pub definition_hash: String,
    pub folio: String,
    pub status: InstanceStatus,
    pub fields: Map<String, Value>,
    /// Opaque to the store: with a queue key, a sealed `{"$sealed": …}` object
    /// (`engine::sealed`).
    pub trigger_event: Value,
    pub now: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceRow {
    pub id: i64,
    pub workflow_id: String,
    pub definition_hash: String,
    pub folio: String,
    pub status: InstanceStatus,
    pub current_step: Option<String>,
    pub fields: Map<String, Value>,
    pub trigger_event: Value,
    pub reply: Option<Value>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewWait {
    pub instance_id: i64,
    pub step_id: String,
    pub kind: WaitKind,
    pub event_name: Option<String>,
    pub scope: Option<EventScope>,
    pub deadline: i64,
    pub now: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaitRow {
    pub id: i64,
    pub instance_id: i64,
    pub step_id: String,
    pub kind: WaitKind,
    pub event_name: Option<String>,
    pub scope: Option<EventScope>,
    pub state: WaitState,
    pub deadline: i64,
    pub created_at: i64,
    pub closed_at: Option<i64>,
}

/// Filter for listing waits; every `None` matches everything. Results are ordered by id.
#[derive(Debug, Clone, Default)]
pub struct WaitFilter {
    pub workflow_id: Option<String>,
    pub kind: Option<WaitKind>,
    pub state: Option<WaitState>,
    pub event_name: Option<String>,
    pub instance_id: Option<i64>,
    /// Only instances of these workflows (what a caller may view); `None` is all.
    pub workflow_ids: Option<Vec<String>>,
    pub limit: i64,
}

/// Filter for listing instances, newest first; every `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct InstanceFilter {
    pub workflow_id: Option<String>,
    pub status: Option<InstanceStatus>,
    /// Only these workflows (what a caller may view); `None` is all.
    pub workflow_ids: Option<Vec<String>>,
    pub limit: i64,
}

/// What operators watch, counted in one transaction: the gauges of `/metrics` and the
/// admin overview. Kinds and states with no rows are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub open_waits: Vec<(WaitKind, i64)>,
    pub inbound: Vec<(InboundState, i64)>,
    /// Outbound calls not yet settled (pending or running).
    pub outbox_backlog: i64,
    /// Deadline of the oldest open wait already due at `now`: how far the timer lags.
    pub oldest_overdue_deadline: Option<i64>,
    /// Next attempt of the oldest queued inbound event already due: how far runners lag.
    pub oldest_due_inbound: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewHistory {
    pub instance_id: i64,
    pub at: i64,
    pub kind: String,
    pub step_id: Option<String>,
    pub wait_id: Option<i64>,
    pub actor: String,
    pub dialect: String,
    pub source: Option<String>,
    pub message_id: Option<String>,
    pub detail: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    pub id: i64,
    pub instance_id: i64,
    pub at: i64,
    pub kind: String,
    pub step_id: Option<String>,
    pub wait_id: Option<i64>,
    pub actor: String,
    pub dialect: String,
    pub source: Option<String>,
    pub message_id: Option<String>,
    pub detail: Value,
}

#[derive(Debug, Clone)]
pub struct NewBufferedEvent {
    pub name: String,
    pub scope: EventScope,
    pub properties: Map<String, Value>,
    pub actor: String,
    pub now: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct BufferedEventRow {
    pub id: i64,
    pub name: String,
    pub scope: EventScope,
    pub properties: Map<String, Value>,
    pub actor: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Result of claiming an idempotency / message-id key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DedupClaim {
    /// The key was free (or expired) and now belongs to this transaction.
    Claimed,
    /// A committed transaction owns the key; its recorded outcome, if it set one.
    Existing(Option<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    /// The request of a `call` step.
    Call,
    /// The `notify` request of a `server_event` step.
    Notify,
}

impl OutboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Notify => "notify",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "call" => Self::Call,
            "notify" => Self::Notify,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    Pending,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "done" => Self::Done,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewOutbox {
    pub instance_id: i64,
    pub wait_id: i64,
    pub kind: OutboxKind,
    pub request: Value,
    pub now: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub instance_id: i64,
    pub wait_id: i64,
    pub kind: OutboxKind,
    pub request: Value,
    pub state: OutboxState,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
}

/// An account that may authenticate (HTTP Basic, SOAP username/password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub name: String,
    /// argon2id PHC string; never the password.
    pub password_hash: String,
    pub admin: bool,
    /// Right names, sorted, without duplicates (`send_events`, …).
    pub rights: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Lifecycle of an inbound queue row: `queued` → `running` (leased) → `done`, or back to
/// `queued` after a failed attempt, or `dead` once its lifetime is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InboundState {
    Queued,
    Running,
    Done,
    Dead,
}

impl InboundState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "done" => Self::Done,
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewInbound {
    pub workflow_id: String,
    /// `sharepoint`, `custom_data`, `unstructured`.
    pub kind: String,
    pub payload: Vec<u8>,
    pub encrypted: bool,
    pub now: i64,
    /// `received + max_lifetime`: past it, a failing event is dead-lettered.
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRow {
    pub id: i64,
    pub workflow_id: String,
    pub kind: String,
    pub payload: Vec<u8>,
    pub encrypted: bool,
    pub state: InboundState,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub expires_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub instance_id: Option<i64>,
    pub received_at: i64,
    pub updated_at: i64,
}

/// Filter for listing inbound rows, newest first.
#[derive(Debug, Clone, Default)]
pub struct InboundFilter {
    pub state: Option<InboundState>,
    pub workflow_id: Option<String>,
    /// Only rows of these workflows (what a caller may view); `None` is all.
    pub workflow_ids: Option<Vec<String>>,
    pub limit: i64,
}

/// Where a leased inbound row goes next (used by the backends).
#[derive(Debug, Clone, Copy)]
pub(crate) struct InboundSettlement<'a> {
    pub state: InboundState,
    pub next_attempt_at: Option<i64>,
    pub error: Option<&'a str>,
    pub instance_id: Option<i64>,
}

impl<'a> InboundSettlement<'a> {
    pub(crate) fn done(instance_id: Option<i64>) -> Self {
        Self {
            state: InboundState::Done,
            next_attempt_at: None,
            error: None,
            instance_id,
        }
    }

    pub(crate) fn postponed(next_attempt_at: i64, error: &'a str) -> Self {
        Self {
            state: InboundState::Queued,
            next_attempt_at: Some(next_attempt_at),
            error: Some(error),
            instance_id: None,
        }
    }

    pub(crate) fn dead(error: &'a str) -> Self {
        Self {
            state: InboundState::Dead,
            next_attempt_at: None,
            error: Some(error),
            instance_id: None,
        }
    }
}

/// One stored version of a workflow definition: the file as it was loaded, addressed by
/// the hash its instances record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionRow {
    pub hash: String,
    pub workflow_id: String,
    pub name: String,
    /// The file's name when it was loaded (for messages; not used to find it).
    pub file_name: String,
    pub source: Vec<u8>,
    pub loaded_at: i64,
}

/// Instances that have not ended, counted by the version they run on and the step they
/// stand at (what a deploy or a migration would affect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCount {
    pub definition_hash: String,
    pub current_step: Option<String>,
    pub instances: i64,
}
