//! Terminal events to messages. Pure: which key means what depends only on
//! the event and the model's mode (typing a filter, help shown).

use super::model::Model;
use super::update::Msg;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

/// Rows one mouse-wheel notch moves.
pub const WHEEL_ROWS: usize = 3;

pub fn to_msg(m: &Model, ev: &Event) -> Option<Msg> {
    match ev {
        Event::Key(k) => key_msg(m, k),
        Event::Mouse(me) => match me.kind {
            MouseEventKind::ScrollDown => Some(Msg::ScrollDown(WHEEL_ROWS)),
            MouseEventKind::ScrollUp => Some(Msg::ScrollUp(WHEEL_ROWS)),
            _ => None,
        },
        Event::Resize(w, h) => Some(Msg::Resize(*w, *h)),
        _ => None,
    }
}

fn key_msg(m: &Model, k: &KeyEvent) -> Option<Msg> {
    if k.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    // Raw mode turns Ctrl-C into a key press: it always quits.
    if ctrl && matches!(k.code, KeyCode::Char('c') | KeyCode::Char('C')) {
        return Some(Msg::Quit);
    }
    if m.filter_edit.is_some() {
        return match k.code {
            KeyCode::Enter => Some(Msg::FilterApply),
            KeyCode::Esc => Some(Msg::FilterCancel),
            KeyCode::Backspace => Some(Msg::FilterBackspace),
            KeyCode::Char('u') if ctrl => Some(Msg::FilterClear),
            KeyCode::Char(c) if !ctrl => Some(Msg::FilterChar(c)),
            _ => None,
        };
    }
    if m.help {
        // Any key closes the help; q still quits.
        return match k.code {
            KeyCode::Char('q') => Some(Msg::Quit),
            _ => Some(Msg::ToggleHelp),
        };
    }
    Some(match k.code {
        KeyCode::Char('q') => Msg::Quit,
        KeyCode::Esc => Msg::Back,
        KeyCode::Up | KeyCode::Char('k') => Msg::Up,
        KeyCode::Down | KeyCode::Char('j') => Msg::Down,
        KeyCode::PageUp => Msg::PageUp,
        KeyCode::PageDown => Msg::PageDown,
        KeyCode::Char('b') if ctrl => Msg::PageUp,
        KeyCode::Char('f') if ctrl => Msg::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Msg::Top,
        KeyCode::End | KeyCode::Char('G') => Msg::Bottom,
        KeyCode::Enter => Msg::Enter,
        KeyCode::Tab => Msg::NextView,
        KeyCode::BackTab => Msg::PrevView,
        KeyCode::Char('s') => Msg::CycleSort,
        KeyCode::Char('S') => Msg::ReverseSort,
        KeyCode::Char('/') => Msg::FilterStart,
        KeyCode::Char('p') => Msg::TogglePause,
        KeyCode::Char('f') => Msg::ShowFindings,
        KeyCode::Char(c @ '1'..='9') => Msg::SortBy(c as usize - '1' as usize),
        KeyCode::Char('0') => Msg::SortBy(9),
        KeyCode::Char('?') => Msg::ToggleHelp,
        _ => return None,
    })
}
