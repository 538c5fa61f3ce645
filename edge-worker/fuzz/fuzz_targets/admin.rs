//! Any method, URL and `Authorization` header: the admin API's routing and
//! authentication never panic, accept only the exact bearer token, and
//! never route an object key under the ledger's own prefixes.
#![no_main]

use edge_worker::admin::{authorize, path_and_query, route, valid_object_key, AdminRoute};
use libfuzzer_sys::fuzz_target;

const TOKEN: &str = "fuzz-admin-token-0123456789";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let method = parts.next().unwrap_or_default();
    let url = parts.next().unwrap_or_default();
    let authorization = parts.next();
    let (path, query) = path_and_query(url);
    match route(method, path, query) {
        AdminRoute::ObjectInfo { key } | AdminRoute::PutObject { key } => {
            assert!(valid_object_key(&key), "{key:?}");
            assert!(!clipstore_core::reserved_key(&key), "{key:?}");
        }
        _ => {}
    }
    if authorize(Some(TOKEN), authorization).is_ok() {
        let given = authorization.unwrap().trim();
        let (scheme, token) = given.split_once(' ').unwrap();
        assert!(scheme.eq_ignore_ascii_case("bearer") && token.trim() == TOKEN, "{given:?}");
    }
});
