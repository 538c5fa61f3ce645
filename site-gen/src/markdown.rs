//! Markdown to HTML, the `<!-- more -->` summary split, and the links a body
//! contains (with their position, for link checking).

use pulldown_cmark::{html, CodeBlockKind, Event, Options, Parser, Tag};

use crate::diagnostics::Location;

/// The line that ends a post's summary.
pub const MORE_MARKER: &str = "<!-- more -->";

/// A link or image reference found in Markdown.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceLink {
    pub target: String,
    pub location: Location,
}

/// A rendered Markdown body.
#[derive(Debug, Clone, Default)]
pub struct RenderedMarkdown {
    pub html: String,
    /// The HTML of the part before `<!-- more -->`, if the body has one.
    pub summary_html: Option<String>,
    pub links: Vec<SourceLink>,
}

fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_SMART_PUNCTUATION
}

/// Renders `body`, which starts at byte `body_start` of `file_text` (used to
/// give links their line in the file).
pub fn render(file_text: &str, body_start: usize) -> RenderedMarkdown {
    let body = &file_text[body_start..];
    let mut links = Vec::new();
    let mut lines = LineCounter::new(file_text);
    let parser = Parser::new_ext(body, options()).into_offset_iter().map(|(event, range)| {
        match &event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                links.push(SourceLink {
                    target: dest_url.to_string(),
                    location: lines.location(body_start + range.start),
                });
            }
            // `<img src="/images/x.jpg">` written as HTML is checked too.
            Event::Html(html) | Event::InlineHtml(html) => {
                for (at, target) in html_links(html) {
                    links.push(SourceLink { target, location: lines.location(body_start + range.start + at) });
                }
            }
            _ => {}
        }
        event
    });
    let mut out = String::with_capacity(body.len() * 3 / 2);
    html::push_html(&mut out, parser);
    alignment_as_class(&mut out);

    let summary_html = find_more_marker(body).map(|end| {
        let mut s = String::new();
        html::push_html(&mut s, Parser::new_ext(&body[..end], options()));
        alignment_as_class(&mut s);
        s
    });
    RenderedMarkdown { html: out, summary_html, links }
}

/// The `href` and `src` values of raw HTML, with their offsets in `html`;
/// not those inside `<!-- comments -->` (a picture taken out).
fn html_links(html: &str) -> Vec<(usize, String)> {
    // Comments blanked out, offsets kept.
    let mut lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<!--").map(|i| at + i) {
        let end = lower[start..].find("-->").map_or(lower.len(), |i| start + i + 3);
        lower.replace_range(start..end, &" ".repeat(end - start));
        at = end;
    }
    let mut found = Vec::new();
    for name in ["href", "src"] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(name).map(|i| from + i) {
            from = i + name.len();
            // An attribute: after whitespace (or at the start of a line of
            // an HTML block), then `=`, then a value.
            if i > 0 && !html[..i].ends_with(|c: char| c.is_ascii_whitespace()) {
                continue;
            }
            let rest = html[from..].trim_start();
            let Some(value) = rest.strip_prefix('=').map(str::trim_start) else { continue };
            let start = html.len() - value.len();
            let target = match value.chars().next() {
                Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or_default(),
                _ => value.split(|c: char| c.is_ascii_whitespace() || c == '>').next().unwrap_or_default(),
            };
            if !target.is_empty() {
                found.push((start, target.to_string()));
            }
        }
    }
    found.sort();
    found
}

/// pulldown-cmark writes a table column's alignment as `style="text-align:
/// …"`, which the shop's Content-Security-Policy (no inline style) blocks,
/// so the owner's alignment was lost with a console error on every view: a
/// class instead (`align-left`, `align-center`, `align-right`, in the
/// stylesheet).
fn alignment_as_class(html: &mut String) {
    if !html.contains(" style=\"text-align: ") {
        return;
    }
    for side in ["left", "center", "right"] {
        *html = html.replace(&format!(" style=\"text-align: {side}\""), &format!(" class=\"align-{side}\""));
    }
}

/// [`Location::from_offset`] for offsets that mostly come in increasing
/// order (links in document order): it counts lines from the previous offset
/// instead of from the start, so a body with many links stays linear.
struct LineCounter<'t> {
    text: &'t str,
    /// The last offset asked for, and the 1-based line it is on.
    offset: usize,
    line: usize,
}

impl<'t> LineCounter<'t> {
    fn new(text: &'t str) -> Self {
        LineCounter { text, offset: 0, line: 1 }
    }

    fn location(&mut self, offset: usize) -> Location {
        let offset = floor_char_boundary(self.text, offset.min(self.text.len()));
        if offset < self.offset {
            (self.offset, self.line) = (0, 1);
        }
        self.line += self.text.as_bytes()[self.offset..offset].iter().filter(|&&b| b == b'\n').count();
        self.offset = offset;
        let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        Location {
            line: self.line,
            column: self.text[line_start..offset].chars().count() + 1,
            source_line: self.text[line_start..].lines().next().unwrap_or("").to_string(),
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Byte offset of a `<!-- more -->` line in `body`, if there is one.
fn find_more_marker(body: &str) -> Option<usize> {
    if !body.contains(MORE_MARKER) {
        return None;
    }
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        if line.trim() == MORE_MARKER {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

/// The line (1-based, in `file_text`) of the first code block written by
/// indenting it (a tab or four spaces) in the body that starts at byte
/// `body_start`: as the parser finds it, so that a list item's indented
/// paragraph, an HTML `<pre>` or a fenced block are not taken for one.
pub fn first_indented_code(file_text: &str, body_start: usize) -> Option<usize> {
    let body = &file_text[body_start..];
    Parser::new_ext(body, options()).into_offset_iter().find_map(|(event, range)| match event {
        Event::Start(Tag::CodeBlock(CodeBlockKind::Indented)) => {
            Some(file_text[..body_start + range.start].matches('\n').count() + 1)
        }
        _ => None,
    })
}

/// The first paragraph of rendered HTML, for cards in lists.
pub fn first_paragraph(html: &str) -> &str {
    match (html.find("<p>"), html.find("</p>")) {
        (Some(start), Some(end)) if start < end => &html[start..end + "</p>".len()],
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_collects_links_with_lines() {
        let text = "+++\n+++\nIntro [a](/clips/x/).\n\n![p](/posters/x.jpg)\n";
        let r = render(text, 8);
        assert!(r.html.contains("<a href=\"/clips/x/\">a</a>"));
        assert_eq!(r.links.len(), 2);
        assert_eq!(r.links[0].target, "/clips/x/");
        assert_eq!(r.links[0].location.line, 3);
        assert_eq!(r.links[1].location.line, 5);
        assert!(r.summary_html.is_none());
    }

    /// Links written as HTML in a post were never checked: a broken
    /// `<img src>` or `<a href>` went live.
    #[test]
    fn links_written_as_html_are_collected_with_their_lines() {
        let text = "Intro.\n\n<p><img src=\"/images/x.jpg\" alt=\"x\" data-src=\"/no/\" srcset=\"/a.jpg 2x\"></p>\n\nSee <a HREF='/no-page/'>this</a> and <a href=/bare/>that</a>.\n";
        let r = render(text, 0);
        let found: Vec<(&str, usize)> = r.links.iter().map(|l| (l.target.as_str(), l.location.line)).collect();
        assert_eq!(found, [("/images/x.jpg", 3), ("/no-page/", 5), ("/bare/", 5)]);
        assert!(render("<!-- more -->\n", 0).links.is_empty());
        // Commented out: not a link. An attribute opening a line of a block: one.
        let r = render("<!-- <img src=\"/old.jpg\"> -->\n\n<img\nsrc=\"/new.jpg\">\n", 0);
        assert_eq!(r.links.iter().map(|l| l.target.as_str()).collect::<Vec<_>>(), ["/new.jpg"]);
    }

    #[test]
    fn line_counter_matches_from_offset() {
        let text = "+++\nx = 1\n+++\nä [a](/a/) b\n\n  ![p](/p.jpg)\nlast";
        let mut lines = LineCounter::new(text);
        // Increasing offsets, then one going back, as nested links can.
        for offset in [0, 5, 14, 15, 18, 20, 33, 36, 3, 44, 200] {
            assert_eq!(lines.location(offset), Location::from_offset(text, offset), "offset {offset}");
        }
    }

    #[test]
    fn more_marker_splits_the_summary() {
        let r = render("First *para*.\n\n<!-- more -->\n\nSecond.\n", 0);
        assert_eq!(r.summary_html.as_deref(), Some("<p>First <em>para</em>.</p>\n"));
        assert!(r.html.contains("Second."));
    }

    /// A table's column alignment is a class, not an inline style the
    /// shop's CSP would block.
    #[test]
    fn table_alignment_is_a_class() {
        let r = render("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n", 0);
        assert!(!r.html.contains("style="), "{}", r.html);
        for side in ["left", "center", "right"] {
            assert!(r.html.contains(&format!("<th class=\"align-{side}\">")), "{}", r.html);
            assert!(r.html.contains(&format!("<td class=\"align-{side}\">")), "{}", r.html);
        }
    }

    #[test]
    fn first_paragraph_of_html() {
        assert_eq!(first_paragraph("<h2>x</h2><p>a</p><p>b</p>"), "<p>a</p>");
        assert_eq!(first_paragraph("<ul></ul>"), "");
    }
}
