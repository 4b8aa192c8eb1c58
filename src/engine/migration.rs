//! Explicit migration of live instances to another definition version (DESIGN §4).
//!
//! Instances never change version by themselves; an operator moves them with a mapping of
//! steps (`old=new`, unmapped steps keep their id). For each instance the plan checks that
//! every open wait lands on a step of the same kind in the target and that every field
//! converts to the target's type; fields the target does not declare are dropped (the
//! plan names them), new ones take their default. A real run first plans every instance:
//! if any is refused, nothing changes. Then each instance moves in a transaction of its
//! own with a `migrated` history row (from, to, mapping, by whom), planned again under its
//! lock; one that moved on meanwhile to a step that does not map stays where it is and is
//! reported as such, the others move. Waits keep their id,
//! serial, event name and deadline, so callers holding them notice nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::definition::{StepKind, Workflow};
use super::interpreter::Run;
use super::telemetry::{Subject, observe};
use super::{Caller, Engine, EngineError};
use crate::store::{InstanceRow, ListScope, WaitFilter, WaitKind, WaitRow, WaitState};

/// What to migrate, and whether only to report.
#[derive(Debug, Clone)]
pub struct MigrationRequest {
    /// GUID or name.
    pub workflow: String,
    /// A stored version of the workflow, or `current` (this node's loaded file).
    pub to: String,
    /// Old step id → new step id.
    pub map: BTreeMap<String, String>,
    pub dry_run: bool,
    pub caller: Caller,
}

#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    pub workflow: String,
    pub to: String,
    pub dry_run: bool,
    /// Whether the instances were moved (false for a dry run, and when any was refused).
    pub applied: bool,
    pub instances: Vec<InstancePlan>,
}

impl MigrationReport {
    pub fn refused(&self) -> impl Iterator<Item = &InstancePlan> {
        self.instances.iter().filter(|plan| plan.refused.is_some())
    }
}

/// What happens (or would happen) to one instance.
#[derive(Debug, Clone, Serialize)]
pub struct InstancePlan {
    pub instance_id: i64,
    pub from: String,
    /// Open waits: (wait id, step now, step after).
    pub waits: Vec<(i64, String, String)>,
    pub current_step: Option<(String, String)>,
    pub fields_dropped: Vec<String>,
    pub fields_added: Vec<String>,
    /// Why this instance cannot move (then nothing moves).
    pub refused: Option<String>,
}

impl InstancePlan {
    fn new(instance: &InstanceRow) -> Self {
        Self {
            instance_id: instance.id,
            from: instance.definition_hash.clone(),
            waits: Vec::new(),
            current_step: None,
            fields_dropped: Vec::new(),
            fields_added: Vec::new(),
            refused: None,
        }
    }
}

/// The step kind a wait of `kind` must land on.
fn step_kind_for(kind: WaitKind) -> &'static str {
    match kind {
        WaitKind::ServerItem => "server_event",
        WaitKind::CustomEvent => "wait_event",
        WaitKind::Input => "wait_input",
        WaitKind::Call => "call",
    }
}

/// Where a step of the old version goes: its mapping, else the same id.
fn mapped<'m>(map: &'m BTreeMap<String, String>, step: &'m str) -> &'m str {
    map.get(step).map_or(step, String::as_str)
}

/// Plans one instance; `Err` is the reason it cannot move, `Ok` the new fields.
fn plan_instance(
    instance: &InstanceRow,
    waits: &[WaitRow],
    to: &Workflow,
    map: &BTreeMap<String, String>,
    plan: &mut InstancePlan,
) -> Result<Map<String, Value>, String> {
    for wait in waits {
        let target = mapped(map, &wait.step_id);
        let wanted = step_kind_for(wait.kind);
        let Some((_, step)) = to.step(target) else {
            return Err(format!(
                "wait {} at step `{}` maps to `{target}`, which version {} does not have",
                wait.id, wait.step_id, to.hash
            ));
        };
        let accepted = match (&step.kind, wait.kind) {
            (StepKind::ServerEvent { .. }, WaitKind::ServerItem)
            | (StepKind::WaitEvent { .. }, WaitKind::CustomEvent)
            | (StepKind::WaitInput { .. }, WaitKind::Input)
            | (StepKind::Call { .. }, WaitKind::Call) => true,
            // A server item whose notify call is still out waits as a call.
            (
                StepKind::ServerEvent {
                    notify: Some(_), ..
                },
                WaitKind::Call,
            ) => true,
            _ => false,
        };
        if !accepted {
            return Err(format!(
                "wait {} at step `{}` ({wanted}) maps to `{target}`, a {} in version {}",
                wait.id,
                wait.step_id,
                step.kind.name(),
                to.hash
            ));
        }
        plan.waits
            .push((wait.id, wait.step_id.clone(), target.to_string()));
    }
    if let Some(current) = &instance.current_step {
        let target = mapped(map, current);
        if to.step(target).is_none() {
            return Err(format!(
                "current step `{current}` maps to `{target}`, which version {} does not have",
                to.hash
            ));
        }
        plan.current_step = Some((current.clone(), target.to_string()));
    }
    let mut fields = Map::new();
    for (name, def) in &to.fields {
        let value = match instance.fields.get(name) {
            None => {
                plan.fields_added.push(name.clone());
                def.default.clone().unwrap_or(Value::Null)
            }
            Some(Value::Null) => Value::Null,
            Some(value) => to.convert_field(name, value)?,
        };
        fields.insert(name.clone(), value);
    }
    plan.fields_dropped = instance
        .fields
        .keys()
        .filter(|name| !to.fields.contains_key(*name))
        .cloned()
        .collect();
    Ok(fields)
}

impl Engine {
    /// Moves (or with `dry_run` only plans moving) a workflow's live instances to another
    /// version. Admins and trusted callers only.
    pub async fn migrate(
        &self,
        request: &MigrationRequest,
    ) -> Result<MigrationReport, EngineError> {
        observe("migrate", Subject::Unknown, async move {
            if !request.caller.access.has_every_permission() {
                return Err(EngineError::Forbidden(
                    "only admins may migrate instances".into(),
                ));
            }
            let to = self.target_version(request).await?;
            for (old, new) in &request.map {
                if to.step(new).is_none() {
                    return Err(EngineError::MalformedRequest(format!(
                        "mapping {old}={new}: version {} has no step `{new}`",
                        to.hash
                    )));
                }
            }
            let mut report = self.plan_migration(request, &to).await?;
            if request.dry_run || report.refused().next().is_some() {
                return Ok(report);
            }
            for plan in &mut report.instances {
                match self
                    .retrying(|| self.migrate_one(plan.instance_id, &to, request))
                    .await
                {
                    Ok(()) => {}
                    // Changed since the plan (it moved on to a step that does not map):
                    // left as it is, on its version, and said so.
                    Err(EngineError::ItemNotOpen(why)) => plan.refused = Some(why),
                    Err(other) => return Err(other),
                }
            }
            report.applied = true;
            Ok(report)
        })
        .await
    }

    async fn target_version(
        &self,
        request: &MigrationRequest,
    ) -> Result<Arc<Workflow>, EngineError> {
        let current = self
            .workflows()
            .get(&request.workflow)
            .cloned()
            .ok_or_else(|| EngineError::UnknownWorkflow(request.workflow.clone()))?;
        if request.to == "current" || request.to == current.hash {
            return Ok(current);
        }
        match self.version(&request.to).await? {
            Some(version) if version.id == current.id => Ok(version),
            _ => Err(EngineError::MalformedRequest(format!(
                "`{}` is not a stored version of workflow `{}` (see `holdpoint versions {}`)",
                request.to, current.name, current.name
            ))),
        }
    }

    async fn plan_migration(
        &self,
        request: &MigrationRequest,
        to: &Workflow,
    ) -> Result<MigrationReport, EngineError> {
        let mut run = Run::reading(self, &request.caller).await?;
        let ids = run.tx.live_instance_ids(&to.id, &to.hash).await?;
        let mut instances = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(instance) = run.tx.get_instance(id).await? else {
                continue;
            };
            let waits = open_waits(&mut run, id).await?;
            let mut plan = InstancePlan::new(&instance);
            if let Err(why) = plan_instance(&instance, &waits, to, &request.map, &mut plan) {
                plan.refused = Some(why);
            }
            instances.push(plan);
        }
        run.tx.commit().await?;
        Ok(MigrationReport {
            workflow: to.name.clone(),
            to: to.hash.clone(),
            dry_run: request.dry_run,
            applied: false,
            instances,
        })
    }

    /// Moves one instance in its own transaction, planned again under its lock (it may
    /// have moved on since the plan); one that ended meanwhile is left alone.
    async fn migrate_one(
        &self,
        id: i64,
        to: &Workflow,
        request: &MigrationRequest,
    ) -> Result<(), EngineError> {
        let mut run = Run::begin(self, &request.caller).await?;
        let Some(mut instance) = run.tx.lock_instance(id).await? else {
            return Ok(());
        };
        if instance.status.is_terminal() || instance.definition_hash == to.hash {
            return Ok(());
        }
        let waits = open_waits(&mut run, id).await?;
        let mut plan = InstancePlan::new(&instance);
        let fields =
            plan_instance(&instance, &waits, to, &request.map, &mut plan).map_err(|why| {
                EngineError::ItemNotOpen(format!("instance {id} changed meanwhile: {why}"))
            })?;
        for (wait_id, from, target) in &plan.waits {
            if from != target {
                run.tx.set_wait_step(*wait_id, target).await?;
            }
        }
        instance.fields = fields;
        instance.current_step = plan.current_step.as_ref().map(|(_, new)| new.clone());
        run.tx.set_instance_definition(id, &to.hash).await?;
        run.save(&mut instance).await?;
        let detail = json!({
            "from": plan.from,
            "to": to.hash,
            "map": request.map,
            "fields_dropped": plan.fields_dropped,
        });
        let step = instance.current_step.clone();
        run.history(id, "migrated", step.as_deref(), None, detail)
            .await?;
        run.commit().await
    }
}

async fn open_waits(run: &mut Run<'_>, instance_id: i64) -> Result<Vec<WaitRow>, EngineError> {
    let filter = WaitFilter {
        scope: ListScope::new(None, 1000),
        instance_id: Some(instance_id),
        state: Some(WaitState::Open),
        ..WaitFilter::default()
    };
    Ok(run.tx.list_waits(&filter).await?)
}
