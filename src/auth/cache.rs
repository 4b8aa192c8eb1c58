//! A bounded, short-lived memory of verified credentials, so that argon2 (tens of
//! milliseconds by design) runs once per client and period rather than on every request.
//!
//! Entries are keyed by HMAC-SHA256 over name and password under a random per-process
//! key: the password is never kept, and the key cannot be recomputed from a memory dump
//! without that secret. Only successes are cached. An entry lives at most `ttl`, so a
//! password changed or an account removed by another process stops working within `ttl`
//! on every node (changes made through this process clear the cache at once).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::Principal;

type Key = [u8; 32];

pub struct CredentialCache {
    /// HMAC-SHA256 keyed with the secret once; each key starts from a copy of it.
    keyed: Hmac<Sha256>,
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<Key, (Instant, Principal)>>,
}

impl CredentialCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Self {
            keyed: <Hmac<Sha256> as Mac>::new_from_slice(&secret)
                .expect("hmac takes keys of any length"),
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, name: &str, password: &str) -> Key {
        let mut mac = self.keyed.clone();
        // The length prefix keeps ("ab", "c") and ("a", "bc") apart.
        mac.update(&(name.len() as u64).to_be_bytes());
        mac.update(name.as_bytes());
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn get(&self, name: &str, password: &str) -> Option<Principal> {
        if self.ttl.is_zero() {
            return None;
        }
        let key = self.key(name, password);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(&key) {
            Some((expires, principal)) if *expires > Instant::now() => Some(principal.clone()),
            _ => None,
        }
    }

    pub fn insert(&self, name: &str, password: &str, principal: Principal) {
        if self.ttl.is_zero() {
            return;
        }
        let key = self.key(name, password);
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, (expires, _)| *expires > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (now + self.ttl, principal));
    }

    /// Forgets everything (an account changed).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(name: &str) -> Principal {
        Principal {
            name: name.into(),
            admin: false,
            rights: Default::default(),
        }
    }

    #[test]
    fn remembers_only_the_exact_credentials() {
        let cache = CredentialCache::new(Duration::from_secs(60), 10);
        cache.insert("erp", "pw", principal("erp"));
        assert_eq!(cache.get("erp", "pw").map(|p| p.name), Some("erp".into()));
        assert!(cache.get("erp", "pw2").is_none());
        assert!(cache.get("er", "ppw").is_none());
        cache.clear();
        assert!(cache.get("erp", "pw").is_none());
    }

    #[test]
    fn bounded_and_expiring() {
        let cache = CredentialCache::new(Duration::from_millis(20), 2);
        cache.insert("a", "1", principal("a"));
        cache.insert("b", "2", principal("b"));
        cache.insert("c", "3", principal("c"));
        assert!(cache.entries.lock().unwrap().len() <= 2);
        std::thread::sleep(Duration::from_millis(30));
        assert!(cache.get("c", "3").is_none());
        let off = CredentialCache::new(Duration::ZERO, 2);
        off.insert("a", "1", principal("a"));
        assert!(off.get("a", "1").is_none());
    }
}
