//! The shape of an e-mail address both sides accept: site-gen checks an
//! address the owner types with the rule the Worker sends by, so that a
//! command is not half done when the Worker refuses the address (the
//! attack review: `right@example.com,` passed site-gen, the reissue ran and
//! stopped the old links, and the Worker refused the mail and the address
//! change that was to follow).

/// Whether `addr` has the shape of a plain address: `local@domain.tld`, no
/// spaces, angle brackets, commas or quotes (a shape check, not RFC 5322:
/// the mail provider validates for real; this catches typos before the
/// first send), at most 254 bytes (RFC 5321's path limit).
pub fn valid_address(addr: &str) -> bool {
    let Some((local, domain)) = addr.rsplit_once('@') else { return false };
    let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic() && !"<>,;:\"()[]\\@".contains(c));
    plain(local)
        && plain(domain)
        && domain.contains('.')
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && !domain.contains("..")
        && addr.len() <= 254
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for ok in ["a@b.co", "shop+orders@saltglass.example", "x.y@sub.domain.example"] {
            assert!(valid_address(ok), "{ok}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "a",
            "a@b",
            "@b.co",
            "a@",
            "a b@c.de",
            "a@b..c",
            "<a@b.co>",
            "a@b.co,c@d.ef",
            "a@.b.co",
            "right@example.com,",
            "a@b.co\r\nBcc: x@y.z",
            "Name <a@b.co>",
            "a@b.co;",
            long.as_str(),
        ] {
            assert!(!valid_address(bad), "{bad:?}");
        }
    }
}
