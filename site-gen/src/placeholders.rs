//! Placeholders left to fill: the `CHANGE-ME` marks that `site-gen init`
//! writes into a new shop. `site-gen check` lists each one with its file and
//! line, so the owner has a to-do list; `site-gen build` does not mind them
//! (a new shop builds at once).

use std::fs;
use std::path::{Path, PathBuf};

use crate::diagnostics::{display_path, Diagnostic, Diagnostics, Location};

/// The mark, matched without regard to case (`change-me.example` too).
pub const MARK: &str = "CHANGE-ME";

/// Lines of `text` (1-based) holding the mark.
pub fn lines_with_mark(text: &str) -> Vec<usize> {
    text.lines().enumerate().filter(|(_, line)| line.to_ascii_uppercase().contains(MARK)).map(|(i, _)| i + 1).collect()
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
            found.push(
                Diagnostic::new(display_path(root, &path), "a placeholder left to fill")
                    .at(Location::from_line(&text, line))
                    .with_help(format!("replace the {MARK} part with your own value (it came from `site-gen init`)")),
            );
        }
    }
    found
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
