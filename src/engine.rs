//! The pipeline behind every command: raw frames in (from files or a live
//! interface, it makes no difference), connection records and a summary out.
//! `capture → decode → tcp → inspectors → analysis`.

use crate::analysis::record::record_owned;
use crate::analysis::{record, ConnectionRecord, Summary, SummaryBuilder};
use crate::capture::{FileSummary, PacketFilter};
use crate::decode::{decode, Skip};
use crate::decode::{linktype, RawPacket};
use crate::inspect::AppInspector;
use crate::tcp::{Connection, FlowTable, TableConfig};
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

pub mod parallel;

#[derive(Debug, Clone)]
pub struct Options {
    pub filter: Option<String>,
    pub table: TableConfig,
    /// Streaming output (JSONL, CSV, live): finished connections are only
    /// handed to the callback and folded into the summary, not kept, so
    /// memory stays flat however long the capture; `Report::connections` is
    /// then empty.
    pub slim_records: bool,
    /// Build records without their exchange lists (the text and CSV reports do
    /// not print them): the largest part of a record, and a copy saved.
    pub drop_exchanges: bool,
    /// TLS secrets (`--keylog`, pcapng Decryption Secrets Blocks): TLS is
    /// decrypted where they match.
    pub keys: Option<std::sync::Arc<crate::inspect::tls::KeyStore>>,
    /// Text and JSON keep every record until the end: past this many, the
    /// records of connections whose handshake never completed and that
    /// carried no data (SYN floods, scans) are only counted in the summary
    /// (`summary.memory.records_folded`), not kept in `connections`.
    pub max_failed_handshake_records: usize,
    /// Worker threads for the flow table (`report --threads`); 1 runs it on
    /// the calling thread. See [`parallel`]: the output is the same.
    pub threads: usize,
    /// Streaming output rendered by the engine (JSONL and CSV lines): each
    /// finished record is written by [`Analyzer::write_rendered`], in order
    /// (with `slim_records`, rendered only then, a group at a time, so a
    /// burst of finished connections is not one buffer of all its lines). With
    /// worker threads the workers render (the id,
    /// known only after the merge, is rendered as [`RENDER_ID`] and its
    /// first occurrence replaced: a renderer prints the id in decimal, once,
    /// before anything taken from the packets, as JSONL and CSV do), so the
    /// reading thread only copies bytes.
    pub render: Option<Render>,
    /// With [`Options::render`]: the exchange lists are only for the
    /// rendered output; the records handed to `on_conn` (and kept) come
    /// without them, dropped as soon as rendered (JSONL: a burst of
    /// finished connections then holds the lines, not the lists as well).
    pub exchanges_only_rendered: bool,
}

/// Renders one record as output bytes (see [`Options::render`]).
pub type Render = fn(&ConnectionRecord, &mut Vec<u8>);

/// The id workers render records with before the merge knows the real one.
pub const RENDER_ID: u64 = u64::MAX;

/// Default of [`Options::max_failed_handshake_records`].
pub const FAILED_HANDSHAKE_RECORDS_KEPT: usize = 10_000;

impl Default for Options {
    fn default() -> Self {
        Options {
            filter: None,
            table: TableConfig::default(),
            slim_records: false,
            drop_exchanges: false,
            max_failed_handshake_records: FAILED_HANDSHAKE_RECORDS_KEPT,
            keys: None,
            threads: 1,
            render: None,
            exchanges_only_rendered: false,
        }
    }
}

/// Frames that yielded no TCP segment, by reason (nothing is dropped silently).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Skipped {
    pub filtered_out: u64,
    pub not_ip: u64,
    pub not_tcp: u64,
    pub ip_fragments: u64,
    pub malformed: u64,
    pub unsupported_link_type: BTreeMap<u32, u64>,
    /// Link type → frames the BPF expression cannot be compiled for (e.g.
    /// `ether host` on raw IP): left out, and a warning says why.
    pub unfilterable: BTreeMap<u32, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub keepwatch_version: &'static str,
    pub files: Vec<FileSummary>,
    pub summary: Summary,
    pub skipped: Skipped,
    pub connections: Vec<ConnectionRecord>,
}

pub struct Analyzer {
    table: FlowTable<AppInspector>,
    filter: Option<PacketFilter>,
    opts: Options,
    pub skipped: Skipped,
    packets: u64,
    bytes: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    records: Vec<ConnectionRecord>,
    sums: Tally,
    files: Vec<FileSummary>,
    extra_warnings: Vec<String>,
    current_file: Option<String>,
    /// Packets stamped earlier than one read before them.
    out_of_time_order: u64,
    /// Connection id → the file its first packet came from (several files).
    file_of: rustc_hash::FxHashMap<u64, String>,
    /// `threads` > 1: the sharded table (then `table` stays empty until
    /// `finish` puts the summed counters in it).
    pool: Option<parallel::Pool>,
    /// (first frame index, file) as set by `set_current_file`, for `pool`.
    file_marks: Vec<(u64, Option<String>)>,
    /// After [`Analyzer::end_input`], `pool`'s workers, rendering the
    /// streaming lines still to write.
    renderers: Option<parallel::Pool>,
}

/// A flow table for `opts` with configuration `cfg` (TLS keys wired in;
/// without exchange details when no report prints them).
fn new_table(opts: &Options, cfg: TableConfig) -> FlowTable<AppInspector> {
    let details = !opts.drop_exchanges;
    match &opts.keys {
        Some(k) => {
            let k = k.clone();
            // No key log given and no secrets (yet) from a pcapng
            // Decryption Secrets Block: TLS is inspected as without keys.
            FlowTable::with_factory(
                cfg,
                std::sync::Arc::new(move || {
                    let app = if k.is_empty() && !k.requested() {
                        AppInspector::default()
                    } else {
                        AppInspector::with_keys(Some(k.clone()))
                    };
                    app.with_details(details)
                }),
            )
        }
        None if details => FlowTable::new(cfg),
        None => FlowTable::with_factory(
            cfg,
            std::sync::Arc::new(|| AppInspector::default().with_details(false)),
        ),
    }
}

impl Analyzer {
    pub fn new(opts: Options) -> Result<Self, String> {
        let filter = match &opts.filter {
            Some(f) => Some(PacketFilter::new(f)?),
            None => None,
        };
        let pool = (opts.threads > 1).then(|| parallel::Pool::new(&opts, opts.threads));
        Ok(Analyzer {
            table: new_table(&opts, opts.table),
            pool,
            renderers: None,
            file_marks: Vec::new(),
            filter,
            opts,
            skipped: Skipped::default(),
            packets: 0,
            bytes: 0,
            first: None,
            last: None,
            records: Vec::new(),
            sums: Tally::default(),
            files: Vec::new(),
            extra_warnings: Vec::new(),
            current_file: None,
            file_of: Default::default(),
            out_of_time_order: 0,
        })
    }

    /// Tag records with the file they came from (several files in one report).
    pub fn set_current_file(&mut self, f: Option<String>) {
        if let Some(p) = &mut self.pool {
            self.file_marks.push((self.packets + 1, f.clone()));
            p.set_file(f.clone());
        }
        self.current_file = f;
    }

    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Connections in the table that have not closed: a closed connection
    /// waiting out its linger (for late packets) is not open any more. With
    /// worker threads this is exact when they have every segment (after
    /// [`Analyzer::flush`], as a live session leaves them: one round trip to
    /// them); in the middle of a file (`report`'s progress line) it is the
    /// connections created and not finished yet, lingering ones included.
    pub fn open_connections(&self) -> usize {
        if let Some(p) = &self.pool {
            return if p.idle() {
                p.open_connections()
            } else {
                p.open()
            };
        }
        let lingering = self
            .table
            .connections()
            .filter(|c| c.close.is_closed())
            .count();
        self.table.open_connections() - lingering
    }

    /// The open connections in the table right now: (id, server address),
    /// in id order. Closed ones waiting out their linger are left out. With
    /// worker threads: as of the last [`Analyzer::flush`].
    pub fn open_connection_servers(
        &self,
    ) -> impl Iterator<Item = (u64, std::net::SocketAddr)> + '_ {
        let v = match &self.pool {
            Some(p) => p.open_servers(),
            None => {
                let mut v: Vec<_> = self
                    .table
                    .connections()
                    .filter(|c| !c.close.is_closed())
                    .map(|c| (c.id, c.server))
                    .collect();
                v.sort_unstable_by_key(|&(id, _)| id);
                v
            }
        };
        v.into_iter()
    }

    pub fn finished_records(&self) -> &[ConnectionRecord] {
        &self.records
    }

    /// Live views: the connections still in the table, as records. With
    /// worker threads: as of the last [`Analyzer::flush`].
    pub fn open_records(&self) -> Vec<ConnectionRecord> {
        if let Some(p) = &self.pool {
            return p.open_records().into_iter().map(|(r, _)| r).collect();
        }
        let mut v: Vec<ConnectionRecord> = Vec::new();
        self.table
            .for_each_connection(|c| v.push(record(c, !self.opts.drop_exchanges)));
        v.sort_by_key(|r| r.id);
        v
    }

    /// The key store, if TLS decryption is on (to add secrets found in a
    /// pcapng Decryption Secrets Block, or re-read a growing key log).
    pub fn keys(&self) -> Option<&std::sync::Arc<crate::inspect::tls::KeyStore>> {
        self.opts.keys.as_ref()
    }

    /// Live output: records of connections that are closed (both FINs, or a
    /// RST) but still lingering in the table for late packets, skipping the
    /// ids `skip` says were reported already. Built as they stand now, so they
    /// can be printed at once instead of after the linger. With worker
    /// threads: as of the last [`Analyzer::flush`] (the same records).
    pub fn closed_records(&self, skip: impl Fn(u64) -> bool) -> Vec<ConnectionRecord> {
        if let Some(p) = &self.pool {
            return p
                .closed_records(skip)
                .into_iter()
                .map(|(mut r, start)| {
                    r.file = file_at(&self.file_marks, start);
                    r
                })
                .collect();
        }
        let mut v: Vec<ConnectionRecord> = self
            .table
            .connections()
            .filter(|c| c.close.is_closed() && !skip(c.id))
            .map(|c| {
                let mut r = record(c, !self.opts.drop_exchanges);
                r.tcp.end_cause = crate::tcp::EndCause::Closed;
                r.file = self.file_of.get(&r.id).cloned();
                r
            })
            .collect();
        v.sort_by_key(|r| r.id);
        v
    }

    /// TLS secrets found in the capture are about to be added: with worker
    /// threads, wait until they have taken every packet read so far, so the
    /// secrets apply from this point of the capture on, as with one thread.
    pub fn before_secrets(&mut self) {
        if let Some(p) = &mut self.pool {
            p.barrier();
        }
    }

    pub fn add_warning(&mut self, w: String) {
        self.extra_warnings.push(w);
    }

    pub fn add_file(&mut self, f: FileSummary) {
        self.files.push(f);
    }

    /// One captured frame. `on_conn` sees each connection as it finishes.
    pub fn packet<F: FnMut(&ConnectionRecord)>(&mut self, p: &RawPacket<'_>, on_conn: &mut F) {
        self.packets += 1;
        self.bytes += p.orig_len as u64;
        match self.last {
            // In time order (nearly always): the first stays the earliest.
            Some(l) if p.ts >= l => self.last = Some(p.ts),
            Some(_) => {
                self.out_of_time_order += 1;
                self.first = self.first.map(|f| f.min(p.ts));
            }
            None => (self.first, self.last) = (Some(p.ts), Some(p.ts)),
        }
        if let Some(f) = self.filter.as_mut() {
            match f.matches(p.linktype, p.data, p.orig_len) {
                Ok(true) => {}
                Ok(false) => {
                    self.skipped.filtered_out += 1;
                    return;
                }
                // An unsupported link type is reported as such by decode.
                Err(_) if !linktype::is_supported(p.linktype) => {}
                Err(_) => {
                    *self.skipped.unfilterable.entry(p.linktype).or_default() += 1;
                    return;
                }
            }
        }
        // By reference: the segment is not moved again (see `decode::fast`).
        match &decode(p) {
            Ok(seg) if self.pool.is_some() => {
                let idx = self.packets;
                self.with_pool(on_conn, |pool, sink| pool.segment(idx, p.ts, seg, sink));
            }
            Ok(seg) => {
                let Analyzer {
                    table,
                    records,
                    sums,
                    opts,
                    current_file,
                    file_of,
                    ..
                } = self;
                let before = table.stats.connections;
                table.process(p.ts, seg, &mut |c| {
                    push(records, sums, c, opts, file_of, on_conn)
                });
                if let Some(f) = current_file {
                    for id in before..table.stats.connections {
                        file_of.insert(id, f.clone());
                    }
                }
            }
            Err(Skip::NotIp) => self.skipped.not_ip += 1,
            Err(Skip::NotTcp) => self.skipped.not_tcp += 1,
            Err(Skip::Fragment) => self.skipped.ip_fragments += 1,
            Err(Skip::Malformed) => self.skipped.malformed += 1,
            Err(Skip::UnsupportedLinkType) => {
                *self
                    .skipped
                    .unsupported_link_type
                    .entry(p.linktype)
                    .or_default() += 1
            }
        }
    }

    /// Live sources only: capture time has reached `now` without a packet
    /// (the live command's estimate while the wire is quiet), so closed and
    /// idle connections are finalised and reported without waiting for the
    /// next packet. Records keep their packet timestamps; `now` only decides
    /// when the linger and idle timeouts have run out. Ignored unless `now`
    /// is after the last packet. With worker threads each sweeps its shard
    /// after the segments given so far, and everything they finished is
    /// handed on before this returns (as [`Analyzer::flush`]).
    pub fn advance<F: FnMut(&ConnectionRecord)>(&mut self, now: Timestamp, on_conn: &mut F) {
        if self.last.is_none_or(|l| now <= l) {
            return;
        }
        if self.pool.is_some() {
            let idx = self.packets + 1;
            self.with_pool(on_conn, |p, sink| p.advance(idx, now, sink));
            return;
        }
        let Analyzer {
            table,
            records,
            sums,
            opts,
            file_of,
            ..
        } = self;
        table.sweep(now, &mut |c| push(records, sums, c, opts, file_of, on_conn));
    }

    /// With worker threads: sends them the segments still waiting for a
    /// full batch and waits for every record they finished, handed to
    /// `on_conn` now (a live session calls it after each batch, so rows are
    /// not held back, and [`Analyzer::closed_records`] and the other live
    /// views are exact). One thread: nothing to do.
    pub fn flush<F: FnMut(&ConnectionRecord)>(&mut self, on_conn: &mut F) {
        if self.pool.as_ref().is_some_and(|p| !p.idle()) {
            self.with_pool(on_conn, |p, sink| p.flush(sink));
        }
    }

    /// Runs `f` on the pool with the sink every merged record goes through.
    #[inline]
    fn with_pool<F: FnMut(&ConnectionRecord)>(
        &mut self,
        on_conn: &mut F,
        f: impl FnOnce(&mut parallel::Pool, &mut dyn FnMut(parallel::Merged)),
    ) {
        let Analyzer {
            pool,
            records,
            sums,
            opts,
            file_marks,
            ..
        } = self;
        if let Some(pool) = pool {
            f(pool, &mut |m| {
                push_record(
                    records,
                    sums,
                    m.record,
                    file_at(file_marks, m.start),
                    m.rendered,
                    opts,
                    on_conn,
                )
            });
        }
    }

    /// Is there [`Options::render`] output for [`Analyzer::write_rendered`]
    /// to write? (Asked after every packet: nearly always no.)
    #[inline]
    pub fn has_rendered(&self) -> bool {
        !self.sums.lines.is_empty()
    }

    /// [`Options::render`] output so far to `w` (then forgotten), in order;
    /// nothing is left waiting when this returns.
    ///
    /// Streaming records not rendered yet ([`Line::Records`]) are rendered
    /// here, a group at a time, so a burst of finished connections (a sweep,
    /// the end of input) never becomes one buffer of all their lines: on one
    /// thread into one reused line buffer; with worker threads, by the
    /// workers, a few groups ahead ([`RENDER_AHEAD`] per worker), written as
    /// they come back. The reading thread waits for them, as one thread
    /// renders a burst before it reads on: the records of a burst are gone
    /// before the connections of the next packets grow (a render lagging
    /// behind the reading kept them all, and more with every burst).
    pub fn write_rendered(&mut self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        let Analyzer {
            sums,
            pool,
            renderers,
            opts,
            ..
        } = self;
        let lines = &mut sums.lines;
        let mut pool = pool.as_mut().or(renderers.as_mut());
        while !lines.is_empty() {
            if let Some(p) = pool.as_deref_mut() {
                let ahead = RENDER_AHEAD * p.workers();
                for line in lines.iter_mut().take(ahead) {
                    if let Line::Records(g) = line {
                        let g = std::mem::take(&mut g.records);
                        *line = Line::Asked(p.render(g));
                    }
                }
            }
            match lines.front_mut() {
                None => break,
                Some(Line::Bytes(b)) => w.write_all(b)?,
                // Written from the workers' buffers, id spliced in (no copy here).
                Some(Line::Piece(p, id)) => parallel::write_with_id(w, p.bytes(), *id)?,
                Some(Line::Records(g)) => {
                    let b = &mut sums.scratch;
                    for r in &g.records {
                        b.clear();
                        if let Some(render) = opts.render {
                            render(r, b);
                        }
                        w.write_all(b)?;
                    }
                    // One huge line does not stay resident.
                    if b.capacity() > LINE_KEEP {
                        *b = Vec::new();
                    }
                }
                Some(Line::Asked(a)) => {
                    let b = a.wait()?;
                    w.write_all(&b)?;
                    if let Some(p) = pool.as_deref_mut() {
                        p.render_done(b);
                    }
                }
            }
            lines.pop_front();
        }
        Ok(())
    }

    /// End of input: finalises every connection still open (to `on_conn`
    /// and the rendered output); [`Analyzer::finish`] then builds the report.
    pub fn end_input<F: FnMut(&ConnectionRecord)>(&mut self, on_conn: &mut F) {
        let end = self.last.unwrap_or_default();
        let mut stats = None;
        self.with_pool(on_conn, |p, sink| stats = Some(p.finish(end, sink)));
        if let Some(stats) = stats {
            self.table.stats = stats;
            // Kept to render the lines still to write (`write_rendered`).
            self.renderers = self.pool.take();
        }
        let Analyzer {
            table,
            records,
            sums,
            opts,
            file_of,
            ..
        } = self;
        table.finish(end, &mut |c| push(records, sums, c, opts, file_of, on_conn));
    }

    /// Finalises every connection still open and builds the report.
    pub fn finish<F: FnMut(&ConnectionRecord)>(mut self, on_conn: &mut F) -> Report {
        self.end_input(on_conn);
        if let Some(p) = self.renderers.take() {
            p.close();
        }
        self.records.sort_by_key(|r| r.id);
        let mut summary = std::mem::take(&mut self.sums.summary).finish();
        summary.packets = self.packets;
        summary.bytes = self.bytes;
        summary.first_packet = self.first;
        summary.last_packet = self.last;
        summary.tcp_packets = self.table.stats.tcp_packets;
        self.memory_report(&mut summary.memory);
        summary.warnings = self.warnings();
        summary.warnings.extend(memory_warnings(&summary));
        Report {
            keepwatch_version: env!("CARGO_PKG_VERSION"),
            files: self.files,
            summary,
            skipped: self.skipped,
            connections: self.records,
        }
    }

    fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        for f in &self.files {
            if let Some(d) = &f.damage {
                w.push(format!("{}: {}", f.path, d));
            }
            w.extend(f.notes.iter().map(|n| format!("{}: {n}", f.path)));
            if let Some(d) = f.interface_drops.filter(|&d| d > 0) {
                w.push(format!(
                    "{}: the capturing interface dropped {d} packets",
                    f.path
                ));
            }
        }
        w.extend(self.extra_warnings.iter().cloned());
        if let Some(k) = &self.opts.keys {
            w.extend(k.warnings());
        }
        for (lt, n) in &self.skipped.unsupported_link_type {
            w.push(format!(
                "{n} packets with unsupported link type {lt} ({}) were skipped",
                linktype::name(*lt)
            ));
        }
        for (lt, n) in &self.skipped.unfilterable {
            let why = self
                .filter
                .as_ref()
                .and_then(|f| f.error(*lt))
                .unwrap_or("the expression does not compile for it");
            w.push(format!(
                "{n} packets on link type {lt} ({}) could not be filtered: {why}; they were left out",
                linktype::name(*lt)
            ));
        }
        if self.skipped.ip_fragments > 0 {
            w.push(format!(
                "{} IP fragments were skipped (IP reassembly is not done)",
                self.skipped.ip_fragments
            ));
        }
        if self.skipped.malformed > 0 {
            w.push(format!(
                "{} malformed or cut-short frames were skipped",
                self.skipped.malformed
            ));
        }
        if self.packets == 0 {
            w.push("the capture holds no packets".into());
        } else if self.table.stats.tcp_packets == 0 {
            let filtered = if self.skipped.filtered_out > 0 {
                format!(" ({} removed by the filter)", self.skipped.filtered_out)
            } else {
                String::new()
            };
            w.push(format!(
                "no TCP packets among {} packets{filtered}",
                self.packets
            ));
        }
        let t = &self.sums;
        if t.gappy > 0 {
            w.push(format!(
                "{} connections have bytes the capture missed ({} bytes in all): their HTTP counts may be low (ids: {})",
                t.gappy,
                t.gappy_bytes,
                ids(&t.gappy_ids, t.gappy)
            ));
        }
        if t.framing > 0 {
            w.push(format!(
                "{} connections have protocol warnings, see their `warnings` (ids: {})",
                t.framing,
                ids(&t.framing_ids, t.framing)
            ));
        }
        if self.out_of_time_order > 0 {
            w.push(format!(
                "{} packets are stamped earlier than packets read before them (a merged, reordered or multi-file capture): handshakes and connection boundaries may be off",
                self.out_of_time_order
            ));
        }
        if self.table.stats.idle_evictions > 0 {
            w.push(format!(
                "{} connections went idle longer than the idle timeout and were reported as open",
                self.table.stats.idle_evictions
            ));
        }
        w
    }
}

impl Analyzer {
    fn memory_report(&self, m: &mut crate::memory::MemoryReport) {
        let st = &self.table.stats;
        let cfg = self.table.config();
        m.memory_limit = cfg.memory_limit as u64;
        m.peak_table_bytes = st.peak_memory;
        m.half_open_seen = st.half_open_ended;
        m.half_open_evicted = st.half_open_evicted;
        m.half_open_limit = cfg.max_half_open as u64;
        m.memory_evictions = st.memory_evictions;
        m.records_folded = self.sums.records_folded;
        m.failed_handshake_records_kept = self.opts.max_failed_handshake_records as u64;
        m.ooo_limit_hits = self.sums.ooo_limit_hits;
        m.unanswered_requests_folded = self.sums.unanswered_folded;
    }
}

/// One warning per memory bound that was hit, with what it cost.
fn memory_warnings(s: &Summary) -> Vec<String> {
    let m = &s.memory;
    let mut w = Vec::new();
    if m.half_open_evicted > 0 {
        w.push(format!(
            "{} of {} half-open connections (SYN / SYN-ACK only) were finalised early: more than {} were open at once or the table reached --memory-limit (end_cause \"evicted\")",
            m.half_open_evicted, m.half_open_seen, m.half_open_limit
        ));
    }
    if m.memory_evictions > 0 {
        w.push(format!(
            "{} connections were finalised early, idle-longest first, to keep the flow table under --memory-limit {} (end_cause \"evicted\"; later packets start new connections picked up mid-stream)",
            m.memory_evictions,
            human_bytes(m.memory_limit)
        ));
    }
    if m.records_folded > 0 {
        w.push(format!(
            "{} connections whose handshake never completed and that carried no data are counted in the summary but not listed (only the first {} are; --format jsonl or csv lists every one)",
            m.records_folded, m.failed_handshake_records_kept
        ));
    }
    if m.ooo_limit_hits > 0 {
        w.push(format!(
            "the out-of-order reassembly buffer reached its memory cap {} times: the holes before the buffered data were given up (counted in missing_bytes)",
            m.ooo_limit_hits
        ));
    }
    if m.unanswered_requests_folded > 0 {
        w.push(format!(
            "{} HTTP requests that were still awaiting a response past the per-connection bound are counted but not itemised in exchanges[]",
            m.unanswered_requests_folded
        ));
    }
    for (what, n, other) in [
        (
            "servers",
            m.per_server_folded,
            s.per_server_other.as_ref().map(|g| g.connections),
        ),
        (
            "hosts",
            m.per_host_folded,
            s.per_host_other.as_ref().map(|g| g.connections),
        ),
        ("TLS server names", m.sni_folded, Some(s.tls.sni_other)),
    ] {
        if n > 0 {
            w.push(format!(
                "more than {} distinct {what}: {n} were folded into \"other\" ({} connections); the {} busiest are listed",
                m.group_keys_kept,
                other.unwrap_or(0),
                m.group_keys_kept
            ));
        }
    }
    w
}

/// `1 GiB`, `512 MiB`, `300 KiB` or bytes.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (u, name) in UNITS {
        if n >= u {
            let v = n as f64 / u as f64;
            return if n.is_multiple_of(u) {
                format!("{} {name}", n / u)
            } else {
                format!("{v:.1} {name}")
            };
        }
    }
    format!("{n} B")
}

fn ids(first: &[u64], n: u64) -> String {
    let mut s: Vec<String> = first.iter().map(|i| i.to_string()).collect();
    if n > first.len() as u64 {
        s.push("…".into());
    }
    s.join(", ")
}

/// What the report needs from every finished connection, kept incrementally.
#[derive(Default)]
struct Tally {
    summary: SummaryBuilder,
    gappy: u64,
    gappy_bytes: u64,
    gappy_ids: Vec<u64>,
    framing: u64,
    framing_ids: Vec<u64>,
    /// Failed-handshake records kept / only counted (text and JSON).
    failed_kept: u64,
    records_folded: u64,
    ooo_limit_hits: u64,
    unanswered_folded: u64,
    /// [`Options::render`] output not yet written, in order.
    lines: std::collections::VecDeque<Line>,
    /// The line buffer [`Analyzer::write_rendered`] renders into.
    scratch: Vec<u8>,
}

/// [`Options::render`] output waiting to be written.
enum Line {
    /// Rendered.
    Bytes(Vec<u8>),
    /// Rendered by a worker thread (with [`RENDER_ID`]), and the id.
    Piece(parallel::Piece, u64),
    /// Streaming records finished one after the other (with their
    /// exchanges), to render when written, together.
    Records(Group),
    /// The same, being rendered by a worker thread.
    Asked(parallel::Asked),
}

/// Consecutive streaming records rendered as one piece of work: up to
/// [`GROUP_RECORDS`] records and about [`GROUP_BYTES`] of output, so a
/// burst of a million small records is not a million messages to the
/// workers, and a group of big ones not one huge buffer.
#[derive(Default)]
struct Group {
    /// Boxed: a group's vector grows by doubling, and a burst of a million
    /// records in vectors of records themselves left their old buffers as
    /// holes in the heap (one thread, jsonl, 300,000 open connections
    /// made by `examples/hostile open-conns`: 797 -> 1,169 MB peak RSS).
    #[allow(clippy::vec_box)]
    records: Vec<Box<ConnectionRecord>>,
    /// The estimated output bytes ([`Group::weight`]).
    weight: usize,
}

/// Records in a [`Group`] at most.
const GROUP_RECORDS: usize = 256;
/// A [`Group`] takes no more records once their estimated output is this large.
const GROUP_BYTES: usize = 256 << 10;

impl Group {
    /// About what a record renders to (a JSONL exchange is ~600 bytes).
    fn weight(r: &ConnectionRecord) -> usize {
        1024 + 512 * r.exchanges.len()
    }

    /// Takes `r` if it has room for it; gives it back if not.
    fn add(&mut self, r: Box<ConnectionRecord>) -> Result<(), Box<ConnectionRecord>> {
        let w = Group::weight(&r);
        let full = self.records.len() >= GROUP_RECORDS || self.weight + w > GROUP_BYTES;
        if full && !self.records.is_empty() {
            return Err(r);
        }
        self.weight += w;
        self.records.push(r);
        Ok(())
    }
}

/// Groups of streaming records rendered ahead of the writing, per worker
/// thread.
const RENDER_AHEAD: usize = 2;

/// [`Tally::scratch`] larger than this is freed after its line is written.
const LINE_KEEP: usize = 1 << 20;

impl Tally {
    fn add(&mut self, r: &ConnectionRecord) {
        self.summary.add(r);
        self.ooo_limit_hits +=
            r.tcp.client_to_server.ooo_limit_hits + r.tcp.server_to_client.ooo_limit_hits;
        self.unanswered_folded += r.exchanges_omitted_unanswered as u64;
        let missing = r.tcp.client_to_server.missing_bytes + r.tcp.server_to_client.missing_bytes;
        if missing > 0 {
            self.gappy += 1;
            self.gappy_bytes += missing;
            if self.gappy_ids.len() < 10 {
                self.gappy_ids.push(r.id);
            }
        }
        if !r.warnings.is_empty() {
            self.framing += 1;
            if self.framing_ids.len() < 10 {
                self.framing_ids.push(r.id);
            }
        }
    }
}

fn push<F: FnMut(&ConnectionRecord)>(
    records: &mut Vec<ConnectionRecord>,
    sums: &mut Tally,
    c: Connection<AppInspector>,
    opts: &Options,
    file_of: &mut rustc_hash::FxHashMap<u64, String>,
    on_conn: &mut F,
) {
    let r = Box::new(record_owned(c, !opts.drop_exchanges));
    let file = file_of.remove(&r.id);
    push_record(records, sums, r, file, None, opts, on_conn);
}

/// The file (`set_current_file`) that frame `idx` came from.
fn file_at(marks: &[(u64, Option<String>)], idx: u64) -> Option<String> {
    let i = marks.partition_point(|(start, _)| *start <= idx);
    i.checked_sub(1).and_then(|i| marks[i].1.clone())
}

/// A finished connection's record: to `on_conn`, the tally, and (unless
/// streaming) the kept list.
fn push_record<F: FnMut(&ConnectionRecord)>(
    records: &mut Vec<ConnectionRecord>,
    sums: &mut Tally,
    mut r: Box<ConnectionRecord>,
    file: Option<String>,
    rendered: Option<parallel::Piece>,
    opts: &Options,
    on_conn: &mut F,
) {
    r.file = file;
    // A streaming record not rendered yet is rendered when written
    // (`write_rendered`), not here: a burst of them would otherwise be one
    // buffer of all their lines.
    let mut deferred = false;
    let mut exchanges = Vec::new();
    if let Some(render) = opts.render {
        match rendered {
            Some(p) => sums.lines.push_back(Line::Piece(p, r.id)),
            None if opts.slim_records => deferred = true,
            None => {
                if !matches!(sums.lines.back(), Some(Line::Bytes(_))) {
                    sums.lines.push_back(Line::Bytes(Vec::new()));
                }
                if let Some(Line::Bytes(b)) = sums.lines.back_mut() {
                    render(&r, b);
                }
            }
        }
        if opts.exchanges_only_rendered {
            exchanges = std::mem::take(&mut r.exchanges);
        }
    }
    on_conn(&r);
    sums.add(&r);
    if opts.slim_records {
        if deferred {
            if opts.exchanges_only_rendered {
                r.exchanges = exchanges;
            }
            let r = match sums.lines.back_mut() {
                Some(Line::Records(g)) => match g.add(r) {
                    Ok(()) => return,
                    Err(r) => r,
                },
                _ => r,
            };
            let mut g = Group::default();
            let _ = g.add(r);
            sums.lines.push_back(Line::Records(g));
        }
        return;
    }
    // A SYN flood must not fill the kept list with SYN-only records.
    if r.handshake == crate::tcp::HandshakeState::Partial && r.bytes == 0 {
        if sums.failed_kept >= opts.max_failed_handshake_records as u64 {
            sums.records_folded += 1;
            return;
        }
        sums.failed_kept += 1;
    }
    records.push(*r);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jsonl(r: &ConnectionRecord, b: &mut Vec<u8>) {
        crate::report::jsonl_line(b, r);
    }

    /// JSONL of `path` on `threads` threads, and how many records were still
    /// waiting to be rendered when the input ended. Nothing is left waiting
    /// after a `write_rendered` (the records of a burst are written before
    /// the next packet is read, with worker threads too).
    fn stream(path: &std::path::Path, threads: usize) -> (Vec<u8>, usize) {
        let opts = Options {
            threads,
            slim_records: true,
            render: Some(jsonl),
            exchanges_only_rendered: true,
            ..Options::default()
        };
        let mut an = Analyzer::new(opts).unwrap();
        let mut out = Vec::new();
        let cap = crate::capture::CaptureFile::open(path).unwrap();
        let s = cap
            .for_each(|p| {
                an.packet(&p, &mut |_| {});
                an.write_rendered(&mut out).unwrap();
                assert!(an.sums.lines.is_empty(), "{}", path.display());
            })
            .unwrap();
        an.add_file(s);
        an.end_input(&mut |_| {});
        let waiting = an
            .sums
            .lines
            .iter()
            .map(|l| match l {
                Line::Records(g) => g.records.len(),
                _ => 0,
            })
            .sum();
        an.write_rendered(&mut out).unwrap();
        assert!(an.sums.lines.is_empty());
        an.finish(&mut |_| {});
        (out, waiting)
    }

    /// A burst of finished streaming connections is queued as records and
    /// rendered a group at a time as it is written (on one thread, and on
    /// the workers past their per-batch share, which unit tests set to one
    /// record), never as one buffer of all its lines; the bytes are the
    /// same.
    #[test]
    fn streaming_bursts_are_rendered_as_written() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/captures");
        let mut waited = [0usize; 2];
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let (one, w1) = stream(&path, 1);
            let (two, w2) = stream(&path, 2);
            assert_eq!(one, two, "{}", path.display());
            assert!(!one.is_empty(), "{}", path.display());
            waited[0] += w1;
            waited[1] += w2;
        }
        assert!(waited[0] > 0 && waited[1] > 0, "{waited:?}");
    }

    /// A group of records rendered together holds many small records but
    /// only a few big ones (about [`GROUP_BYTES`] of output), and always
    /// at least one.
    #[test]
    fn groups_are_bounded_by_records_and_estimated_bytes() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples/captures/curl-http11-reuse.pcap");
        let cap = crate::capture::CaptureFile::open(&path).unwrap();
        let mut an = Analyzer::new(Options::default()).unwrap();
        cap.for_each(|p| an.packet(&p, &mut |_| {})).unwrap();
        let r = an.finish(&mut |_| {}).connections.remove(0);
        assert!(!r.exchanges.is_empty());
        let mut small = r.clone();
        small.exchanges.clear();
        let mut big = r.clone();
        big.exchanges = std::iter::repeat_n(r.exchanges[0].clone(), 300).collect();

        let mut g = Group::default();
        let mut n = 0;
        while g.add(Box::new(small.clone())).is_ok() {
            n += 1;
        }
        assert_eq!(n, GROUP_RECORDS);
        let mut g = Group::default();
        let mut n = 0;
        while g.add(Box::new(big.clone())).is_ok() {
            n += 1;
        }
        // 300 exchanges are ~150 KB of estimated output: one fits.
        assert_eq!(n, 1);
        // A record larger than a group's bytes still makes one.
        big.exchanges = std::iter::repeat_n(r.exchanges[0].clone(), 2000).collect();
        let mut g = Group::default();
        assert!(g.add(Box::new(big.clone())).is_ok());
        assert!(g.add(Box::new(small.clone())).is_err());
    }
}
