//! Moving from the embedded store to PostgreSQL (`holdpoint store copy --to URL`): an
//! embedded store with a wait of every kind, an account, a dead letter, a buffered event
//! and idempotency keys is copied by the CLI; an engine on PostgreSQL with the same
//! workflows then releases every wait by what the outside world still holds (old serials,
//! event names, instance ids), and the keys, the account and the installation's serial
//! key work as before. The copy refuses a database that is not empty, and `store verify`
//! notices a row changed afterwards.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use holdpoint::auth::{Accounts, password};
use holdpoint::engine::access::Right;
use holdpoint::engine::{CustomEvent, InstanceView, StartRequest};
use holdpoint::store::{
    AccountRow, Connections, EventScope, InboundState, InstanceStatus, NewInbound, StoreTarget,
};
use serde_json::{Map, Value, json};
use support::process::{holdpoint, output};
use support::workflows::{EVENT_WAITER, INPUT_WAITER, ORDER_V1, ORDER_V2, SINGLE_ITEM};
use support::{T0, TestEngine, caller, engine_with, props, test_config};

const CALLER: &str = r#"
id = "66666666-6666-4666-8666-666666666666"
name = "caller"
[fields]
url = { type = "string" }
ticket = { type = "string" }
[[steps]]
id = "call"
kind = "call"
url = "{{ fields.url }}/tickets"
method = "POST"
body = '{"instance": {{ instance.id }}}'
headers = { Content-Type = "application/json" }
max_attempts = 5
save = { ticket = "/ticket" }
deadline = "1h"
on_error = "broken"
[[steps]]
id = "done"
kind = "end"
[[steps]]
id = "broken"
kind = "fail"
message = "call failed"
"#;

const WORKFLOWS: &[&str] = &[SINGLE_ITEM, EVENT_WAITER, INPUT_WAITER, CALLER];

async fn start(te: &TestEngine, workflow: &str, fields: Value, event: Value) -> InstanceView {
    let fields = fields.as_object().cloned().unwrap_or_default();
    let request = StartRequest {
        workflow: workflow.into(),
        fields,
        folio: None,
        event,
        caller: caller(),
        idempotency_key: None,
    };
    te.engine.start(request).await.expect("start").instance
}

fn event(name: &str, message_id: Option<&str>) -> CustomEvent {
    CustomEvent {
        name: name.into(),
        properties: Map::new(),
        scope: EventScope::External,
        caller: caller(),
        message_id: message_id.map(String::from),
        ttl: Some(Duration::from_secs(3600)),
    }
}

/// What the outside world holds after the embedded store was filled.
struct Before {
    item: InstanceView,
    serial: String,
    replayable_serial: String,
    waiter: InstanceView,
    input: InstanceView,
    call: InstanceView,
    dead_letter: i64,
    /// A buffered event deleted again: its id must never come back.
    purged_event: i64,
}

/// The first call fails, later ones answer with a ticket.
fn failing_then_answering(n: usize) -> (u16, &'static str) {
    if n == 0 {
        (500, r#"{"error": "not yet"}"#)
    } else {
        (200, r#"{"ticket": "T-1"}"#)
    }
}

async fn fill(te: &TestEngine, call_url: &str, db: &std::path::Path) -> Before {
    let item = start(te, "single-item", json!({}), json!({})).await;
    let serial = item.waits[0].serial.clone().expect("serial");
    let replayable = start(te, "single-item", json!({"note": "x"}), json!({})).await;
    let replayable_serial = replayable.waits[0].serial.clone().expect("serial");
    let finished = te
        .engine
        .finish_server_item(&replayable_serial, &Map::new(), &caller(), Some("once"))
        .await
        .expect("finish with a key");
    assert_eq!(finished.instance.status, InstanceStatus::Completed);
    // Keys JSONB stores in another order (by length), nested, with a float.
    let trigger = json!({"zeta": 1, "alpha": {"bb": [1, 2.5], "a": null}, "mid": "ä"});
    let waiter = start(te, "event-waiter", json!({"key": "a"}), trigger).await;
    let input = start(te, "input-waiter", json!({}), json!({})).await;
    let call = start(te, "caller", json!({"url": call_url}), json!({})).await;
    assert_eq!(te.engine.run_outbox_once().await.expect("outbox"), 1);
    let sent = te
        .engine
        .send_custom_event(&event("go-later", Some("m-1")))
        .await
        .expect("buffered");
    assert!(sent.buffered_id.is_some(), "nobody waits: buffered");

    let mut tx = te.engine.store().begin().await.expect("tx");
    let hash = password::hash("erp-secret").expect("hash");
    let account = AccountRow {
        name: "erp".into(),
        password_hash: hash,
        admin: false,
        rights: vec!["send_events".into()],
        created_at: T0,
        updated_at: T0,
    };
    assert!(tx.insert_account(&account).await.expect("account"));
    let inbound = NewInbound {
        workflow_id: "gone".into(),
        kind: "custom_data".into(),
        payload: b"{\"not\": \"deliverable\"}".to_vec(),
        encrypted: false,
        now: T0,
        expires_at: T0 + 1_000,
    };
    let dead_letter = tx.insert_inbound(&inbound).await.expect("inbound");
    let claimed = tx
        .claim_inbound(T0, T0 + 30_000, "node", 1)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert!(
        tx.dead_letter_inbound(dead_letter, "node", "workflow gone", T0 + 10)
            .await
            .expect("dead letter")
    );
    tx.commit().await.expect("commit");

    let purged_event = te
        .engine
        .send_custom_event(&event("go-purged", None))
        .await
        .expect("buffered")
        .buffered_id
        .expect("an id");
    // Rows the engine has no command for (yet): definitions, whose text keys sort
    // differently byte by byte ("B" < "a") than in most locales; and a purge.
    let conn = rusqlite::Connection::open(db).expect("open the file");
    conn.execute_batch(
        "INSERT INTO definitions VALUES ('a-hash', 'w', 'n', 'a.toml', x'00ff', 1);
         INSERT INTO definitions VALUES ('B-hash', 'w', 'n', 'b.toml', x'', 2);
         DELETE FROM buffered_events WHERE name = 'go-purged';",
    )
    .expect("raw rows");
    // Enough rows for several batches: text keys (500 a batch) and payloads (32 a batch).
    conn.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200)
         INSERT INTO dedup_keys (key, outcome, created_at, expires_at)
             SELECT 'bulk:' || i, CASE WHEN i % 2 = 0 THEN 'x' END, 1, 2 FROM n;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
         INSERT INTO inbound_events (workflow_id, kind, payload, encrypted, state, attempts,
             next_attempt_at, expires_at, received_at, updated_at)
             SELECT 'gone', 'custom_data', randomblob(i), 1, 'done', 1, 1, 2, 1, 1 FROM n;",
    )
    .expect("bulk rows");
    Before {
        item,
        serial,
        replayable_serial,
        waiter,
        input,
        call,
        dead_letter,
        purged_event,
    }
}

fn run_cli(data_dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["--data-dir", data_dir.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    output(&mut holdpoint(&all))
}

async fn sql(url: &str, statement: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client.batch_execute(statement).await.expect("sql");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_moves_to_postgresql_and_every_wait_is_released_there() {
    let Some(url) = support::pg::fresh_database().await else {
        return;
    };
    let calls = support::scripted_server(failing_then_answering).await;
    let embedded = support::sqlite_store().await;
    let StoreTarget::Sqlite { path } = &embedded.target else {
        unreachable!("an embedded store")
    };
    let data_dir = path.parent().expect("data dir").to_path_buf();
    let te = engine_with(embedded.store.clone(), WORKFLOWS, test_config()).await;
    let before = fill(&te, &calls.url, path).await;
    drop(te);
    // An instance on a definition version the PostgreSQL nodes will not have as a file.
    let old = engine_with(embedded.store.clone(), &[ORDER_V1], test_config()).await;
    let on_v1 = start(
        &old,
        "order-fulfilment",
        json!({"order_id": "M1"}),
        json!({}),
    )
    .await;
    drop(old);

    let (ok, stdout, stderr) = run_cli(&data_dir, &["store", "copy", "--to", &url]);
    assert!(ok, "{stdout}{stderr}");
    for table in [
        "settings",
        "accounts",
        "definitions",
        "instances",
        "waits",
        "history",
        "outbox",
        "inbound_events",
        "buffered_events",
        "dedup_keys",
    ] {
        assert!(
            stdout
                .lines()
                .any(|line| line.starts_with(&format!("{table} ")) && line.ends_with("  ok")),
            "{table} verified: {stdout}"
        );
    }
    assert!(stdout.contains("verified: "), "{stdout}");
    let rows = |table: &str| {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(&format!("{table} ")));
        let count = line.and_then(|line| line.split_whitespace().nth(1));
        count.and_then(|count| count.parse::<u64>().ok())
    };
    assert_eq!(rows("dedup_keys"), Some(1202), "{stdout}");
    assert_eq!(rows("inbound_events"), Some(101), "{stdout}");

    // `store verify` agrees, notices a changed row, and agrees again once it is undone.
    let (ok, stdout, stderr) = run_cli(&data_dir, &["store", "verify", "--against", &url]);
    assert!(ok && stdout.contains("the same"), "{stdout}{stderr}");
    let wait = before.input.waits[0].id;
    sql(
        &url,
        &format!("UPDATE waits SET deadline = deadline + 1 WHERE id = {wait}"),
    )
    .await;
    let (ok, stdout, stderr) = run_cli(&data_dir, &["store", "verify", "--against", &url]);
    assert!(!ok, "a changed deadline is noticed: {stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("waits ") && l.contains("MISMATCH")),
        "{stdout}"
    );
    assert!(
        stderr.contains("differs from the embedded store in waits"),
        "{stderr}"
    );
    sql(
        &url,
        &format!("UPDATE waits SET deadline = deadline - 1 WHERE id = {wait}"),
    )
    .await;
    let (ok, stdout, _) = run_cli(&data_dir, &["store", "verify", "--against", &url]);
    assert!(ok, "{stdout}");

    let target = StoreTarget::Postgres {
        url: url.clone(),
        connections: Connections {
            pool_size: 4,
            ..Connections::ONE
        },
    };
    let pg = holdpoint::store::open(&target)
        .await
        .expect("postgres store");
    let te = engine_with(pg.clone(), WORKFLOWS, test_config()).await;
    let completed = async |id: i64| {
        let view = te.engine.get(id, &caller()).await.expect("instance");
        assert_eq!(view.status, InstanceStatus::Completed, "{view:?}");
        view
    };

    // server_event: the serial issued before the move still verifies.
    te.engine
        .finish_server_item(&before.serial, &Map::new(), &caller(), None)
        .await
        .expect("finish by the old serial");
    completed(before.item.id).await;
    let replayed = te
        .engine
        .finish_server_item(
            &before.replayable_serial,
            &Map::new(),
            &caller(),
            Some("once"),
        )
        .await
        .expect("replay");
    assert!(
        replayed.replayed,
        "the idempotency key answers the first outcome"
    );

    // wait_event, by its name; the trigger event came through JSONB unchanged.
    let woken = te
        .engine
        .send_custom_event(&event("go-a", None))
        .await
        .expect("event");
    assert_eq!(woken.woken, [before.waiter.id]);
    let waiter = completed(before.waiter.id).await;
    assert_eq!(waiter.id, before.waiter.id);
    let duplicate = te
        .engine
        .send_custom_event(&event("go-later", Some("m-1")))
        .await
        .expect("repeat");
    assert!(duplicate.duplicate, "the message id is remembered");

    // wait_input, by instance id.
    te.engine
        .answer_input(
            before.input.id,
            &props(&[("approved", json!(true))]),
            &caller(),
        )
        .await
        .expect("answer");
    completed(before.input.id).await;

    // call: its retry is due after the backoff; this node makes it.
    te.clock.advance(Duration::from_secs(120));
    assert_eq!(te.engine.run_outbox_once().await.expect("outbox"), 1);
    let call = completed(before.call.id).await;
    assert_eq!(call.fields["ticket"], json!("T-1"));
    assert_eq!(
        calls.hits.load(Ordering::SeqCst),
        2,
        "one failed, one answered"
    );

    // The copied definition version runs the instance started before the move.
    let newer = engine_with(pg.clone(), &[ORDER_V2], test_config()).await;
    let serial = on_v1.waits[0].serial.clone().expect("serial");
    let done = newer
        .engine
        .finish_server_item(&serial, &Map::new(), &caller(), None)
        .await
        .expect("finish on the copied version")
        .instance;
    assert_eq!(done.fields["path"], json!("v1"), "{done:?}");
    assert_eq!(done.version, on_v1.version);

    // The buffered event is there for a wait that opens now; new rows get fresh ids.
    let later = start(&te, "event-waiter", json!({"key": "later"}), json!({})).await;
    assert_eq!(
        later.status,
        InstanceStatus::Completed,
        "buffered event taken"
    );
    assert!(
        later.id > before.call.id,
        "fresh id {} after the copied ones",
        later.id
    );
    let buffered = te
        .engine
        .send_custom_event(&event("nobody", None))
        .await
        .expect("event");
    assert!(
        buffered.buffered_id > Some(before.purged_event),
        "the id of a purged row is not handed out again: {buffered:?}"
    );

    let accounts = Accounts::new(pg.clone(), Duration::ZERO);
    let erp = accounts
        .authenticate("erp", "erp-secret")
        .await
        .expect("authenticate")
        .expect("the copied account signs in");
    assert!(erp.rights.contains(&Right::SendEvents));

    let mut tx = pg.begin().await.expect("tx");
    let dead = tx
        .get_inbound(before.dead_letter)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(dead.state, InboundState::Dead);
    assert_eq!(dead.last_error.as_deref(), Some("workflow gone"));
    tx.commit().await.expect("commit");

    let (ok, stdout, stderr) = run_cli(&data_dir, &["store", "copy", "--to", &url]);
    assert!(!ok, "a second copy is refused: {stdout}");
    assert!(
        stderr.contains("not empty: table `settings` has rows"),
        "{stderr}"
    );
}

#[tokio::test]
async fn copy_refuses_a_missing_store_and_a_configured_postgresql() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ok, _, stderr) = run_cli(
        dir.path(),
        &["store", "copy", "--to", "postgres://nobody@127.0.0.1:1/x"],
    );
    assert!(!ok && stderr.contains("no embedded store at"), "{stderr}");
    let (ok, _, stderr) = output(&mut holdpoint(&[
        "--database-url",
        "postgres://nobody@127.0.0.1:1/x",
        "store",
        "copy",
        "--to",
        "postgres://nobody@127.0.0.1:1/y",
    ]));
    assert!(
        !ok && stderr.contains("a PostgreSQL store is configured"),
        "{stderr}"
    );
    let (ok, _, stderr) = run_cli(dir.path(), &["store", "copy", "--to", "mysql://x"]);
    assert!(!ok && stderr.contains("postgres:// URL"), "{stderr}");
}
