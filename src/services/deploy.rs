//! Deploys without downtime (DESIGN §4): re-reading the workflows folder of a running node
//! on `SIGHUP` or `POST /api/v1/deploy` (`holdpoint deploy`).
//!
//! The folder is loaded and checked as a whole, exactly as `serve` does at start
//! (definitions, then SharePoint triggers of both kinds). Any problem is reported (file,
//! step, field) and changes nothing: the node keeps serving its current set. A valid folder is
//! reviewed against the versions live instances run on, stored as new versions, and
//! becomes current at once; running instances stay on their own versions.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::engine::definition::{self, Workflows};
use crate::engine::review::WorkflowReview;
use crate::engine::{Engine, EngineError};

/// Loads and checks a workflows folder; the problems, one line each, otherwise.
pub fn load(dir: &Path) -> Result<Workflows, Vec<String>> {
    let workflows = definition::load_dir(dir)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let remote = super::sharepoint::triggers::collect(&workflows).err();
    let webhooks = super::sharepoint::webhooks::triggers::collect(&workflows).err();
    let problems: Vec<String> = remote.into_iter().chain(webhooks).flatten().collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(workflows)
}

/// The folder `POST /api/v1/deploy` re-reads, registered by the API as its own
/// `app_data`; `None` (a node not started from a folder): deploys are refused.
#[derive(Debug, Clone, Default)]
pub struct WorkflowsFolder(pub Option<PathBuf>);

/// One workflow as the deploy left it.
#[derive(Debug, Clone, Serialize)]
pub struct Deployed {
    pub id: String,
    pub name: String,
    pub version: String,
    /// Whether this version was new to the store.
    pub new_version: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    pub workflows: Vec<Deployed>,
    /// What live instances on older versions would meet (they stay on their versions).
    pub review: Vec<WorkflowReview>,
}

#[derive(Debug)]
pub enum DeployError {
    /// The folder does not load; nothing changed.
    Invalid(Vec<String>),
    Engine(EngineError),
}

impl std::fmt::Display for DeployError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(problems) => write!(
                f,
                "{} problem(s) in workflow definitions, nothing changed: {}",
                problems.len(),
                problems.join("; ")
            ),
            Self::Engine(error) => write!(f, "{error}"),
        }
    }
}

/// One deploy at a time per process: a `SIGHUP` and an API deploy running together could
/// otherwise make an older read of the folder current last.
static DEPLOYING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Loads `dir`, reviews it, stores its versions and makes it current.
pub async fn deploy(engine: &Engine, dir: &Path) -> Result<DeployReport, DeployError> {
    let _one_at_a_time = DEPLOYING.lock().await;
    let workflows = load(dir).map_err(DeployError::Invalid)?;
    let review = engine
        .review(&workflows)
        .await
        .map_err(DeployError::Engine)?;
    let deployed = workflows
        .iter()
        .map(|workflow| Deployed {
            id: workflow.id.clone(),
            name: workflow.name.clone(),
            version: workflow.hash.clone(),
            new_version: false,
        })
        .collect::<Vec<_>>();
    let fresh = engine
        .install(workflows)
        .await
        .map_err(DeployError::Engine)?;
    let workflows = deployed
        .into_iter()
        .map(|mut one| {
            one.new_version = fresh.contains(&one.version);
            one
        })
        .collect();
    Ok(DeployReport { workflows, review })
}

/// Deploys and logs the outcome (the `SIGHUP` path, which has nobody to answer).
pub async fn deploy_and_log(engine: &Engine, dir: &Path) {
    match deploy(engine, dir).await {
        Ok(report) => {
            let new: Vec<&str> = report
                .workflows
                .iter()
                .filter(|one| one.new_version)
                .map(|one| one.name.as_str())
                .collect();
            tracing::info!(
                workflows = report.workflows.len(),
                ?new,
                dir = %dir.display(),
                "workflows deployed"
            );
            for review in &report.review {
                for line in review.lines() {
                    tracing::warn!(workflow = %review.workflow, finding = %line, "deploy review");
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, dir = %dir.display(), "deploy refused; the node keeps its current workflows");
        }
    }
}
