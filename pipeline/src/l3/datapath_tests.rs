//! Gateways through the whole datapath: two bridges with a network each,
//! a third network on a VLAN, an uplink, frames as containers send them.

use std::net::{IpAddr, Ipv4Addr};

use super::NetworkSpec;
use crate::datapath::tests::{Harness, VecSink};
use crate::datapath::{BridgeSpec, Datapath, DatapathSpec, PortSpec, VlanMode};
use crate::drop::DropReason;
use crate::flow::Mac;
use crate::mac_table::PortId;
use crate::overlay::UplinkSpec;
use crate::stats::Stats;
use crate::wire::checksum::PseudoHeader;
use crate::wire::icmpv4::message_type;
use crate::wire::{
    arp, ArpPacket, ArpRepr, FrameBuilder, Icmpv4Packet, Ipv4Outer, Ipv4Packet, Ipv4Repr, UdpPacket,
};

/// c1 in network a (bridge 0), c2 in network b (bridge 1), c4 in network c
/// (bridge 1, VLAN 7, access port), the uplink.
pub(super) const C1: PortId = 0;
pub(super) const C2: PortId = 1;
pub(super) const C4: PortId = 2;
pub(super) const UP: PortId = 3;
pub(super) const MAC1: Mac = [0x02, 0, 0, 0, 1, 2];
pub(super) const MAC2: Mac = [0x02, 0, 0, 0, 2, 2];
const MAC2_MOVED: Mac = [0x02, 0, 0, 0, 2, 0x22];
pub(super) const GW_A: Mac = [0x02, 0x47, 0, 0, 0, 0xa];
pub(super) const GW_B: Mac = [0x02, 0x47, 0, 0, 0, 0xb];
pub(super) const GW_C: Mac = [0x02, 0x47, 0, 0, 0, 0xc];
pub(super) const UPLINK_MAC: Mac = [0x02, 0, 0, 0, 0xee, 1];
pub(super) const ROUTER_MAC: Mac = [0x02, 0, 0, 0, 0xee, 0xfe];
pub(super) const H1: [u8; 4] = [10, 1, 0, 2];
pub(super) const H2: [u8; 4] = [10, 2, 0, 2];
const H4: [u8; 4] = [10, 3, 0, 2];
pub(super) const OUTSIDE: [u8; 4] = [198, 51, 100, 7];

fn network(name: &str, bridge: usize, vlan: u16, third: u8, mac: Mac) -> NetworkSpec {
    NetworkSpec {
        name: name.into(),
        bridge,
        vlan,
        subnet: (Ipv4Addr::new(10, third, 0, 0), 24),
        gateway: Ipv4Addr::new(10, third, 0, 1),
        gateway_mac: mac,
        subnet6: None,
        gateway6: None,
        routes_to: vec![],
        uplink: None,
        masquerade: false,
        nat_ports: crate::l3::DEFAULT_NAT_PORTS,
        publish: vec![],
        icc: true,
    }
}

fn port(id: PortId, bridge: usize, vlan_mode: VlanMode) -> PortSpec {
    PortSpec {
        id,
        name: format!("p{id}"),
        bridge,
        vlan_mode,
        mac_limit: 1000,
        tunnel: None,
        security: None,
    }
}

pub(super) fn gateway_spec() -> DatapathSpec {
    let bridge = |name: &str| BridgeSpec {
        name: name.into(),
        mac_aging_secs: 300,
        mac_limit: 1000,
        static_macs: vec![],
    };
    let mut a = network("a", 0, 0, 1, GW_A);
    let mut b = network("b", 1, 0, 2, GW_B);
    let c = network("c", 1, 7, 3, GW_C);
    a.routes_to = vec![1];
    b.routes_to = vec![0];
    a.uplink = Some(0);
    DatapathSpec {
        bridges: vec![bridge("br0"), bridge("br1")],
        ports: vec![
            port(C1, 0, VlanMode::default()),
            port(C2, 1, VlanMode::default()),
            port(C4, 1, VlanMode::Access { vlan: 7 }),
        ],
        uplinks: vec![UplinkSpec {
            id: UP,
            name: "up".into(),
            mac: UPLINK_MAC,
            addresses: vec![(IpAddr::from([192, 0, 2, 1]), 24)],
            gateway: Some(IpAddr::from([192, 0, 2, 254])),
            mtu: 1500,
            static_neighbours: vec![],
        }],
        networks: vec![a, b, c],
        acls: vec![],
    }
}

fn harness() -> Harness {
    harness_of(&gateway_spec())
}

pub(super) fn harness_of(spec: &DatapathSpec) -> Harness {
    let dp = Datapath::new(spec, 7).unwrap();
    let stats = Stats::new(dp.port_count());
    Harness {
        dp,
        runner: crate::burst::BurstRunner::new(64),
        stats,
    }
}

pub(super) fn send(h: &mut Harness, port: PortId, f: &[u8], now: u32) -> Vec<(PortId, Vec<u8>)> {
    h.send_into(port, f, now, &mut VecSink::new(2048))
}

pub(super) fn drops(stats: &Stats, reason: DropReason) -> u64 {
    stats.ports.iter().map(|p| p.drops[reason as usize]).sum()
}

/// A UDP datagram from `src` to `dst` with TTL `ttl`, in a frame from
/// `eth_src` to `eth_dst`, checksums filled.
pub(super) fn udp(eth_dst: Mac, eth_src: Mac, src: [u8; 4], dst: [u8; 4], ttl: u8) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let end = buf.len();
    let built = FrameBuilder::new(&mut buf, end)
        .and_then(|b| b.push_bytes(b"payload!"))
        .and_then(|b| b.push_udp(40000, 5353))
        .and_then(|b| {
            b.push_ipv4(Ipv4Outer {
                src,
                dst,
                ttl,
                tos: 0,
                dont_fragment: true,
                ident: 7,
            })
        })
        .and_then(|b| b.push_ethernet(eth_dst, eth_src))
        .unwrap();
    let range = built.finish(true).unwrap();
    buf[range].to_vec()
}

/// An echo request (identifier 1) from `src` to `dst`.
pub(super) fn ping(eth_dst: Mac, eth_src: Mac, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 16];
    f[..6].copy_from_slice(&eth_dst);
    f[6..12].copy_from_slice(&eth_src);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: crate::wire::ip_proto::ICMP,
        payload_len: 16,
        ttl: 64,
        tos: 0,
        ident: 9,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    }
    .emit(&mut Ipv4Packet::new_unchecked(&mut f[14..]))
    .unwrap();
    f[34..42].copy_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
    f[42..].copy_from_slice(b"abcdefgh");
    Icmpv4Packet::new_unchecked(&mut f[34..]).fill_checksum();
    f
}

fn arp_request(from: Mac, sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let len = arp::write_request(&mut buf, from, sender, target).unwrap();
    buf[..len].to_vec()
}

pub(super) fn arp_reply(from: Mac, sender: [u8; 4], to: Mac, target: [u8; 4]) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let len = arp::write_reply(&mut buf, from, sender, to, target).unwrap();
    buf[..len].to_vec()
}

fn arp_of(frame: &[u8]) -> ArpRepr {
    ArpRepr::parse(&ArpPacket::new_unchecked(&frame[14..])).unwrap()
}

/// c1 asks for its gateway (teaching network a where c1 is), c2 answers
/// the gateway's request for it: both hosts are then resolved.
pub(super) fn resolve_hosts(h: &mut Harness) {
    assert_eq!(
        send(h, C1, &arp_request(MAC1, H1, [10, 1, 0, 1]), 1).len(),
        1
    );
    assert!(send(h, C2, &arp_reply(MAC2, H2, GW_B, [10, 2, 0, 1]), 1).is_empty());
    assert_eq!(drops(&h.stats, DropReason::GatewayArp), 1);
}

#[test]
fn arp_for_the_gateway_is_answered_with_the_gateway_mac() {
    let mut h = harness();
    let out = send(&mut h, C1, &arp_request(MAC1, H1, [10, 1, 0, 1]), 1);
    assert_eq!(out.len(), 1);
    let (port, reply) = &out[0];
    assert_eq!(*port, C1);
    assert_eq!(&reply[..6], &MAC1);
    assert_eq!(&reply[6..12], &GW_A);
    let arp = arp_of(reply);
    assert_eq!(arp.operation, arp::operation::REPLY);
    assert_eq!(arp.source_hardware_addr, GW_A);
    assert_eq!(arp.source_protocol_addr, [10, 1, 0, 1]);
    assert_eq!(arp.target_protocol_addr, H1);
    // An ARP request for another host is the bridge's: flooded, not answered
    // (the bridge has no other port, so it is a counted drop).
    assert!(send(&mut h, C1, &arp_request(MAC1, H1, [10, 1, 0, 9]), 1).is_empty());
    assert_eq!(drops(&h.stats, DropReason::NoFloodPorts), 1);
}

#[test]
fn an_access_port_gets_its_answer_untagged_and_a_trunk_port_tagged() {
    let mut spec = gateway_spec();
    spec.ports[2].vlan_mode = VlanMode::Trunk {
        allowed: crate::datapath::VlanSet::of(&[7]),
        native: None,
    };
    let dp = Datapath::new(&spec, 7).unwrap();
    let stats = Stats::new(dp.port_count());
    let mut h = Harness {
        dp,
        runner: crate::burst::BurstRunner::new(64),
        stats,
    };
    let mut tagged = arp_request([0x02, 0, 0, 0, 4, 2], H4, [10, 3, 0, 1]);
    tagged.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
    let out = send(&mut h, C4, &tagged, 1);
    assert_eq!(out.len(), 1);
    let reply = &out[0].1;
    assert_eq!(&reply[12..16], &[0x81, 0x00, 0x00, 0x07]);
    let arp = ArpRepr::parse(&ArpPacket::new_unchecked(&reply[18..])).unwrap();
    assert_eq!(arp.source_hardware_addr, GW_C);
}

#[test]
fn a_routed_frame_waits_for_arp_then_leaves_with_new_macs_and_ttl() {
    let mut h = harness();
    assert_eq!(
        send(&mut h, C1, &arp_request(MAC1, H1, [10, 1, 0, 1]), 1).len(),
        1
    );
    let f = udp(GW_A, MAC1, H1, H2, 64);
    // The next hop is unknown: the gateway of b asks for it.
    let out = send(&mut h, C1, &f, 1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, C2);
    let request = arp_of(&out[0].1);
    assert_eq!(request.operation, arp::operation::REQUEST);
    assert_eq!(request.source_hardware_addr, GW_B);
    assert_eq!(request.source_protocol_addr, [10, 2, 0, 1]);
    assert_eq!(request.target_protocol_addr, H2);
    assert_eq!(drops(&h.stats, DropReason::RouteNeighbourUnresolved), 1);
    // A second frame in the same second sends no second request.
    assert!(send(&mut h, C1, &f, 1).is_empty());
    assert!(send(&mut h, C2, &arp_reply(MAC2, H2, GW_B, [10, 2, 0, 1]), 1).is_empty());

    let out = send(&mut h, C1, &f, 2);
    assert_eq!(out.len(), 1, "{out:?}");
    let (port, routed) = &out[0];
    // c2's MAC was never seen on a port of br1: flooded in b's VLAN.
    assert_eq!(*port, C2);
    check_routed(routed, GW_B, MAC2, 63);
}

/// The routed frame: MACs rewritten, TTL one less, IPv4 and UDP checksums
/// right.
fn check_routed(frame: &[u8], src: Mac, dst: Mac, ttl: u8) {
    assert_eq!(&frame[..6], &dst);
    assert_eq!(&frame[6..12], &src);
    let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
    assert_eq!(ip.ttl(), ttl);
    assert!(ip.verify_checksum());
    let pseudo = PseudoHeader::Ipv4 {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
    };
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert!(udp.verify_checksum(&pseudo));
}

#[test]
fn routed_both_ways_and_cached_until_the_neighbour_moves() {
    let mut h = harness();
    resolve_hosts(&mut h);
    // c2 is known on its port once it sent something.
    let back = udp(GW_B, MAC2, H2, H1, 64);
    let out = send(&mut h, C2, &back, 2);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, C1);
    check_routed(&out[0].1, GW_A, MAC1, 63);

    let f = udp(GW_A, MAC1, H1, H2, 64);
    for now in 2..5 {
        let out = send(&mut h, C1, &f, now);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, C2);
        check_routed(&out[0].1, GW_B, MAC2, 63);
    }
    assert!(
        h.runner.cache.counters.hits >= 2,
        "the routed flow is served from the cache"
    );
    // c2 comes back with another MAC (a new container on the same address).
    assert_eq!(
        send(&mut h, C2, &arp_request(MAC2_MOVED, H2, [10, 2, 0, 1]), 5).len(),
        1
    );
    let out = send(&mut h, C1, &f, 5);
    assert_eq!(out.len(), 1);
    check_routed(&out[0].1, GW_B, MAC2_MOVED, 63);
}

fn icmp_of(frame: &[u8]) -> (Ipv4Packet<&[u8]>, Icmpv4Packet<&[u8]>) {
    let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
    assert!(ip.verify_checksum());
    let icmp = Icmpv4Packet::new_checked(&frame[34..]).unwrap();
    assert!(icmp.verify_checksum());
    (ip, icmp)
}

#[test]
fn ttl_one_gets_time_exceeded_quoting_the_original_header() {
    let mut h = harness();
    resolve_hosts(&mut h);
    let f = udp(GW_A, MAC1, H1, H2, 1);
    let out = send(&mut h, C1, &f, 2);
    assert_eq!(out.len(), 1);
    let (port, answer) = &out[0];
    assert_eq!(*port, C1);
    assert_eq!(&answer[..6], &MAC1);
    assert_eq!(&answer[6..12], &GW_A);
    let (ip, icmp) = icmp_of(answer);
    assert_eq!(ip.src_addr(), [10, 1, 0, 1]);
    assert_eq!(ip.dst_addr(), H1);
    assert_eq!(icmp.msg_type(), message_type::TIME_EXCEEDED);
    assert_eq!(icmp.msg_code(), 0);
    // The whole original datagram, its header first.
    assert_eq!(icmp.payload(), &f[14..]);
    assert_eq!(drops(&h.stats, DropReason::RouteTtlExpired), 1);
    // No error about an error: the time exceeded itself with TTL 1.
    let mut error = answer.clone();
    error[..6].copy_from_slice(&GW_A);
    error[6..12].copy_from_slice(&MAC1);
    error[14 + 8] = 1;
    assert!(send(&mut h, C1, &error, 2).is_empty());
    assert_eq!(drops(&h.stats, DropReason::RouteTtlExpired), 2);
}

#[test]
fn routing_not_allowed_or_nowhere_gets_unreachable() {
    let mut h = harness();
    resolve_hosts(&mut h);
    let out = send(&mut h, C1, &udp(GW_A, MAC1, H1, H4, 64), 2);
    assert_eq!(out.len(), 1);
    let (_, icmp) = icmp_of(&out[0].1);
    assert_eq!(icmp.msg_type(), message_type::DESTINATION_UNREACHABLE);
    assert_eq!(icmp.msg_code(), 13);
    assert_eq!(drops(&h.stats, DropReason::RouteNotAllowed), 1);
    // b has no uplink: the outside is nowhere.
    let out = send(&mut h, C2, &udp(GW_B, MAC2, H2, OUTSIDE, 64), 2);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, C2);
    let (ip, icmp) = icmp_of(&out[0].1);
    assert_eq!(ip.src_addr(), [10, 2, 0, 1]);
    assert_eq!(icmp.msg_type(), message_type::DESTINATION_UNREACHABLE);
    assert_eq!(icmp.msg_code(), 0);
    assert_eq!(drops(&h.stats, DropReason::NoRoute), 1);
}

#[test]
fn icmp_errors_are_rate_limited_per_network() {
    let mut h = harness();
    let f = udp(GW_A, MAC1, H1, H4, 64);
    let mut sent = 0;
    for _ in 0..(super::ICMP_ERRORS_PER_SEC + 20) {
        sent += send(&mut h, C1, &f, 3).len() as u32;
    }
    assert_eq!(sent, super::ICMP_ERRORS_PER_SEC);
    assert_eq!(h.dp.network(0).unwrap().state.icmp.suppressed(), 20);
    assert_eq!(
        send(&mut h, C1, &f, 4).len(),
        1,
        "a new second, a new allowance"
    );
}

#[test]
fn a_ping_to_a_gateway_is_answered() {
    let mut h = harness();
    let out = send(&mut h, C1, &ping(GW_A, MAC1, H1, [10, 1, 0, 1]), 1);
    assert_eq!(out.len(), 1);
    let (ip, icmp) = icmp_of(&out[0].1);
    assert_eq!(ip.src_addr(), [10, 1, 0, 1]);
    assert_eq!(ip.dst_addr(), H1);
    assert_eq!(icmp.msg_type(), message_type::ECHO_REPLY);
    assert_eq!(icmp.echo_ident(), 1);
    // The gateway of a network it may route to answers too, from its own
    // address; other traffic for a gateway is dropped.
    let out = send(&mut h, C1, &ping(GW_A, MAC1, H1, [10, 2, 0, 1]), 1);
    assert_eq!(icmp_of(&out[0].1).0.src_addr(), [10, 2, 0, 1]);
    assert!(send(&mut h, C1, &udp(GW_A, MAC1, H1, [10, 1, 0, 1], 64), 1).is_empty());
    assert_eq!(drops(&h.stats, DropReason::GatewayNotEcho), 1);
}

#[test]
fn the_outside_is_reached_by_the_uplink_and_answers_come_back_in() {
    let mut h = harness();
    resolve_hosts(&mut h);
    let f = udp(GW_A, MAC1, H1, OUTSIDE, 64);
    let out = send(&mut h, C1, &f, 2);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, UP);
    let request = arp_of(&out[0].1);
    assert_eq!(request.source_protocol_addr, [192, 0, 2, 1]);
    assert_eq!(request.target_protocol_addr, [192, 0, 2, 254]);
    let reply = arp_reply(ROUTER_MAC, [192, 0, 2, 254], UPLINK_MAC, [192, 0, 2, 1]);
    assert!(send(&mut h, UP, &reply, 2).is_empty());
    let out = send(&mut h, C1, &f, 3);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, UP);
    check_routed(&out[0].1, UPLINK_MAC, ROUTER_MAC, 63);

    let answer = udp(UPLINK_MAC, ROUTER_MAC, OUTSIDE, H1, 60);
    let out = send(&mut h, UP, &answer, 3);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, C1);
    check_routed(&out[0].1, GW_A, MAC1, 59);
    // Network b does not leave by the uplink: nothing comes in to it.
    assert!(send(&mut h, UP, &udp(UPLINK_MAC, ROUTER_MAC, OUTSIDE, H2, 60), 3).is_empty());
    assert_eq!(drops(&h.stats, DropReason::UplinkNotForUs), 1);
}

#[test]
fn a_rebuild_keeps_the_neighbours_of_a_network_that_stays() {
    let mut h = harness();
    resolve_hosts(&mut h);
    let dp = h.dp.rebuild(&gateway_spec(), 7).unwrap();
    assert!(dp
        .network(1)
        .unwrap()
        .state
        .neighbours
        .find(IpAddr::from(H2))
        .is_some());
    let mut moved = gateway_spec();
    moved.networks[1].subnet = (Ipv4Addr::new(10, 2, 0, 0), 16);
    let dp = dp.rebuild(&moved, 7).unwrap();
    assert!(dp
        .network(1)
        .unwrap()
        .state
        .neighbours
        .find(IpAddr::from(H2))
        .is_none());
}

#[test]
fn routing_needs_both_networks_to_list_each_other() {
    let mut spec = gateway_spec();
    spec.networks[1].routes_to = vec![];
    let mut h = harness_of(&spec);
    resolve_hosts(&mut h);
    let out = send(&mut h, C1, &udp(GW_A, MAC1, H1, H2, 64), 2);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, C1, "an unreachable back to c1, nothing to c2");
    let (_, icmp) = icmp_of(&out[0].1);
    assert_eq!((icmp.msg_type(), icmp.msg_code()), (3, 13));
    assert_eq!(drops(&h.stats, DropReason::RouteNotAllowed), 1);
}

#[test]
fn without_icc_containers_reach_the_gateway_only() {
    let mut spec = gateway_spec();
    spec.networks[0].icc = false;
    spec.networks[0].routes_to = vec![];
    let mut h = harness_of(&spec);
    // ARP for the gateway is answered, ARP for a neighbour is not.
    assert_eq!(
        send(&mut h, C1, &arp_request(MAC1, H1, [10, 1, 0, 1]), 1).len(),
        1
    );
    let other: Mac = [0x02, 0, 0, 0, 1, 3];
    assert!(send(&mut h, C1, &arp_request(MAC1, H1, [10, 1, 0, 3]), 1).is_empty());
    // Frames to another container are dropped, cached or not.
    for _ in 0..3 {
        let f = udp(other, MAC1, H1, [10, 1, 0, 3], 64);
        assert!(send(&mut h, C1, &f, 1).is_empty());
    }
    assert_eq!(drops(&h.stats, DropReason::IccDenied), 4);
    // Through the gateway it goes on: here, a ping to it.
    assert_eq!(
        send(&mut h, C1, &ping(GW_A, MAC1, H1, [10, 1, 0, 1]), 1).len(),
        1
    );
}
