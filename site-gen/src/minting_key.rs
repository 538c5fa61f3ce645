//! Whether the key `site-gen token mint` signs links with is one the shop's
//! Worker verifies.
//!
//! A link signed with a key the Worker lacks (another id, or the same id
//! with another secret: a key generated again) is refused when the customer
//! opens it, as `unknown_key` or `bad_signature`, and the customer writes to
//! the owner. The Worker's `GET /admin/keys` and deep health check (`GET
//! /admin/health`) name its keys by id and fingerprint (`SigningKey::fingerprint`, an HMAC of a fixed
//! message: no secret leaves either side), so `mint` refuses before a link
//! goes out and `doctor` fails while the two differ. The judgement
//! ([`judge`]) is a pure function of the Worker's answer.

use std::path::Path;

use clipstore_core::SigningKey;
use serde_json::Value;

use crate::admin_client::AdminClient;
use crate::existing_order::ASK_TIMEOUT;
use crate::purchase_token::{SIGNING_KEY_ENV, WORKER_SECRET};

/// What the Worker's keys say of a minting key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMatch {
    /// The Worker verifies with this very key. `signing`: the id of the
    /// key it signs its own links with (checkouts, `orders create`), its
    /// first; another than this one means this one is being retired.
    Verified { signing: String },
    /// The Worker has a key of this id with another secret: its fingerprint.
    OtherSecret { worker_fingerprint: String },
    /// The Worker has no key of this id; these are the ids it has.
    Unknown { worker_ids: Vec<String> },
    /// The answer names no keys: a Worker deployed before it did, or one
    /// whose `TOKEN_KEYS` is unset or invalid (its `signing_keys` check
    /// says so).
    NotNamed,
}

/// Judges `key` against the keys a deep health answer names
/// (`signing_keys`: `[{key_id, fingerprint}]`, the Worker's primary first).
pub fn judge(key: &SigningKey, health: &Value) -> KeyMatch {
    let named: Vec<(&str, &str)> = health
        .get("signing_keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter().filter_map(|k| Some((k.get("key_id")?.as_str()?, k.get("fingerprint")?.as_str()?))).collect()
        })
        .unwrap_or_default();
    if named.is_empty() {
        return KeyMatch::NotNamed;
    }
    match named.iter().position(|(id, _)| *id == key.key_id()) {
        Some(i) if named[i].1 == key.fingerprint() => KeyMatch::Verified { signing: named[0].0.to_string() },
        Some(i) => KeyMatch::OtherSecret { worker_fingerprint: named[i].1.to_string() },
        None => KeyMatch::Unknown { worker_ids: named.iter().map(|(id, _)| id.to_string()).collect() },
    }
}

/// Why links signed with `key` (found in `source`) would be refused by
/// `worker` (the Worker, as a message names it: "the Worker at …"), and
/// what to do about it; None when they would open or the Worker did not say.
///
/// The way out that needs no key here comes first: the Worker signs the
/// link itself. Changing `TOKEN_KEYS` must keep every key the Worker has
/// (the links already sent are signed with them), which wrangler cannot
/// show: the help says so rather than suggest a value that drops them, and
/// never a second entry under an id the Worker has (it refuses such a list).
pub fn problem(key: &SigningKey, source: &str, worker: &str, found: &KeyMatch) -> Option<(String, String)> {
    let id = key.key_id();
    let worker_signs = "let the Worker sign the link: `site-gen orders create NEW-ID --clip SLUG --to ADDRESS` (it \
                        mails it; no key is needed here)";
    let keep = format!(
        "every key the Worker has now after it (the links already sent are signed with them; wrangler cannot show a \
         secret, so without them at hand leave {WORKER_SECRET} as it is), with `npx wrangler secret put \
         {WORKER_SECRET}` (for a shop made by `site-gen init`: in its folder, with `--config wrangler.toml`), then \
         deploy (docs/token-format.md, \"Keys and rotation\")"
    );
    match found {
        KeyMatch::Verified { .. } | KeyMatch::NotNamed => None,
        KeyMatch::Unknown { worker_ids } => Some((
            format!(
                "the key links are minted with, {id} (from {source}), is not one {worker} verifies (its \
                 {WORKER_SECRET}: {}): a link signed with it is refused as \"unknown key\" when the customer opens it",
                worker_ids.join(", ")
            ),
            format!(
                "{worker_signs}. To mint here: set {SIGNING_KEY_ENV} to the Worker's first key ({}, as `KEYID:SECRET`), \
                 or give the Worker this key: {WORKER_SECRET} = `{id}:SECRET` followed by {keep}",
                worker_ids.first().map_or("", String::as_str)
            ),
        )),
        KeyMatch::OtherSecret { worker_fingerprint } => Some((
            format!(
                "{worker} has a key {id}, but with another secret than the one in {source} (fingerprint \
                 {worker_fingerprint} there, {} here: was the key generated again under the same id?): a link signed \
                 with it is refused as \"bad signature\" when the customer opens it",
                key.fingerprint()
            ),
            format!(
                "{worker_signs}. To mint here: set {SIGNING_KEY_ENV} to the Worker's key {id} as it was put into \
                 {WORKER_SECRET}, or make a key under a new id (`site-gen token keygen --id NEW-ID`) and set \
                 {WORKER_SECRET} = `NEW-ID:SECRET` followed by {keep}. Never a second {id} entry: the Worker refuses \
                 a {WORKER_SECRET} that names an id twice, and every link would stop"
            ),
        )),
    }
}

/// For `mint`: a key the Worker verifies but no longer signs with is being
/// retired (docs/token-format.md, "Keys and rotation"): its links stop
/// once it leaves `TOKEN_KEYS`. None for the Worker's signing key.
pub fn retiring(key: &SigningKey, worker: &str, found: &KeyMatch) -> Option<String> {
    match found {
        KeyMatch::Verified { signing } if signing != key.key_id() => Some(format!(
            "{worker} still verifies key {id} but signs its own links with {signing}: {id} is on its way out, and \
             links minted with it stop working once it leaves {WORKER_SECRET}; mint with {signing} \
             ({SIGNING_KEY_ENV})",
            id = key.key_id()
        )),
        _ => None,
    }
}

/// The detail of the Worker's failing `signing_keys` check, if it fails.
fn failing_keys(health: &Value) -> Option<&str> {
    health.get("checks")?.as_array()?.iter().find_map(|c| {
        (c.get("name")?.as_str()? == "signing_keys" && c.get("ok")?.as_bool() == Some(false))
            .then(|| c.get("detail").and_then(Value::as_str).unwrap_or("its signing_keys check fails"))
    })
}

/// For `mint`: asks the Worker at `worker` which keys it verifies (`GET
/// /admin/keys`, with the shop's admin token; `GET /admin/health`, whose
/// other checks ask R2, D1 and Stripe, from a Worker deployed before
/// `/admin/keys`) and judges `key`. `Err`:
/// the refusal, links signed with it would be refused; `Ok(None)`: they
/// open; `Ok(Some(warning))`: the Worker could not say.
pub fn check(root: &Path, worker: &str, key: &SigningKey, source: &str) -> Result<Option<String>, String> {
    let answer = crate::admin_client::admin_token(root)
        .and_then(|token| AdminClient::with_timeout(worker, &token, ASK_TIMEOUT))
        .and_then(|client| match client.get_report("/admin/keys")? {
            (404, _) => client.get_report("/admin/health"),
            answer => Ok(answer),
        });
    let unchecked = |why: String| {
        format!(
            "could not check that the Worker at {worker} verifies key {} ({why}); the link is minted all the same: \
             open it once before sending it (`site-gen token inspect` checks it against this machine's keys only)",
            key.key_id()
        )
    };
    let health = match answer {
        Ok((_, health)) => health,
        Err(e) => return Ok(Some(unchecked(e.to_string()))),
    };
    let found = judge(key, &health);
    // The Worker says it can verify no link at all (TOKEN_KEYS unset, or
    // not `ID:SECRET`): a link minted now answers 503 "try again in a few
    // minutes", which cannot help (the deploy review).
    if let Some(detail) = failing_keys(&health) {
        return Err(format!(
            "the Worker at {worker} cannot verify any download link: {detail}. Nothing was minted.\n  help: fix \
             {WORKER_SECRET}, then check with `site-gen doctor`"
        ));
    }
    if found == KeyMatch::NotNamed {
        return Ok(Some(unchecked(
            "it does not name its keys: deployed before it did, or its TOKEN_KEYS is unusable".into(),
        )));
    }
    // A `wrangler dev` here: its secrets are in .dev.vars, not `secret put`.
    let local = crate::admin_client::is_loopback(worker);
    let worker = format!("the Worker at {worker}");
    match problem(key, source, &worker, &found) {
        Some((what, help)) => {
            Err(format!("{what}. Nothing was minted.\n  help: {}", crate::doctor::for_this_worker(&help, local)))
        }
        None => Ok(retiring(key, &worker, &found)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(id: &str, byte: u8) -> SigningKey {
        SigningKey::new(id, vec![byte; 32]).unwrap()
    }

    fn health(keys: &[&SigningKey]) -> Value {
        let keys: Vec<Value> =
            keys.iter().map(|k| json!({ "key_id": k.key_id(), "fingerprint": k.fingerprint() })).collect();
        json!({ "ok": true, "checks": [], "signing_keys": keys })
    }

    /// A Worker whose TOKEN_KEYS is unusable names no key, and says why:
    /// minting then stops with its words (the deploy review: the link was
    /// minted with a warning and answered 503).
    #[test]
    fn a_worker_that_verifies_no_link_is_named_by_its_failing_check() {
        let detail = "TOKEN_KEYS is invalid: key entry 1 is not of the form KEYID:BASE64URLSECRET";
        let broken = json!({ "ok": false, "checks": [{ "name": "signing_keys", "ok": false, "detail": detail }], "signing_keys": [] });
        assert_eq!(failing_keys(&broken), Some(detail));
        assert_eq!(judge(&key("k1", 1), &broken), KeyMatch::NotNamed);
        assert_eq!(failing_keys(&health(&[&key("k1", 1)])), None);
        let other = json!({ "ok": false, "checks": [{ "name": "storage", "ok": false, "detail": "R2 down" }] });
        assert_eq!(failing_keys(&other), None, "another failing check is no reason to stop");
    }

    #[test]
    fn the_workers_own_key_is_verified() {
        let (new, old) = (key("2026-12", 1), key("2026-06", 2));
        let signs_new = KeyMatch::Verified { signing: "2026-12".into() };
        assert_eq!(judge(&new, &health(&[&new, &old])), signs_new);
        assert_eq!(retiring(&new, "the Worker", &signs_new), None);
        // An older key the Worker still verifies: links open, for now.
        assert_eq!(judge(&old, &health(&[&new, &old])), signs_new);
        assert_eq!(problem(&old, SIGNING_KEY_ENV, "the Worker at https://shop.example", &signs_new), None);
        let warning = retiring(&old, "the Worker", &signs_new).unwrap();
        assert!(warning.contains("still verifies key 2026-06 but signs its own links with 2026-12"), "{warning}");
    }

    #[test]
    fn a_key_the_worker_lacks_is_named_with_the_workers_ids() {
        let (mine, theirs) = (key("laptop", 1), key("2026-12", 2));
        let found = judge(&mine, &health(&[&theirs]));
        assert_eq!(found, KeyMatch::Unknown { worker_ids: vec!["2026-12".into()] });
        let (text, help) = problem(&mine, SIGNING_KEY_ENV, "the Worker at https://shop.example", &found).unwrap();
        assert!(text.contains("laptop (from CLIPSTORE_SIGNING_KEY)"), "{text}");
        assert!(text.contains("its TOKEN_KEYS: 2026-12"), "{text}");
        assert!(text.contains("\"unknown key\""), "{text}");
        assert!(
            help.contains("npx wrangler secret put TOKEN_KEYS")
                && help.contains("TOKEN_KEYS = `laptop:SECRET` followed by every key the Worker has now")
                && help.starts_with("let the Worker sign the link: `site-gen orders create"),
            "{help}"
        );
    }

    #[test]
    fn the_same_id_with_another_secret_is_caught() {
        let (mine, theirs) = (key("2026-12", 1), key("2026-12", 2));
        let found = judge(&mine, &health(&[&theirs]));
        assert_eq!(found, KeyMatch::OtherSecret { worker_fingerprint: theirs.fingerprint() });
        let (text, _) = problem(&mine, "edge-worker/.dev.vars", "the Worker at http://127.0.0.1:8787", &found).unwrap();
        assert!(text.contains(&theirs.fingerprint()) && text.contains(&mine.fingerprint()), "{text}");
        assert!(text.contains("\"bad signature\""), "{text}");
        // Never a second entry under the Worker's id: the keyring it would
        // make is refused, and every link with it.
        let (_, help) = problem(&mine, "edge-worker/.dev.vars", "the Worker", &found).unwrap();
        assert!(!help.contains("`2026-12:SECRET`"), "{help}");
        assert!(help.contains("`NEW-ID:SECRET` followed by every key the Worker has now"), "{help}");
        assert!(help.contains("Never a second 2026-12 entry"), "{help}");
        let doubled = format!("{},{}", mine.to_env_string(), theirs.to_env_string());
        assert!(clipstore_core::Keyring::from_env_string(&doubled).is_err(), "why the help says never");
    }

    #[test]
    fn a_worker_that_names_no_keys_is_not_judged() {
        let mine = key("2026-12", 1);
        // A Worker deployed before the health check named its keys, and one
        // whose TOKEN_KEYS is unset (an empty list).
        assert_eq!(judge(&mine, &json!({ "ok": true, "checks": [] })), KeyMatch::NotNamed);
        assert_eq!(judge(&mine, &health(&[])), KeyMatch::NotNamed);
        assert_eq!(judge(&mine, &json!({ "signing_keys": [{ "key_id": 3 }] })), KeyMatch::NotNamed);
        assert_eq!(problem(&mine, SIGNING_KEY_ENV, "the Worker", &KeyMatch::NotNamed), None);
    }
}
