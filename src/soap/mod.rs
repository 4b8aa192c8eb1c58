//! SOAP envelope handling, sans I/O: bytes in, typed values out (DESIGN §6 "SOAP core").
//! This module knows nothing of the engine or of HTTP.
//!
//! - [`decode`]: bytes (UTF-8, UTF-16 with BOM or charset) to text;
//! - [`reader`]: text to an [`reader::Envelope`], refusing DTDs, processing instructions and
//!   anything past the [`Limits`]; its element tree borrows from the text;
//! - [`writer`]: responses and faults for either version, escaped and without a BOM;
//! - [`addressing`]: WS-Addressing headers read from a request and echoed in its answer;
//! - [`service`]: what a service declares (paths, namespace, operations, WSDL) and the
//!   dispatch rules (SOAPAction never routes; a SOAPAction naming another operation is
//!   refused).

pub mod addressing;
pub mod decode;
pub mod element;
mod escape;
pub mod reader;
mod scope;
pub mod service;
mod tree;
pub mod writer;

#[cfg(test)]
mod tests_reader;

use crate::error::{ErrorCode, SenderFaultStatus};

use addressing::Addressing;

pub use element::Element;
pub use reader::{Envelope, read_envelope};

/// The two SOAP versions, told apart by the envelope namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapVersion {
    V11,
    V12,
}

pub const SOAP11_ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const SOAP12_ENVELOPE_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// Namespace of the `error` element in every fault detail.
pub const FAULT_DETAIL_NS: &str = "urn:holdpoint:faults";

impl SoapVersion {
    /// The version an envelope namespace denotes; anything else is a VersionMismatch.
    pub fn from_envelope_namespace(namespace: &str) -> Option<Self> {
        match namespace {
            SOAP11_ENVELOPE_NS => Some(Self::V11),
            SOAP12_ENVELOPE_NS => Some(Self::V12),
            _ => None,
        }
    }

    pub fn envelope_namespace(self) -> &'static str {
        match self {
            Self::V11 => SOAP11_ENVELOPE_NS,
            Self::V12 => SOAP12_ENVELOPE_NS,
        }
    }

    /// Content type of responses (no BOM, always UTF-8).
    pub fn content_type(self) -> &'static str {
        match self {
            Self::V11 => "text/xml; charset=utf-8",
            Self::V12 => "application/soap+xml; charset=utf-8",
        }
    }

    /// The media type requests of this version must carry.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::V11 => "text/xml",
            Self::V12 => "application/soap+xml",
        }
    }
}

/// Caps on what one request may make the reader do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of body (checked by the HTTP layer before reading, and again here).
    pub max_body: usize,
    /// Element nesting depth.
    pub max_depth: usize,
    /// Attributes (namespace declarations included) on one element.
    pub max_attributes: usize,
    /// Bytes of one element's text, or of one attribute value.
    pub max_text: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body: 4 * 1024 * 1024,
            max_depth: 128,
            max_attributes: 128,
            max_text: 1024 * 1024,
        }
    }
}

/// Why a SOAP request is refused; answered as a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapError {
    pub code: ErrorCode,
    pub message: String,
    /// The version to answer in, once the envelope has been recognised.
    pub version: Option<SoapVersion>,
    /// Header blocks not understood (namespace, local name), for MustUnderstand faults.
    pub not_understood: Vec<(String, String)>,
    /// The credentials were not HTTP Basic but elements of the message (vRO
    /// `username`/`password`) or of the URL (the SharePoint receiver key): an
    /// `unauthenticated` fault is then a plain fault, without the `401` challenge, because
    /// a challenge would make the client resend the same message.
    pub credentials_in_message: bool,
    /// The request's WS-Addressing, when it had some: the fault is addressed too. Boxed:
    /// every fallible call of the SOAP layer returns this type, and few requests carry it.
    pub addressing: Option<Box<AddressedFault>>,
}

/// How a fault to an addressed request is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressedFault {
    pub addressing: Addressing,
    /// WS-Addressing's own fault subcodes (e.g. `ActionNotSupported`), outermost first,
    /// when WS-Addressing refused the request; empty otherwise.
    pub subcodes: &'static [&'static str],
}

impl SoapError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            version: None,
            not_understood: Vec::new(),
            credentials_in_message: false,
            addressing: None,
        }
    }

    /// Addresses the fault as the request was addressed (a first addressing stays).
    pub fn with_addressing(mut self, addressing: Option<&Addressing>) -> Self {
        if self.addressing.is_none() {
            self.addressing = addressing.map(|addressing| {
                Box::new(AddressedFault {
                    addressing: addressing.clone(),
                    subcodes: &[],
                })
            });
        }
        self
    }

    /// WS-Addressing's subcodes of this fault; empty unless WS-Addressing refused it.
    pub fn addressing_subcodes(&self) -> &'static [&'static str] {
        self.addressing
            .as_deref()
            .map_or(&[], |fault| fault.subcodes)
    }

    /// A refusal by WS-Addressing itself, answered with its `subcodes`.
    pub fn with_addressing_fault(
        mut self,
        addressing: Addressing,
        subcodes: &'static [&'static str],
    ) -> Self {
        self.addressing = Some(Box::new(AddressedFault {
            addressing,
            subcodes,
        }));
        self
    }

    /// Marks a fault about credentials that travelled in the message.
    pub fn with_credentials_in_message(mut self) -> Self {
        self.credentials_in_message = true;
        self
    }

    /// The HTTP status this fault is answered with in `version`; `sender` is the status
    /// the installation gives SOAP 1.2 Sender faults (the caller's setting: this module
    /// reads no configuration).
    pub fn http_status(&self, version: SoapVersion, sender: SenderFaultStatus) -> u16 {
        let soap12 = version == SoapVersion::V12;
        if self.credentials_in_message {
            self.code.plain_soap_status(soap12, sender)
        } else {
            self.code.soap_http_status(soap12, sender)
        }
    }

    pub fn in_version(mut self, version: SoapVersion) -> Self {
        self.version = Some(version);
        self
    }
}

impl std::fmt::Display for SoapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_by_namespace() {
        assert_eq!(
            SoapVersion::from_envelope_namespace(SOAP11_ENVELOPE_NS),
            Some(SoapVersion::V11)
        );
        assert_eq!(
            SoapVersion::from_envelope_namespace(SOAP12_ENVELOPE_NS),
            Some(SoapVersion::V12)
        );
        assert_eq!(SoapVersion::from_envelope_namespace("urn:other"), None);
        assert_eq!(
            SoapVersion::V12.content_type(),
            "application/soap+xml; charset=utf-8"
        );
    }

    /// A fault about credentials in the message is a plain fault, so in SOAP 1.2 it moves
    /// with the Sender fault setting like any other Sender fault; a challenge stays 401.
    #[test]
    fn fault_status_follows_the_sender_setting() {
        let unknown = SoapError::new(ErrorCode::UnknownSerial, "unknown serial");
        let keyless =
            SoapError::new(ErrorCode::Unauthenticated, "no key").with_credentials_in_message();
        let challenge = SoapError::new(ErrorCode::Unauthenticated, "no credentials");
        let cases = [
            (&unknown, SoapVersion::V12, (400, 500)),
            (&unknown, SoapVersion::V11, (500, 500)),
            (&keyless, SoapVersion::V12, (400, 500)),
            (&keyless, SoapVersion::V11, (500, 500)),
            (&challenge, SoapVersion::V12, (401, 401)),
        ];
        for (error, version, expected) in cases {
            let statuses = (
                error.http_status(version, SenderFaultStatus::BadRequest),
                error.http_status(version, SenderFaultStatus::InternalServerError),
            );
            assert_eq!(statuses, expected, "{error} in {version:?}");
        }
    }
}
