//! Background runners: the deadline timer, retention, the outbox (see `outbox`) and the
//! inbound queue (see `engine::inbound`).
//!
//! All are safe to run on every node at once. The timer locks due waits' instances with
//! `SKIP LOCKED` and moves each wait `open → expired` with a conditional update, so a
//! deadline fires exactly once however many nodes tick. The outbox leases rows to this node
//! for `lease`; a node that dies leaves its rows to be reclaimed when the lease runs out,
//! so delivery is at least once (receivers see the serial and can de-duplicate).
//!
//! Runners wake on the store's work signal (LISTEN/NOTIFY on PostgreSQL) and poll as well.

mod outbox;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::interpreter::{Run, WaitOutcome};
use super::telemetry::{count_store_error, instances_purged};
use super::{Engine, EngineError};
use crate::duration::millis;
use crate::store::{InstanceRow, WaitRow, WaitState};

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
            let mut instances: HashMap<i64, InstanceRow> = run
                .tx
                .get_instances(&ids)
                .await?
                .into_iter()
                .map(|row| (row.id, row))
                .collect();
            // One wait per instance: a second due wait of the same instance waits for the
            // next batch, which sees the instance as the first one left it.
            let mut seen = HashSet::new();
            let firsts: Vec<WaitRow> = due
                .into_iter()
                .filter(|wait| {
                    instances.contains_key(&wait.instance_id) && seen.insert(wait.instance_id)
                })
                .collect();
            let wait_ids: Vec<i64> = firsts.iter().map(|wait| wait.id).collect();
            let closed: HashSet<i64> = run
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
                let record = Some(("wait_expired", json!({})));
                run.settle_closed(&mut instance, &wait, record, WaitOutcome::Expired)
                    .await?;
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
            instances_purged(purged);
        }
        Ok(purged as usize)
    }
}

/// One background loop of this node.
#[derive(Debug, Clone, Copy)]
enum Runner {
    /// Expires due waits (`[timers] concurrency` of them).
    Timer,
    /// Purges ended instances (only when `[retention] ended_after` is set).
    Retention,
    /// Sends outbound requests.
    Outbox,
    /// Delivers the inbound queue.
    Inbound,
}

impl Runner {
    fn name(self) -> &'static str {
        match self {
            Self::Timer => "timer",
            Self::Retention => "retention",
            Self::Outbox => "outbox",
            Self::Inbound => "inbound",
        }
    }

    fn poll_interval(self, engine: &Engine) -> Duration {
        let config = &engine.config;
        match self {
            Self::Timer => config.timers.poll_interval,
            Self::Retention => config.retention.poll_interval,
            Self::Outbox => config.outbox.poll_interval,
            Self::Inbound => config.queue.poll_interval,
        }
    }

    /// One round of work; how many items it handled.
    async fn tick(self, engine: &Engine) -> Result<usize, EngineError> {
        match self {
            Self::Timer => engine.expire_due_waits().await,
            Self::Retention => engine.purge_ended().await,
            Self::Outbox => engine.run_outbox_once().await,
            Self::Inbound => engine.run_inbound_once().await,
        }
    }

    /// What a runner hands back when it stops.
    async fn stopped(self, engine: &Engine) {
        if !matches!(self, Self::Inbound) {
            return;
        }
        // Leases this node still holds go back at once, so another node takes over.
        match engine.release_inbound_leases().await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "inbound leases released"),
            Err(error) => {
                tracing::warn!(%error, "could not release inbound leases; they run out by themselves")
            }
        }
    }
}

/// Starts the timer, retention, outbox and inbound loops; they stop when `shutdown` turns
/// true.
pub fn spawn(engine: Arc<Engine>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let mut runners = vec![Runner::Timer; engine.config.timers.concurrency];
    if !engine.config.retention.ended_after.is_zero() {
        runners.push(Runner::Retention);
    }
    runners.extend([Runner::Outbox, Runner::Inbound]);
    runners
        .into_iter()
        .map(|runner| tokio::spawn(run_loop(runner, engine.clone(), shutdown.clone())))
        .collect()
}

async fn run_loop(runner: Runner, engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let name = runner.name();
    let every = runner.poll_interval(&engine);
    let signal = engine.store.work_signal();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let busy = match runner.tick(&engine).await {
            Ok(done) => done > 0,
            Err(error) => {
                count_store_error(&error);
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
    runner.stopped(&engine).await;
}
