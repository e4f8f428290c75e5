//! Pure parsers (nom 8) for the few handshake fields keepwatch needs.
//!
//! Everything here works on one complete handshake message body (the bytes after
//! the 4-byte handshake header) and never panics: malformed input is an `Err`.

use nom::bytes::complete::take;
use nom::multi::length_data;
use nom::number::complete::{be_u16, be_u8};
use nom::{IResult, Parser};

type Res<'a, T> = IResult<&'a [u8], T>;

/// The special ServerHello.random that marks a TLS 1.3 HelloRetryRequest (RFC 8446 §4.1.3).
pub const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

pub const EXT_SERVER_NAME: u16 = 0;
pub const EXT_ALPN: u16 = 16;
pub const EXT_SESSION_TICKET: u16 = 35;
pub const EXT_PRE_SHARED_KEY: u16 = 41;
pub const EXT_EARLY_DATA: u16 = 42;
pub const EXT_SUPPORTED_VERSIONS: u16 = 43;

fn u8_(i: &[u8]) -> Res<'_, u8> {
    be_u8(i)
}
fn u16_(i: &[u8]) -> Res<'_, u16> {
    be_u16(i)
}
fn vec8(i: &[u8]) -> Res<'_, &[u8]> {
    length_data(be_u8).parse(i)
}
fn vec16(i: &[u8]) -> Res<'_, &[u8]> {
    length_data(be_u16).parse(i)
}
fn take_n(n: usize) -> impl Fn(&[u8]) -> Res<'_, &[u8]> {
    move |i| take(n).parse(i)
}

/// `extensions<0..2^16-1>`: absent (no bytes left) is an empty list. A truncated
/// trailing extension ends the list (lenient: keep what parsed).
fn extensions(i: &[u8]) -> Res<'_, Vec<(u16, &[u8])>> {
    if i.is_empty() {
        return Ok((i, Vec::new()));
    }
    let (rest, mut block) = vec16(i)?;
    let mut out = Vec::new();
    while !block.is_empty() {
        let Ok((r, id)) = u16_(block) else { break };
        let Ok((r, data)) = vec16(r) else { break };
        out.push((id, data));
        block = r;
    }
    Ok((rest, out))
}

/// Is this a GREASE value (RFC 8701: 0x0A0A, 0x1A1A, ... 0xFAFA)?
pub fn is_grease(v: u16) -> bool {
    (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// Human name for a protocol version: "ssl3", "1.0".."1.3", "1.3-draftNN",
/// "1.3-fbNN" (Facebook's draft variants), otherwise "0xNNNN".
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "ssl3".into(),
        0x0301 => "1.0".into(),
        0x0302 => "1.1".into(),
        0x0303 => "1.2".into(),
        0x0304 => "1.3".into(),
        v if v >> 8 == 0x7f => format!("1.3-draft{}", v & 0xff),
        v if v >> 8 == 0xfb => format!("1.3-fb{}", v & 0xff),
        v => format!("0x{v:04x}"),
    }
}

/// Does this negotiated version use TLS 1.3 semantics (encrypted handshake after ServerHello)?
pub fn is_tls13(v: u16) -> bool {
    v == 0x0304 || v >> 8 == 0x7f || v >> 8 == 0xfb
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ClientHello {
    pub legacy_version: u16,
    pub random: [u8; 32],
    pub session_id: Vec<u8>,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    /// From supported_versions, GREASE removed, in the client's order.
    pub supported_versions: Vec<u16>,
    /// `Some(len)` when the session_ticket extension is present (len 0 = "send me one").
    pub session_ticket_len: Option<usize>,
    pub psk: bool,
    pub early_data: bool,
}

pub fn client_hello(body: &[u8]) -> Result<ClientHello, ()> {
    parse_client_hello(body).map(|(_, ch)| ch).map_err(|_| ())
}

fn parse_client_hello(i: &[u8]) -> Res<'_, ClientHello> {
    let (i, legacy_version) = u16_(i)?;
    let (i, random) = take_n(32)(i)?;
    let (i, sid) = vec8(i)?;
    let (i, _suites) = vec16(i)?;
    let (i, _compression) = vec8(i)?;
    let (i, exts) = extensions(i)?;
    let mut ch = ClientHello {
        legacy_version,
        random: random.try_into().unwrap_or([0; 32]),
        session_id: sid.to_vec(),
        ..Default::default()
    };
    for (id, data) in exts {
        match id {
            EXT_SERVER_NAME => ch.sni = parse_sni(data),
            EXT_ALPN => ch.alpn = parse_alpn(data),
            EXT_SUPPORTED_VERSIONS => {
                if let Ok((_, list)) = vec8(data) {
                    ch.supported_versions = list
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .filter(|v| !is_grease(*v))
                        .collect();
                }
            }
            EXT_SESSION_TICKET => ch.session_ticket_len = Some(data.len()),
            EXT_PRE_SHARED_KEY => ch.psk = true,
            EXT_EARLY_DATA => ch.early_data = true,
            _ => {}
        }
    }
    Ok((i, ch))
}

/// server_name: `ServerNameList<1..2^16-1>` of (type u8, HostName<1..2^16-1>); first host_name (type 0).
fn parse_sni(data: &[u8]) -> Option<String> {
    let (_, mut list) = vec16(data).ok()?;
    while !list.is_empty() {
        let (r, typ) = u8_(list).ok()?;
        let (r, name) = vec16(r).ok()?;
        if typ == 0 {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
        list = r;
    }
    None
}

/// ALPN: `ProtocolNameList<2..2^16-1>` of `opaque ProtocolName<1..2^8-1>`.
fn parse_alpn(data: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let Ok((_, mut list)) = vec16(data) else {
        return out;
    };
    while let Ok((r, name)) = vec8(list) {
        out.push(String::from_utf8_lossy(name).into_owned());
        list = r;
    }
    out
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ServerHello {
    pub legacy_version: u16,
    /// The version actually chosen: supported_versions if present, else legacy_version.
    pub version: u16,
    pub hello_retry: bool,
    pub random: [u8; 32],
    pub cipher_suite: u16,
    pub session_id: Vec<u8>,
    pub alpn: Option<String>,
    pub psk_accepted: bool,
}

/// Parses a ServerHello body, final (RFC 8446 / RFC 5246) or early-draft TLS 1.3 layout
/// (drafts ≤ 21 sent the draft version in ServerHello.version and had no session id or
/// compression method).
pub fn server_hello(body: &[u8]) -> Result<ServerHello, ()> {
    parse_server_hello(body).map(|(_, sh)| sh).map_err(|_| ())
}

fn parse_server_hello(i: &[u8]) -> Res<'_, ServerHello> {
    let (i, legacy_version) = u16_(i)?;
    let (i, random) = take_n(32)(i)?;
    let draft_layout = legacy_version >> 8 == 0x7f || legacy_version >> 8 == 0xfb;
    let (i, sid) = if draft_layout { (i, &[][..]) } else { vec8(i)? };
    let (i, cipher_suite) = u16_(i)?;
    let (i, _compression) = if draft_layout { (i, 0) } else { u8_(i)? };
    let (i, exts) = extensions(i)?;
    let mut sh = ServerHello {
        legacy_version,
        version: legacy_version,
        hello_retry: random == HRR_RANDOM,
        random: random.try_into().unwrap_or([0; 32]),
        cipher_suite,
        session_id: sid.to_vec(),
        ..Default::default()
    };
    for (id, data) in exts {
        match id {
            EXT_SUPPORTED_VERSIONS if data.len() == 2 => {
                sh.version = u16::from_be_bytes([data[0], data[1]]);
            }
            EXT_ALPN => sh.alpn = parse_alpn(data).into_iter().next(),
            EXT_PRE_SHARED_KEY => sh.psk_accepted = true,
            _ => {}
        }
    }
    Ok((i, sh))
}

/// The ALPN protocol selected in a (decrypted) TLS 1.3 EncryptedExtensions body.
pub fn encrypted_extensions_alpn(body: &[u8]) -> Option<String> {
    let (_, exts) = extensions(body).ok()?;
    exts.into_iter()
        .find(|(id, _)| *id == EXT_ALPN)
        .and_then(|(_, d)| parse_alpn(d).into_iter().next())
}

/// Draft TLS 1.3 HelloRetryRequest (handshake type 6, drafts ≤ 21): version + extensions.
pub fn draft_hello_retry_version(body: &[u8]) -> Option<u16> {
    u16_(body).ok().map(|(_, v)| v)
}

pub fn alert_name(level: u8, desc: u8) -> String {
    let level = match level {
        1 => "warning".to_string(),
        2 => "fatal".to_string(),
        l => format!("level{l}"),
    };
    let d = match desc {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "",
    };
    if d.is_empty() {
        format!("{level}/{desc}")
    } else {
        format!("{level}/{d}")
    }
}
