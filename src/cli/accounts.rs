//! `holdpoint accounts add|list|remove|passwd`: account administration straight on the
//! store (no server needed). Passwords are generated and printed when not given.

use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;

use crate::auth::{Accounts, NewAccount, password};
use crate::config::Config;
use crate::store;

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Add an account.
    Add {
        name: String,
        /// The password [default: a generated one, printed once].
        #[arg(long)]
        password: Option<String>,
        /// Administrators pass every permission and right.
        #[arg(long)]
        admin: bool,
        /// An account-wide right (repeatable): send_events.
        #[arg(long = "right", value_name = "RIGHT")]
        rights: Vec<String>,
    },
    /// List accounts (never their passwords).
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove an account.
    Remove { name: String },
    /// Set a new password.
    Passwd {
        name: String,
        /// The password [default: a generated one, printed once].
        #[arg(long)]
        password: Option<String>,
    },
}

pub async fn run(config: &Config, command: AccountsCommand) -> Result<(), String> {
    let store = store::open(&config.store)
        .await
        .map_err(|error| format!("store: {error}"))?;
    // The CLI verifies nothing, so it needs no credential cache.
    let accounts = Accounts::new(Arc::clone(&store), Duration::ZERO);
    match command {
        AccountsCommand::Add {
            name,
            password,
            admin,
            rights,
        } => {
            let (password, generated) = chosen_or_generated(password);
            let account = NewAccount {
                name: name.clone(),
                password: password.clone(),
                admin,
                rights,
            };
            accounts.add(&account).await.map_err(|e| e.to_string())?;
            println!(
                "added account `{name}`{}",
                if admin { " (admin)" } else { "" }
            );
            if generated {
                println!("password: {password}");
            }
        }
        AccountsCommand::List { json } => {
            let list = accounts.list().await.map_err(|e| e.to_string())?;
            if json {
                super::print_json(&list);
                return Ok(());
            }
            println!("{:<24}  {:<5}  {:<24}  created", "name", "admin", "rights");
            for account in &list {
                println!(
                    "{:<24}  {:<5}  {:<24}  {}",
                    account.name,
                    if account.admin { "yes" } else { "no" },
                    account.rights.join(","),
                    account.created_at
                );
            }
            println!("{} account(s)", list.len());
        }
        AccountsCommand::Remove { name } => {
            accounts.remove(&name).await.map_err(|e| e.to_string())?;
            println!("removed account `{name}`");
        }
        AccountsCommand::Passwd { name, password } => {
            let (password, generated) = chosen_or_generated(password);
            accounts
                .set_password(&name, &password)
                .await
                .map_err(|e| e.to_string())?;
            println!("password of `{name}` changed");
            if generated {
                println!("password: {password}");
            }
        }
    }
    Ok(())
}

fn chosen_or_generated(given: Option<String>) -> (String, bool) {
    match given {
        Some(password) => (password, false),
        None => (password::generate(), true),
    }
}
