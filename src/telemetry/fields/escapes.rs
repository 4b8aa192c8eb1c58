//! Whether `str`'s `Debug` would write a text as it is, between its quotes: the plain
//! format's quoted values skip `core::fmt` when it would.

/// Text that `str`'s `Debug` writes unchanged between its quotes: printable ASCII
/// without `"` and `\`. Looked at eight bytes at a time ([`escapes_in`]): a log line's
/// values are mostly a few dozen bytes, too short for the loop the compiler vectorizes,
/// which went a byte at a time on them. Every word is looked at, without
/// stopping at the first that needs escaping: text that does is rare in a log.
pub(in crate::telemetry) fn debug_leaves_alone(text: &str) -> bool {
    let (words, tail) = text.as_bytes().as_chunks::<8>();
    let mut escapes = 0;
    for word in words {
        escapes |= escapes_in(u64::from_le_bytes(*word));
    }
    // The tail padded with a byte that needs no escaping.
    let mut last = [b'a'; 8];
    last[..tail.len()].copy_from_slice(tail);
    escapes |= escapes_in(u64::from_le_bytes(last));
    escapes == 0
}

/// The high bit of each byte of `word` that `Debug` would escape, or of some other byte
/// when one of them is not ASCII (a non-zero answer is all that matters). While every
/// byte is ASCII no addition below carries into the next byte; a byte that is not ASCII
/// has its own high bit set, whatever the carries do to the other bytes.
const fn escapes_in(word: u64) -> u64 {
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const fn splat(byte: u8) -> u64 {
        u64::from_ne_bytes([byte; 8])
    }
    let not_ascii = word;
    // An ASCII byte below ' ' stays below 0x80 once 0x60 is added.
    let control = !word.wrapping_add(splat(0x60));
    // Only DEL (0x7f) of the ASCII bytes reaches 0x80 once 1 is added.
    let delete = word.wrapping_add(splat(0x01));
    // An ASCII byte equal to the one looked for is 0 after the XOR, and only 0 stays
    // below 0x80 once 0x7f is added.
    let quote = !(word ^ splat(b'"')).wrapping_add(splat(0x7f));
    let backslash = !(word ^ splat(b'\\')).wrapping_add(splat(0x7f));
    (not_ascii | control | delete | quote | backslash) & HIGH
}

#[cfg(test)]
mod tests {
    use proptest::prelude::{ProptestConfig, proptest};

    use super::debug_leaves_alone;

    #[test]
    fn text_is_left_alone_only_when_debug_would_leave_it() {
        for text in ["", "/vco/webservice", "it's", "a b~{}"] {
            assert!(debug_leaves_alone(text));
            assert_eq!(format!("{text:?}"), format!("\"{text}\""));
        }
        for text in ["a\"b", "a\\b", "tab\t", "é", "\x7f", "\x1b[31m"] {
            assert!(!debug_leaves_alone(text), "{text:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn ascii_is_left_alone_exactly_when_debug_leaves_it(text in "[\\x00-\\x7f]{0,40}") {
            let unchanged = format!("{text:?}") == format!("\"{text}\"");
            assert_eq!(debug_leaves_alone(&text), unchanged, "{text:?}");
        }

        #[test]
        fn any_text_is_left_alone_only_when_it_is_printable_ascii_debug_leaves(
            text in "(\\PC|[\\x00-\\x7f]){0,40}",
        ) {
            let printable = text.bytes().all(|byte| (b' '..=b'~').contains(&byte));
            let unchanged = printable && !text.contains(['"', '\\']);
            assert_eq!(debug_leaves_alone(&text), unchanged, "{text:?}");
        }
    }
}
