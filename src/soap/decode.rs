//! Bytes to UTF-8 text before parsing. SOAP bodies arrive as UTF-8 (with or without a
//! byte-order mark) or UTF-16 (with a BOM or a `charset` parameter, as .NET clients may
//! send). UTF-16 without either is refused: guessing would turn a client bug into
//! silently wrong data.

use std::borrow::Cow;

use super::SoapError;
use crate::error::ErrorCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Utf16 {
    Le,
    Be,
}

/// The document as UTF-8; `charset` is the Content-Type's parameter, if any.
pub fn to_utf8<'a>(bytes: &'a [u8], charset: Option<&str>) -> Result<Cow<'a, str>, SoapError> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return utf8(rest, 3);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, Utf16::Le).map(Cow::Owned);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, Utf16::Be).map(Cow::Owned);
    }
    // Compared without regard to case rather than lowercased: no allocation per request.
    let charset = charset.map(|c| c.trim().trim_matches('"'));
    let named =
        |names: &[&str]| charset.is_some_and(|c| names.iter().any(|n| c.eq_ignore_ascii_case(n)));
    if charset.is_none() || named(&["utf-8", "utf8", "us-ascii", "ascii"]) {
        if looks_like_utf16(bytes) {
            return Err(malformed(
                "the body looks like UTF-16 but has neither a byte-order mark nor a charset parameter",
            ));
        }
        return utf8(bytes, 0);
    }
    if named(&["utf-16", "utf-16be", "utf16"]) {
        // RFC 2781: UTF-16 without a BOM is big-endian.
        return utf16(bytes, Utf16::Be).map(Cow::Owned);
    }
    if named(&["utf-16le"]) {
        return utf16(bytes, Utf16::Le).map(Cow::Owned);
    }
    if named(&["iso-8859-1", "latin1", "latin-1"]) {
        return Ok(Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()));
    }
    Err(malformed(format!(
        "unsupported charset `{}`: send UTF-8 or UTF-16",
        charset.unwrap_or_default().to_ascii_lowercase()
    )))
}

fn malformed(message: impl Into<String>) -> SoapError {
    SoapError::new(ErrorCode::MalformedRequest, message)
}

/// `<` followed or preceded by a NUL in the first bytes: UTF-16 of an ASCII `<`.
fn looks_like_utf16(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(64)];
    // Most bodies have no NUL at all, found by one vectorised search.
    head.contains(&0)
        && head
            .windows(2)
            .any(|pair| pair == [b'<', 0] || pair == [0, b'<'])
}

fn utf8(bytes: &[u8], offset: usize) -> Result<Cow<'_, str>, SoapError> {
    std::str::from_utf8(bytes)
        .map(Cow::Borrowed)
        .map_err(|error| {
            malformed(format!(
                "the body is not valid UTF-8 (at byte {})",
                error.valid_up_to() + offset
            ))
        })
}

fn utf16(bytes: &[u8], order: Utf16) -> Result<String, SoapError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(malformed("the UTF-16 body has an odd number of bytes"));
    }
    let units = bytes.chunks_exact(2).map(|pair| match order {
        Utf16::Le => u16::from_le_bytes([pair[0], pair[1]]),
        Utf16::Be => u16::from_be_bytes([pair[0], pair[1]]),
    });
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|_| malformed("the UTF-16 body holds an unpaired surrogate"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str, bom: bool) -> Vec<u8> {
        let mut bytes = if bom { vec![0xFF, 0xFE] } else { vec![] };
        bytes.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
        bytes
    }

    #[test]
    fn encodings() {
        assert_eq!(to_utf8(b"<a/>", None).unwrap(), "<a/>");
        assert_eq!(to_utf8(b"\xEF\xBB\xBF<a/>", None).unwrap(), "<a/>");
        assert_eq!(to_utf8(&utf16le("<ä/>", true), None).unwrap(), "<ä/>");
        let be: Vec<u8> = "<a/>"
            .encode_utf16()
            .flat_map(|u| u.to_be_bytes())
            .collect();
        assert_eq!(to_utf8(&be, Some("utf-16")).unwrap(), "<a/>");
        assert_eq!(
            to_utf8(&utf16le("<a/>", false), Some("UTF-16LE")).unwrap(),
            "<a/>"
        );
        assert_eq!(to_utf8(b"<\xE4/>", Some("iso-8859-1")).unwrap(), "<ä/>");
        assert_eq!(to_utf8(b"<\xE4/>", Some(" Latin1")).unwrap(), "<ä/>");
        assert_eq!(to_utf8(b"<a/>", Some("\"UTF-8\"")).unwrap(), "<a/>");
        assert_eq!(to_utf8(b"<a/>", Some("US-ASCII")).unwrap(), "<a/>");
    }

    #[test]
    fn refusals() {
        let error = to_utf8(&utf16le("<a/>", false), None).unwrap_err();
        assert!(
            error.message.contains("byte-order mark"),
            "{}",
            error.message
        );
        let error = to_utf8(b"<a>\xFF</a>", None).unwrap_err();
        assert_eq!(error.message, "the body is not valid UTF-8 (at byte 3)");
        let error = to_utf8(b"<a/>", Some("\"EBCDIC\"")).unwrap_err();
        assert_eq!(
            error.message,
            "unsupported charset `ebcdic`: send UTF-8 or UTF-16"
        );
        let nul_without_utf16 = b"<a>x\0y</a>";
        assert!(to_utf8(nul_without_utf16, None).is_ok());
        assert!(to_utf8(&[0xFF, 0xFE, 0x3C], None).is_err());
    }
}
