//! Where the owner reads clipstore's guides (`docs/*.md`), for messages that
//! point to one. A shop made by `site-gen init` has no `docs/` folder: a
//! bare `docs/content.md` in a message would name a file the owner does not
//! have. The guides are in the clipstore checkout, so messages name them
//! there.

use std::path::Path;

/// The guide `docs/<doc>` as the owner can open it: its full path in the
/// clipstore checkout this site-gen was built in, while it is there; else
/// where to find it in words.
pub fn guide(doc: &str) -> String {
    guide_in(crate::init::clipstore_of_current_exe().as_deref(), doc)
}

/// [`guide`] for the clipstore checkout `clipstore`, if one is known.
pub fn guide_in(clipstore: Option<&Path>, doc: &str) -> String {
    match clipstore.map(|c| c.join("docs").join(doc)) {
        Some(path) if path.is_file() => path.display().to_string(),
        _ => format!("docs/{doc} in your clipstore checkout"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each guide a message names exists where the message says.
    #[test]
    fn the_guides_messages_name_are_found() {
        for doc in ["content.md", "templates.md", "monitoring.md", "mail.md", "payments.md", "deploy.md"] {
            let shown = guide(doc);
            assert!(Path::new(&shown).is_absolute() && Path::new(&shown).is_file(), "{shown}");
        }
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(guide_in(Some(tmp.path()), "mail.md"), "docs/mail.md in your clipstore checkout");
        assert_eq!(guide_in(None, "mail.md"), "docs/mail.md in your clipstore checkout");
    }
}
