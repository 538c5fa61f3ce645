//! `site-gen init` end to end: the new shop builds at once, `check` lists
//! every placeholder with its file and line, and once they are filled the
//! shop checks clean; init never writes over anything.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn site_gen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_site-gen")).args(args).output().expect("site-gen runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn fill_placeholders(dir: &Path) {
    for entry in walk(dir) {
        let t = fs::read_to_string(&entry).unwrap();
        fs::write(&entry, t.replace("CHANGE-ME", "Mine").replace("change-me", "mine")).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "md" || x == "toml") {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_new_shop_builds_at_once_and_check_lists_its_placeholders() {
    let tmp = tempfile::tempdir().unwrap();
    let shop = tmp.path().join("harbour-films");
    let root = shop.to_str().unwrap();
    // This repository is a clipstore checkout; given by a relative path, it
    // is written as an absolute one (the shop's commands run elsewhere).
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().canonicalize().unwrap();
    let init = Command::new(env!("CARGO_BIN_EXE_site-gen"))
        .args(["init", root, "--title", "Harbour Films", "--clipstore", ".."])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", text(&init));
    assert!(text(&init).contains("site-gen check"));

    let out = tmp.path().join("out");
    let build = site_gen(&[
        "build",
        "--root",
        root,
        "--out",
        out.to_str().unwrap(),
        "--manifest",
        tmp.path().join("m.json").to_str().unwrap(),
    ]);
    assert!(build.status.success(), "{}", text(&build));
    // A manifest of its own: the shop's wrangler.toml builds from
    // catalog-manifest.json, so the build names the checkout's script.
    assert!(
        text(&build).contains(&format!(
            "build the Worker with it and deploy (`CLIPSTORE_MANIFEST={} bash {}/scripts/build-worker.sh`",
            tmp.path().join("m.json").canonicalize().unwrap().display(),
            repo.display()
        )),
        "{}",
        text(&build)
    );
    assert!(
        text(&build).contains("warning: content/site.toml still has 4 placeholder(s) (CHANGE-ME), shown on every page"),
        "the build that would be deployed says so: {}",
        text(&build)
    );
    // A link minted on the placeholder address would lead nowhere.
    let key = String::from_utf8(site_gen(&["token", "keygen"]).stdout).unwrap();
    let mint = Command::new(env!("CARGO_BIN_EXE_site-gen"))
        .args(["token", "mint", "--root", root, "--order", "A1", "--clip", "first-clip"])
        .env("CLIPSTORE_SIGNING_KEY", key.trim())
        .output()
        .unwrap();
    assert!(!mint.status.success(), "{}", text(&mint));
    assert!(
        text(&mint).contains("is still a placeholder (CHANGE-ME), so the link would lead nowhere"),
        "{}",
        text(&mint)
    );
    assert!(mint.stdout.is_empty(), "no link printed");
    let home = fs::read_to_string(out.join("index.html")).unwrap();
    assert!(home.contains("Harbour Films"));
    assert!(out.join("clips/first-clip/index.html").is_file());
    assert!(out.join("about/index.html").is_file());

    let check = site_gen(&["check", "--root", root]);
    assert!(!check.status.success(), "placeholders make check fail");
    let report = text(&check);
    for place in [
        "content/site.toml:4:1",
        "content/site.toml:5:1",
        "content/site.toml:8:1",
        "content/site.toml:10:1",
        "content/clips/first-clip.md:4:1",
        "content/clips/first-clip.md:9:1",
        "content/pages/about.md:4:1",
        "content/pages/terms.md:4:1",
        "wrangler.toml:",
    ] {
        assert!(report.contains(place), "{place} missing from:\n{report}");
    }
    assert!(!report.contains("content/site.toml:3:1"), "the title was given: {report}");
    assert!(report.contains("placeholder(s) left to fill (marked CHANGE-ME)"), "{report}");
    assert!(report.contains("| database_id = "), "the database id is one: {report}");
    // A slip in a year is said while placeholders are left too (the
    // database id stays one until the owner has a Cloudflare account).
    let typo = shop.join("content/news/typo-year.md");
    fs::write(&typo, "+++\ntitle = \"Market day\"\ndate = 2062-12-07\n+++\nWe are at the market.\n").unwrap();
    let report = text(&site_gen(&["check", "--root", root]));
    assert!(
        report.contains("Left out (1):\n  content/news/typo-year.md: dated 2062-12-07 00:00 UTC, on the site from the first build after that"),
        "{report}"
    );
    fs::remove_file(&typo).unwrap();
    let wrangler = fs::read_to_string(shop.join("wrangler.toml")).unwrap();
    assert!(wrangler.contains("main = \".worker-build/index.js\""), "{wrangler}");
    assert!(wrangler.contains(&format!("bash '{}/scripts/build-worker.sh'", repo.display())), "{wrangler}");
    assert!(wrangler.contains("name = \"harbour-films\""), "{wrangler}");

    fill_placeholders(&shop);
    let check = site_gen(&["check", "--root", root]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(text(&check).contains("All good"));
    let build = site_gen(&["build", "--root", root, "--out", out.to_str().unwrap()]);
    assert!(build.status.success() && !text(&build).contains("warning"), "{}", text(&build));
    // Its own catalog: `wrangler deploy` in the shop builds the Worker.
    assert!(
        text(&build).contains(&format!(
            "deploy the Worker again: `\"$W\" deploy --config wrangler.toml` in {} builds it with this catalog first (the shop's README.md, step 5) (a `wrangler dev` running here builds and reloads by itself)",
            shop.canonicalize().unwrap().display()
        )),
        "{}",
        text(&build)
    );
    // `wrangler dev` watches what `build` writes: the site and the catalog.
    assert!(wrangler.contains("watch_dir = [\"public\", \"catalog-manifest.json\"]\n"), "{wrangler}");
    // A shop made by an older init watched content/: told how to mend it.
    let config = shop.join("wrangler.toml");
    let old = fs::read_to_string(&config).unwrap().replace(site_gen::init::WATCH_DIR, "\"content\"");
    fs::write(&config, old).unwrap();
    // (A new title changes the catalog's shop details: the note comes with it.)
    let mut c = fs::read_to_string(shop.join("content/site.toml")).unwrap();
    c = c.replacen("title = \"", "title = \"New ", 1);
    fs::write(shop.join("content/site.toml"), c).unwrap();
    let build = site_gen(&["build", "--root", root, "--out", out.to_str().unwrap()]);
    assert!(
        text(&build).contains(
            "A `wrangler dev` running here misses each build while wrangler.toml says `watch_dir = \"content\"`"
        ),
        "{}",
        text(&build)
    );

    // A shop made before `[build]`: `main` in the checkout's build folder,
    // which holds whatever was built there last. Every build and check says
    // so, with the lines that mend it; mended, it is what init writes now.
    let now = fs::read_to_string(&config).unwrap().replace("\"content\"", site_gen::init::WATCH_DIR);
    let section_at = now.find("\n# Every `wrangler deploy`").unwrap();
    let checkout = site_gen::init::clipstore_of_current_exe().unwrap();
    let old_main = format!("main = \"{}/edge-worker/build/index.js\"", checkout.display());
    let old = now[..section_at].replace("main = \".worker-build/index.js\"", &old_main);
    fs::write(&config, &old).unwrap();
    for args in [&["build", "--root", root, "--out", out.to_str().unwrap()][..], &["check", "--root", root]] {
        let (command, o) = (args[0], site_gen(args));
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            text(&o).contains(&format!(
                "wrangler.toml: `{old_main}` deploys whatever was last built in the clipstore checkout"
            )),
            "{command}: {}",
            text(&o)
        );
        assert!(text(&o).contains("change that line to `main = \".worker-build/index.js\"`"), "{}", text(&o));
    }
    let o = text(&site_gen(&["build", "--root", root, "--out", out.to_str().unwrap()]));
    let told = &o[o.find("add at the end of wrangler.toml:\n").unwrap() + "add at the end of wrangler.toml:\n".len()..];
    let section = &told
        [..told.find("watch_dir = ").unwrap() + told[told.find("watch_dir = ").unwrap()..].find('\n').unwrap() + 1];
    fs::write(&config, format!("{}{section}", old.replace(&old_main, "main = \".worker-build/index.js\""))).unwrap();
    assert_eq!(fs::read_to_string(&config).unwrap(), now, "mended as told, it is what init writes");
    let o = site_gen(&["build", "--root", root, "--out", out.to_str().unwrap()]);
    assert!(!text(&o).contains("deploys whatever was last built"), "{}", text(&o));
    // The checkout it named is gone: the lines name the one this site-gen is from.
    let gone = old.replace(&old_main, "main = \"/gone/clipstore/edge-worker/build/index.js\"");
    fs::write(&config, gone).unwrap();
    let o = text(&site_gen(&["build", "--root", root, "--out", out.to_str().unwrap()]));
    assert!(o.contains(&format!("{}/scripts/build-worker.sh", checkout.display())), "{o}");
    assert!(!o.contains("/gone/clipstore/scripts"), "{o}");
}

#[test]
fn commands_run_outside_a_shop_say_so_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    for command in ["build", "check", "serve"] {
        let o = site_gen(&[command, "--root", root]);
        assert!(!o.status.success(), "{command}");
        assert!(
            text(&o).contains(&format!(
                "there is no shop in {root} (no content/site.toml): run this in the shop's folder (cd my-shop)"
            )),
            "{command}: {}",
            text(&o)
        );
    }
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0, "nothing written");
}

/// Without `--clipstore`, the checkout site-gen was built from, wherever
/// its binary is (a `CARGO_TARGET_DIR` or `cargo install` puts it elsewhere).
#[test]
fn init_finds_the_clipstore_checkout_it_was_built_from() {
    let tmp = tempfile::tempdir().unwrap();
    let shop = tmp.path().join("shop");
    let init = site_gen(&["init", shop.to_str().unwrap()]);
    assert!(init.status.success(), "{}", text(&init));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().canonicalize().unwrap();
    let wrangler = fs::read_to_string(shop.join("wrangler.toml")).unwrap();
    assert!(wrangler.contains(&format!("bash '{}/scripts/build-worker.sh'", repo.display())), "{wrangler}");
    assert!(!fs::read_to_string(shop.join("README.md")).unwrap().contains("CHANGE-ME/path/to/clipstore"));
    // The shop has no docs/ folder: its files name the guides in the checkout.
    let guide = |doc: &str| repo.join("docs").join(doc).display().to_string();
    for (file, doc) in [
        ("README.md", "content.md"),
        ("README.md", "deploy.md"),
        ("content/site.toml", "content.md"),
        ("wrangler.toml", "deploy.md"),
    ] {
        let text = fs::read_to_string(shop.join(file)).unwrap();
        assert!(text.contains(&guide(doc)) && Path::new(&guide(doc)).is_file(), "{file} names {doc}:\n{text}");
    }
}

#[test]
fn init_never_writes_over_anything() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let init = site_gen(&["init", tmp.path().to_str().unwrap()]);
    assert!(!init.status.success());
    assert!(text(&init).contains("already exists and is not empty"), "{}", text(&init));
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    assert_eq!(fs::read_to_string(tmp.path().join("notes.txt")).unwrap(), "mine");
}
