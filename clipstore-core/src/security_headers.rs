//! The security headers every page of the shop carries, whoever serves it:
//! site-gen writes them into `public/_headers` for Workers Static Assets,
//! and the Worker sends them with the pages it renders itself.
//!
//! The Content-Security-Policy fits what the shop's own pages do: scripts,
//! styles and fonts only from the shop (no inline script or style anywhere),
//! images and video also from elsewhere over https (an owner may embed one
//! in a news post), no plugins, no framing by other sites. `'wasm-unsafe-eval'`
//! lets the search page's Pagefind compile its WebAssembly; it allows
//! nothing else (no `eval`, no inline script).

/// `Content-Security-Policy` of every page.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
img-src 'self' data: https:; media-src 'self' https:; font-src 'self'; connect-src 'self'; \
object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

/// The headers, name and value, in the order they are written.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "DENY"),
];

/// `public/_headers` for Workers Static Assets: the headers on every path.
pub fn headers_file() -> String {
    let mut s =
        String::from("# Written by site-gen: security headers of every page (clipstore_core::security_headers).\n/*\n");
    for (name, value) in SECURITY_HEADERS {
        s.push_str(&format!("  {name}: {value}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headers_file_applies_every_header_to_every_path() {
        let file = headers_file();
        assert!(file.contains("\n/*\n"));
        for (name, value) in SECURITY_HEADERS {
            assert!(file.contains(&format!("  {name}: {value}\n")), "{name}");
        }
        assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self' 'wasm-unsafe-eval';"), "Pagefind's search");
        assert!(!CONTENT_SECURITY_POLICY.contains("'unsafe-eval'"));
    }
}
