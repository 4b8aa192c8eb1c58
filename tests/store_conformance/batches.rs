//! Commands committed together (group commit): both stores run the commands that arrive
//! while one holds a connection in one transaction, each in a savepoint (the embedded
//! store on its one connection, PostgreSQL on each of a node's lanes). These cases start
//! several commands at once so that they share batches.

use std::sync::Arc;
use std::time::Duration;

use holdpoint::engine::EngineError;
use holdpoint::store::{NewInstance, Store, StoreError, Tx, WaitState};
use serde_json::{Map, json};

use crate::cases::{bare_instance, instance_with_an_item, serial_of, started_history};
use crate::support::workflows::ALL;
use crate::support::{TestStore, caller, engine, start};

/// Long enough for spawned commands to be waiting for the connection.
const SETTLE: Duration = Duration::from_millis(50);

/// An instance whose folio names the command that wrote it.
fn instance(folio: &str) -> NewInstance {
    NewInstance {
        folio: folio.into(),
        ..bare_instance()
    }
}

/// The folio of the stored instance `id`, if there is one. SQLite gives the id of a
/// rolled-back row to the next insert, so an id alone does not say whose row it is.
async fn folio_of(tx: &mut dyn Tx, id: i64) -> Option<String> {
    tx.get_instance(id).await.unwrap().map(|row| row.folio)
}

/// One command writes an instance and commits.
async fn write_instance(store: Arc<dyn Store>, folio: &'static str) -> Result<i64, StoreError> {
    let mut tx = store.begin_command().await?;
    let id = tx.insert_instance(&instance(folio)).await?;
    tx.append_history(&started_history(id)).await?;
    tx.commit().await?;
    Ok(id)
}

/// One command writes an instance, then a history row of no instance (a foreign-key
/// violation, at once or at commit), and fails.
async fn write_then_fail(store: Arc<dyn Store>) -> (Option<i64>, Result<(), StoreError>) {
    let mut tx = match store.begin_command().await {
        Ok(tx) => tx,
        Err(error) => return (None, Err(error)),
    };
    let id = match tx.insert_instance(&instance("failing")).await {
        Ok(id) => id,
        Err(error) => return (None, Err(error)),
    };
    let outcome = async move {
        tx.append_history(&started_history(id + 1_000_000)).await?;
        tx.commit().await
    }
    .await;
    (Some(id), outcome)
}

/// Commands that commit before and after a failing one keep their changes; the failing
/// one changes nothing.
pub async fn a_failing_command_inside_a_batch_fails_alone(store: TestStore) {
    let store = store.store.clone();
    // The first command holds the connection while the others line up behind it.
    let mut first = store.begin_command().await.unwrap();
    let first_id = first.insert_instance(&instance("first")).await.unwrap();
    let before = tokio::spawn(write_instance(store.clone(), "before"));
    let failing = tokio::spawn(write_then_fail(store.clone()));
    let after = tokio::spawn(write_instance(store.clone(), "after"));
    tokio::time::sleep(SETTLE).await;
    first.commit().await.expect("the first command commits");

    let before = before.await.unwrap().expect("the command before commits");
    let (failed_id, failed) = failing.await.unwrap();
    let after = after.await.unwrap().expect("the command after commits");
    assert!(failed.is_err(), "the bad history row fails its command");

    let mut tx = store.begin().await.unwrap();
    for (id, folio) in [(first_id, "first"), (before, "before"), (after, "after")] {
        assert_eq!(folio_of(tx.as_mut(), id).await.as_deref(), Some(folio));
    }
    for id in [before, after] {
        assert_eq!(tx.history(id).await.unwrap().len(), 1, "{id}'s history");
    }
    if let Some(id) = failed_id {
        assert_ne!(
            folio_of(tx.as_mut(), id).await.as_deref(),
            Some("failing"),
            "the failed command's instance is not stored"
        );
    }
    tx.commit().await.unwrap();
}

/// A command dropped half-way (a client that went away) in the middle of a batch changes
/// nothing and keeps nobody waiting.
pub async fn a_command_dropped_inside_a_batch_changes_nothing(store: TestStore) {
    let store = store.store.clone();
    let mut first = store.begin_command().await.unwrap();
    first.insert_instance(&bare_instance()).await.unwrap();
    let dropped = tokio::spawn({
        let store = store.clone();
        async move {
            let mut tx = store.begin_command().await?;
            let id = tx.insert_instance(&instance("dropped")).await?;
            drop(tx);
            Ok::<i64, StoreError>(id)
        }
    });
    let after = tokio::spawn(write_instance(store.clone(), "after"));
    tokio::time::sleep(SETTLE).await;
    first.commit().await.unwrap();
    let dropped = dropped.await.unwrap().unwrap();
    let after = after.await.unwrap().unwrap();

    let mut tx = store.begin().await.unwrap();
    assert_ne!(
        folio_of(tx.as_mut(), dropped).await.as_deref(),
        Some("dropped")
    );
    assert_eq!(folio_of(tx.as_mut(), after).await.as_deref(), Some("after"));
    tx.commit().await.unwrap();
}

/// Several finishes of one serial sent at once, among finishes of other items: exactly
/// one of each serial's finishes wins, the others hear `item_not_open`.
pub async fn concurrent_finishes_of_one_item_have_one_winner(store: TestStore) {
    let te = engine(&store, ALL).await;
    let contested = serial_of(&start(&te, "single-item", json!({})).await);
    let mut others = Vec::new();
    for _ in 0..4 {
        others.push(serial_of(&start(&te, "single-item", json!({})).await));
    }
    let finish = |serial: String| {
        let engine = te.engine.clone();
        tokio::spawn(async move {
            engine
                .finish_server_item(&serial, &Map::new(), &caller(), None)
                .await
        })
    };
    let contenders: Vec<_> = (0..6).map(|_| finish(contested.clone())).collect();
    let bystanders: Vec<_> = others.iter().cloned().map(finish).collect();

    let mut winners = 0;
    for contender in contenders {
        match contender.await.unwrap() {
            Ok(_) => winners += 1,
            Err(EngineError::ItemNotOpen(_)) => {}
            Err(other) => panic!("a losing finish: {other:?}"),
        }
    }
    assert_eq!(winners, 1, "one finish of the contested item wins");
    for bystander in bystanders {
        bystander.await.unwrap().expect("every other item finishes");
    }
}

/// A wait read `open` under its instance's lock is closed without waiting for the row
/// count (on PostgreSQL the update goes out with the next round trip); should it have
/// been closed after all, the transaction fails with a conflict and stores nothing.
pub async fn closing_a_wait_read_open_that_was_closed_is_a_conflict(store: TestStore) {
    let store = store.store.clone();
    let (tx, id, wait_id) = a_wait_read_open(&store).await;
    close_it_as_read_after_it_was_closed(tx, id, wait_id).await;

    let mut tx = store.begin().await.unwrap();
    nothing_of_the_close_is_stored(tx.as_mut(), id, wait_id).await;
    tx.commit().await.unwrap();
}

/// A command whose last writes fail after it let go of the connection (on PostgreSQL they
/// go out with the next command's first statement, or with the batch's `COMMIT`) hears
/// their error, and only it: the command behind it commits, and nothing of the failed one
/// is stored.
pub async fn writes_failing_after_their_command_let_go_fail_it_alone(store: TestStore) {
    let store = store.store.clone();
    let (failing, id, wait_id) = a_wait_read_open(&store).await;
    let after = tokio::spawn(write_instance(store.clone(), "after"));
    tokio::time::sleep(SETTLE).await;
    close_it_as_read_after_it_was_closed(failing, id, wait_id).await;
    let after = after.await.unwrap().expect("the command behind it commits");

    let mut tx = store.begin().await.unwrap();
    nothing_of_the_close_is_stored(tx.as_mut(), id, wait_id).await;
    assert_eq!(folio_of(tx.as_mut(), after).await.as_deref(), Some("after"));
    tx.commit().await.unwrap();
}

/// A committed instance with an open item, and a command that has read its wait `open`
/// under the instance's lock: the command, the instance, the wait.
async fn a_wait_read_open(store: &Arc<dyn Store>) -> (Box<dyn Tx>, i64, i64) {
    let mut tx = store.begin_command().await.unwrap();
    let (id, wait_id) = instance_with_an_item(&mut tx).await;
    tx.commit().await.unwrap();

    let mut tx = store.begin_command().await.unwrap();
    let (_, read) = tx.lock_instance_and_get_wait(id, wait_id).await.unwrap();
    assert_eq!(read.map(|wait| wait.state), Some(WaitState::Open));
    (tx, id, wait_id)
}

/// Closes the wait behind the reader's back (a closer that does not take the instance
/// lock, here in the same transaction), then as read, and commits: a conflict.
async fn close_it_as_read_after_it_was_closed(mut tx: Box<dyn Tx>, id: i64, wait_id: i64) {
    assert!(
        tx.close_wait(wait_id, WaitState::Cancelled, 2)
            .await
            .unwrap()
    );
    let outcome = async {
        tx.close_wait_read_open(wait_id, WaitState::Finished, 3)
            .await?;
        tx.append_history(&started_history(id)).await?;
        tx.commit().await
    }
    .await;
    assert!(
        matches!(outcome, Err(StoreError::Conflict(_))),
        "{outcome:?}"
    );
}

async fn nothing_of_the_close_is_stored(tx: &mut dyn Tx, id: i64, wait_id: i64) {
    let wait = tx.get_wait(wait_id).await.unwrap().expect("the wait");
    assert_eq!(wait.state, WaitState::Open, "nothing of it was stored");
    assert!(tx.history(id).await.unwrap().is_empty());
}

/// A command that waits for an instance lock held longer than a group-commit lane lets
/// a command wait (PostgreSQL's `lock_timeout` there) is run again until it gets it, and
/// succeeds once the holder commits.
pub async fn a_command_behind_a_long_held_lock_succeeds_once_it_is_free(store: TestStore) {
    let te = engine(&store, ALL).await;
    let started = start(&te, "single-item", json!({})).await;
    let serial = serial_of(&started);
    let mut holder = te.engine.store().begin().await.unwrap();
    holder.lock_instance(started.id).await.unwrap();
    let finish = tokio::spawn({
        let engine = te.engine.clone();
        async move {
            engine
                .finish_server_item(&serial, &Map::new(), &caller(), None)
                .await
        }
    });
    tokio::time::sleep(HELD).await;
    holder.commit().await.unwrap();
    finish
        .await
        .unwrap()
        .expect("the finish succeeds once the lock is free");
}

/// Longer than a lane's lock timeout (200 ms), shorter than the engine's retries.
const HELD: Duration = Duration::from_millis(450);
