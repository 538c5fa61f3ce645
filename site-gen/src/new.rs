//! `site-gen new`: starts a post, clip or page with its front matter filled in.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::SITE_CONFIG;
use crate::content::load::{CLIPS_DIR, NEWS_DIR, PAGES_DIR, RESERVED_PAGE_SLUGS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Post,
    Clip,
    Page,
}

#[derive(Debug, thiserror::Error)]
pub enum NewError {
    #[error("the title \"{0}\" has no letters or digits to make a file name from")]
    EmptySlug(String),
    #[error("{0} already exists; pick another title or edit that file")]
    Exists(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{}", crate::no_shop_in(.0))]
    NoShop(PathBuf),
    #[error(
        "a page cannot be called `{0}`: /{0}/ is used by the shop itself; pick another title, like \"About the shop\""
    )]
    ReservedPage(String),
    #[error("{by} already has the address `{slug}` (its `slug` line): pick another title, or edit that file")]
    SlugTaken { slug: String, by: PathBuf },
    #[error("{by} already sells the file `{key}`: pick another title, or edit that file")]
    FileTaken { key: String, by: PathBuf },
}

/// The file among `dir`'s items (other than `<slug>.md`) whose front
/// matter takes `slug` with a `slug` line, or, for a clip, names `key` as
/// its file or a variant's: what `build` would refuse as a duplicate.
fn taken(dir: &Path, slug: &str, key: Option<&str>) -> Option<NewError> {
    let entries = fs::read_dir(dir).ok()?;
    let mut paths: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "md")).collect();
    paths.sort();
    paths.into_iter().find_map(|path| {
        let front = crate::front_matter::FrontMatter::table_of(&fs::read_to_string(&path).ok()?)?;
        if front.get("slug").and_then(toml::Value::as_str) == Some(slug) {
            return Some(NewError::SlugTaken { slug: slug.to_string(), by: path });
        }
        let key = key?;
        let variants = front.get("variants").and_then(toml::Value::as_array).into_iter().flatten();
        let mut files = [front.get("file")].into_iter().flatten().chain(variants.filter_map(|v| v.get("file")));
        files.any(|f| f.as_str() == Some(key)).then(|| NewError::FileTaken { key: key.to_string(), by: path })
    })
}

/// Writes the new file and returns its path.
pub fn create(root: &Path, kind: Kind, title: &str, now: DateTime<Utc>) -> Result<PathBuf, NewError> {
    let slug = slug::slugify(title);
    if slug.is_empty() {
        return Err(NewError::EmptySlug(title.to_string()));
    }
    let slug: String = slug.chars().take(64).collect::<String>().trim_end_matches('-').to_string();
    if !root.join(SITE_CONFIG).is_file() {
        return Err(NewError::NoShop(root.to_path_buf()));
    }
    if kind == Kind::Page && RESERVED_PAGE_SLUGS.contains(&slug.as_str()) {
        return Err(NewError::ReservedPage(slug));
    }
    let dir = root.join(match kind {
        Kind::Post => NEWS_DIR,
        Kind::Clip => CLIPS_DIR,
        Kind::Page => PAGES_DIR,
    });
    let path = dir.join(format!("{slug}.md"));
    if path.exists() {
        return Err(NewError::Exists(path));
    }
    let key = format!("clips/{slug}.mp4");
    if let Some(clash) = taken(&dir, &slug, (kind == Kind::Clip).then_some(key.as_str())) {
        return Err(clash);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| NewError::Io { path, source }
    };
    fs::create_dir_all(&dir).map_err(io(&dir))?;
    let text = template(kind, title, &slug, now);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| io::Write::write_all(&mut f, text.as_bytes()))
        .map_err(io(&path))?;
    Ok(path)
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn template(kind: Kind, title: &str, slug: &str, now: DateTime<Utc>) -> String {
    let date = now.format("%Y-%m-%d");
    // A download name cannot hold a folder (`/`, `\\`) and some systems
    // refuse `:` and the like: "Before/After: Harbour" is saved as
    // "Before-After - Harbour.mp4".
    let plain: String =
        title
            .replace(": ", " - ")
            .chars()
            .map(|c| {
                if matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') || c.is_control() {
                    '-'
                } else {
                    c
                }
            })
            .collect();
    // With the resolution of the template's `resolution` line, which
    // `site-gen media` corrects from the master (docs/content.md): beside
    // its smaller files, "Harbour (360p).mp4", the main file says its own.
    let file_name = toml_string(&format!("{} (1080p).mp4", plain.trim()));
    let title = toml_string(title);
    match kind {
        Kind::Post => format!(
            "+++\ntitle = {title}\ndate = {date}\ntags = []\n# A draft is left out of the site until you delete this line.\ndraft = true\n+++\n\nCHANGE-ME: the first paragraph is the summary shown in lists.\n\n<!-- more -->\n\nCHANGE-ME: the rest of the post.\n"
        ),
        Kind::Clip => format!(
            "+++\ntitle = {title}\ndate = {date}\nprice = 0.00             # CHANGE-ME: the price, in the shop's currency\nduration = \"0:00\"       # minutes:seconds\nresolution = \"1920x1080\"\nfile = \"clips/{slug}.mp4\"   # its name in the storage bucket\nfile_name = {file_name}   # what the customer's download is called\nsize = 0                 # bytes; `site-gen` needs the exact size\n# sha256 = \"\"            # optional: output of `sha256sum`\nposter = \"/posters/{slug}.jpg\"   # `site-gen media` makes it from the master\ntags = []\n# A draft is left out of the site until you delete this line.\ndraft = true\n+++\n\nCHANGE-ME: describe the clip: what is in the shot, and what it suits.\n"
        ),
        Kind::Page => format!("+++\ntitle = {title}\n+++\n\nCHANGE-ME: write the page here.\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An address or a file another item already has is refused before
    /// anything is written: `build` refused the new file as a duplicate, and
    /// `media` took another clip's variant for the new clip's master (a
    /// review).
    #[test]
    fn an_address_or_file_another_item_has_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("content/news")).unwrap();
        fs::create_dir_all(root.join("content/clips")).unwrap();
        fs::write(root.join("content/site.toml"), "title = \"S\"\n").unwrap();
        fs::write(root.join("content/news/hello.md"), "+++\ntitle = \"Hello\"\nslug = \"welcome\" # moved\n+++\n")
            .unwrap();
        let clip = "+++\ntitle = \"City\"\nfile = \"clips/city.mp4\"\n\n[[variants]]\nid = \"720p\"\nfile = \"clips/city-lights-720p.mp4\"\n+++\n";
        fs::write(root.join("content/clips/city.md"), clip).unwrap();
        let now = "2026-06-01T00:00:00Z".parse().unwrap();
        let post = create(root, Kind::Post, "Welcome", now).unwrap_err().to_string();
        assert!(post.contains("hello.md already has the address `welcome`"), "{post}");
        let clip = create(root, Kind::Clip, "City Lights 720p", now).unwrap_err().to_string();
        assert!(clip.contains("city.md already sells the file `clips/city-lights-720p.mp4`"), "{clip}");
        assert!(
            !root.join("content/news/welcome.md").exists() && !root.join("content/clips/city-lights-720p.md").exists()
        );
        assert!(create(root, Kind::Post, "Another", now).is_ok());
    }

    #[test]
    fn writes_each_kind_once() {
        let tmp = tempfile::tempdir().unwrap();
        let now = Utc::now();
        assert!(matches!(create(tmp.path(), Kind::Post, "Hello", now), Err(NewError::NoShop(_))));
        assert!(!tmp.path().join("content").exists(), "nothing written outside a shop");
        fs::create_dir_all(tmp.path().join("content")).unwrap();
        fs::write(tmp.path().join(SITE_CONFIG), "").unwrap();
        assert!(
            matches!(create(tmp.path(), Kind::Page, "Search", now), Err(NewError::ReservedPage(s)) if s == "search")
        );
        let p = create(tmp.path(), Kind::Post, "Spring \"Sale\" — 20% off", now).unwrap();
        assert!(p.ends_with("content/news/spring-sale-20-off.md"), "{p:?}");
        let text = fs::read_to_string(&p).unwrap();
        let fm: toml::Table = toml::from_str(text.split("+++").nth(1).unwrap()).unwrap();
        assert_eq!(fm["title"].as_str(), Some("Spring \"Sale\" — 20% off"));
        assert!(matches!(create(tmp.path(), Kind::Post, "Spring Sale 20% off", now), Err(NewError::Exists(_))));
        assert!(create(tmp.path(), Kind::Clip, "Harbor at Dawn", now)
            .unwrap()
            .ends_with("content/clips/harbor-at-dawn.md"));
        assert!(create(tmp.path(), Kind::Page, "About", now).unwrap().ends_with("content/pages/about.md"));
        assert!(matches!(create(tmp.path(), Kind::Page, "!!!", now), Err(NewError::EmptySlug(_))));
        // A title with a slash wrote a download name every build refused.
        let p = create(tmp.path(), Kind::Clip, "Before/After: Harbour", now).unwrap();
        let text = fs::read_to_string(&p).unwrap();
        let fm: toml::Table = toml::from_str(text.split("+++").nth(1).unwrap()).unwrap();
        assert_eq!(fm["file_name"].as_str(), Some("Before-After - Harbour (1080p).mp4"));
        let file = crate::content::load::read_source(tmp.path(), &p).unwrap();
        let parsed = crate::content::load::parse_source(&file, crate::content::load::ContentKind::Clip);
        assert!(parsed.is_ok(), "the new draft loads: {:?}", parsed.err());
        // Its starting text is a placeholder that `site-gen check` lists, in
        // every kind: a page is on the site from the next build.
        for dir in ["content/news", "content/clips", "content/pages"] {
            for entry in fs::read_dir(tmp.path().join(dir)).unwrap() {
                let text = fs::read_to_string(entry.unwrap().path()).unwrap();
                let body = text.rsplit("+++").next().unwrap();
                assert!(!crate::placeholders::lines_with_mark(body).is_empty(), "{dir}: {body}");
            }
        }
    }
}
