//! `holdpoint backup FILE` against a real server under load: every callback acknowledged
//! before the backup began is in the copy, the copy is sound (`PRAGMA integrity_check`),
//! the server answers every callback meanwhile, and a server started on the restored
//! copy answers, old serials included. Also what the command refuses.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::process::{Server, holdpoint, output};

const USER: &str = "bk";
const PASSWORD: &str = "bk-secret";
/// Instances per workflow; each gets one callback.
const INSTANCES: usize = 400;
const CLIENTS: usize = 8;

fn workflow(id: &str, name: &str, step: &str) -> String {
    format!(
        "id = \"{id}\"\nname = \"{name}\"\n[fields]\nn = {{ type = \"number\" }}\n\
         [permissions]\nstart = [\"bk\"]\nserver_event = [\"bk\"]\nview = [\"bk\"]\n\
         [[steps]]\nid = \"wait\"\n{step}\ndeadline = \"24h\"\n\
         [[steps]]\nid = \"done\"\nkind = \"end\"\n"
    )
}

/// One callback of the load.
#[derive(Clone, Debug)]
enum Op {
    /// K2 REST finish of a server item.
    Finish { serial: String },
    /// The custom event `bk-{n}` over the JSON API.
    Event { n: usize },
}

async fn send(client: &reqwest::Client, base: &str, op: &Op) -> u16 {
    let request = match op {
        Op::Finish { serial } => client
            .post(format!(
                "{base}/api/workflow/v1/serverEvents/{serial}/finish"
            ))
            .json(&serde_json::json!({"dataFields": {}})),
        Op::Event { n } => client
            .post(format!("{base}/api/v1/events/bk-{n}"))
            .json(&serde_json::json!({"properties": {}})),
    };
    match request.basic_auth(USER, Some(PASSWORD)).send().await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

/// Starts instances `0..count` of `workflow` over CLIENTS connections; their serials
/// (empty for waits without one), by `n`.
async fn start_instances(base: &str, workflow: &str, count: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    let serials = Arc::new(Mutex::new(vec![String::new(); count]));
    let tasks = (0..CLIENTS).map(|worker| {
        let (client, base, workflow, serials) = (
            client.clone(),
            base.to_string(),
            workflow.to_string(),
            serials.clone(),
        );
        tokio::spawn(async move {
            for n in (worker..count).step_by(CLIENTS) {
                let body: serde_json::Value = client
                    .post(format!("{base}/api/v1/workflows/{workflow}/instances"))
                    .basic_auth(USER, Some(PASSWORD))
                    .json(&serde_json::json!({"fields": {"n": n}}))
                    .send()
                    .await
                    .expect("start")
                    .json()
                    .await
                    .expect("json");
                let serial = body.pointer("/instance/waits/0/serial");
                let serial = serial.and_then(|s| s.as_str()).unwrap_or_default();
                serials.lock().expect("serials")[n] = serial.to_string();
            }
        })
    });
    for task in tasks.collect::<Vec<_>>() {
        task.await.expect("starter");
    }
    let serials = Arc::try_unwrap(serials).expect("every starter is done");
    serials.into_inner().expect("serials")
}

/// Acknowledged callbacks: op index and when the answer arrived; and refusals.
#[derive(Default)]
struct Ledger {
    acked: Mutex<Vec<(usize, Instant)>>,
    refused: Mutex<Vec<(usize, u16)>>,
    stop: AtomicBool,
}

fn drive(base: &str, ops: Arc<Vec<Op>>, ledger: Arc<Ledger>) -> Vec<tokio::task::JoinHandle<()>> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = reqwest::Client::new();
    (0..CLIENTS)
        .map(|_| {
            let (ops, ledger, next, client) =
                (ops.clone(), ledger.clone(), next.clone(), client.clone());
            let base = base.to_string();
            tokio::spawn(async move {
                while !ledger.stop.load(Ordering::SeqCst) {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(op) = ops.get(index) else { break };
                    match send(&client, &base, op).await {
                        200..=299 => ledger.acked.lock().unwrap().push((index, Instant::now())),
                        status => ledger.refused.lock().unwrap().push((index, status)),
                    }
                }
            })
        })
        .collect()
}

/// `instance_wait.mac` → wait id.
fn wait_of(serial: &str) -> i64 {
    let plain = serial.split('.').next().unwrap_or_default();
    let wait = plain.split('_').nth(1).unwrap_or_default();
    wait.parse()
        .unwrap_or_else(|_| panic!("a serial: {serial}"))
}

/// Checks the backup file: sound, and holding every op in `acked`.
fn check_backup(file: &Path, ops: &[Op], acked: &[usize]) {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let db = rusqlite::Connection::open_with_flags(file, flags).expect("open the backup");
    let verdict: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity check");
    assert_eq!(verdict, "ok");
    for &index in acked {
        let (state, status): (String, String) = match &ops[index] {
            Op::Finish { serial } => db.query_row(
                "SELECT w.state, i.status FROM waits w JOIN instances i ON i.id = w.instance_id \
                 WHERE w.id = ?1",
                [wait_of(serial)],
                |row| Ok((row.get(0)?, row.get(1)?)),
            ),
            Op::Event { n } => db.query_row(
                "SELECT w.state, i.status FROM waits w JOIN instances i ON i.id = w.instance_id \
                 WHERE w.event_name = ?1",
                [format!("bk-{n}")],
                |row| Ok((row.get(0)?, row.get(1)?)),
            ),
        }
        .unwrap_or_else(|error| panic!("{:?} is in the backup: {error}", ops[index]));
        assert_eq!(
            (state.as_str(), status.as_str()),
            ("finished", "completed"),
            "acknowledged before the backup began: {:?}",
            ops[index]
        );
        if let Op::Finish { serial } = &ops[index] {
            let history: i64 = db
                .query_row(
                    "SELECT count(*) FROM history WHERE wait_id = ?1 \
                     AND kind = 'server_item_finished'",
                    [wait_of(serial)],
                    |row| row.get(0),
                )
                .expect("history");
            assert_eq!(history, 1, "the finish is in the audit trail: {serial}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_load_holds_everything_acknowledged_before_it_and_restores() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (data, workflows) = (dir.path().join("data"), dir.path().join("workflows"));
    std::fs::create_dir_all(&workflows).expect("workflows folder");
    let item = workflow(
        "b0000000-0001-4000-8000-000000000001",
        "bk-item",
        "kind = \"server_event\"",
    );
    let event = workflow(
        "b0000000-0002-4000-8000-000000000002",
        "bk-event",
        "kind = \"wait_event\"\nevent = \"bk-{{ fields.n }}\"",
    );
    std::fs::write(workflows.join("bk-item.toml"), item).expect("workflow");
    std::fs::write(workflows.join("bk-event.toml"), event).expect("workflow");
    let store = ["--data-dir", data.to_str().unwrap()];
    let (ok, out, err) = output(holdpoint(&store).args([
        "accounts",
        "add",
        USER,
        "--password",
        PASSWORD,
        "--right",
        "send_events",
    ]));
    assert!(ok, "{out}{err}");
    let flags = ["--workflows", workflows.to_str().unwrap()];
    let env = [("HOLDPOINT_LOG__LEVEL", "warn")];
    let server = Server::start_with(&flags, &data, &env);

    // One item more than the load finishes: it is finished on the restored copy.
    let mut serials = start_instances(&server.base, "bk-item", INSTANCES + 1).await;
    let spare = serials.pop().expect("the spare item");
    start_instances(&server.base, "bk-event", INSTANCES).await;
    let mut ops = Vec::new();
    for (n, serial) in serials.into_iter().enumerate() {
        ops.push(Op::Finish { serial });
        ops.push(Op::Event { n });
    }
    let ops = Arc::new(ops);
    let ledger = Arc::new(Ledger::default());
    let workers = drive(&server.base, ops.clone(), ledger.clone());
    let give_up = Instant::now() + Duration::from_secs(120);
    while ledger.acked.lock().unwrap().len() < ops.len() / 4 {
        assert!(Instant::now() < give_up, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let file = dir.path().join("holdpoint-backup.db");
    let began = Instant::now();
    let acked_before: Vec<usize> = ledger.acked.lock().unwrap().iter().map(|a| a.0).collect();
    let mut backup = holdpoint(&store);
    backup.args(["backup", file.to_str().unwrap()]);
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || output(&mut backup))
        .await
        .expect("backup process");
    let ended = Instant::now();
    let during = ledger
        .acked
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at)| (began..ended).contains(at))
        .count();
    ledger.stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("load worker");
    }
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("backed up") && stdout.contains("holdpoint-backup.db"),
        "{stdout}"
    );
    assert!(stdout.contains(" bytes ("), "the size is printed: {stdout}");
    assert!(
        during > 0,
        "callbacks were acknowledged while the backup ran"
    );
    let refused = ledger.refused.lock().unwrap().clone();
    assert!(
        refused.is_empty(),
        "the server answered everything: {refused:?}"
    );
    eprintln!(
        "backup: {} callbacks acknowledged before it, {during} while it ran ({} ms)",
        acked_before.len(),
        (ended - began).as_millis()
    );
    check_backup(&file, &ops, &acked_before);

    let (ok, _, stderr) = output(holdpoint(&store).args(["backup", file.to_str().unwrap()]));
    assert!(!ok && stderr.contains("exists already"), "{stderr}");
    assert!(server.terminate(), "clean exit");

    // Restoring: the file in place as the data dir's holdpoint.db, a server started on it.
    let restored = dir.path().join("restored");
    std::fs::create_dir_all(&restored).expect("restored dir");
    std::fs::copy(&file, restored.join("holdpoint.db")).expect("restore");
    let again = Server::start_with(&flags, &restored, &env);
    let client = reqwest::Client::new();
    let ready = client.get(format!("{}/readyz", again.base)).send().await;
    assert_eq!(ready.expect("readyz").status(), 200);
    let finish = Op::Finish { serial: spare };
    assert_eq!(send(&client, &again.base, &finish).await, 204, "old serial");
    let done = acked_before
        .iter()
        .map(|&index| &ops[index])
        .find(|op| matches!(op, Op::Finish { .. }))
        .expect("a finish acknowledged before the backup");
    assert_eq!(
        send(&client, &again.base, done).await,
        409,
        "already finished"
    );
    assert!(again.terminate());
}

#[test]
fn backup_refuses_postgresql_and_a_missing_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("copy.db");
    let (ok, _, stderr) = output(&mut holdpoint(&[
        "--database-url",
        "postgres://nobody@127.0.0.1:1/x",
        "backup",
        file.to_str().unwrap(),
    ]));
    assert!(!ok && stderr.contains("pg_dump"), "{stderr}");
    let (ok, _, stderr) = output(&mut holdpoint(&[
        "--data-dir",
        dir.path().join("none").to_str().unwrap(),
        "backup",
        file.to_str().unwrap(),
    ]));
    assert!(!ok && stderr.contains("no embedded store at"), "{stderr}");
    assert!(!file.exists());
}
