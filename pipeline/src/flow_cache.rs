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
        KeyMask(m)
    }
}

/// Which bits of a packed key a port's stages read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyMask([u64; KEY_WORDS]);

/// A packed, masked flow key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheKey([u64; KEY_WORDS]);

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
        let frag = match k.ip_frag {
            IpFrag::None => 0,
            IpFrag::First => 1,
            IpFrag::Later => 2,
        };
        let w0 = mac_word(&k.eth_dst)
            | (u64::from(k.vlan & 0x0fff) << 48)
            | (u64::from(ctx.parsed.layout.vlan_tags & 3) << 60)
            | (u64::from(ctx.recirculations.min(3)) << 62);
        let w1 = mac_word(&k.eth_src) | (u64::from(ctx.in_port) << 48);
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
        let words = [w0, w1, w2, w3, s0, s1, d0, d1];
        let m = &mask.0;
        CacheKey(core::array::from_fn(|i| words[i] & m[i]))
    }

    /// A hash of the key (multiply-xorshift over its words; independent
    /// multiplies so the CPU runs them side by side).
    #[inline(always)]
    pub fn hash(&self) -> u32 {
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
        for (w, k) in self.0.iter().zip(K) {
            h ^= (w ^ (w >> 29)).wrapping_mul(k);
        }
        let h = h ^ (h >> 32);
        h as u32
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
    hash: u32,
    valid_until: u32,
    generation: u64,
    refreshed_at: u32,
    live: bool,
    learned: Option<MacRefresh>,
    actions: ActionList,
}

impl Default for Entry {
    fn default() -> Self {
        Entry {
            key: CacheKey::default(),
            hash: 0,
            valid_until: 0,
            generation: 0,
            refreshed_at: 0,
            live: false,
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
pub struct Hit {
    /// The actions.
    pub actions: ActionList,
    /// Learning to replay now (at most once a second per entry).
    pub refresh: Option<MacRefresh>,
}

/// One worker's flow cache.
pub struct FlowCache {
    entries: Box<[Entry]>,
    mask: usize,
    /// Its counters.
    pub counters: CacheCounters,
}

impl FlowCache {
    /// A cache of `capacity` entries (rounded up to a power of two, at
    /// least 2). Allocates once.
    pub fn new(capacity: usize) -> FlowCache {
        let n = capacity.max(2).next_power_of_two();
        FlowCache {
            entries: vec![Entry::default(); n].into_boxed_slice(),
            mask: n - 1,
            counters: CacheCounters::default(),
        }
    }

    #[inline(always)]
    fn slots(&self, hash: u32) -> [usize; 2] {
        let first = hash as usize & self.mask;
        let second = (hash.rotate_right(16) as usize | 1) & self.mask;
        [first, if second == first { first ^ 1 } else { second }]
    }

    /// The decision for `key`, if one is cached and still valid.
    #[inline(always)]
    pub fn lookup(&mut self, key: &CacheKey, hash: u32, generation: u64, now: u32) -> Option<Hit> {
        for slot in self.slots(hash) {
            let Some(e) = self.entries.get_mut(slot) else {
                continue;
            };
            if !e.live || e.hash != hash || e.key != *key {
                continue;
            }
            if e.generation != generation || now > e.valid_until {
                e.live = false;
                self.counters.stale += 1;
                break;
            }
            self.counters.hits += 1;
            let refresh = match e.learned {
                Some(l) if e.refreshed_at != now => {
                    e.refreshed_at = now;
                    Some(l)
                }
                _ => None,
            };
            return Some(Hit {
                actions: e.actions,
                refresh,
            });
        }
        self.counters.misses += 1;
        None
    }

    /// Stores the decision the stages made for `ctx` under `key`.
    pub fn insert(&mut self, key: &CacheKey, hash: u32, generation: u64, now: u32, ctx: &PacketCtx) {
        let [a, b] = self.slots(hash);
        let live = |i: usize| self.entries.get(i).is_some_and(|e| e.live);
        // An empty slot first, else the second choice (so a flow that keeps
        // colliding with another in its first slot still finds a home).
        let slot = if !live(a) {
            a
        } else if !live(b) {
            b
        } else {
            self.counters.evictions += 1;
            // Either may go; the hash picks, so no slot is always the victim.
            if hash & 0x8000 == 0 {
                a
            } else {
                b
            }
        };
        if let Some(e) = self.entries.get_mut(slot) {
            *e = Entry {
                key: *key,
                hash,
                valid_until: ctx.valid_until,
                generation,
                refreshed_at: now,
                live: true,
                learned: ctx.learned,
                actions: ctx.actions,
            };
            self.counters.inserts += 1;
        }
    }

    /// Forgets every entry (a new configuration).
    pub fn clear(&mut self) {
        for e in self.entries.iter_mut() {
            e.live = false;
        }
    }

    /// How many entries it holds at most.
    pub fn capacity(&self) -> usize {
        self.entries.len()
    }
}
