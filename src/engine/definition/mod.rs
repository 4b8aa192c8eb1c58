//! Workflow definitions (DESIGN §3): one TOML file per workflow, loaded from a folder and
//! validated as a whole before anything runs. Every error names the file, and where it
//! applies the step and the field, so `holdpoint check` output can be acted on directly.

mod compile;
mod raw;
mod steps;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::deadline::Deadline;
use super::fields::FieldType;
use crate::networks::NetworkList;
use crate::store::EventScope;

pub use compile::compile;
pub use steps::bearer_env_name;

/// A checked, ready-to-run workflow.
#[derive(Debug)]
pub struct Workflow {
    /// Lower-case hyphenated GUID.
    pub id: String,
    pub name: String,
    pub description: String,
    pub outputs: Vec<String>,
    pub fields: BTreeMap<String, FieldDef>,
    pub permissions: Permissions,
    pub triggers: Vec<toml::Table>,
    pub remote_events: Option<toml::Table>,
    /// `[remote_events] allow_from`: where anonymous (`a`) remote events for this
    /// workflow may come from, besides the node's own list (empty: anywhere).
    pub remote_events_allow_from: NetworkList,
    pub steps: Vec<Step>,
    /// First 16 hex digits of the SHA-256 of the file, stored on each instance.
    pub hash: String,
    pub source: PathBuf,
    /// The file as loaded: what the store keeps as this version (see `engine::versions`).
    pub text: Arc<[u8]>,
}

impl Workflow {
    /// The step that runs after step `index` completes normally: its `next`, else the
    /// following one; `None` past the last step.
    pub fn after(&self, index: usize) -> Option<usize> {
        let step = self.steps.get(index)?;
        step.next
            .or_else(|| (index + 1 < self.steps.len()).then_some(index + 1))
    }

    pub fn step(&self, id: &str) -> Option<(usize, &Step)> {
        self.steps
            .iter()
            .enumerate()
            .find(|(_, step)| step.id == id)
    }

    /// Whether the server event `step_id` hands out a callback URL (`callback_url = true`).
    pub fn gives_callback_url(&self, step_id: &str) -> bool {
        matches!(
            self.step(step_id),
            Some((
                _,
                Step {
                    kind: StepKind::ServerEvent {
                        callback_url: true,
                        ..
                    },
                    ..
                }
            ))
        )
    }

    /// The first step that hands out callback URLs, if any.
    pub fn callback_url_step(&self) -> Option<&str> {
        self.steps
            .iter()
            .find(|step| self.gives_callback_url(&step.id))
            .map(|step| step.id.as_str())
    }

    /// The fields of a new instance: defaults, overridden by `given` (converted to the
    /// declared types). Unknown names are rejected.
    pub fn initial_fields(
        &self,
        given: &serde_json::Map<String, Value>,
    ) -> Result<serde_json::Map<String, Value>, String> {
        let mut fields = serde_json::Map::new();
        for (name, def) in &self.fields {
            fields.insert(name.clone(), def.default.clone().unwrap_or(Value::Null));
        }
        fields.extend(self.convert_fields(given)?);
        Ok(fields)
    }

    /// Converts each value for its named field; the first that does not fit explains.
    pub fn convert_fields(
        &self,
        given: &serde_json::Map<String, Value>,
    ) -> Result<serde_json::Map<String, Value>, String> {
        given
            .iter()
            .map(|(name, value)| Ok((name.clone(), self.convert_field(name, value)?)))
            .collect()
    }

    /// Converts a value for the named field, or explains (naming field and type).
    pub fn convert_field(&self, name: &str, value: &Value) -> Result<Value, String> {
        let def = self
            .fields
            .get(name)
            .ok_or_else(|| format!("unknown data field `{name}` in workflow `{}`", self.name))?;
        def.ty
            .coerce(value)
            .map_err(|why| format!("data field `{name}` is of type {}: {why}", def.ty.as_str()))
    }
}

#[derive(Debug, Clone)]
pub struct FieldDef {
    pub ty: FieldType,
    pub default: Option<Value>,
}

/// Who may do what with a workflow; `"*"` is any authenticated account.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    #[serde(default)]
    pub start: Vec<String>,
    #[serde(default)]
    pub server_event: Vec<String>,
    #[serde(default)]
    pub view: Vec<String>,
}

#[derive(Debug)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    /// Index of the step to run after this one; `None` means the next in the file.
    pub next: Option<usize>,
}

/// How long a waiting step waits and where it goes when time runs out.
#[derive(Debug, Clone)]
pub struct WaitPolicy {
    /// `None`: `[engine] default_deadline`.
    pub deadline: Option<Deadline>,
    pub on_timeout: Option<usize>,
}

#[derive(Debug)]
pub enum StepKind {
    ServerEvent {
        notify: Option<HttpSpec>,
        synchronous: bool,
        /// The item gets a capability URL that finishes it without an account
        /// (`item.callback_url`; `engine::callback`).
        callback_url: bool,
        wait: WaitPolicy,
        on_error: Option<usize>,
    },
    WaitEvent {
        event: String,
        scope: EventScope,
        wait: WaitPolicy,
    },
    WaitInput {
        inputs: Vec<String>,
        wait: WaitPolicy,
    },
    Emit {
        event: String,
        properties: Vec<(String, String)>,
        ttl: Option<Duration>,
    },
    Call {
        http: HttpSpec,
        wait: WaitPolicy,
        on_error: Option<usize>,
    },
    Set {
        fields: Vec<(String, SetValue)>,
    },
    Decide {
        when: Vec<(String, usize)>,
        otherwise: Option<usize>,
    },
    Reply(ReplySpec),
    End,
    Fail {
        message: String,
    },
}

impl StepKind {
    /// The deadline and timeout target of a step that waits; `None` for the others.
    pub fn wait(&self) -> Option<&WaitPolicy> {
        match self {
            Self::ServerEvent { wait, .. }
            | Self::WaitEvent { wait, .. }
            | Self::WaitInput { wait, .. }
            | Self::Call { wait, .. } => Some(wait),
            Self::Emit { .. }
            | Self::Set { .. }
            | Self::Decide { .. }
            | Self::Reply(_)
            | Self::End
            | Self::Fail { .. } => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::ServerEvent { .. } => "server_event",
            Self::WaitEvent { .. } => "wait_event",
            Self::WaitInput { .. } => "wait_input",
            Self::Emit { .. } => "emit",
            Self::Call { .. } => "call",
            Self::Set { .. } => "set",
            Self::Decide { .. } => "decide",
            Self::Reply(_) => "reply",
            Self::End => "end",
            Self::Fail { .. } => "fail",
        }
    }
}

#[derive(Debug, Clone)]
pub enum SetValue {
    /// A string: rendered, then converted to the field's type.
    Template(String),
    /// A TOML number, boolean, array or table, taken as it is.
    Literal(Value),
}

/// An outbound HTTP request (`call` steps, `notify` of server events); strings are
/// templates rendered when the request is queued.
#[derive(Debug, Clone)]
pub struct HttpSpec {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout: Option<Duration>,
    pub max_attempts: Option<u32>,
    /// field ← JSON pointer, XML local-name path, `$status` or `$body`.
    pub save: Vec<(String, String)>,
    /// `Authorization: Bearer` from this environment variable of the sending node.
    pub bearer_env: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ReplyStatus {
    Continue,
    CancelNoError,
    CancelWithError,
}

#[derive(Debug, Clone)]
pub struct ReplySpec {
    pub status: Option<ReplyStatus>,
    pub error_message: Option<String>,
    /// Templates render to text; literals (numbers, booleans) keep their type.
    pub changed_properties: Vec<(String, SetValue)>,
    pub body: Option<String>,
    pub content_type: Option<String>,
}

/// A problem in a definition file, located as precisely as possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError {
    pub file: PathBuf,
    pub step: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(step) = &self.step {
            write!(f, ": step `{step}`")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every loaded workflow, by GUID and by name.
#[derive(Debug, Default)]
pub struct Workflows {
    by_id: HashMap<String, Arc<Workflow>>,
}

impl Workflows {
    pub fn from_list(list: Vec<Workflow>) -> Self {
        Self {
            by_id: list
                .into_iter()
                .map(|wf| (wf.id.clone(), Arc::new(wf)))
                .collect(),
        }
    }

    /// Finds a workflow by GUID (any case) or by name.
    pub fn get(&self, id_or_name: &str) -> Option<&Arc<Workflow>> {
        self.by_id
            .get(&id_or_name.to_ascii_lowercase())
            .or_else(|| self.by_id.values().find(|wf| wf.name == id_or_name))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Workflow>> {
        let mut list: Vec<_> = self.by_id.values().collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list.into_iter()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// Loads and checks every `*.toml` file of a folder. All errors are collected.
pub fn load_dir(dir: &Path) -> Result<Workflows, Vec<DefinitionError>> {
    let dir_error = |message: String| {
        vec![DefinitionError {
            file: dir.to_path_buf(),
            step: None,
            field: None,
            message,
        }]
    };
    let entries = std::fs::read_dir(dir)
        .map_err(|error| dir_error(format!("cannot read workflows folder: {error}")))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    let mut errors = Vec::new();
    let mut workflows: Vec<Workflow> = Vec::new();
    for path in paths {
        let loaded = std::fs::read(&path)
            .map_err(|error| dir_error(format!("cannot read {}: {error}", path.display())))
            .and_then(|bytes| compile(&path, &bytes));
        match loaded {
            Ok(workflow) => workflows.push(workflow),
            Err(mut found) => errors.append(&mut found),
        }
    }
    check_unique(&workflows, &mut errors);
    if errors.is_empty() {
        Ok(Workflows::from_list(workflows))
    } else {
        Err(errors)
    }
}

/// Ids and names identify a workflow: each must be unique across the directory.
fn check_unique(workflows: &[Workflow], errors: &mut Vec<DefinitionError>) {
    let mut seen: HashMap<(&str, &str), &Path> = HashMap::new();
    for wf in workflows {
        let keys = [
            ("id", wf.id.as_str(), format!("id {}", wf.id)),
            ("name", wf.name.as_str(), format!("name `{}`", wf.name)),
        ];
        for (field, value, what) in keys {
            if let Some(first) = seen.insert((field, value), &wf.source) {
                errors.push(DefinitionError {
                    file: wf.source.clone(),
                    step: None,
                    field: Some(field.into()),
                    message: format!("{what} is also used by {}", first.display()),
                });
            }
        }
    }
}
