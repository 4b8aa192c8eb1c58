//! Online backup of the embedded store (`holdpoint backup FILE`).
//!
//! `VACUUM INTO` on a connection of its own writes a consistent snapshot: it reads inside
//! one read transaction, which in WAL mode sees every transaction committed before it
//! began (the WAL included) and nothing after, and which never blocks the server's
//! writers. So every callback acknowledged before the backup started is in the file,
//! however busy the server is. The file is a complete database: restoring is putting it
//! in place as `holdpoint.db` while no server runs.
//!
//! The target must not exist (a backup never overwrites anything). The copy is synced to
//! disk and checked (`PRAGMA quick_check`) before it is reported; a failed backup leaves
//! no partial file behind.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::store::StoreError;

/// A finished backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Copies the database at `source` into the new file `target`. Blocking: run it off the
/// async executor.
pub fn backup(source: &Path, target: &Path) -> Result<Backup, StoreError> {
    if !source.is_file() {
        return Err(StoreError::Other(format!(
            "no embedded store at {}",
            source.display()
        )));
    }
    // symlink_metadata: a dangling link is "existing" too, never written through.
    if target.symlink_metadata().is_ok() {
        return Err(StoreError::Other(format!(
            "{} exists already; a backup never overwrites a file",
            target.display()
        )));
    }
    let name = target
        .to_str()
        .ok_or_else(|| StoreError::Other(format!("{} is not a UTF-8 path", target.display())))?;
    let written = vacuum_into(source, name).and_then(|()| settle(target));
    match written {
        Ok(bytes) => Ok(Backup {
            path: target.to_path_buf(),
            bytes,
        }),
        Err(error) => {
            // Only this call can have created the file: it did not exist before.
            let _ = std::fs::remove_file(target);
            Err(error)
        }
    }
}

fn vacuum_into(source: &Path, target: &str) -> Result<(), StoreError> {
    // Not CREATE: a typo in the data dir must not produce an empty "backup".
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(source, flags)?;
    // The server holds the write lock only for the length of a transaction; WAL readers
    // do not wait for it, but opening may briefly (recovery after a crash).
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.execute("VACUUM INTO ?1", [target])?;
    Ok(())
}

/// Syncs the copy and its directory entry, checks it, and returns its size.
fn settle(target: &Path) -> Result<u64, StoreError> {
    let io = |what: &str, error: std::io::Error| {
        StoreError::Other(format!("cannot {what} {}: {error}", target.display()))
    };
    let file = File::open(target).map_err(|error| io("open", error))?;
    file.sync_all().map_err(|error| io("sync", error))?;
    let bytes = file
        .metadata()
        .map_err(|error| io("read the size of", error))?
        .len();
    if let Some(dir) = target.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        // Makes the new name durable too; some platforms cannot open a directory, and
        // the data itself is synced already, so a failure here is not fatal.
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    let copy = Connection::open_with_flags(target, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let verdict: String = copy.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
    if verdict != "ok" {
        return Err(StoreError::Corrupt(format!(
            "the copy fails its integrity check: {verdict}"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::backup;

    #[test]
    fn copies_a_database_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("temp dir");
        let source = dir.path().join("holdpoint.db");
        let conn = Connection::open(&source).expect("open");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("wal");
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);")
            .expect("fill");
        let target = dir.path().join("copy.db");
        let done = backup(&source, &target).expect("backup");
        assert!(done.bytes > 0);
        let copy = Connection::open(&target).expect("open copy");
        let count: i64 = copy
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .expect("count");
        assert_eq!(count, 2, "the uncheckpointed WAL is in the copy");

        let again = backup(&source, &target).expect_err("exists");
        assert!(again.to_string().contains("exists already"), "{again}");
        assert_eq!(std::fs::metadata(&target).expect("kept").len(), done.bytes);

        let missing = backup(&dir.path().join("nope.db"), &dir.path().join("x.db"));
        assert!(missing.is_err());
        assert!(
            !dir.path().join("nope.db").exists(),
            "no empty store created"
        );
    }
}
