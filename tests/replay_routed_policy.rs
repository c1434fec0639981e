//! NetworkPolicy on routed traffic through `replay --trace`, into
//! configs/routed-policy.toml: connections between networks (IPv4 and
//! IPv6, with an ipBlock's except list) and to a published port from the
//! uplink are decided by the policies of both endpoints, replies of the
//! allowed ones come back through a default deny, and each frame's trace
//! names the rule that decided it.

mod common;

use common::*;
use vswitch_pipeline::wire::{arp, ndp, FrameBuilder, Ipv6Outer};

const MAC1: [u8; 6] = [0x02, 0, 0, 0, 1, 2];
const MAC2: [u8; 6] = [0x02, 0, 0, 0, 2, 2];
const MAC3: [u8; 6] = [0x02, 0, 0, 0, 2, 3];
const GW_FRONT: [u8; 6] = [0x02, 0x47, 0, 0, 0, 1];
const GW_BACK: [u8; 6] = [0x02, 0x47, 0, 0, 0, 2];
const UPLINK_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xee, 1];
const ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xee, 0xfe];
const H1: [u8; 4] = [10, 1, 0, 2];
const H2: [u8; 4] = [10, 2, 0, 2];
const H3: [u8; 4] = [10, 2, 0, 3];
const UPLINK_ADDR: [u8; 4] = [192, 0, 2, 1];
const CLIENT: [u8; 4] = [198, 51, 100, 7];
const STRANGER: [u8; 4] = [203, 0, 113, 9];
const TCP: u8 = 6;
const UDP: u8 = 17;
const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;

fn v6(net: u16, host: u16) -> [u8; 16] {
    std::net::Ipv6Addr::new(0xfd00, net, 0, 0, 0, 0, 0, host).octets()
}

/// A TCP segment with `flags` in an IPv4 frame.
fn tcp4(
    eth: ([u8; 6], [u8; 6]),
    src: [u8; 4],
    dst: [u8; 4],
    ports: (u16, u16),
    flags: u8,
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&eth.0);
    f.extend_from_slice(&eth.1);
    f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, TCP, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&ports.0.to_be_bytes());
    f.extend_from_slice(&ports.1.to_be_bytes());
    let ack = if flags == SYN_ACK { 2 } else { 0 };
    f.extend_from_slice(&[
        0, 0, 0, 1, 0, 0, 0, ack, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0,
    ]);
    f
}

/// A UDP datagram in an IPv6 frame, checksums filled.
fn udp6(eth: ([u8; 6], [u8; 6]), src: [u8; 16], dst: [u8; 16], ports: (u16, u16)) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let end = buf.len();
    let built = FrameBuilder::new(&mut buf, end)
        .and_then(|b| b.push_bytes(b"dns?"))
        .and_then(|b| b.push_udp(ports.0, ports.1))
        .and_then(|b| {
            b.push_ipv6(Ipv6Outer {
                src,
                dst,
                hop_limit: 64,
                traffic_class: 0,
                flow_label: 0,
            })
        })
        .and_then(|b| b.push_ethernet(eth.0, eth.1))
        .unwrap();
    let range = built.finish(true).unwrap();
    buf[range].to_vec()
}

/// Each container asks for its gateways (IPv4 and IPv6): the gateway
/// learns where it is.
fn announce(mac: [u8; 6], ip: [u8; 4], net: u16, host: u16) -> Capture {
    let mut arp_frame = [0u8; 64];
    let len = arp::write_request(&mut arp_frame, mac, ip, [ip[0], ip[1], 0, 1]).unwrap();
    let mut ns = [0u8; 128];
    let ns_len = ndp::write_solicit(&mut ns, mac, v6(net, host), v6(net, 1)).unwrap();
    vec![
        (0.0, arp_frame[..len].to_vec()),
        (0.1, ns[..ns_len].to_vec()),
    ]
}

/// Whether `port` sent an IP frame of `proto` from `src` (the last bytes
/// of its address) port `sport` to port `dport`.
fn sent(r: &TracedRun, port: &str, proto: u8, src: &[u8], sport: u16, dport: u16) -> bool {
    r.sent_frames(port).iter().any(|f| {
        let (l3, proto_at, src_at) = match f[12..14] {
            [0x08, 0x00] => (34, 23, 26..30),
            [0x86, 0xdd] => (54, 20, 22..38),
            _ => return false,
        };
        f.len() >= l3 + 4
            && f[proto_at] == proto
            && f[src_at] == *src
            && f[l3..l3 + 2] == sport.to_be_bytes()
            && f[l3 + 2..l3 + 4] == dport.to_be_bytes()
    })
}

/// The trace of the frame received at `stamp` ("at 1.1": 1.1 seconds
/// into the replay).
fn traced_at(r: &TracedRun, stamp: &str) -> String {
    r.trace
        .split("\nframe ")
        .find(|f| f.lines().next().is_some_and(|l| l.contains(stamp)))
        .unwrap_or_else(|| panic!("no frame at {stamp} in\n{}", r.trace))
        .to_string()
}

fn replay() -> TracedRun {
    let to_front = (GW_BACK, MAC2);
    let from_c3 = (GW_BACK, MAC3);
    let to_back = (GW_FRONT, MAC1);
    let from_up = (UPLINK_MAC, ROUTER_MAC);
    let mut c1 = announce(MAC1, H1, 1, 2);
    c1.extend([
        (1.1, tcp4(to_back, H1, H2, (80, 40000), SYN_ACK)),
        (1.4, tcp4(to_back, H1, H2, (5000, 80), SYN)),
        (2.1, udp6(to_back, v6(1, 2), v6(2, 2), (53, 40000))),
        (3.1, tcp4(to_back, H1, CLIENT, (80, 6000), SYN_ACK)),
    ]);
    let mut c2 = announce(MAC2, H2, 2, 2);
    c2.extend([
        (1.0, tcp4(to_front, H2, H1, (40000, 80), SYN)),
        (1.3, tcp4(to_front, H2, H1, (40002, 22), SYN)),
        (2.0, udp6(to_front, v6(2, 2), v6(1, 2), (40000, 53))),
    ]);
    let mut c3 = announce(MAC3, H3, 2, 3);
    c3.extend([
        (1.2, tcp4(from_c3, H3, H1, (40001, 80), SYN)),
        (2.2, udp6(from_c3, v6(2, 3), v6(1, 2), (40001, 53))),
    ]);
    let up = vec![
        (3.0, tcp4(from_up, CLIENT, UPLINK_ADDR, (6000, 8080), SYN)),
        (3.2, tcp4(from_up, STRANGER, UPLINK_ADDR, (6001, 8080), SYN)),
    ];
    TracedRun::replay(
        "routed-policy.toml",
        &[("c1", c1), ("c2", c2), ("c3", c3), ("up", up)],
    )
}

#[test]
fn routed_connections_between_networks_are_decided_by_both_endpoints() {
    let r = replay();
    // c2 -> c1 HTTP: c2's egress and c1's ingress allow it; c1's answer
    // is a reply, through c2's default ingress deny.
    assert!(sent(&r, "c1", TCP, &H2, 40000, 80));
    has(
        &traced_at(&r, "at 1.0"),
        &[
            "route 10.1.0.2: into network front",
            "acl port c2 egress: rule client/egress[0] allows",
            "acl port c1 ingress: rule web/ingress[0] allows",
            "ct(zone=32767,commit): track first",
        ],
    );
    assert!(sent(&r, "c2", TCP, &H1, 80, 40000));
    has(
        &traced_at(&r, "at 1.1"),
        &[
            "ct zone 32767: +trk+est+rpl",
            "acl: a tracked connection's frame passes",
        ],
    );
    // c3 is no client; port 22 is not HTTP; c1 may not start towards c2.
    assert!(!sent(&r, "c1", TCP, &H3, 40001, 80));
    has(
        &traced_at(&r, "at 1.2"),
        &[
            "acl port c1 ingress: denied by rule default ingress",
            "drop(acl_denied)",
        ],
    );
    assert!(!sent(&r, "c1", TCP, &H2, 40002, 22));
    has(
        &traced_at(&r, "at 1.3"),
        &[
            "acl port c2 egress: rule default egress denies",
            "drop(acl_denied)",
        ],
    );
    assert!(!sent(&r, "c2", TCP, &H1, 5000, 80));
    // Counted on the ports they came in on (c3's IPv6 datagram too).
    let denied = ["c1", "c2", "c3"].map(|p| r.drops(p, "acl_denied"));
    assert_eq!(denied, [1, 1, 2]);
}

#[test]
fn ipv6_rules_with_an_except_list_decide_routed_datagrams() {
    let r = replay();
    assert!(sent(&r, "c1", UDP, &v6(2, 2), 40000, 53));
    has(
        &traced_at(&r, "at 2.0"),
        &[
            "acl port c2 egress: rule client/egress[1] allows",
            "acl port c1 ingress: rule web/ingress[2] allows",
        ],
    );
    assert!(sent(&r, "c2", UDP, &v6(1, 2), 53, 40000), "the reply");
    // fd00:2::3 is inside fd00:2::/64 but excepted.
    assert!(!sent(&r, "c1", UDP, &v6(2, 3), 40001, 53));
    has(
        &traced_at(&r, "at 2.2"),
        &["acl port c1 ingress: denied by rule default ingress"],
    );
}

#[test]
fn a_published_port_is_decided_after_the_translation() {
    let r = replay();
    // The rule names port 80, the container's: the client reached 8080.
    assert!(sent(&r, "c1", TCP, &CLIENT, 6000, 80));
    has(
        &traced_at(&r, "at 3.0"),
        &["acl port c1 ingress: rule web/ingress[1] allows"],
    );
    assert!(
        sent(&r, "up", TCP, &UPLINK_ADDR, 8080, 6000),
        "the reply, translated back"
    );
    // Another client: its connection is not committed, so nothing of it
    // is translated to c1.
    assert!(!sent(&r, "c1", TCP, &STRANGER, 6001, 80));
    has(
        &traced_at(&r, "at 3.2"),
        &["acl port c1 ingress: rule default ingress would deny a new connection: not committed"],
    );
}
