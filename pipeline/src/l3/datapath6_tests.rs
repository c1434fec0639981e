//! IPv6 through the gateways: the networks of the IPv4 tests with IPv6
//! subnets (a fd00:1::/64, b fd00:2::/64, c fd00:3::/64); the uplink has
//! no IPv6 address, so IPv6 has no default route.

use std::net::Ipv6Addr;

use super::datapath_tests::{
    drops, gateway_spec, harness_of, send, C1, C2, GW_A, GW_B, MAC1, MAC2,
};
use crate::datapath::tests::Harness;
use crate::drop::DropReason;
use crate::flow::Mac;
use crate::wire::checksum::PseudoHeader;
use crate::wire::{
    icmpv6, ip_proto, ndp, FrameBuilder, Icmpv6Packet, Icmpv6Repr, Ipv6Outer, Ipv6Packet, Ipv6Repr,
    UdpPacket,
};

fn addr(net: u16, host: u16) -> [u8; 16] {
    Ipv6Addr::new(0xfd00, net, 0, 0, 0, 0, 0, host).octets()
}

fn harness() -> Harness {
    let mut spec = gateway_spec();
    for (n, net) in spec.networks.iter_mut().enumerate() {
        let third = n as u16 + 1;
        net.subnet6 = Some((Ipv6Addr::from(addr(third, 0)), 64));
        net.gateway6 = Some(Ipv6Addr::from(addr(third, 1)));
    }
    harness_of(&spec)
}

fn udp6(eth_dst: Mac, eth_src: Mac, src: [u8; 16], dst: [u8; 16], hop_limit: u8) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let end = buf.len();
    let built = FrameBuilder::new(&mut buf, end)
        .and_then(|b| b.push_bytes(b"v6 payload"))
        .and_then(|b| b.push_udp(40000, 5353))
        .and_then(|b| {
            b.push_ipv6(Ipv6Outer {
                src,
                dst,
                hop_limit,
                traffic_class: 0,
                flow_label: 0,
            })
        })
        .and_then(|b| b.push_ethernet(eth_dst, eth_src))
        .unwrap();
    let range = built.finish(true).unwrap();
    buf[range].to_vec()
}

fn ping6(eth_dst: Mac, eth_src: Mac, src: [u8; 16], dst: [u8; 16]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 40 + 12];
    f[..6].copy_from_slice(&eth_dst);
    f[6..12].copy_from_slice(&eth_src);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: ip_proto::ICMPV6,
        payload_len: 12,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut Ipv6Packet::new_unchecked(&mut f[14..]))
    .unwrap();
    f[54..62].copy_from_slice(&[128, 0, 0, 0, 0, 7, 0, 1]);
    f[62..].copy_from_slice(b"abcd");
    Icmpv6Repr {
        msg_type: 128,
        code: 0,
        body_len: 8,
    }
    .emit(&mut Icmpv6Packet::new_unchecked(&mut f[54..]), &src, &dst)
    .unwrap();
    f
}

fn solicit(from: Mac, src: [u8; 16], target: [u8; 16]) -> Vec<u8> {
    let mut buf = [0u8; 128];
    let len = ndp::write_solicit(&mut buf, from, src, target).unwrap();
    buf[..len].to_vec()
}

fn advert(from: Mac, src: [u8; 16], to: Mac, dst: [u8; 16]) -> Vec<u8> {
    let mut buf = [0u8; 128];
    let len = ndp::write_advert(&mut buf, from, src, to, dst, src).unwrap();
    buf[..len].to_vec()
}

/// The ICMPv6 message of `frame`, its IPv6 header checked.
fn icmp6_of(frame: &[u8]) -> (Ipv6Packet<&[u8]>, Icmpv6Packet<&[u8]>) {
    let ip = Ipv6Packet::new_checked(&frame[14..]).unwrap();
    let icmp = Icmpv6Packet::new_checked(&frame[54..]).unwrap();
    assert!(icmp.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
    (ip, icmp)
}

/// c1 solicits its gateway (teaching a where c1 is), c2 answers the
/// gateway's solicitation for it.
fn resolve_hosts(h: &mut Harness) {
    assert_eq!(
        send(h, C1, &solicit(MAC1, addr(1, 2), addr(1, 1)), 1).len(),
        1
    );
    assert!(send(h, C2, &advert(MAC2, addr(2, 2), GW_B, addr(2, 1)), 1).is_empty());
}

#[test]
fn a_solicitation_for_the_gateway_is_answered_with_the_gateway_mac() {
    let mut h = harness();
    let out = send(&mut h, C1, &solicit(MAC1, addr(1, 2), addr(1, 1)), 1);
    assert_eq!(out.len(), 1);
    let (port, answer) = &out[0];
    assert_eq!(*port, C1);
    assert_eq!(&answer[..6], &MAC1);
    let (ip, _) = icmp6_of(answer);
    assert_eq!(ip.dst_addr(), addr(1, 2));
    match ndp::parse(&answer[54..]).unwrap() {
        ndp::NdpMessage::Advert {
            target, target_mac, ..
        } => {
            assert_eq!(target, addr(1, 1));
            assert_eq!(target_mac, Some(GW_A));
        }
        other => panic!("{other:?}"),
    }
    // Duplicate address detection for the gateway's address gets nothing.
    assert!(send(&mut h, C1, &solicit(MAC1, [0; 16], addr(1, 1)), 1).is_empty());
}

#[test]
fn an_ipv6_frame_waits_for_its_neighbour_then_is_routed() {
    let mut h = harness();
    assert_eq!(
        send(&mut h, C1, &solicit(MAC1, addr(1, 2), addr(1, 1)), 1).len(),
        1
    );
    let f = udp6(GW_A, MAC1, addr(1, 2), addr(2, 2), 64);
    let out = send(&mut h, C1, &f, 1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, C2);
    let (ip, _) = icmp6_of(&out[0].1);
    assert_eq!(ip.src_addr(), addr(2, 1));
    match ndp::parse(&out[0].1[54..]).unwrap() {
        ndp::NdpMessage::Solicit { target, source_mac } => {
            assert_eq!(target, addr(2, 2));
            assert_eq!(source_mac, Some(GW_B));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(drops(&h.stats, DropReason::RouteNeighbourUnresolved), 1);
    assert!(send(&mut h, C2, &advert(MAC2, addr(2, 2), GW_B, addr(2, 1)), 1).is_empty());
    assert_eq!(drops(&h.stats, DropReason::GatewayArp), 1);
    let out = send(&mut h, C1, &f, 2);
    assert_eq!(out.len(), 1);
    let routed = &out[0].1;
    assert_eq!(&routed[..6], &MAC2);
    assert_eq!(&routed[6..12], &GW_B);
    let ip = Ipv6Packet::new_checked(&routed[14..]).unwrap();
    assert_eq!(ip.hop_limit(), 63);
    let pseudo = PseudoHeader::Ipv6 {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
    };
    assert!(UdpPacket::new_checked(ip.payload())
        .unwrap()
        .verify_checksum(&pseudo));
}

#[test]
fn hop_limit_one_gets_time_exceeded_and_nowhere_gets_unreachable() {
    let mut h = harness();
    resolve_hosts(&mut h);
    let f = udp6(GW_A, MAC1, addr(1, 2), addr(2, 2), 1);
    let out = send(&mut h, C1, &f, 2);
    assert_eq!(out.len(), 1);
    let (ip, icmp) = icmp6_of(&out[0].1);
    assert_eq!(ip.src_addr(), addr(1, 1));
    assert_eq!(ip.dst_addr(), addr(1, 2));
    assert_eq!(
        (icmp.msg_type(), icmp.msg_code()),
        (icmpv6::message_type::TIME_EXCEEDED, 0)
    );
    assert_eq!(&out[0].1[54 + 8..], &f[14..], "the whole invoking packet");
    // c routes nowhere; the uplink has no IPv6 address: no default route.
    for (dst, code, reason) in [
        (addr(3, 2), 1, DropReason::RouteNotAllowed),
        (
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets(),
            0,
            DropReason::NoRoute,
        ),
    ] {
        let out = send(&mut h, C1, &udp6(GW_A, MAC1, addr(1, 2), dst, 64), 2);
        assert_eq!(out.len(), 1);
        let (_, icmp) = icmp6_of(&out[0].1);
        assert_eq!((icmp.msg_type(), icmp.msg_code()), (1, code));
        assert_eq!(drops(&h.stats, reason), 1);
    }
}

#[test]
fn a_ping_to_the_ipv6_gateway_is_answered() {
    let mut h = harness();
    let out = send(&mut h, C1, &ping6(GW_A, MAC1, addr(1, 2), addr(1, 1)), 1);
    assert_eq!(out.len(), 1);
    let (ip, icmp) = icmp6_of(&out[0].1);
    assert_eq!(ip.src_addr(), addr(1, 1));
    assert_eq!(icmp.msg_type(), icmpv6::message_type::ECHO_REPLY);
    assert_eq!(icmp.echo_ident(), 7);
    // A network without an IPv6 subnet routes no IPv6.
    let mut spec = gateway_spec();
    spec.networks[0].subnet6 = None;
    let mut v4_only = harness_of(&spec);
    assert!(send(
        &mut v4_only,
        C1,
        &ping6(GW_A, MAC1, addr(1, 2), addr(1, 1)),
        1
    )
    .is_empty());
    assert_eq!(
        drops(&v4_only.stats, DropReason::RouteFamilyUnconfigured),
        1
    );
}
