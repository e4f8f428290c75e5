//! `report --threads N`: the flow table sharded over N worker threads, with
//! output byte-identical to one thread.
//!
//! The reading thread (the [`super::Analyzer`]) decodes each frame as it
//! always did (it counts skips and needs the 4-tuple), and hands the TCP
//! segment, its payload a slice of the shared read block (copied only when
//! outside one), to the worker that owns its connection: [`shard`] hashes the 4-tuple symmetrically, so both
//! directions, and every connection ever seen on that 4-tuple, land on one
//! worker, in capture order. Workers run their own [`FlowTable`] and build
//! the records of the connections they finish. With two threads, one of the
//! two tables runs on the reading thread itself (`Link::Inline`: its batch
//! runs when it is sent, while the worker thread works on its own) and gets
//! three sixteenths of the connections (`INLINE_SHARE`), so that two cores carry
//! two busy threads, not three.
//!
//! Determinism. Everything the single table decides from *other* flows is
//! replayed:
//! - the once-a-second sweep (closed and idle connections) happens at the
//!   TCP packet where one table would do it; the reader decides it (the rule
//!   depends only on packet timestamps) and sends a sweep to every worker;
//! - connection ids: each worker reports the global packet index at which it
//!   created each connection; the merge numbers connections in that order,
//!   which is the order one table numbers them;
//! - record order: every record carries the packet index at which it was
//!   finished, and whether by the sweep (those come first, in id order) or by
//!   the packet itself; the merge sorts by that; `finish` is last, in id order;
//! - the table's peak memory estimate is the maximum over time of the sum of
//!   the workers' estimates, replayed from the changes each one reports.
//!
//! Batches go to every worker in lock step (an empty one if it has nothing),
//! so the merge takes batch k from each worker, sorts, and hands records on
//! in order; the summary is folded from them on the reading thread.
//!
//! Live sources (`live --threads N`) use the same pool: the live session
//! calls [`Pool::flush`] after each batch libpcap hands over (the partial
//! batch is sent and every record finished so far merged, so rows do not
//! wait for a full batch of segments), [`Pool::advance`] on a quiet wire (a sweep
//! at the estimated capture time on every worker, decided like the others,
//! so its records and the next sweep's timing are one table's), and asks
//! the workers for its views (closed and lingering connections for the
//! early rows, open records, open servers and count) with `Msg::Query`,
//! answered between batches; ids are mapped to the
//! global ones, which is exact once the pool is [`Pool::idle`].
//!
//! What is not exact: the memory bounds (`--memory-limit`, the half-open
//! cap, the out-of-order budget) are split evenly between the workers, so
//! once a bound is hit the connections it evicts can differ from one
//! thread's.

use super::Options;
use crate::analysis::record::record_owned;
use crate::analysis::{record, ConnectionRecord};
use crate::decode::TcpSegment;
use crate::inspect::AppInspector;
use crate::tcp::{Connection, FlowTable, TableConfig, TableStats};
use crate::time::{Duration, Timestamp};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;

/// A worker's render buffer is handed on once it holds this much: a burst
/// of huge records (a wave of connections with thousands of exchanges
/// each) is a few buffers of about this size, not one huge buffer.
/// (Was 4 MiB: dense.pcap jsonl on two threads peaked at 56 MB, now 46.)
const TEXT_KEEP: usize = 1 << 20;

/// Render buffers kept for the next [`Pool::render`], and the largest kept
/// (at most 16 MiB held between bursts).
const RENDER_SPARE: usize = 4;
const RENDER_SPARE_BYTES: usize = 4 << 20;

/// A render buffer back from the writing goes to the worker's next batch
/// only up to this capacity; a larger one (filled by a burst) is freed.
/// Kept at its size, every burst left a few more 4 MiB buffers circulating
/// with the batches, up to ~100 MB (issue 14: dense-10x.pcap jsonl on two
/// threads 161 MB).
const SPARE_TEXT: usize = 256 << 10;

/// Bytes a worker renders for one batch (a sweep or the end of input may
/// finish thousands of connections in it): the records after that come
/// unrendered, with their exchanges, and are rendered a group at a time
/// as they are written ([`Pool::render`]), so a burst is never all its
/// lines at once. (Unit tests: every record past a batch's first.)
const BURST: usize = if cfg!(test) { 1 } else { 2 * TEXT_KEEP };

/// Segments per batch (all workers together) before it is sent.
const BATCH: usize = 4096;
/// Batches in flight before the reader waits for the oldest to merge.
const DEPTH: usize = 4;

/// The worker that owns a 4-tuple: the same for both directions.
///
/// Each endpoint is hashed alone and the two hashes added (addition is
/// symmetric: no ordering of the endpoints), and the sum is reduced to
/// `0..n` by a multiply, not a division (a 64-bit `div` was a tenth of the
/// reading thread's batching cost, issue 14).
#[inline]
pub fn shard(a: IpAddr, ap: u16, b: IpAddr, bp: u16, n: usize) -> usize {
    reduce(shard_hash(a, ap, b, bp), n)
}

/// The 64-bit hash [`shard`] reduces: the same for both directions.
#[inline]
pub fn shard_hash(a: IpAddr, ap: u16, b: IpAddr, bp: u16) -> u64 {
    endpoint_hash(a, ap).wrapping_add(endpoint_hash(b, bp))
}

/// `x` to `0..n` in proportion (a multiply, not a division).
#[inline]
fn reduce(x: u64, n: usize) -> usize {
    ((u128::from(x) * n as u128) >> 64) as usize
}

/// An endpoint's 64-bit hash (the splitmix64 finaliser of its address and
/// port), with every input bit reaching the high bits `shard` keeps.
#[inline]
fn endpoint_hash(a: IpAddr, port: u16) -> u64 {
    let k = match a {
        IpAddr::V4(v) => (u64::from(u32::from(v)) << 16) | u64::from(port),
        IpAddr::V6(v) => {
            let x = u128::from(v);
            let lo = x as u64;
            let hi = (x >> 64) as u64;
            (lo ^ hi.wrapping_mul(0x9e37_79b9_7f4a_7c15)) ^ (u64::from(port) << 48) ^ 1
        }
    };
    let k = (k ^ (k >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let k = (k ^ (k >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    k ^ (k >> 31)
}

/// [`Seg::block`] of a payload copied into [`Batch::payload`].
const COPIED: u32 = u32::MAX;
/// Read blocks a batch may hold (per worker) before it is sent.
const BLOCKS: usize = 2;

/// A TCP segment with its payload in one of the batch's read blocks, or
/// copied into its buffer.
struct Seg {
    idx: u64,
    ts: Timestamp,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    payload_len: u32,
    /// Index in [`Batch::blocks`], or [`COPIED`].
    block: u32,
    off: u32,
    len: u32,
}

enum Item {
    /// Sweep the table now, before the segment of the same index.
    Sweep(u64, Timestamp),
    /// Connections created from here on come from this file.
    File(Option<String>),
    Seg(Seg),
}

#[derive(Default)]
struct Batch {
    items: Vec<Item>,
    payload: Vec<u8>,
    /// The capture's read blocks the payloads are slices of (shared, not
    /// copied: [`crate::capture::file::ReadBlock`]).
    blocks: Vec<crate::capture::file::ReadBlock>,
    /// (start, end) address of the last of `blocks` (0, 0 if none): checked
    /// for every payload without going through the `Arc`.
    last_span: (usize, usize),
    /// Buffer for the rendered records (`Out::text`), reused.
    text: Vec<u8>,
}

enum Msg {
    Batch(Batch),
    Finish(Timestamp),
    /// A live view of the table, answered between batches ([`Ask`]).
    Query(Ask, SyncSender<Answer>),
    /// Render records ([`Pool::render`]) into the buffer given (emptied
    /// first); their bytes, one after the other, go back on the sender.
    // Boxed records, as queued (`engine::Group`).
    #[allow(clippy::vec_box)]
    Render(Vec<Box<ConnectionRecord>>, Vec<u8>, SyncSender<Vec<u8>>),
}

/// What a live session asks a worker about its table (after every segment
/// sent so far: the channel keeps the order). Ids are the worker's own.
enum Ask {
    /// Open connections, closed ones lingering left out.
    Count,
    /// (id, server) of the open connections (half-open ones left out).
    Servers,
    /// Ids of the connections closed and lingering.
    ClosedIds,
    /// Records of these closed, lingering connections, as they stand.
    Closed(Vec<u64>),
    /// Records of every connection in the table.
    Open,
}

enum Answer {
    Count(usize),
    Servers(Vec<(u64, std::net::SocketAddr)>),
    Ids(Vec<u64>),
    Records(Vec<ConnectionRecord>),
}

/// A worker's answer to `ask` (the one-thread [`super::Analyzer`]'s views,
/// on its shard).
fn answer(table: &FlowTable<AppInspector>, opts: &Options, ask: Ask) -> Answer {
    let details = !opts.drop_exchanges;
    match ask {
        Ask::Count => {
            let lingering = table.connections().filter(|c| c.close.is_closed()).count();
            Answer::Count(table.open_connections() - lingering)
        }
        Ask::Servers => Answer::Servers(
            table
                .connections()
                .filter(|c| !c.close.is_closed())
                .map(|c| (c.id, c.server))
                .collect(),
        ),
        Ask::ClosedIds => Answer::Ids(
            table
                .connections()
                .filter(|c| c.close.is_closed())
                .map(|c| c.id)
                .collect(),
        ),
        Ask::Closed(mut ids) => {
            ids.sort_unstable();
            Answer::Records(
                table
                    .connections()
                    .filter(|c| c.close.is_closed() && ids.binary_search(&c.id).is_ok())
                    .map(|c| {
                        let mut r = record(c, details);
                        r.tcp.end_cause = crate::tcp::EndCause::Closed;
                        r
                    })
                    .collect(),
            )
        }
        Ask::Open => {
            let mut v = Vec::new();
            table.for_each_connection(|c| v.push(record(c, details)));
            Answer::Records(v)
        }
    }
}

/// A record's [`Options::render`] bytes: (buffer, from, to) in [`Out::text`].
type Rendered = Option<(usize, usize, usize)>;

/// How a record was finished at its packet index: sweeps first.
const SWEEP: u8 = 0;
const PACKET: u8 = 1;

/// What a worker did with one batch.
#[derive(Default)]
struct Out {
    /// Global packet index of each connection it created, in local id order.
    created: Vec<u64>,
    /// (index, phase, estimate): its table's memory estimate changed.
    est: Vec<(u64, u8, u64)>,
    /// (index, phase, record, rendered) in the order the table finished them.
    /// Boxed, built once here: the merge and the line queue move the
    /// pointer, so a burst (a million records at the end of input) is not
    /// held twice or three times while it is sorted and handed on.
    recs: Vec<(u64, u8, Box<ConnectionRecord>, Rendered)>,
    /// After `Finish`: the table's counters.
    stats: Option<TableStats>,
    /// The batch, emptied, to be filled again (no allocation per batch).
    spare: Option<Batch>,
    /// The records rendered, one after the other, in buffers of about
    /// [`TEXT_KEEP`] (a burst of huge records is not one huge buffer).
    text: Vec<Vec<u8>>,
}

/// The worker's share of the memory bounds.
fn share(cfg: TableConfig, n: usize) -> TableConfig {
    let mut c = cfg;
    c.memory_limit = cfg.memory_limit / n;
    c.max_half_open = (cfg.max_half_open / n).max(1);
    c.limits.max_ooo_total = (cfg.limits.max_ooo_total / n).max(1);
    c
}

/// A worker's finished connections: the record built and, with
/// [`Options::render`], rendered at once (then, with
/// [`Options::exchanges_only_rendered`], its exchange list dropped), so a
/// burst of finished connections (the end of the capture) holds the rendered
/// bytes, not the records as well, as on one thread.
struct Fin<'a> {
    opts: &'a Options,
    out: &'a mut Out,
    text: &'a mut Vec<u8>,
    file_of: &'a mut FxHashMap<u64, String>,
    /// Connections from this id on were created by the current item, in
    /// `file` (not yet in `file_of`).
    first_new: u64,
    file: &'a Option<String>,
}

impl Fin<'_> {
    fn push(&mut self, idx: u64, phase: u8, c: Connection<AppInspector>) {
        let mut r = Box::new(record_owned(c, !self.opts.drop_exchanges));
        let mut bytes = None;
        let burst = || self.out.text.iter().map(Vec::len).sum::<usize>() + self.text.len() >= BURST;
        if self.opts.render.is_some() && burst() {
            // Rendered as it is written (`Pool::render`), its file set by
            // the merge.
            self.file_of.remove(&r.id);
        } else if let Some(render) = self.opts.render {
            let local = r.id;
            r.file = match self.file_of.remove(&local) {
                Some(f) => Some(f),
                None if local >= self.first_new => self.file.clone(),
                None => None,
            };
            r.id = super::RENDER_ID;
            let from = self.text.len();
            render(&r, self.text);
            bytes = Some((self.out.text.len(), from, self.text.len()));
            r.id = local;
            if self.opts.exchanges_only_rendered {
                r.exchanges = Vec::new();
            }
            if self.text.len() >= TEXT_KEEP {
                self.out.text.push(std::mem::take(self.text));
            }
        }
        self.out.recs.push((idx, phase, r, bytes));
    }
}

/// A worker's table and what it keeps between batches: on its own thread
/// ([`worker`]) or, with two threads, on the reading thread ([`Link::Inline`]).
struct State {
    opts: Options,
    table: FlowTable<AppInspector>,
    est: u64,
    peak: u64,
    file: Option<String>,
    file_of: FxHashMap<u64, String>,
}

fn worker(opts: Options, cfg: TableConfig, rx: Receiver<Msg>, tx: Sender<Out>) {
    let mut st = State::new(opts, cfg);
    for msg in rx {
        if let Some(out) = st.step(msg) {
            if tx.send(out).is_err() {
                return;
            }
        }
    }
}

impl State {
    fn new(opts: Options, cfg: TableConfig) -> State {
        State {
            table: super::new_table(&opts, cfg),
            opts,
            est: 0,
            peak: 0,
            file: None,
            file_of: FxHashMap::default(),
        }
    }

    /// A query or a render request, answered on its reply channel.
    fn serve(&self, msg: Msg) {
        match msg {
            Msg::Query(ask, reply) => {
                let _ = reply.send(answer(&self.table, &self.opts, ask));
            }
            Msg::Render(rs, mut b, reply) => {
                b.clear();
                if let Some(render) = self.opts.render {
                    for r in &rs {
                        render(r, &mut b);
                    }
                }
                drop(rs);
                let _ = reply.send(b);
            }
            Msg::Batch(_) | Msg::Finish(_) => unreachable!("stepped"),
        }
    }

    /// One message: a batch or the end give an [`Out`]; a query or a
    /// render request is answered on its reply channel.
    fn step(&mut self, msg: Msg) -> Option<Out> {
        let State {
            opts,
            table,
            est,
            peak,
            file,
            file_of,
        } = self;
        let opts = &*opts;
        let mut out = Out::default();
        let mut text = Vec::new();
        match msg {
            m @ (Msg::Query(..) | Msg::Render(..)) => {
                self.serve(m);
                return None;
            }
            Msg::Batch(mut b) => {
                text = std::mem::take(&mut b.text);
                text.clear();
                for it in &b.items {
                    let before = table.stats.connections;
                    let mut fin = Fin {
                        opts,
                        out: &mut out,
                        text: &mut text,
                        file_of,
                        first_new: before,
                        file,
                    };
                    let (idx, phase) = match it {
                        Item::Sweep(idx, ts) => {
                            table.sweep(*ts, &mut |c: Connection<AppInspector>| {
                                fin.push(*idx, SWEEP, c)
                            });
                            (*idx, SWEEP)
                        }
                        Item::File(f) => {
                            file.clone_from(f);
                            continue;
                        }
                        Item::Seg(s) => {
                            let seg = TcpSegment {
                                src: s.src,
                                dst: s.dst,
                                sport: s.sport,
                                dport: s.dport,
                                seq: s.seq,
                                ack: s.ack,
                                flags: s.flags,
                                window: s.window,
                                payload: match s.block {
                                    COPIED => &b.payload[s.off as usize..(s.off + s.len) as usize],
                                    k => {
                                        &b.blocks[k as usize]
                                            [s.off as usize..(s.off + s.len) as usize]
                                    }
                                },
                                payload_len: s.payload_len,
                            };
                            let idx = s.idx;
                            table.process(s.ts, &seg, &mut |c: Connection<AppInspector>| {
                                fin.push(idx, PACKET, c)
                            });
                            (idx, PACKET)
                        }
                    };
                    for id in before..table.stats.connections {
                        out.created.push(idx);
                        if let Some(f) = &file {
                            file_of.insert(id, f.clone());
                        }
                    }
                    // The peak one table would record includes the moment
                    // before an eviction brought the estimate down.
                    if table.stats.peak_memory > *peak {
                        *peak = table.stats.peak_memory;
                        out.est.push((idx, phase, *peak));
                    }
                    let now = table.memory_estimate() as u64;
                    if now != *est {
                        *est = now;
                        out.est.push((idx, phase, now));
                    }
                }
                b.items.clear();
                b.payload.clear();
                b.blocks.clear();
                b.last_span = (0, 0);
                out.spare = Some(b);
            }
            Msg::Finish(ts) => {
                let mut fin = Fin {
                    opts,
                    out: &mut out,
                    text: &mut text,
                    file_of,
                    first_new: u64::MAX,
                    file,
                };
                table.finish(ts, &mut |c: Connection<AppInspector>| {
                    fin.push(u64::MAX, SWEEP, c)
                });
                out.stats = Some(table.stats.clone());
            }
        }
        out.text.push(text);
        Some(out)
    }
}

struct Worker {
    link: Link,
    /// Local id → (global id); removed when the record is merged.
    ids: FxHashMap<u64, u64>,
    created: u64,
    est: u64,
}

/// How the reading thread reaches a worker's table.
enum Link {
    /// On its own thread. `tx` is unbounded: [`Pool`] bounds the batches
    /// in flight ([`DEPTH`]), and a query or render request must never wait
    /// behind them to be queued.
    Thread {
        tx: Sender<Msg>,
        rx: Receiver<Out>,
        handle: Option<std::thread::JoinHandle<()>>,
    },
    /// On the reading thread, which runs each batch when it sends it (two
    /// threads: see [`INLINE_SHARE`]).
    Inline { st: Box<State>, outs: VecDeque<Out> },
}

impl Worker {
    /// A batch or the end of input, for [`Worker::recv`] to collect.
    fn send(&mut self, msg: Msg) {
        match &mut self.link {
            // A worker gone (it panicked) shows when its results are awaited.
            Link::Thread { tx, .. } => {
                let _ = tx.send(msg);
            }
            Link::Inline { st, outs } => outs.extend(st.step(msg)),
        }
    }

    /// A query or render request, answered on its own channel.
    fn request(&self, msg: Msg) {
        match &self.link {
            // A worker gone shows when the answer is awaited.
            Link::Thread { tx, .. } => {
                let _ = tx.send(msg);
            }
            Link::Inline { st, .. } => st.serve(msg),
        }
    }

    /// The oldest result not collected; `None` if the thread is gone.
    fn recv(&mut self) -> Option<Out> {
        match &mut self.link {
            Link::Thread { rx, .. } => rx.recv().ok(),
            Link::Inline { outs, .. } => outs.pop_front(),
        }
    }

    #[cfg(test)]
    fn inline(&self) -> bool {
        matches!(self.link, Link::Inline { .. })
    }
}

/// With two threads, the share of the connections whose table runs on the
/// reading thread itself, the rest going to the one worker thread: three
/// busy threads on two cores leave one core doing two threads' work. The
/// reading thread's own work (read, decode, batch, merge) is the larger
/// part, so it takes a small share of the tables, in every format (JSONL
/// and CSV too, where session 6 had found two worker threads better).
/// Measured on dense.pcap, interleaved, 12 runs, after session 8 made the
/// reading thread cheaper (no store-forwarding stalls in decode, no
/// division per timestamp): shares 1/16, 1/8, 3/16, 1/4 gave text 55.2 /
/// 49.3 / 49.1 / 50.3 ms, JSON 124.4 / 119.1 / 117.0 / 120.6, JSONL 115.0
/// / 108.9 / 107.8 / 106.7 (docs/performance.md, "Session 8").
const INLINE_SHARE: f64 = 0.1875;

/// A record's rendered bytes: a range of a worker's render buffer, shared
/// until written (no copy on the reading thread; the buffer goes back to
/// the worker once every piece of it is written).
pub struct Piece {
    buf: Arc<Vec<u8>>,
    from: usize,
    to: usize,
}

impl Piece {
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.from..self.to]
    }
}

/// A record ready to be handed on, in merge order.
pub struct Merged {
    pub record: Box<ConnectionRecord>,
    /// [`Options::render`]'s bytes, rendered with [`super::RENDER_ID`]:
    /// write them with [`write_with_id`].
    pub rendered: Option<Piece>,
    /// Global packet index at which the connection was created.
    pub start: u64,
}

/// Records being rendered by a worker ([`Pool::render`]).
pub struct Asked(Receiver<Vec<u8>>);

impl Asked {
    /// The rendered bytes, once the worker has them.
    pub fn wait(&self) -> std::io::Result<Vec<u8>> {
        let gone = || std::io::Error::other("a keepwatch worker thread stopped");
        self.0.recv().map_err(|_| gone())
    }
}

pub struct Pool {
    workers: Vec<Worker>,
    /// Connections whose [`shard_hash`] is below this go to worker 0, on
    /// the reading thread, the rest to worker 1 (two tables only; 0: no
    /// worker on the reading thread, connections spread evenly).
    inline_cut: u64,
    /// The worker the next [`Pool::render`] goes to.
    next_render: usize,
    batches: Vec<Batch>,
    pending: usize,
    /// Sent, not merged.
    in_flight: usize,
    /// Received early (a secrets barrier), not merged yet.
    stash: VecDeque<Vec<Out>>,
    /// Emptied batches back from each worker.
    spare: Vec<Vec<Batch>>,
    /// Render buffers handed on with the records (worker, buffer), until
    /// every piece is written; then back in `spare_text`.
    lent: Vec<(usize, Arc<Vec<u8>>)>,
    spare_text: Vec<Vec<Vec<u8>>>,
    /// Render buffers back from the writing ([`Pool::render_done`]).
    render_spare: Vec<Vec<u8>>,
    last_sweep: Timestamp,
    /// The read block last seen (see [`in_block`]).
    block: Option<crate::capture::file::ReadBlock>,
    next_id: u64,
    /// Global id → packet index of creation, until the record is merged.
    start_of: FxHashMap<u64, u64>,
    est_total: u64,
    peak: u64,
    emitted: u64,
}

impl Pool {
    pub fn new(opts: &Options, n: usize) -> Pool {
        let cfg = share(opts.table, n);
        // Two threads: table 0 on the reading thread (see `INLINE_SHARE`).
        let inline = n == 2;
        let workers = (0..n)
            .map(|i| {
                let link = if inline && i == 0 {
                    Link::Inline {
                        st: Box::new(State::new(opts.clone(), cfg)),
                        outs: VecDeque::new(),
                    }
                } else {
                    let (tx, wrx) = channel();
                    let (wtx, rx) = channel();
                    let o = opts.clone();
                    let handle = std::thread::Builder::new()
                        .name(format!("keepwatch-worker-{i}"))
                        .spawn(move || worker(o, cfg, wrx, wtx))
                        .ok();
                    Link::Thread { tx, rx, handle }
                };
                Worker {
                    link,
                    ids: FxHashMap::default(),
                    created: 0,
                    est: 0,
                }
            })
            .collect();
        Pool {
            workers,
            inline_cut: if inline {
                (INLINE_SHARE * 2f64.powi(64)) as u64
            } else {
                0
            },
            next_render: 0,
            batches: (0..n).map(|_| Batch::default()).collect(),
            pending: 0,
            in_flight: 0,
            stash: VecDeque::new(),
            spare: (0..n).map(|_| Vec::new()).collect(),
            lent: Vec::new(),
            spare_text: (0..n).map(|_| Vec::new()).collect(),
            render_spare: Vec::new(),
            last_sweep: Timestamp::default(),
            block: None,
            next_id: 0,
            start_of: FxHashMap::default(),
            est_total: 0,
            peak: 0,
            emitted: 0,
        }
    }

    /// Worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Renders `r` with [`Options::render`] on a worker (in turn), after
    /// what it was given before; the bytes, one record after the other,
    /// come back on the [`Asked`]. The workers serve it until
    /// [`Pool::close`], after [`Pool::finish`] too.
    #[allow(clippy::vec_box)]
    pub fn render(&mut self, r: Vec<Box<ConnectionRecord>>) -> Asked {
        let (reply, rx) = sync_channel(1);
        // With two threads, worker 0 is the reading thread's own table: it
        // renders its turn in this call.
        let w = self.next_render;
        self.next_render = (w + 1) % self.workers.len();
        // A worker gone shows as an error when the bytes are awaited.
        let buf = self.render_spare.pop().unwrap_or_default();
        self.workers[w].request(Msg::Render(r, buf, reply));
        Asked(rx)
    }

    /// A buffer from [`Pool::render`], written: kept for a next render
    /// (a fresh buffer grown to a megabyte-long JSONL line, one per busy
    /// connection, faulted its pages in each time), up to [`RENDER_SPARE`]
    /// of them, each up to [`RENDER_SPARE_BYTES`].
    pub fn render_done(&mut self, b: Vec<u8>) {
        if self.render_spare.len() < RENDER_SPARE && b.capacity() <= RENDER_SPARE_BYTES {
            self.render_spare.push(b);
        }
    }

    /// Connections created and not yet finished (for the progress line).
    pub fn open(&self) -> usize {
        (self.next_id - self.emitted) as usize
    }

    /// One TCP segment, the `idx`-th frame read. Records finished by earlier
    /// batches go to `sink`, in order.
    pub fn segment(
        &mut self,
        idx: u64,
        ts: Timestamp,
        s: &TcpSegment<'_>,
        sink: &mut dyn FnMut(Merged),
    ) {
        // The table's own rule (`FlowTable::process`), decided here for all.
        if ts.since(self.last_sweep) >= Duration::from_secs(1) {
            self.last_sweep = ts;
            for b in &mut self.batches {
                b.items.push(Item::Sweep(idx, ts));
            }
        }
        // The segment was just decoded: its addresses read part by part.
        let (src, dst) = (
            crate::decode::just_written(&s.src),
            crate::decode::just_written(&s.dst),
        );
        let w = self.route(shard_hash(src, s.sport, dst, s.dport));
        let b = &mut self.batches[w];
        let (block, off) = match in_block(b, s.payload, &mut self.block) {
            Some(at) => at,
            None => {
                let off = b.payload.len() as u32;
                b.payload.extend_from_slice(s.payload);
                (COPIED, off)
            }
        };
        b.items.push(Item::Seg(Seg {
            idx,
            ts,
            src,
            dst,
            sport: s.sport,
            dport: s.dport,
            seq: s.seq,
            ack: s.ack,
            flags: s.flags,
            window: s.window,
            payload_len: s.payload_len,
            block,
            off,
            len: s.payload.len() as u32,
        }));
        self.pending += 1;
        if self.pending >= BATCH || b.payload.len() >= 4 << 20 || b.blocks.len() >= BLOCKS {
            self.send();
            while self.in_flight > DEPTH {
                self.merge_one(sink);
            }
        }
    }

    /// Connections created from the next segment on come from file `f`.
    pub fn set_file(&mut self, f: Option<String>) {
        for b in &mut self.batches {
            b.items.push(Item::File(f.clone()));
        }
    }

    /// The worker that owns a connection of hash `x` ([`shard_hash`]).
    #[inline]
    fn route(&self, x: u64) -> usize {
        if self.inline_cut == 0 {
            return reduce(x, self.workers.len());
        }
        // Only two tables have one on the reading thread: the rest is 1.
        usize::from(x >= self.inline_cut)
    }

    fn send(&mut self) {
        // Worker 0 last: if it is the reading thread's own, its batch runs
        // in this call, while the threads work on theirs.
        let n = self.workers.len();
        for i in (1..n).chain([0]) {
            let b = std::mem::replace(
                &mut self.batches[i],
                self.spare[i].pop().unwrap_or_default(),
            );
            self.workers[i].send(Msg::Batch(b));
        }
        self.pending = 0;
        self.in_flight += 1;
    }

    fn receive(&mut self) -> Vec<Out> {
        self.workers
            .iter_mut()
            .map(|w| w.recv().expect("a keepwatch worker thread stopped"))
            .collect()
    }

    /// Waits until the workers have processed every segment given so far
    /// (TLS secrets read from the capture apply from here on, as with one
    /// table). Their results are kept for the next merge.
    pub fn barrier(&mut self) {
        if self.pending > 0 {
            self.send();
        }
        while self.in_flight > self.stash.len() {
            let outs = self.receive();
            self.stash.push_back(outs);
        }
    }

    /// Nothing waits to be sent and every batch sent is merged (as after
    /// [`Pool::flush`]): the live views below are then exact.
    pub fn idle(&self) -> bool {
        self.pending == 0 && self.in_flight == 0
    }

    /// Sends what waits in the batches and merges every batch in flight:
    /// the records the workers finished so far go to `sink` now. A live
    /// session does this after each of its batches, so no record waits for
    /// 4,096 segments to fill a batch.
    pub fn flush(&mut self, sink: &mut dyn FnMut(Merged)) {
        if self.pending > 0 {
            self.send();
        }
        while self.in_flight > 0 {
            self.merge_one(sink);
        }
    }

    /// Capture time reached `now` without a packet (a live source on a
    /// quiet wire): every worker sweeps its table at `now`, after the
    /// segments sent so far, as one table's [`FlowTable::sweep`] would (the
    /// next once-a-second sweep counts from `now` too). `idx` is the index
    /// after the last frame read, so the records come after every earlier
    /// one, in id order. Flushed: they go to `sink` before this returns.
    pub fn advance(&mut self, idx: u64, now: Timestamp, sink: &mut dyn FnMut(Merged)) {
        self.last_sweep = now;
        for b in &mut self.batches {
            b.items.push(Item::Sweep(idx, now));
        }
        self.send();
        while self.in_flight > 0 {
            self.merge_one(sink);
        }
    }

    /// Asks worker `w` `ask(w)` (None: not that one) and waits for the
    /// answers, in worker order.
    fn ask(&self, mut ask: impl FnMut(usize) -> Option<Ask>) -> Vec<Option<Answer>> {
        let rxs: Vec<Option<Receiver<Answer>>> = (0..self.workers.len())
            .map(|w| {
                ask(w).map(|a| {
                    let (tx, rx) = sync_channel(1);
                    // A worker gone shows when the answer is awaited.
                    self.workers[w].request(Msg::Query(a, tx));
                    rx
                })
            })
            .collect();
        rxs.into_iter()
            .map(|rx| rx.map(|rx| rx.recv().expect("a keepwatch worker thread stopped")))
            .collect()
    }

    /// The global id of worker `w`'s connection `local`: None for one
    /// whose creation is not merged yet (the pool is not [`Pool::idle`]).
    fn global(&self, w: usize, local: u64) -> Option<u64> {
        self.workers[w].ids.get(&local).copied()
    }

    /// Records answered by the workers with their global ids and the index
    /// of the frame that created them, in id order.
    fn records(&self, answers: Vec<Option<Answer>>) -> Vec<(ConnectionRecord, u64)> {
        let mut v: Vec<(ConnectionRecord, u64)> = Vec::new();
        for (w, a) in answers.into_iter().enumerate() {
            let Some(Answer::Records(rs)) = a else {
                continue;
            };
            for mut r in rs {
                if let Some(id) = self.global(w, r.id) {
                    r.id = id;
                    let start = self.start_of.get(&id).copied().unwrap_or(0);
                    v.push((r, start));
                }
            }
        }
        v.sort_unstable_by_key(|(r, _)| r.id);
        v
    }

    /// Open connections, closed ones lingering left out (exact when
    /// [`Pool::idle`]; one round trip to the workers).
    pub fn open_connections(&self) -> usize {
        self.ask(|_| Some(Ask::Count))
            .into_iter()
            .map(|a| match a {
                Some(Answer::Count(n)) => n,
                _ => 0,
            })
            .sum()
    }

    /// (global id, server) of the open connections, in id order (half-open
    /// and closed lingering ones left out).
    pub fn open_servers(&self) -> Vec<(u64, std::net::SocketAddr)> {
        let mut v = Vec::new();
        for (w, a) in self.ask(|_| Some(Ask::Servers)).into_iter().enumerate() {
            if let Some(Answer::Servers(s)) = a {
                v.extend(
                    s.into_iter()
                        .filter_map(|(l, srv)| Some((self.global(w, l)?, srv))),
                );
            }
        }
        v.sort_unstable_by_key(|&(id, _)| id);
        v
    }

    /// Records of the connections closed and lingering whose global id
    /// `skip` does not name, as one table's
    /// [`super::Analyzer::closed_records`] gives them (`end_cause` closed),
    /// with the index of the frame that created each. One round trip for the
    /// ids, a second only if some are wanted.
    pub fn closed_records(&self, skip: impl Fn(u64) -> bool) -> Vec<(ConnectionRecord, u64)> {
        let mut wanted: Vec<Vec<u64>> = self
            .ask(|_| Some(Ask::ClosedIds))
            .into_iter()
            .enumerate()
            .map(|(w, a)| match a {
                Some(Answer::Ids(ids)) => ids
                    .into_iter()
                    .filter(|&l| self.global(w, l).is_some_and(|g| !skip(g)))
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        if wanted.iter().all(Vec::is_empty) {
            return Vec::new();
        }
        let answers = self.ask(|w| {
            let ids = std::mem::take(&mut wanted[w]);
            (!ids.is_empty()).then_some(Ask::Closed(ids))
        });
        self.records(answers)
    }

    /// Records of every connection in the workers' tables, in id order,
    /// with the index of the frame that created each.
    pub fn open_records(&self) -> Vec<(ConnectionRecord, u64)> {
        let answers = self.ask(|_| Some(Ask::Open));
        self.records(answers)
    }

    fn merge_one(&mut self, sink: &mut dyn FnMut(Merged)) {
        let outs = match self.stash.pop_front() {
            Some(o) => o,
            None => self.receive(),
        };
        self.in_flight -= 1;
        self.merge(outs, sink);
    }

    /// Render buffers whose pieces have all been written go back to their
    /// worker's spares, unless a burst made them large ([`SPARE_TEXT`]).
    fn reclaim(&mut self) {
        let mut i = 0;
        while i < self.lent.len() {
            if Arc::strong_count(&self.lent[i].1) > 1 {
                i += 1;
                continue;
            }
            let (w, buf) = self.lent.swap_remove(i);
            if let Ok(mut t) = Arc::try_unwrap(buf) {
                // As many as there are batches to carry them.
                if self.spare_text[w].len() <= DEPTH + 1 && t.capacity() <= SPARE_TEXT {
                    t.clear();
                    self.spare_text[w].push(t);
                }
            }
        }
    }

    fn merge(&mut self, mut outs: Vec<Out>, sink: &mut dyn FnMut(Merged)) {
        self.reclaim();
        // Ids in order of creation.
        let mut created: Vec<(u64, usize, u64)> = Vec::new();
        let spares: Vec<Option<Batch>> = outs.iter_mut().map(|o| o.spare.take()).collect();
        let texts: Vec<Vec<Arc<Vec<u8>>>> = outs
            .iter_mut()
            .map(|o| o.text.drain(..).map(Arc::new).collect())
            .collect();
        for (w, o) in outs.iter_mut().enumerate() {
            let base = self.workers[w].created;
            created.extend(
                o.created
                    .iter()
                    .enumerate()
                    .map(|(j, &i)| (i, w, base + j as u64)),
            );
            self.workers[w].created += o.created.len() as u64;
        }
        created.sort_unstable();
        for (idx, w, local) in created {
            self.workers[w].ids.insert(local, self.next_id);
            self.start_of.insert(self.next_id, idx);
            self.next_id += 1;
        }
        // The peak of the summed estimates.
        let mut est: Vec<(u64, u8, usize, u64)> = Vec::new();
        for (w, o) in outs.iter().enumerate() {
            est.extend(o.est.iter().map(|&(i, p, e)| (i, p, w, e)));
        }
        est.sort_unstable_by_key(|&(i, p, w, _)| (i, p, w));
        for (_, _, w, e) in est {
            self.est_total = self.est_total - self.workers[w].est + e;
            self.workers[w].est = e;
            self.peak = self.peak.max(self.est_total);
        }
        // Records: by packet index, sweeps (in id order) before the packet's
        // own (in the order its table finished them).
        let mut recs: Vec<(u64, u8, u64, Merged)> = Vec::new();
        for (w, o) in outs.into_iter().enumerate() {
            for (seq, (i, p, mut r, bytes)) in o.recs.into_iter().enumerate() {
                let Some(id) = self.workers[w].ids.remove(&r.id) else {
                    continue; // unreachable: every record was created first
                };
                r.id = id;
                let key = if p == SWEEP { id } else { seq as u64 };
                let start = self.start_of.remove(&id).unwrap_or(0);
                let rendered = bytes.map(|(k, from, to)| Piece {
                    buf: texts[w][k].clone(),
                    from,
                    to,
                });
                recs.push((
                    i,
                    p,
                    key,
                    Merged {
                        record: r,
                        rendered,
                        start,
                    },
                ));
            }
        }
        recs.sort_unstable_by_key(|&(i, p, k, _)| (i, p, k));
        for (_, _, _, m) in recs {
            self.emitted += 1;
            sink(m);
        }
        for (w, ts) in texts.into_iter().enumerate() {
            self.lent.extend(ts.into_iter().map(|t| (w, t)));
        }
        self.reclaim();
        for (w, sp) in spares.into_iter().enumerate() {
            if let Some(mut b) = sp {
                b.text = self.spare_text[w].pop().unwrap_or_default();
                self.spare[w].push(b);
            }
        }
    }

    /// End of input: every record still to come, in order, and the tables'
    /// counters summed (the peak estimate as one table would have seen it).
    /// The workers stay, to [`Pool::render`], until [`Pool::close`].
    pub fn finish(&mut self, end: Timestamp, sink: &mut dyn FnMut(Merged)) -> TableStats {
        if self.pending > 0 {
            self.send();
        }
        while self.in_flight > 0 {
            self.merge_one(sink);
        }
        for w in self.workers.iter_mut().rev() {
            w.send(Msg::Finish(end));
        }
        let outs = self.receive();
        let mut total = TableStats::default();
        for o in &outs {
            if let Some(s) = &o.stats {
                total.add(s);
            }
        }
        self.merge(outs, sink);
        total.peak_memory = self.peak;
        total
    }

    /// Ends the worker threads (after [`Pool::finish`]).
    pub fn close(mut self) {
        for w in &mut self.workers {
            if let Link::Thread { tx, handle, .. } = &mut w.link {
                // Closing the channel ends the worker's loop.
                let (closed, _) = channel();
                drop(std::mem::replace(tx, closed));
                if let Some(h) = handle.take() {
                    let _ = h.join();
                }
            }
        }
    }
}

/// Where `payload` lies in a read block, as (index in `b.blocks`, offset),
/// the block added to the batch if needed; `None` if it is not in the
/// capture's current read block (a live capture, an empty payload).
/// `last` caches the block: fetched again only when the payload is outside it.
fn in_block(
    b: &mut Batch,
    payload: &[u8],
    last: &mut Option<crate::capture::file::ReadBlock>,
) -> Option<(u32, u32)> {
    if payload.is_empty() {
        return None;
    }
    let p = payload.as_ptr() as usize;
    let end = p + payload.len();
    let (base, top) = b.last_span;
    if p >= base && end <= top {
        return Some(((b.blocks.len() - 1) as u32, (p - base) as u32));
    }
    let span = |blk: &crate::capture::file::ReadBlock| {
        let base = blk.as_ptr() as usize;
        (base, base + blk.len())
    };
    let within = |blk: &crate::capture::file::ReadBlock| {
        let (base, top) = span(blk);
        (p >= base && end <= top).then(|| (p - base) as u32)
    };
    let off = match last.as_ref().and_then(within) {
        Some(off) => off,
        None => {
            *last = crate::capture::file::current_block();
            last.as_ref().and_then(within)?
        }
    };
    let blk = last.clone()?;
    b.last_span = span(&blk);
    b.blocks.push(blk);
    Some(((b.blocks.len() - 1) as u32, off))
}

/// Writes rendered bytes `b` to `out` with the first [`super::RENDER_ID`]
/// (in decimal) replaced by `id`.
pub fn write_with_id(out: &mut impl std::io::Write, b: &[u8], id: u64) -> std::io::Result<()> {
    const PH: &[u8] = b"18446744073709551615";
    debug_assert_eq!(PH, crate::engine::RENDER_ID.to_string().as_bytes());
    match memchr::memmem::find(b, PH) {
        Some(at) => {
            out.write_all(&b[..at])?;
            write!(out, "{id}")?;
            out.write_all(&b[at + PH.len()..])
        }
        None => out.write_all(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Render buffers back from the writing are kept for the next batches
    /// only while small: the buffers a burst filled are freed, not kept
    /// at their size (they piled up with every burst: 161 MB on dense-10x
    /// with two threads, issue 14).
    #[test]
    fn burst_sized_render_buffers_are_not_kept() {
        let mut p = Pool::new(&Options::default(), 2);
        for w in [0, 1, 0, 1, 0, 1, 0, 1] {
            let mut t = Vec::with_capacity(TEXT_KEEP + 1);
            t.extend_from_slice(b"a rendered line\n");
            p.lent.push((w, Arc::new(t)));
        }
        p.lent.push((0, Arc::new(Vec::with_capacity(4096))));
        // One still being written stays lent.
        let held = Arc::new(Vec::with_capacity(TEXT_KEEP + 1));
        p.lent.push((1, held.clone()));
        p.reclaim();
        assert_eq!(p.lent.len(), 1);
        let kept: Vec<usize> = p.spare_text.iter().flatten().map(Vec::capacity).collect();
        assert_eq!(kept, vec![4096]);
        assert!(p.spare_text.iter().flatten().all(Vec::is_empty));
        drop(held);
        p.reclaim();
        assert!(p.lent.is_empty());
        assert_eq!(p.spare_text.iter().flatten().count(), 1);
        p.close();
    }

    /// A render buffer back from the writing is used again, emptied first,
    /// on the reading thread's table and on the worker thread alike; one
    /// too large, or one past the count kept, is freed.
    #[test]
    fn render_buffers_are_reused_emptied() {
        fn render(r: &ConnectionRecord, b: &mut Vec<u8>) {
            b.extend_from_slice(format!("{}\n", r.packets).as_bytes());
        }
        let opts = Options {
            render: Some(render),
            ..Options::default()
        };
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples/captures/curl-http11-reuse.pcap");
        let cap = crate::capture::CaptureFile::open(&path).unwrap();
        let mut an = crate::engine::Analyzer::new(Options::default()).unwrap();
        cap.for_each(|p| an.packet(&p, &mut |_| {})).unwrap();
        let base = an.finish(&mut |_| {}).connections.remove(0);
        let rec = |packets| {
            let mut r = base.clone();
            r.packets = packets;
            Box::new(r)
        };
        let mut p = Pool::new(&opts, 2);
        let mut got = Vec::new();
        for n in 1..=6u64 {
            let b = p.render(vec![rec(n), rec(10 * n)]).wait().unwrap();
            got.push(String::from_utf8(b.clone()).unwrap());
            p.render_done(b);
            assert_eq!(p.render_spare.len(), 1);
        }
        let want: Vec<String> = (1..=6u64).map(|n| format!("{n}\n{}\n", 10 * n)).collect();
        assert_eq!(got, want);
        p.render_done(Vec::with_capacity(RENDER_SPARE_BYTES + 1));
        for _ in 0..2 * RENDER_SPARE {
            p.render_done(Vec::new());
        }
        assert_eq!(p.render_spare.len(), RENDER_SPARE);
        assert!(p
            .render_spare
            .iter()
            .all(|b| b.capacity() <= RENDER_SPARE_BYTES));
        p.close();
    }

    #[test]
    fn the_first_placeholder_id_is_replaced() {
        let ph = crate::engine::RENDER_ID.to_string();
        let line = format!("{{\"id\":{ph},\"client\":\"{ph}\"}}\n");
        let mut got = b"before\n".to_vec();
        write_with_id(&mut got, line.as_bytes(), 42).unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            format!("before\n{{\"id\":42,\"client\":\"{ph}\"}}\n")
        );
        let mut got = Vec::new();
        write_with_id(&mut got, b"no id", 7).unwrap();
        assert_eq!(got, b"no id");
    }

    #[test]
    fn both_directions_go_to_one_worker() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "2001:db8::7".parse().unwrap();
        let c: IpAddr = "192.168.1.20".parse().unwrap();
        for n in 1..=7 {
            for port in [1u16, 80, 443, 8080, 40000, 65535] {
                for (x, y) in [(a, c), (a, b), (c, b)] {
                    assert_eq!(
                        shard(x, port, y, 5555, n),
                        shard(y, 5555, x, port, n),
                        "{x}:{port} {y}:5555 n={n}"
                    );
                    assert!(shard(x, port, y, 5555, n) < n);
                }
            }
        }
    }

    #[test]
    fn two_threads_put_a_share_of_the_tables_on_the_reading_thread() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let s: IpAddr = "10.0.0.2".parse().unwrap();
        let jsonl = Options {
            render: Some(|_, _| {}),
            ..Options::default()
        };
        for (n, opts) in [(2usize, &Options::default()), (2, &jsonl), (3, &jsonl)] {
            let pool = Pool::new(opts, n);
            let inline: Vec<bool> = pool.workers.iter().map(Worker::inline).collect();
            assert_eq!(inline, (0..n).map(|i| n == 2 && i == 0).collect::<Vec<_>>());
            let mut count = vec![0u32; n];
            for port in 20000u16..30000 {
                let w = pool.route(shard_hash(a, port, s, 80));
                assert_eq!(w, pool.route(shard_hash(s, 80, a, port)));
                count[w] += 1;
            }
            let want: Vec<f64> = if n == 2 {
                vec![INLINE_SHARE, 1.0 - INLINE_SHARE]
            } else {
                vec![1.0 / n as f64; n]
            };
            for (c, w) in count.iter().zip(&want) {
                let got = f64::from(*c) / 10000.0;
                assert!((got - w).abs() < 0.03, "n={n}: {count:?}");
            }
            pool.close();
        }
    }

    #[test]
    fn connections_spread_over_workers() {
        for (a, s) in [
            ("10.0.0.1", "10.0.0.2"),
            ("::1", "::1"),
            ("fe80::1", "2001:db8::80"),
        ] {
            let a: IpAddr = a.parse().unwrap();
            let s: IpAddr = s.parse().unwrap();
            for n in [2usize, 3, 4] {
                let mut count = vec![0u32; n];
                for port in 30000u16..31000 {
                    count[shard(a, port, s, 80, n)] += 1;
                }
                // Ephemeral ports to one server: every worker gets within
                // a quarter of its even share.
                let even = 1000 / n as u32;
                for c in &count {
                    assert!(c.abs_diff(even) < even / 4, "{a} {s} n={n}: {count:?}");
                }
            }
        }
    }
}
