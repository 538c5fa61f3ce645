//! The route table: which URLs the Worker answers itself.
//!
//! | Path                            | Route              |
//! |---------------------------------|--------------------|
//! | `/download/<token>`             | [`Route::Order`]   |
//! | `/download/<token>/`            | [`Route::Order`]   |
//! | `/download/<token>/<clip-slug>` | [`Route::Clip`]    |
//! | `/download/<token>/<clip-slug>/licence` | [`Route::Certificate`] |
//! | `/download/…` ending in `.` `,` `)` `%3E` …, or a clip's with `/`  | [`Route::Untidy`] (a redirect to it without them) |
//! | any other `/download/…`         | [`Route::NotFound`]|
//! | `/payments/stripe/webhook`      | [`Route::PaymentWebhook`] |
//! | `/checkout`                     | [`Route::Checkout`] |
//! | `/thanks`                       | [`Route::Thanks`]  |
//! | `/orders/recover`               | [`Route::Recover`] |
//! | `/health`                       | [`Route::Health`]  |
//! | `/admin`, `/admin/…`            | [`Route::Admin`] (its own table: `crate::admin`) |
//! | everything else                 | [`Route::Asset`]   |
//!
//! `wrangler.toml` runs the Worker first only for these paths; every other
//! path is answered by Workers Static Assets from `public/` without invoking
//! the Worker, and [`Route::Asset`] exists so the Worker behaves the same if
//! it is ever invoked for one. A slug is only a key into the catalog manifest,
//! never an object key.

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// The customer's order page.
    Order { token: &'a str },
    /// One clip of the order.
    Clip { token: &'a str, slug: &'a str },
    /// The licence certificate of one clip of the order (printable).
    Certificate { token: &'a str, slug: &'a str },
    /// A payment provider's webhook (docs/payments.md); only Stripe so far.
    PaymentWebhook { provider: &'a str },
    /// A cart's checkout: `POST` a form of clip slugs (docs/payments.md).
    Checkout,
    /// The checkout success page (`/thanks?session_id=…`).
    Thanks,
    /// "Lost your download link?": the form, and `POST` to have the links
    /// e-mailed again.
    Recover,
    /// The liveness check (`crate::monitor::liveness`).
    Health,
    /// The owner's admin API; `crate::admin::route` parses the rest.
    Admin,
    /// A download address with what a mail or chat message ran into its
    /// end (a sentence's `.` or `,`, a bracket, a quote: no token, slug or
    /// page name ends so): the address without it, to redirect to.
    Untidy { to: &'a str },
    /// Under `/download/` or `/payments/` but not a valid shape.
    NotFound,
    /// A static file of the shop.
    Asset,
}

const PREFIX: &str = "/download/";

/// The last part of a clip's licence certificate address.
pub const CERTIFICATE_PAGE: &str = "licence";

/// Where Stripe sends the shop's events (docs/payments.md).
pub const STRIPE_WEBHOOK_PATH: &str = "/payments/stripe/webhook";

/// The page where a customer asks for their links again.
pub const RECOVER_PATH: &str = "/orders/recover";

/// Maps a URL path (as sent, not percent-decoded) to its route.
pub fn route(path: &str) -> Route<'_> {
    match path {
        "/health" => return Route::Health,
        "/admin" => return Route::Admin,
        _ if path.starts_with("/admin/") => return Route::Admin,
        "/thanks" | "/thanks/" => return Route::Thanks,
        "/checkout" | "/checkout/" => return Route::Checkout,
        RECOVER_PATH | "/orders/recover/" => return Route::Recover,
        STRIPE_WEBHOOK_PATH => return Route::PaymentWebhook { provider: "stripe" },
        _ if path.starts_with("/payments/") => return Route::NotFound,
        _ => {}
    }
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return if path == "/download" { Route::NotFound } else { Route::Asset };
    };
    let tidy = tidy_end(path);
    if tidy.len() < path.len() && tidy.len() > PREFIX.len() {
        return Route::Untidy { to: tidy };
    }
    // A clip's or a certificate's address with a `/` at its end (the order
    // page takes one): the same address without it, not "no such clip".
    let bare = path.trim_end_matches('/');
    if bare.len() < path.len() && matches!(route(bare), Route::Clip { .. } | Route::Certificate { .. }) {
        return Route::Untidy { to: bare };
    }
    let mut parts = rest.split('/');
    let token = parts.next().unwrap_or_default();
    let slug = parts.next();
    let page = parts.next();
    if token.is_empty() || parts.next().is_some() {
        return Route::NotFound;
    }
    match (slug, page) {
        (None | Some(""), None) => Route::Order { token },
        (Some(slug), None) if !slug.is_empty() => Route::Clip { token, slug },
        (Some(slug), Some(CERTIFICATE_PAGE)) if !slug.is_empty() => Route::Certificate { token, slug },
        _ => Route::NotFound,
    }
}

/// `path` without the characters at its end that no download address
/// ends with: anything but a letter, a digit, `-`, `_` or `/`, written as
/// is or percent-encoded (`%3E`, as a browser sends `>`).
fn tidy_end(path: &str) -> &str {
    let mut end = path;
    loop {
        let bytes = end.as_bytes();
        let escaped = bytes.len() >= 3 && bytes[bytes.len() - 3] == b'%';
        let last = bytes.last().copied().unwrap_or(b'a');
        end = match () {
            _ if escaped => &end[..end.len() - 3],
            _ if !(last.is_ascii_alphanumeric() || matches!(last, b'-' | b'_' | b'/')) => &end[..end.len() - 1],
            _ => return end,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::{route, Route};

    #[test]
    fn download_routes() {
        assert_eq!(route("/download/tok"), Route::Order { token: "tok" });
        assert_eq!(route("/download/tok/clip/licence"), Route::Certificate { token: "tok", slug: "clip" });
        assert_eq!(route("/download/tok/clip/other"), Route::NotFound);
        assert_eq!(route("/download/tok//licence"), Route::NotFound);
        assert_eq!(route("/download/tok/clip/licence/"), Route::Untidy { to: "/download/tok/clip/licence" });
        assert_eq!(route("/download/tok/harbor/"), Route::Untidy { to: "/download/tok/harbor" });
        assert_eq!(route("/download/tok/harbor//"), Route::Untidy { to: "/download/tok/harbor" });
        assert_eq!(route("/download/tok/"), Route::Order { token: "tok" });
        assert_eq!(route("/download/tok/harbor"), Route::Clip { token: "tok", slug: "harbor" });
    }

    #[test]
    fn what_a_message_ran_into_a_link_is_redirected_away() {
        for (sent, to) in [
            ("/download/ab.cd)", "/download/ab.cd"),
            ("/download/ab.cd.", "/download/ab.cd"),
            ("/download/ab.cd%3E", "/download/ab.cd"),
            ("/download/ab.cd%22).", "/download/ab.cd"),
            ("/download/ab.cd/harbor,", "/download/ab.cd/harbor"),
            ("/download/ab.cd/harbor/licence%29", "/download/ab.cd/harbor/licence"),
            ("/download/ab.cd/.", "/download/ab.cd/"),
        ] {
            assert_eq!(route(sent), Route::Untidy { to }, "{sent}");
            assert!(!matches!(route(to), Route::Untidy { .. } | Route::NotFound), "{to} is tidy");
        }
        // Nothing is left to go to; outside /download/ nothing is touched.
        assert_eq!(route("/download/.."), Route::Order { token: ".." });
        assert_eq!(route("/download/%2E"), Route::Order { token: "%2E" });
        assert_eq!(route("/clips/harbor/."), Route::Asset);
        // A token's own characters stay, at the end and inside.
        assert_eq!(route("/download/a-b_c.D9"), Route::Order { token: "a-b_c.D9" });
    }

    #[test]
    fn malformed_download_paths_are_not_found() {
        for p in ["/download", "/download/", "/download//x", "/download/tok/a/b", "/download//x/"] {
            assert_eq!(route(p), Route::NotFound, "{p}");
        }
    }

    #[test]
    fn payment_routes() {
        assert_eq!(route("/payments/stripe/webhook"), Route::PaymentWebhook { provider: "stripe" });
        assert_eq!(route("/payments/other/webhook"), Route::NotFound);
        assert_eq!(route("/thanks"), Route::Thanks);
        assert_eq!(route("/thanks/"), Route::Thanks);
        assert_eq!(route("/checkout"), Route::Checkout);
        assert_eq!(route("/orders/recover"), Route::Recover);
        assert_eq!(route("/orders/recover/"), Route::Recover);
    }

    #[test]
    fn health_and_admin_pass_through_the_same_table() {
        assert_eq!(route("/health"), Route::Health);
        assert_eq!(route("/admin"), Route::Admin);
        assert_eq!(route("/admin/orders/x"), Route::Admin);
        assert_eq!(route("/administrator"), Route::Asset);
        assert_eq!(route("/health/x"), Route::Asset);
    }

    #[test]
    fn everything_else_is_an_asset() {
        for p in ["/", "/clips/harbor/", "/css/site.css", "/downloads", "/downloadx/y"] {
            assert_eq!(route(p), Route::Asset, "{p}");
        }
    }
}
