//! WS-Addressing read from real-shaped envelopes, checked and echoed.

use super::*;
use crate::soap::{Limits, read_envelope, writer};

/// A SOAP 1.2 request as WCF's `Soap12WSAddressing10` binding sends it.
fn wcf_request(action: &str, reply_to: &str) -> String {
    format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">
  <s:Header>
    <a:Action s:mustUnderstand="1">{action}</a:Action>
    <a:MessageID>urn:uuid:6c7b8a1e-1b7e-4f7e-9d7e-2f0b5f0c1a2b</a:MessageID>
    <a:ReplyTo><a:Address>{reply_to}</a:Address></a:ReplyTo>
    <a:To s:mustUnderstand="1">http://127.0.0.1:8080/soap/server-items</a:To>
  </s:Header>
  <s:Body><OpenServerItem xmlns="urn:holdpoint:server-items"><serialNumber>1_2</serialNumber></OpenServerItem></s:Body>
</s:Envelope>"#
    )
}

const ANONYMOUS: &str = "http://www.w3.org/2005/08/addressing/anonymous";

fn read_text(text: &str) -> Result<Option<Addressing>, SoapError> {
    let envelope = read_envelope(text, &Limits::default()).expect("well-formed envelope");
    envelope.check_must_understand(&[])?;
    read(&envelope)
}

/// The WS-Addressing subcodes of the refusal `text` gets.
fn refusal_subcodes(text: &str) -> &'static [&'static str] {
    read_text(text).expect_err("refused").addressing_subcodes()
}

#[test]
fn a_wcf_request_is_understood_and_its_answer_relates_to_it() {
    let text = wcf_request("urn:holdpoint:server-items/OpenServerItem", ANONYMOUS);
    let addressing = read_text(&text).unwrap().expect("addressed");
    assert_eq!(addressing.version, AddressingVersion::W3c);
    addressing
        .check_action("OpenServerItem", SoapVersion::V12)
        .unwrap();
    let action = addressing.response_action("urn:holdpoint:server-items", "OpenServerItem");
    assert_eq!(action, "urn:holdpoint:server-items/OpenServerItemResponse");
    assert_eq!(
        reply_header(&addressing, &action),
        "<wsa:Action xmlns:wsa=\"http://www.w3.org/2005/08/addressing\">urn:holdpoint:server-items/OpenServerItemResponse</wsa:Action>\
         <wsa:RelatesTo xmlns:wsa=\"http://www.w3.org/2005/08/addressing\">urn:uuid:6c7b8a1e-1b7e-4f7e-9d7e-2f0b5f0c1a2b</wsa:RelatesTo>"
    );
}

#[test]
fn the_wsdl_binding_default_action_names_the_operation_too() {
    let text = wcf_request(
        "http://webservice.vso.dunes.ch/VSOWebControl/echoRequest",
        ANONYMOUS,
    )
    .replace("OpenServerItem", "echo");
    let addressing = read_text(&text).unwrap().expect("addressed");
    addressing.check_action("echo", SoapVersion::V12).unwrap();
    assert_eq!(
        addressing.response_action("http://webservice.vso.dunes.ch", "echo"),
        "http://webservice.vso.dunes.ch/VSOWebControl/echoResponse"
    );
}

#[test]
fn an_action_naming_another_operation_is_action_not_supported() {
    let text = wcf_request("urn:holdpoint:server-items/FinishServerItem", ANONYMOUS);
    let addressing = read_text(&text).unwrap().expect("addressed");
    let error = addressing
        .check_action("OpenServerItem", SoapVersion::V12)
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::MalformedRequest);
    assert_eq!(error.addressing_subcodes(), &["ActionNotSupported"]);
    let fault = writer::fault(SoapVersion::V12, &error);
    assert!(
        fault.contains("<env:Subcode><env:Value>wsa:ActionNotSupported</env:Value><env:Subcode><env:Value>hp:malformed_request</env:Value></env:Subcode></env:Subcode>"),
        "{fault}"
    );
    assert!(fault.contains(">http://www.w3.org/2005/08/addressing/fault</wsa:Action>"));
    assert!(fault.contains("<wsa:RelatesTo"), "{fault}");
    let v11 = writer::fault(SoapVersion::V11, &error);
    assert!(
        v11.contains("<faultcode>wsa:ActionNotSupported</faultcode>"),
        "{v11}"
    );
}

#[test]
fn a_reply_address_elsewhere_is_refused_with_a_clear_message() {
    let text = wcf_request(
        "urn:holdpoint:server-items/OpenServerItem",
        "http://client.example/replies",
    );
    let error = read_text(&text).unwrap_err();
    assert_eq!(
        error.addressing_subcodes(),
        &["InvalidAddressingHeader", "OnlyAnonymousAddressSupported"]
    );
    assert!(
        error.message.contains("http://client.example/replies"),
        "{}",
        error.message
    );
    assert!(error.addressing.is_some(), "the fault is addressed too");
    let none = wcf_request(
        "urn:holdpoint:server-items/OpenServerItem",
        "http://www.w3.org/2005/08/addressing/none",
    );
    assert!(read_text(&none).unwrap().is_some());
}

#[test]
fn the_submission_namespace_is_understood() {
    let text = wcf_request(
        "urn:holdpoint:server-items/OpenServerItem",
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous",
    )
    .replace(WSA10_NS, WSA_SUBMISSION_NS);
    let addressing = read_text(&text).unwrap().expect("addressed");
    assert_eq!(addressing.version, AddressingVersion::Submission);
    let fault = fault_header(&addressing, false);
    assert!(fault.contains(">http://schemas.xmlsoap.org/ws/2004/08/addressing/fault<"));
    // The submission has one subcode for every invalid header.
    let elsewhere = text.replace(
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous",
        "http://client.example/replies",
    );
    assert_eq!(
        refusal_subcodes(&elsewhere),
        &["InvalidMessageInformationHeader"]
    );
}

#[test]
fn relates_to_may_come_more_than_once() {
    let text = wcf_request("urn:holdpoint:server-items/OpenServerItem", ANONYMOUS).replace(
        "<a:MessageID>",
        "<a:RelatesTo>urn:uuid:1</a:RelatesTo><a:RelatesTo>urn:uuid:2</a:RelatesTo><a:MessageID>",
    );
    assert!(read_text(&text).unwrap().is_some());
}

#[test]
fn duplicates_and_mixed_namespaces_are_invalid_headers() {
    let base = wcf_request("urn:holdpoint:server-items/OpenServerItem", ANONYMOUS);
    let twice = base.replace(
        "<a:MessageID>",
        "<a:MessageID>urn:uuid:1</a:MessageID><a:MessageID>",
    );
    assert_eq!(
        refusal_subcodes(&twice),
        &["InvalidAddressingHeader", "InvalidCardinality"]
    );
    let mixed = base.replace(
        "<a:MessageID>urn:uuid:6c7b8a1e-1b7e-4f7e-9d7e-2f0b5f0c1a2b</a:MessageID>",
        "<m:MessageID xmlns:m=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\">x</m:MessageID>",
    );
    assert_eq!(refusal_subcodes(&mixed), &["InvalidAddressingHeader"]);
}

#[test]
fn a_request_without_addressing_is_not_addressed() {
    let text = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><echo xmlns="urn:x"/></s:Body></s:Envelope>"#;
    assert_eq!(read_text(text).unwrap(), None);
}
