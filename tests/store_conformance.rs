//! The store conformance suite: every engine command, the races and the dedup rules, run
//! identically against the embedded store and a real PostgreSQL.

#[path = "store_conformance/batches.rs"]
mod batches;
#[path = "store_conformance/counts.rs"]
mod counts;
#[path = "store_conformance/deferred.rs"]
mod deferred;
#[path = "store_conformance/events.rs"]
mod events;
mod support;
#[path = "store_conformance/worker_connections.rs"]
mod worker_connections;

store_suite!(
    start_runs_to_the_first_wait,
    open_and_finish_a_server_item,
    finish_rejects_bad_fields_and_keeps_the_item_open,
    fail_goes_to_on_error,
    extend_moves_the_deadline,
    forged_serials_are_unknown,
    repeated_finish_with_the_same_key_returns_the_first_outcome,
    finish_and_fail_without_a_view_commit_alike,
    idempotent_start,
    custom_event_wakes_every_waiter,
    unclaimed_events_are_buffered_until_their_ttl,
    message_ids_are_deduplicated,
    answer_input_releases_the_wait,
    cancel_closes_the_waits,
    list_waits_filters,
    finish_expire_and_cancel_race_with_exactly_one_winner,
    deadlines_fire_once_with_and_without_on_timeout,
    accounts_are_stored_listed_changed_and_removed,
    first_start_creates_one_admin,
    waits_are_filtered_by_viewable_workflows,
    inbound_rows_are_claimed_postponed_dead_lettered_and_requeued,
    inbound_leases_are_owned_reclaimed_and_released,
    two_nodes_never_claim_the_same_inbound_row,
    overview_lists_instances_and_counts_what_waits,
    a_failed_write_fails_the_transaction_and_stores_nothing,
    a_batch_close_closes_only_open_waits_once,
    the_sharepoint_receiver_key_is_shared_and_rotated,
    a_failing_command_inside_a_batch_fails_alone,
    a_command_dropped_inside_a_batch_changes_nothing,
    concurrent_finishes_of_one_item_have_one_winner,
    closing_a_wait_read_open_that_was_closed_is_a_conflict,
    a_command_behind_a_long_held_lock_succeeds_once_it_is_free,
    a_commit_with_waits_lists_its_own_writes_and_commits,
    a_wait_is_read_under_its_instance_lock,
    waits_and_failures_are_counted_per_step,
    open_waits_are_counted_per_hour_due,
    lists_filter_by_step,
    the_waiters_of_an_event_are_locked_and_read_in_instance_order,
    a_waiter_closed_behind_the_lock_is_left_out,
    deferred_writes_keep_their_order_and_effect,
    writes_failing_after_their_command_let_go_fail_it_alone,
);

mod cases {
    pub use super::batches::{
        a_command_behind_a_long_held_lock_succeeds_once_it_is_free,
        a_command_dropped_inside_a_batch_changes_nothing,
        a_failing_command_inside_a_batch_fails_alone,
        closing_a_wait_read_open_that_was_closed_is_a_conflict,
        concurrent_finishes_of_one_item_have_one_winner,
        writes_failing_after_their_command_let_go_fail_it_alone,
    };
    pub use super::counts::{
        lists_filter_by_step, open_waits_are_counted_per_hour_due,
        waits_and_failures_are_counted_per_step,
    };
    pub use super::deferred::deferred_writes_keep_their_order_and_effect;
    pub use super::events::{
        a_waiter_closed_behind_the_lock_is_left_out,
        the_waiters_of_an_event_are_locked_and_read_in_instance_order,
    };

    use holdpoint::engine::{
        CustomEvent, EngineError, FinishSummary, InstanceSummary, StartRequest,
    };
    use holdpoint::store::*;
    use serde_json::{Map, Value, json};
    use std::time::Duration;

    use super::support::workflows::*;
    use super::support::*;

    pub(crate) fn serial_of(view: &holdpoint::engine::InstanceView) -> String {
        view.waits
            .first()
            .and_then(|wait| wait.serial.clone())
            .expect("open server item")
    }

    fn event(name: &str, properties: Map<String, Value>) -> CustomEvent {
        CustomEvent {
            name: name.into(),
            properties,
            scope: EventScope::External,
            caller: caller(),
            message_id: None,
            ttl: None,
        }
    }

    pub async fn start_runs_to_the_first_wait(store: TestStore) {
        let te = engine(&store, ALL).await;
        let view = start(&te, "item-then-event", json!({"order_id": "A1"})).await;
        assert_eq!(view.status, InstanceStatus::Waiting);
        assert_eq!(view.current_step.as_deref(), Some("approve"));
        assert_eq!(view.fields["amount"], json!(0), "defaults apply");
        assert_eq!(view.waits.len(), 1);
        let wait = &view.waits[0];
        assert_eq!(wait.kind, WaitKind::ServerItem);
        assert_eq!(wait.deadline_ms, T0 + 3_600_000);
        assert!(serial_of(&view).starts_with(&format!("{}_{}.", view.id, wait.id)));
        let fetched = te.engine.get(view.id, &caller()).await.unwrap();
        assert_eq!(fetched.status, InstanceStatus::Waiting);
        let kinds: Vec<String> = te
            .engine
            .history(view.id, &caller())
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.kind)
            .collect();
        assert_eq!(kinds, ["started", "wait_opened"]);
        let unknown = te.engine.start(StartRequest {
            workflow: "nope".into(),
            fields: Map::new(),
            folio: None,
            event: json!({}),
            caller: caller(),
            idempotency_key: None,
        });
        assert!(matches!(
            unknown.await,
            Err(EngineError::UnknownWorkflow(_))
        ));
    }

    pub async fn open_and_finish_a_server_item(store: TestStore) {
        let te = engine(&store, ALL).await;
        let view = start(&te, "item-then-event", json!({"order_id": "A2"})).await;
        let serial = serial_of(&view);
        let item = te
            .engine
            .open_server_item(&serial, &caller())
            .await
            .unwrap();
        assert_eq!(item.step, "approve");
        assert_eq!(item.fields["order_id"], json!("A2"));
        let outcome = te
            .engine
            .finish_server_item(
                &serial,
                &props(&[("approved", json!("true")), ("amount", json!(12.5))]),
                &caller(),
                None,
            )
            .await
            .unwrap();
        assert!(!outcome.replayed);
        let instance = outcome.instance;
        assert_eq!(
            instance.fields["approved"],
            json!(true),
            "text converted to boolean"
        );
        assert_eq!(instance.fields["amount"], json!(12.5));
        assert_eq!(instance.current_step.as_deref(), Some("ship"));
        assert_eq!(instance.waits[0].event_name.as_deref(), Some("shipped-A2"));
        let again = te
            .engine
            .finish_server_item(&serial, &Map::new(), &caller(), None)
            .await;
        assert!(
            matches!(again, Err(EngineError::ItemNotOpen(ref m)) if m.contains("finished")),
            "{again:?}"
        );
        assert!(matches!(
            te.engine.open_server_item(&serial, &caller()).await,
            Err(EngineError::ItemNotOpen(_))
        ));
    }

    pub async fn finish_rejects_bad_fields_and_keeps_the_item_open(store: TestStore) {
        let te = engine(&store, ALL).await;
        let serial = serial_of(&start(&te, "item-then-event", json!({"order_id": "A3"})).await);
        let unknown = te
            .engine
            .finish_server_item(
                &serial,
                &props(&[("colour", json!("red"))]),
                &caller(),
                None,
            )
            .await;
        assert!(
            matches!(unknown, Err(EngineError::InvalidField(ref m)) if m.contains("colour")),
            "{unknown:?}"
        );
        let wrong = te
            .engine
            .finish_server_item(
                &serial,
                &props(&[("amount", json!("lots"))]),
                &caller(),
                None,
            )
            .await;
        match wrong {
            Err(EngineError::InvalidField(message)) => {
                assert!(
                    message.contains("amount") && message.contains("number"),
                    "{message}"
                )
            }
            other => panic!("expected invalid_field, got {other:?}"),
        }
        assert_eq!(
            te.engine
                .open_server_item(&serial, &caller())
                .await
                .unwrap()
                .state,
            WaitState::Open
        );
    }

    pub async fn fail_goes_to_on_error(store: TestStore) {
        let te = engine(&store, ALL).await;
        let view = start(&te, "item-then-event", json!({"order_id": "A4"})).await;
        let failed = te
            .engine
            .fail_server_item(&serial_of(&view), "erp said no", &caller())
            .await
            .unwrap();
        assert_eq!(failed.status, InstanceStatus::Failed);
        assert_eq!(
            failed.error.as_deref(),
            Some("rejected: A4"),
            "on_error step ran"
        );
        let single = start(&te, "single-item", json!({})).await;
        let failed = te
            .engine
            .fail_server_item(&serial_of(&single), "broken", &caller())
            .await
            .unwrap();
        assert_eq!(
            failed.error.as_deref(),
            Some("broken"),
            "no on_error: the instance fails with the message"
        );
    }

    pub async fn extend_moves_the_deadline(store: TestStore) {
        let te = engine(&store, ALL).await;
        let serial = serial_of(&start(&te, "single-item", json!({})).await);
        let later = T0 + 10 * 60_000;
        let item = te
            .engine
            .extend_server_item(&serial, later, &caller())
            .await
            .unwrap();
        assert_eq!(item.deadline, holdpoint::engine::clock::rfc3339(later));
        te.clock.advance(Duration::from_secs(120));
        assert_eq!(
            te.engine.expire_due_waits().await.unwrap(),
            0,
            "old deadline no longer applies"
        );
        let past = te.engine.extend_server_item(&serial, T0, &caller()).await;
        assert!(matches!(past, Err(EngineError::MalformedRequest(_))));
        te.engine
            .finish_server_item(&serial, &Map::new(), &caller(), None)
            .await
            .unwrap();
        let closed = te
            .engine
            .extend_server_item(&serial, later + 1, &caller())
            .await;
        assert!(matches!(closed, Err(EngineError::ItemNotOpen(_))));
    }

    pub async fn forged_serials_are_unknown(store: TestStore) {
        let te = engine(&store, ALL).await;
        let serial = serial_of(&start(&te, "single-item", json!({})).await);
        let (bare, mac) = serial.split_once('.').unwrap();
        let (instance, wait) = bare.split_once('_').unwrap();
        let next_wait = format!("{instance}_{}.{mac}", wait.parse::<i64>().unwrap() + 1);
        let mut flipped = mac.to_string().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = format!("{bare}.{}", String::from_utf8(flipped).unwrap());
        for forged in [
            bare.to_string(),
            next_wait,
            flipped,
            "1_1.AAAAAAAAAAAAAAAA".into(),
            "garbage".into(),
        ] {
            let result = te
                .engine
                .finish_server_item(&forged, &Map::new(), &caller(), None)
                .await;
            assert!(
                matches!(result, Err(EngineError::UnknownSerial(_))),
                "{forged}: {result:?}"
            );
            assert!(matches!(
                te.engine.open_server_item(&forged, &caller()).await,
                Err(EngineError::UnknownSerial(_))
            ));
        }
        // A wait that is not a server item has no serial.
        let waiter = start(&te, "event-waiter", json!({"key": "k"})).await;
        let fake = format!("{}_{}", waiter.id, waiter.waits[0].id);
        let other_engine_codec = holdpoint::engine::serial::SerialCodec::new(vec![1; 32], true)
            .format(waiter.id, waiter.waits[0].id);
        for forged in [fake, other_engine_codec] {
            assert!(matches!(
                te.engine.open_server_item(&forged, &caller()).await,
                Err(EngineError::UnknownSerial(_))
            ));
        }
        te.engine
            .finish_server_item(&serial, &Map::new(), &caller(), None)
            .await
            .expect("the real serial works");
    }

    pub async fn repeated_finish_with_the_same_key_returns_the_first_outcome(store: TestStore) {
        let te = engine(&store, ALL).await;
        let serial = serial_of(&start(&te, "single-item", json!({})).await);
        let fields = props(&[("note", json!("first"))]);
        let first = te
            .engine
            .finish_server_item(&serial, &fields, &caller(), Some("key-1"))
            .await
            .unwrap();
        assert!(!first.replayed);
        assert_eq!(first.instance.status, InstanceStatus::Completed);
        let repeat = te
            .engine
            .finish_server_item(
                &serial,
                &props(&[("note", json!("second"))]),
                &caller(),
                Some("key-1"),
            )
            .await
            .unwrap();
        assert!(repeat.replayed);
        assert_eq!(
            repeat.instance.fields["note"],
            json!("first"),
            "the repeat changed nothing"
        );
        let other_key = te
            .engine
            .finish_server_item(&serial, &fields, &caller(), Some("key-2"))
            .await;
        assert!(matches!(other_key, Err(EngineError::ItemNotOpen(_))));
        let no_key = te
            .engine
            .finish_server_item(&serial, &fields, &caller(), None)
            .await;
        assert!(matches!(no_key, Err(EngineError::ItemNotOpen(_))));
        let finished = te
            .engine
            .history(first.instance.id, &caller())
            .await
            .unwrap();
        assert_eq!(
            finished
                .iter()
                .filter(|h| h.kind == "server_item_finished")
                .count(),
            1
        );
    }

    /// The finish and the fail that answer without a view (K2 REST, SOAP, callback URLs)
    /// commit what those with a view commit and report the status they committed (the
    /// instance ended, failed, or waiting at its next hold point); the finish replays like
    /// the other.
    pub async fn finish_and_fail_without_a_view_commit_alike(store: TestStore) {
        let te = engine(&store, ALL).await;
        let started = start(&te, "single-item", json!({})).await;
        let serial = serial_of(&started);
        let fields = props(&[("note", json!("first"))]);
        let first = te
            .engine
            .finish_server_item_summary(&serial, &fields, &caller(), Some("key-1"))
            .await
            .unwrap();
        let expected = FinishSummary {
            instance: InstanceSummary {
                id: started.id,
                status: InstanceStatus::Completed,
            },
            replayed: false,
        };
        assert_eq!(first, expected);
        let stored = te.engine.get(started.id, &caller()).await.unwrap();
        assert_eq!(stored.status, InstanceStatus::Completed);
        assert_eq!(stored.fields["note"], json!("first"));
        assert!(stored.waits.is_empty(), "the wait is closed");
        let second = props(&[("note", json!("second"))]);
        let repeat = te
            .engine
            .finish_server_item_summary(&serial, &second, &caller(), Some("key-1"))
            .await
            .unwrap();
        let replayed = FinishSummary {
            replayed: true,
            ..expected
        };
        assert_eq!(repeat, replayed);
        let after = te.engine.get(started.id, &caller()).await.unwrap();
        assert_eq!(
            after.fields["note"],
            json!("first"),
            "the repeat changed nothing"
        );
        let history = te.engine.history(started.id, &caller()).await.unwrap();
        let finishes = history.iter().filter(|h| h.kind == "server_item_finished");
        assert_eq!(finishes.count(), 1);
        let no_key = te
            .engine
            .finish_server_item_summary(&serial, &fields, &caller(), None)
            .await;
        assert!(matches!(no_key, Err(EngineError::ItemNotOpen(_))));

        // A finish that leads to the next hold point: the same status as the view's.
        let (approved, caller) = (props(&[("approved", json!(true))]), caller());
        let mut statuses = Vec::new();
        for (order, with_view) in [("S1", true), ("S2", false)] {
            let view = start(&te, "item-then-event", json!({"order_id": order})).await;
            let serial = serial_of(&view);
            let status = if with_view {
                let finished = te
                    .engine
                    .finish_server_item(&serial, &approved, &caller, None);
                finished.await.unwrap().instance.status
            } else {
                let summary = te
                    .engine
                    .finish_server_item_summary(&serial, &approved, &caller, None);
                summary.await.unwrap().instance.status
            };
            let stored = te.engine.get(view.id, &caller).await.unwrap();
            assert_eq!((stored.status, stored.waits.len()), (status, 1));
            assert_eq!(stored.waits[0].step, "ship");
            statuses.push(status);
        }
        assert_eq!(statuses, [InstanceStatus::Waiting, InstanceStatus::Waiting]);

        // Failing without a view: the `on_error` step's outcome, committed.
        let view = start(&te, "item-then-event", json!({"order_id": "S3"})).await;
        let failed = te
            .engine
            .fail_server_item_summary(&serial_of(&view), "erp said no", &caller)
            .await
            .unwrap();
        let stored = te.engine.get(view.id, &caller).await.unwrap();
        assert_eq!(stored.status, InstanceStatus::Failed, "`rejected` fails it");
        assert_eq!(
            failed,
            InstanceSummary {
                id: view.id,
                status: stored.status
            }
        );
        assert_eq!(stored.error.as_deref(), Some("rejected: S3"));
    }

    pub async fn idempotent_start(store: TestStore) {
        let te = engine(&store, ALL).await;
        let request = StartRequest {
            workflow: "single-item".into(),
            fields: Map::new(),
            folio: Some("PO-1".into()),
            event: json!({}),
            caller: caller(),
            idempotency_key: Some("start-1".into()),
        };
        let first = te.engine.start(request.clone()).await.unwrap();
        let second = te.engine.start(request).await.unwrap();
        assert!(!first.replayed && second.replayed);
        assert_eq!(first.instance.id, second.instance.id);
        assert_eq!(second.instance.folio, "PO-1");
    }

    pub async fn custom_event_wakes_every_waiter(store: TestStore) {
        let te = engine(&store, ALL).await;
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(start(&te, "event-waiter", json!({"key": "fan"})).await.id);
        }
        let other = start(&te, "event-waiter", json!({"key": "other"})).await.id;
        let outcome = te
            .engine
            .send_custom_event(&event("go-fan", props(&[("carrier", json!("DHL"))])))
            .await
            .unwrap();
        assert_eq!(outcome.woken, ids);
        assert_eq!(outcome.buffered_id, None);
        for id in &ids {
            let view = te.engine.get(*id, &caller()).await.unwrap();
            assert_eq!(view.status, InstanceStatus::Completed);
            assert_eq!(view.fields["carrier"], json!("DHL"));
        }
        assert_eq!(
            te.engine.get(other, &caller()).await.unwrap().status,
            InstanceStatus::Waiting
        );
        let empty = te.engine.send_custom_event(&event("  ", Map::new())).await;
        assert!(matches!(empty, Err(EngineError::MalformedRequest(_))));
    }

    pub async fn unclaimed_events_are_buffered_until_their_ttl(store: TestStore) {
        let te = engine(&store, ALL).await;
        let first = te
            .engine
            .send_custom_event(&event("go-early", props(&[("carrier", json!("first"))])))
            .await
            .unwrap();
        let second = te
            .engine
            .send_custom_event(&event("go-early", props(&[("carrier", json!("second"))])))
            .await
            .unwrap();
        assert!(
            first.woken.is_empty() && first.buffered_id.is_some() && second.buffered_id.is_some()
        );
        let a = start(&te, "event-waiter", json!({"key": "early"})).await;
        assert_eq!(
            a.status,
            InstanceStatus::Completed,
            "consumed the buffered event at once"
        );
        assert_eq!(a.fields["carrier"], json!("first"), "oldest first");
        let b = start(&te, "event-waiter", json!({"key": "early"})).await;
        assert_eq!(b.fields["carrier"], json!("second"));
        let c = start(&te, "event-waiter", json!({"key": "early"})).await;
        assert_eq!(
            c.status,
            InstanceStatus::Waiting,
            "each buffered event is consumed once"
        );

        te.engine
            .send_custom_event(&event("go-late", Map::new()))
            .await
            .unwrap();
        te.clock.advance(Duration::from_secs(61));
        let late = start(&te, "event-waiter", json!({"key": "late"})).await;
        assert_eq!(
            late.status,
            InstanceStatus::Waiting,
            "expired buffered events are not delivered"
        );

        let mut dropped = event("go-zero", Map::new());
        dropped.ttl = Some(Duration::ZERO);
        let outcome = te.engine.send_custom_event(&dropped).await.unwrap();
        assert_eq!(
            outcome.buffered_id, None,
            "ttl 0 is vRO's behaviour: dropped"
        );
        assert_eq!(
            start(&te, "event-waiter", json!({"key": "zero"}))
                .await
                .status,
            InstanceStatus::Waiting
        );
    }

    pub async fn message_ids_are_deduplicated(store: TestStore) {
        let te = engine(&store, ALL).await;
        let first_waiter = start(&te, "event-waiter", json!({"key": "dup"})).await.id;
        let mut sent = event("go-dup", props(&[("carrier", json!("UPS"))]));
        sent.message_id = Some("msg-1".into());
        let first = te.engine.send_custom_event(&sent).await.unwrap();
        assert_eq!(first.woken, vec![first_waiter]);
        let second_waiter = start(&te, "event-waiter", json!({"key": "dup"})).await.id;
        let repeat = te.engine.send_custom_event(&sent).await.unwrap();
        assert!(repeat.duplicate);
        assert_eq!(
            repeat.woken,
            vec![first_waiter],
            "the first outcome is returned"
        );
        assert_eq!(
            te.engine
                .get(second_waiter, &caller())
                .await
                .unwrap()
                .status,
            InstanceStatus::Waiting,
            "nothing was redone"
        );
        te.clock.advance(Duration::from_secs(86_401));
        // Keep the later waiter from timing out: extend isn't for events, so just re-send.
        let after_window = te.engine.send_custom_event(&sent).await.unwrap();
        assert!(!after_window.duplicate, "the dedup window has passed");
    }

    pub async fn answer_input_releases_the_wait(store: TestStore) {
        let te = engine(&store, ALL).await;
        let view = start(&te, "input-waiter", json!({})).await;
        assert_eq!(view.waits[0].kind, WaitKind::Input);
        let not_input = te
            .engine
            .answer_input(view.id, &props(&[("comment", json!("x"))]), &caller())
            .await;
        assert!(
            matches!(not_input, Err(EngineError::InvalidField(ref m)) if m.contains("comment"))
        );
        let done = te
            .engine
            .answer_input(view.id, &props(&[("approved", json!(true))]), &caller())
            .await
            .unwrap();
        assert_eq!(done.status, InstanceStatus::Completed);
        assert_eq!(done.fields["approved"], json!(true));
        let again = te
            .engine
            .answer_input(view.id, &props(&[("approved", json!(true))]), &caller())
            .await;
        assert!(matches!(again, Err(EngineError::ItemNotOpen(_))));
        assert!(matches!(
            te.engine
                .answer_input(999_999, &Map::new(), &caller())
                .await,
            Err(EngineError::UnknownInstance(_))
        ));
    }

    pub async fn cancel_closes_the_waits(store: TestStore) {
        let te = engine(&store, ALL).await;
        let view = start(&te, "single-item", json!({})).await;
        let serial = serial_of(&view);
        let cancelled = te.engine.cancel(view.id, &caller()).await.unwrap();
        assert_eq!(cancelled.status, InstanceStatus::Cancelled);
        assert!(cancelled.waits.is_empty());
        assert!(matches!(
            te.engine.cancel(view.id, &caller()).await,
            Err(EngineError::ItemNotOpen(_))
        ));
        let finish = te
            .engine
            .finish_server_item(&serial, &Map::new(), &caller(), None)
            .await;
        assert!(
            matches!(finish, Err(EngineError::ItemNotOpen(ref m)) if m.contains("cancelled")),
            "{finish:?}"
        );
        assert!(matches!(
            te.engine.cancel(424_242, &caller()).await,
            Err(EngineError::UnknownInstance(424_242))
        ));
    }

    pub async fn list_waits_filters(store: TestStore) {
        let te = engine(&store, ALL).await;
        start(&te, "single-item", json!({})).await;
        start(&te, "event-waiter", json!({"key": "a"})).await;
        start(&te, "event-waiter", json!({"key": "b"})).await;
        let all = te
            .engine
            .list_waits(
                &WaitFilter {
                    scope: ListScope::new(None, 100),
                    ..WaitFilter::default()
                },
                &caller(),
            )
            .await
            .unwrap();
        assert_eq!(all.len(), 3);
        let events = WaitFilter {
            kind: Some(WaitKind::CustomEvent),
            scope: ListScope::new(None, 100),
            ..WaitFilter::default()
        };
        assert_eq!(
            te.engine
                .list_waits(&events, &caller())
                .await
                .unwrap()
                .len(),
            2
        );
        let named = WaitFilter {
            event_name: Some("go-b".into()),
            scope: ListScope::new(None, 100),
            ..WaitFilter::default()
        };
        assert_eq!(
            te.engine.list_waits(&named, &caller()).await.unwrap().len(),
            1
        );
        let by_workflow = WaitFilter {
            scope: ListScope::new(Some("22222222-2222-4222-8222-222222222222".into()), 100),
            state: Some(WaitState::Open),
            ..WaitFilter::default()
        };
        let items = te.engine.list_waits(&by_workflow, &caller()).await.unwrap();
        assert_eq!(items.len(), 1);
        assert!(items[0].serial.is_some());
        let limited = WaitFilter {
            scope: ListScope::new(None, 2),
            ..WaitFilter::default()
        };
        assert_eq!(
            te.engine
                .list_waits(&limited, &caller())
                .await
                .unwrap()
                .len(),
            2
        );
    }

    pub async fn finish_expire_and_cancel_race_with_exactly_one_winner(store: TestStore) {
        let te = engine(&store, ALL).await;
        for round in 0..12 {
            let view = start(&te, "single-item", json!({})).await;
            let serial = serial_of(&view);
            te.clock.advance(Duration::from_secs(61)); // the deadline is now due
            let (finish_engine, cancel_engine, timer_engine) =
                (te.engine.clone(), te.engine.clone(), te.engine.clone());
            let serial_for_finish = serial.clone();
            let finish = tokio::spawn(async move {
                finish_engine
                    .finish_server_item(&serial_for_finish, &Map::new(), &caller(), None)
                    .await
            });
            let cancel =
                tokio::spawn(async move { cancel_engine.cancel(view.id, &caller()).await });
            let timer = tokio::spawn(async move { timer_engine.expire_due_waits().await });
            let finish = finish.await.unwrap();
            let cancel = cancel.await.unwrap();
            let fired = timer.await.unwrap().expect("timer tick");
            for loser in [finish.as_ref().err(), cancel.as_ref().err()]
                .into_iter()
                .flatten()
            {
                assert!(
                    matches!(loser, EngineError::ItemNotOpen(_)),
                    "round {round}: {loser:?}"
                );
            }
            let winners = usize::from(finish.is_ok()) + usize::from(cancel.is_ok()) + fired;
            assert_eq!(
                winners, 1,
                "round {round}: finish {finish:?}, cancel {cancel:?}, fired {fired}"
            );
            let history = te.engine.history(view.id, &caller()).await.unwrap();
            let closing = history
                .iter()
                .filter(|h| {
                    matches!(
                        h.kind.as_str(),
                        "server_item_finished" | "cancelled" | "wait_expired"
                    )
                })
                .count();
            assert_eq!(closing, 1, "round {round}: {history:?}");
        }
    }

    pub async fn a_batch_close_closes_only_open_waits_once(store: TestStore) {
        let te = engine(&store, ALL).await;
        for key in ["a", "b", "c"] {
            start(&te, "event-waiter", json!({ "key": key })).await;
        }
        let mut tx = store.store.begin().await.unwrap();
        let filter = WaitFilter {
            scope: ListScope::new(None, 100),
            ..WaitFilter::default()
        };
        let mut ids: Vec<i64> = tx
            .list_waits(&filter)
            .await
            .unwrap()
            .iter()
            .map(|w| w.id)
            .collect();
        ids.sort();
        assert_eq!(ids.len(), 3);
        assert!(
            tx.close_wait(ids[0], WaitState::Cancelled, 5)
                .await
                .unwrap()
        );
        let mut asked = ids.clone();
        asked.push(ids[2] + 1_000_000);
        let mut closed = tx.close_waits(&asked, WaitState::Expired, 7).await.unwrap();
        closed.sort();
        assert_eq!(closed, ids[1..].to_vec(), "only the open waits, each once");
        assert!(
            tx.close_waits(&ids, WaitState::Expired, 8)
                .await
                .unwrap()
                .is_empty()
        );
        let first = tx.get_wait(ids[0]).await.unwrap().unwrap();
        assert_eq!(
            first.state,
            WaitState::Cancelled,
            "a closed wait keeps its state"
        );
        let second = tx.get_wait(ids[1]).await.unwrap().unwrap();
        assert_eq!(
            (second.state, second.closed_at),
            (WaitState::Expired, Some(7))
        );
        tx.commit().await.unwrap();
    }

    pub async fn deadlines_fire_once_with_and_without_on_timeout(store: TestStore) {
        let te = engine(&store, ALL).await;
        let with_branch = start(&te, "event-waiter", json!({"key": "t"})).await.id;
        let without = start(&te, "single-item", json!({})).await.id;
        te.clock.advance(Duration::from_secs(59));
        assert_eq!(te.engine.expire_due_waits().await.unwrap(), 0);
        te.clock.advance(Duration::from_secs(2));
        assert_eq!(
            te.engine.expire_due_waits().await.unwrap(),
            1,
            "single-item's 1m deadline"
        );
        let failed = te.engine.get(without, &caller()).await.unwrap();
        assert_eq!(failed.status, InstanceStatus::Failed);
        assert_eq!(failed.error.as_deref(), Some("deadline_exceeded"));
        te.clock.advance(Duration::from_secs(3600));
        assert_eq!(te.engine.expire_due_waits().await.unwrap(), 1);
        assert_eq!(te.engine.expire_due_waits().await.unwrap(), 0, "fires once");
        let branched = te.engine.get(with_branch, &caller()).await.unwrap();
        assert_eq!(branched.status, InstanceStatus::Failed);
        assert_eq!(
            branched.error.as_deref(),
            Some("timed out waiting for go-t"),
            "on_timeout step ran"
        );
        let history = te.engine.history(with_branch, &caller()).await.unwrap();
        let expired: Vec<_> = history
            .iter()
            .filter(|h| h.kind == "wait_expired")
            .collect();
        assert_eq!(expired.len(), 1);
        assert_eq!(
            expired[0].source.as_deref(),
            Some(te.engine.node_source().as_str()),
            "the history names the node whose timer fired"
        );
        let late = te
            .engine
            .send_custom_event(&event("go-t", Map::new()))
            .await
            .unwrap();
        assert!(late.woken.is_empty(), "an expired wait cannot be woken");
    }

    pub async fn accounts_are_stored_listed_changed_and_removed(store: TestStore) {
        let account = |name: &str| AccountRow {
            name: name.to_string(),
            password_hash: format!("$argon2id$fake-{name}"),
            admin: name == "root",
            rights: vec!["send_events".to_string()],
            created_at: T0,
            updated_at: T0,
        };
        let mut tx = store.store.begin().await.unwrap();
        assert!(tx.insert_account(&account("erp")).await.unwrap());
        assert!(tx.insert_account(&account("root")).await.unwrap());
        assert!(
            !tx.insert_account(&account("erp")).await.unwrap(),
            "a taken name is refused, not overwritten"
        );
        tx.commit().await.unwrap();

        let mut tx = store.store.begin().await.unwrap();
        assert_eq!(tx.get_account("erp").await.unwrap(), Some(account("erp")));
        assert_eq!(tx.get_account("nobody").await.unwrap(), None);
        let names: Vec<String> = tx
            .list_accounts()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, ["erp", "root"]);
        assert!(
            tx.set_account_password("erp", "$argon2id$new", T0 + 5)
                .await
                .unwrap()
        );
        assert!(!tx.set_account_password("nobody", "x", T0).await.unwrap());
        let changed = tx.get_account("erp").await.unwrap().unwrap();
        assert_eq!(changed.password_hash, "$argon2id$new");
        assert_eq!((changed.created_at, changed.updated_at), (T0, T0 + 5));
        assert!(tx.delete_account("erp").await.unwrap());
        assert!(!tx.delete_account("erp").await.unwrap());
        tx.commit().await.unwrap();

        let mut tx = store.store.begin().await.unwrap();
        assert_eq!(tx.list_accounts().await.unwrap().len(), 1);
        drop(tx);

        // Through the accounts service: real argon2id hashes, verified.
        let accounts = holdpoint::auth::Accounts::new(store.store.clone(), Duration::from_secs(60));
        accounts
            .add(&holdpoint::auth::NewAccount {
                name: "ops".into(),
                password: "ops-pw".into(),
                admin: false,
                rights: vec![],
            })
            .await
            .unwrap();
        // A herd of requests with the same (not yet cached) credentials runs argon2 at most
        // as often as verifications may run at once; the others find the cached result.
        let herd: Vec<_> = (0..16)
            .map(|_| accounts.authenticate("ops", "ops-pw"))
            .collect();
        for principal in futures_util::future::join_all(herd).await {
            assert_eq!(principal.unwrap().map(|p| p.name), Some("ops".to_string()));
        }
        let runs = accounts.verifications_run();
        assert!(
            (1..=holdpoint::auth::MAX_CONCURRENT_VERIFICATIONS as u64).contains(&runs),
            "{runs} argon2 runs for one herd"
        );
        assert_eq!(accounts.authenticate("ops", "wrong").await.unwrap(), None);
        assert_eq!(
            accounts.authenticate("nobody", "ops-pw").await.unwrap(),
            None
        );
        accounts.set_password("ops", "new-pw").await.unwrap();
        assert_eq!(
            accounts.authenticate("ops", "ops-pw").await.unwrap(),
            None,
            "cache cleared"
        );
        assert!(
            accounts
                .authenticate("ops", "new-pw")
                .await
                .unwrap()
                .is_some()
        );
        let mut tx = store.store.begin().await.unwrap();
        let stored = tx.get_account("ops").await.unwrap().unwrap();
        assert!(stored.password_hash.starts_with("$argon2id$"));
        assert!(!stored.password_hash.contains("new-pw"));
    }

    pub async fn first_start_creates_one_admin(store: TestStore) {
        let first = holdpoint::auth::Accounts::new(store.store.clone(), Duration::from_secs(60));
        let second =
            holdpoint::auth::Accounts::new(store.another_node().await, Duration::from_secs(60));
        let (a, b) = tokio::join!(first.ensure_admin(), second.ensure_admin());
        let passwords: Vec<String> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(passwords.len(), 1, "exactly one node created the admin");
        let admin = first
            .authenticate("admin", &passwords[0])
            .await
            .unwrap()
            .unwrap();
        assert!(admin.admin);
        assert_eq!(first.ensure_admin().await.unwrap(), None, "created once");
        assert_eq!(first.list().await.unwrap().len(), 1);
    }

    pub async fn waits_are_filtered_by_viewable_workflows(store: TestStore) {
        let te = engine(&store, ALL).await;
        start(&te, "single-item", json!({})).await;
        start(&te, "event-waiter", json!({"key": "v"})).await;
        let mut tx = store.store.begin().await.unwrap();
        let only = WaitFilter {
            scope: ListScope {
                workflow_ids: Some(vec!["33333333-3333-4333-8333-333333333333".into()]),
                limit: 100,
                ..ListScope::default()
            },
            ..WaitFilter::default()
        };
        let rows = tx.list_waits(&only).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].event_name.as_deref(), Some("go-v"));
        let none = WaitFilter {
            scope: ListScope {
                workflow_ids: Some(vec![]),
                limit: 100,
                ..ListScope::default()
            },
            ..WaitFilter::default()
        };
        assert!(tx.list_waits(&none).await.unwrap().is_empty());
    }

    fn inbound(workflow: &str, now: i64) -> NewInbound {
        NewInbound {
            workflow_id: workflow.to_string(),
            kind: "sharepoint".into(),
            payload: format!("{{\"workflow\":\"{workflow}\"}}").into_bytes(),
            encrypted: false,
            now,
            expires_at: now + 120_000,
        }
    }

    pub async fn inbound_rows_are_claimed_postponed_dead_lettered_and_requeued(store: TestStore) {
        let mut tx = store.store.begin().await.unwrap();
        let first = tx.insert_inbound(&inbound("w1", T0)).await.unwrap();
        let second = tx.insert_inbound(&inbound("w2", T0 + 1)).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.store.begin().await.unwrap();
        let claimed = tx
            .claim_inbound(T0 + 10, T0 + 30_010, "node-a", 10)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            claimed.iter().map(|r| r.id).collect::<Vec<_>>(),
            [first, second]
        );
        assert!(
            claimed
                .iter()
                .all(|r| r.state == InboundState::Running && r.attempts == 1)
        );
        assert_eq!(claimed[0].payload, b"{\"workflow\":\"w1\"}".to_vec());
        assert_eq!(claimed[0].lease_owner.as_deref(), Some("node-a"));

        let mut tx = store.store.begin().await.unwrap();
        assert!(
            tx.claim_inbound(T0 + 20, T0 + 30_020, "node-b", 10)
                .await
                .unwrap()
                .is_empty(),
            "leased rows stay with their node"
        );
        assert!(
            tx.finish_inbound(first, "node-a", Some(7), T0 + 30)
                .await
                .unwrap()
        );
        assert!(
            tx.postpone_inbound(second, "node-a", T0 + 5_030, "workflow failed", T0 + 30)
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();

        let mut tx = store.store.begin().await.unwrap();
        let done = tx.get_inbound(first).await.unwrap().unwrap();
        assert_eq!(
            (done.state, done.instance_id, done.lease_owner),
            (InboundState::Done, Some(7), None)
        );
        assert!(
            tx.claim_inbound(T0 + 5_000, T0 + 35_000, "node-a", 10)
                .await
                .unwrap()
                .is_empty(),
            "postponed"
        );
        let again = tx
            .claim_inbound(T0 + 5_030, T0 + 35_030, "node-a", 10)
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].id, again[0].attempts), (second, 2));
        assert_eq!(again[0].last_error.as_deref(), Some("workflow failed"));
        assert!(
            tx.dead_letter_inbound(second, "node-a", "gave up after 120s", T0 + 121_000)
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();

        let mut tx = store.store.begin().await.unwrap();
        let dead = tx
            .list_inbound(&InboundFilter {
                scope: ListScope::new(None, 10),
                state: Some(InboundState::Dead),
            })
            .await
            .unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].last_error.as_deref(), Some("gave up after 120s"));
        let only_w1 = InboundFilter {
            scope: ListScope {
                workflow_ids: Some(vec!["w1".into()]),
                limit: 10,
                ..ListScope::default()
            },
            ..InboundFilter::default()
        };
        let rows = tx.list_inbound(&only_w1).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [first]);
        let nothing = InboundFilter {
            scope: ListScope {
                workflow_ids: Some(vec![]),
                limit: 10,
                ..ListScope::default()
            },
            ..InboundFilter::default()
        };
        assert!(tx.list_inbound(&nothing).await.unwrap().is_empty());
        let all = tx
            .list_inbound(&InboundFilter {
                scope: ListScope::new(None, 10),
                ..InboundFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(
            all.iter().map(|r| r.id).collect::<Vec<_>>(),
            [second, first],
            "newest first"
        );
        assert!(
            !tx.requeue_inbound(first, T0 + 200_000, T0 + 320_000)
                .await
                .unwrap(),
            "only dead rows"
        );
        assert!(
            tx.requeue_inbound(second, T0 + 200_000, T0 + 320_000)
                .await
                .unwrap()
        );
        let replay = tx
            .claim_inbound(T0 + 200_000, T0 + 230_000, "node-b", 10)
            .await
            .unwrap();
        assert_eq!(replay.len(), 1);
        assert_eq!(
            (replay[0].id, replay[0].attempts, replay[0].expires_at),
            (second, 3, T0 + 320_000)
        );
        tx.commit().await.unwrap();
    }

    pub async fn inbound_leases_are_owned_reclaimed_and_released(store: TestStore) {
        let mut tx = store.store.begin().await.unwrap();
        let id = tx.insert_inbound(&inbound("w1", T0)).await.unwrap();
        let claimed = tx
            .claim_inbound(T0, T0 + 1_000, "node-a", 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        // node-a dies; its lease runs out and node-b takes the row over.
        let taken = tx
            .claim_inbound(T0 + 1_000, T0 + 2_000, "node-b", 10)
            .await
            .unwrap();
        assert_eq!((taken[0].id, taken[0].attempts), (id, 2));
        assert!(
            !tx.finish_inbound(id, "node-a", None, T0 + 1_500)
                .await
                .unwrap(),
            "the old owner may not settle it"
        );
        assert!(
            !tx.dead_letter_inbound(id, "node-a", "x", T0 + 1_500)
                .await
                .unwrap()
        );
        // node-b shuts down gracefully: its lease is given back, due at once.
        assert_eq!(
            tx.release_inbound_leases("node-b", T0 + 1_600)
                .await
                .unwrap(),
            1
        );
        let row = tx.get_inbound(id).await.unwrap().unwrap();
        assert_eq!(
            (row.state, row.lease_owner, row.next_attempt_at),
            (InboundState::Queued, None, T0 + 1_600)
        );
        assert_eq!(
            tx.claim_inbound(T0 + 1_600, T0 + 2_600, "node-c", 10)
                .await
                .unwrap()
                .len(),
            1
        );
        tx.commit().await.unwrap();
    }

    pub async fn two_nodes_never_claim_the_same_inbound_row(store: TestStore) {
        let mut tx = store.store.begin().await.unwrap();
        for i in 0..40 {
            tx.insert_inbound(&inbound("w", T0 + i)).await.unwrap();
        }
        tx.commit().await.unwrap();
        let other = store.another_node().await;
        let claim = |store: std::sync::Arc<dyn Store>, owner: &'static str| async move {
            let mut ids = Vec::new();
            for _ in 0..10 {
                let mut tx = store.begin().await.unwrap();
                let rows = tx
                    .claim_inbound(T0 + 100, T0 + 60_000, owner, 3)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                ids.extend(rows.into_iter().map(|r| r.id));
            }
            ids
        };
        let (a, b) = tokio::join!(claim(store.store.clone(), "node-a"), claim(other, "node-b"));
        let mut all: Vec<i64> = a.iter().chain(b.iter()).copied().collect();
        let total = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), total, "no row claimed twice");
        assert_eq!(total, 40, "every row claimed once");
    }

    /// Made once for every node (first writer wins), replaced by a rotation, and the
    /// rotation seen by another node as soon as it reads again.
    pub async fn the_sharepoint_receiver_key_is_shared_and_rotated(store: TestStore) {
        use holdpoint::services::sharepoint::receiver_key::{self, KeyCache};
        let other = store.another_node().await;
        let (a, b) = tokio::join!(
            receiver_key::load_or_create(store.store.as_ref()),
            receiver_key::load_or_create(other.as_ref()),
        );
        let first = a.expect("key");
        assert_eq!(
            b.expect("key"),
            first,
            "both nodes have the first writer's key"
        );
        let rotated = receiver_key::rotate(store.store.as_ref())
            .await
            .expect("rotate");
        assert_ne!(rotated, first);
        let fresh = KeyCache::new(Duration::ZERO);
        let seen = fresh.current(other.as_ref()).await.expect("read");
        assert_eq!(*seen, rotated);
        assert!(seen.admits(&rotated.query()) && !seen.admits(&first.query()));
    }

    pub(crate) fn bare_instance() -> NewInstance {
        NewInstance {
            workflow_id: "w".into(),
            definition_hash: "h".into(),
            folio: "f".into(),
            status: InstanceStatus::Waiting,
            fields: Map::new(),
            trigger_event: json!({}),
            now: T0,
        }
    }

    pub(crate) fn started_history(instance_id: i64) -> NewHistory {
        NewHistory {
            instance_id,
            at: T0,
            kind: "started".into(),
            step_id: None,
            wait_id: None,
            actor: "test".into(),
            dialect: "test".into(),
            source: None,
            message_id: None,
            detail: json!({}),
        }
    }

    /// PostgreSQL sends history rows and instance updates with the next statement or with
    /// COMMIT (pipelined), so their errors may surface later than the call; either way the
    /// transaction fails and nothing of it is stored.
    pub async fn a_failed_write_fails_the_transaction_and_stores_nothing(store: TestStore) {
        let mut tx = store.store.begin().await.unwrap();
        let id = tx.insert_instance(&bare_instance()).await.unwrap();
        let entry = started_history;
        tx.append_history(&entry(id)).await.unwrap();
        // No such instance: a foreign-key violation, now or at the latest at commit. The
        // transaction is dropped (rolled back) at the end of the block either way.
        let failed: Result<(), StoreError> = async move {
            tx.append_history(&entry(id + 1_000_000)).await?;
            tx.get_instance(id).await?;
            tx.commit().await
        }
        .await;
        assert!(
            failed.is_err(),
            "the bad history row failed the transaction"
        );

        let mut tx = store.store.begin().await.unwrap();
        assert!(
            tx.get_instance(id).await.unwrap().is_none(),
            "nothing stored"
        );
        assert!(tx.history(id).await.unwrap().is_empty());
        // A later transaction on the same pool works (the connection was not left broken).
        tx.commit().await.unwrap();

        // The same when COMMIT is the next statement.
        let mut tx = store.store.begin().await.unwrap();
        let kept = tx.insert_instance(&bare_instance()).await.unwrap();
        let failed: Result<(), StoreError> = async move {
            tx.append_history(&entry(kept + 1_000_000)).await?;
            tx.commit().await
        }
        .await;
        assert!(failed.is_err(), "the commit reports the bad history row");
        let mut tx = store.store.begin().await.unwrap();
        assert!(
            tx.get_instance(kept).await.unwrap().is_none(),
            "rolled back"
        );
        tx.commit().await.unwrap();

        // The pipelined lock-and-read of a wait sends the deferred writes before it, so it
        // reports the bad row at the latest (no COMMIT needed to see it).
        let mut tx = store.store.begin().await.unwrap();
        let kept = tx.insert_instance(&bare_instance()).await.unwrap();
        let failed = match tx.append_history(&entry(kept + 1_000_000)).await {
            Ok(()) => tx.lock_instance_and_get_wait(kept, 1).await.map(drop),
            Err(error) => Err(error),
        };
        assert!(
            failed.is_err(),
            "the lock-and-read reports the bad history row"
        );
        drop(tx);
        let mut tx = store.store.begin().await.unwrap();
        assert!(
            tx.get_instance(kept).await.unwrap().is_none(),
            "rolled back"
        );
        tx.commit().await.unwrap();

        // Deferred writes are visible to reads later in the same transaction.
        let mut tx = store.store.begin().await.unwrap();
        let id = tx.insert_instance(&bare_instance()).await.unwrap();
        tx.append_history(&entry(id)).await.unwrap();
        assert_eq!(tx.history(id).await.unwrap().len(), 1);
        tx.commit().await.unwrap();
    }

    /// A bare instance and an open server-item wait of it, written in `tx`.
    pub(crate) async fn instance_with_an_item(tx: &mut Box<dyn Tx>) -> (i64, i64) {
        let id = tx.insert_instance(&bare_instance()).await.unwrap();
        let wait = NewWait {
            instance_id: id,
            step_id: "s".into(),
            kind: WaitKind::ServerItem,
            event_name: None,
            scope: None,
            deadline: T0 + 1_000,
            now: T0,
        };
        (id, tx.insert_wait(&wait).await.unwrap())
    }

    /// The commit that answers with rows (PostgreSQL pipelines the listing with COMMIT):
    /// it sees the transaction's own writes, and a failed transaction returns no rows.
    pub async fn a_commit_with_waits_lists_its_own_writes_and_commits(store: TestStore) {
        let mut tx = store.store.begin().await.unwrap();
        let (id, wait_id) = instance_with_an_item(&mut tx).await;
        tx.append_history(&started_history(id)).await.unwrap();
        let filter = WaitFilter {
            scope: ListScope::new(None, 10),
            instance_id: Some(id),
            ..WaitFilter::default()
        };
        let listed = tx.commit_with_waits(&filter).await.unwrap();
        assert_eq!(listed.iter().map(|w| w.id).collect::<Vec<_>>(), [wait_id]);
        let mut tx = store.store.begin().await.unwrap();
        assert_eq!(tx.history(id).await.unwrap().len(), 1, "committed");
        assert_eq!(tx.list_waits(&filter).await.unwrap().len(), 1);
        tx.commit().await.unwrap();

        let mut tx = store.store.begin().await.unwrap();
        let orphan = tx.insert_instance(&bare_instance()).await.unwrap();
        tx.append_history(&started_history(orphan + 1_000_000))
            .await
            .ok();
        assert!(
            tx.commit_with_waits(&filter).await.is_err(),
            "the bad history row fails the commit"
        );
        let mut tx = store.store.begin().await.unwrap();
        assert!(
            tx.get_instance(orphan).await.unwrap().is_none(),
            "rolled back"
        );
        tx.commit().await.unwrap();
    }

    /// `lock_instance_and_get_wait` (one round trip on PostgreSQL) reads the wait only
    /// once the instance is locked: a command that held the lock and closed the wait in
    /// the meantime is seen, as are this transaction's own writes.
    pub async fn a_wait_is_read_under_its_instance_lock(store: TestStore) {
        let mut tx = store.store.begin().await.unwrap();
        let (id, wait_id) = instance_with_an_item(&mut tx).await;
        tx.commit().await.unwrap();

        let mut holder = store.store.begin().await.unwrap();
        let (instance, read) = holder
            .lock_instance_and_get_wait(id, wait_id)
            .await
            .unwrap();
        assert_eq!(instance.map(|i| i.id), Some(id));
        assert_eq!(read.map(|w| w.state), Some(WaitState::Open));
        let other = store.store.clone();
        let waiting = tokio::spawn(async move {
            let mut tx = other.begin().await.unwrap();
            let locked = tx.lock_instance_and_get_wait(id, wait_id).await.unwrap();
            tx.commit().await.unwrap();
            locked
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            holder
                .close_wait(wait_id, WaitState::Finished, T0 + 5)
                .await
                .unwrap()
        );
        holder.append_history(&started_history(id)).await.unwrap();
        let (_, own) = holder
            .lock_instance_and_get_wait(id, wait_id)
            .await
            .unwrap();
        assert_eq!(
            own.map(|w| w.state),
            Some(WaitState::Finished),
            "own writes"
        );
        holder.commit().await.unwrap();
        let (instance, seen) = waiting.await.unwrap();
        assert_eq!(instance.map(|i| i.id), Some(id));
        assert_eq!(
            seen.map(|w| w.state),
            Some(WaitState::Finished),
            "read after the lock was granted, not before"
        );

        let mut tx = store.store.begin().await.unwrap();
        let (instance, read) = tx
            .lock_instance_and_get_wait(id + 1_000, wait_id + 1_000)
            .await
            .unwrap();
        assert!(instance.is_none() && read.is_none());
        tx.commit().await.unwrap();
    }

    pub async fn overview_lists_instances_and_counts_what_waits(store: TestStore) {
        let te = engine(&store, ALL).await;
        let a = start(&te, "item-then-event", json!({"order_id": "O1"})).await;
        let b = start(&te, "event-waiter", json!({"key": "k"})).await;
        let c = start(&te, "input-waiter", json!({})).await;
        te.engine.cancel(c.id, &caller()).await.expect("cancel");
        let ids = |rows: Vec<InstanceRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let filter = |status, workflow_ids| InstanceFilter {
            scope: ListScope {
                workflow_ids,
                limit: 10,
                ..ListScope::default()
            },
            status,
            step_id: None,
        };
        let mut tx = store.store.begin().await.expect("begin");
        let all = tx.list_instances(&filter(None, None)).await.expect("list");
        assert_eq!(ids(all), vec![c.id, b.id, a.id], "newest first");
        let waiting = tx
            .list_instances(&filter(Some(InstanceStatus::Waiting), None))
            .await
            .expect("list");
        assert_eq!(ids(waiting), vec![b.id, a.id]);
        let viewable = Some(vec![b.workflow_id.clone()]);
        let only = tx
            .list_instances(&filter(None, viewable))
            .await
            .expect("list");
        assert_eq!(ids(only), vec![b.id]);
        let none = tx
            .list_instances(&filter(None, Some(vec![])))
            .await
            .expect("list");
        assert!(
            none.is_empty(),
            "an empty list of viewable workflows shows nothing"
        );

        let stats = tx.stats(T0).await.expect("stats");
        assert_eq!(
            stats.open_waits,
            vec![(WaitKind::CustomEvent, 1), (WaitKind::ServerItem, 1)]
        );
        assert_eq!(stats.inbound, vec![]);
        assert_eq!(stats.outbox_backlog, 0);
        assert_eq!(stats.oldest_overdue_deadline, None, "nothing is due yet");
        assert_eq!(stats.oldest_due_inbound, None);

        tx.insert_inbound(&inbound("w", T0)).await.expect("insert");
        let later = T0 + 10 * 3_600_000;
        let stats = tx.stats(later).await.expect("stats");
        assert_eq!(stats.inbound, vec![(InboundState::Queued, 1)]);
        assert_eq!(stats.oldest_due_inbound, Some(T0));
        let first_deadline = a.waits[0].deadline_ms.min(b.waits[0].deadline_ms);
        assert_eq!(stats.oldest_overdue_deadline, Some(first_deadline));
        tx.commit().await.expect("commit");
    }
}
