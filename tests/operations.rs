//! What operators rely on, over real HTTP: `/metrics` in the Prometheus text format with
//! counters that move, bounded labels and store gauges; request ids echoed in
//! `X-Request-Id`.

mod support;

use reqwest::Method;
use support::api::{api_server, start_permitted};

/// The value of the first sample line that starts with `name{` and holds every label.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

async fn scrape(server: &support::api::ApiServer) -> String {
    let response = server
        .request(Method::GET, "/metrics")
        .send()
        .await
        .expect("metrics answer");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

const ECHO: &str = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><echo xmlns="http://webservice.vso.dunes.ch"><message>m</message></echo></s:Body></s:Envelope>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_commands_and_what_waits() {
    let server = api_server(support::sqlite_store().await).await;
    start_permitted(&server, "M-1").await;
    let before = scrape(&server).await;
    let echo_labels = [
        "route=\"/vco/vmware-vmo-webcontrol/webservice\"",
        "dialect=\"orchestrator\"",
        "operation=\"echo\"",
        "status=\"200\"",
    ];
    let echoes_before =
        sample(&before, "holdpoint_http_requests_total", &echo_labels).unwrap_or(0.0);
    for _ in 0..3 {
        let response = server
            .request(Method::POST, "/vco/vmware-vmo-webcontrol/webservice")
            .header("content-type", "text/xml; charset=utf-8")
            .body(ECHO)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let missing = server
        .request(Method::GET, "/no/such/thing/42")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let answer = server
        .post(
            "erp",
            "/api/v1/workflows/permitted/instances",
            serde_json::json!({"fields": {"order_id": "M-2"}}),
        )
        .await;
    assert_eq!(answer.status, 201);

    let after = scrape(&server).await;
    let echoes =
        sample(&after, "holdpoint_http_requests_total", &echo_labels).expect("echo counted");
    assert!(echoes >= echoes_before + 3.0, "{echoes_before} -> {echoes}");
    // Unknown paths share one label value, whatever the path.
    assert!(after.contains("route=\"unmatched\""), "{after}");
    assert!(
        !after.contains("/no/such/thing"),
        "paths never become labels"
    );
    assert!(
        sample(
            &after,
            "holdpoint_http_requests_total",
            &[
                "route=\"/api/v1/workflows/{id}/instances\"",
                "dialect=\"api\"",
                "status=\"201\""
            ]
        )
        .is_some(),
        "routes are templates: {after}"
    );
    assert!(
        sample(
            &after,
            "holdpoint_command_duration_seconds_count",
            &["command=\"start\"", "outcome=\"ok\""]
        )
        .is_some_and(|n| n >= 1.0),
        "{after}"
    );
    assert!(after.contains("holdpoint_http_request_duration_seconds_bucket"));
    // Gauges read from this server's store: two permitted instances wait on items.
    assert_eq!(
        sample(&after, "holdpoint_open_waits", &["kind=\"server_item\""]),
        Some(2.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "holdpoint_open_waits", &["kind=\"input\""]),
        Some(0.0)
    );
    assert_eq!(sample(&after, "holdpoint_outbox_backlog", &[]), Some(0.0));
    assert_eq!(
        sample(&after, "holdpoint_inbound_events", &["state=\"dead\""]),
        Some(0.0)
    );
    assert!(after.contains("# HELP holdpoint_timer_lag_seconds"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed_or_made() {
    let server = api_server(support::sqlite_store().await).await;
    let given = server
        .request(Method::GET, "/healthz")
        .header("x-request-id", "trace-42.a:b_c")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-42.a:b_c");
    let made = server
        .request(Method::GET, "/healthz")
        .send()
        .await
        .unwrap();
    let id = made.headers()["x-request-id"].to_str().unwrap().to_string();
    let (prefix, counter) = id.split_once('-').expect("prefix-counter");
    assert_eq!(prefix.len(), 12, "{id}");
    assert!(counter.parse::<u64>().is_ok(), "{id}");
    let hostile = server
        .request(Method::GET, "/healthz")
        .header("x-request-id", "a b<script>")
        .send()
        .await
        .unwrap();
    let replaced = hostile.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(replaced, "a b<script>");
    assert!(replaced.starts_with(prefix), "a made id: {replaced}");
    // Errors carry it too.
    let error = server
        .request(Method::GET, "/api/v1/waits")
        .send()
        .await
        .unwrap();
    assert_eq!(error.status(), 401);
    assert!(error.headers().contains_key("x-request-id"));
}
