//! The readable report: one row per connection and a summary that tells the
//! reuse story in words. Coloured when asked (or when stdout is a terminal).

use super::printable;
use super::tone::{tone, Tone};
use crate::analysis::ConnectionRecord;
use crate::engine::Report;
use crate::time::human;
use std::io::{self, Write};

#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

const RESET: &str = "\x1b[0m";

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}{RESET}")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

/// ANSI colour for a connection: the shared tone rule ([`super::tone`]).
fn verdict_color(r: &ConnectionRecord) -> &'static str {
    match tone(r) {
        Tone::Good => "32",
        Tone::Warn => "33",
        Tone::Kept => "36",
        Tone::Bad => "31",
        Tone::Dim => "2",
    }
}

/// Column widths of the connection table, fitted to the rows so a typical
/// IPv4 report stays within 100–120 columns.
#[derive(Clone, Copy)]
pub struct Widths {
    pub id: usize,
    pub client: usize,
    pub server: usize,
    pub reason: usize,
    pub verdict: usize,
}

impl Default for Widths {
    /// For rows printed one at a time (live), before their contents are known.
    fn default() -> Self {
        Widths {
            id: 4,
            client: 21,
            server: 21,
            reason: 25,
            verdict: 24,
        }
    }
}

impl Widths {
    pub fn fit(rows: &[ConnectionRecord]) -> Self {
        let mut w = Widths {
            id: 1,
            client: 6,
            server: 6,
            reason: 12,
            verdict: 7,
        };
        for r in rows {
            w.id = w.id.max(r.id.to_string().len());
            w.client = w.client.max(r.client.len());
            w.server = w.server.max(r.server.len());
            w.reason = w.reason.max(r.close_reason.as_str().len());
            w.verdict = w.verdict.max(r.verdict.as_str().len());
        }
        w
    }
}

#[allow(clippy::too_many_arguments)]
fn columns(
    w: Widths,
    id: &str,
    client: &str,
    server: &str,
    hs: &str,
    req: &str,
    resp: &str,
    closed: &str,
    reason: &str,
    verdict: &str,
    dur: &str,
) -> String {
    format!(
        "{id:>iw$} {client:<cw$} {server:<sw$} {hs:<9} {req:>4} {resp:>4} {closed:<12} {reason:<rw$} {verdict:<vw$} {dur:>8}",
        iw = w.id,
        cw = w.client,
        sw = w.server,
        rw = w.reason,
        vw = w.verdict
    )
}

pub fn table_header(w: Widths) -> String {
    columns(
        w,
        "#",
        "client",
        "server",
        "handshake",
        "req",
        "resp",
        "closed by",
        "close reason",
        "verdict",
        "duration",
    )
}

/// The `req` cell: exact requests, or `~N` where only the TLS burst estimate
/// is known (encrypted, not decrypted).
pub fn requests_cell(r: &ConnectionRecord) -> String {
    match &r.tls {
        Some(t) if r.requests == 0 && t.exchanges > 0 && !t.fully_decrypted() => {
            format!("~{}", t.exchanges)
        }
        _ => r.requests.to_string(),
    }
}

pub fn row(r: &ConnectionRecord, st: Style, w: Widths) -> String {
    let line = columns(
        w,
        &r.id.to_string(),
        &r.client,
        &r.server,
        r.handshake.as_str(),
        &requests_cell(r),
        &r.responses.to_string(),
        r.closed_by.as_str(),
        r.close_reason.as_str(),
        r.verdict.as_str(),
        &human(r.duration),
    );
    let mut out = st.paint(verdict_color(r), &line);
    let mut notes = Vec::new();
    if let Some(h) = &r.host {
        notes.push(format!("host {}", printable(h)));
    }
    match r.http_version {
        _ if r.http2.is_some() => {}
        Some("mixed") => notes.push(match r.http_versions {
            Some(v) => format!(
                "HTTP mixed: requests {}, responses {}",
                v.client.unwrap_or("-"),
                v.server.unwrap_or("-")
            ),
            None => "HTTP/1.0 and 1.1 mixed".into(),
        }),
        Some(v) => notes.push(format!("HTTP/{v}")),
        None => {}
    }
    if let Some(t) = &r.tls {
        let mut s = match (&t.version, t.client_hellos) {
            (Some(v), _) => format!("TLS {}", printable(v)),
            (None, 0) => "TLS (picked up after the handshake)".to_string(),
            (None, _) => "TLS (no ServerHello seen)".to_string(),
        };
        if let Some(a) = &t.alpn {
            s.push_str(&format!(" alpn {}", printable(a)));
        }
        if t.resumed {
            s.push_str(" resumed");
        }
        if let Some(c) = &t.cipher {
            s.push_str(&format!(" {}", printable(c)));
        }
        match (t.decrypted.client, t.decrypted.server) {
            (true, true) => s.push_str(", decrypted"),
            (c, sv) => {
                if c || sv {
                    s.push_str(if c {
                        ", client side decrypted"
                    } else {
                        ", server side decrypted"
                    });
                }
                s.push_str(&format!(", ~{} exchanges", t.exchanges));
                if let Some(why) = &t.not_decrypted {
                    s.push_str(&format!(", not decrypted: {}", printable(why)));
                }
            }
        }
        notes.push(s);
    }
    if let Some(h) = &r.http2 {
        notes.push(format!("HTTP/2 {} streams", h.streams));
    }
    if r.max_pipeline_depth > 1 {
        notes.push(format!("pipelined, depth {}", r.max_pipeline_depth));
    }
    if let Some(k) = &r.keep_alive {
        let mut s = "Keep-Alive".to_string();
        if let Some(t) = k.timeout {
            s.push_str(&format!(" timeout={t}"));
        }
        if let Some(m) = k.max {
            s.push_str(&format!(" max={m}"));
        }
        notes.push(s);
    }
    if let Some(i) = r.idle_before_close {
        // Tie a server's idle close to the timeout it announced.
        let announced = r.keep_alive.and_then(|k| k.timeout).filter(|&t| {
            r.close_reason == crate::analysis::CloseReason::IdleTimeout
                && (i.as_secs_f64() - t as f64).abs() <= 1.0
        });
        notes.push(match announced {
            Some(t) => format!(
                "idle {} before close: the Keep-Alive timeout={t} the server announced",
                human(i)
            ),
            None => format!("idle {} before close", human(i)),
        });
    }
    if let Some(d) = &r.tcp.handshake_detail {
        notes.push(printable(d).into_owned());
    }
    if let Some(d) = &r.close_detail {
        notes.push(d.clone());
    }
    let missing = r.tcp.client_to_server.missing_bytes + r.tcp.server_to_client.missing_bytes;
    if missing > 0 {
        notes.push(format!("{missing} bytes not captured"));
    }
    if r.exchanges_omitted > 0 {
        notes.push(format!(
            "{} exchanges in the middle not itemised",
            r.exchanges_omitted
        ));
    }
    if r.tcp.roles_guessed {
        notes.push("picked up mid-stream, roles guessed".into());
    }
    if !notes.is_empty() {
        out.push_str(&format!("\n      {}", notes.join(" · ")));
    }
    if r.stale_requests > 0 {
        out.push_str(&format!(
            "\n      {}",
            st.paint(
                "1;31",
                &format!(
                    "!! {} stale request(s): sent after the server had closed its side (keep-alive race: expect a reset and a retry on a new connection)",
                    r.stale_requests
                )
            )
        ));
    }
    // The connection's own protocol warnings (JSON has all of them).
    for warn in r.warnings.iter().take(3) {
        out.push_str(&format!(
            "\n      {} {}",
            st.paint("33", "!"),
            printable(warn)
        ));
    }
    if r.warnings.len() > 3 {
        out.push_str(&format!(
            "\n      {} … {} more warnings (see --format json)",
            st.paint("33", "!"),
            r.warnings.len() - 3
        ));
    }
    out
}

pub fn write_report<W: Write>(
    w: &mut W,
    rep: &Report,
    st: Style,
    with_rows: bool,
) -> io::Result<()> {
    for f in &rep.files {
        let lts: Vec<String> = f
            .linktypes
            .iter()
            .map(|l| format!("{} ({l})", crate::decode::linktype::name(*l)))
            .collect();
        writeln!(
            w,
            "{} {} ({:?}{}, {}, {} packets)",
            st.bold("file"),
            printable(&f.path),
            f.format,
            if f.nanosecond { ", ns" } else { "" },
            lts.join(", "),
            f.packets
        )?;
    }
    if with_rows && !rep.connections.is_empty() {
        let widths = Widths::fit(&rep.connections);
        writeln!(w)?;
        writeln!(w, "{}", st.bold(&table_header(widths)))?;
        for r in &rep.connections {
            writeln!(w, "{}", row(r, st, widths))?;
        }
    }
    write_summary(w, rep, st)
}

pub fn write_summary<W: Write>(w: &mut W, rep: &Report, st: Style) -> io::Result<()> {
    let s = &rep.summary;
    writeln!(w)?;
    writeln!(w, "{}", st.bold("Summary"))?;
    writeln!(w, "  {}", st.bold(&printable(&s.headline)))?;
    writeln!(
        w,
        "  connections {} · completed handshakes {} · requests {} · responses {} · reused connections {} · handshakes saved {}",
        s.connections, s.handshakes, s.requests, s.responses, s.reused_connections, s.handshakes_saved
    )?;
    if s.requests > 0 {
        let dist: Vec<String> = s
            .requests_per_connection
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        writeln!(
            w,
            "  requests per connection: mean {:.2}, max {} (requests:connections {})",
            s.requests_per_connection_mean,
            s.requests_per_connection_max,
            dist.join(" ")
        )?;
    }
    let kv = |m: &std::collections::BTreeMap<&'static str, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if s.connections > 0 {
        writeln!(w, "  closed by: {}", kv(&s.closed_by))?;
        writeln!(w, "  close reasons: {}", kv(&s.close_reasons))?;
        writeln!(w, "  verdicts: {}", kv(&s.verdicts))?;
    }
    if s.stale_requests > 0 {
        writeln!(
            w,
            "  {}",
            st.paint(
                "1;31",
                &format!(
                    "!! {} stale request(s) sent on connections the server had already closed",
                    s.stale_requests
                )
            )
        )?;
    }
    if s.tls.connections > 0 {
        let t = &s.tls;
        writeln!(
            w,
            "  TLS: {} connections, {} handshakes ({} full, {} resumed connections), {}, {:.3} handshakes per exchange",
            t.connections,
            t.handshakes,
            t.full_handshakes,
            t.resumed_connections,
            tls_exchanges_text(t.exchanges_exact, t.exchanges_estimated),
            t.handshakes_per_exchange
        )?;
        if t.decrypted + t.partly_decrypted > 0 || !t.not_decrypted.is_empty() {
            let why: Vec<String> = t
                .not_decrypted
                .iter()
                .map(|(k, v)| format!("{} {v}", printable(k)))
                .collect();
            writeln!(
                w,
                "  TLS decrypted with key log: {} connections, partly {}, opaque {}{}",
                t.decrypted,
                t.partly_decrypted,
                t.opaque,
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" (not decrypted: {})", why.join(", "))
                }
            )?;
        }
        if !t.sni.is_empty() {
            let sni: Vec<String> = t
                .sni
                .iter()
                .take(GROUPS_SHOWN)
                .map(|(k, v)| format!("{} {v}", printable(k)))
                .collect();
            let more = t.sni.len().saturating_sub(GROUPS_SHOWN);
            let more = if more > 0 {
                format!(" … and {more} more (see --format json)")
            } else {
                String::new()
            };
            writeln!(w, "  TLS server names: {}{more}", sni.join(", "))?;
        }
    }
    if s.per_server.len() > 1 || s.per_host.len() > 1 {
        write_groups(w, "per server", &s.per_server)?;
        if !s.per_host.is_empty() {
            write_groups(w, "per host", &s.per_host)?;
        }
    }
    let sk = &rep.skipped;
    let mut skipped = Vec::new();
    if sk.filtered_out > 0 {
        skipped.push(format!("{} filtered out", sk.filtered_out));
    }
    if sk.not_ip > 0 {
        skipped.push(format!("{} not IP", sk.not_ip));
    }
    if sk.not_tcp > 0 {
        skipped.push(format!("{} not TCP", sk.not_tcp));
    }
    writeln!(
        w,
        "  packets {} ({} TCP{}{}) · bytes {}",
        s.packets,
        s.tcp_packets,
        if skipped.is_empty() { "" } else { "; " },
        skipped.join(", "),
        s.bytes
    )?;
    if let (Some(a), Some(b)) = (s.first_packet, s.last_packet) {
        writeln!(w, "  from {a} to {b} ({})", human(b.since(a)))?;
    }
    for warn in &s.warnings {
        writeln!(w, "  {} {}", st.paint("33", "warning:"), printable(warn))?;
    }
    write_findings(w, &s.findings, st)
}

/// The "Findings" section: one block per finding, with its evidence and
/// advice (docs/findings.md). Nothing when there is none.
pub fn write_findings<W: Write>(
    w: &mut W,
    findings: &[crate::analysis::findings::Finding],
    st: Style,
) -> io::Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    writeln!(w)?;
    writeln!(w, "{}", st.bold("Findings"))?;
    for f in findings {
        let mut head = format!("{} · server {}", f.kind.as_str(), printable(&f.server));
        if let Some(c) = &f.client {
            head.push_str(&format!(" · client {}", printable(c)));
        }
        head.push_str(&format!(
            " · {} connection{}",
            f.connections,
            if f.connections == 1 { "" } else { "s" }
        ));
        if let Some(v) = f.value {
            head.push_str(&format!(" · value {v}"));
        }
        writeln!(w, "  {}", st.paint("1;35", &head))?;
        for (i, e) in f.evidence.iter().enumerate() {
            let lead = if i == 0 { "evidence:" } else { "  e.g." };
            writeln!(w, "    {lead} {}", printable(e))?;
        }
        writeln!(w, "    advice: {}", printable(&f.advice))?;
    }
    Ok(())
}

fn write_groups<W: Write>(
    w: &mut W,
    title: &str,
    groups: &std::collections::BTreeMap<String, crate::analysis::GroupStats>,
) -> io::Result<()> {
    writeln!(w, "  {title}:")?;
    // The busiest first; the full lists are in the JSON summary.
    let mut order: Vec<(&String, &crate::analysis::GroupStats)> = groups.iter().collect();
    order.sort_by(|a, b| b.1.connections.cmp(&a.1.connections).then(a.0.cmp(b.0)));
    for (k, g) in order.iter().take(GROUPS_SHOWN) {
        let k = printable(k);
        let reasons: Vec<String> = g
            .close_reasons
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        writeln!(
            w,
            "    {k:<40} conns {:>5} reqs {:>6} reused {:>5} mean {:>6.2}  {}",
            g.connections,
            g.requests,
            g.reused_connections,
            g.requests_per_connection_mean,
            reasons.join(", ")
        )?;
    }
    if groups.len() > GROUPS_SHOWN {
        writeln!(
            w,
            "    … and {} more (see --format json)",
            groups.len() - GROUPS_SHOWN
        )?;
    }
    Ok(())
}

/// How many servers, hosts or server names the text summary lists.
const GROUPS_SHOWN: usize = 20;

/// Exchanges over TLS with exact (decrypted) and estimated (opaque) parts told
/// apart: `~3 exchanges`, `2 requests (decrypted)`, `2 requests + ~1 estimated`.
pub(crate) fn tls_exchanges_text(exact: u64, estimated: u64) -> String {
    match (exact, estimated) {
        (0, n) => format!("~{n} exchanges"),
        (e, 0) => format!(
            "{e} {} (decrypted)",
            if e == 1 { "request" } else { "requests" }
        ),
        (e, n) => format!(
            "{e} {} + ~{n} estimated exchanges",
            if e == 1 { "request" } else { "requests" }
        ),
    }
}
