//! kenaflow-style remote events over real HTTP: custom data (query string and JSON),
//! unstructured data, and return data (JSON, XML, bytes), with the `a`/`b` variants.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::api::{ApiServer, api_server_with};

const KENA: &str = r#"
id = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
name = "kena"
[fields]
item = { type = "string" }
color = { type = "string" }
user = { type = "string" }
body = { type = "string" }
[permissions]
start = ["erp"]
[remote_events]
custom_data = true
unstructured = true
anonymous = true
[[steps]]
id = "record"
kind = "set"
fields = { item = "{{ event.__itemid | default('') }}", color = "{{ event.color | default('') }}", user = "{{ event.__user }}", body = "{{ event.__body | default('') }}" }
[[steps]]
id = "answer"
kind = "reply"
body = '''{"echo": "{{ event.__body | default('') }}", "user": "{{ event.__user }}"}'''
[[steps]]
id = "done"
kind = "end"
"#;

const BIN: &str = r#"
id = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
name = "kena-bin"
[permissions]
start = ["erp"]
[remote_events]
unstructured = true
[[steps]]
id = "answer"
kind = "reply"
body = "aGVsbG8gYnl0ZXM="
[[steps]]
id = "done"
kind = "end"
"#;

const CLOSED: &str = r#"
id = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
name = "kena-closed"
[permissions]
start = ["erp"]
[remote_events]
custom_data = true
[[steps]]
id = "done"
kind = "end"
"#;

async fn delivered_fields(server: &ApiServer, event_id: i64) -> Value {
    assert!(server.te.engine.run_inbound_once().await.unwrap() >= 1);
    let rows = server.get("root", "/api/v1/inbound-events").await;
    let row = rows
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == json!(event_id))
        .cloned()
        .expect("the queued event");
    assert_eq!(row["state"], json!("done"), "{row}");
    let instance = server
        .get("root", &format!("/api/v1/instances/{}", row["instance_id"]))
        .await;
    instance.body["fields"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_unstructured_and_return_data() {
    let server =
        api_server_with(support::sqlite_store().await, &[KENA, BIN, CLOSED], 1 << 20).await;

    let anonymous =
        support::api::send(server.request(Method::GET, "/cda/kena/?__wfid=1&__itemid=7&color=red"))
            .await;
    assert_eq!(anonymous.status, 202, "{}", anonymous.body);
    let fields = delivered_fields(&server, anonymous.body["event_id"].as_i64().unwrap()).await;
    assert_eq!(
        (
            fields["item"].clone(),
            fields["color"].clone(),
            fields["user"].clone()
        ),
        (json!("7"), json!("red"), json!("anonymous"))
    );

    let both = support::api::send(
        server
            .as_user("erp", Method::POST, "/cdb/kena/?color=green")
            .json(&json!({"__wfid": "1", "__itemid": "8", "color": "blue"})),
    )
    .await;
    assert_eq!(both.status, 202, "{}", both.body);
    let fields = delivered_fields(&server, both.body["event_id"].as_i64().unwrap()).await;
    assert_eq!(
        fields["color"],
        json!("green"),
        "the query string wins over the body"
    );
    assert_eq!(fields["user"], json!("erp"));

    let missing = support::api::send(server.request(Method::GET, "/cda/kena/?__wfid=1")).await;
    assert_eq!(
        (missing.status.as_u16(), missing.code()),
        (400, "malformed_request")
    );
    let closed =
        support::api::send(server.request(Method::GET, "/cda/kena-closed/?__wfid=1&__itemid=1"))
            .await;
    assert_eq!(
        (closed.status.as_u16(), closed.code()),
        (403, "forbidden"),
        "{}",
        closed.body
    );
    let no_credentials =
        support::api::send(server.request(Method::GET, "/cdb/kena-closed/?__wfid=1&__itemid=1"))
            .await;
    assert_eq!(no_credentials.status, 401);
    let not_permitted =
        support::api::send(server.as_user("ops", Method::GET, "/cdb/kena/?__wfid=1&__itemid=1"))
            .await;
    assert_eq!(not_permitted.status, 403);
    let not_enabled =
        support::api::send(server.request(Method::POST, "/uda/kena-closed/").body("x")).await;
    assert_eq!(not_enabled.status, 403);

    let raw = support::api::send(
        server
            .request(Method::POST, "/uda/kena/?ref=42")
            .header("content-type", "text/plain")
            .body("hello unstructured"),
    )
    .await;
    assert_eq!(raw.status, 202, "{}", raw.body);
    let fields = delivered_fields(&server, raw.body["event_id"].as_i64().unwrap()).await;
    assert_eq!(fields["body"], json!("hello unstructured"));

    let json_reply = server
        .as_user("erp", Method::POST, "/udb/j/kena/")
        .body("ping")
        .send()
        .await
        .unwrap();
    assert_eq!(json_reply.status(), 200);
    assert!(
        json_reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(
        json_reply.json::<Value>().await.unwrap(),
        json!({"echo": "ping", "user": "erp"})
    );

    let xml_reply = server
        .request(Method::POST, "/uda/x/kena/")
        .body("ping")
        .send()
        .await
        .unwrap();
    assert!(
        xml_reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("xml")
    );

    let bytes = server
        .as_user(
            "erp",
            Method::POST,
            "/udb/b/kena-bin/?__as=application/x-demo",
        )
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(bytes.headers()["content-type"], "application/x-demo");
    assert_eq!(bytes.bytes().await.unwrap().as_ref(), b"hello bytes");
    let by_accept = server
        .as_user("erp", Method::POST, "/udb/b/kena-bin/")
        .header("accept", "image/png, */*")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(by_accept.headers()["content-type"], "image/png");
}

/// `[remote_events] instance_guid`: the endpoints move under `/{instance_guid}`.
#[actix_web::test]
async fn endpoints_move_under_the_instance_guid() {
    use actix_web::{test, web};
    use holdpoint::app::{AppState, create_app};
    let store = support::sqlite_store().await;
    let te = support::engine_with(store.store.clone(), &[KENA], support::test_config()).await;
    let accounts = std::sync::Arc::new(holdpoint::auth::Accounts::new(
        store.store.clone(),
        std::time::Duration::from_secs(60),
    ));
    let mut state = AppState::new(te.engine.clone(), accounts);
    state.remote_events.prefix = Some("5f0c0a9e-1b1e-4b61-9d7e-3a1f0c2b4d5e".into());
    let app = test::init_service(create_app(web::Data::new(state))).await;
    let prefixed = test::TestRequest::get()
        .uri("/5f0c0a9e-1b1e-4b61-9d7e-3a1f0c2b4d5e/cda/kena/?__wfid=1&__itemid=3")
        .to_request();
    assert_eq!(test::call_service(&app, prefixed).await.status(), 202);
    let bare = test::TestRequest::get()
        .uri("/cda/kena/?__wfid=1&__itemid=3")
        .to_request();
    assert_eq!(
        test::call_service(&app, bare).await.status(),
        400,
        "no route without the prefix"
    );
}

/// A queued event resent with the same `Idempotency-Key` (a client that saw no answer)
/// is stored once: the resend answers the first event's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_queued_event_with_an_idempotency_key_is_stored_once() {
    let server =
        api_server_with(support::sqlite_store().await, &[KENA, BIN, CLOSED], 1 << 20).await;
    let send = |key: &'static str, color: &'static str| {
        support::api::send(
            server
                .request(
                    Method::GET,
                    &format!("/cda/kena/?__wfid=1&__itemid=1&color={color}"),
                )
                .header("idempotency-key", key),
        )
    };
    let first = send("order-1", "red").await;
    let again = send("order-1", "red").await;
    let other = send("order-2", "blue").await;
    assert_eq!(
        (
            first.status.as_u16(),
            again.status.as_u16(),
            other.status.as_u16()
        ),
        (202, 202, 202)
    );
    assert_eq!(first.body["event_id"], again.body["event_id"]);
    assert_ne!(first.body["event_id"], other.body["event_id"]);
    let rows = server.get("root", "/api/v1/inbound-events").await;
    assert_eq!(rows.body.as_array().map(Vec::len), Some(2), "{}", rows.body);
    let too_long = support::api::send(
        server
            .request(Method::GET, "/cda/kena/?__wfid=1&__itemid=1")
            .header("idempotency-key", "k".repeat(256)),
    )
    .await;
    assert_eq!(
        (too_long.status.as_u16(), too_long.code()),
        (400, "malformed_request")
    );
}
