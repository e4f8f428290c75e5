//! BPF filters on capture files, compiled by libpcap exactly as tcpdump and
//! tshark compile them (`-f 'tcp port 80'`). A pcapng file may mix link types,
//! so one program is compiled per link type, on first use.
//!
//! Programs are compiled on a dead libpcap handle, which wants the host's DLT
//! value, not the LINKTYPE number a file records: the two differ for raw IP
//! (LINKTYPE_RAW 101, and the historical 12 and 14, are DLT_RAW). A dead
//! handle also knows only the host's own `AF_` values for BSD loopback
//! (DLT_NULL / DLT_LOOP): where tcpdump, reading the file, also accepts the
//! BSD values for IPv6 (24, 28, 30) and a byte-swapped word, a dead handle
//! would reject every such frame. So a loopback frame is shown to the program
//! with its 4-byte family word rewritten to the host's `AF_INET` or `AF_INET6`
//! as the IP version nibble says — the same nibble the decoder goes by — and
//! everything else (offsets, `len`, `greater`) stays as tcpdump sees it.

use crate::decode::linktype as lt;
use pcap::{BpfProgram, Capture, Linktype};

pub struct PacketFilter {
    expr: String,
    /// Per LINKTYPE: the program, or libpcap's reason it cannot compile there.
    programs: Vec<(u32, Result<BpfProgram, String>)>,
    /// Loopback frames whose family word has to be rewritten (see above).
    scratch: Vec<u8>,
}

/// The expression cannot be compiled for this link type (e.g. `ether host`
/// on raw IP): the frame was neither passed nor rejected. `reason` is
/// libpcap's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CannotFilter<'a> {
    pub reason: &'a str,
}

impl PacketFilter {
    /// Checks the expression now (against Ethernet) so a typo fails before any
    /// file is read, with libpcap's own message. As in tcpdump, an expression
    /// that no Ethernet frame can pass (`ip and ip6`) is an error too.
    pub fn new(expr: &str) -> Result<Self, String> {
        let p = Capture::dead(Linktype(dlt(lt::ETHERNET)))
            .and_then(|c| c.compile(expr, true))
            .map_err(|e| format!("bad filter '{expr}': {e}"))?;
        Ok(PacketFilter {
            expr: expr.to_string(),
            programs: vec![(lt::ETHERNET, Ok(p))],
            scratch: Vec::new(),
        })
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Whether the frame passes. `Err` when the expression cannot compile for
    /// this link type: the caller counts those frames and says so, rather than
    /// counting them as filtered out.
    /// `wire_len` is the frame's length on the wire: `greater`, `less` and
    /// `len` test it, as tcpdump does, even when the snaplen cut the frame.
    pub fn matches(
        &mut self,
        linktype: u32,
        frame: &[u8],
        wire_len: u32,
    ) -> Result<bool, CannotFilter<'_>> {
        let idx = match self.programs.iter().position(|(l, _)| *l == linktype) {
            Some(i) => i,
            None => {
                let p = compile(&self.expr, linktype);
                self.programs.push((linktype, p));
                self.programs.len() - 1
            }
        };
        let prog = match &self.programs[idx].1 {
            Ok(p) => p,
            Err(e) => return Err(CannotFilter { reason: e }),
        };
        if matches!(linktype, lt::NULL | lt::LOOP) && frame.len() >= 5 {
            let af = match frame[4] >> 4 {
                4 => libc::AF_INET as u32,
                6 => libc::AF_INET6 as u32,
                _ => return Ok(run(prog, frame, wire_len)),
            };
            // NULL: the writer's (here: the host's) byte order; LOOP: network.
            let word = if linktype == lt::NULL {
                af.to_ne_bytes()
            } else {
                af.to_be_bytes()
            };
            if frame[..4] != word {
                self.scratch.clear();
                self.scratch.extend_from_slice(&word);
                self.scratch.extend_from_slice(&frame[4..]);
                return Ok(run(prog, &self.scratch, wire_len));
            }
        }
        Ok(run(prog, frame, wire_len))
    }

    /// libpcap's reason the expression cannot compile for `linktype`, if it
    /// was tried and failed.
    pub fn error(&self, linktype: u32) -> Option<&str> {
        self.programs
            .iter()
            .find(|(l, _)| *l == linktype)
            .and_then(|(_, p)| p.as_ref().err().map(String::as_str))
    }
}

/// The host's DLT value for a LINKTYPE number (libpcap's `linktype_to_dlt`
/// for the link types keepwatch decodes; the others are equal).
fn dlt(linktype: u32) -> i32 {
    match linktype {
        lt::RAW | lt::RAW_OPENBSD | lt::RAW_BSDI => {
            // DLT_RAW is 12 on most systems and 14 on OpenBSD.
            Linktype::from_name("RAW").map_or(12, |l| l.0)
        }
        other => other as i32,
    }
}

fn compile(expr: &str, linktype: u32) -> Result<BpfProgram, String> {
    let cap = Capture::dead(Linktype(dlt(linktype))).map_err(|e| e.to_string())?;
    match cap.compile(expr, true) {
        Ok(p) => Ok(p),
        // The optimiser proved the expression false for every frame of this
        // link type (`ip6` on LINKTYPE_IPV4): libpcap calls that an error
        // (tcpdump stops), but for one link type among several it is simply
        // "none pass". Unoptimised, the same expression compiles.
        Err(e) if e.to_string().contains("rejects all packets") => {
            cap.compile(expr, false).map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// libpcap's own `pcap_offline_filter`, called with the real wire length. The
/// `pcap` crate's `BpfProgram::filter` sets the length to the captured length,
/// which makes `greater`/`less`/`len` wrong on snaplen-cut captures.
fn run(prog: &BpfProgram, frame: &[u8], wire_len: u32) -> bool {
    #[repr(C)]
    struct RawProgram {
        bf_len: libc::c_uint,
        bf_insns: *const libc::c_void,
    }
    #[repr(C)]
    struct RawHeader {
        ts: libc::timeval,
        caplen: u32,
        len: u32,
    }
    extern "C" {
        fn pcap_offline_filter(
            prog: *const RawProgram,
            h: *const RawHeader,
            pkt: *const u8,
        ) -> libc::c_int;
    }
    let insns = prog.get_instructions();
    let raw = RawProgram {
        bf_len: insns.len() as libc::c_uint,
        // BpfInstruction is #[repr(transparent)] over libpcap's bpf_insn.
        bf_insns: insns.as_ptr() as *const libc::c_void,
    };
    let hdr = RawHeader {
        ts: libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        caplen: frame.len() as u32,
        len: wire_len.max(frame.len() as u32),
    };
    // SAFETY: `raw` points at the program's instructions, alive for the
    // call; the header and the frame are valid for reads of the lengths given.
    unsafe { pcap_offline_filter(&raw, &hdr, frame.as_ptr()) > 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ip_link_types_compile_as_dlt_raw() {
        let mut f = PacketFilter::new("tcp").unwrap();
        // IPv4 header (20 bytes) with protocol TCP, then a TCP header.
        let mut ip = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        ip.extend_from_slice(&[
            0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 2, 0xff, 0xff,
        ]);
        ip.extend_from_slice(&[0, 0, 0, 0]);
        for l in [lt::RAW, lt::RAW_OPENBSD, lt::RAW_BSDI, lt::IPV4] {
            assert_eq!(f.matches(l, &ip, 40), Ok(true), "link type {l}");
        }
        // Proven false for a whole link type: a rejection, not an error.
        let mut f = PacketFilter::new("ip6").unwrap();
        assert_eq!(f.matches(lt::IPV4, &ip, 40), Ok(false));
        // `greater` tests the length on the wire, not what the snaplen kept.
        let mut f = PacketFilter::new("greater 1000").unwrap();
        assert_eq!(f.matches(lt::RAW, &ip, 1500), Ok(true));
        assert_eq!(f.matches(lt::RAW, &ip, 40), Ok(false));
    }

    #[test]
    fn expression_impossible_on_a_link_type_is_not_a_rejection() {
        let mut f = PacketFilter::new("ether host 00:11:22:33:44:55").unwrap();
        let r = f.matches(lt::RAW, &[0x45; 40], 40);
        assert!(PacketFilter::new("ip and ip6").is_err());
        assert!(r.is_err(), "{r:?}");
        assert!(f.error(lt::RAW).is_some());
        assert!(f.error(lt::ETHERNET).is_none());
    }
}
