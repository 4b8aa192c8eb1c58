//! Anonymous entry points by network, over real HTTP: `[orchestrator] allow_from`
//! (anonymous `sendCustomEvent`), `[remote_events] allow_from` and a workflow's own (the
//! kenaflow `a` variants), `[sharepoint] allow_from` (anonymous receiver); and
//! `[http] trusted_proxies`, the only peers whose `X-Forwarded-For`/`Forwarded` count, for
//! the allow-lists and for the address history and events record.
//!
//! The test servers see every request from 127.0.0.1, so a list either holds it or not.

mod support;

use holdpoint::config::OrchestratorSettings;
use holdpoint::config::SoapSettings;
use holdpoint::config::sharepoint::{SharePointAuth, SharePointSettings};
use holdpoint::engine::{Caller, StartRequest};
use holdpoint::networks::NetworkList;
use reqwest::Method;
use serde_json::{Map, json};
use support::api::{ApiServer, api_server_tuned, send};

const WAITER: &str = r#"
id = "a110f000-0000-4000-8000-000000000001"
name = "waiter"
[[steps]]
id = "wait"
kind = "wait_event"
event = "go"
deadline = "1h"
[[steps]]
id = "done"
kind = "end"
"#;

/// Anonymous kenaflow events; answers the remote address it was given.
const KENA: &str = r#"
id = "a110f000-0000-4000-8000-000000000002"
name = "kena-open"
[remote_events]
custom_data = true
unstructured = true
anonymous = true
[[steps]]
id = "answer"
kind = "reply"
body = '{"from": "{{ event.__remoteAddress }}"}'
[[steps]]
id = "done"
kind = "end"
"#;

/// The same, narrowed to a network the tests never come from.
const NARROW: &str = r#"
id = "a110f000-0000-4000-8000-000000000003"
name = "kena-narrow"
[remote_events]
custom_data = true
anonymous = true
allow_from = ["10.30.0.0/16"]
[[steps]]
id = "done"
kind = "end"
"#;

const SHAREPOINT: &str = r#"
id = "a110f000-0000-4000-8000-000000000004"
name = "sp-orders"
[[triggers]]
sharepoint = { list = "Orders", events = ["ItemAdded"] }
action = "start"
[[steps]]
id = "done"
kind = "end"
"#;

const SEND_EVENT: &str = "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
     xmlns:vco=\"http://webservice.vso.dunes.ch\"><soapenv:Body><vco:sendCustomEvent>\
     <vco:eventName>go</vco:eventName><vco:serializedProperties>a=1</vco:serializedProperties>\
     </vco:sendCustomEvent></soapenv:Body></soapenv:Envelope>";

fn list(entries: &[&str]) -> NetworkList {
    let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
    NetworkList::parse("test", &entries).expect("a valid list")
}

/// Every anonymous entry point allows `allow`; `trusted` are the trusted proxies.
async fn server(allow: &[&str], trusted: &[&str]) -> ApiServer {
    let allow_from = list(allow);
    let trusted = list(trusted);
    let settings = SoapSettings {
        orchestrator: OrchestratorSettings {
            anonymous_custom_events: true,
            allow_from: allow_from.clone(),
        },
        // The allow-list guards the anonymous mode, which is only ever chosen explicitly.
        sharepoint: SharePointSettings {
            auth: SharePointAuth::Anonymous,
            allow_from: allow_from.clone(),
            ..SharePointSettings::default()
        },
        ..SoapSettings::default()
    };
    api_server_tuned(
        support::sqlite_store().await,
        &[WAITER, KENA, NARROW, SHAREPOINT],
        1 << 20,
        Some(settings),
        support::test_config(),
        move |state| {
            state.remote_events.allow_from = allow_from;
            state.edge.trusted_proxies = trusted;
        },
    )
    .await
}

/// A fresh instance waiting for `go`.
async fn waiter(server: &ApiServer) -> i64 {
    let outcome = server
        .te
        .engine
        .start(StartRequest {
            workflow: "waiter".into(),
            fields: Map::new(),
            folio: None,
            event: json!({}),
            caller: Caller::new("tester", "test"),
            idempotency_key: None,
        })
        .await
        .expect("start");
    outcome.instance.id
}

async fn status_of(server: &ApiServer, id: i64) -> String {
    let instance = server.get("root", &format!("/api/v1/instances/{id}")).await;
    instance.body["status"].as_str().unwrap_or("").to_string()
}

/// Sends the anonymous `sendCustomEvent` with extra headers; (status, body).
async fn send_event(server: &ApiServer, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = server
        .request(Method::POST, "/vco/vmware-vmo-webcontrol/webservice")
        .header("content-type", "text/xml; charset=utf-8")
        .body(SEND_EVENT);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// The `source` history recorded for the event that woke instance `id`.
async fn event_source(server: &ApiServer, id: i64) -> Option<String> {
    let history = server
        .te
        .engine
        .history(id, &Caller::new("tester", "test"))
        .await
        .expect("history");
    history
        .into_iter()
        .find(|row| row.kind == "event_received")
        .expect("the event was received")
        .source
}

/// Refused as `forbidden`, and nothing applied or buffered.
async fn assert_event_refused(server: &ApiServer, headers: &[(&str, &str)], what: &str) {
    let id = waiter(server).await;
    let (status, body) = send_event(server, headers).await;
    assert_eq!(status, 500, "{what}: a SOAP 1.1 Client fault: {body}");
    assert!(
        body.contains("<faultcode>soapenv:Client</faultcode>") || body.contains("Client"),
        "{what}: {body}"
    );
    assert!(body.contains("forbidden"), "{what}: {body}");
    assert_eq!(
        status_of(server, id).await,
        "waiting",
        "{what}: not applied"
    );
    let later = waiter(server).await;
    assert_eq!(
        status_of(server, later).await,
        "waiting",
        "{what}: not buffered"
    );
}

/// Accepted; returns the source history recorded.
async fn event_accepted(server: &ApiServer, headers: &[(&str, &str)], what: &str) -> String {
    let id = waiter(server).await;
    let (status, body) = send_event(server, headers).await;
    assert_eq!(status, 200, "{what}: {body}");
    assert_eq!(status_of(server, id).await, "completed", "{what}");
    event_source(server, id).await.unwrap_or_default()
}

/// `/cda/{workflow}/`: (status, error code).
async fn custom_data(
    server: &ApiServer,
    workflow: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut request = server.request(
        Method::GET,
        &format!("/cda/{workflow}/?__wfid=1&__itemid=2"),
    );
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = send(request).await;
    (answer.status.as_u16(), answer.code().to_string())
}

/// `/uda/j/kena-open/`: the remote address the event carried, or the refusal's code.
async fn remote_address(server: &ApiServer, headers: &[(&str, &str)]) -> Result<String, String> {
    let mut request = server
        .request(Method::POST, "/uda/j/kena-open/")
        .body("hello");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = send(request).await;
    match answer.status.as_u16() {
        200 => Ok(answer.body["from"].as_str().unwrap_or("").to_string()),
        _ => Err(answer.code().to_string()),
    }
}

async fn queued(server: &ApiServer) -> usize {
    let rows = server.get("root", "/api/v1/inbound-events").await;
    rows.body.as_array().map_or(0, Vec::len)
}

const SPOOF: (&str, &str) = ("x-forwarded-for", "10.20.0.5");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_list_is_refused_and_a_spoofed_header_changes_nothing() {
    let server = server(&["10.20.0.0/16"], &[]).await;
    assert_event_refused(&server, &[], "sendCustomEvent from outside").await;
    assert_event_refused(&server, &[SPOOF], "spoofed X-Forwarded-For").await;
    let forwarded = ("forwarded", "for=10.20.0.5");
    assert_event_refused(&server, &[forwarded], "spoofed Forwarded").await;

    for headers in [&[][..], &[SPOOF][..]] {
        assert_eq!(
            custom_data(&server, "kena-open", headers).await,
            (403, "forbidden".to_string())
        );
        assert_eq!(
            remote_address(&server, headers).await,
            Err("forbidden".into())
        );
    }
    assert_eq!(queued(&server).await, 0, "nothing was queued");
    // Credentials make the caller an account, which the list does not concern.
    let (status, body) = send_event(
        &server,
        &[("authorization", "Basic c2VuZGVyOnNlbmRlci1wdw==")],
    )
    .await;
    assert_eq!(status, 200, "an account may send from anywhere: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_the_list_is_accepted_and_recorded_from_the_peer() {
    let server = server(&["127.0.0.1/32", "::1"], &[]).await;
    let source = event_accepted(&server, &[], "from the loopback").await;
    assert_eq!(source, "127.0.0.1");
    let source = event_accepted(&server, &[SPOOF], "spoofed X-Forwarded-For").await;
    assert_eq!(source, "127.0.0.1", "an untrusted peer's header is ignored");

    assert_eq!(custom_data(&server, "kena-open", &[]).await.0, 202);
    assert_eq!(queued(&server).await, 1);
    assert_eq!(
        remote_address(&server, &[SPOOF]).await,
        Ok("127.0.0.1".into())
    );
    // The workflow's own list narrows the node's.
    assert_eq!(
        custom_data(&server, "kena-narrow", &[]).await,
        (403, "forbidden".to_string())
    );
    assert_eq!(queued(&server).await, 1, "the refused event was not queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_names_the_client_for_lists_and_records() {
    let server = server(&["10.20.0.0/16"], &["127.0.0.1", "::1"]).await;
    let source = event_accepted(&server, &[SPOOF], "forwarded from the list").await;
    assert_eq!(source, "10.20.0.5", "history records the forwarded client");
    let chain = ("x-forwarded-for", "10.20.0.9, 203.0.113.9");
    assert_event_refused(&server, &[chain], "right-most hop outside the list").await;
    let rfc = ("forwarded", "for=\"10.20.7.7:4711\";proto=https");
    let source = event_accepted(&server, &[rfc], "Forwarded from the list").await;
    assert_eq!(source, "10.20.7.7");
    assert_event_refused(&server, &[], "the proxy itself is not listed").await;

    assert_eq!(custom_data(&server, "kena-open", &[SPOOF]).await.0, 202);
    assert_eq!(
        remote_address(&server, &[SPOOF]).await,
        Ok("10.20.0.5".into())
    );
    assert_eq!(
        remote_address(&server, &[("x-forwarded-for", "203.0.113.9")]).await,
        Err("forbidden".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_sharepoint_receiver_takes_only_its_networks() {
    let body = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/sharepoint/processevent-itemadding.xml"),
    )
    .expect("fixture")
    .replace("<ProcessEvent ", "<ProcessOneWayEvent ")
    .replace("</ProcessEvent>", "</ProcessOneWayEvent>")
    .replace(
        "<EventType>ItemAdding</EventType>",
        "<EventType>ItemAdded</EventType>",
    );
    for (allow, expected, queued_after) in [
        (&["10.20.0.0/16"][..], 500, 0),
        (&["127.0.0.1"][..], 202, 1),
    ] {
        let server = server(allow, &[]).await;
        let response = server
            .request(Method::POST, "/sharepoint/RemoteEventService.svc")
            .header("content-type", "text/xml; charset=utf-8")
            .header("x-forwarded-for", "10.20.0.5")
            .body(body.clone())
            .send()
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, expected, "{allow:?}: {text}");
        if expected == 500 {
            assert!(text.contains("forbidden"), "{text}");
        }
        assert_eq!(queued(&server).await, queued_after, "{allow:?}");
    }
}

#[test]
fn a_workflow_list_entry_that_is_no_network_is_a_definition_error() {
    let source = NARROW.replace("10.30.0.0/16", "10.30.0.0/99");
    let errors = holdpoint::engine::definition::compile(
        std::path::Path::new("narrow.toml"),
        source.as_bytes(),
    )
    .expect_err("a bad network");
    let text = format!("{errors:?}");
    assert!(
        text.contains("remote_events.allow_from") && text.contains("10.30.0.0/99"),
        "{text}"
    );
}
