//! The `holdpoint` binary as an operator runs it.

mod support;

use support::process::{Server, exit_within, holdpoint, output};

#[test]
fn check_accepts_the_example_workflows() {
    let (ok, stdout, stderr) = output(&mut holdpoint(&["check", "workflows"]));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("order-fulfilment") && stdout.contains("4 workflow(s) valid"),
        "{stdout}"
    );
}

#[test]
fn check_names_file_step_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.toml"),
        "id = \"11111111-1111-4111-8111-111111111111\"\nname = \"b\"\n[[steps]]\nid = \"wait\"\nkind = \"wait_event\"\nevent = \"x\"\ndeadline = \"soon\"\n",
    )
    .unwrap();
    let (ok, _, stderr) = output(&mut holdpoint(&["check", dir.path().to_str().unwrap()]));
    assert!(!ok);
    assert!(
        stderr.contains("broken.toml: step `wait`: field `deadline`: invalid duration `soon`"),
        "{stderr}"
    );
}

#[test]
fn check_says_callback_urls_need_a_public_url() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("partner.toml"),
        "id = \"11111111-1111-4111-8111-111111111112\"\nname = \"partner\"\n[[steps]]\nid = \"wait\"\nkind = \"server_event\"\ncallback_url = true\ndeadline = \"1h\"\n",
    )
    .unwrap();
    let folder = dir.path().to_str().unwrap();
    let (ok, _, stderr) = output(&mut holdpoint(&["check", folder]));
    assert!(!ok);
    assert!(
        stderr.contains("step `wait` sets callback_url, which needs [http] public_url"),
        "{stderr}"
    );
    let (ok, stdout, stderr) = output(
        holdpoint(&["check", folder]).env("HOLDPOINT_HTTP__PUBLIC_URL", "https://hp.example.com"),
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("1 workflow(s) valid"), "{stdout}");
}

#[test]
fn check_refuses_bad_list_webhook_triggers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hooked.toml"),
        "id = \"11111111-1111-4111-8111-111111111112\"\nname = \"h\"\n[[triggers]]\nsharepoint_webhook = { resource = \"Orders\", client_state = \"s\" }\n[[triggers]]\nsharepoint_webhook = { client_state = \"\" }\n[[steps]]\nid = \"done\"\nkind = \"end\"\n",
    )
    .unwrap();
    let (ok, _, stderr) = output(&mut holdpoint(&["check", dir.path().to_str().unwrap()]));
    assert!(!ok);
    assert!(
        stderr.contains("hooked.toml: trigger 1: field `sharepoint_webhook.resource`")
            && stderr.contains(
                "hooked.toml: trigger 2: field `sharepoint_webhook.client_state`: must not be empty"
            ),
        "{stderr}"
    );
}

#[test]
fn unknown_configuration_keys_are_named() {
    let (ok, _, stderr) =
        output(holdpoint(&["check", "workflows"]).env("HOLDPOINT_TIMERS__POLL_INTERVALL", "1s"));
    assert!(!ok);
    assert!(
        stderr.contains("HOLDPOINT_TIMERS__POLL_INTERVALL") && stderr.contains("poll_intervall"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("holdpoint.toml");
    std::fs::write(&file, "[store]\nurll = \"postgres://x\"\n").unwrap();
    let (ok, _, stderr) = output(&mut holdpoint(&[
        "--config",
        file.to_str().unwrap(),
        "check",
        "workflows",
    ]));
    assert!(!ok);
    assert!(
        stderr.contains("unknown field `urll`") && stderr.contains("line 2"),
        "{stderr}"
    );
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("http get");
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

#[tokio::test]
async fn serve_on_the_embedded_store_then_stop_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&[], data.path());
    assert_eq!(get(&format!("{}/healthz", server.base)).await.0, 200);
    assert_eq!(
        get(&format!("{}/readyz", server.base)).await,
        (200, "{\"status\":\"ready\"}".into())
    );
    assert!(
        data.path().join("holdpoint.db").exists(),
        "the embedded store lives in the data dir"
    );
    // The CLI reads the same database while the server runs.
    let (ok, stdout, stderr) = output(&mut holdpoint(&[
        "--data-dir",
        data.path().to_str().unwrap(),
        "waits",
    ]));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("0 wait(s)"), "{stdout}");
    assert!(server.terminate(), "clean exit after SIGTERM");
}

#[tokio::test]
async fn serve_and_migrate_on_postgresql() {
    let Some(url) = support::pg::fresh_database().await else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = output(&mut holdpoint(&["--database-url", &url, "migrate"]));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("migrations applied (PostgreSQL)"),
        "{stdout}"
    );
    let server = Server::start(&["--database-url", &url], data.path());
    assert_eq!(get(&format!("{}/readyz", server.base)).await.0, 200);
    assert!(
        !data.path().join("holdpoint.db").exists(),
        "no embedded store when PostgreSQL is configured"
    );
    let (ok, stdout, _) = output(&mut holdpoint(&[
        "--database-url",
        &url,
        "waits",
        "--state",
        "all",
    ]));
    assert!(ok && stdout.contains("wait(s)"), "{stdout}");
    assert!(server.terminate());
}

/// Only `serve` starts HTTP workers, so only it counts their connections against the
/// server's `max_connections` (300 on the tests' PostgreSQL, 3 reserved): the same
/// configuration migrates, and does not serve.
#[tokio::test]
async fn serve_refuses_more_sessions_than_postgresql_accepts_and_migrate_does_not() {
    let Some(url) = support::pg::fresh_database().await else {
        return;
    };
    // 16 of the pool, 1 to listen, 200 workers × 2 of their own.
    let with_workers = |args: &[&str]| {
        let mut command = holdpoint(args);
        command.env("HOLDPOINT_HTTP__WORKERS", "200");
        command
    };
    let (ok, _, stderr) = output(&mut with_workers(&["--database-url", &url, "migrate"]));
    assert!(ok, "{stderr}");
    let mut serve = with_workers(&["--database-url", &url, "serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start holdpoint serve");
    let status = exit_within(&mut serve, std::time::Duration::from_secs(30))
        .expect("serve started although it may open 417 sessions");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut serve.stderr.take().expect("stderr"), &mut stderr)
        .expect("read stderr");
    assert!(!status.success());
    assert!(
        stderr.contains("this node may open 417 PostgreSQL sessions"),
        "{stderr}"
    );
}

/// The README walk-through: first start prints the admin password once; an account is
/// added with the CLI; an example workflow is started over the API, its wait listed,
/// its server item finished through the K2 route and its custom event sent with the CLI.
#[tokio::test]
async fn readme_walkthrough_on_the_embedded_store() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let server = Server::start(&[], data.path());
    let password = server
        .banner
        .iter()
        .find_map(|line| line.strip_prefix("created account `admin` with password "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("admin password printed: {:?}", server.banner))
        .to_string();

    let (ok, stdout, stderr) = output(&mut holdpoint(&[
        "--data-dir",
        data_dir,
        "accounts",
        "add",
        "erp",
        "--password",
        "erp-secret",
    ]));
    assert!(
        ok && stdout.contains("added account `erp`"),
        "{stdout}{stderr}"
    );
    let (ok, stdout, _) = output(&mut holdpoint(&[
        "--data-dir",
        data_dir,
        "accounts",
        "list",
    ]));
    assert!(
        ok && stdout.contains("erp") && stdout.contains("2 account(s)"),
        "{stdout}"
    );
    let (ok, _, stderr) = output(&mut holdpoint(&[
        "--data-dir",
        data_dir,
        "accounts",
        "add",
        "erp",
        "--password",
        "x",
    ]));
    assert!(
        !ok && stderr.contains("account `erp` exists already"),
        "{stderr}"
    );

    let client = reqwest::Client::new();
    let started: serde_json::Value = client
        .post(format!(
            "{}/api/v1/workflows/order-fulfilment/instances",
            server.base
        ))
        .basic_auth("erp", Some("erp-secret"))
        .json(&serde_json::json!({"fields": {"order_id": "4711", "amount": 250}}))
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    let id = started["instance"]["id"].as_i64().expect("started");
    let serial = started["instance"]["waits"][0]["serial"]
        .as_str()
        .expect("serial")
        .to_string();

    let (ok, stdout, _) = output(&mut holdpoint(&["--data-dir", data_dir, "waits"]));
    assert!(
        ok && stdout.contains(&serial) && stdout.contains("1 wait(s)"),
        "{stdout}"
    );

    let finished = client
        .post(format!(
            "{}/api/workflow/v1/serverEvents/{serial}/finish",
            server.base
        ))
        .basic_auth("erp", Some("erp-secret"))
        .json(&serde_json::json!({"dataFields": {"approved": true}}))
        .send()
        .await
        .expect("finish");
    assert_eq!(finished.status(), 204);
    let (ok, _, stderr) = output(&mut holdpoint(&[
        "finish",
        "--url",
        &server.base,
        "-u",
        "erp",
        "-p",
        "erp-secret",
        &serial,
    ]));
    assert!(!ok && stderr.contains("409 item_not_open"), "{stderr}");

    let (ok, stdout, stderr) = output(&mut holdpoint(&[
        "send-event",
        "--url",
        &server.base,
        "-u",
        "erp",
        "-p",
        "erp-secret",
        "shipped-4711",
    ]));
    assert!(
        !ok && stderr.contains("403 forbidden"),
        "erp may not send events: {stdout}{stderr}"
    );
    let (ok, stdout, stderr) = output(&mut holdpoint(&[
        "send-event",
        "--url",
        &server.base,
        "-u",
        "admin",
        "-p",
        &password,
        "shipped-4711",
        "carrier=DHL",
    ]));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!("woke instance(s) {id}")),
        "{stdout}"
    );

    let instance: serde_json::Value = client
        .get(format!("{}/api/v1/instances/{id}", server.base))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(instance["status"], "completed");
    assert_eq!(instance["fields"]["note"], "shipped by DHL");

    let (ok, stdout, _) = output(&mut holdpoint(&[
        "--data-dir",
        data_dir,
        "accounts",
        "passwd",
        "erp",
    ]));
    let new_password = stdout
        .lines()
        .find_map(|line| line.strip_prefix("password: "))
        .unwrap_or_else(|| panic!("generated password printed: {stdout}"))
        .to_string();
    assert!(ok);
    let (ok, _, _) = output(&mut holdpoint(&[
        "--data-dir",
        data_dir,
        "accounts",
        "remove",
        "erp",
    ]));
    assert!(ok);
    let (ok, _, stderr) = output(&mut holdpoint(&[
        "--data-dir",
        data_dir,
        "accounts",
        "remove",
        "erp",
    ]));
    assert!(!ok && stderr.contains("no account named `erp`"), "{stderr}");
    assert!(!new_password.is_empty());
    assert!(server.terminate(), "clean exit after SIGTERM");

    // A second start finds the admin and prints no password.
    let again = Server::start(&[], data.path());
    assert!(
        !again
            .banner
            .iter()
            .any(|line| line.contains("with password")),
        "{:?}",
        again.banner
    );
    assert_eq!(get(&format!("{}/healthz", again.base)).await.0, 200);
    assert!(again.terminate());
}

/// The SharePoint receiver on a fresh install: `serve` prints the URL to register, with
/// the installation's key; `sharepoint url` prints the same; an event without the key is
/// refused and one with it accepted; `sharepoint rotate-key` (on the store, the server
/// running) turns the old URL away within the cache time and the new one works.
#[tokio::test]
async fn serve_prints_the_sharepoint_url_with_its_key_and_rotation_replaces_it() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let server = Server::start(&[], data.path());
    let printed = server
        .banner
        .iter()
        .find_map(|line| {
            line.split_whitespace()
                .find(|word| word.contains("/sharepoint/RemoteEventService.svc?key="))
        })
        .unwrap_or_else(|| panic!("no receiver URL with a key: {:?}", server.banner))
        .to_string();
    assert!(printed.starts_with(&server.base), "{printed}");
    let (ok, stdout, stderr) = output(&mut holdpoint(&[
        "--data-dir",
        data_dir,
        "sharepoint",
        "url",
        "--base",
        "https://rer.contoso.com/",
    ]));
    assert!(ok, "{stderr}");
    let key = printed.split_once("?key=").unwrap().1;
    assert_eq!(
        stdout.trim(),
        format!("https://rer.contoso.com/sharepoint/RemoteEventService.svc?key={key}")
    );

    let one_way = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/sharepoint/processevent-itemadding.xml"),
    )
    .unwrap()
    .replace("<ProcessEvent ", "<ProcessOneWayEvent ")
    .replace("</ProcessEvent>", "</ProcessOneWayEvent>");
    let http = reqwest::Client::new();
    let send = |url: String| {
        http.post(url)
            .header("content-type", "text/xml; charset=utf-8")
            .header("SOAPAction", "")
            .body(one_way.clone())
            .send()
    };
    let forged = send(format!("{}/sharepoint/RemoteEventService.svc", server.base))
        .await
        .unwrap();
    assert_eq!(forged.status(), 500);
    assert!(forged.text().await.unwrap().contains("unauthenticated"));
    assert_eq!(send(printed.clone()).await.unwrap().status(), 202);

    let (ok, stdout, stderr) = output(&mut holdpoint(&[
        "--data-dir",
        data_dir,
        "sharepoint",
        "rotate-key",
    ]));
    assert!(ok, "{stderr}");
    // It prints the URL at the configured listen address; this server runs on another.
    let new_key = stdout
        .split_whitespace()
        .find_map(|word| word.split_once("/sharepoint/RemoteEventService.svc?key="))
        .unwrap_or_else(|| panic!("no new URL: {stdout}"))
        .1;
    let rotated = format!(
        "{}/sharepoint/RemoteEventService.svc?key={new_key}",
        server.base
    );
    assert_ne!(rotated, printed);
    // Nodes re-read the key at most 5 s after they last did.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while send(printed.clone()).await.unwrap().status() != 500 {
        assert!(
            std::time::Instant::now() < deadline,
            "the old key still works"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(send(rotated).await.unwrap().status(), 202);
    assert!(server.terminate());
}
