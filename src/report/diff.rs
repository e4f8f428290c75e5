//! `keepwatch diff --format text`: before, after and change per server.

use super::printable;
use super::text::Style;
use crate::analysis::diff::{Diff, ServerSide};
use std::io::{self, Write};

fn signed(v: i64) -> String {
    if v > 0 {
        format!("+{v}")
    } else {
        v.to_string()
    }
}

fn rows(b: &ServerSide, a: &ServerSide) -> Vec<(&'static str, String, String, String)> {
    let n = |label, x: u64, y: u64| {
        (
            label,
            x.to_string(),
            y.to_string(),
            signed(y as i64 - x as i64),
        )
    };
    let mean_change = a.requests_per_connection_mean - b.requests_per_connection_mean;
    vec![
        n("connections", b.connections, a.connections),
        n("requests", b.requests, a.requests),
        n(
            "reused connections",
            b.reused_connections,
            a.reused_connections,
        ),
        (
            "requests per connection",
            format!("{:.2}", b.requests_per_connection_mean),
            format!("{:.2}", a.requests_per_connection_mean),
            format!(
                "{}{mean_change:.2}",
                if mean_change > 0.0 { "+" } else { "" }
            ),
        ),
        n("handshakes saved", b.handshakes_saved, a.handshakes_saved),
        n("stale requests", b.stale_requests, a.stale_requests),
    ]
}

fn findings_line(side: &ServerSide) -> String {
    if side.findings.is_empty() {
        return "none".into();
    }
    side.findings
        .iter()
        .map(|f| {
            let mut s = f.kind.as_str().to_string();
            if let Some(v) = f.value {
                s.push_str(&format!(" (value {v})"));
            }
            if let Some(c) = &f.client {
                s.push_str(&format!(" client {}", printable(c)));
            }
            s.push_str(&format!(
                " on {} connection{}",
                f.connections,
                if f.connections == 1 { "" } else { "s" }
            ));
            s
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `before` / `after` name the files of each side.
pub fn write_text<W: Write>(
    w: &mut W,
    d: &Diff,
    before: &str,
    after: &str,
    st: Style,
) -> io::Result<()> {
    writeln!(w, "{} {}", st_bold(st, "before"), printable(before))?;
    writeln!(w, "  {}", printable(&d.before.headline))?;
    writeln!(w, "{} {}", st_bold(st, "after "), printable(after))?;
    writeln!(w, "  {}", printable(&d.after.headline))?;
    let head = |w: &mut W, title: &str| {
        writeln!(w)?;
        writeln!(
            w,
            "{}",
            st_bold(
                st,
                &format!(
                    "{:<28} {:>10} {:>10} {:>10}",
                    title, "before", "after", "change"
                )
            )
        )
    };
    if d.servers.len() > 1 {
        let total = |s: &crate::analysis::Summary| ServerSide {
            connections: s.connections,
            requests: s.requests,
            reused_connections: s.reused_connections,
            requests_per_connection_mean: s.requests_per_connection_mean,
            handshakes_saved: s.handshakes_saved,
            stale_requests: s.stale_requests,
            findings: s.findings.clone(),
        };
        let (b, a) = (total(&d.before), total(&d.after));
        head(w, "all servers")?;
        for (label, x, y, c) in rows(&b, &a) {
            writeln!(w, "  {label:<26} {x:>10} {y:>10} {c:>10}")?;
        }
    }
    for s in &d.servers {
        head(w, &format!("server {}", printable(&s.server)))?;
        for (label, x, y, c) in rows(&s.before, &s.after) {
            writeln!(w, "  {label:<26} {x:>10} {y:>10} {c:>10}")?;
        }
        writeln!(w, "  findings before: {}", findings_line(&s.before))?;
        writeln!(w, "  findings after:  {}", findings_line(&s.after))?;
        if !s.change.findings_gone.is_empty() {
            writeln!(w, "  gone: {}", s.change.findings_gone.join(", "))?;
        }
        if !s.change.findings_new.is_empty() {
            writeln!(w, "  new:  {}", s.change.findings_new.join(", "))?;
        }
    }
    Ok(())
}

fn st_bold(st: Style, s: &str) -> String {
    if st.color {
        format!("\x1b[1m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}
