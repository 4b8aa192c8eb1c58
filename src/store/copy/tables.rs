//! What a store holds, table by table, as the copy sees it: every table of the schema with
//! every column and how each column is typed on each backend.
//!
//! The two schemas differ only in types: SQLite keeps JSON as `TEXT`, booleans as
//! `INTEGER` and `accounts.rights` as a JSON text array, where PostgreSQL has `JSONB`,
//! `BOOLEAN` and `TEXT[]`. The copy checks this list against both databases before it
//! moves a row (see `copy::check_schema`), so a migration that adds a table or column
//! without adding it here stops the copy instead of silently leaving data behind.

/// How a column is typed, and so how it is read, written and rendered for the checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `BIGINT` / `INTEGER`.
    Int8,
    /// `INTEGER` on both (PostgreSQL's is 32 bits).
    Int4,
    Text,
    /// `BLOB` / `BYTEA`.
    Bytes,
    /// `INTEGER` 0/1 / `BOOLEAN`.
    Bool,
    /// `TEXT` / `JSONB`.
    Json,
    /// A JSON text array of strings / `TEXT[]`.
    TextList,
}

#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
}

#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// The primary key is always the first column; rows are copied and checksummed in
    /// its order.
    pub columns: &'static [Column],
    /// Whether the key is a `BIGSERIAL` whose sequence must follow the copied ids.
    pub serial: bool,
    /// Rows fetched per round trip. Tables with payloads (up to the 4 MiB body limit
    /// each) take small batches so that a batch stays small in memory.
    pub batch: usize,
}

impl Table {
    pub fn key(&self) -> &Column {
        &self.columns[0]
    }

    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|column| column.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `ORDER BY` of the key. Text keys are compared byte by byte on both sides: SQLite's
    /// `BINARY` collation and PostgreSQL's `"C"` agree on UTF-8; the database's default
    /// collation (`en_US`, …) would order them differently and break the checksum.
    pub fn pg_order(&self) -> String {
        match self.key().kind {
            Kind::Text => format!("{} COLLATE \"C\"", self.key().name),
            _ => self.key().name.to_string(),
        }
    }
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

const ROWS: usize = 500;
const PAYLOAD_ROWS: usize = 32;

use Kind::{Bool, Bytes, Int4, Int8, Json, Text, TextList};

/// Every table, parents before children (foreign keys hold at every insert).
pub const TABLES: &[Table] = &[
    Table {
        name: "settings",
        columns: &[col("key", Text), col("value", Bytes)],
        serial: false,
        batch: PAYLOAD_ROWS,
    },
    Table {
        name: "accounts",
        columns: &[
            col("name", Text),
            col("password_hash", Text),
            col("admin", Bool),
            col("rights", TextList),
            col("created_at", Int8),
            col("updated_at", Int8),
        ],
        serial: false,
        batch: ROWS,
    },
    Table {
        name: "definitions",
        columns: &[
            col("hash", Text),
            col("workflow_id", Text),
            col("name", Text),
            col("file_name", Text),
            col("source", Bytes),
            col("loaded_at", Int8),
        ],
        serial: false,
        batch: PAYLOAD_ROWS,
    },
    Table {
        name: "instances",
        columns: &[
            col("id", Int8),
            col("workflow_id", Text),
            col("definition_hash", Text),
            col("folio", Text),
            col("status", Text),
            col("current_step", Text),
            col("fields", Json),
            col("trigger_event", Json),
            col("reply", Json),
            col("error", Text),
            col("created_at", Int8),
            col("updated_at", Int8),
        ],
        serial: true,
        // The trigger event may be a whole SharePoint item or a remote event body.
        batch: PAYLOAD_ROWS * 4,
    },
    Table {
        name: "waits",
        columns: &[
            col("id", Int8),
            col("instance_id", Int8),
            col("step_id", Text),
            col("kind", Text),
            col("event_name", Text),
            col("scope", Text),
            col("state", Text),
            col("deadline", Int8),
            col("created_at", Int8),
            col("closed_at", Int8),
        ],
        serial: true,
        batch: ROWS,
    },
    Table {
        name: "history",
        columns: &[
            col("id", Int8),
            col("instance_id", Int8),
            col("at", Int8),
            col("kind", Text),
            col("step_id", Text),
            col("wait_id", Int8),
            col("actor", Text),
            col("dialect", Text),
            col("source", Text),
            col("message_id", Text),
            col("detail", Json),
        ],
        serial: true,
        batch: ROWS,
    },
    Table {
        name: "outbox",
        columns: &[
            col("id", Int8),
            col("instance_id", Int8),
            col("wait_id", Int8),
            col("kind", Text),
            col("request", Json),
            col("state", Text),
            col("attempts", Int4),
            col("next_attempt_at", Int8),
            col("lease_owner", Text),
            col("lease_until", Int8),
            col("last_error", Text),
            col("created_at", Int8),
            col("updated_at", Int8),
        ],
        serial: true,
        batch: PAYLOAD_ROWS * 4,
    },
    Table {
        name: "inbound_events",
        columns: &[
            col("id", Int8),
            col("workflow_id", Text),
            col("kind", Text),
            col("payload", Bytes),
            col("encrypted", Bool),
            col("state", Text),
            col("attempts", Int8),
            col("next_attempt_at", Int8),
            col("expires_at", Int8),
            col("lease_owner", Text),
            col("lease_until", Int8),
            col("last_error", Text),
            col("instance_id", Int8),
            col("received_at", Int8),
            col("updated_at", Int8),
        ],
        serial: true,
        batch: PAYLOAD_ROWS,
    },
    Table {
        name: "buffered_events",
        columns: &[
            col("id", Int8),
            col("name", Text),
            col("scope", Text),
            col("properties", Json),
            col("actor", Text),
            col("created_at", Int8),
            col("expires_at", Int8),
        ],
        serial: true,
        batch: PAYLOAD_ROWS * 4,
    },
    Table {
        name: "dedup_keys",
        columns: &[
            col("key", Text),
            col("outcome", Text),
            col("created_at", Int8),
            col("expires_at", Int8),
        ],
        serial: false,
        batch: ROWS,
    },
];

/// Tables of a schema that the copy leaves alone: bookkeeping of the backends and of the
/// migration runner, which each side keeps for itself.
pub fn is_bookkeeping(name: &str) -> bool {
    name.starts_with("sqlite_") || name == "refinery_schema_history"
}
