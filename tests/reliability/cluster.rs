//! A PostgreSQL cluster of the scenario's own, with the settings production uses
//! (`fsync=on`, `synchronous_commit=on`), that the scenario may stop, crash and restart.
//! The cluster shared by the other tests runs with fsync off and cannot be restarted under
//! them. Without PostgreSQL binaries the scenario fails under `CI=true` and is skipped
//! loudly elsewhere, like every PostgreSQL test.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::pg::{HINT, find_binaries, free_port, is_root, shell};

pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    as_root: bool,
}

/// How `stop` shuts the server down (`pg_ctl -m`).
#[derive(Clone, Copy)]
pub enum StopMode {
    /// Aborts every backend without a checkpoint: a crash, recovered from the WAL on start.
    Immediate,
}

impl Cluster {
    /// A new cluster with a `holdpoint` database, or `None` when the scenario is skipped.
    pub fn start() -> Option<Cluster> {
        let Some(bin) = find_binaries() else {
            let why = "no PostgreSQL binaries (initdb, postgres) found";
            if std::env::var("CI").is_ok_and(|value| value == "true") {
                panic!("{why}. {HINT}");
            }
            let _ = writeln!(std::io::stderr(), "\n*** SKIPPED: {why}. {HINT} ***\n");
            return None;
        };
        let as_root = is_root();
        let dir = std::env::temp_dir().join(format!(
            "holdpoint-reliability-{}-{}",
            std::process::id(),
            free_port().expect("a free port")
        ));
        std::fs::create_dir_all(&dir).expect("cluster folder");
        if as_root {
            let chown = std::process::Command::new("chown")
                .arg("postgres:")
                .arg(&dir)
                .status();
            assert!(chown.is_ok_and(|s| s.success()), "chown the cluster folder");
        }
        let cluster = Cluster {
            port: free_port().expect("a free port"),
            bin,
            dir,
            as_root,
        };
        cluster.run(&format!(
            "{}/initdb -D {}/data -U postgres -A trust -E UTF8 >{}/initdb.log 2>&1",
            cluster.bin.display(),
            cluster.dir.display(),
            cluster.dir.display()
        ));
        cluster.start_server();
        cluster.run(&format!(
            "{}/psql -q -h 127.0.0.1 -p {} -U postgres -c 'CREATE DATABASE holdpoint'",
            cluster.bin.display(),
            cluster.port
        ));
        Some(cluster)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/holdpoint", self.port)
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn start_server(&self) {
        self.run(&format!(
            "{bin}/pg_ctl -D {dir}/data -l {dir}/server.log -w -t 60 start -o \
             \"-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=on \
             -c synchronous_commit=on -c max_connections=200\" >/dev/null",
            bin = self.bin.display(),
            dir = self.dir.display(),
            port = self.port
        ));
    }

    pub fn stop(&self, mode: StopMode) {
        let mode = match mode {
            StopMode::Immediate => "immediate",
        };
        self.run(&format!(
            "{}/pg_ctl -D {}/data -m {mode} -w stop >/dev/null",
            self.bin.display(),
            self.dir.display()
        ));
    }

    /// A connection for the checks, retried while the server starts.
    pub async fn client(&self) -> tokio_postgres::Client {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match tokio_postgres::connect(&self.url(), tokio_postgres::NoTls).await {
                Ok((client, connection)) => {
                    tokio::spawn(connection);
                    return client;
                }
                Err(error) if Instant::now() > deadline => {
                    panic!("the scenario's PostgreSQL does not answer: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    fn run(&self, script: &str) {
        let status = shell(self.as_root, script).status().expect("run a shell");
        assert!(
            status.success(),
            "`{script}` failed; see {}",
            self.dir.display()
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = shell(
            self.as_root,
            &format!(
                "{}/pg_ctl -D {}/data -m immediate -w stop >/dev/null 2>&1",
                self.bin.display(),
                self.dir.display()
            ),
        )
        .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
