//! Writing the built site so a failed build never leaves a half-written
//! `public/`: the new build is made in a hidden sibling folder, which
//! replaces `public/` only when complete.
//!
//! Rebuilding over an earlier build is the usual case, and most of its files
//! come out the same. So the sibling is kept between builds: after the swap
//! it holds the build before (`.public.prev`), and the next build brings it
//! up to date in place. A file whose bytes are already right stays as it is;
//! a file whose bytes equal `public/`'s of the same path is hard-linked from
//! there; any other is written as a new file; and what the new build does not
//! have is deleted. A changed file is unlinked and made anew, never written
//! into (and `serve` replaces files by rename), so a file the two folders
//! share never changes: `public/` stays byte-identical until the swap, and
//! after a failed build. On Linux the swap is one
//! `renameat2(RENAME_EXCHANGE)`, so `public/` never goes missing, not even
//! for an instant; elsewhere it is three renames.
//!
//! One build at a time writes into a given folder's sibling: a build holds a
//! lock on the folder's parent while it runs, and a second one waits.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::render::{OutputContents, OutputFile};

/// Marks a folder as written by site-gen, so it may be replaced wholesale.
pub const BUILD_MARKER: &str = ".clipstore-build";

/// Lists the files a build wrote, so that the next build can name the
/// files put into `public/` by hand before it replaces them: a 64-bit hash
/// of each path ([`path_hash`]), sorted, little-endian, after
/// [`BUILD_FILES_MAGIC`] (a quarter of the bytes of the paths as text).
pub const BUILD_FILES: &str = ".clipstore-files";
const BUILD_FILES_MAGIC: &[u8; 8] = b"csfiles1";

/// SipHash-1-3 with fixed keys: the same for a path in every version.
pub(crate) fn path_hash(path: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = siphasher::sip::SipHasher13::new_with_keys(0, 0);
    h.write(path.as_bytes());
    h.finish()
}

/// The contents of [`BUILD_FILES`] for `paths`.
pub(crate) fn build_files_list<'p>(paths: impl IntoIterator<Item = &'p str>) -> Vec<u8> {
    let mut hashes: Vec<u64> = paths.into_iter().map(path_hash).collect();
    hashes.sort_unstable();
    hashes.dedup();
    let mut bytes = Vec::with_capacity(8 + 8 * hashes.len());
    bytes.extend_from_slice(BUILD_FILES_MAGIC);
    for h in hashes {
        bytes.extend_from_slice(&h.to_le_bytes());
    }
    bytes
}

/// The hashes a [`BUILD_FILES`] holds, sorted; `None` if it is not one.
fn read_build_files(bytes: &[u8]) -> Option<Vec<u64>> {
    let rest = bytes.strip_prefix(BUILD_FILES_MAGIC)?;
    (rest.len() % 8 == 0).then(|| rest.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect())
}

/// Written into the kept sibling (and only there), so that `git add` in the
/// shop never takes in the copy of an earlier build.
const SIBLING_GITIGNORE: (&str, &str) =
    (".gitignore", "# The build before public/, kept by site-gen to make the next one faster.\n*\n");

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0} exists but was not written by site-gen (it has no {BUILD_MARKER} file); move it away or choose another --out folder, so nothing of yours is overwritten")]
    NotOurs(PathBuf),
    #[error("{0} is where site-gen keeps the build before the last one, to make the next build faster, but it is not a folder site-gen made (a symbolic link, a file, or a folder of yours); move it away and build again")]
    SiblingNotOurs(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |source| OutputError::Io { path: path.to_path_buf(), source }
}

/// Writes `files` into `out`, replacing what was there only on success:
/// what `build` does through [`Staging`] as it renders, for the tests of
/// the guarantees.
#[cfg(test)]
fn write_site(out: &Path, files: &[OutputFile]) -> Result<(), OutputError> {
    let staging = Staging::begin(out, files.iter().map(|f| f.path.as_str()))?;
    files.par_iter().try_for_each(|f| staging.put(f))?;
    staging.commit().map(drop)
}

/// The hidden sibling of `out` that the next build is made in.
fn sibling_of(out: &Path) -> PathBuf {
    let (parent, name) = parent_and_name(out);
    parent.join(format!(".{name}.prev"))
}

fn parent_and_name(out: &Path) -> (PathBuf, String) {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "public".into());
    (parent, name)
}

/// A new build being written beside `out`: files go into its hidden sibling
/// folder, which replaces `out` on [`Staging::commit`]. Dropped without a
/// commit (a failed build), `out` stays as it was; the sibling, half brought
/// up to date, waits for the next build.
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
    /// See [`Staging::last_build`]: decided from what the folders held when
    /// this build began, before [`Staging::make_room`] marks a new sibling.
    last_build: Option<PathBuf>,
    /// The regular files of `previous` (reached through real folders, not
    /// symbolic links) with their inode numbers: only these are linked from.
    previous_files: HashMap<String, u64>,
    /// The files (and other entries that are not folders) `dir` held when
    /// this build began, by path inside the site, with their inode numbers.
    found: HashMap<String, Entry>,
    /// The folders `dir` held when this build began.
    found_dirs: HashSet<String>,
    /// Every file of the new build: the paths given to `begin`, then those of
    /// [`Staging::put_more`].
    paths: HashSet<String>,
    more: Mutex<Vec<String>>,
    /// Folders that do not exist yet and will hold one file and nothing else
    /// (a new page's folder, mostly): [`Staging::put`] makes each beside
    /// writing its file, so the folders are made on every core while pages
    /// render, not all before.
    own_folders: HashSet<PathBuf>,
    /// Files of `out` its build did not write ([`BUILD_FILES`] does not
    /// list them): put there by hand. Those the new build lacks are named
    /// as it replaces them ([`strays_warning`]).
    maybe_strays: Vec<String>,
    lock: BuildLock,
}

/// Held while a build writes into a folder, until its catalog manifest is
/// written too: one build at a time into one folder.
#[derive(Debug)]
pub struct BuildLock(#[allow(dead_code)] Option<fs::File>);

impl Staging {
    /// Checks that `out` may be replaced, takes its sibling (made afresh, or
    /// the build before, kept), deletes from it what is in the way of the
    /// files at `paths` (inside the site), and makes the folders they need.
    pub fn begin<'p>(out: &Path, paths: impl IntoIterator<Item = &'p str>) -> Result<Staging, OutputError> {
        let mut staging = Staging::open(out)?;
        staging.make_room(paths)?;
        Ok(staging)
    }

    /// The first half of [`Staging::begin`], which needs no paths: checks
    /// that `out` may be replaced, takes the lock and the sibling, and lists
    /// what both hold. Listing two builds' folders (20,000 of them each in a
    /// big shop) is most of a rebuild's start, so a build does it beside
    /// loading the shop, whose paths it does not know yet.
    pub fn open(out: &Path) -> Result<Staging, OutputError> {
        // `public` may be a symbolic link to the folder a web server reads:
        // the new build then replaces that folder, beside it.
        let out = &match fs::symlink_metadata(out) {
            Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(out).map_err(io_err(out))?,
            _ => out.to_path_buf(),
        };
        check_ours(out)?;
        let (parent, name) = parent_and_name(out);
        fs::create_dir_all(&parent).map_err(io_err(&parent))?;
        let lock = lock_folder(&parent, out);
        let dir = sibling_of(out);
        let sibling_exists = match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => {
                check_ours(&dir).map_err(|_| OutputError::SiblingNotOurs(dir.clone()))?;
                true
            }
            Ok(_) => return Err(OutputError::SiblingNotOurs(dir)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(io_err(&dir)(e)),
        };
        let previous = out.is_dir().then(|| out.to_path_buf());
        let (sibling, earlier) = rayon::join(
            || if sibling_exists { walk(&dir, Strange::Delete) } else { Ok(Tree::default()) },
            || previous.as_deref().map_or(Ok(Tree::default()), |p| walk(p, Strange::Skip)),
        );
        let sibling = sibling.map_err(io_err(&dir))?;
        let earlier = earlier.map_err(io_err(out))?;
        // A build of an older site-gen has no list: nothing is said of it.
        let maybe_strays = match fs::read(out.join(BUILD_FILES)).ok().as_deref().and_then(read_build_files) {
            Some(listed) => {
                earlier.files.keys().filter(|p| listed.binary_search(&path_hash(p)).is_err()).cloned().collect()
            }
            None => Vec::new(),
        };
        let last_build = previous.clone().or_else(|| (!sibling.files.is_empty()).then(|| dir.clone()));
        Ok(Staging {
            last_build,
            maybe_strays,
            previous_files: earlier.files.into_iter().filter(|(_, e)| e.regular).map(|(p, e)| (p, e.ino)).collect(),
            previous,
            paths: HashSet::default(),
            more: Mutex::new(Vec::new()),
            own_folders: HashSet::default(),
            out: out.to_path_buf(),
            parent,
            name,
            dir,
            found: sibling.files,
            found_dirs: sibling.dirs,
            lock,
        })
    }

    /// Where the last build is: `out`, or, when `out` is gone (deleted by
    /// hand), the sibling, which holds the build before it and is brought up
    /// to date in place (`crate::kept_pages` takes from it the pages that
    /// did not change since). None when both are gone: nothing to look for.
    pub fn last_build(&self) -> Option<&Path> {
        self.last_build.as_deref()
    }

    /// The second half of [`Staging::begin`]: makes the sibling if there is
    /// none (only now: a build that stops before leaves no trace), takes the
    /// paths of the files the build will [`Staging::put`], deletes what is in
    /// their way and makes their folders.
    pub fn make_room<'p>(&mut self, paths: impl IntoIterator<Item = &'p str>) -> Result<(), OutputError> {
        match fs::create_dir(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(io_err(&self.dir)(e)),
            _ => {}
        }
        // Mark the sibling as ours first: a build killed from here on leaves
        // a folder the next one knows it may bring up to date.
        if !self.found.contains_key(BUILD_MARKER) {
            let (name, text) = SIBLING_GITIGNORE;
            for (name, contents) in marker_files().into_iter().chain([(name, text.to_string())]) {
                let path = self.dir.join(name);
                write_new(&path, &OutputContents::Rendered(contents.into_bytes()))?;
                let ino = inode(&path).unwrap_or_default();
                self.found.insert(name.to_string(), Entry { ino, regular: true });
            }
        }
        let paths: HashSet<String> = paths.into_iter().map(str::to_owned).collect();
        self.clear_the_way(paths.iter().map(String::as_str))?;
        self.paths = paths;
        self.own_folders = make_folders(&self.dir, self.paths.iter().map(String::as_str), &self.found_dirs)?;
        Ok(())
    }

    /// Deletes from the sibling a folder where one of `paths` is to be a
    /// file, and a file where one of their folders is to be.
    fn clear_the_way<'p>(&mut self, paths: impl IntoIterator<Item = &'p str>) -> Result<(), OutputError> {
        if self.found.is_empty() && self.found_dirs.is_empty() {
            return Ok(());
        }
        for path in paths {
            if self.found_dirs.contains(path) {
                let d = self.dir.join(path);
                fs::remove_dir_all(&d).map_err(io_err(&d))?;
                self.found_dirs.retain(|f| !(f == path || f.starts_with(&format!("{path}/"))));
                self.found.retain(|f, _| !f.starts_with(&format!("{path}/")));
            }
            for folder in Path::new(path).ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()) {
                let folder = folder.to_string_lossy();
                if self.found.remove(folder.as_ref()).is_some() {
                    let f = self.dir.join(folder.as_ref());
                    fs::remove_file(&f).map_err(io_err(&f))?;
                }
            }
        }
        Ok(())
    }

    /// Puts one file into the new build: left as it is when the sibling's
    /// file already holds its bytes, else a hard link to the previous build's
    /// file of the same path when that holds them, else a new file. A page
    /// read from the previous build's file ([`OutputContents::Kept`]) is not
    /// compared again with that file, nor with its twin in the sibling.
    pub fn put(&self, f: &OutputFile) -> Result<(), OutputError> {
        let dest = self.dir.join(&f.path);
        if let Some(folder) = Path::new(&f.path).parent().filter(|p| self.own_folders.contains(*p)) {
            let folder = self.dir.join(folder);
            // A late file ([`Staging::put_more`]) may have made it already.
            match fs::create_dir(&folder) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(io_err(&folder)(e)),
                _ => {}
            }
        }
        let twin = self.previous_files.get(&f.path).copied();
        let found_ino = self.found.get(&f.path).map(|e| e.ino);
        let found = found_ino.is_some();
        // A page read from the previous build's file at this path, which has
        // no name but that one and, maybe, its twin's here.
        let kept_from = match &f.contents {
            OutputContents::Kept(_, from) if twin == Some(from.ino) => Some(from),
            _ => None,
        };
        if kept_from.is_some_and(|from| found_ino == Some(from.ino) && from.links == 2) {
            // The file here is that file: it holds the bytes.
            return Ok(());
        }
        // The bytes to compare with, read once (a static file's) and only
        // when there is a file to compare.
        let copied;
        let expected: Option<&[u8]> = match &f.contents {
            _ if !found && twin.is_none() => None,
            OutputContents::Rendered(bytes) | OutputContents::Kept(bytes, _) => Some(bytes),
            OutputContents::Copy(src) => {
                copied = fs::read(src).ok();
                copied.as_deref()
            }
        };
        if self.found_dirs.contains(&f.path) {
            // A folder where the file goes (only a late file's: `begin`
            // cleared the way for the others).
            match fs::remove_dir_all(&dest) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(&dest)(e)),
                _ => {}
            }
        }
        if found {
            // Its one other name, if any, must be the previous build's file.
            if expected.is_some_and(|bytes| holds(&dest, bytes, twin, None)) {
                return Ok(());
            }
            remove_if_there(&dest)?;
        }
        if let (Some(ino), Some(previous)) = (twin, &self.previous) {
            let old = previous.join(&f.path);
            // A page read from that very file, its only name, needs no second reading.
            let holds_them = kept_from.is_some_and(|from| from.links == 1)
                || expected.is_some_and(|bytes| holds(&old, bytes, None, Some(ino)));
            if holds_them && fs::hard_link(&old, &dest).is_ok() {
                // `serve` may have put another file at that path meanwhile.
                if inode(&dest) == Some(ino) {
                    return Ok(());
                }
                remove_if_there(&dest)?;
            }
        }
        write_new(&dest, &f.contents)
    }

    /// Puts files whose paths were not given to [`Staging::begin`] (the
    /// search index's, named after their contents and known only once it is
    /// built), making their folders first.
    pub fn put_more(&self, files: &[OutputFile]) -> Result<(), OutputError> {
        let mut folders: Vec<&Path> = files.iter().filter_map(|f| Path::new(&f.path).parent()).collect();
        folders.sort();
        folders.dedup();
        for folder in folders {
            for up in folder.ancestors().filter(|a| a.to_str().is_some_and(|a| self.found.contains_key(a))) {
                // A file where a folder goes.
                let up = self.dir.join(up);
                let _ = fs::remove_file(&up);
            }
            let folder = self.dir.join(folder);
            fs::create_dir_all(&folder).map_err(io_err(&folder))?;
        }
        files.par_iter().try_for_each(|f| self.put(f))?;
        self.more.lock().unwrap_or_else(|e| e.into_inner()).extend(files.iter().map(|f| f.path.clone()));
        Ok(())
    }

    /// Deletes from the sibling what the new build does not have, writes the
    /// build marker, and swaps the new build in for `out`. Nothing after the
    /// swap fails the build. Returns the lock, to hold while the caller
    /// writes what goes with the build (the catalog manifest).
    pub fn commit(mut self) -> Result<BuildLock, OutputError> {
        let more = std::mem::take(&mut *self.more.lock().unwrap_or_else(|e| e.into_inner()));
        self.paths.extend(more);
        for (name, contents) in marker_files() {
            self.put(&OutputFile {
                path: name.to_string(),
                contents: OutputContents::Rendered(contents.into_bytes()),
            })?;
            self.paths.insert(name.to_string());
        }
        // The build's own files, for the next build to tell them from files
        // put in by hand (unchanged between builds, it is not rewritten).
        self.paths.insert(BUILD_FILES.to_string());
        let list = build_files_list(self.paths.iter().map(String::as_str));
        self.put(&OutputFile { path: BUILD_FILES.to_string(), contents: OutputContents::Rendered(list) })?;
        self.delete_stale()?;
        let mut strays: Vec<&String> = self.maybe_strays.iter().filter(|p| !self.paths.contains(*p)).collect();
        strays.sort();
        // Copied out before the swap: the sibling they go to is emptied by
        // the next build, and the owner may not look before then.
        let found = self.parent.join(format!("found-in-{}", self.name));
        let failed = (!strays.is_empty()).then(|| keep_strays(&strays, &self.out, &found));
        swap_in(&self.dir, &self.out, &self.parent, &self.name)?;
        if let Some(failed) = failed {
            eprintln!("{}", strays_warning(&strays, &self.out, &found, &failed));
        }
        if fs::symlink_metadata(&self.dir).is_ok_and(|m| m.is_dir()) {
            // The sibling now holds the build before (whose own `.gitignore`,
            // if the shop has one, is replaced): mark it for git.
            let (name, text) = SIBLING_GITIGNORE;
            let path = self.dir.join(name);
            let marked = remove_if_there(&path)
                .and_then(|()| write_new(&path, &OutputContents::Rendered(text.as_bytes().to_vec())));
            if let Err(e) = marked {
                eprintln!("warning: the site is built, but git may list {}: {e}", self.dir.display());
            }
        }
        Ok(self.lock)
    }

    /// Deletes the files and folders the sibling held that the new build
    /// does not have (an earlier build's, a killed build's leftovers).
    fn delete_stale(&self) -> Result<(), OutputError> {
        let mut needed: HashSet<&str> = HashSet::default();
        for path in &self.paths {
            let mut p = path.as_str();
            while let Some((folder, _)) = p.rsplit_once('/') {
                if !needed.insert(folder) {
                    break;
                }
                p = folder;
            }
        }
        let files: Vec<&String> =
            self.found.keys().filter(|f| !self.paths.contains(*f) && !needed.contains(f.as_str())).collect();
        // Of the stale folders, only the topmost: deleting it takes the rest.
        let folders: Vec<&String> = self
            .found_dirs
            .iter()
            .filter(|d| !needed.contains(d.as_str()) && !self.paths.contains(*d))
            .filter(|d| match d.rsplit_once('/') {
                Some((up, _)) => needed.contains(up),
                None => true,
            })
            .collect();
        // Already gone, or gone with a folder a late file replaced.
        let gone = |r: io::Result<()>| match r {
            Err(e) if !matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => Err(e),
            _ => Ok(()),
        };
        files.par_iter().try_for_each(|f| {
            let path = self.dir.join(f);
            gone(fs::remove_file(&path)).map_err(io_err(&path))
        })?;
        folders.par_iter().try_for_each(|d| {
            let path = self.dir.join(d);
            gone(fs::remove_dir_all(&path)).map_err(io_err(&path))
        })
    }
}

/// Keeps the files put into `out` by hand (`strays`, paths inside it) at
/// the same paths under `found`, a folder beside it that no build touches
/// (a newer one of a path replaces an older): a file by a second name (a
/// copy where the file system cannot), a symbolic link as a link. Each that
/// could not be kept, with why (a named pipe or a device is not opened).
fn keep_strays(strays: &[&String], out: &Path, found: &Path) -> Vec<String> {
    let keep = |from: &Path, to: &Path| -> io::Result<()> {
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)?;
        }
        let meta = fs::symlink_metadata(from)?;
        match fs::remove_file(to) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        if meta.is_file() {
            fs::hard_link(from, to).or_else(|_| fs::copy(from, to).map(drop))
        } else if meta.file_type().is_symlink() {
            #[cfg(unix)]
            return std::os::unix::fs::symlink(fs::read_link(from)?, to);
            #[cfg(not(unix))]
            return Err(io::Error::other("a link, which this system cannot make again"));
        } else {
            Err(io::Error::other("neither a file nor a link"))
        }
    };
    strays.iter().filter_map(|p| keep(&out.join(p), &found.join(p)).err().map(|e| format!("{p} ({e})"))).collect()
}

/// What the owner is told of files put into `out` by hand, which a build
/// replaces: where they were kept (`found`), those that could not be
/// (`failed`, with why), and where they belong (`static/`, which every
/// build copies).
fn strays_warning(strays: &[&String], out: &Path, found: &Path, failed: &[String]) -> String {
    let shown: Vec<String> = strays.iter().take(5).map(|p| format!("{}/{p}", out.display())).collect();
    let more = strays.len().saturating_sub(shown.len());
    let one = strays.len() == 1;
    let mut kept = format!("{} kept in {}", if one { "it is" } else { "they are" }, found.display());
    if !failed.is_empty() {
        kept = format!(
            "{kept}, except {}, which only {} holds until the next build: copy {} from there",
            failed.join(", "),
            sibling_of(out).display(),
            if failed.len() == 1 { "it" } else { "them" },
        );
    }
    // A dot file (`.env`) is never published, from static/ either.
    let private = |p: &str| p.split('/').any(crate::content::is_private_static);
    let advice = if strays.iter().all(|p| private(p)) {
        format!(
            "{} never published, from static/ either: a name starting with a dot (like .env) or a backup's \
             usually holds secrets; keep {} out of the site",
            if one { "such a file is" } else { "such files are" },
            if one { "it" } else { "them" },
        )
    } else {
        format!(
            "put {} under static/ (static/{}), which every build copies",
            if one { "it" } else { "each" },
            strays.iter().find(|p| !private(p)).unwrap_or(&strays[0]),
        )
    };
    format!(
        "warning: {}{} {} not made by site-gen, and this build does not have {}: {kept}; {advice}",
        shown.join(", "),
        if more > 0 { format!(" and {more} more") } else { String::new() },
        if one { "was" } else { "were" },
        if one { "it" } else { "them" },
    )
}

/// Takes a lock on `folder` (the parent of `out`) for the rest of the
/// build, waiting while another build holds it. Where the system or the
/// file system cannot lock a folder (some network file systems), the build
/// goes on without.
fn lock_folder(folder: &Path, out: &Path) -> BuildLock {
    let Ok(handle) = fs::File::open(folder) else { return BuildLock(None) };
    match handle.try_lock() {
        Ok(()) => BuildLock(Some(handle)),
        Err(fs::TryLockError::WouldBlock) => {
            eprintln!("waiting for another site-gen build into {} to finish", out.display());
            BuildLock(handle.lock().is_ok().then_some(handle))
        }
        Err(fs::TryLockError::Error(_)) => BuildLock(None),
    }
}

/// Removes a file, if there is one.
fn remove_if_there(path: &Path) -> Result<(), OutputError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(path)(e)),
        _ => Ok(()),
    }
}

fn inode(path: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs::symlink_metadata(path).ok().map(|m| m.ino())
    }
    #[cfg(not(unix))]
    {
        fs::symlink_metadata(path).ok().map(|_| 0)
    }
}

/// Which file a page taken from the last build was read from
/// ([`OutputContents::Kept`]): its inode number and how many names it had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub ino: u64,
    pub links: u64,
}

impl FileId {
    /// The file of `meta`; on systems without inode numbers, one that
    /// matches no other.
    pub(crate) fn of(meta: &fs::Metadata) -> FileId {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            FileId { ino: meta.ino(), links: meta.nlink() }
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            FileId { ino: u64::MAX, links: 0 }
        }
    }
}

/// What [`walk`] found under a folder, by path inside it (`/`-separated).
#[derive(Debug, Default)]
struct Tree {
    /// Everything that is not a folder (files, symbolic links).
    files: HashMap<String, Entry>,
    dirs: HashSet<String>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    ino: u64,
    /// A regular file (not a symbolic link or another special file).
    regular: bool,
}

/// What [`walk`] does with a name that is not UTF-8 (no build's file has one).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Strange {
    /// Deletes it (in the sibling, which is site-gen's alone).
    Delete,
    /// Leaves it out.
    Skip,
}

/// Every entry under `dir`, not following symbolic links; the inode numbers
/// come with the folder listing, at no cost.
fn walk(dir: &Path, strange: Strange) -> io::Result<Tree> {
    fn walk_in(dir: &Path, prefix: &str, strange: Strange) -> io::Result<Tree> {
        let mut tree = Tree::default();
        let mut below = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            let Ok(name) = entry.file_name().into_string() else {
                if strange == Strange::Delete {
                    if kind.is_dir() {
                        fs::remove_dir_all(entry.path())?
                    } else {
                        fs::remove_file(entry.path())?
                    }
                }
                continue;
            };
            let path = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            if kind.is_dir() {
                below.push((entry.path(), path.clone()));
                tree.dirs.insert(path);
            } else {
                #[cfg(unix)]
                let ino = std::os::unix::fs::DirEntryExt::ino(&entry);
                #[cfg(not(unix))]
                let ino = 0;
                tree.files.insert(path, Entry { ino, regular: kind.is_file() });
            }
        }
        let below: Vec<Tree> =
            below.par_iter().map(|(dir, path)| walk_in(dir, path, strange)).collect::<io::Result<_>>()?;
        for t in below {
            tree.files.extend(t.files);
            tree.dirs.extend(t.dirs);
        }
        Ok(tree)
    }
    walk_in(dir, "", strange)
}

/// Creates, inside `dir`, the folders of the files at `paths` that `existing`
/// does not list, except those that would hold a single file and no folder:
/// it returns these, for [`Staging::put`] to make beside writing their file.
fn make_folders<'p>(
    dir: &Path,
    paths: impl IntoIterator<Item = &'p str>,
    existing: &HashSet<String>,
) -> Result<HashSet<PathBuf>, OutputError> {
    let mut files_in: HashMap<&Path, usize> = HashMap::default();
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
    let exists = |d: &Path| d.to_str().is_some_and(|d| existing.contains(d));
    let own: HashSet<PathBuf> = files_in
        .iter()
        .filter(|(folder, files)| **files == 1 && !parents.contains(**folder) && !exists(folder))
        .map(|(folder, _)| folder.to_path_buf())
        .collect();
    dirs.extend(files_in.keys().filter(|folder| !own.contains(**folder)));
    dirs.retain(|d| !exists(d));
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

/// Writes a new file at `dest`, which must not exist: no file that another
/// folder may share is ever written into.
fn write_new(dest: &Path, contents: &OutputContents) -> Result<(), OutputError> {
    use std::io::Write;
    let create = || fs::OpenOptions::new().write(true).create_new(true).open(dest);
    match contents {
        OutputContents::Rendered(bytes) | OutputContents::Kept(bytes, _) => {
            create().and_then(|mut file| file.write_all(bytes)).map_err(io_err(dest))
        }
        OutputContents::Copy(src) => {
            let mut from = fs::File::open(src).map_err(io_err(src))?;
            let mut to = create().map_err(io_err(dest))?;
            io::copy(&mut from, &mut to).map(drop).map_err(io_err(dest))
        }
    }
}

/// Whether `path` is a regular file holding exactly `expected`, with no name
/// besides its own except its `twin` (the file of this inode number at the
/// same path in the other build folder), and, if `ino` is given, that file.
/// Any doubt (missing, unreadable, a symbolic link, another size, other
/// names) answers no, and the file is written afresh.
fn holds(path: &Path, expected: &[u8], twin: Option<u64>, ino: Option<u64>) -> bool {
    use std::io::Read;
    thread_local! {
        /// One read buffer per thread, so comparing 30,000 pages allocates nothing.
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let same = || -> io::Result<bool> {
        let mut file = open_no_follow(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() || meta.len() != expected.len() as u64 || !names_ok(&meta, twin, ino) {
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

/// Whether a file is the one expected (`ino`) and has no name besides its
/// own, or only its `twin`'s: a file with another name (a link made by
/// hand) gets a file of its own in the new build, which nothing else can
/// change.
fn names_ok(meta: &fs::Metadata, twin: Option<u64>, ino: Option<u64>) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        ino.is_none_or(|ino| ino == meta.ino())
            && match meta.nlink() {
                1 => true,
                2 => twin == Some(meta.ino()),
                _ => false,
            }
    }
    #[cfg(not(unix))]
    {
        let _ = (meta, twin, ino);
        true
    }
}

/// Opens a file for reading, refusing a symbolic link: a link in the old
/// build is never taken for a file of the new one.
pub(crate) fn open_no_follow(path: &Path) -> io::Result<fs::File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Not blocking either: a named pipe would stall the build on open.
        fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)
    }
    #[cfg(not(target_os = "linux"))]
    {
        if !fs::symlink_metadata(path)?.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        fs::File::open(path)
    }
}

/// The files besides the site that every build folder holds: the build
/// marker, and `.assetsignore` (Wrangler's asset upload skips what it lists).
pub fn marker_files() -> [(&'static str, String); 2] {
    [
        (".assetsignore", format!("{BUILD_MARKER}\n{BUILD_FILES}\n.assetsignore\n")),
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

/// Puts the build in `staging` at `out`; `staging` then holds the build
/// that was at `out`, if any.
fn swap_in(staging: &Path, out: &Path, parent: &Path, name: &str) -> Result<(), OutputError> {
    if !out.exists() {
        return fs::rename(staging, out).map_err(io_err(out));
    }
    match exchange(staging, out) {
        Ok(()) => return Ok(()),
        Err(e) if !exchange_unsupported(&e) => return Err(OutputError::Io { path: out.to_path_buf(), source: e }),
        Err(_) => {}
    }
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    fs::rename(out, &old).map_err(io_err(out))?;
    if let Err(source) = fs::rename(staging, out) {
        let _ = fs::rename(&old, out);
        return Err(OutputError::Io { path: out.to_path_buf(), source });
    }
    if let Err(e) = fs::rename(&old, staging) {
        eprintln!("warning: the site is built, but the build before stays in {}: {e}; delete it", old.display());
    }
    Ok(())
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

    /// Every file under `dir` (`/`-separated paths) with its text.
    fn tree(dir: &Path) -> Vec<(String, String)> {
        let files = walk(dir, Strange::Skip).unwrap().files;
        // The list of the build's files is read apart (it is not text).
        let mut files: Vec<(String, String)> = files
            .into_keys()
            .filter(|p| p != BUILD_FILES)
            .map(|p| (p.clone(), fs::read_to_string(dir.join(&p)).unwrap()))
            .collect();
        files.sort();
        files
    }

    fn expected(files: &[OutputFile]) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = files
            .iter()
            .map(|f| match &f.contents {
                OutputContents::Rendered(b) | OutputContents::Kept(b, _) => {
                    (f.path.clone(), String::from_utf8(b.clone()).unwrap())
                }
                OutputContents::Copy(src) => (f.path.clone(), fs::read_to_string(src).unwrap()),
            })
            .collect();
        all.extend(marker_files().map(|(n, c)| (n.to_string(), c)));
        all.sort();
        all
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    /// Where the pages of the last build are looked for: `out`, the build
    /// before it when `out` is gone, and nowhere when both are gone (a clean
    /// build looks for no page).
    #[test]
    fn the_last_build_is_out_or_the_build_before_or_none() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        // Asked as a build asks: after `make_room`, which marks a new sibling.
        let last_build = || Staging::begin(&out, ["index.html"]).unwrap().last_build().map(Path::to_path_buf);
        assert_eq!(last_build(), None, "no build yet");
        write_site(&out, &[file("index.html", "one")]).unwrap();
        assert_eq!(last_build(), Some(out.clone()));
        write_site(&out, &[file("index.html", "two")]).unwrap();
        fs::remove_dir_all(&out).unwrap();
        assert_eq!(last_build(), Some(sibling_of(&out)), "public/ deleted by hand");
        fs::remove_dir_all(sibling_of(&out)).unwrap();
        assert_eq!(last_build(), None, "both deleted");
    }

    #[test]
    fn replaces_previous_build_and_refuses_foreign_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        let first = [file("index.html", "one"), file("a/b/index.html", "b")];
        write_site(&out, &first).unwrap();
        assert_eq!(names_in(tmp.path()), ["public"], "a first build leaves nothing beside it");
        let second = [file("index.html", "two")];
        write_site(&out, &second).unwrap();
        assert_eq!(tree(&out), expected(&second), "stale files of the old build are gone");
        assert_eq!(names_in(tmp.path()), [".public.prev", "public"]);
        let mut kept = expected(&first);
        kept.push((SIBLING_GITIGNORE.0.to_string(), SIBLING_GITIGNORE.1.to_string()));
        kept.sort();
        assert_eq!(tree(&sibling_of(&out)), kept, "the sibling holds the build before, and tells git to leave it");

        let foreign = tmp.path().join("mine");
        fs::create_dir(&foreign).unwrap();
        fs::write(foreign.join("notes.txt"), "keep").unwrap();
        assert!(matches!(write_site(&foreign, &[file("index.html", "x")]), Err(OutputError::NotOurs(_))));
        assert_eq!(fs::read_to_string(foreign.join("notes.txt")).unwrap(), "keep");

        // A folder of someone else's where the sibling goes is not touched either.
        let theirs = tmp.path().join("site");
        let their_sibling = sibling_of(&theirs);
        fs::create_dir(&their_sibling).unwrap();
        fs::write(their_sibling.join("notes.txt"), "keep").unwrap();
        assert!(matches!(write_site(&theirs, &[file("index.html", "x")]), Err(OutputError::SiblingNotOurs(_))));
        assert_eq!(fs::read_to_string(their_sibling.join("notes.txt")).unwrap(), "keep");
        assert!(!theirs.exists());
    }

    /// A folder holding one file and no folder (a page's) is made when its
    /// file is written; the others before any file is; none that exists.
    #[test]
    fn folders_of_one_file_are_made_with_their_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("staging");
        fs::create_dir(&dir).unwrap();
        let paths = ["index.html", "a/index.html", "a/b/index.html", "img/1.jpg", "img/2.jpg", "c/d/e/index.html"];
        let own = make_folders(&dir, paths, &HashSet::default()).unwrap();
        assert_eq!(own, ["a/b", "c/d/e"].map(PathBuf::from).into_iter().collect());
        assert!(dir.join("a").is_dir() && dir.join("img").is_dir() && dir.join("c/d").is_dir());
        assert!(!dir.join("a/b").exists() && !dir.join("c/d/e").exists());

        let existing: HashSet<String> = ["a", "a/b", "c"].map(String::from).into_iter().collect();
        let own = make_folders(&tmp.path().join("other"), ["a/b/index.html", "c/d/index.html"], &existing).unwrap();
        assert_eq!(own, ["c/d"].map(PathBuf::from).into_iter().collect(), "a/b exists: not made again");

        let out = tmp.path().join("public");
        let files: Vec<OutputFile> = paths.iter().map(|p| file(p, p)).collect();
        write_site(&out, &files).unwrap();
        for p in paths {
            assert_eq!(fs::read_to_string(out.join(p)).unwrap(), p);
        }
    }

    #[test]
    fn failed_write_keeps_the_old_build_and_the_next_one_succeeds() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        write_site(&out, &[file("index.html", "good")]).unwrap();
        let missing = OutputFile { path: "x.css".into(), contents: OutputContents::Copy(tmp.path().join("nope")) };
        assert!(write_site(&out, &[file("index.html", "bad"), missing]).is_err());
        assert_eq!(tree(&out), expected(&[file("index.html", "good")]));
        assert!(sibling_of(&out).join(BUILD_MARKER).is_file(), "the half-made sibling is known as ours");
        let next = [file("index.html", "better"), file("x.css", "x")];
        write_site(&out, &next).unwrap();
        assert_eq!(tree(&out), expected(&next));
    }

    #[cfg(unix)]
    fn links(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(path).unwrap().nlink()
    }

    #[test]
    #[cfg(unix)]
    fn rebuild_keeps_unchanged_files_and_a_failed_one_leaves_the_old_build_untouched() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        let src = tmp.path().join("logo.svg");
        fs::write(&src, "<svg/>").unwrap();
        let copy = |path: &str| OutputFile { path: path.into(), contents: OutputContents::Copy(src.clone()) };
        let build = |index: &str| vec![file("index.html", index), file("a/index.html", "same"), copy("logo.svg")];
        write_site(&out, &build("one")).unwrap();
        let ino = |p: &str| fs::metadata(out.join(p)).unwrap().ino();
        let (same_before, index_before) = (ino("a/index.html"), ino("index.html"));

        write_site(&out, &build("two")).unwrap();
        assert_eq!(tree(&out), expected(&build("two")));
        assert_eq!(ino("a/index.html"), same_before, "an unchanged file is the same file, linked");
        assert_ne!(ino("index.html"), index_before, "a changed file is a new file");
        assert_eq!(links(&out.join("a/index.html")), 2, "shared with the build before, in the sibling");
        assert_eq!(links(&out.join("index.html")), 1);

        // The same build again: the sibling (the first build) is brought up
        // to date, its changed file replaced by a link, and swapped in.
        let index_two = ino("index.html");
        write_site(&out, &build("two")).unwrap();
        assert_eq!(tree(&out), expected(&build("two")));
        assert_eq!((ino("index.html"), ino("a/index.html")), (index_two, same_before), "nothing written anew");
        for p in ["index.html", "a/index.html", "logo.svg"] {
            assert_eq!(links(&out.join(p)), 2, "{p}: the two folders share it, nothing else does");
        }

        // A build that fails after linking unchanged files: every file of
        // public/ keeps its bytes and its inode.
        let before: Vec<(String, Vec<u8>, u64)> = ["index.html", "a/index.html", "logo.svg"]
            .iter()
            .map(|p| (p.to_string(), fs::read(out.join(p)).unwrap(), ino(p)))
            .collect();
        let missing = OutputFile { path: "x.css".into(), contents: OutputContents::Copy(tmp.path().join("nope")) };
        let mut files = build("three");
        files.push(missing);
        assert!(write_site(&out, &files).is_err());
        for (p, bytes, inode) in &before {
            assert_eq!(&fs::read(out.join(p)).unwrap(), bytes, "{p}");
            assert_eq!(ino(p), *inode, "{p}");
        }
        assert!(!out.join("x.css").exists());
        assert_eq!(names_in(tmp.path()), [".public.prev", "logo.svg", "public"]);
        write_site(&out, &build("four")).unwrap();
        assert_eq!(tree(&out), expected(&build("four")));
    }

    /// A page taken from the last build ([`OutputContents::Kept`]) is left
    /// in the sibling, unread, only when the sibling's file is the very file
    /// it was read from, with no other name; any other is written.
    #[test]
    #[cfg(unix)]
    fn a_kept_page_is_left_only_in_the_file_it_was_read_from() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        let pages = vec![file("a/index.html", "a"), file("b/index.html", "b"), file("c/index.html", "c")];
        write_site(&out, &pages).unwrap();
        write_site(&out, &pages).unwrap();
        let id = |p: &str| FileId::of(&fs::metadata(out.join(p)).unwrap());
        assert_eq!(id("a/index.html").links, 2, "shared with the sibling");
        let kept = |path: &str, text: &str, from: FileId| OutputFile {
            path: path.into(),
            contents: OutputContents::Kept(text.as_bytes().to_vec(), from),
        };
        // Taken as read from a's file: left as it is, unread (`kept_pages`
        // vouches for the bytes). New bytes said to be read from b's file
        // when it had a third name, or from a's file for c: written.
        let a = id("a/index.html");
        let files = [
            kept("a/index.html", "a", a),
            kept("b/index.html", "b, new", FileId { links: 3, ..id("b/index.html") }),
            kept("c/index.html", "c, new", a),
        ];
        let staging = Staging::begin(&out, files.iter().map(|f| f.path.as_str())).unwrap();
        files.iter().try_for_each(|f| staging.put(f)).unwrap();
        staging.commit().unwrap();
        assert_eq!(tree(&out), expected(&files));
        assert_eq!(id("a/index.html"), a, "the same file");
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
        // Now the sibling holds the file with the other name: not kept either.
        write_site(&out, &[file("index.html", "built")]).unwrap();
        write_site(&out, &[file("index.html", "built")]).unwrap();
        fs::write(&elsewhere, "changed elsewhere").unwrap();
        assert_eq!(fs::read_to_string(out.join("index.html")).unwrap(), "built");
    }

    #[test]
    fn files_put_into_the_site_by_hand_are_named_before_a_build_replaces_them() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        // The first build only (no build before it kept beside it), with a
        // page the next build drops (a post deleted since): site-gen's own.
        write_site(&out, &[file("index.html", "i"), file("news/new/index.html", "n")]).unwrap();
        fs::write(out.join("google123.html"), "google-site-verification").unwrap();
        fs::create_dir(out.join("images")).unwrap();
        fs::write(out.join("images/map.svg"), "<svg/>").unwrap();
        let staging = Staging::begin(&out, ["index.html"]).unwrap();
        let mut strays = staging.maybe_strays.clone();
        strays.sort();
        assert_eq!(strays, ["google123.html", "images/map.svg"]);
        drop(staging);
        let one = String::from("google123.html");
        let found = tmp.path().join("found-in-public");
        let text = strays_warning(&[&one], &out, &found, &[]);
        assert!(
            text.contains(&format!(
                "google123.html was not made by site-gen, and this build does not have it: it is kept in {}; ",
                found.display()
            )),
            "{text}"
        );
        assert!(text.contains("put it under static/ (static/google123.html), which every build copies"), "{text}");
        // A `.env` put there is not told to go under static/, which leaves
        // it out (the diff review).
        let env = String::from(".env");
        let private = strays_warning(&[&env], &out, &found, &[]);
        assert!(
            private.contains("such a file is never published, from static/ either") && !private.contains("static/.env")
        );
        let failed = strays_warning(&[&one], &out, &found, &["google123.html (denied)".to_string()]);
        assert!(
            failed.contains(&format!(
                "except google123.html (denied), which only {} holds until the next build: copy it from there",
                sibling_of(&out).display()
            )),
            "{failed}"
        );
        // Built over, they are copied beside the site, where no build
        // deletes them, and kept in the sibling until the next build.
        write_site(&out, &[file("index.html", "i")]).unwrap();
        assert!(sibling_of(&out).join("google123.html").is_file());
        assert_eq!(fs::read_to_string(found.join("google123.html")).unwrap(), "google-site-verification");
        assert_eq!(fs::read_to_string(found.join("images/map.svg")).unwrap(), "<svg/>");
        // The list holds each of the build's files, itself included.
        let listed = read_build_files(&fs::read(out.join(BUILD_FILES)).unwrap()).unwrap();
        let names = ["index.html", BUILD_MARKER, ".assetsignore", BUILD_FILES];
        assert_eq!(
            listed,
            build_files_list(names)
                .chunks_exact(8)
                .skip(1)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect::<Vec<_>>()
        );
        assert!(read_build_files(b"not a list").is_none());
        // Permissions or times changed by a deploy script name nothing.
        write_site(&out, &[file("index.html", "i"), file("a.html", "a")]).unwrap();
        let index = out.join("index.html");
        fs::set_permissions(&index, fs::metadata(&index).unwrap().permissions()).unwrap();
        assert!(Staging::begin(&out, ["index.html"]).unwrap().maybe_strays.is_empty());
        // The build after: the sibling lost them, the copies did not.
        assert!(!sibling_of(&out).join("google123.html").exists(), "the sibling is the build before now");
        assert_eq!(fs::read_to_string(found.join("google123.html")).unwrap(), "google-site-verification");
    }

    /// A link or a named pipe among the files put in by hand neither stops
    /// the others being kept nor hangs the build (a review: the copy gave
    /// up at the first, and opening a pipe waits for a writer).
    #[test]
    #[cfg(unix)]
    fn files_put_in_by_hand_are_kept_whatever_else_is_among_them() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        write_site(&out, &[file("index.html", "i")]).unwrap();
        fs::create_dir(tmp.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("elsewhere"), out.join("aaa-linkdir")).unwrap();
        let made = std::process::Command::new("mkfifo").arg(out.join("mmm-pipe")).status().unwrap();
        assert!(made.success());
        fs::write(out.join("zzz-google.html"), "verification").unwrap();
        let strays: Vec<String> = ["aaa-linkdir", "mmm-pipe", "zzz-google.html"].map(String::from).into();
        let refs: Vec<&String> = strays.iter().collect();
        let found = tmp.path().join("found-in-public");
        let failed = keep_strays(&refs, &out, &found);
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(failed[0].starts_with("mmm-pipe (neither a file nor a link"), "{failed:?}");
        assert_eq!(fs::read_to_string(found.join("zzz-google.html")).unwrap(), "verification");
        assert_eq!(fs::read_link(found.join("aaa-linkdir")).unwrap(), tmp.path().join("elsewhere"));
        // Kept again by a later build: the newer replaces the older (made
        // anew, as a build makes a changed file: never written into).
        fs::remove_file(out.join("zzz-google.html")).unwrap();
        fs::write(out.join("zzz-google.html"), "newer").unwrap();
        let refs: Vec<&String> = strays.iter().filter(|s| s.ends_with(".html")).collect();
        assert!(keep_strays(&refs, &out, &found).is_empty());
        assert_eq!(fs::read_to_string(found.join("zzz-google.html")).unwrap(), "newer");
    }

    #[test]
    fn a_file_changed_by_hand_in_the_old_build_is_written_afresh() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        for _ in 0..3 {
            write_site(&out, &[file("index.html", "built"), file("a/index.html", "a")]).unwrap();
        }
        // Written into in place: the sibling's file, the same one, changes too.
        fs::write(out.join("index.html"), "edited").unwrap();
        fs::write(sibling_of(&out).join("a/index.html"), "edited in the sibling").unwrap();
        write_site(&out, &[file("index.html", "built"), file("a/index.html", "a")]).unwrap();
        assert_eq!(tree(&out), expected(&[file("index.html", "built"), file("a/index.html", "a")]));
    }

    /// Whatever the sibling holds (an earlier build's files and folders, a
    /// folder where a file goes and the other way round, a killed build's
    /// leftovers, a symbolic link), the new build is exactly its files.
    #[test]
    fn the_sibling_is_brought_to_exactly_the_new_build() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        let builds: [Vec<OutputFile>; 3] = [
            vec![file("a/x.html", "x"), file("b/index.html", "b"), file("c", "c"), file("d/e/f.html", "f")],
            vec![file("a", "a is a file"), file("c/index.html", "c is a folder"), file("d/e/f.html", "f")],
            vec![file("a/x.html", "x again"), file("c", "c"), file("d/g.html", "g")],
        ];
        for round in 0..2 {
            for files in &builds {
                write_site(&out, files).unwrap();
                assert_eq!(tree(&out), expected(files), "round {round}");
            }
        }
        let sibling = sibling_of(&out);
        fs::write(sibling.join("left-over.tmp"), "junk").unwrap();
        fs::create_dir_all(sibling.join("zz/yy")).unwrap();
        fs::write(sibling.join("zz/yy/index.html"), "junk").unwrap();
        fs::write(tmp.path().join("secret"), "secret").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(tmp.path().join("secret"), sibling.join("d/g.html")).unwrap();
        write_site(&out, &builds[2]).unwrap();
        assert_eq!(tree(&out), expected(&builds[2]));
        assert_eq!(fs::read_to_string(tmp.path().join("secret")).unwrap(), "secret");
    }

    /// A shop's own `.gitignore` (from `static/`, or made by hand in
    /// `public/`) is a file like any other: every build succeeds, `public/`
    /// has the shop's, and the sibling has site-gen's.
    #[test]
    fn a_gitignore_in_the_build_or_in_public_is_the_shops() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        let build = |n: &str| vec![file("index.html", n), file(".gitignore", "*.psd\n")];
        for n in ["one", "two", "three"] {
            write_site(&out, &build(n)).unwrap();
            assert_eq!(tree(&out), expected(&build(n)));
        }
        let ours = fs::read_to_string(sibling_of(&out).join(".gitignore")).unwrap();
        assert_eq!(ours, SIBLING_GITIGNORE.1);
        fs::write(out.join(".gitignore"), "mine\n").unwrap();
        write_site(&out, &[file("index.html", "four")]).unwrap();
        assert_eq!(tree(&out), expected(&[file("index.html", "four")]));
    }

    /// A symbolic link, a file or a folder of someone else's where the
    /// sibling goes: refused, and nothing is written anywhere.
    #[test]
    #[cfg(unix)]
    fn a_sibling_that_is_not_sites_gens_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        write_site(&out, &[file("index.html", "good")]).unwrap();
        let sibling = sibling_of(&out);
        let before = tree(&out);
        let attempt = || write_site(&out, &[file("index.html", "bad"), file("b/index.html", "b")]);
        std::os::unix::fs::symlink("public", &sibling).unwrap();
        assert!(matches!(attempt(), Err(OutputError::SiblingNotOurs(_))));
        fs::remove_file(&sibling).unwrap();
        fs::write(&sibling, "a file").unwrap();
        assert!(matches!(attempt(), Err(OutputError::SiblingNotOurs(_))));
        fs::remove_file(&sibling).unwrap();
        fs::create_dir(&sibling).unwrap();
        fs::write(sibling.join("notes.txt"), "mine").unwrap();
        assert!(matches!(attempt(), Err(OutputError::SiblingNotOurs(_))));
        assert_eq!(tree(&sibling), [("notes.txt".to_string(), "mine".to_string())]);
        assert_eq!(tree(&out), before);
        let message = attempt().unwrap_err().to_string();
        assert!(message.contains(".public.prev") && message.contains("move it away"), "{message}");
    }

    /// `public` a symbolic link to the folder a web server reads: builds
    /// replace that folder (beside it), the link stays, and a failed build
    /// leaves the folder as it was.
    #[test]
    #[cfg(unix)]
    fn an_out_folder_that_is_a_symbolic_link_is_built_where_it_points() {
        let tmp = tempfile::tempdir().unwrap();
        let www = tmp.path().join("www");
        write_site(&www, &[file("index.html", "v1")]).unwrap();
        let out = tmp.path().join("shop/public");
        fs::create_dir_all(out.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&www, &out).unwrap();
        for v in ["v2", "v3"] {
            write_site(&out, &[file("index.html", v)]).unwrap();
            assert!(fs::symlink_metadata(&out).unwrap().is_symlink());
            assert_eq!(tree(&www), expected(&[file("index.html", v)]));
        }
        let missing = OutputFile { path: "x.css".into(), contents: OutputContents::Copy(tmp.path().join("nope")) };
        assert!(write_site(&out, &[file("index.html", "v4"), file("new/index.html", "n"), missing]).is_err());
        assert_eq!(tree(&www), expected(&[file("index.html", "v3")]));
        assert_eq!(names_in(tmp.path()), [".www.prev", "shop", "www"]);
        assert_eq!(names_in(&tmp.path().join("shop")), ["public"]);
    }

    /// A folder of `public/` that is a symbolic link (made by hand): no file
    /// reached through it is shared with the new build.
    #[test]
    #[cfg(unix)]
    fn nothing_is_linked_through_a_symbolic_link_in_public() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        let mine = tmp.path().join("mine");
        fs::create_dir(&mine).unwrap();
        fs::write(mine.join("logo.svg"), "<svg/>").unwrap();
        write_site(&out, &[file("index.html", "i")]).unwrap();
        std::os::unix::fs::symlink(&mine, out.join("img")).unwrap();
        let files = [file("index.html", "i"), file("img/logo.svg", "<svg/>")];
        write_site(&out, &files).unwrap();
        assert!(fs::symlink_metadata(out.join("img")).unwrap().is_dir());
        assert_ne!(
            fs::metadata(out.join("img/logo.svg")).unwrap().ino(),
            fs::metadata(mine.join("logo.svg")).unwrap().ino()
        );
        fs::write(mine.join("logo.svg"), "<svg>changed by hand</svg>").unwrap();
        assert_eq!(tree(&out), expected(&files));
    }

    /// The search index's files come late ([`Staging::put_more`]): into a
    /// folder a page's file is alone in, and where the sibling has a folder
    /// or a file in the way.
    #[test]
    fn late_files_share_folders_and_replace_what_is_in_the_way() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        let run = |late: Vec<OutputFile>| -> Result<(), OutputError> {
            let staging = Staging::begin(&out, ["index.html", "pagefind/pagefind-ui.css"])?;
            staging.put(&file("index.html", "i"))?;
            staging.put_more(&late)?;
            staging.put(&file("pagefind/pagefind-ui.css", "css"))?;
            staging.commit().map(drop)
        };
        let builds = [
            vec![file("pagefind/x/y", "y"), file("pagefind/z", "z")],
            vec![file("pagefind/x", "x is a file"), file("pagefind/z/w", "z is a folder")],
            vec![file("pagefind/x/y", "y")],
        ];
        for round in 0..2 {
            for late in &builds {
                run(late.clone()).unwrap_or_else(|e| panic!("round {round}: {e}"));
                let mut all = late.clone();
                all.extend([file("index.html", "i"), file("pagefind/pagefind-ui.css", "css")]);
                assert_eq!(tree(&out), expected(&all), "round {round}");
            }
        }
    }

    /// A build without `public/` over a kept sibling; a name that is not
    /// UTF-8 in the sibling (no build has one) is deleted.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_kept_sibling_without_public_and_strange_names() {
        use std::os::unix::ffi::OsStrExt;
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        write_site(&out, &[file("index.html", "one"), file("a/index.html", "a")]).unwrap();
        write_site(&out, &[file("index.html", "two")]).unwrap();
        fs::remove_dir_all(&out).unwrap();
        let strange = sibling_of(&out).join(std::ffi::OsStr::from_bytes(b"bad-\xff-name"));
        fs::write(&strange, "x").unwrap();
        write_site(&out, &[file("index.html", "three")]).unwrap();
        assert_eq!(tree(&out), expected(&[file("index.html", "three")]));
        assert_eq!(fs::read_dir(&out).unwrap().count(), 4, "no strange name left");
        assert_eq!(names_in(tmp.path()), ["public"]);
    }

    /// Two builds into one folder at once: each waits for the other, and the
    /// folder holds one whole build.
    #[test]
    fn builds_at_once_take_turns() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("public");
        let build = |who: &str, n: usize| -> Vec<OutputFile> {
            (0..30).map(|i| file(&format!("p/{i}/index.html"), &format!("{who} {n}"))).collect()
        };
        std::thread::scope(|scope| {
            for who in ["first", "second"] {
                let out = &out;
                scope.spawn(move || {
                    for n in 0..15 {
                        write_site(out, &build(who, n)).unwrap();
                    }
                });
            }
        });
        let pages = tree(&out);
        let last = &pages.iter().find(|(p, _)| p == "p/0/index.html").unwrap().1;
        let (who, n) = last.split_once(' ').unwrap();
        assert_eq!(pages, expected(&build(who, n.parse().unwrap())));
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
