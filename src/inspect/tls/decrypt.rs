//! Record decryption for one TLS connection, with secrets from a [`KeyStore`].
//!
//! The [`TlsInspector`](super::TlsInspector) hands every protected record here
//! (header + body) once the handshake told which suite and which client random;
//! decrypted application data comes out as [`Plain`] events, in stream order,
//! for the inspector of the layer above (HTTP/1.x or HTTP/2).
//!
//! TLS 1.3: handshake traffic keys until each side's Finished, then the
//! application traffic secret, updated by KeyUpdate. If the handshake secrets
//! are missing, the first record that opens under the application key switches
//! to it. TLS 1.2: the key block from the master secret, from each side's
//! ChangeCipherSpec on. A key that fails the AEAD tag on a direction's first
//! record "does not authenticate": that direction stays opaque. Later failures
//! (a record lost in a capture gap) are warnings; a few sequence numbers ahead
//! are tried so the rest of the stream is still decrypted.

use super::crypto::{hkdf_expand_label, suite, suite_name, AeadAlg, HashAlg, RecordKey, SuiteKind};
use super::keylog::{KeyStore, Secrets};
use crate::time::Timestamp;
use crate::Direction;
use std::sync::Arc;

/// Encrypted bytes a connection may hold back while it waits for its secret
/// (live capture, the key log not written yet).
pub const MAX_HELD_BYTES: usize = 1 << 20;
/// Sequence numbers tried ahead after a lost record.
const SEQ_WINDOW: u64 = 64;
/// Records in a row that fail to authenticate after earlier ones did before
/// a direction is given up (bounds the work on a hostile or broken stream).
const MAX_FAILURES_IN_A_ROW: u32 = 16;

/// Decrypted application data (or its loss), for the layer above TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plain {
    Data(Direction, Timestamp, Vec<u8>),
    /// A record that should have carried this many plaintext bytes was lost.
    Gap(Direction, Timestamp, u64),
}

/// Why a direction is not decrypted (the words of the summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    NoClientHello,
    NoKey,
    BadKey,
    Unsupported,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::NoClientHello => "no ClientHello captured (client random unknown)",
            Why::NoKey => "no key for this client random",
            Why::BadKey => "key does not authenticate",
            Why::Unsupported => "unsupported suite",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No key installed yet.
    Waiting,
    /// TLS 1.3 handshake traffic key.
    Handshake,
    /// Application traffic key (TLS 1.3) or the TLS 1.2 key.
    App,
    /// Given up on this direction.
    Dead,
}

#[derive(Debug)]
struct Dir {
    phase: Phase,
    key: Option<RecordKey>,
    /// TLS 1.3: the application traffic secret now in use (for KeyUpdate) or
    /// still to come (after Finished).
    app_secret: Option<Vec<u8>>,
    /// Decrypted TLS 1.3 handshake bytes not yet a whole message.
    hs_buf: Vec<u8>,
    ok: u64,
    failed: u64,
    failed_in_a_row: u32,
    /// A gap broke record sync: try sequence numbers ahead.
    resync: bool,
    /// TLS 1.2: this side sent ChangeCipherSpec.
    ccs: bool,
}

impl Default for Dir {
    fn default() -> Self {
        Dir {
            phase: Phase::Waiting,
            key: None,
            app_secret: None,
            hs_buf: Vec::new(),
            ok: 0,
            failed: 0,
            failed_in_a_row: 0,
            resync: false,
            ccs: false,
        }
    }
}

struct Held {
    dir: Direction,
    ts: Timestamp,
    hdr: [u8; 5],
    body: Vec<u8>,
}

/// Facts the decryptor hands back to the TLS inspector's report.
#[derive(Debug, Default)]
pub struct Found {
    pub alpn: Option<String>,
    /// Decrypted alerts, in order: (direction, level, description).
    pub alerts: Vec<(Direction, u8, u8)>,
    pub key_updates: u32,
}

pub struct Decryptor {
    store: Arc<KeyStore>,
    client_random: Option<[u8; 32]>,
    server_random: Option<[u8; 32]>,
    suite: Option<u16>,
    tls13: bool,
    secrets: Option<Secrets>,
    looked_up_at: Option<u64>,
    dirs: [Dir; 2],
    held: Vec<Held>,
    held_bytes: usize,
    why: [Option<Why>; 2],
    pub out: Vec<Plain>,
    pub found: Found,
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("suite", &self.suite)
            .field("tls13", &self.tls13)
            .field("dirs", &self.dirs)
            .finish_non_exhaustive()
    }
}

impl Decryptor {
    pub fn new(store: Arc<KeyStore>) -> Self {
        Decryptor {
            store,
            client_random: None,
            server_random: None,
            suite: None,
            tls13: false,
            secrets: None,
            looked_up_at: None,
            dirs: Default::default(),
            held: Vec::new(),
            held_bytes: 0,
            why: [None, None],
            out: Vec::new(),
            found: Found::default(),
            warnings: Vec::new(),
        }
    }

    pub fn client_hello(&mut self, random: [u8; 32]) {
        if self.client_random.is_none() {
            self.client_random = Some(random);
        }
    }

    /// The (non-retry) ServerHello: version, random and suite are known. In TLS
    /// 1.3 both directions are encrypted from here on.
    pub fn server_hello(&mut self, random: [u8; 32], suite_id: u16, tls13: bool) {
        self.server_random = Some(random);
        self.suite = Some(suite_id);
        self.tls13 = tls13;
        if tls13 {
            for d in 0..2 {
                self.install(d);
            }
        }
    }

    /// TLS 1.2 ChangeCipherSpec from `dir`: its next record is protected.
    pub fn change_cipher_spec(&mut self, dir: Direction) {
        if self.tls13 {
            return;
        }
        let d = dir.index();
        self.dirs[d].ccs = true;
        self.install(d);
    }

    /// Whether records of `dir` are worth collecting (a key is, or may become,
    /// available).
    pub fn wants(&self, dir: Direction) -> bool {
        let d = &self.dirs[dir.index()];
        match d.phase {
            Phase::Dead => false,
            Phase::Waiting => self.store.growing() && self.held_bytes < MAX_HELD_BYTES,
            _ => true,
        }
    }

    pub fn decrypted(&self, dir: Direction) -> bool {
        let d = &self.dirs[dir.index()];
        d.ok > 0 && d.phase != Phase::Dead
    }

    /// Why a direction is not (or not wholly) decrypted.
    pub fn why(&self, dir: Direction) -> Option<Why> {
        self.why[dir.index()]
    }

    pub fn records(&self, dir: Direction) -> (u64, u64) {
        let d = &self.dirs[dir.index()];
        (d.ok, d.failed)
    }

    pub fn suite_unsupported(&self) -> Option<String> {
        let id = self.suite?;
        (suite(id).1 == SuiteKind::Unsupported).then(|| suite_name(id))
    }

    fn lookup(&mut self) -> Option<&Secrets> {
        let gen = self.store.generation();
        if self.secrets.is_none() && self.looked_up_at != Some(gen) {
            self.looked_up_at = Some(gen);
            self.secrets = self.client_random.and_then(|cr| self.store.get(&cr));
        }
        self.secrets.as_ref()
    }

    /// Installs the first key of direction `d` if the secrets are known.
    fn install(&mut self, d: usize) {
        if self.dirs[d].phase != Phase::Waiting {
            return;
        }
        let Some(suite_id) = self.suite else { return };
        let kind = suite(suite_id).1;
        if kind == SuiteKind::Unsupported {
            if self.why.iter().all(|w| w.is_none()) {
                self.warnings.push(format!(
                    "not decrypted: unsupported suite {}",
                    suite_name(suite_id)
                ));
            }
            self.why[d] = Some(Why::Unsupported);
            self.dirs[d].phase = Phase::Dead;
            return;
        }
        if self.client_random.is_none() {
            self.why[d] = Some(Why::NoClientHello);
            self.dirs[d].phase = Phase::Dead;
            return;
        }
        let client = d == Direction::ClientToServer.index();
        let (cr, sr) = (self.client_random, self.server_random);
        let Some(sec) = self.lookup().cloned() else {
            self.why[d] = Some(Why::NoKey);
            return;
        };
        match kind {
            SuiteKind::Tls13(aead, hash) => {
                let (hs, app) = if client {
                    (sec.client_handshake, sec.client_traffic)
                } else {
                    (sec.server_handshake, sec.server_traffic)
                };
                let hs = hs.filter(|s| s.len() == hash.out_len());
                let app = app.filter(|s| s.len() == hash.out_len());
                if hs.is_none() && app.is_none() {
                    self.why[d] = Some(Why::NoKey);
                    return;
                }
                let dir = &mut self.dirs[d];
                dir.key = hs.map(|s| RecordKey::tls13(aead, hash, &s));
                dir.app_secret = app;
                dir.phase = Phase::Handshake;
            }
            SuiteKind::Tls12(aead, hash) => {
                if !self.dirs[d].ccs {
                    return;
                }
                let (Some(ms), Some(cr), Some(sr)) = (sec.master, cr, sr) else {
                    self.why[d] = Some(Why::NoKey);
                    return;
                };
                let (c, s) = RecordKey::tls12_pair(aead, hash, &ms, &cr, &sr);
                let dir = &mut self.dirs[d];
                dir.key = Some(if client { c } else { s });
                dir.phase = Phase::App;
            }
            SuiteKind::Unsupported => {}
        }
        if self.dirs[d].phase != Phase::Waiting {
            self.why[d] = None;
        }
    }

    fn kinds(&self) -> Option<(AeadAlg, HashAlg)> {
        match suite(self.suite?).1 {
            SuiteKind::Tls13(a, h) => Some((a, h)),
            _ => None,
        }
    }

    /// One protected record of `dir` (header + body).
    pub fn record(&mut self, dir: Direction, ts: Timestamp, hdr: [u8; 5], body: Vec<u8>) {
        let d = dir.index();
        if self.dirs[d].phase == Phase::Waiting {
            self.install(d);
        }
        if self.dirs[d].phase == Phase::Waiting || !self.held.is_empty() {
            // Retry held records first when new secrets arrived.
            if self.store.growing() {
                self.retry_held();
            }
            if self.dirs[d].phase == Phase::Waiting || !self.held.is_empty() {
                if self.store.growing() && self.held_bytes + body.len() <= MAX_HELD_BYTES {
                    self.held_bytes += body.len();
                    self.held.push(Held { dir, ts, hdr, body });
                } else if self.dirs[d].phase == Phase::Waiting {
                    self.dirs[d].failed += 1;
                    if self.why[d].is_none() {
                        self.why[d] = Some(Why::NoKey);
                    }
                }
                return;
            }
        }
        self.open_record(dir, ts, hdr, &body);
    }

    fn retry_held(&mut self) {
        for d in 0..2 {
            self.install(d);
        }
        if self.held.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.held);
        self.held_bytes = 0;
        let mut rest = Vec::new();
        for h in held {
            if !rest.is_empty() || self.dirs[h.dir.index()].phase == Phase::Waiting {
                self.held_bytes += h.body.len();
                rest.push(h);
            } else {
                self.open_record(h.dir, h.ts, h.hdr, &h.body);
            }
        }
        self.held = rest;
    }

    /// End of the connection: one last look for held records' secrets.
    pub fn finish(&mut self) {
        if !self.held.is_empty() {
            self.retry_held();
            let n = self.held.len();
            if n > 0 {
                for h in std::mem::take(&mut self.held) {
                    self.dirs[h.dir.index()].failed += 1;
                }
                self.warnings.push(format!(
                    "{n} TLS records held back waiting for their secret were never decrypted"
                ));
            }
        }
        for d in 0..2 {
            let dir = &self.dirs[d];
            if dir.phase == Phase::Waiting && dir.failed > 0 && self.why[d].is_none() {
                self.why[d] = Some(Why::NoKey);
            }
        }
    }

    /// A record of `dir` was lost in a capture gap (its header was seen).
    pub fn lost_record(&mut self, dir: Direction, ts: Timestamp, body_len: usize) {
        // TLS 1.3: the inner content type byte (padding is assumed absent).
        let inner = self.tls13 as usize;
        let d = &mut self.dirs[dir.index()];
        if let Some(k) = d.key.as_mut() {
            k.seq += 1;
            let plain = body_len.saturating_sub(k.overhead() + inner) as u64;
            d.failed += 1;
            if d.phase == Phase::App {
                self.out.push(Plain::Gap(dir, ts, plain));
            }
        }
    }

    /// Record sync of `dir` was lost (a gap outside any record).
    pub fn lost_sync(&mut self, dir: Direction, ts: Timestamp, missing: u64) {
        let d = &mut self.dirs[dir.index()];
        if d.key.is_some() {
            d.resync = true;
            if d.phase == Phase::App {
                self.out.push(Plain::Gap(dir, ts, missing));
            }
        }
    }

    fn open_record(&mut self, dir: Direction, ts: Timestamp, hdr: [u8; 5], body: &[u8]) {
        let d = dir.index();
        let st = &mut self.dirs[d];
        if matches!(st.phase, Phase::Dead | Phase::Waiting) {
            return;
        }
        let mut plain = None;
        if let Some(k) = st.key.as_mut() {
            let tries = if st.resync || st.ok > 0 {
                SEQ_WINDOW
            } else {
                1
            };
            for ahead in 0..tries {
                if let Some(p) = k.open_at(k.seq + ahead, &hdr, body) {
                    if ahead > 0 {
                        self.warnings.push(format!(
                            "{dir:?}: {ahead} TLS record(s) lost before this one; decryption resumed"
                        ));
                    }
                    k.seq += ahead + 1;
                    plain = Some(p);
                    break;
                }
            }
        }
        // TLS 1.3 handshake phase: the record may already be under the
        // application key (Finished not seen, or no handshake secret).
        if plain.is_none() && st.phase == Phase::Handshake {
            if let (Some(secret), Some((aead, hash))) = (st.app_secret.clone(), self.kinds()) {
                let k = RecordKey::tls13(aead, hash, &secret);
                if let Some(p) = k.open_at(0, &hdr, body) {
                    let st = &mut self.dirs[d];
                    st.key = Some(k);
                    st.key.as_mut().expect("just set").seq = 1;
                    st.phase = Phase::App;
                    plain = Some(p);
                }
            }
        }
        let st = &mut self.dirs[d];
        let Some(mut p) = plain else {
            st.failed += 1;
            st.failed_in_a_row += 1;
            if st.phase == Phase::Handshake && st.key.is_none() {
                // No handshake secret: its records cannot open, the application
                // key will be tried on the next record.
                return;
            }
            if st.ok == 0 {
                st.phase = Phase::Dead;
                self.why[d] = Some(Why::BadKey);
                self.warnings.push(format!(
                    "{dir:?}: TLS record does not authenticate under the logged key; this direction stays opaque"
                ));
            } else if st.failed_in_a_row >= MAX_FAILURES_IN_A_ROW {
                st.phase = Phase::Dead;
                self.why[d] = Some(Why::BadKey);
                self.warnings.push(format!(
                    "{dir:?}: {MAX_FAILURES_IN_A_ROW} TLS records in a row do not authenticate; decryption of this direction stopped"
                ));
            } else {
                self.warnings.push(format!(
                    "{dir:?}: TLS record of {} bytes does not authenticate (damaged or lost records); skipped",
                    body.len()
                ));
                if st.phase == Phase::App {
                    let overhead = st.key.as_ref().map_or(16, |k| k.overhead());
                    let n = body.len().saturating_sub(overhead + self.tls13 as usize) as u64;
                    self.out.push(Plain::Gap(dir, ts, n));
                }
            }
            return;
        };
        st.ok += 1;
        st.failed_in_a_row = 0;
        st.resync = false;
        let ctype = if self.tls13 {
            // TLSInnerPlaintext: content, content type, zero padding.
            let Some(end) = p.iter().rposition(|&b| b != 0) else {
                self.warnings
                    .push(format!("{dir:?}: TLS 1.3 record without content type"));
                return;
            };
            let t = p[end];
            p.truncate(end);
            t
        } else {
            hdr[0]
        };
        match ctype {
            23 if !p.is_empty() => self.out.push(Plain::Data(dir, ts, p)),
            21 if p.len() >= 2 => self.found.alerts.push((dir, p[0], p[1])),
            22 if self.tls13 => self.handshake13(dir, &p),
            _ => {}
        }
    }

    /// Decrypted TLS 1.3 handshake bytes: EncryptedExtensions (ALPN), Finished
    /// (switch to the application key), KeyUpdate (next application key).
    fn handshake13(&mut self, dir: Direction, data: &[u8]) {
        let d = dir.index();
        let mut buf = std::mem::take(&mut self.dirs[d].hs_buf);
        buf.extend_from_slice(data);
        let mut at = 0;
        while buf.len() >= at + 4 {
            let typ = buf[at];
            let len = u32::from_be_bytes([0, buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
            if buf.len() < at + 4 + len {
                break;
            }
            let body = &buf[at + 4..at + 4 + len];
            match typ {
                8 => {
                    if let Some(a) = super::parse::encrypted_extensions_alpn(body) {
                        self.found.alpn = Some(a);
                    }
                }
                20 => self.next_app_key(d, false),
                24 => {
                    self.found.key_updates += 1;
                    self.next_app_key(d, true)
                }
                _ => {}
            }
            at += 4 + len;
        }
        buf.drain(..at);
        if buf.len() > 1 << 16 {
            self.warnings
                .push(format!("{dir:?}: oversized encrypted handshake message"));
            buf.clear();
        }
        self.dirs[d].hs_buf = buf;
    }

    fn next_app_key(&mut self, d: usize, update: bool) {
        let Some((aead, hash)) = self.kinds() else {
            return;
        };
        let st = &mut self.dirs[d];
        if update {
            if st.phase != Phase::App {
                return;
            }
            let Some(cur) = &st.app_secret else { return };
            st.app_secret = Some(hkdf_expand_label(
                hash,
                cur,
                "traffic upd",
                &[],
                hash.out_len(),
            ));
        } else if st.phase != Phase::Handshake {
            return;
        }
        match &st.app_secret {
            Some(s) => {
                st.key = Some(RecordKey::tls13(aead, hash, s));
                st.phase = Phase::App;
            }
            None => {
                st.phase = Phase::Dead;
                self.why[d] = Some(Why::NoKey);
            }
        }
    }
}
