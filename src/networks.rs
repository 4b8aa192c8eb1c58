//! Lists of source networks: `allow_from = ["10.20.0.0/16", "192.168.1.7", "::1/128"]`
//! for the anonymous entry points, and `[http] trusted_proxies`.
//!
//! An entry is a network in CIDR notation or a single address (a /32 or /128). Host bits
//! below the prefix are ignored (`10.20.0.5/16` is `10.20.0.0/16`). Addresses are compared
//! in canonical form, so an IPv4 client that reaches a dual-stack listener as
//! `::ffff:10.20.0.5` matches `10.20.0.0/16`. An entry that is neither is a configuration
//! error naming the key. What an empty list means is the caller's business:
//! [`NetworkList::admits`] reads it as "anywhere" (the allow-lists), and
//! [`NetworkList::contains`] as "nothing" (trusted proxies).

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkList(Vec<IpNet>);

impl NetworkList {
    /// Parses `entries`; `key` (`[orchestrator] allow_from`, …) names the setting in errors.
    pub fn parse(key: &str, entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                parse_entry(entry.trim()).ok_or_else(|| {
                    format!(
                        "{key}: `{entry}` is not an address or network such as 10.20.0.0/16, 192.168.1.7 or ::1/128"
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` lies in one of the networks (never, for an empty list).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|network| network.contains(&ip))
    }

    /// An allow-list's answer: an empty list admits everyone, even an unknown client;
    /// otherwise the client must be known and listed.
    pub fn admits(&self, client: Option<IpAddr>) -> bool {
        self.is_empty() || client.is_some_and(|ip| self.contains(ip))
    }
}

/// The message of every allow-list refusal: `{what} are not accepted from {client}`.
pub fn refusal(what: &str, client: Option<&str>) -> String {
    format!(
        "{what} are not accepted from {}",
        client.unwrap_or("an unknown address")
    )
}

fn parse_entry(entry: &str) -> Option<IpNet> {
    if let Ok(network) = entry.parse::<IpNet>() {
        return Some(canonical(network).trunc());
    }
    entry
        .parse::<IpAddr>()
        .ok()
        .map(|ip| IpNet::from(ip.to_canonical()))
}

/// `::ffff:10.0.0.0/104` is `10.0.0.0/8`: written either way, it matches IPv4 clients.
fn canonical(network: IpNet) -> IpNet {
    match network {
        IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
            Some(v4) if v6.prefix_len() >= 96 => {
                ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(network, IpNet::V4)
            }
            _ => network,
        },
        IpNet::V4(_) => network,
    }
}

#[cfg(test)]
mod tests {
    use super::{IpAddr, NetworkList};

    fn list(entries: &[&str]) -> NetworkList {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        NetworkList::parse("[test] allow_from", &entries).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_and_single_addresses() {
        let allowed = list(&["10.20.0.0/16", "192.168.1.7", "::1/128", "2001:db8::/32"]);
        assert!(allowed.contains(ip("10.20.255.1")));
        assert!(!allowed.contains(ip("10.21.0.1")));
        assert!(allowed.contains(ip("192.168.1.7")));
        assert!(!allowed.contains(ip("192.168.1.8")));
        assert!(allowed.contains(ip("::1")));
        assert!(allowed.contains(ip("2001:db8:1::5")));
        assert!(!allowed.contains(ip("127.0.0.1")));
        // An IPv4 client on a dual-stack listener.
        assert!(allowed.contains(ip("::ffff:10.20.0.9")));
        assert!(list(&["::ffff:10.0.0.0/104"]).contains(ip("10.1.2.3")));
        assert!(
            list(&["10.20.0.5/16"]).contains(ip("10.20.9.9")),
            "host bits ignored"
        );
    }

    #[test]
    fn empty_admits_everyone_but_contains_nothing() {
        let empty = NetworkList::default();
        assert!(empty.admits(Some(ip("203.0.113.9"))));
        assert!(empty.admits(None));
        assert!(!empty.contains(ip("127.0.0.1")));
        let some = list(&["127.0.0.1"]);
        assert!(some.admits(Some(ip("127.0.0.1"))));
        assert!(!some.admits(None), "an unknown client is not listed");
    }

    #[test]
    fn bad_entries_name_the_key() {
        for bad in ["10.20.0.0/33", "localhost", "10.20.0", "", "1.2.3.4/"] {
            let error =
                NetworkList::parse("[sharepoint] allow_from", &[bad.to_string()]).unwrap_err();
            assert!(error.starts_with("[sharepoint] allow_from: `"), "{error}");
        }
    }
}
