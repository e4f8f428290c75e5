//! A capped list of warnings, shared by the protocol inspectors: a connection
//! that goes badly wrong must not grow without bound, nor hide how much it
//! dropped. The first `cap` warnings are kept, then one closing line says how
//! many more there were. The HTTP/1 inspector keeps typed warnings
//! (`HttpWarning`); TLS and HTTP/2 keep their text.

use std::fmt::Display;

#[derive(Debug, Clone)]
pub struct Warnings<W = String> {
    list: Vec<W>,
    cap: usize,
    suppressed: u64,
    what: &'static str,
}

impl<W> Default for Warnings<W> {
    fn default() -> Self {
        Warnings::new(32, "")
    }
}

impl<W> Warnings<W> {
    /// `what` names the source in the closing line ("further TLS warnings").
    pub fn new(cap: usize, what: &'static str) -> Self {
        Warnings {
            list: Vec::new(),
            cap,
            suppressed: 0,
            what,
        }
    }

    pub fn push(&mut self, w: W) {
        if self.list.len() < self.cap {
            self.list.push(w);
        } else {
            self.suppressed += 1;
        }
    }

    /// The warnings kept (the closing line not included).
    pub fn kept(&self) -> &[W] {
        &self.list
    }

    /// The closing line, if any warnings were suppressed.
    fn closing(&self) -> Option<String> {
        (self.suppressed > 0).then(|| {
            let sep = if self.what.is_empty() { "" } else { " " };
            format!(
                "{} further{sep}{} warnings suppressed",
                self.suppressed, self.what
            )
        })
    }
}

impl<W: Display> Warnings<W> {
    /// The text users see: the kept warnings, then the closing line.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.list.iter().map(ToString::to_string).collect();
        out.extend(self.closing());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn keeps_the_first_and_counts_the_rest() {
        let mut w = Warnings::new(2, "TLS");
        for i in 0..5 {
            w.push(format!("w{i}"));
        }
        assert_eq!(w.kept(), ["w0", "w1"]);
        assert_eq!(w.lines(), ["w0", "w1", "3 further TLS warnings suppressed"]);
        let mut w: Warnings<u8> = Warnings::new(1, "");
        w.push(1);
        assert_eq!(w.lines(), ["1"]);
        w.push(2);
        assert_eq!(w.lines(), ["1", "1 further warnings suppressed"]);
    }
}
