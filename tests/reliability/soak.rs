//! The soak (RELIABILITY.md, "soak"): a real `serve` process under mixed load for
//! `HOLDPOINT_SOAK_SECONDS` (30 minutes by default; `.ci/run` runs a short one). Round
//! after round: instances started, then finished over K2 REST and SOAP, woken by JSON-API
//! and Orchestrator custom events, queued kenaflow events, deadlines firing, and a few
//! hostile clients (unauthenticated 1 MiB bodies, a header dribbler). Every callback must
//! be acknowledged; RSS is sampled every 10 s and must not grow: its slope over the second
//! half is reported, and the last sample must stay within 32 MiB of the first half's peak.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::audit::Db;
use crate::load::{self, OnNoAnswer, Op, Outcome, Progress};
use crate::scenario::{EVENT_ID, ITEM_ID, QUEUED_ID, Setup, TIMER_ID};

/// Instances of each kind per round.
const ROUND: usize = 40;
const GROWTH_BOUND_MIB: f64 = 32.0;

fn soak_seconds() -> u64 {
    std::env::var("HOLDPOINT_SOAK_SECONDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1800)
}

pub async fn run(setup: &Setup) {
    let length = Duration::from_secs(soak_seconds());
    let server = setup.serve();
    let address = server.base.trim_start_matches("http://").to_string();
    let began = Instant::now();
    let mut samples: Vec<(f64, f64)> = Vec::new();
    let mut next_sample = Duration::ZERO;
    let (mut rounds, mut callbacks, mut hostile) = (0usize, 0usize, 0usize);
    while began.elapsed() < length {
        let first = rounds * ROUND;
        let (serials, _, _) = tokio::join!(
            load::start_instances(&server.base, "rel-item", first, ROUND),
            load::start_instances(&server.base, "rel-event", first, ROUND),
            load::start_instances(&server.base, "rel-timer", first, ROUND / 4),
        );
        let ops = round_ops(first, &serials);
        let strangers = tokio::spawn(strangers(address.clone()));
        let ledger = load::drive(
            std::slice::from_ref(&server.base),
            ops,
            8,
            Arc::new(Progress::default()),
            OnNoAnswer::GoOn,
        )
        .await;
        hostile += strangers.await.expect("the strangers");
        for (op, outcome) in ledger.ops.iter().zip(&ledger.outcomes) {
            assert_eq!(
                outcome.as_ref(),
                Some(&Outcome::Acknowledged),
                "round {rounds}: {op:?}"
            );
        }
        callbacks += ledger.ops.len();
        rounds += 1;
        if began.elapsed() >= next_sample {
            let (rss_kib, _) = server.memory_kib();
            samples.push((began.elapsed().as_secs_f64(), rss_kib as f64 / 1024.0));
            next_sample += Duration::from_secs(10);
        }
    }
    // The last deadlines fire and the queue drains before the audit.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (rss_kib, peak_kib) = server.memory_kib();
    samples.push((began.elapsed().as_secs_f64(), rss_kib as f64 / 1024.0));
    let db = Db::Sqlite(setup.sqlite_file());
    let total = rounds * ROUND;
    for (workflow, expected) in [
        (ITEM_ID, total),
        (EVENT_ID, total),
        (TIMER_ID, rounds * (ROUND / 4)),
        (QUEUED_ID, total),
    ] {
        let rows = db
            .rows(&format!(
                "SELECT status, count(*) FROM instances WHERE workflow_id = '{workflow}' GROUP BY status"
            ))
            .await;
        let completed = rows
            .iter()
            .find(|row| row[0] == "completed")
            .map_or(0, |row| row[1].parse().unwrap_or(0));
        assert_eq!(completed, expected, "{workflow}: {rows:?}");
    }
    let half = samples.len() / 2;
    let first_half_peak = samples[..half.max(1)]
        .iter()
        .map(|(_, mib)| *mib)
        .fold(0.0, f64::max);
    let slope = slope_mib_per_hour(&samples[half..]);
    let last = samples.last().map_or(0.0, |(_, mib)| *mib);
    let curve: Vec<String> = samples
        .iter()
        .map(|(at, mib)| format!("{at:.0}s:{mib:.0}"))
        .collect();
    eprintln!(
        "RESULT soak: {:?}, {rounds} rounds, {callbacks} callbacks all acknowledged, {hostile} \
         hostile requests refused; RSS first-half peak {first_half_peak:.0} MiB, last \
         {last:.0} MiB, VmHWM {} MiB, slope over the second half {slope:+.1} MiB/h; RSS \
         (s:MiB) {}",
        began.elapsed(),
        peak_kib / 1024,
        curve.join(" ")
    );
    // A short run (`.ci/run`) is still warming up (caches, pools): only a long one can tell
    // growth from warm-up, so only a long one is held to the bound.
    if length >= Duration::from_secs(600) {
        assert!(
            last <= first_half_peak + GROWTH_BOUND_MIB,
            "RSS grew: {last:.0} MiB after a first-half peak of {first_half_peak:.0} MiB"
        );
    }
    assert!(server.terminate(), "clean exit");
}

/// A round's callbacks: items finished over K2 and SOAP in turn, events sent over the
/// JSON API and the Orchestrator service in turn, one queued event each.
fn round_ops(first: usize, serials: &[String]) -> Vec<Op> {
    let mut ops = Vec::with_capacity(serials.len() * 3);
    for (i, serial) in serials.iter().enumerate() {
        let n = first + i;
        let serial = serial.clone();
        if n.is_multiple_of(2) {
            ops.extend([Op::K2Finish { n, serial }, Op::Event { n }]);
        } else {
            ops.extend([Op::SoapFinish { n, serial }, Op::VcoEvent { n }]);
        }
        ops.push(Op::Queued { n });
    }
    ops
}

/// A few strangers per round: 1 MiB bodies without credentials and a header dribbler;
/// returns how many were refused.
async fn strangers(address: String) -> usize {
    let mut refused = 0;
    for _ in 0..4 {
        let Ok(mut stream) = TcpStream::connect(&address).await else {
            continue;
        };
        let head = "POST /soap/server-items HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n\
                    Content-Length: 1048576\r\n\r\n";
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&vec![b'<'; 64 * 1024]).await;
        let mut answer = [0u8; 64];
        if let Ok(Ok(n)) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read(&mut stream, &mut answer),
        )
        .await
            && answer[..n].starts_with(b"HTTP/1.1 401")
        {
            refused += 1;
        }
    }
    if let Ok(mut stream) = TcpStream::connect(&address).await {
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ")
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    refused
}

/// Least-squares slope of (seconds, MiB), in MiB per hour.
fn slope_mib_per_hour(samples: &[(f64, f64)]) -> f64 {
    let n = samples.len() as f64;
    if samples.len() < 2 {
        return 0.0;
    }
    let mean_t = samples.iter().map(|(t, _)| t).sum::<f64>() / n;
    let mean_m = samples.iter().map(|(_, m)| m).sum::<f64>() / n;
    let covariance: f64 = samples
        .iter()
        .map(|(t, m)| (t - mean_t) * (m - mean_m))
        .sum();
    let variance: f64 = samples.iter().map(|(t, _)| (t - mean_t).powi(2)).sum();
    if variance == 0.0 {
        0.0
    } else {
        covariance / variance * 3600.0
    }
}
