//! Writing the built site so a failed build never leaves a half-written
//! `public/`: everything goes to a temporary sibling folder that replaces the
//! old one only when complete.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::render::{OutputContents, OutputFile};

/// Marks a folder as written by site-gen, so it may be replaced wholesale.
pub const BUILD_MARKER: &str = ".clipstore-build";

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0} exists but was not written by site-gen (it has no {BUILD_MARKER} file); move it away or choose another --out folder, so nothing of yours is overwritten")]
    NotOurs(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |source| OutputError::Io { path: path.to_path_buf(), source }
}

/// Writes `files` into `out`, replacing what was there only on success.
pub fn write_site(out: &Path, files: &[OutputFile]) -> Result<(), OutputError> {
    check_ours(out)?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io_err(&parent))?;
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "public".into());
    let staging = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = write_all(&staging, files).and_then(|()| swap_in(&staging, out, &parent, &name));
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn write_all(dir: &Path, files: &[OutputFile]) -> Result<(), OutputError> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(io_err(dir))?;
    }
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut dirs: Vec<PathBuf> =
        files.iter().filter_map(|f| Path::new(&f.path).parent().map(Path::to_path_buf)).collect();
    dirs.sort();
    dirs.dedup();
    // One folder per page (30,000 for a big shop): create them in parallel,
    // shallowest first so each one's parent usually exists already
    // (`create_dir_all` also copes with a sibling creating it concurrently).
    dirs.sort_by_key(|d| d.components().count());
    for level in dirs.chunk_by(|a, b| a.components().count() == b.components().count()) {
        level.par_iter().try_for_each(|d| {
            let d = dir.join(d);
            fs::create_dir_all(&d).map_err(io_err(&d))
        })?;
    }
    files.par_iter().try_for_each(|f| {
        let dest = dir.join(&f.path);
        match &f.contents {
            OutputContents::Rendered(bytes) => fs::write(&dest, bytes).map_err(io_err(&dest)),
            OutputContents::Copy(src) => fs::copy(src, &dest).map(drop).map_err(io_err(src)),
        }
    })?;
    for (name, contents) in marker_files() {
        let path = dir.join(name);
        fs::write(&path, contents).map_err(io_err(&path))?;
    }
    Ok(())
}

/// The files besides the site that every build folder holds: the build
/// marker, and `.assetsignore` (Wrangler's asset upload skips what it lists).
pub fn marker_files() -> [(&'static str, String); 2] {
    [
        (".assetsignore", format!("{BUILD_MARKER}\n.assetsignore\n")),
        (BUILD_MARKER, "This folder is written by site-gen build and replaced on every build.\n".to_string()),
    ]
}

/// Whether `out` may be written by site-gen: missing, empty, or holding
/// the build marker.
pub fn check_ours(out: &Path) -> Result<(), OutputError> {
    if out.exists() {
        let is_empty_dir = out.is_dir() && fs::read_dir(out).map_err(io_err(out))?.next().is_none();
        if !is_empty_dir && !out.join(BUILD_MARKER).is_file() {
            return Err(OutputError::NotOurs(out.to_path_buf()));
        }
    }
    Ok(())
}

fn swap_in(staging: &Path, out: &Path, parent: &Path, name: &str) -> Result<(), OutputError> {
    if out.exists() {
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        fs::rename(out, &old).map_err(io_err(out))?;
        if let Err(source) = fs::rename(staging, out) {
            let _ = fs::rename(&old, out);
            return Err(OutputError::Io { path: out.to_path_buf(), source });
        }
        fs::remove_dir_all(&old).map_err(io_err(&old))
    } else {
        fs::rename(staging, out).map_err(io_err(out))
    }
}

/// Writes one file atomically (temporary file, then rename).
pub fn write_file_atomic(path: &Path, contents: &[u8]) -> Result<(), OutputError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&tmp, contents).map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> OutputFile {
        OutputFile { path: path.into(), contents: OutputContents::Rendered(text.as_bytes().to_vec()) }
    }

    #[test]
    fn replaces_previous_build_and_refuses_foreign_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        write_site(&out, &[file("index.html", "one"), file("a/b/index.html", "b")]).unwrap();
        write_site(&out, &[file("index.html", "two")]).unwrap();
        assert_eq!(fs::read_to_string(out.join("index.html")).unwrap(), "two");
        assert!(!out.join("a").exists(), "stale files of the old build are gone");
        let leftovers: Vec<_> = fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("public")]);

        let foreign = tmp.path().join("mine");
        fs::create_dir(&foreign).unwrap();
        fs::write(foreign.join("notes.txt"), "keep").unwrap();
        assert!(matches!(write_site(&foreign, &[file("index.html", "x")]), Err(OutputError::NotOurs(_))));
        assert_eq!(fs::read_to_string(foreign.join("notes.txt")).unwrap(), "keep");
    }

    #[test]
    fn failed_write_keeps_the_old_build() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        write_site(&out, &[file("index.html", "good")]).unwrap();
        let missing = OutputFile { path: "x.css".into(), contents: OutputContents::Copy(tmp.path().join("nope")) };
        assert!(write_site(&out, &[file("index.html", "bad"), missing]).is_err());
        assert_eq!(fs::read_to_string(out.join("index.html")).unwrap(), "good");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1, "staging folder removed");
    }
}
