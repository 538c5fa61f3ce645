//! What `site-gen media` wrote where (`.site-gen/media-made`): for each site
//! path (`/posters/x.jpg`), the clip it was made for and the size, time and
//! sha256 of the last file media put there. A file there with other bytes
//! was put there by the owner and is theirs from then on. Noted the moment
//! the file is in place (and, before it is written, that it is being
//! written), not with the rest of `.site-gen/media.json` at the end of a
//! run, so that a run stopped halfway (an encode that failed, Ctrl-C) still
//! tells its own files from the owner's.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

/// Where the notes are kept, relative to the shop's root.
pub const MADE_FILE: &str = ".site-gen/media-made";

/// What media last did at a site path, and for which clip.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Made {
    clip: String,
    /// None: being written when the run stopped.
    file: Option<(String, u64, u64)>,
}

/// The notes of earlier runs, and those of this one.
pub struct MadeLog {
    path: PathBuf,
    last: HashMap<String, Made>,
    noted: Mutex<HashMap<String, Made>>,
    /// Site paths that several clips name, and the one clip media makes
    /// each for ([`MadeLog::share`]).
    shared: HashMap<String, String>,
    /// The shop's clips now ([`MadeLog::shop_clips`]): what media made for
    /// a clip no longer among them (its file renamed) is the renamed
    /// clip's to make again.
    clips: Option<std::collections::HashSet<String>>,
}

/// Whose a file at a site path is, for one clip.
#[derive(Debug, PartialEq, Eq)]
pub enum Whose {
    /// Media never noted writing there for this clip.
    Unknown,
    /// The bytes media last wrote there for this clip (or media was
    /// writing it when a run stopped).
    Media,
    /// Other bytes than media last wrote there.
    Owner,
}

fn size_and_time(file: &Path) -> Option<(u64, u64)> {
    let meta = fs::metadata(file).ok()?;
    let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some((meta.len(), modified))
}

/// A note's line: `clip sha256 size time path` (`-` for a file being
/// written); the path last, so that it may hold spaces.
fn line(site_path: &str, made: &Made) -> String {
    match &made.file {
        Some((sha256, size, modified)) => format!("{} {sha256} {size} {modified} {site_path}\n", made.clip),
        None => format!("{} - 0 0 {site_path}\n", made.clip),
    }
}

fn parse(line: &str) -> Option<(String, Made)> {
    let mut parts = line.splitn(5, ' ');
    let (clip, sha256, size, modified, site_path) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let file = match sha256 {
        "-" => None,
        _ => Some((sha256.to_string(), size.parse().ok()?, modified.parse().ok()?)),
    };
    Some((site_path.to_string(), Made { clip: clip.to_string(), file }))
}

impl MadeLog {
    /// The notes kept in the shop at `root` (none when there are none; a
    /// damaged line is skipped; a file that cannot be read is warned of).
    pub fn open(root: &Path) -> MadeLog {
        let path = root.join(MADE_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                eprintln!(
                    "warning: could not read {}: {e}; files media made before are taken for yours this run",
                    path.display()
                );
                String::new()
            }
        };
        let last = text.lines().filter_map(parse).collect();
        MadeLog { path, last, noted: Mutex::new(HashMap::new()), shared: HashMap::new(), clips: None }
    }

    fn latest(&self, site_path: &str) -> Option<Made> {
        let noted = self.noted.lock().unwrap().get(site_path).cloned();
        noted.or_else(|| self.last.get(site_path).cloned())
    }

    /// Whose the file `file` at `site_path` is, for the clip `clip`. Hashed
    /// only when its size or time differ from what media noted.
    /// What media made for a clip the shop no longer has (its file was
    /// renamed, so its slug changed) counts as made for `clip`: a renamed
    /// clip's preview was taken for the owner's, and kept its old watermark.
    pub fn whose(&self, clip: &str, site_path: &str, file: &Path) -> std::io::Result<Whose> {
        let gone = |other: &str| self.clips.as_ref().is_some_and(|clips| !clips.contains(other));
        let Some(made) = self.latest(site_path).filter(|m| m.clip == clip || gone(&m.clip)) else {
            return Ok(Whose::Unknown);
        };
        let Some((sha256, size, modified)) = made.file else { return Ok(Whose::Media) };
        if size_and_time(file) == Some((size, modified)) {
            return Ok(Whose::Media);
        }
        let (_, now) = crate::push::hash_file(file)?;
        Ok(if now == sha256 { Whose::Media } else { Whose::Owner })
    }

    /// Settles, before a run, which clip media makes a path for that
    /// several clips name (`named`: each clip's paths, in slug order): the
    /// one it was last made for, else the first; so that one run does not
    /// encode the same file twice, side by side.
    pub fn share<'a>(&mut self, named: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut namers: HashMap<&str, Vec<&str>> = HashMap::new();
        for (clip, site_path) in named {
            let clips = namers.entry(site_path).or_default();
            if !clips.contains(&clip) {
                clips.push(clip);
            }
        }
        for (site_path, clips) in namers.into_iter().filter(|(_, clips)| clips.len() > 1) {
            let last = self.last.get(site_path).map(|m| m.clip.as_str()).filter(|c| clips.contains(c));
            let maker = last.unwrap_or(clips[0]).to_string();
            self.shared.insert(site_path.to_string(), maker);
        }
    }

    /// Tells the log which clips the shop has now (their slugs).
    pub fn shop_clips<'a>(&mut self, slugs: impl IntoIterator<Item = &'a str>) {
        self.clips = Some(slugs.into_iter().map(str::to_string).collect());
    }

    /// The other clip media makes `site_path` for, when `clip` shares it.
    pub fn made_for_another(&self, clip: &str, site_path: &str) -> Option<&str> {
        self.shared.get(site_path).map(String::as_str).filter(|maker| *maker != clip)
    }

    /// Notes that media is about to write `site_path` for `clip`.
    pub fn writing(&self, clip: &str, site_path: &str) -> std::io::Result<()> {
        self.append(site_path, Made { clip: clip.to_string(), file: None })
    }

    /// Notes that media has just put `file` at `site_path` for `clip`.
    pub fn wrote(&self, clip: &str, site_path: &str, file: &Path) -> std::io::Result<()> {
        let (_, sha256) = crate::push::hash_file(file)?;
        let (size, modified) = size_and_time(file).ok_or_else(|| std::io::Error::other("no size or time"))?;
        self.append(site_path, Made { clip: clip.to_string(), file: Some((sha256, size, modified)) })
    }

    /// Appends a note at once. A path with a line break cannot be noted
    /// (media writes none: `plain_site_path`); a note that cannot be
    /// written is warned of (a later run would leave that file as if it
    /// were the owner's).
    fn append(&self, site_path: &str, made: Made) -> std::io::Result<()> {
        if site_path.contains(|c: char| c.is_control()) || made.clip.contains(|c: char| c.is_whitespace()) {
            return Err(std::io::Error::other(format!("{site_path:?} cannot be noted")));
        }
        let mut noted = self.noted.lock().unwrap();
        let appended = self.path.parent().map_or(Ok(()), fs::create_dir_all).and_then(|()| {
            let mut out = fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
            out.write_all(line(site_path, &made).as_bytes())
        });
        if let Err(e) = appended {
            eprintln!(
                "warning: could not note in {} what media made at {site_path}: {e}; a later run would leave that file \
                 as if it were yours",
                self.path.display()
            );
        }
        noted.insert(site_path.to_string(), made);
        Ok(())
    }

    /// Rewrites the notes with the last of each path (the file only grows
    /// between two runs that finish).
    pub fn compact(&self) {
        let mut all = self.last.clone();
        all.extend(self.noted.lock().unwrap().drain());
        let mut lines: Vec<String> = all.iter().map(|(p, m)| line(p, m)).collect();
        lines.sort();
        crate::kept::warn_if_unsaved(
            &self.path,
            "what media made",
            crate::kept::write(&self.path, lines.concat().as_bytes()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_two_clips_name_is_made_for_one() {
        let root = tempfile::tempdir().unwrap();
        let mut log = MadeLog::open(root.path());
        log.share([("a", "/p/a.jpg"), ("a", "/p/x.jpg"), ("b", "/p/b.jpg"), ("c", "/p/x.jpg"), ("c", "/p/x.jpg")]);
        assert_eq!(log.made_for_another("c", "/p/x.jpg"), Some("a"), "the first, by slug");
        assert_eq!(log.made_for_another("a", "/p/x.jpg"), None);
        assert_eq!(log.made_for_another("b", "/p/b.jpg"), None, "not shared");
        // Made for `c` the last time: still `c`'s.
        fs::write(root.path().join("x.jpg"), b"jpeg").unwrap();
        log.wrote("c", "/p/x.jpg", &root.path().join("x.jpg")).unwrap();
        let mut next = MadeLog::open(root.path());
        next.share([("a", "/p/x.jpg"), ("c", "/p/x.jpg")]);
        assert_eq!(next.made_for_another("a", "/p/x.jpg"), Some("c"));
        assert_eq!(next.made_for_another("c", "/p/x.jpg"), None);
    }

    #[test]
    fn a_file_media_wrote_for_a_clip_is_its_own_until_other_bytes_are_put_there() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("p.jpg");
        fs::write(&file, b"made by media").unwrap();
        let log = MadeLog::open(root.path());
        assert_eq!(log.whose("a", "/posters/my p.jpg", &file).unwrap(), Whose::Unknown);
        log.writing("a", "/posters/my p.jpg").unwrap();
        assert_eq!(log.whose("a", "/posters/my p.jpg", &file).unwrap(), Whose::Media, "being written");
        log.wrote("a", "/posters/my p.jpg", &file).unwrap();
        assert_eq!(log.whose("a", "/posters/my p.jpg", &file).unwrap(), Whose::Media);
        assert_eq!(log.whose("b", "/posters/my p.jpg", &file).unwrap(), Whose::Unknown, "not another clip's");
        // Noted at once: a run stopped before it compacts still knows it.
        let next = MadeLog::open(root.path());
        assert_eq!(next.whose("a", "/posters/my p.jpg", &file).unwrap(), Whose::Media);
        fs::write(&file, b"the owner's own still").unwrap();
        assert_eq!(next.whose("a", "/posters/my p.jpg", &file).unwrap(), Whose::Owner);
        // The same bytes written again (another time): still media's.
        fs::write(&file, b"made by media").unwrap();
        let t = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        fs::File::options().write(true).open(&file).unwrap().set_modified(t).unwrap();
        assert_eq!(next.whose("a", "/posters/my p.jpg", &file).unwrap(), Whose::Media);
        assert!(next.writing("a", "/posters/x\ny.jpg").is_err(), "a line break is never noted");
        // Compacted: one line a path, the last.
        fs::write(root.path().join("q.mp4"), b"preview").unwrap();
        next.wrote("a", "/previews/q.mp4", &root.path().join("q.mp4")).unwrap();
        next.wrote("a", "/previews/q.mp4", &root.path().join("q.mp4")).unwrap();
        next.compact();
        let text = fs::read_to_string(root.path().join(MADE_FILE)).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.lines().any(|l| l.ends_with(" /posters/my p.jpg")), "{text}");
        assert_eq!(
            MadeLog::open(root.path()).whose("a", "/previews/q.mp4", &root.path().join("q.mp4")).unwrap(),
            Whose::Media
        );
    }
}
