//! The connection table: a fixed pool of entries and a hash index over
//! both directions' tuples, shared by every worker without a lock.
//!
//! Layout. The pool holds `limit` entries of 128 bytes (two cache lines),
//! allocated up front; free entries form a lock-free stack (Treiber's, with
//! a counter against ABA). The index is buckets of eight 64-bit slots (one
//! cache line each), sized for a load of at most one half with two slots
//! per connection; each tuple hashes to two buckets and is stored in the
//! emptier ("two choices", as the MAC table). A slot holds:
//!
//! - bit 63 set for a used slot, a 14-bit check of the hash in bits 49..63,
//! - the direction in bit 48 (0 original, 1 reply),
//! - the entry's generation (16 bits) in bits 32..48 and its index in 0..32.
//!
//! An entry's state word holds its last-seen second (bits 0..32), the TCP
//! state (32..36), "reply seen" (36), the FIN bits (37, 38), LIVE (47) and
//! the generation (48..64). Removing an entry is one compare-and-swap of
//! that word to not LIVE with the next generation: whoever wins clears the
//! index slots, lowers the count and frees the entry, so each removal
//! happens once.
//!
//! Readers never wait: a lookup reads the slot, the state word (LIVE, same
//! generation as the slot), the tuple, and the state word again after an
//! acquire fence. An entry freed and reused under it changes the generation
//! (a seqlock read: the writer of a reused entry fences before writing the
//! tuple), so a torn read is a miss, never a wrong hit. Updates are a
//! compare-and-swap of the state word (a lost race recomputes from the new
//! state) and merges of the window words in which each field only grows.
//! A racing window merge can land on an entry just reused for a new
//! connection: it can only widen that connection's windows, by what one
//! segment of the old connection carried.
//!
//! Two workers creating the same connection at once (its two directions
//! arriving on ports that different workers poll) both publish an entry.
//! Each then scans the slots of the connection's canonical tuple (the
//! smaller of its two tuples); the slot claims and the scans are SeqCst,
//! so the later claimer sees both and removes the copy later in search
//! order, whoever made it (the argument of `MacTable::settle_duplicates`).

use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

pub(crate) use super::entry::{Entry, State};
use super::entry::{GEN_SHIFT, STATE_LIVE};
use super::packet::{Tuple, TUPLE_WORDS};
use super::tcp::Window;
use super::{Counters, Timeouts};
use crate::burst::MAX_BURST;

/// Tables whose connections in use touch more than this (about a core's
/// L2 cache) are warmed before a burst is judged; smaller ones stay in the
/// cache, where warming only costs (measured: 1,000 connections, 160 KB,
/// tracked a third faster without it).
const WARM_ABOVE_BYTES: usize = 1 << 20;

const SLOTS_PER_BUCKET: usize = 8;
const SLOT_USED: u64 = 1 << 63;
const SLOT_CHECK_SHIFT: u32 = 49;
const SLOT_CHECK_MASK: u64 = 0x3fff;
const SLOT_REPLY: u64 = 1 << 48;

#[repr(C, align(64))]
struct Bucket {
    slots: [AtomicU64; SLOTS_PER_BUCKET],
}

/// A live entry a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub index: u32,
    /// The tuple looked up is the entry's reply tuple.
    pub reply: bool,
    /// The state word as read.
    pub word: u64,
}

/// A tuple packed and hashed ([`ConnTable::key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    words: [u64; TUPLE_WORDS],
    pub(crate) hash: u64,
}

/// Why [`ConnTable::insert`] stored nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InsertError {
    /// No free entry and none evictable, or a tuple's two buckets full.
    Full,
    /// Racing inserts of the same connection removed every copy this one
    /// could see while settling: look it up again.
    Raced,
    /// Another connection stored the same translated reply tuple at the
    /// same instant (two workers gave one NAT port to one remote): this
    /// one was removed before any frame of it was translated; pick
    /// another port.
    ReplyTaken,
}

/// The shared table; see the module docs.
pub struct ConnTable {
    buckets: Box<[Bucket]>,
    bucket_mask: u64,
    pub(crate) entries: Box<[Entry]>,
    /// Free stack head: ABA counter in bits 32..64, index + 1 below.
    free_head: AtomicU64,
    /// One past the highest entry ever taken from the free stack: the
    /// stack hands out low indices first and takes freed ones back on
    /// top, so every live entry is below it and walks stop there (an idle
    /// table of 262,144 entries is not read through every second).
    touched: AtomicU32,
    len: AtomicU32,
    /// [`ConnTable::worth_warming`] past this many touched entries: those
    /// and their share of the index pass [`WARM_ABOVE_BYTES`] (fixed with
    /// the table's sizes, so a burst's check divides nothing).
    warm_above_touched: usize,
    seed: u64,
    pub(crate) timeouts: Timeouts,
    pub(crate) counters: Counters,
}

fn gen_of(word: u64) -> u16 {
    (word >> GEN_SHIFT) as u16
}

impl ConnTable {
    pub(crate) fn new(limit: u32, timeouts: Timeouts, seed: u64) -> ConnTable {
        let limit = limit.max(1);
        // Two slots per connection, at a load of at most one half.
        let slots = (u64::from(limit) * 4).next_power_of_two();
        let buckets = (slots / SLOTS_PER_BUCKET as u64).max(2);
        let entries: Box<[Entry]> = (0..limit).map(|_| Entry::new()).collect();
        // Free stack in index order, so a fresh table fills from the front.
        for (i, entry) in entries.iter().enumerate() {
            let next = if i + 1 < entries.len() {
                i as u32 + 2
            } else {
                0
            };
            entry.next_free.store(next, Ordering::Relaxed);
        }
        let mut table = ConnTable {
            buckets: (0..buckets)
                .map(|_| Bucket {
                    slots: Default::default(),
                })
                .collect(),
            bucket_mask: buckets - 1,
            entries,
            free_head: AtomicU64::new(1),
            touched: AtomicU32::new(0),
            len: AtomicU32::new(0),
            warm_above_touched: 0,
            seed: seed | 1,
            timeouts,
            counters: Counters::default(),
        };
        let per_connection = core::mem::size_of::<Entry>() + table.index_bytes_per_entry();
        table.warm_above_touched = WARM_ABOVE_BYTES / per_connection;
        table
    }

    /// How many entries from the front may be live: walks stop there.
    pub(crate) fn touched(&self) -> usize {
        self.touched.load(Ordering::Relaxed) as usize
    }

    /// Entries the table can hold.
    pub fn capacity(&self) -> u32 {
        self.entries.len() as u32
    }

    /// Live entries.
    pub fn len(&self) -> u32 {
        self.len.load(Ordering::Relaxed)
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when a burst's lookups would miss the caches: the entries in
    /// use (up to the highest) and their share of the index outgrow
    /// [`WARM_ABOVE_BYTES`], and warming them first ([`ConnTable::warm`])
    /// pays.
    pub(crate) fn worth_warming(&self) -> bool {
        self.touched() > self.warm_above_touched
    }

    /// Bytes of index per entry of the pool: what a connection costs beside
    /// its entry.
    pub fn index_bytes_per_entry(&self) -> usize {
        self.buckets.len() * core::mem::size_of::<Bucket>() / self.entries.len()
    }

    fn hash(&self, words: &[u64; TUPLE_WORDS]) -> u64 {
        let mut h = self.seed;
        for &w in words {
            h = (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            h ^= h >> 29;
        }
        h
    }

    fn candidates(&self, hash: u64) -> [&Bucket; 2] {
        [self.first_bucket(hash), self.second_bucket(hash)]
    }

    fn first_bucket(&self, hash: u64) -> &Bucket {
        &self.buckets[(hash & self.bucket_mask) as usize]
    }

    /// Never the first bucket.
    fn second_bucket(&self, hash: u64) -> &Bucket {
        let first = hash & self.bucket_mask;
        let mut second =
            ((hash >> 32).wrapping_mul(0xff51_afd7_ed55_8ccd) >> 32) & self.bucket_mask;
        if second == first {
            second = (first + 1) & self.bucket_mask;
        }
        &self.buckets[second as usize]
    }

    fn check(hash: u64) -> u64 {
        (hash >> 50) & SLOT_CHECK_MASK
    }

    /// `tuple` packed and hashed: what lookups compare and probe with.
    #[inline]
    pub(crate) fn key(&self, tuple: &Tuple) -> Key {
        let words = tuple.to_words();
        Key {
            hash: self.hash(&words),
            words,
        }
    }

    /// The live entry whose original or reply tuple is `key`'s, expired or
    /// not. The second bucket is located and read only when the first has
    /// no match.
    #[inline]
    pub(crate) fn find(&self, key: &Key) -> Option<Found> {
        let check = Self::check(key.hash);
        self.find_in(self.first_bucket(key.hash), &key.words, check)
            .or_else(|| self.find_in(self.second_bucket(key.hash), &key.words, check))
    }

    /// Reads, for each key of a burst, its two buckets, then (in a second
    /// loop) the entry the first matching slot points to, both its cache
    /// lines. The loops do little besides the loads and no load
    /// depends on another key's, so the processor has the loads of many
    /// keys in flight at once. What is read is returned for the caller to
    /// `black_box`: only the cache is the point.
    pub(crate) fn warm(&self, keys: &[Option<Key>; MAX_BURST]) -> u64 {
        let mut touched = 0;
        for key in keys.iter().flatten() {
            for bucket in self.candidates(key.hash) {
                touched ^= bucket.slots[0].load(Ordering::Relaxed);
            }
        }
        for key in keys.iter().flatten() {
            let check = Self::check(key.hash);
            let matching = |bucket: &Bucket| {
                bucket
                    .slots
                    .iter()
                    .map(|s| s.load(Ordering::Relaxed))
                    .find(|&v| {
                        v & SLOT_USED != 0 && (v >> SLOT_CHECK_SHIFT) & SLOT_CHECK_MASK == check
                    })
            };
            let [first, second] = self.candidates(key.hash);
            let value = matching(first).or_else(|| matching(second));
            if let Some(entry) = value.and_then(|v| self.entries.get(v as u32 as usize)) {
                touched ^=
                    entry.state.load(Ordering::Relaxed) ^ entry.windows[0].load(Ordering::Relaxed);
            }
        }
        touched
    }

    fn find_in(&self, bucket: &Bucket, words: &[u64; TUPLE_WORDS], check: u64) -> Option<Found> {
        bucket.slots.iter().find_map(|slot| {
            let value = slot.load(Ordering::Acquire);
            if value & SLOT_USED == 0 || (value >> SLOT_CHECK_SHIFT) & SLOT_CHECK_MASK != check {
                return None;
            }
            self.read_slot(value, words)
        })
    }

    /// The entry a slot points to, if it is live, of the slot's generation
    /// and holds `words` in the slot's direction (a seqlock read).
    fn read_slot(&self, value: u64, words: &[u64; TUPLE_WORDS]) -> Option<Found> {
        let index = value as u32;
        let entry = self.entries.get(index as usize)?;
        let generation = (value >> 32) as u16;
        let reply = value & SLOT_REPLY != 0;
        let before = entry.state.load(Ordering::Acquire);
        if before & STATE_LIVE == 0 || gen_of(before) != generation {
            return None;
        }
        let stored = if reply { &entry.reply } else { &entry.original };
        if !stored
            .iter()
            .zip(words)
            .all(|(s, w)| s.load(Ordering::Relaxed) == *w)
        {
            return None;
        }
        fence(Ordering::Acquire);
        let word = entry.state.load(Ordering::Relaxed);
        (word & STATE_LIVE != 0 && gen_of(word) == generation).then_some(Found {
            index,
            reply,
            word,
        })
    }

    pub(crate) fn entry(&self, index: u32) -> &Entry {
        &self.entries[index as usize]
    }

    /// Replaces the state word `old` of entry `index` by `new`; false if it
    /// changed meanwhile.
    pub(crate) fn update_state(&self, index: u32, old: u64, new: u64) -> bool {
        old == new
            || self
                .entry(index)
                .state
                .compare_exchange(old, new, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// Stores (`reset`) or merges `windows` into entry `index`.
    pub(crate) fn write_windows(&self, index: u32, windows: [Window; 2], reset: bool) {
        let entry = self.entry(index);
        for (d, window) in windows.iter().enumerate() {
            let [a, b] = &entry.windows[2 * d..2 * d + 2] else {
                continue;
            };
            if reset {
                let [wa, wb] = window.to_words();
                a.store(wa, Ordering::Relaxed);
                b.store(wb, Ordering::Relaxed);
                continue;
            }
            // Each word by itself: its fields only grow (Window::merged).
            let merge = |word: &AtomicU64, merged: &dyn Fn(u64) -> u64| {
                let _ = word.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| {
                    let next = merged(current);
                    (next != current).then_some(next)
                });
            };
            merge(a, &|current| {
                Window::from_words([current, 0]).merged(*window).to_words()[0]
            });
            merge(b, &|current| {
                Window::from_words([0, current]).merged(*window).to_words()[1]
            });
        }
    }

    fn pop_free(&self) -> Option<u32> {
        let mut head = self.free_head.load(Ordering::Acquire);
        loop {
            let top = head as u32;
            if top == 0 {
                return None;
            }
            let next = self.entries[top as usize - 1]
                .next_free
                .load(Ordering::Relaxed);
            let new = ((head >> 32).wrapping_add(1) << 32) | u64::from(next);
            match self.free_head.compare_exchange_weak(
                head,
                new,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.touched.fetch_max(top, Ordering::Relaxed);
                    return Some(top - 1);
                }
                Err(current) => head = current,
            }
        }
    }

    fn push_free(&self, index: u32) {
        let mut head = self.free_head.load(Ordering::Relaxed);
        loop {
            self.entries[index as usize]
                .next_free
                .store(head as u32, Ordering::Relaxed);
            let new = ((head >> 32).wrapping_add(1) << 32) | u64::from(index + 1);
            match self.free_head.compare_exchange_weak(
                head,
                new,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(current) => head = current,
            }
        }
    }

    /// Stores a new connection and returns the entry that holds it: the
    /// new one, or the one a racing worker stored for the same connection.
    /// At the limit, first evicts from the original tuple's buckets (see
    /// [`ConnTable::evict_for`]). `translated`: `reply` is not the reversed
    /// `original` (NAT), so another connection may claim the same reply
    /// tuple at the same instant; see [`InsertError::ReplyTaken`].
    pub(crate) fn insert(
        &self,
        original: &Tuple,
        reply: &Tuple,
        translated: bool,
        state: State,
        windows: [Window; 2],
        now: u32,
    ) -> Result<Found, InsertError> {
        let orig_words = original.to_words();
        let reply_words = reply.to_words();
        let orig_hash = self.hash(&orig_words);
        let reply_hash = self.hash(&reply_words);
        let index = match self.pop_free() {
            Some(index) => index,
            None => {
                self.evict_for(orig_hash, now);
                self.pop_free().ok_or(InsertError::Full)?
            }
        };
        let entry = self.entry(index);
        let free_word = entry.state.load(Ordering::Relaxed);
        // Seqlock writer: a reader that sees any of the stores below sees
        // the generation the removal gave this entry.
        fence(Ordering::Release);
        for (slot, w) in entry.original.iter().zip(orig_words) {
            slot.store(w, Ordering::Relaxed);
        }
        for (slot, w) in entry.reply.iter().zip(reply_words) {
            slot.store(w, Ordering::Relaxed);
        }
        for (slot, w) in entry
            .windows
            .iter()
            .zip(windows.iter().flat_map(|w| w.to_words()))
        {
            slot.store(w, Ordering::Relaxed);
        }
        entry.created.store(now, Ordering::Relaxed);
        let word = state.encode(free_word);
        self.len.fetch_add(1, Ordering::Relaxed);
        entry.state.store(word, Ordering::Release);
        let generation = u64::from(gen_of(word)) << 32 | u64::from(index);
        let orig_slot = SLOT_USED | Self::check(orig_hash) << SLOT_CHECK_SHIFT | generation;
        let reply_slot =
            SLOT_USED | Self::check(reply_hash) << SLOT_CHECK_SHIFT | SLOT_REPLY | generation;
        let orig_claim = self.claim(orig_hash, orig_slot);
        let reply_claim = orig_claim.and_then(|_| self.claim(reply_hash, reply_slot));
        let claims = [(orig_claim, orig_slot), (reply_claim, reply_slot)];
        if reply_claim.is_none() {
            self.remove(index, word);
            release(&claims);
            return Err(InsertError::Full);
        }
        if translated && self.reply_taken(&orig_words, &reply_words, reply_hash) {
            self.remove(index, word);
            release(&claims);
            return Err(InsertError::ReplyTaken);
        }
        bump(&self.counters.created);
        // Settle a racing copy on the canonical tuple's slots (with NAT,
        // another connection may share a tuple with this one: not a copy).
        let (canonical, canonical_hash) = if orig_words <= reply_words {
            (orig_words, orig_hash)
        } else {
            (reply_words, reply_hash)
        };
        let check = Self::check(canonical_hash);
        let mut winner: Option<Found> = None;
        for bucket in self.candidates(canonical_hash) {
            for slot in &bucket.slots {
                let value = slot.load(Ordering::SeqCst);
                if value & SLOT_USED == 0 || (value >> SLOT_CHECK_SHIFT) & SLOT_CHECK_MASK != check
                {
                    continue;
                }
                let Some(found) = self.read_slot(value, &canonical) else {
                    continue;
                };
                if !self.same_connection(found.index, &orig_words, &reply_words) {
                    continue;
                }
                match winner {
                    None => winner = Some(found),
                    Some(_) => {
                        self.remove(found.index, found.word);
                    }
                }
            }
        }
        // A racer's settling may have removed this entry before both its
        // slots were claimed, so that the removal missed one: clear them.
        // (The claims and this load are SeqCst: either this load sees the
        // removal, or the remover's scan comes after the claims.)
        let now_word = entry.state.load(Ordering::SeqCst);
        if now_word & STATE_LIVE == 0 || gen_of(now_word) != gen_of(word) {
            release(&claims);
        }
        match winner {
            Some(w) if w.index == index => Ok(Found {
                index,
                reply: false,
                word,
            }),
            // The racer's copy stays: this connection, in the direction
            // this tuple has there (its slot for that direction may not be
            // claimed yet, so not looked up).
            Some(w) => Ok(Found {
                reply: self.entry(w.index).tuple_words(false) != orig_words,
                ..w
            }),
            None => Err(InsertError::Raced),
        }
    }

    /// True if entry `index` is the connection of tuples `original` and
    /// `reply`, stored from either direction.
    fn same_connection(
        &self,
        index: u32,
        original: &[u64; TUPLE_WORDS],
        reply: &[u64; TUPLE_WORDS],
    ) -> bool {
        let entry = self.entry(index);
        let (o, r) = (entry.tuple_words(false), entry.tuple_words(true));
        (o == *original && r == *reply) || (o == *reply && r == *original)
    }

    /// True if another connection (not a copy of this one, which is
    /// settled on the canonical tuple instead) holds `reply` (hashing to
    /// `hash`) in either direction. Two workers translating two new
    /// connections to the same port towards the same remote each check
    /// after claiming their slots: the claims and these loads are SeqCst,
    /// so the later of the two sees the other and yields (both may, and
    /// both then pick another port); none of them has translated a frame
    /// yet, so yielding breaks nothing.
    fn reply_taken(
        &self,
        original: &[u64; TUPLE_WORDS],
        reply: &[u64; TUPLE_WORDS],
        hash: u64,
    ) -> bool {
        let check = Self::check(hash);
        self.candidates(hash).into_iter().any(|bucket| {
            bucket.slots.iter().any(|slot| {
                let value = slot.load(Ordering::SeqCst);
                value & SLOT_USED != 0
                    && (value >> SLOT_CHECK_SHIFT) & SLOT_CHECK_MASK == check
                    && self
                        .read_slot(value, reply)
                        .is_some_and(|found| !self.same_connection(found.index, original, reply))
            })
        })
    }

    /// Claims an empty slot for `value` in the emptier of `hash`'s buckets.
    fn claim(&self, hash: u64, value: u64) -> Option<&AtomicU64> {
        let buckets = self.candidates(hash);
        let used = |b: &Bucket| {
            b.slots
                .iter()
                .filter(|s| s.load(Ordering::Relaxed) != 0)
                .count()
        };
        let order = if used(buckets[0]) <= used(buckets[1]) {
            [0, 1]
        } else {
            [1, 0]
        };
        order.into_iter().find_map(|choice| {
            buckets[choice].slots.iter().find(|slot| {
                slot.compare_exchange(0, value, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
            })
        })
    }

    /// Removes entry `index` if its state word is still `word`; false if
    /// someone changed or removed it first.
    pub(crate) fn remove(&self, index: u32, word: u64) -> bool {
        let entry = self.entry(index);
        let dead = (u64::from(gen_of(word).wrapping_add(1))) << GEN_SHIFT;
        if entry
            .state
            .compare_exchange(word, dead, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        let generation = u64::from(gen_of(word)) << 32 | u64::from(index);
        for reply in [false, true] {
            let words = entry.tuple_words(reply);
            for bucket in self.candidates(self.hash(&words)) {
                for slot in &bucket.slots {
                    let value = slot.load(Ordering::SeqCst);
                    if value & SLOT_USED != 0
                        && value & 0xffff_ffff_ffff == generation
                        && (value & SLOT_REPLY != 0) == reply
                    {
                        let _ =
                            slot.compare_exchange(value, 0, Ordering::SeqCst, Ordering::Relaxed);
                    }
                }
            }
        }
        self.len.fetch_sub(1, Ordering::Relaxed);
        self.push_free(index);
        true
    }

    /// The table is full: makes room for a connection hashing to
    /// `hash` by removing, among the entries of its two buckets, an
    /// expired one, else the least recently seen one still in an early
    /// state (no reply seen, a TCP handshake not completed, or a TCP
    /// connection closing or closed). The work is bounded by the 16 slots
    /// whatever the table's size. Established connections are never
    /// evicted: a full table refuses new connections instead.
    fn evict_for(&self, hash: u64, now: u32) {
        // (expired, last seen) of the best candidate: expired first, then
        // the oldest.
        let mut best: Option<(bool, u32, u32, u64)> = None;
        for bucket in self.candidates(hash) {
            for slot in &bucket.slots {
                let value = slot.load(Ordering::Acquire);
                if value & SLOT_USED == 0 || value & SLOT_REPLY != 0 {
                    continue;
                }
                let index = value as u32;
                let Some(entry) = self.entries.get(index as usize) else {
                    continue;
                };
                let word = entry.state.load(Ordering::Acquire);
                if word & STATE_LIVE == 0 || gen_of(word) != (value >> 32) as u16 {
                    continue;
                }
                let proto = super::proto_of(entry.tuple_words(false)[0]);
                let state = State::decode(word);
                let expired = self.timeouts.expired(proto, state, now);
                if !expired && !super::early(proto, state) {
                    continue;
                }
                let better = match best {
                    None => true,
                    Some((e, seen, _, _)) => {
                        (expired, u32::MAX - state.last_seen) > (e, u32::MAX - seen)
                    }
                };
                if better {
                    best = Some((expired, state.last_seen, index, word));
                }
            }
        }
        if let Some((expired, _, index, word)) = best {
            if self.remove(index, word) {
                bump(if expired {
                    &self.counters.expired
                } else {
                    &self.counters.evicted
                });
            }
        }
    }

    /// Removes every live entry for which `decide(tuple, state)` says so
    /// and returns how many it removed.
    pub(crate) fn remove_where(&self, mut decide: impl FnMut(&Tuple, State) -> bool) -> usize {
        let mut removed = 0;
        for (index, entry) in self.entries.iter().enumerate().take(self.touched()) {
            let word = entry.state.load(Ordering::Acquire);
            if word & STATE_LIVE == 0 {
                continue;
            }
            let tuple = Tuple::from_words(entry.tuple_words(false));
            if decide(&tuple, State::decode(word)) && self.remove(index as u32, word) {
                removed += 1;
            }
        }
        removed
    }

    /// A consistent copy of live entry `index`: original and reply tuple,
    /// state, windows and creation time; `None` if it is free or changed
    /// under the read.
    pub(crate) fn snapshot(&self, index: usize) -> Option<(Tuple, Tuple, State, [Window; 2], u32)> {
        self.read_entry(index, None, |entry| {
            (
                entry.tuples(),
                entry.windows(),
                entry.created.load(Ordering::Relaxed),
            )
        })
        .map(|(((original, reply), windows, created), state)| {
            (original, reply, State::decode(state), windows, created)
        })
    }

    /// The original and reply tuples of the live entry `index`: what NAT
    /// needs of it, read without the rest of [`ConnTable::snapshot`].
    pub(crate) fn tuples(&self, index: usize) -> Option<(Tuple, Tuple)> {
        self.read_entry(index, None, Entry::tuples)
            .map(|(tuples, _)| tuples)
    }

    /// The tuple of `found`'s entry in the direction it was not found by
    /// (what NAT rewrites a frame to), read against the generation the
    /// lookup saw: `None` when the entry was removed (and perhaps reused)
    /// since. Inlined in its one caller, NAT's rewrite.
    #[inline(always)]
    pub(crate) fn other_tuple_words(&self, found: &Found) -> Option<[u64; TUPLE_WORDS]> {
        self.read_entry(found.index as usize, Some(gen_of(found.word)), |entry| {
            entry.tuple_words(!found.reply)
        })
        .map(|(words, _)| words)
    }

    /// Reads the live entry `index` with `read`, as a seqlock reader:
    /// `None` when it is not live (or, given `generation`, of another
    /// generation), or was removed (and perhaps reused) while being read,
    /// so that what is returned belongs to one connection. Returns the
    /// state word read after.
    #[inline(always)]
    fn read_entry<R>(
        &self,
        index: usize,
        generation: Option<u16>,
        read: impl FnOnce(&Entry) -> R,
    ) -> Option<(R, u64)> {
        let entry = self.entries.get(index)?;
        let before = entry.state.load(Ordering::Acquire);
        if before & STATE_LIVE == 0 || generation.is_some_and(|g| g != gen_of(before)) {
            return None;
        }
        let value = read(entry);
        fence(Ordering::Acquire);
        let after = entry.state.load(Ordering::Relaxed);
        (after & STATE_LIVE != 0 && gen_of(after) == gen_of(before)).then_some((value, after))
    }
}

/// Empties the slots claimed for a connection that is gone, unless a
/// removal emptied them already.
fn release(claims: &[(Option<&AtomicU64>, u64)]) {
    for (slot, value) in claims {
        if let Some(slot) = slot {
            let _ = slot.compare_exchange(*value, 0, Ordering::SeqCst, Ordering::Relaxed);
        }
    }
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
