//! Definition versions (DESIGN §4, "definitions are versioned").
//!
//! A node knows two sets of definitions:
//! - the **current** set: the workflow files it loaded last (at start, on `SIGHUP` or a
//!   deploy). New instances start on it, and its permissions and triggers apply.
//! - every **version** an instance may run on, addressed by the hash the instance
//!   records. Every version a node loads is written to the store's `definitions` table
//!   before it becomes current, so any node can compile a version it never had as a file.
//!
//! An instance is always resumed, timed out and answered with its own version
//! ([`Engine::version_of`]); only an explicit migration moves it to another. Versions are
//! never deleted. Instances started before versions were stored (hash unknown to the
//! store) fall back to the current definition of their workflow, as they always did.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use super::definition::{Workflow, Workflows, compile};
use super::{Engine, EngineError};
use crate::store::{DefinitionRow, InstanceRow, Store, Tx};

/// The current set and the compiled versions of one node.
#[derive(Debug)]
pub(crate) struct Definitions {
    current: RwLock<Arc<Workflows>>,
    compiled: RwLock<HashMap<String, Arc<Workflow>>>,
}

impl Definitions {
    pub(crate) fn new(current: Arc<Workflows>) -> Self {
        let definitions = Self {
            current: RwLock::new(Arc::new(Workflows::default())),
            compiled: RwLock::new(HashMap::new()),
        };
        definitions.make_current(current);
        definitions
    }

    pub(crate) fn current(&self) -> Arc<Workflows> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn make_current(&self, workflows: Arc<Workflows>) {
        {
            let mut compiled = self
                .compiled
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            for workflow in workflows.iter() {
                compiled
                    .entry(workflow.hash.clone())
                    .or_insert_with(|| workflow.clone());
            }
        }
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = workflows;
    }

    fn cached(&self, hash: &str) -> Option<Arc<Workflow>> {
        self.compiled
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(hash)
            .cloned()
    }

    fn remember(&self, workflow: Arc<Workflow>) -> Arc<Workflow> {
        self.compiled
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(workflow.hash.clone())
            .or_insert(workflow)
            .clone()
    }
}

/// The row that stores `workflow` as a version.
fn definition_row(workflow: &Workflow, now: i64) -> DefinitionRow {
    DefinitionRow {
        hash: workflow.hash.clone(),
        workflow_id: workflow.id.clone(),
        name: workflow.name.clone(),
        file_name: workflow.source.file_name().map_or_else(
            || workflow.source.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        ),
        source: workflow.text.to_vec(),
        loaded_at: now,
    }
}

/// Stores every workflow of `workflows` as a version (in one transaction); returns the
/// hashes that were new to the store.
pub(crate) async fn store_versions(
    store: &dyn Store,
    workflows: &Workflows,
    now: i64,
) -> Result<Vec<String>, EngineError> {
    let mut tx = store.begin().await?;
    let mut fresh = Vec::new();
    for workflow in workflows.iter() {
        if tx.insert_definition(&definition_row(workflow, now)).await? {
            fresh.push(workflow.hash.clone());
        }
    }
    tx.commit().await?;
    Ok(fresh)
}

/// Compiles a stored version; refuses a row whose content does not hash to its address.
fn compile_stored(row: &DefinitionRow) -> Result<Workflow, EngineError> {
    let workflow = compile(Path::new(&row.file_name), &row.source).map_err(|errors| {
        let first = errors.first().map(ToString::to_string).unwrap_or_default();
        EngineError::Internal(format!(
            "stored definition version {} of `{}` does not compile on this node: {first}",
            row.hash, row.name
        ))
    })?;
    if workflow.hash != row.hash {
        return Err(EngineError::Internal(format!(
            "stored definition version {} hashes to {}",
            row.hash, workflow.hash
        )));
    }
    Ok(workflow)
}

impl Engine {
    /// The current definitions: what new instances start on.
    pub fn workflows(&self) -> Arc<Workflows> {
        self.definitions.current()
    }

    /// Makes `workflows` the current set after storing each of them as a version, so that
    /// no instance can start on a version other nodes cannot read. Returns the hashes new
    /// to the store.
    pub async fn install(&self, workflows: Workflows) -> Result<Vec<String>, EngineError> {
        super::callback::require_public_url(&workflows, self.config.public_url.as_deref())?;
        let fresh = store_versions(self.store.as_ref(), &workflows, self.now_ms()).await?;
        self.definitions.make_current(Arc::new(workflows));
        Ok(fresh)
    }

    /// The version an instance runs on; `None` when neither the store nor this node has
    /// it (an instance of a workflow that was never loaded here and predates versions).
    pub(crate) async fn version_of(
        &self,
        tx: &mut dyn Tx,
        instance: &InstanceRow,
    ) -> Result<Option<Arc<Workflow>>, EngineError> {
        if let Some(workflow) = self.version_in(tx, &instance.definition_hash).await? {
            return Ok(Some(workflow));
        }
        // Started before versions were stored: the current file is all there is.
        Ok(self
            .definitions
            .current()
            .get(&instance.workflow_id)
            .cloned())
    }

    /// A stored version by hash, compiled once per node.
    pub(crate) async fn version_in(
        &self,
        tx: &mut dyn Tx,
        hash: &str,
    ) -> Result<Option<Arc<Workflow>>, EngineError> {
        if let Some(workflow) = self.definitions.cached(hash) {
            return Ok(Some(workflow));
        }
        let Some(row) = tx.get_definition(hash).await? else {
            return Ok(None);
        };
        let workflow = compile_stored(&row)?;
        tracing::info!(hash, workflow = %row.name, "compiled a stored definition version");
        Ok(Some(self.definitions.remember(Arc::new(workflow))))
    }

    /// [`Engine::version_in`] in a transaction of its own (none when compiled already).
    pub async fn version(&self, hash: &str) -> Result<Option<Arc<Workflow>>, EngineError> {
        if let Some(workflow) = self.definitions.cached(hash) {
            return Ok(Some(workflow));
        }
        let mut tx = self.store.begin().await?;
        let found = self.version_in(tx.as_mut(), hash).await?;
        tx.commit().await?;
        Ok(found)
    }

    /// Every stored version of a workflow, oldest first.
    pub async fn versions(&self, workflow_id: &str) -> Result<Vec<DefinitionRow>, EngineError> {
        let mut tx = self.store.begin().await?;
        let rows = tx.list_definitions(workflow_id).await?;
        tx.commit().await?;
        Ok(rows)
    }
}
