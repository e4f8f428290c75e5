//! Verdicts and summaries: turns a finished connection into the record the
//! reports print (why it ended, whether it was reused), and aggregates records
//! into the summary, per server and per virtual host.
//!
//! Everything here is a pure function of the connection: no clock, no I/O.

pub mod close;
pub mod diff;
pub mod findings;
pub mod record;
pub mod summary;

pub use close::{CloseReason, CLOSED_AFTER_RESPONSE};
pub use record::{record, ConnectionRecord, HttpVersions, TcpDetail, Verdict};
pub use summary::{summarize, GroupStats, Summary, SummaryBuilder, TlsSummary};
