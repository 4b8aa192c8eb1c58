//! The SharePoint remote event receiver over real HTTP: ProcessEvent runs matching
//! workflows inline and answers what their `reply` step says; golden envelopes for
//! Continue, CancelWithError with a message, and ChangedItemProperties. A default install
//! refuses events without its receiver key, before anything is queued or run.

mod support;

use std::path::Path;

use holdpoint::soap::{Limits, read_envelope};
use reqwest::Method;
use support::api::{ApiServer, api_server_with};

const ENDPOINT: &str = "/sharepoint/RemoteEventService.svc";

/// Refuses orders over 1000 while they are being added; titles the others.
const GUARD: &str = support::workflows::SP_GUARD;

/// Fails on item updates; its trigger cancels the change when that happens.
const BROKEN: &str = r#"
id = "77777777-7777-4777-8777-777777777777"
name = "sp-broken"
[[triggers]]
sharepoint = { list = "Orders", events = ["ItemUpdating"] }
action = "start"
on_error = "cancel"
[[steps]]
id = "boom"
kind = "fail"
message = "cannot update {{ event.list_title }} item {{ event.item_id }}"
"#;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/sharepoint")
            .join(name),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Posts as SharePoint does to the URL registered on a default install: the receiver
/// path with the key.
async fn post(server: &ApiServer, body: String) -> (u16, String) {
    let url = format!("{ENDPOINT}{}", server.sharepoint_query().await);
    post_to(server, &url, body).await
}

/// Posts as SharePoint does, with the SOAPAction of the operation in the body.
async fn post_to(server: &ApiServer, url: &str, body: String) -> (u16, String) {
    let operation = if body.contains("<ProcessOneWayEvent") {
        "ProcessOneWayEvent"
    } else {
        "ProcessEvent"
    };
    let action = format!(
        "\"http://schemas.microsoft.com/sharepoint/remoteapp/IRemoteEventService/{operation}\""
    );
    let response = server
        .request(Method::POST, url)
        .header("content-type", "text/xml; charset=utf-8")
        .header("SOAPAction", action)
        .body(body)
        .send()
        .await
        .expect("answer");
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

fn golden(name: &str, status: u16, body: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sharepoint/responses"),
    );
    settings.set_prepend_module_to_snapshot(false);
    let text = format!("HTTP {status}\n\n{}", body.replace("><", ">\n<"));
    settings.bind(|| insta::assert_snapshot!(name, text));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_event_answers_what_the_workflow_replies() {
    let server = api_server_with(support::sqlite_store().await, &[GUARD, BROKEN], 4 << 20).await;
    let adding = fixture("processevent-itemadding.xml");

    let (status, body) = post(&server, adding.clone()).await;
    golden("processevent-cancelwitherror", status, &body);
    assert_eq!(status, 200);
    assert!(body.contains("<Status>CancelWithError</Status>"), "{body}");
    assert!(
        body.contains("orders over 1000 need approval (this one: 1250.5)"),
        "{body}"
    );

    let small = adding.replace(">1250.5<", ">99<");
    let (status, body) = post(&server, small).await;
    golden("processevent-changeditemproperties", status, &body);
    assert!(body.contains("<a:Key>Title</a:Key>"), "{body}");
    assert!(
        body.contains("Order 4711 (checked by Ann Example)"),
        "{body}"
    );
    assert!(body.contains("<Status>Continue</Status>"));

    let elsewhere = adding.replace(
        "<ListTitle>Orders</ListTitle>",
        "<ListTitle>Invoices</ListTitle>",
    );
    let (status, body) = post(&server, elsewhere).await;
    golden("processevent-continue", status, &body);
    assert!(body.contains("<Status>Continue</Status>"), "{body}");

    let updating = fixture("processevent-itemupdating-typed.xml");
    let (status, body) = post(&server, updating).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("<Status>CancelWithError</Status>"),
        "on_error = cancel: {body}"
    );
    assert!(body.contains("cannot update Orders item 12"), "{body}");

    let one_way = fixture("processevent-itemadding.xml")
        .replace("<ProcessEvent ", "<ProcessOneWayEvent ")
        .replace("</ProcessEvent>", "</ProcessOneWayEvent>");
    let (status, body) = post(&server, one_way).await;
    assert_eq!(
        (status, body.as_str()),
        (202, ""),
        "queued (see tests/inbound.rs)"
    );

    // The first start is in the history, by the SharePoint dialect, with the event.
    let history = server.get("root", "/api/v1/instances/1/history").await;
    assert_eq!(history.body[0]["kind"], "started");
    assert_eq!(history.body[0]["dialect"], "sharepoint");
    assert_eq!(history.body[0]["source"], "127.0.0.1");
    let first = server.get("root", "/api/v1/instances/1").await;
    assert_eq!(first.body["status"], "completed");
    assert_eq!(first.body["reply"]["status"], "CancelWithError");
}

/// Our CancelWithError answer has the shape of the one Microsoft's sample returns
/// (`../shared/reference/sharepoint/response_processevent_cancelwitherror_spdevdocs.xml`):
/// the same elements, in the same order, in the same namespaces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_answer_has_the_shape_of_the_reference() {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/sharepoint/response_processevent_cancelwitherror_spdevdocs.xml");
    let Ok(expected) = std::fs::read_to_string(&reference) else {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "the reference answer is expected at {}",
            reference.display()
        );
        eprintln!(
            "\n*** SKIPPED: no reference answer at {} ***\n",
            reference.display()
        );
        return;
    };
    let server = api_server_with(support::sqlite_store().await, &[GUARD], 4 << 20).await;
    let (_, ours) = post(&server, fixture("processevent-itemadding.xml")).await;
    let shape = |text: &str| {
        let envelope = read_envelope(text, &Limits::default()).expect("an envelope");
        let result = &envelope.body.children[0];
        (
            envelope.body.namespace.to_string(),
            envelope.body.name.to_string(),
            result.name.to_string(),
            result
                .children
                .iter()
                .map(|c| (c.namespace.to_string(), c.name.to_string(), c.is_nil()))
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(shape(&ours), shape(&expected));
}

/// `[sharepoint] auth = "context_token"`: only events whose ContextToken is signed with the
/// client secret, for this receiver, and unexpired are processed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_tokens_are_checked() {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    use holdpoint::config::sharepoint::ContextTokenSettings;
    use holdpoint::config::sharepoint::{SharePointAuth, SharePointSettings};

    let secret = base64::engine::general_purpose::STANDARD.encode([5u8; 32]);
    let settings = SharePointSettings {
        auth: SharePointAuth::ContextToken(ContextTokenSettings {
            client_id: "c1".into(),
            client_secret: secret.clone(),
            realm: None,
        }),
        ..SharePointSettings::default()
    };
    let server = support::api::api_server_custom(
        support::sqlite_store().await,
        &[GUARD],
        4 << 20,
        Some(holdpoint::config::SoapSettings {
            sharepoint: settings,
            ..Default::default()
        }),
    )
    .await;
    let host = server.base.trim_start_matches("http://").to_string();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let sign = |claims: serde_json::Value, key: &[u8]| {
        let signed = format!(
            "{}.{}",
            b64(br#"{"typ":"JWT","alg":"HS256"}"#),
            b64(claims.to_string().as_bytes())
        );
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
        mac.update(signed.as_bytes());
        format!("{signed}.{}", b64(&mac.finalize().into_bytes()))
    };
    let now = support::T0 / 1000;
    let good = sign(
        serde_json::json!({"aud": format!("c1/{host}@realm-1"), "exp": now + 600}),
        &[5u8; 32],
    );
    let with_token = |token: &str| {
        fixture("processevent-itemadding.xml").replace(
            "<ContextToken/>",
            &format!("<ContextToken>{token}</ContextToken>"),
        )
    };
    // No receiver key: the context token is the credential in this mode.
    let (status, body) = post_to(&server, ENDPOINT, with_token(&good)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("CancelWithError"),
        "processed by the workflow: {body}"
    );
    let forged = sign(
        serde_json::json!({"aud": format!("c1/{host}@realm-1"), "exp": now + 600}),
        &[6u8; 32],
    );
    let expired = sign(
        serde_json::json!({"aud": format!("c1/{host}@realm-1"), "exp": now - 3600}),
        &[5u8; 32],
    );
    let elsewhere = sign(
        serde_json::json!({"aud": "c1/other.example@realm-1", "exp": now + 600}),
        &[5u8; 32],
    );
    for (what, body) in [
        ("forged", with_token(&forged)),
        ("expired", with_token(&expired)),
        ("for another host", with_token(&elsewhere)),
        ("missing", fixture("processevent-itemadding.xml")),
    ] {
        let (status, answer) = post_to(&server, ENDPOINT, body).await;
        assert_eq!(status, 401, "{what}: {answer}");
        assert!(answer.contains("unauthenticated"), "{what}: {answer}");
    }
}

/// Records the title of each order added (one-way ItemAdded events, through the queue).
const RECORDER: &str = r#"
id = "99999999-9999-4999-8999-999999999999"
name = "sp-recorder"
[fields]
title = { type = "string" }
[[triggers]]
sharepoint = { list = "Orders", events = ["ItemAdded"] }
action = "start"
[[steps]]
id = "record"
kind = "set"
fields = { title = "{{ event.after.Title }}" }
[[steps]]
id = "done"
kind = "end"
"#;

fn item_added_one_way() -> String {
    fixture("processevent-itemadding.xml")
        .replace("<ProcessEvent ", "<ProcessOneWayEvent ")
        .replace("</ProcessEvent>", "</ProcessOneWayEvent>")
        .replace(
            "<EventType>ItemAdding</EventType>",
            "<EventType>ItemAdded</EventType>",
        )
}

/// A refusal of the receiver key: a Client fault, without a Basic challenge (SharePoint
/// would not answer one: the key travels in the URL).
fn assert_refused(what: &str, (status, body): (u16, String)) {
    assert_eq!(status, 500, "{what}: {body}");
    assert!(
        body.contains(":Client</faultcode>") && body.contains("unauthenticated"),
        "{what}: {body}"
    );
    assert!(body.contains("receiver key"), "{what}: {body}");
}

/// A fresh install (no `[sharepoint] auth` written): a forged event, without the key or
/// with another, is refused and nothing is queued or run; the registered URL's event is
/// queued and delivered; the WSDL stays public.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_install_refuses_forged_events() {
    let server = api_server_with(support::sqlite_store().await, &[GUARD, RECORDER], 4 << 20).await;
    let wrong = format!("{ENDPOINT}?key=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    for (what, url) in [("no key", ENDPOINT), ("a wrong key", wrong.as_str())] {
        let forged = post_to(&server, url, item_added_one_way()).await;
        assert_refused(what, forged);
        let inline = post_to(&server, url, fixture("processevent-itemadding.xml")).await;
        assert_refused(what, inline);
    }
    let queue = server.get("root", "/api/v1/inbound-events").await;
    assert_eq!(queue.body, serde_json::json!([]), "nothing queued");
    assert_eq!(
        server.get("root", "/api/v1/instances/1").await.status,
        404,
        "nothing run"
    );
    let wsdl = server
        .request(Method::GET, &format!("{ENDPOINT}?wsdl"))
        .send()
        .await
        .unwrap();
    assert_eq!(wsdl.status(), 200, "the WSDL is public metadata");
    let wsdl = wsdl.text().await.unwrap();
    assert!(wsdl.contains("ProcessOneWayEvent") && !wsdl.contains("key="));

    let (status, body) = post(&server, item_added_one_way()).await;
    assert_eq!((status, body.as_str()), (202, ""), "the registered URL");
    let queue = server.get("root", "/api/v1/inbound-events").await;
    assert_eq!(
        queue.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        queue.body
    );
    assert_eq!(server.te.engine.run_inbound_once().await.unwrap(), 1);
    let instance = server.get("root", "/api/v1/instances/1").await;
    assert_eq!(instance.body["status"], "completed", "{}", instance.body);
    assert_eq!(instance.body["fields"]["title"], "Order 4711");
}

/// A rotated key replaces the old one (read afresh here: no cache), and `anonymous`
/// accepts any event, but only when the operator writes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_invalidates_the_old_one() {
    use holdpoint::config::SoapSettings;
    use holdpoint::config::sharepoint::{SharePointAuth, SharePointSettings};
    use holdpoint::services::sharepoint::receiver_key;

    let custom = |auth| SoapSettings {
        sharepoint: SharePointSettings {
            auth,
            key_cache_ttl: std::time::Duration::ZERO,
            ..SharePointSettings::default()
        },
        ..SoapSettings::default()
    };
    let store = support::sqlite_store().await;
    let server = support::api::api_server_custom(
        store,
        &[GUARD],
        4 << 20,
        Some(custom(SharePointAuth::ReceiverKey)),
    )
    .await;
    let old = format!("{ENDPOINT}{}", server.sharepoint_query().await);
    let (status, body) = post_to(&server, &old, fixture("processevent-itemadding.xml")).await;
    assert_eq!(status, 200, "{body}");
    let rotated = receiver_key::rotate(server.store.store.as_ref())
        .await
        .unwrap();
    assert_refused(
        "the old key",
        post_to(&server, &old, fixture("processevent-itemadding.xml")).await,
    );
    let new = format!("{ENDPOINT}?{}", rotated.query());
    let (status, body) = post_to(&server, &new, fixture("processevent-itemadding.xml")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("CancelWithError"), "processed: {body}");

    let anonymous = support::api::api_server_custom(
        support::sqlite_store().await,
        &[GUARD],
        4 << 20,
        Some(custom(SharePointAuth::Anonymous)),
    )
    .await;
    let (status, body) =
        post_to(&anonymous, ENDPOINT, fixture("processevent-itemadding.xml")).await;
    assert_eq!(status, 200, "written anonymous: {body}");
    assert!(body.contains("CancelWithError"), "processed: {body}");
}
