//! Two workers driving the two directions of the same connections.

use std::sync::{Arc, Barrier};
use std::thread;

use std::net::Ipv4Addr;

use super::frames::*;
use crate::conntrack::table::{InsertError, State};
use crate::conntrack::track::Verdict;
use crate::conntrack::{ConnTable, ConntrackConfig, NatRequest, Snat, TcpState, Tuple, Window};
use crate::context::ct_state::{ESTABLISHED, INVALID, REPLY};
use crate::context::ChecksumState;
use crate::parse::parse;
use crate::wire::ip_proto;
use crate::wire::tcp::flags::{ACK, SYN};

const CONNECTIONS: u16 = 2_000;

/// The remote end of the masqueraded connections.
const REMOTE: [u8; 4] = [198, 51, 100, 7];

/// Each worker sends one direction of every UDP connection, both
/// committing, at the same time: whichever direction comes first creates
/// the connection, and a connection is never stored twice.
#[test]
fn two_workers_create_each_connection_once() {
    let table = Arc::new(ConnTable::with_config(ConntrackConfig {
        limit: 4 * u32::from(CONNECTIONS),
        ..ConntrackConfig::default()
    }));
    let start = Arc::new(Barrier::new(2));
    let workers: Vec<_> = [true, false]
        .into_iter()
        .map(|forward| {
            let (table, start) = (Arc::clone(&table), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                for round in 0..3 {
                    for port in 0..CONNECTIONS {
                        let frame = if forward {
                            ipv4(A, B, ip_proto::UDP, &udp(10_000 + port, 53))
                        } else {
                            ipv4(B, A, ip_proto::UDP, &udp(53, 10_000 + port))
                        };
                        let verdict = run(&table, &frame, 0, true, round);
                        assert!(verdict.result.is_ok());
                        assert_eq!(verdict.state & INVALID, 0);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker panicked");
    }
    assert_eq!(table.len(), u32::from(CONNECTIONS));
    assert_eq!(table.dump(3).count(), usize::from(CONNECTIONS));
    for port in 0..CONNECTIONS {
        let out = ipv4(A, B, ip_proto::UDP, &udp(10_000 + port, 53));
        let back = ipv4(B, A, ip_proto::UDP, &udp(53, 10_000 + port));
        let (o, b) = (
            run(&table, &out, 0, true, 3).state,
            run(&table, &back, 0, true, 3).state,
        );
        // One entry: one direction is its reply.
        assert_eq!((o & REPLY) ^ (b & REPLY), REPLY, "port {port}");
        assert!(o & ESTABLISHED != 0 && b & ESTABLISHED != 0);
    }
}

/// Data both ways on one established TCP connection, each direction from
/// its own worker: the window merges keep every segment in window.
#[test]
fn two_workers_on_one_tcp_connection() {
    let table = Arc::new(ConnTable::with_config(ConntrackConfig::default()));
    let c = Conversation {
        table: &table,
        now: 1,
    };
    c.client(100, 0, SYN, 0);
    c.server(5000, 101, SYN | ACK, 0);
    c.client(101, 5001, ACK, 0);
    const SEGMENTS: u32 = 3_000;
    let workers: Vec<_> = [true, false]
        .into_iter()
        .map(|client| {
            let table = Arc::clone(&table);
            thread::spawn(move || {
                let c = Conversation {
                    table: &table,
                    now: 1,
                };
                for i in 0..SEGMENTS {
                    // Each side acknowledges only the other's handshake:
                    // 30000 bytes stay within the 66000-byte ack window.
                    let verdict = if client {
                        c.client(101 + 10 * i, 5001, ACK, 10)
                    } else {
                        c.server(5001 + 10 * i, 101, ACK, 10)
                    };
                    assert_eq!(verdict.state & INVALID, 0, "segment {i}");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker panicked");
    }
    let info = table.dump(1).next().expect("tracked");
    assert_eq!(info.tcp_state, Some(TcpState::Established));
    assert_eq!(info.windows[0].end, 101 + 10 * SEGMENTS);
    assert_eq!(info.windows[1].end, 5001 + 10 * SEGMENTS);
}

/// Masquerade of `frame` to 203.0.113.1, ports `ports`, committed.
fn masquerade(table: &ConnTable, frame: &mut [u8], ports: (u16, u16)) -> Verdict {
    let parsed = parse(frame).expect("test frames parse");
    let nat = NatRequest::Snat(Snat {
        addr: Ipv4Addr::new(203, 0, 113, 1),
        ports,
    });
    table
        .track_nat(
            frame,
            &parsed,
            ChecksumState::Complete,
            0,
            true,
            nat,
            1,
            false,
        )
        .0
}

/// A 16-byte tuple address of an IPv4 address.
fn v4(addr: [u8; 4]) -> [u8; 16] {
    let mut wide = [0; 16];
    wide[..4].copy_from_slice(&addr);
    wide
}

/// A connection whose translated reply tuple another connection already
/// holds is refused by the table (what the later of two racing workers
/// meets), and the first keeps its replies.
#[test]
fn a_translated_reply_tuple_is_stored_once() {
    let table = ConnTable::with_config(ConntrackConfig::default());
    let first = Tuple {
        zone: 0,
        proto: ip_proto::UDP,
        ipv6: false,
        src: v4(A),
        dst: v4(REMOTE),
        src_port: 1000,
        dst_port: 53,
    };
    let second = Tuple {
        src: v4(B),
        ..first
    };
    let reply = Tuple {
        src: v4(REMOTE),
        dst: v4([203, 0, 113, 1]),
        src_port: 53,
        dst_port: 40_000,
        ..first
    };
    let state = State {
        last_seen: 1,
        tcp: 0,
        reply_seen: false,
        fins: 0,
    };
    let windows = [Window::default(); 2];
    assert!(table
        .insert(&first, &reply, true, state, windows, 1)
        .is_ok());
    assert_eq!(
        table.insert(&second, &reply, true, state, windows, 1).err(),
        Some(InsertError::ReplyTaken)
    );
    assert_eq!(table.len(), 1);
    let found = table.find(&table.key(&reply)).expect("the first keeps it");
    assert!(found.reply);
    assert_eq!(
        table.entry(found.index).tuple_words(false),
        first.to_words()
    );
}

/// Two workers masquerade connections of two containers to one remote
/// over a port range twice as large as they need, at the same time (each
/// connection's search starts where its tuple hashes, so searches cross):
/// every connection gets a port, and no two share one.
#[test]
fn two_workers_never_give_one_port_to_two_connections() {
    const EACH: u16 = 1_000;
    // A race is a matter of timing: several tables make one likely.
    const ROUNDS: usize = 8;
    let ports = (20_000, 20_000 + 4 * EACH - 1);
    for round in 0..ROUNDS {
        let table = Arc::new(ConnTable::with_config(ConntrackConfig {
            limit: 4 * u32::from(EACH),
            ..ConntrackConfig::default()
        }));
        let start = Arc::new(Barrier::new(2));
        let workers: Vec<_> = [A, B]
            .into_iter()
            .map(|source| {
                let (table, start) = (Arc::clone(&table), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    for port in 0..EACH {
                        let mut frame =
                            ipv4(source, REMOTE, ip_proto::UDP, &udp(10_000 + port, 53));
                        let verdict = masquerade(&table, &mut frame, ports);
                        assert!(
                            verdict.result.is_ok(),
                            "{source:?} port {port}: {verdict:?}"
                        );
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("worker panicked");
        }
        let mut given: Vec<u16> = table.dump(1).map(|c| c.reply.dst_port).collect();
        assert_eq!(given.len(), 2 * usize::from(EACH), "round {round}");
        given.sort_unstable();
        given.dedup();
        assert_eq!(
            given.len(),
            2 * usize::from(EACH),
            "round {round}: a port given twice"
        );
    }
}
