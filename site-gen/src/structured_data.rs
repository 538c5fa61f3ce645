//! JSON-LD for search engines: a clip page's `VideoObject` and `Product`
//! (with an `Offer` per file), a news post's `BlogPosting` (schema.org; what Google's
//! video, product and article rich results read).
//!
//! The templates put the text into `<script type="application/ld+json">`:
//! a data block, not a script, so the shop's Content-Security-Policy lets it
//! be. It is escaped so that nothing in a title can close that element.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::content::{Clip, Post, Shop};

/// The JSON-LD of a clip's page: the clip as a video (its preview, poster,
/// duration) and as a product with its price.
pub fn clip(shop: &Shop, clip: &Clip) -> String {
    let config = &shop.config;
    let page = config.absolute(&clip.url());
    let poster = absolute(shop, &clip.poster);
    let description = plain_text(crate::markdown::first_paragraph(&clip.description_html));
    let description = if description.is_empty() { clip.title.clone() } else { description };
    // What Google's video and product results read, and no more: the JSON
    // is on every clip's page (issue 16 counts the bytes).
    let mut video = json!({
        "@type": "VideoObject",
        "name": clip.title,
        "description": description,
        "thumbnailUrl": poster,
        "uploadDate": rfc3339(clip.date),
        "duration": iso8601_duration(clip.duration.seconds),
    });
    if let Some(preview) = &clip.preview {
        video["contentUrl"] = Value::String(absolute(shop, preview));
    }
    // One offer per file (main file first) under the default licence, priced
    // as the checkout charges it; a clip with one file keeps one `Offer`.
    let offers = crate::offers::Offers::of(shop, clip);
    let offer = |p: &crate::offers::Priced| {
        json!({
            "@type": "Offer",
            "price": p.price.amount(),
            "priceCurrency": config.currency,
            "availability": "https://schema.org/InStock",
            "url": page,
        })
    };
    let offers = if clip.stripe_payment_link.is_some() {
        // Sold through its Payment Link: one offer, at the price its page shows.
        let mut one = offer(offers.default());
        one["price"] = Value::String(clip.price.amount());
        one
    } else if offers.files.len() == 1 {
        offer(offers.default())
    } else {
        let each = offers.per_file().map(|p| {
            let mut o = offer(p);
            o["name"] = Value::String(p.description.clone());
            o["sku"] = Value::String(p.item.clone());
            o
        });
        Value::Array(each.collect())
    };
    let product = json!({
        "@type": "Product",
        "name": clip.title,
        "image": poster,
        "sku": clip.slug,
        "offers": offers,
    });
    script_text(&json!({"@context": "https://schema.org", "@graph": [video, product]}))
}

/// The JSON-LD of a news post's page.
pub fn post(shop: &Shop, post: &Post) -> String {
    let config = &shop.config;
    let posting = json!({
        "@context": "https://schema.org",
        "@type": "BlogPosting",
        "headline": post.title,
        "datePublished": rfc3339(post.date),
        "dateModified": rfc3339(post.updated.unwrap_or(post.date)),
        "url": config.absolute(&post.url()),
        "author": {"@type": "Organization", "name": config.title, "url": config.absolute("/")},
    });
    script_text(&posting)
}

/// `PT1M5S`: a duration in ISO 8601, as schema.org wants it.
pub fn iso8601_duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut out = String::from("PT");
    if h > 0 {
        out += &format!("{h}H");
    }
    if m > 0 {
        out += &format!("{m}M");
    }
    if s > 0 || (h == 0 && m == 0) {
        out += &format!("{s}S");
    }
    out
}

/// A site path as a full address (`https://shop.example/posters/a.jpg`);
/// a full address as it is.
pub(crate) fn absolute(shop: &Shop, path: &str) -> String {
    if path.starts_with("https://") || path.starts_with("http://") {
        path.to_string()
    } else {
        shop.config.absolute(path)
    }
}

fn rfc3339(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The text of an HTML fragment: tags dropped, entities decoded, white
/// space collapsed (also a page's `description` for its meta tags).
pub fn plain_text(html: &str) -> String {
    // Each tag becomes a space; an unclosed one drops the rest.
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            rest = "";
            break;
        };
        text.push(' ');
        rest = &rest[open + close + 1..];
    }
    text.push_str(rest);
    let decoded = html_escape::decode_html_entities(&text);
    let mut collapsed = String::with_capacity(decoded.len());
    for word in decoded.split_whitespace() {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    collapsed
}

/// JSON that can stand inside `<script>`: `<` is written `\u003c`, so no
/// `</script>` or `<!--` in a title ends the element early.
fn script_text(value: &Value) -> String {
    serde_json::to_string(value).expect("JSON values serialize").replace('<', "\\u003c")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_iso_8601() {
        assert_eq!(iso8601_duration(0), "PT0S");
        assert_eq!(iso8601_duration(42), "PT42S");
        assert_eq!(iso8601_duration(65), "PT1M5S");
        assert_eq!(iso8601_duration(3600), "PT1H");
        assert_eq!(iso8601_duration(3725), "PT1H2M5S");
    }

    #[test]
    fn html_becomes_plain_text() {
        assert_eq!(plain_text("<p>Fog &amp; <em>light</em>\n over   the bay.</p>"), "Fog & light over the bay.");
        assert_eq!(plain_text("<p>a</p><p>b</p>"), "a b");
        assert_eq!(plain_text("a > b <i class=\"<x\">c</i> d<br"), "a > b c d");
        assert_eq!(plain_text(" \u{a0}é&nbsp;&lt;b&gt;\t"), "é <b>");
    }

    #[test]
    fn nothing_in_a_title_closes_the_script_element() {
        let text = script_text(&json!({"name": "</script><script>alert(1)</script><!--"}));
        assert!(!text.contains('<'), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["name"], "</script><script>alert(1)</script><!--");
    }
}
