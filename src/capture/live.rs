//! Live capture with libpcap. The capture loop runs on its own thread and never
//! waits for the analysis: packets are copied into batches (one buffer per
//! batch, not one allocation per packet) and handed over a bounded channel.
//! While the channel is full the current batch keeps growing (up to a cap);
//! only beyond that are packets dropped, counted, and reported beside the
//! kernel's own drop figures. The optional `-w` file is written by the capture
//! thread, so it holds every captured packet.
//!
//! The handle is non-blocking and the thread waits in `poll()` on the pcap
//! descriptor and on an eventfd that [`Stopper::stop`] writes to. (A blocking
//! `pcap_next_ex` with a read timeout is not usable: libpcap 1.10 on Linux in
//! immediate mode keeps polling inside the call and never returns on the
//! timeout, so neither a stop request nor a lone buffered packet would ever be
//! seen.) On stop, the packets already in the kernel ring are read and handed
//! over, the `-w` file is flushed and closed, and only then is `Ended` sent.

use super::pcap_write::PcapWriter;
use crate::decode::RawPacket;
use crate::time::Timestamp;
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::eventfd::{EfdFlags, EventFd};
use pcap::{Active, Capture, Device, Precision};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub interface: String,
    pub filter: Option<String>,
    pub snaplen: i32,
    pub promisc: bool,
    pub write: Option<std::path::PathBuf>,
    /// Stop after this many packets (counted by the capture thread).
    pub count: Option<u64>,
    /// Drop root privileges to this user once the device is open.
    pub user: Option<String>,
}

/// A batch is handed over once it holds this many packets or bytes, or when
/// the kernel ring has been drained (low latency when traffic is light).
const BATCH_PACKETS: usize = 1024;
const BATCH_BYTES: usize = 256 * 1024;
/// While the analysis is behind (channel full) the current batch keeps
/// growing up to these caps; beyond them its packets are dropped and counted.
const BACKLOG_PACKETS: usize = 256 * 1024;
const BACKLOG_BYTES: usize = 64 << 20;
/// Batches in flight between the capture thread and the analysis.
const CHANNEL_BATCHES: usize = 64;
/// Packets read per wake-up before the stop flag is looked at again.
const READ_BURST: usize = 4096;
/// At most this long is spent, after a stop request, reading what the
/// kernel ring still holds.
const FINAL_DRAIN: std::time::Duration = std::time::Duration::from_millis(250);
/// How long the capture thread sleeps in poll() when nothing happens (it
/// refreshes the pcap statistics this often).
const POLL_MS: u16 = 200;

/// Packets copied out of libpcap's buffer, handed over in one piece.
pub struct Batch {
    pub linktype: u32,
    data: Vec<u8>,
    /// (timestamp, offset in data, captured length, length on the wire)
    index: Vec<(Timestamp, u32, u32, u32)>,
}

impl Batch {
    fn new(linktype: u32) -> Self {
        Batch {
            linktype,
            data: Vec::with_capacity(16 * 1024),
            index: Vec::with_capacity(64),
        }
    }
    pub fn len(&self) -> usize {
        self.index.len()
    }
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
    pub fn packets(&self) -> impl Iterator<Item = RawPacket<'_>> {
        self.index
            .iter()
            .map(move |&(ts, off, cap, orig)| RawPacket {
                ts,
                linktype: self.linktype,
                data: &self.data[off as usize..(off + cap) as usize],
                orig_len: orig,
            })
    }
    fn full(&self) -> bool {
        self.index.len() >= BATCH_PACKETS || self.data.len() >= BATCH_BYTES
    }
}

/// Counters shared between the capture thread and the caller.
#[derive(Default)]
pub struct LiveCounters {
    pub captured: AtomicU64,
    /// Packets keepwatch itself dropped because the analysis fell behind.
    pub dropped_by_keepwatch: AtomicU64,
    pub kernel_received: AtomicU64,
    pub kernel_dropped: AtomicU64,
    pub interface_dropped: AtomicU64,
    /// The `-w` file could not be written (the message names the path and
    /// the error); capture continues without writing.
    pub write_error: std::sync::Mutex<Option<String>>,
}

impl LiveCounters {
    /// The `-w` write error, if one happened.
    pub fn write_error(&self) -> Option<String> {
        self.write_error.lock().ok().and_then(|e| e.clone())
    }
}

pub enum Event {
    Packets(Batch),
    /// The capture ended (count reached, stop requested, or an error). Sent
    /// after the last batch and after the `-w` file is flushed and closed.
    Ended(Option<String>),
}

/// Asks the capture thread to stop, from any thread (a signal handler
/// thread, a timer): sets a flag and wakes the thread's poll().
#[derive(Clone)]
pub struct Stopper(Arc<StopInner>);

struct StopInner {
    flag: AtomicBool,
    wake: EventFd,
}

impl Stopper {
    fn new() -> Result<Self, String> {
        let wake = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map_err(|e| format!("cannot create an eventfd: {}", std::io::Error::from(e)))?;
        Ok(Stopper(Arc::new(StopInner {
            flag: AtomicBool::new(false),
            wake,
        })))
    }

    pub fn stop(&self) {
        if !self.0.flag.swap(true, Ordering::SeqCst) {
            // Cannot fail short of a counter overflow, which one write never reaches.
            let _ = self.0.wake.write(1);
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.0.flag.load(Ordering::SeqCst)
    }
}

pub struct LiveCapture {
    rx: Receiver<Event>,
    stopper: Stopper,
    pub counters: Arc<LiveCounters>,
    thread: Option<JoinHandle<()>>,
    pub linktype: u32,
    /// Timestamps are in nanoseconds (else microseconds, also in the `-w` file).
    pub nanosecond: bool,
}

/// A capture device as `keepwatch interfaces` lists it.
pub struct InterfaceInfo {
    pub name: String,
    pub description: Option<String>,
    pub addresses: Vec<String>,
    pub up: bool,
    pub running: bool,
    pub loopback: bool,
}

pub fn interfaces() -> Result<Vec<InterfaceInfo>, String> {
    let devs = Device::list().map_err(|e| format!("cannot list capture devices: {e}"))?;
    Ok(devs
        .into_iter()
        .map(|d| InterfaceInfo {
            addresses: d.addresses.iter().map(|a| a.addr.to_string()).collect(),
            up: d.flags.is_up(),
            running: d.flags.is_running(),
            loopback: d.flags.is_loopback(),
            name: d.name,
            description: d.desc,
        })
        .collect())
}

fn interface_names() -> String {
    interfaces()
        .map(|v| v.into_iter().map(|i| i.name).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

fn explain(e: pcap::Error, iface: &str) -> String {
    let msg = e.to_string();
    let lower = msg.to_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        // The real path of this binary: `$(command -v keepwatch)` expands to
        // nothing when keepwatch is not on PATH (e.g. run from target/release).
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "keepwatch".into());
        format!(
            "cannot capture on {iface}: {msg}. Run as root, or give the binary the capabilities (as root: setcap cap_net_raw,cap_net_admin=eip {exe}; as a user: sudo setcap cap_net_raw,cap_net_admin=eip {exe})"
        )
    } else if lower.contains("no such device") || lower.contains("doesn't exist") {
        format!(
            "no such interface '{iface}' ({msg}); interfaces: {}",
            interface_names()
        )
    } else {
        format!("cannot capture on {iface}: {msg}")
    }
}

extern "C" {
    // libpcap >= 1.5; the pcap crate links libpcap.
    fn pcap_get_tstamp_precision(p: *mut libc::c_void) -> libc::c_int;
}
const PCAP_TSTAMP_PRECISION_NANO: libc::c_int = 1;

impl LiveCapture {
    /// Opens the device, applies the filter, drops privileges if asked, opens
    /// the `-w` file (after the drop, as tcpdump -Z does: it is created as the
    /// unprivileged user) and starts the capture thread.
    pub fn start(cfg: LiveConfig) -> Result<Self, String> {
        let iface = cfg.interface.clone();
        if let Ok(list) = interfaces() {
            if !list.iter().any(|i| i.name == iface) {
                let names: Vec<String> = list.into_iter().map(|i| i.name).collect();
                return Err(format!(
                    "no such interface '{iface}'; interfaces: {}",
                    names.join(", ")
                ));
            }
        }
        let mut cap = Capture::from_device(iface.as_str())
            .map_err(|e| explain(e, &iface))?
            .promisc(cfg.promisc)
            .snaplen(cfg.snaplen)
            // Not immediate mode: libpcap then uses TPACKET_V3, whose ring packs
            // packets by their size; immediate mode means TPACKET_V2 with frames
            // sized for the snaplen/MTU (64 KiB on lo), i.e. only ~250 packets
            // in the 16 MiB ring and kernel drops under load. The cost is up
            // to 50 ms of latency (the block timeout), irrelevant here:
            // connections are reported seconds after they end.
            .timeout(50)
            .buffer_size(16 << 20)
            .precision(Precision::Nano)
            .open()
            .map_err(|e| explain(e, &iface))?;
        // The precision request may be refused: ask what we got rather than
        // misreading microseconds as nanoseconds.
        // SAFETY: the handle is valid and activated for the duration of the call.
        let nanosecond =
            unsafe { pcap_get_tstamp_precision(cap.as_ptr().cast()) } == PCAP_TSTAMP_PRECISION_NANO;
        if let Some(f) = &cfg.filter {
            cap.filter(f, true)
                .map_err(|e| format!("bad filter '{f}': {e}"))?;
        }
        let linktype = cap.get_datalink().0 as u32;
        if let Some(u) = &cfg.user {
            drop_privileges(u)?;
        }
        let save = match &cfg.write {
            Some(p) => Some(
                PcapWriter::create(p, linktype, cfg.snaplen.max(1) as u32, nanosecond)
                    .map_err(|e| format!("cannot write {}: {e}", crate::escape::path(p)))?,
            ),
            None => None,
        };
        let cap = cap
            .setnonblock()
            .map_err(|e| format!("cannot capture on {iface}: {e}"))?;
        let (tx, rx) = sync_channel::<Event>(CHANNEL_BATCHES);
        let stopper = Stopper::new()?;
        let counters = Arc::new(LiveCounters::default());
        let mut worker = Worker {
            cap,
            save,
            tx,
            stopper: stopper.clone(),
            ctr: counters.clone(),
            batch: Batch::new(linktype),
            linktype,
            units: if nanosecond { 1_000_000_000 } else { 1_000_000 },
            count: cfg.count,
            n: 0,
            last_stats: std::time::Instant::now(),
        };
        let thread = std::thread::Builder::new()
            .name("keepwatch-capture".into())
            .spawn(move || worker.run())
            .map_err(|e| format!("cannot start the capture thread: {e}"))?;
        Ok(LiveCapture {
            rx,
            stopper,
            counters,
            thread: Some(thread),
            linktype,
            nanosecond,
        })
    }

    /// Asks the capture thread to stop; it reads what the kernel already
    /// captured, flushes the `-w` file and sends `Ended`.
    pub fn request_stop(&self) {
        self.stopper.stop();
    }

    /// A handle to stop the capture from another thread (signal handler).
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// The next event, or None after `timeout` with nothing to report.
    pub fn next(&self, timeout: std::time::Duration) -> Option<Event> {
        match self.rx.recv_timeout(timeout) {
            Ok(e) => Some(e),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Event::Ended(None)),
        }
    }
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        self.stopper.stop();
        // Disconnect the channel so no send of the capture thread can block.
        let (_, dead) = sync_channel(0);
        drop(std::mem::replace(&mut self.rx, dead));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The capture thread's state.
struct Worker {
    cap: Capture<Active>,
    save: Option<PcapWriter>,
    tx: SyncSender<Event>,
    stopper: Stopper,
    ctr: Arc<LiveCounters>,
    batch: Batch,
    linktype: u32,
    units: u64,
    count: Option<u64>,
    n: u64,
    last_stats: std::time::Instant,
}

enum Read {
    /// The kernel ring is empty.
    Drained,
    /// The burst limit was hit; more packets may be waiting.
    More,
    /// `--count` packets have been read.
    CountReached,
    Failed(String),
}

impl Worker {
    fn run(&mut self) {
        let mut end_msg = None;
        loop {
            if self.stopper.is_stopped() {
                // Packets the kernel captured before the stop are analysed
                // too; bounded in time, as busy traffic never drains the ring.
                let t0 = std::time::Instant::now();
                loop {
                    match self.read(READ_BURST) {
                        Read::More if t0.elapsed() < FINAL_DRAIN => {}
                        Read::Failed(m) => {
                            end_msg = Some(m);
                            break;
                        }
                        _ => break,
                    }
                }
                break;
            }
            match self.read(READ_BURST) {
                Read::Drained => {
                    if !self.batch.is_empty() {
                        self.hand_over();
                    }
                    self.refresh_stats(false);
                    if let Err(m) = self.wait() {
                        end_msg = Some(m);
                        break;
                    }
                }
                Read::More => {
                    if self.batch.full() {
                        self.hand_over();
                    }
                    self.refresh_stats(false);
                }
                Read::CountReached => break,
                Read::Failed(m) => {
                    end_msg = Some(m);
                    break;
                }
            }
        }
        // The last batch must arrive: block for it (the receiver drains
        // until `Ended`, or has hung up, which makes the send fail at once).
        if !self.batch.is_empty() {
            let b = std::mem::replace(&mut self.batch, Batch::new(self.linktype));
            let _ = self.tx.send(Event::Packets(b));
        }
        self.refresh_stats(true);
        self.flush_save();
        // Dropping the writer closes the file.
        self.save = None;
        let _ = self.tx.send(Event::Ended(end_msg));
    }

    /// Reads up to `burst` packets from the (non-blocking) handle.
    fn read(&mut self, burst: usize) -> Read {
        let mut got = 0usize;
        loop {
            if self.count.is_some_and(|c| self.n >= c) {
                return Read::CountReached;
            }
            if got >= burst {
                return Read::More;
            }
            match self.cap.next_packet() {
                Ok(p) => {
                    let h = p.header;
                    if let Some(s) = self.save.as_mut() {
                        s.write(h.ts.tv_sec as u32, h.ts.tv_usec as u32, h.len, p.data);
                    }
                    let ts =
                        Timestamp::from_secs_frac(h.ts.tv_sec, h.ts.tv_usec as u64, self.units);
                    let off = self.batch.data.len() as u32;
                    self.batch.data.extend_from_slice(p.data);
                    self.batch.index.push((ts, off, p.data.len() as u32, h.len));
                    self.n += 1;
                    got += 1;
                    self.ctr.captured.fetch_add(1, Ordering::Relaxed);
                    if self.batch.full() {
                        self.hand_over();
                    }
                }
                // Non-blocking mode: nothing more in the ring right now.
                Err(pcap::Error::TimeoutExpired) => return Read::Drained,
                Err(e) => return Read::Failed(format!("capture error: {e}")),
            }
        }
    }

    /// Hands the current batch to the analysis without waiting. If the channel
    /// is full the batch is kept and grows; past the backlog caps it is dropped.
    fn hand_over(&mut self) {
        self.flush_save();
        let b = std::mem::replace(&mut self.batch, Batch::new(self.linktype));
        match self.tx.try_send(Event::Packets(b)) {
            Ok(()) => {}
            Err(TrySendError::Full(Event::Packets(b))) => {
                if b.len() >= BACKLOG_PACKETS || b.data.len() >= BACKLOG_BYTES {
                    self.ctr
                        .dropped_by_keepwatch
                        .fetch_add(b.len() as u64, Ordering::Relaxed);
                } else {
                    self.batch = b;
                }
            }
            Err(_) => {
                // The receiver is gone: nobody wants the packets any more.
                self.stopper.stop();
            }
        }
    }

    /// Pushes the `-w` buffer to the file. On a write error (ENOSPC, EIO,
    /// EPIPE) the message goes to the caller and writing stops; the capture
    /// and the analysis go on.
    fn flush_save(&mut self) {
        if let Some(s) = self.save.as_mut() {
            if let Err(m) = s.flush() {
                if let Ok(mut e) = self.ctr.write_error.lock() {
                    e.get_or_insert(m);
                }
                self.save = None;
            }
        }
    }

    /// Sleeps until a packet, a stop request, or the poll interval.
    fn wait(&mut self) -> Result<(), String> {
        // SAFETY: the pcap descriptor stays open as long as `self.cap`, which
        // outlives this call.
        let pcap_fd = unsafe { BorrowedFd::borrow_raw(self.cap.as_raw_fd()) };
        let mut fds = [
            PollFd::new(pcap_fd, PollFlags::POLLIN),
            PollFd::new(self.stopper.0.wake.as_fd(), PollFlags::POLLIN),
        ];
        // A batch held back by a full channel is offered again soon.
        let ms = if self.batch.is_empty() { POLL_MS } else { 10 };
        match poll(&mut fds, ms) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
            Err(e) => Err(format!("capture error: poll: {}", std::io::Error::from(e))),
        }
    }

    fn refresh_stats(&mut self, now: bool) {
        if !now && self.last_stats.elapsed().as_millis() < 500 {
            return;
        }
        self.last_stats = std::time::Instant::now();
        if let Ok(st) = self.cap.stats() {
            self.ctr
                .kernel_received
                .store(st.received as u64, Ordering::Relaxed);
            self.ctr
                .kernel_dropped
                .store(st.dropped as u64, Ordering::Relaxed);
            self.ctr
                .interface_dropped
                .store(st.if_dropped as u64, Ordering::Relaxed);
        }
    }
}

/// Like `tcpdump -Z`: give up root once the device is open.
fn drop_privileges(user: &str) -> Result<(), String> {
    use nix::unistd::{setgid, setgroups, setuid, Uid, User};
    let pw = User::from_name(user)
        .map_err(|e| format!("cannot look up user '{user}': {}", std::io::Error::from(e)))?
        .ok_or_else(|| format!("no such user '{user}' (for --user)"))?;
    // Order matters: supplementary groups and gid before uid.
    setgroups(&[pw.gid])
        .and_then(|()| setgid(pw.gid))
        .and_then(|()| setuid(pw.uid))
        .map_err(|e| {
            format!(
                "cannot drop privileges to '{user}': {}",
                std::io::Error::from(e)
            )
        })?;
    // Make sure it cannot be undone.
    if !pw.uid.is_root() && setuid(Uid::from_raw(0)).is_ok() {
        return Err(format!("dropping privileges to '{user}' did not stick"));
    }
    Ok(())
}
