//! Mints a purchase token for any clip slugs, for benchmarks and experiments
//! with a manifest that is not the shop's (site-gen's `token mint` only signs
//! slugs of the shop's own catalog). Prints the bare token.
//!
//! ```text
//! CLIPSTORE_SIGNING_KEY=k1:SECRET cargo run -q -p edge-worker --example mint_token -- SLUG [SLUG...]
//! ```
//! The token is valid for a day, 1000 downloads per clip, order `BENCH`.

use std::time::{SystemTime, UNIX_EPOCH};

use clipstore_core::{sign_token, Claims, SigningKey};

fn main() -> Result<(), String> {
    let key =
        std::env::var("CLIPSTORE_SIGNING_KEY").map_err(|_| "set CLIPSTORE_SIGNING_KEY=KEYID:SECRET".to_string())?;
    let key = SigningKey::from_env_string(&key).map_err(|e| e.to_string())?;
    let clips: Vec<String> = std::env::args().skip(1).collect();
    if clips.is_empty() {
        return Err("usage: mint_token SLUG [SLUG...]".into());
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
    let mut claims = Claims {
        key_id: key.key_id().to_string(),
        order_id: "BENCH".into(),
        clips,
        issued_at: now,
        expires_at: now + 86_400,
        downloads: 1000,
        customer_ref: None,
        choices: Default::default(),
    };
    claims.normalize_clips();
    println!("{}", sign_token(&claims, &key).map_err(|e| e.to_string())?);
    Ok(())
}
