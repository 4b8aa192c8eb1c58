//! `send_custom_event`: wakes every instance waiting for a named custom event, or buffers
//! the event when nobody waits. A message id makes a repeat return the first outcome.

use super::CustomEvent;
use crate::engine::access::Right;
use crate::engine::interpreter::Run;
use crate::engine::telemetry::Subject;
use crate::engine::{Engine, EngineError, EventOutcome};

impl Engine {
    /// Wakes every open wait on the event name; buffers the event when nobody waits.
    pub async fn send_custom_event(
        &self,
        event: &CustomEvent,
    ) -> Result<EventOutcome, EngineError> {
        self.command("send_custom_event", Subject::Unknown, || {
            self.send_event_once(event)
        })
        .await
    }

    async fn send_event_once(&self, event: &CustomEvent) -> Result<EventOutcome, EngineError> {
        event
            .caller
            .access
            .require_right(&event.caller.name, Right::SendEvents)?;
        if event.name.trim().is_empty() {
            return Err(EngineError::MalformedRequest(
                "the event name must not be empty".into(),
            ));
        }
        let mut run = Run::begin(self, &event.caller).await?;
        let key = event
            .message_id
            .as_ref()
            .map(|id| format!("event:{}:{id}", event.scope.as_str()));
        if let Some(first) = run.replay_of(key.as_deref()).await? {
            let mut outcome: EventOutcome = serde_json::from_str(&first)
                .map_err(|error| EngineError::Internal(format!("bad event outcome: {error}")))?;
            outcome.duplicate = true;
            run.commit().await?;
            return Ok(outcome);
        }
        let ttl = event.ttl.unwrap_or(self.config.buffer_ttl);
        let published = run
            .publish(&event.name, event.scope, event.properties.clone(), ttl)
            .await?;
        let outcome = EventOutcome {
            woken: published.woken,
            buffered_id: published.buffered_id,
            duplicate: false,
        };
        if key.is_some() {
            let text = serde_json::to_string(&outcome)
                .map_err(|error| EngineError::Internal(error.to_string()))?;
            run.remember_outcome(key.as_deref(), &text).await?;
        }
        run.commit().await?;
        Ok(outcome)
    }
}
