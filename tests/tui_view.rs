//! View snapshots: the dashboard rendered into ratatui's TestBackend from
//! models built from real captures (the public corpus), at 80×24 and 120×40.

mod common;

use keepwatch::tui::{update, Model, Msg, View};
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;

fn model(name: &str) -> Option<Model> {
    let dir = common::corpus_dir()?;
    let rep = common::analyze(&[&dir.join(name)]);
    Some(Model::from_report(format!("file {name}"), &rep))
}

fn render(m: &mut Model, w: u16, h: u16) -> Terminal<TestBackend> {
    update(m, Msg::Resize(w, h));
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| keepwatch::tui::view::view(m, f)).unwrap();
    t
}

/// The screen as plain text, one line per row (trailing blanks trimmed).
fn text(t: &Terminal<TestBackend>) -> String {
    let b = t.backend().buffer();
    let mut out = String::new();
    for y in 0..b.area.height {
        let mut line = String::new();
        for x in 0..b.area.width {
            line.push_str(b[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn screen(m: &mut Model, w: u16, h: u16) -> String {
    text(&render(m, w, h))
}

/// The foreground colour of the first cell of the row showing `needle`.
fn row_color(t: &Terminal<TestBackend>, needle: &str) -> Option<Color> {
    let b = t.backend().buffer();
    for y in 0..b.area.height {
        let line: String = (0..b.area.width).map(|x| b[(x, y)].symbol()).collect();
        if let Some(col) = line.find(needle) {
            let x = line[..col].chars().count() as u16;
            return Some(b[(x, y)].fg);
        }
    }
    None
}

const PIPELINED: &str = "zeek-http-pipelined-requests.pcap";
const MULTI: &str = "zeek-http-vnd.ms-cab-compressed-multi-conn.pcap";
const DESYNC: &str = "zeek-http-http-desync-request-response-5.pcap";

#[test]
fn pipelined_connections_80x24() {
    let Some(mut m) = model(PIPELINED) else {
        return;
    };
    let s = screen(&mut m, 80, 24);
    assert!(s.contains("192.168.1.104:1673"), "{s}");
    insta::assert_snapshot!("pipelined_connections_80x24", s);
}

#[test]
fn pipelined_connections_120x40() {
    let Some(mut m) = model(PIPELINED) else {
        return;
    };
    let s = screen(&mut m, 120, 40);
    assert!(s.contains("www.mozilla.org"), "{s}");
    insta::assert_snapshot!("pipelined_connections_120x40", s);
}

#[test]
fn pipelined_detail_120x40() {
    let Some(mut m) = model(PIPELINED) else {
        return;
    };
    update(&mut m, Msg::Enter);
    let s = screen(&mut m, 120, 40);
    assert!(s.contains("Connection #0"), "{s}");
    assert!(s.contains("timeline"), "{s}");
    insta::assert_snapshot!("pipelined_detail_120x40", s);
}

#[test]
fn pipelined_detail_80x24() {
    let Some(mut m) = model(PIPELINED) else {
        return;
    };
    update(&mut m, Msg::Enter);
    insta::assert_snapshot!("pipelined_detail_80x24", screen(&mut m, 80, 24));
}

#[test]
fn multi_conn_connections_80x24() {
    let Some(mut m) = model(MULTI) else { return };
    let s = screen(&mut m, 80, 24);
    assert_eq!(s.matches("closed by server").count(), 5, "{s}");
    insta::assert_snapshot!("multi_conn_connections_80x24", s);
}

#[test]
fn multi_conn_hosts_120x40() {
    let Some(mut m) = model(MULTI) else { return };
    update(&mut m, Msg::NextView);
    update(&mut m, Msg::NextView);
    assert_eq!(m.view, View::Hosts);
    let s = screen(&mut m, 120, 40);
    assert!(s.contains("au.download.windowsupdate.com"), "{s}");
    insta::assert_snapshot!("multi_conn_hosts_120x40", s);
}

#[test]
fn desync_connections_120x40() {
    let Some(mut m) = model(DESYNC) else { return };
    insta::assert_snapshot!("desync_connections_120x40", screen(&mut m, 120, 40));
}

#[test]
fn desync_servers_80x24() {
    let Some(mut m) = model(DESYNC) else { return };
    update(&mut m, Msg::NextView);
    insta::assert_snapshot!("desync_servers_80x24", screen(&mut m, 80, 24));
}

#[test]
fn desync_histogram_80x24() {
    let Some(mut m) = model(DESYNC) else { return };
    update(&mut m, Msg::PrevView);
    update(&mut m, Msg::PrevView);
    assert_eq!(m.view, View::Histogram);
    insta::assert_snapshot!("desync_histogram_80x24", screen(&mut m, 80, 24));
}

#[test]
fn help_overlay_80x24() {
    let Some(mut m) = model(DESYNC) else { return };
    update(&mut m, Msg::ToggleHelp);
    let s = screen(&mut m, 80, 24);
    for k in ["PgUp PgDn", "Tab", "/", "pause", "q  Ctrl-C"] {
        assert!(s.contains(k), "help lacks {k}: {s}");
    }
    insta::assert_snapshot!("help_overlay_80x24", s);
}

#[test]
fn filter_prompt_80x24() {
    let Some(mut m) = model(DESYNC) else { return };
    update(&mut m, Msg::FilterStart);
    for c in "reset".chars() {
        update(&mut m, Msg::FilterChar(c));
    }
    let s = screen(&mut m, 80, 24);
    assert!(s.contains("filter: reset"), "{s}");
    update(&mut m, Msg::FilterApply);
    let s = screen(&mut m, 80, 24);
    assert!(s.contains("Connections 1/3"), "{s}");
    insta::assert_snapshot!("desync_filtered_80x24", s);
}

#[test]
fn rows_are_coloured_by_verdict() {
    let (Some(mut p), Some(mut mc), Some(mut d)) = (model(PIPELINED), model(MULTI), model(DESYNC))
    else {
        return;
    };
    // The selected row is drawn reversed; move the selection off the rows we check.
    let t = render(&mut p, 120, 40);
    assert_eq!(row_color(&t, "192.168.1.104:1673"), Some(Color::Green));
    update(&mut mc, Msg::Bottom);
    let t = render(&mut mc, 120, 40);
    assert_eq!(row_color(&t, "192.168.1.105:49433"), Some(Color::Yellow));
    update(&mut d, Msg::Bottom);
    let t = render(&mut d, 120, 40);
    assert_eq!(row_color(&t, "[::1]:42668"), Some(Color::Red));
    assert_eq!(row_color(&t, "127.0.0.1:50170"), Some(Color::Green));
}

#[test]
fn tiny_and_resized_terminals_do_not_panic() {
    let Some(mut m) = model(DESYNC) else { return };
    for (w, h) in [(20, 5), (1, 1), (80, 24), (200, 60), (40, 10)] {
        for v in 0..4 {
            let _ = screen(&mut m, w, h);
            update(&mut m, Msg::NextView);
            let _ = v;
        }
        update(&mut m, Msg::Enter);
        let _ = screen(&mut m, w, h);
        update(&mut m, Msg::Back);
        update(&mut m, Msg::ToggleHelp);
        let _ = screen(&mut m, w, h);
        update(&mut m, Msg::ToggleHelp);
    }
}

/// Bundled samples (samples/captures/), when present.
#[test]
fn bundled_curl_reuse_sample() {
    let p = common::samples_dir().join("captures/curl-http11-reuse.pcap");
    if !p.is_file() {
        common::skip(&format!("{} not present", p.display()));
        return;
    }
    let rep = common::analyze(&[&p]);
    let mut m = Model::from_report("file curl-http11-reuse.pcap", &rep);
    let s = screen(&mut m, 120, 40);
    assert!(
        s.contains("reused") || s.contains("kept alive") || s.contains("closed by"),
        "{s}"
    );
    assert!(m.summary.reused_connections >= 1, "{s}");
}

/// With a key log: the decrypted connection shows its exact request count, the
/// one without keys `~N` (the estimate), and the detail pane says which.
#[test]
fn keylog_decrypted_exact_vs_estimated_120x40() {
    let caps = common::samples_dir().join("captures");
    let ks = keepwatch::inspect::tls::KeyStore::new();
    ks.add_file(&common::samples_dir().join("keylogs/tls-keylog-one-of-two.keys"))
        .unwrap();
    ks.finish_files();
    let rep = common::analyze_with(
        &[&caps.join("tls-keylog-one-of-two.pcap")],
        keepwatch::engine::Options {
            keys: Some(ks),
            ..Default::default()
        },
    );
    let mut m = Model::from_report("file tls-keylog-one-of-two.pcap".to_string(), &rep);
    let s = screen(&mut m, 120, 40);
    let row = |port: &str| {
        s.lines()
            .find(|l| l.contains(port))
            .unwrap_or_else(|| panic!("{port} in {s}"))
            .to_string()
    };
    assert!(
        row("43496").split_whitespace().any(|w| w == "2"),
        "{}",
        row("43496")
    );
    assert!(
        row("43498").split_whitespace().any(|w| w == "~1"),
        "{}",
        row("43498")
    );
    update(&mut m, Msg::Enter);
    let d = screen(&mut m, 120, 40);
    assert!(
        d.contains("decrypted: requests and responses are exact"),
        "{d}"
    );
}

/// The findings view (key `f`) on a bundled capture: the stale request
/// after nginx's 1 s timeout; and the verdict column kept at 80×24.
#[test]
fn findings_view_and_verdict_at_80x24() {
    let p = common::samples_dir().join("captures/stale-keepalive-timeout-retry.pcap");
    let rep = common::analyze(&[&p]);
    let mut m = Model::from_report("file stale-keepalive-timeout-retry.pcap", &rep);
    let s = screen(&mut m, 80, 24);
    assert!(s.contains("verdict") && s.contains("reuse-failed"), "{s}");
    assert!(!s.contains("p pause"), "a file cannot be paused: {s}");
    update(&mut m, Msg::ShowFindings);
    insta::assert_snapshot!("stale_findings_80x24", screen(&mut m, 80, 24));
    let s = screen(&mut m, 80, 24);
    assert!(s.contains("Findings 3"), "{s}");
    assert!(s.contains("stale-reuse"), "{s}");
    assert!(s.contains("client-idle-exceeds-server-timeout"), "{s}");
    assert!(s.contains("advice"), "{s}");
    // Scrolls down to the last finding.
    update(&mut m, Msg::Bottom);
    let s = screen(&mut m, 80, 24);
    assert!(s.contains("server-idle-timeout"), "{s}");
    assert!(m.findings_scroll > 0);
    // Healthy traffic: nothing to say.
    let p = common::samples_dir().join("captures/python-requests-session.pcap");
    let mut m = Model::from_report("f", &common::analyze(&[&p]));
    update(&mut m, Msg::ShowFindings);
    assert!(screen(&mut m, 80, 24).contains("no findings"));
}

/// While a live capture runs, a connection still open has no close reason
/// yet: never `capture-ended`.
#[test]
fn live_open_connection_is_not_capture_ended() {
    use keepwatch::tui::LiveUpdate;
    let p = common::samples_dir().join("captures/curl-http11-reuse.pcap");
    let mut r = common::analyze(&[&p]).connections.remove(0);
    r.closed_by = keepwatch::tcp::ClosedBy::Open;
    r.close_reason = keepwatch::analysis::CloseReason::CaptureEnded;
    r.tcp.end_cause = keepwatch::tcp::EndCause::CaptureEnded;
    let mut m = Model::new_live("live lo");
    update(
        &mut m,
        Msg::Live(LiveUpdate {
            open: vec![r.clone()],
            ..Default::default()
        }),
    );
    let s = screen(&mut m, 120, 40);
    assert!(
        s.contains("(still open)") && !s.contains("capture-ended"),
        "{s}"
    );
    // Once the capture has ended, it is what it is.
    update(
        &mut m,
        Msg::Live(LiveUpdate {
            open: vec![r],
            ended: Some(None),
            ..Default::default()
        }),
    );
    let s = screen(&mut m, 120, 40);
    assert!(s.contains("capture-ended"), "{s}");
}

/// TLS without keys has no idle time before the close: the detail pane says
/// so with a dash, as for the other missing values, not with an empty gap.
#[test]
fn detail_without_idle_time_shows_a_dash_at_80x24() {
    let cap = common::samples_dir().join("captures/tls-keylog-one-of-two.pcap");
    let rep = common::analyze(&[&cap]);
    assert!(rep.connections[1].idle_before_close.is_none());
    let mut m = Model::from_report("file tls-keylog-one-of-two.pcap", &rep);
    update(&mut m, Msg::Down);
    update(&mut m, Msg::Enter);
    let s = screen(&mut m, 80, 24);
    assert!(s.contains("Connection #1"), "{s}");
    assert!(s.contains("idle before close —"), "{s}");
    assert!(!s.contains("idle before close  "), "{s}");
}

/// An HTTP/2 connection (here h2 decrypted from TLS) is not told HTTP/1's
/// persistence rules in the detail pane.
#[test]
fn http2_detail_does_not_explain_http1_persistence() {
    let dir = common::samples_dir();
    let ks = keepwatch::inspect::tls::KeyStore::new();
    ks.add_file(&dir.join("keylogs/tls-keylog-curl-h2.keys"))
        .unwrap();
    ks.finish_files();
    let rep = common::analyze_with(
        &[&dir.join("captures/tls-keylog-curl-h2.pcap")],
        keepwatch::engine::Options {
            keys: Some(ks),
            ..Default::default()
        },
    );
    assert_eq!(rep.connections[0].http_version, Some("2"));
    let mut m = Model::from_report("file tls-keylog-curl-h2.pcap", &rep);
    update(&mut m, Msg::Enter);
    let s = keepwatch::tui::view::detail_lines(&m, 120)
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(s.contains("HTTP/2 has no Connection header"), "{s}");
    assert!(!s.contains("HTTP/1.1 connections persist"), "{s}");
}
