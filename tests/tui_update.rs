//! Update logic: sorting, filtering, scrolling bounds, view switching, pause.
//! Synthetic records, so these run without the corpus.

use keepwatch::analysis::{CloseReason, ConnectionRecord, TcpDetail, Verdict};
use keepwatch::tcp::stream::StreamStats;
use keepwatch::tcp::{ClosedBy, EndCause, HandshakeState};
use keepwatch::time::{Duration, Timestamp};
use keepwatch::tui::model::{ConnSort, GroupSort};
use keepwatch::tui::{update, LiveUpdate, Model, Msg, View};

fn rec(
    id: u64,
    server: &str,
    host: Option<&str>,
    requests: u32,
    closed_by: ClosedBy,
) -> ConnectionRecord {
    let (verdict, reason) = match (requests, closed_by) {
        (0, _) => (Verdict::NoHttp, CloseReason::Unknown),
        (1, ClosedBy::Server) => (
            Verdict::SingleRequestClosed,
            CloseReason::ConnectionCloseResponse,
        ),
        (1, _) => (Verdict::SingleRequestKeptOpen, CloseReason::ClientFinished),
        (_, ClosedBy::ServerReset) => (Verdict::Reused, CloseReason::Reset),
        _ => (Verdict::Reused, CloseReason::ClientFinished),
    };
    let start = Timestamp::from_nanos(1_000_000_000 * (1000 + id as i64));
    ConnectionRecord {
        id,
        client: format!("10.0.0.1:{}", 40000 + id),
        server: server.into(),
        start,
        end: Timestamp::from_nanos(start.as_nanos() + 1_000_000 * (id as i64 + 1)),
        duration: Duration::from_millis(id as i64 + 1),
        handshake: HandshakeState::Complete,
        closed_by,
        requests,
        responses: requests,
        verdict,
        close_reason: reason,
        close_detail: None,
        protocol: "http",
        host: host.map(String::from),
        http_version: Some("1.1"),
        http_versions: None,
        max_pipeline_depth: 1,
        keep_alive: None,
        idle_before_close: None,
        stale_requests: 0,
        interim_responses: 0,
        malformed_messages: 0,
        packets: 10,
        bytes: 1000,
        exchanges: Vec::new(),
        exchanges_omitted: 0,
        exchanges_omitted_unanswered: 0,
        protocol_switch: None,
        tls: None,
        http2: None,
        tcp: TcpDetail {
            handshake_detail: None,
            syn: Some(start),
            syn_ack: None,
            ack: None,
            syn_packets: 1,
            syn_ack_packets: 1,
            fin_client: None,
            fin_server: None,
            rst_client: None,
            rst_server: None,
            half_closed: false,
            reset_after_fin: false,
            roles_guessed: false,
            end_cause: EndCause::Closed,
            client_to_server: StreamStats::default(),
            server_to_client: StreamStats::default(),
        },
        warnings: Vec::new(),
        file: None,
    }
}

/// 1000 connections over three servers, request counts 0..=4.
fn many() -> Model {
    let servers = ["192.0.2.1:80", "192.0.2.2:8080", "[2001:db8::1]:443"];
    let recs = (0..1000)
        .map(|i| {
            let closed = match i % 4 {
                0 => ClosedBy::Client,
                1 => ClosedBy::Server,
                2 => ClosedBy::ServerReset,
                _ => ClosedBy::Open,
            };
            rec(
                i,
                servers[i as usize % 3],
                Some(if i % 2 == 0 { "a.example" } else { "b.example" }),
                (i % 5) as u32,
                closed,
            )
        })
        .collect();
    let mut m = Model::from_records("test", recs);
    update(&mut m, Msg::Resize(80, 24));
    m
}

#[test]
fn scrolling_stays_in_bounds() {
    let mut m = many();
    let page = m.page_rows();
    assert_eq!(page, 17, "80×24 shows 17 table rows");
    update(&mut m, Msg::Up);
    assert_eq!((m.selected, m.offset), (0, 0));
    update(&mut m, Msg::PageDown);
    assert_eq!(m.selected, page);
    assert!(m.selected >= m.offset && m.selected < m.offset + page);
    update(&mut m, Msg::Bottom);
    assert_eq!(m.selected, 999);
    assert_eq!(m.offset, 1000 - page);
    update(&mut m, Msg::Down);
    update(&mut m, Msg::ScrollDown(3));
    assert_eq!(m.selected, 999);
    update(&mut m, Msg::PageUp);
    assert_eq!(m.selected, 999 - page);
    assert_eq!(m.offset, 999 - page, "the selection stays on screen");
    update(&mut m, Msg::Top);
    assert_eq!((m.selected, m.offset), (0, 0));
    // A smaller terminal keeps the selection visible.
    update(&mut m, Msg::Bottom);
    update(&mut m, Msg::Resize(80, 12));
    let page = m.page_rows();
    assert!(m.selected < m.offset + page && m.selected >= m.offset);
}

#[test]
fn sorting_cycles_and_reverses_and_keeps_selection() {
    let mut m = many();
    assert_eq!(m.sort, ConnSort::Id);
    update(&mut m, Msg::Down);
    update(&mut m, Msg::Down);
    let id = m.selected_record().unwrap().id;
    while m.sort != ConnSort::Requests {
        update(&mut m, Msg::CycleSort);
    }
    let reqs: Vec<u32> = m.visible().map(|r| r.requests).collect();
    assert!(reqs.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(
        m.selected_record().unwrap().id,
        id,
        "selection follows the connection"
    );
    update(&mut m, Msg::ReverseSort);
    let reqs: Vec<u32> = m.visible().map(|r| r.requests).collect();
    assert!(reqs.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(reqs[0], 4);
    // Ties are broken by id.
    let ids: Vec<u64> = m.visible().take(3).map(|r| r.id).collect();
    assert_eq!(ids, vec![4, 9, 14]);
    for _ in 0..ConnSort::ALL.len() {
        update(&mut m, Msg::CycleSort);
    }
    assert_eq!(m.sort, ConnSort::Requests, "s cycles through every column");
}

#[test]
fn filter_applies_on_enter_and_cancels_on_esc() {
    let mut m = many();
    update(&mut m, Msg::FilterStart);
    for c in "8080 reset".chars() {
        update(&mut m, Msg::FilterChar(c));
    }
    assert_eq!(m.visible_len(), 1000, "nothing changes before Enter");
    update(&mut m, Msg::FilterApply);
    assert_eq!(m.filter, "8080 reset");
    assert!(m.visible_len() > 0);
    assert!(m
        .visible()
        .all(|r| r.server == "192.0.2.2:8080" && r.closed_by == ClosedBy::ServerReset));
    // Esc while typing restores the applied filter.
    update(&mut m, Msg::FilterStart);
    update(&mut m, Msg::FilterClear);
    update(&mut m, Msg::FilterChar('x'));
    update(&mut m, Msg::FilterCancel);
    assert_eq!(m.filter, "8080 reset");
    // Host, verdict, close reason and state are matched too, case-insensitively.
    for (f, check) in [
        (
            "B.EXAMPLE",
            (|r: &ConnectionRecord| r.host.as_deref() == Some("b.example"))
                as fn(&ConnectionRecord) -> bool,
        ),
        ("single-request-closed", |r| {
            r.verdict == Verdict::SingleRequestClosed
        }),
        ("connection-close-response", |r| {
            r.close_reason == CloseReason::ConnectionCloseResponse
        }),
        ("kept alive", |r| {
            r.closed_by == ClosedBy::Open && r.requests > 0
        }),
        ("[2001:db8::1]", |r| r.server.starts_with("[2001")),
        (":40007", |r| r.id == 7),
    ] {
        update(&mut m, Msg::FilterStart);
        update(&mut m, Msg::FilterClear);
        for c in f.chars() {
            update(&mut m, Msg::FilterChar(c));
        }
        update(&mut m, Msg::FilterApply);
        assert!(m.visible_len() > 0, "{f}");
        assert!(m.visible().all(check), "{f}");
    }
    // `/` starts a new filter (the applied one stays until Enter);
    // Backspace edits; an empty filter shows everything.
    update(&mut m, Msg::FilterStart);
    assert_eq!(m.filter_edit.as_deref(), Some(""));
    assert_eq!(m.filter, ":40007");
    for c in ":4001".chars() {
        update(&mut m, Msg::FilterChar(c));
    }
    update(&mut m, Msg::FilterBackspace);
    assert_eq!(m.filter_edit.as_deref(), Some(":400"));
    update(&mut m, Msg::FilterClear);
    update(&mut m, Msg::FilterApply);
    assert_eq!(m.visible_len(), 1000);
    // A filter matching nothing leaves an empty, in-bounds selection.
    update(&mut m, Msg::FilterStart);
    for c in "nothing-matches".chars() {
        update(&mut m, Msg::FilterChar(c));
    }
    update(&mut m, Msg::FilterApply);
    assert_eq!(m.visible_len(), 0);
    update(&mut m, Msg::Down);
    update(&mut m, Msg::Enter);
    assert!(!m.detail, "no detail without a connection");
    assert_eq!((m.selected, m.offset), (0, 0));
}

#[test]
fn views_switch_and_server_enter_filters_connections() {
    let mut m = many();
    update(&mut m, Msg::Enter);
    assert!(m.detail);
    update(&mut m, Msg::NextView);
    assert_eq!(m.view, View::Servers);
    assert!(!m.detail);
    // Servers are sorted by connections, most first.
    let g = m.groups(View::Servers);
    assert_eq!(g.len(), 3);
    assert!(g
        .windows(2)
        .all(|w| w[0].1.connections >= w[1].1.connections));
    update(&mut m, Msg::Down);
    let name = m.groups(View::Servers)[1].0.clone();
    update(&mut m, Msg::Enter);
    assert_eq!(m.view, View::Connections);
    assert_eq!(m.filter, name);
    assert!(m.visible().all(|r| r.server == name));
    update(&mut m, Msg::NextView);
    update(&mut m, Msg::NextView);
    assert_eq!(m.view, View::Hosts);
    assert_eq!(m.groups(View::Hosts).len(), 2);
    update(&mut m, Msg::CycleSort);
    update(&mut m, Msg::NextView);
    assert_eq!(m.view, View::Histogram);
    update(&mut m, Msg::NextView);
    assert_eq!(m.view, View::Findings);
    update(&mut m, Msg::NextView);
    assert_eq!(m.view, View::Connections);
    update(&mut m, Msg::PrevView);
    assert_eq!(m.view, View::Findings);
    update(&mut m, Msg::PrevView);
    assert_eq!(m.view, View::Histogram);
    // `f` jumps to the findings from anywhere.
    update(&mut m, Msg::PrevView);
    update(&mut m, Msg::ShowFindings);
    assert_eq!(m.view, View::Findings);
}

#[test]
fn digits_sort_by_a_column_directly() {
    let mut m = many();
    // 0 is the 10th sortable column: verdict; again reverses it.
    update(&mut m, Msg::SortBy(9));
    assert_eq!((m.sort, m.sort_desc), (ConnSort::Verdict, false));
    let v: Vec<&str> = m.visible().map(|r| r.verdict.as_str()).collect();
    assert!(v.windows(2).all(|w| w[0] <= w[1]));
    update(&mut m, Msg::SortBy(9));
    assert_eq!((m.sort, m.sort_desc), (ConnSort::Verdict, true));
    let v: Vec<&str> = m.visible().map(|r| r.verdict.as_str()).collect();
    assert!(v.windows(2).all(|w| w[0] >= w[1]));
    // 5: requests, ascending on a new column.
    update(&mut m, Msg::SortBy(4));
    assert_eq!((m.sort, m.sort_desc), (ConnSort::Requests, false));
    let v: Vec<u32> = m.visible().map(|r| r.requests).collect();
    assert!(v.windows(2).all(|w| w[0] <= w[1]));
    // Servers view (sorted by connections): 3 is requests, largest first;
    // again: smallest first.
    update(&mut m, Msg::NextView);
    update(&mut m, Msg::SortBy(2));
    assert_eq!(
        (m.group_sort, m.group_sort_desc),
        (GroupSort::Requests, true)
    );
    let v: Vec<u64> = m
        .groups(View::Servers)
        .iter()
        .map(|g| g.1.requests)
        .collect();
    assert!(v.windows(2).all(|w| w[0] >= w[1]));
    update(&mut m, Msg::SortBy(2));
    assert!(!m.group_sort_desc);
}

#[test]
fn esc_backs_out_then_quits() {
    let mut m = many();
    update(&mut m, Msg::Enter);
    update(&mut m, Msg::ToggleHelp);
    update(&mut m, Msg::Back);
    assert!(!m.help && m.detail && !m.quit);
    update(&mut m, Msg::Back);
    assert!(!m.detail && !m.quit);
    update(&mut m, Msg::Back);
    assert!(m.quit);
}

#[test]
fn live_updates_and_pause() {
    let mut m = Model::new_live("live lo");
    update(&mut m, Msg::Resize(120, 40));
    let open = rec(1, "192.0.2.1:80", None, 1, ClosedBy::Open);
    update(
        &mut m,
        Msg::Live(LiveUpdate {
            new_finished: vec![rec(0, "192.0.2.1:80", None, 2, ClosedBy::Client)],
            open: vec![open.clone()],
            packets: 10,
            drops: 0,
            ended: None,
        }),
    );
    assert_eq!(m.visible_ids(), vec![0, 1]);
    assert_eq!(m.open_in_table(), 1);
    update(&mut m, Msg::Down);
    update(&mut m, Msg::TogglePause);
    assert!(m.paused);
    // While paused nothing on screen changes, but updates are kept.
    for (i, p) in [(2u64, 20u64), (3, 30)] {
        update(
            &mut m,
            Msg::Live(LiveUpdate {
                new_finished: vec![rec(i, "192.0.2.1:80", None, 1, ClosedBy::Server)],
                open: vec![],
                packets: p,
                drops: 1,
                ended: None,
            }),
        );
    }
    assert_eq!(m.visible_ids(), vec![0, 1]);
    assert_eq!(m.packets, 10);
    update(&mut m, Msg::TogglePause);
    assert!(!m.paused);
    assert_eq!(
        m.visible_ids(),
        vec![0, 2, 3],
        "connection 1 is no longer open and did not finish in this script"
    );
    assert_eq!((m.packets, m.drops), (30, 1));
    assert_eq!(m.open_in_table(), 0);
    // Pause means nothing for files.
    let mut f = many();
    update(&mut f, Msg::TogglePause);
    assert!(!f.paused);
    assert!(f.status.is_some());
}

/// A long pause keeps at most one list's worth of finished connections
/// waiting; the rest are counted at once, so the summary on resume is whole
/// and memory stays bounded.
#[test]
fn pause_keeps_bounded_pending_and_counts_everything() {
    use keepwatch::tui::model::LIVE_FINISHED_KEPT;
    let mut m = Model::new_live("live lo");
    update(&mut m, Msg::Resize(120, 40));
    update(&mut m, Msg::TogglePause);
    let per = 1000u64;
    let batches = (LIVE_FINISHED_KEPT as u64 / per) + 5;
    for b in 0..batches {
        update(
            &mut m,
            Msg::Live(LiveUpdate {
                new_finished: (0..per)
                    .map(|i| rec(b * per + i, "192.0.2.1:80", None, 2, ClosedBy::Client))
                    .collect(),
                open: vec![],
                packets: b,
                drops: 0,
                ended: None,
            }),
        );
        let waiting = m.pending.as_ref().map_or(0, |p| p.new_finished.len());
        assert!(
            waiting <= LIVE_FINISHED_KEPT,
            "{waiting} waiting while paused"
        );
    }
    assert_eq!(m.visible_len(), 0, "nothing shown while paused");
    update(&mut m, Msg::TogglePause);
    let total = batches * per;
    assert_eq!(m.summary.connections, total);
    assert_eq!(m.records().len(), LIVE_FINISHED_KEPT);
    assert_eq!(m.dropped, total - LIVE_FINISHED_KEPT as u64);
    // The newest are the ones kept.
    assert_eq!(m.records().last().map(|r| r.id), Some(total - 1));
}
