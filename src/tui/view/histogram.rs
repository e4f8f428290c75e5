//! Requests per connection: the histogram, with the verdict, close-reason
//! and closed-by counts beside it.

use super::{bold, dim, tone_color};
use crate::report::tone::verdict_word_tone;
use crate::tui::model::Model;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, Block, Borders, Paragraph, Wrap};
use ratatui::Frame;
use std::collections::BTreeMap;

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

pub(super) fn histogram(m: &Model, f: &mut Frame, area: Rect) {
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
        let c = tone_color(verdict_word_tone(k));
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
