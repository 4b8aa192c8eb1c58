//! Sealed at rest: with `[queue] encryption_key_file` set, no stored copy of an inbound
//! event's payload is plain text.
//!
//! What is sealed (AES-256-GCM under the queue key, see [`super::crypto`]):
//! - the inbound queue row's payload (a binary column with its `encrypted` flag);
//! - an instance's trigger event (`instances.trigger_event`), whatever started the
//!   instance: a queued SharePoint or kenaflow event, a synchronous `ProcessEvent`, a
//!   `/ud{a|b}/{j|x|b}/` call or the API;
//! - the properties of a buffered custom event (`buffered_events.properties`): an inbound
//!   `signal` nobody waits for yet is buffered with the whole event as its properties, so
//!   this is a copy of the payload too. Every buffered event is sealed, whoever sent it:
//!   one rule is easier to trust than one per origin.
//!
//! The JSON columns keep their types: a sealed value is stored as the JSON object
//! `{"$sealed": "<base64 of nonce + ciphertext + tag>"}`, so neither store needs a
//! migration, a store copy or backup carries sealed values as they are, and the store
//! stays ignorant of encryption. The engine opens a sealed value when it reads it for a
//! template (the trigger event, once per command; see `Run::context`) or takes a buffered
//! event; nothing but `insert_instance` ever writes the trigger event, so the opened copy
//! an instance holds in memory is never written back. Without a key nothing is sealed,
//! and a plain value is read as it is (instances started before a key was configured).
//!
//! What is not sealed, on purpose:
//! - fields: what a workflow declares in `[fields]` and fills from an event (a `set` step,
//!   a custom event's declared properties, the `event_properties` json field that collects
//!   the rest) is the workflow's business data. The API, K2 `OpenServerItem`, vRO tokens
//!   and conditions read it; an author who must not keep a value in plain text does not
//!   declare a field for it.
//! - what the workflow renders from the event by its own templates: `reply`, a `fail`
//!   message, the body of a `call` or `notify` (the outbox must send it), an event name
//!   (it is the key waits are found by).
//! - history: detail rows name the properties a workflow ignored, never their values; who,
//!   when, from where and which dialect are the audit trail itself.
//! - error texts (an inbound row's `last_error`, an instance's `error`): a value that does
//!   not convert to a field's type is quoted there in a short excerpt, for the operator.
//!
//! Nothing shows the trigger event: the instance views (API, admin pages, vRO tokens)
//! have never included it, so there is nothing to open for them.

use std::borrow::Cow;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::Engine;
use super::crypto::PayloadCipher;

/// The key of the JSON object that holds a sealed value.
pub const SEALED_KEY: &str = "$sealed";

/// `{"$sealed": "…"}` for `value`.
fn seal_value(cipher: &PayloadCipher, value: &Value) -> Value {
    // Serialising a `Value` cannot fail: its keys are strings.
    let plain = serde_json::to_vec(value).unwrap_or_default();
    let sealed = base64::engine::general_purpose::STANDARD.encode(cipher.seal(&plain));
    let mut envelope = Map::new();
    envelope.insert(SEALED_KEY.to_string(), Value::String(sealed));
    Value::Object(envelope)
}

/// The base64 text of a sealed envelope: an object with the one key `$sealed`.
fn envelope_text(map: &Map<String, Value>) -> Option<&str> {
    if map.len() != 1 {
        return None;
    }
    map.get(SEALED_KEY).and_then(Value::as_str)
}

fn open_text(cipher: Option<&PayloadCipher>, text: &str) -> Result<Value, String> {
    let cipher = cipher.ok_or("the value is sealed and no queue key is configured")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| "the sealed value is not base64")?;
    let plain = cipher.open(&bytes)?;
    serde_json::from_slice(&plain).map_err(|error| format!("the sealed value is not json: {error}"))
}

impl Engine {
    /// What an instance's trigger event is stored as: sealed when a key is configured.
    pub(crate) fn seal_event(&self, event: &Value) -> Value {
        match &self.payload_cipher {
            Some(cipher) => seal_value(cipher, event),
            None => event.clone(),
        }
    }

    /// A stored trigger event as templates see it; a plain one is borrowed as it is.
    pub(crate) fn open_event<'v>(&self, stored: &'v Value) -> Result<Cow<'v, Value>, String> {
        match stored.as_object().and_then(envelope_text) {
            Some(text) => open_text(self.payload_cipher.as_ref(), text).map(Cow::Owned),
            None => Ok(Cow::Borrowed(stored)),
        }
    }

    /// What a buffered event's properties are stored as.
    pub(crate) fn seal_properties(&self, properties: Map<String, Value>) -> Map<String, Value> {
        match &self.payload_cipher {
            Some(cipher) => match seal_value(cipher, &Value::Object(properties)) {
                Value::Object(envelope) => envelope,
                _ => Map::new(),
            },
            None => properties,
        }
    }

    /// A buffered event's properties as stored, opened.
    pub(crate) fn open_properties(
        &self,
        stored: Map<String, Value>,
    ) -> Result<Map<String, Value>, String> {
        let Some(text) = envelope_text(&stored) else {
            return Ok(stored);
        };
        match open_text(self.payload_cipher.as_ref(), text)? {
            Value::Object(properties) => Ok(properties),
            _ => Err("the sealed properties are not a json object".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Map, PayloadCipher, SEALED_KEY, envelope_text, open_text, seal_value};
    use crate::engine::crypto::QueueKey;

    #[test]
    fn sealed_values_hide_their_content_and_open_again() {
        let cipher = PayloadCipher::new(&QueueKey::from_bytes([5; 32]));
        let event = json!({"after": {"Title": "Zebra-4711"}, "item_id": 7});
        let sealed = seal_value(&cipher, &event);
        assert!(!sealed.to_string().contains("Zebra"), "{sealed}");
        let text = envelope_text(sealed.as_object().unwrap()).unwrap();
        assert_eq!(open_text(Some(&cipher), text).unwrap(), event);
        let other = PayloadCipher::new(&QueueKey::from_bytes([6; 32]));
        assert!(open_text(Some(&other), text).is_err());
        assert!(open_text(None, text).unwrap_err().contains("no queue key"));
        assert!(open_text(Some(&cipher), "not base64!").is_err());
    }

    #[test]
    fn only_the_one_key_object_is_an_envelope() {
        let mut map = Map::new();
        map.insert(SEALED_KEY.into(), json!("abc"));
        assert_eq!(envelope_text(&map), Some("abc"));
        map.insert("other".into(), json!(1));
        assert_eq!(envelope_text(&map), None);
        let mut number = Map::new();
        number.insert(SEALED_KEY.into(), json!(1));
        assert_eq!(envelope_text(&number), None);
    }
}
