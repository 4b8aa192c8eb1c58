//! Running steps: the interpreter's loop over a workflow's steps, and what each kind of
//! step does. A step that cannot render what it needs fails its instance with
//! `step <id>: <field>: <why>`; only store errors abort the command.

use serde_json::{Map, Value, json};

use super::render::{Fault, fault};
use super::{Emitted, Flow, Run};
use crate::engine::EngineError;
use crate::engine::definition::{SetValue, StepKind, Workflow};
use crate::store::{EventScope, InstanceRow, InstanceStatus, WaitKind};

impl Run<'_> {
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
        // A waiting step's deadline is resolved before anything opens: a template that
        // renders neither a date-time nor a duration fails the step instead.
        let deadline = match step
            .kind
            .wait()
            .map(|policy| self.deadline_of(policy, &context))
        {
            Some(Err((field, why))) => {
                return self.fail_step(instance, &step.id, &field, &why).await;
            }
            Some(Ok(deadline)) => deadline,
            None => self.now, // read by waiting steps only
        };
        let rendered = match &step.kind {
            StepKind::ServerEvent {
                notify,
                synchronous,
                ..
            } => {
                let outbound = notify.as_ref().map(|http| (http, *synchronous));
                let kind = WaitKind::ServerItem;
                return self
                    .open_outbound_wait(instance, workflow, index, kind, deadline, outbound)
                    .await;
            }
            StepKind::Call { http, .. } => {
                let outbound = Some((http, false));
                let kind = WaitKind::Call;
                return self
                    .open_outbound_wait(instance, workflow, index, kind, deadline, outbound)
                    .await;
            }
            StepKind::WaitEvent { event, scope, .. } => {
                return match self.engine.templates.render(event, &context) {
                    Ok(name) => {
                        self.wait_event(instance, workflow, index, name, *scope, deadline)
                            .await
                    }
                    Err(why) => self.fail_step(instance, &step.id, "event", &why).await,
                };
            }
            StepKind::WaitInput { .. } => {
                self.open_wait(instance, &step.id, WaitKind::Input, None, None, deadline)
                    .await?;
                return Ok(Flow::Stop);
            }
            StepKind::Emit {
                event,
                properties,
                ttl,
            } => match self.render_emitted(event, properties, &context) {
                Ok((name, properties)) => {
                    let ttl = ttl.unwrap_or(self.engine.config.buffer_ttl);
                    let detail = json!({"event": name});
                    self.history(instance.id, "event_emitted", Some(&step.id), None, detail)
                        .await?;
                    self.emitted.push_back(Emitted {
                        name,
                        properties,
                        ttl,
                    });
                    Ok(after)
                }
                Err(fault) => Err(fault),
            },
            StepKind::Set { fields } => self
                .set_fields(instance, workflow, fields, &context)
                .map(|()| after),
            StepKind::Decide { when, otherwise } => self
                .decide(when, &context)
                .map(|target| target.or(*otherwise).or(after)),
            StepKind::Reply(spec) => self.render_reply(spec, &context).map(|reply| {
                instance.reply = Some(reply);
                after
            }),
            StepKind::End => {
                self.complete(instance).await?;
                return Ok(Flow::Stop);
            }
            StepKind::Fail { message } => {
                let text = self
                    .engine
                    .templates
                    .render(message, &context)
                    .unwrap_or_else(|_| message.clone());
                self.fail(instance, &step.id, &text).await?;
                return Ok(Flow::Stop);
            }
        };
        match rendered {
            Ok(next) => Ok(Flow::Next(next)),
            Err((field, why)) => self.fail_step(instance, &step.id, &field, &why).await,
        }
    }

    /// A `wait_event` step: takes a buffered event when there is one, else opens a wait.
    /// An unreadable buffered event fails the instance.
    async fn wait_event(
        &mut self,
        instance: &mut InstanceRow,
        workflow: &Workflow,
        index: usize,
        name: String,
        scope: EventScope,
        deadline: i64,
    ) -> Result<Flow, EngineError> {
        let step_id = workflow.steps[index].id.as_str();
        let Some(buffered) = self.tx.take_buffered_event(&name, scope, self.now).await? else {
            let kind = WaitKind::CustomEvent;
            self.open_wait(instance, step_id, kind, Some(name), Some(scope), deadline)
                .await?;
            return Ok(Flow::Stop);
        };
        let detail = json!({"event": name, "buffered_id": buffered.id, "sent_by": buffered.actor});
        self.history(
            instance.id,
            "event_taken_from_buffer",
            Some(step_id),
            None,
            detail,
        )
        .await?;
        match self.engine.open_properties(buffered.properties) {
            Ok(properties) => {
                self.apply_event(instance, workflow, properties, step_id, None)
                    .await?;
                Ok(Flow::Next(workflow.after(index)))
            }
            Err(why) => self.fail_step(instance, step_id, "event", &why).await,
        }
    }

    /// The name and properties of an `emit` step.
    fn render_emitted(
        &self,
        event: &str,
        properties: &[(String, String)],
        context: &Value,
    ) -> Result<(String, Map<String, Value>), Fault> {
        let templates = &self.engine.templates;
        let name = templates.render(event, context).map_err(fault("event"))?;
        let mut rendered = Map::new();
        for (key, source) in properties {
            let value = templates
                .render(source, context)
                .map_err(fault(format!("properties.{key}")))?;
            rendered.insert(key.clone(), Value::String(value));
        }
        Ok((name, rendered))
    }

    /// Sets the fields of a `set` step, converted to their types, one after the other
    /// (those before a failing one stay set).
    fn set_fields(
        &self,
        instance: &mut InstanceRow,
        workflow: &Workflow,
        fields: &[(String, SetValue)],
        context: &Value,
    ) -> Result<(), Fault> {
        for (name, value) in fields {
            let converted = match value {
                SetValue::Literal(value) => workflow.convert_field(name, value),
                SetValue::Template(source) => self
                    .engine
                    .templates
                    .render(source, context)
                    .and_then(|text| workflow.convert_field(name, &Value::String(text))),
            };
            let converted = converted.map_err(fault(format!("fields.{name}")))?;
            instance.fields.insert(name.clone(), converted);
        }
        Ok(())
    }

    /// The target of the first true `when` of a `decide` step, if any.
    fn decide(&self, when: &[(String, usize)], context: &Value) -> Result<Option<usize>, Fault> {
        for (condition, target) in when {
            if self
                .engine
                .templates
                .is_true(condition, context)
                .map_err(fault("when"))?
            {
                return Ok(Some(*target));
            }
        }
        Ok(None)
    }
}
