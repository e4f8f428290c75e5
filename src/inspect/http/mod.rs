//! HTTP/1.x parser and per-connection inspector.
//!
//! [`parser`] holds `nom` streaming parsers (request line, status line, header
//! fields, chunked framing); `framing` decides how a body is delimited (RFC 9112
//! §6.3, a pure function); [`inspector`] frames both directions of one
//! connection, matches responses to requests and records keep-alive behaviour.

mod framing;
pub mod inspector;
pub mod log;
pub mod parser;
pub mod warning;

pub use inspector::{
    has_token, Exchange, Framing, HttpInspector, HttpVersion, KeepAliveParams, Message, Rare,
    Switch,
};
pub use log::Facts;
pub use parser::{looks_like_http_request, looks_like_http_response};
