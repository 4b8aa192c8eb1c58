//! The outbox runner: leases due requests to this node, sends them after the commit that
//! wrote them, and records each result in the instance's transaction. A retryable failure
//! is rescheduled with backoff; a final result settles the wait through the one
//! settlement path (`Run::settle_wait`). Delivery is at least once: a node that dies
//! leaves its rows to be reclaimed when the lease runs out.

use serde_json::{Map, Value, json};

use crate::duration::millis;
use crate::engine::definition::Workflow;
use crate::engine::interpreter::{Run, Settlement, WaitOutcome};
use crate::engine::outbound::{self, OutboundFailure, OutboundRequest, OutboundResponse};
use crate::engine::{Engine, EngineError};
use crate::store::{InstanceRow, OutboxKind, OutboxRow, OutboxState, WaitRow, WaitState};

type OutboundResult = Result<OutboundResponse, OutboundFailure>;

impl Engine {
    /// Leases due outbox rows to this node (one short transaction).
    pub async fn claim_outbound(&self) -> Result<Vec<OutboxRow>, EngineError> {
        let mut tx = self.store.begin().await?;
        let now = self.clock.now_ms();
        let lease_until = now.saturating_add(millis(self.config.outbox.lease));
        let limit = self.config.outbox.concurrency.max(1) as i64;
        let rows = tx
            .claim_outbox(now, lease_until, &self.node_id, limit)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Sends one claimed request and records the result.
    pub async fn deliver_outbound(&self, row: &OutboxRow) -> Result<(), EngineError> {
        let request: OutboundRequest = match serde_json::from_value(row.request.clone()) {
            Ok(request) => request,
            Err(error) => {
                let failure = OutboundFailure {
                    retryable: false,
                    message: format!("unreadable request: {error}"),
                };
                return self.record_outbound(row, Err(failure)).await;
            }
        };
        tracing::debug!(outbox_id = row.id, attempt = row.attempts, url = %request.url, "sending");
        let result = outbound::send(&self.http, &request, &self.config.outbox).await;
        self.record_outbound(row, result).await
    }

    /// Claims and delivers one batch; returns how many rows it handled.
    pub async fn run_outbox_once(&self) -> Result<usize, EngineError> {
        let rows = self.claim_outbound().await?;
        let results =
            futures_util::future::join_all(rows.iter().map(|row| self.deliver_outbound(row))).await;
        for (row, result) in rows.iter().zip(results) {
            if let Err(error) = result {
                tracing::warn!(outbox_id = row.id, %error, "recording an outbound result failed");
            }
        }
        Ok(rows.len())
    }

    async fn record_outbound(
        &self,
        row: &OutboxRow,
        result: OutboundResult,
    ) -> Result<(), EngineError> {
        let caller = self.node_caller();
        self.retrying(|| async {
            let mut run = Run::begin(self, &caller).await?;
            // Lock order: instance, then the rows that belong to it.
            let Some(mut instance) = run.tx.lock_instance(row.instance_id).await? else {
                return Ok(());
            };
            if !self.still_ours(&mut run, row).await? {
                tracing::info!(
                    outbox_id = row.id,
                    "outbound result dropped: the row was settled or re-leased"
                );
                return Ok(());
            }
            let request: Option<OutboundRequest> = serde_json::from_value(row.request.clone()).ok();
            let may_retry = request
                .as_ref()
                .is_some_and(|request| (row.attempts as u32) < request.max_attempts);
            if let Err(failure) = &result
                && failure.retryable
                && may_retry
            {
                self.retry_later(&mut run, row, failure).await?;
                return run.commit().await;
            }
            let (state, error) = match &result {
                Err(failure) => (OutboxState::Failed, Some(failure.message.as_str())),
                Ok(_) => (OutboxState::Done, None),
            };
            run.tx.settle_outbox(row.id, state, error, run.now).await?;
            let Some(wait) = run.tx.get_wait(row.wait_id).await? else {
                return Ok(());
            };
            let result = (&result, request.as_ref());
            self.settle_outbound_wait(&mut run, &mut instance, &wait, row.kind, result)
                .await?;
            run.commit().await
        })
        .await
    }

    /// What a final result means for the wait that sent it, unless the wait was settled
    /// meanwhile; an instance whose definition version is gone fails.
    async fn settle_outbound_wait(
        &self,
        run: &mut Run<'_>,
        instance: &mut InstanceRow,
        wait: &WaitRow,
        kind: OutboxKind,
        (result, request): (&OutboundResult, Option<&OutboundRequest>),
    ) -> Result<(), EngineError> {
        let Some(workflow) = self.version_of(run.tx.as_mut(), instance).await? else {
            if wait.state == WaitState::Open {
                // Settling finds the version gone and fails the instance.
                let settlement = Settlement {
                    state: WaitState::Failed,
                    record: None,
                    outcome: WaitOutcome::Failed("workflow not loaded".into()),
                };
                run.settle_wait(instance, wait, settlement).await?;
            }
            return Ok(());
        };
        if wait.state != WaitState::Open {
            // Finished, failed, expired or cancelled meanwhile: the result changes nothing.
            let detail = json!({"state": wait.state});
            return run
                .history(instance.id, "outbound_late", None, Some(wait.id), detail)
                .await;
        }
        let saved = match (result, request) {
            (Ok(response), Some(request)) => saved_fields(&workflow, response, request),
            (Err(failure), _) => Err(failure.message.clone()),
            (Ok(_), None) => Err("unreadable request".to_string()),
        };
        let synchronous = request.is_some_and(|request| request.synchronous);
        match outbound_effect(kind, saved, synchronous) {
            Effect::Settle(settlement) => {
                run.settle_wait(instance, wait, settlement).await?;
                Ok(())
            }
            Effect::KeepOpen(values) => {
                let names: Vec<&String> = values.keys().collect();
                let detail = json!({"saved": names});
                run.wait_history(wait, "notify_delivered", detail).await?;
                instance.fields.extend(values);
                run.save(instance).await
            }
        }
    }

    /// Whether this node still holds `row` for the attempt it sent.
    async fn still_ours(&self, run: &mut Run<'_>, row: &OutboxRow) -> Result<bool, EngineError> {
        let current = run.tx.get_outbox(row.id).await?;
        Ok(current.as_ref().is_some_and(|current| {
            current.state == OutboxState::Running
                && current.lease_owner.as_deref() == Some(self.node_id.as_str())
                && current.attempts == row.attempts
        }))
    }

    /// Reschedules a retryable failure with backoff; the wait stays open.
    async fn retry_later(
        &self,
        run: &mut Run<'_>,
        row: &OutboxRow,
        failure: &OutboundFailure,
    ) -> Result<(), EngineError> {
        let delay = self.backoff(row.attempts as u32);
        let due = run.now.saturating_add(delay);
        run.tx
            .reschedule_outbox(row.id, due, &failure.message, run.now)
            .await?;
        let detail =
            json!({"attempt": row.attempts, "error": failure.message, "retry_in_ms": delay});
        run.history(
            row.instance_id,
            "outbound_retry",
            None,
            Some(row.wait_id),
            detail,
        )
        .await
    }

    /// Delay before attempt `attempts + 1`: exponential from `backoff_initial`, capped.
    fn backoff(&self, attempts: u32) -> i64 {
        let policy = &self.config.outbox;
        let initial = millis(policy.backoff_initial).max(1);
        let factor = 1i64
            .checked_shl(attempts.saturating_sub(1).min(30))
            .unwrap_or(i64::MAX);
        initial
            .saturating_mul(factor)
            .min(millis(policy.backoff_max))
    }
}

/// What a final result does to the wait that sent it.
enum Effect {
    /// A call, or a synchronous notify: the wait is settled.
    Settle(Settlement),
    /// An asynchronous notify went through: the item stays open for the callback, and
    /// what the system answered is kept.
    KeepOpen(Map<String, Value>),
}

fn outbound_effect(
    kind: OutboxKind,
    saved: Result<Map<String, Value>, String>,
    synchronous: bool,
) -> Effect {
    let (state, outcome) = match (kind, saved) {
        (OutboxKind::Call, Ok(values)) => (WaitState::Finished, WaitOutcome::CallSucceeded(values)),
        (OutboxKind::Call, Err(message)) => (WaitState::Failed, WaitOutcome::CallFailed(message)),
        (OutboxKind::Notify, Ok(values)) if synchronous => {
            (WaitState::Finished, WaitOutcome::Finished(values))
        }
        (OutboxKind::Notify, Ok(values)) => return Effect::KeepOpen(values),
        (OutboxKind::Notify, Err(message)) => (WaitState::Failed, WaitOutcome::Failed(message)),
    };
    let record = match &outcome {
        WaitOutcome::CallFailed(error) | WaitOutcome::Failed(error) => {
            ("outbound_failed", json!({"error": error}))
        }
        _ => ("outbound_succeeded", json!({})),
    };
    Effect::Settle(Settlement {
        state,
        record: Some(record),
        outcome,
    })
}

/// Values named by `save`, converted to their fields' types.
fn saved_fields(
    workflow: &Workflow,
    response: &OutboundResponse,
    request: &OutboundRequest,
) -> Result<Map<String, Value>, String> {
    let mut values = Map::new();
    for (field, path) in &request.save {
        let value =
            outbound::extract(response, path).map_err(|why| format!("save `{field}`: {why}"))?;
        values.insert(field.clone(), workflow.convert_field(field, &value)?);
    }
    Ok(values)
}
