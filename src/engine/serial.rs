//! Serial numbers of server items, in K2's shape `{instance}_{wait}` (e.g. `5_31`).
//!
//! When signing is on, a MAC is appended after a dot: `5_31.<base64url>`, a truncated
//! HMAC-SHA256 of the bare serial under the installation key stored in the database, so
//! every node shares it. A serial whose MAC is missing or wrong parses as `None`, exactly
//! like an unknown one: callers cannot probe for valid ids.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of the HMAC kept in a serial: 96 bits, 16 characters of base64url.
const MAC_BYTES: usize = 12;

#[derive(Clone)]
pub struct SerialCodec {
    tags: TaggedIds,
    signed: bool,
}

impl SerialCodec {
    pub fn new(key: Vec<u8>, signed: bool) -> Self {
        Self {
            tags: TaggedIds::new(key, MAC_BYTES),
            signed,
        }
    }

    pub fn format(&self, instance_id: i64, wait_id: i64) -> String {
        if !self.signed {
            return format!("{instance_id}_{wait_id}");
        }
        self.tags.format(instance_id, wait_id)
    }

    /// The (instance, wait) ids of a serial, or `None` when it is not one of ours.
    /// With signing off, a signed serial is still accepted when its MAC is right.
    pub fn parse(&self, serial: &str) -> Option<(i64, i64)> {
        if serial.contains('.') || self.signed {
            return self.tags.parse(serial);
        }
        bare_ids(serial)
    }

    /// A key for another purpose (admin sessions, CSRF tokens, callback URLs), derived
    /// from the installation key, so that every node derives the same one.
    pub fn derive_key(&self, purpose: &str) -> Vec<u8> {
        let mut mac = self.tags.mac("holdpoint derived key:");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// `{instance}_{wait}.{tag}`: ids in the clear and the first `tag_bytes` of their
/// HMAC-SHA256 under `key`, base64url; what serials and callback tokens are made of.
#[derive(Clone)]
pub(crate) struct TaggedIds {
    /// HMAC-SHA256 keyed once: each tag starts from a copy of it rather than hashing the
    /// key's two pads again, half of the hashing a tag costs.
    keyed: Hmac<Sha256>,
    tag_bytes: usize,
}

impl TaggedIds {
    pub fn new(key: Vec<u8>, tag_bytes: usize) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
        Self { keyed, tag_bytes }
    }

    pub fn format(&self, instance_id: i64, wait_id: i64) -> String {
        let bare = format!("{instance_id}_{wait_id}");
        let tag = self.mac(&bare).finalize().into_bytes();
        format!("{bare}.{}", URL_SAFE_NO_PAD.encode(&tag[..self.tag_bytes]))
    }

    /// The ids of a tagged token, or `None` unless its tag is right (checked in constant
    /// time) and of this length.
    pub fn parse(&self, token: &str) -> Option<(i64, i64)> {
        let (bare, tag) = token.split_once('.')?;
        let ids = bare_ids(bare)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        if tag.len() != self.tag_bytes {
            return None;
        }
        self.mac(bare).verify_truncated_left(&tag).ok()?;
        Some(ids)
    }

    fn mac(&self, bare: &str) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(bare.as_bytes());
        mac
    }
}

/// `{instance}_{wait}` with both ids positive decimal numbers.
fn bare_ids(bare: &str) -> Option<(i64, i64)> {
    let (instance, wait) = bare.split_once('_')?;
    Some((parse_id(instance)?, parse_id(wait)?))
}

fn parse_id(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::SerialCodec;

    fn codec(signed: bool) -> SerialCodec {
        SerialCodec::new(b"0123456789abcdef0123456789abcdef".to_vec(), signed)
    }

    #[test]
    fn signed_round_trip() {
        let serial = codec(true).format(5, 31);
        assert!(serial.starts_with("5_31."));
        assert_eq!(codec(true).parse(&serial), Some((5, 31)));
    }

    /// Serials already handed out must keep parsing: the tag is HMAC-SHA256 of the bare
    /// serial, truncated (the values computed apart, with Python's `hmac`).
    #[test]
    fn tags_and_derived_keys_are_plain_hmac_sha256() {
        assert_eq!(codec(true).format(5, 31), "5_31.HiSbbBF8j8730msH");
        let derived: String = codec(true)
            .derive_key("admin sessions")
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(
            derived,
            "81f80c4efc171db30b0ecfd87ed22bb5a35f50f701a933c2c7c27be19bd5b125"
        );
    }

    #[test]
    fn forged_or_missing_mac_is_unknown() {
        let serial = codec(true).format(5, 31);
        assert_eq!(codec(true).parse("5_31"), None);
        let forged = serial.replacen("5_31", "5_32", 1);
        assert_eq!(codec(true).parse(&forged), None);
        let other_key = SerialCodec::new(b"another key".to_vec(), true);
        assert_eq!(other_key.parse(&serial), None);
        assert_eq!(codec(true).parse("5_31.AAAA"), None);
    }

    #[test]
    fn unsigned_serials_and_garbage() {
        assert_eq!(codec(false).format(5, 31), "5_31");
        assert_eq!(codec(false).parse("5_31"), Some((5, 31)));
        for bad in [
            "", "5", "_31", "5_", "a_b", "-1_2", "5_31_2", "0_1", "+5_31",
        ] {
            assert_eq!(codec(false).parse(bad), None, "{bad}");
        }
    }
}
