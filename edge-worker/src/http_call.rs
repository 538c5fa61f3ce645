//! An outgoing HTTP request as plain data (sans IO): the Stripe and mail
//! provider modules build one, and the runtime sends it as is
//! (`runtime/http.rs`), so the request is tested natively.

/// An HTTP request for the runtime to execute as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub method: &'static str,
    pub url: String,
    /// Name and value; may hold an API key (never log them).
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}
