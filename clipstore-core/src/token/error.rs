//! Why a token was refused (or could not be made).

/// Why [`verify_token`](super::verify_token) refused a token, or why
/// [`sign_token`](super::sign_token) could not make one.
///
/// Verification checks run in this order and the first failure is returned:
/// malformed → unsupported_version → unknown_key → bad_signature →
/// (malformed / unsupported_claim in the signed body) → not_yet_valid →
/// expired. Messages are for the people who read logs and the CLI; the
/// Worker shows customers its own pages, chosen by [`TokenError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token of the right shape: bad characters, wrong lengths,
    /// non-canonical encoding, or a body that breaks the format's rules.
    #[error("the purchase token is malformed: {0}")]
    Malformed(String),
    /// The first byte names a format version this code does not know.
    #[error("the purchase token uses format version {0}; this version of clipstore only reads version 1")]
    UnsupportedVersion(u8),
    /// The token carries a critical (odd-tagged) claim this code does not
    /// know, so it cannot tell whether serving the clip is allowed.
    #[error("the purchase token carries claim {tag}, which this version of clipstore does not understand")]
    UnsupportedClaim { tag: u64 },
    /// The key id is not in the keyring: the key was retired or never
    /// configured on this side.
    #[error(
        "the purchase token was signed with key {0:?}, which is not in the keyring (retired, or not configured here)"
    )]
    UnknownKey(String),
    /// The MAC does not match: the token was altered, or signed with another
    /// secret under the same key id.
    #[error("the purchase token's signature does not match: it was altered or signed with a different secret")]
    BadSignature,
    /// `now` is at or past `expires_at` + [`CLOCK_SKEW_SECS`](super::CLOCK_SKEW_SECS).
    #[error("the purchase token expired at {expires_at} (unix time; it is now {now})")]
    Expired { expires_at: u64, now: u64 },
    /// `now` is before `issued_at` − [`CLOCK_SKEW_SECS`](super::CLOCK_SKEW_SECS).
    #[error("the purchase token is not valid before {issued_at} (unix time; it is now {now}); is a clock wrong?")]
    NotYetValid { issued_at: u64, now: u64 },
    /// Signing only: the claims name a different key than the one given.
    #[error("cannot sign: the claims name key {claims_key_id:?} but the signing key is {key_id:?}")]
    KeyMismatch { claims_key_id: String, key_id: String },
    /// Signing only: the claims break a rule of the format.
    #[error("cannot sign: {0}")]
    InvalidClaims(String),
}

impl TokenError {
    /// A stable snake_case name for the failure, used in the test vectors,
    /// in the download ledger and in logs. Never changes once published.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Malformed(_) => "malformed",
            TokenError::UnsupportedVersion(_) => "unsupported_version",
            TokenError::UnsupportedClaim { .. } => "unsupported_claim",
            TokenError::UnknownKey(_) => "unknown_key",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired { .. } => "expired",
            TokenError::NotYetValid { .. } => "not_yet_valid",
            TokenError::KeyMismatch { .. } => "key_mismatch",
            TokenError::InvalidClaims(_) => "invalid_claims",
        }
    }
}
