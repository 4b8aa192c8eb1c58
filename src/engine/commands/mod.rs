//! The engine commands of DESIGN §4. Each is one transaction (retried whole on a
//! serialisation conflict); every dialect maps onto these and nothing else. Commands are
//! grouped by what they act on: starting instances ([`start`]), server items
//! ([`server_items`]), custom events ([`events`]) and running instances ([`instances`]).
//! A command that closes a wait settles it through `Run::settle_wait`, the one
//! settlement path.

mod events;
mod instances;
mod server_items;
mod start;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::definition::Workflow;
use super::interpreter::Run;
use super::{Caller, Engine, EngineError};
use crate::duration::millis;
use crate::store::{DedupClaim, EventScope, InstanceRow};

/// Arguments of [`Engine::start`].
#[derive(Debug, Clone)]
pub struct StartRequest {
    /// GUID or name.
    pub workflow: String,
    pub fields: Map<String, Value>,
    pub folio: Option<String>,
    /// The trigger payload, visible to templates as `event`.
    pub event: Value,
    pub caller: Caller,
    pub idempotency_key: Option<String>,
}

/// Arguments of [`Engine::send_custom_event`].
#[derive(Debug, Clone)]
pub struct CustomEvent {
    pub name: String,
    pub properties: Map<String, Value>,
    pub scope: EventScope,
    pub caller: Caller,
    pub message_id: Option<String>,
    /// How long to buffer when nobody waits; `None` is the configured default.
    pub ttl: Option<Duration>,
}

impl Engine {
    /// When a dedup key claimed at `now` (message id, Idempotency-Key) is forgotten.
    pub(super) fn dedup_expiry(&self, now: i64) -> i64 {
        now.saturating_add(millis(self.config.dedup_window))
    }
}

impl Run<'_> {
    /// The definition version `instance` runs on (see `versions`); an instance whose
    /// version is neither stored nor loaded is an internal error for a command.
    async fn workflow_of(&mut self, instance: &InstanceRow) -> Result<Arc<Workflow>, EngineError> {
        self.engine
            .version_of(self.tx.as_mut(), instance)
            .await?
            .ok_or_else(|| {
                EngineError::Internal(format!(
                    "definition version {} of workflow {} is neither stored nor loaded",
                    instance.definition_hash, instance.workflow_id
                ))
            })
    }

    /// Claims a dedup key (message id, idempotency key); returns the first call's
    /// recorded outcome when this call repeats it, `None` when this call does the work.
    async fn replay_of(&mut self, key: Option<&str>) -> Result<Option<String>, EngineError> {
        let Some(key) = key else {
            return Ok(None);
        };
        let expires_at = self.engine.dedup_expiry(self.now);
        match self.tx.claim_dedup_key(key, self.now, expires_at).await? {
            DedupClaim::Existing(Some(first)) => Ok(Some(first)),
            _ => Ok(None),
        }
    }

    /// Records what a claimed dedup key's call did, for its repeats.
    async fn remember_outcome(
        &mut self,
        key: Option<&str>,
        outcome: &str,
    ) -> Result<(), EngineError> {
        if let Some(key) = key {
            self.tx.set_dedup_outcome(key, outcome).await?;
        }
        Ok(())
    }
}
