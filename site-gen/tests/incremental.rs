//! The incremental rebuild's result must equal a clean build of the same
//! content byte for byte, deletions included. This test applies a sequence of
//! edits (add, change, rename, delete posts, clips and pages; drafts; tags;
//! templates; settings; static files; broken files and their fixes) to a copy
//! of the `small-shop` fixture, rebuilds incrementally after each one, and
//! compares the output folder with a clean `site_gen::build` of the same
//! content (into an empty folder), file by file. So does a `site_gen::build`
//! over the previous step's build, which takes the pages made from the same
//! inputs from it (`site_gen::kept_pages`) by the same fingerprints.

mod common;
use common::copy_dir;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use site_gen::content::LoadOptions;
use site_gen::incremental::{Incremental, RebuildError};
use site_gen::BuildOptions;

fn now() -> DateTime<Utc> {
    site_gen::front_matter::parse_date("2026-06-01").unwrap()
}

/// Every file and folder under `dir` (folders as `None`), with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(|e| e.unwrap())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().to_path_buf();
            (rel, e.file_type().is_file().then(|| fs::read(e.path()).unwrap()))
        })
        .collect()
}

struct Harness {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    clean: PathBuf,
    /// Built over the previous step's build each step.
    built: PathBuf,
    /// How many pages the last build into `built` rendered.
    built_rendered: usize,
    site: Incremental,
    drafts: bool,
    step: usize,
}

impl Harness {
    fn new(drafts: bool) -> Harness {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("shop");
        copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop"), &root);
        // Enough posts and clips for several list and tag pages (2 per page).
        for i in 1..=7 {
            let tags = if i % 2 == 0 { r#"["sea", "even"]"# } else { r#"["sea"]"# };
            fs::write(
                root.join(format!("content/news/post-{i}.md")),
                format!("+++\ntitle = \"Post {i}\"\ndate = 2026-03-{:02}\ntags = {tags}\n+++\nBody of post {i}.\n\nSecond paragraph.\n", i + 1),
            )
            .unwrap();
        }
        for i in 1..=5 {
            fs::write(
                root.join(format!("content/clips/clip-{i}.md")),
                clip(&format!("Clip {i}"), &format!("2026-04-{:02}", i + 1), "10", r#"["sea"]"#),
            )
            .unwrap();
        }
        let out = tmp.path().join("served");
        let site = Incremental::new(&root, &out, LoadOptions { drafts, now: now() });
        let clean = tmp.path().join("clean");
        let built = tmp.path().join("built");
        Harness { _tmp: tmp, root, clean, built, built_rendered: 0, site, drafts, step: 0 }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn write(&mut self, rel: &str, text: &str) {
        fs::write(self.path(rel), text).unwrap();
        self.site.note_changes([self.path(rel).as_path()]);
    }

    fn remove(&mut self, rel: &str) {
        fs::remove_file(self.path(rel)).unwrap();
        self.site.note_changes([self.path(rel).as_path()]);
    }

    fn rename(&mut self, from: &str, to: &str) {
        fs::rename(self.path(from), self.path(to)).unwrap();
        self.site.note_changes([self.path(from).as_path(), self.path(to).as_path()]);
    }

    fn edit(&mut self, rel: &str, from: &str, to: &str) {
        let text = fs::read_to_string(self.path(rel)).unwrap();
        assert!(text.contains(from), "{rel} contains {from:?}");
        self.write(rel, &text.replacen(from, to, 1));
    }

    /// Rebuilds incrementally, and builds over the previous step's build,
    /// and checks both results against a clean build. Returns how many
    /// pages the incremental rebuild rendered.
    fn check(&mut self, what: &str) -> usize {
        self.step += 1;
        let report = self.site.rebuild().unwrap_or_else(|e| panic!("step {} ({what}): {e}", self.step));
        let options = |out: &Path| BuildOptions {
            root: self.root.clone(),
            out: out.to_path_buf(),
            manifest: out.with_extension("json"),
            drafts: self.drafts,
            now: now(),
        };
        // Before the clean build, which records its own pages.
        let built = site_gen::build(&options(&self.built))
            .unwrap_or_else(|e| panic!("step {} ({what}): build over the last: {e}", self.step));
        self.built_rendered = built.pages - built.pages_kept;
        let _ = fs::remove_dir_all(&self.clean);
        let summary = site_gen::build(&options(&self.clean))
            .unwrap_or_else(|e| panic!("step {} ({what}): clean build: {e}", self.step));
        // `serve` warns of what `build` warns of (no catalog at the shop's
        // root here, so nothing gone from it).
        let mut warned: Vec<String> =
            report.warnings.iter().map(|w| w.to_string().replacen("error:", "warning:", 1)).collect();
        let mut built = summary.warnings.clone();
        warned.sort();
        built.sort();
        assert_eq!(warned, built, "step {} ({what}): the same warnings", self.step);
        assert_eq!(report.left_out, summary.left_out, "step {} ({what}): the same left out", self.step);
        let clean = snapshot(&self.clean);
        let clean_paths: Vec<_> = clean.keys().collect();
        for (name, made) in [("incremental", snapshot(self.site.out())), ("built over the last", snapshot(&self.built))]
        {
            let made_paths: Vec<_> = made.keys().collect();
            assert_eq!(made_paths, clean_paths, "step {} ({what}, {name}): the same files and folders", self.step);
            for (path, bytes) in &clean {
                assert!(made[path] == *bytes, "step {} ({what}, {name}): {} differs", self.step, path.display());
            }
        }
        report.rendered
    }

    /// Rebuilds and expects an error mentioning `needle`, with the output unchanged.
    fn check_fails(&mut self, needle: &str) {
        let before = snapshot(self.site.out());
        match self.site.rebuild() {
            Err(RebuildError::Content(d)) => assert!(d.to_string().contains(needle), "{d}"),
            other => panic!("expected an error with {needle:?}, got {other:?}"),
        }
        assert!(snapshot(self.site.out()) == before, "a failed rebuild writes nothing");
    }
}

fn clip(title: &str, date: &str, price: &str, tags: &str) -> String {
    let file = title.to_lowercase().replace(' ', "-");
    format!(
        "+++\ntitle = \"{title}\"\ndate = {date}\nprice = {price}\nduration = \"0:10\"\nresolution = \"1920x1080\"\nfile = \"clips/{file}.mp4\"\nfile_name = \"x.mp4\"\nsize = 100\nposter = \"/posters/alpha.jpg\"\ntags = {tags}\n+++\nA clip called {title}.\n"
    )
}

fn post(title: &str, date: &str, tags: &str, body: &str) -> String {
    format!("+++\ntitle = \"{title}\"\ndate = {date}\ntags = {tags}\n+++\n{body}\n")
}

#[test]
fn incremental_rebuilds_equal_clean_builds() {
    run_sequence(false);
}

#[test]
fn incremental_rebuilds_equal_clean_builds_with_drafts() {
    run_sequence(true);
}

fn run_sequence(drafts: bool) {
    let mut h = Harness::new(drafts);
    h.check("first build");
    let all = h.built_rendered;
    let total = h.site.rebuild().unwrap().rendered;
    assert_eq!(total, 0, "nothing changed, nothing rendered");
    h.check("nothing changed");
    assert_eq!(h.built_rendered, 0, "a build over the last, with nothing changed, renders nothing");

    // Posts.
    h.edit("content/news/post-3.md", "Body of post 3.", "A changed body of post 3.");
    let rendered = h.check("change a post's body");
    assert!(rendered < 15, "a body edit re-renders only the pages showing the post ({rendered})");
    assert_eq!(h.built_rendered, rendered, "a build renders what serve does");
    h.edit("content/news/post-3.md", "Second paragraph.", "A changed second paragraph, past the summary.");
    h.check("change a post's body past its summary");
    h.write("content/news/new-post.md", &post("Brand new", "2026-05-01", r#"["sea", "fresh"]"#, "Fresh news."));
    h.check("add the newest post, with a new tag");
    h.edit("content/news/post-5.md", "date = 2026-03-06", "date = 2026-01-01");
    h.check("move a post back in time");
    h.edit("content/news/post-2.md", "title = \"Post 2\"", "title = \"Post two\"\nupdated = 2026-05-20");
    h.check("retitle a post and set updated");
    h.rename("content/news/post-4.md", "content/news/post-four.md");
    h.check("rename a post");
    h.edit("content/news/post-6.md", "tags = [\"sea\", \"even\"]", "tags = [\"sea\"]");
    h.check("drop a tag from a post");
    h.remove("content/news/post-four.md");
    h.check("delete a post");
    h.edit("content/news/post-1.md", "+++\nBody", "draft = true\n+++\nBody");
    h.check("make a post a draft");
    h.edit("content/news/post-1.md", "draft = true\n", "");
    h.check("publish it again");
    h.edit("content/news/post-7.md", "+++\nBody", "slug = \"seventh\"\n+++\nBody");
    h.check("give a post a slug");
    h.edit("content/news/post-2.md", "Body of post 2.", "![boat](/images/Boat Photo.jpg)\n\nBody of post 2.");
    h.check("an image whose address has a space: a warning");
    assert!(h.site.rebuild().unwrap().warnings.iter().any(|w| w.message.contains("has a space")), "serve warns");
    h.edit("content/news/post-2.md", "![boat](/images/Boat Photo.jpg)\n\n", "");
    h.check("the image taken out: the warning goes");
    // A warning follows its file when it is renamed, made a draft or deleted.
    h.write("content/news/warned.md", &post("Warned", "2026-03-20", "[]", "![a](/images/A B.jpg)"));
    h.check("a new post with a warning");
    h.rename("content/news/warned.md", "content/news/warned-2.md");
    h.check("the post with the warning renamed");
    h.edit("content/news/warned-2.md", "+++\n![a]", "draft = true\n+++\n![a]");
    h.check("the post with the warning made a draft");
    h.edit("content/news/warned-2.md", "draft = true\n", "");
    h.check("published again");
    h.remove("content/news/warned-2.md");
    h.check("the post with the warning deleted");

    // Clips.
    h.write("content/clips/delta.md", &clip("Delta", "2026-05-02", "30", r#"["dawn", "new-tag"]"#));
    h.check("add a clip");
    h.edit("content/clips/clip-2.md", "price = 10", "price = 99.5");
    h.check("change a clip's price");
    h.edit("content/clips/clip-3.md", "date = 2026-04-04", "date = 2025-01-01");
    h.check("move a clip back in time");
    h.rename("content/clips/clip-1.md", "content/clips/clip-one.md");
    h.check("rename a clip");
    h.remove("content/clips/delta.md");
    h.check("delete a clip (and its only tag)");

    // Pages, templates, settings, static files.
    h.edit("content/pages/about.md", "title = ", "weight = 5\ntitle = ");
    h.check("change a page's weight");
    h.write("content/pages/contact.md", "+++\ntitle = \"Contact\"\n+++\nWrite to us.\n");
    h.check("add a page (the menu changes everywhere)");
    h.remove("content/pages/contact.md");
    h.check("delete a page");
    h.write("content/pages/licence-standard.md", "+++\ntitle = \"Standard licence\"\n+++\nTerms.\n");
    h.write("content/pages/licence-extended.md", "+++\ntitle = \"Extended licence\"\n+++\nMore terms.\n");
    let tiers = "\n[[licences]]\nid = \"standard\"\nname = \"Standard\"\npage = \"/licence-standard/\"\n\n\
                 [[licences]]\nid = \"extended\"\nname = \"Extended\"\npage = \"/licence-extended/\"\nfactor = 2.5\n";
    let settings = fs::read_to_string(h.path("content/site.toml")).unwrap();
    h.write("content/site.toml", &format!("{settings}{tiers}"));
    h.check("sell under two licence tiers");
    h.edit("content/site.toml", "factor = 2.5", "factor = 3");
    h.check("change a tier's price (a setting no page shows by itself)");
    let variant = "\n[[variants]]\nid = \"small\"\nresolution = \"640x360\"\nprice = 4\n\
                   file = \"clips/clip-2-small.mp4\"\nfile_name = \"small.mp4\"\nsize = 50\n+++";
    h.edit("content/clips/clip-2.md", "\n+++", variant);
    h.check("sell a clip in a second file");
    h.edit("content/clips/clip-2.md", "price = 4", "price = 5");
    h.check("change that file's price");
    fs::create_dir_all(h.path("templates")).unwrap();
    let post_template = site_gen::templates::BUILTIN_TEMPLATES.iter().find(|(n, _)| *n == "post.html").unwrap().1;
    h.write("templates/post.html", &post_template.replace("{% block content %}", "{% block content %}<p>Custom</p>"));
    h.check("override a template");
    assert!(h.built_rendered >= all, "a template changed, every page rendered ({} of {all})", h.built_rendered);
    h.edit("templates/post.html", "<p>Custom</p>", "<p>Custom, changed</p>");
    h.check("change the shop's own template");
    h.remove("templates/post.html");
    h.check("remove the override");
    h.edit("content/site.toml", "items_per_page = 2", "items_per_page = 3");
    h.check("change items per page");
    h.write("static/notes.txt", "hello");
    h.check("add a static file");
    h.remove("static/notes.txt");
    h.check("delete a static file");

    // A draft's own poster and preview stay off the site until it is published.
    fs::create_dir_all(h.path("static/previews")).unwrap();
    h.write("static/posters/dune.jpg", "poster");
    h.write("static/previews/dune.mp4", "preview");
    let dune = clip("Dune", "2026-05-05", "12", "[]")
        .replace("/posters/alpha.jpg", "/posters/dune.jpg")
        .replace("\n+++\n", "\npreview = \"/previews/dune.mp4\"\ndraft = true\n+++\n");
    h.write("content/clips/dune.md", &dune);
    h.check("a draft clip with a poster and a preview of its own");
    let served = |h: &Harness, path: &str| h.site.out().join(path).is_file();
    let dune_media = |h: &Harness| [served(h, "posters/dune.jpg"), served(h, "previews/dune.mp4")];
    assert_eq!(dune_media(&h), [drafts, drafts], "a draft's media only in a preview of drafts");
    h.edit("content/clips/dune.md", "draft = true\n", "");
    h.check("publish the draft, and its poster and preview with it");
    assert_eq!(dune_media(&h), [true, true]);
    h.edit("content/clips/dune.md", "tags = []", "tags = []\ndraft = true");
    h.check("make it a draft again");
    assert_eq!(dune_media(&h), [drafts, drafts]);
    // A published post shows the draft's poster ("coming soon"): it is
    // published for the post (the build failed, saying the file was not there).
    h.write("content/news/soon.md", &post("Soon", "2026-05-06", "[]", "![Dune](/posters/dune.jpg)"));
    h.check("a published post shows the draft's poster");
    assert_eq!(dune_media(&h), [true, drafts], "the linked poster only");
    h.remove("content/news/soon.md");
    h.check("the post removed");
    assert_eq!(dune_media(&h), [drafts, drafts]);
    h.edit("content/clips/dune.md", "/posters/dune.jpg", "/posters/alpha.jpg");
    h.check("the draft shows a published clip's poster: its old one is a static file like any other");
    assert_eq!(dune_media(&h), [true, drafts]);
    assert!(served(&h, "posters/alpha.jpg"), "a poster a published clip shows stays");
    h.remove("content/clips/dune.md");
    h.check("the draft deleted: its preview is a static file like any other");
    assert_eq!(dune_media(&h), [true, true]);

    // Broken changes keep the last good build, and fixing them catches up.
    h.write("content/news/broken.md", "+++\ntitle = \"Broken\"\ndate = 2026-05-03\ntitel = \"x\"\n+++\nOops.\n");
    h.check_fails("titel");
    h.edit("content/news/post-3.md", "A changed body", "Another body");
    h.check_fails("titel");
    h.edit("content/news/broken.md", "titel = \"x\"\n", "");
    h.check("fix the broken post (the other edit lands too)");
    h.write("content/news/clash.md", &post("Clash", "2026-05-04", "[]", "Same address."));
    h.edit("content/news/clash.md", "title = \"Clash\"", "title = \"Clash\"\nslug = \"new-post\"");
    h.check_fails("duplicate news post slug `new-post`");
    // A clip copied with its original's file, as a full build refuses it.
    h.write(
        "content/clips/copy.md",
        &clip("Delta", "2026-05-02", "30", "[]").replace("clips/delta.mp4", "clips/copy.mp4"),
    );
    h.check_fails("duplicate news post slug `new-post`");
    h.remove("content/news/clash.md");
    h.check("the clash removed");
    h.edit("content/clips/copy.md", "clips/copy.mp4", "clips/clip-1.mp4");
    h.check_fails("the file `clips/clip-1.mp4` of the clip copy is also the file of the clip clip-one");
    h.edit("content/clips/copy.md", "clips/clip-1.mp4", "clips/copy.mp4");
    h.check("the copy has its own file");
    h.remove("content/clips/copy.md");
    h.write("content/news/clash.md", &post("Clash", "2026-05-04", "[]", "Same address."));
    h.edit("content/news/clash.md", "title = \"Clash\"", "title = \"Clash\"\nslug = \"new-post\"");
    h.check_fails("duplicate news post slug `new-post`");
    h.remove("content/news/new-post.md");
    h.check("remove the other post with that address");
    h.edit("content/news/post-2.md", "Body of post 2.", "Body with [a dead link](/news/nowhere/).");
    h.check_fails("link to a page that does not exist");
    h.edit("content/news/post-2.md", "(/news/nowhere/)", "(/news/clash/)");
    h.check_fails("link to a page that does not exist");
    h.edit("content/news/post-2.md", "(/news/clash/)", "(/news/new-post/)");
    h.check("link fixed");
    h.remove("content/news/clash.md");
    h.check_fails("link to a page that does not exist");
    h.write("content/news/clash.md", &post("Clash", "2026-05-04", "[]", "Same address."));
    h.edit("content/news/clash.md", "title = \"Clash\"", "title = \"Clash\"\nslug = \"new-post\"");
    h.check("the linked post is back");
    // A file no build reads is named while serving too, and the rename fixes it.
    h.write("content/clips/pier.md.txt", &clip("Pier", "2026-05-03", "12", "[]"));
    h.check_fails("pier.md.txt");
    h.remove("content/clips/pier.md.txt");
    h.write("content/clips/pier.md", &clip("Pier", "2026-05-03", "12", "[]"));
    h.check("the file renamed");
    h.remove("content/clips/pier.md");
    h.check("and removed");
    h.write("templates/post.html", "{% extends \"base.html\" %}{% block content %}{{ nope.nothing }}{% endblock %}");
    h.check_fails("post.html");
    h.remove("templates/post.html");
    h.check("broken template removed");
}

/// A new `serve` session (the owner stopped the last one, edited a post,
/// started again) takes from the preview folder the pages made there from
/// the same inputs (`site_gen::kept_pages`), and renders the others: the
/// result is still a clean build's.
#[test]
fn a_new_serve_session_renders_only_what_changed_since_the_last() {
    let mut h = Harness::new(false);
    let all = h.check("first session");
    let restart = |h: &mut Harness| {
        let out = h.site.out().to_path_buf();
        h.site = Incremental::new(&h.root, &out, LoadOptions { drafts: false, now: now() });
    };
    restart(&mut h);
    // All but the cart's list of clips, made without a template.
    assert_eq!(h.check("a second session, nothing changed"), 1, "every page taken ({all} rendered the first time)");
    let post = h.path("content/news/post-3.md");
    fs::write(&post, fs::read_to_string(&post).unwrap().replace("Body of post 3.", "Edited while serve was off."))
        .unwrap();
    restart(&mut h);
    let rendered = h.check("a session after an edit");
    assert!(rendered > 0 && rendered < 15, "the pages showing the post ({rendered} of {all})");
    h.edit("content/news/post-3.md", "Edited while", "Edited again while");
    assert_eq!(h.check("an edit in the session") + 1, rendered, "incremental as before");
}

/// `site-gen serve` keeps search working: a clip's edit, addition or
/// deletion reaches the search index (`/pagefind/`), and the index files
/// of the old content are gone.
#[test]
fn clip_edits_reach_the_search_index() {
    let mut h = Harness::new(false);
    h.check("first build");
    let records = common::search_records(h.site.out());
    assert_eq!(records["/clips/clip-2/"]["meta"]["title"], "Clip 2");
    let band = |records: &std::collections::BTreeMap<String, serde_json::Value>| {
        records["/clips/clip-2/"]["filters"]["price"][0].as_str().unwrap().to_string()
    };
    assert!(!band(&records).starts_with("Over "), "{}", band(&records));

    h.edit("content/clips/clip-2.md", "title = \"Clip 2\"", "title = \"Lighthouse at Dusk\"");
    h.edit("content/clips/clip-2.md", "price = 10", "price = 60");
    h.check("retitle and reprice a clip");
    let records = common::search_records(h.site.out());
    assert_eq!(records["/clips/clip-2/"]["meta"]["title"], "Lighthouse at Dusk");
    assert!(band(&records).starts_with("Over €"), "the dearest clip now: {}", band(&records));
    assert!(!records.values().any(|r| r["meta"]["title"] == "Clip 2"), "the old record is gone");

    h.write("content/clips/delta.md", &clip("Delta", "2026-05-02", "30", r#"["dawn"]"#));
    h.remove("content/clips/clip-3.md");
    h.check("add one clip, delete another");
    let records = common::search_records(h.site.out());
    assert!(records.contains_key("/clips/delta/") && !records.contains_key("/clips/clip-3/"));
}

/// `serve --drafts --out public` while the owner runs `site-gen build` into
/// the same folder: the build swaps in its own site, without the drafts, and
/// its own list of the site's files. A draft edited after is rewritten into
/// the folder: the rebuild brings the whole folder back to serve's site,
/// its list of files included, so the next build does not name the pages
/// serve wrote as files put into public/ by hand.
#[test]
fn a_build_into_the_served_folder_is_brought_back_in_line() {
    let mut h = Harness::new(true);
    h.check("first build");
    let out = h.site.out().to_path_buf();
    let options = BuildOptions {
        root: h.root.clone(),
        out: out.clone(),
        manifest: out.with_extension("json"),
        drafts: false,
        now: now(),
    };
    site_gen::build(&options).unwrap();
    assert!(!out.join("clips/gamma/index.html").exists(), "the build leaves the draft out");
    h.edit("content/clips/gamma.md", "Gamma is a draft.", "Gamma is a draft, edited.");
    h.check("a draft edited after a build into the served folder");
    assert!(fs::read_to_string(out.join("clips/gamma/index.html")).unwrap().contains("edited"));
    let rendered = h.check("nothing changed since");
    assert_eq!(rendered, 0, "once in line, rebuilds are incremental again");
}

/// `serve` left running overnight: a post dated today, hidden at the start
/// as dated in the future, appears with the first rebuild of the new day,
/// as a clean build of that day shows it.
#[test]
fn a_post_dated_today_appears_once_the_day_comes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop"), &root);
    fs::write(root.join("content/news/tomorrow.md"), post("Tomorrow", "2026-06-02", "[]", "Out tomorrow.")).unwrap();
    let out = tmp.path().join("site");
    let evening = site_gen::front_matter::parse_date("2026-06-01").unwrap() + chrono::Duration::hours(23);
    let mut site = Incremental::new(&root, &out, LoadOptions { drafts: false, now: evening });
    site.rebuild().unwrap();
    assert!(!out.join("news/tomorrow/index.html").exists(), "dated in the future in the evening");
    site.set_now(evening + chrono::Duration::hours(2));
    site.rebuild().unwrap();
    assert!(out.join("news/tomorrow/index.html").is_file(), "published on its day");
    let clean = tmp.path().join("clean");
    let options = BuildOptions {
        root: root.clone(),
        out: clean.clone(),
        manifest: tmp.path().join("manifest.json"),
        drafts: false,
        now: evening + chrono::Duration::hours(2),
    };
    site_gen::build(&options).unwrap();
    assert_eq!(snapshot(&out), snapshot(&clean));
}

/// What a full load checks across the shop, `serve` checks too: a licence
/// tier's terms page renamed away, and a published clip sharing its file
/// with a draft (both refused by `build`).
#[test]
fn serve_refuses_what_build_refuses_across_files() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop"), &root);
    let config = root.join("content/site.toml");
    let tiers = "\n[[licences]]\nid = \"standard\"\nname = \"Standard\"\npage = \"/licence-standard/\"\n";
    fs::write(&config, fs::read_to_string(&config).unwrap() + tiers).unwrap();
    let terms = root.join("content/pages/licence-standard.md");
    fs::write(&terms, "+++\ntitle = \"Standard licence\"\n+++\nThe terms.\n").unwrap();
    let draft = clip("Draft One", "2026-04-01", "10", "[]").replace("+++\ntitle", "+++\ndraft = true\ntitle");
    fs::write(root.join("content/clips/draft-one.md"), draft).unwrap();
    let out = tmp.path().join("served");
    let mut site = Incremental::new(&root, &out, LoadOptions { drafts: false, now: now() });
    site.rebuild().unwrap();

    let moved = root.join("content/pages/standard-terms.md");
    fs::rename(&terms, &moved).unwrap();
    site.note_changes([terms.as_path(), moved.as_path()]);
    match site.rebuild() {
        Err(RebuildError::Content(d)) => assert!(d.to_string().contains("/licence-standard/"), "{d}"),
        other => panic!("a licence without its terms page: {other:?}"),
    }
    fs::rename(&moved, &terms).unwrap();
    site.note_changes([terms.as_path(), moved.as_path()]);
    site.rebuild().unwrap();

    let copy = root.join("content/clips/copy.md");
    fs::write(&copy, clip("Draft One", "2026-04-02", "10", "[]").replace("title = \"Draft One\"", "title = \"Copy\""))
        .unwrap();
    site.note_changes([copy.as_path()]);
    match site.rebuild() {
        Err(RebuildError::Content(d)) => assert!(d.to_string().contains("clips/draft-one.mp4"), "{d}"),
        other => panic!("a file shared with a draft: {other:?}"),
    }
}

/// A post scheduled for a time of day: `serve` started in the morning
/// publishes it with the first rebuild after that time, the same day.
#[test]
fn a_post_scheduled_for_later_today_appears_once_due() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop"), &root);
    fs::write(root.join("content/news/evening.md"), post("Evening", "\"2026-06-01T18:00:00Z\"", "[]", "At six."))
        .unwrap();
    let out = tmp.path().join("site");
    let morning = site_gen::front_matter::parse_date("2026-06-01T09:00:00Z").unwrap();
    let mut site = Incremental::new(&root, &out, LoadOptions { drafts: false, now: morning });
    site.rebuild().unwrap();
    assert!(!out.join("news/evening/index.html").exists());
    site.set_now(morning + chrono::Duration::hours(8));
    site.rebuild().unwrap();
    assert!(!out.join("news/evening/index.html").exists(), "17:00: not yet");
    site.set_now(morning + chrono::Duration::hours(10));
    site.rebuild().unwrap();
    assert!(out.join("news/evening/index.html").is_file(), "19:00: published");
}

/// `serve` says what `build` would of a clip gone from the last build's
/// catalog: a slug changed while it runs breaks its buyers' links.
#[test]
fn serve_warns_of_a_clip_gone_from_the_last_catalog() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop"), &root);
    let options = BuildOptions {
        root: root.clone(),
        out: tmp.path().join("public"),
        manifest: root.join(site_gen::DEFAULT_MANIFEST),
        drafts: false,
        now: now(),
    };
    site_gen::build(&options).unwrap();
    let mut site = Incremental::new(&root, &tmp.path().join("served"), LoadOptions { drafts: false, now: now() });
    let gone = |site: &mut Incremental| -> Vec<String> {
        let report = site.rebuild().unwrap();
        report
            .warnings
            .iter()
            .filter(|w| w.message.contains("earlier build's catalog"))
            .map(|w| w.message.clone())
            .collect()
    };
    assert_eq!(gone(&mut site), Vec::<String>::new());
    // Beta given a slug of its own, and the one link to it mended.
    let (alpha, beta) = (root.join("content/clips/alpha.md"), root.join("content/clips/beta.md"));
    let (alpha_text, beta_text) = (fs::read_to_string(&alpha).unwrap(), fs::read_to_string(&beta).unwrap());
    fs::write(&beta, beta_text.replacen("+++\n", "+++\nslug = \"beta-night\"\n", 1)).unwrap();
    fs::write(&alpha, alpha_text.replace("/clips/beta/", "/clips/beta-night/")).unwrap();
    site.note_changes([alpha.as_path(), beta.as_path()]);
    let warned = gone(&mut site);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("beta (renamed beta-night? to keep its buyers' links working, change its `slug` line back to `slug = \"beta\"`"),
        "{}",
        warned[0]
    );
    fs::write(&beta, &beta_text).unwrap();
    fs::write(&alpha, &alpha_text).unwrap();
    site.note_changes([alpha.as_path(), beta.as_path()]);
    assert_eq!(gone(&mut site), Vec::<String>::new(), "put back");
}
