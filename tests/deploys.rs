//! Deploys as an operator does them, against a real `holdpoint serve`: a step renamed in
//! the file, `SIGHUP`, the old serial finished over K2 REST; `holdpoint deploy` with an
//! invalid folder (refused, the node keeps serving); then, with the node stopped,
//! `holdpoint check` reporting the stranded instance and `holdpoint instances migrate`
//! moving it, dry run first.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::process::{Server, holdpoint, output};
use support::workflows::{ORDER_V1, ORDER_V2};

fn write_workflow(dir: &Path, source: &str) {
    std::fs::write(dir.join("order-fulfilment.toml"), source).expect("write workflow");
}

fn admin_password(server: &Server) -> String {
    server
        .banner
        .iter()
        .find_map(|line| line.strip_prefix("created account `admin` with password "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("admin password printed: {:?}", server.banner))
        .to_string()
}

struct Node {
    base: String,
    password: String,
    client: reqwest::Client,
}

impl Node {
    async fn start_instance(&self, order: &str) -> Value {
        let answer: Value = self
            .client
            .post(format!(
                "{}/api/v1/workflows/order-fulfilment/instances",
                self.base
            ))
            .basic_auth("admin", Some(&self.password))
            .json(&json!({"fields": {"order_id": order}}))
            .send()
            .await
            .expect("start")
            .json()
            .await
            .expect("json");
        answer["instance"].clone()
    }

    async fn instance(&self, id: i64) -> Value {
        self.client
            .get(format!("{}/api/v1/instances/{id}", self.base))
            .basic_auth("admin", Some(&self.password))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    }

    async fn current_version(&self) -> String {
        let detail: Value = self
            .client
            .get(format!("{}/api/v1/workflows/order-fulfilment", self.base))
            .basic_auth("admin", Some(&self.password))
            .send()
            .await
            .expect("workflow")
            .json()
            .await
            .expect("json");
        detail["hash"].as_str().unwrap_or_default().to_string()
    }

    async fn k2_finish(&self, serial: &str) -> u16 {
        self.client
            .post(format!(
                "{}/api/workflow/v1/serverEvents/{serial}/finish",
                self.base
            ))
            .basic_auth("admin", Some(&self.password))
            .json(&json!({"dataFields": {}}))
            .send()
            .await
            .expect("finish")
            .status()
            .as_u16()
    }
}

fn serial(instance: &Value) -> String {
    instance["waits"][0]["serial"]
        .as_str()
        .expect("serial")
        .to_string()
}

#[tokio::test]
async fn sighup_deploy_check_and_migrate_on_a_real_node() {
    let data = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let folder_dir = folder.path().to_str().unwrap();
    write_workflow(folder.path(), ORDER_V1);
    let server = Server::start(&["--workflows", folder_dir], data.path());
    let node = Node {
        base: server.base.clone(),
        password: admin_password(&server),
        client: reqwest::Client::new(),
    };
    let v1 = node.current_version().await;
    let waiting = node.start_instance("S1").await;
    assert_eq!(waiting["version"], json!(v1));

    // The step is renamed in the file; SIGHUP makes it current without a restart.
    write_workflow(folder.path(), ORDER_V2);
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while node.current_version().await == v1 {
        assert!(Instant::now() < deadline, "SIGHUP did not deploy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let v2 = node.current_version().await;
    // The ERP finishes the old serial: the instance completes on its own version.
    assert_eq!(node.k2_finish(&serial(&waiting)).await, 204);
    let done = node.instance(waiting["id"].as_i64().unwrap()).await;
    assert_eq!(done["status"], json!("completed"), "{done}");
    assert_eq!(done["fields"]["path"], json!("v1"), "{done}");
    let stranded = node.start_instance("S2").await;
    assert_eq!(stranded["version"], json!(v2));
    assert_eq!(stranded["waits"][0]["step"], json!("place-order-v2"));

    // An invalid folder: refused with file, step and field; the node keeps serving.
    write_workflow(
        folder.path(),
        &ORDER_V2.replace("on_timeout = \"late-v2\"", "on_timeout = \"nowhere\""),
    );
    let (ok, _, stderr) = output(&mut holdpoint(&[
        "deploy",
        "--url",
        &node.base,
        "-u",
        "admin",
        "-p",
        &node.password,
    ]));
    assert!(!ok, "an invalid deploy fails");
    assert!(
        stderr.contains("order-fulfilment.toml: step `place-order-v2`: field `on_timeout`"),
        "{stderr}"
    );
    assert_eq!(node.current_version().await, v2, "nothing changed");
    let (ok, _, stderr) = output(&mut holdpoint(&[
        "deploy", "--url", &node.base, "-u", "admin", "-p", "wrong",
    ]));
    assert!(!ok && stderr.contains("401"), "{stderr}");
    let more = node.start_instance("S3").await;
    assert_eq!(more["version"], json!(v2), "still serving");

    // Deploys and migrations are for admins.
    let (ok, _, _) = output(&mut holdpoint(&[
        "--data-dir",
        data_dir,
        "accounts",
        "add",
        "erp",
        "--password",
        "erp-secret",
    ]));
    assert!(ok);
    let (ok, _, stderr) = output(&mut holdpoint(&[
        "deploy",
        "--url",
        &node.base,
        "-u",
        "erp",
        "-p",
        "erp-secret",
    ]));
    assert!(!ok && stderr.contains("403 forbidden"), "{stderr}");
    let migrate_url = format!("{}/api/v1/workflows/order-fulfilment/migrate", node.base);
    let refused = node
        .client
        .post(&migrate_url)
        .basic_auth("erp", Some("erp-secret"))
        .json(&json!({"to": "current", "dry_run": true}))
        .send()
        .await
        .expect("migrate");
    assert_eq!(refused.status().as_u16(), 403);
    // An admin's dry run over the API: both v2 instances stay where they are.
    let plan: Value = node
        .client
        .post(&migrate_url)
        .basic_auth("admin", Some(&node.password))
        .json(&json!({"to": v1, "map": {"place-order-v2": "place-order"}, "dry_run": true}))
        .send()
        .await
        .expect("migrate")
        .json()
        .await
        .expect("json");
    assert_eq!(plan["dry_run"], json!(true), "{plan}");
    assert_eq!(
        plan["instances"].as_array().map(Vec::len),
        Some(2),
        "{plan}"
    );
    assert_eq!(
        plan["instances"][0]["fields_added"],
        json!(["legacy_note"]),
        "{plan}"
    );

    // A valid deploy through the CLI reports the instances on the older version.
    let v3_source = ORDER_V2
        .replace("place-order-v2", "place-order-v3")
        .replace("path = \"v2\"", "path = \"v3\"");
    write_workflow(folder.path(), &v3_source);
    let (ok, stdout, stderr) = output(&mut holdpoint(&[
        "check",
        "--workflows",
        folder_dir,
        "--data-dir",
        data_dir,
    ]));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("2 instance(s) wait at step `place-order-v2`"),
        "check reports the stranded instances: {stdout}"
    );
    assert!(server.terminate(), "clean stop");

    // Nodes stopped: migrate, dry run first.
    let migrate = |extra: &[&str]| {
        let mut args = vec![
            "--data-dir",
            data_dir,
            "--workflows",
            folder_dir,
            "instances",
            "migrate",
            "--workflow",
            "order-fulfilment",
            "--to",
            "current",
        ];
        args.extend_from_slice(extra);
        output(&mut holdpoint(&args))
    };
    let (ok, stdout, stderr) = migrate(&["--map", "place-order-v2=done", "--dry-run"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("REFUSED"),
        "an end step is no server item: {stdout}"
    );
    let (ok, stdout, stderr) = migrate(&["--map", "place-order-v2=place-order-v3", "--dry-run"]);
    assert!(
        ok && stdout.contains("would move") && stdout.contains("0 refused"),
        "{stdout}{stderr}"
    );
    let (ok, stdout, stderr) = migrate(&["--map", "place-order-v2=done"]);
    assert!(
        !ok && stdout.contains("REFUSED") && stderr.contains("nothing changed"),
        "{stdout}{stderr}"
    );
    let (ok, stdout, stderr) = migrate(&["--map", "place-order-v2=place-order-v3"]);
    assert!(ok && stdout.contains("moved"), "{stdout}{stderr}");

    let server = Server::start(&["--workflows", folder_dir], data.path());
    let node = Node {
        base: server.base.clone(),
        ..node
    };
    for instance in [&stranded, &more] {
        assert_eq!(
            node.k2_finish(&serial(instance)).await,
            204,
            "old serial still works"
        );
        let done = node.instance(instance["id"].as_i64().unwrap()).await;
        assert_eq!(done["fields"]["path"], json!("v3"), "{done}");
        assert_eq!(done["status"], json!("completed"));
    }
    assert!(server.terminate());
}
