//! Sends an [`HttpCall`] with `fetch`, within a time budget: the Stripe API
//! for a cart's checkout and the mail provider's API.

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
    let mut init = RequestInit::new();
    init.with_method(Method::from(call.method.to_string()))
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&call.body)));
    let request = Request::new_with_init(&call.url, &init).map_err(|e| format!("request to {}: {e}", call.url))?;
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
