//! The MAC learning table of one bridge.
//!
//! Workers learn and look up concurrently without locks; the control thread
//! ages entries out and lists them. The table is allocated once at its
//! configured size, so a MAC flood can fill it but never grow it: entries
//! past the bridge or port limit are counted, not stored.
//!
//! Layout: buckets of eight slots; a slot is a key word and a value word,
//! both atomics, keys in one cache line and values in the next. Each (VLAN,
//! MAC) hashes to two buckets and is stored in the emptier one ("two
//! choices"), which keeps every bucket near the average load, so the table
//! holds its limit (sized for a load of at most one half) whatever the
//! addresses.
//!
//! - key: bit 63 set for a used slot, VLAN in bits 48..60, MAC in bits 0..48.
//! - value: last-seen time (seconds) in bits 0..32, port in bits 32..48, a
//!   15-bit check of the key in bits 48..63, static flag in bit 63.
//!
//! A writer claims an empty slot by compare-and-swap on its key, then stores
//! the value. A reader that finds its key trusts the value only if the check
//! bits match the key: a value of 0 (not yet written) or a value written for
//! an earlier occupant of the slot reads as a miss, and a miss only costs a
//! flood. Timestamps are refreshed at most once a second per entry, so
//! steady traffic reads the table's cache lines without writing them.
//!
//! Not supported: two workers learning the same new MAC at the same instant
//! may both insert it; lookups then find the first copy and aging removes
//! both.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::flow::Mac;

/// Index of a port in the datapath's port table.
pub type PortId = u16;

const SLOTS_PER_BUCKET: usize = 8;
const KEY_USED: u64 = 1 << 63;
const VALUE_STATIC: u64 = 1 << 63;
const VALUE_CHECK_SHIFT: u32 = 48;
const VALUE_CHECK_MASK: u64 = 0x7fff;
const VALUE_PORT_SHIFT: u32 = 32;

#[repr(C, align(64))]
struct Bucket {
    keys: [AtomicU64; SLOTS_PER_BUCKET],
    values: [AtomicU64; SLOTS_PER_BUCKET],
}

impl Bucket {
    fn new() -> Bucket {
        Bucket {
            keys: Default::default(),
            values: Default::default(),
        }
    }

    fn used(&self) -> usize {
        self.keys
            .iter()
            .filter(|k| k.load(Ordering::Relaxed) != 0)
            .count()
    }

    fn find(&self, key: u64) -> Option<usize> {
        self.keys
            .iter()
            .position(|k| k.load(Ordering::Acquire) == key)
    }
}

/// Counters of learning events. Read with [`MacTable::counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MacTableCounters {
    /// New entries learned.
    pub learned: u64,
    /// Entries whose port changed (a host moved).
    pub moved: u64,
    /// Entries removed by aging.
    pub aged: u64,
    /// New MACs not learned because the bridge's table was at its limit.
    pub bridge_limit_hits: u64,
    /// New MACs not learned because the port was at its limit.
    pub port_limit_hits: u64,
    /// New MACs not learned because both candidate buckets were full.
    pub bucket_full: u64,
    /// Frames whose source matched a static entry on another port (not moved).
    pub static_conflicts: u64,
}

#[derive(Default)]
struct AtomicCounters {
    learned: AtomicU64,
    moved: AtomicU64,
    aged: AtomicU64,
    bridge_limit_hits: AtomicU64,
    port_limit_hits: AtomicU64,
    bucket_full: AtomicU64,
    static_conflicts: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One entry, as listed by [`MacTable::entries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacEntry {
    /// VLAN (0 for untagged traffic on ports without VLAN configuration).
    pub vlan: u16,
    /// The address.
    pub mac: Mac,
    /// Where it was learned or configured.
    pub port: PortId,
    /// Seconds since it was last seen (0 for static entries).
    pub age: u32,
    /// Configured, never aged or moved.
    pub is_static: bool,
}

/// What [`MacTable::learn`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnOutcome {
    /// Already known on this port (its time may have been refreshed).
    Known,
    /// A new entry was stored.
    Learned,
    /// The entry moved from another port.
    Moved,
    /// Not stored: a limit or a full bucket; counted.
    Refused,
    /// A static entry for this MAC points elsewhere; left as it is.
    StaticConflict,
}

/// A bridge's MAC table. Shared by reference between workers and the
/// control thread.
pub struct MacTable {
    buckets: Box<[Bucket]>,
    bucket_mask: u64,
    seed: u64,
    aging_secs: u32,
    limit: u32,
    entries: AtomicU32,
    port_limits: Box<[u32]>,
    port_entries: Box<[AtomicU32]>,
    counters: AtomicCounters,
}

fn mac_to_u64(mac: &Mac) -> u64 {
    let mut word = [0u8; 8];
    word[2..].copy_from_slice(mac);
    u64::from_be_bytes(word)
}

fn u64_to_mac(word: u64) -> Mac {
    let bytes = word.to_be_bytes();
    [bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]
}

impl MacTable {
    /// A table for a bridge that holds at most `limit` entries, ages
    /// learned entries after `aging_secs` without traffic, and has
    /// `port_limits.len()` ports (indexed by [`PortId`]), each holding at
    /// most `port_limits[p]` learned entries. `seed` keys the hash so that
    /// an attacker cannot aim a flood at one bucket.
    pub fn new(limit: u32, aging_secs: u32, port_limits: &[u32], seed: u64) -> MacTable {
        // Two slots per allowed entry keeps the load at or below one half.
        let slots = (limit.max(1) as u64 * 2).next_power_of_two();
        let buckets = (slots / SLOTS_PER_BUCKET as u64).max(2);
        MacTable {
            buckets: (0..buckets).map(|_| Bucket::new()).collect(),
            bucket_mask: buckets - 1,
            seed: seed | 1,
            aging_secs,
            limit,
            entries: AtomicU32::new(0),
            port_limits: port_limits.into(),
            port_entries: port_limits.iter().map(|_| AtomicU32::new(0)).collect(),
            counters: AtomicCounters::default(),
        }
    }

    fn key(vlan: u16, mac: &Mac) -> u64 {
        KEY_USED | ((vlan as u64 & 0xfff) << 48) | mac_to_u64(mac)
    }

    fn hash(&self, key: u64) -> u64 {
        // Multiply-xorshift: cheap, and the seed makes bucket choice
        // unpredictable from outside.
        let h = (key ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^ (h >> 29)
    }

    fn check_of(hash: u64) -> u64 {
        ((hash >> 33) & VALUE_CHECK_MASK) | 1
    }

    #[inline]
    fn first_bucket(&self, hash: u64) -> &Bucket {
        &self.buckets[(hash & self.bucket_mask) as usize]
    }

    /// The second choice: another bucket, from other bits of the hash.
    #[inline]
    fn second_bucket(&self, hash: u64) -> &Bucket {
        let first = hash & self.bucket_mask;
        let mut second = (hash >> 32).wrapping_mul(0xff51_afd7_ed55_8ccd) >> 32 & self.bucket_mask;
        if second == first {
            second = (first + 1) & self.bucket_mask;
        }
        &self.buckets[second as usize]
    }

    fn value(port: PortId, now: u32, check: u64, is_static: bool) -> u64 {
        (if is_static { VALUE_STATIC } else { 0 })
            | (check << VALUE_CHECK_SHIFT)
            | ((port as u64) << VALUE_PORT_SHIFT)
            | now as u64
    }

    fn value_port(value: u64) -> PortId {
        (value >> VALUE_PORT_SHIFT) as PortId
    }

    fn value_time(value: u64) -> u32 {
        value as u32
    }

    fn value_check(value: u64) -> u64 {
        (value >> VALUE_CHECK_SHIFT) & VALUE_CHECK_MASK
    }

    fn expired(&self, value: u64, now: u32) -> bool {
        value & VALUE_STATIC == 0 && now.wrapping_sub(Self::value_time(value)) > self.aging_secs
    }

    /// Finds the slot holding `key` with a value that belongs to it. The
    /// second bucket is only worked out when the first has no match.
    fn locate(&self, key: u64, hash: u64) -> Option<(&Bucket, usize, u64)> {
        let check = Self::check_of(hash);
        let in_bucket = |bucket: &Bucket| {
            let slot = bucket.find(key)?;
            let value = bucket.values[slot].load(Ordering::Acquire);
            (Self::value_check(value) == check)
                .then_some(value)
                .map(|v| (slot, v))
        };
        let first = self.first_bucket(hash);
        if let Some((slot, value)) = in_bucket(first) {
            return Some((first, slot, value));
        }
        let second = self.second_bucket(hash);
        in_bucket(second).map(|(slot, value)| (second, slot, value))
    }

    /// The port `mac` was learned on in `vlan`, unless unknown or aged out.
    #[inline]
    pub fn lookup(&self, vlan: u16, mac: &Mac, now: u32) -> Option<PortId> {
        let key = Self::key(vlan, mac);
        let (_, _, value) = self.locate(key, self.hash(key))?;
        (!self.expired(value, now)).then_some(Self::value_port(value))
    }

    /// Records that `mac` was seen as a source on `port` in `vlan` at `now`.
    #[inline]
    pub fn learn(&self, vlan: u16, mac: &Mac, port: PortId, now: u32) -> LearnOutcome {
        let key = Self::key(vlan, mac);
        let hash = self.hash(key);
        let check = Self::check_of(hash);
        if let Some((bucket, slot, value)) = self.locate(key, hash) {
            let old_port = Self::value_port(value);
            if value & VALUE_STATIC != 0 {
                if old_port == port {
                    return LearnOutcome::Known;
                }
                bump(&self.counters.static_conflicts);
                return LearnOutcome::StaticConflict;
            }
            if old_port == port {
                if Self::value_time(value) != now {
                    // A lost race only loses one refresh.
                    let _ = bucket.values[slot].compare_exchange(
                        value,
                        Self::value(port, now, check, false),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    );
                }
                return LearnOutcome::Known;
            }
            if !self.port_has_room(port) {
                bump(&self.counters.port_limit_hits);
                return LearnOutcome::Refused;
            }
            let moved = bucket.values[slot]
                .compare_exchange(
                    value,
                    Self::value(port, now, check, false),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok();
            if moved {
                self.port_count_sub(old_port);
                self.port_count_add(port);
                bump(&self.counters.moved);
                return LearnOutcome::Moved;
            }
            return LearnOutcome::Known;
        }
        if self.entries.load(Ordering::Relaxed) >= self.limit {
            bump(&self.counters.bridge_limit_hits);
            return LearnOutcome::Refused;
        }
        if !self.port_has_room(port) {
            bump(&self.counters.port_limit_hits);
            return LearnOutcome::Refused;
        }
        if self.insert(key, hash, Self::value(port, now, check, false)) {
            self.entries.fetch_add(1, Ordering::Relaxed);
            self.port_count_add(port);
            bump(&self.counters.learned);
            LearnOutcome::Learned
        } else {
            bump(&self.counters.bucket_full);
            LearnOutcome::Refused
        }
    }

    /// Claims an empty slot in the emptier candidate bucket. Filling the
    /// first bucket until it is full would make more lookups end in it, but
    /// it lets both candidates fill before the table does: scattered
    /// addresses were refused below the limit. The emptier choice keeps
    /// every bucket near the average load.
    fn insert(&self, key: u64, hash: u64, value: u64) -> bool {
        let (first, second) = (self.first_bucket(hash), self.second_bucket(hash));
        let order = if first.used() <= second.used() {
            [first, second]
        } else {
            [second, first]
        };
        for bucket in order {
            for slot in 0..SLOTS_PER_BUCKET {
                if bucket.keys[slot]
                    .compare_exchange(0, key, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    bucket.values[slot].store(value, Ordering::Release);
                    return true;
                }
            }
        }
        false
    }

    fn port_has_room(&self, port: PortId) -> bool {
        match (
            self.port_limits.get(port as usize),
            self.port_entries.get(port as usize),
        ) {
            (Some(limit), Some(count)) => count.load(Ordering::Relaxed) < *limit,
            _ => false,
        }
    }

    fn port_count_add(&self, port: PortId) {
        if let Some(count) = self.port_entries.get(port as usize) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn port_count_sub(&self, port: PortId) {
        if let Some(count) = self.port_entries.get(port as usize) {
            let _ = count.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| c.checked_sub(1));
        }
    }

    /// Adds or replaces a static entry: never aged, never moved by
    /// learning, not counted against limits. Returns false if both buckets
    /// are full of static entries.
    pub fn insert_static(&self, vlan: u16, mac: &Mac, port: PortId) -> bool {
        let key = Self::key(vlan, mac);
        let hash = self.hash(key);
        let value = Self::value(port, 0, Self::check_of(hash), true);
        if let Some((bucket, slot, old)) = self.locate(key, hash) {
            if old & VALUE_STATIC == 0 {
                self.entries.fetch_sub(1, Ordering::Relaxed);
                self.port_count_sub(Self::value_port(old));
            }
            bucket.values[slot].store(value, Ordering::Release);
            return true;
        }
        self.insert(key, hash, value)
    }

    /// Removes learned entries not seen for longer than the aging time and
    /// returns how many. Called periodically by the control thread (and by
    /// replay as packet time advances); lookups already ignore expired
    /// entries, so sweeping late only delays reclaiming their slots.
    pub fn sweep(&self, now: u32) -> usize {
        let mut removed = 0;
        for bucket in self.buckets.iter() {
            for slot in 0..SLOTS_PER_BUCKET {
                let key = bucket.keys[slot].load(Ordering::Acquire);
                if key == 0 {
                    continue;
                }
                let value = bucket.values[slot].load(Ordering::Acquire);
                if value == 0 || !self.expired(value, now) {
                    continue;
                }
                // Clear the value first so a reader racing with us sees a
                // miss, never the next occupant's key with our value.
                if bucket.values[slot]
                    .compare_exchange(value, 0, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    bucket.keys[slot].store(0, Ordering::Release);
                    let _ = self
                        .entries
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| c.checked_sub(1));
                    self.port_count_sub(Self::value_port(value));
                    bump(&self.counters.aged);
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Every current entry (expired ones that were not swept yet excluded),
    /// sorted by VLAN then MAC.
    pub fn entries(&self, now: u32) -> Vec<MacEntry> {
        let mut out = Vec::new();
        for bucket in self.buckets.iter() {
            for slot in 0..SLOTS_PER_BUCKET {
                let key = bucket.keys[slot].load(Ordering::Acquire);
                let value = bucket.values[slot].load(Ordering::Acquire);
                if key == 0
                    || Self::value_check(value) != Self::check_of(self.hash(key))
                    || self.expired(value, now)
                {
                    continue;
                }
                let is_static = value & VALUE_STATIC != 0;
                out.push(MacEntry {
                    vlan: ((key >> 48) & 0xfff) as u16,
                    mac: u64_to_mac(key),
                    port: Self::value_port(value),
                    age: if is_static {
                        0
                    } else {
                        now.wrapping_sub(Self::value_time(value))
                    },
                    is_static,
                });
            }
        }
        out.sort_by_key(|e| (e.vlan, e.mac));
        out
    }

    /// Learned entries (static ones excluded) counted against the limit.
    pub fn len(&self) -> u32 {
        self.entries.load(Ordering::Relaxed)
    }

    /// True if nothing was learned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Learned entries on `port`.
    pub fn port_len(&self, port: PortId) -> u32 {
        self.port_entries
            .get(port as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// A snapshot of the learning counters.
    pub fn counters(&self) -> MacTableCounters {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MacTableCounters {
            learned: get(&c.learned),
            moved: get(&c.moved),
            aged: get(&c.aged),
            bridge_limit_hits: get(&c.bridge_limit_hits),
            port_limit_hits: get(&c.port_limit_hits),
            bucket_full: get(&c.bucket_full),
            static_conflicts: get(&c.static_conflicts),
        }
    }
}

#[cfg(test)]
mod tests;
