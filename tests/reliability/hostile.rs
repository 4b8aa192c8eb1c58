//! Hostile clients against a real `serve` process: slow-loris (headers, then bodies,
//! dribbled), a connection flood, many concurrent 4 MiB bodies, malformed chunked
//! encoding. Throughout, `/healthz` must answer within a second; afterwards the server's
//! peak memory must stay under the stated bound and a normal request must be served.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::load::{PASSWORD, USER};
use crate::scenario::Setup;

/// Peak resident memory the server may reach during the whole scenario.
const MEMORY_BOUND_MIB: u64 = 256;
const SLOW_CLIENTS: usize = 500;
const FLOOD: usize = 5_000;
const BIG_BODIES: usize = 64;
const BIG: usize = 4 * 1024 * 1024;

pub async fn run(setup: &Setup) {
    let server = setup.serve_with(&[("HOLDPOINT_HTTP__BODY_TIMEOUT", "10s")]);
    let address = server.base.trim_start_matches("http://").to_string();
    let (idle_kib, _) = server.memory_kib();
    let auth = base64(&format!("{USER}:{PASSWORD}"));
    let mut report = Vec::new();

    // Slow-loris on the headers: actix drops a request whose head is not complete within
    // its client request timeout (5 s).
    let began = Instant::now();
    let dribblers: Vec<_> = (0..SLOW_CLIENTS)
        .map(|_| {
            let address = address.clone();
            tokio::spawn(async move {
                dribble(&address, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ", 20).await
            })
        })
        .collect();
    let slowest = probe_while(&server.base, Duration::from_secs(3)).await;
    let mut dropped = 0;
    for dribbler in dribblers {
        dropped += usize::from(dribbler.await.expect("a dribbler"));
    }
    report.push(format!(
        "{SLOW_CLIENTS} clients dribbling headers: {dropped} cut off by the server within {:?}, \
         health probe slowest {slowest:?}",
        began.elapsed()
    ));
    assert_eq!(dropped, SLOW_CLIENTS, "every header dribbler is cut off");

    // Slow-loris on the body: a 4 MiB body announced, then a byte a second; `[http]
    // body_timeout` (10 s here, 60 s by default) ends it.
    let began = Instant::now();
    let head = format!(
        "POST /soap/server-items HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: text/xml\r\nContent-Length: {BIG}\r\n\r\n<"
    );
    let dribblers: Vec<_> = (0..SLOW_CLIENTS)
        .map(|_| {
            let (address, head) = (address.clone(), head.clone());
            tokio::spawn(async move { dribble(&address, &head, 90).await })
        })
        .collect();
    let slowest = probe_while(&server.base, Duration::from_secs(5)).await;
    let (during_kib, _) = server.memory_kib();
    let mut dropped = 0;
    for dribbler in dribblers {
        dropped += usize::from(dribbler.await.expect("a dribbler"));
    }
    report.push(format!(
        "{SLOW_CLIENTS} clients dribbling 4 MiB bodies: RSS {} MiB while they hung on, \
         {dropped} cut off by the server within {:?}, health probe slowest {slowest:?}",
        during_kib / 1024,
        began.elapsed()
    ));
    assert_eq!(dropped, SLOW_CLIENTS, "every body dribbler is cut off");

    // A flood of idle connections.
    let mut held = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        match TcpStream::connect(&address).await {
            Ok(stream) => held.push(stream),
            Err(_) => break,
        }
    }
    let slowest = probe_while(&server.base, Duration::from_secs(2)).await;
    let (flood_kib, _) = server.memory_kib();
    report.push(format!(
        "{} idle connections held: RSS {} MiB, health probe slowest {slowest:?}",
        held.len(),
        flood_kib / 1024
    ));
    drop(held);

    // Many concurrent 4 MiB bodies (the default limit) of garbage, then one byte over it.
    let began = Instant::now();
    let senders: Vec<_> = (0..BIG_BODIES)
        .map(|i| {
            let (address, auth) = (address.clone(), auth.clone());
            let size = if i % 2 == 0 { BIG } else { BIG + 1 };
            tokio::spawn(async move { post_raw(&address, &auth, size).await })
        })
        .collect();
    let slowest = probe_while(&server.base, Duration::from_secs(1)).await;
    let mut statuses = std::collections::BTreeMap::new();
    for sender in senders {
        *statuses.entry(sender.await.expect("a sender")).or_insert(0) += 1;
    }
    report.push(format!(
        "{BIG_BODIES} concurrent 4 MiB bodies answered {statuses:?} in {:?}, health probe \
         slowest {slowest:?}",
        began.elapsed()
    ));
    assert!(
        statuses
            .keys()
            .all(|status| status.starts_with("HTTP/1.1 4")),
        "big bodies are refused, not failed: {statuses:?}"
    );

    // Malformed chunked encoding: each answered 400 or cut, and the server goes on.
    for (what, body) in [
        ("a chunk size that is not hex", "zz\r\nabc\r\n0\r\n\r\n"),
        (
            "a chunk size past 64 bits",
            "fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
        ),
        ("a chunk longer than its size", "2\r\nabcdef\r\n0\r\n\r\n"),
        ("a missing CRLF after a chunk", "3\r\nabc0\r\n\r\n"),
        (
            "a 100 KiB chunk extension",
            &format!("3;{}\r\nabc\r\n0\r\n\r\n", "x".repeat(100 * 1024)),
        ),
    ] {
        let answer = exchange(
            &address,
            &format!(
                "POST /api/v1/workflows/rel-item/instances HTTP/1.1\r\nHost: x\r\n\
                 Authorization: Basic {auth}\r\nContent-Type: application/json\r\n\
                 Transfer-Encoding: chunked\r\n\r\n{body}"
            ),
        )
        .await;
        let status = answer
            .lines()
            .next()
            .unwrap_or("(connection closed)")
            .to_string();
        assert!(
            !status.starts_with("HTTP/1.1 2") && !status.starts_with("HTTP/1.1 5"),
            "{what}: {status}"
        );
        report.push(format!("chunked with {what}: {status}"));
        health(&server.base).await;
    }

    let (_, peak_kib) = server.memory_kib();
    let served = reqwest::Client::new()
        .get(format!("{}/api/v1/workflows", server.base))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .expect("a normal request afterwards");
    assert!(served.status().is_success(), "served normally afterwards");
    for line in &report {
        eprintln!("RESULT hostile: {line}");
    }
    eprintln!(
        "RESULT hostile: RSS idle {} MiB, peak over the whole scenario {} MiB (bound {MEMORY_BOUND_MIB} MiB)",
        idle_kib / 1024,
        peak_kib / 1024
    );
    assert!(
        peak_kib / 1024 <= MEMORY_BOUND_MIB,
        "peak RSS {} MiB over the bound",
        peak_kib / 1024
    );
    assert!(server.terminate(), "clean exit");
}

/// Sends `head`, then one byte a second for up to `seconds`; true when the server closed
/// the connection (or answered) before that.
async fn dribble(address: &str, head: &str, seconds: u64) -> bool {
    let Ok(mut stream) = TcpStream::connect(address).await else {
        return false;
    };
    if stream.write_all(head.as_bytes()).await.is_err() {
        return true;
    }
    let mut buffer = [0u8; 1024];
    for _ in 0..seconds {
        tokio::select! {
            read = stream.read(&mut buffer) => {
                // An answer (408, 400) or a close: either way the server let go.
                let _ = read;
                return true;
            }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if stream.write_all(b"a").await.is_err() {
            return true;
        }
    }
    false
}

/// Probes `/healthz` every 100 ms for `period`; returns the slowest answer.
async fn probe_while(base: &str, period: Duration) -> Duration {
    let end = Instant::now() + period;
    let mut slowest = Duration::ZERO;
    while Instant::now() < end {
        let began = Instant::now();
        health(base).await;
        slowest = slowest.max(began.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    slowest
}

async fn health(base: &str) {
    let answer = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .expect("the health probe answers within a second");
    assert!(answer.status().is_success(), "healthy: {}", answer.status());
}

/// POSTs `size` bytes of garbage as JSON to start an instance; returns the status line.
/// (SOAP answers garbage with a Client fault, which SOAP 1.1 sends as HTTP 500.)
async fn post_raw(address: &str, auth: &str, size: usize) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let head = format!(
        "POST /api/v1/workflows/rel-item/instances HTTP/1.1\r\nHost: x\r\n\
         Authorization: Basic {auth}\r\nContent-Type: application/json\r\n\
         Content-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    let body = vec![b'x'; size];
    // The server may answer 413 and close before the whole body is sent.
    let _ = stream.write_all(&body).await;
    read_status(&mut stream).await
}

/// Sends `request` and returns what came back before the server closed or went quiet.
async fn exchange(address: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let _ = stream.write_all(request.as_bytes()).await;
    read_status(&mut stream).await
}

async fn read_status(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let read = async {
        while let Ok(n) = stream.read(&mut buffer).await {
            answer.extend_from_slice(&buffer[..n]);
            if n == 0 || answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("(connection closed)")
        .to_string()
}

fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
