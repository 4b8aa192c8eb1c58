//! `start`: a new instance, run to its first wait (or its end) in the transaction that
//! creates it. With an idempotency key a repeat returns the first start's instance.

use serde_json::{Map, Value, json};

use super::StartRequest;
use crate::engine::access::Action;
use crate::engine::definition::Workflow;
use crate::engine::interpreter::Run;
use crate::engine::telemetry::{Subject, observe};
use crate::engine::{Engine, EngineError, StartOutcome};
use crate::store::{InstanceRow, InstanceStatus, NewInstance};

impl Engine {
    /// Starts an instance and runs it to its first wait (or its end).
    pub async fn start(&self, request: StartRequest) -> Result<StartOutcome, EngineError> {
        observe("start", Subject::Unknown, async move {
            let workflow = self
                .workflows()
                .get(&request.workflow)
                .cloned()
                .ok_or_else(|| EngineError::UnknownWorkflow(request.workflow.clone()))?;
            request
                .caller
                .access
                .require(&request.caller.name, &workflow, Action::Start)?;
            let fields = workflow
                .initial_fields(&request.fields)
                .map_err(EngineError::InvalidField)?;
            let outcome = self
                .retrying(|| self.start_once(&workflow, &request, &fields))
                .await?;
            tracing::Span::current().record("instance_id", outcome.instance.id);
            Ok(outcome)
        })
        .await
    }

    async fn start_once(
        &self,
        workflow: &Workflow,
        request: &StartRequest,
        fields: &Map<String, Value>,
    ) -> Result<StartOutcome, EngineError> {
        let mut run = Run::begin(self, &request.caller).await?;
        let key = request
            .idempotency_key
            .as_ref()
            .map(|key| format!("start:{}:{key}", workflow.id));
        if let Some(first) = run.replay_of(key.as_deref()).await? {
            let id: i64 = first
                .parse()
                .map_err(|_| EngineError::Internal(format!("bad start outcome {first}")))?;
            let instance = run
                .tx
                .get_instance(id)
                .await?
                .ok_or(EngineError::UnknownInstance(id))?;
            return Ok(StartOutcome {
                instance: run.commit_view(instance).await?,
                replayed: true,
            });
        }
        let mut instance = self
            .insert_instance(&mut run, workflow, request, fields)
            .await?;
        run.history(
            instance.id,
            "started",
            None,
            None,
            json!({"workflow": workflow.name, "hash": workflow.hash}),
        )
        .await?;
        run.advance(&mut instance, workflow, Some(0)).await?;
        run.save(&mut instance).await?;
        run.remember_outcome(key.as_deref(), &instance.id.to_string())
            .await?;
        Ok(StartOutcome {
            instance: run.commit_view(instance).await?,
            replayed: false,
        })
    }

    /// Stores a new running instance and returns it as this command goes on with it.
    async fn insert_instance(
        &self,
        run: &mut Run<'_>,
        workflow: &Workflow,
        request: &StartRequest,
        fields: &Map<String, Value>,
    ) -> Result<InstanceRow, EngineError> {
        let new = NewInstance {
            workflow_id: workflow.id.clone(),
            definition_hash: workflow.hash.clone(),
            folio: request
                .folio
                .clone()
                .filter(|f| !f.is_empty())
                .unwrap_or_else(|| workflow.name.clone()),
            status: InstanceStatus::Running,
            fields: fields.clone(),
            trigger_event: self.seal_event(&request.event),
            now: run.now,
        };
        let id = run.tx.insert_instance(&new).await?;
        Ok(InstanceRow {
            id,
            workflow_id: new.workflow_id,
            definition_hash: new.definition_hash,
            folio: new.folio,
            status: new.status,
            current_step: None,
            fields: new.fields,
            // Templates of this command see the event as it came; only the stored copy
            // is sealed.
            trigger_event: request.event.clone(),
            reply: None,
            error: None,
            created_at: run.now,
            updated_at: run.now,
        })
    }
}
