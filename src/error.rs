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
    /// 500; SOAP 1.2 answers Sender faults with 400 and the others with 500. Three codes
    /// keep their HTTP meaning in both versions because the HTTP layer must act on them:
    /// 401 carries the `WWW-Authenticate` challenge that WCF and Axis clients wait for
    /// before they send credentials, 413 is decided before the body is parsed, and 503
    /// (store unavailable, overloaded) carries `Retry-After` for clients and load
    /// balancers.
    pub fn soap_http_status(self, soap12: bool) -> u16 {
        match self {
            Self::Unauthenticated => 401,
            Self::LimitExceeded => 413,
            Self::StoreUnavailable | Self::Overloaded => 503,
            // Every other code follows its fault class, whose match names each code, so
            // a new code cannot slip through unclassified.
            _ => self.plain_soap_status(soap12),
        }
    }

    /// The status the SOAP bindings themselves give a fault: 500 in SOAP 1.1; in SOAP 1.2,
    /// 400 for Sender faults and 500 for the others.
    pub fn plain_soap_status(self, soap12: bool) -> u16 {
        match (soap12, self.fault_class()) {
            (true, FaultClass::Sender) => 400,
            _ => 500,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
