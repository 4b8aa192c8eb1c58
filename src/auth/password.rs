//! Password hashing with argon2id (PHC strings in the store, never the password) and
//! generation of random passwords for new accounts.

use std::sync::LazyLock;

use argon2::password_hash::SaltString;
use argon2::password_hash::rand_core::OsRng;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use rand::Rng;
use rand::distributions::Alphanumeric;

/// Longest password accepted: argon2 takes anything, but a megabyte "password" is a
/// denial-of-service attempt, not a credential.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// An argon2id hash (default parameters: 19 MiB, 2 passes) of `password`.
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| format!("cannot hash the password: {error}"))
}

/// Whether `password` matches the PHC string `phc`. The comparison inside argon2 is
/// constant-time; a malformed stored hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(error) => {
            tracing::error!(%error, "a stored password hash is malformed");
            false
        }
    }
}

/// Verified against when the account does not exist, so that an unknown name costs the
/// same time as a wrong password and the answer time does not reveal which names exist.
pub static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash("holdpoint-no-such-account").unwrap_or_default());

/// A random 24-character alphanumeric password (about 143 bits).
pub fn generate() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let first = hash("s3cret").expect("hash");
        let second = hash("s3cret").expect("hash");
        assert!(first.starts_with("$argon2id$"), "{first}");
        assert_ne!(first, second, "salted");
        assert!(verify("s3cret", &first));
        assert!(!verify("s3cret ", &first));
        assert!(!verify("s3cret", "not a phc string"));
    }

    #[test]
    fn generated_passwords() {
        let password = generate();
        assert_eq!(password.len(), 24);
        assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(password, generate());
    }
}
