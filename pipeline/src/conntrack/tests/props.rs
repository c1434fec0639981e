//! Random packets: the tracker never panics, never creates an entry
//! without commit, and keeps its counts and bounds.

use proptest::prelude::*;

use super::frames::*;
use crate::conntrack::{ConnTable, ConntrackConfig};
use crate::context::ct_state;
use crate::parse::parse;
use crate::wire::ip_proto;

/// One random packet between two hosts, on few ports and sequence numbers
/// near each other, so that random sequences hit the same connections.
#[derive(Debug, Clone)]
enum Packet {
    Tcp {
        forward: bool,
        port: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        len: usize,
        wscale: Option<u8>,
    },
    Udp {
        forward: bool,
        port: u16,
    },
    Echo {
        forward: bool,
        request: bool,
        ident: u16,
    },
    Error {
        forward: bool,
        quoted: Box<Packet>,
        cut: usize,
    },
    Raw(Vec<u8>),
}

fn packet() -> impl Strategy<Value = Packet> {
    let leaf = prop_oneof![
        (
            any::<bool>(),
            1u16..4,
            0u32..3000,
            0u32..3000,
            any::<u8>(),
            0usize..1500,
            proptest::option::of(0u8..16)
        )
            .prop_map(
                |(forward, port, seq, ack, flags, len, wscale)| Packet::Tcp {
                    forward,
                    port,
                    seq,
                    ack,
                    flags,
                    len,
                    wscale
                }
            ),
        (any::<bool>(), 1u16..4).prop_map(|(forward, port)| Packet::Udp { forward, port }),
        (any::<bool>(), any::<bool>(), 1u16..3).prop_map(|(forward, request, ident)| {
            Packet::Echo {
                forward,
                request,
                ident,
            }
        }),
        proptest::collection::vec(any::<u8>(), 0..120).prop_map(Packet::Raw),
    ];
    leaf.prop_recursive(1, 4, 1, |inner| {
        (any::<bool>(), inner, 0usize..64).prop_map(|(forward, quoted, cut)| Packet::Error {
            forward,
            quoted: Box::new(quoted),
            cut,
        })
    })
}

fn ends(forward: bool) -> ([u8; 4], [u8; 4]) {
    if forward {
        (A, B)
    } else {
        (B, A)
    }
}

fn frame(p: &Packet) -> Vec<u8> {
    match p {
        Packet::Raw(bytes) => bytes.clone(),
        Packet::Error {
            forward,
            quoted,
            cut,
        } => {
            let inner = frame(quoted);
            let quoted_ip = inner.get(14..).unwrap_or_default();
            let quoted_ip = &quoted_ip[..quoted_ip.len().saturating_sub(*cut)];
            let (src, dst) = ends(*forward);
            ipv4(src, dst, ip_proto::ICMP, &icmp_error(3, 1, quoted_ip))
        }
        _ => {
            let (forward, l4, proto) = match p {
                Packet::Tcp {
                    forward,
                    port,
                    seq,
                    ack,
                    flags,
                    len,
                    wscale,
                } => {
                    let (s, d) = if *forward {
                        (1000 + port, 80)
                    } else {
                        (80, 1000 + port)
                    };
                    (
                        *forward,
                        tcp(s, d, *seq, *ack, *flags, 65535, *wscale, *len),
                        ip_proto::TCP,
                    )
                }
                Packet::Udp { forward, port } => {
                    let (s, d) = if *forward {
                        (5000 + port, 53)
                    } else {
                        (53, 5000 + port)
                    };
                    (*forward, udp(s, d), ip_proto::UDP)
                }
                Packet::Echo {
                    forward,
                    request,
                    ident,
                } => (
                    *forward,
                    echo(if *request { 8 } else { 0 }, *ident, 1),
                    ip_proto::ICMP,
                ),
                Packet::Raw(_) | Packet::Error { .. } => unreachable!("matched above"),
            };
            let (src, dst) = ends(forward);
            ipv4(src, dst, proto, &l4)
        }
    }
}

proptest! {
    #[test]
    fn random_packets_keep_the_table_sound(
        packets in proptest::collection::vec((packet(), any::<bool>(), 0u32..3), 1..48),
    ) {
        let uncommitted = ConnTable::with_config(ConntrackConfig { limit: 8, ..ConntrackConfig::default() });
        let committed = ConnTable::with_config(ConntrackConfig { limit: 8, ..ConntrackConfig::default() });
        let mut now = 0;
        for (p, commit, advance) in &packets {
            let bytes = frame(p);
            let Ok(parsed) = parse(&bytes) else { continue };
            now += advance;
            let v = uncommitted.track(&bytes, &parsed, 0, false, now, false);
            prop_assert!(v.result.is_ok());
            prop_assert!(v.state & ct_state::TRACKED != 0);
            let v = committed.track(&bytes, &parsed, 0, *commit, now, false);
            let bits = v.state;
            // Exactly one of NEW, ESTABLISHED, RELATED, INVALID.
            let kinds = [ct_state::NEW, ct_state::ESTABLISHED, ct_state::RELATED, ct_state::INVALID];
            prop_assert_eq!(kinds.iter().filter(|&&k| bits & k != 0).count(), 1, "bits {:#x}", bits);
            prop_assert!(committed.len() <= committed.capacity());
        }
        prop_assert!(uncommitted.is_empty());
        prop_assert_eq!(uncommitted.counters().created, 0);
        let listed: Vec<_> = committed.dump(now).collect();
        prop_assert!(listed.len() <= committed.len() as usize);
        for c in &listed {
            prop_assert_eq!(c.reply, c.original.reversed());
        }
        let len = committed.len() as usize;
        prop_assert_eq!(committed.flush(None), len);
        prop_assert!(committed.is_empty());
    }
}
