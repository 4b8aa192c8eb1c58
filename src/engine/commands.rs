//! The engine commands of DESIGN §4. Each is one transaction (retried whole on a
//! serialisation conflict); every dialect maps onto these and nothing else.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::access::{Action, Right};
use super::definition::{StepKind, Workflow};
use super::interpreter::{Run, WaitOutcome};
use super::*;
use crate::duration::millis;
use crate::store::*;

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
    /// The definition version `instance` runs on (see `versions`).
    async fn workflow_of(
        &self,
        run: &mut Run<'_>,
        instance: &InstanceRow,
    ) -> Result<Arc<Workflow>, EngineError> {
        self.version_of(run.tx.as_mut(), instance)
            .await?
            .ok_or_else(|| {
                EngineError::Internal(format!(
                    "definition version {} of workflow {} is neither stored nor loaded",
                    instance.definition_hash, instance.workflow_id
                ))
            })
    }

    /// Resolves a serial to its open-or-closed server-item wait, or `unknown_serial`.
    async fn server_item(&self, run: &mut Run<'_>, serial: &str) -> Result<WaitRow, EngineError> {
        let unknown = || EngineError::UnknownSerial(serial.to_string());
        let (instance_id, wait_id) = self.serials.parse(serial).ok_or_else(unknown)?;
        let wait = run.tx.get_wait(wait_id).await?.ok_or_else(unknown)?;
        if wait.instance_id != instance_id || wait.kind != WaitKind::ServerItem {
            return Err(unknown());
        }
        Ok(wait)
    }

    /// Locks the instance a serial names, then reads its server-item wait: instance before
    /// wait (the store's lock order), and the wait read under the lock, so that a migration
    /// that committed meanwhile (it renames the wait's step) cannot leave a stale step.
    async fn locked_server_item(
        &self,
        run: &mut Run<'_>,
        serial: &str,
    ) -> Result<(WaitRow, InstanceRow), EngineError> {
        let unknown = || EngineError::UnknownSerial(serial.to_string());
        let (instance_id, wait_id) = self.serials.parse(serial).ok_or_else(unknown)?;
        let instance = run
            .tx
            .lock_instance(instance_id)
            .await?
            .ok_or_else(unknown)?;
        let wait = run.tx.get_wait(wait_id).await?.ok_or_else(unknown)?;
        if wait.instance_id != instance_id || wait.kind != WaitKind::ServerItem {
            return Err(unknown());
        }
        Ok((wait, instance))
    }

    async fn instance_view(
        &self,
        tx: &mut dyn Tx,
        row: InstanceRow,
    ) -> Result<InstanceView, EngineError> {
        let filter = WaitFilter {
            instance_id: Some(row.id),
            state: Some(WaitState::Open),
            limit: 100,
            ..WaitFilter::default()
        };
        let waits = tx.list_waits(&filter).await?;
        let waits = waits
            .into_iter()
            .map(|wait| WaitView::new(wait, &self.serials))
            .collect();
        Ok(InstanceView::new(row, waits))
    }

    async fn view_of(&self, run: &mut Run<'_>, id: i64) -> Result<InstanceView, EngineError> {
        let row = run
            .tx
            .get_instance(id)
            .await?
            .ok_or(EngineError::UnknownInstance(id))?;
        self.instance_view(run.tx.as_mut(), row).await
    }

    /// `Forbidden` unless the caller may perform `action` on instances of `workflow_id`.
    /// Instances of a workflow whose definition is no longer loaded are for admins only.
    pub(crate) fn authorize(
        &self,
        caller: &Caller,
        workflow_id: &str,
        action: Action,
    ) -> Result<(), EngineError> {
        match self.workflows().get(workflow_id) {
            Some(workflow) => caller.access.require(&caller.name, workflow, action),
            None if caller.access.has_every_permission() => Ok(()),
            None => Err(EngineError::Forbidden(format!(
                "workflow `{workflow_id}` is not loaded; only admins may act on its instances"
            ))),
        }
    }

    /// What a listing may show the caller: `None` (everything) for admins and trusted
    /// callers, else the ids of the workflows it may view; a workflow filter it may not
    /// view is `forbidden`.
    pub(crate) fn view_scope(
        &self,
        caller: &Caller,
        workflow_id: Option<&str>,
    ) -> Result<Option<Vec<String>>, EngineError> {
        if caller.access.has_every_permission() {
            return Ok(None);
        }
        if let Some(workflow_id) = workflow_id {
            self.authorize(caller, workflow_id, Action::View)?;
        }
        Ok(Some(self.viewable_workflows(caller)))
    }

    /// Ids of the loaded workflows the caller may view.
    pub(crate) fn viewable_workflows(&self, caller: &Caller) -> Vec<String> {
        self.workflows()
            .iter()
            .filter(|workflow| caller.access.permits(&caller.name, workflow, Action::View))
            .map(|workflow| workflow.id.clone())
            .collect()
    }

    /// When a dedup key claimed at `now` (message id, Idempotency-Key) is forgotten.
    pub(super) fn dedup_expiry(&self, now: i64) -> i64 {
        now.saturating_add(millis(self.config.dedup_window))
    }

    /// Starts an instance and runs it to its first wait (or its end).
    pub async fn start(&self, request: StartRequest) -> Result<StartOutcome, EngineError> {
        crate::metrics::command("start", async move {
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
        if let Some(key) = &key
            && let DedupClaim::Existing(Some(first)) = run
                .tx
                .claim_dedup_key(key, run.now, self.dedup_expiry(run.now))
                .await?
        {
            let id: i64 = first
                .parse()
                .map_err(|_| EngineError::Internal(format!("bad start outcome {first}")))?;
            let instance = self.view_of(&mut run, id).await?;
            run.commit().await?;
            return Ok(StartOutcome {
                instance,
                replayed: true,
            });
        }
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
        let mut instance = InstanceRow {
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
        };
        run.history(
            id,
            "started",
            None,
            None,
            json!({"workflow": workflow.name, "hash": workflow.hash}),
        )
        .await?;
        run.advance(&mut instance, workflow, Some(0)).await?;
        run.save(&mut instance).await?;
        if let Some(key) = &key {
            run.tx.set_dedup_outcome(key, &id.to_string()).await?;
        }
        let view = self.instance_view(run.tx.as_mut(), instance).await?;
        run.commit().await?;
        Ok(StartOutcome {
            instance: view,
            replayed: false,
        })
    }

    /// Reads a server item (K2 `OpenServerItem`); it must be open.
    pub async fn open_server_item(
        &self,
        serial: &str,
        caller: &Caller,
    ) -> Result<ServerItemView, EngineError> {
        crate::metrics::command("open_server_item", async move {
            tracing::Span::current().record("serial", serial);
            let mut run = Run::begin(self, caller).await?;
            let wait = self.server_item(&mut run, serial).await?;
            let instance = run
                .tx
                .get_instance(wait.instance_id)
                .await?
                .ok_or_else(|| EngineError::UnknownSerial(serial.to_string()))?;
            self.authorize(caller, &instance.workflow_id, Action::ServerEvent)?;
            if wait.state != WaitState::Open {
                return Err(not_open(serial, wait.state));
            }
            run.commit().await?;
            Ok(ServerItemView {
                serial: self.serials.format(wait.instance_id, wait.id),
                instance_id: instance.id,
                workflow_id: instance.workflow_id,
                folio: instance.folio,
                step: wait.step_id,
                state: wait.state,
                deadline: clock::rfc3339(wait.deadline),
                fields: instance.fields,
            })
        })
        .await
    }

    /// Finishes a server item with data fields and continues its instance. With an
    /// idempotency key, a repeat returns the first outcome instead of `item_not_open`.
    pub async fn finish_server_item(
        &self,
        serial: &str,
        fields: &Map<String, Value>,
        caller: &Caller,
        idempotency_key: Option<&str>,
    ) -> Result<FinishOutcome, EngineError> {
        crate::metrics::command("finish_server_item", async move {
            tracing::Span::current().record("serial", serial);
            self.retrying(|| self.finish_once(serial, fields, caller, idempotency_key))
                .await
        })
        .await
    }

    async fn finish_once(
        &self,
        serial: &str,
        fields: &Map<String, Value>,
        caller: &Caller,
        idempotency_key: Option<&str>,
    ) -> Result<FinishOutcome, EngineError> {
        let mut run = Run::begin(self, caller).await?;
        let (wait, mut instance) = self.locked_server_item(&mut run, serial).await?;
        let key = idempotency_key.map(|key| format!("finish:{}:{key}", wait.id));
        if let Some(key) = &key
            && let DedupClaim::Existing(Some(_)) = run
                .tx
                .claim_dedup_key(key, run.now, self.dedup_expiry(run.now))
                .await?
        {
            let instance = self.view_of(&mut run, wait.instance_id).await?;
            self.authorize(caller, &instance.workflow_id, Action::ServerEvent)?;
            run.commit().await?;
            return Ok(FinishOutcome {
                instance,
                replayed: true,
            });
        }
        // Rights come from the current definition, steps and fields from the instance's own.
        self.authorize(caller, &instance.workflow_id, Action::ServerEvent)?;
        let workflow = self.workflow_of(&mut run, &instance).await?;
        let mut converted = Map::new();
        for (name, value) in fields {
            let value = workflow
                .convert_field(name, value)
                .map_err(EngineError::InvalidField)?;
            converted.insert(name.clone(), value);
        }
        if !run
            .tx
            .close_wait(wait.id, WaitState::Finished, run.now)
            .await?
        {
            return Err(self.closed_error(&mut run, &wait, serial).await);
        }
        run.tx.cancel_outbox_for_wait(wait.id, run.now).await?;
        let names: Vec<&String> = converted.keys().collect();
        run.history(
            instance.id,
            "server_item_finished",
            Some(&wait.step_id),
            Some(wait.id),
            json!({"fields": names}),
        )
        .await?;
        run.resume(
            &mut instance,
            &workflow,
            &wait,
            WaitOutcome::Finished(converted),
        )
        .await?;
        run.save(&mut instance).await?;
        if let Some(key) = &key {
            run.tx.set_dedup_outcome(key, "finished").await?;
        }
        let view = self.instance_view(run.tx.as_mut(), instance).await?;
        run.commit().await?;
        Ok(FinishOutcome {
            instance: view,
            replayed: false,
        })
    }

    /// The `item_not_open` error for a wait this transaction could not close.
    async fn closed_error(&self, run: &mut Run<'_>, wait: &WaitRow, serial: &str) -> EngineError {
        match run.tx.get_wait(wait.id).await {
            Ok(Some(current)) => not_open(serial, current.state),
            Ok(None) => EngineError::UnknownSerial(serial.to_string()),
            Err(error) => error.into(),
        }
    }

    /// Fails a server item: its step's `on_error`, else the instance fails.
    pub async fn fail_server_item(
        &self,
        serial: &str,
        message: &str,
        caller: &Caller,
    ) -> Result<InstanceView, EngineError> {
        crate::metrics::command("fail_server_item", async move {
            tracing::Span::current().record("serial", serial);
            self.retrying(|| async {
                let mut run = Run::begin(self, caller).await?;
                let (wait, mut instance) = self.locked_server_item(&mut run, serial).await?;
                self.authorize(caller, &instance.workflow_id, Action::ServerEvent)?;
                let workflow = self.workflow_of(&mut run, &instance).await?;
                if !run
                    .tx
                    .close_wait(wait.id, WaitState::Failed, run.now)
                    .await?
                {
                    return Err(self.closed_error(&mut run, &wait, serial).await);
                }
                run.tx.cancel_outbox_for_wait(wait.id, run.now).await?;
                run.history(
                    instance.id,
                    "server_item_failed",
                    Some(&wait.step_id),
                    Some(wait.id),
                    json!({"error": message}),
                )
                .await?;
                run.resume(
                    &mut instance,
                    &workflow,
                    &wait,
                    WaitOutcome::Failed(message.to_string()),
                )
                .await?;
                run.save(&mut instance).await?;
                let view = self.instance_view(run.tx.as_mut(), instance).await?;
                run.commit().await?;
                Ok(view)
            })
            .await
        })
        .await
    }

    /// Pushes the deadline of an open server item (a heartbeat). `deadline` is Unix ms.
    pub async fn extend_server_item(
        &self,
        serial: &str,
        deadline: i64,
        caller: &Caller,
    ) -> Result<ServerItemView, EngineError> {
        crate::metrics::command("extend_server_item", async move {
            tracing::Span::current().record("serial", serial);
            self.retrying(|| async {
                let mut run = Run::begin(self, caller).await?;
                if deadline <= run.now {
                    return Err(EngineError::MalformedRequest(format!(
                        "deadline {} is not in the future",
                        clock::rfc3339(deadline)
                    )));
                }
                let (wait, instance) = self.locked_server_item(&mut run, serial).await?;
                self.authorize(caller, &instance.workflow_id, Action::ServerEvent)?;
                if !run.tx.extend_wait(wait.id, deadline).await? {
                    return Err(self.closed_error(&mut run, &wait, serial).await);
                }
                let detail = json!({"deadline": clock::rfc3339(deadline)});
                run.history(
                    instance.id,
                    "server_item_extended",
                    Some(&wait.step_id),
                    Some(wait.id),
                    detail,
                )
                .await?;
                run.commit().await?;
                Ok(ServerItemView {
                    serial: self.serials.format(wait.instance_id, wait.id),
                    instance_id: instance.id,
                    workflow_id: instance.workflow_id,
                    folio: instance.folio,
                    step: wait.step_id,
                    state: WaitState::Open,
                    deadline: clock::rfc3339(deadline),
                    fields: instance.fields,
                })
            })
            .await
        })
        .await
    }

    /// Wakes every open wait on the event name; buffers the event when nobody waits.
    pub async fn send_custom_event(
        &self,
        event: &CustomEvent,
    ) -> Result<EventOutcome, EngineError> {
        crate::metrics::command("send_custom_event", async move {
            event
                .caller
                .access
                .require_right(&event.caller.name, Right::SendEvents)?;
            if event.name.trim().is_empty() {
                return Err(EngineError::MalformedRequest(
                    "the event name must not be empty".into(),
                ));
            }
            self.retrying(|| self.send_event_once(event)).await
        })
        .await
    }

    async fn send_event_once(&self, event: &CustomEvent) -> Result<EventOutcome, EngineError> {
        let mut run = Run::begin(self, &event.caller).await?;
        let key = event
            .message_id
            .as_ref()
            .map(|id| format!("event:{}:{id}", event.scope.as_str()));
        if let Some(key) = &key
            && let DedupClaim::Existing(Some(first)) = run
                .tx
                .claim_dedup_key(key, run.now, self.dedup_expiry(run.now))
                .await?
        {
            let mut outcome: EventOutcome = serde_json::from_str(&first)
                .map_err(|error| EngineError::Internal(format!("bad event outcome: {error}")))?;
            outcome.duplicate = true;
            run.commit().await?;
            return Ok(outcome);
        }
        let woken = run
            .deliver_event(&event.name, event.scope, &event.properties)
            .await?;
        let ttl = event.ttl.unwrap_or(self.config.buffer_ttl);
        let buffered_id = if woken.is_empty() && !ttl.is_zero() {
            let buffered = NewBufferedEvent {
                name: event.name.clone(),
                scope: event.scope,
                properties: self.seal_properties(event.properties.clone()),
                actor: event.caller.name.clone(),
                now: run.now,
                expires_at: run.now.saturating_add(millis(ttl)),
            };
            Some(run.tx.buffer_event(&buffered).await?)
        } else {
            None
        };
        let outcome = EventOutcome {
            woken,
            buffered_id,
            duplicate: false,
        };
        if let Some(key) = &key {
            let text = serde_json::to_string(&outcome)
                .map_err(|error| EngineError::Internal(error.to_string()))?;
            run.tx.set_dedup_outcome(key, &text).await?;
        }
        run.commit().await?;
        Ok(outcome)
    }

    /// Answers a `wait_input` step (vRO `answerWorkflowInput`).
    pub async fn answer_input(
        &self,
        instance_id: i64,
        inputs: &Map<String, Value>,
        caller: &Caller,
    ) -> Result<InstanceView, EngineError> {
        crate::metrics::command("answer_input", async move {
            tracing::Span::current().record("instance_id", instance_id);
            self.retrying(|| async {
                let mut run = Run::begin(self, caller).await?;
                let mut instance = run
                    .tx
                    .lock_instance(instance_id)
                    .await?
                    .ok_or(EngineError::UnknownInstance(instance_id))?;
                let filter = WaitFilter {
                    instance_id: Some(instance_id),
                    state: Some(WaitState::Open),
                    kind: Some(WaitKind::Input),
                    limit: 1,
                    ..WaitFilter::default()
                };
                let wait = run
                    .tx
                    .list_waits(&filter)
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| {
                        EngineError::ItemNotOpen(format!(
                            "instance {instance_id} is not waiting for input"
                        ))
                    })?;
                // Rights come from the current definition, the steps from the instance's own.
                self.authorize(caller, &instance.workflow_id, Action::Start)?;
                let workflow = self.workflow_of(&mut run, &instance).await?;
                let allowed = match workflow.step(&wait.step_id).map(|(_, step)| &step.kind) {
                    Some(StepKind::WaitInput { inputs, .. }) => inputs.clone(),
                    _ => Vec::new(),
                };
                let mut converted = Map::new();
                for (name, value) in inputs {
                    if !allowed.contains(name) {
                        return Err(EngineError::InvalidField(format!(
                            "`{name}` is not an input of step `{}` (inputs: {})",
                            wait.step_id,
                            allowed.join(", ")
                        )));
                    }
                    converted.insert(
                        name.clone(),
                        workflow
                            .convert_field(name, value)
                            .map_err(EngineError::InvalidField)?,
                    );
                }
                if !run
                    .tx
                    .close_wait(wait.id, WaitState::Finished, run.now)
                    .await?
                {
                    return Err(EngineError::ItemNotOpen(format!(
                        "instance {instance_id} is not waiting for input"
                    )));
                }
                let names: Vec<&String> = converted.keys().collect();
                run.history(
                    instance_id,
                    "input_answered",
                    Some(&wait.step_id),
                    Some(wait.id),
                    json!({"inputs": names}),
                )
                .await?;
                run.resume(
                    &mut instance,
                    &workflow,
                    &wait,
                    WaitOutcome::Input(converted),
                )
                .await?;
                run.save(&mut instance).await?;
                let view = self.instance_view(run.tx.as_mut(), instance).await?;
                run.commit().await?;
                Ok(view)
            })
            .await
        })
        .await
    }

    /// Cancels a running or waiting instance and closes its waits.
    pub async fn cancel(
        &self,
        instance_id: i64,
        caller: &Caller,
    ) -> Result<InstanceView, EngineError> {
        crate::metrics::command("cancel", async move {
            tracing::Span::current().record("instance_id", instance_id);
            self.retrying(|| async {
                let mut run = Run::begin(self, caller).await?;
                let mut instance = run
                    .tx
                    .lock_instance(instance_id)
                    .await?
                    .ok_or(EngineError::UnknownInstance(instance_id))?;
                self.authorize(caller, &instance.workflow_id, Action::Start)?;
                if instance.status.is_terminal() {
                    return Err(EngineError::ItemNotOpen(format!(
                        "instance {instance_id} is {} already",
                        instance.status.as_str()
                    )));
                }
                let filter = WaitFilter {
                    instance_id: Some(instance_id),
                    state: Some(WaitState::Open),
                    limit: 1000,
                    ..WaitFilter::default()
                };
                for wait in run.tx.list_waits(&filter).await? {
                    run.tx
                        .close_wait(wait.id, WaitState::Cancelled, run.now)
                        .await?;
                    run.tx.cancel_outbox_for_wait(wait.id, run.now).await?;
                }
                instance.status = InstanceStatus::Cancelled;
                run.history(
                    instance_id,
                    "cancelled",
                    instance.current_step.clone().as_deref(),
                    None,
                    json!({}),
                )
                .await?;
                run.save(&mut instance).await?;
                let view = self.instance_view(run.tx.as_mut(), instance).await?;
                run.commit().await?;
                Ok(view)
            })
            .await
        })
        .await
    }

    pub async fn get(
        &self,
        instance_id: i64,
        caller: &Caller,
    ) -> Result<InstanceView, EngineError> {
        let mut tx = self.store.begin().await?;
        let row = tx
            .get_instance(instance_id)
            .await?
            .ok_or(EngineError::UnknownInstance(instance_id))?;
        self.authorize(caller, &row.workflow_id, Action::View)?;
        let view = self.instance_view(tx.as_mut(), row).await?;
        tx.commit().await?;
        Ok(view)
    }

    pub async fn history(
        &self,
        instance_id: i64,
        caller: &Caller,
    ) -> Result<Vec<HistoryRow>, EngineError> {
        let mut tx = self.store.begin().await?;
        let row = tx
            .get_instance(instance_id)
            .await?
            .ok_or(EngineError::UnknownInstance(instance_id))?;
        self.authorize(caller, &row.workflow_id, Action::View)?;
        let rows = tx.history(instance_id).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The store's counts and lags (for `/metrics` and the admin page; no caller check).
    pub async fn stats(&self) -> Result<StoreStats, EngineError> {
        let mut tx = self.store.begin().await?;
        let stats = tx.stats(self.now_ms()).await?;
        tx.commit().await?;
        Ok(stats)
    }

    /// Instances, newest first; a caller without every permission sees only the
    /// workflows it may view.
    pub async fn list_instances(
        &self,
        filter: &InstanceFilter,
        caller: &Caller,
    ) -> Result<Vec<InstanceView>, EngineError> {
        let mut filter = filter.clone();
        filter.workflow_ids = self.view_scope(caller, filter.workflow_id.as_deref())?;
        let mut tx = self.store.begin().await?;
        let rows = tx.list_instances(&filter).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            views.push(self.instance_view(tx.as_mut(), row).await?);
        }
        tx.commit().await?;
        Ok(views)
    }

    /// Lists waits; a caller without every permission sees only the workflows it may view.
    pub async fn list_waits(
        &self,
        filter: &WaitFilter,
        caller: &Caller,
    ) -> Result<Vec<WaitView>, EngineError> {
        let mut filter = filter.clone();
        filter.workflow_ids = self.view_scope(caller, filter.workflow_id.as_deref())?;
        let mut tx = self.store.begin().await?;
        let rows = tx.list_waits(&filter).await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|row| WaitView::new(row, &self.serials))
            .collect())
    }
}

fn not_open(serial: &str, state: WaitState) -> EngineError {
    EngineError::ItemNotOpen(format!(
        "server item {serial} is {} already",
        state.as_str()
    ))
}
