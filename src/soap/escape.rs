//! Escaping text and attribute values for the writer ([`super::writer`]): `&`, `<`, `>`
//! and (in attributes) quotes become entities, carriage returns and (in attributes) tabs
//! and newlines character references so that they survive a reader's normalisation, and
//! characters XML 1.0 cannot carry at all (C0 controls but tab, newline and carriage
//! return; U+FFFE, U+FFFF) become U+FFFD.
//!
//! Runs of characters that stay as they are are copied whole. Only a few bytes can start
//! a character that needs anything (ASCII ones, and 0xEF, the lead byte of U+FFFE and
//! U+FFFF), so the scan is by byte, and a character is decoded only where one of them is
//! found. Pushed one character at a time, escaping was the largest part of writing an
//! answer (callgrind of the echo benchmark, 2026-12-06).

/// Appends `text` escaped as element content.
pub fn escape_text(out: &mut String, text: &str) {
    escape(out, text, Place::Text);
}

/// Appends `text` escaped as the value of a double-quoted attribute.
pub fn escape_attribute(out: &mut String, text: &str) {
    escape(out, text, Place::Attribute);
}

/// Where the escaped text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Text,
    Attribute,
}

/// [`may_need_escaping`] of every byte, looked up rather than worked out: a third of the
/// instructions per byte (callgrind).
const TEXT_BYTES: [bool; 256] = byte_table(Place::Text);
const ATTRIBUTE_BYTES: [bool; 256] = byte_table(Place::Attribute);

const fn byte_table(place: Place) -> [bool; 256] {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < table.len() {
        table[byte] = may_need_escaping(byte as u8, place);
        byte += 1;
    }
    table
}

fn escape(out: &mut String, text: &str, place: Place) {
    let special = match place {
        Place::Text => &TEXT_BYTES,
        Place::Attribute => &ATTRIBUTE_BYTES,
    };
    let mut rest = text;
    while let Some(at) = rest.bytes().position(|byte| special[usize::from(byte)]) {
        // `at` is an ASCII byte or a lead byte: a character boundary.
        let (plain, from) = rest.split_at(at);
        out.push_str(plain);
        // Never `None`: `at` is within `rest`.
        let Some(c) = from.chars().next() else {
            break;
        };
        match replacement(c, place) {
            Some(replacement) => out.push_str(replacement),
            None => out.push(c),
        }
        rest = &from[c.len_utf8()..];
    }
    out.push_str(rest);
}

/// Whether `byte` may start a character that [`replacement`] replaces.
const fn may_need_escaping(byte: u8, place: Place) -> bool {
    match byte {
        // Controls (tab, newline and carriage return included), markup, U+FFFE / U+FFFF.
        0x00..=0x1f | b'&' | b'<' | b'>' | 0xef => true,
        b'"' | b'\'' => matches!(place, Place::Attribute),
        _ => false,
    }
}

/// What `c` becomes, if not itself.
fn replacement(c: char, place: Place) -> Option<&'static str> {
    let attribute = place == Place::Attribute;
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '\r' => Some("&#13;"),
        '"' if attribute => Some("&quot;"),
        '\'' if attribute => Some("&apos;"),
        '\n' if attribute => Some("&#10;"),
        '\t' if attribute => Some("&#9;"),
        c if is_xml_char(c) => None,
        _ => Some("\u{FFFD}"),
    }
}

/// Whether XML 1.0 can carry this character at all.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::{ProptestConfig, proptest};

    use super::{Place, escape_attribute, escape_text};

    #[test]
    fn markup_controls_and_non_characters_are_escaped() {
        let mut out = String::new();
        escape_text(&mut out, "a<b & c>\r\n\u{1}\u{FFFF}\"'");
        assert_eq!(out, "a&lt;b &amp; c&gt;&#13;\n\u{FFFD}\u{FFFD}\"'");
        let mut out = String::new();
        escape_attribute(&mut out, "\"'\t\n");
        assert_eq!(out, "&quot;&apos;&#9;&#10;");
        let mut out = String::new();
        escape_text(&mut out, "\u{FFFE}\u{FFFD}\u{FEFF}é€𝄞\u{7f}");
        assert_eq!(out, "\u{FFFD}\u{FFFD}\u{FEFF}é€𝄞\u{7f}");
    }

    /// Character by character, as the escapers were written before runs were copied
    /// whole (their rules restated here, so that the test does not lean on the code under
    /// test).
    fn one_by_one(text: &str, place: Place) -> String {
        let attribute = place == Place::Attribute;
        let mut out = String::new();
        for c in text.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '\r' => out.push_str("&#13;"),
                '"' if attribute => out.push_str("&quot;"),
                '\'' if attribute => out.push_str("&apos;"),
                '\n' if attribute => out.push_str("&#10;"),
                '\t' if attribute => out.push_str("&#9;"),
                '\t' | '\n' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'.. => {
                    out.push(c)
                }
                _ => out.push('\u{FFFD}'),
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]

        #[test]
        fn runs_are_escaped_as_character_by_character(
            text in "(\\PC|[\\x00-\\x1f&<>\"'\u{fffe}\u{ffff}\u{fffd}\u{feff}\u{ff00}])*",
        ) {
            let (mut as_text, mut as_attribute) = (String::new(), String::new());
            escape_text(&mut as_text, &text);
            escape_attribute(&mut as_attribute, &text);
            assert_eq!(as_text, one_by_one(&text, Place::Text));
            assert_eq!(as_attribute, one_by_one(&text, Place::Attribute));
        }
    }
}
