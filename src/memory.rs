//! Memory bounds that are not the flow table's own (see docs/robustness.md):
//! the summary's per-key tables ([`TopN`]) and the `summary.memory` report of
//! every bound that was hit.

use rustc_hash::FxHashMap;
use serde::Serialize;
use std::collections::BTreeMap;

/// Keys a summary table (`per_server`, `per_host`, `tls.sni`, …) keeps.
pub const MAX_GROUP_KEYS: usize = 1000;

/// A value that can be merged into an "other" bucket.
pub trait Fold: Default {
    /// How much this key weighs (connections): the lightest are folded first.
    fn weight(&self) -> u64;
    fn fold_into(&self, other: &mut Self);
}

impl Fold for u64 {
    fn weight(&self) -> u64 {
        *self
    }
    fn fold_into(&self, other: &mut Self) {
        *other += *self;
    }
}

/// A table keyed by strings from the capture (servers, Host headers, SNI),
/// bounded to `cap` keys. Exact while there are at most `cap` distinct keys.
/// Past that, when a new key arrives at a full table, the lighter half of the
/// keys is folded into `other` (their values merged, each counted in
/// `folded`); the heavy keys stay, exact since they were admitted, and new
/// ones get room to grow (a Space-Saving-like heavy-hitter table with a
/// lossless "other"). Totals over keys + other always equal the totals over
/// every record.
#[derive(Debug, Clone)]
pub struct TopN<V> {
    map: FxHashMap<String, V>,
    cap: usize,
    other: Option<V>,
    folded: u64,
}

impl<V: Fold> Default for TopN<V> {
    fn default() -> Self {
        Self::new(MAX_GROUP_KEYS)
    }
}

impl<V: Fold> TopN<V> {
    pub fn new(cap: usize) -> Self {
        TopN {
            map: FxHashMap::default(),
            cap: cap.max(2),
            other: None,
            folded: 0,
        }
    }

    /// The value for `key`, admitting it (and folding the lighter half of the
    /// table first if it is full).
    pub fn entry(&mut self, key: &str) -> &mut V {
        if !self.map.contains_key(key) && self.map.len() >= self.cap {
            self.fold_lighter_half();
        }
        if !self.map.contains_key(key) {
            self.map.insert(key.to_owned(), V::default());
        }
        self.map.get_mut(key).expect("just inserted")
    }

    fn fold_lighter_half(&mut self) {
        let mut keys: Vec<(u64, &String)> = self.map.iter().map(|(k, v)| (v.weight(), k)).collect();
        let n = keys.len() / 2;
        keys.select_nth_unstable_by(n, |a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        let light: Vec<String> = keys[..n].iter().map(|(_, k)| (*k).clone()).collect();
        let other = self.other.get_or_insert_with(V::default);
        for k in light {
            if let Some(v) = self.map.remove(&k) {
                v.fold_into(other);
                self.folded += 1;
            }
        }
    }

    /// Keys folded into `other` (a key folded, admitted again and folded again
    /// counts twice).
    pub fn folded(&self) -> u64 {
        self.folded
    }

    /// The kept keys, sorted, and the folded rest (None if nothing was folded).
    pub fn into_parts(self) -> (BTreeMap<String, V>, Option<V>) {
        (self.map.into_iter().collect(), self.other)
    }
}

/// `summary.memory`: the memory bounds and what each one cost (docs/output.md).
/// Every count is 0 on a capture that stayed within the bounds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryReport {
    /// `--memory-limit` in bytes: what the flow table may hold (estimated).
    pub memory_limit: u64,
    /// Highest estimate of the flow table's memory during the run (bytes).
    pub peak_table_bytes: u64,
    /// Connections that ended having shown nothing but SYN and/or SYN-ACK
    /// (no reply, no data: a SYN flood, a scan, an unreachable server).
    pub half_open_seen: u64,
    /// Of those, finalised early (`end_cause` `evicted`) because more than
    /// `half_open_limit` were open at once or the table was over the limit.
    pub half_open_evicted: u64,
    /// Half-open connections kept at most at once.
    pub half_open_limit: u64,
    /// Connections past the handshake finalised early (oldest idle first)
    /// because the table was over `memory_limit`.
    pub memory_evictions: u64,
    /// Records of connections whose handshake never completed and that carried
    /// no data, left out of `connections[]` (text and JSON formats, past
    /// `failed_handshake_records_kept`); counted in every summary figure.
    pub records_folded: u64,
    pub failed_handshake_records_kept: u64,
    /// Times an out-of-order buffer hit its cap and a hole was given up
    /// (its bytes are in `missing_bytes`).
    pub ooo_limit_hits: u64,
    /// HTTP requests still awaiting a response past the per-connection bound,
    /// counted but not itemised in `exchanges[]` (summed over connections).
    pub unanswered_requests_folded: u64,
    /// Keys folded into `per_server_other` / `per_host_other` /
    /// `tls.sni_other` (each table keeps `group_keys_kept` keys).
    pub per_server_folded: u64,
    pub per_host_folded: u64,
    pub sni_folded: u64,
    pub group_keys_kept: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_under_the_bound() {
        let mut t: TopN<u64> = TopN::new(4);
        for k in ["a", "b", "a", "c", "d", "a"] {
            *t.entry(k) += 1;
        }
        assert_eq!(t.folded(), 0);
        let (m, other) = t.into_parts();
        assert_eq!(m["a"], 3);
        assert_eq!(m.len(), 4);
        assert!(other.is_none());
    }

    #[test]
    fn folds_light_keys_keeps_heavy_ones_and_loses_nothing() {
        let mut t: TopN<u64> = TopN::new(10);
        let mut total = 0;
        for i in 0..100_000u64 {
            // One heavy key every other record, then a stream of distinct ones.
            let k = if i % 2 == 0 {
                "heavy".to_string()
            } else {
                format!("k{i}")
            };
            *t.entry(&k) += 1;
            total += 1;
        }
        assert!(t.folded() > 0);
        let (m, other) = t.into_parts();
        assert!(m.len() <= 10);
        assert_eq!(m["heavy"], 50_000, "the heavy key stays exact");
        assert_eq!(m.values().sum::<u64>() + other.unwrap(), total);
    }
}
