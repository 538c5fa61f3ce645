//! Runtime glue (wasm32 only): bindings, R2, D1 and the fetch handler.
//!
//! Bindings (see `wrangler.toml`): `ASSETS` (the static shop), `CLIPS` (R2
//! bucket with the clip objects), `DB` (D1, download counts) and the secret
//! `TOKEN_KEYS` (`KEYID:SECRET[,…]`, see `clipstore_core::Keyring`).
//!
//! Clip bytes never enter wasm: the R2 body stream is piped, inside the
//! runtime, into a `FixedLengthStream` whose readable side becomes the
//! response body. The fixed length is what makes workerd send
//! `Content-Length` instead of chunked encoding (workers-rs #1051).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use clipstore_core::{verify_token, CatalogManifest, Claims, Keyring};
use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::FixedLengthStream;
use worker::*;

use crate::delivery::{self, ByteSpan, DownloadRequest, StoredClip};
use crate::error::DownloadError;
use crate::order::{OrderClaims, OrderView};
use crate::pages;
use crate::preconditions::{Conditions, Validators};
use crate::routes::{route, Route};

const MANIFEST_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/catalog-manifest.json"));

fn manifest() -> &'static CatalogManifest {
    static MANIFEST: OnceLock<CatalogManifest> = OnceLock::new();
    MANIFEST.get_or_init(|| CatalogManifest::from_json(MANIFEST_JSON).expect("build.rs validated the manifest"))
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let path = req.path();
    let route = route(&path);
    if route == Route::Asset {
        return env.assets("ASSETS")?.fetch_request(req).await;
    }
    let head = req.method() == Method::Head;
    let result = if !(head || req.method() == Method::Get) {
        Err(DownloadError::MethodNotAllowed)
    } else {
        match route {
            Route::Order { token } => order_page(&env, token, head).await,
            Route::Clip { token, slug } => clip(&req, &env, &ctx, token, slug, head).await,
            Route::NotFound | Route::Asset => Err(DownloadError::NotFound),
        }
    };
    match result {
        Ok(response) => Ok(response),
        Err(error) => error_response(&error),
    }
}

/// Logs a refusal as one JSON line (`wrangler tail`, Workers Logs). Storage
/// failures are errors the owner must see; token refusals are info.
fn log_refusal(error: &DownloadError) {
    let detail = match error {
        DownloadError::Unavailable { detail } => detail.as_str(),
        _ => "",
    };
    let line = json!({
        "event": "download_refused",
        "code": error.log_code(),
        "status": error.status(),
        "detail": detail,
    });
    if error.is_owner_facing() {
        console_error!("{line}");
    } else {
        console_log!("{line}");
    }
}

fn error_response(error: &DownloadError) -> Result<Response> {
    log_refusal(error);
    let mut response = Response::from_html(pages::error_page(&manifest().shop, error))?.with_status(error.status());
    let headers = response.headers_mut();
    headers.set("cache-control", delivery::CACHE_CONTROL)?;
    headers.set("referrer-policy", "no-referrer")?;
    headers.set("x-robots-tag", "noindex")?;
    if matches!(error, DownloadError::MethodNotAllowed) {
        headers.set("allow", "GET, HEAD")?;
    }
    if matches!(error, DownloadError::Unavailable { .. }) {
        headers.set("retry-after", "60")?;
    }
    Ok(response)
}

fn unavailable(what: impl std::fmt::Display) -> DownloadError {
    DownloadError::Unavailable { detail: what.to_string() }
}

fn now_unix() -> u64 {
    Date::now().as_millis() / 1000
}

/// Verifies the token against the keyring in the `TOKEN_KEYS` secret.
fn verify(env: &Env, token: &str) -> std::result::Result<Claims, DownloadError> {
    let keys = env.secret("TOKEN_KEYS").map_err(|_| unavailable("the TOKEN_KEYS secret is not set"))?.to_string();
    let keyring = Keyring::from_env_string(&keys).map_err(|e| unavailable(format!("TOKEN_KEYS is invalid: {e}")))?;
    verify_token(token, &keyring, now_unix()).map_err(|e| DownloadError::from_token_code(e.code()))
}

#[derive(Deserialize)]
struct DownloadCount {
    clip_slug: String,
    n: u32,
}

/// Downloads already counted per clip for this order.
async fn download_counts(env: &Env, order_id: &str) -> std::result::Result<BTreeMap<String, u32>, DownloadError> {
    let db = env.d1("DB").map_err(|e| unavailable(format!("D1 binding DB: {e}")))?;
    let rows = db
        .prepare("SELECT clip_slug, COUNT(*) AS n FROM downloads WHERE order_id = ?1 GROUP BY clip_slug")
        .bind(&[JsValue::from_str(order_id)])
        .map_err(|e| unavailable(format!("D1 bind: {e}")))?
        .all()
        .await
        .map_err(|e| unavailable(format!("D1 query: {e}")))?
        .results::<DownloadCount>()
        .map_err(|e| unavailable(format!("D1 rows: {e}")))?;
    Ok(rows.into_iter().map(|r| (r.clip_slug, r.n)).collect())
}

async fn order_page(env: &Env, token: &str, head: bool) -> std::result::Result<Response, DownloadError> {
    let claims = verify(env, token)?;
    let used = download_counts(env, &claims.order_id).await?;
    let view = OrderView::new(
        OrderClaims {
            order_id: &claims.order_id,
            clips: &claims.clips,
            expires_at: claims.expires_at,
            downloads: claims.downloads,
        },
        manifest(),
        &used,
        token,
    );
    let html = pages::order_page(&manifest().shop, &view);
    let build = || -> Result<Response> {
        let mut response = if head { Response::empty()? } else { Response::from_html(&html)? };
        let headers = response.headers_mut();
        headers.set("content-type", "text/html; charset=utf-8")?;
        headers.set("cache-control", delivery::CACHE_CONTROL)?;
        headers.set("referrer-policy", "no-referrer")?;
        headers.set("x-robots-tag", "noindex")?;
        Ok(response)
    };
    build().map_err(|e| unavailable(format!("building the order page: {e}")))
}

async fn clip(
    req: &Request,
    env: &Env,
    ctx: &Context,
    token: &str,
    slug: &str,
    head: bool,
) -> std::result::Result<Response, DownloadError> {
    let claims = verify(env, token)?;
    let entry = manifest().clip(slug).ok_or(DownloadError::UnknownClip)?;
    if !claims.covers(slug) {
        return Err(DownloadError::NotInOrder);
    }
    let bucket = env.bucket("CLIPS").map_err(|e| unavailable(format!("R2 binding CLIPS: {e}")))?;
    let key = entry.object_key.as_str();
    let object = bucket
        .head(key)
        .await
        .map_err(|e| unavailable(format!("R2 head {key}: {e}")))?
        .ok_or_else(|| unavailable(format!("R2 object {key} is missing (clip {slug})")))?;
    if object.size() != entry.size {
        console_warn!(
            "{}",
            json!({
                "event": "manifest_size_mismatch",
                "key": key,
                "manifest": entry.size,
                "r2": object.size(),
            })
        );
    }

    let header = |name: &str| req.headers().get(name).ok().flatten();
    let (range, if_match, if_none_match, if_modified_since, if_unmodified_since, if_range) = (
        header("range"),
        header("if-match"),
        header("if-none-match"),
        header("if-modified-since"),
        header("if-unmodified-since"),
        header("if-range"),
    );
    let request = DownloadRequest {
        head,
        range: range.as_deref(),
        conditions: Conditions {
            if_match: if_match.as_deref(),
            if_none_match: if_none_match.as_deref(),
            if_modified_since: if_modified_since.as_deref(),
            if_unmodified_since: if_unmodified_since.as_deref(),
            if_range: if_range.as_deref(),
        },
    };
    let stored = StoredClip {
        size: object.size(),
        validators: Validators { etag: object.http_etag(), last_modified: object.uploaded().as_millis() / 1000 },
        content_type: &entry.content_type,
        file_name: &entry.file_name,
    };
    let plan = delivery::plan(&request, &stored);

    let headers = Headers::new();
    for (name, value) in &plan.headers {
        headers.set(name, value).map_err(|e| unavailable(format!("header {name}: {e}")))?;
    }
    let body = match plan.body {
        Some(span) if span.length > 0 => {
            ResponseBody::Stream(stream_span(&bucket, key, &object.etag(), span, ctx).await?)
        }
        _ => ResponseBody::Empty,
    };
    if plan.body.is_some() {
        console_log!(
            "{}",
            json!({
                "event": "download",
                "order": claims.order_id,
                "clip": slug,
                "status": plan.status,
                "bytes": plan.body.map_or(0, |s| s.length),
            })
        );
    }
    Response::from_body(body)
        .map(|r| r.with_status(plan.status).with_headers(headers))
        .map_err(|e| unavailable(format!("building the response: {e}")))
}

/// Opens the R2 object at `span` and returns a stream the runtime pipes to
/// the client with a fixed length. The `etag` condition makes R2 refuse the
/// body if the object was replaced since the `head` that sized the answer.
async fn stream_span(
    bucket: &Bucket,
    key: &str,
    etag: &str,
    span: ByteSpan,
    ctx: &Context,
) -> std::result::Result<web_sys::ReadableStream, DownloadError> {
    let object = bucket
        .get(key)
        .range(Range::OffsetWithLength { offset: span.offset, length: span.length })
        .only_if(Conditional { etag_matches: Some(etag.to_string()), ..Default::default() })
        .execute()
        .await
        .map_err(|e| unavailable(format!("R2 get {key}: {e}")))?
        .ok_or_else(|| unavailable(format!("R2 object {key} vanished")))?;
    let source = match object.body() {
        Some(body) => match body.response_body() {
            Ok(ResponseBody::Stream(stream)) => stream,
            _ => return Err(unavailable(format!("R2 body of {key} is not a stream"))),
        },
        None => return Err(unavailable(format!("R2 object {key} changed between head and get"))),
    };
    let fixed = if span.length <= u32::MAX as u64 {
        FixedLengthStream::new(span.length as u32)
    } else {
        FixedLengthStream::new_big_int(js_sys::BigInt::from(span.length))
    }
    .map_err(|e| unavailable(format!("FixedLengthStream: {e:?}")))?;
    let piping = source.pipe_to(&fixed.writable());
    let key = key.to_string();
    ctx.wait_until(async move {
        if let Err(e) = JsFuture::from(piping).await {
            // Also reached when the client disconnects mid-download.
            console_warn!("{}", json!({ "event": "stream_interrupted", "key": key, "error": format!("{e:?}") }));
        }
    });
    Ok(fixed.readable())
}
