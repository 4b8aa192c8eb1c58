//! WS-Addressing, as WCF's `wsHttpBinding` and `Soap12WSAddressing10` bindings, CXF, Metro
//! and Axis2 send it: WS-Addressing 1.0 (`http://www.w3.org/2005/08/addressing`) and the
//! 2004/08 member submission older WCF and Axis2 clients use.
//!
//! What a request carries is read by [`read`]: `Action`, `MessageID`, `To`, and the reply
//! endpoints `ReplyTo`/`FaultTo`, which must be anonymous (or, 1.0, `none`): answers only
//! ever go back on the request's own connection, so a caller that asks for them elsewhere
//! gets a fault that says so instead of waiting for a message that never comes. `To`,
//! `From` and `RelatesTo` are accepted and not acted on. A request without any of these
//! headers is not an addressed request, and its answer carries no addressing header.
//!
//! Dispatch stays on the body element: the `Action` only has to agree with it
//! ([`Addressing::check_action`]). An addressed answer carries `Action` (the operation's
//! response action, or the fault action) and `RelatesTo` the request's `MessageID`
//! ([`reply_header`]).

use super::reader::{Envelope, HeaderBlock};
use super::writer::XmlWriter;
use super::{SoapError, SoapVersion};
use crate::error::ErrorCode;

pub const WSA10_NS: &str = "http://www.w3.org/2005/08/addressing";
pub const WSA_SUBMISSION_NS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";

/// The header blocks this module processes, in either namespace: they count as
/// understood for `mustUnderstand`.
const HEADERS: &[&str] = &[
    "Action",
    "MessageID",
    "To",
    "ReplyTo",
    "FaultTo",
    "From",
    "RelatesTo",
];

/// Which WS-Addressing a request used; its answer uses the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressingVersion {
    /// W3C WS-Addressing 1.0 (2005/08).
    W3c,
    /// The 2004/08 member submission.
    Submission,
}

impl AddressingVersion {
    fn of(namespace: &str) -> Option<Self> {
        match namespace {
            WSA10_NS => Some(Self::W3c),
            WSA_SUBMISSION_NS => Some(Self::Submission),
            _ => None,
        }
    }

    pub fn namespace(self) -> &'static str {
        match self {
            Self::W3c => WSA10_NS,
            Self::Submission => WSA_SUBMISSION_NS,
        }
    }

    /// Reply addresses that mean "on this connection" (or, 1.0's `none`, "no reply").
    fn answers_here(self, address: &str) -> bool {
        match self {
            Self::W3c => matches!(
                address,
                "http://www.w3.org/2005/08/addressing/anonymous"
                    | "http://www.w3.org/2005/08/addressing/none"
            ),
            Self::Submission => {
                address == "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
            }
        }
    }

    /// The subcodes of a refused header: 1.0's `InvalidAddressingHeader` refined; the
    /// submission has one code for every invalid header.
    fn invalid(self, why: Invalid) -> &'static [&'static str] {
        match (self, why) {
            (Self::Submission, _) => &["InvalidMessageInformationHeader"],
            (Self::W3c, Invalid::Header) => &["InvalidAddressingHeader"],
            (Self::W3c, Invalid::Cardinality) => &["InvalidAddressingHeader", "InvalidCardinality"],
            (Self::W3c, Invalid::OnlyAnonymous) => {
                &["InvalidAddressingHeader", "OnlyAnonymousAddressSupported"]
            }
        }
    }

    /// The `Action` of a fault answer: 1.0 has one for its own faults and one for every
    /// other SOAP fault; the submission has one for all.
    fn fault_action(self, addressing_fault: bool) -> &'static str {
        match (self, addressing_fault) {
            (Self::W3c, true) => "http://www.w3.org/2005/08/addressing/fault",
            (Self::W3c, false) => "http://www.w3.org/2005/08/addressing/soap/fault",
            (Self::Submission, _) => "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault",
        }
    }
}

/// Why a header is refused.
#[derive(Debug, Clone, Copy)]
enum Invalid {
    Header,
    Cardinality,
    OnlyAnonymous,
}

/// What an addressed request asked for that its answer must echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressing {
    pub version: AddressingVersion,
    pub action: Option<String>,
    pub message_id: Option<String>,
}

/// Whether `block` is a WS-Addressing header this module processes.
pub fn understands(block: &HeaderBlock<'_>) -> bool {
    AddressingVersion::of(block.element.namespace).is_some()
        && HEADERS.contains(&block.element.name)
}

/// The request's addressing headers (those addressed to us), or `None` when it has none.
/// A refusal already carries the addressing it could read, so that its fault is
/// addressed too.
pub fn read(envelope: &Envelope<'_>) -> Result<Option<Addressing>, SoapError> {
    let blocks: Vec<&HeaderBlock<'_>> = envelope
        .headers
        .iter()
        .filter(|block| block.for_us && understands(block))
        .collect();
    let Some(first) = blocks.first() else {
        return Ok(None);
    };
    let Some(version) = AddressingVersion::of(first.element.namespace) else {
        return Ok(None);
    };
    let mut addressing = Addressing {
        version,
        action: None,
        message_id: None,
    };
    let fault = |addressing: &Addressing, subcodes, message: String| {
        Err(SoapError::new(ErrorCode::MalformedRequest, message)
            .in_version(envelope.version)
            .with_addressing_fault(addressing.clone(), subcodes))
    };
    for name in HEADERS {
        let named: Vec<&&HeaderBlock<'_>> = blocks
            .iter()
            .filter(|block| block.element.name == *name)
            .collect();
        // Every header but RelatesTo (0 or more) comes at most once.
        if named.len() > 1 && *name != "RelatesTo" {
            return fault(
                &addressing,
                version.invalid(Invalid::Cardinality),
                format!(
                    "the request carries {} wsa:{name} headers; send one",
                    named.len()
                ),
            );
        }
        if let Some(block) = named.first() {
            if block.element.namespace != version.namespace() {
                return fault(
                    &addressing,
                    version.invalid(Invalid::Header),
                    format!(
                        "wsa:{name} is in namespace `{}` but the request addresses with `{}`; use one WS-Addressing namespace",
                        block.element.namespace,
                        version.namespace()
                    ),
                );
            }
            let text = block.element.text.trim().to_string();
            match *name {
                "Action" => addressing.action = Some(text),
                "MessageID" => addressing.message_id = Some(text),
                _ => {}
            }
        }
    }
    for name in ["ReplyTo", "FaultTo"] {
        let Some(block) = blocks.iter().find(|block| block.element.name == name) else {
            continue;
        };
        let address = block
            .element
            .child(version.namespace(), "Address")
            .map(|address| address.text.trim())
            .unwrap_or("");
        if !version.answers_here(address) {
            return fault(
                &addressing,
                version.invalid(Invalid::OnlyAnonymous),
                format!(
                    "wsa:{name} asks for answers at `{address}`; this endpoint answers only on the request's connection: send the anonymous address"
                ),
            );
        }
    }
    Ok(Some(addressing))
}

impl Addressing {
    /// Refuses an `Action` that does not name `operation`: its last segment must be the
    /// operation (the SOAPAction convention) or the operation followed by `Request` (the
    /// default action of WS-Addressing's WSDL binding).
    pub fn check_action(&self, operation: &str, soap: SoapVersion) -> Result<(), SoapError> {
        let Some(action) = &self.action else {
            return Ok(());
        };
        let named = last_segment(action);
        if named == operation || named.strip_suffix("Request") == Some(operation) {
            return Ok(());
        }
        Err(SoapError::new(
            ErrorCode::MalformedRequest,
            format!("the wsa:Action `{action}` is not the action of operation `{operation}`, which the body calls"),
        )
        .in_version(soap)
        .with_addressing_fault(self.clone(), &["ActionNotSupported"]))
    }

    /// The `Action` of the answer to `operation` (in `namespace`): the request's action
    /// with `Response` for its `Request` suffix or after it, as WCF and the WSDL binding
    /// name response actions; without a request action, `{namespace}/{operation}Response`.
    pub fn response_action(&self, namespace: &str, operation: &str) -> String {
        match &self.action {
            Some(action) => match action.strip_suffix("Request") {
                Some(stem) if last_segment(action) == format!("{operation}Request") => {
                    format!("{stem}Response")
                }
                _ => format!("{action}Response"),
            },
            None => format!("{}/{operation}Response", namespace.trim_end_matches('/')),
        }
    }
}

fn last_segment(action: &str) -> &str {
    action.rsplit(['/', '#', ':']).next().unwrap_or(action)
}

/// The header blocks of an addressed answer: `Action` and, when the request had a
/// `MessageID`, `RelatesTo` it.
pub fn reply_header(addressing: &Addressing, action: &str) -> String {
    let namespace = [("xmlns:wsa", addressing.version.namespace())];
    let mut out = XmlWriter::new();
    out.start("wsa:Action", &namespace)
        .text(action)
        .end("wsa:Action");
    if let Some(message_id) = &addressing.message_id {
        out.start("wsa:RelatesTo", &namespace)
            .text(message_id)
            .end("wsa:RelatesTo");
    }
    out.finish()
}

/// The header blocks of an addressed fault.
pub fn fault_header(addressing: &Addressing, addressing_fault: bool) -> String {
    reply_header(
        addressing,
        addressing.version.fault_action(addressing_fault),
    )
}

#[cfg(test)]
#[path = "tests_addressing.rs"]
mod tests;
