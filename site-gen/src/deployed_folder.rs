//! The folders `wrangler deploy` publishes from a shop (`public/`, and the
//! `[assets] directory` its `wrangler.toml` names): a build or a preview
//! with drafts never writes there, so that a deploy cannot put a draft, or
//! an item dated later, on the public site.

use std::path::{Path, PathBuf};

use crate::resolved_path::resolved;

/// Where a build with `--drafts` goes when no `--out` is given: the folder
/// `site-gen serve --drafts` previews from, so that serve starts from it.
pub fn drafts_default(root: &Path) -> PathBuf {
    root.join(".site-gen").join("preview-drafts")
}

/// The folders a deploy of the shop at `root` publishes: `public/`, and the
/// `[assets] directory` of `wrangler.toml` at the root or in `edge-worker/`
/// (relative to that file), as they are written, whether or not they exist.
pub fn deployed_folders(root: &Path) -> Vec<PathBuf> {
    let mut folders = vec![root.join(crate::DEFAULT_OUT)];
    for config in [root.join("wrangler.toml"), root.join("edge-worker").join("wrangler.toml")] {
        let Ok(text) = std::fs::read_to_string(&config) else { continue };
        let Ok(table) = text.parse::<toml::Table>() else { continue };
        let directory = table.get("assets").and_then(|a| a.get("directory")).and_then(toml::Value::as_str);
        if let (Some(directory), Some(dir)) = (directory, config.parent()) {
            folders.push(dir.join(directory));
        }
    }
    folders
}

/// The deployed folder that `out` is, or lies in, when drafts would be
/// written there; None when `out` is a folder of its own.
pub fn drafts_would_be_deployed(root: &Path, out: &Path) -> Option<PathBuf> {
    let out = resolved(out);
    deployed_folders(root).iter().map(|f| resolved(f)).find(|folder| out.starts_with(folder))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_the_folder_wrangler_deploys_take_no_drafts() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("shop");
        std::fs::create_dir_all(root.join("edge-worker")).unwrap();
        std::fs::write(root.join("edge-worker/wrangler.toml"), "name = \"w\"\n[assets]\ndirectory = \"../site\"\n")
            .unwrap();
        assert_eq!(drafts_would_be_deployed(&root, &root.join("public")), Some(root.join("public")));
        assert_eq!(
            drafts_would_be_deployed(&root, &root.join("public/preview")),
            Some(root.join("public")),
            "inside it is published too"
        );
        assert_eq!(
            drafts_would_be_deployed(&root, &root.join("other/../site")),
            Some(root.join("site")),
            "the assets directory of edge-worker/wrangler.toml, `..` taken away"
        );
        assert_eq!(drafts_would_be_deployed(&root, &root.join("public-drafts")), None, "a folder of its own");
        assert_eq!(drafts_would_be_deployed(&root, &drafts_default(&root)), None);
        assert_eq!(drafts_would_be_deployed(&root, &tmp.path().join("public")), None, "outside the shop");
    }

    /// A symbolic link to `public/`, or `public/` a link to a folder
    /// elsewhere: the drafts would be deployed all the same.
    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("shop");
        std::fs::create_dir_all(root.join("public")).unwrap();
        std::os::unix::fs::symlink(root.join("public"), tmp.path().join("link")).unwrap();
        assert!(drafts_would_be_deployed(&root, &tmp.path().join("link/new")).is_some());
        let other = tempfile::tempdir().unwrap();
        let elsewhere = other.path().join("site");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::remove_dir(root.join("public")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join("public")).unwrap();
        assert!(drafts_would_be_deployed(&root, &elsewhere).is_some(), "public/ is a link to it");
        assert_eq!(drafts_would_be_deployed(&root, &other.path().join("preview")), None);
        // `..` after a link is the link target's parent, as the system reads it.
        std::fs::create_dir_all(other.path().join("deep/er")).unwrap();
        std::os::unix::fs::symlink(other.path().join("deep/er"), tmp.path().join("er")).unwrap();
        assert!(drafts_would_be_deployed(&root, &tmp.path().join("er/../../site")).is_some(), "other/deep/../site");
    }

    #[test]
    fn a_root_written_another_way_is_the_same_shop() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("shop/./content/..");
        assert_eq!(
            drafts_would_be_deployed(&root, &tmp.path().join("shop/public")),
            Some(tmp.path().join("shop/public"))
        );
    }
}
