//! Placeholder: the Worker arrives with issue 4.
