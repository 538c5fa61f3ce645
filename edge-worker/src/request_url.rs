//! The parts of a request's absolute URL the Worker needs (path, query, origin),
//! split by hand: the `url` crate's IDNA and normalisation tables would add
//! tens of KB to the module for URLs the runtime has already normalised.

use percent_encoding::percent_decode_str;

/// The path and query of an absolute request URL, as sent (percent-encoded).
pub fn path_and_query(url: &str) -> (&str, &str) {
    let url = url.split('#').next().unwrap_or_default();
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    let target = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    target.split_once('?').unwrap_or((target, ""))
}

/// `scheme://host[:port]` of an absolute URL, lower-cased as browsers
/// serialise an origin; the default port of the scheme is left out.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    if host_port.is_empty() || scheme.is_empty() {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => "",
    };
    let host_port = host_port.strip_suffix(default_port).filter(|_| !default_port.is_empty()).unwrap_or(host_port);
    Some(format!("{scheme}://{}", host_port.to_ascii_lowercase()))
}

/// The origin for links the Worker writes (mails, a checkout's return
/// address): [`origin`], but `https` unless the host is this machine. A
/// request that came over `http` (a zone without "Always Use HTTPS") would
/// otherwise have a customer's fresh link mailed as `http://`, its token
/// in clear text on the wire.
pub fn link_origin(url: &str) -> Option<String> {
    let origin = origin(url)?;
    let Some(host_port) = origin.strip_prefix("http://") else { return Some(origin) };
    let host = host_port
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host_port, |(h, _)| h);
    if matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        Some(origin)
    } else {
        Some(format!("https://{host_port}"))
    }
}

/// The first value of `name` in a query string, `+` and percent-escapes decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode_str(&v.replace('+', " ")).decode_utf8_lossy().into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts() {
        assert_eq!(path_and_query("http://127.0.0.1:8787/admin/orders?limit=5#x"), ("/admin/orders", "limit=5"));
        assert_eq!(path_and_query("https://shop.example/admin/orders/A%2FB/reset"), ("/admin/orders/A%2FB/reset", ""));
        assert_eq!(path_and_query("https://shop.example"), ("/", ""));
    }

    #[test]
    fn origins() {
        assert_eq!(origin("https://Shop.Example/thanks?x=1").as_deref(), Some("https://shop.example"));
        assert_eq!(origin("http://127.0.0.1:8787/checkout").as_deref(), Some("http://127.0.0.1:8787"));
        assert_eq!(origin("https://shop.example:443/").as_deref(), Some("https://shop.example"));
        assert_eq!(origin("https://shop.example:8443").as_deref(), Some("https://shop.example:8443"));
        assert_eq!(origin("http://[::1]:8787/x").as_deref(), Some("http://[::1]:8787"));
        assert_eq!(origin("/relative"), None);
    }

    #[test]
    fn links_go_over_https_except_on_this_machine() {
        assert_eq!(link_origin("http://shop.example/orders/recover").as_deref(), Some("https://shop.example"));
        assert_eq!(link_origin("http://shop.example:8080/x").as_deref(), Some("https://shop.example:8080"));
        assert_eq!(link_origin("https://shop.example/x").as_deref(), Some("https://shop.example"));
        assert_eq!(link_origin("http://127.0.0.1:8787/x").as_deref(), Some("http://127.0.0.1:8787"));
        assert_eq!(link_origin("http://localhost:8787/x").as_deref(), Some("http://localhost:8787"));
        assert_eq!(link_origin("http://[::1]:8787/x").as_deref(), Some("http://[::1]:8787"));
        assert_eq!(link_origin("http://127.0.0.1.evil.example/x").as_deref(), Some("https://127.0.0.1.evil.example"));
    }

    #[test]
    fn query_params() {
        assert_eq!(query_param("session_id=cs_test_a1&x=2", "session_id").as_deref(), Some("cs_test_a1"));
        assert_eq!(query_param("a=b+c%21", "a").as_deref(), Some("b c!"));
        assert_eq!(query_param("a=1&a=2", "a").as_deref(), Some("1"));
        assert_eq!(query_param("ab=1", "a"), None);
    }
}
