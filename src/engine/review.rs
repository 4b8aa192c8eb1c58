//! Change review: what the instances still running on stored versions of a workflow would
//! meet in a candidate definition (`holdpoint check`, a deploy).
//!
//! A deploy never moves a running instance — it stays on its own version — so the review
//! says what a migration to the candidate would have to deal with: steps instances stand
//! at that the candidate no longer has (or has as another kind), fields removed or
//! retyped, triggers changed. Counts come from one grouped query per workflow.

use std::collections::BTreeMap;

use serde::Serialize;

use super::definition::{Workflow, Workflows};
use super::{Engine, EngineError};

/// The review of one workflow of the candidate set.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowReview {
    pub workflow: String,
    pub workflow_id: String,
    /// The candidate's version (`None` when the candidate set no longer has the workflow).
    pub version: Option<String>,
    /// Whether the store has never seen the candidate's version.
    pub new_version: bool,
    /// Live instances per older version, with what they would meet.
    pub older: Vec<VersionReview>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionReview {
    pub version: String,
    /// Instances that have not ended on this version.
    pub instances: i64,
    pub findings: Vec<Finding>,
}

/// One difference that matters to live instances, with how many it concerns.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    /// `step_removed`, `step_kind_changed`, `field_removed`, `field_retyped`,
    /// `triggers_changed`, `workflow_removed`.
    pub kind: &'static str,
    pub subject: String,
    pub instances: i64,
    pub message: String,
}

impl WorkflowReview {
    /// Whether live instances would meet anything (an empty review is a safe deploy).
    pub fn has_findings(&self) -> bool {
        self.older
            .iter()
            .any(|version| !version.findings.is_empty())
    }

    /// Human-readable lines for the CLI and the logs.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for older in &self.older {
            let target = self.version.as_deref().unwrap_or("(none)");
            lines.push(format!(
                "{}: {} live instance(s) on version {} stay on it (candidate {target})",
                self.workflow, older.instances, older.version
            ));
            for finding in &older.findings {
                lines.push(format!("  {}: {}", finding.kind, finding.message));
            }
        }
        lines
    }
}

impl Engine {
    /// Reviews `candidate` against the stored versions that live instances use, for every
    /// workflow of the candidate set and every current workflow the candidate drops.
    pub async fn review(&self, candidate: &Workflows) -> Result<Vec<WorkflowReview>, EngineError> {
        let mut reviews = Vec::new();
        let mut tx = self.store.begin().await?;
        for workflow in candidate.iter() {
            let known = tx.get_definition(&workflow.hash).await?.is_some();
            let counts = tx.count_live_instances(&workflow.id).await?;
            let mut older = Vec::new();
            for (hash, steps) in group_by_version(counts, &workflow.hash) {
                let findings = match self.version_in(tx.as_mut(), &hash).await? {
                    Some(old) => compare(&old, workflow, &steps),
                    None => Vec::new(),
                };
                older.push(VersionReview {
                    version: hash,
                    instances: steps.values().sum(),
                    findings,
                });
            }
            reviews.push(WorkflowReview {
                workflow: workflow.name.clone(),
                workflow_id: workflow.id.clone(),
                version: Some(workflow.hash.clone()),
                new_version: !known,
                older,
            });
        }
        for current in self.workflows().iter() {
            if candidate.get(&current.id).is_some() {
                continue;
            }
            let counts = tx.count_live_instances(&current.id).await?;
            let older = group_by_version(counts, "")
                .into_iter()
                .map(|(hash, steps)| {
                    let instances = steps.values().sum();
                    VersionReview {
                        version: hash,
                        instances,
                        findings: vec![Finding {
                            kind: "workflow_removed",
                            subject: current.name.clone(),
                            instances,
                            message: format!(
                                "the candidate has no `{}`: no new instances can start; \
                                 {instances} live instance(s) finish on their version",
                                current.name
                            ),
                        }],
                    }
                })
                .collect();
            reviews.push(WorkflowReview {
                workflow: current.name.clone(),
                workflow_id: current.id.clone(),
                version: None,
                new_version: false,
                older,
            });
        }
        tx.commit().await?;
        Ok(reviews)
    }
}

/// Live counts per version other than `except`, then per current step.
fn group_by_version(
    counts: Vec<crate::store::LiveCount>,
    except: &str,
) -> BTreeMap<String, BTreeMap<String, i64>> {
    let mut grouped: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for count in counts {
        if count.definition_hash == except {
            continue;
        }
        *grouped
            .entry(count.definition_hash)
            .or_default()
            .entry(count.current_step.unwrap_or_default())
            .or_default() += count.instances;
    }
    grouped
}

/// What instances of `old`, standing at `steps` (step id → count), would meet in `new`.
pub(crate) fn compare(
    old: &Workflow,
    new: &Workflow,
    steps: &BTreeMap<String, i64>,
) -> Vec<Finding> {
    let total: i64 = steps.values().sum();
    let mut findings = Vec::new();
    for (step_id, &instances) in steps.iter().filter(|(id, _)| !id.is_empty()) {
        let old_kind = old.step(step_id).map(|(_, step)| step.kind.name());
        match new.step(step_id) {
            None => findings.push(Finding {
                kind: "step_removed",
                subject: step_id.clone(),
                instances,
                message: format!(
                    "{instances} instance(s) wait at step `{step_id}`, which version {} no longer has",
                    new.hash
                ),
            }),
            Some((_, step)) if Some(step.kind.name()) != old_kind => findings.push(Finding {
                kind: "step_kind_changed",
                subject: step_id.clone(),
                instances,
                message: format!(
                    "{instances} instance(s) wait at step `{step_id}`, a {} in their version and a {} in {}",
                    old_kind.unwrap_or("step"),
                    step.kind.name(),
                    new.hash
                ),
            }),
            Some(_) => {}
        }
    }
    for (name, def) in &old.fields {
        match new.fields.get(name) {
            None => findings.push(Finding {
                kind: "field_removed",
                subject: name.clone(),
                instances: total,
                message: format!("field `{name}` ({}) is removed", def.ty.as_str()),
            }),
            Some(now) if now.ty != def.ty => findings.push(Finding {
                kind: "field_retyped",
                subject: name.clone(),
                instances: total,
                message: format!(
                    "field `{name}` changes type from {} to {}",
                    def.ty.as_str(),
                    now.ty.as_str()
                ),
            }),
            Some(_) => {}
        }
    }
    if old.triggers != new.triggers {
        findings.push(Finding {
            kind: "triggers_changed",
            subject: "triggers".into(),
            instances: total,
            message: "the triggers change (they apply to events from now on, on any version)"
                .into(),
        });
    }
    findings
}
