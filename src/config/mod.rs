//! Configuration: a TOML file, then `HOLDPOINT_SECTION__KEY` environment variables, then
//! command-line flags, each overriding the one before. The raw layers (`raw.rs`) are
//! merged, checked against the known keys, and resolved into a [`Config`] whose values
//! are all valid: nothing downstream parses or second-guesses a setting.
//!
//! Each section resolves itself from its raw form into its validated type, in its own
//! file: `http.rs` (`[http]`, `[tls]`), `engine.rs` (the engine's policies), `dialects.rs`
//! (`[soap]`, `[orchestrator]`, `[remote_events]`) and [`sharepoint`]; `values.rs` holds
//! the checks they share, `env.rs` the environment layer, `defaults.rs` the `[http]`
//! defaults. The settings types of the dialects live here and the services read them;
//! `config` imports neither the edge nor a service.

mod defaults;
mod dialects;
mod engine;
mod env;
mod http;
mod raw;
pub mod sharepoint;
mod values;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::engine::EngineConfig;
use crate::store::{Connections, StoreTarget};
pub use defaults::{
    DEFAULT_BODY_TIMEOUT, DEFAULT_KEEP_ALIVE, DEFAULT_LISTEN, DEFAULT_MAX_BODY,
    DEFAULT_MAX_BUFFERED, DEFAULT_MAX_CONNECTIONS,
};
pub use dialects::{OrchestratorSettings, RemoteEventSettings, SoapSettings};
pub use http::{HttpSettings, TlsSettings};
pub use raw::RawConfig;
use values::{at_least_one, duration};

/// Prefix of the environment variables that set file keys: `HOLDPOINT_EVENTS__BUFFER_TTL`
/// sets `[events] buffer_ttl`.
pub const ENV_PREFIX: &str = "HOLDPOINT_";

/// What the command line says; `None` leaves the file / environment / default in force.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub workflows: Option<PathBuf>,
    pub listen: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[http]`: listeners, body and connection limits, trusted proxies.
    pub http: HttpSettings,
    /// `[tls]`: HTTPS listeners, beside or instead of the HTTP ones.
    pub tls: Option<TlsSettings>,
    pub store: StoreTarget,
    pub data_dir: PathBuf,
    pub workflows_dir: PathBuf,
    pub engine: EngineConfig,
    pub log_level: String,
    pub log_format: LogFormat,
    /// How long a verified credential is remembered (0: never).
    pub auth_cache_ttl: Duration,
    /// `[soap]`, `[sharepoint]` and `[orchestrator]`.
    pub soap: SoapSettings,
    /// `[remote_events]`.
    pub remote_events: RemoteEventSettings,
}

/// Loads and resolves the configuration from a file (if any), `env` and `overrides`.
pub fn load(overrides: &Overrides, env: &[(String, String)]) -> Result<Config, String> {
    let mut raw = match &overrides.config_file {
        Some(path) => read_file(path)?,
        None => RawConfig::default(),
    };
    env::apply_env(&mut raw, env)?;
    resolve(raw, overrides)
}

fn read_file(path: &Path) -> Result<RawConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read config file {}: {error}", path.display()))?;
    toml::from_str(&text).map_err(|error| {
        format!(
            "{}: {}",
            path.display(),
            crate::toml_error::describe(&text, &error)
        )
    })
}

fn resolve(raw: RawConfig, overrides: &Overrides) -> Result<Config, String> {
    let http = HttpSettings::resolve(raw.http, &overrides.listen)?;
    let tls = TlsSettings::resolve(raw.tls)?;
    if http.listen.is_empty() && tls.is_none() {
        return Err("[http] listen: give at least one address (or [tls] listen)".into());
    }
    let (store, data_dir) = store(raw.store, overrides)?;
    let mut engine = engine::resolve(engine::RawEngineSections {
        engine: raw.engine,
        events: raw.events,
        serials: raw.serials,
        timers: raw.timers,
        retention: raw.retention,
        outbox: raw.outbox,
        queue: raw.queue,
    })?;
    // Callback URLs are the engine's to build; where the node is reached is `[http]`'s.
    engine.public_url = http.public_url.clone();
    let log_format = match raw.log.format.as_deref().unwrap_or("text") {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            return Err(format!(
                "[log] format: `{other}` is neither `text` nor `json`"
            ));
        }
    };
    Ok(Config {
        soap: SoapSettings::resolve(raw.soap, raw.sharepoint, raw.orchestrator, http.max_body)?,
        remote_events: RemoteEventSettings::resolve(raw.remote_events)?,
        http,
        tls,
        store,
        workflows_dir: overrides
            .workflows
            .clone()
            .or(raw.workflows.dir)
            .unwrap_or_else(|| PathBuf::from("workflows")),
        data_dir,
        engine,
        log_level: raw.log.level.unwrap_or_else(|| "info".into()),
        log_format,
        auth_cache_ttl: duration(
            "[auth] cache_ttl",
            raw.auth.cache_ttl,
            Duration::from_secs(60),
        )?,
    })
}

/// `[store] worker_connections` by default: 2 per worker gave most of the gain of 4 in K2
/// finishes a second (BENCHMARKS.md, 2026-12-05), one for the worker's lane and one for
/// its other transactions; a worker's overflow goes to the node's pool, and two default
/// nodes of up to 8 cores stay within a default PostgreSQL's 97 ordinary sessions (16 +
/// 8 × 2 + 1 each).
const DEFAULT_WORKER_CONNECTIONS: usize = 2;
/// Each is a database session on every worker of every node: past this, a typo.
const MAX_WORKER_CONNECTIONS: usize = 64;
/// `[store] worker_lanes` by default (when the workers have two connections of their own
/// or more): one lane, whose batches carry every command of the worker. Two per worker
/// were slower than one (commands of a worker then wait less for each other, but share
/// fewer commits); BENCHMARKS.md, 2026-12-05.
const DEFAULT_WORKER_LANES: usize = 1;

/// `[store]`'s PostgreSQL connections of a node; its HTTP workers' own are counted by
/// `serve` ([`StoreTarget::served_by`]), the one command that starts them.
fn connections(raw: &raw::RawStore) -> Result<Connections, String> {
    let pool_size = at_least_one("[store] pool_size", raw.pool_size, 16)?;
    let group_commit_lanes = raw.group_commit_lanes.unwrap_or(0);
    if group_commit_lanes >= pool_size {
        return Err(format!(
            "[store] group_commit_lanes ({group_commit_lanes}) must be less than [store] pool_size \
             ({pool_size}): runners and listings need connections besides the lanes'"
        ));
    }
    let worker_connections = raw.worker_connections.unwrap_or(DEFAULT_WORKER_CONNECTIONS);
    if worker_connections > MAX_WORKER_CONNECTIONS {
        return Err(format!(
            "[store] worker_connections ({worker_connections}) must be at most \
             {MAX_WORKER_CONNECTIONS}"
        ));
    }
    // A lane keeps one of the worker's connections; its other transactions need one more.
    let spare = worker_connections.saturating_sub(1);
    let worker_lanes = raw.worker_lanes.unwrap_or(DEFAULT_WORKER_LANES.min(spare));
    if worker_lanes > spare {
        return Err(format!(
            "[store] worker_lanes ({worker_lanes}) must be less than [store] worker_connections \
             ({worker_connections}): each lane keeps one of the worker's connections, and its \
             other transactions need one"
        ));
    }
    Ok(Connections {
        pool_size,
        group_commit_lanes,
        workers: 0,
        worker_connections,
        worker_lanes,
    })
}

/// `[store]`: PostgreSQL at `url` (flag first), else the embedded store in the data dir.
fn store(raw: raw::RawStore, overrides: &Overrides) -> Result<(StoreTarget, PathBuf), String> {
    let connections = connections(&raw)?;
    let data_dir = overrides
        .data_dir
        .clone()
        .or(raw.data_dir)
        .unwrap_or_else(|| PathBuf::from("data"));
    let url = overrides
        .database_url
        .clone()
        .or(raw.url)
        .filter(|url| !url.trim().is_empty());
    let store = match url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            StoreTarget::Postgres { url, connections }
        }
        Some(_) => {
            return Err("[store] url: only postgres:// or postgresql:// urls are supported".into());
        }
        None => StoreTarget::Sqlite {
            path: data_dir.join("holdpoint.db"),
        },
    };
    Ok((store, data_dir))
}

#[cfg(test)]
mod example_file;
#[cfg(test)]
mod tests;
