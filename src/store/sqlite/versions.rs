//! Definition versions, the counts a deploy reviews, migration writes and retention on
//! SQLite. The embedded store has one writer at a time (`BEGIN IMMEDIATE`), so the purge
//! needs no `SKIP LOCKED`: nothing else can hold an instance while it runs.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::store::StoreError;
use crate::store::model::{DefinitionRow, LiveCount};

const DEFINITION_COLUMNS: &str = "hash, workflow_id, name, file_name, source, loaded_at";

/// Statuses of instances that have ended; everything else is live.
const ENDED: &str = "('completed', 'failed', 'cancelled')";

fn definition_row(row: &Row<'_>) -> rusqlite::Result<DefinitionRow> {
    Ok(DefinitionRow {
        hash: row.get(0)?,
        workflow_id: row.get(1)?,
        name: row.get(2)?,
        file_name: row.get(3)?,
        source: row.get(4)?,
        loaded_at: row.get(5)?,
    })
}

pub(super) fn insert(conn: &Connection, row: &DefinitionRow) -> Result<bool, StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO definitions (hash, workflow_id, name, file_name, source, loaded_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (hash) DO NOTHING",
        )?
        .execute(params![
            row.hash,
            row.workflow_id,
            row.name,
            row.file_name,
            row.source,
            row.loaded_at
        ])?;
    Ok(inserted == 1)
}

pub(super) fn get(conn: &Connection, hash: &str) -> Result<Option<DefinitionRow>, StoreError> {
    let sql = format!("SELECT {DEFINITION_COLUMNS} FROM definitions WHERE hash = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([hash], definition_row)
        .optional()?)
}

pub(super) fn list(conn: &Connection, workflow_id: &str) -> Result<Vec<DefinitionRow>, StoreError> {
    let sql = format!(
        "SELECT {DEFINITION_COLUMNS} FROM definitions WHERE workflow_id = ?1 \
         ORDER BY loaded_at, hash"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([workflow_id], definition_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn count_live(
    conn: &Connection,
    workflow_id: &str,
) -> Result<Vec<LiveCount>, StoreError> {
    let sql = format!(
        "SELECT definition_hash, current_step, COUNT(*) FROM instances \
         WHERE workflow_id = ?1 AND status NOT IN {ENDED} \
         GROUP BY definition_hash, current_step ORDER BY definition_hash, current_step"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([workflow_id], |row| {
        Ok(LiveCount {
            definition_hash: row.get(0)?,
            current_step: row.get(1)?,
            instances: row.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn live_ids(
    conn: &Connection,
    workflow_id: &str,
    except_hash: &str,
) -> Result<Vec<i64>, StoreError> {
    let sql = format!(
        "SELECT id FROM instances WHERE workflow_id = ?1 AND definition_hash <> ?2 \
         AND status NOT IN {ENDED} ORDER BY id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![workflow_id, except_hash], |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn set_instance_definition(
    conn: &Connection,
    id: i64,
    hash: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE instances SET definition_hash = ?2 WHERE id = ?1")?
        .execute(params![id, hash])?;
    Ok(())
}

pub(super) fn set_wait_step(
    conn: &Connection,
    wait_id: i64,
    step_id: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE waits SET step_id = ?2 WHERE id = ?1")?
        .execute(params![wait_id, step_id])?;
    Ok(())
}

pub(super) fn purge_ended(conn: &Connection, before: i64, limit: i64) -> Result<u64, StoreError> {
    let sql = format!(
        "SELECT id FROM instances WHERE status IN {ENDED} AND updated_at < ?1 \
         ORDER BY updated_at, id LIMIT ?2"
    );
    let ids: Vec<i64> = conn
        .prepare_cached(&sql)?
        .query_map(params![before, limit], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    // Children first: outbox rows refer to waits, waits and history to the instance.
    for table in ["outbox", "history", "waits"] {
        let mut stmt =
            conn.prepare_cached(&format!("DELETE FROM {table} WHERE instance_id = ?1"))?;
        for id in &ids {
            stmt.execute([id])?;
        }
    }
    let mut stmt = conn.prepare_cached("DELETE FROM instances WHERE id = ?1")?;
    for id in &ids {
        stmt.execute([id])?;
    }
    Ok(ids.len() as u64)
}
