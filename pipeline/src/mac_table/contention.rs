//! Where learners meet: two inserting the same new MAC at once (the copy
//! later in search order goes), and a new MAC at the bridge limit (it
//! evicts from the port that holds the most).

use core::sync::atomic::Ordering;

use super::*;

impl MacTable {
    /// Run by an inserter right after publishing its copy of `key` at
    /// `position`: removes the copy that loses if a racing insert stored the
    /// same key. A learned copy loses to one earlier in search order and to
    /// a static one; the inserter withdraws its own losing copy, and removes
    /// a racer's losing copy once that racer's value is written (a copy
    /// whose value still reads 0 is left to its own inserter).
    ///
    /// Why every duplicate goes: the key compare-and-swaps, the value stores
    /// and this scan's loads are all SeqCst, so they fall in one total
    /// order. Of two racing inserters, the later one to claim its slot scans
    /// after the other's claim and so sees the other's key. If it is the
    /// one holding the losing copy, it withdraws it. If the other holds it,
    /// either the value there reads as written and this one removes it, or
    /// it reads 0, which puts the other's value store, and the other's scan
    /// after it, after this one's value store: that scan sees this copy
    /// written and the other withdraws its own.
    pub(super) fn settle_duplicates(
        &self,
        key: u64,
        hash: u64,
        buckets: [&Bucket; 2],
        position: usize,
        inserted: Inserted,
    ) {
        let check = Self::check_of(hash);
        let (own_bucket, own_slot) = (
            buckets[position / SLOTS_PER_BUCKET],
            position % SLOTS_PER_BUCKET,
        );
        for (choice, bucket) in buckets.into_iter().enumerate() {
            for slot in 0..SLOTS_PER_BUCKET {
                if bucket.keys[slot].load(Ordering::SeqCst) != key {
                    continue;
                }
                let other = choice * SLOTS_PER_BUCKET + slot;
                if other == position {
                    continue;
                }
                let value = bucket.values[slot].load(Ordering::SeqCst);
                let written = Self::value_check(value) == check;
                let other_is_static = written && Self::is_static(value);
                if inserted == Inserted::Learned && (other < position || other_is_static) {
                    self.withdraw_duplicate(own_bucket, own_slot, check);
                    return;
                }
                if written && !other_is_static {
                    self.withdraw_duplicate(bucket, slot, check);
                }
            }
        }
    }

    /// Removes the learned copy in `slot` unless someone else already did.
    /// Retries while learners change the value under it (refresh, move);
    /// past [`DUPLICATE_REMOVAL_TRIES`] the sweep finds the duplicate.
    pub(super) fn withdraw_duplicate(&self, bucket: &Bucket, slot: usize, check: u64) {
        for _ in 0..DUPLICATE_REMOVAL_TRIES {
            let value = bucket.values[slot].load(Ordering::SeqCst);
            if Self::value_check(value) != check || Self::is_static(value) {
                return;
            }
            if self.remove_slot(bucket, slot, value) {
                return;
            }
        }
    }

    /// Makes room for one new entry at the bridge limit: among the first
    /// [`EVICTION_CANDIDATES`] learned entries of the port holding the most
    /// that a scan of [`EVICTION_SCAN_SLOTS`] slots from the rotating cursor
    /// meets, removes the least recently seen. False if the scan met none
    /// or lost every one to a racing remover.
    pub(super) fn evict_one(&self, now: u32) -> bool {
        let Some(fullest) = self.fullest_port() else {
            return false;
        };
        let slots = self.buckets.len() * SLOTS_PER_BUCKET;
        let start = self.eviction_cursor.load(Ordering::Relaxed) % slots;
        let mut candidates = [(0u32, 0usize, 0u64); EVICTION_CANDIDATES];
        let mut found = 0;
        let mut scanned = 0;
        while scanned < EVICTION_SCAN_SLOTS.min(slots) && found < EVICTION_CANDIDATES {
            let index = (start + scanned) % slots;
            scanned += 1;
            let (bucket, slot) = (
                &self.buckets[index / SLOTS_PER_BUCKET],
                index % SLOTS_PER_BUCKET,
            );
            let key = bucket.keys[slot].load(Ordering::Relaxed);
            if key == 0 {
                continue;
            }
            let value = bucket.values[slot].load(Ordering::Acquire);
            if Self::value_check(value) != Self::check_of(self.hash(key))
                || Self::is_static(value)
                || Self::value_port(value) != fullest
            {
                continue;
            }
            candidates[found] = (now.wrapping_sub(Self::value_time(value)), index, value);
            found += 1;
        }
        // Racing evictors read the same cursor and may pick the same entry;
        // the compare-and-swap in remove_slot gives it to one of them.
        self.eviction_cursor
            .store((start + scanned) % slots, Ordering::Relaxed);
        let candidates = &mut candidates[..found];
        candidates.sort_unstable_by_key(|&(age, _, _)| core::cmp::Reverse(age));
        for &(_, index, value) in candidates.iter() {
            let bucket = &self.buckets[index / SLOTS_PER_BUCKET];
            if self.remove_slot(bucket, index % SLOTS_PER_BUCKET, value) {
                bump(&self.counters.evicted);
                return true;
            }
        }
        false
    }

    /// The port with the most learned entries, among those that ever
    /// learned: as many loads as the bridge has ports, less than the flood
    /// that a refused MAC would cost.
    pub(super) fn fullest_port(&self) -> Option<PortId> {
        let span = self.port_span.load(Ordering::Relaxed).min(MAX_PORTS);
        let (port, count) = self.ports[..span]
            .iter()
            .map(|state| state.entries.load(Ordering::Relaxed))
            .enumerate()
            .max_by_key(|&(_, count)| count)?;
        (count > 0).then_some(port as PortId)
    }

    /// Widens the ports an eviction compares to include `port`.
    pub(super) fn note_port(&self, port: PortId) {
        if self.port_span.load(Ordering::Relaxed) <= port as usize {
            self.port_span
                .fetch_max(port as usize + 1, Ordering::Relaxed);
        }
    }
}
