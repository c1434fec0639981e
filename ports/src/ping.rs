//! ICMP echo (what `ping` does) from a raw socket of our own, so the demo
//! and the tests check reachability without an external program.
//!
//! Open the [`Pinger`] inside a container's namespace (with
//! [`crate::netns::run_in_netns`]); its socket stays in that namespace and
//! can be used from any thread afterwards. A raw ICMP socket needs
//! `CAP_NET_RAW`, which the lab has as root. This crate knows nothing of
//! the pipeline's packet types, so the 8-byte echo header and its checksum
//! are built here.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use crate::PortError;

const ICMP_ECHO_REPLY: u8 = 0;
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_HEADER_LEN: usize = 8;
/// Payload bytes per request: `ping`'s default of 56.
const PAYLOAD_LEN: usize = 56;

/// What a run of echo requests got back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingReport {
    /// Requests sent.
    pub sent: u32,
    /// Round-trip time of each request answered, in sequence order.
    pub rtts: Vec<Duration>,
}

impl PingReport {
    /// Replies received.
    pub fn received(&self) -> u32 {
        self.rtts.len() as u32
    }

    /// One line in `ping`'s words: `3 packets transmitted, 3 received, rtt
    /// min/avg/max = 0.1/0.2/0.3 ms`.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{} packets transmitted, {} received",
            self.sent,
            self.received()
        );
        let ms = |d: &Duration| d.as_secs_f64() * 1e3;
        if let (Some(min), Some(max)) = (self.rtts.iter().min(), self.rtts.iter().max()) {
            let avg = self.rtts.iter().map(ms).sum::<f64>() / self.rtts.len() as f64;
            line += &format!(
                ", rtt min/avg/max = {:.3}/{avg:.3}/{:.3} ms",
                ms(min),
                ms(max)
            );
        }
        line
    }
}

/// A raw ICMP socket in the namespace it was opened in.
#[derive(Debug)]
pub struct Pinger {
    socket: OwnedFd,
    /// The echo identifier of this pinger's requests.
    id: u16,
}

impl Pinger {
    /// Opens a raw ICMP socket in the calling thread's network namespace.
    pub fn open() -> Result<Pinger, PortError> {
        // SAFETY: socket takes no pointers; the result is checked below.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::IPPROTO_ICMP,
            )
        };
        if fd < 0 {
            let err = std::io::Error::last_os_error();
            return Err(if err.raw_os_error() == Some(libc::EPERM) {
                PortError::Permission {
                    what: "open a raw ICMP socket".into(),
                    needed: "CAP_NET_RAW".into(),
                }
            } else {
                PortError::io("cannot open a raw ICMP socket", err)
            });
        }
        // SAFETY: fd is a descriptor socket() just returned to us alone.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        static NEXT_ID: AtomicU16 = AtomicU16::new(0);
        // A raw socket sees every ICMP packet of its namespace: the id keeps
        // two pingers there (or a `ping`) from taking each other's replies.
        let id = (std::process::id() as u16) ^ NEXT_ID.fetch_add(0x100, Ordering::Relaxed);
        Ok(Pinger { socket, id })
    }

    /// Sends `count` echo requests to `to`, one every `interval`, and waits
    /// for the replies until `timeout` after the last request. Replies come
    /// back in the report with their round-trip times; a lost one is simply
    /// missing. Errors are those of the socket, not lost packets.
    pub fn ping(
        &self,
        to: Ipv4Addr,
        count: u32,
        interval: Duration,
        timeout: Duration,
    ) -> Result<PingReport, PortError> {
        let mut sent_at: Vec<Instant> = Vec::with_capacity(count as usize);
        let mut rtts: Vec<Option<Duration>> = vec![None; count as usize];
        let mut buf = [0u8; 1500];
        let start = Instant::now();
        loop {
            let now = Instant::now();
            let next_send = start + interval * sent_at.len() as u32;
            if sent_at.len() < count as usize && now >= next_send {
                // Timed from before the send: the reply can be back before
                // sendto returns, when the whole path is in-kernel and fast.
                let at = Instant::now();
                self.send(to, sent_at.len() as u16)?;
                sent_at.push(at);
                continue;
            }
            let wait_until = if sent_at.len() < count as usize {
                next_send
            } else {
                match sent_at.last() {
                    Some(last) => *last + timeout,
                    None => break,
                }
            };
            if rtts.iter().all(Option::is_some) || now >= wait_until {
                if sent_at.len() == count as usize {
                    break;
                }
                continue;
            }
            let Some(len) = self.recv(&mut buf, wait_until - now)? else {
                continue;
            };
            if let Some(seq) = echo_reply_seq(&buf[..len], to, self.id) {
                if let (Some(slot), Some(at)) = (rtts.get_mut(seq), sent_at.get(seq)) {
                    slot.get_or_insert_with(|| at.elapsed());
                }
            }
        }
        Ok(PingReport {
            sent: count,
            rtts: rtts.into_iter().flatten().collect(),
        })
    }

    fn send(&self, to: Ipv4Addr, seq: u16) -> Result<(), PortError> {
        let request = echo_request(self.id, seq);
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(to).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: request and addr live across the call and the lengths
        // given are theirs; sendto only reads them.
        let rc = unsafe {
            libc::sendto(
                self.socket.as_raw_fd(),
                request.as_ptr().cast(),
                request.len(),
                0,
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(PortError::io(
                format!("cannot send an ICMP echo request to {to}"),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// Waits up to `wait` for a packet; its length, or None on timeout.
    fn recv(&self, buf: &mut [u8], wait: Duration) -> Result<Option<usize>, PortError> {
        let mut pfd = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // Round up so a wait under a millisecond does not spin.
        let ms = wait.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: pfd is one valid pollfd for the call's duration.
        let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
        let err = || {
            PortError::io(
                "cannot read the ICMP socket",
                std::io::Error::last_os_error(),
            )
        };
        if ready < 0 {
            return if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(err())
            };
        }
        if ready == 0 {
            return Ok(None);
        }
        // SAFETY: buf is writable for buf.len() bytes during the call.
        let n = unsafe {
            libc::recv(
                self.socket.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => Ok(None),
                _ => Err(err()),
            };
        }
        Ok(Some(n as usize))
    }
}

/// An ICMP echo request (header and payload; the kernel adds the IPv4
/// header).
fn echo_request(id: u16, seq: u16) -> [u8; ICMP_HEADER_LEN + PAYLOAD_LEN] {
    let mut packet = [0u8; ICMP_HEADER_LEN + PAYLOAD_LEN];
    packet[0] = ICMP_ECHO_REQUEST;
    packet[4..6].copy_from_slice(&id.to_be_bytes());
    packet[6..8].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in packet[ICMP_HEADER_LEN..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let sum = internet_checksum(&packet);
    packet[2..4].copy_from_slice(&sum.to_be_bytes());
    packet
}

/// The sequence number of `packet` (an IPv4 packet as a raw socket reads
/// it) when it is an intact echo reply from `from` to identifier `id`.
fn echo_reply_seq(packet: &[u8], from: Ipv4Addr, id: u16) -> Option<usize> {
    let header_len = (*packet.first()? as usize & 0x0f) * 4;
    let source = packet.get(12..16)?;
    if *packet.get(9)? != libc::IPPROTO_ICMP as u8 || source != from.octets() {
        return None;
    }
    let icmp = packet.get(header_len..)?;
    if icmp.len() < ICMP_HEADER_LEN
        || icmp[0] != ICMP_ECHO_REPLY
        || icmp[1] != 0
        || icmp[4..6] != id.to_be_bytes()
        || internet_checksum(icmp) != 0
    {
        return None;
    }
    Some(u16::from_be_bytes([icmp[6], icmp[7]]) as usize)
}

/// RFC 1071: the ones' complement of the ones' complement sum of 16-bit
/// words; 0 over data that carries its correct checksum.
pub(crate) fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u16::from_be_bytes([w[0], w[1]]) as u32;
    }
    if let [last] = words.remainder() {
        sum += (*last as u32) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_to(request: &[u8], from: Ipv4Addr) -> Vec<u8> {
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        ip.extend_from_slice(&from.octets());
        ip.extend_from_slice(&[10, 0, 0, 1]);
        let mut icmp = request.to_vec();
        icmp[0] = ICMP_ECHO_REPLY;
        icmp[2..4].copy_from_slice(&[0, 0]);
        let sum = internet_checksum(&icmp);
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        ip.extend_from_slice(&icmp);
        ip
    }

    #[test]
    fn requests_carry_a_valid_checksum() {
        let request = echo_request(0x1234, 7);
        assert_eq!(internet_checksum(&request), 0);
        assert_eq!(&request[4..8], &[0x12, 0x34, 0, 7]);
    }

    #[test]
    fn checksum_of_odd_length_pads_with_zero() {
        // RFC 1071's example words, then a lone byte.
        assert_eq!(
            internet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        assert_eq!(internet_checksum(&[0xab]), !0xab00);
    }

    #[test]
    fn only_intact_replies_from_the_target_to_our_id_match() {
        let target = Ipv4Addr::new(10, 0, 0, 2);
        let reply = reply_to(&echo_request(9, 3), target);
        assert_eq!(echo_reply_seq(&reply, target, 9), Some(3));
        assert_eq!(echo_reply_seq(&reply, target, 10), None, "other id");
        assert_eq!(
            echo_reply_seq(&reply, Ipv4Addr::new(10, 0, 0, 3), 9),
            None,
            "other source"
        );
        let mut corrupt = reply.clone();
        corrupt[30] ^= 1;
        assert_eq!(echo_reply_seq(&corrupt, target, 9), None, "bad checksum");
        let mut request = reply.clone();
        request[20] = ICMP_ECHO_REQUEST;
        assert_eq!(echo_reply_seq(&request, target, 9), None, "a request");
        for len in 0..reply.len() - PAYLOAD_LEN {
            assert_eq!(echo_reply_seq(&reply[..len], target, 9), None, "{len}");
        }
    }

    #[test]
    fn summary_reads_like_ping() {
        let report = PingReport {
            sent: 3,
            rtts: vec![Duration::from_micros(100), Duration::from_micros(300)],
        };
        assert_eq!(
            report.summary(),
            "3 packets transmitted, 2 received, rtt min/avg/max = 0.100/0.200/0.300 ms"
        );
    }
}
