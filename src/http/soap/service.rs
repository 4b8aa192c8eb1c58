//! What a SOAP service implements to be served ([`SoapService`]), and what it is handed
//! per call ([`SoapCall`]): the contract between the edge's SOAP dispatch
//! ([`super`]) and the dialects. Nothing here reads a body or writes an envelope.

use async_trait::async_trait;

use crate::auth::Principal;
use crate::engine::EngineError;
use crate::error::ErrorCode;
use crate::http::EdgeState;
use crate::http::auth::{BasicCredentials, BasicFailure, basic_principal};
use crate::soap::service::{Operation, ServiceDescriptor};
use crate::soap::{Envelope, SoapError};

/// An operation that answers with a response envelope.
pub const fn request_response(name: &'static str) -> Operation {
    Operation {
        name,
        one_way: false,
    }
}

/// An operation answered with an empty `202` (or `200`) once its effect is committed.
pub const fn one_way(name: &'static str) -> Operation {
    Operation {
        name,
        one_way: true,
    }
}

/// A SOAP service the gateway serves.
#[async_trait]
pub trait SoapService: Send + Sync + 'static {
    fn descriptor(&self) -> &ServiceDescriptor;

    /// Whether calls need [`SoapCall::host`] (worked out from the request's headers,
    /// which costs time on every call otherwise).
    fn needs_host(&self) -> bool {
        false
    }

    /// How the service uses the `Authorization` header; credentials it requires are
    /// checked before the body is read (see `http::gate`).
    fn header_credentials(&self) -> HeaderCredentials {
        HeaderCredentials::Unused
    }

    /// Header blocks (namespace, local name) this service processes; any other block
    /// marked mustUnderstand is answered with a MustUnderstand fault.
    fn understood_headers(&self) -> &[(&'static str, &'static str)] {
        &[]
    }

    /// Checks what arrives before the body (the query string here), so that a request
    /// the service refuses anyway is answered before its body is read and costs nothing.
    async fn admit(&self, _state: &EdgeState, _query: &str) -> Result<(), SoapError> {
        Ok(())
    }

    /// What a caller must append to this service's paths (`key=…`), for the start-up
    /// listing and the admin pages; `None`: the plain URL.
    async fn registration_query(&self, _state: &EdgeState) -> Result<Option<String>, SoapError> {
        Ok(None)
    }

    /// Runs one call: `Some(markup)` is the Body content of the answer; `None` answers a
    /// one-way operation with an empty `202`.
    async fn call(&self, call: SoapCall<'_>) -> Result<Option<String>, SoapError>;
}

/// What a service does with HTTP Basic credentials in the `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderCredentials {
    /// Every call needs them: checked before the body is read; none or wrong is a 401.
    Required,
    /// Some calls use them, others carry credentials in the envelope or none: checked
    /// before the body when sent (wrong ones are a 401 at once); absent, the body decides.
    WhenSent,
    /// The service authenticates otherwise (in the envelope, a token, or not at all).
    Unused,
}

/// One parsed request, handed to [`SoapService::call`].
pub struct SoapCall<'a> {
    pub operation: &'a Operation,
    pub envelope: &'a Envelope<'a>,
    pub state: &'a EdgeState,
    /// HTTP Basic credentials, if the request carried some (possibly malformed).
    pub credentials: BasicCredentials,
    /// The account those credentials name, when they were checked before the body.
    pub verified: Option<Principal>,
    /// The client's address ([`crate::http::client_addr`]: the peer, or whom a trusted proxy
    /// names), for allow-lists and the audit trail ([`SoapCall::source`]).
    pub peer: Option<std::net::IpAddr>,
    /// The host the request was addressed to (`Host`, or `Forwarded`/`X-Forwarded-Host`),
    /// for services that ask for it ([`SoapService::needs_host`]).
    pub host: Option<String>,
}

impl SoapCall<'_> {
    /// The client's IP address as history records it; formatted only when needed.
    pub fn source(&self) -> Option<String> {
        self.peer.map(|ip| ip.to_string())
    }

    /// The account of the request's HTTP Basic credentials, or an `unauthenticated` fault
    /// (answered with `401` and a `WWW-Authenticate` challenge).
    pub async fn authenticate(&self) -> Result<Principal, SoapError> {
        if let Some(principal) = &self.verified {
            return Ok(principal.clone());
        }
        basic_principal(&self.state.accounts, self.credentials.clone())
            .await
            .map_err(basic_fault)
    }
}

/// Basic credentials that were not accepted, as a fault (`401` with a challenge).
pub fn basic_fault(failure: BasicFailure) -> SoapError {
    match failure {
        BasicFailure::Rejected(why) => SoapError::new(ErrorCode::Unauthenticated, why),
        BasicFailure::Store(error) => engine_fault(error),
    }
}

/// An engine error as a fault; store and internal details go to the log only.
pub fn engine_fault(error: EngineError) -> SoapError {
    error.log_detail();
    SoapError::new(error.code(), error.to_string())
}
