//! The one ethtool setting the switch needs on container links.
//!
//! A namespace's kernel hands a veth frames with TCP/UDP checksums left for
//! the NIC to finish ("checksum offload"). The switch forwards frames as
//! they are, so the receiver would get a bad checksum and drop TCP. The
//! links the demo and tests create therefore turn TX checksum offload off
//! on the container side, like `ethtool -K eth0 tx off`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::PortError;

const ETHTOOL_STXCSUM: u32 = 0x0000_0017;

#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// Turns TX checksum offload off on `interface` in the calling thread's
/// network namespace.
pub fn disable_tx_checksum_offload(interface: &str) -> Result<(), PortError> {
    if interface.is_empty() || interface.len() >= libc::IFNAMSIZ {
        return Err(PortError::NoSuchInterface {
            name: interface.to_string(),
        });
    }
    // SAFETY: socket() takes no pointers; the result is checked below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(PortError::io(
            "cannot open a socket for ethtool",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: `raw` was just returned by socket() and is owned by nobody else.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut value = EthtoolValue {
        cmd: ETHTOOL_STXCSUM,
        data: 0,
    };
    // SAFETY: ifreq is plain data; all zeros is valid.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(interface.bytes()) {
        *dst = src as libc::c_char;
    }
    request.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
    // SAFETY: SIOCETHTOOL reads the ifreq and the ethtool_value it points
    // to; both live on this stack frame for the whole call.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCETHTOOL, &mut request) };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::ENODEV) => PortError::NoSuchInterface {
                name: interface.to_string(),
            },
            Some(libc::EPERM) => PortError::Permission {
                what: format!("change offloads of {interface}"),
                needed: "CAP_NET_ADMIN".into(),
            },
            _ => PortError::io(
                format!("cannot turn off TX checksum offload on {interface}"),
                err,
            ),
        });
    }
    Ok(())
}
