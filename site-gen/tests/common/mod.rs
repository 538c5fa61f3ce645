//! Helpers shared by site-gen's end-to-end tests.
#![allow(dead_code)]

pub mod http;

use std::fs;
use std::path::{Path, PathBuf};

/// The fixture shops under `tests/fixtures/`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Copies the folder `from` (a fixture shop) to `to`, recursively, without
/// what builds keep in `.site-gen/` (tests that build a fixture in place
/// write there while others copy it).
pub fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from).into_iter().filter_entry(|e| e.file_name() != ".site-gen") {
        let e = e.unwrap();
        let dest = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            fs::create_dir_all(&dest).unwrap();
        } else {
            fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// The records of the Pagefind index in the built site `out`: each
/// fragment file (gzip of `pagefind_dcd` and JSON) as its JSON, by page URL.
pub fn search_records(out: &Path) -> std::collections::BTreeMap<String, serde_json::Value> {
    use std::io::Read;
    let mut records = std::collections::BTreeMap::new();
    for e in fs::read_dir(out.join("pagefind/fragment")).expect("the index has fragments") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(fs::File::open(e.unwrap().path()).unwrap()).read_to_string(&mut text).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(text.strip_prefix("pagefind_dcd").expect("Pagefind's signature")).unwrap();
        records.insert(json["url"].as_str().unwrap().to_string(), json);
    }
    records
}
