//! Interoperability with WCF: C# clients written against `System.ServiceModel` (as Mono
//! ships it; tests/wcf/*.cs) call a real Holdpoint server:
//!
//! - SharePoint's own contract (`IRemoteEventService`, `BasicHttpBinding`) against the
//!   remote event receiver: a `CancelWithError` verdict, typed `ChangedItemProperties`, a
//!   one-way event that is queued and starts an instance;
//! - a `CustomBinding` (text encoding + HTTP transport, Basic) against `ServerItemService`
//!   over SOAP 1.1, SOAP 1.2 and SOAP 1.2 with WS-Addressing 1.0: open, finish, and an
//!   unknown serial's fault as a `FaultException` with its code and reason;
//! - `[soap] sender_fault_status`: Mono's WCF reads a SOAP 1.2 Sender fault only on HTTP
//!   500; on 400 (the default) it raises a bare `WebException`.
//!
//! The C# is compiled once per source version with `mcs` into the test target's temporary
//! folder (`CARGO_TARGET_TMPDIR`), so a run compiles at most once and reruns not at all.
//! Without Mono (`apt-get install mono-complete`, which `.ci/run` does) the tests fail
//! under `CI=true` and are skipped loudly elsewhere.
//!
//! A generated client too: Mono's `wsdl` tool builds an ASMX proxy from the served WSDL,
//! which must keep the name of a null data field (tests/wcf/asmx/).

mod support;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use holdpoint::error::SenderFaultStatus;
use serde_json::json;
use support::api::{ApiServer, api_server, api_server_tuned, api_server_with, start_permitted};
use support::workflows::SP_GUARD;

const HINT: &str =
    "the WCF interop tests need Mono's `mcs` and `mono`: `apt-get install mono-complete`";

/// Records an order from an ItemAdded event (a one-way event, through the inbound queue).
const RECORDER: &str = r#"
id = "99999999-9999-4999-8999-999999999992"
name = "wcf-recorder"
[fields]
title = { type = "string" }
amount = { type = "number" }
[[triggers]]
sharepoint = { list = "Orders", events = ["ItemAdded"] }
action = "start"
[[steps]]
id = "record"
kind = "set"
fields = { title = "{{ event.after.Title }}", amount = "{{ event.after.Amount }}" }
[[steps]]
id = "done"
kind = "end"
"#;

fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// The compiled clients, or `None` after saying why Mono is missing (a failure under
/// `CI=true`). A compile error fails the test.
fn clients_or_skip() -> Option<PathBuf> {
    if !(runs("mcs") && runs("mono")) {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{HINT}");
        }
        // Straight to stderr, as tests/soap_interop.rs does: `eprintln!` is captured by
        // the test harness and a skip would pass unseen.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED WCF interop test: {HINT} ***\n"
        );
        return None;
    }
    static COMPILED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match COMPILED.get_or_init(compile) {
        Ok(exe) => Some(exe.clone()),
        Err(why) => panic!("{why}"),
    }
}

/// Compiles tests/wcf/*.cs once per source version: every test of this run, and later
/// runs with the same sources, reuse the executable.
fn compile() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wcf");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "cs"))
        .collect();
    sources.sort();
    let mut hasher = DefaultHasher::new();
    for source in &sources {
        std::fs::read(source)
            .map_err(|e| format!("{}: {e}", source.display()))?
            .hash(&mut hasher);
    }
    let out_dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wcf-{:016x}", hasher.finish()));
    let exe = out_dir.join("holdpoint-wcf.exe");
    if exe.exists() {
        return Ok(exe);
    }
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    // Written under another name and renamed, so a half-written file is never taken.
    let partial = out_dir.join(format!("partial-{}.exe", std::process::id()));
    let output = Command::new("mcs")
        .args([
            "-nologo",
            "-warnaserror+",
            "-r:System.ServiceModel.dll",
            "-r:System.Runtime.Serialization.dll",
        ])
        .arg(format!("-out:{}", partial.display()))
        .args(&sources)
        .output()
        .map_err(|e| format!("mcs: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "mcs failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    std::fs::rename(&partial, &exe).map_err(|e| format!("{}: {e}", exe.display()))?;
    Ok(exe)
}

/// Runs one mode of the clients; fails with their output unless they report success.
async fn run_client(exe: PathBuf, args: Vec<String>) -> String {
    let output = tokio::task::spawn_blocking(move || {
        Command::new("mono")
            .arg(&exe)
            .args(&args)
            .output()
            .expect("run mono")
    })
    .await
    .expect("the client's thread");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all wcf checks passed"),
        "WCF client failed:\n{stdout}\n{stderr}"
    );
    eprintln!("{stdout}");
    stdout
}

/// A server whose SOAP 1.2 Sender faults have `status`.
async fn server_with_sender_faults(status: SenderFaultStatus) -> ApiServer {
    api_server_tuned(
        support::sqlite_store().await,
        &[],
        support::api::TEST_MAX_BODY,
        None,
        support::test_config(),
        |state| state.edge.sender_fault_status = status,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharepoints_contract_gets_cancel_with_error_and_queues_one_way_events() {
    let Some(exe) = clients_or_skip() else {
        return;
    };
    let server = api_server_with(
        support::sqlite_store().await,
        &[SP_GUARD, RECORDER],
        4 << 20,
    )
    .await;
    let receiver = format!(
        "{}/sharepoint/RemoteEventService.svc{}",
        server.base,
        server.sharepoint_query().await
    );
    run_client(exe, vec!["sharepoint".into(), receiver]).await;

    // The one-way event was queued (and only after the commit was WCF's call answered);
    // delivering it starts the recorder with what the WCF client sent.
    let queued = server.get("root", "/api/v1/inbound-events").await;
    assert_eq!(
        queued.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        queued.body
    );
    assert_eq!(queued.body[0]["state"], json!("queued"), "{}", queued.body);
    assert_eq!(queued.body[0]["kind"], json!("sharepoint"));
    assert_eq!(
        server.te.engine.run_inbound_once().await.expect("deliver"),
        1
    );
    let done = &server.get("root", "/api/v1/inbound-events").await.body[0];
    assert_eq!(done["state"], json!("done"), "{done}");
    let id = done["instance_id"].as_i64().expect("the started instance");
    let instance = server.get("root", &format!("/api/v1/instances/{id}")).await;
    assert_eq!(
        instance.body["workflow_id"],
        json!("99999999-9999-4999-8999-999999999992"),
        "{}",
        instance.body
    );
    assert_eq!(instance.body["status"], json!("completed"));
    assert_eq!(instance.body["fields"]["title"], json!("Order 4711"));
    assert_eq!(instance.body["fields"]["amount"], json!(1250.5));
}

/// SOAP 1.1 (Sender faults are 500 anyway) and SOAP 1.2 without addressing, with Sender
/// faults on 500 so that Mono's WCF reads them (see the last test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_binding_opens_and_finishes_server_items_over_soap_11_and_12() {
    let Some(exe) = clients_or_skip() else {
        return;
    };
    let server = server_with_sender_faults(SenderFaultStatus::InternalServerError).await;
    for version in ["soap11", "soap12"] {
        let serial = start_permitted(&server, "W-1").await;
        let args = [
            "server-items",
            &server.base,
            version,
            "erp",
            "erp-pw",
            &serial,
        ];
        run_client(exe.clone(), args.iter().map(|a| a.to_string()).collect()).await;
    }
}

/// `MessageVersion.Soap12WSAddressing10`: wsa:Action and wsa:To come with mustUnderstand,
/// and the client needs wsa:Action and a wsa:RelatesTo naming its MessageID in every
/// answer, faults included (src/soap/addressing.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ws_addressing_custom_binding_opens_and_finishes_server_items() {
    let Some(exe) = clients_or_skip() else {
        return;
    };
    let server = server_with_sender_faults(SenderFaultStatus::InternalServerError).await;
    let serial = start_permitted(&server, "W-1").await;
    let args = [
        "server-items",
        &server.base,
        "soap12wsa",
        "erp",
        "erp-pw",
        &serial,
    ];
    run_client(exe, args.iter().map(|a| a.to_string()).collect()).await;
}

/// With the default (400, as the SOAP 1.2 HTTP binding says) Mono's WCF reports an unknown
/// serial as a bare `WebException` ("Status code 400(BadRequest): Bad Request"), without
/// code or reason; with `sender_fault_status = 500` as a `FaultException` with both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mono_reads_soap_12_sender_faults_only_on_500() {
    let Some(exe) = clients_or_skip() else {
        return;
    };
    for (status, expect) in [
        (SenderFaultStatus::BadRequest, "bare"),
        (SenderFaultStatus::InternalServerError, "fault"),
    ] {
        let server = server_with_sender_faults(status).await;
        let args = ["sender-fault", &server.base, "erp", "erp-pw", expect];
        run_client(exe.clone(), args.iter().map(|a| a.to_string()).collect()).await;
    }
}

/// The C# contract names every member SharePoint Online sent in the captured ItemAdded
/// event (`../shared/reference/sharepoint`), in the same namespace: the WCF client writes
/// what SharePoint writes. Needs no Mono.
#[test]
fn the_csharp_contract_has_the_members_of_the_sharepoint_capture() {
    let Some(capture) = support::shared_file(
        "reference/sharepoint/itemadded_online_entra_sitesselected_no_contexttoken_spdevdocs.xml",
    ) else {
        return;
    };
    let text = std::fs::read_to_string(capture).expect("the capture");
    let envelope = holdpoint::soap::read_envelope(&text, &holdpoint::soap::Limits::default())
        .expect("the capture is an envelope");
    let contract = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wcf/SharePointContract.cs"),
    )
    .expect("the C# contract");
    assert!(contract.contains(&format!(
        "public const string RemoteApp = \"{}\";",
        envelope.body.namespace
    )));
    let properties = &envelope.body.children[0];
    let item = properties
        .children
        .iter()
        .find(|child| child.name == "ItemEventProperties")
        .expect("an item section");
    for member in properties.children.iter().chain(item.children.iter()) {
        assert_eq!(member.namespace, envelope.body.namespace, "{}", member.name);
        let declared = format!(" {} {{ get; set; }}", member.name);
        assert!(
            contract.contains(&declared),
            "SharePointContract.cs lacks `{}`",
            member.name
        );
    }
}

/// The proxy Mono's `wsdl` tool generates from `/soap/server-items?wsdl` reads a null data
/// field with its name: `<field name="approved" nil="true"/>`. (With `xsi:nil` on the
/// element, as before, such a proxy read a null `Field` object without its name.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_asmx_proxy_keeps_the_names_of_null_fields() {
    if clients_or_skip().is_none() {
        return;
    }
    let server = api_server(support::sqlite_store().await).await;
    let serial = start_permitted(&server, "N-1").await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let proxy = dir.path().join("Proxy.cs");
    let exe = dir.path().join("NullFields.exe");
    let wsdl_url = format!("{}/soap/server-items?wsdl", server.base);
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wcf/asmx/NullFields.cs");
    let endpoint = format!("{}/soap/server-items", server.base);
    let output = tokio::task::spawn_blocking(move || {
        let run = |command: &mut Command| {
            let output = command.output().expect("run a Mono tool");
            assert!(
                output.status.success(),
                "{command:?} failed:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).into_owned()
        };
        run(Command::new("wsdl")
            .args(["-nologo", &wsdl_url])
            .arg(format!("-out:{}", proxy.display())));
        run(Command::new("mcs")
            .args(["-nologo", "-r:System.Web.Services.dll", "-r:System.Xml.dll"])
            .arg(format!("-out:{}", exe.display()))
            .arg(&proxy)
            .arg(&client));
        run(Command::new("mono").arg(&exe).args([
            endpoint.as_str(),
            "erp",
            "erp-pw",
            serial.as_str(),
        ]))
    })
    .await
    .expect("the client's thread");
    let lines: Vec<&str> = output.lines().collect();
    assert!(
        lines.contains(&"approved nil=True value=<null>"),
        "{output}"
    );
    assert!(lines.contains(&"order_id nil=False value=N-1"), "{output}");
}
