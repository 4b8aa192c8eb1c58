//! Configuration: a TOML file, then `HOLDPOINT_SECTION__KEY` environment variables, then
//! command-line flags, each overriding the one before. The raw layers are merged, checked
//! against the known keys, and resolved into a [`Config`] whose values are all valid:
//! nothing downstream parses or second-guesses a setting.

mod raw;
mod sections;

use sections::{addresses, networks, sharepoint_settings, tls_settings};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::duration::parse_duration;
use crate::engine::{EngineConfig, OutboxPolicy, RetentionPolicy, TimerPolicy};
use crate::networks::NetworkList;
use crate::store::StoreTarget;
pub use raw::RawConfig;

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
    pub listen: Vec<SocketAddr>,
    pub shutdown_timeout: Duration,
    pub store: StoreTarget,
    pub data_dir: PathBuf,
    pub workflows_dir: PathBuf,
    pub engine: EngineConfig,
    pub log_level: String,
    pub log_format: LogFormat,
    /// Largest request body accepted (bytes).
    pub max_body: usize,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    /// Bytes of request bodies the node holds at once (`overloaded` past it).
    pub max_buffered: usize,
    /// Connections the node holds at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// How long an idle keep-alive connection stays open (0: closed after each answer).
    pub keep_alive: Duration,
    /// How long a verified credential is remembered (0: never).
    pub auth_cache_ttl: Duration,
    /// What the SOAP reader accepts; `max_body` is the `[http] max_body`.
    pub soap_limits: crate::soap::Limits,
    /// Status of an answered one-way SOAP operation (202 or 200).
    pub one_way_status: u16,
    /// Path prefix of the kenaflow-style endpoints.
    pub remote_events_prefix: Option<String>,
    /// Where the anonymous kenaflow variants may come from (empty: anywhere).
    pub remote_events_allow_from: NetworkList,
    /// Peers whose `Forwarded`/`X-Forwarded-For` headers name the client.
    pub trusted_proxies: NetworkList,
    /// `[sharepoint]` and `[orchestrator]`.
    pub soap_settings: crate::services::SoapSettings,
    /// `[tls]`: HTTPS listeners, beside or instead of the HTTP ones.
    pub tls: Option<TlsSettings>,
}

/// Where the HTTPS listeners are and what they present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM: the certificate, then its chain.
    pub cert: PathBuf,
    /// PEM: a PKCS#8, RSA (PKCS#1) or SEC1 private key.
    pub key: PathBuf,
    pub listen: Vec<SocketAddr>,
}

/// Loads and resolves the configuration from a file (if any), `env` and `overrides`.
pub fn load(overrides: &Overrides, env: &[(String, String)]) -> Result<Config, String> {
    let mut raw = match &overrides.config_file {
        Some(path) => read_file(path)?,
        None => RawConfig::default(),
    };
    apply_env(&mut raw, env)?;
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

/// Applies `HOLDPOINT_SECTION__KEY=value` variables. A value that parses as a TOML value
/// (`true`, `8`, `["a", "b"]`) is taken as such, anything else as a string.
fn apply_env(raw: &mut RawConfig, env: &[(String, String)]) -> Result<(), String> {
    let mut merged = toml::Table::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let Some((section, key)) = rest.split_once("__") else {
            continue;
        };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        let typed = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut table| table.remove("v"));
        let text = toml::Value::String(value.clone());
        // Check each variable alone, so that an error names it. A value that reads as a
        // TOML value (`true`, `8`, `["a"]`) is tried as such first, then as plain text
        // (`0` is also a fine duration).
        let parsed = match typed.filter(|typed| single_var_fits(&section, &key, typed).is_ok()) {
            Some(typed) => typed,
            None => {
                single_var_fits(&section, &key, &text)
                    .map_err(|why| format!("environment variable {name}: {why}"))?;
                text
            }
        };
        merged
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .map(|table| table.insert(key, parsed));
    }
    if merged.is_empty() {
        return Ok(());
    }
    let from_env = RawConfig::deserialize(toml::Value::Table(merged))
        .map_err(|error| format!("environment: {}", error.message()))?;
    overlay(raw, from_env);
    Ok(())
}

/// Whether `[section] key = value` alone is a valid configuration.
fn single_var_fits(section: &str, key: &str, value: &toml::Value) -> Result<(), String> {
    let mut inner = toml::Table::new();
    inner.insert(key.to_string(), value.clone());
    let mut single = toml::Table::new();
    single.insert(section.to_string(), toml::Value::Table(inner));
    RawConfig::deserialize(toml::Value::Table(single))
        .map(|_| ())
        .map_err(|error| error.message().trim_end_matches('.').to_string())
}

/// Copies every key set in `top` over `base`.
fn overlay(base: &mut RawConfig, top: RawConfig) {
    macro_rules! take {
        ($($section:ident . $key:ident),* $(,)?) => {
            $( if top.$section.$key.is_some() { base.$section.$key = top.$section.$key; } )*
        };
    }
    take!(
        http.listen,
        http.shutdown_timeout,
        http.max_body,
        http.body_timeout,
        http.max_buffered,
        http.max_connections,
        http.keep_alive,
        http.trusted_proxies,
        auth.cache_ttl,
        soap.max_depth,
        soap.max_attributes,
        soap.max_text,
        soap.one_way_status,
        sharepoint.paths,
        sharepoint.sync_timeout,
        sharepoint.auth,
        sharepoint.client_id,
        sharepoint.client_secret,
        sharepoint.realm,
        sharepoint.allow_from,
        remote_events.instance_guid,
        remote_events.allow_from,
        orchestrator.anonymous_custom_events,
        orchestrator.allow_from,
        tls.cert,
        tls.key,
        tls.listen,
        queue.runners,
        queue.encryption_key_file,
        queue.lease,
        queue.poll_interval,
        store.url,
        store.data_dir,
        store.pool_size,
        workflows.dir,
        engine.default_deadline,
        engine.max_steps,
        events.buffer_ttl,
        events.dedup_window,
        serials.signed,
        timers.poll_interval,
        timers.batch_size,
        timers.concurrency,
        retention.ended_after,
        outbox.max_attempts,
        outbox.backoff_initial,
        outbox.backoff_max,
        outbox.request_timeout,
        outbox.lease,
        outbox.concurrency,
        outbox.poll_interval,
        log.level,
        log.format,
    );
}

fn duration(key: &str, value: Option<String>, default: Duration) -> Result<Duration, String> {
    match value {
        None => Ok(default),
        Some(text) => {
            parse_duration(&text).map_err(|why| format!("{key}: invalid duration `{text}`: {why}"))
        }
    }
}

fn positive(duration: Duration) -> Option<Duration> {
    (!duration.is_zero()).then_some(duration)
}

fn at_least_one(key: &str, value: Option<usize>, default: usize) -> Result<usize, String> {
    match value {
        Some(0) => Err(format!("{key}: must be at least 1")),
        Some(value) => Ok(value),
        None => Ok(default),
    }
}

fn resolve(raw: RawConfig, overrides: &Overrides) -> Result<Config, String> {
    let defaults = EngineConfig::default();
    let listen_text = if overrides.listen.is_empty() {
        raw.http
            .listen
            .unwrap_or_else(|| vec![DEFAULT_LISTEN.to_string()])
    } else {
        overrides.listen.clone()
    };
    let listen = addresses("[http] listen", &listen_text)?;
    let tls = tls_settings(raw.tls)?;
    if listen.is_empty() && tls.is_none() {
        return Err("[http] listen: give at least one address (or [tls] listen)".into());
    }
    let data_dir = overrides
        .data_dir
        .clone()
        .or(raw.store.data_dir)
        .unwrap_or_else(|| PathBuf::from("data"));
    let url = overrides
        .database_url
        .clone()
        .or(raw.store.url)
        .filter(|url| !url.trim().is_empty());
    let pool_size = at_least_one("[store] pool_size", raw.store.pool_size, 16)?;
    let store = match url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            StoreTarget::Postgres { url, pool_size }
        }
        Some(_) => {
            return Err("[store] url: only postgres:// or postgresql:// urls are supported".into());
        }
        None => StoreTarget::Sqlite {
            path: data_dir.join("holdpoint.db"),
        },
    };
    let outbox_defaults = &defaults.outbox;
    let outbox = OutboxPolicy {
        max_attempts: match raw.outbox.max_attempts {
            Some(0) => return Err("[outbox] max_attempts: must be at least 1".into()),
            Some(value) => value,
            None => outbox_defaults.max_attempts,
        },
        backoff_initial: duration(
            "[outbox] backoff_initial",
            raw.outbox.backoff_initial,
            outbox_defaults.backoff_initial,
        )?,
        backoff_max: duration(
            "[outbox] backoff_max",
            raw.outbox.backoff_max,
            outbox_defaults.backoff_max,
        )?,
        request_timeout: duration(
            "[outbox] request_timeout",
            raw.outbox.request_timeout,
            outbox_defaults.request_timeout,
        )?,
        lease: duration("[outbox] lease", raw.outbox.lease, outbox_defaults.lease)?,
        concurrency: at_least_one(
            "[outbox] concurrency",
            raw.outbox.concurrency,
            outbox_defaults.concurrency,
        )?,
        poll_interval: duration(
            "[outbox] poll_interval",
            raw.outbox.poll_interval,
            outbox_defaults.poll_interval,
        )?,
    };
    if outbox.lease <= outbox.request_timeout {
        return Err("[outbox] lease: must be longer than [outbox] request_timeout".into());
    }
    let queue = crate::engine::QueuePolicy {
        runners: at_least_one("[queue] runners", raw.queue.runners, defaults.queue.runners)?,
        lease: duration("[queue] lease", raw.queue.lease, defaults.queue.lease)?,
        poll_interval: duration(
            "[queue] poll_interval",
            raw.queue.poll_interval,
            defaults.queue.poll_interval,
        )?,
        encryption_key: raw
            .queue
            .encryption_key_file
            .filter(|path| !path.as_os_str().is_empty())
            .map(|path| {
                let bytes = std::fs::read(&path).map_err(|error| {
                    format!(
                        "[queue] encryption_key_file: cannot read {}: {error}",
                        path.display()
                    )
                })?;
                crate::engine::crypto::QueueKey::from_file_contents(&bytes)
                    .map_err(|why| format!("[queue] encryption_key_file {}: {why}", path.display()))
            })
            .transpose()?,
    };
    if queue.lease.is_zero() {
        return Err("[queue] lease: must be above 0".into());
    }
    let engine = EngineConfig {
        queue,
        default_deadline: duration(
            "[engine] default_deadline",
            raw.engine.default_deadline,
            defaults.default_deadline,
        )?,
        max_steps: at_least_one(
            "[engine] max_steps",
            raw.engine.max_steps,
            defaults.max_steps,
        )?,
        buffer_ttl: duration(
            "[events] buffer_ttl",
            raw.events.buffer_ttl,
            defaults.buffer_ttl,
        )?,
        dedup_window: duration(
            "[events] dedup_window",
            raw.events.dedup_window,
            defaults.dedup_window,
        )?,
        signed_serials: raw.serials.signed.unwrap_or(defaults.signed_serials),
        outbox,
        timers: TimerPolicy {
            poll_interval: duration(
                "[timers] poll_interval",
                raw.timers.poll_interval,
                defaults.timers.poll_interval,
            )?,
            batch_size: at_least_one(
                "[timers] batch_size",
                raw.timers.batch_size,
                defaults.timers.batch_size,
            )?,
            concurrency: at_least_one(
                "[timers] concurrency",
                raw.timers.concurrency,
                defaults.timers.concurrency,
            )?,
        },
        retention: RetentionPolicy {
            ended_after: duration(
                "[retention] ended_after",
                raw.retention.ended_after,
                defaults.retention.ended_after,
            )?,
            ..defaults.retention
        },
    };
    if engine.default_deadline.is_zero() {
        return Err(
            "[engine] default_deadline: every wait needs a deadline; give a positive duration"
                .into(),
        );
    }
    let log_format = match raw.log.format.as_deref().unwrap_or("text") {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            return Err(format!(
                "[log] format: `{other}` is neither `text` nor `json`"
            ));
        }
    };
    let max_body = at_least_one(
        "[http] max_body",
        raw.http.max_body,
        crate::http::DEFAULT_MAX_BODY,
    )?;
    let soap_defaults = crate::soap::Limits::default();
    let soap_limits = crate::soap::Limits {
        max_body,
        max_depth: at_least_one(
            "[soap] max_depth",
            raw.soap.max_depth,
            soap_defaults.max_depth,
        )?,
        max_attributes: at_least_one(
            "[soap] max_attributes",
            raw.soap.max_attributes,
            soap_defaults.max_attributes,
        )?,
        max_text: at_least_one("[soap] max_text", raw.soap.max_text, soap_defaults.max_text)?,
    };
    let one_way_status = match raw.soap.one_way_status {
        None => 202,
        Some(status @ (200 | 202)) => status,
        Some(other) => {
            return Err(format!(
                "[soap] one_way_status: {other} is neither 202 nor 200"
            ));
        }
    };
    let sharepoint = sharepoint_settings(raw.sharepoint)?;
    let remote_events_prefix = match raw.remote_events.instance_guid {
        Some(guid) if guid.trim().is_empty() => None,
        Some(guid) if guid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') => Some(guid),
        Some(other) => {
            return Err(format!(
                "[remote_events] instance_guid: `{other}` is not a GUID such as 5f0c0a9e-1b1e-4b61-9d7e-3a1f0c2b4d5e"
            ));
        }
        None => None,
    };
    Ok(Config {
        tls,
        remote_events_prefix,
        remote_events_allow_from: networks(
            "[remote_events] allow_from",
            raw.remote_events.allow_from,
        )?,
        trusted_proxies: networks("[http] trusted_proxies", raw.http.trusted_proxies)?,
        soap_settings: crate::services::SoapSettings {
            sharepoint,
            orchestrator: crate::services::orchestrator::OrchestratorSettings {
                anonymous_custom_events: raw.orchestrator.anonymous_custom_events.unwrap_or(false),
                allow_from: networks("[orchestrator] allow_from", raw.orchestrator.allow_from)?,
            },
        },
        listen,
        shutdown_timeout: duration(
            "[http] shutdown_timeout",
            raw.http.shutdown_timeout,
            Duration::from_secs(30),
        )?,
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
        max_body,
        body_timeout: positive(duration(
            "[http] body_timeout",
            raw.http.body_timeout,
            crate::http::DEFAULT_BODY_TIMEOUT,
        )?)
        .ok_or("[http] body_timeout: must be more than 0")?,
        max_buffered: {
            let budget = at_least_one(
                "[http] max_buffered",
                raw.http.max_buffered,
                crate::http::budget::DEFAULT_MAX_BUFFERED,
            )?;
            if budget < max_body {
                return Err(format!(
                    "[http] max_buffered ({budget}) must be at least [http] max_body ({max_body}), or no body of the largest size could ever be read"
                ));
            }
            budget
        },
        max_connections: at_least_one(
            "[http] max_connections",
            raw.http.max_connections,
            crate::http::DEFAULT_MAX_CONNECTIONS,
        )?,
        keep_alive: duration(
            "[http] keep_alive",
            raw.http.keep_alive,
            crate::http::DEFAULT_KEEP_ALIVE,
        )?,
        soap_limits,
        one_way_status,
        auth_cache_ttl: duration(
            "[auth] cache_ttl",
            raw.auth.cache_ttl,
            Duration::from_secs(60),
        )?,
    })
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[cfg(test)]
mod example_file;
#[cfg(test)]
mod tests;
