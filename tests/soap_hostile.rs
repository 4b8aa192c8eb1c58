//! Hostile SOAP input against a real server: each is answered with the right fault, the
//! server's memory stays bounded, and the next normal request is served. One test, run
//! alone in its binary, so that the process's peak memory speaks for these requests only.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::Method;
use support::api::{ApiServer, api_server_with_max_body};

const ENDPOINT: &str = "/soap/server-items";

fn envelope(body: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{body}</s:Body></s:Envelope>"
    )
}

fn open(serial: &str) -> String {
    envelope(&format!(
        "<OpenServerItem xmlns=\"urn:holdpoint:server-items\"><serialNumber>{serial}</serialNumber></OpenServerItem>"
    ))
}

/// Peak resident memory of this process so far (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn post(
    server: &ApiServer,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, String) {
    let response = server
        .as_user("erp", Method::POST, ENDPOINT)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("the server answers");
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

/// Sends raw bytes over TCP and returns the status line and body of the answer.
fn raw_exchange(address: &str, head: &str, body_bytes: usize, chunked: bool) -> (String, usize) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(head.as_bytes()).expect("headers");
    let mut reader = stream.try_clone().expect("clone");
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0usize;
        while sent < body_bytes {
            let ok = if chunked {
                stream
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .and_then(|()| stream.write_all(&chunk))
                    .and_then(|()| stream.write_all(b"\r\n"))
            } else {
                stream.write_all(&chunk)
            };
            if ok.is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 8192];
    while let Ok(n) = reader.read(&mut buffer) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
        if answer.windows(13).any(|w| w == b"</s:Envelope>") {
            break;
        }
    }
    let _ = reader.shutdown(std::net::Shutdown::Both);
    let sent = writer.join().unwrap_or(0);
    (String::from_utf8_lossy(&answer).into_owned(), sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_are_refused_and_the_server_keeps_serving() {
    let server = api_server_with_max_body(
        support::sqlite_store().await,
        holdpoint::config::DEFAULT_MAX_BODY,
    )
    .await;
    let serial = support::api::start_permitted(&server, "H-1").await;
    let normal = open(&serial);

    let xxe = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>{}",
        open("&xxe;")
    );
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">{}]>{}",
        (1..10)
            .map(|i| format!(
                "<!ENTITY lol{i} \"{}\">",
                format!(
                    "&lol{};",
                    if i == 1 {
                        String::new()
                    } else {
                        (i - 1).to_string()
                    }
                )
                .repeat(10)
            ))
            .collect::<String>(),
        open("&lol9;")
    );
    let deep = envelope(&format!(
        "{}{}",
        "<a>".repeat(100_000),
        "</a>".repeat(100_000)
    ));
    let attributes: String = (0..100_000).map(|i| format!(" a{i}=\"1\"")).collect();
    let wide = envelope(&format!("<x{attributes}/>"));
    let bindings: String = (0..100_000)
        .map(|i| format!(" xmlns:p{i}=\"urn:{i}\""))
        .collect();
    let namespaces = envelope(&format!("<x{bindings}/>"));
    let long_text = envelope(&format!("<x>{}</x>", "t".repeat(2 * 1024 * 1024)));
    let utf16_no_bom: Vec<u8> = normal
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();

    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "XXE with an external entity",
            xxe.into_bytes(),
            500,
            "dtd_not_allowed",
        ),
        (
            "billion laughs",
            laughs.into_bytes(),
            500,
            "dtd_not_allowed",
        ),
        (
            "100,000-deep nesting",
            deep.into_bytes(),
            413,
            "nest deeper than 128",
        ),
        (
            "100,000 attributes",
            wide.into_bytes(),
            413,
            "more than 128 attributes",
        ),
        (
            "100,000 namespace declarations",
            namespaces.into_bytes(),
            413,
            "limit_exceeded",
        ),
        (
            "a 2 MiB text node",
            long_text.into_bytes(),
            413,
            "exceeds 1048576 bytes",
        ),
        (
            "UTF-16 without BOM or charset",
            utf16_no_bom,
            500,
            "neither a byte-order mark nor a charset",
        ),
    ];
    // Measured once the inputs exist, so that only the server's work counts.
    let baseline = peak_rss_kib();
    for (what, body, status, needle) in cases {
        let began = Instant::now();
        let (got, text) = post(&server, "text/xml; charset=utf-8", body).await;
        eprintln!("{what}: HTTP {got} in {:?}", began.elapsed());
        assert_eq!(got, status, "{what}: {text}");
        assert!(
            text.contains(needle),
            "{what}: expected `{needle}` in {text}"
        );
        assert!(!text.contains("root:"), "{what}: no file content leaks");
        let (ok, _) = post(&server, "text/xml", normal.clone()).await;
        assert_eq!(ok, 200, "served normally after {what}");
    }

    for cut in [
        1,
        10,
        40,
        70,
        100,
        normal.len() / 2,
        normal.len() - 20,
        normal.len() - 1,
    ] {
        let (got, text) = post(&server, "text/xml", normal[..cut].to_string()).await;
        assert_eq!(got, 500, "cut at {cut}: {text}");
        assert!(text.contains("malformed_request"), "cut at {cut}: {text}");
    }

    let address = server.base.trim_start_matches("http://").to_string();
    for chunked in [false, true] {
        let length = if chunked {
            "Transfer-Encoding: chunked".to_string()
        } else {
            format!("Content-Length: {}", 100 * 1024 * 1024)
        };
        let head = format!(
            "POST {ENDPOINT} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Basic ZXJwOmVycC1wdw==\r\nContent-Type: text/xml\r\n{length}\r\n\r\n"
        );
        let target = address.clone();
        let began = Instant::now();
        let (answer, sent) = tokio::task::spawn_blocking(move || {
            raw_exchange(&target, &head, 100 * 1024 * 1024, chunked)
        })
        .await
        .unwrap();
        eprintln!(
            "100 MB body (chunked: {chunked}): answered in {:?} after the client sent {} KiB",
            began.elapsed(),
            sent / 1024
        );
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "chunked {chunked}: {answer}"
        );
        assert!(answer.contains("limit_exceeded"), "{answer}");
        let (ok, _) = post(&server, "text/xml", normal.clone()).await;
        assert_eq!(ok, 200, "served normally after a 100 MB body");
    }

    let growth_mib = peak_rss_kib().saturating_sub(baseline) / 1024;
    eprintln!("peak memory grew by {growth_mib} MiB during the hostile requests");
    assert!(
        growth_mib < 64,
        "memory must stay bounded: peak grew by {growth_mib} MiB"
    );
}
