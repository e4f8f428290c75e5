//! The connections table: its columns, fitted to the terminal's width.

use super::{bold, dim, dur, fit, sort_arrow, tone_color};
use crate::analysis::ConnectionRecord;
use crate::time::human;
use crate::tui::model::{state_text, tone, ConnSort, Model};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, TableState};
use ratatui::Frame;

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

pub(super) fn connections(m: &Model, f: &mut Frame, area: Rect) {
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
    let block = Block::new().borders(Borders::TOP).title(title(m, page));
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

/// The table's title: counts, sort, filter and the rows shown.
fn title(m: &Model, page: usize) -> Line<'static> {
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
    Line::from(title)
}
