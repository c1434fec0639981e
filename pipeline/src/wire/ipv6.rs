//! IPv6 headers and extension-header walking (RFC 8200).
//!
//! Supported: the 40-byte fixed header with its Payload Length checked;
//! walking over the extension headers Hop-by-Hop Options (0), Routing (43),
//! Fragment (44), Destination Options (60) and Authentication Header (51),
//! at most [`MAX_EXTENSION_HEADERS`] of them, to find the upper-layer
//! protocol ([`walk_extension_headers`]); the Fragment header's fields.
//!
//! Not supported: interpreting options or routing types (they are skipped
//! by length); ESP (50), No Next Header (59) and any other value end the
//! walk, as their contents are opaque or unknown; jumbograms (RFC 2675: a
//! Payload Length of 0 with a Jumbo Payload option) are read as a payload
//! of length 0; header order is not enforced (RFC 8200 section 4.1 wants
//! Hop-by-Hop first, but a switch only needs to find the upper layer).
//! Bytes past 40 + Payload Length are link padding.

use crate::DropReason;

use super::ip_proto;
use super::{
    check_ip_version, check_room, clipped, clipped_mut, read_array, read_u16, read_u32, read_u8,
    write_array, write_u16, write_u32, write_u8, EmitError,
};

/// Byte offsets of the IPv6 header fields.
pub mod field {
    use core::ops::Range;

    /// Version (4 bits), Traffic Class (8 bits), Flow Label (20 bits).
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    /// Payload Length: bytes after this header, extension headers included.
    pub const LENGTH: Range<usize> = 4..6;
    /// Next Header.
    pub const NEXT_HEADER: usize = 6;
    /// Hop Limit.
    pub const HOP_LIMIT: usize = 7;
    /// Source Address.
    pub const SRC_ADDR: Range<usize> = 8..24;
    /// Destination Address.
    pub const DST_ADDR: Range<usize> = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// The Flow Label bits of the first word.
pub const FLOW_LABEL_MASK: u32 = 0x000f_ffff;

/// The IPv6 version number.
pub const VERSION: u8 = 6;

/// The version rule: `Ipv6Truncated` if `packet` is empty, `Ipv6BadVersion`
/// unless the version is 6. It comes before [`check_lengths`], so that a
/// cut packet of another version is reported as of the wrong version.
/// Shared by [`Ipv6Repr::parse`] and the fast path.
#[inline(always)]
pub fn check_version(packet: &[u8]) -> Result<(), DropReason> {
    check_ip_version(
        packet,
        VERSION,
        DropReason::Ipv6Truncated,
        DropReason::Ipv6BadVersion,
    )
}

/// The length rules of an IPv6 packet, shared by [`Ipv6Packet::check_len`]
/// and the fast path; on success, the packet's length (40 + Payload
/// Length; bytes past it are link padding).
///
/// RFC 8200 section 3: Payload Length is the "Length of the IPv6 payload,
/// i.e., the rest of the packet following this IPv6 header, in octets".
/// `Ipv6Truncated` if shorter than 40 bytes, `Ipv6BadPayloadLength` if
/// 40 + Payload Length runs past the buffer. A zero Payload Length with a
/// Jumbo Payload option (RFC 2675) is read as an empty payload: jumbograms
/// do not cross an Ethernet switch. The extension headers are
/// [`walk_extension_headers`]' to check.
#[inline(always)]
pub fn check_lengths(packet: &[u8]) -> Result<usize, DropReason> {
    if packet.len() < HEADER_LEN {
        return Err(DropReason::Ipv6Truncated);
    }
    let end = HEADER_LEN + usize::from(read_u16(packet, field::LENGTH.start));
    if end > packet.len() {
        return Err(DropReason::Ipv6BadPayloadLength);
    }
    Ok(end)
}

/// A view of an IPv6 packet in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps a buffer without checking its length (accessors of fields past
    /// the end read 0 or empty and write nothing).
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wraps a buffer that holds the header and the payload it announces.
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the Payload Length against the buffer with the rules of
    /// [`check_lengths`]. The version is [`Ipv6Repr::parse`]'s to check.
    pub fn check_len(&self) -> Result<(), DropReason> {
        check_lengths(self.buffer.as_ref()).map(|_| ())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn first_word(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VER_TC_FLOW.start)
    }

    /// Version (6 for IPv6).
    pub fn version(&self) -> u8 {
        (self.first_word() >> 28) as u8
    }

    /// Traffic Class (DSCP and ECN).
    pub fn traffic_class(&self) -> u8 {
        (self.first_word() >> 20) as u8
    }

    /// Flow Label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.first_word() & FLOW_LABEL_MASK
    }

    /// Payload Length.
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Next Header: the first extension header or the upper-layer protocol.
    pub fn next_header(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::NEXT_HEADER)
    }

    /// Hop Limit.
    pub fn hop_limit(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::HOP_LIMIT)
    }

    /// Source Address.
    pub fn src_addr(&self) -> [u8; 16] {
        read_array(self.buffer.as_ref(), field::SRC_ADDR.start)
    }

    /// Destination Address.
    pub fn dst_addr(&self) -> [u8; 16] {
        read_array(self.buffer.as_ref(), field::DST_ADDR.start)
    }

    /// The payload (extension headers included), padding excluded.
    pub fn payload(&self) -> &[u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        clipped(self.buffer.as_ref(), HEADER_LEN, end)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    fn set_first_word(&mut self, word: u32) {
        write_u32(self.buffer.as_mut(), field::VER_TC_FLOW.start, word);
    }

    /// Sets the version (the low 4 bits of `version`).
    pub fn set_version(&mut self, version: u8) {
        let word = (self.first_word() & 0x0fff_ffff) | (u32::from(version & 0x0f) << 28);
        self.set_first_word(word);
    }

    /// Sets the Traffic Class.
    pub fn set_traffic_class(&mut self, traffic_class: u8) {
        let word = (self.first_word() & 0xf00f_ffff) | (u32::from(traffic_class) << 20);
        self.set_first_word(word);
    }

    /// Sets the Flow Label (the low 20 bits of `flow_label`).
    pub fn set_flow_label(&mut self, flow_label: u32) {
        let word = (self.first_word() & !FLOW_LABEL_MASK) | (flow_label & FLOW_LABEL_MASK);
        self.set_first_word(word);
    }

    /// Sets the Payload Length.
    pub fn set_payload_len(&mut self, payload_len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, payload_len);
    }

    /// Sets the Next Header.
    pub fn set_next_header(&mut self, next_header: u8) {
        write_u8(self.buffer.as_mut(), field::NEXT_HEADER, next_header);
    }

    /// Sets the Hop Limit.
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        write_u8(self.buffer.as_mut(), field::HOP_LIMIT, hop_limit);
    }

    /// Sets the Source Address.
    pub fn set_src_addr(&mut self, addr: [u8; 16]) {
        write_array(self.buffer.as_mut(), field::SRC_ADDR.start, addr);
    }

    /// Sets the Destination Address.
    pub fn set_dst_addr(&mut self, addr: [u8; 16]) {
        write_array(self.buffer.as_mut(), field::DST_ADDR.start, addr);
    }

    /// The payload, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        clipped_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }
}

/// The fields of an IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source Address.
    pub src_addr: [u8; 16],
    /// Destination Address.
    pub dst_addr: [u8; 16],
    /// Next Header.
    pub next_header: u8,
    /// Payload Length (extension headers included).
    pub payload_len: u16,
    /// Hop Limit.
    pub hop_limit: u8,
    /// Traffic Class.
    pub traffic_class: u8,
    /// Flow Label (20 bits).
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Reads a header: [`check_version`], then [`check_lengths`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Ipv6Packet<&T>) -> Result<Ipv6Repr, DropReason> {
        let buffer = packet.buffer.as_ref();
        check_version(buffer)?;
        check_lengths(buffer)?;
        Ok(Ipv6Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.payload_len(),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// Length of the fixed header: 40 bytes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len as usize
    }

    /// Writes the header into `packet` (`flow_label` masked to 20 bits), or
    /// nothing if the buffer is shorter than the header (the payload need
    /// not be in place).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Ipv6Packet<T>,
    ) -> Result<(), EmitError> {
        check_room(packet.buffer.as_ref(), HEADER_LEN)?;
        packet.set_first_word(0);
        packet.set_version(VERSION);
        packet.set_traffic_class(self.traffic_class);
        packet.set_flow_label(self.flow_label);
        packet.set_payload_len(self.payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        Ok(())
    }
}

/// The most extension headers [`walk_extension_headers`] follows. RFC 8200
/// sets no limit; real packets carry a handful, and a bound keeps the walk
/// short on crafted ones.
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// Length of the Fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;

/// True for the extension headers the walk skips over: Hop-by-Hop (0),
/// Routing (43), Fragment (44), Destination Options (60), AH (51).
#[inline]
pub const fn is_extension_header(next_header: u8) -> bool {
    matches!(
        next_header,
        ip_proto::HOP_BY_HOP
            | ip_proto::ROUTING
            | ip_proto::FRAGMENT
            | ip_proto::DESTINATION_OPTIONS
            | ip_proto::AH
    )
}

/// Length in bytes of the extension header of type `kind` that starts
/// `header`, or `None` if its length byte is missing.
///
/// RFC 8200 section 4.3: "Hdr Ext Len: Length of the Hop-by-Hop Options
/// header in 8-octet units, not including the first 8 octets" (likewise
/// for Routing and Destination Options). The Fragment header is always 8
/// bytes. RFC 4302 section 2.2: AH's "Payload Length" is its length "in
/// 32-bit words (4-byte units), minus 2".
#[inline]
pub fn extension_header_len(kind: u8, header: &[u8]) -> Option<usize> {
    match kind {
        ip_proto::FRAGMENT => Some(FRAGMENT_HEADER_LEN),
        ip_proto::AH => Some((usize::from(*header.get(1)?) + 2) * 4),
        _ => Some((usize::from(*header.get(1)?) + 1) * 8),
    }
}

/// The Fragment header fields the flow key needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Fragment {
    /// Fragment offset in bytes (a multiple of 8).
    pub offset: u16,
    /// The M (more fragments) flag.
    pub more_frags: bool,
    /// Identification.
    pub ident: u32,
}

impl Ipv6Fragment {
    /// True unless this is an atomic fragment (offset 0, M clear; RFC
    /// 6946), which is a whole packet.
    pub const fn is_fragment(&self) -> bool {
        self.more_frags || self.offset != 0
    }
}

/// Where [`walk_extension_headers`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtensionWalk {
    /// The Next Header value that ended the walk: the upper-layer protocol,
    /// ESP, No Next Header or an unknown value; for a non-first fragment,
    /// the Fragment header's Next Header.
    pub next_header: u8,
    /// Bytes of extension headers walked: where the header named by
    /// `next_header` starts, counted from the start of the IPv6 payload.
    pub headers_len: usize,
    /// The Fragment header, if one was met.
    pub fragment: Option<Ipv6Fragment>,
}

/// Follows the extension-header chain of an IPv6 payload to the upper-layer
/// header. `next_header` is the IPv6 header's Next Header and `payload` the
/// IPv6 payload (up to Payload Length).
///
/// RFC 8200 section 4: extension headers are "each identified by the Next
/// Header field of the preceding header". The walk stops at the first value
/// that is not an extension header of [`is_extension_header`], or after a
/// Fragment header with a nonzero offset (what follows it is the middle of
/// the original packet, not a header).
///
/// `Ipv6BadExtensionHeader` if a header runs past `payload` or the chain
/// has more than [`MAX_EXTENSION_HEADERS`] headers.
pub fn walk_extension_headers(
    next_header: u8,
    payload: &[u8],
) -> Result<ExtensionWalk, DropReason> {
    let mut walk = ExtensionWalk {
        next_header,
        headers_len: 0,
        fragment: None,
    };
    let mut headers_seen = 0;
    while is_extension_header(walk.next_header) {
        if headers_seen == MAX_EXTENSION_HEADERS {
            return Err(DropReason::Ipv6BadExtensionHeader);
        }
        headers_seen += 1;
        let header = payload.get(walk.headers_len..).unwrap_or(&[]);
        let len = extension_header_len(walk.next_header, header)
            .filter(|&len| len <= header.len())
            .ok_or(DropReason::Ipv6BadExtensionHeader)?;
        let kind = walk.next_header;
        walk.next_header = read_u8(header, 0);
        walk.headers_len += len;
        if kind == ip_proto::FRAGMENT {
            let fragment_header = Ipv6FragmentHeader::new_unchecked(header);
            let fragment = Ipv6Fragment {
                offset: fragment_header.frag_offset(),
                more_frags: fragment_header.more_frags(),
                ident: fragment_header.ident(),
            };
            walk.fragment = Some(fragment);
            if fragment.offset != 0 {
                break;
            }
        }
    }
    Ok(walk)
}

/// Byte offsets of the Fragment header fields (RFC 8200 section 4.5).
pub mod fragment_field {
    use core::ops::Range;

    /// Next Header.
    pub const NEXT_HEADER: usize = 0;
    /// Reserved (zero).
    pub const RESERVED: usize = 1;
    /// Fragment Offset (13 bits), Res (2 bits), M flag (1 bit).
    pub const OFFSET_FLAGS: Range<usize> = 2..4;
    /// Identification.
    pub const IDENT: Range<usize> = 4..8;
}

/// A view of an IPv6 Fragment header in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6FragmentHeader<T> {
    /// Wraps a buffer without checking its length (accessors of fields past
    /// the end read 0 and write nothing).
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6FragmentHeader { buffer }
    }

    /// Wraps a buffer that holds the 8-byte header
    /// (`Ipv6BadExtensionHeader` otherwise).
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        if buffer.as_ref().len() < FRAGMENT_HEADER_LEN {
            return Err(DropReason::Ipv6BadExtensionHeader);
        }
        Ok(Self::new_unchecked(buffer))
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Next Header of the fragmented part.
    pub fn next_header(&self) -> u8 {
        read_u8(self.buffer.as_ref(), fragment_field::NEXT_HEADER)
    }

    /// Fragment offset in bytes: RFC 8200 "The offset, in 8-octet units, of
    /// the data following this header", already shifted into place.
    pub fn frag_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), fragment_field::OFFSET_FLAGS.start) & 0xfff8
    }

    /// The M flag: "1 = more fragments; 0 = last fragment".
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), fragment_field::OFFSET_FLAGS.start) & 1 != 0
    }

    /// Identification.
    pub fn ident(&self) -> u32 {
        read_u32(self.buffer.as_ref(), fragment_field::IDENT.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6FragmentHeader<T> {
    /// Sets the Next Header.
    pub fn set_next_header(&mut self, next_header: u8) {
        write_u8(
            self.buffer.as_mut(),
            fragment_field::NEXT_HEADER,
            next_header,
        );
    }

    /// Sets offset (bytes, a multiple of 8) and M flag together; the
    /// reserved bits are cleared.
    pub fn set_frag_offset_and_more(&mut self, offset: u16, more_frags: bool) {
        let word = (offset & 0xfff8) | u16::from(more_frags);
        write_u8(self.buffer.as_mut(), fragment_field::RESERVED, 0);
        write_u16(
            self.buffer.as_mut(),
            fragment_field::OFFSET_FLAGS.start,
            word,
        );
    }

    /// Sets the Identification.
    pub fn set_ident(&mut self, ident: u32) {
        write_u32(self.buffer.as_mut(), fragment_field::IDENT.start, ident);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::assert_short_emit_writes_nothing;
    use proptest::prelude::*;

    /// fe80::1 -> ff02::1, ICMPv6 echo request behind a Hop-by-Hop header
    /// (Router Alert + PadN) and a Destination Options header (PadN).
    fn hop_by_hop_ping() -> Vec<u8> {
        let mut bytes = vec![
            0x60, 0x00, 0x00, 0x00, // version 6, TC 0, flow 0
            0x00, 0x18, 0x00, 0x40, // payload 24, next HBH, hop limit 64
        ];
        bytes.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        bytes.extend_from_slice(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        bytes.extend_from_slice(&[60, 0, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00]); // HBH
        bytes.extend_from_slice(&[58, 0, 0x01, 0x04, 0, 0, 0, 0]); // Dest opts
        bytes.extend_from_slice(&[0x80, 0x00, 0x00, 0x00, 0x12, 0x34, 0x00, 0x01]); // echo
        bytes
    }

    #[test]
    fn reads_header_and_walks_chain() {
        let bytes = hop_by_hop_ping();
        let packet = Ipv6Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.version(), 6);
        assert_eq!(packet.payload_len(), 24);
        assert_eq!(packet.next_header(), ip_proto::HOP_BY_HOP);
        assert_eq!(packet.hop_limit(), 64);
        let walk = walk_extension_headers(packet.next_header(), packet.payload()).unwrap();
        assert_eq!(
            walk,
            ExtensionWalk {
                next_header: ip_proto::ICMPV6,
                headers_len: 16,
                fragment: None
            }
        );
        let repr = Ipv6Repr::parse(&packet).unwrap();
        assert_eq!(repr.src_addr[0..2], [0xfe, 0x80]);
        assert_eq!(repr.buffer_len(), 64);
    }

    #[test]
    fn traffic_class_and_flow_label() {
        let mut bytes = hop_by_hop_ping();
        bytes[0..4].copy_from_slice(&[0x6b, 0x8a, 0xbc, 0xde]);
        let packet = Ipv6Packet::new_unchecked(&bytes[..]);
        assert_eq!(packet.traffic_class(), 0xb8);
        assert_eq!(packet.flow_label(), 0xabcde);
    }

    #[test]
    fn fragment_headers() {
        // First fragment of a UDP datagram, then a later one.
        let first = [ip_proto::UDP, 0, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef, 0, 0];
        let walk = walk_extension_headers(ip_proto::FRAGMENT, &first).unwrap();
        assert_eq!(walk.next_header, ip_proto::UDP);
        assert_eq!(walk.headers_len, 8);
        let fragment = walk.fragment.unwrap();
        assert_eq!((fragment.offset, fragment.more_frags), (0, true));
        assert_eq!(fragment.ident, 0xdead_beef);
        assert!(fragment.is_fragment());

        // Offset 1448: the walk stops even though "next header" is Hop-by-Hop.
        let later = [ip_proto::HOP_BY_HOP, 0, 0x05, 0xa8, 0, 0, 0, 1, 0xff];
        let walk = walk_extension_headers(ip_proto::FRAGMENT, &later).unwrap();
        assert_eq!(walk.next_header, ip_proto::HOP_BY_HOP);
        assert_eq!(walk.fragment.unwrap().offset, 1448);
        assert!(!walk.fragment.unwrap().more_frags);

        let atomic = [ip_proto::TCP, 0, 0, 0, 0, 0, 0, 7];
        let walk = walk_extension_headers(ip_proto::FRAGMENT, &atomic).unwrap();
        assert!(!walk.fragment.unwrap().is_fragment());

        let mut bytes = [0u8; 8];
        let mut header = Ipv6FragmentHeader::new_checked(&mut bytes[..]).unwrap();
        header.set_next_header(ip_proto::TCP);
        header.set_frag_offset_and_more(1448, true);
        header.set_ident(7);
        assert_eq!(bytes, [6, 0, 0x05, 0xa9, 0, 0, 0, 7]);
    }

    #[test]
    fn authentication_header_length() {
        // AH with Payload Len 4: (4 + 2) * 4 = 24 bytes, then TCP.
        let mut payload = vec![ip_proto::TCP, 4];
        payload.resize(24, 0);
        let walk = walk_extension_headers(ip_proto::AH, &payload).unwrap();
        assert_eq!((walk.next_header, walk.headers_len), (ip_proto::TCP, 24));
        assert_eq!(
            walk_extension_headers(ip_proto::AH, &payload[..23]),
            Err(DropReason::Ipv6BadExtensionHeader)
        );
    }

    #[test]
    fn walk_stops_at_esp_and_unknown() {
        for stop in [ip_proto::ESP, ip_proto::NO_NEXT_HEADER, 253] {
            let walk = walk_extension_headers(stop, &[]).unwrap();
            assert_eq!((walk.next_header, walk.headers_len), (stop, 0));
        }
    }

    #[test]
    fn malformed_chains() {
        let bad = Err(DropReason::Ipv6BadExtensionHeader);
        assert_eq!(walk_extension_headers(ip_proto::HOP_BY_HOP, &[]), bad);
        assert_eq!(walk_extension_headers(ip_proto::ROUTING, &[6]), bad);
        assert_eq!(
            walk_extension_headers(ip_proto::HOP_BY_HOP, &[6, 1, 0, 0, 0, 0, 0, 0]),
            bad
        );
        assert_eq!(
            walk_extension_headers(ip_proto::FRAGMENT, &[6, 0, 0, 0]),
            bad
        );
        // Eight Destination Options headers are followed; a ninth is not.
        let chain = |count: usize| {
            let mut payload = Vec::new();
            for i in 0..count {
                let next = if i + 1 == count {
                    ip_proto::UDP
                } else {
                    ip_proto::DESTINATION_OPTIONS
                };
                payload.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
            }
            payload
        };
        let walk = walk_extension_headers(ip_proto::DESTINATION_OPTIONS, &chain(8)).unwrap();
        assert_eq!((walk.next_header, walk.headers_len), (ip_proto::UDP, 64));
        assert_eq!(
            walk_extension_headers(ip_proto::DESTINATION_OPTIONS, &chain(9)),
            bad
        );
    }

    #[test]
    fn malformed_headers() {
        let parse = |bytes: &[u8]| Ipv6Repr::parse(&Ipv6Packet::new_unchecked(bytes));
        let mut bytes = hop_by_hop_ping();
        assert_eq!(parse(&[]), Err(DropReason::Ipv6Truncated));
        assert_eq!(parse(&bytes[..39]), Err(DropReason::Ipv6Truncated));
        assert_eq!(parse(&bytes[..63]), Err(DropReason::Ipv6BadPayloadLength));
        bytes[0] = 0x40;
        assert_eq!(parse(&bytes), Err(DropReason::Ipv6BadVersion));
    }

    #[test]
    fn emit_into_short_buffer_writes_nothing() {
        let bytes = hop_by_hop_ping();
        let repr = Ipv6Repr::parse(&Ipv6Packet::new_unchecked(&bytes[..])).unwrap();
        assert_short_emit_writes_nothing(HEADER_LEN, |bytes| {
            repr.emit(&mut Ipv6Packet::new_unchecked(bytes))
        });
    }

    fn arbitrary_repr() -> impl Strategy<Value = Ipv6Repr> {
        (
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<(u8, u8, u8)>(),
            0u16..=200,
            0u32..=FLOW_LABEL_MASK,
        )
            .prop_map(
                |(
                    src_addr,
                    dst_addr,
                    (next_header, hop_limit, traffic_class),
                    payload_len,
                    flow_label,
                )| {
                    Ipv6Repr {
                        src_addr,
                        dst_addr,
                        next_header,
                        payload_len,
                        hop_limit,
                        traffic_class,
                        flow_label,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(repr in arbitrary_repr()) {
            let mut bytes = vec![0xa5u8; repr.buffer_len()];
            repr.emit(&mut Ipv6Packet::new_unchecked(&mut bytes[..])).unwrap();
            let packet = Ipv6Packet::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(Ipv6Repr::parse(&packet), Ok(repr));
        }

        #[test]
        fn any_bytes_never_panic(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..120),
            next_header in prop_oneof![Just(0u8), Just(43), Just(44), Just(51), Just(60), any::<u8>()],
        ) {
            let packet = Ipv6Packet::new_unchecked(&bytes[..]);
            let _ = (packet.version(), packet.traffic_class(), packet.flow_label());
            let _ = (packet.payload_len(), packet.next_header(), packet.hop_limit());
            let _ = (packet.src_addr(), packet.dst_addr(), packet.payload());
            let _ = Ipv6Repr::parse(&packet);
            if let Ok(walk) = walk_extension_headers(next_header, &bytes) {
                prop_assert!(walk.headers_len <= bytes.len());
            }
            let fragment = Ipv6FragmentHeader::new_unchecked(&bytes[..]);
            let _ = (fragment.next_header(), fragment.frag_offset(), fragment.more_frags(), fragment.ident());
            let mut packet = Ipv6Packet::new_unchecked(&mut bytes[..]);
            packet.set_payload_len(u16::MAX);
            packet.set_flow_label(u32::MAX);
            let _ = packet.payload_mut();
        }
    }
}
