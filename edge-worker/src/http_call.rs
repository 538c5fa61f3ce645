//! An outgoing HTTP request as plain data (sans IO): the Stripe and mail
//! provider modules build one, and the runtime sends it as is
//! (`runtime/http.rs`), so the request is tested natively.

/// Whether a credential may be sent to `base` (an API's address or a
/// webhook): `https://`, or plain `http://` only to this machine (a local
/// stand-in) by its port. A user part is refused: `http://localhost:1@host`
/// goes to `host`.
pub fn private_on_the_way(base: &str) -> bool {
    let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"];
    let to_this_machine = loopback.iter().any(|p| {
        base.strip_prefix(p).is_some_and(|rest| {
            let port = rest.split('/').next().unwrap_or_default();
            !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
        })
    });
    (base.starts_with("https://") || to_this_machine) && !base.contains('@')
}

/// An HTTP request for the runtime to execute as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub method: &'static str,
    pub url: String,
    /// Name and value; may hold an API key (never log them).
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_go_by_https_or_to_this_machine_only() {
        for good in [
            "https://api.stripe.com",
            "https://hooks.slack.com/services/T/B/x",
            "http://127.0.0.1:8787",
            "http://localhost:9/v1",
            "http://[::1]:80",
        ] {
            assert!(super::private_on_the_way(good), "{good}");
        }
        for bad in [
            "http://api.stripe.com",
            "http://localhost:1@evil.example",
            "http://127.0.0.1:80@evil.example/v1",
            "https://user@evil.example",
            "http://localhost.evil.example:80",
            "http://localhost:",
            "ftp://localhost:21",
        ] {
            assert!(!super::private_on_the_way(bad), "{bad}");
        }
    }
}
