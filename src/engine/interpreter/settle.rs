//! The one way a wait is settled. Every command and runner that closes a wait (finish,
//! fail, answer an input, an event, a deadline, an outbound result) goes through
//! [`Run::settle_wait`]: close the wait, stop what the outbox still had to send for it,
//! write its history row, resume the instance on its own definition version (or fail it
//! when that version is gone), and save it. The caller holds the instance lock already
//! (the store's lock order: instance before its waits) and commits.

use serde_json::{Map, Value, json};

use super::{Run, WaitOutcome};
use crate::engine::EngineError;
use crate::engine::definition::{StepKind, Workflow};
use crate::store::{InstanceRow, WaitKind, WaitRow, WaitState};

/// How one wait ends: the state it closes in, the history row that records it, and what
/// the step that opened it is told.
pub(crate) struct Settlement {
    pub state: WaitState,
    /// History kind and detail; `None` when the resumed step writes its own row (events).
    pub record: Option<(&'static str, Value)>,
    pub outcome: WaitOutcome,
}

impl Settlement {
    /// A wait finished with converted values (`outcome` of them); its history row lists
    /// their names under `listed_as`.
    pub fn finished(
        record: &'static str,
        listed_as: &str,
        values: Map<String, Value>,
        outcome: fn(Map<String, Value>) -> WaitOutcome,
    ) -> Self {
        let names: Vec<&String> = values.keys().collect();
        let detail = json!({ listed_as: names });
        Self {
            state: WaitState::Finished,
            record: Some((record, detail)),
            outcome: outcome(values),
        }
    }
}

/// What settling did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// The wait was not open any more (a deadline, a cancel or another caller won).
    NotOpen,
    /// The instance went on from the wait's step.
    Resumed,
    /// The instance's definition version is gone: it failed instead.
    Orphaned,
}

impl Run<'_> {
    /// Closes `wait` in `settlement.state` and settles it; nothing else when it was not
    /// open any more. `wait` was read under `instance`'s lock, which this transaction
    /// holds: what it says of the wait's state is current.
    pub async fn settle_wait(
        &mut self,
        instance: &mut InstanceRow,
        wait: &WaitRow,
        settlement: Settlement,
    ) -> Result<Settled, EngineError> {
        if wait.state != WaitState::Open {
            return Ok(Settled::NotOpen);
        }
        self.tx
            .close_wait_read_open(wait.id, settlement.state, self.now)
            .await?;
        self.settle_closed(instance, wait, settlement.record, settlement.outcome)
            .await
    }

    /// Settles a wait this transaction has closed already (the timer closes a batch at
    /// once).
    pub async fn settle_closed(
        &mut self,
        instance: &mut InstanceRow,
        wait: &WaitRow,
        record: Option<(&'static str, Value)>,
        outcome: WaitOutcome,
    ) -> Result<Settled, EngineError> {
        self.stop_outbound(wait).await?;
        if let Some((kind, detail)) = record {
            self.history(
                instance.id,
                kind,
                Some(&wait.step_id),
                Some(wait.id),
                detail,
            )
            .await?;
        }
        let settled = match self.engine.version_of(self.tx.as_mut(), instance).await? {
            Some(workflow) => {
                self.resume(instance, &workflow, wait, outcome).await?;
                Settled::Resumed
            }
            None => {
                let message = format!("workflow {} is not loaded", instance.workflow_id);
                self.fail(instance, &wait.step_id, &message).await?;
                Settled::Orphaned
            }
        };
        self.save(instance).await?;
        Ok(settled)
    }

    /// Closes `wait` as cancelled (its instance is cancelled or moves on without it).
    pub async fn cancel_wait(&mut self, wait: &WaitRow) -> Result<(), EngineError> {
        self.tx
            .close_wait(wait.id, WaitState::Cancelled, self.now)
            .await?;
        self.stop_outbound(wait).await
    }

    /// A closed wait's pending request (a server event's notify, a call) is not sent any
    /// more; only those kinds of wait have one.
    async fn stop_outbound(&mut self, wait: &WaitRow) -> Result<(), EngineError> {
        if matches!(wait.kind, WaitKind::ServerItem | WaitKind::Call) {
            self.tx.cancel_outbox_for_wait(wait.id, self.now).await?;
        }
        Ok(())
    }

    /// Continues an instance whose wait (already closed) ended with `outcome`.
    async fn resume(
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
        let on_error = match &step.kind {
            StepKind::ServerEvent { on_error, .. } | StepKind::Call { on_error, .. } => *on_error,
            _ => None,
        };
        let on_timeout = step.kind.wait().and_then(|policy| policy.on_timeout);
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
            WaitOutcome::Expired => match on_timeout {
                Some(target) => Some(target),
                None => return self.fail(instance, &step.id, "deadline_exceeded").await,
            },
        };
        self.advance(instance, workflow, next).await
    }
}
