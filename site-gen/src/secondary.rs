//! `site-gen push` to the secondary origin (docs/secondary-origin.md): the
//! owner's machine uploads each clip straight to the S3-compatible store,
//! SigV4-signed by `rusty-s3` (presigned URLs, sent with `ureq`).
//!
//! - Files up to [`MULTIPART_THRESHOLD`] go in one `PUT`; larger ones as a
//!   multipart upload of [`part_size`] parts, with progress on stderr.
//! - Every `PUT` and every part is checked against the store's ETag, which
//!   S3, B2 and the others compute as the MD5 of the bytes they received; the
//!   clip's sha256 rides along as `x-amz-meta-sha256`, which the Worker and
//!   the next push compare with the catalog. The finished object's size,
//!   sha256 and ETag are checked with a `HEAD`.
//! - A multipart upload that was interrupted is resumed: its upload id is
//!   kept in `<root>/.clipstore-push/` until it completes, and the parts the
//!   store already has (`ListParts`, same size and MD5) are not sent again.
//!
//! - A refusal (401, 403) is a [`SecondaryError::Refused`]: except for the
//!   `HEAD` asking whether a clip is there (AWS S3 answers 403 for a missing
//!   object to a key without `s3:ListBucket`), it means the key pair may not
//!   do what push needs, and push stops at the first instead of hashing every
//!   master only to be refused each time.
//!
//! The store's settings: `CLIPSTORE_SECONDARY_ENDPOINT`, `…_REGION`,
//! `…_BUCKET`, `…_ACCESS_KEY_ID`, `…_SECRET_ACCESS_KEY` in the environment
//! (the key pair must be allowed to write; the Worker's only reads), else
//! the `SECONDARY_*` lines of `.dev.vars` (a local shop), else, for
//! endpoint, region, bucket and URL style, `[vars]` of `wrangler.toml`:
//! both in `edge-worker/`, or at the root of a shop `site-gen init` made
//! ([`crate::purchase_token::worker_file`]).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};
use rusty_s3::actions::{
    CompleteMultipartUpload, CreateMultipartUpload, HeadObject, ListParts, PutObject, S3Action, UploadPart,
};
use rusty_s3::{Bucket, Credentials, UrlStyle};
use serde::{Deserialize, Serialize};

use crate::admin_client::dotenv_value;
use crate::push::Remote;

/// Files larger than this go as a multipart upload.
pub const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// The smallest part (S3's minimum is 5 MiB, except the last part).
pub const MIN_PART: u64 = 8 * 1024 * 1024;
/// S3's most parts per upload.
pub const MAX_PARTS: u64 = 10_000;
/// Lifetime of a signed URL; a part is sent within it.
const SIGNED_FOR: Duration = Duration::from_secs(3600);
/// Where interrupted multipart uploads are remembered, under `--root`.
pub const STATE_DIR: &str = ".clipstore-push";

/// The part size for a file of `size` bytes: [`MIN_PART`], or more (whole
/// MiB) so that it fits in [`MAX_PARTS`] parts.
pub fn part_size(size: u64) -> u64 {
    let mib = 1024 * 1024;
    MIN_PART.max(size.div_ceil(MAX_PARTS).div_ceil(mib) * mib)
}

/// The ETag S3 gives an object uploaded in parts: the MD5 of the parts'
/// binary MD5s, then `-` and the number of parts.
pub fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    let mut md5 = Md5::new();
    for d in part_md5s {
        md5.update(d);
    }
    format!("\"{}-{}\"", hex(&md5.finalize()), part_md5s.len())
}

fn md5_of(bytes: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&Md5::digest(bytes));
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn same_etag(a: &str, b: &str) -> bool {
    a.trim().trim_matches('"').eq_ignore_ascii_case(b.trim().trim_matches('"'))
}

/// An interrupted multipart upload, remembered between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    pub key: String,
    pub size: u64,
    pub sha256: String,
    pub part_size: u64,
    pub upload_id: String,
}

/// Why the secondary origin did not do what push asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecondaryError {
    /// It answered 401 or 403: the key pair, or what its policy allows.
    #[error("{0}")]
    Refused(String),
    /// Its address did not answer (a wrong endpoint, the store down):
    /// every clip would meet it, so push stops at the first.
    #[error("{0}")]
    Unreachable(String),
    /// Anything else: another status, a corrupted upload.
    #[error("{0}")]
    Other(String),
}

impl From<String> for SecondaryError {
    fn from(s: String) -> Self {
        SecondaryError::Other(s)
    }
}

/// The secondary store, as `push` sees it.
pub struct Secondary {
    bucket: Bucket,
    credentials: Credentials,
    agent: ureq::Agent,
    state_dir: PathBuf,
}

const NAMES: [&str; 5] = ["ENDPOINT", "REGION", "BUCKET", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY"];

impl Secondary {
    /// The store configured for the shop in `root`; `Ok(None)` when none is.
    /// `local_worker`: the Worker is the one on this machine, whose
    /// `.dev.vars` (written by `run-local.sh`) names its local store. For a
    /// deployed Worker those lines are not read: they named the local test
    /// store, and push filled it instead of the shop's.
    pub fn from_root(root: &Path, local_worker: bool) -> Result<Option<Secondary>, String> {
        let worker_file = |name: &str| crate::purchase_token::worker_file(root, name);
        let dev_vars = if local_worker {
            std::fs::read_to_string(worker_file(".dev.vars")).unwrap_or_default()
        } else {
            String::new()
        };
        let toml: Option<toml::Value> =
            std::fs::read_to_string(worker_file("wrangler.toml")).ok().and_then(|t| t.parse().ok());
        let value = |name: &str| -> Option<String> {
            let env = std::env::var(format!("CLIPSTORE_SECONDARY_{name}")).ok();
            let dev = dotenv_value(&dev_vars, &format!("SECONDARY_{name}"));
            let toml = (!name.contains("KEY"))
                .then(|| toml.as_ref()?.get("vars")?.get(format!("SECONDARY_{name}"))?.as_str().map(str::to_string))
                .flatten();
            env.or(dev).or(toml).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
        };
        let values: Vec<Option<String>> = NAMES.iter().map(|n| value(n)).collect();
        if values.iter().all(Option::is_none) {
            return Ok(None);
        }
        let missing: Vec<String> = NAMES
            .iter()
            .zip(&values)
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| format!("CLIPSTORE_SECONDARY_{n}"))
            .collect();
        if !missing.is_empty() {
            return Err(format!("the secondary origin is half configured: {} not set", missing.join(", ")));
        }
        let [endpoint, region, bucket, key, secret] =
            <[Option<String>; 5]>::try_from(values).map_err(|_| "settings".to_string())?.map(Option::unwrap_or_default);
        let url = endpoint.parse().map_err(|e| format!("the secondary endpoint {endpoint:?}: {e}"))?;
        // As the Worker reads it (`edge-worker/src/secondary.rs`): both must
        // address the bucket the same way.
        let style = match value("URL_STYLE").as_deref() {
            Some("virtual") => UrlStyle::VirtualHost,
            None | Some("path") => UrlStyle::Path,
            Some(other) => {
                return Err(format!("SECONDARY_URL_STYLE must be \"path\" or \"virtual\": {other:?}"));
            }
        };
        let bucket = Bucket::new(url, style, bucket, region).map_err(|e| format!("the secondary bucket: {e}"))?;
        Ok(Some(Secondary {
            bucket,
            credentials: Credentials::new(key, secret),
            agent: ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(10)).build(),
            state_dir: root.join(STATE_DIR),
        }))
    }

    pub fn bucket_name(&self) -> &str {
        self.bucket.name()
    }

    /// The store's address, as push names it.
    pub fn endpoint(&self) -> &str {
        self.bucket.base_url().as_str()
    }

    /// What the store holds for `key` (size, and the sha256 push recorded).
    /// A [`SecondaryError::Refused`] here does not tell a wrong key from a
    /// missing object: AWS S3 answers 403 for both to a key without
    /// `s3:ListBucket`.
    pub fn head(&self, key: &str) -> Result<Option<(Remote, String)>, SecondaryError> {
        let url = HeadObject::new(&self.bucket, Some(&self.credentials), key).sign(SIGNED_FOR);
        match self.agent.head(url.as_str()).call() {
            Ok(r) => {
                let size = r.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                let sha256 = r.header("x-amz-meta-sha256").map(|s| s.trim().to_ascii_lowercase());
                Ok(Some((Remote { size, sha256 }, r.header("etag").unwrap_or_default().to_string())))
            }
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(ureq::Error::Status(status @ (401 | 403), _)) => {
                Err(SecondaryError::Refused(format!("the secondary answered {status} to HEAD {key}")))
            }
            Err(ureq::Error::Status(status, _)) => {
                Err(SecondaryError::Other(format!("the secondary answered {status} to HEAD {key}")))
            }
            Err(e) => Err(SecondaryError::Unreachable(unreached(&e, key))),
        }
    }

    /// What push says, once, when the store refused an upload (401, 403):
    /// every clip would be refused the same way.
    /// What push says, once, when the store did not answer: the run stops
    /// (every clip would meet it), its address named.
    pub fn unreachable(&self, why: &str) -> String {
        format!(
            "{why}: the secondary origin at {} did not answer, so the run stops here; nothing more was uploaded.\n  \
             help: is the endpoint right (CLIPSTORE_SECONDARY_ENDPOINT, else SECONDARY_ENDPOINT in .dev.vars, else in wrangler.toml), and is the store up? \
             Run push again once it answers: it picks up where this run stopped",
            self.endpoint()
        )
    }

    pub fn refused(&self, why: &str) -> String {
        let bucket = self.bucket_name();
        format!(
            "{why}: the secondary origin refused push's key pair, so the run stops here.\n  \
             help: CLIPSTORE_SECONDARY_ACCESS_KEY_ID and CLIPSTORE_SECONDARY_SECRET_ACCESS_KEY (or SECONDARY_ACCESS_KEY_ID \
             and SECONDARY_SECRET_ACCESS_KEY in .dev.vars) must be a key pair that may read and write bucket {bucket}, not \
             the Worker's read-only one; on AWS S3 its policy needs s3:PutObject and s3:GetObject on arn:aws:s3:::{bucket}/* \
             and s3:ListBucket on arn:aws:s3:::{bucket} (without ListBucket AWS answers 403, not 404, for a clip not \
             uploaded yet). See {}",
            crate::guides::guide("secondary-origin.md")
        )
    }

    /// Uploads `path` as `key` and verifies it (see the module comment).
    pub fn upload(
        &self,
        key: &str,
        path: &Path,
        size: u64,
        sha256: &str,
        content_type: &str,
    ) -> Result<(), SecondaryError> {
        let etag = if size <= MULTIPART_THRESHOLD {
            self.put_whole(key, path, size, sha256, content_type)?
        } else {
            self.put_parts(key, path, size, sha256, content_type)?
        };
        let found = self.head(key).map_err(|e| match e {
            SecondaryError::Refused(why) => SecondaryError::Refused(format!("{why} after uploading it")),
            other => other,
        })?;
        match found {
            Some((remote, found)) if remote.size == size && remote.sha256.as_deref() == Some(sha256) => {
                if same_etag(&found, &etag) {
                    Ok(())
                } else {
                    Err(SecondaryError::Other(format!(
                        "after the upload the secondary reports ETag {found}, expected {etag}"
                    )))
                }
            }
            Some((remote, _)) => Err(SecondaryError::Other(format!(
                "after the upload the secondary reports {} bytes and sha256 {}, expected {size} and {sha256}",
                remote.size,
                remote.sha256.as_deref().unwrap_or("(none)")
            ))),
            None => Err(SecondaryError::Other("after the upload the secondary does not have it".into())),
        }
    }

    /// One `PUT`; returns the verified ETag.
    fn put_whole(
        &self,
        key: &str,
        path: &Path,
        size: u64,
        sha256: &str,
        content_type: &str,
    ) -> Result<String, SecondaryError> {
        let body = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let md5 = md5_of(&body);
        let mut action = PutObject::new(&self.bucket, Some(&self.credentials), key);
        action.headers_mut().insert("x-amz-meta-sha256", sha256);
        let url = action.sign(SIGNED_FOR);
        let bar = crate::progress::upload(&format!("{key} -> secondary"), 0, size);
        let reader = bar.wrap_read(&body[..]);
        let response = self
            .agent
            .put(url.as_str())
            .set("x-amz-meta-sha256", sha256)
            .set("content-type", content_type)
            .set("content-length", &size.to_string())
            .send(reader);
        if response.is_ok() {
            crate::progress::sent(&bar);
        } else {
            bar.finish_and_clear();
        }
        let etag = answer(response, key)?.header("etag").unwrap_or_default().to_string();
        if !same_etag(&etag, &hex(&md5)) {
            return Err(
                format!("the secondary's ETag {etag} is not the MD5 of the file: the upload was corrupted").into()
            );
        }
        Ok(etag)
    }

    fn state_file(&self, key: &str) -> PathBuf {
        let name: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect();
        self.state_dir.join(format!("{name}.json"))
    }

    /// The parts the store has of `upload_id`: (number, size, ETag if listed);
    /// `None` when the upload no longer exists.
    fn listed_parts(&self, key: &str, upload_id: &str) -> Result<Option<Vec<ListedPart>>, SecondaryError> {
        let mut parts = Vec::new();
        let mut marker = None;
        loop {
            let mut action = ListParts::new(&self.bucket, Some(&self.credentials), key, upload_id);
            if let Some(m) = marker {
                action.set_part_number_marker(m);
            }
            let url = action.sign(SIGNED_FOR);
            let body = match self.agent.get(url.as_str()).call() {
                Ok(r) => r.into_string().map_err(|e| e.to_string())?,
                Err(ureq::Error::Status(404, _)) => return Ok(None),
                Err(e) => return Err(describe(e, key)),
            };
            let (listed, next) = parse_list_parts(&body);
            let more = !listed.is_empty() && body.contains("<IsTruncated>true</IsTruncated>");
            parts.extend(listed);
            match next {
                Some(m) if more && m > marker.unwrap_or(0) => marker = Some(m),
                _ => return Ok(Some(parts)),
            }
        }
    }

    /// A multipart upload, resumed if one of the same file was interrupted;
    /// returns the verified ETag of the whole object.
    fn put_parts(
        &self,
        key: &str,
        path: &Path,
        size: u64,
        sha256: &str,
        content_type: &str,
    ) -> Result<String, SecondaryError> {
        let part = part_size(size);
        let count = size.div_ceil(part);
        let state_file = self.state_file(key);
        let remembered: Option<UploadState> =
            std::fs::read_to_string(&state_file).ok().and_then(|t| serde_json::from_str(&t).ok());
        let mut listed = Vec::new();
        let mut upload_id = None;
        if let Some(state) =
            remembered.filter(|s| s.key == key && s.size == size && s.sha256 == sha256 && s.part_size == part)
        {
            if let Some(parts) = self.listed_parts(key, &state.upload_id)? {
                eprintln!("  {key}: resuming an interrupted upload, {} of {count} parts already there", parts.len());
                listed = parts;
                upload_id = Some(state.upload_id);
            }
        }
        let upload_id = match upload_id {
            Some(id) => id,
            None => {
                let mut action = CreateMultipartUpload::new(&self.bucket, Some(&self.credentials), key);
                action.headers_mut().insert("x-amz-meta-sha256", sha256);
                let url = action.sign(SIGNED_FOR);
                let response = self
                    .agent
                    .post(url.as_str())
                    .set("x-amz-meta-sha256", sha256)
                    .set("content-type", content_type)
                    .call();
                let body = answer(response, key)?.into_string().map_err(|e| e.to_string())?;
                let created =
                    CreateMultipartUpload::parse_response(&body).map_err(|e| format!("CreateMultipartUpload: {e}"))?;
                let state = UploadState {
                    key: key.to_string(),
                    size,
                    sha256: sha256.to_string(),
                    part_size: part,
                    upload_id: created.upload_id().to_string(),
                };
                std::fs::create_dir_all(&self.state_dir).map_err(|e| format!("{}: {e}", self.state_dir.display()))?;
                std::fs::write(&state_file, serde_json::to_string_pretty(&state).unwrap_or_default())
                    .map_err(|e| format!("{}: {e}", state_file.display()))?;
                state.upload_id
            }
        };
        let mut file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut md5s = Vec::with_capacity(count as usize);
        let mut etags = Vec::with_capacity(count as usize);
        let mut buf = Vec::new();
        let bar = crate::progress::upload(&format!("{key} -> secondary"), 0, size);
        for n in 1..=count {
            let offset = (n - 1) * part;
            let length = part.min(size - offset);
            buf.resize(length as usize, 0);
            file.seek(SeekFrom::Start(offset)).and_then(|_| file.read_exact(&mut buf)).map_err(|e| e.to_string())?;
            let md5 = md5_of(&buf);
            md5s.push(md5);
            let number = u16::try_from(n).map_err(|_| "too many parts".to_string())?;
            // A part already there with the same size, and the same MD5 when
            // the store lists its ETag (s3s-fs does not; the whole object's
            // ETag, checked at the end, covers every part then).
            let there = listed.iter().any(|p| {
                p.number == number && p.size == length && p.etag.as_deref().is_none_or(|e| same_etag(e, &hex(&md5)))
            });
            if there {
                etags.push(format!("\"{}\"", hex(&md5)));
                bar.inc(length);
                continue;
            }
            let url = UploadPart::new(&self.bucket, Some(&self.credentials), key, number, &upload_id).sign(SIGNED_FOR);
            let response =
                self.agent.put(url.as_str()).set("content-length", &length.to_string()).send(bar.wrap_read(&buf[..]));
            let etag = answer(response, key)?.header("etag").unwrap_or_default().to_string();
            if !same_etag(&etag, &hex(&md5)) {
                return Err(format!("part {n} of {key}: the secondary's ETag {etag} is not its MD5: corrupted").into());
            }
            crate::progress::note(&bar, &format!("  {key}: part {n} of {count} sent to the secondary"));
            etags.push(etag);
        }
        bar.finish_and_clear();
        let action = CompleteMultipartUpload::new(
            &self.bucket,
            Some(&self.credentials),
            key,
            &upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGNED_FOR);
        let body = action.body();
        let response = self.agent.post(url.as_str()).send_string(&body);
        let text = answer(response, key)?.into_string().map_err(|e| e.to_string())?;
        // S3 can answer 200 and still fail the completion.
        if text.contains("<Error>") {
            return Err(format!("completing the upload of {key} failed: {text}").into());
        }
        let _ = std::fs::remove_file(&state_file);
        Ok(multipart_etag(&md5s))
    }
}

/// A part of a multipart upload, as `ListParts` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPart {
    pub number: u16,
    pub size: u64,
    pub etag: Option<String>,
}

/// The parts of a `ListParts` answer and its `NextPartNumberMarker`. A plain
/// reading of the few elements needed: stores differ in what else they send
/// (s3s-fs lists no ETag), and a strict parser would refuse them.
pub fn parse_list_parts(xml: &str) -> (Vec<ListedPart>, Option<u16>) {
    fn element<'a>(text: &'a str, name: &str) -> Option<&'a str> {
        let start = text.find(&format!("<{name}>"))? + name.len() + 2;
        let end = start + text[start..].find(&format!("</{name}>"))?;
        Some(text[start..end].trim())
    }
    let parts = xml
        .split("<Part>")
        .skip(1)
        .filter_map(|block| {
            let block = block.split("</Part>").next()?;
            Some(ListedPart {
                number: element(block, "PartNumber")?.parse().ok()?,
                size: element(block, "Size")?.parse().ok()?,
                etag: element(block, "ETag").map(|e| e.replace("&quot;", "\"")),
            })
        })
        .collect();
    let next = element(xml, "NextPartNumberMarker").and_then(|m| m.parse().ok());
    (parts, next)
}

fn describe(e: ureq::Error, key: &str) -> SecondaryError {
    match e {
        ureq::Error::Status(status, r) => {
            let body = r.into_string().unwrap_or_default();
            let code = body.split("<Code>").nth(1).and_then(|s| s.split("</Code>").next()).unwrap_or("");
            let said = format!("the secondary answered {status} {code} for {key}");
            match status {
                401 | 403 => SecondaryError::Refused(said),
                _ => SecondaryError::Other(said),
            }
        }
        e => SecondaryError::Other(unreached(&e, key)),
    }
}

/// Why the store could not be asked, without the request's address: a
/// presigned URL stays valid for an hour, and one shown in a pasted log
/// would let anyone upload to that key.
fn unreached(e: &ureq::Error, key: &str) -> String {
    let ureq::Error::Transport(t) = e else { return format!("the secondary, for {key}: {}", e.kind()) };
    let mut why = t.kind().to_string();
    for part in t.message().map(str::to_string).into_iter().chain(std::error::Error::source(t).map(|s| s.to_string())) {
        why = why + ": " + &part;
    }
    format!("the secondary could not be reached for {key}: {why}")
}

fn answer(result: Result<ureq::Response, ureq::Error>, key: &str) -> Result<ureq::Response, SecondaryError> {
    result.map_err(|e| describe(e, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_fit_in_ten_thousand_parts() {
        assert_eq!(part_size(1), MIN_PART);
        assert_eq!(part_size(65 * 1024 * 1024), MIN_PART);
        let big = 200 * 1024 * 1024 * 1024u64;
        assert!(big.div_ceil(part_size(big)) <= MAX_PARTS);
        assert_eq!(part_size(big) % (1024 * 1024), 0);
    }

    #[test]
    fn multipart_etag_is_md5_of_md5s() {
        // Two parts "a" and "b": md5(md5("a") || md5("b")) + "-2".
        let (a, b) = (md5_of(b"a"), md5_of(b"b"));
        let mut joined = a.to_vec();
        joined.extend_from_slice(&b);
        assert_eq!(multipart_etag(&[a, b]), format!("\"{}-2\"", hex(&Md5::digest(&joined))));
        assert!(same_etag("\"ABC\"", "abc"));
    }

    #[test]
    fn list_parts_with_and_without_etags() {
        let xml = "<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>2</NextPartNumberMarker>\
            <Part><PartNumber>1</PartNumber><ETag>&quot;aa&quot;</ETag><Size>8</Size></Part>\
            <Part><PartNumber>2</PartNumber><Size>5</Size></Part></ListPartsResult>";
        let (parts, next) = parse_list_parts(xml);
        assert_eq!(
            parts,
            vec![
                ListedPart { number: 1, size: 8, etag: Some("\"aa\"".into()) },
                ListedPart { number: 2, size: 5, etag: None }
            ]
        );
        assert_eq!(next, Some(2));
    }

    /// A presigned address in an error message could be used by whoever
    /// reads it, for an hour.
    #[test]
    fn an_unreachable_store_is_named_without_the_signed_address() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/clips/a.mp4?X-Amz-Signature=0123abcd&X-Amz-Credential=AKIA");
        let e = ureq::get(&url).call().unwrap_err();
        let said = unreached(&e, "clips/a.mp4");
        assert!(said.starts_with("the secondary could not be reached for clips/a.mp4: "), "{said}");
        assert!(!said.contains("X-Amz") && !said.contains("0123abcd") && !said.contains("AKIA"), "{said}");
    }

    #[test]
    fn no_settings_means_no_secondary() {
        let dir = tempfile::tempdir().unwrap();
        for n in NAMES {
            assert!(std::env::var(format!("CLIPSTORE_SECONDARY_{n}")).is_err(), "test env is clean");
        }
        assert!(Secondary::from_root(dir.path(), true).unwrap().is_none());
        std::fs::create_dir_all(dir.path().join("edge-worker")).unwrap();
        std::fs::write(dir.path().join("edge-worker/.dev.vars"), "SECONDARY_BUCKET=clips\n").unwrap();
        let e = Secondary::from_root(dir.path(), true).err().unwrap();
        assert!(e.contains("half configured") && e.contains("CLIPSTORE_SECONDARY_ENDPOINT"), "{e}");
        // A deployed Worker's store is never the one .dev.vars names.
        assert!(Secondary::from_root(dir.path(), false).unwrap().is_none());
    }
}
