//! [`Tx`] for every SQL backend: each method is one statement (or a short fixed series)
//! from [`super::statements`], its parameters, and the mapper of its rows.

use async_trait::async_trait;

use super::param::Param;
use super::statements as sql;
use super::upkeep::InboundSettlement;
use super::{Conn, Dialect, SqlTx, args, filter};
use crate::store::model::{
    AccountRow, BufferedEventRow, DedupClaim, DefinitionRow, DueCount, EventScope, HistoryRow,
    InboundFilter, InboundRow, InstanceFilter, InstanceRow, ListScope, LiveCount, NewBufferedEvent,
    NewHistory, NewInbound, NewInstance, NewOutbox, NewWait, OutboxRow, OutboxState, StepCount,
    StoreStats, WaitFilter, WaitRow, WaitState,
};
use crate::store::{StoreError, Tx};

/// Each wait with its instance, for the waits whose instance is among `instances`; both
/// lists come sorted by instance id (waits then by id). An instance's row is moved into
/// its last pair and copied only for the others (most instances wait once).
fn pair_waits_with_instances(
    instances: Vec<InstanceRow>,
    waits: Vec<WaitRow>,
) -> Vec<(InstanceRow, WaitRow)> {
    let mut waits = waits.into_iter().peekable();
    let mut pairs = Vec::with_capacity(waits.len());
    for instance in instances {
        // Waits of instances that were not locked (they opened after the lock) are left out.
        while waits
            .next_if(|wait| wait.instance_id < instance.id)
            .is_some()
        {}
        while let Some(wait) = waits.next_if(|wait| wait.instance_id == instance.id) {
            if waits
                .peek()
                .is_some_and(|next| next.instance_id == instance.id)
            {
                pairs.push((instance.clone(), wait));
            } else {
                pairs.push((instance, wait));
                break;
            }
        }
    }
    pairs
}

#[async_trait]
impl<C: Conn> Tx for SqlTx<C> {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        (*self).commit_and_wake().await
    }

    async fn commit_with_waits(
        self: Box<Self>,
        filter: &WaitFilter,
    ) -> Result<Vec<WaitRow>, StoreError> {
        let (sql, params) = filter::waits(C::DIALECT, filter);
        (*self).rows_and_commit(sql.into(), params).await
    }

    async fn setting(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.one(sql::SETTING, args![key]).await
    }

    async fn insert_setting_if_absent(
        &mut self,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let params = args![key, value];
        self.exec(sql::INSERT_SETTING_IF_ABSENT, params).await?;
        Ok(())
    }

    async fn replace_setting(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.exec(sql::REPLACE_SETTING, args![key, value]).await?;
        Ok(())
    }

    async fn insert_instance(&mut self, new: &NewInstance) -> Result<i64, StoreError> {
        let params = args![
            &new.workflow_id,
            &new.definition_hash,
            &new.folio,
            new.status.as_str(),
            Param::object(&new.fields),
            Param::json(&new.trigger_event),
            new.now,
        ];
        self.conn.insert(sql::INSERT_INSTANCE, params).await
    }

    async fn lock_instance(&mut self, id: i64) -> Result<Option<InstanceRow>, StoreError> {
        let lock = Self::dialected().lock_instance.as_str();
        self.one(lock, args![id]).await
    }

    async fn lock_instance_and_get_wait(
        &mut self,
        instance_id: i64,
        wait_id: i64,
    ) -> Result<(Option<InstanceRow>, Option<WaitRow>), StoreError> {
        let lock = Self::dialected().lock_instance.as_str();
        let first = (lock.into(), args![instance_id]);
        let second = (sql::GET_WAIT.into(), args![wait_id]);
        let (instances, waits) = self.conn.rows_of_two(first, second).await?;
        Ok((instances.into_iter().next(), waits.into_iter().next()))
    }

    async fn get_instance(&mut self, id: i64) -> Result<Option<InstanceRow>, StoreError> {
        self.one(sql::GET_INSTANCE, args![id]).await
    }

    async fn get_instances(&mut self, ids: &[i64]) -> Result<Vec<InstanceRow>, StoreError> {
        let get = Self::dialected().get_instances.as_str();
        self.all(get, args![ids]).await
    }

    async fn update_instance(&mut self, row: &InstanceRow) -> Result<(), StoreError> {
        let params = args![
            row.id,
            row.status.as_str(),
            &row.current_step,
            Param::object(&row.fields),
            Param::opt_json(row.reply.as_ref()),
            &row.error,
            row.updated_at,
        ];
        self.conn.defer(sql::UPDATE_INSTANCE, params)
    }

    async fn insert_wait(&mut self, new: &NewWait) -> Result<i64, StoreError> {
        let scope = new.scope.map(EventScope::as_str);
        let params = args![
            new.instance_id,
            &new.step_id,
            new.kind.as_str(),
            &new.event_name,
            scope,
            new.deadline,
            new.now,
        ];
        let id = self.conn.insert(sql::INSERT_WAIT, params).await?;
        self.gives_runners_work();
        Ok(id)
    }

    async fn get_wait(&mut self, id: i64) -> Result<Option<WaitRow>, StoreError> {
        self.one(sql::GET_WAIT, args![id]).await
    }

    async fn close_wait(&mut self, id: i64, to: WaitState, now: i64) -> Result<bool, StoreError> {
        let params = args![id, to.as_str(), now];
        Ok(self.exec(sql::CLOSE_WAIT, params).await? == 1)
    }

    async fn close_wait_read_open(
        &mut self,
        id: i64,
        to: WaitState,
        now: i64,
    ) -> Result<(), StoreError> {
        let params = args![id, to.as_str(), now];
        match C::DIALECT {
            // Checked by the database as it runs, with the next round trip.
            Dialect::Postgres => self.conn.defer(sql::CLOSE_WAIT_READ_OPEN, params),
            Dialect::Sqlite => match self.exec(sql::CLOSE_WAIT, params).await? {
                1 => Ok(()),
                _ => Err(StoreError::Conflict(format!(
                    "wait {id} was closed since it was read"
                ))),
            },
        }
    }

    async fn close_waits(
        &mut self,
        ids: &[i64],
        to: WaitState,
        now: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let close = Self::dialected().close_waits.as_str();
        self.all(close, args![ids, to.as_str(), now]).await
    }

    async fn extend_wait(&mut self, id: i64, deadline: i64) -> Result<bool, StoreError> {
        Ok(self.exec(sql::EXTEND_WAIT, args![id, deadline]).await? == 1)
    }

    async fn lock_open_waits_for_event(
        &mut self,
        name: &str,
        scope: EventScope,
    ) -> Result<Vec<(InstanceRow, WaitRow)>, StoreError> {
        let lock = Self::dialected().lock_waiting_instances.as_str();
        let first = (lock.into(), args![name, scope.as_str()]);
        let second = (
            sql::OPEN_WAITS_FOR_EVENT.into(),
            args![name, scope.as_str()],
        );
        let (instances, waits) = self.conn.rows_of_two(first, second).await?;
        Ok(pair_waits_with_instances(instances, waits))
    }

    async fn lock_due_waits(&mut self, now: i64, limit: i64) -> Result<Vec<WaitRow>, StoreError> {
        let due = Self::dialected().lock_due_waits.as_str();
        self.all(due, args![now, limit]).await
    }

    async fn list_waits(&mut self, filter: &WaitFilter) -> Result<Vec<WaitRow>, StoreError> {
        let (sql, params) = filter::waits(C::DIALECT, filter);
        self.all(sql, params).await
    }

    async fn append_history(&mut self, entry: &NewHistory) -> Result<(), StoreError> {
        let params = args![
            entry.instance_id,
            entry.at,
            &entry.kind,
            &entry.step_id,
            entry.wait_id,
            &entry.actor,
            &entry.dialect,
            &entry.source,
            &entry.message_id,
            Param::json(&entry.detail),
        ];
        self.conn.defer(sql::APPEND_HISTORY, params)
    }

    async fn history(&mut self, instance_id: i64) -> Result<Vec<HistoryRow>, StoreError> {
        self.all(sql::HISTORY, args![instance_id]).await
    }

    async fn buffer_event(&mut self, event: &NewBufferedEvent) -> Result<i64, StoreError> {
        let params = args![
            &event.name,
            event.scope.as_str(),
            Param::object(&event.properties),
            &event.actor,
            event.now,
            event.expires_at,
        ];
        self.conn.insert(sql::BUFFER_EVENT, params).await
    }

    async fn take_buffered_event(
        &mut self,
        name: &str,
        scope: EventScope,
        now: i64,
    ) -> Result<Option<BufferedEventRow>, StoreError> {
        let take = Self::dialected().take_buffered_event.as_str();
        self.one(take, args![name, scope.as_str(), now]).await
    }

    async fn purge_expired(&mut self, now: i64) -> Result<u64, StoreError> {
        let events = self.exec(sql::PURGE_EXPIRED_EVENTS, args![now]).await?;
        let keys = self.exec(sql::PURGE_EXPIRED_KEYS, args![now]).await?;
        Ok(events + keys)
    }

    async fn claim_dedup_key(
        &mut self,
        key: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<DedupClaim, StoreError> {
        self.claim_key(key, now, expires_at).await
    }

    async fn set_dedup_outcome(&mut self, key: &str, outcome: &str) -> Result<(), StoreError> {
        self.exec(sql::SET_KEY_OUTCOME, args![key, outcome]).await?;
        Ok(())
    }

    async fn insert_outbox(&mut self, new: &NewOutbox) -> Result<i64, StoreError> {
        let params = args![
            new.instance_id,
            new.wait_id,
            new.kind.as_str(),
            Param::json(&new.request),
            new.now,
        ];
        let id = self.conn.insert(sql::INSERT_OUTBOX, params).await?;
        self.gives_runners_work();
        Ok(id)
    }

    async fn claim_outbox(
        &mut self,
        now: i64,
        lease_until: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let claim = Self::dialected().claim_outbox.as_str();
        let id = |row: &OutboxRow| row.id;
        self.lease(claim, (now, lease_until), owner, limit, id)
            .await
    }

    async fn get_outbox(&mut self, id: i64) -> Result<Option<OutboxRow>, StoreError> {
        self.one(sql::GET_OUTBOX, args![id]).await
    }

    async fn settle_outbox(
        &mut self,
        id: i64,
        state: OutboxState,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        let params = args![id, state.as_str(), error, now];
        self.exec(sql::SETTLE_OUTBOX, params).await?;
        Ok(())
    }

    async fn reschedule_outbox(
        &mut self,
        id: i64,
        next_attempt_at: i64,
        error: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let params = args![id, next_attempt_at, error, now];
        self.exec(sql::RESCHEDULE_OUTBOX, params).await?;
        self.gives_runners_work();
        Ok(())
    }

    async fn cancel_outbox_for_wait(&mut self, wait_id: i64, now: i64) -> Result<(), StoreError> {
        self.conn
            .defer(sql::CANCEL_OUTBOX_FOR_WAIT, args![wait_id, now])
    }

    async fn insert_account(&mut self, account: &AccountRow) -> Result<bool, StoreError> {
        let params = args![
            &account.name,
            &account.password_hash,
            account.admin,
            &account.rights,
            account.created_at,
            account.updated_at,
        ];
        Ok(self.exec(sql::INSERT_ACCOUNT, params).await? == 1)
    }

    async fn get_account(&mut self, name: &str) -> Result<Option<AccountRow>, StoreError> {
        self.one(sql::GET_ACCOUNT, args![name]).await
    }

    async fn list_accounts(&mut self) -> Result<Vec<AccountRow>, StoreError> {
        self.all(sql::LIST_ACCOUNTS, Vec::new()).await
    }

    async fn delete_account(&mut self, name: &str) -> Result<bool, StoreError> {
        Ok(self.exec(sql::DELETE_ACCOUNT, args![name]).await? == 1)
    }

    async fn set_account_password(
        &mut self,
        name: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let params = args![name, password_hash, now];
        Ok(self.exec(sql::SET_ACCOUNT_PASSWORD, params).await? == 1)
    }

    async fn insert_inbound(&mut self, new: &NewInbound) -> Result<i64, StoreError> {
        let params = args![
            &new.workflow_id,
            &new.kind,
            &new.payload,
            new.encrypted,
            new.now,
            new.expires_at,
        ];
        let id = self.conn.insert(sql::INSERT_INBOUND, params).await?;
        self.gives_runners_work();
        Ok(id)
    }

    async fn claim_inbound(
        &mut self,
        now: i64,
        lease_until: i64,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<InboundRow>, StoreError> {
        let claim = Self::dialected().claim_inbound.as_str();
        let id = |row: &InboundRow| row.id;
        self.lease(claim, (now, lease_until), owner, limit, id)
            .await
    }

    async fn finish_inbound(
        &mut self,
        id: i64,
        owner: &str,
        instance_id: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let to = InboundSettlement::done(instance_id);
        self.settle_inbound(id, owner, to, now).await
    }

    async fn postpone_inbound(
        &mut self,
        id: i64,
        owner: &str,
        next_attempt_at: i64,
        error: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let to = InboundSettlement::postponed(next_attempt_at, error);
        self.settle_inbound(id, owner, to, now).await
    }

    async fn dead_letter_inbound(
        &mut self,
        id: i64,
        owner: &str,
        error: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let to = InboundSettlement::dead(error);
        self.settle_inbound(id, owner, to, now).await
    }

    async fn get_inbound(&mut self, id: i64) -> Result<Option<InboundRow>, StoreError> {
        self.one(sql::GET_INBOUND, args![id]).await
    }

    async fn list_inbound(
        &mut self,
        filter: &InboundFilter,
    ) -> Result<Vec<InboundRow>, StoreError> {
        let (sql, params) = filter::inbound(C::DIALECT, filter);
        self.all(sql, params).await
    }

    async fn requeue_inbound(
        &mut self,
        id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let params = args![id, now, expires_at];
        let changed = self.exec(sql::REQUEUE_INBOUND, params).await?;
        self.gives_runners_work();
        Ok(changed == 1)
    }

    async fn release_inbound_leases(&mut self, owner: &str, now: i64) -> Result<u64, StoreError> {
        let released = self
            .exec(sql::RELEASE_INBOUND_LEASES, args![owner, now])
            .await?;
        self.gives_runners_work();
        Ok(released)
    }

    async fn insert_definition(&mut self, row: &DefinitionRow) -> Result<bool, StoreError> {
        let params = args![
            &row.hash,
            &row.workflow_id,
            &row.name,
            &row.file_name,
            &row.source,
            row.loaded_at,
        ];
        Ok(self.exec(sql::INSERT_DEFINITION, params).await? == 1)
    }

    async fn get_definition(&mut self, hash: &str) -> Result<Option<DefinitionRow>, StoreError> {
        self.one(sql::GET_DEFINITION, args![hash]).await
    }

    async fn list_definitions(
        &mut self,
        workflow_id: &str,
    ) -> Result<Vec<DefinitionRow>, StoreError> {
        self.all(sql::LIST_DEFINITIONS, args![workflow_id]).await
    }

    async fn count_live_instances(
        &mut self,
        workflow_id: &str,
    ) -> Result<Vec<LiveCount>, StoreError> {
        self.all(sql::COUNT_LIVE_INSTANCES, args![workflow_id])
            .await
    }

    async fn live_instance_ids(
        &mut self,
        workflow_id: &str,
        except_hash: &str,
    ) -> Result<Vec<i64>, StoreError> {
        let params = args![workflow_id, except_hash];
        self.all(sql::LIVE_INSTANCE_IDS, params).await
    }

    async fn set_instance_definition(&mut self, id: i64, hash: &str) -> Result<(), StoreError> {
        self.exec(sql::SET_INSTANCE_DEFINITION, args![id, hash])
            .await?;
        Ok(())
    }

    async fn set_wait_step(&mut self, wait_id: i64, step_id: &str) -> Result<(), StoreError> {
        self.exec(sql::SET_WAIT_STEP, args![wait_id, step_id])
            .await?;
        Ok(())
    }

    async fn purge_ended_instances(&mut self, before: i64, limit: i64) -> Result<u64, StoreError> {
        self.purge_ended(before, limit).await
    }

    async fn list_instances(
        &mut self,
        filter: &InstanceFilter,
    ) -> Result<Vec<InstanceRow>, StoreError> {
        let (sql, params) = filter::instances(C::DIALECT, filter);
        self.all(sql, params).await
    }

    async fn stats(&mut self, now: i64) -> Result<StoreStats, StoreError> {
        self.counts_at(now).await
    }

    async fn count_by_step(
        &mut self,
        workflow_id: &str,
        now: i64,
    ) -> Result<Vec<StepCount>, StoreError> {
        self.all(sql::COUNT_BY_STEP, args![workflow_id, now]).await
    }

    async fn count_due(
        &mut self,
        scope: &ListScope,
        now: i64,
        hours: i64,
    ) -> Result<Vec<DueCount>, StoreError> {
        let (sql, params) = filter::due_outlook(C::DIALECT, scope, now, hours);
        self.all(sql, params).await
    }
}
