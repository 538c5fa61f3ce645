//! Any bytes as a clip, a news post and a page: the content parser (front
//! matter split, TOML, every field's checks, Markdown) answers with an item
//! or diagnostics, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use site_gen::content::load::{parse_source, ContentKind};
use site_gen::front_matter::SourceFile;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    for (dir, kind) in [("clips", ContentKind::Clip), ("news", ContentKind::Post), ("pages", ContentKind::Page)] {
        let file = SourceFile { display: format!("content/{dir}/fuzz-item.md").into(), text: text.clone() };
        if let Err(diagnostics) = parse_source(&file, kind) {
            // Every diagnostic can be shown (its line is within the file).
            for d in diagnostics {
                let _ = d.to_string();
            }
        }
    }
});
