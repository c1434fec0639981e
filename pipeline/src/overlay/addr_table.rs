//! A small table keyed by IP address that workers read without locks: the
//! remote VTEPs of a tunnel and the neighbours (IP to MAC) of an uplink.
//!
//! Slots are found by hashing the address and probing a short window, so a
//! lookup reads one or two cache lines. Each slot is a sequence lock made of
//! atomics: a writer makes the sequence odd with a compare-and-swap, writes,
//! and makes it even again; a reader retries (a bounded number of times)
//! when the sequence was odd or moved under it. Writers never wait for each
//! other: one that finds a slot being written gives up (learning is best
//! effort, and the next frame learns again). Two writers inserting the same
//! new address at the same instant can each claim a slot; the sweep
//! removes the later duplicate, so the effect is bounded to one aging
//! period of doubled head-end replication.

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use std::net::IpAddr;

/// Slots probed from an address's home slot.
const PROBE: usize = 8;

/// Reader retries before a slot being rewritten counts as absent.
const READ_TRIES: usize = 4;

/// What a slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Configured: never aged.
    Static,
    /// Learned from traffic: aged.
    Learned,
}

const EMPTY: u8 = 0;
const STATIC: u8 = 1;
const LEARNED: u8 = 2;

/// One entry as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrEntry {
    /// Its slot: stable while the entry lives.
    pub index: usize,
    /// The address.
    pub addr: IpAddr,
    /// The value (a MAC as the low 48 bits, or 0 while unresolved).
    pub value: u64,
    /// Second it was last seen.
    pub seen: u32,
    /// Second a request for it was last sent.
    pub requested: u32,
    /// A second value its owner caches beside `value` (see
    /// [`AddrTable::cache_value`]).
    pub aux: u64,
    /// Configured or learned.
    pub origin: Origin,
    /// The slot's sequence when read.
    seq: u32,
}

struct Slot {
    seq: AtomicU32,
    state: AtomicU8,
    addr: [AtomicU64; 2],
    value: AtomicU64,
    seen: AtomicU32,
    requested: AtomicU32,
    aux: AtomicU64,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            seq: AtomicU32::new(0),
            state: AtomicU8::new(EMPTY),
            addr: [AtomicU64::new(0), AtomicU64::new(0)],
            value: AtomicU64::new(0),
            seen: AtomicU32::new(0),
            requested: AtomicU32::new(0),
            aux: AtomicU64::new(0),
        }
    }

    /// Takes the slot's write lock, or `None` if another writer holds it.
    fn lock(&self) -> Option<u32> {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 == 1 {
            return None;
        }
        self.seq
            .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
            .ok()
    }

    fn unlock(&self, seq: u32) {
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// A consistent copy of the slot, or `None` when it is empty or kept
    /// being rewritten.
    fn read(&self, index: usize) -> Option<AddrEntry> {
        for _ in 0..READ_TRIES {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 1 {
                core::hint::spin_loop();
                continue;
            }
            let state = self.state.load(Ordering::Relaxed);
            let addr = [
                self.addr[0].load(Ordering::Relaxed),
                self.addr[1].load(Ordering::Relaxed),
            ];
            let value = self.value.load(Ordering::Relaxed);
            let seen = self.seen.load(Ordering::Relaxed);
            let requested = self.requested.load(Ordering::Relaxed);
            let aux = self.aux.load(Ordering::Relaxed);
            core::sync::atomic::fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) != before {
                continue;
            }
            let origin = match state {
                STATIC => Origin::Static,
                LEARNED => Origin::Learned,
                _ => return None,
            };
            return Some(AddrEntry {
                index,
                addr: from_words(addr),
                value,
                seen,
                requested,
                aux,
                origin,
                seq: before,
            });
        }
        None
    }

    fn holds(&self, words: [u64; 2]) -> bool {
        self.state.load(Ordering::Relaxed) != EMPTY
            && self.addr[0].load(Ordering::Relaxed) == words[0]
            && self.addr[1].load(Ordering::Relaxed) == words[1]
    }
}

/// The address as two words: IPv4 as its IPv4-mapped IPv6 form (the key
/// the table hashes and compares).
#[inline]
pub fn to_words(addr: IpAddr) -> [u64; 2] {
    let bytes = match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    let (hi, lo) = bytes.split_at(8);
    [
        u64::from_be_bytes(hi.try_into().unwrap_or_default()),
        u64::from_be_bytes(lo.try_into().unwrap_or_default()),
    ]
}

fn from_words(words: [u64; 2]) -> IpAddr {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&words[0].to_be_bytes());
    bytes[8..].copy_from_slice(&words[1].to_be_bytes());
    let v6 = std::net::Ipv6Addr::from(bytes);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// The table.
pub struct AddrTable {
    slots: Box<[Slot]>,
    mask: usize,
    /// One past the highest slot ever used: what a walk over every entry
    /// (head-end replication) reads.
    high_water: AtomicUsize,
    /// Moves whenever an entry goes away or an entry's slot is reused, so
    /// that a cached decision naming a slot is never served for another
    /// address.
    generation: AtomicU64,
    /// Moves whenever an entry is added, removed or given another value:
    /// what a copy of a value kept elsewhere is checked against.
    changes: AtomicU64,
    seed: u64,
}

impl AddrTable {
    /// A table of at least `capacity` slots (a power of two).
    pub fn new(capacity: usize, seed: u64) -> AddrTable {
        let slots = capacity.max(PROBE).next_power_of_two();
        AddrTable {
            slots: (0..slots).map(|_| Slot::new()).collect(),
            mask: slots - 1,
            high_water: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            changes: AtomicU64::new(0),
            seed: seed | 1,
        }
    }

    fn home(&self, words: [u64; 2]) -> usize {
        let h =
            (words[0] ^ words[1].rotate_left(29) ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> 32) as usize & self.mask
    }

    fn window(&self, words: [u64; 2]) -> impl Iterator<Item = usize> + '_ {
        let home = self.home(words);
        (0..PROBE).map(move |k| (home + k) & self.mask)
    }

    /// The entry for `addr`.
    #[inline]
    pub fn find(&self, addr: IpAddr) -> Option<AddrEntry> {
        let words = to_words(addr);
        // Compare the address words first: only a matching slot is read
        // whole (and then checked again, consistently).
        self.window(words)
            .filter_map(|i| self.slots.get(i).map(|s| (i, s)))
            .filter(|(_, s)| s.holds(words))
            .filter_map(|(i, s)| s.read(i))
            .find(|e| to_words(e.addr) == words)
    }

    /// The slot of the address whose words (see [`to_words`]) are
    /// `words`, refreshing its last-seen time (one store a second): the
    /// per-frame check of a VTEP, which needs no copy of the entry.
    #[inline]
    pub fn touch_words(&self, words: [u64; 2], now: u32) -> Option<usize> {
        let index = self.index_of(words)?;
        let slot = self.slots.get(index)?;
        if slot.seen.load(Ordering::Relaxed) != now {
            slot.seen.fetch_max(now, Ordering::Relaxed);
        }
        Some(index)
    }

    /// The slot of the address whose words are `words`.
    #[inline]
    pub fn index_of(&self, words: [u64; 2]) -> Option<usize> {
        self.window(words)
            .find(|&i| self.slots.get(i).is_some_and(|s| s.holds(words)))
    }

    /// The entry in slot `index`.
    #[inline]
    pub fn get(&self, index: usize) -> Option<AddrEntry> {
        self.slots.get(index).and_then(|s| s.read(index))
    }

    /// Every entry, in slot order.
    pub fn entries(&self) -> impl Iterator<Item = AddrEntry> + '_ {
        let end = self
            .high_water
            .load(Ordering::Acquire)
            .min(self.slots.len());
        (0..end).filter_map(|i| self.get(i))
    }

    /// The generation (see the field).
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The count of changes (see the field).
    #[inline]
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Replaces the value and aux of `entry` if its slot still holds what
    /// was read (no writer came in between); false otherwise. For a value
    /// the table's owner derives and caches (a VTEP's next-hop MAC).
    pub fn cache_value(&self, entry: &AddrEntry, value: u64, aux: u64) -> bool {
        let Some(slot) = self.slots.get(entry.index) else {
            return false;
        };
        if slot
            .seq
            .compare_exchange(
                entry.seq,
                entry.seq + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return false;
        }
        slot.value.store(value, Ordering::Relaxed);
        slot.aux.store(aux, Ordering::Relaxed);
        slot.unlock(entry.seq);
        true
    }

    /// Sets `addr`'s value and last-seen time, adding it if it is absent
    /// (a static entry stays static; `origin` Static makes it so). Returns
    /// its slot, or `None` when its window is full or a writer holds the
    /// slot.
    pub fn upsert(&self, addr: IpAddr, value: u64, now: u32, origin: Origin) -> Option<usize> {
        let words = to_words(addr);
        if let Some(i) = self.window(words).find(|&i| self.slots[i].holds(words)) {
            let slot = &self.slots[i];
            let seq = slot.lock()?;
            if slot.holds(words) {
                if slot.value.swap(value, Ordering::Relaxed) != value {
                    self.changes.fetch_add(1, Ordering::AcqRel);
                }
                slot.seen.store(now, Ordering::Relaxed);
                if origin == Origin::Static {
                    slot.state.store(STATIC, Ordering::Relaxed);
                }
            }
            slot.unlock(seq);
            return Some(i);
        }
        for i in self.window(words) {
            let slot = &self.slots[i];
            if slot.state.load(Ordering::Relaxed) != EMPTY {
                continue;
            }
            let Some(seq) = slot.lock() else { continue };
            if slot.state.load(Ordering::Relaxed) != EMPTY {
                slot.unlock(seq);
                continue;
            }
            slot.addr[0].store(words[0], Ordering::Relaxed);
            slot.addr[1].store(words[1], Ordering::Relaxed);
            slot.value.store(value, Ordering::Relaxed);
            slot.seen.store(now, Ordering::Relaxed);
            slot.requested.store(0, Ordering::Relaxed);
            slot.aux.store(0, Ordering::Relaxed);
            let state = match origin {
                Origin::Static => STATIC,
                Origin::Learned => LEARNED,
            };
            slot.state.store(state, Ordering::Relaxed);
            slot.unlock(seq);
            self.changes.fetch_add(1, Ordering::AcqRel);
            self.high_water.fetch_max(i + 1, Ordering::AcqRel);
            return Some(i);
        }
        None
    }

    /// Records that a request for the entry in `index` went out at `now`
    /// unless one did less than a second ago: true when the caller should
    /// send one.
    pub fn claim_request(&self, index: usize, now: u32) -> bool {
        let Some(slot) = self.slots.get(index) else {
            return false;
        };
        let last = slot.requested.load(Ordering::Relaxed);
        last != now
            && slot
                .requested
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Removes the entry in `index`.
    pub fn remove(&self, index: usize) -> bool {
        let Some(slot) = self.slots.get(index) else {
            return false;
        };
        let Some(seq) = slot.lock() else {
            return false;
        };
        let was = slot.state.swap(EMPTY, Ordering::Relaxed);
        slot.unlock(seq);
        if was != EMPTY {
            self.generation.fetch_add(1, Ordering::AcqRel);
            self.changes.fetch_add(1, Ordering::AcqRel);
        }
        was != EMPTY
    }

    /// Removes learned entries not seen for `aging_secs`, and the later of
    /// two slots holding one address; returns the slots removed.
    pub fn sweep(&self, now: u32, aging_secs: u32) -> Vec<usize> {
        let mut removed = Vec::new();
        let entries: Vec<AddrEntry> = self.entries().collect();
        for (k, e) in entries.iter().enumerate() {
            let old = e.origin == Origin::Learned && now.saturating_sub(e.seen) > aging_secs;
            let duplicate = entries[..k].iter().any(|o| o.addr == e.addr);
            if (old || duplicate) && self.remove(e.index) {
                removed.push(e.index);
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(last: u8) -> IpAddr {
        IpAddr::from([10, 200, 0, last])
    }

    #[test]
    fn upsert_find_and_update() {
        let t = AddrTable::new(16, 7);
        assert!(t.find(v4(2)).is_none());
        let i = t.upsert(v4(2), 0, 5, Origin::Learned).unwrap();
        let e = t.find(v4(2)).unwrap();
        assert_eq!(
            (e.index, e.value, e.seen, e.origin),
            (i, 0, 5, Origin::Learned)
        );
        assert_eq!(
            t.upsert(v4(2), 0x0200_0000_0001, 6, Origin::Learned),
            Some(i)
        );
        assert_eq!(t.get(i).unwrap().value, 0x0200_0000_0001);
        let v6: IpAddr = "fd00:200::2".parse().unwrap();
        let j = t.upsert(v6, 9, 6, Origin::Static).unwrap();
        assert_eq!(t.find(v6).unwrap().addr, v6);
        assert_eq!(t.get(j).unwrap().origin, Origin::Static);
        assert_eq!(t.entries().count(), 2);
    }

    #[test]
    fn sweep_ages_learned_entries_only_and_moves_the_generation() {
        let t = AddrTable::new(16, 7);
        t.upsert(v4(1), 0, 0, Origin::Static).unwrap();
        let learned = t.upsert(v4(2), 0, 0, Origin::Learned).unwrap();
        let g = t.generation();
        assert!(t.sweep(10, 30).is_empty());
        assert_eq!(t.sweep(31, 30), vec![learned]);
        assert!(t.generation() > g);
        assert!(t.find(v4(1)).is_some());
        assert!(t.find(v4(2)).is_none());
    }

    #[test]
    fn a_full_window_refuses_and_requests_are_rate_limited() {
        let t = AddrTable::new(8, 1);
        let stored = (0..=255u8)
            .filter(|&n| t.upsert(v4(n), 0, 0, Origin::Learned).is_some())
            .count();
        assert_eq!(stored, 8, "eight slots, no more");
        let i = t.entries().next().unwrap().index;
        assert!(t.claim_request(i, 3));
        assert!(!t.claim_request(i, 3));
        assert!(t.claim_request(i, 4));
    }

    #[test]
    fn readers_see_whole_entries_while_writers_rewrite() {
        let t = std::sync::Arc::new(AddrTable::new(64, 3));
        let addr = v4(9);
        t.upsert(addr, 0x1111, 0, Origin::Learned).unwrap();
        let writer = {
            let t = t.clone();
            std::thread::spawn(move || {
                for n in 0..20_000u32 {
                    let v = if n % 2 == 0 { 0x2222 } else { 0x1111 };
                    t.upsert(addr, v, n, Origin::Learned);
                }
            })
        };
        for _ in 0..20_000 {
            if let Some(e) = t.find(addr) {
                assert!(e.value == 0x1111 || e.value == 0x2222);
                assert_eq!(e.addr, addr);
            }
        }
        writer.join().unwrap();
    }
}
