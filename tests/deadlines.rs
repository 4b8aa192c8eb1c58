//! Deadlines from data: a step's `deadline` template renders, when the wait opens, to a
//! date-time or a duration (vRO's `waitCustomEventUntil(type, key, date)`), on the
//! embedded store and on PostgreSQL.

mod support;

store_suite!(
    a_future_date_from_a_field_is_the_wait_deadline_in_the_api,
    a_past_date_expires_into_on_timeout_at_once,
    a_rendering_that_is_neither_fails_the_instance_naming_step_and_value,
    a_duration_from_a_field_counts_from_the_opening,
);

mod cases {
    use std::time::Duration;

    use holdpoint::store::{InstanceStatus, ListScope, WaitFilter, WaitState};
    use reqwest::StatusCode;
    use serde_json::json;

    use super::support::api::{TEST_MAX_BODY, api_server_with};
    use super::support::*;

    /// Waits for a shipment until the date (or for the duration) in `until`; late ones
    /// are marked and complete.
    const UNTIL: &str = r#"
id = "88888888-8888-4888-8888-888888888881"
name = "until"
[fields]
until = { type = "string" }
outcome = { type = "string" }
[[steps]]
id = "wait-shipment"
kind = "wait_event"
event = "shipped-{{ instance.id }}"
deadline = "{{ fields.until }}"
on_timeout = "late"
[[steps]]
id = "done"
kind = "end"
[[steps]]
id = "late"
kind = "set"
fields = { outcome = "late" }
"#;

    /// A K2 server item due at a datetime field (kept in RFC 3339 by the field type).
    const ITEM_DUE: &str = r#"
id = "88888888-8888-4888-8888-888888888882"
name = "item-due"
[fields]
due = { type = "datetime" }
[[steps]]
id = "approve"
kind = "server_event"
deadline = "{{ fields.due }}"
"#;

    /// 2027-01-16T08:00:00Z: a day after the test clock's start.
    const TOMORROW_MS: i64 = T0 + 86_400_000;

    async fn history_kinds(te: &TestEngine, id: i64) -> Vec<String> {
        let history = te.engine.history(id, &caller()).await.expect("history");
        history.into_iter().map(|entry| entry.kind).collect()
    }

    pub async fn a_future_date_from_a_field_is_the_wait_deadline_in_the_api(store: TestStore) {
        let server = api_server_with(store, &[UNTIL, ITEM_DUE], TEST_MAX_BODY).await;
        // vRO's own form, with a numeric offset as Java's SimpleDateFormat writes it.
        let started = server
            .post(
                "root",
                "/api/v1/workflows/until/instances",
                json!({"fields": {"until": "20270116090000+0100"}}),
            )
            .await;
        assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
        let instance = &started.body["instance"];
        assert_eq!(instance["status"], json!("waiting"));
        assert_eq!(instance["waits"][0]["deadline_ms"], json!(TOMORROW_MS));
        assert_eq!(
            instance["waits"][0]["deadline"],
            json!("2027-01-16T08:00:00.000Z")
        );
        let waits = server.get("root", "/api/v1/waits?workflow=until").await;
        assert_eq!(waits.body[0]["deadline_ms"], json!(TOMORROW_MS));

        let item = server
            .post(
                "root",
                "/api/v1/workflows/item-due/instances",
                json!({"fields": {"due": "2027-01-16T10:00:00+02:00"}}),
            )
            .await;
        let serial = item.body["instance"]["waits"][0]["serial"]
            .as_str()
            .expect("a server item")
            .to_string();
        let opened = server
            .get("root", &format!("/api/v1/server-items/{serial}"))
            .await;
        assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
        assert_eq!(opened.body["deadline"], json!("2027-01-16T08:00:00.000Z"));

        // Not due before its date.
        server.te.clock.advance(Duration::from_secs(86_399));
        assert_eq!(server.te.engine.expire_due_waits().await.expect("tick"), 0);
        server.te.clock.advance(Duration::from_secs(1));
        assert_eq!(server.te.engine.expire_due_waits().await.expect("tick"), 2);
    }

    pub async fn a_past_date_expires_into_on_timeout_at_once(store: TestStore) {
        let te = engine(&store, &[UNTIL]).await;
        let signal = store.store.work_signal();
        let woken = signal.notified();
        let view = start(&te, "until", json!({"until": "2027-01-15T07:00:00Z"})).await;
        // The wait opens with its past deadline, and the commit wakes the timer, which
        // expires it as it expires any due wait.
        assert_eq!(view.waits[0].deadline_ms, T0 - 3_600_000);
        tokio::time::timeout(Duration::from_secs(5), woken)
            .await
            .expect("the commit wakes the runners");
        assert_eq!(te.engine.expire_due_waits().await.expect("tick"), 1);
        let done = te.engine.get(view.id, &caller()).await.expect("get");
        assert_eq!(done.status, InstanceStatus::Completed);
        assert_eq!(done.fields["outcome"], json!("late"));
        assert_eq!(
            history_kinds(&te, view.id).await,
            ["started", "wait_opened", "wait_expired", "completed"]
        );
        let expired = WaitFilter {
            scope: ListScope::new(None, 10),
            instance_id: Some(view.id),
            state: Some(WaitState::Expired),
            ..Default::default()
        };
        let node = te.engine.node_caller();
        let waits = te.engine.list_waits(&expired, &node).await;
        assert_eq!(waits.expect("waits").len(), 1);
    }

    pub async fn a_rendering_that_is_neither_fails_the_instance_naming_step_and_value(
        store: TestStore,
    ) {
        let te = engine(&store, &[UNTIL]).await;
        let cases = [
            ("soon", "`soon` is not valid"),
            ("20270116080000", "`20270116080000` is not valid"),
            ("", "rendered empty"),
            ("   ", "rendered empty"),
        ];
        for (until, expected) in cases {
            let view = start(&te, "until", json!({"until": until})).await;
            assert_eq!(view.status, InstanceStatus::Failed, "{until:?}");
            assert!(view.waits.is_empty(), "{until:?}: no wait opens");
            let error = view.error.expect("error");
            assert!(
                error.starts_with("step `wait-shipment`: deadline: ") && error.contains(expected),
                "{until:?}: {error}"
            );
        }
        // A field never set renders as `None`: no deadline either.
        let view = start(&te, "until", json!({})).await;
        let error = view.error.expect("error");
        assert!(
            error.starts_with("step `wait-shipment`: deadline: ") && error.contains("`None`"),
            "{error}"
        );
    }

    pub async fn a_duration_from_a_field_counts_from_the_opening(store: TestStore) {
        let te = engine(&store, &[UNTIL]).await;
        let view = start(&te, "until", json!({"until": "1h30m"})).await;
        assert_eq!(view.status, InstanceStatus::Waiting);
        assert_eq!(view.waits[0].deadline_ms, T0 + 5_400_000);
        te.clock.advance(Duration::from_secs(5_399));
        assert_eq!(te.engine.expire_due_waits().await.expect("tick"), 0);
        te.clock.advance(Duration::from_secs(1));
        assert_eq!(te.engine.expire_due_waits().await.expect("tick"), 1);
        let done = te.engine.get(view.id, &caller()).await.expect("get");
        assert_eq!(done.fields["outcome"], json!("late"));
    }
}
