//! `holdpoint serve`: config → store → workflows → engine → runners → HTTP → drain.

use std::sync::Arc;

use actix_web::{HttpServer, web};
use tokio::sync::watch;

use super::{describe_store, load_workflows};
use crate::auth::{Accounts, BOOTSTRAP_ADMIN};
use crate::config::Config;
use crate::engine::clock::SystemClock;
use crate::engine::{Engine, runners};
use crate::http::{AppState, ENDPOINTS, create_app};
use crate::services::sharepoint;
use crate::store;

pub async fn serve(config: Config) -> Result<(), String> {
    // Certificates are checked before anything starts, so a bad one stops the start.
    let tls_config = config
        .tls
        .as_ref()
        .map(crate::http::tls::server_config)
        .transpose()?;
    let store = store::open(&config.store)
        .await
        .map_err(|error| format!("store: {error}"))?;
    let workflows = load_workflows(&config.workflows_dir)?;
    let workflow_count = workflows.len();
    let engine = Engine::new(
        store,
        Arc::new(workflows),
        config.engine.clone(),
        Arc::new(SystemClock),
    )
    .await
    .map_err(|error| format!("engine: {error}"))?;
    let engine = Arc::new(engine);
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

    let mut app_state = AppState::new(engine.clone(), accounts)
        .with_max_body(config.max_body)
        .with_body_timeout(config.body_timeout)
        .with_max_buffered(config.max_buffered);
    app_state.soap_limits = config.soap_limits;
    app_state.one_way_status = config.one_way_status;
    app_state.remote_events_prefix = config.remote_events_prefix.clone();
    app_state.remote_events_allow_from = config.remote_events_allow_from.clone();
    app_state.trusted_proxies = config.trusted_proxies.clone();
    app_state.workflows_dir = Some(config.workflows_dir.clone());
    app_state.soap_services = crate::services::soap_services(&config.soap_settings);
    let state = web::Data::new(app_state);
    let shutdown_secs = config.shutdown_timeout.as_secs().max(1);
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let mut server = HttpServer::new(move || create_app(state.clone()))
        .workers(workers)
        // actix counts connections per worker; the setting is for the node.
        .max_connections(config.max_connections.div_ceil(workers).max(1))
        .keep_alive(if config.keep_alive.is_zero() {
            actix_web::http::KeepAlive::Disabled
        } else {
            actix_web::http::KeepAlive::Timeout(config.keep_alive)
        })
        .shutdown_timeout(shutdown_secs);
    for address in &config.listen {
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
    print_endpoints(
        &config,
        &server.addrs_with_scheme(),
        sharepoint_query.as_deref(),
    );
    println!("ready; SIGHUP re-reads the workflows, SIGTERM or Ctrl-C stops gracefully");
    // actix handles SIGINT/SIGTERM: it stops accepting and drains in-flight requests.
    let outcome = server.run().await;
    tracing::info!("http stopped; stopping runners");
    let _ = stop.send(true);
    let drain = futures_util::future::join_all(runner_tasks);
    if tokio::time::timeout(config.shutdown_timeout, drain)
        .await
        .is_err()
    {
        tracing::warn!("runners did not stop within the shutdown timeout");
    }
    outcome.map_err(|error| format!("http server: {error}"))
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
    match config.soap_settings.sharepoint.auth {
        sharepoint::service::SharePointAuth::ReceiverKey => {
            let key = sharepoint::receiver_key::load_or_create(engine.store().as_ref())
                .await
                .map_err(|error| format!("sharepoint receiver key: {error}"))?;
            Ok(Some(key.query()))
        }
        _ => Ok(None),
    }
}

/// Every endpoint at every bound address, with its scheme; the SharePoint receiver with
/// the query its registration needs.
fn print_endpoints(
    config: &Config,
    bound: &[(std::net::SocketAddr, &str)],
    sharepoint_query: Option<&str>,
) {
    for (address, scheme) in bound {
        for endpoint in ENDPOINTS {
            // The SharePoint receiver is served at the configured paths.
            let paths: Vec<String> = if endpoint.path == sharepoint::service::DEFAULT_PATH {
                let query = sharepoint_query
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default();
                config
                    .soap_settings
                    .sharepoint
                    .paths
                    .iter()
                    .map(|path| format!("{path}{query}"))
                    .collect()
            } else {
                vec![endpoint.path.to_string()]
            };
            for path in paths {
                println!(
                    "  {:<6} {scheme}://{address}{:<54} {}",
                    endpoint.method, path, endpoint.what
                );
            }
        }
    }
}
