//! Placeholders left to fill: the `CHANGE-ME` marks that `site-gen init`
//! writes into a new shop. `site-gen check` lists each one with its file and
//! line, so the owner has a to-do list; `site-gen build` still builds with
//! them (a new shop builds at once), warning of those on the site: in the
//! settings, and in published items' titles and text.

use std::fs;
use std::path::{Path, PathBuf};

use crate::diagnostics::{display_path, Diagnostic, Diagnostics, Location};

pub use clipstore_core::placeholder::{has_mark, MARK};

/// Lines of `text` (1-based) holding the mark.
pub fn lines_with_mark(text: &str) -> Vec<usize> {
    text.lines().enumerate().filter(|(_, line)| has_mark(line)).map(|(i, _)| i + 1).collect()
}

/// Whether the mark on `line` is only in its TOML comment (`price = 0.00
/// # CHANGE-ME: …`): the value may already be the owner's, and what is
/// left to do is delete the mark.
fn only_in_comment(line: &str) -> bool {
    // TOML's strings: "basic" (with `\"` escapes) and 'literal' (none).
    let (mut quote, mut escaped) = (None, false);
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some('"'), _) if escaped => escaped = false,
            (Some('"'), '\\') => escaped = true,
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => return line[..i].contains('=') && !has_mark(&line[..i]),
            (None, _) => {}
        }
    }
    false
}

/// Every placeholder in the shop's settings, content and `wrangler.toml`.
pub fn scan(root: &Path) -> Diagnostics {
    let mut files = Vec::new();
    collect(&root.join("content"), &mut files);
    let wrangler = root.join("wrangler.toml");
    if wrangler.is_file() {
        files.push(wrangler);
    }
    files.sort();
    let mut found = Diagnostics::default();
    for path in files {
        let Ok(text) = fs::read_to_string(&path) else { continue };
        for line in lines_with_mark(&text) {
            let at = Location::from_line(&text, line);
            let help = if only_in_comment(&at.source_line) {
                format!("put your own value before the `#`, then delete {MARK} from the comment after it")
            } else {
                format!("replace the {MARK} part with your own value (it came from `site-gen init` or `site-gen new`)")
            };
            found.push(Diagnostic::new(display_path(root, &path), "a placeholder left to fill").at(at).with_help(help));
        }
    }
    found
}

/// Published items (clips, news posts, pages) whose title or text still
/// holds the mark: a page `site-gen new page` wrote ("CHANGE-ME: write the
/// page here.") is on the site, in the menu of every page, as soon as it
/// is built. One warning per file, at its first marked line; read from
/// what was loaded, so only those files are read again.
pub fn published(shop: &crate::content::Shop) -> Vec<Diagnostic> {
    published_in(&shop.root, &shop.clips, &shop.posts, &shop.pages)
}

/// [`published`] of these items only (`serve` asks of the files an edit
/// changed).
pub fn published_in(
    root: &Path,
    clips: &[crate::content::Clip],
    posts: &[crate::content::Post],
    pages: &[crate::content::Page],
) -> Vec<Diagnostic> {
    let clips = clips.iter().map(|c| (&c.source, [c.title.as_str(), c.description_html.as_str()]));
    let posts = posts.iter().filter(|p| !p.draft).map(|p| (&p.source, [p.title.as_str(), p.content_html.as_str()]));
    let pages = pages.iter().map(|p| (&p.source, [p.title.as_str(), p.content_html.as_str()]));
    clips
        .chain(posts)
        .chain(pages)
        .filter(|(_, texts)| texts.iter().any(|t| has_mark(t)))
        .map(|(source, _)| {
            let path = root.join(source);
            let warning = Diagnostic::new(
                display_path(root, &path),
                format!("this is on the site with a placeholder ({MARK}) still in it"),
            )
            .with_help(format!("write your own text in place of the {MARK} part, then build again"));
            let text = fs::read_to_string(&path).unwrap_or_default();
            match lines_with_mark(&text).first() {
                Some(&line) => warning.at(Location::from_line(&text, line)),
                None => warning,
            }
        })
        .collect()
}

/// How many lines of the shop's settings (`content/site.toml`) hold the
/// mark: its title, address and contact are on every page, so `site-gen
/// build` warns of these (reading one file; `scan` reads them all).
pub fn in_settings(root: &Path) -> usize {
    fs::read_to_string(root.join(crate::config::SITE_CONFIG)).map_or(0, |text| lines_with_mark(&text).len())
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "md" || e == "toml") {
            files.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_mark_on_its_lines_in_any_case() {
        let text = "title = \"Shop\"\nbase_url = \"https://change-me.example\"\n# fine\nsize = 1 # CHANGE-ME: bytes\n";
        assert_eq!(lines_with_mark(text), vec![2, 4]);
        assert!(lines_with_mark("title = \"Exchange meetup\"\n").is_empty());
        // Words that contain it are not it.
        let slug = "file = \"clips/climate-change-melts-glaciers.mp4\"\ntitle = \"Climate Change Melts\"\n";
        assert!(lines_with_mark(slug).is_empty(), "{:?}", lines_with_mark(slug));
        assert!(lines_with_mark("a = \"xchange-me\"\nb = \"change-mex\"\n").is_empty());
        assert_eq!(lines_with_mark("a = \"change-me@change-me.example\"\n(CHANGE-ME)\n"), vec![1, 2]);
    }

    #[test]
    fn a_mark_in_a_comment_alone_is_told_apart() {
        assert!(only_in_comment("price = 24.00   # CHANGE-ME: the price"));
        assert!(!only_in_comment("base_url = \"https://change-me.example\" # CHANGE-ME: the address"));
        assert!(!only_in_comment("title = \"a # CHANGE-ME\""), "a # inside a string is no comment");
        assert!(!only_in_comment("# CHANGE-ME heading"), "a Markdown heading is text");
        assert!(!only_in_comment("title = 'a # CHANGE-ME'"), "nor inside a literal string");
        assert!(!only_in_comment("t = \"it's # CHANGE-ME\""), "an apostrophe in a basic string opens none");
        assert!(!only_in_comment(r#"t = "a \" # CHANGE-ME""#), "an escaped quote does not close it");
        assert!(only_in_comment(r#"t = "a \\" # CHANGE-ME"#), "an escaped backslash does not escape the quote");
        assert!(only_in_comment("t = 'a\\' # CHANGE-ME"), "a literal string has no escapes");
    }

    #[test]
    fn scans_content_and_wrangler_toml_only() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("content/clips")).unwrap();
        fs::create_dir_all(root.join("static")).unwrap();
        fs::write(root.join("content/site.toml"), "title = \"CHANGE-ME\"\n").unwrap();
        fs::write(root.join("content/clips/a.md"), "+++\n+++\nok\nCHANGE-ME\n").unwrap();
        fs::write(root.join("static/notes.md"), "CHANGE-ME\n").unwrap();
        fs::write(root.join("wrangler.toml"), "name = \"x\"\nmain = \"CHANGE-ME/index.js\"\n").unwrap();
        let found = scan(root);
        let at: Vec<String> = found
            .iter()
            .map(|d| format!("{}:{}", d.file.display(), d.location.as_ref().map_or(0, |l| l.line)))
            .collect();
        assert_eq!(at, ["content/clips/a.md:4", "content/site.toml:1", "wrangler.toml:2"]);
    }
}
