//! Setting values in a file's TOML front matter (between the first two `+++`
//! lines) while keeping every other line as the owner wrote it: what
//! `site-gen push` and `site-gen media` record about a clip's file.
//!
//! The front matter has two parts: its top-level keys, then any `[[name]]`
//! sections (a clip's `[[variants]]`). A line after a section's header
//! belongs to that section in TOML, so top-level values are only ever
//! looked for and inserted above the first header, and a section's values
//! only between its header and the next one.

use std::ops::Range;
use std::path::Path;

/// Writes a content file's new text whole or not at all: into a `.md.part`
/// beside it (which no build reads), then renamed over it, so that a Ctrl-C
/// or a full disk never leaves a clip's file empty or cut short.
pub fn write_whole(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("md.part");
    std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The front matter's lines (with their line ends), where it opens and
/// closes (the two `+++` lines), and the file's line end.
struct Lines {
    lines: Vec<String>,
    open: usize,
    close: usize,
    eol: &'static str,
}

impl Lines {
    fn read(text: &str) -> Option<Lines> {
        let lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
        // A byte order mark (Windows Notepad writes one) may come before it.
        let open = lines.iter().position(|l| l.trim_start_matches('\u{feff}').trim_end() == "+++")?;
        let close = open + 1 + lines[open + 1..].iter().position(|l| l.trim_end() == "+++")?;
        let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
        Some(Lines { lines, open, close, eol })
    }

    fn is_header(line: &str) -> bool {
        line.trim_start().starts_with('[')
    }

    /// The top-level part: from the opening `+++` to the first section header.
    fn top(&self) -> Range<usize> {
        let end = (self.open + 1..self.close).find(|&i| Self::is_header(&self.lines[i])).unwrap_or(self.close);
        self.open + 1..end
    }

    /// Each `[[name]]` section: its header line to the next header (or the end).
    fn sections(&self, name: &str) -> Vec<Range<usize>> {
        let header = format!("[[{name}]]");
        let starts: Vec<usize> = (self.open + 1..self.close).filter(|&i| Self::is_header(&self.lines[i])).collect();
        starts
            .iter()
            .enumerate()
            .filter(|(_, &i)| self.lines[i].split('#').next().unwrap_or("").replace([' ', '\t'], "").trim() == header)
            .map(|(n, &i)| i..starts.get(n + 1).copied().unwrap_or(self.close))
            .collect()
    }

    /// Sets `values` within `within` (see [`set_values`]); returns the
    /// range grown by the lines inserted.
    fn set(&mut self, within: Range<usize>, values: &[(&str, String)]) {
        let key_of = |l: &str| l.split_once('=').map(|(k, _)| k.trim().to_string());
        let (start, mut end) = (within.start, within.end);
        // Missing keys go after the last line with content, not after the
        // blank lines and comments that lead into the next section.
        let last_content = |lines: &[String], end: usize| {
            (start..end).rev().find(|&i| {
                let t = lines[i].trim();
                !t.is_empty() && !t.starts_with('#')
            })
        };
        let mut previous: Option<usize> = None;
        for (key, value) in values {
            let line = format!("{key} = {value}{}", self.eol);
            // The key's line, else its template commented out (`# sha256 =
            // ""` of `site-gen new`), which the value now fills: left below
            // it, uncommenting it would make the key twice.
            let commented = |l: &str| l.trim_start().strip_prefix('#').and_then(key_of);
            let found = (start..end)
                .find(|&i| key_of(&self.lines[i]).as_deref() == Some(*key))
                .or_else(|| (start..end).find(|&i| commented(&self.lines[i]).as_deref() == Some(*key)));
            let at = match found {
                Some(i) => {
                    self.lines[i] = line;
                    i
                }
                None => {
                    let at = previous.or_else(|| last_content(&self.lines, end)).map_or(start, |p| p + 1);
                    self.lines.insert(at, line);
                    end += 1;
                    self.close += 1;
                    at
                }
            };
            previous = Some(at);
        }
    }

    fn text(self) -> String {
        self.lines.concat()
    }
}

/// Sets each top-level `key` to `value` (TOML, already quoted where needed):
/// a line `key = …` is replaced whole (its comment too: the value is filled
/// in now); a missing key goes right after the key before it in `values`,
/// or after the last top-level line (above any `[[…]]` section). `None`
/// when every value was already right, or there is no front matter. Keeps
/// the file's line endings.
pub fn set_values(text: &str, values: &[(&str, String)]) -> Option<String> {
    let mut lines = Lines::read(text)?;
    let top = lines.top();
    lines.set(top, values);
    let new = lines.text();
    (new != text).then_some(new)
}

/// Sets `values` in the `[[section]]` whose `id` is `id`, like
/// [`set_values`] does at the top level; without such a section, appends
/// one at the end of the front matter (`[[section]]`, `id = "…"`, then
/// `values`). `None` when nothing changed, or there is no front matter.
pub fn set_section_values(text: &str, section: &str, id: &str, values: &[(&str, String)]) -> Option<String> {
    let mut lines = Lines::read(text)?;
    let id_of = |lines: &Lines, r: &Range<usize>| {
        lines.lines[r.clone()].iter().find_map(|l| {
            let (k, _) = l.split_once('=')?;
            if k.trim() != "id" {
                return None;
            }
            let table: toml::Table = toml::from_str(l).ok()?;
            table.get("id")?.as_str().map(str::to_string)
        })
    };
    let quoted = toml::Value::String(id.to_string()).to_string();
    match lines.sections(section).into_iter().find(|r| id_of(&lines, r).as_deref() == Some(id)) {
        Some(range) => lines.set(range.start + 1..range.end, values),
        None => {
            let eol = lines.eol;
            let mut at = lines.close;
            // One blank line between what was there and the new section.
            if lines.lines[at - 1].trim().is_empty() {
                at -= 1;
                lines.lines.remove(at);
                lines.close -= 1;
            }
            let mut new = vec![eol.to_string(), format!("[[{section}]]{eol}"), format!("id = {quoted}{eol}")];
            new.extend(values.iter().map(|(k, v)| format!("{k} = {v}{eol}")));
            lines.close += new.len();
            lines.lines.splice(at..at, new);
        }
    }
    let new = lines.text();
    (new != text).then_some(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_before_the_front_matter_is_kept_and_skipped() {
        let text = "\u{feff}+++\r\ntitle = \"T\"\r\nsize = 1\r\n+++\r\nBody with\r\n+++\r\nin it.\r\n";
        let new = set_values(text, &[("size", "42".into())]).expect("changed");
        assert_eq!(new, text.replace("size = 1", "size = 42"));
    }

    #[test]
    fn replaces_inserts_and_keeps_the_rest() {
        let text =
            "+++\ntitle = \"A\"\nsize = 1   # CHANGE-ME: bytes\nposter = \"/p.jpg\"\n+++\nsize = 99 in the body\n";
        let new = set_values(text, &[("size", "12".into()), ("sha256", "\"ab\"".into()), ("codec", "\"h264\"".into())]);
        assert_eq!(
            new.as_deref(),
            Some("+++\ntitle = \"A\"\nsize = 12\nsha256 = \"ab\"\ncodec = \"h264\"\nposter = \"/p.jpg\"\n+++\nsize = 99 in the body\n")
        );
        let new = new.unwrap();
        assert_eq!(set_values(&new, &[("size", "12".into())]), None, "already right");
        let bare = set_values("+++\r\ntitle = \"A\"\r\n+++\r\n", &[("duration", "\"0:03\"".into())]).unwrap();
        assert_eq!(bare, "+++\r\ntitle = \"A\"\r\nduration = \"0:03\"\r\n+++\r\n");
        assert_eq!(set_values("no front matter", &[("size", "1".into())]), None);
    }

    /// `site-gen new`'s `# sha256 = ""` template line is filled in where it
    /// is, not left below a new line (uncommenting it gave the key twice,
    /// found by the owner review); other comments stay.
    #[test]
    fn a_commented_template_line_is_filled_in() {
        let text = "+++\ntitle = \"A\"\nsize = 0\n# sha256 = \"\"            # optional: output of `sha256sum`\n# A draft is left out.\n# note: codec = x\ndraft = true\n+++\n";
        let new = set_values(text, &[("size", "12".into()), ("sha256", "\"ab\"".into()), ("codec", "\"h264\"".into())]);
        assert_eq!(
            new.as_deref(),
            Some("+++\ntitle = \"A\"\nsize = 12\nsha256 = \"ab\"\ncodec = \"h264\"\n# A draft is left out.\n# note: codec = x\ndraft = true\n+++\n")
        );
    }

    const WITH_SECTIONS: &str = "+++\ntitle = \"A\"\nsize = 1\n\n# Smaller files\n[[variants]]\nid = \"hd\"  # keep\nsize = 5\nsha256 = \"aa\"\n\n[[variants]]\nid = \"web\"\nsize = 6\n+++\nBody\n";

    #[test]
    fn top_level_values_stay_above_the_sections() {
        let new = set_values(WITH_SECTIONS, &[("size", "2".into()), ("sha256", "\"bb\"".into())]).unwrap();
        assert_eq!(
            new,
            WITH_SECTIONS.replace("size = 1\n", "size = 2\nsha256 = \"bb\"\n"),
            "the variant's sha256 is not the clip's"
        );
        let appended = set_values(WITH_SECTIONS, &[("codec", "\"h264\"".into())]).unwrap();
        assert_eq!(appended, WITH_SECTIONS.replace("size = 1\n\n", "size = 1\ncodec = \"h264\"\n\n"));
    }

    #[test]
    fn a_section_is_found_by_its_id_and_only_its_lines_change() {
        let new =
            set_section_values(WITH_SECTIONS, "variants", "web", &[("size", "7".into()), ("sha256", "\"cc\"".into())])
                .unwrap();
        assert_eq!(new, WITH_SECTIONS.replace("id = \"web\"\nsize = 6\n", "id = \"web\"\nsize = 7\nsha256 = \"cc\"\n"));
        let hd = set_section_values(WITH_SECTIONS, "variants", "hd", &[("price", "12.00".into())]).unwrap();
        assert_eq!(hd, WITH_SECTIONS.replace("sha256 = \"aa\"\n", "sha256 = \"aa\"\nprice = 12.00\n"));
        assert_eq!(set_section_values(WITH_SECTIONS, "variants", "hd", &[("size", "5".into())]), None);
        let added = set_section_values(WITH_SECTIONS, "variants", "360p", &[("size", "9".into())]).unwrap();
        assert_eq!(
            added,
            WITH_SECTIONS.replace("size = 6\n+++", "size = 6\n\n[[variants]]\nid = \"360p\"\nsize = 9\n+++")
        );
        let first = set_section_values("+++\r\ntitle = \"A\"\r\n+++\r\n", "variants", "hd", &[("size", "3".into())]);
        assert_eq!(first.unwrap(), "+++\r\ntitle = \"A\"\r\n\r\n[[variants]]\r\nid = \"hd\"\r\nsize = 3\r\n+++\r\n");
        for text in [WITH_SECTIONS.to_string(), added] {
            let front: toml::Table = toml::from_str(text.split("+++").nth(1).unwrap()).unwrap();
            assert_eq!(front["size"].as_integer(), Some(1));
        }
    }
}
