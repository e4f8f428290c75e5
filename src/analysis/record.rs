//! The record of one finished connection, as every report prints it, and its
//! verdict (reused or not, and why not).

use super::close::{close_detail, close_reason};
use super::*;
use crate::inspect::h2::H2Info;
use crate::inspect::http::{Exchange, Facts, HttpInspector, KeepAliveParams};
use crate::inspect::tls::TlsInfo;
use crate::inspect::AppInspector;
use crate::tcp::conn::Connection;
use crate::tcp::stream::StreamStats;
use crate::tcp::{ClosedBy, Direction, EndCause, HandshakeState};
use crate::time::{Duration, Timestamp};
use serde::Serialize;

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
    #[serde(serialize_with = "crate::report::compact::serialize_exchanges")]
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
    pub protocol_switch: Option<crate::inspect::http::Switch>,
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
    let https: Vec<&HttpInspector> = c.app.http_layers().collect();
    let http = https.first().copied();
    // What the analysis reads of every HTTP/1.x exchange kept, all layers.
    let all: Vec<Facts> = match https[..] {
        [] => Vec::new(),
        [h] => h.facts(),
        _ => https.iter().flat_map(|h| h.facts()).collect(),
    };
    let all = &all[..];
    let (requests, responses) = request_counts(&https, c.app.h2().map(|h| h.info()));
    let server_gone = server_gone(c);
    let idle_before_close = idle_before_close(c, all, http);
    let keep_alive = http.and_then(|h| h.keep_alive());
    let tls = c.app.tls().map(|t| t.info().clone());
    let close_reason = close_reason(c, all, requests, keep_alive.as_ref(), idle_before_close);
    let mut rec = ConnectionRecord {
        id: c.id,
        client: c.client.to_string(),
        server: c.server.to_string(),
        start: c.first_ts,
        end: c.last_ts,
        duration: c.duration(),
        handshake: c.handshake.state(),
        closed_by: c.close.closed_by(),
        requests,
        responses,
        verdict: Verdict::NoHttp,
        close_reason,
        close_detail: close_detail(c, all, server_gone),
        protocol: c.app.proto().as_str(),
        host: https
            .iter()
            .find_map(|h| h.first_host().map(str::to_owned))
            .or_else(|| tls.as_ref().and_then(|t| t.sni.clone())),
        http_version: http_version(c, http),
        http_versions: http_versions(http),
        max_pipeline_depth: http.map_or(0, |h| h.max_pipeline_depth()),
        keep_alive,
        idle_before_close,
        stale_requests: stale_requests(all, server_gone),
        interim_responses: http.map_or(0, |h| h.interim_responses()),
        malformed_messages: http.map_or(0, |h| h.malformed_messages()),
        packets: c.half[0].stats.packets + c.half[1].stats.packets,
        bytes: c.half[0].stats.bytes + c.half[1].stats.bytes,
        exchanges: if with_exchanges {
            // HTTP/2 streams (decoded headers) follow the HTTP/1.x exchanges.
            let http1 = https.iter().flat_map(|h| h.exchanges());
            http1.chain(h2_exchanges(c)).cloned().collect()
        } else {
            Vec::new()
        },
        exchanges_omitted: https.iter().map(|h| h.exchanges_omitted()).sum::<usize>()
            + c.app.h2().map_or(0, |h| h.exchanges_omitted()),
        exchanges_omitted_unanswered: http.map_or(0, |h| h.exchanges_omitted_unanswered()),
        tls,
        http2: c.app.h2().map(|h| h.info().clone()),
        protocol_switch: http.and_then(|h| h.switched().cloned()),
        tcp: tcp_detail(c),
        warnings: warnings(c),
        file: None,
    };
    rec.verdict = verdict(&rec);
    rec
}

/// [`record`] of a connection that is dropped next: the exchange list is
/// moved into the record, not copied.
pub fn record_owned(mut c: Connection<AppInspector>, with_exchanges: bool) -> ConnectionRecord {
    let mut rec = record(&c, false);
    if with_exchanges {
        rec.exchanges = c.app.take_exchanges();
    }
    rec
}

/// The HTTP/2 streams' exchanges (h2c, or h2 decrypted from TLS), if any.
fn h2_exchanges(c: &Connection<AppInspector>) -> &[Exchange] {
    c.app.h2().map_or(&[][..], |h| h.exchanges())
}

/// Requests and responses: HTTP/1.x heads of every layer plus HTTP/2
/// streams (cleartext HTTP/2, prior knowledge or Upgrade: h2c: each client
/// stream is a request, each answered stream a response).
fn request_counts(https: &[&HttpInspector], h2: Option<&H2Info>) -> (u32, u32) {
    // After `Upgrade: h2c` the upgrading HTTP/1.1 request is also HTTP/2
    // stream 1 (RFC 7540 §3.2), and its 101 is that stream's answer: count once.
    let upgraded = h2.is_some_and(|i| i.upgraded) as u32;
    let http_requests: u32 = https.iter().map(|h| h.requests()).sum();
    let http_responses: u32 = https.iter().map(|h| h.responses()).sum();
    let requests = (http_requests + h2.map_or(0, |i| i.streams)).saturating_sub(upgraded);
    let responses = (http_responses + h2.map_or(0, |i| i.responses)).saturating_sub(upgraded);
    (requests, responses)
}

/// When the server closed its side: its first FIN or RST.
fn server_gone(c: &Connection<AppInspector>) -> Option<Timestamp> {
    match (c.close.fin[1], c.close.rst[1]) {
        (Some(f), Some(r)) => Some(f.min(r)),
        (a, b) => a.or(b),
    }
}

/// Requests sent after the server had closed its side.
fn stale_requests(all: &[Facts], server_gone: Option<Timestamp>) -> u32 {
    match server_gone {
        Some(t) => all
            .iter()
            .filter(|e| e.has_method() && e.request_time().is_some_and(|rt| rt > t))
            .count() as u32,
        None => 0,
    }
}

/// From the last activity to the first FIN/RST: the end of the last
/// response (HTTP/1.x or HTTP/2), or after a protocol switch the tunnel's
/// last payload (the tunnel's own traffic is what goes idle).
fn idle_before_close(
    c: &Connection<AppInspector>,
    all: &[Facts],
    http: Option<&HttpInspector>,
) -> Option<Duration> {
    let last_activity = if http.is_some_and(|h| h.switched().is_some()) {
        c.last_data_ts
    } else {
        let h2 = h2_exchanges(c)
            .iter()
            .filter_map(|e| e.response.end().or(e.response.time()));
        all.iter().filter_map(Facts::response_last).chain(h2).max()
    };
    match (c.close.first_time(), last_activity) {
        (Some(close), Some(r)) if close >= r => Some(close.since(r)),
        _ => None,
    }
}

/// `2` for HTTP/2 (streams seen, or ALPN h2), else the HTTP/1 version.
fn http_version(
    c: &Connection<AppInspector>,
    http: Option<&HttpInspector>,
) -> Option<&'static str> {
    let h2 = c.app.h2().is_some_and(|h| h.info().streams > 0)
        || c.app
            .tls()
            .is_some_and(|t| t.info().alpn.as_deref() == Some("h2"));
    if h2 {
        Some("2")
    } else {
        http.and_then(|h| h.http_version())
    }
}

/// The HTTP/1 version of each side, null without HTTP/1 heads.
fn http_versions(http: Option<&HttpInspector>) -> Option<HttpVersions> {
    let h = http?;
    let (c, s) = (
        h.side_version(Direction::ClientToServer),
        h.side_version(Direction::ServerToClient),
    );
    (c.is_some() || s.is_some()).then_some(HttpVersions {
        client: c,
        server: s,
    })
}

/// The TCP facts, field by field from the connection's handshake, close and
/// per-direction statistics.
fn tcp_detail(c: &Connection<AppInspector>) -> TcpDetail {
    TcpDetail {
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
    }
}

/// The inspectors' warnings, then conflicting retransmissions per direction.
fn warnings(c: &Connection<AppInspector>) -> Vec<String> {
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
