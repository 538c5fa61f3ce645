//! "Lost your download link?": the rate limits and how a client is counted
//! (the runtime's side is `runtime/recovery.rs`; docs/payments.md).

/// Requests per address, and per client, within [`WINDOW_SECS`].
pub const PER_ADDRESS: u64 = 3;
pub const PER_CLIENT: u64 = 10;
pub const WINDOW_SECS: u64 = 3600;
/// Requests per address within a day.
pub const PER_ADDRESS_A_DAY: u64 = 6;

/// The client as the rate limits count it (here and `CHECKOUT_LIMITER`):
/// an IPv4 address, or the /64 of an IPv6 one (a single host can use a
/// whole /64), however the address is written (`::` anywhere, leading
/// zeros, capitals). Anything else, as it is.
pub fn client_network(ip: &str) -> String {
    if !ip.contains(':') {
        return ip.to_string();
    }
    if let Some(v4) = ip.get(..7).filter(|p| p.eq_ignore_ascii_case("::ffff:")).and(ip.get(7..)) {
        if v4.contains('.') {
            return v4.to_string();
        }
    }
    // The groups as written, `::` standing for as many zero groups as the
    // eight lack (an IPv4 tail takes two). By hand: the standard library's
    // address parser costs the module 1.5 KB gzip.
    let (head, tail) = ip.split_once("::").unwrap_or((ip, ""));
    let width =
        |part: &str| part.split(':').filter(|g| !g.is_empty()).map(|g| 1 + usize::from(g.contains('.'))).sum::<usize>();
    let zeros = 8usize.saturating_sub(width(head) + width(tail));
    let groups = head
        .split(':')
        .filter(|g| !g.is_empty())
        .chain(std::iter::repeat_n("0", zeros))
        .chain(tail.split(':').filter(|g| !g.is_empty()))
        .chain(std::iter::repeat("0"));
    let mut network = String::new();
    for group in groups.take(4) {
        let group = group.trim_start_matches('0');
        network.push_str(if group.is_empty() { "0" } else { group });
        network.push(':');
    }
    network.make_ascii_lowercase();
    network + ":/64"
}

#[cfg(test)]
mod tests {
    use super::client_network;

    #[test]
    fn ipv6_clients_count_by_their_64() {
        assert_eq!(client_network("203.0.113.9"), "203.0.113.9");
        assert_eq!(client_network("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(client_network("2001:DB8:1:2::9"), "2001:db8:1:2::/64");
        assert_eq!(client_network("2001:db8::1"), "2001:db8:0:0::/64");
        // `::` inside the /64: the groups after it are counted where they are.
        assert_eq!(client_network("2001::5:1:2:3:4"), "2001:0:0:5::/64");
        assert_eq!(client_network("2001:0db8:0001:0002::9"), "2001:db8:1:2::/64");
        assert_eq!(client_network("::ffff:198.51.100.7"), "198.51.100.7");
    }

    /// Against the standard library's parser (which the module does without)
    /// on addresses written every way: compressed at each place, in full,
    /// with leading zeros, in capitals.
    #[test]
    fn the_64_is_the_standard_parser_s() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let mut s = [0u16; 8];
            for g in s.iter_mut() {
                // Zero groups often, so that `::` lands everywhere.
                *g = if next() % 3 == 0 { 0 } else { next() as u16 };
            }
            let addr = std::net::Ipv6Addr::from(s);
            if addr.to_ipv4_mapped().is_some() {
                continue;
            }
            let want = format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]);
            let full = s.iter().map(|g| format!("{g:04X}")).collect::<Vec<_>>().join(":");
            for written in [addr.to_string(), full] {
                assert_eq!(client_network(&written), want, "{written}");
            }
        }
    }
}
