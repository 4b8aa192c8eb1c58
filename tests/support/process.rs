//! The `holdpoint` binary as an operator runs it: a command, or `serve` in the
//! background until it has printed its endpoints, stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_holdpoint");

pub fn holdpoint(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    // Keep the operator's environment from leaking into the tests.
    for (name, _) in std::env::vars() {
        if name.starts_with("HOLDPOINT_") {
            command.env_remove(name);
        }
    }
    command
}

pub fn output(command: &mut Command) -> (bool, String, String) {
    let out = command.output().expect("run holdpoint");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

pub struct Server {
    pub child: Child,
    pub base: String,
    /// What `serve` printed up to its endpoint list.
    pub banner: Vec<String>,
}

impl Server {
    /// Starts `serve` and waits until it says it is ready (after its endpoint list).
    pub fn start(extra: &[&str], data_dir: &Path) -> Server {
        Server::start_with(extra, data_dir, &[])
    }

    /// `start` with environment settings (`HOLDPOINT_QUEUE__LEASE`, …) for the server.
    pub fn start_with(extra: &[&str], data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let log = std::env::var_os("HOLDPOINT_TEST_SERVER_LOG").map(std::path::PathBuf::from);
        Server::start_logged(extra, data_dir, env, log.as_deref())
    }

    /// `start_with`, the server's log (stderr) written to `log`.
    pub fn start_logged(
        extra: &[&str],
        data_dir: &Path,
        env: &[(&str, &str)],
        log: Option<&Path>,
    ) -> Server {
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
            None => Stdio::null(),
        };
        Server::start_with_stderr(extra, data_dir, env, stderr)
    }

    /// `start_with`, the server's stderr connected to `stderr` (a pipe nobody reads, …).
    pub fn start_with_stderr(
        extra: &[&str],
        data_dir: &Path,
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["--data-dir", data_dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["serve", "--listen", &listen]);
        let mut child = holdpoint(&args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn serve");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            match lines.next() {
                Some(Ok(line)) => {
                    let ready = line.starts_with("ready;");
                    seen.push(line);
                    if ready {
                        std::thread::spawn(move || lines.for_each(drop));
                        return Server {
                            child,
                            base: format!("http://{listen}"),
                            banner: seen,
                        };
                    }
                }
                _ => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("serve did not print its endpoints: {seen:?}");
    }

    /// `kill -9`: the process gets no chance to finish anything.
    pub fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Resident memory now and at its peak (VmRSS, VmHWM), in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// SIGTERM, then waits up to 30 s for the exit; true for a clean exit.
    pub fn terminate(mut self) -> bool {
        self.stop()
    }

    fn stop(&mut self) -> bool {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status.success();
        }
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        exit_within(&mut self.child, Duration::from_secs(30)).is_some_and(|status| status.success())
    }
}

/// How `child` exits within `limit`; `None` if it was still running, and then killed.
pub fn exit_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A test that fails half-way must not leave a server running.
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
