//! Admin sessions and CSRF tokens, both MACs under a key derived from the installation
//! key (so any node accepts a session another node issued, and nothing is stored).
//!
//! - Session cookie `hp_session` = `base64url(name).expires_ms.base64url(mac)`, HttpOnly,
//!   `SameSite=Strict`, `Path=/admin`, `Secure` over HTTPS, valid for [`SESSION_TTL`].
//!   The account is re-read on every request, so removing or demoting an admin ends its
//!   sessions at once.
//! - CSRF token: a MAC of the session cookie (or, for HTTP Basic callers, of the account
//!   name), sent back in a hidden form field with every POST.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const COOKIE: &str = "hp_session";
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

#[derive(Clone)]
pub struct SessionKeys {
    key: Vec<u8>,
}

impl SessionKeys {
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    fn tag(&self, parts: &[&str]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(b"\0");
        }
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// A session cookie value for `name`, valid until `now + SESSION_TTL`.
    pub fn issue(&self, name: &str, now_ms: i64) -> String {
        let expires = now_ms.saturating_add(SESSION_TTL.as_millis() as i64);
        let encoded = URL_SAFE_NO_PAD.encode(name);
        let tag = self.tag(&["session", name, &expires.to_string()]);
        format!("{encoded}.{expires}.{tag}")
    }

    /// The account name of a valid, unexpired session cookie.
    pub fn verify(&self, value: &str, now_ms: i64) -> Option<String> {
        let mut parts = value.split('.');
        let (encoded, expires, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let name = String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()?;
        let expected = self.tag(&["session", &name, expires]);
        if !bool::from(expected.as_bytes().ct_eq(tag.as_bytes())) {
            return None;
        }
        (expires.parse::<i64>().ok()? > now_ms).then_some(name)
    }

    /// The CSRF token of a session (its cookie value) or of a Basic-authenticated name.
    pub fn csrf(&self, binding: &str) -> String {
        self.tag(&["csrf", binding])
    }

    pub fn csrf_matches(&self, binding: &str, token: &str) -> bool {
        bool::from(self.csrf(binding).as_bytes().ct_eq(token.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_signed_and_expire() {
        let keys = SessionKeys::new(vec![7; 32]);
        let cookie = keys.issue("root", 1_000);
        assert_eq!(keys.verify(&cookie, 2_000).as_deref(), Some("root"));
        let ttl = SESSION_TTL.as_millis() as i64;
        assert_eq!(keys.verify(&cookie, 1_000 + ttl), None, "expired");
        let forged = cookie.replacen(
            &URL_SAFE_NO_PAD.encode("root"),
            &URL_SAFE_NO_PAD.encode("toor"),
            1,
        );
        assert_eq!(keys.verify(&forged, 2_000), None, "another name");
        let longer = cookie.replacen(".", ".9", 1);
        assert_eq!(keys.verify(&longer, 2_000), None, "another expiry");
        let other = SessionKeys::new(vec![8; 32]);
        assert_eq!(other.verify(&cookie, 2_000), None, "another installation");
        assert_eq!(keys.verify("garbage", 2_000), None);
    }

    #[test]
    fn csrf_tokens_are_bound() {
        let keys = SessionKeys::new(vec![7; 32]);
        let token = keys.csrf("session-a");
        assert!(keys.csrf_matches("session-a", &token));
        assert!(!keys.csrf_matches("session-b", &token));
        assert!(!keys.csrf_matches("session-a", ""));
    }
}
