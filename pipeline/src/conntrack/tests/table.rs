//! The table: size per connection, the full-table policy, expiry,
//! counters, dump.

use super::frames::*;
use crate::conntrack::table::Entry;
use crate::conntrack::{ConnTable, ConntrackConfig, Timeouts};
use crate::context::ct_state::{ESTABLISHED, NEW, REPLY, TRACKED};
use crate::wire::ip_proto;
use crate::DropReason;

fn table(limit: u32) -> ConnTable {
    ConnTable::with_config(ConntrackConfig {
        limit,
        ..ConntrackConfig::default()
    })
}

fn out(port: u16) -> Vec<u8> {
    ipv4(A, B, ip_proto::UDP, &udp(port, 53))
}

fn back(port: u16) -> Vec<u8> {
    ipv4(B, A, ip_proto::UDP, &udp(53, port))
}

#[test]
fn a_connection_costs_at_most_256_bytes() {
    assert_eq!(core::mem::size_of::<Entry>(), 128);
    for limit in [1_000, 65_536, 1_000_000, 1 << 20, (1 << 20) + 1] {
        let t = table(limit);
        let total = core::mem::size_of::<Entry>() + t.index_bytes_per_entry();
        assert!(total <= 256, "limit {limit}: {total} bytes per connection");
        assert_eq!(t.capacity(), limit);
    }
    // At a power-of-two limit, 32 bytes of index: 160 in all.
    assert_eq!(table(1 << 16).index_bytes_per_entry(), 32);
}

#[test]
fn full_table_evicts_expired_then_early_then_refuses() {
    // A limit of 2 makes a table of two buckets, which every tuple probes.
    let t = table(2);
    assert!(run(&t, &out(1), 0, true, 0).result.is_ok());
    assert!(run(&t, &out(2), 0, true, 50).result.is_ok());
    // Port 1 idled past 30 s unreplied: expired, reclaimed first.
    assert!(run(&t, &out(3), 0, true, 51).result.is_ok());
    assert_eq!((t.counters().expired, t.counters().evicted), (1, 0));
    // Both left are unreplied (early): the least recently seen goes.
    assert!(run(&t, &out(4), 0, true, 52).result.is_ok());
    assert_eq!(t.counters().evicted, 1);
    let ports: Vec<u16> = t.dump(52).map(|c| c.original.src_port).collect();
    assert_eq!(ports.len(), 2);
    assert!(ports.contains(&3) && ports.contains(&4), "{ports:?}");
    // Replied, they are no longer early: a new connection is refused.
    run(&t, &back(3), 0, true, 53);
    run(&t, &back(4), 0, true, 53);
    let refused = run(&t, &out(5), 0, true, 54);
    assert_eq!(refused.result, Err(DropReason::CtTableFull));
    assert_eq!(refused.state, TRACKED | NEW);
    assert_eq!(t.counters().table_full, 1);
    // Established connections keep working, and an uncommitted look at a
    // new one is no drop.
    assert_eq!(run(&t, &out(3), 0, true, 55).state, TRACKED | ESTABLISHED);
    assert_eq!(
        run(&t, &back(4), 0, true, 55).state,
        TRACKED | ESTABLISHED | REPLY
    );
    assert!(run(&t, &out(6), 0, false, 55).result.is_ok());
    assert_eq!(t.len(), 2);
}

#[test]
fn a_full_table_never_grows() {
    let t = table(100);
    let mut refused = 0;
    for port in 0..1_000u16 {
        let verdict = run(&t, &out(port), 0, true, 1);
        if verdict.result.is_ok() {
            run(&t, &back(port), 0, true, 1);
        } else {
            refused += 1;
        }
        assert!(t.len() <= 100);
    }
    let c = t.counters();
    assert_eq!(c.table_full, refused);
    assert_eq!(u64::from(c.entries), c.created - c.expired - c.evicted);
    assert_eq!(t.dump(1).count(), t.len() as usize);
}

#[test]
fn expiry_by_lookup_and_by_sweep() {
    let t = table(64);
    run(&t, &out(1), 0, true, 0);
    // 31 s later the unreplied connection is gone: the packet is NEW again
    // and starts a new one.
    assert_eq!(run(&t, &out(1), 0, true, 31).state, TRACKED | NEW);
    assert_eq!(t.counters().expired, 1);
    assert_eq!(t.counters().created, 2);
    run(&t, &back(1), 0, true, 31);
    for port in 2..5 {
        run(&t, &out(port), 0, true, 31);
    }
    assert_eq!(t.sweep(61), 0);
    assert_eq!(t.sweep(62), 3, "the unreplied ones");
    assert_eq!(t.len(), 1);
    assert_eq!(t.sweep(151), 0);
    assert_eq!(t.sweep(152), 1, "the replied one after 120 s");
    assert!(t.is_empty());
    assert_eq!(t.counters().expired, 5);
}

#[test]
fn timeouts_are_configurable() {
    let t = ConnTable::with_config(ConntrackConfig {
        limit: 8,
        timeouts: Timeouts {
            udp_unreplied: 5,
            ..Timeouts::default()
        },
        ..ConntrackConfig::default()
    });
    run(&t, &out(1), 0, true, 0);
    assert_eq!(t.dump(0).next().map(|c| c.expires_in), Some(5));
    assert_eq!(t.sweep(6), 1);
}

#[test]
fn dump_lists_both_tuples() {
    let t = table(8);
    run(&t, &out(7), 3, true, 10);
    let c = t.dump(12).next().expect("one connection");
    assert_eq!(c.original.zone, 3);
    assert_eq!(c.original.proto, ip_proto::UDP);
    assert_eq!(&c.original.src[..4], &A);
    assert_eq!((c.original.src_port, c.original.dst_port), (7, 53));
    assert_eq!(c.reply, c.original.reversed());
    assert_eq!((c.age, c.expires_in), (2, 28));
}

/// A burst gives the verdicts that frame-by-frame tracking gives, on a
/// table small enough to skip warming and on one large enough to warm.
#[test]
fn a_burst_is_judged_as_its_frames_one_by_one() {
    use crate::wire::tcp::flags::{ACK, SYN};
    let syn = |port| {
        ipv4(
            A,
            B,
            ip_proto::TCP,
            &tcp(port, 80, 7, 0, SYN, 65535, None, 0),
        )
    };
    let syn_ack = |port| {
        ipv4(
            B,
            A,
            ip_proto::TCP,
            &tcp(80, port, 900, 8, SYN | ACK, 65535, None, 0),
        )
    };
    let quoted = ipv4_packet(A, B, ip_proto::UDP, &udp(1, 53));
    let frames: Vec<Vec<u8>> = vec![
        out(1),
        back(1),
        out(1),
        syn(40),
        syn_ack(40),
        syn_ack(41),
        ipv4(
            [192, 0, 2, 1],
            A,
            ip_proto::ICMP,
            &icmp_error(3, 1, &quoted),
        ),
        ipv4(A, B, 47, &[0; 8]),
        out(2),
        out(2),
    ];
    // The large table holds enough other connections to be warmed.
    for (limit, others) in [(64, 0u32), (1 << 14, 8192)] {
        let one_by_one = table(limit);
        let burst = table(limit);
        for t in [&one_by_one, &burst] {
            for i in 0..others {
                let client = [10, 9, (i >> 8) as u8, i as u8];
                let frame = ipv4(client, B, ip_proto::UDP, &udp(4000, 53));
                assert!(run(t, &frame, 0, true, 1).result.is_ok());
            }
        }
        assert_eq!(burst.worth_warming(), others > 0, "limit {limit}");
        let expected: Vec<_> = frames
            .iter()
            .map(|f| run(&one_by_one, f, 0, true, 5))
            .collect();
        let parsed: Vec<_> = frames
            .iter()
            .map(|f| crate::parse::parse(f).expect("parses"))
            .collect();
        let slices: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
        let mut verdicts = vec![crate::conntrack::Verdict::default(); frames.len()];
        burst.track_burst(&slices, &parsed, 0, true, 5, false, &mut verdicts);
        assert_eq!(verdicts, expected, "limit {limit}");
        assert_eq!(burst.counters(), one_by_one.counters());
    }
}

/// The index has room for every connection up to the limit: none is
/// refused for a full bucket before the table is full.
#[test]
fn the_index_holds_the_limit() {
    let limit = 1 << 15;
    let t = table(limit);
    for i in 0..limit {
        let client = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let frame = ipv4(client, B, ip_proto::UDP, &udp(4000, 53));
        assert!(run(&t, &frame, 0, true, 1).result.is_ok(), "connection {i}");
    }
    assert_eq!(t.len(), limit);
    assert_eq!(t.counters().table_full, 0);
}

/// A worker whose clock is a second behind still finds the connection.
#[test]
fn a_clock_a_second_behind_does_not_expire_connections() {
    let t = table(8);
    run(&t, &out(1), 0, true, 100);
    assert_eq!(
        run(&t, &back(1), 0, true, 99).state,
        TRACKED | ESTABLISHED | REPLY
    );
    assert_eq!(t.counters().created, 1);
    assert_eq!(t.sweep(99), 0);
}

/// Walks (the sweep, the dump) stop past the highest entry ever used: a
/// table that held three connections is read three entries deep, however
/// large, and freed entries are reused before new ones are touched.
#[test]
fn walks_stop_past_the_entries_ever_used() {
    let t = table(100_000);
    assert_eq!(t.touched(), 0);
    for port in 0..3 {
        assert!(run(&t, &out(port), 0, true, 1).result.is_ok());
    }
    assert_eq!((t.touched(), t.dump(1).count()), (3, 3));
    assert_eq!(t.flush(None), 3);
    for port in 10..12 {
        assert!(run(&t, &out(port), 0, true, 2).result.is_ok());
    }
    assert_eq!((t.touched(), t.dump(2).count()), (3, 2));
    // Expired ones are found by the sweep within those entries.
    assert_eq!(t.sweep(2 + 3600), 2);
    assert_eq!(t.len(), 0);
}
