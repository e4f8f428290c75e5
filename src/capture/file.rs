//! Capture files: classic pcap (both byte orders, micro- and nanosecond
//! timestamps, the "modified" Kuznetzov variant) and pcapng (several sections,
//! interfaces and link types in one file).
//!
//! The file is memory-mapped and parsed with `pcap-parser`'s low-level
//! record parsers, so every packet handed on is a slice of the map: no copy and,
//! for classic pcap, no allocation per packet. A file cut in the middle of a
//! record or holding a corrupt block yields every packet before the damage and a
//! description of the damage in [`FileSummary::damage`]; it is not an error.
//!
//! Pages well behind the reader are released with `madvise(MADV_DONTNEED)`
//! ([`Pager`]), so the file's resident share of the process stays at a few
//! megabytes however large the capture (the page cache keeps the data; a later
//! touch would simply fault it in again). Populating ahead with
//! `MADV_POPULATE_READ` was tried and was slower than the kernel's own
//! fault-around (benches/pipeline.rs `read`: 95 ms against 77 ms on 535 MB).

use super::RawPacket;
use crate::time::Timestamp;
use memmap2::{Mmap, UncheckedAdvice};
use pcap_parser::pcapng::Block;
use pcap_parser::{
    parse_block_be, parse_block_le, parse_pcap_frame, parse_pcap_frame_be,
    parse_pcap_frame_modified, parse_pcap_header, parse_sectionheaderblock, PcapError,
};
use serde::Serialize;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Largest captured length a classic pcap record may claim before we call it
/// corrupt (libpcap's own MAXIMUM_SNAPLEN is 262144; allow headroom for
/// odd writers).
const MAX_RECORD: u32 = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The OS error is part of the message, not a separate `source`, so an
    /// error chain printer (anyhow's `{:#}`) does not repeat it.
    #[error("{path}: cannot open: {error}")]
    Open { path: String, error: std::io::Error },
    #[error("{path}: is a directory, not a capture file")]
    IsDirectory { path: String },
    #[error("{path}: not a regular file (a pipe, socket or device); give a capture file")]
    NotRegular { path: String },
    #[error("{path}: empty file (0 bytes), not a capture")]
    Empty { path: String },
    #[error("{path}: not a pcap or pcapng capture (first bytes: {magic})")]
    NotCapture { path: String, magic: String },
    #[error("{path}: {msg}")]
    BadHeader { path: String, msg: String },
    #[error("live capture: {0}")]
    Live(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Pcap,
    Pcapng,
}

/// What a file held, for the report and its warnings.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    pub path: String,
    pub format: FileFormat,
    pub nanosecond: bool,
    pub packets: u64,
    pub bytes: u64,
    pub linktypes: Vec<u32>,
    /// The file is cut short or corrupt: what was wrong and where. Every packet
    /// before that point was read.
    pub damage: Option<String>,
    /// Packets the capturing interface dropped, from pcapng statistics blocks.
    pub interface_drops: Option<u64>,
    /// Facts about the file worth a warning that are not damage (e.g. pcapng
    /// simple packet blocks, which carry no timestamp).
    pub notes: Vec<String>,
}

pub struct CaptureFile {
    path: PathBuf,
    map: Option<Mmap>,
    format: FileFormat,
}

impl CaptureFile {
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let disp = path.display().to_string();
        // Looked at before opening: opening a FIFO would block for a writer,
        // and mapping a directory fails with a baffling "No such device".
        let open_err = |e| CaptureError::Open {
            path: disp.clone(),
            error: e,
        };
        let meta = std::fs::metadata(path).map_err(open_err)?;
        if meta.is_dir() {
            return Err(CaptureError::IsDirectory { path: disp });
        }
        if !meta.is_file() {
            return Err(CaptureError::NotRegular { path: disp });
        }
        let f = File::open(path).map_err(open_err)?;
        let len = f.metadata().map_err(open_err)?.len();
        if len == 0 {
            return Err(CaptureError::Empty { path: disp });
        }
        // SAFETY: the map is read-only; a capture file truncated by another
        // process while we read it could fault, which is the same risk every
        // mmap-based pcap tool (libpcap included, when it maps) accepts.
        let map = unsafe { Mmap::map(&f) }.map_err(|e| CaptureError::Open {
            path: disp.clone(),
            error: e,
        })?;
        let format = sniff(&map).ok_or_else(|| CaptureError::NotCapture {
            path: disp.clone(),
            magic: map
                .iter()
                .take(4)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        })?;
        Ok(CaptureFile {
            path: path.to_path_buf(),
            map: Some(map),
            format,
        })
    }

    pub fn format(&self) -> FileFormat {
        self.format
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Calls `f` for every packet in file order.
    pub fn for_each<F: FnMut(RawPacket<'_>)>(&self, f: F) -> Result<FileSummary, CaptureError> {
        self.for_each_windowed(WINDOW, f)
    }

    /// Like [`CaptureFile::for_each`], and `secrets(type, data)` for each
    /// pcapng Decryption Secrets Block, in file order (before the packets it
    /// precedes).
    pub fn for_each_with_secrets<F: FnMut(RawPacket<'_>), S: FnMut(u32, &[u8])>(
        &self,
        f: F,
        mut secrets: S,
    ) -> Result<FileSummary, CaptureError> {
        let data: &[u8] = self.map.as_deref().unwrap_or(&[]);
        let disp = self.path.display().to_string();
        let pager = Pager::new(self.map.as_ref(), WINDOW);
        match self.format {
            FileFormat::Pcap => read_pcap(data, &disp, pager, f),
            FileFormat::Pcapng => read_pcapng_dsb(data, &disp, pager, f, &mut secrets),
        }
    }

    fn for_each_windowed<F: FnMut(RawPacket<'_>)>(
        &self,
        window: usize,
        f: F,
    ) -> Result<FileSummary, CaptureError> {
        let data: &[u8] = self.map.as_deref().unwrap_or(&[]);
        let disp = self.path.display().to_string();
        let pager = Pager::new(self.map.as_ref(), window);
        match self.format {
            FileFormat::Pcap => read_pcap(data, &disp, pager, f),
            FileFormat::Pcapng => read_pcapng_dsb(data, &disp, pager, f, &mut |_, _| {}),
        }
    }
}

/// Bytes of the map kept mapped behind the reader (at least; up to twice).
const WINDOW: usize = 8 << 20;

/// Keeps the mapped file's resident set to one or two windows behind the read
/// position plus what the kernel's fault-around maps ahead (see the module
/// documentation). Advice the kernel refuses is ignored: it only changes
/// residency, never what is read.
struct Pager<'m> {
    map: Option<&'m Mmap>,
    window: usize,
    /// Released up to here.
    released: usize,
}

impl<'m> Pager<'m> {
    fn new(map: Option<&'m Mmap>, window: usize) -> Self {
        let page = page_size();
        Pager {
            map,
            window: window.max(page) / page * page,
            released: 0,
        }
    }

    /// The reader is at byte `pos` of the file.
    #[inline]
    fn at(&mut self, pos: usize) {
        if pos >= self.released + 2 * self.window {
            self.release(pos);
        }
    }

    #[cold]
    fn release(&mut self, pos: usize) {
        let Some(map) = self.map else { return };
        // Page-aligned, and a whole window behind the record being read.
        let upto = (pos - self.window) / self.window * self.window;
        // SAFETY: the map is a read-only shared mapping of a file:
        // MADV_DONTNEED only drops our page-table entries, and a later access
        // faults the same bytes in again from the page cache. Nothing behind
        // the read position is borrowed any more anyway (packets are lent to
        // the callback one at a time).
        let _ = unsafe {
            map.unchecked_advise_range(
                UncheckedAdvice::DontNeed,
                self.released,
                upto - self.released,
            )
        };
        self.released = upto;
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

fn sniff(data: &[u8]) -> Option<FileFormat> {
    if data.len() < 4 {
        return None;
    }
    let m = [data[0], data[1], data[2], data[3]];
    match m {
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d]
        | [0x34, 0xcd, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xcd, 0x34] => Some(FileFormat::Pcap),
        [0x0a, 0x0d, 0x0d, 0x0a] => Some(FileFormat::Pcapng),
        _ => None,
    }
}

fn summary(path: &str, format: FileFormat) -> FileSummary {
    FileSummary {
        path: path.to_string(),
        format,
        nanosecond: false,
        packets: 0,
        bytes: 0,
        linktypes: Vec::new(),
        damage: None,
        interface_drops: None,
        notes: Vec::new(),
    }
}

fn read_pcap<F: FnMut(RawPacket<'_>)>(
    data: &[u8],
    path: &str,
    mut pager: Pager<'_>,
    mut f: F,
) -> Result<FileSummary, CaptureError> {
    let mut sum = summary(path, FileFormat::Pcap);
    let (mut rest, hdr) = match parse_pcap_header(data) {
        Ok(v) => v,
        Err(_) => {
            return Err(CaptureError::BadHeader {
                path: path.into(),
                msg: format!(
                    "pcap file header is cut short ({} bytes, 24 needed)",
                    data.len()
                ),
            })
        }
    };
    let linktype = hdr.network.0 as u32;
    let nanos = hdr.is_nanosecond_precision();
    let big = hdr.is_bigendian();
    let modified = hdr.is_modified_format();
    sum.nanosecond = nanos;
    sum.linktypes.push(linktype);
    let units = if nanos { 1_000_000_000 } else { 1_000_000 };
    let rec_hdr = if modified { 24 } else { 16 };
    while !rest.is_empty() {
        let offset = data.len() - rest.len();
        pager.at(offset);
        if rest.len() < rec_hdr {
            sum.damage = Some(format!(
                "cut short: {} stray bytes at offset {offset}, less than a record header; {} packets read before the cut",
                rest.len(),
                sum.packets
            ));
            break;
        }
        let caplen = if big {
            u32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]])
        } else {
            u32::from_le_bytes([rest[8], rest[9], rest[10], rest[11]])
        };
        if caplen > MAX_RECORD {
            sum.damage = Some(format!(
                "corrupt record at offset {offset}: captured length {caplen} is impossible; {} packets read before it",
                sum.packets
            ));
            break;
        }
        let parsed = if modified {
            parse_pcap_frame_modified(rest)
        } else if big {
            parse_pcap_frame_be(rest)
        } else {
            parse_pcap_frame(rest)
        };
        match parsed {
            Ok((r, block)) => {
                rest = r;
                let frac = if block.ts_usec as u64 >= units {
                    // Out-of-range fraction: keep the packet, clamp the fraction.
                    units - 1
                } else {
                    block.ts_usec as u64
                };
                let ts = Timestamp::from_secs_frac(block.ts_sec as i64, frac, units);
                sum.packets += 1;
                sum.bytes += block.data.len() as u64;
                f(RawPacket {
                    ts,
                    linktype,
                    data: block.data,
                    orig_len: block.origlen.max(block.caplen),
                });
            }
            Err(nom::Err::Incomplete(_)) => {
                sum.damage = Some(format!(
                    "cut short in the middle of a record at offset {offset} (record claims {caplen} bytes, {} present); {} packets read before the cut",
                    rest.len().saturating_sub(rec_hdr),
                    sum.packets
                ));
                break;
            }
            Err(_) => {
                sum.damage = Some(format!(
                    "corrupt record at offset {offset}; {} packets read before it",
                    sum.packets
                ));
                break;
            }
        }
    }
    Ok(sum)
}

struct Iface {
    linktype: u32,
    units: u64,
    offset: i64,
    snaplen: u32,
}

fn read_pcapng_dsb<F: FnMut(RawPacket<'_>)>(
    data: &[u8],
    path: &str,
    mut pager: Pager<'_>,
    mut f: F,
    secrets: &mut dyn FnMut(u32, &[u8]),
) -> Result<FileSummary, CaptureError> {
    let mut sum = summary(path, FileFormat::Pcapng);
    let mut rest = data;
    let mut big = false;
    let mut ifaces: Vec<Iface> = Vec::new();
    let mut last_ts = Timestamp::default();
    let mut unknown_iface = 0u64;
    let mut drops: Option<u64> = None;
    let mut first = true;
    let mut simple = 0u64;
    while !rest.is_empty() {
        let offset = data.len() - rest.len();
        pager.at(offset);
        let is_shb = rest.len() >= 4 && rest[..4] == [0x0a, 0x0d, 0x0d, 0x0a];
        if is_shb {
            match parse_sectionheaderblock(rest) {
                Ok((r, shb)) => {
                    big = shb.big_endian();
                    ifaces.clear();
                    rest = r;
                    first = false;
                    continue;
                }
                Err(e) => {
                    let what = if matches!(e, nom::Err::Incomplete(_)) {
                        "cut short in a section header block"
                    } else {
                        "corrupt section header block"
                    };
                    if first {
                        return Err(CaptureError::BadHeader {
                            path: path.into(),
                            msg: format!("pcapng: {what} at offset {offset}"),
                        });
                    }
                    sum.damage = Some(format!(
                        "{what} at offset {offset}; {} packets read before it",
                        sum.packets
                    ));
                    break;
                }
            }
        }
        if first {
            return Err(CaptureError::BadHeader {
                path: path.into(),
                msg: "pcapng: file does not start with a section header block".into(),
            });
        }
        let parsed = if big {
            parse_block_be(rest)
        } else {
            parse_block_le(rest)
        };
        let block = match parsed {
            Ok((r, b)) => {
                rest = r;
                b
            }
            Err(nom::Err::Incomplete(_)) => {
                sum.damage = Some(format!(
                    "cut short in the middle of a block at offset {offset}; {} packets read before the cut",
                    sum.packets
                ));
                break;
            }
            Err(e) => {
                // In words, not the parser's internal error kinds.
                let detail = match e {
                    nom::Err::Error(PcapError::NomError(_, nom::error::ErrorKind::Verify))
                    | nom::Err::Failure(PcapError::NomError(_, nom::error::ErrorKind::Verify)) => {
                        "its length fields disagree or are impossible"
                    }
                    _ => "its contents do not parse as the block type says",
                };
                sum.damage = Some(format!(
                    "corrupt block at offset {offset}: {detail}; {} packets read before it",
                    sum.packets
                ));
                break;
            }
        };
        match block {
            // TLS key logs embedded by `editcap --inject-secrets` (keepwatch's tls module).
            Block::DecryptionSecrets(dsb) => secrets(dsb.secrets_type.0, dsb.data),
            Block::InterfaceDescription(idb) => {
                let units = idb.ts_resolution().unwrap_or(1_000_000);
                if units != 1_000_000 {
                    sum.nanosecond = true;
                }
                let lt = idb.linktype.0 as u32;
                if !sum.linktypes.contains(&lt) {
                    sum.linktypes.push(lt);
                }
                ifaces.push(Iface {
                    linktype: lt,
                    units,
                    offset: idb.if_tsoffset,
                    snaplen: idb.snaplen,
                });
            }
            Block::EnhancedPacket(epb) => {
                let Some(ifc) = ifaces.get(epb.if_id as usize) else {
                    unknown_iface += 1;
                    continue;
                };
                let raw = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                let ts = Timestamp::from_secs_frac(
                    (raw / ifc.units) as i64 + ifc.offset,
                    raw % ifc.units,
                    ifc.units,
                );
                last_ts = ts;
                let cap = (epb.caplen as usize).min(epb.data.len());
                let pkt = &epb.data[..cap];
                sum.packets += 1;
                sum.bytes += pkt.len() as u64;
                f(RawPacket {
                    ts,
                    linktype: ifc.linktype,
                    data: pkt,
                    orig_len: epb.origlen.max(epb.caplen),
                });
            }
            Block::SimplePacket(spb) => {
                // Simple packet blocks carry no timestamp and belong to interface 0.
                let Some(ifc) = ifaces.first() else {
                    unknown_iface += 1;
                    continue;
                };
                let cap = if ifc.snaplen == 0 {
                    spb.origlen as usize
                } else {
                    (spb.origlen as usize).min(ifc.snaplen as usize)
                }
                .min(spb.data.len());
                simple += 1;
                sum.packets += 1;
                sum.bytes += cap as u64;
                f(RawPacket {
                    ts: last_ts,
                    linktype: ifc.linktype,
                    data: &spb.data[..cap],
                    orig_len: spb.origlen,
                });
            }
            Block::InterfaceStatistics(isb) => {
                if let Some(Ok(d)) = isb.isb_ifdrop() {
                    *drops.get_or_insert(0) += d;
                }
            }
            _ => {}
        }
    }
    if simple > 0 {
        sum.notes.push(format!(
            "{simple} simple packet blocks carry no timestamp: each was given the time of the packet before it"
        ));
    }
    if unknown_iface > 0 {
        let note = if sum.linktypes.is_empty() {
            format!("no interface description block: {unknown_iface} packet blocks could not be decoded (their link type is unknown) and were skipped")
        } else {
            format!("{unknown_iface} packet blocks name an interface that was never described and were skipped")
        };
        sum.damage = Some(match sum.damage.take() {
            Some(d) => format!("{d}; {note}"),
            None => note,
        });
    }
    sum.interface_drops = drops;
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sliding window (populate ahead, release behind) never changes what
    /// is read: a one-page window, sliding on almost every record, yields the
    /// same packets as reading the plain map.
    #[test]
    fn windowed_reading_is_transparent() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/captures");
        for name in [
            "netns-impaired-loss-dup-reorder.pcap",
            "curl-http11-reuse.pcapng",
        ] {
            let cap = CaptureFile::open(&dir.join(name)).unwrap();
            let collect = |window: usize| {
                let mut v: Vec<(i64, u32, Vec<u8>)> = Vec::new();
                let s = cap
                    .for_each_windowed(window, |p| v.push((p.ts.0, p.orig_len, p.data.to_vec())))
                    .unwrap();
                (s.packets, s.bytes, s.damage, v)
            };
            let plain = collect(usize::MAX / 4);
            assert!(plain.0 > 0, "{name}");
            assert_eq!(collect(1), plain, "{name}");
            assert_eq!(collect(3 * page_size()), plain, "{name}");
        }
    }
}
