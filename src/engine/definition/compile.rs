//! Turns a [`RawWorkflow`] into a [`Workflow`], collecting every problem found.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::raw::{KINDS, RawHttp, RawStep, RawWorkflow, allowed_keys};
use super::{
    DefinitionError, FieldDef, HttpSpec, ReplySpec, ReplyStatus, SetValue, Step, StepKind,
    WaitPolicy, Workflow,
};
use crate::duration::parse_duration;
use crate::engine::template::Templates;
use crate::networks::NetworkList;
use crate::store::EventScope;

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

struct Checker<'a> {
    file: &'a Path,
    errors: Vec<DefinitionError>,
    templates: Templates,
}

/// Step ids by name, for resolving `next`, `goto`, `on_timeout`, `on_error`, `else`.
type StepIndex = HashMap<String, usize>;

impl Checker<'_> {
    fn error(&mut self, step: Option<&str>, field: Option<&str>, message: impl Into<String>) {
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

    fn step(
        &mut self,
        raw: &RawStep,
        position: usize,
        index: &StepIndex,
        fields: &BTreeMap<String, FieldDef>,
    ) -> Option<Step> {
        let id = raw
            .id
            .clone()
            .unwrap_or_else(|| format!("#{}", position + 1));
        let mut at = StepChecker {
            cx: self,
            step: &id,
            index,
            fields,
        };
        let kind_name = raw.kind.as_deref().unwrap_or("");
        let Some(allowed) = allowed_keys(kind_name) else {
            let message = if kind_name.is_empty() {
                format!("missing; one of {KINDS}")
            } else {
                format!("unknown kind `{kind_name}`; one of {KINDS}")
            };
            at.error("kind", message);
            return None;
        };
        for key in raw.present_keys() {
            if !allowed.contains(&key) {
                at.error(key, format!("does not apply to a `{kind_name}` step"));
            }
        }
        let kind = at.kind(kind_name, raw);
        let next = raw
            .next
            .as_deref()
            .and_then(|target| at.target("next", target));
        Some(Step {
            id: id.clone(),
            kind,
            next,
        })
    }
}

struct StepChecker<'c, 'a> {
    cx: &'c mut Checker<'a>,
    step: &'c str,
    index: &'c StepIndex,
    fields: &'c BTreeMap<String, FieldDef>,
}

impl StepChecker<'_, '_> {
    fn error(&mut self, field: &str, message: impl Into<String>) {
        self.cx.error(Some(self.step), Some(field), message);
    }

    fn target(&mut self, field: &str, target: &str) -> Option<usize> {
        let found = self.index.get(target).copied();
        if found.is_none() {
            self.error(field, format!("no step has the id `{target}`"));
        }
        found
    }

    fn template(&mut self, field: &str, source: &str) -> String {
        if let Err(why) = self.cx.templates.check_template(source) {
            self.error(field, format!("bad template: {why}"));
        }
        source.to_string()
    }

    fn required_template(&mut self, field: &str, source: Option<&String>) -> String {
        match source {
            Some(source) if !source.trim().is_empty() => self.template(field, source),
            _ => {
                self.error(field, "required");
                String::new()
            }
        }
    }

    fn duration(&mut self, field: &str, text: Option<&String>) -> Option<std::time::Duration> {
        let text = text?;
        match parse_duration(text) {
            Ok(duration) => Some(duration),
            Err(why) => {
                self.error(field, format!("invalid duration `{text}`: {why}"));
                None
            }
        }
    }

    fn declared(&mut self, field: &str, name: &str) {
        if !self.fields.contains_key(name) {
            self.error(field, format!("`{name}` is not a declared field"));
        }
    }

    fn wait(&mut self, raw: &RawStep) -> WaitPolicy {
        WaitPolicy {
            deadline: self.duration("deadline", raw.deadline.as_ref()),
            on_timeout: raw
                .on_timeout
                .as_deref()
                .and_then(|target| self.target("on_timeout", target)),
        }
    }

    fn on_error(&mut self, raw: &RawStep) -> Option<usize> {
        raw.on_error
            .as_deref()
            .and_then(|target| self.target("on_error", target))
    }

    fn kind(&mut self, kind: &str, raw: &RawStep) -> StepKind {
        match kind {
            "server_event" => StepKind::ServerEvent {
                notify: raw.notify.as_ref().map(|http| self.http("notify", http)),
                synchronous: raw.synchronous.unwrap_or(false),
                wait: self.wait(raw),
                on_error: self.on_error(raw),
            },
            "wait_event" => StepKind::WaitEvent {
                event: self.required_template("event", raw.event.as_ref()),
                scope: match raw.scope.as_deref() {
                    None => EventScope::External,
                    Some(text) => EventScope::parse(text).unwrap_or_else(|| {
                        self.error(
                            "scope",
                            format!("`{text}` is neither `external` nor `internal`"),
                        );
                        EventScope::External
                    }),
                },
                wait: self.wait(raw),
            },
            "wait_input" => {
                let inputs = raw.inputs.clone().unwrap_or_default();
                if inputs.is_empty() {
                    self.error("inputs", "list at least one declared field");
                }
                for input in &inputs {
                    self.declared("inputs", input);
                }
                StepKind::WaitInput {
                    inputs,
                    wait: self.wait(raw),
                }
            }
            "emit" => StepKind::Emit {
                event: self.required_template("event", raw.event.as_ref()),
                properties: self.templates("properties", raw.properties.as_ref()),
                ttl: self.duration("ttl", raw.ttl.as_ref()),
            },
            "call" => {
                let http = RawHttp {
                    url: raw.url.clone().unwrap_or_default(),
                    method: raw.method.clone(),
                    headers: raw.headers.clone(),
                    body: raw.body.clone(),
                    timeout: raw.timeout.clone(),
                    max_attempts: raw.max_attempts,
                    save: raw.save.clone(),
                };
                StepKind::Call {
                    http: self.http("url", &http),
                    wait: self.wait(raw),
                    on_error: self.on_error(raw),
                }
            }
            "set" => self.set(raw),
            "decide" => self.decide(raw),
            "reply" => self.reply(raw),
            "end" => StepKind::End,
            "fail" => StepKind::Fail {
                message: match &raw.message {
                    Some(message) => self.template("message", message),
                    None => "failed at step {{ instance.step }}".to_string(),
                },
            },
            _ => unreachable!("kinds are checked by allowed_keys"),
        }
    }

    fn templates(
        &mut self,
        field: &str,
        map: Option<&BTreeMap<String, String>>,
    ) -> Vec<(String, String)> {
        let Some(map) = map else { return Vec::new() };
        map.iter()
            .map(|(key, source)| {
                (
                    key.clone(),
                    self.template(&format!("{field}.{key}"), source),
                )
            })
            .collect()
    }

    fn http(&mut self, field: &str, raw: &RawHttp) -> HttpSpec {
        if raw.url.trim().is_empty() {
            self.error(field, "a url is required");
        }
        let method = raw
            .method
            .clone()
            .unwrap_or_else(|| "POST".into())
            .to_ascii_uppercase();
        if !matches!(
            method.as_str(),
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD"
        ) {
            self.error(
                "method",
                format!("`{method}` is not an HTTP method we send"),
            );
        }
        if raw.max_attempts == Some(0) {
            self.error("max_attempts", "must be at least 1");
        }
        let save = raw
            .save
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect::<Vec<_>>();
        for (name, _) in &save {
            self.declared(&format!("save.{name}"), name);
        }
        HttpSpec {
            url: self.template(field, &raw.url),
            method,
            headers: self.templates("headers", raw.headers.as_ref()),
            body: raw.body.as_ref().map(|body| self.template("body", body)),
            timeout: self.duration("timeout", raw.timeout.as_ref()),
            max_attempts: raw.max_attempts,
            save,
        }
    }

    fn set(&mut self, raw: &RawStep) -> StepKind {
        let mut assignments = Vec::new();
        for (name, value) in raw.fields.iter().flatten() {
            let at = format!("fields.{name}");
            self.declared(&at, name);
            let value = match value {
                toml::Value::String(source) => SetValue::Template(self.template(&at, source)),
                other => SetValue::Literal(toml_to_json(other)),
            };
            assignments.push((name.clone(), value));
        }
        if assignments.is_empty() {
            self.error("fields", "assign at least one field");
        }
        StepKind::Set {
            fields: assignments,
        }
    }

    fn decide(&mut self, raw: &RawStep) -> StepKind {
        let mut when = Vec::new();
        for (number, branch) in raw.when.iter().flatten().enumerate() {
            let at = format!("when[{number}]");
            if let Err(why) = self.cx.templates.check_expression(&branch.condition) {
                self.error(&format!("{at}.if"), format!("bad condition: {why}"));
            }
            if let Some(target) = self.target(&format!("{at}.goto"), &branch.goto) {
                when.push((branch.condition.clone(), target));
            }
        }
        if raw.when.as_ref().is_none_or(Vec::is_empty) {
            self.error("when", "list at least one branch");
        }
        let otherwise = raw
            .otherwise
            .as_deref()
            .and_then(|target| self.target("else", target));
        StepKind::Decide { when, otherwise }
    }

    fn reply(&mut self, raw: &RawStep) -> StepKind {
        let status = raw.status.as_deref().and_then(|text| match text {
            "Continue" => Some(ReplyStatus::Continue),
            "CancelNoError" => Some(ReplyStatus::CancelNoError),
            "CancelWithError" => Some(ReplyStatus::CancelWithError),
            other => {
                self.error(
                    "status",
                    format!("`{other}` is not Continue, CancelNoError or CancelWithError"),
                );
                None
            }
        });
        StepKind::Reply(ReplySpec {
            status,
            error_message: raw
                .error_message
                .as_ref()
                .map(|text| self.template("error_message", text)),
            changed_properties: raw
                .changed_properties
                .iter()
                .flatten()
                .map(|(name, value)| {
                    let at = format!("changed_properties.{name}");
                    let value = match value {
                        toml::Value::String(source) => {
                            SetValue::Template(self.template(&at, source))
                        }
                        other => SetValue::Literal(toml_to_json(other)),
                    };
                    (name.clone(), value)
                })
                .collect(),
            body: raw.body.as_ref().map(|text| self.template("body", text)),
            content_type: raw.content_type.clone(),
        })
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
