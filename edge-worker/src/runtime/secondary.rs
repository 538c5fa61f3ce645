//! The secondary origin in the runtime: reads its settings, asks it for a
//! clip's object (a presigned `HEAD`) and opens ranged reads of it (presigned
//! `GET`s), each within a time budget. The decisions (settings, signing,
//! whether an object is the catalog's clip) are in [`crate::secondary`]; the
//! bodies are piped to the client by `runtime/stream.rs` without entering
//! wasm. Log lines and errors never contain the secret or a signed URL.

use std::pin::pin;
use std::time::Duration;

use clipstore_core::json::{Json, ToJson};
use clipstore_core::ManifestClip;
use futures_util::future::{select, Either};
use web_sys::ReadableStream;
use worker::*;

use super::monitor::setting;
use crate::delivery::ByteSpan;
use crate::secondary::{
    self, check_segment, judge_head, range_header, s3_error_code, ConfigError, HeadAnswer, SecondaryConfig,
    SecondaryObject, SecondaryRefusal, Settings, SECONDARY_TIMEOUT_MS,
};

/// The secondary of this Worker: `Ok(None)` when it has none (the default).
pub(super) fn config(env: &Env) -> std::result::Result<Option<SecondaryConfig>, ConfigError> {
    let [endpoint, region, bucket, key, secret, style] = [
        secondary::ENDPOINT,
        secondary::REGION,
        secondary::BUCKET,
        secondary::ACCESS_KEY_ID,
        secondary::SECRET_ACCESS_KEY,
        secondary::URL_STYLE,
    ]
    .map(|name| setting(env, name));
    SecondaryConfig::from_settings(Settings {
        endpoint: endpoint.as_deref(),
        region: region.as_deref(),
        bucket: bucket.as_deref(),
        access_key_id: key.as_deref(),
        secret_access_key: secret.as_deref(),
        url_style: style.as_deref(),
    })
}

/// Sends a presigned request; gives up (and aborts it) when its headers do
/// not arrive within [`SECONDARY_TIMEOUT_MS`]. The URL is never in an error.
async fn send(method: Method, url: &str, headers: &[(&str, &str)]) -> std::result::Result<Response, String> {
    let h = Headers::new();
    for (name, value) in headers {
        h.set(name, value).map_err(|e| format!("header {name}: {e}"))?;
    }
    let request = super::http::new_request(url, method, &h, None).map_err(|e| format!("building the request: {e}"))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let sent = pin!(fetch.send_with_signal(&signal));
    let timeout = pin!(Delay::from(Duration::from_millis(SECONDARY_TIMEOUT_MS)));
    match select(sent, timeout).await {
        Either::Left((response, _)) => response.map_err(|e| format!("no answer: {e}")),
        Either::Right(_) => {
            controller.abort();
            Err(format!("no answer within {SECONDARY_TIMEOUT_MS} ms"))
        }
    }
}

/// The `<Code>` of a refused request's error body (S3 sends one with a
/// `GET`, never with a `HEAD`).
async fn error_code(mut response: Response) -> Option<String> {
    response.text().await.ok().as_deref().and_then(s3_error_code)
}

/// The secondary's copy of `entry`, if it is the catalog's clip.
pub(super) async fn head(
    config: &SecondaryConfig,
    entry: &ManifestClip,
) -> std::result::Result<SecondaryObject, SecondaryRefusal> {
    let key = entry.object_key.as_str();
    let now = Date::now().as_millis();
    let response =
        send(Method::Head, &config.presigned(true, key, now), &[]).await.map_err(SecondaryRefusal::Failed)?;
    let header = |name: &str| response.headers().get(name).ok().flatten();
    let (length, etag, modified, checksum, meta) = (
        header("content-length"),
        header("etag"),
        header("last-modified"),
        header("x-amz-checksum-sha256"),
        header("x-amz-meta-sha256"),
    );
    let answer = HeadAnswer {
        status: response.status_code(),
        content_length: length.as_deref(),
        etag: etag.as_deref(),
        last_modified: modified.as_deref(),
        checksum_sha256: checksum.as_deref(),
        meta_sha256: meta.as_deref(),
    };
    match judge_head(entry, &answer) {
        // A HEAD's refusal has no body: a one-byte GET tells the owner why
        // (SignatureDoesNotMatch, InvalidAccessKeyId, AccessDenied).
        Err(SecondaryRefusal::Denied { status, .. }) => {
            let code = match send(Method::Get, &config.presigned(false, key, now), &[("range", "bytes=0-0")]).await {
                Ok(r) if r.status_code() >= 400 => error_code(r).await,
                _ => None,
            };
            Err(SecondaryRefusal::Denied { status, code })
        }
        judged => judged,
    }
}

/// Opens one segment of the object: a ranged `GET` on the condition that the
/// object is still the one `head` judged (`If-Match` its ETag), checked to
/// be exactly the bytes asked for; its body stream is returned untouched.
pub(super) async fn open_segment(
    config: &SecondaryConfig,
    key: &str,
    etag: &str,
    segment: ByteSpan,
    size: u64,
) -> std::result::Result<ReadableStream, String> {
    let url = config.presigned(false, key, Date::now().as_millis());
    let range = range_header(segment);
    let response = send(Method::Get, &url, &[("range", &range), ("if-match", etag)])
        .await
        .map_err(|e| format!("secondary get {key}: {e}"))?;
    let status = response.status_code();
    let content_range = response.headers().get("content-range").ok().flatten();
    // Not every store honours If-Match on a GET: the ETag is checked too.
    let same_object = match response.headers().get("etag").ok().flatten() {
        Some(found) if status < 300 && found.trim().trim_matches('"') != etag.trim_matches('"') => {
            Err(SecondaryRefusal::Failed("the object changed during the download (another ETag)".into()))
        }
        _ => Ok(()),
    };
    if let Err(refused) = check_segment(status, content_range.as_deref(), segment, size).and(same_object) {
        let refused = match refused {
            SecondaryRefusal::Denied { status, .. } => {
                SecondaryRefusal::Denied { status, code: error_code(response).await }
            }
            other => {
                if let ResponseBody::Stream(body) = response.into_parts().1 {
                    let _ = wasm_bindgen_futures::JsFuture::from(body.cancel()).await;
                }
                other
            }
        };
        return Err(refused.describe(key));
    }
    match response.into_parts().1 {
        ResponseBody::Stream(body) => Ok(body),
        _ => Err(format!("the secondary's answer for {key} has no body")),
    }
}

/// Clips the self-test checks per run: with a secondary each clip costs two
/// subrequests (R2's `head` and the secondary's `HEAD`), so half as many,
/// keeping a run within the Free plan's 50 subrequests.
pub(super) fn clips_per_run(env: &Env, per_run: usize) -> usize {
    match config(env) {
        Ok(Some(_)) => secondary::clips_per_run(per_run),
        _ => per_run,
    }
}

/// The self-test's look at the secondary (docs/monitoring.md): a setting
/// that is wrong, each clip of this run's slice of the catalog missing there
/// or different (remembered per clip as `<slug>@secondary`, like R2's), and
/// downloads being served from it, which means R2 is failing.
pub(super) async fn self_test(
    env: &Env,
    clips: &[(&String, &ManifestClip)],
    db: Option<&D1Database>,
    findings: &mut crate::monitor::RunFindings,
) {
    let config = match config(env) {
        Ok(Some(config)) => config,
        Ok(None) => return,
        Err(e) => {
            console_error!("{}", log_line!({ "event": "secondary_misconfigured", "error": e.to_string() }));
            findings.system.push(("secondary".into(), secondary::config_problem(&e)));
            return;
        }
    };
    findings.catalog.extend(manifest_slugs().map(|slug| secondary::monitor_slug(slug)));
    for (slug, clip) in clips {
        match head(&config, clip).await {
            Ok(_) => findings.clips.push((secondary::monitor_slug(slug), None)),
            Err(SecondaryRefusal::Missing) => {
                findings.clips.push((secondary::monitor_slug(slug), Some(crate::monitor::ClipProblem::Missing)))
            }
            Err(SecondaryRefusal::Different(problem)) => {
                findings.clips.push((secondary::monitor_slug(slug), Some(problem)))
            }
            Err(other) => {
                findings.system.push(("secondary".into(), other.describe(&clip.object_key)));
                break;
            }
        }
    }
    let Some(db) = db else { return };
    let since = Date::now().as_millis().saturating_sub(secondary::FAILOVER_WINDOW_MINUTES * 60_000);
    let latest = match db.prepare(secondary::sql::LATEST_ORIGIN).bind(&[super::num(since)]) {
        Ok(statement) => super::d1::first_row_as_worker::<OriginRow>(&statement).await,
        Err(e) => Err(e.to_string()),
    };
    match latest {
        Ok(Some(row)) if row.origin == "secondary" => {
            findings.system.push(("r2_failover".into(), secondary::failover_problem(row.n)));
        }
        Ok(_) => {}
        Err(e) => console_error!("{}", log_line!({ "event": "monitor_origin_unread", "error": e })),
    }
}

struct OriginRow {
    origin: String,
    n: u64,
}
crate::from_row!(OriginRow { origin, n });

fn manifest_slugs() -> impl Iterator<Item = &'static String> {
    super::catalog_files().iter().map(|(name, _)| name)
}

/// The deep health check's entry (`GET /admin/health`): off, usable (the
/// store answers with this key for the first catalog clip), or not.
pub(super) async fn health_check(env: &Env) -> crate::monitor::Check {
    use crate::monitor::Check;
    let config = match config(env) {
        Ok(None) => return Check::pass("secondary", "no secondary origin (optional; docs/secondary-origin.md)"),
        Ok(Some(config)) => config,
        Err(e) => return Check::fail("secondary", secondary::config_problem(&e)),
    };
    let Some(clip) = super::manifest().clips.values().next() else {
        return Check::pass("secondary", format!("secondary origin: bucket {}", config.bucket_name()));
    };
    match head(&config, clip).await {
        Ok(_) | Err(SecondaryRefusal::Missing | SecondaryRefusal::Different(_)) => Check::pass(
            "secondary",
            format!("secondary origin reachable with its key: bucket {}", config.bucket_name()),
        ),
        Err(refused) => Check::fail("secondary", refused.describe(&clip.object_key)),
    }
}

/// The secondary's copy of a clip for `GET /admin/catalog` (`site-gen
/// doctor`).
pub(super) async fn catalog_entry(config: &SecondaryConfig, clip: &ManifestClip) -> Json {
    let (found, problem) = match head(config, clip).await {
        Ok(object) => (object.stored().to_json(), Json::Null),
        Err(SecondaryRefusal::Missing) => (Json::Null, Json::object([("problem", "missing".to_json())])),
        Err(SecondaryRefusal::Different(problem)) => (Json::Null, problem.to_json()),
        Err(other) => {
            let detail = other.describe(&clip.object_key);
            (Json::Null, Json::object([("problem", "unavailable".to_json()), ("detail", detail.to_json())]))
        }
    };
    Json::object([("found", found), ("problem", problem)])
}
