//! SharePoint triggers of workflow definitions:
//!
//! ```toml
//! [[triggers]]
//! sharepoint = { web = "https://contoso.sharepoint.com/sites/x", list = "Orders", events = ["ItemAdded"] }
//! action = "start"        # or "signal" with event = "sp-{{ event.list_id }}-{{ event.item_id }}"
//! on_error = "continue"   # or "cancel": a failed or late synchronous run cancels the change
//! ```
//!
//! `web` matches the event's web URL (case and a trailing slash ignored), `list` its list
//! title (case ignored) or list id (braces and case ignored), `events` its type; an
//! absent criterion matches everything. Checked when definitions load, with errors that
//! name the file and the trigger.

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use crate::engine::definition::{Workflow, Workflows};
use crate::engine::inbound::InboundAction;
use crate::engine::template::Templates;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerAction {
    /// Start an instance with the event.
    Start,
    /// Send an internal custom event with this (template) name, carrying the event.
    Signal { event: String },
}

impl TriggerAction {
    /// What an event queued for this trigger does when it is delivered.
    pub fn queued(&self) -> InboundAction {
        match self {
            Self::Start => InboundAction::Start,
            Self::Signal { event } => InboundAction::Signal {
                name: event.clone(),
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct SharePointTrigger {
    pub workflow: Arc<Workflow>,
    pub web: Option<String>,
    pub list: Option<String>,
    pub events: Vec<String>,
    pub action: TriggerAction,
    /// Answer `CancelWithError` (instead of `Continue`) when a synchronous run fails or
    /// does not finish within `[sharepoint] sync_timeout`.
    pub cancel_on_error: bool,
}

impl SharePointTrigger {
    /// Whether this trigger fires for an event (`event` is the parsed event JSON).
    pub fn matches(&self, event_type: &str, event: &Value) -> bool {
        let type_ok = self.events.is_empty() || self.events.iter().any(|e| e == event_type);
        let web_ok = self.web.as_deref().is_none_or(|web| {
            event["web_url"]
                .as_str()
                .is_some_and(|url| normalize_url(url) == normalize_url(web))
        });
        let list_ok = self.list.as_deref().is_none_or(|list| {
            let title = event["list_title"].as_str().unwrap_or("");
            let id = event["list_id"].as_str().unwrap_or("");
            title.eq_ignore_ascii_case(list)
                || (!id.is_empty() && normalize_guid(id) == normalize_guid(list))
        });
        type_ok && web_ok && list_ok
    }
}

fn normalize_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_ascii_lowercase()
}

pub fn normalize_guid(id: &str) -> String {
    id.trim()
        .trim_matches(|c| c == '{' || c == '}')
        .to_ascii_lowercase()
}

/// The triggers of one kind in the engine's current definitions, collected again whenever
/// a deploy has replaced them (the current set is compared by pointer, so an event costs
/// one uncontended lock when nothing changed). Shared by the remote event receiver and
/// the list webhook receiver, each with its own `collect`.
pub struct TriggerCache<T> {
    cached: Mutex<Option<Collected<T>>>,
    collect: Collector<T>,
}

/// A current set and the triggers collected from it.
type Collected<T> = (Arc<Workflows>, Arc<Vec<T>>);

/// Collects the triggers of one kind from a set, or every problem found.
pub type Collector<T> = fn(&Workflows) -> Result<Vec<T>, Vec<String>>;

impl Default for TriggerCache<SharePointTrigger> {
    fn default() -> Self {
        Self::new(collect)
    }
}

impl<T> TriggerCache<T> {
    pub fn new(collect: Collector<T>) -> Self {
        Self {
            cached: Mutex::new(None),
            collect,
        }
    }

    pub fn of(&self, workflows: Arc<Workflows>) -> Arc<Vec<T>> {
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((seen, triggers)) = cached.as_ref()
            && Arc::ptr_eq(seen, &workflows)
        {
            return triggers.clone();
        }
        // Loading (serve, deploy) refuses definitions whose triggers do not parse.
        let triggers = Arc::new((self.collect)(&workflows).unwrap_or_else(|problems| {
            tracing::error!(?problems, "SharePoint triggers ignored");
            Vec::new()
        }));
        *cached = Some((workflows, triggers.clone()));
        triggers
    }
}

/// Every SharePoint trigger of every workflow, or every problem found.
pub fn collect(workflows: &Workflows) -> Result<Vec<SharePointTrigger>, Vec<String>> {
    collect_kind(workflows, "sharepoint", parse)
}

/// Parses every trigger table that has the `kind` key with `parse`; the problems name
/// the file and the trigger.
pub fn collect_kind<T>(
    workflows: &Workflows,
    kind: &str,
    parse: fn(&Arc<Workflow>, &toml::Table, &Templates) -> Result<T, String>,
) -> Result<Vec<T>, Vec<String>> {
    let templates = Templates::new();
    let mut triggers = Vec::new();
    let mut problems = Vec::new();
    for workflow in workflows.iter() {
        for (index, table) in workflow.triggers.iter().enumerate() {
            if !table.contains_key(kind) {
                continue;
            }
            let place = format!("{}: trigger {}", workflow.source.display(), index + 1);
            match parse(workflow, table, &templates) {
                Ok(trigger) => triggers.push(trigger),
                Err(why) => problems.push(format!("{place}: {why}")),
            }
        }
    }
    if problems.is_empty() {
        Ok(triggers)
    } else {
        Err(problems)
    }
}

/// Refuses a key of `table` not in `known`, naming it under `path` (`sharepoint.` for a
/// key of the `sharepoint` table) and listing the known ones.
pub fn only_known_keys(table: &toml::Table, path: &str, known: &[&str]) -> Result<(), String> {
    match table.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(format!(
            "unknown field `{path}{key}` ({})",
            known.join(", ")
        )),
        None => Ok(()),
    }
}

fn parse(
    workflow: &Arc<Workflow>,
    table: &toml::Table,
    templates: &Templates,
) -> Result<SharePointTrigger, String> {
    only_known_keys(table, "", &["sharepoint", "action", "event", "on_error"])?;
    let criteria = table["sharepoint"]
        .as_table()
        .ok_or("field `sharepoint`: expected a table such as { list = \"Orders\" }")?;
    let text = |key: &str| -> Result<Option<String>, String> {
        match criteria.get(key) {
            None => Ok(None),
            Some(toml::Value::String(text)) if !text.trim().is_empty() => Ok(Some(text.clone())),
            Some(_) => Err(format!(
                "field `sharepoint.{key}`: expected a non-empty string"
            )),
        }
    };
    only_known_keys(criteria, "sharepoint.", &["web", "list", "events"])?;
    let events = match criteria.get("events") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| "field `sharepoint.events`: expected strings".to_string())
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("field `sharepoint.events`: expected a list of event types".into()),
    };
    let action = parse_action(table, templates)?;
    let cancel_on_error = match table.get("on_error").and_then(toml::Value::as_str) {
        None | Some("continue") => false,
        Some("cancel") => true,
        Some(other) => {
            return Err(format!(
                "field `on_error`: `{other}` is neither `continue` nor `cancel`"
            ));
        }
    };
    Ok(SharePointTrigger {
        workflow: Arc::clone(workflow),
        web: text("web")?,
        list: text("list")?,
        events,
        action,
        cancel_on_error,
    })
}

/// `action = "start"` (the default) or `"signal"` with its `event` name template.
pub fn parse_action(table: &toml::Table, templates: &Templates) -> Result<TriggerAction, String> {
    match table
        .get("action")
        .and_then(toml::Value::as_str)
        .unwrap_or("start")
    {
        "start" => Ok(TriggerAction::Start),
        "signal" => {
            let event = table
                .get("event")
                .and_then(toml::Value::as_str)
                .ok_or("field `event`: `action = \"signal\"` needs the event name template")?;
            templates
                .check_template(event)
                .map_err(|why| format!("field `event`: {why}"))?;
            Ok(TriggerAction::Signal {
                event: event.to_string(),
            })
        }
        other => Err(format!(
            "field `action`: `{other}` is neither `start` nor `signal`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn workflows(triggers: &str) -> Workflows {
        let source = format!(
            "id = \"0b6a3c56-1a7e-4d0e-9a51-2d1f9f1c0a12\"\nname = \"sp\"\n{triggers}\n[[steps]]\nid = \"done\"\nkind = \"end\"\n"
        );
        let workflow = crate::engine::definition::compile(Path::new("sp.toml"), source.as_bytes())
            .expect("valid workflow");
        Workflows::from_list(vec![workflow])
    }

    #[test]
    fn matching() {
        let list = workflows(
            "[[triggers]]\nsharepoint = { web = \"https://C.sharepoint.com/sites/x/\", list = \"orders\", events = [\"ItemAdded\"] }\n",
        );
        let trigger = &collect(&list).unwrap()[0];
        let event = json!({"web_url": "https://c.sharepoint.com/sites/x", "list_title": "Orders", "list_id": "6F0D2F52-3D7B-4B41-9B43-0B8F2F4C1A10"});
        assert!(trigger.matches("ItemAdded", &event));
        assert!(!trigger.matches("ItemUpdated", &event));
        let by_id = workflows(
            "[[triggers]]\nsharepoint = { list = \"{6f0d2f52-3d7b-4b41-9b43-0b8f2f4c1a10}\" }\naction = \"signal\"\nevent = \"sp-{{ event.item_id }}\"\non_error = \"cancel\"\n",
        );
        let trigger = &collect(&by_id).unwrap()[0];
        assert!(
            trigger.matches("ItemDeleted", &event),
            "no events: all types"
        );
        assert!(trigger.cancel_on_error);
        assert_eq!(
            trigger.action,
            TriggerAction::Signal {
                event: "sp-{{ event.item_id }}".into()
            }
        );
    }

    #[test]
    fn problems_name_file_trigger_and_field() {
        let bad = workflows(
            "[[triggers]]\nsharepoint = { lists = \"x\" }\n[[triggers]]\nsharepoint = {}\naction = \"signal\"\n",
        );
        let problems = collect(&bad).unwrap_err();
        assert_eq!(problems.len(), 2);
        assert!(
            problems[0].starts_with("sp.toml: trigger 1: unknown field `sharepoint.lists`"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("trigger 2: field `event`"),
            "{problems:?}"
        );
    }
}
