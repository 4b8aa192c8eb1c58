//! The interpreter: advances instances inside the transaction of the command that woke
//! them, until each reaches a wait, an end, or a failure.
//!
//! Nothing here performs external I/O. A step that needs the outside world (`call`, the
//! `notify` of a server event) writes an outbox row; the outbox runner sends it after the
//! commit. Internal custom events (`emit`) are delivered to their waiters in the same
//! transaction, after the emitting instance is saved, so a chain of workflows waking each
//! other is atomic. A step budget stops runaway loops.
//!
//! Here: [`Run`], a command's transaction (history rows, saving, failing, the template
//! context). Around it: `steps` (the loop over steps), `waits` (opening waits and their
//! outbox rows), `render` (requests and replies from templates), `events` (publishing
//! custom events) and `settle` (the one path that closes a wait and resumes its instance).

mod events;
mod render;
mod settle;
mod steps;
mod waits;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::clock::rfc3339;
use super::definition::Workflow;
use super::queries::open_waits_of;
use super::{Caller, Engine, EngineError, InstanceSummary, InstanceView};
use crate::store::{InstanceRow, InstanceStatus, NewHistory, Tx, WaitRow};

pub(crate) use settle::{Settled, Settlement};

/// How a wait ended, as seen by the step that opened it.
#[derive(Debug)]
pub(crate) enum WaitOutcome {
    /// Server item finished with these (already converted) fields.
    Finished(Map<String, Value>),
    /// Server item failed, or its notify request failed for good.
    Failed(String),
    Expired,
    /// Custom event with its properties (raw; converted here).
    Event(Map<String, Value>),
    /// `answer_input` with converted inputs.
    Input(Map<String, Value>),
    /// `call` succeeded; values to save (already converted).
    CallSucceeded(Map<String, Value>),
    CallFailed(String),
}

enum Flow {
    /// Go on with this step index; `None` means past the last step (completed).
    Next(Option<usize>),
    /// The instance now waits (or has ended); stop advancing it.
    Stop,
}

struct Emitted {
    name: String,
    properties: Map<String, Value>,
    ttl: Duration,
}

/// One command's transaction and what it still has to do before committing.
pub(crate) struct Run<'e> {
    pub engine: &'e Engine,
    pub tx: Box<dyn Tx>,
    pub now: i64,
    pub caller: &'e Caller,
    steps_left: usize,
    emitted: VecDeque<Emitted>,
}

impl<'e> Run<'e> {
    pub async fn begin(engine: &'e Engine, caller: &'e Caller) -> Result<Self, EngineError> {
        let tx = engine.store.begin_command().await?;
        Ok(Self::on(engine, caller, tx))
    }

    /// A pass that only reads, however long: in a transaction of its own rather than in a
    /// batch of group commit, whose other commands would wait for it.
    pub async fn reading(engine: &'e Engine, caller: &'e Caller) -> Result<Self, EngineError> {
        let tx = engine.store.begin().await?;
        Ok(Self::on(engine, caller, tx))
    }

    fn on(engine: &'e Engine, caller: &'e Caller, tx: Box<dyn Tx>) -> Self {
        Self {
            engine,
            tx,
            now: engine.clock.now_ms(),
            caller,
            steps_left: engine.config.max_steps,
            emitted: VecDeque::new(),
        }
    }

    /// Delivers pending internal events, then commits.
    pub async fn commit(mut self) -> Result<(), EngineError> {
        self.drain_emitted().await?;
        self.tx.commit().await?;
        Ok(())
    }

    pub async fn history(
        &mut self,
        instance_id: i64,
        kind: &str,
        step: Option<&str>,
        wait_id: Option<i64>,
        detail: Value,
    ) -> Result<(), EngineError> {
        let entry = NewHistory {
            instance_id,
            at: self.now,
            kind: kind.to_string(),
            step_id: step.map(str::to_string),
            wait_id,
            actor: self.caller.name.clone(),
            dialect: self.caller.dialect.clone(),
            source: self.caller.source.clone(),
            message_id: self.caller.message_id.clone(),
            detail,
        };
        self.tx.append_history(&entry).await?;
        Ok(())
    }

    /// A history row about `wait` (its instance, step and id).
    pub async fn wait_history(
        &mut self,
        wait: &WaitRow,
        kind: &str,
        detail: Value,
    ) -> Result<(), EngineError> {
        let (instance_id, step) = (wait.instance_id, Some(wait.step_id.as_str()));
        self.history(instance_id, kind, step, Some(wait.id), detail)
            .await
    }

    /// Commits and answers with the instance's view, read in the transaction. With nothing
    /// left to publish, the read goes out with `COMMIT` (one round trip on PostgreSQL);
    /// otherwise it is read before the events are published, as it always was.
    pub async fn commit_view(mut self, instance: InstanceRow) -> Result<InstanceView, EngineError> {
        if self.emitted.is_empty() {
            let waits = self
                .tx
                .commit_with_waits(&open_waits_of(instance.id))
                .await?;
            return Ok(self.engine.view_of(instance, waits));
        }
        let view = self
            .engine
            .instance_view(self.tx.as_mut(), instance)
            .await?;
        self.commit().await?;
        Ok(view)
    }

    /// Commits and answers with the instance's id and status, as it stands in hand (as
    /// [`Self::commit_view`] does), reading nothing more.
    pub async fn commit_summary(
        self,
        instance: &InstanceRow,
    ) -> Result<InstanceSummary, EngineError> {
        let summary = InstanceSummary {
            id: instance.id,
            status: instance.status,
        };
        self.commit().await?;
        Ok(summary)
    }

    pub async fn save(&mut self, instance: &mut InstanceRow) -> Result<(), EngineError> {
        instance.updated_at = self.now;
        self.tx.update_instance(instance).await?;
        Ok(())
    }

    async fn complete(&mut self, instance: &mut InstanceRow) -> Result<(), EngineError> {
        instance.status = InstanceStatus::Completed;
        let step = instance.current_step.take();
        self.history(instance.id, "completed", step.as_deref(), None, json!({}))
            .await
    }

    pub async fn fail(
        &mut self,
        instance: &mut InstanceRow,
        step_id: &str,
        message: &str,
    ) -> Result<(), EngineError> {
        instance.status = InstanceStatus::Failed;
        instance.error = Some(message.to_string());
        instance.current_step = Some(step_id.to_string());
        self.history(
            instance.id,
            "failed",
            Some(step_id),
            None,
            json!({"error": message}),
        )
        .await
    }

    async fn fail_step(
        &mut self,
        instance: &mut InstanceRow,
        step_id: &str,
        field: &str,
        why: &str,
    ) -> Result<Flow, EngineError> {
        let message = format!("step `{step_id}`: {field}: {why}");
        self.fail(instance, step_id, &message).await?;
        Ok(Flow::Stop)
    }

    /// What templates see. A sealed trigger event is opened here, once: the opened copy
    /// replaces it in `instance`, which never writes it back (see `engine::sealed`).
    pub fn context(
        &self,
        instance: &mut InstanceRow,
        workflow: &Workflow,
        step_id: &str,
        item: Option<(&str, i64)>,
    ) -> Result<Value, String> {
        if let Cow::Owned(opened) = self.engine.open_event(&instance.trigger_event)? {
            instance.trigger_event = opened;
        }
        let item = match item {
            Some((serial, id)) => json!({"serial": serial, "id": id}),
            None => json!({}),
        };
        Ok(json!({
            "fields": instance.fields,
            "event": instance.trigger_event,
            "item": item,
            "instance": {
                "id": instance.id,
                "folio": instance.folio,
                "workflow": workflow.name,
                "workflow_id": workflow.id,
                "step": step_id,
            },
            "now": rfc3339(self.now),
        }))
    }
}

/// Declared as a json field, this collects event properties the workflow does not declare.
pub const EXTRA_PROPERTIES_FIELD: &str = "event_properties";
