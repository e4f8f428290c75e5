//! The help overlay: the keys and the colours.

use super::{bold, dim, tone_color};
use crate::tui::model::Tone;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

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

pub(super) fn help(f: &mut Frame, area: Rect) {
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
        Span::styled("reused ", Style::new().fg(tone_color(Tone::Good))),
        Span::styled(
            "single-request-closed ",
            Style::new().fg(tone_color(Tone::Warn)),
        ),
        Span::styled("kept open ", Style::new().fg(tone_color(Tone::Kept))),
        Span::styled("stale/reset ", Style::new().fg(tone_color(Tone::Bad))),
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
