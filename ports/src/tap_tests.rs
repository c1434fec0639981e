//! Tests of the TAP port, most as root in a namespace of their own.

use super::*;
use crate::netns::{unique_name, NetNs};
use crate::ping::internet_checksum as checksum;
use std::time::{Duration, Instant};

/// The made-up host on the port's side of the link.
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const PEER_IP: [u8; 4] = [192, 0, 2, 2];
/// The namespace's address on its TAP.
const NS_IP: [u8; 4] = [192, 0, 2, 1];
const NS_CIDR: &str = "192.0.2.1/24";

fn can_run_as_root(test: &str) -> bool {
    crate::testing::require_netns(test)
        && crate::testing::require(
            test,
            "/dev/net/tun (`modprobe tun`)",
            std::path::Path::new("/dev/net/tun").exists(),
        )
}

fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16) -> Vec<u8> {
    let mut frame = dst.to_vec();
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame
}

fn arp_request(sender_mac: [u8; 6], sender_ip: [u8; 4], target_ip: [u8; 4]) -> Vec<u8> {
    let mut frame = ethernet([0xff; 6], sender_mac, 0x0806);
    frame.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]); // Ethernet, IPv4, request
    frame.extend_from_slice(&sender_mac);
    frame.extend_from_slice(&sender_ip);
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&target_ip);
    frame
}

fn icmp_echo_request(dst_mac: [u8; 6], dst_ip: [u8; 4], id: u16, seq: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend((0..32u8).map(|i| b'a' + i % 26));
    let sum = checksum(&icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());

    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(20 + icmp.len() as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 1, 0, 0]); // id, DF, TTL, ICMP
    ip.extend_from_slice(&PEER_IP);
    ip.extend_from_slice(&dst_ip);
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());

    let mut frame = ethernet(dst_mac, PEER_MAC, 0x0800);
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&icmp);
    frame
}

fn send(port: &mut TapPort, frame: &[u8]) {
    let slot = port.tx_slot().expect("transmit queue has room");
    slot[..frame.len()].copy_from_slice(frame);
    port.tx_commit(frame.len(), 0);
    let done = port.tx_flush();
    assert!(done.error.is_none(), "{:?}", done.error);
    assert_eq!((done.sent, done.sent_bytes), (1, frame.len() as u64));
}

/// Polls the port for up to 2 s until `wanted` accepts a frame, and
/// returns that frame.
fn receive(port: &mut TapPort, mut wanted: impl FnMut(&[u8]) -> bool) -> Option<Vec<u8>> {
    let mut batch = RxBatch::new(32);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        batch.clear();
        port.rx_burst(&mut batch).expect("read from the TAP");
        if let Some(i) = (0..batch.len()).find(|&i| wanted(batch.frame(i))) {
            return Some(batch.frame(i).to_vec());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

#[test]
fn invalid_names_refused() {
    for name in ["", "a-name-that-is-too-long", "a/b", "a b"] {
        let text = TapPort::open(name, None).err().unwrap().to_string();
        assert!(text.contains("1 to 15 bytes"), "{text}");
    }
}

#[test]
fn kernel_answers_arp_and_ping_through_tap_in_namespace() {
    if !can_run_as_root("kernel_answers_arp_and_ping_through_tap_in_namespace") {
        return;
    }
    let ns = NetNs::create(&unique_name("vswt")).unwrap();
    let tap = unique_name("vswtap");
    // Declared after `ns`, so dropped (closing the device) before the
    // namespace is deleted, also when an assertion fails.
    let mut port = TapPort::open(&tap, Some(ns.name())).unwrap();
    assert_eq!(port.name(), tap);
    ns.ip(&["addr", "add", NS_CIDR, "dev", &tap]).unwrap();
    ns.ip(&["link", "set", &tap, "up"]).unwrap();

    send(&mut port, &arp_request(PEER_MAC, PEER_IP, NS_IP));
    let reply = receive(&mut port, |f| {
        f.len() >= 42 && f[12..14] == [8, 6] && f[20..22] == [0, 2]
    })
    .expect("an ARP reply from the namespace");
    assert_eq!(reply[0..6], PEER_MAC);
    assert_eq!(reply[28..32], NS_IP);
    assert_eq!(reply[32..38], PEER_MAC);
    assert_eq!(reply[38..42], PEER_IP);
    let ns_mac: [u8; 6] = reply[22..28].try_into().unwrap();
    assert_eq!(reply[6..12], ns_mac);

    // Pinned, so that the kernel sends to the peer without asking
    // again.
    let peer_mac = PEER_MAC.map(|b| format!("{b:02x}")).join(":");
    let peer_ip = "192.0.2.2";
    ns.ip(&[
        "neigh",
        "replace",
        peer_ip,
        "lladdr",
        &peer_mac,
        "dev",
        &tap,
        "nud",
        "permanent",
    ])
    .unwrap();

    send(&mut port, &icmp_echo_request(ns_mac, NS_IP, 0x5157, 7));
    let reply = receive(&mut port, |f| {
        f.len() >= 42 && f[12..14] == [8, 0] && f[23] == 1 && f[34] == 0
    })
    .expect("an ICMP echo reply from the namespace");
    assert_eq!(reply[0..6], PEER_MAC);
    assert_eq!(reply[26..30], NS_IP);
    assert_eq!(reply[30..34], PEER_IP);
    assert_eq!(checksum(&reply[14..34]), 0, "IPv4 header checksum");
    assert_eq!(reply[38..42], [0x51, 0x57, 0, 7], "id and sequence");

    // A frame longer than FRAME_CAPACITY, to the pinned peer: received
    // whole, its UDP checksum left partial for us (checksum offload).
    ns.ip(&["link", "set", &tap, "mtu", "9000"]).unwrap();
    run_in_netns(ns.name(), || {
        let socket = std::net::UdpSocket::bind("192.0.2.1:0").unwrap();
        socket.send_to(&[0u8; 6000], (peer_ip, 9)).unwrap();
    })
    .unwrap();
    let mut batch = RxBatch::new(32);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut found = None;
    while found.is_none() && Instant::now() < deadline {
        batch.clear();
        port.rx_burst(&mut batch).unwrap();
        found = (0..batch.len())
            .find(|&i| batch.frame(i).len() == 14 + 20 + 8 + 6000)
            .map(|i| batch.vnet(i));
        std::thread::sleep(Duration::from_millis(1));
    }
    let vnet = found.expect("the 6000-byte datagram, whole");
    assert_eq!(vnet.flags & crate::vnet::VNET_F_NEEDS_CSUM, 1, "{vnet:?}");
    assert_eq!((vnet.csum_start, vnet.csum_offset), (34, 6), "{vnet:?}");
    assert_eq!(port.rx_oversize(), 0);

    // Refused: shorter than an Ethernet header.
    let slot = port.tx_slot().unwrap();
    slot[..4].copy_from_slice(&[1, 2, 3, 4]);
    port.tx_commit(4, 0);
    let done = port.tx_flush();
    assert_eq!((done.sent, done.refused), (0, 1));
    assert!(done.error.is_some());
    assert_eq!((port.tx_refused(), port.tx_queued()), (1, 0));

    // Not persistent: gone with the port.
    drop(port);
    assert!(
        ns.ip(&["link", "show", &tap]).is_err(),
        "{tap} outlived its port"
    );
}

/// Makes a persistent TAP device in `ns` and returns its name; it goes
/// with the namespace.
fn add_persistent_tap(ns: &NetNs) -> String {
    let tap = unique_name("vswtap");
    ns.ip(&["tuntap", "add", "dev", &tap, "mode", "tap"])
        .unwrap();
    tap
}

#[test]
fn attaches_to_persistent_tap_once() {
    if !can_run_as_root("attaches_to_persistent_tap_once") {
        return;
    }
    let ns = NetNs::create(&unique_name("vswt")).unwrap();
    let tap = add_persistent_tap(&ns);
    let port = TapPort::open(&tap, Some(ns.name())).unwrap();
    match TapPort::open(&tap, Some(ns.name())) {
        Err(PortError::InUse { name, .. }) => assert_eq!(name, tap),
        Err(e) => panic!("expected InUse, got {e}"),
        Ok(_) => panic!("a second descriptor attached to {tap}"),
    }
    drop(port);
    ns.ip(&["link", "show", &tap])
        .expect("a persistent TAP outlives the port");
    // Deleting the namespace (when `ns` drops) deletes the device.
}

#[test]
fn tx_queue_full_gives_no_slot() {
    if !can_run_as_root("tx_queue_full_gives_no_slot") {
        return;
    }
    let ns = NetNs::create(&unique_name("vswt")).unwrap();
    let mut port = TapPort::open(&unique_name("vswtap"), Some(ns.name())).unwrap();
    for _ in 0..TAP_TX_QUEUE_FRAMES {
        assert!(port.tx_slot().is_some());
        port.tx_commit(60, 0);
    }
    assert!(port.tx_slot().is_none());
    assert_eq!(port.tx_queued(), TAP_TX_QUEUE_FRAMES);
}

/// Queues `count` ARP requests (60 bytes with padding).
fn queue_frames(port: &mut TapPort, count: usize) {
    let mut frame = arp_request(PEER_MAC, PEER_IP, NS_IP);
    frame.resize(60, 0);
    for _ in 0..count {
        let slot = port.tx_slot().expect("transmit queue has room");
        slot[..frame.len()].copy_from_slice(&frame);
        port.tx_commit(frame.len(), 0);
    }
}

/// A device that is down, then deleted, refuses every frame queued,
/// each counted once; an up device takes them all.
#[test]
fn tx_flush_reports_each_frame_sent_or_refused() {
    if !can_run_as_root("tx_flush_reports_each_frame_sent_or_refused") {
        return;
    }
    let ns = NetNs::create(&unique_name("vswt")).unwrap();
    let tap = add_persistent_tap(&ns);
    let mut port = TapPort::open(&tap, Some(ns.name())).unwrap();
    const FRAMES: usize = 40;

    ns.ip(&["link", "set", &tap, "up"]).unwrap();
    queue_frames(&mut port, FRAMES);
    let done = port.tx_flush();
    assert!(done.error.is_none(), "{:?}", done.error);
    assert_eq!(
        (done.sent, done.sent_bytes),
        (FRAMES as u64, 60 * FRAMES as u64)
    );
    assert_eq!((done.refused, done.in_flight), (0, 0));

    ns.ip(&["link", "set", &tap, "down"]).unwrap();
    queue_frames(&mut port, FRAMES);
    let done = port.tx_flush();
    assert_eq!((done.sent, done.refused), (0, FRAMES as u64), "device down");
    println!("down: {}", done.error.expect("the write error"));

    ns.ip(&["link", "del", &tap]).unwrap();
    queue_frames(&mut port, FRAMES);
    let done = port.tx_flush();
    assert_eq!(
        (done.sent, done.refused),
        (0, FRAMES as u64),
        "device deleted"
    );
    println!("deleted: {}", done.error.expect("the write error"));

    assert_eq!(port.tx_flush().refused, 0, "each frame is reported once");
    assert_eq!(
        (port.tx_refused(), port.tx_queued()),
        (2 * FRAMES as u64, 0)
    );
}
