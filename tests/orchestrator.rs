//! The Orchestrator-compatible VSOWebControl service over real HTTP: golden envelopes for
//! every operation, written the way real clients send them (Axis/SoapUI `soapenv`, ZSI
//! `SOAP-ENV`, Handsoap and .NET default namespace; SOAPAction `""` or the bare name),
//! from `fixtures/orchestrator/requests` to `fixtures/orchestrator/responses` (insta);
//! custom-event semantics (every waiter woken, buffering within the TTL) on both stores;
//! and our WSDL checked against the real vCO 4.1 WSDL read from `../shared` at run time.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use holdpoint::config::OrchestratorSettings;
use holdpoint::config::SoapSettings;
use reqwest::Method;
use support::api::{ApiServer, api_server_custom};
use support::workflows::{VRO_APPROVAL, VRO_PROVISION};

const ENDPOINT: &str = "/vco/vmware-vmo-webcontrol/webservice";
const LEGACY_ENDPOINT: &str = "/vmware-vmo-webcontrol/webservice";
const PROVISION_ID: &str = "88888888-8888-4888-8888-888888888888";
const APPROVAL_ID: &str = "99999999-9999-4999-8999-999999999999";

async fn server_on(store: support::TestStore, orchestrator: OrchestratorSettings) -> ApiServer {
    api_server_custom(
        store,
        &[VRO_PROVISION, VRO_APPROVAL],
        4 << 20,
        Some(SoapSettings {
            orchestrator,
            ..SoapSettings::default()
        }),
    )
    .await
}

/// A request fixture with `{{name}}` placeholders filled in.
fn fixture(name: &str, vars: &[(&str, &str)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/orchestrator/requests")
        .join(name);
    let mut text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let defaults = [
        ("user", "erp"),
        ("password", "erp-pw"),
        ("workflow", PROVISION_ID),
        ("hostname", "web-1"),
        ("inputs", "hostname,string,web-2,cpus,number,2"),
    ];
    for (key, value) in vars.iter().chain(defaults.iter()) {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    assert!(
        !text.contains("{{"),
        "{name}: unfilled placeholder in {text}"
    );
    text
}

struct Reply {
    status: u16,
    content_type: String,
    www_authenticate: Option<String>,
    body: String,
}

/// How a request is sent: HTTP Basic account, SOAPAction header, path.
#[derive(Clone, Copy)]
struct Send<'a> {
    basic: Option<&'a str>,
    action: Option<&'a str>,
    path: &'a str,
    content_type: &'a str,
}

const AXIS: Send<'static> = Send {
    basic: None,
    action: Some("\"\""),
    path: ENDPOINT,
    content_type: "text/xml; charset=utf-8",
};

async fn post(server: &ApiServer, how: Send<'_>, body: String) -> Reply {
    let mut request = match how.basic {
        Some(user) => server.as_user(user, Method::POST, how.path),
        None => server.request(Method::POST, how.path),
    }
    .header("content-type", how.content_type)
    .body(body);
    if let Some(action) = how.action {
        request = request.header("SOAPAction", action);
    }
    let response = request.send().await.expect("the server answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or("").to_string())
    };
    Reply {
        status: response.status().as_u16(),
        content_type: header("content-type").unwrap_or_default(),
        www_authenticate: header("www-authenticate"),
        body: response.text().await.unwrap_or_default(),
    }
}

fn golden(name: &str, reply: &Reply) {
    let mut text = format!(
        "HTTP {}\ncontent-type: {}\n",
        reply.status, reply.content_type
    );
    if let Some(challenge) = &reply.www_authenticate {
        text.push_str(&format!("www-authenticate: {challenge}\n"));
    }
    text.push('\n');
    text.push_str(&reply.body.replace("><", ">\n<"));
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/orchestrator/responses"),
    );
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// Sends a fixture, records the golden answer, returns it.
async fn golden_call(
    server: &ApiServer,
    name: &str,
    file: &str,
    vars: &[(&str, &str)],
    how: Send<'_>,
) -> Reply {
    let reply = post(server, how, fixture(file, vars)).await;
    golden(name, &reply);
    reply
}

/// The text of the first `<tag>` in an answer.
fn text_of(body: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = body
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {body}"))
        + open.len();
    let end = body[start..].find('<').expect("closing tag") + start;
    body[start..end].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_envelopes_for_every_operation() {
    let server = server_on(
        support::sqlite_store().await,
        OrchestratorSettings::default(),
    )
    .await;
    let s = &server;
    let handsoap = |action: &'static str| Send {
        action: Some(action),
        ..AXIS
    };

    // Open operations, any prefix style, either path.
    let echo = golden_call(s, "echo", "echo.xml", &[], AXIS).await;
    assert_eq!(echo.status, 200);
    assert!(
        echo.body
            .contains("<echoReturn>hello &amp; welcome, vCO</echoReturn>")
    );
    let legacy = Send {
        path: LEGACY_ENDPOINT,
        action: Some("echo"),
        ..AXIS
    };
    let plain = golden_call(
        s,
        "echo-default-namespace",
        "echo-default-namespace.xml",
        &[],
        legacy,
    )
    .await;
    assert!(plain.body.contains("<echoReturn>plain client</echoReturn>"));
    let zsi = Send {
        action: None,
        ..AXIS
    };
    let echoed = golden_call(s, "echoWorkflow", "echoWorkflow.xml", &[], zsi).await;
    assert!(
        echoed.body.contains("<type>VC:VirtualMachine</type>"),
        "{}",
        echoed.body
    );
    assert!(echoed.body.contains("<description xsi:nil=\"true\"/>"));

    // Workflows.
    let all = golden_call(s, "getAllWorkflows", "getAllWorkflows.xml", &[], AXIS).await;
    // erp holds permissions on both vRO workflows and on `permitted`; the others are
    // admin-only.
    assert_eq!(
        all.body.matches("<getAllWorkflowsReturn>").count(),
        3,
        "{}",
        all.body
    );
    let named = golden_call(
        s,
        "getWorkflowsWithName",
        "getWorkflowsWithName.xml",
        &[],
        zsi,
    )
    .await;
    assert_eq!(
        named.body.matches("<getWorkflowsWithNameReturn>").count(),
        1
    );
    let one = golden_call(s, "getWorkflowForId", "getWorkflowForId.xml", &[], AXIS).await;
    assert!(one.body.contains("<name>Provision host</name>"));
    let unknown = golden_call(
        s,
        "getWorkflowForId-unknown",
        "getWorkflowForId.xml",
        &[("workflow", "00000000-0000-4000-8000-000000000000")],
        AXIS,
    )
    .await;
    assert!(
        unknown
            .body
            .contains("<getWorkflowForIdReturn xsi:nil=\"true\"/>")
    );
    let read = golden_call(
        s,
        "hasRights-read",
        "hasRights.xml",
        &[("right", "114")],
        AXIS,
    )
    .await;
    assert!(
        read.body
            .contains("<hasRightsReturn>true</hasRightsReturn>")
    );
    let admin = golden_call(
        s,
        "hasRights-admin",
        "hasRights.xml",
        &[("right", "97")],
        AXIS,
    )
    .await;
    assert!(
        admin
            .body
            .contains("<hasRightsReturn>false</hasRightsReturn>")
    );

    // Run, wait, signal, complete.
    let started = golden_call(s, "executeWorkflow", "executeWorkflow.xml", &[], AXIS).await;
    assert_eq!(text_of(&started.body, "globalState"), "waiting-signal");
    let token = text_of(&started.body, "id");
    let simple = golden_call(
        s,
        "simpleExecuteWorkflow",
        "simpleExecuteWorkflow.xml",
        &[],
        handsoap("simpleExecuteWorkflow"),
    )
    .await;
    let token2 = text_of(&simple.body, "id");
    let both = [("token", token.as_str()), ("token2", token2.as_str())];
    let status = golden_call(
        s,
        "getWorkflowTokenStatus",
        "getWorkflowTokenStatus.xml",
        &both,
        AXIS,
    )
    .await;
    assert_eq!(
        status.body.matches(">waiting-signal<").count(),
        2,
        "{}",
        status.body
    );
    golden_call(
        s,
        "getWorkflowTokenForId-waiting",
        "getWorkflowTokenForId.xml",
        &both,
        AXIS,
    )
    .await;
    let sender = Send {
        basic: Some("sender"),
        ..AXIS
    };
    let sent = golden_call(
        s,
        "sendCustomEvent",
        "sendCustomEvent.xml",
        &[("event", "provisioned-web-1")],
        sender,
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let done = golden_call(
        s,
        "getWorkflowTokenForId-completed",
        "getWorkflowTokenForId.xml",
        &both,
        AXIS,
    )
    .await;
    assert_eq!(text_of(&done.body, "globalState"), "completed");
    let result = golden_call(
        s,
        "getWorkflowTokenResult",
        "getWorkflowTokenResult.xml",
        &both,
        zsi,
    )
    .await;
    for expected in [
        "<name>status</name><type>string</type><value>ready</value>",
        "<name>ip</name><type>string</type><value>10.0.0.5</value>",
        "<name>ready_at</name><type>Date</type><value>20261122101500+0000</value>",
        "<name>disks</name><type>Array/string</type><value>#{#string#os#;#string#data#}#</value>",
        "<name>cpus</name><type>number</type><value>4.0</value>",
    ] {
        assert!(
            result.body.replace('\n', "").contains(expected),
            "{expected} in {}",
            result.body
        );
    }
    let cancel = golden_call(
        s,
        "cancelWorkflow",
        "cancelWorkflow.xml",
        &[("token", &token2)],
        AXIS,
    )
    .await;
    assert!(cancel.body.contains("<cancelWorkflowResponse xmlns="));
    let canceled = golden_call(
        s,
        "getWorkflowTokenStatus-canceled",
        "getWorkflowTokenStatus.xml",
        &[("token", &token2), ("token2", &token)],
        AXIS,
    )
    .await;
    assert!(canceled.body.contains(">canceled<") && canceled.body.contains(">completed<"));

    // User interaction.
    let asked = golden_call(
        s,
        "simpleExecuteWorkflow-input",
        "simpleExecuteWorkflow.xml",
        &[("workflow", APPROVAL_ID), ("inputs", "")],
        handsoap("simpleExecuteWorkflow"),
    )
    .await;
    assert_eq!(text_of(&asked.body, "globalState"), "waiting");
    let input_token = text_of(&asked.body, "id");
    let answered = golden_call(
        s,
        "answerWorkflowInput",
        "answerWorkflowInput.xml",
        &[("token", &input_token)],
        AXIS,
    )
    .await;
    assert_eq!(answered.status, 200, "{}", answered.body);
    let after = post(
        s,
        AXIS,
        fixture("getWorkflowTokenForId.xml", &[("token", &input_token)]),
    )
    .await;
    assert_eq!(text_of(&after.body, "globalState"), "completed");

    // Inventory operations are declared but not supported.
    for op in [
        "find",
        "findForId",
        "findRelation",
        "hasChildrenInRelation",
        "getAllPlugins",
        "getAllPlugin",
    ] {
        let reply = golden_call(s, op, &format!("{op}.xml"), &[], AXIS).await;
        assert_eq!(reply.status, 500);
        assert!(
            reply.body.contains("<faultcode>s:Server</faultcode>"),
            "{}",
            reply.body
        );
        assert!(reply.body.contains("<hp:code>not_supported</hp:code>"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_faults() {
    let server = server_on(
        support::sqlite_store().await,
        OrchestratorSettings::default(),
    )
    .await;
    let s = &server;
    // Body credentials: a plain Client fault, no challenge (a 401 would only make the
    // client resend the same body).
    let bad = golden_call(
        s,
        "fault-bad-password",
        "getAllWorkflows.xml",
        &[("password", "nope")],
        AXIS,
    )
    .await;
    assert_eq!(bad.status, 500);
    assert!(bad.www_authenticate.is_none());
    assert!(bad.body.contains("<hp:code>unauthenticated</hp:code>"));
    let missing = golden_call(
        s,
        "fault-missing-password",
        "fault-missing-password.xml",
        &[],
        AXIS,
    )
    .await;
    assert!(
        missing
            .body
            .contains("lacks the required element `password`")
    );
    // sendCustomEvent takes HTTP Basic: a 401 challenge when absent.
    let event = [("event", "provisioned-web-1")];
    let anonymous = golden_call(
        s,
        "fault-sendCustomEvent-anonymous",
        "sendCustomEvent.xml",
        &event,
        AXIS,
    )
    .await;
    assert_eq!(anonymous.status, 401);
    assert!(anonymous.www_authenticate.is_some());
    let erp = Send {
        basic: Some("erp"),
        ..AXIS
    };
    let forbidden = golden_call(
        s,
        "fault-sendCustomEvent-no-right",
        "sendCustomEvent.xml",
        &event,
        erp,
    )
    .await;
    assert!(
        forbidden.body.contains("<hp:code>forbidden</hp:code>"),
        "{}",
        forbidden.body
    );
    let sender = Send {
        basic: Some("sender"),
        ..AXIS
    };
    let no_equals = fixture("sendCustomEvent.xml", &event).replace("ip=10.0.0.5", "ip 10.0.0.5");
    let reply = post(s, sender, no_equals).await;
    golden("fault-sendCustomEvent-line-without-equals", &reply);
    assert!(
        reply
            .body
            .contains("serializedProperties line 1: `ip 10.0.0.5` has no `=`")
    );
    let reply = golden_call(
        s,
        "fault-sendCustomEvent-empty-name",
        "sendCustomEvent.xml",
        &[("event", " ")],
        sender,
    )
    .await;
    assert!(reply.body.contains("`eventName` must not be empty"));
    // Engine errors.
    let reply = golden_call(
        s,
        "fault-unknown-token",
        "getWorkflowTokenForId.xml",
        &[("token", "ff8080813c")],
        AXIS,
    )
    .await;
    assert!(reply.body.contains("unknown workflow token `ff8080813c`"));
    let reply = golden_call(
        s,
        "fault-unknown-workflow",
        "executeWorkflow.xml",
        &[("workflow", "00000000-0000-4000-8000-000000000000")],
        AXIS,
    )
    .await;
    assert!(reply.body.contains("<hp:code>unknown_workflow</hp:code>"));
    let wrong_type = fixture("executeWorkflow.xml", &[]).replace(">4.0<", ">many<");
    let reply = post(s, AXIS, wrong_type).await;
    golden("fault-invalid-field", &reply);
    assert!(
        reply
            .body
            .contains("workflowInputs `cpus`: `many` is not a number"),
        "{}",
        reply.body
    );
    let ops = [("user", "ops"), ("password", "ops-pw")];
    let reply = golden_call(s, "fault-forbidden", "executeWorkflow.xml", &ops, AXIS).await;
    assert!(reply.body.contains("<hp:code>forbidden</hp:code>"));
    // Protocol errors.
    let reply = golden_call(
        s,
        "fault-unknown-operation",
        "fault-unknown-operation.xml",
        &[],
        AXIS,
    )
    .await;
    assert!(reply.body.contains("<hp:code>unknown_operation</hp:code>"));
    let soap12 = Send {
        content_type: "application/soap+xml; charset=utf-8",
        ..AXIS
    };
    let reply = golden_call(s, "fault-soap12", "fault-soap12.xml", &[], soap12).await;
    assert!(reply.body.contains("VersionMismatch"), "{}", reply.body);
}

/// One sendCustomEvent wakes every waiter on its name; an event sent before anyone waits
/// is kept for the buffer TTL (60 s) and consumed by the first wait that opens in time.
async fn custom_events_wake_and_buffer(store: support::TestStore) {
    let server = server_on(store, OrchestratorSettings::default()).await;
    let s = &server;
    let sender = Send {
        basic: Some("sender"),
        ..AXIS
    };
    let start = |host: &'static str| async move {
        let reply = post(
            s,
            AXIS,
            fixture("executeWorkflow.xml", &[("hostname", host)]),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        (
            text_of(&reply.body, "id"),
            text_of(&reply.body, "globalState"),
        )
    };
    let state_of = |token: String| async move {
        let reply = post(
            s,
            AXIS,
            fixture("getWorkflowTokenForId.xml", &[("token", &token)]),
        )
        .await;
        text_of(&reply.body, "globalState")
    };

    let (first, _) = start("shared").await;
    let (second, _) = start("shared").await;
    let reply = post(
        s,
        sender,
        fixture("sendCustomEvent.xml", &[("event", "provisioned-shared")]),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(state_of(first).await, "completed");
    assert_eq!(state_of(second).await, "completed");

    let reply = post(
        s,
        sender,
        fixture("sendCustomEvent.xml", &[("event", "provisioned-early")]),
    )
    .await;
    assert_eq!(reply.status, 200);
    s.te.clock.advance(Duration::from_secs(30));
    let (_, state) = start("early").await;
    assert_eq!(
        state, "completed",
        "a buffered event within its TTL is consumed"
    );
    let (_, state) = start("early").await;
    assert_eq!(state, "waiting-signal", "a buffered event is consumed once");

    let reply = post(
        s,
        sender,
        fixture("sendCustomEvent.xml", &[("event", "provisioned-late")]),
    )
    .await;
    assert_eq!(reply.status, 200);
    s.te.clock.advance(Duration::from_secs(61));
    let (_, state) = start("late").await;
    assert_eq!(state, "waiting-signal", "an event past its TTL is dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_events_wake_and_buffer_on_sqlite() {
    custom_events_wake_and_buffer(support::sqlite_store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_events_wake_and_buffer_on_postgres() {
    let Some(store) = support::postgres_store().await else {
        return;
    };
    custom_events_wake_and_buffer(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_custom_events_when_configured() {
    let settings = OrchestratorSettings {
        anonymous_custom_events: true,
        ..OrchestratorSettings::default()
    };
    let server = server_on(support::sqlite_store().await, settings).await;
    let started = post(
        &server,
        AXIS,
        fixture("executeWorkflow.xml", &[("hostname", "anon")]),
    )
    .await;
    let token = text_of(&started.body, "id");
    let reply = post(
        &server,
        AXIS,
        fixture("sendCustomEvent.xml", &[("event", "provisioned-anon")]),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let history = server
        .te
        .engine
        .history(
            token.parse().unwrap(),
            &holdpoint::engine::Caller::new("t", "test"),
        )
        .await
        .unwrap();
    let received = history
        .iter()
        .find(|row| row.kind == "event_received")
        .expect("the event is in the history");
    assert_eq!(received.actor, "anonymous");
    assert_eq!(received.dialect, "orchestrator");
    // Credentials, when sent, must still be right.
    let wrong = Send {
        basic: Some("nobody"),
        ..AXIS
    };
    let reply = post(
        &server,
        wrong,
        fixture("sendCustomEvent.xml", &[("event", "x")]),
    )
    .await;
    assert_eq!(reply.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wsdl_is_served_at_both_paths_with_its_address() {
    let server = server_on(
        support::sqlite_store().await,
        OrchestratorSettings::default(),
    )
    .await;
    for path in [ENDPOINT, LEGACY_ENDPOINT] {
        let response = server
            .request(Method::GET, &format!("{path}?WSDL"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let wsdl = response.text().await.unwrap();
        assert!(
            wsdl.contains(&format!("location=\"{}{path}\"", server.base)),
            "{path}"
        );
        assert!(wsdl.contains("targetNamespace=\"http://webservice.vso.dunes.ch\""));
    }
}

/// The real vCO 4.1 WSDL, read from `../shared` at run time.
pub const REFERENCE_WSDL: &str = "reference/orchestrator/vco41_vmo.wsdl.original-8fe4016.xml";

/// Every element declaration of a schema: (owner, name, type, minOccurs, maxOccurs,
/// nillable), the owner being the enclosing named element or complex type. Types are
/// compared by local name, so prefixes do not matter.
fn declarations(wsdl: &str) -> BTreeSet<Declaration> {
    declarations_in_order(wsdl).into_iter().collect()
}

type Declaration = (String, String, String, String, String, bool);

fn declarations_in_order(wsdl: &str) -> Vec<Declaration> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(wsdl);
    let mut owners: Vec<Option<String>> = Vec::new();
    let mut found = Vec::new();
    loop {
        let event = reader.read_event().expect("well-formed WSDL");
        let (start, empty) = match &event {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            Event::End(_) => {
                owners.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let Some(element) = start else { continue };
        let local = element.local_name().as_ref().to_string();
        let attr = |key: &str| {
            element
                .attributes()
                .flatten()
                .find(|a| a.key.local_name().as_ref() == key)
                .map(|a| a.value.to_string())
        };
        let name = attr("name");
        if local == "element" {
            let owner = owners
                .iter()
                .rev()
                .flatten()
                .next()
                .cloned()
                .unwrap_or_default();
            let ty = attr("type").map(|t| t.rsplit(':').next().unwrap_or("").to_string());
            found.push((
                owner,
                name.clone().unwrap_or_default(),
                ty.unwrap_or_default(),
                attr("minOccurs").unwrap_or_else(|| "1".into()),
                attr("maxOccurs").unwrap_or_else(|| "1".into()),
                attr("nillable").is_some_and(|v| v == "true"),
            ));
        }
        if !empty {
            let named = matches!(local.as_str(), "element" | "complexType")
                .then_some(name)
                .flatten();
            owners.push(named);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_wsdl_has_the_4_1_contract() {
    let Some(path) = support::shared_file(REFERENCE_WSDL) else {
        return;
    };
    let reference = std::fs::read_to_string(path).unwrap();
    let server = server_on(
        support::sqlite_store().await,
        OrchestratorSettings::default(),
    )
    .await;
    let ours = server
        .request(Method::GET, &format!("{ENDPOINT}?wsdl"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let theirs = declarations(&reference);
    let mut mine = declarations(&ours);
    assert!(theirs.len() > 100, "the reference parses: {}", theirs.len());
    // The one deliberate difference: an unknown id answers nil, as real vCO does.
    let nil_answer = mine
        .iter()
        .find(|d| d.1 == "getWorkflowForIdReturn")
        .cloned()
        .expect("getWorkflowForIdReturn declared");
    assert!(nil_answer.5, "getWorkflowForIdReturn is nillable");
    mine.remove(&nil_answer);
    mine.insert((
        nil_answer.0,
        nil_answer.1,
        nil_answer.2,
        nil_answer.3,
        nil_answer.4,
        false,
    ));
    let missing: Vec<_> = theirs.difference(&mine).collect();
    let extra: Vec<_> = mine.difference(&theirs).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:#?}\nextra {extra:#?}"
    );
    // Element order within each sequence, too.
    for owner in [
        "executeWorkflow",
        "answerWorkflowInput",
        "WorkflowToken",
        "Workflow",
        "hasRights",
    ] {
        let order = |wsdl: &str| sequence_of(wsdl, owner);
        assert_eq!(order(&ours), order(&reference), "order in {owner}");
    }
    let operations = |wsdl: &str| -> BTreeSet<String> {
        wsdl.match_indices("<wsdl:operation name=\"")
            .map(|(at, _)| wsdl[at + 22..].split('"').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(operations(&ours), operations(&reference));
    assert_eq!(
        ours.matches("<wsdlsoap:operation soapAction=\"\"/>")
            .count(),
        operations(&ours).len()
    );
}

/// The names of the child elements declared in `owner`'s sequence, in document order.
fn sequence_of(wsdl: &str, owner: &str) -> Vec<String> {
    declarations_in_order(wsdl)
        .into_iter()
        .filter(|d| d.0 == owner)
        .map(|d| d.1)
        .collect()
}
