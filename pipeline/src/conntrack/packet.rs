//! What the tracker reads from a frame: the connection's tuple and the
//! protocol facts its state machine needs, from the parsed context and a
//! few bytes of the frame (TCP sequence numbers and options, the ICMP echo
//! identifier, the packet an ICMP error quotes).

use std::net::Ipv4Addr;

use crate::flow::{IpFrag, Parsed};
use crate::wire::{
    ethernet, icmpv4, icmpv6, ip_proto, ipv6, read_array, read_u16, read_u32, read_u8,
};

use super::InvalidReason;

/// A connection's identity in one direction: zone and 5-tuple. ICMP echo
/// uses its identifier as both ports (a request and its reply carry the
/// same identifier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Tuple {
    /// Zone the connection lives in.
    pub zone: u16,
    /// IP protocol (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    pub proto: u8,
    /// True for IPv6 addresses.
    pub ipv6: bool,
    /// Source address (IPv4 in the first 4 bytes, rest zero).
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
    /// Source port, or the ICMP echo identifier.
    pub src_port: u16,
    /// Destination port, or the ICMP echo identifier.
    pub dst_port: u16,
}

/// Words of a tuple as the table stores it.
pub(crate) const TUPLE_WORDS: usize = 5;

impl Tuple {
    /// The tuple of the other direction.
    pub fn reversed(&self) -> Tuple {
        Tuple {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            ..*self
        }
    }

    /// Packed for the table: never all zero (the family byte is 4 or 6).
    pub(crate) fn to_words(self) -> [u64; TUPLE_WORDS] {
        let half = |a: &[u8; 16], i: usize| u64::from_be_bytes(read_array(a, i * 8));
        [
            (u64::from(self.zone) << 48)
                | (u64::from(self.proto) << 40)
                | (if self.ipv6 { 6u64 } else { 4 } << 32)
                | (u64::from(self.src_port) << 16)
                | u64::from(self.dst_port),
            half(&self.src, 0),
            half(&self.src, 1),
            half(&self.dst, 0),
            half(&self.dst, 1),
        ]
    }

    pub(crate) fn from_words(w: [u64; TUPLE_WORDS]) -> Tuple {
        let addr = |a: u64, b: u64| {
            let mut out = [0u8; 16];
            out[..8].copy_from_slice(&a.to_be_bytes());
            out[8..].copy_from_slice(&b.to_be_bytes());
            out
        };
        Tuple {
            zone: (w[0] >> 48) as u16,
            proto: (w[0] >> 40) as u8,
            ipv6: (w[0] >> 32) as u8 == 6,
            src: addr(w[1], w[2]),
            dst: addr(w[3], w[4]),
            src_port: (w[0] >> 16) as u16,
            dst_port: w[0] as u16,
        }
    }
}

/// The source and destination (address, port) of the IPv4 tuple packed
/// as `words` ([`Tuple::to_words`]), read without unpacking the rest.
pub(crate) fn v4_ends(words: &[u64; TUPLE_WORDS]) -> ((Ipv4Addr, u16), (Ipv4Addr, u16)) {
    let addr = |word: u64| Ipv4Addr::from((word >> 32) as u32);
    (
        (addr(words[1]), (words[0] >> 16) as u16),
        (addr(words[3]), words[0] as u16),
    )
}

/// The TCP header fields the window checks read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Segment {
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// The Window field, not yet scaled.
    pub window: u16,
    /// Payload bytes.
    pub len: u32,
    /// The Window Scale option of a SYN (RFC 7323 section 2), if present.
    pub wscale: Option<u8>,
}

/// What kind of packet of its protocol a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Tcp(Segment),
    Udp,
    EchoRequest,
    EchoReply,
    /// An ICMP error quoting a packet of the connection with this tuple
    /// (in the direction the quoted packet went).
    IcmpError(Tuple),
}

/// RFC 7323 section 2.3: "If a Window Scale option is received with a
/// shift.cnt value larger than 14, the TCP SHOULD log the error but MUST
/// use 14 instead of the specified value."
const MAX_WSCALE: u8 = 14;

/// Reads the tuple and kind of the IP frame `frame` parsed as `parsed`, in
/// `zone`. Always inlined (a hint alone was not taken): its result, tuple
/// and kind, is then built where the caller keeps it instead of copied
/// there.
#[inline(always)]
pub(crate) fn read(
    frame: &[u8],
    parsed: &Parsed,
    zone: u16,
) -> Result<(Tuple, Kind), InvalidReason> {
    let key = &parsed.key;
    let layout = &parsed.layout;
    let ipv6 = match key.ethertype {
        ethernet::ethertype::IPV4 => false,
        ethernet::ethertype::IPV6 => true,
        _ => return Err(InvalidReason::NotIp),
    };
    if key.ip_frag != IpFrag::None {
        return Err(InvalidReason::Fragment);
    }
    let mut tuple = Tuple {
        zone,
        proto: key.ip_proto,
        ipv6,
        src: key.ip_src,
        dst: key.ip_dst,
        src_port: key.l4_src,
        dst_port: key.l4_dst,
    };
    if layout.l4 == 0 {
        return Err(InvalidReason::UnsupportedProtocol);
    }
    let l4 = layout.l4 as usize;
    let end = (layout.l3_end as usize).min(frame.len());
    let kind = match (key.ip_proto, ipv6) {
        (ip_proto::TCP, _) => {
            let payload = layout.payload as usize;
            Kind::Tcp(Segment {
                seq: read_u32(frame, l4 + 4),
                ack: read_u32(frame, l4 + 8),
                flags: key.tcp_flags,
                window: read_u16(frame, l4 + 14),
                len: end.saturating_sub(payload) as u32,
                wscale: wscale(frame.get(l4 + 20..payload).unwrap_or_default()),
            })
        }
        (ip_proto::UDP, _) => Kind::Udp,
        (ip_proto::ICMP, false) | (ip_proto::ICMPV6, true) => {
            let message = frame.get(l4..end).unwrap_or_default();
            let (kind, ident) = icmp(message, ipv6, zone)?;
            tuple.src_port = ident;
            tuple.dst_port = ident;
            kind
        }
        _ => return Err(InvalidReason::UnsupportedProtocol),
    };
    Ok((tuple, kind))
}

/// The Window Scale shift count among TCP `options`, capped at 14.
fn wscale(options: &[u8]) -> Option<u8> {
    let mut at = 0;
    while at < options.len() {
        match options[at] {
            0 => return None,
            1 => at += 1,
            kind => {
                let len = usize::from(read_u8(options, at + 1));
                if len < 2 || at + len > options.len() {
                    return None;
                }
                if kind == 3 && len == 3 {
                    return Some(options[at + 2].min(MAX_WSCALE));
                }
                at += len;
            }
        }
    }
    None
}

/// Classifies an ICMP or ICMPv6 `message`: echo (with its identifier) or
/// an error about another packet. Other messages are not tracked.
fn icmp(message: &[u8], ipv6: bool, zone: u16) -> Result<(Kind, u16), InvalidReason> {
    let message_type = read_u8(message, 0);
    let ident = read_u16(message, icmpv4::field::ECHO_IDENT.start);
    let (request, reply, is_error) = if ipv6 {
        (
            icmpv6::message_type::ECHO_REQUEST,
            icmpv6::message_type::ECHO_REPLY,
            is_tracked_icmpv6_error(message_type),
        )
    } else {
        (
            icmpv4::message_type::ECHO_REQUEST,
            icmpv4::message_type::ECHO_REPLY,
            is_tracked_icmpv4_error(message_type),
        )
    };
    // Echo and error messages of both versions have 8 bytes of header
    // before their data or the quoted packet (RFC 792; RFC 4443 sections
    // 3 and 4).
    if message.len() < QUOTE_OFFSET {
        return Err(InvalidReason::IcmpTruncated);
    }
    match message_type {
        t if t == request => Ok((Kind::EchoRequest, ident)),
        t if t == reply => Ok((Kind::EchoReply, ident)),
        _ if is_error => {
            let quoted = message.get(QUOTE_OFFSET..).unwrap_or_default();
            let inner = if ipv6 {
                quoted_ipv6(quoted, zone)
            } else {
                quoted_ipv4(quoted, zone)
            }?;
            Ok((Kind::IcmpError(inner), 0))
        }
        _ => Err(InvalidReason::IcmpUntracked),
    }
}

/// Where the data of an echo, or the packet an error quotes, starts.
const QUOTE_OFFSET: usize = icmpv6::field::INVOKING_PACKET;

/// The ICMPv6 errors of RFC 4443 section 3: destination unreachable,
/// packet too big, time exceeded, parameter problem.
fn is_tracked_icmpv6_error(message_type: u8) -> bool {
    matches!(
        message_type,
        icmpv6::message_type::DESTINATION_UNREACHABLE
            | icmpv6::message_type::PACKET_TOO_BIG
            | icmpv6::message_type::TIME_EXCEEDED
            | icmpv6::message_type::PARAMETER_PROBLEM
    )
}

/// The ICMPv4 errors that quote a packet of a connection: destination
/// unreachable, time exceeded, parameter problem (RFC 792). Redirect and
/// source quench are not tracked.
fn is_tracked_icmpv4_error(message_type: u8) -> bool {
    matches!(
        message_type,
        icmpv4::message_type::DESTINATION_UNREACHABLE
            | icmpv4::message_type::TIME_EXCEEDED
            | icmpv4::message_type::PARAMETER_PROBLEM
    )
}

/// The tuple of the IPv4 packet an ICMP error quotes: its header and at
/// least the first 8 bytes of its payload (RFC 792: "Internet Header + 64
/// bits of Original Data Datagram"), which hold the ports or echo id.
fn quoted_ipv4(quoted: &[u8], zone: u16) -> Result<Tuple, InvalidReason> {
    let version_ihl = read_u8(quoted, 0);
    let header_len = usize::from(version_ihl & 0x0f) * 4;
    let fragment = read_u16(quoted, 6) & crate::wire::ipv4::FRAG_OFFSET_MASK;
    if version_ihl >> 4 != 4 || header_len < 20 || quoted.len() < header_len + 8 || fragment != 0 {
        return Err(InvalidReason::IcmpBadQuote);
    }
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src[..4].copy_from_slice(&read_array::<4>(quoted, 12));
    dst[..4].copy_from_slice(&read_array::<4>(quoted, 16));
    quoted_l4(
        read_u8(quoted, 9),
        false,
        src,
        dst,
        &quoted[header_len..],
        zone,
    )
}

/// The tuple of the IPv6 packet an ICMPv6 error quotes (RFC 4443 section
/// 3: "As much of invoking packet as possible"), extension headers walked.
fn quoted_ipv6(quoted: &[u8], zone: u16) -> Result<Tuple, InvalidReason> {
    if read_u8(quoted, 0) >> 4 != 6 || quoted.len() < ipv6::HEADER_LEN {
        return Err(InvalidReason::IcmpBadQuote);
    }
    let payload = &quoted[ipv6::HEADER_LEN..];
    let walk = ipv6::walk_extension_headers(read_u8(quoted, 6), payload)
        .map_err(|_| InvalidReason::IcmpBadQuote)?;
    if walk.fragment.is_some_and(|f| f.offset != 0) || payload.len() < walk.headers_len + 8 {
        return Err(InvalidReason::IcmpBadQuote);
    }
    quoted_l4(
        walk.next_header,
        true,
        read_array(quoted, 8),
        read_array(quoted, 24),
        &payload[walk.headers_len..],
        zone,
    )
}

fn quoted_l4(
    proto: u8,
    ipv6: bool,
    src: [u8; 16],
    dst: [u8; 16],
    l4: &[u8],
    zone: u16,
) -> Result<Tuple, InvalidReason> {
    let (src_port, dst_port) = match (proto, ipv6) {
        (ip_proto::TCP | ip_proto::UDP, _) => (read_u16(l4, 0), read_u16(l4, 2)),
        (ip_proto::ICMP, false) | (ip_proto::ICMPV6, true) => {
            let (echo_request, echo_reply) = if ipv6 {
                (
                    icmpv6::message_type::ECHO_REQUEST,
                    icmpv6::message_type::ECHO_REPLY,
                )
            } else {
                (
                    icmpv4::message_type::ECHO_REQUEST,
                    icmpv4::message_type::ECHO_REPLY,
                )
            };
            let t = read_u8(l4, 0);
            if t != echo_request && t != echo_reply {
                // An error about an error is never sent (RFC 792, RFC 4443
                // section 2.4 (e)); anything else quoted is untracked.
                return Err(InvalidReason::IcmpBadQuote);
            }
            let ident = read_u16(l4, 4);
            (ident, ident)
        }
        _ => return Err(InvalidReason::IcmpBadQuote),
    };
    Ok(Tuple {
        zone,
        proto,
        ipv6,
        src,
        dst,
        src_port,
        dst_port,
    })
}
