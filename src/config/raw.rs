//! The configuration as written: TOML file sections, every key optional. Unknown keys are
//! errors (serde `deny_unknown_fields`) so that a typo never silently does nothing.
//!
//! Every section is declared once, in [`raw_sections!`], which makes its struct and the
//! overlay that lets a later layer (environment over file) replace the keys it sets.

use std::path::PathBuf;

use serde::Deserialize;

/// Declares [`RawConfig`] with one field per section, each section a struct of optional
/// keys, and the overlays of both.
macro_rules! raw_sections {
    ($( $section:ident: $name:ident { $($key:ident: $ty:ty),* $(,)? } )*) => {
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawConfig {
            $( #[serde(default)] pub $section: $name, )*
        }

        impl RawConfig {
            /// Copies every key set in `top` over `self`.
            pub fn overlay(&mut self, top: RawConfig) {
                $( self.$section.overlay(top.$section); )*
            }
        }

        $(
            #[derive(Debug, Default, Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct $name {
                $( pub $key: Option<$ty>, )*
            }

            impl $name {
                fn overlay(&mut self, top: Self) {
                    $( if top.$key.is_some() { self.$key = top.$key; } )*
                }
            }
        )*
    };
}

raw_sections! {
    http: RawHttp {
        listen: Vec<String>,
        shutdown_timeout: String,
        max_body: usize,
        body_timeout: String,
        max_buffered: usize,
        max_connections: usize,
        workers: usize,
        keep_alive: String,
        trusted_proxies: Vec<String>,
        public_url: String,
    }
    store: RawStore {
        url: String,
        data_dir: PathBuf,
        pool_size: usize,
        group_commit_lanes: usize,
        worker_connections: usize,
        worker_lanes: usize,
    }
    workflows: RawWorkflows {
        dir: PathBuf,
    }
    engine: RawEngine {
        default_deadline: String,
        max_steps: usize,
    }
    events: RawEvents {
        buffer_ttl: String,
        dedup_window: String,
    }
    serials: RawSerials {
        signed: bool,
    }
    timers: RawTimers {
        poll_interval: String,
        batch_size: usize,
        concurrency: usize,
    }
    retention: RawRetention {
        ended_after: String,
    }
    outbox: RawOutbox {
        max_attempts: u32,
        backoff_initial: String,
        backoff_max: String,
        request_timeout: String,
        lease: String,
        concurrency: usize,
        poll_interval: String,
        bearer_env: Vec<String>,
    }
    log: RawLog {
        level: String,
        format: String,
    }
    auth: RawAuth {
        cache_ttl: String,
    }
    soap: RawSoap {
        max_depth: usize,
        max_attributes: usize,
        max_text: usize,
        one_way_status: u16,
        sender_fault_status: u16,
    }
    sharepoint: RawSharePoint {
        paths: Vec<String>,
        sync_timeout: String,
        auth: String,
        client_id: String,
        client_secret: String,
        realm: String,
        allow_from: Vec<String>,
        webhook_paths: Vec<String>,
    }
    queue: RawQueue {
        encryption_key_file: PathBuf,
        runners: usize,
        lease: String,
        poll_interval: String,
    }
    remote_events: RawRemoteEvents {
        instance_guid: String,
        allow_from: Vec<String>,
    }
    orchestrator: RawOrchestrator {
        anonymous_custom_events: bool,
        allow_from: Vec<String>,
    }
    tls: RawTls {
        cert: PathBuf,
        key: PathBuf,
        listen: Vec<String>,
    }
}
