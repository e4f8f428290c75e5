//! Capture files and streams: classic pcap (both byte orders, micro- and
//! nanosecond timestamps, the "modified" Kuznetzov variant) and pcapng
//! (several sections, interfaces and link types in one file), plain or
//! compressed with gzip, zstd or xz (recognised by their magic bytes, never by
//! the file name), from a file or from standard input (`-`).
//!
//! One reader serves every source: records are parsed out of a window on
//! the bytes (`Input`). A regular, uncompressed file is read through a
//! read-only memory map, made readable [`MAP_WINDOW`] ahead in one call and
//! released behind: the page cache is read in place, with no copy. A pipe,
//! standard input or a decompressor fills a reused 256 KiB buffer with
//! `read` (and `KEEPWATCH_READ=pread` reads regular files with `pread` into
//! it too). Every packet handed on is a slice of the map or the buffer: no
//! allocation per packet, and memory stays flat on any capture length. With
//! `report --threads` the file is read into buffers (`CaptureFile::set_mapped`),
//! the workers hold on to the block their segments' payloads lie in
//! ([`ReadBlock`]) and the reader moves on to a spare one.
//!
//! A file that another process truncates while it is read (a `tcpdump
//! -C/-W` ring rewriting its oldest file, `> file`, log rotation) used to
//! kill the process with SIGBUS on the next mapped page (issue 15). Maps are
//! now guarded (`super::guard`): a vanished page reads as zeros, the reader
//! stops before handing on the record that touched it, and
//! [`CaptureFile::for_each`] reports the cut ("the file shrank from X to Y
//! bytes while being read") as damage, with every packet before it, as the
//! `pread` reader does at a short read. A file replaced (renamed over,
//! deleted) while it is read is read to its end, as the open descriptor (and
//! the map) still refer to it. docs/performance.md has the figures, for the
//! first mapped reader (slower than `pread`) and for this one (faster).
//!
//! A file cut in the middle of a record, a corrupt block, a compressed stream
//! that ends early or fails to decompress: every packet before the damage is
//! read and the damage is described in [`FileSummary::damage`]; it is not an
//! error.

use crate::decode::RawPacket;
use crate::time::Timestamp;
use pcap_parser::pcapng::{
    Block, EnhancedPacketBlock, InterfaceDescriptionBlock, InterfaceStatisticsBlock,
    SimplePacketBlock,
};
use pcap_parser::{parse_block_be, parse_block_le, parse_sectionheaderblock, PcapError};
use serde::Serialize;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;

/// Largest captured length a classic pcap record may claim before we call it
/// corrupt (libpcap's own MAXIMUM_SNAPLEN is 262144; allow headroom for
/// odd writers).
const MAX_RECORD: u32 = 16 * 1024 * 1024;

/// Largest pcapng block we accept (libpcap's limit is 16 MiB).
const MAX_BLOCK: usize = 32 * 1024 * 1024;

/// Size of the read buffer. One read fills what is free of it; a record
/// larger than it grows it. 256 KiB, not 1 MiB: the copy from the kernel
/// and the parse that follows it stay in the core's cache (one thread,
/// interleaved: dense.pcap 83.2 -> 79.5 ms, capture-1x 237.5 -> 229.0,
/// 128 KiB no better; docs/performance.md, "Session 8").
const BUFFER: usize = 256 << 10;

/// What `-` stands for, in messages and in the report's file list (as grep
/// says it).
pub const STDIN_NAME: &str = "(standard input)";

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
    #[error("{path}: cannot read: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: a stream can be read only once")]
    AlreadyRead { path: String },
    #[error("live capture: {0}")]
    Live(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Pcap,
    Pcapng,
}

/// Compression around a capture, recognised by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    Zstd,
    Xz,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
        }
    }
}

/// What a file held, for the report and its warnings.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    pub path: String,
    pub format: FileFormat,
    /// The capture was compressed (absent from JSON when it was not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<Compression>,
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

/// Whether standard input carries data to read (a pipe, a socket or a
/// redirected file) rather than a terminal or nothing (`/dev/null`): then
/// `report` and `tui` without a file read it, as tcpdump `-r -` would.
pub fn stdin_is_data() -> bool {
    // SAFETY: fstat writes only into the struct it is given.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(libc::STDIN_FILENO, &mut st) } != 0 {
        return false;
    }
    matches!(
        st.st_mode & libc::S_IFMT,
        libc::S_IFIFO | libc::S_IFSOCK | libc::S_IFREG
    )
}

type Stream<'a> = Box<dyn Read + Send + 'a>;

enum Origin {
    /// A regular file: read with `pread` from offset 0 on every pass.
    File { file: Arc<File>, len: u64 },
    /// Standard input, a FIFO or a device: read once. The bytes looked at to
    /// recognise it are chained back in front.
    Stream(Mutex<Option<Stream<'static>>>),
}

pub struct CaptureFile {
    path: PathBuf,
    name: String,
    format: FileFormat,
    compression: Option<Compression>,
    origin: Origin,
    /// Read a regular, uncompressed file through a map (the default).
    mapped: std::sync::atomic::AtomicBool,
}

impl CaptureFile {
    /// Opens a capture file, or standard input for `-`. Regular files are
    /// read with `pread`; anything else (a FIFO, `/dev/stdin`, a device) as a
    /// stream, which can be read once.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        if path.as_os_str() == "-" {
            return Self::from_stream(STDIN_NAME, Box::new(io::stdin())).map(|c| c.with_path(path));
        }
        let disp = path.display().to_string();
        let open_err = |e| CaptureError::Open {
            path: disp.clone(),
            error: e,
        };
        let meta = std::fs::metadata(path).map_err(open_err)?;
        if meta.is_dir() {
            return Err(CaptureError::IsDirectory { path: disp });
        }
        let f = File::open(path).map_err(open_err)?;
        let meta = f.metadata().map_err(open_err)?;
        if !meta.is_file() {
            // A FIFO (process substitution, `mkfifo`), a character device:
            // read it as a stream, as tcpdump and tshark do.
            return Self::from_stream(&disp, Box::new(f)).map(|c| c.with_path(path));
        }
        let len = meta.len();
        if len == 0 {
            return Err(CaptureError::Empty { path: disp });
        }
        let pos = AtomicU64::new(0);
        let (compression, head) = sniff_stream(
            &disp,
            Box::new(PreadReader {
                file: &f,
                pos: &pos,
            }),
        )?;
        let format = sniff_format(&disp, compression, &head)?;
        Ok(CaptureFile {
            path: path.to_path_buf(),
            name: disp,
            format,
            compression,
            origin: Origin::File {
                file: Arc::new(f),
                len,
            },
            mapped: true.into(),
        })
    }

    /// A capture read from any byte stream (standard input, a socket, bytes
    /// in memory), compressed or not. `name` stands for it in messages.
    pub fn from_stream(name: &str, stream: Stream<'static>) -> Result<Self, CaptureError> {
        let (compression, head, rest) = sniff_owned(name, stream)?;
        let format = sniff_format(name, compression, &head)?;
        let stream: Stream<'static> = Box::new(io::Cursor::new(head).chain(rest));
        Ok(CaptureFile {
            path: PathBuf::from(name),
            name: name.to_string(),
            format,
            compression,
            origin: Origin::Stream(Mutex::new(Some(stream))),
            mapped: true.into(),
        })
    }

    fn with_path(mut self, path: &Path) -> Self {
        self.path = path.to_path_buf();
        self
    }

    /// Whether [`CaptureFile::for_each`] reads a regular, uncompressed file
    /// through a guarded map (the default, fastest on one thread) or with
    /// `pread` into reused blocks (what `report` uses with several threads:
    /// docs/performance.md, "Session 11").
    pub fn set_mapped(&self, on: bool) {
        self.mapped.store(on, Ordering::Relaxed);
    }

    pub fn format(&self) -> FileFormat {
        self.format
    }

    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// The path as given (`-` for standard input).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The name messages and the report use (`(standard input)` for `-`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Calls `f` for every packet in file order. A regular file can be read
    /// again; a stream only once ([`CaptureError::AlreadyRead`] after).
    pub fn for_each<F: FnMut(RawPacket<'_>)>(&self, f: F) -> Result<FileSummary, CaptureError> {
        self.read_all(None, f, &mut |_, _| {})
    }

    /// [`CaptureFile::for_each`] through the buffered reader (`pread` for a
    /// regular file, never a map) with a read buffer of `buffer` bytes (grown
    /// when a record is larger): what is read never depends on it. For tests
    /// and the fuzz target, which use small buffers to refill often.
    pub fn for_each_buffered<F: FnMut(RawPacket<'_>)>(
        &self,
        buffer: usize,
        f: F,
    ) -> Result<FileSummary, CaptureError> {
        self.read_all(Some(buffer), f, &mut |_, _| {})
    }

    /// Frames and captured bytes in the first `limit` bytes of a regular,
    /// uncompressed file, read apart from [`CaptureFile::for_each`] (which
    /// still reads the whole file); `None` for a stream (reading it ahead
    /// would consume it) or a compressed file. A frame cut by the limit is
    /// not counted. `report` chooses its threads from this before the first
    /// packet (docs/performance.md, "Session 8").
    pub fn head_frames(&self, limit: u64) -> Option<(u64, u64)> {
        let Origin::File { file, .. } = &self.origin else {
            return None;
        };
        if self.compression.is_some() {
            return None;
        }
        let pos = AtomicU64::new(0);
        let raw = PreadReader { file, pos: &pos }.take(limit);
        let (mut frames, mut bytes) = (0u64, 0u64);
        let buffer = BUFFER.min(usize::try_from(limit).unwrap_or(BUFFER)).max(1);
        // A cut record or a damaged head ends the count; nothing is reported.
        let _ = read_capture(
            &mut Input::new(raw, buffer, None),
            self.format,
            &self.name,
            |p| {
                frames += 1;
                bytes += p.data.len() as u64;
            },
            &mut |_, _| {},
        );
        Some((frames, bytes))
    }

    /// Frames and captured bytes sampled over about `budget` bytes of a
    /// regular, uncompressed file, for `report`'s choice of threads. A
    /// classic pcap file of at least four times `budget` is sampled in
    /// [`SPREAD_CHUNKS`] chunks spread over the whole file, each taken up
    /// at the first of a chain of plausible record headers (a head alone
    /// misled: the first 4 MiB of one capture averaged 792 bytes a frame,
    /// the whole file 1,002). Anything else, or a pcap whose chunks do not
    /// resynchronise, is sampled from its head ([`CaptureFile::head_frames`]).
    /// `None` for a stream or a compressed file.
    pub fn sample_frames(&self, budget: u64) -> Option<(u64, u64)> {
        let Origin::File { file, len } = &self.origin else {
            return None;
        };
        if self.compression.is_some() {
            return None;
        }
        if self.format == FileFormat::Pcap && *len >= 4 * budget {
            if let Some(s) = spread_sample(file, *len, budget) {
                return Some(s);
            }
        }
        self.head_frames(budget)
    }

    /// Like [`CaptureFile::for_each`], and `secrets(type, data)` for each
    /// pcapng Decryption Secrets Block, in file order (before the packets it
    /// precedes). Used by keepwatch's tls module for embedded key logs.
    pub fn for_each_with_secrets<F: FnMut(RawPacket<'_>), S: FnMut(u32, &[u8])>(
        &self,
        f: F,
        mut secrets: S,
    ) -> Result<FileSummary, CaptureError> {
        self.read_all(None, f, &mut secrets)
    }

    /// Reads every record: a regular, uncompressed file through a guarded
    /// map, unless [`CaptureFile::set_mapped`] turned it off, a `buffer`
    /// size is given (tests and the fuzz target
    /// exercise the `pread` reader's refills with small buffers) or
    /// `KEEPWATCH_READ=pread` is set in the environment.
    fn read_all<F: FnMut(RawPacket<'_>)>(
        &self,
        buffer: Option<usize>,
        mut f: F,
        secrets: &mut dyn FnMut(u32, &[u8]),
    ) -> Result<FileSummary, CaptureError> {
        let name = self.name.as_str();
        let map = buffer.is_none()
            && self.mapped.load(Ordering::Relaxed)
            && std::env::var_os("KEEPWATCH_READ").is_none_or(|v| v != "pread");
        let buffer = buffer.unwrap_or(BUFFER);
        match &self.origin {
            Origin::File { file, len } => {
                let pos = AtomicU64::new(0);
                if map && self.compression.is_none() {
                    if let Some(mut inp) = Input::mapped(io::empty(), file, *len) {
                        let mut sum = read_capture(&mut inp, self.format, name, &mut f, secrets)?;
                        if inp.map_cut() {
                            shrank(&mut sum, file, *len);
                        }
                        return Ok(sum);
                    }
                }
                let raw = PreadReader { file, pos: &pos };
                let mut sum = match self.compression {
                    None => read_capture(
                        &mut Input::new(raw, buffer, None),
                        self.format,
                        name,
                        f,
                        secrets,
                    )?,
                    Some(c) => read_capture(
                        &mut Input::new(decoder(c, raw), buffer, Some(c)),
                        self.format,
                        name,
                        f,
                        secrets,
                    )?,
                };
                // Reading stopped before the size the file had when it was
                // opened, and the file is smaller now: another process
                // truncated it. Say so rather than "cut short".
                if pos.load(Ordering::Relaxed) < *len {
                    shrank(&mut sum, file, *len);
                }
                Ok(sum)
            }
            Origin::Stream(m) => {
                let stream = m
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take()
                    .ok_or_else(|| CaptureError::AlreadyRead { path: name.into() })?;
                // Already decompressed (see from_stream).
                read_capture(
                    &mut Input::new(stream, buffer, self.compression),
                    self.format,
                    name,
                    f,
                    secrets,
                )
            }
        }
    }
}

/// Reading stopped before the size the file had when it was opened, and the
/// file is smaller now: another process truncated it. Say so rather than
/// "cut short".
fn shrank(sum: &mut FileSummary, file: &File, len: u64) {
    if let Ok(now) = file.metadata().map(|m| m.len()) {
        if now < len {
            sum.damage = Some(format!(
                "the file shrank from {len} to {now} bytes while being read (another process truncated or rewrote it); {} packets read before the cut are reported",
                sum.packets
            ));
        }
    }
}

/// `Read` over a regular file with `pread`: no shared file position, and a
/// file that shrinks just ends (no signal, unlike a mapping). `pos` is left
/// where reading stopped, to tell a shrink from the end.
struct PreadReader<'a> {
    file: &'a File,
    pos: &'a AtomicU64,
}

impl Read for PreadReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let at = self.pos.load(Ordering::Relaxed);
        let n = self.file.read_at(buf, at)?;
        self.pos.store(at + n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn decoder<'a, R: Read + Send + 'a>(c: Compression, r: R) -> Box<dyn Read + Send + 'a> {
    match c {
        // Several members one after the other are one stream, as for zcat.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Zstd => match zstd::stream::read::Decoder::new(r) {
            Ok(d) => Box::new(d),
            Err(e) => Box::new(FailingReader(Some(e))),
        },
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(r)),
    }
}

/// A reader that fails once with the error given (a decoder that could not
/// be set up), then reads as empty.
struct FailingReader(Option<io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}

/// Reads up to `n` bytes (fewer only at the end of the stream).
fn read_up_to<R: Read + ?Sized>(r: &mut R, n: usize) -> io::Result<Vec<u8>> {
    let mut v = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut v)?;
    Ok(v)
}

fn compression_of(head: &[u8]) -> Option<Compression> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some(Compression::Xz)
    } else {
        None
    }
}

/// Looks at the first bytes of a stream it consumes (used on files, which are
/// read again from the start): the compression, and the first four bytes of
/// the (decompressed) content.
fn sniff_stream(
    name: &str,
    stream: Stream<'_>,
) -> Result<(Option<Compression>, Vec<u8>), CaptureError> {
    sniff_owned(name, stream).map(|(c, head, _)| (c, head))
}

/// As [`sniff_stream`], and hands back the (decompressed) rest of the stream
/// after the bytes returned.
fn sniff_owned<'a>(
    name: &str,
    mut stream: Stream<'a>,
) -> Result<(Option<Compression>, Vec<u8>, Stream<'a>), CaptureError> {
    let read_err = |e| CaptureError::Read {
        path: name.into(),
        error: e,
    };
    let raw = read_up_to(&mut stream, 6).map_err(read_err)?;
    if raw.is_empty() {
        return Err(CaptureError::Empty { path: name.into() });
    }
    let compression = compression_of(&raw);
    let raw_stream: Stream<'a> = Box::new(io::Cursor::new(raw).chain(stream));
    let Some(c) = compression else {
        let mut s = raw_stream;
        let head = read_up_to(&mut s, 4).map_err(read_err)?;
        return Ok((None, head, s));
    };
    let mut d = decoder(c, raw_stream);
    let head = read_up_to(&mut d, 4).map_err(|e| CaptureError::BadHeader {
        path: name.into(),
        msg: format!(
            "{}-compressed, but it cannot be decompressed: {e}",
            c.name()
        ),
    })?;
    if head.is_empty() {
        return Err(CaptureError::BadHeader {
            path: name.into(),
            msg: format!(
                "{}-compressed, and empty once decompressed: not a capture",
                c.name()
            ),
        });
    }
    Ok((Some(c), head, d))
}

fn sniff_format(
    name: &str,
    compression: Option<Compression>,
    head: &[u8],
) -> Result<FileFormat, CaptureError> {
    if let Some(f) = sniff(head) {
        return Ok(f);
    }
    let hex = head
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    Err(match compression {
        Some(c) => CaptureError::BadHeader {
            path: name.into(),
            msg: format!(
                "{}-compressed, but the content is not a pcap or pcapng capture (first bytes: {hex})",
                c.name()
            ),
        },
        None if head.starts_with(b"BZh") => CaptureError::BadHeader {
            path: name.into(),
            msg: "bzip2-compressed, which keepwatch does not read: decompress it first (bunzip2), or recompress with gzip, zstd or xz".into(),
        },
        None => CaptureError::NotCapture {
            path: name.into(),
            magic: hex,
        },
    })
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

/// The block of bytes a file is being read from, on this thread: frames
/// handed to the callback of `for_each*` are slices of it, so a consumer
/// that keeps packet bytes past the callback (`report --threads`: the
/// segments shipped to the workers) can hold the block instead of copying
/// them ([`current_block`]). A block is never written while shared: the
/// reader moves on to another.
pub type ReadBlock = std::sync::Arc<BlockBytes>;

/// What a [`ReadBlock`] holds: bytes read into memory, or the whole capture
/// file mapped (a regular, uncompressed file; see [`MAP_WINDOW`]).
pub enum BlockBytes {
    Read(Vec<u8>),
    /// The guard is dropped before the map is unmapped (field order).
    Mapped {
        guard: super::guard::Guarded,
        map: memmap2::Mmap,
    },
}

impl std::ops::Deref for BlockBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            BlockBytes::Read(v) => v,
            BlockBytes::Mapped { map, .. } => map,
        }
    }
}

impl BlockBytes {
    fn vec(&mut self) -> &mut Vec<u8> {
        match self {
            BlockBytes::Read(v) => v,
            BlockBytes::Mapped { .. } => unreachable!("a mapped block is never written"),
        }
    }
}

/// A mapped file is made readable this far ahead of the record being read,
/// in one call (`MADV_POPULATE_READ`: the page table filled at once, not a
/// fault per page), and released ([`MAP_BEHIND`]) behind it, so the pages
/// it holds stay few on any capture length.
const MAP_WINDOW: usize = 2 << 20;
/// Pages this far behind the record being read are released from the
/// mapping (`MADV_DONTNEED`: the file's pages stay in the page cache, and a
/// read there later faults them in again). Only one analysis thread reads
/// through the map, and nothing it keeps points behind the record it reads,
/// so a window is enough: the map holds about three windows at most.
const MAP_BEHIND: usize = MAP_WINDOW;

thread_local! {
    /// Tests: map files as on a kernel without `MADV_POPULATE_READ`.
    static NO_POPULATE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static CURRENT: std::cell::RefCell<Option<ReadBlock>> = const { std::cell::RefCell::new(None) };
}

/// The block the frames now being read on this thread are slices of.
pub fn current_block() -> Option<ReadBlock> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Retired blocks kept for reuse once the workers let go of them.
const SPARE_BLOCKS: usize = 64;

/// A refillable window on a byte stream. The parsers ask for the bytes of the
/// next record ([`Input::fill`]), borrow them ([`Input::data`]) and move on
/// ([`Input::consume`]); a record never spans a refill.
struct Input<R> {
    src: R,
    /// Also [`CURRENT`], for consumers to share (see [`ReadBlock`]).
    buf: ReadBlock,
    /// Blocks given up while shared, to reuse when they are free again.
    spare: Vec<ReadBlock>,
    start: usize,
    end: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    eof: bool,
    /// The read error that ended the stream, if one did.
    err: Option<io::Error>,
    compression: Option<Compression>,
    /// Reading a mapped file (`buf` is [`BlockBytes::Mapped`]).
    map: Option<MapState>,
}

/// Where the reading of a mapped file stands.
struct MapState {
    file: Arc<File>,
    /// The bytes readable: the file's length when mapped, less if it shrank.
    len: usize,
    /// Bytes made readable so far (`Input::end`).
    ready: usize,
    /// Bytes released behind the reading.
    dropped: usize,
    /// The file shrank while it was read.
    cut: bool,
    /// `MADV_POPULATE_READ` is not there (kernels before 5.14): pages fault
    /// in as they are read, and the file's length is checked once a window.
    no_populate: bool,
}

impl<R: Read> Input<R> {
    fn new(src: R, size: usize, compression: Option<Compression>) -> Self {
        let buf = ReadBlock::new(BlockBytes::Read(vec![0; size.max(64)]));
        Self::over(src, buf, compression, None)
    }

    fn over(
        src: R,
        buf: ReadBlock,
        compression: Option<Compression>,
        map: Option<MapState>,
    ) -> Self {
        Input {
            src,
            buf,
            spare: Vec::new(),
            start: 0,
            end: 0,
            base: 0,
            eof: false,
            err: None,
            compression,
            map,
        }
    }

    /// Reads `file` (regular, uncompressed, `len` bytes) through a guarded
    /// mapping: no copy from the kernel. None if it cannot be mapped or
    /// guarded; then read it with `pread`.
    fn mapped(src: R, file: &Arc<File>, len: u64) -> Option<Self> {
        let len = usize::try_from(len).ok()?;
        // SAFETY: the map is read only, and a file that shrinks under it is
        // caught by the guard (src/capture/guard.rs): the vanished pages
        // read as zeros and the reader stops before handing them on.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(&**file) }.ok()?;
        let guard = super::guard::Guarded::new(map.as_ptr(), map.len())?;
        let _ = map.advise(memmap2::Advice::Sequential);
        let buf = ReadBlock::new(BlockBytes::Mapped { guard, map });
        CURRENT.with(|c| *c.borrow_mut() = Some(buf.clone()));
        let st = MapState {
            file: file.clone(),
            len,
            ready: 0,
            dropped: 0,
            cut: false,
            no_populate: NO_POPULATE.with(|n| n.get()),
        };
        Some(Self::over(src, buf, None, Some(st)))
    }

    /// A page of a mapped file vanished under the reader (the guard's flag):
    /// nothing more is read, as at the end of a shrunk file read with `pread`.
    #[inline]
    fn vanished(&self) -> bool {
        match &*self.buf {
            BlockBytes::Mapped { guard, .. } => guard.hit(),
            BlockBytes::Read(_) => false,
        }
    }

    /// The file shrank while it was read through a map.
    fn map_cut(&self) -> bool {
        self.map.as_ref().is_some_and(|m| m.cut)
    }

    /// Makes `n` bytes available and returns how many are: fewer than `n`
    /// only at the end of the stream or after a read error.
    #[inline]
    fn fill(&mut self, n: usize) -> usize {
        let avail = self.end - self.start;
        if (avail >= n && (self.map.is_none() || !self.vanished())) || self.eof {
            return avail;
        }
        self.refill(n)
    }

    /// [`Input::refill`] of a mapped file: more of it made readable.
    #[cold]
    fn map_more(&mut self, n: usize) -> usize {
        if self.vanished() {
            // Nothing past here is the file's any more: reading ends, and
            // says why (then `CaptureFile::read_all` tells how far it shrank).
            let st = self.map.as_mut().unwrap_or_else(|| unreachable!());
            st.cut = true;
            self.eof = true;
            self.end = self.start;
            self.err.get_or_insert_with(|| {
                io::Error::other(
                    "the mapped file lost pages while being read (truncated by another process)",
                )
            });
            return 0;
        }
        self.release_behind();
        loop {
            self.populate(n);
            let st = self.map.as_ref().unwrap_or_else(|| unreachable!());
            if self.end - self.start >= n || st.cut {
                break;
            }
            // At the end of the map: a file still being written may have
            // grown since it was mapped (`pread` would read on).
            let now = st.file.metadata().map(|m| m.len()).unwrap_or(0);
            if now <= st.len as u64 || !self.remap(now) {
                break;
            }
        }
        if self.end - self.start < n {
            self.eof = true;
        }
        self.end - self.start
    }

    /// Makes the next `n` bytes readable (or up to the end of the map), at
    /// least [`MAP_WINDOW`] at a time; notes a shrink it runs into.
    fn populate(&mut self, n: usize) {
        let BlockBytes::Mapped { map, .. } = &*self.buf else {
            unreachable!("populate on a mapped file")
        };
        let st = self.map.as_mut().unwrap_or_else(|| unreachable!());
        while self.end - self.start < n && st.ready < st.len {
            let want = (self.start + n).max(st.ready + MAP_WINDOW).min(st.len) - st.ready;
            let shrank = if st.no_populate {
                // The file's length now, instead: a page wholly past a new
                // end would be caught by the guard, but the zeros after the
                // end in its last page would not.
                let now = st.file.metadata().map(|m| m.len()).unwrap_or(0);
                usize::try_from(now).is_ok_and(|now| now < st.ready + want)
            } else {
                match map.advise_range(memmap2::Advice::PopulateRead, st.ready, want) {
                    Ok(()) => false,
                    // A page that would raise SIGBUS: the file shrank.
                    Err(e) if e.raw_os_error() == Some(libc::EFAULT) => true,
                    // Not supported here (EINVAL before Linux 5.14).
                    Err(_) => {
                        st.no_populate = true;
                        continue;
                    }
                }
            };
            if shrank {
                // Read up to its new end, as `pread` would.
                st.cut = true;
                let now = st.file.metadata().map(|m| m.len()).unwrap_or(0);
                let now = usize::try_from(now).unwrap_or(usize::MAX);
                if now >= st.len || now <= st.ready {
                    st.len = st.ready;
                    break;
                }
                st.len = now;
                continue;
            }
            st.ready += want;
            self.end = st.ready;
        }
    }

    /// Maps the file again, `len` bytes long now (it grew while read). False
    /// if it cannot be (then reading ends at the old length).
    fn remap(&mut self, len: u64) -> bool {
        let st = self.map.as_mut().unwrap_or_else(|| unreachable!());
        let Ok(len) = usize::try_from(len) else {
            return false;
        };
        // SAFETY: as in `Input::mapped`.
        let Ok(map) = (unsafe { memmap2::MmapOptions::new().len(len).map(&*st.file) }) else {
            return false;
        };
        let Some(guard) = super::guard::Guarded::new(map.as_ptr(), map.len()) else {
            return false;
        };
        let _ = map.advise(memmap2::Advice::Sequential);
        st.len = len;
        // Pages of the new map before `start` were never made present.
        st.dropped = st.dropped.max(self.start & !(MAP_WINDOW - 1));
        self.buf = ReadBlock::new(BlockBytes::Mapped { guard, map });
        let b = self.buf.clone();
        CURRENT.with(|c| *c.borrow_mut() = Some(b));
        true
    }

    /// Releases the pages more than [`MAP_BEHIND`] behind the reading.
    fn release_behind(&mut self) {
        let BlockBytes::Mapped { map, .. } = &*self.buf else {
            return;
        };
        let st = self.map.as_mut().unwrap_or_else(|| unreachable!());
        let behind = self.start.saturating_sub(MAP_BEHIND) & !(MAP_WINDOW - 1);
        if behind > st.dropped {
            // SAFETY: the pages released are re-read from the file if read
            // again (a shared, read-only file map); nothing is lost.
            let _ = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    st.dropped,
                    behind - st.dropped,
                )
            };
            st.dropped = behind;
        }
    }

    /// The buffer, to write: if a consumer still holds it, a free spare
    /// (or a new block) with the unread bytes copied over takes its place.
    fn own_buf(&mut self) {
        CURRENT.with(|c| c.borrow_mut().take());
        if Arc::get_mut(&mut self.buf).is_none() {
            let free = self.spare.iter().rposition(|b| Arc::strong_count(b) == 1);
            let mut next = match free {
                Some(i) => self.spare.swap_remove(i),
                None => ReadBlock::new(BlockBytes::Read(vec![0; self.buf.len()])),
            };
            let nb = Arc::get_mut(&mut next)
                .unwrap_or_else(|| unreachable!())
                .vec();
            if nb.len() < self.buf.len() {
                nb.resize(self.buf.len(), 0);
            }
            nb[..self.end - self.start].copy_from_slice(&self.buf[self.start..self.end]);
            self.base = self.base.wrapping_add(self.start as u64);
            self.end -= self.start;
            self.start = 0;
            let old = std::mem::replace(&mut self.buf, next);
            if self.spare.len() < SPARE_BLOCKS {
                self.spare.push(old);
            }
        }
    }

    #[cold]
    fn refill(&mut self, n: usize) -> usize {
        if self.map.is_some() {
            return self.map_more(n);
        }
        self.own_buf();
        let (start, end) = (self.start, self.end);
        if start + n > self.buf.len() {
            let buf = Arc::get_mut(&mut self.buf)
                .unwrap_or_else(|| unreachable!())
                .vec();
            buf.copy_within(start..end, 0);
            if n > buf.len() {
                buf.resize(n, 0);
            }
            self.base += start as u64;
            self.end -= start;
            self.start = 0;
        }
        let r = self.read_more(n);
        let b = self.buf.clone();
        CURRENT.with(|c| *c.borrow_mut() = Some(b));
        r
    }

    fn read_more(&mut self, n: usize) -> usize {
        while self.end - self.start < n {
            let buf = Arc::get_mut(&mut self.buf)
                .unwrap_or_else(|| unreachable!())
                .vec();
            match self.src.read(&mut buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.err = Some(e);
                    self.eof = true;
                    break;
                }
            }
        }
        self.end - self.start
    }

    #[inline]
    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        self.start += n;
    }

    /// Offset in the (decompressed) stream of the next byte.
    #[inline]
    fn offset(&self) -> u64 {
        self.base.wrapping_add(self.start as u64)
    }

    /// Why reading stopped at `offset`, when it was a read error rather than
    /// the end of the data; `packets` were read before it.
    fn stop_reason(&mut self, offset: u64, packets: u64) -> Option<String> {
        let e = self.err.take()?;
        Some(match self.compression {
            Some(c) if e.kind() == io::ErrorKind::UnexpectedEof => format!(
                "the {} stream is cut short (the compressed file is truncated): it ends {offset} bytes into the capture; {packets} packets read before the cut",
                c.name()
            ),
            Some(c) => format!(
                "the {} stream cannot be decompressed past {offset} bytes of capture: {e}; {packets} packets read before it",
                c.name()
            ),
            None => format!("read error at offset {offset}: {e}; {packets} packets read before it"),
        })
    }
}

fn summary(path: &str, format: FileFormat, compression: Option<Compression>) -> FileSummary {
    FileSummary {
        path: path.to_string(),
        format,
        compression,
        nanosecond: false,
        packets: 0,
        bytes: 0,
        linktypes: Vec::new(),
        damage: None,
        interface_drops: None,
        notes: Vec::new(),
    }
}

fn read_capture<R: Read, F: FnMut(RawPacket<'_>)>(
    inp: &mut Input<R>,
    format: FileFormat,
    name: &str,
    f: F,
    secrets: &mut dyn FnMut(u32, &[u8]),
) -> Result<FileSummary, CaptureError> {
    match format {
        FileFormat::Pcap => read_pcap(inp, name, f),
        FileFormat::Pcapng => read_pcapng(inp, name, f, secrets),
    }
}

#[inline]
fn u32_at(d: &[u8], at: usize, big: bool) -> u32 {
    let b = [d[at], d[at + 1], d[at + 2], d[at + 3]];
    if big {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

/// Chunks [`CaptureFile::sample_frames`] reads from a classic pcap file.
const SPREAD_CHUNKS: u64 = 8;
/// Record headers in a row that must be plausible to resynchronise a chunk.
const SPREAD_CHAIN: usize = 4;

/// Frames and captured bytes in [`SPREAD_CHUNKS`] chunks of `budget` bytes
/// in all, spread from the start of a classic pcap file to its end; None if
/// the header is not one or no chunk resynchronises.
fn spread_sample(file: &File, len: u64, budget: u64) -> Option<(u64, u64)> {
    let mut hdr = [0u8; 40];
    file.read_exact_at(&mut hdr, 0).ok()?;
    let (big, nanos, modified) = pcap_magic(u32_at(&hdr, 0, false))?;
    let units = if nanos { 1_000_000_000 } else { 1_000_000 };
    let rec = if modified { 24 } else { 16 };
    let snap = u32_at(&hdr, 16, big).clamp(262_144, MAX_RECORD);
    let first_sec = u32_at(&hdr, 24, big);
    // A record header here: a fraction in range, a length the file allows
    // (not zero: zeroed payload would pass), a time within a year of the
    // first record's.
    let plausible = |d: &[u8], at: usize| -> Option<usize> {
        let h = d.get(at..at + rec)?;
        let (sec, frac) = (u32_at(h, 0, big), u32_at(h, 4, big));
        let (caplen, origlen) = (u32_at(h, 8, big), u32_at(h, 12, big));
        let ok = frac < units
            && caplen > 0
            && caplen <= snap
            && origlen >= caplen
            && sec.abs_diff(first_sec) <= 366 * 86_400;
        ok.then_some(rec + caplen as usize)
    };
    let chunk = (budget / SPREAD_CHUNKS).max(64 << 10) as usize;
    let span = len.checked_sub(24 + chunk as u64)?;
    let mut buf = vec![0u8; chunk];
    let (mut frames, mut bytes) = (0u64, 0u64);
    for i in 0..SPREAD_CHUNKS {
        // Chunk i at the middle of the file's i-th eighth (the head, often
        // unlike the rest, no more than any other part).
        let at = 24 + span * (2 * i + 1) / (2 * SPREAD_CHUNKS);
        if file.read_exact_at(&mut buf, at).is_err() {
            continue;
        }
        // The first offset from which SPREAD_CHAIN headers in a row are
        // plausible (or at least two, up to the chunk's end).
        let start = (0..chunk.min(1 << 16)).find(|&p| {
            let mut q = p;
            for k in 0..SPREAD_CHAIN {
                if q + rec > chunk {
                    return k >= 2;
                }
                match plausible(&buf, q) {
                    Some(n) => q += n,
                    None => return false,
                }
            }
            true
        });
        let Some(mut q) = start else { continue };
        while let Some(n) = plausible(&buf, q) {
            if q + n > chunk {
                break;
            }
            frames += 1;
            bytes += (n - rec) as u64;
            q += n;
        }
    }
    (frames > 0).then_some((frames, bytes))
}

/// A classic pcap magic, read little-endian: (big-endian, nanosecond
/// fractions, the modified variant's 24-byte record headers).
fn pcap_magic(magic: u32) -> Option<(bool, bool, bool)> {
    Some(match magic {
        0xa1b2_c3d4 => (false, false, false),
        0xd4c3_b2a1 => (true, false, false),
        0xa1b2_3c4d => (false, true, false),
        0x4d3c_b2a1 => (true, true, false),
        // Alexey Kuznetzov's patched libpcap: microseconds, and 8 more bytes
        // in every record header (interface index, protocol, packet type),
        // as libpcap's sf-pcap.c reads it.
        0xa1b2_cd34 => (false, false, true),
        0x34cd_b2a1 => (true, false, true),
        _ => return None,
    })
}

/// What a classic pcap file header says that every record needs.
struct PcapHeader {
    /// The file is big-endian.
    big: bool,
    /// Fractions of a second are nanoseconds (else microseconds).
    nanos: bool,
    linktype: u32,
    /// Units per second of the records' fractions.
    units: u32,
    /// Nanoseconds per unit (1 or 1,000): the timestamp by a multiply.
    ns_per_unit: u64,
    /// Bytes of a record header: 16, or 24 in the modified variant.
    rec_hdr: usize,
}

fn read_pcap<R: Read, F: FnMut(RawPacket<'_>)>(
    inp: &mut Input<R>,
    path: &str,
    mut f: F,
) -> Result<FileSummary, CaptureError> {
    let mut sum = summary(path, FileFormat::Pcap, inp.compression);
    let h = pcap_header(inp, path)?;
    sum.nanosecond = h.nanos;
    sum.linktypes.push(h.linktype);
    let mut bad_fraction = 0u64;
    while pcap_record(inp, &h, &mut sum, &mut bad_fraction, &mut f) {}
    if bad_fraction > 0 {
        let (max, unit) = if h.nanos {
            ("1,000,000,000", "ns")
        } else {
            ("1,000,000", "µs")
        };
        sum.notes.push(format!(
            "{bad_fraction} records have a fraction of a second of {max} {unit} or more, which the format does not allow: each was clamped to the end of its second"
        ));
    }
    Ok(sum)
}

/// Reads (and consumes) the 24-byte file header.
fn pcap_header<R: Read>(inp: &mut Input<R>, path: &str) -> Result<PcapHeader, CaptureError> {
    let got = inp.fill(24);
    if got < 24 {
        let why = inp
            .stop_reason(0, 0)
            .unwrap_or_else(|| format!("pcap file header is cut short ({got} bytes, 24 needed)"));
        return Err(CaptureError::BadHeader {
            path: path.into(),
            msg: why,
        });
    }
    let d = inp.data();
    let magic = u32::from_le_bytes([d[0], d[1], d[2], d[3]]);
    let Some((big, nanos, modified)) = pcap_magic(magic) else {
        unreachable!("sniffed as pcap")
    };
    let linktype = u32_at(d, 20, big);
    inp.consume(24);
    Ok(PcapHeader {
        big,
        nanos,
        linktype,
        units: if nanos { 1_000_000_000 } else { 1_000_000 },
        ns_per_unit: if nanos { 1 } else { 1_000 },
        rec_hdr: if modified { 24 } else { 16 },
    })
}

/// Reads one record and hands its packet to `f`. False when reading ends
/// there: at the end of the data, or at damage (recorded in `sum`).
#[inline]
fn pcap_record<R: Read, F: FnMut(RawPacket<'_>)>(
    inp: &mut Input<R>,
    h: &PcapHeader,
    sum: &mut FileSummary,
    bad_fraction: &mut u64,
    f: &mut F,
) -> bool {
    let rec_hdr = h.rec_hdr;
    let offset = inp.offset();
    let avail = inp.fill(rec_hdr);
    if avail < rec_hdr {
        pcap_end(inp, sum, offset, avail);
        return false;
    }
    // The four fields from one fixed-size copy: no bounds check per byte
    // (issue 14: ~35 instructions a packet).
    let Some(&r) = inp.data().first_chunk::<16>() else {
        unreachable!("fill: at least a record header is available")
    };
    let word = |i: usize| {
        let v = u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
        if h.big {
            v.swap_bytes()
        } else {
            v
        }
    };
    let (ts_sec, ts_frac, caplen, origlen) = (word(0), word(4), word(8), word(12));
    if caplen > MAX_RECORD {
        sum.damage = Some(format!(
            "corrupt record at offset {offset}: captured length {caplen} is impossible; {} packets read before it",
            sum.packets
        ));
        return false;
    }
    let need = rec_hdr + caplen as usize;
    let avail = inp.fill(need);
    if avail < need {
        sum.damage = Some(inp.stop_reason(offset, sum.packets).unwrap_or_else(|| format!(
            "cut short in the middle of a record at offset {offset} (record claims {caplen} bytes, {} present); {} packets read before the cut",
            avail.saturating_sub(rec_hdr),
            sum.packets
        )));
        return false;
    }
    let units = h.units;
    let frac = if ts_frac >= units {
        // Out of range: keep the packet, clamp the fraction, count it.
        *bad_fraction += 1;
        units - 1
    } else {
        ts_frac
    };
    // `from_secs_frac(ts_sec, frac, units)`, without the division.
    let ts = Timestamp::from_secs_nanos(ts_sec as i64, frac as u64 * h.ns_per_unit);
    sum.packets += 1;
    sum.bytes += caplen as u64;
    f(RawPacket {
        ts,
        linktype: h.linktype,
        data: &inp.data()[rec_hdr..need],
        orig_len: origlen.max(caplen),
    });
    inp.consume(need);
    true
}

/// Fewer bytes than a record header are left at `offset`: the end of the
/// data, a read error, or stray bytes (damage).
#[cold]
fn pcap_end<R: Read>(inp: &mut Input<R>, sum: &mut FileSummary, offset: u64, avail: usize) {
    if let Some(why) = inp.stop_reason(offset, sum.packets) {
        sum.damage = Some(why);
    } else if avail > 0 {
        sum.damage = Some(format!(
            "cut short: {avail} stray bytes at offset {offset}, less than a record header; {} packets read before the cut",
            sum.packets
        ));
    }
}

struct Iface {
    linktype: u32,
    units: u64,
    offset: i64,
    snaplen: u32,
}

/// Units per second of a pcapng `if_tsresol` byte (10^-n, or 2^-n with the
/// top bit set); None when it does not fit in 64 bits (libpcap refuses such a
/// file).
fn ts_units(resol: u8) -> Option<u64> {
    if resol & 0x80 == 0 {
        10u64.checked_pow(resol as u32)
    } else {
        1u64.checked_shl((resol & 0x7f) as u32)
            .filter(|_| resol & 0x7f < 64)
    }
}

fn describe_resol(resol: u8) -> String {
    if resol & 0x80 == 0 {
        format!("10^-{resol}")
    } else {
        format!("2^-{}", resol & 0x7f)
    }
}

/// Seconds in 100 years: an `if_tsoffset` beyond it is worth a word.
const CENTURY: i64 = 100 * 365 * 86_400;

fn read_pcapng<R: Read, F: FnMut(RawPacket<'_>)>(
    inp: &mut Input<R>,
    path: &str,
    mut f: F,
    secrets: &mut dyn FnMut(u32, &[u8]),
) -> Result<FileSummary, CaptureError> {
    let mut ng = Pcapng::new(path, inp.compression);
    loop {
        let offset = inp.offset();
        let Some((is_shb, n)) = ng.next_block(inp, offset)? else {
            break;
        };
        if is_shb {
            match ng.section_header(inp, offset, n)? {
                Some(used) => {
                    inp.consume(used);
                    continue;
                }
                None => break,
            }
        }
        ng.require_section()?;
        let d = &inp.data()[..n];
        let parsed = if ng.big {
            parse_block_be(d)
        } else {
            parse_block_le(d)
        };
        let (used, block) = match parsed {
            Ok((r, b)) => (d.len() - r.len(), b),
            Err(e) => {
                let detail = corrupt_detail(e);
                ng.bad_block(inp, offset, detail);
                break;
            }
        };
        match block {
            // TLS key logs embedded by `editcap --inject-secrets` (keepwatch's tls module).
            Block::DecryptionSecrets(dsb) => secrets(dsb.secrets_type.0, dsb.data),
            Block::InterfaceDescription(idb) => ng.interface(&idb),
            Block::EnhancedPacket(epb) => ng.enhanced_packet(&epb, &mut f),
            Block::SimplePacket(spb) => ng.simple_packet(&spb, &mut f),
            Block::InterfaceStatistics(isb) => ng.statistics(&isb),
            // Name resolution, custom and unknown blocks: nothing to read.
            _ => {}
        }
        inp.consume(used);
    }
    Ok(ng.finish())
}

/// Why a pcapng block does not parse, in words rather than the parser's
/// internal error kinds; None when it is cut short rather than corrupt.
fn corrupt_detail(e: nom::Err<PcapError<&[u8]>>) -> Option<&'static str> {
    match e {
        nom::Err::Incomplete(_) => None,
        nom::Err::Error(PcapError::NomError(_, nom::error::ErrorKind::Verify))
        | nom::Err::Failure(PcapError::NomError(_, nom::error::ErrorKind::Verify)) => {
            Some("its length fields disagree or are impossible")
        }
        _ => Some("its contents do not parse as the block type says"),
    }
}

/// A pcapng file being read: the current section's byte order and
/// interfaces, and what the summary's notes count. [`read_pcapng`] hands each
/// block to the method for its type.
struct Pcapng<'p> {
    path: &'p str,
    sum: FileSummary,
    /// The current section is big-endian.
    big: bool,
    /// The current section's interfaces, by id.
    ifaces: Vec<Iface>,
    /// Interface description blocks seen in the whole file (notes number them).
    iface_seen: usize,
    /// The time of the last enhanced packet, for simple packets (which carry none).
    last_ts: Timestamp,
    unknown_iface: u64,
    drops: Option<u64>,
    /// No section header read yet: damage is then an error, not a note.
    first: bool,
    simple: u64,
    out_of_range: u64,
    odd_minor: Option<(u16, u16)>,
}

impl<'p> Pcapng<'p> {
    fn new(path: &'p str, compression: Option<Compression>) -> Self {
        Pcapng {
            path,
            sum: summary(path, FileFormat::Pcapng, compression),
            big: false,
            ifaces: Vec::new(),
            iface_seen: 0,
            last_ts: Timestamp::default(),
            unknown_iface: 0,
            drops: None,
            first: true,
            simple: 0,
            out_of_range: 0,
            odd_minor: None,
        }
    }

    /// Damage that ends reading: before the first section header the file
    /// cannot be read at all (an error saying `header`); after it, the
    /// packets before it stand and `damage` says what happened.
    fn stop(&mut self, header: String, damage: String) -> Result<(), CaptureError> {
        if self.first {
            return Err(CaptureError::BadHeader {
                path: self.path.into(),
                msg: header,
            });
        }
        self.sum.damage = Some(damage);
        Ok(())
    }

    fn require_section(&self) -> Result<(), CaptureError> {
        if self.first {
            return Err(CaptureError::BadHeader {
                path: self.path.into(),
                msg: "pcapng: file does not start with a section header block".into(),
            });
        }
        Ok(())
    }

    /// Makes the block at `offset` whole in the buffer: whether it is a
    /// section header, and how many bytes of it to parse. None when reading
    /// ends there (the end of the data, a read error, an impossible length).
    #[inline]
    fn next_block<R: Read>(
        &mut self,
        inp: &mut Input<R>,
        offset: u64,
    ) -> Result<Option<(bool, usize)>, CaptureError> {
        let avail = inp.fill(12);
        if avail == 0 {
            if let Some(why) = inp.stop_reason(offset, self.sum.packets) {
                self.stop(why.clone(), why)?;
            }
            return Ok(None);
        }
        let d = inp.data();
        let is_shb = avail >= 4 && d[..4] == [0x0a, 0x0d, 0x0d, 0x0a];
        // The block's length, to have all of it in the buffer at once.
        let len = if avail >= 12 {
            let be = if is_shb {
                d[8..12] == [0x1a, 0x2b, 0x3c, 0x4d]
            } else {
                self.big
            };
            u32_at(d, 4, be) as usize
        } else {
            0
        };
        let avail = inp.fill(len.clamp(12, MAX_BLOCK + 1));
        if len > MAX_BLOCK && avail > MAX_BLOCK {
            self.sum.damage = Some(format!(
                "corrupt block at offset {offset}: it claims {len} bytes, more than any capture block; {} packets read before it",
                self.sum.packets
            ));
            return Ok(None);
        }
        Ok(Some((is_shb, avail.min(len.max(12)))))
    }

    /// A section header block (its first `n` bytes in the buffer): a new
    /// section, with its own byte order and interfaces. The bytes it used, or
    /// None when reading ends at it.
    fn section_header<R: Read>(
        &mut self,
        inp: &mut Input<R>,
        offset: u64,
        n: usize,
    ) -> Result<Option<usize>, CaptureError> {
        let d = &inp.data()[..n];
        let incomplete = match parse_sectionheaderblock(d) {
            Ok((r, shb)) => {
                let used = d.len() - r.len();
                // libpcap and Wireshark read version 1.0 (and 1.2, which
                // some writers put) and refuse any other major version:
                // its blocks may not mean what version 1's do.
                if shb.major_version != 1 {
                    let msg = format!(
                        "pcapng section header at offset {offset} says version {}.{}; only version 1 is defined, and libpcap and Wireshark refuse it too",
                        shb.major_version, shb.minor_version
                    );
                    let damage = format!("{msg}; {} packets read before it", self.sum.packets);
                    self.stop(msg, damage)?;
                    return Ok(None);
                }
                if !matches!(shb.minor_version, 0 | 2) {
                    self.odd_minor = Some((shb.major_version, shb.minor_version));
                }
                self.big = shb.big_endian();
                self.ifaces.clear();
                self.first = false;
                return Ok(Some(used));
            }
            Err(e) => matches!(e, nom::Err::Incomplete(_)),
        };
        let what = if incomplete {
            "cut short in a section header block"
        } else {
            "corrupt section header block"
        };
        let why = if incomplete {
            inp.stop_reason(offset, self.sum.packets)
        } else {
            None
        };
        let header = why
            .clone()
            .unwrap_or_else(|| format!("pcapng: {what} at offset {offset}"));
        let damage = why.unwrap_or_else(|| {
            format!(
                "{what} at offset {offset}; {} packets read before it",
                self.sum.packets
            )
        });
        self.stop(header, damage)?;
        Ok(None)
    }

    /// A block that does not parse ends reading: cut short (`detail` None)
    /// or corrupt.
    #[cold]
    fn bad_block<R: Read>(&mut self, inp: &mut Input<R>, offset: u64, detail: Option<&str>) {
        let packets = self.sum.packets;
        self.sum.damage = Some(match detail {
            None => inp.stop_reason(offset, packets).unwrap_or_else(|| format!(
                "cut short in the middle of a block at offset {offset}; {packets} packets read before the cut"
            )),
            Some(detail) => format!(
                "corrupt block at offset {offset}: {detail}; {packets} packets read before it"
            ),
        });
    }

    /// An interface description block: the link type and timestamp units of
    /// the packets that name it.
    fn interface(&mut self, idb: &InterfaceDescriptionBlock<'_>) {
        let n = self.iface_seen;
        self.iface_seen += 1;
        let units = match ts_units(idb.if_tsresol) {
            Some(u) => u,
            None => {
                self.sum.notes.push(format!(
                    "interface {n}: timestamp resolution (if_tsresol) {} is impossible (libpcap refuses it): its timestamps were read as microseconds",
                    describe_resol(idb.if_tsresol)
                ));
                1_000_000
            }
        };
        if units != 1_000_000 {
            self.sum.nanosecond = true;
        }
        if idb.if_tsoffset.unsigned_abs() > CENTURY as u64 {
            self.sum.notes.push(format!(
                "interface {n}: timestamp offset (if_tsoffset) of {} s is more than a century: its timestamps are shifted by it",
                idb.if_tsoffset
            ));
        }
        let lt = idb.linktype.0 as u32;
        if !self.sum.linktypes.contains(&lt) {
            self.sum.linktypes.push(lt);
        }
        self.ifaces.push(Iface {
            linktype: lt,
            units,
            offset: idb.if_tsoffset,
            snaplen: idb.snaplen,
        });
    }

    /// An enhanced packet block: a packet with its interface's timestamp.
    // Inlined into the read loop: a call per packet measured ~1% more instructions.
    #[inline(always)]
    fn enhanced_packet<F: FnMut(RawPacket<'_>)>(
        &mut self,
        epb: &EnhancedPacketBlock<'_>,
        f: &mut F,
    ) {
        let Some(ifc) = self.ifaces.get(epb.if_id as usize) else {
            self.unknown_iface += 1;
            return;
        };
        let raw = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
        // Microseconds and nanoseconds (nearly every capture) divide by a
        // constant, a multiply; other resolutions by the interface's.
        let (whole, nanos) = match ifc.units {
            1_000_000 => (raw / 1_000_000, Some(raw % 1_000_000 * 1_000)),
            1_000_000_000 => (raw / 1_000_000_000, Some(raw % 1_000_000_000)),
            u => (raw / u, None),
        };
        let secs = whole as i128 + ifc.offset as i128;
        let at = match nanos {
            Some(ns) => Timestamp::checked_from_secs_nanos(secs, ns),
            None => Timestamp::checked_from_secs_frac(secs, raw % ifc.units, ifc.units),
        };
        let ts = match at {
            Some(t) => t,
            None => {
                self.out_of_range += 1;
                Timestamp::from_secs_frac(
                    secs.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
                    0,
                    1,
                )
            }
        };
        self.last_ts = ts;
        let cap = (epb.caplen as usize).min(epb.data.len());
        let pkt = &epb.data[..cap];
        self.sum.packets += 1;
        self.sum.bytes += pkt.len() as u64;
        f(RawPacket {
            ts,
            linktype: ifc.linktype,
            data: pkt,
            orig_len: epb.origlen.max(epb.caplen),
        });
    }

    /// A simple packet block: no timestamp (it gets the previous packet's),
    /// and it belongs to interface 0.
    fn simple_packet<F: FnMut(RawPacket<'_>)>(&mut self, spb: &SimplePacketBlock<'_>, f: &mut F) {
        let Some(ifc) = self.ifaces.first() else {
            self.unknown_iface += 1;
            return;
        };
        let cap = if ifc.snaplen == 0 {
            spb.origlen as usize
        } else {
            (spb.origlen as usize).min(ifc.snaplen as usize)
        }
        .min(spb.data.len());
        self.simple += 1;
        self.sum.packets += 1;
        self.sum.bytes += cap as u64;
        f(RawPacket {
            ts: self.last_ts,
            linktype: ifc.linktype,
            data: &spb.data[..cap],
            orig_len: spb.origlen,
        });
    }

    /// An interface statistics block: the interface's drop count.
    fn statistics(&mut self, isb: &InterfaceStatisticsBlock<'_>) {
        if let Some(Ok(d)) = isb.isb_ifdrop() {
            self.drops = Some(self.drops.unwrap_or(0).saturating_add(d));
        }
    }

    /// The summary, with the notes for what was counted on the way.
    fn finish(mut self) -> FileSummary {
        let sum = &mut self.sum;
        if let Some((major, minor)) = self.odd_minor {
            sum.notes.push(format!(
                "pcapng version {major}.{minor}: only 1.0 (and 1.2, which some writers put) exist; read as 1.0"
            ));
        }
        if self.out_of_range > 0 {
            sum.notes.push(format!(
                "{} packets have a timestamp outside the years 1677-2262 (an absurd if_tsoffset or raw timestamp): each was clamped to that range",
                self.out_of_range
            ));
        }
        if self.simple > 0 {
            sum.notes.push(format!(
                "{} simple packet blocks carry no timestamp: each was given the time of the packet before it",
                self.simple
            ));
        }
        let unknown_iface = self.unknown_iface;
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
        sum.interface_drops = self.drops;
        self.sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the read buffer never changes what is read: a tiny buffer,
    /// refilled (and grown) on almost every record, yields the same packets as
    /// one that holds the whole file; and a regular file reads the same as the
    /// same bytes given as a stream.
    #[test]
    fn buffer_size_and_origin_are_transparent() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/captures");
        for name in [
            "netns-impaired-loss-dup-reorder.pcap",
            "curl-http11-reuse.pcapng",
        ] {
            let path = dir.join(name);
            let cap = CaptureFile::open(&path).unwrap();
            let collect = |cap: &CaptureFile, buffer: usize| {
                let mut v: Vec<(i64, u32, Vec<u8>)> = Vec::new();
                let s = cap
                    .for_each_buffered(buffer, |p| v.push((p.ts.0, p.orig_len, p.data.to_vec())))
                    .unwrap();
                (s.packets, s.bytes, s.damage, v)
            };
            let plain = collect(&cap, 1 << 30);
            assert!(plain.0 > 0, "{name}");
            assert_eq!(collect(&cap, 1), plain, "{name}");
            assert_eq!(collect(&cap, 4096), plain, "{name}");
            let bytes = std::fs::read(&path).unwrap();
            let stream = CaptureFile::from_stream("mem", Box::new(io::Cursor::new(bytes))).unwrap();
            assert_eq!(collect(&stream, 100), plain, "{name}");
            assert!(matches!(
                stream.for_each(|_| {}),
                Err(CaptureError::AlreadyRead { .. })
            ));
        }
    }

    /// A regular, uncompressed file is read through a map (no copy from the
    /// kernel), and reads exactly as with `pread`: whole, cut in the middle
    /// of a record, cut in the middle of the file; damage text included.
    #[test]
    fn mapped_reading_is_transparent() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/captures");
        let tmp = tempfile::tempdir().unwrap();
        for name in [
            "netns-impaired-loss-dup-reorder.pcap",
            "curl-http11-reuse.pcapng",
        ] {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            for cut in [bytes.len(), bytes.len() - 7, bytes.len() / 2 + 3] {
                let path = tmp.path().join(name);
                std::fs::write(&path, &bytes[..cut]).unwrap();
                let cap = CaptureFile::open(&path).unwrap();
                let mut v: Vec<(i64, u32, Vec<u8>)> = Vec::new();
                let mut mapped = 0;
                let s = cap
                    .for_each(|p| {
                        let b = current_block().expect("a block");
                        if let BlockBytes::Mapped { map, .. } = &*b {
                            let at = p.data.as_ptr() as usize - map.as_ptr() as usize;
                            assert!(at + p.data.len() <= cut, "{name}: past the end");
                            mapped += 1;
                        }
                        v.push((p.ts.0, p.orig_len, p.data.to_vec()))
                    })
                    .unwrap();
                assert_eq!(mapped, v.len(), "{name} cut at {cut}: read through the map");
                let mut w: Vec<(i64, u32, Vec<u8>)> = Vec::new();
                let t = cap
                    .for_each_buffered(4096, |p| w.push((p.ts.0, p.orig_len, p.data.to_vec())))
                    .unwrap();
                assert!(!v.is_empty(), "{name} cut at {cut}");
                assert_eq!(
                    (s.packets, s.bytes, &s.damage, &v),
                    (t.packets, t.bytes, &t.damage, &w),
                    "{name} cut at {cut}"
                );
                assert_eq!(s.damage.is_some(), cut < bytes.len(), "{name} cut at {cut}");
            }
        }
    }

    /// A classic pcap of `n` records of 200 bytes, built field by field.
    fn pcap_of(n: u32) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        for k in 0..n {
            for x in [1_700_000_000 + k, k % 1_000_000, 200, 200] {
                v.extend_from_slice(&x.to_le_bytes());
            }
            v.extend((0..200u32).map(|i| (i + k) as u8));
        }
        v
    }

    /// A pcapng file (one section, one Ethernet interface) of `n` enhanced
    /// packet blocks of 200 bytes, built field by field: the same packets as
    /// [`pcap_of`].
    fn pcapng_of(n: u32) -> Vec<u8> {
        let mut v = Vec::new();
        let words = |v: &mut Vec<u8>, w: &[u32]| {
            w.iter().for_each(|x| v.extend_from_slice(&x.to_le_bytes()))
        };
        words(
            &mut v,
            &[
                0x0a0d_0d0a,
                28,
                0x1a2b_3c4d,
                0x0000_0001,
                u32::MAX,
                u32::MAX,
                28,
            ],
        );
        words(&mut v, &[1, 20, 1, 65535, 20]);
        for k in 0..n {
            let us = (1_700_000_000 + u64::from(k)) * 1_000_000 + u64::from(k % 1_000_000);
            words(&mut v, &[6, 232, 0, (us >> 32) as u32, us as u32, 200, 200]);
            v.extend((0..200u32).map(|i| (i + k) as u8));
            words(&mut v, &[232]);
        }
        v
    }

    /// The file shrinks while it is read through the map (another process
    /// truncates it; here the callback does). Past the part made readable:
    /// the reader reads up to the new end, as `pread` would. Behind the
    /// record being read: the vanished pages raise SIGBUS, the guard
    /// (src/capture/guard.rs) turns them into zeros, and the reader stops
    /// before handing any on. Either way the damage says how far the file
    /// shrank, and the process lives.
    #[test]
    fn a_mapped_file_that_shrinks_is_reported_not_a_crash() {
        const N: u32 = 40_000;
        let tmp = tempfile::tempdir().unwrap();
        let cases = [
            ("shrinks.pcap", pcap_of(N), 24, 216),
            ("shrinks.pcapng", pcapng_of(N), 48, 232),
        ];
        // With `MADV_POPULATE_READ`, and as on a kernel without it.
        for (no_populate, (name, whole, head, rec)) in [false, true]
            .into_iter()
            .flat_map(|p| cases.clone().map(|c| (p, c)))
        {
            NO_POPULATE.with(|n| n.set(no_populate));
            let name = format!("{name}, no_populate {no_populate}");
            let path = tmp.path().join("shrinks");
            let total = whole.len() as u64;
            // (packet at which the file is cut, length cut to, packets expected)
            let ahead = head + 30_000 * rec + 100;
            let behind = 100_000;
            for (at, cut, want) in [(1_000, ahead, 30_000), (5_000, behind, 5_000)] {
                std::fs::write(&path, &whole).unwrap();
                let cap = CaptureFile::open(&path).unwrap();
                let mut seen = 0u32;
                let mut bad = 0;
                let s = cap
                    .for_each(|p| {
                        assert!(
                            matches!(current_block().as_deref(), Some(BlockBytes::Mapped { .. })),
                            "read through the map"
                        );
                        // Every record handed on is the file's, never zeros.
                        if p.data.len() != 200 || p.data[0] != seen as u8 || p.ts.0 == 0 {
                            bad += 1;
                        }
                        seen += 1;
                        if seen == at {
                            std::fs::OpenOptions::new()
                                .write(true)
                                .open(&path)
                                .unwrap()
                                .set_len(cut)
                                .unwrap();
                        }
                    })
                    .unwrap();
                assert_eq!(bad, 0, "{name} cut at {cut}");
                assert_eq!(s.packets, want, "{name} cut at {cut}");
                assert_eq!(
                s.damage.as_deref(),
                Some(
                    format!(
                        "the file shrank from {total} to {cut} bytes while being read (another process truncated or rewrote it); {want} packets read before the cut are reported"
                    )
                    .as_str()
                ),
                "{name}"
            );
            }
        }
    }

    /// A file still being written grows while it is read through the map:
    /// the reader maps it again at its end and reads on, as `pread` does.
    #[test]
    fn a_mapped_file_that_grows_is_read_on() {
        let tmp = tempfile::tempdir().unwrap();
        let cases = [
            ("grows.pcap", pcap_of(10_000), pcap_of(20_000)),
            ("grows.pcapng", pcapng_of(10_000), pcapng_of(20_000)),
        ];
        for (no_populate, (name, first, whole)) in [false, true]
            .into_iter()
            .flat_map(|p| cases.clone().map(|c| (p, c)))
        {
            NO_POPULATE.with(|n| n.set(no_populate));
            let name = format!("{name}, no_populate {no_populate}");
            let path = tmp.path().join("grows");
            std::fs::write(&path, &first).unwrap();
            let cap = CaptureFile::open(&path).unwrap();
            let (mut seen, mut bad, mut maps) = (0u32, 0, Vec::new());
            let s = cap
                .for_each(|p| {
                    let b = current_block().expect("a block");
                    assert!(matches!(&*b, BlockBytes::Mapped { .. }), "{name}");
                    if !maps.iter().any(|m| Arc::ptr_eq(m, &b)) {
                        maps.push(b);
                    }
                    if p.data.len() != 200 || p.data[0] != seen as u8 {
                        bad += 1;
                    }
                    seen += 1;
                    if seen == 100 {
                        use std::io::Write;
                        std::fs::OpenOptions::new()
                            .append(true)
                            .open(&path)
                            .unwrap()
                            .write_all(&whole[first.len()..])
                            .unwrap();
                    }
                })
                .unwrap();
            assert_eq!((s.packets, bad, s.damage), (20_000, 0, None), "{name}");
            assert_eq!(maps.len(), 2, "{name}: mapped again once");
        }
    }

    /// A frame's bytes stay valid in the read block they were read into for
    /// as long as it is held ([`current_block`], as `report --threads`
    /// ships them): the reader moves on to another block instead of
    /// overwriting a shared one, and reuses blocks once they are let go.
    #[test]
    fn held_read_blocks_are_never_overwritten() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/captures");
        for name in [
            "netns-impaired-loss-dup-reorder.pcap",
            "curl-http11-reuse.pcapng",
        ] {
            let cap = CaptureFile::open(&dir.join(name)).unwrap();
            let mut held: Vec<(ReadBlock, usize, Vec<u8>)> = Vec::new();
            let mut seen = 0;
            let mut switches = 0;
            let mut last: Option<ReadBlock> = None;
            cap.for_each_buffered(256, |p| {
                seen += 1;
                let b = current_block().expect("a block");
                let at = p.data.as_ptr() as usize - b.as_ptr() as usize;
                assert!(
                    at + p.data.len() <= b.len(),
                    "{name}: frame outside the block"
                );
                if !last.as_ref().is_some_and(|l| Arc::ptr_eq(l, &b)) {
                    switches += 1;
                    last = Some(b.clone());
                }
                // Hold every other frame's block; let the others go.
                if seen % 2 == 0 {
                    held.push((b, at, p.data.to_vec()));
                }
            })
            .unwrap();
            assert!(switches > 2, "{name}: {switches} blocks");
            for (b, at, bytes) in &held {
                assert_eq!(&b[*at..*at + bytes.len()], &bytes[..], "{name}");
            }
        }
    }

    #[test]
    fn timestamp_resolutions() {
        assert_eq!(ts_units(6), Some(1_000_000));
        assert_eq!(ts_units(9), Some(1_000_000_000));
        assert_eq!(ts_units(19), Some(10u64.pow(19)));
        assert_eq!(ts_units(20), None);
        assert_eq!(ts_units(0x80 | 10), Some(1024));
        assert_eq!(ts_units(0x80 | 63), Some(1 << 63));
        assert_eq!(ts_units(0x80 | 64), None);
        assert_eq!(ts_units(0xff), None);
    }
}
