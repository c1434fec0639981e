//! AF_PACKET ports: a raw packet socket bound to one interface (a veth's
//! host end), with virtio-net headers (`PACKET_VNET_HDR`), so that what a
//! container's kernel sends keeps its offloads: TCP super-frames arrive
//! whole with their GSO type and segment size, partial checksums arrive
//! partial, and both can be sent so. Unlike AF_XDP, no XDP program is
//! attached, so the veth keeps GSO on the container side.
//!
//! The trade-off: one system call per frame each way (readv / writev, as
//! a TAP), so the small-frame rate is far below AF_XDP's; TCP between
//! containers is far faster, since each call moves up to 64 KiB and no
//! checksum is computed. Frames the host itself sends on the interface are
//! not received (`PACKET_IGNORE_OUTGOING`).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::vnet::{read_frames, VnetHeader, VnetTxQueue};
use crate::{Port, PortError, RxBatch, TxDone, Wakeup};

/// A [`Port`] on an AF_PACKET socket bound to interface `name`. Receive
/// and transmit work as [`crate::tap::TapPort`]'s: frames of up to
/// [`crate::SUPER_FRAME_CAPACITY`] behind their virtio-net header, one
/// system call each, a queue of up to
/// [`crate::vnet::VNET_TX_QUEUE_FRAMES`] frames between flushes.
pub struct AfPacketPort {
    name: String,
    fd: OwnedFd,
    tx: VnetTxQueue,
    rx_oversize: u64,
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
        set_option(&fd, libc::PACKET_VNET_HDR, name, "PACKET_VNET_HDR")?;
        set_option(
            &fd,
            libc::PACKET_IGNORE_OUTGOING,
            name,
            "PACKET_IGNORE_OUTGOING",
        )?;
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
            fd,
            tx: VnetTxQueue::new(),
            rx_oversize: 0,
        })
    }
}

/// Turns SOL_PACKET option `option` (an int flag) on.
fn set_option(
    fd: &OwnedFd,
    option: libc::c_int,
    name: &str,
    option_name: &str,
) -> Result<(), PortError> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt() reads `size_of::<c_int>()` bytes of `on`, which
    // lives on this stack frame during the call; `fd` is an open socket.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            option,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(PortError::io(
            format!(
                "cannot set {option_name} on the packet socket of {name} \
                 (PACKET_IGNORE_OUTGOING needs Linux 4.20)"
            ),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

impl Port for AfPacketPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn rx_burst(&mut self, batch: &mut RxBatch) -> Result<usize, PortError> {
        let name = &self.name;
        read_frames(&self.fd, batch, &mut self.rx_oversize, || {
            format!("cannot read from the packet socket of {name}")
        })
    }

    fn tx_slot(&mut self) -> Option<&mut [u8]> {
        self.tx.slot()
    }

    fn tx_commit(&mut self, len: usize, _timestamp_ns: u64) {
        self.tx.commit(len, VnetHeader::default());
    }

    fn tx_offloads(&self) -> bool {
        true
    }

    fn tx_commit_offloaded(&mut self, len: usize, _timestamp_ns: u64, vnet: VnetHeader) {
        self.tx.commit(len, vnet);
    }

    /// One write per frame; a frame the kernel does not take (the
    /// interface down or gone, a full queue) is refused.
    fn tx_flush(&mut self) -> TxDone {
        let name = &self.name;
        self.tx
            .flush(&self.fd, || format!("{name} refused a frame"))
    }

    /// The socket is readable while a frame waits.
    fn wakeup(&self) -> Wakeup {
        Wakeup::Fd(self.fd.as_raw_fd())
    }

    fn device_drops(&self, report: &mut dyn FnMut(&'static str, u64)) {
        report("afpacket_rx_oversize", self.rx_oversize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::{run_in_netns, unique_name, NetNs, Veth};
    use crate::vnet::VNET_F_NEEDS_CSUM;
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
        let ns = NetNs::create(&unique_name("vswap")).unwrap();
        let veth = Veth::create(&unique_name("vah"), &unique_name("vap"), Some(&ns)).unwrap();
        ns.ip(&["addr", "add", "192.0.2.1/24", "dev", veth.peer()])
            .and_then(|_| ns.ip(&["link", "set", veth.peer(), "up"]))
            .and_then(|_| crate::netns::ip(&["link", "set", veth.host(), "up"]))
            .and_then(|_| {
                ns.ip(&[
                    "neigh",
                    "add",
                    "192.0.2.2",
                    "lladdr",
                    "02:00:00:00:00:02",
                    "dev",
                    veth.peer(),
                ])
            })
            .unwrap();
        let mut port = AfPacketPort::open(veth.host()).unwrap();
        run_in_netns(ns.name(), || {
            let socket = std::net::UdpSocket::bind("192.0.2.1:0").unwrap();
            socket.send_to(&[7u8; 1000], "192.0.2.2:9").unwrap();
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
        let done = port.tx_flush();
        assert_eq!((done.sent, done.refused), (1, 0), "{:?}", done.error);
    }
}
