//! ICMP for IPv6 (RFC 4443).
//!
//! RFC 4443 section 2.1: "Every ICMPv6 message is preceded by an IPv6
//! header and zero or more IPv6 extension headers", and has the general
//! format Type (8 bits), Code (8 bits), Checksum (16 bits), Message Body.
//!
//! Supported: that 4-byte general header; the echo Identifier and Sequence
//! Number; the checksum, which covers an IPv6 pseudo-header. Not supported:
//! interpreting other message bodies (Neighbor Discovery, MLD, the invoking
//! packet inside error messages); they are the message body.

use crate::DropReason;

use super::checksum::PseudoHeader;
use super::ethernet::{self, ethertype, EthernetFrame, EthernetRepr};
use super::ip_proto;
use super::ipv6::{self, Ipv6Packet, Ipv6Repr};
use super::{
    check_min_len, check_room, clipped, clipped_mut, read_u16, read_u32, read_u8, write_slice,
    write_u16, write_u32, write_u8, EmitError,
};

/// Byte offsets of the ICMPv6 header fields.
pub mod field {
    use core::ops::{Range, RangeFrom};

    /// Type.
    pub const TYPE: usize = 0;
    /// Code.
    pub const CODE: usize = 1;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Message Body.
    pub const BODY: RangeFrom<usize> = 4..;
    /// Echo Identifier (in the body of echo messages).
    pub const ECHO_IDENT: Range<usize> = 4..6;
    /// Echo Sequence Number (in the body of echo messages).
    pub const ECHO_SEQ_NO: Range<usize> = 6..8;
    /// MTU of a Packet Too Big message (RFC 4443 section 3.2).
    pub const MTU: Range<usize> = 4..8;
    /// Where the invoking packet starts in an error message.
    pub const INVOKING_PACKET: usize = 8;
}

/// Length of the general header.
pub const HEADER_LEN: usize = field::BODY.start;

/// ICMPv6 message types (RFC 4443, RFC 4861).
pub mod message_type {
    /// Destination Unreachable.
    pub const DESTINATION_UNREACHABLE: u8 = 1;
    /// Packet Too Big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time Exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter Problem.
    pub const PARAMETER_PROBLEM: u8 = 4;
    /// Echo Request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo Reply.
    pub const ECHO_REPLY: u8 = 129;
    /// Router Solicitation (RFC 4861).
    pub const ROUTER_SOLICITATION: u8 = 133;
    /// Router Advertisement (RFC 4861).
    pub const ROUTER_ADVERTISEMENT: u8 = 134;
    /// Neighbor Solicitation (RFC 4861).
    pub const NEIGHBOR_SOLICITATION: u8 = 135;
    /// Neighbor Advertisement (RFC 4861).
    pub const NEIGHBOR_ADVERTISEMENT: u8 = 136;
    /// Redirect (RFC 4861).
    pub const REDIRECT: u8 = 137;
}

/// True for error messages. RFC 4443 section 2.1: "Error messages are
/// identified as such by a zero in the high-order bit of their message
/// Type field values."
pub const fn is_error(message_type: u8) -> bool {
    message_type & 0x80 == 0
}

/// The length rule of an ICMPv6 message: `Err(IcmpTruncated)` if `message` is
/// shorter than the 4-byte header. Shared by [`Icmpv6Packet::check_len`] and the
/// fast path.
#[inline(always)]
pub fn check_len(message: &[u8]) -> Result<(), DropReason> {
    check_min_len(message, HEADER_LEN, DropReason::IcmpTruncated)
}

/// A view of an ICMPv6 message in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Wraps a buffer without checking its length (accessors of fields past
    /// the end read 0 or empty and write nothing).
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    /// Wraps a buffer that holds at least the 4-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `IcmpTruncated` if the buffer is shorter than the header (the rule
    /// of [`check_len`]).
    pub fn check_len(&self) -> Result<(), DropReason> {
        check_len(self.buffer.as_ref())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Type (see [`message_type`]).
    pub fn msg_type(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::TYPE)
    }

    /// Code.
    pub fn msg_code(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::CODE)
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Identifier of an echo message (0 if the body is too short).
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }

    /// Sequence Number of an echo message (0 if the body is too short).
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_SEQ_NO.start)
    }

    /// MTU of a Packet Too Big message (0 if the body is too short).
    pub fn mtu(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::MTU.start)
    }

    /// The Message Body.
    pub fn body(&self) -> &[u8] {
        let buffer = self.buffer.as_ref();
        clipped(buffer, field::BODY.start, buffer.len())
    }

    /// True if the checksum over the IPv6 pseudo-header and the whole
    /// buffer is correct. RFC 4443 section 2.3: the checksum is computed
    /// over "the entire ICMPv6 message, prepended with a 'pseudo-header' of
    /// IPv6 header fields".
    pub fn verify_checksum(&self, src_addr: &[u8; 16], dst_addr: &[u8; 16]) -> bool {
        pseudo_header(src_addr, dst_addr).checksum(ip_proto::ICMPV6, self.buffer.as_ref()) == 0
    }
}

fn pseudo_header(src_addr: &[u8; 16], dst_addr: &[u8; 16]) -> PseudoHeader {
    PseudoHeader::Ipv6 {
        src: *src_addr,
        dst: *dst_addr,
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Sets the Type.
    pub fn set_msg_type(&mut self, msg_type: u8) {
        write_u8(self.buffer.as_mut(), field::TYPE, msg_type);
    }

    /// Sets the Code.
    pub fn set_msg_code(&mut self, code: u8) {
        write_u8(self.buffer.as_mut(), field::CODE, code);
    }

    /// Stores a checksum value as it is.
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, checksum);
    }

    /// Sets the echo Identifier.
    pub fn set_echo_ident(&mut self, ident: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_IDENT.start, ident);
    }

    /// Sets the echo Sequence Number.
    pub fn set_echo_seq_no(&mut self, seq_no: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_SEQ_NO.start, seq_no);
    }

    /// Sets the MTU of a Packet Too Big message.
    pub fn set_mtu(&mut self, mtu: u32) {
        write_u32(self.buffer.as_mut(), field::MTU.start, mtu);
    }

    /// Computes and stores the checksum over the pseudo-header and the
    /// whole buffer ("the checksum field is first set to zero").
    pub fn fill_checksum(&mut self, src_addr: &[u8; 16], dst_addr: &[u8; 16]) {
        self.set_checksum(0);
        let checksum =
            pseudo_header(src_addr, dst_addr).checksum(ip_proto::ICMPV6, self.buffer.as_ref());
        self.set_checksum(checksum);
    }

    /// The Message Body, mutably.
    pub fn body_mut(&mut self) -> &mut [u8] {
        let buffer = self.buffer.as_mut();
        let end = buffer.len();
        clipped_mut(buffer, field::BODY.start, end)
    }
}

/// The fields of the ICMPv6 general header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Icmpv6Repr {
    /// Type (see [`message_type`]).
    pub msg_type: u8,
    /// Code.
    pub code: u8,
    /// Bytes of Message Body after the 4-byte header.
    pub body_len: usize,
}

impl Icmpv6Repr {
    /// Reads a header (`IcmpTruncated` if shorter than 4 bytes; checksum
    /// not verified). The body is the rest of the buffer.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Icmpv6Packet<&T>,
    ) -> Result<Icmpv6Repr, DropReason> {
        packet.check_len()?;
        Ok(Icmpv6Repr {
            msg_type: packet.msg_type(),
            code: packet.msg_code(),
            body_len: packet.body().len(),
        })
    }

    /// Length of the general header: 4 bytes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus body.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.body_len
    }

    /// Writes Type and Code and the checksum over the IPv6 pseudo-header
    /// and the whole buffer: put the body in place first, and make the
    /// buffer [`Icmpv6Repr::buffer_len`] long. Writes nothing if it is
    /// shorter.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Icmpv6Packet<T>,
        src_addr: &[u8; 16],
        dst_addr: &[u8; 16],
    ) -> Result<(), EmitError> {
        check_room(packet.buffer.as_ref(), self.buffer_len())?;
        packet.set_msg_type(self.msg_type);
        packet.set_msg_code(self.code);
        packet.fill_checksum(src_addr, dst_addr);
        Ok(())
    }
}

/// The IPv6 minimum MTU, which no ICMPv6 error may exceed. RFC 8200
/// section 5: "IPv6 requires that every link in the Internet have an MTU
/// of 1280 octets or greater."
pub const MIN_MTU: usize = 1280;

/// The most bytes of the invoking packet an error this writes quotes: 1280
/// less its own IPv6 header and the 8 bytes of ICMPv6 before the quote.
pub const MAX_QUOTE_LEN: usize = MIN_MTU - ipv6::HEADER_LEN - field::INVOKING_PACKET;

/// The Hop Limit of the errors this writes.
pub const ERROR_HOP_LIMIT: u8 = 64;

/// Writes a whole Ethernet frame with the ICMPv6 Packet Too Big error that
/// answers `original` into the start of `out`; on success, its length. The
/// IPv6 counterpart of [`super::icmpv4::write_frag_needed`], as Linux's
/// `iptunnel_pmtud_build_icmpv6` sends it for bridged tunnels.
///
/// `original` is the whole original frame, untagged, its IPv6 packet right
/// after the 14-byte Ethernet header. The answer goes from the original's
/// destination MAC and IP address to its source ones: Hop Limit 64, Type
/// 2, Code 0, MTU `mtu` ("The Maximum Transmission Unit of the next-hop
/// link", RFC 4443 section 3.2), then as much of the original IPv6 packet
/// (up to its Payload Length: padding is not quoted) as keeps the answer's
/// IPv6 packet within 1280 bytes: RFC 4443 section 2.4 (c), "Every ICMPv6
/// error message (type < 128) MUST include as much of the IPv6 offending
/// (invoking) packet ... as possible without making the resulting ICMPv6
/// error message exceed the minimum IPv6 MTU". The checksum is filled.
///
/// Whether to answer at all (RFC 4443 section 2.4 (e): not for an ICMPv6
/// error, nor a packet from a multicast or unspecified source ...) is the
/// caller's decision; Packet Too Big is the one error sent for a multicast
/// destination. Fails, writing nothing, with:
///
/// - `Malformed { reason }` if `original` holds no IPv6 header to quote:
///   `EthTruncated` if it is shorter than 14 bytes, `Ipv6BadVersion` if
///   its EtherType is not 0x86dd or its version not 6, and the reasons of
///   [`ipv6::check_lengths`] if its header or payload does not fit;
/// - `Truncated` if `out` is shorter than the answer (at most 1294 bytes).
pub fn write_packet_too_big(out: &mut [u8], original: &[u8], mtu: u32) -> Result<usize, EmitError> {
    let malformed = |reason| EmitError::Malformed { reason };
    ethernet::check_len(original).map_err(malformed)?;
    let frame = EthernetFrame::new_unchecked(original);
    if frame.ethertype() != ethertype::IPV6 {
        return Err(malformed(DropReason::Ipv6BadVersion));
    }
    let packet = frame.payload();
    ipv6::check_version(packet).map_err(malformed)?;
    let from = ErrorSource {
        mac: frame.dst_addr(),
        ip: Ipv6Packet::new_unchecked(packet).dst_addr(),
    };
    let message = ErrorMessage {
        msg_type: message_type::PACKET_TOO_BIG,
        code: 0,
        rest_of_header: mtu,
    };
    write_error(out, packet, frame.src_addr(), from, message)
}

/// Where an ICMPv6 message comes from: the MAC and IPv6 address it is sent
/// from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorSource {
    /// Ethernet source.
    pub mac: [u8; 6],
    /// IPv6 source.
    pub ip: [u8; 16],
}

/// The header of an ICMPv6 error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorMessage {
    /// Type.
    pub msg_type: u8,
    /// Code.
    pub code: u8,
    /// The 4 bytes after the checksum (MTU, pointer, or unused).
    pub rest_of_header: u32,
}

/// Writes a whole Ethernet frame (untagged) with the ICMPv6 error
/// `message` about the IPv6 packet `packet` into the start of `out`, from
/// `from` to `to_mac` and the packet's source address: Hop Limit 64,
/// quoting as much of the packet as keeps the answer within 1280 bytes
/// (RFC 4443 section 2.4 (c)), checksum filled. A router's time exceeded
/// and destination unreachable are this with the router's address;
/// [`write_packet_too_big`] is this from the address the packet was for.
/// Fails as [`write_packet_too_big`] does.
pub fn write_error(
    out: &mut [u8],
    packet: &[u8],
    to_mac: [u8; 6],
    from: ErrorSource,
    message: ErrorMessage,
) -> Result<usize, EmitError> {
    let malformed = |reason| EmitError::Malformed { reason };
    ipv6::check_version(packet).map_err(malformed)?;
    let end = ipv6::check_lengths(packet).map_err(malformed)?;
    let quote = clipped(packet, 0, end.min(MAX_QUOTE_LEN));
    let icmp_len = field::INVOKING_PACKET + quote.len();
    let ip_start = ethernet::HEADER_LEN;
    let icmp_start = ip_start + ipv6::HEADER_LEN;
    let len = icmp_start + icmp_len;
    check_room(out, len)?;

    EthernetRepr {
        dst_addr: to_mac,
        src_addr: from.mac,
        ethertype: ethertype::IPV6,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut *out))?;
    let (src, dst) = (from.ip, Ipv6Packet::new_unchecked(packet).src_addr());
    Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: ip_proto::ICMPV6,
        // At most 1240.
        payload_len: icmp_len as u16,
        hop_limit: ERROR_HOP_LIMIT,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut Ipv6Packet::new_unchecked(clipped_mut(
        out, ip_start, len,
    )))?;
    let icmp = clipped_mut(out, icmp_start, len);
    write_u32(icmp, field::MTU.start, message.rest_of_header);
    write_slice(icmp, field::INVOKING_PACKET, quote);
    Icmpv6Repr {
        msg_type: message.msg_type,
        code: message.code,
        body_len: icmp_len - HEADER_LEN,
    }
    .emit(&mut Icmpv6Packet::new_unchecked(icmp), &src, &dst)?;
    Ok(len)
}

/// Writes a whole Ethernet frame (untagged) with the echo reply to the
/// echo request at byte `icmp_at` of IPv6 packet `packet` into the start
/// of `out`, from `from` (the MAC and the address the request was for) to
/// `to_mac` and the request's source: a plain IPv6 header (Hop Limit 64)
/// and the request's identifier, sequence number and data (RFC 4443
/// section 4.2). Fails as [`write_error`] does, and with `Malformed {
/// IcmpTruncated }` when there is no ICMPv6 header at `icmp_at`.
pub fn write_echo_reply(
    out: &mut [u8],
    packet: &[u8],
    icmp_at: usize,
    to_mac: [u8; 6],
    from: ErrorSource,
) -> Result<usize, EmitError> {
    let malformed = |reason| EmitError::Malformed { reason };
    ipv6::check_version(packet).map_err(malformed)?;
    let end = ipv6::check_lengths(packet).map_err(malformed)?;
    let request = clipped(packet, icmp_at, end);
    if icmp_at < ipv6::HEADER_LEN || request.len() < field::ECHO_SEQ_NO.end {
        return Err(malformed(DropReason::IcmpTruncated));
    }
    let ip_start = ethernet::HEADER_LEN;
    let icmp_start = ip_start + ipv6::HEADER_LEN;
    let len = icmp_start + request.len();
    check_room(out, len)?;
    EthernetRepr {
        dst_addr: to_mac,
        src_addr: from.mac,
        ethertype: ethertype::IPV6,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut *out))?;
    let (src, dst) = (from.ip, Ipv6Packet::new_unchecked(packet).src_addr());
    Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: ip_proto::ICMPV6,
        payload_len: request.len() as u16,
        hop_limit: ERROR_HOP_LIMIT,
        traffic_class: 0,
        flow_label: 0,
    }
    .emit(&mut Ipv6Packet::new_unchecked(clipped_mut(
        out, ip_start, len,
    )))?;
    let icmp = clipped_mut(out, icmp_start, len);
    write_slice(icmp, 0, request);
    Icmpv6Repr {
        msg_type: message_type::ECHO_REPLY,
        code: 0,
        body_len: request.len() - HEADER_LEN,
    }
    .emit(&mut Icmpv6Packet::new_unchecked(icmp), &src, &dst)?;
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::assert_short_emit_writes_nothing;
    use proptest::prelude::*;

    const SRC: [u8; 16] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const DST: [u8; 16] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    /// An echo request fe80::1 -> fe80::2, id 0x1234, seq 1, data "abcd".
    const ECHO_REQUEST: [u8; 12] = [
        0x80, 0x00, 0xab, 0xb8, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn reads_echo_request() {
        let packet = Icmpv6Packet::new_checked(&ECHO_REQUEST[..]).unwrap();
        assert_eq!(packet.msg_type(), message_type::ECHO_REQUEST);
        assert_eq!(packet.echo_ident(), 0x1234);
        assert_eq!(packet.echo_seq_no(), 1);
        assert_eq!(packet.body().len(), 8);
        assert!(packet.verify_checksum(&SRC, &DST));
        assert!(!packet.verify_checksum(&DST, &[0; 16]));
        assert!(!is_error(packet.msg_type()));
        assert!(is_error(message_type::PACKET_TOO_BIG));
        assert_eq!(
            Icmpv6Repr::parse(&packet),
            Ok(Icmpv6Repr {
                msg_type: 128,
                code: 0,
                body_len: 8
            })
        );
    }

    #[test]
    fn short_message_is_truncated() {
        let packet = Icmpv6Packet::new_unchecked(&ECHO_REQUEST[..3]);
        assert_eq!(Icmpv6Repr::parse(&packet), Err(DropReason::IcmpTruncated));
        assert_eq!(packet.echo_ident(), 0);
        let four = Icmpv6Packet::new_checked(&ECHO_REQUEST[..4]).unwrap();
        assert_eq!(four.body(), &[] as &[u8]);
    }

    #[test]
    fn emit_into_short_buffer_writes_nothing() {
        let repr = Icmpv6Repr::parse(&Icmpv6Packet::new_unchecked(&ECHO_REQUEST[..])).unwrap();
        assert_short_emit_writes_nothing(repr.buffer_len(), |bytes| {
            repr.emit(&mut Icmpv6Packet::new_unchecked(bytes), &SRC, &DST)
        });
    }

    const HOST_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x00, 0x00, 0x01];
    const GATEWAY_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x00, 0x00, 0x02];
    const HOST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const PEER: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    /// An untagged UDP frame from `HOST` at `HOST_MAC` to `PEER` at
    /// `GATEWAY_MAC` with `payload_len` bytes of data, then `padding` bytes.
    fn udp_frame(payload_len: usize, padding: usize) -> Vec<u8> {
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2(HOST_MAC, GATEWAY_MAC)
            .ipv6(HOST, PEER, 63)
            .udp(1000, 2000)
            .write(&mut frame, &vec![0x5a; payload_len])
            .unwrap();
        frame.resize(frame.len() + padding, 0);
        frame
    }

    /// Checks `answer` as the error for `original`, and returns the quote.
    fn check_packet_too_big<'a>(answer: &'a [u8], original: &[u8], mtu: u32) -> &'a [u8] {
        use crate::wire::{ethernet::EthernetFrame, ipv6::Ipv6Packet};
        let frame = EthernetFrame::new_checked(answer).unwrap();
        assert_eq!(
            (frame.dst_addr(), frame.src_addr()),
            (HOST_MAC, GATEWAY_MAC)
        );
        assert_eq!(frame.ethertype(), ethertype::IPV6);
        let ip = Ipv6Packet::new_checked(frame.payload()).unwrap();
        let repr = Ipv6Repr::parse(&ip).unwrap();
        assert_eq!((repr.src_addr, repr.dst_addr), (PEER, HOST));
        assert_eq!((repr.hop_limit, repr.next_header), (64, ip_proto::ICMPV6));
        assert!(repr.buffer_len() <= MIN_MTU);
        assert_eq!(repr.buffer_len() + 14, answer.len());
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum(&PEER, &HOST));
        assert_eq!((icmp.msg_type(), icmp.msg_code(), icmp.mtu()), (2, 0, mtu));
        let parsed = etherparse::SlicedPacket::from_ethernet(answer).unwrap();
        let Some(etherparse::TransportSlice::Icmpv6(slice)) = parsed.transport else {
            panic!("not ICMPv6")
        };
        assert!(slice.is_checksum_valid(PEER, HOST));
        assert_eq!(
            slice.icmp_type(),
            etherparse::Icmpv6Type::PacketTooBig { mtu }
        );
        let quote = &answer[14 + 40 + 8..];
        assert_eq!(quote, &original[14..14 + quote.len()]);
        quote
    }

    #[test]
    fn packet_too_big_quotes_the_whole_small_packet() {
        let original = udp_frame(30, 6);
        let mut out = [0xa5u8; 1400];
        let len = write_packet_too_big(&mut out, &original, 1400).unwrap();
        assert_eq!(len, 14 + 40 + 8 + 78);
        assert_eq!(out[len], 0xa5);
        let quote = check_packet_too_big(&out[..len], &original, 1400);
        assert_eq!(quote, &original[14..original.len() - 6]);
        assert_short_emit_writes_nothing(len, |bytes| {
            write_packet_too_big(bytes, &original, 1400).map(|_| ())
        });
    }

    #[test]
    fn packet_too_big_stays_within_the_minimum_mtu() {
        let original = udp_frame(1452, 0);
        let mut out = [0u8; 1400];
        let len = write_packet_too_big(&mut out, &original, 1450).unwrap();
        assert_eq!(len, 14 + MIN_MTU);
        assert_eq!(
            check_packet_too_big(&out[..len], &original, 1450).len(),
            1232
        );
    }

    #[test]
    fn packet_too_big_for_an_unparsable_original_writes_nothing() {
        let original = udp_frame(8, 0);
        let mut cases: Vec<(Vec<u8>, DropReason)> = vec![
            (original[..13].to_vec(), DropReason::EthTruncated),
            (original[..14].to_vec(), DropReason::Ipv6Truncated),
            (original[..53].to_vec(), DropReason::Ipv6Truncated),
            (
                original[..original.len() - 1].to_vec(),
                DropReason::Ipv6BadPayloadLength,
            ),
        ];
        for (at, value) in [(12, 0x08), (14, 0x45)] {
            let mut bytes = original.clone();
            bytes[at] = value;
            cases.push((bytes, DropReason::Ipv6BadVersion));
        }
        for (bytes, reason) in cases {
            let mut out = [0xa5u8; 200];
            assert_eq!(
                write_packet_too_big(&mut out, &bytes, 1400),
                Err(EmitError::Malformed { reason })
            );
            assert!(out.iter().all(|&byte| byte == 0xa5));
        }
    }

    proptest! {
        #[test]
        fn packet_too_big_answers_any_size(payload_len in 0usize..1600, padding in 0usize..20, mtu in any::<u32>()) {
            let original = udp_frame(payload_len, padding);
            let mut out = [0u8; 14 + MIN_MTU];
            let len = write_packet_too_big(&mut out, &original, mtu).unwrap();
            let quote = check_packet_too_big(&out[..len], &original, mtu);
            prop_assert_eq!(quote.len(), (48 + payload_len).min(MAX_QUOTE_LEN));
        }

        #[test]
        fn packet_too_big_never_panics(original in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut out = [0u8; 200];
            let _ = write_packet_too_big(&mut out, &original, 1);
        }

        #[test]
        fn emit_then_parse_round_trips(
            msg_type in any::<u8>(),
            code in any::<u8>(),
            body in proptest::collection::vec(any::<u8>(), 0..64),
            (src, dst) in any::<([u8; 16], [u8; 16])>(),
        ) {
            let repr = Icmpv6Repr { msg_type, code, body_len: body.len() };
            let mut bytes = vec![0u8; repr.buffer_len()];
            bytes[HEADER_LEN..].copy_from_slice(&body);
            repr.emit(&mut Icmpv6Packet::new_unchecked(&mut bytes[..]), &src, &dst).unwrap();
            let packet = Icmpv6Packet::new_checked(&bytes[..]).unwrap();
            prop_assert!(packet.verify_checksum(&src, &dst));
            prop_assert_eq!(Icmpv6Repr::parse(&packet), Ok(repr));
        }

        #[test]
        fn any_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            let packet = Icmpv6Packet::new_unchecked(&bytes[..]);
            let _ = (packet.msg_type(), packet.msg_code(), packet.checksum(), packet.body());
            let _ = (packet.echo_ident(), packet.echo_seq_no(), Icmpv6Repr::parse(&packet));
            let _ = packet.verify_checksum(&SRC, &DST);
            let mut packet = Icmpv6Packet::new_unchecked(&mut bytes[..]);
            packet.set_echo_ident(1);
            packet.fill_checksum(&SRC, &DST);
            let _ = packet.body_mut();
        }
    }
}
