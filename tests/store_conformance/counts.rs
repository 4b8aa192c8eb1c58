//! The admin's aggregate queries: a workflow's waits and failures counted per step (the
//! workflow map) and open waits counted per hour they fall due (the deadline outlook),
//! and the step filter of the listings that the map's counts link to.

use std::time::Duration;

use holdpoint::store::{
    DueCount, InstanceFilter, InstanceStatus, ListScope, StepCount, WaitFilter, WaitState,
};
use serde_json::json;

use crate::cases::serial_of;
use crate::support::workflows::ALL;
use crate::support::{T0, TestEngine, TestStore, caller, engine, props, start};

const ITEM_THEN_EVENT: &str = "11111111-1111-4111-8111-111111111111";
const EVENT_WAITER: &str = "33333333-3333-4333-8333-333333333333";

/// Two instances waiting at `approve` (deadline in 1 h), one moved on to `ship` (2 h),
/// one failed at `rejected`; one `event-waiter` at `wait` (1 h) that must not be counted
/// with them.
async fn scene(te: &TestEngine) {
    for order in ["A", "B"] {
        start(te, "item-then-event", json!({ "order_id": order })).await;
    }
    let shipped = start(te, "item-then-event", json!({"order_id": "C"})).await;
    let approved = props(&[("approved", json!("true"))]);
    te.engine
        .finish_server_item(&serial_of(&shipped), &approved, &caller(), None)
        .await
        .expect("finish");
    let rejected = start(te, "item-then-event", json!({"order_id": "D"})).await;
    te.engine
        .fail_server_item(&serial_of(&rejected), "no", &caller())
        .await
        .expect("fail");
    start(te, "event-waiter", json!({"key": "k"})).await;
}

fn count(step: &str, waiting: i64, overdue: i64, failed: i64) -> StepCount {
    StepCount {
        step_id: step.into(),
        waiting,
        overdue,
        failed,
    }
}

pub async fn waits_and_failures_are_counted_per_step(store: TestStore) {
    let te = engine(&store, ALL).await;
    scene(&te).await;
    let mut tx = store.store.begin().await.expect("begin");
    let now = tx.count_by_step(ITEM_THEN_EVENT, T0).await.expect("count");
    let expected = vec![
        count("approve", 2, 0, 0),
        count("rejected", 0, 0, 1),
        count("ship", 1, 0, 0),
    ];
    assert_eq!(now, expected, "by step name, nothing overdue yet");
    let later = T0 + 90 * 60_000;
    let later = tx
        .count_by_step(ITEM_THEN_EVENT, later)
        .await
        .expect("count");
    assert_eq!(later[0], count("approve", 2, 2, 0), "past the 1 h deadline");
    assert_eq!(later[2], count("ship", 1, 0, 0), "2 h deadline still ahead");
    let unknown = tx.count_by_step("nope", T0).await.expect("count");
    assert!(unknown.is_empty());
    tx.commit().await.expect("commit");
    let engine_counts = te
        .engine
        .step_counts(ITEM_THEN_EVENT, &caller())
        .await
        .expect("engine counts");
    assert_eq!(engine_counts, expected, "the engine asks at its clock");
}

fn due(hour: i64, waits: i64) -> DueCount {
    DueCount { hour, waits }
}

pub async fn open_waits_are_counted_per_hour_due(store: TestStore) {
    let te = engine(&store, ALL).await;
    scene(&te).await;
    let all = ListScope::default();
    let one = ListScope::new(Some(ITEM_THEN_EVENT.into()), 0);
    let viewable = ListScope {
        workflow_ids: Some(vec![EVENT_WAITER.into()]),
        ..ListScope::default()
    };
    let mut tx = store.store.begin().await.expect("begin");
    // Deadlines at T0 + 1 h (three) and T0 + 2 h (one): an hour ends at its deadline.
    let at_start = tx.count_due(&all, T0, 48).await.expect("due");
    assert_eq!(at_start, vec![due(0, 3), due(1, 1)]);
    let of_one = tx.count_due(&one, T0, 48).await.expect("due");
    assert_eq!(of_one, vec![due(0, 2), due(1, 1)]);
    let later = T0 + 90 * 60_000;
    let overdue = tx.count_due(&all, later, 48).await.expect("due");
    assert_eq!(overdue, vec![due(-1, 3), due(0, 1)], "overdue in hour -1");
    let scoped = tx.count_due(&viewable, later, 48).await.expect("due");
    assert_eq!(scoped, vec![due(-1, 1)], "only the viewable workflows");
    let short = tx.count_due(&all, T0, 1).await.expect("due");
    assert_eq!(short, vec![due(0, 3)], "nothing past the horizon");
    tx.commit().await.expect("commit");
    te.clock.advance(Duration::from_secs(90 * 60));
    let outlook = te
        .engine
        .deadline_outlook(Some(ITEM_THEN_EVENT), 48, &caller())
        .await
        .expect("outlook");
    assert_eq!(outlook, vec![due(-1, 2), due(0, 1)]);
}

pub async fn lists_filter_by_step(store: TestStore) {
    let te = engine(&store, ALL).await;
    scene(&te).await;
    let mut tx = store.store.begin().await.expect("begin");
    let waits = WaitFilter {
        scope: ListScope::new(Some(ITEM_THEN_EVENT.into()), 10),
        state: Some(WaitState::Open),
        step_id: Some("approve".into()),
        ..WaitFilter::default()
    };
    let listed = tx.list_waits(&waits).await.expect("waits");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|wait| wait.step_id == "approve"));
    let failed = InstanceFilter {
        scope: ListScope::new(Some(ITEM_THEN_EVENT.into()), 10),
        status: Some(InstanceStatus::Failed),
        step_id: Some("rejected".into()),
    };
    let listed = tx.list_instances(&failed).await.expect("instances");
    assert_eq!(listed.len(), 1);
    let elsewhere = InstanceFilter {
        step_id: Some("ship".into()),
        ..failed
    };
    assert!(
        tx.list_instances(&elsewhere)
            .await
            .expect("list")
            .is_empty()
    );
    tx.commit().await.expect("commit");
}
