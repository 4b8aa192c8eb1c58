//! `holdpoint check`, `holdpoint versions` and `holdpoint instances migrate`: definition
//! versions from the command line, on the store directly (no server needed).
//!
//! `check` changes no instance and stores no version: it validates the folder and, when a
//! store exists, reviews the folder against the versions live instances run on (opening
//! the store applies pending schema migrations, as every command does). `instances migrate` builds an
//! engine on the configured folder, which stores that folder's versions (as any node
//! does), so that `--to current` names a version every node can read.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::engine_on;
use super::{describe_store, load_workflows};
use crate::config::Config;
use crate::engine::clock::{SystemClock, rfc3339};
use crate::engine::definition::Workflows;
use crate::engine::migration::{InstancePlan, MigrationReport, MigrationRequest};
use crate::engine::{Caller, Engine};
use crate::store::{self, StoreTarget};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Folder to check [default: the configured workflows folder].
    pub dir: Option<PathBuf>,
    /// Only validate the files; do not review them against the store.
    #[arg(long)]
    pub no_store: bool,
}

#[derive(Debug, Args)]
pub struct VersionsArgs {
    /// Workflow GUID or name (of the configured folder).
    pub workflow: String,
}

#[derive(Debug, Subcommand)]
pub enum InstancesCommand {
    /// Move live instances of a workflow to another definition version.
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Workflow GUID or name.
    #[arg(long)]
    pub workflow: String,
    /// Target version (see `holdpoint versions`), or `current` for the folder's.
    #[arg(long)]
    pub to: String,
    /// old-step=new-step (repeatable); unmapped steps keep their id.
    #[arg(long = "map", value_name = "OLD=NEW")]
    pub map: Vec<String>,
    /// Print what would happen to each instance; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Opens the configured store for reading, unless there is none yet (an embedded store
/// whose file does not exist is not created by a check).
async fn existing_store(config: &Config) -> Result<Option<Arc<dyn store::Store>>, String> {
    if let StoreTarget::Sqlite { path } = &config.store
        && !path.exists()
    {
        return Ok(None);
    }
    store::open(&config.store)
        .await
        .map(Some)
        .map_err(|error| format!("store: {error}"))
}

pub async fn check(config: &Config, args: &CheckArgs) -> Result<(), String> {
    let dir = args.dir.as_ref().unwrap_or(&config.workflows_dir);
    let candidate = load_workflows(dir)?;
    crate::engine::callback::require_public_url(&candidate, config.engine.public_url.as_deref())
        .map_err(|error| error.to_string())?;
    for workflow in candidate.iter() {
        let (id, name, hash) = (&workflow.id, &workflow.name, &workflow.hash);
        let (steps, source) = (workflow.steps.len(), workflow.source.display());
        println!("ok  {id}  {name}  ({steps} steps, {source})  version {hash}");
    }
    println!("{} workflow(s) valid in {}", candidate.len(), dir.display());
    if args.no_store {
        return Ok(());
    }
    let Some(store) = existing_store(config).await? else {
        println!("no store yet: nothing to review");
        return Ok(());
    };
    // An engine with no current workflows stores nothing: a check only looks.
    let engine = Engine::new(
        store,
        Arc::new(Workflows::default()),
        config.engine.clone(),
        Arc::new(SystemClock),
    )
    .await
    .map_err(|error| format!("engine: {error}"))?;
    let reviews = engine
        .review(&candidate)
        .await
        .map_err(|error| format!("review: {error}"))?;
    let mut findings = 0;
    for review in &reviews {
        for line in review.lines() {
            println!("{line}");
        }
        findings += review
            .older
            .iter()
            .map(|older| older.findings.len())
            .sum::<usize>();
    }
    println!(
        "review against the {}: {findings} finding(s) for live instances on older versions",
        describe_store(config)
    );
    Ok(())
}

pub async fn list(config: &Config, args: &VersionsArgs) -> Result<(), String> {
    let workflows = load_workflows(&config.workflows_dir).unwrap_or_default();
    let engine = engine_on(config, Workflows::default()).await?;
    let current = workflows.get(&args.workflow).cloned();
    let id = current
        .as_ref()
        .map_or_else(|| args.workflow.to_ascii_lowercase(), |wf| wf.id.clone());
    let rows = engine
        .versions(&id)
        .await
        .map_err(|error| error.to_string())?;
    if rows.is_empty() {
        return Err(format!(
            "no stored versions of workflow `{}`",
            args.workflow
        ));
    }
    for row in rows {
        let marker = if current.as_ref().is_some_and(|wf| wf.hash == row.hash) {
            "  (the folder's)"
        } else {
            ""
        };
        println!(
            "{}  {}  {}  loaded {}{marker}",
            row.hash,
            row.name,
            row.file_name,
            rfc3339(row.loaded_at)
        );
    }
    Ok(())
}

pub async fn instances(config: &Config, command: InstancesCommand) -> Result<(), String> {
    match command {
        InstancesCommand::Migrate(args) => migrate(config, &args).await,
    }
}

fn mapping(items: &[String]) -> Result<BTreeMap<String, String>, String> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .filter(|(old, new)| !old.is_empty() && !new.is_empty())
                .map(|(old, new)| (old.to_string(), new.to_string()))
                .ok_or_else(|| format!("--map `{item}` is not old-step=new-step"))
        })
        .collect()
}

async fn migrate(config: &Config, args: &MigrateArgs) -> Result<(), String> {
    let workflows = load_workflows(&config.workflows_dir)?;
    let engine = engine_on(config, workflows).await?;
    let request = MigrationRequest {
        workflow: args.workflow.clone(),
        to: args.to.clone(),
        map: mapping(&args.map)?,
        dry_run: args.dry_run,
        caller: Caller::new("cli", "cli"),
    };
    let report = engine
        .migrate(&request)
        .await
        .map_err(|error| error.to_string())?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print_report(&report);
    }
    if !report.dry_run && !report.applied {
        return Err("migration refused, nothing changed".into());
    }
    Ok(())
}

fn print_report(report: &MigrationReport) {
    let verb = match (report.dry_run, report.applied) {
        (true, _) => "would move",
        (false, true) => "moved",
        (false, false) => "not moved",
    };
    for plan in &report.instances {
        println!("{}", describe_plan(plan, verb));
    }
    let refused = report.refused().count();
    println!(
        "{}: {} live instance(s) on other versions, {refused} refused; target {}{}",
        report.workflow,
        report.instances.len(),
        report.to,
        if report.dry_run { " (dry run)" } else { "" }
    );
}

fn describe_plan(plan: &InstancePlan, verb: &str) -> String {
    if let Some(why) = &plan.refused {
        return format!(
            "instance {} (version {}): REFUSED: {why}",
            plan.instance_id, plan.from
        );
    }
    let mut parts = vec![format!(
        "instance {} (version {}): {verb}",
        plan.instance_id, plan.from
    )];
    for (wait, from, to) in &plan.waits {
        parts.push(format!("wait {wait} {from} -> {to}"));
    }
    if !plan.fields_dropped.is_empty() {
        parts.push(format!(
            "fields dropped: {}",
            plan.fields_dropped.join(", ")
        ));
    }
    if !plan.fields_added.is_empty() {
        parts.push(format!("fields added: {}", plan.fields_added.join(", ")));
    }
    parts.join("; ")
}
