//! A capture file read through a memory mapping must survive the file being
//! truncated under it (a `tcpdump -C/-W` ring rewriting its oldest file, `>
//! file`, log rotation): the kernel then removes the pages past the new end
//! from the mapping, and the next read of one of them raises SIGBUS, which
//! kills the process (issue 15: keepwatch died that way, exit 135).
//!
//! [`Guarded`] registers a mapping's address range with a SIGBUS handler
//! installed once per process. A fault inside a registered range is answered
//! by putting a page of zeros where the vanished page was (an anonymous
//! `MAP_FIXED` mapping over it, one page) and raising the range's flag; the
//! read that faulted then completes and reads zeros. The reader checks the
//! flag before it hands a record on ([`Guarded::hit`]) and stops there, as
//! a `pread` reader stops at a short read; it then reports how far the file
//! shrank. A SIGBUS outside every registered range is not ours: the previous
//! action is put back and the fault, raised again when the handler returns,
//! takes its usual course.
//!
//! What the flag cannot cover: a page removed after the reader checked the
//! flag but before the bytes it handed on were all read (the analysis of
//! that one packet is under way) reads as zeros. The reader stops at its
//! next record; that packet may be analysed from partly zeroed bytes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

/// Mappings guarded at once (a `report` reads one file at a time; `diff`
/// reads two).
const SLOTS: usize = 8;

struct Slot {
    start: AtomicUsize,
    end: AtomicUsize,
    hit: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    hit: AtomicBool::new(false),
};

static SLOTS_IN_USE: [Slot; SLOTS] = [FREE; SLOTS];
static PAGE: AtomicUsize = AtomicUsize::new(0);
static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// The action SIGBUS had before ours, put back for a fault that is not ours.
static mut PREVIOUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::uninit();

extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for s in &SLOTS_IN_USE {
        let (start, end) = (
            s.start.load(Ordering::Acquire),
            s.end.load(Ordering::Acquire),
        );
        if start != 0 && addr >= start && addr < end {
            let at = addr & !(page - 1);
            // SAFETY: `at` is a page inside a mapping this process made and
            // still holds (the slot is cleared before it is unmapped); the
            // page is replaced by zeros, which is what the reader expects.
            let p = unsafe {
                libc::mmap(
                    at as *mut libc::c_void,
                    page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                s.hit.store(true, Ordering::Release);
                return;
            }
        }
    }
    // Not ours: the previous action takes the fault when it comes again.
    // SAFETY: PREVIOUS was written before the handler was installed.
    unsafe {
        libc::sigaction(
            libc::SIGBUS,
            (*std::ptr::addr_of!(PREVIOUS)).as_ptr(),
            std::ptr::null_mut(),
        );
    }
}

fn install() -> bool {
    INSTALL.call_once(|| {
        // SAFETY: sysconf and sigaction with valid arguments; PREVIOUS is
        // written before the handler that reads it can run.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE);
            if page <= 0 {
                return;
            }
            PAGE.store(page as usize, Ordering::Relaxed);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old) != 0 {
                return;
            }
            (*std::ptr::addr_of_mut!(PREVIOUS)).write(old);
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_sigbus as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
            libc::sigemptyset(&mut act.sa_mask);
            if libc::sigaction(libc::SIGBUS, &act, std::ptr::null_mut()) == 0 {
                INSTALLED.store(true, Ordering::Release);
            }
        }
    });
    INSTALLED.load(Ordering::Acquire)
}

/// A mapped range under the guard while this lives. Drop it before the
/// mapping is unmapped.
pub struct Guarded {
    slot: &'static Slot,
}

impl Guarded {
    /// Guards `[start, start + len)`; None if the handler could not be
    /// installed or every slot is taken (then do not read through a map).
    pub fn new(start: *const u8, len: usize) -> Option<Guarded> {
        if len == 0 || !install() {
            return None;
        }
        for slot in &SLOTS_IN_USE {
            if slot
                .start
                .compare_exchange(0, usize::MAX, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                slot.hit.store(false, Ordering::Relaxed);
                slot.end.store(start as usize + len, Ordering::Release);
                slot.start.store(start as usize, Ordering::Release);
                return Some(Guarded { slot });
            }
        }
        None
    }

    /// A page of the range vanished (the file shrank) and was read as zeros.
    #[inline]
    pub fn hit(&self) -> bool {
        self.slot.hit.load(Ordering::Acquire)
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.slot.end.store(0, Ordering::Release);
        self.slot.start.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The file shrinks under a mapping: reading past the new end gives
    /// zeros and raises the flag instead of killing the process; a mapping
    /// of a file that does not shrink never raises it.
    #[test]
    fn a_read_past_a_shrunk_end_reads_zeros_and_is_flagged() {
        let page = 4096 * 4;
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&vec![7u8; page * 4]).unwrap();
        // SAFETY: the test's own file; it is truncated on purpose.
        let m = unsafe { memmap2::Mmap::map(&f).unwrap() };
        let g = Guarded::new(m.as_ptr(), m.len()).expect("guard installed");
        assert_eq!(m[page * 3], 7);
        assert!(!g.hit());
        f.set_len(page as u64).unwrap();
        assert_eq!(m[0], 7, "before the cut: still the file");
        // SAFETY: a read of the map; past the cut it would be SIGBUS
        // without the guard.
        let past = unsafe { std::ptr::read_volatile(m.as_ptr().add(page * 2 + 5)) };
        assert_eq!(past, 0);
        assert!(g.hit());
        drop(g);
        drop(m);
    }
}
