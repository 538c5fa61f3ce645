//! What the shop's templates use, read from Tera's syntax trees: the
//! filters they call (one Tera lacks is an error at its use, not a failure
//! of some page later) and the templates they extend, include or import (a
//! template of the shop's that nothing uses is warned about).

use tera::ast::{Expr, ExprVal, FunctionCall, Node};
use tera::Tera;

use crate::diagnostics::{nearest, Diagnostic, Location};
use crate::templates::{BUILTIN_TEMPLATES, TEMPLATES_DIR};

/// Filters templates can use though Tera does not register them: Tera
/// handles these two itself.
pub(crate) const SPECIAL_FILTERS: [&str; 2] = ["safe", "default"];

/// Tera's built-in filters that site-gen's Tera is built without (it
/// leaves out Tera's `builtins` feature), though Tera's documentation lists them.
pub(crate) const LEFT_OUT_FILTERS: [&str; 5] = ["date", "slugify", "filesizeformat", "urlencode", "urlencode_strict"];

/// The filters site-gen's templates can use (Tera's built-in ones, less
/// [`LEFT_OUT_FILTERS`]), for suggestions.
pub(crate) const FILTERS: &[&str] = &[
    "safe",
    "default",
    "upper",
    "lower",
    "trim",
    "trim_start",
    "trim_end",
    "trim_start_matches",
    "trim_end_matches",
    "truncate",
    "wordcount",
    "replace",
    "capitalize",
    "title",
    "linebreaksbr",
    "indent",
    "striptags",
    "spaceless",
    "escape",
    "escape_xml",
    "addslashes",
    "split",
    "int",
    "float",
    "first",
    "last",
    "nth",
    "join",
    "sort",
    "unique",
    "slice",
    "group_by",
    "filter",
    "map",
    "concat",
    "abs",
    "pluralize",
    "round",
    "length",
    "reverse",
    "json_encode",
    "as_str",
    "get",
];

/// What the templates of a Tera name: the templates they extend, include
/// or import (the template naming them, the one named), the filters
/// no Tera has (template, filter; each once per template), and the
/// functions they call.
#[derive(Default)]
pub(crate) struct Uses {
    pub(crate) references: Vec<(String, String)>,
    pub(crate) filters: std::collections::BTreeSet<(String, String)>,
    pub(crate) functions: std::collections::BTreeSet<String>,
}

pub(crate) fn uses_of(tera: &Tera) -> Uses {
    let mut uses = Uses::default();
    let mut names: Vec<&str> = tera.get_template_names().collect();
    names.sort_unstable();
    for name in names {
        let Ok(template) = tera.get_template(name) else { continue };
        let mut found = Found { tera, template: name, uses: &mut uses };
        found.nodes(&template.ast);
    }
    uses
}

/// A walk over one template's syntax tree, noting its [`Uses`].
struct Found<'a> {
    tera: &'a Tera,
    template: &'a str,
    uses: &'a mut Uses,
}

impl Found<'_> {
    fn nodes(&mut self, nodes: &[Node]) {
        for node in nodes {
            self.node(node);
        }
    }

    fn node(&mut self, node: &Node) {
        let mut refer = |to: &str| self.uses.references.push((self.template.to_string(), to.to_string()));
        match node {
            Node::Extends(_, to) | Node::ImportMacro(_, to, _) => refer(to),
            Node::Include(_, to, _) => to.iter().for_each(|to| refer(to)),
            Node::VariableBlock(_, e) => self.expr(e),
            Node::Set(_, set) => self.expr(&set.value),
            Node::MacroDefinition(_, m, _) => {
                m.args.values().flatten().for_each(|e| self.expr(e));
                self.nodes(&m.body);
            }
            Node::FilterSection(_, section, _) => {
                self.call(&section.filter, true);
                self.nodes(&section.body);
            }
            Node::Block(_, block, _) => self.nodes(&block.body),
            Node::Forloop(_, forloop, _) => {
                self.expr(&forloop.container);
                self.nodes(&forloop.body);
                self.nodes(forloop.empty_body.as_deref().unwrap_or_default());
            }
            Node::If(branches, _) => {
                for (_, condition, body) in &branches.conditions {
                    self.expr(condition);
                    self.nodes(body);
                }
                self.nodes(branches.otherwise.as_ref().map_or(&[][..], |(_, body)| body));
            }
            _ => {}
        }
    }

    /// The arguments of a call, and its name when it is a filter.
    fn call(&mut self, call: &FunctionCall, is_filter: bool) {
        let known = SPECIAL_FILTERS.contains(&call.name.as_str()) || self.tera.get_filter(&call.name).is_ok();
        if is_filter && !known {
            self.uses.filters.insert((self.template.to_string(), call.name.clone()));
        }
        if !is_filter {
            self.uses.functions.insert(call.name.clone());
        }
        call.args.values().for_each(|e| self.expr(e));
    }

    fn expr(&mut self, e: &Expr) {
        e.filters.iter().for_each(|f| self.call(f, true));
        self.value(&e.val);
    }

    fn value(&mut self, v: &ExprVal) {
        match v {
            ExprVal::Math(m) => [&m.lhs, &m.rhs].into_iter().for_each(|e| self.expr(e)),
            ExprVal::Logic(l) => [&l.lhs, &l.rhs].into_iter().for_each(|e| self.expr(e)),
            ExprVal::In(i) => [&i.lhs, &i.rhs].into_iter().for_each(|e| self.expr(e)),
            ExprVal::Test(t) => t.args.iter().for_each(|e| self.expr(e)),
            ExprVal::MacroCall(m) => m.args.values().for_each(|e| self.expr(e)),
            ExprVal::FunctionCall(f) => self.call(f, false),
            ExprVal::Array(items) => items.iter().for_each(|e| self.expr(e)),
            ExprVal::StringConcat(c) => c.values.iter().for_each(|v| self.value(v)),
            ExprVal::String(_) | ExprVal::Int(_) | ExprVal::Float(_) | ExprVal::Bool(_) | ExprVal::Ident(_) => {}
        }
    }
}

/// The error for `filter`, a filter no Tera has, used in the template
/// `shown` (whose text is `text`), at its first use.
pub(crate) fn unknown_filter(shown: &str, text: &str, filter: &str) -> Diagnostic {
    let d = Diagnostic::new(shown, format!("unknown filter `{filter}`"));
    let d = match filter_use(text, filter) {
        Some(offset) => d.at(Location::from_offset(text, offset)),
        None => d,
    };
    let docs = "the filters templates can use are listed at https://keats.github.io/tera/docs/#built-in-filters";
    if LEFT_OUT_FILTERS.contains(&filter) {
        return d.with_help(format!(
            "site-gen's templates do without Tera's `{filter}` filter; the values {} lists come \
             ready to print; {docs}, less date, slugify, filesizeformat, urlencode and urlencode_strict",
            crate::guides::guide("templates.md")
        ));
    }
    // `uppercase` for `upper`, `capitalise` for `capitalize`.
    let meant = nearest(filter, FILTERS)
        .or_else(|| FILTERS.iter().copied().filter(|f| f.len() > 2 && filter.starts_with(f)).max_by_key(|f| f.len()));
    match meant {
        Some(meant) => d.with_help(format!("did you mean `{meant}`? {docs}")),
        None => d.with_help(docs),
    }
}

/// The byte offset of the first `| filter` or `{% filter filter` in `text`.
pub(crate) fn filter_use(text: &str, filter: &str) -> Option<usize> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(filter).map(|(i, _)| i).find(|&i| {
        let before = text[..i].trim_end();
        let after = text[i + filter.len()..].chars().next();
        let at_pipe = before.ends_with('|') && !before.ends_with("||");
        let in_filter_tag =
            before.strip_suffix("filter").is_some_and(|b| b.trim_end().ends_with(['%', '-']) && !b.ends_with(is_word));
        (at_pipe || in_filter_tag) && !after.is_some_and(is_word)
    })
}

/// A warning for each of the shop's templates that no build uses: `own`
/// (the names of the `.html`/`.xml` files under `templates/`) that are no
/// built-in template's name and that no other template extends, includes or
/// imports (`references`: (template, template it names)), and `ignored`
/// (files whose extension is not `html` or `xml` as written: `clip.htm`,
/// `Page.HTML`). Each names the built-in template that is likely meant.
/// Whether a page uses the template `name`: one of the built-in names, or
/// one another template extends, includes or imports (`references`).
pub(crate) fn is_used(name: &str, references: &[(String, String)]) -> bool {
    BUILTIN_TEMPLATES.iter().any(|(builtin, _)| *builtin == name)
        || references.iter().any(|(from, to)| to == name && from != name)
}

pub fn unused_templates(own: &[&str], ignored: &[String], references: &[(String, String)]) -> Vec<String> {
    let builtin: Vec<&str> = BUILTIN_TEMPLATES.iter().map(|(name, _)| *name).collect();
    let unused = own.iter().copied().filter(|name| !is_used(name, references));
    let mut names: Vec<&str> = unused.chain(ignored.iter().map(String::as_str)).collect();
    names.sort_unstable();
    names
        .into_iter()
        .map(|name| {
            let lower = name.to_lowercase();
            let lower = lower.strip_suffix(".htm").map_or(lower.clone(), |stem| format!("{stem}.html"));
            // A typo of the name, not of the common `.html`.
            let stem = |name: &'static str| name.rsplit_once('.').map_or(name, |(stem, _)| stem);
            let stems: Vec<&str> = builtin.iter().map(|b| stem(b)).collect();
            let typo = || {
                let lower_stem = lower.rsplit_once('.').map_or(lower.as_str(), |(stem, _)| stem);
                let near = nearest(lower_stem, &stems)?;
                builtin.iter().copied().find(|b| stem(b) == near)
            };
            let meant = builtin.iter().copied().find(|b| *b == lower).or_else(typo);
            let shown = format!("{TEMPLATES_DIR}/{name}");
            match meant {
                Some(meant) => {
                    format!("warning: {shown} is not used by any page; did you mean {TEMPLATES_DIR}/{meant}?")
                }
                None if ignored.iter().any(|i| i == name) => format!(
                    "warning: {shown} is not used by any page: templates end in .html or .xml, in small letters"
                ),
                None => format!(
                    "warning: {shown} is not used by any page: a page uses the template of its kind \
                     (page.html, clip.html, post.html, … as {} lists them), and a template \
                     is also used when another one extends, includes or imports it",
                    crate::guides::guide("templates.md")
                ),
            }
        })
        .collect()
}
