//! Every SQL statement of the store, written once.
//!
//! Parameters are `$1`, `$2`, … on both backends: PostgreSQL's own syntax, and to SQLite
//! named parameters, which the SQLite side binds by the number in their name (see
//! `sqlite::conn::bind`), so a statement may use them in any order and repeat them.
//! Column lists are macros so that statements stay `&'static str` constants, prepared
//! once per connection and never formatted per call; each list matches a
//! [`super::row::FromRow`] mapper. The few real dialect differences (row locks with
//! `SKIP LOCKED`, list parameters, conditions spelled as a partial index is declared,
//! SQLite's join for an event's waiters) are [`Dialect`] fragments and statements,
//! assembled once per dialect in [`Dialected`].

use std::sync::LazyLock;

macro_rules! instance_columns {
    () => {
        "id, workflow_id, definition_hash, folio, status, current_step, fields, \
         trigger_event, reply, error, created_at, updated_at"
    };
}
macro_rules! wait_columns {
    () => {
        "id, instance_id, step_id, kind, event_name, scope, state, deadline, created_at, \
         closed_at"
    };
}
macro_rules! outbox_columns {
    () => {
        "id, instance_id, wait_id, kind, request, state, attempts, next_attempt_at, \
         lease_owner, lease_until, last_error"
    };
}
macro_rules! inbound_columns {
    () => {
        "id, workflow_id, kind, payload, encrypted, state, attempts, next_attempt_at, \
         expires_at, lease_owner, lease_until, last_error, instance_id, received_at, updated_at"
    };
}
macro_rules! account_columns {
    () => {
        "name, password_hash, admin, rights, created_at, updated_at"
    };
}
macro_rules! definition_columns {
    () => {
        "hash, workflow_id, name, file_name, source, loaded_at"
    };
}

/// `SELECT {columns} FROM …`, a constant.
macro_rules! select {
    ($columns:ident, $rest:literal) => {
        concat!("SELECT ", $columns!(), " ", $rest)
    };
}

/// `INSERT INTO {table} ({columns}) …`, a constant.
macro_rules! insert {
    ($table:ident, $columns:ident, $rest:literal) => {
        concat!(
            "INSERT INTO ",
            stringify!($table),
            " (",
            $columns!(),
            ") ",
            $rest
        )
    };
}

/// The wait columns qualified for a join with `instances` (`w.id, w.instance_id, …`).
pub(crate) const WAIT_COLUMNS_W: &str = "w.id, w.instance_id, w.step_id, w.kind, \
     w.event_name, w.scope, w.state, w.deadline, w.created_at, w.closed_at";
pub(crate) const INSTANCE_COLUMNS: &str = instance_columns!();

/// Statuses of instances that have ended; everything else is live.
macro_rules! ended {
    () => {
        "('completed', 'failed', 'cancelled')"
    };
}

/// The end of each `INSERT` whose caller needs the new row's id: [`super::Conn::insert`],
/// which a backend may run without it.
macro_rules! returning_id {
    () => {
        " RETURNING id"
    };
}
pub(crate) const RETURNING_ID: &str = returning_id!();

// settings -------------------------------------------------------------------------------
pub(crate) const SETTING: &str = "SELECT value FROM settings WHERE key = $1";
pub(crate) const INSERT_SETTING_IF_ABSENT: &str =
    "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
pub(crate) const REPLACE_SETTING: &str = "INSERT INTO settings (key, value) VALUES ($1, $2) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

// instances ------------------------------------------------------------------------------
pub(crate) const INSERT_INSTANCE: &str = concat!(
    "INSERT INTO instances (workflow_id, definition_hash, folio, status, fields, \
     trigger_event, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    returning_id!()
);
pub(crate) const GET_INSTANCE: &str = select!(instance_columns, "FROM instances WHERE id = $1");
pub(crate) const UPDATE_INSTANCE: &str = "UPDATE instances SET status = $2, current_step = $3, \
     fields = $4, reply = $5, error = $6, updated_at = $7 WHERE id = $1";
pub(crate) const SET_INSTANCE_DEFINITION: &str =
    "UPDATE instances SET definition_hash = $2 WHERE id = $1";

// waits ----------------------------------------------------------------------------------
pub(crate) const INSERT_WAIT: &str = concat!(
    "INSERT INTO waits (instance_id, step_id, kind, event_name, scope, state, deadline, \
     created_at) VALUES ($1, $2, $3, $4, $5, 'open', $6, $7)",
    returning_id!()
);
pub(crate) const GET_WAIT: &str = select!(wait_columns, "FROM waits WHERE id = $1");
pub(crate) const CLOSE_WAIT: &str =
    "UPDATE waits SET state = $2, closed_at = $3 WHERE id = $1 AND state = 'open'";
/// [`CLOSE_WAIT`] that fails with SQLSTATE 40001 unless it closed the wait, so that it
/// can go out without anyone reading its row count (PostgreSQL only; its migration V7).
pub(crate) const CLOSE_WAIT_READ_OPEN: &str = "WITH closed AS (UPDATE waits SET state = $2, \
     closed_at = $3 WHERE id = $1 AND state = 'open' RETURNING 1) \
     SELECT holdpoint_expect_one(count(*)) FROM closed";
pub(crate) const EXTEND_WAIT: &str =
    "UPDATE waits SET deadline = $2 WHERE id = $1 AND state = 'open'";
/// Read after [`Dialected::lock_waiting_instances`], in the order that locked them.
pub(crate) const OPEN_WAITS_FOR_EVENT: &str = select!(
    wait_columns,
    "FROM waits WHERE state = 'open' AND event_name = $1 AND scope = $2 \
     ORDER BY instance_id, id"
);
pub(crate) const SET_WAIT_STEP: &str = "UPDATE waits SET step_id = $2 WHERE id = $1";

// history --------------------------------------------------------------------------------
pub(crate) const APPEND_HISTORY: &str = "INSERT INTO history (instance_id, at, kind, step_id, \
     wait_id, actor, dialect, source, message_id, detail) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
pub(crate) const HISTORY: &str = "SELECT id, instance_id, at, kind, step_id, wait_id, actor, \
     dialect, source, message_id, detail FROM history WHERE instance_id = $1 ORDER BY id";

// buffered custom events and dedup keys ---------------------------------------------------
pub(crate) const BUFFER_EVENT: &str = concat!(
    "INSERT INTO buffered_events (name, scope, properties, actor, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6)",
    returning_id!()
);
pub(crate) const PURGE_EXPIRED_EVENTS: &str = "DELETE FROM buffered_events WHERE expires_at <= $1";
pub(crate) const PURGE_EXPIRED_KEYS: &str = "DELETE FROM dedup_keys WHERE expires_at <= $1";
pub(crate) const DROP_EXPIRED_KEY: &str =
    "DELETE FROM dedup_keys WHERE key = $1 AND expires_at <= $2";
pub(crate) const INSERT_KEY: &str = "INSERT INTO dedup_keys (key, outcome, created_at, \
     expires_at) VALUES ($1, NULL, $2, $3) ON CONFLICT (key) DO NOTHING";
pub(crate) const KEY_OUTCOME: &str = "SELECT outcome FROM dedup_keys WHERE key = $1";
pub(crate) const SET_KEY_OUTCOME: &str = "UPDATE dedup_keys SET outcome = $2 WHERE key = $1";

// outbox ---------------------------------------------------------------------------------
pub(crate) const INSERT_OUTBOX: &str = concat!(
    "INSERT INTO outbox (instance_id, wait_id, kind, request, state, attempts, \
     next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $5)",
    returning_id!()
);
pub(crate) const GET_OUTBOX: &str = select!(outbox_columns, "FROM outbox WHERE id = $1");
pub(crate) const SETTLE_OUTBOX: &str = "UPDATE outbox SET state = $2, \
     last_error = COALESCE($3, last_error), lease_owner = NULL, lease_until = NULL, \
     updated_at = $4 WHERE id = $1";
pub(crate) const RESCHEDULE_OUTBOX: &str = "UPDATE outbox SET state = 'pending', \
     next_attempt_at = $2, last_error = $3, lease_owner = NULL, lease_until = NULL, \
     updated_at = $4 WHERE id = $1";
pub(crate) const CANCEL_OUTBOX_FOR_WAIT: &str = "UPDATE outbox SET state = 'cancelled', \
     lease_owner = NULL, lease_until = NULL, updated_at = $2 \
     WHERE wait_id = $1 AND state IN ('pending', 'running')";

// accounts -------------------------------------------------------------------------------
pub(crate) const INSERT_ACCOUNT: &str = insert!(
    accounts,
    account_columns,
    "VALUES ($1, $2, $3, \
     $4, $5, $6) ON CONFLICT (name) DO NOTHING"
);
pub(crate) const GET_ACCOUNT: &str = select!(account_columns, "FROM accounts WHERE name = $1");
pub(crate) const LIST_ACCOUNTS: &str = select!(account_columns, "FROM accounts ORDER BY name");
pub(crate) const DELETE_ACCOUNT: &str = "DELETE FROM accounts WHERE name = $1";
pub(crate) const SET_ACCOUNT_PASSWORD: &str =
    "UPDATE accounts SET password_hash = $2, updated_at = $3 WHERE name = $1";

// inbound queue --------------------------------------------------------------------------
pub(crate) const INBOUND_COLUMNS: &str = inbound_columns!();
pub(crate) const INSERT_INBOUND: &str = concat!(
    "INSERT INTO inbound_events (workflow_id, kind, payload, encrypted, state, \
     next_attempt_at, expires_at, received_at, updated_at) \
     VALUES ($1, $2, $3, $4, 'queued', $5, $6, $5, $5)",
    returning_id!()
);
pub(crate) const SETTLE_INBOUND: &str = "UPDATE inbound_events SET state = $3, \
     lease_owner = NULL, lease_until = NULL, next_attempt_at = COALESCE($4, next_attempt_at), \
     last_error = COALESCE($5, last_error), instance_id = COALESCE($6, instance_id), \
     updated_at = $7 WHERE id = $1 AND state = 'running' AND lease_owner = $2";
pub(crate) const GET_INBOUND: &str = select!(inbound_columns, "FROM inbound_events WHERE id = $1");
pub(crate) const REQUEUE_INBOUND: &str = "UPDATE inbound_events SET state = 'queued', \
     next_attempt_at = $2, expires_at = $3, updated_at = $2 WHERE id = $1 AND state = 'dead'";
pub(crate) const RELEASE_INBOUND_LEASES: &str = "UPDATE inbound_events SET state = 'queued', \
     lease_owner = NULL, lease_until = NULL, next_attempt_at = $2, updated_at = $2 \
     WHERE state = 'running' AND lease_owner = $1";

// definition versions --------------------------------------------------------------------
pub(crate) const INSERT_DEFINITION: &str = insert!(
    definitions,
    definition_columns,
    "VALUES ($1, \
     $2, $3, $4, $5, $6) ON CONFLICT (hash) DO NOTHING"
);
pub(crate) const GET_DEFINITION: &str =
    select!(definition_columns, "FROM definitions WHERE hash = $1");
pub(crate) const LIST_DEFINITIONS: &str = select!(
    definition_columns,
    "FROM definitions \
     WHERE workflow_id = $1 ORDER BY loaded_at, hash"
);
pub(crate) const COUNT_LIVE_INSTANCES: &str = concat!(
    "SELECT definition_hash, current_step, COUNT(*) FROM instances WHERE workflow_id = $1 \
     AND status NOT IN ",
    ended!(),
    " GROUP BY definition_hash, current_step ORDER BY definition_hash, current_step"
);
pub(crate) const LIVE_INSTANCE_IDS: &str = concat!(
    "SELECT id FROM instances WHERE workflow_id = $1 AND definition_hash <> $2 \
     AND status NOT IN ",
    ended!(),
    " ORDER BY id"
);

// overview -------------------------------------------------------------------------------
pub(crate) const COUNT_OPEN_WAITS: &str =
    "SELECT kind, COUNT(*) FROM waits WHERE state = 'open' GROUP BY kind ORDER BY kind";
pub(crate) const COUNT_INBOUND: &str =
    "SELECT state, COUNT(*) FROM inbound_events GROUP BY state ORDER BY state";
pub(crate) const OUTBOX_BACKLOG: &str =
    "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'running')";
pub(crate) const OLDEST_OVERDUE_DEADLINE: &str =
    "SELECT MIN(deadline) FROM waits WHERE state = 'open' AND deadline <= $1";
/// A workflow's open waits (and the overdue ones among them) and its failed instances,
/// per step, in one pass each: the waits through the open-wait index joined to their
/// instances, the failures through `instances_workflow`. `$1` workflow, `$2` now.
pub(crate) const COUNT_BY_STEP: &str = "SELECT step, SUM(waiting), SUM(overdue), \
     SUM(failed) FROM (SELECT w.step_id AS step, 1 AS waiting, \
     CASE WHEN w.deadline <= $2 THEN 1 ELSE 0 END AS overdue, 0 AS failed \
     FROM waits w JOIN instances i ON i.id = w.instance_id \
     WHERE w.state = 'open' AND i.workflow_id = $1 \
     UNION ALL SELECT current_step, 0, 0, 1 FROM instances \
     WHERE workflow_id = $1 AND status = 'failed' AND current_step IS NOT NULL) counted \
     GROUP BY step ORDER BY step";
pub(crate) const OLDEST_DUE_INBOUND: &str = "SELECT MIN(next_attempt_at) FROM inbound_events \
     WHERE state = 'queued' AND next_attempt_at <= $1";

/// What differs between the two SQL dialects the store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `column` is one of the values of the list parameter `param` (a `bigint[]` or
    /// `text[]` on PostgreSQL, a JSON array on SQLite).
    pub fn in_list(self, column: &str, param: &str) -> String {
        match self {
            Self::Postgres => format!("{column} = ANY({param})"),
            Self::Sqlite => format!("{column} IN (SELECT value FROM json_each({param}))"),
        }
    }

    /// The condition "the instance has ended", as the partial index `instances_ended` is
    /// declared on this backend: a query may use a partial index only if its condition
    /// contains the index's own. SQLite's index spells it out with `OR` (migration V7)
    /// because SQLite tests an `IN` list of three values through a temporary b-tree, built
    /// on every insert and update of an instance.
    pub fn ended(self) -> &'static str {
        match self {
            Self::Postgres => concat!("status IN ", ended!()),
            Self::Sqlite => "(status = 'completed' OR status = 'failed' OR status = 'cancelled')",
        }
    }

    /// Row locks that skip rows another transaction holds. SQLite has one writer at a
    /// time (`BEGIN IMMEDIATE`), so there is nothing to lock or skip.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Self::Postgres => " FOR UPDATE SKIP LOCKED",
            Self::Sqlite => "",
        }
    }

    /// The statements that differ, assembled once per dialect.
    pub fn statements(self) -> &'static Dialected {
        static SQLITE: LazyLock<Dialected> = LazyLock::new(|| Dialected::new(Dialect::Sqlite));
        static POSTGRES: LazyLock<Dialected> = LazyLock::new(|| Dialected::new(Dialect::Postgres));
        match self {
            Self::Sqlite => &SQLITE,
            Self::Postgres => &POSTGRES,
        }
    }
}

/// Statements with a dialect fragment in them.
pub(crate) struct Dialected {
    pub lock_instance: String,
    /// The instances with an open wait on event `$1` in scope `$2`, locked in id order
    /// (the one lock order of every fan-out).
    pub lock_waiting_instances: String,
    pub get_instances: String,
    pub close_waits: String,
    pub lock_due_waits: String,
    pub take_buffered_event: String,
    pub claim_outbox: String,
    pub claim_inbound: String,
    pub ended_instances: String,
    /// Children first: outbox rows refer to waits, waits and history to the instance.
    pub purge_instances: [String; 4],
}

impl Dialected {
    fn new(dialect: Dialect) -> Self {
        let skip_locked = dialect.skip_locked();
        let lock = match dialect {
            Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        };
        let ids = |column| dialect.in_list(column, "$1");
        Self {
            lock_instance: format!("{GET_INSTANCE}{lock}"),
            lock_waiting_instances: lock_waiting_instances(dialect),
            get_instances: format!(
                "SELECT {INSTANCE_COLUMNS} FROM instances WHERE {}",
                ids("id")
            ),
            close_waits: format!(
                "UPDATE waits SET state = $2, closed_at = $3 WHERE {} AND state = 'open' \
                 RETURNING id",
                ids("id")
            ),
            lock_due_waits: lock_due_waits(dialect),
            take_buffered_event: format!(
                "DELETE FROM buffered_events WHERE id = (SELECT id FROM buffered_events \
                 WHERE name = $1 AND scope = $2 AND expires_at > $3 ORDER BY id LIMIT 1\
                 {skip_locked}) RETURNING id, name, scope, properties, actor, created_at, \
                 expires_at"
            ),
            claim_outbox: claim("outbox", "pending", outbox_columns!(), skip_locked),
            claim_inbound: claim("inbound_events", "queued", INBOUND_COLUMNS, skip_locked),
            ended_instances: format!(
                "SELECT id FROM instances WHERE {} AND updated_at < $1 \
                 ORDER BY updated_at, id LIMIT $2{skip_locked}",
                dialect.ended()
            ),
            purge_instances: [
                format!("DELETE FROM outbox WHERE {}", ids("instance_id")),
                format!("DELETE FROM history WHERE {}", ids("instance_id")),
                format!("DELETE FROM waits WHERE {}", ids("instance_id")),
                format!("DELETE FROM instances WHERE {}", ids("id")),
            ],
        }
    }
}

/// Leases the due rows of a runner's table to `$3` until `$2` (at `$1`, at most `$4`),
/// counting the attempt: rows `ready` and due, or `running` with an expired lease.
fn claim(table: &str, ready: &str, columns: &str, skip_locked: &str) -> String {
    format!(
        "UPDATE {table} SET state = 'running', attempts = attempts + 1, lease_owner = $3, \
         lease_until = $2, updated_at = $1 WHERE id IN (SELECT id FROM {table} \
         WHERE (state = '{ready}' AND next_attempt_at <= $1) \
         OR (state = 'running' AND lease_until <= $1) ORDER BY next_attempt_at, id \
         LIMIT $4{skip_locked}) RETURNING {columns}"
    )
}

/// The instances with an open wait on event `$1` in scope `$2`, in id order. PostgreSQL
/// locks them through an `IN` subquery. SQLite, with nothing to lock, walks the open-wait
/// index by event, which is in instance order (migration V8), and joins: it would
/// materialise the subquery in a temporary b-tree on every event.
fn lock_waiting_instances(dialect: Dialect) -> String {
    match dialect {
        Dialect::Postgres => format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances WHERE id IN (SELECT instance_id \
             FROM waits WHERE state = 'open' AND event_name = $1 AND scope = $2) \
             ORDER BY id FOR UPDATE"
        ),
        Dialect::Sqlite => format!(
            "SELECT {} FROM waits w JOIN instances i ON i.id = w.instance_id \
             WHERE w.state = 'open' AND w.event_name = $1 AND w.scope = $2 \
             GROUP BY w.instance_id ORDER BY w.instance_id",
            qualified("i", INSTANCE_COLUMNS)
        ),
    }
}

/// `columns` (`a, b`), each prefixed with `table` (`t.a, t.b`).
fn qualified(table: &str, columns: &str) -> String {
    let prefixed: Vec<String> = columns
        .split(", ")
        .map(|column| format!("{table}.{column}"))
        .collect();
    prefixed.join(", ")
}

/// Due waits, oldest deadline first. PostgreSQL locks their instances (not the waits):
/// commands lock instance before wait, and the timer must take its locks in the same
/// order; busy instances are skipped and picked up by the next tick.
fn lock_due_waits(dialect: Dialect) -> String {
    match dialect {
        Dialect::Postgres => format!(
            "SELECT {WAIT_COLUMNS_W} FROM waits w JOIN instances i ON i.id = w.instance_id \
             WHERE w.state = 'open' AND w.deadline <= $1 ORDER BY w.deadline, w.id LIMIT $2 \
             FOR UPDATE OF i SKIP LOCKED"
        ),
        Dialect::Sqlite => select!(
            wait_columns,
            "FROM waits WHERE state = 'open' \
             AND deadline <= $1 ORDER BY deadline, id LIMIT $2"
        )
        .to_string(),
    }
}
