//! The one place where backend errors become [`StoreError`]s.
//!
//! Callers never see driver text: the message kept here is for logs. A lost connection,
//! a pool that cannot hand out a connection, or a database shutting down is
//! [`StoreError::Unavailable`] (the HTTP edge answers 503 and acknowledges nothing).
//! Serialisation failures and deadlocks are [`StoreError::Conflict`]: the engine retries
//! the whole command.

use thiserror::Error;

#[derive(Debug, Clone, Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("transaction conflict: {0}")]
    Conflict(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("store error: {0}")]
    Other(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Conflict(_))
    }
}

/// SQLSTATE classes and codes that mean "the database is not there right now".
fn sqlstate_is_unavailable(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources (too many connections, disk full)
        || matches!(code, "57P01" | "57P02" | "57P03" | "57014") // shutdown, crash, starting up, cancelled
        || code == "25006" // read-only transaction (standby)
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        if let Some(db) = error.as_db_error() {
            let code = db.code().code();
            let text = format!("{code}: {}", db.message());
            return match code {
                // 55P03: a lock not obtained within `lock_timeout` (a batch's command).
                "40001" | "40P01" | "55P03" => Self::Conflict(text),
                _ if sqlstate_is_unavailable(code) => Self::Unavailable(text),
                _ => Self::Other(text),
            };
        }
        // No SQLSTATE: the connection is closed, an I/O error, or a timeout.
        if error.is_closed() || std::error::Error::source(&error).is_some() {
            Self::Unavailable(error.to_string())
        } else {
            Self::Other(error.to_string())
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(inner) => inner.into(),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match &error {
            rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                    Self::Conflict(error.to_string())
                }
                ErrorCode::CannotOpen
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::ReadOnly
                | ErrorCode::PermissionDenied
                | ErrorCode::NotADatabase
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::OutOfMemory => Self::Unavailable(error.to_string()),
                _ => Self::Other(error.to_string()),
            },
            _ => Self::Other(error.to_string()),
        }
    }
}

impl From<refinery::Error> for StoreError {
    fn from(error: refinery::Error) -> Self {
        Self::Other(format!("migration failed: {error}"))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(error: serde_json::Error) -> Self {
        Self::Corrupt(format!("bad json column: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::{StoreError, sqlstate_is_unavailable};

    #[test]
    fn connection_classes_are_unavailable() {
        for code in ["08006", "57P01", "53300"] {
            assert!(sqlstate_is_unavailable(code), "{code}");
        }
        for code in ["23505", "42P01"] {
            assert!(!sqlstate_is_unavailable(code), "{code}");
        }
    }

    #[test]
    fn busy_sqlite_is_a_conflict() {
        let error = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(StoreError::from(error).is_retryable());
    }
}
