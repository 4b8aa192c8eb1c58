//! A real headless Chromium, driven over the DevTools protocol, for the admin pages'
//! browser tests: pages opened, JavaScript evaluated, screenshots kept under
//! `target/browser-artifacts/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

const CHROMIUM_HINT: &str =
    "the browser test needs Chromium: `apt-get install chromium` (.ci/run does)";

pub fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .map(PathBuf::from)
        .find(|name| {
            std::process::Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
        });
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{CHROMIUM_HINT}");
        }
        eprintln!("\n*** SKIPPED browser test: {CHROMIUM_HINT} ***\n");
    }
    found
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One page of a headless Chromium.
pub struct Browser {
    process: std::process::Child,
    socket: Socket,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn launch(binary: PathBuf) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let process = std::process::Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start chromium");
        // Chromium writes the port it chose into the profile.
        let port_file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|text| text.lines().next().map(str::to_string))
                .filter(|line| !line.is_empty())
            {
                break port;
            }
            assert!(
                Instant::now() < deadline,
                "chromium did not open its DevTools port"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let targets: Value = reqwest::get(format!("http://127.0.0.1:{port}/json/list"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let url = targets
            .as_array()
            .and_then(|all| all.iter().find(|t| t["type"] == "page"))
            .and_then(|page| page["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_string();
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("devtools socket");
        Browser {
            process,
            socket,
            next_id: 0,
            _profile: profile,
        }
    }

    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket
            .send(message.into())
            .await
            .expect("send to chromium");
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .expect("chromium answers")
                .expect("socket open")
                .expect("a frame");
            let Ok(text) = frame.into_text() else {
                continue;
            };
            let reply: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    pub async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await;
        result["result"]["value"].clone()
    }

    /// Waits until `condition` (JavaScript) is true in a fully loaded page.
    pub async fn wait_for(&mut self, condition: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let expression = format!("document.readyState === 'complete' && !!({condition})");
        while self.eval(&expression).await != json!(true) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {condition}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn open(&mut self, url: &str, path: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
        self.wait_for(&format!("location.pathname === '{path}'"))
            .await;
    }

    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        use base64::Engine as _;
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("image data"))
            .unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, &png).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Browser {
    /// Opens `path` (an admin page), signs in on the form it is sent to, typing like a
    /// person would, and opens `path` again (signing in lands on the waits page).
    pub async fn sign_in_at(&mut self, base: &str, path: &str, user: &str, password: &str) {
        self.open(&format!("{base}{path}"), "/admin/login").await;
        let script = format!(
            "document.querySelector('#user').value = {}; \
             document.querySelector('#password').value = {}; \
             document.querySelector('#signin').click(); true",
            json!(user),
            json!(password)
        );
        self.eval(&script).await;
        self.wait_for("location.pathname === '/admin/waits'").await;
        self.open(&format!("{base}{path}"), path).await;
    }
}
