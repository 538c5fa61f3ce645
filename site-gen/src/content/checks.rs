//! Checks across the loaded shop, each with the file and line to fix: the
//! prices no checkout can charge and two clips sharing one bucket file
//! (errors that stop a build), and the warnings a build prints and goes on.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use memchr::memmem;
use rayon::prelude::*;

use super::{Clip, ClipVariant, Page, Post, Price, Resolution};
use crate::config::{SiteConfig, SITE_CONFIG};
use crate::diagnostics::{display_path, Diagnostic, Diagnostics, Location};

/// The most Stripe charges for one item, in the currency's smallest unit
/// (99,999,999: $999,999.99, ¥99,999,999).
pub const MAX_CHARGE: u64 = 99_999_999;

/// Prices the shop's currency cannot charge: a fraction in a currency without
/// one (24.50 JPY), nothing at all (a clip on sale at 0: `site-gen new`'s
/// placeholder left in), or more than Stripe takes for an item, under any
/// licence tier. Checked here, with the file and line, because the
/// manifest and the Worker's checkout carry prices in the currency's
/// smallest unit (`clipstore_core::minor_units`).
pub fn unpayable_prices(root: &Path, clips: &[Clip], config: &SiteConfig) -> Diagnostics {
    let currency = config.currency.as_str();
    let mut errors = Diagnostics::default();
    let unpayable = |price: Price| clipstore_core::minor_units(price.cents, currency).is_none();
    errors.extend(unchargeable_prices(root, clips, config));
    for l in config.licences.iter().filter(|l| unpayable(l.surcharge)) {
        errors.push(
            Diagnostic::new(
                SITE_CONFIG,
                format!(
                    "`surcharge` {} has cents, but {currency} has no smaller unit than 1",
                    l.surcharge.display(currency)
                ),
            )
            .at(key_in_section(&root.join(SITE_CONFIG), &l.location, "surcharge"))
            .with_help("use a whole number, like surcharge = 1000"),
        );
    }
    for v in clips.iter().flat_map(|c| c.variants.iter().map(move |v| (c, v))).filter(|(_, v)| unpayable(v.price)) {
        let (clip, v) = v;
        errors.push(
            Diagnostic::new(
                crate::diagnostics::display_path(root, &clip.source),
                format!(
                    "the variant {:?}'s `price` {} has cents, but {currency} has no smaller unit than 1",
                    v.id,
                    v.price.display(currency)
                ),
            )
            .at(key_in_section(&root.join(&clip.source), &v.location, "price"))
            .with_help("use a whole number, like price = 1800"),
        );
    }
    for clip in clips.iter().filter(|c| unpayable(c.price)) {
        let mut d = Diagnostic::new(
            crate::diagnostics::display_path(root, &clip.source),
            format!("`price` {} has cents, but {currency} has no smaller unit than 1", clip.price.display(currency)),
        )
        .with_help("use a whole number, like price = 1800");
        if let Some(at) = price_line(root, clip) {
            d = d.at(at);
        }
        errors.push(d);
    }
    errors
}

/// Where a clip's own `price` is written (its first `price` line), read
/// again for an error found after loading.
fn price_line(root: &Path, clip: &Clip) -> Option<Location> {
    key_line(root, &clip.source, "price")
}

/// Where a front-matter key of the file at `source` is written (its first line).
fn key_line(root: &Path, source: &Path, key: &str) -> Option<Location> {
    let text = fs::read_to_string(root.join(source)).ok()?;
    let line = text.lines().position(|l| l.trim_start().starts_with(key))?;
    Some(Location::from_line(&text, line + 1))
}

/// A Payment Link's address as Stripe serves it, for comparing two:
/// without a query (`?prefilled_email=…`), a fragment or a trailing `/`,
/// its host in small letters.
fn payment_link_id(url: &str) -> String {
    let bare = url.split(['?', '#']).next().unwrap_or(url).trim_end_matches('/');
    let rest = bare.strip_prefix("https://").unwrap_or(bare);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    format!("{}/{path}", host.to_ascii_lowercase())
}

/// Two published clips with one Payment Link: the payment page and the
/// order the webhook makes are the link's (its price and `clips`
/// metadata), so a customer who buys the one gets what the link names, at
/// its price. The usual cause is a copied clip that kept its original's
/// link; a bundle sold from each of its clips' pages is the one meant use,
/// so this is a warning.
pub fn shared_payment_links<'a>(root: &Path, clips: impl IntoIterator<Item = &'a Clip>) -> Vec<Diagnostic> {
    let mut first: HashMap<String, &Clip> = HashMap::new();
    let mut errors = Vec::new();
    for clip in clips {
        let Some(link) = clip.stripe_payment_link.as_deref() else { continue };
        match first.get(&payment_link_id(link)) {
            None => {
                first.insert(payment_link_id(link), clip);
            }
            Some(other) => {
                let mut error = Diagnostic::new(
                    &clip.source,
                    format!(
                        "the clip {} has the Payment Link of the clip {} ({}): a customer who buys either gets what \
                         that link's `clips` metadata names, at its price",
                        clip.slug,
                        other.slug,
                        other.source.display()
                    ),
                )
                .with_help(
                    "unless it is a bundle link naming both, make a Payment Link for each clip in Stripe (Payment \
                     links → New, with the `clips` metadata docs/payments.md describes) and paste its address; a \
                     copied clip keeps the link of the one it was copied from",
                );
                if let Some(at) = key_line(root, &clip.source, "stripe_payment_link") {
                    error = error.at(at);
                }
                errors.push(error);
            }
        }
    }
    errors
}

/// Payment Links a customer could not pay with, or pay with for nothing:
/// a test-mode link (`buy.stripe.com/test_…`: only test cards; fine while
/// trying the shop out), and an address that is not Stripe's page for
/// customers (another provider's page takes money the Worker never hears
/// of, so the customer gets no link; a custom domain for Payment Links is
/// fine, and the warning says so). Clips of `clips` are published.
pub fn doubtful_payment_links(root: &Path, clips: &[Clip]) -> Vec<Diagnostic> {
    let mut warnings = Vec::new();
    for clip in clips {
        let Some(link) = clip.stripe_payment_link.as_deref() else { continue };
        let host = link.trim_start_matches("https://").split(['/', '?', '#']).next().unwrap_or_default();
        let path = link.trim_start_matches("https://").get(host.len()..).unwrap_or_default();
        let warning = if host.eq_ignore_ascii_case("buy.stripe.com") && path.starts_with("/test_") {
            Some((
                format!(
                    "the Payment Link of {} is a test-mode link: customers cannot pay real money with it",
                    clip.slug
                ),
                "before the shop goes live, paste the link's live-mode address (Stripe Dashboard, test mode off)",
            ))
        } else if host.eq_ignore_ascii_case("buy.stripe.com") {
            None
        } else {
            Some((
                format!(
                    "the Payment Link of {} is not on buy.stripe.com ({host}): the Worker makes orders only from Stripe's \
                     webhook, so a customer who pays elsewhere gets no download link",
                    clip.slug
                ),
                "paste the address Stripe shows for the Payment Link (https://buy.stripe.com/…); if this is your \
                 Payment Links' own domain set up in Stripe, nothing needs doing",
            ))
        };
        if let Some((message, help)) = warning {
            let mut w = Diagnostic::new(&clip.source, message).with_help(help);
            if let Some(at) = key_line(root, &clip.source, "stripe_payment_link") {
                w = w.at(at);
            }
            warnings.push(w);
        }
    }
    warnings
}

/// What to do about a price of 0 on a clip for sale.
pub const ZERO_PRICE_HELP: &str =
    "write what customers pay, like price = 24.00; a clip not ready for sale can stay `draft = true`";

/// A price of 0 on a clip or file for sale, or one that is more than
/// [`MAX_CHARGE`] under some licence tier (prices with a fraction the
/// currency lacks are [`unpayable_prices`]' to report).
fn unchargeable_prices(root: &Path, clips: &[Clip], config: &SiteConfig) -> Vec<Diagnostic> {
    let currency = config.currency.as_str();
    // A tier whose surcharge the currency cannot charge is reported apart.
    let licences: Vec<clipstore_core::ManifestLicence> =
        config.licences.iter().filter_map(|l| l.in_manifest(currency)).collect();
    // The most a file costs, under the dearest licence; `None` past u64.
    let dearest = |minor: u64| -> Option<u64> {
        if licences.is_empty() {
            return Some(minor);
        }
        licences.iter().map(|l| l.price(minor, currency)).try_fold(0, |most, p| p.map(|p| most.max(p)))
    };
    let most = crate::offers::from_minor_units(MAX_CHARGE, currency).display(currency);
    // Variant prices `site-gen media` wrote (a share of the clip's price,
    // 0 while the clip's was still the placeholder): media writes them again.
    let by_media = crate::media::variant_prices_written(root);
    let mut errors = Vec::new();
    for clip in clips {
        let main_price_at = || price_line(root, clip);
        let files = std::iter::once((None, clip.price, None))
            .chain(clip.variants.iter().map(|v| (Some(&v.id), v.price, Some(v.location.clone()))));
        for (variant, price, location) in files {
            let Some(minor) = clipstore_core::minor_units(price.cents, currency) else { continue };
            let what = variant.map_or("`price`".to_string(), |id| format!("the variant {id:?}'s `price`"));
            let error = if minor == 0 && !clip.draft {
                let made = variant.is_some_and(|id| {
                    by_media.get(&(clip.slug.clone(), id.clone())).is_some_and(|p| p == "0.00") && clip.price.cents > 0
                });
                Diagnostic::new(display_path(root, &clip.source), format!("{what} is 0: a clip on sale needs a price"))
                    .with_help(if made {
                        "`site-gen media` wrote it while the clip's own price was 0: run `site-gen media` again, \
                         and it writes this file's share of the clip's price"
                    } else {
                        ZERO_PRICE_HELP
                    })
            } else if dearest(minor).is_none_or(|m| m > MAX_CHARGE) {
                let under = if licences.is_empty() { "" } else { " (under the dearest licence tier)" };
                Diagnostic::new(
                    display_path(root, &clip.source),
                    format!(
                        "{what} {} is more than Stripe charges for one item{under}: {most} at most",
                        price.display(currency)
                    ),
                )
                .with_help("check the number for a slip of the keyboard, like an extra 0")
            } else {
                continue;
            };
            let location = location.or_else(main_price_at);
            errors.push(match location {
                Some(l) => error.at(l),
                None => error,
            });
        }
    }
    errors
}

/// Files on sale that cost less, under the cheapest licence tier, than the
/// smallest amount Stripe charges in the shop's currency: Stripe refuses a
/// checkout of one alone (only in a cart with others can it be paid for),
/// so the owner is warned on every build. Clips of `clips` are published.
pub fn under_stripe_minimum(root: &Path, clips: &[Clip], config: &SiteConfig) -> Vec<Diagnostic> {
    let currency = config.currency.as_str();
    let Some(least) = stripe_minimum_charge(currency) else { return Vec::new() };
    let licences: Vec<clipstore_core::ManifestLicence> =
        config.licences.iter().filter_map(|l| l.in_manifest(currency)).collect();
    let shown = |minor: u64| crate::offers::from_minor_units(minor, currency).display(currency);
    let mut warnings = Vec::new();
    for clip in clips {
        let files = std::iter::once((None, clip.price, None))
            .chain(clip.variants.iter().map(|v| (Some(&v.id), v.price, Some(v.location.clone()))));
        for (variant, price, location) in files {
            let Some(minor) = clipstore_core::minor_units(price.cents, currency) else { continue };
            let cheapest = licences.iter().filter_map(|l| l.price(minor, currency)).min().unwrap_or(minor);
            if cheapest >= least {
                continue;
            }
            let what = variant.map_or("`price`".to_string(), |id| format!("the variant {id:?}'s `price`"));
            let under = if cheapest == minor {
                String::new()
            } else {
                format!(" ({} under the cheapest licence tier)", shown(cheapest))
            };
            let warning = Diagnostic::new(
                display_path(root, &clip.source),
                format!(
                    "{what} {}{under} is under the smallest amount Stripe charges in {currency}, {}: bought alone it cannot be paid for, only in a cart with other clips",
                    price.display(currency),
                    shown(least)
                ),
            )
            .with_help("raise the price to at least that (Stripe's table: https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts)");
            warnings.push(match location.or_else(|| price_line(root, clip)) {
                Some(l) => warning.at(l),
                None => warning,
            });
        }
    }
    warnings
}

/// Files of a clip that cost [`CENTS_SLIP`] times as much as a file of it
/// with more pixels, or more: most likely a price typed in cents (`price =
/// 1250` for €12.50, then a variant at a `factor` of it costs €625 beside a
/// 720p at €8: the owner-CLI review). A smaller file that is dearer by less
/// may be meant (a camera original beside a 4K delivery file: the diff
/// review). Warned about on every build, at the file's price.
/// How many times a bigger file's price a smaller file's must be to be
/// taken for a slip (a price in cents is 100 times).
const CENTS_SLIP: u64 = 20;

pub fn smaller_files_costing_more(root: &Path, clips: &[Clip], currency: &str) -> Vec<Diagnostic> {
    let mut warnings = Vec::new();
    for clip in clips {
        let files: Vec<(Option<&ClipVariant>, &Resolution, Price)> =
            std::iter::once((None, &clip.resolution, clip.price))
                .chain(clip.variants.iter().map(|v| (Some(v), &v.resolution, v.price)))
                .collect();
        let pixels = |r: &Resolution| u64::from(r.width) * u64::from(r.height);
        let name = |v: Option<&ClipVariant>, r: &Resolution| match v {
            Some(v) => format!("the variant {:?} ({}x{})", v.id, r.width, r.height),
            None => format!("the clip's main file ({}x{})", r.width, r.height),
        };
        for &(variant, resolution, price) in &files {
            let bigger_and_cheaper = files
                .iter()
                .filter(|(_, r, p)| {
                    pixels(resolution) > 0
                        && pixels(r) > pixels(resolution)
                        && p.cents.saturating_mul(CENTS_SLIP) <= price.cents
                })
                .min_by_key(|(_, _, p)| p.cents);
            let Some(&(other, other_resolution, other_price)) = bigger_and_cheaper else { continue };
            let warning = Diagnostic::new(
                display_path(root, &clip.source),
                format!(
                    "{} costs {}, {} times as much as {} at {}, a bigger file: is a price written in cents?",
                    name(variant, resolution),
                    price.display(currency),
                    price.cents / other_price.cents.max(1),
                    name(other, other_resolution),
                    other_price.display(currency),
                ),
            )
            .with_help("prices are in the shop's currency with a point before the cents (12.50), not in cents (1250)");
            warnings.push(match variant.map(|v| v.location.clone()).or_else(|| price_line(root, clip)) {
                Some(l) => warning.at(l),
                None => warning,
            });
        }
    }
    warnings
}

/// Published news posts and pages with no text under their front matter:
/// each builds into an empty page, which nothing else would tell the owner
/// of (a draft may be empty; a clip's page shows its video and facts
/// without text). Warned about on every build, at the closing `+++` line.
pub fn empty_bodies(root: &Path, posts: &[Post], pages: &[Page]) -> Vec<Diagnostic> {
    let posts = posts.iter().filter(|p| !p.draft).map(|p| (&p.source, &p.content_html, "news post"));
    let pages = pages.iter().map(|p| (&p.source, &p.content_html, "page"));
    let mut warnings = Vec::new();
    for (source, _, kind) in posts.chain(pages).filter(|(_, html, _)| html.trim().is_empty()) {
        let keep_off = if kind == "page" {
            "to keep it off the site until it is written, move the file out of content/ (a page has no `draft`)"
        } else {
            "to keep it off the site until it is written, add the line `draft = true` above the closing `+++`"
        };
        let warning = Diagnostic::new(
            display_path(root, source),
            format!("the {kind} has no text under its front matter: it is on the site as an empty page"),
        )
        .with_help(format!("write its text under the closing `+++` line; or, {keep_off}"));
        warnings.push(match closing_fence(root, source) {
            Some(at) => warning.at(at),
            None => warning,
        });
    }
    warnings
}

/// Paragraphs indented by a tab or four spaces, as a word processor's
/// habit writes them: Markdown shows such a paragraph as code, in a grey
/// monospace box that does not wrap (cut off on a phone), and a post's
/// summary skips it. One warning per file, at the first such line; only
/// bodies with a code block are read again (the authoring review).
pub fn indented_paragraphs(root: &Path, clips: &[Clip], posts: &[Post], pages: &[Page]) -> Vec<Diagnostic> {
    let code = memmem::Finder::new("<pre><code>");
    let indented_in = |(source, html): &(&PathBuf, &String)| -> Option<Diagnostic> {
        code.find(html.as_bytes())?;
        let text = fs::read_to_string(root.join(source)).ok()?;
        let line = first_indented_paragraph(&text)?;
        Some(
            Diagnostic::new(
                display_path(root, source),
                "this paragraph starts with a tab or 4 spaces, so the page shows it as code: in a grey box, in a \
                 typewriter font, not wrapped to the screen",
            )
            .at(Location::from_line(&text, line))
            .with_help("remove the spaces or the tab at the start of its lines (to show code on purpose, put it between lines of ```)"),
        )
    };
    published_html(clips, posts, pages).par_iter().filter_map(indented_in).collect()
}

/// The line (1-based) of the first code block of `text`'s Markdown body
/// (after its front matter) that was written by indenting.
fn first_indented_paragraph(text: &str) -> Option<usize> {
    let mut offset = 0;
    let mut fences = 0;
    for line in text.split_inclusive('\n') {
        offset += line.len();
        if line.trim_start_matches('\u{feff}').trim_end() == "+++" {
            fences += 1;
            if fences == 2 {
                return crate::markdown::first_indented_code(text, offset);
            }
        } else if fences == 0 {
            return None;
        }
    }
    None
}

/// News posts with text but no paragraph of text for their summary (a post
/// that is a list, or whose first paragraph is an image): the news list,
/// the feed and search engines' description showed an empty summary.
pub fn posts_without_summary(root: &Path, posts: &[Post]) -> Vec<Diagnostic> {
    posts
        .iter()
        .filter(|p| {
            !p.draft
                && crate::structured_data::plain_text(&p.summary_html).trim().is_empty()
                && !p.content_html.trim().is_empty()
        })
        .map(|p| {
            let warning = Diagnostic::new(
                display_path(root, &p.source),
                "the post has no paragraph of text to show as its summary: the news list, the feed and search \
                 engines show it with none",
            )
            .with_help("add a line like `summary = \"Three new clips from the lake.\"` above the closing `+++`, or start the post with a sentence");
            match closing_fence(root, &p.source) {
                Some(at) => warning.at(at),
                None => warning,
            }
        })
        .collect()
}

/// Where `key` is written in the `[[section]]` of the file at `path` that
/// starts at `section`: an error of its value is shown at its line, not at
/// the section's header (the authoring review); the header when not found.
fn key_in_section(path: &Path, section: &Location, key: &str) -> Location {
    let Ok(text) = fs::read_to_string(path) else { return section.clone() };
    let written = |l: &str| l.trim_start().strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('='));
    text.lines()
        .enumerate()
        .skip(section.line)
        .take_while(|(_, l)| !l.trim_start().starts_with('[') && l.trim_end() != "+++")
        .find(|(_, l)| written(l))
        .map_or_else(|| section.clone(), |(at, _)| Location::from_line(&text, at + 1))
}

/// The rendered Markdown of what is published, with its file: each clip's
/// description, each news post's text (drafts left out), each page's. A
/// list, so the checks that scan it (all of a shop's bodies: 65 MB at
/// 15,000 items) share it out over every core.
fn published_html<'a>(clips: &'a [Clip], posts: &'a [Post], pages: &'a [Page]) -> Vec<(&'a PathBuf, &'a String)> {
    let clips = clips.iter().map(|c| (&c.source, &c.description_html));
    let posts = posts.iter().filter(|p| !p.draft).map(|p| (&p.source, &p.content_html));
    clips.chain(posts).chain(pages.iter().map(|p| (&p.source, &p.content_html))).collect()
}

/// Images written in Markdown that did not become one, so that the page
/// shows the text `![…](…)`: almost always a space in the address (a file
/// named as a phone or a screenshot tool names it), which Markdown does not
/// take. One warning per image, at its line; only files with one are read
/// again.
pub fn unmade_images(root: &Path, clips: &[Clip], posts: &[Post], pages: &[Page]) -> Vec<Diagnostic> {
    // `memmem` (SIMD) rather than `str::find`: this scans every body.
    let image = memmem::Finder::new("![");
    let unmade_in = |(source, html): &(&PathBuf, &String)| {
        let mut warnings = Vec::new();
        let mut from = 0;
        while let Some(at) = image.find(&html.as_bytes()[from..]).map(|i| from + i) {
            from = at + 2;
            // Shown as code on purpose (`![x](a b)` in a code span or block).
            let before = &html[..at];
            if before.rfind("<code").is_some_and(|open| before.rfind("</code>").is_none_or(|c| c < open)) {
                continue;
            }
            let rest = &html[from..];
            let Some(open) = rest.find("](").filter(|&i| !rest[..i].contains(['\n', '<'])) else { continue };
            let Some(close) = rest[open..].find(')').map(|i| open + i) else { continue };
            let address = &rest[open + 2..close];
            if address.contains('\n') || address.contains('<') || !address.trim().contains(' ') {
                continue;
            }
            let mut warning = Diagnostic::new(
                display_path(root, &root.join(source)),
                format!("this image did not become one, the page shows its text: its address `{address}` has a space"),
            )
            .with_help(format!(
                "write %20 in place of each space ({}), or rename the file without spaces",
                address.trim().replace(' ', "%20")
            ));
            let text = fs::read_to_string(root.join(source)).unwrap_or_default();
            if let Some(line) = text.lines().position(|l| l.contains(&format!("]({address})"))) {
                warning = warning.at(Location::from_line(&text, line + 1));
            }
            warnings.push(warning);
            from += close;
        }
        warnings
    };
    published_html(clips, posts, pages).par_iter().flat_map_iter(unmade_in).collect()
}

/// HTML written in Markdown that the shop's Content-Security-Policy
/// (`public/_headers`) stops from showing or running: an `<iframe>` (a
/// pasted video player) is an empty box, a `<script>` does not run, a
/// `style="…"` is ignored. One warning per kind and file, at its line.
pub fn blocked_html(root: &Path, clips: &[Clip], posts: &[Post], pages: &[Page]) -> Vec<Diagnostic> {
    const BLOCKED: [(&str, &str, &str); 3] = [
        (
            "<iframe",
            "an <iframe> (a pasted player) shows as an empty box",
            "link to the video instead, or put a clip's preview on its page",
        ),
        ("<script", "a <script> does not run", "take it out: pages run only the shop's own scripts"),
        (" style=", "a style=\"…\" attribute is ignored", "take it out; the look comes from the shop's stylesheet"),
    ];
    // `memmem` (SIMD) rather than `str::contains`: this scans every body three times.
    let finders = BLOCKED.map(|(tag, _, _)| memmem::Finder::new(tag));
    let blocked_in = |(source, html): &(&PathBuf, &String)| {
        // Inside a tag: the last `<` before it comes after the last `>`
        // (shown as code, the markup is escaped and has neither).
        let found = |finder: &memmem::Finder, tag: &str| {
            let mut at = finder.find_iter(html.as_bytes());
            if tag.starts_with('<') {
                at.next().is_some()
            } else {
                at.any(|at| html[..at].rfind('<') > html[..at].rfind('>'))
            }
        };
        let mut warnings = Vec::new();
        for ((tag, what, help), _) in BLOCKED.iter().zip(&finders).filter(|((tag, _, _), finder)| found(finder, tag)) {
            let mut warning = Diagnostic::new(
                display_path(root, &root.join(source)),
                format!("{what}: the shop's Content-Security-Policy blocks it"),
            )
            .with_help(*help);
            let text = fs::read_to_string(root.join(source)).unwrap_or_default();
            if let Some(line) = text.lines().position(|l| l.contains(tag)) {
                warning = warning.at(Location::from_line(&text, line + 1));
            }
            warnings.push(warning);
        }
        warnings
    };
    published_html(clips, posts, pages).par_iter().flat_map_iter(blocked_in).collect()
}

/// The closing `+++` line of a content file's front matter, read again for
/// a message found after loading.
fn closing_fence(root: &Path, source: &Path) -> Option<Location> {
    let text = fs::read_to_string(root.join(source)).ok()?;
    let at = text.lines().skip(1).position(|l| l.trim_end() == "+++")?;
    Some(Location::from_line(&text, at + 2))
}

/// The smallest amount Stripe charges in `currency` (ISO 4217, upper
/// case), in its minor units, where its table gives one
/// (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts):
/// a Checkout Session or Payment Link below it is refused.
fn stripe_minimum_charge(currency: &str) -> Option<u64> {
    const MINIMUMS: &[(&str, u64)] = &[
        ("AED", 200),
        ("AUD", 50),
        ("BGN", 100),
        ("BRL", 50),
        ("CAD", 50),
        ("CHF", 50),
        ("CZK", 1500),
        ("DKK", 250),
        ("EUR", 50),
        ("GBP", 30),
        ("HKD", 400),
        ("INR", 50),
        ("JPY", 50),
        ("MXN", 1000),
        ("MYR", 200),
        ("NOK", 300),
        ("NZD", 50),
        ("PLN", 200),
        ("RON", 200),
        ("SEK", 300),
        ("SGD", 50),
        ("THB", 1000),
        ("USD", 50),
    ];
    MINIMUMS.iter().find(|(c, _)| c.eq_ignore_ascii_case(currency)).map(|(_, least)| *least)
}

/// A licence tier whose terms page is not in the shop: every clip page would
/// link customers to a page that does not exist, for the terms they buy.
pub fn missing_licence_pages(config: &SiteConfig, pages: &[Page], static_files: &[PathBuf]) -> Vec<Diagnostic> {
    config
        .licences
        .iter()
        .filter(|l| {
            let path = l.page.split('#').next().unwrap_or_default();
            let is_page = pages.iter().any(|p| p.url() == path);
            let is_file = static_files.iter().any(|f| format!("/{}", f.to_string_lossy().replace('\\', "/")) == path);
            !is_page && !is_file
        })
        .map(|l| {
            let slug = l.page.trim_matches('/').replace('/', "-");
            // `/licence-extended` for `/licence-extended/`: the page is there.
            let with_slash = format!("{}/", l.page.split('#').next().unwrap_or_default());
            let help = if pages.iter().any(|p| p.url() == with_slash) {
                format!("a page's address ends with a slash: page = \"{with_slash}\"")
            } else {
                format!("write the terms in content/pages/{slug}.md, or give `page` the address of an existing page")
            };
            Diagnostic::new(
                SITE_CONFIG,
                format!("the licence `{}` has its terms at `{}`, but the shop has no page there", l.id, l.page),
            )
            .at(l.location.clone())
            .with_help(help)
        })
        .collect()
}

/// Two files of the catalog (clips' main files and their variants, drafts
/// included) with one bucket key: a customer who bought one would download
/// the other. The usual cause is a copied clip that kept its original's
/// `file`, or a pasted `[[variants]]` section.
pub fn shared_files<'a>(clips: impl IntoIterator<Item = &'a Clip>) -> Vec<Diagnostic> {
    let files = clips.into_iter().flat_map(|c| {
        std::iter::once((&c.file, c, &c.file_location, None))
            .chain(c.variants.iter().map(move |v| (&v.file, c, &v.location, Some(v.id.as_str()))))
    });
    let name = |clip: &Clip, variant: Option<&str>| match variant {
        Some(id) => format!("the variant `{id}` of {}", clip.slug),
        None => format!("the clip {}", clip.slug),
    };
    let mut first: HashMap<&String, (&Clip, &crate::diagnostics::Location, Option<&str>)> = HashMap::new();
    let mut errors = Vec::new();
    for (key, clip, location, variant) in files {
        match first.get(key) {
            None => {
                first.insert(key, (clip, location, variant));
            }
            Some((other, other_location, other_variant)) => errors.push(
                Diagnostic::new(
                    &clip.source,
                    format!(
                        "the file `{key}` of {} is also the file of {} ({}:{}): a customer who buys one would download the other",
                        name(clip, variant),
                        name(other, *other_variant),
                        other.source.display(),
                        other_location.line,
                    ),
                )
                .at(location.clone())
                .with_help("give each clip and each of its variants its own file in the bucket (a copied clip keeps the `file` of the one it was copied from)"),
            ),
        }
    }
    errors
}

/// Files sold under a `file_name` whose ending says another kind of file
/// than the bucket's `file` (`.mov` for an `.mp4`): the customer's download
/// is saved under the wrong ending and sent as that type, and a player that
/// goes by the ending may refuse it. Endings of one type (`.mp4` and
/// `.m4v`, `.mov` and `.qt`, `.mpg` and `.mpeg`) and endings no type is
/// known for (`.braw`) pass.
pub fn mismatched_file_endings(root: &Path, clips: &[Clip]) -> Vec<Diagnostic> {
    let kind = |name: &str| {
        let ending = Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
        let ending = match ending.as_str() {
            "m4v" => "mp4".to_string(),
            "jpeg" => "jpg".to_string(),
            _ => ending,
        };
        let mime = mime_guess::from_ext(&ending).first()?;
        Some((ending, mime))
    };
    let mut warnings = Vec::new();
    for clip in clips {
        let files = std::iter::once((&clip.file, &clip.file_name, None))
            .chain(clip.variants.iter().map(|v| (&v.file, &v.file_name, Some(v))));
        for (file, file_name, variant) in files {
            let (Some((file_ending, file_type)), Some((name_ending, name_type))) = (kind(file), kind(file_name)) else {
                continue;
            };
            if file_ending == name_ending || file_type == name_type {
                continue;
            }
            let stem = Path::new(file_name.as_str()).file_stem().and_then(|s| s.to_str()).unwrap_or(file_name);
            let ending = Path::new(file.as_str()).extension().and_then(|e| e.to_str()).unwrap_or(&file_ending);
            let whose = variant.map_or(String::new(), |v| format!(" (the variant `{}`)", v.id));
            let warning = Diagnostic::new(
                display_path(root, &clip.source),
                format!(
                    "`file_name` \"{file_name}\"{whose} ends .{name_ending}, but its file in the bucket, \"{file}\", \
                     is a .{file_ending} ({file_type}): the customer's download would be saved as a .{name_ending}, \
                     which their player may refuse"
                ),
            )
            .with_help(format!(
                "end `file_name` as the file does: file_name = \"{stem}.{ending}\" (if the file really is a \
                 .{name_ending}, rename it in the bucket and in `file` instead)"
            ));
            let location = match variant {
                Some(v) => Some(v.location.clone()),
                None => key_line(root, &clip.source, "file_name"),
            };
            warnings.push(match location {
                Some(l) => warning.at(l),
                None => warning,
            });
        }
    }
    warnings
}

/// The largest file Cloudflare deploys as a static asset (25 MiB, on every
/// plan: developers.cloudflare.com/workers/platform/limits/).
pub const MAX_DEPLOYED_FILE_BYTES: u64 = 25 * 1024 * 1024;

/// The most files a Worker version may have as static assets on the Workers
/// Free plan (the Paid plan takes [`MAX_DEPLOYED_FILES_PAID`]).
pub const MAX_DEPLOYED_FILES_FREE: usize = 20_000;

/// The most files a Worker version may have on the Workers Paid plan.
pub const MAX_DEPLOYED_FILES_PAID: usize = 100_000;

/// The warning for a file under static/ that `wrangler deploy` would refuse.
pub fn too_big_to_deploy(file: &Path, bytes: u64) -> Diagnostic {
    Diagnostic::new(
        file,
        format!(
            "this file is {:.1} MiB: Cloudflare does not deploy a file of the site over 25 MiB, so `wrangler deploy` \
             would refuse the whole site",
            bytes as f64 / (1024.0 * 1024.0)
        ),
    )
    .with_help(
        "make it smaller (a poster as a JPEG of a few hundred KB; a preview shorter or at a lower resolution: \
         `site-gen media` makes one), or sell it as a clip, served from the bucket",
    )
}

/// A file or folder under `static/` that the site leaves out as private
/// ([`super::load::is_private_static`]).
pub fn private_static_left_out(file: &Path) -> Diagnostic {
    let name = file.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let what = if name.ends_with('~') || name.ends_with(".bak") {
        "an editor's backup (a name ending in `~` or `.bak`)"
    } else if name == ".well-known" {
        "`.well-known/` is published only at the top of static/ (static/.well-known/), where a domain check asks for it"
    } else {
        "a name starting with a dot (like `.env`, `.dev.vars` or `.git`) usually holds secrets or a tool's data, \
         which Cloudflare would serve to anyone who asked"
    };
    Diagnostic::new(file, format!("left out of the site: {what}")).with_help(
        "keep it outside static/ (keys belong in edge-worker/.dev.vars or `wrangler secret put`); if it belongs \
             on the site, rename it without the dot, or put it under static/.well-known/, which is published",
    )
}

/// What the owner is told when the site has more files than Cloudflare
/// deploys (`files`, every page and static file), if it has.
pub fn too_many_to_deploy(files: usize) -> Option<String> {
    let plan = match files {
        n if n > MAX_DEPLOYED_FILES_PAID => "on any Workers plan (at most 100,000)",
        n if n > MAX_DEPLOYED_FILES_FREE => "on the Workers Free plan (at most 20,000; the Paid plan takes 100,000)",
        _ => return None,
    };
    Some(format!(
        "warning: the site has {files} files, more than Cloudflare deploys {plan}: `wrangler deploy` would refuse it. \
         Fewer pages (a larger items_per_page in content/site.toml makes fewer list pages) or fewer files under static/ \
         bring it down\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cloudflare's limits per Worker version: 20,000 files on the Free
    /// plan, 100,000 on the Paid plan.
    #[test]
    fn a_site_over_cloudflares_file_count_is_named_with_the_plan_it_fits() {
        assert_eq!(too_many_to_deploy(20_000), None);
        let free = too_many_to_deploy(20_001).unwrap();
        assert!(free.starts_with("warning: the site has 20001 files, more than Cloudflare deploys on the Workers Free plan (at most 20,000; the Paid plan takes 100,000)"), "{free}");
        assert!(free.contains("items_per_page"), "{free}");
        assert!(too_many_to_deploy(100_000).unwrap().contains("Free plan"));
        let any = too_many_to_deploy(100_001).unwrap();
        assert!(any.contains("on any Workers plan (at most 100,000)"), "{any}");
    }
}
