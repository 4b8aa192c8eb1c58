//! What an engine command can fail with. Every variant maps to exactly one stable
//! [`ErrorCode`]; messages are short, lowercase, and safe to show to the caller (store
//! details stay in the log).

use thiserror::Error;

use crate::error::ErrorCode;
use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("{0}")]
    MalformedRequest(String),
    #[error("unknown workflow `{0}`")]
    UnknownWorkflow(String),
    #[error("unknown instance {0}")]
    UnknownInstance(i64),
    #[error("unknown serial number `{0}`")]
    UnknownSerial(String),
    #[error("{0}")]
    ItemNotOpen(String),
    #[error("{0}")]
    InvalidField(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotSupported(String),
    /// The detail is for logs only; clients get a fixed message.
    #[error("the store is unavailable, retry later")]
    StoreUnavailable(String),
    /// A serialisation conflict or deadlock; the engine retries the command, and a caller
    /// that still sees it may retry later. The detail is for logs only.
    #[error("the store is busy, retry later")]
    Conflict(String),
    /// The store failed in a way a retry will not mend: `kind` is `corrupt` (a stored
    /// value that does not read back) or `other`. The detail is for logs only; clients
    /// get the fixed message of an internal error.
    #[error("internal error")]
    StoreFailed { kind: &'static str, detail: String },
    /// The detail is for logs only; clients get a fixed message.
    #[error("internal error")]
    Internal(String),
}

impl EngineError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::MalformedRequest(_) => ErrorCode::MalformedRequest,
            Self::UnknownWorkflow(_) => ErrorCode::UnknownWorkflow,
            Self::UnknownInstance(_) => ErrorCode::UnknownInstance,
            Self::UnknownSerial(_) => ErrorCode::UnknownSerial,
            Self::ItemNotOpen(_) => ErrorCode::ItemNotOpen,
            Self::InvalidField(_) => ErrorCode::InvalidField,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotSupported(_) => ErrorCode::NotSupported,
            Self::StoreUnavailable(_) | Self::Conflict(_) => ErrorCode::StoreUnavailable,
            Self::StoreFailed { .. } | Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl EngineError {
    /// Logs what clients are not told (store and internal details); every edge calls this
    /// when it turns an engine error into its answer.
    pub fn log_detail(&self) {
        match self {
            Self::StoreUnavailable(detail) | Self::Conflict(detail) => {
                tracing::warn!(%detail, "store unavailable");
            }
            Self::StoreFailed { kind, detail } => tracing::error!(kind, %detail, "store failed"),
            Self::Internal(detail) => tracing::error!(%detail, "internal error"),
            Self::MalformedRequest(_)
            | Self::UnknownWorkflow(_)
            | Self::UnknownInstance(_)
            | Self::UnknownSerial(_)
            | Self::ItemNotOpen(_)
            | Self::InvalidField(_)
            | Self::Forbidden(_)
            | Self::NotSupported(_) => {}
        }
    }
}

impl From<StoreError> for EngineError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => Self::StoreUnavailable(detail),
            StoreError::Conflict(detail) => Self::Conflict(detail),
            StoreError::Corrupt(detail) => Self::StoreFailed {
                kind: "corrupt",
                detail,
            },
            StoreError::Other(detail) => Self::StoreFailed {
                kind: "other",
                detail,
            },
        }
    }
}
