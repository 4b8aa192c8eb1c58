//! The configuration as written: TOML file sections, every key optional. Unknown keys are
//! errors (serde `deny_unknown_fields`) so that a typo never silently does nothing.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub workflows: RawWorkflows,
    #[serde(default)]
    pub engine: RawEngine,
    #[serde(default)]
    pub events: RawEvents,
    #[serde(default)]
    pub serials: RawSerials,
    #[serde(default)]
    pub timers: RawTimers,
    #[serde(default)]
    pub retention: RawRetention,
    #[serde(default)]
    pub outbox: RawOutbox,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub soap: RawSoap,
    #[serde(default)]
    pub sharepoint: RawSharePoint,
    #[serde(default)]
    pub queue: RawQueue,
    #[serde(default)]
    pub remote_events: RawRemoteEvents,
    #[serde(default)]
    pub orchestrator: RawOrchestrator,
    #[serde(default)]
    pub tls: RawTls,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub listen: Option<Vec<String>>,
    pub shutdown_timeout: Option<String>,
    pub max_body: Option<usize>,
    pub body_timeout: Option<String>,
    pub max_buffered: Option<usize>,
    pub max_connections: Option<usize>,
    pub keep_alive: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub pool_size: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkflows {
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEngine {
    pub default_deadline: Option<String>,
    pub max_steps: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEvents {
    pub buffer_ttl: Option<String>,
    pub dedup_window: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSerials {
    pub signed: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimers {
    pub poll_interval: Option<String>,
    pub batch_size: Option<usize>,
    pub concurrency: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    pub ended_after: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutbox {
    pub max_attempts: Option<u32>,
    pub backoff_initial: Option<String>,
    pub backoff_max: Option<String>,
    pub request_timeout: Option<String>,
    pub lease: Option<String>,
    pub concurrency: Option<usize>,
    pub poll_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub level: Option<String>,
    pub format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    pub cache_ttl: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSoap {
    pub max_depth: Option<usize>,
    pub max_attributes: Option<usize>,
    pub max_text: Option<usize>,
    pub one_way_status: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSharePoint {
    pub paths: Option<Vec<String>>,
    pub sync_timeout: Option<String>,
    pub auth: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub realm: Option<String>,
    pub allow_from: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQueue {
    pub encryption_key_file: Option<PathBuf>,
    pub runners: Option<usize>,
    pub lease: Option<String>,
    pub poll_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRemoteEvents {
    pub instance_guid: Option<String>,
    pub allow_from: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOrchestrator {
    pub anonymous_custom_events: Option<bool>,
    pub allow_from: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub listen: Option<Vec<String>>,
}
