//! What `ProcessEvent` answers: `ProcessEventResponse/ProcessEventResult`, its children in
//! the order WCF's serializer expects (`ChangedItemProperties`, `ErrorMessage`,
//! `RedirectUrl`, `Status`), from the `reply` step of a started instance.

use serde_json::{Map, Value};

use super::{ARRAYS_NAMESPACE, NAMESPACE};
use crate::soap::element::XSI_NS;
use crate::soap::writer::XmlWriter;

/// What `ProcessEvent` answers.
#[derive(Debug, Clone, PartialEq)]
pub struct EventResult {
    pub status: String,
    pub error_message: Option<String>,
    pub changed_properties: Map<String, Value>,
}

impl EventResult {
    pub(super) fn proceed() -> Self {
        Self {
            status: "Continue".into(),
            error_message: None,
            changed_properties: Map::new(),
        }
    }

    pub(super) fn cancel(message: String) -> Self {
        Self {
            status: "CancelWithError".into(),
            error_message: Some(message),
            changed_properties: Map::new(),
        }
    }

    /// From what a `reply` step stored on the instance.
    pub(super) fn from_reply(reply: &Value) -> Self {
        let changed = reply["changed_properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        Self {
            status: reply["status"].as_str().unwrap_or("Continue").to_string(),
            error_message: reply["error_message"].as_str().map(str::to_string),
            changed_properties: changed,
        }
    }
}

/// `ProcessEventResponse/ProcessEventResult`, children in WCF's order.
pub fn result_envelope_body(result: &EventResult) -> String {
    let mut out = XmlWriter::new();
    out.start("ProcessEventResponse", &[("xmlns", NAMESPACE)])
        .start("ProcessEventResult", &[("xmlns:i", XSI_NS)]);
    if result.changed_properties.is_empty() {
        out.empty("ChangedItemProperties", &[("xmlns:a", ARRAYS_NAMESPACE)]);
    } else {
        out.start("ChangedItemProperties", &[("xmlns:a", ARRAYS_NAMESPACE)]);
        for (key, value) in &result.changed_properties {
            let (xsd_type, text) = match value {
                Value::Bool(flag) => ("b:boolean", flag.to_string()),
                Value::Number(number) if number.is_i64() => ("b:int", number.to_string()),
                Value::Number(number) => ("b:double", number.to_string()),
                Value::String(text) => ("b:string", text.clone()),
                other => ("b:string", other.to_string()),
            };
            out.start("a:KeyValueOfstringanyType", &[])
                .element("a:Key", key)
                .start(
                    "a:Value",
                    &[
                        ("i:type", xsd_type),
                        ("xmlns:b", "http://www.w3.org/2001/XMLSchema"),
                    ],
                )
                .text(&text)
                .end("a:Value")
                .end("a:KeyValueOfstringanyType");
        }
        out.end("ChangedItemProperties");
    }
    match &result.error_message {
        Some(message) => {
            out.element("ErrorMessage", message);
        }
        None => {
            out.empty("ErrorMessage", &[("i:nil", "true")]);
        }
    }
    out.empty("RedirectUrl", &[("i:nil", "true")])
        .element("Status", &result.status)
        .end("ProcessEventResult")
        .end("ProcessEventResponse");
    out.finish()
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value};

    use super::{EventResult, result_envelope_body};

    #[test]
    fn children_in_wcf_order() {
        let mut changed = Map::new();
        changed.insert("Title".into(), Value::String("A & B".into()));
        let body = result_envelope_body(&EventResult {
            status: "Continue".into(),
            error_message: None,
            changed_properties: changed,
        });
        let order: Vec<usize> = [
            "<ChangedItemProperties",
            "<ErrorMessage",
            "<RedirectUrl",
            "<Status",
        ]
        .iter()
        .map(|tag| body.find(tag).expect(tag))
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{body}");
        assert!(body.contains("<a:Value i:type=\"b:string\" xmlns:b=\"http://www.w3.org/2001/XMLSchema\">A &amp; B</a:Value>"));
        assert!(body.contains("<ErrorMessage i:nil=\"true\"/>"));
    }
}
