//! Two workers driving the two directions of the same connections.

use std::sync::{Arc, Barrier};
use std::thread;

use super::frames::*;
use crate::conntrack::{ConnTable, ConntrackConfig, TcpState};
use crate::context::ct_state::{ESTABLISHED, INVALID, REPLY};
use crate::wire::ip_proto;
use crate::wire::tcp::flags::{ACK, SYN};

const CONNECTIONS: u16 = 2_000;

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
