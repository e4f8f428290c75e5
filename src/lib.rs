//! keepwatch: shows whether HTTP connections are reused (keep-alive) or torn down.
//!
//! Pipeline (see docs/ARCHITECTURE.md):
//! `capture (files | live) → decode → tcp (flow table, reassembly) → http / tls inspectors
//! → analysis (verdicts, summary) → report (text/json/csv) | tui`.

pub mod analysis;
pub mod capture;
pub mod decode;
pub mod diff;
pub mod engine;
pub mod escape;
pub mod findings;
pub mod h2;
pub mod http;
pub mod inspect;
pub mod memory;
pub mod metrics;
pub mod report;
pub mod tcp;
pub mod time;
pub mod tls;
pub mod tui;
pub mod warnings;

pub use tcp::Direction;
pub use time::{Duration, Timestamp};
