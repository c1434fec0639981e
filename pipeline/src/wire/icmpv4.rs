//! ICMP for IPv4 (RFC 792).
//!
//! Supported: the 8-byte header every RFC 792 message starts with (Type,
//! Code, Checksum and 4 type-specific bytes: Identifier and Sequence Number
//! for echo and timestamp messages, unused, a pointer or a gateway address
//! for others); the checksum. Not supported: interpreting the type-specific
//! bytes beyond echo, or the embedded header of error messages (it is the
//! payload, to be read with [`super::ipv4`]).

use crate::DropReason;

use super::checksum::internet_checksum;
use super::ethernet::{self, ethertype, EthernetFrame, EthernetRepr};
use super::ipv4::{self, Ipv4Packet, Ipv4Repr};
use super::{
    check_min_len, check_room, clipped, clipped_mut, ip_proto, read_array, read_u16, read_u8,
    write_array, write_slice, write_u16, write_u8, EmitError,
};

/// Byte offsets of the ICMP header fields.
pub mod field {
    use core::ops::Range;

    /// Type.
    pub const TYPE: usize = 0;
    /// Code.
    pub const CODE: usize = 1;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 2..4;
    /// The 4 type-specific bytes of the header.
    pub const REST_OF_HEADER: Range<usize> = 4..8;
    /// Echo Identifier (within the rest of header).
    pub const ECHO_IDENT: Range<usize> = 4..6;
    /// Echo Sequence Number (within the rest of header).
    pub const ECHO_SEQ_NO: Range<usize> = 6..8;
    /// Next-Hop MTU of a fragmentation needed message (RFC 1191 section
    /// 4: "the low-order 16 bits of the ICMP header field that is labelled
    /// 'unused'"; "The high-order 16 bits remain unused, and MUST be set
    /// to zero").
    pub const NEXT_HOP_MTU: Range<usize> = 6..8;
}

/// Length of the header.
pub const HEADER_LEN: usize = field::REST_OF_HEADER.end;

/// ICMP message types (RFC 792).
pub mod message_type {
    /// Echo Reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination Unreachable.
    pub const DESTINATION_UNREACHABLE: u8 = 3;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time Exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter Problem.
    pub const PARAMETER_PROBLEM: u8 = 12;
    /// Timestamp.
    pub const TIMESTAMP: u8 = 13;
    /// Timestamp Reply.
    pub const TIMESTAMP_REPLY: u8 = 14;
}

/// Destination Unreachable codes.
pub mod unreachable_code {
    /// RFC 792: "fragmentation needed and DF set".
    pub const FRAGMENTATION_NEEDED: u8 = 4;
}

/// True for error messages, whose payload is "the internet header plus the
/// first 64 bits of the original datagram's data" (RFC 792): Destination
/// Unreachable, Source Quench (4), Redirect, Time Exceeded, Parameter
/// Problem.
pub const fn is_error(message_type: u8) -> bool {
    matches!(message_type, 3 | 4 | 5 | 11 | 12)
}

/// The length rule of an ICMP message: `Err(IcmpTruncated)` if `message` is
/// shorter than the 8-byte header. Shared by [`Icmpv4Packet::check_len`] and the
/// fast path.
#[inline(always)]
pub fn check_len(message: &[u8]) -> Result<(), DropReason> {
    check_min_len(message, HEADER_LEN, DropReason::IcmpTruncated)
}

/// A view of an ICMP message in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps a buffer without checking its length (accessors of fields past
    /// the end read 0 or empty and write nothing).
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    /// Wraps a buffer that holds at least the 8-byte header.
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

    /// The 4 type-specific header bytes.
    pub fn rest_of_header(&self) -> [u8; 4] {
        read_array(self.buffer.as_ref(), field::REST_OF_HEADER.start)
    }

    /// Identifier of an echo or timestamp message.
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }

    /// Sequence Number of an echo or timestamp message.
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_SEQ_NO.start)
    }

    /// Next-Hop MTU of a fragmentation needed message.
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::NEXT_HOP_MTU.start)
    }

    /// The data after the header.
    pub fn payload(&self) -> &[u8] {
        let buffer = self.buffer.as_ref();
        clipped(buffer, HEADER_LEN, buffer.len())
    }

    /// True if the checksum over the whole buffer is correct. RFC 792: "The
    /// checksum is the 16-bit ones's complement of the one's complement sum
    /// of the ICMP message starting with the ICMP Type."
    pub fn verify_checksum(&self) -> bool {
        internet_checksum(self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
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

    /// Sets the 4 type-specific header bytes.
    pub fn set_rest_of_header(&mut self, rest: [u8; 4]) {
        write_array(self.buffer.as_mut(), field::REST_OF_HEADER.start, rest);
    }

    /// Sets the echo Identifier.
    pub fn set_echo_ident(&mut self, ident: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_IDENT.start, ident);
    }

    /// Sets the echo Sequence Number.
    pub fn set_echo_seq_no(&mut self, seq_no: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_SEQ_NO.start, seq_no);
    }

    /// Sets the Next-Hop MTU.
    pub fn set_next_hop_mtu(&mut self, mtu: u16) {
        write_u16(self.buffer.as_mut(), field::NEXT_HOP_MTU.start, mtu);
    }

    /// Computes and stores the checksum over the whole buffer. RFC 792:
    /// "For computing the checksum, the checksum field should be zero."
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let checksum = internet_checksum(self.buffer.as_ref());
        self.set_checksum(checksum);
    }

    /// The data after the header, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let buffer = self.buffer.as_mut();
        let end = buffer.len();
        clipped_mut(buffer, HEADER_LEN, end)
    }
}

/// The fields of an ICMP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Icmpv4Repr {
    /// Type (see [`message_type`]).
    pub msg_type: u8,
    /// Code.
    pub code: u8,
    /// The 4 type-specific header bytes.
    pub rest_of_header: [u8; 4],
    /// Bytes of data after the header.
    pub payload_len: usize,
}

impl Icmpv4Repr {
    /// Reads a header (`IcmpTruncated` if shorter than 8 bytes; checksum
    /// not verified). The payload is the rest of the buffer.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Icmpv4Packet<&T>,
    ) -> Result<Icmpv4Repr, DropReason> {
        packet.check_len()?;
        Ok(Icmpv4Repr {
            msg_type: packet.msg_type(),
            code: packet.msg_code(),
            rest_of_header: packet.rest_of_header(),
            payload_len: packet.payload().len(),
        })
    }

    /// Length of the header: 8 bytes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header and the checksum over the whole buffer: put the
    /// payload in place first, and make the buffer
    /// [`Icmpv4Repr::buffer_len`] long. Writes nothing if it is shorter.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Icmpv4Packet<T>,
    ) -> Result<(), EmitError> {
        check_room(packet.buffer.as_ref(), self.buffer_len())?;
        packet.set_msg_type(self.msg_type);
        packet.set_msg_code(self.code);
        packet.set_rest_of_header(self.rest_of_header);
        packet.fill_checksum();
        Ok(())
    }
}

/// The most bytes of the IP datagram that carries an ICMP error. RFC 1812
/// section 4.3.2.3: "The ICMP datagram SHOULD contain as much of the
/// original datagram as possible without the length of the ICMP datagram
/// exceeding 576 bytes."
pub const MAX_ERROR_DATAGRAM_LEN: usize = 576;

/// The most bytes of the original datagram an error this writes quotes:
/// 576 less its own IP and ICMP headers.
pub const MAX_QUOTE_LEN: usize = MAX_ERROR_DATAGRAM_LEN - ipv4::HEADER_LEN - HEADER_LEN;

/// The TTL of the errors this writes.
pub const ERROR_TTL: u8 = 64;

/// Writes a whole Ethernet frame with the ICMP "fragmentation needed and
/// DF set" error that answers `original` into the start of `out`; on
/// success, its length. This is what a tunnel endpoint sends back to a
/// container whose frame no longer fits once encapsulated, as Linux's
/// `iptunnel_pmtud_build_icmp` does for bridged tunnels: it comes from
/// the address the original was for.
///
/// `original` is the whole original frame, untagged, its IPv4 packet right
/// after the 14-byte Ethernet header. The answer goes from the original's
/// destination MAC and IP address to its source ones: TTL 64, DF set as
/// Linux sets it, Type 3, Code 4 and Next-Hop MTU `mtu` (RFC 1191 section
/// 4), then as much of the original IP packet (up to its Total Length:
/// Ethernet padding is not quoted) as keeps the ICMP datagram within 576
/// bytes, more than RFC 792's "internet header plus the first 64 bits of
/// the original datagram's data" when there is more, as RFC 1812 section
/// 4.3.2.3 asks. Both checksums are filled.
///
/// Whether to answer at all (DF set, not an ICMP error itself, not from or
/// to a broadcast or multicast address: RFC 1812 section 4.3.2.7) is the
/// caller's decision. Fails, writing nothing, with:
///
/// - `Malformed { reason }` if `original` holds no IPv4 header to quote:
///   `EthTruncated` if it is shorter than 14 bytes, `Ipv4BadVersion` if
///   its EtherType is not 0x0800 or its version not 4, and the reasons of
///   [`ipv4::check_lengths`] if its header or Total Length does not fit;
/// - `Truncated` if `out` is shorter than the answer (at most 590 bytes).
pub fn write_frag_needed(out: &mut [u8], original: &[u8], mtu: u16) -> Result<usize, EmitError> {
    let malformed = |reason| EmitError::Malformed { reason };
    ethernet::check_len(original).map_err(malformed)?;
    let frame = EthernetFrame::new_unchecked(original);
    if frame.ethertype() != ethertype::IPV4 {
        return Err(malformed(DropReason::Ipv4BadVersion));
    }
    let packet = frame.payload();
    ipv4::check_version(packet).map_err(malformed)?;
    let [mtu_high, mtu_low] = mtu.to_be_bytes();
    let from = ErrorSource {
        mac: frame.dst_addr(),
        ip: Ipv4Packet::new_unchecked(packet).dst_addr(),
    };
    let message = ErrorMessage {
        msg_type: message_type::DESTINATION_UNREACHABLE,
        code: unreachable_code::FRAGMENTATION_NEEDED,
        rest_of_header: [0, 0, mtu_high, mtu_low],
    };
    write_error(out, packet, frame.src_addr(), from, message)
}

/// Where an ICMP error comes from: the MAC and IPv4 address it is sent from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorSource {
    /// Ethernet source.
    pub mac: [u8; 6],
    /// IPv4 source.
    pub ip: [u8; 4],
}

/// The header of an ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorMessage {
    /// Type.
    pub msg_type: u8,
    /// Code.
    pub code: u8,
    /// The 4 type-specific bytes.
    pub rest_of_header: [u8; 4],
}

/// Writes a whole Ethernet frame (untagged) with the ICMP error `message`
/// about the IPv4 packet `packet` into the start of `out`, from `from` to
/// `to_mac` and the packet's source address: TTL 64, DF set, quoting as
/// much of the packet (up to its Total Length) as keeps the ICMP datagram
/// within 576 bytes (RFC 1812 section 4.3.2.3). Both checksums are filled.
/// A router's time exceeded and destination unreachable are this with the
/// router's address; [`write_frag_needed`] is this from the address the
/// packet was for. Fails as [`write_frag_needed`] does.
pub fn write_error(
    out: &mut [u8],
    packet: &[u8],
    to_mac: [u8; 6],
    from: ErrorSource,
    message: ErrorMessage,
) -> Result<usize, EmitError> {
    let malformed = |reason| EmitError::Malformed { reason };
    ipv4::check_version(packet).map_err(malformed)?;
    let lengths = ipv4::check_lengths(packet).map_err(malformed)?;
    let quote = clipped(packet, 0, lengths.total_len.min(MAX_QUOTE_LEN));
    let icmp_len = HEADER_LEN + quote.len();
    let ip_start = ethernet::HEADER_LEN;
    let icmp_start = ip_start + ipv4::HEADER_LEN;
    let len = icmp_start + icmp_len;
    check_room(out, len)?;

    EthernetRepr {
        dst_addr: to_mac,
        src_addr: from.mac,
        ethertype: ethertype::IPV4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut *out))?;
    let original_ip = Ipv4Packet::new_unchecked(packet);
    Ipv4Repr {
        src_addr: from.ip,
        dst_addr: original_ip.src_addr(),
        protocol: ip_proto::ICMP,
        // At most 556.
        payload_len: icmp_len as u16,
        ttl: ERROR_TTL,
        tos: 0,
        ident: 0,
        dont_frag: true,
        more_frags: false,
        frag_offset: 0,
    }
    .emit(&mut Ipv4Packet::new_unchecked(clipped_mut(
        out, ip_start, len,
    )))?;
    let icmp = clipped_mut(out, icmp_start, len);
    write_slice(icmp, HEADER_LEN, quote);
    Icmpv4Repr {
        msg_type: message.msg_type,
        code: message.code,
        rest_of_header: message.rest_of_header,
        payload_len: quote.len(),
    }
    .emit(&mut Icmpv4Packet::new_unchecked(icmp))?;
    Ok(len)
}

/// Writes a whole Ethernet frame (untagged) with the echo reply to the
/// echo request in IPv4 packet `packet` into the start of `out`, from
/// `from` (the MAC and the address the request was for) to `to_mac` and
/// the request's source: a new 20-byte IP header with TTL 64 and the
/// request's identifier, sequence number and data (RFC 792). Fails as
/// [`write_error`] does, and with `Malformed { IcmpTruncated }` when the
/// packet holds no ICMP header.
pub fn write_echo_reply(
    out: &mut [u8],
    packet: &[u8],
    to_mac: [u8; 6],
    from: ErrorSource,
) -> Result<usize, EmitError> {
    let malformed = |reason| EmitError::Malformed { reason };
    ipv4::check_version(packet).map_err(malformed)?;
    let lengths = ipv4::check_lengths(packet).map_err(malformed)?;
    let request = clipped(packet, lengths.header_len, lengths.total_len);
    check_len(request).map_err(malformed)?;
    let ip_start = ethernet::HEADER_LEN;
    let icmp_start = ip_start + ipv4::HEADER_LEN;
    let len = icmp_start + request.len();
    if len > u16::MAX as usize {
        return Err(malformed(DropReason::Ipv4BadTotalLength));
    }
    check_room(out, len)?;
    EthernetRepr {
        dst_addr: to_mac,
        src_addr: from.mac,
        ethertype: ethertype::IPV4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut *out))?;
    Ipv4Repr {
        src_addr: from.ip,
        dst_addr: Ipv4Packet::new_unchecked(packet).src_addr(),
        protocol: ip_proto::ICMP,
        payload_len: request.len() as u16,
        ttl: ERROR_TTL,
        tos: 0,
        ident: 0,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
    }
    .emit(&mut Ipv4Packet::new_unchecked(clipped_mut(
        out, ip_start, len,
    )))?;
    let icmp = clipped_mut(out, icmp_start, len);
    write_slice(icmp, 0, request);
    let mut reply = Icmpv4Packet::new_unchecked(icmp);
    reply.set_msg_type(message_type::ECHO_REPLY);
    reply.set_msg_code(0);
    reply.fill_checksum();
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::assert_short_emit_writes_nothing;
    use proptest::prelude::*;

    /// An echo request (id 0x1234, seq 1) with 8 bytes of data, as `ping`
    /// sends it.
    const ECHO_REQUEST: [u8; 16] = [
        0x08, 0x00, 0x54, 0x35, 0x12, 0x34, 0x00, 0x01, // header
        0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, // "abcdefgh"
    ];

    #[test]
    fn reads_echo_request() {
        let packet = Icmpv4Packet::new_checked(&ECHO_REQUEST[..]).unwrap();
        assert_eq!(packet.msg_type(), message_type::ECHO_REQUEST);
        assert_eq!(packet.msg_code(), 0);
        assert_eq!(packet.echo_ident(), 0x1234);
        assert_eq!(packet.echo_seq_no(), 1);
        assert_eq!(packet.payload(), b"abcdefgh");
        assert!(packet.verify_checksum());
        assert!(!is_error(packet.msg_type()));
        assert!(is_error(message_type::TIME_EXCEEDED));
        let repr = Icmpv4Repr::parse(&packet).unwrap();
        assert_eq!(repr.rest_of_header, [0x12, 0x34, 0x00, 0x01]);
        assert_eq!(repr.payload_len, 8);
    }

    #[test]
    fn short_message_is_truncated() {
        assert_eq!(
            Icmpv4Packet::new_checked(&ECHO_REQUEST[..7]).map(|_| ()),
            Err(DropReason::IcmpTruncated)
        );
    }

    #[test]
    fn setters_and_checksum() {
        let mut bytes = ECHO_REQUEST;
        let mut packet = Icmpv4Packet::new_unchecked(&mut bytes[..]);
        packet.set_msg_type(message_type::ECHO_REPLY);
        packet.set_echo_ident(0x4321);
        packet.set_echo_seq_no(2);
        packet.fill_checksum();
        assert!(packet.verify_checksum());
        assert_eq!(
            &bytes[..8],
            &[0x00, 0x00, 0x2b, 0x47, 0x43, 0x21, 0x00, 0x02]
        );
    }

    #[test]
    fn emit_into_short_buffer_writes_nothing() {
        let repr = Icmpv4Repr::parse(&Icmpv4Packet::new_unchecked(&ECHO_REQUEST[..])).unwrap();
        assert_short_emit_writes_nothing(repr.buffer_len(), |bytes| {
            repr.emit(&mut Icmpv4Packet::new_unchecked(bytes))
        });
    }

    const HOST_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x00, 0x00, 0x01];
    const GATEWAY_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x00, 0x00, 0x02];

    /// An untagged UDP frame from 10.0.0.1 at `HOST_MAC` to 10.0.0.2 at
    /// `GATEWAY_MAC` with `payload_len` bytes of data, then `padding` bytes.
    fn udp_frame(payload_len: usize, padding: usize) -> Vec<u8> {
        let mut frame = Vec::new();
        etherparse::PacketBuilder::ethernet2(HOST_MAC, GATEWAY_MAC)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 63)
            .udp(1000, 2000)
            .write(&mut frame, &vec![0x5a; payload_len])
            .unwrap();
        frame.resize(frame.len() + padding, 0);
        frame
    }

    /// Checks `answer` as the error for `original`, and returns the quote.
    fn check_frag_needed<'a>(answer: &'a [u8], original: &[u8], mtu: u16) -> &'a [u8] {
        let frame = EthernetFrame::new_checked(answer).unwrap();
        assert_eq!(
            (frame.dst_addr(), frame.src_addr()),
            (HOST_MAC, GATEWAY_MAC)
        );
        assert_eq!(frame.ethertype(), ethertype::IPV4);
        let ip = Ipv4Packet::new_checked(frame.payload()).unwrap();
        assert!(ip.verify_checksum());
        let repr = Ipv4Repr::parse(&ip).unwrap();
        assert_eq!(
            (repr.src_addr, repr.dst_addr),
            ([10, 0, 0, 2], [10, 0, 0, 1])
        );
        assert_eq!(
            (repr.ttl, repr.protocol, repr.dont_frag),
            (64, ip_proto::ICMP, true)
        );
        assert!(usize::from(ip.total_len()) <= MAX_ERROR_DATAGRAM_LEN);
        assert_eq!(usize::from(ip.total_len()) + 14, answer.len());
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!((icmp.msg_type(), icmp.msg_code()), (3, 4));
        assert_eq!(icmp.rest_of_header()[..2], [0, 0]);
        assert_eq!(icmp.next_hop_mtu(), mtu);
        let parsed = etherparse::SlicedPacket::from_ethernet(answer).unwrap();
        let Some(etherparse::TransportSlice::Icmpv4(slice)) = parsed.transport else {
            panic!("not ICMP")
        };
        assert_eq!(
            slice.icmp_type(),
            etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded {
                    next_hop_mtu: mtu
                }
            )
        );
        let quote = &answer[14 + 20 + 8..];
        assert_eq!(quote, &original[14..14 + quote.len()]);
        quote
    }

    #[test]
    fn frag_needed_quotes_the_whole_small_packet() {
        let original = udp_frame(30, 6);
        let mut out = [0xa5u8; 700];
        let len = write_frag_needed(&mut out, &original, 1400).unwrap();
        assert_eq!(len, 14 + 20 + 8 + 58);
        assert_eq!(out[len], 0xa5);
        let quote = check_frag_needed(&out[..len], &original, 1400);
        assert_eq!(quote, &original[14..original.len() - 6]);
        assert_short_emit_writes_nothing(len, |bytes| {
            write_frag_needed(bytes, &original, 1400).map(|_| ())
        });
    }

    #[test]
    fn frag_needed_stays_within_576_bytes() {
        let original = udp_frame(1472, 0);
        let mut out = [0u8; 700];
        let len = write_frag_needed(&mut out, &original, 1450).unwrap();
        assert_eq!(len, 14 + MAX_ERROR_DATAGRAM_LEN);
        assert_eq!(check_frag_needed(&out[..len], &original, 1450).len(), 548);
    }

    #[test]
    fn frag_needed_for_an_unparsable_original_writes_nothing() {
        let original = udp_frame(8, 0);
        let mut cases: Vec<(Vec<u8>, DropReason)> = vec![
            (original[..13].to_vec(), DropReason::EthTruncated),
            (original[..33].to_vec(), DropReason::Ipv4Truncated),
            (original[..14].to_vec(), DropReason::Ipv4Truncated),
            (
                original[..original.len() - 1].to_vec(),
                DropReason::Ipv4BadTotalLength,
            ),
        ];
        for (at, value, reason) in [
            (12, 0x86, DropReason::Ipv4BadVersion),
            (14, 0x65, DropReason::Ipv4BadVersion),
            (14, 0x44, DropReason::Ipv4BadHeaderLength),
            (14, 0x4f, DropReason::Ipv4BadHeaderLength),
        ] {
            let mut bytes = original.clone();
            bytes[at] = value;
            cases.push((bytes, reason));
        }
        for (bytes, reason) in cases {
            let mut out = [0xa5u8; 100];
            assert_eq!(
                write_frag_needed(&mut out, &bytes, 1400),
                Err(EmitError::Malformed { reason })
            );
            assert!(out.iter().all(|&byte| byte == 0xa5));
        }
    }

    proptest! {
        #[test]
        fn frag_needed_answers_any_size(payload_len in 0usize..1600, padding in 0usize..20, mtu in any::<u16>()) {
            let original = udp_frame(payload_len, padding);
            let mut out = [0u8; 14 + MAX_ERROR_DATAGRAM_LEN];
            let len = write_frag_needed(&mut out, &original, mtu).unwrap();
            let quote = check_frag_needed(&out[..len], &original, mtu);
            prop_assert_eq!(quote.len(), (28 + payload_len).min(MAX_QUOTE_LEN));
        }

        #[test]
        fn frag_needed_never_panics(original in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut out = [0u8; 200];
            let _ = write_frag_needed(&mut out, &original, 1);
        }

        #[test]
        fn emit_then_parse_round_trips(
            msg_type in any::<u8>(),
            code in any::<u8>(),
            rest_of_header in any::<[u8; 4]>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let repr = Icmpv4Repr { msg_type, code, rest_of_header, payload_len: payload.len() };
            let mut bytes = vec![0u8; repr.buffer_len()];
            bytes[HEADER_LEN..].copy_from_slice(&payload);
            repr.emit(&mut Icmpv4Packet::new_unchecked(&mut bytes[..])).unwrap();
            let packet = Icmpv4Packet::new_checked(&bytes[..]).unwrap();
            prop_assert!(packet.verify_checksum());
            prop_assert_eq!(Icmpv4Repr::parse(&packet), Ok(repr));
        }

        #[test]
        fn any_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            let packet = Icmpv4Packet::new_unchecked(&bytes[..]);
            let _ = (packet.msg_type(), packet.msg_code(), packet.checksum(), packet.rest_of_header());
            let _ = (packet.echo_ident(), packet.echo_seq_no(), packet.payload());
            let _ = (packet.verify_checksum(), Icmpv4Repr::parse(&packet));
            let mut packet = Icmpv4Packet::new_unchecked(&mut bytes[..]);
            packet.set_echo_seq_no(9);
            packet.fill_checksum();
            let _ = packet.payload_mut();
        }
    }
}
