//! The exchanges of one connection, with bounded memory.
//!
//! A keep-alive connection can carry millions of requests (a load generator
//! on one socket for an hour). Counts are kept by the inspector for every
//! message; the exchange *details* are kept for the first [`KEEP_HEAD`] and
//! the most recent [`KEEP_TAIL`] exchanges, and the middle is dropped in
//! chunks once it is finished, counted in [`ExchangeLog::omitted`]. Indices
//! stay absolute (exchange #n is always `log[n]`) for every exchange kept.
//!
//! A direction that never gets an answer (a client pipelining a million
//! requests at a server that does not reply, or a capture that sees only the
//! client's side) would keep every request busy forever: past
//! [`UNANSWERED_KEPT`] requests awaiting a response, the middle ones are
//! dropped too ([`ExchangeLog::compact_unanswered`]) and only counted
//! ([`ExchangeLog::unanswered_omitted`]). What a late response still needs of
//! its request (was it a HEAD?) is kept as ranges of indices, and the
//! [`PendingQueue`] of requests awaiting a response holds ranges too, so such
//! a direction costs a few counters, not a record per request.
//!
//! When no report prints the exchanges (text, CSV), the log is built with
//! [`ExchangeLog::facts_only`]: a finished exchange (older than every busy
//! one, the same rule the dropping relies on) is then kept as its
//! [`Facts`], the few things the analysis reads (src/analysis/close.rs),
//! instead of the whole [`Exchange`]. Which exchanges are kept does not
//! change: facts and exchanges together sit at the same positions.

use super::inspector::{Framing, HttpVersion};
use super::Exchange;
use crate::time::Timestamp;
use crate::Direction;
use std::collections::VecDeque;
use std::ops::{Index, IndexMut};

pub const KEEP_HEAD: usize = 500;
pub const KEEP_TAIL: usize = 500;

/// Requests awaiting a response kept in detail at most (the rest of the
/// unanswered middle is counted only).
pub const UNANSWERED_KEPT: usize = KEEP_HEAD + 2 * KEEP_TAIL;

/// Past this many exchanges kept, the log grows straight to the most it
/// keeps between compactions (`KEEP_HEAD + 2 * KEEP_TAIL`); below, it
/// doubles, so a connection with a few requests stays small.
const GROW_TO_FULL: usize = 128;

/// What the analysis reads of one exchange (verdict, close reason, close
/// detail, idle time, stale requests): 32 bytes instead of an
/// [`Exchange`]'s 184 and its text. (The Host, read of the first exchange
/// that has one, is kept apart: [`ExchangeLog::first_host`].)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    request_time: i64,
    response_last: i64,
    ka_max: u64,
    flags: u16,
}

const F_METHOD: u16 = 1;
const F_STATUS: u16 = 1 << 1;
const F_REQ_CLOSE: u16 = 1 << 2;
const F_RESP_CLOSE: u16 = 1 << 3;
const F_HTTP10_DEFAULT: u16 = 1 << 4;
const F_UNTIL_CLOSE: u16 = 1 << 5;
const F_REQ_TIME: u16 = 1 << 6;
const F_RESP_LAST: u16 = 1 << 7;
const F_KA_MAX: u16 = 1 << 8;
const F_OUTSTANDING: u16 = 1 << 9;
const F_HEAD: u16 = 1 << 10;

impl Facts {
    /// The facts of `e`.
    /// Inlined: called apart, its result went through the stack and was
    /// copied into `ExchangeLog::facts` with loads the stores had not
    /// reached yet (a store-forwarding stall per condensed exchange).
    #[inline(always)]
    pub fn of(e: &Exchange) -> Facts {
        let mut flags = 0;
        let mut set = |on: bool, f: u16| {
            if on {
                flags |= f;
            }
        };
        set(e.has_method(), F_METHOD);
        set(e.is_head(), F_HEAD);
        set(e.status.is_some(), F_STATUS);
        let (req_close, req_ka) = e.connection_tokens(Direction::ClientToServer);
        let (resp_close, resp_ka) = e.connection_tokens(Direction::ServerToClient);
        set(req_close, F_REQ_CLOSE);
        set(resp_close, F_RESP_CLOSE);
        let req10 = e.request.version == Some(HttpVersion::Http10) && !req_ka;
        let resp10 = e.response.version == Some(HttpVersion::Http10) && !resp_ka;
        set(req10 || resp10, F_HTTP10_DEFAULT);
        set(
            e.response.framing == Some(Framing::UntilClose),
            F_UNTIL_CLOSE,
        );
        set(e.outstanding, F_OUTSTANDING);
        let request_time = e.request.time();
        let response_last = e.response.end().or(e.response.time());
        let ka_max = e.keep_alive().and_then(|k| k.max);
        set(request_time.is_some(), F_REQ_TIME);
        set(response_last.is_some(), F_RESP_LAST);
        set(ka_max.is_some(), F_KA_MAX);
        Facts {
            request_time: request_time.map_or(0, |t| t.0),
            response_last: response_last.map_or(0, |t| t.0),
            ka_max: ka_max.unwrap_or(0),
            flags,
        }
    }
    fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }
    /// A request was seen.
    pub fn has_method(&self) -> bool {
        self.has(F_METHOD)
    }
    /// A final response was seen.
    pub fn has_status(&self) -> bool {
        self.has(F_STATUS)
    }
    /// The request's Connection header has `close`.
    pub fn request_wants_close(&self) -> bool {
        self.has(F_REQ_CLOSE)
    }
    /// The response's Connection header has `close`.
    pub fn response_wants_close(&self) -> bool {
        self.has(F_RESP_CLOSE)
    }
    /// An HTTP/1.0 request or response without `keep-alive`.
    pub fn http10_default(&self) -> bool {
        self.has(F_HTTP10_DEFAULT)
    }
    /// The response was delimited by the close.
    pub fn until_close(&self) -> bool {
        self.has(F_UNTIL_CLOSE)
    }
    /// When the request started.
    pub fn request_time(&self) -> Option<Timestamp> {
        self.has(F_REQ_TIME).then_some(Timestamp(self.request_time))
    }
    /// When the response ended (or started, if its end was not seen).
    pub fn response_last(&self) -> Option<Timestamp> {
        self.has(F_RESP_LAST)
            .then_some(Timestamp(self.response_last))
    }
    /// The response's `Keep-Alive: max`.
    pub fn keep_alive_max(&self) -> Option<u64> {
        self.has(F_KA_MAX).then_some(self.ka_max)
    }
}

#[derive(Debug, Default)]
pub struct ExchangeLog {
    /// With [`ExchangeLog::facts_only`]: the facts of the oldest exchanges
    /// kept, finished ones; `items` follow them.
    facts: Vec<Facts>,
    /// Keep finished exchanges as [`Facts`] only.
    facts_only: bool,
    /// The Hosts of exchanges kept as facts (absolute index, Host), oldest
    /// first, while the analysis may read them: past one among the first
    /// [`KEEP_HEAD`] (never dropped), no more are kept.
    hosts: VecDeque<(usize, Box<str>)>,
    items: Vec<Exchange>,
    omitted: usize,
    /// Of `omitted`, exchanges dropped while still awaiting their response.
    unanswered_omitted: usize,
    /// Absolute indices (ranges) of dropped unanswered HEAD requests: their
    /// responses have no body.
    omitted_heads: VecDeque<(usize, usize)>,
    /// Stands in for the dropped exchange a late response is matched to
    /// (its absolute index, and the stand-in); boxed, so an inspector that
    /// never needs one (nearly all) costs one pointer.
    scratch: Option<Box<(usize, Exchange)>>,
    /// An exchange among the first [`KEEP_HEAD`] (never dropped) has a Host.
    early_host: bool,
}

/// What a dropped exchange reads as before its stand-in is written to.
fn blank() -> &'static Exchange {
    static BLANK: std::sync::OnceLock<Exchange> = std::sync::OnceLock::new();
    BLANK.get_or_init(Exchange::default)
}

/// Indices of the requests awaiting a response, oldest first: increasing,
/// and stored as ranges (a pipeline of a million requests is one range).
#[derive(Debug, Default)]
pub struct PendingQueue {
    ranges: VecDeque<(usize, usize)>,
    len: usize,
}

impl PendingQueue {
    pub fn push_back(&mut self, idx: usize) {
        match self.ranges.back_mut() {
            Some((_, end)) if *end == idx => *end += 1,
            _ => self.ranges.push_back((idx, idx + 1)),
        }
        self.len += 1;
    }
    pub fn front(&self) -> Option<usize> {
        self.ranges.front().map(|r| r.0)
    }
    pub fn pop_front(&mut self) -> Option<usize> {
        let r = self.ranges.front_mut()?;
        let idx = r.0;
        r.0 += 1;
        if r.0 == r.1 {
            self.ranges.pop_front();
        }
        self.len -= 1;
        Some(idx)
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Ranges stored (memory is per run of consecutive indices).
    pub fn runs(&self) -> usize {
        self.ranges.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.ranges.iter().flat_map(|&(a, b)| a..b)
    }
}

impl ExchangeLog {
    /// Exchanges so far, omitted ones included (the next absolute index).
    pub fn len(&self) -> usize {
        self.kept() + self.omitted
    }

    /// Exchanges kept, as facts or whole.
    fn kept(&self) -> usize {
        self.facts.len() + self.items.len()
    }

    /// A log that keeps finished exchanges as [`Facts`] only (see
    /// [`ExchangeLog::condense`]).
    pub fn facts_only() -> ExchangeLog {
        ExchangeLog {
            facts_only: true,
            ..ExchangeLog::default()
        }
    }

    /// The facts of every exchange kept, in order (those kept whole
    /// converted now).
    pub fn facts(&self) -> Vec<Facts> {
        let mut v = Vec::with_capacity(self.kept());
        v.extend_from_slice(&self.facts);
        v.extend(self.items.iter().map(Facts::of));
        v
    }

    /// Exchange `abs` has a Host.
    pub fn note_host(&mut self, abs: usize) {
        self.early_host |= abs < KEEP_HEAD;
    }

    /// With [`ExchangeLog::facts_only`], nothing will read the Host of a
    /// new exchange: only [`ExchangeLog::first_host`] reads Hosts then, and
    /// an exchange among the first [`KEEP_HEAD`], never dropped, has one.
    pub fn host_settled(&self) -> bool {
        self.facts_only && self.early_host
    }

    /// The Host of the first exchange kept that has one.
    pub fn first_host(&self) -> Option<&str> {
        match self.hosts.front() {
            Some((_, h)) => Some(h),
            None => self.items.iter().find_map(|e| e.host.as_deref()),
        }
    }

    /// With [`ExchangeLog::facts_only`], keeps the exchanges older than
    /// `busy_floor` (finished, never looked up again: the rule `compact`
    /// relies on) as their facts, a batch at a time.
    pub fn condense(&mut self, busy_floor: usize) {
        const BATCH: usize = 32;
        if !self.facts_only {
            return;
        }
        let first = self.abs_of(self.facts.len());
        let n = busy_floor.saturating_sub(first).min(self.items.len());
        if n < BATCH {
            return;
        }
        if self.facts.len() + n > self.facts.capacity() && self.facts.len() >= GROW_TO_FULL {
            let want = (KEEP_HEAD + 2 * KEEP_TAIL).max(2 * self.facts.len());
            self.facts.reserve_exact(want - self.facts.len());
        }
        // Read in place, then dropped in place (draining by value copied
        // each exchange out: issue 14).
        for e in &self.items[..n] {
            let abs = if self.facts.len() < KEEP_HEAD {
                self.facts.len()
            } else {
                self.facts.len() + self.omitted
            };
            self.facts.push(Facts::of(e));
            if let Some(h) = e.host.as_deref() {
                if self.hosts.front().is_none_or(|&(a, _)| a >= KEEP_HEAD) {
                    self.hosts.push_back((abs, h.into()));
                }
            }
        }
        self.items.drain(..n);
    }

    /// The absolute index of the exchange kept at position `p`.
    fn abs_of(&self, p: usize) -> usize {
        if p < KEEP_HEAD {
            p
        } else {
            p + self.omitted
        }
    }

    /// Drops the exchanges kept at positions `a..b` (facts or whole).
    fn drop_kept(&mut self, a: usize, b: usize) {
        let (lo, hi) = (self.abs_of(a), self.abs_of(a) + (b - a));
        self.hosts.retain(|&(x, _)| x < lo || x >= hi);
        let nf = self.facts.len();
        self.facts.drain(a.min(nf)..b.min(nf));
        self.items.drain(a.max(nf) - nf..b.max(nf) - nf);
        self.omitted += b - a;
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, e: Exchange) {
        self.grow();
        self.items.push(e);
    }

    fn grow(&mut self) {
        let n = self.items.len();
        if n == self.items.capacity() && n >= GROW_TO_FULL && !self.facts_only {
            // A busy connection: take the room for the most it keeps at once
            // in one step, instead of doubling (each doubling copies every
            // exchange kept so far).
            self.items
                .reserve_exact((KEEP_HEAD + 2 * KEEP_TAIL).max(2 * n) - n);
        }
    }

    /// Appends a blank exchange and returns it, to be filled in place (an
    /// [`Exchange`] built apart is copied in: 184 bytes, issue 14).
    pub fn push_new(&mut self) -> &mut Exchange {
        self.grow();
        let n = self.items.len();
        // Room is made before the blank is written (`push` builds its
        // value first, then copies it in), and the blank is written straight
        // into it: `resize_with` built it on the stack and copied it with
        // 16-byte loads over the narrower stores just made, a store-forwarding
        // stall on every request (perf annotate: a quarter of
        // `on_request_head`'s samples; dense.pcap one thread -1.9 ms).
        self.items.reserve(1);
        self.items.spare_capacity_mut()[0].write(Exchange::default());
        // SAFETY: `reserve(1)` left room for element `n`, written just above.
        unsafe { self.items.set_len(n + 1) };
        &mut self.items[n]
    }

    /// The exchanges kept: the first ones, then (after a jump of
    /// `omitted()`) the most recent ones. With [`ExchangeLog::facts_only`],
    /// only those not kept as facts.
    pub fn as_slice(&self) -> &[Exchange] {
        &self.items
    }

    /// The exchanges of [`ExchangeLog::as_slice`], moved out (the log is
    /// then read no more: its connection is being dropped).
    pub fn take_items(&mut self) -> Vec<Exchange> {
        std::mem::take(&mut self.items)
    }

    pub fn omitted(&self) -> usize {
        self.omitted
    }

    /// Exchanges dropped while still awaiting their response.
    pub fn unanswered_omitted(&self) -> usize {
        self.unanswered_omitted
    }

    /// Was `abs` dropped (it may still await its response)?
    #[inline]
    pub fn is_omitted(&self, abs: usize) -> bool {
        abs >= KEEP_HEAD && abs < KEEP_HEAD + self.omitted
    }

    /// Where exchange `abs` is in `items`, unless it was dropped or is kept
    /// as facts only (either way, never looked up but for a late response).
    #[inline]
    fn whole(&self, abs: usize) -> Option<usize> {
        if self.is_omitted(abs) {
            return None;
        }
        let p = self.pos(abs).wrapping_sub(self.facts.len());
        (p < self.items.len()).then_some(p)
    }

    /// Drops the middle even though requests there still await their
    /// responses (their count and whether each was a HEAD are kept).
    /// `floor` is the oldest exchange busy for any other reason (a body in
    /// progress, held bytes, a protocol switch): nothing from it on is dropped.
    pub fn compact_unanswered(&mut self, floor: usize) {
        if self.kept() < KEEP_HEAD + 2 * KEEP_TAIL {
            return;
        }
        let end = self.kept() - KEEP_TAIL;
        if end + self.omitted > floor {
            return;
        }
        let nf = self.facts.len();
        let facts = self.facts[KEEP_HEAD.min(nf)..end.min(nf)]
            .iter()
            .map(|f| (f.has(F_OUTSTANDING), f.has(F_HEAD)));
        let items = self.items[KEEP_HEAD.max(nf) - nf..end.max(nf) - nf]
            .iter()
            .map(|e| (e.outstanding, e.method() == Some("HEAD")));
        let mut heads = std::mem::take(&mut self.omitted_heads);
        for (p, (outstanding, head)) in facts.chain(items).enumerate() {
            if !outstanding {
                continue;
            }
            self.unanswered_omitted += 1;
            if head {
                let abs = KEEP_HEAD + self.omitted + p;
                match heads.back_mut() {
                    Some((_, b)) if *b == abs => *b += 1,
                    _ => heads.push_back((abs, abs + 1)),
                }
            }
        }
        self.omitted_heads = heads;
        self.drop_kept(KEEP_HEAD, end);
    }

    fn omitted_was_head(&self, abs: usize) -> bool {
        // Sorted, and answered ranges are dropped from the front: the match
        // (if any) is at the front.
        self.omitted_heads
            .iter()
            .take_while(|&&(a, _)| a <= abs)
            .any(|&(_, b)| abs < b)
    }

    #[inline]
    fn pos(&self, abs: usize) -> usize {
        if abs < KEEP_HEAD {
            abs
        } else {
            // An omitted exchange is never looked up: only finished ones,
            // older than every busy one, are dropped (see `compact`).
            abs - self.omitted
        }
    }

    /// Drops the finished middle once it is a whole chunk. `busy_floor` is the
    /// absolute index of the oldest exchange the inspector may still touch.
    pub fn compact(&mut self, busy_floor: usize) {
        if self.kept() < KEEP_HEAD + 2 * KEEP_TAIL {
            return;
        }
        let end = self.kept() - KEEP_TAIL; // position, exclusive
        let end_abs = end + self.omitted;
        if end_abs > busy_floor {
            return;
        }
        self.drop_kept(KEEP_HEAD, end);
    }
}

impl Index<usize> for ExchangeLog {
    type Output = Exchange;
    /// Inlined up to the exchange kept whole (every lookup but a late
    /// response's): the call cost ~20 instructions, five a request (issue 14).
    #[inline]
    fn index(&self, abs: usize) -> &Exchange {
        if let Some(p) = self.whole(abs) {
            return &self.items[p];
        }
        self.dropped(abs)
    }
}

impl ExchangeLog {
    /// [`Index::index`] of an exchange not kept whole.
    #[cold]
    #[inline(never)]
    fn dropped(&self, abs: usize) -> &Exchange {
        debug_assert!(
            self.is_omitted(abs),
            "exchange {abs} kept as facts looked up"
        );
        // A dropped request a late response is matched to: its stand-in
        // once written to, a blank one before.
        match &self.scratch {
            Some(s) if s.0 == abs => &s.1,
            _ => blank(),
        }
    }
}

impl IndexMut<usize> for ExchangeLog {
    /// Inlined as [`Index::index`] is.
    #[inline]
    fn index_mut(&mut self, abs: usize) -> &mut Exchange {
        if let Some(p) = self.whole(abs) {
            return &mut self.items[p];
        }
        self.dropped_mut(abs)
    }
}

impl ExchangeLog {
    /// [`IndexMut::index_mut`] of an exchange not kept whole: its stand-in.
    #[cold]
    #[inline(never)]
    fn dropped_mut(&mut self, abs: usize) -> &mut Exchange {
        debug_assert!(self.is_omitted(abs), "exchange {abs} kept as facts changed");
        if !matches!(&self.scratch, Some(s) if s.0 == abs) {
            let head = self.omitted_was_head(abs);
            while self.omitted_heads.front().is_some_and(|&(_, b)| b <= abs) {
                self.omitted_heads.pop_front();
            }
            let mut e = Exchange {
                outstanding: true,
                ..Exchange::default()
            };
            if head {
                e.set_method(b"HEAD");
            }
            match &mut self.scratch {
                Some(s) => **s = (abs, e),
                None => self.scratch = Some(Box::new((abs, e))),
            }
        }
        &mut self.scratch.as_mut().expect("just set").1
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::COMMON_CONNECTION;
    use super::*;

    fn ex(n: usize) -> Exchange {
        Exchange {
            target: Some(format!("/{n}").into()),
            ..Exchange::default()
        }
    }

    #[test]
    fn keeps_head_and_tail_with_absolute_indices() {
        let mut log = ExchangeLog::default();
        for n in 0..5000 {
            log.push(ex(n));
            log.compact(log.len());
        }
        assert_eq!(log.len(), 5000);
        assert!(log.as_slice().len() <= KEEP_HEAD + 2 * KEEP_TAIL);
        assert_eq!(log.as_slice().len() + log.omitted(), 5000);
        assert_eq!(log[0].target.as_deref(), Some("/0"));
        assert_eq!(log[KEEP_HEAD - 1].target.as_deref(), Some("/499"));
        assert_eq!(log[4999].target.as_deref(), Some("/4999"));
        assert_eq!(log[5000 - KEEP_TAIL].target.as_deref(), Some("/4500"));
    }

    #[test]
    fn grows_once_to_what_it_keeps() {
        let mut log = ExchangeLog::default();
        let mut caps = vec![];
        for n in 0..5000 {
            log.push(ex(n));
            log.compact(log.len());
            if caps.last() != Some(&log.items.capacity()) {
                caps.push(log.items.capacity());
            }
        }
        // Doubling up to GROW_TO_FULL, then one step to the most kept.
        assert_eq!(caps.last(), Some(&(KEEP_HEAD + 2 * KEEP_TAIL)));
        assert!(caps.len() <= 2 + GROW_TO_FULL.ilog2() as usize, "{caps:?}");
        // A short connection stays small.
        let mut short = ExchangeLog::default();
        for n in 0..10 {
            short.push(ex(n));
        }
        assert!(short.items.capacity() < GROW_TO_FULL);
    }

    #[test]
    fn facts_only_keeps_the_same_exchanges() {
        let (mut full, mut slim) = (ExchangeLog::default(), ExchangeLog::facts_only());
        for n in 0..5000 {
            let mut e = ex(n);
            e.host = Some(format!("h{n}").into());
            e.request.set_time(Timestamp(n as i64));
            full.push(e.clone());
            slim.push(e);
            // The newest three are still busy.
            let floor = (n + 1).saturating_sub(3);
            full.compact(floor);
            slim.condense(floor);
            slim.compact(floor);
        }
        assert_eq!(full.facts(), slim.facts());
        assert_eq!(slim.first_host(), Some("h0"));
        assert_eq!(slim.hosts.len(), 1);
        assert_eq!((slim.len(), slim.omitted()), (full.len(), full.omitted()));
        assert!(slim.facts.len() > KEEP_HEAD, "{}", slim.facts.len());
        assert!(slim.items.len() < 40, "{}", slim.items.len());
        assert_eq!(slim[4999].target.as_deref(), Some("/4999"));
    }

    #[test]
    fn facts_only_finds_the_first_host_kept() {
        // No Host in the first 600: the first Host kept moves as the middle
        // is dropped, and the Hosts kept stay bounded.
        let (mut full, mut slim) = (ExchangeLog::default(), ExchangeLog::facts_only());
        for n in 0..6000 {
            let mut e = ex(n);
            e.host = (n >= 600).then(|| format!("h{n}").into());
            full.push(e.clone());
            slim.push(e);
            let floor = (n + 1).saturating_sub(2);
            full.compact(floor);
            slim.condense(floor);
            slim.compact(floor);
            assert_eq!(full.first_host(), slim.first_host(), "after {n}");
            assert!(slim.hosts.len() <= slim.kept());
        }
        assert!(full.omitted() > 0);
        assert_ne!(slim.first_host(), Some("h600"));
    }

    #[test]
    fn connection_tokens_read_as_the_header_text() {
        use super::super::has_token;
        // The common values (kept as codes) and rarer ones (kept as text).
        let rare = [
            "Keep-Alive, Upgrade",
            "close, keep-alive",
            " CLOSE ",
            "KEEP-ALIVE",
            "foo",
        ];
        let values = COMMON_CONNECTION.iter().chain(&rare);
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            let mut e = Exchange::default();
            assert_eq!(e.connection_tokens(dir), (false, false));
            for &v in values.clone() {
                e.set_connection(dir, Some(v.into()));
                let want = (
                    has_token(Some(v), "close"),
                    has_token(Some(v), "keep-alive"),
                );
                assert_eq!(e.connection_tokens(dir), want, "{v:?}");
            }
        }
    }

    #[test]
    fn connection_from_a_head_reads_as_its_text() {
        use super::super::parser::header_section;
        let rare = ["KEEP-ALIVE", "keep-alive, Upgrade", "", "foo"];
        let values = COMMON_CONNECTION.iter().chain(&rare);
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            for &v in values.clone() {
                for repeat in [1, 2] {
                    let section = format!("Connection: {v}\r\n").repeat(repeat) + "\r\n";
                    let (_, h) = header_section(section.as_bytes()).unwrap();
                    let text = h.connection().map(String::from);
                    let want = (repeat == 2).then(|| format!("{v}, {v}"));
                    assert_eq!(text, want.or(Some(v.to_owned())), "{section:?}");
                    // Over an exchange that had a rare value there before.
                    let (mut from_head, mut from_text) = (Exchange::default(), Exchange::default());
                    from_head.set_connection(dir, Some("x-rare".into()));
                    from_head.set_connection_from(dir, &h);
                    from_text.set_connection(dir, text.as_deref().map(Into::into));
                    assert_eq!(from_head.connection(dir), from_text.connection(dir));
                    assert_eq!(
                        from_head.connection_tokens(dir),
                        from_text.connection_tokens(dir)
                    );
                    assert_eq!(Facts::of(&from_head), Facts::of(&from_text));
                    assert_eq!(from_head.rare().connection, from_text.rare().connection);
                    // The head is left as parsed (a repeated head reuses it).
                    assert_eq!(h.connection().map(String::from), text, "left as parsed");
                }
            }
        }
    }

    #[test]
    fn method_flags_read_as_the_method_text() {
        let mut methods: Vec<&[u8]> = b"GET HEAD POST PUT DELETE OPTIONS PATCH CONNECT TRACE"
            .split(|&c| c == b' ')
            .collect();
        methods.extend([&b"head"[..], b"HEADX", b"PROPFIND", b"", b"\xff"]);
        let e = Exchange::default();
        assert!(!e.has_method() && !e.is_head());
        for m in methods {
            let mut e = Exchange::default();
            e.set_method(m);
            assert_eq!(e.has_method(), e.method().is_some(), "{m:?}");
            assert_eq!(e.is_head(), e.method() == Some("HEAD"), "{m:?}");
            let f = Facts::of(&e);
            assert!(f.has_method());
            assert_eq!(f.has(F_HEAD), m == b"HEAD");
        }
    }

    #[test]
    fn never_drops_a_busy_exchange() {
        let mut log = ExchangeLog::default();
        for n in 0..3000 {
            log.push(ex(n));
            // Exchange 700 is still waiting for its response.
            log.compact(700);
        }
        assert_eq!(log.omitted(), 0);
        assert_eq!(log[700].target.as_deref(), Some("/700"));
        assert_eq!(log[2999].target.as_deref(), Some("/2999"));
    }
}
