//! A connection's detail pane: overview, TCP handshake and close, timeline,
//! exchanges, connection headers, TLS, HTTP/2 and warnings, one function
//! each. Its line count (the scroll bound) is [`layout::detail_line_count`],
//! kept equal to the lines drawn here by its tests.

use super::table::close_reason_text;
use super::{bold, dim, dur, fit, tone_color};
use crate::analysis::ConnectionRecord;
use crate::inspect::h2::H2Info;
use crate::inspect::tls::TlsInfo;
use crate::time::{human, Timestamp};
use crate::tui::layout;
use crate::tui::model::{state_text, tone, Model};
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

fn rel(t: Option<Timestamp>, t0: Timestamp) -> String {
    match t {
        Some(t) => format!("+{}", human(t.since(t0))),
        None => "—".into(),
    }
}

fn fmt_bytes(n: u64) -> String {
    if n < 10_000 {
        format!("{n}B")
    } else if n < 10_000_000 {
        format!("{:.1}kB", n as f64 / 1e3)
    } else {
        format!("{:.1}MB", n as f64 / 1e6)
    }
}

/// The timeline of a connection in `width` cells, start to last packet:
/// `▒` handshake, `█`/`▓` request→response (alternating per exchange),
/// `·` idle, `|` FIN, `X` RST.
pub fn timeline(r: &ConnectionRecord, width: usize) -> Vec<(char, Color)> {
    // i128: timestamps come from the capture and may sit anywhere in i64.
    let t0 = r.start.as_nanos() as i128;
    let t1 = (r.end.as_nanos() as i128).max(t0 + 1);
    let cell = |t: Timestamp| -> usize {
        let off = (t.as_nanos() as i128 - t0).clamp(0, t1 - t0);
        ((off * width as i128 / (t1 - t0)) as usize).min(width.saturating_sub(1))
    };
    let mut v = vec![('·', Color::DarkGray); width];
    if width == 0 {
        return v;
    }
    if let (Some(a), Some(b)) = (r.tcp.syn, r.tcp.ack.or(r.tcp.syn_ack)) {
        // A capture out of time order can stamp the SYN after the ACK.
        let (a, b) = (cell(a.min(b)), cell(a.max(b)));
        for c in &mut v[a..=b] {
            *c = ('▒', Color::Blue);
        }
    }
    for (i, e) in r.exchanges.iter().enumerate() {
        let Some(a) = e.request.time().or(e.response.time()) else {
            continue;
        };
        let b = e
            .response
            .end()
            .or(e.response.time())
            .or(e.request.end())
            .unwrap_or(a)
            .max(a);
        let mark = if i % 2 == 0 {
            ('█', Color::Green)
        } else {
            ('▓', Color::LightGreen)
        };
        for c in &mut v[cell(a)..=cell(b)] {
            *c = mark;
        }
    }
    for t in [r.tcp.fin_client, r.tcp.fin_server].into_iter().flatten() {
        v[cell(t)] = ('|', Color::Yellow);
    }
    for t in [r.tcp.rst_client, r.tcp.rst_server].into_iter().flatten() {
        v[cell(t)] = ('X', Color::Red);
    }
    v
}

fn ka_text(s: Option<&str>) -> String {
    s.unwrap_or("—").to_owned()
}

/// The lines of the detail pane for the selected connection, section by
/// section.
pub fn detail_lines(m: &Model, width: u16) -> Vec<Line<'static>> {
    let Some(r) = m.selected_record() else {
        return vec![Line::raw("no connection selected")];
    };
    let mut out: Vec<Line<'static>> = Vec::new();
    overview(&mut out, m, r);
    tcp_lines(&mut out, r);
    timeline_lines(&mut out, r, width);
    exchanges(&mut out, r, width);
    headers(&mut out, r, width);
    if let Some(t) = &r.tls {
        tls(&mut out, t);
    }
    if let Some(h) = &r.http2 {
        http2(&mut out, h);
    }
    warnings(&mut out, r);
    out
}

/// Who talked to whom and the verdict; the facts; state, close and timing.
fn overview(out: &mut Vec<Line<'static>>, m: &Model, r: &ConnectionRecord) {
    let color = tone_color(tone(r));
    out.push(Line::from(vec![
        Span::styled(format!("#{} ", r.id), bold()),
        Span::raw(format!("{} → {}  ", r.client, r.server)),
        Span::styled(r.verdict.as_str(), bold().fg(color)),
    ]));
    let mut facts = Vec::new();
    if let Some(h) = &r.host {
        facts.push(format!("host {h}"));
    }
    match (r.http_version, r.http_versions) {
        (Some("mixed"), Some(v)) => facts.push(format!(
            "HTTP requests {} / responses {}",
            v.client.unwrap_or("-"),
            v.server.unwrap_or("-")
        )),
        (Some(v), _) => facts.push(format!("HTTP/{v}")),
        _ => {}
    }
    facts.push(format!("protocol {}", r.protocol));
    facts.push(format!("{} packets, {}", r.packets, fmt_bytes(r.bytes)));
    facts.push(format!("start {}", r.start));
    out.push(Line::raw(facts.join(" · ")));
    let mut l = vec![
        Span::styled("state ", dim()),
        Span::styled(state_text(r), Style::new().fg(color)),
        Span::styled(" · close reason ", dim()),
        Span::raw(close_reason_text(m, r)),
        Span::styled(" · idle before close ", dim()),
        Span::raw(
            r.idle_before_close
                .map_or_else(|| "—".into(), |d| dur(Some(d))),
        ),
        Span::styled(" · duration ", dim()),
        Span::raw(human(r.duration)),
    ];
    if r.max_pipeline_depth > 1 {
        l.push(Span::raw(format!(
            " · pipelined (depth {})",
            r.max_pipeline_depth
        )));
    }
    out.push(Line::from(l));
}

/// The handshake (with its detail) and the close: when each packet came.
fn tcp_lines(out: &mut Vec<Line<'static>>, r: &ConnectionRecord) {
    let t0 = r.start;
    let tcp = &r.tcp;
    out.push(Line::from(vec![
        Span::styled("handshake ", bold()),
        Span::raw(format!(
            "{}: SYN {} · SYN-ACK {} · ACK {}",
            r.handshake.as_str(),
            rel(tcp.syn, t0),
            rel(tcp.syn_ack, t0),
            rel(tcp.ack, t0)
        )),
        Span::styled(
            if tcp.syn_packets > 1 || tcp.syn_ack_packets > 1 {
                format!(
                    " ({} SYN, {} SYN-ACK packets)",
                    tcp.syn_packets, tcp.syn_ack_packets
                )
            } else {
                String::new()
            },
            Style::new().fg(Color::Yellow),
        ),
    ]));
    if let Some(d) = &tcp.handshake_detail {
        out.push(Line::styled(format!("          {d}"), dim()));
    }
    out.push(Line::from(vec![
        Span::styled("close     ", bold()),
        Span::raw(format!(
            "FIN client {} · FIN server {} · RST client {} · RST server {} · {}",
            rel(tcp.fin_client, t0),
            rel(tcp.fin_server, t0),
            rel(tcp.rst_client, t0),
            rel(tcp.rst_server, t0),
            r.closed_by.as_str()
        )),
    ]));
}

/// The timeline bar and its legend.
fn timeline_lines(out: &mut Vec<Line<'static>>, r: &ConnectionRecord, width: u16) {
    let bar_w = (width as usize).saturating_sub(12).max(10);
    let mut spans = vec![Span::styled("timeline  ", bold())];
    let cells = timeline(r, bar_w);
    let mut run = String::new();
    let mut run_c = None;
    for (ch, c) in cells {
        if run_c != Some(c) && !run.is_empty() {
            spans.push(Span::styled(
                std::mem::take(&mut run),
                Style::new().fg(run_c.unwrap_or(Color::Reset)),
            ));
        }
        run_c = Some(c);
        run.push(ch);
    }
    if !run.is_empty() {
        spans.push(Span::styled(
            run,
            Style::new().fg(run_c.unwrap_or(Color::Reset)),
        ));
    }
    out.push(Line::from(spans));
    out.push(Line::styled(
        format!(
            "          0 … {}   ▒ handshake  █▓ request→response  · idle  | FIN  X RST",
            human(r.duration)
        ),
        dim(),
    ));
}

/// One line per request / response exchange.
fn exchanges(out: &mut Vec<Line<'static>>, r: &ConnectionRecord, width: u16) {
    let t0 = r.start;
    let tcp = &r.tcp;
    out.push(Line::styled(
        format!(
            "exchanges ({} requests, {} responses)",
            r.requests, r.responses
        ),
        bold(),
    ));
    let tw = (width as usize).saturating_sub(68).clamp(12, 48);
    if !r.exchanges.is_empty() {
        out.push(Line::styled(
            format!(
                "  {:>3} {:<7} {:<tw$} {:>6} {:>7} {:>7} {:>9} {:>9} {:>9}",
                "#", "method", "target", "status", "req", "resp", "sent", "wait", "total"
            ),
            bold().add_modifier(Modifier::UNDERLINED),
        ));
    }
    for (i, e) in r.exchanges.iter().enumerate() {
        let wait = match (e.request.end().or(e.request.time()), e.response.time()) {
            (Some(a), Some(b)) if b >= a => human(b.since(a)),
            _ => "—".into(),
        };
        let total = match (e.request.time(), e.response.end()) {
            (Some(a), Some(b)) if b >= a => human(b.since(a)),
            _ => "—".into(),
        };
        let status = e
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "—".into());
        let stale = match (e.request.time(), tcp.fin_server) {
            (Some(rt), Some(f)) if rt > f && e.method().is_some() => " STALE",
            _ => "",
        };
        let st = if !stale.is_empty() || e.status.is_none() {
            Style::new().fg(Color::Red)
        } else if e.status.is_some_and(|s| s >= 400) {
            Style::new().fg(Color::Yellow)
        } else {
            Style::new()
        };
        out.push(Line::styled(
            format!(
                "  {:>3} {:<7} {:<tw$} {:>6} {:>7} {:>7} {:>9} {:>9} {:>9}{}{}",
                i + 1,
                fit(e.method().unwrap_or("—"), 7, false),
                fit(e.target.as_deref().unwrap_or("—"), tw, false),
                status,
                fmt_bytes(e.request.body_bytes),
                fmt_bytes(e.response.body_bytes),
                rel(e.request.time().or(e.response.time()), t0),
                wait,
                total,
                if e.pipelined { " pipelined" } else { "" },
                stale
            ),
            st,
        ));
    }
}

/// The Connection / Keep-Alive headers of each exchange that has any.
fn headers(out: &mut Vec<Line<'static>>, r: &ConnectionRecord, width: u16) {
    out.push(Line::styled("Connection / Keep-Alive headers", bold()));
    let mut any = false;
    for (i, e) in layout::header_exchanges(r) {
        any = true;
        let req = format!(
            "request Connection: {} · Keep-Alive: {}",
            ka_text(e.connection(crate::Direction::ClientToServer)),
            ka_text(e.request.keep_alive.as_deref())
        );
        let resp = format!(
            "response Connection: {} · Keep-Alive: {}",
            ka_text(e.connection(crate::Direction::ServerToClient)),
            ka_text(e.response.keep_alive.as_deref())
        );
        if width >= layout::HEADERS_ONE_LINE {
            out.push(Line::raw(format!("  {:>3} {req} │ {resp}", i + 1)));
        } else {
            out.push(Line::raw(format!("  {:>3} {req}", i + 1)));
            out.push(Line::raw(format!("      {resp}")));
        }
    }
    if !any {
        out.push(Line::styled(
            if r.http_version == Some("2") {
                "  none (HTTP/2 has no Connection header: a connection ends with GOAWAY or a close)"
            } else {
                "  none (HTTP/1.1 connections persist by default; HTTP/1.0 ones close)"
            },
            dim(),
        ));
    }
    if let Some(k) = &r.keep_alive {
        out.push(Line::raw(format!(
            "  server announced Keep-Alive timeout={} max={}",
            k.timeout.map_or("—".into(), |t| t.to_string()),
            k.max.map_or("—".into(), |t| t.to_string())
        )));
    }
}

/// Version, SNI, ALPN, handshakes; decrypted or not, and why.
fn tls(out: &mut Vec<Line<'static>>, t: &TlsInfo) {
    out.push(Line::styled("TLS", bold()));
    out.push(Line::raw(format!(
        "  version {} · SNI {} · ALPN {} (offered {}) · handshakes {} ({} full){} · ~{} exchanges",
        t.version.as_deref().unwrap_or("?"),
        t.sni.as_deref().unwrap_or("—"),
        t.alpn.as_deref().unwrap_or("—"),
        if t.alpn_offered.is_empty() {
            "—".to_string()
        } else {
            t.alpn_offered.join(",")
        },
        t.handshakes,
        t.full_handshakes,
        if t.resumed {
            format!(" · resumed ({})", t.resumption.as_deref().unwrap_or("?"))
        } else {
            String::new()
        },
        t.exchanges
    )));
    // Decrypted (exact counts) or not, and why.
    out.push(Line::raw(match (t.decrypted.client, t.decrypted.server) {
        (true, true) => format!(
            "  cipher {} · decrypted: requests and responses are exact",
            t.cipher.as_deref().unwrap_or("?")
        ),
        (c, s) => format!(
            "  cipher {} · decrypted client {} server {} · counts estimated{}",
            t.cipher.as_deref().unwrap_or("?"),
            if c { "yes" } else { "no" },
            if s { "yes" } else { "no" },
            t.not_decrypted
                .as_deref()
                .map(|w| format!(" ({w})"))
                .unwrap_or_default()
        ),
    }));
}

/// Streams and answers.
fn http2(out: &mut Vec<Line<'static>>, h: &H2Info) {
    out.push(Line::styled("HTTP/2", bold()));
    out.push(Line::raw(format!(
        "  streams {} · answered {}{}",
        h.streams,
        h.responses,
        if h.upgraded {
            " · upgraded from HTTP/1.1"
        } else {
            ""
        }
    )));
}

/// Stale requests, bytes not captured, guessed roles and the record's own.
fn warnings(out: &mut Vec<Line<'static>>, r: &ConnectionRecord) {
    let warns = layout::detail_warnings(r);
    if !warns.is_empty() {
        out.push(Line::styled("warnings", bold().fg(Color::Red)));
        for w in warns {
            out.push(Line::styled(
                format!("  ! {w}"),
                Style::new().fg(Color::Red),
            ));
        }
    }
}

pub(super) fn detail(m: &Model, f: &mut Frame, area: Rect) {
    let title = match m.selected_record() {
        Some(r) => format!(" Connection #{} ", r.id),
        None => " Connection ".into(),
    };
    let block = Block::new().borders(Borders::TOP).title(Line::from(vec![
        Span::styled(title, bold()),
        Span::styled("· Enter/Esc back · ↑↓ scroll ", dim()),
    ]));
    f.render_widget(
        Paragraph::new(detail_lines(m, area.width))
            .block(block)
            .scroll((m.detail_scroll, 0)),
        area,
    );
}
