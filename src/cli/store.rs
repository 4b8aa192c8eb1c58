//! `holdpoint store copy --to URL` and `store verify --against URL`: moving from the
//! embedded store to PostgreSQL, with nodes stopped (the work is done by
//! [`crate::store::copy`]). Both print one line per table (rows, checksum, ok) and exit
//! nonzero when anything differs.

use clap::Subcommand;

use crate::config::Config;
use crate::store::StoreTarget;
use crate::store::copy::{self, CopyError, CopyReport};

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy the embedded store into an empty PostgreSQL database and verify the copy.
    Copy {
        /// The target database (postgres://…); it must be empty.
        #[arg(long, value_name = "URL")]
        to: String,
    },
    /// Compare the embedded store with a PostgreSQL copy, table by table.
    Verify {
        /// The PostgreSQL database holding the copy (postgres://…).
        #[arg(long, value_name = "URL")]
        against: String,
    },
}

pub async fn run(config: &Config, command: StoreCommand) -> Result<(), String> {
    let source = match &config.store {
        StoreTarget::Sqlite { path } => path.clone(),
        StoreTarget::Postgres { .. } => {
            return Err(
                "store copy reads the embedded store in the data dir, but a PostgreSQL \
                 store is configured (--database-url, HOLDPOINT_DATABASE_URL or [store] url): \
                 leave it out and name the target with --to"
                    .into(),
            );
        }
    };
    match command {
        StoreCommand::Copy { to } => {
            postgres_url(&to)?;
            match copy::sqlite_to_postgres(&source, &to).await {
                Ok(report) => {
                    println!(
                        "copied the embedded store {} to PostgreSQL",
                        source.display()
                    );
                    print_report(&report);
                    println!(
                        "verified: {} rows in {} tables, row counts and checksums match",
                        report.rows(),
                        report.tables.len()
                    );
                    Ok(())
                }
                Err(CopyError::Mismatch(report)) => {
                    print_report(&report);
                    Err(CopyError::Mismatch(report).to_string())
                }
                Err(error) => Err(format!("store copy: {error}")),
            }
        }
        StoreCommand::Verify { against } => {
            postgres_url(&against)?;
            let report = copy::compare(&source, &against)
                .await
                .map_err(|error| format!("store verify: {error}"))?;
            print_report(&report);
            if report.ok() {
                println!(
                    "the same: {} rows in {} tables",
                    report.rows(),
                    report.tables.len()
                );
                Ok(())
            } else {
                Err(format!(
                    "the PostgreSQL database differs from the embedded store in {}",
                    report.mismatched().join(", ")
                ))
            }
        }
    }
}

fn postgres_url(url: &str) -> Result<(), String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(())
    } else {
        Err("the target must be a postgres:// URL".into())
    }
}

/// One line per table; a differing table shows both sides.
fn print_report(report: &CopyReport) {
    println!(
        "{:<16} {:>10}  {:<16}  ok",
        "table", "rows", "checksum (sha256)"
    );
    for check in &report.tables {
        let short = |sum: &str| sum.chars().take(16).collect::<String>();
        if check.ok() {
            println!(
                "{:<16} {:>10}  {:<16}  ok",
                check.table,
                check.source_rows,
                short(&check.source_checksum)
            );
        } else {
            println!(
                "{:<16} {:>10}  {:<16}  MISMATCH: PostgreSQL has {} rows, checksum {}",
                check.table,
                check.source_rows,
                short(&check.source_checksum),
                check.target_rows,
                short(&check.target_checksum)
            );
        }
    }
}
