//! Every way a download can fail, mapped to HTTP once, here.
//!
//! Handlers return a [`DownloadError`]; the glue turns it into a response with
//! [`DownloadError::status`] and [`crate::pages::error_page`], and logs it
//! with [`DownloadError::log_code`]. Customers see a page in the shop's style
//! that never reveals why a token was refused beyond "expired" or "invalid".

/// Why the Worker could not serve a download request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadError {
    /// The link's token expired: the customer needs a new link (410).
    Expired,
    /// The token is malformed, tampered with, signed by an unknown key or not
    /// yet valid (403). `code` is the token error code, for the logs only.
    InvalidToken { code: &'static str },
    /// The clip exists but the token does not cover it (403).
    NotInOrder,
    /// The order's allowance for this clip is used up (403).
    AllowanceUsedUp,
    /// What is left does not fit while another download of the clip holds
    /// it (409): a second tap on Download, not a link used up; nothing was
    /// charged, and the first may still end short and give bytes back.
    InProgress,
    /// D1 is down and the link has taken what it may until it is back
    /// (`runtime/offline.rs`): whether it is used up, or owed a restart or
    /// a resume of a download that broke off, only D1 can say (503).
    PausedOffline,
    /// The order was revoked, or this link replaced by a reissued one (403).
    Revoked,
    /// The order (or this clip of it) was refunded (403).
    Refunded,
    /// The order's payment is disputed (403): stopped while the dispute
    /// lasts, working again if it closes in the shop's favour.
    Disputed,
    /// No clip with this slug in the catalog (404).
    UnknownClip,
    /// A `/download/…` path of the wrong shape (404).
    NotFound,
    /// Only GET and HEAD are served (405).
    MethodNotAllowed,
    /// R2 or D1 failed, the object is missing, or the Worker is
    /// misconfigured (503). `detail` is for the owner's logs, never shown.
    Unavailable { detail: String },
}

/// Whether one clip of an order was revoked on its own (`revoked_clips`),
/// and why: the customer is told "refunded" only for a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipRevoked {
    No,
    /// `orders revoke --clip` without a refund (reason `admin`).
    ByOwner,
    Refunded,
}

impl ClipRevoked {
    /// From `REFUSAL_STATE`'s `clip_revoked` column: 0, 1 (the owner), 2 (a refund).
    pub fn from_code(code: u64) -> ClipRevoked {
        match code {
            0 => ClipRevoked::No,
            1 => ClipRevoked::ByOwner,
            _ => ClipRevoked::Refunded,
        }
    }
}

impl DownloadError {
    /// Why the ledger refuses an order's link, if it does: the order
    /// revoked (for a refund or dispute: `reason`), this clip of it revoked,
    /// or the link older than the order's last reissue (`not_before`).
    pub fn revocation(
        revoked_at: Option<u64>,
        reason: Option<&str>,
        clip: ClipRevoked,
        not_before: u64,
        token_issued_at: u64,
    ) -> Option<DownloadError> {
        // A clip refunded on its own stays refunded whatever becomes of a
        // dispute of the order; one the owner revoked stays revoked.
        if clip == ClipRevoked::Refunded || (revoked_at.is_some() && reason == Some("refunded")) {
            Some(DownloadError::Refunded)
        } else if clip == ClipRevoked::ByOwner {
            Some(DownloadError::Revoked)
        } else if revoked_at.is_some() && reason == Some("disputed") {
            Some(DownloadError::Disputed)
        } else if revoked_at.is_some() || not_before > token_issued_at {
            Some(DownloadError::Revoked)
        } else {
            None
        }
    }

    /// Maps a token verification failure by its stable code
    /// (`clipstore_core::TokenError::code`).
    pub fn from_token_code(code: &str) -> DownloadError {
        const CODES: [&str; 6] =
            ["malformed", "unsupported_version", "unsupported_claim", "unknown_key", "bad_signature", "not_yet_valid"];
        match code {
            "expired" => DownloadError::Expired,
            other => {
                DownloadError::InvalidToken { code: CODES.iter().find(|c| **c == other).copied().unwrap_or("invalid") }
            }
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            DownloadError::Expired => 410,
            DownloadError::InvalidToken { .. }
            | DownloadError::NotInOrder
            | DownloadError::AllowanceUsedUp
            | DownloadError::Revoked
            | DownloadError::Refunded
            | DownloadError::Disputed => 403,
            DownloadError::UnknownClip | DownloadError::NotFound => 404,
            DownloadError::MethodNotAllowed => 405,
            DownloadError::InProgress => 409,
            DownloadError::Unavailable { .. } | DownloadError::PausedOffline => 503,
        }
    }

    /// A short stable name for logs and the ledger's `outcome`.
    pub fn log_code(&self) -> &'static str {
        match self {
            DownloadError::Expired => "expired",
            DownloadError::InvalidToken { code } => code,
            DownloadError::NotInOrder => "clip_not_in_order",
            DownloadError::AllowanceUsedUp => "allowance_used_up",
            DownloadError::InProgress => "download_in_progress",
            DownloadError::PausedOffline => "paused_offline",
            DownloadError::Revoked => "revoked",
            DownloadError::Refunded => "refunded",
            DownloadError::Disputed => "disputed",
            DownloadError::UnknownClip => "unknown_clip",
            DownloadError::NotFound => "not_found",
            DownloadError::MethodNotAllowed => "method_not_allowed",
            DownloadError::Unavailable { .. } => "storage_unavailable",
        }
    }

    /// Whether the owner must hear about it (logged as an error, not info).
    pub fn is_owner_facing(&self) -> bool {
        matches!(self, DownloadError::Unavailable { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::ClipRevoked;
    use super::DownloadError::{self, *};

    #[test]
    fn statuses() {
        assert_eq!(DownloadError::from_token_code("expired").status(), 410);
        for code in ["malformed", "bad_signature", "unknown_key", "not_yet_valid", "???"] {
            assert_eq!(DownloadError::from_token_code(code).status(), 403, "{code}");
        }
        assert_eq!(NotInOrder.status(), 403);
        assert_eq!(AllowanceUsedUp.status(), 403);
        assert_eq!(InProgress.status(), 409);
        assert_eq!(PausedOffline.status(), 503, "for a while, not for good");
        assert_eq!(Revoked.status(), 403);
        assert_eq!(Refunded.status(), 403);
        assert_eq!(UnknownClip.status(), 404);
        assert_eq!(NotFound.status(), 404);
        assert_eq!(MethodNotAllowed.status(), 405);
        assert_eq!(Unavailable { detail: "r2 down".into() }.status(), 503);
    }

    #[test]
    fn revocations() {
        assert_eq!(DownloadError::revocation(None, None, ClipRevoked::No, 0, 5), None);
        assert_eq!(DownloadError::revocation(Some(1), Some("admin"), ClipRevoked::No, 0, 5), Some(Revoked));
        assert_eq!(DownloadError::revocation(Some(1), None, ClipRevoked::No, 0, 5), Some(Revoked));
        assert_eq!(DownloadError::revocation(Some(1), Some("refunded"), ClipRevoked::No, 0, 5), Some(Refunded));
        assert_eq!(DownloadError::revocation(Some(1), Some("disputed"), ClipRevoked::No, 0, 5), Some(Disputed));
        assert_eq!(
            DownloadError::revocation(Some(1), Some("disputed"), ClipRevoked::Refunded, 0, 5),
            Some(Refunded),
            "a clip refunded"
        );
        assert_eq!(DownloadError::revocation(None, None, ClipRevoked::Refunded, 0, 5), Some(Refunded));
        assert_eq!(
            DownloadError::revocation(None, None, ClipRevoked::No, 6, 5),
            Some(Revoked),
            "reissued after this link"
        );
        let by_owner = ClipRevoked::ByOwner;
        assert_eq!(DownloadError::revocation(None, None, by_owner, 0, 5), Some(Revoked), "not 'refunded'");
        assert_eq!(DownloadError::revocation(Some(1), Some("disputed"), by_owner, 0, 5), Some(Revoked));
        assert_eq!(DownloadError::revocation(Some(1), Some("refunded"), by_owner, 0, 5), Some(Refunded));
        assert_eq!(ClipRevoked::from_code(0), ClipRevoked::No);
        assert_eq!(ClipRevoked::from_code(1), by_owner);
        assert_eq!(ClipRevoked::from_code(2), ClipRevoked::Refunded);
        assert_eq!(DownloadError::revocation(None, None, ClipRevoked::No, 5, 5), None, "a link of the reissue itself");
    }

    #[test]
    fn token_codes_are_kept_for_logs() {
        assert_eq!(DownloadError::from_token_code("bad_signature").log_code(), "bad_signature");
        assert_eq!(DownloadError::from_token_code("weird").log_code(), "invalid");
    }
}
