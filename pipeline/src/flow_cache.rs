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
    /// Compares the words in use only (2 for an L2 port).
    #[inline(always)]
    fn eq(&self, other: &CacheKey) -> bool {
        self.len == other.len
            && self
                .words
                .iter()
                .zip(other.words.iter())
                .take(self.len)
                .all(|(a, b)| a == b)
    }
}

impl Eq for CacheKey {}

fn mac_word(mac: &Mac) -> u64 {
    u64::from_be_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]])
}

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
        let k = &ctx.parsed.key;
        let m = &mask.words;
        let mut words = [0u64; KEY_WORDS];
        words[0] = (mac_word(&k.eth_dst)
            | (u64::from(k.vlan & 0x0fff) << 48)
            | (u64::from(ctx.parsed.layout.vlan_tags & 3) << 60)
            | (u64::from(ctx.recirculations.min(3)) << 62))
            & m[0];
        words[1] = (mac_word(&k.eth_src) | (u64::from(ctx.in_port) << 48)) & m[1];
        if mask.len > 2 {
            let frag = match k.ip_frag {
                IpFrag::None => 0,
                IpFrag::First => 1,
                IpFrag::Later => 2,
            };
            words[2] = u64::from(k.ethertype)
                | (u64::from(k.inner_vlan & 0x0fff) << 16)
                | (u64::from(k.ip_proto) << 28)
                | (u64::from(k.ip_tos) << 36)
                | (u64::from(k.ip_ttl) << 44)
                | (frag << 52)
                | (u64::from(k.tcp_flags) << 54)
                | (u64::from(ctx.tunnel.present) << 62);
            words[3] = u64::from(k.l4_src)
                | (u64::from(k.l4_dst) << 16)
                | (u64::from(ctx.tunnel.vni & 0x00ff_ffff) << 32)
                | (u64::from(ctx.ct.state) << 56);
            [words[4], words[5]] = addr_words(&k.ip_src);
            [words[6], words[7]] = addr_words(&k.ip_dst);
            for (w, m) in words.iter_mut().zip(m).skip(2) {
                *w &= m;
            }
        }
        CacheKey {
            words,
            len: mask.len,
        }
    }

    /// A hash of the words in use: one multiply per word, then
    /// a full 64-bit finalizer (MurmurHash3's fmix64), so the bucket (high
    /// half) and the tag (whole) are well mixed even for keys differing in
    /// a few bits.
    #[inline(always)]
    pub fn hash(&self) -> u64 {
        const K: [u64; KEY_WORDS] = [
            0x9e37_79b9_7f4a_7c15,
            0xc2b2_ae3d_27d4_eb4f,
            0x1656_67b1_9e37_79f9,
            0x85eb_ca77_c2b2_ae63,
            0x27d4_eb2f_1656_67c5,
            0xff51_afd7_ed55_8ccd,
            0xc4ce_b9fe_1a85_ec53,
            0x9e37_79b9_7f4a_7c55,
        ];
        let mut h = 0u64;
        for (w, k) in self.words.iter().zip(K).take(self.len) {
            h ^= (w ^ (w >> 29)).wrapping_mul(k);
        }
        let h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        let h = (h ^ (h >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
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

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: CacheKey,
    valid_until: u32,
    generation: u64,
    refreshed_at: u32,
    learned: Option<MacRefresh>,
    actions: ActionList,
}

impl Default for Entry {
    fn default() -> Self {
        Entry {
            key: CacheKey::default(),
            valid_until: 0,
            generation: 0,
            refreshed_at: 0,
            learned: None,
            actions: ActionList::default(),
        }
    }
}

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
}

/// What a hit gives back.
#[derive(Debug, Clone, Copy)]
pub struct Hit<'a> {
    /// The actions.
    pub actions: &'a ActionList,
    /// Learning to replay now (at most once a second per entry).
    pub refresh: Option<MacRefresh>,
}

/// Entries per bucket: their tags fill one cache line.
const WAYS: usize = 8;

/// One worker's flow cache: buckets of [`WAYS`] entries, a key's bucket
/// chosen by its hash. Each entry has a tag (its key's hash, never 0; 0
/// marks a free way) kept apart from the entries, so a lookup reads one
/// cache line of tags and then only the entry whose tag matches. At the
/// default size a worker's flows spread at about one per bucket, and a
/// bucket overflows (evicting its oldest insert) only when more than eight
/// live flows share it.
pub struct FlowCache {
    tags: Box<[u64]>,
    entries: Box<[Entry]>,
    /// Per bucket, the way the next eviction takes (round robin).
    victims: Box<[u8]>,
    bucket_mask: usize,
    /// Misses that found their bucket full.
    full_misses: u32,
    /// Its counters.
    pub counters: CacheCounters,
}

/// One miss in this many that finds its bucket full evicts an entry.
const EVICT_ONE_IN: u32 = 16;

impl FlowCache {
    /// A cache of at least `capacity` entries (rounded up to a power of
    /// two buckets of [`WAYS`]). Allocates once.
    pub fn new(capacity: usize) -> FlowCache {
        let buckets = capacity.div_ceil(WAYS).max(1).next_power_of_two();
        FlowCache {
            tags: vec![0; buckets * WAYS].into_boxed_slice(),
            entries: vec![Entry::default(); buckets * WAYS].into_boxed_slice(),
            victims: vec![0; buckets].into_boxed_slice(),
            bucket_mask: buckets - 1,
            full_misses: 0,
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

    /// The index of `key`'s entry in the bucket starting at `first`. At
    /// the loads a cache runs at, a flow's entry is almost always in the
    /// first way, so the scan stops at the first match.
    #[inline(always)]
    fn find(&self, tag: u64, first: usize, key: &CacheKey) -> Option<usize> {
        let tags = self.tags.get(first..)?.first_chunk::<WAYS>()?;
        let entries = self.entries.get(first..)?.first_chunk::<WAYS>()?;
        tags.iter()
            .zip(entries)
            .position(|(t, e)| *t == tag && e.key == *key)
            .map(|way| first + way)
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
        let (tag, first) = self.place(hash);
        let found = self.find(tag, first, key);
        let Some(i) = found else {
            self.counters.misses += 1;
            return None;
        };
        let e = &mut self.entries[i];
        if e.generation != generation || now > e.valid_until {
            self.tags[i] = 0;
            self.counters.stale += 1;
            self.counters.misses += 1;
            return None;
        }
        self.counters.hits += 1;
        let refresh = match e.learned {
            Some(l) if e.refreshed_at != now => {
                e.refreshed_at = now;
                Some(l)
            }
            _ => None,
        };
        Some(Hit {
            actions: &e.actions,
            refresh,
        })
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
                if self.full_misses % EVICT_ONE_IN != 0 {
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
        if let (Some(t), Some(e)) = (self.tags.get_mut(i), self.entries.get_mut(i)) {
            *t = tag;
            *e = Entry {
                key: *key,
                valid_until: ctx.valid_until,
                generation,
                refreshed_at: now,
                learned: ctx.learned,
                actions: ctx.actions,
            };
            self.counters.inserts += 1;
        }
    }

    /// Forgets every entry (a new configuration).
    pub fn clear(&mut self) {
        self.tags.fill(0);
    }

    /// How many entries it holds at most.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Action;

    fn ctx_for(src: u32, dst: u32) -> PacketCtx {
        let mut ctx = PacketCtx::default();
        ctx.reset(0, 0, false);
        ctx.parsed.key.eth_src = [2, 0, 0, (src >> 16) as u8, (src >> 8) as u8, src as u8];
        ctx.parsed.key.eth_dst = [2, 0, 0, (dst >> 16) as u8, (dst >> 8) as u8, dst as u8];
        ctx.actions.push(Action::Output(1));
        ctx
    }

    #[test]
    fn a_thousand_flows_settle_in_the_cache() {
        // The per-core benchmark's pattern: 1,000 sources to one
        // destination. After one round every flow hits, round after round.
        let mut cache = FlowCache::new(DEFAULT_CAPACITY);
        let mask = KeyFields::L2.mask();
        for round in 0..3 {
            for src in 0..1000 {
                let ctx = ctx_for(src, 0xffff);
                let key = CacheKey::of(&ctx, &mask);
                let hash = key.hash();
                if cache.lookup(&key, hash, 0, 0).is_none() {
                    assert_eq!(round, 0, "flow {src} missed in round {round}");
                    cache.insert(&key, hash, 0, 0, &ctx);
                }
            }
        }
        assert_eq!(cache.counters.hits, 2000);
        assert_eq!(cache.counters.evictions, 0);
    }

    #[test]
    fn stale_generation_and_expiry_miss() {
        let mut cache = FlowCache::new(16);
        let mut ctx = ctx_for(1, 2);
        ctx.valid_until = 10;
        let mask = KeyFields::L2.mask();
        let key = CacheKey::of(&ctx, &mask);
        let hash = key.hash();
        cache.insert(&key, hash, 7, 0, &ctx);
        assert!(cache.lookup(&key, hash, 7, 10).is_some());
        assert!(
            cache.lookup(&key, hash, 7, 11).is_none(),
            "past valid_until"
        );
        cache.insert(&key, hash, 7, 0, &ctx);
        assert!(cache.lookup(&key, hash, 8, 0).is_none(), "generation moved");
        assert_eq!(cache.counters.stale, 2);
    }

    #[test]
    fn hits_replay_learning_once_a_second() {
        let mut cache = FlowCache::new(16);
        let mut ctx = ctx_for(1, 2);
        ctx.learned = Some(MacRefresh {
            bridge: 0,
            vlan: 0,
            mac: ctx.parsed.key.eth_src,
            port: 0,
        });
        let mask = KeyFields::L2.mask();
        let key = CacheKey::of(&ctx, &mask);
        let hash = key.hash();
        cache.insert(&key, hash, 0, 5, &ctx);
        assert!(cache.lookup(&key, hash, 0, 5).unwrap().refresh.is_none());
        assert!(cache.lookup(&key, hash, 0, 6).unwrap().refresh.is_some());
        assert!(cache.lookup(&key, hash, 0, 6).unwrap().refresh.is_none());
    }

    #[test]
    fn masked_fields_do_not_split_entries() {
        let mask = KeyFields::L2.mask();
        let mut a = ctx_for(1, 2);
        let mut b = ctx_for(1, 2);
        a.parsed.key.l4_src = 1;
        b.parsed.key.l4_src = 2;
        assert_eq!(CacheKey::of(&a, &mask), CacheKey::of(&b, &mask));
        let with_l4 = KeyFields::L2.with(KeyFields::L4).mask();
        assert_ne!(CacheKey::of(&a, &with_l4), CacheKey::of(&b, &with_l4));
    }
}
