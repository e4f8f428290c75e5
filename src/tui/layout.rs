//! Screen geometry and the scrolling panes' sizes, without drawing: the
//! frame's rows (the view draws into them, the model pages by them) and the
//! detail and findings panes' line counts (the update's scroll bounds),
//! computed from the same plain content the view styles.

use crate::analysis::findings::Finding;
use crate::analysis::ConnectionRecord;
use crate::inspect::http::Exchange;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;

/// The frame's rows, top to bottom.
pub struct Areas {
    pub tabs: Rect,
    pub stats: Rect,
    pub spark: Rect,
    pub main: Rect,
    pub footer: Rect,
}

pub fn areas(area: Rect) -> Areas {
    let [tabs, stats, spark, main, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas {
        tabs,
        stats,
        spark,
        main,
        footer,
    }
}

/// Data rows the connections (and servers / hosts) table shows in a terminal
/// of this size: the main area less its title line and the column header.
pub fn table_body_rows(w: u16, h: u16) -> usize {
    areas(Rect::new(0, 0, w, h)).main.height.saturating_sub(2) as usize
}

/// Lines the detail and findings panes show in a terminal `h` rows high: the
/// height less the tabs, stats, sparkline and footer rows and the pane's own
/// top border (6 rows).
pub fn pane_rows(h: u16) -> usize {
    (h as usize).saturating_sub(6).max(1)
}

/// From this width on, an exchange's request and response Connection /
/// Keep-Alive headers share one line of the detail pane (else two).
pub const HEADERS_ONE_LINE: u16 = 110;

/// The exchanges (numbered from 0) that carry a Connection or Keep-Alive
/// header, as the detail pane lists them.
pub fn header_exchanges(r: &ConnectionRecord) -> impl Iterator<Item = (usize, &Exchange)> {
    r.exchanges.iter().enumerate().filter(|(_, e)| {
        e.connection(crate::Direction::ClientToServer).is_some()
            || e.connection(crate::Direction::ServerToClient).is_some()
            || e.request.keep_alive.is_some()
            || e.response.keep_alive.is_some()
    })
}

/// The detail pane's warnings for a connection, most important first.
pub fn detail_warnings(r: &ConnectionRecord) -> Vec<String> {
    let tcp = &r.tcp;
    let missing = tcp.client_to_server.missing_bytes + tcp.server_to_client.missing_bytes;
    let mut warns: Vec<String> = r.warnings.clone();
    if r.stale_requests > 0 {
        warns.insert(
            0,
            format!(
                "{} stale request(s): sent after the server had closed its side (keep-alive race)",
                r.stale_requests
            ),
        );
    }
    if missing > 0 {
        warns.push(format!("{missing} bytes not captured: counts may be low"));
    }
    if tcp.roles_guessed {
        warns.push("picked up mid-stream: client/server roles guessed".into());
    }
    warns
}

/// Lines of the detail pane for connection `r` (none selected: one line) at
/// `width` columns, section by section as `view::detail` draws them.
pub fn detail_line_count(r: Option<&ConnectionRecord>, width: u16) -> usize {
    let Some(r) = r else {
        return 1;
    };
    // Title, facts, state.
    let overview = 3;
    // Handshake (and its detail), close.
    let tcp = 2 + usize::from(r.tcp.handshake_detail.is_some());
    // The bar and its legend.
    let timeline = 2;
    // Title, column header (when there are exchanges), one line each.
    let exchanges = 1 + usize::from(!r.exchanges.is_empty()) + r.exchanges.len();
    let per = if width >= HEADERS_ONE_LINE { 1 } else { 2 };
    let shown = header_exchanges(r).count();
    let headers =
        1 + if shown == 0 { 1 } else { shown * per } + usize::from(r.keep_alive.is_some());
    let tls = if r.tls.is_some() { 3 } else { 0 };
    let http2 = if r.http2.is_some() { 2 } else { 0 };
    let warns = match detail_warnings(r).len() {
        0 => 0,
        n => 1 + n,
    };
    overview + tcp + timeline + exchanges + headers + tls + http2 + warns
}

/// What a piece of the findings text is; the view picks its style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emphasis {
    Plain,
    /// "no findings".
    Quiet,
    /// The finding's kind, leading its head line.
    Kind,
    /// The number the finding is about.
    Value,
    /// The word "advice".
    Advice,
}

/// One line of the findings view: its pieces in order.
pub type TextLine = Vec<(Emphasis, String)>;

/// The findings view's text (docs/findings.md): each finding's head,
/// evidence and advice, then a blank line.
pub fn findings_text(fs: &[Finding]) -> Vec<TextLine> {
    if fs.is_empty() {
        return vec![vec![(
            Emphasis::Quiet,
            "no findings: nothing in these connections points to a reuse problem".into(),
        )]];
    }
    let mut out = Vec::new();
    for f in fs {
        let mut head = vec![
            (Emphasis::Kind, f.kind.as_str().to_string()),
            (Emphasis::Plain, format!("  server {}", f.server)),
        ];
        if let Some(c) = &f.client {
            head.push((Emphasis::Plain, format!(" · client {c}")));
        }
        head.push((
            Emphasis::Plain,
            format!(
                " · {} conn{}",
                f.connections,
                if f.connections == 1 { "" } else { "s" }
            ),
        ));
        if let Some(v) = f.value {
            head.push((Emphasis::Value, format!(" · value {v}")));
        }
        out.push(head);
        for (i, e) in f.evidence.iter().enumerate() {
            let lead = if i == 0 { "  " } else { "    e.g. " };
            out.push(vec![(Emphasis::Plain, format!("{lead}{e}"))]);
        }
        out.push(vec![
            (Emphasis::Advice, "  advice ".into()),
            (Emphasis::Plain, f.advice.clone()),
        ]);
        out.push(vec![(Emphasis::Plain, String::new())]);
    }
    out
}

/// Rows the findings view needs at `width` columns (its lines wrap).
pub fn findings_line_count(fs: &[Finding], width: u16) -> usize {
    let w = (width as usize).max(1);
    findings_text(fs)
        .iter()
        .map(|l| {
            let cells: usize = l.iter().map(|(_, s)| Span::raw(s.as_str()).width()).sum();
            cells.div_ceil(w).max(1)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use crate::capture::CaptureFile;
    use crate::engine::{Analyzer, Options};
    use crate::inspect::http::KeepAliveParams;
    use crate::tui::model::Model;
    use crate::tui::view::{detail_lines, findings_lines};

    /// A model over each capture in samples/captures, and one more over its
    /// connections with a Keep-Alive announcement and a handshake detail
    /// (sections no sample reaches).
    fn sample_models() -> Vec<Model> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/captures");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .expect("samples/captures")
            .map(|e| e.expect("entry").path())
            .collect();
        paths.sort();
        let mut out = Vec::new();
        for p in &paths {
            let mut an = Analyzer::new(Options::default()).expect("analyzer");
            let cap = CaptureFile::open(p).expect("capture");
            let s = cap
                .for_each_with_secrets(|pkt| an.packet(&pkt, &mut |_| {}), |_, _| {})
                .expect("read");
            an.add_file(s);
            let rep = an.finish(&mut |_| {});
            out.push(Model::from_report("t", &rep));
            let more = rep.connections.into_iter().map(|mut r| {
                r.keep_alive = Some(KeepAliveParams {
                    timeout: Some(5),
                    max: None,
                });
                r.tcp.handshake_detail = Some("SYN retransmitted".into());
                r
            });
            out.push(Model::from_records("t", more.collect()));
        }
        out
    }

    /// The scroll bound the update uses is the number of lines the view
    /// draws, for every sample connection at widths either side of the
    /// one-line headers threshold; and the samples reach every section.
    #[test]
    fn the_detail_line_count_is_the_lines_drawn() {
        let mut seen = [false; 6];
        for mut m in sample_models() {
            for w in [
                40,
                80,
                super::HEADERS_ONE_LINE - 1,
                super::HEADERS_ONE_LINE,
                200,
            ] {
                m.size = (w, 24);
                for i in 0..m.visible_len() {
                    m.selected = i;
                    let r = m.selected_record().expect("row");
                    let sections = [
                        r.tls.is_some(),
                        r.http2.is_some(),
                        r.keep_alive.is_some(),
                        r.tcp.handshake_detail.is_some(),
                        super::header_exchanges(r).next().is_some(),
                        !super::detail_warnings(r).is_empty(),
                    ];
                    for (s, x) in seen.iter_mut().zip(sections) {
                        *s |= x;
                    }
                    assert_eq!(
                        m.detail_line_count(),
                        detail_lines(&m, w).len(),
                        "connection #{} at width {w}",
                        r.id
                    );
                }
            }
        }
        assert_eq!(seen, [true; 6], "a detail section no sample reaches");
        let mut none = Model::from_records("t", Vec::new());
        none.size = (80, 24);
        assert_eq!(none.detail_line_count(), detail_lines(&none, 80).len());
    }

    /// The findings view's row count is its drawn lines, wrapped.
    #[test]
    fn the_findings_line_count_is_the_rows_drawn() {
        let mut any = false;
        for mut m in sample_models() {
            any |= !m.summary.findings.is_empty();
            for w in [20u16, 80, 200] {
                m.size = (w, 24);
                let drawn: usize = findings_lines(&m)
                    .iter()
                    .map(|l| l.width().div_ceil(w as usize).max(1))
                    .sum();
                assert_eq!(m.findings_line_count(), drawn);
            }
        }
        assert!(any, "no sample has findings");
    }
}
