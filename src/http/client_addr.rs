//! Who is the client: the one rule every edge uses for its allow-lists
//! (`[orchestrator]`, `[sharepoint]`, `[remote_events] allow_from`), the `source` history
//! records and the remote address of kenaflow unstructured events.
//!
//! The client is the TCP peer, unless the peer is one of `[http] trusted_proxies`. Only
//! then are `Forwarded` (RFC 7239 `for=`) and `X-Forwarded-For` read, each as a chain of
//! hops, left (first) to right (nearest): the client is the right-most hop that is not
//! itself a trusted proxy, since everything left of it was written by someone we do not
//! trust. A hop we cannot read (`for=unknown`, an obfuscated `_name`, garbage, an element
//! without `for=`) makes the client unknown: nothing to its left can be believed either.
//! When both headers are present they must name the same client, else it is unknown:
//! a proxy that writes one of them passes the other on as the client sent it, and which
//! one it writes is not ours to guess. A trusted peer that forwards nothing is the client
//! itself (its own health checks, say); a chain of trusted proxies only, its first hop.
//! From any other peer these headers change nothing.
//!
//! An unknown client (`None`) is refused by every allow-list that has entries and is
//! recorded without a source.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::http::header::{self, HeaderMap};

use crate::networks::NetworkList;

/// The client's address, by the rule above.
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &NetworkList,
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let forwarded = chain(headers, header::FORWARDED.as_str(), forwarded_hop)
        .map(|hops| right_most_untrusted(&hops, trusted));
    let x_forwarded_for =
        chain(headers, "x-forwarded-for", node).map(|hops| right_most_untrusted(&hops, trusted));
    match (forwarded, x_forwarded_for) {
        (None, None) => Some(peer),
        (Some(client), None) | (None, Some(client)) => client,
        (Some(one), Some(other)) if one == other => one,
        (Some(_), Some(_)) => {
            tracing::debug!(%peer, "Forwarded and X-Forwarded-For name different clients; client unknown");
            None
        }
    }
}

/// Every comma-separated hop of every `name` header, in order; `None` without one.
fn chain(
    headers: &HeaderMap,
    name: &str,
    hop: fn(&str) -> Option<IpAddr>,
) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all(name) {
        match value.to_str() {
            Ok(text) => hops.extend(split_unquoted(text, ',').into_iter().map(hop)),
            Err(_) => hops.push(None),
        }
    }
    (!hops.is_empty()).then_some(hops)
}

fn right_most_untrusted(hops: &[Option<IpAddr>], trusted: &NetworkList) -> Option<IpAddr> {
    let mut first_trusted = None;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if trusted.contains(*ip) => first_trusted = Some(*ip),
            Some(ip) => return Some(*ip),
            None => return None,
        }
    }
    first_trusted
}

/// One RFC 7239 element (`for=192.0.2.60;proto=http;by=…`): its `for` node.
fn forwarded_hop(element: &str) -> Option<IpAddr> {
    split_unquoted(element, ';')
        .into_iter()
        .find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            name.trim().eq_ignore_ascii_case("for").then_some(value)
        })
        .and_then(node)
}

/// A node: `192.0.2.60`, `192.0.2.60:4711`, `"[2001:db8::17]:4711"`, `2001:db8::17`.
fn node(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"').trim();
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        return inside
            .parse::<Ipv6Addr>()
            .ok()
            .map(|ip| IpAddr::V6(ip).to_canonical());
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let (address, port) = text.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    address.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Splits on `separator` outside double quotes (RFC 7239 values may be quoted strings).
fn split_unquoted(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (at, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..at]);
                start = at + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::{HeaderMap, NetworkList, client_ip};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn client(peer: &str, pairs: &[(&str, &str)]) -> Option<String> {
        let trusted = NetworkList::parse(
            "[http] trusted_proxies",
            &["10.0.0.1".to_string(), "10.1.0.0/24".to_string()],
        )
        .unwrap();
        client_ip(peer.parse().ok(), &headers(pairs), &trusted).map(|ip| ip.to_string())
    }

    fn some(ip: &str) -> Option<String> {
        Some(ip.to_string())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let spoof = [
            ("x-forwarded-for", "10.20.0.1"),
            ("forwarded", "for=10.20.0.1"),
        ];
        assert_eq!(client("203.0.113.7", &spoof), some("203.0.113.7"));
        assert_eq!(client("::ffff:203.0.113.7", &[]), some("203.0.113.7"));
        assert_eq!(client("not an address", &spoof), None);
    }

    #[test]
    fn a_trusted_proxy_names_the_right_most_untrusted_hop() {
        let xff = |value| client("10.0.0.1", &[("x-forwarded-for", value)]);
        assert_eq!(xff("198.51.100.9"), some("198.51.100.9"));
        // The client wrote the first entry itself; our proxies appended the rest.
        assert_eq!(
            xff("10.20.0.1, 198.51.100.9, 10.1.0.5"),
            some("198.51.100.9")
        );
        assert_eq!(
            xff("10.1.0.7, 10.1.0.5"),
            some("10.1.0.7"),
            "trusted hops only"
        );
        assert_eq!(xff("198.51.100.9:4711"), some("198.51.100.9"));
        assert_eq!(xff("10.20.0.1, garbage"), None);
        assert_eq!(xff(""), None);
        assert_eq!(
            client("10.0.0.1", &[]),
            some("10.0.0.1"),
            "nothing forwarded"
        );
        let two_lines = [
            ("x-forwarded-for", "10.20.0.1"),
            ("x-forwarded-for", "198.51.100.9"),
        ];
        assert_eq!(client("10.1.0.3", &two_lines), some("198.51.100.9"));
    }

    #[test]
    fn forwarded_elements_and_their_nodes() {
        let fwd = |value| client("10.0.0.1", &[("forwarded", value)]);
        assert_eq!(
            fwd("for=192.0.2.60;proto=http;by=203.0.113.43"),
            some("192.0.2.60")
        );
        assert_eq!(
            fwd("for=10.20.0.1, For=\"[2001:db8:cafe::17]:4711\""),
            some("2001:db8:cafe::17")
        );
        assert_eq!(
            fwd("for=\"192.0.2.60:8080\";host=\"a;b,c\""),
            some("192.0.2.60")
        );
        assert_eq!(fwd("for=unknown"), None);
        assert_eq!(fwd("for=_hidden, for=10.1.0.2"), None);
        assert_eq!(fwd("proto=https"), None, "an element without for=");
    }

    #[test]
    fn both_headers_must_agree() {
        let both = |forwarded, xff| {
            client(
                "10.0.0.1",
                &[("forwarded", forwarded), ("x-forwarded-for", xff)],
            )
        };
        assert_eq!(
            both("for=198.51.100.9", "198.51.100.9"),
            some("198.51.100.9")
        );
        // A proxy that appends to X-Forwarded-For only, and a client that wrote Forwarded.
        assert_eq!(both("for=10.20.0.1", "198.51.100.9"), None);
    }
}
