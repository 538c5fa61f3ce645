//! Sends an [`HttpCall`] with `fetch`, within a time budget: the Stripe API
//! for a cart's checkout (and a paid session while D1 fails) and the mail
//! provider's API.

use std::pin::pin;
use std::time::Duration;

use futures_util::future::{select, Either};
use wasm_bindgen::JsValue;
use worker::*;

use crate::http_call::HttpCall;

/// Executes `call`; gives up after `timeout_secs` without an answer. Errors
/// never contain header values (an API key is one).
pub(super) async fn execute(call: &HttpCall, timeout_secs: u64) -> std::result::Result<(u16, String), String> {
    let headers = Headers::new();
    for (name, value) in &call.headers {
        headers.set(name, value).map_err(|_| format!("the {name} header is not valid"))?;
    }
    let method = Method::from(call.method.to_string());
    // No body at all for an empty one: `fetch` refuses a GET with a body.
    let body = (!call.body.is_empty()).then_some(call.body.as_str());
    let request =
        new_request(&call.url, method, &headers, body).map_err(|e| format!("request to {}: {e}", call.url))?;
    let fetch = Fetch::Request(request);
    let fetch = pin!(fetch.send());
    let timeout = pin!(Delay::from(Duration::from_secs(timeout_secs)));
    match select(fetch, timeout).await {
        Either::Left((response, _)) => {
            let mut response = response.map_err(|e| format!("{} {}: {e}", call.method, call.url))?;
            let status = response.status_code();
            let body = response.text().await.unwrap_or_default();
            Ok((status, body))
        }
        Either::Right(_) => Err(format!("no answer from {} within {timeout_secs} s", call.url)),
    }
}

/// What `worker::Request::new_with_init` makes of a `RequestInit` with a
/// method, headers and perhaps a body (redirects followed, no `cache`, no
/// `cf`), and its error. Built here because that conversion links the
/// serializer of `RequestInit`'s `cf` properties (image resizing and all),
/// which the Worker never sets.
pub(super) fn new_request(url: &str, method: Method, headers: &Headers, body: Option<&str>) -> Result<Request> {
    let init = web_sys::RequestInit::new();
    if !headers.is_empty() {
        init.set_headers(headers.as_ref());
    }
    init.set_method(method.as_ref());
    init.set_redirect(web_sys::RequestRedirect::Follow);
    if let Some(body) = body {
        init.set_body(&JsValue::from_str(body));
    }
    web_sys::Request::new_with_str_and_init(url, &init)
        .map(Request::from)
        .map_err(|e| Error::JsError(e.as_string().unwrap_or_else(|| "invalid URL or options for Request".to_string())))
}
