//! Server items (K2 asynchronous server events): open, finish, fail and extend one by
//! its serial number. The instance is locked before its wait is read (the store's lock
//! order), so a migration that committed meanwhile cannot leave a stale step.

use serde_json::{Map, Value, json};

use crate::engine::access::Action;
use crate::engine::clock::rfc3339;
use crate::engine::interpreter::{Run, Settled, Settlement, WaitOutcome};
use crate::engine::telemetry::{Subject, observe};
use crate::engine::{
    Caller, Engine, EngineError, FinishOutcome, FinishSummary, InstanceSummary, InstanceView,
    ServerItemView,
};
use crate::store::{InstanceRow, WaitKind, WaitRow, WaitState};

/// A finish's work, done in its run and not yet committed.
struct FinishWork {
    /// The instance as the finish left it.
    instance: InstanceRow,
    /// An earlier call with the same idempotency key did the work.
    replayed: bool,
}

impl Engine {
    /// Reads a server item (K2 `OpenServerItem`); it must be open.
    pub async fn open_server_item(
        &self,
        serial: &str,
        caller: &Caller,
    ) -> Result<ServerItemView, EngineError> {
        observe("open_server_item", Subject::Serial(serial), async move {
            let mut run = Run::begin(self, caller).await?;
            let (instance_id, wait_id) = self.parse_serial(serial)?;
            let wait = server_item_wait(serial, instance_id, run.tx.get_wait(wait_id).await?)?;
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
            Ok(ServerItemView::new(wait, instance, &self.serials))
        })
        .await
    }

    /// Finishes a server item with data fields and continues its instance, answering with
    /// the instance's view. With an idempotency key, a repeat returns the first outcome
    /// instead of `item_not_open`.
    pub async fn finish_server_item(
        &self,
        serial: &str,
        fields: &Map<String, Value>,
        caller: &Caller,
        idempotency_key: Option<&str>,
    ) -> Result<FinishOutcome, EngineError> {
        self.command("finish_server_item", Subject::Serial(serial), || async {
            let mut run = Run::begin(self, caller).await?;
            let finish = self.settle_finish(&mut run, serial, fields, caller, idempotency_key);
            let FinishWork { instance, replayed } = finish.await?;
            Ok(FinishOutcome {
                instance: run.commit_view(instance).await?,
                replayed,
            })
        })
        .await
    }

    /// [`Self::finish_server_item`] for a caller that answers with the instance's id and
    /// status at most ([`InstanceSummary`]).
    pub async fn finish_server_item_summary(
        &self,
        serial: &str,
        fields: &Map<String, Value>,
        caller: &Caller,
        idempotency_key: Option<&str>,
    ) -> Result<FinishSummary, EngineError> {
        self.command("finish_server_item", Subject::Serial(serial), || async {
            let mut run = Run::begin(self, caller).await?;
            let finish = self.settle_finish(&mut run, serial, fields, caller, idempotency_key);
            let FinishWork { instance, replayed } = finish.await?;
            Ok(FinishSummary {
                instance: run.commit_summary(&instance).await?,
                replayed,
            })
        })
        .await
    }

    /// A finish's work in `run`, up to its commit.
    async fn settle_finish(
        &self,
        run: &mut Run<'_>,
        serial: &str,
        fields: &Map<String, Value>,
        caller: &Caller,
        idempotency_key: Option<&str>,
    ) -> Result<FinishWork, EngineError> {
        let (wait, mut instance) = self.locked_server_item(run, serial, caller).await?;
        let key = idempotency_key.map(|key| format!("finish:{}:{key}", wait.id));
        let replayed = run.replay_of(key.as_deref()).await?.is_some();
        if !replayed {
            // Rights come from the current definition, steps and fields from the
            // instance's own.
            let workflow = run.workflow_of(&instance).await?;
            let converted = workflow
                .convert_fields(fields)
                .map_err(EngineError::InvalidField)?;
            let settlement = Settlement::finished(
                "server_item_finished",
                "fields",
                converted,
                WaitOutcome::Finished,
            );
            self.settle_item(run, &mut instance, &wait, serial, settlement)
                .await?;
            run.remember_outcome(key.as_deref(), "finished").await?;
        }
        Ok(FinishWork { instance, replayed })
    }

    /// Fails a server item: its step's `on_error`, else the instance fails.
    pub async fn fail_server_item(
        &self,
        serial: &str,
        message: &str,
        caller: &Caller,
    ) -> Result<InstanceView, EngineError> {
        self.command("fail_server_item", Subject::Serial(serial), || async {
            let mut run = Run::begin(self, caller).await?;
            let instance = self.settle_fail(&mut run, serial, message, caller).await?;
            run.commit_view(instance).await
        })
        .await
    }

    /// [`Self::fail_server_item`] for a caller that answers with the instance's id and
    /// status at most ([`InstanceSummary`]).
    pub async fn fail_server_item_summary(
        &self,
        serial: &str,
        message: &str,
        caller: &Caller,
    ) -> Result<InstanceSummary, EngineError> {
        self.command("fail_server_item", Subject::Serial(serial), || async {
            let mut run = Run::begin(self, caller).await?;
            let instance = self.settle_fail(&mut run, serial, message, caller).await?;
            run.commit_summary(&instance).await
        })
        .await
    }

    /// A fail's work in `run`, up to its commit: the instance as it left it.
    async fn settle_fail(
        &self,
        run: &mut Run<'_>,
        serial: &str,
        message: &str,
        caller: &Caller,
    ) -> Result<InstanceRow, EngineError> {
        let (wait, mut instance) = self.locked_server_item(run, serial, caller).await?;
        // A command refuses an instance whose definition version is gone.
        run.workflow_of(&instance).await?;
        let settlement = Settlement {
            state: WaitState::Failed,
            record: Some(("server_item_failed", json!({"error": message}))),
            outcome: WaitOutcome::Failed(message.to_string()),
        };
        self.settle_item(run, &mut instance, &wait, serial, settlement)
            .await?;
        Ok(instance)
    }

    /// Pushes the deadline of an open server item (a heartbeat). `deadline` is Unix ms.
    pub async fn extend_server_item(
        &self,
        serial: &str,
        deadline: i64,
        caller: &Caller,
    ) -> Result<ServerItemView, EngineError> {
        self.command("extend_server_item", Subject::Serial(serial), || async {
            let mut run = Run::begin(self, caller).await?;
            if deadline <= run.now {
                return Err(EngineError::MalformedRequest(format!(
                    "deadline {} is not in the future",
                    rfc3339(deadline)
                )));
            }
            // A callback URL finishes or fails its item; pushing its deadline is not its to do.
            if matches!(
                caller.access,
                crate::engine::access::Access::Callback { .. }
            ) {
                return Err(EngineError::UnknownSerial(serial.to_string()));
            }
            let (mut wait, instance) = self.locked_server_item(&mut run, serial, caller).await?;
            if !run.tx.extend_wait(wait.id, deadline).await? {
                return Err(self.closed_error(&mut run, &wait, serial).await);
            }
            let detail = json!({"deadline": rfc3339(deadline)});
            run.wait_history(&wait, "server_item_extended", detail)
                .await?;
            run.commit().await?;
            wait.state = WaitState::Open;
            wait.deadline = deadline;
            Ok(ServerItemView::new(wait, instance, &self.serials))
        })
        .await
    }

    /// The instance and wait ids a serial names, or `unknown_serial`.
    fn parse_serial(&self, serial: &str) -> Result<(i64, i64), EngineError> {
        self.serials
            .parse(serial)
            .ok_or_else(|| EngineError::UnknownSerial(serial.to_string()))
    }

    /// Locks the instance a serial names, then reads its server-item wait under the lock,
    /// and checks that `caller` may act on server items of its workflow.
    async fn locked_server_item(
        &self,
        run: &mut Run<'_>,
        serial: &str,
        caller: &Caller,
    ) -> Result<(WaitRow, InstanceRow), EngineError> {
        let (instance_id, wait_id) = self.parse_serial(serial)?;
        let (instance, wait) = run
            .tx
            .lock_instance_and_get_wait(instance_id, wait_id)
            .await?;
        let instance = instance.ok_or_else(|| EngineError::UnknownSerial(serial.to_string()))?;
        let wait = server_item_wait(serial, instance_id, wait)?;
        if !self.check_callback(caller, &instance, &wait, run.now)? {
            self.authorize(caller, &instance.workflow_id, Action::ServerEvent)?;
        }
        Ok((wait, instance))
    }

    /// Settles a server item's wait, or explains why it was not open.
    async fn settle_item(
        &self,
        run: &mut Run<'_>,
        instance: &mut InstanceRow,
        wait: &WaitRow,
        serial: &str,
        settlement: Settlement,
    ) -> Result<(), EngineError> {
        if run.settle_wait(instance, wait, settlement).await? == Settled::NotOpen {
            return Err(self.closed_error(run, wait, serial).await);
        }
        Ok(())
    }

    /// The `item_not_open` error for a wait this transaction could not close.
    async fn closed_error(&self, run: &mut Run<'_>, wait: &WaitRow, serial: &str) -> EngineError {
        match run.tx.get_wait(wait.id).await {
            Ok(Some(current)) => not_open(serial, current.state),
            Ok(None) => EngineError::UnknownSerial(serial.to_string()),
            Err(error) => error.into(),
        }
    }
}

/// The wait a serial names, as read, when it is a server item of the instance the serial
/// names (open or closed); else `unknown_serial`.
fn server_item_wait(
    serial: &str,
    instance_id: i64,
    wait: Option<WaitRow>,
) -> Result<WaitRow, EngineError> {
    wait.filter(|wait| wait.instance_id == instance_id && wait.kind == WaitKind::ServerItem)
        .ok_or_else(|| EngineError::UnknownSerial(serial.to_string()))
}

fn not_open(serial: &str, state: WaitState) -> EngineError {
    EngineError::ItemNotOpen(format!(
        "server item {serial} is {} already",
        state.as_str()
    ))
}
