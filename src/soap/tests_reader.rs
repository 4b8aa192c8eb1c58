//! Reader tests: what must be accepted, what must be refused and how, and the
//! writer → reader round trip of any text.

use std::borrow::Cow;

use proptest::prelude::*;

use super::writer::{XmlWriter, envelope};
use super::*;
use crate::error::ErrorCode;

fn read(text: &str) -> Result<Envelope<'_>, SoapError> {
    read_envelope(text, &Limits::default())
}

/// Whether a well-formed envelope passes the mustUnderstand check when this node knows
/// the headers `known`.
fn understood(text: &str, known: &[(&str, &str)]) -> bool {
    read(text).unwrap().check_must_understand(known).is_ok()
}

const OP: &str = "urn:holdpoint:server-items";

#[test]
fn accepts_prefixes_defaults_declarations_comments_and_crlf() {
    let variants = [
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">\r\n<!-- c -->\r\n<soap:Body><x:OpenServerItem xmlns:x=\"urn:holdpoint:server-items\"><x:serialNumber>5_1</x:serialNumber></x:OpenServerItem></soap:Body></soap:Envelope>",
        "<Envelope xmlns=\"http://schemas.xmlsoap.org/soap/envelope/\"><Body><OpenServerItem xmlns=\"urn:holdpoint:server-items\"><serialNumber>5_1</serialNumber></OpenServerItem></Body></Envelope>",
        "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:q=\"urn:holdpoint:server-items\"><e:Header/><e:Body>\n  <q:OpenServerItem>\n<q:serialNumber><![CDATA[5_1]]></q:serialNumber></q:OpenServerItem></e:Body></e:Envelope>",
    ];
    for text in variants {
        let envelope = read(text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert!(envelope.body.is(OP, "OpenServerItem"));
        assert_eq!(
            envelope.body.required_text(OP, "serialNumber").unwrap(),
            "5_1"
        );
    }
    assert_eq!(read(variants[2]).unwrap().version, SoapVersion::V12);
}

#[test]
fn entities_and_character_references() {
    let text = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><o xmlns=\"urn:x\" a=\"&quot;&#65;\">a &lt;&amp;&gt; &#x263A; &apos;</o></s:Body></s:Envelope>";
    let envelope = read(text).unwrap();
    assert_eq!(envelope.body.text, "a <&> \u{263A} '");
    assert_eq!(envelope.body.attribute("", "a"), Some("\"A"));
}

#[test]
fn refusals_name_the_problem() {
    let cases: &[(&str, ErrorCode, &str)] = &[
        ("", ErrorCode::MalformedRequest, "empty"),
        (
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>",
            ErrorCode::DtdNotAllowed,
            "DOCTYPE",
        ),
        (
            "<?xml-stylesheet href=\"x\"?><x/>",
            ErrorCode::DtdNotAllowed,
            "processing instructions",
        ),
        (
            "<s:Envelope xmlns:s=\"urn:soap-0.9\"><s:Body/></s:Envelope>",
            ErrorCode::VersionMismatch,
            "urn:soap-0.9",
        ),
        (
            "<html/>",
            ErrorCode::MalformedRequest,
            "root element is `html`",
        ),
        (
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>",
            ErrorCode::MalformedRequest,
            "truncated",
        ),
        (
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body></s:Bod></s:Envelope>",
            ErrorCode::MalformedRequest,
            "line 1",
        ),
        (
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body/></s:Envelope>",
            ErrorCode::MalformedRequest,
            "Body is empty",
        ),
        (
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"/>",
            ErrorCode::MalformedRequest,
            "no Body",
        ),
        (
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><x>&e;</x></s:Body></s:Envelope>",
            ErrorCode::MalformedRequest,
            "undefined entity",
        ),
        (
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><p:x/></s:Body></s:Envelope>",
            ErrorCode::MalformedRequest,
            "undeclared namespace prefix `p`",
        ),
    ];
    for (text, code, needle) in cases {
        let error = read(text).expect_err(text);
        assert_eq!(error.code, *code, "{text}: {error}");
        assert!(error.message.contains(needle), "{text}: {}", error.message);
    }
}

#[test]
fn limits_are_enforced_early() {
    let limits = Limits {
        max_body: 10_000,
        max_depth: 16,
        max_attributes: 8,
        max_text: 100,
    };
    let wrap = |inner: &str| {
        format!(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{inner}</s:Body></s:Envelope>"
        )
    };
    let deep = wrap(&format!("{}{}", "<a>".repeat(20), "</a>".repeat(20)));
    let error = read_envelope(&deep, &limits).unwrap_err();
    assert_eq!(
        (error.code, error.version),
        (ErrorCode::LimitExceeded, Some(SoapVersion::V11))
    );
    let attributes: String = (0..9).map(|i| format!(" a{i}=\"1\"")).collect();
    let error = read_envelope(&wrap(&format!("<x{attributes}/>")), &limits).unwrap_err();
    assert_eq!(error.code, ErrorCode::LimitExceeded);
    assert!(error.message.contains("more than 8 attributes"));
    let error = read_envelope(&wrap(&format!("<x>{}</x>", "t".repeat(101))), &limits).unwrap_err();
    assert!(
        error.message.contains("text of `x` exceeds 100 bytes"),
        "{}",
        error.message
    );
    let error = read_envelope(&"x".repeat(10_001), &limits).unwrap_err();
    assert_eq!(error.code, ErrorCode::LimitExceeded);
}

#[test]
fn must_understand_rules_per_version() {
    let v11 = |mu: &str, actor: &str| {
        format!(
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header><h:Trace xmlns:h=\"urn:h\" s:mustUnderstand=\"{mu}\"{actor}/></s:Header><s:Body><o xmlns=\"urn:x\"/></s:Body></s:Envelope>"
        )
    };
    let unknown = read(&v11("1", ""))
        .unwrap()
        .check_must_understand(&[])
        .unwrap_err();
    assert_eq!(unknown.code, ErrorCode::MustUnderstand);
    assert_eq!(
        unknown.not_understood,
        vec![("urn:h".to_string(), "Trace".to_string())]
    );
    assert!(understood(&v11("1", ""), &[("urn:h", "Trace")]));
    assert!(understood(&v11("0", ""), &[]));
    let elsewhere = v11("1", " s:actor=\"urn:some-other-node\"");
    assert!(understood(&elsewhere, &[]), "not for us");
    assert_eq!(
        read(&v11("true", "")).unwrap_err().code,
        ErrorCode::MalformedRequest,
        "1.1 takes 0/1 only"
    );
    let v12 = |mu: &str, role: &str| {
        format!(
            "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Header><h:Trace xmlns:h=\"urn:h\" e:mustUnderstand=\"{mu}\"{role}/></e:Header><e:Body><o xmlns=\"urn:x\"/></e:Body></e:Envelope>"
        )
    };
    assert!(!understood(&v12("true", ""), &[]));
    assert!(understood(&v12("false", ""), &[]));
    let none = v12(
        "true",
        " e:role=\"http://www.w3.org/2003/05/soap-envelope/role/none\"",
    );
    assert!(understood(&none, &[]));
    let ultimate = v12(
        "1",
        " e:role=\"http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver\"",
    );
    assert!(!understood(&ultimate, &[]));
    assert!(read(&v12("yes", "")).is_err());
}

/// Characters XML 1.0 can carry.
fn xml_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('\t'),
            Just('\n'),
            Just('\r'),
            Just('&'),
            Just('<'),
            Just('>'),
            Just('"'),
            Just('\''),
            proptest::char::range('\u{20}', '\u{D7FF}'),
            proptest::char::range('\u{E000}', '\u{FFFD}'),
            proptest::char::range('\u{10000}', '\u{10FFFF}'),
        ],
        0..64,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #[test]
    fn any_text_round_trips_through_writer_and_reader(text in xml_text(), attr in xml_text()) {
        let mut body = XmlWriter::new();
        body.start("o:Op", &[("xmlns:o", "urn:x"), ("o:a", &attr)]).text(&text).end("o:Op");
        for version in [SoapVersion::V11, SoapVersion::V12] {
            let document = envelope(version, None, body.finish_ref());
            let parsed = read(&document).map_err(|e| TestCaseError::fail(format!("{e}: {document}")))?;
            prop_assert_eq!(&parsed.body.text, &text);
            prop_assert_eq!(parsed.body.attribute("urn:x", "a"), Some(attr.as_str()));
        }
    }

    #[test]
    fn the_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(text) = decode::to_utf8(&bytes, None) {
            let _ = read(&text);
        }
    }
}

#[test]
fn xsi_types_resolve_with_the_prefixes_in_scope() {
    let text = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>\
        <o xmlns=\"urn:x\" xmlns:q=\"http://www.w3.org/2001/XMLSchema-instance\">\
        <v q:type=\"xs:int\" xmlns:xs=\"http://www.w3.org/2001/XMLSchema\">5</v><w/></o></s:Body></s:Envelope>";
    let envelope = read(text).unwrap();
    assert_eq!(
        envelope.body.children[0].xsi_type,
        Some(("http://www.w3.org/2001/XMLSchema", "int".into()))
    );
    assert_eq!(envelope.body.children[1].xsi_type, None);
    let undeclared = text.replace(" xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"", "");
    let error = read(&undeclared).unwrap_err();
    assert!(
        error
            .message
            .contains("undeclared namespace prefix `xs` in the xsi:type"),
        "{}",
        error.message
    );
}

#[test]
fn the_tree_borrows_names_values_and_plain_text_from_the_input() {
    let text = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>\
        <o:Op xmlns:o=\"urn:x\" o:a=\"v\" xml:lang=\"en\">\n  <o:plain>5_1</o:plain>\n  \
        <o:escaped>a &amp; b</o:escaped>\n</o:Op></s:Body></s:Envelope>";
    let envelope = read(text).unwrap();
    let op = &envelope.body;
    assert_eq!((op.namespace, op.name), ("urn:x", "Op"));
    assert!(matches!(op.attributes[0].value, Cow::Borrowed("v")));
    assert_eq!(
        op.attribute("http://www.w3.org/XML/1998/namespace", "lang"),
        Some("en")
    );
    assert!(matches!(op.children[0].text, Cow::Borrowed("5_1")));
    assert_eq!(op.children[1].text, "a & b");
    // The indentation between children is not the element's text.
    assert_eq!(op.text, "");
}

#[test]
fn text_beside_children_keeps_all_but_the_indentation() {
    let text = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>\
        <o xmlns=\"urn:x\"> one <c/>\n<c/> two </o></s:Body></s:Envelope>";
    let envelope = read(text).unwrap();
    assert_eq!(envelope.body.text, " one  two ");
    assert_eq!(envelope.body.children.len(), 2);
}

#[test]
fn declarations_scope_to_their_element_and_may_be_undone() {
    let text = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>\
        <o xmlns=\"urn:x\"><p:a xmlns:p=\"urn:p\"/><b xmlns=\"\"/><c/></o></s:Body></s:Envelope>";
    let envelope = read(text).unwrap();
    let names: Vec<_> = envelope
        .body
        .children
        .iter()
        .map(|c| (c.namespace, c.name))
        .collect();
    assert_eq!(names, [("urn:p", "a"), ("", "b"), ("urn:x", "c")]);
    let out_of_scope = text.replace("<c/>", "<p:c/>");
    let error = read(&out_of_scope).unwrap_err();
    assert!(
        error.message.contains("undeclared namespace prefix `p`"),
        "{}",
        error.message
    );
}

#[test]
fn an_escaped_xsi_type_is_resolved_too() {
    let text = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>\
        <o xmlns=\"urn:x\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" \
        xmlns:b=\"urn:b\" i:type=\" b:&#105;nt \"/></s:Body></s:Envelope>";
    let envelope = read(text).unwrap();
    assert_eq!(envelope.body.xsi_type, Some(("urn:b", "int".into())));
}
