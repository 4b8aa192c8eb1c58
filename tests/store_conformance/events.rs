//! The fan-out of a custom event: the instances that wait for it are locked in id order
//! and their waits read under those locks, in one round trip on PostgreSQL.

use std::time::Duration;

use holdpoint::store::{EventScope, NewWait, Tx, WaitKind, WaitState};

use crate::cases::bare_instance;
use crate::support::{T0, TestStore};

/// A new instance with one open wait per (event name, scope) given; its id and wait ids.
async fn waiting_for(tx: &mut Box<dyn Tx>, events: &[(&str, EventScope)]) -> (i64, Vec<i64>) {
    let id = tx.insert_instance(&bare_instance()).await.unwrap();
    let mut waits = Vec::new();
    for &(name, scope) in events {
        let wait = NewWait {
            instance_id: id,
            step_id: "s".into(),
            kind: WaitKind::CustomEvent,
            event_name: Some(name.into()),
            scope: Some(scope),
            deadline: T0 + 1_000,
            now: T0,
        };
        waits.push(tx.insert_wait(&wait).await.unwrap());
    }
    (id, waits)
}

/// (instance id, wait id) of each pair.
async fn waiters(tx: &mut Box<dyn Tx>, name: &str) -> Vec<(i64, i64)> {
    let locked = tx
        .lock_open_waits_for_event(name, EventScope::External)
        .await
        .unwrap();
    for (instance, wait) in &locked {
        assert_eq!(
            wait.instance_id, instance.id,
            "each wait comes with its instance"
        );
        assert_eq!(wait.state, WaitState::Open);
    }
    locked.iter().map(|(i, w)| (i.id, w.id)).collect()
}

pub async fn the_waiters_of_an_event_are_locked_and_read_in_instance_order(store: TestStore) {
    use EventScope::{External, Internal};
    let mut tx = store.store.begin().await.unwrap();
    let (two, two_waits) = waiting_for(&mut tx, &[("e", External), ("e", External)]).await;
    let (one, one_waits) = waiting_for(&mut tx, &[("e", External), ("f", External)]).await;
    waiting_for(&mut tx, &[("e", Internal)]).await;
    let (_, closed) = waiting_for(&mut tx, &[("e", External)]).await;
    assert!(
        tx.close_wait(closed[0], WaitState::Cancelled, T0 + 1)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();

    let mut tx = store.store.begin().await.unwrap();
    assert_eq!(
        waiters(&mut tx, "e").await,
        [
            (two, two_waits[0]),
            (two, two_waits[1]),
            (one, one_waits[0])
        ],
        "open waits on the name in the scope, by instance then wait"
    );
    assert_eq!(waiters(&mut tx, "f").await, [(one, one_waits[1])]);
    assert!(waiters(&mut tx, "nobody").await.is_empty());
    tx.commit().await.unwrap();
}

/// A command that holds a waiter's lock and closes its wait is waited for: the wait is
/// read once the lock is granted, and left out.
pub async fn a_waiter_closed_behind_the_lock_is_left_out(store: TestStore) {
    let mut tx = store.store.begin().await.unwrap();
    let (first, first_waits) = waiting_for(&mut tx, &[("g", EventScope::External)]).await;
    let (second, second_waits) = waiting_for(&mut tx, &[("g", EventScope::External)]).await;
    tx.commit().await.unwrap();

    let mut holder = store.store.begin().await.unwrap();
    holder.lock_instance(second).await.unwrap();
    let other = store.store.clone();
    let fan_out = tokio::spawn(async move {
        let mut tx = other.begin().await.unwrap();
        let locked = waiters(&mut tx, "g").await;
        tx.commit().await.unwrap();
        locked
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        holder
            .close_wait(second_waits[0], WaitState::Expired, T0 + 5)
            .await
            .unwrap()
    );
    holder.commit().await.unwrap();
    assert_eq!(fan_out.await.unwrap(), [(first, first_waits[0])]);
}
