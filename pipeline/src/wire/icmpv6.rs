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
use super::ip_proto;
use super::{
    check_min_len, check_room, clipped, clipped_mut, read_u16, read_u8, write_u16, write_u8,
    EmitError,
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

    proptest! {
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
