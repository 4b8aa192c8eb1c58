//! Interoperability: Python's zeep, a third-party SOAP client, builds its client from our
//! WSDL and calls the ServerItemService over SOAP 1.1 and 1.2; and builds a vCO 4.1 client
//! from the real vCO WSDL (in `../shared`) that drives the Orchestrator service
//! (tests/interop/*.py).
//!
//! The Python comes from `HOLDPOINT_TEST_PYTHON`, else `target/interop-venv/bin/python`
//! (what `.ci/run` creates). Without zeep the test fails under `CI=true` and is skipped
//! loudly elsewhere.

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use support::api::api_server;

const HINT: &str = "the SOAP interop test needs Python with zeep: `python3 -m venv target/interop-venv && target/interop-venv/bin/pip install zeep`, or set HOLDPOINT_TEST_PYTHON";

fn python_with_zeep() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("HOLDPOINT_TEST_PYTHON").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/interop-venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|python| {
        Command::new(python)
            .args(["-c", "import zeep"])
            .output()
            .is_ok_and(|out| out.status.success())
    })
}

/// Python with zeep, or `None` after saying why (a failure under `CI=true`).
fn python_or_skip() -> Option<PathBuf> {
    let python = python_with_zeep();
    if python.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{HINT}");
        }
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED zeep interop test: {HINT} ***\n"
        );
    }
    python
}

/// Runs an interop script; fails with its output unless it ends with the success line.
async fn run_script(python: PathBuf, script: &str, args: Vec<String>) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args(args)
            .output()
            .expect("run the zeep client")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "zeep client failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all zeep checks passed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vco_41_client_runs_a_workflow_and_wakes_it_with_send_custom_event() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let Some(wsdl) =
        support::shared_file("reference/orchestrator/vco41_vmo.wsdl.original-8fe4016.xml")
    else {
        return;
    };
    let server = support::api::api_server_with(
        support::sqlite_store().await,
        &[support::workflows::VRO_PROVISION],
        4 << 20,
    )
    .await;
    let args = [
        server.base.as_str(),
        wsdl.to_str().expect("a UTF-8 path"),
        "88888888-8888-4888-8888-888888888888",
        "erp",
        "erp-pw",
        "sender",
        "sender-pw",
    ];
    run_script(
        python,
        "zeep_orchestrator.py",
        args.iter().map(|a| a.to_string()).collect(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zeep_calls_the_server_item_service_over_soap_11_and_12() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let server = api_server(support::sqlite_store().await).await;
    let mut serials = Vec::new();
    for _ in 0..3 {
        serials.push(support::api::start_permitted(&server, "Z-1").await);
    }
    let args = [
        server.base.clone(),
        "erp".into(),
        "erp-pw".into(),
        serials[0].clone(),
        serials[1].clone(),
        serials[2].clone(),
    ];
    run_script(python, "zeep_server_items.py", args.to_vec()).await;
}
