//! The per-worker exact-match flow cache: from a frame's flow key to the
//! action list the stages decided for it, so that a frame of a known flow
//! skips every stage.
//!
//! Keys are the flow key fields the port's stages read (their
//! [`KeyFields`]), packed into eight words with the ingress port; entries
//! are found in one of two slots chosen by the key's hash. An entry is
//! served only while
//! - the datapath's state generation is the one it was made under (the
//!   configuration and every bridge's MAC-table generation, which moves
//!   when an entry moves, ages out, is evicted or flushed), and
//! - the clock has not passed its `valid_until` (the expiry of the learned
//!   entries its decision used, so an aged-out destination is never served
//!   even before the table's sweep removes it).
//!
//! Decisions about unknown destinations are not cached (a new learn does
//! not move the generation), nor are traced frames' decisions. The MAC
//! learning a decision implies is replayed on hits, once a second per entry
//! ([`MacRefresh`]), so hosts whose flows hit the cache do not age out.
//!
//! The cache is owned by one worker: no atomics, no locks.

use crate::action::Action;
use crate::action::ActionList;
use crate::context::PacketCtx;
use crate::flow::{IpFrag, Mac};
use crate::mac_table::PortId;

/// Words of a packed key.
pub const KEY_WORDS: usize = 8;

/// Default number of entries of a worker's cache.
pub const DEFAULT_CAPACITY: usize = 8192;

/// Groups of flow-key fields a stage's decisions depend on. The cache key
/// of a port holds the fields of every stage its frames meet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyFields(u8);

impl KeyFields {
    /// Ingress port, MACs, outer VLAN and tag count (always in the key).
    pub const L2: KeyFields = KeyFields(1);
    /// EtherType, inner VLAN, IP addresses, protocol, TOS, TTL, fragment.
    pub const L3: KeyFields = KeyFields(1 << 1);
    /// TCP/UDP ports, ICMP type and code.
    pub const L4: KeyFields = KeyFields(1 << 2);
    /// TCP flags.
    pub const TCP_FLAGS: KeyFields = KeyFields(1 << 3);
    /// Tunnel VNI (and whether the frame came out of a tunnel).
    pub const TUNNEL: KeyFields = KeyFields(1 << 4);
    /// Connection-tracking state.
    pub const CT: KeyFields = KeyFields(1 << 5);

    /// The union.
    pub const fn with(self, other: KeyFields) -> KeyFields {
        KeyFields(self.0 | other.0)
    }

    /// True if every field of `other` is in `self`.
    pub const fn contains(self, other: KeyFields) -> bool {
        self.0 & other.0 == other.0
    }

    /// The word mask selecting these fields in a packed key.
    pub fn mask(self) -> KeyMask {
        let mut m = [0u64; KEY_WORDS];
        // L2 and the pass number are always significant.
        m[0] = u64::MAX;
        m[1] = u64::MAX;
        if self.contains(KeyFields::L3) {
            m[2] |= (1 << 54) - 1;
            m[4..8].fill(u64::MAX);
        }
        if self.contains(KeyFields::TCP_FLAGS) {
            m[2] |= 0xff << 54;
        }
        if self.contains(KeyFields::L4) {
            m[3] |= 0xffff_ffff;
        }
        if self.contains(KeyFields::TUNNEL) {
            m[2] |= 1 << 62;
            m[3] |= 0x00ff_ffff << 32;
        }
        if self.contains(KeyFields::CT) {
            m[3] |= 0xff << 56;
        }
        let len = m.iter().rposition(|w| *w != 0).map_or(0, |i| i + 1);
        KeyMask { words: m, len }
    }
}

/// Which bits of a packed key a port's stages read, and how many leading
/// words hold them (2 for L2 only: the rest is neither packed nor hashed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyMask {
    words: [u64; KEY_WORDS],
    len: usize,
}

/// A packed, masked flow key: its first `len` words (the rest is zero).
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheKey {
    words: [u64; KEY_WORDS],
    len: usize,
}

impl PartialEq for CacheKey {
    /// Compares the words in use only: 2 for an L2 port (the others are
    /// not packed), else all of them ([`CacheKey::set`] packs every word,
    /// masked, so those past `len` are zero). The differences are or-ed
    /// together at fixed indices, which compiles to a few instructions: a
    /// loop to `len` cost 90, and `==` on the arrays a call to `memcmp`
    /// (35).
    #[inline(always)]
    fn eq(&self, other: &CacheKey) -> bool {
        let (a, b) = (&self.words, &other.words);
        let head = (a[0] ^ b[0]) | (a[1] ^ b[1]);
        self.len == other.len
            && match self.len {
                0..=2 => head == 0,
                _ => head | tail_difference(a, b) == 0,
            }
    }
}

impl Eq for CacheKey {}

// `tail_difference` is written out for keys of eight words.
const _: () = assert!(KEY_WORDS == 8);

/// The bits in which words 2 to 7 of two keys differ (0 when equal).
#[inline(always)]
fn tail_difference(a: &[u64; KEY_WORDS], b: &[u64; KEY_WORDS]) -> u64 {
    (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4]) | (a[5] ^ b[5]) | (a[6] ^ b[6]) | (a[7] ^ b[7])
}

fn mac_word(mac: &Mac) -> u64 {
    u64::from_be_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]])
}

#[inline(always)]
fn addr_words(addr: &[u8; 16]) -> [u64; 2] {
    let (high, low) = addr.split_at(8);
    [
        u64::from_be_bytes(high.try_into().unwrap_or_default()),
        u64::from_be_bytes(low.try_into().unwrap_or_default()),
    ]
}

impl CacheKey {
    /// The key of `ctx` under `mask`.
    #[inline(always)]
    pub fn of(ctx: &PacketCtx, mask: &KeyMask) -> CacheKey {
        let mut key = CacheKey::default();
        key.set(ctx, &[], mask);
        key
    }

    /// Makes this the key of `ctx` (whose current frame is `frame`, or
    /// empty to take the MACs from the parsed key) under `mask` and returns
    /// its hash. The words are computed in registers, hashed from there and
    /// stored once each (building a key apart and copying it in costs a
    /// stalled store-to-load forward per frame); the MACs are read from the
    /// frame with one 8-byte load each. Words past the mask's length are
    /// left as they are: nothing reads them.
    #[inline(always)]
    pub fn set(&mut self, ctx: &PacketCtx, frame: &[u8], mask: &KeyMask) -> u64 {
        let k = &ctx.parsed.key;
        let m = &mask.words;
        const MAC_BITS: u64 = (1 << 48) - 1;
        let (dst, src) = match (
            frame.first_chunk::<8>(),
            frame.get(4..).and_then(|f| f.first_chunk::<8>()),
        ) {
            (Some(d), Some(s)) => (
                u64::from_be_bytes(*d) >> 16,
                u64::from_be_bytes(*s) & MAC_BITS,
            ),
            _ => (mac_word(&k.eth_dst), mac_word(&k.eth_src)),
        };
        let w0 = (dst
            | (u64::from(k.vlan & 0x0fff) << 48)
            | (u64::from(ctx.parsed.layout.vlan_tags & 3) << 60)
            | (u64::from(ctx.recirculations.min(3)) << 62))
            & m[0];
        let w1 = (src | (u64::from(ctx.in_port) << 48)) & m[1];
        self.words[0] = w0;
        self.words[1] = w1;
        self.len = mask.len;
        let mut h = mix(0, w0, HASH_KEYS[0]);
        h = mix(h, w1, HASH_KEYS[1]);
        if mask.len > 2 {
            let frag = match k.ip_frag {
                IpFrag::None => 0,
                IpFrag::First => 1,
                IpFrag::Later => 2,
            };
            let w2 = u64::from(k.ethertype)
                | (u64::from(k.inner_vlan & 0x0fff) << 16)
                | (u64::from(k.ip_proto) << 28)
                | (u64::from(k.ip_tos) << 36)
                | (u64::from(k.ip_ttl) << 44)
                | (frag << 52)
                | (u64::from(k.tcp_flags) << 54)
                | (u64::from(ctx.tunnel.present) << 62);
            let w3 = u64::from(k.l4_src)
                | (u64::from(k.l4_dst) << 16)
                | (u64::from(ctx.tunnel.vni & 0x00ff_ffff) << 32)
                | (u64::from(ctx.ct.state) << 56);
            let [s0, s1] = addr_words(&k.ip_src);
            let [d0, d1] = addr_words(&k.ip_dst);
            for (i, w) in [w2, w3, s0, s1, d0, d1].into_iter().enumerate() {
                let w = w & m[i + 2];
                self.words[i + 2] = w;
                h = mix(h, w, HASH_KEYS[i + 2]);
            }
        }
        finish(h)
    }

    /// The hash [`CacheKey::set`] returned for this key.
    pub fn hash(&self) -> u64 {
        let h = self
            .words
            .iter()
            .zip(HASH_KEYS)
            .take(self.len)
            .fold(0, |h, (w, k)| mix(h, *w, k));
        finish(h)
    }
}

/// One multiplier per key word: the words' products are independent, so
/// the CPU computes them side by side.
const HASH_KEYS: [u64; KEY_WORDS] = [
    0x9e37_79b9_7f4a_7c15,
    0xc2b2_ae3d_27d4_eb4f,
    0x1656_67b1_9e37_79f9,
    0x85eb_ca77_c2b2_ae63,
    0x27d4_eb2f_1656_67c5,
    0xff51_afd7_ed55_8ccd,
    0xc4ce_b9fe_1a85_ec53,
    0x9e37_79b9_7f4a_7c55,
];

/// A sum of products (multilinear): two instructions a word, all products
/// independent; an odd multiplier loses no bit of its word, and
/// [`finish`] spreads the high bits down.
#[inline(always)]
fn mix(h: u64, word: u64, k: u64) -> u64 {
    h.wrapping_add(word.wrapping_mul(k))
}

/// MurmurHash3's fmix64, so that the bucket (high half) and the tag
/// (whole) are well mixed even for keys differing in a few bits.
#[inline(always)]
fn finish(h: u64) -> u64 {
    let h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    let h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The source-MAC learning a cached decision stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacRefresh {
    /// Bridge index.
    pub bridge: u16,
    /// VLAN.
    pub vlan: u16,
    /// The source address.
    pub mac: Mac,
    /// The port it was seen on.
    pub port: PortId,
}

/// Actions kept in the hot entry itself; longer lists live in the cold
/// part.
const INLINE_ACTIONS: usize = 2;
/// `port` of a [`HotEntry`] whose decision implies no learning.
const NO_LEARNING: PortId = PortId::MAX;

/// What a hit needs, in one cache line: the first two key words (all of
/// an L2 port's key), validity, the learning to replay and up to two
/// actions. Keys and lists that do not fit are in [`KeyTail`] and
/// [`ColdEntry`], read only for them.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct HotEntry {
    key_head: [u64; 2],
    generation: u64,
    valid_until: u32,
    /// Low 16 bits of the second the learning was last replayed.
    refreshed_at: u16,
    key_len: u8,
    /// Actions in `actions`, or `u8::MAX` when the list is in the cold part.
    inline_actions: u8,
    learned_mac: Mac,
    learned_vlan: u16,
    learned_bridge: u16,
    /// [`NO_LEARNING`] when the decision implies none.
    learned_port: PortId,
    actions: [Action; INLINE_ACTIONS],
}

impl Default for HotEntry {
    fn default() -> Self {
        HotEntry {
            key_head: [0; 2],
            generation: 0,
            valid_until: 0,
            refreshed_at: 0,
            key_len: 0,
            inline_actions: 0,
            learned_mac: [0; 6],
            learned_vlan: 0,
            learned_bridge: 0,
            learned_port: NO_LEARNING,
            actions: [Action::PopVlan; INLINE_ACTIONS],
        }
    }
}

/// A list longer than [`INLINE_ACTIONS`].
#[derive(Debug, Clone, Copy, Default)]
struct ColdEntry {
    actions: ActionList,
}

/// The words of a key longer than the hot entry's head, in one cache line
/// of their own: a hit on such a key reads this line and not the list's.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
struct KeyTail([u64; KEY_WORDS]);

/// Flow-cache counters, as `pmd-stats` shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheCounters {
    /// Frames decided by the cache.
    pub hits: u64,
    /// Frames that ran the stages.
    pub misses: u64,
    /// Decisions stored.
    pub inserts: u64,
    /// Live entries overwritten by another flow.
    pub evictions: u64,
    /// Entries found stale (generation moved, or past `valid_until`).
    pub stale: u64,
    /// Bursts that went straight to the stages because the cache was not
    /// paying for itself (see [`FlowCache::bypassing`]).
    pub bypassed_bursts: u64,
}

/// What a hit gives back.
#[derive(Debug, Clone, Copy)]
pub struct Hit<'a> {
    /// The actions.
    pub actions: &'a [Action],
    /// Learning to replay now (at most once a second per entry).
    pub refresh: Option<MacRefresh>,
}

/// The action list of `hot`, entry `i`: inline, or in its cold part.
#[inline(always)]
fn list<'a>(hot: &'a HotEntry, cold: &'a [ColdEntry], i: usize) -> &'a [Action] {
    match hot.inline_actions as usize {
        n if n <= INLINE_ACTIONS => &hot.actions[..n],
        _ => cold.get(i).map_or(&[][..], |c| c.actions.as_slice()),
    }
}

/// Entries per bucket: their tags fill one cache line.
const WAYS: usize = 8;

/// One worker's flow cache: buckets of [`WAYS`] entries, a key's bucket
/// chosen by its hash. Each entry has a tag (its key's hash, never 0; 0
/// marks a free way) kept apart from the entries, so a lookup reads one
/// cache line of tags and then the one line of the entry whose tag
/// matches. At the default size a worker's flows spread at about one per
/// bucket; a bucket that is full (more live flows than the cache holds)
/// takes a new entry only now and then.
pub struct FlowCache {
    tags: Box<[u64]>,
    hot: Box<[HotEntry]>,
    tails: Box<[KeyTail]>,
    cold: Box<[ColdEntry]>,
    /// Per bucket, the way the next eviction takes (round robin).
    victims: Box<[u8]>,
    bucket_mask: usize,
    /// Misses that found their bucket full.
    full_misses: u32,
    /// Lookups and hits since the hit rate was last judged.
    window: (u32, u32),
    /// Bursts left to bypass the cache.
    bypass_left: u32,
    /// Its counters.
    pub counters: CacheCounters,
}

/// One miss in this many that finds its bucket full evicts an entry.
const EVICT_ONE_IN: u32 = 16;
/// Lookups over which the hit rate is judged.
const JUDGE_EVERY: u32 = 1024;
/// Bursts the cache is bypassed for once its hit rate fell below a
/// quarter; then it is tried again.
const BYPASS_BURSTS: u32 = 1024;

impl FlowCache {
    /// A cache of at least `capacity` entries (rounded up to a power of
    /// two buckets of [`WAYS`]). Allocates once.
    pub fn new(capacity: usize) -> FlowCache {
        let buckets = capacity.div_ceil(WAYS).max(1).next_power_of_two();
        FlowCache {
            tags: vec![0; buckets * WAYS].into_boxed_slice(),
            hot: vec![HotEntry::default(); buckets * WAYS].into_boxed_slice(),
            tails: vec![KeyTail::default(); buckets * WAYS].into_boxed_slice(),
            cold: vec![ColdEntry::default(); buckets * WAYS].into_boxed_slice(),
            victims: vec![0; buckets].into_boxed_slice(),
            bucket_mask: buckets - 1,
            full_misses: 0,
            window: (0, 0),
            bypass_left: 0,
            counters: CacheCounters::default(),
        }
    }

    /// The tag of `hash` and the first index of its bucket.
    #[inline(always)]
    fn place(&self, hash: u64) -> (u64, usize) {
        (
            (hash | 1),
            ((hash >> 32) as usize & self.bucket_mask) * WAYS,
        )
    }

    /// True if entry `i` holds `key`.
    #[inline(always)]
    fn holds(&self, i: usize, key: &CacheKey) -> bool {
        let Some(hot) = self.hot.get(i) else {
            return false;
        };
        if hot.key_len as usize != key.len || hot.key_head != [key.words[0], key.words[1]] {
            return false;
        }
        // The head matched: the tail decides.
        key.len <= 2
            || self
                .tails
                .get(i)
                .is_some_and(|t| tail_difference(&t.0, &key.words) == 0)
    }

    /// The index of `key`'s entry in the bucket starting at `first`. At
    /// the loads a cache runs at, a flow's entry is almost always in the
    /// first way, so the scan stops at the first match.
    #[inline(always)]
    fn find(&self, tag: u64, first: usize, key: &CacheKey) -> Option<usize> {
        let tags = self.tags.get(first..)?.first_chunk::<WAYS>()?;
        tags.iter()
            .position(|t| *t == tag)
            .map(|way| first + way)
            .filter(|i| self.holds(*i, key))
            .or_else(|| {
                // A second flow with the same tag in the bucket: rare.
                (0..WAYS)
                    .map(|way| first + way)
                    .find(|i| tags[*i - first] == tag && self.holds(*i, key))
            })
    }

    /// True when this burst should skip the cache: with more live flows
    /// than it holds (a hit rate under a quarter over the last
    /// [`JUDGE_EVERY`] lookups), keying, looking up and inserting cost more
    /// than the hits save, so [`BYPASS_BURSTS`] bursts go straight to the
    /// stages before the cache is tried again.
    #[inline(always)]
    pub fn bypassing(&mut self) -> bool {
        if self.bypass_left > 0 {
            self.bypass_left -= 1;
            self.counters.bypassed_bursts += 1;
            return true;
        }
        let (lookups, hits) = self.window;
        if lookups >= JUDGE_EVERY {
            self.window = (0, 0);
            if hits < lookups / 4 {
                self.bypass_left = BYPASS_BURSTS;
            }
        }
        false
    }

    /// The decision for `key`, if one is cached and still valid.
    #[inline(always)]
    pub fn lookup(
        &mut self,
        key: &CacheKey,
        hash: u64,
        generation: u64,
        now: u32,
    ) -> Option<Hit<'_>> {
        let i = self.find_valid(key, hash, generation, now)?;
        Some(self.hit(i, now))
    }

    /// The entry holding a still valid decision for `key` (counted as a
    /// hit), or `None` (counted as a miss). Lookups of a burst are done
    /// all first, then the hits taken with [`FlowCache::hit`], so that the
    /// cache misses of one frame's lookup overlap the next frame's.
    #[inline(always)]
    pub fn find_valid(
        &mut self,
        key: &CacheKey,
        hash: u64,
        generation: u64,
        now: u32,
    ) -> Option<usize> {
        let (tag, first) = self.place(hash);
        self.window.0 += 1;
        let Some(i) = self.find(tag, first, key) else {
            self.counters.misses += 1;
            return None;
        };
        let hot = &self.hot[i];
        if hot.generation != generation || now > hot.valid_until {
            self.tags[i] = 0;
            self.counters.stale += 1;
            self.counters.misses += 1;
            return None;
        }
        self.counters.hits += 1;
        self.window.1 += 1;
        Some(i)
    }

    /// The decision of entry `i` (from [`FlowCache::find_valid`]), with the
    /// learning to replay when a second has passed since the last time.
    #[inline(always)]
    pub fn hit(&mut self, i: usize, now: u32) -> Hit<'_> {
        // The entry is looked up once, here, and its list read from it.
        let Some(hot) = self.hot.get_mut(i) else {
            return Hit {
                actions: &[],
                refresh: None,
            };
        };
        let refresh = if hot.learned_port != NO_LEARNING && hot.refreshed_at != now as u16 {
            hot.refreshed_at = now as u16;
            Some(MacRefresh {
                bridge: hot.learned_bridge,
                vlan: hot.learned_vlan,
                mac: hot.learned_mac,
                port: hot.learned_port,
            })
        } else {
            None
        };
        Hit {
            actions: list(hot, &self.cold, i),
            refresh,
        }
    }

    /// The action list of entry `i` (found by [`FlowCache::find_valid`]),
    /// counting nothing.
    pub fn actions(&self, i: usize) -> &[Action] {
        self.hot.get(i).map_or(&[], |hot| list(hot, &self.cold, i))
    }

    /// Stores the decision the stages made for `ctx` under `key`.
    pub fn insert(
        &mut self,
        key: &CacheKey,
        hash: u64,
        generation: u64,
        now: u32,
        ctx: &PacketCtx,
    ) {
        let (tag, first) = self.place(hash);
        let bucket = first / WAYS;
        // The same flow twice in one burst misses twice: overwrite, so one
        // flow never takes two ways.
        let same = self.find(tag, first, key);
        let free = || (first..first + WAYS).find(|i| self.tags.get(*i) == Some(&0));
        let i = match same.or_else(free) {
            Some(i) => i,
            None => {
                // A full bucket means more live flows than the cache holds:
                // evicting on every miss would only trade one miss for
                // another at the cost of a copy, so only one miss in
                // `EVICT_ONE_IN` evicts (Open vSwitch's EMC inserts with a
                // probability for the same reason).
                self.full_misses = self.full_misses.wrapping_add(1);
                if !self.full_misses.is_multiple_of(EVICT_ONE_IN) {
                    return;
                }
                let Some(victim) = self.victims.get_mut(bucket) else {
                    return;
                };
                let i = first + *victim as usize % WAYS;
                *victim = victim.wrapping_add(1);
                self.counters.evictions += 1;
                i
            }
        };
        let list = ctx.actions.as_slice();
        let mut hot = HotEntry {
            key_head: [key.words[0], key.words[1]],
            generation,
            valid_until: ctx.valid_until,
            refreshed_at: now as u16,
            key_len: key.len as u8,
            inline_actions: u8::MAX,
            ..HotEntry::default()
        };
        if let Some(l) = ctx.learned {
            hot.learned_mac = l.mac;
            hot.learned_vlan = l.vlan;
            hot.learned_bridge = l.bridge;
            hot.learned_port = l.port;
        }
        if list.len() <= INLINE_ACTIONS {
            hot.actions[..list.len()].copy_from_slice(list);
            hot.inline_actions = list.len() as u8;
        }
        if let (Some(t), Some(h), Some(k), Some(c)) = (
            self.tags.get_mut(i),
            self.hot.get_mut(i),
            self.tails.get_mut(i),
            self.cold.get_mut(i),
        ) {
            *t = tag;
            *h = hot;
            if key.len > 2 {
                *k = KeyTail(key.words);
            }
            if list.len() > INLINE_ACTIONS {
                *c = ColdEntry {
                    actions: ctx.actions,
                };
            }
            self.counters.inserts += 1;
        }
    }

    /// Forgets every entry (a new configuration).
    pub fn clear(&mut self) {
        self.tags.fill(0);
    }

    /// How many entries it holds at most.
    pub fn capacity(&self) -> usize {
        self.hot.len()
    }
}

#[cfg(test)]
#[path = "flow_cache_tests.rs"]
mod tests;
