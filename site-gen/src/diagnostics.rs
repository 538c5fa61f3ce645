//! Errors a shop owner can cause, reported with file, line, the offending line
//! and what to do about it.
//!
//! Loading and rendering collect every [`Diagnostic`] of a build instead of
//! stopping at the first, so the owner fixes a whole batch in one go.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where in a source file something went wrong (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub line: usize,
    pub column: usize,
    /// The text of that line, shown under the message.
    pub source_line: String,
}

impl Location {
    /// The location of byte `offset` in `text`.
    pub fn from_offset(text: &str, offset: usize) -> Location {
        let offset = offset.min(text.len());
        let before = &text[..floor_char_boundary(text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        let source_line = text[line_start..].lines().next().unwrap_or("").to_string();
        Location { line, column, source_line }
    }

    /// The location of line `line` (1-based), column 1.
    pub fn from_line(text: &str, line: usize) -> Location {
        let source_line = text.lines().nth(line.saturating_sub(1)).unwrap_or("").to_string();
        Location { line, column: 1, source_line }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One problem found in the shop, with enough context to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, relative to the shop's root where possible.
    pub file: PathBuf,
    pub location: Option<Location>,
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Diagnostic { file: file.into(), location: None, message: message.into(), help: None }
    }

    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        match &self.location {
            Some(loc) => {
                let gutter = loc.line.to_string().len();
                writeln!(f, "{:gutter$}--> {}:{}:{}", "", self.file.display(), loc.line, loc.column)?;
                writeln!(f, "{:gutter$} |", "")?;
                writeln!(f, "{} | {}", loc.line, loc.source_line)?;
                let pad: String = loc
                    .source_line
                    .chars()
                    .take(loc.column.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                writeln!(f, "{:gutter$} | {pad}^", "")?;
            }
            None => writeln!(f, " --> {}", self.file.display())?,
        }
        if let Some(help) = &self.help {
            writeln!(f, "  = help: {help}")?;
        }
        Ok(())
    }
}

/// Every problem found in one run, in a stable order (by file, then line).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(other);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            let la = a.location.as_ref().map(|l| (l.line, l.column));
            let lb = b.location.as_ref().map(|l| (l.line, l.column));
            (&a.file, la, &a.message).cmp(&(&b.file, lb, &b.message))
        });
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let n = self.0.len();
        write!(f, "{n} error{} found; nothing was written.", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for Diagnostics {}

/// `path` relative to `root` when it lies inside it, for shorter messages.
pub fn display_path(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf())
}

/// The known name closest to `unknown`, if one is close enough to be a typo.
pub fn nearest<'a>(unknown: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(unknown, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_from_offset_counts_lines_and_chars() {
        let text = "a = 1\nbé = x\nc";
        let loc = Location::from_offset(text, text.find('x').unwrap());
        assert_eq!((loc.line, loc.column), (2, 6));
        assert_eq!(loc.source_line, "bé = x");
    }

    #[test]
    fn display_shows_file_line_caret_and_help() {
        let text = "title = 1\ntitel = \"x\"\n";
        let d = Diagnostic::new("content/news/a.md", "unknown key `titel`")
            .at(Location::from_offset(text, 10))
            .with_help("did you mean `title`?");
        let s = d.to_string();
        assert!(s.contains("--> content/news/a.md:2:1"), "{s}");
        assert!(s.contains("2 | titel = \"x\""), "{s}");
        assert!(s.contains("= help: did you mean `title`?"), "{s}");
    }

    #[test]
    fn nearest_suggests_typos_only() {
        let known = ["title", "date", "draft", "tags", "summary", "updated"];
        assert_eq!(nearest("titel", &known), Some("title"));
        assert_eq!(nearest("tag", &known), Some("tags"));
        assert_eq!(nearest("colour", &known), None);
    }
}
