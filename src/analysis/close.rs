//! Why a connection ended: the close reason (a public contract, docs/output.md)
//! and the close sequence in words (`close_detail`).

use crate::inspect::http::{Facts, KeepAliveParams};
use crate::inspect::tls::TlsInfo;
use crate::inspect::AppInspector;
use crate::tcp::conn::{CloseKind, Connection};
use crate::tcp::Direction;
use crate::time::human;
use crate::time::{Duration, Timestamp};
use serde::Serialize;

/// Why a connection ended (the JSON `close_reason` contract; see docs/output.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloseReason {
    ConnectionCloseRequest,
    ConnectionCloseResponse,
    Http10Default,
    KeepAliveMax,
    IdleTimeout,
    ClientFinished,
    Reset,
    CaptureEnded,
    Unknown,
    /// The server closed right after a response (within
    /// [`CLOSED_AFTER_RESPONSE`]) with every request answered and no header
    /// announcing it: not a keep-alive timer.
    ServerClosedAfterResponse,
}

/// A server close this soon after the end of its last response is part of
/// answering, not a keep-alive timer running out.
pub const CLOSED_AFTER_RESPONSE: Duration = Duration(100_000_000);

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ConnectionCloseRequest => "connection-close-request",
            CloseReason::ConnectionCloseResponse => "connection-close-response",
            CloseReason::Http10Default => "http10-default",
            CloseReason::KeepAliveMax => "keep-alive-max",
            CloseReason::IdleTimeout => "idle-timeout",
            CloseReason::ClientFinished => "client-finished",
            CloseReason::Reset => "reset",
            CloseReason::CaptureEnded => "capture-ended",
            CloseReason::Unknown => "unknown",
            CloseReason::ServerClosedAfterResponse => "server-closed-after-response",
        }
    }
}

/// Why the connection ended: the rules of docs/output.md, one function each,
/// tried in the documented order; the first that holds wins.
pub(crate) fn close_reason(
    c: &Connection<AppInspector>,
    ex: &[Facts],
    requests: u32,
    ka: Option<&KeepAliveParams>,
    idle: Option<Duration>,
) -> CloseReason {
    let Some((kind, first_dir, _)) = c.close.first else {
        return CloseReason::CaptureEnded;
    };
    if kind == CloseKind::Rst {
        return CloseReason::Reset;
    }
    let by_server = closed_by_server(c, first_dir);
    h2_goaway(c)
        .or_else(|| no_exchange(ex, by_server))
        .or_else(|| tunnel(c, by_server))
        .or_else(|| request_close(ex))
        .or_else(|| keep_alive_max(ex, requests, ka, by_server))
        .or_else(|| http10_default(ex))
        .or_else(|| response_close(ex, by_server))
        .or_else(|| server_timer(c, ex, idle, by_server))
        .unwrap_or(CloseReason::ClientFinished)
}

/// Whether the server ended the connection. On TLS, whoever sent the first
/// close_notify (before the other's and before the first FIN/RST) ended the
/// session, in TLS 1.2 and 1.3 alike, with HTTP seen (decrypted) or not;
/// without one, the side of the first FIN.
fn closed_by_server(c: &Connection<AppInspector>, first_fin: Direction) -> bool {
    let tls_closer = c
        .app
        .tls()
        .and_then(|t| tls_close_notify_first(t.info(), c.close.first_time()));
    tls_closer.unwrap_or(first_fin) == Direction::ServerToClient
}

/// The side that ended a connection whose HTTP/1 says nothing about why.
fn by_side(by_server: bool) -> CloseReason {
    if by_server {
        CloseReason::Unknown
    } else {
        CloseReason::ClientFinished
    }
}

/// HTTP/2: a GOAWAY sent no later than the first FIN tells who ended the
/// connection (RFC 9113 §6.8), as `Connection: close` does for HTTP/1.
fn h2_goaway(c: &Connection<AppInspector>) -> Option<CloseReason> {
    let h = c.app.h2()?.info();
    let at = h.goaway_at?;
    if c.close.first_time().is_some_and(|f| at > f) {
        return None;
    }
    match h.goaway_from? {
        Direction::ClientToServer => Some(CloseReason::ClientFinished),
        Direction::ServerToClient => {
            // A clean GOAWAY long after the last answer, every stream
            // answered: the server's idle timer (nginx keepalive_timeout).
            let last_end = c
                .app
                .h2()
                .map_or(&[][..], |h| h.exchanges())
                .iter()
                .filter_map(|e| e.response.end().or(e.response.time()))
                .max();
            let idle = last_end.filter(|&e| e <= at).map(|e| at.since(e));
            let all_answered = h.responses >= h.streams;
            if h.goaway_error == Some(0)
                && all_answered
                && idle.is_some_and(|i| i >= CLOSED_AFTER_RESPONSE)
            {
                Some(CloseReason::IdleTimeout)
            } else {
                Some(CloseReason::ConnectionCloseResponse)
            }
        }
    }
}

/// No HTTP/1 exchange: the side that closed.
fn no_exchange(ex: &[Facts], by_server: bool) -> Option<CloseReason> {
    ex.is_empty().then(|| by_side(by_server))
}

/// A tunnel (CONNECT, or 101 to WebSocket/h2c): HTTP/1 says nothing about
/// why it ended.
fn tunnel(c: &Connection<AppInspector>, by_server: bool) -> Option<CloseReason> {
    c.app
        .http()
        .is_some_and(|h| h.switched().is_some())
        .then(|| by_side(by_server))
}

/// A request carried `Connection: close`.
fn request_close(ex: &[Facts]) -> Option<CloseReason> {
    ex.iter()
        .any(|e| e.has_method() && e.request_wants_close())
        .then_some(CloseReason::ConnectionCloseRequest)
}

/// An announced max reached: the server said how many requests it would
/// serve (`Keep-Alive: max=N`, static as nginx/lighttpd send it, or counting
/// down per response as Apache does) and closed when that many were served.
fn keep_alive_max(
    ex: &[Facts],
    requests: u32,
    ka: Option<&KeepAliveParams>,
    by_server: bool,
) -> Option<CloseReason> {
    if !by_server || ka.and_then(|k| k.max).is_none() {
        return None;
    }
    let served = requests as u64;
    let mut budget_met = false;
    let mut answered = 0u64;
    for e in ex.iter().filter(|e| e.has_status()) {
        answered += 1;
        if let Some(m) = e.keep_alive_max() {
            // After the i-th response, max=m more (or m including it).
            // `m` comes from a header: saturate, never wrap.
            let (a, b) = (answered.saturating_add(m), (answered - 1).saturating_add(m));
            budget_met |= served == a || served == b || served >= m && m <= answered;
        }
    }
    budget_met.then_some(CloseReason::KeepAliveMax)
}

/// HTTP/1.0 persistence needs an explicit keep-alive (RFC 9112 §9.3 and
/// Appendix C.2.2): a 1.0 request without one, or a 1.0 response without
/// one, means the connection ends after this exchange. This comes before the
/// server's `Connection: close`, which for a 1.0 client only restates it.
fn http10_default(ex: &[Facts]) -> Option<CloseReason> {
    ex.iter()
        .any(Facts::http10_default)
        .then_some(CloseReason::Http10Default)
}

/// A response carried `Connection: close`, or the server closed after a
/// response without a length: delimited by the close, the server had to
/// close (RFC 9112 §6.3 rule 8), just as if it had said so.
fn response_close(ex: &[Facts], by_server: bool) -> Option<CloseReason> {
    let resp_close = ex
        .iter()
        .any(|e| e.has_status() && e.response_wants_close());
    let until_close = ex
        .iter()
        .rev()
        .find(|e| e.has_status())
        .is_some_and(Facts::until_close);
    (resp_close || (by_server && until_close)).then_some(CloseReason::ConnectionCloseResponse)
}

/// The server closed a connection whose responses carried no close signal:
/// right after answering, or its keep-alive timer ran out (announced or
/// not), or with a request unanswered (unknown).
fn server_timer(
    c: &Connection<AppInspector>,
    ex: &[Facts],
    idle: Option<Duration>,
    by_server: bool,
) -> Option<CloseReason> {
    if !by_server {
        return None;
    }
    let all_answered = ex.iter().filter(|e| e.has_method()).all(|e| e.has_status());
    let stale = ex.iter().any(|e| {
        e.has_method() && matches!((e.request_time(), c.close.fin[1]), (Some(r), Some(f)) if r > f)
    });
    let right_after = idle.is_some_and(|i| i < CLOSED_AFTER_RESPONSE);
    Some(if all_answered && !stale && right_after {
        CloseReason::ServerClosedAfterResponse
    } else if all_answered || stale {
        CloseReason::IdleTimeout
    } else {
        CloseReason::Unknown
    })
}

/// RFC 9113 §7 error code names.
fn h2_error_name(e: u32) -> Option<&'static str> {
    const N: [&str; 14] = [
        "NO_ERROR",
        "PROTOCOL_ERROR",
        "INTERNAL_ERROR",
        "FLOW_CONTROL_ERROR",
        "SETTINGS_TIMEOUT",
        "STREAM_CLOSED",
        "FRAME_SIZE_ERROR",
        "REFUSED_STREAM",
        "CANCEL",
        "COMPRESSION_ERROR",
        "CONNECT_ERROR",
        "ENHANCE_YOUR_CALM",
        "INADEQUATE_SECURITY",
        "HTTP_1_1_REQUIRED",
    ];
    N.get(e as usize).copied()
}

/// The side whose close_notify came first, if it also came no later than
/// the first FIN/RST (`close`).
fn tls_close_notify_first(t: &TlsInfo, close: Option<Timestamp>) -> Option<Direction> {
    let (d, at) = match t.close_notify {
        [Some(c), Some(s)] if s < c => (Direction::ServerToClient, s),
        [Some(c), _] => (Direction::ClientToServer, c),
        [None, Some(s)] => (Direction::ServerToClient, s),
        [None, None] => return None,
    };
    close.is_none_or(|f| at <= f).then_some(d)
}

/// The close sequence in words, where the close reason alone would hide it:
/// the TLS close, the HTTP/2 GOAWAY, a late (stale) request, in that order.
pub(crate) fn close_detail(
    c: &Connection<AppInspector>,
    ex: &[Facts],
    server_gone: Option<Timestamp>,
) -> Option<String> {
    let parts: Vec<String> = [
        tls_close_detail(c),
        goaway_detail(c),
        late_request_detail(c, ex, server_gone),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn side(d: Direction) -> &'static str {
    match d {
        Direction::ClientToServer => "client",
        Direction::ServerToClient => "server",
    }
}

/// `client close_notify, then server FIN`: whose close_notify came first,
/// then who closed TCP first.
fn tls_close_detail(c: &Connection<AppInspector>) -> Option<String> {
    let t = c.app.tls()?.info();
    let d = c.close.first?.1;
    let fin = match (c.close.fin[d.index()], c.close.rst[d.index()]) {
        (Some(_), _) => "FIN",
        (None, Some(_)) => "RST",
        _ => "",
    };
    let who = match t.close_notify {
        [Some(cn), sn] if sn.is_some_and(|s| s < cn) => "server",
        [Some(_), _] => "client",
        [None, Some(_)] => "server",
        [None, None] => return None,
    };
    Some(format!("{who} close_notify, then {} {fin}", side(d)))
}

/// `client GOAWAY (NO_ERROR, last stream 0), then client FIN 29µs later`.
fn goaway_detail(c: &Connection<AppInspector>) -> Option<String> {
    let h = c.app.h2()?.info();
    let (d, at) = (h.goaway_from?, h.goaway_at?);
    let err = h
        .goaway_error
        .map_or("error code not captured".to_string(), |e| {
            h2_error_name(e).map_or(format!("error 0x{e:x}"), str::to_string)
        });
    let last = h
        .goaway_last_stream_id
        .map_or(String::new(), |l| format!(", last stream {l}"));
    let then = match c.close.first {
        Some((kind, fd, ft)) if ft >= at => format!(
            ", then {} {} {} later",
            side(fd),
            if kind == CloseKind::Rst { "RST" } else { "FIN" },
            human(ft.since(at))
        ),
        _ => String::new(),
    };
    Some(format!("{} GOAWAY ({err}{last}){then}", side(d)))
}

/// `server FIN, then a late request 1.50s after it, answered by RST 24µs
/// later`: the first request sent after the server had closed its side.
fn late_request_detail(
    c: &Connection<AppInspector>,
    ex: &[Facts],
    server_gone: Option<Timestamp>,
) -> Option<String> {
    let gone = server_gone?;
    let late = ex
        .iter()
        .filter(|e| e.has_method() && e.request_time().is_some_and(|rt| rt > gone))
        .filter_map(|e| e.request_time())
        .min()?;
    let what = if c.close.fin[1].is_some_and(|f| f <= late) {
        "server FIN"
    } else {
        "server RST"
    };
    Some(match c.close.rst[1].filter(|&r| r >= late) {
        Some(rst) => format!(
            "{what}, then a late request {} after it, answered by RST {} later",
            human(late.since(gone)),
            human(rst.since(late)),
        ),
        None => format!(
            "{what}, then a late request {} after it",
            human(late.since(gone))
        ),
    })
}
