//! The Tera templates: the shop's own `templates/` folder over the built-in
//! defaults, so a shop that lacks a template (or has none) still builds.

use std::collections::BTreeMap;
use std::path::Path;

use tera::Tera;

use crate::diagnostics::{Diagnostic, Diagnostics, Location};
use crate::template_blocks::unclosed_block;
use crate::template_uses::{is_used, unknown_filter, unused_templates, uses_of};

/// Folder of the shop's templates, relative to its root.
pub const TEMPLATES_DIR: &str = "templates";

macro_rules! builtin {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}

/// The default templates, compiled into the binary from the repository's `templates/`.
pub const BUILTIN_TEMPLATES: &[(&str, &str)] = builtin!(
    "base.html",
    "partials/header.html",
    "partials/footer.html",
    "partials/clip_card.html",
    "partials/post_card.html",
    "partials/pagination.html",
    "partials/tag_links.html",
    "partials/cart_button.html",
    "index.html",
    "clips.html",
    "clip.html",
    "news.html",
    "post.html",
    "tags.html",
    "tag.html",
    "page.html",
    "cart.html",
    "search.html",
    "404.html",
    "atom.xml",
    "sitemap.xml",
);

/// The default stylesheet, written when the shop's `static/` has none.
pub const BUILTIN_STYLESHEET: (&str, &str) = ("css/site.css", include_str!("../../static/css/site.css"));

/// The cart's script (see docs/templates.md), written when the shop's `static/` has none.
pub const BUILTIN_CART_SCRIPT: (&str, &str) = ("js/cart.js", include_str!("../../static/js/cart.js"));

/// The search page's script (see `crate::search`), written when the shop's `static/` has none.
pub const BUILTIN_SEARCH_SCRIPT: (&str, &str) = ("js/search.js", include_str!("../../static/js/search.js"));

/// The built-in static files: each is written unless the shop's `static/`
/// has a file of that name, so the built-in templates work in any shop.
pub const BUILTIN_STATIC_FILES: &[(&str, &str)] = &[BUILTIN_STYLESHEET, BUILTIN_CART_SCRIPT, BUILTIN_SEARCH_SCRIPT];

/// The built-in static files that `static_files` (the shop's, relative to
/// `static/`) does not replace.
pub fn builtin_static_files_missing<'a>(
    static_files: &'a [std::path::PathBuf],
) -> impl Iterator<Item = (&'static str, &'static str)> + 'a {
    BUILTIN_STATIC_FILES.iter().copied().filter(|(path, _)| !static_files.iter().any(|f| f == Path::new(path)))
}

/// Loads the built-in templates, then the shop's own on top of them.
/// Prints a warning for each file under `templates/` that no page uses
/// (see [`unused_templates`]).
pub fn load(root: &Path) -> Result<Tera, Diagnostics> {
    load_with_digest(root).map(|(tera, _)| tera)
}

/// [`load`], with the [`TemplatesDigest`] of what was loaded.
pub fn load_with_digest(root: &Path) -> Result<(Tera, TemplatesDigest), Diagnostics> {
    let (tera, warnings, digest) = load_with_warnings(root)?;
    for warning in warnings {
        eprintln!("{warning}");
    }
    Ok((tera, digest))
}

/// What a build's pages are made with besides their context: the hash
/// (XXH3-128) of every template's name and text, built-in and the shop's.
/// `None` when a template reads something else (Tera's `get_env`): then
/// the same context need not give the same page, and a build keeps no page
/// of the last one (`crate::kept_pages`).
pub type TemplatesDigest = Option<u128>;

/// Tera's functions whose result is a function of their arguments (not
/// `get_env`, nor any Tera may add).
const PURE_FUNCTIONS: [&str; 2] = ["range", "throw"];

/// [`load`], with the warnings returned rather than printed.
fn load_with_warnings(root: &Path) -> Result<(Tera, Vec<String>, TemplatesDigest), Diagnostics> {
    let mut sources: BTreeMap<String, (String, String)> = BUILTIN_TEMPLATES
        .iter()
        .map(|(name, text)| (name.to_string(), (format!("built-in template {name}"), text.to_string())))
        .collect();
    let mut errors = Diagnostics::default();
    // The shop's files under names no build reads (`clip.htm`, `Page.HTML`).
    let mut ignored = Vec::new();
    let dir = root.join(TEMPLATES_DIR);
    if dir.is_dir() {
        for entry in walkdir::WalkDir::new(&dir).sort_by_file_name() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    errors.push(Diagnostic::new(TEMPLATES_DIR, format!("cannot read templates: {e}")));
                    continue;
                }
            };
            let path = entry.path();
            let is_template = path.extension().is_some_and(|e| e == "html" || e == "xml");
            let name = path.strip_prefix(&dir).unwrap().to_string_lossy().replace('\\', "/");
            if !entry.file_type().is_file() {
                continue;
            }
            if !is_template {
                let looks_like_one = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| ["html", "htm", "xml"].contains(&e.to_ascii_lowercase().as_str()));
                if looks_like_one {
                    ignored.push(name);
                }
                continue;
            }
            let shown = format!("{TEMPLATES_DIR}/{name}");
            match std::fs::read(path).map(String::from_utf8) {
                Ok(Ok(text)) => {
                    sources.insert(name, (shown, text));
                }
                Ok(Err(_)) => errors.push(
                    Diagnostic::new(&shown, "the template is not UTF-8 text")
                        .with_help("save it as UTF-8 in your editor"),
                ),
                Err(e) => errors.push(Diagnostic::new(&shown, format!("cannot read the template: {e}"))),
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let raw: Vec<(&str, &str)> = sources.iter().map(|(n, (_, t))| (n.as_str(), t.as_str())).collect();
    let tera = compile(raw).map_err(|e| {
        let chain = cause_chain(&e);
        let found = template_in_error(&chain, &sources);
        if let Some(d) = found.and_then(|(shown, text)| unclosed_block(shown, text, error_position(&chain))) {
            return Diagnostics(vec![d]);
        }
        let mut d = match found {
            Some((shown, text)) => {
                let d = Diagnostic::new(shown, format!("template error: {chain}"));
                match error_position(&chain) {
                    Some((line, column)) => {
                        let mut loc = Location::from_line(text, line);
                        loc.column = column;
                        d.at(loc)
                    }
                    None => d,
                }
            }
            None => Diagnostic::new(TEMPLATES_DIR, format!("template error: {chain}")),
        };
        d = d.with_help(
            "fix the template syntax; the Tera documentation lists what templates can use: https://keats.github.io/tera/docs/",
        );
        Diagnostics(vec![d])
    })?;
    let uses = uses_of(&tera);
    // A template no page uses is warned about below, not refused.
    for (name, filter) in uses.filters.iter().filter(|(name, _)| is_used(name, &uses.references)) {
        let (shown, text) = &sources[name];
        errors.push(unknown_filter(shown, text, filter));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let own: Vec<&str> =
        sources.iter().filter(|(_, (shown, _))| shown.starts_with(TEMPLATES_DIR)).map(|(n, _)| n.as_str()).collect();
    let reads_outside = uses.functions.iter().any(|f| !PURE_FUNCTIONS.contains(&f.as_str()));
    let digest = (!reads_outside).then(|| {
        use std::hash::Hash;
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        sources.iter().for_each(|(name, (_, text))| (name, text).hash(&mut h));
        h.digest128()
    });
    Ok((tera, unused_templates(&own, &ignored, &uses.references), digest))
}

/// A Tera of `templates` (name, text), escaping as every build does.
fn compile(templates: Vec<(&str, &str)>) -> Result<Tera, tera::Error> {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![".html", ".xml"]);
    tera.set_escape_fn(escape);
    tera.add_raw_templates(templates)?;
    Ok(tera)
}

/// Whether the shop at `root` has templates of its own (`.html` or `.xml`
/// files under `templates/`, as [`load`] reads them).
pub fn has_own_templates(root: &Path) -> bool {
    walkdir::WalkDir::new(root.join(TEMPLATES_DIR))
        .into_iter()
        .filter_map(Result::ok)
        .any(|entry| entry.file_type().is_file() && entry.path().extension().is_some_and(|e| e == "html" || e == "xml"))
}

/// The partial that every page ends with. [`builtin_for_site`] renders the
/// built-in one once, so it must read only `site`, `nav` and `build_year`
/// (the test `built_in_templates_made_for_the_site_render_the_same` checks the pages).
const FOOTER: &str = "partials/footer.html";

/// The built-in templates made for one site, given what every template
/// receives (`base`: `site`, `nav`, `build_year`): each `{{ site.… }}` and
/// `{{ build_year }}` that is a string is written into the template as its
/// escaped text, and the footer, which reads nothing else, is rendered once
/// and included as text. Every page comes out byte for byte as with
/// [`load`]'s templates, with a fraction of the variable lookups (a third of a
/// page's, each a few allocations in Tera).
///
/// Only for a shop without templates of its own ([`has_own_templates`]): a
/// shop's template could give `site` another value (`{% set %}`, a loop
/// variable) where a built-in one reads it. A value that holds `{` or `}`,
/// which could read as template syntax, is left to Tera.
pub fn builtin_for_site(base: &serde_json::Value) -> Option<Tera> {
    let sources: Vec<(&str, String)> =
        BUILTIN_TEMPLATES.iter().map(|(name, text)| (*name, with_site_values(text, base))).collect();
    let mut tera = compile(sources.iter().map(|(name, text)| (*name, text.as_str())).collect()).ok()?;
    let context = tera::Context::from_value(base.clone()).ok()?;
    let footer = tera.render(FOOTER, &context).ok()?;
    if !footer.contains("endraw") {
        tera.add_raw_template(FOOTER, &format!("{{% raw %}}{footer}{{% endraw %}}")).ok()?;
    }
    Some(tera)
}

/// `text` with each `{{ site.NAME }}` and `{{ build_year }}` whose value in
/// `base` is a string replaced by that string, escaped as Tera would (every
/// built-in template is `.html` or `.xml`, so Tera escapes what they print;
/// they hold no `{% raw %}`, where the text would have stayed as it is).
fn with_site_values(text: &str, base: &serde_json::Value) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{ ") {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let Some(end) = rest.find(" }}") else { break };
        let path = &rest[3..end];
        let value = match path.strip_prefix("site.") {
            Some(key) => base["site"].get(key),
            None if path == "build_year" => base.get(path),
            None => None,
        };
        let written = value.and_then(|v| v.as_str()).map(escape).filter(|e| !e.contains(['{', '}']));
        match written {
            Some(escaped) if path.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') => {
                out.push_str(&escaped)
            }
            _ => out.push_str(&rest[..end + 3]),
        }
        rest = &rest[end + 3..];
    }
    out.push_str(rest);
    out
}

/// Escapes `& < > " '` (valid in HTML text, attributes and XML), leaving
/// `/` alone so URLs stay readable (Tera's default writes `&#x2F;`).
fn escape(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

/// The template an error message names: (file to show, its text).
fn template_in_error<'s>(chain: &str, sources: &'s BTreeMap<String, (String, String)>) -> Option<(&'s str, &'s str)> {
    sources
        .iter()
        .find(|(name, _)| chain.contains(&format!("'{name}'")))
        .map(|(_, (shown, text))| (shown.as_str(), text.as_str()))
}

/// The `--> line:column` that Tera's parse errors carry.
fn error_position(chain: &str) -> Option<(usize, usize)> {
    let rest = &chain[chain.find("--> ")? + 4..];
    let end = rest.find(|c: char| !c.is_ascii_digit() && c != ':').unwrap_or(rest.len());
    let (line, column) = rest[..end].split_once(':')?;
    Some((line.parse().ok()?, column.parse().ok()?))
}

/// An error and all its causes, one per line, as Tera nests them.
pub fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str("\n  caused by: ");
        out.push_str(&s.to_string().replace('\n', "\n  "));
        source = s.source();
    }
    out
}

/// The file to blame for an error in template `name`.
pub fn shown_name(root: &Path, name: &str) -> String {
    if root.join(TEMPLATES_DIR).join(name).is_file() {
        format!("{TEMPLATES_DIR}/{name}")
    } else {
        format!("built-in template {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template_uses::{filter_use, FILTERS, LEFT_OUT_FILTERS, SPECIAL_FILTERS};

    /// A shop folder with `files` (path under the shop, text).
    fn shop(files: &[(&str, &str)]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = tmp.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        tmp
    }

    /// Tera (vendor/tera, changed to look dotted names up without copying
    /// them) finds every kind of name a shop's template may write as the
    /// published Tera does: from the context, a `set` and a loop, through
    /// objects and arrays, and keys written in brackets, where `~1` and `~0`
    /// still stand for `/` and `~` (JSON pointer escapes).
    #[test]
    fn tera_finds_dotted_names_as_published() {
        let context = tera::Context::from_value(serde_json::json!({
            "clip": {"title": "Dawn", "file": {"size": 7}, "tags": [{"name": "sea"}, {"name": "sky"}]},
            "odd": {"a/b": "slash", "t~": "tilde", "~1": "escaped"},
        }))
        .unwrap();
        let cases = [
            ("{{ clip.title }}", "Dawn"),
            ("{{ clip.file.size }}", "7"),
            ("{{ clip.tags.1.name }}", "sky"),
            ("{% for t in clip.tags %}{{ t.name }};{% endfor %}", "sea;sky;"),
            ("{% set f = clip.file %}{{ f.size }}", "7"),
            (
                "{% set f = clip.file %}{% for t in clip.tags %}{% set n = t.name %}{{ n }}{{ f.size }};{% endfor %}",
                "sea7;sky7;",
            ),
            ("{{ clip[\"title\"] }}", "Dawn"),
            ("{{ odd[\"a/b\"] }}", "slash"),
            ("{{ odd[\"a~1b\"] }}", "slash"),
            ("{{ odd[\"t~0\"] }}", "tilde"),
            ("{{ clip.missing | default(value=\"none\") }}", "none"),
        ];
        for (template, expected) in cases {
            assert_eq!(Tera::one_off(template, &context, false).unwrap(), expected, "{template}");
        }
        assert!(Tera::one_off("{{ odd[\"~1\"] }}", &context, false).is_err(), "~1 is the key /, not ~1");
    }

    /// The kept Tera (vendor/tera.patch) tests and compares values in
    /// conditions without first escaping them, and decides every condition
    /// as the published Tera does: strings escaped alike on both sides, or
    /// on one side only (`| safe`), numbers against strings, `not`, tests.
    #[test]
    fn tera_decides_conditions_as_published() {
        let context = tera::Context::from_value(serde_json::json!({
            "s": "a&b", "same": "a&b", "esc": "a&amp;b", "empty": "", "lt": "<", "n": 1, "f": 1.0,
            "list": ["a&b", 1], "other": ["a&b", 1],
        }))
        .unwrap();
        // (condition, without escaping, with it)
        let cases = [
            ("s == \"a&b\"", true, true),
            ("\"a&b\" == s", true, true),
            ("s != \"a&b\"", false, false),
            ("s == same", true, true),
            ("s == esc", false, false),
            ("s == esc | safe", false, true),
            ("s | safe == esc", false, false),
            ("s | safe == same | safe", true, true),
            ("s == \"A&B\" | lower", true, true),
            ("\"a\" == \"a\"", true, true),
            ("\"a\" != \"b\"", true, true),
            ("n == 1", true, true),
            ("n == f", true, true),
            ("n == \"1\"", false, false),
            ("n != \"1\"", false, false),
            ("not n == \"1\"", false, false),
            ("not s == \"a&b\"", false, false),
            ("list == other", true, true),
            ("s", true, true),
            ("lt", true, true),
            ("empty", false, false),
            ("not empty", true, true),
            ("missing", false, false),
            ("not missing", true, true),
            ("s is starting_with(\"a&\")", true, true),
            ("s is not starting_with(\"a&amp;\")", true, true),
            ("lt is containing(\"<\")", true, true),
        ];
        let mut escaping = Tera::default();
        escaping.autoescape_on(vec![".html"]);
        escaping.set_escape_fn(escape);
        let answer = |yes: bool| if yes { "yes" } else { "no" };
        for (condition, plain, escaped) in cases {
            let template = format!("{{% if {condition} %}}yes{{% else %}}no{{% endif %}}");
            assert_eq!(Tera::one_off(&template, &context, false).unwrap(), answer(plain), "{condition}");
            assert_eq!(Tera::one_off(&template, &context, true).unwrap(), answer(escaped), "{condition} (escaped)");
            escaping.add_raw_template("c.html", &template).unwrap();
            assert_eq!(
                escaping.render("c.html", &context).unwrap(),
                answer(escaped),
                "{condition} (clipstore's escaping)"
            );
        }
    }

    /// A context made over a shared base, with shared values
    /// (`Context::over`, `Context::insert_shared`: vendor/tera.patch, how
    /// every page is rendered) renders what one context holding copies of
    /// them all renders: names looked up, shadowed, tested, looped over,
    /// set, and dumped whole by `__tera_context`.
    #[test]
    fn tera_renders_a_context_over_a_base_as_one_with_copies() {
        use std::sync::Arc;
        use tera::Context;
        let site = serde_json::json!({"title": "Shop", "menu": [{"url": "/"}, {"url": "/clips/dawn/"}]});
        let clip = serde_json::json!({"title": "Dawn & dusk", "tags": ["sea", "sky"]});
        let mut base = Context::new();
        base.insert("site", &site);
        base.insert("current_url", &"/");
        base.insert("base_only", &"base");
        let base = Arc::new(base);
        let mut over_base = Context::over(base.clone());
        over_base.insert("current_url", &"/clips/dawn/");
        let mut over = Context::over(Arc::new(over_base));
        over.insert_shared("clip", Arc::new(clip.clone()));
        over.insert("page_title", &"Dawn");
        let mut copies = Context::new();
        copies.insert("site", &site);
        copies.insert("current_url", &"/clips/dawn/");
        copies.insert("base_only", &"base");
        copies.insert("clip", &clip);
        copies.insert("page_title", &"Dawn");
        let template = "{{ site.title }}|{{ current_url }}|{{ base_only }}|{{ clip.title }}|{{ page_title }}|\
            {% for m in site.menu %}{% if m.url == current_url %}*{% endif %}{{ m.url }};{% endfor %}|\
            {% for t in clip.tags %}{% set n = t %}{{ n }},{% endfor %}|\
            {% if clip %}clip{% endif %}{% if missing is defined %}!{% endif %}|{{ __tera_context }}";
        for autoescape in [false, true] {
            let expected = Tera::one_off(template, &copies, autoescape).unwrap();
            if !autoescape {
                assert!(
                    expected.starts_with("Shop|/clips/dawn/|base|Dawn & dusk|Dawn|/;*/clips/dawn/;|"),
                    "{expected}"
                );
            }
            assert_eq!(Tera::one_off(template, &over, autoescape).unwrap(), expected);
        }
        assert_eq!(over, copies);
        assert_eq!(base.get("current_url"), Some(&serde_json::json!("/")), "the base is left as it was");
    }

    #[test]
    fn the_built_in_templates_load_without_warnings() {
        let tmp = shop(&[]);
        let (_, warnings, _) = load_with_warnings(tmp.path()).unwrap();
        assert_eq!(warnings, Vec::<String>::new());
    }

    /// A template saved under a name no build reads is named, with the
    /// built-in template it was likely meant to replace.
    #[test]
    fn templates_no_page_uses_are_warned_about() {
        let page = "{% extends \"base.html\" %}{% import \"macros.html\" as m %}\
                    {% block content %}{% include \"parts/note.html\" %}{% endblock %}";
        let tmp = shop(&[
            ("templates/page.html", page),
            ("templates/macros.html", "{% macro x() %}x{% endmacro %}"),
            ("templates/parts/note.html", "note"),
            ("templates/Page.html", "a"),
            ("templates/clip.htm", "b"),
            ("templates/Tag.HTML", "c"),
            ("templates/partial/header.html", "d"),
            ("templates/about.html", "{% extends \"base.html\" %}"),
            ("templates/self.html", "{% include \"self.html\" ignore missing %}"),
            ("templates/notes.txt", "not a template"),
        ]);
        let (_, warnings, _) = load_with_warnings(tmp.path()).unwrap();
        let unused = |name: &str| {
            format!(
                "warning: templates/{name} is not used by any page: a page uses the template of its kind \
                 (page.html, clip.html, post.html, … as {} lists them), and a template \
                 is also used when another one extends, includes or imports it",
                crate::guides::guide("templates.md")
            )
        };
        assert_eq!(
            warnings,
            [
                "warning: templates/Page.html is not used by any page; did you mean templates/page.html?".to_string(),
                "warning: templates/Tag.HTML is not used by any page; did you mean templates/tag.html?".to_string(),
                unused("about.html"),
                "warning: templates/clip.htm is not used by any page; did you mean templates/clip.html?".to_string(),
                "warning: templates/partial/header.html is not used by any page; did you mean templates/partials/header.html?"
                    .to_string(),
                unused("self.html"),
            ]
        );
        let ignored = unused_templates(&[], &["feed.XML.htm".to_string()], &[]);
        assert_eq!(
            ignored,
            ["warning: templates/feed.XML.htm is not used by any page: templates end in .html or .xml, in small letters"]
        );
    }

    /// `Filter 'uppercase' not found` came only when a page rendered, with
    /// "check the variable names": the filter is named when templates load.
    #[test]
    fn an_unknown_filter_is_named_at_its_use() {
        let page = "{% extends \"base.html\" %}\n{% block content %}\n<h1>{{ page.title | uppercase }}</h1>\n\
                    {% if page.date %}{{ page.date | date(format=\"%Y\") }}{% endif %}\n\
                    {% filter capitalise %}x{% endfilter %}{{ page.title | frobnicate }}{% endblock %}";
        let tmp = shop(&[("templates/page.html", page)]);
        let errors = load(tmp.path()).err().unwrap();
        let shown: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
        let [capitalise, date, frobnicate, uppercase] = &shown[..] else { panic!("{shown:#?}") };
        let docs = "the filters templates can use are listed at https://keats.github.io/tera/docs/#built-in-filters";
        assert!(uppercase.starts_with("error: unknown filter `uppercase`\n"), "{uppercase}");
        assert!(uppercase.contains("--> templates/page.html:3:21"), "{uppercase}");
        assert!(uppercase.contains(&format!("help: did you mean `upper`? {docs}")), "{uppercase}");
        assert!(!uppercase.contains("variable names"), "{uppercase}");
        assert!(capitalise.contains("templates/page.html:5:11") && capitalise.contains("did you mean `capitalize`?"));
        assert!(date.contains(":4:") && date.contains("do without Tera's `date` filter"), "{date}");
        assert!(frobnicate.contains(&format!("help: {docs}\n")), "{frobnicate}");
        // A leftover template no page uses is only warned about, filters and all.
        let tmp = shop(&[("templates/old/clip.html", "{{ clip.date | date(format=\"%Y\") }}")]);
        let (_, warnings, _) = load_with_warnings(tmp.path()).unwrap();
        assert!(warnings.iter().any(|w| w.starts_with("warning: templates/old/clip.html is not used")), "{warnings:?}");
    }

    /// A block left open gave Tera's "expected tag or some content" at the
    /// end of the file (or at an outer block's end tag): the message names
    /// the tag left open, its line, and the end tag it lacks; the end tag
    /// the help names makes the template load.
    #[test]
    fn a_block_left_open_is_named_with_its_line_and_end_tag() {
        let cases = [
            (
                "{% extends \"base.html\" %}\n{% block content %}\n<p>\n{% if page.title %}\n<h1>{{ page.title }}</h1>\n{% endblock content %}\n",
                "error: `{% if page.title %}` on line 4 is never closed: `{% endblock content %}` on line 6 comes before its `{% endif %}`\n \
                 --> templates/page.html:4:1\n",
                "help: add `{% endif %}` where the part shown only when the condition holds ends, before the `{% endblock content %}` on line 6\n",
                ("<h1>{{ page.title }}</h1>\n", "<h1>{{ page.title }}</h1>\n{% endif %}\n"),
            ),
            (
                "{% extends \"base.html\" %}\n{% block content %}\n  {%- for tag in page.tags %}\n{{ tag }}\n{% endblock content %}",
                "error: `{%- for tag in page.tags %}` on line 3 is never closed: `{% endblock content %}` on line 5 comes before its `{% endfor %}`\n \
                 --> templates/page.html:3:3\n",
                "help: add `{% endfor %}` where the part repeated for each item ends, before the `{% endblock content %}` on line 5\n",
                ("{{ tag }}\n", "{{ tag }}\n{% endfor %}\n"),
            ),
            (
                "{% extends \"base.html\" %}\n{% block content %}\n{% if page.title %}{{ page.title }}{% endif %}\n",
                "error: `{% block content %}` on line 2 is never closed: the template ends without its `{% endblock %}`\n \
                 --> templates/page.html:2:1\n",
                "help: add `{% endblock %}` where the block's content ends\n",
                ("{% endif %}\n", "{% endif %}\n{% endblock %}\n"),
            ),
        ];
        for (page, message, help, (before, after)) in cases {
            let tmp = shop(&[("templates/page.html", page)]);
            let shown = load(tmp.path()).err().unwrap().to_string();
            assert!(shown.contains(message) && shown.contains(help), "{shown}");
            assert!(!shown.contains("expected"), "{shown}");
            let tmp = shop(&[("templates/page.html", &page.replacen(before, after, 1))]);
            load(tmp.path()).unwrap();
        }
        // An end tag of the wrong kind: it may be the one meant.
        let tmp = shop(&[(
            "templates/page.html",
            "{% extends \"base.html\" %}\n{% block content %}{% if page.title %}x{% endfor %}{% endblock content %}",
        )]);
        let shown = load(tmp.path()).err().unwrap().to_string();
        assert!(shown.contains("help: if the `{% endfor %}` on line 2 was meant to close it, change it to `{% endif %}`; else add `{% endif %}` where the part shown only when the condition holds ends\n"), "{shown}");
        // Any other syntax error keeps Tera's message.
        let tmp = shop(&[(
            "templates/page.html",
            "{% extends \"base.html\" %}\n{% block content %}{% if %}{% endblock content %}",
        )]);
        let shown = load(tmp.path()).err().unwrap().to_string();
        assert!(
            shown.contains("template error: Failed to parse 'page.html'") && !shown.contains("never closed"),
            "{shown}"
        );
    }

    /// The digest changes with any template's text or name, and is none
    /// when a template calls a function that reads outside its context.
    #[test]
    fn the_digest_stands_for_every_template_and_only_pure_ones() {
        let digest = |files: &[(&str, &str)]| load_with_warnings(shop(files).path()).unwrap().2;
        let builtin = digest(&[]);
        assert!(builtin.is_some());
        assert_eq!(digest(&[]), builtin, "the same templates, the same digest");
        let own = digest(&[("templates/page.html", "{{ page.title }}")]);
        assert!(own.is_some() && own != builtin);
        assert_ne!(digest(&[("templates/page.html", "{{ page.title }} ")]), own, "one space more");
        assert_ne!(digest(&[("templates/404.html", "{{ page.title }}")]), own, "another name");
        assert!(digest(&[("templates/page.html", "{% for i in range(end=3) %}{{ i }}{% endfor %}")]).is_some());
        assert_eq!(digest(&[("templates/page.html", "{{ get_env(name=\"HOME\", default=\"\") }}")]), None);
        assert_eq!(digest(&[("templates/page.html", "{% set h = get_env(name=\"HOME\") %}{{ h }}")]), None);
        // Tera's own clock and dice are left out of site-gen's Tera; were
        // they in, their calls would make the digest none all the same.
        let tera = compile(Vec::new()).unwrap();
        assert!(tera.get_function("now").is_err() && tera.get_function("get_random").is_err());
    }

    /// The filter lists match the Tera site-gen is built with.
    #[test]
    fn the_filter_lists_match_tera() {
        let tera = compile(Vec::new()).unwrap();
        for f in FILTERS.iter().filter(|f| !SPECIAL_FILTERS.contains(f)) {
            assert!(tera.get_filter(f).is_ok(), "{f}");
        }
        for f in LEFT_OUT_FILTERS {
            assert!(tera.get_filter(f).is_err(), "{f}");
        }
    }

    #[test]
    fn filter_uses_are_found_as_filters_only() {
        let text = "{{ upper }} {{ x|upper_case }} {{ y | upper }}";
        assert_eq!(filter_use(text, "upper"), Some(text.rfind("upper").unwrap()));
        assert_eq!(filter_use("{%- filter upper -%}", "upper"), Some(11));
        assert_eq!(filter_use("{{ refilter upper }}", "upper"), None);
    }
}
