//! `keepwatch diff`: two summaries side by side — did the fix raise reuse?
//! Per server: connections, requests, reused connections, requests per
//! connection, handshakes saved, stale requests and findings, before and
//! after. Pure: summaries in, comparison out.

use crate::analysis::findings::Finding;
use crate::analysis::{GroupStats, Summary};
use serde::Serialize;
use std::collections::BTreeSet;

/// One side of one server (the summary's field names).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerSide {
    pub connections: u64,
    pub requests: u64,
    pub reused_connections: u64,
    pub requests_per_connection_mean: f64,
    pub handshakes_saved: u64,
    pub stale_requests: u64,
    pub findings: Vec<Finding>,
}

impl ServerSide {
    fn of(g: Option<&GroupStats>, server: &str, findings: &[Finding]) -> Self {
        let g = g.cloned().unwrap_or_default();
        ServerSide {
            connections: g.connections,
            requests: g.requests,
            reused_connections: g.reused_connections,
            requests_per_connection_mean: g.requests_per_connection_mean,
            handshakes_saved: g.handshakes_saved,
            stale_requests: g.stale_requests,
            findings: findings
                .iter()
                .filter(|f| f.server == server)
                .cloned()
                .collect(),
        }
    }
}

/// After minus before, per number.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Change {
    pub connections: i64,
    pub requests: i64,
    pub reused_connections: i64,
    pub requests_per_connection_mean: f64,
    pub handshakes_saved: i64,
    pub stale_requests: i64,
    /// Finding kinds present after but not before, and gone after.
    pub findings_new: Vec<&'static str>,
    pub findings_gone: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerDiff {
    pub server: String,
    pub before: ServerSide,
    pub after: ServerSide,
    pub change: Change,
}

/// The `keepwatch diff --format json` document.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub before: Summary,
    pub after: Summary,
    /// Every server seen on either side, the busiest (before + after) first.
    pub servers: Vec<ServerDiff>,
}

fn d(a: u64, b: u64) -> i64 {
    b as i64 - a as i64
}

fn kinds(f: &[Finding]) -> BTreeSet<&'static str> {
    f.iter().map(|f| f.kind.as_str()).collect()
}

fn change(b: &ServerSide, a: &ServerSide) -> Change {
    let (kb, ka) = (kinds(&b.findings), kinds(&a.findings));
    Change {
        connections: d(b.connections, a.connections),
        requests: d(b.requests, a.requests),
        reused_connections: d(b.reused_connections, a.reused_connections),
        requests_per_connection_mean: ((a.requests_per_connection_mean
            - b.requests_per_connection_mean)
            * 100.0)
            .round()
            / 100.0,
        handshakes_saved: d(b.handshakes_saved, a.handshakes_saved),
        stale_requests: d(b.stale_requests, a.stale_requests),
        findings_new: ka.difference(&kb).copied().collect(),
        findings_gone: kb.difference(&ka).copied().collect(),
    }
}

/// Compares two summaries server by server.
pub fn diff(before: Summary, after: Summary) -> Diff {
    let servers: BTreeSet<&String> = before
        .per_server
        .keys()
        .chain(after.per_server.keys())
        .collect();
    let mut out: Vec<ServerDiff> = servers
        .into_iter()
        .map(|s| {
            let b = ServerSide::of(before.per_server.get(s), s, &before.findings);
            let a = ServerSide::of(after.per_server.get(s), s, &after.findings);
            ServerDiff {
                server: s.clone(),
                change: change(&b, &a),
                before: b,
                after: a,
            }
        })
        .collect();
    out.sort_by(|x, y| {
        (y.before.connections + y.after.connections)
            .cmp(&(x.before.connections + x.after.connections))
            .then(x.server.cmp(&y.server))
    });
    Diff {
        before,
        after,
        servers: out,
    }
}
