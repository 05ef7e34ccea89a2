//! The client's address, behind the proxies the deployment trusts (`INDRA_TRUSTED_PROXIES`).
//!
//! The sign-in throttle counts failures per client address. Behind a load balancer the TCP peer
//! is the balancer, the same for every client, so the address must come from the
//! `X-Forwarded-For` header the balancer adds. Anyone can send that header, so it is believed
//! only from a peer the deployment names as its proxy, and only as far as its proxies wrote it:
//! each proxy appends the address it saw, so walking from the right, the first address that is
//! not a trusted proxy is the one the last trusted proxy saw connect. Everything to its left
//! was written by the client and may be forged.
//!
//! Pure: no I/O, no HTTP types; `platform::sign_in::ClientAddress` feeds it the peer and the
//! header values.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The proxies whose `X-Forwarded-For` is believed. Empty (the default): nobody's, and the
/// client's address is always the TCP peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<AddressRange>);

/// An entry of `INDRA_TRUSTED_PROXIES` that is not an address or a CIDR range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry:?} {reason}")]
pub struct BadTrustedProxy {
    pub entry: String,
    pub reason: String,
}

impl TrustedProxies {
    /// Reads the setting: IP addresses and CIDR ranges separated by commas (`10.0.0.5,
    /// 10.1.0.0/16, fd00::/8`); blanks around entries and empty entries are ignored.
    pub fn parse(setting: &str) -> Result<Self, BadTrustedProxy> {
        setting
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(AddressRange::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `address` is one of the trusted proxies.
    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|range| range.contains(address))
    }

    /// The client's address for a request from `peer` carrying the `X-Forwarded-For` header
    /// values `forwarded_for` (in the order received; a proxy may add its own header line
    /// rather than extend the last).
    ///
    /// - A peer that is not trusted is the client: the header is not read at all.
    /// - From a trusted peer, the right-most address in the header that is not itself trusted;
    ///   when every address is trusted, the left-most (the request began among the proxies).
    /// - An entry that is not an address, met before the client's is found, makes the header
    ///   unusable: the peer's address is used. Entries left of the client's are never read, so
    ///   a client cannot choose its bucket by sending garbage.
    ///
    /// IPv4 addresses written as IPv6 (`::ffff:192.0.2.1`, as a dual-stack listener sees them)
    /// come back as IPv4, so one client has one address whichever way it arrives.
    pub fn client_address(&self, peer: IpAddr, forwarded_for: &[&[u8]]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let mut left_most = None;
        for value in forwarded_for.iter().rev() {
            let Ok(value) = std::str::from_utf8(value) else {
                return peer;
            };
            for entry in value.rsplit(',') {
                let Some(address) = forwarded_address(entry.trim()) else {
                    return peer;
                };
                if !self.trusts(address) {
                    return address;
                }
                left_most = Some(address);
            }
        }
        left_most.unwrap_or(peer)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, range) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{range}")?;
        }
        Ok(())
    }
}

/// One address of `X-Forwarded-For`: a bare IPv4 or IPv6 address, or one with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`) or in brackets (`[2001:db8::1]`), as some proxies
/// write them.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let address = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
            inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        })?;
    Some(address.to_canonical())
}

/// A network: its first address and prefix length. A single address is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRange {
    network: IpAddr,
    prefix: u8,
}

impl AddressRange {
    fn parse(entry: &str) -> Result<Self, BadTrustedProxy> {
        let bad = |reason: String| BadTrustedProxy {
            entry: entry.to_owned(),
            reason,
        };
        let (address, prefix) = match entry.split_once('/') {
            Some((address, prefix)) => (address.trim(), Some(prefix.trim())),
            None => (entry, None),
        };
        let address: IpAddr = address.parse().map_err(|_| {
            bad(
                "is not an IP address or CIDR range (write addresses such as 10.0.0.5 or \
                 fd00::5, ranges such as 10.0.0.0/24; host names are not looked up)"
                    .to_owned(),
            )
        })?;
        let longest = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => longest,
            Some(text) => text
                .parse::<u8>()
                .ok()
                .filter(|p| text.bytes().all(|b| b.is_ascii_digit()) && *p <= longest)
                .ok_or_else(|| {
                    bad(format!(
                        "has a prefix length that is not a number from 0 to {longest}"
                    ))
                })?,
        };
        let network = first_address(address, prefix);
        if network != address {
            // Most likely a typo for one address or for the network: say which was read.
            return Err(bad(format!(
                "has bits set past its /{prefix} prefix: write {network}/{prefix} for the \
                 network, or the address alone"
            )));
        }
        // Peers and forwarded addresses are compared as IPv4 when they are IPv4 in IPv6
        // clothing; so are ranges written that way.
        if let IpAddr::V6(v6) = network
            && prefix >= 96
            && let Some(v4) = v6.to_ipv4_mapped()
        {
            return Ok(Self {
                network: IpAddr::V4(v4),
                prefix: prefix - 96,
            });
        }
        Ok(Self { network, prefix })
    }

    fn contains(&self, address: IpAddr) -> bool {
        address.is_ipv4() == self.network.is_ipv4()
            && first_address(address, self.prefix) == self.network
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The first address of the `/prefix` network `address` is in.
fn first_address(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from_bits(v4.to_bits() & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & mask))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(setting: &str) -> TrustedProxies {
        TrustedProxies::parse(setting).unwrap()
    }

    /// The client's address for `peer` with these `X-Forwarded-For` header lines.
    fn client(trusted: &TrustedProxies, peer: &str, headers: &[&str]) -> IpAddr {
        let values: Vec<&[u8]> = headers.iter().map(|h| h.as_bytes()).collect();
        trusted.client_address(ip(peer), &values)
    }

    #[test]
    fn the_setting_reads_addresses_and_ranges_with_blanks() {
        let trusted = proxies(" 10.0.0.5 ,10.1.0.0/16,, fd00::/8 , 2001:db8::7,");
        assert_eq!(
            trusted.to_string(),
            "10.0.0.5/32,10.1.0.0/16,fd00::/8,2001:db8::7/128"
        );
        assert!(trusted.trusts(ip("10.0.0.5")));
        assert!(!trusted.trusts(ip("10.0.0.6")));
        assert!(trusted.trusts(ip("10.1.255.3")));
        assert!(!trusted.trusts(ip("10.2.0.1")));
        assert!(trusted.trusts(ip("fd12:3456::1")));
        assert!(trusted.trusts(ip("2001:db8::7")));
        assert!(!trusted.trusts(ip("2001:db8::8")));
        // An IPv4 peer seen by a dual-stack listener.
        assert!(trusted.trusts(ip("::ffff:10.0.0.5")));
        assert!(proxies("").is_empty());
        assert!(proxies(" , ").is_empty());
        // Written as IPv6, read as IPv4.
        assert_eq!(proxies("::ffff:10.0.0.0/120").to_string(), "10.0.0.0/24");
        assert!(proxies("0.0.0.0/0").trusts(ip("203.0.113.1")));
        assert!(!proxies("0.0.0.0/0").trusts(ip("2001:db8::1")));
    }

    #[test]
    fn bad_entries_are_refused_saying_what_to_write() {
        for (setting, says) in [
            ("10.0.0.300", "is not an IP address"),
            ("haproxy.internal", "host names are not looked up"),
            ("10.0.0.0/33", "from 0 to 32"),
            ("fd00::/129", "from 0 to 128"),
            ("10.0.0.0/", "from 0 to 32"),
            ("10.0.0.0/+8", "from 0 to 32"),
            ("10.0.0.0/eight", "from 0 to 32"),
            ("10.0.0.5/24", "write 10.0.0.0/24"),
            ("fd00::1/8", "write fd00::/8"),
            ("[fd00::1]", "is not an IP address"),
            ("10.0.0.5:8080", "is not an IP address"),
            ("10.0.0.5 10.0.0.6", "is not an IP address"),
        ] {
            let error = TrustedProxies::parse(&format!("10.0.0.1, {setting}")).unwrap_err();
            assert_eq!(error.entry, setting);
            let message = error.to_string();
            assert!(message.contains(says), "{setting}: {message}");
        }
    }

    #[test]
    fn trusting_nobody_keeps_the_peer_whatever_the_header_says() {
        let nobody = TrustedProxies::default();
        assert_eq!(
            client(&nobody, "10.0.0.5", &["198.51.100.7"]),
            ip("10.0.0.5")
        );
        assert_eq!(client(&nobody, "10.0.0.5", &[]), ip("10.0.0.5"));
    }

    #[test]
    fn a_trusted_proxy_forwards_its_client() {
        let trusted = proxies("10.0.0.5");
        assert_eq!(
            client(&trusted, "10.0.0.5", &["198.51.100.7"]),
            ip("198.51.100.7")
        );
        // No header: a request from the proxy itself (a health check).
        assert_eq!(client(&trusted, "10.0.0.5", &[]), ip("10.0.0.5"));
        // Blanks around entries, a port some proxies add.
        assert_eq!(
            client(&trusted, "10.0.0.5", &["  198.51.100.7 "]),
            ip("198.51.100.7")
        );
        assert_eq!(
            client(&trusted, "10.0.0.5", &["198.51.100.7:51234"]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn a_client_cannot_choose_its_address_by_forging_the_header() {
        let trusted = proxies("10.0.0.5");
        // Not through the proxy: whatever it claims, it is its own address.
        for forged in [
            "198.51.100.8",
            "10.0.0.5",
            "198.51.100.8, 10.0.0.5",
            "garbage",
        ] {
            assert_eq!(
                client(&trusted, "203.0.113.9", &[forged]),
                ip("203.0.113.9"),
                "{forged}"
            );
        }
        // Through the proxy, with its own header: the proxy appends what it saw, on the same
        // line or on a line of its own (HAProxy's `option forwardfor`), and that is what counts.
        assert_eq!(
            client(&trusted, "10.0.0.5", &["198.51.100.8, 203.0.113.9"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            client(&trusted, "10.0.0.5", &["198.51.100.8", "203.0.113.9"]),
            ip("203.0.113.9")
        );
        // Claiming to be a trusted proxy only moves the walk past the claim... to the proxy's
        // own entry, which is the client.
        assert_eq!(
            client(&trusted, "10.0.0.5", &["10.0.0.5", "203.0.113.9"]),
            ip("203.0.113.9")
        );
        // Garbage left of the client's address is never read.
        assert_eq!(
            client(&trusted, "10.0.0.5", &["not an address, , 203.0.113.9"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            client(&trusted, "10.0.0.5", &["\u{e9}t\u{e9}", "203.0.113.9"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn chains_of_trusted_proxies_are_walked_from_the_right() {
        let trusted = proxies("10.0.0.0/24, 192.168.7.1");
        // client -> 192.168.7.1 (edge proxy) -> 10.0.0.5 (balancer) -> server
        assert_eq!(
            client(&trusted, "10.0.0.5", &["203.0.113.9, 192.168.7.1"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            client(
                &trusted,
                "10.0.0.5",
                &["198.51.100.1", "203.0.113.9", "192.168.7.1"]
            ),
            ip("203.0.113.9")
        );
        // Every address trusted: the request began among the proxies; the left-most is it.
        assert_eq!(
            client(&trusted, "10.0.0.5", &["10.0.0.9, 192.168.7.1"]),
            ip("10.0.0.9")
        );
        assert_eq!(
            client(&trusted, "10.0.0.5", &["10.0.0.9", "10.0.0.7"]),
            ip("10.0.0.9")
        );
    }

    #[test]
    fn ipv6_clients_and_proxies() {
        let trusted = proxies("fd00:1::/64, 10.0.0.5");
        assert_eq!(
            client(&trusted, "fd00:1::2", &["2001:db8::7"]),
            ip("2001:db8::7")
        );
        assert_eq!(
            client(&trusted, "fd00:1::2", &["[2001:db8::7]:443"]),
            ip("2001:db8::7")
        );
        assert_eq!(
            client(&trusted, "fd00:1::2", &["[2001:db8::7]"]),
            ip("2001:db8::7")
        );
        assert_eq!(
            client(&trusted, "fd00:1::2", &["2001:db8::7, fd00:1::9"]),
            ip("2001:db8::7")
        );
        // Not in the trusted /64.
        assert_eq!(
            client(&trusted, "fd00:2::2", &["2001:db8::7"]),
            ip("fd00:2::2")
        );
        // IPv4 in IPv6 clothing, as a dual-stack listener sees it: peer and client come back
        // as IPv4.
        assert_eq!(
            client(&trusted, "::ffff:10.0.0.5", &["::ffff:198.51.100.7"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            client(&TrustedProxies::default(), "::ffff:203.0.113.9", &[]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_malformed_header_falls_back_to_the_peer() {
        let trusted = proxies("10.0.0.5");
        for header in [
            "",
            "   ",
            "unknown",
            "198.51.100.7,",
            "198.51.100.7;for=x",
            "for=198.51.100.7",
            "198.51.100.300",
            "198.51.100.7 203.0.113.9",
            "fe80::1%eth0",
            "2001:db8::7:443:1:2:3:4:5",
        ] {
            assert_eq!(
                client(&trusted, "10.0.0.5", &[header]),
                ip("10.0.0.5"),
                "{header:?}"
            );
        }
        // The last line is what the proxy wrote; garbage there is the proxy's fault too.
        assert_eq!(
            client(&trusted, "10.0.0.5", &["198.51.100.7", "oops"]),
            ip("10.0.0.5")
        );
        // Not UTF-8: unusable where the proxy wrote it, never read left of the client's.
        let values: [&[u8]; 1] = [b"198.51.100.7, \xff\xfe"];
        assert_eq!(
            trusted.client_address(ip("10.0.0.5"), &values),
            ip("10.0.0.5")
        );
        let values: [&[u8]; 2] = [b"\xff\xfe", b"198.51.100.7"];
        assert_eq!(
            trusted.client_address(ip("10.0.0.5"), &values),
            ip("198.51.100.7")
        );
    }
}
