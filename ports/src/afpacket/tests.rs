//! Unit tests of the AF_PACKET port, as root on a veth into a namespace
//! each test creates (removed on drop, also on failure).

use super::*;
use crate::netns::{run_in_netns, unique_name, NetNs, Veth};
use crate::vnet::{VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4};
use std::time::{Duration, Instant};

#[test]
fn a_missing_interface_is_named() {
    let err = AfPacketPort::open("vswnone0").err().unwrap().to_string();
    assert!(err.contains("vswnone0"), "{err}");
}

/// A UDP datagram from a namespace behind a veth, with the kernel's
/// default offloads, arrives with its checksum partial; a frame sent
/// on the socket reaches the namespace.
#[test]
fn receives_partial_checksums_from_a_veth_and_sends() {
    if !crate::testing::require_netns("receives_partial_checksums_from_a_veth_and_sends") {
        return;
    }
    let (ns, veth) = veth_into_namespace(Some("10.209.0.1/24"));
    ns.ip(&[
        "neigh",
        "add",
        "10.209.0.2",
        "lladdr",
        "02:00:00:00:00:02",
        "dev",
        veth.peer(),
    ])
    .unwrap();
    let mut port = AfPacketPort::open(veth.host()).unwrap();
    run_in_netns(ns.name(), || {
        let socket = std::net::UdpSocket::bind("10.209.0.1:0").unwrap();
        socket.send_to(&[7u8; 1000], "10.209.0.2:9").unwrap();
    })
    .unwrap();
    let mut batch = RxBatch::new(32);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut found = None;
    while found.is_none() && Instant::now() < deadline {
        batch.clear();
        port.rx_burst(&mut batch).unwrap();
        found = (0..batch.len())
            .find(|&i| batch.frame(i).len() == 14 + 20 + 8 + 1000)
            .map(|i| batch.vnet(i));
        std::thread::sleep(Duration::from_millis(1));
    }
    let vnet = found.expect("the datagram");
    assert_eq!(
        vnet.flags & VNET_F_NEEDS_CSUM,
        VNET_F_NEEDS_CSUM,
        "{vnet:?}"
    );
    assert_eq!((vnet.csum_start, vnet.csum_offset), (34, 6), "{vnet:?}");

    let slot = port.tx_slot().unwrap();
    slot[..6].fill(0xff);
    slot[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    slot[12..14].copy_from_slice(&[0x88, 0xb5]);
    slot[14..60].fill(0);
    port.tx_commit(60, 0);
    let _ = flush_expecting(&mut port, 1, 0);
}

/// Flushes `port` and checks that it sent `sent` frames and refused
/// `refused`; returns what the flush reported.
fn flush_expecting(port: &mut AfPacketPort, sent: u64, refused: u64) -> TxDone {
    let done = port.tx_flush();
    assert_eq!(
        (done.sent, done.refused),
        (sent, refused),
        "{:?}",
        done.error
    );
    done
}

/// A namespace behind a veth, both ends up and sending; the namespace's
/// end gets `address` when given.
fn veth_into_namespace(address: Option<&str>) -> (NetNs, Veth) {
    let ns = NetNs::create(&unique_name("vswap")).unwrap();
    let veth = Veth::create(&unique_name("vah"), &unique_name("vap"), Some(&ns)).unwrap();
    if let Some(address) = address {
        ns.ip(&["addr", "add", address, "dev", veth.peer()])
            .unwrap();
    }
    ns.ip(&["link", "set", veth.peer(), "up"])
        .and_then(|_| crate::netns::ip(&["link", "set", veth.host(), "up"]))
        .unwrap();
    wait_until_up(None, veth.host());
    wait_until_up(Some(&ns), veth.peer());
    (ns, veth)
}

/// A veth into a fresh namespace with a port on each end: the host end's,
/// and one opened inside the namespace on its peer. The namespace and
/// veth come back too, to live as long as the ports.
fn port_pair() -> (NetNs, Veth, AfPacketPort, AfPacketPort) {
    let (ns, veth) = veth_into_namespace(None);
    let port = AfPacketPort::open(veth.host()).unwrap();
    let peer = veth.peer().to_string();
    let inside = run_in_netns(ns.name(), || AfPacketPort::open(&peer))
        .unwrap()
        .unwrap();
    (ns, veth, port, inside)
}

/// Waits (five seconds at most) until `interface`, in `ns` or here, is
/// operational: the kernel drops what is sent on a link that was just
/// set up until its link watcher has seen the carrier, within a second or
/// so, and a test sending single frames would lose them.
fn wait_until_up(ns: Option<&NetNs>, interface: &str) {
    let args = ["-o", "link", "show", "dev", interface];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let shown = match ns {
            Some(ns) => ns.ip(&args),
            None => crate::netns::ip(&args),
        };
        if shown.is_ok_and(|line| line.contains("state UP")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{interface} is not up after 5 s");
}

/// Queues a 60-byte frame of an experimental EtherType carrying `marker`.
fn queue_marked(port: &mut AfPacketPort, marker: u8, vnet: VnetHeader) -> bool {
    let Some(slot) = port.tx_slot() else {
        return false;
    };
    slot[..6].fill(0xff);
    slot[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    slot[12..14].copy_from_slice(&[0x88, 0xb5]);
    slot[14..60].fill(marker);
    port.tx_commit_offloaded(60, 0, vnet);
    true
}

/// The markers of the experimental frames `port` receives within a second.
fn markers_received(port: &mut AfPacketPort, want: usize) -> Vec<u8> {
    let mut batch = RxBatch::new(32);
    let mut markers = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(1);
    while markers.len() < want && Instant::now() < deadline {
        batch.clear();
        port.rx_burst(&mut batch).unwrap();
        markers.extend(
            (0..batch.len())
                .map(|i| batch.frame(i))
                .filter(|f| f.len() >= 15 && f[12..14] == [0x88, 0xb5])
                .map(|f| f[14]),
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    markers
}

/// A frame whose virtio-net header the kernel rejects (an unknown GSO
/// type) is refused alone: the frames queued before and after it are sent
/// and arrive.
#[test]
fn a_frame_the_kernel_refuses_is_refused_alone() {
    if !crate::testing::require_netns("a_frame_the_kernel_refuses_is_refused_alone") {
        return;
    }
    let (_ns, veth, mut port, mut capture) = port_pair();
    let bad = VnetHeader {
        gso_type: 2,
        gso_size: 10,
        ..VnetHeader::default()
    };
    assert!(queue_marked(&mut port, 1, VnetHeader::default()));
    assert!(queue_marked(&mut port, 2, bad));
    assert!(queue_marked(&mut port, 3, VnetHeader::default()));
    let done = flush_expecting(&mut port, 2, 1);
    let error = done.error.expect("the refusal's reason").to_string();
    assert!(error.contains(veth.host()), "{error}");
    assert_eq!(markers_received(&mut capture, 2), [1, 3]);

    // Two in a row, and a frame the ring wraps around to.
    assert!(queue_marked(&mut port, 4, bad));
    assert!(queue_marked(&mut port, 5, bad));
    assert!(queue_marked(&mut port, 6, VnetHeader::default()));
    let _ = flush_expecting(&mut port, 1, 2);
    assert_eq!(markers_received(&mut capture, 1), [6]);
}

/// Every slot of the transmit ring can be queued, then no more; one flush
/// sends them all.
#[test]
fn the_transmit_ring_holds_its_slots_and_one_flush_sends_them() {
    if !crate::testing::require_netns("the_transmit_ring_holds_its_slots_and_one_flush_sends_them")
    {
        return;
    }
    let (_ns, veth) = veth_into_namespace(None);
    let mut port = AfPacketPort::open(veth.host()).unwrap();
    let mut queued = 0;
    while queue_marked(&mut port, 7, VnetHeader::default()) {
        queued += 1;
        assert!(queued <= TX_RING_SLOTS);
    }
    assert_eq!(queued, TX_RING_SLOTS);
    let done = flush_expecting(&mut port, TX_RING_SLOTS as u64, 0);
    assert_eq!(done.sent_bytes, 60 * TX_RING_SLOTS as u64);
    // The kernel gives the slots back once the peer has taken the frames.
    let deadline = Instant::now() + Duration::from_secs(2);
    while port.tx_slot().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(port.tx_slot().is_some());
}

/// An interface that is down takes nothing: every frame is refused with
/// the kernel's reason, and once it is up the ring sends again. (A veth
/// whose peer is down is different: the kernel takes the frames, reports
/// success and drops them, as it does for a write.)
#[test]
fn a_down_interface_refuses_every_frame_and_the_ring_recovers() {
    if !crate::testing::require_netns("a_down_interface_refuses_every_frame_and_the_ring_recovers")
    {
        return;
    }
    let (_ns, veth, mut port, mut capture) = port_pair();
    crate::netns::ip(&["link", "set", veth.host(), "down"]).unwrap();
    for marker in 1..=5 {
        assert!(queue_marked(&mut port, marker, VnetHeader::default()));
    }
    let done = flush_expecting(&mut port, 0, 5);
    assert!(done.error.is_some());
    crate::netns::ip(&["link", "set", veth.host(), "up"]).unwrap();
    wait_until_up(None, veth.host());
    // The socket kept the ENETDOWN of the interface going down and
    // refuses the next frame with it, as a write would; the rest go.
    for marker in 6..=8 {
        assert!(queue_marked(&mut port, marker, VnetHeader::default()));
    }
    let _ = flush_expecting(&mut port, 2, 1);
    assert_eq!(markers_received(&mut capture, 2), [7, 8]);
    for marker in 9..=10 {
        assert!(queue_marked(&mut port, marker, VnetHeader::default()));
    }
    let _ = flush_expecting(&mut port, 2, 0);
    assert_eq!(markers_received(&mut capture, 2), [9, 10]);
}

/// A tagged frame from the namespace reaches the host's veth with its tag
/// moved into the kernel's metadata (the receive path strips in-band
/// tags before packet sockets see the frame); the port puts it back, and
/// moves the partial checksum's start with it.
#[test]
fn a_vlan_tag_kept_apart_by_the_kernel_is_put_back() {
    if !crate::testing::require_netns("a_vlan_tag_kept_apart_by_the_kernel_is_put_back") {
        return;
    }
    let (_ns, _veth, mut port, mut sender) = port_pair();
    // UDP in IPv4 in VLAN 7, its checksum left partial.
    let mut frame = vec![0u8; 18 + 20 + 8 + 100];
    frame[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    frame[12..18].copy_from_slice(&[0x81, 0x00, 0x00, 0x07, 0x08, 0x00]);
    frame[18..20].copy_from_slice(&[0x45, 0]);
    frame[20..22].copy_from_slice(&128u16.to_be_bytes());
    frame[26..28].copy_from_slice(&[64, 17]);
    frame[30..38].copy_from_slice(&[10, 209, 0, 1, 10, 209, 0, 2]);
    frame[38..42].copy_from_slice(&[0x30, 0x39, 0, 9]);
    frame[42..44].copy_from_slice(&108u16.to_be_bytes());
    frame[46..].fill(7);
    let partial = VnetHeader {
        flags: VNET_F_NEEDS_CSUM,
        csum_start: 38,
        csum_offset: 6,
        ..VnetHeader::default()
    };
    let slot = sender.tx_slot().unwrap();
    slot[..frame.len()].copy_from_slice(&frame);
    sender.tx_commit_offloaded(frame.len(), 0, partial);
    let _ = flush_expecting(&mut sender, 1, 0);

    let mut batch = RxBatch::new(32);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut found = None;
    while found.is_none() && Instant::now() < deadline {
        batch.clear();
        port.rx_burst(&mut batch).unwrap();
        found = (0..batch.len())
            .find(|&i| batch.frame(i).len() == frame.len())
            .map(|i| (batch.frame(i).to_vec(), batch.vnet(i)));
        std::thread::sleep(Duration::from_millis(1));
    }
    let (received, vnet) = found.expect("the tagged datagram");
    assert_eq!(received[..46], frame[..46]);
    assert_eq!(
        (
            vnet.flags & VNET_F_NEEDS_CSUM,
            vnet.csum_start,
            vnet.csum_offset
        ),
        (VNET_F_NEEDS_CSUM, 38, 6),
        "{vnet:?}"
    );
}

/// Queues a TCP super-frame of `len` bytes (IPv4, segments of 1,448
/// bytes, checksum partial) whose payload is `marker` throughout.
fn queue_super_frame(port: &mut AfPacketPort, len: usize, marker: u8) -> bool {
    let Some(slot) = port.tx_slot() else {
        return false;
    };
    let frame = &mut slot[..len];
    frame[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    frame[14..34].fill(0);
    frame[14] = 0x45;
    frame[16..18].copy_from_slice(&((len - 14) as u16).to_be_bytes());
    frame[22..24].copy_from_slice(&[64, 6]);
    frame[26..34].copy_from_slice(&[10, 209, 0, 1, 10, 209, 0, 2]);
    frame[34..54].fill(0);
    frame[34..38].copy_from_slice(&[0x30, 0x39, 0, 80]);
    frame[46] = 0x50;
    frame[47] = 0x10;
    frame[54..].fill(marker);
    let vnet = VnetHeader {
        flags: VNET_F_NEEDS_CSUM,
        gso_type: VNET_GSO_TCPV4,
        hdr_len: 54,
        gso_size: 1448,
        csum_start: 34,
        csum_offset: 16,
    };
    port.tx_commit_offloaded(len, 0, vnet);
    true
}

/// TCP super-frames arrive whole, with their GSO state, lent from the
/// ring rather than copied: three rings' worth of them, in rounds whose
/// batches are cleared (which gives the slots back to the kernel) or
/// dropped (which does too), so none is lost to a full ring.
#[test]
fn super_frames_are_lent_from_the_ring_and_their_slots_come_back() {
    if !crate::testing::require_netns(
        "super_frames_are_lent_from_the_ring_and_their_slots_come_back",
    ) {
        return;
    }
    let (ns, veth, mut port, mut sender) = port_pair();
    wait_until_up(None, veth.host());
    wait_until_up(Some(&ns), veth.peer());
    const LEN: usize = 30_000;
    const ROUND: usize = 10;
    let mut batch = RxBatch::new(32);
    for round in 0..3 * RX_RING_SLOTS / ROUND {
        let markers: Vec<u8> = (0..ROUND).map(|k| (round * ROUND + k) as u8).collect();
        for &marker in &markers {
            assert!(queue_super_frame(&mut sender, LEN, marker));
        }
        let _ = flush_expecting(&mut sender, ROUND as u64, 0);
        let keep_batch = round % 2 == 0;
        let mut received = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while received.len() < ROUND && Instant::now() < deadline {
            if !keep_batch {
                batch = RxBatch::new(32);
            }
            batch.clear();
            port.rx_burst(&mut batch).unwrap();
            for i in (0..batch.len()).filter(|&i| batch.frame(i).len() == LEN) {
                let frame = batch.frame(i);
                assert!(port.rings.holds(frame), "frame {i} was copied, not lent");
                assert!(frame[54..].iter().all(|&b| b == frame[54]));
                let vnet = batch.vnet(i);
                assert_eq!((vnet.gso_type, vnet.gso_size), (VNET_GSO_TCPV4, 1448));
                received.push(frame[54]);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(received, markers, "round {round}");
    }
    let mut drops = Vec::new();
    port.device_drops(&mut |cause, n| drops.push((cause, n)));
    assert!(drops.contains(&("afpacket_rx_ring_full", 0)), "{drops:?}");
}
