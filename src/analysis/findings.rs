//! Findings: why connections are not reused, per server (and per client where
//! the cause is the client), each with evidence and advice (docs/findings.md).
//!
//! A pure fold over finished connection records, like the summary: the same
//! [`FindingsBuilder`] serves a whole report and the incremental summary of the
//! streaming outputs (JSONL, CSV, live). Memory is bounded: counters per
//! server and per (server, client address), a few example connections per
//! finding, and caps on how many servers and clients are tracked.

use crate::analysis::{CloseReason, ConnectionRecord, Verdict};
use crate::tcp::ClosedBy;
use crate::time::human;
use crate::time::{Duration, Timestamp};
use serde::{Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The `kind` words of `summary.findings[]`: a public contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    StaleReuse,
    ClientIdleExceedsServerTimeout,
    ServerRequestLimit,
    ServerIdleTimeout,
    Http10WithoutKeepalive,
    ClientSendsConnectionClose,
    ClientClosesAfterEachResponse,
    ServerDisablesKeepalive,
    ServerClosesWithoutNotice,
    ResponseAbandoned,
}

impl FindingKind {
    /// Every kind, in the order docs/findings.md describes them.
    pub const ALL: [FindingKind; 10] = [
        FindingKind::StaleReuse,
        FindingKind::ClientIdleExceedsServerTimeout,
        FindingKind::ServerRequestLimit,
        FindingKind::ServerIdleTimeout,
        FindingKind::Http10WithoutKeepalive,
        FindingKind::ClientSendsConnectionClose,
        FindingKind::ClientClosesAfterEachResponse,
        FindingKind::ServerDisablesKeepalive,
        FindingKind::ServerClosesWithoutNotice,
        FindingKind::ResponseAbandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::StaleReuse => "stale-reuse",
            FindingKind::ClientIdleExceedsServerTimeout => "client-idle-exceeds-server-timeout",
            FindingKind::ServerRequestLimit => "server-request-limit",
            FindingKind::ServerIdleTimeout => "server-idle-timeout",
            FindingKind::Http10WithoutKeepalive => "http10-without-keepalive",
            FindingKind::ClientSendsConnectionClose => "client-sends-connection-close",
            FindingKind::ClientClosesAfterEachResponse => "client-closes-after-each-response",
            FindingKind::ServerDisablesKeepalive => "server-disables-keepalive",
            FindingKind::ServerClosesWithoutNotice => "server-closes-without-notice",
            FindingKind::ResponseAbandoned => "response-abandoned",
        }
    }
}

/// One finding (`summary.findings[]`, docs/output.md and docs/findings.md).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// Server `ip:port`.
    pub server: String,
    /// The client address (without port) when a single client shows it; null
    /// when several do.
    pub client: Option<String>,
    /// Connections that show it.
    pub connections: u64,
    /// The number the finding is about (seconds of a timeout, requests of a
    /// limit, stale requests), or null.
    #[serde(serialize_with = "number")]
    pub value: Option<f64>,
    /// What the capture shows, in words: a statement, then examples.
    pub evidence: Vec<String>,
    pub advice: String,
    /// Ids of example connections (at most [`MAX_EXAMPLES`]).
    pub example_connections: Vec<u64>,
}

/// Whole numbers as JSON integers (`3`, not `3.0`).
fn number<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 9e15 => s.serialize_i64(*x as i64),
        Some(x) => s.serialize_f64(*x),
        None => s.serialize_none(),
    }
}

/// Example connections kept per finding.
pub const MAX_EXAMPLES: usize = 3;
/// Servers tracked for findings; connections to further servers are counted
/// in [`FindingsBuilder::untracked`] only.
pub const MAX_SERVERS: usize = 10_000;
/// Client addresses tracked per server; further clients share one bucket
/// (their client-caused findings then name no client).
pub const MAX_CLIENTS_PER_SERVER: usize = 256;
/// Client-caused patterns ("again and again") need this many connections.
pub const MIN_PATTERN: u64 = 2;

/// A count with a few examples and who showed it.
#[derive(Debug, Default, Clone)]
struct Tally {
    conns: u64,
    ids: Vec<u64>,
    lines: Vec<String>,
    client: Option<String>,
    many_clients: bool,
}

impl Tally {
    fn add(&mut self, r: &ConnectionRecord, line: impl FnOnce() -> String) {
        self.conns += 1;
        if self.ids.len() < MAX_EXAMPLES {
            self.ids.push(r.id);
            self.lines
                .push(format!("connection #{} ({}): {}", r.id, r.client, line()));
        }
        let c = client_addr(&r.client);
        match &self.client {
            None if !self.many_clients => self.client = Some(c.to_string()),
            Some(x) if x != c => {
                self.client = None;
                self.many_clients = true;
            }
            _ => {}
        }
    }
    fn merge(&mut self, o: &Tally) {
        self.conns += o.conns;
        for (i, l) in o.ids.iter().zip(&o.lines) {
            if self.ids.len() < MAX_EXAMPLES {
                self.ids.push(*i);
                self.lines.push(l.clone());
            }
        }
        match (&self.client, &o.client) {
            _ if o.conns == 0 => {}
            (None, Some(c)) if !self.many_clients && self.conns == o.conns => {
                self.client = Some(c.clone())
            }
            (Some(a), Some(b)) if a == b => {}
            _ => {
                self.client = None;
                self.many_clients = true;
            }
        }
    }
}

/// The address part of `ip:port` / `[v6]:port`.
fn client_addr(ep: &str) -> &str {
    ep.rsplit_once(':').map_or(ep, |(a, _)| a)
}

/// Per (server, client address): the client-caused patterns.
#[derive(Debug, Default, Clone)]
struct ClientAcc {
    /// Connections that carried HTTP (or TLS exchanges).
    used_conns: u64,
    http10: Tally,
    conn_close: Tally,
    closes_after_each: Tally,
    /// Connections the server closed on its idle timer.
    idle_closed: Tally,
    stale_conns: u64,
    earliest_idle_close: Option<Timestamp>,
    latest_start: Option<Timestamp>,
}

#[derive(Debug, Default, Clone)]
struct ServerAcc {
    stale: Tally,
    stale_requests: u64,
    idle: Tally,
    idle_min: Option<Duration>,
    idle_max: Option<Duration>,
    announced_timeouts: BTreeSet<u64>,
    /// Requests served on connections the server closed with a close header
    /// or an announced max → connections (capped).
    limit: BTreeMap<u32, Tally>,
    ka_max: Tally,
    no_notice: Tally,
    disables: Tally,
    abandoned: Tally,
    clients: HashMap<String, ClientAcc>,
    /// Clients beyond the cap share this bucket.
    other_clients: ClientAcc,
}

const MAX_LIMIT_VALUES: usize = 32;
const MAX_ANNOUNCED: usize = 8;

/// The server closed the connection on its idle timer (its FIN came first).
fn server_idle_close(r: &ConnectionRecord) -> bool {
    r.close_reason == CloseReason::IdleTimeout && r.closed_by == ClosedBy::Server
}

/// The evidence line of a server idle close.
fn idle_close_line(r: &ConnectionRecord) -> String {
    match r.idle_before_close {
        Some(i) => format!("server FIN after {} idle", human(i)),
        None => "server closed the idle connection".into(),
    }
}

/// ` 1.50s` (with the leading space) when the idle time before the close is known.
fn idle_suffix(r: &ConnectionRecord) -> String {
    r.idle_before_close
        .map(|d| format!(" {}", human(d)))
        .unwrap_or_default()
}

impl ServerAcc {
    /// One finished connection: the server-side rules, then the client's.
    fn add(&mut self, r: &ConnectionRecord) {
        self.add_stale_reuse(r);
        self.add_idle_timeout(r);
        self.add_request_limit(r);
        self.add_disables_keepalive(r);
        self.add_closes_without_notice(r);
        self.add_response_abandoned(r);
        self.client(&r.client).add(r);
    }

    /// The accumulator of the client's address (or the shared bucket past
    /// [`MAX_CLIENTS_PER_SERVER`]).
    fn client(&mut self, client: &str) -> &mut ClientAcc {
        let caddr = client_addr(client);
        if self.clients.contains_key(caddr) || self.clients.len() < MAX_CLIENTS_PER_SERVER {
            self.clients.entry(caddr.to_string()).or_default()
        } else {
            &mut self.other_clients
        }
    }

    /// stale-reuse: requests sent after the server had closed.
    fn add_stale_reuse(&mut self, r: &ConnectionRecord) {
        if r.stale_requests == 0 {
            return;
        }
        self.stale_requests += r.stale_requests as u64;
        self.stale.add(r, || {
            r.close_detail
                .clone()
                .unwrap_or_else(|| format!("{} stale request(s)", r.stale_requests))
        });
    }

    /// server-idle-timeout: the idle times before the server's closes and
    /// the timeouts it announced.
    fn add_idle_timeout(&mut self, r: &ConnectionRecord) {
        if !server_idle_close(r) {
            return;
        }
        if let Some(i) = r.idle_before_close {
            self.idle_min = Some(self.idle_min.map_or(i, |m| m.min(i)));
            self.idle_max = Some(self.idle_max.map_or(i, |m| m.max(i)));
        }
        if let Some(t) = r.keep_alive.as_ref().and_then(|k| k.timeout) {
            if self.announced_timeouts.len() < MAX_ANNOUNCED {
                self.announced_timeouts.insert(t);
            }
        }
        self.idle.add(r, || idle_close_line(r));
    }

    /// server-request-limit: the server closed (FIN first, close header or
    /// announced max) after N ≥ 2 requests, none stale.
    fn add_request_limit(&mut self, r: &ConnectionRecord) {
        let limit_close = matches!(
            r.close_reason,
            CloseReason::KeepAliveMax | CloseReason::ConnectionCloseResponse
        );
        if !(limit_close
            && r.closed_by == ClosedBy::Server
            && r.requests >= 2
            && r.stale_requests == 0)
        {
            return;
        }
        if r.close_reason == CloseReason::KeepAliveMax {
            self.ka_max.add(r, || {
                format!(
                    "closed after {} requests, Keep-Alive max={} announced",
                    r.requests,
                    r.keep_alive.and_then(|k| k.max).unwrap_or(0)
                )
            });
        }
        if self.limit.contains_key(&r.requests) || self.limit.len() < MAX_LIMIT_VALUES {
            self.limit.entry(r.requests).or_default().add(r, || {
                format!(
                    "the server closed after request {}{}",
                    r.requests,
                    if r.close_reason == CloseReason::ConnectionCloseResponse {
                        ", its last response said Connection: close"
                    } else {
                        ""
                    }
                )
            });
        }
    }

    /// server-disables-keepalive: one HTTP/1.1 keep-alive request answered
    /// with close (a close header, or HTTP/1.0 without keep-alive).
    fn add_disables_keepalive(&mut self, r: &ConnectionRecord) {
        let client_v = r.http_versions.and_then(|v| v.client);
        let server_v = r.http_versions.and_then(|v| v.server);
        let answered_close = r.close_reason == CloseReason::ConnectionCloseResponse
            || (r.close_reason == CloseReason::Http10Default && server_v == Some("1.0"));
        if !(client_v == Some("1.1") && answered_close && r.requests == 1 && r.stale_requests == 0)
        {
            return;
        }
        self.disables.add(r, || {
            if r.close_reason == CloseReason::Http10Default {
                "an HTTP/1.1 request answered in HTTP/1.0 without keep-alive, then closed".into()
            } else {
                "an HTTP/1.1 request answered with Connection: close".into()
            }
        });
    }

    /// server-closes-without-notice: closed right after a response, no header.
    fn add_closes_without_notice(&mut self, r: &ConnectionRecord) {
        if r.close_reason != CloseReason::ServerClosedAfterResponse {
            return;
        }
        self.no_notice.add(r, || {
            format!(
                "server {}{} after its response, no Connection: close",
                if r.closed_by == ClosedBy::Server {
                    "FIN"
                } else {
                    "close"
                },
                idle_suffix(r)
            )
        });
    }

    /// response-abandoned: the client reset with every request answered (a
    /// response begun, not read to the end).
    fn add_response_abandoned(&mut self, r: &ConnectionRecord) {
        if !(r.closed_by == ClosedBy::ClientReset && r.requests >= 1 && r.requests == r.responses) {
            return;
        }
        self.abandoned.add(r, || {
            format!(
                "client RST after {} response(s), {} bytes from the server{}",
                r.responses,
                r.tcp.server_to_client.stream_bytes,
                match r.idle_before_close {
                    Some(i) => format!(", {} after the last response ended", human(i)),
                    None => ", while a response was still arriving".into(),
                }
            )
        });
    }
}

impl ClientAcc {
    /// One finished connection of this client address: what the
    /// client-caused rules (and client-idle-exceeds-server-timeout) need.
    fn add(&mut self, r: &ConnectionRecord) {
        if r.uses() > 0 && r.verdict != Verdict::NoHttp {
            self.used_conns += 1;
        }
        self.latest_start = self.latest_start.max(Some(r.start));
        if r.stale_requests > 0 {
            self.stale_conns += 1;
        }
        self.add_idle_close(r);
        self.add_http10_or_connection_close(r);
        self.add_closes_after_each_response(r);
    }

    /// The server's idle closes of this client's connections, and the
    /// earliest of them (did the client come back after it?).
    fn add_idle_close(&mut self, r: &ConnectionRecord) {
        if !server_idle_close(r) {
            return;
        }
        self.idle_closed.add(r, || idle_close_line(r));
        self.earliest_idle_close = match (self.earliest_idle_close, r.tcp.fin_server) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// http10-without-keepalive (HTTP/1.0 requests, then closed), else
    /// client-sends-connection-close (one request sent with the header).
    fn add_http10_or_connection_close(&mut self, r: &ConnectionRecord) {
        let client_v = r.http_versions.and_then(|v| v.client);
        if client_v == Some("1.0")
            && matches!(
                r.close_reason,
                CloseReason::Http10Default | CloseReason::ConnectionCloseRequest
            )
        {
            self.http10.add(r, || {
                format!(
                    "{} HTTP/1.0 request(s) without Connection: keep-alive, then closed",
                    r.requests
                )
            });
        } else if r.close_reason == CloseReason::ConnectionCloseRequest && r.requests <= 1 {
            self.conn_close
                .add(r, || "one request, sent with Connection: close".into());
        }
    }

    /// client-closes-after-each-response: one request on a connection the
    /// server kept open, then the client's FIN.
    fn add_closes_after_each_response(&mut self, r: &ConnectionRecord) {
        if r.verdict == Verdict::SingleRequestKeptOpen
            && r.close_reason == CloseReason::ClientFinished
            && r.closed_by == ClosedBy::Client
            && r.protocol_switch.is_none()
        {
            self.closes_after_each.add(r, || {
                format!(
                    "one request, then the client's FIN{} after the response",
                    idle_suffix(r)
                )
            });
        }
    }
}

/// Folds finished connections into findings (see the module doc).
#[derive(Debug, Default, Clone)]
pub struct FindingsBuilder {
    servers: HashMap<String, ServerAcc>,
    /// Connections to servers beyond [`MAX_SERVERS`]: not examined.
    pub untracked: u64,
}

impl FindingsBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, r: &ConnectionRecord) {
        if !self.servers.contains_key(&r.server) && self.servers.len() >= MAX_SERVERS {
            self.untracked += 1;
            return;
        }
        self.servers.entry(r.server.clone()).or_default().add(r);
    }

    /// How much is tracked: (servers, client addresses over all servers).
    /// Bounded by [`MAX_SERVERS`] and [`MAX_CLIENTS_PER_SERVER`].
    pub fn tracked(&self) -> (usize, usize) {
        (
            self.servers.len(),
            self.servers.values().map(|s| s.clients.len()).sum(),
        )
    }

    /// The findings so far (the builder stays usable: live views call this
    /// repeatedly). Sorted by connections (most first), then kind and server.
    pub fn findings(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        for (server, s) in &self.servers {
            server_findings(server, s, &mut out);
        }
        out.sort_by(|a, b| {
            b.connections
                .cmp(&a.connections)
                .then(a.kind.cmp(&b.kind))
                .then(a.server.cmp(&b.server))
                .then(a.client.cmp(&b.client))
        });
        out
    }
}

/// Findings over finished records (a whole report).
pub fn findings(records: &[ConnectionRecord]) -> Vec<Finding> {
    let mut b = FindingsBuilder::new();
    for r in records {
        b.add(r);
    }
    b.findings()
}

/// How many findings of each kind (every kind listed, zeros included): what a
/// metrics sink exports.
pub fn count_by_kind(findings: &[Finding]) -> BTreeMap<&'static str, u64> {
    let mut m: BTreeMap<&'static str, u64> =
        FindingKind::ALL.iter().map(|k| (k.as_str(), 0)).collect();
    for f in findings {
        *m.entry(f.kind.as_str()).or_default() += 1;
    }
    m
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 100.0).round() / 100.0
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A finding from its tally: the statement, then the tally's example lines.
fn finding(
    kind: FindingKind,
    server: &str,
    t: &Tally,
    value: Option<f64>,
    statement: String,
    advice: String,
) -> Finding {
    let mut evidence = vec![statement];
    evidence.extend(t.lines.iter().cloned());
    Finding {
        kind,
        server: server.to_string(),
        client: t.client.clone(),
        connections: t.conns,
        value,
        evidence,
        advice,
        example_connections: t.ids.clone(),
    }
}

/// The server's idle timeout as the capture shows it: the announced
/// `Keep-Alive: timeout` when there is exactly one, else the shortest idle
/// time after which it closed. Also says whether the closes agree.
fn server_timeout(s: &ServerAcc) -> Option<(f64, String)> {
    let (lo, hi) = (s.idle_min?, s.idle_max?);
    let consistent = hi.as_secs_f64() - lo.as_secs_f64() <= (0.1f64).max(lo.as_secs_f64() * 0.1);
    let observed = if consistent {
        format!("after {} idle", human(lo))
    } else {
        format!("after {} to {} idle", human(lo), human(hi))
    };
    match (
        s.announced_timeouts.len(),
        s.announced_timeouts.iter().next(),
    ) {
        (1, Some(&t)) => Some((
            t as f64,
            format!("{observed} (Keep-Alive: timeout={t} announced)"),
        )),
        _ => Some((secs(lo), observed)),
    }
}

/// The findings of one server, in a fixed order: the server-side kinds, then
/// the client-caused kinds per client address (sorted, the shared bucket last).
fn server_findings(server: &str, s: &ServerAcc, out: &mut Vec<Finding>) {
    let timeout = server_timeout(s);
    out.extend(stale_reuse(server, s));
    out.extend(server_idle_timeout(server, s, timeout.as_ref()));
    out.extend(client_idle_exceeds_server_timeout(
        server,
        s,
        timeout.as_ref(),
    ));
    out.extend(server_request_limit(server, s));
    out.extend(server_disables_keepalive(server, s));
    out.extend(server_closes_without_notice(server, s));
    out.extend(response_abandoned(server, s));
    let mut clients: Vec<(&str, &ClientAcc)> =
        s.clients.iter().map(|(k, v)| (k.as_str(), v)).collect();
    clients.sort_by_key(|c| c.0);
    if s.other_clients.used_conns > 0 {
        clients.push(("", &s.other_clients));
    }
    for (_, c) in clients {
        out.extend(http10_without_keepalive(server, c));
        out.extend(client_sends_connection_close(server, c));
        out.extend(client_closes_after_each_response(server, c));
    }
}

fn stale_reuse(server: &str, s: &ServerAcc) -> Option<Finding> {
    (s.stale.conns > 0).then(|| {
        finding(
            FindingKind::StaleReuse,
            server,
            &s.stale,
            Some(s.stale_requests as f64),
            format!(
                "{} sent on {} the server had already closed (keep-alive race: the server answers with a reset, the client must retry)",
                plural(s.stale_requests, "request was", "requests were"),
                plural(s.stale.conns, "connection", "connections"),
            ),
            "Keep the client pool's idle timeout below the server's keep-alive timeout, and let the client retry idempotent requests that fail on a reused connection.".into(),
        )
    })
}

fn server_idle_timeout(
    server: &str,
    s: &ServerAcc,
    timeout: Option<&(f64, String)>,
) -> Option<Finding> {
    let (t, how) = timeout?;
    Some(finding(
        FindingKind::ServerIdleTimeout,
        server,
        &s.idle,
        Some(*t),
        format!(
            "the server closed {} {how}",
            plural(s.idle.conns, "connection", "connections")
        ),
        format!(
            "The server drops connections idle for about {t} s. Clients should close pooled connections before that; raise the server's keep-alive timeout if clients pause longer between requests."
        ),
    ))
}

/// The server timed a connection out and the same client came back later
/// (a new connection or a stale request).
fn client_idle_exceeds_server_timeout(
    server: &str,
    s: &ServerAcc,
    timeout: Option<&(f64, String)>,
) -> Option<Finding> {
    let mut idle_back = Tally::default();
    for c in s.clients.values().chain(std::iter::once(&s.other_clients)) {
        let came_back = c.stale_conns > 0
            || matches!((c.earliest_idle_close, c.latest_start), (Some(f), Some(st)) if st > f);
        if c.idle_closed.conns > 0 && came_back {
            idle_back.merge(&c.idle_closed);
        }
    }
    if idle_back.conns == 0 {
        return None;
    }
    let (t, how) = timeout?;
    Some(finding(
        FindingKind::ClientIdleExceedsServerTimeout,
        server,
        &idle_back,
        Some(*t),
        format!(
            "the client let {} sit idle until the server closed {} ({how}) and then needed the server again (a new connection or a stale request)",
            plural(idle_back.conns, "connection", "connections"),
            if idle_back.conns == 1 { "it" } else { "them" }
        ),
        format!(
            "Set the client pool's idle timeout below the server's {t} s (e.g. {:.2} s), so the client closes idle connections before the server does; or raise the server's keep-alive timeout above the client's.",
            t * 0.8
        ),
    ))
}

/// The most common request count at the server's closes, on 2 connections
/// or once with an announced `Keep-Alive: max`.
fn server_request_limit(server: &str, s: &ServerAcc) -> Option<Finding> {
    let (&n, t) = s
        .limit
        .iter()
        .max_by(|a, b| a.1.conns.cmp(&b.1.conns).then(a.0.cmp(b.0)))?;
    if t.conns < 2 && s.ka_max.conns == 0 {
        return None;
    }
    Some(finding(
        FindingKind::ServerRequestLimit,
        server,
        t,
        Some(n as f64),
        format!(
            "the server closed {} after exactly {n} requests{}",
            plural(t.conns, "connection", "connections"),
            if s.ka_max.conns > 0 {
                " (as its Keep-Alive: max announced)"
            } else {
                ", saying Connection: close on the last response"
            }
        ),
        format!(
            "The server serves at most {n} requests per connection (nginx keepalive_requests, Apache MaxKeepAliveRequests): raise the limit if clients make many requests, each close costs a new handshake."
        ),
    ))
}

fn server_disables_keepalive(server: &str, s: &ServerAcc) -> Option<Finding> {
    (s.disables.conns > 0).then(|| {
        finding(
            FindingKind::ServerDisablesKeepalive,
            server,
            &s.disables,
            None,
            format!(
                "the server closed {} after one HTTP/1.1 request that did not ask to close",
                plural(s.disables.conns, "connection", "connections")
            ),
            "Enable keep-alive on the server (nginx: keepalive_timeout above 0; a server that speaks HTTP/1.1 and keeps connections).".into(),
        )
    })
}

fn server_closes_without_notice(server: &str, s: &ServerAcc) -> Option<Finding> {
    (s.no_notice.conns > 0).then(|| {
        finding(
            FindingKind::ServerClosesWithoutNotice,
            server,
            &s.no_notice,
            None,
            format!(
                "the server closed {} right after a response without Connection: close on an HTTP/1.1 exchange",
                plural(s.no_notice.conns, "connection", "connections")
            ),
            "The server (or proxy) should send Connection: close on a response after which it closes, or keep the connection open; a silent close makes clients try to reuse a dead connection.".into(),
        )
    })
}

/// One reset at the end of a session (a load generator stopping) defeats
/// nothing: a client that keeps doing it does.
fn response_abandoned(server: &str, s: &ServerAcc) -> Option<Finding> {
    (s.abandoned.conns >= MIN_PATTERN).then(|| {
        finding(
            FindingKind::ResponseAbandoned,
            server,
            &s.abandoned,
            None,
            format!(
                "the client reset {} with every response begun but not read to the end: the connection could not go back to the pool",
                plural(s.abandoned.conns, "connection", "connections")
            ),
            "Read response bodies to the end (or drain them) before closing them, so the connection can be reused (Go: io.Copy(io.Discard, resp.Body) before resp.Body.Close()).".into(),
        )
    })
}

fn http10_without_keepalive(server: &str, c: &ClientAcc) -> Option<Finding> {
    (c.http10.conns >= MIN_PATTERN).then(|| {
        finding(
            FindingKind::Http10WithoutKeepalive,
            server,
            &c.http10,
            None,
            format!(
                "the client sent HTTP/1.0 requests without Connection: keep-alive on {}: each one paid a new connection",
                plural(c.http10.conns, "connection", "connections")
            ),
            "Speak HTTP/1.1 (or send Connection: keep-alive). Behind nginx: proxy_http_version 1.1; proxy_set_header Connection \"\"; and an upstream keepalive pool.".into(),
        )
    })
}

fn client_sends_connection_close(server: &str, c: &ClientAcc) -> Option<Finding> {
    (c.conn_close.conns >= MIN_PATTERN).then(|| {
        finding(
            FindingKind::ClientSendsConnectionClose,
            server,
            &c.conn_close,
            None,
            format!(
                "the client asked for Connection: close on {}, one request each",
                plural(c.conn_close.conns, "connection", "connections")
            ),
            "Stop sending Connection: close (Node: pass a keep-alive http.Agent instead of agent: false; curl: drop -H 'Connection: close').".into(),
        )
    })
}

/// On at least half of the client's connections that carried requests.
fn client_closes_after_each_response(server: &str, c: &ClientAcc) -> Option<Finding> {
    let each = c.closes_after_each.conns;
    (each >= MIN_PATTERN && each * 2 >= c.used_conns).then(|| {
        finding(
            FindingKind::ClientClosesAfterEachResponse,
            server,
            &c.closes_after_each,
            None,
            format!(
                "the client closed {} after one request each although the server kept them open ({} of its {} to this server)",
                plural(each, "connection", "connections"),
                each,
                plural(c.used_conns, "connection", "connections")
            ),
            "Reuse one client with a connection pool across requests (Python requests: a Session; Node: a keep-alive Agent; Go: one http.Client; curl: several URLs in one invocation).".into(),
        )
    })
}
