//! How sizes, prices and dates are written for people, the same on the
//! shop's pages (site-gen) and on the Worker's order page, certificate and
//! mails: a customer comparing the clip's page with the mail reads
//! `€44.00` and `152 KB` in both.
//!
//! Integer arithmetic only: formatting floats would link core's float
//! printing into the Worker (about 13 KB of wasm).

use crate::manifest::currency_decimals;

/// A size for people: `1.5 MB`, `732 KB`, `12 bytes` (SI units, as file
/// managers on most systems show them): one decimal under 10 of a unit,
/// whole units from 10, and the next unit up once a value would round to
/// 1000 (`999,999` bytes is `1.0 MB`, not `1000 KB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    let mut divisor: u64 = 1000;
    for (i, unit) in UNITS.iter().enumerate() {
        let tenths = bytes.saturating_add(divisor / 20) / (divisor / 10);
        if tenths < 100 {
            return format!("{}.{} {unit}", tenths / 10, tenths % 10);
        }
        let whole = bytes.saturating_add(divisor / 2) / divisor;
        if whole < 1000 || i == UNITS.len() - 1 {
            return format!("{whole} {unit}");
        }
        divisor *= 1000;
    }
    unreachable!("the last unit returns")
}

/// Where the amount goes in [`price_pattern`].
pub const AMOUNT: &str = "{amount}";

/// How a price of `currency` (an ISO code, any case) is written, with
/// [`AMOUNT`] for the amount: `€{amount}`, `{amount} CHF`. The shop's cart
/// script formats its total with this too.
pub fn price_pattern(currency: &str) -> String {
    written(currency, AMOUNT)
}

/// `amount` with the currency's sign in front (`€`, `$`, `£`, `¥`), or its
/// code after it.
fn written(currency: &str, amount: &str) -> String {
    let sign = match currency.as_bytes() {
        [a, b, c] => match [a.to_ascii_uppercase(), b.to_ascii_uppercase(), c.to_ascii_uppercase()] {
            [b'E', b'U', b'R'] => "€",
            [b'U', b'S', b'D'] => "$",
            [b'G', b'B', b'P'] => "£",
            [b'J', b'P', b'Y'] => "¥",
            _ => "",
        },
        _ => "",
    };
    if sign.is_empty() {
        format!("{amount} {}", currency.to_ascii_uppercase())
    } else {
        format!("{sign}{amount}")
    }
}

/// How many decimals a price of `currency` is shown with: those of its
/// smallest unit ([`currency_decimals`]: 0 for yen, 3 for dinars, else 2),
/// but none for krónur, which Stripe counts in hundredths and charges whole.
pub fn shown_decimals(currency: &str) -> u32 {
    if currency.eq_ignore_ascii_case("ISK") {
        0
    } else {
        currency_decimals(currency)
    }
}

/// An amount in the currency's smallest unit (as Stripe and the manifest
/// count it) as the shop shows it: `€44.00`, `¥1800`, `2400 ISK`,
/// `24.500 KWD`. An ISK amount with a fraction (never charged) keeps it.
pub fn price_text(minor: u64, currency: &str) -> String {
    let (minor, decimals) = if currency.eq_ignore_ascii_case("ISK") && minor.is_multiple_of(100) {
        (minor / 100, 0)
    } else {
        (minor, currency_decimals(currency) as usize)
    };
    // Zeros in front so that a fraction has its places (5 cents: 0.05).
    let digits = format!("{minor:0>width$}", width = decimals + 1);
    let (whole, fraction) = digits.split_at(digits.len() - decimals);
    let point = if decimals > 0 { "." } else { "" };
    written(currency, &format!("{whole}{point}{fraction}"))
}

/// A unix time as `1 December 2026, 12:00 UTC`: for people in any locale,
/// with UTC said, where the HTTP date would say `GMT`.
pub fn date_time_utc(unix: u64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let (year, month, day) = civil_date(unix);
    let secs = unix % 86_400;
    format!("{day} {} {year}, {:02}:{:02} UTC", MONTHS[(month - 1) as usize], secs / 3600, secs % 3600 / 60)
}

/// The UTC calendar date `(year, month 1–12, day 1–31)` of unix seconds, by
/// Howard Hinnant's `civil_from_days` (the proleptic Gregorian calendar):
/// for dates for people here, and for the Worker's SigV4 signatures.
pub fn civil_date(unix: u64) -> (i64, u32, u32) {
    let z = (unix / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(12), "12 bytes");
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(human_size(1_000), "1.0 KB");
        assert_eq!(human_size(1_500), "1.5 KB");
        assert_eq!(human_size(9_949), "9.9 KB");
        assert_eq!(human_size(9_950), "10 KB", "rounds to ten: whole units");
        assert_eq!(human_size(151_800), "152 KB");
        assert_eq!(human_size(999_499), "999 KB");
        assert_eq!(human_size(999_500), "1.0 MB", "would round to 1000 KB");
        assert_eq!(human_size(999_999), "1.0 MB");
        assert_eq!(human_size(2_500_000), "2.5 MB");
        assert_eq!(human_size(734_003_200), "734 MB");
        assert_eq!(human_size(1_073_741_824), "1.1 GB");
        assert_eq!(human_size(999_999_999_999_999), "1000 TB", "no unit past TB");
        assert_eq!(human_size(u64::MAX), "18446744 TB");
    }

    #[test]
    fn prices_as_the_shop_writes_them() {
        assert_eq!(price_text(4400, "EUR"), "€44.00");
        assert_eq!(price_text(4400, "eur"), "€44.00", "Stripe writes codes in lower case");
        assert_eq!(price_text(5, "usd"), "$0.05");
        assert_eq!(price_text(1999, "GBP"), "£19.99");
        assert_eq!(price_text(1800, "jpy"), "¥1800");
        assert_eq!(price_text(12_345, "kwd"), "12.345 KWD");
        assert_eq!(price_text(240_000, "ISK"), "2400 ISK", "krónur charged whole");
        assert_eq!(price_text(240_050, "ISK"), "2400.50 ISK", "a fraction is not hidden");
        assert_eq!(price_text(2450, "CHF"), "24.50 CHF");
        assert_eq!(price_text(0, "EUR"), "€0.00");
    }

    #[test]
    fn dates() {
        assert_eq!(date_time_utc(0), "1 January 1970, 00:00 UTC");
        assert_eq!(date_time_utc(1_798_761_600), "1 January 2027, 00:00 UTC");
        assert_eq!(date_time_utc(1_709_210_096), "29 February 2024, 12:34 UTC");
        assert_eq!(date_time_utc(1_795_996_800 - 60), "29 November 2026, 23:59 UTC");
        assert_eq!(civil_date(951_782_400), (2000, 2, 29), "a leap day of a century's leap year");
        assert_eq!(civil_date(4_107_542_400), (2100, 3, 1), "2100 is no leap year");
    }
}
