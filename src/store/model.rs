//! Row types shared by every store backend.
//!
//! Timestamps are Unix milliseconds. JSON columns are `serde_json` values; the engine owns
//! their meaning, the store only persists them.

use serde::Serialize;
use serde_json::{Map, Value};

/// A closed set of words stored in a text column: the enum, and its word both ways
/// (`as_str` to store it, `parse` to read it back), each word written once, and `ALL`
/// its variants in order; serialised as the same word.
macro_rules! words {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($(#[$doc:meta])* $variant:ident = $word:literal,)* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$doc])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word,)*
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($word => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

words! {
    /// Lifecycle of a workflow instance.
    #[derive(utoipa::ToSchema)]
    pub enum InstanceStatus {
        Running = "running", Waiting = "waiting", Completed = "completed",
        Failed = "failed", Cancelled = "cancelled",
    }
}

impl InstanceStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

words! {
    /// What a wait row is waiting for.
    #[derive(utoipa::ToSchema)]
    pub enum WaitKind {
        ServerItem = "server_item", CustomEvent = "custom_event",
        Input = "input", Call = "call",
    }
}

words! {
    /// A wait moves out of `Open` exactly once, by one conditional update.
    #[derive(utoipa::ToSchema)]
    pub enum WaitState {
        Open = "open", Finished = "finished", Failed = "failed",
        Expired = "expired", Cancelled = "cancelled",
    }
}

words! {
    /// Custom events are either external (sendCustomEvent, REST) or internal (`emit`).
    #[derive(utoipa::ToSchema)]
    pub enum EventScope { External = "external", Internal = "internal", }
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

/// What every listing narrows by: the workflow asked for, the workflows the caller may
/// view, and how many rows at most. Every `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct ListScope {
    pub workflow_id: Option<String>,
    /// Only rows of these workflows (what a caller may view); `None` is all.
    pub workflow_ids: Option<Vec<String>>,
    pub limit: i64,
}

impl ListScope {
    /// At most `limit` rows of `workflow_id` (every workflow when `None`); the engine
    /// narrows it to what the caller may view.
    pub fn new(workflow_id: Option<String>, limit: i64) -> Self {
        Self {
            workflow_id,
            workflow_ids: None,
            limit,
        }
    }
}

/// Filter for listing waits; every `None` matches everything. Results are ordered by id.
#[derive(Debug, Clone, Default)]
pub struct WaitFilter {
    pub scope: ListScope,
    pub kind: Option<WaitKind>,
    pub state: Option<WaitState>,
    pub event_name: Option<String>,
    pub instance_id: Option<i64>,
    pub step_id: Option<String>,
}

/// Filter for listing instances, newest first; every `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct InstanceFilter {
    pub scope: ListScope,
    pub status: Option<InstanceStatus>,
    /// The step instances stand at (`current_step`).
    pub step_id: Option<String>,
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

words! {
    pub enum OutboxKind {
        /// The request of a `call` step.
        Call = "call",
        /// The `notify` request of a `server_event` step.
        Notify = "notify",
    }
}

words! {
    pub enum OutboxState {
        Pending = "pending", Running = "running", Done = "done",
        Failed = "failed", Cancelled = "cancelled",
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

words! {
    /// Lifecycle of an inbound queue row: `queued` → `running` (leased) → `done`, or back to
    /// `queued` after a failed attempt, or `dead` once its lifetime is over.
    #[derive(utoipa::ToSchema)]
    pub enum InboundState { Queued = "queued", Running = "running", Done = "done", Dead = "dead", }
}

#[derive(Debug, Clone)]
pub struct NewInbound {
    pub workflow_id: String,
    /// `sharepoint`, `sharepoint_webhook`, `custom_data`, `unstructured`.
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
    pub scope: ListScope,
    pub state: Option<InboundState>,
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

/// One step of a workflow as the map draws it: its open waits, how many of those are
/// overdue, and the instances that failed there. Steps with none of them are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepCount {
    pub step_id: String,
    pub waiting: i64,
    pub overdue: i64,
    pub failed: i64,
}

/// Open waits falling due in one hour of the outlook: `hour` 0 is the coming hour
/// (deadlines in `(now, now + 1 h]`), -1 everything overdue already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueCount {
    pub hour: i64,
    pub waits: i64,
}
