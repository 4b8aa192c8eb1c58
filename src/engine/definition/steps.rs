//! Checking one step of a definition: its kind, the keys that kind accepts, and each
//! key's value (templates compile, targets exist, durations parse, fields are declared).
//! Every problem is collected with the step and field it concerns.

use std::collections::BTreeMap;

use super::compile::{Checker, StepIndex, toml_to_json};
use super::raw::{KINDS, RawHttp, RawStep, allowed_keys};
use super::{FieldDef, HttpSpec, ReplySpec, ReplyStatus, SetValue, Step, StepKind, WaitPolicy};
use crate::duration::parse_duration;
use crate::engine::deadline::{Deadline, When};
use crate::engine::template::is_template;
use crate::store::EventScope;

impl Checker<'_> {
    /// Checks one step; `None` when its kind is missing or unknown (nothing else can be
    /// checked then).
    pub(super) fn step(
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

    /// A template is checked for syntax only (it is read when the wait opens); a literal
    /// must be a duration or a date-time now.
    fn deadline(&mut self, text: Option<&String>) -> Option<Deadline> {
        let text = text?;
        if is_template(text) {
            return Some(Deadline::Template(self.template("deadline", text)));
        }
        match When::parse(text) {
            Ok(when) => Some(Deadline::Fixed(when)),
            Err(why) => {
                self.error(
                    "deadline",
                    format!("invalid duration `{text}`: {why}; nor is it a date-time (RFC 3339 or yyyyMMddHHmmssZ) or a template"),
                );
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
            deadline: self.deadline(raw.deadline.as_ref()),
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
                notify: raw.notify.as_ref().map(|http| {
                    // A request's URL shows up in outbound errors, history and logs; the
                    // capability goes in the body or a header.
                    if http.url.contains("callback_url") {
                        self.error(
                            "notify.url",
                            "item.callback_url is a credential: send it in the body or a header, not the url (urls appear in errors and history)".to_string(),
                        );
                    }
                    self.http("notify", http)
                }),
                synchronous: raw.synchronous.unwrap_or(false),
                callback_url: raw.callback_url.unwrap_or(false),
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
                    bearer_env: raw.bearer_env.clone(),
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
        if let Some(name) = &raw.bearer_env {
            if let Err(why) = bearer_env_name(name) {
                self.error("bearer_env", why);
            }
            let headers = raw.headers.iter().flatten();
            if headers
                .into_iter()
                .any(|(h, _)| h.eq_ignore_ascii_case("authorization"))
            {
                self.error(
                    "bearer_env",
                    "headers.Authorization sets the same header; keep one of them",
                );
            }
        }
        HttpSpec {
            url: self.template(field, &raw.url),
            method,
            headers: self.templates("headers", raw.headers.as_ref()),
            body: raw.body.as_ref().map(|body| self.template("body", body)),
            timeout: self.duration("timeout", raw.timeout.as_ref()),
            max_attempts: raw.max_attempts,
            save,
            bearer_env: raw.bearer_env.clone(),
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

/// A variable the node's environment may lend a request: a plain name, and none of the
/// node's own settings (`HOLDPOINT_STORE__URL` may carry the database password).
pub fn bearer_env_name(name: &str) -> Result<(), String> {
    let plain = name.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !plain {
        return Err(format!(
            "`{name}` is not an environment variable name such as SHAREPOINT_TOKEN (upper-case letters, digits, _)"
        ));
    }
    // The configuration's prefix (`config::ENV_PREFIX`, a layer above the engine).
    if name.starts_with("HOLDPOINT_") {
        return Err(format!(
            "`{name}`: variables starting with HOLDPOINT_ are the node's own settings"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The problems of a `call` step with these extra lines, as one text.
    fn problems(lines: &str) -> String {
        let source = format!(
            "id = \"0b6a3c56-1a7e-4d0e-9a51-2d1f9f1c0a13\"\nname = \"c\"\n[[steps]]\nid = \"get\"\nkind = \"call\"\nurl = \"https://x\"\n{lines}\n"
        );
        match crate::engine::definition::compile(Path::new("c.toml"), source.as_bytes()) {
            Ok(_) => String::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn bearer_env_names_a_plain_variable_not_a_setting() {
        assert_eq!(problems("bearer_env = \"SHAREPOINT_TOKEN\""), "");
        assert!(
            problems("bearer_env = \"sp token\"").contains("field `bearer_env`: `sp token` is not")
        );
        assert!(
            problems("bearer_env = \"HOLDPOINT_STORE__URL\"").contains("the node's own settings")
        );
        let both = "bearer_env = \"T\"\nheaders = { authorization = \"Basic x\" }";
        assert!(problems(both).contains("sets the same header"));
    }

    #[test]
    fn a_callback_url_stays_out_of_the_notify_url() {
        let source = |url: &str| {
            format!(
                "id = \"0b6a3c56-1a7e-4d0e-9a51-2d1f9f1c0a14\"\nname = \"n\"\n[[steps]]\nid = \"item\"\nkind = \"server_event\"\ncallback_url = true\nnotify = {{ url = \"{url}\", body = '{{{{ item.callback_url }}}}' }}\n"
            )
        };
        let compile = |text: String| {
            crate::engine::definition::compile(Path::new("n.toml"), text.as_bytes())
                .err()
                .map(|errors| errors.iter().map(ToString::to_string).collect::<String>())
        };
        assert_eq!(compile(source("https://partner.example/orders")), None);
        let refused = compile(source("https://p.example/?cb={{ item.callback_url }}"));
        assert!(
            refused.is_some_and(|text| text.contains("item.callback_url is a credential")),
            "the url may not carry it"
        );
    }
}
