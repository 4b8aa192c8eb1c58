//! The vCO 4.1 value types on the wire: `Workflow`, `WorkflowToken` and
//! `WorkflowTokenAttribute`, read from requests and written into answers. Elements are
//! qualified (the answer's wrapper declares the default namespace and `xsi`); a missing
//! value is `xsi:nil="true"`, as Axis writes it.

use serde_json::{Map, Value};

use super::NAMESPACE;
use super::values::{self, field_attribute, type_name};
use crate::engine::InstanceView;
use crate::engine::definition::Workflow;
use crate::error::ErrorCode;
use crate::services::envelope::filled_text;
use crate::soap::element::XSI_NS;
use crate::soap::writer::{XmlWriter, escape_attribute};
use crate::soap::{Element, SoapError};
use crate::store::{InstanceStatus, WaitKind};

/// Starts the wrapper of an answer: `<{operation}Response xmlns=… xmlns:xsi=…>`.
pub fn response(operation: &str) -> (XmlWriter, String) {
    let wrapper = [operation, "Response"].concat();
    let mut out = XmlWriter::new();
    out.start(&wrapper, &[("xmlns", NAMESPACE), ("xmlns:xsi", XSI_NS)]);
    (out, wrapper)
}

/// `<name>text</name>`, or `<name xsi:nil="true"/>` for `None`.
pub fn nillable(out: &mut XmlWriter, name: &str, text: Option<&str>) {
    match text {
        Some(text) => {
            out.element(name, text);
        }
        None => {
            out.empty(name, &[("xsi:nil", "true")]);
        }
    }
}

/// vRO's `globalState` of an instance. Waiting for input (`answerWorkflowInput`) is
/// `waiting`; waiting for anything from outside (custom event, server item, outbound
/// call) is `waiting-signal`.
pub fn global_state(instance: &InstanceView) -> &'static str {
    match instance.status {
        InstanceStatus::Running => "running",
        InstanceStatus::Waiting
            if instance
                .waits
                .iter()
                .any(|wait| wait.kind == WaitKind::Input) =>
        {
            "waiting"
        }
        InstanceStatus::Waiting => "waiting-signal",
        InstanceStatus::Completed => "completed",
        InstanceStatus::Failed => "failed",
        InstanceStatus::Cancelled => "canceled",
    }
}

/// A `WorkflowToken` for an instance.
pub fn write_token(
    out: &mut XmlWriter,
    element: &str,
    instance: &InstanceView,
    workflow: Option<&Workflow>,
) {
    let state = global_state(instance);
    let terminal = instance.status.is_terminal();
    let id = instance.id.to_string();
    let title = workflow.map_or(instance.workflow_id.as_str(), |w| w.name.as_str());
    out.start(element, &[]).element("id", &id);
    out.element("title", title);
    out.element("workflowId", &instance.workflow_id);
    nillable(out, "currentItemName", instance.current_step.as_deref());
    nillable(
        out,
        "currentItemState",
        (!terminal && instance.current_step.is_some()).then_some(state),
    );
    out.element("globalState", state);
    nillable(
        out,
        "startDate",
        values::vro_date_of_rfc3339(&instance.created_at).as_deref(),
    );
    let end = terminal
        .then(|| values::vro_date_of_rfc3339(&instance.updated_at))
        .flatten();
    nillable(out, "endDate", end.as_deref());
    out.element("xmlContent", &xml_content(instance, workflow));
    out.end(element);
}

/// vRO's `xmlContent`: every field as `<att n t e>` with its value in CDATA, and the
/// error of a failed instance as `<exception>`.
fn xml_content(instance: &InstanceView, workflow: Option<&Workflow>) -> String {
    let mut xml = String::from("<token><atts><stack>");
    for (name, value) in &instance.fields {
        let declared = workflow.and_then(|w| w.fields.get(name)).map(|def| def.ty);
        let (ty, text) = field_attribute(declared, value);
        xml.push_str("<att n=\"");
        escape_attribute(&mut xml, name);
        xml.push_str("\" t=\"");
        escape_attribute(&mut xml, &ty);
        xml.push_str("\" e=\"n\">");
        if let Some(text) = text {
            xml.push_str("<![CDATA[");
            xml.push_str(&text.replace("]]>", "]]]]><![CDATA[>"));
            xml.push_str("]]>");
        }
        xml.push_str("</att>");
    }
    xml.push_str("</stack></atts>");
    if let Some(error) = &instance.error {
        xml.push_str("<exception encoded=\"n\"><![CDATA[");
        xml.push_str(&error.replace("]]>", "]]]]><![CDATA[>"));
        xml.push_str("]]></exception>");
    }
    xml.push_str("</token>");
    xml
}

/// One `WorkflowTokenAttribute`.
pub fn write_attribute(
    out: &mut XmlWriter,
    element: &str,
    name: &str,
    ty: &str,
    value: Option<&str>,
) {
    out.start(element, &[])
        .element("name", name)
        .element("type", ty);
    nillable(out, "value", value);
    out.end(element);
}

/// The `outputs` of a workflow, as `getWorkflowTokenResult` answers them.
pub fn write_outputs(
    out: &mut XmlWriter,
    element: &str,
    fields: &Map<String, Value>,
    workflow: &Workflow,
) {
    for name in &workflow.outputs {
        let declared = workflow.fields.get(name).map(|def| def.ty);
        let value = fields.get(name).unwrap_or(&Value::Null);
        let (ty, text) = field_attribute(declared, value);
        write_attribute(out, element, name, &ty, text.as_deref());
    }
}

/// A `Workflow`: its fields are the in-parameters, its outputs the out-parameters.
pub fn write_workflow(out: &mut XmlWriter, element: &str, workflow: &Workflow) {
    let parameter = |name: &String| {
        let ty = workflow
            .fields
            .get(name)
            .map_or("string", |def| type_name(def.ty));
        (Some(name.clone()), Some(ty.to_string()))
    };
    let wire = WireWorkflow {
        id: Some(workflow.id.clone()),
        name: Some(workflow.name.clone()),
        description: Some(workflow.description.clone()),
        in_parameters: Some(workflow.fields.keys().map(parameter).collect()),
        out_parameters: Some(workflow.outputs.iter().map(parameter).collect()),
        attributes: Some(Vec::new()),
    };
    wire.write(out, element);
}

/// A (name, type) parameter; either may be nil.
type Parameter = (Option<String>, Option<String>);

/// A `Workflow` as it travels, every part nillable (what `echoWorkflow` returns).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WireWorkflow {
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub in_parameters: Option<Vec<Parameter>>,
    pub out_parameters: Option<Vec<Parameter>>,
    pub attributes: Option<Vec<Parameter>>,
}

impl WireWorkflow {
    pub fn read(element: &Element) -> Self {
        let text = |name: &str| element.optional_text(NAMESPACE, name).map(str::to_string);
        let parameters = |name: &str| {
            element
                .child(NAMESPACE, name)
                .filter(|array| !array.is_nil())
                .map(|array| {
                    array
                        .children_named(NAMESPACE, "item")
                        .map(|item| {
                            (
                                item.optional_text(NAMESPACE, "name").map(str::to_string),
                                item.optional_text(NAMESPACE, "type").map(str::to_string),
                            )
                        })
                        .collect()
                })
        };
        Self {
            id: text("id"),
            name: text("name"),
            description: text("description"),
            in_parameters: parameters("inParameters"),
            out_parameters: parameters("outParameters"),
            attributes: parameters("attributes"),
        }
    }

    pub fn write(&self, out: &mut XmlWriter, element: &str) {
        out.start(element, &[]);
        nillable(out, "id", self.id.as_deref());
        nillable(out, "name", self.name.as_deref());
        nillable(out, "description", self.description.as_deref());
        for (name, parameters) in [
            ("inParameters", &self.in_parameters),
            ("outParameters", &self.out_parameters),
            ("attributes", &self.attributes),
        ] {
            let Some(parameters) = parameters else {
                nillable(out, name, None);
                continue;
            };
            out.start(name, &[]);
            for (parameter, ty) in parameters {
                out.start("item", &[]);
                nillable(out, "name", parameter.as_deref());
                nillable(out, "type", ty.as_deref());
                out.end("item");
            }
            out.end(name);
        }
        out.end(element);
    }
}

/// `WorkflowTokenAttribute` elements named `element` → field values for the engine.
pub fn read_attributes(parent: &Element, element: &str) -> Result<Map<String, Value>, SoapError> {
    let mut fields = Map::new();
    for attribute in parent.children_named(NAMESPACE, element) {
        let name = filled_text(attribute, NAMESPACE, "name").ok_or_else(|| {
            SoapError::new(
                ErrorCode::MalformedRequest,
                format!("a `{element}` attribute lacks its `name`"),
            )
        })?;
        let ty = attribute
            .optional_text(NAMESPACE, "type")
            .unwrap_or("string");
        let value = values::attribute_value(ty, attribute.optional_text(NAMESPACE, "value"))
            .map_err(|why| invalid_attribute(element, name, &why))?;
        insert_once(&mut fields, element, name, value)?;
    }
    Ok(fields)
}

/// `name,type,value,…` (simpleExecuteWorkflow) → field values.
pub fn read_simple_inputs(text: &str) -> Result<Map<String, Value>, SoapError> {
    let triples = values::parse_simple_inputs(text)
        .map_err(|why| SoapError::new(ErrorCode::MalformedRequest, why))?;
    let mut fields = Map::new();
    for (name, ty, value) in triples {
        if name.is_empty() {
            return Err(SoapError::new(
                ErrorCode::MalformedRequest,
                "in3 has an input with an empty name",
            ));
        }
        let value = values::attribute_value(&ty, Some(&value))
            .map_err(|why| invalid_attribute("in3", &name, &why))?;
        insert_once(&mut fields, "in3", &name, value)?;
    }
    Ok(fields)
}

fn invalid_attribute(element: &str, name: &str, why: &str) -> SoapError {
    SoapError::new(
        ErrorCode::InvalidField,
        format!("{element} `{name}`: {why}"),
    )
}

fn insert_once(
    fields: &mut Map<String, Value>,
    element: &str,
    name: &str,
    value: Value,
) -> Result<(), SoapError> {
    if fields.insert(name.to_string(), value).is_some() {
        return Err(SoapError::new(
            ErrorCode::MalformedRequest,
            format!("{element} `{name}` is given twice"),
        ));
    }
    Ok(())
}
