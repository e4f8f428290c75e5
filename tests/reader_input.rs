//! The input layer: standard input and compressed captures give the same
//! report as the plain file; a file that shrinks while it is read is reported,
//! not a crash; damaged streams and odd format cases are warned about. Real
//! samples (samples/captures) and bytes built field by field.

mod common;

use common::build::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const T0: i64 = 1_700_000_000_000_000_000;

/// Connections in the shrinking-file test (about 11 MB of capture).
const N: usize = 16_000;

fn run(args: &[&str]) -> (i32, String, String) {
    run_stdin(args, None)
}

/// Runs keepwatch with `input` written to its standard input (a pipe), or
/// with /dev/null as standard input.
fn run_stdin(args: &[&str], input: Option<Vec<u8>>) -> (i32, String, String) {
    let mut child = Command::new(common::bin())
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let writer = input.map(|bytes| {
        let mut stdin = child.stdin.take().unwrap();
        // keepwatch may stop reading early (an error): ignore EPIPE.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        })
    });
    let o = child.wait_with_output().unwrap();
    if let Some(w) = writer {
        w.join().unwrap();
    }
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zstd(b: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(b, 3).unwrap()
}

fn xz(b: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// The text report without its `file ...` header lines (they name the file).
fn without_file_lines(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("file "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The JSON report with `files` set aside (path and compression differ).
fn split_files(json: &str) -> (serde_json::Value, serde_json::Value) {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    let files = v["files"].take();
    (v, files)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// (label, arguments, standard input, compression in the report, path in the report)
type Case<'a> = (
    &'a str,
    Vec<&'a str>,
    Option<Vec<u8>>,
    Option<&'a str>,
    String,
);

#[test]
fn stdin_and_compressed_captures_give_the_same_report_as_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let samples = common::samples_dir().join("captures");
    for name in [
        "curl-http11-reuse.pcapng",
        "netns-impaired-loss-dup-reorder.pcap",
        "curl-http11-reuse-nsec.pcap",
        "tls13-curl-http11-reuse.pcap",
    ] {
        let path = samples.join(name);
        let p = path.to_str().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let (code, text, err) = run(&["report", "--color", "never", p]);
        assert_eq!(code, 0, "{name}: {err}");
        let (_, json, _) = run(&["report", "--format", "json", p]);
        let (want, want_files) = split_files(&json);
        assert!(want["summary"]["packets"].as_u64().unwrap() > 0);
        assert_eq!(text.lines().filter(|l| l.starts_with("file ")).count(), 1);
        let text = without_file_lines(&text);

        let gz = write(dir.path(), &format!("{name}.gz"), &gzip(&bytes));
        let zst = write(dir.path(), &format!("{name}.zst"), &zstd(&bytes));
        // Content, not the name, decides: an xz file named .pcap.
        let xzf = write(dir.path(), &format!("xz-{name}"), &xz(&bytes));
        let cases: Vec<Case> = vec![
            (
                "cat F | report -",
                vec!["-"],
                Some(bytes.clone()),
                None,
                "(standard input)".into(),
            ),
            (
                "cat F | report",
                vec![],
                Some(bytes.clone()),
                None,
                "(standard input)".into(),
            ),
            (
                "report F.gz",
                vec![gz.to_str().unwrap()],
                None,
                Some("gzip"),
                gz.display().to_string(),
            ),
            (
                "report F.zst",
                vec![zst.to_str().unwrap()],
                None,
                Some("zstd"),
                zst.display().to_string(),
            ),
            (
                "report xz-F",
                vec![xzf.to_str().unwrap()],
                None,
                Some("xz"),
                xzf.display().to_string(),
            ),
            (
                "cat F.gz | report -",
                vec!["-"],
                Some(gzip(&bytes)),
                Some("gzip"),
                "(standard input)".into(),
            ),
            (
                "cat F.zst | report",
                vec![],
                Some(zstd(&bytes)),
                Some("zstd"),
                "(standard input)".into(),
            ),
            (
                "cat F.xz | report -",
                vec!["-"],
                Some(xz(&bytes)),
                Some("xz"),
                "(standard input)".into(),
            ),
        ];
        for (label, files, input, compression, shown) in cases {
            let mut args = vec!["report", "--color", "never"];
            args.extend(&files);
            let (code, out, err) = run_stdin(&args, input.clone());
            assert_eq!(code, 0, "{name}: {label}: {err}");
            assert_eq!(without_file_lines(&out), text, "{name}: {label}");
            let file_line = out.lines().find(|l| l.starts_with("file ")).unwrap();
            assert!(file_line.contains(&shown), "{label}: {file_line}");
            let mut args = vec!["report", "--format", "json"];
            args.extend(&files);
            let (code, out, err) = run_stdin(&args, input);
            assert_eq!(code, 0, "{name}: {label}: {err}");
            let (got, got_files) = split_files(&out);
            assert_eq!(got, want, "{name}: {label}");
            assert_eq!(got_files[0]["path"], shown.as_str(), "{label}");
            assert_eq!(got_files[0]["compression"].as_str(), compression, "{label}");
            for k in ["format", "packets", "bytes", "linktypes", "nanosecond"] {
                assert_eq!(got_files[0][k], want_files[0][k], "{label}: {k}");
            }
        }
    }
}

#[test]
fn truncated_compressed_capture_reports_what_was_read_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::samples_dir().join("captures/netns-impaired-loss-dup-reorder.pcap");
    let bytes = std::fs::read(&path).unwrap();
    let (_, full, _) = run(&["report", "--format", "json", path.to_str().unwrap()]);
    let full: serde_json::Value = serde_json::from_str(&full).unwrap();
    let all = full["summary"]["packets"].as_u64().unwrap();
    for (kind, packed) in [
        ("gzip", gzip(&bytes)),
        ("xz", xz(&bytes)),
        ("zstd", zstd(&bytes)),
    ] {
        let cut = &packed[..packed.len() * 2 / 3];
        let f = write(dir.path(), &format!("cut.{kind}"), cut);
        for (label, args, input) in [
            (
                "file",
                vec!["report", "--format", "json", f.to_str().unwrap()],
                None,
            ),
            (
                "stdin",
                vec!["report", "--format", "json", "-"],
                Some(cut.to_vec()),
            ),
        ] {
            let (code, out, err) = run_stdin(&args, input);
            assert_eq!(code, 3, "{kind} {label}: {err}");
            assert!(
                err.contains(&format!("the {kind} stream")) && err.contains("packets read before"),
                "{kind} {label}: {err}"
            );
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            let got = v["summary"]["packets"].as_u64().unwrap();
            assert!(got > 0 && got < all, "{kind} {label}: {got} of {all}");
            assert!(v["summary"]["warnings"]
                .to_string()
                .contains(&format!("{kind} stream")));
        }
    }
}

#[test]
fn what_is_not_a_capture_on_stdin_is_a_clear_error() {
    let (code, _, err) = run_stdin(&["report", "-"], Some(b"hello, not a capture\n".to_vec()));
    assert_eq!(code, 1);
    assert!(
        err.contains("(standard input): not a pcap or pcapng capture (first bytes: 68 65 6c 6c)"),
        "{err}"
    );
    let (code, _, err) = run_stdin(&["report"], Some(gzip(b"GET / HTTP/1.1\r\n\r\n")));
    assert_eq!(code, 1);
    assert!(
        err.contains("gzip-compressed, but the content is not a pcap or pcapng capture"),
        "{err}"
    );
    let (code, _, err) = run_stdin(&["report", "-"], Some(Vec::new()));
    assert_eq!(code, 1);
    assert!(err.contains("(standard input): empty"), "{err}");
    let (code, _, err) = run_stdin(&["report", "-", "-"], Some(Vec::new()));
    assert_eq!(code, 1);
    assert!(err.contains("can be given only once"), "{err}");
    // Standard input is not data (here /dev/null) and no file: a usage error.
    let (code, _, err) = run(&["report"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs a capture FILE"), "{err}");
    let (code, _, err) = run(&["tui"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("-i IFACE"), "{err}");
    // `tui --threads` is for the live dashboard: with a file, a usage error
    // (before anything is read or the terminal is asked for).
    let (code, _, err) = run(&["tui", "no-such.pcap", "--threads", "2"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("tui -i IFACE --threads N"), "{err}");
    let (code, _, err) = run(&["tui", "-i", "lo", "--threads", "0"]);
    assert_eq!(code, 2, "{err}");
}

/// Many short HTTP connections in one pcap; returns the file and, per
/// connection, the byte offset just past its first record.
fn many_connections(n: usize) -> (Vec<u8>, Vec<usize>) {
    let mut pkts = Vec::new();
    let mut first_packet = Vec::new();
    for i in 0..n {
        let client = format!("10.{}.{}.1", (i >> 8) & 0xff, i & 0xff);
        let conv = http_conversation(
            &client,
            40000 + (i % 20000) as u16,
            "10.200.0.2",
            1,
            T0 + i as i64 * 20_000_000,
        );
        first_packet.push(pkts.len());
        pkts.extend(conv.into_iter().map(|(t, ip)| (t, ethernet(&ip))));
    }
    let file = pcap(1, false, false, &pkts);
    // Record i ends at 24 + sum of (16 + len) over records 0..=i.
    let mut ends = Vec::with_capacity(pkts.len());
    let mut at = 24;
    for (_, d) in &pkts {
        at += 16 + d.len();
        ends.push(at);
    }
    (file, first_packet.into_iter().map(|k| ends[k]).collect())
}

fn pipe_bytes_queued(fd: i32) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    n.max(0) as usize
}

/// Starts `keepwatch report --format jsonl FILE` with a stdout pipe that
/// nobody reads, and returns once keepwatch has filled it and is blocked in a
/// write, early in the file.
fn start_blocked(f: &Path, extra: &[&str]) -> (std::process::Child, std::process::ChildStdout) {
    use std::os::unix::io::AsRawFd;
    let mut child = Command::new(common::bin())
        .args(["report", "--format", "jsonl"])
        .args(extra)
        .arg(f)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let fd = stdout.as_raw_fd();
    let mut last = 0;
    let mut stable = 0;
    let limit = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while stable < 10 {
        assert!(
            std::time::Instant::now() < limit,
            "keepwatch never filled its stdout pipe"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "keepwatch ended before the pipe filled"
        );
        std::thread::sleep(std::time::Duration::from_millis(30));
        let now = pipe_bytes_queued(fd);
        if now > 0 && now == last {
            stable += 1;
        } else {
            stable = 0;
        }
        last = now;
    }
    (child, stdout)
}

/// A capture replaced (renamed over) or deleted while keepwatch reads it is
/// read to its end: the open descriptor still refers to the file opened.
#[test]
fn file_replaced_or_deleted_while_read_is_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, starts) = many_connections(N / 2);
    let f = write(dir.path(), "ring.pcap", &bytes);
    for how in ["replaced", "deleted"] {
        std::fs::write(&f, &bytes).unwrap();
        let (mut child, mut stdout) = start_blocked(&f, &[]);
        if how == "replaced" {
            let other = write(
                dir.path(),
                "new.pcap",
                &pcap(1, false, false, &eth_conversation(1)),
            );
            std::fs::rename(&other, &f).unwrap();
        } else {
            std::fs::remove_file(&f).unwrap();
        }
        let mut out = String::new();
        stdout.read_to_string(&mut out).unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{how}: {err}");
        let (conns, summary) = common_jsonl(&out);
        assert_eq!(conns.len(), starts.len(), "{how}");
        assert_eq!(
            summary.unwrap()["summary"]["warnings"],
            serde_json::json!([])
        );
    }
}

/// Issue 15: a capture truncated by another process while keepwatch reads it
/// (a tcpdump ring rewriting its oldest file, `> file`). The mapped reader
/// died of SIGBUS with its JSONL cut mid-line; now the report says how much
/// the file shrank, reports every connection read before the cut, and exits 3.
///
/// Deterministic without timing: keepwatch's stdout is a pipe nobody reads,
/// so it blocks once the pipe is full, early in the file; the test truncates
/// the file then, and only then drains the pipe.
///
/// With one analysis thread the file is read through a memory map
/// (docs/input.md, "How a file is read"), where the truncation raises
/// SIGBUS that the map's guard must catch; with two, with `pread`.
#[test]
fn file_shrinking_while_read_is_reported_not_a_crash() {
    for threads in ["1", "2"] {
        shrinking_file(&["--threads", threads]);
    }
}

fn shrinking_file(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, starts) = many_connections(N);
    let total = bytes.len() as u64;
    assert!(total > 10_000_000, "{total}");
    let f = write(dir.path(), "copy.pcap", &bytes);
    drop(bytes);
    let (mut child, mut stdout) = start_blocked(&f, extra);
    let cut = 1_000_000u64;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&f)
        .unwrap()
        .set_len(cut)
        .unwrap();
    let mut out = Vec::new();
    stdout.read_to_end(&mut out).unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        None,
        "killed by a signal (SIGBUS is 7): {err}"
    );
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!(
            "shrank from {total} to {cut} bytes while being read"
        )),
        "{err}"
    );
    // JSONL intact: every line is JSON, the summary is last.
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    let (conns, summary) = common_jsonl(&text);
    let summary = summary.expect("summary line");
    assert!(lines.last().unwrap().starts_with("{\"summary\""));
    let packets = summary["summary"]["packets"].as_u64().unwrap();
    // Everything before the cut was read (what the reader had buffered
    // beyond it may be reported too), and not the whole file.
    let whole_before_cut = starts.iter().filter(|&&e| e as u64 <= cut).count();
    assert!(
        conns.len() >= whole_before_cut - 1,
        "{} < {whole_before_cut}",
        conns.len()
    );
    assert!(conns.len() < starts.len());
    // Each connection seen (its first record read) is reported once.
    let seen = conns.len();
    assert_eq!(
        summary["summary"]["connections"].as_u64().unwrap(),
        seen as u64
    );
    assert!(packets < N as u64 * 9);
    let w = summary["summary"]["warnings"].to_string();
    assert!(w.contains("shrank from"), "{w}");
}

fn common_jsonl(text: &str) -> (Vec<serde_json::Value>, Option<serde_json::Value>) {
    let mut conns = Vec::new();
    let mut summary = None;
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSONL line {line:?}: {e}"));
        if v.get("summary").is_some() {
            summary = Some(v);
        } else {
            conns.push(v);
        }
    }
    (conns, summary)
}

// ------------------------------------------------------- format cases ---

fn json_of(path: &Path) -> (i32, serde_json::Value, String) {
    let (code, out, err) = run(&["report", "--format", "json", path.to_str().unwrap()]);
    (
        code,
        serde_json::from_str(&out).unwrap_or(serde_json::Value::Null),
        err,
    )
}

#[test]
fn microsecond_fraction_of_a_million_or_more_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = pcap(1, false, false, &eth_conversation(2));
    // Records 2 and 5 (0-based) get fractions 1,000,000 and 4,000,000,000.
    let mut at = 24;
    let mut rec = 0;
    while at < b.len() {
        let caplen = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        match rec {
            2 => b[at + 4..at + 8].copy_from_slice(&1_000_000u32.to_le_bytes()),
            5 => b[at + 4..at + 8].copy_from_slice(&4_000_000_000u32.to_le_bytes()),
            _ => {}
        }
        at += 16 + caplen;
        rec += 1;
    }
    let f = write(dir.path(), "frac.pcap", &b);
    let (code, v, err) = json_of(&f);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["summary"]["packets"], eth_conversation(2).len());
    assert_eq!(v["summary"]["requests"], 2);
    let w = v["summary"]["warnings"].to_string();
    assert!(
        w.contains("2 records have a fraction of a second of 1,000,000 µs or more"),
        "{w}"
    );
}

/// Kuznetzov's "modified" pcap: magic 0xa1b2cd34, and 24-byte record headers
/// (ifindex, protocol, pkt_type, pad after the usual 16). It read as corrupt
/// after the first packet.
fn modified_pcap(big: bool, packets: &[(i64, Vec<u8>)]) -> Vec<u8> {
    PcapFormat {
        big_endian: big,
        modified: true,
        ..PcapFormat::new(1)
    }
    .packets(packets)
}

#[test]
fn modified_kuznetzov_pcap_reads_like_the_plain_one() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write(
        dir.path(),
        "plain.pcap",
        &pcap(1, false, false, &eth_conversation(3)),
    );
    let (code, want, err) = json_of(&plain);
    assert_eq!(code, 0, "{err}");
    assert_eq!(want["summary"]["requests"], 3);
    for big in [false, true] {
        let f = write(
            dir.path(),
            "kuz.pcap",
            &modified_pcap(big, &eth_conversation(3)),
        );
        let (code, got, err) = json_of(&f);
        assert_eq!(code, 0, "big-endian {big}: {err}");
        assert_eq!(got["files"][0]["damage"], serde_json::Value::Null);
        assert_eq!(got["summary"], want["summary"], "big-endian {big}");
        assert_eq!(got["connections"], want["connections"], "big-endian {big}");
    }
}

/// Enhanced packet blocks on interface 0, timestamps as raw units.
fn epbs(packets: &[(u64, Vec<u8>)]) -> Vec<u8> {
    packets
        .iter()
        .flat_map(|(raw, d)| epb(0, *raw, d))
        .collect()
}

/// The conversation's frames with timestamps in `units` per second.
fn raw_times(units: u64) -> Vec<(u64, Vec<u8>)> {
    eth_conversation(2)
        .into_iter()
        .map(|(t, d)| {
            let t = t as u128;
            let raw = (t / 1_000_000_000) * units as u128
                + (t % 1_000_000_000) * units as u128 / 1_000_000_000;
            (raw as u64, d)
        })
        .collect()
}

#[test]
fn pcapng_timestamp_resolutions_binary_and_absurd() {
    let dir = tempfile::tempdir().unwrap();
    let micro = [shb(1, 0), idb(1, None, None), epbs(&raw_times(1_000_000))].concat();
    let (code, want, err) = json_of(&write(dir.path(), "us.pcapng", &micro));
    assert_eq!(code, 0, "{err}");
    // 2^-20 s: read, not taken for microseconds.
    let bin = [
        shb(1, 0),
        idb(1, Some(0x80 | 20), None),
        epbs(&raw_times(1 << 20)),
    ]
    .concat();
    let (code, got, err) = json_of(&write(dir.path(), "bin.pcapng", &bin));
    assert_eq!(code, 0, "{err}");
    // 1 ms is 1048.576 units, stored as 1048: 999.45 µs (as microseconds
    // the raw value would read 1.048 ms).
    assert_eq!(
        want["summary"]["first_packet"],
        "2023-11-14T22:13:20.001000Z"
    );
    assert_eq!(
        got["summary"]["first_packet"],
        "2023-11-14T22:13:20.000999450Z"
    );
    assert_eq!(got["summary"]["requests"], 2);
    // 10^-25 and 2^-100 do not fit: warned, read as microseconds.
    for (resol, shown) in [(25u8, "10^-25"), (0x80 | 100, "2^-100")] {
        let bad = [
            shb(1, 0),
            idb(1, Some(resol), None),
            epbs(&raw_times(1_000_000)),
        ]
        .concat();
        let (code, got, err) = json_of(&write(dir.path(), "bad.pcapng", &bad));
        assert_eq!(code, 0, "{err}");
        let w = got["summary"]["warnings"].to_string();
        assert!(
            w.contains(&format!(
                "timestamp resolution (if_tsresol) {shown} is impossible"
            )),
            "{w}"
        );
        assert_eq!(
            got["summary"]["first_packet"],
            want["summary"]["first_packet"]
        );
        assert_eq!(got["summary"]["requests"], 2);
    }
}

/// Issue 11: an if_tsoffset near i64::MAX overflowed the timestamp
/// arithmetic (a panic in debug builds, a silent wrap in release).
#[test]
fn pcapng_absurd_tsoffset_is_clamped_and_warned_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    for off in [i64::MAX, i64::MAX - 5, i64::MIN, -4_000_000_000_000] {
        let b = [
            shb(1, 0),
            idb(1, None, Some(off)),
            epbs(&raw_times(1_000_000)),
        ]
        .concat();
        let (code, v, err) = json_of(&write(dir.path(), "off.pcapng", &b));
        assert_eq!(code, 0, "offset {off}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            v["summary"]["packets"],
            eth_conversation(2).len(),
            "offset {off}"
        );
        let w = v["summary"]["warnings"].to_string();
        assert!(w.contains("is more than a century"), "{off}: {w}");
        assert!(
            w.contains(&format!(
                "{} packets have a timestamp outside the years 1677-2262",
                eth_conversation(2).len()
            )),
            "{off}: {w}"
        );
    }
    // A plausible offset (one hour) shifts the timestamps, no warning.
    let b = [
        shb(1, 0),
        idb(1, None, Some(3600)),
        epbs(&raw_times(1_000_000)),
    ]
    .concat();
    let (code, v, err) = json_of(&write(dir.path(), "hour.pcapng", &b));
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["summary"]["warnings"], serde_json::json!([]));
    assert_eq!(v["summary"]["first_packet"], "2023-11-14T23:13:20.001000Z");
}

/// libpcap ("unsupported pcapng savefile version") and Wireshark refuse a
/// section of major version 2; so does keepwatch, clearly.
#[test]
fn pcapng_major_version_2_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pkts = epbs(&raw_times(1_000_000));
    let v2 = [shb(2, 0), idb(1, None, None), pkts.clone()].concat();
    let f = write(dir.path(), "v2.pcapng", &v2);
    let (code, _, err) = run(&["report", f.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("says version 2.0; only version 1 is defined"),
        "{err}"
    );
    // A later section of version 2: what came before is reported, exit 3.
    let later = [
        shb(1, 0),
        idb(1, None, None),
        pkts.clone(),
        shb(2, 0),
        idb(1, None, None),
        pkts,
    ]
    .concat();
    let (code, v, err) = json_of(&write(dir.path(), "later.pcapng", &later));
    assert_eq!(code, 3, "{err}");
    assert_eq!(v["summary"]["packets"], eth_conversation(2).len());
    assert!(err.contains("says version 2.0"), "{err}");
    // 1.2 (written by some tools) is read like 1.0, silently, as libpcap does.
    let v12 = [shb(1, 2), idb(1, None, None), epbs(&raw_times(1_000_000))].concat();
    let (code, v, err) = json_of(&write(dir.path(), "v12.pcapng", &v12));
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["summary"]["warnings"], serde_json::json!([]));
    assert_eq!(v["summary"]["requests"], 2);
}
