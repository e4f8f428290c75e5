//! The summary: records folded into counts per server, per virtual host and
//! overall, one record at a time (so streaming outputs keep no records).

use super::*;
use crate::memory::TopN;
use crate::tcp::HandshakeState;
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

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
    pub findings: Vec<crate::analysis::findings::Finding>,
}

/// Builds the summary one record at a time, so a streaming report (JSONL,
/// CSV, live) need not keep its records.
#[derive(Debug, Default, Clone)]
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
    findings: crate::analysis::findings::FindingsBuilder,
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
