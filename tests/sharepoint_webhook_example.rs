//! The shipped `workflows/sharepoint-list-changes.toml`, end to end with `holdpoint serve`
//! as an operator runs it, on the embedded store and on PostgreSQL: a list webhook
//! notification starts it, its `call` step asks a local server playing SharePoint for the
//! list's changes (`POST {site}/_api/web/lists('{id}')/GetChanges`, the bearer token from
//! the node's environment), and the changes land in its fields.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use support::process::Server;

const LIST: &str = "b9f6f714-9df8-470b-b22e-653855e1c181";
const TOKEN: &str = "eyJ0eXAiOiJKV1Qi.test-app-only-token";

/// What SharePoint Online answers `GetChanges` with `odata=nometadata`: an item added
/// and an item updated.
const CHANGES: &str = r#"{"value":[
{"ChangeToken":{"StringValue":"1;3;b9f6f714-9df8-470b-b22e-653855e1c181;638690112000000000;471123"},"ChangeType":1,"SiteId":"4d3c8f0e-5b7a-4c1e-9f2d-0a1b2c3d4e5f","Time":"2026-12-05T06:00:00Z","Editor":"","EditorEmailHint":null,"ItemId":7,"ListId":"b9f6f714-9df8-470b-b22e-653855e1c181","ServerRelativeUrl":"","SharedByUser":null,"SharedWithUsers":null,"UniqueId":"0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f","WebId":"dbc5a806-e4d4-46e5-951c-6344d70b62fa"},
{"ChangeToken":{"StringValue":"1;3;b9f6f714-9df8-470b-b22e-653855e1c181;638690112010000000;471124"},"ChangeType":2,"SiteId":"4d3c8f0e-5b7a-4c1e-9f2d-0a1b2c3d4e5f","Time":"2026-12-05T06:00:01Z","Editor":"","EditorEmailHint":null,"ItemId":5,"ListId":"b9f6f714-9df8-470b-b22e-653855e1c181","ServerRelativeUrl":"","SharedByUser":null,"SharedWithUsers":null,"UniqueId":"1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a","WebId":"dbc5a806-e4d4-46e5-951c-6344d70b62fa"}
]}"#;

/// A request the fake SharePoint saw: path, Authorization header, body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// Plays SharePoint on a loopback port; returns its URL.
async fn fake_sharepoint(seen: Seen) -> (String, actix_web::dev::ServerHandle) {
    let server = HttpServer::new(move || {
        let seen = seen.clone();
        App::new().default_service(web::to(move |request: HttpRequest, body: String| {
            let seen = seen.clone();
            async move {
                let authorization = request
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                if let Ok(mut seen) = seen.lock() {
                    seen.push((request.path().to_string(), authorization, body));
                }
                HttpResponse::Ok()
                    .content_type("application/json;odata=nometadata;streaming=true;charset=utf-8")
                    .body(CHANGES)
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .expect("bind fake SharePoint");
    let url = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (url, handle)
}

async fn walkthrough(database_url: Option<String>) {
    let seen: Seen = Arc::default();
    let (sharepoint, handle) = fake_sharepoint(seen.clone()).await;
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/sharepoint-list-changes.toml"),
    )
    .expect("the shipped example");
    let secret = "replace-with-the-clientState-of-your-subscription";
    assert!(shipped.contains(secret) && shipped.contains("https://tenant.sharepoint.invalid"));
    let dir = tempfile::tempdir().expect("temp dir");
    let workflows = dir.path().join("workflows");
    std::fs::create_dir(&workflows).expect("workflows dir");
    std::fs::write(
        workflows.join("sharepoint-list-changes.toml"),
        shipped.replace("https://tenant.sharepoint.invalid", &sharepoint),
    )
    .expect("write the workflow");
    let mut args = vec!["--workflows", workflows.to_str().expect("utf-8 path")];
    if let Some(url) = &database_url {
        args.extend(["--database-url", url.as_str()]);
    }
    let env = [
        ("SHAREPOINT_LIST_CHANGES_TOKEN", TOKEN),
        (
            "HOLDPOINT_OUTBOX__BEARER_ENV",
            "[\"SHAREPOINT_LIST_CHANGES_TOKEN\"]",
        ),
    ];
    let server = Server::start_with(&args, &dir.path().join("data"), &env);
    let password = server
        .banner
        .iter()
        .find_map(|line| line.split("with password ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the admin password in the banner")
        .to_string();

    let client = reqwest::Client::new();
    let notification = json!({"value": [{
        "subscriptionId": "91779246-afe9-4525-b122-6c199ae89211",
        "clientState": secret,
        "expirationDateTime": "2027-04-30T17:27:00.0000000Z",
        "resource": LIST,
        "tenantId": "00000000-0000-0000-0000-000000000000",
        "siteUrl": "/sites/orders",
        "webId": "dbc5a806-e4d4-46e5-951c-6344d70b62fa"
    }]});
    let answer = client
        .post(format!("{}/sharepoint/webhooks", server.base))
        .json(&notification)
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status().as_u16(), 202);

    // The runners deliver the event and send the call; wait for the instance to end.
    let get = |path: String| {
        client
            .get(format!("{}{path}", server.base))
            .basic_auth("admin", Some(&password))
            .send()
    };
    let mut instance = Value::Null;
    for _ in 0..100 {
        let done: Value = get("/api/v1/inbound-events?state=done".into())
            .await
            .expect("events")
            .json()
            .await
            .expect("json");
        if let Some(id) = done[0]["instance_id"].as_i64() {
            instance = get(format!("/api/v1/instances/{id}"))
                .await
                .expect("instance")
                .json()
                .await
                .expect("json");
            if instance["status"] == "completed" || instance["status"] == "failed" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(instance["status"], "completed", "{instance}");
    let fields = &instance["fields"];
    assert_eq!(fields["change_count"], 2, "{fields}");
    assert_eq!(fields["changes"][0]["ItemId"], 7);
    assert_eq!(fields["changes"][1]["ChangeType"], 2);
    assert_eq!(fields["list_id"], LIST);
    assert_eq!(fields["site_url"], "/sites/orders");

    let seen = seen.lock().expect("seen").clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (path, authorization, body) = &seen[0];
    assert_eq!(
        path,
        &format!("/sites/orders/_api/web/lists('{LIST}')/GetChanges")
    );
    assert_eq!(authorization, &format!("Bearer {TOKEN}"));
    let query: Value = serde_json::from_str(body).expect("a JSON ChangeQuery");
    assert_eq!(query["query"]["Item"], true);
    assert!(server.terminate(), "a clean stop");
    handle.stop(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    walkthrough(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(url) = support::pg::fresh_database().await else {
        return;
    };
    walkthrough(Some(url)).await;
}
