//! Fuzzes the SharePoint remote-event decoder: arbitrary bytes read as a SOAP envelope,
//! its operation decoded as `ProcessEvent` properties (item, list, app and entity event
//! properties, typed `KeyValueOfstringanyType` values). It must never panic, and what it
//! accepts must be a JSON object naming its event type. Seeds: `fixtures/sharepoint/`.
//! Run: `cargo fuzz run sharepoint_properties` in `fuzz/`.
#![no_main]

use holdpoint::services::sharepoint::properties::parse;
use holdpoint::soap::{Limits, decode, read_envelope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = decode::to_utf8(data, None) else {
        return;
    };
    let Ok(envelope) = read_envelope(&text, &Limits::default()) else {
        return;
    };
    if let Ok(event) = parse(&envelope.body) {
        assert!(event.json.is_object(), "an event is a JSON object");
        assert!(!event.event_type.is_empty() || !event.known_type);
    }
});
