//! HTTP/1.x parser and per-connection inspector.
