//! docs/at-scale.md's DuckDB query, run for real: the SQL block is taken from
//! the doc verbatim and run with DuckDB's Python package on
//! `keepwatch report --per-file --format jsonl` over every sample capture; each
//! server's row must match keepwatch's own per-file summaries. Skips (with the
//! reason) when python3 or its `duckdb` package is missing.

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};

/// The doc's one ```sql block.
fn doc_sql() -> String {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/at-scale.md"),
    )
    .unwrap();
    let blocks: Vec<&str> = doc
        .split("```sql\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(
        blocks.len(),
        1,
        "docs/at-scale.md should hold one sql block"
    );
    blocks[0].to_string()
}

/// Runs SQL (on stdin) with DuckDB in `dir`; rows as JSON objects.
const RUNNER: &str = r#"
import duckdb, json, sys
con = duckdb.connect()
cur = con.execute(sys.stdin.read())
cols = [d[0] for d in cur.description]
print(json.dumps([dict(zip(cols, row)) for row in cur.fetchall()]))
"#;

#[test]
fn duckdb_query_of_the_docs_matches_keepwatch_summaries() {
    let python = match Command::new("python3")
        .args(["-c", "import duckdb"])
        .output()
    {
        Err(e) => {
            common::skip(&format!("python3 not runnable: {e}"));
            return;
        }
        Ok(o) if !o.status.success() => {
            common::skip("python3 has no duckdb package (pip install duckdb)");
            return;
        }
        Ok(_) => "python3",
    };
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(common::samples_dir().join("captures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() > 10);
    let out = Command::new(common::bin())
        .args(["report", "--per-file", "--format", "jsonl"])
        .args(&files)
        .output()
        .unwrap();
    // 3: a sample cut short on purpose is still reported.
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.path().join("keepwatch.jsonl"), &out.stdout).unwrap();

    // What keepwatch itself says, per server, summed over the per-file summaries.
    #[derive(Default, Debug, PartialEq)]
    struct Want {
        files: u64,
        connections: u64,
        requests: u64,
        reused: u64,
        stale: u64,
    }
    let mut want: BTreeMap<String, Want> = BTreeMap::new();
    let mut summaries = 0;
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let Some(s) = v.get("summary") else { continue };
        summaries += 1;
        for (server, g) in s["per_server"].as_object().unwrap() {
            let w = want.entry(server.clone()).or_default();
            let n = |k: &str| g[k].as_u64().unwrap();
            w.files += 1;
            w.connections += n("connections");
            w.requests += n("requests");
            w.reused += n("reused_connections");
            w.stale += n("stale_requests");
        }
    }
    assert_eq!(summaries, files.len());

    let mut child = Command::new(python)
        .args(["-c", RUNNER])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc_sql().as_bytes())
        .unwrap();
    let res = child.wait_with_output().unwrap();
    assert!(
        res.status.success(),
        "duckdb: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&res.stdout).unwrap();
    let mut got: BTreeMap<String, Want> = BTreeMap::new();
    for r in &rows {
        let n = |k: &str| {
            r[k].as_u64()
                .unwrap_or_else(|| panic!("{k} not a count in {r}"))
        };
        let w = Want {
            files: n("files"),
            connections: n("connections"),
            requests: n("requests"),
            reused: n("reused_connections"),
            stale: n("stale_requests"),
        };
        let pct = r["reused_pct"].as_f64().unwrap();
        let expect_pct = (1000.0 * w.reused as f64 / w.connections as f64).round() / 10.0;
        assert!((pct - expect_pct).abs() < 1e-9, "{r}");
        got.insert(r["server"].as_str().unwrap().to_string(), w);
    }
    assert_eq!(got, want);
    // The samples exercise the interesting cases: reuse, none, stale requests,
    // and a server seen in several files.
    assert!(got.values().any(|w| w.reused > 0));
    assert!(got.values().any(|w| w.reused == 0));
    assert!(got.values().any(|w| w.stale > 0));
    assert!(got.values().any(|w| w.files > 1));
    // Ordered as the query says: most connections first.
    let counts: Vec<u64> = rows
        .iter()
        .map(|r| r["connections"].as_u64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    // The first rows the doc shows are the query's first rows.
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/at-scale.md"),
    )
    .unwrap();
    let shown: Vec<Vec<String>> = doc
        .lines()
        .filter(|l| l.starts_with("│ 127.") || l.starts_with("│ ["))
        .map(|l| {
            l.trim_matches('│')
                .split('│')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    assert!(shown.len() >= 3, "the doc's result table not found");
    for (doc_row, r) in shown.iter().zip(&rows) {
        let real: Vec<String> = [
            r["server"].as_str().unwrap().to_string(),
            r["files"].to_string(),
            r["connections"].to_string(),
            r["requests"].to_string(),
            r["reused_connections"].to_string(),
            format!("{:.1}", r["reused_pct"].as_f64().unwrap()),
            r["stale_requests"].to_string(),
        ]
        .into();
        assert_eq!(doc_row, &real, "docs/at-scale.md's table drifted");
    }
}
