use super::*;

fn mac(n: u32) -> Mac {
    let b = n.to_be_bytes();
    [0x02, 0, b[0], b[1], b[2], b[3]]
}

/// A table whose ports 0..8 may each hold `port_limit` entries.
fn table(limit: u32, port_limit: u32) -> MacTable {
    let t = MacTable::new(limit, 300, 0x1234);
    for port in 0..8 {
        t.set_port_limit(port, port_limit);
    }
    t
}

#[test]
fn learn_then_lookup() {
    let t = table(16, 16);
    assert_eq!(t.lookup(1, &mac(1), 0), None);
    assert_eq!(t.learn(1, &mac(1), 2, 10), LearnOutcome::Learned);
    assert_eq!(t.lookup(1, &mac(1), 10), Some(2));
    assert_eq!(t.lookup(2, &mac(1), 10), None, "VLANs are separate");
    assert_eq!(t.learn(1, &mac(1), 2, 11), LearnOutcome::Known);
    assert_eq!(t.len(), 1);
    assert_eq!(t.port_len(2), 1);
}

#[test]
fn move_updates_port_counts() {
    let t = table(16, 16);
    t.learn(0, &mac(1), 1, 0);
    assert_eq!(t.learn(0, &mac(1), 3, 1), LearnOutcome::Moved);
    assert_eq!(t.lookup(0, &mac(1), 1), Some(3));
    assert_eq!((t.port_len(1), t.port_len(3)), (0, 1));
    assert_eq!(t.counters().moved, 1);
}

#[test]
fn aging_hides_then_sweeps() {
    let t = MacTable::new(16, 5, 7);
    t.learn(0, &mac(1), 1, 100);
    assert_eq!(t.lookup(0, &mac(1), 105), Some(1));
    assert_eq!(t.lookup(0, &mac(1), 106), None);
    assert_eq!(t.sweep(105), 0);
    assert_eq!(t.sweep(106), 1);
    assert!(t.is_empty());
    assert_eq!(t.port_len(1), 0);
    assert_eq!(t.counters().aged, 1);
    assert_eq!(t.learn(0, &mac(1), 0, 107), LearnOutcome::Learned);
}

#[test]
fn refresh_keeps_entry_alive() {
    let t = MacTable::new(16, 5, 7);
    t.learn(0, &mac(1), 1, 100);
    t.learn(0, &mac(1), 1, 104);
    assert_eq!(t.lookup(0, &mac(1), 108), Some(1));
}

#[test]
fn bridge_limit_evicts_instead_of_growing() {
    let t = table(100, u32::MAX);
    for i in 0..1000 {
        assert_eq!(t.learn(0, &mac(i), 1, 0), LearnOutcome::Learned);
    }
    assert_eq!(t.len(), 100);
    assert_eq!(t.port_len(1), 100);
    let c = t.counters();
    assert_eq!((c.learned, c.evicted, c.bridge_limit_hits), (1000, 900, 0));
    assert_counts_match(&t);
}

#[test]
fn port_limit_applies_per_port() {
    let t = table(1000, 10);
    for i in 0..50 {
        t.learn(0, &mac(i), 1, 0);
        t.learn(0, &mac(1000 + i), 2, 0);
    }
    assert_eq!((t.port_len(1), t.port_len(2)), (10, 10));
    assert_eq!(t.counters().port_limit_hits, 80);
    // A port at its limit cannot take a moving host either.
    assert_eq!(t.learn(0, &mac(0), 2, 1), LearnOutcome::Refused);
    assert_eq!(t.lookup(0, &mac(0), 1), Some(1));
}

#[test]
fn static_entries_stay_put() {
    let t = MacTable::new(16, 5, 1);
    assert!(t.insert_static(0, &mac(9), 2));
    assert_eq!(t.learn(0, &mac(9), 1, 50), LearnOutcome::StaticConflict);
    assert_eq!(t.lookup(0, &mac(9), 1_000_000), Some(2));
    assert_eq!(t.sweep(1_000_000), 0);
    assert_eq!(t.len(), 0, "static entries are not counted");
    let e = t.entries(10);
    assert_eq!(e.len(), 1);
    assert!(e[0].is_static);
}

#[test]
fn full_table_holds_its_limit() {
    // Sized for 100k with two choices per key: every MAC up to the limit
    // must find a slot.
    let t = table(100_000, u32::MAX);
    for i in 0..100_000 {
        assert_eq!(t.learn(7, &mac(i), 1, 0), LearnOutcome::Learned, "mac {i}");
    }
    for i in (0..100_000).step_by(997) {
        assert_eq!(t.lookup(7, &mac(i), 0), Some(1));
    }
    assert_eq!(t.counters().bucket_full, 0);
}

#[test]
fn full_table_holds_its_limit_whatever_the_address_pattern() {
    // Addresses varying only in their high bytes (many vendors), and
    // scattered ones, fill the table as well as sequential ones do.
    let high = |i: u32| {
        let b = i.to_be_bytes();
        [b[1] << 1, b[2], b[3], 0x00, 0x00, 0x01]
    };
    let mut state = 0x243f_6a88_85a3_08d3u64;
    let mut scattered = move |_: u32| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let b = state.to_be_bytes();
        [b[0] & 0xfe, b[1], b[2], b[3], b[4], b[5]]
    };
    for seed in [1u64, 0x9e37, 0xdead_beef] {
        let t = MacTable::new(100_000, 300, seed);
        for i in 0..100_000 {
            let mac = high(i);
            assert_eq!(
                t.learn(3, &mac, 1, 0),
                LearnOutcome::Learned,
                "high-byte mac {i}"
            );
        }
        let t = MacTable::new(100_000, 300, seed);
        let mut learned = 0;
        for i in 0..100_000 {
            if t.learn(3, &scattered(i), 1, 0) == LearnOutcome::Learned {
                learned += 1;
            }
        }
        assert_eq!(t.counters().bucket_full, 0, "seed {seed:#x}");
        assert!(learned > 99_990, "seed {seed:#x}: {learned}");
    }
}

#[test]
fn port_ids_past_max_ports_are_refused() {
    let t = table(16, 16);
    t.set_port_limit(MAX_PORTS as PortId, 16);
    assert_eq!(
        t.learn(0, &mac(1), MAX_PORTS as PortId, 0),
        LearnOutcome::Refused
    );
    assert_eq!(t.counters().port_limit_hits, 1);
    assert_eq!(
        t.learn(0, &mac(1), (MAX_PORTS - 1) as PortId, 0),
        LearnOutcome::Learned
    );
}

/// Every slot holding a learned or static value of its own key, whatever
/// its age: (key, value).
fn stored(t: &MacTable) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for bucket in t.buckets.iter() {
        for slot in 0..SLOTS_PER_BUCKET {
            let key = bucket.keys[slot].load(Ordering::SeqCst);
            let value = bucket.values[slot].load(Ordering::SeqCst);
            if key != 0 && MacTable::value_check(value) == MacTable::check_of(t.hash(key)) {
                out.push((key, value));
            }
        }
    }
    out
}

/// Each key stored once, and the entry and per-port counts equal to the
/// learned entries stored.
fn assert_counts_match(t: &MacTable) {
    let stored = stored(t);
    let mut keys: Vec<u64> = stored.iter().map(|&(key, _)| key).collect();
    keys.sort_unstable();
    let distinct = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), distinct, "a key is stored twice");
    let learned: Vec<u64> = stored
        .iter()
        .map(|&(_, value)| value)
        .filter(|&value| !MacTable::is_static(value))
        .collect();
    assert_eq!(t.len() as usize, learned.len(), "entry count");
    for port in 0..MAX_PORTS as PortId {
        let on_port = learned
            .iter()
            .filter(|&&value| MacTable::value_port(value) == port)
            .count();
        assert_eq!(t.port_len(port) as usize, on_port, "count of port {port}");
    }
}

/// The key, hash and value `learn` would use.
fn parts(t: &MacTable, mac: &Mac, port: PortId, now: u32) -> (u64, u64, u64) {
    let key = MacTable::key(0, mac);
    let hash = t.hash(key);
    (
        key,
        hash,
        MacTable::value(port, now, MacTable::check_of(hash), false),
    )
}

/// Stores a learned copy of `key` the way a racing inserter does, up to
/// (not including) its duplicate scan: claims slot 0 of the second bucket
/// and counts it; writes the value only if `write`.
fn racing_copy(t: &MacTable, key: u64, hash: u64, value: u64, write: bool) {
    let bucket = t.second_bucket(hash);
    assert!(bucket.keys[0]
        .compare_exchange(0, key, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok());
    t.entries.fetch_add(1, Ordering::Relaxed);
    t.port_count_add(MacTable::value_port(value));
    if write {
        bucket.values[0].store(value, Ordering::SeqCst);
    }
}

#[test]
fn a_later_racing_copy_withdraws_itself() {
    let t = table(64, 64);
    let (key, hash, value) = parts(&t, &mac(1), 2, 5);
    // The racer has claimed its slot but not written it: learning misses,
    // inserts in the first bucket, and leaves the unwritten copy alone.
    racing_copy(&t, key, hash, value, false);
    assert_eq!(t.learn(0, &mac(1), 1, 5), LearnOutcome::Learned);
    assert_eq!(t.len(), 2);
    let generation = t.generation();
    // The racer writes its value and scans: it sees the earlier copy.
    let second = t.second_bucket(hash);
    second.values[0].store(value, Ordering::SeqCst);
    t.settle_duplicates(
        key,
        hash,
        t.candidates(hash),
        SLOTS_PER_BUCKET,
        Inserted::Learned,
    );
    assert_eq!(t.lookup(0, &mac(1), 5), Some(1));
    assert_ne!(
        t.generation(),
        generation,
        "a withdrawn copy may have been found"
    );
    assert_counts_match(&t);
    assert_eq!((t.len(), t.port_len(1), t.port_len(2)), (1, 1, 0));
}

#[test]
fn an_earlier_copy_removes_a_written_later_one() {
    let t = table(64, 64);
    let (key, hash, later) = parts(&t, &mac(1), 2, 5);
    // The racer wrote its value but has not scanned yet; the earlier
    // inserter's scan removes it.
    racing_copy(&t, key, hash, later, true);
    let (_, _, earlier) = parts(&t, &mac(1), 1, 5);
    assert!(t.insert(key, hash, earlier, Inserted::Learned));
    assert_eq!(t.lookup(0, &mac(1), 5), Some(1));
    assert_counts_match(&t);
    assert_eq!((t.len(), t.port_len(1), t.port_len(2)), (1, 1, 0));
}

#[test]
fn a_static_copy_wins_over_a_racing_learned_one() {
    let t = table(64, 64);
    let (key, hash, learned) = parts(&t, &mac(1), 2, 5);
    racing_copy(&t, key, hash, learned, true);
    let static_value = MacTable::value(3, 0, MacTable::check_of(hash), true);
    assert!(t.insert(key, hash, static_value, Inserted::Static));
    assert_eq!(t.lookup(0, &mac(1), 5), Some(3));
    assert_counts_match(&t);
    assert!(t.is_empty());
}

#[test]
fn sweep_removes_a_leftover_duplicate() {
    let t = table(64, 64);
    assert_eq!(t.learn(0, &mac(1), 1, 5), LearnOutcome::Learned);
    let (key, hash, value) = parts(&t, &mac(1), 2, 5);
    racing_copy(&t, key, hash, value, true);
    assert_eq!(t.sweep(5), 0, "a duplicate is not counted as aged");
    assert_counts_match(&t);
    assert_eq!((t.len(), t.port_len(1), t.port_len(2)), (1, 1, 0));
    assert_eq!(t.lookup(0, &mac(1), 5), Some(1));
}

#[test]
fn sweep_removes_a_learned_duplicate_of_a_static_entry() {
    let t = table(64, 64);
    assert_eq!(t.learn(0, &mac(1), 1, 5), LearnOutcome::Learned);
    let (key, hash, _) = parts(&t, &mac(1), 2, 5);
    let static_value = MacTable::value(2, 0, MacTable::check_of(hash), true);
    let second = t.second_bucket(hash);
    second.keys[0].store(key, Ordering::SeqCst);
    second.values[0].store(static_value, Ordering::SeqCst);
    assert_eq!(t.sweep(5), 0);
    assert_counts_match(&t);
    assert!(t.is_empty());
    assert_eq!(t.lookup(0, &mac(1), 5), Some(2));
}

/// Several threads learn the same new MACs at the same instant, some on
/// the same port, some on others, round after round.
#[test]
fn racing_learners_store_each_new_mac_once() {
    const THREADS: usize = 4;
    const ROUNDS: u32 = 300;
    const MACS_PER_ROUND: u32 = 32;
    let t = std::sync::Arc::new(table(16_384, u32::MAX));
    let start = std::sync::Arc::new(std::sync::Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (t, start) = (t.clone(), start.clone());
            // Threads 0 and 2 learn on port 1, threads 1 and 3 on port 2.
            let port = 1 + (thread % 2) as PortId;
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    start.wait();
                    for i in 0..MACS_PER_ROUND {
                        t.learn(0, &mac(round * MACS_PER_ROUND + i), port, 0);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let distinct = ROUNDS * MACS_PER_ROUND;
    let entries = t.entries(0);
    assert_eq!(entries.len(), distinct as usize);
    let mut macs: Vec<Mac> = entries.iter().map(|e| e.mac).collect();
    macs.dedup();
    assert_eq!(macs.len(), distinct as usize, "a MAC is listed twice");
    assert_eq!(t.len(), distinct);
    for port in [1, 2] {
        let listed = entries.iter().filter(|e| e.port == port).count();
        assert_eq!(t.port_len(port) as usize, listed, "port {port}");
    }
    assert_counts_match(&t);
    // How many racing duplicates were stored and withdrawn (for the log).
    eprintln!(
        "duplicates withdrawn: {}",
        t.counters().learned - distinct as u64
    );
}

#[test]
fn a_flood_from_one_port_leaves_room_for_a_new_host() {
    let t = MacTable::new(8192, 300, 42);
    for i in 0..1_000_000 {
        t.learn(0, &mac(i), 1, 0);
        assert!(t.port_len(1) <= 8192);
    }
    assert_eq!(t.len(), 8192);
    let host = [0x02, 0xaa, 0, 0, 0, 1];
    assert_eq!(t.learn(0, &host, 2, 1), LearnOutcome::Learned);
    assert_eq!(t.lookup(0, &host, 1), Some(2));
    // The flood goes on; the fullest port pays for it, not the new host.
    for i in 1_000_000..1_010_000 {
        t.learn(0, &mac(i), 1, 2);
    }
    assert_eq!(t.lookup(0, &host, 2), Some(2));
    assert!(t.port_len(1) <= 8192);
    assert_eq!(t.len(), 8192);
    // Port 1's own limit (the bridge limit, by default) refused most of the
    // flood; each frame after the new host evicted one of port 1's entries.
    let c = t.counters();
    assert!(c.port_limit_hits > 990_000 && c.evicted >= 10_000, "{c:?}");
    assert_eq!(c.learned - c.evicted, 8192);
    assert_counts_match(&t);
}

#[test]
fn eviction_takes_the_least_recently_seen_of_the_fullest_port() {
    // Sixteen slots: the eviction scan sees them all.
    let t = table(4, 4);
    for (i, now) in [10, 5, 20, 15].into_iter().enumerate() {
        t.learn(0, &mac(i as u32), 1, now);
    }
    assert_eq!(t.learn(0, &mac(10), 2, 21), LearnOutcome::Learned);
    assert_eq!(t.lookup(0, &mac(1), 21), None, "seen longest ago");
    assert_eq!((t.port_len(1), t.port_len(2)), (3, 1));
    // Port 1 is still the fullest: a new MAC from port 3 evicts from it.
    assert_eq!(t.learn(0, &mac(11), 3, 22), LearnOutcome::Learned);
    assert_eq!(t.lookup(0, &mac(0), 22), None);
    assert_eq!((t.port_len(1), t.port_len(2), t.port_len(3)), (2, 1, 1));
    assert_eq!(t.counters().evicted, 2);
    assert_counts_match(&t);
}

#[test]
fn a_port_at_its_limit_is_refused_at_the_bridge_limit_too() {
    let t = table(4, 2);
    t.learn(0, &mac(0), 1, 0);
    t.learn(0, &mac(1), 1, 0);
    t.learn(0, &mac(2), 2, 0);
    t.learn(0, &mac(3), 2, 0);
    assert_eq!(t.learn(0, &mac(4), 2, 0), LearnOutcome::Refused);
    let c = t.counters();
    assert_eq!((c.port_limit_hits, c.evicted), (1, 0));
}

#[test]
fn eviction_that_finds_no_candidate_counts_a_bridge_limit_hit() {
    // One entry on each of MAX_PORTS ports: the fullest port's single entry
    // is rarely within one bounded scan.
    let limit = MAX_PORTS as u32;
    let t = MacTable::new(limit, 300, 9);
    for port in 0..MAX_PORTS as PortId {
        assert_eq!(
            t.learn(0, &mac(port as u32), port, 0),
            LearnOutcome::Learned
        );
    }
    for i in 0..100 {
        t.learn(0, &mac(100_000 + i), 0, 0);
    }
    let c = t.counters();
    assert!(c.bridge_limit_hits > 0, "{c:?}");
    assert_eq!(c.evicted + c.bridge_limit_hits, 100);
    assert!(t.len() <= limit);
    assert_counts_match(&t);
}

#[test]
fn generation_moves_only_when_a_cached_decision_may_be_wrong() {
    let t = MacTable::new(4, 5, 3);
    let g = t.generation();
    t.learn(0, &mac(1), 1, 10);
    t.learn(0, &mac(1), 1, 11);
    assert!(t.insert_static(0, &mac(9), 2));
    t.set_port_limit(1, 100);
    t.set_aging_secs(5);
    assert_eq!(t.generation(), g, "new MACs, refreshes and limits keep it");
    let mut last = g;
    let mut changed = |what: &str| {
        let now = t.generation();
        assert_ne!(now, last, "{what} changes it");
        last = now;
    };
    t.learn(0, &mac(1), 2, 12);
    changed("a move");
    t.learn(0, &mac(2), 2, 12);
    t.sweep(30);
    changed("aging");
    for i in 10..15 {
        t.learn(0, &mac(i), 1, 40);
    }
    changed("eviction");
    t.flush_port(1);
    changed("flushing a port");
    t.learn(0, &mac(3), 1, 41);
    assert!(t.insert_static(0, &mac(3), 2));
    changed("a static entry over a learned one");
    assert!(t.insert_static(0, &mac(3), 1));
    changed("a static entry changed");
    assert!(t.remove_static(0, &mac(3)));
    changed("a static entry removed");
    t.set_aging_secs(50);
    changed("a new aging time");
}

#[test]
fn lookup_entry_tells_how_long_the_answer_holds() {
    let t = MacTable::new(16, 5, 7);
    t.learn(0, &mac(1), 1, 100);
    let hit = |now| t.lookup_entry(0, &mac(1), now);
    assert_eq!(
        hit(100),
        Some(MacHit {
            port: 1,
            valid_until: 105
        })
    );
    assert_eq!(hit(105).map(|h| h.valid_until), Some(105));
    assert_eq!(hit(106), None);
    t.learn(0, &mac(1), 1, 103);
    assert_eq!(hit(106).map(|h| h.valid_until), Some(108));
    t.set_aging_secs(10);
    assert_eq!(hit(106).map(|h| h.valid_until), Some(113));
    assert!(t.insert_static(0, &mac(2), 3));
    assert_eq!(
        t.lookup_entry(0, &mac(2), 1_000_000),
        Some(MacHit {
            port: 3,
            valid_until: u32::MAX
        })
    );
    assert_eq!(t.lookup_entry(0, &mac(3), 100), None);
}

#[test]
fn unset_ports_may_hold_the_bridge_limit() {
    let t = MacTable::new(10, 300, 5);
    for i in 0..10 {
        assert_eq!(t.learn(0, &mac(i), 3, 0), LearnOutcome::Learned);
    }
    assert_eq!(t.learn(0, &mac(10), 3, 0), LearnOutcome::Refused);
    assert_eq!(t.counters().port_limit_hits, 1);
}

#[test]
fn set_port_limit_applies_to_later_learns() {
    let t = MacTable::new(100, 300, 5);
    t.set_port_limit(3, 2);
    for i in 0..5 {
        t.learn(0, &mac(i), 3, 0);
    }
    assert_eq!(t.port_len(3), 2);
    t.set_port_limit(3, 4);
    for i in 0..5 {
        t.learn(0, &mac(i), 3, 0);
    }
    assert_eq!(t.port_len(3), 4);
    // Lowering it keeps what the port has and refuses more.
    t.set_port_limit(3, 1);
    assert_eq!(t.learn(0, &mac(50), 3, 0), LearnOutcome::Refused);
    assert_eq!(t.port_len(3), 4);
    t.set_port_limit(3, 0);
    assert_eq!(t.learn(0, &mac(0), 4, 0), LearnOutcome::Moved);
    assert_eq!(
        t.learn(0, &mac(0), 3, 0),
        LearnOutcome::Refused,
        "not even a move"
    );
}

#[test]
fn set_aging_secs_changes_when_entries_expire() {
    let t = MacTable::new(16, 300, 7);
    t.learn(0, &mac(1), 1, 100);
    assert_eq!(t.sweep(110), 0);
    t.set_aging_secs(5);
    assert_eq!(t.lookup(0, &mac(1), 106), None);
    assert_eq!(t.sweep(106), 1);
    assert!(t.is_empty());
}

#[test]
fn flush_port_removes_learned_and_static_entries_of_that_port() {
    let t = table(64, 64);
    for i in 0..5 {
        t.learn(0, &mac(i), 2, 0);
    }
    t.learn(0, &mac(10), 1, 0);
    assert!(t.insert_static(0, &mac(20), 2));
    assert!(t.insert_static(0, &mac(21), 1));
    assert_eq!(t.flush_port(2), 6);
    assert_eq!((t.len(), t.port_len(1), t.port_len(2)), (1, 1, 0));
    assert_eq!(t.lookup(0, &mac(0), 0), None);
    assert_eq!(t.lookup(0, &mac(20), 0), None);
    assert_eq!(t.lookup(0, &mac(10), 0), Some(1));
    assert_eq!(t.lookup(0, &mac(21), 0), Some(1));
    assert_eq!(t.flush_port(2), 0);
    assert_counts_match(&t);
}

#[test]
fn flush_learned_keeps_static_entries_and_moves_the_generation() {
    let t = table(64, 64);
    for i in 0..5 {
        t.learn(0, &mac(i), 1 + i as PortId % 2, 0);
    }
    assert!(t.insert_static(0, &mac(20), 2));
    let before = t.generation();
    assert_eq!(t.flush_learned(), 5);
    assert!(t.generation() > before, "cached decisions must not survive");
    assert_eq!(t.lookup(0, &mac(1), 0), None);
    assert_eq!(t.lookup(0, &mac(20), 0), Some(2));
    assert_eq!(t.flush_learned(), 0);
    assert_counts_match(&t);
}

#[test]
fn predict_says_what_learn_would_do_and_changes_nothing() {
    let t = table(64, 64);
    assert_eq!(t.predict(0, &mac(1), 1), LearnOutcome::Learned);
    assert!(t.is_empty());
    t.learn(0, &mac(1), 1, 0);
    assert!(t.insert_static(0, &mac(2), 1));
    assert_eq!(t.predict(0, &mac(1), 1), LearnOutcome::Known);
    assert_eq!(t.predict(0, &mac(1), 2), LearnOutcome::Moved);
    assert_eq!(t.predict(0, &mac(2), 2), LearnOutcome::StaticConflict);
    assert_eq!(t.lookup(0, &mac(1), 0), Some(1));
}

#[test]
fn remove_static_removes_only_static_entries() {
    let t = table(64, 64);
    assert!(t.insert_static(0, &mac(1), 2));
    t.learn(0, &mac(2), 2, 0);
    assert!(!t.remove_static(0, &mac(2)), "a learned entry stays");
    assert!(!t.remove_static(0, &mac(3)));
    assert!(t.remove_static(0, &mac(1)));
    assert!(!t.remove_static(0, &mac(1)));
    assert_eq!(t.lookup(0, &mac(1), 0), None);
    assert_eq!(t.lookup(0, &mac(2), 0), Some(2));
    assert_eq!(t.learn(0, &mac(1), 3, 0), LearnOutcome::Learned);
    assert_counts_match(&t);
}

#[test]
fn insert_static_over_a_learned_entry_uncounts_it() {
    let t = table(64, 64);
    t.learn(0, &mac(1), 2, 0);
    assert!(t.insert_static(0, &mac(1), 3));
    assert_eq!(t.lookup(0, &mac(1), 1_000), Some(3));
    assert!(t.is_empty());
    assert_counts_match(&t);
}

/// Workers learn overlapping MAC sets, each MAC only every few rounds, on
/// a clock that the sweeping thread advances while they run: entries
/// expire and are swept between the learns that bring them back, and the
/// overlap moves entries between ports.
#[test]
fn concurrent_learn_and_sweep_stay_consistent() {
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Barrier};
    use std::time::{Duration, Instant};

    const WORKERS: u32 = 3;
    const RANGE: u32 = 1000;
    const MIN_ROUNDS: u32 = 20;
    const MAX_ROUNDS: u32 = 2000;
    // Worker w learns MACs w*RANGE/2 .. w*RANGE/2 + RANGE on port w + 1:
    // each MAC is shared with a neighbour.
    let first_mac = |w: u32| w * RANGE / 2;
    let learned_on = |i: u32, port: PortId| {
        let w = port as u32 - 1;
        w < WORKERS && (first_mac(w)..first_mac(w) + RANGE).contains(&i)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let t = Arc::new(MacTable::new(4096, 1, 0x77));
    let clock = Arc::new(AtomicU32::new(0));
    let workers_done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(WORKERS as usize + 1));
    let sweeper = {
        let (t, clock, done, start) = (
            t.clone(),
            clock.clone(),
            workers_done.clone(),
            start.clone(),
        );
        std::thread::spawn(move || {
            start.wait();
            let mut sweeps = 0u32;
            while !done.load(Ordering::Acquire) && Instant::now() < deadline {
                let now = clock.fetch_add(1, Ordering::Relaxed) + 1;
                t.sweep(now);
                sweeps += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            sweeps
        })
    };
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (t, clock, start) = (t.clone(), clock.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                // Whether this worker learned again after seeing entries
                // aged out: proof that aging overlapped learning.
                let mut learned_after_aging = false;
                let mut round = 0;
                while round < MAX_ROUNDS && Instant::now() < deadline {
                    let aged_before = t.counters().aged > 0;
                    let now = clock.load(Ordering::Relaxed);
                    for i in first_mac(w)..first_mac(w) + RANGE {
                        if (i + round) % 4 == 0 {
                            t.learn(0, &mac(i), w as PortId + 1, now);
                        }
                    }
                    learned_after_aging |= aged_before;
                    round += 1;
                    if round >= MIN_ROUNDS && learned_after_aging {
                        break;
                    }
                }
                learned_after_aging
            })
        })
        .collect();
    for worker in workers {
        assert!(worker.join().unwrap(), "no entry aged out while learning");
    }
    workers_done.store(true, Ordering::Release);
    let sweeps = sweeper.join().unwrap();
    assert!(sweeps > 0);
    let c = t.counters();
    assert!(c.aged > 0 && c.learned > 0, "{c:?}");
    assert_counts_match(&t);
    for (key, value) in stored(&t) {
        let i = u32::from_be_bytes([0, (key >> 16) as u8, (key >> 8) as u8, key as u8]);
        let port = MacTable::value_port(value);
        assert!(learned_on(i, port), "MAC {i} points at port {port}");
    }
}
