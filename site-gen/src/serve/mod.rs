//! `site-gen serve`: builds the shop into a preview folder, serves it on
//! 127.0.0.1, watches `content/`, `templates/` and `static/`, rebuilds what a
//! change affects ([`crate::incremental`]) and reloads open tabs. When a
//! rebuild fails, the tabs show its errors over the page while the last good
//! build keeps being served.
//!
//! Not for production: it serves one folder to the local machine only.

mod http;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use notify::event::{AccessKind, AccessMode, MetadataKind, ModifyKind};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult};

pub use http::{resolve, ErrorView, Resolved, Status, EVENTS_PATH, SCRIPT_PATH};

use crate::content::LoadOptions;
use crate::incremental::{Incremental, RebuildError, RebuildReport};

/// How long the watcher waits for more events before rebuilding: editors
/// often write a file in several steps.
const DEBOUNCE: Duration = Duration::from_millis(30);
/// Threads answering requests (event streams do not hold one).
const HTTP_THREADS: usize = 4;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub root: PathBuf,
    /// 0 picks a free port.
    pub port: u16,
    pub drafts: bool,
    /// Where the preview site is written (relative: under the shop); by
    /// default `.site-gen/preview` (never `public/`). With drafts, never
    /// a folder `wrangler deploy` publishes.
    pub out: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the shop folder {0}: {1}")]
    Root(PathBuf, std::io::Error),
    #[error(
        "cannot listen on 127.0.0.1:{0}: {1}\n  help: another program (perhaps another `site-gen serve`) uses that port: \
         stop it, or pick another port with --port, like --port {next}", next = .0.wrapping_add(1).max(1024)
    )]
    Listen(u16, String),
    #[error("cannot serve into {0}: {1}\n  help: leave out --out (the preview goes to .site-gen/preview), or choose a folder of its own")]
    Output(PathBuf, &'static str),
    #[error(
        "cannot serve drafts from {0}: `wrangler deploy` publishes that folder, and would publish the drafts and \
         the items dated later with it\n  help: leave out --out (a preview with drafts goes to .site-gen/preview-drafts)"
    )]
    DraftsDeployed(PathBuf),
    #[error("cannot watch for changes: {0}")]
    Watch(#[from] notify::Error),
}

/// The default preview folder for a shop: one per mode, in the shop's own
/// `.site-gen/`, reused by the next `serve` (which rewrites only what
/// differs). Not in the system's temporary folder: a cleaner that deletes
/// files unread for days (systemd-tmpfiles, macOS) would take the marker
/// that says the folder is site-gen's, and `serve` would refuse it from
/// then on; nor where another user of the machine could make it first.
fn default_out(root: &Path, drafts: bool) -> PathBuf {
    if drafts {
        crate::deployed_folder::drafts_default(root)
    } else {
        root.join(".site-gen").join("preview")
    }
}

/// Runs the preview server until the process is stopped.
pub fn run(options: ServeOptions) -> Result<(), ServeError> {
    let root = options.root.canonicalize().map_err(|e| ServeError::Root(options.root.clone(), e))?;
    // A relative --out is under the shop, as `build`'s.
    let out = options.out.as_ref().map(|o| root.join(o)).unwrap_or_else(|| default_out(&root, options.drafts));
    if let Some(why) = crate::unfit_output(&root, &out) {
        return Err(ServeError::Output(out, why));
    }
    if let Some(folder) =
        options.drafts.then(|| crate::deployed_folder::drafts_would_be_deployed(&root, &out)).flatten()
    {
        return Err(ServeError::DraftsDeployed(folder));
    }
    let load = LoadOptions { drafts: options.drafts, now: Utc::now() };
    let mut site = Incremental::new(&root, &out, load);
    let live = http::Live::new(out.clone());

    let server = tiny_http::Server::http(("127.0.0.1", options.port))
        .map_err(|e| ServeError::Listen(options.port, e.to_string()))?;
    let server = Arc::new(server);
    let port = server.server_addr().to_ip().map_or(options.port, |a| a.port());

    // Watch before the first build, so no change made meanwhile is missed.
    let (tx, rx) = mpsc::channel::<DebounceEventResult>();
    let mut debouncer = new_debouncer(DEBOUNCE, None, tx)?;
    let mut watched = HashSet::new();
    watch_folders(&root, &mut debouncer, &mut watched)?;

    let status = rebuild(&mut site, &Status::default());
    live.publish(status);
    println!(
        "Serving {} at http://127.0.0.1:{port}/ (files in {}); press Ctrl-C to stop",
        root.display(),
        out.display()
    );
    let _ = std::io::stdout().flush();

    for _ in 0..HTTP_THREADS {
        let (server, live) = (Arc::clone(&server), Arc::clone(&live));
        std::thread::spawn(move || {
            while let Ok(request) = server.recv() {
                http::handle(request, &live);
            }
        });
    }
    {
        // A comment now and then, so closed event streams are noticed and dropped.
        let live = Arc::clone(&live);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(15));
            live.broadcast(": keep-alive\n\n");
        });
    }

    while let Ok(first) = rx.recv() {
        let mut changed: Vec<PathBuf> = Vec::new();
        // Events lost (an overflowed queue says so with a rescan; an error
        // may have dropped some): what changed is unknown, so everything.
        let mut lost = false;
        let mut collect = |result: DebounceEventResult| match result {
            Ok(events) => {
                lost |= events.iter().any(|e| e.event.need_rescan());
                changed.extend(events.into_iter().filter(|e| is_change(&e.event.kind)).flat_map(|e| e.event.paths))
            }
            Err(errors) => {
                errors.iter().for_each(|e| eprintln!("watch error: {e}; reloading the whole shop"));
                lost = true;
            }
        };
        collect(first);
        while let Ok(more) = rx.try_recv() {
            collect(more);
        }
        if lost {
            site.note_everything();
        } else if !site.note_changes(changed.iter().map(PathBuf::as_path)) {
            continue;
        }
        site.set_now(Utc::now());
        // A watched folder deleted, moved away or put back (a theme unzipped
        // over static/): its watch went with it, so it is watched afresh.
        for dir in ["content", crate::templates::TEMPLATES_DIR, "static"] {
            let path = root.join(dir);
            if (lost || changed.contains(&path)) && watched.remove(&path) {
                let _ = debouncer.unwatch(&path);
            }
        }
        // A folder that appeared (templates/, static/) needs watching too.
        watch_folders(&root, &mut debouncer, &mut watched)?;
        let previous = live.status();
        live.publish(rebuild(&mut site, &previous));
    }
    Ok(())
}

/// Watches the shop's folders that exist and are not watched yet, and the
/// root itself (not recursively) to see `templates/` or `static/` appear.
fn watch_folders(
    root: &Path,
    debouncer: &mut notify_debouncer_full::Debouncer<
        notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >,
    watched: &mut HashSet<PathBuf>,
) -> Result<(), notify::Error> {
    if watched.insert(root.to_path_buf()) {
        debouncer.watch(root, RecursiveMode::NonRecursive)?;
    }
    for dir in ["content", crate::templates::TEMPLATES_DIR, "static"] {
        let path = root.join(dir);
        if path.is_dir() && !watched.contains(&path) {
            debouncer.watch(&path, RecursiveMode::Recursive)?;
            watched.insert(path);
        }
    }
    Ok(())
}

/// Whether an event may change a file's content or existence. Reading a file
/// (which every rebuild does) is not a change, or serve would rebuild forever.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        _ => true,
    }
}

/// Rebuilds, reports on the terminal, and gives the status for the tabs.
/// Warnings are printed when they differ from `previous`'s (the last
/// rebuild's), so that an edit that causes one is told of at once, as
/// `build` and `check` would.
fn rebuild(site: &mut Incremental, previous: &Status) -> Status {
    let last_good = previous.build;
    match site.rebuild() {
        Ok(report) => {
            print_report(&report);
            let warnings = ErrorView::from_diagnostics(&report.warnings);
            if warnings != previous.warnings {
                for warning in &report.warnings {
                    eprint!("{}", warning.to_string().replacen("error:", "warning:", 1));
                }
                if warnings.is_empty() && last_good > 0 {
                    eprintln!("No warnings left.");
                }
            }
            // A clip dated 2062 for 2026 is missing from the preview: said
            // as `build` says it, when what is left out changes.
            if report.left_out != previous.left_out {
                match crate::left_out_text(&report.left_out) {
                    Some(text) => println!("{text}"),
                    None if last_good > 0 => println!("Nothing is left out now."),
                    None => {}
                }
            }
            Status { build: last_good + 1, errors: Vec::new(), warnings, left_out: report.left_out }
        }
        Err(RebuildError::Content(d)) => {
            let instead = if last_good == 0 {
                "nothing to show yet: the page shows these errors until they are fixed."
            } else {
                "still serving the last good build."
            };
            eprintln!("{}", d.to_string().replace("nothing was written.", instead));
            Status { errors: ErrorView::from_diagnostics(&d.0), ..previous.clone() }
        }
        Err(e) => {
            eprintln!("error: {e}");
            let d = vec![crate::diagnostics::Diagnostic::new(site.out(), e.to_string())];
            Status { errors: ErrorView::from_diagnostics(&d), ..previous.clone() }
        }
    }
}

fn print_report(r: &RebuildReport) {
    let kept = match r.kept {
        0 => String::new(),
        kept => format!(" ({kept} pages unchanged since the last build, taken from it)"),
    };
    println!(
        "{} in {:.0} ms: {} pages rendered, {} files written, {} deleted{kept}",
        if r.full { "Built" } else { "Rebuilt" },
        r.elapsed.as_secs_f64() * 1000.0,
        r.rendered,
        r.written,
        r.deleted
    );
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, RemoveKind, RenameMode};

    #[test]
    fn reading_files_is_not_a_change() {
        assert!(!is_change(&EventKind::Access(AccessKind::Open(AccessMode::Read))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(!is_change(&EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime))));
        assert!(is_change(&EventKind::Access(AccessKind::Close(AccessMode::Write))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Modify(ModifyKind::Name(RenameMode::Both))));
        assert!(is_change(&EventKind::Remove(RemoveKind::File)));
    }
}
