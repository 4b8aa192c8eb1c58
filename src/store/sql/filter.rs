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
    let table = "instances";
    listing.finish_scoped(
        "workflow_id",
        &filter.scope,
        INSTANCE_COLUMNS,
        table,
        "id DESC",
    )
}
