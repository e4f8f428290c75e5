//! Live capture with libpcap. The capture loop runs on its own thread and never
//! waits for the analysis: packets are copied into batches (one buffer per
//! batch, not one allocation per packet) and handed over a bounded channel; if
//! the analysis falls behind, whole batches are dropped and counted, and the
//! count is reported beside the kernel's own drop figures. The optional `-w`
//! file is written by the capture thread, so it holds every captured packet.

use super::RawPacket;
use crate::time::Timestamp;
use pcap::{Capture, Device, Precision};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
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
            data: Vec::with_capacity(256 * 1024),
            index: Vec::with_capacity(512),
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
}

pub enum Event {
    Packets(Batch),
    /// The capture ended (count reached, stop requested, or an error).
    Ended(Option<String>),
}

pub struct LiveCapture {
    rx: Receiver<Event>,
    stop: Arc<AtomicBool>,
    pub counters: Arc<LiveCounters>,
    thread: Option<JoinHandle<()>>,
    pub linktype: u32,
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

fn explain(e: pcap::Error, iface: &str) -> String {
    let msg = e.to_string();
    let lower = msg.to_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        format!(
            "cannot capture on {iface}: {msg}. Run as root, or give the binary the capabilities: sudo setcap cap_net_raw,cap_net_admin=eip $(command -v keepwatch)"
        )
    } else if lower.contains("no such device") || lower.contains("doesn't exist") {
        let names = interfaces()
            .map(|v| v.into_iter().map(|i| i.name).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        format!("no such interface '{iface}' ({msg}); interfaces: {names}")
    } else {
        format!("cannot capture on {iface}: {msg}")
    }
}

impl LiveCapture {
    /// Opens the device, applies the filter, drops privileges if asked, and
    /// starts the capture thread.
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
            .timeout(100)
            .immediate_mode(true)
            .buffer_size(16 << 20)
            .precision(Precision::Nano)
            .open()
            .map_err(|e| explain(e, &iface))?;
        if let Some(f) = &cfg.filter {
            cap.filter(f, true)
                .map_err(|e| format!("bad filter '{f}': {e}"))?;
        }
        let linktype = cap.get_datalink().0 as u32;
        let mut save = match &cfg.write {
            Some(p) => Some(
                cap.savefile(p)
                    .map_err(|e| format!("cannot write {}: {e}", p.display()))?,
            ),
            None => None,
        };
        if let Some(u) = &cfg.user {
            drop_privileges(u)?;
        }
        let (tx, rx) = sync_channel::<Event>(64);
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(LiveCounters::default());
        let (stop2, ctr) = (stop.clone(), counters.clone());
        let count = cfg.count;
        let thread = std::thread::Builder::new()
            .name("keepwatch-capture".into())
            .spawn(move || {
                let mut batch = Batch::new(linktype);
                let mut last_flush = std::time::Instant::now();
                let mut last_stats = std::time::Instant::now();
                let mut n = 0u64;
                let mut end_msg: Option<String> = None;
                let send = |b: Batch, ctr: &LiveCounters| {
                    let len = b.len() as u64;
                    if tx.try_send(Event::Packets(b)).is_err() {
                        ctr.dropped_by_keepwatch.fetch_add(len, Ordering::Relaxed);
                    }
                };
                loop {
                    if stop2.load(Ordering::Relaxed) {
                        break;
                    }
                    match cap.next_packet() {
                        Ok(p) => {
                            if let Some(s) = save.as_mut() {
                                s.write(&p);
                            }
                            let h = p.header;
                            let ts = Timestamp::from_secs_frac(
                                h.ts.tv_sec,
                                h.ts.tv_usec as u64,
                                1_000_000_000,
                            );
                            let off = batch.data.len() as u32;
                            batch.data.extend_from_slice(p.data);
                            batch.index.push((ts, off, p.data.len() as u32, h.len));
                            n += 1;
                            ctr.captured.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(pcap::Error::TimeoutExpired) => {}
                        Err(e) => {
                            end_msg = Some(format!("capture error: {e}"));
                            break;
                        }
                    }
                    let reached = count.is_some_and(|c| n >= c);
                    if !batch.is_empty()
                        && (batch.len() >= 512
                            || batch.data.len() >= 192 * 1024
                            || last_flush.elapsed().as_millis() >= 50
                            || reached)
                    {
                        send(std::mem::replace(&mut batch, Batch::new(linktype)), &ctr);
                        last_flush = std::time::Instant::now();
                    }
                    if last_stats.elapsed().as_millis() >= 500 || reached {
                        last_stats = std::time::Instant::now();
                        if let Ok(st) = cap.stats() {
                            ctr.kernel_received
                                .store(st.received as u64, Ordering::Relaxed);
                            ctr.kernel_dropped
                                .store(st.dropped as u64, Ordering::Relaxed);
                            ctr.interface_dropped
                                .store(st.if_dropped as u64, Ordering::Relaxed);
                        }
                    }
                    if reached {
                        break;
                    }
                }
                if !batch.is_empty() {
                    send(batch, &ctr);
                }
                if let Ok(st) = cap.stats() {
                    ctr.kernel_received
                        .store(st.received as u64, Ordering::Relaxed);
                    ctr.kernel_dropped
                        .store(st.dropped as u64, Ordering::Relaxed);
                    ctr.interface_dropped
                        .store(st.if_dropped as u64, Ordering::Relaxed);
                }
                if let Some(s) = save.as_mut() {
                    let _ = s.flush();
                }
                drop(save);
                // The end marker must arrive: block for it.
                let _ = tx.send(Event::Ended(end_msg));
            })
            .map_err(|e| format!("cannot start the capture thread: {e}"))?;
        Ok(LiveCapture {
            rx,
            stop,
            counters,
            thread: Some(thread),
            linktype,
        })
    }

    /// Asks the capture thread to stop; it flushes and sends `Ended`.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
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
        self.stop.store(true, Ordering::Relaxed);
        // Drain so the thread's final blocking send cannot wedge it.
        while self.rx.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Like `tcpdump -Z`: give up root once the device is open.
fn drop_privileges(user: &str) -> Result<(), String> {
    let cname = std::ffi::CString::new(user).map_err(|_| format!("bad user name '{user}'"))?;
    // SAFETY: getpwnam returns a pointer to static storage or null; we copy
    // the ids out before any other call that could overwrite it.
    let (uid, gid) = unsafe {
        let pw = libc::getpwnam(cname.as_ptr());
        if pw.is_null() {
            return Err(format!("no such user '{user}' (for --user)"));
        }
        ((*pw).pw_uid, (*pw).pw_gid)
    };
    // SAFETY: plain syscalls with checked return values; order matters
    // (supplementary groups and gid before uid).
    unsafe {
        if libc::setgroups(1, &gid) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
            return Err(format!(
                "cannot drop privileges to '{user}': {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}
