//! Command line: `keepwatch report | live | interfaces | tui`.
//!
//! Exit codes (docs/output.md): 0 success; 1 error (nothing could be
//! analysed: unreadable file, not a capture, bad filter, no such interface);
//! 2 usage error; 3 the report was produced but some input was damaged (a file
//! cut short or with a corrupt block: everything before the damage is reported).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use keepwatch::capture::live::{Event, LiveCapture, LiveConfig};
use keepwatch::capture::CaptureFile;
use keepwatch::engine::{Analyzer, Options, Report};
use keepwatch::inspect::tls::KeyStore;
use keepwatch::report::{self, text, Format};
use keepwatch::tcp::TableConfig;
use keepwatch::time::Duration;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

pub const EXIT_OK: i32 = 0;
pub const EXIT_ERROR: i32 = 1;
pub const EXIT_DAMAGED: i32 = 3;

#[derive(Parser)]
#[command(
    name = "keepwatch",
    version,
    about = "Shows whether HTTP connections are reused (keep-alive) or torn down after each request"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DiffFormat {
    Text,
    Json,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// BPF filter, as tcpdump takes it (e.g. 'tcp port 80')
    #[arg(short = 'f', long = "filter", value_name = "BPF")]
    filter: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Seconds without a packet after which a connection is reported (as open) and freed
    #[arg(long, value_name = "SECS", default_value_t = 300.0, value_parser = positive_secs)]
    idle_timeout: f64,
    /// Colour the text report
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
    /// TLS key log (NSS format, as SSLKEYLOGFILE writes it): decrypt TLS where it
    /// has the secrets. Repeatable. `live` reads new lines as the file grows.
    #[arg(long = "keylog", value_name = "FILE")]
    keylog: Vec<PathBuf>,
    /// Memory the flow table may hold (e.g. 512M, 2G); past it the connections idle longest are finalised early, with a warning
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = memory_size)]
    memory_limit: usize,
}

#[derive(Subcommand)]
enum Cmd {
    /// Analyse capture files (pcap or pcapng, plain or gzip/zstd/xz) and print a report
    #[command(after_help = REPORT_HELP)]
    Report {
        /// Capture files; several are analysed together as one capture. `-`
        /// (or none, when standard input is a pipe) reads standard input
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
        /// One report per file instead of one over all files
        #[arg(long)]
        per_file: bool,
        /// Text format: print only the summary, no connection rows
        #[arg(long)]
        summary_only: bool,
        /// No progress line on stderr (it is shown only on a terminal, for inputs of 100 MB or more)
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Worker threads for the analysis (default: the cores available, or 1
        /// for a capture of large frames, 900 bytes or more on average, where
        /// a second thread costs more than it saves); 1 runs it on one thread.
        /// The output is the same whatever the number (unless --memory-limit
        /// evicts connections: it is split between them)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
        threads: Option<u16>,
    },
    /// Capture live from an interface and report connections as they end
    Live {
        /// Interface to capture on (`any` for all, Linux cooked capture)
        #[arg(short = 'i', long = "interface", value_name = "IFACE")]
        interface: String,
        #[command(flatten)]
        common: Common,
        /// Bytes to capture per packet (1 to 262144)
        #[arg(long, default_value_t = 262144, value_parser = snaplen_arg, allow_hyphen_values = true)]
        snaplen: i32,
        /// Stop after this many seconds
        #[arg(long, value_name = "SECS", value_parser = duration_secs, allow_hyphen_values = true)]
        duration: Option<f64>,
        /// Stop after this many packets
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Also write the captured packets to this pcap file
        #[arg(short = 'w', long = "write", value_name = "FILE")]
        write: Option<PathBuf>,
        /// After opening the device, drop root privileges to this user (like tcpdump -Z)
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Put the interface in promiscuous mode
        #[arg(long)]
        promisc: bool,
        /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9898)
        #[arg(long, value_name = "ADDR")]
        metrics: Option<String>,
        /// Servers with a label of their own in the metrics (the busiest); the rest count as server="other"
        #[arg(long, value_name = "N", default_value_t = keepwatch::metrics::DEFAULT_MAX_SERVERS)]
        metrics_servers: usize,
        /// Worker threads for the analysis, as `report --threads` (default 1:
        /// one thread keeps up with loopback load at a few percent of a core,
        /// see docs/performance.md). Rows, records and the summary are the
        /// same whatever the number (unless --memory-limit evicts connections)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
        threads: Option<u16>,
    },
    /// Compare two captures (before and after a fix): reuse per server
    ///
    /// `keepwatch diff BEFORE AFTER`, or with several files per side
    /// `keepwatch diff --before A.pcap B.pcap --after C.pcap`.
    Diff {
        /// BEFORE and AFTER capture, one file each
        #[arg(value_name = "FILE", num_args = 0..=2, conflicts_with_all = ["before", "after"])]
        files: Vec<PathBuf>,
        /// Capture files of the "before" side, analysed together
        #[arg(long, num_args = 1.., value_name = "FILE", requires = "after")]
        before: Vec<PathBuf>,
        /// Capture files of the "after" side, analysed together
        #[arg(long, num_args = 1.., value_name = "FILE", requires = "before")]
        after: Vec<PathBuf>,
        /// BPF filter applied to both sides, as tcpdump takes it
        #[arg(short = 'f', long = "filter", value_name = "BPF")]
        filter: Option<String>,
        /// Output format
        #[arg(long, value_enum, default_value = "text")]
        format: DiffFormat,
        /// Seconds without a packet after which a connection is reported (as open) and freed
        #[arg(long, value_name = "SECS", default_value_t = 300.0, value_parser = positive_secs)]
        idle_timeout: f64,
        /// Colour the text report
        #[arg(long, value_enum, default_value = "auto")]
        color: Color,
        /// TLS key log (NSS format, SSLKEYLOGFILE) for both sides. Repeatable.
        #[arg(long = "keylog", value_name = "FILE")]
        keylog: Vec<PathBuf>,
        /// Memory the flow table may hold, per side (e.g. 512M, 2G)
        #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = memory_size)]
        memory_limit: usize,
    },
    /// List the capture devices
    Interfaces,
    /// Interactive dashboard over capture files or a live interface
    Tui {
        /// Capture files, analysed together as one capture (`-`, or none when
        /// standard input is a pipe: standard input)
        #[arg(value_name = "FILE", conflicts_with = "interface")]
        files: Vec<PathBuf>,
        /// Capture live from this interface instead
        #[arg(short = 'i', long = "interface", value_name = "IFACE")]
        interface: Option<String>,
        /// BPF filter, as tcpdump takes it (e.g. 'tcp port 80')
        #[arg(short = 'f', long = "filter", value_name = "BPF")]
        filter: Option<String>,
        /// Seconds without a packet after which a connection is reported (as open) and freed
        #[arg(long, value_name = "SECS", default_value_t = 300.0, value_parser = positive_secs)]
        idle_timeout: f64,
        /// TLS key log (NSS format, SSLKEYLOGFILE): decrypt TLS with it. Repeatable.
        #[arg(long = "keylog", value_name = "FILE")]
        keylog: Vec<PathBuf>,
        /// Memory the flow table may hold (e.g. 512M, 2G)
        #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = memory_size)]
        memory_limit: usize,
        /// With -i: worker threads for the analysis, as `live --threads`
        /// (default 1). The rows and records are the same whatever the number
        /// (unless --memory-limit evicts connections)
        #[arg(long, value_name = "N", requires = "interface", value_parser = clap::value_parser!(u16).range(1..=256))]
        threads: Option<u16>,
    },
}

/// `1073741824`, `512K`, `512M`, `2G`, `1.5G`, `64MiB`, `2GB` (binary units;
/// at least 1 MiB, so the table can hold a few connections).
fn memory_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("'{s}' is not a size (e.g. 512M, 2G)")),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 512M, 2G)"))?;
    let bytes = v * mult;
    if !bytes.is_finite() || bytes >= usize::MAX as f64 {
        return Err(format!("'{s}' is too large"));
    }
    if bytes < (1 << 20) as f64 {
        return Err(format!(
            "'{s}' is too small: the memory limit is at least 1M"
        ));
    }
    Ok(bytes as usize)
}

/// `keepwatch report --help`, after the options: the words a reader of the
/// output needs. docs/output.md is the full contract.
const REPORT_HELP: &str = "\
Formats (--format):
  text   a table of connections, then a summary (--summary-only: the summary alone)
  json   one document: connections, summary, files, skipped frames
  jsonl  one connection per line as each ends, then one summary line
  csv    one row per connection, with a header row

Verdicts: reused, reuse-failed, single-request-kept-open, single-request-closed,
  unanswered, no-http
Close reasons: connection-close-request, connection-close-response, http10-default,
  keep-alive-max, idle-timeout, server-closed-after-response, client-finished, reset,
  capture-ended, unknown

Exit codes: 0 success; 1 error, nothing analysed; 2 usage error;
  3 report printed but an input file was cut short or corrupt

Every field, verdict and close reason is explained in docs/output.md.";

fn positive_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("'{s}' is not a positive number of seconds")),
    }
}

/// Longest `--duration`: 10^9 s (about 31 years). Larger values cannot be
/// added to a clock reading (`Instant + 1e19 s` overflows and panics).
const MAX_DURATION_SECS: f64 = 1e9;

/// `--duration`: positive, finite, at most [`MAX_DURATION_SECS`].
fn duration_secs(s: &str) -> Result<f64, String> {
    let v = positive_secs(s)?;
    if v <= MAX_DURATION_SECS {
        Ok(v)
    } else {
        Err(format!(
            "'{s}' seconds is too long a duration (at most {MAX_DURATION_SECS:e})"
        ))
    }
}

/// Largest snapshot length accepted, as tcpdump's maximum (`MAXIMUM_SNAPLEN`).
const MAX_SNAPLEN: i32 = 262144;

/// `--snaplen`: 1 to 262144 bytes. (libpcap quietly turns 0 and negative
/// values into its default; keepwatch says so instead.)
fn snaplen_arg(s: &str) -> Result<i32, String> {
    match s.parse::<i64>() {
        Ok(v) if (1..=MAX_SNAPLEN as i64).contains(&v) => Ok(v as i32),
        Ok(_) => Err(format!(
            "'{s}' is not a snapshot length from 1 to {MAX_SNAPLEN} bytes"
        )),
        Err(_) => Err(format!("'{s}' is not a number of bytes")),
    }
}

/// What goes to stderr holds file names and packet bytes: the one escaping
/// policy (docs/output.md, "Escaping") applies.
fn safe(s: &str) -> std::borrow::Cow<'_, str> {
    keepwatch::escape::text(s)
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let r = match cli.cmd {
        Cmd::Report { ref files, .. }
            if files.is_empty() && !keepwatch::capture::file::stdin_is_data() =>
        {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            cmd.build();
            let e = cmd
                .find_subcommand_mut("report")
                .expect("subcommand")
                .error(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    "keepwatch report needs a capture FILE (or `-`, or a pipe on standard input)",
                );
            let _ = e.print();
            return 2;
        }
        Cmd::Report {
            files,
            common,
            per_file,
            summary_only,
            quiet,
            threads,
        } => report_cmd(
            &or_stdin(files),
            &common,
            ReportFlags {
                per_file,
                summary_only,
                quiet,
                threads: threads.map_or_else(default_threads, usize::from),
                auto_threads: threads.is_none(),
            },
        ),
        Cmd::Live {
            interface,
            common,
            snaplen,
            duration,
            count,
            write,
            user,
            promisc,
            metrics,
            metrics_servers,
            threads,
        } => live_cmd(
            LiveConfig {
                interface,
                filter: common.filter.clone(),
                snaplen,
                promisc,
                write,
                count,
                user,
            },
            &common,
            duration,
            metrics.map(|a| (a, metrics_servers)),
            threads.map_or(1, usize::from),
        ),
        Cmd::Interfaces => interfaces_cmd(),
        Cmd::Diff {
            files,
            before,
            after,
            filter,
            format,
            idle_timeout,
            color,
            keylog,
            memory_limit,
        } => diff_cmd(
            files,
            before,
            after,
            format,
            &Common {
                filter,
                format: Format::Json,
                idle_timeout,
                color,
                keylog,
                memory_limit,
            },
        ),
        // clap leaves `requires` unchecked when FILE (which conflicts with
        // -i) is given.
        Cmd::Tui {
            interface: None,
            threads: Some(_),
            ..
        } => {
            use clap::CommandFactory;
            let mut root = Cli::command();
            root.build();
            let tui = root.find_subcommand_mut("tui").expect("the tui subcommand");
            let e = tui.error(
                clap::error::ErrorKind::ArgumentConflict,
                "--threads is for the live dashboard (`keepwatch tui -i IFACE --threads N`); \
                 a capture file is read on one thread",
            );
            let _ = e.print();
            return 2;
        }
        Cmd::Tui {
            files,
            interface: None,
            ..
        } if files.is_empty() && !keepwatch::capture::file::stdin_is_data() => {
            use clap::CommandFactory;
            let mut root = Cli::command();
            root.build();
            let tui = root.find_subcommand_mut("tui").expect("the tui subcommand");
            let e = tui.error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "keepwatch tui needs capture files (`keepwatch tui FILE...`, \
                 `-` or a pipe for standard input) \
                 or a live interface (`keepwatch tui -i IFACE`, e.g. `-i lo`)",
            );
            let _ = e.print();
            return 2;
        }
        Cmd::Tui {
            files,
            interface,
            filter,
            idle_timeout,
            keylog,
            memory_limit,
            threads,
        } => tui_cmd(
            &or_stdin(files),
            interface,
            threads.map_or(1, usize::from),
            &Common {
                filter,
                format: Format::Text,
                idle_timeout,
                color: Color::Auto,
                keylog,
                memory_limit,
            },
        ),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            if e.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            {
                return EXIT_OK;
            }
            eprintln!("keepwatch: error: {}", safe(&format!("{e:#}")));
            EXIT_ERROR
        }
    }
}

/// The TLS secrets of `--keylog` files, read now (`growing`: followed as they
/// grow, live capture). A store is made even without `--keylog`: pcapng
/// Decryption Secrets Blocks add to it.
fn key_store(c: &Common, growing: bool) -> Result<std::sync::Arc<KeyStore>> {
    let ks = if growing {
        KeyStore::new_growing()
    } else {
        KeyStore::new()
    };
    for p in &c.keylog {
        if let Err(e) = ks.add_file(p) {
            if !growing {
                anyhow::bail!("key log {}: {e}", p.display());
            }
            eprintln!(
                "keepwatch: warning: key log {}: {e}; read again as it appears",
                p.display()
            );
        }
    }
    if !growing {
        ks.finish_files();
    }
    Ok(ks)
}

/// No file named (and standard input is data, checked before): read `-`.
fn or_stdin(files: Vec<PathBuf>) -> Vec<PathBuf> {
    if files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        files
    }
}

fn options(c: &Common, slim: bool) -> Options {
    Options {
        filter: c.filter.clone(),
        table: TableConfig {
            idle_timeout: Duration((c.idle_timeout * 1e9) as i64),
            ..TableConfig::default()
        }
        .with_memory_limit(c.memory_limit),
        slim_records: slim,
        // Text and CSV print no exchange lists.
        drop_exchanges: matches!(c.format, Format::Text | Format::Csv),
        ..Options::default()
    }
}

fn style(c: &Common) -> text::Style {
    let color = match c.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    text::Style { color }
}

/// `report`'s own flags.
struct ReportFlags {
    per_file: bool,
    summary_only: bool,
    quiet: bool,
    threads: usize,
    /// `--threads` unset: [`analysis_threads`] may choose one.
    auto_threads: bool,
}

/// `--threads` unset: one worker per available core.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Mean captured bytes per frame from which `report`, with `--threads`
/// unset, analyses on one thread: there the reading thread's copy from the
/// kernel is most of the work, and a second thread costs more than it takes
/// over. Two threads against one, interleaved (text, JSONL): 1.23x, 1.23x
/// at a 298-byte mean (dense.pcap); 1.03x, 1.12x at 787 bytes; 0.86x, 0.95x
/// at 1,002 bytes; 0.86x, 0.87x at 2,296 bytes (docs/performance.md,
/// "Session 8"). The JSON document is still rendered on every thread.
/// Since session 11 one thread reads through a map (no copy from the
/// kernel), which favours one thread further on big frames (capture-1x
/// text, one thread: 167 -> 115 ms); at 298 and 787 bytes two threads
/// still match or beat it, so the cut stays.
const ONE_THREAD_FRAME: u64 = 900;
/// Bytes sampled from the input to take that mean.
const FRAME_SAMPLE: u64 = 4 << 20;

/// The analysis threads for the files of one report: `threads`, or one
/// when it was not given and the frames sampled over [`FRAME_SAMPLE`]
/// bytes of the files (in order, as many as it takes; spread over a large
/// classic pcap file, else its head: `CaptureFile::sample_frames`) average
/// [`ONE_THREAD_FRAME`] bytes or more. Standard input and compressed
/// files are not sampled (reading ahead would consume or decompress them).
fn analysis_threads(group: &[&CaptureFile], threads: usize, auto: bool) -> usize {
    if !auto || threads <= 1 {
        return threads;
    }
    let (mut frames, mut bytes, mut read) = (0u64, 0u64, 0u64);
    for c in group {
        if read >= FRAME_SAMPLE {
            break;
        }
        if let Some((n, b)) = c.sample_frames(FRAME_SAMPLE - read) {
            frames += n;
            bytes += b;
            // Record headers included, roughly: enough to stop sampling.
            read += b + 16 * n + 24;
        }
    }
    if frames > 0 && bytes >= ONE_THREAD_FRAME * frames {
        1
    } else {
        threads
    }
}

fn report_cmd(files: &[PathBuf], common: &Common, flags: ReportFlags) -> Result<i32> {
    let ReportFlags {
        per_file,
        summary_only,
        quiet,
        threads,
        auto_threads,
    } = flags;
    // Open every file first so a typo fails before any output.
    let mut caps = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut dup_warnings = Vec::new();
    if files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        anyhow::bail!("`-` (standard input) can be given only once");
    }
    for f in files {
        let canon = std::fs::canonicalize(f).unwrap_or_else(|_| f.clone());
        if !seen.insert(canon) {
            let w = format!(
                "{} was given more than once: its packets are counted each time",
                f.display()
            );
            eprintln!("keepwatch: warning: {}", safe(&w));
            dup_warnings.push(w);
        }
        caps.push(CaptureFile::open(f)?);
    }
    let mut hinted = false;
    let input_bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    if input_bytes >= LARGE_INPUT_BYTES {
        hinted = large_capture_hint(common.format);
    }
    // The size is known when no input is compressed or a stream.
    let known = caps
        .iter()
        .all(|c| c.compression().is_none() && c.path().as_os_str() != "-");
    let mut progress = crate::progress::Progress::new(
        crate::progress::wanted(io::stderr().is_terminal(), quiet, input_bytes),
        known.then_some(input_bytes),
    );
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let groups: Vec<Vec<&CaptureFile>> = if per_file {
        caps.iter().map(|c| vec![c]).collect()
    } else {
        vec![caps.iter().collect()]
    };
    let mut damaged = false;
    if common.format == Format::Csv {
        report::csv::write_header(&mut out)?;
    }
    for (gi, group) in groups.iter().enumerate() {
        // JSONL and CSV stream each connection as it finishes and keep
        // nothing but the summary: memory stays flat on any capture length.
        let fmt = common.format;
        let streaming = matches!(fmt, Format::Jsonl | Format::Csv);
        let mut opts = options(common, streaming);
        opts.keys = Some(key_store(common, false)?);
        opts.threads = analysis_threads(group, threads, auto_threads);
        let one_thread = opts.threads <= 1;
        // The engine renders the streamed lines (on the worker threads when
        // there are several); they are written here as they come.
        opts.render = match fmt {
            Format::Jsonl => Some(render_jsonl),
            Format::Csv => Some(render_csv),
            Format::Text | Format::Json => None,
        };
        // Nothing here reads a record's exchanges but the JSONL line.
        opts.exchanges_only_rendered = fmt == Format::Jsonl;
        let mut an = Analyzer::new(opts).map_err(anyhow::Error::msg)?;
        for w in &dup_warnings {
            an.add_warning(w.clone());
        }
        let mut write_err: Option<io::Error> = None;
        let mut on_conn = |_: &keepwatch::analysis::ConnectionRecord| {};
        // The first write error is returned after the input is read.
        let mut write_out = |an: &mut Analyzer, out: &mut BufWriter<io::StdoutLock<'_>>| {
            if write_err.is_none() {
                if let Err(e) = an.write_rendered(out) {
                    write_err = Some(e);
                }
            }
        };
        for cap in group {
            // CSV always fills its `file` column; JSON names the file only
            // when there are several (docs/output.md).
            if group.len() > 1 || per_file || fmt == Format::Csv {
                an.set_current_file(Some(cap.name().to_string()));
            }
            // Record header bytes, so the count approaches the file size.
            let record = match cap.format() {
                keepwatch::capture::FileFormat::Pcapng => 32,
                _ => 16,
            };
            // One thread reads a regular file through a map (no copy from
            // the kernel); several read it with `pread` into blocks the
            // workers hold, which measured faster for them than the map
            // (docs/performance.md, "Session 11").
            cap.set_mapped(one_thread);
            let keys = an.keys().cloned();
            // Secrets in the capture wait for the worker threads to catch up.
            let cell = std::cell::RefCell::new(&mut an);
            let summary = cap.for_each_with_secrets(
                |p| {
                    let mut an = cell.borrow_mut();
                    an.packet(&p, &mut on_conn);
                    if an.has_rendered() {
                        write_out(&mut an, &mut out);
                    }
                    progress.packet(record + p.data.len() as u64, || an.open_connections());
                },
                |typ, data| {
                    if let Some(k) = &keys {
                        cell.borrow_mut().before_secrets();
                        k.add_dsb(typ, data);
                    }
                },
            )?;
            progress.clear();
            if summary.damage.is_some() {
                damaged = true;
                eprintln!(
                    "keepwatch: warning: {}: {}",
                    safe(&summary.path),
                    safe(summary.damage.as_deref().unwrap_or(""))
                );
            }
            an.add_file(summary);
        }
        an.end_input(&mut on_conn);
        write_out(&mut an, &mut out);
        let rep: Report = an.finish(&mut on_conn);
        if let Some(e) = write_err {
            return Err(e.into());
        }
        if !hinted && rep.connections.len() >= LARGE_RECORD_COUNT {
            hinted = large_capture_hint(common.format);
        }
        if rep.summary.tcp_packets == 0
            && !rep.skipped.unsupported_link_type.is_empty()
            && rep.skipped.filtered_out == 0
        {
            let (lt, _) = rep.skipped.unsupported_link_type.iter().next().unwrap();
            let names: Vec<String> = group.iter().map(|c| c.name().to_string()).collect();
            anyhow::bail!(
                "unsupported link type {lt} ({}) in {}: nothing could be decoded",
                keepwatch::decode::linktype::name(*lt),
                names.join(", ")
            );
        }
        match common.format {
            Format::Text => {
                if gi > 0 {
                    writeln!(out, "\n────────")?;
                }
                text::write_report(&mut out, &rep, style(common), !summary_only)?
            }
            // --per-file JSON: one array of reports, still one document.
            Format::Json if per_file => {
                write!(out, "{}", if gi == 0 { "[\n" } else { ",\n" })?;
                report::write_document(&mut out, &rep, threads)?;
                if gi + 1 == groups.len() {
                    writeln!(out, "\n]")?;
                }
            }
            Format::Json => report::write_json_threads(&mut out, &rep, threads)?,
            Format::Jsonl => report::write_jsonl_summary(&mut out, &rep)?,
            Format::Csv => {}
        }
        out.flush().context("writing the report")?;
        if gi + 1 == groups.len() {
            // The process ends next and hands all its memory back at once:
            // the last report is not taken apart record by record (a JSON
            // report of dense.pcap spent 3 % of its time dropping exchanges).
            std::mem::forget(rep);
        }
    }
    Ok(if damaged { EXIT_DAMAGED } else { EXIT_OK })
}

/// [`Options::render`] for `--format jsonl`: one line per connection.
fn render_jsonl(r: &keepwatch::analysis::ConnectionRecord, b: &mut Vec<u8>) {
    report::jsonl_line(b, r);
}

/// [`Options::render`] for `--format csv`: one row per connection.
fn render_csv(r: &keepwatch::analysis::ConnectionRecord, b: &mut Vec<u8>) {
    let _ = report::csv::write_row(b, r);
}

/// Input size and kept-record count past which `report` suggests a
/// streaming format (text and JSON keep every connection until the end).
const LARGE_INPUT_BYTES: u64 = 1 << 30;
const LARGE_RECORD_COUNT: usize = 200_000;

/// One line on stderr for text/JSON on a large capture; true if printed.
fn large_capture_hint(f: Format) -> bool {
    let name = match f {
        Format::Text => "text",
        Format::Json => "json",
        Format::Jsonl | Format::Csv => return false,
    };
    eprintln!(
        "keepwatch: hint: a large capture: --format {name} keeps every connection in memory until the end (about 1.5 KB each); --format jsonl or csv streams them in flat memory"
    );
    true
}

/// Reads one capture file, every packet to `on_packet`; the TLS secrets of its
/// pcapng Decryption Secrets Blocks go to the key store (when decryption is
/// on) before the packets that follow them.
fn read_capture(
    cap: &CaptureFile,
    keys: Option<std::sync::Arc<KeyStore>>,
    on_packet: impl FnMut(keepwatch::decode::RawPacket<'_>),
) -> Result<keepwatch::capture::FileSummary> {
    Ok(cap.for_each_with_secrets(on_packet, |typ, data| {
        if let Some(k) = &keys {
            k.add_dsb(typ, data);
        }
    })?)
}

/// Analyses files together as one capture; the report and whether any file
/// was damaged.
fn analyze_files(files: &[PathBuf], common: &Common) -> Result<(Report, bool)> {
    let mut caps = Vec::new();
    for f in files {
        caps.push(CaptureFile::open(f)?);
    }
    // Only the summary is needed: records are folded, not kept.
    let mut opts = options(common, true);
    opts.drop_exchanges = true;
    opts.keys = Some(key_store(common, false)?);
    let mut an = Analyzer::new(opts).map_err(anyhow::Error::msg)?;
    let mut damaged = false;
    for cap in &caps {
        if caps.len() > 1 {
            an.set_current_file(Some(cap.name().to_string()));
        }
        let keys = an.keys().cloned();
        let summary = read_capture(cap, keys, |p| an.packet(&p, &mut |_| {}))?;
        if let Some(d) = &summary.damage {
            damaged = true;
            eprintln!("keepwatch: warning: {}: {}", safe(&summary.path), safe(d));
        }
        an.add_file(summary);
    }
    Ok((an.finish(&mut |_| {}), damaged))
}

fn diff_cmd(
    files: Vec<PathBuf>,
    before: Vec<PathBuf>,
    after: Vec<PathBuf>,
    format: DiffFormat,
    common: &Common,
) -> Result<i32> {
    let (before, after) = match files.len() {
        0 if !before.is_empty() => (before, after),
        2 => (vec![files[0].clone()], vec![files[1].clone()]),
        _ => {
            eprintln!(
                "keepwatch: error: diff needs BEFORE and AFTER: `keepwatch diff BEFORE AFTER` or `keepwatch diff --before FILE... --after FILE...`"
            );
            return Ok(2);
        }
    };
    let names = |f: &[PathBuf]| {
        f.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (b, bd) = analyze_files(&before, common)?;
    let (a, ad) = analyze_files(&after, common)?;
    let d = keepwatch::analysis::diff::diff(b.summary, a.summary);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match format {
        DiffFormat::Text => {
            report::diff::write_text(&mut out, &d, &names(&before), &names(&after), style(common))?
        }
        DiffFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &d)?;
            writeln!(out)?;
        }
    }
    out.flush().context("writing the diff")?;
    Ok(if bd || ad { EXIT_DAMAGED } else { EXIT_OK })
}

fn interfaces_cmd() -> Result<i32> {
    let list = keepwatch::capture::live::interfaces().map_err(anyhow::Error::msg)?;
    let rows: Vec<[String; 4]> = list
        .into_iter()
        .map(|i| {
            let mut flags = vec![if i.up { "up" } else { "down" }];
            if i.running {
                flags.push("running");
            }
            if i.loopback {
                flags.push("loopback");
            }
            let addrs = if i.addresses.is_empty() {
                "-".to_string()
            } else {
                i.addresses.join(" ")
            };
            [
                i.name,
                flags.join(","),
                addrs,
                i.description.unwrap_or_default(),
            ]
        })
        .collect();
    let head = ["NAME", "FLAGS", "ADDRESSES", "DESCRIPTION"];
    let mut w = head.map(str::len);
    for r in &rows {
        for (wi, c) in w.iter_mut().zip(r) {
            *wi = (*wi).max(c.chars().count());
        }
    }
    let mut out = io::stdout().lock();
    for r in std::iter::once(head.map(String::from)).chain(rows) {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2]
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(EXIT_OK)
}

fn live_cmd(
    cfg: LiveConfig,
    common: &Common,
    duration: Option<f64>,
    metrics: Option<(String, usize)>,
    threads: usize,
) -> Result<i32> {
    use keepwatch::live::{Every, LiveSession, SessionConfig};
    use std::time::Instant;

    let iface = cfg.interface.clone();
    let write = cfg.write.clone();
    if let Some(d) = duration {
        if !(d > 0.0 && d.is_finite()) {
            anyhow::bail!("--duration must be a positive number of seconds");
        }
    }
    // The filter is compiled by libpcap on the device itself.
    let mut opts = options(common, common.format != Format::Json);
    opts.filter = None;
    opts.threads = threads;
    if !common.keylog.is_empty() {
        opts.keys = Some(key_store(common, true)?);
    }
    let fmt = common.format;
    let mut session = LiveSession::new(
        opts,
        SessionConfig {
            // Rows at a connection's close; JSON prints none.
            early_rows: fmt != Format::Json,
            duration: duration.map(std::time::Duration::from_secs_f64),
            ..SessionConfig::default()
        },
    )
    .map_err(anyhow::Error::msg)?;
    // The metrics port is bound before the device is opened (and before
    // --user drops root), so a port below 1024 works as root.
    let (metrics, _metrics_server) = match metrics {
        Some((addr, servers)) => {
            let m = keepwatch::metrics::Metrics::new(servers);
            let srv = keepwatch::metrics::MetricsServer::start(&addr, m.registry())
                .map_err(anyhow::Error::msg)?;
            eprintln!("keepwatch: metrics at http://{}/metrics", srv.addr);
            (Some(m), Some(srv))
        }
        None => (None, None),
    };
    let cap = LiveCapture::start(cfg).map_err(anyhow::Error::msg)?;
    // SIGINT, SIGTERM, SIGHUP: stop cleanly (the summary follows). A second
    // one means "now": exit at once, as tcpdump users expect.
    let stopper = cap.stopper();
    let signals = std::sync::atomic::AtomicU32::new(0);
    ctrlc::set_handler(move || {
        if signals.fetch_add(1, Ordering::SeqCst) > 0 {
            eprintln!("\nkeepwatch: interrupted again, exiting without a summary");
            std::process::exit(130);
        }
        stopper.stop();
    })
    .context("installing the signal handler")?;
    eprintln!(
        "keepwatch: listening on {} (link type {} {}){}",
        safe(&iface),
        cap.linktype,
        keepwatch::decode::linktype::name(cap.linktype),
        common
            .filter
            .as_deref()
            .map(|f| format!(", filter '{}'", safe(f)))
            .unwrap_or_default()
    );
    let status = io::stderr().is_terminal();
    // The session's clock: monotonic time since the start (the shell's, not
    // the core's).
    let started = Instant::now();
    let mut status_every = Every::new(std::time::Duration::from_millis(500), started.elapsed());
    let mut rate = (started.elapsed(), 0u64);
    let mut metrics_every = status_every;
    let stdout = io::stdout();
    let mut sink = LiveRows {
        out: stdout.lock(),
        fmt,
        st: style(common),
        header_done: false,
        status_shown: false,
        metrics,
    };
    let end_msg;
    let mut write_failed_said = false;
    loop {
        let mut wait = std::time::Duration::from_millis(100);
        match session.time_left(started.elapsed()) {
            Some(left) if left.is_zero() => cap.request_stop(),
            Some(left) => wait = wait.min(left),
            None => {}
        }
        match cap.next(wait) {
            Some(Event::Packets(batch)) => {
                session.batch(batch.packets(), started.elapsed(), &mut sink)
            }
            Some(Event::Ended(msg)) => {
                end_msg = msg;
                break;
            }
            None => session.quiet(started.elapsed(), &mut sink),
        }
        if !write_failed_said {
            if let Some(m) = cap.counters.write_error() {
                // Said at once; the capture and the analysis go on.
                eprintln!("keepwatch: error: {}", safe(&m));
                write_failed_said = true;
            }
        }
        if let Some(e) = session.take_error() {
            cap.request_stop();
            if e.kind() == io::ErrorKind::BrokenPipe {
                return Ok(EXIT_OK);
            }
            return Err(e.into());
        }
        if let Some(m) = &mut sink.metrics {
            if metrics_every.due(started.elapsed()) {
                m.open_connections(session.analyzer().open_connection_servers());
                m.capture(capture_counts(&cap.counters));
                m.refresh_findings();
            }
        }
        if status && status_every.due(started.elapsed()) {
            status_line(&session, &cap.counters, &mut rate, started.elapsed());
            sink.status_shown = true;
        }
    }
    sink.clear_status();
    // The capture thread has ended: the -w file is complete and closed.
    let c = &cap.counters;
    capture_end(&mut session, c, &end_msg);
    // A `-w` write error: said on stderr when it happened (again here if it
    // came with the last flush), a warning in the report, exit status 3.
    let save_err = c.write_error();
    if let Some(m) = &save_err {
        if !write_failed_said {
            eprintln!("keepwatch: error: {}", safe(m));
        }
        session.add_warning(m.clone());
    }
    let (rep, write_err) = session.finish(&mut sink);
    if let Some(m) = &mut sink.metrics {
        m.open_connections(std::iter::empty());
        m.capture(capture_counts(&cap.counters));
        m.refresh_findings();
    }
    if let Some(e) = write_err {
        if e.kind() == io::ErrorKind::BrokenPipe {
            return Ok(EXIT_OK);
        }
        return Err(e.into());
    }
    let out = &mut sink.out;
    match fmt {
        Format::Text => text::write_report(out, &rep, sink.st, false)?,
        Format::Json => report::write_json(out, &rep)?,
        Format::Jsonl => report::write_jsonl_summary(out, &rep)?,
        Format::Csv => {}
    }
    out.flush()?;
    if let Some(p) = write.filter(|_| save_err.is_none()) {
        eprintln!("keepwatch: wrote {}", keepwatch::escape::path(&p));
    }
    drop(cap);
    Ok(if end_msg.is_some() || save_err.is_some() {
        EXIT_DAMAGED
    } else {
        EXIT_OK
    })
}

/// `live`'s status line on standard error (a terminal): replaced in place.
fn status_line(
    session: &keepwatch::live::LiveSession,
    c: &keepwatch::capture::live::LiveCounters,
    rate: &mut (std::time::Duration, u64),
    now: std::time::Duration,
) {
    let n = session.counts();
    let packets = session.analyzer().packets();
    // Packets per second since the last status line (the shell's clock).
    let dt = now.saturating_sub(rate.0).as_secs_f64();
    let pps = if dt > 0.0 {
        (packets.saturating_sub(rate.1)) as f64 / dt
    } else {
        0.0
    };
    *rate = (now, packets);
    let ratio = if n.connections > 0 {
        format!("{:.0}%", 100.0 * n.reused as f64 / n.connections as f64)
    } else {
        "-".into()
    };
    eprint!(
        "\r\x1b[2Kpackets {packets} ({pps:.0}/s) · open {} · closed {} · requests {} · reused {} ({ratio}) · drops kernel {} keepwatch {}",
        session.analyzer().open_connections(),
        n.connections,
        n.requests,
        n.reused,
        c.kernel_dropped.load(Ordering::Relaxed) + c.interface_dropped.load(Ordering::Relaxed),
        c.dropped_by_keepwatch.load(Ordering::Relaxed)
    );
}

/// The capture ended: its counts on standard error, and what it lost (and
/// why it ended, if it failed) as warnings of the report.
fn capture_end(
    session: &mut keepwatch::live::LiveSession,
    c: &keepwatch::capture::live::LiveCounters,
    end_msg: &Option<String>,
) {
    let captured = c.captured.load(Ordering::Relaxed);
    let received = c.kernel_received.load(Ordering::Relaxed);
    let kd = c.kernel_dropped.load(Ordering::Relaxed);
    let idrop = c.interface_dropped.load(Ordering::Relaxed);
    let kwd = c.dropped_by_keepwatch.load(Ordering::Relaxed);
    eprintln!(
        "keepwatch: {captured} packets captured, {received} received by filter, {kd} dropped by kernel, {idrop} dropped by interface, {kwd} dropped by keepwatch"
    );
    if kd + idrop > 0 {
        session.add_warning(format!(
            "the kernel dropped {kd} packets and the interface {idrop}: counts may be low"
        ));
    }
    if kwd > 0 {
        session.add_warning(format!(
            "keepwatch dropped {kwd} packets because the analysis fell behind the capture"
        ));
    }
    if let Some(m) = end_msg {
        session.add_warning(m.clone());
    }
}

fn capture_counts(c: &keepwatch::capture::live::LiveCounters) -> keepwatch::metrics::CaptureCounts {
    keepwatch::metrics::CaptureCounts {
        captured: c.captured.load(Ordering::Relaxed),
        kernel_dropped: c.kernel_dropped.load(Ordering::Relaxed),
        interface_dropped: c.interface_dropped.load(Ordering::Relaxed),
        keepwatch_dropped: c.dropped_by_keepwatch.load(Ordering::Relaxed),
    }
}

/// `live`'s output: one row per connection (text row, JSONL line or CSV
/// row) on standard output, the status line on standard error, and the
/// metrics, which count final records.
struct LiveRows<'a> {
    out: io::StdoutLock<'a>,
    fmt: Format,
    st: text::Style,
    header_done: bool,
    /// The status line is on the terminal (cleared before a row).
    status_shown: bool,
    metrics: Option<keepwatch::metrics::Metrics>,
}

impl LiveRows<'_> {
    fn clear_status(&mut self) {
        if std::mem::take(&mut self.status_shown) {
            eprint!("\r\x1b[2K");
        }
    }
}

impl keepwatch::live::LiveSink for LiveRows<'_> {
    fn finished(&mut self, r: &keepwatch::analysis::ConnectionRecord) {
        // Metrics count final records only: counters cannot take back what
        // a row printed at its close said, if a late packet amends it.
        if let Some(m) = &mut self.metrics {
            m.record(r);
        }
    }

    fn row(&mut self, r: &keepwatch::analysis::ConnectionRecord, amended: bool) -> io::Result<()> {
        self.clear_status();
        let out = &mut self.out;
        match self.fmt {
            Format::Jsonl => report::write_jsonl_connection(out, r)?,
            Format::Text => {
                if !std::mem::replace(&mut self.header_done, true) {
                    writeln!(out, "{}", text::table_header(text::Widths::default()))?;
                }
                writeln!(out, "{}", text::row(r, self.st, text::Widths::default()))?;
                if amended {
                    writeln!(
                        out,
                        "      (amended: packets after its close changed connection #{}; this row replaces the earlier one)",
                        r.id
                    )?;
                }
            }
            Format::Csv => {
                if !std::mem::replace(&mut self.header_done, true) {
                    report::csv::write_header(out)?;
                }
                report::csv::write_row(out, r)?
            }
            Format::Json => {}
        }
        out.flush()
    }
}

/// `threads`: the live analysis's worker threads (`-i` only).
fn tui_cmd(
    files: &[PathBuf],
    interface: Option<String>,
    threads: usize,
    common: &Common,
) -> Result<i32> {
    use keepwatch::tui;
    if !io::stdout().is_terminal() {
        anyhow::bail!("keepwatch tui needs a terminal; use `keepwatch report` for text output");
    }
    let filter_note = common
        .filter
        .as_deref()
        .map(|f| format!(" · filter '{f}'"))
        .unwrap_or_default();
    if let Some(iface) = interface {
        let cap = LiveCapture::start(LiveConfig {
            interface: iface.clone(),
            filter: common.filter.clone(),
            snaplen: 262144,
            promisc: false,
            write: None,
            count: None,
            user: None,
        })
        .map_err(anyhow::Error::msg)?;
        // The filter is compiled by libpcap on the device itself.
        let mut opts = options(common, false);
        opts.filter = None;
        opts.drop_exchanges = false; // the detail pane shows them
        opts.threads = threads;
        if !common.keylog.is_empty() {
            opts.keys = Some(key_store(common, true)?);
        }
        let mut feed = tui::LiveFeed::start(cap, opts, std::time::Duration::from_millis(250))
            .map_err(anyhow::Error::msg)?;
        let mut model = tui::Model::new_live(format!("live {iface}{filter_note}"));
        tui::run_terminal(&mut model, &mut feed)?;
        return Ok(EXIT_OK);
    }
    let mut caps = Vec::new();
    if files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        anyhow::bail!("`-` (standard input) can be given only once");
    }
    for f in files {
        caps.push(CaptureFile::open(f)?);
    }
    let mut opts = options(common, false);
    opts.drop_exchanges = false; // the detail pane shows them
    opts.keys = Some(key_store(common, false)?);
    let mut an = Analyzer::new(opts).map_err(anyhow::Error::msg)?;
    let mut damaged = false;
    for cap in &caps {
        if caps.len() > 1 {
            an.set_current_file(Some(cap.name().to_string()));
        }
        let keys = an.keys().cloned();
        let summary = read_capture(cap, keys, |p| an.packet(&p, &mut |_| {}))?;
        damaged |= summary.damage.is_some();
        an.add_file(summary);
    }
    let rep = an.finish(&mut |_| {});
    let name = |p: &PathBuf| {
        if p.as_os_str() == "-" {
            return "standard input".to_string();
        }
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string())
    };
    let source = match files {
        [one] => format!("file {}", name(one)),
        [first, rest @ ..] => format!("file {} (+{} more)", name(first), rest.len()),
        [] => "no files".into(),
    };
    let mut model = tui::Model::from_report(format!("{source}{filter_note}"), &rep);
    tui::run_terminal(&mut model, &mut tui::NoFeed)?;
    Ok(if damaged { EXIT_DAMAGED } else { EXIT_OK })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn sample(name: &str) -> CaptureFile {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples/captures")
            .join(name);
        CaptureFile::open(&p).unwrap()
    }

    /// A classic little-endian pcap (Ethernet) with one frame of each
    /// captured length, built field by field.
    fn pcap(lens: &[u32]) -> Vec<u8> {
        pcap_with(lens, |_, _| 0)
    }

    /// [`pcap`] with payload byte `k` of frame `i` given by `byte(i, k)`.
    fn pcap_with(lens: &[u32], byte: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(&0i32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&65535u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        for (i, &n) in lens.iter().enumerate() {
            b.extend_from_slice(&(1_733_400_000 + i as u32).to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&n.to_le_bytes());
            b.extend_from_slice(&n.to_le_bytes());
            b.extend((0..n as usize).map(|k| byte(i, k)));
        }
        b
    }

    /// Frames, captured bytes.
    fn mean(lens: &[u32]) -> f64 {
        lens.iter().map(|&n| f64::from(n)).sum::<f64>() / lens.len() as f64
    }

    #[test]
    fn large_pcap_files_are_sampled_over_their_whole_length() {
        let dir = tempfile::tempdir().unwrap();
        // 2 MiB of 100-byte frames, then 40 MiB of 1,500-byte ones: the
        // head says small frames; the file averages 947 bytes a frame.
        let mut lens = vec![100u32; (2 << 20) / 116];
        lens.extend(vec![1500u32; (40 << 20) / 1516]);
        assert_eq!(mean(&lens).round(), 947.0);
        let p = dir.path().join("head-small.pcap");
        std::fs::write(&p, pcap(&lens)).unwrap();
        let c = CaptureFile::open(&p).unwrap();
        let (hn, hb) = c.head_frames(FRAME_SAMPLE).unwrap();
        // The head alone: 4 MiB, half of them small frames.
        assert!(hb / hn < 300, "head {} bytes a frame", hb / hn);
        assert_eq!(analysis_threads(&[&c], 2, true), 1);
        let (n, b) = c.sample_frames(FRAME_SAMPLE).unwrap();
        assert!(n > 1000, "{n} frames sampled");
        assert!(b / n >= 900, "sampled {} bytes a frame", b / n);
        // Random sizes, payloads of noise (record headers to be found
        // among them): the sampled mean is the file's within 10 %.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let lens: Vec<u32> = (0..40_000).map(|_| 60 + (next() % 1441) as u32).collect();
        let noise: Vec<u8> = (0..4096).map(|_| next() as u8).collect();
        let p = dir.path().join("noise.pcap");
        std::fs::write(
            &p,
            pcap_with(&lens, |i, k| noise[(i * 31 + k) % noise.len()]),
        )
        .unwrap();
        let c = CaptureFile::open(&p).unwrap();
        let (n, b) = c.sample_frames(FRAME_SAMPLE).unwrap();
        let (got, want) = (b as f64 / n as f64, mean(&lens));
        assert!(
            (got - want).abs() < want / 10.0,
            "sampled {got:.0}, file {want:.0}"
        );
        // A file under four times the budget is sampled from its head.
        let p = dir.path().join("small.pcap");
        std::fs::write(&p, pcap(&[100, 2000, 50])).unwrap();
        let c = CaptureFile::open(&p).unwrap();
        assert_eq!(c.sample_frames(FRAME_SAMPLE), Some((3, 2150)));
    }

    #[test]
    fn head_frames_counts_the_whole_frames_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("three.pcap");
        std::fs::write(&p, pcap(&[100, 2000, 50])).unwrap();
        let c = CaptureFile::open(&p).unwrap();
        assert_eq!(c.head_frames(1 << 20), Some((3, 2150)));
        // 24-byte file header, then 16 + 100, then the second record cut.
        assert_eq!(c.head_frames(24 + 116 + 500), Some((1, 100)));
        assert_eq!(c.head_frames(24 + 116 + 16 + 2000), Some((2, 2100)));
        // Compressed input is not read ahead.
        let z = dir.path().join("three.pcap.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut enc, &pcap(&[100])).unwrap();
        std::fs::write(&z, enc.finish().unwrap()).unwrap();
        assert_eq!(CaptureFile::open(&z).unwrap().head_frames(1 << 20), None);
    }

    #[test]
    fn captures_of_large_frames_are_analysed_on_one_thread_unless_threads_are_given() {
        // 31 frames of 7,896 bytes on average (capinfos), 310 bytes.
        let big = sample("go-unread-body.pcap");
        let small = sample("curl-gzip-chunked.pcap");
        assert_eq!(analysis_threads(&[&big], 2, true), 1);
        assert_eq!(analysis_threads(&[&big], 4, true), 1);
        assert_eq!(analysis_threads(&[&big], 2, false), 2, "--threads 2 given");
        assert_eq!(analysis_threads(&[&small], 2, true), 2);
        // The mean is taken over the files together: 244 kB in 43 frames.
        assert_eq!(analysis_threads(&[&small, &big], 2, true), 1);
        // Just under and at the cut, built field by field.
        let dir = tempfile::tempdir().unwrap();
        for (lens, want) in [(vec![899u32, 899], 2), (vec![880, 920], 1)] {
            let p = dir.path().join("f.pcap");
            std::fs::write(&p, pcap(&lens)).unwrap();
            let c = CaptureFile::open(&p).unwrap();
            assert_eq!(analysis_threads(&[&c], 2, true), want, "{lens:?}");
        }
    }
}
