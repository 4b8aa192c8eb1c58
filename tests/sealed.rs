//! Sealed at rest, on both stores: with a queue key, a delivered SharePoint event's values
//! appear nowhere in the database (the SQLite file and its WAL; every row of every table on
//! PostgreSQL), not in the queue row, the instance's trigger event, history, or a buffered
//! custom event; yet the instance still reads them from `event` in a template after a
//! later resume, and takes the buffered event.

mod support;

use std::path::Path;
use std::time::Duration;

use holdpoint::engine::crypto::QueueKey;
use holdpoint::engine::{Caller, CustomEvent};
use holdpoint::store::{EventScope, StoreTarget};
use reqwest::Method;
use serde_json::{Map, json};
use support::TestStore;
use support::api::{ApiServer, api_server_tuned};

/// Values only the event carries: neither may be stored in plain text.
const TITLE: &str = "Zebra-Quokka-90210";
const USER: &str = "Quill Distinctname";
/// A property of a custom event nobody waits for yet (so it is buffered).
const NOTE: &str = "Marmot-Ledger-31337";

/// Started by the event; after a pause, decides on the event's title and takes a
/// buffered custom event. Only the title's length and its reverse become fields (the
/// definition, stored too, must not name the title either).
const SEALED: &str = r#"
id = "5ea1ed00-0000-4000-8000-000000000001"
name = "sealed-orders"
[fields]
title_length = { type = "number" }
title_reversed = { type = "string" }
[[triggers]]
sharepoint = { list = "Orders", events = ["ItemAdded"] }
action = "start"
[[steps]]
id = "approve"
kind = "wait_event"
event = "approve-{{ event.list_title }}"
deadline = "1h"
[[steps]]
id = "check"
kind = "decide"
when = [{ if = "(event.after.Title | length) == 18", goto = "measure" }]
else = "wrong"
[[steps]]
id = "measure"
kind = "set"
fields = { title_length = "{{ event.after.Title | length }}", title_reversed = "{{ event.after.Title | reverse }}" }
[[steps]]
id = "note"
kind = "wait_event"
event = "note-{{ event.list_title }}"
deadline = "1h"
next = "done"
[[steps]]
id = "wrong"
kind = "fail"
message = "the event did not open"
[[steps]]
id = "done"
kind = "end"
"#;

fn item_added() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/sharepoint/processevent-itemadding.xml"),
    )
    .expect("fixture")
    .replace("<ProcessEvent ", "<ProcessOneWayEvent ")
    .replace("</ProcessEvent>", "</ProcessOneWayEvent>")
    .replace(
        "<EventType>ItemAdding</EventType>",
        "<EventType>ItemAdded</EventType>",
    )
    .replace("Order 4711", TITLE)
    .replace("Ann Example", USER)
}

/// Everything the database holds, as bytes to search.
async fn database_contents(store: &TestStore) -> Vec<u8> {
    match &store.target {
        StoreTarget::Sqlite { path } => {
            let mut everything = std::fs::read(path).expect("the database file");
            let wal = path.with_extension("db-wal");
            everything.extend(std::fs::read(wal).unwrap_or_default());
            everything
        }
        StoreTarget::Postgres { url, .. } => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(connection);
            let tables = client
                .query(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
                    &[],
                )
                .await
                .expect("tables");
            let mut everything = Vec::new();
            for table in tables {
                let name: String = table.get(0);
                let sql =
                    format!("SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM \"{name}\" t");
                let text: String = client.query_one(&sql, &[]).await.expect("rows").get(0);
                everything.extend(text.into_bytes());
            }
            everything
        }
    }
}

/// Whether `needle` is in `haystack`, as text or as the hex PostgreSQL shows bytea in.
fn holds(haystack: &[u8], needle: &str) -> bool {
    let hex: String = needle.bytes().map(|b| format!("{b:02x}")).collect();
    [needle.as_bytes(), hex.as_bytes()]
        .iter()
        .any(|n| haystack.windows(n.len()).any(|w| w == *n))
}

async fn assert_sealed(server: &ApiServer, when: &str) {
    let everything = database_contents(&server.store).await;
    assert!(
        holds(&everything, "approve-Orders"),
        "{when}: the scan sees what is stored in plain text (the wait's event name)"
    );
    for secret in [TITLE, USER, NOTE] {
        assert!(
            !holds(&everything, secret),
            "{when}: `{secret}` is stored in plain text"
        );
    }
}

async fn send(server: &ApiServer, name: &str, properties: Map<String, serde_json::Value>) {
    server
        .te
        .engine
        .send_custom_event(&CustomEvent {
            name: name.into(),
            properties,
            scope: EventScope::External,
            caller: Caller::new("tester", "test"),
            message_id: None,
            ttl: None,
        })
        .await
        .expect("send the event");
}

async fn sealed_at_rest(store: TestStore) {
    let mut config = support::test_config();
    config.queue.encryption_key = Some(QueueKey::from_bytes([0x5e; 32]));
    let server = api_server_tuned(store, &[SEALED], 4 << 20, None, config, |_| {}).await;
    let receiver = format!(
        "/sharepoint/RemoteEventService.svc{}",
        server.sharepoint_query().await
    );
    let response = server
        .request(Method::POST, &receiver)
        .header("content-type", "text/xml; charset=utf-8")
        .header("SOAPAction", "\"http://schemas.microsoft.com/sharepoint/remoteapp/IRemoteEventService/ProcessOneWayEvent\"")
        .body(item_added())
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 202);
    assert_eq!(server.te.engine.run_inbound_once().await.unwrap(), 1);
    let rows = server.get("root", "/api/v1/inbound-events").await;
    assert_eq!(rows.body[0]["state"], json!("done"), "{}", rows.body);
    let id = rows.body[0]["instance_id"].as_i64().expect("an instance");

    // Nobody waits for the note yet: it is buffered, with its properties.
    let note = Map::from_iter([("secret_note".to_string(), json!(NOTE))]);
    send(&server, "note-Orders", note).await;
    assert_sealed(&server, "delivered, note buffered").await;

    // Later, the instance resumes: its templates still see the event; it takes the note.
    server.te.clock.advance(Duration::from_secs(30));
    send(&server, "approve-Orders", Map::new()).await;
    let instance = server.get("root", &format!("/api/v1/instances/{id}")).await;
    assert_eq!(
        instance.body["status"],
        json!("completed"),
        "{}",
        instance.body
    );
    assert_eq!(instance.body["fields"]["title_length"], json!(TITLE.len()));
    let reversed: String = TITLE.chars().rev().collect();
    assert_eq!(instance.body["fields"]["title_reversed"], json!(reversed));
    assert!(
        instance.body.get("trigger_event").is_none(),
        "views do not show the trigger event"
    );
    let history = server
        .get("root", &format!("/api/v1/instances/{id}/history"))
        .await;
    let kinds: Vec<&str> = history
        .body
        .as_array()
        .expect("history rows")
        .iter()
        .filter_map(|row| row["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"event_taken_from_buffer"), "{kinds:?}");
    assert_sealed(&server, "completed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_events_are_sealed_on_sqlite() {
    sealed_at_rest(support::sqlite_store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_events_are_sealed_on_postgres() {
    let Some(store) = support::postgres_store().await else {
        return;
    };
    sealed_at_rest(store).await;
}
