//! The flow cache alone: keys, buckets, validity, replayed learning.
use super::*;
use crate::action::Action;

fn ctx_for(src: u32, dst: u32) -> PacketCtx {
    let mut ctx = PacketCtx::default();
    ctx.reset(0, 0, false);
    ctx.start_decision();
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
fn keys_from_the_frame_equal_keys_from_the_parse() {
    let frame = crate::datapath::tests::frame([2, 0, 0, 0, 0, 9], [2, 0, 0, 0, 0, 7], Some(5));
    let mut ctx = PacketCtx::default();
    ctx.reset(3, 0, false);
    ctx.start_decision();
    crate::parse::parse_into(&frame, &mut ctx.parsed).unwrap();
    let mask = KeyFields::L2.mask();
    let mut from_frame = CacheKey::default();
    let hash = from_frame.set(&ctx, &frame, &mask);
    let from_parse = CacheKey::of(&ctx, &mask);
    assert_eq!(from_frame, from_parse);
    assert_eq!(hash, from_parse.hash());
}

#[test]
fn a_cache_that_does_not_pay_is_bypassed_for_a_while() {
    let mut cache = FlowCache::new(16);
    let mask = KeyFields::L2.mask();
    let miss_all = |cache: &mut FlowCache, from: u32| {
        for src in from..from + JUDGE_EVERY {
            let key = CacheKey::of(&ctx_for(src, 1), &mask);
            assert!(cache.lookup(&key, key.hash(), 0, 0).is_none());
        }
    };
    miss_all(&mut cache, 0);
    assert!(!cache.bypassing(), "judged at the next burst");
    assert!(cache.bypassing());
    for _ in 1..BYPASS_BURSTS {
        assert!(cache.bypassing());
    }
    assert!(!cache.bypassing(), "tried again");
    assert_eq!(cache.counters.bypassed_bursts, BYPASS_BURSTS as u64);
}

#[test]
fn a_hot_entry_is_one_cache_line() {
    assert_eq!(core::mem::size_of::<HotEntry>(), 64);
}

#[test]
fn long_keys_and_lists_come_back_whole() {
    let mut cache = FlowCache::new(64);
    let mask = KeyFields::L2.with(KeyFields::L3).with(KeyFields::L4).mask();
    let mut ctx = ctx_for(1, 2);
    ctx.actions.clear();
    for p in 1..5 {
        ctx.actions.push(Action::Output(p));
    }
    ctx.parsed.key.l4_dst = 80;
    let key = CacheKey::of(&ctx, &mask);
    cache.insert(&key, key.hash(), 0, 0, &ctx);
    let hit = cache.lookup(&key, key.hash(), 0, 0).unwrap();
    assert_eq!(hit.actions, ctx.actions.as_slice());
    let mut other = ctx.clone();
    other.parsed.key.l4_dst = 81;
    let other_key = CacheKey::of(&other, &mask);
    assert!(cache.lookup(&other_key, other_key.hash(), 0, 0).is_none());
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
