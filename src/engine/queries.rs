//! Read-only views: one instance, its history, listings of instances and waits, and the
//! store's counts. Listings show a caller without every permission only the workflows it
//! may view (see `access`).

use futures_util::future::BoxFuture;

use super::access::Action;
use super::{Caller, Engine, EngineError, InstanceView, WaitView};
use crate::store::{
    DueCount, HistoryRow, InboundFilter, InboundRow, InstanceFilter, InstanceRow, ListScope,
    StepCount, StoreError, StoreStats, Tx, WaitFilter, WaitRow, WaitState,
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

    /// One workflow's open waits, overdue waits and failed instances per step (what its
    /// map draws), in one aggregate query; the caller must be allowed to view it.
    pub async fn step_counts(
        &self,
        workflow_id: &str,
        caller: &Caller,
    ) -> Result<Vec<StepCount>, EngineError> {
        self.authorize(caller, workflow_id, Action::View)?;
        let mut tx = self.store.begin().await?;
        let counts = tx.count_by_step(workflow_id, self.now_ms()).await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// Open waits falling due in each of the next `hours` hours and those overdue now (hour
    /// -1), of one workflow or of every workflow the caller may view.
    pub async fn deadline_outlook(
        &self,
        workflow_id: Option<&str>,
        hours: i64,
        caller: &Caller,
    ) -> Result<Vec<DueCount>, EngineError> {
        let mut scope = ListScope::new(workflow_id.map(str::to_string), 0);
        scope.workflow_ids = self.view_scope(caller, workflow_id)?;
        let mut tx = self.store.begin().await?;
        let counts = tx.count_due(&scope, self.now_ms(), hours).await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// Instances, newest first; a caller without every permission sees only the
    /// workflows it may view.
    pub async fn list_instances(
        &self,
        filter: &InstanceFilter,
        caller: &Caller,
    ) -> Result<Vec<InstanceView>, EngineError> {
        let filter = self.scoped(filter, caller)?;
        let mut tx = self.store.begin().await?;
        let rows = filter.rows(tx.as_mut()).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            // In the listing's transaction, so that each view matches its row.
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
        let mut views = self
            .list_views(filter, caller, |row| WaitView::new(row, &self.serials))
            .await?;
        self.add_callback_urls(&mut views).await?;
        Ok(views)
    }

    /// The rows of a listing, in a read of their own, narrowed to what the caller may
    /// view, each made a view by `view` (which needs no store: the read is over).
    pub(crate) async fn list_views<F: Listing, V>(
        &self,
        filter: &F,
        caller: &Caller,
        view: impl Fn(F::Row) -> V,
    ) -> Result<Vec<V>, EngineError> {
        let filter = self.scoped(filter, caller)?;
        let mut tx = self.store.begin().await?;
        let rows = filter.rows(tx.as_mut()).await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(view).collect())
    }

    /// `filter`, narrowed to the workflows the caller may view (see `view_scope`).
    fn scoped<F: Listing>(&self, filter: &F, caller: &Caller) -> Result<F, EngineError> {
        let mut filter = filter.clone();
        let scope = filter.scope();
        scope.workflow_ids = self.view_scope(caller, scope.workflow_id.as_deref())?;
        Ok(filter)
    }

    /// An instance with its open waits, as commands and listings answer it.
    pub(crate) async fn instance_view(
        &self,
        tx: &mut dyn Tx,
        row: InstanceRow,
    ) -> Result<InstanceView, EngineError> {
        let waits = tx.list_waits(&open_waits_of(row.id)).await?;
        Ok(self.view_of(row, waits))
    }

    /// The instance as callers see it, given its open waits.
    pub(crate) fn view_of(&self, row: InstanceRow, open_waits: Vec<WaitRow>) -> InstanceView {
        let waits = open_waits
            .into_iter()
            .map(|wait| {
                let mut view = WaitView::new(wait, &self.serials);
                view.callback_url = self.callback_url_of(&row.workflow_id, &view);
                view
            })
            .collect();
        InstanceView::new(row, waits)
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

/// A listing's filter: its scope (the workflow it asks for, the workflows it may show)
/// and the store query that lists its rows.
pub(crate) trait Listing: Clone {
    type Row;
    fn scope(&mut self) -> &mut ListScope;
    fn rows<'t>(&'t self, tx: &'t mut dyn Tx) -> BoxFuture<'t, Result<Vec<Self::Row>, StoreError>>;
}

/// Every listing filter keeps its [`ListScope`] in `scope`.
macro_rules! listing {
    ($($filter:ty => $row:ty, $list:ident;)+) => {$(
        impl Listing for $filter {
            type Row = $row;
            fn scope(&mut self) -> &mut ListScope {
                &mut self.scope
            }
            fn rows<'t>(
                &'t self,
                tx: &'t mut dyn Tx,
            ) -> BoxFuture<'t, Result<Vec<$row>, StoreError>> {
                tx.$list(self)
            }
        }
    )+};
}

listing! {
    InstanceFilter => InstanceRow, list_instances;
    WaitFilter => WaitRow, list_waits;
    InboundFilter => InboundRow, list_inbound;
}

/// What an instance view lists: the instance's open waits (at most one in practice).
pub(crate) fn open_waits_of(instance_id: i64) -> WaitFilter {
    WaitFilter {
        scope: ListScope::new(None, 100),
        instance_id: Some(instance_id),
        state: Some(WaitState::Open),
        ..WaitFilter::default()
    }
}
