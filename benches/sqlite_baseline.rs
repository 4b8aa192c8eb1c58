//! The embedded store's ceiling: a plain rusqlite loop running, per callback, the same
//! statements Holdpoint's SQLite store runs for one (DESIGN §8: "same measurement on the
//! embedded store, against raw rusqlite"). One connection, WAL, `synchronous = FULL`, the
//! planner's stability guarantee, `BEGIN IMMEDIATE` … `COMMIT`, cached statements, rows
//! read into values: what `src/store/sqlite.rs` does, minus the engine and HTTP.
//!
//!     cargo bench --bench sqlite_baseline -- --kind item --count 20000 [--dir /tmp/x]
//!
//! `--kind item`: a server item finished by serial (K2 REST or SOAP FinishServerItem);
//! `--kind event`: a custom event waking the one instance waiting for it. The schema comes
//! from Holdpoint's own migrations; the waits are inserted before the clock starts.

use std::time::{Duration, Instant};

use holdpoint::store::StoreTarget;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, params};

const WAIT_COLUMNS: &str =
    "id, instance_id, step_id, kind, event_name, scope, state, deadline, created_at, closed_at";
const INSTANCE_COLUMNS: &str = "id, workflow_id, definition_hash, folio, status, current_step, \
     fields, trigger_event, reply, error, created_at, updated_at";

struct Args {
    event: bool,
    count: usize,
    dir: Option<std::path::PathBuf>,
}

fn parse_args() -> Args {
    let mut parsed = Args {
        event: false,
        count: 20_000,
        dir: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--kind" => parsed.event = args.next().as_deref() == Some("event"),
            "--count" => {
                parsed.count = args.next().and_then(|n| n.parse().ok()).expect("--count N")
            }
            "--dir" => parsed.dir = args.next().map(Into::into),
            _ => {}
        }
    }
    parsed
}

fn main() -> rusqlite::Result<()> {
    let args = parse_args();
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let path = dir.join("baseline.db");
    let _ = std::fs::remove_file(&path);
    // Holdpoint's migrations make the schema (and its indexes).
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(holdpoint::store::open(&StoreTarget::Sqlite {
            path: path.clone(),
        }))
        .expect("store");

    let mut conn = Connection::open(&path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // As Holdpoint's connection (`store::sqlite`), so that both plan alike.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    let waits = prepare(&mut conn, args.count, args.event)?;

    let mut latencies = Vec::with_capacity(waits.len());
    let started = Instant::now();
    for (n, &(wait_id, instance_id)) in waits.iter().enumerate() {
        let begun = Instant::now();
        callback(&conn, args.event, n, wait_id, instance_id)?;
        latencies.push(begun.elapsed());
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "sqlite_baseline kind={} tps={:.1} p50_ms={:.3} p99_ms={:.3} callbacks={}",
        if args.event { "event" } else { "item" },
        latencies.len() as f64 / seconds,
        p(0.50).as_secs_f64() * 1000.0,
        p(0.99).as_secs_f64() * 1000.0,
        latencies.len()
    );
    Ok(())
}

/// `count` instances, each with one open wait, as Holdpoint's start would leave them.
fn prepare(conn: &mut Connection, count: usize, event: bool) -> rusqlite::Result<Vec<(i64, i64)>> {
    let now = chrono::Utc::now().timestamp_millis();
    let tx = conn.transaction()?;
    let mut out = Vec::with_capacity(count);
    for n in 0..count {
        let instance: i64 = tx.query_row(
            "INSERT INTO instances (workflow_id, definition_hash, folio, status, fields, \
             trigger_event, created_at, updated_at, current_step) \
             VALUES ('bench', 'hash', 'bench', 'waiting', ?1, '{}', ?2, ?2, 'wait') RETURNING id",
            params![format!("{{\"n\": {n}}}"), now],
            |row| row.get(0),
        )?;
        let (kind, name, scope) = if event {
            ("custom_event", Some(format!("bench-{n}")), Some("external"))
        } else {
            ("server_item", None, None)
        };
        let wait: i64 = tx.query_row(
            "INSERT INTO waits (instance_id, step_id, kind, event_name, scope, state, deadline, \
             created_at) VALUES (?1, 'wait', ?2, ?3, ?4, 'open', ?5, ?6) RETURNING id",
            params![instance, kind, name, scope, now + 86_400_000, now],
            |row| row.get(0),
        )?;
        out.push((wait, instance));
    }
    tx.commit()?;
    Ok(out)
}

type WaitValues = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
);

fn read_wait(row: &rusqlite::Row<'_>) -> rusqlite::Result<WaitValues> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
    ))
}

/// One callback's statements, in the order the engine issues them.
fn callback(
    conn: &Connection,
    event: bool,
    n: usize,
    wait_id: i64,
    instance_id: i64,
) -> rusqlite::Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let wait = if event {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {WAIT_COLUMNS} FROM waits WHERE state = 'open' AND event_name = ?1 \
             AND scope = ?2 ORDER BY instance_id, id"
        ))?;
        let rows: Vec<WaitValues> = stmt
            .query_map(params![format!("bench-{n}"), "external"], read_wait)?
            .collect::<Result<_, _>>()?;
        rows.into_iter().next()
    } else {
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {WAIT_COLUMNS} FROM waits WHERE id = ?1"))?;
        Some(stmt.query_row(params![wait_id], read_wait)?)
    };
    assert_eq!(wait.map(|w| w.0), Some(wait_id), "the prepared wait");
    let fields: String = conn
        .prepare_cached(&format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = ?1"
        ))?
        .query_row(params![instance_id], |row| row.get(6))?;
    let parsed: serde_json::Value = serde_json::from_str(&fields).expect("fields");
    conn.prepare_cached(
        "UPDATE waits SET state = ?2, closed_at = ?3 WHERE id = ?1 AND state = 'open'",
    )?
    .execute(params![wait_id, "finished", now])?;
    if !event {
        conn.prepare_cached(
            "UPDATE outbox SET state = 'cancelled', lease_owner = NULL, lease_until = NULL, \
             updated_at = ?2 WHERE wait_id = ?1 AND state IN ('pending', 'running')",
        )?
        .execute(params![wait_id, now])?;
    }
    let (first_kind, dialect, detail) = if event {
        ("event_received", "orchestrator", r#"{"ignored":[]}"#)
    } else {
        ("server_item_finished", "k2", r#"{"fields":[]}"#)
    };
    let mut history = conn.prepare_cached(
        "INSERT INTO history (instance_id, at, kind, step_id, wait_id, actor, dialect, \
         source, message_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    history.execute(params![
        instance_id,
        now,
        first_kind,
        "wait",
        wait_id,
        "bench",
        dialect,
        "127.0.0.1",
        None::<String>,
        detail
    ])?;
    history.execute(params![
        instance_id,
        now,
        "completed",
        "done",
        None::<i64>,
        "bench",
        dialect,
        "127.0.0.1",
        None::<String>,
        "{}"
    ])?;
    conn.prepare_cached(
        "UPDATE instances SET status = ?2, current_step = ?3, fields = ?4, reply = ?5, \
         error = ?6, updated_at = ?7 WHERE id = ?1",
    )?
    .execute(params![
        instance_id,
        "completed",
        None::<String>,
        parsed.to_string(),
        None::<String>,
        None::<String>,
        now
    ])?;
    conn.execute_batch("COMMIT")
}
