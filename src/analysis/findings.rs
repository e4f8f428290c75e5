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
        let s = self.servers.entry(r.server.clone()).or_default();
        let caddr = client_addr(&r.client);
        let c = if s.clients.contains_key(caddr) || s.clients.len() < MAX_CLIENTS_PER_SERVER {
            s.clients.entry(caddr.to_string()).or_default()
        } else {
            &mut s.other_clients
        };
        let used = r.uses() > 0 && r.verdict != Verdict::NoHttp;
        if used {
            c.used_conns += 1;
        }
        c.latest_start = c.latest_start.max(Some(r.start));
        let by_server_fin = r.closed_by == ClosedBy::Server;

        // stale-reuse
        if r.stale_requests > 0 {
            s.stale_requests += r.stale_requests as u64;
            c.stale_conns += 1;
            s.stale.add(r, || {
                r.close_detail
                    .clone()
                    .unwrap_or_else(|| format!("{} stale request(s)", r.stale_requests))
            });
        }
        // server-idle-timeout (and the client side of it)
        if r.close_reason == CloseReason::IdleTimeout && by_server_fin {
            if let Some(i) = r.idle_before_close {
                s.idle_min = Some(s.idle_min.map_or(i, |m| m.min(i)));
                s.idle_max = Some(s.idle_max.map_or(i, |m| m.max(i)));
            }
            if let Some(t) = r.keep_alive.as_ref().and_then(|k| k.timeout) {
                if s.announced_timeouts.len() < MAX_ANNOUNCED {
                    s.announced_timeouts.insert(t);
                }
            }
            let line = || match r.idle_before_close {
                Some(i) => format!("server FIN after {} idle", human(i)),
                None => "server closed the idle connection".into(),
            };
            s.idle.add(r, line);
            c.idle_closed.add(r, line);
            let fin = r.tcp.fin_server;
            c.earliest_idle_close = match (c.earliest_idle_close, fin) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        // server-request-limit
        let limit_close = matches!(
            r.close_reason,
            CloseReason::KeepAliveMax | CloseReason::ConnectionCloseResponse
        );
        if limit_close && by_server_fin && r.requests >= 2 && r.stale_requests == 0 {
            if r.close_reason == CloseReason::KeepAliveMax {
                s.ka_max.add(r, || {
                    format!(
                        "closed after {} requests, Keep-Alive max={} announced",
                        r.requests,
                        r.keep_alive.and_then(|k| k.max).unwrap_or(0)
                    )
                });
            }
            if s.limit.contains_key(&r.requests) || s.limit.len() < MAX_LIMIT_VALUES {
                s.limit.entry(r.requests).or_default().add(r, || {
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
        let client_v = r.http_versions.and_then(|v| v.client);
        let server_v = r.http_versions.and_then(|v| v.server);
        // http10-without-keepalive (the client's requests)
        if client_v == Some("1.0")
            && matches!(
                r.close_reason,
                CloseReason::Http10Default | CloseReason::ConnectionCloseRequest
            )
        {
            c.http10.add(r, || {
                format!(
                    "{} HTTP/1.0 request(s) without Connection: keep-alive, then closed",
                    r.requests
                )
            });
        } else if r.close_reason == CloseReason::ConnectionCloseRequest && r.requests <= 1 {
            // client-sends-connection-close
            c.conn_close
                .add(r, || "one request, sent with Connection: close".into());
        }
        // server-disables-keepalive: a keep-alive request answered with close.
        let http11_req = client_v == Some("1.1");
        let answered_close = r.close_reason == CloseReason::ConnectionCloseResponse
            || (r.close_reason == CloseReason::Http10Default && server_v == Some("1.0"));
        if http11_req && answered_close && r.requests == 1 && r.stale_requests == 0 {
            s.disables.add(r, || {
                if r.close_reason == CloseReason::Http10Default {
                    "an HTTP/1.1 request answered in HTTP/1.0 without keep-alive, then closed"
                        .into()
                } else {
                    "an HTTP/1.1 request answered with Connection: close".into()
                }
            });
        }
        // server-closes-without-notice
        if r.close_reason == CloseReason::ServerClosedAfterResponse {
            s.no_notice.add(r, || {
                format!(
                    "server {}{} after its response, no Connection: close",
                    if r.closed_by == ClosedBy::Server {
                        "FIN"
                    } else {
                        "close"
                    },
                    r.idle_before_close
                        .map(|d| format!(" {}", human(d)))
                        .unwrap_or_default()
                )
            });
        }
        // client-closes-after-each-response
        if r.verdict == Verdict::SingleRequestKeptOpen
            && r.close_reason == CloseReason::ClientFinished
            && r.closed_by == ClosedBy::Client
            && r.protocol_switch.is_none()
        {
            c.closes_after_each.add(r, || {
                format!(
                    "one request, then the client's FIN{} after the response",
                    r.idle_before_close
                        .map(|d| format!(" {}", human(d)))
                        .unwrap_or_default()
                )
            });
        }
        // response-abandoned
        if r.closed_by == ClosedBy::ClientReset && r.requests >= 1 && r.requests == r.responses {
            s.abandoned.add(r, || {
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

fn push(
    out: &mut Vec<Finding>,
    kind: FindingKind,
    server: &str,
    t: &Tally,
    value: Option<f64>,
    statement: String,
    advice: String,
) {
    let mut evidence = vec![statement];
    evidence.extend(t.lines.iter().cloned());
    out.push(Finding {
        kind,
        server: server.to_string(),
        client: t.client.clone(),
        connections: t.conns,
        value,
        evidence,
        advice,
        example_connections: t.ids.clone(),
    });
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

fn server_findings(server: &str, s: &ServerAcc, out: &mut Vec<Finding>) {
    use FindingKind::*;
    let timeout = server_timeout(s);
    if s.stale.conns > 0 {
        push(
            out,
            StaleReuse,
            server,
            &s.stale,
            Some(s.stale_requests as f64),
            format!(
                "{} sent on {} the server had already closed (keep-alive race: the server answers with a reset, the client must retry)",
                plural(s.stale_requests, "request was", "requests were"),
                plural(s.stale.conns, "connection", "connections"),
            ),
            "Keep the client pool's idle timeout below the server's keep-alive timeout, and let the client retry idempotent requests that fail on a reused connection.".into(),
        );
    }
    if let Some((t, how)) = &timeout {
        push(
            out,
            ServerIdleTimeout,
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
        );
    }
    // client-idle-exceeds-server-timeout: the server timed a connection out
    // and the same client came back later (new connection or stale request).
    let mut idle_back = Tally::default();
    for c in s.clients.values().chain(std::iter::once(&s.other_clients)) {
        let came_back = c.stale_conns > 0
            || matches!((c.earliest_idle_close, c.latest_start), (Some(f), Some(st)) if st > f);
        if c.idle_closed.conns > 0 && came_back {
            idle_back.merge(&c.idle_closed);
        }
    }
    if idle_back.conns > 0 {
        if let Some((t, how)) = &timeout {
            push(
                out,
                ClientIdleExceedsServerTimeout,
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
            );
        }
    }
    // server-request-limit
    let best = s
        .limit
        .iter()
        .max_by(|a, b| a.1.conns.cmp(&b.1.conns).then(a.0.cmp(b.0)));
    if let Some((&n, t)) = best {
        if t.conns >= 2 || s.ka_max.conns > 0 {
            push(
                out,
                ServerRequestLimit,
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
            );
        }
    }
    if s.disables.conns > 0 {
        push(
            out,
            ServerDisablesKeepalive,
            server,
            &s.disables,
            None,
            format!(
                "the server closed {} after one HTTP/1.1 request that did not ask to close",
                plural(s.disables.conns, "connection", "connections")
            ),
            "Enable keep-alive on the server (nginx: keepalive_timeout above 0; a server that speaks HTTP/1.1 and keeps connections).".into(),
        );
    }
    if s.no_notice.conns > 0 {
        push(
            out,
            ServerClosesWithoutNotice,
            server,
            &s.no_notice,
            None,
            format!(
                "the server closed {} right after a response without Connection: close on an HTTP/1.1 exchange",
                plural(s.no_notice.conns, "connection", "connections")
            ),
            "The server (or proxy) should send Connection: close on a response after which it closes, or keep the connection open; a silent close makes clients try to reuse a dead connection.".into(),
        );
    }
    // One reset at the end of a session (a load generator stopping) defeats
    // nothing: a client that keeps doing it does.
    if s.abandoned.conns >= MIN_PATTERN {
        push(
            out,
            ResponseAbandoned,
            server,
            &s.abandoned,
            None,
            format!(
                "the client reset {} with every response begun but not read to the end: the connection could not go back to the pool",
                plural(s.abandoned.conns, "connection", "connections")
            ),
            "Read response bodies to the end (or drain them) before closing them, so the connection can be reused (Go: io.Copy(io.Discard, resp.Body) before resp.Body.Close()).".into(),
        );
    }
    // Client-caused patterns, per client address.
    let mut clients: Vec<(&str, &ClientAcc)> =
        s.clients.iter().map(|(k, v)| (k.as_str(), v)).collect();
    clients.sort_by_key(|c| c.0);
    if s.other_clients.used_conns > 0 {
        clients.push(("", &s.other_clients));
    }
    for (_, c) in clients {
        if c.http10.conns >= MIN_PATTERN {
            push(
                out,
                Http10WithoutKeepalive,
                server,
                &c.http10,
                None,
                format!(
                    "the client sent HTTP/1.0 requests without Connection: keep-alive on {}: each one paid a new connection",
                    plural(c.http10.conns, "connection", "connections")
                ),
                "Speak HTTP/1.1 (or send Connection: keep-alive). Behind nginx: proxy_http_version 1.1; proxy_set_header Connection \"\"; and an upstream keepalive pool.".into(),
            );
        }
        if c.conn_close.conns >= MIN_PATTERN {
            push(
                out,
                ClientSendsConnectionClose,
                server,
                &c.conn_close,
                None,
                format!(
                    "the client asked for Connection: close on {}, one request each",
                    plural(c.conn_close.conns, "connection", "connections")
                ),
                "Stop sending Connection: close (Node: pass a keep-alive http.Agent instead of agent: false; curl: drop -H 'Connection: close').".into(),
            );
        }
        let each = c.closes_after_each.conns;
        if each >= MIN_PATTERN && each * 2 >= c.used_conns {
            push(
                out,
                ClientClosesAfterEachResponse,
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
            );
        }
    }
}
