//! The per-server and per-host tables.

use super::{bold, dim, fit, sort_arrow, tone_color};
use crate::analysis::GroupStats;
use crate::tui::model::{GroupSort, Model, Tone, View};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, TableState};
use ratatui::Frame;

/// A server's or host's tone: bad with any stale request, else good when
/// any connection was reused, a warning when none was, dim without HTTP.
fn group_tone(g: &GroupStats) -> Tone {
    if g.stale_requests > 0 {
        Tone::Bad
    } else if g.reused_connections > 0 {
        Tone::Good
    } else if g.requests > 0 {
        Tone::Warn
    } else {
        Tone::Dim
    }
}

pub(super) fn groups(m: &Model, f: &mut Frame, area: Rect) {
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
            .style(Style::new().fg(tone_color(group_tone(g))))
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
