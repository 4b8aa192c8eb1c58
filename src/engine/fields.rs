//! Typed data fields (K2 DataFields). A workflow declares each field with a type and an
//! optional default; values arriving from any dialect are converted here, and a value that
//! does not fit is an `invalid_field` error naming the field and its type.
//!
//! Callers may send a typed JSON value or its text form (SOAP and vRO only have text):
//! `"42"` is a fine number, `"true"` a fine boolean. `null` clears a field.

use serde::Deserialize;
use serde_json::Value;

use super::clock::parse_date_time;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Number,
    Boolean,
    Datetime,
    Json,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Datetime => "datetime",
            Self::Json => "json",
        }
    }

    /// Converts `value` to this type, or says why it cannot be.
    pub fn coerce(self, value: &Value) -> Result<Value, String> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        match (self, value) {
            (Self::Json, value) => Ok(value.clone()),
            (_, Value::String(text)) => self.from_text(text),
            (Self::String, Value::Number(number)) => Ok(Value::String(number.to_string())),
            (Self::String, Value::Bool(flag)) => Ok(Value::String(flag.to_string())),
            (Self::Number, Value::Number(_)) | (Self::Boolean, Value::Bool(_)) => Ok(value.clone()),
            (_, other) => Err(format!(
                "expected {}, got {}",
                self.as_str(),
                json_kind(other)
            )),
        }
    }

    /// Converts the text form of a value (what templates render and SOAP carries).
    pub fn from_text(self, text: &str) -> Result<Value, String> {
        match self {
            Self::String => Ok(Value::String(text.to_string())),
            Self::Number => {
                let trimmed = text.trim();
                let number: f64 = trimmed
                    .parse()
                    .map_err(|_| format!("expected number, got `{}`", excerpt(text)))?;
                if !number.is_finite() {
                    return Err(format!("expected a finite number, got `{}`", excerpt(text)));
                }
                // Keep integers integral so that `5` round-trips as `5`, not `5.0`.
                if let Ok(integer) = trimmed.parse::<i64>() {
                    return Ok(Value::from(integer));
                }
                Ok(serde_json::Number::from_f64(number)
                    .map(Value::Number)
                    .unwrap_or(Value::Null))
            }
            Self::Boolean => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(Value::Bool(true)),
                "false" | "0" | "no" => Ok(Value::Bool(false)),
                _ => Err(format!("expected boolean, got `{}`", excerpt(text))),
            },
            // RFC 3339, or vRO's `yyyyMMddHHmmssZ` (what Orchestrator clients send).
            Self::Datetime => parse_date_time(text)
                .map(|at| Value::String(at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
                .ok_or_else(|| format!("expected datetime (RFC 3339), got `{}`", excerpt(text))),
            Self::Json => {
                if text.trim().is_empty() {
                    return Ok(Value::Null);
                }
                serde_json::from_str(text)
                    .or_else(|_| Ok::<_, String>(Value::String(text.to_string())))
            }
        }
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The start of a caller's value, for error messages that must stay short.
pub fn excerpt(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::{FieldType, Value};
    use serde_json::json;

    #[test]
    fn text_forms_convert() {
        assert_eq!(FieldType::Number.coerce(&json!("42")), Ok(json!(42)));
        assert_eq!(FieldType::Number.coerce(&json!("1.5")), Ok(json!(1.5)));
        assert_eq!(FieldType::Boolean.coerce(&json!("TRUE")), Ok(json!(true)));
        assert_eq!(FieldType::String.coerce(&json!(7)), Ok(json!("7")));
        assert_eq!(
            FieldType::Datetime.coerce(&json!("2026-11-21T10:00:00+01:00")),
            Ok(json!("2026-11-21T09:00:00Z"))
        );
        assert_eq!(
            FieldType::Datetime.coerce(&json!("20261121100000+0100")),
            Ok(json!("2026-11-21T09:00:00Z"))
        );
        assert_eq!(
            FieldType::Json.coerce(&json!("{\"a\":1}")),
            Ok(json!("{\"a\":1}"))
        );
        assert_eq!(FieldType::Json.from_text("{\"a\":1}"), Ok(json!({"a": 1})));
        assert_eq!(FieldType::Number.coerce(&Value::Null), Ok(Value::Null));
    }

    #[test]
    fn wrong_types_say_what_was_expected() {
        assert_eq!(
            FieldType::Number.coerce(&json!("abc")).unwrap_err(),
            "expected number, got `abc`"
        );
        assert_eq!(
            FieldType::Boolean.coerce(&json!(3)).unwrap_err(),
            "expected boolean, got number"
        );
        assert!(
            FieldType::Datetime
                .coerce(&json!("yesterday"))
                .unwrap_err()
                .contains("RFC 3339")
        );
        assert!(FieldType::Number.coerce(&json!("NaN")).is_err());
        assert!(
            FieldType::String
                .coerce(&json!([1]))
                .unwrap_err()
                .contains("array")
        );
    }
}
