//! TLS record and handshake inspector (no keys: only what is visible on the wire).
//!
//! [`TlsInspector`] is fed the in-order byte streams of one TCP connection (both
//! directions, interleaved in capture order). It reassembles TLS records across
//! segments and handshake messages across records, parses the cleartext hellos,
//! follows the switch to encryption, counts application-data records and estimates
//! request/response exchanges. It buffers only partial records and partial
//! handshake messages (bounded), skips application-data bodies without copying and
//! never panics, whatever the input.

pub mod crypto;
pub mod decrypt;
pub mod keylog;
mod parse;
#[cfg(test)]
mod tests;

pub use decrypt::{Plain, Why};
pub use keylog::KeyStore;
pub use parse::{is_grease, version_name, HRR_RANDOM};

use decrypt::Decryptor;
use std::sync::Arc;

use crate::inspect::warnings::Warnings;
use crate::time::Timestamp;
use crate::Direction;
use serde::Serialize;

/// Largest legal TLSCiphertext fragment (2^14 + 2048).
pub const MAX_RECORD_LEN: usize = 16384 + 2048;
/// Largest handshake message buffered for parsing (ClientHello / ServerHello);
/// other handshake messages are skipped without buffering, whatever their size.
pub const MAX_HANDSHAKE_MSG: usize = 64 * 1024;
/// In TLS 1.3 an application-data record this short (or shorter) carries at most a few
/// bytes of plaintext behind the 16-byte AEAD tag: an encrypted alert (close_notify is
/// 19 bytes) or a KeyUpdate (22 bytes), not a request or response. Such records are
/// counted as application records but do not take part in the exchange estimate.
pub const TLS13_TINY_RECORD: usize = 24;
const MAX_WARNINGS: usize = 32;

const CT_CCS: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APP_DATA: u8 = 23;
const CT_HEARTBEAT: u8 = 24;

/// What a connection's TLS looked like, as far as cleartext shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TlsInfo {
    /// Negotiated version: "ssl3", "1.0", "1.1", "1.2", "1.3", "1.3-draftNN", "1.3-fbNN",
    /// or "0xNNNN". TLS 1.3 comes from ServerHello's supported_versions. `None` until a
    /// ServerHello (or HelloRetryRequest) is seen.
    pub version: Option<String>,
    pub sni: Option<String>,
    /// ALPN protocols of the (first) ClientHello, in order.
    pub alpn_offered: Vec<String>,
    /// ALPN selected in a cleartext ServerHello (TLS ≤ 1.2). In TLS 1.3 it sits in the
    /// encrypted EncryptedExtensions, so this stays `None`.
    pub alpn: Option<String>,
    /// supported_versions of the first ClientHello (GREASE removed), or its
    /// legacy_version alone when the extension is absent.
    pub versions_offered: Vec<String>,
    /// Cleartext ClientHellos. A HelloRetryRequest makes 2 in one handshake.
    pub client_hellos: u32,
    /// Handshakes seen (each ClientHello that is not the answer to a HelloRetryRequest).
    /// Renegotiations count only when visible (cleartext); see `encrypted_renegotiation`.
    pub handshakes: u32,
    /// Handshakes that were full: Certificate / ServerKeyExchange / ServerHelloDone seen
    /// (TLS ≤ 1.2), or a TLS 1.3 ServerHello without pre_shared_key.
    pub full_handshakes: u32,
    /// At least one handshake resumed a session.
    pub resumed: bool,
    /// How the first resumed handshake resumed: "psk" (TLS 1.3 ServerHello with
    /// pre_shared_key), "session-id" (TLS ≤ 1.2 ServerHello echoes the client's non-empty
    /// session ID; also when a ticket was presented too, since a server accepting a
    /// ticket echoes the ID as well: check `session_ticket_offered`), or
    /// "session-ticket" (no echo, but ServerHello is followed by ChangeCipherSpec without
    /// Certificate).
    pub resumption: Option<String>,
    /// The server sent a HelloRetryRequest.
    pub hello_retry: bool,
    /// A cleartext server Certificate message was seen (never in TLS 1.3).
    pub certificate_seen: bool,
    /// A ClientHello presented a non-empty session ticket (an empty session_ticket
    /// extension only asks for a new one and does not count).
    pub session_ticket_offered: bool,
    /// The server sent a cleartext NewSessionTicket (TLS ≤ 1.2).
    pub session_ticket_issued: bool,
    /// A ClientHello carried pre_shared_key (TLS 1.3 resumption attempt).
    pub psk_offered: bool,
    /// A ClientHello carried early_data (0-RTT offered).
    pub early_data: bool,
    /// Client application-data records sent before the ServerHello (0-RTT data).
    pub early_data_records: u32,
    /// ESTIMATE of request/response exchanges, see [`TlsInspector`] for the rule.
    pub exchanges: u32,
    /// Bytes of application-data record bodies (ciphertext, after the handshake).
    pub client_app_bytes: u64,
    pub server_app_bytes: u64,
    /// Application-data records after the handshake, `[client, server]`.
    pub app_records: [u32; 2],
    /// Encrypted handshake records, `[client, server]`: Finished and renegotiation in
    /// TLS ≤ 1.2; in TLS 1.3 the server flight after ServerHello and the client Finished.
    pub encrypted_handshake_records: [u32; 2],
    /// Encrypted alert records (TLS ≤ 1.2, content type 21 after ChangeCipherSpec),
    /// `[client, server]`; normally close_notify.
    pub encrypted_alerts: [u32; 2],
    /// When each side (`[client, server]`) probably sent its close_notify: the first
    /// encrypted alert record (TLS ≤ 1.2), or a TLS 1.3 application-data record of at
    /// most 24 bytes that stayed that side's last one. Null when none was seen.
    pub close_notify: [Option<Timestamp>; 2],
    /// TLS ≤ 1.2: more encrypted handshake records after both Finished messages, i.e. an
    /// (encrypted) renegotiation or HelloRequest. Not counted in `handshakes`.
    pub encrypted_renegotiation: bool,
    /// First cleartext alert, "level/description" (e.g. "fatal/handshake_failure").
    pub alert: Option<String>,
    pub alert_from: Option<Direction>,
    /// Negotiated cipher suite, IANA name (`TLS_AES_128_GCM_SHA256`), from the
    /// ServerHello; `0xNNNN` for a code point keepwatch does not know.
    pub cipher: Option<String>,
    /// Which directions were decrypted with a key log (`--keylog`).
    pub decrypted: Decrypted,
    /// Why a direction was not decrypted (null when both were, or without keys).
    pub not_decrypted: Option<String>,
    /// Protected records decrypted, `[client, server]`.
    pub decrypted_records: [u64; 2],
    /// Protected records that could not be decrypted (no key, wrong key, lost), `[client, server]`.
    pub undecrypted_records: [u64; 2],
    /// A close_notify alert was seen decrypted (a certainty, where `close_notify`
    /// is the wire's best guess), `[from client, from server]`.
    pub close_notify_decrypted: [bool; 2],
    /// TLS 1.3 KeyUpdate messages seen (decrypted).
    pub key_updates: u32,
    /// First ClientHello.
    pub first_handshake_time: Option<Timestamp>,
    /// When the first handshake completed: the later of both Finished records
    /// (TLS ≤ 1.2) or the client Finished (TLS 1.3).
    pub handshake_done_time: Option<Timestamp>,
    /// Records and handshake messages skipped because they could not be
    /// parsed (invalid record header, malformed or oversized handshake
    /// message, zero-length handshake record); each kind is warned.
    pub malformed_messages: u32,
}

/// Which directions of a connection were decrypted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Decrypted {
    pub client: bool,
    pub server: bool,
}

impl TlsInfo {
    /// Both directions decrypted: requests and responses are exact, the
    /// exchange estimate is not needed.
    pub fn fully_decrypted(&self) -> bool {
        self.decrypted.client && self.decrypted.server
    }
}

#[derive(Debug)]
enum RecState {
    /// Collecting the 5-byte record header.
    Header { buf: [u8; 5], n: usize },
    /// Collecting the body of a record we parse (handshake / alert / CCS).
    Body { typ: u8, len: usize, buf: Vec<u8> },
    /// Skipping a record body (application data, encrypted records).
    Skip { remaining: usize },
    /// Collecting a protected record to decrypt (a key log is loaded).
    Sealed { hdr: [u8; 5], buf: Vec<u8> },
    /// Lost sync (gap or invalid header): scanning for a plausible record header.
    Resync { buf: Vec<u8> },
}

impl Default for RecState {
    fn default() -> Self {
        RecState::Header { buf: [0; 5], n: 0 }
    }
}

#[derive(Debug, Default)]
struct DirState {
    rec: RecState,
    /// Partial handshake message (header + body) being reassembled across records.
    hs_buf: Vec<u8>,
    /// Bytes of an uninteresting (or oversized) handshake message still to skip.
    hs_skip: usize,
    /// This direction switched to encrypted records.
    encrypted: bool,
    /// TLS ≤ 1.2: the Finished (first encrypted handshake record) was seen.
    finished: bool,
}

/// State of the current handshake.
#[derive(Debug, Default)]
struct Hs {
    client_sid: Vec<u8>,
    /// A HelloRetryRequest was sent; the next ClientHello belongs to this handshake.
    hrr_pending: bool,
    server_hello: bool,
    sid_echo: bool,
    /// Full vs resumed decided for this handshake.
    decided: bool,
}

/// Reassembles and inspects the TLS of one TCP connection.
///
/// # Exchange estimate
///
/// `exchanges` estimates request/response rounds from application-data records, without
/// keys: one exchange is a burst of client application-data records followed by a burst
/// of server application-data records. Concretely, it counts the client→server
/// transitions among application-data records after the handshake:
///
/// * A server record increments `exchanges` when the previous counted record was a
///   client record; server records before the first client application-data record
///   start nothing (TLS 1.3 NewSessionTickets, server greetings).
/// * Handshake traffic never counts: TLS ≤ 1.2 content types 20/21/22; in TLS 1.3 the
///   server's encrypted flight (type 23 records after ServerHello and before the client
///   Finished) and the client's first type 23 record after ServerHello (its Finished).
/// * In TLS 1.3, type 23 records of at most [`TLS13_TINY_RECORD`] bytes (encrypted
///   alerts such as close_notify, KeyUpdate) are ignored; 0-RTT client data counts as a
///   client burst.
///
/// So N sequential request/response pairs on a connection give N. Pipelined requests
/// (several requests before the first response) give fewer; protocols where the client
/// talks again before the server has finished (HTTP/2 SETTINGS ACK, WINDOW_UPDATE, PING,
/// large uploads answered by interim data) can give more: for ALPN "h2" read it as
/// "turns", not requests.
#[derive(Debug, Default)]
pub struct TlsInspector {
    info: TlsInfo,
    warnings: Warnings,
    dirs: [DirState; 2],
    hs: Hs,
    /// TLS 1.3 negotiated (ServerHello or HelloRetryRequest).
    tls13: bool,
    /// TLS 1.3: the (non-HRR) ServerHello was seen: encryption is on.
    tls13_encrypted: bool,
    /// TLS 1.3: the client Finished (first client type 23 record after ServerHello) seen.
    tls13_client_finished: bool,
    last_app_dir: Option<Direction>,
    /// Set when secrets are available (`--keylog`): decrypts protected records.
    crypto: Option<Box<Decryptor>>,
    /// Zero-length handshake records per direction (not allowed by RFC 8446
    /// §5.1, carry nothing): skipped, counted, warned once at the end.
    empty_handshake_records: [u64; 2],
}

/// A zero-length handshake record header: `16 03 0x 00 00`.
fn is_empty_handshake_record(b: &[u8]) -> bool {
    b.len() >= 5 && b[0] == CT_HANDSHAKE && b[1] == 3 && b[2] <= 4 && b[3] == 0 && b[4] == 0
}

/// `Some(true)` if these first client bytes start a TLS handshake record (content type
/// 0x16, version 0x03 0x00..=0x04, length 1..=16384, and, when the 6th byte is there, a
/// ClientHello), `Some(false)` if not, `None` if there are too few bytes to tell.
pub fn looks_like_tls(first_bytes: &[u8]) -> Option<bool> {
    // Zero-length handshake records before the ClientHello carry nothing
    // but say "TLS" as clearly as a ClientHello header does.
    let mut b = first_bytes;
    let mut empty = false;
    while is_empty_handshake_record(b) {
        b = &b[5..];
        empty = true;
    }
    if empty {
        return match looks_like_tls(b) {
            Some(false) => Some(false),
            _ => Some(true),
        };
    }
    type Check = (usize, fn(&[u8]) -> bool);
    let checks: [Check; 4] = [
        (1, |b| b[0] == CT_HANDSHAKE),
        (2, |b| b[1] == 3),
        (3, |b| b[2] <= 4),
        (5, |b| {
            (1..=16384).contains(&u16::from_be_bytes([b[3], b[4]]))
        }),
    ];
    for (need, ok) in checks {
        if b.len() < need {
            return None;
        }
        if !ok(b) {
            return Some(false);
        }
    }
    if b.len() >= 6 && b[5] != 1 {
        return Some(false);
    }
    Some(true)
}

/// Like [`looks_like_tls`] but accepts any record (content type 20..=23), for
/// connections picked up mid-stream. Needs 5 bytes.
pub fn looks_like_tls_record(first_bytes: &[u8]) -> Option<bool> {
    if first_bytes.len() < 5 {
        if first_bytes.first().is_some_and(|t| !(20..=23).contains(t))
            || first_bytes.get(1).is_some_and(|v| *v != 3)
            || first_bytes.get(2).is_some_and(|v| *v > 4)
        {
            return Some(false);
        }
        return None;
    }
    Some(plausible_header(&first_bytes[..5], false).is_some())
}

/// Checks a 5-byte record header; returns the body length if plausible.
/// `strict` (used when resynchronising) also rejects empty records and heartbeats.
fn plausible_header(h: &[u8], strict: bool) -> Option<usize> {
    let typ = h[0];
    let len = u16::from_be_bytes([h[3], h[4]]) as usize;
    let type_ok = if strict {
        (CT_CCS..=CT_APP_DATA).contains(&typ)
    } else {
        (CT_CCS..=CT_HEARTBEAT).contains(&typ)
    };
    let len_ok = len <= MAX_RECORD_LEN
        && (len > 0 || (!strict && (typ == CT_APP_DATA || typ == CT_HANDSHAKE)));
    (type_ok && h[1] == 3 && h[2] <= 4 && len_ok).then_some(len)
}

impl TlsInspector {
    pub fn new() -> Self {
        TlsInspector {
            warnings: Warnings::new(MAX_WARNINGS, "TLS"),
            ..Self::default()
        }
    }

    /// An inspector that decrypts with the secrets of `store`.
    pub fn with_keys(store: Arc<KeyStore>) -> Self {
        TlsInspector {
            crypto: Some(Box::new(Decryptor::new(store))),
            ..Self::new()
        }
    }

    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    /// Decrypted application data since the last call, in stream order.
    pub fn take_plain(&mut self) -> Vec<Plain> {
        match self.crypto.as_mut() {
            Some(c) if !c.out.is_empty() => std::mem::take(&mut c.out),
            _ => Vec::new(),
        }
    }

    /// Copies what decryption found into the report.
    fn sync_crypto(&mut self) {
        let Some(c) = self.crypto.as_mut() else {
            return;
        };
        for w in std::mem::take(&mut c.warnings) {
            self.warnings.push(w);
        }
        let i = &mut self.info;
        if let Some(a) = c.found.alpn.take() {
            i.alpn = Some(a);
        }
        for (dir, level, desc) in std::mem::take(&mut c.found.alerts) {
            if desc == 0 {
                i.close_notify_decrypted[dir.index()] = true;
            } else if i.alert.is_none() {
                i.alert = Some(parse::alert_name(level, desc));
                i.alert_from = Some(dir);
            }
        }
        i.key_updates = c.found.key_updates;
        i.decrypted = Decrypted {
            client: c.decrypted(Direction::ClientToServer),
            server: c.decrypted(Direction::ServerToClient),
        };
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            let (ok, failed) = c.records(dir);
            i.decrypted_records[dir.index()] = ok;
            i.undecrypted_records[dir.index()] = failed;
        }
        let why = [Direction::ClientToServer, Direction::ServerToClient]
            .map(|d| (!c.decrypted(d)).then(|| c.why(d)).flatten());
        i.not_decrypted = match why {
            [None, None] => None,
            [Some(a), Some(b)] if a == b => Some(describe(a, c)),
            [Some(a), None] => Some(format!("client: {}", describe(a, c))),
            [None, Some(b)] => Some(format!("server: {}", describe(b, c))),
            [Some(a), Some(b)] => Some(format!(
                "client: {}; server: {}",
                describe(a, c),
                describe(b, c)
            )),
        };
    }

    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lines()
    }

    fn warn(&mut self, msg: String) {
        self.warnings.push(msg);
    }

    /// Feeds in-order stream bytes of one direction.
    pub fn on_data(&mut self, dir: Direction, ts: Timestamp, data: &[u8]) {
        let mut pending = self.feed(dir, ts, data);
        while let Some(tail) = pending {
            pending = self.feed(dir, ts, &tail);
        }
    }

    /// `missing` bytes of this direction were never captured.
    pub fn on_gap(&mut self, dir: Direction, ts: Timestamp, missing: u64) {
        if missing == 0 {
            return;
        }
        let d = dir.index();
        if let RecState::Sealed { hdr, buf } = &self.dirs[d].rec {
            let len = u16::from_be_bytes([hdr[3], hdr[4]]) as usize;
            let remaining = len - buf.len();
            if missing <= remaining as u64 {
                // The record is lost, but the record layer is still in sync.
                if let Some(c) = self.crypto.as_mut() {
                    c.lost_record(dir, ts, len);
                }
                self.warn(format!(
                    "{dir:?}: {missing} bytes missing from capture inside a {len}-byte TLS record; that record is not decrypted"
                ));
                let remaining = remaining - missing as usize;
                self.dirs[d].rec = if remaining == 0 {
                    RecState::default()
                } else {
                    RecState::Skip { remaining }
                };
                return;
            }
        }
        if let RecState::Skip { remaining } = &mut self.dirs[d].rec {
            if missing <= *remaining as u64 {
                // The gap lies inside a body we skip anyway: still in sync.
                *remaining -= missing as usize;
                if *remaining == 0 {
                    self.dirs[d].rec = RecState::default();
                }
                return;
            }
        }
        if let Some(c) = self.crypto.as_mut() {
            c.lost_sync(dir, ts, missing);
        }
        self.warn(format!(
            "{dir:?}: {missing} bytes missing from capture; resynchronising on the next TLS record header"
        ));
        self.dirs[d].rec = RecState::Resync { buf: Vec::new() };
        self.dirs[d].hs_buf.clear();
        self.dirs[d].hs_skip = 0;
    }

    /// End of the connection (or of the capture).
    pub fn finish(&mut self, ts: Timestamp) {
        let _ = ts;
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            let d = &self.dirs[dir.index()];
            let partial = match &d.rec {
                RecState::Header { n, .. } => *n > 0,
                RecState::Body { .. } | RecState::Skip { .. } | RecState::Sealed { .. } => true,
                RecState::Resync { .. } => false,
            };
            if partial || !d.hs_buf.is_empty() {
                self.warn(format!("{dir:?}: stream ended inside a TLS record"));
            }
            let n = self.empty_handshake_records[dir.index()];
            if n > 0 {
                self.warn(format!(
                    "{dir:?}: {n} zero-length TLS handshake records (not allowed by RFC 8446 §5.1) skipped"
                ));
            }
        }
        if let Some(c) = self.crypto.as_mut() {
            c.finish();
        }
        self.sync_crypto();
    }

    /// Processes `data` until it is consumed; returns owned bytes to feed again after a
    /// resynchronisation found a record start (iterative, so no deep recursion).
    fn feed(&mut self, dir: Direction, ts: Timestamp, mut data: &[u8]) -> Option<Vec<u8>> {
        let d = dir.index();
        while !data.is_empty() {
            match &mut self.dirs[d].rec {
                RecState::Header { buf, n } => {
                    let k = (5 - *n).min(data.len());
                    buf[*n..*n + k].copy_from_slice(&data[..k]);
                    *n += k;
                    data = &data[k..];
                    if *n < 5 {
                        return None;
                    }
                    let hdr = *buf;
                    self.dirs[d].rec = RecState::default();
                    let Some(len) = plausible_header(&hdr, false) else {
                        self.info.malformed_messages += 1;
                        self.warn(format!(
                            "{dir:?}: invalid TLS record header {:02x?}; resynchronising",
                            hdr
                        ));
                        self.dirs[d].hs_buf.clear();
                        self.dirs[d].hs_skip = 0;
                        let mut buf = hdr[1..].to_vec();
                        buf.extend_from_slice(data);
                        self.dirs[d].rec = RecState::Resync { buf: Vec::new() };
                        return self.resync(d, buf);
                    };
                    self.start_record(dir, ts, hdr, len, &mut data);
                }
                RecState::Body { len, buf, .. } => {
                    let k = (*len - buf.len()).min(data.len());
                    buf.extend_from_slice(&data[..k]);
                    data = &data[k..];
                    if buf.len() == *len {
                        let RecState::Body { typ, buf, .. } = std::mem::take(&mut self.dirs[d].rec)
                        else {
                            unreachable!()
                        };
                        self.record(dir, ts, typ, &buf);
                    }
                }
                RecState::Sealed { hdr, buf } => {
                    let len = u16::from_be_bytes([hdr[3], hdr[4]]) as usize;
                    let k = (len - buf.len()).min(data.len());
                    buf.extend_from_slice(&data[..k]);
                    data = &data[k..];
                    if buf.len() == len {
                        let RecState::Sealed { hdr, buf } = std::mem::take(&mut self.dirs[d].rec)
                        else {
                            unreachable!()
                        };
                        self.sealed(dir, ts, hdr, buf);
                    }
                }
                RecState::Skip { remaining } => {
                    let k = (*remaining).min(data.len());
                    *remaining -= k;
                    data = &data[k..];
                    if *remaining == 0 {
                        self.dirs[d].rec = RecState::default();
                    }
                }
                RecState::Resync { buf } => {
                    let mut buf = std::mem::take(buf);
                    buf.extend_from_slice(data);
                    return self.resync(d, buf);
                }
            }
        }
        None
    }

    /// Looks for a record header in `buf` confirmed by the header that follows it.
    /// Found: returns the bytes from there on (state back to Header). Otherwise keeps
    /// what may still hold a header and stays in Resync.
    fn resync(&mut self, d: usize, buf: Vec<u8>) -> Option<Vec<u8>> {
        let mut i = 0;
        while i + 5 <= buf.len() {
            if let Some(len) = plausible_header(&buf[i..i + 5], true) {
                let j = i + 5 + len;
                if j + 5 > buf.len() {
                    // Cannot confirm yet: wait for more bytes.
                    self.dirs[d].rec = RecState::Resync {
                        buf: buf[i..].to_vec(),
                    };
                    return None;
                }
                if plausible_header(&buf[j..j + 5], true).is_some() {
                    self.dirs[d].rec = RecState::default();
                    return Some(buf[i..].to_vec());
                }
            }
            i += 1;
        }
        let keep = buf.len().saturating_sub(4);
        self.dirs[d].rec = RecState::Resync {
            buf: buf[keep..].to_vec(),
        };
        None
    }

    /// A record header arrived: classify the record and either skip its body or collect it.
    fn start_record(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        hdr: [u8; 5],
        len: usize,
        data: &mut &[u8],
    ) {
        let typ = hdr[0];
        let d = dir.index();
        if typ == CT_HANDSHAKE && len == 0 {
            self.empty_handshake_records[d] += 1;
            self.info.malformed_messages += 1;
            return;
        }
        let encrypted = self.dirs[d].encrypted;
        // With a key log, protected records are collected and decrypted.
        let protected = typ == CT_APP_DATA || (encrypted && matches!(typ, CT_HANDSHAKE | CT_ALERT));
        if protected && self.crypto.as_ref().is_some_and(|c| c.wants(dir)) {
            match typ {
                CT_APP_DATA => self.app_record(dir, ts, len),
                CT_HANDSHAKE => self.encrypted_handshake(dir, ts),
                _ => {
                    self.info.encrypted_alerts[d] += 1;
                    if encrypted && self.info.close_notify[d].is_none() {
                        self.info.close_notify[d] = Some(ts);
                    }
                }
            }
            if data.len() >= len {
                let (body, rest) = data.split_at(len);
                *data = rest;
                self.sealed(dir, ts, hdr, body.to_vec());
            } else {
                let mut buf = Vec::with_capacity(len);
                buf.extend_from_slice(data);
                *data = &[];
                self.dirs[d].rec = RecState::Sealed { hdr, buf };
            }
            return;
        }
        let parse = match typ {
            CT_APP_DATA => {
                self.app_record(dir, ts, len);
                false
            }
            CT_HANDSHAKE if encrypted => {
                self.encrypted_handshake(dir, ts);
                false
            }
            CT_ALERT if encrypted || len != 2 => {
                self.info.encrypted_alerts[d] += 1;
                if encrypted && self.info.close_notify[d].is_none() {
                    self.info.close_notify[d] = Some(ts);
                }
                false
            }
            CT_HEARTBEAT => false,
            _ => true,
        };
        if !parse {
            let k = len.min(data.len());
            *data = &data[k..];
            if k < len {
                self.dirs[d].rec = RecState::Skip { remaining: len - k };
            }
        } else if data.len() >= len {
            let (body, rest) = data.split_at(len);
            *data = rest;
            self.record(dir, ts, typ, body);
        } else {
            let mut buf = Vec::with_capacity(len);
            buf.extend_from_slice(data);
            *data = &[];
            self.dirs[d].rec = RecState::Body { typ, len, buf };
        }
    }

    /// A complete protected record: to the decryptor.
    fn sealed(&mut self, dir: Direction, ts: Timestamp, hdr: [u8; 5], body: Vec<u8>) {
        if let Some(c) = self.crypto.as_mut() {
            c.record(dir, ts, hdr, body);
            self.sync_crypto();
        }
    }

    /// A complete cleartext record (CCS, alert or handshake).
    fn record(&mut self, dir: Direction, ts: Timestamp, typ: u8, body: &[u8]) {
        match typ {
            CT_CCS => self.change_cipher_spec(dir),
            CT_ALERT if self.info.alert.is_none() && body.len() == 2 => {
                self.info.alert = Some(parse::alert_name(body[0], body[1]));
                self.info.alert_from = Some(dir);
            }
            CT_HANDSHAKE => self.handshake_bytes(dir, ts, body),
            _ => {}
        }
    }

    fn change_cipher_spec(&mut self, dir: Direction) {
        if self.tls13 {
            return; // middlebox-compatibility CCS: meaningless in TLS 1.3
        }
        let d = dir.index();
        if let Some(c) = self.crypto.as_mut() {
            c.change_cipher_spec(dir);
        }
        self.dirs[d].encrypted = true;
        self.dirs[d].hs_buf.clear();
        self.dirs[d].hs_skip = 0;
        if dir == Direction::ServerToClient && self.hs.server_hello && !self.hs.decided {
            // ServerHello then ChangeCipherSpec with no Certificate: abbreviated handshake.
            // (An echoed session ID was decided at ServerHello already.)
            self.decide(Some("session-ticket"));
        }
    }

    /// Decides the current handshake: `Some(kind)` resumed, `None` full.
    fn decide(&mut self, resumed: Option<&str>) {
        if self.hs.decided {
            return;
        }
        self.hs.decided = true;
        match resumed {
            Some(kind) => {
                self.info.resumed = true;
                if self.info.resumption.is_none() {
                    self.info.resumption = Some(kind.to_string());
                }
            }
            None => self.info.full_handshakes += 1,
        }
    }

    fn done(&mut self, ts: Timestamp) {
        if self.info.handshake_done_time.is_none() {
            self.info.handshake_done_time = Some(ts);
        }
    }

    /// TLS ≤ 1.2 encrypted handshake record (after this direction's ChangeCipherSpec).
    fn encrypted_handshake(&mut self, dir: Direction, ts: Timestamp) {
        let d = dir.index();
        self.info.encrypted_handshake_records[d] += 1;
        if !self.dirs[d].finished {
            self.dirs[d].finished = true;
            if self.dirs[1 - d].finished {
                self.done(ts);
            }
        } else if self.dirs[1 - d].finished {
            self.info.encrypted_renegotiation = true;
        }
    }

    /// A content type 23 record of `len` bytes.
    fn app_record(&mut self, dir: Direction, ts: Timestamp, len: usize) {
        let d = dir.index();
        if self.tls13_encrypted && !self.tls13_client_finished {
            self.info.encrypted_handshake_records[d] += 1;
            if dir == Direction::ClientToServer {
                self.tls13_client_finished = true;
                self.done(ts);
            }
            return;
        }
        if dir == Direction::ClientToServer
            && self.info.client_hellos > 0
            && !self.hs.server_hello
            && !self.tls13_encrypted
        {
            self.info.early_data_records += 1;
        }
        self.info.app_records[d] += 1;
        match dir {
            Direction::ClientToServer => self.info.client_app_bytes += len as u64,
            Direction::ServerToClient => self.info.server_app_bytes += len as u64,
        }
        if self.tls13 {
            if len <= TLS13_TINY_RECORD {
                // An encrypted alert (close_notify) or KeyUpdate: if nothing
                // larger follows from this side, it was the close_notify.
                self.info.close_notify[d].get_or_insert(ts);
                return;
            }
            self.info.close_notify[d] = None;
        }
        if dir == Direction::ServerToClient && self.last_app_dir == Some(Direction::ClientToServer)
        {
            self.info.exchanges += 1;
        }
        self.last_app_dir = Some(dir);
    }

    /// Cleartext handshake record body: reassemble messages across records.
    fn handshake_bytes(&mut self, dir: Direction, ts: Timestamp, mut data: &[u8]) {
        let d = dir.index();
        while !data.is_empty() {
            // Stop parsing as soon as this direction turned encrypted (TLS 1.3 ServerHello).
            if self.dirs[d].encrypted {
                return;
            }
            let st = &mut self.dirs[d];
            if st.hs_skip > 0 {
                let k = st.hs_skip.min(data.len());
                st.hs_skip -= k;
                data = &data[k..];
                continue;
            }
            if st.hs_buf.len() < 4 {
                let k = (4 - st.hs_buf.len()).min(data.len());
                st.hs_buf.extend_from_slice(&data[..k]);
                data = &data[k..];
                if st.hs_buf.len() < 4 {
                    return;
                }
                let typ = st.hs_buf[0];
                let len =
                    u32::from_be_bytes([0, st.hs_buf[1], st.hs_buf[2], st.hs_buf[3]]) as usize;
                let wanted = matches!(typ, 1 | 2 | 6);
                if !wanted || len > MAX_HANDSHAKE_MSG {
                    st.hs_buf.clear();
                    st.hs_skip = len;
                    if wanted {
                        self.info.malformed_messages += 1;
                        self.warn(format!(
                            "{dir:?}: handshake message type {typ} of {len} bytes exceeds {MAX_HANDSHAKE_MSG}; skipped"
                        ));
                    }
                    self.handshake_message(dir, ts, typ, None);
                    continue;
                }
            }
            let st = &mut self.dirs[d];
            let len = u32::from_be_bytes([0, st.hs_buf[1], st.hs_buf[2], st.hs_buf[3]]) as usize;
            let k = (4 + len - st.hs_buf.len()).min(data.len());
            st.hs_buf.extend_from_slice(&data[..k]);
            data = &data[k..];
            if st.hs_buf.len() == 4 + len {
                let msg = std::mem::take(&mut st.hs_buf);
                self.handshake_message(dir, ts, msg[0], Some(&msg[4..]));
            }
        }
    }

    /// One complete handshake message; `body` only for the types we parse.
    fn handshake_message(&mut self, dir: Direction, ts: Timestamp, typ: u8, body: Option<&[u8]>) {
        let expected = match typ {
            1 | 16 => Direction::ClientToServer,
            _ => Direction::ServerToClient,
        };
        if dir != expected && matches!(typ, 1 | 2) {
            self.warn(format!(
                "{dir:?}: handshake message type {typ} in unexpected direction"
            ));
        }
        match typ {
            1 => self.client_hello(ts, body),
            2 => self.server_hello(body),
            6 => {
                // Draft TLS 1.3 HelloRetryRequest.
                self.info.hello_retry = true;
                self.hs.hrr_pending = true;
                if let Some(v) = body.and_then(parse::draft_hello_retry_version) {
                    self.set_version(v);
                }
            }
            4 if dir == Direction::ServerToClient => self.info.session_ticket_issued = true,
            11 if dir == Direction::ServerToClient => {
                self.info.certificate_seen = true;
                self.decide(None);
            }
            12..=14 if dir == Direction::ServerToClient => self.decide(None),
            _ => {}
        }
    }

    fn set_version(&mut self, v: u16) {
        self.info.version = Some(version_name(v));
        self.tls13 = parse::is_tls13(v);
    }

    fn client_hello(&mut self, ts: Timestamp, body: Option<&[u8]>) {
        self.info.client_hellos += 1;
        if self.hs.hrr_pending {
            self.hs.hrr_pending = false;
            // Same handshake: the ServerHello still to come answers this ClientHello.
            self.hs.server_hello = false;
        } else {
            self.info.handshakes += 1;
            self.hs = Hs::default();
            if self.info.first_handshake_time.is_none() {
                self.info.first_handshake_time = Some(ts);
            }
        }
        let Some(ch) = body.and_then(|b| parse::client_hello(b).ok()) else {
            self.info.malformed_messages += 1;
            self.warn("malformed or oversized ClientHello".to_string());
            return;
        };
        if let Some(c) = self.crypto.as_mut() {
            c.client_hello(ch.random);
        }
        let ticket = ch.session_ticket_len.is_some_and(|n| n > 0);
        self.hs.client_sid = ch.session_id.clone();
        let i = &mut self.info;
        i.session_ticket_offered |= ticket;
        i.psk_offered |= ch.psk;
        i.early_data |= ch.early_data;
        if i.sni.is_none() {
            i.sni = ch.sni;
        }
        if i.alpn_offered.is_empty() {
            i.alpn_offered = ch.alpn;
        }
        if i.versions_offered.is_empty() {
            i.versions_offered = if ch.supported_versions.is_empty() {
                vec![version_name(ch.legacy_version)]
            } else {
                ch.supported_versions
                    .iter()
                    .map(|v| version_name(*v))
                    .collect()
            };
        }
    }

    fn server_hello(&mut self, body: Option<&[u8]>) {
        let Some(sh) = body.and_then(|b| parse::server_hello(b).ok()) else {
            self.info.malformed_messages += 1;
            self.warn("malformed ServerHello".to_string());
            return;
        };
        self.set_version(sh.version);
        if sh.hello_retry {
            self.info.hello_retry = true;
            self.hs.hrr_pending = true;
            return;
        }
        self.hs.server_hello = true;
        self.info.cipher = Some(crypto::suite_name(sh.cipher_suite));
        if let Some(c) = self.crypto.as_mut() {
            c.server_hello(sh.random, sh.cipher_suite, self.tls13);
        }
        if sh.alpn.is_some() {
            self.info.alpn = sh.alpn;
        }
        if self.tls13 {
            self.tls13_encrypted = true;
            self.tls13_client_finished = false;
            for d in &mut self.dirs {
                d.encrypted = true;
                d.hs_buf.clear();
                d.hs_skip = 0;
            }
            self.decide(sh.psk_accepted.then_some("psk"));
        } else {
            self.hs.sid_echo = !sh.session_id.is_empty() && sh.session_id == self.hs.client_sid;
            if self.hs.sid_echo {
                // Echoed session ID: abbreviated handshake. Labelled "session-id" even when
                // a ticket was also presented (RFC 5077 §3.4: a server accepting a ticket
                // echoes the session ID too, so the wire cannot tell the two apart).
                self.decide(Some("session-id"));
            }
        }
    }
}

fn describe(why: Why, c: &Decryptor) -> String {
    match (why, c.suite_unsupported()) {
        (Why::Unsupported, Some(name)) => format!("unsupported suite {name}"),
        (w, _) => w.as_str().to_string(),
    }
}
