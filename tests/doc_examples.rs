//! Every `$ keepwatch ...` example in README.md and docs/*.md, with the output
//! shown under it, is what keepwatch really prints on the bundled samples.
//! An example that drifts from the program fails here (regenerate it by
//! running the command and pasting the output).

mod common;

use std::path::Path;

/// (file, command line, output shown) for each `$ keepwatch` line in a
/// fenced block, the output being the lines up to the next `$ ` or the fence.
fn examples() -> Vec<(String, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut in_block = false;
        let mut cur: Option<(String, Vec<&str>)> = None;
        for line in text.lines() {
            if line.starts_with("```") {
                if let Some((cmd, lines)) = cur.take() {
                    out.push((f.display().to_string(), cmd, lines.join("\n")));
                }
                in_block = !in_block;
                continue;
            }
            if !in_block {
                continue;
            }
            if let Some(cmd) = line.strip_prefix("$ ") {
                if let Some((c, lines)) = cur.take() {
                    out.push((f.display().to_string(), c, lines.join("\n")));
                }
                if cmd.starts_with("keepwatch ") {
                    cur = Some((cmd.to_string(), Vec::new()));
                }
            } else if let Some((_, lines)) = cur.as_mut() {
                lines.push(line);
            }
        }
    }
    out
}

#[test]
fn shown_output_is_real_output() {
    let ex = examples();
    assert!(ex.len() >= 2, "README's examples not found: {ex:?}");
    for (file, cmd, shown) in ex {
        let args: Vec<&str> = cmd.split_whitespace().skip(1).collect();
        let out = std::process::Command::new(common::bin())
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("NO_COLOR")
            .output()
            .expect("run keepwatch");
        let real = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            real.trim_end(),
            shown.trim_end(),
            "{file}: `{cmd}` prints something else than the example shows"
        );
    }
}
