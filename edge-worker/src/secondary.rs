//! The secondary origin: a second, independent copy of every clip in any
//! S3-compatible store (AWS S3, Backblaze B2, Wasabi, …), served when R2
//! fails, times out or lacks the object (docs/secondary-origin.md).
//!
//! Plain Rust, tested natively; `runtime/secondary.rs` sends the requests.
//! This module decides:
//! - whether the Worker has a secondary at all, from its vars and secrets
//!   ([`SecondaryConfig::from_settings`]): all five unset is "off"; any
//!   other mix, or a value of the wrong shape, is a [`ConfigError`] that
//!   names the setting and never contains the secret;
//! - the SigV4-signed URLs of a `HEAD` and a ranged `GET` of one object
//!   ([`SecondaryConfig::presigned`], signed by [`crate::sigv4`], query-string
//!   authentication: the `Range` and `If-Match` headers ride along unsigned,
//!   as S3 allows). The object key always comes from the embedded catalog
//!   manifest, never from a URL;
//! - whether a stored object is the catalog's clip ([`judge_head`]): its size
//!   must be the manifest's, and its SHA-256 too when the store reports one
//!   (`x-amz-checksum-sha256`, or the `x-amz-meta-sha256` that `site-gen push`
//!   sets); a different object is never served;
//! - whether a ranged answer is exactly the bytes asked for ([`check_segment`]).
//!
//! No XML parsing: a `HEAD` and a ranged `GET` only need their headers, and a
//! refusal is described from its status (the body's `<Code>` is read with a
//! plain substring search, [`s3_error_code`]).

use clipstore_core::ManifestClip;

use crate::delivery::ByteSpan;
use crate::monitor::{clip_problem, hex, ClipProblem, StoredObject};
use crate::sigv4::{Endpoint, EndpointError, Presigner};

/// The names of the settings: three plain vars in `wrangler.toml` and two
/// secrets (`wrangler secret put`).
pub const ENDPOINT: &str = "SECONDARY_ENDPOINT";
pub const REGION: &str = "SECONDARY_REGION";
pub const BUCKET: &str = "SECONDARY_BUCKET";
pub const ACCESS_KEY_ID: &str = "SECONDARY_ACCESS_KEY_ID";
pub const SECRET_ACCESS_KEY: &str = "SECONDARY_SECRET_ACCESS_KEY";
/// Optional: `virtual` for virtual-hosted-style URLs (`bucket.host/key`);
/// path style (`host/bucket/key`) by default, which every provider and
/// bucket name supports.
pub const URL_STYLE: &str = "SECONDARY_URL_STYLE";
/// Optional: milliseconds R2 gets to answer before the Worker turns to the
/// secondary ([`DEFAULT_R2_BUDGET_MS`]).
pub const R2_BUDGET: &str = "SECONDARY_R2_BUDGET_MS";

/// How long R2 may take to say whether it has the object before the Worker
/// asks the secondary instead. R2 answers a `head` in tens of milliseconds;
/// two seconds is an outage, and the customer has waited enough.
pub const DEFAULT_R2_BUDGET_MS: u64 = 2_000;
/// Bounds of `SECONDARY_R2_BUDGET_MS`.
pub const R2_BUDGET_RANGE: (u64, u64) = (100, 10_000);
/// How long the secondary may take to answer one request (its headers).
pub const SECONDARY_TIMEOUT_MS: u64 = 10_000;
/// Lifetime of a signed URL: it is used at once, by the Worker only.
pub const SIGNED_URL_SECS: u64 = 300;

/// A usable secondary origin. `Debug` leaves the secret out.
#[derive(Clone)]
pub struct SecondaryConfig {
    bucket: String,
    region: String,
    signer: Presigner,
}

impl std::fmt::Debug for SecondaryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecondaryConfig")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.signer.access_key_id())
            .finish_non_exhaustive()
    }
}

/// Why the secondary's settings cannot be used. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The five settings as read from the Worker's environment (trimmed, `None`
/// when unset or empty), plus the optional URL style.
#[derive(Debug, Default, Clone, Copy)]
pub struct Settings<'a> {
    pub endpoint: Option<&'a str>,
    pub region: Option<&'a str>,
    pub bucket: Option<&'a str>,
    pub access_key_id: Option<&'a str>,
    pub secret_access_key: Option<&'a str>,
    pub url_style: Option<&'a str>,
}

fn shaped(value: &str, min: usize, max: usize, allowed: impl Fn(char) -> bool) -> bool {
    (min..=max).contains(&value.len()) && value.chars().all(allowed)
}

impl SecondaryConfig {
    /// `Ok(None)`: no secondary (none of the five settings is set).
    pub fn from_settings(s: Settings<'_>) -> Result<Option<SecondaryConfig>, ConfigError> {
        let named = [
            (ENDPOINT, s.endpoint),
            (REGION, s.region),
            (BUCKET, s.bucket),
            (ACCESS_KEY_ID, s.access_key_id),
            (SECRET_ACCESS_KEY, s.secret_access_key),
        ];
        let missing: Vec<&str> = named.iter().filter(|(_, v)| v.is_none()).map(|(n, _)| *n).collect();
        if missing.len() == named.len() {
            return Ok(None);
        }
        if !missing.is_empty() {
            return Err(ConfigError(format!(
                "the secondary origin is half configured: {} not set (set all five, or none)",
                missing.join(", ")
            )));
        }
        let (endpoint, region, bucket, key, secret) = (
            s.endpoint.unwrap_or_default(),
            s.region.unwrap_or_default(),
            s.bucket.unwrap_or_default(),
            s.access_key_id.unwrap_or_default(),
            s.secret_access_key.unwrap_or_default(),
        );
        let url = Endpoint::parse(endpoint).map_err(|e| match e {
            EndpointError::NotAUrl => ConfigError(format!(
                "{ENDPOINT} is not a URL (https://host or https://host:port, a Unicode domain in its xn-- form): {endpoint:?}"
            )),
            EndpointError::MoreThanAnAddress => ConfigError(format!(
                "{ENDPOINT} must be the store's address only, without a path, query or user: {endpoint:?}"
            )),
        })?;
        if url.scheme != "https" && !url.is_loopback() {
            return Err(ConfigError(format!(
                "{ENDPOINT} must be an https:// URL (plain http only for a local test server): {endpoint:?}"
            )));
        }
        if !shaped(region, 2, 32, |c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ConfigError(format!("{REGION} must look like us-east-1 or auto: {region:?}")));
        }
        // S3's bucket naming rules (B2 and others follow them).
        if !shaped(bucket, 3, 63, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            || bucket.starts_with(['-', '.'])
            || bucket.ends_with(['-', '.'])
        {
            return Err(ConfigError(format!("{BUCKET} is not a valid bucket name: {bucket:?}")));
        }
        // AWS: 20 upper-case characters; B2: a 25-digit key id; others vary.
        if !shaped(key, 12, 128, |c| c.is_ascii_alphanumeric()) {
            return Err(ConfigError(format!(
                "{ACCESS_KEY_ID} does not look like an access key id (12 to 128 letters and digits)"
            )));
        }
        // AWS: 40 base64 characters; B2: 31. Its value is never shown.
        if !shaped(secret, 20, 128, |c| c.is_ascii_graphic()) {
            return Err(ConfigError(format!(
                "{SECRET_ACCESS_KEY} does not look like a secret key (20 to 128 visible ASCII characters, {} given)",
                secret.len()
            )));
        }
        let virtual_host = match s.url_style {
            None | Some("path") => false,
            Some("virtual") if url.is_ip() => {
                return Err(ConfigError(format!(
                    "{URL_STYLE}=virtual needs a host name in {ENDPOINT}, not an IP address: {endpoint:?}"
                )));
            }
            Some("virtual") => true,
            Some(other) => {
                return Err(ConfigError(format!("{URL_STYLE} must be \"path\" or \"virtual\": {other:?}")));
            }
        };
        Ok(Some(SecondaryConfig {
            bucket: bucket.to_string(),
            region: region.to_string(),
            signer: Presigner::new(&url, bucket, virtual_host, region, key, secret),
        }))
    }

    pub fn bucket_name(&self) -> &str {
        &self.bucket
    }

    /// The presigned URL of a `HEAD` (`head`) or `GET` of `key`, valid for
    /// [`SIGNED_URL_SECS`] from `now_ms` (unix milliseconds).
    pub fn presigned(&self, head: bool, key: &str, now_ms: u64) -> String {
        self.signer.presign(if head { "HEAD" } else { "GET" }, key, now_ms / 1000, SIGNED_URL_SECS)
    }
}

/// Downloads served from the secondary within this many minutes, the latest
/// of all downloads, mean R2 is failing (the self-test's `r2_failover`).
pub const FAILOVER_WINDOW_MINUTES: u64 = 30;

/// Clips per self-test run when each is checked in both origins: half of
/// `MONITOR_CLIPS_PER_RUN` (at least one), so a run makes as many storage
/// calls as without a secondary.
pub fn clips_per_run(per_run: usize) -> usize {
    (per_run / 2).max(1)
}

/// The monitor's name for a clip's copy in the secondary: its problems are
/// remembered per clip like R2's (`crate::monitor::MonitorState`).
pub fn monitor_slug(slug: &str) -> String {
    format!("{slug}@secondary")
}

/// The self-test's problem for settings that cannot be used.
pub fn config_problem(e: &ConfigError) -> String {
    format!("the secondary origin cannot be used, downloads have no second copy to turn to: {e}")
}

/// The self-test's problem while downloads are served from the secondary.
pub fn failover_problem(served: u64) -> String {
    format!(
        "R2 did not serve downloads (R2 failing, or files missing from the bucket: the other lines say which); \
         downloads continue from the secondary ({served} served from it in the last \
         {FAILOVER_WINDOW_MINUTES} minutes, the latest download among them)"
    )
}

/// The ledger's statements about origins.
pub mod sql {
    /// The origin of the latest download with an origin since `?1` (unix
    /// ms), and how many downloads the secondary served since then
    /// (`migrations/0009_origin.sql`).
    pub const LATEST_ORIGIN: &str = "SELECT origin, \
         (SELECT COUNT(*) FROM download_attempts WHERE origin = 'secondary' AND at >= ?1) AS n \
         FROM download_attempts WHERE origin IS NOT NULL AND at >= ?1 ORDER BY at DESC, id DESC LIMIT 1";
}

/// `SECONDARY_R2_BUDGET_MS`, within [`R2_BUDGET_RANGE`]; the default when
/// unset or not a number.
pub fn r2_budget_ms(var: Option<&str>) -> u64 {
    var.and_then(|v| v.trim().parse().ok())
        .map_or(DEFAULT_R2_BUDGET_MS, |ms: u64| ms.clamp(R2_BUDGET_RANGE.0, R2_BUDGET_RANGE.1))
}

/// How R2 answered the question "do you have this object?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum R2Answer {
    Found,
    Missing,
    Failed(String),
    TimedOut { budget_ms: u64 },
}

impl R2Answer {
    /// Why a download turned to the secondary (a log line and the 503 detail).
    pub fn describe(&self, key: &str, slug: &str) -> String {
        match self {
            R2Answer::Found => format!("R2 has {key}"),
            R2Answer::Missing => format!("R2 object {key} is missing (clip {slug})"),
            R2Answer::Failed(e) => e.clone(),
            R2Answer::TimedOut { budget_ms } => format!("R2 did not answer for {key} within {budget_ms} ms"),
        }
    }
}

/// The headers of a secondary `HEAD` that matter, as received.
#[derive(Debug, Default, Clone, Copy)]
pub struct HeadAnswer<'a> {
    pub status: u16,
    pub content_length: Option<&'a str>,
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
    /// `x-amz-checksum-sha256`: base64 of the digest (when asked for with
    /// `x-amz-checksum-mode: ENABLED` and stored with the object).
    pub checksum_sha256: Option<&'a str>,
    /// `x-amz-meta-sha256`: hex, set by `site-gen push`.
    pub meta_sha256: Option<&'a str>,
}

/// The secondary's copy of a clip, checked against the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondaryObject {
    pub size: u64,
    /// The ETag as the store sent it (quoted): the response's validator, and
    /// the `If-Match` of every ranged `GET`, so that one response never
    /// mixes two objects.
    pub etag: String,
    /// Unix seconds.
    pub last_modified: u64,
    pub sha256: Option<String>,
}

impl SecondaryObject {
    pub fn stored(&self) -> StoredObject {
        StoredObject { size: self.size, sha256: self.sha256.clone(), etag: self.etag.clone() }
    }
}

/// Why the secondary did not serve a clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondaryRefusal {
    /// The store has no such object (404).
    Missing,
    /// The store refused the request: the key is wrong or lacks permission.
    Denied { status: u16, code: Option<String> },
    /// Any other answer (a 5xx, a malformed header).
    Failed(String),
    /// The object is not the catalog's clip.
    Different(ClipProblem),
}

impl SecondaryRefusal {
    pub fn describe(&self, key: &str) -> String {
        match self {
            SecondaryRefusal::Missing => format!("the secondary has no object {key}"),
            SecondaryRefusal::Denied { status, code } => format!(
                "the secondary refused the request for {key} ({status}{}): is the access key pair right, and may it read the bucket?",
                code.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
            ),
            SecondaryRefusal::Failed(e) => format!("the secondary failed for {key}: {e}"),
            SecondaryRefusal::Different(p) => {
                format!("the secondary's {key} is not the catalog's clip, not served: {}", p.describe())
            }
        }
    }
}

/// `<Code>…</Code>` of an S3 error body, if there is one.
pub fn s3_error_code(body: &str) -> Option<String> {
    let start = body.find("<Code>")? + "<Code>".len();
    let end = start + body[start..].find("</Code>")?;
    let code = &body[start..end];
    shaped(code, 1, 64, |c| c.is_ascii_alphanumeric()).then(|| code.to_string())
}

/// Maps a refused status to a refusal (`code`: from the error body; a `HEAD`
/// has none).
pub fn refusal(status: u16, code: Option<String>) -> SecondaryRefusal {
    match status {
        404 => SecondaryRefusal::Missing,
        400 | 401 | 403 => SecondaryRefusal::Denied { status, code },
        _ => SecondaryRefusal::Failed(format!(
            "answered {status}{}",
            code.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
        )),
    }
}

/// Judges a secondary `HEAD` against the catalog entry: the object is served
/// only if it is there, its size is the manifest's, and its SHA-256 (when
/// the store reports one and the manifest has one) is the manifest's.
pub fn judge_head(entry: &ManifestClip, head: &HeadAnswer<'_>) -> Result<SecondaryObject, SecondaryRefusal> {
    if head.status != 200 {
        return Err(refusal(head.status, None));
    }
    let size = head
        .content_length
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| SecondaryRefusal::Failed("its HEAD has no Content-Length".into()))?;
    let etag = head
        .etag
        .map(str::trim)
        .filter(|e| e.len() >= 2 && e.is_ascii() && !e.contains(['\r', '\n']))
        .ok_or_else(|| SecondaryRefusal::Failed("its HEAD has no ETag".into()))?;
    let etag = if etag.starts_with('"') { etag.to_string() } else { format!("\"{etag}\"") };
    let last_modified = head
        .last_modified
        .and_then(|v| httpdate::parse_http_date(v.trim()).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let sha256 = head
        .checksum_sha256
        .and_then(|b64| base64_decode(b64.trim()))
        .filter(|d| d.len() == 32)
        .map(|d| hex(&d))
        .or_else(|| {
            head.meta_sha256
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
        });
    let object = SecondaryObject { size, etag, last_modified, sha256 };
    match clip_problem(entry, Some(&object.stored())) {
        Some(problem) => Err(SecondaryRefusal::Different(problem)),
        None => Ok(object),
    }
}

/// Checks a ranged `GET`'s answer: `206` with `Content-Range: bytes
/// first-last/size` exactly the segment of an object of `size` bytes (or a
/// `200` of the whole object when the segment is all of it).
pub fn check_segment(
    status: u16,
    content_range: Option<&str>,
    segment: ByteSpan,
    size: u64,
) -> Result<(), SecondaryRefusal> {
    match status {
        206 => {
            let expected = format!("bytes {}-{}/{size}", segment.offset, segment.offset + segment.length - 1);
            match content_range.map(str::trim) {
                Some(found) if found == expected => Ok(()),
                found => Err(SecondaryRefusal::Failed(format!(
                    "asked for {expected}, got Content-Range {}",
                    found.unwrap_or("(none)")
                ))),
            }
        }
        200 if segment.offset == 0 && segment.length == size => Ok(()),
        200 => Err(SecondaryRefusal::Failed("ignored the Range header (answered 200)".into())),
        412 => Err(SecondaryRefusal::Failed("the object changed during the download (412)".into())),
        other => Err(refusal(other, None)),
    }
}

/// The `Range` header of a segment.
pub fn range_header(segment: ByteSpan) -> String {
    format!("bytes={}-{}", segment.offset, segment.offset + segment.length - 1)
}

/// Standard base64 (with or without padding) to bytes.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let text = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn settings() -> Settings<'static> {
        Settings {
            endpoint: Some("https://s3.eu-central-003.backblazeb2.com"),
            region: Some("eu-central-003"),
            bucket: Some("saltglass-clips"),
            access_key_id: Some(KEY),
            secret_access_key: Some(SECRET),
            url_style: None,
        }
    }

    fn entry(size: u64, sha256: Option<&str>) -> ManifestClip {
        ManifestClip {
            variant: None,
            variants: Default::default(),
            title: "Harbour".into(),
            object_key: "clips/harbour.mp4".into(),
            file_name: "harbour.mp4".into(),
            size,
            content_type: "video/mp4".into(),
            price: 1800,
            sha256: sha256.map(str::to_string),
        }
    }

    #[test]
    fn no_settings_is_off_and_all_five_is_on() {
        assert!(SecondaryConfig::from_settings(Settings::default()).unwrap().is_none());
        let config = SecondaryConfig::from_settings(settings()).unwrap().unwrap();
        assert_eq!(config.bucket_name(), "saltglass-clips");
    }

    #[test]
    fn half_configured_names_what_is_missing() {
        let s = Settings { secret_access_key: None, region: None, ..settings() };
        let e = SecondaryConfig::from_settings(s).unwrap_err().0;
        assert!(e.contains("SECONDARY_REGION, SECONDARY_SECRET_ACCESS_KEY not set"), "{e}");
    }

    #[test]
    fn malformed_values_are_refused_without_showing_the_secret() {
        let bad_secret = "short secret\u{7f}";
        let cases = [
            Settings { endpoint: Some("s3.example.com"), ..settings() },
            Settings { endpoint: Some("http://s3.example.com"), ..settings() },
            Settings { endpoint: Some("https://s3.example.com/bucket"), ..settings() },
            Settings { region: Some("eu central"), ..settings() },
            Settings { bucket: Some("Clips_Bucket"), ..settings() },
            Settings { access_key_id: Some("AKIA-bad key"), ..settings() },
            Settings { secret_access_key: Some(bad_secret), ..settings() },
            Settings { url_style: Some("vhost"), ..settings() },
        ];
        for s in cases {
            let e = SecondaryConfig::from_settings(s).unwrap_err().0;
            assert!(!e.contains(bad_secret) && !e.contains(SECRET), "{e}");
        }
        let debug = format!("{:?}", SecondaryConfig::from_settings(settings()).unwrap().unwrap());
        assert!(!debug.contains(SECRET), "{debug}");
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let s = Settings { endpoint: Some("http://127.0.0.1:9000"), ..settings() };
        assert!(SecondaryConfig::from_settings(s).unwrap().is_some());
    }

    #[test]
    fn presigned_urls_are_sigv4_for_the_catalog_key() {
        let config = SecondaryConfig::from_settings(settings()).unwrap().unwrap();
        let url = config.presigned(false, "clips/harbour.mp4", 1_369_353_600_000);
        assert!(
            url.starts_with("https://s3.eu-central-003.backblazeb2.com/saltglass-clips/clips/harbour.mp4?"),
            "{url}"
        );
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Feu-central-003%2Fs3%2Faws4_request",
            "X-Amz-Date=20130524T000000Z",
            "X-Amz-Expires=300",
            "X-Amz-SignedHeaders=host",
            "X-Amz-Signature=",
        ] {
            assert!(url.contains(part), "{part} in {url}");
        }
        assert!(!url.contains(SECRET));
        let head = config.presigned(true, "clips/harbour.mp4", 1_369_353_600_000);
        assert_ne!(head, url, "the method is signed");
    }

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn head(length: &str) -> HeadAnswer<'_> {
        HeadAnswer {
            status: 200,
            content_length: Some(length),
            etag: Some("\"abc\""),
            last_modified: Some("Wed, 02 Dec 2026 08:00:00 GMT"),
            ..HeadAnswer::default()
        }
    }

    #[test]
    fn an_object_of_the_catalog_size_is_served() {
        let object = judge_head(&entry(1000, Some(SHA)), &head("1000")).unwrap();
        assert_eq!(object.size, 1000);
        assert_eq!(object.etag, "\"abc\"");
        assert_eq!(object.last_modified, 1_796_198_400);
    }

    #[test]
    fn an_object_of_another_size_is_never_served() {
        let refused = judge_head(&entry(1000, None), &head("999")).unwrap_err();
        assert_eq!(refused, SecondaryRefusal::Different(ClipProblem::WrongSize { expected: 1000, found: 999 }));
    }

    #[test]
    fn a_checksum_that_differs_is_never_served() {
        // base64 of the SHA-256 of "test" (= SHA above).
        let good = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";
        let answer = HeadAnswer { checksum_sha256: Some(good), ..head("1000") };
        assert_eq!(judge_head(&entry(1000, Some(SHA)), &answer).unwrap().sha256.as_deref(), Some(SHA));
        let other = "AAAAgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";
        let answer = HeadAnswer { checksum_sha256: Some(other), ..head("1000") };
        assert!(matches!(
            judge_head(&entry(1000, Some(SHA)), &answer),
            Err(SecondaryRefusal::Different(ClipProblem::WrongHash { .. }))
        ));
        let answer = HeadAnswer { meta_sha256: Some(&"0".repeat(64)), ..head("1000") };
        assert!(judge_head(&entry(1000, Some(SHA)), &answer).is_err());
    }

    #[test]
    fn refusals_by_status() {
        assert_eq!(
            judge_head(&entry(1, None), &HeadAnswer { status: 404, ..head("1") }),
            Err(SecondaryRefusal::Missing)
        );
        assert!(matches!(
            judge_head(&entry(1, None), &HeadAnswer { status: 403, ..head("1") }),
            Err(SecondaryRefusal::Denied { status: 403, .. })
        ));
        let body = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>x</Message></Error>";
        assert_eq!(s3_error_code(body).as_deref(), Some("SignatureDoesNotMatch"));
        assert_eq!(s3_error_code("<Code><script></Code>"), None);
    }

    #[test]
    fn segments_must_be_exactly_the_bytes_asked_for() {
        let seg = ByteSpan { offset: 100, length: 50 };
        assert_eq!(range_header(seg), "bytes=100-149");
        assert!(check_segment(206, Some("bytes 100-149/1000"), seg, 1000).is_ok());
        assert!(check_segment(206, Some("bytes 100-149/999"), seg, 1000).is_err());
        assert!(check_segment(206, None, seg, 1000).is_err());
        assert!(check_segment(200, None, seg, 1000).is_err());
        assert!(check_segment(200, None, ByteSpan { offset: 0, length: 1000 }, 1000).is_ok());
        assert!(check_segment(412, None, seg, 1000).is_err());
    }

    #[test]
    fn r2_budget_is_bounded() {
        assert_eq!(r2_budget_ms(None), DEFAULT_R2_BUDGET_MS);
        assert_eq!(r2_budget_ms(Some("5")), 100);
        assert_eq!(r2_budget_ms(Some("500")), 500);
        assert_eq!(r2_budget_ms(Some("x")), DEFAULT_R2_BUDGET_MS);
    }

    #[test]
    fn latest_origin_says_whether_r2_is_failing() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        for migration in crate::ledger_sql_tests::MIGRATIONS {
            db.execute_batch(migration).unwrap();
        }
        let attempt = |id: &str, at: i64, origin: Option<&str>| {
            db.execute(
                "INSERT INTO download_attempts (attempt_id, at, method, status, outcome, origin) \
                 VALUES (?1, ?2, 'GET', 200, 'granted', ?3)",
                rusqlite::params![id, at, origin],
            )
            .unwrap();
        };
        let latest = |since: i64| -> Option<(String, i64)> {
            db.query_row(sql::LATEST_ORIGIN, [since], |r| Ok((r.get(0)?, r.get(1)?))).ok()
        };
        assert_eq!(latest(0), None);
        attempt("a", 10, Some("r2"));
        attempt("b", 20, Some("secondary"));
        attempt("c", 25, None); // a refused token: no origin
        assert_eq!(latest(0), Some(("secondary".into(), 1)));
        attempt("d", 30, Some("r2"));
        assert_eq!(latest(0), Some(("r2".into(), 1)), "R2 serves again");
        assert_eq!(latest(31), None, "nothing in the window");
    }

    #[test]
    fn both_origins_share_the_self_tests_calls() {
        assert_eq!(clips_per_run(40), 20);
        assert_eq!(clips_per_run(1), 1);
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8").unwrap(), b"hello");
        assert!(base64_decode("a").is_none());
        assert!(base64_decode("a*==").is_none());
    }
}
