//! Fuzzes Orchestrator's value formats: `sendCustomEvent`'s `serializedProperties`
//! (`key=value` lines), `#{#type#value#;…}#` arrays and typed attribute values. None may
//! panic; properties and arrays that parse must survive being written out and read back.
//! Run: `cargo fuzz run serialized_properties` in `fuzz/`.
#![no_main]

use holdpoint::services::orchestrator::values::{
    attribute_value, format_array, parse_array, parse_date, parse_properties,
    parse_simple_inputs,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(properties) = parse_properties(Some(text)) {
        // CRLF endings, so that a value's own trailing CR survives the way back.
        let written: String = properties
            .iter()
            .map(|(key, value)| format!("{key}={}\r\n", value.as_str().unwrap_or_default()))
            .collect();
        assert_eq!(
            parse_properties(Some(&written)).as_ref(),
            Ok(&properties),
            "{written:?}"
        );
    }
    if let Ok(items) = parse_array(text) {
        let written = format_array(&items);
        if let Ok(again) = parse_array(&written) {
            assert_eq!(again.len(), items.len(), "{written:?}");
        }
    }
    let (type_name, value) = text.split_once('|').unwrap_or((text, ""));
    let _ = attribute_value(type_name, Some(value));
    let _ = parse_date(text);
    let _ = parse_simple_inputs(text);
});
