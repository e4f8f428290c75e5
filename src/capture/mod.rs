//! Packet sources. This is the only module that touches libpcap (live capture and
//! BPF compilation) or reads capture files. A source yields raw frames with their
//! link type and capture timestamp, nothing more: decoding is the core's job.

pub mod file;
pub mod filter;
pub mod linktype;
pub mod live;
pub mod pcap_write;

use crate::time::Timestamp;

/// One captured frame, borrowed from the reader's buffer (zero copy).
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    pub ts: Timestamp,
    /// LINKTYPE_* number of the interface the frame was captured on.
    pub linktype: u32,
    /// The captured bytes (may be shorter than `orig_len` when the snaplen cut it).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub orig_len: u32,
}

pub use file::{CaptureFile, FileFormat, FileSummary};
pub use filter::PacketFilter;
