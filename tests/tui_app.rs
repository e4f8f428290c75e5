//! The whole app (event loop, input mapping, update, view) on ratatui's
//! TestBackend with scripted key events and a scripted live feed.

mod common;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use keepwatch::tui::{
    run, LiveUpdate, Model, NoFeed, RunOptions, ScriptedEvents, ScriptedFeed, View,
};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::time::Duration;

fn opts() -> RunOptions {
    RunOptions {
        frame_interval: Duration::ZERO,
    }
}

fn text(t: &Terminal<TestBackend>) -> String {
    let b = t.backend().buffer();
    (0..b.area.height)
        .map(|y| {
            let l: String = (0..b.area.width).map(|x| b[(x, y)].symbol()).collect();
            l.trim_end().to_string() + "\n"
        })
        .collect()
}

/// Runs the app on `keys` (one script segment) and returns the last frame.
fn drive(t: &mut Terminal<TestBackend>, m: &mut Model, keys: Vec<Event>) -> String {
    m.quit = false;
    run(t, m, &mut ScriptedEvents::new(keys), &mut NoFeed, opts()).unwrap();
    text(t)
}

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

#[test]
fn scripted_session_on_a_real_capture() {
    let Some(dir) = common::corpus_dir() else {
        return;
    };
    let rep = common::analyze(&[&dir.join("zeek-http-http-desync-request-response-5.pcap")]);
    let mut m = Model::from_report("file desync", &rep);
    let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();

    let s = drive(&mut t, &mut m, vec![]);
    assert!(s.contains("Connections 3/3"), "{s}");
    assert!(s.contains("reset by server"), "{s}");

    // Move down, open the detail of the reused connection.
    let s = drive(&mut t, &mut m, ScriptedEvents::keys("j\n"));
    assert!(s.contains("Connection #1"), "{s}");
    assert!(s.contains("exchanges (5 requests, 7 responses)"), "{s}");
    // Back, sort by requests descending (s×4 then S).
    let s = drive(&mut t, &mut m, ScriptedEvents::keys("\x1bssssS"));
    assert!(s.contains("sort req ▼"), "{s}");
    assert_eq!(m.visible_ids()[0], 1);
    // Filter by text, Enter applies.
    let s = drive(&mut t, &mut m, ScriptedEvents::keys("/server\n"));
    assert!(s.contains("Connections 2/3"), "{s}");
    assert!(!s.contains("50170"), "{s}");
    // Esc cancels an edit.
    let s = drive(&mut t, &mut m, ScriptedEvents::keys("/xyz\x1b"));
    assert!(s.contains("Connections 2/3"), "{s}");
    // Help overlay, then any key closes it.
    let s = drive(&mut t, &mut m, ScriptedEvents::keys("?"));
    assert!(s.contains("Help: keys"), "{s}");
    let s = drive(&mut t, &mut m, ScriptedEvents::keys("x"));
    assert!(!s.contains("Help: keys"), "{s}");
    // Tab to servers; page keys and mouse-free navigation do not panic.
    let mut keys = ScriptedEvents::keys("\t");
    keys.extend([
        key(KeyCode::PageDown),
        key(KeyCode::PageUp),
        key(KeyCode::End),
        key(KeyCode::Home),
    ]);
    let s = drive(&mut t, &mut m, keys);
    assert_eq!(m.view, View::Servers);
    assert!(s.contains("Per server 2"), "{s}");
    // A resize event is followed.
    t.backend_mut().resize(80, 24);
    let s = drive(&mut t, &mut m, vec![Event::Resize(80, 24)]);
    assert_eq!(s.lines().count(), 24);
    assert_eq!(m.size, (80, 24));
    // q quits.
    m.quit = false;
    run(
        &mut t,
        &mut m,
        &mut ScriptedEvents::new(ScriptedEvents::keys("q")),
        &mut NoFeed,
        opts(),
    )
    .unwrap();
    assert!(m.quit);
}

#[test]
fn ctrl_c_quits() {
    let mut m = Model::from_records("empty", vec![]);
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let ev = vec![Event::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    ))];
    let mut src = ScriptedEvents::new(ev);
    run(&mut t, &mut m, &mut src, &mut NoFeed, opts()).unwrap();
    assert!(m.quit);
    assert!(src.0.is_empty());
    // Ctrl-C also quits while typing a filter.
    let mut m = Model::from_records("empty", vec![]);
    let mut ev = ScriptedEvents::keys("/ab");
    ev.push(Event::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    ev.extend(ScriptedEvents::keys("zzz"));
    let mut src = ScriptedEvents::new(ev);
    run(&mut t, &mut m, &mut src, &mut NoFeed, opts()).unwrap();
    assert!(m.quit);
    assert_eq!(src.0.len(), 3, "keys after Ctrl-C are not read");
    assert!(text(&t).contains("no TCP connections"));
}

#[test]
fn live_feed_and_pause() {
    let Some(dir) = common::corpus_dir() else {
        return;
    };
    let rep = common::analyze(&[&dir.join("zeek-http-vnd.ms-cab-compressed-multi-conn.pcap")]);
    let recs = rep.connections;
    let mut m = Model::new_live("live lo");
    let mut t = Terminal::new(TestBackend::new(120, 40)).unwrap();
    // Before any data.
    let s = drive(&mut t, &mut m, vec![]);
    assert!(s.contains("LIVE"), "{s}");
    assert!(s.contains("waiting for connections"), "{s}");
    let upd = |fin: &[keepwatch::analysis::ConnectionRecord],
               open: &[keepwatch::analysis::ConnectionRecord],
               packets| LiveUpdate {
        new_finished: fin.to_vec(),
        open: open.to_vec(),
        packets,
        drops: 0,
        ended: None,
    };
    m.quit = false;
    let mut feed = ScriptedFeed([upd(&recs[..2], &recs[2..3], 40)].into());
    run(
        &mut t,
        &mut m,
        &mut ScriptedEvents::new(vec![]),
        &mut feed,
        RunOptions {
            frame_interval: Duration::ZERO,
        },
    )
    .unwrap();
    let s = text(&t);
    assert!(s.contains("Connections 3/3"), "{s}");
    assert!(s.contains("packets 40"), "{s}");
    // Pause: the next updates wait.
    m.quit = false;
    let mut feed = ScriptedFeed([upd(&recs[2..4], &[], 100)].into());
    run(
        &mut t,
        &mut m,
        &mut ScriptedEvents::new(ScriptedEvents::keys("p")),
        &mut feed,
        opts(),
    )
    .unwrap();
    let s = text(&t);
    // The feed is polled before the key, so the first update landed; pause now holds later ones.
    assert!(m.paused);
    assert!(s.contains("PAUSED"), "{s}");
    m.quit = false;
    let mut feed = ScriptedFeed([upd(&recs[4..], &[], 158)].into());
    run(
        &mut t,
        &mut m,
        &mut ScriptedEvents::new(vec![]),
        &mut feed,
        opts(),
    )
    .unwrap();
    let s = text(&t);
    assert!(s.contains("PAUSED (+1)"), "{s}");
    assert!(s.contains("packets 100"), "{s}");
    // Resume: everything arrives.
    let s = drive(&mut t, &mut m, ScriptedEvents::keys("p"));
    assert!(s.contains("Connections 5/5"), "{s}");
    assert!(s.contains("packets 158"), "{s}");
    assert!(s.contains("LIVE"), "{s}");
}
