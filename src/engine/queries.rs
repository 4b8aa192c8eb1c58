//! Read-only views: one instance, its history, listings of instances and waits, and the
//! store's counts. Listings show a caller without every permission only the workflows it
//! may view (see `access`).

use super::access::Action;
use super::{Caller, Engine, EngineError, InstanceView, WaitView};
use crate::store::{
    HistoryRow, InstanceFilter, InstanceRow, StoreStats, Tx, WaitFilter, WaitState,
};

impl Engine {
    pub async fn get(
        &self,
        instance_id: i64,
        caller: &Caller,
    ) -> Result<InstanceView, EngineError> {
        let mut tx = self.store.begin().await?;
        let row = self
            .viewable_instance(tx.as_mut(), instance_id, caller)
            .await?;
        let view = self.instance_view(tx.as_mut(), row).await?;
        tx.commit().await?;
        Ok(view)
    }

    pub async fn history(
        &self,
        instance_id: i64,
        caller: &Caller,
    ) -> Result<Vec<HistoryRow>, EngineError> {
        let mut tx = self.store.begin().await?;
        self.viewable_instance(tx.as_mut(), instance_id, caller)
            .await?;
        let rows = tx.history(instance_id).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The store's counts and lags (for `/metrics` and the admin page; no caller check).
    pub async fn stats(&self) -> Result<StoreStats, EngineError> {
        let mut tx = self.store.begin().await?;
        let stats = tx.stats(self.now_ms()).await?;
        tx.commit().await?;
        Ok(stats)
    }

    /// Instances, newest first; a caller without every permission sees only the
    /// workflows it may view.
    pub async fn list_instances(
        &self,
        filter: &InstanceFilter,
        caller: &Caller,
    ) -> Result<Vec<InstanceView>, EngineError> {
        let mut filter = filter.clone();
        filter.workflow_ids = self.view_scope(caller, filter.workflow_id.as_deref())?;
        let mut tx = self.store.begin().await?;
        let rows = tx.list_instances(&filter).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            views.push(self.instance_view(tx.as_mut(), row).await?);
        }
        tx.commit().await?;
        Ok(views)
    }

    /// Lists waits; a caller without every permission sees only the workflows it may view.
    pub async fn list_waits(
        &self,
        filter: &WaitFilter,
        caller: &Caller,
    ) -> Result<Vec<WaitView>, EngineError> {
        let mut filter = filter.clone();
        filter.workflow_ids = self.view_scope(caller, filter.workflow_id.as_deref())?;
        let mut tx = self.store.begin().await?;
        let rows = tx.list_waits(&filter).await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|row| WaitView::new(row, &self.serials))
            .collect())
    }

    /// An instance with its open waits, as commands and listings answer it.
    pub(crate) async fn instance_view(
        &self,
        tx: &mut dyn Tx,
        row: InstanceRow,
    ) -> Result<InstanceView, EngineError> {
        let filter = WaitFilter {
            instance_id: Some(row.id),
            state: Some(WaitState::Open),
            limit: 100,
            ..WaitFilter::default()
        };
        let waits = tx.list_waits(&filter).await?;
        let waits = waits
            .into_iter()
            .map(|wait| WaitView::new(wait, &self.serials))
            .collect();
        Ok(InstanceView::new(row, waits))
    }

    /// The instance, when the caller may view it.
    async fn viewable_instance(
        &self,
        tx: &mut dyn Tx,
        instance_id: i64,
        caller: &Caller,
    ) -> Result<InstanceRow, EngineError> {
        let row = tx
            .get_instance(instance_id)
            .await?
            .ok_or(EngineError::UnknownInstance(instance_id))?;
        self.authorize(caller, &row.workflow_id, Action::View)?;
        Ok(row)
    }
}
