//! HTTP/1.x parser and per-connection inspector.

pub mod parser;

pub use parser::{looks_like_http_request, looks_like_http_response};
