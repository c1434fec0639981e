//! Frames for the tracker's tests, and a helper that runs one through it.

use crate::conntrack::track::Verdict;
use crate::conntrack::ConnTable;
use crate::parse::parse;
use crate::wire::ip_proto;

pub const A: [u8; 4] = [10, 0, 0, 1];
pub const B: [u8; 4] = [10, 0, 0, 2];
pub const A6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
pub const B6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn ethernet(ethertype: u16) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// The IPv4 packet (header and `l4`) from `src` to `dst`.
pub fn ipv4_packet(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
    let total = (20 + l4.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(l4);
    p
}

/// An Ethernet frame around an IPv4 packet.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = ethernet(0x0800);
    f.extend_from_slice(&ipv4_packet(src, dst, proto, l4));
    f
}

/// The IPv6 packet from `src` to `dst`.
pub fn ipv6_packet(src: [u8; 16], dst: [u8; 16], proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    p.extend_from_slice(&[proto, 64]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(l4);
    p
}

/// An Ethernet frame around an IPv6 packet.
pub fn ipv6(src: [u8; 16], dst: [u8; 16], proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = ethernet(0x86dd);
    f.extend_from_slice(&ipv6_packet(src, dst, proto, l4));
    f
}

/// A TCP segment with `len` bytes of payload; `wscale` adds a Window
/// Scale option (with the NOP that aligns it).
#[allow(clippy::too_many_arguments)]
pub fn tcp(
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    wscale: Option<u8>,
    len: usize,
) -> Vec<u8> {
    let options: Vec<u8> = wscale.map_or(Vec::new(), |s| vec![1, 3, 3, s]);
    let offset = ((20 + options.len()) / 4) as u8;
    let mut s = Vec::new();
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&seq.to_be_bytes());
    s.extend_from_slice(&ack.to_be_bytes());
    s.extend_from_slice(&[offset << 4, flags]);
    s.extend_from_slice(&window.to_be_bytes());
    s.extend_from_slice(&[0, 0, 0, 0]);
    s.extend_from_slice(&options);
    s.resize(s.len() + len, 0xab);
    s
}

/// A UDP datagram with 4 bytes of payload.
pub fn udp(sport: u16, dport: u16) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&sport.to_be_bytes());
    d.extend_from_slice(&dport.to_be_bytes());
    d.extend_from_slice(&12u16.to_be_bytes());
    d.extend_from_slice(&[0, 0, 1, 2, 3, 4]);
    d
}

/// An ICMP (or ICMPv6) echo message of `message_type`.
pub fn echo(message_type: u8, ident: u16, seq: u16) -> Vec<u8> {
    let mut m = vec![message_type, 0, 0, 0];
    m.extend_from_slice(&ident.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(b"ping");
    m
}

/// An ICMP error of `message_type` quoting `quoted` (an IP packet).
pub fn icmp_error(message_type: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    let mut m = vec![message_type, code, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(quoted);
    m
}

/// Runs `frame` through `table` in `zone` at `now`.
pub fn run(table: &ConnTable, frame: &[u8], zone: u16, commit: bool, now: u32) -> Verdict {
    let parsed = parse(frame).expect("test frames parse");
    table.track(frame, &parsed, zone, commit, now, false)
}

/// A TCP conversation between A:1000 (the client) and B:80 in zone 0.
pub struct Conversation<'a> {
    pub table: &'a ConnTable,
    pub now: u32,
}

impl Conversation<'_> {
    /// A segment from the client.
    pub fn client(&self, seq: u32, ack: u32, flags: u8, len: usize) -> Verdict {
        self.client_window(seq, ack, flags, 65535, len)
    }

    /// A segment from the client with a given window.
    pub fn client_window(&self, seq: u32, ack: u32, flags: u8, window: u16, len: usize) -> Verdict {
        let frame = ipv4(
            A,
            B,
            ip_proto::TCP,
            &tcp(1000, 80, seq, ack, flags, window, None, len),
        );
        run(self.table, &frame, 0, true, self.now)
    }

    /// A segment from the server.
    pub fn server(&self, seq: u32, ack: u32, flags: u8, len: usize) -> Verdict {
        let frame = ipv4(
            B,
            A,
            ip_proto::TCP,
            &tcp(80, 1000, seq, ack, flags, 65535, None, len),
        );
        run(self.table, &frame, 0, true, self.now)
    }
}
