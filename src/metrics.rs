//! Prometheus metrics for `keepwatch live --metrics ADDR` (docs/at-scale.md).
//!
//! A sink beside the reports, outside the pure core: the core hands out
//! finished [`ConnectionRecord`]s; [`Metrics::record`] folds each one into
//! counters, exactly as the report sinks print them. Nothing here reads a
//! clock. The capture counters and the open-connection figures are pushed in
//! by the live loop ([`Metrics::capture`], [`Metrics::open_connections`]).
//! [`MetricsServer`] serves the registry over HTTP (tiny_http) at `/metrics`
//! in the Prometheus text format (0.0.4), encoded by `prometheus-client`.
//!
//! Label cardinality is bounded: at most `max_servers` servers (`ip:port`)
//! have a `server` label of their own, the busiest by connections; the rest
//! are counted under `server="other"` (`ServerLabels`). Every series is
//! monotonic: a server that loses its label has its series removed, never
//! moved into another.
//!
//! Findings (docs/findings.md) are derived from all connections so far and can
//! appear or go away as more arrive, so they are a gauge,
//! `keepwatch_finding_connections{kind,server}`, recomputed by
//! [`Metrics::refresh_findings`] from a [`FindingsBuilder`] fed by `record`.
//!
//! Adding a metric family per finished connection: add a `Family<…, Counter>`
//! field, register it in [`Metrics::new`], and increment it in
//! [`Metrics::record`] from the record's fields, using the `server` label that
//! function computes.

use crate::analysis::findings::FindingsBuilder;
use crate::analysis::{ConnectionRecord, Verdict};
use crate::tcp::HandshakeState;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

/// The label of the servers beyond the first `max_servers`.
pub const OTHER: &str = "other";
/// Default for `--metrics-servers`.
pub const DEFAULT_MAX_SERVERS: usize = 50;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabel {
    server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    server: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabel {
    server: String,
    verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabel {
    kind: String,
    server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabel {
    by: &'static str,
}

/// libpcap's and keepwatch's capture counters, as totals since the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureCounts {
    pub captured: u64,
    pub kernel_dropped: u64,
    pub interface_dropped: u64,
    pub keepwatch_dropped: u64,
}

type PerServer = Family<ServerLabel, Counter>;

/// Which servers have a label of their own: the first `max` seen, then the
/// busiest. A server counted under `other` takes the label of the least busy
/// labelled server once it has had more than twice that server's connections
/// (the margin keeps two similar servers from trading the label back and
/// forth). Connection counts are kept for the labelled servers and for up to
/// `10 × max` (at least 1000) others; beyond that the least busy other is
/// forgotten.
struct ServerLabels {
    max: usize,
    labelled: HashMap<String, u64>,
    folded: HashMap<String, u64>,
}

impl ServerLabels {
    fn new(max: usize) -> Self {
        ServerLabels {
            max,
            labelled: HashMap::new(),
            folded: HashMap::new(),
        }
    }

    fn has_label(&self, server: &str) -> bool {
        self.labelled.contains_key(server)
    }

    /// Counts one connection of `server`. Returns the server that lost its
    /// label to it, if one did.
    fn count(&mut self, server: &str) -> Option<String> {
        if let Some(n) = self.labelled.get_mut(server) {
            *n += 1;
            return None;
        }
        if self.labelled.len() < self.max {
            self.labelled.insert(server.to_string(), 1);
            return None;
        }
        let n = {
            let e = self.folded.entry(server.to_string()).or_insert(0);
            *e += 1;
            *e
        };
        if self.folded.len() > (10 * self.max).max(1000) {
            let least = self
                .folded
                .iter()
                .filter(|(s, _)| s.as_str() != server)
                .min_by_key(|(_, n)| **n)
                .map(|(s, _)| s.clone());
            if let Some(least) = least {
                self.folded.remove(&least);
            }
        }
        let (least, least_n) = self
            .labelled
            .iter()
            .min_by_key(|(_, n)| **n)
            .map(|(s, n)| (s.clone(), *n))?;
        if n <= 2 * least_n {
            return None;
        }
        self.labelled.remove(&least);
        self.folded.remove(server);
        self.labelled.insert(server.to_string(), n);
        self.folded.insert(least.clone(), least_n);
        Some(least)
    }
}

pub struct Metrics {
    registry: Arc<Registry>,
    labels: ServerLabels,
    /// Connections counted as opened and not finished yet.
    open_ids: HashSet<u64>,
    /// The close reasons and verdicts seen (to remove a server's series).
    reasons_seen: HashSet<&'static str>,
    verdicts_seen: HashSet<&'static str>,
    opened: PerServer,
    closed: PerServer,
    requests: PerServer,
    responses: PerServer,
    reused: PerServer,
    stale: PerServer,
    handshakes: PerServer,
    handshakes_saved: PerServer,
    close_reasons: Family<ReasonLabel, Counter>,
    verdicts: Family<VerdictLabel, Counter>,
    open: Gauge,
    findings: FindingsBuilder,
    findings_stale: bool,
    finding_conns: Family<FindingLabel, Gauge>,
    finding_series: HashSet<FindingLabel>,
    packets: Counter,
    drops: Family<DropLabel, Counter>,
    last_capture: CaptureCounts,
}

impl Metrics {
    pub fn new(max_servers: usize) -> Metrics {
        let mut reg = Registry::with_prefix("keepwatch");
        let mut per_server = |name: &str, help: &str| {
            let f = PerServer::default();
            reg.register(name, help, f.clone());
            f
        };
        let opened = per_server(
            "connections_opened",
            "Connections seen, counted when keepwatch first sees them open (checked twice a second) or at the latest when they end",
        );
        let closed = per_server(
            "connections_closed",
            "Connections that ended (closed, reset, idle past --idle-timeout, or open when the capture stopped)",
        );
        let requests = per_server("requests", "HTTP requests on connections that ended");
        let responses = per_server("responses", "HTTP responses on connections that ended");
        let reused = per_server(
            "reused_connections",
            "Connections that ended with verdict reused (more than one request)",
        );
        let stale = per_server(
            "stale_requests",
            "Requests sent after the server had closed its side (keep-alive race)",
        );
        let handshakes = per_server(
            "handshakes",
            "Completed TCP handshakes (SYN, SYN-ACK, ACK) of connections that ended",
        );
        let handshakes_saved = per_server(
            "handshakes_saved",
            "Handshakes spared by reuse: uses of a connection beyond its first",
        );
        let close_reasons = Family::<ReasonLabel, Counter>::default();
        reg.register(
            "close_reasons",
            "Connections that ended, by close reason (docs/output.md)",
            close_reasons.clone(),
        );
        let verdicts = Family::<VerdictLabel, Counter>::default();
        reg.register(
            "verdicts",
            "Connections that ended, by verdict (docs/output.md)",
            verdicts.clone(),
        );
        let open = Gauge::default();
        reg.register(
            "open_connections",
            "Connections open right now (seen and not yet closed by FIN from both sides or a reset)",
            open.clone(),
        );
        let finding_conns = Family::<FindingLabel, Gauge>::default();
        reg.register(
            "finding_connections",
            "Connections showing a finding (docs/findings.md), by kind and server, over the connections that ended so far",
            finding_conns.clone(),
        );
        let packets = Counter::default();
        reg.register(
            "capture_packets",
            "Packets captured (after the BPF filter)",
            packets.clone(),
        );
        let drops = Family::<DropLabel, Counter>::default();
        reg.register(
            "capture_drops",
            "Packets lost: by=kernel (ring full), by=interface, by=keepwatch (analysis behind)",
            drops.clone(),
        );
        // The drop series exist from the start, so a 0 is visible (and rate()
        // sees the first drop).
        for by in ["kernel", "interface", "keepwatch"] {
            let _ = drops.get_or_create(&DropLabel { by });
        }
        Metrics {
            registry: Arc::new(reg),
            labels: ServerLabels::new(max_servers),
            open_ids: HashSet::new(),
            reasons_seen: HashSet::new(),
            verdicts_seen: HashSet::new(),
            opened,
            closed,
            requests,
            responses,
            reused,
            stale,
            handshakes,
            handshakes_saved,
            close_reasons,
            verdicts,
            open,
            findings: FindingsBuilder::new(),
            findings_stale: false,
            finding_conns,
            finding_series: HashSet::new(),
            packets,
            drops,
            last_capture: CaptureCounts::default(),
        }
    }

    /// The registry, for [`MetricsServer`] (or any other exporter).
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// The `server` label of a server right now.
    fn label(&self, server: &str) -> String {
        if self.labels.has_label(server) {
            server.to_string()
        } else {
            OTHER.to_string()
        }
    }

    /// Counts a connection as opened, once; a server that lost its label to
    /// make room has its series removed.
    fn count_opened(&mut self, id: u64, server: &str) {
        if !self.open_ids.insert(id) {
            return;
        }
        if let Some(gone) = self.labels.count(server) {
            self.remove_server(&gone);
        }
        self.opened
            .get_or_create(&ServerLabel {
                server: self.label(server),
            })
            .inc();
    }

    fn remove_server(&self, server: &str) {
        let s = ServerLabel {
            server: server.to_string(),
        };
        for f in [
            &self.opened,
            &self.closed,
            &self.requests,
            &self.responses,
            &self.reused,
            &self.stale,
            &self.handshakes,
            &self.handshakes_saved,
        ] {
            f.remove(&s);
        }
        for reason in &self.reasons_seen {
            self.close_reasons.remove(&ReasonLabel {
                server: server.to_string(),
                reason: reason.to_string(),
            });
        }
        for verdict in &self.verdicts_seen {
            self.verdicts.remove(&VerdictLabel {
                server: server.to_string(),
                verdict: verdict.to_string(),
            });
        }
    }

    /// The connections in the table right now (id, server): counts the ones
    /// not seen before as opened, and sets the open-connections gauge.
    pub fn open_connections(&mut self, conns: impl Iterator<Item = (u64, SocketAddr)>) {
        let mut n = 0i64;
        for (id, server) in conns {
            n += 1;
            if !self.open_ids.contains(&id) {
                self.count_opened(id, &server.to_string());
            }
        }
        self.open.set(n);
    }

    /// Folds one finished connection into the counters.
    pub fn record(&mut self, r: &ConnectionRecord) {
        // A connection that opened and ended between two looks at the table
        // is counted as opened now.
        self.count_opened(r.id, &r.server);
        self.open_ids.remove(&r.id);
        self.findings.add(r);
        self.findings_stale = true;
        self.reasons_seen.insert(r.close_reason.as_str());
        self.verdicts_seen.insert(r.verdict.as_str());
        let label = self.label(&r.server);
        let s = ServerLabel {
            server: label.clone(),
        };
        self.closed.get_or_create(&s).inc();
        self.requests.get_or_create(&s).inc_by(r.requests as u64);
        self.responses.get_or_create(&s).inc_by(r.responses as u64);
        // Created even at 0 so that every server has the series a ratio
        // (reused / closed) needs.
        let reused = self.reused.get_or_create(&s);
        if r.verdict == Verdict::Reused {
            reused.inc();
        }
        drop(reused);
        self.stale.get_or_create(&s).inc_by(r.stale_requests as u64);
        let hs = self.handshakes.get_or_create(&s);
        if r.handshake == HandshakeState::Complete {
            hs.inc();
        }
        drop(hs);
        self.handshakes_saved
            .get_or_create(&s)
            .inc_by(r.handshakes_saved());
        self.close_reasons
            .get_or_create(&ReasonLabel {
                server: label.clone(),
                reason: r.close_reason.as_str().into(),
            })
            .inc();
        self.verdicts
            .get_or_create(&VerdictLabel {
                server: label,
                verdict: r.verdict.as_str().into(),
            })
            .inc();
    }

    /// Recomputes the findings gauge from the connections recorded so far
    /// (cheap when nothing was recorded since the last call). Servers without
    /// a label of their own are summed under `other`; series of findings that
    /// went away are removed.
    pub fn refresh_findings(&mut self) {
        if !std::mem::take(&mut self.findings_stale) {
            return;
        }
        let mut now: HashMap<FindingLabel, i64> = HashMap::new();
        for f in self.findings.findings() {
            let key = FindingLabel {
                kind: f.kind.as_str().to_string(),
                server: self.label(&f.server),
            };
            *now.entry(key).or_default() += f.connections as i64;
        }
        for gone in self.finding_series.iter().filter(|k| !now.contains_key(*k)) {
            self.finding_conns.remove(gone);
        }
        for (k, n) in &now {
            self.finding_conns.get_or_create(k).set(*n);
        }
        self.finding_series = now.into_keys().collect();
    }

    /// The capture counters (totals since the start; they only grow).
    pub fn capture(&mut self, c: CaptureCounts) {
        let last = self.last_capture;
        self.packets
            .inc_by(c.captured.saturating_sub(last.captured));
        for (by, now, was) in [
            ("kernel", c.kernel_dropped, last.kernel_dropped),
            ("interface", c.interface_dropped, last.interface_dropped),
            ("keepwatch", c.keepwatch_dropped, last.keepwatch_dropped),
        ] {
            self.drops
                .get_or_create(&DropLabel { by })
                .inc_by(now.saturating_sub(was));
        }
        self.last_capture = CaptureCounts {
            captured: c.captured.max(last.captured),
            kernel_dropped: c.kernel_dropped.max(last.kernel_dropped),
            interface_dropped: c.interface_dropped.max(last.interface_dropped),
            keepwatch_dropped: c.keepwatch_dropped.max(last.keepwatch_dropped),
        };
    }

    /// The Prometheus text format (0.0.4) of everything registered.
    pub fn encode(&self) -> String {
        encode(&self.registry)
    }
}

fn encode(reg: &Registry) -> String {
    let mut s = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut s, reg);
    s
}

/// An HTTP server (its own threads) answering `GET /metrics` with the
/// registry's current values. Stopped and joined on drop.
pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl MetricsServer {
    pub fn start(addr: &str, registry: Arc<Registry>) -> Result<MetricsServer, String> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?;
        let bound = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| format!("cannot serve metrics on {addr}: not an IP address"))?;
        let server = Arc::new(server);
        let srv = server.clone();
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                for req in srv.incoming_requests() {
                    let resp = answer(&req, &registry);
                    // A scraper that hung up is its own problem.
                    let _ = req.respond(resp);
                }
            })
            .map_err(|e| format!("cannot start the metrics thread: {e}"))?;
        Ok(MetricsServer {
            server,
            thread: Some(thread),
            addr: bound,
        })
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

fn answer(
    req: &tiny_http::Request,
    reg: &Registry,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    use tiny_http::{Method, Response};
    let path = req.url().split('?').next().unwrap_or("");
    match (req.method(), path) {
        (Method::Get | Method::Head, "/metrics") => {
            Response::from_string(encode(reg)).with_header(header(
                "Content-Type",
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            ))
        }
        (Method::Get | Method::Head, "/") => Response::from_string(
            "keepwatch: Prometheus metrics are at /metrics (docs/at-scale.md)\n",
        )
        .with_header(header("Content-Type", "text/plain; charset=utf-8")),
        (Method::Get | Method::Head, _) => {
            Response::from_string("not found: metrics are at /metrics\n").with_status_code(404)
        }
        _ => Response::from_string("only GET /metrics\n")
            .with_status_code(405)
            .with_header(header("Allow", "GET, HEAD")),
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Analyzer, Options};

    /// Every finished connection of some samples (one capture), folded into
    /// the metrics.
    fn metrics_of(samples: &[&str], max_servers: usize) -> (Metrics, crate::engine::Report) {
        let mut an = Analyzer::new(Options::default()).unwrap();
        let mut m = Metrics::new(max_servers);
        for sample in samples {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("samples/captures")
                .join(sample);
            let cap = crate::capture::CaptureFile::open(&path).unwrap();
            cap.for_each(|p| an.packet(&p, &mut |r| m.record(r)))
                .unwrap();
        }
        let rep = an.finish(&mut |r| m.record(r));
        (m, rep)
    }

    /// `name{labels} value` lines of the text format.
    fn samples(text: &str) -> HashMap<String, f64> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').unwrap();
                (k.to_string(), v.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn counters_match_the_summary_per_server() {
        let (m, rep) = metrics_of(
            &[
                "nginx-keepalive-requests-3.pcap",
                "stale-keepalive-timeout-retry.pcap",
                "curl-http10-close.pcap",
            ],
            50,
        );
        let got = samples(&m.encode());
        assert!(!rep.summary.per_server.is_empty());
        for (server, g) in &rep.summary.per_server {
            let k = |name: &str| format!("keepwatch_{name}_total{{server=\"{server}\"}}");
            assert_eq!(got[&k("connections_closed")], g.connections as f64);
            assert_eq!(got[&k("connections_opened")], g.connections as f64);
            assert_eq!(got[&k("requests")], g.requests as f64);
            assert_eq!(got[&k("responses")], g.responses as f64);
            assert_eq!(got[&k("reused_connections")], g.reused_connections as f64);
            assert_eq!(got[&k("stale_requests")], g.stale_requests as f64);
            assert_eq!(got[&k("handshakes")], g.handshakes as f64);
            assert_eq!(got[&k("handshakes_saved")], g.handshakes_saved as f64);
            for (reason, n) in &g.close_reasons {
                let key = format!(
                    "keepwatch_close_reasons_total{{server=\"{server}\",reason=\"{reason}\"}}"
                );
                assert_eq!(got[&key], *n as f64, "{key}");
            }
            for (verdict, n) in &g.verdicts {
                let key = format!(
                    "keepwatch_verdicts_total{{server=\"{server}\",verdict=\"{verdict}\"}}"
                );
                assert_eq!(got[&key], *n as f64, "{key}");
            }
        }
    }

    #[test]
    fn servers_beyond_the_limit_fold_into_other() {
        // Three captures of three servers, one label allowed.
        let (m, rep) = metrics_of(
            &[
                "nginx-keepalive-requests-3.pcap",
                "stale-keepalive-timeout-retry.pcap",
                "curl-http10-close.pcap",
            ],
            1,
        );
        assert_eq!(rep.summary.per_server.len(), 3);
        let got = samples(&m.encode());
        let labels: HashSet<String> = got
            .keys()
            .filter(|k| k.starts_with("keepwatch_connections_closed_total"))
            .cloned()
            .collect();
        assert_eq!(labels.len(), 2, "one server and other: {labels:?}");
        assert!(labels.iter().any(|l| l.contains("server=\"other\"")));
        let total: f64 = labels.iter().map(|l| got[l]).sum();
        assert_eq!(total, rep.summary.connections as f64);
    }

    #[test]
    fn a_busier_server_takes_the_label_of_the_least_busy() {
        let (_, rep) = metrics_of(&["curl-http11-reuse.pcap"], 1);
        let base = rep.connections[0].clone();
        let mut m = Metrics::new(2);
        let mut next_id = 0;
        let mut conn = |m: &mut Metrics, server: &str| {
            next_id += 1;
            let mut r = base.clone();
            r.id = next_id;
            r.server = server.into();
            m.record(&r);
        };
        let closed = |m: &Metrics, server: &str| {
            samples(&m.encode())
                .get(&format!(
                    "keepwatch_connections_closed_total{{server=\"{server}\"}}"
                ))
                .copied()
        };
        conn(&mut m, "a:1");
        conn(&mut m, "a:1");
        conn(&mut m, "b:1");
        conn(&mut m, "c:1");
        conn(&mut m, "c:1");
        // c has 2 connections, b (the least busy labelled) 1: not yet more than twice.
        assert_eq!(closed(&m, "a:1"), Some(2.0));
        assert_eq!(closed(&m, "b:1"), Some(1.0));
        assert_eq!(closed(&m, OTHER), Some(2.0));
        assert_eq!(closed(&m, "c:1"), None);
        conn(&mut m, "c:1");
        // Now c takes b's label: b's series are gone, c starts its own.
        assert_eq!(closed(&m, "c:1"), Some(1.0));
        assert_eq!(closed(&m, "b:1"), None);
        assert!(!m.encode().contains("b:1"), "{}", m.encode());
        assert_eq!(closed(&m, OTHER), Some(2.0));
        conn(&mut m, "b:1");
        assert_eq!(closed(&m, OTHER), Some(3.0));
        assert_eq!(closed(&m, "a:1"), Some(2.0));
    }

    #[test]
    fn findings_gauge_matches_the_report() {
        let files = [
            "stale-keepalive-timeout-retry.pcap",
            "python-requests-no-session.pcap",
            "curl-http10-close.pcap",
        ];
        let findings_of = |text: &str| -> HashMap<String, f64> {
            samples(text)
                .into_iter()
                .filter(|(k, _)| k.starts_with("keepwatch_finding_connections{"))
                .collect()
        };
        let (mut m, rep) = metrics_of(&files, 50);
        assert!(findings_of(&m.encode()).is_empty(), "not refreshed yet");
        m.refresh_findings();
        assert!(
            rep.summary.findings.len() >= 3,
            "{:?}",
            rep.summary.findings
        );
        let mut want: HashMap<String, f64> = HashMap::new();
        let mut want_other: HashMap<String, f64> = HashMap::new();
        for f in &rep.summary.findings {
            let kind = f.kind.as_str();
            *want
                .entry(format!(
                    "keepwatch_finding_connections{{kind=\"{kind}\",server=\"{}\"}}",
                    f.server
                ))
                .or_default() += f.connections as f64;
            *want_other
                .entry(format!(
                    "keepwatch_finding_connections{{kind=\"{kind}\",server=\"other\"}}"
                ))
                .or_default() += f.connections as f64;
        }
        assert_eq!(findings_of(&m.encode()), want);
        // No labels to give: every finding is summed under `other`.
        let (mut m, _) = metrics_of(&files, 0);
        m.refresh_findings();
        assert_eq!(findings_of(&m.encode()), want_other);
    }

    #[test]
    fn capture_counters_follow_the_totals() {
        let mut m = Metrics::new(5);
        m.capture(CaptureCounts {
            captured: 10,
            kernel_dropped: 1,
            ..Default::default()
        });
        m.capture(CaptureCounts {
            captured: 25,
            kernel_dropped: 1,
            keepwatch_dropped: 4,
            ..Default::default()
        });
        let got = samples(&m.encode());
        assert_eq!(got["keepwatch_capture_packets_total"], 25.0);
        assert_eq!(got["keepwatch_capture_drops_total{by=\"kernel\"}"], 1.0);
        assert_eq!(got["keepwatch_capture_drops_total{by=\"interface\"}"], 0.0);
        assert_eq!(got["keepwatch_capture_drops_total{by=\"keepwatch\"}"], 4.0);
    }

    #[test]
    fn open_connections_are_counted_once_when_seen() {
        let mut m = Metrics::new(5);
        let a: SocketAddr = "127.0.0.1:80".parse().unwrap();
        m.open_connections([(1, a), (2, a)].into_iter());
        m.open_connections([(1, a), (2, a), (3, a)].into_iter());
        let got = samples(&m.encode());
        assert_eq!(
            got["keepwatch_connections_opened_total{server=\"127.0.0.1:80\"}"],
            3.0
        );
        assert_eq!(got["keepwatch_open_connections"], 3.0);
    }

    /// A raw HTTP/1.0 GET to the server: (status line, headers, body).
    fn get(addr: SocketAddr, path: &str) -> (String, String, String) {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        write!(c, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").unwrap();
        let mut resp = String::new();
        c.read_to_string(&mut resp).unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
        (status.into(), headers.to_ascii_lowercase(), body.into())
    }

    #[test]
    fn server_answers_metrics_in_the_text_format() {
        let (m, rep) = metrics_of(&["curl-http11-reuse.pcap"], 50);
        let srv = MetricsServer::start("127.0.0.1:0", m.registry()).unwrap();
        let (status, headers, body) = get(srv.addr, "/metrics");
        assert!(status.contains(" 200 "), "{status}");
        assert!(
            headers.contains("content-type: text/plain; version=0.0.4"),
            "{headers}"
        );
        // The scrape is what encode() gives, and parses line by line.
        assert_eq!(body, m.encode());
        let got = samples(&body);
        let server = rep.summary.per_server.keys().next().unwrap();
        assert_eq!(
            got[&format!("keepwatch_reused_connections_total{{server=\"{server}\"}}")],
            rep.summary.reused_connections as f64
        );
        for line in body.lines().filter(|l| l.starts_with("# TYPE ")) {
            let kind = line.rsplit(' ').next().unwrap();
            assert!(kind == "counter" || kind == "gauge", "{line}");
        }
        let (status, _, _) = get(srv.addr, "/nope");
        assert!(status.contains(" 404 "), "{status}");
        drop(srv);
    }

    #[test]
    fn a_taken_port_is_a_clear_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let e = MetricsServer::start(&addr, Metrics::new(1).registry())
            .err()
            .expect("port in use");
        assert!(
            e.starts_with(&format!("cannot serve metrics on {addr}: ")),
            "{e}"
        );
    }
}
