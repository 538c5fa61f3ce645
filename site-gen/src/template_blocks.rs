//! The message for a template block left open: `{% if %}` without its
//! `{% endif %}`, a `{% for %}`, `{% block %}`, `{% macro %}`, `{% filter %}`
//! or `{% raw %}` without its end tag.
//!
//! Tera's parse error points where its parser gave up (the end of the file,
//! or the end tag of an outer block) and lists what it expected there. The
//! owner needs the other end: which tag was left open, on which line, and
//! which end tag it lacks. So the template's block tags are matched here,
//! innermost first, and the first one left open is reported, but only when
//! Tera gave up exactly where that block would have had to close; any other
//! parse error keeps Tera's own message.

use crate::diagnostics::{Diagnostic, Location};

/// Tags that open a block, with the tag that closes it and what the block
/// holds (for the help).
const BLOCKS: &[(&str, &str, &str)] = &[
    ("if", "endif", "the part shown only when the condition holds"),
    ("for", "endfor", "the part repeated for each item"),
    ("block", "endblock", "the block's content"),
    ("macro", "endmacro", "the macro"),
    ("filter", "endfilter", "the filtered part"),
    ("raw", "endraw", "the text shown as it is written"),
];

/// One `{% … %}` tag of a template: where it starts, its text, its first word.
#[derive(Debug, Clone, Copy)]
struct Tag<'t> {
    offset: usize,
    text: &'t str,
    keyword: &'t str,
}

/// A block left open, and where the parser had to give up on it.
#[derive(Debug)]
struct Unclosed<'t> {
    open: Tag<'t>,
    /// The end tag met while the block was open (one of an outer block, or
    /// one closing nothing open); `None`: the end of the file.
    reached: Option<Tag<'t>>,
    /// Whether `reached` closes a block open around this one.
    reached_closes_outer: bool,
}

/// The error for the template `shown` (with text `text`) when Tera's parse
/// error, at `tera_position` (line, column), is a block left open; `None`
/// for any other error.
pub fn unclosed_block(shown: &str, text: &str, tera_position: Option<(usize, usize)>) -> Option<Diagnostic> {
    let found = find_unclosed(text)?;
    let gave_up_at = Location::from_offset(text, found.reached.map_or(text.len(), |t| t.offset));
    if tera_position != Some((gave_up_at.line, gave_up_at.column)) {
        return None;
    }
    let (_, end, holds) = BLOCKS.iter().find(|(open, _, _)| *open == found.open.keyword)?;
    let opened_at = Location::from_offset(text, found.open.offset);
    let end_tag = format!("{{% {end} %}}");
    let message = match found.reached {
        None => format!(
            "`{}` on line {} is never closed: the template ends without its `{end_tag}`",
            shorten(found.open.text),
            opened_at.line
        ),
        Some(reached) => format!(
            "`{}` on line {} is never closed: `{}` on line {} comes before its `{end_tag}`",
            shorten(found.open.text),
            opened_at.line,
            shorten(reached.text),
            gave_up_at.line
        ),
    };
    let help = match found.reached {
        Some(reached) if !found.reached_closes_outer => format!(
            "if the `{}` on line {} was meant to close it, change it to `{end_tag}`; else add `{end_tag}` where {holds} ends",
            shorten(reached.text),
            gave_up_at.line
        ),
        Some(reached) => format!(
            "add `{end_tag}` where {holds} ends, before the `{}` on line {}",
            shorten(reached.text),
            gave_up_at.line
        ),
        None => format!("add `{end_tag}` where {holds} ends"),
    };
    Some(Diagnostic::new(shown, message).at(opened_at).with_help(help))
}

/// A tag as the owner wrote it, cut short when long.
fn shorten(tag: &str) -> String {
    const MOST: usize = 60;
    if tag.chars().count() <= MOST {
        return tag.to_string();
    }
    let cut: String = tag.chars().take(MOST - 4).collect();
    format!("{cut} …%}}")
}

/// The innermost block of `text` left open, matching its block tags in order.
fn find_unclosed(text: &str) -> Option<Unclosed<'_>> {
    let mut open: Vec<Tag> = Vec::new();
    let mut tags = Tags { text, at: 0 };
    while let Some(tag) = tags.next_tag() {
        if tag.keyword == "raw" {
            // Nothing inside is a tag, up to the first `{% endraw %}`.
            if !tags.skip_raw() {
                return Some(Unclosed { open: tag, reached: None, reached_closes_outer: false });
            }
        } else if BLOCKS.iter().any(|(opens, _, _)| *opens == tag.keyword) {
            open.push(tag);
        } else if let Some((opens, _, _)) = BLOCKS.iter().find(|(_, end, _)| *end == tag.keyword) {
            let innermost = *open.last()?;
            if innermost.keyword == *opens {
                open.pop();
            } else {
                let reached_closes_outer = open.iter().any(|t| t.keyword == *opens);
                return Some(Unclosed { open: innermost, reached: Some(tag), reached_closes_outer });
            }
        }
    }
    open.pop().map(|innermost| Unclosed { open: innermost, reached: None, reached_closes_outer: false })
}

/// The `{% … %}` tags of a template in order, past `{{ … }}` and `{# … #}`
/// (whose quoted strings may hold `%}`).
struct Tags<'t> {
    text: &'t str,
    at: usize,
}

impl<'t> Tags<'t> {
    fn next_tag(&mut self) -> Option<Tag<'t>> {
        loop {
            let start = self.at + self.text[self.at..].find('{')?;
            let rest = &self.text[start..];
            if let Some(comment) = rest.strip_prefix("{#") {
                self.at = start + 2 + comment.find("#}")? + 2;
            } else if let Some(expression) = rest.strip_prefix("{{") {
                self.at = start + 2 + end_of(expression, "}}")?;
            } else if let Some(tag) = rest.strip_prefix("{%") {
                let len = 2 + end_of(tag, "%}")?;
                self.at = start + len;
                let text = &rest[..len];
                let inner = text[2..len - 2].trim_start_matches('-').trim_end_matches('-').trim();
                let keyword = inner.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').next().unwrap_or("");
                return Some(Tag { offset: start, text, keyword });
            } else {
                self.at = start + 1;
            }
        }
    }

    /// Moves past the `{% endraw %}` closing a `{% raw %}`; false if there is none.
    fn skip_raw(&mut self) -> bool {
        while let Some(start) = self.text[self.at..].find("{%").map(|i| self.at + i) {
            let Some(len) = self.text[start + 2..].find("%}").map(|i| i + 4) else { return false };
            self.at = start + len;
            let inner = self.text[start + 2..start + len - 2].trim_start_matches('-').trim_end_matches('-').trim();
            if inner == "endraw" {
                return true;
            }
        }
        false
    }
}

/// The length of `text` up to and with the first `end` outside a quoted string.
fn end_of(text: &str, end: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in text.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if matches!(c, '"' | '\'' | '`') => quote = Some(c),
            None if text[i..].starts_with(end) => return Some(i + end.len()),
            None => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Option<(&str, Option<&str>)> {
        find_unclosed(text).map(|u| (u.open.text, u.reached.map(|t| t.text)))
    }

    #[test]
    fn block_tags_are_matched_innermost_first() {
        assert_eq!(found("{% if a %}{% for x in y %}{% endfor %}{% endif %}"), None);
        assert_eq!(found("{% block b %}{% if a %}x{% endblock b %}"), Some(("{% if a %}", Some("{% endblock b %}"))));
        assert_eq!(found("{%- for x in y -%}\n{% if a %}{% endif %}"), Some(("{%- for x in y -%}", None)));
        assert_eq!(found("{% if a %}{% endfor %}"), Some(("{% if a %}", Some("{% endfor %}"))));
        // Tags in comments, strings, expressions and raw text are no tags.
        assert_eq!(found("{# {% if a %} #}{{ \"{% if\" }}{% set s = \"%}\" %}{% raw %}{% if %}{% endraw %}"), None);
        assert_eq!(found("{% raw %}{% if a %}{% endif %}"), Some(("{% raw %}", None)));
        // An end tag that closes nothing open is not a block left open.
        assert_eq!(found("{% endif %}"), None);
    }
}
