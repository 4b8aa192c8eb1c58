//! Read-only overview queries on PostgreSQL: instances for the admin page, and the counts
//! and lags that `/metrics` exports. Each count is served by a partial or state index.

use super::{INSTANCE_COLUMNS, PgTx, instance_row};
use crate::store::StoreError;
use crate::store::model::{InboundState, InstanceFilter, InstanceRow, StoreStats, WaitKind};

impl PgTx {
    pub(super) async fn list_instance_rows(
        &mut self,
        filter: &InstanceFilter,
    ) -> Result<Vec<InstanceRow>, StoreError> {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances \
             WHERE ($1::text IS NULL OR workflow_id = $1) AND ($2::text IS NULL OR status = $2) \
             AND ($3::text[] IS NULL OR workflow_id = ANY($3)) ORDER BY id DESC LIMIT $4"
        );
        let rows = self
            .rows(
                &sql,
                &[
                    &filter.workflow_id,
                    &filter.status.map(|s| s.as_str()),
                    &filter.workflow_ids,
                    &filter.limit,
                ],
            )
            .await?;
        rows.iter().map(instance_row).collect()
    }

    async fn counted(&mut self, sql: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = self.rows(sql, &[]).await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    pub(super) async fn store_stats(&mut self, now: i64) -> Result<StoreStats, StoreError> {
        let open_waits = self
            .counted(
                "SELECT kind, COUNT(*) FROM waits WHERE state = 'open' GROUP BY kind ORDER BY kind",
            )
            .await?
            .into_iter()
            .filter_map(|(kind, n)| WaitKind::parse(&kind).map(|kind| (kind, n)))
            .collect();
        let inbound = self
            .counted("SELECT state, COUNT(*) FROM inbound_events GROUP BY state ORDER BY state")
            .await?
            .into_iter()
            .filter_map(|(state, n)| InboundState::parse(&state).map(|state| (state, n)))
            .collect();
        let scalar = |row: Option<tokio_postgres::Row>| -> Result<Option<i64>, StoreError> {
            match row {
                Some(row) => Ok(row.try_get(0)?),
                None => Ok(None),
            }
        };
        let outbox_backlog = scalar(
            self.row(
                "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'running')",
                &[],
            )
            .await?,
        )?
        .unwrap_or(0);
        let oldest_overdue_deadline = scalar(
            self.row(
                "SELECT MIN(deadline) FROM waits WHERE state = 'open' AND deadline <= $1",
                &[&now],
            )
            .await?,
        )?;
        let oldest_due_inbound = scalar(
            self.row(
                "SELECT MIN(next_attempt_at) FROM inbound_events \
                 WHERE state = 'queued' AND next_attempt_at <= $1",
                &[&now],
            )
            .await?,
        )?;
        Ok(StoreStats {
            open_waits,
            inbound,
            outbox_backlog,
            oldest_overdue_deadline,
            oldest_due_inbound,
        })
    }
}
