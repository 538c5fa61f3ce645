//! Pages of the customer's own journey that the Worker renders: a checkout
//! that cannot start (and why), and "Lost your download link?".
//!
//! Every value is escaped (`html-escape`); the frame is [`pages::layout`].

use clipstore_core::ShopInfo;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use crate::pages::{contact_link as contact, layout};
use crate::payments::cart::{CartError, MAX_LINES};
use crate::routes::RECOVER_PATH;

fn notice(shop: &ShopInfo, title: &str, paragraphs: &str) -> String {
    let body = format!("    <section class=\"notice\">\n      <h1>{}</h1>\n{paragraphs}    </section>\n", text(title));
    layout(shop, title, &body)
}

/// Why a checkout did not start, as the customer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckoutProblem {
    /// Something in the cart: fix the cart.
    Cart(CartError),
    /// The payment provider could not be reached or refused for a moment:
    /// nothing was charged, try again.
    TryAgain,
    /// The shop's checkout is not set up correctly: nothing was charged,
    /// the shop has been told (the log line and the self-test).
    NotAvailable,
    /// More checkouts from the client's network in a minute than the
    /// shop's limiter allows (`CHECKOUT_LIMITER`): wait and try again.
    TooMany,
    /// One clip of the cart cannot be delivered (its file is not in the
    /// bucket): named, so that the customer can buy the others (the
    /// customer review: "try again later" blocked the whole cart).
    ClipNotAvailable(String),
    /// Posted from a page of another site: started from the shop's cart
    /// instead (`runtime::checkout`).
    FromAnotherSite,
}

impl CheckoutProblem {
    pub fn status(&self) -> u16 {
        match self {
            CheckoutProblem::Cart(e) => e.status(),
            CheckoutProblem::TryAgain => 503,
            CheckoutProblem::NotAvailable | CheckoutProblem::ClipNotAvailable(_) => 502,
            CheckoutProblem::TooMany => 429,
            CheckoutProblem::FromAnotherSite => 403,
        }
    }
}

/// The page for a checkout that did not start. Always says that nothing was
/// charged, and what to do.
pub fn checkout_problem_page(shop: &ShopInfo, problem: &CheckoutProblem, clip_title: Option<&str>) -> String {
    let back = "      <p><a class=\"button\" href=\"/cart/\">Back to your cart</a> <a href=\"/clips/\">Browse the clips</a></p>\n";
    let (title, message) = match problem {
        CheckoutProblem::Cart(CartError::Empty) => (
            "Your cart is empty",
            "<p>There is nothing to pay for yet: add clips to your cart first.</p>".to_string(),
        ),
        CheckoutProblem::Cart(CartError::UnknownClip(slug)) => (
            "A clip in your cart is no longer for sale",
            format!(
                "<p>“{}” is not in the catalog any more. Remove it from your cart and check out again; nothing was charged.</p>",
                text(clip_title.unwrap_or(slug))
            ),
        ),
        CheckoutProblem::Cart(CartError::Unavailable(why)) => (
            "A clip in your cart is not available like this",
            format!(
                "<p>{}. Remove it from your cart, add it again from its page, and check out again; nothing was charged.</p>",
                text(why)
            ),
        ),
        CheckoutProblem::Cart(CartError::SameClipTwice(title)) => (
            "Your cart has one clip twice",
            format!(
                "<p>“{}” is in your cart in two versions. An order takes one file of each clip: remove one of them and check out again; nothing was charged.</p>",
                text(title)
            ),
        ),
        CheckoutProblem::Cart(CartError::TooManyLines(n)) => (
            "Your cart is too large",
            format!(
                "<p>One checkout can hold up to {MAX_LINES} clips and your cart has {n}. Remove some and check out in two parts; nothing was charged.</p>"
            ),
        ),
        CheckoutProblem::Cart(CartError::Malformed(why)) => (
            "Your cart could not be read",
            format!(
                "<p>The checkout form arrived incomplete ({}). Reload the cart page and try again; nothing was charged.</p>",
                text(why)
            ),
        ),
        CheckoutProblem::TryAgain => (
            "The payment page could not be opened",
            "<p>Our payment provider did not answer just now. Nothing was charged: please try again in a minute.</p>"
                .to_string(),
        ),
        CheckoutProblem::FromAnotherSite => (
            "Start your checkout from the shop",
            "<p>This checkout came from a page of another website, so it was not started. Nothing was charged: add the clips to your cart here, and check out from the cart.</p>"
                .to_string(),
        ),
        CheckoutProblem::TooMany => (
            "Too many checkouts at once",
            "<p>Checkouts were started from your network too often in the last minute. Nothing was charged: please try again in a minute.</p>"
                .to_string(),
        ),
        CheckoutProblem::ClipNotAvailable(name) => (
            "A clip in your cart cannot be sold right now",
            format!(
                "<p>“{}” cannot be delivered at the moment, and we have been told about it. Nothing was charged. Remove it from your cart to buy the others now, or try again later, or write to {} to buy it by e-mail.</p>",
                text(name),
                contact(shop)
            ),
        ),
        CheckoutProblem::NotAvailable => (
            "Checkout is not available right now",
            format!(
                "<p>Something is wrong with the shop's checkout, and we have been told about it. Nothing was charged. Please try again later, or write to {} to buy by e-mail.</p>",
                contact(shop)
            ),
        ),
    };
    notice(shop, title, &format!("      {message}\n{back}"))
}

/// Longest e-mail address accepted (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// The "Lost your download link?" form. `problem`: what was wrong with the
/// last submission (shown above the form).
/// The form; after a refused request, with what was typed kept in the field.
/// A refused submission says so in its title, marks the field and ties the
/// problem to it, and puts the focus there, so that a screen reader reads
/// the label, what was typed and what is wrong (the accessibility review:
/// it sounded like the empty form again, as if a mail were on its way).
pub fn recover_form_page(shop: &ShopInfo, problem: Option<&str>, typed: &str) -> String {
    let (title, marked) = match problem {
        Some(_) => {
            ("Not sent: lost your download link?", r#" aria-invalid="true" aria-describedby="email-error" autofocus"#)
        }
        None => ("Lost your download link?", ""),
    };
    let problem = problem.map_or(String::new(), |p| {
        format!("      <p class=\"form-error\" id=\"email-error\">Not sent: {}</p>\n", text(p))
    });
    let value = if typed.is_empty() { String::new() } else { format!(r#" value="{}""#, attr(typed)) };
    let body = format!(
        r#"      <p>Enter the e-mail address you used at checkout. We will e-mail a fresh download link for each of its orders. The new link shares your order's downloads; your old link keeps working.</p>
{problem}      <form method="post" action="{RECOVER_PATH}" class="recover-form">
        <label for="email">E-mail address</label>
        <input id="email" name="email" type="email" required maxlength="{MAX_EMAIL_LEN}" autocomplete="email"{value}{marked}>
        <button class="button" type="submit">E-mail my links</button>
      </form>
      <p class="meta">No e-mail after a few minutes? Check your spam folder, or write to {contact}.</p>
"#,
        contact = contact(shop)
    );
    notice(shop, title, &body)
}

/// The answer to every well-formed request, whether or not the address has
/// orders, and whether or not it was rate-limited: the page never tells who
/// bought what. It shows the address as typed, so that a slip in it is seen
/// now rather than after waiting for a mail that cannot come.
pub fn recover_sent_page(shop: &ShopInfo, email: &str) -> String {
    let body = format!(
        "      <p>If <strong>{email}</strong> has orders with us, an e-mail with a fresh link for each is on its way. It usually arrives within a few minutes.</p>\n      <p>Not the address you paid with? <a href=\"{RECOVER_PATH}\">Enter it again</a>.</p>\n      <p class=\"meta\">Nothing arrived after a few minutes? Check your spam folder, then ask again (an address may ask three times an hour), or write to {}.</p>\n      <p><a href=\"/\">Back to the shop</a></p>\n",
        contact(shop),
        email = text(email),
    );
    notice(shop, "Check your e-mail", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> ShopInfo {
        ShopInfo {
            licences: Vec::new(),
            title: "Shop".into(),
            base_url: "https://example.com".into(),
            contact_email: "a@example.com".into(),
            currency: "EUR".into(),
            stylesheet: "/css/site.css".into(),
        }
    }

    #[test]
    fn every_checkout_problem_says_nothing_was_charged_or_what_to_do() {
        let problems = [
            CheckoutProblem::Cart(CartError::UnknownClip("gone".into())),
            CheckoutProblem::Cart(CartError::TooManyLines(101)),
            CheckoutProblem::Cart(CartError::Malformed("the cart id is not valid")),
            CheckoutProblem::TryAgain,
            CheckoutProblem::NotAvailable,
            CheckoutProblem::TooMany,
            CheckoutProblem::ClipNotAvailable("Harbour <at> Dawn (4K)".into()),
        ];
        for p in &problems {
            let html = checkout_problem_page(&shop(), p, None);
            assert!(html.contains("Nothing was charged") || html.contains("nothing was charged"), "{p:?}");
        }
        assert!(
            checkout_problem_page(&shop(), &CheckoutProblem::Cart(CartError::Empty), None).contains("cart is empty")
        );
        let named =
            checkout_problem_page(&shop(), &CheckoutProblem::ClipNotAvailable("Harbour <at> Dawn (4K)".into()), None);
        assert!(
            named.contains("“Harbour &lt;at&gt; Dawn (4K)” cannot be delivered")
                && named.contains("Remove it from your cart to buy the others"),
            "{named}"
        );
    }

    #[test]
    fn titles_from_the_request_are_escaped() {
        let p = CheckoutProblem::Cart(CartError::UnknownClip("<script>alert(1)</script>".into()));
        let html = checkout_problem_page(&shop(), &p, None);
        assert!(!html.contains("<script>alert") && html.contains("&lt;script&gt;"));
    }

    #[test]
    fn the_recovery_answer_never_depends_on_the_address() {
        let html = recover_sent_page(&shop(), "jon@gmial.com");
        assert!(html.contains("If <strong>jon@gmial.com</strong> has orders"), "the address typed, to spot a slip");
        assert!(html.contains(r#"<a href="/orders/recover">Enter it again</a>"#));
        // What the limit is (it said "ask again in an hour" of three an hour).
        assert!(html.contains("an address may ask three times an hour"));
        assert_eq!((crate::recovery::PER_ADDRESS, crate::recovery::WINDOW_SECS), (3, 3600), "as the page says");
        let html = recover_sent_page(&shop(), "<b>x</b>@example.com");
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;@example.com"), "escaped");
        let form = recover_form_page(&shop(), Some("Enter an e-mail address like <name@example.com>."), "");
        assert!(form.contains(r#"action="/orders/recover""#) && form.contains("&lt;name@example.com&gt;"));
        assert!(form.contains(r#"autocomplete="email" aria-invalid"#), "no value when nothing was typed");
        let kept = recover_form_page(&shop(), Some("x"), "jon@\"gmial");
        assert!(
            kept.contains(r#" value="jon@&quot;gmial" aria-invalid="true" aria-describedby="email-error" autofocus>"#),
            "{kept}"
        );
        assert!(kept.contains(r#"<p class="form-error" id="email-error">Not sent: x</p>"#), "{kept}");
        assert!(kept.contains("<title>Not sent: lost your download link?"), "{kept}");
        let fresh = recover_form_page(&shop(), None, "");
        assert!(!fresh.contains("aria-invalid") && !fresh.contains("Not sent"), "{fresh}");
    }
}
