//! Path MTU discovery as a sender sees it: a connected UDP socket whose
//! datagrams carry the DF bit (`IP_MTU_DISCOVER = IP_PMTUDISC_DO`), so a
//! hop that cannot carry one answers with an ICMP fragmentation-needed and
//! the kernel lowers the path MTU it keeps for the destination
//! (`getsockopt(IP_MTU)`, the MTU `ip route get` shows).
//!
//! Open the [`DfProbe`] inside a container's namespace (with
//! [`crate::netns::run_in_netns`]); its socket stays there and can be used
//! from any thread afterwards.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::PortError;

/// IPv4 and UDP header bytes in front of a datagram's payload.
const IPV4_UDP_HEADERS: usize = 20 + 8;

/// A connected UDP socket that never fragments (DF set on every datagram).
#[derive(Debug)]
pub struct DfProbe {
    socket: UdpSocket,
    to: SocketAddrV4,
}

/// What a [`DfProbe::probe`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    /// Datagrams sent at the asked size (the kernel refuses more once it
    /// knows the path MTU is lower).
    pub sent: u32,
    /// Whether a send or receive reported `EMSGSIZE`: the kernel learnt
    /// the path is narrower (an ICMP fragmentation-needed came back).
    pub emsgsize: bool,
    /// The path MTU the kernel holds for the destination at the end.
    pub path_mtu: u32,
}

impl DfProbe {
    /// Opens the socket in the calling thread's namespace, connected to
    /// `to`, with DF on and ICMP errors reported on the socket.
    pub fn open(to: SocketAddrV4) -> Result<DfProbe, PortError> {
        let io = |what: &str| {
            let what = what.to_string();
            move |e| PortError::io(what, e)
        };
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .map_err(io("cannot open a UDP socket for the DF probe"))?;
        socket
            .connect(to)
            .map_err(io(&format!("cannot connect the DF probe to {to}")))?;
        let probe = DfProbe { socket, to };
        probe.set(libc::IP_MTU_DISCOVER, libc::IP_PMTUDISC_DO)?;
        probe.set(libc::IP_RECVERR, 1)?;
        Ok(probe)
    }

    fn set(&self, option: libc::c_int, value: libc::c_int) -> Result<(), PortError> {
        // SAFETY: value lives across the call and the length given is its
        // size; setsockopt only reads it.
        let rc = unsafe {
            libc::setsockopt(
                self.socket.as_raw_fd(),
                libc::IPPROTO_IP,
                option,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(PortError::io(
                format!("cannot set IP option {option} on the DF probe"),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// The path MTU the kernel holds for the destination now.
    pub fn path_mtu(&self) -> Result<u32, PortError> {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: value and len live across the call; len holds value's
        // size, and getsockopt writes at most that many bytes.
        let rc = unsafe {
            libc::getsockopt(
                self.socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_MTU,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(PortError::io(
                "cannot read the DF probe's path MTU",
                std::io::Error::last_os_error(),
            ));
        }
        Ok(value as u32)
    }

    /// Sends datagrams whose IP packets are `ip_len` bytes long, up to
    /// `attempts` of them `interval` apart, until the kernel's path MTU for
    /// the destination drops below `ip_len`. Returns what it saw; not
    /// seeing the MTU drop is a report, not an error.
    pub fn probe(
        &self,
        ip_len: usize,
        attempts: u32,
        interval: Duration,
    ) -> Result<ProbeReport, PortError> {
        let payload = vec![0xa5u8; ip_len.saturating_sub(IPV4_UDP_HEADERS)];
        let mut report = ProbeReport {
            sent: 0,
            emsgsize: false,
            path_mtu: self.path_mtu()?,
        };
        self.socket
            .set_read_timeout(Some(interval.max(Duration::from_millis(1))))
            .map_err(|e| PortError::io("cannot set the DF probe's timeout", e))?;
        let mut buf = [0u8; 2048];
        for _ in 0..attempts {
            if (report.path_mtu as usize) < ip_len {
                break;
            }
            match self.socket.send(&payload) {
                Ok(_) => report.sent += 1,
                Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => report.emsgsize = true,
                // With IP_RECVERR an earlier ICMP error (the peer's port
                // unreachable, say) surfaces here: not ours to judge.
                Err(_) => {}
            }
            // Waits out the interval; an ICMP error for the socket ends
            // the wait early as an error.
            let until = Instant::now() + interval;
            while Instant::now() < until {
                match self.socket.recv(&mut buf) {
                    Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                        report.emsgsize = true;
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    _ => {}
                }
            }
            report.path_mtu = self.path_mtu()?;
        }
        Ok(report)
    }

    /// The destination.
    pub fn destination(&self) -> SocketAddrV4 {
        self.to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_path_mtu_is_the_loopback_mtu() {
        // Loopback's MTU (65536) is far above a 1500-byte datagram: the
        // probe sends and sees no drop (the port unreachable that comes
        // back is no MTU report).
        let probe = DfProbe::open(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9)).unwrap();
        let report = probe.probe(1500, 2, Duration::from_millis(5)).unwrap();
        assert!(report.sent >= 1, "{report:?}");
        assert!(report.path_mtu >= 1500, "{report:?}");
        assert!(!report.emsgsize, "{report:?}");
    }
}
