//! AF_XDP tests. Those that attach to interfaces run as root only (they
//! print why they skip otherwise, and fail under CI): each builds a veth pair whose peer sits
//! in a new namespace with 198.51.100.2/24, and sends traffic only there.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use super::*;
use crate::netns::{ip, run_in_netns, unique_name, NetNs, Veth};
use crate::vnet::VNET_F_NEEDS_CSUM;

const PEER_IP: [u8; 4] = [198, 51, 100, 2];
/// The address the port claims in the ARP requests it sends.
const PORT_IP: [u8; 4] = [198, 51, 100, 1];
/// An address in the namespace's /24 that nobody has: sending to it makes
/// the namespace's kernel broadcast ARP requests.
const ABSENT_IP: [u8; 4] = [198, 51, 100, 3];
const PORT_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];
const WAIT: Duration = Duration::from_secs(3);

use crate::testing::require_netns;

/// A veth pair: the host end up in this namespace, the peer up with
/// 198.51.100.2/24 in a namespace of its own. Both go away on drop.
struct Lab {
    veth: Veth,
    ns: NetNs,
}

impl Lab {
    fn new() -> Lab {
        let ns = NetNs::create(&unique_name("vswxn")).expect("create namespace");
        let veth = Veth::create(&unique_name("vswxh"), &unique_name("vswxp"), Some(&ns))
            .expect("create veth");
        ns.ip(&["addr", "add", "198.51.100.2/24", "dev", veth.peer()])
            .expect("address the peer");
        ns.ip(&["link", "set", veth.peer(), "up"]).expect("peer up");
        ip(&["link", "set", veth.host(), "up"]).expect("host end up");
        Lab { veth, ns }
    }

    fn host(&self) -> &str {
        self.veth.host()
    }
}

fn xdp_attached(interface: &str) -> bool {
    ip(&["link", "show", interface])
        .map(|out| out.contains("xdp"))
        .unwrap_or(false)
}

/// Waits (bounded) until `interface` shows no XDP program: the kernel
/// frees a closed BPF link, detaching its program, in deferred work, so
/// right after a close it may still show.
fn xdp_detached_within(interface: &str, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !xdp_attached(interface) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    !xdp_attached(interface)
}

/// (opcode, sender IP, target IP) of an ARP-over-Ethernet frame.
fn parse_arp(frame: &[u8]) -> Option<(u16, [u8; 4], [u8; 4])> {
    if frame.len() < 42 || frame[12..14] != [0x08, 0x06] {
        return None;
    }
    let opcode = u16::from_be_bytes([frame[20], frame[21]]);
    let sender = frame[28..32].try_into().ok()?;
    let target = frame[38..42].try_into().ok()?;
    Some((opcode, sender, target))
}

/// A broadcast ARP request from the port's made-up address for `target`.
fn arp_request(target: [u8; 4]) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&PORT_MAC);
    f[12..14].copy_from_slice(&[0x08, 0x06]);
    f[14..22].copy_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]); // Ethernet, IPv4, request
    f[22..28].copy_from_slice(&PORT_MAC);
    f[28..32].copy_from_slice(&PORT_IP);
    f[38..42].copy_from_slice(&target);
    f
}

/// Polls `port` (bounded by [`WAIT`], 1 ms sleeps) until a received frame
/// satisfies `wanted`; calls `resend` every 300 ms meanwhile.
fn receive_until(
    port: &mut AfXdpPort,
    mut wanted: impl FnMut(&[u8]) -> bool,
    mut resend: impl FnMut(&mut AfXdpPort),
) -> bool {
    let mut batch = RxBatch::new(64);
    let start = Instant::now();
    let mut last_send = start;
    while start.elapsed() < WAIT {
        batch.clear();
        port.rx_burst(&mut batch).expect("rx_burst");
        if (0..batch.len()).any(|i| wanted(batch.frame(i))) {
            return true;
        }
        if last_send.elapsed() >= Duration::from_millis(300) {
            resend(port);
            last_send = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// Queues `frame`, padded with zeros to `len` bytes.
fn queue(port: &mut AfXdpPort, frame: &[u8], len: usize) {
    let slot = port.tx_slot().expect("a free TX slot");
    slot[..frame.len()].copy_from_slice(frame);
    slot[frame.len()..len].fill(0);
    port.tx_commit(len, 0);
}

fn send_frame(port: &mut AfXdpPort, frame: &[u8]) {
    queue(port, frame, frame.len());
    let done = port.tx_flush();
    assert!(done.error.is_none(), "{:?}", done.error);
}

/// Flushes `port` (bounded by [`WAIT`], 1 ms sleeps) until nothing is in
/// flight, and returns the sum of what the flushes reported.
fn flush_until_settled(port: &mut AfXdpPort) -> TxDone {
    let mut total = TxDone::default();
    let start = Instant::now();
    loop {
        let done = port.tx_flush();
        total.sent += done.sent;
        total.sent_bytes += done.sent_bytes;
        total.refused += done.refused;
        total.in_flight = done.in_flight;
        if total.error.is_none() {
            total.error = done.error;
        }
        if total.in_flight == 0 || start.elapsed() >= WAIT {
            return total;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn missing_interface_is_reported_as_such() {
    match AfXdpPort::open(&AfXdpConfig::new("vswx-missing0")) {
        Err(PortError::NoSuchInterface { name }) => assert_eq!(name, "vswx-missing0"),
        Err(other) => panic!("expected NoSuchInterface, got {other}"),
        Ok(_) => panic!("opened an interface that does not exist"),
    }
}

#[test]
fn ring_sizes_must_be_powers_of_two() {
    let config = AfXdpConfig {
        rx_ring: 1000,
        ..AfXdpConfig::new("lo")
    };
    let err = AfXdpPort::open(&config).err().expect("refused");
    assert!(err.to_string().contains("rx_ring is 1000"), "{err}");
}

#[test]
fn frames_are_split_within_ring_sizes() {
    let plan = AfXdpConfig::new("x")
        .frame_plan()
        .expect("defaults are valid");
    assert_eq!((plan.rx_frames, plan.tx_frames), (2048, 2048));
    let small = AfXdpConfig {
        frame_count: 64,
        tx_ring: 16,
        fill_ring: 32,
        ..AfXdpConfig::new("x")
    };
    let plan = small.frame_plan().expect("valid");
    assert_eq!((plan.rx_frames, plan.tx_frames), (32, 16));
}

#[test]
fn receives_what_the_namespace_kernel_sends() {
    if !require_netns("receives_what_the_namespace_kernel_sends") {
        return;
    }
    let lab = Lab::new();
    let mut port = AfXdpPort::open(&AfXdpConfig::new(lab.host())).expect("open AF_XDP port");
    println!("veth {} opened in {}", lab.host(), port.mode());
    assert!(xdp_attached(lab.host()));
    // A UDP datagram to an absent neighbour makes the kernel in the
    // namespace broadcast "who has 198.51.100.3".
    let socket = run_in_netns(lab.ns.name(), || UdpSocket::bind("198.51.100.2:0"))
        .expect("enter namespace")
        .expect("UDP socket in the namespace");
    let absent = SocketAddrV4::new(Ipv4Addr::from(ABSENT_IP), 9);
    let send = |_: &mut AfXdpPort| {
        let _ = socket.send_to(b"x", absent);
    };
    send(&mut port);
    let got = receive_until(
        &mut port,
        |frame| parse_arp(frame) == Some((1, PEER_IP, ABSENT_IP)),
        send,
    );
    assert!(got, "no ARP request from the namespace arrived");
    let stats = port.stats().expect("stats");
    assert!(stats.rx_frames >= 1, "{stats:?}");
}

/// The port sends an ARP request for the peer's address; the peer's kernel
/// answers, and the answer comes back through the same port.
fn arp_round_trip(mode: XdpMode, need_wakeup: bool, expected: AttachMode) {
    let lab = Lab::new();
    let config = AfXdpConfig {
        mode,
        need_wakeup,
        ..AfXdpConfig::new(lab.host())
    };
    let mut port = AfXdpPort::open(&config).expect("open AF_XDP port");
    assert_eq!(port.mode().attach, expected, "{}", port.mode());
    assert!(!port.mode().zero_copy, "veth has no zero-copy");
    let request = arp_request(PEER_IP);
    send_frame(&mut port, &request);
    let got = receive_until(
        &mut port,
        |frame| parse_arp(frame) == Some((2, PEER_IP, PORT_IP)) && frame[0..6] == PORT_MAC,
        |port| send_frame(port, &request),
    );
    assert!(got, "no ARP reply from the namespace ({})", port.mode());
    assert!(port.stats().expect("stats").tx_frames >= 1);
}

#[test]
fn arp_round_trip_native() {
    if require_netns("arp_round_trip_native") {
        arp_round_trip(XdpMode::Native, true, AttachMode::Native);
    }
}

#[test]
fn arp_round_trip_generic_without_need_wakeup() {
    if require_netns("arp_round_trip_generic_without_need_wakeup") {
        arp_round_trip(XdpMode::Generic, false, AttachMode::Generic);
    }
}

/// Copy mode moves at most 32 frames per kick: one flush of 100 frames
/// must still hand all of them to the kernel.
#[test]
fn one_flush_sends_more_than_32_frames() {
    if !require_netns("one_flush_sends_more_than_32_frames") {
        return;
    }
    let lab = Lab::new();
    let mut port = AfXdpPort::open(&AfXdpConfig::new(lab.host())).expect("open AF_XDP port");
    let request = arp_request(PEER_IP);
    const FRAMES: usize = 100;
    for _ in 0..FRAMES {
        queue(&mut port, &request, request.len());
    }
    let done = port.tx_flush();
    assert!(done.error.is_none(), "{:?}", done.error);
    assert_eq!(
        port.socket.tx.unconsumed(),
        0,
        "the kernel left frames on the TX ring"
    );
    let mut replies = 0;
    receive_until(
        &mut port,
        |frame| {
            replies += usize::from(parse_arp(frame) == Some((2, PEER_IP, PORT_IP)));
            replies >= FRAMES
        },
        |_| {},
    );
    assert_eq!(replies, FRAMES, "every request should get its reply");
    assert_eq!(port.stats().expect("stats").tx_frames, FRAMES as u64);
}

/// Every frame queued is reported sent exactly once, with its own length,
/// though completions come after the kick; a frame that fits no chunk is
/// refused at once.
#[test]
fn flushes_report_every_frame_sent_with_its_bytes() {
    if !require_netns("flushes_report_every_frame_sent_with_its_bytes") {
        return;
    }
    let lab = Lab::new();
    let mut port = AfXdpPort::open(&AfXdpConfig::new(lab.host())).expect("open AF_XDP port");
    let request = arp_request(PEER_IP);
    const FRAMES: u64 = 300;
    let mut bytes = 0;
    for i in 0..FRAMES {
        let len = 60 + (i as usize % 50);
        queue(&mut port, &request, len);
        bytes += len as u64;
    }
    port.tx_slot().expect("a free TX slot");
    port.tx_commit(0, 0);

    let done = flush_until_settled(&mut port);
    assert!(done.error.is_some(), "the empty frame's refusal");
    assert_eq!(
        (done.sent, done.sent_bytes, done.refused, done.in_flight),
        (FRAMES, bytes, 1, 0)
    );
    let later = port.tx_flush();
    assert_eq!(
        (later.sent, later.refused),
        (0, 0),
        "each frame is reported once"
    );
    let stats = port.stats().expect("stats");
    assert_eq!((stats.tx_completed, stats.tx_invalid_descs), (FRAMES, 0));
}

/// With the interface down the kernel takes nothing: the frames stay in
/// flight, the flush says why, and they are sent once it is up again.
#[test]
fn frames_wait_in_flight_while_the_interface_is_down() {
    if !require_netns("frames_wait_in_flight_while_the_interface_is_down") {
        return;
    }
    let lab = Lab::new();
    let mut port = AfXdpPort::open(&AfXdpConfig::new(lab.host())).expect("open AF_XDP port");
    ip(&["link", "set", lab.host(), "down"]).expect("host end down");
    let request = arp_request(PEER_IP);
    const FRAMES: u32 = 5;
    for _ in 0..FRAMES {
        queue(&mut port, &request, request.len());
    }
    let done = port.tx_flush();
    assert_eq!((done.sent, done.refused, done.in_flight), (0, 0, FRAMES));
    println!("down: {}", done.error.expect("the failed kick"));

    ip(&["link", "set", lab.host(), "up"]).expect("host end up");
    let done = flush_until_settled(&mut port);
    assert_eq!(
        (done.sent, done.sent_bytes, done.refused, done.in_flight),
        (
            FRAMES.into(),
            u64::from(FRAMES) * request.len() as u64,
            0,
            0
        )
    );
}

/// With the peer of the veth down (no carrier) the kernel takes the
/// frames and the device drops them: refused, never sent.
#[test]
fn frames_the_device_drops_are_refused_not_sent() {
    if !require_netns("frames_the_device_drops_are_refused_not_sent") {
        return;
    }
    let lab = Lab::new();
    let mut port = AfXdpPort::open(&AfXdpConfig::new(lab.host())).expect("open AF_XDP port");
    if port.mode().zero_copy {
        return;
    }
    lab.ns
        .ip(&["link", "set", lab.veth.peer(), "down"])
        .expect("peer down");
    let request = arp_request(PEER_IP);
    const FRAMES: u64 = 40;
    for _ in 0..FRAMES {
        queue(&mut port, &request, request.len());
    }
    let done = flush_until_settled(&mut port);
    assert_eq!((done.sent, done.refused, done.in_flight), (0, FRAMES, 0));
    println!("peer down: {}", done.error.expect("why they were refused"));

    lab.ns
        .ip(&["link", "set", lab.veth.peer(), "up"])
        .expect("peer up");
    queue(&mut port, &request, request.len());
    let done = flush_until_settled(&mut port);
    assert_eq!((done.sent, done.refused), (1, 0));
}

#[test]
fn second_open_of_a_queue_is_in_use() {
    if !require_netns("second_open_of_a_queue_is_in_use") {
        return;
    }
    let lab = Lab::new();
    let _first = AfXdpPort::open(&AfXdpConfig::new(lab.host())).expect("first open");
    match AfXdpPort::open(&AfXdpConfig::new(lab.host())) {
        Err(PortError::InUse { name, detail }) => {
            assert_eq!(name, lab.host());
            assert!(detail.contains("ip link show"), "{detail}");
        }
        Err(other) => panic!("expected InUse, got {other}"),
        Ok(_) => panic!("the same queue opened twice"),
    }
    // The failed open must not have disturbed the first attachment.
    assert!(xdp_attached(lab.host()));
}

#[test]
fn binding_one_queue_twice_is_in_use() {
    if !require_netns("binding_one_queue_twice_is_in_use") {
        return;
    }
    let lab = Lab::new();
    match AfXdpPort::open_queues(&AfXdpConfig::new(lab.host()), &[0, 0]) {
        Err(PortError::InUse { detail, .. }) => assert!(detail.contains("bind"), "{detail}"),
        Err(other) => panic!("expected InUse, got {other}"),
        Ok(_) => panic!("queue 0 bound twice"),
    }
    assert!(
        xdp_detached_within(lab.host(), WAIT),
        "a failed open left a program attached"
    );
}

#[test]
fn queue_beyond_the_interface_is_refused() {
    if !require_netns("queue_beyond_the_interface_is_refused") {
        return;
    }
    let lab = Lab::new();
    let config = AfXdpConfig {
        queue_id: 3,
        ..AfXdpConfig::new(lab.host())
    };
    let err = AfXdpPort::open(&config).err().expect("queue 3 refused");
    assert!(err.to_string().contains("has 1 queue"), "{err}");
    assert!(
        xdp_detached_within(lab.host(), WAIT),
        "a failed open left a program attached"
    );
}

#[test]
fn zero_copy_on_veth_is_refused_clearly() {
    if !require_netns("zero_copy_on_veth_is_refused_clearly") {
        return;
    }
    let lab = Lab::new();
    let config = AfXdpConfig {
        mode: XdpMode::Native,
        zero_copy: ZeroCopy::On,
        ..AfXdpConfig::new(lab.host())
    };
    let err = AfXdpPort::open(&config)
        .err()
        .expect("veth has no zero-copy");
    assert!(
        err.to_string().contains("zero_copy to auto or off"),
        "{err}"
    );
    assert!(
        xdp_detached_within(lab.host(), WAIT),
        "a failed open left a program attached"
    );
}

#[test]
fn queues_share_one_attachment_until_the_last_port_drops() {
    if !require_netns("queues_share_one_attachment_until_the_last_port_drops") {
        return;
    }
    let host = unique_name("vswxq");
    let _veth = Veth::create_with_queues(&host, &unique_name("vswxr"), None, 2)
        .expect("create a two-queue veth");
    ip(&["link", "set", &host, "up"]).expect("host end up");
    assert_eq!(queue_count(&host).expect("queue count"), 2);
    let mut ports = AfXdpPort::open_queues(&AfXdpConfig::new(host.as_str()), &[0, 1])
        .expect("open both queues");
    assert_eq!(
        ports.iter().map(AfXdpPort::queue_id).collect::<Vec<_>>(),
        [0, 1]
    );
    let last = ports.pop().expect("two ports");
    drop(ports);
    assert!(xdp_attached(&host), "detached while queue 1 is still open");
    drop(last);
    assert!(
        xdp_detached_within(&host, WAIT),
        "still attached after every port dropped"
    );
}

#[test]
fn dropping_the_port_detaches_the_program() {
    if !require_netns("dropping_the_port_detaches_the_program") {
        return;
    }
    let lab = Lab::new();
    let port = AfXdpPort::open(&AfXdpConfig::new(lab.host())).expect("open");
    assert!(xdp_attached(lab.host()));
    drop(port);
    assert!(
        xdp_detached_within(lab.host(), WAIT),
        "program still attached after drop"
    );
}

/// The one's-complement sum of `data` as 16-bit big-endian words, folded.
fn ones_sum(data: &[u8]) -> u32 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

/// A UDP datagram from the port's address to `PEER_IP:dst_port`, its
/// checksum field holding only the pseudo-header sum: a partial checksum
/// as a kernel with TX checksum offload hands it over, wrong as it is.
fn udp_with_partial_checksum(peer_mac: [u8; 6], dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let mut f = Vec::new();
    f.extend_from_slice(&peer_mac);
    f.extend_from_slice(&PORT_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + udp_len) as u16;
    f.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0]);
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&PORT_IP);
    f.extend_from_slice(&PEER_IP);
    let ip_checksum = !(ones_sum(&f[14..34]) as u16);
    f[24..26].copy_from_slice(&ip_checksum.to_be_bytes());
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&dst_port.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    let pseudo = [
        &PORT_IP[..],
        &PEER_IP[..],
        &[0, 17],
        &(udp_len as u16).to_be_bytes(),
    ]
    .concat();
    f.extend_from_slice(&(ones_sum(&pseudo) as u16).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The MAC of `interface` in `ns`, from `ip link show`.
fn mac_in(ns: &NetNs, interface: &str) -> [u8; 6] {
    let out = ns.ip(&["link", "show", interface]).expect("ip link show");
    let text = out
        .split("link/ether ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a MAC in `ip link show`");
    let mut mac = [0u8; 6];
    for (byte, hex) in mac.iter_mut().zip(text.split(':')) {
        *byte = u8::from_str_radix(hex, 16).expect("hex");
    }
    mac
}

/// UDP checksum errors the kernel of `ns` counted (`InCsumErrors`).
fn udp_checksum_errors(ns: &NetNs) -> u64 {
    let snmp = run_in_netns(ns.name(), || {
        // thread-self: /proc/self/net is the namespace of the process.
        std::fs::read_to_string("/proc/thread-self/net/snmp")
    })
    .expect("enter namespace")
    .expect("read snmp");
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next().expect("names"), udp.next().expect("values"));
    let column = names
        .split_whitespace()
        .position(|n| n == "InCsumErrors")
        .expect("InCsumErrors column");
    values
        .split_whitespace()
        .nth(column)
        .and_then(|v| v.parse().ok())
        .expect("a count")
}

/// A frame whose UDP checksum holds only the pseudo-header sum: sent as
/// it is, the namespace's kernel drops it as a checksum error; sent with
/// a TX-metadata checksum request, the kernel completes or trusts it and
/// the datagram reaches the socket. A request whose field lies outside
/// the frame is refused before the ring, and frames behind it still go.
#[test]
fn a_partial_checksum_goes_out_with_a_tx_metadata_request() {
    if !require_netns("a_partial_checksum_goes_out_with_a_tx_metadata_request") {
        return;
    }
    let lab = Lab::new();
    let mut port = AfXdpPort::open(&AfXdpConfig::new(lab.host())).expect("open AF_XDP port");
    assert!(
        port.mode().tx_checksum,
        "kernel 6.8+ in copy mode: {}",
        port.mode()
    );
    assert_eq!(port.tx_offloads(), TxOffloads::Checksum);
    assert_eq!(
        port.tx_slot().map(|s| s.len()),
        Some(CHUNK_SIZE - TX_METADATA_LEN)
    );
    let socket = run_in_netns(lab.ns.name(), || UdpSocket::bind("198.51.100.2:0"))
        .expect("enter namespace")
        .expect("UDP socket in the namespace");
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let dst_port = socket.local_addr().unwrap().port();
    let frame = udp_with_partial_checksum(mac_in(&lab.ns, lab.veth.peer()), dst_port, b"txmd");
    let partial = VnetHeader {
        flags: VNET_F_NEEDS_CSUM,
        csum_start: 34,
        csum_offset: 6,
        ..VnetHeader::default()
    };
    let offloaded = |port: &mut AfXdpPort, vnet: VnetHeader| {
        let slot = port.tx_slot().expect("a free TX slot");
        slot[..frame.len()].copy_from_slice(&frame);
        port.tx_commit_offloaded(frame.len(), 0, vnet);
        flush_until_settled(port)
    };

    let errors = udp_checksum_errors(&lab.ns);
    send_frame(&mut port, &frame);
    let start = Instant::now();
    while udp_checksum_errors(&lab.ns) == errors && start.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        udp_checksum_errors(&lab.ns),
        errors + 1,
        "sent as it is: bad"
    );

    let outside = VnetHeader {
        csum_start: frame.len() as u16 - 1,
        ..partial
    };
    let done = offloaded(&mut port, outside);
    assert_eq!((done.sent, done.refused), (0, 1), "{:?}", done.error);

    let mut buf = [0u8; 64];
    let mut received = None;
    let start = Instant::now();
    while received.is_none() && start.elapsed() < WAIT {
        let done = offloaded(&mut port, partial);
        assert_eq!((done.sent, done.refused), (1, 0), "{:?}", done.error);
        received = socket.recv(&mut buf).ok();
    }
    assert_eq!(received.map(|n| &buf[..n]), Some(&b"txmd"[..]));
    assert_eq!(udp_checksum_errors(&lab.ns), errors + 1);
    let stats = port.stats().expect("stats");
    assert_eq!(stats.tx_invalid_descs, 0, "{stats:?}");
}
