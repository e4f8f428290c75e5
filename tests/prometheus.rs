//! `keepwatch live --metrics` scraped by a real Prometheus server (Debian
//! package `prometheus`) while curl talks to a private nginx on 127.0.0.1;
//! the counters are then read back through Prometheus's HTTP API and checked
//! against the traffic sent. Needs root (or CAP_NET_RAW), nginx, curl and
//! prometheus; without them the test prints `SKIPPED: reason`.

mod common;
mod support;

use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{free_port, wait_for, ChildGuard, Live, Nginx};

/// One instant query through Prometheus's HTTP API: the single sample's
/// value, or None while the query has no result.
fn query(prom_port: u16, q: &str) -> Option<f64> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-G"])
        .arg(format!("http://127.0.0.1:{prom_port}/api/v1/query"))
        .arg("--data-urlencode")
        .arg(format!("query={q}"))
        .output()
        .expect("run curl");
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    assert_eq!(v["status"], "success", "query {q}: {v}");
    let res = v["data"]["result"].as_array()?;
    match res.as_slice() {
        [] => None,
        [one] => one["value"][1].as_str()?.parse().ok(),
        more => panic!("query {q} gave {} series, expected one: {v}", more.len()),
    }
}

/// GET /metrics by hand: (headers, body).
fn scrape(port: u16) -> (String, String) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect to /metrics");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(c, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    (head.to_ascii_lowercase(), body.to_string())
}

/// The Prometheus text format, parsed: `name{labels}` → value. Every line is
/// a comment (`# HELP`, `# TYPE`) or a sample, and every sample's family has
/// a `# TYPE` line before it.
fn parse_text_format(body: &str) -> HashMap<String, f64> {
    let mut typed = Vec::new();
    let mut samples = HashMap::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            typed.push(it.next().unwrap().to_string());
            let kind = it.next().unwrap();
            assert!(matches!(kind, "counter" | "gauge"), "{line}");
        } else if line.starts_with("# HELP ") || line.is_empty() {
        } else {
            let (key, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
            let name = key.split('{').next().unwrap();
            assert!(typed.iter().any(|t| t == name), "no # TYPE for {line}");
            let v: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
            samples.insert(key.to_string(), v);
        }
    }
    samples
}

#[test]
fn prometheus_scrapes_live_reuse_counters() {
    require_capture!();
    for tool in ["curl", "prometheus"] {
        if support::which(tool).is_none() {
            common::skip(&format!("{tool} not installed (apt-get install {tool})"));
            return;
        }
    }
    let nginx = match Nginx::start(false) {
        Ok(n) => n,
        Err(why) => {
            common::skip(&why);
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port(false);
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let filter = format!("tcp port {}", nginx.port);
    let mut live = Live::spawn(
        &common::bin(),
        &[
            "live",
            "-i",
            "lo",
            "-f",
            &filter,
            "--format",
            "jsonl",
            "--metrics",
            &metrics_addr,
        ],
        dir.path(),
    );
    live.wait_listening();
    assert!(
        live.stderr_text().contains(&format!(
            "keepwatch: metrics at http://{metrics_addr}/metrics"
        )),
        "{}",
        live.stderr_text()
    );

    // Prometheus on its own port and storage, scraping keepwatch every second.
    let prom_port = free_port(false);
    let conf = dir.path().join("prometheus.yml");
    std::fs::write(
        &conf,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: keepwatch\n    static_configs:\n      - targets: ['{metrics_addr}']\n"
        ),
    )
    .unwrap();
    let prom_log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let mut prom = ChildGuard {
        child: Command::new(support::which("prometheus").unwrap())
            .arg(format!("--config.file={}", conf.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdin(Stdio::null())
            .stdout(prom_log.try_clone().unwrap())
            .stderr(prom_log)
            .spawn()
            .expect("start prometheus"),
        name: "prometheus",
    };
    let prom_log_text = || support::read_lossy(&dir.path().join("prometheus.log"));
    wait_for("prometheus to be ready", Duration::from_secs(60), || {
        if let Ok(Some(st)) = prom.child.try_wait() {
            panic!("prometheus exited ({st}): {}", prom_log_text());
        }
        let out = Command::new("curl")
            .args(["-sf", "--max-time", "2"])
            .arg(format!("http://127.0.0.1:{prom_port}/-/ready"))
            .output()
            .ok()?;
        out.status.success().then_some(())
    });

    // 3 curl runs, each 4 URLs over one keep-alive connection.
    for run in 0..3 {
        let urls: Vec<String> = (0..4)
            .map(|i| format!("http://127.0.0.1:{}/r{run}-{i}", nginx.port))
            .collect();
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "20"]);
        for u in &urls {
            cmd.args(["-o", "/dev/null", u]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Connections are counted when they end: curl closes at exit, and
    // keepwatch reports a closed connection after its 5 s linger.
    let server = format!("127.0.0.1:{}", nginx.port);
    let q = |name: &str| format!("{name}{{job=\"keepwatch\",server=\"{server}\"}}");
    wait_for(
        "Prometheus to see the 3 closed connections",
        Duration::from_secs(60),
        || {
            if let Ok(Some(st)) = prom.child.try_wait() {
                panic!("prometheus exited ({st}): {}", prom_log_text());
            }
            (query(prom_port, &q("keepwatch_connections_closed_total")) == Some(3.0)).then_some(())
        },
    );
    let expect = [
        ("keepwatch_connections_opened_total", 3.0),
        ("keepwatch_requests_total", 12.0),
        ("keepwatch_responses_total", 12.0),
        ("keepwatch_reused_connections_total", 3.0),
        ("keepwatch_handshakes_total", 3.0),
        ("keepwatch_handshakes_saved_total", 9.0),
        ("keepwatch_stale_requests_total", 0.0),
    ];
    for (name, want) in expect {
        assert_eq!(query(prom_port, &q(name)), Some(want), "{name}");
    }
    assert_eq!(
        query(
            prom_port,
            &format!("keepwatch_verdicts_total{{server=\"{server}\",verdict=\"reused\"}}")
        ),
        Some(3.0)
    );
    assert_eq!(
        query(
            prom_port,
            &format!(
                "keepwatch_close_reasons_total{{server=\"{server}\",reason=\"client-finished\"}}"
            )
        ),
        Some(3.0)
    );
    // The reuse ratio a Grafana panel shows (docs/at-scale.md).
    assert_eq!(
        query(
            prom_port,
            &format!(
                "sum by (server) (keepwatch_reused_connections_total{{server=\"{server}\"}}) \
                 / sum by (server) (keepwatch_connections_closed_total{{server=\"{server}\"}})"
            )
        ),
        Some(1.0)
    );
    assert_eq!(
        query(prom_port, "keepwatch_capture_drops_total{by=\"keepwatch\"}"),
        Some(0.0)
    );
    let packets = query(prom_port, "keepwatch_capture_packets_total").unwrap();

    // The same endpoint scraped by hand: the text format, and the numbers
    // keepwatch itself prints in its summary.
    let (head, body) = scrape(metrics_port);
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let m = parse_text_format(&body);
    let k = |name: &str| format!("{name}{{server=\"{server}\"}}");
    assert_eq!(m[&k("keepwatch_requests_total")], 12.0, "{body}");
    assert!(m["keepwatch_capture_packets_total"] >= packets);
    assert_eq!(m["keepwatch_open_connections"], 0.0, "{body}");

    assert!(live.interrupt().success(), "{}", live.stderr_text());
    let (conns, summary) = support::parse_jsonl(&live.stdout_text());
    assert_eq!(conns.len(), 3, "{}", live.stdout_text());
    let s = &summary.expect("a summary line")["summary"];
    assert_eq!(s["requests"], 12);
    assert_eq!(s["reused_connections"], 3);
    assert_eq!(
        s["packets"].as_f64().unwrap(),
        m["keepwatch_capture_packets_total"]
    );
    drop(prom);
}

/// A --metrics address that cannot be served is an error before capturing.
#[test]
fn live_metrics_on_a_taken_port_is_an_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(common::bin())
        .args(["live", "-i", "lo", "--duration", "1", "--metrics", &addr])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot serve metrics on {addr}")),
        "{err}"
    );
    assert!(!err.contains("listening on"), "{err}");
}
