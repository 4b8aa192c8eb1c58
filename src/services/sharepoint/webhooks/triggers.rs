//! List webhook triggers of workflow definitions:
//!
//! ```toml
//! [[triggers]]
//! sharepoint_webhook = { resource = "b9f6f714-9df8-470b-b22e-653855e1c181", client_state = "…" }
//! action = "start"        # or "signal" with event = "list-{{ event.resource }}"
//! ```
//!
//! `resource` is the list id the subscription was made on (braces and case ignored;
//! absent: any list); `client_state` is the secret given as `clientState` when the
//! subscription was made, required, and compared in constant time. Checked when
//! definitions load (`holdpoint check`, `serve`, deploys), with errors that name the file
//! and the trigger.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::super::triggers::{
    TriggerAction, collect_kind, normalize_guid, only_known_keys, parse_action,
};
use crate::engine::definition::{Workflow, Workflows};
use crate::engine::template::Templates;

/// The key of a webhook trigger's criteria table.
pub const KIND: &str = "sharepoint_webhook";

#[derive(Clone)]
pub struct WebhookTrigger {
    pub workflow: Arc<Workflow>,
    /// The list id, normalised (no braces, lower case); `None`: any list.
    pub resource: Option<String>,
    /// SHA-256 of the client state: compared digest to digest, so that neither the
    /// content nor the length of the secret shows in the time a comparison takes.
    client_state: [u8; 32],
    pub action: TriggerAction,
}

// Never prints the client state's digest.
impl std::fmt::Debug for WebhookTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTrigger")
            .field("workflow", &self.workflow.name)
            .field("resource", &self.resource)
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

impl WebhookTrigger {
    /// Whether the trigger watches this list (a notification's `resource`).
    pub fn watches(&self, resource: &str) -> bool {
        self.resource
            .as_deref()
            .is_none_or(|mine| mine == normalize_guid(resource))
    }

    /// Whether a notification's client state is this trigger's secret.
    pub fn admits(&self, client_state: Option<&str>) -> bool {
        client_state.is_some_and(|given| bool::from(digest(given).ct_eq(&self.client_state)))
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Every list webhook trigger of every workflow, or every problem found.
pub fn collect(workflows: &Workflows) -> Result<Vec<WebhookTrigger>, Vec<String>> {
    collect_kind(workflows, KIND, parse)
}

fn parse(
    workflow: &Arc<Workflow>,
    table: &toml::Table,
    templates: &Templates,
) -> Result<WebhookTrigger, String> {
    only_known_keys(table, "", &[KIND, "action", "event"])?;
    let criteria = table[KIND].as_table().ok_or(
        "field `sharepoint_webhook`: expected a table such as { resource = \"<list id>\", client_state = \"<secret>\" }",
    )?;
    only_known_keys(
        criteria,
        "sharepoint_webhook.",
        &["resource", "client_state"],
    )?;
    let client_state = match criteria.get("client_state") {
        Some(toml::Value::String(secret)) if !secret.is_empty() => secret,
        Some(toml::Value::String(_)) => {
            return Err("field `sharepoint_webhook.client_state`: must not be empty".into());
        }
        Some(_) => {
            return Err("field `sharepoint_webhook.client_state`: expected a string".into());
        }
        None => {
            return Err(
                "field `sharepoint_webhook.client_state`: required (the clientState of the subscription)"
                    .into(),
            );
        }
    };
    let resource = match criteria.get("resource") {
        None => None,
        Some(toml::Value::String(id)) if is_guid(&normalize_guid(id)) => Some(normalize_guid(id)),
        Some(other) => {
            return Err(format!(
                "field `sharepoint_webhook.resource`: {other} is not a list id such as \"b9f6f714-9df8-470b-b22e-653855e1c181\""
            ));
        }
    };
    Ok(WebhookTrigger {
        workflow: Arc::clone(workflow),
        resource,
        client_state: digest(client_state),
        action: parse_action(table, templates)?,
    })
}

/// `8-4-4-4-12` hexadecimal digits.
pub fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, length)| {
            group.len() == length && group.chars().all(|c| c.is_ascii_hexdigit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn collected(triggers: &str) -> Result<Vec<WebhookTrigger>, Vec<String>> {
        let source = format!(
            "id = \"0b6a3c56-1a7e-4d0e-9a51-2d1f9f1c0a12\"\nname = \"wh\"\n{triggers}\n[[steps]]\nid = \"done\"\nkind = \"end\"\n"
        );
        let workflow = crate::engine::definition::compile(Path::new("wh.toml"), source.as_bytes())
            .expect("valid workflow");
        collect(&Workflows::from_list(vec![workflow]))
    }

    #[test]
    fn matching() {
        let triggers = collected(
            "[[triggers]]\nsharepoint_webhook = { resource = \"{B9F6F714-9DF8-470B-B22E-653855E1C181}\", client_state = \"s3cret\" }\n",
        )
        .unwrap();
        let trigger = &triggers[0];
        assert!(trigger.watches("b9f6f714-9df8-470b-b22e-653855e1c181"));
        assert!(!trigger.watches("00000000-0000-0000-0000-000000000000"));
        assert!(trigger.admits(Some("s3cret")));
        assert!(!trigger.admits(Some("s3cret ")));
        assert!(!trigger.admits(None));
        assert!(!format!("{trigger:?}").contains("s3cret"));
        let any =
            collected("[[triggers]]\nsharepoint_webhook = { client_state = \"x\" }\n").unwrap();
        assert!(any[0].watches("whatever"));
    }

    #[test]
    fn problems_name_the_field() {
        for (trigger, expected) in [
            (
                "{ resource = \"b9f6f714-9df8-470b-b22e-653855e1c181\" }",
                "client_state`: required",
            ),
            ("{ client_state = \"\" }", "must not be empty"),
            (
                "{ client_state = \"x\", resource = \"Orders\" }",
                "is not a list id",
            ),
            (
                "{ client_state = \"x\", list = \"y\" }",
                "unknown field `sharepoint_webhook.list`",
            ),
        ] {
            let problems =
                collected(&format!("[[triggers]]\nsharepoint_webhook = {trigger}\n")).unwrap_err();
            assert!(
                problems[0].starts_with("wh.toml: trigger 1: ") && problems[0].contains(expected),
                "{problems:?}"
            );
        }
    }
}
