//! Masquerade through `replay --trace`, into configs/nat.toml: a
//! container's datagram leaves with the uplink's address and a port of the
//! range, the answer comes back translated to the container; a datagram
//! to a published port goes to its container, the client's address kept,
//! and the answer leaves from the published port (checksums
//! checked with the wire parsers); a third connection to the same remote
//! finds the two ports taken (`nat_ports_exhausted`), a connection to
//! another remote reuses one; a full table refuses the next
//! (`ct_table_full`); an ICMP port unreachable from the server comes back
//! translated, outer and quoted headers (RELATED); a stray datagram to the uplink's address belongs to
//! no connection. Each decision is explained in the frame's trace, as the
//! conntrack cases of Open vSwitch's system-traffic tests are.

mod common;

use common::*;
use vswitch_pipeline::wire::checksum::PseudoHeader;
use vswitch_pipeline::wire::{
    arp, ip_proto, FrameBuilder, Icmpv4Packet, Ipv4Outer, Ipv4Packet, Ipv4Repr, UdpPacket,
};

const MAC1: [u8; 6] = [0x02, 0, 0, 0, 1, 2];
const GW_FRONT: [u8; 6] = [0x02, 0x47, 0, 0, 0, 1];
const UPLINK_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xee, 1];
const ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xee, 0xfe];
const H1: [u8; 4] = [10, 1, 0, 2];
const UPLINK: [u8; 4] = [192, 0, 2, 1];
const SERVER: [u8; 4] = [198, 51, 100, 7];
const OTHER: [u8; 4] = [203, 0, 113, 9];

/// An address and port.
type Endpoint = ([u8; 4], u16);

type Run = TracedRun;

impl Run {
    /// Source and destination (address, port) of the IPv4 frames `port`
    /// sent, their checksums checked.
    fn sent(&self, port: &str) -> Vec<(Endpoint, Endpoint)> {
        read_pcap(&self.dir.join("out").join(format!("{port}.pcap")))
            .iter()
            .filter(|f| f[12..14] == [8, 0])
            .map(|f| {
                let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
                assert!(ip.verify_checksum());
                let pseudo = PseudoHeader::Ipv4 {
                    src: ip.src_addr(),
                    dst: ip.dst_addr(),
                };
                let udp = UdpPacket::new_checked(ip.payload()).unwrap();
                assert!(udp.verify_checksum(&pseudo));
                (
                    (ip.src_addr(), udp.src_port()),
                    (ip.dst_addr(), udp.dst_port()),
                )
            })
            .collect()
    }
}

fn run(inputs: &[(&str, Capture)]) -> Run {
    TracedRun::replay("nat.toml", inputs)
}

fn udp(eth: ([u8; 6], [u8; 6]), src: Endpoint, dst: Endpoint) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let end = buf.len();
    let built = FrameBuilder::new(&mut buf, end)
        .and_then(|b| b.push_bytes(b"translated payload"))
        .and_then(|b| b.push_udp(src.1, dst.1))
        .and_then(|b| {
            b.push_ipv4(Ipv4Outer {
                src: src.0,
                dst: dst.0,
                ttl: 64,
                tos: 0,
                dont_fragment: true,
                ident: 7,
            })
        })
        .and_then(|b| b.push_ethernet(eth.0, eth.1))
        .unwrap();
    let range = built.finish(true).unwrap();
    buf[range].to_vec()
}

fn out(sport: u16, dst: [u8; 4]) -> Vec<u8> {
    udp((GW_FRONT, MAC1), (H1, sport), (dst, 53))
}

fn answer(from: [u8; 4], to_port: u16) -> Vec<u8> {
    udp((UPLINK_MAC, ROUTER_MAC), (from, 53), (UPLINK, to_port))
}

/// c1 asks for its gateway first: the gateway learns where it is.
fn c1_arps() -> (f64, Vec<u8>) {
    let mut buf = [0u8; 64];
    let len = arp::write_request(&mut buf, MAC1, H1, [10, 1, 0, 1]).unwrap();
    (0.0, buf[..len].to_vec())
}

#[test]
fn masquerade_out_and_its_answer_back_are_traced() {
    let first = run(&[("c1", vec![c1_arps(), (1.0, out(5000, SERVER))])]);
    let sent = first.sent("up");
    assert_eq!(sent.len(), 1);
    let ((src, port), dst) = sent[0];
    assert_eq!((src, dst), (UPLINK, (SERVER, 53)));
    assert!((40000..=40001).contains(&port));
    has(
        first.frame(2),
        &[
            "ct(zone=32768,commit,nat(masquerade=0),continue): tracked on the way out",
            "route 198.51.100.7: default via uplink up",
            &format!("ct zone 32768: +trk+new, nat 10.1.0.2:5000 > 198.51.100.7:53 to 192.0.2.1:{port} > 198.51.100.7:53"),
        ],
    );
    // One pass: the tracker's verdict comes as the output list runs.
    assert!(!first.frame(2).contains("recirculation"));
    // The same capture with the answer: translated back into front.
    let r = run(&[
        ("c1", vec![c1_arps(), (1.0, out(5000, SERVER))]),
        ("up", vec![(1.5, answer(SERVER, port))]),
    ]);
    assert_eq!(r.sent("c1"), vec![((SERVER, 53), (H1, 5000))]);
    has(
        r.frame(3),
        &[
            "stage uplink",
            "ct(zone=32768,nat): track first",
            &format!("ct zone 32768: +trk+est+rpl, nat 198.51.100.7:53 > 192.0.2.1:{port} to 198.51.100.7:53 > 10.1.0.2:5000"),
            "route 10.1.0.2: into network front",
        ],
    );
    assert_eq!(r.summary.conntrack.created, 1);
    assert_eq!(r.summary.conntrack.entries, 1);
}

#[test]
fn exhausted_ports_are_counted_and_reused_towards_another_remote() {
    let r = run(&[(
        "c1",
        vec![
            c1_arps(),
            (1.0, out(5000, SERVER)),
            (1.1, out(5001, SERVER)),
            (1.2, out(5002, SERVER)),
            (1.3, out(5003, OTHER)),
        ],
    )]);
    let sent = r.sent("up");
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_ne!(sent[0].0 .1, sent[1].0 .1);
    assert!([sent[0].0 .1, sent[1].0 .1].contains(&sent[2].0 .1));
    assert_eq!(r.drops("c1", "nat_ports_exhausted"), 1);
    assert_eq!(r.summary.conntrack.nat_ports_exhausted, 1);
    // The tracker refused it: the ct action was its last step.
    has(
        r.frame(4),
        &["actions: ct(zone=32768,commit,nat(masquerade=0),continue)"],
    );
    assert!(!r.frame(4).contains("recirculation"), "{}", r.frame(4));
}

#[test]
fn a_full_table_refuses_a_new_connection_and_strays_find_none() {
    let outs = vec![
        c1_arps(),
        (1.0, out(5000, SERVER)),
        (1.1, out(5001, SERVER)),
        (1.2, out(5002, OTHER)),
    ];
    // The ports the three connections get (the same in every replay:
    // the table's seed is fixed), to answer them: answered connections
    // are never evicted, so the table (3) is then full for good.
    let ports: Vec<(Endpoint, Endpoint)> = run(&[("c1", outs.clone())]).sent("up");
    let mut answers: Capture = ports
        .iter()
        .map(|((_, port), (remote, _))| (1.5, answer(*remote, *port)))
        .collect();
    answers.push((2.0, answer(SERVER, 1234)));
    let mut c1 = outs;
    c1.push((3.0, out(5003, [203, 0, 113, 10])));
    let r = run(&[("c1", c1), ("up", answers)]);
    assert_eq!(r.sent("c1").len(), 3);
    assert_eq!(r.sent("up").len(), 3);
    assert_eq!(r.drops("c1", "ct_table_full"), 1);
    assert_eq!(r.summary.conntrack.table_full, 1);
    assert_eq!(r.summary.conntrack.entries, 3);
    // A datagram to the uplink's address of no connection: a UDP frame
    // that could open one, but replies never do.
    assert_eq!(r.drops("up", "nat_no_connection"), 1);
    has(
        r.frame(8),
        &["ct zone 32768: +trk+new", "drop(nat_no_connection)"],
    );
}

/// A port unreachable from the server about the translated datagram
/// `sent` (its IPv4 header and 8 bytes quoted).
fn port_unreachable(sent: &[u8]) -> Vec<u8> {
    let quoted = &sent[14..14 + 28];
    let mut f = vec![0u8; 14 + 20 + 8 + quoted.len()];
    f[..6].copy_from_slice(&UPLINK_MAC);
    f[6..12].copy_from_slice(&ROUTER_MAC);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    Ipv4Repr {
        src_addr: SERVER,
        dst_addr: UPLINK,
        protocol: ip_proto::ICMP,
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
fn an_icmp_error_from_the_server_is_related_and_translated_back() {
    let outs = vec![c1_arps(), (1.0, out(5000, SERVER))];
    let first = run(&[("c1", outs.clone())]);
    let sent = read_pcap(&first.dir.join("out").join("up.pcap"));
    let r = run(&[
        ("c1", outs),
        ("up", vec![(1.5, port_unreachable(&sent[0]))]),
    ]);
    let back = read_pcap(&r.dir.join("out").join("c1.pcap"));
    let error = back
        .iter()
        .find(|f| f[12..14] == [8, 0])
        .expect("the error");
    let ip = Ipv4Packet::new_checked(&error[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!((ip.src_addr(), ip.dst_addr()), (SERVER, H1));
    assert!(Icmpv4Packet::new_checked(ip.payload())
        .unwrap()
        .verify_checksum());
    let quoted = Ipv4Packet::new_unchecked(&ip.payload()[8..]);
    assert!(quoted.verify_checksum());
    assert_eq!((quoted.src_addr(), quoted.dst_addr()), (H1, SERVER));
    assert_eq!(&ip.payload()[28..30], &5000u16.to_be_bytes());
    has(
        r.frame(3),
        &[
            "ct(zone=32768,nat): track first",
            "ct zone 32768: +trk+rel+rpl, nat 198.51.100.7:0 > 192.0.2.1:0 to 198.51.100.7:0 > 10.1.0.2:0",
            "route 10.1.0.2: into network front",
        ],
    );
}

#[test]
fn a_published_port_is_translated_to_the_container_and_its_answer_back() {
    let client = ([203, 0, 113, 20], 6000);
    let r = run(&[
        (
            "c1",
            vec![c1_arps(), (2.0, udp((GW_FRONT, MAC1), (H1, 80), client))],
        ),
        (
            "up",
            vec![(1.0, udp((UPLINK_MAC, ROUTER_MAC), client, (UPLINK, 8080)))],
        ),
    ]);
    assert_eq!(r.sent("c1"), vec![(client, (H1, 80))]);
    assert_eq!(r.sent("up"), vec![((UPLINK, 8080), client)]);
    has(
        r.frame(2),
        &[
            "ct(zone=32768,commit,nat(publish=0.0)): track first",
            "ct zone 32768: +trk+new, nat 203.0.113.20:6000 > 192.0.2.1:8080 to 203.0.113.20:6000 > 10.1.0.2:80",
        ],
    );
    has(
        r.frame(3),
        &["ct zone 32768: +trk+est+rpl, nat 10.1.0.2:80 > 203.0.113.20:6000 to 192.0.2.1:8080 > 203.0.113.20:6000"],
    );
}
