//! The durable inbound queue (DESIGN §6 "Inbound queue"): remote events are stored first
//! and acknowledged after that commit, then delivered by runners on any node.
//!
//! A runner leases due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and delivers each:
//! `start` starts an instance with the event (idempotency key `inbound:{id}`), `signal`
//! sends an internal custom event (message id `inbound:{id}`). Both keys make a second
//! delivery of the same row a no-op that returns the first outcome, so a node that dies
//! after delivering but before settling the row causes no double start when another node
//! reclaims it. A delivery whose command fails (the workflow is not loaded, its fields do
//! not fit, the store is away, …) is postponed by the workflow's `retry_delay` (default
//! 5 s) until `received + max_lifetime` (default 120 s), then dead-lettered; `retry`
//! puts a dead letter back. An instance that starts and then fails is a delivered event:
//! its failure is the instance's, visible there.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::access::Action;
use super::clock::rfc3339;
use super::definition::Workflow;
use super::telemetry::{Subject, observe};
use super::{Caller, CustomEvent, Engine, EngineError, StartRequest};
use crate::duration::{millis, parse_duration};
use crate::store::{
    DedupClaim, EventScope, InboundFilter, InboundRow, InboundState, NewInbound, Tx,
};

pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(120);

/// What a queued event does when delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum InboundAction {
    Start,
    /// `name` is a template over `event`, rendered at delivery.
    Signal {
        name: String,
    },
}

/// The stored payload of a queued event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundPayload {
    #[serde(flatten)]
    pub action: InboundAction,
    /// The event workflows see as `event`.
    pub event: Value,
    /// Who sent it (account or `sharepoint`/`anonymous`), for the audit trail.
    pub sender: String,
}

/// One event to queue for one workflow.
#[derive(Debug, Clone)]
pub struct InboundRequest {
    pub workflow: std::sync::Arc<Workflow>,
    /// `sharepoint`, `sharepoint_webhook`, `custom_data`, `unstructured`: also the dialect
    /// in history.
    pub kind: String,
    pub payload: InboundPayload,
    /// The client's `Idempotency-Key`: a resent request returns the first event's id and
    /// queues nothing, so a client may resend whatever it saw no answer for.
    pub idempotency_key: Option<String>,
    /// A key for events that only say "something changed" (SharePoint list webhooks): it
    /// holds only while the first event it queued still waits, undelivered, in the queue.
    /// An identical event then adds nothing, since the delivery still to come will see
    /// the change; once that delivery has begun, the same event is news and is queued.
    pub coalesce_key: Option<String>,
}

/// A queue row as the API and CLI show it (without the payload).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboundView {
    pub id: i64,
    pub workflow_id: String,
    pub kind: String,
    pub state: InboundState,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub expires_at: String,
    pub last_error: Option<String>,
    pub instance_id: Option<i64>,
    pub received_at: String,
    pub updated_at: String,
}

impl From<InboundRow> for InboundView {
    fn from(row: InboundRow) -> Self {
        Self {
            id: row.id,
            workflow_id: row.workflow_id,
            kind: row.kind,
            state: row.state,
            attempts: row.attempts,
            next_attempt_at: rfc3339(row.next_attempt_at),
            expires_at: rfc3339(row.expires_at),
            last_error: row.last_error,
            instance_id: row.instance_id,
            received_at: rfc3339(row.received_at),
            updated_at: rfc3339(row.updated_at),
        }
    }
}

/// The stored form of a request's coalesce key, per workflow like idempotency keys.
fn coalesce_key(request: &InboundRequest) -> Option<String> {
    request
        .coalesce_key
        .as_ref()
        .map(|key| format!("coalesced:{}:{key}", request.workflow.id))
}

/// `[remote_events] retry_delay` and `max_lifetime` of a workflow, or the defaults.
pub fn queue_policy(workflow: &Workflow) -> (Duration, Duration) {
    let setting = |key: &str, default: Duration| {
        workflow
            .remote_events
            .as_ref()
            .and_then(|table| table.get(key))
            .and_then(toml::Value::as_str)
            .and_then(|text| parse_duration(text).ok())
            .unwrap_or(default)
    };
    (
        setting("retry_delay", DEFAULT_RETRY_DELAY),
        setting("max_lifetime", DEFAULT_MAX_LIFETIME),
    )
}

impl Engine {
    /// Stores the events in one transaction; returns their ids once committed.
    pub async fn enqueue_remote_events(
        &self,
        requests: &[InboundRequest],
    ) -> Result<Vec<i64>, EngineError> {
        observe("enqueue_remote_events", Subject::Unknown, async move {
            let mut tx = self.store.begin().await?;
            let now = self.now_ms();
            let mut ids = Vec::with_capacity(requests.len());
            for request in requests {
                if let Some(id) = self.coalesced(&mut *tx, request, now).await? {
                    ids.push(id);
                    continue;
                }
                let key = request
                    .idempotency_key
                    .as_ref()
                    .map(|key| format!("queued:{}:{key}", request.workflow.id));
                if let Some(key) = &key
                    && let DedupClaim::Existing(first) =
                        tx.claim_dedup_key(key, now, self.dedup_expiry(now)).await?
                {
                    let id = first.and_then(|id| id.parse().ok()).ok_or_else(|| {
                        EngineError::Internal(format!("idempotency key {key} has no event id"))
                    })?;
                    ids.push(id);
                    continue;
                }
                let (_, max_lifetime) = queue_policy(&request.workflow);
                let plain = serde_json::to_vec(&request.payload)
                    .map_err(|error| EngineError::Internal(format!("payload: {error}")))?;
                let (payload, encrypted) = match &self.payload_cipher {
                    Some(cipher) => (cipher.seal(&plain), true),
                    None => (plain, false),
                };
                let new = NewInbound {
                    workflow_id: request.workflow.id.clone(),
                    kind: request.kind.clone(),
                    payload,
                    encrypted,
                    now,
                    expires_at: now.saturating_add(millis(max_lifetime)),
                };
                let id = tx.insert_inbound(&new).await?;
                for key in key.iter().chain(coalesce_key(request).as_ref()) {
                    tx.set_dedup_outcome(key, &id.to_string()).await?;
                }
                ids.push(id);
            }
            tx.commit().await?;
            Ok(ids)
        })
        .await
    }

    /// The queued, undelivered event `request`'s coalesce key names, if any; otherwise
    /// the key is claimed (or taken over) for the event about to be queued.
    async fn coalesced(
        &self,
        tx: &mut dyn Tx,
        request: &InboundRequest,
        now: i64,
    ) -> Result<Option<i64>, EngineError> {
        let Some(key) = coalesce_key(request) else {
            return Ok(None);
        };
        let DedupClaim::Existing(first) = tx
            .claim_dedup_key(&key, now, self.dedup_expiry(now))
            .await?
        else {
            return Ok(None);
        };
        let Some(id) = first.and_then(|id| id.parse::<i64>().ok()) else {
            return Ok(None);
        };
        let waiting = tx
            .get_inbound(id)
            .await?
            .is_some_and(|row| row.state == InboundState::Queued);
        Ok(waiting.then_some(id))
    }

    /// Leases due rows and delivers them; returns how many were handled.
    pub async fn run_inbound_once(&self) -> Result<usize, EngineError> {
        let now = self.now_ms();
        let lease = millis(self.config.queue.lease);
        let rows = {
            let mut tx = self.store.begin().await?;
            let rows = tx
                .claim_inbound(
                    now,
                    now.saturating_add(lease),
                    &self.node_id,
                    self.config.queue.runners as i64,
                )
                .await?;
            tx.commit().await?;
            rows
        };
        let count = rows.len();
        let deliveries = rows.into_iter().map(|row| async move {
            if let Err(error) = self.settle_inbound(row).await {
                tracing::warn!(%error, "could not settle an inbound event; its lease will run out and it will be retried");
            }
        });
        futures_util::future::join_all(deliveries).await;
        Ok(count)
    }

    async fn settle_inbound(&self, row: InboundRow) -> Result<(), EngineError> {
        let outcome = self.deliver_inbound(&row).await;
        let now = self.now_ms();
        let mut tx = self.store.begin().await?;
        let owned = match &outcome {
            Ok(instance_id) => {
                tx.finish_inbound(row.id, &self.node_id, *instance_id, now)
                    .await?
            }
            Err(why) => {
                let retry_delay = self
                    .workflows()
                    .get(&row.workflow_id)
                    .map_or(DEFAULT_RETRY_DELAY, |w| queue_policy(w).0);
                let next = now.saturating_add(millis(retry_delay));
                if next > row.expires_at {
                    tracing::warn!(id = row.id, error = %why, "inbound event dead-lettered");
                    tx.dead_letter_inbound(row.id, &self.node_id, why, now)
                        .await?
                } else {
                    tracing::info!(id = row.id, error = %why, "inbound event postponed");
                    tx.postpone_inbound(row.id, &self.node_id, next, why, now)
                        .await?
                }
            }
        };
        tx.commit().await?;
        if !owned {
            tracing::warn!(
                id = row.id,
                "inbound event lease was lost before it was settled"
            );
        }
        Ok(())
    }

    /// Delivers one row; `Ok(instance)` for a started instance, `Err` says why not.
    async fn deliver_inbound(&self, row: &InboundRow) -> Result<Option<i64>, String> {
        let plain = match (row.encrypted, &self.payload_cipher) {
            (false, _) => std::borrow::Cow::Borrowed(&row.payload),
            (true, Some(cipher)) => std::borrow::Cow::Owned(cipher.open(&row.payload)?),
            (true, None) => {
                return Err("the payload is encrypted and no queue key is configured".into());
            }
        };
        let payload: InboundPayload = serde_json::from_slice(&plain)
            .map_err(|error| format!("unreadable payload: {error}"))?;
        let key = format!("inbound:{}", row.id);
        let mut caller = Caller::new(payload.sender.clone(), row.kind.clone());
        caller.message_id = Some(key.clone());
        // The original request's address is not kept with the row; the history names the
        // node that delivered it instead.
        caller.source = Some(self.node_source());
        let describe = |error: EngineError| format!("{}: {error}", error.code());
        match payload.action {
            InboundAction::Start => self
                .start(StartRequest {
                    workflow: row.workflow_id.clone(),
                    fields: Map::new(),
                    folio: None,
                    event: payload.event,
                    caller,
                    idempotency_key: Some(key),
                })
                .await
                .map(|outcome| Some(outcome.instance.id))
                .map_err(describe),
            InboundAction::Signal { name } => {
                let name = self
                    .templates
                    .render(&name, &json!({"event": payload.event}))
                    .map_err(|why| format!("the signal name template failed: {why}"))?;
                let properties = payload.event.as_object().cloned().unwrap_or_default();
                self.send_custom_event(&CustomEvent {
                    name,
                    properties,
                    scope: EventScope::Internal,
                    caller,
                    message_id: Some(key),
                    ttl: None,
                })
                .await
                .map(|_| None)
                .map_err(describe)
            }
        }
    }

    /// Lists queue rows; a caller without every permission sees only the workflows it
    /// may view.
    pub async fn list_inbound(
        &self,
        filter: &InboundFilter,
        caller: &Caller,
    ) -> Result<Vec<InboundView>, EngineError> {
        self.list_views(filter, caller, InboundView::from).await
    }

    /// Puts a dead letter back in the queue, due now, with a fresh lifetime. Needs the
    /// `start` permission on its workflow (replaying it starts an instance).
    pub async fn retry_inbound(
        &self,
        id: i64,
        caller: &Caller,
    ) -> Result<InboundView, EngineError> {
        observe("retry_inbound", Subject::Unknown, async move {
            let mut tx = self.store.begin().await?;
            let row = tx
                .get_inbound(id)
                .await?
                .ok_or_else(|| EngineError::MalformedRequest(format!("no inbound event {id}")))?;
            self.authorize(caller, &row.workflow_id, Action::Start)?;
            let max_lifetime = self
                .workflows()
                .get(&row.workflow_id)
                .map_or(DEFAULT_MAX_LIFETIME, |w| queue_policy(w).1);
            let now = self.now_ms();
            if !tx
                .requeue_inbound(id, now, now.saturating_add(millis(max_lifetime)))
                .await?
            {
                return Err(EngineError::ItemNotOpen(format!(
                    "inbound event {id} is {}, not dead",
                    row.state.as_str()
                )));
            }
            let row = tx
                .get_inbound(id)
                .await?
                .ok_or_else(|| EngineError::Internal(format!("inbound event {id} vanished")))?;
            tx.commit().await?;
            Ok(row.into())
        })
        .await
    }

    /// Gives back this node's leases (graceful shutdown), so another node takes over now.
    pub async fn release_inbound_leases(&self) -> Result<u64, EngineError> {
        let mut tx = self.store.begin().await?;
        let released = tx
            .release_inbound_leases(&self.node_id, self.now_ms())
            .await?;
        tx.commit().await?;
        Ok(released)
    }
}
