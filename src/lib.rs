//! keepwatch: shows whether HTTP connections are reused (keep-alive) or torn down.
//!
//! Pipeline (see docs/ARCHITECTURE.md), one folder per stage:
//! `capture (files | live) → decode → tcp (flow table, reassembly)
//! → inspect (HTTP/1, TLS, HTTP/2 under one dispatcher)
//! → analysis (record, close reason, verdict, summary, findings)
//! → report (text/json/csv) | tui`. `engine` drives the stages for every command.

pub mod analysis;
pub mod capture;
pub mod decode;
pub mod engine;
pub mod escape;
pub mod inspect;
pub mod live;
pub mod memory;
pub mod metrics;
pub mod report;
pub mod tcp;
pub mod time;
pub mod tui;

pub use tcp::Direction;
pub use time::{Duration, Timestamp};
