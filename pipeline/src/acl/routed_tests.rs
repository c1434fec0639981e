//! ACLs on routed traffic: network a (c1, bridge 0) and network b (c2,
//! bridge 1) route to each other, a leaves by the uplink (to its router,
//! resolved statically); the rules on the containers' ports decide what
//! the gateway routes, also translated (masquerade, a published port).

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::datapath::BridgeSpec;
use crate::l3::{NetworkSpec, Publish, DEFAULT_NAT_PORTS};
use crate::overlay::UplinkSpec;

const C1: PortId = 0;
const C2: PortId = 1;
const UP: PortId = 2;
const H1: [u8; 4] = [10, 1, 0, 2];
const H2: [u8; 4] = [10, 2, 0, 2];
const OUTSIDE: [u8; 4] = [198, 51, 100, 7];
const ELSEWHERE: [u8; 4] = [203, 0, 113, 9];
const UPLINK_ADDR: [u8; 4] = [192, 0, 2, 1];
const GW_A: Mac = [0x02, 0x47, 0, 0, 0, 0xa];
const GW_B: Mac = [0x02, 0x47, 0, 0, 0, 0xb];
const UPLINK_MAC: Mac = [0x02, 0, 0, 0, 0xee, 1];
const ROUTER_MAC: Mac = [0x02, 0, 0, 0, 0xee, 0xfe];

fn network(name: &str, bridge: usize, third: u8, mac: Mac, routes_to: usize) -> NetworkSpec {
    NetworkSpec {
        name: name.into(),
        bridge,
        vlan: 0,
        subnet: (Ipv4Addr::new(10, third, 0, 0), 24),
        gateway: Ipv4Addr::new(10, third, 0, 1),
        gateway_mac: mac,
        subnet6: None,
        gateway6: None,
        routes_to: vec![routes_to],
        uplink: None,
        masquerade: false,
        nat_ports: DEFAULT_NAT_PORTS,
        publish: vec![],
        icc: true,
    }
}

/// The two networks with `acls`, network a as `edit` makes it; and the
/// tracker's table.
fn routed_harness(
    acls: Vec<PortAclSpec>,
    edit: impl FnOnce(&mut NetworkSpec),
) -> (Harness, Arc<ConnTable>) {
    let bridge = |name: &str| BridgeSpec {
        name: name.into(),
        mac_aging_secs: 300,
        mac_limit: 1000,
        static_macs: vec![],
    };
    let mut a = network("a", 0, 1, GW_A, 1);
    a.uplink = Some(0);
    edit(&mut a);
    let mut spec = crate::datapath::tests::spec(vec![
        port(C1, VlanMode::default()),
        crate::datapath::PortSpec {
            bridge: 1,
            ..port(C2, VlanMode::default())
        },
    ]);
    spec.bridges = vec![bridge("br0"), bridge("br1")];
    spec.networks = vec![a, network("b", 1, 2, GW_B, 0)];
    spec.uplinks = vec![UplinkSpec {
        id: UP,
        name: "up".into(),
        mac: UPLINK_MAC,
        addresses: vec![(IpAddr::from(UPLINK_ADDR), 24)],
        gateway: Some(IpAddr::from([192, 0, 2, 254])),
        mtu: 1500,
        static_neighbours: vec![(IpAddr::from([192, 0, 2, 254]), ROUTER_MAC)],
    }];
    spec.acls = acls;
    let mut h = Harness::new(vec![]);
    h.dp = Datapath::new(&spec, 42).unwrap();
    h.stats = crate::stats::Stats::new(h.dp.port_count());
    let table = Arc::new(ConnTable::with_config(ConntrackConfig::default()));
    h.runner
        .set_conntrack(Box::new(Conntrack::new(Arc::clone(&table))));
    // Each container asks for its gateway: the gateway learns where it is.
    for (p, mac, ip, gateway) in [(C1, A, H1, [10, 1, 0, 1]), (C2, B, H2, [10, 2, 0, 1])] {
        assert_eq!(outs(&mut h, p, &arp_request(mac, ip, gateway)), [p]);
    }
    (h, table)
}

fn arp_request(from: Mac, sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&from);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&from);
    f.extend_from_slice(&sender);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target);
    f
}

fn c2_takes_http_from_network_a() -> PortAclSpec {
    PortAclSpec {
        port: C2,
        rules: vec![RuleSpec {
            peers: vec![Peer::Block(IpBlock {
                cidr: prefix([10, 1, 0, 0], 24),
                except: vec![],
            })],
            proto: Some(ip_proto::TCP),
            ports: Some((80, 80)),
            ..rule("http-from-a", Direction::Ingress, RuleAction::Allow)
        }],
        default_ingress_allow: false,
        default_egress_allow: true,
    }
}

#[test]
fn ingress_rules_decide_what_the_gateway_routes_to_the_endpoint() {
    let (mut h, _) = routed_harness(vec![c2_takes_http_from_network_a()], |_| {});
    let syn = ipv4(GW_A, A, H1, H2, ip_proto::TCP, &tcp(40000, 80, 100, 0, SYN));
    assert_eq!(outs(&mut h, C1, &syn), [C2]);
    let syn_ack = ipv4(
        GW_B,
        B,
        H2,
        H1,
        ip_proto::TCP,
        &tcp(80, 40000, 500, 101, SYN_ACK),
    );
    assert_eq!(outs(&mut h, C2, &syn_ack), [C1], "the reply is routed back");
    let ssh = ipv4(GW_A, A, H1, H2, ip_proto::TCP, &tcp(40001, 22, 100, 0, SYN));
    assert!(outs(&mut h, C1, &ssh).is_empty());
    assert_eq!(denied(&h), 1);
    // c2 may start connections to network a (no rules there).
    let query = ipv4(GW_B, B, H2, H1, ip_proto::UDP, &udp(5353, 53));
    assert_eq!(outs(&mut h, C2, &query), [C1]);
    let acl = h.dp.acl(C2).unwrap();
    assert_eq!(acl.rules[0].hits.load(Ordering::Relaxed), 1);
}

/// c1 may send DNS to OUTSIDE only; nothing may start towards it.
fn c1_sends_dns_out_only() -> PortAclSpec {
    PortAclSpec {
        port: C1,
        rules: vec![RuleSpec {
            peers: vec![Peer::Block(IpBlock {
                cidr: prefix(OUTSIDE, 32),
                except: vec![],
            })],
            proto: Some(ip_proto::UDP),
            ports: Some((53, 53)),
            ..rule("dns-out", Direction::Egress, RuleAction::Allow)
        }],
        default_ingress_allow: false,
        default_egress_allow: false,
    }
}

#[test]
fn egress_rules_decide_what_leaves_by_the_uplink_and_replies_come_back() {
    let (mut h, _) = routed_harness(vec![c1_sends_dns_out_only()], |_| {});
    let query = ipv4(GW_A, A, H1, OUTSIDE, ip_proto::UDP, &udp(5000, 53));
    assert_eq!(outs(&mut h, C1, &query), [UP]);
    let answer = ipv4(
        UPLINK_MAC,
        ROUTER_MAC,
        OUTSIDE,
        H1,
        ip_proto::UDP,
        &udp(53, 5000),
    );
    assert_eq!(
        outs(&mut h, UP, &answer),
        [C1],
        "+est+rpl through the default deny"
    );
    let other = ipv4(GW_A, A, H1, OUTSIDE, ip_proto::UDP, &udp(5000, 54));
    assert!(outs(&mut h, C1, &other).is_empty());
    let stranger = ipv4(
        UPLINK_MAC,
        ROUTER_MAC,
        OUTSIDE,
        H1,
        ip_proto::UDP,
        &udp(53, 5001),
    );
    assert!(outs(&mut h, UP, &stranger).is_empty());
    assert_eq!(denied(&h), 2);
}

#[test]
fn masqueraded_connections_are_decided_and_denied_ones_leave_no_nat_entry() {
    let (mut h, table) = routed_harness(vec![c1_sends_dns_out_only()], |a| a.masquerade = true);
    let query = ipv4(GW_A, A, H1, OUTSIDE, ip_proto::UDP, &udp(5000, 53));
    let misses = h.runner.cache.counters.misses;
    let out = h.send(C1, &query, 2);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0, &out[0].1[26..30]), (UP, &UPLINK_ADDR[..]));
    assert_eq!(
        h.runner.cache.counters.misses - misses,
        1,
        "allowed as new: tracked on the way out, one pass"
    );
    let sport = u16::from_be_bytes([out[0].1[34], out[0].1[35]]);
    let answer = ipv4(
        UPLINK_MAC,
        ROUTER_MAC,
        OUTSIDE,
        UPLINK_ADDR,
        ip_proto::UDP,
        &udp(53, sport),
    );
    assert_eq!(
        outs(&mut h, UP, &answer),
        [C1],
        "translated back and let in"
    );
    let entries = table.counters().entries;
    let other = ipv4(GW_A, A, H1, OUTSIDE, ip_proto::UDP, &udp(5000, 54));
    assert!(outs(&mut h, C1, &other).is_empty());
    assert_eq!(denied(&h), 1);
    let acl = h.dp.acl(C1).unwrap();
    assert_eq!(
        acl.rules[0].hits.load(Ordering::Relaxed),
        1,
        "the one decision of the allowed connection, counted once"
    );
    assert_eq!(
        table.counters().entries,
        entries,
        "the denied one was not committed"
    );
}

#[test]
fn a_published_port_is_decided_on_the_container_address_and_port() {
    let takes_port_80_from_outside = PortAclSpec {
        port: C1,
        rules: vec![RuleSpec {
            peers: vec![Peer::Block(IpBlock {
                cidr: prefix([198, 51, 100, 0], 24),
                except: vec![],
            })],
            proto: Some(ip_proto::UDP),
            ports: Some((80, 80)),
            ..rule("web-in", Direction::Ingress, RuleAction::Allow)
        }],
        default_ingress_allow: false,
        default_egress_allow: true,
    };
    let (mut h, table) = routed_harness(vec![takes_port_80_from_outside], |a| {
        a.publish = vec![Publish {
            proto: ip_proto::UDP,
            host_ip: UPLINK_ADDR.into(),
            host_ports: (8080, 8080),
            container: H1.into(),
            container_port: 80,
        }];
    });
    let request = ipv4(
        UPLINK_MAC,
        ROUTER_MAC,
        OUTSIDE,
        UPLINK_ADDR,
        ip_proto::UDP,
        &udp(6000, 8080),
    );
    assert_eq!(outs(&mut h, UP, &request), [C1]);
    let answer = ipv4(GW_A, A, H1, OUTSIDE, ip_proto::UDP, &udp(80, 6000));
    assert_eq!(outs(&mut h, C1, &answer), [UP]);
    let entries = table.counters().entries;
    let stranger = ipv4(
        UPLINK_MAC,
        ROUTER_MAC,
        ELSEWHERE,
        UPLINK_ADDR,
        ip_proto::UDP,
        &udp(6000, 8080),
    );
    assert!(outs(&mut h, UP, &stranger).is_empty());
    assert_eq!(
        table.counters().entries,
        entries,
        "the denied one was not committed"
    );
    let acl = h.dp.acl(C1).unwrap();
    assert_eq!(acl.rules[0].hits.load(Ordering::Relaxed), 1);
}

#[test]
fn a_connection_the_nat_zone_does_not_take_is_tracked_by_the_acl() {
    // Network a publishes a port but does not masquerade: what c1 starts
    // towards the outside goes through the NAT tracker untranslated and
    // uncommitted, and its answers come back routed to c1's address.
    let takes_nothing_new = PortAclSpec {
        port: C1,
        rules: vec![],
        default_ingress_allow: false,
        default_egress_allow: true,
    };
    let (mut h, _) = routed_harness(vec![takes_nothing_new], |a| {
        a.publish = vec![Publish {
            proto: ip_proto::UDP,
            host_ip: UPLINK_ADDR.into(),
            host_ports: (8080, 8080),
            container: H1.into(),
            container_port: 80,
        }];
    });
    let query = ipv4(GW_A, A, H1, OUTSIDE, ip_proto::UDP, &udp(5000, 53));
    assert_eq!(outs(&mut h, C1, &query), [UP]);
    let answer = ipv4(
        UPLINK_MAC,
        ROUTER_MAC,
        OUTSIDE,
        H1,
        ip_proto::UDP,
        &udp(53, 5000),
    );
    assert_eq!(
        outs(&mut h, UP, &answer),
        [C1],
        "+est+rpl in the ACL's zone"
    );
    let stranger = ipv4(
        UPLINK_MAC,
        ROUTER_MAC,
        OUTSIDE,
        H1,
        ip_proto::UDP,
        &udp(53, 5001),
    );
    assert!(outs(&mut h, UP, &stranger).is_empty());
    assert_eq!(denied(&h), 1);
}
