//! Fuzzes the SOAP envelope reader with arbitrary bytes: decoding (BOMs, UTF-16, invalid
//! UTF-8), parsing, limits and the mustUnderstand check must never panic, and whatever
//! is accepted must be writable again. Run: `cargo fuzz run envelope_reader` in `fuzz/`.
#![no_main]

use holdpoint::soap::writer::{XmlWriter, envelope};
use holdpoint::soap::{Limits, decode, read_envelope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Small limits so that the fuzzer reaches them.
    let limits = Limits {
        max_body: 64 * 1024,
        max_depth: 32,
        max_attributes: 16,
        max_text: 4096,
    };
    let charset = match data.first() {
        Some(b) if b % 7 == 0 => Some("utf-16"),
        Some(b) if b % 11 == 0 => Some("iso-8859-1"),
        _ => None,
    };
    let Ok(text) = decode::to_utf8(data, charset) else {
        return;
    };
    let Ok(parsed) = read_envelope(&text, &limits) else {
        return;
    };
    let _ = parsed.check_must_understand(&[]);
    // What was read can be written back and read again to the same text.
    let mut body = XmlWriter::new();
    body.start("o:Echo", &[("xmlns:o", "urn:fuzz")])
        .text(&parsed.body.text)
        .end("o:Echo");
    // The tree borrows from its text, so the written envelope is kept while it is read.
    let written = envelope(parsed.version, None, body.finish_ref());
    let again = read_envelope(&written, &Limits::default()).expect("our own output must parse");
    assert_eq!(
        again.body.text,
        parsed.body.text.replace(|c: char| !is_xml_char(c), "\u{FFFD}")
    );
});

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}
