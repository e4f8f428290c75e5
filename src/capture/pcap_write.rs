//! The `-w` file: classic pcap written by keepwatch itself, so that every
//! write error is seen. (libpcap's `pcap_dump` writes through stdio and
//! returns nothing: on a full disk or `/dev/full` the packets vanished and
//! the file was reported as written.)
//!
//! Writes go through a buffer that the capture thread flushes each time it
//! hands a batch over (at least every 200 ms while packets come), so an error
//! (ENOSPC, EIO, EPIPE) is seen within a batch of when it happens. After the
//! first error the writer takes no more packets: the error, with the path and
//! the number of packets that made it, is kept for the caller to report.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct PcapWriter<W: Write = File> {
    path: PathBuf,
    out: Option<BufWriter<W>>,
    /// Packets handed to the buffer, and packets known to be on disk.
    packets: u64,
    flushed: u64,
    error: Option<String>,
}

impl PcapWriter<File> {
    /// Creates (truncates) `path` and writes the pcap header: nanosecond magic
    /// when `nanos`, else microsecond.
    pub fn create(path: &Path, linktype: u32, snaplen: u32, nanos: bool) -> io::Result<Self> {
        let f = File::create(path)?;
        Self::new(path, f, linktype, snaplen, nanos)
    }
}

impl<W: Write> PcapWriter<W> {
    pub fn new(path: &Path, w: W, linktype: u32, snaplen: u32, nanos: bool) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(64 * 1024, w);
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&magic.to_ne_bytes());
        h[4..6].copy_from_slice(&2u16.to_ne_bytes());
        h[6..8].copy_from_slice(&4u16.to_ne_bytes());
        // thiszone, sigfigs: 0
        h[16..20].copy_from_slice(&snaplen.to_ne_bytes());
        h[20..24].copy_from_slice(&linktype.to_ne_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter {
            path: path.to_path_buf(),
            out: Some(out),
            packets: 0,
            flushed: 0,
            error: None,
        })
    }

    /// Appends one record (`frac` in the header's unit). Does nothing after
    /// an error.
    pub fn write(&mut self, secs: u32, frac: u32, orig_len: u32, data: &[u8]) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&secs.to_ne_bytes());
        h[4..8].copy_from_slice(&frac.to_ne_bytes());
        h[8..12].copy_from_slice(&(data.len() as u32).to_ne_bytes());
        h[12..16].copy_from_slice(&orig_len.to_ne_bytes());
        let r = out.write_all(&h).and_then(|_| out.write_all(data));
        match r {
            Ok(()) => self.packets += 1,
            Err(e) => self.fail(e),
        }
    }

    /// Pushes the buffer to the file; Err (once) when the write failed now
    /// or earlier.
    pub fn flush(&mut self) -> Result<(), String> {
        if let Some(out) = self.out.as_mut() {
            match out.flush() {
                Ok(()) => self.flushed = self.packets,
                Err(e) => self.fail(e),
            }
        }
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// The write error, if one happened.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Packets known to have reached the file.
    pub fn packets_written(&self) -> u64 {
        self.flushed
    }

    fn fail(&mut self, e: io::Error) {
        // The buffered rest cannot be written either: drop it without
        // another attempt (BufWriter's Drop would retry the write).
        if let Some(out) = self.out.take() {
            let (_inner, _lost) = out.into_parts();
        }
        self.error = Some(format!(
            "cannot write {}: {e}; it holds at most the first {} packets, the capture goes on without writing",
            crate::escape::path(&self.path),
            self.flushed
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that fails like a full disk after `room` bytes.
    struct Full {
        room: usize,
        got: Vec<u8>,
        kind: io::ErrorKind,
    }
    impl Write for Full {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from(self.kind));
            }
            let n = b.len().min(self.room);
            self.room -= n;
            self.got.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn header_and_records_are_classic_pcap() {
        let mut v = Vec::new();
        {
            let mut w = PcapWriter::new(Path::new("x.pcap"), &mut v, 1, 65535, true).unwrap();
            w.write(10, 999_999_999, 60, b"abcd");
            w.flush().unwrap();
            assert_eq!(w.packets_written(), 1);
        }
        assert_eq!(v.len(), 24 + 16 + 4);
        assert_eq!(u32::from_ne_bytes(v[0..4].try_into().unwrap()), 0xa1b2_3c4d);
        assert_eq!(u32::from_ne_bytes(v[20..24].try_into().unwrap()), 1);
        assert_eq!(
            u32::from_ne_bytes(v[28..32].try_into().unwrap()),
            999_999_999
        );
        assert_eq!(u32::from_ne_bytes(v[32..36].try_into().unwrap()), 4);
        assert_eq!(u32::from_ne_bytes(v[36..40].try_into().unwrap()), 60);
        assert_eq!(&v[40..], b"abcd");
    }

    #[test]
    fn a_full_disk_is_reported_with_the_path_and_writing_stops() {
        let sink = Full {
            room: 100,
            got: vec![],
            kind: io::ErrorKind::StorageFull,
        };
        let mut w = PcapWriter::new(Path::new("/tmp/a\x1bb.pcap"), sink, 1, 65535, false).unwrap();
        w.write(1, 0, 40, &[0u8; 40]);
        w.flush().unwrap();
        for _ in 0..10 {
            w.write(1, 0, 40, &[0u8; 40]);
        }
        let e = w.flush().unwrap_err();
        assert!(e.starts_with("cannot write /tmp/a\\x1bb.pcap: "), "{e}");
        assert!(e.contains("first 1 packets"), "{e}");
        // Later writes are ignored, the error stays.
        w.write(1, 0, 40, &[0u8; 40]);
        assert_eq!(w.flush().unwrap_err(), e);
        assert_eq!(w.packets_written(), 1);
    }

    #[test]
    fn a_pipe_whose_reader_left_is_epipe() {
        let (reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(reader);
        let mut w = PcapWriter::new(Path::new("fifo"), writer, 1, 65535, false).unwrap();
        w.write(1, 0, 4, b"abcd");
        let e = w.flush().unwrap_err();
        assert!(
            e.starts_with("cannot write fifo: ") && e.contains("Broken pipe"),
            "{e}"
        );
    }

    #[test]
    fn dev_full_fails_on_the_first_flush() {
        let p = Path::new("/dev/full");
        if !p.exists() {
            return;
        }
        let mut w = PcapWriter::create(p, 1, 65535, false).unwrap();
        w.write(1, 0, 4, b"abcd");
        let e = w.flush().unwrap_err();
        assert!(
            e.contains("/dev/full") && e.contains("No space left on device"),
            "{e}"
        );
    }
}
