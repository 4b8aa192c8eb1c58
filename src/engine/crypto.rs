//! Encryption of inbound queue payloads at rest (AES-256-GCM), for events that carry
//! personal data through the database.
//!
//! A sealed payload is a random 96-bit nonce followed by the ciphertext and its tag. The
//! first engine that runs with a key stores a sealed check value in the database; every
//! later start verifies it, so a wrong key is a clear startup error, never silent garbage,
//! and a database with encrypted payloads refuses to start without a key.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand::RngCore;

const NONCE_LEN: usize = 12;

/// A 256-bit key, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct QueueKey([u8; 32]);

impl std::fmt::Debug for QueueKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueKey(…)")
    }
}

impl QueueKey {
    /// A key file holds 32 bytes: raw, as 64 hex digits, or as base64.
    pub fn from_file_contents(bytes: &[u8]) -> Result<Self, String> {
        if let Ok(raw) = <[u8; 32]>::try_from(bytes) {
            return Ok(Self(raw));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| "the key file must hold 32 bytes, 64 hex digits or base64".to_string())?
            .trim();
        let decoded = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|e| e.to_string())?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| {
                    "the key file must hold 32 bytes, 64 hex digits or base64".to_string()
                })?
        };
        <[u8; 32]>::try_from(decoded.as_slice())
            .map(Self)
            .map_err(|_| format!("the key must be 32 bytes (256 bits), not {}", decoded.len()))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

pub struct PayloadCipher {
    cipher: Aes256Gcm,
}

impl PayloadCipher {
    pub fn new(key: &QueueKey) -> Self {
        Self {
            cipher: Aes256Gcm::new((&key.0).into()),
        }
    }

    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut sealed = nonce.to_vec();
        // Encrypting into a Vec cannot fail for payloads under the 64 GiB GCM limit.
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .unwrap_or_default();
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err("the sealed payload is too short".into());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| "the payload does not decrypt with this key".to_string())
    }
}

/// What the check value decrypts to.
pub const KEY_CHECK_PLAINTEXT: &[u8] = b"holdpoint inbound queue key check v1";

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::{PayloadCipher, QueueKey};

    #[test]
    fn seal_open_and_wrong_keys() {
        let key = QueueKey::from_bytes([7; 32]);
        let cipher = PayloadCipher::new(&key);
        let sealed = cipher.seal(b"{\"Title\":\"secret\"}");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_ne!(
            sealed,
            cipher.seal(b"{\"Title\":\"secret\"}"),
            "fresh nonce"
        );
        assert_eq!(cipher.open(&sealed).unwrap(), b"{\"Title\":\"secret\"}");
        let other = PayloadCipher::new(&QueueKey::from_bytes([8; 32]));
        assert!(other.open(&sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(cipher.open(&tampered).is_err());
    }

    #[test]
    fn key_files() {
        let hex = "00".repeat(31) + "ff";
        assert_eq!(
            QueueKey::from_file_contents(format!("{hex}\n").as_bytes())
                .unwrap()
                .0[31],
            0xff
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert_eq!(
            QueueKey::from_file_contents(b64.as_bytes()).unwrap().0,
            [1; 32]
        );
        assert_eq!(QueueKey::from_file_contents(&[2u8; 32]).unwrap().0, [2; 32]);
        assert!(QueueKey::from_file_contents(b"short").is_err());
        assert!(format!("{:?}", QueueKey::from_bytes([3; 32])).contains('…'));
    }
}
