//! End-to-end tests of the `site-gen` binary on whole fixture shops: the
//! sample shop of the repository, a small shop with known content, and
//! broken shops that must fail with the errors in their `expected.txt`.

mod common;
use common::{copy_dir, fixtures};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NOW: &str = "2026-06-01";

/// A copy of the small fixture shop, at `shop/` in a temporary folder (kept
/// while the first value lives).
fn small_shop() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_dir(&fixtures().join("small-shop"), &root);
    (tmp, root)
}

fn site_gen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_site-gen")).args(args).output().expect("site-gen runs")
}

fn build(root: &Path, out: &Path, extra: &[&str]) -> Output {
    build_with_manifest(root, out, &out.with_extension("manifest.json"), extra)
}

/// `build` with the catalog manifest at `manifest` (relative to `root`
/// when relative, as the command takes it).
fn build_with_manifest(root: &Path, out: &Path, manifest: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "build",
        "--root",
        root.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    site_gen(&args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read(out: &Path, path: &str) -> String {
    fs::read_to_string(out.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().strip_prefix(dir).unwrap().to_path_buf(), fs::read(e.path()).unwrap()))
        .collect()
}

#[test]
fn small_shop_builds_every_page_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("public");
    let o = build(&fixtures().join("small-shop"), &out, &["--now", NOW]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(summary.starts_with("Built 17 pages (2 clips, 2 news posts, 3 tags)"), "{summary}");

    // Home: newest clips and latest news.
    let home = read(&out, "index.html");
    assert!(home.contains("href=\"/clips/beta/\"") && home.contains("href=\"/clips/alpha/\""));
    assert!(home.find("/clips/beta/").unwrap() < home.find("/clips/alpha/").unwrap(), "newest first");
    assert!(home.contains("First post") && home.contains("Second &amp; final"));

    // Clip page: price, duration, tags, buy link; title escaped.
    let alpha = read(&out, "clips/alpha/index.html");
    for needle in
        ["€12.50", "0:12", "href=\"/tags/sea/\"", "href=\"/tags/dawn/\"", "Buy this clip", "Alpha &lt;Sunrise&gt;"]
    {
        assert!(alpha.contains(needle), "clip page lacks {needle}");
    }
    assert!(read(&out, "clips/beta/index.html").contains("<video"), "preview shown");
    // Buy button: the clip's Stripe Payment Link, else a form to the Worker's
    // checkout; the e-mail to the shop stays as the way to ask.
    assert!(read(&out, "clips/beta/index.html").contains("href=\"https://buy.stripe.com/test_beta\""));
    assert!(alpha.contains("action=\"/checkout\"") && alpha.contains("name=\"clip\" value=\"alpha\""));
    assert!(alpha.contains("href=\"mailto:"), "the e-mail stays");
    // The cart page, filled by the built-in cart script.
    assert!(read(&out, "cart/index.html").contains("data-cart-form"));
    assert!(read(&out, "js/cart.js").contains("clipstore.cart"), "built-in cart script written");

    // Drafts and future posts are left out.
    assert!(!out.join("clips/gamma").exists());
    assert!(!out.join("news/later").exists());
    assert!(!read(&out, "tags/dawn/index.html").contains("Gamma"));

    // Tag pages mix clips and posts, newest first, paginated by items_per_page = 2.
    let sea = read(&out, "tags/sea/index.html");
    assert!(sea.contains("/clips/beta/") && sea.contains("/clips/alpha/") && !sea.contains("/news/first/"));
    assert!(sea.contains("href=\"/tags/sea/page/2/\""));
    assert!(read(&out, "tags/sea/page/2/index.html").contains("/news/first/"));
    assert!(read(&out, "tags/index.html").contains("2 clips, 1 post"));

    // Summary split at <!-- more --> and the summary field.
    let news = read(&out, "news/index.html");
    assert!(news.contains("Hello from the <strong>first</strong> post.") && !news.contains("More text with"));
    assert!(news.contains("A short <em>summary</em>."));

    // Feed, sitemap, robots, 404, pages, static files, stylesheet.
    let feed = read(&out, "news/atom.xml");
    assert_eq!(feed.matches("<entry>").count(), 2);
    assert!(feed.contains("<id>https://small.example/news/first/</id>"));
    let sitemap = read(&out, "sitemap.xml");
    assert!(sitemap.contains("<loc>https://small.example/clips/alpha/</loc>"));
    assert!(sitemap.contains("<lastmod>2026-02-06</lastmod>"), "updated date used");
    assert!(!sitemap.contains("404"));
    assert!(read(&out, "robots.txt").contains("Sitemap: https://small.example/sitemap.xml"));
    assert!(read(&out, "404.html").contains("Page not found"));
    assert!(read(&out, "about/index.html").contains("We are small."));
    assert_eq!(fs::read(out.join("posters/alpha.jpg")).unwrap(), b"P");
    assert!(read(&out, "css/site.css").contains("--accent"), "built-in stylesheet written");

    // The manifest lies outside public/ and lists published clips only.
    let manifest = clipstore_core::CatalogManifest::from_json(&read(tmp.path(), "public.manifest.json")).unwrap();
    assert_eq!(manifest.clips.keys().collect::<Vec<_>>(), ["alpha", "beta"]);
    let beta = manifest.clip("beta").unwrap();
    assert_eq!(
        (beta.object_key.as_str(), beta.size, beta.content_type.as_str()),
        ("clips/beta.mov", 2000, "video/quicktime")
    );
    assert_eq!(beta.file_name, "Bëta – Night.mov");
    assert!(manifest.clip("alpha").unwrap().sha256.as_deref().unwrap().starts_with("ab00"), "sha256 lower-cased");
    // Prices in cents, what the Worker's checkout charges.
    assert_eq!((manifest.clip("alpha").unwrap().price, beta.price), (1250, 3000));
    assert_eq!(manifest.shop.currency, "EUR");
}

/// The search index: Pagefind's bundle under /pagefind/, one record per
/// published clip, with the filters from its front matter; and the search page.
#[test]
fn small_shop_is_indexed_for_search_with_filters_from_front_matter() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("public");
    let o = build(&fixtures().join("small-shop"), &out, &["--now", NOW]);
    assert!(o.status.success(), "{}", stderr(&o));
    for file in ["pagefind/pagefind.js", "pagefind/pagefind-worker.js", "pagefind/wasm.unknown.pagefind"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    assert!(!out.join("pagefind/pagefind-ui.js").exists(), "Pagefind's own interface is left out");
    let entry: serde_json::Value = serde_json::from_str(&read(&out, "pagefind/pagefind-entry.json")).unwrap();
    assert_eq!(entry["languages"]["en"]["page_count"], 2, "{entry}");

    let records = common::search_records(&out);
    assert_eq!(records.keys().collect::<Vec<_>>(), ["/clips/alpha/", "/clips/beta/"], "drafts are not indexed");
    let alpha = &records["/clips/alpha/"];
    assert_eq!(alpha["meta"]["title"], "Alpha <Sunrise>");
    assert_eq!(alpha["meta"]["price"], "€12.50");
    assert_eq!(alpha["meta"]["image"], "/posters/alpha.jpg");
    let filters = |r: &serde_json::Value| serde_json::to_string(&r["filters"]).unwrap();
    assert_eq!(
        filters(alpha),
        r#"{"duration":["10–30 s"],"price":["Under €15"],"resolution":["1080p"],"tag":["sea","dawn"]}"#
    );
    assert_eq!(
        filters(&records["/clips/beta/"]),
        r#"{"duration":["Over 1 min"],"price":["€15–€30"],"resolution":["4K"],"tag":["sea"]}"#
    );
    assert!(alpha["content"].as_str().unwrap().contains("Alpha <Sunrise>"), "{alpha}");

    // The search page: its script, a control per filter with the values the clips have, in the menu.
    let page = read(&out, "search/index.html");
    assert!(page.contains(r#"<script src="/js/search.js" defer></script>"#));
    assert!(read(&out, "js/search.js").contains("/pagefind/pagefind.js"), "built-in search script written");
    for needle in [
        r#"<option value="dawn">dawn</option>"#,
        r#"<option value="sea">sea</option>"#, // named as on the newest clip
        r#"<option value="4K">4K</option>"#,
        // The price bands split the shop's own prices (12.50 and 30).
        r#"<option value="Under €15">Under €15</option>"#,
        r#"<option value="€15–€30">€15–€30</option>"#,
        r#"<option value="Over 1 min">Over 1 min</option>"#,
        "Search needs JavaScript",
    ] {
        assert!(page.contains(needle), "search page lacks {needle}");
    }
    assert!(!page.contains("Over €30"), "only buckets some clip is in");
    assert!(read(&out, "index.html").contains(r#"<a href="/search/">Search</a>"#), "in the menu");
    assert!(!read(&out, "sitemap.xml").contains("/search/"));
}

#[test]
fn a_price_with_cents_in_a_currency_without_them_is_refused_with_its_line() {
    let (tmp, root) = small_shop();
    let config = root.join("content/site.toml");
    fs::write(&config, fs::read_to_string(&config).unwrap().replace("\"EUR\"", "\"JPY\"")).unwrap();
    let beta = root.join("content/clips/beta.md");
    fs::write(&beta, fs::read_to_string(&beta).unwrap().replace("price = \"30\"", "price = \"300\"")).unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("alpha.md:4") && err.contains("JPY has no smaller unit"), "{err}");
    assert!(!err.contains("beta.md"), "300 JPY is a whole number: {err}");

    fs::write(
        root.join("content/clips/alpha.md"),
        fs::read_to_string(root.join("content/clips/alpha.md")).unwrap().replace("price = 12.5", "price = 1250"),
    )
    .unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest = clipstore_core::CatalogManifest::from_json(&read(tmp.path(), "public.manifest.json")).unwrap();
    assert_eq!(manifest.clip("alpha").unwrap().price, 1250, "yen have no cents: 1250 JPY is 1250");
}

/// `site-gen new`'s `price = 0.00` left in a clip put on sale, or a price
/// with a slip of the keyboard, is refused with its line, not sold at €0.00
/// or past what Stripe charges (where it panicked); a draft may be 0.
#[test]
fn a_price_of_nothing_or_past_what_stripe_charges_is_refused_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_dir(&fixtures().join("variant-shop"), &root);
    let harbour = root.join("content/clips/harbour.md");
    let text = fs::read_to_string(&harbour).unwrap();
    let line_of = |text: &str, needle: &str| text.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
    fs::write(&harbour, text.replacen("price = 48", "price = 0.00", 1)).unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(!o.status.success());
    let err = stderr(&o);
    let main_line = line_of(&text, "price = 48");
    assert!(err.contains(&format!("harbour.md:{main_line}")) && err.contains("`price` is 0"), "{err}");
    assert!(!tmp.path().join("public.manifest.json").exists());

    // 400,000 is within Stripe's 999,999.99, but not 2.5 times it plus 10 (the Extended licence).
    fs::write(&harbour, text.replacen("price = 24", "price = 400000", 1)).unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("the variant \"hd\"'s `price` €400000.00 is more than Stripe charges"), "{err}");
    assert!(err.contains("€999999.99 at most"), "{err}");
    // Under Stripe's smallest charge in EUR (€0.50) it cannot be paid for
    // alone, only in a cart: the shop builds, and the owner is told.
    fs::write(&harbour, text.replacen("price = 48", "price = 0.30", 1)).unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "warning: `price` €0.30 is under the smallest amount Stripe charges in EUR, €0.50: bought alone it cannot be paid for, only in a cart with other clips\n --> content/clips/harbour.md:{main_line}"
        )),
        "{}",
        stderr(&o)
    );
    fs::write(&harbour, text.replacen("price = 48", "price = 99999999999999999", 1)).unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert_eq!(o.status.code(), Some(1), "an error, not a panic: {}", stderr(&o));
    assert!(stderr(&o).contains(&format!("harbour.md:{main_line}")), "{}", stderr(&o));

    // A price typed in cents: the smaller file costs more than a bigger
    // one, and the owner is told at its line (the owner-CLI review).
    fs::write(&harbour, text.replacen("price = 9.5", "price = 950", 1)).unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: the variant \"web\" (1280x720) costs €950.00, 39 times as much as the variant \"hd\" (1920x1080) at €24.00, a bigger file: is a price written in cents?"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("not in cents (1250)"), "{}", stderr(&o));
    // Dearer by less (a camera original beside a 4K file) is no slip.
    fs::write(&harbour, text.replacen("price = 9.5", "price = 95", 1)).unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(!stderr(&o).contains("written in cents"), "{}", stderr(&o));
    fs::write(&harbour, &text).unwrap();

    // A draft not yet priced builds.
    fs::write(&harbour, text.replacen("price = 48", "price = 0\ndraft = true", 1)).unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A `file_name` ending as another kind of file than the bucket's `file`
/// (a `.mov` name for an `.mp4`) saves the customer's download under the
/// wrong ending: build warns at the line, with the name to write; endings
/// of one kind (`.m4v` for `.mp4`) and unknown ones pass.
#[test]
fn a_file_name_ending_as_another_kind_of_file_is_warned_of() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_dir(&fixtures().join("variant-shop"), &root);
    let harbour = root.join("content/clips/harbour.md");
    let text = fs::read_to_string(&harbour).unwrap();
    let changed = text.replacen("file_name = \"Harbour (4K).mp4\"", "file_name = \"Harbour (4K).mov\"", 1).replacen(
        "file_name = \"Harbour (web).mp4\"",
        "file_name = \"Harbour (web).MKV\"",
        1,
    );
    fs::write(&harbour, &changed).unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(o.status.success(), "a warning, not an error: {}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(
            "warning: `file_name` \"Harbour (4K).mov\" ends .mov, but its file in the bucket, \"clips/harbour-4k.mp4\", is a .mp4 (video/mp4)"
        ) && err.contains("content/clips/harbour.md:9"),
        "{err}"
    );
    assert!(err.contains("file_name = \"Harbour (4K).mp4\""), "the name to write: {err}");
    assert!(err.contains("\"Harbour (web).MKV\" (the variant `web`) ends .mkv"), "{err}");
    assert_eq!(err.matches("ends .").count(), 2, "not the hd variant: {err}");

    let fine = text
        .replacen("file_name = \"Harbour (4K).mp4\"", "file_name = \"Harbour (4K).M4V\"", 1)
        .replacen("clips/harbour-web.mp4", "clips/harbour-web.braw", 1)
        .replacen("clips/harbour-hd.mp4", "clips/harbour-hd.mpeg", 1)
        .replacen("file_name = \"Harbour (HD).mp4\"", "file_name = \"Harbour (HD).mpg\"", 1);
    fs::write(&harbour, fine).unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("file_name` \""), "{}", stderr(&o));
}

/// A published news post or page with nothing under its front matter
/// built silently into an empty page: `build` and `check` warn, naming the
/// file at its closing `+++` line and what to do; the shop still builds.
/// A draft may be empty, and so may a clip (its page shows the video).
#[test]
fn an_empty_post_or_page_is_warned_about_and_still_builds() {
    let (tmp, root) = small_shop();
    fs::write(root.join("content/news/empty.md"), "+++\ntitle = \"Empty\"\ndate = 2026-05-01\n+++\n  \n\n").unwrap();
    fs::write(root.join("content/news/unwritten.md"), "+++\ntitle = \"Later\"\ndate = 2026-05-01\ndraft = true\n+++\n")
        .unwrap();
    fs::write(root.join("content/pages/terms.md"), "+++\ntitle = \"Terms\"\n+++").unwrap();
    let alpha = root.join("content/clips/alpha.md");
    let text = fs::read_to_string(&alpha).unwrap();
    let fence = text.rfind("\n+++\n").unwrap();
    fs::write(&alpha, &text[..fence + 5]).unwrap();

    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(o.status.success(), "{}", stderr(&o));
    let check = site_gen(&["check", "--root", root.to_str().unwrap(), "--now", NOW]);
    assert!(check.status.success(), "{}", stderr(&check));
    for err in [stderr(&o), stderr(&check)] {
        let post = "warning: the news post has no text under its front matter: it is on the site as an empty page\n \
                    --> content/news/empty.md:4:1\n";
        assert!(err.contains(post), "{err}");
        assert!(err.contains("help: write its text under the closing `+++` line; or, to keep it off the site until it is written, add the line `draft = true` above the closing `+++`"), "{err}");
        let page = "warning: the page has no text under its front matter: it is on the site as an empty page\n \
                    --> content/pages/terms.md:3:1\n";
        assert!(err.contains(page), "{err}");
        assert!(err.contains("move the file out of content/ (a page has no `draft`)"), "{err}");
        assert!(!err.contains("unwritten.md") && !err.contains("alpha.md"), "{err}");
        assert_eq!(err.matches("no text under its front matter").count(), 2, "{err}");
    }
}

/// A paragraph indented as a word processor does (a tab, four spaces) is
/// shown as code, and a post of a list alone has no summary: both went
/// silently onto the site (the authoring review). Code between ``` lines,
/// and a list item's indented second paragraph, are not warned of.
#[test]
fn an_indented_paragraph_and_a_post_without_a_summary_are_warned_about() {
    let (tmp, root) = small_shop();
    let head = "+++\r\ntitle = \"Word\"\r\ndate = 2026-05-01\r\n+++\r\n";
    fs::write(root.join("content/news/word.md"), format!("{head}Hello.\r\n\r\n\tDear customers, indented.\r\n"))
        .unwrap();
    fs::write(
        root.join("content/news/spaces.md"),
        "+++\ntitle = \"S\"\ndate = 2026-05-01\n+++\n    Four spaces.\n\nThanks!\n",
    )
    .unwrap();
    fs::write(
        root.join("content/news/fine.md"),
        "+++\ntitle = \"F\"\ndate = 2026-05-01\n+++\nText.\n\n```\n    code on purpose\n```\n\n- item\n\n    more of the item\n",
    )
    .unwrap();
    fs::write(
        root.join("content/news/list.md"),
        "+++\ntitle = \"L\"\ndate = 2026-05-01\n+++\n- Three new clips\n- A sale\n",
    )
    .unwrap();
    // As the parser sees them (the diff review): a list item's paragraphs
    // after a lazy line or a 2-space line, and an HTML <pre>, are no code;
    // after a quote, or under a heading, an indented line is.
    let post = |name: &str, body: &str| {
        let text = format!("+++\ntitle = \"{name}\"\ndate = 2026-05-01\n+++\nIntro.\n\n{body}");
        fs::write(root.join(format!("content/news/{name}.md")), text).unwrap()
    };
    post("lazy", "- item\nlazy continuation\n\n    more of the item\n\n```\ncode\n```\n");
    post("two", "- item\n\n  second para\n\n    third para\n\n```\ncode\n```\n");
    post("rawpre", "<pre><code>\nx\n\n    inside raw pre\n</code></pre>\n");
    post("quoted", "> quoted\n\n    this is code\n");
    post("heading", "## Heading\n    this is code\n");
    let image =
        "+++\ntitle = \"I\"\ndate = 2026-05-01\n+++\n![A photo](/posters/alpha.jpg)\n\n## New clips\n\nText after.\n";
    fs::write(root.join("content/news/image.md"), image).unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(o.status.success(), "{}", stderr(&o));
    let check = site_gen(&["check", "--root", root.to_str().unwrap(), "--now", NOW]);
    for err in [stderr(&o), stderr(&check)] {
        let code = "this paragraph starts with a tab or 4 spaces, so the page shows it as code";
        assert!(err.contains(&format!("warning: {code}: in a grey box, in a typewriter font, not wrapped to the screen\n --> content/news/word.md:7:1\n")), "{err}");
        assert!(err.contains("--> content/news/spaces.md:5:1"), "{err}");
        assert!(
            err.contains("--> content/news/quoted.md:9:1") && err.contains("--> content/news/heading.md:8:1"),
            "{err}"
        );
        assert_eq!(err.matches(code).count(), 4, "not fine.md, lazy.md, two.md nor rawpre.md: {err}");
        assert!(err.contains("remove the spaces or the tab at the start of its lines"), "{err}");
        let summary = "warning: the post has no paragraph of text to show as its summary";
        assert!(err.contains(&format!("{summary}: the news list, the feed and search engines show it with none\n --> content/news/list.md:4:1\n")), "{err}");
        assert!(err.contains(&format!("{summary}: the news list, the feed and search engines show it with none\n --> content/news/image.md:4:1\n")), "an image alone is no text: {err}");
        assert_eq!(err.matches(summary).count(), 2, "{err}");
    }
}

/// Cents in a currency without them, in a licence's `surcharge` or a
/// variant's `price`: the error is at that line, not at the section's
/// header (the authoring review).
#[test]
fn cents_in_a_yen_shop_are_named_at_their_line() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_dir(&fixtures().join("variant-shop"), &root);
    let site = root.join("content/site.toml");
    let settings = fs::read_to_string(&site).unwrap().replace("currency = \"EUR\"", "currency = \"JPY\"");
    fs::write(&site, settings.replace("surcharge = 10", "surcharge = 99.5")).unwrap();
    let harbour = root.join("content/clips/harbour.md");
    let text = fs::read_to_string(&harbour)
        .unwrap()
        .replace("price = 48", "price = 4800")
        .replace("price = 24\n", "price = 2400\n");
    fs::write(&harbour, text).unwrap();
    let o = site_gen(&["check", "--root", root.to_str().unwrap(), "--now", NOW]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(err.contains("has cents, but JPY has no smaller unit than 1\n  --> content/site.toml:19:1\n"), "{err}");
    assert!(err.contains("19 | surcharge = 99.5"), "{err}");
    assert!(err.contains("--> content/clips/harbour.md:26:1"), "{err}");
    assert!(err.contains("26 | price = 9.5"), "{err}");
}

/// A shop without its settings is pointed at the guide to them where the
/// owner has it: a shop made by `site-gen init` has no docs/ folder.
#[test]
fn a_shop_without_settings_is_pointed_at_the_guide_in_the_clipstore_checkout() {
    let (tmp, root) = small_shop();
    fs::remove_file(root.join("content/site.toml")).unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(!o.status.success());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let guide = repo.join("docs/content.md");
    assert!(guide.is_file());
    assert!(stderr(&o).contains(&format!("{} lists its fields", guide.display())), "{}", stderr(&o));
}

/// A file under content/ that no build reads (Notepad's `.md.txt`, an upper-case
/// `.MD`, a post in a folder of its own, a folder `Clips`) is an error naming
/// it and the fix: it left its clip out of the catalog without a word.
#[test]
fn files_under_content_that_no_build_reads_are_named() {
    let (tmp, root) = small_shop();
    let alpha = fs::read_to_string(root.join("content/clips/alpha.md")).unwrap();
    fs::write(root.join("content/clips/pier.md.txt"), &alpha).unwrap();
    // Beside a file of the name it would take: a rename would replace it.
    fs::write(root.join("content/clips/beta.md.txt"), &alpha).unwrap();
    fs::write(root.join("content/clips/quay.MD"), &alpha).unwrap();
    fs::write(root.join("content/clips/Old Quay.MD"), &alpha).unwrap();
    fs::create_dir_all(root.join("content/news/2026")).unwrap();
    fs::write(root.join("content/news/2026/post.md"), "+++\ntitle = \"P\"\ndate = 2026-01-01\n+++\nText.\n").unwrap();
    fs::create_dir_all(root.join("content/Clips")).unwrap();
    fs::write(root.join("content/pages/photo.jpg"), b"\xff\xd8").unwrap();
    fs::copy(root.join("content/site.toml"), root.join("content/site.toml.txt")).unwrap();
    // What editors, systems and merges leave is not the owner's.
    fs::write(root.join("content/clips/.alpha.md.swp"), b"x").unwrap();
    fs::write(root.join("content/news/Thumbs.db"), b"x").unwrap();
    for leftover in ["#alpha.md#", "~$alpha.md", "alpha.md.orig", "alpha.md~"] {
        fs::write(root.join("content/clips").join(leftover), b"x").unwrap();
    }
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(!o.status.success());
    let err = stderr(&o);
    for (file, help) in [
        ("content/clips/pier.md.txt", "rename it to `pier.md`"),
        ("content/clips/beta.md.txt", "content/clips/beta.md is there too: keep the one you mean as `beta.md`"),
        ("content/clips/quay.MD", "rename it to `quay.md`"),
        // One rename to a name the web address allows too, not two.
        ("content/clips/Old Quay.MD", "rename it to `old-quay.md`"),
        ("content/news/2026", "move the files up into it"),
        ("content/Clips", "rename the folder to `clips`"),
        ("content/pages/photo.jpg", "images and other files go under static/"),
        ("content/site.toml.txt", "rename it to `site.toml` (an editor may hide the real ending"),
    ] {
        assert!(
            err.contains(&format!("error: site-gen does not read this: nothing in it is on the site\n --> {file}")),
            "{file}: {err}"
        );
        assert!(err.contains(help), "{help}: {err}");
    }
    assert!(err.contains("8 errors found; nothing was written."), "{err}");
    assert!(!err.contains("rename it to `beta.md`"), "{err}");
    assert!(!err.contains("swp") && !err.contains("Thumbs") && !err.contains("alpha.md"), "{err}");
    assert!(!tmp.path().join("public.manifest.json").exists());
}

/// A clip dated in the future by a slip (2052 for 2025) left the catalog
/// while the build said "Built … (8 clips)": build lists what it left out.
#[test]
fn build_lists_the_drafts_and_dated_items_it_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let o = build(&fixtures().join("small-shop"), &tmp.path().join("public"), &["--now", NOW]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(
            "Left out (2):\n  content/clips/gamma.md: a draft\n  content/news/later.md: dated 2099-01-01 00:00 UTC"
        ),
        "{out}"
    );
    let o = build(&fixtures().join("small-shop"), &tmp.path().join("preview"), &["--now", NOW, "--drafts"]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("Left out"), "a preview with drafts leaves nothing out");
}

/// A clip taken out of the catalog (deleted, made a draft, dated later)
/// breaks its buyers' links once deployed: build warns, naming it.
#[test]
fn build_warns_of_clips_gone_from_the_catalog_since_the_last_build() {
    let (tmp, root) = small_shop();
    let out = tmp.path().join("public");
    // The shop's own catalog-manifest.json, which its Worker is built with.
    let manifest = root.join("catalog-manifest.json");
    let build_at = |now: &str| build_with_manifest(&root, &out, &manifest, &["--now", now]);
    let said = |o: &Output| stderr(o).contains("item(s) of an earlier build's catalog are not in this one");
    let delta = root.join("content/clips/delta.md");
    let beta = fs::read_to_string(root.join("content/clips/beta.md")).unwrap();
    let beta = beta.replace("stripe_payment_link = \"https://buy.stripe.com/test_beta\"\n", "");
    let delta_text = beta.replace("clips/beta.mov", "clips/delta.mov");
    fs::write(&delta, &delta_text).unwrap();
    let o = build_at(NOW);
    assert!(o.status.success() && !stderr(&o).contains("Warning"), "{}", stderr(&o));
    fs::remove_file(&delta).unwrap();
    let o = build_at(NOW);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("Warning: 1 item(s) of an earlier build's catalog are not in this one: delta."), "{err}");
    assert!(err.contains("Customers who bought a clip or file listed get \"Not found\""), "{err}");
    assert!(err.contains("delete .site-gen/removed-from-catalog.json in the shop's folder to stop it"), "{err}");
    // Said again by the next builds, though the last build's catalog no
    // longer has it: an owner who built twice before deploying never saw
    // it again (the authoring review).
    for _ in 0..2 {
        let o = build_at(NOW);
        assert!(
            stderr(&o).contains("1 item(s) of an earlier build's catalog are not in this one: delta."),
            "{}",
            stderr(&o)
        );
    }
    let o = site_gen(&["check", "--root", root.to_str().unwrap(), "--now", "2026-06-30T23:00:00Z"]);
    assert!(said(&o), "check too, within 30 days: {}", stderr(&o));
    // A side build into a manifest of its own is not the shop's catalog.
    let side = build(&root, &tmp.path().join("side"), &["--now", NOW]);
    assert!(side.status.success() && !said(&side), "{}", stderr(&side));
    // Put back within the 30 days, it is forgotten at once.
    fs::write(&delta, &delta_text).unwrap();
    let o = build_at("2026-06-10T00:00:00Z");
    assert!(!said(&o), "{}", stderr(&o));
    assert!(!root.join(".site-gen/removed-from-catalog.json").exists(), "nothing left to remember");
    // Taken out again, then renamed while remembered: the rename's fix is
    // found as the shop is now, not as it was when the clip went.
    fs::write(&delta, delta_text.replacen("+++\n", "+++\ndraft = true\n", 1)).unwrap();
    let o = build_at("2026-06-10T00:00:00Z");
    assert!(stderr(&o).contains("are not in this one: delta."), "a draft is taken out: {}", stderr(&o));
    fs::remove_file(&delta).unwrap();
    fs::write(root.join("content/clips/delta-night.md"), &delta_text).unwrap();
    let o = build_at("2026-06-10T00:00:00Z");
    assert!(
        stderr(&o).contains("delta (renamed delta-night? to keep its buyers' links working, add `slug = \"delta\"` in content/clips/delta-night.md)"),
        "{}",
        stderr(&o)
    );
    let o = build_at("2026-07-10T00:00:01Z");
    assert!(!said(&o), "not after the 30 days a checkout's link lasts: {}", stderr(&o));
}

/// A new shop's own sample clip (`CHANGE-ME` in its title, as `init`
/// wrote it) renamed or deleted is no clip anyone bought: no warning for
/// 30 days over it (the diff review).
#[test]
fn an_init_shops_placeholder_clip_taken_out_is_not_warned_of() {
    let tmp = tempfile::tempdir().unwrap();
    let shop = tmp.path().join("shop");
    assert!(site_gen(&["init", shop.to_str().unwrap()]).status.success());
    let root = shop.to_str().unwrap();
    assert!(site_gen(&["build", "--root", root]).status.success());
    fs::rename(shop.join("content/clips/first-clip.md"), shop.join("content/clips/sunset.md")).unwrap();
    for command in ["build", "check"] {
        let o = site_gen(&[command, "--root", root]);
        assert!(!stderr(&o).contains("earlier build's catalog"), "{command}: {}", stderr(&o));
    }
}

/// A clip renamed (its file under a new slug), a `[[variants]]` section or
/// a licence tier removed: each breaks its buyers' links once deployed.
/// `check` says so before the build does, and the rename gets the fix that
/// keeps the links working.
#[test]
fn a_renamed_clip_a_removed_file_or_tier_is_named_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_dir(&fixtures().join("variant-shop"), &root);
    // Into the shop's own catalog-manifest.json, which `check` compares with.
    let site_gen = |command: &str| {
        Command::new(env!("CARGO_BIN_EXE_site-gen"))
            .args([command, "--root", root.to_str().unwrap(), "--now", NOW])
            .output()
            .unwrap()
    };
    assert!(site_gen("build").status.success());
    fs::rename(root.join("content/clips/quay.md"), root.join("content/clips/quay-at-night.md")).unwrap();
    let harbour = root.join("content/clips/harbour.md");
    let text = fs::read_to_string(&harbour).unwrap();
    let web = text.find("[[variants]]\nid = \"web\"").unwrap();
    let end = text.find("+++\nThe harbour").unwrap();
    fs::write(&harbour, format!("{}{}", &text[..web], &text[end..])).unwrap();
    let site = root.join("content/site.toml");
    let settings = fs::read_to_string(&site).unwrap();
    fs::write(&site, &settings[..settings.find("\n[[licences]]\nid = \"extended\"").unwrap()]).unwrap();

    let check = site_gen("check");
    assert!(check.status.success(), "{}", stderr(&check));
    let err = stderr(&check);
    assert!(err.contains("Warning: 3 item(s) of an earlier build's catalog are not in this one"), "{err}");
    assert!(
        err.contains("harbour's file web")
            && err.contains("the licence extended (its buyers' downloads go on, but their licence certificates no longer name it)")
            && err.contains("quay (renamed quay-at-night? to keep its buyers' links working, add `slug = \"quay\"` in content/clips/quay-at-night.md)"),
        "{err}"
    );
    let o = site_gen("build");
    assert!(o.status.success() && stderr(&o).contains("3 item(s)"), "{}", stderr(&o));
    // Remembered by the next builds; the file and the tier put back, only
    // the rename is left.
    fs::write(&harbour, &text).unwrap();
    fs::write(&site, &settings).unwrap();
    let o = site_gen("build");
    let err = stderr(&o);
    assert!(err.contains("1 item(s) of an earlier build's catalog are not in this one: quay (renamed"), "{err}");
}

/// A download name without a type ending was sent as
/// application/octet-stream and saved as a file no player opens.
#[test]
fn a_download_name_without_a_type_ending_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_dir(&fixtures().join("variant-shop"), &root);
    let harbour = root.join("content/clips/harbour.md");
    let text = fs::read_to_string(&harbour).unwrap();
    fs::write(&harbour, text.replace("file_name = \"Harbour (HD).mp4\"", "file_name = \"Harbour (HD) v1.2\"")).unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("`file_name` \"Harbour (HD) v1.2\" has no file type ending"), "{err}");
    assert!(err.contains("harbour.md:20") && err.contains("like \"Harbour (HD) v1.2.mp4\""), "{err}");
    // Any ending is one: camera formats a footage shop sells have no MIME type.
    fs::write(&harbour, text.replace("file_name = \"Harbour (HD).mp4\"", "file_name = \"Harbour (HD).braw\"")).unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A licence page's address written without its last slash names the
/// page that is there, not "write the terms in" the file that exists.
#[test]
fn a_licence_page_without_its_slash_is_named_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_dir(&fixtures().join("variant-shop"), &root);
    let config = root.join("content/site.toml");
    fs::write(&config, fs::read_to_string(&config).unwrap().replace("\"/licence-extended/\"", "\"/licence-extended\""))
        .unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("a page's address ends with a slash: page = \"/licence-extended/\""), "{err}");
    assert!(!err.contains("write the terms in"), "{err}");
}

#[test]
fn drafts_flag_publishes_drafts_and_future_posts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("public");
    let o = build(&fixtures().join("small-shop"), &out, &["--now", NOW, "--drafts"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(read(&out, "clips/gamma/index.html").contains("Draft"));
    assert!(out.join("news/later/index.html").exists());
    // The Worker's catalog is not the preview's: no draft is ever for sale.
    assert!(!tmp.path().join("public.manifest.json").exists(), "no manifest from a preview");
    assert!(String::from_utf8_lossy(&o.stdout).contains("so the Worker never sells a draft"));
    let published = build(&fixtures().join("small-shop"), &out, &["--now", NOW]);
    assert!(published.status.success(), "{}", stderr(&published));
    let manifest = clipstore_core::CatalogManifest::from_json(&read(tmp.path(), "public.manifest.json")).unwrap();
    assert!(manifest.clip("alpha").is_some());
    assert!(manifest.clip("gamma").is_none(), "the draft is not in the catalog");
    let again = build(&fixtures().join("small-shop"), &out, &["--now", NOW, "--drafts"]);
    assert!(again.status.success());
    let kept = clipstore_core::CatalogManifest::from_json(&read(tmp.path(), "public.manifest.json")).unwrap();
    assert!(kept.clip("gamma").is_none(), "a later preview leaves the published catalog alone");
}

#[test]
fn broken_shops_fail_with_every_expected_error_and_write_nothing() {
    let dirs: Vec<PathBuf> = fs::read_dir(fixtures().join("broken")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(dirs.len() >= 6);
    for dir in dirs {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        let o = build(&dir, &out, &["--now", NOW]);
        let err = stderr(&o);
        assert!(!o.status.success(), "{} built", dir.display());
        for line in fs::read_to_string(dir.join("expected.txt")).unwrap().lines().filter(|l| !l.is_empty()) {
            assert!(err.contains(line), "{}: missing `{line}` in:\n{err}", dir.display());
        }
        assert!(!out.exists(), "{}: no output on failure", dir.display());
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0, "no staging folder or manifest left behind");
    }
}

#[test]
fn failed_build_leaves_previous_public_exactly_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let shop = tmp.path().join("shop");
    copy_dir(&fixtures().join("small-shop"), &shop);
    let out = shop.join("public");
    assert!(build(&shop, &out, &["--now", NOW]).status.success());
    let before = snapshot(&out);
    let manifest_before = fs::read(out.with_extension("manifest.json")).unwrap();

    fs::write(shop.join("content/news/first.md"), "+++\ntitle = \"Broken\"\n+++\n").unwrap();
    let o = build(&shop, &out, &["--now", NOW]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing required field `date`"));
    assert_eq!(snapshot(&out), before);
    assert_eq!(fs::read(out.with_extension("manifest.json")).unwrap(), manifest_before);
}

/// Rendered Markdown is kept in `.site-gen/markdown-cache` between builds: a
/// rebuild writes what a build without it writes, and an edited body (or
/// summary) is rendered again, never taken from the cache.
#[test]
fn kept_markdown_never_outlives_an_edit() {
    let tmp = tempfile::tempdir().unwrap();
    let shop = tmp.path().join("shop");
    copy_dir(&fixtures().join("small-shop"), &shop);
    let out = shop.join("public");
    assert!(build(&shop, &out, &["--now", NOW]).status.success());
    let cache = shop.join(".site-gen/markdown-cache");
    assert!(cache.is_file(), "the first build keeps what it rendered");
    let first = snapshot(&out);
    assert!(build(&shop, &out, &["--now", NOW]).status.success());
    assert_eq!(snapshot(&out), first, "a build from the cache writes the same site");

    let post = shop.join("content/news/second.md");
    let text = fs::read_to_string(&post).unwrap();
    fs::write(&post, text.replace("The second post's body.", "A *new* body.").replace("A short", "A brief")).unwrap();
    assert!(build(&shop, &out, &["--now", NOW]).status.success());
    let page = read(&out, "news/second/index.html");
    assert!(page.contains("A <em>new</em> body."), "{page}");
    assert!(!page.contains("second post&#x27;s body") && !page.contains("second post's body"));
    assert!(read(&out, "news/index.html").contains("A brief <em>summary</em>."));

    // The same shop built with no cache at all: the same bytes.
    let fresh = tmp.path().join("fresh");
    copy_dir(&shop, &fresh);
    assert!(!fresh.join(".site-gen").exists(), "copy_dir leaves out what builds keep");
    fs::remove_dir_all(fresh.join("public")).unwrap();
    let _ = fs::remove_dir_all(fresh.join(".public.prev"));
    assert!(build(&fresh, &fresh.join("public"), &["--now", NOW]).status.success());
    assert_eq!(snapshot(&fresh.join("public")), snapshot(&out));
}

/// What a build keeps for the next one (the search index, the rendered
/// Markdown, the record of the pages) cannot be written when `.site-gen` is a file: the build still
/// succeeds, the same site, and says which file it could not keep and why,
/// on every build until the owner fixes it.
#[test]
fn a_cache_that_cannot_be_written_is_warned_of_and_the_site_still_built() {
    let tmp = tempfile::tempdir().unwrap();
    let shop = tmp.path().join("shop");
    copy_dir(&fixtures().join("small-shop"), &shop);
    fs::write(shop.join(".site-gen"), b"in the way").unwrap();
    let out = shop.join("public");
    for round in ["first", "second"] {
        let built = build(&shop, &out, &["--now", NOW]);
        assert!(built.status.success(), "{round}: {}", stderr(&built));
        let err = stderr(&built);
        for (what, file) in [
            ("the search index", "search-index"),
            ("the rendered Markdown", "markdown-cache"),
            ("the record of the pages built", "pages"),
        ] {
            let line = err.lines().find(|l| l.contains(what)).unwrap_or_else(|| panic!("{round}: no {what}: {err}"));
            assert!(line.starts_with("warning: could not keep ") && line.contains(file), "{line}");
        }
        assert_eq!(err.matches("help: make sure").count(), 3, "{err}");
    }
    assert_eq!(fs::read(shop.join(".site-gen")).unwrap(), b"in the way", "nothing of the owner's is replaced");
    let without = snapshot(&out);
    fs::remove_file(shop.join(".site-gen")).unwrap();
    let built = build(&shop, &out, &["--now", NOW]);
    assert!(built.status.success() && !stderr(&built).contains("warning: could not keep"), "{}", stderr(&built));
    assert_eq!(snapshot(&out), without, "the site is the same with its caches");
    for kept in ["search-index", "markdown-cache", "pages"] {
        assert!(shop.join(".site-gen").join(kept).is_file(), "{kept}");
    }
}

/// Pages are written into the staging folder (the kept sibling) as they are
/// rendered: a template that fails on some pages, after others were
/// written, still leaves the previous `public/` as it was, each file the
/// same file, shared with nothing but its twin in the sibling; and the next
/// build that succeeds is exactly what a build from scratch writes.
#[test]
fn a_build_failing_while_pages_are_written_leaves_previous_public_exactly_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let shop = tmp.path().join("shop");
    copy_dir(&fixtures().join("small-shop"), &shop);
    let out = tmp.path().join("public");
    // Twice, so that the sibling holds a build whose files public/ shares.
    assert!(build(&shop, &out, &["--now", NOW]).status.success());
    assert!(build(&shop, &out, &["--now", NOW]).status.success());
    let before = snapshot(&out);
    #[cfg(unix)]
    let inodes = |dir: &Path| -> Vec<u64> {
        use std::os::unix::fs::MetadataExt;
        before.keys().map(|p| fs::metadata(dir.join(p)).unwrap().ino()).collect()
    };
    #[cfg(unix)]
    let inodes_before = inodes(&out);

    // Every other page renders (and most come out unchanged, so the new
    // build keeps them); only the posts' pages fail.
    fs::create_dir_all(shop.join("templates")).unwrap();
    fs::write(shop.join("templates/post.html"), "{{ post.no_such_field.deeper }}").unwrap();
    let o = build(&shop, &out, &["--now", NOW]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--> templates/post.html"), "{}", stderr(&o));
    assert_eq!(snapshot(&out), before);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(inodes(&out), inodes_before, "no file of public/ was replaced");
        let sibling = tmp.path().join(".public.prev");
        for path in before.keys() {
            let meta = fs::metadata(out.join(path)).unwrap();
            let twin = fs::metadata(sibling.join(path)).ok().filter(|t| t.ino() == meta.ino());
            assert_eq!(meta.nlink(), 1 + u64::from(twin.is_some()), "{}: no name but its twin", path.display());
        }
    }
    let mut left: Vec<_> = fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    left.sort();
    assert_eq!(left, [".public.prev", "public", "public.manifest.json", "shop"].map(std::ffi::OsString::from));

    fs::remove_file(shop.join("templates/post.html")).unwrap();
    fs::write(
        shop.join("content/news/first.md"),
        fs::read_to_string(shop.join("content/news/first.md")).unwrap() + "\nOne more line.\n",
    )
    .unwrap();
    assert!(build(&shop, &out, &["--now", NOW]).status.success());
    let fresh = tmp.path().join("fresh/public");
    assert!(build(&shop, &fresh, &["--now", NOW]).status.success());
    assert_eq!(snapshot(&out), snapshot(&fresh), "the rebuild over the sibling equals a build from scratch");
}

/// A rebuild takes each page made from the same inputs from the build it
/// replaces (`site_gen::kept_pages`), and says so; but never a page that
/// is not what that build wrote: one changed by hand, or put there as a
/// symbolic link, is rendered again; with `public/` deleted, the pages
/// come from the build before, kept beside it. A record that is damaged keeps
/// nothing, and templates that read outside their context (`get_env`)
/// are rendered every build.
#[test]
fn a_rebuild_takes_unchanged_pages_and_only_the_bytes_it_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let shop = tmp.path().join("shop");
    copy_dir(&fixtures().join("small-shop"), &shop);
    let out = shop.join("public");
    let built = |what: &str| {
        let o = build(&shop, &out, &["--now", NOW]);
        assert!(o.status.success(), "{what}: {}", stderr(&o));
        let summary = String::from_utf8_lossy(&o.stdout).lines().next().unwrap().to_string();
        assert!(summary.starts_with("Built 17 pages"), "{what}: {summary}");
        summary
    };
    assert!(!built("first").contains("taken"), "nothing to take from");
    let first = snapshot(&out);
    let taken = "(0 rendered; 17 unchanged since the last build, taken from it)";
    assert!(built("again").ends_with(taken), "everything taken");
    assert_eq!(snapshot(&out), first);

    let page = out.join("news/first/index.html");
    fs::remove_file(&page).unwrap();
    fs::write(&page, String::from_utf8(first[Path::new("news/first/index.html")].clone()).unwrap() + "<!-- mine -->")
        .unwrap();
    assert!(built("a page changed by hand").ends_with("(1 rendered; 16 unchanged since the last build, taken from it)"));
    assert_eq!(snapshot(&out), first, "the page is the build's again");

    // The same bytes, but behind a link: not a file the build wrote.
    let elsewhere = tmp.path().join("elsewhere.html");
    fs::write(&elsewhere, &first[Path::new("clips/alpha/index.html")]).unwrap();
    fs::remove_file(out.join("clips/alpha/index.html")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("clips/alpha/index.html")).unwrap();
    assert!(built("a page replaced by a link").contains("(1 rendered; 16 unchanged"));
    assert!(fs::symlink_metadata(out.join("clips/alpha/index.html")).unwrap().is_file());
    assert_eq!(snapshot(&out), first);

    let record = shop.join(".site-gen/pages");
    let bytes = fs::read(&record).unwrap();
    fs::write(&record, &bytes[..bytes.len() - 1]).unwrap();
    assert!(!built("a record cut short").contains("taken"));
    assert_eq!(snapshot(&out), first);
    assert!(built("the record written again").ends_with(taken));

    // public/ deleted by hand: the build before it, kept beside it, has the pages.
    fs::remove_dir_all(&out).unwrap();
    assert!(built("public/ deleted").ends_with(taken));
    assert_eq!(snapshot(&out), first);

    fs::create_dir_all(shop.join("templates")).unwrap();
    let page = "{% extends \"base.html\" %}{% block content %}{{ get_env(name=\"SHOP_NOTE\", default=\"\") }}\
                  {{ page.content | safe }}{% endblock content %}";
    fs::write(shop.join("templates/page.html"), page).unwrap();
    built("a template reading the environment");
    assert!(!built("and again").contains("taken"), "nothing is taken while a template reads outside its context");
}

#[test]
fn refuses_to_replace_a_folder_it_did_not_write() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("precious");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("thesis.txt"), "keep me").unwrap();
    let o = build(&fixtures().join("small-shop"), &out, &["--now", NOW]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("was not written by site-gen"), "{}", stderr(&o));
    assert_eq!(fs::read_to_string(out.join("thesis.txt")).unwrap(), "keep me");
}

#[test]
fn shop_templates_override_builtins_one_file_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let shop = tmp.path().join("shop");
    copy_dir(&fixtures().join("small-shop"), &shop);
    fs::create_dir_all(shop.join("templates")).unwrap();
    fs::write(
        shop.join("templates/page.html"),
        "{% extends \"base.html\" %}{% block content %}<p class=\"custom\">{{ page.title }}</p>{% endblock content %}",
    )
    .unwrap();
    let out = tmp.path().join("public");
    assert!(build(&shop, &out, &["--now", NOW]).status.success());
    assert!(read(&out, "about/index.html").contains("<p class=\"custom\">About</p>"));
    assert!(read(&out, "clips/alpha/index.html").contains("Buy this clip"), "other templates stay built-in");
}

#[test]
fn render_errors_name_the_template() {
    let tmp = tempfile::tempdir().unwrap();
    let shop = tmp.path().join("shop");
    copy_dir(&fixtures().join("small-shop"), &shop);
    fs::create_dir_all(shop.join("templates")).unwrap();
    fs::write(shop.join("templates/clip.html"), "{{ clip.no_such_field.deeper }}").unwrap();
    let o = build(&shop, &tmp.path().join("public"), &["--now", NOW]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(err.contains("--> templates/clip.html") && err.contains("(on 2 pages)"), "{err}");
}

#[test]
fn new_files_build_and_are_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let shop = tmp.path().join("shop");
    copy_dir(&fixtures().join("small-shop"), &shop);
    let root = shop.to_str().unwrap();
    let o = site_gen(&["new", "--root", root, "post", "Summer Sale: 20% off!"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(site_gen(&["new", "--root", root, "page", "Licensing"]).status.success());
    let again = site_gen(&["new", "--root", root, "post", "Summer sale 20% off"]);
    assert!(!again.status.success() && stderr(&again).contains("already exists"));

    let out = tmp.path().join("public");
    let o = build(&shop, &out, &["--drafts"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(read(&out, "news/summer-sale-20-off/index.html").contains("Summer Sale: 20% off!"));
    assert!(read(&out, "licensing/index.html").contains("Licensing"));

    // A new clip is a draft whose placeholders the check asks to fill in.
    let o = site_gen(&["new", "--root", root, "clip", "Foggy Pier"]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("run `site-gen media`"));
    let o = site_gen(&["check", "--root", root]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("content/clips/foggy-pier.md"), "{}", stderr(&o));
    // It does not stop the shop's build: a draft is not sold, so its running
    // time and size may wait for `site-gen media`.
    let o = build(&shop, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join("clips/foggy-pier").exists());
    // Published without them, it is refused, with what to do: its price of
    // 0 in the same run as the rest.
    let clip = shop.join("content/clips/foggy-pier.md");
    let draft = fs::read_to_string(&clip).unwrap();
    fs::write(&clip, draft.replace("draft = true\n", "")).unwrap();
    let err = stderr(&build(&shop, &out, &[]));
    for mistake in ["`duration` cannot be \"0:00\"", "`size` must be the clip's size", "`price` is 0: a clip on sale"] {
        assert!(err.contains(mistake), "{mistake}: {err}");
    }
    let text = draft.replace("draft = true\n", "").replace("price = 0.00", "price = 9.00");
    fs::write(&clip, text).unwrap();
    let o = build(&shop, &out, &[]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("`size` must be the clip's size in bytes, not 0") && err.contains("`duration` cannot be \"0:00\""),
        "{err}"
    );
    assert_eq!(err.matches("run `site-gen media`").count(), 2, "{err}");
}

#[test]
fn check_validates_links_that_templates_write() {
    let tmp = tempfile::tempdir().unwrap();
    let shop = tmp.path().join("shop");
    copy_dir(&fixtures().join("small-shop"), &shop);
    let root = shop.to_str().unwrap();
    let ok = site_gen(&["check", "--root", root, "--now", NOW]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(!shop.join("public").exists(), "check writes nothing");

    fs::create_dir_all(shop.join("templates/partials")).unwrap();
    fs::write(shop.join("templates/partials/footer.html"), "<a href=\"/contact/\">Contact</a>").unwrap();
    let o = site_gen(&["check", "--root", root, "--now", NOW]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("links to /contact/, which does not exist"), "{}", stderr(&o));
}

#[test]
fn sample_shop_of_the_repository_checks_and_builds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("public");
    let check = site_gen(&["check", "--root", root.to_str().unwrap()]);
    assert!(check.status.success(), "{}", stderr(&check));
    let o = build(root, &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let clips = fs::read_dir(root.join("content/clips")).unwrap().count();
    let manifest = clipstore_core::CatalogManifest::from_json(&read(tmp.path(), "public.manifest.json")).unwrap();
    assert!(manifest.clips.len() >= 8 && manifest.clips.len() < clips, "drafts are not in the manifest");
    for (slug, clip) in &manifest.clips {
        assert!(out.join(format!("clips/{slug}/index.html")).is_file());
        let media = root.join("sample-media").join(&clip.object_key);
        let bytes = fs::read(&media).unwrap_or_else(|e| panic!("{}: {e}", media.display()));
        assert_eq!(bytes.len() as u64, clip.size, "{slug}: size in front matter matches the sample file");
        if let Some(expected) = &clip.sha256 {
            use sha2::Digest;
            let actual: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(&actual, expected, "{slug}: sha256 in front matter matches the sample file");
        }
    }
}

/// A page `site-gen new page` wrote is published at once, in every page's
/// menu, with its "CHANGE-ME: write the page here." text: build warns,
/// naming the file and line (check lists every placeholder as a to-do).
#[test]
fn build_warns_of_a_published_page_that_still_holds_a_placeholder() {
    let (tmp, root) = small_shop();
    let new = site_gen(&["new", "page", "FAQ", "--root", root.to_str().unwrap()]);
    assert!(new.status.success(), "{}", stderr(&new));
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("warning: this is on the site with a placeholder (CHANGE-ME) still in it"), "{err}");
    assert!(err.contains("content/pages/faq.md:"), "{err}");
    assert_eq!(err.matches("placeholder (CHANGE-ME)").count(), 1, "the page only: {err}");
}

/// `![x](/images/my photo.jpg)`: Markdown takes no space in an address, so
/// the page shows the text; build and check warn, with the address to write.
#[test]
fn an_image_address_with_a_space_is_warned_of_with_the_fix() {
    let (tmp, root) = small_shop();
    let post = root.join("content/news/photo.md");
    fs::write(&post, "+++\ntitle = \"Photo\"\ndate = 2026-01-05\n+++\nLook:\n\n![the quay](/images/my photo.jpg)\n")
        .unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(
            "this image did not become one, the page shows its text: its address `/images/my photo.jpg` has a space"
        ),
        "{err}"
    );
    assert!(err.contains("content/news/photo.md:7") && err.contains("(/images/my%20photo.jpg)"), "{err}");
    fs::write(&post, "+++\ntitle = \"Photo\"\ndate = 2026-01-05\n+++\nLook: ![ and ](not an image\n\nWrite `![x](my photo.jpg)` or `<p style=\\\"x\\\">` so.\n\n<iframe src=\"https://player.example/v/1\"></iframe>\n").unwrap();
    let o = build(&root, &tmp.path().join("public"), &["--now", NOW]);
    assert!(!stderr(&o).contains("did not become one"), "{}", stderr(&o));
    // A pasted player: the page's CSP blocks it, and build says so.
    assert!(
        stderr(&o).contains(
            "an <iframe> (a pasted player) shows as an empty box: the shop's Content-Security-Policy blocks it"
        ),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("content/news/photo.md:9"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("style="), "markup shown as code is not markup: {}", stderr(&o));
}

/// A preview `site-gen media` is still writing (`.NAME.PID.part.EXT` in
/// `static/`) is half a file: a build running meanwhile leaves it out of
/// the site, and keeps the shop's own dot files (found by the owner review:
/// it was copied into `public/` and would have been deployed).
#[test]
fn build_leaves_out_what_media_is_still_writing() {
    let (tmp, root) = small_shop();
    let previews = root.join("static/previews");
    std::fs::create_dir_all(&previews).unwrap();
    std::fs::write(previews.join(".alpha.mp4.4242.part.mp4"), b"half a file").unwrap();
    std::fs::create_dir_all(root.join("static/.well-known")).unwrap();
    std::fs::write(root.join("static/.well-known/security.txt"), b"Contact: mailto:a@example.com\n").unwrap();
    let out = tmp.path().join("public");
    let o = build(&root, &out, &["--now", NOW]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join("previews/.alpha.mp4.4242.part.mp4").exists(), "the half-written preview is not published");
    assert!(out.join(".well-known/security.txt").exists(), "the shop's own dot files are");
}

/// The Worker embeds the catalog: a build whose catalog differs from the
/// last says to build and deploy the Worker too (the owner review: an owner
/// who ran `build` and `wrangler deploy` after a price change sold at the
/// old price), and one that changed nothing for it says nothing.
#[test]
fn build_says_when_the_worker_must_be_built_again() {
    let (tmp, root) = small_shop();
    let out = tmp.path().join("public");
    let said = |o: &Output| String::from_utf8_lossy(&o.stdout).contains("The catalog changed: the Worker sells");
    let first = build(&root, &out, &["--now", NOW]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(said(&first), "a first build: {}", String::from_utf8_lossy(&first.stdout));
    let manifest = out.with_extension("manifest.json");
    assert!(
        String::from_utf8_lossy(&first.stdout)
            .contains(&format!("CLIPSTORE_MANIFEST={}", manifest.canonicalize().unwrap().display())),
        "{}",
        String::from_utf8_lossy(&first.stdout)
    );
    // A news post changes nothing the Worker sells.
    let post = root.join("content/news/first.md");
    let text = std::fs::read_to_string(&post).unwrap();
    std::fs::write(&post, text + "\nOne more line.\n").unwrap();
    let again = build(&root, &out, &["--now", NOW]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(!said(&again), "{}", String::from_utf8_lossy(&again.stdout));
    let alpha = root.join("content/clips/alpha.md");
    let text = std::fs::read_to_string(&alpha).unwrap();
    let priced = text.lines().find(|l| l.starts_with("price")).expect("alpha has a price").to_string();
    std::fs::write(&alpha, text.replacen(&priced, "price = 123", 1)).unwrap();
    let repriced = build(&root, &out, &["--now", NOW]);
    assert!(repriced.status.success(), "{}", stderr(&repriced));
    assert!(said(&repriced), "{}", String::from_utf8_lossy(&repriced.stdout));
}

/// `--manifest` never replaces what is not an earlier manifest (the shop's
/// settings, a clip, its README) and never writes into the site or the
/// shop's folders (the owner review: `--manifest content/site.toml` built
/// "fine" and the settings were gone); an earlier manifest it replaces.
#[test]
fn the_manifest_never_replaces_the_shops_files_or_lands_in_the_site() {
    let (_tmp, root) = small_shop();
    fs::write(root.join("notes.txt"), "the owner's notes\n").unwrap();
    fs::create_dir(root.join("exports")).unwrap();
    let out = root.join("public");
    let settings = fs::read(root.join("content/site.toml")).unwrap();
    let attempt = |manifest: &str| build_with_manifest(&root, &out, Path::new(manifest), &["--now", NOW]);
    for (manifest, why) in [
        ("content/site.toml", "the catalog manifest would be written inside content/"),
        ("static/catalog.json", "the catalog manifest would be written inside static/"),
        ("templates/catalog.json", "the catalog manifest would be written inside templates/"),
        ("public/catalog.json", "the catalog manifest would be written inside the output folder"),
        (
            "notes.txt",
            "this file is not a catalog manifest that site-gen wrote: writing the catalog here would replace it",
        ),
        ("exports", "this is a folder, not a file for the catalog manifest"),
    ] {
        let o = attempt(manifest);
        assert!(!o.status.success(), "{manifest}: {}", stderr(&o));
        assert!(stderr(&o).contains(why), "{manifest}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("--> {}", root.join(manifest).display())), "{manifest}: {}", stderr(&o));
        assert!(stderr(&o).contains("help: leave out --manifest"), "{}", stderr(&o));
    }
    assert_eq!(fs::read(root.join("content/site.toml")).unwrap(), settings);
    assert_eq!(fs::read_to_string(root.join("notes.txt")).unwrap(), "the owner's notes\n");
    assert!(!out.exists() && !root.join("static/catalog.json").exists(), "nothing was built");
    // A new file, then the same file again: an earlier manifest is replaced.
    let first = attempt("catalog.json");
    assert!(first.status.success(), "{}", stderr(&first));
    fs::write(
        root.join("content/clips/alpha.md"),
        fs::read_to_string(root.join("content/clips/alpha.md")).unwrap() + "\nMore.\n",
    )
    .unwrap();
    let again = attempt("catalog.json");
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(fs::read_to_string(root.join("catalog.json")).unwrap().contains("\"clips\""));
}

/// A file Cloudflare would not deploy (over 25 MiB) is named by `check`
/// and `build`, which had said "All good" for a site `wrangler deploy`
/// then refused (the owner review).
#[test]
fn a_static_file_too_big_to_deploy_is_named() {
    let (tmp, root) = small_shop();
    let out = tmp.path().join("public");
    let warned = |o: &Output| stderr(o).contains("MiB: Cloudflare does not deploy a file of the site over 25 MiB");
    // Exactly 25 MiB deploys.
    let limit = fs::File::create(root.join("static/limit.bin")).unwrap();
    limit.set_len(25 * 1024 * 1024).unwrap();
    let o = site_gen(&["check", "--root", root.to_str().unwrap(), "--now", NOW]);
    assert!(o.status.success() && !warned(&o), "{}", stderr(&o));
    // One byte more does not: sparse, so the test writes nothing.
    let big = fs::File::create(root.join("static/previews-big.mp4")).unwrap();
    big.set_len(25 * 1024 * 1024 + 1).unwrap();
    for o in [site_gen(&["check", "--root", root.to_str().unwrap(), "--now", NOW]), build(&root, &out, &["--now", NOW])]
    {
        assert!(o.status.success(), "a warning, not an error: {}", stderr(&o));
        assert!(warned(&o), "{}", stderr(&o));
        assert!(stderr(&o).contains("--> static/previews-big.mp4"), "{}", stderr(&o));
        assert!(!stderr(&o).contains("static/limit.bin"), "{}", stderr(&o));
    }
}

/// Dot files under `static/` (`.env`, `.dev.vars`, a `.git` folder) and
/// editors' backups are not published, with a warning that names each: the
/// security review's Worker served `/.env` and `/.git/config` with 200. A
/// system's clutter is left out silently, `.well-known/` is published.
#[test]
fn private_files_under_static_are_left_out_and_named() {
    let (tmp, root) = small_shop();
    let out = tmp.path().join("public");
    let files = [
        ".env",
        ".dev.vars",
        ".git/config",
        ".git/objects/ab/cdef",
        "img/.DS_Store",
        "img/Thumbs.db",
        "img/desktop.ini",
        "notes.txt~",
        "old.css.bak",
        "sub/.well-known/x.txt",
        ".well-known/security.txt",
        "robots-extra.txt",
    ];
    for file in files {
        let path = root.join("static").join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, format!("SECRET in {file}\n")).unwrap();
    }
    for o in [site_gen(&["check", "--root", root.to_str().unwrap(), "--now", NOW]), build(&root, &out, &["--now", NOW])]
    {
        let err = stderr(&o);
        assert!(o.status.success(), "a warning, not an error: {err}");
        let named = [
            "static/.env",
            "static/.dev.vars",
            "static/.git\n",
            "static/notes.txt~",
            "static/old.css.bak",
            "static/sub/.well-known\n",
        ];
        for named in named {
            assert!(err.contains(&format!("--> {named}")), "{named} in {err}");
        }
        assert_eq!(err.matches("left out of the site:").count(), 6, "one for the .git folder, none for clutter: {err}");
        assert!(err.contains("an editor's backup") && err.contains("static/.well-known/"), "{err}");
    }
    let published: Vec<String> = snapshot(&out)
        .into_iter()
        .filter(|(_, bytes)| bytes.starts_with(b"SECRET in"))
        .map(|(path, _)| path.to_string_lossy().replace('\\', "/"))
        .collect();
    assert_eq!(published, [".well-known/security.txt", "robots-extra.txt"]);
}
