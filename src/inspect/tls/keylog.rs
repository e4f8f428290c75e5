//! TLS secrets in the NSS key log format (`SSLKEYLOGFILE`), from files given
//! with `--keylog` and from pcapng Decryption Secrets Blocks.
//!
//! One line is `LABEL <client_random hex> <secret hex>`. Labels used:
//! `CLIENT_RANDOM` (TLS 1.2 master secret, 48 bytes), and for TLS 1.3
//! `CLIENT_HANDSHAKE_TRAFFIC_SECRET`, `SERVER_HANDSHAKE_TRAFFIC_SECRET`,
//! `CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0` (32 or 48 bytes: the
//! suite's hash length). Comments (`#`) and blank lines are ignored; other
//! labels NSS writes (early traffic, exporter, `RSA`) are known and unused; a
//! malformed line or a secret of the wrong length is warned about with its line
//! number and skipped.
//!
//! [`KeyStore`] is shared by every connection of one analysis. For live capture
//! it re-reads the files as they grow ([`KeyStore::poll`]); a generation counter
//! tells a connection waiting for its secret that new ones arrived.

use rustc_hash::FxHashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Warnings kept from key logs (then one line says how many more).
const MAX_KEYLOG_WARNINGS: usize = 20;

/// The secrets known for one client random.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// TLS 1.2 master secret (48 bytes).
    pub master: Option<Vec<u8>>,
    pub client_handshake: Option<Vec<u8>>,
    pub server_handshake: Option<Vec<u8>>,
    pub client_traffic: Option<Vec<u8>>,
    pub server_traffic: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    ClientRandom,
    ClientHandshake,
    ServerHandshake,
    ClientTraffic0,
    ServerTraffic0,
    /// Known NSS label that keepwatch does not use.
    Unused,
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub label: Label,
    pub client_random: [u8; 32],
    pub secret: Vec<u8>,
}

/// Hex digits (even count, nothing else) to bytes; the test vectors use it
/// too, whitespace removed.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Parses one line: `Ok(None)` for a blank line or a comment, `Err(why)` for a
/// line to warn about.
pub fn parse_line(line: &str) -> Result<Option<Entry>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut it = line.split_ascii_whitespace();
    let label_s = it.next().unwrap_or_default();
    let label = match label_s {
        "CLIENT_RANDOM" => Label::ClientRandom,
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => Label::ClientHandshake,
        "SERVER_HANDSHAKE_TRAFFIC_SECRET" => Label::ServerHandshake,
        "CLIENT_TRAFFIC_SECRET_0" => Label::ClientTraffic0,
        "SERVER_TRAFFIC_SECRET_0" => Label::ServerTraffic0,
        "CLIENT_EARLY_TRAFFIC_SECRET" | "EXPORTER_SECRET" | "EARLY_EXPORTER_SECRET" | "RSA" => {
            Label::Unused
        }
        other => {
            let shown: String = other.chars().take(40).collect();
            return Err(format!("unknown label {shown:?}"));
        }
    };
    let (Some(cr), Some(secret), None) = (it.next(), it.next(), it.next()) else {
        return Err("expected: LABEL <client_random> <secret>".into());
    };
    if label == Label::Unused {
        return Ok(None);
    }
    let cr = unhex(cr)
        .filter(|v| v.len() == 32)
        .ok_or("client random is not 32 bytes of hex")?;
    let secret = unhex(secret).ok_or("secret is not hex")?;
    let ok_len = match label {
        Label::ClientRandom => secret.len() == 48,
        _ => secret.len() == 32 || secret.len() == 48,
    };
    if !ok_len {
        return Err(format!(
            "{label_s} secret of {} bytes (expected {})",
            secret.len(),
            if label == Label::ClientRandom {
                "48"
            } else {
                "32 or 48"
            }
        ));
    }
    let mut client_random = [0u8; 32];
    client_random.copy_from_slice(&cr);
    Ok(Some(Entry {
        label,
        client_random,
        secret,
    }))
}

#[derive(Debug)]
struct Tail {
    path: PathBuf,
    /// Bytes consumed (whole lines).
    offset: u64,
    lines: usize,
}

#[derive(Debug, Default)]
struct Inner {
    map: FxHashMap<[u8; 32], Secrets>,
    warnings: Vec<String>,
    suppressed: u64,
}

/// Secrets by client random, shared by the connections of one analysis.
#[derive(Debug, Default)]
pub struct KeyStore {
    inner: RwLock<Inner>,
    tails: Mutex<Vec<Tail>>,
    generation: AtomicU64,
    /// Live capture: secrets may still arrive, so records wait for them.
    growing: bool,
}

impl KeyStore {
    pub fn new() -> Arc<KeyStore> {
        Arc::new(KeyStore::default())
    }

    /// A store whose files keep growing (live capture): connections without
    /// their secret hold records back (bounded) until [`KeyStore::poll`] brings it.
    pub fn new_growing() -> Arc<KeyStore> {
        Arc::new(KeyStore {
            growing: true,
            ..Default::default()
        })
    }

    pub fn growing(&self) -> bool {
        self.growing
    }

    /// Key log files were given (`--keylog`), even if they held no secret.
    pub fn requested(&self) -> bool {
        self.tails.lock().is_ok_and(|t| !t.is_empty())
    }

    /// A pcapng Decryption Secrets Block: TLS key logs (type `TLSK`) are read,
    /// other secret types are noted and skipped.
    pub fn add_dsb(&self, secrets_type: u32, data: &[u8]) {
        const TLS_KEY_LOG: u32 = 0x544c_534b;
        if secrets_type == TLS_KEY_LOG {
            self.add_text("in pcapng Decryption Secrets Block", data, 1);
        } else if let Ok(mut i) = self.inner.write() {
            let msg = format!(
                "pcapng Decryption Secrets Block of type 0x{secrets_type:08x} (not a TLS key log) skipped"
            );
            if !i.warnings.contains(&msg) {
                Self::warn(&mut i, msg);
            }
        }
    }

    /// Bumped whenever new secrets are added.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Client randoms with at least one secret.
    pub fn len(&self) -> usize {
        self.inner.read().map(|i| i.map.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, client_random: &[u8]) -> Option<Secrets> {
        let cr: [u8; 32] = client_random.try_into().ok()?;
        self.inner.read().ok()?.map.get(&cr).cloned()
    }

    /// Warnings so far (malformed lines, unreadable files).
    pub fn warnings(&self) -> Vec<String> {
        let Ok(i) = self.inner.read() else {
            return Vec::new();
        };
        let mut w = i.warnings.clone();
        if i.suppressed > 0 {
            w.push(format!(
                "{} further key log warnings suppressed",
                i.suppressed
            ));
        }
        w
    }

    fn warn(i: &mut Inner, msg: String) {
        if i.warnings.len() < MAX_KEYLOG_WARNINGS {
            i.warnings.push(msg);
        } else {
            i.suppressed += 1;
        }
    }

    /// Adds the secrets of key log text; `source` names it in warnings and
    /// `first_line` numbers its first line. Returns the entries added.
    pub fn add_text(&self, source: &str, text: &[u8], first_line: usize) -> usize {
        let Ok(mut i) = self.inner.write() else {
            return 0;
        };
        let mut added = 0;
        for (n, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line_no = first_line + n;
            let Ok(line) = std::str::from_utf8(raw) else {
                Self::warn(
                    &mut i,
                    format!("key log {source} line {line_no}: not text; skipped"),
                );
                continue;
            };
            match parse_line(line) {
                Ok(None) => {}
                Ok(Some(e)) => {
                    let s = i.map.entry(e.client_random).or_default();
                    let slot = match e.label {
                        Label::ClientRandom => &mut s.master,
                        Label::ClientHandshake => &mut s.client_handshake,
                        Label::ServerHandshake => &mut s.server_handshake,
                        Label::ClientTraffic0 => &mut s.client_traffic,
                        Label::ServerTraffic0 => &mut s.server_traffic,
                        Label::Unused => continue,
                    };
                    *slot = Some(e.secret);
                    added += 1;
                }
                Err(why) => Self::warn(
                    &mut i,
                    format!("key log {source} line {line_no}: {why}; skipped"),
                ),
            }
        }
        if added > 0 {
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
        added
    }

    /// Reads a key log file now, and remembers it for [`KeyStore::poll`].
    pub fn add_file(&self, path: &Path) -> std::io::Result<usize> {
        let mut tail = Tail {
            path: path.to_path_buf(),
            offset: 0,
            lines: 0,
        };
        // Kept even when it cannot be read yet: a live client creates it later.
        let n = self.read_tail(&mut tail);
        if let Ok(mut t) = self.tails.lock() {
            t.push(tail);
        }
        n
    }

    /// Reads what the key log files gained since the last read (complete lines
    /// only; a file that shrank is read again from its start). Returns the
    /// entries added.
    pub fn poll(&self) -> usize {
        let Ok(mut tails) = self.tails.lock() else {
            return 0;
        };
        let mut n = 0;
        for t in tails.iter_mut() {
            match self.read_tail(t) {
                Ok(k) => n += k,
                Err(e) => {
                    if let Ok(mut i) = self.inner.write() {
                        let msg = format!("key log {}: {e}", t.path.display());
                        if !i.warnings.contains(&msg) {
                            Self::warn(&mut i, msg);
                        }
                    }
                }
            }
        }
        n
    }

    fn read_tail(&self, t: &mut Tail) -> std::io::Result<usize> {
        let mut f = std::fs::File::open(&t.path)?;
        let len = f.metadata()?.len();
        if len < t.offset {
            t.offset = 0;
            t.lines = 0;
        }
        if len == t.offset {
            return Ok(0);
        }
        f.seek(SeekFrom::Start(t.offset))?;
        let mut buf = Vec::new();
        f.take(len - t.offset).read_to_end(&mut buf)?;
        // Only whole lines: a writer may be half-way through the last one.
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
            return Ok(0);
        };
        let whole = &buf[..end];
        let source = t.path.display().to_string();
        let n = self.add_text(&source, whole, t.lines + 1);
        t.lines += whole.split(|&b| b == b'\n').count();
        t.offset += end as u64 + 1;
        Ok(n)
    }

    /// Reads the files to their end, last line included even without a newline
    /// (a finished key log, for `report`).
    pub fn finish_files(&self) {
        let Ok(tails) = self.tails.lock() else {
            return;
        };
        for t in tails.iter() {
            let Ok(mut f) = std::fs::File::open(&t.path) else {
                continue;
            };
            let mut rest = Vec::new();
            if f.seek(SeekFrom::Start(t.offset)).is_ok()
                && f.read_to_end(&mut rest).is_ok()
                && !rest.is_empty()
                && !rest.contains(&b'\n')
            {
                let source = t.path.display().to_string();
                self.add_text(&source, &rest, t.lines + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CR: &str = "1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn labels_comments_and_bad_lines() {
        let ms = "ab".repeat(48);
        let s32 = "cd".repeat(32);
        let text = format!(
            "# comment\n\nCLIENT_RANDOM {CR} {ms}\nSERVER_TRAFFIC_SECRET_0 {CR} {s32}\n\
             CLIENT_RANDOM {CR}\nCLIENT_RANDOM {CR} abcd\nBOGUS {CR} {s32}\n\
             EXPORTER_SECRET {CR} {s32}\nCLIENT_TRAFFIC_SECRET_0 zz {s32}\n"
        );
        let ks = KeyStore::new();
        assert_eq!(ks.add_text("k.log", text.as_bytes(), 1), 2);
        let s = ks.get(&[0x11; 32]).unwrap();
        assert_eq!(s.master.as_deref(), Some(&[0xab; 48][..]));
        assert_eq!(s.server_traffic.as_deref(), Some(&[0xcd; 32][..]));
        assert_eq!(s.client_traffic, None);
        let w = ks.warnings();
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[0].contains("line 5"), "{w:?}");
        assert!(w[1].contains("line 6") && w[1].contains("2 bytes"), "{w:?}");
        assert!(w[2].contains("line 7") && w[2].contains("BOGUS"), "{w:?}");
        assert!(w[3].contains("line 9"), "{w:?}");
    }

    #[test]
    fn hostile_lines_are_bounded_warnings() {
        let mut text = Vec::new();
        for _ in 0..1000 {
            text.extend_from_slice(b"\xff\xfe garbage\nCLIENT_RANDOM x y z\n");
        }
        let ks = KeyStore::new();
        assert_eq!(ks.add_text("bad", &text, 1), 0);
        let w = ks.warnings();
        assert_eq!(w.len(), MAX_KEYLOG_WARNINGS + 1);
        assert!(w.last().unwrap().contains("1980 further"));
    }

    #[test]
    fn file_grows_line_by_line() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keys.log");
        let mut f = std::fs::File::create(&p).unwrap();
        let ks = KeyStore::new_growing();
        assert_eq!(ks.add_file(&p).unwrap(), 0);
        let line = format!("CLIENT_RANDOM {CR} {}", "00".repeat(48));
        // Half a line: not read yet.
        f.write_all(&line.as_bytes()[..50]).unwrap();
        assert_eq!(ks.poll(), 0);
        let g = ks.generation();
        f.write_all(&line.as_bytes()[50..]).unwrap();
        f.write_all(b"\nbad line\n").unwrap();
        assert_eq!(ks.poll(), 1);
        assert!(ks.generation() > g);
        assert!(ks.get(&[0x11; 32]).unwrap().master.is_some());
        assert!(ks.warnings()[0].contains("line 2"));
    }
}
