//! Verdicts and summaries: turns a finished connection into the record the
//! reports print (why it ended, whether it was reused), and aggregates records
//! into the summary, per server and per virtual host.
//!
//! Everything here is a pure function of the connection: no clock, no I/O.

use crate::h2::H2Info;
use crate::http::{Exchange, HttpVersion, KeepAliveParams};
use crate::inspect::AppInspector;
use crate::memory::TopN;
use crate::tcp::conn::{CloseKind, Connection};
use crate::tcp::stream::StreamStats;
use crate::tcp::{ClosedBy, Direction, EndCause, HandshakeState};
use crate::time::{Duration, Timestamp};
use crate::tls::TlsInfo;
use serde::Serialize;
use std::collections::BTreeMap;

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

/// The JSON `verdict` contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Reused,
    SingleRequestClosed,
    SingleRequestKeptOpen,
    NoHttp,
    Unanswered,
    /// Two or more requests, but every request after the first was stale
    /// (sent after the server had closed): the reuse was attempted and failed.
    ReuseFailed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Reused => "reused",
            Verdict::SingleRequestClosed => "single-request-closed",
            Verdict::SingleRequestKeptOpen => "single-request-kept-open",
            Verdict::NoHttp => "no-http",
            Verdict::Unanswered => "unanswered",
            Verdict::ReuseFailed => "reuse-failed",
        }
    }
}

/// HTTP/1 versions spoken by each side of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HttpVersions {
    pub client: Option<&'static str>,
    pub server: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TcpDetail {
    pub handshake_detail: Option<String>,
    pub syn: Option<Timestamp>,
    pub syn_ack: Option<Timestamp>,
    pub ack: Option<Timestamp>,
    pub syn_packets: u32,
    pub syn_ack_packets: u32,
    pub fin_client: Option<Timestamp>,
    pub fin_server: Option<Timestamp>,
    pub rst_client: Option<Timestamp>,
    pub rst_server: Option<Timestamp>,
    /// One side sent FIN and the other kept sending data afterwards.
    pub half_closed: bool,
    pub reset_after_fin: bool,
    /// The client/server roles were guessed (connection picked up mid-stream).
    pub roles_guessed: bool,
    pub end_cause: EndCause,
    pub client_to_server: StreamStats,
    pub server_to_client: StreamStats,
}

/// One connection as the reports show it. Field names are a public contract.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionRecord {
    pub id: u64,
    pub client: String,
    pub server: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub duration: Duration,
    pub handshake: HandshakeState,
    pub closed_by: ClosedBy,
    pub requests: u32,
    pub responses: u32,
    pub verdict: Verdict,
    pub close_reason: CloseReason,
    /// How the connection ended, in words, where the close reason alone would
    /// hide it (e.g. `client close_notify, then server FIN`; `server FIN, then
    /// a late request answered by RST`); null otherwise.
    pub close_detail: Option<String>,
    /// What the connection carried: `http`, `tls`, `h2c`, `unknown` or `none`.
    pub protocol: &'static str,
    pub host: Option<String>,
    pub http_version: Option<&'static str>,
    /// HTTP/1 versions per side: the client's requests and the server's
    /// responses (`1.0`, `1.1`, `mixed`); null without HTTP/1 heads. Says
    /// which side spoke which when `http_version` is `mixed`.
    pub http_versions: Option<HttpVersions>,
    pub max_pipeline_depth: u32,
    pub keep_alive: Option<KeepAliveParams>,
    pub idle_before_close: Option<Duration>,
    pub stale_requests: u32,
    pub interim_responses: u32,
    /// HTTP/1 messages that broke the grammar, counted (control bytes in a
    /// request target) or skipped (malformed head); each one is warned.
    pub malformed_messages: u32,
    pub packets: u64,
    pub bytes: u64,
    pub exchanges: Vec<Exchange>,
    /// Exchanges counted but not listed in `exchanges` (a connection keeps the
    /// details of its first 500 and last 500 exchanges, to bound memory).
    pub exchanges_omitted: usize,
    /// Of `exchanges_omitted`, requests dropped while still awaiting a
    /// response (more than 1500 awaited one at once: a direction that went
    /// unanswered); they are counted in `requests` all the same.
    pub exchanges_omitted_unanswered: usize,
    pub tls: Option<TlsInfo>,
    pub http2: Option<H2Info>,
    /// The HTTP/1 connection switched protocols (101 Upgrade, or CONNECT):
    /// `kind`, `protocol`, `at`, `exchange`, `target`; null otherwise.
    pub protocol_switch: Option<crate::http::Switch>,
    pub tcp: TcpDetail,
    pub warnings: Vec<String>,
    /// Source file (set when several files are reported together).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl ConnectionRecord {
    /// Requests or, where the payload is opaque, estimated exchanges (TLS) or
    /// streams (HTTP/2): the count that decides reuse.
    /// Handshakes this connection spared: its uses beyond the first, not
    /// counting stale requests (they failed and were retried elsewhere).
    pub fn handshakes_saved(&self) -> u64 {
        if matches!(self.verdict, Verdict::NoHttp | Verdict::Unanswered) {
            return 0;
        }
        self.uses().saturating_sub(1 + self.stale_requests) as u64
    }

    pub fn uses(&self) -> u32 {
        // The burst estimate stands in for requests only where TLS was not
        // decrypted: decrypted connections count their real requests.
        let tls = self
            .tls
            .as_ref()
            .filter(|t| !t.fully_decrypted())
            .map_or(0, |t| t.exchanges);
        let h2 = self.http2.as_ref().map_or(0, |h| h.streams);
        // Only one direction captured (asymmetric routing, a lossy tap): the
        // responses tell how often the connection was used.
        let http = if self.requests == 0 {
            self.responses
        } else {
            self.requests
        };
        http.max(tls).max(h2)
    }
}

/// Builds the record of a finished connection. The verdict and close reason
/// always look at every exchange kept; `with_exchanges` only decides whether
/// the record carries a copy of the list.
pub fn record(c: &Connection<AppInspector>, with_exchanges: bool) -> ConnectionRecord {
    // HTTP/1.x layers, outermost first: cleartext HTTP, or HTTP decrypted
    // inside TLS (after a CONNECT's own exchange when tunnelled).
    let https: Vec<&crate::http::HttpInspector> = c.app.http_layers().collect();
    let http = https.first().copied();
    let joined: Vec<Exchange>;
    let all: &[Exchange] = if https.len() > 1 {
        joined = https.iter().flat_map(|h| h.exchanges()).cloned().collect();
        &joined
    } else {
        http.map(|h| h.exchanges()).unwrap_or(&[])
    };
    // Cleartext HTTP/2 (prior knowledge or Upgrade: h2c): each client stream
    // is a request, each answered stream a response.
    let h2 = c.app.h2().map(|h| h.info());
    // After `Upgrade: h2c` the upgrading HTTP/1.1 request is also HTTP/2
    // stream 1 (RFC 7540 §3.2), and its 101 is that stream's answer: count once.
    let upgraded = h2.is_some_and(|i| i.upgraded) as u32;
    let http_requests: u32 = https.iter().map(|h| h.requests()).sum();
    let http_responses: u32 = https.iter().map(|h| h.responses()).sum();
    let requests = (http_requests + h2.map_or(0, |i| i.streams)).saturating_sub(upgraded);
    let responses = (http_responses + h2.map_or(0, |i| i.responses)).saturating_sub(upgraded);
    let closed_by = c.close.closed_by();
    let fin_server = c.close.fin[1];
    let server_gone = match (fin_server, c.close.rst[1]) {
        (Some(f), Some(r)) => Some(f.min(r)),
        (a, b) => a.or(b),
    };
    let stale_requests = match server_gone {
        Some(t) => all
            .iter()
            .filter(|e| e.method.is_some() && e.request_time.is_some_and(|rt| rt > t))
            .count() as u32,
        None => 0,
    };
    // HTTP/2 streams (h2c, or h2 decrypted from TLS) end responses too.
    let last_response_end = all
        .iter()
        .chain(c.app.h2().map_or(&[][..], |h| h.exchanges()))
        .filter_map(|e| e.response_end.or(e.response_time))
        .max();
    // After a protocol switch the tunnel's own traffic is what goes idle.
    let switched = http.is_some_and(|h| h.switched().is_some());
    let last_activity = if switched {
        c.last_data_ts
    } else {
        last_response_end
    };
    let idle_before_close = match (c.close.first_time(), last_activity) {
        (Some(close), Some(r)) if close >= r => Some(close.since(r)),
        _ => None,
    };
    let keep_alive = http.and_then(|h| h.keep_alive());
    let tls = c.app.tls().map(|t| t.info().clone());
    let http2 = c.app.h2().map(|h| h.info().clone());
    let close_reason = close_reason(c, all, requests, keep_alive.as_ref(), idle_before_close);
    let close_detail = close_detail(c, all, server_gone);
    let mut rec = ConnectionRecord {
        id: c.id,
        client: c.client.to_string(),
        server: c.server.to_string(),
        start: c.first_ts,
        end: c.last_ts,
        duration: c.duration(),
        handshake: c.handshake.state(),
        closed_by,
        requests,
        responses,
        verdict: Verdict::NoHttp,
        close_reason,
        close_detail,
        protocol: c.app.proto().as_str(),
        host: all
            .iter()
            .find_map(|e| e.host.as_deref().map(str::to_owned))
            .or_else(|| tls.as_ref().and_then(|t| t.sni.clone())),
        http_version: if h2.is_some_and(|i| i.streams > 0)
            || c.app
                .tls()
                .is_some_and(|t| t.info().alpn.as_deref() == Some("h2"))
        {
            Some("2")
        } else {
            http.and_then(|h| h.http_version())
        },
        http_versions: http.and_then(|h| {
            let (c, s) = (
                h.side_version(Direction::ClientToServer),
                h.side_version(Direction::ServerToClient),
            );
            (c.is_some() || s.is_some()).then_some(HttpVersions {
                client: c,
                server: s,
            })
        }),
        max_pipeline_depth: http.map_or(0, |h| h.max_pipeline_depth()),
        keep_alive,
        idle_before_close,
        stale_requests,
        interim_responses: http.map_or(0, |h| h.interim_responses()),
        malformed_messages: http.map_or(0, |h| h.malformed_messages()),
        packets: c.half[0].stats.packets + c.half[1].stats.packets,
        bytes: c.half[0].stats.bytes + c.half[1].stats.bytes,
        exchanges: if with_exchanges {
            // HTTP/2 streams (decoded headers) follow the HTTP/1.x exchanges.
            let h2x = c.app.h2().map_or(&[][..], |h| h.exchanges());
            all.iter().chain(h2x).cloned().collect()
        } else {
            Vec::new()
        },
        exchanges_omitted: https.iter().map(|h| h.exchanges_omitted()).sum::<usize>()
            + c.app.h2().map_or(0, |h| h.exchanges_omitted()),
        exchanges_omitted_unanswered: http.map_or(0, |h| h.exchanges_omitted_unanswered()),
        tls,
        http2,
        protocol_switch: http.and_then(|h| h.switched().cloned()),
        tcp: TcpDetail {
            handshake_detail: c.handshake.detail(&c.close),
            syn: c.handshake.syn,
            syn_ack: c.handshake.syn_ack,
            ack: c.handshake.ack,
            syn_packets: c.handshake.syn_packets,
            syn_ack_packets: c.handshake.syn_ack_packets,
            fin_client: c.close.fin[0],
            fin_server: c.close.fin[1],
            rst_client: c.close.rst[0],
            rst_server: c.close.rst[1],
            half_closed: c.data_after_close.iter().any(|&b| b > 0)
                || (c.close.fin[0].is_some() != c.close.fin[1].is_some()),
            reset_after_fin: c.close.reset_after_fin(),
            roles_guessed: c.roles_guessed,
            end_cause: c.end_cause,
            client_to_server: c.half[Direction::ClientToServer.index()].stats.clone(),
            server_to_client: c.half[Direction::ServerToClient.index()].stats.clone(),
        },
        warnings: {
            let mut w = c.app.warnings();
            for (d, name) in [
                (Direction::ClientToServer, "client->server"),
                (Direction::ServerToClient, "server->client"),
            ] {
                let n = c.half[d.index()].stats.conflicting_bytes;
                if n > 0 {
                    w.push(format!(
                        "{name}: {n} bytes retransmitted with different contents (conflicting retransmission); the first copy was kept"
                    ));
                }
            }
            w
        },
        file: None,
    };
    rec.verdict = verdict(&rec);
    rec
}

/// Why the connection ended (see docs/output.md for the rules, in order).
fn close_reason(
    c: &Connection<AppInspector>,
    ex: &[Exchange],
    requests: u32,
    ka: Option<&KeepAliveParams>,
    idle: Option<Duration>,
) -> CloseReason {
    let first = match c.close.first {
        None => return CloseReason::CaptureEnded,
        Some(f) => f,
    };
    if first.0 == CloseKind::Rst {
        return CloseReason::Reset;
    }
    // On TLS, whoever sent the first close_notify (before the other's and
    // before the first FIN/RST) ended the session, in TLS 1.2 and 1.3 alike,
    // with HTTP seen (decrypted) or not; without one, the first FIN.
    let tls_closer = c
        .app
        .tls()
        .and_then(|t| tls_close_notify_first(t.info(), c.close.first_time()));
    let by_server = tls_closer.map_or(first.1 == Direction::ServerToClient, |d| {
        d == Direction::ServerToClient
    });
    let req_close = ex
        .iter()
        .any(|e| e.method.is_some() && e.request_wants_close());
    let resp_close = ex
        .iter()
        .any(|e| e.status.is_some() && e.response_wants_close());
    // HTTP/1.0 persistence needs an explicit keep-alive (RFC 9112 §9.3 and
    // Appendix C.2.2): a 1.0 request without one, or a 1.0 response without
    // one, means the connection ends after this exchange. This comes before the
    // server's `Connection: close`, which for a 1.0 client only restates it.
    let http10 = ex.iter().any(|e| {
        let req10 = e.request_version == Some(HttpVersion::Http10) && !e.request_wants_keep_alive();
        let resp10 =
            e.response_version == Some(HttpVersion::Http10) && !e.response_wants_keep_alive();
        req10 || resp10
    });
    // HTTP/2: a GOAWAY sent no later than the first FIN tells who ended the
    // connection (RFC 9113 §6.8), as `Connection: close` does for HTTP/1.
    if let Some(h) = c.app.h2().map(|h| h.info()) {
        let before_close = |at: Timestamp| c.close.first_time().map_or(true, |f| at <= f);
        match (h.goaway_from, h.goaway_at) {
            (Some(Direction::ClientToServer), Some(at)) if before_close(at) => {
                return CloseReason::ClientFinished;
            }
            (Some(Direction::ServerToClient), Some(at)) if before_close(at) => {
                // A clean GOAWAY long after the last answer, every stream
                // answered: the server's idle timer (nginx keepalive_timeout).
                let last_end = c
                    .app
                    .h2()
                    .map_or(&[][..], |h| h.exchanges())
                    .iter()
                    .filter_map(|e| e.response_end.or(e.response_time))
                    .max();
                let idle = last_end.filter(|&e| e <= at).map(|e| at.since(e));
                let all_answered = h.responses >= h.streams;
                if h.goaway_error == Some(0)
                    && all_answered
                    && idle.is_some_and(|i| i >= CLOSED_AFTER_RESPONSE)
                {
                    return CloseReason::IdleTimeout;
                }
                return CloseReason::ConnectionCloseResponse;
            }
            _ => {}
        }
    }
    if ex.is_empty() {
        return if by_server {
            CloseReason::Unknown
        } else {
            CloseReason::ClientFinished
        };
    }
    // A tunnel (CONNECT, or 101 to WebSocket/h2c): HTTP/1 says nothing about
    // why it ended.
    if c.app.http().is_some_and(|h| h.switched().is_some()) {
        return if by_server {
            CloseReason::Unknown
        } else {
            CloseReason::ClientFinished
        };
    }
    if req_close {
        return CloseReason::ConnectionCloseRequest;
    }
    // An announced max reached: the server said how many requests it would
    // serve (`Keep-Alive: max=N`, static as nginx/lighttpd send it, or counting
    // down per response as Apache does) and closed when that many were served.
    if by_server && ka.and_then(|k| k.max).is_some() {
        let served = requests as u64;
        let mut budget_met = false;
        let mut answered = 0u64;
        for e in ex.iter().filter(|e| e.status.is_some()) {
            answered += 1;
            if let Some(m) = e.keep_alive.as_ref().and_then(|k| k.max) {
                // After the i-th response, max=m more (or m including it).
                // `m` comes from a header: saturate, never wrap.
                let (a, b) = (answered.saturating_add(m), (answered - 1).saturating_add(m));
                budget_met |= served == a || served == b || served >= m && m <= answered;
            }
        }
        if budget_met {
            return CloseReason::KeepAliveMax;
        }
    }
    if http10 {
        return CloseReason::Http10Default;
    }
    // A response without a length is delimited by the close: the server
    // had to close (RFC 9112 §6.3 rule 8), just as if it had said so.
    let until_close = ex
        .iter()
        .rev()
        .find(|e| e.status.is_some())
        .is_some_and(|e| e.framing == Some(crate::http::Framing::UntilClose));
    if resp_close || (by_server && until_close) {
        return CloseReason::ConnectionCloseResponse;
    }
    if by_server {
        // The server closed a connection whose responses carried no close
        // signal: its keep-alive timer ran out (announced or not).
        let all_answered = ex
            .iter()
            .filter(|e| e.method.is_some())
            .all(|e| e.status.is_some());
        let stale = ex.iter().any(|e| {
            e.method.is_some()
                && matches!((e.request_time, c.close.fin[1]), (Some(r), Some(f)) if r > f)
        });
        let right_after = idle.is_some_and(|i| i < CLOSED_AFTER_RESPONSE);
        if all_answered && !stale && right_after {
            return CloseReason::ServerClosedAfterResponse;
        }
        if all_answered || stale {
            return CloseReason::IdleTimeout;
        }
        return CloseReason::Unknown;
    }
    CloseReason::ClientFinished
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
    close.map_or(true, |f| at <= f).then_some(d)
}

/// The close sequence in words, where the close reason alone would hide it.
fn close_detail(
    c: &Connection<AppInspector>,
    ex: &[Exchange],
    server_gone: Option<Timestamp>,
) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    if let Some(t) = c.app.tls().map(|t| t.info()) {
        let fin = |d: usize| match (c.close.fin[d], c.close.rst[d]) {
            (Some(_), _) => "FIN",
            (None, Some(_)) => "RST",
            _ => "",
        };
        let first = c.close.first.map(|f| f.1);
        let closer = |d: Direction| match d {
            Direction::ClientToServer => "client",
            Direction::ServerToClient => "server",
        };
        match (t.close_notify, first) {
            ([Some(cn), sn], Some(d)) => {
                let who = if sn.is_some_and(|s| s < cn) {
                    "server"
                } else {
                    "client"
                };
                parts.push(format!(
                    "{who} close_notify, then {} {}",
                    closer(d),
                    fin(d.index())
                ));
            }
            ([None, Some(_)], Some(d)) => {
                parts.push(format!(
                    "server close_notify, then {} {}",
                    closer(d),
                    fin(d.index())
                ));
            }
            _ => {}
        }
    }
    if let Some(h) = c.app.h2().map(|h| h.info()) {
        if let (Some(d), Some(at)) = (h.goaway_from, h.goaway_at) {
            let who = match d {
                Direction::ClientToServer => "client",
                Direction::ServerToClient => "server",
            };
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
                    match fd {
                        Direction::ClientToServer => "client",
                        Direction::ServerToClient => "server",
                    },
                    if kind == CloseKind::Rst { "RST" } else { "FIN" },
                    human(ft.since(at))
                ),
                _ => String::new(),
            };
            parts.push(format!("{who} GOAWAY ({err}{last}){then}"));
        }
    }
    if let Some(gone) = server_gone {
        let late = ex
            .iter()
            .filter(|e| e.method.is_some() && e.request_time.is_some_and(|rt| rt > gone))
            .filter_map(|e| e.request_time)
            .min();
        if let Some(late) = late {
            let what = if c.close.fin[1].is_some_and(|f| f <= late) {
                "server FIN"
            } else {
                "server RST"
            };
            match c.close.rst[1].filter(|&r| r >= late) {
                Some(rst) => parts.push(format!(
                    "{what}, then a late request {} after it, answered by RST {} later",
                    human(late.since(gone)),
                    human(rst.since(late)),
                )),
                None => parts.push(format!(
                    "{what}, then a late request {} after it",
                    human(late.since(gone))
                )),
            }
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("; "))
    }
}

/// A duration for people: `8µs`, `12.3ms`, `1.00s`, `2.5m`.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1e-3 {
        format!("{:.0}µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.1}ms", secs * 1e3)
    } else if secs < 120.0 {
        format!("{secs:.2}s")
    } else {
        format!("{:.1}m", secs / 60.0)
    }
}

fn verdict(r: &ConnectionRecord) -> Verdict {
    let uses = r.uses();
    let answered = r.responses > 0
        || r.tls.as_ref().is_some_and(|t| t.exchanges > 0)
        || r.http2.as_ref().is_some_and(|h| h.responses > 0);
    if uses == 0 && r.responses == 0 {
        return Verdict::NoHttp;
    }
    if !answered {
        return Verdict::Unanswered;
    }
    if uses >= 2 && r.stale_requests >= uses - 1 {
        return Verdict::ReuseFailed;
    }
    if uses >= 2 {
        return Verdict::Reused;
    }
    // Switched to a tunnel (WebSocket, CONNECT): the connection lived on.
    if r.protocol_switch.is_some() {
        return Verdict::SingleRequestKeptOpen;
    }
    match r.close_reason {
        CloseReason::IdleTimeout
        | CloseReason::ClientFinished
        | CloseReason::CaptureEnded
        | CloseReason::KeepAliveMax => Verdict::SingleRequestKeptOpen,
        _ => Verdict::SingleRequestClosed,
    }
}

/// Counts for a group of connections (all, one server, one host).
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupStats {
    pub connections: u64,
    /// Connections that carried at least one HTTP request (the base of the mean).
    pub http_connections: u64,
    pub handshakes: u64,
    pub requests: u64,
    pub responses: u64,
    pub reused_connections: u64,
    /// Handshakes that reuse spared: Σ over connections of (uses − 1).
    pub handshakes_saved: u64,
    pub stale_requests: u64,
    pub requests_per_connection_mean: f64,
    pub requests_per_connection_max: u32,
    pub close_reasons: BTreeMap<&'static str, u64>,
    pub verdicts: BTreeMap<&'static str, u64>,
}

impl GroupStats {
    pub fn add(&mut self, r: &ConnectionRecord) {
        self.connections += 1;
        if r.handshake == HandshakeState::Complete {
            self.handshakes += 1;
        }
        self.requests += r.requests as u64;
        self.responses += r.responses as u64;
        if r.requests > 0 {
            self.http_connections += 1;
        }
        if r.verdict == Verdict::Reused {
            self.reused_connections += 1;
        }
        self.handshakes_saved += r.handshakes_saved();
        self.stale_requests += r.stale_requests as u64;
        self.requests_per_connection_max = self.requests_per_connection_max.max(r.requests);
        *self
            .close_reasons
            .entry(r.close_reason.as_str())
            .or_default() += 1;
        *self.verdicts.entry(r.verdict.as_str()).or_default() += 1;
    }
    pub(crate) fn finish(&mut self) {
        self.requests_per_connection_mean = if self.http_connections > 0 {
            (self.requests as f64 / self.http_connections as f64 * 100.0).round() / 100.0
        } else {
            0.0
        };
    }
}

impl crate::memory::Fold for GroupStats {
    fn weight(&self) -> u64 {
        self.connections
    }
    fn fold_into(&self, o: &mut Self) {
        o.connections += self.connections;
        o.http_connections += self.http_connections;
        o.handshakes += self.handshakes;
        o.requests += self.requests;
        o.responses += self.responses;
        o.reused_connections += self.reused_connections;
        o.handshakes_saved += self.handshakes_saved;
        o.stale_requests += self.stale_requests;
        o.requests_per_connection_max = o
            .requests_per_connection_max
            .max(self.requests_per_connection_max);
        for (k, v) in &self.close_reasons {
            *o.close_reasons.entry(k).or_default() += v;
        }
        for (k, v) in &self.verdicts {
            *o.verdicts.entry(k).or_default() += v;
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TlsSummary {
    pub connections: u64,
    pub handshakes: u64,
    pub full_handshakes: u64,
    pub resumed_connections: u64,
    /// Exchanges over TLS: `exchanges_exact + exchanges_estimated`.
    pub exchanges: u64,
    /// Of `exchanges`, the real requests (HTTP/2 streams) of connections
    /// decrypted both ways with a key log.
    pub exchanges_exact: u64,
    /// Of `exchanges`, the burst estimates (`tls.exchanges`) of connections
    /// not decrypted both ways.
    pub exchanges_estimated: u64,
    pub tls_handshakes_saved: u64,
    /// TLS handshakes per exchange (`exchanges`, exact where decrypted):
    /// 1.0 means every exchange paid for a handshake; lower is better.
    pub handshakes_per_exchange: f64,
    pub sni: BTreeMap<String, u64>,
    pub alpn: BTreeMap<String, u64>,
    pub versions: BTreeMap<String, u64>,
    /// Negotiated cipher suites (IANA names) → connections.
    pub ciphers: BTreeMap<String, u64>,
    /// With a key log: TLS connections decrypted both ways, one way only, or not at all.
    pub decrypted: u64,
    pub partly_decrypted: u64,
    pub opaque: u64,
    /// Why directions were not decrypted (`no key for this client random`,
    /// `key does not authenticate`, `unsupported suite X`, …) → connections.
    pub not_decrypted: BTreeMap<String, u64>,
    /// Connections whose SNI / ALPN / version was folded out of the maps above
    /// (each keeps at most `memory.group_keys_kept` keys; see `summary.memory`).
    pub sni_other: u64,
    pub alpn_other: u64,
    pub versions_other: u64,
    /// Connections whose cipher suite / not-decrypted reason was folded out of
    /// `ciphers` / `not_decrypted` (each bounded like `sni`).
    pub ciphers_other: u64,
    pub not_decrypted_other: u64,
}

/// The `summary` object (see docs/output.md).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub connections: u64,
    pub handshakes: u64,
    pub requests: u64,
    pub responses: u64,
    pub reused_connections: u64,
    pub packets: u64,
    pub bytes: u64,
    pub first_packet: Option<Timestamp>,
    pub last_packet: Option<Timestamp>,
    pub warnings: Vec<String>,
    pub tcp_packets: u64,
    pub handshakes_saved: u64,
    pub stale_requests: u64,
    pub requests_per_connection_mean: f64,
    pub requests_per_connection_max: u32,
    /// requests per connection → number of connections (HTTP connections only).
    pub requests_per_connection: BTreeMap<u32, u64>,
    pub close_reasons: BTreeMap<&'static str, u64>,
    pub verdicts: BTreeMap<&'static str, u64>,
    pub closed_by: BTreeMap<&'static str, u64>,
    pub per_server: BTreeMap<String, GroupStats>,
    pub per_host: BTreeMap<String, GroupStats>,
    /// The servers / hosts folded out of `per_server` / `per_host` (each keeps
    /// at most `memory.group_keys_kept` keys), merged; null if none was.
    pub per_server_other: Option<GroupStats>,
    pub per_host_other: Option<GroupStats>,
    pub tls: TlsSummary,
    /// The memory bounds and what each one cost (docs/robustness.md).
    pub memory: crate::memory::MemoryReport,
    /// In words, for people: the reuse story of this capture.
    pub headline: String,
    /// Why connections were not reused, per server (docs/findings.md).
    pub findings: Vec<crate::findings::Finding>,
}

/// Builds the summary one record at a time, so a streaming report (JSONL,
/// CSV, live) need not keep its records.
#[derive(Debug, Default)]
pub struct SummaryBuilder {
    all: GroupStats,
    s: Summary,
    records: u64,
    http_conns: u64,
    http_saved: u64,
    /// Some HTTP connection was not a one-request HTTP/1.0 close.
    not_all_http10_closed: bool,
    tls_conns: u64,
    tls_exchanges: u64,
    findings: crate::findings::FindingsBuilder,
    per_server: TopN<GroupStats>,
    per_host: TopN<GroupStats>,
    sni: TopN<u64>,
    alpn: TopN<u64>,
    versions: TopN<u64>,
    ciphers: TopN<u64>,
    not_decrypted: TopN<u64>,
}

impl SummaryBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, r: &ConnectionRecord) {
        let s = &mut self.s;
        self.records += 1;
        self.all.add(r);
        self.findings.add(r);
        self.per_server.entry(&r.server).add(r);
        if let Some(h) = &r.host {
            self.per_host.entry(h).add(r);
        }
        if r.requests > 0 {
            *s.requests_per_connection.entry(r.requests).or_default() += 1;
        }
        *s.closed_by.entry(r.closed_by.as_str()).or_default() += 1;
        if r.requests > 0 || r.responses > 0 {
            self.http_conns += 1;
            self.http_saved += r.handshakes_saved();
            self.not_all_http10_closed |=
                !(r.close_reason == CloseReason::Http10Default && r.requests == 1);
        } else if let Some(t) = r.tls.as_ref().filter(|t| t.exchanges > 0) {
            self.tls_conns += 1;
            self.tls_exchanges += t.exchanges as u64;
        }
        if let Some(t) = &r.tls {
            let ts = &mut s.tls;
            ts.connections += 1;
            ts.handshakes += t.handshakes as u64;
            ts.full_handshakes += t.full_handshakes as u64;
            ts.resumed_connections += t.resumed as u64;
            // A connection decrypted both ways counts its real uses; only
            // opaque (or half-decrypted) ones contribute the burst estimate.
            let n = if t.fully_decrypted() {
                let n = r.uses() as u64;
                ts.exchanges_exact += n;
                n
            } else {
                ts.exchanges_estimated += t.exchanges as u64;
                t.exchanges as u64
            };
            ts.exchanges += n;
            ts.tls_handshakes_saved += n.saturating_sub(1);
            if let Some(n) = &t.sni {
                *self.sni.entry(n) += 1;
            }
            if let Some(a) = &t.alpn {
                *self.alpn.entry(a) += 1;
            }
            if let Some(v) = &t.version {
                *self.versions.entry(v) += 1;
            }
            if let Some(c) = &t.cipher {
                *self.ciphers.entry(c) += 1;
            }
            match (t.decrypted.client, t.decrypted.server) {
                (true, true) => ts.decrypted += 1,
                (false, false) => ts.opaque += 1,
                _ => ts.partly_decrypted += 1,
            }
            if let Some(why) = &t.not_decrypted {
                *self.not_decrypted.entry(why) += 1;
            }
        }
    }

    pub fn finish(mut self) -> Summary {
        let mut all = std::mem::take(&mut self.all);
        all.finish();
        let s = &mut self.s;
        s.memory.per_server_folded = self.per_server.folded();
        s.memory.per_host_folded = self.per_host.folded();
        s.memory.sni_folded = self.sni.folded();
        s.memory.group_keys_kept = crate::memory::MAX_GROUP_KEYS as u64;
        (s.per_server, s.per_server_other) = std::mem::take(&mut self.per_server).into_parts();
        (s.per_host, s.per_host_other) = std::mem::take(&mut self.per_host).into_parts();
        let sni_other;
        (s.tls.sni, sni_other) = std::mem::take(&mut self.sni).into_parts();
        s.tls.sni_other = sni_other.unwrap_or(0);
        let alpn_other;
        (s.tls.alpn, alpn_other) = std::mem::take(&mut self.alpn).into_parts();
        s.tls.alpn_other = alpn_other.unwrap_or(0);
        let versions_other;
        (s.tls.versions, versions_other) = std::mem::take(&mut self.versions).into_parts();
        s.tls.versions_other = versions_other.unwrap_or(0);
        let ciphers_other;
        (s.tls.ciphers, ciphers_other) = std::mem::take(&mut self.ciphers).into_parts();
        s.tls.ciphers_other = ciphers_other.unwrap_or(0);
        let not_decrypted_other;
        (s.tls.not_decrypted, not_decrypted_other) =
            std::mem::take(&mut self.not_decrypted).into_parts();
        s.tls.not_decrypted_other = not_decrypted_other.unwrap_or(0);
        if s.tls.exchanges > 0 {
            s.tls.handshakes_per_exchange =
                (s.tls.handshakes as f64 / s.tls.exchanges as f64 * 1000.0).round() / 1000.0;
        }
        for g in s
            .per_server
            .values_mut()
            .chain(s.per_host.values_mut())
            .chain(s.per_server_other.iter_mut())
            .chain(s.per_host_other.iter_mut())
        {
            g.finish();
        }
        s.connections = all.connections;
        s.handshakes = all.handshakes;
        s.requests = all.requests;
        s.responses = all.responses;
        s.reused_connections = all.reused_connections;
        s.handshakes_saved = all.handshakes_saved;
        s.stale_requests = all.stale_requests;
        s.requests_per_connection_mean = all.requests_per_connection_mean;
        s.requests_per_connection_max = all.requests_per_connection_max;
        s.close_reasons = all.close_reasons;
        s.verdicts = all.verdicts;
        self.s.headline = self.headline();
        self.s.findings = self.findings.findings();
        self.s
    }

    fn headline(&self) -> String {
        let s = &self.s;
        let mut parts = Vec::new();
        let mut stale_told = false;
        if self.http_conns > 0 {
            let n = self.http_conns;
            let saved = self.http_saved;
            let reqs = plural(s.requests, "request", "requests");
            let conns = plural(n, "connection", "connections");
            if !self.not_all_http10_closed && n > 1 {
                parts.push(format!(
                    "{reqs} over {conns}: HTTP/1.0 without keep-alive, every request paid a new handshake"
                ));
            } else if saved == 0
                && n > 1
                && s.stale_requests > 0
                && (s.reused_connections > 0 || s.verdicts.contains_key("reuse-failed"))
            {
                stale_told = true;
                parts.push(format!(
                    "{reqs} over {conns}: no handshake saved, every reuse attempt met a connection the server had already closed ({})",
                    plural(s.stale_requests, "stale request", "stale requests")
                ));
            } else if saved == 0 && n > 1 {
                parts.push(format!(
                    "{reqs} over {conns}: no connection was reused, every request paid a new handshake"
                ));
            } else {
                parts.push(format!(
                    "{reqs} over {conns}: {} saved",
                    plural(saved, "handshake", "handshakes")
                ));
            }
        }
        if self.tls_conns > 0 {
            let n = self.tls_conns;
            let saved = self.tls_exchanges.saturating_sub(n);
            parts.push(format!(
                "~{} over {}: {saved} TCP and {saved} TLS handshakes saved (estimated from TLS records)",
                plural(self.tls_exchanges, "HTTPS exchange", "HTTPS exchanges"),
                plural(n, "connection", "connections"),
            ));
        }
        if s.tls.resumed_connections > 0 {
            parts.push(format!(
                "{} of {} TLS connections resumed a session (abbreviated handshake)",
                s.tls.resumed_connections, s.tls.connections
            ));
        }
        if s.stale_requests > 0 && !stale_told {
            parts.push(format!(
                "{} sent on connections the server had already closed",
                plural(s.stale_requests, "stale request", "stale requests")
            ));
        }
        if parts.is_empty() {
            if self.records == 0 {
                return "no TCP connections".into();
            }
            return format!(
                "{} with no HTTP seen",
                plural(self.records, "TCP connection", "TCP connections")
            );
        }
        parts.join("; ")
    }
}

pub fn summarize(records: &[ConnectionRecord]) -> Summary {
    let mut b = SummaryBuilder::new();
    for r in records {
        b.add(r);
    }
    b.finish()
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
