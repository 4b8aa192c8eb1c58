//! One value of one row, read from either backend, written to PostgreSQL, and rendered
//! canonically for the checksum.
//!
//! The checksum must come out the same on both sides for the same data, whatever each
//! backend does to it on the way: PostgreSQL's `JSONB` reorders object keys and drops
//! insignificant whitespace, so JSON is parsed and rendered again with keys sorted by
//! their bytes, and numbers in their shortest form. Everything else is compared exactly.
//! Each value is tagged and length-prefixed, so no two different rows render the same.

use rusqlite::types::ValueRef;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio_postgres::types::{Json, ToSql};

use super::tables::{Kind, Table};
use crate::store::StoreError;

/// One column value, backend-neutral.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
    Json(Value),
    TextList(Vec<String>),
}

/// A parameter for a PostgreSQL statement, owned until the statement is sent.
pub type Param = Box<dyn ToSql + Sync + Send>;

impl Cell {
    /// The value as a parameter of the column's PostgreSQL type. `NULL` is typed too:
    /// tokio-postgres checks every parameter against the prepared statement.
    pub fn param(&self, kind: Kind) -> Result<Param, StoreError> {
        let param: Param = match (kind, self) {
            (Kind::Int8, Self::Null) => Box::new(None::<i64>),
            (Kind::Int4, Self::Null) => Box::new(None::<i32>),
            (Kind::Text, Self::Null) => Box::new(None::<String>),
            (Kind::Bytes, Self::Null) => Box::new(None::<Vec<u8>>),
            (Kind::Bool, Self::Null) => Box::new(None::<bool>),
            (Kind::Json, Self::Null) => Box::new(None::<Json<Value>>),
            (Kind::TextList, Self::Null) => Box::new(None::<Vec<String>>),
            (Kind::Int8, Self::Int(value)) => Box::new(*value),
            (Kind::Int4, Self::Int(value)) => Box::new(i32::try_from(*value).map_err(|_| {
                StoreError::Corrupt(format!("{value} does not fit a 32-bit column"))
            })?),
            (Kind::Text, Self::Text(text)) => Box::new(text.clone()),
            (Kind::Bytes, Self::Bytes(bytes)) => Box::new(bytes.clone()),
            (Kind::Bool, Self::Bool(value)) => Box::new(*value),
            (Kind::Json, Self::Json(value)) => Box::new(Json(value.clone())),
            (Kind::TextList, Self::TextList(items)) => Box::new(items.clone()),
            (kind, cell) => {
                return Err(StoreError::Other(format!(
                    "a {cell:?} value cannot go into a {kind:?} column"
                )));
            }
        };
        Ok(param)
    }

    /// Appends the canonical rendering to the checksum.
    fn hash_into(&self, hasher: &mut Sha256) {
        let framed = |hasher: &mut Sha256, tag: u8, bytes: &[u8]| {
            hasher.update([tag]);
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        match self {
            Self::Null => hasher.update(b"N"),
            Self::Int(value) => framed(hasher, b'I', &value.to_le_bytes()),
            Self::Text(text) => framed(hasher, b'T', text.as_bytes()),
            Self::Bytes(bytes) => framed(hasher, b'B', bytes),
            Self::Bool(value) => framed(hasher, b'b', &[u8::from(*value)]),
            Self::Json(value) => {
                let mut text = String::new();
                canonical_json(value, &mut text);
                framed(hasher, b'J', text.as_bytes());
            }
            Self::TextList(items) => {
                hasher.update(b"L");
                hasher.update((items.len() as u64).to_le_bytes());
                for item in items {
                    framed(hasher, b'T', item.as_bytes());
                }
            }
        }
    }
}

/// JSON with object keys sorted by their bytes, no whitespace, numbers as serde_json
/// renders the parsed value (both sides parse the same digits to the same number).
pub fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical_json(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                canonical_json(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Row count and SHA-256 over the canonical rendering of the rows, in key order.
#[derive(Default)]
pub struct Tally {
    rows: u64,
    hasher: Sha256,
}

impl Tally {
    pub fn add(&mut self, row: &[Cell]) {
        self.rows += 1;
        for cell in row {
            cell.hash_into(&mut self.hasher);
        }
    }

    /// Rows and the checksum in hex.
    pub fn finish(self) -> (u64, String) {
        let digest = self.hasher.finalize();
        let hex = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        (self.rows, hex)
    }
}

fn corrupt(table: &Table, column: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{}.{column}: {why}", table.name))
}

/// One SQLite row (columns in the table's order) as cells, with its size as stored
/// (to bound the memory a batch takes).
pub fn from_sqlite(
    table: &Table,
    row: &rusqlite::Row<'_>,
) -> Result<(Vec<Cell>, usize), StoreError> {
    let mut cells = Vec::with_capacity(table.columns.len());
    let mut size = 0;
    for (index, column) in table.columns.iter().enumerate() {
        let value = row.get_ref(index)?;
        size += match value {
            ValueRef::Text(bytes) | ValueRef::Blob(bytes) => bytes.len(),
            _ => 8,
        };
        let text = |value: ValueRef<'_>| -> Result<String, StoreError> {
            match value {
                ValueRef::Text(bytes) | ValueRef::Blob(bytes) => String::from_utf8(bytes.to_vec())
                    .map_err(|_| corrupt(table, column.name, "text is not UTF-8")),
                other => Err(corrupt(
                    table,
                    column.name,
                    format!("expected text, found {:?}", other.data_type()),
                )),
            }
        };
        let cell = match (column.kind, value) {
            (_, ValueRef::Null) => Cell::Null,
            (Kind::Int8 | Kind::Int4, ValueRef::Integer(number)) => Cell::Int(number),
            (Kind::Bool, ValueRef::Integer(number)) => Cell::Bool(number != 0),
            (Kind::Bytes, ValueRef::Blob(bytes) | ValueRef::Text(bytes)) => {
                Cell::Bytes(bytes.to_vec())
            }
            (Kind::Text, value) => Cell::Text(text(value)?),
            (Kind::Json, value) => Cell::Json(
                serde_json::from_str(&text(value)?)
                    .map_err(|error| corrupt(table, column.name, error))?,
            ),
            (Kind::TextList, value) => Cell::TextList(
                serde_json::from_str(&text(value)?)
                    .map_err(|error| corrupt(table, column.name, error))?,
            ),
            (kind, other) => {
                return Err(corrupt(
                    table,
                    column.name,
                    format!("expected {kind:?}, found {:?}", other.data_type()),
                ));
            }
        };
        cells.push(cell);
    }
    Ok((cells, size))
}

/// One PostgreSQL row (columns in the table's order) as cells.
pub fn from_postgres(table: &Table, row: &tokio_postgres::Row) -> Result<Vec<Cell>, StoreError> {
    let mut cells = Vec::with_capacity(table.columns.len());
    for (index, column) in table.columns.iter().enumerate() {
        let cell = match column.kind {
            Kind::Int8 => row.try_get::<_, Option<i64>>(index)?.map(Cell::Int),
            Kind::Int4 => row
                .try_get::<_, Option<i32>>(index)?
                .map(|value| Cell::Int(value.into())),
            Kind::Text => row.try_get::<_, Option<String>>(index)?.map(Cell::Text),
            Kind::Bytes => row.try_get::<_, Option<Vec<u8>>>(index)?.map(Cell::Bytes),
            Kind::Bool => row.try_get::<_, Option<bool>>(index)?.map(Cell::Bool),
            Kind::Json => row
                .try_get::<_, Option<Json<Value>>>(index)?
                .map(|json| Cell::Json(json.0)),
            Kind::TextList => row
                .try_get::<_, Option<Vec<String>>>(index)?
                .map(Cell::TextList),
        };
        cells.push(cell.unwrap_or(Cell::Null));
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use serde_json::Value;

    use super::super::tables::Kind;
    use super::{Cell, Tally, canonical_json};

    fn checksum(rows: &[Vec<Cell>]) -> (u64, String) {
        let mut tally = Tally::default();
        for row in rows {
            tally.add(row);
        }
        tally.finish()
    }

    #[test]
    fn json_key_order_and_spacing_do_not_matter() {
        let sqlite: Value =
            serde_json::from_str(r#"{"zeta": 1, "a": {"y": [1, 2.5], "b": null}}"#).expect("json");
        // What JSONB gives back: keys by length, then bytes; no spaces.
        let postgres: Value =
            serde_json::from_str(r#"{"a":{"b":null,"y":[1,2.5]},"zeta":1}"#).expect("json");
        assert_eq!(
            checksum(&[vec![Cell::Int(1), Cell::Json(sqlite)]]),
            checksum(&[vec![Cell::Int(1), Cell::Json(postgres)]])
        );
        let mut text = String::new();
        canonical_json(&json!({"b": 1, "a": "x\"y", "ä": [true]}), &mut text);
        assert_eq!(text, r#"{"a":"x\"y","b":1,"ä":[true]}"#);
    }

    #[test]
    fn any_difference_changes_the_checksum() {
        let row = || {
            vec![
                Cell::Int(7),
                Cell::Text("open".into()),
                Cell::Json(json!({"n": 1})),
                Cell::Null,
            ]
        };
        let base = checksum(&[row()]);
        let mut changed_json = row();
        changed_json[2] = Cell::Json(json!({"n": 2}));
        let mut null_vs_empty = row();
        null_vs_empty[3] = Cell::Text(String::new());
        let mut json_null_vs_sql_null = row();
        json_null_vs_sql_null[3] = Cell::Json(Value::Null);
        for other in [changed_json, null_vs_empty, json_null_vs_sql_null] {
            assert_ne!(checksum(&[other]), base);
        }
        // Values do not run into each other: "ab","c" is not "a","bc".
        assert_ne!(
            checksum(&[vec![Cell::Text("ab".into()), Cell::Text("c".into())]]),
            checksum(&[vec![Cell::Text("a".into()), Cell::Text("bc".into())]])
        );
        // Order and count of rows count.
        assert_ne!(checksum(&[row(), row()]), base);
        assert_eq!(checksum(&[row(), row()]).0, 2);
    }

    #[test]
    fn params_are_typed_and_checked() {
        assert!(
            Cell::Int(i64::from(i32::MAX) + 1)
                .param(Kind::Int4)
                .is_err()
        );
        assert!(Cell::Text("x".into()).param(Kind::Int8).is_err());
        assert!(Cell::Null.param(Kind::Json).is_ok());
    }
}
