//! Build script: names the source site-gen is made from (its `src/`, its
//! `Cargo.toml`, the workspace's `Cargo.lock`, which pins pulldown-cmark,
//! and the crates kept in `vendor/`, which it does not pin: Tera and
//! Pagefind) in `SITE_GEN_SOURCE_ID`. What a build keeps between builds
//! in a shop's `.site-gen/` (rendered Markdown, the search index) carries
//! it, so a site-gen made from other source never reads it
//! (`markdown_cache::program_id`).

use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};

fn main() {
    let mut files = Vec::new();
    collect(Path::new("src"), &mut files);
    collect(Path::new("../vendor"), &mut files);
    files.sort();
    files.extend(["Cargo.toml", "../Cargo.lock"].map(PathBuf::from));
    // SipHash with fixed keys: the same source gives the same id in one
    // toolchain; another toolchain may give another, which only starts
    // the caches afresh.
    let mut h = DefaultHasher::new();
    for file in &files {
        if let Ok(bytes) = std::fs::read(file) {
            h.write(file.to_string_lossy().as_bytes());
            h.write_usize(bytes.len());
            h.write(&bytes);
        }
    }
    println!("cargo:rustc-env=SITE_GEN_SOURCE_ID={:016x}", h.finish());
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=../Cargo.lock");
    println!("cargo:rerun-if-changed=../vendor");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}
