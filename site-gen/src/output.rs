//! Writing the built site so a failed build never leaves a half-written
//! `public/`: everything goes to a temporary sibling folder that replaces the
//! old one only when complete.
//!
//! Rebuilding over an earlier build is the usual case, and most of its files
//! come out the same. A file whose bytes equal the previous build's file of
//! the same path is hard-linked into the staging folder instead of written:
//! no data is copied, and deleting the old build afterwards frees no pages.
//! Nothing ever writes into a linked file (site-gen only creates new files,
//! and `serve` replaces files by rename), so the old build stays
//! byte-identical until the swap, and after a failed build. On Linux the swap
//! is one `renameat2(RENAME_EXCHANGE)`, so `public/` never goes missing, not
//! even for an instant; elsewhere it is two renames.

use std::collections::{HashMap, HashSet};
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
    let staging = Staging::begin(out, files.iter().map(|f| f.path.as_str()))?;
    files.par_iter().try_for_each(|f| staging.put(f))?;
    staging.commit()
}

/// A new build being written beside `out`: files go into a hidden sibling
/// folder, which replaces `out` on [`Staging::commit`]. Dropped without a
/// commit (a failed build), it deletes itself and `out` stays as it was.
///
/// [`Staging::put`] takes `&self`, so pages can be written from every core
/// as they are rendered instead of being held until the whole site is done.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    out: PathBuf,
    parent: PathBuf,
    name: String,
    /// An earlier build to take unchanged files from (`check_ours` vouched for it).
    previous: Option<PathBuf>,
    /// Folders that hold one file and nothing else (a page's folder, mostly):
    /// [`Staging::put`] makes each beside writing its file, so the folders
    /// are made on every core while pages render, not all before.
    own_folders: HashSet<PathBuf>,
    committed: bool,
}

impl Staging {
    /// Checks that `out` may be replaced, and makes the staging folder with
    /// every folder that the files at `paths` (inside the site) need.
    pub fn begin<'p>(out: &Path, paths: impl IntoIterator<Item = &'p str>) -> Result<Staging, OutputError> {
        check_ours(out)?;
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(io_err(&parent))?;
        let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "public".into());
        let dir = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
        }
        let mut staging = Staging {
            previous: out.is_dir().then(|| out.to_path_buf()),
            own_folders: HashSet::new(),
            out: out.to_path_buf(),
            parent,
            name,
            dir,
            committed: false,
        };
        fs::create_dir_all(&staging.dir).map_err(io_err(&staging.dir))?;
        staging.own_folders = make_folders(&staging.dir, paths)?;
        Ok(staging)
    }

    /// Puts one file into the new build: a hard link to the previous build's
    /// file of the same path when its bytes are the same, else a new file.
    pub fn put(&self, f: &OutputFile) -> Result<(), OutputError> {
        let dest = self.dir.join(&f.path);
        if let Some(folder) = Path::new(&f.path).parent().filter(|p| self.own_folders.contains(*p)) {
            let folder = self.dir.join(folder);
            fs::create_dir(&folder).map_err(io_err(&folder))?;
        }
        if let Some(old) = self.previous.as_ref().map(|p| p.join(&f.path)) {
            if unchanged(&old, &f.contents) && fs::hard_link(&old, &dest).is_ok() {
                return Ok(());
            }
        }
        match &f.contents {
            OutputContents::Rendered(bytes) => fs::write(&dest, bytes).map_err(io_err(&dest)),
            OutputContents::Copy(src) => fs::copy(src, &dest).map(drop).map_err(io_err(src)),
        }
    }

    /// Puts files whose paths were not given to [`Staging::begin`] (the
    /// search index's, named after their contents and known only once it is
    /// built), making their folders first.
    pub fn put_more(&self, files: &[OutputFile]) -> Result<(), OutputError> {
        let mut folders: Vec<&Path> = files.iter().filter_map(|f| Path::new(&f.path).parent()).collect();
        folders.sort();
        folders.dedup();
        for folder in folders {
            let folder = self.dir.join(folder);
            fs::create_dir_all(&folder).map_err(io_err(&folder))?;
        }
        files.par_iter().try_for_each(|f| self.put(f))
    }

    /// Writes the build marker and swaps the new build in for `out`.
    pub fn commit(mut self) -> Result<(), OutputError> {
        for (name, contents) in marker_files() {
            let path = self.dir.join(name);
            fs::write(&path, contents).map_err(io_err(&path))?;
        }
        swap_in(&self.dir, &self.out, &self.parent, &self.name)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = remove_tree(&self.dir);
        }
    }
}

/// Creates, inside `dir`, the folders of the files at `paths`, except those
/// that hold a single file and no folder: it returns these, for
/// [`Staging::put`] to make beside writing their file.
fn make_folders<'p>(dir: &Path, paths: impl IntoIterator<Item = &'p str>) -> Result<HashSet<PathBuf>, OutputError> {
    let mut files_in: HashMap<&Path, usize> = HashMap::new();
    for path in paths {
        if let Some(folder) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            *files_in.entry(folder).or_default() += 1;
        }
    }
    let mut dirs: Vec<&Path> = Vec::new();
    for folder in files_in.keys() {
        dirs.extend(folder.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()));
    }
    dirs.sort();
    dirs.dedup();
    let parents: HashSet<&Path> = dirs.iter().copied().collect();
    let own: HashSet<PathBuf> = files_in
        .iter()
        .filter(|(folder, files)| **files == 1 && !parents.contains(**folder))
        .map(|(folder, _)| folder.to_path_buf())
        .collect();
    dirs.extend(files_in.keys().filter(|folder| !own.contains(**folder)));
    dirs.sort();
    dirs.dedup();
    // The shared folders (a few thousand for a big shop): create them in
    // parallel, shallowest first so each one's parent usually exists already
    // (`create_dir_all` also copes with a sibling creating it concurrently).
    dirs.sort_by_key(|d| d.components().count());
    for level in dirs.chunk_by(|a, b| a.components().count() == b.components().count()) {
        level.par_iter().try_for_each(|d| {
            let d = dir.join(d);
            fs::create_dir_all(&d).map_err(io_err(&d))
        })?;
    }
    Ok(own)
}

/// Whether `old` is a regular file of one name holding exactly `contents`.
/// Any doubt (missing, unreadable, a symbolic link, another size, other
/// names) answers no, and the file is
/// written afresh.
fn unchanged(old: &Path, contents: &OutputContents) -> bool {
    use std::io::Read;
    thread_local! {
        /// One read buffer per thread, so comparing 30,000 pages allocates nothing.
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let same = || -> io::Result<bool> {
        let src_bytes;
        let expected: &[u8] = match contents {
            OutputContents::Rendered(bytes) => bytes,
            OutputContents::Copy(src) => {
                src_bytes = fs::read(src)?;
                &src_bytes
            }
        };
        let mut file = open_no_follow(old)?;
        let meta = file.metadata()?;
        if !meta.is_file() || meta.len() != expected.len() as u64 || shared(&meta) {
            return Ok(false);
        }
        BUFFER.with_borrow_mut(|buffer| {
            buffer.clear();
            // One byte more than expected tells a file that grew meanwhile.
            (&mut file).take(expected.len() as u64 + 1).read_to_end(buffer)?;
            Ok(buffer.as_slice() == expected)
        })
    };
    same().unwrap_or(false)
}

/// Whether a file has another name besides its place in the previous build
/// (a link made by hand, or a staging folder left by a killed build): then
/// the new build gets a file of its own, which nothing else can change.
fn shared(meta: &fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.nlink() > 1
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        false
    }
}

/// Opens a file for reading, refusing a symbolic link: a link in the old
/// build is never taken for a file of the new one.
fn open_no_follow(path: &Path) -> io::Result<fs::File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path)
    }
    #[cfg(not(target_os = "linux"))]
    {
        if !fs::symlink_metadata(path)?.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        fs::File::open(path)
    }
}

/// Deletes a build folder: the entries two levels down (one per page, mostly)
/// in parallel, then what is left.
fn remove_tree(dir: &Path) -> io::Result<()> {
    let mut entries = Vec::new();
    for top in fs::read_dir(dir)? {
        let top = top?;
        if top.file_type()?.is_dir() {
            for entry in fs::read_dir(top.path())? {
                let entry = entry?;
                entries.push((entry.path(), entry.file_type()?.is_dir()));
            }
        }
    }
    entries
        .par_iter()
        .try_for_each(|(path, is_dir)| if *is_dir { fs::remove_dir_all(path) } else { fs::remove_file(path) })?;
    fs::remove_dir_all(dir)
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
        match exchange(staging, out) {
            // `staging` now holds the previous build.
            Ok(()) => return remove_tree(staging).map_err(io_err(staging)),
            Err(e) if !exchange_unsupported(&e) => return Err(OutputError::Io { path: out.to_path_buf(), source: e }),
            Err(_) => {}
        }
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        fs::rename(out, &old).map_err(io_err(out))?;
        if let Err(source) = fs::rename(staging, out) {
            let _ = fs::rename(&old, out);
            return Err(OutputError::Io { path: out.to_path_buf(), source });
        }
        remove_tree(&old).map_err(io_err(&old))
    } else {
        fs::rename(staging, out).map_err(io_err(out))
    }
}

/// Swaps two directory entries in one step (Linux 3.15+; tmpfs, ext4, xfs,
/// btrfs and most others support it).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths that outlive the call.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Whether an `exchange` failed only because the system or the file system
/// cannot swap (then two renames do it).
fn exchange_unsupported(e: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)) {
        return true;
    }
    e.kind() == io::ErrorKind::Unsupported
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

    /// A folder holding one file and no folder (a page's) is made when its
    /// file is written; the others before any file is.
    #[test]
    fn folders_of_one_file_are_made_with_their_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("staging");
        fs::create_dir(&dir).unwrap();
        let paths = ["index.html", "a/index.html", "a/b/index.html", "img/1.jpg", "img/2.jpg", "c/d/e/index.html"];
        let own = make_folders(&dir, paths).unwrap();
        assert_eq!(own, ["a/b", "c/d/e"].map(PathBuf::from).into_iter().collect());
        assert!(dir.join("a").is_dir() && dir.join("img").is_dir() && dir.join("c/d").is_dir());
        assert!(!dir.join("a/b").exists() && !dir.join("c/d/e").exists());

        let out = tmp.path().join("public");
        let files: Vec<OutputFile> = paths.iter().map(|p| file(p, p)).collect();
        write_site(&out, &files).unwrap();
        for p in paths {
            assert_eq!(fs::read_to_string(out.join(p)).unwrap(), p);
        }
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

    #[cfg(unix)]
    fn links(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(path).unwrap().nlink()
    }

    #[test]
    #[cfg(unix)]
    fn rebuild_links_unchanged_files_and_a_failed_one_leaves_the_old_build_untouched() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        let src = tmp.path().join("logo.svg");
        fs::write(&src, "<svg/>").unwrap();
        let copy = |path: &str| OutputFile { path: path.into(), contents: OutputContents::Copy(src.clone()) };
        write_site(&out, &[file("index.html", "one"), file("a/index.html", "same"), copy("logo.svg")]).unwrap();
        let ino = |p: &str| fs::metadata(out.join(p)).unwrap().ino();
        let (same_before, index_before) = (ino("a/index.html"), ino("index.html"));

        write_site(&out, &[file("index.html", "two"), file("a/index.html", "same"), copy("logo.svg")]).unwrap();
        assert_eq!(fs::read_to_string(out.join("index.html")).unwrap(), "two");
        assert_eq!(fs::read_to_string(out.join("a/index.html")).unwrap(), "same");
        assert_eq!(ino("a/index.html"), same_before, "an unchanged file is the same file, linked");
        assert_ne!(ino("index.html"), index_before, "a changed file is a new file");
        for p in ["index.html", "a/index.html", "logo.svg", BUILD_MARKER] {
            assert_eq!(links(&out.join(p)), 1, "{p}: the old build is gone, nothing shares its files");
        }

        // A build that fails after linking unchanged files: every old file keeps
        // its bytes, and once the staging folder is gone, its only name.
        let before: Vec<(String, Vec<u8>)> = ["index.html", "a/index.html", "logo.svg"]
            .iter()
            .map(|p| (p.to_string(), fs::read(out.join(p)).unwrap()))
            .collect();
        let missing = OutputFile { path: "x.css".into(), contents: OutputContents::Copy(tmp.path().join("nope")) };
        let files = [file("index.html", "three"), file("a/index.html", "same"), copy("logo.svg"), missing];
        assert!(write_site(&out, &files).is_err());
        for (p, bytes) in &before {
            assert_eq!(&fs::read(out.join(p)).unwrap(), bytes, "{p}");
            assert_eq!(links(&out.join(p)), 1, "{p}");
        }
        assert!(!out.join("x.css").exists());
        let mut leftovers: Vec<_> = fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        leftovers.sort();
        assert_eq!(leftovers, ["logo.svg", "public"].map(std::ffi::OsString::from), "staging folder removed");
    }

    #[test]
    #[cfg(unix)]
    fn a_file_with_another_name_outside_the_build_is_not_linked() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        write_site(&out, &[file("index.html", "built")]).unwrap();
        let elsewhere = tmp.path().join("elsewhere.html");
        fs::hard_link(out.join("index.html"), &elsewhere).unwrap();
        write_site(&out, &[file("index.html", "built")]).unwrap();
        assert_eq!(links(&out.join("index.html")), 1, "public/ does not share the file with elsewhere.html");
        fs::write(&elsewhere, "changed elsewhere").unwrap();
        assert_eq!(fs::read_to_string(out.join("index.html")).unwrap(), "built");
    }

    #[test]
    fn a_file_changed_by_hand_in_the_old_build_is_written_afresh() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        write_site(&out, &[file("index.html", "built")]).unwrap();
        fs::write(out.join("index.html"), "edited").unwrap();
        write_site(&out, &[file("index.html", "built")]).unwrap();
        assert_eq!(fs::read_to_string(out.join("index.html")).unwrap(), "built");
    }

    /// Readers polling `public/` during rebuilds always find a whole build:
    /// the folder never goes missing, and every file holds one build's bytes.
    #[test]
    #[cfg(target_os = "linux")]
    fn readers_never_see_a_missing_or_half_written_site() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        let build = |n: usize| -> Vec<OutputFile> {
            let mut files = vec![file("index.html", &format!("build {n}")), file("same/index.html", "unchanged")];
            files.extend((0..50).map(|i| file(&format!("p/{i}/index.html"), &format!("page {i} of build {n}"))));
            files
        };
        write_site(&out, &build(0)).unwrap();
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let mut reads = 0;
                while !done.load(Ordering::Relaxed) {
                    let index = fs::read_to_string(out.join("index.html")).expect("public/index.html is always there");
                    assert!(index.starts_with("build "), "{index:?}");
                    let page = fs::read_to_string(out.join("p/7/index.html")).expect("every page is always there");
                    assert!(page.starts_with("page 7 of build "), "{page:?}");
                    assert_eq!(fs::read_to_string(out.join("same/index.html")).unwrap(), "unchanged");
                    assert!(out.join(BUILD_MARKER).is_file());
                    reads += 1;
                }
                reads
            });
            for n in 1..=40 {
                write_site(&out, &build(n)).unwrap();
            }
            done.store(true, Ordering::Relaxed);
            assert!(reader.join().unwrap() > 0);
        });
        assert_eq!(fs::read_to_string(out.join("index.html")).unwrap(), "build 40");
    }
}
