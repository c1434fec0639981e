//! Port security through the datapath: every check and its reason, the
//! messages a host without an address sends, the flow cache, the trace.

use super::*;
use crate::datapath::tests::{port, Harness, VecSink, A, B, C};
use crate::datapath::VlanMode;
use crate::trace::TraceLog;

/// A binding of port 0 to `A`, 10.1.0.2 and fd00:1::2.
fn binding() -> PortSecurity {
    PortSecurity {
        mac: A,
        ips: vec!["10.1.0.2".parse().unwrap(), "fd00:1::2".parse().unwrap()],
        dhcp_server: false,
        router_advertisements: false,
    }
}

/// Port 0 bound as `security`, ports 1 and 2 unbound.
fn harness(security: PortSecurity) -> Harness {
    let mut ports: Vec<_> = (0..3).map(|i| port(i, VlanMode::default())).collect();
    ports[0].security = Some(security);
    Harness::new(ports)
}

const BOUND4: [u8; 4] = [10, 1, 0, 2];
const OTHER4: [u8; 4] = [10, 1, 0, 3];
const BOUND6: [u8; 16] = [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const OTHER6: [u8; 16] = [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3];

fn eth(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = [&dst[..], &src[..], &ethertype.to_be_bytes()].concat();
    f.extend_from_slice(payload);
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

fn arp(src: Mac, sender_mac: Mac, sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0, 1, 8, 0, 6, 4, 0, 1];
    p.extend_from_slice(&sender_mac);
    p.extend_from_slice(&sender);
    p.extend_from_slice(&[0; 6]);
    p.extend_from_slice(&target);
    eth(crate::flow::BROADCAST, src, ethertype::ARP, &p)
}

fn udp(src_port: u16, dst_port: u16) -> Vec<u8> {
    let mut u = [
        src_port.to_be_bytes(),
        dst_port.to_be_bytes(),
        12u16.to_be_bytes(),
        [0, 0],
    ]
    .concat();
    u.extend_from_slice(b"test");
    u
}

fn ipv4(src: Mac, ip_src: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
    let total = (20 + l4.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 64, proto, 0, 0]);
    p.extend_from_slice(&ip_src);
    p.extend_from_slice(&[10, 1, 0, 9]);
    p.extend_from_slice(l4);
    eth(C, src, ethertype::IPV4, &p)
}

fn ipv6(src: Mac, ip_src: [u8; 16], proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    p.extend_from_slice(&[proto, 255]);
    p.extend_from_slice(&ip_src);
    p.extend_from_slice(&[0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2]);
    p.extend_from_slice(l4);
    eth([0x33, 0x33, 0xff, 0, 0, 2], src, ethertype::IPV6, &p)
}

/// An ICMPv6 message of `kind` with `body` after its 4-byte header.
fn icmpv6(kind: u8, body: &[u8]) -> Vec<u8> {
    [&[kind, 0, 0, 0][..], body].concat()
}

/// A neighbour advertisement for `target` with a target link-layer
/// address option of `lladdr`.
fn neighbour_advertisement(target: [u8; 16], lladdr: Mac) -> Vec<u8> {
    let body = [
        &[0x60, 0, 0, 0][..],
        &target,
        &[TARGET_LINK_LAYER, 1],
        &lladdr,
    ]
    .concat();
    icmpv6(136, &body)
}

#[test]
fn honest_frames_pass() {
    let mut h = harness(binding());
    let udp4 = ipv4(A, BOUND4, ip_proto::UDP, &udp(4000, 53));
    assert_eq!(h.dropped(0, &udp4), None);
    assert_eq!(h.dropped(0, &arp(A, A, BOUND4, OTHER4)), None);
    let udp6 = ipv6(A, BOUND6, ip_proto::UDP, &udp(4000, 53));
    assert_eq!(h.dropped(0, &udp6), None);
    let na = neighbour_advertisement(BOUND6, A);
    assert_eq!(h.dropped(0, &ipv6(A, BOUND6, ip_proto::ICMPV6, &na)), None);
    let link_local = eui64_link_local(&A);
    let echo = icmpv6(128, &[0, 1, 0, 1]);
    assert_eq!(
        h.dropped(0, &ipv6(A, link_local, ip_proto::ICMPV6, &echo)),
        None
    );
    // other EtherTypes: the source MAC only
    assert_eq!(h.dropped(0, &eth(B, A, 0x88b5, &[0xee; 46])), None);
}

#[test]
fn another_source_mac_is_spoofed_mac() {
    let mut h = harness(binding());
    let f = ipv4(B, BOUND4, ip_proto::UDP, &udp(4000, 53));
    assert_eq!(h.dropped(0, &f), Some(DropReason::SpoofedMac));
    assert_eq!(
        h.dropped(0, &eth(C, B, 0x88b5, &[0xee; 46])),
        Some(DropReason::SpoofedMac)
    );
    assert_eq!(h.dropped(1, &f), None, "port 1 is not bound");
}

#[test]
fn another_source_ip_is_spoofed_ip() {
    let mut h = harness(binding());
    let f = ipv4(A, OTHER4, ip_proto::UDP, &udp(4000, 53));
    assert_eq!(h.dropped(0, &f), Some(DropReason::SpoofedIp));
    let f = ipv6(A, OTHER6, ip_proto::UDP, &udp(4000, 53));
    assert_eq!(h.dropped(0, &f), Some(DropReason::SpoofedIp));
    // a link-local address not derived from the port's MAC
    let f = ipv6(A, eui64_link_local(&B), ip_proto::UDP, &udp(4000, 53));
    assert_eq!(h.dropped(0, &f), Some(DropReason::SpoofedIp));
    // 0.0.0.0 outside DHCP, :: outside address configuration
    let f = ipv4(A, [0; 4], ip_proto::UDP, &udp(68, 53));
    assert_eq!(h.dropped(0, &f), Some(DropReason::SpoofedIp));
    let echo = icmpv6(128, &[0, 1, 0, 1]);
    assert_eq!(
        h.dropped(0, &ipv6(A, [0; 16], ip_proto::ICMPV6, &echo)),
        Some(DropReason::SpoofedIp)
    );
}

#[test]
fn hosts_without_an_address_may_configure_one() {
    let mut h = harness(binding());
    let discover = ipv4(A, [0; 4], ip_proto::UDP, &udp(68, 67));
    assert_eq!(h.dropped(0, &discover), None);
    let dad = icmpv6(135, &[&[0; 4][..], &BOUND6].concat());
    assert_eq!(
        h.dropped(0, &ipv6(A, [0; 16], ip_proto::ICMPV6, &dad)),
        None
    );
    let solicit_router = icmpv6(133, &[0; 4]);
    assert_eq!(
        h.dropped(0, &ipv6(A, [0; 16], ip_proto::ICMPV6, &solicit_router)),
        None
    );
    let mld = icmpv6(143, &[0, 0, 0, 0]);
    assert_eq!(
        h.dropped(0, &ipv6(A, [0; 16], ip_proto::ICMPV6, &mld)),
        None
    );
    // an ARP probe (RFC 5227) has sender 0.0.0.0
    assert_eq!(h.dropped(0, &arp(A, A, [0; 4], BOUND4)), None);
}

#[test]
fn arp_with_another_sender_is_spoofed_arp() {
    let mut h = harness(binding());
    assert_eq!(
        h.dropped(0, &arp(A, A, OTHER4, BOUND4)),
        Some(DropReason::SpoofedArp)
    );
    assert_eq!(
        h.dropped(0, &arp(A, B, BOUND4, OTHER4)),
        Some(DropReason::SpoofedArp)
    );
}

#[test]
fn neighbour_discovery_for_another_is_spoofed_nd() {
    let mut h = harness(binding());
    let for_other = neighbour_advertisement(OTHER6, A);
    let f = ipv6(A, BOUND6, ip_proto::ICMPV6, &for_other);
    assert_eq!(h.dropped(0, &f), Some(DropReason::SpoofedNd));
    let other_mac = neighbour_advertisement(BOUND6, B);
    let f = ipv6(A, BOUND6, ip_proto::ICMPV6, &other_mac);
    assert_eq!(h.dropped(0, &f), Some(DropReason::SpoofedNd));
    let solicitation = icmpv6(
        135,
        &[&[0; 4][..], &OTHER6, &[SOURCE_LINK_LAYER, 1], &B].concat(),
    );
    let f = ipv6(A, BOUND6, ip_proto::ICMPV6, &solicitation);
    assert_eq!(h.dropped(0, &f), Some(DropReason::SpoofedNd));
    let zero_length_option = icmpv6(
        135,
        &[&[0; 4][..], &OTHER6, &[SOURCE_LINK_LAYER, 0]].concat(),
    );
    let f = ipv6(A, BOUND6, ip_proto::ICMPV6, &zero_length_option);
    assert_eq!(h.dropped(0, &f), Some(DropReason::SpoofedNd));
}

#[test]
fn server_messages_need_to_be_allowed() {
    let offer = ipv4(A, BOUND4, ip_proto::UDP, &udp(67, 68));
    let dhcpv6_reply = ipv6(A, BOUND6, ip_proto::UDP, &udp(547, 546));
    let ra = ipv6(
        A,
        eui64_link_local(&A),
        ip_proto::ICMPV6,
        &icmpv6(134, &[64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    );
    let mut h = harness(binding());
    assert_eq!(h.dropped(0, &offer), Some(DropReason::DhcpServerDenied));
    assert_eq!(
        h.dropped(0, &dhcpv6_reply),
        Some(DropReason::DhcpServerDenied)
    );
    assert_eq!(
        h.dropped(0, &ra),
        Some(DropReason::RouterAdvertisementDenied)
    );
    assert_eq!(h.dropped(1, &offer), None, "unbound ports are not checked");
    let mut h = harness(PortSecurity {
        dhcp_server: true,
        router_advertisements: true,
        ..binding()
    });
    assert_eq!(h.dropped(0, &offer), None);
    assert_eq!(h.dropped(0, &dhcpv6_reply), None);
    assert_eq!(h.dropped(0, &ra), None);
}

#[test]
fn a_spoofed_frame_is_never_served_from_the_cache() {
    let mut h = harness(binding());
    // C behind port 1, so that frames to it are decided for good
    h.send(1, &eth(A, C, 0x88b5, &[0xee; 46]), 0);
    let honest = ipv4(A, BOUND4, ip_proto::UDP, &udp(4000, 53));
    h.send(0, &honest, 0);
    let hits = h.runner.cache.counters.hits;
    assert_eq!(h.dropped(0, &honest), None);
    assert_eq!(
        h.runner.cache.counters.hits,
        hits + 1,
        "the honest flow is cached"
    );
    // the same frame but for its source address, then for its DHCP ports
    let spoofed = ipv4(A, OTHER4, ip_proto::UDP, &udp(4000, 53));
    assert_eq!(h.dropped(0, &spoofed), Some(DropReason::SpoofedIp));
    h.send(0, &ipv4(A, BOUND4, ip_proto::UDP, &udp(68, 67)), 0);
    let offer = ipv4(A, BOUND4, ip_proto::UDP, &udp(67, 68));
    assert_eq!(h.dropped(0, &offer), Some(DropReason::DhcpServerDenied));
    // ARP and neighbour discovery read bytes outside the key: not cached
    let inserts = h.runner.cache.counters.inserts;
    assert_eq!(h.dropped(0, &arp(A, A, BOUND4, OTHER4)), None);
    assert_eq!(
        h.dropped(0, &arp(A, B, BOUND4, OTHER4)),
        Some(DropReason::SpoofedArp)
    );
    let na = |mac| {
        ipv6(
            A,
            BOUND6,
            ip_proto::ICMPV6,
            &neighbour_advertisement(BOUND6, mac),
        )
    };
    assert_eq!(h.dropped(0, &na(A)), None);
    assert_eq!(h.dropped(0, &na(B)), Some(DropReason::SpoofedNd));
    assert_eq!(h.runner.cache.counters.inserts, inserts);
}

/// The notes the trace of frame `f` from port 0 holds.
fn trace_notes(h: &mut Harness, f: &[u8]) -> Vec<String> {
    h.runner.trace_all = true;
    let mut log = TraceLog::default();
    let mut bytes = f.to_vec();
    h.runner.process(
        &h.dp,
        0,
        &mut [&mut bytes[..]],
        &[0],
        0,
        &mut VecSink::new(256),
        &mut h.stats,
        &mut log,
    );
    log.events
        .into_iter()
        .filter_map(|(_, e)| match e {
            TraceEvent::Note(text) => Some(text),
            TraceEvent::Drop(r) => Some(format!("drop({r})")),
            _ => None,
        })
        .collect()
}

#[test]
fn the_trace_says_why() {
    let mut h = harness(binding());
    let honest = ipv4(A, BOUND4, ip_proto::UDP, &udp(4000, 53));
    assert_eq!(
        trace_notes(&mut h, &honest),
        vec!["allowed: IPv4 source bound to the port"]
    );
    let spoofed = ipv4(B, BOUND4, ip_proto::UDP, &udp(4000, 53));
    assert_eq!(
        trace_notes(&mut h, &spoofed),
        vec![
            "source MAC 02:00:00:00:00:0b is not the port's 02:00:00:00:00:0a",
            "drop(spoofed_mac)"
        ]
    );
}

#[test]
fn the_link_local_address_is_modified_eui64() {
    let link_local = eui64_link_local(&[0x02, 0x42, 0xac, 0x11, 0, 2]);
    assert_eq!(
        Ipv6Addr::from(link_local),
        "fe80::42:acff:fe11:2".parse::<Ipv6Addr>().unwrap()
    );
}
