//! The cryptography of TLS record decryption: cipher suite table (IANA names),
//! TLS 1.3 HKDF-Expand-Label and the TLS 1.2 PRF (RustCrypto `hkdf`, `hmac`,
//! `sha2`), and AEAD record keys (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305,
//! with `ring`: about 4x the RustCrypto AEADs' speed on the same machine, see
//! docs/performance.md) with their nonce and additional-data rules. A wrong key
//! fails the AEAD tag: `open` returns `None`, never garbage.

use hmac::{Hmac, Mac};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey};
use sha2::{Sha256, Sha384};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    Sha256,
    Sha384,
}

impl HashAlg {
    pub fn out_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AeadAlg {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl AeadAlg {
    pub fn key_len(self) -> usize {
        match self {
            AeadAlg::Aes128Gcm => 16,
            AeadAlg::Aes256Gcm | AeadAlg::ChaCha20Poly1305 => 32,
        }
    }
}

/// What keepwatch can do with a negotiated cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuiteKind {
    /// TLS 1.3 suite (AEAD + HKDF hash).
    Tls13(AeadAlg, HashAlg),
    /// TLS 1.2 AEAD suite (AEAD + PRF hash).
    Tls12(AeadAlg, HashAlg),
    /// Known, but not decrypted (CBC, RC4, NULL, CCM, ...).
    Unsupported,
}

/// IANA name and kind of a cipher suite (`None` for an unknown code point).
pub fn suite(id: u16) -> (Option<&'static str>, SuiteKind) {
    use AeadAlg::*;
    use HashAlg::*;
    use SuiteKind::*;
    let (name, kind) = match id {
        0x1301 => ("TLS_AES_128_GCM_SHA256", Tls13(Aes128Gcm, Sha256)),
        0x1302 => ("TLS_AES_256_GCM_SHA384", Tls13(Aes256Gcm, Sha384)),
        0x1303 => (
            "TLS_CHACHA20_POLY1305_SHA256",
            Tls13(ChaCha20Poly1305, Sha256),
        ),
        0x1304 => ("TLS_AES_128_CCM_SHA256", Unsupported),
        0x1305 => ("TLS_AES_128_CCM_8_SHA256", Unsupported),
        0xC02B => (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            Tls12(Aes128Gcm, Sha256),
        ),
        0xC02C => (
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            Tls12(Aes256Gcm, Sha384),
        ),
        0xC02F => (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            Tls12(Aes128Gcm, Sha256),
        ),
        0xC030 => (
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            Tls12(Aes256Gcm, Sha384),
        ),
        0x009C => ("TLS_RSA_WITH_AES_128_GCM_SHA256", Tls12(Aes128Gcm, Sha256)),
        0x009D => ("TLS_RSA_WITH_AES_256_GCM_SHA384", Tls12(Aes256Gcm, Sha384)),
        0x009E => (
            "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
            Tls12(Aes128Gcm, Sha256),
        ),
        0x009F => (
            "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
            Tls12(Aes256Gcm, Sha384),
        ),
        0xCCA8 => (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            Tls12(ChaCha20Poly1305, Sha256),
        ),
        0xCCA9 => (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            Tls12(ChaCha20Poly1305, Sha256),
        ),
        0xCCAA => (
            "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            Tls12(ChaCha20Poly1305, Sha256),
        ),
        0x002F => ("TLS_RSA_WITH_AES_128_CBC_SHA", Unsupported),
        0x0035 => ("TLS_RSA_WITH_AES_256_CBC_SHA", Unsupported),
        0x003C => ("TLS_RSA_WITH_AES_128_CBC_SHA256", Unsupported),
        0x003D => ("TLS_RSA_WITH_AES_256_CBC_SHA256", Unsupported),
        0x000A => ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", Unsupported),
        0x0005 => ("TLS_RSA_WITH_RC4_128_SHA", Unsupported),
        0x0033 => ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA", Unsupported),
        0x0039 => ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA", Unsupported),
        0x0067 => ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", Unsupported),
        0x006B => ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", Unsupported),
        0xC009 => ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", Unsupported),
        0xC00A => ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", Unsupported),
        0xC013 => ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", Unsupported),
        0xC014 => ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", Unsupported),
        0xC023 => ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", Unsupported),
        0xC024 => ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", Unsupported),
        0xC027 => ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", Unsupported),
        0xC028 => ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", Unsupported),
        0xC0AC => ("TLS_ECDHE_ECDSA_WITH_AES_128_CCM", Unsupported),
        0xC0AD => ("TLS_ECDHE_ECDSA_WITH_AES_256_CCM", Unsupported),
        _ => return (None, Unsupported),
    };
    (Some(name), kind)
}

/// The IANA name, or `0xNNNN` for a code point not in the table.
pub fn suite_name(id: u16) -> String {
    match suite(id).0 {
        Some(n) => n.to_string(),
        None => format!("0x{id:04X}"),
    }
}

fn hmac(hash: HashAlg, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match hash {
        HashAlg::Sha256 => {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }
        HashAlg::Sha384 => {
            let mut m = <Hmac<Sha384> as Mac>::new_from_slice(key).expect("HMAC takes any key");
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }
    }
}

/// TLS 1.3 HKDF-Expand-Label(secret, label, context, len) (RFC 8446 §7.1).
pub fn hkdf_expand_label(
    hash: HashAlg,
    secret: &[u8],
    label: &str,
    context: &[u8],
    len: usize,
) -> Vec<u8> {
    let full = [b"tls13 ", label.as_bytes()].concat();
    let mut info = Vec::with_capacity(4 + full.len() + context.len());
    info.extend_from_slice(&(len as u16).to_be_bytes());
    info.push(full.len() as u8);
    info.extend_from_slice(&full);
    info.push(context.len() as u8);
    info.extend_from_slice(context);
    let mut okm = vec![0u8; len];
    let ok = match hash {
        HashAlg::Sha256 => hkdf::Hkdf::<Sha256>::from_prk(secret)
            .ok()
            .and_then(|h| h.expand(&info, &mut okm).ok()),
        HashAlg::Sha384 => hkdf::Hkdf::<Sha384>::from_prk(secret)
            .ok()
            .and_then(|h| h.expand(&info, &mut okm).ok()),
    };
    // Secrets are checked to be the hash length before we get here.
    debug_assert!(ok.is_some());
    okm
}

/// TLS 1.2 PRF (RFC 5246 §5): P_hash(secret, label + seed), `len` bytes.
pub fn prf12(hash: HashAlg, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let ls = [label, seed].concat();
    let mut out = Vec::with_capacity(len + 48);
    let mut a = hmac(hash, secret, &[&ls]);
    while out.len() < len {
        out.extend(hmac(hash, secret, &[&a, &ls]));
        a = hmac(hash, secret, &[&a]);
    }
    out.truncate(len);
    out
}

/// One direction's record protection key with its sequence number.
pub struct RecordKey {
    cipher: LessSafeKey,
    /// 12 bytes (TLS 1.3, ChaCha20 in 1.2) or the 4-byte salt (AES-GCM in 1.2).
    iv: Vec<u8>,
    /// TLS 1.2 AES-GCM: 8-byte explicit nonce at the start of each record.
    explicit_nonce: bool,
    tls13: bool,
    pub seq: u64,
}

impl std::fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordKey")
            .field("tls13", &self.tls13)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

const TAG: usize = 16;

impl RecordKey {
    fn new(aead: AeadAlg, key: &[u8], iv: Vec<u8>, tls13: bool) -> Self {
        let alg = match aead {
            AeadAlg::Aes128Gcm => &ring::aead::AES_128_GCM,
            AeadAlg::Aes256Gcm => &ring::aead::AES_256_GCM,
            AeadAlg::ChaCha20Poly1305 => &ring::aead::CHACHA20_POLY1305,
        };
        // Key lengths come from the suite table, so this cannot fail.
        let cipher = LessSafeKey::new(UnboundKey::new(alg, key).expect("key length of the suite"));
        let explicit_nonce = !tls13 && aead != AeadAlg::ChaCha20Poly1305;
        RecordKey {
            cipher,
            iv,
            explicit_nonce,
            tls13,
            seq: 0,
        }
    }

    /// TLS 1.3 traffic key from a traffic secret (RFC 8446 §7.3).
    pub fn tls13(aead: AeadAlg, hash: HashAlg, secret: &[u8]) -> Self {
        let key = hkdf_expand_label(hash, secret, "key", &[], aead.key_len());
        let iv = hkdf_expand_label(hash, secret, "iv", &[], 12);
        Self::new(aead, &key, iv, true)
    }

    /// TLS 1.2 client and server keys from the master secret (RFC 5246 §6.3,
    /// RFC 5288, RFC 7905).
    pub fn tls12_pair(
        aead: AeadAlg,
        hash: HashAlg,
        master: &[u8],
        client_random: &[u8],
        server_random: &[u8],
    ) -> (Self, Self) {
        let k = aead.key_len();
        let iv = if aead == AeadAlg::ChaCha20Poly1305 {
            12
        } else {
            4
        };
        let seed = [server_random, client_random].concat();
        let kb = prf12(hash, master, b"key expansion", &seed, 2 * k + 2 * iv);
        let c = Self::new(aead, &kb[..k], kb[2 * k..2 * k + iv].to_vec(), false);
        let s = Self::new(
            aead,
            &kb[k..2 * k],
            kb[2 * k + iv..2 * k + 2 * iv].to_vec(),
            false,
        );
        (c, s)
    }

    fn nonce(&self, seq: u64, body: &[u8]) -> [u8; 12] {
        let mut n = [0u8; 12];
        if self.explicit_nonce {
            n[..4].copy_from_slice(&self.iv);
            n[4..].copy_from_slice(&body[..8]);
        } else {
            n.copy_from_slice(&self.iv);
            for (i, b) in seq.to_be_bytes().iter().enumerate() {
                n[4 + i] ^= b;
            }
        }
        n
    }

    /// Decrypts one record body with sequence number `seq` (the key's own is not
    /// touched). `header` is the record's 5-byte header. `None` if the record does
    /// not authenticate (wrong key, wrong sequence number, damaged bytes).
    pub fn open_at(&self, seq: u64, header: &[u8; 5], body: &[u8]) -> Option<Vec<u8>> {
        let skip = if self.explicit_nonce { 8 } else { 0 };
        if body.len() < skip + TAG {
            return None;
        }
        let nonce = self.nonce(seq, body);
        let mut buf = body[skip..].to_vec();
        let mut aad12 = [0u8; 13];
        let aad: &[u8] = if self.tls13 {
            header
        } else {
            let plen = (buf.len() - TAG) as u16;
            aad12[..8].copy_from_slice(&seq.to_be_bytes());
            aad12[8..11].copy_from_slice(&header[..3]);
            aad12[11..].copy_from_slice(&plen.to_be_bytes());
            &aad12
        };
        let n = self
            .cipher
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .ok()?
            .len();
        buf.truncate(n);
        Some(buf)
    }

    /// Test and bench helper: encrypts a record body the way a peer would.
    pub fn seal_at(&self, seq: u64, header: &[u8; 5], plain: &[u8], explicit: [u8; 8]) -> Vec<u8> {
        let mut prefix = Vec::new();
        if self.explicit_nonce {
            prefix.extend_from_slice(&explicit);
        }
        let nonce = self.nonce(seq, &prefix);
        let mut buf = plain.to_vec();
        let mut aad12 = [0u8; 13];
        let aad: &[u8] = if self.tls13 {
            header
        } else {
            aad12[..8].copy_from_slice(&seq.to_be_bytes());
            aad12[8..11].copy_from_slice(&header[..3]);
            aad12[11..].copy_from_slice(&(plain.len() as u16).to_be_bytes());
            &aad12
        };
        self.cipher
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .expect("in-memory encryption");
        prefix.extend(buf);
        prefix
    }

    /// Bytes a record body carries beyond its plaintext (explicit nonce + tag).
    pub fn overhead(&self) -> usize {
        TAG + if self.explicit_nonce { 8 } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        crate::inspect::tls::keylog::unhex(&s).expect("hex test vector")
    }

    /// RFC 8448 §3 (simple 1-RTT handshake): the server handshake traffic
    /// secret and the key and IV derived from it.
    #[test]
    fn hkdf_expand_label_rfc8448() {
        let shts = hex("b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4
                        e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38");
        let key = hkdf_expand_label(HashAlg::Sha256, &shts, "key", &[], 16);
        let iv = hkdf_expand_label(HashAlg::Sha256, &shts, "iv", &[], 12);
        assert_eq!(key, hex("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc"));
        assert_eq!(iv, hex("5d 31 3e b2 67 12 76 ee 13 00 0b 30"));
    }

    /// The TLS 1.2 PRF test vector (P_SHA256) published by the IETF TLS WG.
    #[test]
    fn prf_sha256_vector() {
        let secret = hex("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35");
        let seed = hex("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c");
        let out = prf12(HashAlg::Sha256, &secret, b"test label", &seed, 100);
        assert_eq!(out.len(), 100);
        assert_eq!(
            out[..16],
            hex("e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53")[..]
        );
    }

    #[test]
    fn seal_then_open_each_aead_and_reject_wrong_key() {
        let hdr = [23, 3, 3, 0, 0];
        for aead in [
            AeadAlg::Aes128Gcm,
            AeadAlg::Aes256Gcm,
            AeadAlg::ChaCha20Poly1305,
        ] {
            let k13 = RecordKey::tls13(aead, HashAlg::Sha256, &[7u8; 32]);
            let sealed = k13.seal_at(5, &hdr, b"hello", [0; 8]);
            assert_eq!(
                k13.open_at(5, &hdr, &sealed).as_deref(),
                Some(&b"hello"[..])
            );
            assert_eq!(k13.open_at(4, &hdr, &sealed), None, "wrong sequence number");
            let other = RecordKey::tls13(aead, HashAlg::Sha256, &[8u8; 32]);
            assert_eq!(other.open_at(5, &hdr, &sealed), None, "wrong key");

            let (c, s) = RecordKey::tls12_pair(aead, HashAlg::Sha384, &[1; 48], &[2; 32], &[3; 32]);
            let sealed = c.seal_at(0, &hdr, b"GET /", [9; 8]);
            assert_eq!(c.open_at(0, &hdr, &sealed).as_deref(), Some(&b"GET /"[..]));
            assert_eq!(
                s.open_at(0, &hdr, &sealed),
                None,
                "server key on client record"
            );
            assert_eq!(c.overhead() + 5, sealed.len());
            // Too short to hold a tag: rejected, not a panic.
            assert_eq!(c.open_at(0, &hdr, &sealed[..10]), None);
        }
    }

    #[test]
    fn suite_names() {
        assert_eq!(suite_name(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(suite_name(0xC030), "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
        assert_eq!(suite_name(0xABCD), "0xABCD");
        assert_eq!(suite(0xC013).1, SuiteKind::Unsupported);
    }
}
