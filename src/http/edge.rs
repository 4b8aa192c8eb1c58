//! [`EdgeState`]: what the edge toolkit needs on every request, registered by the app as
//! its own `app_data` so that extractors ([`super::auth::Authenticated`],
//! [`super::body::JsonBody`]) and the SOAP dispatch ([`super::soap`]) read their per-node
//! settings here and never from the app's assembly: `http` knows nothing above it.
//!
//! It carries the engine and the accounts because the edge hands them to every dialect
//! (a SOAP call reaches them through [`super::soap::SoapCall::state`]); cloning it is
//! cheap (shared parts are behind `Arc`), and the body budget stays one per node however
//! many workers clone it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;

use super::body::BodyLimits;
use super::budget::BodyBudget;
use super::client_addr;
use crate::auth::Accounts;
use crate::config::{DEFAULT_BODY_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_MAX_BUFFERED};
use crate::engine::Engine;
use crate::error::SenderFaultStatus;
use crate::networks::NetworkList;

/// Per-node settings and shared handles of the edge.
#[derive(Clone)]
pub struct EdgeState {
    pub engine: Arc<Engine>,
    pub accounts: Arc<Accounts>,
    /// Request bodies larger than this are refused with `413 limit_exceeded`.
    pub max_body: usize,
    /// A body not complete this long after its head is refused (slow-loris on bodies).
    pub body_timeout: Duration,
    /// What the SOAP reader accepts (its `max_body` follows [`EdgeState::max_body`]).
    pub soap_limits: crate::soap::Limits,
    /// Status of an answered one-way SOAP operation: 202 (default) or 200.
    pub one_way_status: u16,
    /// Status of SOAP 1.2 Sender faults: 400 (default) or 500 (`[soap] sender_fault_status`).
    pub sender_fault_status: SenderFaultStatus,
    /// The node's budget for buffered request bodies (`[http] max_buffered`).
    pub body_budget: Arc<BodyBudget>,
    /// `[http] trusted_proxies`: peers whose `Forwarded`/`X-Forwarded-For` are believed.
    pub trusted_proxies: NetworkList,
}

impl EdgeState {
    /// The built-in defaults of every `[http]` and `[soap]` setting.
    pub fn new(engine: Arc<Engine>, accounts: Arc<Accounts>) -> Self {
        Self {
            engine,
            accounts,
            max_body: DEFAULT_MAX_BODY,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            soap_limits: crate::soap::Limits::default(),
            one_way_status: 202,
            sender_fault_status: SenderFaultStatus::default(),
            body_budget: Arc::new(BodyBudget::new(DEFAULT_MAX_BUFFERED)),
            trusted_proxies: NetworkList::default(),
        }
    }

    /// Who sent `request` ([`client_addr`]): every allow-list and audit record asks here.
    pub fn client_ip(&self, request: &HttpRequest) -> Option<IpAddr> {
        client_addr::client_ip(
            request.peer_addr().map(|address| address.ip()),
            request.headers(),
            &self.trusted_proxies,
        )
    }

    /// Sets the body cap of JSON and SOAP requests alike.
    pub fn with_max_body(mut self, max_body: usize) -> Self {
        self.max_body = max_body;
        self.soap_limits.max_body = max_body;
        self
    }

    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    pub fn with_max_buffered(mut self, max_buffered: usize) -> Self {
        self.body_budget = Arc::new(BodyBudget::new(max_buffered));
        self
    }

    pub fn body_limits(&self) -> BodyLimits {
        BodyLimits {
            max: self.max_body,
            timeout: self.body_timeout,
            budget: Some(self.body_budget.clone()),
        }
    }
}
