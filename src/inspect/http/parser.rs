//! Streaming HTTP/1.x parsers (RFC 9112) over byte slices.
//!
//! Every parser here is a *streaming* parser with `nom`'s result type: when
//! the input ends before the construct does, it returns `Err::Incomplete`,
//! which callers treat as "need more bytes" (normal data, not an error). The
//! start lines and the header section, parsed for every message, are byte
//! scans (issue 14; header lines, the request target and the reason
//! phrase 16 bytes at a time with SSE2 on x86_64, a plain header line of up
//! to 48 bytes in a short loop of its own); the rest uses `nom`
//! combinators. Parsers borrow from their
//! input and never allocate, except [`MessageHeaders`] which keeps owned copies
//! of the few header values the inspector reports (one allocation per present
//! header per message, never per packet).
//!
//! Bodies are never parsed into memory: [`ChunkedDecoder`] is an incremental
//! state machine that skips chunked framing over arbitrary split points.

use compact_str::CompactString;
use nom::bytes::streaming::{take_till, take_while, take_while1};
use nom::character::streaming::line_ending;
use nom::error::{Error, ErrorKind};
use nom::{Err, IResult, Needed};
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// HTTP/1.x minor version of a message.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HttpVersion {
    Http10,
    Http11,
}

impl HttpVersion {
    /// "1.0" or "1.1" (the form used in reports and JSON).
    pub const fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http10 => "1.0",
            HttpVersion::Http11 => "1.1",
        }
    }
}

impl fmt::Display for HttpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for HttpVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `method SP request-target SP HTTP-version`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub version: HttpVersion,
}

/// `HTTP-version SP status-code SP [reason-phrase]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine<'a> {
    pub version: HttpVersion,
    pub status: u16,
    pub reason: &'a [u8],
}

/// One line (plus obs-fold continuation lines) of a header section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderLine<'a> {
    /// `name: value`. `value` is raw: it may contain obs-fold line breaks and
    /// surrounding whitespace; see [`unfold_value`].
    Field {
        name: &'a [u8],
        value: &'a [u8],
        /// Whitespace between the field name and the colon (RFC 9112 §5.1
        /// forbids it; we accept the field and report it).
        space_before_colon: bool,
    },
    /// A line that is not `token ":" value` (skipped, reported).
    Malformed(&'a [u8]),
    /// The empty line ending the header section.
    End,
}

/// Methods recognised when scanning for a request line to resynchronise on,
/// and when detecting HTTP by content with only a short prefix.
pub const KNOWN_METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "SEARCH",
    "REPORT",
    "MKCALENDAR",
    "MKACTIVITY",
    "CHECKOUT",
    "MERGE",
    "ACL",
    "BIND",
    "UNBIND",
    "REBIND",
    "LINK",
    "UNLINK",
    "PURGE",
    "M-SEARCH",
    "NOTIFY",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
];

pub fn is_known_method(m: &[u8]) -> bool {
    KNOWN_METHODS.iter().any(|k| k.as_bytes() == m)
}

fn is_known_method_prefix(m: &[u8]) -> bool {
    KNOWN_METHODS.iter().any(|k| k.as_bytes().starts_with(m))
}

/// RFC 9110 `tchar`, one table lookup (header names are scanned byte by
/// byte for every header line of every message: issue 14).
#[inline]
pub fn is_tchar(c: u8) -> bool {
    TCHAR[c as usize]
}

const TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        c += 1;
    }
    t
};

fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Request-target bytes: any visible byte (obs-text tolerated), no whitespace or controls.
fn is_target_char(c: u8) -> bool {
    c > 0x20 && c != 0x7f
}

/// Request-target bytes as the request line is parsed: anything but
/// whitespace and line ends. Control bytes (`GET /a\x1bb HTTP/1.1`) make
/// the request malformed, but its framing can still be followed: it is
/// counted, and the inspector warns ([`has_control`]).
fn is_lax_target_char(c: u8) -> bool {
    !matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Does `b` hold a control byte (C0 or DEL)?
pub fn has_control(b: &[u8]) -> bool {
    b.iter().any(|&c| c < 0x20 || c == 0x7f)
}

fn fail<I, T>(i: I, kind: ErrorKind) -> IResult<I, T> {
    Err(Err::Error(Error::new(i, kind)))
}

// The start-line parsers below are byte scans with the streaming semantics
// of the `nom` combinators they replaced (issue 14; the tests compare them
// with those): a run of wanted bytes reaching the end of the input is
// `Incomplete`, a required run that is empty is an error.

type Scan<'a, T> = Result<T, Err<Error<&'a [u8]>>>;

fn incomplete<'a, T>() -> Scan<'a, T> {
    Err(Err::Incomplete(Needed::new(1)))
}

/// End of the run of bytes matching `f` from `at` (`take_while`).
#[inline]
fn run0(i: &[u8], at: usize, f: impl Fn(u8) -> bool) -> Scan<'_, usize> {
    match i[at..].iter().position(|&c| !f(c)) {
        Some(n) => Ok(at + n),
        None => incomplete(),
    }
}

/// End of the non-empty run of bytes matching `f` from `at` (`take_while1`).
#[inline]
fn run1(i: &[u8], at: usize, f: impl Fn(u8) -> bool) -> Scan<'_, usize> {
    match i[at..].iter().position(|&c| !f(c)) {
        Some(0) => Err(Err::Error(Error::new(&i[at..], ErrorKind::TakeWhile1))),
        Some(n) => Ok(at + n),
        None => incomplete(),
    }
}

/// End of the line ending (CRLF or bare LF) at `at` (`line_ending`).
#[inline]
fn eol_at(i: &[u8], at: usize) -> Scan<'_, usize> {
    match &i[at..] {
        [b'\n', ..] => Ok(at + 1),
        [b'\r', b'\n', ..] => Ok(at + 2),
        [] | [b'\r'] => incomplete(),
        rest => Err(Err::Error(Error::new(rest, ErrorKind::CrLf))),
    }
}

/// `"HTTP/1." DIGIT` at `at`: its end and the version.
#[inline]
fn version_at(i: &[u8], at: usize) -> Scan<'_, (usize, HttpVersion)> {
    const TAG: &[u8; 7] = b"HTTP/1.";
    let rest = &i[at..];
    let tag_ok = match rest.first_chunk::<7>() {
        // A fixed-size compare: no memcmp call.
        Some(head) => head == TAG,
        None => TAG.starts_with(rest),
    };
    if !tag_ok {
        return Err(Err::Error(Error::new(rest, ErrorKind::Tag)));
    }
    match rest.get(TAG.len()) {
        None => incomplete(),
        Some(b'0') => Ok((at + 8, HttpVersion::Http10)),
        Some(b'1') => Ok((at + 8, HttpVersion::Http11)),
        Some(_) => Err(Err::Error(Error::new(rest, ErrorKind::Digit))),
    }
}

/// `"HTTP/1." DIGIT` (only 1.0 and 1.1 are accepted).
pub fn http_version(i: &[u8]) -> IResult<&[u8], HttpVersion> {
    let (end, version) = version_at(i, 0)?;
    Ok((&i[end..], version))
}

/// Request line, including its line ending (CRLF or bare LF). Tolerates
/// several SP/HTAB between the parts and trailing whitespace before the EOL.
pub fn request_line(i: &[u8]) -> IResult<&[u8], RequestLine<'_>> {
    if let Some(done) = request_line_plain(i) {
        return Ok(done);
    }
    let method = run1(i, 0, is_tchar)?;
    let target_start = run1(i, method, is_ws)?;
    let target_end = run1(i, target_start, is_lax_target_char)?;
    let version_start = run1(i, target_end, is_ws)?;
    let (version_end, version) = version_at(i, version_start)?;
    let end = eol_at(i, run0(i, version_end, is_ws)?)?;
    Ok((
        &i[end..],
        RequestLine {
            method: &i[..method],
            target: &i[target_start..target_end],
            version,
        },
    ))
}

/// The common request line, `method SP target SP HTTP/1.x CRLF` with one
/// SP each and at least 16 bytes from the target on: what the byte scans of
/// [`request_line`] give, from a 16-byte scan of the target and fixed-size
/// compares (~190 instructions a line were the byte scans, issue 14). None:
/// any other line (or too few bytes), which the byte scans take.
#[inline(always)]
fn request_line_plain(i: &[u8]) -> Option<(&[u8], RequestLine<'_>)> {
    let method = tchar_prefix(i);
    if method == 0 || *i.get(method)? != b' ' {
        return None;
    }
    let target_start = method + 1;
    // Not whitespace (one SP only), nor a line end (an empty target).
    if !is_lax_target_char(*i.get(target_start)?) || is_ws(i[target_start]) {
        return None;
    }
    let target_end = find_space_or_eol(i, target_start)?;
    const SP_TAG: &[u8; 8] = b" HTTP/1.";
    let tail = i.get(target_end..)?.first_chunk::<11>()?;
    let version = match tail {
        [t @ .., d, b'\r', b'\n'] if t == SP_TAG => match d {
            b'1' => HttpVersion::Http11,
            b'0' => HttpVersion::Http10,
            _ => return None,
        },
        _ => return None,
    };
    Some((
        &i[target_end + 11..],
        RequestLine {
            method: &i[..method],
            target: &i[target_start..target_end],
            version,
        },
    ))
}

/// The first SP, HTAB, CR or LF at or after `from`, 16 bytes a step. None
/// when not found before fewer than 16 bytes are left.
#[inline(always)]
fn find_space_or_eol(b: &[u8], from: usize) -> Option<usize> {
    let mut k = from;
    loop {
        let chunk = b.get(k..)?.first_chunk::<16>()?;
        let m = space_eol_mask(chunk);
        if m != 0 {
            return Some(k + m.trailing_zeros() as usize);
        }
        k += 16;
    }
}

/// Mask of the SP, HTAB, CR and LF bytes of `chunk` (bit n: byte n), SSE2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn space_eol_mask(chunk: &[u8; 16]) -> u32 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is in every x86_64 CPU; the unaligned load reads the 16
    // bytes of `chunk`, no more.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast());
        let eq = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
        let m = _mm_or_si128(
            _mm_or_si128(eq(b' '), eq(b'\t')),
            _mm_or_si128(eq(b'\r'), eq(b'\n')),
        );
        _mm_movemask_epi8(m) as u32
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn space_eol_mask(chunk: &[u8; 16]) -> u32 {
    space_eol_mask_portable(chunk)
}

/// [`space_eol_mask`] a byte at a time (other targets; the tests compare the two).
#[cfg(any(test, not(target_arch = "x86_64")))]
fn space_eol_mask_portable(chunk: &[u8; 16]) -> u32 {
    let mut m = 0;
    for (n, &c) in chunk.iter().enumerate() {
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            m |= 1 << n;
        }
    }
    m
}

/// The common status line, `HTTP/1.x SP 3DIGIT SP reason CRLF` (or an
/// empty reason: `HTTP/1.x SP 3DIGIT CRLF`) with at least 16 bytes from the
/// reason on: what the byte scans of [`status_line`] give. None: any other
/// line (or too few bytes), which the byte scans take.
#[inline(always)]
fn status_line_plain(i: &[u8]) -> Option<(&[u8], StatusLine<'_>)> {
    let head = i.first_chunk::<14>()?;
    let version = match head {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', v, b' ', ..] => match v {
            b'1' => HttpVersion::Http11,
            b'0' => HttpVersion::Http10,
            _ => return None,
        },
        _ => return None,
    };
    let mut status = 0u16;
    for &d in &head[9..12] {
        if !d.is_ascii_digit() {
            return None;
        }
        status = status * 10 + u16::from(d - b'0');
    }
    let (reason_start, reason_end) = match head[12..14] {
        [b'\r', b'\n'] => (12, 12),
        // One SP, then the reason (not whitespace) up to the first CR or LF.
        [b' ', c] if !is_ws(c) => {
            let end = find_cr_lf(i, 13)?;
            (13, end)
        }
        _ => return None,
    };
    let end = match i.get(reason_end..reason_end + 2)? {
        [b'\r', b'\n'] => reason_end + 2,
        _ => return None,
    };
    let mut reason = &i[reason_start..reason_end];
    while let [r @ .., b' ' | b'\t'] = reason {
        reason = r;
    }
    Some((
        &i[end..],
        StatusLine {
            version,
            status,
            reason,
        },
    ))
}

/// The first CR or LF at or after `from` (a reason phrase's end), 16 bytes
/// a step over [`space_eol_mask`]'s CR and LF. None when not found before
/// fewer than 16 bytes are left.
#[inline(always)]
fn find_cr_lf(b: &[u8], from: usize) -> Option<usize> {
    let mut k = from;
    loop {
        let chunk = b.get(k..)?.first_chunk::<16>()?;
        let m = cr_lf_mask(chunk);
        if m != 0 {
            return Some(k + m.trailing_zeros() as usize);
        }
        k += 16;
    }
}

/// Mask of the CR and LF bytes of `chunk` (bit n: byte n).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn cr_lf_mask(chunk: &[u8; 16]) -> u32 {
    use std::arch::x86_64::*;
    // SAFETY: as in `space_eol_mask`.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast());
        let eq = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
        _mm_movemask_epi8(_mm_or_si128(eq(b'\r'), eq(b'\n'))) as u32
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn cr_lf_mask(chunk: &[u8; 16]) -> u32 {
    cr_lf_mask_portable(chunk)
}

/// [`cr_lf_mask`] a byte at a time.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn cr_lf_mask_portable(chunk: &[u8; 16]) -> u32 {
    let mut m = 0;
    for (n, &c) in chunk.iter().enumerate() {
        if matches!(c, b'\r' | b'\n') {
            m |= 1 << n;
        }
    }
    m
}

/// `HTTP/1.x SP 3DIGIT` and what follows it up to (not including) the reason phrase.
fn status_prefix(i: &[u8]) -> IResult<&[u8], (HttpVersion, u16)> {
    let (version_end, version) = version_at(i, 0)?;
    let code = run1(i, version_end, is_ws)?;
    let mut status = 0u16;
    for k in code..code + 3 {
        match i.get(k) {
            None => return incomplete(),
            Some(&d) if d.is_ascii_digit() => status = status * 10 + u16::from(d - b'0'),
            Some(_) => return fail(&i[code..], ErrorKind::TakeWhileMN),
        }
    }
    match i.get(code + 3) {
        None => incomplete(),
        Some(b' ' | b'\t' | b'\r' | b'\n') => Ok((&i[code + 3..], (version, status))),
        Some(_) => fail(&i[code + 3..], ErrorKind::Digit),
    }
}

/// Status line, including its line ending. The reason phrase may be empty and
/// the SP before an empty reason may be missing (`HTTP/1.1 200\r\n`).
pub fn status_line(i: &[u8]) -> IResult<&[u8], StatusLine<'_>> {
    if let Some(done) = status_line_plain(i) {
        return Ok(done);
    }
    let (rest, (version, status)) = status_prefix(i)?;
    let reason_start = run0(rest, 0, is_ws)?;
    let reason_end = run0(rest, reason_start, |c| c != b'\r' && c != b'\n')?;
    let end = eol_at(rest, reason_end)?;
    let mut reason = &rest[reason_start..reason_end];
    while let [r @ .., b' ' | b'\t'] = reason {
        reason = r;
    }
    Ok((
        &rest[end..],
        StatusLine {
            version,
            status,
            reason,
        },
    ))
}

/// One header field line (with obs-fold continuations), a malformed line, or
/// the empty line ending the section. Returns Incomplete until it can see the
/// first byte after the line (to know whether an obs-fold follows).
pub fn header_line(i: &[u8]) -> IResult<&[u8], HeaderLine<'_>> {
    match line_ending::<_, Error<&[u8]>>(i) {
        Ok((rest, _)) => return Ok((rest, HeaderLine::End)),
        Err(Err::Incomplete(n)) => return Err(Err::Incomplete(n)),
        Err(_) => {}
    }
    // The whole logical line: up to an LF not followed by SP/HTAB.
    let mut end = 0;
    loop {
        let Some(nl) = memchr::memchr(b'\n', &i[end..]) else {
            return Err(Err::Incomplete(Needed::new(1)));
        };
        let after = end + nl + 1;
        match i.get(after) {
            None => return Err(Err::Incomplete(Needed::new(1))),
            Some(&c) if is_ws(c) => end = after,
            Some(_) => {
                end = after;
                break;
            }
        }
    }
    let (line, rest) = i.split_at(end);
    Ok((rest, field_line(strip_eol(line))))
}

/// One logical header line without its line ending: a field or a malformed line.
fn field_line(content: &[u8]) -> HeaderLine<'_> {
    let name_len = content.iter().take_while(|&&c| is_tchar(c)).count();
    if name_len == 0 {
        return HeaderLine::Malformed(content);
    }
    let (name, after_name) = content.split_at(name_len);
    let ws = after_name.iter().take_while(|&&c| is_ws(c)).count();
    match after_name.get(ws) {
        Some(b':') => HeaderLine::Field {
            name,
            value: &after_name[ws + 1..],
            space_before_colon: ws > 0,
        },
        _ => HeaderLine::Malformed(content),
    }
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A raw header value as text: obs-fold line breaks become one SP, leading and
/// trailing whitespace is removed, non-UTF-8 bytes are replaced.
pub fn unfold_value(raw: &[u8]) -> Cow<'_, str> {
    let trimmed = trim_ws(raw);
    if !trimmed.contains(&b'\n') {
        return String::from_utf8_lossy(trimmed);
    }
    let mut out = Vec::with_capacity(trimmed.len());
    let mut k = 0;
    while k < trimmed.len() {
        let c = trimmed[k];
        if c == b'\r' || c == b'\n' {
            while out.last().is_some_and(|&c| is_ws(c)) {
                out.pop();
            }
            while k < trimmed.len() && matches!(trimmed[k], b'\r' | b'\n' | b' ' | b'\t') {
                k += 1;
            }
            out.push(b' ');
        } else {
            out.push(c);
            k += 1;
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn trim_ws(mut s: &[u8]) -> &[u8] {
    while let [c, rest @ ..] = s {
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., c] = s {
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// State of the Content-Length header(s) of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContentLength {
    #[default]
    Absent,
    Valid(u64),
    /// Not a non-negative decimal number (or too large).
    Invalid,
    /// Several values that differ.
    Conflicting,
}

/// The header fields the inspector keeps, collected from a header section.
/// Repeated fields (Connection, Keep-Alive, ...) are comma-joined. Values are
/// [`CompactString`]s: one of up to 24 bytes (nearly every Keep-Alive,
/// Host...) is stored inline, so collecting a head allocates nothing
/// (issue 14); a Connection field that is one of [`COMMON_CONNECTION`] is
/// kept as its code, no text copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageHeaders {
    pub host: Option<CompactString>,
    /// The Connection field as text, unless it is one of
    /// [`COMMON_CONNECTION`] (then `connection_common`): read it with
    /// [`MessageHeaders::connection`].
    connection_text: Option<CompactString>,
    /// 1 + the index in [`COMMON_CONNECTION`] of a Connection field that is
    /// exactly one of those (one field, nothing joined); 0: see
    /// `connection_text`. No text is copied for it (issue 14).
    connection_common: u8,
    pub keep_alive: Option<CompactString>,
    pub transfer_encoding: Option<CompactString>,
    pub content_encoding: Option<CompactString>,
    pub upgrade: Option<CompactString>,
    pub expect: Option<CompactString>,
    pub content_length: ContentLength,
    /// Raw Content-Length value(s), for warnings.
    pub content_length_raw: Option<CompactString>,
    pub field_count: u32,
    /// Human-readable problems found (malformed lines, whitespace before colon...).
    pub issues: Vec<String>,
    /// Leave the Host value out (a repeated Host is still an issue): set
    /// by an inspector whose report can no longer read it. Kept by
    /// [`MessageHeaders::clear`].
    pub skip_host: bool,
    /// A Host field was seen (kept or not).
    host_seen: bool,
}

impl MessageHeaders {
    /// Back to [`MessageHeaders::default`], keeping the issues' allocation
    /// for the next head.
    #[inline]
    pub fn clear(&mut self) {
        self.connection_common = 0;
        for v in [
            &mut self.host,
            &mut self.connection_text,
            &mut self.keep_alive,
            &mut self.transfer_encoding,
            &mut self.content_encoding,
            &mut self.upgrade,
            &mut self.expect,
            &mut self.content_length_raw,
        ] {
            if v.is_some() {
                *v = None;
            }
        }
        self.content_length = ContentLength::Absent;
        self.host_seen = false;
        self.field_count = 0;
        self.issues.clear();
    }

    /// Becomes a copy of `o`, touching only the fields either has set (most
    /// are `None` on both: a memoized head, issue 14).
    #[inline]
    pub fn copy_from(&mut self, o: &MessageHeaders) {
        // Every field named: one added to the struct must be added here.
        let MessageHeaders {
            host,
            connection_text,
            connection_common,
            keep_alive,
            transfer_encoding,
            content_encoding,
            upgrade,
            expect,
            content_length,
            content_length_raw,
            field_count,
            issues,
            skip_host,
            host_seen,
        } = o;
        #[inline(always)]
        fn copy(v: &mut Option<CompactString>, w: &Option<CompactString>) {
            if v.is_some() || w.is_some() {
                v.clone_from(w);
            }
        }
        copy(&mut self.host, host);
        copy(&mut self.connection_text, connection_text);
        copy(&mut self.keep_alive, keep_alive);
        copy(&mut self.transfer_encoding, transfer_encoding);
        copy(&mut self.content_encoding, content_encoding);
        copy(&mut self.upgrade, upgrade);
        copy(&mut self.expect, expect);
        copy(&mut self.content_length_raw, content_length_raw);
        if !(self.issues.is_empty() && issues.is_empty()) {
            self.issues.clone_from(issues);
        }
        self.connection_common = *connection_common;
        self.content_length = *content_length;
        self.field_count = *field_count;
        self.skip_host = *skip_host;
        self.host_seen = *host_seen;
    }

    /// The Connection field (repeated ones comma-joined).
    pub fn connection(&self) -> Option<&str> {
        match self.connection_common {
            0 => self.connection_text.as_deref(),
            k => COMMON_CONNECTION.get(usize::from(k) - 1).copied(),
        }
    }

    /// The Connection field: 1 + its index in [`COMMON_CONNECTION`] if it
    /// is one of those (no text then), else 0 and its text (or none).
    pub fn connection_parts(&self) -> (u8, Option<CompactString>) {
        match self.connection_common {
            0 => (0, self.connection_text.clone()),
            k => (k, None),
        }
    }

    /// Transfer-Encoding is present with `chunked` as the final coding.
    pub fn chunked(&self) -> bool {
        self.transfer_encoding
            .as_deref()
            .and_then(|te| te.rsplit(',').next())
            .map(|last| {
                let last = last.split(';').next().unwrap_or("").trim();
                last.eq_ignore_ascii_case("chunked")
            })
            .unwrap_or(false)
    }

    /// Transfer-Encoding is present and is not just (obsolete) `identity`.
    pub fn has_transfer_coding(&self) -> bool {
        match self.transfer_encoding.as_deref() {
            None => false,
            Some(te) => te.split(',').any(|t| {
                let t = t.trim();
                !t.is_empty() && !t.eq_ignore_ascii_case("identity")
            }),
        }
    }

    #[cold]
    fn malformed(&mut self, line: &[u8]) {
        self.issues.push(format!(
            "ignored malformed header line \"{}\"",
            escape(line, 60)
        ));
    }

    #[cold]
    fn space_before_colon(&mut self, name: &[u8]) {
        self.issues.push(format!(
            "whitespace between header name \"{}\" and colon (accepted)",
            escape(name, 40)
        ));
    }

    /// Counts one field and keeps its value if it is one of ours. `name` is
    /// not empty; `folded`: the raw value may hold obs-fold line breaks.
    #[inline(always)]
    fn add(&mut self, name: &[u8], raw: &[u8], folded: bool) {
        self.field_count += 1;
        // The names kept differ in length or first letter: one inlined
        // table test rules out nearly every other field (Date, ETag, Server
        // share a length with a name kept, not its first letter).
        let first = KEPT_FIRST.get(name.len()).copied().unwrap_or_default();
        let c = name[0] | 0x20;
        if c == first[0] || c == first[1] {
            // The first Host of a request whose value is not kept (every
            // request once the connection's first Host is settled): counted
            // here, without the call.
            if self.skip_host && !self.host_seen && eq_name(name, b"host") {
                self.host_seen = true;
                return;
            }
            // `Connection: keep-alive` and the like, once: its code here (as
            // `keep` would find it: one SP, then exactly a common value).
            if let [b' ', value @ ..] = raw {
                if self.connection_common == 0
                    && self.connection_text.is_none()
                    && eq_name(name, b"connection")
                {
                    let k = common_connection(value);
                    if k != 0 {
                        self.connection_common = k;
                        return;
                    }
                }
                // The first Content-Length, one number (as `keep` reads it).
                if self.content_length_raw.is_none() && eq_name(name, b"content-length") {
                    if let Some(n) = decimal(value) {
                        self.content_length = merge_one_length(self.content_length, Some(n));
                        // SAFETY: decimal digits are ASCII.
                        let text = unsafe { std::str::from_utf8_unchecked(value) };
                        self.content_length_raw = Some(CompactString::from(text));
                        return;
                    }
                }
            }
            self.keep(name, raw, folded);
        }
    }

    /// The part of [`Self::add`] past the first-letter test (kept out of
    /// the line loop: inlined, it spills the loop's registers).
    #[inline(never)]
    fn keep(&mut self, name: &[u8], raw: &[u8], folded: bool) {
        let slot = match name.len() {
            4 if eq_name(name, b"host") => {
                if self.host_seen {
                    self.issues.push("repeated Host header".to_owned());
                }
                self.host_seen = true;
                if self.skip_host {
                    return;
                }
                &mut self.host
            }
            6 if eq_name(name, b"expect") => &mut self.expect,
            7 if eq_name(name, b"upgrade") => &mut self.upgrade,
            10 if eq_name(name, b"connection") => {
                let v = value_text(raw, folded);
                match self.connection_common {
                    0 if self.connection_text.is_none() => {
                        let k = common_connection(v.as_bytes());
                        if k != 0 {
                            self.connection_common = k;
                            return;
                        }
                    }
                    0 => {}
                    // Repeated: the first value as text, then joined.
                    k => {
                        self.connection_common = 0;
                        self.connection_text = COMMON_CONNECTION
                            .get(usize::from(k) - 1)
                            .map(|&c| CompactString::const_new(c));
                    }
                }
                join(&mut self.connection_text, &v);
                return;
            }
            10 if eq_name(name, b"keep-alive") => &mut self.keep_alive,
            14 if eq_name(name, b"content-length") => {
                let v = value_text(raw, folded);
                self.content_length = merge_content_length(self.content_length, &v);
                join(&mut self.content_length_raw, &v);
                return;
            }
            16 if eq_name(name, b"content-encoding") => &mut self.content_encoding,
            17 if eq_name(name, b"transfer-encoding") => &mut self.transfer_encoding,
            _ => return,
        };
        join(slot, &value_text(raw, folded));
    }
}

/// Appends a repeated field's value after `", "`.
fn join(slot: &mut Option<CompactString>, v: &str) {
    match slot {
        Some(s) => {
            s.push_str(", ");
            s.push_str(v);
        }
        None => *slot = Some(CompactString::from(v)),
    }
}

/// Connection values kept as a code, not as text (exact bytes): what
/// nearly every message sends. [`Exchange`](super::Exchange) keeps the same
/// codes.
pub const COMMON_CONNECTION: [&str; 6] = [
    "keep-alive",
    "close",
    "Keep-Alive",
    "Close",
    "Upgrade",
    "upgrade",
];

/// 1 + the index of `v` in [`COMMON_CONNECTION`], or 0: compared as two
/// 4-byte words (first and last, overlapping) and the length, which tell
/// those six apart exactly for lengths 4 to 8, with the middle bytes of
/// a 10-byte value compared too (no `memcmp` call, issue 14).
#[inline]
fn common_connection(v: &[u8]) -> u8 {
    const fn words(b: &[u8]) -> (u32, u32, u16) {
        let n = b.len();
        let first = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let last = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]);
        let mid = if n == 10 {
            u16::from_le_bytes([b[4], b[5]])
        } else {
            0
        };
        (first, last, mid)
    }
    const TABLE: [(usize, (u32, u32, u16)); 6] = {
        let mut t = [(0, (0, 0, 0)); 6];
        let mut k = 0;
        while k < 6 {
            let b = COMMON_CONNECTION[k].as_bytes();
            assert!(matches!(b.len(), 5 | 7 | 10));
            t[k] = (b.len(), words(b));
            k += 1;
        }
        t
    };
    if !matches!(v.len(), 5 | 7 | 10) {
        return 0;
    }
    let w = words(v);
    let mut k = 0;
    while k < TABLE.len() {
        if TABLE[k] == (v.len(), w) {
            return k as u8 + 1;
        }
        k += 1;
    }
    0
}

/// The names [`MessageHeaders::keep`] keeps: by length, their first letters
/// (lowercase; 0: none).
const KEPT_FIRST: [[u8; 2]; 18] = {
    let mut t = [[0u8; 2]; 18];
    t[4] = [b'h', 0];
    t[6] = [b'e', 0];
    t[7] = [b'u', 0];
    t[10] = [b'c', b'k'];
    t[14] = [b'c', 0];
    t[16] = [b'c', 0];
    t[17] = [b't', 0];
    t
};

/// `name` equals `lower` (lowercase letters and `-` only, 4 bytes or more),
/// ignoring ASCII case, compared a word at a time (a byte loop cost ~4
/// instructions a byte, issue 14): bit 0x20 is set on the letters only,
/// so `A`-`Z` match their lowercase and nothing else does.
#[inline(always)]
fn eq_name<const N: usize>(name: &[u8], lower: &[u8; N]) -> bool {
    const { assert!(N >= 4) };
    let Ok(name) = <&[u8; N]>::try_from(name) else {
        return false;
    };
    let mask = lower.map(|c| if c.is_ascii_lowercase() { 0x20 } else { 0 });
    // Words of 8 bytes (4 below 8), the last one ending at the end.
    let w = if N >= 8 { 8 } else { 4 };
    let word = |b: &[u8; N], at: usize| -> u64 {
        let mut x = [0u8; 8];
        x[..w].copy_from_slice(&b[at..at + w]);
        u64::from_le_bytes(x)
    };
    let mut at = 0;
    loop {
        let k = at.min(N - w);
        if word(name, k) | word(&mask, k) != word(lower, k) {
            return false;
        }
        if k == N - w {
            return true;
        }
        at += w;
    }
}

/// A raw header value as [`unfold_value`] gives it; when it is not `folded`
/// it holds no LF, and an ASCII value (nearly every one) is borrowed as it is.
#[inline]
fn value_text(raw: &[u8], folded: bool) -> Cow<'_, str> {
    if folded {
        return unfold_value(raw);
    }
    let trimmed = trim_ws(raw);
    if trimmed.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8. (`str::from_utf8` checks
        // short values byte by byte: ~100 instructions a value, issue 14.)
        return Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(trimmed) });
    }
    String::from_utf8_lossy(trimmed)
}

fn merge_content_length(prev: ContentLength, value: &str) -> ContentLength {
    // One number, nothing around it (nearly every value): no split into
    // comma-separated parts, no trim (issue 14).
    if let Some(n) = decimal(value.as_bytes()) {
        return merge_one_length(prev, Some(n));
    }
    let mut cur = prev;
    for part in value.as_bytes().split(|&c| c == b',') {
        cur = merge_one_length(cur, decimal(trim_sp_ht(part)));
    }
    cur
}

/// One Content-Length part (None: not a number) after `cur`.
#[inline(always)]
fn merge_one_length(cur: ContentLength, part: Option<u64>) -> ContentLength {
    match (cur, part) {
        (ContentLength::Invalid, _) | (_, None) => ContentLength::Invalid,
        (ContentLength::Conflicting, _) => ContentLength::Conflicting,
        (ContentLength::Absent, Some(n)) => ContentLength::Valid(n),
        (ContentLength::Valid(a), Some(b)) if a == b => ContentLength::Valid(a),
        (ContentLength::Valid(_), Some(_)) => ContentLength::Conflicting,
    }
}

/// `s` without leading and trailing SP/HTAB.
fn trim_sp_ht(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// 1 to 19 decimal digits (never more than `u64::MAX`) as a number.
/// Inlined, a plain loop (the fold with checked arithmetic cost ~57
/// instructions on a 3-digit length, issue 14).
#[inline]
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut n = 0u64;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        // 19 digits stay below u64::MAX: neither step can overflow.
        n = n.wrapping_mul(10).wrapping_add(u64::from(d));
    }
    Some(n)
}

/// Header section up to and including the empty line.
///
/// The hot path of every message head (issue 14): byte scans, no `nom`
/// combinator per line. Gives exactly what [`header_line`] applied line by
/// line gives, `Incomplete` included (the tests compare the two).
pub fn header_section(i: &[u8]) -> IResult<&[u8], MessageHeaders> {
    let mut h = MessageHeaders::default();
    let rest = header_section_into(i, &mut h)?;
    Ok((rest, h))
}

/// [`header_section`] into `h` (cleared first), returning the bytes after
/// the section: the inspector parses every head into one reused
/// [`MessageHeaders`] instead of moving a new one (240 bytes) out through
/// each `Result` (issue 14). On an error `h` holds what was collected so far.
///
/// Per line, the first 16 bytes are classified at once ([`line_masks`]):
/// a name of letters, digits and `-` followed by `:` (nearly every line)
/// is known from that, and the line feed is searched from past those 16
/// bytes, or found in them. Any other line (a name with other tchar bytes,
/// whitespace before the colon, a malformed line, fewer than 16 bytes left)
/// takes the byte scans.
///
/// A line of at most 32 bytes (with its LF) with such a name, no obs-fold
/// after it, and 32 bytes at hand from its start takes a shorter loop
/// ([`short_plain_line`]): no section-end checks (its first byte is a name
/// byte), its LF from the same two 16-byte masks, its value cut in place.
pub fn header_section_into<'a>(i: &'a [u8], h: &mut MessageHeaders) -> Scan<'a, &'a [u8]> {
    h.clear();
    let mut pos = 0;
    loop {
        while let Some(two) = i.get(pos..).and_then(|r| r.first_chunk::<32>()) {
            let Some((colon, lf)) = short_plain_line(two) else {
                break;
            };
            let line = &i[pos..];
            // Past the 32 bytes, the next 16 (a date, a longer value).
            let lf = match lf {
                Some(lf) => lf,
                None => match line.get(32..).and_then(|r| r.first_chunk::<16>()) {
                    Some(third) if lf_mask(third) != 0 => {
                        32 + lf_mask(third).trailing_zeros() as usize
                    }
                    _ => break,
                },
            };
            // The byte after the LF: an obs-fold, or not known yet, is
            // left to the step below.
            let next = pos + lf + 1;
            if i.get(next).is_none_or(|&c| is_ws(c)) {
                break;
            }
            let end = if line[lf - 1] == b'\r' { lf - 1 } else { lf };
            h.add(&line[..colon], &line[colon + 1..end], false);
            pos = next;
        }
        let line = &i[pos..];
        match line {
            [] | [b'\r'] => return Err(Err::Incomplete(Needed::new(1))),
            [b'\n', ..] => return Ok(&i[pos + 1..]),
            [b'\r', b'\n', ..] => return Ok(&i[pos + 2..]),
            _ => {}
        }
        let (name_len, ws, lf) = match plain_name(line) {
            Some((colon, _, lf)) => {
                // A field: no check of the name or the colon left to do.
                let Some((end, folded)) = lf.and_then(|lf| logical_line_end(line, lf)) else {
                    return Err(Err::Incomplete(Needed::new(1)));
                };
                let content = strip_eol(&line[..end]);
                h.add(&line[..colon], &content[colon + 1..], folded);
                pos += end;
                continue;
            }
            None => {
                // Neither the name nor the whitespace after it can hold a CR
                // or LF, so they are scanned before the line end is known.
                let name_len = tchar_prefix(line);
                let Some(ws) = line[name_len..].iter().position(|&c| !is_ws(c)) else {
                    return Err(Err::Incomplete(Needed::new(1)));
                };
                (name_len, ws, find_lf(line, name_len + ws))
            }
        };
        let colon = name_len + ws;
        let Some((end, folded)) = lf.and_then(|lf| logical_line_end(line, lf)) else {
            return Err(Err::Incomplete(Needed::new(1)));
        };
        let content = strip_eol(&line[..end]);
        if name_len > 0 && line[colon] == b':' {
            let name = &line[..name_len];
            if ws > 0 {
                h.space_before_colon(name);
            }
            h.add(name, &content[colon + 1..], folded);
        } else {
            h.malformed(content);
        }
        pos += end;
    }
}

/// A line starting `two` (32 bytes from its start) whose name is ASCII
/// letters, digits and `-` followed by `:`: the colon's position and the
/// first LF's after it if it is in `two`. None for any other line (a
/// section's end too: CR and LF are not name bytes).
#[inline(always)]
fn short_plain_line(two: &[u8; 32]) -> Option<(usize, Option<usize>)> {
    let (first, second) = two.split_at(16);
    let (name, lf) = line_masks(first.try_into().ok()?);
    if name & 1 == 0 || name == 0xffff {
        return None;
    }
    let colon = (!name).trailing_zeros() as usize;
    if two[colon] != b':' {
        return None;
    }
    let lf = lf | lf_mask(second.try_into().ok()?) << 16;
    let after = lf & !((2u32 << colon) - 1);
    Some((colon, (after != 0).then(|| after.trailing_zeros() as usize)))
}

/// The common line, `name:` with a name of ASCII letters, digits and `-`
/// only: the name's length, 0 (no whitespace before the colon) and the
/// position of the first LF after the colon (None: not in `line`). None
/// for any other line, which the byte scans then take (the same result:
/// those bytes are tchar, the colon is neither tchar nor whitespace).
#[inline(always)]
fn plain_name(line: &[u8]) -> Option<(usize, usize, Option<usize>)> {
    // With 32 bytes at hand, the LFs of the second 16 are taken at once:
    // most header lines end there (a second scan call per line, issue 14).
    if let Some(two) = line.first_chunk::<32>() {
        let (first, second) = two.split_at(16);
        let first: &[u8; 16] = first.try_into().ok()?;
        let (name, lf) = line_masks(first);
        if name != 0xffff {
            let colon = (!name).trailing_zeros() as usize;
            if colon == 0 || first[colon] != b':' {
                return None;
            }
            let lf = lf | lf_mask(second.try_into().ok()?) << 16;
            let after = lf & !((2u32 << colon) - 1);
            let lf = if after != 0 {
                Some(after.trailing_zeros() as usize)
            } else {
                find_lf(line, 32)
            };
            return Some((colon, 0, lf));
        }
    }
    let mut k = 0;
    loop {
        let chunk = line.get(k..)?.first_chunk::<16>()?;
        let (name, lf) = line_masks(chunk);
        if name == 0xffff {
            k += 16;
            continue;
        }
        // The first byte of the chunk that is not a name byte (0..16).
        let at = (!name).trailing_zeros() as usize;
        let colon = k + at;
        if colon == 0 || chunk[at] != b':' {
            return None;
        }
        // LFs past the colon in this chunk, else searched past the chunk.
        let after = lf & !((2u32 << at) - 1);
        let lf = if after != 0 {
            Some(k + after.trailing_zeros() as usize)
        } else {
            find_lf(line, k + 16)
        };
        return Some((colon, 0, lf));
    }
}

/// Masks of the 16 bytes of `chunk` (bit n: byte n): the bytes that are an
/// ASCII letter, digit or `-`, and the LFs. SSE2 (part of x86_64 itself).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn line_masks(chunk: &[u8; 16]) -> (u32, u32) {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is in every x86_64 CPU; the unaligned load reads the 16
    // bytes of `chunk`, no more.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast());
        // A byte is in [lo, lo + n) when, moved by 0x80 - lo, it is below
        // -128 + n as a signed byte (everything else wraps above).
        let lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
        let letter = _mm_cmplt_epi8(
            _mm_add_epi8(lower, _mm_set1_epi8((0x80u8 - b'a') as i8)),
            _mm_set1_epi8(-128 + 26),
        );
        let digit = _mm_cmplt_epi8(
            _mm_add_epi8(v, _mm_set1_epi8((0x80u8 - b'0') as i8)),
            _mm_set1_epi8(-128 + 10),
        );
        let dash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'-' as i8));
        let name = _mm_or_si128(_mm_or_si128(letter, digit), dash);
        let lf = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8));
        (_mm_movemask_epi8(name) as u32, _mm_movemask_epi8(lf) as u32)
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn line_masks(chunk: &[u8; 16]) -> (u32, u32) {
    line_masks_portable(chunk)
}

/// The LF mask of [`line_masks`] alone.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn lf_mask(chunk: &[u8; 16]) -> u32 {
    use std::arch::x86_64::*;
    // SAFETY: as in `line_masks`.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast());
        _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8))) as u32
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn lf_mask(chunk: &[u8; 16]) -> u32 {
    line_masks_portable(chunk).1
}

/// [`line_masks`] a byte at a time (other targets; the tests compare the two).
#[cfg(any(test, not(target_arch = "x86_64")))]
fn line_masks_portable(chunk: &[u8; 16]) -> (u32, u32) {
    let (mut name, mut lf) = (0, 0);
    for (n, &c) in chunk.iter().enumerate() {
        if c.is_ascii_alphanumeric() || c == b'-' {
            name |= 1 << n;
        }
        if c == b'\n' {
            lf |= 1 << n;
        }
    }
    (name, lf)
}

/// Length of the run of tchar bytes starting `b`, four bytes a step.
#[inline]
fn tchar_prefix(b: &[u8]) -> usize {
    let mut n = 0;
    while let Some(&[c0, c1, c2, c3]) = b.get(n..n + 4) {
        if !(is_tchar(c0) & is_tchar(c1) & is_tchar(c2) & is_tchar(c3)) {
            break;
        }
        n += 4;
    }
    while n < b.len() && is_tchar(b[n]) {
        n += 1;
    }
    n
}

/// End of the logical header line in `line` (just past an LF not followed by
/// SP/HTAB), given its first LF; the flag says whether obs-fold
/// continuation lines were taken in. None: not complete yet (the byte after
/// an LF is needed).
#[inline]
fn logical_line_end(line: &[u8], lf: usize) -> Option<(usize, bool)> {
    let mut end = lf + 1;
    let mut folded = false;
    loop {
        if !is_ws(*line.get(end)?) {
            return Some((end, folded));
        }
        folded = true;
        end = find_lf(line, end)? + 1;
    }
}

/// Position of the first LF in `b` at or after `from`: 16 bytes a step
/// (SSE2), the last up to 15 as [`find_lf_words`] does.
#[cfg(target_arch = "x86_64")]
#[inline]
fn find_lf(b: &[u8], from: usize) -> Option<usize> {
    use std::arch::x86_64::*;
    let mut k = from;
    while let Some(chunk) = b.get(k..).and_then(|r| r.first_chunk::<16>()) {
        // SAFETY: SSE2 is in every x86_64 CPU; the unaligned load reads the
        // 16 bytes of `chunk`, no more.
        let lf = unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast());
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8)))
        };
        if lf != 0 {
            return Some(k + lf.trailing_zeros() as usize);
        }
        k += 16;
    }
    find_lf_words(b, k)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn find_lf(b: &[u8], from: usize) -> Option<usize> {
    find_lf_words(b, from)
}

/// Position of the first LF in `b` at or after `from`. Header lines are
/// short: eight bytes a step (SWAR) cost less than memchr's set-up per call.
#[inline]
fn find_lf_words(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const LFS: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut k = from;
    while let Some(chunk) = b.get(k..k + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ LFS;
        // The lowest set high bit marks the first zero byte of `x` (a borrow
        // can only set bits above a zero byte).
        let zero = x.wrapping_sub(ONES) & !x & HIGHS;
        if zero != 0 {
            return Some(k + zero.trailing_zeros() as usize / 8);
        }
        k += 8;
    }
    b.get(k..)?.iter().position(|&c| c == b'\n').map(|p| k + p)
}

/// Collects one header line into `h` (the cut section's lines).
fn collect_line(h: &mut MessageHeaders, line: HeaderLine<'_>) {
    match line {
        HeaderLine::End => {}
        HeaderLine::Malformed(l) => h.malformed(l),
        HeaderLine::Field {
            name,
            value,
            space_before_colon,
        } => {
            if space_before_colon {
                h.space_before_colon(name);
            }
            h.add(name, value, true);
        }
    }
}

/// What a header section cut short (by a capture gap) still tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CutHeaders {
    /// Fields of every header line whose line ending was captured. The last
    /// one is taken as it is, though an obs-fold continuation may have been lost.
    pub headers: MessageHeaders,
    /// The empty line ending the section was captured (the head was whole).
    pub ended: bool,
    /// Fewest bytes that can still be missing from the head: its line ending
    /// and the empty line (bare LF line endings assumed possible).
    pub min_missing: u64,
}

/// Parses the header section of a head whose capture stopped after `i`
/// (the bytes after the start line): complete lines are kept, a trailing
/// partial line is dropped.
pub fn cut_header_section(mut i: &[u8]) -> CutHeaders {
    let mut h = MessageHeaders::default();
    loop {
        match header_line(i) {
            Ok((_, HeaderLine::End)) => {
                return CutHeaders {
                    headers: h,
                    ended: true,
                    min_missing: 0,
                }
            }
            Ok((rest, line)) => {
                collect_line(&mut h, line);
                i = rest;
            }
            Err(_) => break,
        }
    }
    // `i` is the unfinished last line (possibly with obs-fold continuations).
    let min_missing = match i {
        [] => 1,
        [b'\r'] => 1,
        [.., b'\n'] => {
            collect_line(&mut h, field_line(strip_eol(i)));
            1
        }
        [.., b'\r'] => 2,
        _ => 2,
    };
    CutHeaders {
        headers: h,
        ended: false,
        min_missing,
    }
}

/// A complete request head: request line + header section.
#[derive(Debug, Clone)]
pub struct RequestHead<'a> {
    pub line: RequestLine<'a>,
    pub headers: MessageHeaders,
}

/// A complete response head: status line + header section.
#[derive(Debug, Clone)]
pub struct ResponseHead<'a> {
    pub line: StatusLine<'a>,
    pub headers: MessageHeaders,
}

pub fn request_head(i: &[u8]) -> IResult<&[u8], RequestHead<'_>> {
    let mut headers = MessageHeaders::default();
    let (i, line) = request_head_into(i, &mut headers)?;
    Ok((i, RequestHead { line, headers }))
}

pub fn response_head(i: &[u8]) -> IResult<&[u8], ResponseHead<'_>> {
    let mut headers = MessageHeaders::default();
    let (i, line) = response_head_into(i, &mut headers)?;
    Ok((i, ResponseHead { line, headers }))
}

/// [`request_head`] with the header section parsed into `h`
/// ([`header_section_into`]); only the request line is returned.
pub fn request_head_into<'a>(
    i: &'a [u8],
    h: &mut MessageHeaders,
) -> IResult<&'a [u8], RequestLine<'a>> {
    let (i, line) = request_line(i)?;
    let i = header_section_into(i, h)?;
    Ok((i, line))
}

/// [`response_head`] with the header section parsed into `h`.
pub fn response_head_into<'a>(
    i: &'a [u8],
    h: &mut MessageHeaders,
) -> IResult<&'a [u8], StatusLine<'a>> {
    let (i, line) = status_line(i)?;
    let i = header_section_into(i, h)?;
    Ok((i, line))
}

/// Finds the end of a message head (just past the empty line; CRLF or bare LF)
/// in `buf`, searching from `from` (a value previously returned as `Err`).
/// `Err(resume)` means not found yet: call again from `resume` once more bytes
/// are appended, so buffered heads are never rescanned from the start.
pub fn find_head_end(buf: &[u8], from: usize) -> Result<usize, usize> {
    let mut k = from.min(buf.len());
    while let Some(p) = memchr::memchr(b'\n', &buf[k..]) {
        let nl = k + p;
        match buf.get(nl + 1) {
            None => return Err(nl),
            Some(b'\n') => return Ok(nl + 2),
            Some(b'\r') => match buf.get(nl + 2) {
                None => return Err(nl),
                Some(b'\n') => return Ok(nl + 3),
                Some(_) => {}
            },
            Some(_) => {}
        }
        k = nl + 1;
    }
    Err(buf.len())
}

/// `chunk-size [chunk-ext] CRLF` (bare LF tolerated). Returns the size and the
/// raw extension text. Provided for callers that hold a whole chunk header;
/// the inspector uses [`ChunkedDecoder`], which works over any split.
pub fn chunk_size_line(i: &[u8]) -> IResult<&[u8], (u64, &[u8])> {
    let (rest, hex) = take_while1(|c: u8| c.is_ascii_hexdigit())(i)?;
    if hex.len() > 16 {
        return fail(i, ErrorKind::TooLarge);
    }
    let size = hex
        .iter()
        .fold(0u64, |acc, &c| (acc << 4) | u64::from(hex_val(c)));
    let (rest, _) = take_while(is_ws)(rest)?;
    let (rest, ext) = take_till(|c| c == b'\r' || c == b'\n')(rest)?;
    if !(ext.is_empty() || ext[0] == b';') {
        return fail(rest, ErrorKind::Char);
    }
    let (rest, _) = line_ending(rest)?;
    Ok((rest, (size, ext)))
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// Result of feeding bytes to a [`ChunkedDecoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkStatus {
    /// All input consumed; the body continues.
    NeedMore,
    /// The body (including trailers) ended after `consumed` bytes.
    Done,
    /// Framing error at the reported position.
    Error(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading hex digits of a chunk size (at least one needed).
    Size,
    /// Whitespace after the size digits (before `;` or the EOL).
    SizeWs,
    /// Skipping a chunk extension up to the EOL.
    Ext,
    /// Saw CR after the size line, expecting LF.
    SizeLf,
    /// Chunk data, `remaining` bytes left.
    Data,
    /// After chunk data: expecting CR or LF.
    DataEnd,
    /// After chunk data and CR: expecting LF.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field line.
    Trailer,
    /// Saw CR at the start of a trailer line: expecting the final LF.
    FinalLf,
    Done,
}

const MAX_CHUNK_LINE: u32 = 16 * 1024;
const MAX_TRAILERS: u32 = 64 * 1024;

/// Incremental chunked-body framing (RFC 9112 §7.1): chunk-size lines with
/// extensions, chunk data, CRLFs, trailer section. Works over arbitrary splits
/// without buffering; bare LF is tolerated wherever CRLF is expected.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: ChunkState,
    size: u64,
    digits: u8,
    remaining: u64,
    line_len: u32,
    trailer_len: u32,
    /// Sum of chunk data bytes seen (the decoded body length).
    pub decoded: u64,
    /// Number of chunks with data seen.
    pub chunks: u64,
    /// Trailer field lines seen.
    pub trailers: u32,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Where [`ChunkedDecoder::step`] stopped the feed: before the byte it
/// looked at (which is not part of the body), or after it.
enum Stop {
    Before(ChunkStatus),
    After(ChunkStatus),
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: ChunkState::Size,
            size: 0,
            digits: 0,
            remaining: 0,
            line_len: 0,
            trailer_len: 0,
            decoded: 0,
            chunks: 0,
            trailers: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Inside chunk data: how many data bytes remain in the current chunk.
    pub fn data_remaining(&self) -> Option<u64> {
        (self.state == ChunkState::Data).then_some(self.remaining)
    }

    /// `missing` bytes were lost. Stays in sync (returns true) only when they
    /// fall entirely inside the current chunk's data.
    pub fn skip_gap(&mut self, missing: u64) -> bool {
        if self.state == ChunkState::Data && missing <= self.remaining {
            self.remaining -= missing;
            self.decoded += missing;
            if self.remaining == 0 {
                self.state = ChunkState::DataEnd;
            }
            true
        } else {
            false
        }
    }

    /// Consumes a prefix of `data`; returns how many bytes belong to the body
    /// and the status. On `Done`, bytes after `consumed` belong to the next message.
    pub fn feed(&mut self, data: &[u8]) -> (usize, ChunkStatus) {
        let mut k = 0;
        while k < data.len() {
            if self.state == ChunkState::Data {
                let n = (self.remaining.min((data.len() - k) as u64)) as usize;
                self.remaining -= n as u64;
                self.decoded += n as u64;
                k += n;
                if self.remaining == 0 {
                    self.state = ChunkState::DataEnd;
                }
                continue;
            }
            let c = data[k];
            k += 1;
            match self.step(c) {
                None => {}
                Some(Stop::Before(st)) => return (k - 1, st),
                Some(Stop::After(st)) => return (k, st),
            }
        }
        if self.state == ChunkState::Done {
            (k, ChunkStatus::Done)
        } else {
            (k, ChunkStatus::NeedMore)
        }
    }

    /// One byte of chunk framing (not chunk data); Some when feeding stops.
    /// Over 100 lines: one flat arm per framing state of RFC 9112 §7.1 reads
    /// better as a single match than spread over helpers.
    #[inline]
    fn step(&mut self, c: u8) -> Option<Stop> {
        match self.state {
            ChunkState::Size => {
                if c.is_ascii_hexdigit() {
                    if self.digits >= 16 {
                        return Some(Stop::After(ChunkStatus::Error("chunk size too large")));
                    }
                    self.size = (self.size << 4) | u64::from(hex_val(c));
                    self.digits += 1;
                    self.line_len += 1;
                } else if self.digits == 0 {
                    return Some(Stop::Before(ChunkStatus::Error(
                        "expected a hex chunk size",
                    )));
                } else {
                    match c {
                        b';' => self.state = ChunkState::Ext,
                        b' ' | b'\t' => self.state = ChunkState::SizeWs,
                        b'\r' => self.state = ChunkState::SizeLf,
                        b'\n' => self.size_line_done(),
                        _ => {
                            return Some(Stop::Before(ChunkStatus::Error(
                                "invalid byte after chunk size",
                            )))
                        }
                    }
                }
            }
            ChunkState::SizeWs => match c {
                b' ' | b'\t' => {}
                b';' => self.state = ChunkState::Ext,
                b'\r' => self.state = ChunkState::SizeLf,
                b'\n' => self.size_line_done(),
                _ => {
                    return Some(Stop::Before(ChunkStatus::Error(
                        "invalid byte after chunk size",
                    )))
                }
            },
            ChunkState::Ext => {
                self.line_len += 1;
                if self.line_len > MAX_CHUNK_LINE {
                    return Some(Stop::After(ChunkStatus::Error("chunk extension too long")));
                }
                match c {
                    b'\r' => self.state = ChunkState::SizeLf,
                    b'\n' => self.size_line_done(),
                    _ => {}
                }
            }
            ChunkState::SizeLf => {
                if c == b'\n' {
                    self.size_line_done();
                } else {
                    return Some(Stop::Before(ChunkStatus::Error(
                        "CR not followed by LF in chunk size line",
                    )));
                }
            }
            ChunkState::DataEnd => match c {
                b'\r' => self.state = ChunkState::DataLf,
                b'\n' => self.start_size(),
                _ => {
                    return Some(Stop::Before(ChunkStatus::Error(
                        "missing CRLF after chunk data",
                    )))
                }
            },
            ChunkState::DataLf => {
                if c == b'\n' {
                    self.start_size();
                } else {
                    return Some(Stop::Before(ChunkStatus::Error(
                        "missing LF after chunk data",
                    )));
                }
            }
            ChunkState::TrailerStart => match c {
                b'\r' => self.state = ChunkState::FinalLf,
                b'\n' => {
                    self.state = ChunkState::Done;
                    return Some(Stop::After(ChunkStatus::Done));
                }
                _ => {
                    self.trailers += 1;
                    self.trailer_len += 1;
                    self.state = ChunkState::Trailer;
                }
            },
            ChunkState::Trailer => {
                self.trailer_len += 1;
                if self.trailer_len > MAX_TRAILERS {
                    return Some(Stop::After(ChunkStatus::Error("trailer section too long")));
                }
                if c == b'\n' {
                    self.state = ChunkState::TrailerStart;
                }
            }
            ChunkState::FinalLf => {
                if c == b'\n' {
                    self.state = ChunkState::Done;
                    return Some(Stop::After(ChunkStatus::Done));
                }
                return Some(Stop::Before(ChunkStatus::Error(
                    "CR not followed by LF after trailers",
                )));
            }
            ChunkState::Done => return Some(Stop::Before(ChunkStatus::Done)),
            ChunkState::Data => unreachable!("handled above"),
        }
        None
    }

    fn size_line_done(&mut self) {
        if self.size == 0 {
            self.state = ChunkState::TrailerStart;
        } else {
            self.chunks += 1;
            self.remaining = self.size;
            self.state = ChunkState::Data;
        }
    }

    fn start_size(&mut self) {
        self.state = ChunkState::Size;
        self.size = 0;
        self.digits = 0;
        self.line_len = 0;
    }
}

/// Is this the start of an HTTP/1.x request? `Some(true)` for a complete valid
/// request line, or a known method followed by SP and a plausible target;
/// `Some(false)` when the bytes cannot start a request line; `None` when too
/// few bytes to tell (e.g. `"GE"`, or an unknown token whose line is not complete).
pub fn looks_like_http_request(b: &[u8]) -> Option<bool> {
    if b.is_empty() {
        return None;
    }
    match request_line(b) {
        Ok(_) => return Some(true),
        Err(Err::Error(_) | Err::Failure(_)) => return Some(false),
        Err(Err::Incomplete(_)) => {}
    }
    let m = b.iter().take_while(|&&c| is_tchar(c)).count();
    if m == b.len() {
        // Still inside the method token.
        return if is_known_method_prefix(b) || m <= 24 {
            None
        } else {
            Some(false)
        };
    }
    if is_known_method(&b[..m]) {
        // Known method + whitespace (+ partial target/version): plausible.
        let after_ws = b[m..].iter().take_while(|&&c| is_ws(c)).count();
        return if m + after_ws < b.len() {
            Some(true)
        } else {
            None
        };
    }
    if b.len() > 8192 {
        Some(false)
    } else {
        None
    }
}

/// Is this the start of an HTTP/1.x response (`HTTP/1.x SP 3DIGIT`)?
pub fn looks_like_http_response(b: &[u8]) -> Option<bool> {
    if b.is_empty() {
        return None;
    }
    match status_prefix(b) {
        Ok(_) => Some(true),
        Err(Err::Incomplete(_)) => None,
        Err(_) => Some(false),
    }
}

/// Strict check used to resynchronise a client→server stream: a known method,
/// a target and `HTTP/1.x` on one line. None: the line is not complete yet.
pub fn request_start_strict(b: &[u8]) -> Option<bool> {
    let m = b.iter().take_while(|&&c| is_tchar(c)).count();
    if m == b.len() {
        return if m > 0 && is_known_method_prefix(b) {
            None
        } else {
            Some(false)
        };
    }
    if !is_known_method(&b[..m]) || b[m] != b' ' {
        return Some(false);
    }
    match request_line(b) {
        Ok(_) => Some(true),
        Err(Err::Incomplete(_)) => None,
        Err(_) => Some(false),
    }
}

/// Position of `needle` in `hay` (None for an empty needle).
pub fn find_subslice(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    memchr::memmem::find(hay, needle)
}

/// A request line starting mid-line inside `data[from..end]` (e.g. right after
/// a body that did not end in a newline): finds `" HTTP/1."`, walks back over
/// the target and whitespace, and takes the longest known method ending there.
/// Returns its position and the [`request_start_strict`] verdict (never `Some(false)`).
pub fn embedded_request_start(
    data: &[u8],
    from: usize,
    end: usize,
) -> Option<(usize, Option<bool>)> {
    let mut k = from;
    while k < end {
        let q = k + find_subslice(&data[k..end], b" HTTP/1.")?;
        let mut t = q;
        while t > from && is_target_char(data[t - 1]) {
            t -= 1;
        }
        let mut sp = t;
        while sp > from && is_ws(data[sp - 1]) {
            sp -= 1;
        }
        if sp < t && t < q {
            let best = KNOWN_METHODS
                .iter()
                .map(|m| m.as_bytes())
                .filter(|m| sp >= from + m.len() && &data[sp - m.len()..sp] == *m)
                .map(|m| m.len())
                .max();
            if let Some(len) = best {
                let p = sp - len;
                match request_start_strict(&data[p..]) {
                    Some(false) => {}
                    v => return Some((p, v)),
                }
            }
        }
        k = q + 1;
    }
    None
}

/// A status line starting anywhere inside `data[from..end]` (`HTTP/1.x NNN`).
/// Returns its position and the [`looks_like_http_response`] verdict (never `Some(false)`).
pub fn embedded_response_start(
    data: &[u8],
    from: usize,
    end: usize,
) -> Option<(usize, Option<bool>)> {
    let mut k = from;
    while k < end {
        let p = k + data[k..end].iter().position(|&c| c == b'H')?;
        match looks_like_http_response(&data[p..]) {
            Some(false) => {}
            v => return Some((p, v)),
        }
        k = p + 1;
    }
    None
}

/// Bytes as text, non-UTF-8 bytes replaced (`CompactString::from_utf8_lossy`,
/// which costs ~230 instructions even on a short ASCII method or target:
/// issue 14).
pub fn lossy_text(b: &[u8]) -> CompactString {
    if b.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8. (`str::from_utf8` checks
        // short input byte by byte: see `value_text`.)
        CompactString::from(unsafe { std::str::from_utf8_unchecked(b) })
    } else {
        CompactString::from_utf8_lossy(b)
    }
}

/// Bytes as a short printable string for warnings (the project's one
/// escaping policy: [`crate::escape::snippet`]).
pub fn escape(b: &[u8], max: usize) -> String {
    crate::escape::snippet(b, max)
}

#[cfg(test)]
mod tests {
    /// Proptest settings of this module: `n` cases, no failure files written.
    fn cases(n: u32) -> proptest::prelude::ProptestConfig {
        proptest::prelude::ProptestConfig {
            cases: n,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        }
    }

    use super::*;

    fn is_incomplete<T: fmt::Debug>(r: IResult<&[u8], T>) -> bool {
        matches!(r, Err(Err::Incomplete(_)))
    }

    /// The `nom` start-line parsers the byte scans replaced: the reference
    /// they must agree with (Ok, Incomplete and error alike).
    mod nom_reference {
        use super::super::*;
        use nom::bytes::streaming::{tag, take_while_m_n};

        /// `"HTTP/1." DIGIT` (only 1.0 and 1.1 are accepted).
        pub fn http_version(i: &[u8]) -> IResult<&[u8], HttpVersion> {
            let (rest, _) = tag(&b"HTTP/1."[..])(i)?;
            match rest.first() {
                None => Err(Err::Incomplete(Needed::new(1))),
                Some(b'0') => Ok((&rest[1..], HttpVersion::Http10)),
                Some(b'1') => Ok((&rest[1..], HttpVersion::Http11)),
                Some(_) => fail(i, ErrorKind::Digit),
            }
        }

        /// Request line, including its line ending (CRLF or bare LF). Tolerates
        /// several SP/HTAB between the parts and trailing whitespace before the EOL.
        pub fn request_line(i: &[u8]) -> IResult<&[u8], RequestLine<'_>> {
            let (i, method) = take_while1(is_tchar)(i)?;
            let (i, _) = take_while1(is_ws)(i)?;
            let (i, target) = take_while1(is_lax_target_char)(i)?;
            let (i, _) = take_while1(is_ws)(i)?;
            let (i, version) = http_version(i)?;
            let (i, _) = take_while(is_ws)(i)?;
            let (i, _) = line_ending(i)?;
            Ok((
                i,
                RequestLine {
                    method,
                    target,
                    version,
                },
            ))
        }

        /// `HTTP/1.x SP 3DIGIT` and what follows it up to (not including) the reason phrase.
        pub fn status_prefix(i: &[u8]) -> IResult<&[u8], (HttpVersion, u16)> {
            let (i, version) = http_version(i)?;
            let (i, _) = take_while1(is_ws)(i)?;
            let (i, code) = take_while_m_n(3, 3, |c: u8| c.is_ascii_digit())(i)?;
            let status = code
                .iter()
                .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
            match i.first() {
                None => Err(Err::Incomplete(Needed::new(1))),
                Some(b' ' | b'\t' | b'\r' | b'\n') => Ok((i, (version, status))),
                Some(_) => fail(i, ErrorKind::Digit),
            }
        }

        /// Status line, including its line ending. The reason phrase may be empty and
        /// the SP before an empty reason may be missing (`HTTP/1.1 200\r\n`).
        pub fn status_line(i: &[u8]) -> IResult<&[u8], StatusLine<'_>> {
            let (i, (version, status)) = status_prefix(i)?;
            let (i, _) = take_while(is_ws)(i)?;
            let (i, reason) = take_till(|c| c == b'\r' || c == b'\n')(i)?;
            let (i, _) = line_ending(i)?;
            let mut reason = reason;
            while let [rest @ .., b' ' | b'\t'] = reason {
                reason = rest;
            }
            Ok((
                i,
                StatusLine {
                    version,
                    status,
                    reason,
                },
            ))
        }
    }

    /// Same outcome: equal Ok values, or both Incomplete, or both errors.
    fn same_outcome<T: PartialEq + fmt::Debug>(
        input: &[u8],
        a: IResult<&[u8], T>,
        b: IResult<&[u8], T>,
    ) {
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", escape(input, 100)),
            (Err(Err::Incomplete(_)), Err(Err::Incomplete(_))) => {}
            (Err(Err::Error(_)), Err(Err::Error(_))) => {}
            (a, b) => panic!("{}: {a:?} vs {b:?}", escape(input, 100)),
        }
    }

    const LINE_PIECES: &[&[u8]] = &[
        b"GET",
        b"M-SEARCH",
        b"HTTP/1.",
        b"HTTP/1.1",
        b"HTTP/1.0",
        b"HTTP/2",
        b"HTTP/1.9",
        b"HTTP",
        b"HTTP/1",
        b"HTTP/",
        b"http/1.1",
        b" ",
        b"\t",
        b"  ",
        b"/a?b=c",
        b"*",
        b"\x1b",
        b"\xff",
        b"200",
        b"2",
        b"20",
        b"2000",
        b"20x",
        b"OK",
        b"Not Found",
        b"\r",
        b"\n",
        b"\r\n",
        b"(",
        b"",
    ];

    proptest::proptest! {
        #![proptest_config(cases(512))]

        /// Start lines built from start-line pieces, every prefix: the byte
        /// scans agree with the `nom` parsers they replaced.
        #[test]
        fn start_lines_agree_with_nom(
            pieces in proptest::collection::vec(0..LINE_PIECES.len(), 0..10),
            shape in 0..3usize,
        ) {
            let mut input: Vec<u8> = match shape {
                0 => b"GET /x HTTP/1.1".to_vec(),
                1 => b"HTTP/1.1 200".to_vec(),
                _ => Vec::new(),
            };
            for k in pieces {
                input.extend_from_slice(LINE_PIECES[k]);
            }
            input.extend_from_slice(b"\r\nX");
            for end in 0..=input.len() {
                let b = &input[..end];
                same_outcome(b, request_line(b), nom_reference::request_line(b));
                same_outcome(b, status_line(b), nom_reference::status_line(b));
                same_outcome(b, status_prefix(b), nom_reference::status_prefix(b));
                same_outcome(b, http_version(b), nom_reference::http_version(b));
            }
        }
    }

    #[test]
    fn request_line_basic_and_lf() {
        let (rest, l) = request_line(b"GET /index.html?q=1 HTTP/1.1\r\nHost: a\r\n").unwrap();
        assert_eq!(l.method, b"GET");
        assert_eq!(l.target, b"/index.html?q=1");
        assert_eq!(l.version, HttpVersion::Http11);
        assert_eq!(rest, b"Host: a\r\n");
        let (rest, l) = request_line(b"POST * HTTP/1.0\nX").unwrap();
        assert_eq!(
            (l.method, l.target, l.version),
            (&b"POST"[..], &b"*"[..], HttpVersion::Http10)
        );
        assert_eq!(rest, b"X");
    }

    #[test]
    fn request_line_streaming_every_prefix_is_incomplete() {
        let full = b"OPTIONS http://example.com:8080/a HTTP/1.1\r\n";
        for k in 0..full.len() {
            assert!(is_incomplete(request_line(&full[..k])), "prefix {k}");
        }
        assert!(request_line(full).is_ok());
    }

    #[test]
    fn request_line_rejects() {
        assert!(matches!(
            request_line(b"GET /a HTTP/2.0\r\n"),
            Err(Err::Error(_))
        ));
        assert!(matches!(request_line(b"GET /a\r\n"), Err(Err::Error(_))));
        assert!(matches!(
            request_line(b"\x16\x03\x01\x02\x00"),
            Err(Err::Error(_))
        ));
        assert!(matches!(
            request_line(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Err(Err::Error(_))
        ));
    }

    #[test]
    fn status_line_variants() {
        let (_, s) = status_line(b"HTTP/1.1 200 OK\r\n").unwrap();
        assert_eq!(
            (s.version, s.status, s.reason),
            (HttpVersion::Http11, 200, &b"OK"[..])
        );
        let (_, s) = status_line(b"HTTP/1.1 204 \r\n").unwrap();
        assert_eq!((s.status, s.reason), (204, &b""[..]));
        let (rest, s) = status_line(b"HTTP/1.0 404\r\nServer: x").unwrap();
        assert_eq!(
            (s.version, s.status, s.reason),
            (HttpVersion::Http10, 404, &b""[..])
        );
        assert_eq!(rest, b"Server: x");
        let (_, s) = status_line(b"HTTP/1.1 503 Service Unavailable\n").unwrap();
        assert_eq!(s.reason, b"Service Unavailable");
        assert!(matches!(
            status_line(b"HTTP/1.1 20x OK\r\n"),
            Err(Err::Error(_))
        ));
        assert!(matches!(
            status_line(b"HTTP/1.1 2000 OK\r\n"),
            Err(Err::Error(_))
        ));
        let full = b"HTTP/1.1 301 Moved Permanently\r\n";
        for k in 0..full.len() {
            assert!(is_incomplete(status_line(&full[..k])), "prefix {k}");
        }
    }

    #[test]
    fn header_lines_fold_space_malformed() {
        let input =
            b"Host: example.com\r\nX-Long: a\r\n  b\r\n\tc\r\nHost : x\r\nnocolon\r\n\r\nBODY";
        let (i, l) = header_line(input).unwrap();
        assert_eq!(
            l,
            HeaderLine::Field {
                name: b"Host",
                value: b" example.com",
                space_before_colon: false
            }
        );
        let (i, l) = header_line(i).unwrap();
        match l {
            HeaderLine::Field { name, value, .. } => {
                assert_eq!(name, b"X-Long");
                assert_eq!(unfold_value(value), "a b c");
            }
            other => panic!("{other:?}"),
        }
        let (i, l) = header_line(i).unwrap();
        assert!(matches!(
            l,
            HeaderLine::Field {
                space_before_colon: true,
                ..
            }
        ));
        let (i, l) = header_line(i).unwrap();
        assert_eq!(l, HeaderLine::Malformed(b"nocolon"));
        let (i, l) = header_line(i).unwrap();
        assert_eq!(l, HeaderLine::End);
        assert_eq!(i, b"BODY");
        // Needs the byte after the LF to rule out an obs-fold.
        assert!(is_incomplete(header_line(b"Host: a\r\n")));
    }

    #[test]
    fn header_section_collects_and_joins() {
        let (rest, h) = header_section(
            b"Connection: keep-alive\r\nCONNECTION: Upgrade\r\ncontent-length: 12\r\nContent-Length: 12\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        )
        .unwrap();
        assert!(rest.is_empty());
        assert_eq!(h.connection(), Some("keep-alive, Upgrade"));
        assert_eq!(h.content_length, ContentLength::Valid(12));
        assert_eq!(h.keep_alive.as_deref(), Some("timeout=5"));
        assert!(h.chunked());
        assert_eq!(h.field_count, 6);
        let (_, h) = header_section(b"Content-Length: 3\r\nContent-Length: 4\r\n\r\n").unwrap();
        assert_eq!(h.content_length, ContentLength::Conflicting);
        let (_, h) = header_section(b"Content-Length: -1\r\n\r\n").unwrap();
        assert_eq!(h.content_length, ContentLength::Invalid);
        let (_, h) = header_section(b"Content-Length: 7, 7\r\n\r\n").unwrap();
        assert_eq!(h.content_length, ContentLength::Valid(7));
        let (_, h) = header_section(b"Transfer-Encoding: chunked, gzip\r\n\r\n").unwrap();
        assert!(!h.chunked());
        assert!(h.has_transfer_coding());
        let (_, h) = header_section(b"Transfer-Encoding: identity\r\n\r\n").unwrap();
        assert!(!h.has_transfer_coding());
    }

    /// The section as [`header_line`] parses it line by line (the parser
    /// [`header_section`] replaced on the hot path): the reference the fast
    /// scan must agree with, `Incomplete` included.
    fn header_section_by_lines(mut i: &[u8]) -> IResult<&[u8], MessageHeaders> {
        let mut h = MessageHeaders::default();
        loop {
            let (rest, line) = header_line(i)?;
            i = rest;
            if let HeaderLine::End = line {
                return Ok((i, h));
            }
            collect_line(&mut h, line);
        }
    }

    /// Headers with every field and an issue set: what a reused
    /// [`MessageHeaders`] may hold from the head before.
    fn dirty() -> MessageHeaders {
        let mut h = MessageHeaders::default();
        header_section_into(
            b"Host: a\r\nHost: b\r\nConnection: close\r\nKeep-Alive: max=1\r\n\
              Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\nUpgrade: ws\r\n\
              Expect: 100-continue\r\nContent-Length: 1, 2\r\nbad\r\n\r\n",
            &mut h,
        )
        .unwrap();
        assert!(h.expect.is_some() && h.content_length_raw.is_some() && h.issues.len() == 2);
        h
    }

    fn same_as_by_lines(input: &[u8]) {
        // Parsed into a reused one, the section reads as parsed fresh.
        let mut reused = dirty();
        match (
            header_section_into(input, &mut reused),
            header_section(input),
        ) {
            (Ok(a), Ok((b, h))) => assert_eq!((a, &reused), (b, &h)),
            (Err(Err::Incomplete(_)), Err(Err::Incomplete(_))) => {}
            (a, b) => panic!("{:?}: {a:?} vs {b:?}", escape(input, 200)),
        }
        match (header_section(input), header_section_by_lines(input)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{:?}", escape(input, 200)),
            (Err(Err::Incomplete(_)), Err(Err::Incomplete(_))) => {}
            (a, b) => panic!("{:?}: {a:?} vs {b:?}", escape(input, 200)),
        }
    }

    #[test]
    fn header_section_edge_cases() {
        let (rest, h) = header_section(
            b"Host: a\nConnection:\r\nKeep-Alive : timeout=5\r\nX-F: a\r\n b\r\nbad line\r\n: v\r\nConnection: close\n\nBODY",
        )
        .unwrap();
        assert_eq!(rest, b"BODY");
        assert_eq!(h.host.as_deref(), Some("a"), "bare LF line end");
        assert_eq!(h.connection(), Some(", close"), "empty value joined");
        assert_eq!(h.keep_alive.as_deref(), Some("timeout=5"));
        assert_eq!(h.field_count, 5);
        assert_eq!(
            h.issues,
            [
                "whitespace between header name \"Keep-Alive\" and colon (accepted)",
                "ignored malformed header line \"bad line\"",
                "ignored malformed header line \": v\"",
            ]
        );
        let (_, h) =
            header_section(b"Host: caf\xe9\r\nUpgrade: a\r\n\tb \r\n  c\r\nHOST: x\r\n\r\n")
                .unwrap();
        assert_eq!(
            h.host.as_deref(),
            Some("caf\u{fffd}, x"),
            "non-UTF-8 replaced"
        );
        assert_eq!(h.upgrade.as_deref(), Some("a b c"), "obs-fold");
        assert_eq!(h.issues, ["repeated Host header"]);
        let (_, h) = header_section(b"Content-Length: 5\r\ncontent-length: 5, 5\r\n\r\n").unwrap();
        assert_eq!(h.content_length, ContentLength::Valid(5));
        assert_eq!(h.content_length_raw.as_deref(), Some("5, 5, 5"));
        // Near misses of the kept names are counted, not kept.
        let (_, h) = header_section(
            b"Keep_Alive: a\r\nConnectiom: b\r\nHosu: c\r\nContent-Lengti: 1\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.field_count, 4);
        assert_eq!(
            h,
            MessageHeaders {
                field_count: 4,
                ..MessageHeaders::default()
            }
        );
        // The byte after each LF decides about an obs-fold.
        for cut in [
            &b""[..],
            b"\r",
            b"Host: a\r\n",
            b"Host: a\r\n \r\n",
            b"Host",
        ] {
            assert!(is_incomplete(header_section(cut)), "{cut:?}");
        }
        let (rest, h) = header_section(b"\rX: y\r\n\r\n").unwrap();
        assert!(rest.is_empty());
        assert_eq!(h.issues, ["ignored malformed header line \"\\rX: y\""]);
    }

    #[test]
    fn find_lf_and_tchar_prefix_match_byte_scans() {
        // Bytes next to LF and to the SWAR masks' edges, in every mix.
        const ALPHABET: [u8; 8] = [b'\n', 0x0b, 0x8a, 0x09, 0x00, 0xff, b'\r', b'a'];
        let mut seed = 0x2545_f491_u32;
        for len in 0..40 {
            for _ in 0..60 {
                let b: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        ALPHABET[(seed % 8) as usize]
                    })
                    .collect();
                for from in 0..=len {
                    let want = b[from..].iter().position(|&c| c == b'\n').map(|p| from + p);
                    assert_eq!(find_lf(&b, from), want, "{b:?} from {from}");
                }
                let t: Vec<u8> = b
                    .iter()
                    .map(|&c| if c == b'a' { b'-' } else { c })
                    .collect();
                let want = t.iter().take_while(|&&c| is_tchar(c)).count();
                assert_eq!(tchar_prefix(&t), want, "{t:?}");
            }
        }
        assert_eq!(tchar_prefix(b"Content-Length: 5"), 14);
        assert_eq!(tchar_prefix(b"Host"), 4);
        assert_eq!(find_lf(b"0123456789abcdef\n", 3), Some(16));
        assert_eq!(find_lf(b"abc", 3), None);
    }

    #[test]
    fn line_masks_match_byte_scans() {
        // Every byte value at every position, among name bytes and others.
        for fill in [b'a', b'Z', b'-', b'\n', b':', 0x80, b' '] {
            for at in 0..16 {
                for c in 0..=255u8 {
                    let mut chunk = [fill; 16];
                    chunk[at] = c;
                    assert_eq!(line_masks(&chunk), line_masks_portable(&chunk), "{chunk:?}");
                    assert_eq!(lf_mask(&chunk), line_masks_portable(&chunk).1);
                }
            }
        }
    }

    /// Bytes for names and values that sit next to the classes the 16-byte
    /// masks tell apart: letters at the ends of the ranges, digits, `-`,
    /// other tchar, the colon, whitespace, CR, LF, controls, non-ASCII.
    const EDGE_BYTES: &[u8] = b"aAzZ09-_.:/@[`{ \t\r\n\x00\x7f\x80\xff\xe1\xdaeK";

    /// A run of `len` bytes, each `EDGE_BYTES[k % len]` for the picks `k`,
    /// or plain letters where no pick is left.
    fn edge_run(len: usize, picks: &[(usize, usize)]) -> Vec<u8> {
        let mut run: Vec<u8> = (0..len).map(|n| b'a' + (n % 26) as u8).collect();
        for &(at, k) in picks {
            if len > 0 {
                run[at % len] = EDGE_BYTES[k % EDGE_BYTES.len()];
            }
        }
        run
    }

    const EDGE_LENS: &[usize] = &[0, 1, 4, 14, 15, 16, 17, 30, 31, 32, 33, 47, 48, 63, 64, 65];

    proptest::proptest! {
        #![proptest_config(cases(256))]

        /// Names and values whose lengths put the colon, CR and LF at and
        /// around the 16-byte chunk edges, with odd bytes dropped in: the
        /// scan gives what the line-by-line parser gives, for every prefix.
        #[test]
        fn header_section_agrees_at_chunk_edges(
            lines in proptest::collection::vec(
                (
                    0..EDGE_LENS.len(),
                    proptest::collection::vec((0..70usize, 0..64usize), 0..3),
                    0..SEPS.len(),
                    0..EDGE_LENS.len(),
                    proptest::collection::vec((0..70usize, 0..64usize), 0..3),
                    0..EOLS.len(),
                ),
                1..5,
            ),
            last in 0..EOLS.len(),
        ) {
            let mut input = Vec::new();
            for (nl, np, s, vl, vp, e) in lines {
                input.extend(edge_run(EDGE_LENS[nl], &np));
                input.extend_from_slice(SEPS[s]);
                input.extend(edge_run(EDGE_LENS[vl], &vp));
                input.extend_from_slice(EOLS[e]);
            }
            input.extend_from_slice(EOLS[last]);
            input.extend_from_slice(b"BODY and more bytes after it");
            for end in 0..=input.len() {
                same_as_by_lines(&input[..end]);
            }
        }
    }

    #[test]
    fn start_line_masks_match_byte_scans() {
        for fill in [b'a', b' ', b'\t', b'\r', b'\n', 0x80] {
            for at in 0..16 {
                for c in 0..=255u8 {
                    let mut chunk = [fill; 16];
                    chunk[at] = c;
                    assert_eq!(space_eol_mask(&chunk), space_eol_mask_portable(&chunk));
                    assert_eq!(cr_lf_mask(&chunk), cr_lf_mask_portable(&chunk));
                }
            }
        }
    }

    #[test]
    fn common_connection_is_exact() {
        for (k, c) in COMMON_CONNECTION.iter().enumerate() {
            assert_eq!(common_connection(c.as_bytes()), k as u8 + 1);
            // Any one byte changed, and any length around it, is not common.
            for at in 0..c.len() {
                for b in [b'x', b' ', c.as_bytes()[at] ^ 0x20, 0] {
                    let mut v = c.as_bytes().to_vec();
                    v[at] = b;
                    let want = COMMON_CONNECTION.iter().position(|m| m.as_bytes() == v);
                    assert_eq!(common_connection(&v), want.map_or(0, |k| k as u8 + 1));
                }
            }
            for extra in [&b" "[..], b"x", b"ee", b"-alive"] {
                assert_eq!(common_connection(&[c.as_bytes(), extra].concat()), 0);
                assert_eq!(common_connection(&[extra, c.as_bytes()].concat()), 0);
            }
        }
        assert_eq!(common_connection(b""), 0);
        assert_eq!(common_connection(b"keep"), 0);
    }

    #[test]
    fn short_plain_lines() {
        let two = |b: &[u8]| -> [u8; 32] {
            let mut t = [b'x'; 32];
            let n = b.len().min(32);
            t[..n].copy_from_slice(&b[..n]);
            t
        };
        assert_eq!(
            short_plain_line(&two(b"Server: nginx/1.22.1\r\n")),
            Some((6, Some(21)))
        );
        assert_eq!(
            short_plain_line(&two(b"Content-Length: 100\r\n")),
            Some((14, Some(20)))
        );
        assert_eq!(short_plain_line(&two(b"A:\n")), Some((1, Some(2))));
        // LF past the 32 bytes.
        let date = b"Date: Sat, 05 Dec 2026 03:14:17 GMT\r\n";
        assert_eq!(short_plain_line(&two(date)), Some((4, None)));
        // A name of 16 or more, not a plain name, the end.
        assert_eq!(short_plain_line(&two(b"X-Sixteen-Bytes-: v\r\n")), None);
        assert_eq!(short_plain_line(&two(b"X_Y: v\r\n")), None);
        assert_eq!(short_plain_line(&two(b"Host : v\r\n")), None);
        assert_eq!(short_plain_line(&two(b":v\r\n")), None);
        assert_eq!(short_plain_line(&two(b"\r\nBODY")), None);
        // An LF before the colon is not the line's end.
        assert_eq!(short_plain_line(&two(b"A\n:\n")), None);
        // Lines ending within the 32 bytes, within the 16 after them (read by
        // the loop), and past them (left to the step) all read the same.
        for len in [31, 32, 33, 47, 48, 49, 63] {
            let mut head = b"Connection: ".to_vec();
            head.resize(len - 1, b'k');
            head.extend_from_slice(b"\nX-Next: 1\r\n\r\nbody bytes after it, thirty-two+");
            let (rest, h) = header_section(&head).unwrap();
            assert_eq!(h.connection().map(str::len), Some(len - 13));
            assert_eq!((h.field_count, rest.len()), (2, 32));
        }
    }

    #[test]
    fn plain_start_lines_take_the_short_path() {
        // The lines of the request-dense bench capture, and longer ones.
        let (rest, l) =
            request_line_plain(b"GET /b HTTP/1.1\r\nHost: 10.77.0.1:28080\r\n").unwrap();
        assert_eq!((l.method, l.target), (&b"GET"[..], &b"/b"[..]));
        assert_eq!(rest, b"Host: 10.77.0.1:28080\r\n");
        let long = b"M-SEARCH /a/very/long/target/past/sixteen?bytes=1 HTTP/1.0\r\nX: y\r\n\r\n";
        let (_, l) = request_line_plain(long).unwrap();
        assert_eq!(l.target, b"/a/very/long/target/past/sixteen?bytes=1");
        assert_eq!(l.version, HttpVersion::Http10);
        let (rest, s) = status_line_plain(b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n").unwrap();
        assert_eq!((s.status, s.reason), (200, &b"OK"[..]));
        assert_eq!(rest, b"Server: nginx/1.22.1\r\n");
        let (_, s) = status_line_plain(b"HTTP/1.0 404\r\nServer: nginx/1.22.1\r\n").unwrap();
        assert_eq!(
            (s.version, s.status, s.reason),
            (HttpVersion::Http10, 404, &b""[..])
        );
        // Others are left to the byte scans.
        for line in [
            &b"GET  /b HTTP/1.1\r\nHost: 10.77.0.1:28080\r\n"[..],
            b"GET /b HTTP/1.1\nHost: 10.77.0.1:28080\r\n",
            b"GET /b HTTP/1.1 \r\nHost: 10.77.0.1:28080\r\n",
            b"GET /b HTTP/1.1\r\n",
        ] {
            assert!(request_line_plain(line).is_none(), "{}", escape(line, 80));
            assert!(request_line(line).is_ok());
        }
        for line in [
            &b"HTTP/1.1 200  OK\r\nServer: nginx/1.22.1\r\n"[..],
            b"HTTP/1.1 200 OK\nServer: nginx/1.22.1\r\n",
            b"HTTP/1.1 200 OK\r\n",
        ] {
            assert!(status_line_plain(line).is_none(), "{}", escape(line, 80));
            assert!(status_line(line).is_ok());
        }
    }

    const START_SEPS: &[&[u8]] = &[b" ", b"  ", b"\t", b""];
    const START_VERSIONS: &[&[u8]] = &[
        b"HTTP/1.1",
        b"HTTP/1.0",
        b"HTTP/1.2",
        b"HTTP/1.",
        b"http/1.1",
    ];
    const START_EOLS: &[&[u8]] = &[b"\r\n", b"\n", b" \r\n", b"\r", b"\rx"];
    const METHODS: &[&[u8]] = &[b"GET", b"M-SEARCH", b"", b"G(T", b"POST"];
    const STATUSES: &[&[u8]] = &[b"200", b"20", b"2000", b"20x", b"404"];

    proptest::proptest! {
        #![proptest_config(cases(256))]

        /// Request and status lines with targets and reasons sized around
        /// the 16-byte chunk edges and odd bytes in them, followed by more
        /// of the head (so the short paths can take them): every prefix
        /// parses as the `nom` parsers do.
        #[test]
        fn plain_start_lines_agree_with_nom(
            method in 0..METHODS.len(),
            status in 0..STATUSES.len(),
            sep1 in 0..START_SEPS.len(),
            len in 0..EDGE_LENS.len(),
            picks in proptest::collection::vec((0..70usize, 0..64usize), 0..3),
            sep2 in 0..START_SEPS.len(),
            version in 0..START_VERSIONS.len(),
            eol in 0..START_EOLS.len(),
        ) {
            let run = edge_run(EDGE_LENS[len], &picks);
            let mut request = METHODS[method].to_vec();
            let mut response = START_VERSIONS[version].to_vec();
            response.extend_from_slice(START_SEPS[sep1]);
            response.extend_from_slice(STATUSES[status]);
            request.extend_from_slice(START_SEPS[sep1]);
            request.extend_from_slice(&run);
            request.extend_from_slice(START_SEPS[sep2]);
            request.extend_from_slice(START_VERSIONS[version]);
            response.extend_from_slice(START_SEPS[sep2]);
            response.extend_from_slice(&run);
            for input in [&mut request, &mut response] {
                input.extend_from_slice(START_EOLS[eol]);
                input.extend_from_slice(b"Host: example.com:8080\r\n\r\n");
            }
            for end in 0..=request.len() {
                let b = &request[..end];
                same_outcome(b, request_line(b), nom_reference::request_line(b));
            }
            for end in 0..=response.len() {
                let b = &response[..end];
                same_outcome(b, status_line(b), nom_reference::status_line(b));
            }
        }
    }

    #[test]
    fn eq_name_is_ascii_case_insensitive() {
        fn check<const N: usize>(name: &[u8; N]) {
            let mut upper = *name;
            upper.make_ascii_uppercase();
            assert!(eq_name(&upper, name) && eq_name(name, name));
            // Any one byte changed, to anything.
            for k in 0..N {
                for c in 0..=255u8 {
                    let mut n = *name;
                    n[k] = c;
                    assert_eq!(eq_name(&n, name), n.eq_ignore_ascii_case(name), "{n:?}");
                }
            }
            assert!(!eq_name(&name[1..], name));
            assert!(!eq_name(&[name.as_slice(), b"x"].concat(), name));
        }
        check(b"host");
        check(b"expect");
        check(b"upgrade");
        check(b"connection");
        check(b"keep-alive");
        check(b"content-length");
        check(b"content-encoding");
        check(b"transfer-encoding");
    }

    #[test]
    fn kept_first_letters_are_the_kept_names() {
        let kept: &[&[u8]] = &[
            b"host",
            b"expect",
            b"upgrade",
            b"connection",
            b"keep-alive",
            b"content-length",
            b"content-encoding",
            b"transfer-encoding",
        ];
        for (len, first) in KEPT_FIRST.iter().enumerate() {
            let mut want: Vec<u8> = kept
                .iter()
                .filter(|n| n.len() == len)
                .map(|n| n[0])
                .collect();
            want.resize(2, 0);
            assert_eq!(first[..], want[..], "length {len}");
        }
        // Every name kept is reached: a section with all of them, in
        // either case, keeps each.
        for upper in [false, true] {
            let mut section = Vec::new();
            for n in kept {
                let n = if upper {
                    n.to_ascii_uppercase()
                } else {
                    n.to_vec()
                };
                section.extend_from_slice(&[&n[..], b": 1\r\n"].concat());
            }
            section.extend_from_slice(b"\r\n");
            let (_, h) = header_section(&section).unwrap();
            let all = [
                &h.host,
                &h.expect,
                &h.upgrade,
                &h.connection_text,
                &h.keep_alive,
                &h.content_length_raw,
                &h.content_encoding,
                &h.transfer_encoding,
            ];
            assert!(all.iter().all(|v| v.as_deref() == Some("1")), "{h:?}");
            assert_eq!(h.connection(), Some("1"));
        }
    }

    #[test]
    fn value_text_matches_unfold_value() {
        for raw in [
            &b" keep-alive "[..],
            b"",
            b" \t",
            b"a\rb",
            b"\xff\xfe x",
            b"caf\xc3\xa9\r",
            b"\t5, 6 ",
        ] {
            let v = value_text(raw, false);
            assert_eq!(v, unfold_value(raw), "{raw:?}");
            assert_eq!(value_text(raw, true), unfold_value(raw));
        }
        assert!(matches!(value_text(b" ok ", false), Cow::Borrowed("ok")));
    }

    proptest::proptest! {
        #![proptest_config(cases(256))]

        /// Sections built line by line from header-ish pieces (names kept
        /// and not, whitespace before and after the colon, missing colons,
        /// CR/LF endings, obs-folds, non-UTF-8, stray CRs): the fast scan
        /// gives what the line-by-line parser gives, for every prefix.
        #[test]
        fn header_section_agrees_with_header_line(
            lines in proptest::collection::vec(
                (0..NAMES.len(), 0..SEPS.len(), 0..VALUES.len(), 0..EOLS.len()),
                0..8,
            ),
            last in 0..EOLS.len(),
        ) {
            let mut input = Vec::new();
            for (n, s, v, e) in lines {
                for part in [NAMES[n], SEPS[s], VALUES[v], EOLS[e]] {
                    input.extend_from_slice(part);
                }
            }
            input.extend_from_slice(EOLS[last]);
            input.extend_from_slice(b"BODY");
            for end in 0..=input.len() {
                same_as_by_lines(&input[..end]);
            }
        }
    }

    /// What `feed_head` relies on to parse a head held whole in one pass:
    /// when the unbounded bytes parse as a head, the parse ends where
    /// [`find_head_end`] finds the end, parsing just the head gives the same,
    /// and the bytes are a plausible message start.
    fn whole_parse_is_bounded_parse(data: &[u8]) {
        let ctx = || escape(data, 200);
        if let Ok((rest, rh)) = request_head(data) {
            let end = data.len() - rest.len();
            assert_eq!(find_head_end(data, 0), Ok(end), "{}", ctx());
            let (r, b) = request_head(&data[..end]).unwrap();
            assert!(r.is_empty());
            assert_eq!((rh.line, rh.headers), (b.line, b.headers), "{}", ctx());
            assert_eq!(looks_like_http_request(data), Some(true), "{}", ctx());
        }
        if let Ok((rest, rh)) = response_head(data) {
            let end = data.len() - rest.len();
            assert_eq!(find_head_end(data, 0), Ok(end), "{}", ctx());
            let (r, b) = response_head(&data[..end]).unwrap();
            assert!(r.is_empty());
            assert_eq!((rh.line, rh.headers), (b.line, b.headers), "{}", ctx());
            assert_eq!(looks_like_http_response(data), Some(true), "{}", ctx());
        }
    }

    proptest::proptest! {
        #![proptest_config(cases(256))]

        /// Heads (good and bad start lines, header lines as above) followed
        /// by more bytes, cut anywhere.
        #[test]
        fn whole_head_parse_ends_where_find_head_end_does(
            start in 0..STARTS.len(),
            lines in proptest::collection::vec(
                (0..NAMES.len(), 0..SEPS.len(), 0..VALUES.len(), 0..EOLS.len()),
                0..6,
            ),
            last in 0..EOLS.len(),
            after in 0..STARTS.len(),
        ) {
            let mut input = STARTS[start].to_vec();
            for (n, s, v, e) in lines {
                for part in [NAMES[n], SEPS[s], VALUES[v], EOLS[e]] {
                    input.extend_from_slice(part);
                }
            }
            input.extend_from_slice(EOLS[last]);
            input.extend_from_slice(STARTS[after]);
            for end in 0..=input.len() {
                whole_parse_is_bounded_parse(&input[..end]);
            }
        }
    }

    const STARTS: &[&[u8]] = &[
        b"GET /a HTTP/1.1\r\n",
        b"POST  *\tHTTP/1.0 \n",
        b"GET /a HTTP/1.1",
        b"GET /a\x1bb HTTP/1.1\r\n",
        b"GET /a HTTP/2.0\r\n",
        b"GET /a\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.0 204\n",
        b"HTTP/1.1 404 Not \xffFound \r\n",
        b"HTTP/1.1 20x OK\r\n",
        b"HTTP/1.1 200 OK\r\r\n",
        b"\r\n",
        b"\n\n",
        b"",
    ];

    const NAMES: &[&[u8]] = &[
        b"Host",
        b"host",
        b"Connection",
        b"KEEP-ALIVE",
        b"Content-Length",
        b"Transfer-Encoding",
        b"content-encoding",
        b"Upgrade",
        b"Expect",
        b"X-Other",
        b"",
        b" Host",
        b"Bad Name",
        b"\rHost",
        b"Ho(st",
        b"Keep_Alive",
        b"Connectiom",
        b"HOSU",
        b"content-lengtH",
    ];
    const SEPS: &[&[u8]] = &[b":", b": ", b" :", b"\t : ", b"", b" ", b"::", b"\r:"];
    const VALUES: &[&[u8]] = &[
        b"",
        b"12",
        b" -1 ",
        b"5, 5",
        b"chunked",
        b"keep-alive\t",
        b"a b",
        b"\xff\xfe",
        b"caf\xc3\xa9",
        b"\x00",
        b"a\rb",
        b"x\r\n y",
        b"x\n\t\r\n z",
    ];
    const EOLS: &[&[u8]] = &[b"\r\n", b"\n", b"\r\n ", b"\n\t", b"\r\r\n", b"\r", b""];

    #[test]
    fn find_head_end_resumes() {
        let head = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody";
        assert_eq!(find_head_end(head, 0), Ok(head.len() - 4));
        let mut resume = 0;
        for k in 0..head.len() - 4 {
            match find_head_end(&head[..k], resume) {
                Ok(e) => panic!("found early at {e} for prefix {k}"),
                Err(r) => {
                    assert!(r >= resume && r <= k);
                    resume = r;
                }
            }
        }
        assert_eq!(
            find_head_end(&head[..head.len() - 4], resume),
            Ok(head.len() - 4)
        );
        assert_eq!(find_head_end(b"GET / HTTP/1.0\n\nX", 0), Ok(16));
        assert_eq!(find_head_end(b"A\r\nB\r\r\n", 0), Err(6));
    }

    #[test]
    fn chunk_size_line_parser() {
        assert_eq!(
            chunk_size_line(b"1a;name=\"v\"\r\nX"),
            Ok((&b"X"[..], (26, &b";name=\"v\""[..])))
        );
        assert_eq!(chunk_size_line(b"0\nX"), Ok((&b"X"[..], (0, &b""[..]))));
        assert!(is_incomplete(chunk_size_line(b"ff")));
        assert!(chunk_size_line(b"zz\r\n").is_err());
    }

    #[test]
    fn chunked_decoder_over_all_splits() {
        let body: &[u8] =
            b"5;ext=1\r\nhello\r\n1A ; foo=\"bar\"\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nExpires: never\r\nX-T: 1\r\n\r\nNEXT";
        let body_len = body.len() - 4;
        for a in 0..=body.len() {
            for b in a..=body.len() {
                let mut d = ChunkedDecoder::new();
                let mut consumed = 0;
                let mut done = false;
                for part in [&body[..a], &body[a..b], &body[b..]] {
                    if done {
                        break;
                    }
                    let (n, st) = d.feed(part);
                    consumed += n;
                    match st {
                        ChunkStatus::Done => done = true,
                        ChunkStatus::NeedMore => assert_eq!(n, part.len()),
                        ChunkStatus::Error(e) => panic!("{e} at split {a},{b}"),
                    }
                }
                assert!(done, "split {a},{b}");
                assert_eq!(consumed, body_len);
                assert_eq!(d.decoded, 31);
                assert_eq!(d.chunks, 2);
                assert_eq!(d.trailers, 2);
            }
        }
    }

    #[test]
    fn chunked_decoder_errors_and_gaps() {
        let mut d = ChunkedDecoder::new();
        assert_eq!(
            d.feed(b"xyz").1,
            ChunkStatus::Error("expected a hex chunk size")
        );
        let mut d = ChunkedDecoder::new();
        assert_eq!(
            d.feed(b"3\r\nabcd").1,
            ChunkStatus::Error("missing CRLF after chunk data")
        );
        let mut d = ChunkedDecoder::new();
        assert_eq!(
            d.feed(b"11111111111111111\r\n").1,
            ChunkStatus::Error("chunk size too large")
        );
        let mut d = ChunkedDecoder::new();
        assert_eq!(d.feed(b"a\r\nabc"), (6, ChunkStatus::NeedMore));
        assert_eq!(d.data_remaining(), Some(7));
        assert!(d.skip_gap(7));
        assert_eq!(d.feed(b"\n0\n\n"), (4, ChunkStatus::Done));
        assert_eq!(d.decoded, 10);
        let mut d = ChunkedDecoder::new();
        d.feed(b"2\r\nab");
        assert!(!d.skip_gap(1), "gap outside chunk data loses sync");
    }

    #[test]
    fn detection() {
        assert_eq!(looks_like_http_request(b"GET / HTTP/1.1\r\n"), Some(true));
        assert_eq!(looks_like_http_request(b"GET /very/long"), Some(true));
        assert_eq!(looks_like_http_request(b"GE"), None);
        assert_eq!(looks_like_http_request(b""), None);
        assert_eq!(looks_like_http_request(b"FROB /x HTTP/1.1\r\n"), Some(true));
        assert_eq!(looks_like_http_request(b"FROB /x"), None);
        assert_eq!(
            looks_like_http_request(b"\x16\x03\x01\x00\xa5\x01"),
            Some(false)
        );
        assert_eq!(
            looks_like_http_request(b"SSH-2.0-OpenSSH_9.6\r\n"),
            Some(false)
        );
        assert_eq!(
            looks_like_http_request(b"PRI * HTTP/2.0\r\n\r\nSM"),
            Some(false)
        );
        assert_eq!(looks_like_http_request(b"HTTP/1.1 200 OK\r\n"), Some(false));
        assert_eq!(looks_like_http_response(b"HTTP/1.1 200 OK\r\n"), Some(true));
        assert_eq!(looks_like_http_response(b"HTTP/1.0 404"), None);
        assert_eq!(looks_like_http_response(b"HTTP/1.0 404\r"), Some(true));
        assert_eq!(looks_like_http_response(b"HTT"), None);
        assert_eq!(looks_like_http_response(b"HTTP/2 200"), Some(false));
        assert_eq!(looks_like_http_response(b"GET / HTTP/1.1"), Some(false));
        assert_eq!(request_start_strict(b"GET /a HTTP/1.1\r\n"), Some(true));
        assert_eq!(request_start_strict(b"FROB /a HTTP/1.1\r\n"), Some(false));
        assert_eq!(request_start_strict(b"POS"), None);
        assert_eq!(request_start_strict(b"GET /a HT"), None);
        assert_eq!(request_start_strict(b"GET /a and more\r\n"), Some(false));
    }

    #[test]
    fn embedded_starts() {
        let d = b"{\"a\":1}GET /next HTTP/1.1\r\nHost: x\r\n";
        assert_eq!(embedded_request_start(d, 0, d.len()), Some((7, Some(true))));
        let d = b"xxUNLOCK /r HTTP/1.1\r\n";
        assert_eq!(embedded_request_start(d, 0, d.len()), Some((2, Some(true))));
        let d = b"see RFC: send HTTP/1.1 please\n";
        assert_eq!(embedded_request_start(d, 0, d.len()), None);
        let d = b"tailGET /a HTTP/1.1";
        assert_eq!(embedded_request_start(d, 0, d.len()), Some((4, None)));
        let d = b"hello worldHTTP/1.1 200 OK\r\n";
        assert_eq!(
            embedded_response_start(d, 0, d.len()),
            Some((11, Some(true)))
        );
        let d = b"HTTP HTTP/1.x HTTP/1.0 2";
        assert_eq!(embedded_response_start(d, 0, d.len()), Some((14, None)));
        assert_eq!(embedded_response_start(b"Hi HTTP/2 200", 0, 13), None);
        assert_eq!(find_subslice(b"abcabd", b"abd"), Some(3));
        assert_eq!(find_subslice(b"ab", b"abc"), None);
    }

    #[test]
    fn tchar_table_is_rfc9110_tchar() {
        let extra = b"!#$%&'*+-.^_`|~";
        for c in 0..=255u8 {
            let want = c.is_ascii_alphanumeric() || extra.contains(&c);
            assert_eq!(is_tchar(c), want, "byte {c:#04x}");
        }
    }

    #[test]
    fn lossy_text_is_from_utf8_lossy() {
        for b in [
            &b"GET"[..],
            b"/a?b",
            b"",
            b"caf\xc3\xa9",
            b"\xff/x",
            b"a\x00\x7f",
        ] {
            assert_eq!(lossy_text(b), CompactString::from_utf8_lossy(b), "{b:?}");
        }
    }

    #[test]
    fn skip_host_leaves_only_the_host_out() {
        for section in [
            &b"Host: a\r\nConnection: close\r\n\r\n"[..],
            b"HOST: a\r\nhost: b\r\nX: y\r\n\r\n",
            b"X: y\r\n\r\n",
        ] {
            let (_, mut want) = header_section(section).unwrap();
            let mut h = dirty();
            h.skip_host = true;
            header_section_into(section, &mut h).unwrap();
            assert!(h.skip_host && h.host.is_none());
            want.host = None;
            want.skip_host = true;
            assert_eq!(h, want);
        }
    }

    #[test]
    fn content_length_raw_is_every_value_joined() {
        // Plain digits (kept as a count), other text, in every order.
        let values = [
            "5",
            "5",
            "6",
            "05",
            " 5 ",
            "5, 5",
            "",
            "x",
            "0",
            "12345678901234567890",
        ];
        let mut seqs: Vec<Vec<&str>> = vec![vec![]];
        for _ in 0..3 {
            let longer: Vec<Vec<&str>> = seqs
                .iter()
                .flat_map(|s| values.iter().map(move |v| [&s[..], &[*v]].concat()))
                .collect();
            seqs.extend(longer);
        }
        seqs.sort();
        seqs.dedup();
        for seq in seqs {
            let mut section = String::new();
            for v in &seq {
                section.push_str(&format!("Content-Length:{v}\r\n"));
            }
            section.push_str("\r\n");
            let (_, h) = header_section(section.as_bytes()).unwrap();
            let want = (!seq.is_empty()).then(|| {
                let trimmed: Vec<&str> = seq.iter().map(|v| v.trim()).collect();
                trimmed.join(", ")
            });
            assert_eq!(h.content_length_raw.as_deref(), want.as_deref(), "{seq:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(cases(2048))]

        /// `decimal` reads what `str::parse::<u64>` reads of 1 to 19 ASCII
        /// digits, and nothing else.
        #[test]
        fn decimal_agrees_with_parse(s in "[0-9+\\- a/:]{0,21}") {
            let want = (s.len() <= 19 && !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
                .then(|| s.parse::<u64>().ok())
                .flatten();
            proptest::prop_assert_eq!(decimal(s.as_bytes()), want);
        }
    }

    #[test]
    fn content_length_values() {
        let cl = |v: &str| merge_content_length(ContentLength::Absent, v);
        assert_eq!(cl("0"), ContentLength::Valid(0));
        assert_eq!(cl("\t12 ,12"), ContentLength::Valid(12));
        assert_eq!(
            cl("9999999999999999999"),
            ContentLength::Valid(9_999_999_999_999_999_999)
        );
        for bad in [
            "",
            "5,",
            " , 5",
            "+5",
            "-1",
            "5 5",
            "0x10",
            "١",
            "18446744073709551615",
        ] {
            assert_eq!(cl(bad), ContentLength::Invalid, "{bad:?}");
        }
        assert_eq!(cl("3, 4"), ContentLength::Conflicting);
        assert_eq!(cl("3, 4, x"), ContentLength::Invalid);
        assert_eq!(
            merge_content_length(ContentLength::Valid(3), "3"),
            ContentLength::Valid(3)
        );
        assert_eq!(
            merge_content_length(ContentLength::Invalid, "3"),
            ContentLength::Invalid
        );
    }

    proptest::proptest! {
        #![proptest_config(cases(2048))]

        /// The one-number short cut gives what the split into parts gives,
        /// after every earlier state.
        #[test]
        fn content_length_short_cut_agrees_with_parts(
            value in "[0-9 ,\t+x]{0,22}",
            prev in 0..5usize,
        ) {
            let prev = [
                ContentLength::Absent,
                ContentLength::Valid(7),
                ContentLength::Valid(0),
                ContentLength::Invalid,
                ContentLength::Conflicting,
            ][prev];
            let mut want = prev;
            for part in value.as_bytes().split(|&c| c == b',') {
                want = merge_one_length(want, decimal(trim_sp_ht(part)));
            }
            proptest::prop_assert_eq!(merge_content_length(prev, &value), want);
        }
    }

    #[test]
    fn unfold_and_escape() {
        assert_eq!(unfold_value(b"  a,\r\n   b \t"), "a, b");
        assert_eq!(unfold_value(b"x\n\ty"), "x y");
        assert_eq!(escape(b"a\r\n\x00", 10), "a\\r\\n\\x00");
        assert_eq!(escape(b"abcdef", 3), "abc…");
    }
}
