//! `GET`/`PUT /admin/objects/<key>`: the owner's uploads (`site-gen push`).
//!
//! The body streams into R2 without entering wasm. With `x-content-sha256`
//! R2 verifies the upload against that digest (a mismatch fails the put) and
//! keeps it as the object's checksum, so the self-test and `site-gen doctor`
//! can compare hashes later. A request body is limited by the Cloudflare
//! plan (100 MB on Free and Pro); see docs/monitoring.md for larger files.

use clipstore_core::json::{Json, ToJson};
use worker::*;

use super::monitor::{bucket, stored_object};
use super::{json_error, json_response};
use crate::monitor::hex;

pub async fn object_info(env: &Env, key: &str) -> Result<Response> {
    let bucket = match bucket(env) {
        Ok(b) => b,
        Err(e) => return json_error(503, &e),
    };
    match stored_object(&bucket, key).await {
        Ok(Some(found)) => json_response(200, &Json::object([("key", key.to_json()), ("found", found.to_json())])),
        Ok(None) => json_error(404, &format!("no object {key} in the bucket")),
        Err(e) => json_error(503, &e),
    }
}

/// 64 hex digits to 32 bytes.
fn digest(hex_text: &str) -> Option<Vec<u8>> {
    let t = hex_text.trim();
    if t.len() != 64 || !t.is_ascii() {
        return None;
    }
    (0..32).map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok()).collect()
}

pub async fn put_object(req: Request, env: &Env, key: &str) -> Result<Response> {
    let bucket = match bucket(env) {
        Ok(b) => b,
        Err(e) => return json_error(503, &e),
    };
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let content_type = header("content-type").unwrap_or_else(|| "application/octet-stream".into());
    let sha256 = match header("x-content-sha256") {
        None => None,
        Some(h) => match digest(&h) {
            Some(d) => Some(d),
            None => return json_error(400, "x-content-sha256 must be 64 hex digits"),
        },
    };
    let Some(body) = req.inner().body() else {
        return json_error(400, "no body to upload");
    };
    let mut put = bucket
        .put(key, Data::ReadableStream(body))
        .http_metadata(HttpMetadata { content_type: Some(content_type), ..Default::default() });
    if let Some(d) = &sha256 {
        put = put
            .custom_metadata([("sha256".to_string(), hex(d))].into_iter().collect::<std::collections::HashMap<_, _>>());
        put = put.sha256(d.clone());
    }
    match put.execute().await {
        Ok(None) => json_error(412, &format!("R2 refused the put of {key}")),
        Ok(Some(o)) => {
            console_log!("{}", log_line!({ "event": "object_uploaded", "key": key, "size": o.size() }));
            let sha256 = sha256.map(|d| hex(&d));
            json_response(
                201,
                &Json::object([
                    ("key", key.to_json()),
                    ("size", o.size().to_json()),
                    ("etag", o.etag().to_json()),
                    ("sha256", sha256.to_json()),
                ]),
            )
        }
        Err(e) => {
            json_error(502, &format!("R2 put {key} failed: {e} (a sha256 mismatch means the upload was corrupted)"))
        }
    }
}
