//! E-mail to customers and to the owner, through a transactional mail
//! provider's HTTP API (docs/mail.md).
//!
//! Plain Rust, tested natively: what a message says ([`messages`]), how a
//! provider's request looks and how its answer is read ([`MailProvider`],
//! [`resend`]). The runtime glue (`runtime/mail.rs`, wasm32 only) takes
//! messages from the D1 outbox ([`crate::outbox`]), executes the
//! [`HttpCall`] with `fetch` and hands the status and body back to
//! [`MailProvider::outcome`]. Nothing here does I/O, so another provider
//! (Postmark, SES, …) is one more module implementing the trait.

pub mod messages;
pub mod resend;

use std::fmt;

/// One message, rendered (plain text and HTML carry the same content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// One recipient address (`name@domain`).
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub use crate::http_call::HttpCall;

/// Why a provider did not accept a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    /// Whether trying again later can help (429, 5xx, the network). When
    /// not, the message is marked `failed` and kept for the owner to see.
    pub retry: bool,
    /// For the owner (`outbox.last_error`); never contains the API key.
    pub detail: String,
}

/// A transactional mail provider's send API.
pub trait MailProvider {
    /// Stable name stored in `outbox.provider`.
    fn name(&self) -> &'static str;

    /// The request that sends `mail`. `idempotency_key` is the same on every
    /// attempt of one message, so a retry after a timeout (the first attempt
    /// may have been sent) is not delivered twice by the provider.
    fn request(&self, mail: &Mail, idempotency_key: &str) -> HttpCall;

    /// Reads the provider's answer: its message id, or why not.
    fn outcome(&self, status: u16, body: &str) -> Result<String, SendFailure>;
}

/// Whether a refusal with this HTTP status can succeed later: rate limits
/// (429), the provider's own failures (5xx), and a refusal of the shop
/// ([`refuses_the_shop`]). Other 4xx are permanent.
pub fn retryable_status(status: u16) -> bool {
    refuses_the_shop(status) || status == 429 || (500..=599).contains(&status)
}

/// 401/403: the shop's key or sender domain (revoked, rotated, not yet
/// verified), not this message: no mail goes out until the owner fixes it.
/// The message stays queued, its `last_error` starts with [`SHOP_REFUSED`],
/// the self-test alerts at its next run, and the cron tries one such
/// message each run, so that all go within minutes of the fix.
pub fn refuses_the_shop(status: u16) -> bool {
    status == 401 || status == 403
}

/// How the `last_error` of a message refused for the shop's key or sender
/// begins (`outbox::sql` finds them by it).
pub const SHOP_REFUSED: &str = "the provider refuses the shop's key or sender: ";

/// A failure of the network or the runtime before any answer: retry.
pub fn transport_failure(detail: impl fmt::Display) -> SendFailure {
    SendFailure { retry: true, detail: format!("no answer from the provider: {detail}") }
}

/// The idempotency key of outbox message `id`, queued at `created_at`:
/// stable across its attempts, and not shared with the message of the same
/// id in another D1 database (a staging or a re-created one) sending
/// through the same provider account.
pub fn idempotency_key(id: u64, created_at: u64) -> String {
    format!("clipstore-outbox-{id}-{created_at}")
}

/// A misconfigured provider: the variable to fix and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The secret or var, e.g. `RESEND_API_KEY`.
    pub variable: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.variable, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// The shape of an address the Worker sends to: the rule site-gen checks
/// the owner's addresses with too.
pub use clipstore_core::address::valid_address;

/// A sender as `Name <addr>` or `addr`: the address, checked with
/// [`valid_address`], and a display name without characters that would
/// need quoting.
pub fn parse_mailbox(value: &str) -> Result<(Option<&str>, &str), String> {
    let value = value.trim();
    let (name, addr) = match value.split_once('<') {
        Some((name, rest)) => {
            let Some(addr) = rest.strip_suffix('>') else {
                return Err(format!("`{value}` has a `<` without a closing `>` at the end"));
            };
            let name = name.trim();
            if name.chars().any(|c| "<>\"@,;".contains(c) || c.is_control()) {
                return Err(format!("the display name in `{value}` has characters that need quoting"));
            }
            ((!name.is_empty()).then_some(name), addr.trim())
        }
        None => (None, value),
    };
    if !valid_address(addr) {
        return Err(format!("`{addr}` is not an e-mail address (expected name@domain.tld)"));
    }
    Ok((name, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes() {
        assert_eq!(
            parse_mailbox("Saltglass Footage <shop@saltglass.example>"),
            Ok((Some("Saltglass Footage"), "shop@saltglass.example"))
        );
        assert_eq!(parse_mailbox(" shop@saltglass.example "), Ok((None, "shop@saltglass.example")));
        assert_eq!(parse_mailbox("<shop@saltglass.example>"), Ok((None, "shop@saltglass.example")));
        assert!(parse_mailbox("Shop <shop@saltglass.example").is_err());
        assert!(parse_mailbox("Shop, Inc <shop@saltglass.example>").is_err());
        assert!(parse_mailbox("Shop <not an address>").unwrap_err().contains("not an e-mail address"));
    }

    #[test]
    fn retry_rules() {
        assert!(retryable_status(429));
        assert!(retryable_status(500) && retryable_status(503));
        assert!(retryable_status(401) && retryable_status(403), "the shop's key or domain, not the message");
        assert!(refuses_the_shop(401) && refuses_the_shop(403) && !refuses_the_shop(429) && !refuses_the_shop(422));
        assert!(!retryable_status(400) && !retryable_status(422));
        assert!(transport_failure("timeout").retry);
        assert_eq!(idempotency_key(42, 1_764_000_000), "clipstore-outbox-42-1764000000");
    }
}
