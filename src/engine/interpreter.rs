//! The interpreter: advances instances inside the transaction of the command that woke
//! them, until each reaches a wait, an end, or a failure.
//!
//! Nothing here performs external I/O. A step that needs the outside world (`call`, the
//! `notify` of a server event) writes an outbox row; the outbox runner sends it after the
//! commit. Internal custom events (`emit`) are delivered to their waiters in the same
//! transaction, after the emitting instance is saved, so a chain of workflows waking each
//! other is atomic. A step budget stops runaway loops.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::clock::rfc3339;
use super::definition::{HttpSpec, ReplySpec, SetValue, StepKind, WaitPolicy, Workflow};
use super::outbound::OutboundRequest;
use super::{Caller, Engine, EngineError};
use crate::duration::millis;
use crate::store::*;

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
        let tx = engine.store.begin().await?;
        Ok(Self {
            engine,
            tx,
            now: engine.clock.now_ms(),
            caller,
            steps_left: engine.config.max_steps,
            emitted: VecDeque::new(),
        })
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

    /// Continues an instance whose wait (already closed by the caller) ended with `outcome`.
    pub async fn resume(
        &mut self,
        instance: &mut InstanceRow,
        workflow: &Workflow,
        wait: &WaitRow,
        outcome: WaitOutcome,
    ) -> Result<(), EngineError> {
        let Some((index, step)) = workflow.step(&wait.step_id) else {
            let message = format!("step `{}` no longer exists in the definition", wait.step_id);
            return self.fail(instance, &wait.step_id, &message).await;
        };
        let (wait_policy, on_error) = match &step.kind {
            StepKind::ServerEvent { wait, on_error, .. }
            | StepKind::Call { wait, on_error, .. } => (*wait, *on_error),
            StepKind::WaitEvent { wait, .. } | StepKind::WaitInput { wait, .. } => (*wait, None),
            _ => (
                WaitPolicy {
                    deadline: None,
                    on_timeout: None,
                },
                None,
            ),
        };
        let after = workflow.after(index);
        let next = match outcome {
            WaitOutcome::Finished(values)
            | WaitOutcome::Input(values)
            | WaitOutcome::CallSucceeded(values) => {
                instance.fields.extend(values);
                after
            }
            WaitOutcome::Event(properties) => {
                self.apply_event(instance, workflow, properties, &step.id, Some(wait.id))
                    .await?;
                after
            }
            WaitOutcome::Failed(message) | WaitOutcome::CallFailed(message) => match on_error {
                Some(target) => Some(target),
                None => return self.fail(instance, &step.id, &message).await,
            },
            WaitOutcome::Expired => match wait_policy.on_timeout {
                Some(target) => Some(target),
                None => return self.fail(instance, &step.id, "deadline_exceeded").await,
            },
        };
        self.advance(instance, workflow, next).await
    }

    /// Runs steps from `from` until the instance waits, ends or fails.
    pub async fn advance(
        &mut self,
        instance: &mut InstanceRow,
        workflow: &Workflow,
        mut from: Option<usize>,
    ) -> Result<(), EngineError> {
        instance.status = InstanceStatus::Running;
        loop {
            let Some(index) = from else {
                return self.complete(instance).await;
            };
            if self.steps_left == 0 {
                let message = format!(
                    "step limit of {} exceeded (a loop?)",
                    self.engine.config.max_steps
                );
                let step_id = workflow.steps[index].id.clone();
                return self.fail(instance, &step_id, &message).await;
            }
            self.steps_left -= 1;
            instance.current_step = Some(workflow.steps[index].id.clone());
            match self.run_step(instance, workflow, index).await? {
                Flow::Next(next) => from = next,
                Flow::Stop => return Ok(()),
            }
        }
    }

    async fn run_step(
        &mut self,
        instance: &mut InstanceRow,
        workflow: &Workflow,
        index: usize,
    ) -> Result<Flow, EngineError> {
        let step = &workflow.steps[index];
        let after = workflow.after(index);
        let context = match self.context(instance, workflow, &step.id, None) {
            Ok(context) => context,
            Err(why) => return self.fail_step(instance, &step.id, "event", &why).await,
        };
        match &step.kind {
            StepKind::ServerEvent {
                notify,
                synchronous,
                wait,
                ..
            } => {
                self.open_outbound_wait(
                    instance,
                    workflow,
                    index,
                    WaitKind::ServerItem,
                    *wait,
                    notify.as_ref(),
                    *synchronous,
                )
                .await
            }
            StepKind::Call { http, wait, .. } => {
                self.open_outbound_wait(
                    instance,
                    workflow,
                    index,
                    WaitKind::Call,
                    *wait,
                    Some(http),
                    false,
                )
                .await
            }
            StepKind::WaitEvent { event, scope, wait } => {
                let name = match self.engine.templates.render(event, &context) {
                    Ok(name) => name,
                    Err(why) => return self.fail_step(instance, &step.id, "event", &why).await,
                };
                if let Some(buffered) = self.tx.take_buffered_event(&name, *scope, self.now).await?
                {
                    let detail = json!({"event": name, "buffered_id": buffered.id, "sent_by": buffered.actor});
                    self.history(
                        instance.id,
                        "event_taken_from_buffer",
                        Some(&step.id),
                        None,
                        detail,
                    )
                    .await?;
                    let properties = match self.engine.open_properties(buffered.properties) {
                        Ok(properties) => properties,
                        Err(why) => {
                            return self.fail_step(instance, &step.id, "event", &why).await;
                        }
                    };
                    self.apply_event(instance, workflow, properties, &step.id, None)
                        .await?;
                    return Ok(Flow::Next(after));
                }
                self.open_wait(
                    instance,
                    &step.id,
                    WaitKind::CustomEvent,
                    Some(name),
                    Some(*scope),
                    *wait,
                )
                .await?;
                Ok(Flow::Stop)
            }
            StepKind::WaitInput { wait, .. } => {
                self.open_wait(instance, &step.id, WaitKind::Input, None, None, *wait)
                    .await?;
                Ok(Flow::Stop)
            }
            StepKind::Emit {
                event,
                properties,
                ttl,
            } => {
                let name = match self.engine.templates.render(event, &context) {
                    Ok(name) => name,
                    Err(why) => return self.fail_step(instance, &step.id, "event", &why).await,
                };
                let mut rendered = Map::new();
                for (key, source) in properties {
                    match self.engine.templates.render(source, &context) {
                        Ok(value) => rendered.insert(key.clone(), Value::String(value)),
                        Err(why) => {
                            return self
                                .fail_step(instance, &step.id, &format!("properties.{key}"), &why)
                                .await;
                        }
                    };
                }
                let ttl = ttl.unwrap_or(self.engine.config.buffer_ttl);
                self.history(
                    instance.id,
                    "event_emitted",
                    Some(&step.id),
                    None,
                    json!({"event": name}),
                )
                .await?;
                self.emitted.push_back(Emitted {
                    name,
                    properties: rendered,
                    ttl,
                });
                Ok(Flow::Next(after))
            }
            StepKind::Set { fields } => {
                for (name, value) in fields {
                    let converted = match value {
                        SetValue::Literal(value) => workflow.convert_field(name, value),
                        SetValue::Template(source) => self
                            .engine
                            .templates
                            .render(source, &context)
                            .and_then(|text| workflow.convert_field(name, &Value::String(text))),
                    };
                    match converted {
                        Ok(value) => instance.fields.insert(name.clone(), value),
                        Err(why) => {
                            return self
                                .fail_step(instance, &step.id, &format!("fields.{name}"), &why)
                                .await;
                        }
                    };
                }
                Ok(Flow::Next(after))
            }
            StepKind::Decide { when, otherwise } => {
                for (condition, target) in when {
                    match self.engine.templates.is_true(condition, &context) {
                        Ok(true) => return Ok(Flow::Next(Some(*target))),
                        Ok(false) => {}
                        Err(why) => return self.fail_step(instance, &step.id, "when", &why).await,
                    }
                }
                Ok(Flow::Next(otherwise.or(after)))
            }
            StepKind::Reply(spec) => match self.render_reply(spec, &context) {
                Ok(reply) => {
                    instance.reply = Some(reply);
                    Ok(Flow::Next(after))
                }
                Err((field, why)) => self.fail_step(instance, &step.id, &field, &why).await,
            },
            StepKind::End => {
                self.complete(instance).await?;
                Ok(Flow::Stop)
            }
            StepKind::Fail { message } => {
                let text = self
                    .engine
                    .templates
                    .render(message, &context)
                    .unwrap_or_else(|_| message.clone());
                self.fail(instance, &step.id, &text).await?;
                Ok(Flow::Stop)
            }
        }
    }

    async fn open_wait(
        &mut self,
        instance: &mut InstanceRow,
        step_id: &str,
        kind: WaitKind,
        event_name: Option<String>,
        scope: Option<EventScope>,
        policy: WaitPolicy,
    ) -> Result<WaitRow, EngineError> {
        let deadline = self.now.saturating_add(millis(
            policy
                .deadline
                .unwrap_or(self.engine.config.default_deadline),
        ));
        let new = NewWait {
            instance_id: instance.id,
            step_id: step_id.to_string(),
            kind,
            event_name,
            scope,
            deadline,
            now: self.now,
        };
        let id = self.tx.insert_wait(&new).await?;
        let wait = WaitRow {
            id,
            instance_id: new.instance_id,
            step_id: new.step_id,
            kind,
            event_name: new.event_name,
            scope,
            state: WaitState::Open,
            deadline,
            created_at: self.now,
            closed_at: None,
        };
        let mut detail = json!({"kind": kind.as_str(), "deadline": rfc3339(deadline)});
        if let Some(name) = &wait.event_name {
            detail["event"] = Value::String(name.clone());
        }
        if kind == WaitKind::ServerItem {
            detail["serial"] = Value::String(self.engine.serials.format(instance.id, id));
        }
        self.history(instance.id, "wait_opened", Some(step_id), Some(id), detail)
            .await?;
        instance.status = InstanceStatus::Waiting;
        Ok(wait)
    }

    /// Server events and calls: a wait, plus the outbox row that tells the outside world.
    #[allow(clippy::too_many_arguments)]
    async fn open_outbound_wait(
        &mut self,
        instance: &mut InstanceRow,
        workflow: &Workflow,
        index: usize,
        kind: WaitKind,
        policy: WaitPolicy,
        http: Option<&HttpSpec>,
        synchronous: bool,
    ) -> Result<Flow, EngineError> {
        let step_id = workflow.steps[index].id.clone();
        let wait = self
            .open_wait(instance, &step_id, kind, None, None, policy)
            .await?;
        let Some(http) = http else {
            return Ok(Flow::Stop);
        };
        let serial = (kind == WaitKind::ServerItem)
            .then(|| self.engine.serials.format(instance.id, wait.id));
        let context = self
            .context(
                instance,
                workflow,
                &step_id,
                serial.as_deref().map(|s| (s, wait.id)),
            )
            .map_err(|why| ("event".to_string(), why));
        let request =
            match context.and_then(|context| self.render_request(http, &context, synchronous)) {
                Ok(request) => request,
                Err((field, why)) => {
                    self.tx
                        .close_wait(wait.id, WaitState::Cancelled, self.now)
                        .await?;
                    return self.fail_step(instance, &step_id, &field, &why).await;
                }
            };
        let outbox_kind = if kind == WaitKind::Call {
            OutboxKind::Call
        } else {
            OutboxKind::Notify
        };
        let new = NewOutbox {
            instance_id: instance.id,
            wait_id: wait.id,
            kind: outbox_kind,
            request: serde_json::to_value(&request)
                .map_err(|error| EngineError::Internal(error.to_string()))?,
            now: self.now,
        };
        self.tx.insert_outbox(&new).await?;
        Ok(Flow::Stop)
    }

    fn render_request(
        &self,
        http: &HttpSpec,
        context: &Value,
        synchronous: bool,
    ) -> Result<OutboundRequest, (String, String)> {
        let templates = &self.engine.templates;
        let url = templates
            .render(&http.url, context)
            .map_err(|why| ("url".to_string(), why))?;
        let mut headers = Vec::new();
        for (name, source) in &http.headers {
            let value = templates
                .render(source, context)
                .map_err(|why| (format!("headers.{name}"), why))?;
            headers.push((name.clone(), value));
        }
        let body = match &http.body {
            Some(source) => Some(
                templates
                    .render(source, context)
                    .map_err(|why| ("body".to_string(), why))?,
            ),
            None => None,
        };
        let policy = &self.engine.config.outbox;
        Ok(OutboundRequest {
            url,
            method: http.method.clone(),
            headers,
            body,
            timeout_ms: millis(http.timeout.unwrap_or(policy.request_timeout)).max(1) as u64,
            max_attempts: http.max_attempts.unwrap_or(policy.max_attempts),
            save: http.save.clone(),
            synchronous,
        })
    }

    fn render_reply(&self, spec: &ReplySpec, context: &Value) -> Result<Value, (String, String)> {
        let templates = &self.engine.templates;
        let render = |field: &str, source: &Option<String>| -> Result<Value, (String, String)> {
            match source {
                Some(source) => templates
                    .render(source, context)
                    .map(Value::String)
                    .map_err(|why| (field.to_string(), why)),
                None => Ok(Value::Null),
            }
        };
        let mut changed = Map::new();
        for (name, value) in &spec.changed_properties {
            let value = match value {
                SetValue::Template(source) => templates
                    .render(source, context)
                    .map(Value::String)
                    .map_err(|why| (format!("changed_properties.{name}"), why))?,
                SetValue::Literal(value) => value.clone(),
            };
            changed.insert(name.clone(), value);
        }
        Ok(json!({
            "status": spec.status,
            "error_message": render("error_message", &spec.error_message)?,
            "changed_properties": changed,
            "body": render("body", &spec.body)?,
            "content_type": spec.content_type,
        }))
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
            .is_some_and(|def| def.ty == super::fields::FieldType::Json);
        let ignored: Vec<String> = if keeps_extra {
            instance
                .fields
                .insert(EXTRA_PROPERTIES_FIELD.into(), Value::Object(extra));
            Vec::new()
        } else {
            extra.keys().cloned().collect()
        };
        self.history(
            instance.id,
            "event_received",
            Some(step_id),
            wait_id,
            json!({"ignored": ignored}),
        )
        .await
    }

    /// Wakes every open wait on `name` in `scope`; returns the woken instance ids.
    pub async fn deliver_event(
        &mut self,
        name: &str,
        scope: EventScope,
        properties: &Map<String, Value>,
    ) -> Result<Vec<i64>, EngineError> {
        let mut waits = self.tx.open_waits_for_event(name, scope).await?;
        // One lock order for every fan-out: by instance id.
        waits.sort_by_key(|wait| (wait.instance_id, wait.id));
        let mut woken = Vec::new();
        for listed in waits {
            let Some(mut instance) = self.tx.lock_instance(listed.instance_id).await? else {
                continue;
            };
            // Read again under the instance lock: a migration that committed since the
            // listing may have renamed the wait's step.
            let Some(wait) = self.tx.get_wait(listed.id).await? else {
                continue;
            };
            if !self
                .tx
                .close_wait(wait.id, WaitState::Finished, self.now)
                .await?
            {
                continue; // lost to a deadline or a cancel
            }
            let Some(workflow) = self.engine.version_of(self.tx.as_mut(), &instance).await? else {
                self.orphaned(&mut instance, &wait).await?;
                continue;
            };
            self.resume(
                &mut instance,
                &workflow,
                &wait,
                WaitOutcome::Event(properties.clone()),
            )
            .await?;
            self.save(&mut instance).await?;
            woken.push(instance.id);
        }
        Ok(woken)
    }

    /// Delivers internal events emitted so far (and those they cause), buffering unclaimed ones.
    async fn drain_emitted(&mut self) -> Result<(), EngineError> {
        while let Some(event) = self.emitted.pop_front() {
            let woken = self
                .deliver_event(&event.name, EventScope::Internal, &event.properties)
                .await?;
            if woken.is_empty() && !event.ttl.is_zero() {
                let buffered = NewBufferedEvent {
                    name: event.name,
                    scope: EventScope::Internal,
                    properties: self.engine.seal_properties(event.properties),
                    actor: self.caller.name.clone(),
                    now: self.now,
                    expires_at: self.now.saturating_add(millis(event.ttl)),
                };
                self.tx.buffer_event(&buffered).await?;
            }
        }
        Ok(())
    }

    pub async fn save(&mut self, instance: &mut InstanceRow) -> Result<(), EngineError> {
        instance.updated_at = self.now;
        self.tx.update_instance(instance).await?;
        Ok(())
    }

    /// An instance whose workflow is no longer loaded cannot go on: fail it, visibly.
    pub async fn orphaned(
        &mut self,
        instance: &mut InstanceRow,
        wait: &WaitRow,
    ) -> Result<(), EngineError> {
        let message = format!("workflow {} is not loaded", instance.workflow_id);
        self.fail(instance, &wait.step_id, &message).await?;
        self.save(instance).await
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
