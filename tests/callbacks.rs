//! Capability callback URLs for server items (`callback_url = true`), end to end over real
//! HTTP on both stores: the URL in the API's views and in the notify body, finishing and
//! failing without an account, `Idempotency-Key`, and one `404 unknown_serial` for a
//! tampered, closed, expired or unknown URL.

mod support;

use holdpoint::engine::{Engine, EngineConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::api::{Answer, ApiServer, TEST_MAX_BODY, api_server_tuned, send};

const PUBLIC_URL: &str = "https://holdpoint.example.com";

/// Hands out a callback URL and tells the partner about it in the notify body.
const CALLBACK: &str = r#"
id = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
name = "partner-approval"
[fields]
order_id = { type = "string" }
approved = { type = "boolean" }
note = { type = "string" }
url = { type = "string" }
[permissions]
start = ["erp"]
view = ["ops", "erp"]
[[steps]]
id = "partner"
kind = "server_event"
callback_url = true
deadline = "1h"
on_error = "rejected"
[[steps]]
id = "done"
kind = "end"
[[steps]]
id = "rejected"
kind = "fail"
message = "rejected: {{ fields.order_id }}"
"#;

/// The same, with a notify step that carries the URL.
const NOTIFYING: &str = r#"
id = "cccccccc-cccc-4ccc-8ccc-cccccccccccd"
name = "partner-notified"
[fields]
url = { type = "string" }
[permissions]
start = ["erp"]
view = ["erp"]
[[steps]]
id = "partner"
kind = "server_event"
callback_url = true
notify = { url = "{{ fields.url }}/notify", body = '{"finish_at": "{{ item.callback_url }}"}' }
deadline = "1h"
[[steps]]
id = "done"
kind = "end"
"#;

async fn server(store: support::TestStore) -> ApiServer {
    let mut config = support::test_config();
    config.public_url = Some(PUBLIC_URL.to_string());
    api_server_tuned(
        store,
        &[CALLBACK, NOTIFYING],
        TEST_MAX_BODY,
        None,
        config,
        |_| {},
    )
    .await
}

macro_rules! callback_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let server = super::server(super::support::sqlite_store().await).await;
                    super::$case(&server).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(store) = super::support::postgres_store().await else { return };
                    let server = super::server(store).await;
                    super::$case(&server).await;
                }
            )*
        }
    };
}

callback_suite!(
    a_callback_url_finishes_its_item_once_with_its_fields,
    a_callback_url_fails_its_item,
    forms_empty_bodies_and_idempotency_keys,
    tampered_closed_and_expired_urls_are_one_404,
    the_notify_body_carries_the_url,
);

/// Starts the callback workflow; its instance as the API shows it.
async fn start(server: &ApiServer, workflow: &str, fields: Value) -> Value {
    let answer = server
        .post(
            "erp",
            &format!("/api/v1/workflows/{workflow}/instances"),
            json!({ "fields": fields }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.body["instance"].clone()
}

/// The callback URL of the instance's open item, and the path to post to on the test
/// server (the public URL is where a proxy would forward from).
fn callback_of(instance: &Value) -> (String, String) {
    let url = instance["waits"][0]["callback_url"]
        .as_str()
        .unwrap_or_else(|| panic!("a callback url in {instance}"))
        .to_string();
    let path = url
        .strip_prefix(PUBLIC_URL)
        .expect("built on [http] public_url")
        .to_string();
    (url, path)
}

/// A POST without credentials.
async fn post(server: &ApiServer, path: &str, body: Option<Value>) -> Answer {
    let request = server.request(Method::POST, path);
    send(match body {
        Some(body) => request.json(&body),
        None => request,
    })
    .await
}

fn assert_unknown(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
    assert_eq!(answer.code(), "unknown_serial");
    assert_eq!(answer.message(), "unknown, closed or expired callback url");
}

async fn a_callback_url_finishes_its_item_once_with_its_fields(server: &ApiServer) {
    let instance = start(server, "partner-approval", json!({"order_id": "C-1"})).await;
    let (url, path) = callback_of(&instance);
    let serial = instance["waits"][0]["serial"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{PUBLIC_URL}/callbacks/")),
        "{url}"
    );
    assert!(!url.contains(serial), "the token is not the serial");
    let listed = server.get("ops", "/api/v1/waits").await;
    let listed_url = listed.body.as_array().unwrap().iter().find_map(|wait| {
        (wait["instance_id"] == instance["id"]).then(|| wait["callback_url"].clone())
    });
    assert_eq!(
        listed_url,
        Some(json!(url)),
        "the wait listing shows it too"
    );

    let finished = post(
        server,
        &path,
        Some(json!({"fields": {"approved": true, "note": "ok by partner"}})),
    )
    .await;
    assert_eq!(finished.status, StatusCode::NO_CONTENT, "{}", finished.body);
    let id = &instance["id"];
    let done = server.get("erp", &format!("/api/v1/instances/{id}")).await;
    assert_eq!(done.body["status"], json!("completed"), "{}", done.body);
    assert_eq!(done.body["fields"]["approved"], json!(true));
    assert_eq!(done.body["fields"]["note"], json!("ok by partner"));
    let history = server
        .get("erp", &format!("/api/v1/instances/{id}/history"))
        .await;
    let finish = history
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["kind"] == json!("server_item_finished"))
        .expect("the finish is recorded");
    assert_eq!(finish["dialect"], json!("callback_url"));
    assert_eq!(finish["source"], json!("127.0.0.1"));
    assert!(!finish.to_string().contains(&url), "history keeps no url");

    assert_unknown(&post(server, &path, Some(json!({"fields": {}}))).await);
}

async fn a_callback_url_fails_its_item(server: &ApiServer) {
    let instance = start(server, "partner-approval", json!({"order_id": "C-2"})).await;
    let (_, path) = callback_of(&instance);
    let failed = post(
        server,
        &format!("{path}/fail"),
        Some(json!({"message": "partner declined"})),
    )
    .await;
    assert_eq!(failed.status, StatusCode::NO_CONTENT, "{}", failed.body);
    let id = &instance["id"];
    let done = server.get("erp", &format!("/api/v1/instances/{id}")).await;
    assert_eq!(done.body["status"], json!("failed"), "{}", done.body);
    assert_eq!(done.body["error"], json!("rejected: C-2"), "on_error ran");
    let history = server
        .get("erp", &format!("/api/v1/instances/{id}/history"))
        .await;
    assert!(
        history
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row["kind"] == json!("server_item_failed")
                && row["detail"]["error"] == json!("partner declined")),
        "{}",
        history.body
    );
    assert_unknown(&post(server, &format!("{path}/fail"), None).await);
}

async fn forms_empty_bodies_and_idempotency_keys(server: &ApiServer) {
    let form = start(server, "partner-approval", json!({"order_id": "C-3"})).await;
    let (_, path) = callback_of(&form);
    let answer = send(
        server
            .request(Method::POST, &path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("approved=true&note=by+form"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
    let done = server
        .get("erp", &format!("/api/v1/instances/{}", form["id"]))
        .await;
    assert_eq!(
        done.body["fields"]["approved"],
        json!(true),
        "typed from the form"
    );
    assert_eq!(done.body["fields"]["note"], json!("by form"));

    let keyed = start(server, "partner-approval", json!({"order_id": "C-4"})).await;
    let (_, path) = callback_of(&keyed);
    let with_key = || {
        send(
            server
                .request(Method::POST, &path)
                .header("Idempotency-Key", "partner-msg-1"),
        )
    };
    assert_eq!(
        with_key().await.status,
        StatusCode::NO_CONTENT,
        "no body at all"
    );
    let replay = with_key().await;
    assert_eq!(replay.status, StatusCode::NO_CONTENT, "{}", replay.body);
    assert_unknown(&post(server, &path, None).await);

    let malformed = start(server, "partner-approval", json!({"order_id": "C-5"})).await;
    let (_, path) = callback_of(&malformed);
    let both = post(server, &path, Some(json!({"fields": {}, "dataFields": {}}))).await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST, "{}", both.body);
    let typed = post(
        server,
        &path,
        Some(json!({"dataFields": {"approved": "maybe"}})),
    )
    .await;
    assert_eq!(typed.code(), "invalid_field", "{}", typed.body);
}

async fn tampered_closed_and_expired_urls_are_one_404(server: &ApiServer) {
    let instance = start(server, "partner-approval", json!({"order_id": "C-6"})).await;
    let (_, path) = callback_of(&instance);
    let serial = instance["waits"][0]["serial"].as_str().unwrap();
    let mut tampered = path.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let unknown_wait = path.replacen('_', "_9", 1);
    for path in [
        tampered,
        unknown_wait,
        format!("/callbacks/{serial}"),
        "/callbacks/1_1.AAAAAAAAAAAAAAAAAAAAAA".to_string(),
    ] {
        assert_unknown(&post(server, &path, Some(json!({"fields": {}}))).await);
    }
    // Past its deadline the URL is dead at once, before the timer has expired the wait.
    server
        .te
        .clock
        .advance(std::time::Duration::from_secs(3601));
    assert_unknown(&post(server, &path, Some(json!({"fields": {}}))).await);
    let still = server
        .get("erp", &format!("/api/v1/instances/{}", instance["id"]))
        .await;
    assert_eq!(
        still.body["status"],
        json!("waiting"),
        "nothing was applied"
    );
}

async fn the_notify_body_carries_the_url(server: &ApiServer) {
    let partner = support::scripted_server(|_| (200, "{}")).await;
    let instance = start(server, "partner-notified", json!({"url": partner.url})).await;
    let (url, _) = callback_of(&instance);
    assert_eq!(server.te.engine.run_outbox_once().await.expect("notify"), 1);
    let body = partner.bodies.lock().unwrap()[0].clone();
    assert_eq!(body, format!("{{\"finish_at\": \"{url}\"}}"));
}

/// A workflow that gives callback URLs needs `[http] public_url`: without it the engine
/// (and so `serve`, `check` and a deploy) refuses the set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_urls_need_a_public_url() {
    let store = support::sqlite_store().await;
    let refused = Engine::new(
        store.store.clone(),
        support::workflows(&[CALLBACK]),
        EngineConfig::default(),
        std::sync::Arc::new(holdpoint::engine::clock::SystemClock),
    )
    .await
    .err()
    .expect("refused");
    assert!(
        refused
            .to_string()
            .contains("step `partner` sets callback_url, which needs [http] public_url"),
        "{refused}"
    );
}
