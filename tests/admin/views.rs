//! The pages that draw, in Chromium: a workflow's map whose counts match what the API
//! lists, an instance's path and timeline, and the deadline outlook; screenshots of each
//! under `target/browser-artifacts/`. Over plain HTTP: names from a definition are
//! escaped in the SVG and the security headers stay as they were.

use reqwest::Method;
use serde_json::json;

use holdpoint::engine::InstanceView;

use crate::support;
use support::api::{ApiServer, api_server_with};
use support::browser::{Browser, chromium};

/// The example from `workflows/`: server event, decision, custom event, set, end, two
/// fails and an emit, with `next`, branches, `on_timeout` and `on_error` edges.
const ORDER: &str = include_str!("../../workflows/order-fulfilment.toml");

/// Names that would run as script if they were not escaped.
const HOSTILE: &str = include_str!("../../fixtures/workflows/hostile-names.toml");

fn tester() -> holdpoint::engine::Caller {
    holdpoint::engine::Caller::new("tester", "test")
}

/// Starts an instance of `workflow` as a trusted caller.
async fn start(server: &ApiServer, workflow: &str, fields: serde_json::Value) -> InstanceView {
    let request = holdpoint::engine::StartRequest {
        workflow: workflow.into(),
        fields: serde_json::from_value(fields).unwrap(),
        folio: None,
        event: json!({}),
        caller: tester(),
        idempotency_key: None,
    };
    server.te.engine.start(request).await.unwrap().instance
}

/// Starts an order; returns its id and the serial of its server item.
async fn order(server: &ApiServer, id: &str) -> (i64, String) {
    let instance = start(server, "order-fulfilment", json!({"order_id": id})).await;
    let serial = instance.waits[0].serial.clone().unwrap();
    (instance.id, serial)
}

/// Five orders: two wait at `place-order`, two (approved) at `wait-shipment`, one
/// failed at `rejected`. Returns an id of one at `wait-shipment`.
async fn orders(server: &ApiServer) -> i64 {
    let engine = &server.te.engine;
    let mut shipping = 0;
    for (n, fate) in ["wait", "wait", "approve", "approve", "fail"]
        .iter()
        .enumerate()
    {
        let (id, serial) = order(server, &format!("O-{n}")).await;
        let approved = serde_json::from_value(json!({"approved": true})).unwrap();
        match *fate {
            "approve" => {
                engine
                    .finish_server_item(&serial, &approved, &tester(), None)
                    .await
                    .unwrap();
                shipping = id;
            }
            "fail" => {
                engine
                    .fail_server_item(&serial, "erp said no", &tester())
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }
    shipping
}

/// Open waits the API lists for a workflow and step.
async fn api_waits(server: &ApiServer, step: &str) -> usize {
    let path = format!("/api/v1/waits?workflow=order-fulfilment&step={step}&limit=1000");
    let answer = server.get("root", &path).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body.as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_sees_the_map_an_instance_path_and_the_outlook() {
    let Some(binary) = chromium() else { return };
    let server = api_server_with(support::sqlite_store().await, &[ORDER], 4 << 20).await;
    let shipping = orders(&server).await;
    let workflow_id = "e7a0a1ba-5293-4b2f-9f8a-37b052733935";
    let mut browser = Browser::launch(binary).await;
    let path = format!("/admin/workflows/{workflow_id}");
    browser
        .sign_in_at(&server.base, &path, "root", "root-pw")
        .await;
    browser.wait_for("document.querySelector('svg.map')").await;

    // The counts drawn on each node, against the API's listing of the same waits.
    let drawn = browser
        .eval(
            "[...document.querySelectorAll('svg.map g.node')].map(g => [g.dataset.step, \
             ...['waiting', 'overdue', 'failed'].map(k => \
             Number(g.querySelector(`[data-count=${k}]`).dataset.n))])",
        )
        .await;
    let drawn = drawn.as_array().expect("nodes drawn");
    assert_eq!(drawn.len(), 8, "one node per step: {drawn:?}");
    for node in drawn {
        let step = node[0].as_str().unwrap();
        let waiting = node[1].as_u64().unwrap() as usize;
        assert_eq!(waiting, api_waits(&server, step).await, "waiting at {step}");
        let failed = if step == "rejected" { 1 } else { 0 };
        assert_eq!(node[3], json!(failed), "failed at {step}");
    }
    let at = |step: &str| drawn.iter().find(|n| n[0] == step).cloned();
    assert_eq!(at("place-order"), Some(json!(["place-order", 2, 0, 0])));
    assert_eq!(at("wait-shipment"), Some(json!(["wait-shipment", 2, 0, 0])));
    let edges = browser
        .eval("document.querySelectorAll('svg.map path.edge').length")
        .await;
    assert_eq!(
        edges,
        json!(9),
        "next ×4, branch, else, on_timeout ×2, on_error"
    );
    let link = browser
        .eval("document.querySelector('g.node[data-step=\"rejected\"] a').getAttribute('href')")
        .await;
    assert_eq!(
        link,
        json!(format!(
            "/admin/instances?workflow={workflow_id}&step=rejected&status=failed"
        ))
    );
    let map_png = browser.screenshot("admin-workflow-map.png").await;

    // The link leads to the failed instance.
    browser
        .open(
            &format!("{}{}", server.base, link.as_str().unwrap()),
            "/admin/instances",
        )
        .await;
    let rows = browser
        .eval("document.querySelectorAll('#instances tbody tr').length")
        .await;
    assert_eq!(rows, json!(1), "the instance failed at `rejected`");

    // An instance: its path through the decision, where it is, its timeline.
    let instance_path = format!("/admin/instances/{shipping}");
    browser
        .open(&format!("{}{instance_path}", server.base), &instance_path)
        .await;
    let current = browser
        .eval("document.querySelector('svg.map g.node.current').dataset.step")
        .await;
    assert_eq!(current, json!("wait-shipment"));
    let taken = browser
        .eval("document.querySelectorAll('svg.map path.edge.taken').length")
        .await;
    assert_eq!(
        taken,
        json!(2),
        "place-order → check-approval → wait-shipment"
    );
    let history = server
        .get("root", &format!("/api/v1/instances/{shipping}/history"))
        .await;
    let history = history.body.as_array().cloned().unwrap_or_default();
    let entries = browser
        .eval("document.querySelectorAll('#history li').length")
        .await;
    assert_eq!(
        entries,
        json!(history.len()),
        "one timeline entry per history row"
    );
    let timeline = browser
        .eval("document.querySelector('#history').innerText")
        .await;
    let timeline = timeline.as_str().unwrap_or("");
    assert!(timeline.contains("via test"), "{timeline}");
    assert!(
        timeline.contains("shipped-O-"),
        "the event name: {timeline}"
    );
    assert!(
        timeline.contains(&format!("{shipping}_")),
        "the serial: {timeline}"
    );
    let instance_png = browser.screenshot("admin-instance.png").await;

    // The outlook: every open wait of the workflow in a bar, its number in the table.
    let waits_path = "/admin/waits";
    let url = format!("{}{waits_path}?workflow=order-fulfilment", server.base);
    browser.open(&url, waits_path).await;
    let bars = browser
        .eval("[...document.querySelectorAll('#outlook g.bucket')].map(g => Number(g.dataset.n))")
        .await;
    let bars: Vec<u64> = serde_json::from_value(bars).unwrap();
    assert_eq!(bars.len(), 49, "overdue + 48 hours");
    // wait-shipment's two waits fall due in 48 h, the last hour shown; place-order's
    // 72 h deadlines lie beyond the horizon.
    assert_eq!(bars.iter().sum::<u64>(), 2, "{bars:?}");
    assert_eq!(bars[48], 2, "{bars:?}");
    assert_eq!(bars[48] as usize, api_waits(&server, "wait-shipment").await);
    let table = browser
        .eval("document.querySelector('#outlook-table').innerText")
        .await;
    assert!(table.as_str().unwrap_or("").contains("in all"), "{table}");
    let outlook_png = browser.screenshot("admin-outlook.png").await;
    eprintln!(
        "screenshots: {} {} {}",
        map_png.display(),
        instance_png.display(),
        outlook_png.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_escapes_names_and_keeps_the_security_headers() {
    let server = api_server_with(support::sqlite_store().await, &[HOSTILE], 4 << 20).await;
    start(&server, "abababab-abab-4bab-8bab-abababababab", json!({})).await;
    for path in [
        "/admin/workflows/abababab-abab-4bab-8bab-abababababab",
        "/admin/waits",
        "/admin/instances/1",
    ] {
        let response = server
            .as_user("root", Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let csp = response.headers()["content-security-policy"].clone();
        assert_eq!(
            csp,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
        );
        let body = response.text().await.unwrap();
        assert!(!body.contains("<script"), "{path}: {body}");
        if path != "/admin/waits" {
            assert!(
                body.contains("&lt;script&gt;alert(&quot;x&quot;)"),
                "{path}"
            );
        }
    }
}
