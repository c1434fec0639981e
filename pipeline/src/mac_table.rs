//! The MAC learning table of one bridge.
//!
//! Workers learn and look up concurrently without locks; the control thread
//! ages entries out, lists them and changes limits. The table is allocated
//! once at its configured size, so a MAC flood can fill it but never grow
//! it. It outlives configurations: ports come and go while it is kept, so
//! per-port state is sized for [`MAX_PORTS`] port ids and set one port at a
//! time.
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
//! bits match the key: a value of 0 (not yet written, or being removed) or
//! a value written for an earlier occupant of the slot reads as a miss, and
//! a miss only costs a flood. Timestamps are refreshed at most once a second
//! per entry, so steady traffic reads the table's cache lines without
//! writing them.
//!
//! Invariants:
//!
//! - A slot is removed by whoever wins the compare-and-swap of its value to
//!   0; only that thread clears the key and decrements the counts, so each
//!   removal is counted once.
//! - Counts are raised before the value that they count is published and
//!   lowered after it is withdrawn, so the entry and per-port counts equal
//!   the learned values in the table whenever no call is in flight, and
//!   never go below zero in between.
//! - A key is stored at most once when the inserts racing on it have
//!   returned: each inserter scans both buckets after publishing and the
//!   losing copy is withdrawn (the argument is at `settle_duplicates`). The
//!   copy that stays is the first in search order (first bucket, then
//!   second), the one lookups find, unless the other copy is static.
//! - At the bridge limit a new MAC evicts an entry of the port holding the
//!   most ("fair" eviction, as Open vSwitch does), so a flood from one port
//!   cannot lock other ports' hosts out. Per-port limits refuse outright.

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::flow::Mac;

/// Index of a port in the datapath's port table.
pub type PortId = u16;

/// Port ids a table keeps limits and counts for; learning from a port id
/// at or above it is refused.
pub const MAX_PORTS: usize = 4096;

const SLOTS_PER_BUCKET: usize = 8;
/// Slot positions in search order: the first bucket's, then the second's.
const CANDIDATE_SLOTS: usize = 2 * SLOTS_PER_BUCKET;
const KEY_USED: u64 = 1 << 63;
const VALUE_STATIC: u64 = 1 << 63;
const VALUE_CHECK_SHIFT: u32 = 48;
const VALUE_CHECK_MASK: u64 = 0x7fff;
const VALUE_PORT_SHIFT: u32 = 32;
/// Slots one eviction looks at, from the rotating cursor: the work a new
/// MAC at the bridge limit may cost, whatever the table's size.
const EVICTION_SCAN_SLOTS: usize = 128;
/// Entries of the fullest port an eviction chooses the least recently seen
/// from.
const EVICTION_CANDIDATES: usize = 4;
/// Attempts at withdrawing a duplicate whose value other learners keep
/// changing (refresh, move); past them the sweep removes it.
const DUPLICATE_REMOVAL_TRIES: usize = 16;

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

/// Limit and count of one port, side by side: learning reads both.
struct PortState {
    entries: AtomicU32,
    limit: AtomicU32,
}

/// Counters of learning events. Read with [`MacTable::counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MacTableCounters {
    /// New entries stored (a duplicate of a racing insert, withdrawn at
    /// once, included).
    pub learned: u64,
    /// Entries whose port changed (a host moved).
    pub moved: u64,
    /// Entries removed by aging.
    pub aged: u64,
    /// Entries removed at the bridge limit to make room for a new MAC.
    pub evicted: u64,
    /// New MACs not learned because the bridge's table was at its limit and
    /// no entry could be evicted.
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
    evicted: AtomicU64,
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

/// What [`MacTable::lookup_entry`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacHit {
    /// Where the address is.
    pub port: PortId,
    /// The last second at which the entry is alive without being seen
    /// again: last seen + aging time; `u32::MAX` for static entries.
    pub valid_until: u32,
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

/// Which copies of a key [`MacTable::settle_duplicates`] keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Inserted {
    Learned,
    Static,
}

/// A bridge's MAC table. Shared by reference between workers and the
/// control thread.
pub struct MacTable {
    buckets: Box<[Bucket]>,
    bucket_mask: u64,
    seed: u64,
    aging_secs: AtomicU32,
    limit: u32,
    entries: AtomicU32,
    generation: AtomicU64,
    ports: Box<[PortState]>,
    /// One past the highest port id that ever learned: the ports an
    /// eviction compares.
    port_span: AtomicUsize,
    /// Where the next eviction starts looking, as a slot index.
    eviction_cursor: AtomicUsize,
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
    /// A table for a bridge that holds at most `limit` learned entries and
    /// ages them after `aging_secs` without traffic. Every port may hold up
    /// to `limit` until [`MacTable::set_port_limit`] says otherwise. `seed`
    /// keys the hash so that an attacker cannot aim a flood at one bucket.
    pub fn new(limit: u32, aging_secs: u32, seed: u64) -> MacTable {
        // Two slots per allowed entry keeps the load at or below one half.
        let slots = (limit.max(1) as u64 * 2).next_power_of_two();
        let buckets = (slots / SLOTS_PER_BUCKET as u64).max(2);
        MacTable {
            buckets: (0..buckets).map(|_| Bucket::new()).collect(),
            bucket_mask: buckets - 1,
            seed: seed | 1,
            aging_secs: AtomicU32::new(aging_secs),
            limit,
            entries: AtomicU32::new(0),
            generation: AtomicU64::new(0),
            ports: (0..MAX_PORTS)
                .map(|_| PortState {
                    entries: AtomicU32::new(0),
                    limit: AtomicU32::new(limit),
                })
                .collect(),
            port_span: AtomicUsize::new(0),
            eviction_cursor: AtomicUsize::new(0),
            counters: AtomicCounters::default(),
        }
    }

    /// Lets `port` hold at most `limit` learned entries from now on; entries
    /// it already has stay. Ids at or above [`MAX_PORTS`] have no state and
    /// are left refused.
    pub fn set_port_limit(&self, port: PortId, limit: u32) {
        if let Some(state) = self.ports.get(port as usize) {
            state.limit.store(limit, Ordering::Relaxed);
        }
    }

    /// Ages learned entries after `secs` without traffic from now on. A
    /// change bumps the [generation](MacTable::generation): it moves every
    /// entry's `valid_until`.
    pub fn set_aging_secs(&self, secs: u32) {
        if self.aging_secs.swap(secs, Ordering::Relaxed) != secs {
            self.generation.fetch_add(1, Ordering::Release);
        }
    }

    /// A number that changes whenever an entry that a lookup could have
    /// found changes in a way that may make a cached forwarding decision
    /// ("frames to this (VLAN, MAC) go to port p") wrong: a move, any
    /// removal (aging sweep, eviction, [`flush_port`](MacTable::flush_port),
    /// withdrawal of a racing duplicate), a static entry added over a
    /// learned one, changed or removed, and a change of the aging time.
    ///
    /// It does not change when an unknown MAC is learned, nor when an
    /// entry's time is refreshed: neither changes the port of a MAC that a
    /// lookup found, and a cache holds no decision for unknown destinations
    /// (those are flooded).
    ///
    /// Contract for a cache: read the generation (it is an acquire load)
    /// before the lookup whose result is cached, keep it with the result,
    /// and use the result only while the generation still reads the same and
    /// `now <= valid_until` of the [`MacHit`] (expiry by time alone is not
    /// counted; a refresh only makes a cached `valid_until` conservative).
    /// Each change is bumped right after it is made, before the call making
    /// it returns, so a cached result is at worst as stale as a lookup that
    /// raced with the change.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
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

    /// The two candidate buckets, in search order: search position `p`
    /// (0..[`CANDIDATE_SLOTS`]) is slot `p % 8` of bucket `p / 8`.
    fn candidates(&self, hash: u64) -> [&Bucket; 2] {
        [self.first_bucket(hash), self.second_bucket(hash)]
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

    fn is_static(value: u64) -> bool {
        value & VALUE_STATIC != 0
    }

    fn expired(&self, value: u64, now: u32) -> bool {
        !Self::is_static(value)
            && now.wrapping_sub(Self::value_time(value)) > self.aging_secs.load(Ordering::Relaxed)
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
        self.lookup_entry(vlan, mac, now).map(|hit| hit.port)
    }

    /// Like [`lookup`](MacTable::lookup), with how long the answer holds
    /// unless the entry changes (see [`generation`](MacTable::generation)).
    #[inline]
    pub fn lookup_entry(&self, vlan: u16, mac: &Mac, now: u32) -> Option<MacHit> {
        let key = Self::key(vlan, mac);
        let (_, _, value) = self.locate(key, self.hash(key))?;
        if Self::is_static(value) {
            return Some(MacHit {
                port: Self::value_port(value),
                valid_until: u32::MAX,
            });
        }
        let aging_secs = self.aging_secs.load(Ordering::Relaxed);
        let last_seen = Self::value_time(value);
        (now.wrapping_sub(last_seen) <= aging_secs).then_some(MacHit {
            port: Self::value_port(value),
            valid_until: last_seen.wrapping_add(aging_secs),
        })
    }

    /// What [`MacTable::learn`] would do with `mac` on `port` in `vlan`,
    /// changing nothing: for probes (`vsctl trace`). Limits are not
    /// consulted, so a new MAC the table would refuse shows as learned.
    pub fn predict(&self, vlan: u16, mac: &Mac, port: PortId) -> LearnOutcome {
        let key = Self::key(vlan, mac);
        match self.locate(key, self.hash(key)) {
            Some((_, _, value)) if Self::value_port(value) == port => LearnOutcome::Known,
            Some((_, _, value)) if Self::is_static(value) => LearnOutcome::StaticConflict,
            Some(_) => LearnOutcome::Moved,
            None => LearnOutcome::Learned,
        }
    }

    /// Removes every learned entry (static ones stay) and returns how many:
    /// `vsctl fdb-flush`.
    pub fn flush_learned(&self) -> usize {
        self.remove_where(|_, value| {
            if Self::is_static(value) {
                Removal::Keep
            } else {
                Removal::Counted
            }
        })
    }

    /// Records that `mac` was seen as a source on `port` in `vlan` at `now`.
    #[inline]
    pub fn learn(&self, vlan: u16, mac: &Mac, port: PortId, now: u32) -> LearnOutcome {
        let key = Self::key(vlan, mac);
        let hash = self.hash(key);
        let check = Self::check_of(hash);
        if let Some((bucket, slot, value)) = self.locate(key, hash) {
            let old_port = Self::value_port(value);
            if Self::is_static(value) {
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
            return self.move_entry(bucket, slot, value, port, now);
        }
        self.learn_new(key, hash, Self::value(port, now, check, false), now)
    }

    #[cold]
    fn move_entry(
        &self,
        bucket: &Bucket,
        slot: usize,
        value: u64,
        port: PortId,
        now: u32,
    ) -> LearnOutcome {
        let Some(new_state) = self.port_with_room(port) else {
            bump(&self.counters.port_limit_hits);
            return LearnOutcome::Refused;
        };
        // Counted on the new port before the value says so: whoever removes
        // the moved entry decrements that port.
        new_state.entries.fetch_add(1, Ordering::Relaxed);
        let moved = Self::value(port, now, Self::value_check(value), false);
        if bucket.values[slot]
            .compare_exchange(value, moved, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            new_state.entries.fetch_sub(1, Ordering::Relaxed);
            return LearnOutcome::Known;
        }
        self.note_port(port);
        self.port_count_sub(Self::value_port(value));
        bump(&self.counters.moved);
        self.generation.fetch_add(1, Ordering::Release);
        LearnOutcome::Moved
    }

    /// Stores a MAC that [`locate`](MacTable::locate) did not find, making
    /// room at the bridge limit by eviction.
    #[cold]
    fn learn_new(&self, key: u64, hash: u64, value: u64, now: u32) -> LearnOutcome {
        let port = Self::value_port(value);
        if self.port_with_room(port).is_none() {
            bump(&self.counters.port_limit_hits);
            return LearnOutcome::Refused;
        }
        if self.entries.load(Ordering::Relaxed) >= self.limit && !self.evict_one(now) {
            bump(&self.counters.bridge_limit_hits);
            return LearnOutcome::Refused;
        }
        if self.insert(key, hash, value, Inserted::Learned) {
            self.note_port(port);
            bump(&self.counters.learned);
            LearnOutcome::Learned
        } else {
            bump(&self.counters.bucket_full);
            LearnOutcome::Refused
        }
    }

    /// Claims an empty slot in the emptier candidate bucket, publishes
    /// `value` there (counted first if learned), then settles any copy of
    /// the key that a racing insert stored. Filling the first bucket until
    /// it is full would make more lookups end in it, but it lets both
    /// candidates fill before the table does: scattered addresses were
    /// refused below the limit. The emptier choice keeps every bucket near
    /// the average load.
    fn insert(&self, key: u64, hash: u64, value: u64, inserted: Inserted) -> bool {
        let buckets = self.candidates(hash);
        let order = if buckets[0].used() <= buckets[1].used() {
            [0, 1]
        } else {
            [1, 0]
        };
        for choice in order {
            let bucket = buckets[choice];
            for slot in 0..SLOTS_PER_BUCKET {
                // SeqCst: see settle_duplicates.
                if bucket.keys[slot]
                    .compare_exchange(0, key, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
                {
                    if inserted == Inserted::Learned {
                        self.entries.fetch_add(1, Ordering::Relaxed);
                        self.port_count_add(Self::value_port(value));
                    }
                    bucket.values[slot].store(value, Ordering::SeqCst);
                    let position = choice * SLOTS_PER_BUCKET + slot;
                    self.settle_duplicates(key, hash, buckets, position, inserted);
                    return true;
                }
            }
        }
        false
    }

    /// Removes the entry in `slot` if its value is still `value`; false if
    /// someone changed or removed it first. Clears the value first so a
    /// reader racing with us sees a miss, never the next occupant's key
    /// with our value.
    fn remove_slot(&self, bucket: &Bucket, slot: usize, value: u64) -> bool {
        if bucket.values[slot]
            .compare_exchange(value, 0, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        bucket.keys[slot].store(0, Ordering::SeqCst);
        if !Self::is_static(value) {
            self.entries.fetch_sub(1, Ordering::Relaxed);
            self.port_count_sub(Self::value_port(value));
        }
        self.generation.fetch_add(1, Ordering::Release);
        true
    }

    fn port_with_room(&self, port: PortId) -> Option<&PortState> {
        let state = self.ports.get(port as usize)?;
        (state.entries.load(Ordering::Relaxed) < state.limit.load(Ordering::Relaxed))
            .then_some(state)
    }

    fn port_count_add(&self, port: PortId) {
        if let Some(state) = self.ports.get(port as usize) {
            state.entries.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn port_count_sub(&self, port: PortId) {
        if let Some(state) = self.ports.get(port as usize) {
            state.entries.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Adds or replaces a static entry: never aged, never moved by
    /// learning, not counted against limits. Returns false if both buckets
    /// are full of static entries.
    pub fn insert_static(&self, vlan: u16, mac: &Mac, port: PortId) -> bool {
        let key = Self::key(vlan, mac);
        let hash = self.hash(key);
        let value = Self::value(port, 0, Self::check_of(hash), true);
        // Retried while learners refresh or move the entry being replaced.
        while let Some((bucket, slot, old)) = self.locate(key, hash) {
            if old == value {
                return true;
            }
            if bucket.values[slot]
                .compare_exchange(old, value, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                if !Self::is_static(old) {
                    self.entries.fetch_sub(1, Ordering::Relaxed);
                    self.port_count_sub(Self::value_port(old));
                }
                self.generation.fetch_add(1, Ordering::Release);
                return true;
            }
        }
        self.insert(key, hash, value, Inserted::Static)
    }

    /// Removes the static entry for `mac` in `vlan`; false if there is none
    /// (a learned entry is left alone).
    pub fn remove_static(&self, vlan: u16, mac: &Mac) -> bool {
        let key = Self::key(vlan, mac);
        let hash = self.hash(key);
        match self.locate(key, hash) {
            Some((bucket, slot, value)) if Self::is_static(value) => {
                self.remove_slot(bucket, slot, value)
            }
            _ => false,
        }
    }

    /// Removes every entry of `port`, learned and static, and returns how
    /// many: for a port leaving the bridge. Its limit stays as set.
    pub fn flush_port(&self, port: PortId) -> usize {
        self.remove_where(|_, value| {
            if Self::value_port(value) == port {
                Removal::Counted
            } else {
                Removal::Keep
            }
        })
    }

    /// Removes learned entries not seen for longer than the aging time and
    /// returns how many. Called periodically by the control thread (and by
    /// replay as packet time advances); lookups already ignore expired
    /// entries, so sweeping late only delays reclaiming their slots. Also
    /// removes any duplicate of a key that racing inserts left behind (an
    /// inserter gives up withdrawing one whose value other learners keep
    /// changing); those are not counted.
    pub fn sweep(&self, now: u32) -> usize {
        let aged = self.remove_where(|slot, value| {
            if self.expired(value, now) {
                Removal::Counted
            } else if !Self::is_static(value) && self.loses_to_another_copy(slot, now) {
                Removal::Uncounted
            } else {
                Removal::Keep
            }
        });
        self.counters.aged.fetch_add(aged as u64, Ordering::Relaxed);
        aged
    }

    /// Whether the learned entry in `slot` is a leftover duplicate: the
    /// same key is also stored, alive, in a static copy or at an earlier
    /// search position (the copy that lookups find).
    fn loses_to_another_copy(&self, slot: SlotRef<'_>, now: u32) -> bool {
        let hash = self.hash(slot.key);
        let check = Self::check_of(hash);
        let buckets = self.candidates(hash);
        let mut earlier = true;
        (0..CANDIDATE_SLOTS).any(|p| {
            let (bucket, index) = (buckets[p / SLOTS_PER_BUCKET], p % SLOTS_PER_BUCKET);
            if core::ptr::eq(bucket, slot.bucket) && index == slot.index {
                earlier = false;
                return false;
            }
            if bucket.keys[index].load(Ordering::SeqCst) != slot.key {
                return false;
            }
            let value = bucket.values[index].load(Ordering::SeqCst);
            Self::value_check(value) == check
                && (Self::is_static(value) || (earlier && !self.expired(value, now)))
        })
    }

    /// Removes every entry for which `decide` says so and returns how many
    /// [`Removal::Counted`] ones it removed (an entry changed under the scan
    /// is left for next time).
    fn remove_where(&self, mut decide: impl FnMut(SlotRef<'_>, u64) -> Removal) -> usize {
        let mut removed = 0;
        for bucket in self.buckets.iter() {
            for index in 0..SLOTS_PER_BUCKET {
                let key = bucket.keys[index].load(Ordering::SeqCst);
                if key == 0 {
                    continue;
                }
                let value = bucket.values[index].load(Ordering::SeqCst);
                if Self::value_check(value) != Self::check_of(self.hash(key)) {
                    continue;
                }
                let slot = SlotRef { bucket, index, key };
                match decide(slot, value) {
                    Removal::Keep => {}
                    Removal::Counted => {
                        removed += usize::from(self.remove_slot(bucket, index, value))
                    }
                    Removal::Uncounted => {
                        self.remove_slot(bucket, index, value);
                    }
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
                let is_static = Self::is_static(value);
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
        self.ports
            .get(port as usize)
            .map_or(0, |state| state.entries.load(Ordering::Relaxed))
    }

    /// A snapshot of the learning counters.
    pub fn counters(&self) -> MacTableCounters {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MacTableCounters {
            learned: get(&c.learned),
            moved: get(&c.moved),
            aged: get(&c.aged),
            evicted: get(&c.evicted),
            bridge_limit_hits: get(&c.bridge_limit_hits),
            port_limit_hits: get(&c.port_limit_hits),
            bucket_full: get(&c.bucket_full),
            static_conflicts: get(&c.static_conflicts),
        }
    }
}

/// What [`MacTable::remove_where`] does with an entry.
enum Removal {
    Keep,
    /// Removed and counted in the result.
    Counted,
    /// Removed, not counted: a leftover duplicate.
    Uncounted,
}

/// A used slot met by a scan of the whole table.
#[derive(Clone, Copy)]
struct SlotRef<'a> {
    bucket: &'a Bucket,
    index: usize,
    key: u64,
}

mod contention;

#[cfg(test)]
mod tests;
