//! Writing responses and faults. Every text and attribute value goes through the escapers
//! ([`super::escape`]), so nothing a caller sent can break the markup.
//!
//! Output is UTF-8 without a byte-order mark, with an XML declaration.

pub use super::escape::{escape_attribute, escape_text};
use super::{FAULT_DETAIL_NS, SOAP11_ENVELOPE_NS, SOAP12_ENVELOPE_NS, SoapError, SoapVersion};
use crate::error::FaultClass;

/// A small streaming writer of well-formed XML.
#[derive(Debug)]
pub struct XmlWriter {
    out: String,
}

/// What a writer reserves at first: most answers' bodies fit, so growing them costs no
/// copies (several reallocations per answer showed in `perf` of the echo benchmark).
const INITIAL_CAPACITY: usize = 512;

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl XmlWriter {
    pub fn new() -> Self {
        Self {
            out: String::with_capacity(INITIAL_CAPACITY),
        }
    }

    pub fn start(&mut self, name: &str, attributes: &[(&str, &str)]) -> &mut Self {
        self.open(name, attributes);
        self.out.push('>');
        self
    }

    pub fn empty(&mut self, name: &str, attributes: &[(&str, &str)]) -> &mut Self {
        self.open(name, attributes);
        self.out.push_str("/>");
        self
    }

    fn open(&mut self, name: &str, attributes: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attributes {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            escape_attribute(&mut self.out, value);
            self.out.push('"');
        }
    }

    pub fn end(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    pub fn text(&mut self, text: &str) -> &mut Self {
        escape_text(&mut self.out, text);
        self
    }

    /// `<name>text</name>`.
    pub fn element(&mut self, name: &str, text: &str) -> &mut Self {
        self.start(name, &[]).text(text).end(name)
    }

    /// Markup produced by another writer.
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.out.push_str(xml);
        self
    }

    pub fn finish(self) -> String {
        self.out
    }

    /// The markup written so far.
    pub fn finish_ref(&self) -> &str {
        &self.out
    }
}

fn prefix(version: SoapVersion) -> &'static str {
    match version {
        SoapVersion::V11 => "s",
        SoapVersion::V12 => "env",
    }
}

/// A complete envelope around `body` (and optional `header`) markup.
pub fn envelope(version: SoapVersion, header: Option<&str>, body: &str) -> String {
    let p = prefix(version);
    // Room for the markup around the body and the header (tags, declaration, namespace).
    let header_len = header.map_or(0, |header| header.len() + 40);
    let mut out = String::with_capacity(body.len() + header_len + 200);
    // Pieces appended one by one: `format!` would copy the body into a string of its own
    // first, on every answer.
    let mut push = |pieces: &[&str]| pieces.iter().for_each(|piece| out.push_str(piece));
    push(&["<?xml version=\"1.0\" encoding=\"utf-8\"?>"]);
    push(&[
        "<",
        p,
        ":Envelope xmlns:",
        p,
        "=\"",
        version.envelope_namespace(),
        "\">",
    ]);
    if let Some(header) = header {
        push(&["<", p, ":Header>", header, "</", p, ":Header>"]);
    }
    push(&["<", p, ":Body>", body, "</", p, ":Body></", p, ":Envelope>"]);
    out
}

/// A fault envelope for `error`, in its version (SOAP 1.1 when none was recognised).
pub fn fault(version: SoapVersion, error: &SoapError) -> String {
    let p = prefix(version);
    let mut body = XmlWriter::new();
    let class = error.code.fault_class();
    match version {
        SoapVersion::V11 => {
            let code = match class {
                FaultClass::VersionMismatch => "VersionMismatch",
                FaultClass::MustUnderstand => "MustUnderstand",
                FaultClass::Sender => "Client",
                FaultClass::Receiver => "Server",
            };
            // WS-Addressing's SOAP 1.1 binding puts its subcode in the faultcode.
            let (faultcode, wsa) = match (&error.addressing, error.addressing_subcodes().first()) {
                (Some(fault), Some(subcode)) => (
                    format!("wsa:{subcode}"),
                    vec![("xmlns:wsa", fault.addressing.version.namespace())],
                ),
                _ => (format!("{p}:{code}"), Vec::new()),
            };
            body.start(&format!("{p}:Fault"), &wsa)
                .element("faultcode", &faultcode)
                .element("faultstring", &error.message);
            body.start("detail", &[]);
            detail(&mut body, error);
            body.end("detail").end(&format!("{p}:Fault"));
        }
        SoapVersion::V12 => {
            let code = match class {
                FaultClass::VersionMismatch => "VersionMismatch",
                FaultClass::MustUnderstand => "MustUnderstand",
                FaultClass::Sender => "Sender",
                FaultClass::Receiver => "Receiver",
            };
            let mut declared = vec![("xmlns:hp", FAULT_DETAIL_NS)];
            let wsa_subcodes = error.addressing_subcodes();
            if let Some(fault) = error
                .addressing
                .as_deref()
                .filter(|_| !wsa_subcodes.is_empty())
            {
                declared.push(("xmlns:wsa", fault.addressing.version.namespace()));
            }
            body.start(&format!("{p}:Fault"), &declared)
                .start(&format!("{p}:Code"), &[])
                .element(&format!("{p}:Value"), &format!("{p}:{code}"));
            // WS-Addressing's subcodes (outermost first), then ours innermost.
            let subcodes = wsa_subcodes
                .iter()
                .map(|subcode| format!("wsa:{subcode}"))
                .chain([format!("hp:{}", error.code.as_str())]);
            let mut depth = 0;
            for subcode in subcodes {
                body.start(&format!("{p}:Subcode"), &[])
                    .element(&format!("{p}:Value"), &subcode);
                depth += 1;
            }
            for _ in 0..depth {
                body.end(&format!("{p}:Subcode"));
            }
            body.end(&format!("{p}:Code"))
                .start(&format!("{p}:Reason"), &[])
                .start(&format!("{p}:Text"), &[("xml:lang", "en")])
                .text(&error.message)
                .end(&format!("{p}:Text"))
                .end(&format!("{p}:Reason"))
                .start(&format!("{p}:Detail"), &[]);
            detail(&mut body, error);
            body.end(&format!("{p}:Detail")).end(&format!("{p}:Fault"));
        }
    }
    let mut header = fault_header(version, error);
    if let Some(fault) = error.addressing.as_deref() {
        let addressed =
            super::addressing::fault_header(&fault.addressing, !fault.subcodes.is_empty());
        header.get_or_insert_with(String::new).push_str(&addressed);
    }
    envelope(version, header.as_deref(), &body.finish())
}

/// `<hp:error><hp:code>…</hp:code><hp:message>…</hp:message></hp:error>`: the stable code.
fn detail(out: &mut XmlWriter, error: &SoapError) {
    out.start("hp:error", &[("xmlns:hp", FAULT_DETAIL_NS)])
        .element("hp:code", error.code.as_str())
        .element("hp:message", &error.message)
        .end("hp:error");
}

/// SOAP 1.2 fault headers: `NotUnderstood` blocks, and `Upgrade` on a VersionMismatch.
fn fault_header(version: SoapVersion, error: &SoapError) -> Option<String> {
    if version != SoapVersion::V12 {
        return None;
    }
    let p = prefix(version);
    let mut out = XmlWriter::new();
    match error.code.fault_class() {
        FaultClass::MustUnderstand if !error.not_understood.is_empty() => {
            for (namespace, name) in &error.not_understood {
                out.empty(
                    &format!("{p}:NotUnderstood"),
                    &[("qname", &format!("nu:{name}")), ("xmlns:nu", namespace)],
                );
            }
        }
        FaultClass::VersionMismatch => {
            out.start(&format!("{p}:Upgrade"), &[]);
            for (index, namespace) in [SOAP12_ENVELOPE_NS, SOAP11_ENVELOPE_NS].iter().enumerate() {
                let alias = format!("v{index}");
                out.empty(
                    &format!("{p}:SupportedEnvelope"),
                    &[
                        ("qname", &format!("{alias}:Envelope")),
                        (&format!("xmlns:{alias}"), namespace),
                    ],
                );
            }
            out.end(&format!("{p}:Upgrade"));
        }
        _ => return None,
    }
    Some(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn faults_per_version() {
        let error = SoapError::new(ErrorCode::ItemNotOpen, "item 5_1 is <finished>");
        let v11 = fault(SoapVersion::V11, &error);
        assert!(v11.contains("<faultcode>s:Client</faultcode>"), "{v11}");
        assert!(v11.contains("<faultstring>item 5_1 is &lt;finished&gt;</faultstring>"));
        assert!(v11.contains("<hp:code>item_not_open</hp:code>"));
        let v12 = fault(SoapVersion::V12, &error);
        assert!(v12.contains("<env:Value>env:Sender</env:Value>"), "{v12}");
        assert!(v12.contains("<env:Value>hp:item_not_open</env:Value>"));
        assert!(v12.contains("<env:Text xml:lang=\"en\">"));
        let mismatch = SoapError::new(ErrorCode::VersionMismatch, "x");
        assert!(fault(SoapVersion::V12, &mismatch).contains("<env:Upgrade>"));
        assert!(!fault(SoapVersion::V11, &mismatch).contains("Upgrade"));
    }
}
