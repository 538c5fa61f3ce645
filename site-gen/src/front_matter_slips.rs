//! Help for the typing slips that make front matter (or `site.toml`)
//! unreadable TOML: curly quotes, a decimal comma, a currency sign, yes/no
//! for true/false, a day-first date, a `"` inside a quoted text. The TOML
//! parser's own words ("invalid string, expected `\"`") send a non-programmer
//! round twice; these say what to write instead.

use chrono::NaiveDate;

/// Help for a TOML syntax error on `line` when the line shows a common
/// typing slip: curly quotes, a decimal comma, a currency sign, yes/no for
/// true/false, a day-first date or a `"` inside a quoted text. None for
/// other mistakes.
pub(crate) fn slip_help(line: &str) -> Option<String> {
    if line.contains(['“', '”', '‘', '’']) {
        let fixed = line.trim().replace(['“', '”'], "\"").replace(['‘', '’'], "'");
        return Some(format!(
            "replace the curly quotes “ ” ‘ ’ with straight ones \" or ': `{fixed}` \
             (your editor's \"smart quotes\" typed them: turn that off)"
        ));
    }
    let (key, value) = line.split_once('=')?;
    let (key, value) = (key.trim(), value.trim());
    if value.starts_with('"') && !value.starts_with("\"\"\"") {
        return quote_inside_help(key, value);
    }
    let bare = value.split('#').next().unwrap_or_default().trim();
    // `price = 12,50`: a decimal comma, as much of Europe writes it.
    let comma = bare.split_once(',').filter(|(a, b)| {
        matches!(key, "price" | "surcharge")
            && !a.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && (1..=2).contains(&b.len())
            && b.bytes().all(|c| c.is_ascii_digit())
    });
    if let Some((whole, frac)) = comma {
        return Some(format!("write decimals with a point: {whole}.{frac}, not {whole},{frac}"));
    }
    // `price = 1.200,00`, `price = 15,-`: separators as the shop shows them.
    if matches!(key, "price" | "surcharge") && bare.contains(',') && !bare.contains(CURRENCY_SIGNS) {
        if let Some(number) = crate::content::fields::Price::meant(bare) {
            return Some(format!("write {key} = {number}: a point before the cents, no thousands separator"));
        }
    }
    // `price = €20`, `price = 20 $` (an amount only: `title = $5 Stock
    // Footage` wants quotes, as the general help says).
    let number = bare.trim_start_matches(CURRENCY_SIGNS).trim_end_matches(CURRENCY_SIGNS).trim();
    if number.len() < bare.len() && matches!(key, "price" | "surcharge") {
        let number = number.replace(',', ".");
        let number = if !number.is_empty() && number.parse::<f64>().is_ok() { number } else { "20".to_string() };
        return Some(format!(
            "write the number only: {key} = {number}; {}",
            crate::content::fields::CURRENCY_IS_THE_SHOPS
        ));
    }
    // `draft = yes` (the one yes-or-no setting; `title = Yes` wants quotes).
    let truth = match bare.to_ascii_lowercase().as_str() {
        _ if key != "draft" => None,
        "yes" | "on" | "true" => Some(true),
        "no" | "off" | "false" => Some(false),
        _ => None,
    };
    if let Some(truth) = truth {
        return Some(format!("write true or false (in small letters): {key} = {truth}"));
    }
    // `tags = harbour, dawn`, `tags = [harbour, dawn]`: a list without the
    // quotes around each word (the owner-CLI review: only the general help).
    if key == "tags" && !bare.is_empty() && !bare.contains('"') {
        let words: Vec<String> = bare
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|w| w.trim().trim_matches('\''))
            .filter(|w| !w.is_empty())
            .map(|w| format!("\"{w}\""))
            .collect();
        if !words.is_empty() {
            return Some(format!("write the tags as a list, each in double quotes: tags = [{}]", words.join(", ")));
        }
    }
    // `duration = 0:10`, `duration = 1:02:03`: a running time without its
    // quotes (TOML reads `10:30` as a time of day, but not `0:10`).
    let parts: Vec<&str> = bare.split(':').collect();
    let running_time = key == "duration"
        && (2..=3).contains(&parts.len())
        && parts.iter().all(|p| !p.is_empty() && p.len() <= 2 && p.bytes().all(|c| c.is_ascii_digit()));
    if running_time {
        return Some(format!("write the running time in double quotes: {key} = \"{bare}\""));
    }
    date_help(key, bare)
}

/// The signs of the currencies owners write before or after a price.
const CURRENCY_SIGNS: &[char] =
    &['€', '$', '£', '¥', '₹', '₽', '₩', '₺', '₪', '฿', '₫', '₴', '₦', '₱', '¢', '₣', '₡', '₲', '₵', '₸', '₼', '₾'];

/// Help for `date = 04/12/2026`, `04.12.2026`, `2026/12/04`, `2026-12-7`
/// or `7 Dec 2026`: the same date as year-month-day, with two digits for
/// the month and day (both readings when day and month could swap).
pub(crate) fn date_help(key: &str, value: &str) -> Option<String> {
    let value = value.trim().trim_matches('"').trim();
    if let Some(date) = date_with_month_name(value) {
        return Some(format!("write dates as year-month-day: {key} = {date}"));
    }
    let sep = ['/', '.', '-'].into_iter().find(|&s| value.contains(s))?;
    let parts: Vec<&str> = value.split(sep).collect();
    let [a, b, c] = parts[..] else { return None };
    let num = |s: &str, len: std::ops::RangeInclusive<usize>| {
        (len.contains(&s.len()) && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse::<u32>().ok()).flatten()
    };
    let ymd =
        |y: u32, m: u32, d: u32| NaiveDate::from_ymd_opt(y as i32, m, d).map(|date| (date, format!("{key} = {date}")));
    let say = |date: NaiveDate, line: &str| format!("{line} for {}", date.format("%-d %B %Y"));
    let readings: Vec<(NaiveDate, String)> =
        if let (Some(y), Some(m), Some(d)) = (num(a, 4..=4), num(b, 1..=2), num(c, 1..=2)) {
            ymd(y, m, d).into_iter().collect()
        } else {
            let (x, y, year) = (num(a, 1..=2)?, num(b, 1..=2)?, num(c, 4..=4)?);
            // Day first (as most of the world, and always with dots), or month
            // first (as the US writes with slashes).
            let day_first = ymd(year, y, x);
            let month_first = if sep == '/' && x != y { ymd(year, x, y) } else { None };
            day_first.into_iter().chain(month_first).collect()
        };
    let written = match &readings[..] {
        [] => return None,
        [(_, line)] => line.clone(),
        [(d1, l1), (d2, l2), ..] => format!("{}, or {}", say(*d1, l1), say(*d2, l2)),
    };
    Some(format!("write dates as year-month-day: {written}"))
}

/// `7 Dec 2026`, `7 December 2026`, `December 7, 2026`, `Dec. 7 2026`: a
/// date with the month's English name (or its first three letters).
fn date_with_month_name(value: &str) -> Option<NaiveDate> {
    const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let words: Vec<&str> = value.split([' ', ',', '.']).filter(|w| !w.is_empty()).collect();
    let [_, _, _] = words[..] else { return None };
    let (mut year, mut month, mut day) = (None, None, None);
    for word in words {
        let lower = word.to_ascii_lowercase();
        let number = word.bytes().all(|b| b.is_ascii_digit()).then(|| word.parse::<u32>().ok()).flatten();
        match number {
            Some(n) if word.len() == 4 => year = Some(n as i32),
            Some(n) if word.len() <= 2 => day = Some(n),
            Some(_) => return None,
            None => {
                let at = MONTHS.iter().position(|m| lower.len() >= 3 && lower.starts_with(m))?;
                month = Some(at as u32 + 1);
            }
        }
    }
    NaiveDate::from_ymd_opt(year?, month?, day?)
}

/// Help for `title = "Harbour's "best" dawn"`: a `"` inside a text in
/// double quotes ends it early.
fn quote_inside_help(key: &str, value: &str) -> Option<String> {
    // Where the text that starts at `value[0]` ends (its closing quote).
    let mut escaped = false;
    let close = value.char_indices().skip(1).find(|&(_, c)| {
        let end = c == '"' && !escaped;
        escaped = c == '\\' && !escaped;
        end
    })?;
    let after = value[close.0 + 1..].trim_start();
    let last = value.rfind('"')?;
    if after.is_empty() || after.starts_with('#') || last == close.0 {
        return None;
    }
    let inner = &value[1..last];
    let mut with_escapes = String::new();
    let mut escaped = false;
    for c in inner.chars() {
        if c == '"' && !escaped {
            with_escapes.push('\\');
        }
        escaped = c == '\\' && !escaped;
        with_escapes.push(c);
    }
    let escape = format!("{key} = \"{with_escapes}\"");
    Some(if inner.contains('\'') || inner.contains('\\') {
        format!("a \" inside the text ends it: write \\\" for each \" inside: {escape}")
    } else {
        format!("a \" inside the text ends it: put single quotes around it: {key} = '{inner}' (or write \\\" for each \" inside: {escape})")
    })
}
