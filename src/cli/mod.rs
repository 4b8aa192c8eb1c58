//! The command line: raw arguments (clap) → [`crate::config::Overrides`] → resolved
//! [`Config`], then one subcommand. `serve` is the default.

mod accounts;
mod backup;
mod client;
mod docs;
mod events;
mod serve;
mod sharepoint;
mod store;
mod versions;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, Config, Overrides};
use crate::engine::clock::{SystemClock, rfc3339};
use crate::engine::definition::Workflows;
use crate::engine::{Engine, EngineError};
use crate::store::{ListScope, StoreTarget, WaitFilter, WaitKind, WaitState};

#[derive(Debug, Parser)]
#[command(
    name = "holdpoint",
    version,
    about = "SOAP/XML-compatible gateway in front of a durable wait engine"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "HOLDPOINT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder of the embedded store [default: ./data].
    #[arg(long, global = true, env = "HOLDPOINT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// postgres://… selects PostgreSQL; absent means the embedded store.
    #[arg(
        long,
        global = true,
        env = "HOLDPOINT_DATABASE_URL",
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// Folder of workflow definitions [default: ./workflows].
    #[arg(long, global = true, env = "HOLDPOINT_WORKFLOWS", value_name = "DIR")]
    pub workflows: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP (the default).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Validate workflow definitions and review them against the instances in the store.
    Check(versions::CheckArgs),
    /// Re-read the workflows folder of a running node (admin account).
    Deploy(client::DeployArgs),
    /// Stored definition versions of a workflow (on the store).
    Versions(versions::VersionsArgs),
    /// Live instances: migrate them to another definition version (on the store).
    Instances {
        #[command(subcommand)]
        command: versions::InstancesCommand,
    },
    /// Show what is waiting for what.
    Waits(WaitsArgs),
    /// Manage accounts (on the store; no server needed).
    Accounts {
        #[command(subcommand)]
        command: accounts::AccountsCommand,
    },
    /// The inbound queue: list events, retry dead letters (on the store).
    Events {
        #[command(subcommand)]
        command: events::EventsCommand,
    },
    /// Finish a server item on a running server.
    Finish(client::FinishArgs),
    /// Send a custom event to a running server.
    SendEvent(client::SendEventArgs),
    /// The SharePoint receiver: the URL to register, key rotation (on the store).
    Sharepoint {
        #[command(subcommand)]
        command: sharepoint::SharePointCommand,
    },
    /// Copy the embedded store to FILE while the server runs.
    Backup(backup::BackupArgs),
    /// Move the embedded store to PostgreSQL (nodes stopped), or compare the two.
    Store {
        #[command(subcommand)]
        command: store::StoreCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff).
    Man,
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on (repeatable) [default: 127.0.0.1:8080].
    #[arg(
        long,
        env = "HOLDPOINT_LISTEN",
        value_name = "ADDR",
        value_delimiter = ','
    )]
    pub listen: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WaitsArgs {
    /// Only this workflow (GUID).
    #[arg(long)]
    pub workflow: Option<String>,
    /// server_item, custom_event, input or call.
    #[arg(long)]
    pub kind: Option<String>,
    /// open, finished, failed, expired or cancelled.
    #[arg(long, default_value = "open")]
    pub state: String,
    /// Only waits on this event name.
    #[arg(long)]
    pub event: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: i64,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(cli: Cli) -> ExitCode {
    // Help about the command line needs no configuration, store or log.
    match &cli.command {
        Some(Command::Completions(args)) => return docs::completions(args),
        Some(Command::Man) => return docs::man(),
        _ => {}
    }
    let listen = match &cli.command {
        Some(Command::Serve(args)) => args.listen.clone(),
        _ => Vec::new(),
    };
    let overrides = Overrides {
        config_file: cli.global.config.clone(),
        data_dir: cli.global.data_dir.clone(),
        database_url: cli.global.database_url.clone(),
        workflows: cli.global.workflows.clone(),
        listen,
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    let config = match config::load(&overrides, &env) {
        Ok(config) => config,
        Err(error) => return fail(&format!("configuration: {error}")),
    };
    // Held until the command is done, so its last log lines are written before the exit.
    let log = crate::telemetry::init(&config.log_level, config.log_format);
    let result = match cli.command {
        None | Some(Command::Serve(_)) => serve::serve(config).await,
        Some(Command::Migrate) => migrate(&config).await,
        Some(Command::Check(args)) => versions::check(&config, &args).await,
        Some(Command::Deploy(args)) => client::deploy(&args).await,
        Some(Command::Versions(args)) => versions::list(&config, &args).await,
        Some(Command::Instances { command }) => versions::instances(&config, command).await,
        Some(Command::Waits(args)) => waits(&config, &args).await,
        Some(Command::Accounts { command }) => accounts::run(&config, command).await,
        Some(Command::Events { command }) => events::run(&config, command).await,
        Some(Command::Finish(args)) => client::finish(&args).await,
        Some(Command::SendEvent(args)) => client::send_event(&args).await,
        Some(Command::Sharepoint { command }) => sharepoint::run(&config, command).await,
        Some(Command::Backup(args)) => backup::run(&config, &args).await,
        Some(Command::Store { command }) => store::run(&config, command).await,
        Some(Command::Completions(_) | Command::Man) => Ok(()),
    };
    // Writes out the queued log lines before a failure is reported below them.
    drop(log);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("holdpoint: {message}");
    ExitCode::FAILURE
}

fn describe_store(config: &Config) -> String {
    match &config.store {
        StoreTarget::Sqlite { path } => format!("embedded store {}", path.display()),
        StoreTarget::Postgres { .. } => "PostgreSQL".to_string(),
    }
}

async fn migrate(config: &Config) -> Result<(), String> {
    let store = crate::store::open(&config.store)
        .await
        .map_err(|error| format!("store: {error}"))?;
    store
        .ping()
        .await
        .map_err(|error| format!("store: {error}"))?;
    println!("migrations applied ({})", describe_store(config));
    Ok(())
}

/// Loads definitions and checks the dialect-specific parts (SharePoint triggers), or
/// one message listing every problem.
/// `--json`: the rows as one JSON array, `[]` when there are none, so that every
/// `--json` output parses as a JSON document.
pub(crate) fn print_json<T: serde::Serialize>(rows: &[T]) {
    println!("{}", json_array(rows));
}

fn json_array<T: serde::Serialize>(rows: &[T]) -> String {
    // Serialising our own row types cannot fail; should it, the answer is still JSON.
    serde_json::to_string_pretty(rows).unwrap_or_else(|_| "[]".into())
}

/// The store `config` names, opened, with an engine on it running `workflows`.
pub(crate) async fn engine_on(config: &Config, workflows: Workflows) -> Result<Engine, String> {
    let store = crate::store::open(&config.store)
        .await
        .map_err(|error| format!("store: {error}"))?;
    Engine::new(
        store,
        Arc::new(workflows),
        config.engine.clone(),
        Arc::new(SystemClock),
    )
    .await
    .map_err(|error: EngineError| format!("engine: {error}"))
}

pub(crate) fn load_workflows(dir: &std::path::Path) -> Result<Workflows, String> {
    crate::services::deploy::load(dir).map_err(|lines| {
        format!(
            "{} problem(s) in workflow definitions:\n  {}",
            lines.len(),
            lines.join("\n  ")
        )
    })
}

async fn waits(config: &Config, args: &WaitsArgs) -> Result<(), String> {
    let kind = args
        .kind
        .as_deref()
        .map(|text| WaitKind::parse(text).ok_or_else(|| format!("--kind: unknown kind `{text}`")))
        .transpose()?;
    let state = if args.state == "all" {
        None
    } else {
        Some(
            WaitState::parse(&args.state)
                .ok_or_else(|| format!("--state: unknown state `{}`", args.state))?,
        )
    };
    // Definitions only matter for running instances; listing works without them.
    let workflows = load_workflows(&config.workflows_dir).unwrap_or_default();
    let engine = engine_on(config, workflows).await?;
    let filter = WaitFilter {
        scope: ListScope::new(args.workflow.clone(), args.limit.max(1)),
        kind,
        state,
        event_name: args.event.clone(),
        ..WaitFilter::default()
    };
    let waits = engine
        .list_waits(&filter, &crate::engine::Caller::new("cli", "cli"))
        .await
        .map_err(|error| format!("{error}"))?;
    if args.json {
        print_json(&waits);
        return Ok(());
    }
    println!(
        "{:>8}  {:>8}  {:<13}  {:<9}  {:<24}  {:<20}  waiting for",
        "wait", "instance", "kind", "state", "deadline", "step"
    );
    for wait in &waits {
        let target = wait
            .serial
            .clone()
            .or_else(|| wait.event_name.clone())
            .unwrap_or_default();
        println!(
            "{:>8}  {:>8}  {:<13}  {:<9}  {:<24}  {:<20}  {}",
            wait.id,
            wait.instance_id,
            wait.kind.as_str(),
            wait.state.as_str(),
            rfc3339(wait.deadline_ms),
            wait.step,
            target
        );
    }
    println!("{} wait(s)", waits.len());
    Ok(())
}
