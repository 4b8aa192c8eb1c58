//! Writes whose outcome nobody reads (history rows, the instance update, closing a wait
//! read open, cancelling its deliveries): PostgreSQL sends them with the next statement
//! in one pipeline, SQLite runs them at once. Either way they keep the order and the
//! effect they were written with, which a backend that sent several as one statement
//! (writable CTEs, whose parts PostgreSQL runs in no set order) would have to keep too.

use holdpoint::store::{InstanceStatus, NewHistory, NewOutbox, OutboxKind, OutboxState, WaitState};
use serde_json::json;

use crate::cases::{instance_with_an_item, started_history};
use crate::support::{T0, TestStore};

fn entry(instance_id: i64, kind: String) -> NewHistory {
    NewHistory {
        kind,
        ..started_history(instance_id)
    }
}

/// One command writes forty history rows around two updates of its instance, closes its
/// wait and cancels the wait's delivery: the rows are listed in the order written, the
/// later update wins, and every write took effect once. (On PostgreSQL more than 30 of
/// them go out as one pipeline with the commit: past 30, `try_join_all`, which sent them
/// once, polls differently.)
pub async fn deferred_writes_keep_their_order_and_effect(store: TestStore) {
    let store = store.store.clone();
    let mut tx = store.begin_command().await.unwrap();
    let (id, wait_id) = instance_with_an_item(&mut tx).await;
    let delivery = NewOutbox {
        instance_id: id,
        wait_id,
        kind: OutboxKind::Notify,
        request: json!({}),
        now: T0,
    };
    let outbox_id = tx.insert_outbox(&delivery).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin_command().await.unwrap();
    let (instance, _) = tx.lock_instance_and_get_wait(id, wait_id).await.unwrap();
    let mut instance = instance.expect("the instance");
    tx.close_wait_read_open(wait_id, WaitState::Finished, T0 + 1)
        .await
        .unwrap();
    tx.cancel_outbox_for_wait(wait_id, T0 + 1).await.unwrap();
    let kinds: Vec<String> = (0..40).map(|n| format!("step-{n}")).collect();
    for (n, kind) in kinds.iter().enumerate() {
        tx.append_history(&entry(id, kind.clone())).await.unwrap();
        if n == 4 {
            instance.status = InstanceStatus::Running;
            instance.current_step = Some("middle".into());
            tx.update_instance(&instance).await.unwrap();
            // Read back in the transaction: the earlier update took effect too.
            let read = tx.get_instance(id).await.unwrap().expect("the instance");
            assert_eq!(read.current_step.as_deref(), Some("middle"));
        }
    }
    instance.status = InstanceStatus::Completed;
    instance.current_step = None;
    instance.updated_at = T0 + 1;
    tx.update_instance(&instance).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let written: Vec<String> = tx
        .history(id)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.kind)
        .collect();
    assert_eq!(written, kinds, "history in the order written");
    let stored = tx.get_instance(id).await.unwrap().expect("the instance");
    assert_eq!(
        stored.status,
        InstanceStatus::Completed,
        "the later update wins"
    );
    assert_eq!((stored.current_step, stored.updated_at), (None, T0 + 1));
    let wait = tx.get_wait(wait_id).await.unwrap().expect("the wait");
    assert_eq!(wait.state, WaitState::Finished);
    let outbox = tx
        .get_outbox(outbox_id)
        .await
        .unwrap()
        .expect("the delivery");
    assert_eq!(outbox.state, OutboxState::Cancelled);
    tx.commit().await.unwrap();
}
