//! Facing the internet, against the real HTTP app: credentials in headers are checked
//! before a body is read (a stranger's 4 MB upload is answered after its head, and the
//! connection is closed), and one budget bounds the bodies a node holds (`overloaded`
//! past it, nothing applied).

mod support;

use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use holdpoint::http::budget::BodyBudget;
use support::api::{ApiServer, api_server_tuned, api_server_with, send, start_permitted};

/// A workflow that takes kenaflow custom data with credentials (the `b` variant).
const KENAFLOW: &str = r#"
id = "66666666-6666-4666-8666-666666666666"
name = "kenaflow-intake"
[fields]
n = { type = "string" }
[permissions]
start = ["erp"]
[remote_events]
custom_data = true
[[steps]]
id = "done"
kind = "end"
"#;

const ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Authorization: Basic {token}\r\n")
}

/// Sends a request head announcing `length` bytes and the first `first` of them, then
/// reads what the server answers without sending more: (answer, whether the server
/// closed the connection afterwards).
async fn head_then_wait(
    server: &ApiServer,
    path: &str,
    headers: &str,
    length: usize,
    first: usize,
) -> (String, bool) {
    let address = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\n{headers}Content-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream
        .write_all(&vec![b' '; first])
        .await
        .expect("first bytes");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut closed = false;
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
            Err(_) => break,
        }
    }
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

fn status_of(answer: &str) -> &str {
    answer.split(' ').nth(1).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_are_refused_before_their_bodies_are_read() {
    let server = api_server_with(support::sqlite_store().await, &[KENAFLOW], 4 << 20).await;
    let serial = start_permitted(&server, "I1").await;
    let soap = "Content-Type: text/xml; charset=utf-8\r\nSOAPAction: \"\"\r\n";
    let json_type = "Content-Type: application/json\r\n";
    let cases: Vec<(String, String)> = vec![
        ("/soap/server-items".into(), soap.to_string()),
        (
            "/soap/server-items".into(),
            format!("{soap}{}", basic("erp", "wrong")),
        ),
        (
            "/vco/vmware-vmo-webcontrol/webservice".into(),
            format!("{soap}{}", basic("sender", "wrong")),
        ),
        (
            format!("/api/workflow/v1/serverEvents/{serial}/finish"),
            format!("{json_type}{}", basic("erp", "wrong")),
        ),
        (
            format!("/api/v1/server-items/{serial}/finish"),
            json_type.to_string(),
        ),
        (
            "/cdb/kenaflow-intake/".into(),
            format!("{json_type}{}", basic("erp", "wrong")),
        ),
    ];
    for (path, headers) in &cases {
        // 4 MB announced, 1 KiB sent and no more: a server that waited for the body would
        // send nothing before the client stops listening (10 s).
        let (answer, closed) = head_then_wait(&server, path, headers, 4_000_000, 1024).await;
        assert_eq!(status_of(&answer), "401", "{path}: {answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{path}: {answer}"
        );
        assert!(closed, "{path}: the connection is closed after the refusal");
    }
    // The item is untouched and the server serves on.
    let answer = send(
        server
            .as_user(
                "erp",
                Method::POST,
                &format!("/api/v1/server-items/{serial}/finish"),
            )
            .json(&json!({"fields": {"approved": true}})),
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_beyond_the_budget_are_refused_overloaded_and_apply_nothing() {
    const MIB: usize = 1024 * 1024;
    let server = api_server_tuned(
        support::sqlite_store().await,
        &[],
        MIB,
        None,
        support::test_config(),
        |state| state.edge.body_budget = std::sync::Arc::new(BodyBudget::new(MIB)),
    )
    .await;
    let first = start_permitted(&server, "B1").await;
    let second = start_permitted(&server, "B2").await;
    let address = server.base.trim_start_matches("http://").to_string();
    let credentials = basic("erp", "erp-pw");
    let json_type = "Content-Type: application/json\r\n";

    // A holds 700 KB of the 1 MiB budget: it announced them and sends slowly.
    let body = format!(
        "{{\"dataFields\": {{\"approved\": true}}}}{}",
        " ".repeat(700_000)
    );
    let mut holder = TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST /api/workflow/v1/serverEvents/{first}/finish HTTP/1.1\r\nHost: {address}\r\n{json_type}{credentials}Content-Length: {}\r\n\r\n",
        body.len()
    );
    holder.write_all(head.as_bytes()).await.expect("head");
    holder
        .write_all(&body.as_bytes()[..1000])
        .await
        .expect("start");
    tokio::time::sleep(Duration::from_millis(300)).await;

    // B (JSON) and C (SOAP) do not fit: each waits a moment, then is refused.
    let (answer, _) = head_then_wait(
        &server,
        &format!("/api/workflow/v1/serverEvents/{second}/finish"),
        &format!("{json_type}{credentials}"),
        700_000,
        10,
    )
    .await;
    assert_eq!(status_of(&answer), "503", "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("retry-after:"), "{answer}");
    assert!(answer.contains("\"code\":\"overloaded\""), "{answer}");
    let soap =
        format!("Content-Type: text/xml; charset=utf-8\r\nSOAPAction: \"\"\r\n{credentials}");
    let (answer, _) = head_then_wait(&server, "/soap/server-items", &soap, 700_000, 10).await;
    assert_eq!(status_of(&answer), "503", "{answer}");
    assert!(answer.contains("<hp:code>overloaded</hp:code>"), "{answer}");
    assert!(answer.contains(ENVELOPE_NS), "a SOAP 1.1 fault: {answer}");

    // A finishes its body and is applied.
    holder
        .write_all(&body.as_bytes()[1000..])
        .await
        .expect("rest");
    let mut reply = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), holder.read(&mut reply))
        .await
        .expect("an answer")
        .expect("read");
    let reply = String::from_utf8_lossy(&reply[..n]);
    assert_eq!(status_of(&reply), "204", "{reply}");
    drop(holder);

    // B was not applied: its item is still open, and now there is room again.
    let answer = send(
        server
            .as_user(
                "erp",
                Method::POST,
                &format!("/api/workflow/v1/serverEvents/{second}/finish"),
            )
            .json(&json!({"dataFields": {"approved": false}})),
    )
    .await;
    assert_eq!(answer.status, 204, "{:?}", answer.body);
}
