//! IPv6 rules: prefixes, except lists and ports on IPv6 traffic through
//! the bridge (and the tracker), and the classifier held to first-match
//! order over rules and keys of both families.

use std::net::Ipv6Addr;

use super::*;
use crate::flow::FlowKey;

const V6_A: [u8; 16] = v6(0xa);
const V6_B: [u8; 16] = v6(0xb);
const V6_C: [u8; 16] = v6(0xc);

/// fd00::`host`.
const fn v6(host: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0xfd;
    a[15] = host;
    a
}

fn prefix6(addr: [u8; 16], len: u8) -> Prefix {
    Prefix {
        addr: IpAddr::V6(Ipv6Addr::from(addr)),
        len,
    }
}

fn ipv6(dst: Mac, src: Mac, from: [u8; 16], to: [u8; 16], proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    f.extend_from_slice(&[proto, 64]);
    f.extend_from_slice(&from);
    f.extend_from_slice(&to);
    f.extend_from_slice(l4);
    f
}

/// Port 1 (B) takes TCP 80-81 from fd00::/64 except C, denies the rest
/// coming in.
fn web6_acl() -> PortAclSpec {
    PortAclSpec {
        port: 1,
        rules: vec![RuleSpec {
            peers: vec![Peer::Block(IpBlock {
                cidr: prefix6(v6(0), 64),
                except: vec![prefix6(V6_C, 128)],
            })],
            proto: Some(ip_proto::TCP),
            ports: Some((80, 81)),
            ..rule("web6", Direction::Ingress, RuleAction::Allow)
        }],
        default_ingress_allow: false,
        default_egress_allow: true,
    }
}

#[test]
fn an_ipv6_block_with_an_except_list_and_ports_decides_connections() {
    let mut h = harness(web6_acl());
    let syn = ipv6(
        B,
        A,
        V6_A,
        V6_B,
        ip_proto::TCP,
        &tcp(40000, 81, 100, 0, SYN),
    );
    assert_eq!(outs(&mut h, 0, &syn), [1]);
    let syn_ack = ipv6(
        A,
        B,
        V6_B,
        V6_A,
        ip_proto::TCP,
        &tcp(81, 40000, 500, 101, SYN_ACK),
    );
    assert_eq!(outs(&mut h, 1, &syn_ack), [0], "the reply passes");
    // The except list, another port, a UDP datagram to port 80.
    let from_c = ipv6(
        B,
        C,
        V6_C,
        V6_B,
        ip_proto::TCP,
        &tcp(40001, 80, 100, 0, SYN),
    );
    assert!(outs(&mut h, 2, &from_c).is_empty());
    let ssh = ipv6(
        B,
        A,
        V6_A,
        V6_B,
        ip_proto::TCP,
        &tcp(40002, 22, 100, 0, SYN),
    );
    assert!(outs(&mut h, 0, &ssh).is_empty());
    let datagram = ipv6(B, A, V6_A, V6_B, ip_proto::UDP, &udp(5000, 80));
    assert!(outs(&mut h, 0, &datagram).is_empty());
    // An IPv6 block holds no IPv4 address.
    let v4 = ipv4(
        B,
        A,
        IP_A,
        IP_B,
        ip_proto::TCP,
        &tcp(40003, 80, 100, 0, SYN),
    );
    assert!(outs(&mut h, 0, &v4).is_empty());
    assert_eq!(denied(&h), 4);
    let acl = h.dp.acl(1).unwrap();
    assert_eq!(acl.rules[0].hits.load(Ordering::Relaxed), 1);
}

#[test]
fn an_ipv6_egress_rule_and_the_replies_of_what_it_allows() {
    let acl = PortAclSpec {
        port: 1,
        rules: vec![RuleSpec {
            peers: vec![Peer::Block(IpBlock {
                cidr: prefix6(V6_A, 127),
                except: vec![],
            })],
            proto: Some(ip_proto::UDP),
            ports: Some((53, 53)),
            ..rule("dns6", Direction::Egress, RuleAction::Allow)
        }],
        default_ingress_allow: false,
        default_egress_allow: false,
    };
    let mut h = harness(acl);
    let query = ipv6(A, B, V6_B, V6_A, ip_proto::UDP, &udp(5353, 53));
    assert_eq!(outs(&mut h, 1, &query), [0]);
    let answer = ipv6(B, A, V6_A, V6_B, ip_proto::UDP, &udp(53, 5353));
    assert_eq!(outs(&mut h, 0, &answer), [1], "+est+rpl passes");
    // fd00::c is outside fd00::a/127.
    let elsewhere = ipv6(C, B, V6_B, V6_C, ip_proto::UDP, &udp(5353, 53));
    assert!(outs(&mut h, 1, &elsewhere).is_empty());
    assert_eq!(denied(&h), 1);
}

mod classifier_agrees_on_both_families {
    use proptest::prelude::*;

    use super::*;

    /// A block of either family around hosts 0 to 3, maybe with a host
    /// excepted.
    fn block() -> impl Strategy<Value = Peer> {
        (any::<bool>(), 0u8..4, 0u8..=8, proptest::option::of(0u8..4)).prop_map(
            |(ipv6, host, short, except)| {
                let host_prefix = |h: u8, len: u8| {
                    if ipv6 {
                        let bits = u128::from_be_bytes(v6(h)) & (u128::MAX << (128 - len));
                        prefix6(bits.to_be_bytes(), len)
                    } else {
                        let bits = u32::from_be_bytes([10, 0, 0, h]) & (u32::MAX << (32 - len));
                        prefix(bits.to_be_bytes(), len)
                    }
                };
                let width = if ipv6 { 128 } else { 32 };
                Peer::Block(IpBlock {
                    cidr: host_prefix(host, width - short),
                    except: except.map(|h| host_prefix(h, width)).into_iter().collect(),
                })
            },
        )
    }

    fn rule_spec() -> impl Strategy<Value = RuleSpec> {
        (
            any::<bool>(),
            0u8..3,
            proptest::collection::vec(block(), 0..3),
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

    proptest! {
        #[test]
        fn with_the_rules_in_order(
            rules in proptest::collection::vec(rule_spec(), 0..40),
            ipv6: bool, host in 0u8..5, proto in prop_oneof![Just(6u8), Just(17u8), Just(58u8)],
            port in 76u16..84, ingress: bool,
        ) {
            let acl = PortAcl::new(&PortAclSpec {
                port: 9,
                rules: rules.clone(),
                default_ingress_allow: false,
                default_egress_allow: true,
            });
            let mut key = FlowKey {
                ethertype: if ipv6 { ethertype::IPV6 } else { ethertype::IPV4 },
                ip_proto: proto,
                l4_dst: port,
                ..FlowKey::default()
            };
            let addr = if ipv6 { v6(host) } else {
                let mut a = [0u8; 16];
                a[..4].copy_from_slice(&[10, 0, 0, host]);
                a
            };
            key.ip_src = addr;
            key.ip_dst = addr;
            let direction = if ingress { Direction::Ingress } else { Direction::Egress };
            let got = acl.decide(direction, &key, 0, 1, false).rule;
            let want = rules.iter().position(|r| {
                r.direction == direction && r.action != RuleAction::Log && r.matches(&key, 0)
            });
            prop_assert_eq!(got, want);
        }
    }
}
