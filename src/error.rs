//! Stable error codes shared by every dialect (DESIGN §5).
//!
//! The codes are part of the wire contract: JSON bodies, SOAP fault details and logs carry
//! them verbatim. Each code's HTTP status lives here, in one exhaustive `match`.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    MalformedRequest,
    VersionMismatch,
    MustUnderstand,
    DtdNotAllowed,
    LimitExceeded,
    Unauthenticated,
    Forbidden,
    UnknownOperation,
    UnknownWorkflow,
    UnknownInstance,
    UnknownSerial,
    ItemNotOpen,
    InvalidField,
    NotSupported,
    StoreUnavailable,
    Overloaded,
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of DESIGN §5.
    pub const ALL: &[ErrorCode] = &[
        Self::MalformedRequest,
        Self::VersionMismatch,
        Self::MustUnderstand,
        Self::DtdNotAllowed,
        Self::LimitExceeded,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::UnknownOperation,
        Self::UnknownWorkflow,
        Self::UnknownInstance,
        Self::UnknownSerial,
        Self::ItemNotOpen,
        Self::InvalidField,
        Self::NotSupported,
        Self::StoreUnavailable,
        Self::Overloaded,
        Self::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedRequest => "malformed_request",
            Self::VersionMismatch => "version_mismatch",
            Self::MustUnderstand => "must_understand",
            Self::DtdNotAllowed => "dtd_not_allowed",
            Self::LimitExceeded => "limit_exceeded",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::UnknownOperation => "unknown_operation",
            Self::UnknownWorkflow => "unknown_workflow",
            Self::UnknownInstance => "unknown_instance",
            Self::UnknownSerial => "unknown_serial",
            Self::ItemNotOpen => "item_not_open",
            Self::InvalidField => "invalid_field",
            Self::NotSupported => "not_supported",
            Self::StoreUnavailable => "store_unavailable",
            Self::Overloaded => "overloaded",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status for JSON and REST answers.
    pub fn http_status(self) -> u16 {
        match self {
            Self::MalformedRequest
            | Self::DtdNotAllowed
            | Self::UnknownOperation
            | Self::InvalidField => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::UnknownWorkflow | Self::UnknownInstance | Self::UnknownSerial => 404,
            Self::ItemNotOpen => 409,
            Self::LimitExceeded => 413,
            Self::VersionMismatch | Self::MustUnderstand | Self::Internal => 500,
            Self::NotSupported => 501,
            Self::StoreUnavailable | Self::Overloaded => 503,
        }
    }

    /// Whether the answer tells the client when to try again (`Retry-After`): the node
    /// is fine, only busy or cut off from its store for a moment.
    pub fn retry_later(self) -> bool {
        matches!(self, Self::StoreUnavailable | Self::Overloaded)
    }
}

/// Which SOAP fault code an error is answered with (1.1 name / 1.2 name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultClass {
    VersionMismatch,
    MustUnderstand,
    /// 1.1 `Client`, 1.2 `Sender`: the request was at fault; resending it will not help.
    Sender,
    /// 1.1 `Server`, 1.2 `Receiver`: our side failed; the same request may succeed later.
    Receiver,
}

impl ErrorCode {
    /// The SOAP fault code of DESIGN §5.
    pub fn fault_class(self) -> FaultClass {
        match self {
            Self::VersionMismatch => FaultClass::VersionMismatch,
            Self::MustUnderstand => FaultClass::MustUnderstand,
            Self::MalformedRequest
            | Self::DtdNotAllowed
            | Self::LimitExceeded
            | Self::Unauthenticated
            | Self::Forbidden
            | Self::UnknownOperation
            | Self::UnknownWorkflow
            | Self::UnknownInstance
            | Self::UnknownSerial
            | Self::ItemNotOpen
            | Self::InvalidField => FaultClass::Sender,
            Self::NotSupported | Self::StoreUnavailable | Self::Overloaded | Self::Internal => {
                FaultClass::Receiver
            }
        }
    }

    /// The HTTP status of a SOAP fault with this code. SOAP 1.1 answers every fault with
    /// 500; SOAP 1.2 answers Sender faults with `sender` (400 unless configured) and the
    /// others with 500. Three codes keep their HTTP meaning in both versions because the
    /// HTTP layer must act on them: 401 carries the `WWW-Authenticate` challenge that WCF
    /// and Axis clients wait for before they send credentials, 413 is decided before the
    /// body is parsed, and 503 (store unavailable, overloaded) carries `Retry-After` for
    /// clients and load balancers.
    pub fn soap_http_status(self, soap12: bool, sender: SenderFaultStatus) -> u16 {
        match self {
            Self::Unauthenticated => 401,
            Self::LimitExceeded => 413,
            Self::StoreUnavailable | Self::Overloaded => 503,
            // Every other code follows its fault class, whose match names each code, so
            // a new code cannot slip through unclassified.
            _ => self.plain_soap_status(soap12, sender),
        }
    }

    /// The status the SOAP bindings themselves give a fault: 500 in SOAP 1.1; in SOAP 1.2,
    /// `sender` for Sender faults and 500 for the others.
    pub fn plain_soap_status(self, soap12: bool, sender: SenderFaultStatus) -> u16 {
        match (soap12, self.fault_class()) {
            (true, FaultClass::Sender) => sender.status(),
            _ => 500,
        }
    }
}

/// The HTTP status of SOAP 1.2 Sender faults (`[soap] sender_fault_status`). The SOAP 1.2
/// HTTP binding says 400, but some clients read a fault body only on 500: Mono's WCF turns
/// any 4xx into a bare protocol error ("Bad Request") and never sees the code or reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SenderFaultStatus {
    /// 400, as the SOAP 1.2 HTTP binding says.
    #[default]
    BadRequest,
    /// 500, like every other fault, for clients that read faults on 500 only.
    InternalServerError,
}

impl SenderFaultStatus {
    /// The setting for an HTTP status: only 400 and 500 are meaningful.
    pub fn from_status(status: u16) -> Option<Self> {
        match status {
            400 => Some(Self::BadRequest),
            500 => Some(Self::InternalServerError),
            _ => None,
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::InternalServerError => 500,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::{ErrorCode, FaultClass, SenderFaultStatus};

    const BOTH: [SenderFaultStatus; 2] = [
        SenderFaultStatus::BadRequest,
        SenderFaultStatus::InternalServerError,
    ];

    #[test]
    fn sender_fault_status_is_400_or_500() {
        assert_eq!(SenderFaultStatus::default().status(), 400);
        for status in [400, 500] {
            let setting = SenderFaultStatus::from_status(status).map(SenderFaultStatus::status);
            assert_eq!(setting, Some(status));
        }
        for other in [0, 200, 401, 422, 499, 501, 503] {
            assert_eq!(SenderFaultStatus::from_status(other), None, "{other}");
        }
    }

    /// The setting moves SOAP 1.2 Sender faults from 400 to 500 and nothing else: SOAP 1.1
    /// stays at 500, and 401, 413 and 503 keep their HTTP meaning.
    #[test]
    fn the_setting_moves_only_soap12_sender_faults() {
        for &code in ErrorCode::ALL {
            for sender in BOTH {
                assert_eq!(code.soap_http_status(false, sender), {
                    match code {
                        ErrorCode::Unauthenticated => 401,
                        ErrorCode::LimitExceeded => 413,
                        ErrorCode::StoreUnavailable | ErrorCode::Overloaded => 503,
                        _ => 500,
                    }
                });
                assert_eq!(code.plain_soap_status(false, sender), 500, "{code}");
            }
            let (default, five_hundred) = (
                code.soap_http_status(true, SenderFaultStatus::BadRequest),
                code.soap_http_status(true, SenderFaultStatus::InternalServerError),
            );
            match (code, code.fault_class()) {
                (ErrorCode::Unauthenticated | ErrorCode::LimitExceeded, _) => {
                    assert_eq!(default, five_hundred, "{code}");
                }
                (_, FaultClass::Sender) => {
                    assert_eq!((default, five_hundred), (400, 500), "{code}")
                }
                _ => assert_eq!(default, five_hundred, "{code}"),
            }
            let plain = (
                code.plain_soap_status(true, SenderFaultStatus::BadRequest),
                code.plain_soap_status(true, SenderFaultStatus::InternalServerError),
            );
            let expected = match code.fault_class() {
                FaultClass::Sender => (400, 500),
                _ => (500, 500),
            };
            assert_eq!(plain, expected, "{code}");
        }
    }
}
