//! IPv4 headers (RFC 791).
//!
//! Supported: the 20-byte fixed header, with its length fields checked;
//! fragments (flags and offset are read, nothing is reassembled); the
//! header checksum, computed on emit and verified only on request
//! ([`Ipv4Packet::verify_checksum`]). Options are skipped over by the IHL
//! but not interpreted, and [`Ipv4Repr`] neither keeps nor emits them.
//! Bytes past Total Length are link padding and are not part of
//! [`Ipv4Packet::payload`].

use crate::DropReason;

use super::checksum::internet_checksum;
use super::{
    check_ip_version, check_room, clipped, clipped_mut, read_array, read_u16, read_u8, write_array,
    write_u16, write_u8, EmitError,
};

/// Byte offsets of the IPv4 header fields.
pub mod field {
    use core::ops::Range;

    /// Version (high 4 bits) and IHL (low 4 bits).
    pub const VER_IHL: usize = 0;
    /// Type of Service: DSCP (high 6 bits) and ECN (low 2 bits).
    pub const TOS: usize = 1;
    /// Total Length.
    pub const LENGTH: Range<usize> = 2..4;
    /// Identification.
    pub const IDENT: Range<usize> = 4..6;
    /// Flags (high 3 bits) and Fragment Offset (low 13 bits).
    pub const FLAGS_FRAG_OFFSET: Range<usize> = 6..8;
    /// Time to Live.
    pub const TTL: usize = 8;
    /// Protocol.
    pub const PROTOCOL: usize = 9;
    /// Header Checksum.
    pub const CHECKSUM: Range<usize> = 10..12;
    /// Source Address.
    pub const SRC_ADDR: Range<usize> = 12..16;
    /// Destination Address.
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Length of the header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// The "Don't Fragment" flag in the flags/offset word.
pub const FLAG_DONT_FRAGMENT: u16 = 0x4000;
/// The "More Fragments" flag in the flags/offset word.
pub const FLAG_MORE_FRAGMENTS: u16 = 0x2000;
/// The Fragment Offset bits of the flags/offset word.
pub const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// The IPv4 version number.
pub const VERSION: u8 = 4;

/// The IHL bits of the version/IHL byte.
const IHL_MASK: u8 = 0x0f;

/// The lengths an IPv4 header states, as [`check_lengths`] found them
/// consistent with the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Lengths {
    /// Header length in bytes (IHL * 4), options included: 20 to 60.
    pub header_len: usize,
    /// Total Length: header plus payload, at least `header_len`.
    pub total_len: usize,
}

/// The version rule: `Ipv4Truncated` if `packet` is empty, `Ipv4BadVersion`
/// unless the version is 4. It comes before [`check_lengths`], so that a
/// cut packet of another version is reported as of the wrong version.
/// Shared by [`Ipv4Repr::parse`] and the fast path.
#[inline(always)]
pub fn check_version(packet: &[u8]) -> Result<(), DropReason> {
    check_ip_version(
        packet,
        VERSION,
        DropReason::Ipv4Truncated,
        DropReason::Ipv4BadVersion,
    )
}

/// The length rules of an IPv4 packet, shared by [`Ipv4Packet::check_len`]
/// and the fast path.
///
/// RFC 791: "Internet Header Length is the length of the internet header
/// in 32 bit words ... the minimum value for a correct header is 5", and
/// "Total Length is the length of the datagram, measured in octets,
/// including internet header and data".
///
/// `Ipv4Truncated` if shorter than 20 bytes, `Ipv4BadHeaderLength` if
/// IHL < 5 or the header runs past the buffer, `Ipv4BadTotalLength` if
/// Total Length is below the header length or past the buffer (bytes past
/// it are link padding).
#[inline(always)]
pub fn check_lengths(packet: &[u8]) -> Result<Ipv4Lengths, DropReason> {
    if packet.len() < HEADER_LEN {
        return Err(DropReason::Ipv4Truncated);
    }
    let header_len = usize::from(read_u8(packet, field::VER_IHL) & IHL_MASK) * 4;
    if header_len < HEADER_LEN || header_len > packet.len() {
        return Err(DropReason::Ipv4BadHeaderLength);
    }
    let total_len = usize::from(read_u16(packet, field::LENGTH.start));
    if total_len < header_len || total_len > packet.len() {
        return Err(DropReason::Ipv4BadTotalLength);
    }
    Ok(Ipv4Lengths {
        header_len,
        total_len,
    })
}

/// A view of an IPv4 packet in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without checking its length (accessors of fields past
    /// the end read 0 or empty and write nothing).
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer whose header and total length are consistent with its
    /// size (see [`Ipv4Packet::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the length fields against the buffer with the rules of
    /// [`check_lengths`]. The version is [`Ipv4Repr::parse`]'s to check.
    pub fn check_len(&self) -> Result<(), DropReason> {
        check_lengths(self.buffer.as_ref()).map(|_| ())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version (4 for IPv4).
    pub fn version(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::VER_IHL) >> 4
    }

    /// Header length in bytes (IHL * 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(read_u8(self.buffer.as_ref(), field::VER_IHL) & IHL_MASK) * 4
    }

    /// The Type of Service byte (DSCP and ECN).
    pub fn tos(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::TOS)
    }

    /// Differentiated Services Code Point (RFC 2474).
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    /// Explicit Congestion Notification (RFC 3168).
    pub fn ecn(&self) -> u8 {
        self.tos() & 0x03
    }

    /// Total Length: header plus payload, in bytes.
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT.start)
    }

    fn flags_frag_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLAGS_FRAG_OFFSET.start)
    }

    /// The Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.flags_frag_offset() & FLAG_DONT_FRAGMENT != 0
    }

    /// The More Fragments flag.
    pub fn more_frags(&self) -> bool {
        self.flags_frag_offset() & FLAG_MORE_FRAGMENTS != 0
    }

    /// Fragment offset in bytes. RFC 791: "The fragment offset is measured
    /// in units of 8 octets (64 bits)", so this is the field times 8.
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag_offset() & FRAG_OFFSET_MASK) << 3
    }

    /// True for any fragment: More Fragments set or a nonzero offset.
    pub fn is_fragment(&self) -> bool {
        self.flags_frag_offset() & (FLAG_MORE_FRAGMENTS | FRAG_OFFSET_MASK) != 0
    }

    /// Time to Live.
    pub fn ttl(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::TTL)
    }

    /// Protocol of the payload (see [`super::ip_proto`]).
    pub fn protocol(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::PROTOCOL)
    }

    /// Header Checksum as stored.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Source Address.
    pub fn src_addr(&self) -> [u8; 4] {
        read_array(self.buffer.as_ref(), field::SRC_ADDR.start)
    }

    /// Destination Address.
    pub fn dst_addr(&self) -> [u8; 4] {
        read_array(self.buffer.as_ref(), field::DST_ADDR.start)
    }

    /// The header, options included.
    pub fn header(&self) -> &[u8] {
        clipped(self.buffer.as_ref(), 0, self.header_len())
    }

    /// The options: the header past its first 20 bytes, uninterpreted.
    pub fn options(&self) -> &[u8] {
        clipped(self.buffer.as_ref(), HEADER_LEN, self.header_len())
    }

    /// The payload: from the end of the header to Total Length (padding
    /// past Total Length excluded).
    pub fn payload(&self) -> &[u8] {
        let total_len = usize::from(self.total_len());
        clipped(self.buffer.as_ref(), self.header_len(), total_len)
    }

    /// True if the header checksum is correct. RFC 791: "The checksum field
    /// is the 16 bit one's complement of the one's complement sum of all 16
    /// bit words in the header", so summing the header with it gives zero.
    pub fn verify_checksum(&self) -> bool {
        internet_checksum(self.header()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the version (the low 4 bits of `version`).
    pub fn set_version(&mut self, version: u8) {
        let byte = read_u8(self.buffer.as_ref(), field::VER_IHL);
        write_u8(
            self.buffer.as_mut(),
            field::VER_IHL,
            (byte & 0x0f) | (version << 4),
        );
    }

    /// Sets IHL from a header length in bytes (a multiple of 4, 20 to 60).
    pub fn set_header_len(&mut self, header_len: usize) {
        let byte = read_u8(self.buffer.as_ref(), field::VER_IHL);
        let ihl = ((header_len / 4) & 0x0f) as u8;
        write_u8(self.buffer.as_mut(), field::VER_IHL, (byte & 0xf0) | ihl);
    }

    /// Sets the Type of Service byte.
    pub fn set_tos(&mut self, tos: u8) {
        write_u8(self.buffer.as_mut(), field::TOS, tos);
    }

    /// Sets Total Length.
    pub fn set_total_len(&mut self, total_len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, total_len);
    }

    /// Sets Identification.
    pub fn set_ident(&mut self, ident: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT.start, ident);
    }

    fn set_flags_frag_offset(&mut self, word: u16) {
        write_u16(self.buffer.as_mut(), field::FLAGS_FRAG_OFFSET.start, word);
    }

    /// Sets or clears Don't Fragment.
    pub fn set_dont_frag(&mut self, value: bool) {
        let word = self.flags_frag_offset() & !FLAG_DONT_FRAGMENT;
        self.set_flags_frag_offset(word | if value { FLAG_DONT_FRAGMENT } else { 0 });
    }

    /// Sets or clears More Fragments.
    pub fn set_more_frags(&mut self, value: bool) {
        let word = self.flags_frag_offset() & !FLAG_MORE_FRAGMENTS;
        self.set_flags_frag_offset(word | if value { FLAG_MORE_FRAGMENTS } else { 0 });
    }

    /// Sets the fragment offset from a byte offset (a multiple of 8; the
    /// low 3 bits are dropped).
    pub fn set_frag_offset(&mut self, offset: u16) {
        let word = self.flags_frag_offset() & !FRAG_OFFSET_MASK;
        self.set_flags_frag_offset(word | (offset >> 3));
    }

    /// Sets Time to Live.
    pub fn set_ttl(&mut self, ttl: u8) {
        write_u8(self.buffer.as_mut(), field::TTL, ttl);
    }

    /// Sets Protocol.
    pub fn set_protocol(&mut self, protocol: u8) {
        write_u8(self.buffer.as_mut(), field::PROTOCOL, protocol);
    }

    /// Stores a Header Checksum value as it is.
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, checksum);
    }

    /// Sets the Source Address.
    pub fn set_src_addr(&mut self, addr: [u8; 4]) {
        write_array(self.buffer.as_mut(), field::SRC_ADDR.start, addr);
    }

    /// Sets the Destination Address.
    pub fn set_dst_addr(&mut self, addr: [u8; 4]) {
        write_array(self.buffer.as_mut(), field::DST_ADDR.start, addr);
    }

    /// Computes and stores the Header Checksum over the header as it now
    /// is. RFC 791: "For purposes of computing the checksum, the value of
    /// the checksum field is zero."
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let checksum = internet_checksum(self.header());
        self.set_checksum(checksum);
    }

    /// The payload, mutably (up to Total Length).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let header_len = self.header_len();
        let total_len = usize::from(self.total_len());
        clipped_mut(self.buffer.as_mut(), header_len, total_len)
    }
}

/// The fields of an IPv4 header, options aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source Address.
    pub src_addr: [u8; 4],
    /// Destination Address.
    pub dst_addr: [u8; 4],
    /// Protocol of the payload.
    pub protocol: u8,
    /// Payload length in bytes (Total Length minus the header). At most
    /// 65515 for [`Ipv4Repr::emit`]; Total Length saturates at 65535.
    pub payload_len: u16,
    /// Time to Live.
    pub ttl: u8,
    /// Type of Service byte (DSCP and ECN).
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// More Fragments.
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8, at most 65528).
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// Reads and validates a header: [`check_version`], then
    /// [`check_lengths`]. The checksum is not verified (see
    /// [`Ipv4Packet::verify_checksum`]) and options are skipped.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Ipv4Packet<&T>) -> Result<Ipv4Repr, DropReason> {
        let buffer = packet.buffer.as_ref();
        check_version(buffer)?;
        let lengths = check_lengths(buffer)?;
        // check_lengths guarantees header_len <= total_len <= u16::MAX.
        let payload_len = (lengths.total_len - lengths.header_len) as u16;
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len,
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
        })
    }

    /// Length of the header this emits (no options): 20 bytes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload: the Total Length this emits.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len as usize
    }

    /// Writes a 20-byte header with a correct checksum into `packet`, or
    /// nothing if the buffer is shorter than the header (the payload need
    /// not be in place: the checksum covers the header only).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Ipv4Packet<T>,
    ) -> Result<(), EmitError> {
        check_room(packet.buffer.as_ref(), HEADER_LEN)?;
        packet.set_version(VERSION);
        packet.set_header_len(HEADER_LEN);
        packet.set_tos(self.tos);
        packet.set_total_len(self.payload_len.saturating_add(HEADER_LEN as u16));
        packet.set_ident(self.ident);
        packet.set_flags_frag_offset(0);
        packet.set_dont_frag(self.dont_frag);
        packet.set_more_frags(self.more_frags);
        packet.set_frag_offset(self.frag_offset);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{assert_short_emit_writes_nothing, ip_proto};
    use proptest::prelude::*;

    /// 192.168.0.1 -> 192.168.0.199, UDP, TTL 64, DF, 8 bytes of payload,
    /// then 2 bytes of Ethernet padding.
    const UDP_PACKET: [u8; 30] = [
        0x45, 0x00, 0x00, 0x1c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x9c, 0x72, 192, 168, 0, 1,
        192, 168, 0, 199, // header
        0x04, 0xd2, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00, // payload
        0x00, 0x00, // padding
    ];

    #[test]
    fn reads_real_header() {
        let packet = Ipv4Packet::new_checked(&UDP_PACKET[..]).unwrap();
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.total_len(), 28);
        assert_eq!(packet.ident(), 0x1c46);
        assert!(packet.dont_frag());
        assert!(!packet.is_fragment());
        assert_eq!(packet.protocol(), ip_proto::UDP);
        assert_eq!(packet.payload().len(), 8);
        assert!(packet.options().is_empty());
        assert_eq!(packet.checksum(), 0x9c72);
        assert!(packet.verify_checksum());
        let repr = Ipv4Repr::parse(&packet).unwrap();
        assert_eq!(repr.payload_len, 8);
        assert_eq!(repr.src_addr, [192, 168, 0, 1]);
        assert_eq!(repr.ttl, 64);
    }

    #[test]
    fn options_are_skipped() {
        // IHL 6: one word of options (Router Alert, RFC 2113).
        let mut bytes = [0u8; 28];
        bytes[..20].copy_from_slice(&UDP_PACKET[..20]);
        bytes[0] = 0x46;
        bytes[3] = 28;
        bytes[20..24].copy_from_slice(&[0x94, 0x04, 0x00, 0x00]);
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(packet.payload().len(), 4);
        assert_eq!(Ipv4Repr::parse(&packet).unwrap().payload_len, 4);
    }

    #[test]
    fn fragments() {
        let mut bytes = UDP_PACKET;
        let mut packet = Ipv4Packet::new_unchecked(&mut bytes[..]);
        packet.set_more_frags(true);
        packet.set_frag_offset(1480);
        assert!(packet.dont_frag());
        assert!(packet.more_frags());
        assert_eq!(packet.frag_offset(), 1480);
        assert!(packet.is_fragment());
        assert_eq!(&bytes[6..8], &[0x60, 0xb9]);
    }

    #[test]
    fn malformed_headers() {
        let parse = |bytes: &[u8]| Ipv4Repr::parse(&Ipv4Packet::new_unchecked(bytes));
        assert_eq!(parse(&[]), Err(DropReason::Ipv4Truncated));
        assert_eq!(parse(&UDP_PACKET[..19]), Err(DropReason::Ipv4Truncated));
        let mut bytes = UDP_PACKET;
        bytes[0] = 0x65;
        assert_eq!(parse(&bytes), Err(DropReason::Ipv4BadVersion));
        bytes[0] = 0x44;
        assert_eq!(parse(&bytes), Err(DropReason::Ipv4BadHeaderLength));
        bytes[0] = 0x48; // 32-byte header in a 30-byte buffer
        assert_eq!(parse(&bytes), Err(DropReason::Ipv4BadHeaderLength));
        bytes[0] = 0x45;
        bytes[3] = 19;
        assert_eq!(parse(&bytes), Err(DropReason::Ipv4BadTotalLength));
        bytes[3] = 31;
        assert_eq!(parse(&bytes), Err(DropReason::Ipv4BadTotalLength));
        bytes[3] = 30;
        assert!(parse(&bytes).is_ok());
    }

    #[test]
    fn emit_into_short_buffer_writes_nothing() {
        let repr = Ipv4Repr::parse(&Ipv4Packet::new_unchecked(&UDP_PACKET[..])).unwrap();
        assert_short_emit_writes_nothing(HEADER_LEN, |bytes| {
            repr.emit(&mut Ipv4Packet::new_unchecked(bytes))
        });
    }

    fn arbitrary_repr() -> impl Strategy<Value = Ipv4Repr> {
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u8>(),
            0u16..=200,
            any::<(u8, u8, u16)>(),
            any::<(bool, bool)>(),
            0u16..8192,
        )
            .prop_map(
                |(src_addr, dst_addr, protocol, payload_len, (ttl, tos, ident), flags, units)| {
                    Ipv4Repr {
                        src_addr,
                        dst_addr,
                        protocol,
                        payload_len,
                        ttl,
                        tos,
                        ident,
                        dont_frag: flags.0,
                        more_frags: flags.1,
                        frag_offset: units * 8,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(repr in arbitrary_repr()) {
            let mut bytes = vec![0xa5u8; repr.buffer_len()];
            repr.emit(&mut Ipv4Packet::new_unchecked(&mut bytes[..])).unwrap();
            let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
            prop_assert!(packet.verify_checksum());
            prop_assert_eq!(Ipv4Repr::parse(&packet), Ok(repr));
        }

        #[test]
        fn any_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let packet = Ipv4Packet::new_unchecked(&bytes[..]);
            let _ = (packet.version(), packet.header_len(), packet.dscp(), packet.ecn());
            let _ = (packet.total_len(), packet.ident(), packet.dont_frag(), packet.more_frags());
            let _ = (packet.frag_offset(), packet.ttl(), packet.protocol(), packet.checksum());
            let _ = (packet.src_addr(), packet.dst_addr(), packet.options(), packet.payload());
            let _ = (packet.verify_checksum(), Ipv4Repr::parse(&packet));
            if let Ok(packet) = Ipv4Packet::new_checked(&bytes[..]) {
                prop_assert_eq!(
                    packet.header().len() + packet.payload().len(),
                    usize::from(packet.total_len())
                );
            }
            let mut packet = Ipv4Packet::new_unchecked(&mut bytes[..]);
            packet.set_header_len(60);
            packet.set_total_len(u16::MAX);
            packet.set_frag_offset(u16::MAX);
            packet.fill_checksum();
            let _ = packet.payload_mut();
        }
    }
}
