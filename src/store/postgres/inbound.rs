//! The inbound queue on PostgreSQL: claims use `FOR UPDATE SKIP LOCKED`, so runners on
//! several nodes never take the same row; settling a row checks the lease owner, so a
//! node whose lease ran out (and was reclaimed) cannot settle it any more.

use tokio_postgres::Row;

use super::{PgTx, StoreError, parsed};
use crate::store::model::{InboundFilter, InboundRow, InboundSettlement, InboundState, NewInbound};

const INBOUND_COLUMNS: &str = "id, workflow_id, kind, payload, encrypted, state, attempts, \
     next_attempt_at, expires_at, lease_owner, lease_until, last_error, instance_id, \
     received_at, updated_at";

fn inbound_row(row: &Row) -> Result<InboundRow, StoreError> {
    Ok(InboundRow {
        id: row.try_get(0)?,
        workflow_id: row.try_get(1)?,
        kind: row.try_get(2)?,
        payload: row.try_get(3)?,
        encrypted: row.try_get(4)?,
        state: parsed(row.try_get(5)?, InboundState::parse)?,
        attempts: row.try_get(6)?,
        next_attempt_at: row.try_get(7)?,
        expires_at: row.try_get(8)?,
        lease_owner: row.try_get(9)?,
        lease_until: row.try_get(10)?,
        last_error: row.try_get(11)?,
        instance_id: row.try_get(12)?,
        received_at: row.try_get(13)?,
        updated_at: row.try_get(14)?,
    })
}

impl PgTx {
    pub(super) async fn insert_inbound_row(&mut self, new: &NewInbound) -> Result<i64, StoreError> {
        let row = self
            .row(
                "INSERT INTO inbound_events (workflow_id, kind, payload, encrypted, state, \
                 next_attempt_at, expires_at, received_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'queued', $5, $6, $5, $5) RETURNING id",
                &[
                    &new.workflow_id,
                    &new.kind,
                    &new.payload,
                    &new.encrypted,
                    &new.now,
                    &new.expires_at,
                ],
            )
            .await?
            .ok_or_else(|| StoreError::Other("insert returned no id".into()))?;
        self.signal = true;
        Ok(row.try_get(0)?)
    }

    pub(super) async fn claim_inbound_rows(
        &mut self,
        now: i64,
        lease_until: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<InboundRow>, StoreError> {
        let sql = format!(
            "UPDATE inbound_events SET state = 'running', attempts = attempts + 1, \
             lease_owner = $3, lease_until = $2, updated_at = $1 WHERE id IN (SELECT id \
             FROM inbound_events WHERE (state = 'queued' AND next_attempt_at <= $1) \
             OR (state = 'running' AND lease_until <= $1) ORDER BY next_attempt_at, id \
             LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING {INBOUND_COLUMNS}"
        );
        let rows = self
            .rows(&sql, &[&now, &lease_until, &owner, &limit])
            .await?;
        let mut rows: Vec<InboundRow> = rows.iter().map(inbound_row).collect::<Result<_, _>>()?;
        rows.sort_by_key(|row| row.id);
        Ok(rows)
    }

    /// Moves a leased row on; true when `owner` still held it.
    pub(super) async fn settle_inbound_row(
        &mut self,
        id: i64,
        owner: &str,
        to: InboundSettlement<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let InboundSettlement {
            state,
            next_attempt_at,
            error,
            instance_id,
        } = to;
        let changed = self
            .execute(
                "UPDATE inbound_events SET state = $3, lease_owner = NULL, lease_until = NULL, \
                 next_attempt_at = COALESCE($4, next_attempt_at), \
                 last_error = COALESCE($5, last_error), \
                 instance_id = COALESCE($6, instance_id), updated_at = $7 \
                 WHERE id = $1 AND state = 'running' AND lease_owner = $2",
                &[
                    &id,
                    &owner,
                    &state.as_str(),
                    &next_attempt_at,
                    &error,
                    &instance_id,
                    &now,
                ],
            )
            .await?;
        if state == InboundState::Queued {
            self.signal = true;
        }
        Ok(changed == 1)
    }

    pub(super) async fn get_inbound_row(
        &mut self,
        id: i64,
    ) -> Result<Option<InboundRow>, StoreError> {
        let sql = format!("SELECT {INBOUND_COLUMNS} FROM inbound_events WHERE id = $1");
        self.row(&sql, &[&id])
            .await?
            .as_ref()
            .map(inbound_row)
            .transpose()
    }

    pub(super) async fn list_inbound_rows(
        &mut self,
        filter: &InboundFilter,
    ) -> Result<Vec<InboundRow>, StoreError> {
        let sql = format!(
            "SELECT {INBOUND_COLUMNS} FROM inbound_events WHERE ($1::text IS NULL OR state = $1) \
             AND ($2::text IS NULL OR workflow_id = $2) \
             AND ($4::text[] IS NULL OR workflow_id = ANY($4)) ORDER BY id DESC LIMIT $3"
        );
        let state = filter.state.map(InboundState::as_str);
        let rows = self
            .rows(
                &sql,
                &[
                    &state,
                    &filter.workflow_id,
                    &filter.limit,
                    &filter.workflow_ids,
                ],
            )
            .await?;
        rows.iter().map(inbound_row).collect()
    }

    pub(super) async fn requeue_inbound_row(
        &mut self,
        id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                "UPDATE inbound_events SET state = 'queued', next_attempt_at = $2, \
                 expires_at = $3, updated_at = $2 WHERE id = $1 AND state = 'dead'",
                &[&id, &now, &expires_at],
            )
            .await?;
        self.signal = true;
        Ok(changed == 1)
    }

    pub(super) async fn release_inbound_row_leases(
        &mut self,
        owner: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        let released = self
            .execute(
                "UPDATE inbound_events SET state = 'queued', lease_owner = NULL, \
                 lease_until = NULL, next_attempt_at = $2, updated_at = $2 \
                 WHERE state = 'running' AND lease_owner = $1",
                &[&owner, &now],
            )
            .await?;
        self.signal = true;
        Ok(released)
    }
}
