//! Reliability under faults (RELIABILITY.md): real `holdpoint serve` processes under a
//! load of callbacks, killed with SIGKILL, their PostgreSQL crashed and restarted, two
//! nodes on one database, hostile clients. Each scenario ends with an audit of the database
//! against what the client saw acknowledged: nothing lost, nothing applied twice.
//!
//! Long (minutes): ignored by a plain `cargo test`, run by
//! `cargo test --test reliability -- --ignored --test-threads=1 --nocapture`
//! (`.ci/run` runs it with small sizes). `HOLDPOINT_RELIABILITY_INSTANCES` sets how many
//! instances of each kind a scenario drives (default 300; three callbacks each).

#[path = "../support/mod.rs"]
mod support;

mod audit;
mod burst;
mod cluster;
mod hostile;
mod load;
mod scenario;
mod soak;

use std::time::Duration;

use audit::Db;
use cluster::{Cluster, StopMode};
use load::{OnNoAnswer, Outcome};
use scenario::{Node, Setup};

fn instances() -> usize {
    std::env::var("HOLDPOINT_RELIABILITY_INSTANCES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(300)
}

/// `kill -9` mid-load on PostgreSQL, restart, audit; resend what was not acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: cargo test --test reliability -- --ignored --test-threads=1"]
async fn kill_9_on_postgres_loses_nothing_acknowledged() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let setup = Setup::new(Node::postgres(&cluster.url()), instances());
    let db = Db::Postgres(cluster.client().await);
    scenario::crash_and_restart(&setup, &db, "kill -9 on PostgreSQL").await;
}

/// The same with group commit on two lanes: the kill comes mid-batch (commands released
/// into a batch, its `COMMIT` not sent or not answered); none of them was acknowledged, and
/// a batch is applied whole or not at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: cargo test --test reliability -- --ignored --test-threads=1"]
async fn kill_9_on_postgres_with_group_commit_loses_nothing_acknowledged() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let setup = Setup::new(Node::postgres(&cluster.url()), instances()).with_group_commit();
    let db = Db::Postgres(cluster.client().await);
    scenario::crash_and_restart(&setup, &db, "kill -9 on PostgreSQL, group commit").await;
}

/// `kill -9` mid-load on the embedded store (WAL, synchronous=FULL), restart, audit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: cargo test --test reliability -- --ignored --test-threads=1"]
async fn kill_9_on_sqlite_loses_nothing_acknowledged() {
    let setup = Setup::new(Node::sqlite(), instances());
    let db = Db::Sqlite(setup.sqlite_file());
    scenario::crash_and_restart(&setup, &db, "kill -9 on SQLite").await;
}

/// PostgreSQL crashes (`pg_ctl stop -m immediate`) and comes back under load: the node
/// answers `store_unavailable` quickly meanwhile, recovers by itself, loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: cargo test --test reliability -- --ignored --test-threads=1"]
async fn postgres_restart_under_load_answers_503_and_recovers() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let setup = Setup::new(Node::postgres(&cluster.url()), instances());
    let server = setup.serve();
    let serials = setup.start_waiting(&server.base).await;
    let ops = load::mixed_ops(&serials);
    let bases = vec![server.base.clone()];
    let total = ops.len();
    let (driving, progress) = load::spawn(bases.clone(), ops, OnNoAnswer::GoOn);
    load::wait_until(
        "a quarter is acknowledged",
        Duration::from_secs(300),
        async || progress.acknowledged() >= total / 4,
    )
    .await;
    cluster.stop(StopMode::Immediate);
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.start_server();
    let ledger = driving.await.expect("the load");
    let refused = ledger.count(|o| matches!(o, Some(Outcome::Refused(..))));
    for outcome in ledger.outcomes.iter().flatten() {
        match outcome {
            Outcome::Acknowledged => {}
            Outcome::Refused(status, body) => assert!(
                *status == 503 && body.contains("store_unavailable"),
                "during the outage: {status} {body}"
            ),
            Outcome::NoAnswer(why) => panic!("a request got no answer during the outage: {why}"),
        }
    }
    assert!(refused > 0, "the outage was seen by the clients");
    let db = Db::Postgres(cluster.client().await);
    let summary = scenario::settle(&setup, &db, &bases, &ledger).await;
    eprintln!(
        "RESULT PostgreSQL restart: {} callbacks, {} acknowledged during the load, {refused} \
         refused with 503 store_unavailable (slowest refusal {:?}), none unanswered; {summary}",
        ledger.ops.len(),
        ledger.acknowledged(),
        ledger.slowest_refusal
    );
}

/// Two nodes on one PostgreSQL share the load, the queue and the timers; one is killed
/// half-way and the other takes over its leased queue rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: cargo test --test reliability -- --ignored --test-threads=1"]
async fn two_nodes_on_one_postgres_process_everything_once() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let setup = Setup::new(Node::postgres(&cluster.url()), instances());
    let first = setup.serve();
    let second = setup.serve();
    let serials = setup.start_waiting(&first.base).await;
    let ops = load::mixed_ops(&serials);
    let total = ops.len();
    let bases = vec![first.base.clone(), second.base.clone()];
    let (driving, progress) = load::spawn(bases, ops, OnNoAnswer::Stop);
    load::wait_until(
        "half is acknowledged",
        Duration::from_secs(300),
        async || progress.acknowledged() >= total / 2,
    )
    .await;
    first.kill_9();
    // The workers of the killed node stop at their first unanswered request; the
    // survivor's go on to the end.
    let ledger = driving.await.expect("the load");
    let db = Db::Postgres(cluster.client().await);
    let survivor = vec![second.base.clone()];
    let summary = scenario::settle(&setup, &db, &survivor, &ledger).await;
    // History rows the nodes wrote on their own carry `node:<id>` as their source.
    let deadlines = db
        .rows("SELECT source, count(*) FROM history WHERE kind = 'wait_expired' GROUP BY source")
        .await;
    let deliveries = db
        .rows(&format!(
            "SELECT h.source, count(*) FROM history h JOIN instances i ON i.id = h.instance_id \
             WHERE i.workflow_id = '{}' AND h.kind = 'started' GROUP BY h.source",
            scenario::QUEUED_ID
        ))
        .await;
    let per_node = |rows: &[Vec<String>]| {
        let mut counts: Vec<&str> = rows.iter().map(|row| row[1].as_str()).collect();
        counts.sort();
        counts.join(" + ")
    };
    eprintln!(
        "RESULT two nodes: {} callbacks over two nodes, {} acknowledged before the resend, one \
         node killed at half; deadlines fired per node {}, queue rows delivered per node {}; \
         {summary}",
        ledger.ops.len(),
        ledger.acknowledged(),
        per_node(&deadlines),
        per_node(&deliveries)
    );
}

/// Slow-loris, connection floods, concurrent 4 MiB bodies, malformed chunked encoding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: cargo test --test reliability -- --ignored --test-threads=1"]
async fn hostile_clients_leave_memory_bounded_and_health_answering() {
    hostile::run(&Setup::new(Node::sqlite(), 0)).await;
}

/// Bursts of near-limit bodies from strangers and from members beyond the budget: memory
/// bounded and given back, health answering, nothing half-applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: cargo test --test reliability -- --ignored --test-threads=1"]
async fn bursts_of_large_bodies_keep_memory_bounded_and_give_it_back() {
    burst::run(&Setup::new(Node::sqlite(), 0)).await;
}

/// Mixed load for `HOLDPOINT_SOAK_SECONDS` (30 min by default): every callback
/// acknowledged, RSS sampled and not growing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: cargo test --test reliability -- --ignored --test-threads=1"]
async fn a_soak_under_mixed_load_keeps_memory_flat() {
    soak::run(&Setup::new(Node::sqlite(), 0)).await;
}
