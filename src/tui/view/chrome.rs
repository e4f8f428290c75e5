//! The chrome around every screen: the tab bar, the counters, the
//! sparklines and the footer's keys.

use super::{bold, dim};
use crate::analysis::ConnectionRecord;
use crate::tui::model::{Model, View};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};
use ratatui::Frame;
use std::collections::BTreeMap;

pub(super) fn tabs(m: &Model, f: &mut Frame, area: Rect) {
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

pub(super) fn stats(m: &Model, f: &mut Frame, area: Rect) {
    let s = &m.summary;
    let open = m.records().iter().filter(|r| state_is_open(r)).count();
    // Live, finished connections beyond the kept list still count.
    let closed = m.records().len() - open + m.dropped as usize;
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

pub(super) fn sparks(m: &Model, f: &mut Frame, area: Rect) {
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

pub(super) fn footer(m: &Model, f: &mut Frame, area: Rect) {
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
