//! Rendering what steps send and answer (an outbound request, a reply) and when their
//! waits fall due from the template context. Pure: a failure names the field that did not render, and the step fails.

use serde_json::{Map, Value, json};

use super::Run;
use crate::duration::millis;
use crate::engine::deadline::{Deadline, When, read_rendered};
use crate::engine::definition::{HttpSpec, ReplySpec, SetValue, WaitPolicy};
use crate::engine::outbound::OutboundRequest;

/// Why a step cannot go on: the field that failed and why. The instance fails with
/// `step <id>: <field>: <why>`.
pub(super) type Fault = (String, String);

/// Names the field of a template error.
pub(super) fn fault(field: impl Into<String>) -> impl FnOnce(String) -> Fault {
    let field = field.into();
    move |why| (field, why)
}

impl Run<'_> {
    pub(super) fn render_request(
        &self,
        http: &HttpSpec,
        context: &Value,
        synchronous: bool,
    ) -> Result<OutboundRequest, Fault> {
        let templates = &self.engine.templates;
        let url = templates.render(&http.url, context).map_err(fault("url"))?;
        let mut headers = Vec::new();
        for (name, source) in &http.headers {
            let value = templates
                .render(source, context)
                .map_err(fault(format!("headers.{name}")))?;
            headers.push((name.clone(), value));
        }
        let body = match &http.body {
            Some(source) => Some(templates.render(source, context).map_err(fault("body"))?),
            None => None,
        };
        let policy = &self.engine.config.outbox;
        Ok(OutboundRequest {
            url,
            method: http.method.clone(),
            headers,
            body,
            timeout_ms: millis(http.timeout.unwrap_or(policy.request_timeout)).max(1) as u64,
            max_attempts: http.max_attempts.unwrap_or(policy.max_attempts),
            save: http.save.clone(),
            bearer_env: http.bearer_env.clone(),
            synchronous,
        })
    }

    /// The instant a step's wait falls due, resolved as it opens: the step's deadline
    /// (rendered first when it is a template), else the configured default.
    pub(super) fn deadline_of(&self, policy: &WaitPolicy, context: &Value) -> Result<i64, Fault> {
        let when = match &policy.deadline {
            None => When::After(self.engine.config.default_deadline),
            Some(Deadline::Fixed(when)) => *when,
            Some(Deadline::Template(source)) => self
                .engine
                .templates
                .render(source, context)
                .and_then(|text| read_rendered(&text))
                .map_err(fault("deadline"))?,
        };
        Ok(when.instant(self.now))
    }

    pub(super) fn render_reply(&self, spec: &ReplySpec, context: &Value) -> Result<Value, Fault> {
        let templates = &self.engine.templates;
        let render = |field: &str, source: &Option<String>| -> Result<Value, Fault> {
            match source {
                Some(source) => templates
                    .render(source, context)
                    .map(Value::String)
                    .map_err(fault(field)),
                None => Ok(Value::Null),
            }
        };
        let mut changed = Map::new();
        for (name, value) in &spec.changed_properties {
            let value = match value {
                SetValue::Template(source) => templates
                    .render(source, context)
                    .map(Value::String)
                    .map_err(fault(format!("changed_properties.{name}")))?,
                SetValue::Literal(value) => value.clone(),
            };
            changed.insert(name.clone(), value);
        }
        Ok(json!({
            "status": spec.status,
            "error_message": render("error_message", &spec.error_message)?,
            "changed_properties": changed,
            "body": render("body", &spec.body)?,
            "content_type": spec.content_type,
        }))
    }
}
