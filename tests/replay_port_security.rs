//! Port security through `replay --trace`, into configs/port-security.toml:
//! a container (c2) that takes another's MAC, IPv4 or IPv6 address, or
//! claims it in ARP or a neighbour advertisement, or plays DHCP server or
//! router, gets nothing through and each frame is counted under its
//! reason; the honest containers keep reaching each other; the port
//! allowed to be the DHCP server and router is; an unbound port is not
//! checked. Each decision is explained in the frame's trace.

mod common;

use std::path::Path;

use common::*;
use vswitch::replay::{replay_traced, ReplayOptions};

const C1: [u8; 6] = [2, 0, 0, 0, 0, 1];
const C2: [u8; 6] = [2, 0, 0, 0, 0, 2];
const DHCP: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
const C3: [u8; 6] = [2, 0, 0, 0, 0, 3];
const IP1: [u8; 4] = [10, 1, 0, 1];
const IP2: [u8; 4] = [10, 1, 0, 2];
const IP6_1: [u8; 16] = [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const IP6_2: [u8; 16] = [0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
/// Frames into one port, each with its time in seconds.
type Capture = Vec<(f64, Vec<u8>)>;

const ALL_NODES: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

fn frame(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = [&dst[..], &src[..], &ethertype.to_be_bytes()[..], payload].concat();
    f.resize(f.len().max(60), 0);
    f
}

/// An ARP of `op` (1 request, 2 reply) from `sender_mac`/`sender`.
fn arp(src: [u8; 6], op: u8, sender_mac: [u8; 6], sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let body = [
        &[0, 1, 8, 0, 6, 4, 0, op][..],
        &sender_mac,
        &sender,
        &[0; 6],
        &target,
    ]
    .concat();
    frame([0xff; 6], src, 0x0806, &body)
}

fn udp_header(src_port: u16, dst_port: u16) -> Vec<u8> {
    let len = 8u16 + 4;
    [
        &src_port.to_be_bytes()[..],
        &dst_port.to_be_bytes(),
        &len.to_be_bytes(),
        &[0, 0],
        b"data",
    ]
    .concat()
}

fn udp4(
    dst: [u8; 6],
    src: [u8; 6],
    ip_src: [u8; 4],
    ip_dst: [u8; 4],
    ports: (u16, u16),
) -> Vec<u8> {
    let l4 = udp_header(ports.0, ports.1);
    let total = (20 + l4.len()) as u16;
    let ip = [
        &[0x45, 0][..],
        &total.to_be_bytes(),
        &[0, 0, 0, 0, 64, 17, 0, 0],
        &ip_src,
        &ip_dst,
        &l4,
    ]
    .concat();
    frame(dst, src, 0x0800, &ip)
}

fn ipv6(dst: [u8; 6], src: [u8; 6], ip_src: [u8; 16], next: u8, l4: &[u8]) -> Vec<u8> {
    let all_nodes = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let len = l4.len() as u16;
    let ip = [
        &[0x60, 0, 0, 0][..],
        &len.to_be_bytes(),
        &[next, 255],
        &ip_src,
        &all_nodes,
        l4,
    ]
    .concat();
    frame(dst, src, 0x86dd, &ip)
}

/// A neighbour advertisement for `target` at `lladdr`.
fn neighbour_advertisement(src: [u8; 6], ip_src: [u8; 16], target: [u8; 16]) -> Vec<u8> {
    let icmp = [&[136, 0, 0, 0, 0x20, 0, 0, 0][..], &target, &[2, 1], &src].concat();
    ipv6(ALL_NODES, src, ip_src, 58, &icmp)
}

fn router_advertisement(src: [u8; 6]) -> Vec<u8> {
    let link_local = [
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        src[0] ^ 2,
        src[1],
        src[2],
        0xff,
        0xfe,
        src[3],
        src[4],
        src[5],
    ];
    let icmp = [&[134, 0, 0, 0, 64, 0, 0, 0x1e][..], &[0; 8]].concat();
    ipv6(ALL_NODES, src, link_local, 58, &icmp)
}

#[test]
fn spoofing_and_server_messages_are_dropped_with_their_reason() {
    let offer = |src, ip| udp4([0xff; 6], src, ip, [255; 4], (67, 68));
    let inputs: Vec<(&str, Capture)> = vec![
        (
            "c1",
            vec![
                (0.0, arp(C1, 1, C1, IP1, IP2)),
                (12.0, udp4(C2, C1, IP1, IP2, (5000, 7))),
            ],
        ),
        (
            "c2",
            vec![
                (1.0, udp4(C1, C2, IP2, IP1, (7, 5000))),
                (2.0, udp4(C3, C1, IP1, IP2, (5000, 7))),
                (3.0, udp4(C1, C2, IP1, IP2, (5000, 7))),
                (4.0, arp(C2, 2, C2, IP1, IP2)),
                (5.0, neighbour_advertisement(C2, IP6_2, IP6_1)),
                (6.0, ipv6(C1, C2, IP6_1, 17, &udp_header(5000, 7))),
                (7.0, offer(C2, IP2)),
                (8.0, router_advertisement(C2)),
            ],
        ),
        (
            "dhcp",
            vec![
                (9.0, offer(DHCP, [10, 1, 0, 254])),
                (10.0, router_advertisement(DHCP)),
            ],
        ),
        ("c3", vec![(11.0, udp4(C1, C3, IP2, IP1, (7, 5000)))]),
    ];
    let dir = TempDir::new("replay-port-security").unwrap();
    let mut files = Vec::new();
    for (port, frames) in &inputs {
        let path = dir.join(&format!("in-{port}.pcap"));
        write_pcap(&path, frames);
        files.push((port.to_string(), path));
    }
    let (summary, trace) = replay_traced(&ReplayOptions {
        config: Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/port-security.toml"),
        inputs: files,
        output_dir: dir.join("out"),
    })
    .unwrap();

    let c2 = &summary.ports["c2"];
    for reason in [
        "spoofed_mac",
        "spoofed_ip",
        "spoofed_arp",
        "spoofed_nd",
        "dhcp_server_denied",
        "router_advertisement_denied",
    ] {
        let count = c2.drop_reasons.get(reason).copied().unwrap_or(0);
        let expected = if reason == "spoofed_ip" { 2 } else { 1 };
        assert_eq!(count, expected, "{reason} in {:?}", c2.drop_reasons);
    }
    assert_eq!(c2.drops, 7, "{:?}", c2.drop_reasons);
    for port in ["c1", "dhcp", "c3"] {
        assert_eq!(
            summary.ports[port].drops, 0,
            "{port}: {:?}",
            summary.ports[port].drop_reasons
        );
    }

    // c1 got c2's honest datagram, the real server's offer and
    // advertisement, and the unbound c3's frame: nothing spoofed.
    let to_c1 = read_pcap(&dir.join("out/c1.pcap"));
    let sources: Vec<[u8; 6]> = to_c1.iter().map(|f| f[6..12].try_into().unwrap()).collect();
    assert_eq!(sources, vec![C2, DHCP, DHCP, C3]);
    // and c2 got c1's ARP and datagram, then the same two server messages:
    // the honest containers keep reaching each other.
    let to_c2 = read_pcap(&dir.join("out/c2.pcap"));
    let sources: Vec<[u8; 6]> = to_c2.iter().map(|f| f[6..12].try_into().unwrap()).collect();
    assert_eq!(sources, vec![C1, DHCP, DHCP, C1]);

    let frames: Vec<&str> = trace.split("frame ").filter(|f| !f.is_empty()).collect();
    assert_eq!(frames.len(), 13, "{trace}");
    let expect = |n: usize, lines: &[&str]| {
        for line in lines {
            assert!(
                frames[n].contains(line),
                "missing {line:?} in\n{}",
                frames[n]
            );
        }
    };
    expect(
        0,
        &[
            "stage port_security",
            "allowed: ARP sender bound to the port",
        ],
    );
    expect(1, &["allowed: IPv4 source bound to the port"]);
    expect(
        2,
        &[
            "source MAC 02:00:00:00:00:01 is not the port's 02:00:00:00:00:02",
            "drop(spoofed_mac)",
        ],
    );
    expect(
        3,
        &[
            "IPv4 source 10.1.0.1 is not bound to the port",
            "drop(spoofed_ip)",
        ],
    );
    expect(
        4,
        &[
            "ARP sender 10.1.0.1 is not bound to the port",
            "drop(spoofed_arp)",
        ],
    );
    expect(
        5,
        &[
            "neighbour advertisement for fd00:1::1, not an address of the port",
            "drop(spoofed_nd)",
        ],
    );
    expect(
        6,
        &[
            "IPv6 source fd00:1::1 is not bound to the port",
            "drop(spoofed_ip)",
        ],
    );
    expect(
        7,
        &[
            "DHCP server message (UDP 67 -> 68) from a port without dhcp_server",
            "drop(dhcp_server_denied)",
        ],
    );
    expect(
        8,
        &[
            "router advertisement from a port without router_advertisements",
            "drop(router_advertisement_denied)",
        ],
    );
    expect(9, &["allowed: IPv4 source bound to the port"]);
    expect(
        10,
        &["allowed: neighbour discovery for the port's addresses"],
    );
    assert!(
        !frames[11].contains("port_security"),
        "c3 is not bound:\n{}",
        frames[11]
    );
}
