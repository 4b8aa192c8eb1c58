//! The text forms vRO puts on the wire, and their mapping onto typed data fields.
//!
//! - Dates: `yyyyMMddHHmmssZ` (Java `SimpleDateFormat`, e.g. `20261122041500+0000`), what
//!   vRO clients parse; RFC 3339 is accepted on input too.
//! - Arrays: `#{#type#value#;#type#value#}#`, no escaping (as vRO). A value may contain
//!   `#` as long as it is not followed by `;` or the closing `}`.
//! - `sendCustomEvent` properties: `key=value` lines split on `\n` (a trailing `\r` is
//!   dropped), each on its first `=`; blank lines are skipped; a line without `=` is refused.
//! - `simpleExecuteWorkflow` inputs: `name,type,value,…` in triples, no escaping.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::engine::clock::parse_date_time;
use crate::engine::fields::{FieldType, excerpt};

/// The vRO type name of a field type (`Any` for free-form JSON).
pub fn type_name(field: FieldType) -> &'static str {
    match field {
        FieldType::String => "string",
        FieldType::Number => "number",
        FieldType::Boolean => "boolean",
        FieldType::Datetime => "Date",
        FieldType::Json => "Any",
    }
}

/// `yyyyMMddHHmmssZ` of an instant in UTC.
pub fn format_date(at: DateTime<Utc>) -> String {
    at.format("%Y%m%d%H%M%S%z").to_string()
}

/// An RFC 3339 timestamp (as views carry them) in vRO's form; `None` if it does not parse.
pub fn vro_date_of_rfc3339(text: &str) -> Option<String> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| format_date(at.with_timezone(&Utc)))
}

/// A vRO date (or RFC 3339) as the RFC 3339 text datetime fields hold.
pub fn parse_date(text: &str) -> Result<String, String> {
    let text = text.trim();
    let at = parse_date_time(text)
        .or_else(|| {
            // Some clients leave the zone out; vRO then assumes its own, which is UTC here.
            NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S")
                .ok()
                .map(|at| at.and_utc())
        })
        .ok_or_else(|| {
            format!("`{text}` is not a date in the form yyyyMMddHHmmssZ (e.g. 20261122041500+0000)")
        })?;
    Ok(at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// A typed attribute value (`type`, `value` of a `WorkflowTokenAttribute`) as JSON for the
/// engine, which then converts it to the field's declared type.
pub fn attribute_value(type_name: &str, value: Option<&str>) -> Result<Value, String> {
    let Some(text) = value else {
        return Ok(Value::Null);
    };
    match type_name.trim() {
        t if t.starts_with("Array") => parse_array(text).map(Value::Array),
        "Date" => parse_date(text).map(Value::String),
        "number" => number(text),
        "boolean" => match text.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            other => Err(format!("`{other}` is not a boolean (true or false)")),
        },
        // string, SecureString, Text, and types Holdpoint has no counterpart for: the text,
        // converted by the field's own type.
        _ => Ok(Value::String(text.to_string())),
    }
}

fn number(text: &str) -> Result<Value, String> {
    FieldType::Number
        .from_text(text)
        .map_err(|_| format!("`{}` is not a number", text.trim()))
}

/// `#{#type#value#;…}#` → values.
pub fn parse_array(text: &str) -> Result<Vec<Value>, String> {
    let bad = |why: &str| format!("array value `{text}` {why}; expected #{{#type#value#;…}}#");
    let inner = text
        .trim()
        .strip_prefix("#{")
        .and_then(|rest| rest.strip_suffix("}#"))
        .ok_or_else(|| bad("is not wrapped in #{ … }#"))?;
    if inner.is_empty() || inner == "#" {
        return Ok(Vec::new());
    }
    let mut items = Vec::new();
    let mut rest = inner;
    loop {
        let body = rest
            .strip_prefix('#')
            .ok_or_else(|| bad("has an element that does not start with #"))?;
        let (ty, after_type) = body
            .split_once('#')
            .ok_or_else(|| bad("has an element without a type"))?;
        // The value runs to the `#` that ends the element: followed by `;#` or the end.
        let (value, next) = match after_type.find("#;#") {
            Some(at) => (&after_type[..at], Some(&after_type[at + 2..])),
            None => (
                after_type
                    .strip_suffix('#')
                    .ok_or_else(|| bad("has an element that does not end with #"))?,
                None,
            ),
        };
        items.push(attribute_value(ty, Some(value)).map_err(|why| bad(&why))?);
        match next {
            Some(next) => rest = next,
            None => return Ok(items),
        }
    }
}

/// Values → `#{#type#value#;…}#`.
pub fn format_array(items: &[Value]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|item| {
            let (ty, value) = typed_text(item);
            format!("#{ty}#{}#", value.unwrap_or_default())
        })
        .collect();
    format!("#{{{}}}#", parts.join(";"))
}

/// The vRO type name and text of a JSON value (`None` text for null).
pub fn typed_text(value: &Value) -> (String, Option<String>) {
    match value {
        Value::Null => ("string".into(), None),
        Value::String(text) => ("string".into(), Some(text.clone())),
        Value::Number(number) => ("number".into(), Some(number.to_string())),
        Value::Bool(flag) => ("boolean".into(), Some(flag.to_string())),
        Value::Array(items) => (array_type(items), Some(format_array(items))),
        // vRO Properties have no stable text form; JSON is what a client can read back.
        Value::Object(_) => ("string".into(), Some(value.to_string())),
    }
}

/// `Array/<T>` with the common element type, else `Array/Any`.
fn array_type(items: &[Value]) -> String {
    let mut types = items.iter().map(|item| typed_text(item).0);
    let first = types.next();
    match first {
        Some(first) if types.all(|t| t == first) => format!("Array/{first}"),
        Some(_) => "Array/Any".into(),
        None => "Array/string".into(),
    }
}

/// A field's value as a `WorkflowTokenAttribute` (type, text), by its declared type.
pub fn field_attribute(declared: Option<FieldType>, value: &Value) -> (String, Option<String>) {
    match (declared, value) {
        (Some(ty), Value::Null) => (type_name(ty).into(), None),
        (Some(FieldType::Datetime), Value::String(text)) => (
            "Date".into(),
            Some(vro_date_of_rfc3339(text).unwrap_or_else(|| text.clone())),
        ),
        (Some(FieldType::Json), _) | (None, _) => typed_text(value),
        (Some(ty), Value::String(text)) => (type_name(ty).into(), Some(text.clone())),
        (Some(ty), other) => (type_name(ty).into(), typed_text(other).1),
    }
}

/// `serializedProperties` → event properties (strings).
pub fn parse_properties(serialized: Option<&str>) -> Result<Map<String, Value>, String> {
    let mut properties = Map::new();
    let Some(serialized) = serialized else {
        return Ok(properties);
    };
    for (index, line) in serialized.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| {
            format!(
                "serializedProperties line {}: `{}` has no `=`; send key=value lines",
                index + 1,
                excerpt(line)
            )
        })?;
        let key = key.trim();
        if key.is_empty() {
            return Err(format!(
                "serializedProperties line {}: the key before `=` is empty",
                index + 1
            ));
        }
        if properties
            .insert(key.to_string(), Value::String(value.to_string()))
            .is_some()
        {
            return Err(format!("serializedProperties: key `{key}` is given twice"));
        }
    }
    Ok(properties)
}

/// `name,type,value,…` (simpleExecuteWorkflow's `in3`) → (name, type, value) triples.
pub fn parse_simple_inputs(text: &str) -> Result<Vec<(String, String, String)>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = text.split(',').collect();
    if !parts.len().is_multiple_of(3) {
        return Err(format!(
            "in3 has {} comma-separated parts; it must be name,type,value triples (commas inside values are not supported by this operation)",
            parts.len()
        ));
    }
    Ok(parts
        .chunks(3)
        .map(|c| {
            (
                c[0].trim().to_string(),
                c[1].trim().to_string(),
                c[2].to_string(),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_round_trip_in_vro_form() {
        assert_eq!(
            parse_date("20261122041500+0100").unwrap(),
            "2026-11-22T03:15:00Z"
        );
        assert_eq!(
            parse_date("2026-11-22T03:15:00Z").unwrap(),
            "2026-11-22T03:15:00Z"
        );
        assert_eq!(
            parse_date("20261122031500").unwrap(),
            "2026-11-22T03:15:00Z"
        );
        assert!(
            parse_date("tomorrow")
                .unwrap_err()
                .contains("yyyyMMddHHmmssZ")
        );
        assert_eq!(
            vro_date_of_rfc3339("2026-11-22T03:15:00.250Z").unwrap(),
            "20261122031500+0000"
        );
    }

    #[test]
    fn arrays_parse_and_format() {
        let text = "#{#string#a#;#number#2.5#;#boolean#true#}#";
        let items = parse_array(text).unwrap();
        assert_eq!(items, vec![json!("a"), json!(2.5), json!(true)]);
        assert_eq!(format_array(&items), text);
        assert_eq!(parse_array("#{}#").unwrap(), Vec::<Value>::new());
        assert_eq!(parse_array("#{#}#").unwrap(), Vec::<Value>::new());
        // A `#` inside a value survives unless it ends the element.
        assert_eq!(parse_array("#{#string#a#b#}#").unwrap(), vec![json!("a#b")]);
        assert!(parse_array("a,b").unwrap_err().contains("#{ … }#"));
        assert!(parse_array("#{string#a#}#").is_err());
        assert!(
            parse_array("#{#number#x#}#")
                .unwrap_err()
                .contains("not a number")
        );
        assert_eq!(typed_text(&json!(["x", "y"])).0, "Array/string");
        assert_eq!(typed_text(&json!(["x", 1])).0, "Array/Any");
    }

    #[test]
    fn attributes_become_typed_values() {
        assert_eq!(
            attribute_value("string", Some(" x ")).unwrap(),
            json!(" x ")
        );
        assert_eq!(attribute_value("number", Some("4.0")).unwrap(), json!(4.0));
        assert_eq!(attribute_value("number", Some("4")).unwrap(), json!(4));
        assert_eq!(
            attribute_value("boolean", Some("false")).unwrap(),
            json!(false)
        );
        assert!(attribute_value("boolean", Some("maybe")).is_err());
        assert_eq!(
            attribute_value("Date", Some("20260101000000+0000")).unwrap(),
            json!("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            attribute_value("Array/string", Some("#{#string#a#}#")).unwrap(),
            json!(["a"])
        );
        assert_eq!(attribute_value("string", None).unwrap(), Value::Null);
    }

    #[test]
    fn fields_become_attributes() {
        assert_eq!(
            field_attribute(Some(FieldType::Datetime), &json!("2026-01-01T00:00:00Z")),
            ("Date".into(), Some("20260101000000+0000".into()))
        );
        assert_eq!(
            field_attribute(Some(FieldType::Number), &json!(3)),
            ("number".into(), Some("3".into()))
        );
        assert_eq!(
            field_attribute(Some(FieldType::Boolean), &Value::Null),
            ("boolean".into(), None)
        );
        assert_eq!(
            field_attribute(Some(FieldType::Json), &json!(["a"])),
            ("Array/string".into(), Some("#{#string#a#}#".into()))
        );
    }

    #[test]
    fn serialized_properties() {
        let parsed = parse_properties(Some("a=1\r\nb=x=y\n\nc=")).unwrap();
        assert_eq!(
            parsed,
            json!({"a": "1", "b": "x=y", "c": ""})
                .as_object()
                .unwrap()
                .clone()
        );
        assert!(parse_properties(None).unwrap().is_empty());
        assert!(parse_properties(Some("")).unwrap().is_empty());
        let error = parse_properties(Some("a=1\nbroken")).unwrap_err();
        assert_eq!(
            error,
            "serializedProperties line 2: `broken` has no `=`; send key=value lines"
        );
        assert!(parse_properties(Some("=1")).unwrap_err().contains("empty"));
        assert!(
            parse_properties(Some("a=1\na=2"))
                .unwrap_err()
                .contains("twice")
        );
    }

    #[test]
    fn simple_inputs_are_triples() {
        assert_eq!(
            parse_simple_inputs("host,string,web-1,cpus,number,2").unwrap(),
            vec![
                ("host".into(), "string".into(), "web-1".into()),
                ("cpus".into(), "number".into(), "2".into())
            ]
        );
        assert!(parse_simple_inputs("").unwrap().is_empty());
        assert!(
            parse_simple_inputs("a,string")
                .unwrap_err()
                .contains("triples")
        );
    }
}
