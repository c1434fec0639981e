//! UDP headers (RFC 768).
//!
//! Supported: the 8-byte header with its Length checked against the
//! buffer; the checksum with an IPv4 or IPv6 pseudo-header, computed on
//! emit and verified only on request. Bytes past Length are not part of
//! [`UdpPacket::payload`]. Not supported: UDP-Lite, jumbograms.

use crate::DropReason;

use super::checksum::PseudoHeader;
use super::ip_proto;
use super::{check_room, clipped, clipped_mut, read_u16, write_u16, EmitError};

/// Byte offsets of the UDP header fields.
pub mod field {
    use core::ops::Range;

    /// Source Port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination Port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Length: header plus data.
    pub const LENGTH: Range<usize> = 4..6;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Length of the header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// Checks that `segment` holds a UDP header whose Length is at least the
/// header's: for a first fragment, which holds only part of its datagram.
pub fn check_header(segment: &[u8]) -> Result<(), DropReason> {
    if segment.len() < HEADER_LEN
        || usize::from(read_u16(segment, field::LENGTH.start)) < HEADER_LEN
    {
        return Err(DropReason::UdpBadHeader);
    }
    Ok(())
}

/// The length rule of a UDP datagram, shared by [`UdpPacket::check_len`]
/// and the fast path; on success, the Length field.
///
/// RFC 768: "Length is the length in octets of this user datagram
/// including this header and the data. (This means the minimum value of
/// the length is eight.)" `UdpBadHeader` if `datagram` is shorter than 8
/// bytes, or Length is below 8 or past `datagram` (the IP payload: bytes
/// past Length are allowed and are not part of the datagram).
#[inline(always)]
pub fn check_len(datagram: &[u8]) -> Result<usize, DropReason> {
    if datagram.len() < HEADER_LEN {
        return Err(DropReason::UdpBadHeader);
    }
    let length = usize::from(read_u16(datagram, field::LENGTH.start));
    if length < HEADER_LEN || length > datagram.len() {
        return Err(DropReason::UdpBadHeader);
    }
    Ok(length)
}

/// A view of a UDP datagram in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps a buffer without checking its length (accessors of fields past
    /// the end read 0 or empty and write nothing).
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps a buffer that holds the datagram its Length announces.
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `UdpBadHeader` if the buffer is shorter than 8 bytes, or Length is
    /// below 8 or past the buffer (the rule of [`check_len`]).
    pub fn check_len(&self) -> Result<(), DropReason> {
        check_len(self.buffer.as_ref()).map(|_| ())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source Port.
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    /// Destination Port.
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// Length field: header plus data.
    #[allow(clippy::len_without_is_empty)] // a header field, not a container size
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Checksum as stored (0: none was computed).
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The data, up to Length.
    pub fn payload(&self) -> &[u8] {
        clipped(self.buffer.as_ref(), HEADER_LEN, usize::from(self.len()))
    }

    /// The datagram: header and data, up to Length.
    fn datagram(&self) -> &[u8] {
        clipped(self.buffer.as_ref(), 0, usize::from(self.len()))
    }

    /// True if the checksum over the pseudo-header and the datagram is
    /// correct. RFC 768: "An all zero transmitted checksum value means that
    /// the transmitter generated no checksum", which IPv4 allows and IPv6
    /// does not (RFC 8200 section 8.1: "a zero UDP checksum ... should be
    /// discarded").
    pub fn verify_checksum(&self, pseudo_header: &PseudoHeader) -> bool {
        if self.checksum() == 0 {
            return matches!(pseudo_header, PseudoHeader::Ipv4 { .. });
        }
        pseudo_header.checksum(ip_proto::UDP, self.datagram()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the Source Port.
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT.start, port);
    }

    /// Sets the Destination Port.
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT.start, port);
    }

    /// Sets the Length field.
    pub fn set_len(&mut self, length: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, length);
    }

    /// Stores a checksum value as it is.
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, checksum);
    }

    /// Computes and stores the checksum over the pseudo-header and the
    /// datagram (up to Length). RFC 768: "If the computed checksum is zero,
    /// it is transmitted as all ones."
    pub fn fill_checksum(&mut self, pseudo_header: &PseudoHeader) {
        self.set_checksum(0);
        let checksum = match pseudo_header.checksum(ip_proto::UDP, self.datagram()) {
            0 => 0xffff,
            checksum => checksum,
        };
        self.set_checksum(checksum);
    }

    /// The data, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        clipped_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }
}

/// The fields of a UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source Port.
    pub src_port: u16,
    /// Destination Port.
    pub dst_port: u16,
    /// Bytes of data (Length minus 8). At most 65527 for
    /// [`UdpRepr::emit`]; Length saturates at 65535.
    pub payload_len: u16,
}

impl UdpRepr {
    /// Reads a header ([`UdpPacket::check_len`]'s checks; checksum not
    /// verified).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &UdpPacket<&T>) -> Result<UdpRepr, DropReason> {
        let length = check_len(packet.buffer.as_ref())?;
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            // check_len guarantees 8 <= Length <= u16::MAX.
            payload_len: (length - HEADER_LEN) as u16,
        })
    }

    /// Length of the header: 8 bytes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload: the Length this emits.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len as usize
    }

    /// Writes the header into `packet` and its checksum over the
    /// pseudo-header and the datagram: put the payload in place first.
    /// Writes nothing if the buffer is shorter than
    /// [`UdpRepr::buffer_len`], as the checksum would not cover the data.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        pseudo_header: &PseudoHeader,
    ) -> Result<(), EmitError> {
        check_room(packet.buffer.as_ref(), self.buffer_len())?;
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(self.payload_len.saturating_add(HEADER_LEN as u16));
        packet.fill_checksum(pseudo_header);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::assert_short_emit_writes_nothing;
    use proptest::prelude::*;

    /// A DNS query for "a." from 192.168.0.1:1234 to 192.168.0.199:53, then
    /// two bytes that are not part of the datagram.
    const DNS_QUERY: [u8; 29] = [
        0x04, 0xd2, 0x00, 0x35, 0x00, 0x1b, 0x00, 0x00, // header, checksum filled below
        0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // DNS header
        0x01, b'a', 0x00, 0x00, 0x01, 0x00, 0x01, // question
        0xee, 0xee, // trailing
    ];

    const PSEUDO: PseudoHeader = PseudoHeader::Ipv4 {
        src: [192, 168, 0, 1],
        dst: [192, 168, 0, 199],
    };

    #[test]
    fn reads_datagram() {
        let packet = UdpPacket::new_checked(&DNS_QUERY[..]).unwrap();
        assert_eq!(packet.src_port(), 1234);
        assert_eq!(packet.dst_port(), 53);
        assert_eq!(packet.len(), 27);
        assert_eq!(packet.payload().len(), 19);
        assert_eq!(
            UdpRepr::parse(&packet),
            Ok(UdpRepr {
                src_port: 1234,
                dst_port: 53,
                payload_len: 19
            })
        );
    }

    #[test]
    fn checksum_covers_length_only() {
        let mut bytes = DNS_QUERY;
        assert!(UdpPacket::new_unchecked(&bytes[..]).verify_checksum(&PSEUDO));
        let v6 = PseudoHeader::Ipv6 {
            src: [0; 16],
            dst: [0; 16],
        };
        assert!(!UdpPacket::new_unchecked(&bytes[..]).verify_checksum(&v6));
        UdpPacket::new_unchecked(&mut bytes[..]).fill_checksum(&PSEUDO);
        // Computed independently over pseudo-header and 27 datagram bytes.
        assert_eq!(&bytes[6..8], &[0xc8, 0x68]);
        bytes[27] = 0;
        assert!(UdpPacket::new_unchecked(&bytes[..]).verify_checksum(&PSEUDO));
        bytes[26] ^= 1;
        assert!(!UdpPacket::new_unchecked(&bytes[..]).verify_checksum(&PSEUDO));
    }

    #[test]
    fn bad_headers() {
        let parse = |bytes: &[u8]| UdpRepr::parse(&UdpPacket::new_unchecked(bytes));
        let bad = Err(DropReason::UdpBadHeader);
        assert_eq!(parse(&DNS_QUERY[..7]), bad);
        assert_eq!(parse(&DNS_QUERY[..26]), bad);
        let mut bytes = DNS_QUERY;
        bytes[5] = 7;
        assert_eq!(parse(&bytes), bad);
        bytes[5] = 8;
        assert_eq!(parse(&bytes).map(|repr| repr.payload_len), Ok(0));
    }

    #[test]
    fn emit_into_short_buffer_writes_nothing() {
        let repr = UdpRepr::parse(&UdpPacket::new_unchecked(&DNS_QUERY[..])).unwrap();
        assert_short_emit_writes_nothing(repr.buffer_len(), |bytes| {
            repr.emit(&mut UdpPacket::new_unchecked(bytes), &PSEUDO)
        });
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(
            src_port in any::<u16>(),
            dst_port in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..100),
            (src, dst) in any::<([u8; 16], [u8; 16])>(),
            ipv6 in any::<bool>(),
        ) {
            let pseudo_header = if ipv6 {
                PseudoHeader::Ipv6 { src, dst }
            } else {
                PseudoHeader::Ipv4 { src: [src[0], src[1], src[2], src[3]], dst: [dst[0], dst[1], dst[2], dst[3]] }
            };
            let repr = UdpRepr { src_port, dst_port, payload_len: payload.len() as u16 };
            let mut bytes = vec![0u8; repr.buffer_len()];
            bytes[HEADER_LEN..].copy_from_slice(&payload);
            repr.emit(&mut UdpPacket::new_unchecked(&mut bytes[..]), &pseudo_header).unwrap();
            let packet = UdpPacket::new_checked(&bytes[..]).unwrap();
            prop_assert_ne!(packet.checksum(), 0);
            prop_assert!(packet.verify_checksum(&pseudo_header));
            prop_assert_eq!(packet.payload(), &payload[..]);
            prop_assert_eq!(UdpRepr::parse(&packet), Ok(repr));
        }

        #[test]
        fn any_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let packet = UdpPacket::new_unchecked(&bytes[..]);
            let _ = (packet.src_port(), packet.dst_port(), packet.len(), packet.checksum());
            let _ = (packet.payload(), packet.verify_checksum(&PSEUDO), UdpRepr::parse(&packet));
            if let Ok(packet) = UdpPacket::new_checked(&bytes[..]) {
                prop_assert_eq!(packet.payload().len() + HEADER_LEN, usize::from(packet.len()));
            }
            let mut packet = UdpPacket::new_unchecked(&mut bytes[..]);
            packet.set_len(u16::MAX);
            packet.fill_checksum(&PSEUDO);
            let _ = packet.payload_mut();
        }
    }
}
