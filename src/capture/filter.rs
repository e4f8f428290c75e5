//! BPF filters on capture files, compiled by libpcap exactly as tcpdump and
//! tshark compile them (`-f 'tcp port 80'`). A pcapng file may mix link types,
//! so one program is compiled per link type, on first use.

use pcap::{BpfProgram, Capture, Linktype};

pub struct PacketFilter {
    expr: String,
    programs: Vec<(u32, Option<BpfProgram>)>,
}

impl PacketFilter {
    /// Checks the expression now (against Ethernet) so a typo fails before any
    /// file is read, with libpcap's own message.
    pub fn new(expr: &str) -> Result<Self, String> {
        let mut f = PacketFilter {
            expr: expr.to_string(),
            programs: Vec::new(),
        };
        let p = compile(expr, super::linktype::ETHERNET)?;
        f.programs.push((super::linktype::ETHERNET, Some(p)));
        Ok(f)
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// True when the frame passes. A link type for which the expression cannot
    /// compile passes nothing (and the caller counts those frames as filtered).
    pub fn matches(&mut self, linktype: u32, frame: &[u8]) -> bool {
        let idx = match self.programs.iter().position(|(lt, _)| *lt == linktype) {
            Some(i) => i,
            None => {
                let p = compile(&self.expr, linktype).ok();
                self.programs.push((linktype, p));
                self.programs.len() - 1
            }
        };
        match &self.programs[idx].1 {
            Some(p) => p.filter(frame),
            None => false,
        }
    }
}

fn compile(expr: &str, linktype: u32) -> Result<BpfProgram, String> {
    let cap = Capture::dead(Linktype(linktype as i32)).map_err(|e| e.to_string())?;
    cap.compile(expr, true)
        .map_err(|e| format!("bad filter '{expr}': {e}"))
}
