//! Messages and the one function that changes the model. Pure: no terminal,
//! no clock.

use super::layout::pane_rows;
use super::model::{LiveUpdate, Model, View, LIVE_FINISHED_KEPT};

#[derive(Debug, Clone)]
pub enum Msg {
    Up,
    Down,
    /// Mouse wheel: move by n rows.
    ScrollUp(usize),
    ScrollDown(usize),
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Enter: open / close the detail pane; on a server or host, show its connections.
    Enter,
    /// Esc: close the detail pane or the help, else quit.
    Back,
    NextView,
    PrevView,
    CycleSort,
    ReverseSort,
    /// Sort by the n-th sortable column (0-based; the digit keys 1…9, 0):
    /// again on the same column reverses it.
    SortBy(usize),
    /// Jump to the findings view.
    ShowFindings,
    FilterStart,
    FilterChar(char),
    FilterBackspace,
    FilterClear,
    FilterApply,
    FilterCancel,
    TogglePause,
    ToggleHelp,
    Resize(u16, u16),
    Live(LiveUpdate),
    Quit,
}

pub fn update(m: &mut Model, msg: Msg) {
    m.status = None;
    match msg {
        Msg::Quit => m.quit = true,
        Msg::Resize(w, h) => {
            m.size = (w, h);
            m.clamp_selection();
        }
        Msg::Live(u) => live(m, u),
        Msg::ToggleHelp => m.help = !m.help,
        Msg::TogglePause => toggle_pause(m),
        // A new filter each time (Enter on an empty one clears it).
        Msg::FilterStart => m.filter_edit = Some(String::new()),
        Msg::ShowFindings => {
            m.view = View::Findings;
            m.detail = false;
        }
        Msg::SortBy(n) => sort_by(m, n),
        Msg::FilterChar(c) => {
            if let Some(f) = &mut m.filter_edit {
                f.push(c);
            }
        }
        Msg::FilterBackspace => {
            if let Some(f) = &mut m.filter_edit {
                f.pop();
            }
        }
        Msg::FilterClear => {
            if let Some(f) = &mut m.filter_edit {
                f.clear();
            }
        }
        Msg::FilterCancel => m.filter_edit = None,
        Msg::FilterApply => {
            if let Some(f) = m.filter_edit.take() {
                set_filter(m, f.trim().to_string());
            }
        }
        Msg::Back => back(m),
        Msg::NextView | Msg::PrevView => {
            m.view = if matches!(msg, Msg::NextView) {
                m.view.next()
            } else {
                m.view.prev()
            };
            m.detail = false;
        }
        Msg::CycleSort => change_sort(m, true),
        Msg::ReverseSort => change_sort(m, false),
        Msg::Enter => enter(m),
        Msg::Up => move_by(m, -1),
        Msg::Down => move_by(m, 1),
        Msg::ScrollUp(n) => move_by(m, -(n as i64)),
        Msg::ScrollDown(n) => move_by(m, n as i64),
        Msg::PageUp => {
            let p = m.page_rows() as i64;
            move_by(m, -p)
        }
        Msg::PageDown => {
            let p = m.page_rows() as i64;
            move_by(m, p)
        }
        Msg::Top => move_by(m, i64::MIN / 2),
        Msg::Bottom => move_by(m, i64::MAX / 2),
    }
}

/// A live update: applied, or kept (merged) while paused.
fn live(m: &mut Model, u: LiveUpdate) {
    if m.paused {
        let p = match &mut m.pending {
            Some(p) => {
                p.merge(u);
                p
            }
            None => m.pending.insert(u),
        };
        // Bounded while paused: what could not be shown on resume anyway is
        // counted now.
        let over = p.new_finished.len().saturating_sub(LIVE_FINISHED_KEPT);
        if over > 0 {
            let old: Vec<_> = p.new_finished.drain(..over).collect();
            m.absorb_unshown(old);
        }
    } else {
        m.apply_live(u);
    }
}

/// Pauses or resumes a live view (resuming applies what came meanwhile).
fn toggle_pause(m: &mut Model) {
    if !m.live {
        m.status = Some("pause: not a live capture".into());
    } else {
        m.paused = !m.paused;
        if !m.paused {
            if let Some(p) = m.pending.take() {
                m.apply_live(p);
            }
        }
    }
}

/// Sorts by the n-th sortable column of the current table; again on the
/// same column reverses it.
fn sort_by(m: &mut Model, n: usize) {
    match m.view {
        View::Connections => {
            if let Some(&s) = super::model::ConnSort::ALL.get(n) {
                if m.sort == s {
                    m.sort_desc = !m.sort_desc;
                } else {
                    m.sort = s;
                    m.sort_desc = false;
                }
                let keep = m.selected_record().map(|r| r.id);
                m.refilter(keep);
            }
        }
        View::Servers | View::Hosts => {
            if let Some(&s) = super::model::GroupSort::ALL.get(n) {
                if m.group_sort == s {
                    m.group_sort_desc = !m.group_sort_desc;
                } else {
                    m.group_sort = s;
                    // Names ascending, numbers largest first.
                    m.group_sort_desc = s != super::model::GroupSort::Name;
                }
                m.rebuild_groups();
                m.clamp_selection();
            }
        }
        _ => {}
    }
}

/// `s` (next: the next column) or `S` (reverse the order).
fn change_sort(m: &mut Model, next: bool) {
    match m.view {
        View::Connections => {
            if next {
                m.sort = m.sort.next();
            } else {
                m.sort_desc = !m.sort_desc;
            }
            let keep = m.selected_record().map(|r| r.id);
            m.refilter(keep);
        }
        View::Servers | View::Hosts => {
            if next {
                m.group_sort = m.group_sort.next();
            } else {
                m.group_sort_desc = !m.group_sort_desc;
            }
            m.rebuild_groups();
            m.clamp_selection();
        }
        View::Histogram | View::Findings => {}
    }
}

/// Esc: closes the help, the filter being typed or the detail, else quits.
fn back(m: &mut Model) {
    if m.help {
        m.help = false;
    } else if m.filter_edit.is_some() {
        m.filter_edit = None;
    } else if m.detail {
        m.detail = false;
    } else {
        m.quit = true;
    }
}

/// Enter: opens or closes the detail; on a server or host, shows its
/// connections.
fn enter(m: &mut Model) {
    match m.view {
        View::Connections => {
            if m.detail {
                m.detail = false;
            } else if m.selected_record().is_some() {
                m.detail = true;
                m.detail_scroll = 0;
            }
        }
        View::Servers | View::Hosts => {
            let i = group_index(m.view);
            if let Some((name, _)) = m.groups(m.view).get(m.group_selected[i]) {
                let name = name.clone();
                m.view = View::Connections;
                m.detail = false;
                set_filter(m, name);
            }
        }
        View::Histogram | View::Findings => {}
    }
}

fn group_index(v: View) -> usize {
    usize::from(v == View::Hosts)
}

fn set_filter(m: &mut Model, f: String) {
    m.filter = f;
    let keep = m.selected_record().map(|r| r.id);
    m.refilter(keep);
}

fn step(cur: usize, by: i64, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    (cur as i64).saturating_add(by).clamp(0, n as i64 - 1) as usize
}

fn move_by(m: &mut Model, by: i64) {
    match m.view {
        View::Connections if m.detail => {
            // End stops at the last full page, not at the last line alone.
            let max = m.detail_line_count().saturating_sub(pane_rows(m.size.1)) as i64;
            m.detail_scroll = (m.detail_scroll as i64)
                .saturating_add(by)
                .clamp(0, max.max(0)) as u16;
        }
        View::Connections => {
            m.selected = step(m.selected, by, m.visible_len());
            m.clamp_selection();
        }
        View::Servers | View::Hosts => {
            let i = group_index(m.view);
            m.group_selected[i] = step(m.group_selected[i], by, m.groups(m.view).len());
            m.clamp_selection();
        }
        View::Findings => {
            let max = m.findings_line_count().saturating_sub(pane_rows(m.size.1)) as i64;
            m.findings_scroll = (m.findings_scroll as i64)
                .saturating_add(by)
                .clamp(0, max.max(0)) as u16;
        }
        View::Histogram => {}
    }
}
