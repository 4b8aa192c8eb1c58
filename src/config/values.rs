//! The checks every section uses on its raw values, each error naming the key.

use std::net::SocketAddr;
use std::time::Duration;

use crate::duration::parse_duration;
use crate::networks::NetworkList;

/// A duration such as `5s` or `1h30m`; absent is `default`.
pub(super) fn duration(
    key: &str,
    value: Option<String>,
    default: Duration,
) -> Result<Duration, String> {
    match value {
        None => Ok(default),
        Some(text) => {
            parse_duration(&text).map_err(|why| format!("{key}: invalid duration `{text}`: {why}"))
        }
    }
}

/// A duration that must be more than zero.
pub(super) fn positive_duration(
    key: &str,
    value: Option<String>,
    default: Duration,
) -> Result<Duration, String> {
    let parsed = duration(key, value, default)?;
    if parsed.is_zero() {
        return Err(format!("{key}: must be more than 0"));
    }
    Ok(parsed)
}

/// A count of at least one; absent is `default`.
pub(super) fn at_least_one<N>(key: &str, value: Option<N>, default: N) -> Result<N, String>
where
    N: Copy + PartialEq + From<u8>,
{
    match value {
        Some(value) if value == N::from(0) => Err(format!("{key}: must be at least 1")),
        Some(value) => Ok(value),
        None => Ok(default),
    }
}

/// An allow-list or proxy list; absent is empty.
pub(super) fn networks(key: &str, entries: Option<Vec<String>>) -> Result<NetworkList, String> {
    NetworkList::parse(key, &entries.unwrap_or_default())
}

pub(super) fn addresses(key: &str, texts: &[String]) -> Result<Vec<SocketAddr>, String> {
    texts
        .iter()
        .map(|text| {
            text.parse::<SocketAddr>()
                .map_err(|_| format!("{key}: `{text}` is not an address such as 127.0.0.1:8080"))
        })
        .collect()
}

/// Text with something in it; blank is absent.
pub(super) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}
