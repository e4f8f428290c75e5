//! A capped list of warnings, shared by the protocol inspectors: a connection
//! that goes badly wrong must not grow without bound, nor hide how much it
//! dropped. The first `cap` messages are kept, then one closing line says how
//! many more there were.

#[derive(Debug, Clone)]
pub struct Warnings {
    list: Vec<String>,
    cap: usize,
    suppressed: u64,
    what: &'static str,
}

impl Default for Warnings {
    fn default() -> Self {
        Warnings::new(32, "")
    }
}

impl Warnings {
    /// `what` names the source in the closing line ("further TLS warnings").
    pub fn new(cap: usize, what: &'static str) -> Self {
        Warnings {
            list: Vec::new(),
            cap,
            suppressed: 0,
            what,
        }
    }

    pub fn push(&mut self, msg: String) {
        if self.list.len() < self.cap {
            self.list.push(msg);
            return;
        }
        self.suppressed += 1;
        let sep = if self.what.is_empty() { "" } else { " " };
        let line = format!(
            "{} further{sep}{} warnings suppressed",
            self.suppressed, self.what
        );
        if self.list.len() == self.cap {
            self.list.push(line);
        } else if let Some(last) = self.list.last_mut() {
            *last = line;
        }
    }

    pub fn as_slice(&self) -> &[String] {
        &self.list
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
        assert_eq!(
            w.as_slice(),
            ["w0", "w1", "3 further TLS warnings suppressed"]
        );
    }
}
