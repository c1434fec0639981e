use super::*;

fn mac(n: u32) -> Mac {
    let b = n.to_be_bytes();
    [0x02, 0, b[0], b[1], b[2], b[3]]
}

fn table(limit: u32, ports: usize, port_limit: u32) -> MacTable {
    MacTable::new(limit, 300, &vec![port_limit; ports], 0x1234)
}

#[test]
fn learn_then_lookup() {
    let t = table(16, 4, 16);
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
    let t = table(16, 4, 16);
    t.learn(0, &mac(1), 1, 0);
    assert_eq!(t.learn(0, &mac(1), 3, 1), LearnOutcome::Moved);
    assert_eq!(t.lookup(0, &mac(1), 1), Some(3));
    assert_eq!((t.port_len(1), t.port_len(3)), (0, 1));
    assert_eq!(t.counters().moved, 1);
}

#[test]
fn aging_hides_then_sweeps() {
    let t = MacTable::new(16, 5, &[16; 2], 7);
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
    let t = MacTable::new(16, 5, &[16; 2], 7);
    t.learn(0, &mac(1), 1, 100);
    t.learn(0, &mac(1), 1, 104);
    assert_eq!(t.lookup(0, &mac(1), 108), Some(1));
}

#[test]
fn bridge_limit_counts_instead_of_growing() {
    let t = table(100, 2, u32::MAX);
    for i in 0..1000 {
        t.learn(0, &mac(i), 1, 0);
    }
    assert_eq!(t.len(), 100);
    let c = t.counters();
    assert_eq!(c.learned, 100);
    assert_eq!(c.bridge_limit_hits, 900);
}

#[test]
fn port_limit_applies_per_port() {
    let t = table(1000, 3, 10);
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
    let t = MacTable::new(16, 5, &[16; 3], 1);
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
    let t = table(100_000, 2, u32::MAX);
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
        let t = MacTable::new(100_000, 300, &[u32::MAX; 2], seed);
        for i in 0..100_000 {
            let mac = high(i);
            assert_eq!(
                t.learn(3, &mac, 1, 0),
                LearnOutcome::Learned,
                "high-byte mac {i}"
            );
        }
        let t = MacTable::new(100_000, 300, &[u32::MAX; 2], seed);
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
fn unknown_port_ids_are_refused() {
    let t = table(16, 2, 16);
    assert_eq!(t.learn(0, &mac(1), 5, 0), LearnOutcome::Refused);
}

#[test]
fn concurrent_learn_and_sweep_stay_consistent() {
    let t = std::sync::Arc::new(table(4096, 4, u32::MAX));
    let workers: Vec<_> = (0..2u16)
        .map(|w| {
            let t = t.clone();
            std::thread::spawn(move || {
                for round in 0..20u32 {
                    for i in 0..2000u32 {
                        t.learn(0, &mac(i + 10_000 * w as u32), w, round);
                    }
                }
            })
        })
        .collect();
    for now in 0..20 {
        t.sweep(now);
    }
    for w in workers {
        w.join().unwrap();
    }
    let entries = t.entries(19);
    assert!(entries.len() <= 4096);
    for e in &entries {
        let owner = u32::from_be_bytes([0, e.mac[3], e.mac[4], e.mac[5]]) / 10_000;
        assert_eq!(e.port as u32, owner, "entry {e:?} points at the wrong port");
    }
}
