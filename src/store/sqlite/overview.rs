//! Read-only overview queries on SQLite: instances for the admin page, and the counts and
//! lags that `/metrics` exports.

use rusqlite::{Connection, params};

use super::{INSTANCE_COLUMNS, instance_row};
use crate::store::StoreError;
use crate::store::model::{InboundState, InstanceFilter, InstanceRow, StoreStats, WaitKind};

pub(super) fn list_instances(
    conn: &Connection,
    filter: &InstanceFilter,
) -> Result<Vec<InstanceRow>, StoreError> {
    let sql = format!(
        "SELECT {INSTANCE_COLUMNS} FROM instances \
         WHERE (?1 IS NULL OR workflow_id = ?1) AND (?2 IS NULL OR status = ?2) \
         AND (?3 IS NULL OR workflow_id IN (SELECT value FROM json_each(?3))) \
         ORDER BY id DESC LIMIT ?4"
    );
    let workflow_ids = filter
        .workflow_ids
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![
            filter.workflow_id,
            filter.status.map(|s| s.as_str()),
            workflow_ids,
            filter.limit
        ],
        instance_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn stats(conn: &Connection, now: i64) -> Result<StoreStats, StoreError> {
    let counted = |sql: &str| -> Result<Vec<(String, i64)>, StoreError> {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    let open_waits = counted(
        "SELECT kind, COUNT(*) FROM waits WHERE state = 'open' GROUP BY kind ORDER BY kind",
    )?
    .into_iter()
    .filter_map(|(kind, n)| WaitKind::parse(&kind).map(|kind| (kind, n)))
    .collect();
    let inbound =
        counted("SELECT state, COUNT(*) FROM inbound_events GROUP BY state ORDER BY state")?
            .into_iter()
            .filter_map(|(state, n)| InboundState::parse(&state).map(|state| (state, n)))
            .collect();
    let outbox_backlog = conn
        .prepare_cached("SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'running')")?
        .query_row([], |row| row.get(0))?;
    let oldest_overdue_deadline = conn
        .prepare_cached("SELECT MIN(deadline) FROM waits WHERE state = 'open' AND deadline <= ?1")?
        .query_row([now], |row| row.get(0))?;
    let oldest_due_inbound = conn
        .prepare_cached(
            "SELECT MIN(next_attempt_at) FROM inbound_events \
             WHERE state = 'queued' AND next_attempt_at <= ?1",
        )?
        .query_row([now], |row| row.get(0))?;
    Ok(StoreStats {
        open_waits,
        inbound,
        outbox_backlog,
        oldest_overdue_deadline,
        oldest_due_inbound,
    })
}
