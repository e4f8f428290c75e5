//! Capture-layer edge cases on files built byte by byte: BPF filters on every
//! link type keepwatch decodes, frames cut by a small snaplen, open errors and
//! pcapng oddities. Bad input gets a clear error or warning, never a panic, and
//! nothing read is dropped silently.

mod common;

use common::build::*;
use std::process::Command;

/// Runs `keepwatch report ARGS` and returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(common::bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn missing_file_error_says_the_reason_once() {
    let (code, _, err) = run(&["report", "/nonexistent/keepwatch-test.pcap"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn directory_is_not_a_capture_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, _, err) = run(&["report", d]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is a directory, not a capture file"), "{err}");
    assert!(!err.contains("os error"), "{err}");
}

// ---------------------------------------------------------------------------
// BPF filters per link type

const T0: i64 = 1_700_000_000_000_000_000;

/// One HTTP connection over IPv4 and one over IPv6 (`::1`), 8 packets each.
fn both_families() -> Vec<(i64, Vec<u8>)> {
    let mut v = http_conversation("10.0.0.1", 40000, "10.0.0.2", 1, T0);
    v.extend(http_conversation("::1", 40001, "::1", 1, T0 + 100_000_000));
    v
}

type Frames = Vec<(i64, Vec<u8>)>;

/// (name, link type, big-endian file, frames) for every link type decoded.
fn link_type_files() -> Vec<(String, u32, bool, Frames)> {
    let ips = both_families();
    let wrap =
        |f: &dyn Fn(&[u8]) -> Vec<u8>| -> Frames { ips.iter().map(|(t, p)| (*t, f(p))).collect() };
    let mut v = vec![
        ("ethernet".to_string(), 1, false, wrap(&|p| ethernet(p))),
        ("raw".into(), 101, false, wrap(&|p| p.to_vec())),
        ("raw12".into(), 12, false, wrap(&|p| p.to_vec())),
        ("sll".into(), 113, false, wrap(&sll)),
        ("sll2".into(), 276, false, wrap(&sll2)),
    ];
    for af6 in [24, 28, 30] {
        v.push((
            format!("null-af{af6}"),
            0,
            false,
            wrap(&|p| loopback(p, af6, false)),
        ));
        // Written on a big-endian machine: the word and the file both swapped.
        v.push((
            format!("null-be-af{af6}"),
            0,
            true,
            wrap(&|p| loopback(p, af6, true)),
        ));
        v.push((
            format!("loop-af{af6}"),
            108,
            false,
            wrap(&|p| loopback(p, af6, true)),
        ));
    }
    let v4: Vec<_> = ips.iter().filter(|(_, p)| !is_v6(p)).cloned().collect();
    let v6: Vec<_> = ips.iter().filter(|(_, p)| is_v6(p)).cloned().collect();
    v.push(("ipv4".into(), 228, false, v4));
    v.push(("ipv6".into(), 229, false, v6));
    v
}

fn write_files(dir: &std::path::Path) -> Vec<(String, std::path::PathBuf, usize, usize)> {
    link_type_files()
        .into_iter()
        .map(|(name, lt, be, frames)| {
            let p = dir.join(format!("{name}.pcap"));
            std::fs::write(&p, pcap(lt, be, false, &frames)).unwrap();
            let v6 = frames
                .iter()
                .filter(|(_, f)| {
                    let ip_at = match lt {
                        1 => 14,
                        0 | 108 => 4,
                        113 => 16,
                        276 => 20,
                        _ => 0,
                    };
                    is_v6(&f[ip_at..])
                })
                .count();
            (name, p, frames.len(), v6)
        })
        .collect()
}

fn filtered(path: &std::path::Path, expr: &str) -> keepwatch::engine::Report {
    let opts = keepwatch::engine::Options {
        filter: Some(expr.to_string()),
        ..Default::default()
    };
    common::analyze_with(&[path], opts)
}

/// The counts tcpdump gives on the same files (checked by
/// `filter_matches_tcpdump` where tcpdump is installed).
#[test]
fn filter_passes_what_tcpdump_passes_on_every_link_type() {
    let dir = tempfile::tempdir().unwrap();
    for (name, path, total, v6) in write_files(dir.path()) {
        let v4 = total - v6;
        for (expr, want) in [
            ("tcp", total),
            ("tcp port 80", total),
            ("ip6", v6),
            ("host ::1", v6),
            ("ip", v4),
            ("host 10.0.0.1", v4),
            ("udp", 0),
        ] {
            let r = filtered(&path, expr);
            assert!(r.skipped.unfilterable.is_empty(), "{name} '{expr}'");
            let passed = r.summary.packets - r.skipped.filtered_out;
            assert_eq!(passed, want as u64, "{name} '{expr}'");
            assert_eq!(r.summary.tcp_packets, want as u64, "{name} '{expr}'");
            assert_eq!(r.summary.handshakes, want as u64 / 8, "{name} '{expr}'");
        }
    }
}

/// Same files, same expressions, against tcpdump itself when it is installed.
#[test]
fn filter_matches_tcpdump() {
    if Command::new("tcpdump").arg("--version").output().is_err() {
        common::skip("tcpdump not installed: filter_matches_tcpdump");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, path, _, _) in write_files(dir.path()) {
        if name == "raw12" {
            continue; // tcpdump reads LINKTYPE 12 only where DLT_RAW is 12
        }
        for expr in [
            "tcp",
            "ip6",
            "tcp port 80",
            "host ::1",
            "greater 80",
            "not tcp",
        ] {
            let out = Command::new("tcpdump")
                .args(["-nr", path.to_str().unwrap(), expr])
                .output()
                .unwrap();
            let tcpdump = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.as_bytes().first().is_some_and(u8::is_ascii_digit))
                .count() as u64;
            let r = filtered(&path, expr);
            assert!(r.skipped.unfilterable.is_empty(), "{name} '{expr}'");
            assert_eq!(
                r.summary.packets - r.skipped.filtered_out,
                tcpdump,
                "{name} '{expr}'"
            );
        }
    }
}

#[test]
fn expression_that_cannot_compile_for_a_link_type_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_files(dir.path());
    let (_, raw, total, _) = files.iter().find(|f| f.0 == "raw").unwrap();
    let r = filtered(raw, "ether host 00:11:22:33:44:55");
    assert_eq!(r.skipped.filtered_out, 0);
    assert_eq!(r.skipped.unfilterable.get(&101), Some(&(*total as u64)));
    let w = r
        .summary
        .warnings
        .iter()
        .find(|w| w.contains("could not be filtered"))
        .unwrap_or_else(|| panic!("{:?}", r.summary.warnings));
    assert!(
        w.starts_with(&format!("{total} packets on link type 101 (RAW)")),
        "{w}"
    );
    assert!(
        w.contains("ethernet addresses") && w.ends_with("they were left out"),
        "{w}"
    );
    // A pcapng mixing Ethernet and raw IP: the Ethernet frames are filtered.
    let ips = both_families();
    let mut pkts: Vec<(u32, i64, Vec<u8>)> = Vec::new();
    for (t, p) in &ips {
        pkts.push((0, *t, ethernet(p)));
        pkts.push((1, *t, p.clone()));
    }
    let ng = dir.path().join("mixed.pcapng");
    std::fs::write(&ng, pcapng(&[1, 101], &pkts)).unwrap();
    let r = filtered(&ng, "ether src 02:00:00:00:00:01 and ip6");
    assert_eq!(r.skipped.unfilterable.get(&101), Some(&(ips.len() as u64)));
    assert_eq!(r.summary.packets, 2 * ips.len() as u64);
    assert_eq!(
        r.summary.packets - r.skipped.filtered_out - ips.len() as u64,
        ips.len() as u64 / 2,
        "{:?}",
        r.skipped
    );
}

// ---------------------------------------------------------------------------
// Small snaplen: TCP headers with options cut inside the options

fn snaplen_report(client: &str, server: &str, snaplen: usize) -> keepwatch::engine::Report {
    let frames: Frames = http_conversation(client, 40000, server, 2, T0)
        .into_iter()
        .map(|(t, p)| (t, ethernet(&with_tcp_options(&p))))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.pcap");
    std::fs::write(&p, pcap_snaplen(1, snaplen, &frames)).unwrap();
    common::analyze(&[&p])
}

#[test]
fn snaplen_inside_tcp_options_keeps_the_connection() {
    // Ethernet + IPv4 = 34 bytes: 54 leaves exactly the fixed TCP header,
    // 60 and 64 part of the options, 66 all of it (the etherparse path).
    for (client, server, ip_hdr) in [("10.0.0.1", "10.0.0.2", 20), ("fd00::1", "fd00::2", 40)] {
        for cut in [20, 26, 30, 32] {
            let r = snaplen_report(client, server, 14 + ip_hdr + cut);
            let what = format!("{client} TCP bytes captured: {cut}");
            assert_eq!(r.skipped.malformed, 0, "{what}");
            assert_eq!(r.summary.tcp_packets, 10, "{what}");
            assert_eq!(r.summary.connections, 1, "{what}");
            assert_eq!(r.summary.handshakes, 1, "{what}");
            let c = &r.connections[0];
            assert_eq!(serde_json::json!(c.handshake), "complete", "{what}");
            assert_eq!(serde_json::json!(c.closed_by), "client", "{what}");
            assert!(c.client.ends_with(":40000"), "{what}: {}", c.client);
            assert!(c.server.ends_with(":80"), "{what}: {}", c.server);
            // Every payload byte is on the wire but not in the capture: gaps.
            let (req, resp) = (2 * REQ.len() as u64, 2 * RESP.len() as u64);
            assert_eq!(c.tcp.client_to_server.missing_bytes, req, "{what}");
            assert_eq!(c.tcp.server_to_client.missing_bytes, resp, "{what}");
            assert!(
                r.summary
                    .warnings
                    .iter()
                    .any(|w| w.contains("bytes the capture missed")),
                "{what}: {:?}",
                r.summary.warnings
            );
        }
    }
}

#[test]
fn snaplen_inside_the_fixed_tcp_header_is_malformed_not_lost() {
    let r = snaplen_report("10.0.0.1", "10.0.0.2", 14 + 20 + 19);
    assert_eq!(r.summary.packets, 10);
    assert_eq!(r.skipped.malformed, 10);
    assert_eq!(r.summary.tcp_packets, 0);
    assert!(
        r.summary
            .warnings
            .iter()
            .any(|w| w.contains("10 malformed or cut-short")),
        "{:?}",
        r.summary.warnings
    );
}

// ---------------------------------------------------------------------------
// pcapng oddities

fn eth_frames() -> Vec<(u32, i64, Vec<u8>)> {
    http_conversation("10.0.0.1", 40000, "10.0.0.2", 1, T0)
        .into_iter()
        .map(|(t, p)| (0, t, ethernet(&p)))
        .collect()
}

fn analyze_bytes(name: &str, bytes: &[u8]) -> keepwatch::engine::Report {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    common::analyze(&[&p])
}

#[test]
fn pcapng_without_interface_description_says_so() {
    let r = analyze_bytes("noidb.pcapng", &pcapng(&[], &eth_frames()));
    let f = &r.files[0];
    assert!(f.linktypes.is_empty());
    let d = f.damage.as_deref().unwrap_or_default();
    assert!(
        d.starts_with("no interface description block: 8 packet blocks could not be decoded"),
        "{d}"
    );
    assert!(
        r.summary
            .warnings
            .iter()
            .any(|w| w.contains("no interface description block")),
        "{:?}",
        r.summary.warnings
    );
}

#[test]
fn pcapng_corrupt_block_message_is_in_words() {
    let mut b = pcapng(&[1], &eth_frames());
    // The last block's trailing length no longer matches its leading one.
    let n = b.len();
    b[n - 4] ^= 0x40;
    let r = analyze_bytes("corrupt.pcapng", &b);
    let d = r.files[0].damage.as_deref().unwrap_or_default();
    assert!(d.starts_with("corrupt block at offset "), "{d}");
    assert!(d.contains("length fields disagree"), "{d}");
    assert!(!d.contains("Verify") && !d.contains('('), "{d}");
    assert!(d.ends_with("7 packets read before it"), "{d}");
}

#[test]
fn pcapng_simple_packet_blocks_get_a_note() {
    let mut b = pcapng(&[1], &eth_frames()[..1]);
    for (_, _, frame) in &eth_frames()[1..] {
        b.extend(spb(frame));
    }
    let r = analyze_bytes("spb.pcapng", &b);
    let f = &r.files[0];
    assert_eq!(f.packets, 8);
    assert!(f.damage.is_none(), "{:?}", f.damage);
    assert_eq!(f.notes.len(), 1, "{:?}", f.notes);
    assert!(f.notes[0].starts_with("7 simple packet blocks carry no timestamp"));
    assert!(
        r.summary
            .warnings
            .iter()
            .any(|w| w.contains("simple packet blocks")),
        "{:?}",
        r.summary.warnings
    );
    assert_eq!(r.summary.tcp_packets, 8);
}
