//! The clipstore edge Worker.
//!
//! Serves the static shop through Workers Static Assets, verifies purchase
//! tokens and streams purchased clips from R2 (routes in [`routes`]).
//!
//! Everything but the runtime glue is plain Rust that builds and tests on the
//! host (`cargo test -p edge-worker`): the route table, range and conditional
//! request decisions, `Content-Disposition`, the order and error pages, the
//! error-to-status mapping, the download allowance rule ([`allowance`]), the
//! ledger's records and SQL ([`ledger`]) and the admin API's routes and
//! authentication ([`admin`]). The glue in `runtime` (wasm32 only) reads the
//! bindings, calls R2/D1 (and the secondary origin when R2 fails) and hands
//! the clips' streams to the runtime untouched.
//!
//! The catalog manifest is embedded at compile time (see `build.rs`).

pub mod admin;
pub mod after_expiry;
pub mod allowance;
pub mod content_disposition;
pub mod d1_row;
pub mod delivery;
pub mod error;
pub mod http_call;
pub mod ledger;
#[macro_use]
pub mod log_line;
pub mod mail;
pub mod monitor;
pub mod offline;
pub mod order;
pub mod outbox;
pub mod pages;
pub mod payments;
pub mod preconditions;
pub use clipstore_core::range;
pub mod recovery;
pub mod refusals;
pub mod request_url;
pub mod revocations;
pub mod routes;
pub mod secondary;
pub mod segments;
pub mod shop_pages;
pub mod sigv4;
pub mod stale;

#[cfg(test)]
mod ledger_sql_tests;

#[cfg(target_arch = "wasm32")]
mod runtime;
