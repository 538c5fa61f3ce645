//! The preview server's HTTP side: files from the served folder (with the
//! live-reload script added to HTML as it is sent), the 404 page, folder
//! indexes, and the Server-Sent Events stream that tells open tabs to reload.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tiny_http::{Header, Method, Request, Response, StatusCode};

use crate::diagnostics::Diagnostic;

/// Address of the event stream.
pub const EVENTS_PATH: &str = "/__site-gen/events";
/// Address of the live-reload script.
pub const SCRIPT_PATH: &str = "/__site-gen/live-reload.js";
const SCRIPT: &str = include_str!("live-reload.js");

/// What open tabs are told: the number of the last good build, the
/// errors of the last attempt (empty when it succeeded), and the warnings
/// of the last good build (shown in a corner; they do not stop it).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub build: u64,
    pub errors: Vec<ErrorView>,
    pub warnings: Vec<ErrorView>,
    /// What the last good build left out, as printed (the terminal's only).
    #[serde(skip)]
    pub left_out: Vec<String>,
}

/// One error or warning as the overlay shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorView {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub source_line: Option<String>,
    pub message: String,
    pub help: Option<String>,
}

impl ErrorView {
    pub fn from_diagnostics(d: &[Diagnostic]) -> Vec<ErrorView> {
        d.iter()
            .map(|d| ErrorView {
                file: d.file.display().to_string(),
                line: d.location.as_ref().map(|l| l.line),
                column: d.location.as_ref().map(|l| l.column),
                source_line: d.location.as_ref().map(|l| l.source_line.clone()),
                message: d.message.clone(),
                help: d.help.clone(),
            })
            .collect()
    }
}

/// State shared by the request handlers and the rebuild loop.
pub struct Live {
    /// The folder served (the build output).
    pub out: PathBuf,
    status: Mutex<Status>,
    clients: Mutex<Vec<Box<dyn Write + Send>>>,
}

impl Live {
    pub fn new(out: PathBuf) -> Arc<Live> {
        Arc::new(Live { out, status: Mutex::new(Status::default()), clients: Mutex::new(Vec::new()) })
    }

    pub fn status(&self) -> Status {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records the outcome of a rebuild and tells every open tab.
    pub fn publish(&self, status: Status) {
        let event = status_event(&status);
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
        self.broadcast(&event);
    }

    /// Sends `text` to every event stream, dropping the ones that closed.
    pub fn broadcast(&self, text: &str) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.retain_mut(|w| w.write_all(text.as_bytes()).and_then(|()| w.flush()).is_ok());
    }

    fn add_client(&self, mut w: Box<dyn Write + Send>) {
        // The current status first, so a tab that missed a rebuild (or opened
        // during a broken one) catches up.
        let hello = format!("retry: 500\n\n{}", status_event(&self.status()));
        if w.write_all(hello.as_bytes()).and_then(|()| w.flush()).is_ok() {
            self.clients.lock().unwrap_or_else(|e| e.into_inner()).push(w);
        }
    }
}

fn status_event(status: &Status) -> String {
    format!("event: status\ndata: {}\n\n", serde_json::to_string(status).expect("status serializes"))
}

/// What a request path names inside the served folder.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    File(PathBuf),
    /// A folder asked for without its trailing slash: where to go instead.
    Redirect(String),
    NotFound,
}

/// Maps a request path (still percent-encoded, without the query) to a file
/// under `root`, never outside it: `..`, backslashes, NUL and hidden names
/// (our build marker, temporary files) are refused, but `.well-known/`,
/// which the site publishes from `static/`, is served.
pub fn resolve(root: &Path, raw_path: &str) -> Resolved {
    let Ok(decoded) = percent_encoding::percent_decode_str(raw_path).decode_utf8() else {
        return Resolved::NotFound;
    };
    if !decoded.starts_with('/') {
        return Resolved::NotFound;
    }
    let mut path = root.to_path_buf();
    for segment in decoded.split('/') {
        if segment.is_empty() || segment == "." {
            continue;
        }
        if (segment.starts_with('.') && segment != ".well-known") || segment.contains(['\\', '\0', ':']) {
            return Resolved::NotFound;
        }
        path.push(segment);
    }
    // The served folder holds only files site-gen wrote, but check that what
    // we found really lies inside it (a symlink could point elsewhere).
    let inside = |p: &Path| match (p.canonicalize(), root.canonicalize()) {
        (Ok(p), Ok(root)) => p.starts_with(root),
        _ => false,
    };
    if path.is_dir() {
        if !decoded.ends_with('/') {
            return Resolved::Redirect(format!("{raw_path}/"));
        }
        path.push("index.html");
    }
    if path.is_file() && inside(&path) {
        Resolved::File(path)
    } else {
        Resolved::NotFound
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

fn content_type(path: &Path) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let essence = mime.essence_str();
    if mime.type_() == mime_guess::mime::TEXT
        || essence == "application/javascript"
        || essence == "application/json"
        || essence.ends_with("+xml")
        || essence == "application/xml"
        || essence == "image/svg+xml"
    {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_string()
    }
}

/// The live-reload script tag for build `build`, added before `</body>`.
fn inject(html: Vec<u8>, build: u64) -> Vec<u8> {
    let tag = format!("<script src=\"{SCRIPT_PATH}\" data-build=\"{build}\"></script>");
    let at = html.windows(7).rposition(|w| w.eq_ignore_ascii_case(b"</body>")).unwrap_or(html.len());
    let mut out = Vec::with_capacity(html.len() + tag.len());
    out.extend_from_slice(&html[..at]);
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(&html[at..]);
    out
}

/// Sends a response with the headers the deployed shop sends with every
/// page (`clipstore_core::security_headers`), so that what the preview
/// shows is what the shop will show: an `<iframe>` from elsewhere or a
/// `style=""` in a news post is blocked here as it will be there. (The
/// preview may be framed, though.)
fn respond(request: Request, status: u16, content_type: &str, body: Vec<u8>) {
    respond_with(request, status, content_type, body, &[]);
}

fn respond_with(request: Request, status: u16, content_type: &str, body: Vec<u8>, more: &[(&str, &str)]) {
    let mut response = Response::from_data(body)
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", content_type))
        .with_header(header("Cache-Control", "no-store"));
    // All but what forbids framing: an editor's own browser (VS Code's
    // Simple Browser) shows the preview in a frame.
    for (name, value) in clipstore_core::security_headers::SECURITY_HEADERS.iter().chain(more) {
        match *name {
            "X-Frame-Options" => {}
            "Content-Security-Policy" => {
                response.add_header(header(name, &value.replace("; frame-ancestors 'none'", "")))
            }
            _ => response.add_header(header(name, value)),
        }
    }
    // The browser may have gone away; nothing to do about it.
    let _ = request.respond(response);
}

/// The part of a file a `Range` header asks for (RFC 9110 §14), as a video
/// player seeking asks (Safari plays no video without), decided as the
/// Worker decides (`clipstore_core::range`): one range, 206 and its
/// `Content-Range`; none of the range in the file, 416; a malformed header
/// or several ranges, the whole file (200), as the RFC allows.
fn ranged(range: Option<&str>, body: Vec<u8>) -> (u16, Vec<u8>, Option<String>) {
    use clipstore_core::range::RangeSelection;
    let len = body.len() as u64;
    match RangeSelection::from_header(range, len) {
        RangeSelection::Full => (200, body, None),
        RangeSelection::Partial { start, end } => {
            (206, body[start as usize..=end as usize].to_vec(), Some(format!("bytes {start}-{end}/{len}")))
        }
        RangeSelection::Unsatisfiable => (416, Vec::new(), Some(format!("bytes */{len}"))),
    }
}

/// Answers one request.
pub fn handle(request: Request, live: &Live) {
    if !matches!(request.method(), Method::Get | Method::Head) {
        return respond(request, 405, "text/plain; charset=utf-8", b"only GET and HEAD\n".to_vec());
    }
    let path = request.url().split(['?', '#']).next().unwrap_or("/").to_string();
    if path == EVENTS_PATH {
        let mut w = request.into_writer();
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
        if w.write_all(head.as_bytes()).is_ok() {
            live.add_client(w);
        }
        return;
    }
    if path == SCRIPT_PATH {
        return respond(request, 200, "text/javascript; charset=utf-8", SCRIPT.as_bytes().to_vec());
    }
    // The build number is read before the file, so a page is never newer
    // than the number it carries (at worst the tab reloads once more).
    let build = live.status().build;
    match resolve(&live.out, &path) {
        Resolved::File(file) => match std::fs::read(&file) {
            Ok(bytes) => {
                let ctype = content_type(&file);
                if ctype.starts_with("text/html") {
                    return respond(request, 200, &ctype, inject(bytes, build));
                }
                let range = request.headers().iter().find(|h| h.field.equiv("Range")).map(|h| h.value.to_string());
                let (status, body, content_range) = ranged(range.as_deref(), bytes);
                let mut more = vec![("Accept-Ranges", "bytes")];
                if let Some(content_range) = &content_range {
                    more.push(("Content-Range", content_range));
                }
                respond_with(request, status, &ctype, body, &more)
            }
            Err(_) => not_found(request, live, build),
        },
        Resolved::Redirect(to) => {
            let response = Response::empty(StatusCode(301)).with_header(header("Location", &to));
            let _ = request.respond(response);
        }
        Resolved::NotFound => not_found(request, live, build),
    }
}

fn not_found(request: Request, live: &Live, build: u64) {
    let page = std::fs::read(live.out.join("404.html")).unwrap_or_else(|_| {
        b"<!doctype html><title>Not found</title><body><h1>Not found</h1><p>(site-gen serve: no 404.html yet)</p></body>"
            .to_vec()
    });
    respond(request, 404, "text/html; charset=utf-8", inject(page, build))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_only_inside_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("site");
        std::fs::create_dir_all(root.join("clips/a")).unwrap();
        std::fs::write(root.join("index.html"), "home").unwrap();
        std::fs::write(root.join("clips/a/index.html"), "a").unwrap();
        std::fs::write(root.join("a b.txt"), "x").unwrap();
        std::fs::write(root.join(".clipstore-build"), "marker").unwrap();
        std::fs::create_dir_all(root.join(".well-known/.hidden")).unwrap();
        std::fs::write(root.join(".well-known/security.txt"), "contact").unwrap();
        std::fs::write(root.join(".well-known/.hidden/x"), "x").unwrap();
        std::fs::write(tmp.path().join("secret.txt"), "secret").unwrap();
        assert_eq!(resolve(&root, "/"), Resolved::File(root.join("index.html")));
        assert_eq!(resolve(&root, "/clips/a/"), Resolved::File(root.join("clips/a/index.html")));
        assert_eq!(resolve(&root, "/clips/a"), Resolved::Redirect("/clips/a/".into()));
        assert_eq!(resolve(&root, "/a%20b.txt"), Resolved::File(root.join("a b.txt")));
        assert_eq!(resolve(&root, "/.well-known/security.txt"), Resolved::File(root.join(".well-known/security.txt")));
        for bad in [
            "/.well-known/.hidden/x",
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/clips/../../secret.txt",
            "/..%2fsecret.txt",
            "/.clipstore-build",
            "/nope/",
            "/clips/a/index.html%00",
            "relative",
        ] {
            assert_eq!(resolve(&root, bad), Resolved::NotFound, "{bad}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(tmp.path().join("secret.txt"), root.join("link.txt")).unwrap();
            assert_eq!(resolve(&root, "/link.txt"), Resolved::NotFound);
        }
    }

    #[test]
    fn injects_before_body_end() {
        let html = b"<html><body><p>x</p></BODY></html>".to_vec();
        let out = String::from_utf8(inject(html, 7)).unwrap();
        assert!(out.contains("<p>x</p><script src=\"/__site-gen/live-reload.js\" data-build=\"7\"></script></BODY>"));
        assert!(String::from_utf8(inject(b"<p>no body".to_vec(), 1)).unwrap().ends_with("</script>"));
    }

    #[test]
    fn ranges_as_a_player_asks() {
        let file = || (0u8..100).collect::<Vec<u8>>();
        let (status, body, range) = ranged(Some("bytes=10-19"), file());
        assert_eq!((status, body, range.as_deref()), (206, (10..20).collect(), Some("bytes 10-19/100")));
        let (status, body, range) = ranged(Some("bytes=90-"), file());
        assert_eq!((status, body.len(), range.as_deref()), (206, 10, Some("bytes 90-99/100")));
        let (status, body, range) = ranged(Some("bytes=-5"), file());
        assert_eq!((status, body, range.as_deref()), (206, (95..100).collect(), Some("bytes 95-99/100")));
        let (status, body, range) = ranged(Some("bytes=0-999"), file());
        assert_eq!((status, body.len(), range.as_deref()), (206, 100, Some("bytes 0-99/100")), "clamped");
        assert_eq!(ranged(Some("bytes=100-"), file()).0, 416, "starts past the end");
        assert_eq!(ranged(Some("bytes=100-"), file()).2.as_deref(), Some("bytes */100"));
        for whole in [None, Some("bytes=0-1,5-6"), Some("lines=1-2"), Some("bytes=5-1"), Some("junk")] {
            let (status, body, range) = ranged(whole, file());
            assert_eq!((status, body.len(), range), (200, 100, None), "{whole:?}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(Path::new("a/index.html")), "text/html; charset=utf-8");
        assert_eq!(content_type(Path::new("news/atom.xml")), "text/xml; charset=utf-8");
        assert_eq!(content_type(Path::new("css/site.css")), "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("p.jpg")), "image/jpeg");
        assert_eq!(content_type(Path::new("v.mp4")), "video/mp4");
    }
}
