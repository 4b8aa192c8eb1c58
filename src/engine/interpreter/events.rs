//! Custom events inside a transaction: waking the instances that wait for one, buffering
//! it when nobody does, and putting its properties into an instance's fields. Internal
//! events a step emits are published when the command commits, so a chain of workflows
//! waking each other is one transaction.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::settle::{Settled, Settlement};
use super::{EXTRA_PROPERTIES_FIELD, Run, WaitOutcome};
use crate::duration::millis;
use crate::engine::EngineError;
use crate::engine::definition::Workflow;
use crate::engine::fields::FieldType;
use crate::store::{EventScope, InstanceRow, NewBufferedEvent, WaitState};

/// Who a published event reached.
pub(crate) struct Published {
    /// Instances woken, in the order they were woken.
    pub woken: Vec<i64>,
    /// The buffered copy, when nobody waited and the event may be buffered.
    pub buffered_id: Option<i64>,
}

impl Run<'_> {
    /// Wakes every open wait on `name` in `scope`; when nobody waits, buffers the event
    /// for `ttl` (not at all when it is zero).
    pub async fn publish(
        &mut self,
        name: &str,
        scope: EventScope,
        properties: Map<String, Value>,
        ttl: Duration,
    ) -> Result<Published, EngineError> {
        let woken = self.deliver_event(name, scope, &properties).await?;
        let buffered_id = if woken.is_empty() && !ttl.is_zero() {
            let buffered = NewBufferedEvent {
                name: name.to_string(),
                scope,
                properties: self.engine.seal_properties(properties),
                actor: self.caller.name.clone(),
                now: self.now,
                expires_at: self.now.saturating_add(millis(ttl)),
            };
            Some(self.tx.buffer_event(&buffered).await?)
        } else {
            None
        };
        Ok(Published { woken, buffered_id })
    }

    /// Wakes every open wait on `name` in `scope`; returns the woken instance ids.
    async fn deliver_event(
        &mut self,
        name: &str,
        scope: EventScope,
        properties: &Map<String, Value>,
    ) -> Result<Vec<i64>, EngineError> {
        let locked = self.tx.lock_open_waits_for_event(name, scope).await?;
        let mut woken = Vec::new();
        let mut previous = None;
        for (instance, wait) in locked {
            let (mut instance, wait) = if previous == Some(instance.id) {
                // A second wait of one instance: the first one's settling may have changed
                // the instance and closed this wait, so both are read again.
                match self
                    .tx
                    .lock_instance_and_get_wait(instance.id, wait.id)
                    .await?
                {
                    (Some(instance), Some(wait)) => (instance, wait),
                    _ => continue,
                }
            } else {
                (instance, wait)
            };
            previous = Some(instance.id);
            let settlement = Settlement {
                state: WaitState::Finished,
                record: None,
                outcome: WaitOutcome::Event(properties.clone()),
            };
            // Not open: lost to a deadline or a cancel.
            if self.settle_wait(&mut instance, &wait, settlement).await? == Settled::Resumed {
                woken.push(instance.id);
            }
        }
        Ok(woken)
    }

    /// Publishes internal events emitted so far (and those they cause).
    pub(super) async fn drain_emitted(&mut self) -> Result<(), EngineError> {
        while let Some(event) = self.emitted.pop_front() {
            self.publish(
                &event.name,
                EventScope::Internal,
                event.properties,
                event.ttl,
            )
            .await?;
        }
        Ok(())
    }

    /// Puts event properties into fields: declared names converted to their type, the
    /// rest into `event_properties` when that json field is declared.
    pub async fn apply_event(
        &mut self,
        instance: &mut InstanceRow,
        workflow: &Workflow,
        properties: Map<String, Value>,
        step_id: &str,
        wait_id: Option<i64>,
    ) -> Result<(), EngineError> {
        let mut extra = Map::new();
        for (name, value) in properties {
            if workflow.fields.contains_key(&name) {
                let converted = workflow
                    .convert_field(&name, &value)
                    .map_err(EngineError::InvalidField)?;
                instance.fields.insert(name, converted);
            } else {
                extra.insert(name, value);
            }
        }
        let keeps_extra = workflow
            .fields
            .get(EXTRA_PROPERTIES_FIELD)
            .is_some_and(|def| def.ty == FieldType::Json);
        let ignored: Vec<String> = if keeps_extra {
            instance
                .fields
                .insert(EXTRA_PROPERTIES_FIELD.into(), Value::Object(extra));
            Vec::new()
        } else {
            extra.keys().cloned().collect()
        };
        let detail = json!({"ignored": ignored});
        self.history(
            instance.id,
            "event_received",
            Some(step_id),
            wait_id,
            detail,
        )
        .await
    }
}
