//! The revocation list: every revoked, refunded, reissued or partly revoked
//! order, as one R2 object the Worker reads when D1 fails, so that a link
//! the owner (or a refund) ended stays ended during a D1 outage
//! (docs/downloads.md, "When D1 fails").
//!
//! D1 is the truth: the runtime writes the whole list from D1 after every
//! revoke, reissue, refund and dispute, and again on every cron run, so a
//! list written from an older snapshot is corrected within five minutes.

use clipstore_core::json::{self, JsonError};
use clipstore_core::{json_fields, Claims, SortedMap};

use crate::error::{ClipRevoked, DownloadError};

/// The object's key in the `CLIPS` bucket, under a prefix no clip may use
/// (`clipstore_core::reserved_key`).
pub const KEY: &str = "ledger-state/revocations.json";

/// Seconds an isolate keeps the list it read before reading it again.
pub const CACHE_SECS: u64 = 60;

/// What the list says about one order.
/// Each field is left out when it says nothing (0 for `not_before`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderRevocation {
    pub revoked_at: Option<u64>,
    /// `admin`, `refunded` or `disputed`.
    pub reason: Option<String>,
    /// Links issued before this (unix seconds) are refused (a reissue).
    pub not_before: u64,
    /// Clips revoked one by one.
    pub clips: Vec<String>,
    /// Of those, the ones the owner revoked, not for a refund (a list
    /// written before it had this: every one taken as refunded).
    pub withdrawn: Vec<String>,
}
json_fields!(OrderRevocation {
    #[skip_empty]
    revoked_at,
    #[skip_empty]
    reason,
    #[skip_empty]
    not_before,
    #[skip_empty]
    clips,
    #[skip_empty]
    withdrawn
});

/// The list, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    /// When it was written from D1 (unix seconds).
    pub written_at: u64,
    pub orders: SortedMap<OrderRevocation>,
}
json_fields!(RevocationList { written_at, orders });

/// One order row of `ledger::sql::REVOCATIONS`.
#[derive(Debug, Clone)]
pub struct RevokedOrderRow {
    pub order_id: String,
    pub revoked_at: Option<u64>,
    pub revoked_reason: Option<String>,
    pub not_before: u64,
}
crate::from_row!(RevokedOrderRow { order_id, revoked_at, revoked_reason } defaults { not_before });

/// One row of `ledger::sql::REVOKED_CLIPS_ALL`.
#[derive(Debug, Clone)]
pub struct RevokedClipRow {
    pub order_id: String,
    pub clip_slug: String,
    /// `admin` or `refunded`.
    pub reason: String,
}
crate::from_row!(RevokedClipRow { order_id, clip_slug } defaults { reason });

impl RevocationList {
    /// The list from D1's rows.
    pub fn from_rows(orders: Vec<RevokedOrderRow>, clips: Vec<RevokedClipRow>, now: u64) -> RevocationList {
        let mut list = RevocationList { written_at: now, orders: SortedMap::default() };
        for o in orders {
            let entry = list.orders.entry(o.order_id);
            entry.revoked_at = o.revoked_at;
            entry.reason = o.revoked_reason;
            entry.not_before = o.not_before;
        }
        // Orders with only clips revoked are gathered apart and moved in at
        // once (the rows come in order id order; the orders are many).
        let mut clips_only = SortedMap::<OrderRevocation>::default();
        for c in clips {
            let order = match list.orders.get_mut(&c.order_id) {
                Some(order) => order,
                None => clips_only.entry(c.order_id),
            };
            if c.reason != "refunded" {
                order.withdrawn.push(c.clip_slug.clone());
            }
            order.clips.push(c.clip_slug);
        }
        list.orders.append(clips_only);
        list
    }

    /// Why the list refuses `claims` (for clip `slug`, or the order page
    /// when `None`), the same way the ledger would.
    pub fn refusal(&self, claims: &Claims, slug: Option<&str>) -> Option<DownloadError> {
        let order = self.orders.get(&claims.order_id)?;
        let clip_revoked = match slug {
            Some(slug) => order.clips.iter().any(|c| c == slug),
            None => claims.clips.iter().all(|c| order.clips.contains(c)),
        };
        let withdrawn = match slug {
            Some(slug) => order.withdrawn.iter().any(|c| c == slug),
            None => claims.clips.iter().all(|c| order.withdrawn.contains(c)),
        };
        let clip_revoked = match (clip_revoked, withdrawn) {
            (false, _) => ClipRevoked::No,
            (true, true) => ClipRevoked::ByOwner,
            (true, false) => ClipRevoked::Refunded,
        };
        DownloadError::revocation(
            order.revoked_at,
            order.reason.as_deref(),
            clip_revoked,
            order.not_before,
            claims.issued_at,
        )
    }

    pub fn to_json(&self) -> String {
        json::to_string(self)
    }

    pub fn from_json(text: &str) -> Result<RevocationList, JsonError> {
        json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(order: &str, clips: &[&str], issued_at: u64) -> Claims {
        Claims {
            key_id: "k".into(),
            order_id: order.into(),
            clips: clips.iter().map(|c| c.to_string()).collect(),
            issued_at,
            expires_at: issued_at + 1000,
            downloads: 1,
            customer_ref: None,
            choices: Default::default(),
        }
    }

    fn list() -> RevocationList {
        let orders = vec![
            RevokedOrderRow {
                order_id: "R".into(),
                revoked_at: Some(5),
                revoked_reason: Some("refunded".into()),
                not_before: 0,
            },
            RevokedOrderRow {
                order_id: "A".into(),
                revoked_at: Some(5),
                revoked_reason: Some("admin".into()),
                not_before: 0,
            },
            RevokedOrderRow { order_id: "N".into(), revoked_at: None, revoked_reason: None, not_before: 100 },
        ];
        let clips = vec![
            RevokedClipRow { order_id: "P".into(), clip_slug: "a".into(), reason: "refunded".into() },
            RevokedClipRow { order_id: "W".into(), clip_slug: "a".into(), reason: "admin".into() },
        ];
        RevocationList::from_rows(orders, clips, 7)
    }

    #[test]
    fn refuses_as_the_ledger_would() {
        let l = RevocationList::from_json(&list().to_json()).unwrap();
        assert_eq!(l.refusal(&claims("R", &["a"], 1), Some("a")), Some(DownloadError::Refunded));
        assert_eq!(l.refusal(&claims("A", &["a"], 1), None), Some(DownloadError::Revoked));
        assert_eq!(
            l.refusal(&claims("N", &["a"], 99), Some("a")),
            Some(DownloadError::Revoked),
            "issued before the reissue"
        );
        assert_eq!(l.refusal(&claims("N", &["a"], 100), Some("a")), None, "the reissued link");
        assert_eq!(l.refusal(&claims("P", &["a", "b"], 1), Some("a")), Some(DownloadError::Refunded));
        assert_eq!(l.refusal(&claims("P", &["a", "b"], 1), Some("b")), None);
        assert_eq!(l.refusal(&claims("P", &["a", "b"], 1), None), None, "the order page still lists b");
        assert_eq!(l.refusal(&claims("OK", &["a"], 1), Some("a")), None);
        // The owner's revoke of a clip, not a refund's: not "refunded".
        assert_eq!(l.refusal(&claims("W", &["a", "b"], 1), Some("a")), Some(DownloadError::Revoked));
        // A list written before `withdrawn`: every clip taken as refunded.
        let old = RevocationList::from_json(r#"{"written_at":1,"orders":{"W":{"clips":["a"]}}}"#).unwrap();
        assert_eq!(old.refusal(&claims("W", &["a"], 1), Some("a")), Some(DownloadError::Refunded));
    }

    /// The list as R2 holds it, byte for byte, and lists written by
    /// earlier Workers (before `not_before` and `clips`) still read.
    #[test]
    fn the_stored_list_is_pinned() {
        let mut l = list();
        l.orders.entry("P".into()).clips.push("b\"".into());
        assert_eq!(
            l.to_json(),
            concat!(
                r#"{"written_at":7,"orders":{"A":{"revoked_at":5,"reason":"admin"},"#,
                "\"N\":{\"not_before\":100},\"P\":{\"clips\":[\"a\",\"b\\\"\"]},",
                r#""R":{"revoked_at":5,"reason":"refunded"},"W":{"clips":["a"],"withdrawn":["a"]}}}"#,
            )
        );
        assert_eq!(RevocationList::from_json(&l.to_json()).unwrap(), l);
        let old = r#"{"written_at":1,"orders":{"A":{"revoked_at":5,"reason":"admin","later":[{}]},"B":{}},"more":1}"#;
        let read = RevocationList::from_json(old).unwrap();
        assert_eq!(read.orders["A"].revoked_at, Some(5));
        assert_eq!(read.orders["B"], OrderRevocation::default());
        for bad in [
            "",
            "{}",
            r#"{"written_at":1}"#,
            r#"{"written_at":-1,"orders":{}}"#,
            r#"{"written_at":1,"orders":[]}"#,
            r#"{"written_at":1,"orders":{"A":{"not_before":null}}}"#,
            r#"{"written_at":1,"orders":{"A":{"clips":"a"}}}"#,
            r#"{"written_at":1,"written_at":2,"orders":{}}"#,
        ] {
            assert!(RevocationList::from_json(bad).is_err(), "{bad}");
        }
        // A key given twice keeps its last value, as a map did.
        let twice = RevocationList::from_json(r#"{"written_at":1,"orders":{"A":{"not_before":1},"A":{}}}"#).unwrap();
        assert_eq!(twice.orders["A"].not_before, 0);
    }

    #[test]
    fn the_stored_form_is_small() {
        let json = list().to_json();
        assert!(json.starts_with(r#"{"written_at":7,"orders":{"A":{"revoked_at":5,"reason":"admin"}"#), "{json}");
        assert!(json.contains(r#""N":{"not_before":100}"#), "{json}");
    }
}
