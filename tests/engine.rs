//! Engine behaviour per step kind, outbound calls through the outbox against a real local
//! HTTP server, and several engines (nodes) sharing one database.

mod support;

store_suite!(
    set_decide_reply_and_end,
    template_errors_fail_the_instance_with_a_located_message,
    runaway_loops_hit_the_step_limit,
    emit_wakes_internal_waiters_only,
    call_saves_values_from_the_response,
    call_retries_with_backoff_until_it_succeeds,
    call_gives_up_after_max_attempts_and_takes_on_error,
    call_client_errors_are_not_retried,
    notify_carries_the_serial_and_saves_the_answer,
    synchronous_notify_finishes_the_item,
    a_lease_left_by_a_dead_node_is_reclaimed,
    two_engines_fire_each_deadline_once,
);

mod cases {
    use std::time::Duration;

    use holdpoint::engine::{CustomEvent, StartRequest};
    use holdpoint::store::*;
    use serde_json::{Map, json};

    use super::support::workflows::*;
    use super::support::*;

    const STEPS: &str = r#"
id = "55555555-5555-4555-8555-555555555555"
name = "steps"
[fields]
amount = { type = "number", default = 0 }
label = { type = "string" }
big = { type = "boolean", default = false }
data = { type = "json" }
[[steps]]
id = "label"
kind = "set"
fields = { label = "amount={{ fields.amount }}", data = { a = 1 } }
[[steps]]
id = "classify"
kind = "decide"
when = [{ if = "fields.amount > 1000", goto = "big" }]
else = "answer"
[[steps]]
id = "big"
kind = "set"
fields = { big = "{{ fields.amount > 1000 }}" }
[[steps]]
id = "answer"
kind = "reply"
status = "CancelWithError"
error_message = "amount {{ fields.amount }} is {{ 'big' if fields.big else 'small' }}"
changed_properties = { Title = "{{ fields.label }}" }
[[steps]]
id = "end"
kind = "end"
[[steps]]
id = "never"
kind = "fail"
message = "should not run"
"#;

    const BROKEN_TEMPLATE: &str = r#"
id = "55555555-5555-4555-8555-555555555556"
name = "broken-template"
[fields]
label = { type = "string" }
[[steps]]
id = "label"
kind = "set"
fields = { label = "{{ fields.no_such_field }}" }
"#;

    const LOOP: &str = r#"
id = "55555555-5555-4555-8555-555555555557"
name = "loop"
[[steps]]
id = "spin"
kind = "decide"
when = [{ if = "true", goto = "spin" }]
"#;

    const EMITTER: &str = r#"
id = "55555555-5555-4555-8555-555555555558"
name = "emitter"
[fields]
key = { type = "string" }
[[steps]]
id = "tell"
kind = "emit"
event = "ping-{{ fields.key }}"
properties = { carrier = "internal-{{ fields.key }}" }
"#;

    const INTERNAL_LISTENER: &str = r#"
id = "55555555-5555-4555-8555-555555555559"
name = "internal-listener"
[fields]
key = { type = "string" }
carrier = { type = "string" }
[[steps]]
id = "listen"
kind = "wait_event"
scope = "internal"
event = "ping-{{ fields.key }}"
deadline = "1h"
"#;

    const EXTERNAL_LISTENER: &str = r#"
id = "55555555-5555-4555-8555-55555555555a"
name = "external-listener"
[fields]
key = { type = "string" }
carrier = { type = "string" }
[[steps]]
id = "listen"
kind = "wait_event"
event = "ping-{{ fields.key }}"
deadline = "1h"
"#;

    const CALLER: &str = r#"
id = "66666666-6666-4666-8666-666666666666"
name = "caller"
[fields]
url = { type = "string" }
ticket = { type = "string" }
status = { type = "number" }
[[steps]]
id = "call"
kind = "call"
url = "{{ fields.url }}/tickets"
method = "POST"
body = '{"instance": {{ instance.id }}}'
headers = { Content-Type = "application/json" }
max_attempts = 3
save = { ticket = "/ticket", status = "$status" }
deadline = "1h"
on_error = "broken"
[[steps]]
id = "done"
kind = "end"
[[steps]]
id = "broken"
kind = "fail"
message = "call failed"
"#;

    const NOTIFIER: &str = r#"
id = "77777777-7777-4777-8777-777777777777"
name = "notifier"
[fields]
url = { type = "string" }
ticket = { type = "string" }
[[steps]]
id = "item"
kind = "server_event"
notify = { url = "{{ fields.url }}/notify", body = '{"serial": "{{ item.serial }}"}', save = { ticket = "/ticket" } }
deadline = "1h"
[[steps]]
id = "done"
kind = "end"
"#;

    const SYNC_NOTIFIER: &str = r#"
id = "77777777-7777-4777-8777-777777777778"
name = "sync-notifier"
[fields]
url = { type = "string" }
ticket = { type = "string" }
[[steps]]
id = "item"
kind = "server_event"
synchronous = true
notify = { url = "{{ fields.url }}/notify", save = { ticket = "/ticket" } }
deadline = "1h"
[[steps]]
id = "done"
kind = "end"
"#;

    /// Runs the outbox until nothing is due, moving the clock past each backoff.
    async fn drain_outbox(te: &TestEngine) -> usize {
        let mut handled = 0;
        for _ in 0..20 {
            let done = te.engine.run_outbox_once().await.expect("outbox tick");
            handled += done;
            if done == 0 {
                te.clock.advance(Duration::from_secs(120));
                if te.engine.run_outbox_once().await.expect("outbox tick") == 0 {
                    return handled;
                }
                handled += 1;
            }
        }
        handled
    }

    fn history_kinds(history: &[HistoryRow]) -> Vec<&str> {
        history.iter().map(|entry| entry.kind.as_str()).collect()
    }

    pub async fn set_decide_reply_and_end(store: TestStore) {
        let te = engine(&store, &[STEPS]).await;
        let small = start(&te, "steps", json!({"amount": 5})).await;
        assert_eq!(small.status, InstanceStatus::Completed);
        assert_eq!(small.fields["label"], json!("amount=5"));
        assert_eq!(small.fields["data"], json!({"a": 1}));
        assert_eq!(small.fields["big"], json!(false));
        let reply = small.reply.expect("reply");
        assert_eq!(reply["status"], json!("CancelWithError"));
        assert_eq!(reply["error_message"], json!("amount 5 is small"));
        assert_eq!(reply["changed_properties"]["Title"], json!("amount=5"));
        let big = start(&te, "steps", json!({"amount": "5000"})).await;
        assert_eq!(
            big.fields["big"],
            json!(true),
            "template output converted to boolean"
        );
        assert_eq!(
            big.reply.unwrap()["error_message"],
            json!("amount 5000 is big")
        );
        let invalid = te
            .engine
            .start(StartRequest {
                workflow: "steps".into(),
                fields: props(&[("amount", json!("much"))]),
                folio: None,
                event: json!({}),
                caller: caller(),
                idempotency_key: None,
            })
            .await;
        assert!(
            matches!(invalid, Err(holdpoint::engine::EngineError::InvalidField(ref m)) if m.contains("amount"))
        );
    }

    pub async fn template_errors_fail_the_instance_with_a_located_message(store: TestStore) {
        let te = engine(&store, &[BROKEN_TEMPLATE]).await;
        let view = start(&te, "broken-template", json!({})).await;
        assert_eq!(view.status, InstanceStatus::Failed);
        let error = view.error.expect("error");
        assert!(
            error.contains("step `label`")
                && error.contains("fields.label")
                && error.contains("undefined"),
            "{error}"
        );
    }

    pub async fn runaway_loops_hit_the_step_limit(store: TestStore) {
        let te = engine(&store, &[LOOP]).await;
        let view = start(&te, "loop", json!({})).await;
        assert_eq!(view.status, InstanceStatus::Failed);
        assert!(view.error.unwrap().contains("step limit"));
    }

    pub async fn emit_wakes_internal_waiters_only(store: TestStore) {
        let te = engine(&store, &[EMITTER, INTERNAL_LISTENER, EXTERNAL_LISTENER]).await;
        let internal = start(&te, "internal-listener", json!({"key": "k1"})).await;
        let external = start(&te, "external-listener", json!({"key": "k1"})).await;
        let emitter = start(&te, "emitter", json!({"key": "k1"})).await;
        assert_eq!(emitter.status, InstanceStatus::Completed);
        let woken = te.engine.get(internal.id, &caller()).await.unwrap();
        assert_eq!(
            woken.status,
            InstanceStatus::Completed,
            "woken in the emitter's transaction"
        );
        assert_eq!(woken.fields["carrier"], json!("internal-k1"));
        assert_eq!(
            te.engine.get(external.id, &caller()).await.unwrap().status,
            InstanceStatus::Waiting
        );
        // An internal event nobody waits for is buffered for the next internal waiter.
        start(&te, "emitter", json!({"key": "k2"})).await;
        let late = start(&te, "internal-listener", json!({"key": "k2"})).await;
        assert_eq!(late.status, InstanceStatus::Completed);
        // External senders cannot reach internal waits.
        let internal3 = start(&te, "internal-listener", json!({"key": "k3"})).await;
        let sent = te
            .engine
            .send_custom_event(&CustomEvent {
                name: "ping-k3".into(),
                properties: Map::new(),
                scope: EventScope::External,
                caller: caller(),
                message_id: None,
                ttl: Some(Duration::ZERO),
            })
            .await
            .unwrap();
        assert!(sent.woken.is_empty());
        assert_eq!(
            te.engine.get(internal3.id, &caller()).await.unwrap().status,
            InstanceStatus::Waiting
        );
    }

    pub async fn call_saves_values_from_the_response(store: TestStore) {
        let server = scripted_server(|_| (201, r#"{"ticket": "T-1"}"#)).await;
        let te = engine(&store, &[CALLER]).await;
        let view = start(&te, "caller", json!({"url": server.url})).await;
        assert_eq!(view.status, InstanceStatus::Waiting);
        assert_eq!(view.waits[0].kind, WaitKind::Call);
        assert_eq!(
            server.hits.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "nothing is sent before commit"
        );
        assert_eq!(te.engine.run_outbox_once().await.unwrap(), 1);
        let done = te.engine.get(view.id, &caller()).await.unwrap();
        assert_eq!(done.status, InstanceStatus::Completed);
        assert_eq!(done.fields["ticket"], json!("T-1"));
        assert_eq!(done.fields["status"], json!(201));
        let bodies = server.bodies.lock().unwrap().clone();
        assert_eq!(bodies, vec![format!("{{\"instance\": {}}}", view.id)]);
        assert_eq!(
            te.engine.run_outbox_once().await.unwrap(),
            0,
            "delivered once"
        );
    }

    pub async fn call_retries_with_backoff_until_it_succeeds(store: TestStore) {
        let server = scripted_server(|n| {
            if n < 2 {
                (503, "{}")
            } else {
                (200, r#"{"ticket": "T-2"}"#)
            }
        })
        .await;
        let te = engine(&store, &[CALLER]).await;
        let view = start(&te, "caller", json!({"url": server.url})).await;
        assert_eq!(te.engine.run_outbox_once().await.unwrap(), 1);
        assert_eq!(
            te.engine.run_outbox_once().await.unwrap(),
            0,
            "postponed by the backoff"
        );
        te.clock.advance(Duration::from_millis(1000));
        assert_eq!(
            te.engine.run_outbox_once().await.unwrap(),
            1,
            "second attempt after 1s"
        );
        te.clock.advance(Duration::from_millis(1999));
        assert_eq!(
            te.engine.run_outbox_once().await.unwrap(),
            0,
            "third waits 2s"
        );
        te.clock.advance(Duration::from_millis(1));
        assert_eq!(te.engine.run_outbox_once().await.unwrap(), 1);
        let done = te.engine.get(view.id, &caller()).await.unwrap();
        assert_eq!(done.status, InstanceStatus::Completed);
        assert_eq!(done.fields["ticket"], json!("T-2"));
        assert_eq!(server.hits.load(std::sync::atomic::Ordering::SeqCst), 3);
        let history = te.engine.history(view.id, &caller()).await.unwrap();
        assert_eq!(
            history_kinds(&history)
                .iter()
                .filter(|kind| **kind == "outbound_retry")
                .count(),
            2
        );
    }

    pub async fn call_gives_up_after_max_attempts_and_takes_on_error(store: TestStore) {
        let server = scripted_server(|_| (500, "{}")).await;
        let te = engine(&store, &[CALLER]).await;
        let view = start(&te, "caller", json!({"url": server.url})).await;
        drain_outbox(&te).await;
        assert_eq!(
            server.hits.load(std::sync::atomic::Ordering::SeqCst),
            3,
            "max_attempts = 3"
        );
        let failed = te.engine.get(view.id, &caller()).await.unwrap();
        assert_eq!(failed.status, InstanceStatus::Failed);
        assert_eq!(
            failed.error.as_deref(),
            Some("call failed"),
            "on_error step ran"
        );
        // A refused connection is retried the same way.
        let closed_port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let refused = start(
            &te,
            "caller",
            json!({"url": format!("http://127.0.0.1:{closed_port}")}),
        )
        .await;
        drain_outbox(&te).await;
        let history = te.engine.history(refused.id, &caller()).await.unwrap();
        assert_eq!(
            history_kinds(&history)
                .iter()
                .filter(|kind| **kind == "outbound_retry")
                .count(),
            2
        );
        assert_eq!(
            te.engine.get(refused.id, &caller()).await.unwrap().status,
            InstanceStatus::Failed
        );
    }

    pub async fn call_client_errors_are_not_retried(store: TestStore) {
        let server = scripted_server(|_| (404, r#"{"error": "no such queue"}"#)).await;
        let te = engine(&store, &[CALLER]).await;
        let view = start(&te, "caller", json!({"url": server.url})).await;
        drain_outbox(&te).await;
        assert_eq!(server.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(
            te.engine.get(view.id, &caller()).await.unwrap().status,
            InstanceStatus::Failed
        );
        let history = te.engine.history(view.id, &caller()).await.unwrap();
        let failure = history
            .iter()
            .find(|entry| entry.kind == "outbound_failed")
            .expect("failure recorded");
        assert!(failure.detail["error"].as_str().unwrap().contains("404"));
    }

    pub async fn notify_carries_the_serial_and_saves_the_answer(store: TestStore) {
        let server = scripted_server(|_| (200, r#"{"ticket": "ERP-9"}"#)).await;
        let te = engine(&store, &[NOTIFIER]).await;
        let view = start(&te, "notifier", json!({"url": server.url})).await;
        let serial = view.waits[0].serial.clone().unwrap();
        assert_eq!(te.engine.run_outbox_once().await.unwrap(), 1);
        let body = server.bodies.lock().unwrap()[0].clone();
        assert_eq!(body, format!("{{\"serial\": \"{serial}\"}}"));
        let waiting = te.engine.get(view.id, &caller()).await.unwrap();
        assert_eq!(
            waiting.status,
            InstanceStatus::Waiting,
            "the item waits for its callback"
        );
        assert_eq!(
            waiting.fields["ticket"],
            json!("ERP-9"),
            "saved before the wait"
        );
        te.engine
            .finish_server_item(&serial, &Map::new(), &caller(), None)
            .await
            .unwrap();
        assert_eq!(
            te.engine.get(view.id, &caller()).await.unwrap().status,
            InstanceStatus::Completed
        );
    }

    pub async fn synchronous_notify_finishes_the_item(store: TestStore) {
        let server = scripted_server(|_| (200, r#"{"ticket": "SYNC-1"}"#)).await;
        let te = engine(&store, &[SYNC_NOTIFIER]).await;
        let view = start(&te, "sync-notifier", json!({"url": server.url})).await;
        te.engine.run_outbox_once().await.unwrap();
        let done = te.engine.get(view.id, &caller()).await.unwrap();
        assert_eq!(done.status, InstanceStatus::Completed);
        assert_eq!(done.fields["ticket"], json!("SYNC-1"));
    }

    pub async fn a_lease_left_by_a_dead_node_is_reclaimed(store: TestStore) {
        let server = scripted_server(|_| (200, r#"{"ticket": "T-9"}"#)).await;
        let te = engine(&store, &[CALLER]).await;
        let view = start(&te, "caller", json!({"url": server.url})).await;
        // Node A claims the row and "dies" before sending.
        let claimed = te.engine.claim_outbound().await.unwrap();
        assert_eq!(claimed.len(), 1);
        let other = engine_with(store.another_node().await, &[CALLER], test_config()).await;
        other.clock.set(T0 + 29_000);
        assert_eq!(
            other.engine.run_outbox_once().await.unwrap(),
            0,
            "the lease still holds"
        );
        other.clock.set(T0 + 31_000);
        assert_eq!(
            other.engine.run_outbox_once().await.unwrap(),
            1,
            "reclaimed after the lease"
        );
        assert_eq!(
            other.engine.get(view.id, &caller()).await.unwrap().status,
            InstanceStatus::Completed
        );
        // Node A's late result for its stale lease changes nothing.
        te.clock.set(T0 + 32_000);
        te.engine.deliver_outbound(&claimed[0]).await.unwrap();
        let history = te.engine.history(view.id, &caller()).await.unwrap();
        assert_eq!(
            history_kinds(&history)
                .iter()
                .filter(|kind| **kind == "outbound_succeeded")
                .count(),
            1
        );
    }

    pub async fn two_engines_fire_each_deadline_once(store: TestStore) {
        let mut config = test_config();
        config.timers.batch_size = 7;
        let a = engine_with(store.store.clone(), ALL, config.clone()).await;
        let b = engine_with(store.another_node().await, ALL, config).await;
        let mut ids = Vec::new();
        for n in 0..60 {
            ids.push(
                start(&a, "event-waiter", json!({"key": format!("k{n}")}))
                    .await
                    .id,
            );
        }
        a.clock.advance(Duration::from_secs(7200));
        b.clock.set(a.clock_now());
        let tick = |engine: std::sync::Arc<holdpoint::engine::Engine>| async move {
            let mut fired = 0;
            loop {
                let now = engine.expire_due_waits().await.expect("tick");
                if now == 0 {
                    return fired;
                }
                fired += now;
            }
        };
        let (fired_a, fired_b) = tokio::join!(
            tokio::spawn(tick(a.engine.clone())),
            tokio::spawn(tick(b.engine.clone()))
        );
        let (fired_a, fired_b) = (fired_a.unwrap(), fired_b.unwrap());
        assert_eq!(
            fired_a + fired_b,
            60,
            "a fired {fired_a}, b fired {fired_b}"
        );
        for id in ids {
            let history = a.engine.history(id, &caller()).await.unwrap();
            let kinds = history_kinds(&history);
            assert_eq!(
                kinds.iter().filter(|kind| **kind == "wait_expired").count(),
                1,
                "{id}: {kinds:?}"
            );
            assert_eq!(
                kinds.iter().filter(|kind| **kind == "failed").count(),
                1,
                "{id}: {kinds:?}"
            );
        }
    }

    trait ClockNow {
        fn clock_now(&self) -> i64;
    }

    impl ClockNow for TestEngine {
        fn clock_now(&self) -> i64 {
            use holdpoint::engine::clock::Clock;
            self.clock.now_ms()
        }
    }
}
