//! The findings view (docs/findings.md): the plain text of
//! [`layout::findings_text`], styled.

use super::{bold, dim};
use crate::tui::layout::{self, Emphasis};
use crate::tui::model::Model;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

pub(super) fn findings(m: &Model, f: &mut Frame, area: Rect) {
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

/// The findings view's lines: each finding's head, evidence and advice.
pub fn findings_lines(m: &Model) -> Vec<Line<'static>> {
    layout::findings_text(&m.summary.findings)
        .into_iter()
        .map(|pieces| {
            Line::from(
                pieces
                    .into_iter()
                    .map(|(e, s)| match e {
                        Emphasis::Plain => Span::raw(s),
                        Emphasis::Quiet => Span::styled(s, dim()),
                        Emphasis::Kind => Span::styled(s, bold().fg(Color::Magenta)),
                        Emphasis::Value => Span::styled(s, bold()),
                        Emphasis::Advice => Span::styled(s, Style::new().fg(Color::Green)),
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .collect()
}
