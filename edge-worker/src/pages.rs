//! The HTML pages the Worker renders itself: the order page, the licence
//! certificate, the error pages and the `/thanks` pages after a payment
//! (the cart's refusals and link recovery are `shop_pages`). They link the shop's stylesheet and repeat its header and footer so
//! they look like the rest of the static site.
//!
//! Every value from a token or the manifest is escaped (`html-escape`) before
//! it reaches the markup.

use clipstore_core::ShopInfo;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use crate::error::DownloadError;
use crate::order::{OrderLine, OrderView};
use clipstore_core::display::{date_time_utc, human_size};

/// A complete page in the shop's frame: the markup of `templates/base.html`
/// and its header and footer partials, so `static/css/site.css` styles it.
pub(crate) fn layout(shop: &ShopInfo, title: &str, body: &str) -> String {
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="robots" content="noindex, nofollow">
  <meta name="referrer" content="no-referrer">
  <title>{title} · {shop_title}</title>
  <link rel="stylesheet" href="{stylesheet}">
</head>
<body>
  <a class="skip-link" href="#main">Skip to content</a>
  <header class="site-header">
    <div class="container header-inner">
      <a class="brand" href="/">{shop_title}</a>
      <nav class="main-nav" aria-label="Main">
        <ul>
          <li><a href="/clips/">Clips</a></li>
          <li><a href="/news/">News</a></li>
          <li><a href="/tags/">Tags</a></li>
          <li><a href="/search/">Search</a></li>
          <li><a href="/cart/">Cart</a></li>
        </ul>
      </nav>
    </div>
  </header>
  <main id="main" class="container">
{body}  </main>
  <footer class="site-footer">
    <div class="container footer-inner">
      <div>
        <p class="footer-title">{shop_title}</p>
      </div>
      <div>
        <p>Questions about an order? <a href="mailto:{email_attr}">{email}</a> · <a href="/orders/recover">Lost your download link?</a></p>
      </div>
    </div>
  </footer>
</body>
</html>
"##,
        title = text(title),
        shop_title = text(&shop.title),
        stylesheet = attr(&shop.stylesheet),
        email_attr = attr(&shop.contact_email),
        email = text(&shop.contact_email),
    )
}

/// The name a browser saves `file_name` under, quoted for a POSIX shell:
/// Chromium and Firefox write `_` for what a file system may refuse
/// (`Lysefjord: Morning.mp4` is saved as `Lysefjord_ Morning.mp4`), and a
/// `$` or a quote in it must reach wget as it is (the review of the wget
/// advice: a new file from byte 0, or a broken command).
fn saved_name_for_shell(file_name: &str) -> String {
    let saved: String =
        file_name.chars().map(|c| if "\\/:*?\"<>|".contains(c) || c.is_control() { '_' } else { c }).collect();
    format!("'{}'", saved.replace('\'', r"'\''"))
}

/// The customer's order page: every clip with its size, downloads left,
/// expiry and a download link.
/// The shop's contact address as a `mailto:` link, as every page gives it.
pub(crate) fn contact_link(shop: &ShopInfo) -> String {
    format!(r#"<a href="mailto:{a}">{t}</a>"#, a = attr(&shop.contact_email), t = text(&shop.contact_email))
}

pub fn order_page(shop: &ShopInfo, view: &OrderView) -> String {
    layout(shop, "Your downloads", &order_section(view, ""))
}

/// The order's section; `intro` (markup) goes under the heading.
fn order_section(view: &OrderView, intro: &str) -> String {
    let expires = date_time_utc(view.expires_at);
    // "1 of 1 download left", not "1 downloads" (the customer review).
    let plural = if view.allowance == 1 { "" } else { "s" };
    let mut body = format!(
        r#"    <section class="order">
      <h1>Your downloads</h1>
{intro}      <p class="meta">Order <strong>{order}</strong> · link valid until <time>{expires}</time> · up to {allowance} download{s} per clip</p>
      <p class="meta">Save each clip before you watch it: a video player (VLC, a browser's player) opening a clip's link uses its downloads too.</p>
      <ul class="download-list">
"#,
        s = plural,
        order = text(&view.order_id),
        expires = text(&expires),
        allowance = view.allowance,
        intro = intro,
    );
    for line in &view.lines {
        // A refunded clip has no downloads: "5 of 5 left" beside "Refunded" said both.
        let left = match line.remaining {
            _ if line.refunded => "no downloads: refunded".to_string(),
            _ if line.withdrawn_by_shop => "no downloads: withdrawn by the shop".to_string(),
            // Not "0 of 1 left" beside a working "Download again" (the
            // browser download review).
            Some(0) if line.restart && !line.in_flight => "broke off: it can be started again once".to_string(),
            Some(n) => format!("{n} of {} download{plural} left", view.allowance),
            None => format!("up to {} download{plural}", view.allowance),
        };
        // "This link" named the page's link, which the page does not show
        // as such: the clip's own, to copy into a download manager.
        // wget names its file after the link, not the partial file: the
        // command names the file (the customer review: `wget -c LINK`
        // started a new file from byte 0, refused).
        let resume_how = format!(
            r#"resume it from your browser's downloads list, or with your download manager and <a href="{href}">this clip's link</a> (copy it: right-click or long-press, Copy link); with wget, in the partial file's folder, without an ending such as .crdownload or .part: <code>wget -c -O {file} 'LINK'</code>"#,
            href = attr(&line.href),
            file = text(&saved_name_for_shell(&line.file_name)),
        );
        let action = if line.refunded {
            r#"<span class="muted">Refunded</span>"#.to_string()
        } else if line.withdrawn_by_shop {
            r#"<span class="muted">Withdrawn by the shop</span>"#.to_string()
        } else if line.remaining != Some(0) {
            // Named by its clip for a screen reader: every line's is "Download".
            format!(
                r#"<a class="button" href="{href}">Download<span class="visually-hidden"> {title}</span></a>"#,
                href = attr(&line.href),
                title = text(&line.title),
            )
        } else if line.in_flight {
            // Its bytes count until it ends; if it breaks off, they come back.
            r#"<span class="muted">Download in progress</span>"#.to_string()
        } else if line.restart {
            // A cancelled download cannot be resumed by the browser that
            // deleted it: starting again is given back once. A resume that
            // fits is said first: it keeps that once for later.
            // Not "at 60%": that is what the shop sent, and a slow line's
            // file holds less (the downloads review: 89% said, 47% held).
            let again = match line.resumable_percent {
                Some(_) => format!(
                    "Your last download stopped before the end: {resume_how}. If your browser no longer has it, you can start it again once."
                ),
                None => "Your last download did not finish: you can start it again once.".to_string(),
            };
            format!(
                r#"<span class="muted">{again}</span> <a class="button" href="{href}">Download again<span class="visually-hidden"> {title}</span></a>"#,
                href = attr(&line.href),
                title = text(&line.title),
            )
        } else if line.resumable_percent.is_some() {
            // A fresh start would be refused; the resume is not.
            format!(
                r#"<span class="muted">Your last download stopped before the end: {resume_how}. Starting again from the beginning would not fit in what is left. If your browser shows it as cancelled, or no longer has the file, write to us (the address is at the foot of this page) with your order number.</span>"#
            )
        } else if let Some(tail) = line.resume_tail {
            // Finished for the Worker, which cannot see what the network
            // delivered: a file that stopped short is resumed (rule 5). Said
            // after what the Worker knows: a customer with the whole file
            // read "stopped short" as something gone wrong (the customer
            // review).
            format!(
                r#"<span class="muted">No downloads left: the last download was sent to its end. If your file is shorter than {size}, {resume_how}: up to its last {tail} can still be sent.</span>"#,
                size = human_size(line.size),
                tail = human_size(tail),
            )
        } else {
            // Never a bare "none left": what to do if the file is not whole.
            r#"<span class="muted">No downloads left. If you do not have the whole file, write to us (the address is at the foot of this page) with your order number.</span>"#.to_string()
        };
        body.push_str(&format!(
            r#"        <li>
          <div>
            <h2 class="clip-card-title">{title}</h2>
{bought}            <p class="clip-card-meta"><span class="file-name">{file}</span> · {size} · {left} · expires <time>{expires}</time></p>
{sha256}          </div>
          {action}
        </li>
"#,
            title = text(&line.title),
            bought = bought_line(line),
            file = text(&line.file_name),
            size = human_size(line.size),
            left = text(&left),
            expires = text(&expires),
            sha256 = line.sha256.as_deref().map_or(String::new(), |h| format!(
                "            <p class=\"clip-card-meta\">SHA-256 <code class=\"sha256\">{}</code></p>\n",
                text(h)
            )),
        ));
    }
    body.push_str("      </ul>\n");
    if !view.withdrawn.is_empty() {
        body.push_str(&format!(
            "      <p class=\"meta\">{} clip(s) of this order are no longer in the catalog. Please write to us and we will sort it out.</p>\n",
            view.withdrawn.len()
        ));
    }
    body.push_str("      <p class=\"meta\">Keep this link private: anyone who has it can download these clips.</p>\n    </section>\n");
    body
}

/// What was bought of a clip besides the clip (its file and licence) and
/// the link to its licence certificate, a line of the order page.
fn bought_line(line: &OrderLine) -> String {
    let mut parts = Vec::new();
    if let Some(variant) = &line.variant {
        parts.push(text(variant).into_owned());
    }
    if let Some((name, _)) = &line.licence {
        parts.push(format!("{} licence", text(name)));
    }
    // A refunded or withdrawn clip has no licence left to certify.
    if !line.ended() {
        parts.push(format!(r#"<a href="{}">Licence certificate</a>"#, attr(&line.certificate_href)));
    }
    format!("            <p class=\"clip-card-meta\">{}</p>\n", parts.join(" · "))
}

/// The licence certificate of one bought clip: a printable page naming the
/// shop, the order, the clip, its file (variant, name, size, SHA-256), the
/// licence with its terms and the order's date.
pub fn certificate_page(shop: &ShopInfo, view: &OrderView, line: &OrderLine) -> String {
    let terms = match &line.licence {
        Some((name, page)) => format!(
            r#"{name} licence: the terms are at <a href="{href}">{shown}</a>"#,
            name = text(name),
            href = attr(&format!("{}{page}", shop.base_url)),
            shown = text(&format!("{}{page}", shop.base_url)),
        ),
        None => format!(
            r#"the shop's licence: the terms are at <a href="{href}">{shown}</a>"#,
            href = attr(&shop.base_url),
            shown = text(&shop.base_url),
        ),
    };
    let row = |name: &str, value: String| format!("        <tr><th scope=\"row\">{name}</th><td>{value}</td></tr>\n");
    let mut rows = String::new();
    rows.push_str(&row("Licensor", text(&shop.title).into_owned()));
    rows.push_str(&row("Order", text(&view.order_id).into_owned()));
    rows.push_str(&row("Date", format!("<time>{}</time>", text(&date_time_utc(view.issued_at)))));
    rows.push_str(&row("Clip", text(&line.title).into_owned()));
    if let Some(variant) = &line.variant {
        rows.push_str(&row("File", text(variant).into_owned()));
    }
    rows.push_str(&row("File name", format!("<span class=\"file-name\">{}</span>", text(&line.file_name))));
    rows.push_str(&row("Size", format!("{} ({} bytes)", human_size(line.size), line.size)));
    if let Some(sha) = &line.sha256 {
        rows.push_str(&row("SHA-256", format!("<code class=\"sha256\">{}</code>", text(sha))));
    }
    rows.push_str(&row("Licence", terms));
    if let Some(customer) = &view.customer_ref {
        rows.push_str(&row("Licensee reference", text(customer).into_owned()));
    }
    let body = format!(
        r#"    <section class="certificate">
      <h1>Licence certificate</h1>
      <p>{shop} grants the buyer of order <strong>{order}</strong> a licence to use the clip below under the terms named here. Keep this page (print it, or save it as PDF from your browser's Print command) with your project files.</p>
      <table class="certificate-table">
{rows}      </table>
      <p class="meta">Check the file you have against the SHA-256 above: <code>sha256sum "{file}"</code> on Linux, <code>shasum -a 256</code> on macOS, <code>certutil -hashfile</code> on Windows. Questions: <a href="mailto:{email_attr}">{email}</a>.</p>
      <p class="meta"><a href="{back}">Back to your downloads</a></p>
    </section>
"#,
        shop = text(&shop.title),
        order = text(&view.order_id),
        file = text(&line.file_name),
        email_attr = attr(&shop.contact_email),
        email = text(&shop.contact_email),
        back = attr(line.href.rsplit_once('/').map_or("/", |(order, _)| order)),
    );
    layout(shop, "Licence certificate", &body)
}

/// The checkout success page once the order exists: thanks, the download
/// link to keep (`link`, the order page's path), then the order page itself.
/// `<body data-cart-clear="ID" data-cart-bought="SLUG …">`: the shop's
/// cart script empties the cart with that id, the one paid for (`cart`),
/// and no other, and takes the clips bought out of any cart, which would
/// otherwise charge for them again (one bought with its page's "Buy"
/// while the cart held it too).
fn clearing_cart(page: String, cart: Option<&str>, bought: &[OrderLine]) -> String {
    let mut body = String::from("<body");
    if let Some(id) = cart {
        body = body + " data-cart-clear=\"" + &attr(id) + "\"";
    }
    let mut before = " data-cart-bought=\"";
    for line in bought {
        body = body + before + &attr(&line.slug);
        before = " ";
    }
    if !bought.is_empty() {
        body.push('"');
    }
    page.replacen("<body>", &(body + ">"), 1)
}

/// `mailed`: the shop sends mail, so the link is on its way by e-mail too
/// (said only then: a shop may have no mail provider).
pub fn thanks_page(shop: &ShopInfo, view: &OrderView, link: &str, cart: Option<&str>, mailed: bool) -> String {
    let intro = format!(
        "      <p>Thank you for your order. <a class=\"order-link\" href=\"{href}\">Your download link</a> is how you come back to your clips: bookmark it, or keep it as it reads here.{mail}</p>\n      <p><code class=\"order-url\">{shown}</code></p>\n",
        href = attr(link),
        shown = text(link),
        mail = if mailed { " We are e-mailing it to the address you gave at checkout too." } else { "" },
    );
    // The cart paid for is emptied: its clips are bought.
    clearing_cart(layout(shop, "Thank you", &order_section(view, &intro)), cart, &view.lines).replacen(
        "</body>",
        "  <script src=\"/js/cart.js\" defer></script>\n</body>",
        1,
    )
}

/// Seconds between checks of the "payment is being confirmed" page.
pub const PENDING_CHECK_SECS: u32 = 3;

/// The checkout success page while the payment provider has not confirmed
/// the payment yet. The shop's script (`static/js/cart.js`) checks again in
/// the background and loads the links once the order exists; the page never
/// reloads itself otherwise (no `Refresh`: a page that reloads on a timer
/// takes the reader's place away), and "Check again" works without script.
/// `on_its_way`: the provider said the payment takes days (a bank debit):
/// nothing to wait for here, the link comes by e-mail. Either way the cart
/// is emptied: the provider sends the customer here only once the checkout
/// is complete, and a customer who leaves before the order appears could
/// otherwise pay for the same cart again.
pub fn payment_pending_page(shop: &ShopInfo, on_its_way: bool, cart: Option<&str>) -> String {
    let contact = contact_link(shop);
    let (title, section) = if on_its_way {
        (
            "Your payment is on its way",
            format!(
                "    <section class=\"notice payment-pending\">\n      <h1>Thank you: your payment is on its way</h1>\n      <p role=\"status\">Your payment method takes a few working days to confirm a payment. As soon as it has, we e-mail you your download link: there is nothing else to do. If the payment does not go through, nothing is charged, and we e-mail you that too. If no e-mail has come a week from now, write to {contact}.</p>\n    </section>\n"
            ),
        )
    } else {
        (
            "Confirming your payment",
            format!(
                "    <section class=\"notice payment-pending\" data-await-order=\"{PENDING_CHECK_SECS}\">\n      <h1>Thank you: your payment is being confirmed</h1>\n      <p role=\"status\" data-await-status>This usually takes a few seconds. Your download links appear here as soon as the payment is confirmed.</p>\n      <p><a class=\"button\" href=\"\">Check again</a></p>\n      <p>If nothing happens within a few minutes, write to {contact}; your receipt from the payment provider is your proof of purchase.</p>\n    </section>\n"
            ),
        )
    };
    let page = clearing_cart(layout(shop, title, &section), cart, &[]);
    page.replacen("</body>", "  <script src=\"/js/cart.js\" defer></script>\n</body>", 1)
}

/// The success page of a paid checkout the shop refused to make an order of
/// (a clip the catalog lacks, an amount short of its prices): the owner is
/// told (the self-test's `payments` alert, with the command that makes the
/// order), and the link comes by e-mail. No checking again: nothing here
/// changes by itself. The cart is emptied (it is paid for).
pub fn payment_held_page(shop: &ShopInfo, cart: Option<&str>) -> String {
    let contact = contact_link(shop);
    let body = format!(
        "    <section class=\"notice payment-pending\">\n      <h1>Thank you: your payment has arrived</h1>\n      <p role=\"status\">Your order needs a look from the shop before its download link can be made: the shop has been told, and your link is e-mailed to you as soon as it is ready. There is nothing else to do, and you can close this page. If no e-mail has come by tomorrow, write to {contact}; your receipt from the payment provider is your proof of purchase.</p>\n    </section>\n"
    );
    let page = clearing_cart(layout(shop, "Your payment has arrived", &body), cart, &[]);
    page.replacen("</body>", "  <script src=\"/js/cart.js\" defer></script>\n</body>", 1)
}

/// The success page while the ledger (D1) fails: the payment cannot be
/// looked up, and its order is made once D1 is back (Stripe delivers the
/// payment's event again), with its mail. Not the download error page:
/// "your link is fine" would be wrong for a customer who has none yet.
pub fn thanks_unavailable_page(shop: &ShopInfo) -> String {
    let contact = contact_link(shop);
    let body = format!(
        "    <section class=\"notice payment-pending\">\n      <h1>Thank you: your payment is being recorded</h1>\n      <p role=\"status\">Our order system is not answering right now, so your download link cannot be shown here yet. It is e-mailed to you as soon as the order is recorded: there is nothing else to do, and you can close this page. If no e-mail has come by tomorrow, write to {contact}; your receipt from the payment provider is your proof of purchase.</p>\n    </section>\n"
    );
    layout(shop, "Your payment is being recorded", &body)
}

/// The success page of a delayed payment (a bank debit) that failed: no
/// order was made, so no link is coming, whatever the page said before.
pub fn payment_failed_page(shop: &ShopInfo) -> String {
    let contact = contact_link(shop);
    let body = format!(
        "    <section class=\"notice\">\n      <h1>Your payment did not go through</h1>\n      <p role=\"status\">Your bank or payment provider told us the payment failed, so no order was made and no download link will come. You can buy the clips again from the shop with another payment method. If your bank shows the money as taken, write to {contact} with the e-mail we sent you about it.</p>\n      <p><a class=\"button\" href=\"/\">Back to the shop</a></p>\n    </section>\n"
    );
    layout(shop, "Your payment did not go through", &body)
}

/// The success page without a usable `session_id`.
pub fn bad_thanks_page(shop: &ShopInfo) -> String {
    let contact = contact_link(shop);
    let body = format!(
        "    <section class=\"notice\">\n      <h1>This page needs a checkout reference</h1>\n      <p>The link you followed is incomplete. If you have paid, <a href=\"/orders/recover\">have your download link e-mailed again</a> with the address you paid with, or write to {contact} with your receipt.</p>\n      <p><a href=\"/\">Back to the shop</a></p>\n    </section>\n"
    );
    layout(shop, "Checkout reference missing", &body)
}

/// The order page of a link that expired: how to get a new one, and what
/// does not expire with it, the licence certificate of each clip bought
/// (the same page a year on, when a client asks for proof of the licence).
pub fn expired_order_page(shop: &ShopInfo, view: &OrderView) -> String {
    let title = "This download link has expired";
    let contact = contact_link(shop);
    let mut body = format!(
        "    <section class=\"notice\">\n      <h1>{title}</h1>\n      <p>Download links are only valid for a limited time. To download again, write to {contact} with your order number, <strong>{order}</strong>, and we will send you a new link.</p>\n",
        order = text(&view.order_id)
    );
    let certificates: String = view
        .lines
        .iter()
        .filter(|line| !line.ended())
        .map(|line| {
            format!(
                "        <li><a href=\"{href}\">Licence certificate: {title}</a></li>\n",
                href = attr(&line.certificate_href),
                title = text(&line.title)
            )
        })
        .collect();
    if !certificates.is_empty() {
        body.push_str(
            "      <p>Your licence certificates stay available here:</p>\n      <ul class=\"certificates\">\n",
        );
        body.push_str(&certificates);
        body.push_str("      </ul>\n");
    }
    body.push_str("      <p><a href=\"/\">Back to the shop</a></p>\n    </section>\n");
    layout(shop, title, &body)
}

/// The page shown with an error status. Says what the customer can do, never
/// why a token was refused in detail. `at_clip`: the request was a clip's
/// address (`/download/<token>/<slug>`), whose order page is `.` from it:
/// the page links it rather than send the customer back to their mailbox.
pub fn error_page(shop: &ShopInfo, error: &DownloadError, at_clip: bool) -> String {
    let contact = contact_link(shop);
    let order_page = if at_clip {
        "<a href=\".\">open your order's download page</a>"
    } else {
        "open your order's download page (the link in your e-mail)"
    };
    let (title, message) = match error {
        DownloadError::Expired => (
            "This download link has expired",
            format!(
                "<p>Download links are only valid for a limited time. To get a new one, write to {contact} with your order number (it is in your order e-mail) and we will send you a fresh link.</p>"
            ),
        ),
        DownloadError::InvalidToken { .. } => (
            "This download link is not valid",
            format!(
                "<p>The link may be incomplete: check that you copied all of it from your e-mail. If it still does not work, <a href=\"/orders/recover\">have your download links e-mailed to you again</a>, or write to {contact} with your order number.</p>"
            ),
        ),
        DownloadError::NotInOrder => (
            "This clip is not part of your order",
            format!(
                "<p>Your download link does not include this clip. Open your order page from the link in your order e-mail, or write to {contact}.</p>"
            ),
        ),
        DownloadError::AllowanceUsedUp => (
            "You have used all downloads of this clip",
            format!(
                "<p>Your link allows each clip to be downloaded a set number of times, and this clip has reached it. If a download of it broke off or was cancelled, {order_page}: it says whether you can start it again or resume it. If you need the clip again, write to {contact} with your order number (it is in your order e-mail) and we will help.</p>"
            ),
        ),
        // A second tap while the first download runs (the customer review:
        // "used all downloads" while the first went on to finish).
        DownloadError::InProgress => (
            "This clip is already downloading",
            format!(
                "<p>A download of this clip from your link is still running, or was sent to its end a moment ago and is still arriving: look in your browser's downloads, or your download manager's, and let it finish. This second one was not started and used none of your downloads. When the first has finished or stopped, {order_page}: it says what is left.</p>"
            ),
        ),
        // Not "used all downloads": a download that broke off during the
        // outage is owed its restart or resume, which D1 alone can tell.
        DownloadError::PausedOffline => (
            "Downloads of this link are paused for a while",
            format!(
                "<p>Our download records are unavailable right now, and this link has taken what it may until they are back. Nothing is lost: once they are (usually within the hour), {order_page}: it says whether you can start a download that broke off again or resume it. If it still fails tomorrow, write to {contact} with your order number.</p>"
            ),
        ),
        DownloadError::Revoked => (
            "This download link is no longer valid",
            format!(
                "<p>This link has been withdrawn or replaced by a newer one. If you have lost the newer one, <a href=\"/orders/recover\">have your download links e-mailed to you again</a>. If you think this is a mistake, write to {contact} with your order number.</p>"
            ),
        ),
        DownloadError::Refunded => (
            "This purchase was refunded",
            format!(
                "<p>The payment for this purchase was refunded, so its downloads have ended. If you think this is a mistake, write to {contact} with your order number.</p>"
            ),
        ),
        DownloadError::Disputed => (
            "This purchase is disputed",
            format!(
                "<p>The payment for this order is disputed with the bank or card issuer, so its downloads are stopped while the dispute lasts. If it closes in the shop's favour, the downloads are given back and their link comes by e-mail. If you think this is a mistake, write to {contact} with your order number.</p>"
            ),
        ),
        DownloadError::UnknownClip | DownloadError::NotFound => (
            "Not found",
            format!(
                "<p>There is no such clip. Open your order page from the link in your order e-mail, or write to {contact}.</p>"
            ),
        ),
        DownloadError::MethodNotAllowed => (
            "Method not allowed",
            "<p>Downloads are fetched with GET.</p>".to_string(),
        ),
        DownloadError::Unavailable { .. } => (
            "Sorry, downloads are unavailable right now",
            format!(
                "<p>Something went wrong on our side and we have been told about it. Your link is fine: please try again in a few minutes. If it keeps failing, write to {contact}.</p>"
            ),
        ),
    };
    let body = format!(
        "    <section class=\"notice\">\n      <h1>{}</h1>\n      {message}\n      <p><a href=\"/\">Back to the shop</a></p>\n    </section>\n",
        text(title)
    );
    layout(shop, title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::OrderLine;

    fn shop() -> ShopInfo {
        ShopInfo {
            licences: Vec::new(),
            title: "Clips & <Co>".into(),
            base_url: "https://example.com".into(),
            contact_email: "help@example.com".into(),
            currency: "EUR".into(),
            stylesheet: "/css/site.css".into(),
        }
    }

    fn view() -> OrderView {
        OrderView {
            order_id: "o-<1>".into(),
            issued_at: 784_000_000,
            customer_ref: Some("cust<7>".into()),
            expires_at: 784_111_777,
            allowance: 5,
            lines: vec![
                OrderLine {
                    slug: "harbor".into(),
                    title: "Harbor <script>alert(1)</script>".into(),
                    file_name: "Harbor \"dawn\".mp4".into(),
                    size: 2_500_000,
                    sha256: Some("ab".repeat(32)),
                    remaining: Some(4),
                    in_flight: false,
                    resumable_percent: None,
                    resume_tail: None,
                    restart: false,
                    refunded: false,
                    withdrawn_by_shop: false,
                    href: "/download/TOK/harbor".into(),
                    variant: Some("4K".into()),
                    licence: Some(("Extended <b>".into(), "/licence-extended/".into())),
                    certificate_href: "/download/TOK/harbor/licence".into(),
                },
                OrderLine {
                    slug: "city".into(),
                    title: "City".into(),
                    file_name: "City.mp4".into(),
                    size: 10,
                    sha256: None,
                    remaining: Some(0),
                    in_flight: false,
                    resumable_percent: None,
                    resume_tail: None,
                    restart: false,
                    refunded: false,
                    withdrawn_by_shop: false,
                    href: "/download/TOK/city".into(),
                    variant: None,
                    licence: None,
                    certificate_href: "/download/TOK/city/licence".into(),
                },
            ],
            withdrawn: vec![],
        }
    }

    #[test]
    fn order_page_lists_every_clip_escaped() {
        let html = order_page(&shop(), &view());
        assert!(html.contains("<link rel=\"stylesheet\" href=\"/css/site.css\">"));
        assert!(html.contains("Clips &amp; &lt;Co&gt;"));
        assert!(html.contains("o-&lt;1&gt;"));
        assert!(html.contains("Harbor &lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("href=\"/download/TOK/harbor\""));
        // Each button named by its clip, escaped; the menu as the site's.
        assert!(html.contains(
            r#">Download<span class="visually-hidden"> Harbor &lt;script&gt;alert(1)&lt;/script&gt;</span></a>"#
        ));
        assert!(html.contains(r#"<a href="/search/">Search</a>"#) && html.contains(r#"<a href="/cart/">Cart</a>"#));
        assert!(html.contains("Harbor &quot;dawn&quot;.mp4") || html.contains("Harbor \"dawn\".mp4"));
        assert!(html.contains("2.5 MB"));
        assert!(html.contains("4 of 5 downloads left") && html.contains("up to 5 downloads per clip"));
        // A player seeking in the link used a one-download link up before
        // the file was saved (the players review).
        assert!(html.contains("Save each clip before you watch it"));
        let one = order_page(&shop(), &OrderView { allowance: 1, ..view() });
        assert!(one.contains("up to 1 download per clip") && !one.contains("1 downloads"), "{one}");
        assert!(html.contains(&format!("SHA-256 <code class=\"sha256\">{}</code>", "ab".repeat(32))));
        assert_eq!(html.matches("SHA-256").count(), 1, "only a clip whose hash the catalog knows");
        assert!(html.contains("6 November 1994, 08:49 UTC"), "as the mail writes dates");
        assert!(html.contains("No downloads left. If you do not have the whole file, write to us"), "{html}");
        assert!(!html.contains("href=\"/download/TOK/city\""));
        // While a download of it streams, its bytes are held: not "none left".
        let mut streaming = view();
        streaming.lines[1].in_flight = true;
        let html = order_page(&shop(), &streaming);
        assert!(html.contains("Download in progress") && !html.contains("No downloads left"));
        // Broken off where a resume still fits but a fresh start does not:
        // the page says to resume, not "none left".
        let mut broken = view();
        broken.lines[1].resumable_percent = Some(60);
        let html = order_page(&shop(), &broken);
        assert!(
            html.contains("Your last download stopped before the end: resume it from your browser's downloads list"),
            "{html}"
        );
        assert!(!html.contains("No downloads left"));
        assert!(!html.contains(r#"class="button" href="/download/TOK/city""#), "no button: a fresh start is refused");
        // A browser's cancelled download cannot be resumed: whom to write
        // to, as every other dead end says (the browser download review).
        assert!(
            html.contains("If your browser shows it as cancelled, or no longer has the file, write to us"),
            "{html}"
        );
        assert!(
            html.contains(r#"or with your download manager and <a href="/download/TOK/city">this clip's link</a>"#),
            "the link to resume with, shown: {html}"
        );
        let file = &broken.lines[1].file_name;
        assert!(html.contains(&format!(r#"<code>wget -c -O '{file}' 'LINK'</code>"#)), "the file named: {html}");
        // As the browser saved it, and as the shell passes it on.
        assert_eq!(saved_name_for_shell(r#"Lysefjord: "Morning" (720p).mp4"#), "'Lysefjord_ _Morning_ (720p).mp4'");
        assert_eq!(saved_name_for_shell("Bob's $HOME `x`.mp4"), r"'Bob'\''s $HOME `x`.mp4'");
        // Cancelled in the browser, whose Retry starts from byte 0: the
        // fresh start given back once has its button.
        broken.lines[1].restart = true;
        let html = order_page(&shop(), &broken);
        assert!(
            html.contains("If your browser no longer has it, you can start it again once."),
            "one sentence: {html}"
        );
        assert!(html.contains(
            r#"<a class="button" href="/download/TOK/city">Download again<span class="visually-hidden"> City</span></a>"#
        ), "{html}");
        assert!(html.contains("Your last download stopped before the end: resume it from your browser"), "said first");
        // Not "0 of 5 downloads left" beside the button.
        assert!(html.contains("broke off: it can be started again once"), "{html}");
        broken.lines[1].resumable_percent = None;
        let html = order_page(&shop(), &broken);
        assert!(!html.contains("resume it from your browser"));
        assert!(html.contains("Your last download did not finish: you can start it again once."), "{html}");
        // Finished for the Worker, short for the customer: none left, and
        // how much of its end a resume still gets.
        let mut finished = view();
        finished.lines[1].resume_tail = Some(1_500_000);
        let html = order_page(&shop(), &finished);
        assert!(
            html.contains("No downloads left: the last download was sent to its end. If your file is shorter than "),
            "{html}"
        );
        assert!(html.contains("(copy it: right-click or long-press, Copy link)"), "{html}");
        assert!(
            html.contains("resume it from your browser's downloads list") && html.contains("its last 1.5 MB"),
            "{html}"
        );
        assert!(!html.contains(r#"class="button" href="/download/TOK/city""#));
        assert!(html.contains(r#"<a href="/download/TOK/city">this clip's link</a>"#), "{html}");
    }

    #[test]
    fn order_page_names_the_file_and_licence_bought_and_links_the_certificate() {
        let html = order_page(&shop(), &view());
        assert!(html.contains(
            "4K · Extended &lt;b&gt; licence · <a href=\"/download/TOK/harbor/licence\">Licence certificate</a>"
        ));
        assert!(html.contains("<a href=\"/download/TOK/city/licence\">Licence certificate</a>"));
        // A refunded clip: no licence left to certify.
        let mut refunded = view();
        refunded.lines[1].refunded = true;
        let html = order_page(&shop(), &refunded);
        assert!(!html.contains("/download/TOK/city/licence"), "{html}");
        assert!(html.contains("/download/TOK/harbor/licence"));
        // No count of downloads beside "Refunded".
        refunded.lines[1].remaining = Some(5);
        let html = order_page(&shop(), &refunded);
        assert!(html.contains("City.mp4</span> · 10 bytes · no downloads: refunded ·"), "{html}");
        assert!(!html.contains("5 of 5 downloads left"), "{html}");
        // Revoked by the owner, not for a refund: not called a refund.
        let mut withdrawn = view();
        withdrawn.lines[1].withdrawn_by_shop = true;
        let html = order_page(&shop(), &withdrawn);
        assert!(
            html.contains("no downloads: withdrawn by the shop") && html.contains("Withdrawn by the shop"),
            "{html}"
        );
        assert!(!html.contains("efunded") && !html.contains("/download/TOK/city/licence"), "{html}");
    }

    #[test]
    fn certificate_names_shop_order_clip_file_licence_date_and_hash() {
        let v = view();
        let html = certificate_page(&shop(), &v, &v.lines[0]);
        for needle in [
            "<h1>Licence certificate</h1>",
            "<th scope=\"row\">Licensor</th><td>Clips &amp; &lt;Co&gt;</td>",
            "<th scope=\"row\">Order</th><td>o-&lt;1&gt;</td>",
            "<th scope=\"row\">Clip</th><td>Harbor &lt;script&gt;alert(1)&lt;/script&gt;</td>",
            "<th scope=\"row\">File</th><td>4K</td>",
            "2.5 MB (2500000 bytes)",
            "Extended &lt;b&gt; licence: the terms are at <a href=\"https://example.com/licence-extended/\">",
            "<th scope=\"row\">Licensee reference</th><td>cust&lt;7&gt;</td>",
            "5 November 1994, ",
            "href=\"/download/TOK\">Back to your downloads",
        ] {
            assert!(html.contains(needle), "{needle} in\n{html}");
        }
        assert!(html.contains(&format!("<code class=\"sha256\">{}</code>", "ab".repeat(32))));
        assert!(!html.contains("<script>") && !html.contains("<b>"));
        // Without tiers, the shop's own terms; without a hash, no hash row.
        let html = certificate_page(&shop(), &v, &v.lines[1]);
        assert!(html.contains("the shop's licence: the terms are at"));
        assert!(!html.contains("SHA-256</th>"));
        assert!(!html.contains(">File</th>"));
    }

    #[test]
    fn thanks_page_is_the_order_page_with_the_link_to_keep() {
        let html = thanks_page(&shop(), &view(), "/download/TOK", Some("AbCdEfGhIjKlMnOpQrStUv"), true);
        assert!(
            html.contains("<body data-cart-clear=\"AbCdEfGhIjKlMnOpQrStUv\" data-cart-bought=\"harbor city\">"),
            "the cart paid for is emptied, and what it bought leaves any other"
        );
        let html = thanks_page(&shop(), &view(), "/download/TOK", None, true);
        assert!(!html.contains("data-cart-clear"), "a Payment Link's: no cart to empty");
        assert!(html.contains("<body data-cart-bought=\"harbor city\">"), "{html}");
        assert!(html.contains("Thank you for your order"));
        assert!(html.contains("href=\"/download/TOK\""));
        assert!(html.contains("4 of 5 downloads left"));
        assert!(html.contains("href=\"/download/TOK/harbor\""));
        // A customer who closes the tab knows the link is in the mail too
        // (the shopper review: the page did not say so).
        assert!(html.contains("We are e-mailing it to the address you gave at checkout too."));
        let unmailed = thanks_page(&shop(), &view(), "/download/TOK", None, false);
        assert!(!unmailed.contains("e-mailing"), "a shop without mail says nothing of it");
        // Without its checkout reference, the page leads to the recovery form first.
        assert!(
            bad_thanks_page(&shop()).contains("<a href=\"/orders/recover\">have your download link e-mailed again</a>")
        );
    }

    #[test]
    fn pending_page_checks_again_without_reloading_itself() {
        let html = payment_pending_page(&shop(), false, Some("AbCdEfGhIjKlMnOpQrStUv"));
        assert!(!html.contains("http-equiv=\"refresh\""));
        assert!(html.contains("data-await-order=\"3\""));
        assert!(html.contains("<script src=\"/js/cart.js\" defer></script>"));
        assert!(html.contains(">Check again</a>"));
        assert!(html.contains("being confirmed"));
        assert!(html.contains("mailto:help@example.com"));
        // Stripe sends the customer here once the checkout is complete: a
        // customer leaving before the order appears kept a cart that paid
        // a second time.
        assert!(html.contains("<body data-cart-clear=\"AbCdEfGhIjKlMnOpQrStUv\">"), "{html}");
    }

    /// While D1 fails the payment cannot be looked up: the customer is told
    /// the link comes by e-mail, not that their link is fine.
    #[test]
    fn the_success_page_while_the_ledger_fails_promises_the_mail() {
        let html = thanks_unavailable_page(&shop());
        assert!(html.contains("your payment is being recorded") && html.contains("It is e-mailed to you"), "{html}");
        assert!(!html.contains("link is fine") && html.contains("mailto:help@example.com"));
    }

    /// A bank debit: no checking every 3 s for days, the cart emptied.
    #[test]
    fn a_payment_on_its_way_is_told_so_and_not_awaited() {
        let held = payment_held_page(&shop(), Some("AbCdEfGhIjKlMnOpQrStUv"));
        assert!(held.contains("your payment has arrived") && held.contains("e-mailed to you as soon as it is ready"));
        assert!(held.contains("data-cart-clear=\"AbCdEfGhIjKlMnOpQrStUv\""), "the cart is paid for");
        assert!(!held.contains("data-await-order") && !held.contains("Check again"), "nothing to wait for here");
        let html = payment_pending_page(&shop(), true, Some("AbCdEfGhIjKlMnOpQrStUv"));
        assert!(html.contains("your payment is on its way") && html.contains("we e-mail you your download link"));
        // What happens if it fails is said too (the customer review: the
        // page promised only the link's mail).
        assert!(html.contains("If the payment does not go through, nothing is charged, and we e-mail you"), "{html}");
        assert!(!html.contains("data-await-order") && !html.contains("Check again"));
        assert!(html.contains("<body data-cart-clear=\"AbCdEfGhIjKlMnOpQrStUv\">"), "{html}");
        assert!(html.contains("<script src=\"/js/cart.js\" defer></script>\n</body>"));
        assert!(html.contains("mailto:help@example.com"));
    }

    #[test]
    fn a_failed_delayed_payment_says_no_link_is_coming() {
        let html = payment_failed_page(&shop());
        assert!(html.contains("did not go through") && html.contains("no download link will come"));
        assert!(!html.contains("we e-mail you") && !html.contains("data-await-order"));
        assert!(html.contains("href=\"/\"") && html.contains("mailto:help@example.com"));
    }

    #[test]
    fn paused_while_d1_is_down_is_not_used_up() {
        let html = error_page(&shop(), &DownloadError::PausedOffline, false);
        assert!(html.contains("paused for a while") && html.contains("Nothing is lost"), "{html}");
        assert!(!html.contains("used all downloads"));
    }

    #[test]
    fn used_up_page_says_so_and_how_to_get_help() {
        let busy = error_page(&shop(), &DownloadError::InProgress, true);
        assert!(busy.contains("This clip is already downloading") && busy.contains("used none of your downloads"));
        assert!(busy.contains(r#"<a href=".">open your order's download page</a>"#), "{busy}");
        let html = error_page(&shop(), &DownloadError::AllowanceUsedUp, true);
        assert!(html.contains("used all downloads"));
        assert!(html.contains("mailto:help@example.com"));
        // At the clip's address, its order page is `.` from it: linked, not
        // "the link in your e-mail" (the customer review).
        assert!(html.contains("<a href=\".\">open your order's download page</a>: it says"), "{html}");
        let paused = error_page(&shop(), &DownloadError::PausedOffline, true);
        assert!(paused.contains("<a href=\".\">open your order's download page</a>"), "{paused}");
        let elsewhere = error_page(&shop(), &DownloadError::AllowanceUsedUp, false);
        assert!(
            elsewhere.contains("open your order's download page (the link in your e-mail)")
                && !elsewhere.contains("href=\".\"")
        );
    }

    /// A link replaced by a newer one (a reissue): the customer can have
    /// the newer one mailed again without writing to the shop.
    #[test]
    fn a_replaced_link_points_to_link_recovery() {
        let html = error_page(&shop(), &DownloadError::Revoked, false);
        assert!(html.contains("<a href=\"/orders/recover\">have your download links e-mailed to you again</a>"));
        assert!(html.contains("mailto:help@example.com"));
    }

    /// A link cut short in copying: the whole one can be mailed again.
    #[test]
    fn a_broken_link_points_to_link_recovery() {
        let html = error_page(&shop(), &DownloadError::InvalidToken { code: "malformed" }, false);
        assert!(html.contains("<a href=\"/orders/recover\">have your download links e-mailed to you again</a>"));
        assert!(html.contains("mailto:help@example.com"));
    }

    /// An expired link still leads to its certificates, none of a clip
    /// refunded.
    #[test]
    fn expired_order_page_links_the_certificates_of_what_was_kept() {
        let mut v = view();
        let html = expired_order_page(&shop(), &v);
        assert!(html.contains("<h1>This download link has expired</h1>"));
        assert!(html.contains("order number, <strong>o-&lt;1&gt;</strong>"), "{html}");
        assert!(html.contains("<a href=\"/download/TOK/harbor/licence\">Licence certificate: "), "{html}");
        assert!(html.contains("<a href=\"/download/TOK/city/licence\">"), "{html}");
        assert!(!html.contains("class=\"button\""), "no download: {html}");
        v.lines[1].refunded = true;
        let html = expired_order_page(&shop(), &v);
        assert!(!html.contains("/download/TOK/city/licence"), "refunded: {html}");
        v.lines[0].refunded = true;
        assert!(!expired_order_page(&shop(), &v).contains("certificates stay"), "none left");
    }

    #[test]
    fn expired_page_says_how_to_get_a_new_link() {
        let html = error_page(&shop(), &DownloadError::Expired, false);
        assert!(html.contains("expired"));
        assert!(html.contains("mailto:help@example.com"));
        assert!(html.contains("new one"));
    }

    #[test]
    fn error_pages_never_show_details() {
        let html = error_page(
            &shop(),
            &DownloadError::Unavailable { detail: "R2 key clips/secret.mp4 missing".into() },
            false,
        );
        assert!(!html.contains("secret"));
        let html = error_page(&shop(), &DownloadError::InvalidToken { code: "bad_signature" }, false);
        assert!(!html.contains("signature"));
    }
}
