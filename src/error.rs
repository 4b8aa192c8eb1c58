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
    Internal,
}

impl ErrorCode {
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
            Self::StoreUnavailable => 503,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
