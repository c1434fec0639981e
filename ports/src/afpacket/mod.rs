//! AF_PACKET ports: a raw packet socket bound to one interface (a veth's
//! host end), with virtio-net headers (`PACKET_VNET_HDR`), so that what a
//! container's kernel sends keeps its offloads: TCP super-frames arrive
//! whole with their GSO type and segment size, partial checksums arrive
//! partial, and both can be sent so. Unlike AF_XDP, no XDP program is
//! attached, so the veth keeps GSO on the container side.
//!
//! Frames move through mmap rings shared with the kernel ([`ring`]):
//! receiving takes no system call, and a flush one `send()` for all its
//! frames, where a socket read and written frame by frame takes one call
//! per frame each way. A received super-frame stays in its ring slot,
//! lent to the worker's batch, so the switch copies it once (into the
//! transmit slot of its egress port) and the kernel twice (into the
//! receive ring, and out of the transmit ring when it hands the frame to
//! the veth). The ring's slots are sized for 64 KiB frames, so the
//! small-frame rate stays below AF_XDP's; TCP between containers is far
//! faster, since each frame moves up to 64 KiB and no checksum is
//! computed. Frames the host itself sends on the interface are not
//! received (`PACKET_IGNORE_OUTGOING`).

mod ring;

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::{Port, PortError, RxBatch, TxDone, TxOffloads, VnetHeader, Wakeup};
use ring::{set_packet_option, PacketRings};
pub use ring::{RX_RING_SLOTS, TX_RING_SLOTS};

/// A [`Port`] on an AF_PACKET socket bound to interface `name`, with a
/// receive ring of [`RX_RING_SLOTS`] and a transmit ring of
/// [`TX_RING_SLOTS`] frames of up to [`crate::SUPER_FRAME_CAPACITY`]
/// bytes behind their virtio-net header. `tx_slot` gives `None` while
/// every transmit slot is queued or still held by the kernel (the caller
/// counts the drop); a frame the kernel refuses is refused in the flush's
/// report, with the kernel's reason.
pub struct AfPacketPort {
    name: String,
    // The mapping (which holds the socket open) goes when the port and
    // every batch still holding a lent frame of it are done with it.
    rings: PacketRings,
    fd: OwnedFd,
    rx_oversize: u64,
    /// Frames the kernel dropped for a full receive ring, summed from
    /// `PACKET_STATISTICS` (which resets on every read).
    rx_ring_full: Cell<u64>,
}

impl AfPacketPort {
    /// Opens a packet socket on interface `name` in this thread's network
    /// namespace. The interface must exist; it may be down.
    pub fn open(name: &str) -> Result<AfPacketPort, PortError> {
        let c_name = std::ffi::CString::new(name).map_err(|_| PortError::NoSuchInterface {
            name: name.to_string(),
        })?;
        // SAFETY: `c_name` is a NUL-terminated string that outlives the call.
        let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
        if index == 0 {
            return Err(PortError::NoSuchInterface {
                name: name.to_string(),
            });
        }
        let protocol = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: socket() takes no pointers; the result is checked below.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                protocol as libc::c_int,
            )
        };
        if raw < 0 {
            let err = io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => PortError::Permission {
                    what: format!("open a packet socket on {name}"),
                    needed: "CAP_NET_RAW".into(),
                },
                _ => PortError::io(format!("cannot open a packet socket on {name}"), err),
            });
        }
        // SAFETY: `raw` was just returned by socket() and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let on: libc::c_int = 1;
        // Before the rings: the kernel refuses PACKET_VNET_HDR once they exist.
        set_packet_option(&fd, libc::PACKET_VNET_HDR, &on).map_err(|e| {
            PortError::io(
                format!("cannot set PACKET_VNET_HDR on the packet socket of {name}"),
                e,
            )
        })?;
        set_packet_option(&fd, libc::PACKET_IGNORE_OUTGOING, &on).map_err(|e| {
            PortError::io(
                format!(
                    "cannot set PACKET_IGNORE_OUTGOING on the packet socket of {name} \
                     (it needs Linux 4.20)"
                ),
                e,
            )
        })?;
        let rings = PacketRings::new(&fd, name)?;
        allow_ring_in_flight(&fd);
        // SAFETY: sockaddr_ll is plain data; all zeros is valid.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = protocol;
        addr.sll_ifindex = index as libc::c_int;
        // SAFETY: bind() reads `size_of::<sockaddr_ll>()` bytes of `addr`,
        // which lives on this stack frame during the call.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(PortError::io(
                format!("cannot bind a packet socket to {name}"),
                io::Error::last_os_error(),
            ));
        }
        Ok(AfPacketPort {
            name: name.to_string(),
            rings,
            fd,
            rx_oversize: 0,
            rx_ring_full: Cell::new(0),
        })
    }
}

/// Lets the frames of a full transmit ring be in flight at once: the
/// kernel charges each frame it has not finished sending to the socket's
/// send buffer (212 KiB by default, three super-frames), and refuses the
/// next frame past it. SO_SNDBUFFORCE needs CAP_NET_ADMIN, which opening
/// the port does not; without it the default stays, and frames past it are
/// refused with the kernel's EAGAIN as before.
fn allow_ring_in_flight(fd: &OwnedFd) {
    let bytes = (TX_RING_SLOTS * (crate::SUPER_FRAME_CAPACITY + 1)) as libc::c_int;
    // SAFETY: setsockopt() reads one int from `bytes`, alive during the
    // call; `fd` is an open socket.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUFFORCE,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

impl Port for AfPacketPort {
    fn name(&self) -> &str {
        &self.name
    }

    /// Takes the frames waiting in the receive ring; no system call.
    fn rx_burst(&mut self, batch: &mut RxBatch) -> Result<usize, PortError> {
        Ok(self.rings.receive(batch, &mut self.rx_oversize))
    }

    fn tx_slot(&mut self) -> Option<&mut [u8]> {
        self.rings.tx_slot()
    }

    fn tx_commit(&mut self, len: usize, _timestamp_ns: u64) {
        self.rings.tx_commit(len, VnetHeader::default());
    }

    fn tx_offloads(&self) -> TxOffloads {
        TxOffloads::ChecksumAndGso
    }

    fn tx_commit_offloaded(&mut self, len: usize, _timestamp_ns: u64, vnet: VnetHeader) {
        self.rings.tx_commit(len, vnet);
    }

    /// One `send()` for every queued frame; a frame the kernel does not
    /// take (the interface down or gone, a bad header, a veth whose peer
    /// drops it) is refused.
    fn tx_flush(&mut self) -> TxDone {
        let name = &self.name;
        self.rings
            .flush(&self.fd, || format!("{name} refused a frame"))
    }

    /// The socket is readable while a frame waits in the receive ring.
    fn wakeup(&self) -> Wakeup {
        Wakeup::Fd(self.fd.as_raw_fd())
    }

    fn prepare_wait(&mut self) -> bool {
        self.rings.rx_ready()
    }

    fn device_drops(&self, report: &mut dyn FnMut(&'static str, u64)) {
        report("afpacket_rx_oversize", self.rx_oversize);
        // SAFETY: tpacket_stats is plain data; all zeros is valid.
        let mut stats: libc::tpacket_stats = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: getsockopt() writes at most `len` bytes into `stats` and
        // the length into `len`, both alive on this frame during the call.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut stats as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if rc == 0 {
            self.rx_ring_full
                .set(self.rx_ring_full.get() + u64::from(stats.tp_drops));
        }
        report("afpacket_rx_ring_full", self.rx_ring_full.get());
    }
}

#[cfg(test)]
mod tests;
