//! `ServerItemService` over SOAP 1.1 and 1.2 (namespace `urn:holdpoint:server-items`,
//! path `/soap/server-items`): `OpenServerItem`, `FinishServerItem`, `FailServerItem`,
//! `ExtendServerItem`, document/literal wrapped. Data fields are
//! `<field name="…">value</field>`; a null value is `<field name="…" nil="true"/>`, an
//! attribute of our schema rather than `xsi:nil`: a generated client reads an `xsi:nil`
//! element as a null *object* and so loses its name (Mono's proxies keep a nameless null,
//! node-soap drops it), while an attribute reaches every client with the name beside it.
//! Requests may still say `xsi:nil="true"`, as clients built on the older schema do.
//! Callers authenticate with HTTP Basic and need the workflow's `server_event`
//! permission, exactly as over REST.

use std::sync::LazyLock;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::engine::{InstanceSummary, ServerItemView};
use crate::error::ErrorCode;
use crate::http::soap::{HeaderCredentials, SoapCall, SoapService, engine_fault, request_response};
use crate::services::DEFAULT_FAIL_MESSAGE;
use crate::services::envelope::filled_text;
use crate::soap::service::{Operation, ServiceDescriptor, inline_schema};
use crate::soap::writer::XmlWriter;
use crate::soap::{Element, SoapError, SoapVersion};

pub const NAMESPACE: &str = "urn:holdpoint:server-items";
pub const PATH: &str = "/soap/server-items";
/// The dialect recorded in history.
pub const DIALECT: &str = "soap";

const OPERATIONS: &[Operation] = &[
    request_response("OpenServerItem"),
    request_response("FinishServerItem"),
    request_response("FailServerItem"),
    request_response("ExtendServerItem"),
];

const WSDL_TEMPLATE: &str = include_str!("../../../wsdl/server-items.wsdl");
const SCHEMA: &str = include_str!("../../../schemas/server-items.xsd");

/// The served WSDL: the template with the schema inlined (its XML declaration dropped).
static WSDL: LazyLock<String> = LazyLock::new(|| inline_schema(WSDL_TEMPLATE, SCHEMA));

pub struct ServerItemService {
    descriptor: ServiceDescriptor,
}

impl Default for ServerItemService {
    fn default() -> Self {
        Self {
            descriptor: ServiceDescriptor {
                name: "ServerItemService",
                dialect: DIALECT,
                paths: vec![PATH.to_string()],
                namespace: NAMESPACE,
                operations: OPERATIONS,
                versions: &[SoapVersion::V11, SoapVersion::V12],
                wsdl: WSDL.clone(),
            },
        }
    }
}

#[async_trait]
impl SoapService for ServerItemService {
    fn descriptor(&self) -> &ServiceDescriptor {
        &self.descriptor
    }

    /// Every operation takes HTTP Basic: a stranger is refused before the body is read.
    fn header_credentials(&self) -> HeaderCredentials {
        HeaderCredentials::Required
    }

    async fn call(&self, call: SoapCall<'_>) -> Result<Option<String>, SoapError> {
        let principal = call.authenticate().await?;
        let mut caller = principal.caller(DIALECT, call.source());
        let engine = &call.state.engine;
        let body = &call.envelope.body;
        let serial = body.required_text(NAMESPACE, "serialNumber")?.trim();
        let answer = match call.operation.name {
            "OpenServerItem" => {
                let item = engine
                    .open_server_item(serial, &caller)
                    .await
                    .map_err(engine_fault)?;
                open_response(&item)
            }
            "FinishServerItem" => {
                let fields = match body.child(NAMESPACE, "fields") {
                    Some(fields) => read_fields(fields)?,
                    None => Map::new(),
                };
                let key = filled_text(body, NAMESPACE, "idempotencyKey").map(str::to_string);
                caller.message_id = key.clone();
                let outcome = engine
                    .finish_server_item_summary(serial, &fields, &caller, key.as_deref())
                    .await
                    .map_err(engine_fault)?;
                let mut out = XmlWriter::new();
                out.start("FinishServerItemResponse", &[("xmlns", NAMESPACE)]);
                instance_summary(&mut out, &outcome.instance);
                out.element("replayed", if outcome.replayed { "true" } else { "false" })
                    .end("FinishServerItemResponse");
                out.finish()
            }
            "FailServerItem" => {
                let message =
                    filled_text(body, NAMESPACE, "message").unwrap_or(DEFAULT_FAIL_MESSAGE);
                let instance = engine
                    .fail_server_item_summary(serial, message, &caller)
                    .await
                    .map_err(engine_fault)?;
                let mut out = XmlWriter::new();
                out.start("FailServerItemResponse", &[("xmlns", NAMESPACE)]);
                instance_summary(&mut out, &instance);
                out.end("FailServerItemResponse");
                out.finish()
            }
            "ExtendServerItem" => {
                let text = body.required_text(NAMESPACE, "deadline")?.trim();
                let deadline = chrono::DateTime::parse_from_rfc3339(text)
                    .map_err(|_| {
                        SoapError::new(
                            ErrorCode::MalformedRequest,
                            format!("`deadline` must be an xs:dateTime with a time zone, such as 2026-12-01T12:00:00Z, not `{text}`"),
                        )
                    })?
                    .timestamp_millis();
                let item = engine
                    .extend_server_item(serial, deadline, &caller)
                    .await
                    .map_err(engine_fault)?;
                let mut out = XmlWriter::new();
                out.start("ExtendServerItemResponse", &[("xmlns", NAMESPACE)])
                    .element("deadline", &item.deadline)
                    .end("ExtendServerItemResponse");
                out.finish()
            }
            other => {
                return Err(SoapError::new(
                    ErrorCode::UnknownOperation,
                    format!("`{other}` is not an operation of ServerItemService"),
                ));
            }
        };
        Ok(Some(answer))
    }
}

/// `<field name="x">v</field>…` → field values (text; the engine converts to types).
fn read_fields(fields: &Element) -> Result<Map<String, Value>, SoapError> {
    let mut map = Map::new();
    for field in fields.children_named(NAMESPACE, "field") {
        let name = field.attribute("", "name").ok_or_else(|| {
            SoapError::new(
                ErrorCode::MalformedRequest,
                "a `field` element lacks its `name` attribute",
            )
        })?;
        let value = if field.is_nil() || nil_attribute(field, name)? {
            if !field.text.is_empty() {
                return Err(SoapError::new(
                    ErrorCode::MalformedRequest,
                    format!("data field `{name}` is marked nil but has a value"),
                ));
            }
            Value::Null
        } else {
            Value::String(field.text.to_string())
        };
        if map.insert(name.to_string(), value).is_some() {
            return Err(SoapError::new(
                ErrorCode::MalformedRequest,
                format!("data field `{name}` is given twice"),
            ));
        }
    }
    Ok(map)
}

/// The field's `nil` attribute (`xs:boolean`, absent is false).
fn nil_attribute(field: &Element, name: &str) -> Result<bool, SoapError> {
    match field.attribute("", "nil").map(str::trim) {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(other) => Err(SoapError::new(
            ErrorCode::MalformedRequest,
            format!("data field `{name}` has nil=\"{other}\": use \"true\" or \"false\""),
        )),
    }
}

fn write_fields(out: &mut XmlWriter, fields: &Map<String, Value>) {
    out.start("fields", &[]);
    for (name, value) in fields {
        let text = match value {
            Value::Null => {
                out.empty("field", &[("name", name), ("nil", "true")]);
                continue;
            }
            Value::String(text) => text.clone(),
            Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_) => {
                value.to_string()
            }
        };
        out.start("field", &[("name", name)])
            .text(&text)
            .end("field");
    }
    out.end("fields");
}

fn open_response(item: &ServerItemView) -> String {
    let mut out = XmlWriter::new();
    out.start("OpenServerItemResponse", &[("xmlns", NAMESPACE)])
        .start("item", &[])
        .element("serialNumber", &item.serial)
        .element("instanceId", &item.instance_id.to_string())
        .element("workflowId", &item.workflow_id)
        .element("folio", &item.folio)
        .element("step", &item.step)
        .element("state", item.state.as_str())
        .element("deadline", &item.deadline);
    write_fields(&mut out, &item.fields);
    out.end("item").end("OpenServerItemResponse");
    out.finish()
}

fn instance_summary(out: &mut XmlWriter, instance: &InstanceSummary) {
    out.element("instanceId", &instance.id.to_string())
        .element("status", instance.status.as_str());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_wsdl_inlines_the_schema() {
        assert!(WSDL.contains("<xs:schema"), "schema inlined");
        assert!(!WSDL.contains("{{schema}}"));
        assert_eq!(WSDL.matches("<?xml").count(), 1, "one XML declaration");
        assert!(
            WSDL.contains("{{address}}"),
            "address filled in per request"
        );
    }

    #[test]
    fn fields_round_trip() {
        let mut fields = Map::new();
        fields.insert("a".into(), Value::String("x < y".into()));
        fields.insert("n".into(), Value::from(5));
        fields.insert("z".into(), Value::Null);
        let mut out = XmlWriter::new();
        write_fields(&mut out, &fields);
        let xml = out.finish();
        assert!(xml.contains("<field name=\"a\">x &lt; y</field>"), "{xml}");
        assert!(xml.contains("<field name=\"n\">5</field>"));
        assert!(xml.contains("<field name=\"z\" nil=\"true\"/>"), "{xml}");
    }

    fn fields_of(fields: &str) -> Result<Map<String, Value>, SoapError> {
        let text = format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
            <FinishServerItem xmlns="{NAMESPACE}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
            <fields>{fields}</fields></FinishServerItem></s:Body></s:Envelope>"#
        );
        let envelope = crate::soap::read_envelope(&text, &crate::soap::Limits::default())?;
        let fields = envelope.body.child(NAMESPACE, "fields").expect("fields");
        read_fields(fields)
    }

    #[test]
    fn null_fields_are_read_from_the_attribute_or_xsi_nil() {
        let fields = fields_of(
            r#"<field name="a" nil="true"/><field name="b" xsi:nil="true"/><field name="c" nil="false">x</field><field name="d" nil="1"></field>"#,
        )
        .unwrap();
        assert_eq!(fields["a"], Value::Null);
        assert_eq!(fields["b"], Value::Null);
        assert_eq!(fields["c"], Value::String("x".into()));
        assert_eq!(fields["d"], Value::Null);
        let bad = fields_of(r#"<field name="a" nil="yes"/>"#).unwrap_err();
        assert_eq!(
            bad.message,
            "data field `a` has nil=\"yes\": use \"true\" or \"false\""
        );
        let both = fields_of(r#"<field name="a" nil="true">x</field>"#).unwrap_err();
        assert_eq!(both.message, "data field `a` is marked nil but has a value");
    }
}
