//! Background runners: the deadline timer and the outbox.
//!
//! Both are safe to run on every node at once. The timer locks due waits' instances with
//! `SKIP LOCKED` and moves each wait `open → expired` with a conditional update, so a
//! deadline fires exactly once however many nodes tick. The outbox leases rows to this node
//! for `lease`; a node that dies leaves its rows to be reclaimed when the lease runs out,
//! so delivery is at least once (receivers see the serial and can de-duplicate).
//!
//! Runners wake on the store's work signal (LISTEN/NOTIFY on PostgreSQL) and poll as well.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::interpreter::{Run, WaitOutcome};
use super::outbound::{self, OutboundFailure, OutboundRequest, OutboundResponse};
use super::*;
use crate::duration::millis;
use crate::store::*;

impl Engine {
    /// Expires up to `batch_size` due waits in one transaction; returns how many fired.
    pub async fn expire_due_waits(&self) -> Result<usize, EngineError> {
        let caller = self.node_caller();
        self.retrying(|| async {
            let mut run = Run::begin(self, &caller).await?;
            let due = run
                .tx
                .lock_due_waits(run.now, self.config.timers.batch_size as i64)
                .await?;
            // Their instances are locked already: read them all in one query rather than
            // one round trip per wait (100,000 due waits on PostgreSQL).
            let ids: Vec<i64> = due.iter().map(|wait| wait.instance_id).collect();
            let mut instances: std::collections::HashMap<i64, InstanceRow> = run
                .tx
                .get_instances(&ids)
                .await?
                .into_iter()
                .map(|row| (row.id, row))
                .collect();
            // One wait per instance: a second due wait of the same instance waits for the
            // next batch, which sees the instance as the first one left it.
            let mut seen = std::collections::HashSet::new();
            let firsts: Vec<WaitRow> = due
                .into_iter()
                .filter(|wait| {
                    instances.contains_key(&wait.instance_id) && seen.insert(wait.instance_id)
                })
                .collect();
            let wait_ids: Vec<i64> = firsts.iter().map(|wait| wait.id).collect();
            let closed: std::collections::HashSet<i64> = run
                .tx
                .close_waits(&wait_ids, WaitState::Expired, run.now)
                .await?
                .into_iter()
                .collect();
            let mut fired = 0;
            for wait in firsts.into_iter().filter(|wait| closed.contains(&wait.id)) {
                let Some(mut instance) = instances.remove(&wait.instance_id) else {
                    continue;
                };
                fired += 1;
                run.tx.cancel_outbox_for_wait(wait.id, run.now).await?;
                run.history(
                    instance.id,
                    "wait_expired",
                    Some(&wait.step_id),
                    Some(wait.id),
                    json!({}),
                )
                .await?;
                match self.version_of(run.tx.as_mut(), &instance).await? {
                    Some(workflow) => {
                        run.resume(&mut instance, &workflow, &wait, WaitOutcome::Expired)
                            .await?;
                        run.save(&mut instance).await?;
                    }
                    None => run.orphaned(&mut instance, &wait).await?,
                }
            }
            run.tx.purge_expired(run.now).await?;
            run.commit().await?;
            Ok(fired)
        })
        .await
    }

    /// Purges one batch of instances that ended longer ago than `[retention] ended_after`
    /// (nothing when it is zero). Returns how many were purged.
    pub async fn purge_ended(&self) -> Result<usize, EngineError> {
        let policy = &self.config.retention;
        if policy.ended_after.is_zero() {
            return Ok(0);
        }
        let now = self.clock.now_ms();
        let before = now.saturating_sub(millis(policy.ended_after));
        let mut tx = self.store.begin().await?;
        let purged = tx
            .purge_ended_instances(before, policy.batch_size.max(1) as i64)
            .await?;
        tx.commit().await?;
        if purged > 0 {
            tracing::info!(purged, "ended instances purged");
            crate::metrics::instances_purged(purged);
        }
        Ok(purged as usize)
    }

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
        let result = outbound::send(&self.http, &request).await;
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
        result: Result<OutboundResponse, OutboundFailure>,
    ) -> Result<(), EngineError> {
        let caller = self.node_caller();
        self.retrying(|| async {
            let mut run = Run::begin(self, &caller).await?;
            // Lock order: instance, then the rows that belong to it.
            let Some(mut instance) = run.tx.lock_instance(row.instance_id).await? else {
                return Ok(());
            };
            let current = run.tx.get_outbox(row.id).await?;
            let still_ours = current.as_ref().is_some_and(|current| {
                current.state == OutboxState::Running
                    && current.lease_owner.as_deref() == Some(self.node_id.as_str())
                    && current.attempts == row.attempts
            });
            if !still_ours {
                tracing::info!(outbox_id = row.id, "outbound result dropped: the row was settled or re-leased");
                return Ok(());
            }
            let request: Option<OutboundRequest> = serde_json::from_value(row.request.clone()).ok();
            match &result {
                Err(failure) if failure.retryable && request.as_ref().is_some_and(|r| (row.attempts as u32) < r.max_attempts) => {
                    let delay = self.backoff(row.attempts as u32);
                    run.tx.reschedule_outbox(row.id, run.now.saturating_add(delay), &failure.message, run.now).await?;
                    let detail = json!({"attempt": row.attempts, "error": failure.message, "retry_in_ms": delay});
                    run.history(instance.id, "outbound_retry", None, Some(row.wait_id), detail).await?;
                    run.commit().await?;
                    return Ok(());
                }
                Err(failure) => {
                    run.tx.settle_outbox(row.id, OutboxState::Failed, Some(&failure.message), run.now).await?;
                }
                Ok(_) => run.tx.settle_outbox(row.id, OutboxState::Done, None, run.now).await?,
            }
            let Some(wait) = run.tx.get_wait(row.wait_id).await? else { return Ok(()) };
            let Some(workflow) = self.version_of(run.tx.as_mut(), &instance).await? else {
                if wait.state == WaitState::Open && run.tx.close_wait(wait.id, WaitState::Failed, run.now).await? {
                    run.orphaned(&mut instance, &wait).await?;
                }
                run.commit().await?;
                return Ok(());
            };
            if wait.state != WaitState::Open {
                // Finished, failed, expired or cancelled meanwhile: the result changes nothing.
                run.history(instance.id, "outbound_late", None, Some(wait.id), json!({"state": wait.state})).await?;
                run.commit().await?;
                return Ok(());
            }
            let saved = match (&result, &request) {
                (Ok(response), Some(request)) => saved_fields(&workflow, response, request),
                (Err(failure), _) => Err(failure.message.clone()),
                (Ok(_), None) => Err("unreadable request".to_string()),
            };
            let synchronous = request.as_ref().is_some_and(|r| r.synchronous);
            self.apply_outbound(&mut run, &mut instance, &workflow, &wait, row.kind, saved, synchronous).await?;
            run.save(&mut instance).await?;
            run.commit().await
        })
        .await
    }

    /// What a settled request means for its wait.
    #[allow(clippy::too_many_arguments)]
    async fn apply_outbound(
        &self,
        run: &mut Run<'_>,
        instance: &mut InstanceRow,
        workflow: &definition::Workflow,
        wait: &WaitRow,
        kind: OutboxKind,
        saved: Result<serde_json::Map<String, serde_json::Value>, String>,
        synchronous: bool,
    ) -> Result<(), EngineError> {
        let (state, outcome) = match (kind, saved) {
            (OutboxKind::Call, Ok(values)) => {
                (WaitState::Finished, WaitOutcome::CallSucceeded(values))
            }
            (OutboxKind::Call, Err(message)) => {
                (WaitState::Failed, WaitOutcome::CallFailed(message))
            }
            (OutboxKind::Notify, Ok(values)) if synchronous => {
                (WaitState::Finished, WaitOutcome::Finished(values))
            }
            (OutboxKind::Notify, Ok(values)) => {
                // The item stays open for the callback; keep what the system answered.
                let names: Vec<&String> = values.keys().collect();
                run.history(
                    instance.id,
                    "notify_delivered",
                    Some(&wait.step_id),
                    Some(wait.id),
                    json!({"saved": names}),
                )
                .await?;
                instance.fields.extend(values);
                return Ok(());
            }
            (OutboxKind::Notify, Err(message)) => (WaitState::Failed, WaitOutcome::Failed(message)),
        };
        if !run.tx.close_wait(wait.id, state, run.now).await? {
            return Ok(());
        }
        let detail = match &outcome {
            WaitOutcome::CallFailed(error) | WaitOutcome::Failed(error) => json!({"error": error}),
            _ => json!({}),
        };
        let kind = if state == WaitState::Finished {
            "outbound_succeeded"
        } else {
            "outbound_failed"
        };
        run.history(
            instance.id,
            kind,
            Some(&wait.step_id),
            Some(wait.id),
            detail,
        )
        .await?;
        run.resume(instance, workflow, wait, outcome).await
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

/// Values named by `save`, converted to their fields' types.
fn saved_fields(
    workflow: &definition::Workflow,
    response: &OutboundResponse,
    request: &OutboundRequest,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut values = serde_json::Map::new();
    for (field, path) in &request.save {
        let value =
            outbound::extract(response, path).map_err(|why| format!("save `{field}`: {why}"))?;
        values.insert(field.clone(), workflow.convert_field(field, &value)?);
    }
    Ok(values)
}

/// Starts the timer and outbox loops; they stop when `shutdown` turns true.
pub fn spawn(engine: Arc<Engine>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let timers = (0..engine.config.timers.concurrency).map(|_| {
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        let every = engine.config.timers.poll_interval;
        tokio::spawn(run_loop(
            "timer",
            engine,
            shutdown,
            every,
            |engine| async move { engine.expire_due_waits().await },
        ))
    });
    let mut tasks: Vec<JoinHandle<()>> = timers.collect();
    if !engine.config.retention.ended_after.is_zero() {
        let every = engine.config.retention.poll_interval;
        tasks.push(tokio::spawn(run_loop(
            "retention",
            engine.clone(),
            shutdown.clone(),
            every,
            |engine| async move { engine.purge_ended().await },
        )));
    }
    let outbox = {
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        let every = engine.config.outbox.poll_interval;
        tokio::spawn(run_loop(
            "outbox",
            engine,
            shutdown,
            every,
            |engine| async move { engine.run_outbox_once().await },
        ))
    };
    let every = engine.config.queue.poll_interval;
    let inbound = tokio::spawn(async move {
        run_loop(
            "inbound",
            engine.clone(),
            shutdown,
            every,
            |engine| async move { engine.run_inbound_once().await },
        )
        .await;
        // Leases this node still holds go back at once, so another node takes over.
        match engine.release_inbound_leases().await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "inbound leases released"),
            Err(error) => {
                tracing::warn!(%error, "could not release inbound leases; they run out by themselves")
            }
        }
    });
    tasks.extend([outbox, inbound]);
    tasks
}

async fn run_loop<F, Fut>(
    name: &'static str,
    engine: Arc<Engine>,
    mut shutdown: watch::Receiver<bool>,
    every: std::time::Duration,
    tick: F,
) where
    F: Fn(Arc<Engine>) -> Fut,
    Fut: Future<Output = Result<usize, EngineError>>,
{
    let signal = engine.store.work_signal();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let busy = match tick(engine.clone()).await {
            Ok(done) => done > 0,
            Err(error) => {
                tracing::warn!(runner = name, %error, detail = ?error, "runner tick failed");
                false
            }
        };
        if busy {
            continue; // there may be more right away
        }
        tokio::select! {
            _ = signal.notified() => {}
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!(runner = name, "runner stopped");
}
