//! The files a build keeps in the shop's `.site-gen/` for the next one (the
//! rendered Markdown, the search index): read only when they are what a
//! save wrote, written so that no build ever reads half of one.
//!
//! They are speed-ups: whatever is found in their place (a named pipe, a
//! link, a file of another program or of absurd size, a save cut off by a
//! kill) is ignored, and the build makes what it needs afresh.

use std::path::Path;

/// A temporary file of a save older than this was left by a killed build.
pub const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(600);

/// The whole file at `path`, if it is a regular file (not followed through
/// a symbolic link; a named pipe is not waited on) of at most `max` bytes
/// whose first bytes are `header`; a file of another program, after an
/// upgrade, is not read past its header. What killed saves left beside it
/// is removed (a build that changes nothing saves nothing).
pub fn read(path: &Path, header: &[u8], max: u64) -> Option<Vec<u8>> {
    remove_stale_tmp(path);
    let file = crate::output::open_no_follow(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > max {
        return None;
    }
    // Through isize: no allocation may exceed it (a 32-bit build).
    let len = usize::try_from(isize::try_from(meta.len()).ok()?).ok()?;
    if len < header.len() {
        return None;
    }
    let mut head = vec![0u8; header.len()];
    std::io::Read::read_exact(&mut &file, &mut head).ok()?;
    if head != header {
        return None;
    }
    let mut bytes = vec![0u8; len];
    bytes[..head.len()].copy_from_slice(&head);
    read_rest(&file, &mut bytes[head.len()..], head.len() as u64).ok()?;
    Some(bytes)
}

/// Fills `rest` from `file` at `at`, where its position is. On Unix in two
/// halves at once: a big shop's Markdown is tens of megabytes, read before
/// any body can be parsed.
fn read_rest(file: &std::fs::File, rest: &mut [u8], at: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let half = rest.len() / 2;
        let (first, second) = rest.split_at_mut(half);
        let (a, b) = rayon::join(|| file.read_exact_at(first, at), || file.read_exact_at(second, at + half as u64));
        a.and(b)
    }
    #[cfg(not(unix))]
    {
        let _ = at;
        std::io::Read::read_exact(&mut &*file, rest)
    }
}

/// Replaces the file at `path` with `bytes`: written beside it under a name
/// no other save uses (created, never opened if it exists), then renamed
/// over it, so that a reader finds the old file or the new one, and two
/// saves never mix their bytes. What killed saves left there is removed
/// first. On failure the file is as it was, or absent.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut pending = Pending::create(path)?;
    pending.write_all(bytes)?;
    pending.finish()
}

/// A save written piece by piece (a big cache need not be assembled in
/// memory first): into its temporary file beside `path`, which replaces
/// `path` at [`Pending::finish`]. Dropped unfinished (a failure, a panic),
/// it removes its temporary file and leaves `path` as it was.
pub struct Pending {
    path: std::path::PathBuf,
    tmp: std::path::PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl Pending {
    /// Starts a save of `path` (see [`write`] for the temporary file).
    pub fn create(path: &Path) -> std::io::Result<Pending> {
        remove_stale_tmp(path);
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| std::io::Error::other(e.to_string()))?;
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let tmp = path.with_file_name(format!("{}.tmp-{nonce}", file_name(path)?));
        path.parent().map_or(Ok(()), std::fs::create_dir_all)?;
        let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        let file = Some(std::io::BufWriter::with_capacity(1 << 20, file));
        Ok(Pending { path: path.to_path_buf(), tmp, file })
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        self.file.as_mut().ok_or_else(|| std::io::Error::other("the save is finished"))?.write_all(bytes)
    }

    /// Puts the whole file in place of `path`.
    pub fn finish(mut self) -> std::io::Result<()> {
        let file = self.file.take().ok_or_else(|| std::io::Error::other("the save is finished"))?;
        file.into_inner().map_err(|e| e.into_error())?;
        std::fs::rename(&self.tmp, &self.path)?;
        self.tmp = std::path::PathBuf::new();
        Ok(())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            drop(self.file.take());
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// [`write`], telling the owner on stderr when it fails: the build is not
/// harmed, but every build after it would silently redo `what` (a few
/// seconds on a big shop) until the cause is fixed.
pub fn save(path: &Path, bytes: &[u8], what: &str) {
    warn_if_unsaved(path, what, write(path, bytes));
}

/// The warning of [`save`], for a save made some other way ([`Pending`]).
pub fn warn_if_unsaved(path: &Path, what: &str, saved: std::io::Result<()>) {
    if let Err(e) = saved {
        eprintln!("{}", unsaved(path, what, &e));
    }
}

/// The warning of a failed [`save`]: what was not kept, where, why, what it
/// costs and what to do.
fn unsaved(path: &Path, what: &str, error: &std::io::Error) -> String {
    let folder = path.parent().unwrap_or(path);
    format!(
        "warning: could not keep {what} in {} for the next build: {error}\n  \
         the site is built all the same; until this is fixed, each build makes {what} again.\n  \
         help: make sure {} is a folder you can write to (if a file of yours is in its place, move it elsewhere; \
         the folder itself holds only what builds keep, and deleting it is safe)",
        path.display(),
        folder.display()
    )
}

fn file_name(path: &Path) -> std::io::Result<&str> {
    path.file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| std::io::Error::other(format!("{} has no file name", path.display())))
}

/// Deletes what killed saves left (`<name>.tmp-…` older than
/// [`STALE_TMP`]); a save under way is younger.
fn remove_stale_tmp(path: &Path) {
    let (Some(dir), Ok(name)) = (path.parent(), file_name(path)) else { return };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = format!("{name}.tmp-");
    for entry in entries.flatten() {
        let stale = entry.file_name().to_str().is_some_and(|n| n.starts_with(&prefix))
            && entry
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_TMP);
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"clipstore test cache 1 abc\n";

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn what_a_save_wrote_is_read_back_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".site-gen/cache");
        assert!(read(&path, HEAD, 1 << 20).is_none(), "absent");
        let bytes = [HEAD, b"body"].concat();
        write(&path, &bytes).unwrap();
        assert_eq!(read(&path, HEAD, 1 << 20).unwrap(), bytes);
        assert_eq!(names(&dir.path().join(".site-gen")), ["cache"], "no temporary file left");
        assert!(read(&path, b"clipstore test cache 1 abd\n", 1 << 20).is_none(), "another program's");
        assert!(read(&path, HEAD, bytes.len() as u64 - 1).is_none(), "over the size cap");
        assert_eq!(read(&path, HEAD, bytes.len() as u64).unwrap(), bytes, "at the cap");
        write(&path, HEAD).unwrap();
        assert_eq!(read(&path, HEAD, 1 << 20).unwrap(), HEAD, "replaced; the header alone");
        std::fs::write(&path, &HEAD[..5]).unwrap();
        assert!(read(&path, HEAD, 1 << 20).is_none(), "shorter than its header");
        // A huge file of another program is refused without being read:
        // a sparse file of 3 GiB would take seconds and gigabytes otherwise.
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_len(3 << 30).unwrap();
        assert!(read(&path, HEAD, 4 << 30).is_none());
    }

    #[cfg(unix)]
    #[test]
    fn a_link_a_folder_or_a_named_pipe_in_its_place_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, [HEAD, b"x"].concat()).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(read(&real, HEAD, 1 << 20).is_some());
        assert!(read(&link, HEAD, 1 << 20).is_none(), "a symbolic link is not followed");
        let folder = dir.path().join("folder");
        std::fs::create_dir(&folder).unwrap();
        assert!(read(&folder, HEAD, 1 << 20).is_none());
        let fifo = dir.path().join("fifo");
        if std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
            assert!(read(&fifo, HEAD, 1 << 20).is_none(), "not waited on");
        }
    }

    #[test]
    fn a_save_clears_what_killed_saves_left_but_not_one_under_way() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache");
        let old = dir.path().join("cache.tmp-left-by-a-killed-build");
        let young = dir.path().join("cache.tmp-a-save-under-way");
        let other = dir.path().join("other.tmp-not-ours");
        for f in [&old, &young, &other] {
            std::fs::write(f, b"x").unwrap();
        }
        let long_ago = std::time::SystemTime::now() - STALE_TMP - std::time::Duration::from_secs(60);
        for f in [&old, &other] {
            std::fs::File::options().write(true).open(f).unwrap().set_modified(long_ago).unwrap();
        }
        write(&path, HEAD).unwrap();
        assert_eq!(names(dir.path()), ["cache", "cache.tmp-a-save-under-way", "other.tmp-not-ours"]);
        // Reading clears them too: a build that changes nothing saves nothing.
        std::fs::write(&old, b"x").unwrap();
        std::fs::File::options().write(true).open(&old).unwrap().set_modified(long_ago).unwrap();
        assert!(read(&path, HEAD, 1 << 20).is_some());
        assert_eq!(names(dir.path()), ["cache", "cache.tmp-a-save-under-way", "other.tmp-not-ours"]);
    }

    #[test]
    fn a_save_in_pieces_is_whole_or_absent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache");
        write(&path, b"old").unwrap();
        let mut pending = Pending::create(&path).unwrap();
        pending.write_all(HEAD).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old", "the old file until finished");
        drop(pending);
        assert_eq!(names(dir.path()), ["cache"], "an unfinished save leaves nothing behind");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        let mut pending = Pending::create(&path).unwrap();
        for piece in [HEAD, b"a", b"bc"] {
            pending.write_all(piece).unwrap();
        }
        pending.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), [HEAD, b"abc"].concat());
        assert_eq!(names(dir.path()), ["cache"]);
    }

    #[test]
    fn a_save_that_cannot_be_made_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the folder should be: nothing can be written.
        std::fs::write(dir.path().join(".site-gen"), b"in the way").unwrap();
        let path = dir.path().join(".site-gen/cache");
        let error = write(&path, HEAD).unwrap_err();
        assert_eq!(std::fs::read(dir.path().join(".site-gen")).unwrap(), b"in the way");
        let warning = unsaved(&path, "the search index", &error);
        assert!(warning.starts_with("warning: could not keep the search index in "), "{warning}");
        for part in [path.display().to_string(), error.to_string(), ".site-gen is a folder you can write to".into()] {
            assert!(warning.contains(&part), "{part:?} missing from {warning}");
        }
    }
}
