//! Where a clip's bytes come from: R2, or, when R2 fails, times out or lacks
//! the object, the secondary origin (docs/secondary-origin.md).
//!
//! [`locate`] asks R2 first, within a time budget
//! (`crate::secondary::r2_budget_ms`), and turns to the secondary only then;
//! the [`Located`] object sizes and validates the answer, and its
//! [`Origin`] opens each segment that `runtime/stream.rs` pipes.

use std::pin::pin;
use std::time::Duration;

use clipstore_core::ManifestClip;
use futures_util::future::{select, Either};
use web_sys::ReadableStream;
use worker::*;

use super::monitor::setting;
use super::{secondary, unavailable};
use crate::delivery::ByteSpan;
use crate::error::DownloadError;
use crate::preconditions::Validators;
use crate::secondary::{r2_budget_ms, R2Answer, SecondaryConfig};

/// The store a response's segments are read from.
pub(super) enum Origin {
    /// `etag`: R2's (unquoted) ETag; every read is conditional on it.
    R2 { bucket: Bucket, etag: String },
    /// `etag`: the store's (quoted) ETag, the `If-Match` of every read.
    Secondary { config: SecondaryConfig, etag: String, size: u64 },
}

impl Origin {
    /// The ledger's name of it (`download_attempts.origin`).
    pub(super) fn name(&self) -> &'static str {
        match self {
            Origin::R2 { .. } => "r2",
            Origin::Secondary { .. } => "secondary",
        }
    }

    /// Opens one segment's body; an error says why (for the logs).
    pub(super) async fn open_segment(
        &self,
        key: &str,
        segment: ByteSpan,
    ) -> std::result::Result<ReadableStream, String> {
        match self {
            Origin::R2 { bucket, etag } => super::stream::open_segment(bucket, key, etag, segment).await,
            Origin::Secondary { config, etag, size } => {
                secondary::open_segment(config, key, etag, segment, *size).await
            }
        }
    }
}

/// A clip's object, found in one origin.
pub(super) struct Located {
    pub(super) size: u64,
    pub(super) validators: Validators,
    pub(super) origin: Origin,
}

/// Finds the object of `entry` (clip `slug`): in R2, or in the secondary
/// when R2 fails, does not answer within its budget, or lacks it. Without a
/// secondary, R2 has no budget, and its failure is the answer (503), as before.
pub(super) async fn locate(env: &Env, entry: &ManifestClip, slug: &str) -> std::result::Result<Located, DownloadError> {
    let key = entry.object_key.as_str();
    let secondary = secondary::config(env);
    let answer = match env.bucket("CLIPS") {
        Err(e) => R2Answer::Failed(format!("R2 binding CLIPS: {e}")),
        Ok(bucket) => {
            let budget_ms = r2_budget_ms(setting(env, crate::secondary::R2_BUDGET).as_deref());
            // R2 is given a budget only when there is somewhere else to turn:
            // without a secondary, a slow answer is still the answer.
            let headed = if matches!(secondary, Ok(Some(_))) {
                let head = pin!(bucket.head(key));
                let timeout = pin!(Delay::from(Duration::from_millis(budget_ms)));
                match select(head, timeout).await {
                    Either::Left((answer, _)) => Some(answer),
                    Either::Right(_) => None,
                }
            } else {
                Some(bucket.head(key).await)
            };
            match headed {
                Some(Ok(Some(object))) => {
                    if object.size() != entry.size {
                        console_warn!(
                            "{}",
                            log_line!({
                                "event": "manifest_size_mismatch",
                                "key": key,
                                "manifest": entry.size,
                                "r2": object.size(),
                            })
                        );
                    }
                    return Ok(Located {
                        size: object.size(),
                        validators: Validators {
                            etag: object.http_etag(),
                            last_modified: object.uploaded().as_millis() / 1000,
                        },
                        origin: Origin::R2 { bucket, etag: object.etag() },
                    });
                }
                Some(Ok(None)) => R2Answer::Missing,
                Some(Err(e)) => R2Answer::Failed(format!("R2 head {key}: {e}")),
                None => R2Answer::TimedOut { budget_ms },
            }
        }
    };
    let why = answer.describe(key, slug);
    let config = match secondary {
        Ok(Some(config)) => config,
        Ok(None) => return Err(unavailable(why)),
        Err(e) => {
            console_error!("{}", log_line!({ "event": "secondary_misconfigured", "error": e.to_string() }));
            return Err(unavailable(format!("{why}; no secondary origin to turn to: {e}")));
        }
    };
    match secondary::head(&config, entry).await {
        Ok(object) => {
            console_warn!(
                "{}",
                log_line!({ "event": "served_from_secondary", "clip": slug, "key": key, "why": why, "size": object.size })
            );
            Ok(Located {
                size: object.size,
                validators: Validators { etag: object.etag.clone(), last_modified: object.last_modified },
                origin: Origin::Secondary { config, etag: object.etag, size: object.size },
            })
        }
        Err(refusal) => {
            let secondary_why = refusal.describe(key);
            console_error!(
                "{}",
                log_line!({ "event": "secondary_failed", "clip": slug, "key": key, "r2": why, "secondary": secondary_why })
            );
            Err(unavailable(format!("{why}; {secondary_why}")))
        }
    }
}
