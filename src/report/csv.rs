//! CSV: one row per connection, RFC 4180 quoting (the `csv` crate, quoting
//! only fields that need it).

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
    "tls_cipher",
    "tls_decrypted_client",
    "tls_decrypted_server",
    "tls_not_decrypted",
];

/// One record, quoted as needed, then `\n`. Built in memory first: a
/// `csv::Writer` over `w` itself would flush `w` on every row.
fn write_record<W: Write, T: AsRef<[u8]>>(w: &mut W, fields: &[T]) -> io::Result<()> {
    let mut c = csv::Writer::from_writer(Vec::with_capacity(512));
    c.write_record(fields)?;
    let line = c.into_inner().map_err(|e| e.into_error())?;
    w.write_all(&line)
}

pub fn write_header<W: Write>(w: &mut W) -> io::Result<()> {
    write_record(w, HEADER)
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
        opt(tls.and_then(|t| t.cipher.clone())),
        opt(tls.map(|t| t.decrypted.client.to_string())),
        opt(tls.map(|t| t.decrypted.server.to_string())),
        opt(tls.and_then(|t| t.not_decrypted.clone())),
    ];
    let cols: Vec<_> = cols.iter().map(|c| super::printable(c)).collect();
    let cols: Vec<&str> = cols.iter().map(|c| c.as_ref()).collect();
    write_record(w, &cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples/captures/curl-http11-reuse.pcap");
        let cap = crate::capture::CaptureFile::open(&path).unwrap();
        let mut an = crate::engine::Analyzer::new(Default::default()).unwrap();
        cap.for_each(|p| an.packet(&p, &mut |_| {})).unwrap();
        let mut r = an.finish(&mut |_| {}).connections.remove(0);
        r.host = Some("a,b \"c\"".into());
        r.file = Some("plain".into());
        let mut out = Vec::new();
        write_header(&mut out).unwrap();
        write_row(&mut out, &r).unwrap();
        let text = String::from_utf8(out).unwrap();
        let (header, row) = text.split_once('\n').unwrap();
        assert_eq!(header, HEADER.join(","));
        assert!(row.ends_with(",plain,,,,\n"), "{row}");
        assert!(row.contains(",\"a,b \"\"c\"\"\","), "{row}");
        assert!(!row.contains("\"plain\""), "{row}");
    }
}
