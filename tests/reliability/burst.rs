//! A burst of near-limit bodies against a real `serve` process (RELIABILITY.md, "bursts"):
//!
//! 1. Strangers: many concurrent 4 MiB bodies without credentials, each holding back its
//!    last byte — half to the server-item service (Basic in the header: refused before
//!    the body), half to the Orchestrator service (credentials in the envelope: the body
//!    must be read, so the budget bounds it). Peak RSS must stay under 512 MiB, `/healthz`
//!    must answer throughout (p99 under 100 ms), and 30 s after the burst RSS must be back
//!    within 64 MiB of idle.
//! 2. The same with authenticated K2 finishes beyond the budget: some are answered
//!    `overloaded`, the rest applied; each instance is finished exactly when its finish was
//!    acknowledged; the refused ones, resent, apply once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::load::{self, PASSWORD, USER};
use crate::scenario::Setup;

const NEAR_LIMIT: usize = 4 * 1024 * 1024 - 1024;
const PEAK_BOUND_MIB: u64 = 512;
const RETURN_BOUND_MIB: u64 = 64;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

pub async fn run(setup: &Setup) {
    let strangers = env_usize("HOLDPOINT_BURST_CLIENTS", 1000);
    let members = env_usize("HOLDPOINT_BURST_AUTHENTICATED", 200);
    // The default budget (256 MiB) at full size; `.ci/run` shrinks it with the counts.
    let budget = (env_usize("HOLDPOINT_BURST_BUDGET_MIB", 256) * 1024 * 1024).to_string();
    let server = setup.serve_with(&[
        ("HOLDPOINT_HTTP__BODY_TIMEOUT", "10s"),
        ("HOLDPOINT_HTTP__MAX_BUFFERED", &budget),
    ]);
    let address = server.base.trim_start_matches("http://").to_string();
    let serials = load::start_instances(&server.base, "rel-item", 0, members).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle_kib, _) = server.memory_kib();

    // 1. Strangers.
    let probing = Arc::new(AtomicBool::new(true));
    let probe = tokio::spawn(probe_health(server.base.clone(), probing.clone()));
    let began = Instant::now();
    let clients: Vec<_> = (0..strangers)
        .map(|i| {
            let address = address.clone();
            let path = if i % 2 == 0 {
                "/soap/server-items"
            } else {
                "/vco/vmware-vmo-webcontrol/webservice"
            };
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml; charset=utf-8\r\n\
                 SOAPAction: \"\"\r\nContent-Length: {NEAR_LIMIT}\r\n\r\n"
            );
            tokio::spawn(async move { hold_back_last_byte(&address, head, NEAR_LIMIT, 3).await })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for client in clients {
        *statuses.entry(client.await.expect("a client")).or_insert(0) += 1;
    }
    let burst = began.elapsed();
    // /healthz is timed while the burst lasts, not over the quiet time after it.
    probing.store(false, Ordering::SeqCst);
    let health = probe.await.expect("the probe");
    let (after_kib, peak_kib) = server.memory_kib();
    let returned = back_to_idle(&server, idle_kib).await;
    let p99 = percentile(&health, 99);
    eprintln!(
        "RESULT burst: {strangers} strangers' 4 MiB bodies answered {statuses:?} in {burst:?}; \
         RSS idle {} MiB, peak {} MiB, right after {} MiB, {}; /healthz {} probes, p99 {p99:?}, \
         slowest {:?}",
        idle_kib / 1024,
        peak_kib / 1024,
        after_kib / 1024,
        match returned {
            Some((waited, kib)) => format!("{} MiB after {waited:?}", kib / 1024),
            None => "not back within 30 s".to_string(),
        },
        health.len(),
        health.iter().max().copied().unwrap_or_default(),
    );
    assert!(
        statuses.keys().all(|s| !s.starts_with("HTTP/1.1 2")),
        "no stranger is served: {statuses:?}"
    );
    assert!(
        peak_kib / 1024 <= PEAK_BOUND_MIB,
        "peak RSS {} MiB",
        peak_kib / 1024
    );
    assert!(
        returned.is_some(),
        "RSS back within {RETURN_BOUND_MIB} MiB of idle in 30 s"
    );
    // The 100 ms goal is a figure for RELIABILITY.md (release build, full size), not a
    // timed assertion on a shared machine; every probe answering is.
    if p99 >= Duration::from_millis(100) {
        eprintln!("RESULT burst: /healthz p99 {p99:?} is over the 100 ms goal");
    }

    // 2. Members beyond the budget.
    let began = Instant::now();
    let auth = base64(&format!("{USER}:{PASSWORD}"));
    let finishes: Vec<_> = serials
        .iter()
        .map(|serial| {
            let address = address.clone();
            let head = format!(
                "POST /api/workflow/v1/serverEvents/{serial}/finish HTTP/1.1\r\nHost: x\r\n\
                 Authorization: Basic {auth}\r\nContent-Type: application/json\r\n\
                 Content-Length: {NEAR_LIMIT}\r\n\r\n"
            );
            tokio::spawn(async move { finish_padded(&address, head, NEAR_LIMIT).await })
        })
        .collect();
    let mut answered = Vec::with_capacity(serials.len());
    for finish in finishes {
        answered.push(finish.await.expect("a finish"));
    }
    let applied = answered
        .iter()
        .filter(|s| s.starts_with("HTTP/1.1 204"))
        .count();
    let overloaded = answered
        .iter()
        .filter(|s| s.starts_with("HTTP/1.1 503"))
        .count();
    let (_, peak_kib) = server.memory_kib();
    eprintln!(
        "RESULT burst: {members} authenticated 4 MiB finishes beyond the budget in {:?}: {applied} \
         applied, {overloaded} overloaded, others {}; peak RSS {} MiB",
        began.elapsed(),
        members - applied - overloaded,
        peak_kib / 1024
    );
    assert_eq!(
        applied + overloaded,
        members,
        "each applied or refused: {answered:?}"
    );
    assert!(overloaded > 0, "the budget refused some");
    assert!(
        peak_kib / 1024 <= PEAK_BOUND_MIB,
        "peak RSS {} MiB",
        peak_kib / 1024
    );
    // Each instance finished exactly when its finish was acknowledged; resend the rest.
    let client = reqwest::Client::new();
    for (serial, status) in serials.iter().zip(&answered) {
        let item = client
            .get(format!(
                "{}/api/workflow/v1/serverEvents/{serial}",
                server.base
            ))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .await
            .expect("open");
        let open = item.status().is_success();
        assert_eq!(
            open,
            status.starts_with("HTTP/1.1 503"),
            "{serial}: {status}"
        );
        if open {
            let resent = client
                .post(format!(
                    "{}/api/workflow/v1/serverEvents/{serial}/finish",
                    server.base
                ))
                .basic_auth(USER, Some(PASSWORD))
                .json(&serde_json::json!({"dataFields": {}}))
                .send()
                .await
                .expect("resend");
            assert_eq!(resent.status().as_u16(), 204, "{serial} resent");
        }
    }
    assert!(server.terminate(), "clean exit");
}

/// Sends `head` and all of a `size`-byte body but its last byte, holds it `hold` seconds
/// (unless answered first), then sends it; returns the status line.
async fn hold_back_last_byte(address: &str, head: String, size: usize, hold: u64) -> String {
    let Ok(stream) = TcpStream::connect(address).await else {
        return "(connect failed)".into();
    };
    let (mut reader, mut writer) = stream.into_split();
    let sending = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        let mut left = size - 1;
        while left > 0 {
            let n = left.min(chunk.len());
            writer.write_all(&chunk[..n]).await?;
            left -= n;
        }
        tokio::time::sleep(Duration::from_secs(hold)).await;
        writer.write_all(b" ").await?;
        Ok::<_, std::io::Error>(writer)
    });
    let status = read_status(&mut reader, Duration::from_secs(60)).await;
    sending.abort();
    status
}

/// A K2 finish whose JSON is padded to `size` bytes, the last byte held back for 3 s.
async fn finish_padded(address: &str, head: String, size: usize) -> String {
    let json = b"{\"dataFields\": {}}";
    let Ok(stream) = TcpStream::connect(address).await else {
        return "(connect failed)".into();
    };
    let (mut reader, mut writer) = stream.into_split();
    let sending = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        writer.write_all(json).await?;
        let padding = vec![b' '; size - json.len()];
        writer.write_all(&padding[..padding.len() - 1]).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        writer.write_all(b" ").await?;
        Ok::<_, std::io::Error>(writer)
    });
    let status = read_status(&mut reader, Duration::from_secs(60)).await;
    sending.abort();
    status
}

async fn read_status(reader: &mut tokio::net::tcp::OwnedReadHalf, limit: Duration) -> String {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let read = async {
        while let Ok(n) = reader.read(&mut buffer).await {
            answer.extend_from_slice(&buffer[..n]);
            if n == 0 || answer.windows(2).any(|w| w == b"\r\n") {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(limit, read).await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("(connection closed)")
        .to_string()
}

/// Probes `/healthz` every 20 ms while `running`; returns every latency.
async fn probe_health(base: String, running: Arc<AtomicBool>) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let mut latencies = Vec::new();
    while running.load(Ordering::SeqCst) {
        let began = Instant::now();
        let answer = client
            .get(format!("{base}/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        assert!(
            answer.is_ok_and(|a| a.status().is_success()),
            "/healthz answers throughout"
        );
        latencies.push(began.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies
}

fn percentile(samples: &[Duration], p: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted
        .get((sorted.len() * p / 100).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// Samples RSS every second for up to 30 s; (when, RSS) once it is within the bound.
async fn back_to_idle(
    server: &crate::support::process::Server,
    idle_kib: u64,
) -> Option<(Duration, u64)> {
    let began = Instant::now();
    while began.elapsed() <= Duration::from_secs(30) {
        let (now_kib, _) = server.memory_kib();
        if now_kib <= idle_kib + RETURN_BOUND_MIB * 1024 {
            return Some((began.elapsed(), now_kib));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    None
}

fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
