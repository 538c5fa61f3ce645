//! `site-gen init`'s placeholder mark, `CHANGE-ME`: site-gen lists what is
//! left to fill, and the Worker refuses to call a shop address that holds
//! it fine (its mails would link nowhere). One rule for both, so that a
//! shop at `exchange-media.example` is no placeholder on either side.

/// The mark, matched without regard to case (`change-me.example` too), as a
/// word of its own: "Climate Change Melts" (slug `climate-change-melts`) is
/// no placeholder.
pub const MARK: &str = "CHANGE-ME";

/// Whether `text` holds the mark as a word of its own. Without copying
/// `text` (a build asks this of every published page's text): found from
/// the dash of each `-` in it.
pub fn has_mark(text: &str) -> bool {
    let (bytes, dash) = (text.as_bytes(), MARK.find('-').unwrap_or(0));
    text.match_indices('-').any(|(at, _)| {
        let Some(start) = at.checked_sub(dash) else { return false };
        let end = start + MARK.len();
        let before = start.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(end).copied();
        bytes.get(start..end).is_some_and(|w| w.eq_ignore_ascii_case(MARK.as_bytes()))
            && !before.is_some_and(|b| b.is_ascii_alphanumeric())
            && !after.is_some_and(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_is_a_word_of_its_own() {
        for placeholder in ["https://change-me.example", "change-me@change-me.example", "(CHANGE-ME)", "CHANGE-ME: x"] {
            assert!(has_mark(placeholder), "{placeholder}");
        }
        // The diff review: a real shop's address was taken for one.
        for own in
            ["https://exchange-media.example", "climate-change-melts", "xchange-me", "change-mex", "Exchange meetup"]
        {
            assert!(!has_mark(own), "{own}");
        }
    }
}
