//! The durable inbound queue end to end: SharePoint `ProcessOneWayEvent` is stored and
//! acknowledged, delivered by a runner, retried every `retry_delay` while it fails,
//! dead-lettered after `max_lifetime`, visible over the API, and replayed by `retry`.
//! Run on the embedded store and on PostgreSQL.

mod support;

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use support::api::{ApiServer, api_server_with};

const ENDPOINT: &str = "/sharepoint/RemoteEventService.svc";

/// Records a new order from an ItemAdded event.
const RECORDER: &str = r#"
id = "88888888-8888-4888-8888-888888888888"
name = "sp-recorder"
[fields]
title = { type = "string" }
[[triggers]]
sharepoint = { list = "Orders", events = ["ItemAdded"] }
action = "start"
[remote_events]
retry_delay = "5s"
max_lifetime = "120s"
[[steps]]
id = "record"
kind = "set"
fields = { title = "{{ event.after.Title }}" }
[[steps]]
id = "done"
kind = "end"
"#;

fn one_way_item_added() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/sharepoint/processevent-itemadding.xml"),
    )
    .expect("fixture")
    .replace("<ProcessEvent ", "<ProcessOneWayEvent ")
    .replace("</ProcessEvent>", "</ProcessOneWayEvent>")
    .replace(
        "<EventType>ItemAdding</EventType>",
        "<EventType>ItemAdded</EventType>",
    )
}

/// Posts to the URL registered in SharePoint: the receiver path with the key.
async fn post_one_way(server: &ApiServer, body: String) -> (u16, String) {
    let url = format!("{ENDPOINT}{}", server.sharepoint_query().await);
    let response = server
        .request(Method::POST, &url)
        .header("content-type", "text/xml; charset=utf-8")
        .header("SOAPAction", "\"http://schemas.microsoft.com/sharepoint/remoteapp/IRemoteEventService/ProcessOneWayEvent\"")
        .body(body)
        .send()
        .await
        .expect("answer");
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

async fn queue_walkthrough(server: ApiServer) {
    let (status, body) = post_one_way(&server, one_way_item_added()).await;
    assert_eq!(
        (status, body.as_str()),
        (202, ""),
        "acknowledged empty, after the commit"
    );
    let queued = server
        .get("root", "/api/v1/inbound-events?state=queued")
        .await;
    assert_eq!(
        queued.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        queued.body
    );
    let id = queued.body[0]["id"].as_i64().unwrap();
    assert_eq!(queued.body[0]["kind"], json!("sharepoint"));

    // A node that does not have the workflow (an old deployment) fails to deliver it.
    let old = support::engine_with(
        server.store.another_node().await,
        support::workflows::ALL,
        support::test_config(),
    )
    .await;
    assert_eq!(old.engine.run_inbound_once().await.unwrap(), 1);
    let row = &server.get("root", "/api/v1/inbound-events").await.body[0];
    assert_eq!(
        (row["state"].clone(), row["attempts"].clone()),
        (json!("queued"), json!(1))
    );
    assert!(
        row["last_error"]
            .as_str()
            .unwrap()
            .contains("unknown_workflow"),
        "{row}"
    );
    assert_eq!(
        old.engine.run_inbound_once().await.unwrap(),
        0,
        "postponed by retry_delay"
    );
    old.clock.advance(Duration::from_secs(5));
    assert_eq!(
        old.engine.run_inbound_once().await.unwrap(),
        1,
        "retried after retry_delay"
    );
    old.clock.advance(Duration::from_secs(120));
    assert_eq!(old.engine.run_inbound_once().await.unwrap(), 1);
    let dead = server
        .get("root", "/api/v1/inbound-events?state=dead")
        .await;
    assert_eq!(
        dead.body.as_array().map(Vec::len),
        Some(1),
        "dead-lettered after max_lifetime"
    );
    assert_eq!(dead.body[0]["attempts"], json!(3));
    old.clock.advance(Duration::from_secs(600));
    assert_eq!(
        old.engine.run_inbound_once().await.unwrap(),
        0,
        "dead letters are not retried by themselves"
    );

    // Not for non-admins; replayed by an admin; delivered by a node that has the workflow.
    let hidden = server.get("erp", "/api/v1/inbound-events").await;
    assert_eq!(hidden.body, json!([]), "erp may not view sp-recorder");
    let refused = server
        .post(
            "erp",
            &format!("/api/v1/inbound-events/{id}/retry"),
            json!(null),
        )
        .await;
    assert_eq!(refused.status, 403);
    let retried = server
        .post(
            "root",
            &format!("/api/v1/inbound-events/{id}/retry"),
            json!(null),
        )
        .await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.body["state"], json!("queued"));
    let again = server
        .post(
            "root",
            &format!("/api/v1/inbound-events/{id}/retry"),
            json!(null),
        )
        .await;
    assert_eq!(again.status, 409, "only dead letters are retried");
    assert_eq!(server.te.engine.run_inbound_once().await.unwrap(), 1);
    let done = &server.get("root", "/api/v1/inbound-events").await.body[0];
    assert_eq!(done["state"], json!("done"), "{done}");
    let instance_id = done["instance_id"].as_i64().expect("the started instance");
    let instance = server
        .get("root", &format!("/api/v1/instances/{instance_id}"))
        .await;
    assert_eq!(instance.body["status"], json!("completed"));
    assert_eq!(instance.body["fields"]["title"], json!("Order 4711"));
    let history = server
        .get("root", &format!("/api/v1/instances/{instance_id}/history"))
        .await;
    assert_eq!(history.body[0]["dialect"], json!("sharepoint"));
    assert_eq!(
        history.body[0]["message_id"],
        json!(format!("inbound:{id}"))
    );

    // No matching trigger: still a success for SharePoint, and nothing is queued.
    let other_list = one_way_item_added().replace(
        "<ListTitle>Orders</ListTitle>",
        "<ListTitle>Invoices</ListTitle>",
    );
    assert_eq!(post_one_way(&server, other_list).await.0, 202);
    let all = server.get("root", "/api/v1/inbound-events").await;
    assert_eq!(all.body.as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_way_events_are_queued_retried_dead_lettered_and_replayed_sqlite() {
    queue_walkthrough(api_server_with(support::sqlite_store().await, &[RECORDER], 4 << 20).await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_way_events_are_queued_retried_dead_lettered_and_replayed_postgres() {
    let Some(store) = support::postgres_store().await else {
        return;
    };
    queue_walkthrough(api_server_with(store, &[RECORDER], 4 << 20).await).await;
}

/// Queues one `start` event for the recorder workflow with this title.
async fn enqueue_title(te: &support::TestEngine, title: &str) -> i64 {
    use holdpoint::engine::inbound::{InboundAction, InboundPayload, InboundRequest};
    let workflow = te.engine.workflows().get("sp-recorder").cloned().unwrap();
    te.engine
        .enqueue_remote_events(&[InboundRequest {
            workflow,
            kind: "sharepoint".into(),
            payload: InboundPayload {
                action: InboundAction::Start,
                event: json!({"after": {"Title": title}}),
                sender: "sharepoint".into(),
            },
            idempotency_key: None,
            coalesce_key: None,
        }])
        .await
        .unwrap()[0]
}

/// Payloads at rest are AES-256-GCM ciphertext; a wrong key, or none, stops the start.
async fn encrypted_payloads(store: support::TestStore) {
    use holdpoint::engine::Engine;
    use holdpoint::engine::clock::ManualClock;
    use holdpoint::engine::crypto::QueueKey;

    let mut config = support::test_config();
    config.queue.encryption_key = Some(QueueKey::from_bytes([42; 32]));
    let te = support::engine_with(store.store.clone(), &[RECORDER], config.clone()).await;
    let ids = [enqueue_title(&te, "Confidential order 4711").await];
    let mut tx = store.store.begin().await.unwrap();
    let row = tx.get_inbound(ids[0]).await.unwrap().unwrap();
    drop(tx);
    assert!(row.encrypted);
    assert!(
        !row.payload.windows(12).any(|w| w == b"Confidential"),
        "the stored payload is not readable"
    );
    assert_eq!(te.engine.run_inbound_once().await.unwrap(), 1);
    let mut tx = store.store.begin().await.unwrap();
    let row = tx.get_inbound(ids[0]).await.unwrap().unwrap();
    drop(tx);
    assert_eq!(
        row.state,
        holdpoint::store::InboundState::Done,
        "{:?}",
        row.last_error
    );

    let workflows = support::workflows(&[RECORDER]);
    let clock = std::sync::Arc::new(ManualClock::new(support::T0));
    let mut wrong = config.clone();
    wrong.queue.encryption_key = Some(QueueKey::from_bytes([7; 32]));
    let refused = Engine::new(store.store.clone(), workflows.clone(), wrong, clock.clone()).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("not the key"), "{message}");
    let mut none = config.clone();
    none.queue.encryption_key = None;
    let refused = Engine::new(store.store.clone(), workflows, none, clock).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("encryption_key_file"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_payloads_sqlite() {
    encrypted_payloads(support::sqlite_store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_payloads_postgres() {
    let Some(store) = support::postgres_store().await else {
        return;
    };
    encrypted_payloads(store).await;
}

/// A node that claimed an event and died: another node delivers it once the lease ends.
async fn a_dead_nodes_event_is_delivered_by_another(store: support::TestStore) {
    let te = support::engine_with(store.store.clone(), &[RECORDER], support::test_config()).await;
    let ids = [enqueue_title(&te, "survivor").await];
    // The doomed node claims the row and is killed before it delivers anything.
    let mut tx = store.store.begin().await.unwrap();
    let claimed = tx
        .claim_inbound(support::T0, support::T0 + 60_000, "doomed-node", 10)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        te.engine.run_inbound_once().await.unwrap(),
        0,
        "leased elsewhere"
    );
    te.clock.advance(Duration::from_secs(61));
    assert_eq!(
        te.engine.run_inbound_once().await.unwrap(),
        1,
        "reclaimed after the lease"
    );
    let mut tx = store.store.begin().await.unwrap();
    let row = tx.get_inbound(ids[0]).await.unwrap().unwrap();
    drop(tx);
    assert_eq!(
        (row.state, row.attempts),
        (holdpoint::store::InboundState::Done, 2)
    );
    let instance = te
        .engine
        .get(row.instance_id.unwrap(), &support::caller())
        .await
        .unwrap();
    assert_eq!(instance.fields["title"], json!("survivor"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_event_is_delivered_by_another_sqlite() {
    a_dead_nodes_event_is_delivered_by_another(support::sqlite_store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_event_is_delivered_by_another_postgres() {
    let Some(store) = support::postgres_store().await else {
        return;
    };
    a_dead_nodes_event_is_delivered_by_another(store).await;
}
