//! Definition versions, the counts a deploy reviews, migration writes and retention on
//! PostgreSQL. The purge claims its instances `FOR UPDATE SKIP LOCKED`, so timer loops on
//! several nodes purge different batches, and an instance a command holds is left alone.

use tokio_postgres::Row;

use super::{PgTx, StoreError};
use crate::store::model::{DefinitionRow, LiveCount};

const DEFINITION_COLUMNS: &str = "hash, workflow_id, name, file_name, source, loaded_at";

fn definition_row(row: &Row) -> Result<DefinitionRow, StoreError> {
    Ok(DefinitionRow {
        hash: row.try_get(0)?,
        workflow_id: row.try_get(1)?,
        name: row.try_get(2)?,
        file_name: row.try_get(3)?,
        source: row.try_get(4)?,
        loaded_at: row.try_get(5)?,
    })
}

impl PgTx {
    pub(super) async fn insert_definition_row(
        &mut self,
        row: &DefinitionRow,
    ) -> Result<bool, StoreError> {
        let inserted = self
            .execute(
                "INSERT INTO definitions (hash, workflow_id, name, file_name, source, loaded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hash) DO NOTHING",
                &[
                    &row.hash,
                    &row.workflow_id,
                    &row.name,
                    &row.file_name,
                    &row.source,
                    &row.loaded_at,
                ],
            )
            .await?;
        Ok(inserted == 1)
    }

    pub(super) async fn definition_row(
        &mut self,
        hash: &str,
    ) -> Result<Option<DefinitionRow>, StoreError> {
        let sql = format!("SELECT {DEFINITION_COLUMNS} FROM definitions WHERE hash = $1");
        self.row(&sql, &[&hash])
            .await?
            .as_ref()
            .map(definition_row)
            .transpose()
    }

    pub(super) async fn definition_rows(
        &mut self,
        workflow_id: &str,
    ) -> Result<Vec<DefinitionRow>, StoreError> {
        let sql = format!(
            "SELECT {DEFINITION_COLUMNS} FROM definitions WHERE workflow_id = $1 \
             ORDER BY loaded_at, hash"
        );
        let rows = self.rows(&sql, &[&workflow_id]).await?;
        rows.iter().map(definition_row).collect()
    }

    pub(super) async fn live_counts(
        &mut self,
        workflow_id: &str,
    ) -> Result<Vec<LiveCount>, StoreError> {
        let rows = self
            .rows(
                "SELECT definition_hash, current_step, COUNT(*) FROM instances \
                 WHERE workflow_id = $1 AND status NOT IN ('completed', 'failed', 'cancelled') \
                 GROUP BY definition_hash, current_step ORDER BY definition_hash, current_step",
                &[&workflow_id],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(LiveCount {
                    definition_hash: row.try_get(0)?,
                    current_step: row.try_get(1)?,
                    instances: row.try_get(2)?,
                })
            })
            .collect()
    }

    pub(super) async fn live_ids(
        &mut self,
        workflow_id: &str,
        except_hash: &str,
    ) -> Result<Vec<i64>, StoreError> {
        let rows = self
            .rows(
                "SELECT id FROM instances WHERE workflow_id = $1 AND definition_hash <> $2 \
                 AND status NOT IN ('completed', 'failed', 'cancelled') ORDER BY id",
                &[&workflow_id, &except_hash],
            )
            .await?;
        rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
    }

    pub(super) async fn purge_ended(&mut self, before: i64, limit: i64) -> Result<u64, StoreError> {
        let rows = self
            .rows(
                "SELECT id FROM instances WHERE status IN ('completed', 'failed', 'cancelled') \
                 AND updated_at < $1 ORDER BY updated_at, id LIMIT $2 FOR UPDATE SKIP LOCKED",
                &[&before, &limit],
            )
            .await?;
        let ids: Vec<i64> = rows
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Ok(0);
        }
        // Children first: outbox rows refer to waits, waits and history to the instance.
        for sql in [
            "DELETE FROM outbox WHERE instance_id = ANY($1)",
            "DELETE FROM history WHERE instance_id = ANY($1)",
            "DELETE FROM waits WHERE instance_id = ANY($1)",
            "DELETE FROM instances WHERE id = ANY($1)",
        ] {
            self.execute(sql, &[&ids]).await?;
        }
        Ok(ids.len() as u64)
    }
}
