//! End-to-end tests of the native JSON API and the K2 REST routes: a real server on a
//! loopback port, real HTTP, on the embedded store and on PostgreSQL.

mod support;

api_suite!(
    start_get_history_and_cancel,
    idempotent_start_returns_the_first_instance,
    server_items_open_extend_finish_and_fail,
    k2_finish_is_204_then_409_unless_the_key_repeats,
    k2_routes_answer_in_every_casing,
    forged_or_altered_serials_are_unknown,
    a_custom_event_wakes_two_instances,
    missing_or_wrong_credentials_are_401,
    permissions_are_enforced_with_403,
    bad_requests_are_400_and_name_the_problem,
    oversized_bodies_are_413,
    waits_and_workflows_are_listed,
    openapi_document_lists_every_route,
);

mod cases {
    use holdpoint::app::ENDPOINTS;
    use reqwest::{Method, StatusCode};
    use serde_json::{Value, json};

    use super::support::api::{Answer, ApiServer, TEST_MAX_BODY, send};

    const PERMITTED: &str = "55555555-5555-4555-8555-555555555555";

    async fn start(server: &ApiServer, user: &str, workflow: &str, fields: Value) -> Value {
        let answer = server
            .post(
                user,
                &format!("/api/v1/workflows/{workflow}/instances"),
                json!({ "fields": fields }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body["instance"].clone()
    }

    fn serial_of(instance: &Value) -> String {
        instance["waits"][0]["serial"]
            .as_str()
            .expect("waiting on a server item")
            .to_string()
    }

    fn assert_error(answer: &Answer, status: u16, code: &str) {
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (status, code),
            "{}",
            answer.body
        );
        assert!(!answer.message().is_empty(), "errors say what went wrong");
    }

    pub async fn start_get_history_and_cancel(server: &ApiServer) {
        let answer = server
            .post(
                "erp",
                "/api/v1/workflows/permitted/instances",
                json!({"fields": {"order_id": "A-1", "amount": "12.5"}, "folio": "PO A-1"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        let instance = &answer.body["instance"];
        let id = instance["id"].as_i64().expect("id");
        assert_eq!(
            answer.headers["location"],
            format!("/api/v1/instances/{id}").as_str()
        );
        assert_eq!(answer.body["replayed"], json!(false));
        assert_eq!(instance["status"], json!("waiting"));
        assert_eq!(instance["folio"], json!("PO A-1"));
        assert_eq!(
            instance["fields"]["amount"],
            json!(12.5),
            "converted to number"
        );
        assert_eq!(instance["waits"][0]["kind"], json!("server_item"));

        let fetched = server.get("ops", &format!("/api/v1/instances/{id}")).await;
        assert_eq!(fetched.status, StatusCode::OK);
        assert_eq!(fetched.body["id"], json!(id));
        assert_eq!(fetched.body["workflow_id"], json!(PERMITTED));

        let history = server
            .get("ops", &format!("/api/v1/instances/{id}/history"))
            .await;
        assert_eq!(history.status, StatusCode::OK);
        let first = &history.body[0];
        assert_eq!(first["kind"], json!("started"));
        assert_eq!(first["actor"], json!("erp"));
        assert_eq!(first["dialect"], json!("api"));
        assert_eq!(first["source"], json!("127.0.0.1"));

        let cancelled = server
            .post(
                "erp",
                &format!("/api/v1/instances/{id}/cancel"),
                json!(null),
            )
            .await;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
        assert_eq!(cancelled.body["status"], json!("cancelled"));
        assert_eq!(cancelled.body["waits"], json!([]));
        let again = send(server.as_user(
            "erp",
            Method::POST,
            &format!("/api/v1/instances/{id}/cancel"),
        ))
        .await;
        assert_error(&again, 409, "item_not_open");
        let serial = serial_of(instance);
        let late = server
            .post(
                "erp",
                &format!("/api/v1/server-items/{serial}/finish"),
                json!({}),
            )
            .await;
        assert_error(&late, 409, "item_not_open");
    }

    pub async fn idempotent_start_returns_the_first_instance(server: &ApiServer) {
        let request = || {
            server
                .as_user("erp", Method::POST, "/api/v1/workflows/permitted/instances")
                .header("Idempotency-Key", "order-A-2")
                .json(&json!({"fields": {"order_id": "A-2"}}))
        };
        let first = send(request()).await;
        assert_eq!(first.status, StatusCode::CREATED);
        let second = send(request()).await;
        assert_eq!(second.status, StatusCode::OK, "a repeat is not a creation");
        assert_eq!(second.body["replayed"], json!(true));
        assert_eq!(second.body["instance"]["id"], first.body["instance"]["id"]);
        let waits = server.get("root", "/api/v1/waits?workflow=permitted").await;
        assert_eq!(
            waits.body.as_array().map(Vec::len),
            Some(1),
            "one instance only"
        );
        let history = server
            .get(
                "root",
                &format!("/api/v1/instances/{}/history", first.body["instance"]["id"]),
            )
            .await;
        assert_eq!(history.body[0]["message_id"], json!("order-A-2"));
    }

    pub async fn server_items_open_extend_finish_and_fail(server: &ApiServer) {
        let instance = start(server, "erp", "permitted", json!({"order_id": "B-1"})).await;
        let serial = serial_of(&instance);
        let path = format!("/api/v1/server-items/{serial}");

        let opened = server.get("erp", &path).await;
        assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
        assert_eq!(opened.body["serial"], json!(serial));
        assert_eq!(opened.body["step"], json!("approve"));
        assert_eq!(opened.body["state"], json!("open"));
        assert_eq!(opened.body["fields"]["order_id"], json!("B-1"));
        let posted = server.post("erp", &path, json!(null)).await;
        assert_eq!(posted.status, StatusCode::OK);
        assert_eq!(posted.body["serial"], json!(serial));

        let extended = server
            .post(
                "erp",
                &format!("{path}/extend"),
                json!({"deadline": "2030-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(extended.status, StatusCode::OK, "{}", extended.body);
        assert_eq!(extended.body["deadline"], json!("2030-01-01T00:00:00.000Z"));
        let by = server
            .post("erp", &format!("{path}/extend"), json!({"extend_by": "3h"}))
            .await;
        assert_eq!(by.status, StatusCode::OK, "{}", by.body);
        let past = server
            .post(
                "erp",
                &format!("{path}/extend"),
                json!({"deadline": "2001-01-01T00:00:00Z"}),
            )
            .await;
        assert_error(&past, 400, "malformed_request");

        let finished = server
            .post(
                "erp",
                &format!("{path}/finish"),
                json!({"fields": {"approved": "true", "amount": 99}}),
            )
            .await;
        assert_eq!(finished.status, StatusCode::OK, "{}", finished.body);
        let after = &finished.body["instance"];
        assert_eq!(after["fields"]["approved"], json!(true));
        assert_eq!(after["fields"]["amount"], json!(99));
        assert_eq!(after["current_step"], json!("ship"));
        assert_eq!(after["waits"][0]["event_name"], json!("shipped-B-1"));
        let reopened = server.get("erp", &path).await;
        assert_error(&reopened, 409, "item_not_open");

        let other = start(server, "erp", "permitted", json!({"order_id": "B-2"})).await;
        let failed = server
            .post(
                "erp",
                &format!("/api/v1/server-items/{}/fail", serial_of(&other)),
                json!({"message": "ERP rejected the order"}),
            )
            .await;
        assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
        assert_eq!(failed.body["status"], json!("failed"));
        assert_eq!(failed.body["error"], json!("rejected: B-2"), "on_error ran");
        let history = server
            .get("erp", &format!("/api/v1/instances/{}/history", other["id"]))
            .await;
        let failure = history
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["kind"] == json!("server_item_failed"))
            .expect("failure recorded");
        assert_eq!(failure["detail"]["error"], json!("ERP rejected the order"));
        assert_eq!(failure["actor"], json!("erp"));
    }

    pub async fn k2_routes_answer_in_every_casing(server: &ApiServer) {
        let instance = start(server, "erp", "permitted", json!({"order_id": "K-3"})).await;
        let serial = serial_of(&instance);
        let opened = server
            .get("erp", &format!("/API/Workflow/V1/SERVEREVENTS/{serial}"))
            .await;
        assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
        assert_eq!(opened.body["serialNumber"], json!(serial));
        let finished = server
            .post(
                "erp",
                &format!("/api/workflow/v1/serverevents/{serial}/Finish"),
                json!({"dataFields": {"approved": true}}),
            )
            .await;
        assert_eq!(finished.status, StatusCode::NO_CONTENT, "{}", finished.body);
        let again = server
            .post(
                "erp",
                &format!("/api/workflow/v1/serverEvents/{serial}/finish"),
                json!({"dataFields": {}}),
            )
            .await;
        assert_error(&again, 409, "item_not_open");
        // The serial is data: its casing is kept, so a recased signed serial is unknown.
        let recased = serial_of(&start(server, "erp", "permitted", json!({})).await);
        let swapped: String = recased
            .chars()
            .map(|c| {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        assert_ne!(swapped, recased, "a signed serial has letters");
        let unknown = server
            .get("erp", &format!("/api/workflow/v1/serverevents/{swapped}"))
            .await;
        assert_error(&unknown, 404, "unknown_serial");
    }

    pub async fn k2_finish_is_204_then_409_unless_the_key_repeats(server: &ApiServer) {
        let instance = start(server, "erp", "permitted", json!({"order_id": "K-1"})).await;
        let serial = serial_of(&instance);
        let k2 = format!("/api/workflow/v1/serverEvents/{serial}");
        let opened = server.get("erp", &k2).await;
        assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
        assert_eq!(opened.body["serialNumber"], json!(serial));
        assert_eq!(opened.body["workflowInstanceId"], instance["id"]);
        assert_eq!(opened.body["dataFields"]["order_id"], json!("K-1"));

        let finish = || {
            server
                .as_user("erp", Method::POST, &format!("{k2}/finish"))
                .json(&json!({"dataFields": {"approved": true}}))
        };
        let first = send(finish()).await;
        assert_eq!(first.status, StatusCode::NO_CONTENT, "{}", first.body);
        assert_eq!(first.body, Value::Null, "204 has no body");
        let repeat = send(finish()).await;
        assert_error(&repeat, 409, "item_not_open");
        let with_refs = server
            .post(
                "erp",
                &format!("{k2}/finish"),
                json!({"dataFields": {}, "itemReferences": {"Order": [1]}}),
            )
            .await;
        assert_error(&with_refs, 501, "not_supported");

        let keyed = start(server, "erp", "permitted", json!({"order_id": "K-2"})).await;
        let keyed_path = format!("/api/workflow/v1/serverEvents/{}/finish", serial_of(&keyed));
        let with_key = || {
            server
                .as_user("erp", Method::POST, &keyed_path)
                .header("Idempotency-Key", "erp-msg-77")
                .json(&json!({"dataFields": {"approved": true}, "itemReferences": {}}))
        };
        assert_eq!(send(with_key()).await.status, StatusCode::NO_CONTENT);
        let replay = send(with_key()).await;
        assert_eq!(
            replay.status,
            StatusCode::NO_CONTENT,
            "the first outcome again"
        );
        let history = server
            .get("erp", &format!("/api/v1/instances/{}/history", keyed["id"]))
            .await;
        let finishes: Vec<&Value> = history
            .body
            .as_array()
            .unwrap()
            .iter()
            .filter(|row| row["kind"] == json!("server_item_finished"))
            .collect();
        assert_eq!(finishes.len(), 1, "applied once");
        assert_eq!(finishes[0]["dialect"], json!("k2"));
        assert_eq!(finishes[0]["message_id"], json!("erp-msg-77"));
        assert_eq!(finishes[0]["source"], json!("127.0.0.1"));
    }

    pub async fn forged_or_altered_serials_are_unknown(server: &ApiServer) {
        let instance = start(server, "erp", "permitted", json!({"order_id": "F-1"})).await;
        let serial = serial_of(&instance);
        let (plain, mac) = serial.split_once('.').expect("signed serial");
        let mut flipped = mac.chars().collect::<Vec<_>>();
        flipped[0] = if flipped[0] == 'A' { 'B' } else { 'A' };
        let flipped: String = flipped.into_iter().collect();
        let (instance_part, wait_part) = plain.split_once('_').unwrap();
        let forged = [
            plain.to_string(),
            format!("{plain}.{flipped}"),
            format!(
                "{instance_part}_{}.{mac}",
                wait_part.parse::<i64>().unwrap() + 1
            ),
            format!(
                "{}_{wait_part}.{mac}",
                instance_part.parse::<i64>().unwrap() + 1
            ),
            "not-a-serial".to_string(),
        ];
        for bad in &forged {
            let api = server
                .post(
                    "erp",
                    &format!("/api/v1/server-items/{bad}/finish"),
                    json!({}),
                )
                .await;
            assert_error(&api, 404, "unknown_serial");
            let k2 = server
                .post(
                    "erp",
                    &format!("/api/workflow/v1/serverEvents/{bad}/finish"),
                    json!({"dataFields": {}}),
                )
                .await;
            assert_error(&k2, 404, "unknown_serial");
        }
        let genuine = server
            .get("erp", &format!("/api/v1/server-items/{serial}"))
            .await;
        assert_eq!(
            genuine.status,
            StatusCode::OK,
            "still open after the forgeries"
        );
    }

    pub async fn a_custom_event_wakes_two_instances(server: &ApiServer) {
        let first = start(server, "root", "event-waiter", json!({"key": "x"})).await;
        let second = start(server, "root", "event-waiter", json!({"key": "x"})).await;
        let sent = server
            .post(
                "sender",
                "/api/v1/events/go-x",
                json!({"properties": {"carrier": "DHL"}, "message_id": "m-1"}),
            )
            .await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
        assert_eq!(sent.body["woken"], json!([first["id"], second["id"]]));
        for instance in [&first, &second] {
            let view = server
                .get("root", &format!("/api/v1/instances/{}", instance["id"]))
                .await;
            assert_eq!(view.body["status"], json!("completed"));
            assert_eq!(view.body["fields"]["carrier"], json!("DHL"));
        }
        let duplicate = server
            .post(
                "sender",
                "/api/v1/events/go-x",
                json!({"message_id": "m-1"}),
            )
            .await;
        assert_eq!(duplicate.body["duplicate"], json!(true));
        assert_eq!(duplicate.body["woken"], sent.body["woken"]);
        let buffered = server
            .post("sender", "/api/v1/events/go-later", json!({"ttl": "5m"}))
            .await;
        assert!(buffered.body["buffered_id"].is_i64(), "{}", buffered.body);
        let dropped = server
            .post("sender", "/api/v1/events/go-never", json!({"ttl": 0}))
            .await;
        assert_eq!(dropped.body["buffered_id"], Value::Null);
        let late = start(server, "root", "event-waiter", json!({"key": "later"})).await;
        assert_eq!(
            late["status"],
            json!("completed"),
            "took the buffered event"
        );
        let history = server
            .get(
                "root",
                &format!("/api/v1/instances/{}/history", first["id"]),
            )
            .await;
        let received = history
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["kind"] == json!("event_received"))
            .expect("event recorded");
        assert_eq!(received["actor"], json!("sender"));
        assert_eq!(received["message_id"], json!("m-1"));
    }

    pub async fn missing_or_wrong_credentials_are_401(server: &ApiServer) {
        let path = "/api/v1/workflows";
        let attempts = [
            server.request(Method::GET, path),
            server
                .request(Method::GET, path)
                .basic_auth("erp", Some("wrong")),
            server
                .request(Method::GET, path)
                .basic_auth("nobody", Some("nobody-pw")),
            server
                .request(Method::GET, path)
                .basic_auth("erp", None::<&str>),
            server
                .request(Method::GET, path)
                .header("Authorization", "Basic ###"),
            server.request(Method::GET, path).bearer_auth("token"),
        ];
        for attempt in attempts {
            let answer = send(attempt).await;
            assert_error(&answer, 401, "unauthenticated");
            let challenge = answer.headers["www-authenticate"].to_str().unwrap();
            assert!(
                challenge.starts_with("Basic realm=\"holdpoint\""),
                "{challenge}"
            );
        }
        let k2 =
            send(server.request(Method::POST, "/api/workflow/v1/serverEvents/1_1/finish")).await;
        assert_error(&k2, 401, "unauthenticated");
        for open in ["/healthz", "/readyz"] {
            assert_eq!(send(server.request(Method::GET, open)).await.status, 200);
        }
        assert_eq!(server.get("erp", path).await.status, StatusCode::OK);
    }

    pub async fn permissions_are_enforced_with_403(server: &ApiServer) {
        let denied = server
            .post("ops", "/api/v1/workflows/permitted/instances", json!({}))
            .await;
        assert_error(&denied, 403, "forbidden");
        assert!(denied.message().contains("`start`"), "{}", denied.message());
        let instance = start(server, "erp", "permitted", json!({"order_id": "P-1"})).await;
        let serial = serial_of(&instance);
        let by_ops = server
            .post(
                "ops",
                &format!("/api/v1/server-items/{serial}/finish"),
                json!({}),
            )
            .await;
        assert_error(&by_ops, 403, "forbidden");
        let k2_by_ops = server
            .post(
                "ops",
                &format!("/api/workflow/v1/serverEvents/{serial}/finish"),
                json!({"dataFields": {}}),
            )
            .await;
        assert_error(&k2_by_ops, 403, "forbidden");
        let still_open = server
            .get("erp", &format!("/api/v1/server-items/{serial}"))
            .await;
        assert_eq!(
            still_open.status,
            StatusCode::OK,
            "a refused call changes nothing"
        );

        let view = server
            .get("sender", &format!("/api/v1/instances/{}", instance["id"]))
            .await;
        assert_error(&view, 403, "forbidden");
        let cancel = server
            .post(
                "ops",
                &format!("/api/v1/instances/{}/cancel", instance["id"]),
                json!({}),
            )
            .await;
        assert_error(&cancel, 403, "forbidden");
        let event = server
            .post("erp", "/api/v1/events/shipped-P-1", json!({}))
            .await;
        assert_error(&event, 403, "forbidden");
        assert!(event.message().contains("send_events"));

        // Workflows without `[permissions]` are for admins only.
        let single = server
            .post("erp", "/api/v1/workflows/single-item/instances", json!({}))
            .await;
        assert_error(&single, 403, "forbidden");
        let hidden = server.get("erp", "/api/v1/workflows/single-item").await;
        assert_error(&hidden, 403, "forbidden");
        let listed = server.get("erp", "/api/v1/workflows").await;
        let names: Vec<&str> = listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|w| w["name"].as_str())
            .collect();
        assert_eq!(names, ["permitted"]);
        let everything = server.get("root", "/api/v1/workflows").await;
        assert_eq!(everything.body.as_array().map(Vec::len), Some(5));

        start(server, "root", "single-item", json!({})).await;
        let waits_for_sender = server.get("sender", "/api/v1/waits").await;
        assert_eq!(waits_for_sender.body, json!([]), "sender may view nothing");
        let waits_for_ops = server.get("ops", "/api/v1/waits").await;
        assert_eq!(waits_for_ops.body.as_array().map(Vec::len), Some(1));
        assert_eq!(waits_for_ops.body[0]["serial"], json!(serial));
        let filtered = server
            .get("ops", "/api/v1/waits?workflow=single-item")
            .await;
        assert_error(&filtered, 403, "forbidden");
        let all = server.get("root", "/api/v1/waits").await;
        assert_eq!(all.body.as_array().map(Vec::len), Some(2));
    }

    pub async fn bad_requests_are_400_and_name_the_problem(server: &ApiServer) {
        let unknown_field = server
            .post(
                "erp",
                "/api/v1/workflows/permitted/instances",
                json!({"fields": {"colour": "red"}}),
            )
            .await;
        assert_error(&unknown_field, 400, "invalid_field");
        assert!(
            unknown_field.message().contains("`colour`"),
            "{}",
            unknown_field.message()
        );
        let wrong_type = server
            .post(
                "erp",
                "/api/v1/workflows/permitted/instances",
                json!({"fields": {"amount": "lots"}}),
            )
            .await;
        assert_error(&wrong_type, 400, "invalid_field");
        assert!(
            wrong_type.message().contains("`amount`") && wrong_type.message().contains("number"),
            "{}",
            wrong_type.message()
        );
        let instance = start(server, "erp", "permitted", json!({"order_id": "E-1"})).await;
        let serial = serial_of(&instance);
        let bad_finish = server
            .post(
                "erp",
                &format!("/api/v1/server-items/{serial}/finish"),
                json!({"fields": {"approved": "maybe"}}),
            )
            .await;
        assert_error(&bad_finish, 400, "invalid_field");
        assert!(
            bad_finish.message().contains("boolean"),
            "{}",
            bad_finish.message()
        );
        let k2_unknown = server
            .post(
                "erp",
                &format!("/api/workflow/v1/serverEvents/{serial}/finish"),
                json!({"dataFields": {"nope": 1}}),
            )
            .await;
        assert_error(&k2_unknown, 400, "invalid_field");
        let open = server
            .get("erp", &format!("/api/v1/server-items/{serial}"))
            .await;
        assert_eq!(
            open.status,
            StatusCode::OK,
            "refused finishes leave the item open"
        );

        let path = "/api/v1/workflows/permitted/instances";
        let broken = send(
            server
                .as_user("erp", Method::POST, path)
                .header("content-type", "application/json")
                .body("{\"fields\": {"),
        )
        .await;
        assert_error(&broken, 400, "malformed_request");
        assert!(broken.message().contains("line 1"), "{}", broken.message());
        let form = send(
            server
                .as_user("erp", Method::POST, path)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("fields=1"),
        )
        .await;
        assert_error(&form, 400, "malformed_request");
        assert!(form.message().contains("application/json"));
        let extra = server.post("erp", path, json!({"feilds": {}})).await;
        assert_error(&extra, 400, "malformed_request");
        assert!(extra.message().contains("feilds"), "{}", extra.message());
        let long_key = send(
            server
                .as_user("erp", Method::POST, path)
                .header("Idempotency-Key", "k".repeat(300))
                .json(&json!({})),
        )
        .await;
        assert_error(&long_key, 400, "malformed_request");
        for query in [
            "limit=abc",
            "kind=nope",
            "state=done",
            "limit=0",
            "colour=red",
        ] {
            let answer = server.get("root", &format!("/api/v1/waits?{query}")).await;
            assert_error(&answer, 400, "malformed_request");
        }
        let extend = server
            .post(
                "erp",
                &format!("/api/v1/server-items/{serial}/extend"),
                json!({}),
            )
            .await;
        assert_error(&extend, 400, "malformed_request");
        let ttl = server
            .post("sender", "/api/v1/events/x", json!({"ttl": "soon"}))
            .await;
        assert_error(&ttl, 400, "malformed_request");

        let unknown_workflow = server
            .post("root", "/api/v1/workflows/nope/instances", json!({}))
            .await;
        assert_error(&unknown_workflow, 404, "unknown_workflow");
        let unknown_instance = server.get("root", "/api/v1/instances/999999").await;
        assert_error(&unknown_instance, 404, "unknown_instance");
        let not_a_number = server.get("root", "/api/v1/instances/abc").await;
        assert_error(&not_a_number, 404, "unknown_instance");
        let no_route = server.get("root", "/api/v1/nothing-here").await;
        assert_error(&no_route, 400, "unknown_operation");
        let wrong_method = send(server.as_user("root", Method::DELETE, "/api/v1/waits")).await;
        assert_error(&wrong_method, 400, "unknown_operation");
    }

    pub async fn oversized_bodies_are_413(server: &ApiServer) {
        let instance = start(server, "erp", "permitted", json!({"order_id": "L-1"})).await;
        let path = format!("/api/v1/server-items/{}/finish", serial_of(&instance));
        let big = json!({"fields": {"order_id": "x".repeat(TEST_MAX_BODY)}}).to_string();
        let declared = send(
            server
                .as_user("erp", Method::POST, &path)
                .header("content-type", "application/json")
                .body(big.clone()),
        )
        .await;
        assert_error(&declared, 413, "limit_exceeded");
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
            .into_bytes()
            .chunks(8192)
            .map(|chunk| Ok(chunk.to_vec()))
            .collect();
        let streamed = send(
            server
                .as_user("erp", Method::POST, &path)
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                    chunks,
                ))),
        )
        .await;
        assert_error(&streamed, 413, "limit_exceeded");
        let open = server
            .get(
                "erp",
                &format!("/api/v1/server-items/{}", serial_of(&instance)),
            )
            .await;
        assert_eq!(open.status, StatusCode::OK, "nothing was applied");
    }

    pub async fn waits_and_workflows_are_listed(server: &ApiServer) {
        let item = start(server, "root", "permitted", json!({"order_id": "W-1"})).await;
        start(server, "root", "event-waiter", json!({"key": "w"})).await;
        let by_name = server.get("root", "/api/v1/waits?workflow=permitted").await;
        assert_eq!(by_name.body.as_array().map(Vec::len), Some(1));
        assert_eq!(by_name.body[0]["instance_id"], item["id"]);
        let by_guid = server
            .get("root", &format!("/api/v1/waits?workflow={PERMITTED}"))
            .await;
        assert_eq!(by_guid.body, by_name.body);
        let events = server
            .get("root", "/api/v1/waits?kind=custom_event&event=go-w")
            .await;
        assert_eq!(events.body.as_array().map(Vec::len), Some(1));
        assert_eq!(events.body[0]["event_name"], json!("go-w"));
        server
            .post(
                "root",
                &format!("/api/v1/server-items/{}/finish", serial_of(&item)),
                json!({}),
            )
            .await;
        let finished = server.get("root", "/api/v1/waits?state=finished").await;
        assert_eq!(finished.body.as_array().map(Vec::len), Some(1));
        let all = server.get("root", "/api/v1/waits?state=all&limit=2").await;
        assert_eq!(all.body.as_array().map(Vec::len), Some(2));
        let unknown = server.get("root", "/api/v1/waits?workflow=nope").await;
        assert_error(&unknown, 404, "unknown_workflow");

        let detail = server.get("erp", "/api/v1/workflows/permitted").await;
        assert_eq!(detail.status, StatusCode::OK);
        assert_eq!(detail.body["id"], json!(PERMITTED));
        assert_eq!(
            detail.body["fields"]["amount"],
            json!({"type": "number", "default": 0})
        );
        assert_eq!(
            detail.body["steps"][0],
            json!({"id": "approve", "kind": "server_event"})
        );
        assert_eq!(detail.body["permissions"]["start"], json!(["erp"]));
        let by_guid = server
            .get("erp", &format!("/api/v1/workflows/{PERMITTED}"))
            .await;
        assert_eq!(by_guid.body, detail.body);
        let missing = server.get("root", "/api/v1/workflows/nope").await;
        assert_error(&missing, 404, "unknown_workflow");
    }

    pub async fn openapi_document_lists_every_route(server: &ApiServer) {
        let answer = send(server.request(Method::GET, "/api/v1/openapi.json")).await;
        assert_eq!(answer.status, StatusCode::OK);
        let document = answer.body;
        assert!(
            document["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.")),
            "{}",
            document["openapi"]
        );
        let paths = document["paths"].as_object().expect("paths");
        // SOAP services are described by their WSDL, everything else by this document.
        let rest: Vec<_> = ENDPOINTS.iter().filter(|e| e.in_openapi).collect();
        for endpoint in &rest {
            let method = endpoint.method.to_ascii_lowercase();
            assert!(
                paths
                    .get(endpoint.path)
                    .is_some_and(|item| item.get(&method).is_some()),
                "the OpenAPI document lacks {} {}",
                endpoint.method,
                endpoint.path
            );
        }
        let operations: usize = paths
            .values()
            .map(|item| item.as_object().map_or(0, |o| o.len()))
            .sum();
        assert_eq!(
            operations,
            rest.len(),
            "and documents nothing that is not served"
        );
        assert_eq!(
            document["components"]["securitySchemes"]["basic"]["scheme"],
            json!("basic")
        );
        for endpoint in ENDPOINTS.iter().filter(|e| e.path.starts_with("/api/")) {
            // Every documented route is really served (not 400 unknown_operation).
            let path = endpoint
                .path
                .replace("{id}", "1")
                .replace("{serial}", "1_1")
                .replace("{serialNumber}", "1_1")
                .replace("{name}", "n");
            let method = Method::from_bytes(endpoint.method.as_bytes()).unwrap();
            let answer = send(server.as_user("root", method, &path).json(&json!({}))).await;
            assert_ne!(
                answer.code(),
                "unknown_operation",
                "{} {path}",
                endpoint.method
            );
        }
    }
}
