//! SharePoint list webhooks over real HTTP, on the embedded store and on PostgreSQL: the
//! subscription handshake echoes its token as plain text and writes nothing (and is
//! answered with the database cut off, when a notification gets 503); a
//! notification whose clientState is the trigger's is queued (one transaction, 202 after
//! the commit) and starts an instance that sees `event.*`; a wrong clientState refuses
//! the whole batch with nothing queued; a redelivered batch is queued once while the first
//! still waits, and anew once it was delivered; a notification for a list nobody watches
//! is acknowledged; malformed and oversized bodies are refused.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::TestStore;
use support::api::{ApiServer, TEST_MAX_BODY, api_server_with};

const ENDPOINT: &str = "/sharepoint/webhooks";
const LIST: &str = "b9f6f714-9df8-470b-b22e-653855e1c181";
const SECRET: &str = "watcher-secret-4f1c7a";

/// Records what a notification told it.
const WATCHER: &str = r#"
id = "3c1d8f5e-0a4b-4c6d-9e7f-1a2b3c4d5e6f"
name = "list-watcher"
[fields]
subscription_id = { type = "string" }
resource = { type = "string" }
site_url = { type = "string" }
web_id = { type = "string" }
tenant_id = { type = "string" }
expiration = { type = "string" }
[[triggers]]
sharepoint_webhook = { resource = "{B9F6F714-9DF8-470B-B22E-653855E1C181}", client_state = "watcher-secret-4f1c7a" }
action = "start"
[[steps]]
id = "record"
kind = "set"
fields = { subscription_id = "{{ event.subscription_id }}", resource = "{{ event.resource }}", site_url = "{{ event.site_url }}", web_id = "{{ event.web_id }}", tenant_id = "{{ event.tenant_id }}", expiration = "{{ event.expiration }}" }
[[steps]]
id = "done"
kind = "end"
"#;

/// One notification as SharePoint sends it (Microsoft's documented shape).
fn notification(list: &str, client_state: &str) -> Value {
    json!({
        "subscriptionId": "91779246-afe9-4525-b122-6c199ae89211",
        "clientState": client_state,
        "expirationDateTime": "2027-04-30T17:27:00.0000000Z",
        "resource": list,
        "tenantId": "00000000-0000-0000-0000-000000000000",
        "siteUrl": "/sites/orders",
        "webId": "dbc5a806-e4d4-46e5-951c-6344d70b62fa"
    })
}

async fn server(store: TestStore) -> ApiServer {
    api_server_with(store, &[WATCHER], TEST_MAX_BODY).await
}

async fn post(server: &ApiServer, query: &str, body: String) -> (u16, String, String) {
    let response = server
        .request(Method::POST, &format!("{ENDPOINT}{query}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("answer");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (
        status,
        content_type,
        response.text().await.unwrap_or_default(),
    )
}

async fn notify(server: &ApiServer, batch: Value) -> (u16, Value) {
    let (status, _, body) = post(server, "", batch.to_string()).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

async fn queue(server: &ApiServer) -> Vec<Value> {
    let listed = server.get("root", "/api/v1/inbound-events").await;
    listed.body.as_array().cloned().unwrap_or_default()
}

mod cases {
    use super::*;

    pub async fn handshake_echoes_the_token_and_writes_nothing(store: TestStore) {
        let server = server(store).await;
        let token = "fd3a9a1e-6f30-4b6e-9a2d-77e0c1b2a3f4%2Bx%3D%3D";
        let (status, content_type, body) =
            post(&server, &format!("?validationtoken={token}"), String::new()).await;
        assert_eq!(status, 200);
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        assert_eq!(
            body, "fd3a9a1e-6f30-4b6e-9a2d-77e0c1b2a3f4+x==",
            "URL-decoded, exactly"
        );
        // SharePoint's own casing of the parameter, too.
        let (status, _, body) = post(&server, "?validationToken=abc", String::new()).await;
        assert_eq!((status, body.as_str()), (200, "abc"));
        assert!(queue(&server).await.is_empty(), "nothing queued");
        let none = server.get("root", "/api/v1/instances/1").await;
        assert_eq!(none.status.as_u16(), 404, "no instance");

        let long = "x".repeat(1025);
        let (status, _, body) =
            post(&server, &format!("?validationtoken={long}"), String::new()).await;
        assert_eq!(status, 400);
        assert!(body.contains("at most 1024"), "{body}");
        let (status, _, body) = post(&server, "?validationtoken=a%0Db", String::new()).await;
        assert_eq!(status, 400);
        assert!(body.contains("control characters"), "{body}");
    }

    pub async fn notification_starts_an_instance_with_the_event(store: TestStore) {
        let server = server(store).await;
        let (status, body) = notify(&server, json!({"value": [notification(LIST, SECRET)]})).await;
        assert_eq!(status, 202, "{body}");
        let ids = body["event_ids"].as_array().cloned().unwrap_or_default();
        assert_eq!(ids.len(), 1, "{body}");
        assert_eq!(
            server.te.engine.run_inbound_once().await.expect("deliver"),
            1
        );
        let row = server
            .get("root", "/api/v1/inbound-events?state=done")
            .await;
        let instance = row.body[0]["instance_id"].as_i64().expect("an instance");
        assert_eq!(row.body[0]["kind"], "sharepoint_webhook");
        let instance = server
            .get("root", &format!("/api/v1/instances/{instance}"))
            .await;
        assert_eq!(instance.body["status"], "completed", "{}", instance.body);
        let fields = &instance.body["fields"];
        assert_eq!(
            fields["subscription_id"],
            "91779246-afe9-4525-b122-6c199ae89211"
        );
        assert_eq!(fields["resource"], LIST);
        assert_eq!(fields["site_url"], "/sites/orders");
        assert_eq!(fields["web_id"], "dbc5a806-e4d4-46e5-951c-6344d70b62fa");
        assert_eq!(fields["tenant_id"], "00000000-0000-0000-0000-000000000000");
        assert_eq!(fields["expiration"], "2027-04-30T17:27:00.0000000Z");
    }

    pub async fn wrong_client_state_refuses_the_batch(store: TestStore) {
        let server = server(store).await;
        let batch = json!({"value": [notification(LIST, SECRET), notification(LIST, "guessed")]});
        let (status, body) = notify(&server, batch).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["code"], "forbidden");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or("")
                .contains("clientState"),
            "{body}"
        );
        let mut missing = notification(LIST, SECRET);
        missing["clientState"] = Value::Null;
        let (status, _) = notify(&server, json!({"value": [missing]})).await;
        assert_eq!(status, 403);
        assert!(
            queue(&server).await.is_empty(),
            "nothing queued, not even the good one"
        );
    }

    pub async fn redelivered_batch_is_queued_once(store: TestStore) {
        let server = server(store).await;
        let batch = json!({"value": [notification(LIST, SECRET), notification(LIST, SECRET)]});
        let (status, first) = notify(&server, batch.clone()).await;
        assert_eq!(status, 202);
        let (status, again) = notify(&server, batch.clone()).await;
        assert_eq!(status, 202);
        assert_eq!(first["event_ids"][0], again["event_ids"][0]);
        assert_eq!(
            first["event_ids"][0], first["event_ids"][1],
            "one per batch, too"
        );
        assert_eq!(queue(&server).await.len(), 1, "queued once");

        // Delivered: the same notification now means a new change, and is queued.
        server.te.engine.run_inbound_once().await.expect("deliver");
        let (status, later) = notify(&server, batch).await;
        assert_eq!(status, 202);
        assert_ne!(later["event_ids"][0], first["event_ids"][0]);
        assert_eq!(queue(&server).await.len(), 2);
    }

    pub async fn unwatched_lists_are_acknowledged_and_bad_bodies_refused(store: TestStore) {
        let server = server(store).await;
        let other = "00000000-1111-2222-3333-444444444444";
        let (status, body) = notify(&server, json!({"value": [notification(other, "x")]})).await;
        assert_eq!((status, body), (202, json!({"event_ids": []})));
        assert!(queue(&server).await.is_empty());

        let (status, _, body) = post(&server, "", "{\"value\": [".into()).await;
        assert_eq!(status, 400);
        assert!(body.contains("invalid webhook notification"), "{body}");
        let mut unnamed = notification(LIST, SECRET);
        unnamed.as_object_mut().map(|o| o.remove("subscriptionId"));
        let (status, body) = notify(&server, json!({"value": [unnamed]})).await;
        assert_eq!(status, 400);
        assert!(
            body["message"]
                .as_str()
                .unwrap_or("")
                .contains("missing field `subscriptionId`"),
            "{body}"
        );
        let padding = "x".repeat(TEST_MAX_BODY);
        let big = json!({"value": [notification(LIST, SECRET)], "padding": padding});
        let (status, _) = notify(&server, big).await;
        assert_eq!(status, 413, "the body limits bound the parse");
        assert!(queue(&server).await.is_empty());
    }
}

/// The handshake never needs the store: with the database cut off it is still answered,
/// while a notification, which must be stored before it is acknowledged, is refused 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_works_without_the_database() {
    use actix_web::{test, web};
    use holdpoint::app::{AppState, create_app};
    use support::proxy::CuttableProxy;

    let Some(url) = support::pg::fresh_database().await else {
        return;
    };
    let config: tokio_postgres::Config = url.parse().expect("url");
    let port = config.get_ports().first().copied().expect("port");
    let proxy = CuttableProxy::start(format!("127.0.0.1:{port}").parse().expect("address")).await;
    let proxied = url.replace(&format!(":{port}/"), &format!(":{}/", proxy.address.port()));
    let target = holdpoint::store::StoreTarget::Postgres {
        url: proxied,
        connections: holdpoint::store::Connections {
            pool_size: 2,
            ..holdpoint::store::Connections::ONE
        },
    };
    let store = holdpoint::store::open(&target)
        .await
        .expect("store through the proxy");
    let te = support::engine_with(store, &[WATCHER], support::test_config()).await;
    let accounts = holdpoint::auth::Accounts::new(
        te.engine.store().clone(),
        std::time::Duration::from_secs(60),
    );
    let state = web::Data::new(AppState::new(
        te.engine.clone(),
        std::sync::Arc::new(accounts),
    ));
    let app = test::init_service(create_app(state)).await;

    proxy.cut();
    let handshake = test::TestRequest::post()
        .uri(&format!("{ENDPOINT}?validationtoken=still-here"))
        .to_request();
    let answer = test::call_service(&app, handshake).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(test::read_body(answer).await, "still-here");
    let notification = test::TestRequest::post()
        .uri(ENDPOINT)
        .insert_header(("Content-Type", "application/json"))
        .set_payload(json!({"value": [notification(LIST, SECRET)]}).to_string())
        .to_request();
    let answer = test::call_service(&app, notification).await;
    assert_eq!(
        answer.status(),
        503,
        "nothing acknowledged without the store"
    );
}

store_suite!(
    handshake_echoes_the_token_and_writes_nothing,
    notification_starts_an_instance_with_the_event,
    wrong_client_state_refuses_the_batch,
    redelivered_batch_is_queued_once,
    unwatched_lists_are_acknowledged_and_bad_bodies_refused,
);
