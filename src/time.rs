//! Capture time. The core never reads the wall clock: every instant it knows
//! comes from a packet record, so replays are deterministic and a live capture
//! is just another packet source.

use serde::{Serialize, Serializer};
use std::fmt;

/// An instant taken from a capture record: nanoseconds since the Unix epoch.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// A span between two capture instants, in nanoseconds.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub i64);

impl Timestamp {
    pub const fn from_nanos(ns: i64) -> Self {
        Timestamp(ns)
    }
    /// Saturates at the ends of the representable range (years 1677 and
    /// 2262); [`Timestamp::checked_from_secs_frac`] says when it would.
    pub fn from_secs_frac(secs: i64, frac: u64, units_per_sec: u64) -> Self {
        let ns = Self::nanos_i128(secs as i128, frac, units_per_sec);
        Timestamp(ns.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }
    /// `secs` seconds plus `frac` units of `1/units_per_sec` s, or None when
    /// that instant is outside what a `Timestamp` can hold.
    pub fn checked_from_secs_frac(secs: i128, frac: u64, units_per_sec: u64) -> Option<Self> {
        i64::try_from(Self::nanos_i128(secs, frac, units_per_sec))
            .ok()
            .map(Timestamp)
    }
    /// [`Timestamp::from_secs_frac`] in nanoseconds (`units_per_sec` 10^9),
    /// without its division: the readers call it for every frame of a
    /// microsecond or nanosecond capture (a 64-bit `div` per frame was ~3 %
    /// of the read loop, issue 14).
    #[inline]
    pub fn from_secs_nanos(secs: i64, nanos: u64) -> Self {
        let ns = Self::nanos_scaled(secs as i128, nanos);
        Timestamp(ns.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }
    /// [`Timestamp::checked_from_secs_frac`] in nanoseconds, without its
    /// division.
    #[inline]
    pub fn checked_from_secs_nanos(secs: i128, nanos: u64) -> Option<Self> {
        i64::try_from(Self::nanos_scaled(secs, nanos))
            .ok()
            .map(Timestamp)
    }
    #[inline]
    fn nanos_scaled(secs: i128, nanos: u64) -> i128 {
        secs.clamp(-(1i128 << 80), 1i128 << 80) * 1_000_000_000 + nanos as i128
    }
    fn nanos_i128(secs: i128, frac: u64, units_per_sec: u64) -> i128 {
        // In i128 so odd resolutions (pcapng if_tsresol) cannot overflow; the
        // seconds are clamped far outside the i64 range first.
        let ns = if units_per_sec == 0 {
            0
        } else {
            (frac as i128 * 1_000_000_000i128) / units_per_sec as i128
        };
        secs.clamp(-(1i128 << 80), 1i128 << 80) * 1_000_000_000 + ns
    }
    pub const fn as_nanos(self) -> i64 {
        self.0
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
    /// RFC 3339 in UTC; microseconds unless the value needs nanoseconds.
    pub fn rfc3339(self) -> String {
        let mut buf = [0u8; 40];
        let n = self.write_rfc3339(&mut buf);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Writes the RFC 3339 form into `buf` without allocating (timestamps are
    /// serialised several times per exchange) and returns its length.
    /// Hand-written on purpose: `time`'s formatter (`format_into` with a
    /// `format_description!`) gives the same bytes but took 210-240 ns per
    /// timestamp against 61-64 ns here, about 40 ms more (~15 %) of a JSON
    /// report of the 1x benchmark capture (264 k timestamps; docs/performance.md).
    pub fn write_rfc3339<B: TextBuf>(self, buf: &mut B) -> usize {
        fn put<B: TextBuf>(buf: &mut B, at: &mut usize, v: u64, digits: usize) {
            let mut v = v;
            for i in (0..digits).rev() {
                buf.set(*at + i, b'0' + (v % 10) as u8);
                v /= 10;
            }
            *at += digits;
        }
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000) as u64;
        // `YYYY-MM-DDTHH:MM:SS` is kept per thread for the last second
        // written: an exchange's four timestamps, and a connection's
        // exchanges, mostly share one (issue 14: this function's self time
        // in a dense.pcap JSONL run, 5.3 % -> 2.9 %). The date is computed
        // (by `time`) once per day seen; the time of day is arithmetic.
        let Some(head) = SECOND.with(|c| cached(c, secs, || second_text(secs))) else {
            // Out of the calendar's range: plain seconds.
            let s = format!("{secs}.{nanos:09}");
            let n = s.len().min(40);
            buf.copy(0, &s.as_bytes()[..n]);
            return n;
        };
        buf.copy(0, &head);
        buf.set(19, b'.');
        let mut at = 20;
        if nanos.is_multiple_of(1000) {
            put(buf, &mut at, nanos / 1000, 6);
        } else {
            put(buf, &mut at, nanos, 9);
        }
        buf.set(at, b'Z');
        at + 1
    }
}

/// Where [`Timestamp::write_rfc3339`] writes: 40 bytes, initialised (a
/// buffer on the stack) or not yet (the spare room of an output buffer,
/// `report::compact`).
pub trait TextBuf {
    fn set(&mut self, at: usize, b: u8);
    fn copy(&mut self, at: usize, s: &[u8]);
}

impl TextBuf for [u8; 40] {
    #[inline(always)]
    fn set(&mut self, at: usize, b: u8) {
        self[at] = b;
    }
    #[inline(always)]
    fn copy(&mut self, at: usize, s: &[u8]) {
        self[at..at + s.len()].copy_from_slice(s);
    }
}

impl TextBuf for [std::mem::MaybeUninit<u8>; 40] {
    #[inline(always)]
    fn set(&mut self, at: usize, b: u8) {
        self[at].write(b);
    }
    #[inline(always)]
    fn copy(&mut self, at: usize, s: &[u8]) {
        let d = &mut self[at..at + s.len()];
        // SAFETY: `d` is `s.len()` bytes, which `s` (a borrow of something
        // else) cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), d.as_mut_ptr().cast::<u8>(), s.len()) };
    }
}

thread_local! {
    /// The last day written by [`Timestamp::write_rfc3339`] (days since the
    /// epoch) and its `YYYY-MM-DDT`; all zero bytes before the first.
    static DATE: std::cell::Cell<(i64, [u8; 11])> = const { std::cell::Cell::new((0, [0; 11])) };
    /// The last second written (seconds since the epoch) and its
    /// `YYYY-MM-DDTHH:MM:SS`; all zero bytes before the first.
    static SECOND: std::cell::Cell<(i64, [u8; 19])> = const { std::cell::Cell::new((0, [0; 19])) };
}

/// The text kept in `cell` if it is `key`'s (a first byte of zero: nothing
/// kept yet), else `make`'s, then kept.
fn cached<const N: usize>(
    cell: &std::cell::Cell<(i64, [u8; N])>,
    key: i64,
    make: impl FnOnce() -> Option<[u8; N]>,
) -> Option<[u8; N]> {
    let (k, text) = cell.get();
    if k == key && text[0] != 0 {
        return Some(text);
    }
    let text = make()?;
    cell.set((key, text));
    Some(text)
}

/// `YYYY-MM-DDTHH:MM:SS` of the UTC second `secs`, None outside `time`'s
/// range; the date from the per-thread cache of the last day.
fn second_text(secs: i64) -> Option<[u8; 19]> {
    let day = secs.div_euclid(86_400);
    let date = DATE.with(|c| cached(c, day, || date_text(secs)))?;
    let mut out = [0u8; 19];
    out[..11].copy_from_slice(&date);
    let tod = secs.rem_euclid(86_400) as u64;
    for (at, v) in [(11, tod / 3600), (14, tod / 60 % 60), (17, tod % 60)] {
        out[at] = b'0' + (v / 10) as u8;
        out[at + 1] = b'0' + (v % 10) as u8;
    }
    out[13] = b':';
    out[16] = b':';
    Some(out)
}

/// `YYYY-MM-DDT` of the UTC day holding `secs`, None outside `time`'s range.
fn date_text(secs: i64) -> Option<[u8; 11]> {
    let d = time::OffsetDateTime::from_unix_timestamp(secs).ok()?.date();
    let mut out = [0u8; 11];
    let (y, m, day) = (d.year().max(0) as u32, u8::from(d.month()), d.day());
    for (i, v) in [
        (0, y / 1000 % 10),
        (1, y / 100 % 10),
        (2, y / 10 % 10),
        (3, y % 10),
    ] {
        out[i] = b'0' + v as u8;
    }
    out[4] = b'-';
    out[5] = b'0' + m / 10;
    out[6] = b'0' + m % 10;
    out[7] = b'-';
    out[8] = b'0' + day / 10;
    out[9] = b'0' + day % 10;
    out[10] = b'T';
    Some(out)
}

impl Duration {
    pub const ZERO: Duration = Duration(0);
    pub const fn from_secs(s: i64) -> Self {
        Duration(s * 1_000_000_000)
    }
    pub const fn from_millis(ms: i64) -> Self {
        Duration(ms * 1_000_000)
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

/// A duration for people: `8µs`, `12.3ms`, `1.00s`, `2.5m` — the one
/// formatter of the text report, the findings, close details and the TUI.
pub fn human(d: Duration) -> String {
    human_secs(d.as_secs_f64())
}

/// [`human`] for a number of seconds.
pub fn human_secs(secs: f64) -> String {
    if secs < 1e-3 {
        format!("{:.0}µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.1}ms", secs * 1e3)
    } else if secs < 120.0 {
        format!("{secs:.2}s")
    } else {
        format!("{:.1}m", secs / 60.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.as_secs_f64();
        if s < 1.0 {
            write!(f, "{:.1}ms", s * 1e3)
        } else {
            write!(f, "{:.3}s", s)
        }
    }
}

/// Timestamps serialize as RFC 3339 strings (see docs/output.md).
impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 40];
        let n = self.write_rfc3339(&mut buf);
        // Only ASCII digits and separators were written.
        s.serialize_str(std::str::from_utf8(&buf[..n]).unwrap_or(""))
    }
}

/// Durations serialize as seconds (a float).
impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The same text built independently, all by `time`.
    fn by_time(secs: i64, nanos: u32) -> String {
        let dt = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
        let frac = if nanos.is_multiple_of(1000) {
            format!("{:06}", nanos / 1000)
        } else {
            format!("{nanos:09}")
        };
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{frac}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        )
    }

    proptest! {
        // No failure files written (the top level holds only the project's
        // folders); a case worth keeping becomes a plain test.
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// The per-thread date cache gives the same text as computing every
        /// date, in any order of timestamps (day changes, going back, before 1970).
        #[test]
        fn rfc3339_with_the_date_cache(v in proptest::collection::vec((-9_000_000_000i64..9_000_000_000, 0u32..1_000_000_000, 0i64..3), 1..20)) {
            for (secs, nanos, near) in v {
                // The same second again (the second cache), micro- and nanoseconds.
                for n in [nanos, nanos / 1000 * 1000, 999_999_999 - nanos] {
                    if !(-9_200_000_000..9_200_000_000).contains(&secs) { continue; }
                    let t = Timestamp(secs * 1_000_000_000 + i64::from(n));
                    prop_assert_eq!(t.rfc3339(), by_time(secs, n));
                }
                // Runs of nearby timestamps hit the cache; others miss it.
                for s in [secs, secs + near * 86_399, secs - near] {
                    // Timestamps are i64 nanoseconds: years 1678 to 2262.
                    if !(-9_200_000_000..9_200_000_000).contains(&s) { continue; }
                    let t = Timestamp(s * 1_000_000_000 + i64::from(nanos));
                    prop_assert_eq!(t.rfc3339(), by_time(s, nanos));
                }
            }
        }
    }
    #[test]
    fn rfc3339_micro_and_nano() {
        assert_eq!(
            Timestamp::from_secs_frac(1_257_655_311, 123_456, 1_000_000).rfc3339(),
            "2009-11-08T04:41:51.123456Z"
        );
        assert_eq!(
            Timestamp::from_nanos(1_000_000_001).rfc3339(),
            "1970-01-01T00:00:01.000000001Z"
        );
        // Before the epoch (a negative if_tsoffset), and both ends of the range.
        assert_eq!(
            Timestamp::from_nanos(-1_500).rfc3339(),
            "1969-12-31T23:59:59.999998500Z"
        );
        assert_eq!(
            Timestamp::from_nanos(-1_000_000).rfc3339(),
            "1969-12-31T23:59:59.999000Z"
        );
        assert_eq!(
            Timestamp::from_nanos(i64::MAX).rfc3339(),
            "2262-04-11T23:47:16.854775807Z"
        );
        assert_eq!(
            Timestamp::from_nanos(i64::MIN).rfc3339(),
            "1677-09-21T00:12:43.145224192Z"
        );
    }
    #[test]
    fn resolution_conversion() {
        assert_eq!(
            Timestamp::from_secs_frac(1, 5, 10).as_nanos(),
            1_500_000_000
        );
        assert_eq!(Timestamp::from_secs_frac(0, 7, 0).as_nanos(), 0);
    }
    /// Issue 11: seconds far out of range (pcapng if_tsoffset near i64::MAX)
    /// saturate instead of wrapping, and the checked form says so.
    #[test]
    fn out_of_range_saturates() {
        assert_eq!(Timestamp::from_secs_frac(i64::MAX, 5, 10).0, i64::MAX);
        assert_eq!(Timestamp::from_secs_frac(i64::MIN, 0, 1).0, i64::MIN);
        assert_eq!(
            Timestamp::checked_from_secs_frac(i64::MAX as i128 * 2, 0, 1),
            None
        );
        assert_eq!(Timestamp::checked_from_secs_frac(9_223_372_037, 0, 1), None);
        assert_eq!(
            Timestamp::checked_from_secs_frac(9_223_372_036, 854_775_807, 1_000_000_000),
            Some(Timestamp(i64::MAX))
        );
    }

    /// The division-free forms give what the general ones give for
    /// microsecond and nanosecond fractions, saturation and `None` included.
    #[test]
    fn nanos_forms_agree_with_the_fraction_forms() {
        let secs = [
            0i128,
            1,
            -1,
            1_733_400_000,
            u32::MAX as i128,
            9_223_372_036,
            9_223_372_037,
            -9_223_372_037,
            i64::MAX as i128,
            i64::MIN as i128,
            i64::MAX as i128 * 4,
            -(1i128 << 90),
        ];
        for s in secs {
            for (units, per) in [(1_000_000u64, 1_000u64), (1_000_000_000, 1)] {
                for frac in [0, 1, units / 2, units - 1] {
                    assert_eq!(
                        Timestamp::checked_from_secs_nanos(s, frac * per),
                        Timestamp::checked_from_secs_frac(s, frac, units),
                        "{s} {frac}/{units}"
                    );
                    let s64 = s.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
                    assert_eq!(
                        Timestamp::from_secs_nanos(s64, frac * per),
                        Timestamp::from_secs_frac(s64, frac, units),
                        "{s64} {frac}/{units}"
                    );
                }
            }
        }
    }
}
