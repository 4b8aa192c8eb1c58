//! The per-installation SharePoint receiver key, checked by `[sharepoint] auth =
//! "receiver_key"` (the default).
//!
//! SharePoint Online's remote event receivers send no credentials, so the only secret a
//! registration can carry is its URL: the operator registers
//! `https://host/sharepoint/RemoteEventService.svc?key=…` and every event without that
//! key, or with another, is refused before its body is read.
//!
//! - Where it lives: the store's settings table, generated the first time it is needed
//!   (the first writer wins, as with the serial key), so every node shares it.
//! - Why a query parameter and not a path segment: the configured paths, the `?wsdl`
//!   document and the routes stay as they are; SharePoint keeps a registration URL's query
//!   string; and the request log records paths only, so the key stays out of the logs.
//! - Comparison: constant time over the whole value ([`ReceiverKey::admits`]).
//! - Rotation: [`rotate`] replaces it in the store (`holdpoint sharepoint rotate-key`).
//!   Each node keeps the key it read for [`KEY_CACHE_TTL`](crate::config::sharepoint::KEY_CACHE_TTL): reading it from the store for
//!   every event would put a transaction (a write lock on the embedded store) in front
//!   of every request, forged ones included. So an old key stops working everywhere, and
//!   a new one starts, at most that long after a rotation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;

use crate::engine::EngineError;
use crate::store::Store;

/// Settings key of the receiver key.
const SETTING: &str = "sharepoint_receiver_key";
/// The query parameter that carries it.
pub const QUERY_PARAMETER: &str = "key";

/// The key's text: 256 random bits, base64url, safe in a URL as it is.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceiverKey(String);

impl ReceiverKey {
    fn generate() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a request's query string carries this key. The comparison takes the
    /// same time whatever the bytes given, so the key cannot be guessed byte by byte.
    pub fn admits(&self, query: &str) -> bool {
        given_key(query).is_some_and(|given| bool::from(given.as_bytes().ct_eq(self.0.as_bytes())))
    }

    /// The query string to append to a receiver path: `key=…`.
    pub fn query(&self) -> String {
        format!("{QUERY_PARAMETER}={}", self.0)
    }
}

/// Never printed by accident (debug logs of settings and errors).
impl std::fmt::Debug for ReceiverKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReceiverKey(…)")
    }
}

/// The first `key` parameter of a query string, percent-decoded.
fn given_key(query: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(name, _)| name == QUERY_PARAMETER)
        .map(|(_, value)| value)
}

/// The installation's key, generated and stored if there is none yet.
pub async fn load_or_create(store: &dyn Store) -> Result<ReceiverKey, EngineError> {
    let mut tx = store.begin().await?;
    if let Some(stored) = tx.setting(SETTING).await? {
        tx.commit().await?;
        return decode(stored);
    }
    tx.insert_setting_if_absent(SETTING, ReceiverKey::generate().0.as_bytes())
        .await?;
    // Another node may have written first: its key wins.
    let stored = tx
        .setting(SETTING)
        .await?
        .ok_or_else(|| EngineError::Internal("the receiver key vanished".into()))?;
    tx.commit().await?;
    decode(stored)
}

/// Replaces the key with a new random one and returns it. Registrations that carry the
/// old key are refused from [`KEY_CACHE_TTL`](crate::config::sharepoint::KEY_CACHE_TTL) after this on.
pub async fn rotate(store: &dyn Store) -> Result<ReceiverKey, EngineError> {
    let key = ReceiverKey::generate();
    let mut tx = store.begin().await?;
    tx.replace_setting(SETTING, key.0.as_bytes()).await?;
    tx.commit().await?;
    Ok(key)
}

fn decode(stored: Vec<u8>) -> Result<ReceiverKey, EngineError> {
    String::from_utf8(stored)
        .map(ReceiverKey)
        .map_err(|_| EngineError::Internal("the stored receiver key is not text".into()))
}

/// The key as this node last read it, re-read once it is older than the TTL.
pub struct KeyCache {
    ttl: Duration,
    // A tokio mutex: while one event re-reads the key, the others wait for that read
    // instead of each starting their own.
    cached: Mutex<Option<(Instant, Arc<ReceiverKey>)>>,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            cached: Mutex::new(None),
        }
    }

    pub async fn current(&self, store: &dyn Store) -> Result<Arc<ReceiverKey>, EngineError> {
        let mut cached = self.cached.lock().await;
        if let Some((read_at, key)) = cached.as_ref()
            && read_at.elapsed() < self.ttl
        {
            return Ok(Arc::clone(key));
        }
        let key = Arc::new(load_or_create(store).await?);
        *cached = Some((Instant::now(), Arc::clone(&key)));
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{KeyCache, ReceiverKey, load_or_create, rotate};
    use crate::store::StoreTarget;

    #[test]
    fn only_the_exact_key_is_admitted() {
        let key = ReceiverKey("abc-DEF_123".into());
        assert!(key.admits("key=abc-DEF_123"));
        assert!(key.admits("wsdl&key=abc-DEF_123&x=1"));
        assert!(key.admits("key=abc%2DDEF_123"), "percent-decoded");
        let absent_or_cut = ["", "key=", "key=abc-DEF_12", "key=abc-DEF_1234"];
        let other_case_or_name = ["key=ABC-DEF_123", "Key=abc-DEF_123", "k=abc-DEF_123"];
        for refused in absent_or_cut.into_iter().chain(other_case_or_name) {
            assert!(!key.admits(refused), "{refused}");
        }
        assert_eq!(format!("{key:?}"), "ReceiverKey(…)");
    }

    #[tokio::test]
    async fn generated_once_shared_and_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open(&StoreTarget::Sqlite {
            path: dir.path().join("holdpoint.db"),
        })
        .await
        .unwrap();
        let first = load_or_create(store.as_ref()).await.unwrap();
        assert_eq!(first.as_str().len(), 43, "256 bits, base64url");
        assert_eq!(load_or_create(store.as_ref()).await.unwrap(), first);
        let cache = KeyCache::new(Duration::from_secs(3600));
        assert_eq!(*cache.current(store.as_ref()).await.unwrap(), first);
        let rotated = rotate(store.as_ref()).await.unwrap();
        assert_ne!(rotated, first);
        assert_eq!(load_or_create(store.as_ref()).await.unwrap(), rotated);
        assert_eq!(
            *cache.current(store.as_ref()).await.unwrap(),
            first,
            "cached until the TTL"
        );
        let uncached = KeyCache::new(Duration::ZERO);
        assert_eq!(*uncached.current(store.as_ref()).await.unwrap(), rotated);
    }
}
