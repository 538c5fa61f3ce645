//! What `site-gen media` wrote where (`.site-gen/media-made`): for each site
//! path (`/posters/x.jpg`), the size, time and sha256 of the last file it
//! put there, noted the moment the file is in place. A file there with
//! other bytes was put there by the owner and is theirs from then on. Noted
//! at once, not with the rest of `.site-gen/media.json` at the end of a run,
//! so that a run stopped halfway (an encode that failed, Ctrl-C) still
//! tells its own files from the owner's.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

/// Where the notes are kept, relative to the shop's root.
pub const MADE_FILE: &str = ".site-gen/media-made";

/// One file media wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Made {
    sha256: String,
    size: u64,
    modified: u64,
}

/// The notes of earlier runs, and those of this one.
pub struct MadeLog {
    path: PathBuf,
    last: HashMap<String, Made>,
    noted: Mutex<HashMap<String, Made>>,
}

/// Whose a file at a site path is.
#[derive(Debug, PartialEq, Eq)]
pub enum Whose {
    /// Media never noted writing there.
    Unknown,
    /// The bytes media last wrote there (their sha256).
    Media(String),
    /// Other bytes than media last wrote there.
    Owner,
}

fn size_and_time(file: &Path) -> Option<(u64, u64)> {
    let meta = fs::metadata(file).ok()?;
    let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some((meta.len(), modified))
}

impl MadeLog {
    /// The notes kept in the shop at `root` (none when absent or unreadable;
    /// a damaged line is skipped).
    pub fn open(root: &Path) -> MadeLog {
        let path = root.join(MADE_FILE);
        let mut last = HashMap::new();
        for line in fs::read_to_string(&path).unwrap_or_default().lines() {
            let mut parts = line.splitn(4, ' ');
            let (Some(sha256), Some(size), Some(modified), Some(site_path)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if let (Ok(size), Ok(modified)) = (size.parse(), modified.parse()) {
                last.insert(site_path.to_string(), Made { sha256: sha256.to_string(), size, modified });
            }
        }
        MadeLog { path, last, noted: Mutex::new(HashMap::new()) }
    }

    /// Whose the file `file` at `site_path` is. Hashed only when its size or
    /// time differ from what media noted.
    pub fn whose(&self, site_path: &str, file: &Path) -> std::io::Result<Whose> {
        let noted = self.noted.lock().unwrap().get(site_path).cloned();
        let Some(made) = noted.or_else(|| self.last.get(site_path).cloned()) else { return Ok(Whose::Unknown) };
        if size_and_time(file) == Some((made.size, made.modified)) {
            return Ok(Whose::Media(made.sha256));
        }
        let (_, sha256) = crate::push::hash_file(file)?;
        Ok(if sha256 == made.sha256 { Whose::Media(sha256) } else { Whose::Owner })
    }

    /// Notes that media has just put `file` at `site_path`; a note that
    /// cannot be written is warned of (a later run would take the file for
    /// the owner's and leave it).
    pub fn note(&self, site_path: &str, file: &Path) -> std::io::Result<()> {
        let (_, sha256) = crate::push::hash_file(file)?;
        let (size, modified) = size_and_time(file).ok_or_else(|| std::io::Error::other("no size or time"))?;
        let mut noted = self.noted.lock().unwrap();
        let appended = self.path.parent().map_or(Ok(()), fs::create_dir_all).and_then(|()| {
            let mut out = fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
            out.write_all(format!("{sha256} {size} {modified} {site_path}\n").as_bytes())
        });
        if let Err(e) = appended {
            eprintln!(
                "warning: could not note in {} what media made at {site_path}: {e}; a later run would leave that file \
                 as if it were yours",
                self.path.display()
            );
        }
        noted.insert(site_path.to_string(), Made { sha256, size, modified });
        Ok(())
    }

    /// Rewrites the notes with the last of each path (the file only grows
    /// between two runs that finish).
    pub fn compact(&self) {
        let mut all = self.last.clone();
        all.extend(self.noted.lock().unwrap().drain());
        let mut lines: Vec<String> =
            all.iter().map(|(p, m)| format!("{} {} {} {p}\n", m.sha256, m.size, m.modified)).collect();
        lines.sort();
        let _ = crate::kept::write(&self.path, lines.concat().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_media_wrote_is_its_own_until_other_bytes_are_put_there() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("p.jpg");
        fs::write(&file, b"made by media").unwrap();
        let log = MadeLog::open(root.path());
        assert_eq!(log.whose("/posters/p.jpg", &file).unwrap(), Whose::Unknown);
        log.note("/posters/p.jpg", &file).unwrap();
        assert!(matches!(log.whose("/posters/p.jpg", &file).unwrap(), Whose::Media(_)));
        // Noted at once: a run stopped before it compacts still knows it.
        let next = MadeLog::open(root.path());
        assert!(matches!(next.whose("/posters/p.jpg", &file).unwrap(), Whose::Media(_)));
        fs::write(&file, b"the owner's own still").unwrap();
        assert_eq!(next.whose("/posters/p.jpg", &file).unwrap(), Whose::Owner);
        // The same bytes written again (another time): still media's.
        fs::write(&file, b"made by media").unwrap();
        let t = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        fs::File::options().write(true).open(&file).unwrap().set_modified(t).unwrap();
        assert!(matches!(next.whose("/posters/p.jpg", &file).unwrap(), Whose::Media(_)));
        // Compacted: one line a path, the last.
        fs::write(root.path().join("q.mp4"), b"preview").unwrap();
        next.note("/previews/q.mp4", &root.path().join("q.mp4")).unwrap();
        next.note("/previews/q.mp4", &root.path().join("q.mp4")).unwrap();
        next.compact();
        let text = fs::read_to_string(root.path().join(MADE_FILE)).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(
            text.lines().any(|l| l.ends_with(" /posters/p.jpg"))
                && text.lines().any(|l| l.ends_with(" /previews/q.mp4"))
        );
    }
}
