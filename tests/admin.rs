//! The admin pages over real HTTP: sign-in, admin-only access, CSRF on the retry button,
//! security headers; and a real headless Chromium (driven over the DevTools protocol)
//! that signs in, reads the waits page, retries a dead letter and keeps screenshots under
//! `target/browser-artifacts/`.

mod support;
#[path = "admin/views.rs"]
mod views;

use reqwest::Method;
use reqwest::redirect::Policy;
use serde_json::json;
use support::api::{ApiServer, api_server_with, start_permitted};
use support::browser::{Browser, chromium};

/// Fails every delivery (its signal name does not render) and dead-letters at once.
const DOOMED: &str = r#"
id = "cdcdcdcd-cdcd-4dcd-8dcd-cdcdcdcdcdcd"
name = "doomed-signal"
[remote_events]
custom_data = true
retry_delay = "10s"
max_lifetime = "1s"
[[steps]]
id = "done"
kind = "end"
"#;

/// Started by SharePoint events: its row on the workflows page names the URL to register.
const FROM_SHAREPOINT: &str = r#"
id = "cdcdcdcd-0000-4dcd-8dcd-cdcdcdcdcdcd"
name = "from-sharepoint"
[[triggers]]
sharepoint = { list = "Orders" }
[[steps]]
id = "done"
kind = "end"
"#;

/// Started by list webhooks: its row names the notificationUrl to subscribe.
const FROM_WEBHOOK: &str = r#"
id = "cdcdcdcd-1111-4dcd-8dcd-cdcdcdcdcdcd"
name = "from-webhook"
[[triggers]]
sharepoint_webhook = { client_state = "s" }
[[steps]]
id = "done"
kind = "end"
"#;

/// Queues one event whose delivery fails, runs it, and returns its (dead) id.
async fn dead_letter(server: &ApiServer) -> i64 {
    use holdpoint::engine::inbound::{InboundAction, InboundPayload, InboundRequest};
    let engine = &server.te.engine;
    let workflow = engine.workflows().get("doomed-signal").cloned().unwrap();
    let ids = engine
        .enqueue_remote_events(&[InboundRequest {
            workflow,
            kind: "custom_data".into(),
            payload: InboundPayload {
                action: InboundAction::Signal {
                    name: "{{ nope( }}".into(),
                },
                event: json!({"order": 4711}),
                sender: "tester".into(),
            },
            idempotency_key: None,
            coalesce_key: None,
        }])
        .await
        .unwrap();
    engine.run_inbound_once().await.unwrap();
    let mut tx = server.store.store.begin().await.unwrap();
    let row = tx.get_inbound(ids[0]).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    assert_eq!(row.state, holdpoint::store::InboundState::Dead);
    ids[0]
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Signs in with the form; returns the session cookie (`name=value`).
async fn sign_in(server: &ApiServer, user: &str, password: &str) -> Result<String, u16> {
    let response = no_redirects()
        .post(format!("{}/admin/login", server.base))
        .form(&[("user", user), ("password", password)])
        .send()
        .await
        .unwrap();
    if response.status() != 303 {
        return Err(response.status().as_u16());
    }
    assert_eq!(response.headers()["location"], "/admin/waits");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    Ok(cookie.split(';').next().unwrap().to_string())
}

async fn page(server: &ApiServer, cookie: &str, path: &str) -> (u16, String) {
    let response = no_redirects()
        .get(format!("{}{path}", server.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_sign_in_see_what_waits_and_retry_dead_letters() {
    let server = api_server_with(
        support::sqlite_store().await,
        &[DOOMED, FROM_SHAREPOINT, FROM_WEBHOOK],
        4 << 20,
    )
    .await;
    let serial = start_permitted(&server, "A-100").await;
    let dead = dead_letter(&server).await;

    let anonymous = no_redirects()
        .get(format!("{}/admin/waits", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/admin/login");
    assert_eq!(sign_in(&server, "root", "wrong").await, Err(401));
    assert_eq!(
        sign_in(&server, "erp", "erp-pw").await,
        Err(403),
        "admins only"
    );
    let cookie = sign_in(&server, "root", "root-pw").await.unwrap();

    let (status, waits) = page(&server, &cookie, "/admin/waits").await;
    assert_eq!(status, 200);
    assert!(
        waits.contains(&serial),
        "the serial of the open item is shown"
    );
    assert!(waits.contains("server_item") && waits.contains("signed in as"));
    let (_, filtered) = page(&server, &cookie, "/admin/waits?kind=input").await;
    assert!(filtered.contains("Nothing is waiting"));
    let (status, _) = page(&server, &cookie, "/admin/waits?kind=bogus").await;
    assert_eq!(status, 400);

    let (_, instances) = page(&server, &cookie, "/admin/instances").await;
    assert!(
        instances.contains("permitted") && instances.contains("A-100") || instances.contains("#1")
    );
    let (status, detail) = page(&server, &cookie, "/admin/instances/1").await;
    assert_eq!(status, 200);
    assert!(
        detail.contains("wait_opened") && detail.contains("History"),
        "history shown"
    );

    let (_, queue) = page(&server, &cookie, "/admin/inbound?state=dead").await;
    assert!(queue.contains("doomed-signal") && queue.contains("Retry"));
    let retry = |token: String, cookie: String| {
        let url = format!("{}/admin/inbound/{dead}/retry", server.base);
        async move {
            no_redirects()
                .post(url)
                .header("cookie", cookie)
                .form(&[("csrf", token)])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        retry("forged".into(), cookie.clone()).await.status(),
        403,
        "CSRF"
    );
    let done = retry(csrf_of(&queue), cookie.clone()).await;
    assert_eq!(done.status(), 303);
    let mut tx = server.store.store.begin().await.unwrap();
    let row = tx.get_inbound(dead).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        row.state,
        holdpoint::store::InboundState::Queued,
        "requeued"
    );

    let (_, workflows) = page(&server, &cookie, "/admin/workflows").await;
    assert!(workflows.contains("doomed-signal") && workflows.contains("erp"));
    let receiver = format!(
        "{}/sharepoint/RemoteEventService.svc{}",
        server.base,
        server.sharepoint_query().await
    );
    assert_eq!(
        workflows.matches(&receiver).count(),
        1,
        "only the SharePoint-triggered workflow names its URL: {workflows}"
    );
    let notification_url = format!("{}/sharepoint/webhooks<", server.base);
    assert_eq!(
        workflows.matches(&notification_url).count(),
        1,
        "only the webhook-triggered workflow names the notificationUrl: {workflows}"
    );

    // HTTP Basic works for admins too, and the pages forbid framing.
    let basic = server
        .as_user("root", Method::GET, "/admin/workflows")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    assert_eq!(basic.headers()["x-frame-options"], "DENY");
    assert!(
        basic.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let not_admin = server
        .as_user("ops", Method::GET, "/admin/waits")
        .send()
        .await
        .unwrap();
    assert_eq!(not_admin.status(), 403);
}

// ---- headless Chromium over the DevTools protocol ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signs_in_reads_the_waits_and_retries_a_dead_letter() {
    let Some(binary) = chromium() else { return };
    let server = api_server_with(support::sqlite_store().await, &[DOOMED], 4 << 20).await;
    let serial = start_permitted(&server, "B-7").await;
    let dead = dead_letter(&server).await;
    let mut browser = Browser::launch(binary).await;

    // Signing in: the form, typed into and submitted like a person would.
    browser
        .open(&format!("{}/admin/waits", server.base), "/admin/login")
        .await;
    browser
        .eval("document.querySelector('#user').value = 'root'; document.querySelector('#password').value = 'root-pw'; document.querySelector('#signin').click(); true")
        .await;
    browser
        .wait_for("location.pathname === '/admin/waits'")
        .await;
    let rows = browser
        .eval("document.querySelectorAll('#waits tbody tr').length")
        .await;
    assert_eq!(rows, json!(1), "one open wait");
    let text = browser
        .eval("document.querySelector('#waits').innerText")
        .await;
    assert!(text.as_str().unwrap().contains(&serial), "{text}");
    let waits_png = browser.screenshot("admin-waits.png").await;

    // Retrying the dead letter with its button.
    browser
        .open(
            &format!("{}/admin/inbound?state=dead", server.base),
            "/admin/inbound",
        )
        .await;
    let dead_png = browser.screenshot("admin-inbound-dead.png").await;
    browser
        .eval("document.querySelector('form.retry button').click(); true")
        .await;
    browser
        .wait_for("location.search.includes('retried=')")
        .await;
    let flash = browser
        .eval("document.querySelector('#flash').innerText")
        .await;
    assert!(
        flash
            .as_str()
            .unwrap()
            .contains(&format!("Event {dead} is queued again")),
        "{flash}"
    );
    let queue_png = browser.screenshot("admin-inbound-retried.png").await;
    let mut tx = server.store.store.begin().await.unwrap();
    let row = tx.get_inbound(dead).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    assert_eq!(row.state, holdpoint::store::InboundState::Queued);
    let state = browser
        .eval("document.querySelector('#inbound tbody tr td:nth-child(4)').innerText")
        .await;
    assert_eq!(state, json!("queued"), "the requeued row is shown");
    eprintln!(
        "screenshots: {} {} {}",
        waits_png.display(),
        dead_png.display(),
        queue_png.display()
    );
}
