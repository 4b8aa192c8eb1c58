//! The listing queries (waits, inbound rows, instances) built from the filters given.
//!
//! Only the filters given become conditions: `($1 IS NULL OR x = $1)` keeps SQLite from
//! using an index, and a generic PostgreSQL plan for it may not use one either, which made
//! every instance view scan all waits. A wait's state is written into the SQL as a fixed
//! word (never input text): the partial indexes on open waits only serve a query whose
//! plan knows `state = 'open'`.

use super::param::Param;
use super::statements::{Dialect, INBOUND_COLUMNS, INSTANCE_COLUMNS, WAIT_COLUMNS_W};
use crate::store::model::{InboundFilter, InstanceFilter, ListScope, WaitFilter};

/// A `SELECT` under construction: its conditions and their numbered parameters.
struct Listing<'a> {
    dialect: Dialect,
    conditions: Vec<String>,
    params: Vec<Param<'a>>,
}

impl<'a> Listing<'a> {
    fn new(dialect: Dialect) -> Self {
        Self {
            dialect,
            conditions: Vec::new(),
            params: Vec::new(),
        }
    }

    /// The placeholder of a new parameter.
    fn bind(&mut self, value: Param<'a>) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    fn equals(&mut self, column: &str, value: Option<impl Into<Param<'a>>>) {
        if let Some(value) = value {
            let placeholder = self.bind(value.into());
            self.conditions.push(format!("{column} = {placeholder}"));
        }
    }

    fn one_of(&mut self, column: &str, values: Option<&'a Vec<String>>) {
        if let Some(values) = values {
            let placeholder = self.bind(values.into());
            let condition = self.dialect.in_list(column, &placeholder);
            self.conditions.push(condition);
        }
    }

    /// Last, what every listing's scope adds: only the workflows the caller may view
    /// (their ids in `column`), at most `scope.limit` rows; then [`Self::finish`].
    fn finish_scoped(
        mut self,
        column: &str,
        scope: &'a ListScope,
        columns: &str,
        from: &str,
        order: &str,
    ) -> (String, Vec<Param<'a>>) {
        self.one_of(column, scope.workflow_ids.as_ref());
        self.finish(columns, from, order, scope.limit)
    }

    /// `SELECT {columns} FROM {from} [WHERE …] ORDER BY {order} LIMIT $n`.
    fn finish(
        mut self,
        columns: &str,
        from: &str,
        order: &str,
        limit: i64,
    ) -> (String, Vec<Param<'a>>) {
        let limit = self.bind(limit.into());
        let filter = if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        };
        let sql = format!("SELECT {columns} FROM {from}{filter} ORDER BY {order} LIMIT {limit}");
        (sql, self.params)
    }
}

/// Waits, by id.
pub(crate) fn waits(dialect: Dialect, filter: &WaitFilter) -> (String, Vec<Param<'_>>) {
    let mut listing = Listing::new(dialect);
    if let Some(state) = filter.state {
        listing
            .conditions
            .push(format!("w.state = '{}'", state.as_str()));
    }
    listing.equals("i.workflow_id", filter.scope.workflow_id.as_ref());
    listing.equals("w.kind", filter.kind.map(|kind| kind.as_str()));
    listing.equals("w.event_name", filter.event_name.as_ref());
    listing.equals("w.instance_id", filter.instance_id);
    listing.equals("w.step_id", filter.step_id.as_ref());
    let from = "waits w JOIN instances i ON i.id = w.instance_id";
    listing.finish_scoped("i.workflow_id", &filter.scope, WAIT_COLUMNS_W, from, "w.id")
}

/// Inbound rows, newest first.
pub(crate) fn inbound(dialect: Dialect, filter: &InboundFilter) -> (String, Vec<Param<'_>>) {
    let mut listing = Listing::new(dialect);
    listing.equals("state", filter.state.map(|state| state.as_str()));
    listing.equals("workflow_id", filter.scope.workflow_id.as_ref());
    let table = "inbound_events";
    listing.finish_scoped(
        "workflow_id",
        &filter.scope,
        INBOUND_COLUMNS,
        table,
        "id DESC",
    )
}

/// Instances, newest first.
pub(crate) fn instances(dialect: Dialect, filter: &InstanceFilter) -> (String, Vec<Param<'_>>) {
    let mut listing = Listing::new(dialect);
    listing.equals("workflow_id", filter.scope.workflow_id.as_ref());
    listing.equals("status", filter.status.map(|status| status.as_str()));
    listing.equals("current_step", filter.step_id.as_ref());
    let table = "instances";
    listing.finish_scoped(
        "workflow_id",
        &filter.scope,
        INSTANCE_COLUMNS,
        table,
        "id DESC",
    )
}

/// Open waits falling due per hour from `$1` until `$2`, the overdue ones in hour -1, for
/// the workflows in `scope`. The range on `deadline` under `state = 'open'` is what the
/// `waits_due` index serves; instances are joined only when a workflow narrows it.
pub(crate) fn due_outlook(
    dialect: Dialect,
    scope: &ListScope,
    now: i64,
    hours: i64,
) -> (String, Vec<Param<'_>>) {
    let mut listing = Listing::new(dialect);
    let at = listing.bind(now.into());
    let until = listing.bind(now.saturating_add(hours.saturating_mul(HOUR_MS)).into());
    listing.conditions.push("w.state = 'open'".into());
    listing.conditions.push(format!("w.deadline <= {until}"));
    listing.equals("i.workflow_id", scope.workflow_id.as_ref());
    listing.one_of("i.workflow_id", scope.workflow_ids.as_ref());
    let narrowed = scope.workflow_id.is_some() || scope.workflow_ids.is_some();
    let from = if narrowed {
        "waits w JOIN instances i ON i.id = w.instance_id"
    } else {
        "waits w"
    };
    let sql = format!(
        "SELECT CASE WHEN w.deadline <= {at} THEN -1 ELSE (w.deadline - {at} - 1) / {HOUR_MS} \
         END AS hour, COUNT(*) FROM {from} WHERE {} GROUP BY 1 ORDER BY 1",
        listing.conditions.join(" AND ")
    );
    (sql, listing.params)
}

const HOUR_MS: i64 = 3_600_000;
