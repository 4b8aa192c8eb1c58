//! `holdpoint backup FILE`: a consistent copy of the embedded store, taken while a server
//! runs (see [`crate::store::sqlite::backup`] for why it is consistent). It refuses a
//! FILE that exists, and a PostgreSQL store, whose backups are PostgreSQL's business.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use crate::config::Config;
use crate::store::StoreTarget;
use crate::store::sqlite;

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The file to write (it must not exist yet).
    pub file: PathBuf,
}

pub async fn run(config: &Config, args: &BackupArgs) -> Result<(), String> {
    let source = match &config.store {
        StoreTarget::Sqlite { path } => path.clone(),
        StoreTarget::Postgres { .. } => {
            return Err(
                "backup copies the embedded store, and this configuration uses \
                 PostgreSQL: back it up with pg_dump (a logical dump) or pg_basebackup \
                 with WAL archiving (point-in-time recovery)"
                    .into(),
            );
        }
    };
    if args.file.symlink_metadata().is_ok() {
        return Err(format!(
            "{} exists already; a backup never overwrites a file",
            args.file.display()
        ));
    }
    let began = Instant::now();
    let (from, to) = (source.clone(), args.file.clone());
    let done = tokio::task::spawn_blocking(move || sqlite::backup(&from, &to))
        .await
        .map_err(|error| format!("backup: {error}"))?
        .map_err(|error| format!("backup: {error}"))?;
    println!(
        "backed up {} to {}: {} bytes ({}) in {} ms, integrity checked",
        source.display(),
        done.path.display(),
        done.bytes,
        human_size(done.bytes),
        began.elapsed().as_millis()
    );
    println!(
        "to restore: stop the server, then put this file in place as {}",
        source.display()
    );
    Ok(())
}

/// `1536` → `1.5 KiB`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_read_like_sizes() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 << 20), "3.0 MiB");
    }
}
