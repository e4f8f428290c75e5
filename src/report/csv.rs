//! CSV: one row per connection, RFC 4180 quoting.

use crate::analysis::ConnectionRecord;
use std::io::{self, Write};

pub const HEADER: &[&str] = &[
    "id",
    "client",
    "server",
    "start",
    "end",
    "duration",
    "handshake",
    "closed_by",
    "requests",
    "responses",
    "verdict",
    "close_reason",
    "protocol",
    "host",
    "http_version",
    "max_pipeline_depth",
    "keep_alive_timeout",
    "keep_alive_max",
    "idle_before_close",
    "stale_requests",
    "packets",
    "bytes",
    "tls_version",
    "tls_sni",
    "tls_alpn",
    "tls_resumed",
    "tls_exchanges",
    "missing_bytes",
    "retransmissions",
    "file",
];

fn field(s: &str) -> String {
    let s = &*super::printable(s);
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn write_header<W: Write>(w: &mut W) -> io::Result<()> {
    writeln!(w, "{}", HEADER.join(","))
}

pub fn write_row<W: Write>(w: &mut W, r: &ConnectionRecord) -> io::Result<()> {
    let opt = |o: Option<String>| o.unwrap_or_default();
    let ka = r.keep_alive.as_ref();
    let tls = r.tls.as_ref();
    let cols: Vec<String> = vec![
        r.id.to_string(),
        r.client.clone(),
        r.server.clone(),
        r.start.rfc3339(),
        r.end.rfc3339(),
        format!("{:.6}", r.duration.as_secs_f64()),
        r.handshake.as_str().into(),
        r.closed_by.as_str().into(),
        r.requests.to_string(),
        r.responses.to_string(),
        r.verdict.as_str().into(),
        r.close_reason.as_str().into(),
        r.protocol.into(),
        opt(r.host.clone()),
        opt(r.http_version.map(String::from)),
        r.max_pipeline_depth.to_string(),
        opt(ka.and_then(|k| k.timeout).map(|v| v.to_string())),
        opt(ka.and_then(|k| k.max).map(|v| v.to_string())),
        opt(r
            .idle_before_close
            .map(|d| format!("{:.6}", d.as_secs_f64()))),
        r.stale_requests.to_string(),
        r.packets.to_string(),
        r.bytes.to_string(),
        opt(tls.and_then(|t| t.version.clone())),
        opt(tls.and_then(|t| t.sni.clone())),
        opt(tls.and_then(|t| t.alpn.clone())),
        opt(tls.map(|t| t.resumed.to_string())),
        opt(tls.map(|t| t.exchanges.to_string())),
        (r.tcp.client_to_server.missing_bytes + r.tcp.server_to_client.missing_bytes).to_string(),
        (r.tcp.client_to_server.retransmissions + r.tcp.server_to_client.retransmissions)
            .to_string(),
        opt(r.file.clone()),
    ];
    let line: Vec<String> = cols.iter().map(|c| field(c)).collect();
    writeln!(w, "{}", line.join(","))
}
