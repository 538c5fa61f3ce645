//! End-to-end test of `site-gen serve`: starts it on a free port on a copy of
//! the `small-shop` fixture, edits the Markdown, and sees the reload event on
//! the event stream and the new text over HTTP; breaks a file and sees the
//! errors (file, line, message) while the last good build is still served;
//! and checks the HTTP basics (content types, 404 page, folder redirects, no
//! way out of the served folder).

mod common;
use common::copy_dir;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// A copy of the `small-shop` fixture in a temporary folder, and its root.
fn small_shop() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop"), &root);
    (tmp, root)
}

/// The server process, stopped when the test ends (also on failure).
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(root: &Path, out: &Path) -> Server {
    start_with(root, &["--out", out.to_str().unwrap()]).0
}

/// `serve` with `more` arguments; and what it printed up to its address.
fn start_with(root: &Path, more: &[&str]) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_site-gen"))
        .args(["serve", "--port", "0", "--root", root.to_str().unwrap()])
        .args(more)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("site-gen serve starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut server = Server { child, port: 0 };
    let deadline = Instant::now() + WAIT;
    let mut said = String::new();
    while Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else { continue };
        said.push_str(&line);
        said.push('\n');
        if let Some(rest) = line.split("http://127.0.0.1:").nth(1) {
            server.port = rest.split('/').next().unwrap().parse().unwrap();
            return (server, said);
        }
    }
    panic!("serve did not print its address");
}

struct Reply {
    status: u16,
    headers: String,
    body: String,
}

/// One raw HTTP/1.1 request (the path is sent exactly as given).
fn get(port: u16, path: &str) -> Reply {
    get_with(port, path, "")
}

/// The same with more header lines (`Name: value\r\n` each).
fn get_with(port: u16, path: &str, headers: &str) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Reply { status, headers: head.to_ascii_lowercase(), body: body.to_string() }
}

/// The `status` events of the live-reload stream, as they arrive.
fn events(port: u16) -> mpsc::Receiver<Value> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET /__site-gen/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut event = String::new();
        for line in BufReader::new(s).lines().map_while(Result::ok) {
            if let Some(name) = line.strip_prefix("event: ") {
                event = name.to_string();
            } else if let Some(data) = line.strip_prefix("data: ") {
                if event == "status" && tx.send(serde_json::from_str(data).unwrap()).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

fn next_status(rx: &mpsc::Receiver<Value>) -> Value {
    rx.recv_timeout(WAIT).expect("a status event")
}

/// Saves the way most editors do: a new file renamed over the old one.
fn edit(path: &PathBuf, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from));
    let tmp = path.with_file_name(format!(".{}.tmp", path.file_name().unwrap().to_str().unwrap()));
    fs::write(&tmp, text.replacen(from, to, 1)).unwrap();
    fs::rename(&tmp, path).unwrap();
}

/// Without `--out`, the preview is kept in the shop's own `.site-gen/`
/// (not the system's temporary folder, whose cleaners would delete the
/// marker that makes it site-gen's), one folder per mode.
#[test]
fn the_default_preview_folder_is_the_shops_own() {
    let (_tmp, root) = small_shop();
    let root = root.canonicalize().unwrap();
    let (server, line) = start_with(&root, &[]);
    let preview = root.join(".site-gen/preview");
    assert!(line.contains(&format!("(files in {})", preview.display())), "{line}");
    // What the preview leaves out, as `build` says it (a year slip shows).
    assert!(
        line.contains("Left out (2):\n  content/clips/gamma.md: a draft\n  content/news/later.md: dated 2099-01-01"),
        "{line}"
    );
    assert_eq!(get(server.port, "/").status, 200);
    assert!(preview.join("index.html").is_file() && preview.join(".clipstore-build").is_file());

    // The live shop's security headers, so that what the preview shows is
    // what the shop will (an iframe from elsewhere is blocked in both).
    let page = get(server.port, "/");
    assert!(page.headers.contains("content-security-policy: default-src 'self'"), "{}", page.headers);
    assert!(page.headers.contains("x-content-type-options: nosniff"), "{}", page.headers);
    assert!(
        !page.headers.contains("frame-ancestors") && !page.headers.contains("x-frame-options"),
        "an editor may frame it"
    );
    // Ranges, as a video player seeking asks (Safari plays nothing without).
    let css = fs::read(preview.join("css/site.css")).unwrap();
    let part = get_with(server.port, "/css/site.css", "Range: bytes=10-19\r\n");
    assert_eq!(part.status, 206);
    assert!(part.headers.contains(&format!("content-range: bytes 10-19/{}", css.len())), "{}", part.headers);
    assert_eq!(part.body.as_bytes(), &css[10..20]);
    assert!(get(server.port, "/css/site.css").headers.contains("accept-ranges: bytes"));
    let past = get_with(server.port, "/css/site.css", &format!("Range: bytes={}-\r\n", css.len()));
    assert_eq!(past.status, 416);
    drop(server);
    let (_drafts, line) = start_with(&root, &["--drafts"]);
    assert!(line.contains(&format!("(files in {})", root.join(".site-gen/preview-drafts").display())), "{line}");
}

/// Polls `path` until it answers `status` (a rebuild follows a change in
/// a few tens of milliseconds).
fn wait_for(port: u16, path: &str, status: u16) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if get(port, path).status == status {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// `static/` moved away and put back (a theme unzipped over it): the
/// watch went with the old folder, and the new one is watched again.
#[test]
fn a_folder_put_back_is_watched_again() {
    let (tmp, root) = small_shop();
    let (server, _) = start_with(&root, &["--out", tmp.path().join("site").to_str().unwrap()]);
    let status = events(server.port);
    next_status(&status); // the hello
                          // Deleted and made anew (a new folder, as unzipping a theme makes it).
    let aside = tmp.path().join("static-aside");
    copy_dir(&root.join("static"), &aside);
    fs::remove_dir_all(root.join("static")).unwrap();
    // The posters the content shows are gone: errors, the last good build kept.
    assert!(!next_status(&status)["errors"].as_array().unwrap().is_empty(), "static/ gone");
    // Made beside and moved into place whole, so no rebuild sees it half made.
    copy_dir(&aside, &tmp.path().join("static-new"));
    fs::rename(tmp.path().join("static-new"), root.join("static")).unwrap();
    assert!(next_status(&status)["errors"].as_array().unwrap().is_empty(), "static/ back");
    fs::write(root.join("static/new.txt"), "new").unwrap();
    assert!(wait_for(server.port, "/new.txt", 200), "a file added to the folder put back is seen");
}

/// A relative `--out` is under the shop, as `build`'s; one inside a folder
/// the shop is made from is refused (each rebuild would copy it into itself).
#[test]
fn an_output_folder_inside_the_shops_sources_is_refused() {
    let (tmp, root) = small_shop();
    let root = root.canonicalize().unwrap();
    let run = |out: &str| {
        Command::new(env!("CARGO_BIN_EXE_site-gen"))
            .args(["serve", "--port", "0", "--root", root.to_str().unwrap(), "--out", out])
            .current_dir(tmp.path())
            .output()
            .unwrap()
    };
    for inside in ["static/preview", "content/x", "../shop/static/p"] {
        let refused = run(inside);
        assert!(!refused.status.success());
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains("is inside a folder the shop is made from"), "{err}");
        assert!(!root.join(inside).exists(), "nothing written into {inside}");
    }
    let build = Command::new(env!("CARGO_BIN_EXE_site-gen"))
        .args(["build", "--root", root.to_str().unwrap(), "--out", "static/site"])
        .output()
        .unwrap();
    assert!(!build.status.success());
    assert!(String::from_utf8_lossy(&build.stderr).contains("is inside a folder the shop is made from"));
    // Through a symbolic link to content/: the folder would be made there.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(root.join("content"), tmp.path().join("to-content")).unwrap();
        let through = tmp.path().join("to-content/site");
        let build = Command::new(env!("CARGO_BIN_EXE_site-gen"))
            .args(["build", "--root", root.to_str().unwrap(), "--out", through.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!build.status.success());
        assert!(String::from_utf8_lossy(&build.stderr).contains("is inside a folder the shop is made from"));
        assert!(!root.join("content/site").exists(), "nothing written into content/");
    }
    let (_server, line) = start_with(&root, &["--out", "preview"]);
    assert!(line.contains(&format!("(files in {})", root.join("preview").display())), "under the shop: {line}");
}

/// `serve --drafts --out site` left running while the owner builds into
/// the same folder: the build swaps in its site without the drafts, and a
/// draft edited after is written into it by serve. The next build named
/// serve's pages as files put into the folder by hand; serve now brings the
/// folder back to its own site, listed as site-gen's.
#[test]
fn a_build_beside_serve_into_its_folder_names_none_of_its_files_as_put_by_hand() {
    let (_tmp, root) = small_shop();
    let plan = root.join("content/news/plan.md");
    fs::write(&plan, "+++\ntitle = \"Plans\"\ndate = 2026-01-05\ndraft = true\n+++\nNot yet.\n").unwrap();
    let (server, _) = start_with(&root, &["--drafts", "--out", "site"]);
    let status = events(server.port);
    next_status(&status); // the hello
    let build = || {
        Command::new(env!("CARGO_BIN_EXE_site-gen"))
            .args(["build", "--root", root.to_str().unwrap(), "--out", "site"])
            .output()
            .unwrap()
    };
    let built = build();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    assert!(!root.join("site/news/plan/index.html").exists(), "the build leaves the draft out");
    edit(&plan, "Not yet.", "Not yet, edited.");
    assert_eq!(next_status(&status)["errors"], serde_json::json!([]));
    assert!(root.join("site/news/plan/index.html").is_file());
    assert!(root.join("site/clips/gamma/index.html").is_file(), "the whole preview is back");
    drop(server);
    let built = build();
    let err = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success() && !err.contains("not made by site-gen"), "{err}");
}

/// Drafts never go where `wrangler deploy` publishes (public/, or the
/// `[assets] directory` of the shop's wrangler.toml): `serve --drafts` and
/// `build --drafts` refuse it, with what to do, and leave it as it was; a
/// `build --drafts` without `--out` goes to serve's preview of drafts.
#[test]
fn drafts_never_go_into_the_folder_a_deploy_publishes() {
    let (_tmp, root) = small_shop();
    fs::write(root.join("wrangler.toml"), "name = \"shop\"\n[assets]\ndirectory = \"./site\"\n").unwrap();
    let site_gen = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_site-gen"))
            .args(args)
            .args(["--root", root.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let built = site_gen(&["build"]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let public = fs::read(root.join("public/index.html")).unwrap();
    for (args, folder) in [
        (&["build", "--drafts", "--out", "public"][..], "public"),
        (&["build", "--drafts", "--out", "site/preview"][..], "site"),
        (&["serve", "--drafts", "--port", "0", "--out", "public"][..], "public"),
    ] {
        let refused = site_gen(args);
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{args:?}: {err}");
        let said = format!("drafts from {}: `wrangler deploy` publishes that folder", root.join(folder).display());
        let built =
            format!("drafts never go into {}: `wrangler deploy` publishes that folder", root.join(folder).display());
        assert!(err.contains(&said) || err.contains(&built), "{args:?}: {err}");
        assert!(err.contains(".site-gen/preview-drafts"), "what to do instead: {err}");
    }
    assert_eq!(fs::read(root.join("public/index.html")).unwrap(), public, "public/ as it was");
    assert!(!root.join("site").exists());

    let preview = site_gen(&["build", "--drafts"]);
    let said = String::from_utf8_lossy(&preview.stdout);
    assert!(preview.status.success(), "{}", String::from_utf8_lossy(&preview.stderr));
    assert!(said.contains(".site-gen/preview-drafts"), "{said}");
    assert!(root.join(".site-gen/preview-drafts/clips/gamma/index.html").is_file(), "the draft is in the preview");
    assert!(!root.join("public/clips/gamma").exists());
}

#[test]
fn serve_rebuilds_reloads_and_shows_errors() {
    let (tmp, root) = small_shop();
    fs::write(tmp.path().join("secret.txt"), "secret").unwrap();
    let out = tmp.path().join("site");
    let server = start(&root, &out);
    let port = server.port;

    // The built page, with the live-reload script added as it is sent (not on disk).
    let page = get(port, "/news/first/");
    assert_eq!(page.status, 200);
    assert!(page.headers.contains("content-type: text/html; charset=utf-8"), "{}", page.headers);
    assert!(page.body.contains("Hello from the <strong>first</strong> post."));
    assert!(page.body.contains("<script src=\"/__site-gen/live-reload.js\" data-build=\"1\"></script></body>"));
    assert!(!fs::read_to_string(out.join("news/first/index.html")).unwrap().contains("live-reload"));
    let script = get(port, "/__site-gen/live-reload.js");
    assert!(script.headers.contains("content-type: text/javascript") && script.body.contains("EventSource"));

    let stream = events(port);
    let first = next_status(&stream);
    assert_eq!(first["build"], 1);
    assert_eq!(first["errors"], serde_json::json!([]));

    // An edit: a reload event, then the new text.
    let post = root.join("content/news/first.md");
    edit(&post, "Hello from the **first** post.", "Hello from the **edited** post.");
    let status = next_status(&stream);
    assert_eq!(status["build"], 2, "{status}");
    assert_eq!(status["errors"], serde_json::json!([]));
    let page = get(port, "/news/first/");
    assert!(page.body.contains("Hello from the <strong>edited</strong> post."), "{}", page.body);
    assert!(page.body.contains("data-build=\"2\""));
    assert!(get(port, "/news/").body.contains("Hello from the <strong>edited</strong> post."), "lists follow");

    // A broken edit: the errors go to the tabs, the last good build stays.
    edit(&post, "date = 2026-01-05", "date = 2026-01-05\ntitel = \"typo\"");
    let status = next_status(&stream);
    assert_eq!(status["build"], 2, "no new build: {status}");
    let error = &status["errors"][0];
    assert_eq!(error["file"], "content/news/first.md", "{status}");
    assert_eq!(error["line"], 4, "{status}");
    assert!(error["message"].as_str().unwrap().contains("titel"), "{status}");
    assert!(error["help"].as_str().unwrap().contains("title"), "{status}");
    assert!(get(port, "/news/first/").body.contains("Hello from the <strong>edited</strong> post."));
    // A tab opened now learns of the errors at once.
    let late = events(port);
    assert_eq!(next_status(&late)["errors"][0]["line"], 4);

    // Fixed: a new build, no errors.
    edit(&post, "\ntitel = \"typo\"", "");
    let status = next_status(&stream);
    assert_eq!((status["build"].as_u64(), status["errors"].as_array().map(Vec::len)), (Some(3), Some(0)), "{status}");

    // HTTP basics.
    let css = get(port, "/css/site.css");
    assert!(css.status == 200 && css.headers.contains("content-type: text/css"), "{}", css.headers);
    let feed = get(port, "/news/atom.xml");
    assert!(feed.status == 200 && feed.headers.contains("xml"), "{}", feed.headers);
    let jpg = get(port, "/posters/alpha.jpg");
    assert!(jpg.status == 200 && jpg.headers.contains("content-type: image/jpeg"), "{}", jpg.headers);
    let redirect = get(port, "/news/first");
    assert_eq!(redirect.status, 301);
    assert!(redirect.headers.contains("location: /news/first/"), "{}", redirect.headers);
    let missing = get(port, "/no/such/page/");
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("live-reload.js"), "the shop's 404 page, with the script");
    for escape in ["/../secret.txt", "/%2e%2e/secret.txt", "/news/..%2f..%2f../secret.txt", "/.clipstore-build"] {
        let r = get(port, escape);
        assert_eq!(r.status, 404, "{escape}");
        assert!(!r.body.contains("secret"), "{escape}");
    }
    drop(server);
}
