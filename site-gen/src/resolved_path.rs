//! A path as the file system reads it, for comparing where two paths lead
//! (an output folder against the shop's sources, or against a folder a
//! deploy publishes), whether or not the path exists yet.

use std::path::{Component, Path, PathBuf};

/// `path` made absolute, with `.` and `..` taken away, and every symbolic
/// link on the way resolved (the path may not exist yet, nor any part of
/// it), so that a link to `content/` or `public/`, or such a folder a link
/// itself, is seen for what it is. Component by component: a link after a
/// `..` that climbs out of a folder not yet made is resolved too
/// (`new/../to-content/site` is `content/site`).
pub fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut resolved = PathBuf::new();
    for c in absolute.components() {
        match c {
            // What is resolved so far is real where it exists: its parent
            // is the one the file system would climb to.
            Component::ParentDir => _ = resolved.pop(),
            Component::CurDir => {}
            c => {
                resolved.push(c);
                if let Ok(real) = resolved.canonicalize() {
                    resolved = real;
                }
            }
        }
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_in_the_existing_part_are_followed_and_the_rest_tidied() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(base.join("shop/content")).unwrap();
        assert_eq!(resolved(&base.join("shop/./x/../content/new")), base.join("shop/content/new"));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(base.join("shop/content"), base.join("link")).unwrap();
            assert_eq!(resolved(&base.join("link/site/a")), base.join("shop/content/site/a"), "through a link");
            // `..` after a link is the link target's parent, as the file system reads it.
            assert_eq!(resolved(&base.join("link/../static")), base.join("shop/static"));
            // A link after climbing out of a folder not made yet.
            assert_eq!(resolved(&base.join("new/../link/site")), base.join("shop/content/site"));
        }
    }
}
