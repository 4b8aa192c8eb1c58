//! Turns a [`RawWorkflow`] into a [`Workflow`], collecting every problem found.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::raw::{RawStep, RawWorkflow};
use super::{DefinitionError, FieldDef, Workflow};
use crate::engine::template::Templates;
use crate::networks::NetworkList;

/// Parses and checks one definition file.
pub fn compile(path: &Path, bytes: &[u8]) -> Result<Workflow, Vec<DefinitionError>> {
    let mut cx = Checker {
        file: path,
        errors: Vec::new(),
        templates: Templates::new(),
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            cx.error(None, None, format!("not valid utf-8: {error}"));
            return Err(cx.errors);
        }
    };
    let raw: RawWorkflow = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(error) => {
            cx.error(None, None, crate::toml_error::describe(text, &error));
            return Err(cx.errors);
        }
    };
    let workflow = cx.workflow(raw, bytes);
    if cx.errors.is_empty() {
        Ok(workflow)
    } else {
        Err(cx.errors)
    }
}

pub(super) struct Checker<'a> {
    file: &'a Path,
    errors: Vec<DefinitionError>,
    pub(super) templates: Templates,
}

/// Step ids by name, for resolving `next`, `goto`, `on_timeout`, `on_error`, `else`.
pub(super) type StepIndex = HashMap<String, usize>;

impl Checker<'_> {
    pub(super) fn error(
        &mut self,
        step: Option<&str>,
        field: Option<&str>,
        message: impl Into<String>,
    ) {
        self.errors.push(DefinitionError {
            file: self.file.to_path_buf(),
            step: step.map(str::to_string),
            field: field.map(str::to_string),
            message: message.into(),
        });
    }

    fn workflow(&mut self, raw: RawWorkflow, bytes: &[u8]) -> Workflow {
        let id = match uuid::Uuid::parse_str(&raw.id) {
            Ok(uuid) => uuid.hyphenated().to_string(),
            Err(_) => {
                self.error(None, Some("id"), format!("`{}` is not a GUID", raw.id));
                raw.id.clone()
            }
        };
        if raw.name.trim().is_empty() {
            self.error(None, Some("name"), "must not be empty");
        }
        let fields = self.fields(&raw);
        for output in &raw.outputs {
            if !fields.contains_key(output) {
                self.error(
                    None,
                    Some("outputs"),
                    format!("`{output}` is not a declared field"),
                );
            }
        }
        if raw.steps.is_empty() {
            self.error(None, Some("steps"), "a workflow needs at least one step");
        }
        let index = self.step_index(&raw.steps);
        let steps = raw
            .steps
            .iter()
            .enumerate()
            .filter_map(|(position, step)| self.step(step, position, &index, &fields))
            .collect();
        let remote_events_allow_from = self.remote_events_allow_from(raw.remote_events.as_ref());
        let digest = Sha256::digest(bytes);
        Workflow {
            id,
            name: raw.name,
            description: raw.description,
            outputs: raw.outputs,
            fields,
            permissions: raw.permissions,
            triggers: raw.triggers,
            remote_events: raw.remote_events,
            remote_events_allow_from,
            steps,
            hash: digest
                .iter()
                .take(8)
                .map(|byte| format!("{byte:02x}"))
                .collect(),
            source: self.file.to_path_buf(),
            text: bytes.into(),
        }
    }

    /// `[remote_events] allow_from`: a list of addresses and networks.
    fn remote_events_allow_from(&mut self, table: Option<&toml::Table>) -> NetworkList {
        const AT: &str = "remote_events.allow_from";
        let Some(value) = table.and_then(|table| table.get("allow_from")) else {
            return NetworkList::default();
        };
        let entries: Option<Vec<String>> = value.as_array().and_then(|items| {
            items
                .iter()
                .map(|item| item.as_str().map(str::to_string))
                .collect()
        });
        let Some(entries) = entries else {
            self.error(None, Some(AT), "must be a list of addresses and networks");
            return NetworkList::default();
        };
        NetworkList::parse(AT, &entries).unwrap_or_else(|why| {
            // The message names the key already; the error names it as its field.
            let why = why
                .strip_prefix(AT)
                .unwrap_or(&why)
                .trim_start_matches(": ");
            self.error(None, Some(AT), why.to_string());
            NetworkList::default()
        })
    }

    fn fields(&mut self, raw: &RawWorkflow) -> BTreeMap<String, FieldDef> {
        let mut fields = BTreeMap::new();
        for (name, field) in &raw.fields {
            let at = format!("fields.{name}");
            if !is_identifier(name) {
                self.error(
                    None,
                    Some(&at),
                    "field names are letters, digits and `_`, not starting with a digit",
                );
            }
            let default = match &field.default {
                None => None,
                Some(value) => match field.ty.coerce(&toml_to_json(value)) {
                    Ok(value) => Some(value),
                    Err(why) => {
                        self.error(
                            None,
                            Some(&format!("{at}.default")),
                            format!("{why} (type {})", field.ty.as_str()),
                        );
                        None
                    }
                },
            };
            fields.insert(
                name.clone(),
                FieldDef {
                    ty: field.ty,
                    default,
                },
            );
        }
        fields
    }

    fn step_index(&mut self, steps: &[RawStep]) -> StepIndex {
        let mut index = StepIndex::new();
        for (position, step) in steps.iter().enumerate() {
            match step.id.as_deref().map(str::trim) {
                None | Some("") => self.error(
                    Some(&format!("#{}", position + 1)),
                    Some("id"),
                    "every step needs an id",
                ),
                Some(id) => {
                    if index.insert(id.to_string(), position).is_some() {
                        self.error(Some(id), Some("id"), "another step has the same id");
                    }
                }
            }
        }
        index
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// TOML to JSON; datetimes become their RFC 3339 text.
pub(crate) fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(text) => Value::String(text.clone()),
        toml::Value::Integer(number) => Value::from(*number),
        toml::Value::Float(number) => serde_json::Number::from_f64(*number)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(flag) => Value::Bool(*flag),
        toml::Value::Datetime(at) => Value::String(at.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .iter()
                .map(|(key, item)| (key.clone(), toml_to_json(item)))
                .collect(),
        ),
    }
}
