//! DESIGN §8: "100,000 deadlines falling due at once: all expired within 10 s". Starts N
//! instances that each wait for a custom event with a 1-minute deadline, moves the clock
//! past it, and times the timer runner's work until no open wait is left.
//!
//!     cargo bench --bench deadlines [-- --waits 100000 --loops 4]
//!     HOLDPOINT_BENCH_DATABASE_URL=postgres://…/empty_db cargo bench --bench deadlines
//!
//! The embedded store is a fresh file in a temporary folder; a PostgreSQL URL must name an
//! empty database (migrations run first). One node's timer loops do the work, as
//! `holdpoint serve` would: `--loops` of them (default `[timers] concurrency`) at once, in
//! batches of `[timers] batch_size`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use holdpoint::engine::clock::ManualClock;
use holdpoint::engine::definition::{Workflows, compile};
use holdpoint::engine::{Caller, Engine, EngineConfig, StartRequest};
use holdpoint::store::{Connections, StoreTarget};

const WAITER: &str = r#"
id = "dededede-dede-4ede-8ede-dededededede"
name = "deadline-bench"
[fields]
n = { type = "number" }
[[steps]]
id = "wait"
kind = "wait_event"
event = "never-{{ fields.n }}"
deadline = "1m"
on_timeout = "late"
[[steps]]
id = "done"
kind = "end"
[[steps]]
id = "late"
kind = "end"
"#;

fn main() {
    let mut waits: usize = 100_000;
    let mut loops = EngineConfig::default().timers.concurrency;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--waits" => waits = args.next().and_then(|n| n.parse().ok()).expect("--waits N"),
            "--loops" => loops = args.next().and_then(|n| n.parse().ok()).expect("--loops N"),
            _ => {}
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(waits, loops));
}

async fn run(waits: usize, loops: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = match std::env::var("HOLDPOINT_BENCH_DATABASE_URL") {
        Ok(url) => StoreTarget::Postgres {
            url,
            connections: Connections {
                pool_size: 16,
                ..Connections::ONE
            },
        },
        Err(_) => StoreTarget::Sqlite {
            path: dir.path().join("bench.db"),
        },
    };
    let store = holdpoint::store::open(&target).await.expect("store");
    let workflow = compile(Path::new("deadline-bench.toml"), WAITER.as_bytes()).expect("workflow");
    let clock = ManualClock::new(chrono::Utc::now().timestamp_millis());
    let config = EngineConfig::default();
    let batch = config.timers.batch_size;
    let engine = Arc::new(
        Engine::new(
            store.clone(),
            Arc::new(Workflows::from_list(vec![workflow])),
            config,
            Arc::new(clock.clone()),
        )
        .await
        .expect("engine"),
    );

    let started = Instant::now();
    let writers = 16.min(waits.max(1));
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let engine = engine.clone();
            tokio::spawn(async move {
                for n in (writer..waits).step_by(writers) {
                    let fields = serde_json::json!({ "n": n });
                    engine
                        .start(StartRequest {
                            workflow: "deadline-bench".into(),
                            fields: serde_json::from_value(fields).expect("fields"),
                            folio: None,
                            event: serde_json::json!({}),
                            caller: Caller::new("bench", "bench"),
                            idempotency_key: None,
                        })
                        .await
                        .expect("start");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer");
    }
    println!(
        "{waits} open waits created in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        describe(&target)
    );

    clock.advance(Duration::from_secs(120));
    let started = Instant::now();
    // Each loop stops when it finds nothing it can claim; the others may still be busy.
    let runners: Vec<_> = (0..loops.max(1))
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let mut expired = 0;
                loop {
                    let done = engine.expire_due_waits().await.expect("expire");
                    if done == 0 {
                        return expired;
                    }
                    expired += done;
                }
            })
        })
        .collect();
    let mut expired = 0;
    for runner in runners {
        expired += runner.await.expect("a timer loop");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = engine.stats().await.expect("stats");
    let still_open: i64 = stats.open_waits.iter().map(|(_, n)| n).sum();
    assert_eq!(still_open, 0, "every deadline expired");
    println!(
        "{expired} deadlines expired in {elapsed:.2} s ({:.0}/s, {loops} loops, batches of {batch}); target: within 10 s",
        expired as f64 / elapsed
    );
    println!("deadlines_result waits={waits} expired={expired} seconds={elapsed:.3}");
}

fn describe(target: &StoreTarget) -> &'static str {
    match target {
        StoreTarget::Sqlite { .. } => "embedded store",
        StoreTarget::Postgres { .. } => "PostgreSQL",
    }
}
