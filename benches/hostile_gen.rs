//! Writes one hostile-input capture of issue 11 (see tests/hostile_gen).
//!
//!   cargo run --release --example hostile -- CASE N OUT.pcap
//!   cargo run --release --example hostile -- list
//!
//! Used by benches/hostile.sh, which records keepwatch's peak RSS on each.

#[path = "../tests/hostile_gen/mod.rs"]
mod hostile_gen;

use std::io::{BufWriter, Write};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("list") || args.len() != 3 {
        eprintln!("usage: hostile CASE N OUT.pcap   (N: count, e.g. 1000000)\ncases:");
        for (name, what) in hostile_gen::CASES {
            eprintln!("  {name:<15} {what}");
        }
        std::process::exit(if args.first().map(String::as_str) == Some("list") {
            0
        } else {
            2
        });
    }
    let n: u64 = match args[1].replace('_', "").parse() {
        Ok(n) => n,
        Err(_) => {
            eprintln!("hostile: N must be a count, not '{}'", args[1]);
            std::process::exit(2);
        }
    };
    let run = || -> std::io::Result<u64> {
        let f = std::fs::File::create(&args[2])?;
        let p = hostile_gen::generate(&args[0], n, BufWriter::with_capacity(1 << 20, f))?;
        let packets = p.packets;
        p.into_inner().flush()?;
        Ok(packets)
    };
    match run() {
        Ok(packets) => eprintln!("hostile: wrote {} ({} packets)", args[2], packets),
        Err(e) => {
            eprintln!("hostile: {}: {e}", args[2]);
            std::process::exit(1);
        }
    }
}
