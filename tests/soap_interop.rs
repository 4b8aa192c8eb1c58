//! Interoperability: Python's zeep, a third-party SOAP client, builds its client from our
//! WSDL and calls the ServerItemService over SOAP 1.1 and 1.2 (tests/interop/*.py).
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zeep_calls_the_server_item_service_over_soap_11_and_12() {
    let Some(python) = python_with_zeep() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{HINT}");
        }
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED zeep interop test: {HINT} ***\n"
        );
        return;
    };
    let server = api_server(support::sqlite_store().await).await;
    let mut serials = Vec::new();
    for _ in 0..3 {
        serials.push(support::api::start_permitted(&server, "Z-1").await);
    }
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/zeep_server_items.py");
    let base = server.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([
                &base,
                "erp",
                "erp-pw",
                &serials[0],
                &serials[1],
                &serials[2],
            ])
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
