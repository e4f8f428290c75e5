//! Packet sources. This is the only module that touches libpcap (live capture and
//! BPF compilation) or reads capture files. A source yields raw frames with their
//! link type and capture timestamp, nothing more: decoding is the core's job.

pub mod file;
pub mod filter;
pub mod guard;
pub mod live;
pub mod pcap_write;

pub use file::{CaptureFile, FileFormat, FileSummary};
pub use filter::PacketFilter;
