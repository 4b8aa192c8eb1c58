//! `holdpoint serve`: config → store → workflows → engine → runners → HTTP → drain.

use std::sync::Arc;

use actix_web::{HttpServer, web};
use tokio::sync::watch;

use super::{describe_store, engine_on, load_workflows};
use crate::app::{AppState, create_app, endpoints};
use crate::auth::{Accounts, BOOTSTRAP_ADMIN};
use crate::config::Config;
use crate::config::sharepoint::SharePointAuth;
use crate::engine::{Engine, runners};
use crate::http::EdgeState;
use crate::services::sharepoint;

pub async fn serve(mut config: Config) -> Result<(), String> {
    // This command alone starts the HTTP workers and their connections.
    config.store = config.store.served_by(config.http.workers);
    // Certificates are checked before anything starts, so a bad one stops the start.
    let tls_config = config
        .tls
        .as_ref()
        .map(crate::http::tls::server_config)
        .transpose()?;
    let workflows = load_workflows(&config.workflows_dir)?;
    let workflow_count = workflows.len();
    let engine = Arc::new(engine_on(&config, workflows).await?);
    let accounts = Arc::new(Accounts::new(engine.store().clone(), config.auth_cache_ttl));
    if let Some(password) = accounts
        .ensure_admin()
        .await
        .map_err(|error| format!("accounts: {error}"))?
    {
        // Shown once; only its hash is stored.
        println!(
            "created account `{BOOTSTRAP_ADMIN}` with password {password}  (shown only now; \
             change it with `holdpoint accounts passwd {BOOTSTRAP_ADMIN}`)"
        );
    }
    let (stop, stopped) = watch::channel(false);
    let mut runner_tasks = runners::spawn(engine.clone(), stopped.clone());
    runner_tasks.push(redeploy_on_sighup(
        engine.clone(),
        config.workflows_dir.clone(),
        stopped,
    )?);

    let state = web::Data::new(app_state(&config, engine.clone(), accounts));
    let http = &config.http;
    let shutdown_secs = http.shutdown_timeout.as_secs().max(1);
    let store = engine.store().clone();
    let mut server = HttpServer::new(move || {
        // Runs on each worker's thread, before it serves anything.
        store.serve_on_this_thread();
        create_app(state.clone())
    })
    .workers(http.workers)
    // actix counts connections per worker; the setting is for the node.
    .max_connections((http.max_connections / http.workers).max(1))
    .keep_alive(if http.keep_alive.is_zero() {
        actix_web::http::KeepAlive::Disabled
    } else {
        actix_web::http::KeepAlive::Timeout(http.keep_alive)
    })
    .shutdown_timeout(shutdown_secs)
    .shutdown_signal(stop_signal()?);
    for address in &http.listen {
        server = server
            .bind(address)
            .map_err(|error| format!("cannot listen on {address}: {error}"))?;
    }
    if let (Some(tls), Some(tls_config)) = (&config.tls, tls_config) {
        for address in &tls.listen {
            server = server
                .bind_rustls_0_23(address, tls_config.clone())
                .map_err(|error| format!("cannot listen on {address} (https): {error}"))?;
        }
    }
    println!(
        "holdpoint {} serving {workflow_count} workflow(s) from {} on the {}",
        env!("CARGO_PKG_VERSION"),
        config.workflows_dir.display(),
        describe_store(&config)
    );
    let sharepoint_query = sharepoint_query(&config, &engine).await?;
    endpoints::print(
        &server.addrs_with_scheme(),
        &config.soap.sharepoint.paths,
        sharepoint_query.as_deref(),
        &config.soap.sharepoint.webhook_paths,
    );
    println!("ready; SIGHUP re-reads the workflows, SIGTERM or Ctrl-C stops gracefully");
    // On SIGTERM or SIGINT (`stop_signal`) actix stops accepting and drains in-flight requests.
    let outcome = server.run().await;
    tracing::info!("http stopped; stopping runners");
    let _ = stop.send(true);
    let drain = futures_util::future::join_all(runner_tasks);
    if tokio::time::timeout(http.shutdown_timeout, drain)
        .await
        .is_err()
    {
        tracing::warn!("runners did not stop within the shutdown timeout");
    }
    outcome.map_err(|error| format!("http server: {error}"))
}

/// The app's state as `config` says: the edge's limits, every service's settings.
fn app_state(config: &Config, engine: Arc<Engine>, accounts: Arc<Accounts>) -> AppState {
    let http = &config.http;
    let mut edge = EdgeState::new(engine, accounts)
        .with_max_body(http.max_body)
        .with_body_timeout(http.body_timeout)
        .with_max_buffered(http.max_buffered);
    edge.soap_limits = config.soap.limits;
    edge.one_way_status = config.soap.one_way_status;
    edge.sender_fault_status = config.soap.sender_fault_status;
    edge.trusted_proxies = http.trusted_proxies.clone();
    let mut state = AppState::from_edge(edge);
    state.remote_events = config.remote_events.clone();
    state.sharepoint_webhook_paths = config.soap.sharepoint.webhook_paths.clone();
    state.workflows_dir = Some(config.workflows_dir.clone());
    state.soap_services = crate::services::soap_services(&config.soap);
    state
}

/// SIGTERM or SIGINT, watched from now on: what starts the graceful stop. Watched before
/// the node says `ready`, where actix's own handlers come only once its server task first
/// runs: a SIGTERM in between (a supervisor stopping a node that had just started) ended
/// the process at once, without draining anything (`tests/serve.rs`, under load).
fn stop_signal() -> Result<impl Future<Output = ()> + Send + 'static, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let watch = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|error| format!("cannot watch {name}: {error}"))
    };
    let mut terminate = watch(SignalKind::terminate(), "SIGTERM")?;
    let mut interrupt = watch(SignalKind::interrupt(), "SIGINT")?;
    Ok(async move {
        let received = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!(signal = received, "stopping gracefully");
    })
}

/// Re-reads the workflows folder on each `SIGHUP` (a deploy without downtime) until the
/// node stops.
fn redeploy_on_sighup(
    engine: Arc<Engine>,
    dir: std::path::PathBuf,
    mut stopped: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups =
        signal(SignalKind::hangup()).map_err(|error| format!("cannot watch SIGHUP: {error}"))?;
    Ok(tokio::spawn(async move {
        loop {
            tokio::select! {
                received = hangups.recv() => {
                    if received.is_none() {
                        break;
                    }
                    tracing::info!(dir = %dir.display(), "SIGHUP: re-reading the workflows folder");
                    crate::services::deploy::deploy_and_log(&engine, &dir).await;
                }
                _ = stopped.changed() => break,
            }
        }
    }))
}

/// What the SharePoint receiver's URLs need (`key=…`), the key made now if there is
/// none yet, so that the listing shows the URL to register.
async fn sharepoint_query(config: &Config, engine: &Engine) -> Result<Option<String>, String> {
    match config.soap.sharepoint.auth {
        SharePointAuth::ReceiverKey => {
            let key = sharepoint::receiver_key::load_or_create(engine.store().as_ref())
                .await
                .map_err(|error| format!("sharepoint receiver key: {error}"))?;
            Ok(Some(key.query()))
        }
        _ => Ok(None),
    }
}
