//! `site-gen token` end to end: keys from the environment, links minted for
//! the catalog, and inspection of good and bad tokens.

mod common;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clipstore_core::token::{verify_token, Keyring};

fn shop() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-shop")
}

fn site_gen(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_site-gen"));
    cmd.args(args).env_remove("CLIPSTORE_SIGNING_KEY").env_remove("CLIPSTORE_TOKEN_KEYS");
    cmd.env_remove("CLIPSTORE_ADMIN_TOKEN").env_remove("CLIPSTORE_WORKER_URL");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim().to_string()
}

fn keygen(id: &str) -> String {
    let o = site_gen(&["token", "keygen", "--id", id], &[]);
    assert!(o.status.success());
    assert!(text(&o.stderr).contains("TOKEN_KEYS"), "tells where the key goes");
    text(&o.stdout)
}

const NOW: &str = "1780000000";

fn mint(key: &str, extra: &[&str]) -> Output {
    let root = shop();
    let mut args = vec!["token", "mint", "--root", root.to_str().unwrap(), "--order", "ORD-77", "--now", NOW];
    args.extend_from_slice(extra);
    site_gen(&args, &[("CLIPSTORE_SIGNING_KEY", key)])
}

#[test]
fn minted_link_verifies_with_the_shared_crate_and_inspects() {
    let key = keygen("k1");
    let o = mint(&key, &["--clip", "beta", "--clip", "alpha", "--downloads", "3", "--expires", "7d"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let url = text(&o.stdout);
    let token = url.strip_prefix("https://small.example/download/").expect("download base URL from site.toml");
    assert!(token.len() < 200, "{token}");

    let claims = verify_token(token, &Keyring::from_env_string(&key).unwrap(), 1780000001).unwrap();
    assert_eq!(claims.order_id, "ORD-77");
    assert_eq!(claims.clips, ["alpha", "beta"]);
    assert_eq!((claims.downloads, claims.expires_at - claims.issued_at), (3, 7 * 86400));

    let root = shop();
    let inspect = site_gen(
        &["token", "inspect", "--root", root.to_str().unwrap(), &url, "--now", "1780000001"],
        &[("CLIPSTORE_TOKEN_KEYS", &format!("{},{key}", keygen("old")))],
    );
    let out = text(&inspect.stdout);
    assert!(inspect.status.success(), "{out}");
    assert!(out.contains("order:        ORD-77") && out.contains("verifies:     yes"), "{out}");

    // Expired, tampered, and signed by a key the keyring does not have.
    let later = site_gen(
        &["token", "inspect", "--root", root.to_str().unwrap(), token, "--now", "1790000000"],
        &[("CLIPSTORE_TOKEN_KEYS", &key)],
    );
    assert!(!later.status.success() && text(&later.stdout).contains("verifies:     no [expired]"));
    let mut tampered = token.to_string();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let bad =
        site_gen(&["token", "inspect", "--root", root.to_str().unwrap(), &tampered], &[("CLIPSTORE_TOKEN_KEYS", &key)]);
    let bad_out = text(&bad.stdout) + &text(&bad.stderr);
    assert!(!bad.status.success());
    assert!(bad_out.contains("bad_signature") || bad_out.contains("malformed"), "{bad_out}");
    let other = site_gen(
        &["token", "inspect", "--root", root.to_str().unwrap(), token],
        &[("CLIPSTORE_TOKEN_KEYS", &keygen("k2"))],
    );
    assert!(text(&other.stdout).contains("[unknown_key]"));
    // No key here (a deployed shop's are the Worker's secret): said, with
    // what the owner can ask instead.
    let empty = tempfile::tempdir().unwrap();
    let unknown = site_gen(&["token", "inspect", "--root", empty.path().to_str().unwrap(), token], &[]);
    assert_eq!(unknown.status.code(), Some(2));
    let said = text(&unknown.stdout);
    assert!(said.contains("verifies:     unknown here ("), "{said}");
    assert!(said.contains("Only the Worker has its keys: `site-gen orders show "), "{said}");

    // What a customer sends in: the link with a sentence's end, and the
    // link cut short in its signature. The first verifies; the second
    // still names its order, and the owner is told how to help.
    let sent = format!("({url}).");
    let pasted = site_gen(
        &["token", "inspect", "--root", root.to_str().unwrap(), &sent, "--now", "1780000001"],
        &[("CLIPSTORE_TOKEN_KEYS", &key)],
    );
    assert!(pasted.status.success(), "{}", text(&pasted.stdout) + &text(&pasted.stderr));
    let cut = &url[..url.len() - 5];
    let short =
        site_gen(&["token", "inspect", "--root", root.to_str().unwrap(), cut], &[("CLIPSTORE_TOKEN_KEYS", &key)]);
    let short_out = text(&short.stdout);
    assert!(!short.status.success());
    assert!(
        short_out.contains("order:        ORD-77") && short_out.contains("verifies:     no [malformed]"),
        "{short_out}"
    );
    assert!(short_out.contains("`site-gen orders resend ORD-77`"), "{short_out}");
}

#[test]
fn mint_refuses_bad_input_with_clear_messages() {
    let key = keygen("k1");
    let unknown = mint(&key, &["--clip", "alhpa"]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("unknown clip `alhpa` (did you mean `alpha`?)"),
        "{}",
        text(&unknown.stderr)
    );
    let draft = mint(&key, &["--clip", "gamma"]);
    assert!(!draft.status.success());
    assert!(
        text(&draft.stderr).contains("the clip `gamma` is a draft, so it is not for sale yet"),
        "drafts cannot be sold, and it says why: {}",
        text(&draft.stderr)
    );
    let duration = mint(&key, &["--clip", "alpha", "--expires", "forever"]);
    assert!(text(&duration.stderr).contains("`forever` is not a duration"));
    let zero = mint(&key, &["--clip", "alpha", "--downloads", "0"]);
    assert!(text(&zero.stderr).contains("at least 1 download"));
    let broken_key = mint("k1:short", &["--clip", "alpha"]);
    assert!(
        !broken_key.status.success() && text(&broken_key.stderr).contains("CLIPSTORE_SIGNING_KEY holds no valid key")
    );
    let root = shop();
    let no_key = site_gen(&["token", "mint", "--root", root.to_str().unwrap(), "--order", "A", "--clip", "alpha"], &[]);
    assert!(!no_key.status.success() && text(&no_key.stderr).contains("no signing key found"));
}

/// The shop's key and a local `.dev.vars` key of the same id: a link minted
/// with the shop's key (`CLIPSTORE_SIGNING_KEY`, which `mint` prefers) is
/// inspected with that key too, not said to be forged.
#[test]
fn inspect_checks_with_the_key_mint_signs_with() {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_dir(&shop(), tmp.path());
    let (shop_key, local_key) = (keygen("k1"), keygen("k1"));
    std::fs::create_dir_all(tmp.path().join("edge-worker")).unwrap();
    std::fs::write(tmp.path().join("edge-worker/.dev.vars"), format!("TOKEN_KEYS={local_key}\n")).unwrap();
    let root = tmp.path().to_str().unwrap();
    let args = ["token", "mint", "--root", root, "--order", "A", "--clip", "alpha"];
    let minted = site_gen(
        &[&args[..], &["--base-url", "https://shop.example/download"]].concat(),
        &[("CLIPSTORE_SIGNING_KEY", &shop_key)],
    );
    assert!(minted.status.success(), "{}", text(&minted.stderr));
    let url = text(&minted.stdout);
    let inspect = site_gen(&["token", "inspect", "--root", root, &url], &[("CLIPSTORE_SIGNING_KEY", &shop_key)]);
    let out = text(&inspect.stdout);
    assert!(inspect.status.success() && out.contains("verifies:     yes (keys from CLIPSTORE_SIGNING_KEY)"), "{out}");
    // Without the shop's key, the local one is all there is: it does not
    // verify, and says which keys it tried.
    let local = site_gen(&["token", "inspect", "--root", root, &url], &[]);
    let out = text(&local.stdout);
    assert!(!local.status.success() && out.contains("verifies:     no [bad_signature]"), "{out}");
    assert!(out.contains("(keys from ") && out.contains(".dev.vars)"), "{out}");
}

#[test]
fn local_dev_vars_provide_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_dir(&shop(), tmp.path());
    let key = keygen("dev");
    std::fs::create_dir_all(tmp.path().join("edge-worker")).unwrap();
    std::fs::write(tmp.path().join("edge-worker/.dev.vars"), format!("TOKEN_KEYS={key},{}\n", keygen("older")))
        .unwrap();
    let root = tmp.path().to_str().unwrap();
    let o = site_gen(
        &[
            "token",
            "mint",
            "--root",
            root,
            "--order",
            "A",
            "--clip",
            "alpha",
            "--base-url",
            "http://127.0.0.1:8787/download/",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let url = text(&o.stdout);
    assert!(url.starts_with("http://127.0.0.1:8787/download/"), "{url}");
    let inspect = site_gen(&["token", "inspect", "--root", root, &url], &[]);
    assert!(text(&inspect.stdout).contains("key id:       dev") && inspect.status.success());
}

#[test]
fn the_local_workers_key_signs_only_local_links_unless_told() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    common::copy_dir(&shop(), &root);
    let key = keygen("local");
    std::fs::create_dir_all(root.join("edge-worker")).unwrap();
    std::fs::write(root.join("edge-worker/.dev.vars"), format!("TOKEN_KEYS={key}\n")).unwrap();
    let mint_with = |extra: &[&str]| {
        let mut args = vec!["token", "mint", "--root", root.to_str().unwrap(), "--order", "O-1", "--clip", "alpha"];
        args.extend_from_slice(extra);
        site_gen(&args, &[])
    };

    // The shop's own address (download_base_url in site.toml): refused, and why.
    let refused = mint_with(&[]);
    assert!(!refused.status.success());
    let err = text(&refused.stderr);
    assert!(err.contains("edge-worker/.dev.vars, the local Worker's key") && err.contains("--local-key"), "{err}");
    assert!(text(&refused.stdout).is_empty(), "no link printed");

    // A local Worker: fine, and it says which key it used.
    let local = mint_with(&["--base-url", "http://127.0.0.1:8787/download"]);
    assert!(local.status.success(), "{}", text(&local.stderr));
    assert!(
        text(&local.stderr)
            .ends_with(&format!("signed with key local from {}", root.join("edge-worker/.dev.vars").display())),
        "{}",
        text(&local.stderr)
    );

    // Told so explicitly: fine.
    assert!(mint_with(&["--local-key"]).status.success());

    // A link over plain http to another machine: refused whatever the key,
    // as site.toml's download_base_url is (the security review minted one).
    for extra in [
        &["--local-key", "--base-url", "http://shop.example/download"][..],
        &["--base-url", "http://10.0.0.5:8787/download"],
    ] {
        let o = mint_with(extra);
        let err = text(&o.stderr);
        assert!(!o.status.success() && text(&o.stdout).is_empty(), "{err}");
        assert!(err.contains("is not https://") && err.contains("--base-url https://"), "{err}");
    }

    // The shop's key from the environment: fine, and named.
    let o = mint(&keygen("prod"), &["--clip", "alpha"]);
    assert!(text(&o.stderr).ends_with("signed with key prod from CLIPSTORE_SIGNING_KEY"), "{}", text(&o.stderr));
}

/// A link minted for a clip the last build's catalog lacks (a new clip not
/// yet built, or never built at all) answers "not found" until the site and
/// the Worker are built and deployed: mint says so, and still prints it.
#[test]
fn mint_warns_of_clips_the_last_build_lacks() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shop");
    common::copy_dir(&shop(), &root);
    let key = keygen("k1");
    let mint_in = |clip: &str| {
        site_gen(
            &["token", "mint", "--root", root.to_str().unwrap(), "--order", "ORD-9", "--clip", clip, "--now", NOW],
            &[("CLIPSTORE_SIGNING_KEY", &key)],
        )
    };
    let unbuilt = mint_in("alpha");
    assert!(unbuilt.status.success() && text(&unbuilt.stdout).starts_with("https://"));
    assert!(
        text(&unbuilt.stderr).contains("catalog-manifest.json is not there: no build yet"),
        "{}",
        text(&unbuilt.stderr)
    );

    let build =
        site_gen(&["build", "--root", root.to_str().unwrap(), "--out", root.join("public").to_str().unwrap()], &[]);
    assert!(build.status.success(), "{}", text(&build.stderr));
    let built = mint_in("alpha");
    assert!(built.status.success());
    // (No admin token here: that mint could not ask the Worker is said apart.)
    let catalog_warnings = text(&built.stderr).lines().filter(|l| l.starts_with("warning:")).count()
        - text(&built.stderr).matches("warning: could not check whether the shop's Worker").count();
    assert_eq!(catalog_warnings, 0, "{}", text(&built.stderr));

    let alpha = std::fs::read_to_string(root.join("content/clips/alpha.md")).unwrap();
    std::fs::write(root.join("content/clips/delta.md"), alpha.replace("clips/alpha.mp4", "clips/delta.mp4")).unwrap();
    let new = mint_in("delta");
    assert!(new.status.success(), "{}", text(&new.stderr));
    assert!(
        text(&new.stderr).contains("warning: the clip delta is not in the last build's catalog")
            && text(&new.stderr).contains("build the site and the Worker and deploy before you send the link"),
        "{}",
        text(&new.stderr)
    );
}

/// A file or licence written the way the shop shows it: the variants the
/// clip has are listed, and a licence in capitals is the shop's.
#[test]
fn mint_names_the_files_a_clip_has_and_takes_a_licence_in_capitals() {
    let key = keygen("k1");
    let root = common::fixtures().join("variant-shop");
    let mint_item = |item: &str| {
        site_gen(
            &["token", "mint", "--root", root.to_str().unwrap(), "--order", "ORD-V", "--clip", item, "--now", NOW],
            &[("CLIPSTORE_SIGNING_KEY", &key)],
        )
    };
    let wrong = mint_item("harbour:1080p");
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains("the clip `harbour` has no file `1080p`; it has: 4k (the main file), hd, web"),
        "{}",
        text(&wrong.stderr)
    );
    let capitals = mint_item("harbour::Extended");
    assert!(capitals.status.success(), "{}", text(&capitals.stderr));
    assert!(text(&capitals.stderr).contains("extended"), "{}", text(&capitals.stderr));
}

/// One clip given twice as two files (the 4K file and the HD one): refused,
/// as a cart refuses it, instead of a link that silently holds the last
/// one only; the same item twice counts once.
#[test]
fn mint_refuses_two_files_of_one_clip() {
    let key = keygen("k1");
    let root = common::fixtures().join("variant-shop");
    let mint_items = |items: &[&str]| {
        let mut args = vec!["token", "mint", "--root", root.to_str().unwrap(), "--order", "ORD-V", "--now", NOW];
        for item in items {
            args.extend(["--clip", item]);
        }
        site_gen(&args, &[("CLIPSTORE_SIGNING_KEY", &key)])
    };
    for (items, second) in [
        (&["harbour:4k", "harbour:hd"][..], "harbour:hd"),
        (&["harbour", "harbour::extended"][..], "harbour::extended"),
        (&["harbour:hd", "Harbour:HD:extended"][..], "Harbour:HD:extended"),
    ] {
        let both = mint_items(items);
        assert!(!both.status.success(), "{items:?}");
        let said = text(&both.stderr);
        assert!(
            said.contains(&format!("the clip `harbour` is given twice, as `{}` and as `{second}`", items[0])),
            "{said}"
        );
        assert!(said.contains("mint one link per file"), "{said}");
    }
    let same = mint_items(&["harbour:hd", "harbour:hd", "HARBOUR:hd"]);
    assert!(same.status.success(), "{}", text(&same.stderr));
}

/// The key `mint_for` signs with, the one `worker_with_orders` verifies.
fn shop_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| keygen("k1"))
}

/// `signing_keys` of a deep health answer for these keys.
fn named_keys(keys: &[&str]) -> serde_json::Value {
    keys.iter()
        .map(|k| {
            let key = clipstore_core::SigningKey::from_env_string(k).unwrap();
            serde_json::json!({ "key_id": key.key_id(), "fingerprint": key.fingerprint() })
        })
        .collect()
}

/// A stand-in for the shop's Worker that knows two orders: one a customer
/// paid through Stripe's checkout, one from a link minted earlier, and
/// verifies [`shop_key`]. Records the request lines.
fn worker_with_orders() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    worker_with_keys(named_keys(&[shop_key()]), true)
}

/// [`worker_with_orders`] whose `GET /admin/keys` (with `keys_route`; a
/// Worker deployed before it answers 404) and deep health check name
/// `signing_keys` (`Null`: a Worker from before it named them).
fn worker_with_keys(
    signing_keys: serde_json::Value,
    keys_route: bool,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use common::http::Response;
    use serde_json::json;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let base = common::http::serve(move |request| {
        log.lock().unwrap().push(request.line());
        // The shop's pages, deployed with the Worker: beta's, not alpha's.
        if request.line().starts_with("HEAD /clips/") {
            return Response::empty(if request.line() == "HEAD /clips/beta/" { 200 } else { 404 });
        }
        if !request.has_bearer(ADMIN) {
            return Response::json(401, json!({"error": "unauthorized"}));
        }
        match request.line().as_str() {
            "GET /admin/orders/PAY%2Deeb51" => Response::json(
                200,
                json!({"order": {"order_id": "PAY-eeb51", "clips": "[\"alpha\"]", "allowance": 5, "source": "stripe"},
                       "clips": [], "attempts": []}),
            ),
            "GET /admin/orders/ORD%2DHAND" => Response::json(
                200,
                json!({"order": {"order_id": "ORD-HAND", "clips": "[\"beta\"]", "allowance": 5, "source": "token"}}),
            ),
            "GET /admin/keys" if keys_route => {
                Response::json(200, json!({"ok": true, "checks": [], "signing_keys": signing_keys}))
            }
            "GET /admin/health" => Response::json(200, json!({"ok": true, "checks": [], "signing_keys": signing_keys})),
            // As the Worker's admin API answers an order it does not know.
            line if line.starts_with("GET /admin/orders/") => {
                let id = line.trim_start_matches("GET /admin/orders/").replace("%2D", "-");
                Response::json(404, json!({"error": format!("no order {id} in the ledger")}))
            }
            _ => Response::json(404, json!({"error": "no such admin route"})),
        }
    });
    (base, seen)
}

const ADMIN: &str = "right-admin-token-0123456789";

/// `token mint` for an order id, its link for the Worker at `worker`, with
/// the admin token `admin` (none: not set); `extra` arguments after.
fn mint_for(worker: &str, admin: Option<&str>, order: &str, extra: &[&str]) -> Output {
    let (root, key) = (shop(), shop_key());
    let base = format!("{worker}/download");
    let mut args = vec!["token", "mint", "--root", root.to_str().unwrap(), "--order", order, "--clip", "beta"];
    args.extend(["--base-url", &base, "--now", NOW]);
    args.extend_from_slice(extra);
    let mut envs = vec![("CLIPSTORE_SIGNING_KEY", key)];
    envs.extend(admin.map(|a| ("CLIPSTORE_ADMIN_TOKEN", a)));
    site_gen(&args, &envs)
}

/// A link minted under the id of an order the Worker already has would,
/// once opened, replace that order's clips (the owner review: a paid
/// order's customer got the wrong clip from then on). `mint` asks the
/// Worker the link goes to and refuses such an id, naming the order and
/// what to run, unless --replace-order; an id it does not know is minted.
#[test]
fn mint_refuses_an_order_id_the_worker_already_has_unless_told() {
    let (worker, seen) = worker_with_orders();
    let new = mint_for(&worker, Some(ADMIN), "ORD-NEW", &[]);
    assert!(new.status.success(), "{}", text(&new.stderr));
    assert!(text(&new.stdout).starts_with(&format!("{worker}/download/")), "{}", text(&new.stdout));
    assert!(!text(&new.stderr).contains("could not check"), "{}", text(&new.stderr));
    assert!(seen.lock().unwrap().contains(&"GET /admin/orders/ORD%2DNEW".to_string()), "asked: {seen:?}");

    let paid = mint_for(&worker, Some(ADMIN), "PAY-eeb51", &[]);
    assert!(!paid.status.success());
    assert_eq!(text(&paid.stdout), "", "no link printed");
    let err = text(&paid.stderr);
    for said in [
        "error: order PAY-eeb51 is already in the shop's ledger at",
        "(a customer paid for it through stripe; clips: alpha)",
        "Nothing was minted.",
        "`site-gen orders resend PAY-eeb51`",
        "`site-gen orders reissue PAY-eeb51`",
        "`site-gen orders create NEW-ID --clip SLUG --to ADDRESS`",
        "run again with --replace-order",
    ] {
        assert!(err.contains(said), "{said}\n{err}");
    }
    let earlier = mint_for(&worker, Some(ADMIN), "ORD-HAND", &[]);
    assert!(!earlier.status.success());
    assert!(text(&earlier.stderr).contains("(it came from a link minted earlier and opened; clips: beta)"));

    let asked = seen.lock().unwrap().len();
    let replaced = mint_for(&worker, Some(ADMIN), "PAY-eeb51", &["--replace-order"]);
    assert!(replaced.status.success(), "{}", text(&replaced.stderr));
    let token = text(&replaced.stdout).rsplit('/').next().unwrap().to_string();
    let claims = clipstore_core::token::decode_unverified(&token).unwrap();
    assert_eq!((claims.order_id.as_str(), claims.clips.as_slice()), ("PAY-eeb51", ["beta".to_string()].as_slice()));
    let asked_now = seen.lock().unwrap()[asked..].to_vec();
    assert_eq!(
        asked_now,
        ["GET /admin/keys", "HEAD /clips/beta/"],
        "the owner said so: the order not asked, the keys and the clip's page still"
    );
}

/// A clip built but not deployed yet: its link would answer "no such
/// clip". `mint` says so (its page on the Worker is not there), and mints.
#[test]
fn mint_warns_of_a_clip_the_deployed_shop_does_not_sell_yet() {
    let (worker, _) = worker_with_orders();
    let out = mint_for(&worker, Some(ADMIN), "ORD-EARLY", &["--clip", "alpha"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("warning: the shop at {worker} does not sell clip alpha yet")), "{err}");
    assert!(err.contains("until you build and deploy"), "{err}");
    assert!(!err.contains("clip beta yet"), "beta's page is there: {err}");
}

/// A link signed with a key the Worker lacks would be refused when the
/// customer opens it: `mint` asks the Worker's deep health check for its
/// keys (id and fingerprint) and refuses, saying what to do; a Worker that
/// names no keys (deployed before it did) gets a warning.
#[test]
fn mint_refuses_a_key_the_worker_does_not_verify() {
    let other = keygen("k1");
    let (regenerated, _) = worker_with_keys(named_keys(&[&other]), true);
    let same_id = mint_for(&regenerated, Some(ADMIN), "ORD-KEY", &[]);
    assert!(!same_id.status.success());
    assert_eq!(text(&same_id.stdout), "", "no link printed");
    let err = text(&same_id.stderr);
    let fingerprint = |k: &str| clipstore_core::SigningKey::from_env_string(k).unwrap().fingerprint();
    let prints = format!(
        "has a key k1, but with another secret than the one in CLIPSTORE_SIGNING_KEY (fingerprint {} there, {} here",
        fingerprint(&other),
        fingerprint(shop_key())
    );
    for said in [
        prints.as_str(),
        "refused as \"bad signature\"",
        "Nothing was minted.",
        "help: let the Worker sign the link: `site-gen orders create NEW-ID",
        "set CLIPSTORE_SIGNING_KEY to the Worker's key k1 as it was put into TOKEN_KEYS",
        "Never a second k1 entry",
    ] {
        assert!(err.contains(said), "{said}\n{err}");
    }

    let (rotated, _) = worker_with_keys(named_keys(&[&keygen("k2"), &keygen("k0")]), true);
    let unknown = mint_for(&rotated, Some(ADMIN), "ORD-KEY", &[]);
    assert!(!unknown.status.success());
    let err = text(&unknown.stderr);
    assert!(
        err.contains("the key links are minted with, k1 (from CLIPSTORE_SIGNING_KEY), is not one the Worker at"),
        "{err}"
    );
    assert!(err.contains("(its TOKEN_KEYS: k2, k0)") && err.contains("\"unknown key\""), "{err}");
    assert!(err.contains("TOKEN_KEYS = `k1:SECRET` followed by every key the Worker has now"), "{err}");

    // A Worker deployed before `/admin/keys`: its deep health check is asked.
    let (before_keys_route, asked) = worker_with_keys(named_keys(&[&other]), false);
    let refused = mint_for(&before_keys_route, Some(ADMIN), "ORD-KEY", &[]);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("Nothing was minted."), "{}", text(&refused.stderr));
    let asked = asked.lock().unwrap().clone();
    assert!(asked.ends_with(&["GET /admin/keys".to_string(), "GET /admin/health".to_string()]), "{asked:?}");

    // An older Worker: its health check names no keys.
    let (older, _) = worker_with_keys(serde_json::Value::Null, false);
    let minted = mint_for(&older, Some(ADMIN), "ORD-KEY", &[]);
    assert!(minted.status.success(), "{}", text(&minted.stderr));
    assert!(text(&minted.stderr).contains("warning: could not check that the Worker at"), "{}", text(&minted.stderr));
    assert!(text(&minted.stderr).contains("it does not name its keys"), "{}", text(&minted.stderr));

    // A Worker whose TOKEN_KEYS is unusable says so: nothing is minted (the
    // deploy review: the link was minted with a warning, and answered 503).
    let broken = common::http::serve(|request| {
        use common::http::Response;
        let detail = "TOKEN_KEYS is invalid: key entry 1 is not of the form KEYID:BASE64URLSECRET";
        match request.line().as_str() {
            "GET /admin/keys" => Response::json(
                503,
                serde_json::json!({"ok": false, "checks": [{"name": "signing_keys", "ok": false, "detail": detail}], "signing_keys": []}),
            ),
            "GET /admin/orders/ORD%2DKEY" => {
                Response::json(404, serde_json::json!({"error": "no order ORD-KEY in the ledger"}))
            }
            _ => Response::json(404, serde_json::json!({"error": "no such admin route"})),
        }
    });
    let refused = mint_for(&broken, Some(ADMIN), "ORD-KEY", &[]);
    assert!(!refused.status.success(), "{}", text(&refused.stderr));
    let err = text(&refused.stderr);
    assert!(err.contains("cannot verify any download link: TOKEN_KEYS is invalid: key entry 1"), "{err}");
    assert!(err.contains("Nothing was minted.") && !text(&refused.stdout).contains("/download/"), "{err}");
}

/// When the Worker cannot be asked, the link is minted all the same (an
/// owner minting for a bank transfer is not blocked by an outage), with a
/// warning that says why and how to check.
#[test]
fn mint_without_an_answer_from_the_worker_warns_and_mints() {
    // A port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let down = mint_for(&closed, Some(ADMIN), "ORD-BANK", &[]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert!(text(&down.stdout).starts_with(&format!("{closed}/download/")));
    let warned = text(&down.stderr);
    for said in [
        "warning: could not check whether the shop's Worker already has an order ORD-BANK (the Worker at",
        "did not answer",
        "(nor could it check that the Worker verifies key k1",
        "the link is minted all the same",
        "check with `site-gen orders show ORD-BANK`",
    ] {
        assert!(warned.contains(said), "{said}\n{warned}");
    }

    let (worker, seen) = worker_with_orders();
    let no_token = mint_for(&worker, None, "PAY-eeb51", &[]);
    assert!(no_token.status.success(), "{}", text(&no_token.stderr));
    assert!(
        text(&no_token.stderr).contains("(no admin token: set CLIPSTORE_ADMIN_TOKEN"),
        "{}",
        text(&no_token.stderr)
    );
    assert!(seen.lock().unwrap().is_empty(), "nothing sent without a token");
    let refused = mint_for(&worker, Some("wrong-admin-token-0123456789"), "PAY-eeb51", &[]);
    assert!(refused.status.success(), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("the Worker refused the admin token (401)"), "{}", text(&refused.stderr));
    // --worker-url: that Worker is asked, not the link's.
    let elsewhere = mint_for(&closed, Some(ADMIN), "PAY-eeb51", &["--worker-url", &worker]);
    assert!(!elsewhere.status.success());
    assert!(text(&elsewhere.stderr).contains("order PAY-eeb51 is already in the shop's ledger"));
}
