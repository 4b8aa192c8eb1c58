//! Statement parameters, written once for both backends.
//!
//! A [`Param`] borrows what the caller has (no copy on PostgreSQL's immediate path) and is
//! bound by each driver in its own way: as `ToSql` for tokio-postgres (a typed `NULL`,
//! `jsonb`, `text[]`, `bigint[]`), as `rusqlite::ToSql` for SQLite (JSON rendered to text,
//! lists as JSON arrays that `json_each` unrolls). [`Param::into_owned`] detaches a
//! parameter from the caller's borrows when it must outlive the call: a write deferred
//! into a PostgreSQL pipeline.

use std::borrow::Cow;

use rusqlite::types::{ToSqlOutput, Value as SqliteValue};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio_postgres::types::{Json, ToSql};

/// A JSON document as the engine holds it: any value, or an object (fields, properties).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum Doc<'a> {
    Value(Cow<'a, Value>),
    Object(Cow<'a, Map<String, Value>>),
}

impl Doc<'_> {
    fn into_owned(self) -> Doc<'static> {
        match self {
            Self::Value(value) => Doc::Value(Cow::Owned(value.into_owned())),
            Self::Object(map) => Doc::Object(Cow::Owned(map.into_owned())),
        }
    }
}

/// One bound value. `None`s are typed: tokio-postgres checks every parameter against the
/// type PostgreSQL inferred for it.
#[derive(Debug, Clone)]
pub(crate) enum Param<'a> {
    Int(Option<i64>),
    Bool(bool),
    Text(Option<Cow<'a, str>>),
    Bytes(Cow<'a, [u8]>),
    Json(Option<Json<Doc<'a>>>),
    TextList(Option<Vec<String>>),
    IntList(Vec<i64>),
}

impl<'a> Param<'a> {
    pub fn json(value: &'a Value) -> Self {
        Self::Json(Some(Json(Doc::Value(Cow::Borrowed(value)))))
    }

    pub fn object(map: &'a Map<String, Value>) -> Self {
        Self::Json(Some(Json(Doc::Object(Cow::Borrowed(map)))))
    }

    pub fn opt_json(value: Option<&'a Value>) -> Self {
        Self::Json(value.map(|value| Json(Doc::Value(Cow::Borrowed(value)))))
    }

    /// Detaches the parameter from the caller's borrows (a copy of borrowed text).
    pub fn into_owned(self) -> Param<'static> {
        match self {
            Self::Int(value) => Param::Int(value),
            Self::Bool(value) => Param::Bool(value),
            Self::Text(text) => Param::Text(text.map(|text| Cow::Owned(text.into_owned()))),
            Self::Bytes(bytes) => Param::Bytes(Cow::Owned(bytes.into_owned())),
            Self::Json(doc) => Param::Json(doc.map(|Json(doc)| Json(doc.into_owned()))),
            Self::TextList(list) => Param::TextList(list),
            Self::IntList(list) => Param::IntList(list),
        }
    }

    /// The value as tokio-postgres binds it.
    pub fn as_postgres(&self) -> &(dyn ToSql + Sync) {
        match self {
            Self::Int(value) => value,
            Self::Bool(value) => value,
            Self::Text(text) => text,
            Self::Bytes(bytes) => bytes,
            Self::Json(doc) => doc,
            Self::TextList(list) => list,
            Self::IntList(list) => list,
        }
    }
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let json = |value: &dyn erased::Render| {
            value
                .render()
                .map(|text| ToSqlOutput::Owned(SqliteValue::Text(text)))
                .map_err(|error| rusqlite::Error::ToSqlConversionFailure(error.into()))
        };
        match self {
            Self::Int(value) => rusqlite::ToSql::to_sql(value),
            Self::Bool(value) => rusqlite::ToSql::to_sql(value),
            Self::Text(Some(text)) => Ok(ToSqlOutput::from(text.as_ref())),
            Self::Text(None) => Ok(ToSqlOutput::Owned(SqliteValue::Null)),
            Self::Bytes(bytes) => Ok(ToSqlOutput::from(bytes.as_ref())),
            Self::Json(None) | Self::TextList(None) => Ok(ToSqlOutput::Owned(SqliteValue::Null)),
            Self::Json(Some(Json(doc))) => json(doc),
            Self::TextList(Some(list)) => json(list),
            Self::IntList(list) => json(list),
        }
    }
}

/// JSON rendering behind a trait object, so the SQLite binding handles every list and
/// document shape with one closure.
mod erased {
    pub(super) trait Render {
        fn render(&self) -> serde_json::Result<String>;
    }

    impl<T: serde::Serialize> Render for T {
        fn render(&self) -> serde_json::Result<String> {
            serde_json::to_string(self)
        }
    }
}

impl From<i64> for Param<'_> {
    fn from(value: i64) -> Self {
        Self::Int(Some(value))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(value: Option<i64>) -> Self {
        Self::Int(value)
    }
}

impl From<bool> for Param<'_> {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(text: &'a str) -> Self {
        Self::Text(Some(Cow::Borrowed(text)))
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(text: &'a String) -> Self {
        Self::Text(Some(Cow::Borrowed(text)))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(text: Option<&'a str>) -> Self {
        Self::Text(text.map(Cow::Borrowed))
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(text: &'a Option<String>) -> Self {
        Self::Text(text.as_deref().map(Cow::Borrowed))
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Self::Bytes(Cow::Borrowed(bytes))
    }
}

impl<'a> From<&'a Vec<u8>> for Param<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        Self::Bytes(Cow::Borrowed(bytes))
    }
}

impl From<&[i64]> for Param<'_> {
    fn from(ids: &[i64]) -> Self {
        Self::IntList(ids.to_vec())
    }
}

impl From<&[String]> for Param<'_> {
    fn from(list: &[String]) -> Self {
        Self::TextList(Some(list.to_vec()))
    }
}

impl From<&Vec<String>> for Param<'_> {
    fn from(list: &Vec<String>) -> Self {
        Self::TextList(Some(list.clone()))
    }
}

/// `vec![Param::from(a), Param::from(b), …]`: the parameters of one statement, in the
/// order of their numbers (`$1`, `$2`, …).
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::store::sql::Param::from($value)),*]
    };
}
pub(crate) use args;
