//! Reading result rows, written once for both backends.
//!
//! [`Columns`] is the small surface a row mapper needs (integers, text, bytes, JSON, text
//! lists), implemented over `rusqlite::Row` and `tokio_postgres::Row`; each backend keeps
//! its own storage of JSON (`jsonb` or text) and lists (`text[]` or a JSON array) behind
//! it. [`FromRow`] turns one row into a model type; the column order each mapper expects
//! is the column list next to it in [`super::statements`].

use rusqlite::types::FromSql;
use serde_json::{Map, Value};
use tokio_postgres::types::{FromSqlOwned, Json};

use crate::store::StoreError;
use crate::store::model::{
    AccountRow, BufferedEventRow, DefinitionRow, EventScope, HistoryRow, InboundRow, InboundState,
    InstanceRow, InstanceStatus, LiveCount, OutboxKind, OutboxRow, OutboxState, WaitKind, WaitRow,
    WaitState,
};

/// Typed access to the columns of one result row, by position.
pub(crate) trait Columns {
    fn int(&self, index: usize) -> Result<i64, StoreError>;
    fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError>;
    /// A 32-bit column (`INTEGER` on PostgreSQL).
    fn int4(&self, index: usize) -> Result<i32, StoreError>;
    fn boolean(&self, index: usize) -> Result<bool, StoreError>;
    fn text(&self, index: usize) -> Result<String, StoreError>;
    fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError>;
    fn bytes(&self, index: usize) -> Result<Vec<u8>, StoreError>;
    fn opt_json(&self, index: usize) -> Result<Option<Value>, StoreError>;
    fn text_list(&self, index: usize) -> Result<Vec<String>, StoreError>;

    fn json(&self, index: usize) -> Result<Value, StoreError> {
        self.opt_json(index)?
            .ok_or_else(|| StoreError::Corrupt(format!("json column {index} is null")))
    }

    fn object(&self, index: usize) -> Result<Map<String, Value>, StoreError> {
        match self.json(index)? {
            Value::Object(map) => Ok(map),
            _ => Err(StoreError::Corrupt("expected a json object".into())),
        }
    }

    /// A word column read as one of the model's enums.
    fn word<T>(&self, index: usize, parse: fn(&str) -> Option<T>) -> Result<T, StoreError> {
        let text = self.text(index)?;
        parse(&text).ok_or_else(|| StoreError::Corrupt(format!("unknown value {text}")))
    }
}

impl Columns for rusqlite::Row<'_> {
    fn int(&self, index: usize) -> Result<i64, StoreError> {
        sqlite_get(self, index)
    }
    fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        sqlite_get(self, index)
    }
    fn int4(&self, index: usize) -> Result<i32, StoreError> {
        sqlite_get(self, index)
    }
    fn boolean(&self, index: usize) -> Result<bool, StoreError> {
        sqlite_get(self, index)
    }
    fn text(&self, index: usize) -> Result<String, StoreError> {
        sqlite_get(self, index)
    }
    fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        sqlite_get(self, index)
    }
    fn bytes(&self, index: usize) -> Result<Vec<u8>, StoreError> {
        sqlite_get(self, index)
    }
    fn opt_json(&self, index: usize) -> Result<Option<Value>, StoreError> {
        let text: Option<String> = sqlite_get(self, index)?;
        Ok(text.map(|text| serde_json::from_str(&text)).transpose()?)
    }
    fn text_list(&self, index: usize) -> Result<Vec<String>, StoreError> {
        let text: String = sqlite_get(self, index)?;
        Ok(serde_json::from_str(&text)?)
    }
}

fn sqlite_get<T: FromSql>(row: &rusqlite::Row<'_>, index: usize) -> Result<T, StoreError> {
    Ok(row.get(index)?)
}

impl Columns for tokio_postgres::Row {
    fn int(&self, index: usize) -> Result<i64, StoreError> {
        postgres_get(self, index)
    }
    fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        postgres_get(self, index)
    }
    fn int4(&self, index: usize) -> Result<i32, StoreError> {
        postgres_get(self, index)
    }
    fn boolean(&self, index: usize) -> Result<bool, StoreError> {
        postgres_get(self, index)
    }
    fn text(&self, index: usize) -> Result<String, StoreError> {
        postgres_get(self, index)
    }
    fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        postgres_get(self, index)
    }
    fn bytes(&self, index: usize) -> Result<Vec<u8>, StoreError> {
        postgres_get(self, index)
    }
    fn opt_json(&self, index: usize) -> Result<Option<Value>, StoreError> {
        let json: Option<Json<Value>> = postgres_get(self, index)?;
        Ok(json.map(|Json(value)| value))
    }
    fn text_list(&self, index: usize) -> Result<Vec<String>, StoreError> {
        postgres_get(self, index)
    }
}

fn postgres_get<T: FromSqlOwned>(row: &tokio_postgres::Row, index: usize) -> Result<T, StoreError> {
    Ok(row.try_get(index)?)
}

/// A model type read from one row.
pub(crate) trait FromRow: Sized + Send + 'static {
    fn from_row(row: &impl Columns) -> Result<Self, StoreError>;
}

/// The first column, for `RETURNING id`, counts and single values.
impl FromRow for i64 {
    fn from_row(row: &impl Columns) -> Result<Self, StoreError> {
        row.int(0)
    }
}

/// A nullable first column: `MIN(…)` over no rows.
impl FromRow for Option<i64> {
    fn from_row(row: &impl Columns) -> Result<Self, StoreError> {
        row.opt_int(0)
    }
}

impl FromRow for Option<String> {
    fn from_row(row: &impl Columns) -> Result<Self, StoreError> {
        row.opt_text(0)
    }
}

impl FromRow for Vec<u8> {
    fn from_row(row: &impl Columns) -> Result<Self, StoreError> {
        row.bytes(0)
    }
}

/// A word and its count (`GROUP BY`).
impl FromRow for (String, i64) {
    fn from_row(row: &impl Columns) -> Result<Self, StoreError> {
        Ok((row.text(0)?, row.int(1)?))
    }
}

impl FromRow for InstanceRow {
    fn from_row(row: &impl Columns) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.int(0)?,
            workflow_id: row.text(1)?,
            definition_hash: row.text(2)?,
            folio: row.text(3)?,
            status: row.word(4, InstanceStatus::parse)?,
            current_step: row.opt_text(5)?,
            fields: row.object(6)?,
            trigger_event: row.json(7)?,
            reply: row.opt_json(8)?,
            error: row.opt_text(9)?,
            created_at: row.int(10)?,
            updated_at: row.int(11)?,
        })
    }
}

impl FromRow for WaitRow {
    fn from_row(row: &impl Columns) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.int(0)?,
            instance_id: row.int(1)?,
            step_id: row.text(2)?,
            kind: row.word(3, WaitKind::parse)?,
            event_name: row.opt_text(4)?,
            scope: row.opt_text(5)?.as_deref().and_then(EventScope::parse),
            state: row.word(6, WaitState::parse)?,
            deadline: row.int(7)?,
            created_at: row.int(8)?,
            closed_at: row.opt_int(9)?,
        })
    }
}

impl FromRow for OutboxRow {
    fn from_row(row: &impl Columns) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.int(0)?,
            instance_id: row.int(1)?,
            wait_id: row.int(2)?,
            kind: row.word(3, OutboxKind::parse)?,
            request: row.json(4)?,
            state: row.word(5, OutboxState::parse)?,
            attempts: row.int4(6)?,
            next_attempt_at: row.int(7)?,
            lease_owner: row.opt_text(8)?,
            lease_until: row.opt_int(9)?,
            last_error: row.opt_text(10)?,
        })
    }
}

impl FromRow for HistoryRow {
    fn from_row(row: &impl Columns) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.int(0)?,
            instance_id: row.int(1)?,
            at: row.int(2)?,
            kind: row.text(3)?,
            step_id: row.opt_text(4)?,
            wait_id: row.opt_int(5)?,
            actor: row.text(6)?,
            dialect: row.text(7)?,
            source: row.opt_text(8)?,
            message_id: row.opt_text(9)?,
            detail: row.json(10)?,
        })
    }
}

impl FromRow for BufferedEventRow {
    fn from_row(row: &impl Columns) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.int(0)?,
            name: row.text(1)?,
            scope: row.word(2, EventScope::parse)?,
            properties: row.object(3)?,
            actor: row.text(4)?,
            created_at: row.int(5)?,
            expires_at: row.int(6)?,
        })
    }
}

impl FromRow for AccountRow {
    fn from_row(row: &impl Columns) -> Result<Self, StoreError> {
        Ok(Self {
            name: row.text(0)?,
            password_hash: row.text(1)?,
            admin: row.boolean(2)?,
            rights: row.text_list(3)?,
            created_at: row.int(4)?,
            updated_at: row.int(5)?,
        })
    }
}

impl FromRow for InboundRow {
    fn from_row(row: &impl Columns) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.int(0)?,
            workflow_id: row.text(1)?,
            kind: row.text(2)?,
            payload: row.bytes(3)?,
            encrypted: row.boolean(4)?,
            state: row.word(5, InboundState::parse)?,
            attempts: row.int(6)?,
            next_attempt_at: row.int(7)?,
            expires_at: row.int(8)?,
            lease_owner: row.opt_text(9)?,
            lease_until: row.opt_int(10)?,
            last_error: row.opt_text(11)?,
            instance_id: row.opt_int(12)?,
            received_at: row.int(13)?,
            updated_at: row.int(14)?,
        })
    }
}

impl FromRow for DefinitionRow {
    fn from_row(row: &impl Columns) -> Result<Self, StoreError> {
        Ok(Self {
            hash: row.text(0)?,
            workflow_id: row.text(1)?,
            name: row.text(2)?,
            file_name: row.text(3)?,
            source: row.bytes(4)?,
            loaded_at: row.int(5)?,
        })
    }
}

impl FromRow for LiveCount {
    fn from_row(row: &impl Columns) -> Result<Self, StoreError> {
        Ok(Self {
            definition_hash: row.text(0)?,
            current_step: row.opt_text(1)?,
            instances: row.int(2)?,
        })
    }
}
