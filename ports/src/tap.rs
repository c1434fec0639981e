//! TAP devices: a network interface whose other end is a file descriptor
//! this process holds. A container's eth0 can be a TAP created inside the
//! container's namespace while the switch keeps the descriptor in its own.
//!
//! The kernel moves one frame per read() or write() on a TAP: there is no
//! batched call, so this port costs one system call per frame each way.
//! It makes up for that with offloads: the device is opened with
//! virtio-net headers (`IFF_VNET_HDR`) and told we take partial checksums
//! and TCP (and, where the kernel offers it, UDP) super-frames
//! (TUNSETOFFLOAD), so a container's TCP moves 64 KiB per system call with
//! no checksum computed anywhere on the way.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::netns::run_in_netns;
use crate::vnet::{read_frames, VnetHeader, VnetTxQueue, VNET_HDR_LEN, VNET_TX_QUEUE_FRAMES};
use crate::{Port, PortError, RxBatch, TxDone, TxOffloads, Wakeup};

/// How many frames the transmit queue holds between flushes.
pub const TAP_TX_QUEUE_FRAMES: usize = VNET_TX_QUEUE_FRAMES;

/// What the port asks the kernel to hand it: partial checksums, TCP
/// super-frames (with ECN), and UDP super-frames where the kernel has USO
/// (Linux 6.2); [`TapPort::open`] retries without USO when refused.
const OFFLOADS_WITH_USO: libc::c_uint = OFFLOADS_TCP | libc::TUN_F_USO4 | libc::TUN_F_USO6;
const OFFLOADS_TCP: libc::c_uint =
    libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_TSO_ECN;

/// A [`Port`] on a TAP device (`IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`: whole
/// Ethernet frames behind a virtio-net header), through a non-blocking
/// descriptor of `/dev/net/tun`.
///
/// Receive reads frames until the device has none left or the batch is
/// full, each into a [`RxBatch::next_super_slot`] with its virtio-net
/// header kept beside it; frames longer than [`SUPER_FRAME_CAPACITY`] are
/// dropped and counted ([`TapPort::rx_oversize`]).
///
/// Transmit queues up to [`TAP_TX_QUEUE_FRAMES`] frames, packed one after
/// the other in a buffer allocated once (room for all of them at
/// [`FRAME_CAPACITY`], or fewer super-frames; `tx_slot` gives `None` once
/// the queue is full, so the caller counts the drop); [`Port::tx_flush`]
/// writes them out in order, each behind its virtio-net header, and
/// empties the queue. A frame is sent when its write succeeds; every
/// failed write (EIO with the device down, EBADFD once it was deleted,
/// EINVAL for a runt or a bad header, EAGAIN when the kernel's queue is
/// full) refuses that frame, counted in [`TapPort::tx_refused`], and the
/// flush goes on with the next. Holding frames back on EAGAIN would only
/// stall the worker's queue behind a device that is not keeping up.
///
/// The device is not made persistent: one this port created disappears
/// when the port is dropped. A persistent device made beforehand (`ip
/// tuntap add dev NAME mode tap vnet_hdr`) is attached to and stays.
pub struct TapPort {
    name: String,
    fd: OwnedFd,
    offloads: libc::c_uint,
    tx: VnetTxQueue,
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
        let offloads = enable_offloads(&fd, &place)?;
        Ok(TapPort {
            name,
            fd,
            offloads,
            tx: VnetTxQueue::new(),
            rx_oversize: 0,
            tx_refused: 0,
        })
    }

    /// How many received frames were dropped for being longer than
    /// [`SUPER_FRAME_CAPACITY`].
    pub fn rx_oversize(&self) -> u64 {
        self.rx_oversize
    }

    /// How many frames the device refused on transmit.
    pub fn tx_refused(&self) -> u64 {
        self.tx_refused
    }

    /// How many frames wait in the transmit queue.
    pub fn tx_queued(&self) -> usize {
        self.tx.queued()
    }

    /// True when the kernel hands this port UDP super-frames (USO) too.
    pub fn receives_udp_super_frames(&self) -> bool {
        self.offloads & libc::TUN_F_USO4 != 0
    }
}

/// Sets the virtio-net header size and asks for [`OFFLOADS_WITH_USO`],
/// falling back to [`OFFLOADS_TCP`] on kernels without USO. Returns the
/// offloads the kernel took.
fn enable_offloads(fd: &OwnedFd, place: &str) -> Result<libc::c_uint, PortError> {
    let size: libc::c_int = VNET_HDR_LEN as libc::c_int;
    // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer, which
    // points to `size`, alive during the call; `fd` is an attached TAP.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETVNETHDRSZ, &size) };
    if rc < 0 {
        return Err(PortError::io(
            format!("cannot set the virtio-net header size of {place}"),
            io::Error::last_os_error(),
        ));
    }
    let mut last = None;
    for offloads in [OFFLOADS_WITH_USO, OFFLOADS_TCP] {
        // SAFETY: TUNSETOFFLOAD takes its argument by value (an unsigned
        // long of TUN_F_* bits) and reads no memory; `fd` is an attached
        // TAP.
        let rc = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::TUNSETOFFLOAD,
                offloads as libc::c_ulong,
            )
        };
        if rc == 0 {
            return Ok(offloads);
        }
        last = Some(io::Error::last_os_error());
    }
    Err(PortError::io(
        format!("cannot enable checksum and TCP segmentation offload on {place}"),
        last.unwrap_or_else(|| io::Error::from(io::ErrorKind::Unsupported)),
    ))
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
    request.ifr_ifru.ifru_flags =
        (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short;
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

impl Port for TapPort {
    fn name(&self) -> &str {
        &self.name
    }

    /// One read per frame until EAGAIN, a full batch or no room left in
    /// it for a super-frame; every frame of a burst gets the time of the
    /// first. An error after some frames were read ends the burst with
    /// those frames; the next poll meets it again.
    fn rx_burst(&mut self, batch: &mut RxBatch) -> Result<usize, PortError> {
        let name = &self.name;
        read_frames(&self.fd, batch, &mut self.rx_oversize, || {
            format!("cannot read from TAP device {name}")
        })
    }

    fn tx_slot(&mut self) -> Option<&mut [u8]> {
        self.tx.slot()
    }

    fn tx_commit(&mut self, len: usize, _timestamp_ns: u64) {
        self.tx.commit(len, VnetHeader::default());
    }

    fn tx_offloads(&self) -> TxOffloads {
        TxOffloads::ChecksumAndGso
    }

    fn tx_commit_offloaded(&mut self, len: usize, _timestamp_ns: u64, vnet: VnetHeader) {
        self.tx.commit(len, vnet);
    }

    /// One write per frame, behind its virtio-net header; see [`TapPort`]
    /// for what happens to frames the device does not take.
    fn tx_flush(&mut self) -> TxDone {
        let name = &self.name;
        let done = self
            .tx
            .flush(&self.fd, || format!("TAP device {name} refused a frame"));
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
#[path = "tap_tests.rs"]
mod tests;
