//! Time frames spend inside the switch, as a fixed-bucket histogram: log2
//! buckets split in 8 linear sub-buckets (HDR-histogram style, 12.5%
//! resolution), of TSC cycles, allocated once per worker. Recording is an
//! index computation and an add: no allocation, lock or system call.
//!
//! A worker records, for every loop iteration that moved frames, the
//! cycles from the start of the iteration (before its first receive
//! burst) to the end of its transmit flush, weighted by the frames moved:
//! for each frame an upper bound of its rx-to-tx time in the switch (the
//! time a frame waited on a receive ring before the poll is not seen:
//! AF_XDP and TAP give no receive timestamp).

use serde::{Deserialize, Serialize};

/// Linear sub-buckets per power of two, as bits.
const SUB_BITS: u32 = 3;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets: exact values below `SUB`, then 8 per power of two up to 2^64.
pub const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) << SUB_BITS;

/// Counts of values by bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: Box<[u64]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// The bucket of `value`.
#[inline]
fn index(value: u64) -> usize {
    if value < SUB {
        return value as usize;
    }
    let exp = 63 - value.leading_zeros();
    let mantissa = (value >> (exp - SUB_BITS)) & (SUB - 1);
    ((((exp - SUB_BITS + 1) as u64) << SUB_BITS) | mantissa) as usize
}

/// The smallest value of bucket `i`.
fn lower_bound(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let exp = (i >> SUB_BITS) - 1 + SUB_BITS as u64;
    let mantissa = i & (SUB - 1);
    (SUB | mantissa) << (exp - SUB_BITS as u64)
}

/// The largest value of bucket `i`.
fn upper_bound(i: usize) -> u64 {
    if i + 1 >= BUCKETS {
        u64::MAX
    } else {
        lower_bound(i + 1) - 1
    }
}

/// A histogram's frames and its p50, p99 and p99.9 in nanoseconds (upper
/// bounds of their buckets, 12.5% wide; `None` when nothing was counted or
/// the TSC rate is unknown): what `pmd-stats` and the replay summary show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Frames counted.
    pub frames: u64,
    /// Median.
    pub p50_ns: Option<u64>,
    /// 99th percentile.
    pub p99_ns: Option<u64>,
    /// 99.9th percentile.
    pub p999_ns: Option<u64>,
}

impl Histogram {
    /// The summary of a histogram of TSC cycles counting at `tsc_hz`.
    pub fn summary(&self, tsc_hz: f64) -> LatencySummary {
        let ns = |q: f64| match self.quantile(q) {
            Some(c) if tsc_hz > 0.0 => Some((c as f64 * 1e9 / tsc_hz).round() as u64),
            _ => None,
        };
        LatencySummary {
            frames: self.count(),
            p50_ns: ns(0.5),
            p99_ns: ns(0.99),
            p999_ns: ns(0.999),
        }
    }

    /// An empty histogram (allocates its buckets).
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
        }
    }

    /// Counts `value` `weight` times.
    #[inline]
    pub fn record(&mut self, value: u64, weight: u64) {
        if let Some(c) = self.counts.get_mut(index(value)) {
            *c += weight;
        }
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Copies `other` in without allocating.
    pub fn copy_from(&mut self, other: &Histogram) {
        if self.counts.len() == other.counts.len() {
            self.counts.copy_from_slice(&other.counts);
        } else {
            self.counts = other.counts.clone();
        }
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
    }

    /// The upper bound of the bucket that holds quantile `q` (0 to 1) of
    /// the values counted; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(upper_bound(i));
            }
        }
        Some(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        assert_eq!(index(0), 0);
        assert_eq!(index(7), 7);
        assert_eq!(index(8), 8);
        assert_eq!(index(15), 15);
        assert_eq!(index(16), 16);
        assert_eq!(index(17), 16);
        assert_eq!(index(18), 17);
        assert!(index(u64::MAX) < BUCKETS);
        for i in 0..BUCKETS - 1 {
            assert_eq!(index(lower_bound(i)), i, "bucket {i}");
            assert_eq!(index(upper_bound(i)), i, "bucket {i}");
            assert_eq!(upper_bound(i) + 1, lower_bound(i + 1));
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn resolution_is_an_eighth() {
        for v in [100u64, 1_000, 12_345, 1 << 40, (1 << 40) + 12_345] {
            let i = index(v);
            let width = upper_bound(i) - lower_bound(i) + 1;
            assert!(width * 8 <= lower_bound(i).max(8), "{v}: width {width}");
        }
    }

    #[test]
    fn quantiles_of_weighted_values() {
        let mut h = Histogram::new();
        assert_eq!(h.quantile(0.5), None);
        h.record(100, 98);
        h.record(1_000, 1);
        h.record(100_000, 1);
        assert_eq!(h.count(), 100);
        let p50 = h.quantile(0.5).unwrap();
        assert!((100..=111).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99).unwrap();
        assert!((1_000..=1_119).contains(&p99), "{p99}");
        let p999 = h.quantile(0.999).unwrap();
        assert!((100_000..=106_495).contains(&p999), "{p999}");
        let mut sum = Histogram::new();
        sum.add(&h);
        sum.add(&h);
        assert_eq!(sum.count(), 200);
        let mut copy = Histogram::new();
        copy.copy_from(&h);
        assert_eq!(copy, h);
        // At 1 GHz a cycle is a nanosecond.
        let s = h.summary(1e9);
        assert_eq!((s.frames, s.p50_ns, s.p99_ns), (100, Some(p50), Some(p99)));
        assert_eq!(h.summary(0.0).p50_ns, None, "no clock, no time");
        assert_eq!(Histogram::new().summary(1e9).p999_ns, None);
    }
}
