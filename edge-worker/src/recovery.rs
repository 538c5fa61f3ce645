//! "Lost your download link?": the rate limits and how a client is counted
//! (the runtime's side is `runtime/recovery.rs`; docs/payments.md).

/// Requests per address, and per client, within [`WINDOW_SECS`].
pub const PER_ADDRESS: u64 = 3;
pub const PER_CLIENT: u64 = 10;
pub const WINDOW_SECS: u64 = 3600;
/// Requests per address within a day.
pub const PER_ADDRESS_A_DAY: u64 = 6;

/// The client as the rate limit counts it: an IPv4 address, or the /64 of
/// an IPv6 one (a single host can use a whole /64).
pub fn client_network(ip: &str) -> String {
    if !ip.contains(':') {
        return ip.to_string();
    }
    let groups: Vec<&str> = match ip.split_once("::") {
        // `a:b::c`: the groups before `::` (and zeros after them).
        Some((head, _)) => head.split(':').filter(|g| !g.is_empty()).collect(),
        None => ip.split(':').collect(),
    };
    let mut prefix: Vec<String> = groups.iter().take(4).map(|g| g.to_ascii_lowercase()).collect();
    prefix.resize(4, "0".into());
    format!("{}::/64", prefix.join(":"))
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
    }
}
