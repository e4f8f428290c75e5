//! End to end: `keepwatch tui <capture>` in a detached tmux session of a fixed
//! size, driven with `tmux send-keys`, read with `tmux capture-pane`.

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Session {
    name: String,
    status: PathBuf,
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.exact()])
            .output();
        let _ = std::fs::remove_file(&self.status);
    }
}

impl Session {
    /// tmux matches session names by prefix unless told otherwise; `=` asks
    /// for this session exactly, whatever else runs on the machine.
    fn exact(&self) -> String {
        format!("={}", self.name)
    }

    fn pane_target(&self) -> String {
        format!("={}:", self.name)
    }

    fn start(tag: &str, cmd: &str) -> Session {
        let name = format!("keepwatch-tui-{tag}-{}", std::process::id());
        let status = std::env::temp_dir().join(format!("{name}.status"));
        let _ = std::fs::remove_file(&status);
        let s = Session { name, status };
        let shell = format!("{cmd}; echo EXIT=$? > '{}'; exec sh", s.status.display());
        let out = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &s.name,
                "-x",
                "120",
                "-y",
                "40",
                &shell,
            ])
            .env("TERM", "xterm-256color")
            .output()
            .expect("tmux");
        assert!(out.status.success(), "tmux new-session: {out:?}");
        // Some tmux versions size a detached session by the default-size option.
        let _ = Command::new("tmux")
            .args(["resize-window", "-t", &s.exact(), "-x", "120", "-y", "40"])
            .output();
        s
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let out = Command::new("tmux")
                .args(["send-keys", "-t", &self.pane_target(), k])
                .output()
                .expect("send-keys");
            assert!(out.status.success());
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Literal text (no key-name lookup).
    fn type_text(&self, text: &str) {
        Command::new("tmux")
            .args(["send-keys", "-l", "-t", &self.pane_target(), text])
            .output()
            .expect("send-keys");
    }

    fn pane(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.pane_target()])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the pane until `pred` holds (5 s at most).
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let p = self.pane();
            if pred(&p) {
                return p;
            }
            if start.elapsed() > Duration::from_secs(5) {
                panic!("timed out waiting for {what}; pane:\n{p}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_text(&self, text: &str) -> String {
        self.wait_for(text, |p| p.contains(text))
    }

    /// Worker threads (`keepwatch-worker-N`) of the processes the pane's
    /// shell started: the analysis's pool (none on one thread).
    fn worker_threads(&self) -> usize {
        let shell = self.display("#{pane_pid}");
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .unwrap_or_default();
        let mut n = 0;
        for child in children.split_whitespace() {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{child}/task")) else {
                continue;
            };
            for t in tasks.flatten() {
                let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
                // The kernel cuts names at 15 bytes.
                n += usize::from(comm.starts_with("keepwatch-worke"));
            }
        }
        n
    }

    fn alternate_screen(&self) -> bool {
        self.display("#{alternate_on}") == "1"
    }

    /// tmux's `display-message -p FORMAT` for the pane, trimmed.
    fn display(&self, format: &str) -> String {
        let out = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.pane_target(), format])
            .output()
            .expect("display-message");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// What the live tests on lo need: tmux, the right to capture, curl and an
/// nginx of our own. None (and a loud skip) when something is missing.
fn live_setup() -> Option<(PathBuf, support::Nginx)> {
    if !tmux_available() {
        common::skip("tmux not installed");
        return None;
    }
    if let Some(why) = support::capture_unavailable() {
        common::skip(&why);
        return None;
    }
    let Some(curl) = support::which("curl") else {
        common::skip("curl not installed");
        return None;
    };
    match support::Nginx::start(false) {
        Ok(n) => Some((curl, n)),
        Err(why) => {
            common::skip(&why);
            None
        }
    }
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn capture() -> Option<PathBuf> {
    let dir = common::corpus_dir()?;
    Some(dir.join("zeek-http-http-desync-request-response-5.pcap"))
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display())
}

#[test]
fn tui_in_tmux() {
    if !tmux_available() {
        common::skip("tmux not installed");
        return;
    }
    let Some(cap) = capture() else { return };
    let bin = env!("CARGO_BIN_EXE_keepwatch");
    let s = Session::start("main", &format!("'{bin}' tui {}", quote(&cap)));

    // The table: the reused connection with its 5 requests, a closed one, a reset one.
    let p = s.wait_text("Connections 3/3");
    assert!(
        s.alternate_screen(),
        "the dashboard runs in the alternate screen"
    );
    let row = p
        .lines()
        .find(|l| l.contains("127.0.0.1:50170"))
        .unwrap_or_else(|| panic!("no reused row:\n{p}"));
    assert!(
        row.contains(" 5 ") && row.contains("closed by client"),
        "{row}"
    );
    assert!(p.contains("closed by server"), "{p}");
    assert!(p.contains("reset by server"), "{p}");
    assert!(
        p.contains("requests 5") && p.contains("handshakes saved 4"),
        "{p}"
    );

    // Sort by requests, descending: the reused connection comes first.
    s.keys(&["s", "s", "s", "s", "S"]);
    let p = s.wait_text("sort req ▼");
    let first = p
        .lines()
        .skip_while(|l| !l.contains("client"))
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(
        first.contains("127.0.0.1:50170"),
        "first row {first:?}:\n{p}"
    );

    // Filter: only the reset connection.
    s.keys(&["/"]);
    s.wait_text("filter:");
    s.type_text("reset");
    s.keys(&["Enter"]);
    let p = s.wait_text("Connections 1/3");
    assert!(
        p.contains("[::1]:42668") && !p.contains("127.0.0.1:50170"),
        "{p}"
    );
    // Clear the filter again.
    s.keys(&["/", "C-u", "Enter"]);
    s.wait_text("Connections 3/3");

    // Move to the reused connection and open its detail.
    s.keys(&["g", "Enter"]);
    // The pane can be read mid-draw: wait for the whole detail, then check it.
    let p = s.wait_for("the detail of connection #1", |p| {
        p.contains("Connection #1")
            && p.contains("exchanges (")
            && p.contains("timeline")
            && p.contains("Connection: keep-alive")
    });
    assert!(p.contains("exchanges (5 requests, 7 responses)"), "{p}");
    assert!(p.contains("timeline"), "{p}");
    assert!(p.contains("Connection: keep-alive"), "{p}");
    s.keys(&["Escape"]);
    s.wait_text("Connections 3/3");

    // Views.
    s.keys(&["Tab"]);
    s.wait_text("Per server 2");
    s.keys(&["Tab", "Tab"]);
    s.wait_text("Requests per connection");
    s.keys(&["Tab"]);
    s.wait_text("Findings 0");
    s.keys(&["Tab"]);
    s.wait_text("Connections 3/3");
    s.keys(&["f"]);
    s.wait_text("no findings");
    s.keys(&["Tab"]);
    s.wait_text("Connections 3/3");

    // Help overlay.
    s.keys(&["?"]);
    // The overlay is drawn in one frame, but tmux can be read mid-draw: wait
    // for its last key line, then check the rest.
    let p = s.wait_for("the whole help overlay", |p| {
        p.contains("Help: keys") && p.contains("q  Ctrl-C")
    });
    for k in ["filter", "pause", "sort", "quit"] {
        assert!(p.contains(k), "help lacks {k}:\n{p}");
    }
    s.keys(&["?"]);
    s.wait_for("help closed", |p| !p.contains("Help: keys"));

    // Quit: exit status 0, the shell's normal screen is back.
    s.keys(&["q"]);
    let start = Instant::now();
    let status = loop {
        if let Ok(t) = std::fs::read_to_string(&s.status) {
            break t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no exit; pane:\n{}",
            s.pane()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.trim(), "EXIT=0");
    let p = s.wait_for("terminal restored", |p| {
        !p.contains("keepwatch   Connections")
    });
    assert!(!s.alternate_screen(), "alternate screen left on:\n{p}");
}

#[test]
fn tui_ctrl_c_restores_terminal() {
    if !tmux_available() {
        common::skip("tmux not installed");
        return;
    }
    let Some(cap) = capture() else { return };
    let bin = env!("CARGO_BIN_EXE_keepwatch");
    let s = Session::start("ctrlc", &format!("'{bin}' tui {}", quote(&cap)));
    s.wait_text("Connections 3/3");
    s.keys(&["C-c"]);
    let start = Instant::now();
    while !s.status.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no exit:\n{}",
            s.pane()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_to_string(&s.status).unwrap().trim(), "EXIT=0");
    assert!(!s.alternate_screen());
}

/// Live: `keepwatch tui -i lo` while curl talks to a private nginx; the rows
/// appear as the connections happen, and quitting restores the terminal.
#[test]
fn tui_live_on_loopback_shows_connections_as_they_happen() {
    tui_live_on_loopback("live", "", 0);
}

/// The same with `--threads 2`, as `live --threads`: the analysis on two
/// threads (one table on the reading thread, the other on one worker
/// thread: `engine::parallel`), the same rows as they happen; and with
/// `--threads 3`, three worker threads.
#[test]
fn tui_live_threads_2_on_loopback_shows_the_same_rows() {
    tui_live_on_loopback("live-threads", " --threads 2", 1);
    tui_live_on_loopback("live-threads3", " --threads 3", 3);
}

/// `tui -i lo` (with `extra` arguments) in tmux session `tag` while curl
/// makes three connections to an nginx of our own: one reused, two HTTP/1.0.
/// `workers`: the analysis's worker threads expected (0: on one thread).
fn tui_live_on_loopback(tag: &str, extra: &str, workers: usize) {
    let Some((curl, nginx)) = live_setup() else {
        return;
    };
    let port = nginx.port;
    let cmd = format!(
        "{} tui -i lo -f 'tcp port {port}'{extra}",
        quote(&common::bin())
    );
    let s = Session::start(tag, &cmd);
    s.wait_text("Connections");
    assert_eq!(s.worker_threads(), workers, "worker threads of `{cmd}`");
    // Give libpcap a moment to attach before traffic starts.
    std::thread::sleep(Duration::from_millis(500));
    let url = |p: &str| format!("http://127.0.0.1:{port}/{p}");
    let ok = Command::new(&curl)
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "--http1.1",
            &url("a"),
            &url("b"),
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    let ok = Command::new(&curl)
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-0",
            &url("a"),
            &url("b"),
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    // Three connections to our port: one reused (2 requests), two HTTP/1.0.
    let server = format!("127.0.0.1:{port}");
    // Rows appear as connections open and change as they close: wait for
    // the closed state (reading the pane at the first 3 rows raced it).
    let pane = s.wait_for("three closed connections to the nginx port", |p| {
        let rows: Vec<&str> = p.lines().filter(|l| l.contains(&server)).collect();
        rows.len() >= 3
            && rows
                .iter()
                .filter(|r| r.contains("http10-default") && r.contains("single-request-closed"))
                .count()
                == 2
            && rows.iter().any(|r| r.contains("reused"))
    });
    let rows: Vec<&str> = pane.lines().filter(|l| l.contains(&server)).collect();
    // (The verdict column stays; at 120 columns it pushes out http.)
    assert!(
        rows.iter()
            .any(|r| r.contains("reused") && r.split_whitespace().any(|w| w == "2")),
        "a reused connection with 2 requests:\n{pane}"
    );
    assert!(
        rows.iter()
            .filter(|r| r.contains("http10-default") && r.contains("single-request-closed"))
            .count()
            == 2,
        "two HTTP/1.0 connections:\n{pane}"
    );
    s.keys(&["q"]);
    let t0 = Instant::now();
    while !s.status.exists() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = std::fs::read_to_string(&s.status).unwrap_or_default();
    assert_eq!(status.trim(), "EXIT=0", "pane:\n{}", s.pane());
    assert!(!s.alternate_screen(), "terminal restored after quitting");
}

/// Issue 12: the dashboard over a capture piped in (compressed, too); the
/// keys still come from the terminal.
#[test]
fn tui_reads_a_capture_from_a_pipe() {
    if !tmux_available() {
        common::skip("tmux not installed");
        return;
    }
    let cap = common::samples_dir().join("captures/python-pipelined-3.pcap");
    let bin = env!("CARGO_BIN_EXE_keepwatch");
    for (tag, cmd) in [
        ("stdin", format!("cat {} | '{bin}' tui -", quote(&cap))),
        ("gzpipe", format!("gzip -c {} | '{bin}' tui", quote(&cap))),
    ] {
        let s = Session::start(tag, &cmd);
        let p = s.wait_text("Connections 1/1");
        assert!(p.contains("standard input"), "{p}");
        assert!(p.contains("requests 3"), "{p}");
        s.keys(&["q"]);
        let start = Instant::now();
        while !s.status.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "no exit:\n{}",
                s.pane()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(std::fs::read_to_string(&s.status).unwrap().trim(), "EXIT=0");
        assert!(!s.alternate_screen());
    }
}

/// `keepwatch live` on a terminal: the status line on stderr counts packets
/// and their rate (issue 14: live shows packets/s and drops).
#[test]
fn live_status_line_shows_packet_rate_and_drops() {
    let Some((curl, nginx)) = live_setup() else {
        return;
    };
    let port = nginx.port;
    let cmd = format!(
        "{} live -i lo -f 'tcp port {port}' --format jsonl >/dev/null",
        quote(&common::bin())
    );
    let s = Session::start("livestatus", &cmd);
    s.wait_text("packets 0");
    let url = format!("http://127.0.0.1:{port}/a");
    for _ in 0..3 {
        let ok = Command::new(&curl)
            .args(["-s", "-o", "/dev/null", "--http1.1", &url])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    // Three connections of ~10 packets each: the count and a rate show.
    let pane = s.wait_for("packets counted with a rate", |p| {
        p.lines().any(|l| {
            let Some(rest) = l.trim_start().strip_prefix("packets ") else {
                return false;
            };
            let n: u64 = rest
                .split_whitespace()
                .next()
                .and_then(|w| w.parse().ok())
                .unwrap_or(0);
            n >= 20 && rest.contains("/s)") && l.contains("drops kernel")
        })
    });
    assert!(pane.contains("drops kernel 0 keepwatch 0"), "{pane}");
    s.keys(&["C-c"]);
    let t0 = Instant::now();
    while !s.status.exists() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = std::fs::read_to_string(&s.status).unwrap_or_default();
    assert_eq!(status.trim(), "EXIT=0", "pane:\n{}", s.pane());
}
