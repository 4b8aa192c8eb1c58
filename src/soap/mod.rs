//! SOAP envelope handling, sans I/O: bytes in, typed values out (DESIGN §6 "SOAP core").
//! This module knows nothing of the engine. It starts with version detection; the reader,
//! writer and faults follow with the SOAP core work.

/// The two SOAP versions, told apart by the envelope namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapVersion {
    V11,
    V12,
}

pub const SOAP11_ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const SOAP12_ENVELOPE_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

impl SoapVersion {
    /// The version an envelope namespace denotes; anything else is a VersionMismatch.
    pub fn from_envelope_namespace(namespace: &str) -> Option<Self> {
        match namespace {
            SOAP11_ENVELOPE_NS => Some(Self::V11),
            SOAP12_ENVELOPE_NS => Some(Self::V12),
            _ => None,
        }
    }

    /// Content type of responses (no BOM, always UTF-8).
    pub fn content_type(self) -> &'static str {
        match self {
            Self::V11 => "text/xml; charset=utf-8",
            Self::V12 => "application/soap+xml; charset=utf-8",
        }
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
}
