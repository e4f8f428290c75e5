//! Drawing: everything on screen is a function of the [`Model`].

use super::model::{state_text, tone, ConnSort, GroupSort, Model, Tone, View};
use crate::analysis::{ConnectionRecord, GroupStats};
use crate::time::human;
use crate::time::Timestamp;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Bar, BarChart, Block, Borders, Clear, Paragraph, Row, Sparkline, Table, TableState, Wrap,
};
use ratatui::Frame;
use std::collections::BTreeMap;

struct Areas {
    tabs: Rect,
    stats: Rect,
    spark: Rect,
    main: Rect,
    footer: Rect,
}

fn areas(area: Rect) -> Areas {
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

pub fn tone_color(t: Tone) -> Color {
    match t {
        Tone::Good => Color::Green,
        Tone::Warn => Color::Yellow,
        Tone::Kept => Color::Cyan,
        Tone::Bad => Color::Red,
        Tone::Dim => Color::DarkGray,
    }
}

fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// Renders the whole dashboard from the model.
pub fn view(m: &Model, f: &mut Frame) {
    let a = areas(f.area());
    tabs(m, f, a.tabs);
    stats(m, f, a.stats);
    sparks(m, f, a.spark);
    match m.view {
        View::Connections if m.detail => detail(m, f, a.main),
        View::Connections => connections(m, f, a.main),
        View::Servers | View::Hosts => groups(m, f, a.main),
        View::Histogram => histogram(m, f, a.main),
        View::Findings => findings(m, f, a.main),
    }
    footer(m, f, a.footer);
    if m.help {
        help(f, f.area());
    }
}

fn tabs(m: &Model, f: &mut Frame, area: Rect) {
    let mut spans = vec![Span::styled(
        " keepwatch ",
        bold().fg(Color::Black).bg(Color::Cyan),
    )];
    for v in View::ALL {
        spans.push(Span::raw(" "));
        let st = if v == m.view {
            bold().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        spans.push(Span::styled(format!(" {} ", v.title()), st));
    }
    let mut right = Vec::new();
    if m.live {
        if m.paused {
            let n = m.pending.as_ref().map_or(0, |p| p.new_finished.len());
            right.push(Span::styled(
                format!(" PAUSED (+{n}) "),
                bold().fg(Color::Black).bg(Color::Yellow),
            ));
        } else if m.ended.is_some() {
            right.push(Span::styled(
                " ENDED ",
                bold().fg(Color::Black).bg(Color::Gray),
            ));
        } else {
            right.push(Span::styled(
                " LIVE ",
                bold().fg(Color::Black).bg(Color::Green),
            ));
        }
    }
    right.push(Span::styled(" ? help ", dim()));
    let rw: usize = right.iter().map(|s| s.width()).sum();
    let lw: usize = spans.iter().map(|s| s.width()).sum();
    let pad = (area.width as usize).saturating_sub(lw + rw);
    spans.push(Span::raw(" ".repeat(pad)));
    spans.extend(right);
    f.render_widget(Line::from(spans), area);
}

fn stats(m: &Model, f: &mut Frame, area: Rect) {
    let s = &m.summary;
    let open = m.records().iter().filter(|r| state_is_open(r)).count();
    let closed = m.records().len() - open;
    let sep = || Span::styled(" · ", dim());
    let mut l1 = vec![
        Span::styled(m.source.clone(), bold()),
        sep(),
        Span::raw(format!("packets {}", m.packets)),
        sep(),
        Span::styled(
            format!("drops {}", m.drops),
            if m.drops > 0 {
                Style::new().fg(Color::Red)
            } else {
                Style::new()
            },
        ),
    ];
    if let Some(Some(e)) = &m.ended {
        l1.push(sep());
        l1.push(Span::styled(e.clone(), Style::new().fg(Color::Red)));
    }
    let narrow = area.width < 100;
    let (conns, reqs, reuse, saved) = if narrow {
        (
            format!("(open {open}, closed {closed})"),
            "reqs",
            format!("{:.2} req/conn", s.requests_per_connection_mean),
            "saved",
        )
    } else {
        (
            format!("(open {open} / closed {closed})"),
            "requests",
            format!("reuse {:.2} req/conn", s.requests_per_connection_mean),
            "handshakes saved",
        )
    };
    let l2 = vec![
        Span::raw(format!("conns {} ", s.connections)),
        Span::styled(conns, dim()),
        sep(),
        Span::raw(format!("{reqs} {}", s.requests)),
        sep(),
        Span::styled(
            reuse,
            Style::new().fg(if s.requests_per_connection_mean > 1.0 {
                Color::Green
            } else {
                Color::Yellow
            }),
        ),
        sep(),
        Span::raw(format!("{saved} {}", s.handshakes_saved)),
        sep(),
        Span::styled(
            format!("stale {}", s.stale_requests),
            if s.stale_requests > 0 {
                bold().fg(Color::Red)
            } else {
                Style::new()
            },
        ),
    ];
    f.render_widget(Paragraph::new(vec![Line::from(l1), Line::from(l2)]), area);
}

fn state_is_open(r: &ConnectionRecord) -> bool {
    r.closed_by == crate::tcp::ClosedBy::Open
}

/// Per-second counts bucketed to fit `width` cells: file captures show their
/// whole span (several seconds a cell if need be), live ones the last seconds.
pub fn spark_series(
    map: &BTreeMap<i64, u64>,
    first: i64,
    last: i64,
    width: usize,
    live: bool,
) -> (Vec<u64>, i64) {
    if width == 0 || last < first {
        return (Vec::new(), 1);
    }
    let span = last - first + 1;
    let (start, bucket) = if live || span <= width as i64 {
        ((last - width as i64 + 1).max(first), 1)
    } else {
        (first, (span + width as i64 - 1) / width as i64)
    };
    let cells = ((last - start) / bucket + 1) as usize;
    let mut v = vec![0u64; cells.min(width)];
    for (&sec, &n) in map.range(start..=last) {
        let i = ((sec - start) / bucket) as usize;
        if let Some(c) = v.get_mut(i) {
            *c += n;
        }
    }
    (v, bucket)
}

fn sparks(m: &Model, f: &mut Frame, area: Rect) {
    let keys = m.conns_per_sec.keys().chain(m.reqs_per_sec.keys()).copied();
    let (first, last) = keys.fold((i64::MAX, i64::MIN), |(a, b), k| (a.min(k), b.max(k)));
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    for (area, name, map, color) in [
        (left, "new conns", &m.conns_per_sec, Color::Cyan),
        (right, "requests", &m.reqs_per_sec, Color::Green),
    ] {
        let label_w = 20u16.min(area.width);
        let [lab, sp] =
            Layout::horizontal([Constraint::Length(label_w), Constraint::Min(0)]).areas(area);
        let width = sp.width.saturating_sub(1) as usize;
        let (data, bucket) = spark_series(map, first, last, width, m.live);
        let peak = data.iter().copied().max().unwrap_or(0);
        let unit = if bucket == 1 {
            "/s".to_string()
        } else {
            format!("/{bucket}s")
        };
        f.render_widget(
            Line::from(vec![
                Span::styled(format!(" {name}{unit}"), dim()),
                Span::raw(format!(" max {peak} ")),
            ]),
            lab,
        );
        f.render_widget(
            Sparkline::default()
                .data(&data)
                .max(peak.max(1))
                .style(Style::new().fg(color)),
            sp,
        );
    }
}

/// One column of the connections table.
struct Col {
    title: &'static str,
    /// Lower is kept first when the terminal is narrow.
    prio: u8,
    right: bool,
    /// Narrowest the column may be squeezed to (0: never squeezed).
    squeeze: usize,
    cap: usize,
    sort: Option<ConnSort>,
    cell: fn(&ConnectionRecord) -> String,
}

fn dur(d: Option<crate::time::Duration>) -> String {
    d.map(human).unwrap_or_default()
}

const COLS: &[Col] = &[
    Col {
        title: "#",
        prio: 10,
        right: true,
        squeeze: 0,
        cap: 8,
        sort: Some(ConnSort::Id),
        cell: |r| r.id.to_string(),
    },
    Col {
        title: "client",
        prio: 0,
        right: false,
        squeeze: 0,
        cap: 47,
        sort: Some(ConnSort::Client),
        cell: |r| r.client.clone(),
    },
    Col {
        title: "server",
        prio: 1,
        right: false,
        squeeze: 0,
        cap: 47,
        sort: Some(ConnSort::Server),
        cell: |r| r.server.clone(),
    },
    Col {
        title: "host",
        prio: 6,
        right: false,
        squeeze: 10,
        cap: 32,
        sort: Some(ConnSort::Host),
        cell: |r| r.host.clone().unwrap_or_default(),
    },
    Col {
        title: "http",
        prio: 9,
        right: false,
        squeeze: 0,
        cap: 7,
        sort: None,
        cell: |r| {
            if r.http2.is_some() {
                "2".into()
            } else {
                http_text(r)
            }
        },
    },
    Col {
        title: "handshake",
        prio: 11,
        right: false,
        squeeze: 0,
        cap: 9,
        sort: None,
        cell: |r| r.handshake.as_str().into(),
    },
    Col {
        title: "req",
        prio: 2,
        right: true,
        squeeze: 0,
        cap: 7,
        sort: Some(ConnSort::Requests),
        // `~N`: the TLS burst estimate (not decrypted); a bare number is exact.
        cell: |r| {
            let u = r.uses();
            let estimated = r.tls.as_ref().is_some_and(|t| {
                !t.fully_decrypted() && t.exchanges == u && u > r.requests.max(r.responses)
            });
            if estimated {
                format!("~{u}")
            } else {
                u.to_string()
            }
        },
    },
    Col {
        title: "resp",
        prio: 7,
        right: true,
        squeeze: 0,
        cap: 7,
        sort: None,
        cell: |r| r.responses.to_string(),
    },
    Col {
        title: "state",
        prio: 3,
        right: false,
        squeeze: 0,
        cap: 16,
        sort: Some(ConnSort::State),
        cell: |r| state_text(r).into(),
    },
    Col {
        title: "close reason",
        prio: 4,
        right: false,
        squeeze: 12,
        cap: 25,
        sort: Some(ConnSort::CloseReason),
        cell: |r| r.close_reason.as_str().into(),
    },
    Col {
        title: "idle",
        prio: 8,
        right: true,
        squeeze: 0,
        cap: 8,
        sort: Some(ConnSort::Idle),
        cell: |r| dur(r.idle_before_close),
    },
    Col {
        title: "duration",
        prio: 5,
        right: true,
        squeeze: 0,
        cap: 8,
        sort: Some(ConnSort::Duration),
        cell: |r| human(r.duration),
    },
    Col {
        title: "verdict",
        // Right after the request count: the column the table is about
        // stays at 80 columns, others are dropped or shortened first.
        prio: 2,
        right: false,
        squeeze: 0,
        cap: 24,
        sort: Some(ConnSort::Verdict),
        cell: |r| r.verdict.as_str().into(),
    },
];

/// The close reason as shown: while a live capture runs, a connection that
/// is still open has none yet (its record says `capture-ended` only because
/// it is built before its end).
pub fn close_reason_text(m: &Model, r: &ConnectionRecord) -> &'static str {
    if m.live
        && m.ended.is_none()
        && r.closed_by == crate::tcp::ClosedBy::Open
        && r.tcp.end_cause == crate::tcp::EndCause::CaptureEnded
    {
        "(still open)"
    } else {
        r.close_reason.as_str()
    }
}

/// The HTTP version; `mixed` says which side spoke which: `1.0/1.1` is
/// HTTP/1.0 requests answered in HTTP/1.1.
pub fn http_text(r: &ConnectionRecord) -> String {
    match (r.http_version, r.http_versions) {
        (Some("mixed"), Some(v)) => {
            format!("{}/{}", v.client.unwrap_or("-"), v.server.unwrap_or("-"))
        }
        (v, _) => v.unwrap_or("").into(),
    }
}

fn sort_arrow(desc: bool) -> &'static str {
    if desc {
        "▼"
    } else {
        "▲"
    }
}

/// Chooses columns (most important first) and their widths for `avail` cells.
fn fit_columns(natural: &[usize], avail: usize) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..COLS.len()).collect();
    order.sort_by_key(|&i| COLS[i].prio);
    let mut width: Vec<Option<usize>> = vec![None; COLS.len()];
    let mut used = 0usize;
    for &i in &order {
        let gap = usize::from(used > 0);
        let want = natural[i];
        if used + gap + want <= avail {
            width[i] = Some(want);
            used += gap + want;
        } else if COLS[i].squeeze > 0 && used + gap + COLS[i].squeeze.min(want) <= avail {
            width[i] = Some(COLS[i].squeeze.min(want));
            used += gap + COLS[i].squeeze.min(want);
        }
    }
    // Give what is left to the squeezed columns.
    for &i in &order {
        if let Some(w) = width[i] {
            let more = (natural[i] - w).min(avail - used);
            width[i] = Some(w + more);
            used += more;
        }
    }
    width
}

fn fit(s: &str, w: usize, right: bool) -> String {
    let n = s.chars().count();
    if n > w {
        if w == 0 {
            return String::new();
        }
        let mut t: String = s.chars().take(w - 1).collect();
        t.push('…');
        t
    } else if right {
        format!("{s:>w$}")
    } else {
        s.to_string()
    }
}

fn connections(m: &Model, f: &mut Frame, area: Rect) {
    let page = area.height.saturating_sub(2) as usize;
    let rows: Vec<&ConnectionRecord> = m.visible().skip(m.offset).take(page).collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            COLS.iter()
                .map(|c| {
                    if c.sort == Some(ConnSort::CloseReason) {
                        close_reason_text(m, r).into()
                    } else {
                        (c.cell)(r)
                    }
                })
                .collect()
        })
        .collect();
    let natural: Vec<usize> = COLS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let head = c.title.chars().count() + usize::from(c.sort == Some(m.sort));
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
                .max(head)
                .min(c.cap)
        })
        .collect();
    let widths = fit_columns(&natural, area.width as usize);
    let shown: Vec<(usize, usize)> = widths
        .iter()
        .enumerate()
        .filter_map(|(i, w)| w.map(|w| (i, w)))
        .collect();
    let header = Row::new(shown.iter().map(|&(i, w)| {
        let c = &COLS[i];
        let mut t = c.title.to_string();
        if c.sort == Some(m.sort) {
            t.push_str(sort_arrow(m.sort_desc));
        }
        fit(&t, w, c.right)
    }))
    .style(bold().add_modifier(Modifier::UNDERLINED));
    let body: Vec<Row> = rows
        .iter()
        .zip(&cells)
        .map(|(r, row)| {
            Row::new(
                shown
                    .iter()
                    .map(|&(i, w)| fit(&row[i], w, COLS[i].right))
                    .collect::<Vec<_>>(),
            )
            .style(Style::new().fg(tone_color(tone(r))))
        })
        .collect();
    let mut title = vec![Span::styled(
        format!(" Connections {}/{} ", m.visible_len(), m.records().len()),
        bold(),
    )];
    title.push(Span::raw(format!(
        "· sort {} {} ",
        m.sort.name(),
        sort_arrow(m.sort_desc)
    )));
    if !m.filter.is_empty() {
        title.push(Span::styled(
            format!("· filter “{}” ", m.filter),
            Style::new().fg(Color::Magenta),
        ));
    }
    if m.visible_len() > page && page > 0 {
        title.push(Span::styled(
            format!(
                "· rows {}-{} ",
                m.offset + 1,
                (m.offset + page).min(m.visible_len())
            ),
            dim(),
        ));
    }
    let block = Block::new().borders(Borders::TOP).title(Line::from(title));
    if rows.is_empty() {
        let msg = if m.records().is_empty() {
            if m.live {
                "waiting for connections…"
            } else {
                "no TCP connections in this capture"
            }
        } else {
            "no connection matches the filter (/ to change it)"
        };
        f.render_widget(Paragraph::new(msg).style(dim()).block(block), area);
        return;
    }
    let table = Table::new(
        body,
        shown.iter().map(|&(_, w)| Constraint::Length(w as u16)),
    )
    .header(header)
    .block(block)
    .column_spacing(1)
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default()
        .with_offset(0)
        .with_selected(m.selected.checked_sub(m.offset));
    f.render_stateful_widget(table, area, &mut state);
}

fn group_tone(g: &GroupStats) -> Color {
    if g.stale_requests > 0 {
        Color::Red
    } else if g.reused_connections > 0 {
        Color::Green
    } else if g.requests > 0 {
        Color::Yellow
    } else {
        Color::DarkGray
    }
}

fn groups(m: &Model, f: &mut Frame, area: Rect) {
    let gi = usize::from(m.view == View::Hosts);
    let all = m.groups(m.view);
    let page = area.height.saturating_sub(2) as usize;
    let off = m.group_offset[gi];
    let name_title = if m.view == View::Hosts {
        "host"
    } else {
        "server"
    };
    let name_w = all
        .iter()
        .skip(off)
        .take(page)
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(8, 40);
    let titles: [(&str, Option<GroupSort>); 9] = [
        (name_title, Some(GroupSort::Name)),
        ("conns", Some(GroupSort::Connections)),
        ("reqs", Some(GroupSort::Requests)),
        ("reused", Some(GroupSort::Reused)),
        ("req/conn", Some(GroupSort::Mean)),
        ("max", None),
        ("saved", None),
        ("stale", None),
        ("close reasons", None),
    ];
    let header = Row::new(titles.iter().map(|(t, s)| {
        if *s == Some(m.group_sort) {
            format!("{t}{}", sort_arrow(m.group_sort_desc))
        } else {
            t.to_string()
        }
    }))
    .style(bold().add_modifier(Modifier::UNDERLINED));
    let rows: Vec<Row> = all
        .iter()
        .skip(off)
        .take(page)
        .map(|(k, g)| {
            let reasons: Vec<String> = g
                .close_reasons
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            Row::new(vec![
                fit(k, name_w, false),
                format!("{:>5}", g.connections),
                format!("{:>6}", g.requests),
                format!("{:>6}", g.reused_connections),
                format!("{:>8.2}", g.requests_per_connection_mean),
                format!("{:>5}", g.requests_per_connection_max),
                format!("{:>6}", g.handshakes_saved),
                format!("{:>5}", g.stale_requests),
                reasons.join(", "),
            ])
            .style(Style::new().fg(group_tone(g)))
        })
        .collect();
    let widths = [
        Constraint::Length(name_w as u16 + 1),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(9),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Fill(1),
    ];
    let what = if m.view == View::Hosts {
        "Per Host (HTTP Host header or TLS SNI)"
    } else {
        "Per server"
    };
    let block = Block::new().borders(Borders::TOP).title(Line::from(vec![
        Span::styled(format!(" {what} {} ", all.len()), bold()),
        Span::raw(format!(
            "· sort {} {} · Enter: its connections ",
            m.group_sort.name(),
            sort_arrow(m.group_sort_desc)
        )),
    ]));
    if all.is_empty() {
        f.render_widget(
            Paragraph::new("nothing yet").style(dim()).block(block),
            area,
        );
        return;
    }
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(m.group_selected[gi].checked_sub(off));
    f.render_stateful_widget(table, area, &mut state);
}

/// Histogram buckets: every count when they fit, else ranges.
pub fn histogram_buckets(dist: &BTreeMap<u32, u64>, max_bars: usize) -> Vec<(String, u64)> {
    let (Some((&lo, _)), Some((&hi, _))) = (dist.first_key_value(), dist.last_key_value()) else {
        return Vec::new();
    };
    if ((hi - lo) as usize) < max_bars {
        return (lo..=hi)
            .map(|k| (k.to_string(), dist.get(&k).copied().unwrap_or(0)))
            .collect();
    }
    let edges: [u32; 13] = [0, 1, 2, 3, 4, 5, 10, 20, 50, 100, 200, 500, 1000];
    let mut out: Vec<(String, u64)> = Vec::new();
    for (i, &a) in edges.iter().enumerate() {
        let b = edges.get(i + 1).map(|&b| b - 1);
        let n: u64 = dist.range(a..=b.unwrap_or(u32::MAX)).map(|(_, &n)| n).sum();
        let label = match b {
            Some(b) if b == a => a.to_string(),
            Some(b) => format!("{a}-{b}"),
            None => format!("{a}+"),
        };
        if a > hi {
            break;
        }
        if a + 1 >= lo || n > 0 {
            out.push((label, n));
        }
    }
    // Drop empty leading buckets.
    while out.first().is_some_and(|(_, n)| *n == 0) {
        out.remove(0);
    }
    out
}

fn histogram(m: &Model, f: &mut Frame, area: Rect) {
    let s = &m.summary;
    let block = Block::new().borders(Borders::TOP).title(Line::from(vec![
        Span::styled(" Requests per connection ", bold()),
        Span::raw(format!(
            "· HTTP connections · mean {:.2} · max {} ",
            s.requests_per_connection_mean, s.requests_per_connection_max
        )),
    ]));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [chart, side] =
        Layout::horizontal([Constraint::Min(20), Constraint::Length(34)]).areas(inner);
    let buckets = histogram_buckets(
        &s.requests_per_connection,
        (chart.width / 4).max(1) as usize,
    );
    if buckets.is_empty() {
        f.render_widget(Paragraph::new("no HTTP connections").style(dim()), chart);
    } else {
        let label_w = buckets
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(1)
            .max(3) as u16;
        let bars: Vec<Bar> = buckets
            .iter()
            .map(|(l, n)| {
                let c = if l == "1" || l == "0" {
                    Color::Yellow
                } else {
                    Color::Green
                };
                Bar::with_label(l.clone(), *n).style(Style::new().fg(c))
            })
            .collect();
        f.render_widget(
            BarChart::new(bars)
                .bar_width(label_w)
                .bar_gap(1)
                .value_style(bold().fg(Color::Black).bg(Color::Green)),
            chart,
        );
    }
    let mut lines = vec![Line::styled("verdicts", bold())];
    for (k, n) in &s.verdicts {
        let c = match *k {
            "reused" => Color::Green,
            "single-request-closed" => Color::Yellow,
            "single-request-kept-open" => Color::Cyan,
            "unanswered" => Color::Red,
            _ => Color::DarkGray,
        };
        lines.push(Line::styled(format!(" {n:>5} {k}"), Style::new().fg(c)));
    }
    lines.push(Line::styled("close reasons", bold()));
    for (k, n) in &s.close_reasons {
        lines.push(Line::raw(format!(" {n:>5} {k}")));
    }
    lines.push(Line::styled("closed by", bold()));
    for (k, n) in &s.closed_by {
        lines.push(Line::raw(format!(" {n:>5} {k}")));
    }
    if !m.warnings.is_empty() {
        lines.push(Line::styled("warnings", bold().fg(Color::Yellow)));
        for w in &m.warnings {
            lines.push(Line::styled(
                format!(" {w}"),
                Style::new().fg(Color::Yellow),
            ));
        }
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), side);
}

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
        let Some(a) = e.request.time.or(e.response.time) else {
            continue;
        };
        let b = e
            .response
            .end
            .or(e.response.time)
            .or(e.request.end)
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

fn ka_text(s: &Option<compact_str::CompactString>) -> String {
    s.as_deref().unwrap_or("—").to_owned()
}

/// The lines of the detail pane for the selected connection.
pub fn detail_lines(m: &Model, width: u16) -> Vec<Line<'static>> {
    let Some(r) = m.selected_record() else {
        return vec![Line::raw("no connection selected")];
    };
    let t0 = r.start;
    let color = tone_color(tone(r));
    let mut out: Vec<Line<'static>> = Vec::new();
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
    // Timeline.
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
    // Exchanges.
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
        let wait = match (e.request.end.or(e.request.time), e.response.time) {
            (Some(a), Some(b)) if b >= a => human(b.since(a)),
            _ => "—".into(),
        };
        let total = match (e.request.time, e.response.end) {
            (Some(a), Some(b)) if b >= a => human(b.since(a)),
            _ => "—".into(),
        };
        let status = e
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "—".into());
        let stale = match (e.request.time, tcp.fin_server) {
            (Some(rt), Some(f)) if rt > f && e.method.is_some() => " STALE",
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
                fit(e.method.as_deref().unwrap_or("—"), 7, false),
                fit(e.target.as_deref().unwrap_or("—"), tw, false),
                status,
                fmt_bytes(e.request.body_bytes),
                fmt_bytes(e.response.body_bytes),
                rel(e.request.time.or(e.response.time), t0),
                wait,
                total,
                if e.pipelined { " pipelined" } else { "" },
                stale
            ),
            st,
        ));
    }
    // Connection management headers.
    out.push(Line::styled("Connection / Keep-Alive headers", bold()));
    let mut any = false;
    for (i, e) in r.exchanges.iter().enumerate() {
        if e.request.connection.is_none()
            && e.response.connection.is_none()
            && e.request.keep_alive.is_none()
            && e.response.keep_alive.is_none()
        {
            continue;
        }
        any = true;
        let req = format!(
            "request Connection: {} · Keep-Alive: {}",
            ka_text(&e.request.connection),
            ka_text(&e.request.keep_alive)
        );
        let resp = format!(
            "response Connection: {} · Keep-Alive: {}",
            ka_text(&e.response.connection),
            ka_text(&e.response.keep_alive)
        );
        if width >= 110 {
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
    if let Some(t) = &r.tls {
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
                format!(
                    " · resumed ({})",
                    t.resumption.as_deref().unwrap_or("?")
                )
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
    if let Some(h) = &r.http2 {
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
    if !warns.is_empty() {
        out.push(Line::styled("warnings", bold().fg(Color::Red)));
        for w in warns {
            out.push(Line::styled(
                format!("  ! {w}"),
                Style::new().fg(Color::Red),
            ));
        }
    }
    out
}

/// Lines in the detail pane (scroll bound).
/// The findings view's lines (docs/findings.md): each finding's head,
/// evidence and advice.
pub fn findings_lines(m: &Model) -> Vec<Line<'static>> {
    let fs = &m.summary.findings;
    if fs.is_empty() {
        return vec![Line::styled(
            "no findings: nothing in these connections points to a reuse problem",
            dim(),
        )];
    }
    let mut out = Vec::new();
    for f in fs {
        let mut head = vec![
            Span::styled(f.kind.as_str(), bold().fg(Color::Magenta)),
            Span::raw(format!("  server {}", f.server)),
        ];
        if let Some(c) = &f.client {
            head.push(Span::raw(format!(" · client {c}")));
        }
        head.push(Span::raw(format!(
            " · {} conn{}",
            f.connections,
            if f.connections == 1 { "" } else { "s" }
        )));
        if let Some(v) = f.value {
            head.push(Span::styled(format!(" · value {v}"), bold()));
        }
        out.push(Line::from(head));
        for (i, e) in f.evidence.iter().enumerate() {
            let lead = if i == 0 { "  " } else { "    e.g. " };
            out.push(Line::raw(format!("{lead}{e}")));
        }
        out.push(Line::from(vec![
            Span::styled("  advice ", Style::new().fg(Color::Green)),
            Span::raw(f.advice.clone()),
        ]));
        out.push(Line::raw(""));
    }
    out
}

/// Rows the findings view needs at the terminal's width (lines wrap).
pub fn findings_line_count(m: &Model) -> usize {
    let w = (m.size.0 as usize).max(1);
    findings_lines(m)
        .iter()
        .map(|l| l.width().div_ceil(w).max(1))
        .sum()
}

fn findings(m: &Model, f: &mut Frame, area: Rect) {
    let block = Block::new().borders(Borders::TOP).title(Line::from(vec![
        Span::styled(format!(" Findings {} ", m.summary.findings.len()), bold()),
        Span::styled("· why connections were not reused · ↑↓ scroll ", dim()),
    ]));
    f.render_widget(
        Paragraph::new(findings_lines(m))
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((m.findings_scroll, 0)),
        area,
    );
}

pub fn detail_line_count(m: &Model) -> usize {
    detail_lines(m, m.size.0).len()
}

fn detail(m: &Model, f: &mut Frame, area: Rect) {
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

fn footer(m: &Model, f: &mut Frame, area: Rect) {
    let line = if let Some(t) = &m.filter_edit {
        Line::from(vec![
            Span::styled("filter: ", bold().fg(Color::Magenta)),
            Span::raw(t.clone()),
            Span::styled("█", Style::new().fg(Color::Magenta)),
            Span::styled("  Enter apply · Esc cancel · Ctrl-U clear", dim()),
        ])
    } else if let Some(s) = &m.status {
        Line::styled(s.clone(), Style::new().fg(Color::Yellow))
    } else {
        let keys: &[(&str, &str)] = match m.view {
            View::Connections if m.detail => &[
                ("↑↓", "scroll"),
                ("Enter/Esc", "back"),
                ("Tab", "view"),
                ("?", "help"),
                ("q", "quit"),
            ],
            View::Connections if m.live => &[
                ("↑↓", "move"),
                ("Enter", "detail"),
                ("Tab", "view"),
                ("s/S", "sort"),
                ("/", "filter"),
                ("p", "pause"),
                ("?", "help"),
                ("q", "quit"),
            ],
            // A file cannot be paused: `p` is not offered.
            View::Connections => &[
                ("↑↓", "move"),
                ("Enter", "detail"),
                ("Tab", "view"),
                ("s/S", "sort"),
                ("/", "filter"),
                ("f", "findings"),
                ("?", "help"),
                ("q", "quit"),
            ],
            View::Servers | View::Hosts => &[
                ("↑↓", "move"),
                ("Enter", "connections"),
                ("Tab", "view"),
                ("s/S", "sort"),
                ("?", "help"),
                ("q", "quit"),
            ],
            View::Histogram => &[
                ("Tab", "view"),
                ("f", "findings"),
                ("?", "help"),
                ("q", "quit"),
            ],
            View::Findings => &[
                ("↑↓", "scroll"),
                ("Tab", "view"),
                ("?", "help"),
                ("q", "quit"),
            ],
        };
        let mut spans = Vec::new();
        for (k, what) in keys {
            spans.push(Span::styled(format!(" {k}"), bold().fg(Color::Cyan)));
            spans.push(Span::raw(format!(" {what} ")));
        }
        Line::from(spans)
    };
    f.render_widget(line, area);
}

pub const HELP: &[(&str, &str)] = &[
    ("↑ ↓  k j", "move the selection (scroll the detail pane)"),
    ("PgUp PgDn", "move a page (also Ctrl-B, Ctrl-F)"),
    ("g G  Home End", "first / last row"),
    ("mouse wheel", "scroll"),
    ("Enter", "open / close the connection's detail;"),
    ("", "on a server or host: show its connections"),
    ("Esc", "close detail / help / filter, else quit"),
    ("Tab  Shift-Tab", "next / previous view"),
    ("s", "sort by the next column"),
    ("S", "reverse the sort"),
    ("1…9 0", "sort by column: # client server host req state"),
    ("", "close-reason idle duration verdict (again: reverse)"),
    ("/", "new filter: words matched in address, port, host,"),
    ("", "verdict, close reason, state (Enter apply, Esc cancel)"),
    ("f", "findings: why connections were not reused"),
    ("p", "pause / resume a live view"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit"),
];

fn help(f: &mut Frame, area: Rect) {
    let w = 74.min(area.width);
    let h = (HELP.len() as u16 + 3).min(area.height);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, d)| {
            Line::from(vec![
                Span::styled(format!(" {k:<16}"), bold().fg(Color::Cyan)),
                Span::raw(*d),
            ])
        })
        .collect();
    lines.push(Line::from(vec![
        Span::raw(" colours: "),
        Span::styled("reused ", Style::new().fg(Color::Green)),
        Span::styled("single-request-closed ", Style::new().fg(Color::Yellow)),
        Span::styled("kept open ", Style::new().fg(Color::Cyan)),
        Span::styled("stale/reset ", Style::new().fg(Color::Red)),
        Span::styled("no HTTP", dim()),
    ]));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(Span::styled(" Help: keys ", bold()))
                .title_bottom(Line::styled(" any key closes ", dim())),
        ),
        r,
    );
}
