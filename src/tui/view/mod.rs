//! Drawing: everything on screen is a function of the [`Model`]. The frame
//! ([`super::layout`]) holds the chrome (tab bar, counters, sparklines,
//! footer) around one screen: the connections table, a connection's detail,
//! the per-server / per-host tables, the histogram or the findings; the help
//! overlays it. One file each; this one lays them out and holds the palette.

mod chrome;
mod detail;
mod findings;
mod groups;
mod help;
mod histogram;
mod table;

pub use chrome::spark_series;
pub use detail::{detail_lines, timeline};
pub use findings::findings_lines;
pub use help::HELP;
pub use histogram::histogram_buckets;
pub use table::{close_reason_text, http_text};

use super::layout::areas;
use super::model::{Model, Tone, View};
use crate::time::human;
use ratatui::style::{Color, Modifier, Style};
use ratatui::Frame;

/// The palette of the shared tone rule ([`crate::report::tone`]).
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
    chrome::tabs(m, f, a.tabs);
    chrome::stats(m, f, a.stats);
    chrome::sparks(m, f, a.spark);
    match m.view {
        View::Connections if m.detail => detail::detail(m, f, a.main),
        View::Connections => table::connections(m, f, a.main),
        View::Servers | View::Hosts => groups::groups(m, f, a.main),
        View::Histogram => histogram::histogram(m, f, a.main),
        View::Findings => findings::findings(m, f, a.main),
    }
    chrome::footer(m, f, a.footer);
    if m.help {
        help::help(f, f.area());
    }
}

fn dur(d: Option<crate::time::Duration>) -> String {
    d.map(human).unwrap_or_default()
}

fn sort_arrow(desc: bool) -> &'static str {
    if desc {
        "▼"
    } else {
        "▲"
    }
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
