//! PostgreSQL only: a thread that serves requests (an HTTP worker) keeps connections of its
//! own, and takes one of the node's pool when they are all busy instead of waiting; the
//! node's pool outlives the workers; the lanes of two workers settle a contested item.

use std::sync::{Arc, mpsc};
use std::time::Duration;

use holdpoint::engine::{Engine, EngineError};
use serde_json::{Map, json};

use holdpoint::store::{Connections, Store, StoreTarget};

use crate::cases::{instance_with_an_item, serial_of};
use crate::support::workflows::ALL;
use crate::support::{caller, engine, pg, postgres_store_on_this_thread, start};

#[tokio::test(flavor = "current_thread")]
async fn a_worker_whose_own_connections_are_busy_borrows_from_the_pool() {
    let Some(store) = postgres_store_on_this_thread(1, 0).await else {
        return;
    };
    let mut holder = store.store.begin().await.unwrap();
    let (id, wait_id) = instance_with_an_item(&mut holder).await;
    // The worker's one connection is in the holder's transaction; the pool's wait timeout
    // is five seconds, so a second transaction that waited for it would not begin in time.
    let second = tokio::time::timeout(Duration::from_secs(2), store.store.begin())
        .await
        .expect("begun at once, on a connection of the pool")
        .unwrap();
    drop(second);
    holder.commit().await.unwrap();
    assert_committed(&*store.store, id, wait_id).await;
}

/// A PostgreSQL target with `connections` on a database of its own; `None` without
/// PostgreSQL here.
async fn on_a_fresh_database(connections: Connections) -> Option<StoreTarget> {
    let url = pg::fresh_database().await?;
    Some(StoreTarget::Postgres { url, connections })
}

/// A node that may open more sessions than the server accepts does not start: it would
/// fail with "too many clients" only under load.
#[tokio::test(flavor = "current_thread")]
async fn a_node_that_may_open_more_sessions_than_the_server_accepts_is_refused() {
    let sessions = Connections {
        pool_size: 8,
        workers: 4,
        worker_connections: 10_000,
        ..Connections::ONE
    };
    let Some(target) = on_a_fresh_database(sessions).await else {
        return;
    };
    let Err(error) = holdpoint::store::open(&target).await else {
        panic!("a node needing 40,009 sessions was started");
    };
    let message = error.to_string();
    assert!(
        message.contains("this node may open 40009 PostgreSQL sessions ([store] pool_size 8, 1 to listen, [http] workers 4 × [store] worker_connections 10000) but the server accepts"),
        "{message}"
    );
    assert!(message.contains("raise max_connections"), "{message}");
}

/// A connection of the node's pool first opened on a worker (its overflow, a readiness
/// check) may be taken later by a runner; the workers stop first at shutdown, and the
/// runner's statements must still go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_connection_opened_on_a_worker_outlives_the_worker() {
    // One connection, so that the main runtime's transaction takes the worker's.
    let one = Connections {
        pool_size: 1,
        ..Connections::ONE
    };
    let Some(target) = on_a_fresh_database(one).await else {
        return;
    };
    let store = holdpoint::store::open(&target).await.unwrap();
    let (opened, was_opened) = mpsc::channel();
    let (stop, stopping) = mpsc::channel::<()>();
    let on_worker = store.clone();
    let worker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut tx = on_worker.begin().await.unwrap();
            instance_with_an_item(&mut tx).await;
            tx.commit().await.unwrap();
        });
        opened.send(()).unwrap();
        // Lives until the main runtime holds the connection, then stops like a worker.
        stopping.recv().unwrap();
        drop(runtime);
    });
    was_opened.recv().unwrap();
    let mut runner = store.begin().await.unwrap();
    stop.send(()).unwrap();
    tokio::task::spawn_blocking(move || worker.join().unwrap())
        .await
        .unwrap();
    let (id, wait_id) = instance_with_an_item(&mut runner).await;
    runner.commit().await.unwrap();
    assert_committed(&*store, id, wait_id).await;
}

/// The instance `id` and its wait `wait_id` are there to read.
async fn assert_committed(store: &dyn Store, id: i64, wait_id: i64) {
    let mut reader = store.begin().await.unwrap();
    let (instance, wait) = reader
        .lock_instance_and_get_wait(id, wait_id)
        .await
        .unwrap();
    assert_eq!(instance.map(|i| i.id), Some(id));
    assert_eq!(wait.map(|w| w.id), Some(wait_id));
    reader.commit().await.unwrap();
}

/// Finishes of one item sent at once from two workers, each on its own lane: a lane's
/// batch keeps its row locks until its `COMMIT`, so a finish on the other lane waits for
/// it (or times out and is run again). Exactly one wins; every other item finishes.
#[tokio::test(flavor = "current_thread")]
async fn finishes_from_two_workers_lanes_have_one_winner() {
    let Some(store) = postgres_store_on_this_thread(2, 1).await else {
        return;
    };
    let te = engine(&store, ALL).await;
    let contested = serial_of(&start(&te, "single-item", json!({})).await);
    let mut workers = Vec::new();
    for _ in 0..2 {
        let bystander = serial_of(&start(&te, "single-item", json!({})).await);
        let (engine, contested) = (te.engine.clone(), contested.clone());
        let worker = std::thread::spawn(move || finish_on_a_worker(engine, contested, bystander));
        // The node's pool is driven by this runtime: wait without blocking it.
        workers.push(tokio::task::spawn_blocking(move || worker.join().unwrap()));
    }
    let mut winners = 0;
    for worker in workers {
        let (contenders, bystander) = worker.await.unwrap();
        bystander.expect("the worker's other item finishes");
        for outcome in contenders {
            match outcome {
                Ok(_) => winners += 1,
                Err(EngineError::ItemNotOpen(_)) => {}
                Err(other) => panic!("a losing finish: {other:?}"),
            }
        }
    }
    assert_eq!(winners, 1, "one finish of the contested item wins");
}

type Finished = Result<(), EngineError>;

/// On a thread of its own with a lane, as an HTTP worker: four finishes of `contested`
/// and one of `bystander`, all at once.
fn finish_on_a_worker(
    engine: Arc<Engine>,
    contested: String,
    bystander: String,
) -> (Vec<Finished>, Finished) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    engine.store().serve_on_this_thread();
    runtime.block_on(async move {
        let finish = |serial: String| {
            let engine = engine.clone();
            tokio::spawn(async move {
                engine
                    .finish_server_item(&serial, &Map::new(), &caller(), None)
                    .await
                    .map(drop)
            })
        };
        let contenders: Vec<_> = (0..4).map(|_| finish(contested.clone())).collect();
        let bystander = finish(bystander);
        let mut outcomes = Vec::new();
        for contender in contenders {
            outcomes.push(contender.await.unwrap());
        }
        (outcomes, bystander.await.unwrap())
    })
}
