//! The client side of the scenarios: callbacks in four dialects sent by several
//! connections, each one's outcome written down as the client saw it. The ledger is what
//! the audit holds the database to: an acknowledged callback must be applied exactly once,
//! one without an answer at most once, one never sent not at all.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const USER: &str = "rel";
pub const PASSWORD: &str = "rel-pw";

/// One callback. `n` names the instance (or, for `Queued`, the instance to be started).
#[derive(Clone, Debug)]
pub enum Op {
    /// K2 REST `serverEvents/{serial}/finish`.
    K2Finish { n: usize, serial: String },
    /// SOAP `FinishServerItem`.
    SoapFinish { n: usize, serial: String },
    /// The JSON API's custom event `rel-{n}` with message id `rel-event-{n}`.
    Event { n: usize },
    /// A kenaflow custom-data event (`/cdb/rel-queued/`) with an `Idempotency-Key`.
    Queued { n: usize },
    /// Orchestrator `sendCustomEvent` of `rel-{n}` (SOAP, HTTP Basic).
    VcoEvent { n: usize },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Acknowledged,
    /// An answer that is not an acknowledgement, e.g. 503 `store_unavailable`.
    Refused(u16, String),
    /// No answer: the connection broke or was refused, or the request timed out.
    NoAnswer(String),
}

/// What the client saw, in the order of the operations; `None`: never sent.
pub struct Ledger {
    pub ops: Vec<Op>,
    pub outcomes: Vec<Option<Outcome>>,
    /// Slowest answer that was a refusal, for the "answers quickly" claim.
    pub slowest_refusal: Duration,
}

impl Ledger {
    pub fn count(&self, wanted: impl Fn(&Option<Outcome>) -> bool) -> usize {
        self.outcomes.iter().filter(|o| wanted(o)).count()
    }

    pub fn acknowledged(&self) -> usize {
        self.count(|o| matches!(o, Some(Outcome::Acknowledged)))
    }
}

/// When a worker gives up.
#[derive(Clone, Copy, PartialEq)]
pub enum OnNoAnswer {
    /// The server is gone (killed): stop at the first request without an answer.
    Stop,
    /// The server stays up (database outage): write it down and go on.
    GoOn,
}

/// Shared with the scenario while the load runs: how far it got, and a brake.
#[derive(Default)]
pub struct Progress {
    pub stop: AtomicBool,
    pub acknowledged: AtomicUsize,
}

impl Progress {
    pub fn acknowledged(&self) -> usize {
        self.acknowledged.load(Ordering::SeqCst)
    }
}

/// `drive` in the background over 16 connections; its progress can be watched meanwhile.
pub fn spawn(
    bases: Vec<String>,
    ops: Vec<Op>,
    on_no_answer: OnNoAnswer,
) -> (tokio::task::JoinHandle<Ledger>, Arc<Progress>) {
    let progress = Arc::new(Progress::default());
    let watched = progress.clone();
    let task = tokio::spawn(async move { drive(&bases, ops, 16, watched, on_no_answer).await });
    (task, progress)
}

/// Sends `ops` over `connections` workers (worker i to `bases[i % len]`) until they run
/// out or `progress.stop` is raised.
pub async fn drive(
    bases: &[String],
    ops: Vec<Op>,
    connections: usize,
    progress: Arc<Progress>,
    on_no_answer: OnNoAnswer,
) -> Ledger {
    let ops = Arc::new(ops);
    let outcomes = Arc::new(Mutex::new(vec![None; ops.len()]));
    let slowest = Arc::new(Mutex::new(Duration::ZERO));
    let next = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("http client");
    let workers: Vec<_> = (0..connections)
        .map(|worker| {
            let (ops, outcomes, slowest, next, progress, client, base) = (
                ops.clone(),
                outcomes.clone(),
                slowest.clone(),
                next.clone(),
                progress.clone(),
                client.clone(),
                bases[worker % bases.len()].clone(),
            );
            tokio::spawn(async move {
                while !progress.stop.load(Ordering::SeqCst) {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(op) = ops.get(index) else { break };
                    let began = Instant::now();
                    let outcome = send(&client, &base, op).await;
                    if let Outcome::Refused(..) = outcome {
                        let mut slowest = slowest.lock().unwrap();
                        *slowest = (*slowest).max(began.elapsed());
                    }
                    if outcome == Outcome::Acknowledged {
                        progress.acknowledged.fetch_add(1, Ordering::SeqCst);
                    }
                    let gone = matches!(outcome, Outcome::NoAnswer(_));
                    outcomes.lock().unwrap()[index] = Some(outcome);
                    if gone && on_no_answer == OnNoAnswer::Stop {
                        break;
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a load worker");
    }
    let outcomes = outcomes.lock().unwrap().clone();
    let slowest_refusal = *slowest.lock().unwrap();
    Ledger {
        ops: Arc::try_unwrap(ops).unwrap_or_else(|ops| (*ops).clone()),
        outcomes,
        slowest_refusal,
    }
}

/// Sends one callback and classifies the answer.
pub async fn send(client: &reqwest::Client, base: &str, op: &Op) -> Outcome {
    let request = match op {
        Op::K2Finish { serial, .. } => client
            .post(format!(
                "{base}/api/workflow/v1/serverEvents/{serial}/finish"
            ))
            .json(&serde_json::json!({"dataFields": {}})),
        Op::SoapFinish { serial, .. } => client
            .post(format!("{base}/soap/server-items"))
            .header("content-type", "text/xml; charset=utf-8")
            .header("soapaction", "\"urn:holdpoint:server-items/FinishServerItem\"")
            .body(format!(
                "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>\
                 <h:FinishServerItem xmlns:h=\"urn:holdpoint:server-items\">\
                 <h:serialNumber>{serial}</h:serialNumber></h:FinishServerItem></s:Body></s:Envelope>"
            )),
        Op::Event { n } => client
            .post(format!("{base}/api/v1/events/rel-{n}"))
            .json(&serde_json::json!({"message_id": format!("rel-event-{n}"), "properties": {}})),
        Op::Queued { n } => client
            .post(format!("{base}/cdb/rel-queued/"))
            .header("idempotency-key", format!("rel-queued-{n}"))
            .json(&serde_json::json!({"__wfid": "1", "__itemid": n.to_string(), "n": n.to_string()})),
        Op::VcoEvent { n } => client
            .post(format!("{base}/vco/vmware-vmo-webcontrol/webservice"))
            .header("content-type", "text/xml; charset=utf-8")
            .header("soapaction", "\"\"")
            .body(format!(
                "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>\
                 <w:sendCustomEvent xmlns:w=\"http://webservice.vso.dunes.ch\">\
                 <w:eventName>rel-{n}</w:eventName><w:serializedProperties>n={n}\
                 </w:serializedProperties></w:sendCustomEvent></s:Body></s:Envelope>"
            )),
    };
    match request.basic_auth(USER, Some(PASSWORD)).send().await {
        Err(error) => Outcome::NoAnswer(error.to_string()),
        Ok(response) => {
            let status = response.status().as_u16();
            match response.text().await {
                Err(error) => Outcome::NoAnswer(format!("HTTP {status}, body cut: {error}")),
                Ok(_) if (200..300).contains(&status) => Outcome::Acknowledged,
                Ok(body) => Outcome::Refused(status, body),
            }
        }
    }
}

/// Starts `count` instances of `workflow` (fields `n` from `first`); returns their serials.
pub async fn start_instances(
    base: &str,
    workflow: &str,
    first: usize,
    count: usize,
) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut serials = Vec::with_capacity(count);
    for n in first..first + count {
        let response = client
            .post(format!("{base}/api/v1/workflows/{workflow}/instances"))
            .basic_auth(USER, Some(PASSWORD))
            .json(&serde_json::json!({"fields": {"n": n}}))
            .send()
            .await
            .expect("start an instance");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("a JSON answer");
        assert!(
            status.is_success(),
            "start {workflow} #{n}: {status} {body}"
        );
        serials.push(
            body.pointer("/instance/waits/0/serial")
                .and_then(|s| s.as_str())
                .unwrap_or_default()
                .to_string(),
        );
    }
    serials
}

/// A mixed load over instances `0..count`: for each n a finish (K2 or SOAP, alternating)
/// of `rel-item` #n, the custom event of `rel-event` #n, and a queued start of `rel-queued`
/// #n, interleaved.
pub fn mixed_ops(item_serials: &[String]) -> Vec<Op> {
    let mut ops = Vec::with_capacity(item_serials.len() * 3);
    for (n, serial) in item_serials.iter().enumerate() {
        let serial = serial.clone();
        ops.push(if n % 2 == 0 {
            Op::K2Finish { n, serial }
        } else {
            Op::SoapFinish { n, serial }
        });
        ops.push(Op::Event { n });
        ops.push(Op::Queued { n });
    }
    ops
}

/// Polls `done` every 50 ms; fails the scenario after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
