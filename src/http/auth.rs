//! HTTP Basic authentication as an extractor: a handler that takes [`Authenticated`]
//! only runs for a valid account. Missing, malformed or wrong credentials answer
//! `401 unauthenticated` with `WWW-Authenticate: Basic realm="holdpoint"`; which of name
//! or password was wrong is not said.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine as _;
use futures_util::future::LocalBoxFuture;

use super::EdgeState;
use super::errors::ApiError;
use crate::auth::{Accounts, Principal};
use crate::engine::{Caller, EngineError};

/// An authenticated request: who, and from where.
pub struct Authenticated {
    pub principal: Principal,
    /// The client's IP address ([`super::client_addr`]), for the audit trail.
    pub source: Option<String>,
}

impl Authenticated {
    /// The engine caller for this request in `dialect` (`api`, `k2`, …).
    pub fn caller(&self, dialect: &str) -> Caller {
        self.principal.caller(dialect, self.source.clone())
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        if let Some(checked) = super::gate::take_prechecked::<Self>(request) {
            return Box::pin(std::future::ready(Ok(checked)));
        }
        let state = request.app_data::<web::Data<EdgeState>>().cloned();
        let credentials = basic_credentials(request);
        let source = state
            .as_ref()
            .and_then(|state| state.client_ip(request))
            .map(|ip| ip.to_string());
        Box::pin(async move {
            let state = state.ok_or_else(|| {
                ApiError::from(crate::engine::EngineError::Internal(
                    "edge state missing".into(),
                ))
            })?;
            let principal = basic_principal(&state.accounts, credentials).await?;
            Ok(Self { principal, source })
        })
    }
}

/// The request's `Authorization: Basic` credentials: none, malformed, or (name, password).
pub type BasicCredentials = Option<Result<(String, String), &'static str>>;

pub fn basic_credentials(request: &HttpRequest) -> BasicCredentials {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| parse_basic(value.as_bytes()))
}

/// Why Basic credentials were not accepted; each edge words it in its own dialect.
pub enum BasicFailure {
    /// Missing, malformed or wrong; the message does not say which of name or password.
    Rejected(&'static str),
    /// The accounts could not be read.
    Store(EngineError),
}

impl From<BasicFailure> for ApiError {
    fn from(failure: BasicFailure) -> Self {
        match failure {
            BasicFailure::Rejected(why) => ApiError::unauthenticated(why),
            BasicFailure::Store(error) => ApiError::from(error),
        }
    }
}

/// The account the credentials name, checked against the stored hashes. Every edge that
/// takes HTTP Basic (JSON API, K2, SOAP, remote events) goes through here.
pub async fn basic_principal(
    accounts: &Accounts,
    credentials: BasicCredentials,
) -> Result<Principal, BasicFailure> {
    let (name, password) = match credentials {
        None => return Err(BasicFailure::Rejected("credentials required (HTTP Basic)")),
        Some(Err(why)) => return Err(BasicFailure::Rejected(why)),
        Some(Ok(pair)) => pair,
    };
    match accounts.authenticate(&name, &password).await {
        Ok(Some(principal)) => Ok(principal),
        Ok(None) => Err(BasicFailure::Rejected("invalid credentials")),
        Err(error) => Err(BasicFailure::Store(error)),
    }
}

/// `Basic base64(name:password)` → (name, password).
pub fn parse_basic(header: &[u8]) -> Result<(String, String), &'static str> {
    let text = std::str::from_utf8(header).map_err(|_| "malformed Authorization header")?;
    let (scheme, encoded) = text
        .trim()
        .split_once(' ')
        .ok_or("malformed Authorization header")?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err("only HTTP Basic authentication is supported");
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| "malformed Basic credentials: not base64")?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| "malformed Basic credentials: not UTF-8")?;
    let (name, password) = decoded
        .split_once(':')
        .ok_or("malformed Basic credentials: no `:` between name and password")?;
    Ok((name.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::parse_basic;

    #[test]
    fn basic_credentials() {
        // erp:pa:ss — the password may contain colons.
        assert_eq!(
            parse_basic(b"Basic ZXJwOnBhOnNz"),
            Ok(("erp".into(), "pa:ss".into()))
        );
        assert_eq!(
            parse_basic(b"basic ZXJwOnBhOnNz"),
            Ok(("erp".into(), "pa:ss".into()))
        );
        assert!(parse_basic(b"Bearer abc").is_err());
        assert!(parse_basic(b"Basic !!!").is_err());
        assert!(parse_basic(b"Basic ZXJw").is_err()); // "erp", no colon
    }
}
