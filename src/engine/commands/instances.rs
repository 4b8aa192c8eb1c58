//! Commands on a running instance as a whole: answering its `wait_input` step (vRO
//! `answerWorkflowInput`) and cancelling it. Both need the `start` permission.

use serde_json::{Map, Value, json};

use crate::engine::access::Action;
use crate::engine::definition::{StepKind, Workflow};
use crate::engine::interpreter::{Run, Settled, Settlement, WaitOutcome};
use crate::engine::telemetry::Subject;
use crate::engine::{Caller, Engine, EngineError, InstanceView};
use crate::store::{
    InstanceRow, InstanceStatus, ListScope, WaitFilter, WaitKind, WaitRow, WaitState,
};

impl Engine {
    /// Answers a `wait_input` step (vRO `answerWorkflowInput`).
    pub async fn answer_input(
        &self,
        instance_id: i64,
        inputs: &Map<String, Value>,
        caller: &Caller,
    ) -> Result<InstanceView, EngineError> {
        self.command("answer_input", Subject::Instance(instance_id), || async {
            let mut run = Run::begin(self, caller).await?;
            let mut instance = lock_instance(&mut run, instance_id).await?;
            let not_waiting = || {
                EngineError::ItemNotOpen(format!("instance {instance_id} is not waiting for input"))
            };
            let wait = open_waits(&mut run, instance_id, Some(WaitKind::Input), 1)
                .await?
                .into_iter()
                .next()
                .ok_or_else(not_waiting)?;
            // Rights come from the current definition, the steps from the instance's own.
            self.authorize(caller, &instance.workflow_id, Action::Start)?;
            let workflow = run.workflow_of(&instance).await?;
            let converted = convert_inputs(&workflow, &wait, inputs)?;
            let settlement =
                Settlement::finished("input_answered", "inputs", converted, WaitOutcome::Input);
            if run.settle_wait(&mut instance, &wait, settlement).await? == Settled::NotOpen {
                return Err(not_waiting());
            }
            run.commit_view(instance).await
        })
        .await
    }

    /// Cancels a running or waiting instance and closes its waits.
    pub async fn cancel(
        &self,
        instance_id: i64,
        caller: &Caller,
    ) -> Result<InstanceView, EngineError> {
        self.command("cancel", Subject::Instance(instance_id), || async {
            let mut run = Run::begin(self, caller).await?;
            let mut instance = lock_instance(&mut run, instance_id).await?;
            self.authorize(caller, &instance.workflow_id, Action::Start)?;
            if instance.status.is_terminal() {
                return Err(EngineError::ItemNotOpen(format!(
                    "instance {instance_id} is {} already",
                    instance.status.as_str()
                )));
            }
            for wait in open_waits(&mut run, instance_id, None, 1000).await? {
                run.cancel_wait(&wait).await?;
            }
            instance.status = InstanceStatus::Cancelled;
            let step = instance.current_step.clone();
            run.history(instance_id, "cancelled", step.as_deref(), None, json!({}))
                .await?;
            run.save(&mut instance).await?;
            run.commit_view(instance).await
        })
        .await
    }
}

async fn lock_instance(run: &mut Run<'_>, instance_id: i64) -> Result<InstanceRow, EngineError> {
    run.tx
        .lock_instance(instance_id)
        .await?
        .ok_or(EngineError::UnknownInstance(instance_id))
}

/// Up to `limit` open waits of the instance (of `kind`, when given).
async fn open_waits(
    run: &mut Run<'_>,
    instance_id: i64,
    kind: Option<WaitKind>,
    limit: i64,
) -> Result<Vec<WaitRow>, EngineError> {
    let filter = WaitFilter {
        scope: ListScope::new(None, limit),
        instance_id: Some(instance_id),
        state: Some(WaitState::Open),
        kind,
        ..WaitFilter::default()
    };
    Ok(run.tx.list_waits(&filter).await?)
}

/// The answers to a `wait_input` step, converted; only the step's declared inputs.
fn convert_inputs(
    workflow: &Workflow,
    wait: &WaitRow,
    inputs: &Map<String, Value>,
) -> Result<Map<String, Value>, EngineError> {
    let allowed = match workflow.step(&wait.step_id).map(|(_, step)| &step.kind) {
        Some(StepKind::WaitInput { inputs, .. }) => inputs.as_slice(),
        _ => &[],
    };
    inputs
        .iter()
        .map(|(name, value)| {
            if !allowed.contains(name) {
                return Err(format!(
                    "`{name}` is not an input of step `{}` (inputs: {})",
                    wait.step_id,
                    allowed.join(", ")
                ));
            }
            Ok((name.clone(), workflow.convert_field(name, value)?))
        })
        .collect::<Result<_, String>>()
        .map_err(EngineError::InvalidField)
}
