//! The lower resolutions an owner sells beside each master, as `site-gen
//! media` makes them: the `[[media_variants]]` sections of `site.toml`
//! (one per resolution: its height, its price or a share of the clip's
//! price, and optionally an id, a label and the clips it is for), and the
//! pure decisions about one clip: which variants its master allows (never
//! an upscale), and each one's id, label, bucket key, file name and price.
//!
//! A variant's `height` is its "p" number, its short side: the lines of a
//! landscape picture, the width of an upright one (a `height = 720` of a
//! 2160x3840 master is 720x1280, as its label "720p" says).
//!
//! The encoding itself, and writing the `[[variants]]` sections into the
//! clip's front matter, are `crate::media`'s.

use crate::content::Price;
use crate::diagnostics::{Diagnostic, Location};
use crate::front_matter::FrontMatter;

/// Keys of one `[[media_variants]]` section.
pub const KEYS: &[&str] = &["height", "price", "factor", "id", "label", "clips"];

/// How a variant made from the master is encoded; part of what it is
/// remembered with, so changing it here remakes every variant.
pub const RECIPE: &str =
    "v3: x264 crf 20 preset medium, at most the master's video bit rate times the heights' ratio, yuv420p, AAC 160k, faststart";

/// One `[[media_variants]]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantSetting {
    /// What carts and tokens name it by (default `<height>p`, like `480p`).
    pub id: String,
    /// What customers read (default `4K` at 2160 lines, else `<height>p`).
    pub label: String,
    /// Its short side, its "p" number: the lines of a landscape picture,
    /// the width of an upright one; the other side follows the master's shape.
    pub height: u32,
    pub price: VariantPrice,
    /// The clips (by address name) it is made for; empty: every clip.
    pub clips: Vec<String>,
    /// Its `[[media_variants]]` line, for messages.
    pub location: Location,
}

/// A variant's price: the same for every clip, or a share of each clip's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VariantPrice {
    Fixed(Price),
    /// Thousandths of the clip's price: 500 is half.
    Share(u32),
}

/// What `site-gen media` makes for one clip from one setting.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedVariant {
    pub id: String,
    pub label: String,
    /// Its short side (see [`VariantSetting::height`]).
    pub height: u32,
    /// Its key in the bucket, beside the master's: `clips/x.mp4` → `clips/x-480p.mp4`.
    pub key: String,
    /// What the customer's download is saved as: `X (720p).mp4` → `X (480p).mp4`.
    pub file_name: String,
    pub price: Price,
}

/// Whether a master of `width` × `height` stands upright (is taller than
/// wide): its variants' `height` is then their width.
pub fn upright(width: u64, height: u64) -> bool {
    height > width
}

/// The side of a master of `width` × `height` a variant's `height` is
/// compared with and scales: its short side (its height unless upright).
pub fn short_side(width: u64, height: u64) -> u64 {
    if upright(width, height) {
        width
    } else {
        height
    }
}

/// What a variant `height` made from a master of this shape is remembered
/// with (with [`RECIPE`]): another height, or the master turned upright,
/// is another file.
pub fn recipe(height: u32, upright: bool) -> String {
    if upright {
        format!("{RECIPE}; {height} wide, upright")
    } else {
        format!("{RECIPE}; {height} lines")
    }
}

/// The short side a [`recipe`] names (of a recipe from before upright
/// masters were scaled by their width, too: its lines).
pub fn recipe_height(recipe: &str) -> Option<u64> {
    let last = recipe.rsplit("; ").next()?;
    last.strip_suffix(" lines").or_else(|| last.strip_suffix(" wide, upright"))?.parse().ok()
}

/// How a message names a variant's size: `720 lines high`, or, for an
/// upright master, `720 pixels wide`.
pub fn size_words(height: u64, upright: bool) -> String {
    if upright {
        format!("{height} pixels wide")
    } else {
        format!("{height} lines high")
    }
}

/// The familiar name of a height.
pub fn height_label(height: u32) -> String {
    if height >= 2160 {
        "4K".into()
    } else {
        format!("{height}p")
    }
}

/// Reads the `[[media_variants]]` sections; errors go to `errors`.
pub fn parse(f: &mut FrontMatter, file: &std::path::Path, errors: &mut Vec<Diagnostic>) -> Vec<VariantSetting> {
    let mut out: Vec<VariantSetting> = Vec::new();
    for mut t in f.tables("media_variants", KEYS) {
        let mut errs = Vec::new();
        let height = t.u64("height", Some("height = 720")).and_then(|h| {
            if (16..=8640).contains(&h) && h % 2 == 0 {
                Some(h as u32)
            } else {
                errs.push(t.error_at_key(
                    "height",
                    format!("`height` must be an even number of lines from 16 to 8640, like 720; found {h}"),
                ));
                None
            }
        });
        let price = match (t.value("price", None), t.value("factor", None)) {
            (Some(p), None) => Price::parse(&p)
                .map(VariantPrice::Fixed)
                .map_err(|e| errs.push(t.error_at_key("price", format!("`price` {e}"))))
                .ok(),
            (None, Some(v)) => {
                let f = v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
                match f.map(|f| (f, (f * 1000.0).round())) {
                    Some((f, p)) if (1.0..=1000.0).contains(&p) && (p / 1000.0 - f).abs() < 1e-9 => {
                        Some(VariantPrice::Share(p as u32))
                    }
                    _ => {
                        errs.push(
                            t.error_at_key(
                                "factor",
                                format!(
                                    "`factor` must be a number from 0.001 to 1 with at most three decimals, found {v}"
                                ),
                            )
                            .with_help("`factor = 0.5` sells the smaller file at half the clip's price"),
                        );
                        None
                    }
                }
            }
            (Some(_), Some(_)) => {
                errs.push(t.error_at_key("factor", "give either `price` or `factor`, not both").with_help(
                    "`price = 12.00` is the same for every clip; `factor = 0.5` is half of each clip's price",
                ));
                None
            }
            (None, None) => {
                errs.push(
                    Diagnostic::new(file, "missing `price` or `factor` in this `[[media_variants]]`")
                        .at(t.start())
                        .with_help("add `price = 12.00` (every clip) or `factor = 0.5` (half of each clip's price)"),
                );
                None
            }
        };
        let id = t.string("id", None);
        let label = t.string("label", None);
        let clips = t.string_list("clips");
        let location = t.start();
        let written = id.is_some();
        let id = id.or_else(|| height.map(|h| format!("{h}p")));
        if let Some(id) = &id {
            if !clipstore_core::token::is_valid_choice_id(id) || out.iter().any(|o| o.id == *id) {
                let message =
                    format!("each `[[media_variants]]` needs its own id of 1-32 a-z, 0-9 and -; found \"{id}\"");
                let d = if written {
                    t.error_at_key("id", message)
                } else {
                    Diagnostic::new(file, message).at(location.clone())
                };
                errs.push(d.with_help("two sections of one height need an `id = \"…\"` each"));
            }
        }
        errs.append(&mut t.errors);
        if !errs.is_empty() {
            errors.append(&mut errs);
            continue;
        }
        let height = height.unwrap();
        out.push(VariantSetting {
            id: id.unwrap(),
            label: label.unwrap_or_else(|| height_label(height)),
            height,
            price: price.unwrap(),
            clips,
            location,
        });
    }
    out
}

/// A share of `price`, rounded half up to what `currency` can charge
/// (cents, or whole units for currencies without them).
pub fn share_of(price: Price, permille: u32, currency: &str) -> Price {
    let unit = if clipstore_core::minor_units(1, currency).is_some() { 1 } else { 100 };
    let exact = price.cents as u128 * permille as u128;
    let step = 1000 * unit as u128;
    Price { cents: ((exact + step / 2) / step * unit as u128) as u64 }
}

/// `key` with `-<id>` before its extension, in the same folder.
fn sibling_key(key: &str, id: &str) -> String {
    let (dir, name) = key.rsplit_once('/').map_or(("", key), |(d, n)| (d, n));
    let with_id = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}-{id}.{ext}"),
        _ => format!("{name}-{id}"),
    };
    if dir.is_empty() {
        with_id
    } else {
        format!("{dir}/{with_id}")
    }
}

/// The "p" number a picture of `width` × `height` is known by: its short
/// side, or, for a frame wider than 16:9 (scope, 1920×800), the height its
/// width has at 16:9 (1080); 854×480 is 480, 1080×1920 (upright) 1080.
pub fn p_number(width: u32, height: u32) -> u32 {
    let (short, long) = (width.min(height), width.max(height));
    short.max((u64::from(long) * 9 / 16) as u32)
}

/// `1080p`, or `4K` from 2160 on: how a file name says its resolution.
pub fn p_label(width: u32, height: u32) -> String {
    match p_number(width, height) {
        2160.. => "4K".into(),
        p => format!("{p}p"),
    }
}

/// The customer's file name with the resolution its last parentheses name
/// corrected for a master of `width` × `height` (`Harbour (1080p).mp4`, as
/// `site-gen new` guessed, for a 720p master: `Harbour (720p).mp4`). `None`
/// when the name says none (`(HD)`, `(take 2)`) or says one this master
/// is known by (`(1080p)` for 1920×800, `(4K)` for 4096×1716).
pub fn file_name_for_master(file_name: &str, width: u32, height: u32) -> Option<String> {
    let stem = file_name.rsplit_once('.').map_or(file_name, |(s, _)| s);
    let (_, inner) = stem.trim_end().strip_suffix(')')?.rsplit_once(" (")?;
    let number = |n: &str| n.parse::<u32>().ok().filter(|&n| n > 0);
    let p = p_number(width, height);
    let right = if inner.eq_ignore_ascii_case("4k") {
        p >= 2160
    } else if let Some(lines) = inner.strip_suffix(['p', 'P']).and_then(number) {
        lines == p || lines == height || lines == width.min(height)
    } else {
        let (w, h) = inner.split_once(['x', '×'])?;
        let (w, h) = (number(w)?, number(h)?);
        (w, h) == (width, height) || (h, w) == (width, height)
    };
    (!right).then(|| sibling_file_name(file_name, &p_label(width, height)))
}

/// `file_name` ending as the file at `key` does (`Harbour (1080p).mp4`, as
/// `site-gen new` guesses, for `clips/harbour.mov`: `Harbour (1080p).mov`),
/// or None when it does already, or either has no ending. (The customer's
/// download would be saved as a .mp4 that their player may refuse, and
/// each variant's name was made from it too.)
pub fn file_name_ending_as(file_name: &str, key: &str) -> Option<String> {
    fn ending(name: &str) -> Option<(&str, &str)> {
        name.rsplit_once('.').filter(|(stem, e)| !stem.is_empty() && !e.is_empty())
    }
    let file = key.rsplit('/').next().unwrap_or(key);
    let ((stem, named), (_, real)) = (ending(file_name)?, ending(file)?);
    (!named.eq_ignore_ascii_case(real)).then(|| format!("{stem}.{real}"))
}

/// `Harbour at Dawn (720p).mp4` → `Harbour at Dawn (480p).mp4`: the main
/// file's name with its last `(…)` replaced by (or given) `label`.
fn sibling_file_name(file_name: &str, label: &str) -> String {
    let (stem, ext) = match file_name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s, Some(e)),
        _ => (file_name, None),
    };
    let stem = match stem.trim_end().strip_suffix(')').and_then(|s| s.rsplit_once(" (")) {
        Some((base, _)) => base,
        None => stem.trim_end(),
    };
    match ext {
        Some(ext) => format!("{stem} ({label}).{ext}"),
        None => format!("{stem} ({label})"),
    }
}

/// Variants priced by `site-gen media` from a `factor` of their clip's
/// price, and whose clip's price changed since: the site sells them at the
/// share of the old price until media runs again (a price the owner wrote
/// by hand in the section is theirs, and not compared).
pub fn stale_shares(
    root: &std::path::Path,
    settings: &[VariantSetting],
    currency: &str,
    clips: &[crate::content::Clip],
) -> Vec<Diagnostic> {
    let share = |slug: &str, id: &str| {
        settings.iter().find_map(|s| match s.price {
            VariantPrice::Share(permille)
                if s.id == id && (s.clips.is_empty() || s.clips.iter().any(|c| c == slug)) =>
            {
                Some(permille)
            }
            _ => None,
        })
    };
    if !settings.iter().any(|s| matches!(s.price, VariantPrice::Share(_))) {
        return Vec::new();
    }
    let written = crate::media::variant_prices_written(root);
    let mut warnings = Vec::new();
    for clip in clips {
        for v in &clip.variants {
            let Some(permille) = share(&clip.slug, &v.id) else { continue };
            let now = share_of(clip.price, permille, currency);
            let by_media = written.get(&(clip.slug.clone(), v.id.clone())) == Some(&crate::media::price_text(v.price));
            if now == v.price || !by_media {
                continue;
            }
            let factor = format!("{}.{:03}", permille / 1000, permille % 1000);
            let factor = factor.trim_end_matches('0');
            warnings.push(
                Diagnostic::new(
                    crate::diagnostics::display_path(root, &clip.source),
                    format!(
                        "the variant {:?} still costs {}, its share of the clip's price before it changed: \
                         site.toml's `factor = {factor}` of {} is {}",
                        v.id,
                        v.price.display(currency),
                        clip.price.display(currency),
                        now.display(currency)
                    ),
                )
                .at(v.location.clone())
                .with_help("run `site-gen media` to set it (a price you write in the section by hand stays yours)"),
            );
        }
    }
    warnings
}

/// The variants to make for the clip `slug` whose master (at `key`, sold as
/// `file_name` for `price`) is `master_width` × `master_height`: each
/// setting for this clip whose height is below the master's short side
/// (never an upscale; an upright 1080x1920 master gets no `height = 1080`),
/// in the order of `site.toml`.
pub fn plan(
    settings: &[VariantSetting],
    slug: &str,
    key: &str,
    file_name: &str,
    price: Price,
    (master_width, master_height): (u64, u64),
    currency: &str,
) -> Vec<PlannedVariant> {
    let short = short_side(master_width, master_height);
    settings
        .iter()
        .filter(|s| s.clips.is_empty() || s.clips.iter().any(|c| c == slug))
        .filter(|s| u64::from(s.height) < short)
        .map(|s| PlannedVariant {
            id: s.id.clone(),
            label: s.label.clone(),
            height: s.height,
            key: sibling_key(key, &s.id),
            file_name: sibling_file_name(file_name, &s.label),
            price: match s.price {
                VariantPrice::Fixed(p) => p,
                VariantPrice::Share(permille) => share_of(price, permille, currency),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front_matter::SourceFile;

    fn settings(text: &str) -> Result<Vec<VariantSetting>, Vec<String>> {
        let file = SourceFile { display: "content/site.toml".into(), text: text.into() };
        let mut f = FrontMatter::whole_file(&file, &["title", "media_variants"]).unwrap();
        let mut errors = Vec::new();
        let out = parse(&mut f, std::path::Path::new("content/site.toml"), &mut errors);
        errors.append(&mut f.errors);
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors.iter().map(|d| d.to_string()).collect())
        }
    }

    /// Found by the review of the first version: 480p, scope and 4K DCI
    /// names were "corrected" though right.
    #[test]
    fn a_file_name_is_corrected_only_when_it_names_another_resolution() {
        for (name, (w, h), fixed) in [
            ("Dune (1080p).mp4", (1280, 720), Some("Dune (720p).mp4")),
            ("CHANGE-ME First Clip (1080p).mp4", (640, 360), Some("CHANGE-ME First Clip (360p).mp4")),
            ("Dune (720p).mp4", (3840, 2160), Some("Dune (4K).mp4")),
            ("Dune (1280x720).mp4", (1920, 1080), Some("Dune (1080p).mp4")),
            ("Dune (480p).mp4", (854, 480), None),
            ("Dune (1080p).mp4", (1920, 800), None),
            ("Dune (4K).mp4", (4096, 1716), None),
            ("Dune (2160p).mp4", (3840, 2160), None),
            ("Dune (1080p).mp4", (1080, 1920), None),
            ("Dune (1080p).mp4", (1440, 1080), None),
            ("Dune (1920×1080).mp4", (1920, 1080), None),
            ("Dune (HD).mp4", (640, 360), None),
            ("Dune (take 2).mp4", (640, 360), None),
            ("Dune.mp4", (640, 360), None),
        ] {
            assert_eq!(file_name_for_master(name, w, h).as_deref(), fixed, "{name} for {w}x{h}");
        }
    }

    #[test]
    fn reads_heights_prices_and_shares() {
        let s = settings(
            "title = \"T\"\n[[media_variants]]\nheight = 480\nprice = 14\n\n[[media_variants]]\nheight = 2160\nfactor = 0.5\nid = \"uhd\"\nclips = [\"a\"]\n",
        )
        .unwrap();
        assert_eq!(
            (s[0].id.as_str(), s[0].label.as_str(), s[0].price),
            ("480p", "480p", VariantPrice::Fixed(Price { cents: 1400 }))
        );
        assert_eq!((s[1].id.as_str(), s[1].label.as_str(), s[1].price), ("uhd", "4K", VariantPrice::Share(500)));
        assert_eq!(s[1].location.line, 6);
        assert_eq!(settings("title = \"T\"\n").unwrap(), vec![]);
    }

    #[test]
    fn mistakes_point_at_their_line() {
        let errs = settings(
            "title = \"T\"\n[[media_variants]]\nheight = 481\nprice = 1\n[[media_variants]]\nheight = 360\n[[media_variants]]\nheight = 360\nfactor = 2\n[[media_variants]]\nheight = 480\nprice = 1\n[[media_variants]]\nheight = 480\nprice = 2\n",
        )
        .unwrap_err();
        let has = |needle: &str, line: &str| errs.iter().any(|m| m.contains(needle) && m.contains(line));
        assert!(has("`height` must be an even number", ":3:"), "{errs:#?}");
        assert!(has("missing `price` or `factor`", ":5:"), "{errs:#?}");
        assert!(has("`factor` must be a number from 0.001 to 1", ":9:"), "{errs:#?}");
        assert!(has("its own id", ":13:"), "a second 480p: {errs:#?}");
    }

    #[test]
    fn shares_round_to_what_the_currency_charges() {
        assert_eq!(share_of(Price { cents: 2450 }, 600, "EUR").cents, 1470);
        assert_eq!(share_of(Price { cents: 2401 }, 500, "EUR").cents, 1201, "12.005 rounds up");
        assert_eq!(share_of(Price { cents: 250_000 }, 333, "JPY").cents, 83_300);
        assert_eq!(share_of(Price { cents: 250_000 }, 331, "JPY").cents, 82_800, "827.5 yen rounds up to 828");
    }

    #[test]
    fn plans_only_downscales_beside_the_master() {
        let s = settings(
            "title = \"T\"\n[[media_variants]]\nheight = 1080\nprice = 30\n[[media_variants]]\nheight = 720\nfactor = 0.5\n[[media_variants]]\nheight = 360\nprice = 5\nclips = [\"other\"]\n",
        )
        .unwrap();
        let p = plan(
            &s,
            "harbour",
            "clips/harbour.mp4",
            "Harbour at Dawn (1080p).mp4",
            Price { cents: 2400 },
            (1920, 1080),
            "EUR",
        );
        assert_eq!(
            p,
            vec![PlannedVariant {
                id: "720p".into(),
                label: "720p".into(),
                height: 720,
                key: "clips/harbour-720p.mp4".into(),
                file_name: "Harbour at Dawn (720p).mp4".into(),
                price: Price { cents: 1200 },
            }],
            "1080 is not below a 1080p master; 360 is for another clip"
        );
        assert_eq!(plan(&s, "other", "a.mov", "A.mov", Price { cents: 100 }, (3840, 2160), "EUR").len(), 3);
        assert_eq!(plan(&s, "other", "a.mov", "A.mov", Price { cents: 100 }, (640, 360), "EUR"), vec![]);
        // A scope master is compared by its lines, as before.
        assert_eq!(plan(&s, "other", "a.mov", "A.mov", Price { cents: 100 }, (1920, 800), "EUR").len(), 2);
        assert_eq!(sibling_key("a.b/c", "hd"), "a.b/c-hd");
        assert_eq!(sibling_file_name("Fjord", "360p"), "Fjord (360p)");
        assert_eq!(
            file_name_ending_as("Harbour (1080p).mp4", "clips/Harbour Night.mov").as_deref(),
            Some("Harbour (1080p).mov")
        );
        assert_eq!(file_name_ending_as("Harbour (1080p).MOV", "clips/h.mov"), None);
        assert_eq!(file_name_ending_as("Harbour", "clips/h.mov"), None);
        assert_eq!(file_name_ending_as("Harbour.mp4", "clips/h"), None);
        assert_eq!(file_name_ending_as("Harbour.mp4", "clips.v2/h"), None);
        assert_eq!(sibling_file_name("Fjord (morning).mov", "4K"), "Fjord (4K).mov");
    }

    /// The review: an upright 2160x3840 master's "720p" was 406x720, and
    /// an upright 1080x1920 master was offered a `height = 1080` of its own.
    #[test]
    fn an_upright_master_is_compared_by_its_short_side() {
        let s = settings(
            "title = \"T\"\n[[media_variants]]\nheight = 1080\nprice = 30\n[[media_variants]]\nheight = 720\nprice = 20\n",
        )
        .unwrap();
        let ids = |w, h| {
            plan(&s, "a", "a.mp4", "A (4K).mp4", Price { cents: 100 }, (w, h), "EUR")
                .into_iter()
                .map(|v| (v.id, v.height))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(1080, 1920), [("720p".to_string(), 720)], "1080 is its own short side");
        assert_eq!(ids(2160, 3840).len(), 2);
        assert_eq!(ids(720, 1280), []);
        assert_eq!((short_side(1080, 1920), short_side(1920, 1080), short_side(500, 500)), (1080, 1080, 500));
        assert_eq!(recipe(720, false), format!("{RECIPE}; 720 lines"), "landscape: as before");
        assert_eq!(recipe_height(&recipe(720, false)), Some(720));
        assert_eq!(recipe_height(&recipe(720, true)), Some(720));
        assert_ne!(recipe(720, true), recipe(720, false), "an old upright 406x720 file is made again");
        assert_eq!(recipe_height("v1; other"), None);
    }
}
