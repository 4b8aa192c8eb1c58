//! `[http]` and `[tls]`: where the node listens and what it accepts per connection and
//! per request, resolved from their raw form. The command line's `--listen` wins over
//! the file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::defaults::{
    DEFAULT_BODY_TIMEOUT, DEFAULT_KEEP_ALIVE, DEFAULT_LISTEN, DEFAULT_MAX_BODY,
    DEFAULT_MAX_BUFFERED, DEFAULT_MAX_CONNECTIONS,
};
use super::raw::{RawHttp, RawTls};
use super::values::{addresses, at_least_one, duration, networks, positive_duration};
use crate::networks::NetworkList;

/// The resolved `[http]` section.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: Vec<SocketAddr>,
    pub shutdown_timeout: Duration,
    /// Largest request body accepted (bytes).
    pub max_body: usize,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    /// Bytes of request bodies the node holds at once (`overloaded` past it).
    pub max_buffered: usize,
    /// Connections the node holds at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Threads serving HTTP, at most `max_connections`; each connection stays on the one
    /// that accepted it.
    pub workers: usize,
    /// How long an idle keep-alive connection stays open (0: closed after each answer).
    pub keep_alive: Duration,
    /// Peers whose `Forwarded`/`X-Forwarded-For` headers name the client.
    pub trusted_proxies: NetworkList,
    /// Where callers reach this node (`https://holdpoint.example.com`), without a
    /// trailing `/`: the base of callback URLs. Needed only when a workflow gives them.
    pub public_url: Option<String>,
}

/// Where the HTTPS listeners are and what they present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM: the certificate, then its chain.
    pub cert: PathBuf,
    /// PEM: a PKCS#8, RSA (PKCS#1) or SEC1 private key.
    pub key: PathBuf,
    pub listen: Vec<SocketAddr>,
}

impl HttpSettings {
    /// `listen_flags` (from `--listen`) replace `[http] listen` when given. No address at
    /// all is refused by the caller unless `[tls]` listens.
    pub(super) fn resolve(raw: RawHttp, listen_flags: &[String]) -> Result<Self, String> {
        let listen_text = if listen_flags.is_empty() {
            raw.listen
                .unwrap_or_else(|| vec![DEFAULT_LISTEN.to_string()])
        } else {
            listen_flags.to_vec()
        };
        let listen = addresses("[http] listen", &listen_text)?;
        let max_body = at_least_one("[http] max_body", raw.max_body, DEFAULT_MAX_BODY)?;
        let max_buffered = at_least_one(
            "[http] max_buffered",
            raw.max_buffered,
            DEFAULT_MAX_BUFFERED,
        )?;
        if max_buffered < max_body {
            return Err(format!(
                "[http] max_buffered ({max_buffered}) must be at least [http] max_body ({max_body}), or no body of the largest size could ever be read"
            ));
        }
        let max_connections = at_least_one(
            "[http] max_connections",
            raw.max_connections,
            DEFAULT_MAX_CONNECTIONS,
        )?;
        Ok(Self {
            listen,
            shutdown_timeout: duration(
                "[http] shutdown_timeout",
                raw.shutdown_timeout,
                Duration::from_secs(30),
            )?,
            max_body,
            body_timeout: positive_duration(
                "[http] body_timeout",
                raw.body_timeout,
                DEFAULT_BODY_TIMEOUT,
            )?,
            max_buffered,
            max_connections,
            // Each worker holds at least one connection: no more workers than connections.
            workers: workers(raw.workers)?.min(max_connections),
            keep_alive: duration("[http] keep_alive", raw.keep_alive, DEFAULT_KEEP_ALIVE)?,
            trusted_proxies: networks("[http] trusted_proxies", raw.trusted_proxies)?,
            public_url: raw.public_url.as_deref().map(public_url).transpose()?,
        })
    }
}

/// `[http] public_url`: an absolute http(s) URL without query or fragment; a trailing
/// `/` is dropped so that paths can be appended.
fn public_url(text: &str) -> Result<String, String> {
    let refuse = |why: &str| Err(format!("[http] public_url: `{text}` {why}"));
    let Ok(url) = reqwest::Url::parse(text.trim()) else {
        return refuse("is not an absolute URL (e.g. https://holdpoint.example.com)");
    };
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return refuse("must be an http or https URL with a host");
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return refuse("must not carry credentials, a query or a fragment");
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// `[http] workers`; absent or 0: as many as the machine has cores, and at least
/// [`MIN_AUTO_WORKERS`]. A connection is served by one worker for its whole life, so while
/// the OS runs something else on a worker's core (the database, a load balancer's health
/// checks, the log writer) every connection of that worker waits: the slowest answers
/// (p99) are those. With more workers than cores a preempted worker holds up fewer
/// connections: on 2 cores, 8 workers cut echo p99 from about 3.6 ms to 1.5 ms against 2.
/// But a worker's PostgreSQL commands share commits on its lane (`[store] worker_lanes`),
/// so fewer workers make larger batches: on 2 cores 4 workers served a quarter to a third
/// more K2 finishes than 8 and as much echo at 16 connections (p99 0.6 ms against 0.5; at
/// 64, 8 % less echo). Hence at least 4 (BENCHMARKS.md, 2026-12-05).
fn workers(configured: Option<usize>) -> Result<usize, String> {
    match configured {
        Some(workers) if workers > MAX_WORKERS => Err(format!(
            "[http] workers ({workers}) must be at most {MAX_WORKERS}"
        )),
        Some(workers) if workers > 0 => Ok(workers),
        _ => Ok(std::thread::available_parallelism()
            .map_or(MIN_AUTO_WORKERS, std::num::NonZeroUsize::get)
            .max(MIN_AUTO_WORKERS)),
    }
}

/// The fewest workers chosen automatically.
const MIN_AUTO_WORKERS: usize = 4;
/// Each worker is a thread with its own event loop; past this, more only cost memory.
const MAX_WORKERS: usize = 1024;

impl TlsSettings {
    /// Nothing, or a certificate, its key and at least one HTTPS address. The files are
    /// read and checked when `serve` starts.
    pub(super) fn resolve(raw: RawTls) -> Result<Option<Self>, String> {
        let listen = addresses("[tls] listen", &raw.listen.unwrap_or_default())?;
        match (raw.cert, raw.key) {
            (None, None) if listen.is_empty() => Ok(None),
            (None, None) => Err("[tls] listen: needs [tls] cert and key".into()),
            (Some(_), None) => Err("[tls] key: required with [tls] cert".into()),
            (None, Some(_)) => Err("[tls] cert: required with [tls] key".into()),
            (Some(_), Some(_)) if listen.is_empty() => {
                Err("[tls] listen: give the HTTPS addresses, such as 0.0.0.0:8443".into())
            }
            (Some(cert), Some(key)) => Ok(Some(Self { cert, key, listen })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MIN_AUTO_WORKERS, workers};

    #[test]
    fn workers_are_as_configured_or_at_least_the_automatic_floor() {
        assert_eq!(workers(Some(3)), Ok(3));
        assert!(workers(Some(0)).is_ok_and(|n| n >= MIN_AUTO_WORKERS));
        assert_eq!(workers(None), workers(Some(0)));
        assert_eq!(
            workers(Some(5000)),
            Err("[http] workers (5000) must be at most 1024".into())
        );
    }
}
