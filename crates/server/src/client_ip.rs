//! The client's IP address: the connection's peer, or — only behind configured trusted proxies —
//! the nearest untrusted hop in `X-Forwarded-For`.
//!
//! DocSpace takes the address from a query parameter anyone can set; so would
//! `connection_info().realip_remote_addr()`, which believes any `Forwarded` header. Brute-force
//! blocks are keyed by this address, so only hops we trust may speak for the client.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header::X_FORWARDED_FOR;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

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

    /// The client given the connection's `peer` and the raw bytes of the `X-Forwarded-For` header
    /// values in the order received.
    ///
    /// Each trusted proxy appends the address it got the request from, so the chain is walked from
    /// the right: the first entry not itself a trusted proxy is the client, and everything left of
    /// it may be forged. An entry that is not an address (garbage, `unknown`, bytes that are not
    /// ASCII) ends the walk failing closed: the client is [`ClientAddr::Unreadable`], never the
    /// proxy, whose address may be trusted for other things. When every entry is a trusted proxy,
    /// the leftmost is the best guess left.
    pub fn client_addr(&self, peer: IpAddr, x_forwarded_for: &[&[u8]]) -> ClientAddr {
        let peer = peer.to_canonical();
        if !self.0.contains(peer) {
            return ClientAddr::Ip(peer);
        }
        // Split the bytes ourselves: a byte that is not visible ASCII spoils only its own entry,
        // and that entry then ends the walk.
        let entries = x_forwarded_for
            .iter()
            .flat_map(|value| value.split(|b| *b == b','))
            .map(<[u8]>::trim_ascii)
            // HTTP list syntax allows empty elements ("a, , b"); they carry no hop.
            .filter(|entry| !entry.is_empty());
        let mut last_trusted = peer;
        for entry in entries.rev() {
            let Some(ip) = parse_entry(entry) else {
                return ClientAddr::Unreadable;
            };
            if !self.0.contains(ip) {
                return ClientAddr::Ip(ip);
            }
            last_trusted = ip;
        }
        ClientAddr::Ip(last_trusted)
    }

    /// Whether some address is both a trusted proxy and in `ranges`.
    pub fn overlaps(&self, ranges: &IpRanges) -> bool {
        let proxies = self.0.ranges();
        proxies.iter().any(|a| ranges.ranges().iter().any(|b| a.contains(&b.network()) || b.contains(&a.network())))
    }
}

/// The client of a request: an address, or — when a trusted proxy forwarded something that is
/// not one — unreadable. An unreadable client is in no range, is never the proxy, and shares one
/// brute-force and send-cap bucket with every other unreadable client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAddr {
    Ip(IpAddr),
    Unreadable,
}

impl ClientAddr {
    pub fn ip(self) -> Option<IpAddr> {
        match self {
            ClientAddr::Ip(ip) => Some(ip),
            ClientAddr::Unreadable => None,
        }
    }

    /// Whether the client is in `ranges`; an unreadable client never is.
    pub fn is_in(self, ranges: &IpRanges) -> bool {
        self.ip().is_some_and(|ip| ranges.contains(ip))
    }

    /// The key per-address limits count under: an IPv4 address as it is, an IPv6 address by its
    /// network of `ipv6_prefix` bits (a subscriber commonly holds a whole /64, so counting single
    /// IPv6 addresses would hand an attacker 2^64 fresh ones), every unreadable client one key.
    pub fn bucket(self, ipv6_prefix: u8) -> String {
        match self {
            ClientAddr::Ip(IpAddr::V6(v6)) => match Ipv6Net::new(v6, ipv6_prefix.min(128)) {
                Ok(net) => net.trunc().to_string(),
                Err(_) => v6.to_string(),
            },
            ClientAddr::Ip(ip) => ip.to_string(),
            ClientAddr::Unreadable => "unreadable".to_owned(),
        }
    }
}

impl fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientAddr::Ip(ip) => ip.fmt(f),
            ClientAddr::Unreadable => f.write_str("unreadable"),
        }
    }
}

/// The client of `req`: see [`TrustedProxies::client_addr`]. Without a peer address (as in unit
/// tests) the peer counts as 0.0.0.0.
pub fn from_request(req: &HttpRequest, proxies: &TrustedProxies) -> ClientAddr {
    let peer = req.peer_addr().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
    if !proxies.0.contains(peer) {
        return ClientAddr::Ip(peer.to_canonical());
    }
    let values: Vec<&[u8]> = req.headers().get_all(X_FORWARDED_FOR).map(|value| value.as_bytes()).collect();
    proxies.client_addr(peer, &values)
}

/// One `X-Forwarded-For` entry: a bare address, or one with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`) or in brackets (`[2001:db8::1]`), as some proxies write them.
fn parse_entry(entry: &[u8]) -> Option<IpAddr> {
    // Only visible ASCII can spell an address.
    let entry = std::str::from_utf8(entry).ok().filter(|e| e.bytes().all(|b| b.is_ascii_graphic()))?;
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

    fn at(s: &str) -> ClientAddr {
        ClientAddr::Ip(ip(s))
    }

    fn walk(p: &TrustedProxies, peer: &str, values: &[&str]) -> ClientAddr {
        let values: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
        p.client_addr(ip(peer), &values)
    }

    fn proxies(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies::new(ranges.iter().map(|r| r.parse().expect("test range")).collect())
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_even_with_a_header() {
        let none = TrustedProxies::default();
        assert_eq!(walk(&none, "203.0.113.7", &["198.51.100.1"]), at("203.0.113.7"));
        // A peer outside the trusted ranges cannot speak for anyone either.
        let some = proxies(&["10.0.0.0/8"]);
        assert_eq!(walk(&some, "203.0.113.7", &["198.51.100.1"]), at("203.0.113.7"));
    }

    #[test]
    fn a_trusted_proxy_hands_over_to_the_rightmost_untrusted_entry() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(walk(&p, "10.0.0.2", &["198.51.100.1"]), at("198.51.100.1"));
        // No header at all: the proxy itself is all we know.
        assert_eq!(walk(&p, "10.0.0.2", &[]), at("10.0.0.2"));
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_skipped() {
        let p = proxies(&["10.0.0.0/8", "192.168.1.1/32"]);
        assert_eq!(walk(&p, "10.0.0.2", &["198.51.100.1, 192.168.1.1, 10.0.0.9"]), at("198.51.100.1"));
        // Every hop trusted: the leftmost is the best guess.
        assert_eq!(walk(&p, "10.0.0.2", &["192.168.1.1, 10.0.0.9"]), at("192.168.1.1"));
    }

    #[test]
    fn spoofed_leftmost_entries_are_ignored() {
        let p = proxies(&["10.0.0.0/8"]);
        // The client sent "1.1.1.1, 10.0.0.5" itself; the proxy appended the real address.
        assert_eq!(walk(&p, "10.0.0.2", &["1.1.1.1, 10.0.0.5, 198.51.100.1"]), at("198.51.100.1"));
    }

    #[test]
    fn garbage_ends_the_walk_failing_closed_never_at_the_proxy() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(walk(&p, "10.0.0.2", &["198.51.100.1, unknown"]), ClientAddr::Unreadable);
        assert_eq!(walk(&p, "10.0.0.2", &["198.51.100.1, not-an-ip, 10.0.0.7"]), ClientAddr::Unreadable);
        // Left of the client, garbage is forged history and changes nothing.
        assert_eq!(walk(&p, "10.0.0.2", &["junk, 198.51.100.1, 10.0.0.7"]), at("198.51.100.1"));
        // Empty list elements are no hop at all.
        assert_eq!(walk(&p, "10.0.0.2", &["198.51.100.1, , "]), at("198.51.100.1"));
    }

    #[test]
    fn bytes_that_are_not_ascii_spoil_only_their_own_entry_and_fail_closed() {
        let p = proxies(&["127.0.0.1/32"]);
        let peer = ip("127.0.0.1");
        // Every non-ASCII byte, alone, as the rightmost entry, or left of the real client.
        for byte in 0x80..=0xFFu8 {
            assert_eq!(p.client_addr(peer, &[&[byte]]), ClientAddr::Unreadable, "{byte:#x}");
            let rightmost = [b"203.0.113.9, ".as_slice(), &[byte]].concat();
            assert_eq!(p.client_addr(peer, &[&rightmost]), ClientAddr::Unreadable, "{byte:#x}");
            let leftmost = [&[byte], b", 203.0.113.9".as_slice()].concat();
            assert_eq!(p.client_addr(peer, &[&leftmost]), at("203.0.113.9"), "{byte:#x}");
        }
        assert_eq!(p.client_addr(peer, &["é".as_bytes()]), ClientAddr::Unreadable);
        assert_eq!(p.client_addr(peer, &[b"203.0.113.9\x00"]), ClientAddr::Unreadable);
        // An unreadable client is in no range, not even one covering every address.
        let everything = IpRanges::new(vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()]);
        assert!(!ClientAddr::Unreadable.is_in(&everything));
        assert!(at("203.0.113.9").is_in(&everything));
    }

    #[test]
    fn ipv6_clients_are_bucketed_by_network_and_unreadable_ones_share_a_bucket() {
        let a = at("2001:db8:1:2:aaaa::1");
        let b = at("2001:db8:1:2:ffff:ffff:ffff:ffff");
        assert_eq!(a.bucket(64), "2001:db8:1:2::/64");
        assert_eq!(a.bucket(64), b.bucket(64));
        assert_ne!(a.bucket(64), at("2001:db8:1:3::1").bucket(64));
        assert_ne!(a.bucket(128), b.bucket(128));
        assert_eq!(at("198.51.100.1").bucket(64), "198.51.100.1");
        assert_eq!(ClientAddr::Unreadable.bucket(64), "unreadable");
        // A mapped IPv4 client counts as that IPv4 address.
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(walk(&p, "10.0.0.2", &["::ffff:198.51.100.1"]).bucket(64), "198.51.100.1");
    }

    #[test]
    fn overlap_between_proxies_and_ranges_is_found_either_way() {
        let ranges = |r: &[&str]| IpRanges::new(r.iter().map(|r| r.parse().unwrap()).collect());
        assert!(proxies(&["127.0.0.1/32"]).overlaps(&ranges(&["127.0.0.0/8"])));
        assert!(proxies(&["10.0.0.0/8"]).overlaps(&ranges(&["10.1.2.3/32"])));
        assert!(proxies(&["::ffff:10.0.0.0/104"]).overlaps(&ranges(&["10.0.0.1/32"])));
        assert!(!proxies(&["10.0.0.0/8"]).overlaps(&ranges(&["192.0.2.0/24"])));
        assert!(!proxies(&[]).overlaps(&ranges(&["0.0.0.0/0"])));
    }

    #[test]
    fn entries_with_ports_and_brackets_are_understood() {
        let p = proxies(&["10.0.0.0/8", "fd00::/8"]);
        assert_eq!(walk(&p, "10.0.0.2", &["198.51.100.1:5678"]), at("198.51.100.1"));
        assert_eq!(walk(&p, "10.0.0.2", &["[2001:db8::1]:443"]), at("2001:db8::1"));
        assert_eq!(walk(&p, "10.0.0.2", &["[2001:db8::1]"]), at("2001:db8::1"));
        assert_eq!(walk(&p, "10.0.0.2", &["2001:db8::1, [fd00::5]:80"]), at("2001:db8::1"));
    }

    #[test]
    fn ipv4_mapped_ipv6_is_treated_as_ipv4() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(walk(&p, "::ffff:10.0.0.2", &["::ffff:198.51.100.1"]), at("198.51.100.1"));
        assert_eq!(walk(&p, "::ffff:203.0.113.7", &[]), at("203.0.113.7"));
        assert_eq!(walk(&p, "10.0.0.2", &["198.51.100.1, ::ffff:10.1.2.3"]), at("198.51.100.1"));
        // A range written in mapped form matches plain IPv4 too.
        let mapped = proxies(&["::ffff:10.0.0.0/104"]);
        assert_eq!(walk(&mapped, "10.0.0.2", &["198.51.100.1"]), at("198.51.100.1"));

        let ranges = IpRanges::new(vec!["192.0.2.0/24".parse().expect("range")]);
        assert!(ranges.contains(ip("::ffff:192.0.2.9")));
        assert!(ranges.contains(ip("192.0.2.9")));
        assert!(!ranges.contains(ip("192.0.3.1")));
        assert!(!IpRanges::default().contains(ip("192.0.2.9")));
    }

    #[test]
    fn multiple_header_values_form_one_chain_in_order() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(walk(&p, "10.0.0.2", &["1.1.1.1", "198.51.100.1, 10.0.0.3"]), at("198.51.100.1"));
        assert_eq!(walk(&p, "10.0.0.2", &["198.51.100.1", "10.0.0.3"]), at("198.51.100.1"));
    }

    #[test]
    fn from_request_reads_the_peer_and_every_header_value() {
        let p = proxies(&["10.0.0.0/8"]);
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:40000".parse().expect("socket address"))
            .append_header((X_FORWARDED_FOR, "1.1.1.1"))
            .append_header((X_FORWARDED_FOR, "198.51.100.1, 10.0.0.3"))
            .to_http_request();
        assert_eq!(from_request(&req, &p), at("198.51.100.1"));

        let direct = TestRequest::default()
            .peer_addr("203.0.113.7:40000".parse().expect("socket address"))
            .append_header((X_FORWARDED_FOR, "198.51.100.1"))
            .to_http_request();
        assert_eq!(from_request(&direct, &p), at("203.0.113.7"));

        // A query parameter or `Forwarded` header is never believed.
        let forged = TestRequest::with_uri("/?ip=198.51.100.1")
            .insert_header(("Forwarded", "for=198.51.100.1"))
            .to_http_request();
        assert_eq!(from_request(&forged, &p), at("0.0.0.0"));
    }

    #[test]
    fn ranges_deserialize_from_cidr_strings() {
        let p: TrustedProxies = serde_json::from_str(r#"["10.0.0.0/8", "::ffff:192.0.2.0/120"]"#).expect("ranges");
        assert_eq!(walk(&p, "192.0.2.1", &["198.51.100.1"]), at("198.51.100.1"));
        assert!(serde_json::from_str::<TrustedProxies>(r#"["10.0.0.1"]"#).is_err());
    }
}

/// Property tests: `X-Forwarded-For` is whatever bytes a client or a proxy sends. Any bytes never
/// panic; the client is only ever the peer, an address spelled in the header, or unreadable; an
/// unreadable hop where the client should stand always fails closed; and forged history to its left
/// changes nothing.
#[cfg(test)]
mod properties {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()])
    }

    /// Header bytes: addresses (trusted or not, some with ports or brackets), words, and raw bytes.
    fn entry() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            any::<std::net::Ipv4Addr>().prop_map(|ip| ip.to_string().into_bytes()),
            any::<std::net::Ipv6Addr>().prop_map(|ip| format!("[{ip}]:443").into_bytes()),
            (0u8..=255).prop_map(|n| format!("10.0.0.{n}").into_bytes()),
            "[ -~]{0,12}".prop_map(String::into_bytes),
            vec(any::<u8>(), 0..12),
        ]
    }

    fn header() -> impl Strategy<Value = Vec<Vec<u8>>> {
        vec(vec(entry(), 0..5).prop_map(|entries| entries.join(&b", "[..])), 0..3)
    }

    /// An entry that cannot be an address: garbage with at least one byte that is not visible
    /// ASCII, or a word.
    fn unreadable() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            (vec(any::<u8>(), 0..6), 0x80u8..=0xFF, vec(any::<u8>(), 0..6))
                .prop_map(|(a, b, c)| [a, vec![b], c].concat())
                .prop_filter("no separator", |e| !e.contains(&b',') && !e.trim_ascii().is_empty()),
            Just(b"unknown".to_vec()),
            Just(b"_hidden".to_vec()),
        ]
    }

    fn walk(peer: IpAddr, values: &[Vec<u8>]) -> ClientAddr {
        let values: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        proxies().client_addr(peer, &values)
    }

    proptest! {
        #![proptest_config(crate::api::dto::properties::config())]

        /// The client is the peer, an address the header spells, or unreadable; never invented,
        /// and an untrusted peer is always the client itself.
        #[test]
        fn the_client_comes_from_the_peer_or_the_header(peer in any::<IpAddr>(), values in header()) {
            let client = walk(peer, &values);
            if !proxies().0.contains(peer) {
                prop_assert_eq!(client, ClientAddr::Ip(peer.to_canonical()));
            } else if let ClientAddr::Ip(ip) = client {
                let spelled = values.iter().flat_map(|v| v.split(|b| *b == b','))
                    .filter_map(|e| parse_entry(e.trim_ascii()))
                    .any(|e| e == ip);
                prop_assert!(ip == peer.to_canonical() || spelled, "{ip} from {values:?}");
            }
            // Buckets never panic, whatever the prefix.
            for prefix in [0, 32, 64, 128, 255] {
                let _ = client.bucket(prefix);
            }
        }

        /// An unreadable hop where the client should stand fails closed, whatever came before.
        #[test]
        fn an_unreadable_rightmost_hop_is_unreadable(peer in 0u8..=255, values in header(), bad in unreadable()) {
            let mut values = values;
            values.push(bad);
            let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, peer));
            prop_assert_eq!(walk(peer, &values), ClientAddr::Unreadable);
        }

        /// A readable untrusted rightmost hop is the client, whatever forged history is left of it.
        #[test]
        fn forged_history_left_of_the_client_changes_nothing(
            forged in header(),
            client in any::<std::net::Ipv4Addr>().prop_filter("untrusted", |ip| ip.octets()[0] != 10),
        ) {
            let mut values = forged;
            values.push(client.to_string().into_bytes());
            let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
            prop_assert_eq!(walk(peer, &values), ClientAddr::Ip(IpAddr::V4(client)));
        }
    }
}
