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
use super::{
    check_min_len, check_room, clipped, clipped_mut, read_array, read_u16, read_u8, write_array,
    write_u16, write_u8, EmitError,
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

    proptest! {
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
