//! The client's IP address: the connection's peer, or — only behind configured trusted proxies —
//! the nearest untrusted hop in `X-Forwarded-For`.
//!
//! DocSpace takes the address from a query parameter anyone can set; so would
//! `connection_info().realip_remote_addr()`, which believes any `Forwarded` header. Brute-force
//! blocks are keyed by this address, so only hops we trust may speak for the client.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header::X_FORWARDED_FOR;
use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

/// Stands in for a header value that is not visible ASCII: it parses as no address, so the walk
/// stops there, as at any other garbage.
const UNREADABLE: &str = "unreadable";

/// A set of address ranges, e.g. the trusted IP ranges exempt from two-factor authentication.
///
/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) and ranges are treated as the IPv4 they carry,
/// so that a dual-stack listener's view of an IPv4 client matches an IPv4 range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<IpNet>", into = "Vec<IpNet>")]
pub struct IpRanges(Vec<IpNet>);

impl IpRanges {
    pub fn new(ranges: Vec<IpNet>) -> Self {
        Self(ranges.into_iter().map(canonical_net).collect())
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ranges(&self) -> &[IpNet] {
        &self.0
    }
}

impl From<Vec<IpNet>> for IpRanges {
    fn from(ranges: Vec<IpNet>) -> Self {
        Self::new(ranges)
    }
}

impl From<IpRanges> for Vec<IpNet> {
    fn from(ranges: IpRanges) -> Self {
        ranges.0
    }
}

/// The reverse proxies whose `X-Forwarded-For` entries are believed. Empty (the default) means
/// the server faces clients directly and the header is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrustedProxies(IpRanges);

impl TrustedProxies {
    pub fn new(ranges: Vec<IpNet>) -> Self {
        Self(IpRanges::new(ranges))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The client's address given the connection's `peer` and the `X-Forwarded-For` header values
    /// in the order received.
    ///
    /// Each trusted proxy appends the address it got the request from, so the chain is walked from
    /// the right: the first entry not itself a trusted proxy is the client, and everything left of
    /// it may be forged. An unparsable entry stops the walk at the last trusted hop, since nothing
    /// beyond it can be believed. When every entry is a trusted proxy, the leftmost is the best
    /// guess left.
    pub fn client_ip(&self, peer: IpAddr, x_forwarded_for: &[&str]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.0.contains(peer) {
            return peer;
        }
        let entries = x_forwarded_for
            .iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            // HTTP list syntax allows empty elements ("a, , b"); they carry no hop.
            .filter(|entry| !entry.is_empty());
        let mut last_trusted = peer;
        for entry in entries.rev() {
            let Some(ip) = parse_entry(entry) else {
                return last_trusted;
            };
            if !self.0.contains(ip) {
                return ip;
            }
            last_trusted = ip;
        }
        last_trusted
    }
}

/// The client's address for `req`: see [`TrustedProxies::client_ip`]. Without a peer address (as
/// in unit tests) the peer counts as 0.0.0.0.
pub fn from_request(req: &HttpRequest, proxies: &TrustedProxies) -> IpAddr {
    let peer = req.peer_addr().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
    if !proxies.0.contains(peer) {
        return peer.to_canonical();
    }
    let values: Vec<&str> =
        req.headers().get_all(X_FORWARDED_FOR).map(|value| value.to_str().unwrap_or(UNREADABLE)).collect();
    proxies.client_ip(peer, &values)
}

/// One `X-Forwarded-For` entry: a bare address, or one with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`) or in brackets (`[2001:db8::1]`), as some proxies write them.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let ip = if let Ok(ip) = entry.parse::<IpAddr>() {
        ip
    } else if let Ok(addr) = entry.parse::<SocketAddr>() {
        addr.ip()
    } else {
        let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
        IpAddr::V6(inner.parse::<Ipv6Addr>().ok()?)
    };
    Some(ip.to_canonical())
}

/// `::ffff:a.b.c.d/n` (n ≥ 96) as the IPv4 range it covers, so it matches canonicalised addresses.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        _ => net,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn proxies(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies::new(ranges.iter().map(|r| r.parse().expect("test range")).collect())
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_even_with_a_header() {
        let none = TrustedProxies::default();
        assert_eq!(none.client_ip(ip("203.0.113.7"), &["198.51.100.1"]), ip("203.0.113.7"));
        // A peer outside the trusted ranges cannot speak for anyone either.
        let some = proxies(&["10.0.0.0/8"]);
        assert_eq!(some.client_ip(ip("203.0.113.7"), &["198.51.100.1"]), ip("203.0.113.7"));
    }

    #[test]
    fn a_trusted_proxy_hands_over_to_the_rightmost_untrusted_entry() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), &["198.51.100.1"]), ip("198.51.100.1"));
        // No header at all: the proxy itself is all we know.
        assert_eq!(p.client_ip(ip("10.0.0.2"), &[]), ip("10.0.0.2"));
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_skipped() {
        let p = proxies(&["10.0.0.0/8", "192.168.1.1/32"]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), &["198.51.100.1, 192.168.1.1, 10.0.0.9"]), ip("198.51.100.1"));
        // Every hop trusted: the leftmost is the best guess.
        assert_eq!(p.client_ip(ip("10.0.0.2"), &["192.168.1.1, 10.0.0.9"]), ip("192.168.1.1"));
    }

    #[test]
    fn spoofed_leftmost_entries_are_ignored() {
        let p = proxies(&["10.0.0.0/8"]);
        // The client sent "1.1.1.1, 10.0.0.5" itself; the proxy appended the real address.
        assert_eq!(p.client_ip(ip("10.0.0.2"), &["1.1.1.1, 10.0.0.5, 198.51.100.1"]), ip("198.51.100.1"));
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_trusted_hop() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), &["198.51.100.1, unknown"]), ip("10.0.0.2"));
        assert_eq!(p.client_ip(ip("10.0.0.2"), &["198.51.100.1, not-an-ip, 10.0.0.7"]), ip("10.0.0.7"));
        // Empty list elements are no hop at all.
        assert_eq!(p.client_ip(ip("10.0.0.2"), &["198.51.100.1, , "]), ip("198.51.100.1"));
    }

    #[test]
    fn entries_with_ports_and_brackets_are_understood() {
        let p = proxies(&["10.0.0.0/8", "fd00::/8"]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), &["198.51.100.1:5678"]), ip("198.51.100.1"));
        assert_eq!(p.client_ip(ip("10.0.0.2"), &["[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(p.client_ip(ip("10.0.0.2"), &["[2001:db8::1]"]), ip("2001:db8::1"));
        assert_eq!(p.client_ip(ip("10.0.0.2"), &["2001:db8::1, [fd00::5]:80"]), ip("2001:db8::1"));
    }

    #[test]
    fn ipv4_mapped_ipv6_is_treated_as_ipv4() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(p.client_ip(ip("::ffff:10.0.0.2"), &["::ffff:198.51.100.1"]), ip("198.51.100.1"));
        assert_eq!(p.client_ip(ip("::ffff:203.0.113.7"), &[]), ip("203.0.113.7"));
        assert_eq!(p.client_ip(ip("10.0.0.2"), &["198.51.100.1, ::ffff:10.1.2.3"]), ip("198.51.100.1"));
        // A range written in mapped form matches plain IPv4 too.
        let mapped = proxies(&["::ffff:10.0.0.0/104"]);
        assert_eq!(mapped.client_ip(ip("10.0.0.2"), &["198.51.100.1"]), ip("198.51.100.1"));

        let ranges = IpRanges::new(vec!["192.0.2.0/24".parse().expect("range")]);
        assert!(ranges.contains(ip("::ffff:192.0.2.9")));
        assert!(ranges.contains(ip("192.0.2.9")));
        assert!(!ranges.contains(ip("192.0.3.1")));
        assert!(!IpRanges::default().contains(ip("192.0.2.9")));
    }

    #[test]
    fn multiple_header_values_form_one_chain_in_order() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), &["1.1.1.1", "198.51.100.1, 10.0.0.3"]), ip("198.51.100.1"));
        assert_eq!(p.client_ip(ip("10.0.0.2"), &["198.51.100.1", "10.0.0.3"]), ip("198.51.100.1"));
    }

    #[test]
    fn from_request_reads_the_peer_and_every_header_value() {
        let p = proxies(&["10.0.0.0/8"]);
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:40000".parse().expect("socket address"))
            .append_header((X_FORWARDED_FOR, "1.1.1.1"))
            .append_header((X_FORWARDED_FOR, "198.51.100.1, 10.0.0.3"))
            .to_http_request();
        assert_eq!(from_request(&req, &p), ip("198.51.100.1"));

        let direct = TestRequest::default()
            .peer_addr("203.0.113.7:40000".parse().expect("socket address"))
            .append_header((X_FORWARDED_FOR, "198.51.100.1"))
            .to_http_request();
        assert_eq!(from_request(&direct, &p), ip("203.0.113.7"));

        // A query parameter or `Forwarded` header is never believed.
        let forged = TestRequest::with_uri("/?ip=198.51.100.1")
            .insert_header(("Forwarded", "for=198.51.100.1"))
            .to_http_request();
        assert_eq!(from_request(&forged, &p), ip("0.0.0.0"));
    }

    #[test]
    fn ranges_deserialize_from_cidr_strings() {
        let p: TrustedProxies = serde_json::from_str(r#"["10.0.0.0/8", "::ffff:192.0.2.0/120"]"#).expect("ranges");
        assert_eq!(p.client_ip(ip("192.0.2.1"), &["198.51.100.1"]), ip("198.51.100.1"));
        assert!(serde_json::from_str::<TrustedProxies>(r#"["10.0.0.1"]"#).is_err());
    }
}
