//! The inbound queue on SQLite. One connection serialises every transaction, so a claim
//! can never race another; the lease-owner checks still matter for the CLI and for rows
//! whose lease ran out.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::enum_column;
use crate::store::StoreError;
use crate::store::model::{InboundFilter, InboundRow, InboundSettlement, InboundState, NewInbound};

const INBOUND_COLUMNS: &str = "id, workflow_id, kind, payload, encrypted, state, attempts, \
     next_attempt_at, expires_at, lease_owner, lease_until, last_error, instance_id, \
     received_at, updated_at";

fn inbound_row(row: &Row<'_>) -> rusqlite::Result<InboundRow> {
    Ok(InboundRow {
        id: row.get(0)?,
        workflow_id: row.get(1)?,
        kind: row.get(2)?,
        payload: row.get(3)?,
        encrypted: row.get(4)?,
        state: enum_column(row, 5, InboundState::parse)?,
        attempts: row.get(6)?,
        next_attempt_at: row.get(7)?,
        expires_at: row.get(8)?,
        lease_owner: row.get(9)?,
        lease_until: row.get(10)?,
        last_error: row.get(11)?,
        instance_id: row.get(12)?,
        received_at: row.get(13)?,
        updated_at: row.get(14)?,
    })
}

pub(super) fn insert(conn: &Connection, new: &NewInbound) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO inbound_events (workflow_id, kind, payload, encrypted, state, \
             next_attempt_at, expires_at, received_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?5, ?5) RETURNING id",
        )?
        .query_row(
            params![
                new.workflow_id,
                new.kind,
                new.payload,
                new.encrypted,
                new.now,
                new.expires_at
            ],
            |row| row.get(0),
        )?)
}

pub(super) fn claim(
    conn: &Connection,
    now: i64,
    lease_until: i64,
    owner: &str,
    limit: i64,
) -> Result<Vec<InboundRow>, StoreError> {
    let sql = format!(
        "UPDATE inbound_events SET state = 'running', attempts = attempts + 1, \
         lease_owner = ?3, lease_until = ?2, updated_at = ?1 WHERE id IN (SELECT id \
         FROM inbound_events WHERE (state = 'queued' AND next_attempt_at <= ?1) \
         OR (state = 'running' AND lease_until <= ?1) ORDER BY next_attempt_at, id LIMIT ?4) \
         RETURNING {INBOUND_COLUMNS}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![now, lease_until, owner, limit], inbound_row)?;
    let mut rows: Vec<InboundRow> = rows.collect::<Result<_, _>>()?;
    rows.sort_by_key(|row| row.id);
    Ok(rows)
}

pub(super) fn settle(
    conn: &Connection,
    id: i64,
    owner: &str,
    to: InboundSettlement<'_>,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE inbound_events SET state = ?3, lease_owner = NULL, lease_until = NULL, \
             next_attempt_at = COALESCE(?4, next_attempt_at), \
             last_error = COALESCE(?5, last_error), \
             instance_id = COALESCE(?6, instance_id), updated_at = ?7 \
             WHERE id = ?1 AND state = 'running' AND lease_owner = ?2",
        )?
        .execute(params![
            id,
            owner,
            to.state.as_str(),
            to.next_attempt_at,
            to.error,
            to.instance_id,
            now
        ])?;
    Ok(changed == 1)
}

pub(super) fn get(conn: &Connection, id: i64) -> Result<Option<InboundRow>, StoreError> {
    let sql = format!("SELECT {INBOUND_COLUMNS} FROM inbound_events WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], inbound_row)
        .optional()?)
}

pub(super) fn list(
    conn: &Connection,
    filter: &InboundFilter,
) -> Result<Vec<InboundRow>, StoreError> {
    let sql = format!(
        "SELECT {INBOUND_COLUMNS} FROM inbound_events WHERE (?1 IS NULL OR state = ?1) \
         AND (?2 IS NULL OR workflow_id = ?2) \
         AND (?4 IS NULL OR workflow_id IN (SELECT value FROM json_each(?4))) \
         ORDER BY id DESC LIMIT ?3"
    );
    let workflow_ids = filter
        .workflow_ids
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![
            filter.state.map(InboundState::as_str),
            filter.workflow_id,
            filter.limit,
            workflow_ids
        ],
        inbound_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn requeue(
    conn: &Connection,
    id: i64,
    now: i64,
    expires_at: i64,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE inbound_events SET state = 'queued', next_attempt_at = ?2, \
             expires_at = ?3, updated_at = ?2 WHERE id = ?1 AND state = 'dead'",
        )?
        .execute(params![id, now, expires_at])?;
    Ok(changed == 1)
}

pub(super) fn release_leases(conn: &Connection, owner: &str, now: i64) -> Result<u64, StoreError> {
    let released = conn
        .prepare_cached(
            "UPDATE inbound_events SET state = 'queued', lease_owner = NULL, \
             lease_until = NULL, next_attempt_at = ?2, updated_at = ?2 \
             WHERE state = 'running' AND lease_owner = ?1",
        )?
        .execute(params![owner, now])?;
    Ok(released as u64)
}
