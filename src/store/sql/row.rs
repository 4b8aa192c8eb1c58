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
    AccountRow, BufferedEventRow, DefinitionRow, DueCount, EventScope, HistoryRow, InboundRow,
    InboundState, InstanceRow, InstanceStatus, LiveCount, OutboxKind, OutboxRow, OutboxState,
    StepCount, WaitKind, WaitRow, WaitState,
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

    /// A nullable word column; an unknown word reads as `None`.
    fn opt_word<T>(
        &self,
        index: usize,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.opt_text(index)?.as_deref().and_then(parse))
    }

    /// A word column read as one of the model's enums.
    fn word<T>(&self, index: usize, parse: fn(&str) -> Option<T>) -> Result<T, StoreError> {
        let text = self.text(index)?;
        parse(&text).ok_or_else(|| StoreError::Corrupt(format!("unknown value {text}")))
    }
}

/// The getters both drivers answer alike: `$get` reads a column as any type it decodes.
macro_rules! typed_getters {
    ($get:ident) => {
        fn int(&self, index: usize) -> Result<i64, StoreError> {
            $get(self, index)
        }
        fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
            $get(self, index)
        }
        fn int4(&self, index: usize) -> Result<i32, StoreError> {
            $get(self, index)
        }
        fn boolean(&self, index: usize) -> Result<bool, StoreError> {
            $get(self, index)
        }
        fn text(&self, index: usize) -> Result<String, StoreError> {
            $get(self, index)
        }
        fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
            $get(self, index)
        }
        fn bytes(&self, index: usize) -> Result<Vec<u8>, StoreError> {
            $get(self, index)
        }
    };
}

/// SQLite stores JSON documents and text lists as JSON text.
impl Columns for rusqlite::Row<'_> {
    typed_getters!(sqlite_get);

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

/// PostgreSQL stores them as `jsonb` and `text[]`.
impl Columns for tokio_postgres::Row {
    typed_getters!(postgres_get);

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

/// `impl FromRow for $model`, its fields read from consecutive columns in the order
/// given (the order of the matching column list), each with the [`Columns`] getter
/// named after it.
macro_rules! from_columns {
    ($model:ident { $($field:ident: $getter:ident $(($parse:path))?),* $(,)? }) => {
        impl FromRow for $model {
            fn from_row(row: &impl Columns) -> Result<Self, StoreError> {
                let mut column = 0;
                Ok(Self {
                    $($field: {
                        column += 1;
                        row.$getter(column - 1 $(, $parse)?)?
                    }),*
                })
            }
        }
    };
}

from_columns!(InstanceRow {
    id: int,
    workflow_id: text,
    definition_hash: text,
    folio: text,
    status: word(InstanceStatus::parse),
    current_step: opt_text,
    fields: object,
    trigger_event: json,
    reply: opt_json,
    error: opt_text,
    created_at: int,
    updated_at: int,
});
from_columns!(WaitRow {
    id: int,
    instance_id: int,
    step_id: text,
    kind: word(WaitKind::parse),
    event_name: opt_text,
    scope: opt_word(EventScope::parse),
    state: word(WaitState::parse),
    deadline: int,
    created_at: int,
    closed_at: opt_int,
});
from_columns!(OutboxRow {
    id: int,
    instance_id: int,
    wait_id: int,
    kind: word(OutboxKind::parse),
    request: json,
    state: word(OutboxState::parse),
    attempts: int4,
    next_attempt_at: int,
    lease_owner: opt_text,
    lease_until: opt_int,
    last_error: opt_text,
});
from_columns!(HistoryRow {
    id: int,
    instance_id: int,
    at: int,
    kind: text,
    step_id: opt_text,
    wait_id: opt_int,
    actor: text,
    dialect: text,
    source: opt_text,
    message_id: opt_text,
    detail: json,
});
from_columns!(BufferedEventRow {
    id: int,
    name: text,
    scope: word(EventScope::parse),
    properties: object,
    actor: text,
    created_at: int,
    expires_at: int,
});
from_columns!(AccountRow {
    name: text,
    password_hash: text,
    admin: boolean,
    rights: text_list,
    created_at: int,
    updated_at: int,
});
from_columns!(InboundRow {
    id: int,
    workflow_id: text,
    kind: text,
    payload: bytes,
    encrypted: boolean,
    state: word(InboundState::parse),
    attempts: int,
    next_attempt_at: int,
    expires_at: int,
    lease_owner: opt_text,
    lease_until: opt_int,
    last_error: opt_text,
    instance_id: opt_int,
    received_at: int,
    updated_at: int,
});
from_columns!(DefinitionRow {
    hash: text,
    workflow_id: text,
    name: text,
    file_name: text,
    source: bytes,
    loaded_at: int,
});
from_columns!(StepCount {
    step_id: text,
    waiting: int,
    overdue: int,
    failed: int
});
from_columns!(DueCount {
    hour: int,
    waits: int
});
from_columns!(LiveCount {
    definition_hash: text,
    current_step: opt_text,
    instances: int
});
