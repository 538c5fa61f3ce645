//! Embeds the catalog manifest in the Worker at compile time.
//!
//! The manifest is read from `$CLIPSTORE_MANIFEST`, or by default
//! `../catalog-manifest.json` (what `site-gen build` writes next to `public/`,
//! outside the web root), validated with the same parser the Worker uses,
//! and copied without its layout whitespace (the module's size, see
//! docs/benchmarks.md) to `$OUT_DIR/catalog-manifest.json` for
//! `include_str!`. So the
//! Worker can never serve it, and a broken manifest fails the build, not a
//! customer's download.
//!
//! Only the wasm32 build needs it: host builds (`cargo test -p edge-worker`)
//! get an empty placeholder and do not depend on the site being built.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=CLIPSTORE_MANIFEST");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("catalog-manifest.json");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("wasm32") {
        // Host builds (unit tests, examples) never read the manifest.
        std::fs::write(&out, "").unwrap();
        return;
    }
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let path = match std::env::var_os("CLIPSTORE_MANIFEST") {
        Some(p) => manifest_dir.join(p),
        None => manifest_dir.join("../catalog-manifest.json"),
    };
    println!("cargo:rerun-if-changed={}", path.display());
    let json = match std::fs::read_to_string(&path) {
        Ok(json) => json,
        Err(e) => {
            eprintln!(
                "\nerror: cannot read the catalog manifest at {}: {e}\n\
                 Build the site first (`cargo run -p site-gen -- build --root . --out public`)\n\
                 or point CLIPSTORE_MANIFEST at a manifest file.\n",
                path.display()
            );
            std::process::exit(1);
        }
    };
    let manifest = match clipstore_core::CatalogManifest::from_json(&json) {
        Ok(manifest) => manifest,
        Err(e) => {
            eprintln!("\nerror: the catalog manifest at {} is invalid: {e}\n", path.display());
            std::process::exit(1);
        }
    };
    let compact = without_layout(&json);
    assert!(
        clipstore_core::CatalogManifest::from_json(&compact).ok() == Some(manifest),
        "the compacted manifest reads as the manifest"
    );
    std::fs::write(&out, compact).unwrap();
}

/// The JSON text without the whitespace between its tokens (strings are
/// copied as they are, escapes included).
fn without_layout(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            (in_string, escaped) = (escaped || c != '"', !escaped && c == '\\');
        } else if c == '"' {
            in_string = true;
        } else if matches!(c, ' ' | '\t' | '\n' | '\r') {
            continue;
        }
        out.push(c);
    }
    out
}
