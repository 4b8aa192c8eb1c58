//! A PostgreSQL for the tests: `HOLDPOINT_TEST_DATABASE_URL` when set, otherwise a
//! throwaway cluster started from the local binaries (as the `postgres` user when running
//! as root), shared by the tests of one test binary, each test in a database of its own.
//!
//! The cluster is started under a small shell watchdog that reads our stdin: when this
//! process exits, however it exits, the pipe closes and the watchdog stops the server and
//! removes its data folder. Without binaries or URL, tests fail under `CI=true` and are
//! skipped loudly elsewhere.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub const HINT: &str = "PostgreSQL tests need PostgreSQL: `apt-get install postgresql` (initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin), or set HOLDPOINT_TEST_DATABASE_URL to a server where the user may CREATE DATABASE";

/// Admin URL (database `postgres`) of the server the tests use, or why there is none.
static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
/// Keeps the watchdog's stdin open for the life of the test process.
static WATCHDOG: Mutex<Option<Child>> = Mutex::new(None);
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty database URL, or `None` when the tests are to be skipped.
pub async fn fresh_database() -> Option<String> {
    let admin = match SERVER.get_or_init(start_server) {
        Ok(url) => url.clone(),
        Err(why) => {
            if std::env::var("CI").is_ok_and(|value| value == "true") {
                panic!("{why}. {HINT}");
            }
            // Straight to the process's stderr: libtest captures `eprintln!`, and a skip
            // must be seen in a plain `cargo test`.
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED PostgreSQL test: {why}. {HINT} ***\n"
            );
            return None;
        }
    };
    let name = format!(
        "hp_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    );
    let client = connect_with_retry(&admin).await;
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|error| panic!("cannot create test database {name}: {error}"));
    Some(replace_database(&admin, &name))
}

async fn connect_with_retry(url: &str) -> tokio_postgres::Client {
    let mut last_error = String::new();
    for _ in 0..300 {
        match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                return client;
            }
            Err(error) => last_error = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("test PostgreSQL at {url} did not accept connections: {last_error}");
}

/// `postgres://u@h:p/postgres?x` → `postgres://u@h:p/NAME?x`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |index| index + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    format!("{host_part}/{name}{query}")
}

fn start_server() -> Result<String, String> {
    if let Ok(url) = std::env::var("HOLDPOINT_TEST_DATABASE_URL")
        && !url.trim().is_empty()
    {
        return Ok(url);
    }
    let bin = find_binaries().ok_or("no PostgreSQL binaries (initdb, postgres) found")?;
    let as_root = is_root();
    let dir = std::env::temp_dir().join(format!(
        "holdpoint-pg-{}-{}",
        std::process::id(),
        random_suffix()
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    if as_root {
        let status = Command::new("chown").arg("postgres:").arg(&dir).status();
        if !status.is_ok_and(|status| status.success()) {
            return Err("cannot chown the test cluster folder to the postgres user".into());
        }
    }
    let data = dir.join("data");
    let initdb = format!(
        "{} -D {} -U postgres -A trust -E UTF8 --no-sync >{}/initdb.log 2>&1",
        bin.join("initdb").display(),
        data.display(),
        dir.display()
    );
    let status = shell(as_root, &initdb)
        .status()
        .map_err(|error| format!("cannot run initdb as the postgres user: {error}"))?;
    if !status.success() {
        let log = std::fs::read_to_string(dir.join("initdb.log")).unwrap_or_default();
        return Err(format!(
            "initdb failed: {}",
            log.lines().last().unwrap_or("")
        ));
    }
    let port = free_port()?;
    // The watchdog: start the server, wait for our stdin to close, stop it, clean up.
    let script = format!(
        "{postgres} -D {data} -p {port} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 \
         >{dir}/server.log 2>&1 & pid=$!; cat >/dev/null; kill -INT $pid; wait $pid; rm -rf {dir}",
        postgres = bin.join("postgres").display(),
        data = data.display(),
        dir = dir.display(),
    );
    let child = shell(as_root, &script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("cannot start postgres: {error}"))?;
    if let Ok(mut slot) = WATCHDOG.lock() {
        *slot = Some(child);
    }
    Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

/// `sh -c script`, as the `postgres` user when we are root (initdb refuses to run as root).
pub fn shell(as_root: bool, script: &str) -> Command {
    if !as_root {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        return command;
    }
    // runuser is in /usr/sbin, which a restricted PATH may lack; su is the fallback.
    let runuser = [
        "/usr/sbin/runuser",
        "/sbin/runuser",
        "/usr/bin/runuser",
        "/bin/runuser",
    ]
    .into_iter()
    .find(|path| Path::new(path).exists());
    match runuser {
        Some(runuser) => {
            let mut command = Command::new(runuser);
            command.args(["-u", "postgres", "--", "sh", "-c", script]);
            command
        }
        None => {
            let mut command = Command::new("su");
            command.args(["postgres", "-s", "/bin/sh", "-c", script]);
            command
        }
    }
}

pub fn find_binaries() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").exists() && dir.join("postgres").exists();
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if initdb.exists() {
                let real = std::fs::canonicalize(&initdb).ok()?;
                let real_dir = real.parent()?.to_path_buf();
                if has_both(&real_dir) {
                    return Some(real_dir);
                }
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("bin"))
        .filter(|dir| has_both(dir))
        .collect();
    versions.sort_by_key(|dir| {
        dir.parent()
            .and_then(|version| version.file_name())
            .and_then(|name| name.to_str())
            .and_then(|name| name.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

pub fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|error| error.to_string())?;
    Ok(listener
        .local_addr()
        .map_err(|error| error.to_string())?
        .port())
}

fn random_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish()
}

pub fn is_root() -> bool {
    // `id -u` avoids a libc dependency for one call.
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .is_some_and(|uid| uid.trim() == "0")
}
