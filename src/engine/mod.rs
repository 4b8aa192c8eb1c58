//! The durable wait engine (DESIGN §4).
//!
//! Every command is one store transaction: it locks what it changes, runs the interpreter
//! until each touched instance waits or ends, records history, and commits. Callers send
//! their acknowledgement only after a command returns `Ok`, so an acknowledged callback is
//! durable. Commands that lose a serialisation race are retried whole.

pub mod access;
pub mod callback;
pub mod clock;
mod commands;
pub mod crypto;
pub mod deadline;
pub mod definition;
pub mod error;
pub mod fields;
pub mod inbound;
mod interpreter;
pub mod migration;
pub mod outbound;
mod queries;
pub mod review;
pub mod runners;
mod sealed;
pub mod serial;
pub mod telemetry;
pub mod template;
mod versions;
mod views;

use std::sync::Arc;
use std::time::Duration;

use access::Access;
use clock::Clock;
use definition::Workflows;
use serial::SerialCodec;
use template::Templates;

use crate::store::Store;
use telemetry::{Subject, observe};

pub use commands::{CustomEvent, StartRequest};
pub use error::EngineError;
pub use views::{
    EventOutcome, FinishOutcome, FinishSummary, HistoryView, InstanceSummary, InstanceView,
    ServerItemView, StartOutcome, WaitView,
};

/// Engine settings, resolved from configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Deadline of a wait whose step names none.
    pub default_deadline: Duration,
    /// How long an unclaimed custom event stays buffered (0: dropped, as in vRO).
    pub buffer_ttl: Duration,
    /// How long message ids and idempotency keys are remembered.
    pub dedup_window: Duration,
    pub signed_serials: bool,
    /// Steps one command may run before the instance is failed as looping.
    pub max_steps: usize,
    pub outbox: OutboxPolicy,
    pub timers: TimerPolicy,
    pub queue: QueuePolicy,
    pub retention: RetentionPolicy,
    /// `[http] public_url`: where callers reach this node, without a trailing `/`;
    /// callback URLs are built on it (`engine::callback`).
    pub public_url: Option<String>,
}

/// How long ended instances are kept (`[retention]`).
#[derive(Debug, Clone)]
pub struct RetentionPolicy {
    /// Completed, failed and cancelled instances last changed longer ago than this are
    /// purged with their waits and history; zero keeps them for ever.
    pub ended_after: Duration,
    /// Instances purged per transaction: small, so that a purge never holds locks long.
    pub batch_size: usize,
    /// Pause between purges once nothing is left to purge.
    pub poll_interval: Duration,
}

/// The inbound queue's runners on this node.
#[derive(Debug, Clone)]
pub struct QueuePolicy {
    /// Events delivered at once by one node.
    pub runners: usize,
    /// How long a claimed event stays with its node; a dead node's events are reclaimed
    /// after it.
    pub lease: Duration,
    pub poll_interval: Duration,
    /// Encrypts payloads at rest when set (`[queue] encryption_key_file`).
    pub encryption_key: Option<crypto::QueueKey>,
}

#[derive(Debug, Clone)]
pub struct OutboxPolicy {
    pub max_attempts: u32,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub request_timeout: Duration,
    /// How long a claimed row stays with its node; must exceed `request_timeout`.
    pub lease: Duration,
    /// Requests sent at once by one node.
    pub concurrency: usize,
    pub poll_interval: Duration,
    /// The environment variables a request may send as `Authorization: Bearer`
    /// (`bearer_env` of a step); none unless the operator names them.
    pub bearer_env: Vec<String>,
}

impl OutboxPolicy {
    /// Whether this node lends the variable `name` to requests as a bearer token.
    pub fn lends(&self, name: &str) -> bool {
        self.bearer_env.iter().any(|lent| lent == name)
    }
}

#[derive(Debug, Clone)]
pub struct TimerPolicy {
    pub poll_interval: Duration,
    /// Due waits expired per transaction.
    pub batch_size: usize,
    /// Timer loops per node, each expiring its own batch (`SKIP LOCKED` keeps them apart on
    /// PostgreSQL; on the embedded store they take turns on its one connection).
    pub concurrency: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            default_deadline: Duration::from_secs(30 * 86_400),
            buffer_ttl: Duration::from_secs(60),
            dedup_window: Duration::from_secs(86_400),
            signed_serials: true,
            public_url: None,
            max_steps: 1000,
            outbox: OutboxPolicy {
                max_attempts: 5,
                backoff_initial: Duration::from_secs(1),
                backoff_max: Duration::from_secs(300),
                request_timeout: Duration::from_secs(30),
                lease: Duration::from_secs(120),
                concurrency: 8,
                poll_interval: Duration::from_secs(1),
                bearer_env: Vec::new(),
            },
            timers: TimerPolicy {
                poll_interval: Duration::from_secs(1),
                batch_size: 500,
                concurrency: 4,
            },
            queue: QueuePolicy {
                runners: 4,
                lease: Duration::from_secs(60),
                poll_interval: Duration::from_secs(1),
                encryption_key: None,
            },
            retention: RetentionPolicy {
                ended_after: Duration::from_secs(90 * 86_400),
                batch_size: 200,
                poll_interval: Duration::from_secs(60),
            },
        }
    }
}

/// Who is calling, for permissions and the audit trail.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    /// `api`, `k2`, `soap`, `sharepoint`, `orchestrator`, `cli`, `engine`, …
    pub dialect: String,
    pub source: Option<String>,
    pub message_id: Option<String>,
    /// What the caller may do; commands check it against the workflow's permissions.
    pub access: Access,
}

impl Caller {
    /// A trusted caller (engine, local CLI): no permission checks.
    pub fn new(name: impl Into<String>, dialect: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            dialect: dialect.into(),
            source: None,
            message_id: None,
            access: Access::Trusted,
        }
    }

    /// The engine itself (timers, outbox results).
    pub fn engine() -> Self {
        Self::new("holdpoint", "engine")
    }
}

/// Settings key of the per-installation serial MAC key.
const SERIAL_KEY_SETTING: &str = "serial_hmac_key";

pub struct Engine {
    store: Arc<dyn Store>,
    /// The current definitions and every compiled version (see `versions`).
    definitions: versions::Definitions,
    templates: Templates,
    serials: SerialCodec,
    callbacks: callback::CallbackTokens,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
    http: reqwest::Client,
    /// Identifies this process as an outbox lease owner.
    node_id: String,
    /// Seals inbound payloads when a queue key is configured.
    payload_cipher: Option<crypto::PayloadCipher>,
}

impl Engine {
    /// `node:<id>`: the `source` of the history rows this node writes on its own
    /// (deadlines, outbound results, queue deliveries), so that the audit trail tells
    /// which node did the work.
    pub fn node_source(&self) -> String {
        format!("node:{}", self.node_id)
    }

    /// The engine as a caller, with this node as its source.
    pub fn node_caller(&self) -> Caller {
        let mut caller = Caller::engine();
        caller.source = Some(self.node_source());
        caller
    }
}

impl Engine {
    /// Builds an engine; generates the installation's serial key on first use (the first
    /// writer wins, so every node ends up with the same key).
    pub async fn new(
        store: Arc<dyn Store>,
        workflows: Arc<Workflows>,
        config: EngineConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, EngineError> {
        callback::require_public_url(&workflows, config.public_url.as_deref())?;
        let key = load_serial_key(store.as_ref()).await?;
        versions::store_versions(store.as_ref(), &workflows, clock.now_ms()).await?;
        let payload_cipher =
            check_queue_key(store.as_ref(), config.queue.encryption_key.as_ref()).await?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("holdpoint/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| EngineError::Internal(format!("cannot build http client: {error}")))?;
        let serials = SerialCodec::new(key, config.signed_serials);
        Ok(Self {
            callbacks: callback::CallbackTokens::new(serials.derive_key("callback_url")),
            serials,
            store,
            definitions: versions::Definitions::new(workflows),
            templates: Templates::new(),
            clock,
            config,
            http,
            node_id: uuid::Uuid::new_v4().to_string(),
            payload_cipher,
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// A per-installation key for `purpose`, the same on every node.
    pub fn derive_key(&self, purpose: &str) -> Vec<u8> {
        self.serials.derive_key(purpose)
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Runs command `name` on `subject`, observed (see `telemetry::observe`) and retried
    /// whole when it lost a serialisation race.
    async fn command<T, F, Fut>(
        &self,
        name: &'static str,
        subject: Subject<'_>,
        attempt: F,
    ) -> Result<T, EngineError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, EngineError>>,
    {
        observe(name, subject, self.retrying(attempt)).await
    }

    /// Runs a command, retrying it whole when it lost a serialisation race.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, EngineError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, EngineError>>,
    {
        const ATTEMPTS: usize = 5;
        let mut tries = 0;
        loop {
            tries += 1;
            let mark = self.store.settle_mark();
            match attempt().await {
                Err(error @ EngineError::Conflict(_)) if tries < ATTEMPTS => {
                    telemetry::count_store_error(&error);
                    tracing::debug!(detail = ?error, tries, "retrying command after a conflict");
                    tokio::time::sleep(Duration::from_millis(5 * tries as u64)).await;
                }
                Ok(done) => return Ok(done),
                Err(error) => {
                    // The error may rest on a change still waiting for its COMMIT.
                    self.store.settled(mark).await?;
                    return Err(error);
                }
            }
        }
    }
}

/// Settings key of the sealed check value of the queue key.
const QUEUE_KEY_CHECK_SETTING: &str = "queue_key_check";

/// Verifies the configured queue key against the database (storing the check value on
/// first use), or refuses: a wrong key, or no key for a database that has one.
async fn check_queue_key(
    store: &dyn Store,
    key: Option<&crypto::QueueKey>,
) -> Result<Option<crypto::PayloadCipher>, EngineError> {
    let mut tx = store.begin().await?;
    let stored = tx.setting(QUEUE_KEY_CHECK_SETTING).await?;
    let cipher = match (key, stored) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(EngineError::MalformedRequest(
                "this database holds encrypted inbound events: configure [queue] encryption_key_file with its key".into(),
            ));
        }
        (Some(key), Some(check)) => {
            let cipher = crypto::PayloadCipher::new(key);
            match cipher.open(&check) {
                Ok(plain) if plain == crypto::KEY_CHECK_PLAINTEXT => Some(cipher),
                _ => {
                    return Err(EngineError::MalformedRequest(
                        "[queue] encryption_key_file: this is not the key this database's inbound events were encrypted with".into(),
                    ));
                }
            }
        }
        (Some(key), None) => {
            let cipher = crypto::PayloadCipher::new(key);
            tx.insert_setting_if_absent(
                QUEUE_KEY_CHECK_SETTING,
                &cipher.seal(crypto::KEY_CHECK_PLAINTEXT),
            )
            .await?;
            Some(cipher)
        }
    };
    tx.commit().await?;
    Ok(cipher)
}

async fn load_serial_key(store: &dyn Store) -> Result<Vec<u8>, EngineError> {
    setting_or_insert(store, SERIAL_KEY_SETTING, || {
        use rand::RngCore;
        let mut fresh = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut fresh);
        fresh
    })
    .await
}

/// The installation-wide setting `key`, stored as `fresh()` when there is none yet. The
/// first writer wins, so every node ends up with the same value.
pub async fn setting_or_insert(
    store: &dyn Store,
    key: &str,
    fresh: impl FnOnce() -> Vec<u8>,
) -> Result<Vec<u8>, EngineError> {
    let mut tx = store.begin().await?;
    if let Some(value) = tx.setting(key).await? {
        tx.commit().await?;
        return Ok(value);
    }
    tx.insert_setting_if_absent(key, &fresh()).await?;
    // Another node may have written first: its value wins.
    let value = tx
        .setting(key)
        .await?
        .ok_or_else(|| EngineError::Internal(format!("setting {key} vanished")))?;
    tx.commit().await?;
    Ok(value)
}
