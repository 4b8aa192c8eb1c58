//! Who may do what. Authorisation lives in the engine, next to the commands, so that every
//! dialect (JSON API, K2 REST, SOAP, SharePoint, Orchestrator) enforces the same rules in
//! the same transaction that reads the workflow: nothing can reach a command around it.
//!
//! A workflow's `[permissions]` lists account names per action, `"*"` meaning any
//! authenticated account; admin accounts pass everything. Account-wide rights (such as
//! `send_events`, vRO's right to send custom events) are not tied to a workflow.

use std::collections::BTreeSet;

use super::definition::{Permissions, Workflow};
use super::{Caller, Engine, EngineError};

/// What a caller is allowed to do, decided by the edge that authenticated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The engine itself, the local CLI, or an edge configured to trust its callers.
    Trusted,
    /// An authenticated account; its name is [`super::Caller::name`].
    Account {
        admin: bool,
        rights: BTreeSet<Right>,
    },
    /// The holder of a callback URL: it may finish or fail that one server item and
    /// nothing else (checked by `Engine::check_callback`, not by permissions).
    Callback { instance_id: i64, wait_id: i64 },
}

/// A workflow action guarded by `[permissions]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start instances; also cancel them and answer their inputs.
    Start,
    /// Open, finish, fail and extend server items (K2's "Server Event" right).
    ServerEvent,
    /// Read instances, their history and their waits.
    View,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::ServerEvent => "server_event",
            Self::View => "view",
        }
    }

    fn allowed(self, permissions: &Permissions) -> &[String] {
        match self {
            Self::Start => &permissions.start,
            Self::ServerEvent => &permissions.server_event,
            Self::View => &permissions.view,
        }
    }
}

/// An account-wide right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Right {
    /// Send custom events (vRO `sendCustomEvent`, `POST /api/v1/events/{name}`).
    SendEvents,
}

impl Right {
    pub const ALL: &[Right] = &[Right::SendEvents];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendEvents => "send_events",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|right| right.as_str() == text)
    }

    /// `send_events, …`, for error messages.
    pub fn known() -> String {
        Self::ALL
            .iter()
            .map(|right| right.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Access {
    /// Whether the account `name` may perform `action` on `workflow`.
    pub fn permits(&self, name: &str, workflow: &Workflow, action: Action) -> bool {
        match self {
            Self::Trusted | Self::Account { admin: true, .. } => true,
            Self::Account { admin: false, .. } => action
                .allowed(&workflow.permissions)
                .iter()
                .any(|allowed| allowed == "*" || allowed == name),
            Self::Callback { .. } => false,
        }
    }

    /// True for trusted callers and admins: every permission, every right.
    /// Whether the account holds some permission on `workflow`, and so may see its
    /// definition (catalogues, vRO `getAllWorkflows`).
    pub fn sees(&self, name: &str, workflow: &Workflow) -> bool {
        [Action::Start, Action::ServerEvent, Action::View]
            .into_iter()
            .any(|action| self.permits(name, workflow, action))
    }

    pub fn has_every_permission(&self) -> bool {
        matches!(self, Self::Trusted | Self::Account { admin: true, .. })
    }

    pub fn has_right(&self, right: Right) -> bool {
        match self {
            Self::Trusted | Self::Account { admin: true, .. } => true,
            Self::Account { rights, .. } => rights.contains(&right),
            Self::Callback { .. } => false,
        }
    }

    /// `Forbidden` unless `name` may perform `action` on `workflow`.
    pub fn require(
        &self,
        name: &str,
        workflow: &Workflow,
        action: Action,
    ) -> Result<(), EngineError> {
        if self.permits(name, workflow, action) {
            return Ok(());
        }
        Err(EngineError::Forbidden(format!(
            "account `{name}` lacks the `{}` permission on workflow `{}`",
            action.as_str(),
            workflow.name
        )))
    }

    /// `Forbidden` unless the account holds `right`.
    pub fn require_right(&self, name: &str, right: Right) -> Result<(), EngineError> {
        if self.has_right(right) {
            return Ok(());
        }
        Err(EngineError::Forbidden(format!(
            "account `{name}` lacks the `{}` right",
            right.as_str()
        )))
    }
}

impl Engine {
    /// `Forbidden` unless the caller may perform `action` on instances of `workflow_id`.
    /// Instances of a workflow whose definition is no longer loaded are for admins only.
    pub(crate) fn authorize(
        &self,
        caller: &Caller,
        workflow_id: &str,
        action: Action,
    ) -> Result<(), EngineError> {
        match self.workflows().get(workflow_id) {
            Some(workflow) => caller.access.require(&caller.name, workflow, action),
            None if caller.access.has_every_permission() => Ok(()),
            None => Err(EngineError::Forbidden(format!(
                "workflow `{workflow_id}` is not loaded; only admins may act on its instances"
            ))),
        }
    }

    /// What a listing may show the caller: `None` (everything) for admins and trusted
    /// callers, else the ids of the workflows it may view; a workflow filter it may not
    /// view is `forbidden`.
    pub(crate) fn view_scope(
        &self,
        caller: &Caller,
        workflow_id: Option<&str>,
    ) -> Result<Option<Vec<String>>, EngineError> {
        if caller.access.has_every_permission() {
            return Ok(None);
        }
        if let Some(workflow_id) = workflow_id {
            self.authorize(caller, workflow_id, Action::View)?;
        }
        Ok(Some(self.viewable_workflows(caller)))
    }

    /// Ids of the loaded workflows the caller may view.
    pub(crate) fn viewable_workflows(&self, caller: &Caller) -> Vec<String> {
        self.workflows()
            .iter()
            .filter(|workflow| caller.access.permits(&caller.name, workflow, Action::View))
            .map(|workflow| workflow.id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{Access, Action, BTreeSet, Right, Workflow};
    use std::path::Path;

    fn workflow() -> Workflow {
        let source = r#"
id = "0b6a3c56-1a7e-4d0e-9a51-2d1f9f1c0a11"
name = "perms"
[permissions]
start = ["erp"]
server_event = ["*"]
[[steps]]
id = "done"
kind = "end"
"#;
        super::super::definition::compile(Path::new("perms.toml"), source.as_bytes())
            .expect("valid workflow")
    }

    fn account(admin: bool) -> Access {
        Access::Account {
            admin,
            rights: BTreeSet::new(),
        }
    }

    #[test]
    fn names_star_admins_and_trusted_callers() {
        let workflow = workflow();
        assert!(account(false).permits("erp", &workflow, Action::Start));
        assert!(!account(false).permits("ops", &workflow, Action::Start));
        assert!(account(false).permits("ops", &workflow, Action::ServerEvent));
        assert!(!account(false).permits("erp", &workflow, Action::View));
        assert!(account(true).permits("root", &workflow, Action::View));
        assert!(Access::Trusted.permits("cli", &workflow, Action::View));
        let denied = account(false).require("ops", &workflow, Action::Start);
        assert_eq!(
            denied.expect_err("forbidden").to_string(),
            "account `ops` lacks the `start` permission on workflow `perms`"
        );
    }

    #[test]
    fn rights() {
        assert!(!account(false).has_right(Right::SendEvents));
        assert!(account(true).has_right(Right::SendEvents));
        let sender = Access::Account {
            admin: false,
            rights: [Right::SendEvents].into(),
        };
        assert!(sender.has_right(Right::SendEvents));
        assert_eq!(Right::parse("send_events"), Some(Right::SendEvents));
        assert_eq!(Right::parse("sendevents"), None);
    }
}
