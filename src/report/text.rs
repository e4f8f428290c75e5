//! The readable report: one row per connection and a summary that tells the
//! reuse story in words. Coloured when asked (or when stdout is a terminal).

use crate::analysis::{ConnectionRecord, Verdict};
use crate::engine::Report;
use crate::tcp::ClosedBy;
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

/// ANSI colour for a verdict (shared with the TUI's palette in spirit).
fn verdict_color(r: &ConnectionRecord) -> &'static str {
    if r.stale_requests > 0 || matches!(r.closed_by, ClosedBy::ClientReset | ClosedBy::ServerReset)
    {
        return "31";
    }
    match r.verdict {
        Verdict::Reused => "32",
        Verdict::SingleRequestClosed => "33",
        Verdict::SingleRequestKeptOpen => "36",
        Verdict::Unanswered => "31",
        Verdict::NoHttp => "2",
    }
}

pub fn fmt_duration(secs: f64) -> String {
    if secs < 1e-3 {
        format!("{:.0}µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.1}ms", secs * 1e3)
    } else if secs < 120.0 {
        format!("{:.2}s", secs)
    } else {
        format!("{:.1}m", secs / 60.0)
    }
}

/// Column widths for the endpoint columns (IPv4 `a.b.c.d:port` fits in 21).
#[derive(Clone, Copy)]
pub struct Widths {
    pub client: usize,
    pub server: usize,
}

impl Default for Widths {
    fn default() -> Self {
        Widths {
            client: 21,
            server: 21,
        }
    }
}

impl Widths {
    pub fn fit(rows: &[ConnectionRecord]) -> Self {
        let mut w = Widths {
            client: 6,
            server: 6,
        };
        for r in rows {
            w.client = w.client.max(r.client.len());
            w.server = w.server.max(r.server.len());
        }
        w
    }
}

pub fn table_header(w: Widths) -> String {
    format!(
        "{:>5} {:<cw$} {:<sw$} {:<9} {:>4} {:>4} {:<12} {:<26} {:<24} {:>8}",
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
        cw = w.client,
        sw = w.server
    )
}

pub fn row(r: &ConnectionRecord, st: Style, w: Widths) -> String {
    let line = format!(
        "{:>5} {:<cw$} {:<sw$} {:<9} {:>4} {:>4} {:<12} {:<26} {:<24} {:>8}",
        r.id,
        r.client,
        r.server,
        r.handshake.as_str(),
        r.requests,
        r.responses,
        r.closed_by.as_str(),
        r.close_reason.as_str(),
        r.verdict.as_str(),
        fmt_duration(r.duration.as_secs_f64()),
        cw = w.client,
        sw = w.server
    );
    let mut out = st.paint(verdict_color(r), &line);
    let mut notes = Vec::new();
    if let Some(h) = &r.host {
        notes.push(format!("host {h}"));
    }
    if let Some(v) = r.http_version {
        notes.push(format!("HTTP/{v}"));
    }
    if let Some(t) = &r.tls {
        let mut s = format!("TLS {}", t.version.as_deref().unwrap_or("?"));
        if let Some(a) = &t.alpn {
            s.push_str(&format!(" alpn {a}"));
        }
        if t.resumed {
            s.push_str(" resumed");
        }
        s.push_str(&format!(", ~{} exchanges", t.exchanges));
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
        notes.push(format!(
            "idle {} before close",
            fmt_duration(i.as_secs_f64())
        ));
    }
    if let Some(d) = &r.tcp.handshake_detail {
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
            .map(|l| format!("{} ({l})", crate::capture::linktype::name(*l)))
            .collect();
        writeln!(
            w,
            "{} {} ({:?}{}, {}, {} packets)",
            st.bold("file"),
            f.path,
            f.format,
            if f.nanosecond { ", ns" } else { "" },
            lts.join(", "),
            f.packets
        )?;
    }
    if with_rows {
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
    writeln!(w, "  {}", st.bold(&s.headline))?;
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
    writeln!(w, "  closed by: {}", kv(&s.closed_by))?;
    writeln!(w, "  close reasons: {}", kv(&s.close_reasons))?;
    writeln!(w, "  verdicts: {}", kv(&s.verdicts))?;
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
            "  TLS: {} connections, {} handshakes ({} full, {} resumed connections), ~{} exchanges, {:.2} handshakes per exchange",
            t.connections,
            t.handshakes,
            t.full_handshakes,
            t.resumed_connections,
            t.exchanges,
            t.handshakes_per_exchange
        )?;
        if !t.sni.is_empty() {
            let sni: Vec<String> = t.sni.iter().map(|(k, v)| format!("{k} {v}")).collect();
            writeln!(w, "  TLS server names: {}", sni.join(", "))?;
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
        writeln!(
            w,
            "  from {a} to {b} ({})",
            fmt_duration(b.since(a).as_secs_f64())
        )?;
    }
    for warn in &s.warnings {
        writeln!(w, "  {} {warn}", st.paint("33", "warning:"))?;
    }
    Ok(())
}

fn write_groups<W: Write>(
    w: &mut W,
    title: &str,
    groups: &std::collections::BTreeMap<String, crate::analysis::GroupStats>,
) -> io::Result<()> {
    writeln!(w, "  {title}:")?;
    for (k, g) in groups {
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
    Ok(())
}
