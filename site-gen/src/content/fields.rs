//! Typed values of clip front matter: price, duration and resolution.

use std::fmt;

/// Where a price's currency comes from, for the messages that tell an
/// owner to leave it out of `price`.
pub(crate) const CURRENCY_IS_THE_SHOPS: &str = "the currency is set in content/site.toml";

/// A price in the shop's currency, held in cents so sums are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price {
    pub cents: u64,
}

impl Price {
    /// Reads `24`, `24.5`, `24.50` (numbers) or `"24.50"` (text).
    pub fn parse(value: &toml::Value) -> Result<Price, String> {
        let text = match value {
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => format!("{f}"),
            toml::Value::String(s) => s.trim().to_string(),
            other => return Err(format!("must be a number, found {}", other.type_str())),
        };
        Price::parse_text(&text)
    }

    fn parse_text(text: &str) -> Result<Price, String> {
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        if text.starts_with('-') {
            return Err(format!("must not be negative, found {text}"));
        }
        if !digits(whole) || !(frac.is_empty() || digits(frac)) {
            let Some(number) = Price::meant(text) else {
                return Err(format!("must be a number like 24.00, found \"{text}\""));
            };
            // "€20", "20 EUR": the number alone, which the shop's currency prices.
            let signed =
                text.chars().any(|c| !(c.is_ascii_digit() || c.is_whitespace() || matches!(c, '.' | ',' | '-')));
            return Err(if signed {
                format!("must be a number like 24.00, found \"{text}\": write the number only, {number}; {CURRENCY_IS_THE_SHOPS}")
            } else {
                format!(
                    "must be a number like 24.00, found \"{text}\": write {number}, with a point before the cents and no thousands separator"
                )
            });
        }
        if frac.len() > 2 {
            return Err(format!("can have at most two decimals (cents), found {text}"));
        }
        let whole: u64 = whole.parse().map_err(|_| format!("is too large: {text}"))?;
        let frac: u64 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().unwrap() };
        whole
            .checked_mul(100)
            .and_then(|c| c.checked_add(frac))
            .map(|cents| Price { cents })
            .ok_or_else(|| format!("is too large: {text}"))
    }

    /// The number a price written as a shop shows it most likely means, as
    /// `price` takes it: the last `,` or `.` followed by one or two digits
    /// is the decimal point, every other one a thousands separator, and a
    /// trailing `,-` no cents ("€1.200,00" → 1200.00, "1,250" → 1250,
    /// "15,-" → 15, "12,50 €" → 12.50). None when no number is left.
    pub fn meant(text: &str) -> Option<String> {
        let kept: String = text.chars().filter(|c| c.is_ascii_digit() || matches!(c, ',' | '.')).collect();
        let kept = kept.trim_start_matches([',', '.']).trim_end_matches([',', '.']);
        let number = match kept.rfind([',', '.']) {
            Some(i) if kept.len() - i - 1 <= 2 => format!("{}.{}", kept[..i].replace([',', '.'], ""), &kept[i + 1..]),
            _ => kept.replace([',', '.'], ""),
        };
        (!number.is_empty() && Price::parse_text(&number).is_ok()).then_some(number)
    }

    /// `24.00`
    pub fn amount(&self) -> String {
        format!("{}.{:02}", self.cents / 100, self.cents % 100)
    }

    /// `€24.00`, `$24.00`, or `24.00 CHF` for currencies without a common
    /// sign; with the decimals the currency is shown with, as Stripe shows
    /// it: `¥1800`, `2400 ISK`, `24.500 KWD`. The Worker's order page and
    /// mails write the amount paid the same way (`clipstore_core::display`).
    pub fn display(&self, currency: &str) -> String {
        match clipstore_core::minor_units(self.cents, currency) {
            Some(minor) => clipstore_core::display::price_text(minor, currency),
            // (A price of these has cents its currency cannot hold: the
            // shop's load refuses them; an error message still shows it.)
            None => Price::display_pattern(currency).replace(Price::AMOUNT, &self.amount()),
        }
    }

    /// How many decimals a price of `currency` is shown with: 0 for yen,
    /// krónur (charged whole) and the other zero-decimal currencies, 3 for
    /// dinars, else 2. The cart's script formats its total with it.
    pub fn decimals(currency: &str) -> u32 {
        clipstore_core::display::shown_decimals(currency)
    }

    /// Where [`Price::amount`] goes in a price of `currency`.
    pub const AMOUNT: &'static str = clipstore_core::display::AMOUNT;

    /// How a price of `currency` is written, with [`Price::AMOUNT`] for the
    /// amount: `€{amount}`, `{amount} CHF`. The cart's script formats its
    /// total with this, so the site writes every price one way.
    pub fn display_pattern(currency: &str) -> String {
        clipstore_core::display::price_pattern(currency)
    }
}

/// A clip's running time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Duration {
    pub seconds: u64,
}

impl Duration {
    /// Whether `value` is a running time of nothing (`"0:00"`, `0`): what
    /// `site-gen new` writes before `site-gen media` knows the clip.
    pub fn is_zero(value: &toml::Value) -> bool {
        match value {
            toml::Value::Integer(0) => true,
            toml::Value::String(s) => {
                let parts: Vec<&str> = s.trim().split(':').collect();
                matches!(parts.len(), 2 | 3) && parts.iter().all(|p| p.parse::<u64>() == Ok(0))
            }
            _ => false,
        }
    }

    /// Reads `"0:12"`, `"1:02:03"` or a number of seconds.
    pub fn parse(value: &toml::Value) -> Result<Duration, String> {
        match value {
            toml::Value::Integer(i) if *i > 0 => Ok(Duration { seconds: *i as u64 }),
            toml::Value::String(s) => {
                let parts: Vec<&str> = s.trim().split(':').collect();
                let nums: Option<Vec<u64>> = parts.iter().map(|p| p.parse().ok()).collect();
                match (parts.len(), nums) {
                    (2 | 3, Some(n)) if n[1..].iter().all(|&x| x < 60) && n.iter().any(|&x| x > 0) => {
                        Ok(Duration { seconds: n.iter().fold(0, |acc, x| acc * 60 + x) })
                    }
                    // "0:00", as `site-gen new` writes it: the form is right.
                    (2 | 3, Some(_)) if Self::is_zero(value) => {
                        Err(format!("cannot be \"{s}\": write how long the clip runs, like \"0:12\""))
                    }
                    _ => Err(format!("must be minutes:seconds like \"0:12\" or \"1:02:03\", found \"{s}\"")),
                }
            }
            // `duration = 00:00:12`, unquoted: TOML reads a time of day.
            toml::Value::Datetime(dt) if dt.date.is_none() => Err(format!(
                "must be minutes:seconds in quotes, like \"0:12\", found {dt} without quotes (write it as \"{dt}\")"
            )),
            other => Err(format!("must be minutes:seconds like \"0:12\", found {}", crate::front_matter::shown(other))),
        }
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.seconds / 3600, self.seconds / 60 % 60, self.seconds % 60);
        if h > 0 {
            write!(f, "{h}:{m:02}:{s:02}")
        } else {
            write!(f, "{m}:{s:02}")
        }
    }
}

/// A clip's frame size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resolution {
    pub width: u32,
    pub height: u32,
}

impl Resolution {
    /// Reads `"1920x1080"`.
    pub fn parse(text: &str) -> Result<Resolution, String> {
        let err = || format!("must be width x height in pixels, like \"1920x1080\", found \"{text}\"");
        let (w, h) = text.trim().split_once(['x', '×']).ok_or_else(err)?;
        let width: u32 = w.trim().parse().map_err(|_| err())?;
        let height: u32 = h.trim().parse().map_err(|_| err())?;
        if width == 0 || height == 0 {
            return Err(err());
        }
        Ok(Resolution { width, height })
    }

    /// A familiar name: `4K`, `1080p`, `720p`, or the pixel size.
    pub fn label(&self) -> String {
        match self.height.min(self.width) {
            2160.. => "4K".into(),
            1440..=2159 => "1440p".into(),
            1080..=1439 => "1080p".into(),
            720..=1079 => "720p".into(),
            _ => self.to_string(),
        }
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}×{}", self.width, self.height)
    }
}

/// A byte count for people, as the Worker's order page and mails write it.
pub use clipstore_core::display::human_size;

/// The help for an id (`[[licences]]`, `[[variants]]`, `variant`) that is
/// not one: the same in small letters, digits and `-`, when that is one
/// (`id = "Standard"` got no help: the authoring review).
pub fn id_help(key: &str, found: &str) -> Option<String> {
    let id = slug::slugify(found);
    (clipstore_core::token::is_valid_choice_id(&id) && id != found)
        .then(|| format!("write {key} = \"{id}\": an id is small letters, digits and -, and customers never see it"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_in_capitals_is_given_in_small_letters() {
        let help = id_help("id", "Standard").unwrap();
        assert_eq!(help, "write id = \"standard\": an id is small letters, digits and -, and customers never see it");
        assert!(id_help("id", "HD").unwrap().starts_with("write id = \"hd\""));
        assert!(id_help("variant", "Web Small").unwrap().starts_with("write variant = \"web-small\""));
        assert_eq!(id_help("id", "!!!"), None, "nothing left to suggest");
        assert_eq!(id_help("id", "hd"), None, "already one: the error is another");
    }
    use toml::Value;

    #[test]
    fn prices_in_cents() {
        assert_eq!(Price::parse(&Value::Float(24.5)).unwrap().cents, 2450);
        assert_eq!(Price::parse(&Value::Integer(24)).unwrap().cents, 2400);
        assert_eq!(Price::parse(&Value::String("0.99".into())).unwrap().cents, 99);
        assert_eq!(Price::parse(&Value::Float(19.99)).unwrap().cents, 1999);
        assert!(Price::parse(&Value::Float(1.999)).unwrap_err().contains("two decimals"));
        assert!(Price::parse(&Value::Integer(-1)).unwrap_err().contains("negative"));
        assert!(Price::parse(&Value::String("ten".into())).is_err());
        // A price copied as the shop shows it, with a decimal comma.
        let plain = "with a point before the cents and no thousands separator";
        for (text, number) in
            [("12,50", "12.50"), ("1.200,00", "1200.00"), ("1,250.00", "1250.00"), ("15,-", "15"), ("1,250", "1250")]
        {
            let said = Price::parse(&Value::String(text.into())).unwrap_err();
            assert!(said.ends_with(&format!("write {number}, {plain}")), "{said}");
        }
        for (text, number) in [
            ("€20", "20"),
            ("20 EUR", "20"),
            ("$24.50", "24.50"),
            ("€12,50", "12.50"),
            ("¥1,250", "1250"),
            ("1.200,00 €", "1200.00"),
        ] {
            let said = Price::parse(&Value::String(text.into())).unwrap_err();
            assert!(said.ends_with(&format!("write the number only, {number}; {CURRENCY_IS_THE_SHOPS}")), "{said}");
        }
        assert!(!Price::parse(&Value::String("ten".into())).unwrap_err().contains("write"));
        assert_eq!(Price { cents: 2450 }.display("EUR"), "€24.50");
        assert_eq!(Price { cents: 5 }.display("CHF"), "0.05 CHF");
        // As Stripe shows them: no cents in yen or krónur, three decimals in dinars.
        assert_eq!(Price { cents: 180_000 }.display("JPY"), "¥1800");
        assert_eq!(Price { cents: 240_000 }.display("ISK"), "2400 ISK");
        assert_eq!(Price { cents: 2450 }.display("KWD"), "24.500 KWD");
        assert_eq!(Price { cents: 2450 }.amount(), "24.50", "the amount of structured data stays a plain number");
        // The cart's script fills in the amount the same way.
        assert_eq!(Price::display_pattern("EUR"), "€{amount}");
        assert_eq!(Price::display_pattern("CHF").replace(Price::AMOUNT, "0.05"), "0.05 CHF");
    }

    #[test]
    fn durations() {
        let d = |s: &str| Duration::parse(&Value::String(s.into()));
        assert_eq!(d("0:12").unwrap().seconds, 12);
        assert_eq!(d("1:02:03").unwrap().seconds, 3723);
        assert_eq!(d("1:02:03").unwrap().to_string(), "1:02:03");
        assert_eq!(Duration::parse(&Value::Integer(75)).unwrap().to_string(), "1:15");
        assert!(d("0:75").is_err());
        assert!(d("12").is_err());
        assert!(d("0:00").unwrap_err().contains("write how long the clip runs"));
        // Unquoted, TOML reads a time of day: said as written, with the quotes to add.
        let unquoted: toml::Table = "duration = 00:00:12".parse().unwrap();
        let e = Duration::parse(&unquoted["duration"]).unwrap_err();
        assert_eq!(e, "must be minutes:seconds in quotes, like \"0:12\", found 00:00:12 without quotes (write it as \"00:00:12\")");
        let e = Duration::parse(&Value::Boolean(true)).unwrap_err();
        assert!(!e.contains("toml_private"), "{e}");
    }

    #[test]
    fn resolutions() {
        let r = Resolution::parse("3840x2160").unwrap();
        assert_eq!((r.width, r.height, r.label()), (3840, 2160, "4K".to_string()));
        assert_eq!(Resolution::parse("1280 × 720").unwrap().label(), "720p");
        assert!(Resolution::parse("HD").is_err());
        assert!(Resolution::parse("0x10").is_err());
    }

    #[test]
    fn sizes_for_people() {
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(human_size(1_400_000), "1.4 MB");
        assert_eq!(human_size(2_500_000_000), "2.5 GB");
    }
}
