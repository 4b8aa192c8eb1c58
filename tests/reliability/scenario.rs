//! What the scenarios share: the workflows and account they run with, starting nodes, and
//! the two audits (right after a fault, and once everything unacknowledged was resent).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::audit::{Db, State};
use crate::load::{self, OnNoAnswer, Op, Outcome, PASSWORD, USER};
use crate::support::process::{Server, holdpoint, output};

/// A workflow whose instances wait at `step` (TOML of the waiting step's own keys), then
/// end; `late` ends them at the deadline.
fn waiting_workflow(id: &str, name: &str, step: &str) -> String {
    format!(
        r#"
id = "{id}"
name = "{name}"
[fields]
n = {{ type = "number" }}
[permissions]
start = ["rel"]
server_event = ["rel"]
view = ["rel"]
[[steps]]
id = "wait"
{step}
on_timeout = "late"
[[steps]]
id = "done"
kind = "end"
[[steps]]
id = "late"
kind = "end"
"#
    )
}

const QUEUED: &str = r#"
id = "7e1a0000-0004-4000-8000-000000000004"
name = "rel-queued"
[fields]
n = { type = "string" }
[permissions]
start = ["rel"]
view = ["rel"]
[remote_events]
custom_data = true
[[steps]]
id = "record"
kind = "set"
fields = { n = "{{ event.n }}" }
[[steps]]
id = "done"
kind = "end"
"#;

pub const ITEM_ID: &str = "7e1a0000-0001-4000-8000-000000000001";
pub const EVENT_ID: &str = "7e1a0000-0002-4000-8000-000000000002";
pub const TIMER_ID: &str = "7e1a0000-0003-4000-8000-000000000003";
pub const QUEUED_ID: &str = "7e1a0000-0004-4000-8000-000000000004";

/// Which store the nodes use.
pub enum Node {
    Postgres(String),
    Sqlite,
}

impl Node {
    pub fn postgres(url: &str) -> Node {
        Node::Postgres(url.to_string())
    }

    pub fn sqlite() -> Node {
        Node::Sqlite
    }
}

/// A scenario's folder (workflows, embedded store), store and size.
pub struct Setup {
    dir: tempfile::TempDir,
    node: Node,
    pub instances: usize,
    /// Settings every node of the scenario gets from the environment.
    settings: Vec<(&'static str, &'static str)>,
}

impl Setup {
    /// Writes the workflows and adds the `rel` account (right `send_events`).
    pub fn new(node: Node, instances: usize) -> Setup {
        let dir = tempfile::tempdir().expect("scenario folder");
        let workflows = dir.path().join("workflows");
        std::fs::create_dir_all(&workflows).expect("workflows folder");
        let item = "kind = \"server_event\"\ndeadline = \"24h\"";
        let event = "kind = \"wait_event\"\nevent = \"rel-{{ fields.n }}\"\ndeadline = \"24h\"";
        // Nobody sends this event: the deadline ends each wait, due while the load runs.
        let timer = "kind = \"wait_event\"\nevent = \"never-{{ fields.n }}\"\ndeadline = \"4s\"";
        for (name, text) in [
            ("rel-item", waiting_workflow(ITEM_ID, "rel-item", item)),
            ("rel-event", waiting_workflow(EVENT_ID, "rel-event", event)),
            ("rel-timer", waiting_workflow(TIMER_ID, "rel-timer", timer)),
            ("rel-queued", QUEUED.to_string()),
        ] {
            std::fs::write(workflows.join(format!("{name}.toml")), text).expect("a workflow");
        }
        let setup = Setup {
            dir,
            node,
            instances,
            settings: Vec::new(),
        };
        let mut args = setup.store_args();
        args.extend([
            "accounts".into(),
            "add".into(),
            USER.into(),
            "--password".into(),
            PASSWORD.into(),
            "--right".into(),
            "send_events".into(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, out, err) = output(&mut holdpoint(&args));
        assert!(ok, "accounts add: {out}{err}");
        setup
    }

    /// Every node commits the commands that arrive together on two lanes
    /// (`[store] group_commit_lanes`, PostgreSQL).
    pub fn with_group_commit(mut self) -> Setup {
        self.settings
            .push(("HOLDPOINT_STORE__GROUP_COMMIT_LANES", "2"));
        self
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn sqlite_file(&self) -> PathBuf {
        self.data_dir().join("holdpoint.db")
    }

    fn store_args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".to_string(),
            self.data_dir().display().to_string(),
            "--workflows".to_string(),
            self.dir.path().join("workflows").display().to_string(),
        ];
        if let Node::Postgres(url) = &self.node {
            args.extend(["--database-url".to_string(), url.clone()]);
        }
        args
    }

    /// A node; short queue leases so that a dead node's rows come back within seconds.
    pub fn serve(&self) -> Server {
        self.serve_with(&[])
    }

    /// `serve` with more settings from the environment.
    pub fn serve_with(&self, settings: &[(&str, &str)]) -> Server {
        let args = self.store_args();
        let args: Vec<&str> = args[2..].iter().map(String::as_str).collect();
        let mut env = vec![
            ("HOLDPOINT_QUEUE__LEASE", "3s"),
            ("HOLDPOINT_QUEUE__POLL_INTERVAL", "200ms"),
            ("HOLDPOINT_TIMERS__POLL_INTERVAL", "200ms"),
            ("HOLDPOINT_LOG__LEVEL", "warn"),
        ];
        env.extend_from_slice(&self.settings);
        env.extend_from_slice(settings);
        Server::start_with(&args, &self.data_dir(), &env)
    }

    /// Starts the waiting instances (items, events, half as many timers); returns the
    /// items' serials.
    pub async fn start_waiting(&self, base: &str) -> Vec<String> {
        let n = self.instances;
        let (items, _, _) = tokio::join!(
            load::start_instances(base, "rel-item", 0, n),
            load::start_instances(base, "rel-event", 0, n),
            load::start_instances(base, "rel-timer", 0, n / 2),
        );
        items
    }
}

/// The crash scenario on either store: load, `kill -9` at a third, audit, restart, resend
/// what was not acknowledged, audit again.
pub async fn crash_and_restart(setup: &Setup, db: &Db, label: &str) {
    let server = setup.serve();
    let serials = setup.start_waiting(&server.base).await;
    let ops = load::mixed_ops(&serials);
    let total = ops.len();
    let (driving, progress) = load::spawn(vec![server.base.clone()], ops, OnNoAnswer::Stop);
    load::wait_until(
        "a third is acknowledged",
        Duration::from_secs(300),
        async || progress.acknowledged() >= total / 3,
    )
    .await;
    // Kill while queue rows are leased when we can catch that (delivery is quick), so
    // that the take-over of a dead node's leases is exercised.
    let catch = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < catch
        && db.queue_states().await.get("running").copied().unwrap_or(0) == 0
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill_9();
    let ledger = driving.await.expect("the load");
    let (leased, applied_unanswered) = audit_after_crash(db, &ledger).await;
    let server = setup.serve();
    let summary = settle(setup, db, std::slice::from_ref(&server.base), &ledger).await;
    eprintln!(
        "RESULT {label}: {} callbacks; at the kill {} acknowledged, {} without an answer \
         ({applied_unanswered} of them applied), {} never sent; {leased} queue rows leased by \
         the dead node; {summary}",
        ledger.ops.len(),
        ledger.acknowledged(),
        ledger.count(|o| matches!(o, Some(Outcome::NoAnswer(_)))),
        ledger.count(Option::is_none),
    );
    assert!(server.terminate(), "clean exit after SIGTERM");
}

/// Holds the database to the ledger right after the fault; returns the queue rows still
/// leased (by the dead node) and how many unanswered callbacks were applied.
async fn audit_after_crash(db: &Db, ledger: &load::Ledger) -> (usize, usize) {
    let items = db.waiting_states(ITEM_ID).await;
    let events = db.waiting_states(EVENT_ID).await;
    let queued = queued_keys(db).await;
    let mut applied_unanswered = 0;
    for (op, outcome) in ledger.ops.iter().zip(&ledger.outcomes) {
        let applied = match op {
            Op::K2Finish { n, .. } | Op::SoapFinish { n, .. } => state(&items, *n, op),
            Op::Event { n } | Op::VcoEvent { n } => state(&events, *n, op),
            Op::Queued { n } => {
                if queued.contains(n) {
                    State::Applied
                } else {
                    State::Pending
                }
            }
        };
        match outcome {
            Some(Outcome::Acknowledged) => {
                assert_eq!(applied, State::Applied, "acknowledged {op:?} is applied")
            }
            Some(Outcome::NoAnswer(_)) => {
                applied_unanswered += usize::from(applied == State::Applied);
            }
            None | Some(Outcome::Refused(..)) => {
                assert_eq!(
                    applied,
                    State::Pending,
                    "{op:?} ({outcome:?}) applied nothing"
                )
            }
        }
    }
    for (n, state) in db.waiting_states(TIMER_ID).await {
        assert_ne!(state, State::Broken, "timer #{n} is consistent");
    }
    let running = db.queue_states().await.get("running").copied().unwrap_or(0);
    (running, applied_unanswered)
}

fn state(states: &std::collections::BTreeMap<usize, State>, n: usize, op: &Op) -> State {
    let state = *states
        .get(&n)
        .unwrap_or_else(|| panic!("no instance for {op:?}"));
    assert_ne!(
        state,
        State::Broken,
        "{op:?}: half-applied or applied twice"
    );
    state
}

/// The `n` of every queued event stored under its idempotency key.
async fn queued_keys(db: &Db) -> BTreeSet<usize> {
    db.rows("SELECT key FROM dedup_keys WHERE key LIKE 'queued:%'")
        .await
        .into_iter()
        .filter_map(|row| row[0].rsplit('-').next().and_then(|n| n.parse().ok()))
        .collect()
}

/// Resends every callback that was not acknowledged (as a client does) to `bases`, waits
/// for the queue and the timers, and checks that everything was applied exactly once.
pub async fn settle(setup: &Setup, db: &Db, bases: &[String], ledger: &load::Ledger) -> String {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("http client");
    let (mut resent, mut already_applied) = (0, 0);
    for (index, (op, outcome)) in ledger.ops.iter().zip(&ledger.outcomes).enumerate() {
        if outcome == &Some(Outcome::Acknowledged) {
            continue;
        }
        resent += 1;
        let base = &bases[index % bases.len()];
        let mut attempts = 0;
        loop {
            match load::send(&client, base, op).await {
                Outcome::Acknowledged => break,
                // 409 from K2 REST, a SOAP Client fault (HTTP 500) from FinishServerItem.
                Outcome::Refused(409 | 500, body) if body.contains("item_not_open") => {
                    assert!(outcome.is_some(), "{op:?} was never sent, yet applied");
                    already_applied += 1;
                    break;
                }
                Outcome::Refused(503, _) | Outcome::NoAnswer(_) if attempts < 100 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => panic!("resending {op:?}: {other:?}"),
            }
        }
    }
    let n = setup.instances;
    let timers = n / 2;
    load::wait_until(
        "the queue is delivered and the timers have fired",
        Duration::from_secs(120),
        async || {
            db.queue_states().await.get("done").copied() == Some(n)
                && db
                    .waiting_states(TIMER_ID)
                    .await
                    .values()
                    .all(|s| *s == State::Applied)
        },
    )
    .await;
    for (workflow, count) in [(ITEM_ID, n), (EVENT_ID, n), (TIMER_ID, timers)] {
        let states = db.waiting_states(workflow).await;
        assert_eq!(states.len(), count, "{workflow}: one instance each");
        for (k, state) in states {
            assert_eq!(
                state,
                State::Applied,
                "{workflow} #{k} applied exactly once"
            );
        }
    }
    let started = db.started_per_n(QUEUED_ID).await;
    assert_eq!(started.len(), n, "every queued event started an instance");
    assert!(
        started.values().all(|count| *count == 1),
        "no queued event started two instances"
    );
    let queue = db.queue_states().await;
    assert_eq!(queue.len(), 1, "every queue row is done: {queue:?}");
    assert_eq!(db.duplicate_history().await, 0, "no duplicate history rows");
    let redelivered = db
        .count("SELECT count(*) FROM inbound_events WHERE attempts > 1")
        .await;
    format!(
        "resent {resent} (of them {already_applied} refused as already finished); queue: \
         {n} rows each delivered once ({redelivered} on a second attempt: after a lease ran out or a failed delivery); \
         {timers} deadlines fired once each; lost 0, duplicated 0"
    )
}
