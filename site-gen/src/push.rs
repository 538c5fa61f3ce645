//! `site-gen push`: uploads the clips the bucket lacks (or holds with other
//! bytes) through the Worker's admin API (`PUT /admin/objects/<key>`), and
//! records each clip's size and sha256 in its front matter when they are
//! missing or differ, so the catalog and the bucket cannot drift apart
//! silently (docs/monitoring.md).
//!
//! Why the admin API and not `wrangler r2 object put`: it needs only the
//! admin token the owner already uses for `site-gen orders` (no Cloudflare
//! login or API token on the owner's machine), and R2 verifies the upload
//! against the sha256 sent with it. Its limit is the plan's request body
//! size (100 MB on Free and Pro); larger files go with wrangler or an S3
//! client, as the error message says.
//!
//! Every file of a clip goes: its main file and each `[[variants]]` one,
//! as the Worker's catalog lists them (`ManifestClip::files`).
//!
//! Other bytes than the bucket's copy of a file the deployed shop sells
//! ([`deployed_copies`], its `/admin/catalog`) go only with `--replace`:
//! the front matter alone cannot tell, since `site-gen media` records a
//! new master's size and sha256 there before push runs.
//!
//! A clip whose file is not under `--media` cannot be uploaded: it is
//! compared with the catalog in each origin ([`catalog_mismatch`]), never
//! counted as in place just for being there.
//!
//! When the shop has a secondary origin (docs/secondary-origin.md), every
//! clip also goes straight to it (`crate::secondary`), verified and resumable;
//! an upload it refuses (401, 403) stops the run, like a refused admin token.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::admin_client::{admin_token, resolve_worker_url, AdminClient, OrdersError};
use crate::secondary::{Secondary, SecondaryError};

/// `site-gen push`
#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// The Worker's address (default: $CLIPSTORE_WORKER_URL, else download_base_url's address in content/site.toml).
    #[arg(long, value_name = "URL")]
    pub worker_url: Option<String>,
    /// The shop's folder (content/ and its .dev.vars).
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub root: PathBuf,
    /// Where the clip files are: a clip's `file` (its object key) is read
    /// from DIR/<file>. Relative to --root. Default: as `site-gen media`'s
    /// `--masters` (media/, or sample-media/ where only that exists).
    #[arg(long, value_name = "DIR")]
    pub media: Option<PathBuf>,
    /// Show what would be uploaded and changed; upload and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Replace this clip's file in the bucket (its slug; give it once per
    /// clip) although the bucket holds the file the clip sold: for a
    /// corrected export that every buyer is to download from now on.
    /// Without it, push refuses to replace a sold file.
    #[arg(long, value_name = "SLUG")]
    pub replace: Vec<String>,
}

/// The request body limit of the Free and Pro plans.
pub const BODY_LIMIT: u64 = 100 * 1000 * 1000;

/// What the bucket holds for a key (from `GET /admin/objects/<key>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub size: u64,
    pub sha256: Option<String>,
}

/// Why a file is uploaded, or None when the bucket already has it. An
/// object of the right size without a sha256 (put by `wrangler r2 object
/// put` or `run-local.sh`) could hold other bytes: it is uploaded again, so
/// that R2 checks the bytes against the sha256 that push then records.
pub fn upload_reason(size: u64, sha256: &str, remote: Option<&Remote>) -> Option<String> {
    match remote {
        None => Some("missing from the bucket".into()),
        Some(r) if r.size != size => Some(format!("the bucket has {} bytes, the file {size}", r.size)),
        Some(Remote { sha256: Some(h), .. }) if !h.eq_ignore_ascii_case(sha256) => {
            Some("the bucket has other bytes (sha256 differs)".into())
        }
        Some(Remote { sha256: None, .. }) => {
            Some("the copy there carries no sha256 to compare: uploaded again, so that its bytes are checked".into())
        }
        Some(_) => None,
    }
}

/// Whether uploading a file of `size` and `sha256` would put other bytes
/// where buyers download the clip's file than the clip's front matter
/// describes (`sold_size`, `sold_sha256`): the bucket holds that file, or
/// lacks it while the front matter has its sha256 (recorded from a real
/// file by push or media; a size alone may be a placeholder). A wrong
/// `--media` folder, or a master changed since, would otherwise be what
/// every buyer downloads, with no copy of the sold file left.
pub fn replaces_sold_file(
    sold_size: u64,
    sold_sha256: Option<&str>,
    remote: Option<&Remote>,
    size: u64,
    sha256: &str,
) -> bool {
    let other_hash = sold_sha256.is_some_and(|h| !h.eq_ignore_ascii_case(sha256));
    match remote {
        Some(r) => (sold_size != size || other_hash) && catalog_mismatch(sold_size, sold_sha256, r).is_none(),
        None => other_hash,
    }
}

/// Whether the bucket's copy `remote` of a file is one the deployed shop
/// sells (`deployed`: its catalog's size and sha256 of that key) and the
/// file to upload (`size`, `sha256`) is other bytes: uploading it would
/// change what the clip's buyers download, whatever the front matter says.
pub fn replaces_deployed_file(deployed: Option<&Remote>, remote: &Remote, size: u64, sha256: &str) -> bool {
    let other_bytes = remote.size != size || remote.sha256.as_deref().is_some_and(|h| !h.eq_ignore_ascii_case(sha256));
    other_bytes && deployed.is_some_and(|d| catalog_mismatch(d.size, d.sha256.as_deref(), remote).is_none())
}

/// A file the deployed Worker's catalog sells: its size and sha256 there,
/// and what the bucket held at its key when the catalog was read.
struct Deployed {
    sold: Remote,
    found: Option<Remote>,
}

/// The files the deployed Worker's catalog sells, by object key, read page
/// by page from `GET /admin/catalog` (40 files a request: the scale review's
/// push of 5,000 clips asked the bucket 5,000 times, 61 s with nothing to
/// upload, minutes over the internet).
fn deployed_copies(client: &AdminClient) -> Result<std::collections::HashMap<String, Deployed>, String> {
    let mut copies = std::collections::HashMap::new();
    let mut offset = 0;
    loop {
        let (status, page) = client
            .get_report(&format!("/admin/catalog?offset={offset}&limit={}", crate::doctor::PAGE))
            .map_err(|e| e.to_string())?;
        if status != 200 {
            let error = page.get("error").and_then(Value::as_str).unwrap_or("unknown error");
            return Err(format!("the Worker answered {status} to GET /admin/catalog: {error}"));
        }
        let clips = page.get("clips").and_then(Value::as_array).cloned().unwrap_or_default();
        for clip in &clips {
            if let (Some(key), Some(size)) =
                (clip.get("object_key").and_then(Value::as_str), clip.get("size").and_then(Value::as_u64))
            {
                let sha256 = clip.get("sha256").and_then(Value::as_str).map(str::to_string);
                let found = clip.get("found").and_then(|f| {
                    let size = f.get("size").and_then(Value::as_u64)?;
                    Some(Remote { size, sha256: f.get("sha256").and_then(Value::as_str).map(str::to_string) })
                });
                copies.insert(key.to_string(), Deployed { sold: Remote { size, sha256 }, found });
            }
        }
        offset += clips.len();
        if clips.is_empty() || offset as u64 >= page.get("total").and_then(Value::as_u64).unwrap_or(0) {
            return Ok(copies);
        }
    }
}

/// How an object differs from what the catalog says of it (its `size`, and
/// its `sha256` when both know one), or None when it matches.
pub fn catalog_mismatch(size: u64, sha256: Option<&str>, remote: &Remote) -> Option<String> {
    match (sha256, &remote.sha256) {
        _ if remote.size != size => Some(format!("{} bytes there, the catalog says {size}", remote.size)),
        (Some(want), Some(found)) if !want.eq_ignore_ascii_case(found) => {
            Some(format!("sha256 {found} there, the catalog says {want}"))
        }
        _ => None,
    }
}

/// Sets `size` and `sha256` in a clip file's front matter (between the
/// first two `+++` lines), keeping everything else as it is. None when
/// both are already right (or there is no front matter).
pub fn record_size_and_hash(text: &str, size: u64, sha256: &str) -> Option<String> {
    crate::front_matter_edit::set_values(text, &[("size", size.to_string()), ("sha256", format!("\"{sha256}\""))])
}

/// Sets `size` and `sha256` in the clip's `[[variants]]` section whose id
/// is `id`, like [`record_size_and_hash`]. None when both are right.
pub fn record_variant_size_and_hash(text: &str, id: &str, size: u64, sha256: &str) -> Option<String> {
    crate::front_matter_edit::set_section_values(
        text,
        "variants",
        id,
        &[("size", size.to_string()), ("sha256", format!("\"{sha256}\""))],
    )
}

/// Size and lower-case hex sha256 of a file.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()))
}

fn key_path(key: &str) -> String {
    key.split('/')
        .map(|s| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// An error that every clip would meet (a refused token, a Worker that
/// cannot be reached): the run stops at the first, instead of hashing every
/// master only to fail each the same way.
fn stops_the_run(e: &OrdersError) -> bool {
    matches!(e, OrdersError::Unauthorized | OrdersError::Transport { .. } | OrdersError::Redirected { .. })
}

fn remote(client: &AdminClient, key: &str) -> Result<Option<Remote>, OrdersError> {
    let (status, v) = client.get_report(&format!("/admin/objects/{}", key_path(key)))?;
    match status {
        404 => Ok(None),
        200 => Ok(Some(Remote {
            size: v.pointer("/found/size").and_then(Value::as_u64).unwrap_or(0),
            sha256: v.pointer("/found/sha256").and_then(Value::as_str).map(str::to_string),
        })),
        _ => Err(OrdersError::Http {
            status,
            body: v.get("error").and_then(Value::as_str).unwrap_or("unknown error").to_string(),
        }),
    }
}

fn upload(
    client: &AdminClient,
    key: &str,
    path: &Path,
    size: u64,
    sha256: &str,
    content_type: &str,
) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bar = crate::progress::upload(key, 0, size);
    let body = bar.wrap_read(file);
    let url = format!("{}/admin/objects/{}", client.base(), key_path(key));
    let result = client
        .agent()
        .put(&url)
        .timeout(Duration::from_secs(3600))
        .set("authorization", &client.authorization())
        .set("content-type", content_type)
        .set("content-length", &size.to_string())
        .set("x-content-sha256", sha256)
        .send(body);
    if result.is_err() {
        bar.finish_and_clear();
    }
    match result.map(|r| crate::admin_client::not_redirected(&url, r)) {
        Ok(Err(e)) => {
            bar.finish_and_clear();
            Err(e.to_string())
        }
        Ok(Ok(_)) => {
            crate::progress::sent(&bar);
            Ok(())
        }
        Err(ureq::Error::Status(413, _)) => Err(format!(
            "the Worker refused {size} bytes (over the plan's request body limit): upload it with `npx wrangler r2 object put <bucket>/{key} --file {} --remote` (up to 300 MB; larger with an S3 client: {})",
            path.display(),
            crate::guides::guide("deploy.md")
        )),
        // Cloudflare answers 413 at once and closes the connection: a client
        // still sending a large body sees the connection reset, not the 413.
        Err(ureq::Error::Transport(t)) if size > BODY_LIMIT => Err(format!(
            "the connection broke off ({}): most likely the plan's request body limit (100 MB on Free and Pro), \
             which {size} bytes are over; upload it with `npx wrangler r2 object put <bucket>/{key} --file {} --remote` \
             (up to 300 MB; larger with an S3 client: {})",
            t.kind(),
            path.display(),
            crate::guides::guide("deploy.md")
        )),
        Err(ureq::Error::Status(status, r)) => {
            Err(format!("the Worker answered {status}: {}", crate::admin_client::worker_answer(&r.into_string().unwrap_or_default())))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Uploads to the secondary origin in one run.
#[derive(Debug, Default)]
struct SecondaryCounts {
    uploaded: usize,
    present: usize,
    /// `HEAD`s refused (401, 403): uploaded anyway, since AWS S3 answers
    /// 403 for a missing object to a key without `s3:ListBucket`.
    head_refused: usize,
}

/// Runs `site-gen push`: 0 when every clip is in the bucket (and in the
/// secondary origin, when the shop has one) afterwards.
pub fn run(args: PushArgs) -> Result<ExitCode, OrdersError> {
    let shop = crate::load_shop(&args.root).map_err(|d| OrdersError::Other(d.to_string()))?;
    let client =
        AdminClient::new(&resolve_worker_url(args.worker_url.as_deref(), &args.root)?, &admin_token(&args.root)?)?;
    let media = args.root.join(args.media.clone().unwrap_or_else(|| crate::media::default_masters(&args.root)));
    let secondary = Secondary::from_root(&args.root, crate::admin_client::is_loopback(client.base()))
        .map_err(OrdersError::Other)?;
    let manifest = crate::render::manifest(&shop);
    if let Some(unknown) = args.replace.iter().find(|slug| manifest.clips.get(slug).is_none()) {
        return Err(OrdersError::Other(format!(
            "--replace {unknown}: no clip {unknown} in the catalog (a clip's slug, as `site-gen orders show` names it)"
        )));
    }
    if let Some(s) = &secondary {
        println!(
            "Both origins: R2 through the Worker, and the secondary origin (bucket {} at {}).",
            s.bucket_name(),
            s.endpoint()
        );
    }
    let (mut uploaded, mut present, mut recorded, mut failed) = (0, 0, 0, 0);
    let (mut catalog_files, mut not_found) = (0, 0);
    let mut to_secondary = SecondaryCounts::default();
    // The deployed catalog and what the bucket holds of it, in pages; a
    // file it does not list (a new clip) is asked of the bucket by itself.
    let deployed = deployed_copies(&client);
    let in_bucket = |key: &str| match deployed.as_ref().ok().and_then(|copies| copies.get(key)) {
        Some(copy) => Ok(copy.found.clone()),
        None => remote(&client, key),
    };
    // Every file of every clip: the main one and each `[[variants]]` one,
    // as the Worker's catalog lists them.
    let files = manifest
        .clips
        .iter()
        .flat_map(|(slug, clip)| clip.files().map(move |(id, file)| (slug, id.map(str::to_string), file)));
    for (slug, variant, file) in files {
        let name = match &variant {
            Some(id) => format!("{slug} ({id})"),
            None => slug.clone(),
        };
        let source = match shop.clips.iter().find(|c| c.slug == *slug) {
            Some(c) => args.root.join(&c.source),
            None => continue,
        };
        let path = media.join(&file.object_key);
        catalog_files += 1;
        if !path.is_file() {
            // Nothing to upload: what the bucket holds must be what the
            // catalog describes, or the clip's buyers get other bytes.
            not_found += 1;
            let expected = file.sha256.as_deref();
            match in_bucket(&file.object_key) {
                Err(e) if stops_the_run(&e) => return Err(e),
                Ok(Some(r)) => match catalog_mismatch(file.size, expected, &r) {
                    None => present += 1,
                    Some(how) => {
                        failed += 1;
                        println!(
                            "clip {}: the bucket has other bytes than the catalog ({how}) and there is no file at {} to upload",
                            name,
                            path.display()
                        );
                    }
                },
                Ok(None) => {
                    failed += 1;
                    println!("clip {}: missing from the bucket and no file at {}", name, path.display());
                }
                Err(e) => {
                    failed += 1;
                    println!("clip {}: could not be checked in the bucket: {e}", name);
                }
            }
            if let Some(s) = &secondary {
                match s.head(&file.object_key) {
                    Ok(Some((r, _))) => match catalog_mismatch(file.size, expected, &r) {
                        None => to_secondary.present += 1,
                        Some(how) => {
                            failed += 1;
                            println!(
                                "clip {}: the secondary has other bytes than the catalog ({how}) and there is no file at {} to upload",
                                name,
                                path.display()
                            );
                        }
                    },
                    Ok(None) => {
                        failed += 1;
                        println!("clip {}: missing from the secondary and no file at {}", name, path.display());
                    }
                    Err(SecondaryError::Unreachable(why)) => return Err(OrdersError::Other(s.unreachable(&why))),
                    Err(SecondaryError::Refused(why)) => {
                        failed += 1;
                        println!(
                            "clip {}: {why} (may push's key read and list the bucket: s3:GetObject, s3:ListBucket?) and there is no file at {} to upload",
                            name,
                            path.display()
                        );
                    }
                    Err(e) => {
                        failed += 1;
                        println!("clip {}: {e}", name);
                    }
                }
            }
            continue;
        }
        let (size, sha256) = match hash_file(&path) {
            Ok(hashed) => hashed,
            Err(e) => {
                failed += 1;
                println!("clip {}: could not read {}: {e}", name, path.display());
                continue;
            }
        };
        // The new size and hash go into the front matter only once the file
        // is in every origin: a catalog built from them must never describe
        // bytes the bucket does not have.
        let mut in_place = true;
        // Asked before anything is sent: a refused admin token stops the
        // run before the secondary gets a byte.
        let in_r2 = match in_bucket(&file.object_key) {
            Err(e) if stops_the_run(&e) => return Err(e),
            found => found,
        };
        if let Ok(found) = &in_r2 {
            if replaces_sold_file(file.size, file.sha256.as_deref(), found.as_ref(), size, &sha256)
                && !args.replace.contains(slug)
            {
                failed += 1;
                println!(
                    "clip {name}: not uploaded: {} ({size} bytes, sha256 {sha256}) is not the file {} describes ({} bytes{}){}. \
                     Uploading it would change what the clip's buyers download{}. If it is a corrected export meant for them, \
                     run this push again with `--replace {slug}` added; if not, is --media right ({})?",
                    path.display(),
                    crate::diagnostics::display_path(&args.root, &source).display(),
                    file.size,
                    file.sha256.as_deref().map(|h| format!(", sha256 {h}")).unwrap_or_default(),
                    if found.is_some() { ", which the bucket holds" } else { "" },
                    if found.is_some() { ", and no copy of that file would be left in the bucket" } else { "" },
                    media.display()
                );
                continue;
            }
        }
        // The deployed shop sells the bucket's copy, and the front matter
        // already describes the new file (`site-gen media` recorded it):
        // asked of the Worker only for a file whose bytes would change.
        if let Ok(Some(found)) = &in_r2 {
            if upload_reason(size, &sha256, Some(found)).is_some()
                && !args.replace.contains(slug)
                && (found.size != size || found.sha256.is_some())
            {
                let refusal = match &deployed {
                    Ok(copies)
                        if replaces_deployed_file(
                            copies.get(&file.object_key).map(|c| &c.sold),
                            found,
                            size,
                            &sha256,
                        ) =>
                    {
                        Some(format!(
                            "the deployed shop sells the copy in the bucket ({} bytes{}), and {} is another file ({size} bytes, sha256 {sha256})",
                            found.size,
                            found.sha256.as_deref().map(|h| format!(", sha256 {h}")).unwrap_or_default(),
                            path.display(),
                        ))
                    }
                    Ok(_) => None,
                    Err(why) => Some(format!(
                        "the bucket holds other bytes than {} ({} bytes there, {size} here), and whether the deployed shop sells them could not be checked ({why})",
                        path.display(),
                        found.size,
                    )),
                };
                if let Some(refusal) = refusal {
                    failed += 1;
                    println!(
                        "clip {name}: not uploaded: {refusal}. Uploading it would change what the clip's buyers download, \
                         with no copy of the sold file left in the bucket. If it is a corrected export meant for them \
                         (`site-gen media` has recorded its size and sha256 in {}), run this push again with \
                         `--replace {slug}` added; if not, put the sold file back under {}.",
                        crate::diagnostics::display_path(&args.root, &source).display(),
                        media.display()
                    );
                    continue;
                }
            }
        }
        // Too big to go through the Worker again, an object of the right
        // size without a sha256 (put with wrangler, as deploy.md says) is
        // left as it is; its size is recorded, never a hash of bytes not
        // checked. The secondary still gets the file.
        let unverifiable = matches!(&in_r2, Ok(Some(r)) if r.sha256.is_none() && r.size == size && size > BODY_LIMIT);
        // The secondary goes first, so that R2 (what customers download
        // from) trades its copy for other bytes only once the secondary
        // holds them too. Nor does it get new bytes while what R2 holds is
        // unknown (R2 could not be checked).
        let mut secondary_has_it = true;
        if let (Some(_), Err(_)) = (&secondary, &in_r2) {
            (in_place, secondary_has_it) = (false, false);
            println!("clip {}: not uploaded to the secondary either: the bucket could not be checked", name);
        } else if let Some(s) = &secondary {
            let reason = match s.head(&file.object_key) {
                Err(SecondaryError::Unreachable(why)) => return Err(OrdersError::Other(s.unreachable(&why))),
                Ok(found) => Ok(upload_reason(size, &sha256, found.as_ref().map(|(r, _)| r))),
                // A wrong key, or AWS S3 saying "missing" to a key without
                // s3:ListBucket: the upload tells which.
                Err(SecondaryError::Refused(why)) => {
                    to_secondary.head_refused += 1;
                    Ok(Some(format!("{why}: maybe missing")))
                }
                Err(e) => Err(e),
            };
            match reason {
                Err(e) => {
                    (in_place, secondary_has_it) = (false, false);
                    println!("clip {}: {e}", name);
                }
                Ok(None) => to_secondary.present += 1,
                Ok(Some(reason)) if args.dry_run => {
                    println!("clip {}: would upload {} to the secondary ({reason})", name, file.object_key)
                }
                Ok(Some(reason)) => {
                    println!("clip {}: uploading {} to the secondary ({reason})", name, file.object_key);
                    match s.upload(&file.object_key, &path, size, &sha256, &file.content_type) {
                        Ok(()) => to_secondary.uploaded += 1,
                        Err(SecondaryError::Refused(why)) => return Err(OrdersError::Other(s.refused(&why))),
                        Err(e) => {
                            (in_place, secondary_has_it) = (false, false);
                            println!("clip {}: upload to the secondary failed: {e}", name);
                        }
                    }
                }
            }
        }
        let replaces = matches!(in_r2, Ok(Some(_)));
        match in_r2.map(|r| upload_reason(size, &sha256, r.as_ref())) {
            Err(e) => {
                in_place = false;
                println!("clip {}: could not be checked in the bucket: {e}", name);
            }
            Ok(None) => present += 1,
            Ok(Some(_)) if unverifiable => {
                present += 1;
                println!(
                    "clip {name}: the bucket's copy has the right size but carries no sha256, and over 100 MB it cannot go \
                     through the Worker to be checked: push cannot tell it is {}, so it records its size, not its sha256 \
                     ({} says how such files go to the bucket)",
                    path.display(),
                    crate::guides::guide("deploy.md")
                );
            }
            Ok(Some(reason)) if args.dry_run => println!("clip {}: would upload {} ({reason})", name, file.object_key),
            Ok(Some(reason)) if replaces && !secondary_has_it => {
                in_place = false;
                println!(
                    "clip {}: not uploaded to the bucket ({reason}): it keeps the file it has until the secondary \
                     holds the new one too, so that both origins serve the same bytes; run `site-gen push` again",
                    name
                );
            }
            Ok(Some(reason)) => {
                if size > BODY_LIMIT {
                    eprintln!("clip {}: {size} bytes: over 100 MB, the Worker may refuse it (plan limit)", name);
                }
                println!("clip {}: uploading {} ({reason})", name, file.object_key);
                match upload(&client, &file.object_key, &path, size, &sha256, &file.content_type) {
                    Ok(()) => uploaded += 1,
                    Err(e) => {
                        in_place = false;
                        println!("clip {}: upload failed: {e}", name);
                        if replaces && secondary.is_some() && secondary_has_it {
                            println!(
                                "clip {}: until it is in the bucket too, the secondary holds the new file and the bucket the old one: \
                                 a failover serves the new one",
                                name
                            );
                        }
                    }
                }
            }
        }
        if !in_place {
            failed += 1;
        }
        if file.size == size && (unverifiable || file.sha256.as_deref() == Some(sha256.as_str())) {
            continue;
        }
        let text =
            std::fs::read_to_string(&source).map_err(|e| OrdersError::Other(format!("{}: {e}", source.display())))?;
        let size_only = [("size", size.to_string())];
        let recorded_in = match (&variant, unverifiable) {
            (None, false) => record_size_and_hash(&text, size, &sha256),
            (Some(id), false) => record_variant_size_and_hash(&text, id, size, &sha256),
            (None, true) => crate::front_matter_edit::set_values(&text, &size_only),
            (Some(id), true) => crate::front_matter_edit::set_section_values(&text, "variants", id, &size_only),
        };
        let Some(new) = recorded_in else { continue };
        let shown = crate::diagnostics::display_path(&args.root, &source);
        if !in_place {
            println!(
                "clip {}: {} still says {} bytes: the new file (size = {size}, sha256 = {sha256}) is not in place, \
                 so the catalog keeps describing the old one; run `site-gen push` again",
                name,
                shown.display(),
                file.size
            );
            continue;
        }
        let recorded_now =
            if unverifiable { format!("size = {size}") } else { format!("size = {size} and sha256 = {sha256}") };
        println!(
            "clip {}: {} now records {recorded_now} (it said {} bytes{}){}",
            name,
            shown.display(),
            file.size,
            file.sha256.as_deref().map(|s| format!(", sha256 {s}")).unwrap_or_else(|| ", no sha256".into()),
            if args.dry_run { " [dry run: not written]" } else { "" }
        );
        if !args.dry_run {
            crate::front_matter_edit::write_whole(&source, &new)
                .map_err(|e| OrdersError::Other(format!("{}: {e}", source.display())))?;
        }
        recorded += 1;
    }
    println!("{uploaded} uploaded, {present} already in the bucket, {failed} failed; {recorded} clip file(s) with new size/sha256.");
    if not_found > 0 {
        println!(
            "{not_found} of the catalog's {catalog_files} file(s) not found under {}: checked in the bucket, not uploaded (is --media right?).",
            media.display()
        );
    }
    if let Some(s) = &secondary {
        println!(
            "Secondary origin: {} uploaded (size, MD5 and sha256 verified), {} already there.",
            to_secondary.uploaded, to_secondary.present
        );
        if to_secondary.head_refused > 0 {
            println!(
                "The secondary would not say whether it has {} file(s) (401/403 to HEAD), so they were uploaded again: \
                 give push's key s3:ListBucket on arn:aws:s3:::{} ({}), then a run uploads only what is missing.",
                to_secondary.head_refused,
                s.bucket_name(),
                crate::guides::guide("secondary-origin.md")
            );
        }
    }
    if recorded > 0 && !args.dry_run {
        println!(
            "Front matter changed: run `site-gen build` and deploy, so the Worker's catalog has the new sizes and hashes{}.",
            if failed > 0 { " (of the clips uploaded; the failed ones keep their old values until pushed)" } else { "" }
        );
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons() {
        assert_eq!(upload_reason(5, "aa", None).as_deref(), Some("missing from the bucket"));
        assert!(upload_reason(5, "aa", Some(&Remote { size: 4, sha256: None })).unwrap().contains("4 bytes"));
        assert!(upload_reason(5, "aa", Some(&Remote { size: 5, sha256: Some("bb".into()) })).is_some());
        assert_eq!(upload_reason(5, "aa", Some(&Remote { size: 5, sha256: Some("AA".into()) })), None);
        assert!(upload_reason(5, "aa", Some(&Remote { size: 5, sha256: None })).unwrap().contains("no sha256"));
    }

    /// A wrong --media folder or a master changed since the sale: the
    /// bucket holds what the clip sold, and the file here is another.
    #[test]
    fn a_sold_file_is_not_replaced_unasked() {
        let there = |size, sha: Option<&str>| Some(Remote { size, sha256: sha.map(str::to_string) });
        // The bucket has the sold file; the file here is shorter, or other bytes.
        assert!(replaces_sold_file(10, Some("aa"), there(10, Some("aa")).as_ref(), 4, "bb"));
        assert!(replaces_sold_file(10, Some("aa"), there(10, None).as_ref(), 10, "bb"));
        assert!(replaces_sold_file(10, None, there(10, None).as_ref(), 4, "bb"));
        // The file here is the sold one (any case of hex), or the bucket
        // already holds something else (an upload that is a repair).
        assert!(!replaces_sold_file(10, Some("aa"), there(10, Some("aa")).as_ref(), 10, "AA"));
        assert!(!replaces_sold_file(10, Some("aa"), there(7, None).as_ref(), 4, "bb"));
        assert!(!replaces_sold_file(10, Some("aa"), there(10, Some("cc")).as_ref(), 4, "bb"));
        // No hash recorded and the sizes agree: nothing tells them apart.
        assert!(!replaces_sold_file(10, None, there(10, None).as_ref(), 10, "bb"));
        // The bucket lacks it (a file to put back): the recorded sha256
        // decides; a size alone may be a placeholder (`size = 1`).
        assert!(replaces_sold_file(10, Some("aa"), None, 10, "bb"));
        assert!(!replaces_sold_file(10, Some("aa"), None, 10, "aa"));
        assert!(!replaces_sold_file(1, None, None, 10, "bb"));
    }

    /// A clip whose file is not on this machine is compared with the
    /// catalog, never counted as in place just for being there.
    #[test]
    fn the_catalog_is_compared_with_the_bucket() {
        let there = |size, sha: Option<&str>| Remote { size, sha256: sha.map(str::to_string) };
        assert_eq!(catalog_mismatch(5, Some("aa"), &there(5, Some("AA"))), None);
        assert_eq!(catalog_mismatch(5, None, &there(5, Some("bb"))), None, "no hash in the catalog: size only");
        assert_eq!(catalog_mismatch(5, Some("aa"), &there(5, None)), None, "no hash in the bucket: size only");
        assert_eq!(
            catalog_mismatch(5, Some("aa"), &there(4, Some("aa"))).unwrap(),
            "4 bytes there, the catalog says 5"
        );
        assert!(catalog_mismatch(5, Some("aa"), &there(5, Some("bb"))).unwrap().contains("sha256 bb there"));
    }

    #[test]
    fn front_matter_records_size_and_hash() {
        let text = "+++\ntitle = \"A\"\nsize = 10\nposter = \"/p.jpg\"\n+++\nsize = 99 in the body\n";
        let new = record_size_and_hash(text, 12, "ab").unwrap();
        assert_eq!(
            new,
            "+++\ntitle = \"A\"\nsize = 12\nsha256 = \"ab\"\nposter = \"/p.jpg\"\n+++\nsize = 99 in the body\n"
        );
        assert_eq!(record_size_and_hash(&new, 12, "ab"), None, "already right");
        let changed = record_size_and_hash(&new, 12, "cd").unwrap();
        assert!(changed.contains("sha256 = \"cd\"\n") && !changed.contains("\"ab\""));
        let bare = record_size_and_hash("+++\r\ntitle = \"A\"\r\n+++\r\n", 3, "ff").unwrap();
        assert_eq!(bare, "+++\r\ntitle = \"A\"\r\nsize = 3\r\nsha256 = \"ff\"\r\n+++\r\n");
        assert_eq!(record_size_and_hash("no front matter", 1, "a"), None);
    }

    #[test]
    fn a_variant_records_in_its_own_section() {
        let text = "+++\ntitle = \"A\"\nsize = 10\n\n[[variants]]\nid = \"360p\"\nsize = 4\n+++\n";
        let new = record_variant_size_and_hash(text, "360p", 5, "ab").unwrap();
        assert_eq!(new, text.replace("size = 4\n", "size = 5\nsha256 = \"ab\"\n"), "the clip's own size stays");
        assert_eq!(record_variant_size_and_hash(&new, "360p", 5, "ab"), None);
    }

    #[test]
    fn hashes_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            hash_file(&p).unwrap(),
            (3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_string())
        );
    }
}
