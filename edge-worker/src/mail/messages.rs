//! What the shop's e-mails say: the order mail with the download link, the
//! "your download links" recovery mail, the mail of a bank payment that
//! failed, and the owner's alerts.
//!
//! Every message has a plain-text and an HTML body with the same content:
//! the text one for clients that show no HTML (and for spam filters, which
//! distrust HTML-only mail); the HTML one with inline styles only (mail
//! clients drop `<style>` and external stylesheets), one centred column of
//! blocks and no layout tables. Every value from the catalog, the order or
//! the settings is escaped with `html-escape`, as in [`crate::pages`].

use clipstore_core::{CatalogManifest, ShopInfo};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::Mail;
use clipstore_core::display::{date_time_utc, human_size};

/// One clip of an order, as the mail describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailClip {
    pub title: String,
    pub file_name: String,
    /// Bytes.
    pub size: u64,
    /// Lower-case hex, when the catalog knows it.
    pub sha256: Option<String>,
}

impl MailClip {
    /// The file bought of clip `slug` (its variant; the licence in the
    /// title); `None` when either is gone from the catalog.
    pub fn of_item(catalog: &CatalogManifest, slug: &str, choice: &clipstore_core::Choice) -> Option<MailClip> {
        let item = clipstore_core::Item { slug: slug.to_string(), choice: choice.clone() };
        catalog.resolve(&item).ok().map(|r| MailClip {
            title: r.description,
            file_name: r.file.file_name,
            size: r.file.size,
            sha256: r.file.sha256,
        })
    }
}

/// An order, as its mail describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderMail {
    /// The customer's address.
    pub to: String,
    pub order_id: String,
    /// The order page (`…/download/<token>`): the download link.
    pub order_url: String,
    pub clips: Vec<MailClip>,
    pub downloads_per_clip: u32,
    /// Unix seconds.
    pub expires_at: u64,
    /// Where a customer who lost the mail asks for the links again.
    pub recover_url: String,
    /// What the customer paid, as the checkout recorded it (`€73.00`, as the shop writes prices):
    /// the order mail of a payment only, their record of the price.
    pub paid: Option<String>,
    /// When it was bought (unix s), in a mail listing several orders: two
    /// of the same clips were told apart by nothing (the customer review).
    pub bought_at: Option<u64>,
}

fn terms_url(shop: &ShopInfo) -> String {
    format!("{}/terms/", base(shop))
}

const FONT: &str = "font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;";
const P: &str = "margin:0 0 16px;";
const MUTED: &str = "color:#555555;font-size:14px;";
/// A link's style: a long download address may break anywhere to fit a
/// phone's width, a word (a licence's name) only when it must ("Extende/d"
/// with `word-break:break-all`, the customer review).
const LINK: &str = "color:#1f4e5f;overflow-wrap:anywhere;";

/// The HTML frame: the shop's name, one white card, a footer with the
/// contact address.
fn html_frame(shop: &ShopInfo, subject: &str, content: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{subject}</title>
</head>
<body style="margin:0;padding:0;background-color:#f3f3f0;">
<div style="max-width:560px;margin:0 auto;padding:24px 16px;{FONT}font-size:16px;line-height:1.5;color:#1a1a1a;">
<p style="{P}font-weight:bold;font-size:18px;">{shop_title}</p>
<div style="background-color:#ffffff;border:1px solid #e2e2dc;border-radius:6px;padding:24px;">
{content}</div>
<p style="margin:16px 0 0;{MUTED}">{shop_title} · <a href="mailto:{email_attr}" style="{LINK}">{email}</a></p>
</div>
</body>
</html>
"#,
        subject = text(subject),
        shop_title = text(&shop.title),
        email_attr = attr(&shop.contact_email),
        email = text(&shop.contact_email),
    )
}

/// A prominent link, with its address written out below for clients that
/// strip styles or links.
fn html_button(href: &str, label: &str) -> String {
    format!(
        r#"<p style="{P}"><a href="{href}" style="display:inline-block;background-color:#1f4e5f;color:#ffffff;text-decoration:none;font-weight:bold;padding:12px 20px;border-radius:4px;">{label}</a></p>
<p style="{P}{MUTED}">Or copy this address into your browser:<br><a href="{href}" style="{LINK}">{url}</a></p>
"#,
        href = attr(href),
        label = text(label),
        url = text(href),
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The clips and terms of one order, as text lines.
fn order_text(order: &OrderMail) -> String {
    let paid = order.paid.as_ref().map_or(String::new(), |p| format!(" · paid {p}"));
    let bought = order.bought_at.map_or(String::new(), |t| format!(" · bought {}", date_time_utc(t)));
    let mut s = format!("Order {} · {}{bought}{paid}\n\n", order.order_id, plural(order.clips.len(), "clip", "clips"));
    for (i, clip) in order.clips.iter().enumerate() {
        s.push_str(&format!("{}. {}\n   File: {} ({})\n", i + 1, clip.title, clip.file_name, human_size(clip.size)));
        if let Some(sha) = &clip.sha256 {
            s.push_str(&format!("   SHA-256: {sha}\n"));
        }
    }
    s.push_str(&format!(
        "\nEach clip can be downloaded {} in all, until {}; the download page shows how many are left.\n",
        plural(order.downloads_per_clip as usize, "time", "times"),
        date_time_utc(order.expires_at)
    ));
    s
}

/// The same as HTML blocks.
fn order_html(order: &OrderMail) -> String {
    let mut s = format!(
        r#"<p style="margin:0 0 8px;{MUTED}">Order <strong>{id}</strong> · {n}{bought}{paid}</p>
"#,
        id = text(&order.order_id),
        n = plural(order.clips.len(), "clip", "clips"),
        bought = order.bought_at.map_or(String::new(), |t| format!(" · bought {}", text(&date_time_utc(t)))),
        paid = order.paid.as_ref().map_or(String::new(), |p| format!(" · paid {}", text(p))),
    );
    for clip in &order.clips {
        s.push_str(&format!(
            r#"<div style="border-top:1px solid #e2e2dc;padding:12px 0;">
<p style="margin:0;font-weight:bold;">{title}</p>
<p style="margin:0;{MUTED}">{file} · {size}</p>
"#,
            title = text(&clip.title),
            file = text(&clip.file_name),
            size = text(&human_size(clip.size)),
        ));
        if let Some(sha) = &clip.sha256 {
            s.push_str(&format!(
                r#"<p style="margin:0;{MUTED}word-break:break-all;">SHA-256: <code style="font-size:12px;">{sha}</code></p>
"#,
                sha = text(sha)
            ));
        }
        s.push_str("</div>\n");
    }
    s.push_str(&format!(
        r#"<p style="margin:8px 0 16px;">Each clip can be downloaded {times} in all, until <strong>{date}</strong>; the download page shows how many are left.</p>
"#,
        times = plural(order.downloads_per_clip as usize, "time", "times"),
        date = text(&date_time_utc(order.expires_at)),
    ));
    s
}

/// The licence: with tiers, the terms of each (every clip names the one
/// bought, as the certificate does); else the shop's terms.
fn licence_text(shop: &ShopInfo) -> String {
    if shop.licences.is_empty() {
        return format!("Licence: every clip comes with a royalty-free licence. The terms: {}\n", terms_url(shop));
    }
    let tiers: Vec<String> = shop.licences.iter().map(|l| format!("{} {}{}", l.name, base(shop), l.page)).collect();
    format!("Licence: the one named with each clip. The terms: {}\n", tiers.join(", "))
}

fn licence_html(shop: &ShopInfo) -> String {
    if shop.licences.is_empty() {
        return format!(
            r#"<p style="{P}">Licence: every clip comes with a royalty-free licence (<a href="{href}" style="{LINK}">the terms</a>).</p>
"#,
            href = attr(&terms_url(shop))
        );
    }
    let tiers: Vec<String> = shop
        .licences
        .iter()
        .map(|l| {
            let href = format!("{}{}", base(shop), l.page);
            format!(r#"<a href="{}" style="{LINK}">{}</a>"#, attr(&href), text(&l.name))
        })
        .collect();
    format!(
        r#"<p style="{P}">Licence: the one named with each clip. The terms: {}.</p>
"#,
        tiers.join(", ")
    )
}

fn base(shop: &ShopInfo) -> &str {
    shop.base_url.trim_end_matches('/')
}

/// Why an order's mail is sent: the order was paid (or the owner sends it
/// again), or a dispute closed in the shop's favour gave it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderMailReason {
    Paid,
    /// The owner sent the link again (`site-gen orders resend`, `reissue`):
    /// no thanks for an order made weeks ago.
    Resent,
    /// Says so: the customer was told the links were ended by the dispute.
    Restored,
}

/// The mail a customer gets when an order is paid: the order page link
/// (the download link), every clip with file name, size and SHA-256, the
/// licence, the downloads allowed and the expiry, and how to get the links
/// again.
pub fn order_mail(shop: &ShopInfo, order: &OrderMail, reason: OrderMailReason) -> Mail {
    let restored = reason == OrderMailReason::Restored;
    let (subject, opening) = if restored {
        (
            format!("Your clips from {} can be downloaded again: order {}", shop.title, order.order_id),
            format!(
                "The dispute about the payment of your order at {} is closed, and your downloads work again.",
                shop.title
            ),
        )
    } else {
        (
            format!("Your clips from {}: order {}", shop.title, order.order_id),
            if reason == OrderMailReason::Resent {
                format!("Here is the download link of your order at {}.", shop.title)
            } else {
                format!("Thank you for your order at {}.", shop.title)
            },
        )
    };
    let text_body = format!(
        "{opening}\n\n\
         Your downloads are ready. Open this page to download your clips (bookmark it):\n{url}\n\n\
         {order}\n{licence}\n\
         Keep the link private: anyone who has it can download these clips.\n\n\
         Lost this e-mail? Get your links again at {recover}\n\
         Questions about your order? Write to {contact}.\n\n\
         {shop}\n",
        shop = shop.title,
        url = order.order_url,
        order = order_text(order),
        licence = licence_text(shop),
        recover = order.recover_url,
        contact = shop.contact_email,
    );
    let content = format!(
        r#"<p style="{P}">{opening} Your downloads are ready.</p>
{button}{order}{licence}<p style="{P}{MUTED}">Keep the link private: anyone who has it can download these clips.</p>
<p style="margin:0;{MUTED}">Lost this e-mail? Get your links again at <a href="{recover_attr}" style="{LINK}">{recover}</a>.</p>
"#,
        opening = text(&opening),
        button = html_button(&order.order_url, "Download your clips"),
        order = order_html(order),
        licence = licence_html(shop),
        recover_attr = attr(&order.recover_url),
        recover = text(&order.recover_url),
    );
    Mail { to: order.to.clone(), html: html_frame(shop, &subject, &content), subject, text: text_body }
}

/// "Your download links": every order of the address, each with its link
/// and clips (the answer to a customer who lost the order mail).
/// The recovery mail: a fresh link for each order that still downloads,
/// and each of the address's orders that no longer does, with why
/// (`ended`: order id, reason), so that a customer whose link ran out is
/// told so rather than waiting for a mail that never comes.
/// `more`: the address has orders that are not listed (the mail names the
/// newest that download first, then the ended ones, up to a bound).
pub fn recovery_mail(shop: &ShopInfo, to: &str, orders: &[OrderMail], ended: &[(String, String)], more: bool) -> Mail {
    // Without a link to give, the mail says so from its subject on (a
    // refunded buyer read "Here are the download links" above none).
    let (subject, opening) = if orders.is_empty() {
        (
            format!("Your orders at {}", shop.title),
            format!("We found no order at {} that can still be downloaded for this address ({to}).", shop.title),
        )
    } else {
        (
            format!("Your download links from {}", shop.title),
            format!("Here are the download links of your orders at {}.", shop.title),
        )
    };
    let opening = if more {
        format!(
            "{opening} Not every order of this address is listed here: reply to {} with the numbers of any others.",
            shop.contact_email
        )
    } else {
        opening
    };
    let mut text_body = format!("{opening}\n\n");
    let mut content = format!("<p style=\"{P}\">{}</p>\n", text(&opening));
    if !ended.is_empty() {
        let intro = "These orders can no longer be downloaded:";
        text_body.push_str(&format!("{intro}\n"));
        content.push_str(&format!("<p style=\"{P}\">{intro}</p>\n<ul style=\"{P}\">\n"));
        for (order_id, why) in ended {
            text_body.push_str(&format!("- Order {order_id}: {why}\n"));
            content.push_str(&format!("<li>Order {}: {}</li>\n", text(order_id), text(why)));
        }
        content.push_str("</ul>\n");
        // Only a link whose time ran out can be given again for the asking.
        if ended.iter().any(|(_, why)| why.starts_with("expired")) {
            let again = format!(
                "For a new link of an order whose time ran out, reply to {} with its order number.",
                shop.contact_email
            );
            text_body.push_str(&format!("{again}\n"));
            content.push_str(&format!("<p style=\"{P}\">{}</p>\n", text(&again)));
        }
        text_body.push('\n');
    }
    if orders.is_empty() {
        text_body.push_str(&format!("Questions? Write to {}.\n\n{}\n", shop.contact_email, shop.title));
        content.push_str(&format!(
            "<p style=\"margin:0;{MUTED}\">Questions? Write to {}.</p>\n",
            text(&shop.contact_email)
        ));
        return Mail { to: to.to_string(), html: html_frame(shop, &subject, &content), subject, text: text_body };
    }
    for order in orders {
        text_body.push_str(&format!("Download page:\n{}\n\n{}\n", order.order_url, order_text(order)));
        content.push_str(&format!(
            r#"<div style="margin:0 0 24px;">
{}{}</div>
"#,
            html_button(&order.order_url, &format!("Downloads of order {}", order.order_id)),
            order_html(order)
        ));
    }
    text_body.push_str(&format!(
        "{}\nKeep these links private: anyone who has one can download its clips.\n\
         Questions? Write to {}.\n\n{}\n",
        licence_text(shop),
        shop.contact_email,
        shop.title
    ));
    content.push_str(&licence_html(shop));
    content.push_str(&format!(
        r#"<p style="margin:0;{MUTED}">Keep these links private: anyone who has one can download its clips.</p>
"#
    ));
    Mail { to: to.to_string(), html: html_frame(shop, &subject, &content), subject, text: text_body }
}

/// The mail of a delayed payment (a bank debit) that failed: no order was
/// made and no link will come, though the success page said it would. The
/// customer learns it from the shop, with what they chose (`titles`) and
/// the `amount`, rather than by waiting for a link.
pub fn payment_failed_mail(shop: &ShopInfo, to: &str, titles: &[String], amount: Option<&str>) -> Mail {
    let subject = format!("Your payment to {} did not go through", shop.title);
    let opening = match amount {
        Some(amount) => format!("Your payment of {amount} for clips at {} did not go through:", shop.title),
        None => format!("Your payment for clips at {} did not go through:", shop.title),
    };
    let opening = format!(
        "{opening} your bank or the payment provider turned it down, or it was not completed in time. No order was made, so no download link will come."
    );
    let again = format!("To buy them, order again at {}/ (a card payment gives the link at once).", base(shop));
    let taken = format!("If your bank shows the money as taken, write to {} with this e-mail.", shop.contact_email);
    let mut text_body = format!("{opening}\n\n");
    let mut content = format!("<p style=\"{P}\">{}</p>\n", text(&opening));
    if !titles.is_empty() {
        text_body.push_str("What you chose:\n");
        content.push_str(&format!("<p style=\"margin:0 0 8px;\">What you chose:</p>\n<ul style=\"{P}\">\n"));
        for title in titles {
            text_body.push_str(&format!("- {title}\n"));
            content.push_str(&format!("<li>{}</li>\n", text(title)));
        }
        text_body.push('\n');
        content.push_str("</ul>\n");
    }
    text_body.push_str(&format!("{again}\n{taken}\n\n{}\n", shop.title));
    content.push_str(&format!(
        "<p style=\"{P}\">{}</p>\n{}<p style=\"margin:0;{MUTED}\">{}</p>\n",
        text(&again),
        html_button(&format!("{}/", base(shop)), &format!("Back to {}", shop.title)),
        text(&taken)
    ));
    Mail { to: to.to_string(), html: html_frame(shop, &subject, &content), subject, text: text_body }
}

/// An alert for the owner (the self-test's notice text, as is).
pub fn alert_mail(shop: &ShopInfo, to: &str, subject: &str, body: &str) -> Mail {
    let content = format!(
        r#"<p style="margin:0;white-space:pre-wrap;font-family:Menlo,Consolas,monospace;font-size:14px;">{}</p>
"#,
        text(body)
    );
    Mail {
        to: to.to_string(),
        subject: subject.to_string(),
        text: format!("{body}\n\n(clipstore's scheduled self-test for {})\n", shop.title),
        html: html_frame(shop, subject, &content),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> ShopInfo {
        ShopInfo {
            licences: Vec::new(),
            title: "Saltglass & Co <Footage>".into(),
            base_url: "https://shop.example/".into(),
            contact_email: "help@shop.example".into(),
            currency: "EUR".into(),
            stylesheet: "/css/site.css".into(),
        }
    }

    fn order() -> OrderMail {
        OrderMail {
            to: "buyer@example.com".into(),
            order_id: "PAY-6ea005aecf7d370bb67e".into(),
            order_url: "https://shop.example/download/v1.abc?x=1&y=2".into(),
            clips: vec![
                MailClip {
                    title: "Harbour <at> dawn & dusk".into(),
                    file_name: "harbour-at-dawn.mp4".into(),
                    size: 281_694_000,
                    sha256: Some("ab".repeat(32)),
                },
                MailClip { title: "Dune grass".into(), file_name: "dune.mov".into(), size: 999, sha256: None },
            ],
            downloads_per_clip: 5,
            expires_at: 1_798_761_600, // 2027-01-01 00:00 UTC
            recover_url: "https://shop.example/recover/".into(),
            paid: Some("€73.00".into()),
            bought_at: None,
        }
    }

    #[test]
    fn clips_come_from_the_catalog() {
        let clip = clipstore_core::ManifestClip {
            variant: None,
            variants: Default::default(),
            title: "Harbour".into(),
            object_key: "clips/h.mp4".into(),
            file_name: "h.mp4".into(),
            size: 10,
            content_type: "video/mp4".into(),
            price: 1800,
            sha256: Some("ab".into()),
        };
        let catalog = CatalogManifest { version: 2, shop: shop(), clips: [("harbour".to_string(), clip)].into() };
        let main_file = clipstore_core::Choice::default();
        let clip = MailClip::of_item(&catalog, "harbour", &main_file).unwrap();
        assert_eq!((clip.title.as_str(), clip.size, clip.sha256.as_deref()), ("Harbour", 10, Some("ab")));
        assert_eq!(MailClip::of_item(&catalog, "gone", &main_file), None);
    }

    #[test]
    fn the_order_mail_has_everything_in_both_bodies() {
        let m = order_mail(&shop(), &order(), OrderMailReason::Paid);
        assert_eq!(m.to, "buyer@example.com");
        assert_eq!(m.subject, "Your clips from Saltglass & Co <Footage>: order PAY-6ea005aecf7d370bb67e");
        for needle in [
            "https://shop.example/download/v1.abc?x=1&y=2",
            "Harbour <at> dawn & dusk",
            "harbour-at-dawn.mp4 (282 MB)",
            &format!("SHA-256: {}", "ab".repeat(32)),
            "dune.mov (999 bytes)",
            "Thank you for your order at Saltglass & Co <Footage>.",
            "Order PAY-6ea005aecf7d370bb67e · 2 clips · paid €73.00\n",
            "downloaded 5 times in all, until 1 January 2027, 00:00 UTC; the download page shows how many are left",
            "royalty-free licence",
            "https://shop.example/terms/",
            "Lost this e-mail? Get your links again at https://shop.example/recover/",
            "help@shop.example",
        ] {
            assert!(m.text.contains(needle), "text lacks {needle:?}:\n{}", m.text);
        }
        assert_eq!(m.text.matches("SHA-256").count(), 1, "no hash line for a clip without one");
        for needle in [
            r#"href="https://shop.example/download/v1.abc?x=1&amp;y=2""#,
            "Harbour &lt;at&gt; dawn &amp; dusk",
            "harbour-at-dawn.mp4 · 282 MB",
            "Order <strong>PAY-6ea005aecf7d370bb67e</strong> · 2 clips · paid €73.00</p>",
            &"ab".repeat(32),
            "5 times in all, until <strong>1 January 2027, 00:00 UTC</strong>; the download page shows how many are left",
            "royalty-free licence",
            r#"href="https://shop.example/terms/""#,
            "Lost this e-mail?",
            r#"href="https://shop.example/recover/""#,
            "mailto:help@shop.example",
            "<title>Your clips from Saltglass &amp; Co &lt;Footage&gt;: order",
        ] {
            assert!(m.html.contains(needle), "html lacks {needle:?}:\n{}", m.html);
        }
        assert!(!m.html.contains("<at>") && !m.html.contains("Co <Footage>"), "unescaped value");
        assert!(!m.html.contains("<style") && !m.html.contains("<table") && !m.html.contains("<link"));
    }

    /// The mail of an order a won dispute gave back says so, in its subject
    /// and first line (the customer was told the links had ended), and has
    /// the same links and clips as the order mail.
    #[test]
    fn the_mail_of_a_restored_order_says_why_it_comes() {
        let paid = order_mail(&shop(), &order(), OrderMailReason::Paid);
        let m = order_mail(&shop(), &order(), OrderMailReason::Restored);
        assert_eq!(
            m.subject,
            "Your clips from Saltglass & Co <Footage> can be downloaded again: order PAY-6ea005aecf7d370bb67e"
        );
        let opening = "The dispute about the payment of your order at Saltglass & Co <Footage> is closed, and your downloads work again.";
        assert!(m.text.starts_with(opening), "{}", m.text);
        assert!(m
            .html
            .contains("The dispute about the payment of your order at Saltglass &amp; Co &lt;Footage&gt; is closed"));
        assert!(!m.text.contains("Thank you") && !m.html.contains("Thank you"));
        let after = |t: &str| t.split_once("Your downloads are ready.").unwrap().1.to_string();
        assert_eq!(after(&m.text), after(&paid.text), "the same links, clips and terms");
        // A link the owner sends again thanks for nothing (the refunds
        // review: "Thank you for your order" weeks after it).
        let resent = order_mail(&shop(), &order(), OrderMailReason::Resent);
        assert!(resent.text.starts_with("Here is the download link of your order at Saltglass & Co <Footage>."));
        assert!(!resent.text.contains("Thank you") && !resent.html.contains("Thank you"));
        assert_eq!(after(&resent.text), after(&paid.text));
    }

    /// A shop with licence tiers: the terms of each tier, not a generic
    /// "royalty-free" page the shop may not have.
    #[test]
    fn a_shop_with_tiers_links_the_terms_of_each() {
        let mut tiered = shop();
        let tier = |id: &str, name: &str| clipstore_core::ManifestLicence {
            id: id.into(),
            name: name.into(),
            factor_permille: 1000,
            surcharge: 0,
            page: format!("/licence-{id}/"),
        };
        tiered.licences = vec![tier("standard", "Standard"), tier("extended", "Extended <b>")];
        let m = order_mail(&tiered, &order(), OrderMailReason::Paid);
        assert!(m.text.contains(
            "The terms: Standard https://shop.example/licence-standard/, Extended <b> https://shop.example/licence-extended/"
        ));
        assert!(m.html.contains(r#"href="https://shop.example/licence-extended/" style="color:#1f4e5f;overflow-wrap:anywhere;">Extended &lt;b&gt;</a>"#), "{}", m.html);
        assert!(!m.text.contains("royalty-free") && !m.html.contains("/terms/"));
        let r = recovery_mail(&tiered, "buyer@example.com", &[order()], &[], false);
        assert!(r.text.contains("https://shop.example/licence-standard/") && !r.text.contains("/terms/"));
    }

    #[test]
    fn the_recovery_mail_lists_each_order() {
        let mut second = order();
        second.order_id = "ORD-2".into();
        second.order_url = "https://shop.example/download/v1.def".into();
        second.bought_at = Some(1_796_083_200); // 2026-12-01 00:00 UTC
        let m = recovery_mail(&shop(), "buyer@example.com", &[order(), second.clone()], &[], false);
        assert_eq!(m.subject, "Your download links from Saltglass & Co <Footage>");
        assert!(!m.text.contains("Not every order"));
        // An address with more orders than one mail lists is told so (the
        // scale review: the 21st was left out without a word).
        let more = recovery_mail(&shop(), "buyer@example.com", &[order(), second.clone()], &[], true);
        assert!(more.text.starts_with("Here are the download links of your orders at Saltglass & Co <Footage>. Not every order of this address is listed here: reply to help@shop.example with the numbers of any others."), "{}", more.text);
        for body in [&m.text, &m.html] {
            assert!(body.contains("PAY-6ea005aecf7d370bb67e") && body.contains("ORD-2"));
            // Two orders of the same clips told apart by when.
            assert!(body.contains("2 clips · bought 1 December 2026, 00:00 UTC"), "{body}");
            assert!(body.contains("https://shop.example/download/v1.def"));
            assert!(body.contains("harbour-at-dawn.mp4"));
        }
        assert!(!m.text.contains("no longer be downloaded"));
        let ended = [("ORD-1".to_string(), "expired on 1 December 2026, 00:00 UTC".to_string())];
        let none = recovery_mail(&shop(), "x@example.com", &[], &ended, false);
        assert_eq!(none.subject, "Your orders at Saltglass & Co <Footage>");
        assert!(none.text.starts_with(
            "We found no order at Saltglass & Co <Footage> that can still be downloaded for this address (x@example.com)."
        ));
        for body in [&none.text, &none.html] {
            assert!(body.contains("Order ORD-1: expired on 1 December 2026, 00:00 UTC"), "{body}");
            assert!(body.contains("whose time ran out, reply to ") && body.contains("with its order number"));
            // No links in it: nothing to keep private, no licence to read.
            assert!(!body.contains("Here are the download links") && !body.contains("Keep these links private"));
        }
        // A refunded or withdrawn order is named, with no offer of a new link.
        let refunded = [("ORD-3".to_string(), "refunded".to_string())];
        let m = recovery_mail(&shop(), "x@example.com", &[order()], &refunded, false);
        assert!(m.text.contains("- Order ORD-3: refunded") && !m.text.contains("time ran out"), "{}", m.text);
        assert!(m.text.starts_with("Here are the download links") && m.text.contains("Keep these links private"));
    }

    /// A customer whose bank debit failed is told so, with what they chose,
    /// the amount and how to buy again; every value escaped in the HTML.
    #[test]
    fn the_mail_of_a_failed_payment_says_no_link_will_come() {
        let titles = vec!["Harbour <at> dawn & dusk (4K, Extended licence)".to_string(), "Dune grass".to_string()];
        let m = payment_failed_mail(&shop(), "buyer@example.com", &titles, Some("€73.00"));
        assert_eq!(m.to, "buyer@example.com");
        assert_eq!(m.subject, "Your payment to Saltglass & Co <Footage> did not go through");
        for needle in [
            "Your payment of €73.00 for clips at Saltglass & Co <Footage> did not go through",
            "no download link will come",
            "- Harbour <at> dawn & dusk (4K, Extended licence)\n- Dune grass\n",
            "order again at https://shop.example/ ",
            "write to help@shop.example",
        ] {
            assert!(m.text.contains(needle), "text lacks {needle:?}:\n{}", m.text);
        }
        for needle in [
            "<li>Harbour &lt;at&gt; dawn &amp; dusk (4K, Extended licence)</li>",
            "Saltglass &amp; Co &lt;Footage&gt; did not go through",
            r#"href="https://shop.example/""#,
            "no download link will come",
        ] {
            assert!(m.html.contains(needle), "html lacks {needle:?}:\n{}", m.html);
        }
        assert!(!m.html.contains("<at>"), "unescaped title:\n{}", m.html);
        // A checkout without items the catalog knows (a Payment Link's) and
        // without an amount still says what happened.
        let m = payment_failed_mail(&shop(), "buyer@example.com", &[], None);
        assert!(m.text.starts_with("Your payment for clips at Saltglass & Co <Footage> did not go through"));
        assert!(!m.text.contains("What you chose") && !m.html.contains("<ul"));
    }

    #[test]
    fn the_alert_mail_is_the_notice_text() {
        let m = alert_mail(&shop(), "owner@example.com", "🚨 alert", "1 problem:\n- clip <a>: missing");
        assert!(m.text.starts_with("1 problem:\n- clip <a>: missing"));
        assert!(m.html.contains("clip &lt;a&gt;: missing") && m.html.contains("white-space:pre-wrap"));
    }
}
