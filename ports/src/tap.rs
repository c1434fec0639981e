//! TAP devices: a network interface whose other end is a file descriptor
//! this process holds. A container's eth0 can be a TAP created inside the
//! container's namespace while the switch keeps the descriptor in its own.
//!
//! The kernel moves one frame per read() or write() on a TAP: there is no
//! batched call, so this port costs one system call per frame each way.
//! AF_XDP on a veth is the fast path; TAP is the simple, portable one.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::netns::run_in_netns;
use crate::{Port, PortError, RxBatch, TxDone, Wakeup, FRAME_CAPACITY};

/// How many frames the transmit queue holds between flushes.
pub const TAP_TX_QUEUE_FRAMES: usize = 256;

/// A [`Port`] on a TAP device (`IFF_TAP | IFF_NO_PI`: whole Ethernet
/// frames, no packet-information header), through a non-blocking
/// descriptor of `/dev/net/tun`.
///
/// Receive reads frames until the device has none left or the batch is
/// full; frames longer than [`FRAME_CAPACITY`] (possible when the device's
/// MTU is raised above about 4 KB) are dropped and counted
/// ([`TapPort::rx_oversize`]).
///
/// Transmit queues up to [`TAP_TX_QUEUE_FRAMES`] frames in buffers
/// allocated once (`tx_slot` gives `None` once the queue is full, so the
/// caller counts the drop); [`Port::tx_flush`] writes them out in order
/// and empties the queue. A frame is sent when its write succeeds; every
/// failed write (EIO with the device down, EBADFD once it was deleted,
/// EINVAL for a runt, EAGAIN when the kernel's queue is full) refuses that
/// frame, counted in [`TapPort::tx_refused`], and the flush goes on with
/// the next. Holding frames back on EAGAIN would only stall the worker's
/// queue behind a device that is not keeping up.
///
/// The device is not made persistent: one this port created disappears
/// when the port is dropped. A persistent device made beforehand (`ip
/// tuntap add dev NAME mode tap`) is attached to and stays.
pub struct TapPort {
    name: String,
    fd: OwnedFd,
    tx_buf: Box<[u8]>,
    tx_lens: Box<[u16]>,
    tx_head: usize,
    tx_queued: usize,
    rx_oversize: u64,
    tx_refused: u64,
}

impl TapPort {
    /// Creates TAP device `name`, or attaches to the existing one of that
    /// name, in network namespace `netns` (an `ip netns` name) or, when
    /// `None`, in this process's namespace. A `%d` in the name is replaced
    /// by the kernel with the first free number ([`Port::name`] gives the
    /// result). The device is left down and without address: configure it
    /// with `ip` in its namespace.
    pub fn open(name: &str, netns: Option<&str>) -> Result<TapPort, PortError> {
        let place = match netns {
            Some(ns) => format!("TAP device {name:?} in network namespace {ns:?}"),
            None => format!("TAP device {name:?}"),
        };
        if name.is_empty()
            || name.len() >= libc::IFNAMSIZ
            || name
                .bytes()
                .any(|b| b == 0 || b == b'/' || b.is_ascii_whitespace())
        {
            return Err(PortError::io(
                format!("cannot create {place}"),
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "an interface name is 1 to 15 bytes without '/', spaces or NUL",
                ),
            ));
        }
        let (fd, name) = match netns {
            Some(ns) => run_in_netns(ns, || open_tap(name, &place))??,
            None => open_tap(name, &place)?,
        };
        Ok(TapPort {
            name,
            fd,
            tx_buf: vec![0u8; TAP_TX_QUEUE_FRAMES * FRAME_CAPACITY].into_boxed_slice(),
            tx_lens: vec![0u16; TAP_TX_QUEUE_FRAMES].into_boxed_slice(),
            tx_head: 0,
            tx_queued: 0,
            rx_oversize: 0,
            tx_refused: 0,
        })
    }

    /// How many received frames were dropped for being longer than
    /// [`FRAME_CAPACITY`].
    pub fn rx_oversize(&self) -> u64 {
        self.rx_oversize
    }

    /// How many frames the device refused on transmit.
    pub fn tx_refused(&self) -> u64 {
        self.tx_refused
    }

    /// How many frames wait in the transmit queue.
    pub fn tx_queued(&self) -> usize {
        self.tx_queued
    }

    /// The byte range of transmit queue entry `index` in `tx_buf`.
    fn tx_range(index: usize) -> std::ops::Range<usize> {
        index * FRAME_CAPACITY..(index + 1) * FRAME_CAPACITY
    }
}

/// Opens `/dev/net/tun` and attaches the descriptor to TAP device `name`
/// (`place` names it in messages), in the calling thread's namespace.
/// Returns the descriptor and the device's name as the kernel set it.
fn open_tap(name: &str, place: &str) -> Result<(OwnedFd, String), PortError> {
    // SAFETY: the path is a NUL-terminated literal; open() only reads it.
    let raw = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        let err = io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) => PortError::io(
                format!(
                    "cannot create {place}: /dev/net/tun is missing; load the TUN/TAP driver \
                     with `modprobe tun` (in a container, pass --device /dev/net/tun)"
                ),
                err,
            ),
            Some(libc::EACCES | libc::EPERM) => PortError::Permission {
                what: format!("open /dev/net/tun to create {place}"),
                needed: "CAP_NET_ADMIN".into(),
            },
            _ => PortError::io(format!("cannot open /dev/net/tun to create {place}"), err),
        });
    }
    // SAFETY: `raw` is a descriptor open() just returned; nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };

    // SAFETY: ifreq is plain data (a byte array and a union of integers and
    // plain structs), for which all zero bytes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    // The name is shorter than IFNAMSIZ (checked by the caller), so the
    // last byte stays NUL.
    for (dst, src) in request.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    request.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one struct ifreq through the
    // pointer, which points to `request`, alive and not otherwise borrowed
    // during the call; `fd` is an open /dev/net/tun descriptor.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut request) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => PortError::Permission {
                what: format!("create {place}"),
                needed: "CAP_NET_ADMIN".into(),
            },
            Some(libc::EBUSY) => PortError::InUse {
                name: name.to_string(),
                detail: format!(
                    "{place} is already attached to another descriptor (a TAP without \
                     multi-queue has one); close the other program or pick another name"
                ),
            },
            Some(libc::EINVAL) => PortError::io(
                format!(
                    "cannot create {place}: an interface of that name exists and is not a \
                     TAP device, or the name is invalid (`ip link show {name}`)"
                ),
                err,
            ),
            _ => PortError::io(format!("cannot create {place}"), err),
        });
    }
    let actual: Vec<u8> = request
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok((fd, String::from_utf8_lossy(&actual).into_owned()))
}

/// Now, in nanoseconds since the Unix epoch.
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Port for TapPort {
    fn name(&self) -> &str {
        &self.name
    }

    /// One read per frame until EAGAIN or a full batch; every frame of a
    /// burst gets the time of the first. An error after some frames were
    /// read ends the burst with those frames; the next poll meets it again.
    fn rx_burst(&mut self, batch: &mut RxBatch) -> Result<usize, PortError> {
        let mut received = 0;
        let mut timestamp_ns = None;
        // Catches the byte past FRAME_CAPACITY: a read that fills it was
        // of a longer frame, cut short.
        let mut overflow = [0u8; 1];
        while let Some(slot) = batch.next_slot() {
            let iov = [
                libc::iovec {
                    iov_base: slot.as_mut_ptr().cast(),
                    iov_len: slot.len(),
                },
                libc::iovec {
                    iov_base: overflow.as_mut_ptr().cast(),
                    iov_len: overflow.len(),
                },
            ];
            // SAFETY: both iovecs point to writable buffers of the stated
            // lengths (the batch slot and `overflow`), alive and not
            // otherwise borrowed during the call; `self.fd` is open.
            let n =
                unsafe { libc::readv(self.fd.as_raw_fd(), iov.as_ptr(), iov.len() as libc::c_int) };
            if n < 0 {
                let err = io::Error::last_os_error();
                match err.kind() {
                    io::ErrorKind::WouldBlock => break,
                    io::ErrorKind::Interrupted => continue,
                    _ if received > 0 => break,
                    _ => {
                        return Err(PortError::io(
                            format!("cannot read from TAP device {}", self.name),
                            err,
                        ))
                    }
                }
            }
            let len = n as usize;
            if len == 0 {
                break;
            }
            if len > FRAME_CAPACITY {
                self.rx_oversize += 1;
                continue;
            }
            batch.commit(len, *timestamp_ns.get_or_insert_with(now_ns));
            received += 1;
        }
        Ok(received)
    }

    fn tx_slot(&mut self) -> Option<&mut [u8]> {
        if self.tx_queued == TAP_TX_QUEUE_FRAMES {
            return None;
        }
        let index = (self.tx_head + self.tx_queued) % TAP_TX_QUEUE_FRAMES;
        self.tx_buf.get_mut(TapPort::tx_range(index))
    }

    fn tx_commit(&mut self, len: usize, _timestamp_ns: u64) {
        if self.tx_queued == TAP_TX_QUEUE_FRAMES {
            return;
        }
        let index = (self.tx_head + self.tx_queued) % TAP_TX_QUEUE_FRAMES;
        if let Some(slot_len) = self.tx_lens.get_mut(index) {
            *slot_len = len.min(FRAME_CAPACITY) as u16;
            self.tx_queued += 1;
        }
    }

    /// One write per frame; see [`TapPort`] for what happens to frames the
    /// device does not take.
    fn tx_flush(&mut self) -> TxDone {
        let mut done = TxDone::default();
        while self.tx_queued > 0 {
            let index = self.tx_head;
            let len = self.tx_lens.get(index).copied().unwrap_or(0) as usize;
            let range = TapPort::tx_range(index);
            let frame = self
                .tx_buf
                .get(range.start..range.start + len)
                .unwrap_or(&[]);
            // SAFETY: `frame` is a readable buffer of `frame.len()` bytes,
            // alive during the call; `self.fd` is open.
            let n = unsafe { libc::write(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len()) };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                let name = &self.name;
                done.add_refused(|| {
                    PortError::io(format!("TAP device {name} refused a frame"), err)
                });
            } else {
                done.add_sent(frame.len());
            }
            self.tx_head = (self.tx_head + 1) % TAP_TX_QUEUE_FRAMES;
            self.tx_queued -= 1;
        }
        self.tx_refused += done.refused;
        done
    }

    /// The TAP descriptor is readable while a frame waits.
    fn wakeup(&self) -> Wakeup {
        Wakeup::Fd(self.fd.as_raw_fd())
    }

    fn device_drops(&self, report: &mut dyn FnMut(&'static str, u64)) {
        report("tap_rx_oversize", self.rx_oversize);
    }
}

#[cfg(test)]
mod tests {
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

        // A frame longer than FRAME_CAPACITY, to the pinned peer: dropped
        // and counted.
        ns.ip(&["link", "set", &tap, "mtu", "9000"]).unwrap();
        run_in_netns(ns.name(), || {
            let socket = std::net::UdpSocket::bind("192.0.2.1:0").unwrap();
            socket.send_to(&[0u8; 6000], (peer_ip, 9)).unwrap();
        })
        .unwrap();
        let mut batch = RxBatch::new(32);
        let deadline = Instant::now() + Duration::from_secs(2);
        while port.rx_oversize() == 0 && Instant::now() < deadline {
            batch.clear();
            port.rx_burst(&mut batch).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(port.rx_oversize(), 1);

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
}
