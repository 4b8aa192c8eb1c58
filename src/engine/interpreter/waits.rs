//! Opening waits: the row a step waits on, its `wait_opened` history, and for server
//! events and calls the outbox row that tells the outside world (sent after the commit).

use serde_json::{Value, json};

use super::{Flow, Run};
use crate::engine::EngineError;
use crate::engine::clock::rfc3339;
use crate::engine::definition::{HttpSpec, Workflow};
use crate::store::{
    EventScope, InstanceRow, InstanceStatus, NewOutbox, NewWait, OutboxKind, WaitKind, WaitRow,
    WaitState,
};

impl Run<'_> {
    /// Opens a wait falling due at `deadline` (Unix ms; one in the past is expired by the
    /// timer, which this transaction wakes as it commits a new wait).
    pub(super) async fn open_wait(
        &mut self,
        instance: &mut InstanceRow,
        step_id: &str,
        kind: WaitKind,
        event_name: Option<String>,
        scope: Option<EventScope>,
        deadline: i64,
    ) -> Result<WaitRow, EngineError> {
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

    /// Server events and calls: a wait, plus the outbox row that tells the outside world
    /// when the step has a request (`outbound`: what to send, and whether the answer
    /// finishes the item at once).
    pub(super) async fn open_outbound_wait(
        &mut self,
        instance: &mut InstanceRow,
        workflow: &Workflow,
        index: usize,
        kind: WaitKind,
        deadline: i64,
        outbound: Option<(&HttpSpec, bool)>,
    ) -> Result<Flow, EngineError> {
        let step_id = workflow.steps[index].id.clone();
        let wait = self
            .open_wait(instance, &step_id, kind, None, None, deadline)
            .await?;
        let Some((http, synchronous)) = outbound else {
            return Ok(Flow::Stop);
        };
        let serial = (kind == WaitKind::ServerItem)
            .then(|| self.engine.serials.format(instance.id, wait.id));
        let callback_url = self
            .engine
            .config
            .public_url
            .as_deref()
            .filter(|_| serial.is_some() && workflow.gives_callback_url(&step_id))
            .map(|public_url| self.engine.callback_url(public_url, instance.id, wait.id));
        let context = self
            .context(
                instance,
                workflow,
                &step_id,
                serial.as_deref().map(|s| (s, wait.id)),
            )
            .map(|mut context| {
                if let Some(url) = callback_url {
                    context["item"]["callback_url"] = Value::String(url);
                }
                context
            })
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
}
