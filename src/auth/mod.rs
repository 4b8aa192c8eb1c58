//! Accounts and authentication.
//!
//! An account has a name, an argon2id password hash, an `admin` flag and account-wide
//! rights (see [`Right`]). Every edge authenticates a name and password here (HTTP Basic,
//! SOAP `username`/`password`) and gets a [`Principal`]; what the principal may do with a
//! workflow is decided by the engine from the workflow's `[permissions]`.
//!
//! Verifying a password is slow on purpose; successes are remembered for a short time in a
//! [`cache::CredentialCache`]. Unknown names are checked against a dummy hash, so the
//! answer time does not tell which names exist. At most [`MAX_CONCURRENT_VERIFICATIONS`]
//! argon2 checks run at once: each takes 19 MiB, and when a cached credential expires under
//! load every request in flight would otherwise verify the same password at the same time
//! (64 clients: over 1 GiB, which the allocator keeps). A request that waited for a slot
//! looks in the cache again first, so such a herd costs at most that many verifications.

pub mod cache;
pub mod password;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::engine::access::{Access, Right};
use crate::engine::clock::rfc3339;
use crate::engine::{Caller, EngineError};
use crate::store::{AccountRow, Store};

/// Name of the account created on first start when there is none.
pub const BOOTSTRAP_ADMIN: &str = "admin";

/// An authenticated account, as the edges pass it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub admin: bool,
    pub rights: BTreeSet<Right>,
}

impl Principal {
    /// The engine caller for a request of this principal.
    pub fn caller(&self, dialect: &str, source: Option<String>) -> Caller {
        Caller {
            name: self.name.clone(),
            dialect: dialect.to_string(),
            source,
            message_id: None,
            access: Access::Account {
                admin: self.admin,
                rights: self.rights.clone(),
            },
        }
    }

    fn from_row(row: &AccountRow) -> Self {
        Self {
            name: row.name.clone(),
            admin: row.admin,
            // Rights unknown to this version (a newer node wrote them) grant nothing.
            rights: row.rights.iter().filter_map(|r| Right::parse(r)).collect(),
        }
    }
}

/// An account as listed (no hash).
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub name: String,
    pub admin: bool,
    pub rights: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A new account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub password: String,
    pub admin: bool,
    pub rights: Vec<String>,
}

pub struct Accounts {
    store: Arc<dyn Store>,
    cache: cache::CredentialCache,
    verifications: tokio::sync::Semaphore,
    verified: std::sync::atomic::AtomicU64,
}

/// Entries the credential cache holds at most.
const CACHE_CAPACITY: usize = 10_000;

/// argon2 verifications running at once, at most (each holds 19 MiB while it runs).
pub const MAX_CONCURRENT_VERIFICATIONS: usize = 2;

impl Accounts {
    pub fn new(store: Arc<dyn Store>, cache_ttl: Duration) -> Self {
        Self {
            store,
            cache: cache::CredentialCache::new(cache_ttl, CACHE_CAPACITY),
            verifications: tokio::sync::Semaphore::new(MAX_CONCURRENT_VERIFICATIONS),
            verified: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The principal for these credentials, or `None` when they are wrong (unknown name,
    /// wrong password: indistinguishable to the caller).
    pub async fn authenticate(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<Principal>, EngineError> {
        if password.len() > password::MAX_PASSWORD_BYTES {
            return Ok(None);
        }
        if let Some(principal) = self.cache.get(name, password) {
            return Ok(Some(principal));
        }
        let _slot = self
            .verifications
            .acquire()
            .await
            .map_err(|error| EngineError::Internal(format!("verification gate: {error}")))?;
        // Another request may have verified these credentials while this one waited.
        if let Some(principal) = self.cache.get(name, password) {
            return Ok(Some(principal));
        }
        let row = {
            let mut tx = self.store.begin().await?;
            let row = tx.get_account(name).await?;
            tx.commit().await?;
            row
        };
        let stored = row.as_ref().map(|row| row.password_hash.clone());
        self.verified
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let candidate = password.to_string();
        let matches = tokio::task::spawn_blocking(move || match stored {
            Some(hash) => password::verify(&candidate, &hash),
            None => {
                password::verify(&candidate, &password::DUMMY_HASH);
                false
            }
        })
        .await
        .map_err(|error| EngineError::Internal(format!("password check panicked: {error}")))?;
        let Some(row) = row.filter(|_| matches) else {
            return Ok(None);
        };
        let principal = Principal::from_row(&row);
        self.cache.insert(name, password, principal.clone());
        Ok(Some(principal))
    }

    /// argon2 verifications run since start (cache misses that reached the hash).
    pub fn verifications_run(&self) -> u64 {
        self.verified.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Adds an account. A taken name is `malformed_request`, naming it.
    pub async fn add(&self, account: &NewAccount) -> Result<(), EngineError> {
        validate_name(&account.name)?;
        validate_password(&account.password)?;
        let rights = validate_rights(&account.rights)?;
        let hash = hash_blocking(&account.password).await?;
        let now = chrono::Utc::now().timestamp_millis();
        let row = AccountRow {
            name: account.name.clone(),
            password_hash: hash,
            admin: account.admin,
            rights,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin().await?;
        if !tx.insert_account(&row).await? {
            return Err(EngineError::MalformedRequest(format!(
                "account `{}` exists already",
                account.name
            )));
        }
        tx.commit().await?;
        Ok(())
    }

    /// The account as it is now (for sessions: an admin demoted or removed since the
    /// session began is no longer let in).
    pub async fn principal(&self, name: &str) -> Result<Option<Principal>, EngineError> {
        let mut tx = self.store.begin().await?;
        let row = tx.get_account(name).await?;
        tx.commit().await?;
        Ok(row.as_ref().map(Principal::from_row))
    }

    pub async fn list(&self) -> Result<Vec<AccountView>, EngineError> {
        let mut tx = self.store.begin().await?;
        let rows = tx.list_accounts().await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|row| AccountView {
                name: row.name,
                admin: row.admin,
                rights: row.rights,
                created_at: rfc3339(row.created_at),
                updated_at: rfc3339(row.updated_at),
            })
            .collect())
    }

    /// Removes an account; `unknown_account` errors name it.
    pub async fn remove(&self, name: &str) -> Result<(), EngineError> {
        let mut tx = self.store.begin().await?;
        if !tx.delete_account(name).await? {
            return Err(no_such_account(name));
        }
        tx.commit().await?;
        self.cache.clear();
        Ok(())
    }

    pub async fn set_password(&self, name: &str, password: &str) -> Result<(), EngineError> {
        validate_password(password)?;
        let hash = hash_blocking(password).await?;
        let now = chrono::Utc::now().timestamp_millis();
        let mut tx = self.store.begin().await?;
        if !tx.set_account_password(name, &hash, now).await? {
            return Err(no_such_account(name));
        }
        tx.commit().await?;
        self.cache.clear();
        Ok(())
    }

    /// On a store without any account, creates [`BOOTSTRAP_ADMIN`] with a random password
    /// and returns that password (to be shown once). Several nodes starting at once create
    /// it once: the others find it there.
    pub async fn ensure_admin(&self) -> Result<Option<String>, EngineError> {
        {
            let mut tx = self.store.begin().await?;
            let any = !tx.list_accounts().await?.is_empty();
            tx.commit().await?;
            if any {
                return Ok(None);
            }
        }
        let password = password::generate();
        let account = NewAccount {
            name: BOOTSTRAP_ADMIN.into(),
            password: password.clone(),
            admin: true,
            rights: Vec::new(),
        };
        match self.add(&account).await {
            Ok(()) => Ok(Some(password)),
            // Another node created it between our look and our insert.
            Err(EngineError::MalformedRequest(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

fn no_such_account(name: &str) -> EngineError {
    EngineError::MalformedRequest(format!("no account named `{name}`"))
}

async fn hash_blocking(password: &str) -> Result<String, EngineError> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|error| EngineError::Internal(format!("password hashing panicked: {error}")))?
        .map_err(EngineError::Internal)
}

/// Names travel in Basic credentials (no `:`) and in logs: 1–64 of `A-Za-z0-9._@-`.
pub fn validate_name(name: &str) -> Result<(), EngineError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if valid {
        Ok(())
    } else {
        Err(EngineError::MalformedRequest(format!(
            "invalid account name `{name}`: use 1 to 64 of A-Z a-z 0-9 . _ @ -"
        )))
    }
}

fn validate_password(password: &str) -> Result<(), EngineError> {
    if password.is_empty() || password.len() > password::MAX_PASSWORD_BYTES {
        return Err(EngineError::MalformedRequest(format!(
            "a password must have 1 to {} bytes",
            password::MAX_PASSWORD_BYTES
        )));
    }
    Ok(())
}

/// Checks right names; returns them sorted and without duplicates.
fn validate_rights(rights: &[String]) -> Result<Vec<String>, EngineError> {
    let mut parsed = BTreeSet::new();
    for right in rights {
        let known = Right::parse(right).ok_or_else(|| {
            EngineError::MalformedRequest(format!(
                "unknown right `{right}` (known: {})",
                Right::known()
            ))
        })?;
        parsed.insert(known.as_str().to_string());
    }
    Ok(parsed.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_rights_are_checked() {
        assert!(validate_name("erp-01@corp.example").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("a:b").is_err());
        assert!(validate_name(&"x".repeat(65)).is_err());
        assert_eq!(
            validate_rights(&["send_events".into(), "send_events".into()]).unwrap(),
            vec!["send_events".to_string()]
        );
        assert_eq!(
            validate_rights(&["fly".into()]).unwrap_err().to_string(),
            "unknown right `fly` (known: send_events)"
        );
    }
}
