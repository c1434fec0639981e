//! Traffic between endpoints of the overlay lab, all of it our own code in
//! the endpoints' namespaces (no `ping` or `iperf3`): ICMP echo from a raw
//! socket ([`vswitch_ports::ping`]), a TCP stream whose every byte the
//! receiver checks against the pattern it was sent with, and a DF datagram
//! probing the path MTU ([`vswitch_ports::pmtu`]).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use vswitch_ports::netns::run_in_netns;
use vswitch_ports::ping::{PingReport, Pinger};
use vswitch_ports::pmtu::{DfProbe, ProbeReport};

use super::overlay::OverlayLab;

/// Port the TCP server listens on.
const TCP_PORT: u16 = 5201;

/// Byte `offset` of a stream: a multiplicative hash of the offset, so a
/// lost, repeated or reordered segment shows as a wrong byte.
pub fn pattern_byte(offset: u64) -> u8 {
    (offset.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8
}

/// A TCP transfer that arrived whole and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpReport {
    /// Bytes received (all checked against the pattern).
    pub bytes: usize,
    /// From connect to the receiver's end of stream.
    pub took: Duration,
}

impl TcpReport {
    /// Megabits per second.
    pub fn mbit_per_s(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.took.as_secs_f64().max(1e-9) / 1e6
    }
}

/// Pings `to` from namespace `ns`: `count` echo requests 200 ms apart,
/// replies awaited for 2 s after the last.
pub fn ping_from(ns: &str, to: Ipv4Addr, count: u32) -> Result<PingReport, String> {
    run_in_netns(ns, Pinger::open)
        .and_then(|pinger| pinger)
        .and_then(|pinger| {
            pinger.ping(
                to,
                count,
                Duration::from_millis(200),
                Duration::from_secs(2),
            )
        })
        .map_err(|e| format!("ping from {ns} to {to}: {e}"))
}

/// Sends `bytes` of the pattern over TCP from namespace `from_ns` to a
/// server on `to` in `to_ns`, which checks every byte. Bounded by
/// `timeout` on each side.
pub fn tcp_verified(
    from_ns: &str,
    to_ns: &str,
    to: Ipv4Addr,
    bytes: usize,
    timeout: Duration,
) -> Result<TcpReport, String> {
    let addr = SocketAddr::from((to, TCP_PORT));
    let listener = run_in_netns(to_ns, || TcpListener::bind(addr))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot listen on {addr} in {to_ns}: {e}"))?;
    let server = std::thread::spawn(move || -> Result<usize, String> {
        let io = |what: &'static str| move |e: std::io::Error| format!("server: {what}: {e}");
        // Accept with a deadline, so a client that never connects cannot
        // leave this thread behind.
        listener.set_nonblocking(true).map_err(io("nonblocking"))?;
        let deadline = Instant::now() + timeout;
        let mut conn = loop {
            match listener.accept() {
                Ok((conn, _)) => break conn,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(format!("server: no connection: {e}")),
            }
        };
        conn.set_nonblocking(false).map_err(io("blocking"))?;
        conn.set_read_timeout(Some(timeout))
            .map_err(io("timeout"))?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        loop {
            let n = conn
                .read(&mut buf)
                .map_err(|e| format!("server: read failed after {total} bytes: {e}"))?;
            if n == 0 {
                return Ok(total);
            }
            for (i, &b) in buf[..n].iter().enumerate() {
                let offset = (total + i) as u64;
                if b != pattern_byte(offset) {
                    return Err(format!(
                        "server: byte {offset} is {b:#04x}, {:#04x} was sent",
                        pattern_byte(offset)
                    ));
                }
            }
            total += n;
        }
    });
    let start = Instant::now();
    let sent = run_in_netns(from_ns, move || -> std::io::Result<()> {
        let mut conn = TcpStream::connect_timeout(&addr, timeout)?;
        conn.set_write_timeout(Some(timeout))?;
        let mut chunk = vec![0u8; 64 * 1024];
        let mut offset = 0usize;
        while offset < bytes {
            let n = (bytes - offset).min(chunk.len());
            for (i, b) in chunk[..n].iter_mut().enumerate() {
                *b = pattern_byte((offset + i) as u64);
            }
            conn.write_all(&chunk[..n])?;
            offset += n;
        }
        conn.shutdown(std::net::Shutdown::Write)
    })
    .map_err(|e| e.to_string())?;
    let received = server
        .join()
        .map_err(|_| "the TCP server thread panicked".to_string())?;
    let took = start.elapsed();
    sent.map_err(|e| format!("TCP {from_ns} -> {to}: client: {e}"))?;
    let bytes_in = received.map_err(|e| format!("TCP {from_ns} -> {to}: {e}"))?;
    if bytes_in != bytes {
        return Err(format!(
            "TCP {from_ns} -> {to}: {bytes_in} of {bytes} bytes arrived"
        ));
    }
    Ok(TcpReport {
        bytes: bytes_in,
        took,
    })
}

impl OverlayLab {
    /// Pings `to` from `from`, `count` times, after up to five single
    /// echoes that let ARP (the containers' and the switches' for the
    /// remote VTEP) settle; Ok with `ping`'s summary line when every one
    /// of the `count` replies came.
    pub fn ping(&self, from: &str, to: &str, count: u32) -> Result<String, String> {
        let (a, b) = (self.endpoint(from)?, self.endpoint(to)?);
        for _ in 0..5 {
            if ping_from(&a.netns_name, b.ip, 1)?.received() == 1 {
                break;
            }
        }
        let report = ping_from(&a.netns_name, b.ip, count)?;
        if report.received() == count {
            Ok(report.summary())
        } else {
            Err(format!("ping {from} -> {to}: {}", report.summary()))
        }
    }

    /// Pings address `to` from `from`, `count` times, no warm-up: for
    /// checks that nothing answers.
    pub fn ping_addr(&self, from: &str, to: Ipv4Addr, count: u32) -> Result<PingReport, String> {
        ping_from(&self.endpoint(from)?.netns_name, to, count)
    }

    /// Sends `bytes` over TCP from `from` to `to`, every byte checked.
    pub fn tcp(
        &self,
        from: &str,
        to: &str,
        bytes: usize,
        timeout: Duration,
    ) -> Result<TcpReport, String> {
        let (a, b) = (self.endpoint(from)?, self.endpoint(to)?);
        tcp_verified(&a.netns_name, &b.netns_name, b.ip, bytes, timeout)
            .map_err(|e| format!("{from} -> {to}: {e}"))
    }

    /// From `from`, sends DF datagrams of `ip_len` bytes (IP header
    /// included) to `to` (UDP port 9), up to `attempts` of them 200 ms
    /// apart, until the kernel's path MTU drops below `ip_len`.
    pub fn probe_path_mtu(
        &self,
        from: &str,
        to: Ipv4Addr,
        ip_len: usize,
        attempts: u32,
    ) -> Result<ProbeReport, String> {
        let ns = &self.endpoint(from)?.netns_name;
        let probe = run_in_netns(ns, || DfProbe::open(SocketAddrV4::new(to, 9)))
            .and_then(|p| p)
            .map_err(|e| format!("DF probe from {from}: {e}"))?;
        probe
            .probe(ip_len, attempts, Duration::from_millis(200))
            .map_err(|e| format!("DF probe from {from}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_is_not_periodic_in_a_chunk() {
        // A segment lost at a chunk boundary must not look like the next.
        let chunk = 64 * 1024u64;
        let differ = (0..4096u64)
            .filter(|&i| pattern_byte(i) != pattern_byte(i + chunk))
            .count();
        assert!(differ > 4000, "{differ}");
        let shifted = (0..4096u64)
            .filter(|&i| pattern_byte(i) != pattern_byte(i + 1410))
            .count();
        assert!(shifted > 4000, "{shifted}");
    }
}
