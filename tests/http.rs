//! The real HTTP app: health and readiness, including a database that goes away and
//! comes back.

mod support;
use support::workflows::*;

use std::time::Duration;

use actix_web::{test, web};
use holdpoint::app::{AppState, create_app};
use holdpoint::engine::EngineError;
use holdpoint::store::{Connections, StoreTarget};
use serde_json::{Map, Value, json};
use support::proxy::CuttableProxy;

/// An engine on `store` and the app state built on it.
async fn state_for(
    store: std::sync::Arc<dyn holdpoint::store::Store>,
) -> (web::Data<AppState>, support::TestEngine) {
    let te = support::engine_with(store, ALL, support::test_config()).await;
    (
        web::Data::new(AppState::new(
            te.engine.clone(),
            std::sync::Arc::new(holdpoint::auth::Accounts::new(
                te.engine.store().clone(),
                std::time::Duration::from_secs(60),
            )),
        )),
        te,
    )
}

#[actix_web::test]
async fn health_and_readiness_on_the_embedded_store() {
    let store = support::sqlite_store().await;
    let (state, _te) = state_for(store.store.clone()).await;
    let app = test::init_service(create_app(state)).await;
    let health =
        test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(health.status(), 200);
    let ready =
        test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(ready.status(), 200);
    let body: Value = test::read_body_json(ready).await;
    assert_eq!(body, json!({"status": "ready"}));
}

#[actix_web::test]
async fn a_lost_database_is_store_unavailable_and_recovers() {
    let Some(url) = support::pg::fresh_database().await else {
        return;
    };
    let config: tokio_postgres::Config = url.parse().expect("url");
    let port = config.get_ports().first().copied().expect("port");
    let proxy = CuttableProxy::start(format!("127.0.0.1:{port}").parse().unwrap()).await;
    let proxied = url.replace(&format!(":{port}/"), &format!(":{}/", proxy.address.port()));
    let target = StoreTarget::Postgres {
        url: proxied,
        connections: Connections {
            pool_size: 4,
            ..Connections::ONE
        },
    };
    let store = holdpoint::store::open(&target)
        .await
        .expect("store through the proxy");
    let (state, te) = state_for(store).await;
    let app = test::init_service(create_app(state)).await;
    let started = te
        .engine
        .start(holdpoint::engine::StartRequest {
            workflow: "single-item".into(),
            fields: Map::new(),
            folio: None,
            event: json!({}),
            caller: support::caller(),
            idempotency_key: None,
        })
        .await
        .expect("start while the database is there");
    let serial = started.instance.waits[0].serial.clone().unwrap();
    holdpoint::auth::Accounts::new(te.engine.store().clone(), Duration::ZERO)
        .add(&holdpoint::auth::NewAccount {
            name: "erp".into(),
            password: "erp-pw".into(),
            admin: true,
            rights: vec![],
        })
        .await
        .expect("account while the database is there");

    proxy.cut();
    // An API call: even authentication needs the store, so nothing can be acknowledged.
    let finish = test::TestRequest::post()
        .uri(&format!("/api/workflow/v1/serverEvents/{serial}/finish"))
        .insert_header(("Authorization", "Basic ZXJwOmVycC1wdw=="))
        .insert_header(("Content-Type", "application/json"))
        .set_payload("{\"dataFields\": {}}")
        .to_request();
    let refused = test::call_service(&app, finish).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers().get("retry-after").unwrap(), "5");
    let body: Value = test::read_body_json(refused).await;
    assert_eq!(body["code"], json!("store_unavailable"));
    let ready =
        test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.headers().get("retry-after").unwrap(), "5");
    let body: Value = test::read_body_json(ready).await;
    assert_eq!(body["code"], json!("store_unavailable"));
    assert!(
        !body["message"].as_str().unwrap().contains("127.0.0.1"),
        "no driver text for clients"
    );
    let finish = te
        .engine
        .finish_server_item(&serial, &Map::new(), &support::caller(), None)
        .await;
    assert!(
        matches!(finish, Err(EngineError::StoreUnavailable(_))),
        "{finish:?}"
    );

    proxy.restore();
    let mut recovered = false;
    for _ in 0..50 {
        let ready =
            test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
        if ready.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the pool reconnects by itself");
    let finished = te
        .engine
        .finish_server_item(&serial, &Map::new(), &support::caller(), None)
        .await;
    assert!(
        finished.is_ok(),
        "nothing was half-applied during the outage: {finished:?}"
    );
}
