//! A path as the file system reads it, for comparing where two paths lead
//! (an output folder against the shop's sources, or against a folder a
//! deploy publishes), whether or not the path exists yet.

use std::path::{Component, Path, PathBuf};

/// `path` made absolute, with `.` and `..` taken away, and the symbolic
/// links in the part that exists resolved (the rest may not exist yet), so
/// that a link to `content/` or `public/`, or such a folder a link itself,
/// is seen for what it is.
pub fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let parts: Vec<Component> = absolute.components().collect();
    // The longest part as written that exists, resolved by the file system
    // (links first, then `..` as it reads them); the rest tidied by hand.
    let existing = (0..=parts.len()).rev().find(|&n| parts[..n].iter().collect::<PathBuf>().exists()).unwrap_or(0);
    let prefix: PathBuf = parts[..existing].iter().collect();
    let mut resolved = prefix.canonicalize().unwrap_or(prefix);
    for c in &parts[existing..] {
        match c {
            Component::ParentDir => _ = resolved.pop(),
            Component::CurDir => {}
            c => resolved.push(c),
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
        }
    }
}
