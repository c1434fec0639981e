//! Masquerade through the whole datapath: network a leaves by the uplink
//! with its sources translated to the uplink's address, and answers are
//! translated back.

use std::sync::Arc;

use super::datapath_tests::*;
use crate::conntrack::{ConnTable, Conntrack, ConntrackConfig, Timeouts};
use crate::datapath::tests::Harness;
use crate::drop::DropReason;
use crate::flow::Mac;
use crate::mac_table::PortId;
use crate::wire::checksum::PseudoHeader;
use crate::wire::{FrameBuilder, Icmpv4Packet, Ipv4Outer, Ipv4Packet, UdpPacket};

const UPLINK_ADDR: [u8; 4] = [192, 0, 2, 1];
const ELSEWHERE: [u8; 4] = [203, 0, 113, 9];
const H3: [u8; 4] = [10, 1, 0, 3];
const MAC3: Mac = [0x02, 0, 0, 0, 1, 3];

/// Network a masquerades with `ports` and publishes UDP 8080-8081 of the
/// uplink's address to H1's 80-81; the uplink's router is resolved; a
/// tracker of `limit` connections.
fn nat_harness(ports: (u16, u16), limit: u32) -> (Harness, Arc<ConnTable>) {
    let mut spec = gateway_spec();
    spec.networks[0].masquerade = true;
    spec.networks[0].nat_ports = ports;
    spec.networks[0].publish = vec![super::Publish {
        proto: crate::wire::ip_proto::UDP,
        host_ip: UPLINK_ADDR.into(),
        host_ports: (8080, 8081),
        container: H1.into(),
        container_port: 80,
    }];
    let mut h = harness_of(&spec);
    let table = Arc::new(ConnTable::with_config(ConntrackConfig {
        limit,
        timeouts: Timeouts::default(),
        ..ConntrackConfig::default()
    }));
    h.runner
        .set_conntrack(Box::new(Conntrack::new(Arc::clone(&table))));
    resolve_hosts(&mut h);
    let arp =
        super::datapath_tests::arp_reply(ROUTER_MAC, [192, 0, 2, 254], UPLINK_MAC, UPLINK_ADDR);
    // The gateway asks for the router first (a frame out makes it ask).
    send(&mut h, C1, &datagram(GW_A, MAC1, H1, 1000, OUTSIDE, 53), 1);
    assert!(send(&mut h, UP, &arp, 1).is_empty());
    table.flush(None);
    (h, table)
}

/// A UDP datagram between the given addresses and ports, checksums filled.
fn datagram(
    eth_dst: Mac,
    eth_src: Mac,
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let end = buf.len();
    let built = FrameBuilder::new(&mut buf, end)
        .and_then(|b| b.push_bytes(b"payload!"))
        .and_then(|b| b.push_udp(sport, dport))
        .and_then(|b| {
            b.push_ipv4(Ipv4Outer {
                src,
                dst,
                ttl: 64,
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

/// The one IPv4 frame out of `port` (an ARP request refreshing the next
/// hop may go with it): its source and destination address and port,
/// after checking both checksums by recomputing them.
fn udp_out(out: &[(PortId, Vec<u8>)], port: PortId) -> ([u8; 4], u16, [u8; 4], u16) {
    let out: Vec<_> = out.iter().filter(|(_, f)| f[12..14] == [8, 0]).collect();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].0, port);
    let ip = Ipv4Packet::new_checked(&out[0].1[14..]).unwrap();
    assert!(ip.verify_checksum());
    let pseudo = PseudoHeader::Ipv4 {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
    };
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert!(udp.verify_checksum(&pseudo));
    (ip.src_addr(), udp.src_port(), ip.dst_addr(), udp.dst_port())
}

#[test]
fn masquerade_translates_the_source_out_and_the_answer_back() {
    let (mut h, table) = nat_harness((40000, 40009), 64);
    let out = send(&mut h, C1, &datagram(GW_A, MAC1, H1, 5000, OUTSIDE, 53), 2);
    let (src, sport, dst, dport) = udp_out(&out, UP);
    assert_eq!((src, dst, dport), (UPLINK_ADDR, OUTSIDE, 53));
    assert!((40000..=40009).contains(&sport), "{sport}");
    assert_eq!(table.counters().entries, 1);

    let answer = datagram(UPLINK_MAC, ROUTER_MAC, OUTSIDE, 53, UPLINK_ADDR, sport);
    let back = send(&mut h, UP, &answer, 2);
    assert_eq!(udp_out(&back, C1), (OUTSIDE, 53, H1, 5000));
    // Later frames both ways take the same translation, cached or not.
    for now in 3..6 {
        let out = send(
            &mut h,
            C1,
            &datagram(GW_A, MAC1, H1, 5000, OUTSIDE, 53),
            now,
        );
        assert_eq!(udp_out(&out, UP), (UPLINK_ADDR, sport, OUTSIDE, 53));
        assert_eq!(
            udp_out(&send(&mut h, UP, &answer, now), C1),
            (OUTSIDE, 53, H1, 5000)
        );
    }
    assert_eq!(table.counters().entries, 1);
    // Nothing comes in to the uplink's address without a connection.
    let stray = datagram(UPLINK_MAC, ROUTER_MAC, OUTSIDE, 53, UPLINK_ADDR, sport + 1);
    assert!(send(&mut h, UP, &stray, 6).is_empty());
    assert_eq!(drops(&h.stats, DropReason::NatNoConnection), 1);
}

#[test]
fn a_port_taken_towards_a_remote_is_not_reused_for_it_but_is_for_another() {
    let (mut h, _table) = nat_harness((40000, 40001), 64);
    // Two containers with the same source port to the same remote: two
    // ports.
    assert_eq!(
        send(
            &mut h,
            C1,
            &super::datapath_tests::arp_reply(MAC3, H3, GW_A, [10, 1, 0, 1]),
            2
        )
        .len(),
        0
    );
    let first = udp_out(
        &send(&mut h, C1, &datagram(GW_A, MAC1, H1, 5000, OUTSIDE, 53), 2),
        UP,
    );
    let second = udp_out(
        &send(&mut h, C1, &datagram(GW_A, MAC3, H3, 5000, OUTSIDE, 53), 2),
        UP,
    );
    assert_ne!(first.1, second.1);
    // A third to that remote finds both taken: counted, not silent.
    let third = send(&mut h, C1, &datagram(GW_A, MAC1, H1, 5001, OUTSIDE, 53), 2);
    assert!(third.is_empty());
    assert_eq!(drops(&h.stats, DropReason::NatPortsExhausted), 1);
    // Towards another remote the ports are free again.
    let other = udp_out(
        &send(
            &mut h,
            C1,
            &datagram(GW_A, MAC1, H1, 5001, ELSEWHERE, 53),
            2,
        ),
        UP,
    );
    assert!(other.1 == first.1 || other.1 == second.1);
    // Each answer goes back to its own container.
    let back = |h: &mut Harness, port| {
        let f = datagram(UPLINK_MAC, ROUTER_MAC, OUTSIDE, 53, UPLINK_ADDR, port);
        udp_out(&send(h, UP, &f, 3), C1)
    };
    assert_eq!(back(&mut h, first.1), (OUTSIDE, 53, H1, 5000));
    assert_eq!(back(&mut h, second.1), (OUTSIDE, 53, H3, 5000));
}

#[test]
fn a_port_comes_back_when_its_connection_times_out() {
    let (mut h, table) = nat_harness((40000, 40000), 64);
    let first = udp_out(
        &send(&mut h, C1, &datagram(GW_A, MAC1, H1, 5000, OUTSIDE, 53), 2),
        UP,
    );
    assert!(send(&mut h, C1, &datagram(GW_A, MAC1, H1, 5001, OUTSIDE, 53), 3).is_empty());
    assert_eq!(drops(&h.stats, DropReason::NatPortsExhausted), 1);
    assert_eq!(table.counters().nat_ports_exhausted, 1);
    // An unanswered UDP connection lives 30 s.
    let later = 3 + Timeouts::default().udp_unreplied + 1;
    table.sweep(later);
    let again = udp_out(
        &send(
            &mut h,
            C1,
            &datagram(GW_A, MAC1, H1, 5001, OUTSIDE, 53),
            later,
        ),
        UP,
    );
    assert_eq!(again.1, first.1);
}

#[test]
fn an_echo_gets_a_translated_identifier_and_its_reply_the_original() {
    let (mut h, _table) = nat_harness((40000, 40009), 64);
    let out = send(&mut h, C1, &ping(GW_A, MAC1, H1, OUTSIDE), 2);
    assert_eq!(out.len(), 1);
    let ip = Ipv4Packet::new_checked(&out[0].1[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.src_addr(), UPLINK_ADDR);
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    let ident = u16::from_be_bytes([ip.payload()[4], ip.payload()[5]]);
    assert!((40000..=40009).contains(&ident));
    // The reply, as the remote sends it: type 0, same identifier.
    let mut reply = out[0].1.clone();
    reply[..6].copy_from_slice(&UPLINK_MAC);
    reply[6..12].copy_from_slice(&ROUTER_MAC);
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut reply[14..]);
        ip.set_src_addr(OUTSIDE);
        ip.set_dst_addr(UPLINK_ADDR);
        ip.fill_checksum();
    }
    reply[34] = 0;
    Icmpv4Packet::new_unchecked(&mut reply[34..]).fill_checksum();
    let back = send(&mut h, UP, &reply, 2);
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0].0, C1);
    let ip = Ipv4Packet::new_checked(&back[0].1[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.dst_addr(), H1);
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!(&ip.payload()[4..6], &[0, 1]);
}

#[test]
fn a_full_table_refuses_new_connections_and_keeps_the_established() {
    let (mut h, _table) = nat_harness((40000, 40999), 1);
    let first = udp_out(
        &send(&mut h, C1, &datagram(GW_A, MAC1, H1, 5000, OUTSIDE, 53), 2),
        UP,
    );
    let answer = datagram(UPLINK_MAC, ROUTER_MAC, OUTSIDE, 53, UPLINK_ADDR, first.1);
    udp_out(&send(&mut h, UP, &answer, 2), C1);
    assert!(send(&mut h, C1, &datagram(GW_A, MAC1, H1, 5001, OUTSIDE, 53), 3).is_empty());
    assert_eq!(drops(&h.stats, DropReason::CtTableFull), 1);
    udp_out(
        &send(&mut h, C1, &datagram(GW_A, MAC1, H1, 5000, OUTSIDE, 53), 3),
        UP,
    );
    udp_out(&send(&mut h, UP, &answer, 3), C1);
}

#[test]
fn a_published_port_takes_the_outside_to_the_container_and_back() {
    let (mut h, table) = nat_harness((40000, 40009), 64);
    for (host_port, container_port) in [(8080, 80), (8081, 81)] {
        let f = datagram(
            UPLINK_MAC,
            ROUTER_MAC,
            OUTSIDE,
            6000,
            UPLINK_ADDR,
            host_port,
        );
        let into = udp_out(&send(&mut h, UP, &f, 2), C1);
        // The client's address is kept.
        assert_eq!(into, (OUTSIDE, 6000, H1, container_port));
        let answer = datagram(GW_A, MAC1, H1, container_port, OUTSIDE, 6000);
        let out = udp_out(&send(&mut h, C1, &answer, 2), UP);
        assert_eq!(out, (UPLINK_ADDR, host_port, OUTSIDE, 6000));
    }
    assert_eq!(table.counters().entries, 2);
    // A port not published belongs to no connection.
    let f = datagram(UPLINK_MAC, ROUTER_MAC, OUTSIDE, 6000, UPLINK_ADDR, 8082);
    assert!(send(&mut h, UP, &f, 3).is_empty());
    assert_eq!(drops(&h.stats, DropReason::NatNoConnection), 1);
}

#[test]
fn hairpin_to_a_published_port_comes_back_through_the_gateway() {
    let (mut h, _table) = nat_harness((40000, 40009), 64);
    let arp = super::datapath_tests::arp_reply(MAC3, H3, GW_A, [10, 1, 0, 1]);
    assert!(send(&mut h, C1, &arp, 2).is_empty());
    // From another container of the network, and from the container
    // itself: the server sees the gateway, the client the published
    // address.
    for (client, mac, sport) in [(H3, MAC3, 5000), (H1, MAC1, 5001)] {
        let f = datagram(GW_A, mac, client, sport, UPLINK_ADDR, 8080);
        let out = send(&mut h, C1, &f, 2);
        let (src, pp, dst, dport) = udp_out(&out, C1);
        assert_eq!(&out[0].1[..6], &MAC1);
        assert_eq!((src, dst, dport), ([10, 1, 0, 1], H1, 80));
        let answer = datagram(GW_A, MAC1, H1, 80, [10, 1, 0, 1], pp);
        let back = send(&mut h, C1, &answer, 2);
        assert_eq!(udp_out(&back, C1), (UPLINK_ADDR, 8080, client, sport));
        assert_eq!(&back[0].1[..6], &mac);
    }
}

/// An ICMP port unreachable from `from` to `to` quoting the IPv4 packet
/// of `frame` (its header and 8 bytes, as RFC 792 asks at least).
fn port_unreachable(from: [u8; 4], to: [u8; 4], frame: &[u8]) -> Vec<u8> {
    let quoted = &frame[14..14 + 28];
    let mut f = vec![0u8; 14 + 20 + 8 + quoted.len()];
    f[..6].copy_from_slice(&UPLINK_MAC);
    f[6..12].copy_from_slice(&ROUTER_MAC);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    crate::wire::Ipv4Repr {
        src_addr: from,
        dst_addr: to,
        protocol: crate::wire::ip_proto::ICMP,
        payload_len: 8 + quoted.len() as u16,
        ttl: 64,
        tos: 0,
        ident: 11,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    }
    .emit(&mut Ipv4Packet::new_unchecked(&mut f[14..]))
    .unwrap();
    f[34] = 3;
    f[35] = 3;
    f[42..].copy_from_slice(quoted);
    Icmpv4Packet::new_unchecked(&mut f[34..]).fill_checksum();
    f
}

#[test]
fn an_icmp_error_about_a_translated_packet_is_translated_back_outer_and_quoted() {
    let (mut h, _table) = nat_harness((40000, 40009), 64);
    let out = send(&mut h, C1, &datagram(GW_A, MAC1, H1, 5000, OUTSIDE, 53), 2);
    let (_, port, ..) = udp_out(&out, UP);
    let error = port_unreachable(OUTSIDE, UPLINK_ADDR, &out[0].1);
    let back = send(&mut h, UP, &error, 2);
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0].0, C1);
    let ip = Ipv4Packet::new_checked(&back[0].1[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!((ip.src_addr(), ip.dst_addr()), (OUTSIDE, H1));
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(
        icmp.verify_checksum(),
        "the error's checksum covers the quote"
    );
    // The quote, as the container sent it.
    let quoted = Ipv4Packet::new_unchecked(&ip.payload()[8..]);
    assert!(quoted.verify_checksum());
    assert_eq!((quoted.src_addr(), quoted.dst_addr()), (H1, OUTSIDE));
    let udp = &ip.payload()[8 + 20..];
    assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), 5000);
    assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 53);
    // The quoted UDP checksum is the container's again: the one of the
    // datagram it sent.
    let sent = datagram(GW_A, MAC1, H1, 5000, OUTSIDE, 53);
    assert_eq!(&udp[6..8], &sent[14 + 20 + 6..14 + 20 + 8]);
    assert_ne!(port, 5000);
}

/// A TCP segment with ACK alone (no SYN: it opens no connection), to port
/// 80, in a frame from `eth_src` to `eth_dst`.
fn tcp_ack(eth_dst: Mac, eth_src: Mac, src: [u8; 4], sport: u16, dst: [u8; 4]) -> Vec<u8> {
    use crate::conntrack::tests::frames::{ipv4_packet, tcp};
    use crate::wire::tcp::flags;
    let segment = tcp(sport, 80, 0, 0, flags::ACK, 65535, None, 0);
    let mut f = [&eth_dst[..], &eth_src[..], &[0x08, 0x00]].concat();
    f.extend_from_slice(&ipv4_packet(src, dst, crate::wire::ip_proto::TCP, &segment));
    f
}

#[test]
fn masquerade_out_takes_one_pass_and_drops_what_the_tracker_finds_invalid() {
    let (mut h, table) = nat_harness((40000, 40009), 64);
    let frame = datagram(GW_A, MAC1, H1, 5000, OUTSIDE, 53);
    let before = h.runner.cache.counters;
    let (src, sport, ..) = udp_out(&send(&mut h, C1, &frame, 2), UP);
    assert_eq!(src, UPLINK_ADDR);
    // One decision, tracking included: no second pass after the tracker.
    let first = h.runner.cache.counters;
    assert_eq!(
        (first.misses - before.misses, first.hits - before.hits),
        (1, 0)
    );
    // The next frame: one cache hit, through the tracker, translated alike.
    assert_eq!(
        udp_out(&send(&mut h, C1, &frame, 3), UP),
        (UPLINK_ADDR, sport, OUTSIDE, 53)
    );
    let second = h.runner.cache.counters;
    assert_eq!(
        (second.misses - first.misses, second.hits - first.hits),
        (0, 1)
    );
    assert_eq!(table.counters().entries, 1);
    // A segment that opens nothing is INVALID to the tracker: dropped on
    // its way out, untranslated and unstored.
    let ack = tcp_ack(GW_A, MAC1, H1, 5001, OUTSIDE);
    assert!(send(&mut h, C1, &ack, 4).is_empty());
    assert_eq!(drops(&h.stats, DropReason::CtInvalid), 1);
    assert_eq!(table.counters().entries, 1);
}

/// A tracker whose connections outgrow the caches has each burst's
/// frames warmed before they are tracked, on the cache's misses and hits
/// alike: nothing else changes.
#[test]
fn a_warmed_tracker_translates_as_a_cold_one() {
    let (mut h, table) = nat_harness((40000, 40009), 1 << 14);
    for i in 0..8192u32 {
        let client = [10, 9, (i >> 8) as u8, i as u8];
        let frame = datagram(GW_A, MAC1, client, 4000, OUTSIDE, 53);
        let parsed = crate::parse::parse(&frame).unwrap();
        assert!(table
            .track(&frame, &parsed, 7, true, 1, false)
            .result
            .is_ok());
    }
    assert!(table.worth_warming());
    let frame = datagram(GW_A, MAC1, H1, 5000, OUTSIDE, 53);
    let (src, sport, ..) = udp_out(&send(&mut h, C1, &frame, 2), UP);
    assert_eq!(src, UPLINK_ADDR);
    let answer = datagram(UPLINK_MAC, ROUTER_MAC, OUTSIDE, 53, UPLINK_ADDR, sport);
    for now in 3..5 {
        assert_eq!(
            udp_out(&send(&mut h, C1, &frame, now), UP),
            (UPLINK_ADDR, sport, OUTSIDE, 53)
        );
        assert_eq!(
            udp_out(&send(&mut h, UP, &answer, now), C1),
            (OUTSIDE, 53, H1, 5000)
        );
    }
    assert!(h.runner.cache.counters.hits > 0, "hits warmed too");
    assert_eq!(table.counters().entries, 8193);
}
