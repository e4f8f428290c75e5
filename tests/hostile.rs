//! Hostile and absurd input, built byte by byte (issues 11 and 15): values
//! that used to overflow or panic, bytes meant for a terminal, messages the
//! inspectors cannot parse, conflicting retransmissions, CLI misuse.

mod common;

use common::build::*;
use keepwatch::tui::{update, Model, Msg};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const T0: i64 = CONVERSATION_T0;
const C: &str = "10.9.0.1";
const S: &str = "10.9.0.2";
const CP: u16 = 41000;

/// Writes the packets as an Ethernet pcap named `name` in `dir`.
fn write_pcap(dir: &Path, name: &str, pkts: &[(i64, Vec<u8>)]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, pcap(1, false, false, pkts)).unwrap();
    p
}

fn analyze(pkts: &[(i64, Vec<u8>)]) -> keepwatch::engine::Report {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pcap(dir.path(), "c.pcap", pkts);
    common::analyze(&[&p])
}

/// Runs keepwatch; killed after 60 s (a validation that fails would
/// otherwise leave a live capture running).
fn run(args: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(common::bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed().as_secs() > 60 {
            let _ = child.kill();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The screen as plain text, one line per row.
fn screen(m: &mut Model, w: u16, h: u16) -> String {
    update(m, Msg::Resize(w, h));
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| keepwatch::tui::view::view(m, f)).unwrap();
    let b = t.backend().buffer();
    let mut out = String::new();
    for y in 0..b.area.height {
        for x in 0..b.area.width {
            out.push_str(b[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------- panics

#[test]
fn keep_alive_max_u64_max_on_a_server_close_does_not_overflow() {
    let req: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nKeep-Alive: timeout=5, max=18446744073709551615\r\n\r\n";
    let pkts = conversation(&[
        (true, req, PSH),
        (false, resp, PSH),
        (true, req, PSH),
        (false, resp, PSH),
        (false, b"", FIN),
        (true, b"", FIN),
    ]);
    let r = analyze(&pkts);
    let c = &r.connections[0];
    assert_eq!((c.requests, c.responses), (2, 2));
    assert_eq!(c.closed_by.as_str(), "server");
    // 2 served of an announced u64::MAX: the budget was not what ended it.
    assert_ne!(c.close_reason.as_str(), "keep-alive-max");
    assert_eq!(c.keep_alive.as_ref().unwrap().max, Some(u64::MAX));
}

#[test]
fn tui_detail_of_a_connection_whose_syn_is_stamped_after_its_ack() {
    let req: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let resp: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let mut pkts = conversation(&[
        (true, req, PSH),
        (false, resp, PSH),
        (true, b"", FIN),
        (false, b"", FIN),
    ]);
    // The SYN (first in the file) carries a later time than the ACK and the
    // request: a capture out of time order.
    pkts[0].0 = pkts[4].0 + 1_000_000;
    let rep = analyze(&pkts);
    let c = &rep.connections[0];
    let (syn, ack) = (c.tcp.syn.unwrap(), c.tcp.ack.unwrap());
    assert!(syn > ack, "the fixture must stamp the SYN after the ACK");
    let mut m = Model::from_report("file ooo.pcap", &rep);
    for (w, h) in [(80, 24), (120, 40), (200, 50)] {
        update(&mut m, Msg::Enter);
        let s = screen(&mut m, w, h);
        assert!(s.contains('▒'), "the handshake bar is drawn:\n{s}");
        update(&mut m, Msg::Back);
    }
}

#[test]
fn live_duration_too_large_for_a_duration_is_a_usage_error() {
    for d in ["1e19", "1e300", "18446744073709551616"] {
        let (code, out, err) = run(&["live", "-i", "lo", "--duration", d]);
        assert_eq!(code, 2, "--duration {d}: {out}{err}");
        assert!(
            err.contains("--duration") && err.contains("too long"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    for d in ["0", "-1", "nan", "inf"] {
        let (code, _, err) = run(&["live", "-i", "lo", "--duration", d]);
        assert_eq!(code, 2, "--duration {d}: {err}");
        assert!(err.contains("not a positive number of seconds"), "{err}");
    }
}

#[test]
fn live_snaplen_zero_negative_or_too_large_is_a_usage_error() {
    for v in ["0", "-1", "-262144", "262145", "4294967296", "x"] {
        let (code, _, err) = run(&["live", "-i", "lo", "--snaplen", v]);
        assert_eq!(code, 2, "--snaplen {v}: {err}");
        assert!(err.contains("--snaplen"), "{err}");
        assert!(
            err.contains("snapshot length") || err.contains("number of bytes"),
            "{err}"
        );
    }
}

// ------------------------------------------------- bytes meant for a terminal

/// A TLS record holding a ClientHello that names `sni` (TLS 1.2 record
/// layer, one cipher suite, only the server_name extension).
fn client_hello(sni: &[u8]) -> Vec<u8> {
    let mut sn = vec![0u8];
    sn.extend((sni.len() as u16).to_be_bytes());
    sn.extend(sni);
    let mut ext = vec![0, 0];
    ext.extend(((sn.len() + 2) as u16).to_be_bytes());
    ext.extend((sn.len() as u16).to_be_bytes());
    ext.extend(sn);
    let mut body = vec![3, 3];
    body.extend([7u8; 32]);
    body.extend([0, 0, 2, 0x13, 0x01, 1, 0]);
    body.extend((ext.len() as u16).to_be_bytes());
    body.extend(ext);
    let mut hs = vec![1];
    hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend(body);
    let mut rec = vec![0x16, 3, 1];
    rec.extend((hs.len() as u16).to_be_bytes());
    rec.extend(hs);
    rec
}

const EVIL_HOST: &str = "h\x1b[2J\x1b[H\x1b[31mEVIL\x07\u{202e}txt.exe\u{200b}\u{9b}31m";
const EVIL_SNI: &str = "a\u{202e}b\u{200b}c\r\nd\te\u{2066}\u{feff}.example";
/// A file name with an escape sequence and a bidi override.
const EVIL_FILE: &str = "cap\x1b]0;pwned\x07\x1b[31m\u{202e}.pcap";

/// One HTTP connection with a hostile Host header, one TLS connection with a
/// hostile SNI.
fn hostile_capture() -> Vec<(i64, Vec<u8>)> {
    let req = format!("GET / HTTP/1.1\r\nHost: {EVIL_HOST}\r\n\r\n");
    let resp: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let mut pkts = conversation(&[
        (true, req.as_bytes(), PSH),
        (false, resp, PSH),
        (true, b"", FIN),
        (false, b"", FIN),
    ]);
    let (c, s, cp) = ("10.9.0.3", "10.9.0.4", 42000u16);
    let t = pkts.last().unwrap().0;
    let ch = client_hello(EVIL_SNI.as_bytes());
    for (i, p) in [
        ip_tcp(c, cp, s, 443, 100, 0, SYN, b""),
        ip_tcp(s, 443, c, cp, 900, 101, SYN | ACK, b""),
        ip_tcp(c, cp, s, 443, 101, 901, ACK, b""),
        ip_tcp(c, cp, s, 443, 101, 901, ACK | PSH, &ch),
    ]
    .into_iter()
    .enumerate()
    {
        pkts.push((t + (i as i64 + 1) * 1_000_000, ethernet(&p)));
    }
    pkts
}

/// Characters that must never reach a terminal raw (the escaping policy).
fn forbidden(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c,
            '\u{61c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}' | '\u{2066}'..='\u{2069}' | '\u{feff}' | '\u{2028}' | '\u{2029}')
}

fn assert_clean(what: &str, s: &str) {
    if let Some(c) = s.chars().find(|&c| forbidden(c)) {
        panic!("{what}: raw {c:?} reached the output:\n{s}");
    }
}

#[test]
fn hostile_names_are_escaped_in_text_csv_and_stderr_and_json_stays_exact() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pcap(dir.path(), EVIL_FILE, &hostile_capture());
    let f = p.to_str().unwrap();

    // Text, colours off: ANSI codes can only come from the capture.
    let (code, out, err) = run(&["report", "--color", "never", f]);
    assert_eq!(code, 0, "{err}");
    assert_clean("text stdout", &out);
    assert_clean("text stderr", &err);
    assert!(
        out.contains("h\\x1b[2J\\x1b[H\\x1b[31mEVIL\\x07\\u{202e}txt.exe\\u{200b}\\x9b31m"),
        "{out}"
    );
    assert!(
        out.contains("cap\\x1b]0;pwned\\x07\\x1b[31m\\u{202e}.pcap"),
        "file name: {out}"
    );
    assert!(
        out.contains("a\\u{202e}b\\u{200b}c\\r\\nd\\te\\u{2066}\\u{feff}.example"),
        "SNI: {out}"
    );

    // The same file twice: the warning on stderr names it, escaped.
    let (code, out, err) = run(&["report", "--color", "never", f, f]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("cap\\x1b]0;pwned"), "{err}");
    assert_clean("stderr warning", &err);
    assert_clean("text stdout (2 files)", &out);

    // An error naming a file that does not exist.
    let missing = dir.path().join("no\x1b[2Jsuch\u{202e}.pcap");
    let (code, _, err) = run(&["report", missing.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no\\x1b[2Jsuch\\u{202e}.pcap"), "{err}");
    assert_clean("stderr error", &err);

    // A damaged file: the damage warning names it.
    let mut bytes = std::fs::read(&p).unwrap();
    bytes.truncate(bytes.len() - 7);
    let cut = dir.path().join("cut\x1b[5m.pcap");
    std::fs::write(&cut, bytes).unwrap();
    let (code, out, err) = run(&["report", "--color", "never", cut.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("cut\\x1b[5m.pcap"), "{err}");
    assert_clean("damage stderr", &err);
    assert_clean("damage stdout", &out);

    // CSV, per file (the file column holds the name).
    let (code, out, err) = run(&["report", "--format", "csv", "--per-file", f]);
    assert_eq!(code, 0, "{err}");
    assert_clean("csv", &out);
    assert!(out.contains("\\u{202e}txt.exe"), "{out}");
    assert!(out.contains("a\\u{202e}b\\u{200b}c\\r\\nd\\te"), "{out}");

    // JSON and JSONL: valid JSON whose strings are exactly what was sent.
    let (code, out, _) = run(&["report", "--format", "json", f]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    let conns = v["connections"].as_array().unwrap();
    assert_eq!(conns[0]["host"], EVIL_HOST);
    assert_eq!(conns[1]["tls"]["sni"], EVIL_SNI);
    assert!(!out.contains('\x1b'), "serde escapes C0 controls");
    let (code, out, _) = run(&["report", "--format", "jsonl", f]);
    assert_eq!(code, 0);
    for line in out.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("valid JSONL line");
    }
}

#[test]
fn hostile_names_are_escaped_in_every_tui_view() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_pcap(dir.path(), "h.pcap", &hostile_capture());
    let rep = common::analyze(&[&p]);
    assert_eq!(rep.connections.len(), 2);
    let mut m = Model::from_report(format!("file {EVIL_FILE}"), &rep);
    let mut screens = vec![screen(&mut m, 160, 40)];
    update(&mut m, Msg::Enter); // detail of the HTTP connection
    screens.push(screen(&mut m, 160, 40));
    update(&mut m, Msg::Back);
    update(&mut m, Msg::Down);
    update(&mut m, Msg::Enter); // detail of the TLS connection
    screens.push(screen(&mut m, 160, 40));
    update(&mut m, Msg::Back);
    for _ in 0..3 {
        update(&mut m, Msg::NextView); // servers, hosts, histogram
        screens.push(screen(&mut m, 160, 40));
    }
    for s in &screens {
        assert_clean("TUI", s);
    }
    let all = screens.concat();
    assert!(all.contains("cap\\x1b]0;pwned"), "the source line: {all}");
    assert!(all.contains("\\x1b[2J\\x1b[H\\x1b[31mEVIL"), "host: {all}");
    assert!(
        all.contains("a\\u{202e}b\\u{200b}c\\r\\nd\\te"),
        "SNI: {all}"
    );
}

// ------------------------------------- messages the inspectors cannot parse

/// Three requests, the middle one with a control byte in its target; every
/// request answered. Nothing may vanish: either counted, or warned with the
/// exchange number.
#[test]
fn request_line_with_a_control_byte_is_counted_and_warned() {
    for bad in [
        &b"GET /a\x1bb HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        b"GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        let good: &[u8] = b"GET /ok HTTP/1.1\r\nHost: h\r\n\r\n";
        let resp: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let pkts = conversation(&[
            (true, good, PSH),
            (false, resp, PSH),
            (true, bad, PSH),
            (false, resp, PSH),
            (true, good, PSH),
            (false, resp, PSH),
            (true, b"", FIN),
            (false, b"", FIN),
        ]);
        let r = analyze(&pkts);
        let c = &r.connections[0];
        assert_eq!((c.requests, c.responses), (3, 3), "{:?}", c.warnings);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("exchange #2") && w.contains("malformed request line")),
            "{:?}",
            c.warnings
        );
        assert_eq!(c.malformed_messages, 1);
        assert_eq!(c.exchanges[1].status, Some(200), "the response matched #2");
        assert_eq!(c.verdict.as_str(), "reused");
    }
}

// ------------------------------------------------------------ minor cases

#[test]
fn zero_length_tls_records_before_the_client_hello_are_still_tls() {
    let empty = [0x16u8, 3, 1, 0, 0];
    let ch = client_hello(b"example.com");
    // All in one segment, and spread over several (200 records each).
    let mut one = empty.repeat(1000);
    one.extend(&ch);
    let chunk = empty.repeat(200);
    let split: Vec<(bool, &[u8], u8)> = (0..5)
        .map(|_| (true, &chunk[..], PSH))
        .chain([(true, &ch[..], PSH)])
        .collect();
    for steps in [vec![(true, &one[..], PSH)], split] {
        let r = analyze(&conversation(&steps));
        let c = &r.connections[0];
        assert_eq!(c.protocol, "tls", "{:?}", c.warnings);
        let t = c.tls.as_ref().unwrap();
        assert_eq!(t.sni.as_deref(), Some("example.com"));
        assert_eq!(t.client_hellos, 1);
        assert_eq!(t.malformed_messages, 1000);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.contains("1000 zero-length TLS handshake records")),
            "{:?}",
            c.warnings
        );
    }
}

// ------------------------------------------------ conflicting retransmissions

/// Handshake, then client segments at stream offsets (offset, bytes), then
/// a response and both FINs.
fn client_segments(segs: &[(u32, &[u8])], total: u32) -> Vec<(i64, Vec<u8>)> {
    let (cs, ss) = (5001u32, 7001u32);
    let mut t = T0;
    let mut v = vec![];
    let mut push = |p: Vec<u8>| {
        t += 1_000_000;
        v.push((t, ethernet(&p)));
    };
    push(ip_tcp(C, CP, S, 80, cs - 1, 0, SYN, b""));
    push(ip_tcp(S, 80, C, CP, ss - 1, cs, SYN | ACK, b""));
    push(ip_tcp(C, CP, S, 80, cs, ss, ACK, b""));
    for (off, data) in segs {
        push(ip_tcp(C, CP, S, 80, cs + off, ss, ACK | PSH, data));
    }
    let resp: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    push(ip_tcp(S, 80, C, CP, ss, cs + total, ACK | PSH, resp));
    let ss2 = ss + resp.len() as u32;
    push(ip_tcp(C, CP, S, 80, cs + total, ss2, ACK | FIN, b""));
    push(ip_tcp(S, 80, C, CP, ss2, cs + total + 1, ACK | FIN, b""));
    v
}

#[test]
fn conflicting_retransmissions_keep_the_first_copy_and_are_warned() {
    let first: &[u8] = b"GET /aaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n";
    let other: &[u8] = b"GET /bbbbbbbb HTTP/1.1\r\nHost: h\r\n\r\n";
    let n = first.len() as u32;
    // (a) The tail twice out of order (different bytes), then the head.
    // (b) The tail out of order, then the whole request in order carrying
    //     other bytes where the tail was.
    // (c) An identical retransmission: no conflict.
    type Segs<'a> = Vec<(u32, &'a [u8])>;
    let cases: [(Segs, u64); 3] = [
        (
            vec![(5, &first[5..]), (5, &other[5..]), (0, &first[..5])],
            8,
        ),
        (vec![(5, &first[5..]), (0, other)], 8),
        (vec![(5, &first[5..]), (5, &first[5..]), (0, first)], 0),
    ];
    for (segs, conflicting) in cases {
        let r = analyze(&client_segments(&segs, n));
        let c = &r.connections[0];
        assert_eq!(c.requests, 1, "{:?}", c.warnings);
        assert_eq!(
            c.exchanges[0].target.as_deref(),
            Some("/aaaaaaaa"),
            "first copy wins"
        );
        let st = &c.tcp.client_to_server;
        assert_eq!(st.conflicting_bytes, conflicting, "{segs:?}");
        assert_eq!(st.stream_bytes, n as u64);
        assert_eq!(st.missing_bytes, 0);
        let warned = c.warnings.iter().any(|w| {
            w.contains("client->server: 8 bytes retransmitted with different contents")
                && w.contains("first copy was kept")
        });
        assert_eq!(warned, conflicting > 0, "{:?}", c.warnings);
    }
}

#[test]
fn snaplen_cut_bytes_are_counted_as_gaps() {
    let req: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\nX-Pad: 0123456789\r\n\r\n";
    let resp: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let mut pkts = conversation(&[(true, req, PSH), (false, resp, PSH), (true, b"", FIN)]);
    // Cut the request frame by 10 bytes, as a snaplen would (the IP and
    // record lengths still say the whole frame).
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.pcap");
    let frame = &mut pkts[3].1;
    let orig = frame.len() as u32;
    frame.truncate(frame.len() - 10);
    let records: Vec<(i64, &[u8], u32)> = pkts
        .iter()
        .enumerate()
        .map(|(i, (t, f))| (*t, f.as_slice(), if i == 3 { orig } else { f.len() as u32 }))
        .collect();
    let bytes = PcapFormat::new(1).file(&records);
    std::fs::write(&p, bytes).unwrap();
    let r = common::analyze(&[&p]);
    let st = &r.connections[0].tcp.client_to_server;
    assert_eq!(st.missing_bytes, 10);
    assert_eq!(st.gaps, 1);
}
