//! Gateways of container networks through `replay --trace`, into
//! configs/gateway.toml: ARP for the gateway answered; a routed frame out
//! with new MACs, TTL one less and its checksums right (checked with the
//! wire parsers); TTL expiry answered with an ICMP time exceeded quoting
//! the original; routing that is not allowed answered with unreachable.
//! Each decision is explained in the frame's trace.

mod common;

use common::*;
use vswitch_pipeline::wire::checksum::PseudoHeader;
use vswitch_pipeline::wire::{
    arp, ArpPacket, ArpRepr, FrameBuilder, Icmpv4Packet, Ipv4Outer, Ipv4Packet, UdpPacket,
};

const MAC1: [u8; 6] = [0x02, 0, 0, 0, 1, 2];
const MAC2: [u8; 6] = [0x02, 0, 0, 0, 2, 2];
const GW_FRONT: [u8; 6] = [0x02, 0x47, 0, 0, 0, 1];
const GW_BACK: [u8; 6] = [0x02, 0x47, 0, 0, 0, 2];
const H1: [u8; 4] = [10, 1, 0, 2];
const H2: [u8; 4] = [10, 2, 0, 2];
const H3: [u8; 4] = [10, 3, 0, 2];

type Run = TracedRun;

impl Run {
    fn sent(&self, port: &str) -> Vec<Vec<u8>> {
        read_pcap(&self.dir.join("out").join(format!("{port}.pcap")))
    }
}

fn run(inputs: &[(&str, Capture)]) -> Run {
    TracedRun::replay("gateway.toml", inputs)
}

fn arp_request(from: [u8; 6], sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let len = arp::write_request(&mut buf, from, sender, target).unwrap();
    buf[..len].to_vec()
}

fn arp_reply(from: [u8; 6], sender: [u8; 4], to: [u8; 6], target: [u8; 4]) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let len = arp::write_reply(&mut buf, from, sender, to, target).unwrap();
    buf[..len].to_vec()
}

fn udp(eth_dst: [u8; 6], eth_src: [u8; 6], src: [u8; 4], dst: [u8; 4], ttl: u8) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let end = buf.len();
    let built = FrameBuilder::new(&mut buf, end)
        .and_then(|b| b.push_bytes(b"routed payload"))
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

/// c1 asks for its gateway first: the gateway learns where it is.
fn c1_arps(at: f64) -> (f64, Vec<u8>) {
    (at, arp_request(MAC1, H1, [10, 1, 0, 1]))
}

#[test]
fn arp_for_the_gateway_is_answered_and_traced() {
    let r = run(&[("c1", vec![c1_arps(0.0)])]);
    let sent = r.sent("c1");
    assert_eq!(sent.len(), 1);
    let reply = ArpRepr::parse(&ArpPacket::new_unchecked(&sent[0][14..])).unwrap();
    assert_eq!(reply.operation, arp::operation::REPLY);
    assert_eq!(reply.source_hardware_addr, GW_FRONT);
    assert_eq!(reply.source_protocol_addr, [10, 1, 0, 1]);
    assert_eq!(reply.target_hardware_addr, MAC1);
    has(
        r.frame(1),
        &[
            "stage l3",
            "arp for gateway 10.1.0.1 of network front: answered",
            "actions: answer_neighbour",
        ],
    );
}

#[test]
fn a_routed_frame_gets_new_macs_one_less_ttl_and_right_checksums() {
    let f = udp(GW_FRONT, MAC1, H1, H2, 64);
    let r = run(&[
        ("c1", vec![c1_arps(0.0), (1.0, f.clone()), (2.0, f.clone())]),
        (
            "c2",
            vec![(1.5, arp_reply(MAC2, H2, GW_BACK, [10, 2, 0, 1]))],
        ),
    ]);
    // The first frame waits for ARP: the request goes out into back.
    has(
        r.frame(2),
        &[
            "route 10.2.0.2: into network back (ttl 64 -> 63)",
            "next hop 10.2.0.2 unresolved: ARP request",
            "drop(route_neighbour_unresolved)",
        ],
    );
    assert_eq!(r.drops("c1", "route_neighbour_unresolved"), 1);
    has(
        r.frame(3),
        &[
            "arp reply to gateway 10.2.0.1: 10.2.0.2 is at 02:00:00:00:02:02, a neighbour of network back",
            "drop(gateway_arp)",
        ],
    );
    has(
        r.frame(4),
        &[
            "route 10.2.0.2: into network back (ttl 64 -> 63)",
            "next hop 10.2.0.2 is at 02:00:00:00:02:02",
            "dec_ttl",
            "set_eth_src:02:47:00:00:00:02",
            "set_eth_dst:02:00:00:00:02:02",
        ],
    );
    let sent = r.sent("c2");
    assert_eq!(sent.len(), 2, "the ARP request, then the routed frame");
    let request = ArpRepr::parse(&ArpPacket::new_unchecked(&sent[0][14..])).unwrap();
    assert_eq!(request.source_hardware_addr, GW_BACK);
    assert_eq!(request.source_protocol_addr, [10, 2, 0, 1]);
    assert_eq!(request.target_protocol_addr, H2);
    let routed = &sent[1];
    assert_eq!(&routed[..6], &MAC2);
    assert_eq!(&routed[6..12], &GW_BACK);
    let ip = Ipv4Packet::new_checked(&routed[14..]).unwrap();
    assert_eq!(ip.ttl(), 63);
    assert!(ip.verify_checksum());
    let pseudo = PseudoHeader::Ipv4 {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
    };
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert!(udp.verify_checksum(&pseudo));
    assert_eq!(
        &routed[14 + 20..],
        &f[14 + 20..],
        "the datagram is untouched"
    );
}

fn icmp_to_c1(r: &Run) -> Vec<u8> {
    let sent = r.sent("c1");
    let icmp = sent.last().expect("an ICMP answer to c1").clone();
    assert_eq!(&icmp[..6], &MAC1);
    assert_eq!(&icmp[6..12], &GW_FRONT);
    let ip = Ipv4Packet::new_checked(&icmp[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(ip.src_addr(), [10, 1, 0, 1]);
    assert_eq!(ip.dst_addr(), H1);
    assert!(Icmpv4Packet::new_checked(&icmp[34..])
        .unwrap()
        .verify_checksum());
    icmp
}

#[test]
fn ttl_expiry_gets_time_exceeded_quoting_the_original() {
    let f = udp(GW_FRONT, MAC1, H1, H2, 1);
    let r = run(&[("c1", vec![c1_arps(0.0), (1.0, f.clone())])]);
    has(
        r.frame(2),
        &[
            "route 10.2.0.2: ttl 1 expires here",
            "icmp time exceeded sent to 10.1.0.2",
            "icmp_reply(time_exceeded)",
            "drop(route_ttl_expired)",
        ],
    );
    let answer = icmp_to_c1(&r);
    let icmp = Icmpv4Packet::new_checked(&answer[34..]).unwrap();
    assert_eq!((icmp.msg_type(), icmp.msg_code()), (11, 0));
    assert_eq!(icmp.payload(), &f[14..], "the original header and datagram");
    assert_eq!(r.drops("c1", "route_ttl_expired"), 1);
}

#[test]
fn routing_that_is_not_allowed_gets_administratively_prohibited() {
    let r = run(&[(
        "c1",
        vec![c1_arps(0.0), (1.0, udp(GW_FRONT, MAC1, H1, H3, 64))],
    )]);
    has(
        r.frame(2),
        &[
            "route 10.3.0.2: into network iso, not allowed from here",
            "icmp administratively prohibited sent to 10.1.0.2",
            "drop(route_not_allowed)",
        ],
    );
    let answer = icmp_to_c1(&r);
    let icmp = Icmpv4Packet::new_checked(&answer[34..]).unwrap();
    assert_eq!((icmp.msg_type(), icmp.msg_code()), (3, 13));
    assert!(r.sent("c3").is_empty());
}
