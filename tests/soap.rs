//! The SOAP gateway end to end, over real HTTP: golden envelopes for every operation and
//! fault of the ServerItemService in both SOAP versions (requests in
//! `fixtures/soap/requests`, expected answers in `fixtures/soap/responses`, compared with
//! insta), a table of SOAP 1.2 processing rules, and the same calls on PostgreSQL.

mod support;

use std::path::Path;

use holdpoint::engine::Caller;
use reqwest::Method;
use support::api::{ApiServer, api_server};

const ENDPOINT: &str = "/soap/server-items";
const SOAP11: &str = "text/xml; charset=utf-8";
const SOAP12: &str = "application/soap+xml; charset=utf-8";
/// WCF sends the action as a Content-Type parameter as well as in `wsa:Action`.
const WCF_OPEN: &str =
    "application/soap+xml; charset=utf-8; action=\"urn:holdpoint:server-items/OpenServerItem\"";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/soap/requests")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn new_item(server: &ApiServer, order: &str) -> String {
    support::api::start_permitted(server, order).await
}

struct Reply {
    status: u16,
    content_type: String,
    www_authenticate: Option<String>,
    body: String,
}

async fn post(
    server: &ApiServer,
    user: Option<&str>,
    content_type: &str,
    action: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut request = match user {
        Some(user) => server.as_user(user, Method::POST, ENDPOINT),
        None => server.request(Method::POST, ENDPOINT),
    }
    .header("content-type", content_type)
    .body(body);
    if let Some(action) = action {
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

/// What a golden file holds: status line, the headers that matter, the envelope with one
/// element per line and the serials' random MACs replaced by stable names.
fn render(reply: &Reply, serials: &[(&str, &str)]) -> String {
    let mut body = reply.body.replace("><", ">\n<");
    for (name, serial) in serials {
        body = body.replace(serial, &format!("{{{{{name}}}}}"));
    }
    let mut out = format!(
        "HTTP {}\ncontent-type: {}\n",
        reply.status, reply.content_type
    );
    if let Some(challenge) = &reply.www_authenticate {
        out.push_str(&format!("www-authenticate: {challenge}\n"));
    }
    out.push('\n');
    out.push_str(&body);
    out
}

fn golden(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings
        .set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/soap/responses"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

struct Case {
    name: &'static str,
    fixture: &'static str,
    user: Option<&'static str>,
    serial: &'static str,
    content_type: &'static str,
    action: Option<&'static str>,
}

const fn case(
    name: &'static str,
    fixture: &'static str,
    user: Option<&'static str>,
    serial: &'static str,
    content_type: &'static str,
) -> Case {
    Case {
        name,
        fixture,
        user,
        serial,
        content_type,
        action: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_envelopes_for_every_operation_and_fault() {
    let server = api_server(support::sqlite_store().await).await;
    let serials = [
        ("a11", new_item(&server, "A11").await),
        ("b11", new_item(&server, "B11").await),
        ("c11", new_item(&server, "C11").await),
        ("a12", new_item(&server, "A12").await),
        ("b12", new_item(&server, "B12").await),
        ("c12", new_item(&server, "C12").await),
        ("d11", new_item(&server, "D11").await),
        ("d12", new_item(&server, "D12").await),
        ("e11", new_item(&server, "E11").await),
    ];
    let redactions: Vec<(&str, &str)> = serials.iter().map(|(n, s)| (*n, s.as_str())).collect();
    let serial_of = |name: &str| -> String {
        match name.strip_suffix('x') {
            Some(base) => format!("{}x", serial_of_base(&serials, base)),
            None => serial_of_base(&serials, name),
        }
    };
    let erp = Some("erp");
    let cases = [
        case("open.soap11", "open.soap11.xml", erp, "a11", SOAP11),
        case("extend.soap11", "extend.soap11.xml", erp, "a11", SOAP11),
        case("finish.soap11", "finish.soap11.xml", erp, "a11", SOAP11),
        // The same key again: the first outcome, `replayed`, not `item_not_open`.
        case(
            "finish-keyed.soap11",
            "finish-keyed.soap11.xml",
            erp,
            "e11",
            SOAP11,
        ),
        case(
            "finish-replayed.soap11",
            "finish-keyed.soap11.xml",
            erp,
            "e11",
            SOAP11,
        ),
        case(
            "fault-item-not-open.soap11",
            "finish.soap11.xml",
            erp,
            "a11",
            SOAP11,
        ),
        case(
            "fault-unknown-serial.soap11",
            "open.soap11.xml",
            erp,
            "a11x",
            SOAP11,
        ),
        case("fail.soap11", "fail.soap11.xml", erp, "b11", SOAP11),
        case(
            "fault-forbidden.soap11",
            "open.soap11.xml",
            Some("ops"),
            "c11",
            SOAP11,
        ),
        case(
            "fault-unauthenticated.soap11",
            "open.soap11.xml",
            None,
            "c11",
            SOAP11,
        ),
        case(
            "fault-invalid-field.soap11",
            "fault-invalid-field.soap11.xml",
            erp,
            "c11",
            SOAP11,
        ),
        case(
            "fault-missing-element.soap11",
            "fault-missing-element.soap11.xml",
            erp,
            "c11",
            SOAP11,
        ),
        case(
            "fault-unknown-operation.soap11",
            "fault-unknown-operation.soap11.xml",
            erp,
            "c11",
            SOAP11,
        ),
        case(
            "fault-must-understand.soap11",
            "fault-must-understand.soap11.xml",
            erp,
            "c11",
            SOAP11,
        ),
        case(
            "fault-version-mismatch.soap11",
            "fault-version-mismatch.soap11.xml",
            erp,
            "c11",
            SOAP11,
        ),
        case(
            "fault-dtd.soap11",
            "fault-dtd.soap11.xml",
            erp,
            "c11",
            SOAP11,
        ),
        case(
            "fault-truncated.soap11",
            "fault-truncated.soap11.xml",
            erp,
            "c11",
            SOAP11,
        ),
        case(
            "fault-wrong-content-type.soap11",
            "open.soap11.xml",
            erp,
            "c11",
            SOAP12,
        ),
        Case {
            action: Some("\"urn:holdpoint:server-items/FinishServerItem\""),
            ..case(
                "fault-soapaction-spoofed.soap11",
                "open.soap11.xml",
                erp,
                "c11",
                SOAP11,
            )
        },
        case("open.soap12", "open.soap12.xml", erp, "a12", SOAP12),
        case("extend.soap12", "extend.soap12.xml", erp, "a12", SOAP12),
        case("finish.soap12", "finish.soap12.xml", erp, "a12", SOAP12),
        case(
            "fault-item-not-open.soap12",
            "finish.soap12.xml",
            erp,
            "a12",
            SOAP12,
        ),
        case(
            "fault-unknown-serial.soap12",
            "open.soap12.xml",
            erp,
            "a12x",
            SOAP12,
        ),
        case("fail.soap12", "fail.soap12.xml", erp, "b12", SOAP12),
        case(
            "fault-forbidden.soap12",
            "open.soap12.xml",
            Some("ops"),
            "c12",
            SOAP12,
        ),
        case(
            "fault-unauthenticated.soap12",
            "open.soap12.xml",
            None,
            "c12",
            SOAP12,
        ),
        case(
            "fault-invalid-field.soap12",
            "fault-invalid-field.soap12.xml",
            erp,
            "c12",
            SOAP12,
        ),
        case(
            "fault-missing-element.soap12",
            "fault-missing-element.soap12.xml",
            erp,
            "c12",
            SOAP12,
        ),
        case(
            "fault-unknown-operation.soap12",
            "fault-unknown-operation.soap12.xml",
            erp,
            "c12",
            SOAP12,
        ),
        case(
            "fault-must-understand.soap12",
            "fault-must-understand.soap12.xml",
            erp,
            "c12",
            SOAP12,
        ),
        case(
            "fault-version-mismatch.soap12",
            "fault-version-mismatch.soap12.xml",
            erp,
            "c12",
            SOAP12,
        ),
        case("fault-pi.soap12", "fault-pi.soap12.xml", erp, "c12", SOAP12),
        case(
            "fault-wrong-content-type.soap12",
            "open.soap12.xml",
            erp,
            "c12",
            SOAP11,
        ),
        Case {
            content_type: "application/soap+xml; charset=utf-8; action=\"urn:holdpoint:server-items/FailServerItem\"",
            ..case(
                "fault-soapaction-spoofed.soap12",
                "open.soap12.xml",
                erp,
                "c12",
                SOAP12,
            )
        },
        // WS-Addressing 1.0 as WCF's Soap12WSAddressing10 sends it, and the 2004/08
        // submission as Axis2 sends it over SOAP 1.1.
        case(
            "open.wsa10.soap12",
            "open.wsa10.soap12.xml",
            erp,
            "d12",
            WCF_OPEN,
        ),
        case(
            "fault-unknown-serial.wsa10.soap12",
            "open.wsa10.soap12.xml",
            erp,
            "d12x",
            WCF_OPEN,
        ),
        case(
            "fault-action-not-supported.wsa10.soap12",
            "fault-action-not-supported.wsa10.soap12.xml",
            erp,
            "d12",
            SOAP12,
        ),
        case(
            "fault-reply-elsewhere.wsa10.soap12",
            "fault-reply-elsewhere.wsa10.soap12.xml",
            erp,
            "d12",
            WCF_OPEN,
        ),
        Case {
            action: Some("\"urn:holdpoint:server-items/FinishServerItem\""),
            ..case(
                "finish.wsa2004.soap11",
                "finish.wsa2004.soap11.xml",
                erp,
                "d11",
                SOAP11,
            )
        },
        case(
            "fault-item-not-open.wsa2004.soap11",
            "finish.wsa2004.soap11.xml",
            erp,
            "d11",
            SOAP11,
        ),
    ];
    for case in &cases {
        let body = fixture(case.fixture).replace("{{serial}}", &serial_of(case.serial));
        let reply = post(&server, case.user, case.content_type, case.action, body).await;
        golden(case.name, &render(&reply, &redactions));
    }
    let deep = format!(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{}{}</s:Body></s:Envelope>",
        "<a>".repeat(200),
        "</a>".repeat(200)
    );
    let reply = post(&server, erp, SOAP11, None, deep).await;
    golden("fault-limit-exceeded.soap11", &render(&reply, &redactions));
}

fn serial_of_base(serials: &[(&str, String)], name: &str) -> String {
    serials
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s.clone())
        .unwrap_or_else(|| panic!("no serial {name}"))
}

/// Every fault code rendered in both versions, with the status it is answered with.
#[test]
fn every_fault_code_in_both_versions() {
    use holdpoint::error::ErrorCode::{self, MustUnderstand};
    use holdpoint::error::SenderFaultStatus;
    use holdpoint::soap::{SoapError, SoapVersion, writer};
    assert_eq!(ErrorCode::ALL.len(), 17, "DESIGN §5 lists 17 codes");
    for (version, label) in [(SoapVersion::V11, "soap11"), (SoapVersion::V12, "soap12")] {
        let mut all = String::new();
        for &code in ErrorCode::ALL {
            let mut error = SoapError::new(code, format!("what went wrong: {code} <&>"));
            if code == MustUnderstand {
                error.not_understood = vec![("urn:example:tx".into(), "Transaction".into())];
            }
            let status =
                code.soap_http_status(version == SoapVersion::V12, SenderFaultStatus::default());
            all.push_str(&format!("== {code}: HTTP {status}\n"));
            all.push_str(&writer::fault(version, &error).replace("><", ">\n<"));
            all.push_str("\n\n");
        }
        golden(&format!("every-fault-code.{label}"), &all);
    }
}

/// SOAP 1.2 processing rules, modelled on the W3C SOAP 1.2 assertions: (what, request,
/// content type, expected status, a fragment the answer must contain).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soap12_processing_rules() {
    let server = api_server(support::sqlite_store().await).await;
    let serial = new_item(&server, "R-1").await;
    let env = |header: &str, body: &str| {
        format!(
            "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\">{header}<env:Body>{body}</env:Body></env:Envelope>"
        )
    };
    let open = format!(
        "<OpenServerItem xmlns=\"urn:holdpoint:server-items\"><serialNumber>{serial}</serialNumber></OpenServerItem>"
    );
    let block =
        |attrs: &str| format!("<env:Header><t:Tx xmlns:t=\"urn:t\" {attrs}>1</t:Tx></env:Header>");
    let rules: Vec<(&str, String, &str, u16, &str)> = vec![
        (
            "mustUnderstand=true on an unknown block is a MustUnderstand fault",
            env(&block("env:mustUnderstand=\"true\""), &open),
            SOAP12,
            500,
            "<env:NotUnderstood qname=\"nu:Tx\" xmlns:nu=\"urn:t\"/>",
        ),
        (
            "mustUnderstand=1 counts as true",
            env(&block("env:mustUnderstand=\"1\""), &open),
            SOAP12,
            500,
            "env:MustUnderstand",
        ),
        (
            "mustUnderstand=false blocks are ignored",
            env(&block("env:mustUnderstand=\"false\""), &open),
            SOAP12,
            200,
            "OpenServerItemResponse",
        ),
        (
            "blocks for role none are ignored",
            env(
                &block(
                    "env:mustUnderstand=\"true\" env:role=\"http://www.w3.org/2003/05/soap-envelope/role/none\"",
                ),
                &open,
            ),
            SOAP12,
            200,
            "OpenServerItemResponse",
        ),
        (
            "blocks for the ultimate receiver are ours",
            env(
                &block(
                    "env:mustUnderstand=\"true\" env:role=\"http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver\"",
                ),
                &open,
            ),
            SOAP12,
            500,
            "env:MustUnderstand",
        ),
        (
            "mustUnderstand takes only xs:boolean values",
            env(&block("env:mustUnderstand=\"yes\""), &open),
            SOAP12,
            400,
            "env:Sender",
        ),
        (
            "an unknown envelope namespace is a VersionMismatch with an Upgrade header",
            open.replace(
                "<OpenServerItem",
                "<x:Envelope xmlns:x=\"urn:soap-0.9\"><x:Body><OpenServerItem",
            )
            .replace(
                "</OpenServerItem>",
                "</OpenServerItem></x:Body></x:Envelope>",
            ),
            SOAP12,
            500,
            "<env:SupportedEnvelope qname=\"v0:Envelope\" xmlns:v0=\"http://www.w3.org/2003/05/soap-envelope\"/>",
        ),
        (
            "a DTD is refused with a Sender fault",
            format!("<!DOCTYPE env:Envelope []>{}", env("", &open)),
            SOAP12,
            400,
            "hp:dtd_not_allowed",
        ),
        (
            "a processing instruction is refused",
            format!("<?pi x?>{}", env("", &open)),
            SOAP12,
            400,
            "hp:dtd_not_allowed",
        ),
        (
            "an empty Body is a Sender fault",
            env("", ""),
            SOAP12,
            400,
            "the Body is empty",
        ),
        (
            "Sender faults are 400",
            env("", &open.replace(&serial, "9_9.AAAAAAAAAAAAAAAA")),
            SOAP12,
            400,
            "hp:unknown_serial",
        ),
        (
            "a 1.2 envelope needs application/soap+xml",
            env("", &open),
            SOAP11,
            400,
            "needs Content-Type application/soap+xml",
        ),
        (
            "the action parameter may name the called operation",
            env("", &open),
            "application/soap+xml; action=\"urn:holdpoint:server-items/OpenServerItem\"",
            200,
            "OpenServerItemResponse",
        ),
        (
            "a fault is answered as application/soap+xml",
            env("", ""),
            SOAP12,
            400,
            "<env:Text xml:lang=\"en\">",
        ),
    ];
    for (what, body, content_type, status, needle) in rules {
        let reply = post(&server, Some("erp"), content_type, None, body).await;
        assert_eq!(reply.status, status, "{what}: {}", reply.body);
        assert!(
            reply.body.contains(needle),
            "{what}: expected `{needle}` in {}",
            reply.body
        );
        assert!(
            reply.content_type.starts_with("application/soap+xml"),
            "{what}: {}",
            reply.content_type
        );
        assert!(!reply.body.starts_with('\u{feff}'), "no BOM");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wsdl_is_served_with_the_address_it_was_reached_at() {
    let server = api_server(support::sqlite_store().await).await;
    for query in ["wsdl", "WSDL", "Wsdl"] {
        let response = server
            .request(Method::GET, &format!("{ENDPOINT}?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let wsdl = response.text().await.unwrap();
        let address = format!("location=\"{}{ENDPOINT}\"", server.base);
        assert_eq!(wsdl.matches(&address).count(), 2, "both ports: {wsdl}");
        assert!(wsdl.contains("<xs:schema"));
        assert!(wsdl.contains("soap12:binding"));
        holdpoint::soap::reader::read_envelope(
            &wsdl.replace("wsdl:definitions", "s:Envelope"),
            &Default::default(),
        )
        .map(|_| ())
        .unwrap_or_else(|e| {
            // Not an envelope, but it must at least be well-formed XML: only the
            // envelope checks may complain.
            assert!(!e.message.contains("malformed XML"), "{e}")
        });
    }
    let plain = server.request(Method::GET, ENDPOINT).send().await.unwrap();
    assert_eq!(plain.status(), 405);
}

/// The same SOAP calls on both stores, through a real server.
mod on_both_stores {
    use super::*;

    async fn finish_over_both_versions(server: &ApiServer) {
        for (content_type, template) in
            [(SOAP11, "finish.soap11.xml"), (SOAP12, "finish.soap12.xml")]
        {
            let serial = new_item(server, "S-1").await;
            let body = fixture(template).replace("{{serial}}", &serial);
            let reply = post(server, Some("erp"), content_type, None, body.clone()).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            assert!(
                reply.body.contains("<status>waiting</status>"),
                "{}",
                reply.body
            );
            let again = post(server, Some("erp"), content_type, None, body).await;
            assert!(again.body.contains("item_not_open"), "{}", again.body);
            let history = server
                .te
                .engine
                .history(
                    serial.split('_').next().unwrap().parse().unwrap(),
                    &Caller::new("tester", "test"),
                )
                .await
                .unwrap();
            let finished = history
                .iter()
                .find(|h| h.kind == "server_item_finished")
                .unwrap();
            assert_eq!(
                (finished.actor.as_str(), finished.dialect.as_str()),
                ("erp", "soap")
            );
            assert_eq!(finished.source.as_deref(), Some("127.0.0.1"));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        finish_over_both_versions(&api_server(support::sqlite_store().await).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(store) = support::postgres_store().await else {
            return;
        };
        finish_over_both_versions(&api_server(store).await).await;
    }
}
