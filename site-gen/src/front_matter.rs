//! Splitting a Markdown file into its TOML front matter and body, and reading
//! typed fields from the front matter with owner-friendly errors.
//!
//! Parsing is separate from the content model: [`FrontMatter`] knows TOML and
//! positions, `content::load` knows which fields a clip or a post has.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use toml::Value;

use crate::diagnostics::{nearest, Diagnostic, Location};
use crate::front_matter_slips::slip_help;

/// A Markdown source file, read and decoded.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path for messages, relative to the shop root.
    pub display: PathBuf,
    pub text: String,
}

const FENCE: &str = "+++";

/// The front matter of one file, with the fields not yet read.
pub struct FrontMatter<'a> {
    file: &'a SourceFile,
    table: toml::Table,
    /// Byte offset of the TOML text in the file.
    toml_start: usize,
    toml_text: &'a str,
    /// The Markdown after the closing fence.
    pub body: &'a str,
    /// Byte offset of the body in the file (to report body lines).
    pub body_start: usize,
    pub errors: Vec<Diagnostic>,
    /// `[[key]]` when this is one section of an array of tables.
    section: Option<String>,
    /// Whether the file is all TOML (`site.toml`, whose keys are settings)
    /// rather than a Markdown file's front matter.
    whole_file: bool,
    /// The known keys an unknown one was taken for (`titel`: `title`):
    /// their "missing required field" would say the same twice.
    suggested: Vec<String>,
}

impl<'a> FrontMatter<'a> {
    /// Splits `file` at its `+++` fences and parses the TOML between them.
    /// `known_keys` are the keys this kind of file may use; any other key is
    /// reported with the nearest known one as a suggestion.
    pub fn parse(file: &'a SourceFile, known_keys: &[&str]) -> Result<Self, Vec<Diagnostic>> {
        let text = file.text.as_str();
        let (toml_start, toml_end, body_start) = split(text).map_err(|d| vec![d.clone_for(file)])?;
        Self::from_toml(file, toml_start, toml_end, body_start, known_keys, false)
    }

    /// The front matter's table of `text`, split at its fences exactly as
    /// [`FrontMatter::parse`] splits (a `+++` inside a value is no fence);
    /// None when it cannot be read.
    pub fn table_of(text: &str) -> Option<toml::Table> {
        let (start, end, _) = split(text).ok()?;
        toml::from_str(&text[start..end]).ok()
    }

    fn from_toml(
        file: &'a SourceFile,
        toml_start: usize,
        toml_end: usize,
        body_start: usize,
        known_keys: &[&str],
        whole_file: bool,
    ) -> Result<Self, Vec<Diagnostic>> {
        let text = file.text.as_str();
        let toml_text = &text[toml_start..toml_end];
        let table: toml::Table = toml::from_str(toml_text).map_err(|e| {
            let offset = toml_start + e.span().map_or(0, |s| s.start);
            let location = Location::from_offset(text, offset);
            let help = slip_help(&location.source_line).unwrap_or_else(|| {
                "this is TOML: `key = value`, strings in double quotes, dates like 2026-03-14".to_string()
            });
            let what = if whole_file { "invalid setting" } else { "invalid front matter" };
            // toml says "duplicate key" and points at it: name it, as its line may hold several.
            let message = match (e.message().trim(), e.span().and_then(|s| toml_text.get(s))) {
                ("duplicate key", Some(key)) => format!("duplicate key `{key}`"),
                (message, _) => message.to_string(),
            };
            vec![Diagnostic::new(&file.display, format!("{what}: {message}")).at(location).with_help(help)]
        })?;
        let mut fm = FrontMatter {
            file,
            table,
            toml_start,
            toml_text,
            body: &text[body_start..],
            body_start,
            errors: Vec::new(),
            section: None,
            whole_file,
            suggested: Vec::new(),
        };
        fm.check_keys(known_keys);
        Ok(fm)
    }

    /// Reports (and drops) every key not in `known_keys`, suggesting the nearest.
    fn check_keys(&mut self, known_keys: &[&str]) {
        let fm = self;
        let unknown: Vec<String> = fm.table.keys().filter(|k| !known_keys.contains(&k.as_str())).cloned().collect();
        // site.toml's keys are its settings; a Markdown file's, its front matter.
        let (unknown_key, noun) =
            if fm.whole_file { ("unknown setting", "setting") } else { ("unknown front matter key", "key") };
        for key in unknown {
            let help = match (nearest(&key, known_keys), &fm.section) {
                (Some(k), _) => {
                    fm.suggested.push(k.to_string());
                    format!("did you mean `{k}`? Known {noun}s: {}", known_keys.join(", "))
                }
                // TOML puts every line after a `[[…]]` header into that
                // section: a key of the whole file added at its end lands here.
                (None, Some(section)) => format!(
                    "this line is inside the `{section}` section that starts on line {}, whose {noun}s are: {}; \
                     a {noun} of the whole file goes above the first `[[…]]` line",
                    fm.start().line,
                    known_keys.join(", ")
                ),
                (None, None) => format!("known {noun}s: {}", known_keys.join(", ")),
            };
            let d = fm.error_at_key(&key, format!("{unknown_key} `{key}`")).with_help(help);
            fm.errors.push(d);
            fm.table.remove(&key);
        }
    }

    /// The tables of an array of tables (`[[key]]` sections), each read
    /// like front matter of its own: fields by the same readers, errors at
    /// their line within the section, unknown keys reported. Their errors
    /// are the caller's to collect. Absent: none.
    pub fn tables(&mut self, key: &str, known_keys: &[&str]) -> Vec<FrontMatter<'a>> {
        let example = format!("[[{key}]]");
        let items = match self.take(key, None) {
            None => return Vec::new(),
            Some(Value::Array(items)) if items.iter().all(Value::is_table) => items,
            Some(other) => {
                self.wrong_type(key, &format!("sections that each start with a line `{example}`"), &example, &other);
                return Vec::new();
            }
        };
        // Each `[[key]]` section runs to the next line that opens a section.
        let header = format!("[[{key}]]");
        let mut sections = Vec::new();
        let mut offset = 0;
        for line in self.toml_text.split_inclusive('\n') {
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                if let Some(last) = sections.last_mut().filter(|(_, end): &&mut (usize, usize)| *end == usize::MAX) {
                    last.1 = offset;
                }
                // `[[variants]]  # 4K`: a comment after the header is TOML too.
                if trimmed.split('#').next().unwrap_or_default().replace([' ', '\t'], "") == header {
                    sections.push((offset, usize::MAX));
                }
            }
            offset += line.len();
        }
        let whole = (0, self.toml_text.len());
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let (start, end) = sections.get(i).copied().unwrap_or(whole);
                let end = end.min(self.toml_text.len());
                let mut sub = FrontMatter {
                    file: self.file,
                    table: match item {
                        Value::Table(t) => t,
                        _ => unreachable!("checked above"),
                    },
                    toml_start: self.toml_start + start,
                    toml_text: &self.toml_text[start..end],
                    body: "",
                    body_start: self.body_start,
                    errors: Vec::new(),
                    section: Some(header.clone()),
                    whole_file: self.whole_file,
                    suggested: Vec::new(),
                };
                sub.check_keys(known_keys);
                sub
            })
            .collect()
    }

    /// Where this table's text starts (its `[[key]]` line, for a section).
    pub fn start(&self) -> Location {
        Location::from_offset(&self.file.text, self.toml_start)
    }

    /// Reads a whole TOML file (such as `site.toml`) with the same field
    /// reader and messages as front matter.
    pub fn whole_file(file: &'a SourceFile, known_keys: &[&str]) -> Result<Self, Vec<Diagnostic>> {
        Self::from_toml(file, 0, file.text.len(), file.text.len(), known_keys, true)
    }

    /// Where `key` is set (`key = …`, or a table `[key]` / `[[key]]`), or
    /// the opening fence if it is not.
    fn key_location(&self, key: &str) -> Location {
        let mut offset = self.toml_start;
        for line in self.toml_text.split_inclusive('\n') {
            let trimmed = line.trim_start();
            let table = trimmed.trim_start_matches('[').trim_start();
            let is_table = trimmed.starts_with('[')
                && table.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with(']'));
            let is_value = trimmed.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('='));
            if is_table || is_value {
                let indent = line.len() - trimmed.len();
                return Location::from_offset(&self.file.text, offset + indent);
            }
            offset += line.len();
        }
        Location::from_line(&self.file.text, 1)
    }

    pub fn error_at_key(&self, key: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(&self.file.display, message).at(self.key_location(key))
    }

    fn wrong_type(&mut self, key: &str, expected: &str, example: &str, found: &Value) {
        // `[[variant]]` for `[[variants]]`: a section under a name that is
        // a plain field's.
        if let Value::Array(items) = found {
            let header = format!("[[{key}]]");
            let at = self.toml_text.find(&header).filter(|_| items.iter().all(Value::is_table));
            if let Some(at) = at {
                let d = Diagnostic::new(&self.file.display, format!("`{header}` is not a section of this file"))
                    .at(Location::from_offset(&self.file.text, self.toml_start + at))
                    .with_help(format!(
                        "the sections are `[[variants]]` (a clip's other files), `[[licences]]` and \
                         `[[media_variants]]` (site.toml); `{key}` itself is written like `{example}`"
                    ));
                self.errors.push(d);
                return;
            }
        }
        let d = self
            .error_at_key(key, format!("`{key}` must be {expected}, found {}", found.type_str()))
            .with_help(format!("write it like `{example}`"));
        self.errors.push(d);
    }

    fn missing(&mut self, key: &str, example: &str) {
        // `titel = …` is already reported with "did you mean `title`?".
        if self.suggested.iter().any(|k| k == key) {
            return;
        }
        if let Some(section) = &self.section {
            let d = Diagnostic::new(&self.file.display, format!("missing required field `{key}` in this `{section}`"))
                .at(self.start())
                .with_help(format!("add a line like `{example}` below `{section}`"));
            self.errors.push(d);
            return;
        }
        let d = Diagnostic::new(&self.file.display, format!("missing required field `{key}`"))
            .at(Location::from_line(&self.file.text, 1))
            .with_help(if self.toml_start == 0 {
                format!("add a line like `{example}`")
            } else {
                format!("add a line like `{example}` between the `+++` lines")
            });
        self.errors.push(d);
    }

    fn take(&mut self, key: &str, required: Option<&str>) -> Option<Value> {
        let v = self.table.remove(key);
        if v.is_none() {
            if let Some(example) = required {
                self.missing(key, example);
            }
        }
        v
    }

    /// A string field; `required` holds an example line to show when it is missing.
    pub fn string(&mut self, key: &str, required: Option<&str>) -> Option<String> {
        let example = required.unwrap_or("key = \"text\"");
        match self.take(key, required)? {
            Value::String(s) if s.trim().is_empty() && required.is_some() => {
                let d =
                    self.error_at_key(key, format!("`{key}` is empty")).with_help(format!("write it like `{example}`"));
                self.errors.push(d);
                None
            }
            Value::String(s) => Some(s),
            other => {
                self.wrong_type(key, "text in double quotes", example, &other);
                None
            }
        }
    }

    pub fn bool(&mut self, key: &str) -> bool {
        match self.take(key, None) {
            None => false,
            Some(Value::Boolean(b)) => b,
            Some(other) => {
                self.wrong_type(key, "true or false", &format!("{key} = true"), &other);
                false
            }
        }
    }

    pub fn u64(&mut self, key: &str, required: Option<&str>) -> Option<u64> {
        let generic = format!("{key} = 1");
        let example = required.unwrap_or(&generic);
        match self.take(key, required)? {
            Value::Integer(i) if i >= 0 => Some(i as u64),
            Value::Integer(_) => {
                let d = self.error_at_key(key, format!("`{key}` must not be negative"));
                self.errors.push(d);
                None
            }
            // `items_per_page = "12"`: the number it holds, without quotes
            // (the help was "write it like `key = 1`": the authoring review).
            Value::String(s) if s.trim().parse::<u64>().is_ok() => {
                let example = format!("{key} = {}", s.trim());
                self.wrong_type(key, "a whole number, without quotes", &example, &Value::String(s));
                None
            }
            other => {
                self.wrong_type(key, "a whole number", example, &other);
                None
            }
        }
    }

    /// A list of strings (an absent list is empty).
    pub fn string_list(&mut self, key: &str) -> Vec<String> {
        let example = format!("{key} = [\"one\", \"two\"]");
        match self.take(key, None) {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        Value::String(s) => out.push(s),
                        other => {
                            self.wrong_type(key, "a list of texts in double quotes", &example, &other);
                            return Vec::new();
                        }
                    }
                }
                out
            }
            Some(other) => {
                self.wrong_type(key, "a list of texts in double quotes", &example, &other);
                Vec::new()
            }
        }
    }

    /// A date or date-time: a TOML date (`2026-03-14`), a TOML date-time
    /// (`2026-03-14T09:30:00Z`), or the same in a string. Dates without a
    /// time are midnight UTC; date-times without an offset are UTC.
    pub fn date(&mut self, key: &str, required: Option<&str>) -> Option<DateTime<Utc>> {
        let example = required.unwrap_or("date = 2026-03-14");
        let value = self.take(key, required)?;
        let parsed = match &value {
            Value::Datetime(dt) => parse_date(&dt.to_string()),
            Value::String(s) => parse_date(s),
            other => {
                let other = other.clone();
                self.wrong_type(key, "a date", example, &other);
                return None;
            }
        };
        match parsed {
            Some(d) => Some(d),
            None => {
                // `date = "7 Dec 2026"`: the date it means, written as one.
                let help = match &value {
                    Value::String(s) => crate::front_matter_slips::date_help(key, s),
                    _ => None,
                };
                let help = help.unwrap_or_else(|| {
                    format!("use year-month-day, like `{example}`, or add a time: `{key} = 2026-03-14T09:30:00Z`")
                });
                let d =
                    self.error_at_key(key, format!("`{key}` is not a valid date: {}", shown(&value))).with_help(help);
                self.errors.push(d);
                None
            }
        }
    }

    /// The raw value of an optional field, for kinds with their own rules (price).
    pub fn value(&mut self, key: &str, required: Option<&str>) -> Option<Value> {
        self.take(key, required)
    }

    pub fn push_error(&mut self, d: Diagnostic) {
        self.errors.push(d);
    }
}

/// A value as the owner wrote it, for messages: a TOML date or time as
/// written (toml's own display of one is an internal table), a string in
/// quotes.
pub fn shown(value: &Value) -> String {
    match value {
        Value::Datetime(dt) => dt.to_string(),
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

/// Parses the date forms front matter accepts (a date, or a date and time,
/// read as UTC when it names no zone).
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?));
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    // TOML 1.1 lets the seconds out (`2026-03-14T09:30Z`); RFC 3339 does not.
    if let Some((minutes, zone)) =
        s.split_at_checked(16).filter(|(m, z)| m.as_bytes()[13] == b':' && !z.is_empty() && !z.starts_with([':', '.']))
    {
        if let Ok(dt) = DateTime::parse_from_rfc3339(&format!("{minutes}:00{zone}")) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(Utc.from_utc_datetime(&dt));
        }
    }
    None
}

/// Byte ranges (toml start, toml end, body start) of a file with `+++` fences.
fn split(text: &str) -> Result<(usize, usize, usize), SplitError> {
    let text_start = if text.starts_with('\u{feff}') { 3 } else { 0 };
    if text[text_start..].trim().is_empty() {
        return Err(SplitError::Empty);
    }
    let first_line_end = text[text_start..].find('\n').map_or(text.len(), |i| text_start + i + 1);
    if text[text_start..first_line_end].trim_end() != FENCE {
        return Err(SplitError::NoOpening);
    }
    let mut offset = first_line_end;
    for line in text[first_line_end..].split_inclusive('\n') {
        if line.trim_end() == FENCE {
            return Ok((first_line_end, offset, offset + line.len()));
        }
        offset += line.len();
    }
    Err(SplitError::NoClosing)
}

enum SplitError {
    Empty,
    NoOpening,
    NoClosing,
}

impl SplitError {
    fn clone_for(&self, file: &SourceFile) -> Diagnostic {
        let at = Location::from_line(&file.text, 1);
        match self {
            SplitError::Empty => {
                Diagnostic::new(&file.display, "the file is empty: write its front matter, or delete it")
                    .at(at)
                    .with_help(format!(
                        "a page starts with a line `+++`, then its fields (`title = \"...\"`), then another `+++` line, then its text; \
                         {} lists the fields of clips, news posts and pages",
                        crate::guides::guide("content.md")
                    ))
            }
            // `---` and `title: x`: YAML, as Hugo and Jekyll write it.
            SplitError::NoOpening if file.text.trim_start_matches('\u{feff}').starts_with("---") => {
                Diagnostic::new(&file.display, "the front matter is YAML (between `---` lines); site-gen reads TOML, between `+++` lines")
                    .at(at)
                    .with_help(
                        "write `+++` in place of each `---` line, and each field as `title = \"Hello\"` (an `=` in place \
                         of the `:`, text in quotes; dates stay as they are: `date = 2026-01-01`)",
                    )
            }
            SplitError::NoOpening => {
                Diagnostic::new(&file.display, "the file does not start with front matter").at(at).with_help(
                    "start the file with a line `+++`, then the fields (`title = \"...\"`), then another `+++` line",
                )
            }
            SplitError::NoClosing => Diagnostic::new(&file.display, "the front matter is never closed")
                .at(at)
                .with_help("add a line with just `+++` after the last field, before the text"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SourceFile {
        SourceFile { display: "content/news/x.md".into(), text: text.into() }
    }

    #[test]
    fn splits_front_matter_and_body() {
        let f = file("+++\ntitle = \"Hi\"\n+++\nBody\n");
        let mut fm = FrontMatter::parse(&f, &["title"]).map_err(|_| ()).unwrap();
        assert_eq!(fm.string("title", Some("title = \"x\"")).as_deref(), Some("Hi"));
        assert_eq!(fm.body, "Body\n");
        assert!(fm.errors.is_empty());
    }

    #[test]
    fn unknown_key_points_at_its_line_and_suggests() {
        let f = file("+++\ntitle = \"Hi\"\n  dat = 2026-01-01\n+++\n");
        let fm = FrontMatter::parse(&f, &["title", "date"]).map_err(|_| ()).unwrap();
        let d = &fm.errors[0];
        assert_eq!(d.location.as_ref().unwrap().line, 3);
        assert_eq!(d.location.as_ref().unwrap().column, 3);
        assert!(d.help.as_ref().unwrap().contains("did you mean `date`?"));
    }

    /// `titel` for a required `title`: one error, "did you mean `title`?",
    /// not a second saying `title` is missing.
    #[test]
    fn a_misspelt_required_key_is_one_error() {
        let f = file(
            "+++
titel = \"Hi\"\n+++\n",
        );
        let mut fm = FrontMatter::parse(&f, &["title", "date"]).map_err(|_| ()).unwrap();
        assert_eq!(fm.string("title", Some("title = \"x\"")), None);
        assert_eq!(fm.errors.len(), 1, "{:?}", fm.errors);
        assert!(fm.errors[0].help.as_ref().unwrap().contains("did you mean `title`?"));
        // Without the misspelling, the missing field is said.
        let f = file("+++\ndate = 2026-01-01\n+++\n");
        let mut fm = FrontMatter::parse(&f, &["title", "date"]).map_err(|_| ()).unwrap();
        assert_eq!(fm.string("title", Some("title = \"x\"")), None);
        assert!(fm.errors[0].message.contains("missing required field `title`"));
    }

    #[test]
    fn toml_syntax_error_has_file_position() {
        let f = file("+++\ntitle = \"Hi\ndate = 2026-01-01\n+++\n");
        let errs = FrontMatter::parse(&f, &["title", "date"]).err().unwrap();
        assert_eq!(errs[0].location.as_ref().unwrap().line, 2, "{}", errs[0]);
        let f = file("+++\ntitle = \"Hi\"\ndate = 2026-01-01\ntitle = \"Ho\"\n+++\n");
        let errs = FrontMatter::parse(&f, &["title", "date"]).err().unwrap();
        assert_eq!(errs[0].message, "invalid front matter: duplicate key `title`");
        assert_eq!((errs[0].location.as_ref().unwrap().line, errs[0].location.as_ref().unwrap().column), (4, 1));
    }

    #[test]
    fn missing_fences_are_explained() {
        let errs = FrontMatter::parse(&file("title = 1\n"), &[]).err().unwrap();
        assert!(errs[0].message.contains("does not start with front matter"));
        let yaml = file("---\ntitle: \"Hello\"\ndate: 2026-01-01\n---\nBody\n");
        let errs = FrontMatter::parse(&yaml, &["title", "date"]).err().unwrap();
        assert!(errs[0].message.contains("the front matter is YAML"), "{errs:#?}");
        assert!(errs[0].help.as_deref().unwrap_or_default().contains("`+++` in place of each `---` line"));
        let errs = FrontMatter::parse(&file("+++\ntitle = 1\n"), &[]).err().unwrap();
        assert!(errs[0].message.contains("never closed"));
    }

    #[test]
    fn dates_in_every_accepted_form() {
        for s in [
            "2026-03-14",
            "2026-03-14T00:00:00Z",
            "2026-03-14 00:00:00",
            "2026-03-14T01:00:00+01:00",
            "2026-03-14T00:00",
            "2026-03-14T00:00Z",
            "2026-03-14 01:00+01:00",
        ] {
            assert_eq!(parse_date(s).unwrap().to_rfc3339(), "2026-03-14T00:00:00+00:00", "{s}");
        }
        assert!(parse_date("14 March 2026").is_none());
        assert!(parse_date("2026-02-30").is_none());
        assert!(parse_date("2026-03-14T00:00Zz").is_none());
        assert!(parse_date("10:00").is_none());
        // As TOML itself reads them (a date-time value, not a string).
        let f = file("+++\ndate = 2026-03-14T01:00+01:00\n+++\n");
        let mut fm = FrontMatter::parse(&f, &["date"]).map_err(|_| ()).unwrap();
        assert_eq!(fm.date("date", None).unwrap().to_rfc3339(), "2026-03-14T00:00:00+00:00");
    }

    #[test]
    fn sections_are_read_with_their_own_lines() {
        let f = file("+++\ntitle = \"X\"\n[[variants]]  # HD\nid = \"hd\"\nsize = \"big\"\n\n[[variants]]\nid = \"web\"\nprise = 1\n+++\nBody");
        let mut fm = FrontMatter::parse(&f, &["title", "variants"]).unwrap();
        let mut tables = fm.tables("variants", &["id", "size", "price"]);
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[1].string("id", None).as_deref(), Some("web"));
        assert_eq!(tables[0].u64("size", None), None);
        let first = tables[0].errors[0].to_string();
        assert!(first.contains(":5:1") && first.contains("`size` must be a whole number"), "{first}");
        let second = tables[1].errors[0].to_string();
        assert!(second.contains(":9:1") && second.contains("did you mean `price`"), "{second}");
        assert_eq!(tables[1].start().line, 7);
        assert_eq!(tables[1].u64("price", Some("price = 1")), None);
        assert_eq!(tables[1].errors.len(), 1, "`prise` is said once, not as a missing `price` too");
        assert_eq!(tables[0].u64("price", Some("price = 1")), None);
        let missing = tables[0].errors.last().unwrap().to_string();
        assert!(
            missing.contains(":3:1") && missing.contains("missing required field `price` in this `[[variants]]`"),
            "{missing}"
        );
        assert!(fm.errors.is_empty());
        let f = file("+++\nvariants = 3\n+++\n");
        let mut fm = FrontMatter::parse(&f, &["variants"]).unwrap();
        assert!(fm.tables("variants", &[]).is_empty());
        assert!(fm.errors[0].to_string().contains("[[variants]]"));
    }

    /// TOML puts a line added at the end, after a `[[variants]]` section,
    /// into that section: the message says so, not just "unknown key".
    #[test]
    fn a_key_of_the_whole_file_written_in_a_section_is_told_where_it_landed() {
        let f = file("+++\ntitle = \"X\"\n[[variants]]\nid = \"hd\"\ndraft = true\n+++\nBody");
        let mut fm = FrontMatter::parse(&f, &["title", "draft", "variants"]).unwrap();
        let tables = fm.tables("variants", &["id", "price"]);
        let e = tables[0].errors[0].to_string();
        assert!(e.contains("unknown front matter key `draft`") && e.contains(":5:1"), "{e}");
        assert!(e.contains("inside the `[[variants]]` section that starts on line 3"), "{e}");
        assert!(e.contains("a key of the whole file goes above the first `[[…]]` line"), "{e}");
        // `[[variant]]` for `[[variants]]`: named as a section, at its line.
        let f = file("+++\ntitle = \"X\"\n\n[[variant]]\nid = \"hd\"\n+++\nBody");
        let mut fm = FrontMatter::parse(&f, &["title", "variant", "variants"]).unwrap();
        assert_eq!(fm.string("variant", None), None);
        let e = fm.errors[0].to_string();
        assert!(e.contains("`[[variant]]` is not a section of this file") && e.contains(":4:1"), "{e}");
        assert!(e.contains("the sections are `[[variants]]`"), "{e}");
    }

    /// `price = 12,50` is not TOML: the help names the decimal comma.
    #[test]
    fn a_decimal_comma_is_named() {
        let f = file("+++\ntitle = \"X\"\nprice = 12,50\n+++\n");
        let e = FrontMatter::parse(&f, &["title", "price"]).err().unwrap()[0].to_string();
        assert!(e.contains(":3:") && e.contains("write decimals with a point: 12.50, not 12,50"), "{e}");
        let f = file("+++\ntitle = \"X\nprice = 12\n+++\n");
        let e = FrontMatter::parse(&f, &["title", "price"]).err().unwrap()[0].to_string();
        assert!(e.contains("this is TOML"), "other mistakes keep the general help: {e}");
        // Not a price: the general help.
        let f = file("+++\nresolution = 1920,1080\n+++\n");
        let e = FrontMatter::parse(&f, &["resolution"]).err().unwrap()[0].to_string();
        assert!(e.contains("this is TOML"), "{e}");
        // A thousands separator: taken out, no decimals suggested.
        let f = file("+++\nprice = 1,250\n+++\n");
        let e = FrontMatter::parse(&f, &["price"]).err().unwrap()[0].to_string();
        assert!(e.contains("write price = 1250: a point before the cents, no thousands separator"), "{e}");
    }

    /// A tag list typed without its quotes gets the list written out (the
    /// owner-CLI review: only the general help).
    #[test]
    fn a_tag_list_without_quotes_is_written_out() {
        for typed in ["tags = harbour, dawn", "tags = [harbour, dawn]", "tags = [harbour,dawn]"] {
            let f = file(&format!("+++\ntitle = \"X\"\n{typed}\n+++\n"));
            let e = FrontMatter::parse(&f, &["title", "tags"]).err().unwrap()[0].to_string();
            assert!(
                e.contains(":3:")
                    && e.contains(r#"write the tags as a list, each in double quotes: tags = ["harbour", "dawn"]"#),
                "{typed}: {e}"
            );
        }
    }

    /// The help a TOML syntax error on `line` gets in a Markdown file.
    fn help_for(line: &str) -> String {
        let f = file(&format!("+++\n{line}\n+++\n"));
        let e = FrontMatter::parse(&f, &["title", "price", "draft", "date"]).err().expect(line)[0].clone();
        let loc = e.location.as_ref().unwrap();
        assert_eq!(loc.line, 2, "{line}: the error is at its line: {e}");
        e.help.unwrap()
    }

    /// Curly quotes, a currency sign, yes/no, a day-first date and a `"`
    /// inside a text each get their own help, not "this is TOML".
    #[test]
    fn common_typing_slips_are_named() {
        let h = help_for("title = “Harbour”");
        assert!(h.contains("replace the curly quotes") && h.contains("`title = \"Harbour\"`"), "{h}");
        assert!(h.contains("smart quotes"), "{h}");
        let h = help_for("title = ‘Harbour’");
        assert!(h.contains("`title = 'Harbour'`"), "{h}");
        // A running time as the docs write it, without its quotes.
        for time in ["0:10", "1:02:03", "5:3"] {
            let h = help_for(&format!("duration = {time}   # minutes:seconds"));
            assert_eq!(h, format!("write the running time in double quotes: duration = \"{time}\""));
        }

        for (line, number) in [("price = €20", "20"), ("price = 20 $", "20"), ("price = £12,50", "12.50")] {
            let h = help_for(line);
            assert_eq!(h, format!("write the number only: price = {number}; the currency is set in content/site.toml"));
        }

        for (line, number) in [("price = 1.200,00", "1200.00"), ("price = 15,-", "15"), ("price = 1,250.50", "1250.50")]
        {
            assert_eq!(
                help_for(line),
                format!("write price = {number}: a point before the cents, no thousands separator")
            );
        }

        assert_eq!(help_for("draft = yes"), "write true or false (in small letters): draft = true");
        assert_eq!(help_for("draft = off # for now"), "write true or false (in small letters): draft = false");
        assert_eq!(help_for("draft = True"), "write true or false (in small letters): draft = true");
        // Other keys with such values are texts wanting quotes, not numbers or yes/no.
        for line in ["title = $5 Stock Footage", "title = Yes"] {
            let h = help_for(line);
            assert!(!h.contains("write the number only") && !h.contains("true or false"), "{line}: {h}");
        }

        assert_eq!(help_for("date = 04.12.2026"), "write dates as year-month-day: date = 2026-12-04");
        assert_eq!(help_for("date = 13/04/2026"), "write dates as year-month-day: date = 2026-04-13");
        assert_eq!(
            help_for("date = 04/12/2026"),
            "write dates as year-month-day: date = 2026-12-04 for 4 December 2026, or date = 2026-04-12 for 12 April 2026"
        );
        assert_eq!(help_for("date = 2026/12/04"), "write dates as year-month-day: date = 2026-12-04");
        // One digit for the day or the month: TOML wants two.
        assert_eq!(help_for("date = 2026-12-7"), "write dates as year-month-day: date = 2026-12-07");
        assert_eq!(help_for("date = 7-12-2026"), "write dates as year-month-day: date = 2026-12-07");
        // The month by its name (the authoring review: "strings must be
        // quoted" sent the owner to quote it, and then only an example came).
        for line in ["date = 7 Nov 2026", "date = November 7, 2026", "date = Nov. 7 2026"] {
            assert_eq!(help_for(line), "write dates as year-month-day: date = 2026-11-07", "{line}");
        }
        let f = file("+++\ndate = \"7 December 2026\"\n+++\n");
        let mut fm = FrontMatter::parse(&f, &["date"]).unwrap();
        assert!(fm.date("date", None).is_none());
        assert_eq!(fm.errors[0].help.as_deref(), Some("write dates as year-month-day: date = 2026-12-07"));
        assert!(!help_for("date = 7 Smarch 2026").contains("year-month-day: date ="), "no month of that name");

        let h = help_for("title = \"The \"best\" dawn\"");
        assert!(h.contains("put single quotes around it: title = 'The \"best\" dawn'"), "{h}");
        assert!(h.contains(r#"title = "The \"best\" dawn""#), "{h}");
        // An apostrophe cannot go inside single quotes: only escaping is offered.
        let h = help_for("title = \"Harbour's \"best\" dawn\"");
        assert_eq!(h, r#"a " inside the text ends it: write \" for each " inside: title = "Harbour's \"best\" dawn""#);
        // The suggested lines are TOML that reads as meant.
        for fixed in [r#"title = "Harbour's \"best\" dawn""#, "title = 'The \"best\" dawn'"] {
            let t: toml::Table = toml::from_str(fixed).unwrap();
            assert!(t["title"].as_str().unwrap().contains("\"best\" dawn"), "{fixed}");
        }

        // Other mistakes keep the general help.
        for line in ["title = \"Harbour", "date = 32.13.2026", "price = 12 50", "draft = maybe"] {
            assert!(help_for(line).starts_with("this is TOML"), "{line}");
        }
    }

    /// site.toml is all settings: its messages do not speak of front matter.
    #[test]
    fn site_toml_mistakes_are_called_settings() {
        let f = SourceFile { display: "content/site.toml".into(), text: "title = \"X\"\nlangauge = \"en\"\n".into() };
        let fm = FrontMatter::whole_file(&f, &["title", "language"]).map_err(|_| ()).unwrap();
        let e = fm.errors[0].to_string();
        assert!(e.contains("error: unknown setting `langauge`") && e.contains("site.toml:2:1"), "{e}");
        assert!(e.contains("did you mean `language`? Known settings: title, language"), "{e}");
        assert!(!e.contains("front matter"), "{e}");
        let f = SourceFile { display: "content/site.toml".into(), text: "title = \"Salt Shop\n".into() };
        let e = FrontMatter::whole_file(&f, &["title"]).err().unwrap()[0].to_string();
        assert!(e.contains("error: invalid setting: ") && e.contains("site.toml:1:"), "{e}");
        // Its sections too.
        let f = SourceFile { display: "content/site.toml".into(), text: "[[licences]]\nprize = 1\n".into() };
        let mut fm = FrontMatter::whole_file(&f, &["licences"]).map_err(|_| ()).unwrap();
        let e = fm.tables("licences", &["id"])[0].errors[0].to_string();
        assert!(e.contains("unknown setting `prize`") && e.contains("whose settings are: id"), "{e}");
        // A misspelt section is found at its header, not at line 1.
        for header in ["[[licence]]", "[licence]", "  [[ licence ]]"] {
            let text = format!("title = \"X\"\n\n{header}\nname = \"Standard\"\n");
            let f = SourceFile { display: "content/site.toml".into(), text };
            let fm = FrontMatter::whole_file(&f, &["title", "licences"]).map_err(|_| ()).unwrap();
            let e = fm.errors[0].to_string();
            assert!(e.contains("unknown setting `licence`") && e.contains("site.toml:3:"), "{header}: {e}");
        }
        // A Markdown file keeps "front matter".
        let f = file("+++\nlangauge = \"en\"\n+++\n");
        let fm = FrontMatter::parse(&f, &["language"]).map_err(|_| ()).unwrap();
        assert!(fm.errors[0].message.contains("unknown front matter key `langauge`"));
    }

    #[test]
    fn an_empty_file_is_called_empty() {
        for text in ["", "  \n\n", "\u{feff}\n"] {
            let errs = FrontMatter::parse(&file(text), &[]).err().unwrap();
            assert_eq!(errs[0].message, "the file is empty: write its front matter, or delete it", "{text:?}");
        }
    }

    #[test]
    fn a_number_in_quotes_is_given_without_them() {
        let f = file("+++\nitems_per_page = \"12\"\nsize = \"big\"\n+++\n");
        let mut fm = FrontMatter::parse(&f, &["items_per_page", "size"]).map_err(|_| ()).unwrap();
        assert!(fm.u64("items_per_page", None).is_none());
        assert!(fm.u64("size", None).is_none());
        assert_eq!(fm.errors[0].message, "`items_per_page` must be a whole number, without quotes, found string");
        assert_eq!(fm.errors[0].help.as_deref(), Some("write it like `items_per_page = 12`"));
        assert_eq!(fm.errors[1].help.as_deref(), Some("write it like `size = 1`"), "its own key, not `key`");
    }

    #[test]
    fn wrong_types_and_missing_fields_are_collected() {
        let f = file("+++\ntitle = 3\ndate = \"March\"\ntags = \"a\"\n+++\n");
        let mut fm = FrontMatter::parse(&f, &["title", "date", "tags", "price"]).map_err(|_| ()).unwrap();
        assert!(fm.string("title", Some("title = \"x\"")).is_none());
        assert!(fm.date("date", Some("date = 2026-01-01")).is_none());
        assert!(fm.string_list("tags").is_empty());
        assert!(fm.value("price", Some("price = 9.50")).is_none());
        let msgs: Vec<_> = fm.errors.iter().map(|d| d.message.clone()).collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(msgs[0].contains("`title` must be text"));
        assert!(msgs[1].contains("not a valid date"));
        assert!(msgs[2].contains("`tags` must be a list"));
        assert!(msgs[3].contains("missing required field `price`"));
    }
}
