//! `holdpoint events list|retry`: the inbound queue straight from the store (no server
//! needed): what was received, postponed or dead-lettered, and replaying a dead letter.

use clap::Subcommand;

use crate::config::Config;
use crate::engine::Caller;
use crate::store::{InboundFilter, InboundState, ListScope};

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List inbound events, newest first.
    List {
        /// queued, running, done or dead [default: all].
        #[arg(long)]
        state: Option<String>,
        /// Only this workflow (GUID).
        #[arg(long)]
        workflow: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Put a dead letter back in the queue, due now.
    Retry { id: i64 },
}

pub async fn run(config: &Config, command: EventsCommand) -> Result<(), String> {
    // Definitions give each workflow's queue policy; listing works without them.
    let workflows = super::load_workflows(&config.workflows_dir).unwrap_or_default();
    let engine = super::engine_on(config, workflows).await?;
    match command {
        EventsCommand::List {
            state,
            workflow,
            limit,
            json,
        } => {
            let state = state
                .as_deref()
                .map(|text| {
                    InboundState::parse(text).ok_or_else(|| {
                        format!("--state: unknown state `{text}` (queued, running, done, dead)")
                    })
                })
                .transpose()?;
            let filter = InboundFilter {
                scope: ListScope::new(workflow, limit.max(1)),
                state,
            };
            let rows = engine
                .list_inbound(&filter, &Caller::new("cli", "cli"))
                .await
                .map_err(|e| e.to_string())?;
            if json {
                super::print_json(&rows);
                return Ok(());
            }
            println!(
                "{:>8}  {:<8}  {:<11}  {:>8}  {:<24}  {:<36}  last error",
                "id", "state", "kind", "attempts", "received", "workflow"
            );
            for row in &rows {
                println!(
                    "{:>8}  {:<8}  {:<11}  {:>8}  {:<24}  {:<36}  {}",
                    row.id,
                    row.state.as_str(),
                    row.kind,
                    row.attempts,
                    row.received_at,
                    row.workflow_id,
                    row.last_error.as_deref().unwrap_or("")
                );
            }
            println!("{} event(s)", rows.len());
        }
        EventsCommand::Retry { id } => {
            let row = engine
                .retry_inbound(id, &Caller::new("cli", "cli"))
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "inbound event {} queued again (due now, expires {})",
                row.id, row.expires_at
            );
        }
    }
    Ok(())
}
