//! `[engine]`, `[events]`, `[serials]`, `[timers]`, `[retention]`, `[outbox]` and
//! `[queue]`: the engine's policies, resolved from their raw form against the engine's
//! own defaults ([`EngineConfig::default`]).

use super::raw::{RawEngine, RawEvents, RawOutbox, RawQueue, RawRetention, RawSerials, RawTimers};
use super::values::{at_least_one, duration};
use crate::engine::definition::bearer_env_name;
use crate::engine::{EngineConfig, OutboxPolicy, QueuePolicy, RetentionPolicy, TimerPolicy};

/// The raw sections the engine's configuration is made of.
pub(super) struct RawEngineSections {
    pub engine: RawEngine,
    pub events: RawEvents,
    pub serials: RawSerials,
    pub timers: RawTimers,
    pub retention: RawRetention,
    pub outbox: RawOutbox,
    pub queue: RawQueue,
}

pub(super) fn resolve(raw: RawEngineSections) -> Result<EngineConfig, String> {
    let defaults = EngineConfig::default();
    let engine = EngineConfig {
        queue: queue(raw.queue, &defaults.queue)?,
        default_deadline: duration(
            "[engine] default_deadline",
            raw.engine.default_deadline,
            defaults.default_deadline,
        )?,
        max_steps: at_least_one(
            "[engine] max_steps",
            raw.engine.max_steps,
            defaults.max_steps,
        )?,
        buffer_ttl: duration(
            "[events] buffer_ttl",
            raw.events.buffer_ttl,
            defaults.buffer_ttl,
        )?,
        dedup_window: duration(
            "[events] dedup_window",
            raw.events.dedup_window,
            defaults.dedup_window,
        )?,
        signed_serials: raw.serials.signed.unwrap_or(defaults.signed_serials),
        public_url: None,
        outbox: outbox(raw.outbox, &defaults.outbox)?,
        timers: timers(raw.timers, &defaults.timers)?,
        retention: RetentionPolicy {
            ended_after: duration(
                "[retention] ended_after",
                raw.retention.ended_after,
                defaults.retention.ended_after,
            )?,
            ..defaults.retention
        },
    };
    if engine.default_deadline.is_zero() {
        return Err(
            "[engine] default_deadline: every wait needs a deadline; give a positive duration"
                .into(),
        );
    }
    Ok(engine)
}

fn outbox(raw: RawOutbox, defaults: &OutboxPolicy) -> Result<OutboxPolicy, String> {
    let outbox = OutboxPolicy {
        max_attempts: at_least_one(
            "[outbox] max_attempts",
            raw.max_attempts,
            defaults.max_attempts,
        )?,
        backoff_initial: duration(
            "[outbox] backoff_initial",
            raw.backoff_initial,
            defaults.backoff_initial,
        )?,
        backoff_max: duration(
            "[outbox] backoff_max",
            raw.backoff_max,
            defaults.backoff_max,
        )?,
        request_timeout: duration(
            "[outbox] request_timeout",
            raw.request_timeout,
            defaults.request_timeout,
        )?,
        lease: duration("[outbox] lease", raw.lease, defaults.lease)?,
        concurrency: at_least_one(
            "[outbox] concurrency",
            raw.concurrency,
            defaults.concurrency,
        )?,
        poll_interval: duration(
            "[outbox] poll_interval",
            raw.poll_interval,
            defaults.poll_interval,
        )?,
        bearer_env: raw.bearer_env.unwrap_or_default(),
    };
    for name in &outbox.bearer_env {
        bearer_env_name(name).map_err(|why| format!("[outbox] bearer_env: {why}"))?;
    }
    if outbox.lease <= outbox.request_timeout {
        return Err("[outbox] lease: must be longer than [outbox] request_timeout".into());
    }
    Ok(outbox)
}

fn queue(raw: RawQueue, defaults: &QueuePolicy) -> Result<QueuePolicy, String> {
    let queue = QueuePolicy {
        runners: at_least_one("[queue] runners", raw.runners, defaults.runners)?,
        lease: duration("[queue] lease", raw.lease, defaults.lease)?,
        poll_interval: duration(
            "[queue] poll_interval",
            raw.poll_interval,
            defaults.poll_interval,
        )?,
        encryption_key: raw
            .encryption_key_file
            .filter(|path| !path.as_os_str().is_empty())
            .map(|path| {
                let bytes = std::fs::read(&path).map_err(|error| {
                    format!(
                        "[queue] encryption_key_file: cannot read {}: {error}",
                        path.display()
                    )
                })?;
                crate::engine::crypto::QueueKey::from_file_contents(&bytes)
                    .map_err(|why| format!("[queue] encryption_key_file {}: {why}", path.display()))
            })
            .transpose()?,
    };
    if queue.lease.is_zero() {
        return Err("[queue] lease: must be above 0".into());
    }
    Ok(queue)
}

fn timers(raw: RawTimers, defaults: &TimerPolicy) -> Result<TimerPolicy, String> {
    Ok(TimerPolicy {
        poll_interval: duration(
            "[timers] poll_interval",
            raw.poll_interval,
            defaults.poll_interval,
        )?,
        batch_size: at_least_one("[timers] batch_size", raw.batch_size, defaults.batch_size)?,
        concurrency: at_least_one(
            "[timers] concurrency",
            raw.concurrency,
            defaults.concurrency,
        )?,
    })
}
