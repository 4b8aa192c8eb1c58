//! The log of `holdpoint serve` as a process: its lines reach stderr in either format, up
//! to the last one written while it stops after SIGTERM; a stderr nobody reads costs log
//! lines, counted on `/metrics`, never an answer.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::process::Server;

/// The value of the unlabelled sample `name` in a Prometheus text exposition.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

async fn scrape(base: &str) -> String {
    let response = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics answer");
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

const DROPPED: &str = "holdpoint_log_lines_dropped_total";

/// Starts a server logging in `format` to a file, scrapes it, stops it with SIGTERM and
/// returns its log.
async fn log_of_a_stopped_server(format: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let server = Server::start_logged(
        &[],
        &dir.path().join("data"),
        &[("HOLDPOINT_LOG__FORMAT", format)],
        Some(&log),
    );
    let metrics = scrape(&server.base).await;
    assert!(
        metrics.contains(&format!("# TYPE {DROPPED} counter")),
        "{metrics}"
    );
    assert_eq!(sample(&metrics, DROPPED), Some(0.0), "{metrics}");
    assert!(server.terminate(), "clean exit after SIGTERM");
    std::fs::read_to_string(&log).unwrap()
}

#[tokio::test]
async fn text_lines_reach_stderr_up_to_the_last_one_at_sigterm() {
    let log = log_of_a_stopped_server("text").await;
    assert!(
        log.lines().any(
            |line| line.contains("INFO request{method=GET path=/metrics")
                && line.contains("status=200")
        ),
        "the scrape's request line: {log}"
    );
    // Logged after the HTTP server stopped; the runners' lines are the last of the process.
    assert!(
        log.contains("http stopped; stopping runners"),
        "the lines of the shutdown: {log}"
    );
    assert!(
        log.lines()
            .last()
            .is_some_and(|line| line.contains("runner stopped")),
        "the last line: {log}"
    );
}

#[tokio::test]
async fn json_lines_reach_stderr_up_to_the_last_one_at_sigterm() {
    let log = log_of_a_stopped_server("json").await;
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is one JSON object"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|line| line["fields"]["message"] == "request"
                && line["span"]["path"] == "/metrics"
                && line["fields"]["status"] == 200
                && line["fields"]["dialect"] == "ops"),
        "the scrape's request line: {log}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line["fields"]["message"] == "http stopped; stopping runners"),
        "the lines of the shutdown: {log}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|line| line["fields"]["message"] == "runner stopped"),
        "the last line: {log}"
    );
}

/// stderr is a pipe that nobody reads: once the pipe and the log queue are full, each
/// request's line is dropped, yet every request is answered without waiting for stderr,
/// and the drops are counted. (A writer on the request's thread would hang every worker
/// on the full pipe.) Lines still queued at the exit are the only ones an orderly exit
/// gives up, and only when stderr stays stuck past the writer's grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stuck_stderr_costs_log_lines_never_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (_unread, stderr) = std::io::pipe().unwrap();
    let server = Server::start_with_stderr(&[], &dir.path().join("data"), &[], Stdio::from(stderr));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut answered = 0;
    let dropped = loop {
        // One request line each: beyond the pipe's and the queue's 16,384 lines, they drop.
        let batch: Vec<_> = (0..16)
            .map(|_| {
                let client = client.clone();
                let url = format!("{}/healthz", server.base);
                tokio::spawn(async move {
                    for _ in 0..64 {
                        let response = client.get(&url).send().await.expect("an answer");
                        assert_eq!(response.status(), 200);
                    }
                })
            })
            .collect();
        for task in batch {
            task.await.unwrap();
        }
        answered += 16 * 64;
        let dropped = sample(&scrape(&server.base).await, DROPPED).expect("the counter");
        if dropped > 0.0 {
            break dropped;
        }
        assert!(
            Instant::now() < deadline,
            "{answered} requests answered and no line dropped"
        );
    };
    assert!(answered > 16_384, "the queue held {answered} lines first");
    eprintln!("{answered} requests answered, {dropped} log lines dropped");
    // Still answering while the pipe stays full; drops keep being counted.
    let more = sample(&scrape(&server.base).await, DROPPED).expect("the counter");
    assert!(more > dropped, "the last scrape's line was dropped too");
    // The exit does not wait on the stuck pipe either (the writer's grace is bounded).
    assert!(server.terminate(), "clean exit after SIGTERM");
}
