//! `site-gen token`: making signing keys, minting customers' download links
//! and inspecting tokens. The token format itself lives in `clipstore_core::token`,
//! shared with the Worker; this module only adds the owner's side: keys from
//! the environment, slugs checked against the catalog, durations in words.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clipstore_core::token::{sign_token, verify_token, Claims, KeyError, Keyring, SigningKey, TokenError};

use crate::content::Shop;
use crate::diagnostics::nearest;

/// Environment variable holding the key that mints tokens (`KEYID:SECRET`).
pub const SIGNING_KEY_ENV: &str = "CLIPSTORE_SIGNING_KEY";
/// Environment variable holding the keyring that verifies (`KEYID:SECRET,...`),
/// the same value as the Worker's `TOKEN_KEYS` secret.
pub const KEYRING_ENV: &str = "CLIPSTORE_TOKEN_KEYS";
/// The Worker's local secrets file, read as a fallback for local use.
pub const DEV_VARS: &str = "edge-worker/.dev.vars";

/// A file of the shop's Worker (`.dev.vars`, `wrangler.toml`): in
/// `edge-worker/` (this repository's layout) or, for a shop that
/// `site-gen init` made, at the shop's root; `edge-worker/` when neither
/// exists (where messages point).
pub fn worker_file(root: &Path, name: &str) -> PathBuf {
    let repository = root.join("edge-worker").join(name);
    let shop = root.join(name);
    if !repository.exists() && shop.exists() {
        shop
    } else {
        repository
    }
}
/// Name of the Worker secret (and `.dev.vars` line) with the keyring.
pub const WORKER_SECRET: &str = "TOKEN_KEYS";

#[derive(Debug, thiserror::Error)]
pub enum TokenCommandError {
    #[error(
        "no signing key found: set {SIGNING_KEY_ENV}=KEYID:SECRET (a key from `site-gen token keygen` that is also in the Worker's {WORKER_SECRET}); for a local Worker, put {WORKER_SECRET}=… in the shop's .dev.vars (in the clipstore repository, scripts/run-local.sh writes {DEV_VARS})"
    )]
    NoKey,
    #[error(
        "the signing key would come from {dev_vars}, the local Worker's key, but the link is for {base_url}: set {SIGNING_KEY_ENV} to the shop's key (one in the deployed Worker's {WORKER_SECRET}), or pass --local-key to sign with the local key anyway"
    )]
    LocalKeyForShop { base_url: String, dev_vars: String },
    #[error(
        "the link's address {base_url} is not https://: a download link is the customer's purchase, readable by anyone on their network over plain http (as content/site.toml's download_base_url, http:// is only for a Worker on this machine: 127.0.0.1 or localhost); pass --base-url {fixed}"
    )]
    InsecureBase { base_url: String, fixed: String },
    #[error("{source_name} holds no valid key: {error}")]
    BadKey { source_name: String, error: KeyError },
    #[error("unknown clip `{slug}`{suggestion}; the catalog has: {known}")]
    UnknownClip { slug: String, suggestion: String, known: String },
    #[error("the clip `{slug}` is {why}, so it is not for sale yet and its link would not work: publish it first (remove `draft = true`, or move its `date` to today), then build and deploy")]
    NotPublished { slug: String, why: &'static str },
    #[error("the clip `{slug}` has no file `{variant}`; it has: {known}")]
    UnknownVariant { slug: String, variant: String, known: String },
    #[error("the clip `{slug}` is given twice, as `{first}` and as `{second}`: a link holds one file of each clip, as a cart does, so the second would be dropped; mint one link per file (another --order for `{second}`)")]
    ClipTwice { slug: String, first: String, second: String },
    #[error("`{0}` is not a duration a link can be valid for: use a number and a unit, at least a second, like 30d, 12h or 2weeks")]
    BadDuration(String),
    #[error("`{0}` is longer than a link can be valid for: at most 100 years (100years); a link that should never end can say that")]
    TooLong(String),
    #[error("`{0}` is not a clip: write its slug, or slug:variant:licence (like harbour-at-dawn:hd:extended)")]
    BadItem(String),
    #[error("{0}")]
    Resolve(#[from] clipstore_core::ResolveError),
    #[error("the allowance must be at least 1 download")]
    ZeroDownloads,
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// A fresh random key with id `key_id`.
pub fn generate_key(key_id: &str) -> Result<SigningKey, KeyError> {
    let mut secret = vec![0u8; 32];
    getrandom::fill(&mut secret).expect("the operating system provides random bytes");
    SigningKey::new(key_id, secret)
}

/// Reads `NAME=value` from a dotenv-style file such as `.dev.vars`.
fn dev_var(path: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.trim().split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"').trim_matches('\'').to_string())
    })
}

/// The minting key: `CLIPSTORE_SIGNING_KEY`, else the first key of
/// `TOKEN_KEYS` in `edge-worker/.dev.vars` under `root`.
pub fn signing_key(root: &Path) -> Result<SigningKey, TokenCommandError> {
    signing_key_from(root).map(|(key, _)| key)
}

/// Where a minting key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `CLIPSTORE_SIGNING_KEY`: the key the owner set up for the shop.
    Env,
    /// `edge-worker/.dev.vars`: the local Worker's key (scripts/run-local.sh).
    DevVars,
}

impl KeySource {
    /// Where the key came from, for the owner: the variable, or the
    /// `.dev.vars` file it was read from (the shop's own, for a shop made
    /// by `site-gen init`; it said `edge-worker/.dev.vars` either way).
    pub fn describe(self, root: &Path) -> String {
        match self {
            KeySource::Env => SIGNING_KEY_ENV.to_string(),
            KeySource::DevVars => worker_file(root, ".dev.vars").display().to_string(),
        }
    }
}

/// [`signing_key`] and where it came from.
pub fn signing_key_from(root: &Path) -> Result<(SigningKey, KeySource), TokenCommandError> {
    if let Ok(value) = std::env::var(SIGNING_KEY_ENV) {
        return SigningKey::from_env_string(value.trim())
            .map(|key| (key, KeySource::Env))
            .map_err(|error| TokenCommandError::BadKey { source_name: SIGNING_KEY_ENV.into(), error });
    }
    let path = worker_file(root, ".dev.vars");
    let value = dev_var(&path, WORKER_SECRET).ok_or(TokenCommandError::NoKey)?;
    let bad = |error| TokenCommandError::BadKey { source_name: path.display().to_string(), error };
    let ring = Keyring::from_env_string(&value).map_err(bad)?;
    ring.keys().first().cloned().map(|key| (key, KeySource::DevVars)).ok_or(TokenCommandError::NoKey)
}

/// Refuses a link that would travel in clear text (`--base-url http://`
/// for a host other than this machine: site.toml's address is held to the
/// same), and one for a shop on the internet signed with the local
/// Worker's key (`.dev.vars`): such a link would not open there (unless the
/// deployed Worker holds that key, which it should not), and the customer
/// would write to the owner. `allow` is the owner's explicit `--local-key`.
pub fn check_key_for(source: KeySource, root: &Path, base_url: &str, allow: bool) -> Result<(), TokenCommandError> {
    if !crate::admin_client::safe_for_token(base_url) {
        let fixed = match base_url.split_once("://") {
            Some((_, rest)) => format!("https://{rest}"),
            None => format!("https://{base_url}"),
        };
        return Err(TokenCommandError::InsecureBase { base_url: base_url.to_string(), fixed });
    }
    if source == KeySource::DevVars && !allow && !crate::admin_client::is_loopback(base_url) {
        return Err(TokenCommandError::LocalKeyForShop {
            base_url: base_url.to_string(),
            dev_vars: source.describe(root),
        });
    }
    Ok(())
}

/// The verifying keyring: `CLIPSTORE_TOKEN_KEYS`, else the signing key
/// alone as `mint` finds it (`CLIPSTORE_SIGNING_KEY`, else `.dev.vars`'s
/// whole keyring). Also says where it came from. Looked up in `mint`'s
/// order, so that a link just minted is checked against the key that
/// signed it, not a local key of the same id.
pub fn keyring(root: &Path) -> Result<(Keyring, String), TokenCommandError> {
    let dev_vars: PathBuf = worker_file(root, ".dev.vars");
    let (value, source_name) = if let Ok(v) = std::env::var(KEYRING_ENV) {
        (v, KEYRING_ENV.to_string())
    } else if std::env::var_os(SIGNING_KEY_ENV).is_some() {
        let (key, _) = signing_key_from(root)?;
        return Ok((Keyring::new(vec![key]), SIGNING_KEY_ENV.to_string()));
    } else if let Some(v) = dev_var(&dev_vars, WORKER_SECRET) {
        (v, dev_vars.display().to_string())
    } else {
        return Err(TokenCommandError::NoKey);
    };
    let ring = Keyring::from_env_string(value.trim())
        .map_err(|error| TokenCommandError::BadKey { source_name: source_name.clone(), error })?;
    Ok((ring, source_name))
}

/// Parses `30d`, `12h`, `2weeks`, ... (humantime syntax).
pub fn parse_duration(s: &str) -> Result<Duration, TokenCommandError> {
    // A link valid for no time could not be signed (the Worker answered a
    // link made with it as an outage): under a second is refused here.
    let d = humantime::parse_duration(s.trim())
        .ok()
        .filter(|d| d.as_secs() > 0)
        .ok_or_else(|| TokenCommandError::BadDuration(s.to_string()))?;
    // Thousands of years ran past the dates a page can show (its order page
    // failed with year 10017).
    if d > MAX_VALID_FOR {
        return Err(TokenCommandError::TooLong(s.to_string()));
    }
    Ok(d)
}

/// The longest a link may be valid for: 100 years.
pub const MAX_VALID_FOR: Duration = Duration::from_secs(100 * 365 * 86_400 + 25 * 86_400);

/// What the owner asks for when minting a link.
#[derive(Debug, Clone)]
pub struct MintRequest {
    pub order_id: String,
    pub clips: Vec<String>,
    pub valid_for: Duration,
    pub downloads: u32,
    pub customer_ref: Option<String>,
    pub now_unix: u64,
}

/// Checks the clips against the published catalog and signs the claims.
pub fn mint(shop: &Shop, key: &SigningKey, req: &MintRequest) -> Result<(String, Claims), TokenCommandError> {
    let claims = checked_claims(shop, key.key_id(), req)?;
    let token = sign_token(&claims, key)?;
    Ok((token, claims))
}

/// The claims of a link for `req`, its clips checked against the published
/// catalog, unsigned: what [`mint`] signs, and what `orders reissue`
/// checks before the Worker (which signs its link) is asked.
pub fn checked_claims(shop: &Shop, key_id: &str, req: &MintRequest) -> Result<Claims, TokenCommandError> {
    let known: Vec<&str> = shop.clips.iter().map(|c| c.slug.as_str()).collect();
    // Slugs, variant and licence ids are small letters: `Extended` is `extended`.
    let items = req
        .clips
        .iter()
        .map(|s| {
            clipstore_core::Item::parse(&s.to_ascii_lowercase()).ok_or_else(|| TokenCommandError::BadItem(s.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for slug in items.iter().map(|i| &i.slug) {
        let url = format!("/clips/{slug}/");
        if let Some((_, why)) = shop.hidden.iter().find(|(u, _)| *u == url) {
            return Err(TokenCommandError::NotPublished { slug: slug.clone(), why });
        }
        if !known.contains(&slug.as_str()) {
            let suggestion = nearest(slug, &known).map(|k| format!(" (did you mean `{k}`?)")).unwrap_or_default();
            return Err(TokenCommandError::UnknownClip { slug: slug.clone(), suggestion, known: known.join(", ") });
        }
    }
    if req.downloads == 0 {
        return Err(TokenCommandError::ZeroDownloads);
    }
    // Each item's variant and licence checked and made canonical as the
    // Worker's checkout does (the main file is no variant; the default
    // licence is named when the shop has tiers).
    let manifest = crate::render::manifest(shop);
    let mut choices = clipstore_core::SortedMap::default();
    // Each clip's item as written and as resolved: the same item twice
    // counts once; two files of one clip are refused (a token holds one).
    let mut taken: Vec<(String, String, &String)> = Vec::new();
    for (item, written) in items.iter().zip(&req.clips) {
        let resolved = manifest.resolve(item).map_err(|e| match e {
            clipstore_core::ResolveError::UnknownVariant { slug, variant } => {
                let clip = manifest.clip(&slug);
                let main = clip.and_then(|c| c.variant.as_ref()).map(|v| format!("{} (the main file)", v.id));
                let others = clip.into_iter().flat_map(|c| c.variants.keys().cloned());
                let known: Vec<String> = main.into_iter().chain(others).collect();
                let known = if known.is_empty() {
                    // `slug::extended`: the main file under a licence tier
                    // (the support review: "the slug alone" drops the tier).
                    format!("its main file only: write `{slug}`, or `{slug}::LICENCE` for a licence tier")
                } else {
                    known.join(", ")
                };
                TokenCommandError::UnknownVariant { slug, variant, known }
            }
            other => other.into(),
        })?;
        let canonical = clipstore_core::Item { slug: resolved.slug.clone(), choice: resolved.choice.clone() };
        let canonical = canonical.to_item_string();
        match taken.iter().find(|(slug, _, _)| *slug == resolved.slug) {
            Some((_, same, _)) if *same == canonical => continue,
            Some((slug, _, first)) => {
                let (first, second) = ((*first).clone(), written.clone());
                return Err(TokenCommandError::ClipTwice { slug: slug.clone(), first, second });
            }
            None => taken.push((resolved.slug.clone(), canonical, written)),
        }
        if !resolved.choice.is_plain() {
            choices.insert(resolved.slug, resolved.choice);
        }
    }
    let mut claims = Claims {
        key_id: key_id.to_string(),
        order_id: req.order_id.clone(),
        clips: items.iter().map(|i| i.slug.clone()).collect(),
        issued_at: req.now_unix,
        expires_at: req.now_unix.saturating_add(req.valid_for.as_secs()),
        downloads: req.downloads,
        customer_ref: req.customer_ref.clone(),
        choices,
    };
    claims.normalize_clips();
    Ok(claims)
}

/// What of a minted link the last build's catalog lacks (`manifest`: the
/// `catalog-manifest.json` the Worker is built with): the Worker answers
/// "not found" for it until the site and the Worker are built and deployed
/// again. One line per problem; none when every file is there.
pub fn missing_from_last_build(manifest: &Path, claims: &Claims) -> Vec<String> {
    let deploy = "build the site and the Worker and deploy before you send the link";
    let catalog = match std::fs::read_to_string(manifest) {
        Ok(json) => clipstore_core::CatalogManifest::from_json(&json),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return vec![format!(
                "{} is not there: no build yet, so no Worker knows the clips; {deploy}",
                manifest.display()
            )];
        }
        Err(e) => {
            return vec![format!(
                "{} could not be read ({e}), so the clips were not looked up in it",
                manifest.display()
            )]
        }
    };
    let Ok(catalog) = catalog else {
        return vec![format!(
            "{} is not a catalog this site-gen reads (made by another version?), so the clips were not looked up in it; \
             build again to compare",
            manifest.display()
        )];
    };
    claims
        .clips
        .iter()
        .filter_map(|slug| {
            let variant = claims.choice(slug).variant;
            let clip = catalog.clip(slug);
            let missing = match (clip, variant.as_deref()) {
                (None, _) => format!("the clip {slug} is not in the last build's catalog ({})", manifest.display()),
                (Some(clip), Some(v)) if clip.file(Some(v)).is_none() => {
                    format!(
                        "the file {v} of the clip {slug} is not in the last build's catalog ({})",
                        manifest.display()
                    )
                }
                _ => return None,
            };
            Some(format!("{missing}: the link answers \"not found\" for it until then; {deploy}"))
        })
        .collect()
}

/// The customer's link: `<download base URL>/<token>`.
pub fn download_url(download_base_url: &str, token: &str) -> String {
    format!("{}/{token}", download_base_url.trim_end_matches('/'))
}

/// The token in what the owner pasted: a bare token or a whole download link
/// (`.../download/<token>` or `.../download/<token>/<clip>`), without what a
/// message ran into its end (`).`, a quote: no token ends so), as the
/// Worker redirects such a link.
pub fn token_from_input(input: &str) -> &str {
    let input = input.trim();
    let token = match input.find("/download/") {
        Some(i) => input[i + "/download/".len()..].split(['/', '?', '#']).next().unwrap_or(""),
        None => input,
    };
    token.trim_end_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
}

/// A unix time as a readable UTC date-time.
pub fn show_time(unix: u64) -> String {
    chrono::DateTime::from_timestamp(unix as i64, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| unix.to_string())
}

/// Verifies `token` with `ring` at `now`, for `inspect`.
pub fn check(token: &str, ring: &Keyring, now: u64) -> Result<Claims, TokenError> {
    verify_token(token, ring, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_words() {
        assert_eq!(parse_duration("30d").unwrap().as_secs(), 30 * 86400);
        assert_eq!(parse_duration("12h").unwrap().as_secs(), 12 * 3600);
        assert_eq!(parse_duration("2weeks").unwrap().as_secs(), 14 * 86400);
        assert!(matches!(parse_duration("soon"), Err(TokenCommandError::BadDuration(_))));
        assert!(parse_duration("100years").is_ok());
        for long in ["101years", "7990years"] {
            assert!(matches!(parse_duration(long), Err(TokenCommandError::TooLong(_))), "{long}");
        }
        for none in ["0s", "0d", "500ms"] {
            assert!(matches!(parse_duration(none), Err(TokenCommandError::BadDuration(_))), "{none}");
        }
    }

    #[test]
    fn tokens_from_pasted_links() {
        assert_eq!(token_from_input("abc"), "abc");
        assert_eq!(token_from_input(" https://shop.example/download/abc.def "), "abc.def");
        assert_eq!(token_from_input("http://127.0.0.1:8787/download/abc/harbor-at-dawn"), "abc");
        assert_eq!(token_from_input("(https://shop.example/download/abc.def)."), "abc.def");
        assert_eq!(token_from_input("abc.def\","), "abc.def");
    }

    #[test]
    fn generated_keys_are_random_and_round_trip() {
        let a = generate_key("k1").unwrap();
        let b = generate_key("k1").unwrap();
        assert_ne!(a.to_env_string(), b.to_env_string());
        assert_eq!(SigningKey::from_env_string(&a.to_env_string()).unwrap().to_env_string(), a.to_env_string());
    }

    #[test]
    fn dev_vars_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(".dev.vars");
        std::fs::write(&path, "# local secrets\nADMIN_TOKEN=x\nTOKEN_KEYS = \"k1:abc\"\n").unwrap();
        assert_eq!(dev_var(&path, "TOKEN_KEYS").as_deref(), Some("k1:abc"));
        assert_eq!(dev_var(&path, "NOPE"), None);
    }
}
