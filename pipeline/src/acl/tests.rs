//! ACLs through the whole datapath: three ports on one bridge, the rules
//! on port 1, the tracker in front of them.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::*;
use crate::conntrack::{ConnTable, Conntrack, ConntrackConfig};
use crate::datapath::tests::{frame, port, spec, Harness, A, B, C};
use crate::datapath::{Datapath, VlanMode};
use crate::drop::DropReason;
use crate::flow::Mac;
use crate::wire::ip_proto;

const IP_A: [u8; 4] = [10, 0, 0, 10];
const IP_B: [u8; 4] = [10, 0, 0, 11];
const IP_C: [u8; 4] = [10, 0, 0, 12];
const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;

fn prefix(addr: [u8; 4], len: u8) -> Prefix {
    Prefix {
        addr: IpAddr::V4(Ipv4Addr::from(addr)),
        len,
    }
}

fn rule(name: &str, direction: Direction, action: RuleAction) -> RuleSpec {
    RuleSpec {
        name: name.into(),
        direction,
        action,
        peers: vec![],
        proto: None,
        ports: None,
    }
}

/// Port 1 (B) takes TCP 80-81 from 10.0.0.0/24 except C, denies the rest
/// coming in; it may send anything.
fn web_acl() -> PortAclSpec {
    PortAclSpec {
        port: 1,
        rules: vec![RuleSpec {
            peers: vec![Peer::Block(IpBlock {
                cidr: prefix([10, 0, 0, 0], 24),
                except: vec![prefix(IP_C, 32)],
            })],
            proto: Some(ip_proto::TCP),
            ports: Some((80, 81)),
            ..rule("web", Direction::Ingress, RuleAction::Allow)
        }],
        default_ingress_allow: false,
        default_egress_allow: true,
    }
}

/// The bridge with `acl`, a tracker, and every MAC learned.
fn harness(acl: PortAclSpec) -> Harness {
    let mut spec = spec((0..3).map(|id| port(id, VlanMode::default())).collect());
    spec.acls = vec![acl];
    let mut h = Harness::new(vec![]);
    h.dp = Datapath::new(&spec, 42).unwrap();
    h.stats = crate::stats::Stats::new(h.dp.port_count());
    let table = Arc::new(ConnTable::with_config(ConntrackConfig::default()));
    h.runner.set_conntrack(Box::new(Conntrack::new(table)));
    for (p, mac) in [(0, A), (1, B), (2, C)] {
        h.send(p, &frame([0xff; 6], mac, None), 1);
    }
    h
}

fn ipv4(dst: Mac, src: Mac, from: [u8; 4], to: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
    f.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&from);
    f.extend_from_slice(&to);
    f.extend_from_slice(l4);
    f
}

fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&seq.to_be_bytes());
    s.extend_from_slice(&ack.to_be_bytes());
    s.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    s
}

fn udp(sport: u16, dport: u16) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&[0, 12, 0, 0, b'h', b'i', b'!', b'!']);
    s
}

/// The ports `f` sent in on `port` went out of.
fn outs(h: &mut Harness, port: PortId, f: &[u8]) -> Vec<PortId> {
    h.send(port, f, 2).into_iter().map(|(p, _)| p).collect()
}

fn denied(h: &Harness) -> u64 {
    h.stats
        .ports
        .iter()
        .map(|p| p.drops[DropReason::AclDenied as usize])
        .sum()
}

#[test]
fn an_allowed_connection_and_its_replies_pass_others_are_denied() {
    let mut h = harness(web_acl());
    let syn = ipv4(
        B,
        A,
        IP_A,
        IP_B,
        ip_proto::TCP,
        &tcp(40000, 80, 100, 0, SYN),
    );
    assert_eq!(outs(&mut h, 0, &syn), [1]);
    let syn_ack = ipv4(
        A,
        B,
        IP_B,
        IP_A,
        ip_proto::TCP,
        &tcp(80, 40000, 500, 101, SYN_ACK),
    );
    assert_eq!(outs(&mut h, 1, &syn_ack), [0], "the reply passes");
    // The except list: C is inside 10.0.0.0/24 but not allowed.
    let from_c = ipv4(
        B,
        C,
        IP_C,
        IP_B,
        ip_proto::TCP,
        &tcp(40001, 80, 100, 0, SYN),
    );
    assert!(outs(&mut h, 2, &from_c).is_empty());
    // Another port, and another protocol: the default denies.
    let other_port = ipv4(
        B,
        A,
        IP_A,
        IP_B,
        ip_proto::TCP,
        &tcp(40002, 22, 100, 0, SYN),
    );
    assert!(outs(&mut h, 0, &other_port).is_empty());
    let datagram = ipv4(B, A, IP_A, IP_B, ip_proto::UDP, &udp(5000, 80));
    assert!(outs(&mut h, 0, &datagram).is_empty());
    assert_eq!(denied(&h), 3);
    let acl = h.dp.acl(1).unwrap();
    assert_eq!(acl.rules[0].hits.load(Ordering::Relaxed), 1);
}

#[test]
fn a_connection_the_endpoint_starts_gets_its_replies_through_a_default_deny() {
    let mut h = harness(web_acl());
    let query = ipv4(A, B, IP_B, IP_A, ip_proto::UDP, &udp(5353, 53));
    assert_eq!(outs(&mut h, 1, &query), [0]);
    let answer = ipv4(B, A, IP_A, IP_B, ip_proto::UDP, &udp(53, 5353));
    assert_eq!(outs(&mut h, 0, &answer), [1], "+est+rpl passes");
    assert_eq!(outs(&mut h, 0, &answer), [1], "again, from the flow cache");
    // The same datagram from another source port starts a connection.
    let stranger = ipv4(B, A, IP_A, IP_B, ip_proto::UDP, &udp(54, 5353));
    assert!(outs(&mut h, 0, &stranger).is_empty());
    assert_eq!(denied(&h), 1);
}

#[test]
fn rules_apply_in_order_and_log_rules_go_on() {
    let mut acl = web_acl();
    acl.rules
        .insert(0, rule("watch", Direction::Ingress, RuleAction::Log));
    acl.rules.insert(
        1,
        RuleSpec {
            peers: vec![Peer::Ports(vec![0])],
            ..rule("block-a", Direction::Ingress, RuleAction::Deny)
        },
    );
    let mut h = harness(acl);
    let syn = ipv4(
        B,
        A,
        IP_A,
        IP_B,
        ip_proto::TCP,
        &tcp(40000, 80, 100, 0, SYN),
    );
    assert!(outs(&mut h, 0, &syn).is_empty(), "block-a comes before web");
    let acl = h.dp.acl(1).unwrap();
    let hits: Vec<u64> = acl
        .rules
        .iter()
        .map(|r| r.hits.load(Ordering::Relaxed))
        .collect();
    assert_eq!(hits, [1, 1, 0]);
}

#[test]
fn egress_rules_decide_what_the_endpoint_sends() {
    let mut acl = web_acl();
    acl.default_egress_allow = false;
    acl.rules.push(RuleSpec {
        proto: Some(ip_proto::UDP),
        ports: Some((53, 53)),
        ..rule("dns", Direction::Egress, RuleAction::Allow)
    });
    let mut h = harness(acl);
    let query = ipv4(A, B, IP_B, IP_A, ip_proto::UDP, &udp(5353, 53));
    assert_eq!(outs(&mut h, 1, &query), [0]);
    let other = ipv4(A, B, IP_B, IP_A, ip_proto::UDP, &udp(5353, 123));
    assert!(outs(&mut h, 1, &other).is_empty());
    // Traffic between ports without ACLs is not tracked nor denied.
    let between = ipv4(C, A, IP_A, IP_C, ip_proto::UDP, &udp(1, 2));
    assert_eq!(outs(&mut h, 0, &between), [2]);
    assert_eq!(denied(&h), 1);
}

#[test]
fn arp_and_other_non_ip_frames_pass() {
    let mut h = harness(web_acl());
    assert_eq!(outs(&mut h, 0, &frame(B, A, None)), [1]);
}

#[test]
fn two_acls_on_one_port_are_refused() {
    let mut spec = spec((0..2).map(|id| port(id, VlanMode::default())).collect());
    spec.acls = vec![web_acl(), web_acl()];
    assert!(Datapath::new(&spec, 1).is_err());
    spec.acls = vec![PortAclSpec {
        port: 7,
        ..web_acl()
    }];
    assert!(Datapath::new(&spec, 1).is_err());
}

mod classifier_agrees {
    use proptest::prelude::*;

    use super::*;
    use crate::flow::FlowKey;

    fn block() -> impl Strategy<Value = Peer> {
        (0u8..4, 24u8..=32, proptest::option::of(0u8..4)).prop_map(|(host, len, except)| {
            let cidr = Prefix {
                addr: IpAddr::V4(Ipv4Addr::from(
                    u32::from_be_bytes([10, 0, 0, host]) & (u32::MAX << (32 - len)),
                )),
                len,
            };
            Peer::Block(IpBlock {
                cidr,
                except: except
                    .map(|h| prefix([10, 0, 0, h], 32))
                    .into_iter()
                    .collect(),
            })
        })
    }

    fn rule_spec() -> impl Strategy<Value = RuleSpec> {
        let peer = prop_oneof![
            block(),
            proptest::collection::vec(0u16..3, 0..3).prop_map(|mut p| {
                p.sort_unstable();
                p.dedup();
                Peer::Ports(p)
            })
        ];
        (
            any::<bool>(),
            0u8..3,
            proptest::collection::vec(peer, 0..3),
            proptest::option::of(prop_oneof![Just(6u8), Just(17u8)]),
            proptest::option::of((78u16..82, prop_oneof![Just(0u16), Just(2), Just(100)])),
        )
            .prop_map(|(ingress, action, peers, proto, ports)| RuleSpec {
                name: "r".into(),
                direction: if ingress {
                    Direction::Ingress
                } else {
                    Direction::Egress
                },
                action: [RuleAction::Allow, RuleAction::Deny, RuleAction::Log][action as usize],
                peers,
                proto,
                ports: ports.map(|(first, width)| (first, first + width)),
            })
    }

    /// First match in order, as the rules read.
    fn reference(
        rules: &[RuleSpec],
        direction: Direction,
        key: &FlowKey,
        peer: PortId,
    ) -> Option<usize> {
        rules.iter().position(|r| {
            r.direction == direction && r.action != RuleAction::Log && r.matches(key, peer)
        })
    }

    proptest! {
        #[test]
        fn with_the_rules_in_order(
            rules in proptest::collection::vec(rule_spec(), 0..40),
            host in 0u8..5, proto in prop_oneof![Just(6u8), Just(17u8), Just(1u8)],
            port in 76u16..84, peer in 0u16..4, ingress: bool,
        ) {
            let acl = PortAcl::new(&PortAclSpec {
                port: 9,
                rules: rules.clone(),
                default_ingress_allow: false,
                default_egress_allow: true,
            });
            let mut key = FlowKey {
                ethertype: crate::wire::ethernet::ethertype::IPV4,
                ip_proto: proto,
                l4_dst: port,
                ..FlowKey::default()
            };
            let addr = [10, 0, 0, host];
            key.ip_src[..4].copy_from_slice(&addr);
            key.ip_dst[..4].copy_from_slice(&addr);
            let direction = if ingress { Direction::Ingress } else { Direction::Egress };
            let got = acl.decide(direction, &key, peer, 1, false).rule;
            prop_assert_eq!(got, reference(&rules, direction, &key, peer));
        }
    }
}

#[test]
fn neighbour_discovery_passes_a_default_deny() {
    let mut h = harness(web_acl());
    // A neighbour solicitation from A to B (ICMPv6 type 135).
    let mut f = Vec::new();
    f.extend_from_slice(&B);
    f.extend_from_slice(&A);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 24, ip_proto::ICMPV6, 255]);
    f.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa]);
    f.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xb]);
    f.extend_from_slice(&[135, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xb]);
    assert_eq!(outs(&mut h, 0, &f), [1]);
    assert_eq!(denied(&h), 0);
}

#[path = "routed_tests.rs"]
mod routed;

#[path = "ipv6_tests.rs"]
mod ipv6;
