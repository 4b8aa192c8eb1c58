//! The statements behind the runners' tables that take more than one step: settling a
//! leased inbound row, retention's purge of ended instances, and the overview's counts.

use super::row::FromRow;
use super::statements as sql;
use super::{Conn, SqlTx, args};
use crate::store::StoreError;
use crate::store::model::{InboundState, StoreStats, WaitKind};

impl<C: Conn> SqlTx<C> {
    /// Leases up to `limit` due rows to `owner` until `lease_until` with `claim` (the
    /// outbox's or the inbound queue's), in id order: `UPDATE … RETURNING` gives them in
    /// no particular order, and runners work through a batch oldest first.
    pub(super) async fn lease<T: FromRow>(
        &mut self,
        claim: &'static str,
        (now, lease_until): (i64, i64),
        owner: &str,
        limit: i64,
        id: fn(&T) -> i64,
    ) -> Result<Vec<T>, StoreError> {
        let mut rows: Vec<T> = self
            .all(claim, args![now, lease_until, owner, limit])
            .await?;
        rows.sort_by_key(id);
        Ok(rows)
    }
}

/// Where a leased inbound row goes next.
#[derive(Debug, Clone, Copy)]
pub(super) struct InboundSettlement<'a> {
    state: InboundState,
    next_attempt_at: Option<i64>,
    error: Option<&'a str>,
    instance_id: Option<i64>,
}

impl<'a> InboundSettlement<'a> {
    pub(super) fn done(instance_id: Option<i64>) -> Self {
        let state = InboundState::Done;
        let (next_attempt_at, error) = (None, None);
        Self {
            state,
            next_attempt_at,
            error,
            instance_id,
        }
    }

    pub(super) fn postponed(next_attempt_at: i64, error: &'a str) -> Self {
        let (state, next_attempt_at) = (InboundState::Queued, Some(next_attempt_at));
        Self {
            state,
            next_attempt_at,
            error: Some(error),
            instance_id: None,
        }
    }

    pub(super) fn dead(error: &'a str) -> Self {
        let state = InboundState::Dead;
        Self {
            state,
            next_attempt_at: None,
            error: Some(error),
            instance_id: None,
        }
    }
}

impl<C: Conn> SqlTx<C> {
    /// Moves a leased row on; true when `owner` still held it. A row queued again is
    /// work for the runners.
    pub(super) async fn settle_inbound(
        &mut self,
        id: i64,
        owner: &str,
        to: InboundSettlement<'_>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (state, error) = (to.state.as_str(), to.error);
        let params = args![
            id,
            owner,
            state,
            to.next_attempt_at,
            error,
            to.instance_id,
            now
        ];
        let changed = self.exec(sql::SETTLE_INBOUND, params).await?;
        if to.state == InboundState::Queued {
            self.gives_runners_work();
        }
        Ok(changed == 1)
    }

    /// Deletes up to `limit` ended instances last updated before `before`, children
    /// first; on PostgreSQL only those no other transaction holds.
    pub(super) async fn purge_ended(&mut self, before: i64, limit: i64) -> Result<u64, StoreError> {
        let statements = Self::dialected();
        let select = statements.ended_instances.as_str();
        let ids: Vec<i64> = self.all(select, args![before, limit]).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        for delete in &statements.purge_instances {
            self.exec(delete.as_str(), args![ids.as_slice()]).await?;
        }
        Ok(ids.len() as u64)
    }

    /// What operators watch, at `now`.
    pub(super) async fn counts_at(&mut self, now: i64) -> Result<StoreStats, StoreError> {
        Ok(StoreStats {
            open_waits: self.counted(sql::COUNT_OPEN_WAITS, WaitKind::parse).await?,
            inbound: self
                .counted(sql::COUNT_INBOUND, InboundState::parse)
                .await?,
            outbox_backlog: self.scalar(sql::OUTBOX_BACKLOG, None).await?.unwrap_or(0),
            oldest_overdue_deadline: self.scalar(sql::OLDEST_OVERDUE_DEADLINE, Some(now)).await?,
            oldest_due_inbound: self.scalar(sql::OLDEST_DUE_INBOUND, Some(now)).await?,
        })
    }

    /// Word counts (`GROUP BY`) read as one of the model's enums; unknown words dropped.
    async fn counted<T>(
        &mut self,
        sql: &'static str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Vec<(T, i64)>, StoreError> {
        let counts: Vec<(String, i64)> = self.all(sql, Vec::new()).await?;
        let known = counts
            .into_iter()
            .filter_map(|(word, n)| Some((parse(&word)?, n)));
        Ok(known.collect())
    }

    /// A single number, `NULL` over no rows (`MIN`).
    async fn scalar(
        &mut self,
        sql: &'static str,
        now: Option<i64>,
    ) -> Result<Option<i64>, StoreError> {
        let params = now.map(|now| args![now]).unwrap_or_default();
        let value: Option<Option<i64>> = self.one(sql, params).await?;
        Ok(value.flatten())
    }
}
