//! VXLAN headers (RFC 7348 section 5).
//!
//! RFC 7348 section 5, "VXLAN Header: This is an 8-byte field that has:
//! Flags (8 bits): where the I flag MUST be set to 1 for a valid VXLAN
//! Network ID (VNI). The other 7 bits (designated "R") are reserved fields
//! and MUST be set to zero on transmission and ignored on receipt. VXLAN
//! Segment ID/VXLAN Network Identifier (VNI): this is a 24-bit value ...
//! Reserved fields (24 bits and 8 bits): MUST be set to zero on
//! transmission and ignored on receipt."
//!
//! ```text
//! |R|R|R|R|I|R|R|R|            Reserved                           |
//! |                VXLAN Network Identifier (VNI) |   Reserved    |
//! ```
//!
//! Supported: the 8-byte header; the payload after it is the inner
//! Ethernet frame. Not supported: the extensions that give the reserved
//! bits a meaning (VXLAN-GPE, Group Based Policy): their bits are ignored
//! as RFC 7348 says, and a frame is read as plain VXLAN.

use crate::DropReason;

use super::{
    check_min_len, check_room, clipped, clipped_mut, read_u32, read_u8, write_array, write_u32,
    write_u8, EmitError,
};

/// Byte offsets of the VXLAN header fields.
pub mod field {
    use core::ops::{Range, RangeFrom};

    /// Flags: the I flag and 7 reserved bits.
    pub const FLAGS: usize = 0;
    /// The 24 reserved bits after the flags.
    pub const RESERVED_0: Range<usize> = 1..4;
    /// The VNI (3 bytes) and the last reserved byte, read as one word.
    pub const VNI_RESERVED: Range<usize> = 4..8;
    /// The VXLAN Network Identifier.
    pub const VNI: Range<usize> = 4..7;
    /// The last 8 reserved bits.
    pub const RESERVED_1: usize = 7;
    /// The inner Ethernet frame.
    pub const PAYLOAD: RangeFrom<usize> = 8..;
}

/// Length of the header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// RFC 7348 section 5: "Destination Port: IANA has assigned the value 4789
/// for the VXLAN UDP port".
pub const DEFAULT_PORT: u16 = 4789;

/// The I flag: "The I flag MUST be set to 1 for a valid VXLAN Network ID".
pub const FLAG_VNI: u8 = 0x08;

/// The largest VNI: it is 24 bits.
pub const MAX_VNI: u32 = 0x00ff_ffff;

/// The receive rule of a VXLAN header, shared by [`VxlanRepr::parse`] and
/// the fast path; on success, the VNI.
///
/// `VxlanTruncated` if `header` is shorter than 8 bytes, `VxlanBadFlags`
/// unless the I flag is set. The reserved bits, flags included, are not
/// looked at: RFC 7348 section 5, they "MUST be set to zero on
/// transmission and ignored on receipt".
#[inline(always)]
pub fn parse_header(header: &[u8]) -> Result<u32, DropReason> {
    check_min_len(header, HEADER_LEN, DropReason::VxlanTruncated)?;
    if read_u8(header, field::FLAGS) & FLAG_VNI == 0 {
        return Err(DropReason::VxlanBadFlags);
    }
    Ok(read_u32(header, field::VNI_RESERVED.start) >> 8)
}

/// The header to send for `vni` (its low 24 bits): the I flag set and
/// every reserved bit zero. The fast path copies it into a template.
#[inline(always)]
pub const fn header(vni: u32) -> [u8; HEADER_LEN] {
    let [_, high, middle, low] = vni.to_be_bytes();
    [FLAG_VNI, 0, 0, 0, high, middle, low, 0]
}

/// A view of a VXLAN header and the frame it carries, in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VxlanPacket<T> {
    /// Wraps a buffer without checking its length (accessors of fields past
    /// the end read 0 or empty and write nothing).
    pub const fn new_unchecked(buffer: T) -> Self {
        VxlanPacket { buffer }
    }

    /// Wraps a buffer that holds at least the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `VxlanTruncated` if the buffer is shorter than the header. The I
    /// flag is [`VxlanRepr::parse`]'s to check ([`parse_header`]).
    pub fn check_len(&self) -> Result<(), DropReason> {
        check_min_len(self.buffer.as_ref(), HEADER_LEN, DropReason::VxlanTruncated)
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The flags byte, reserved bits included.
    pub fn flags(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::FLAGS)
    }

    /// True if the I flag is set.
    pub fn vni_valid(&self) -> bool {
        self.flags() & FLAG_VNI != 0
    }

    /// The VXLAN Network Identifier (24 bits).
    pub fn vni(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VNI_RESERVED.start) >> 8
    }

    /// The inner Ethernet frame: everything after the header.
    pub fn payload(&self) -> &[u8] {
        let buffer = self.buffer.as_ref();
        clipped(buffer, field::PAYLOAD.start, buffer.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VxlanPacket<T> {
    /// Sets the flags byte as it is.
    pub fn set_flags(&mut self, flags: u8) {
        write_u8(self.buffer.as_mut(), field::FLAGS, flags);
    }

    /// Sets the VNI (its low 24 bits), keeping the reserved byte after it.
    pub fn set_vni(&mut self, vni: u32) {
        let reserved = read_u8(self.buffer.as_ref(), field::RESERVED_1);
        let word = ((vni & MAX_VNI) << 8) | u32::from(reserved);
        write_u32(self.buffer.as_mut(), field::VNI_RESERVED.start, word);
    }

    /// Zeroes the 32 reserved bits outside the flags byte.
    pub fn clear_reserved(&mut self) {
        write_array(self.buffer.as_mut(), field::RESERVED_0.start, [0; 3]);
        write_u8(self.buffer.as_mut(), field::RESERVED_1, 0);
    }

    /// The inner frame, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let buffer = self.buffer.as_mut();
        let end = buffer.len();
        clipped_mut(buffer, field::PAYLOAD.start, end)
    }
}

/// The one field of a valid VXLAN header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VxlanRepr {
    /// The VXLAN Network Identifier: 24 bits (only the low 24 are emitted).
    pub vni: u32,
}

impl VxlanRepr {
    /// Reads a header with the rule of [`parse_header`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &VxlanPacket<&T>,
    ) -> Result<VxlanRepr, DropReason> {
        parse_header(packet.buffer.as_ref()).map(|vni| VxlanRepr { vni })
    }

    /// Length of the header: 8 bytes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes [`header`] into the first 8 bytes of `packet`, or nothing if
    /// the buffer is shorter.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut VxlanPacket<T>,
    ) -> Result<(), EmitError> {
        check_room(packet.buffer.as_ref(), HEADER_LEN)?;
        write_array(packet.buffer.as_mut(), 0, header(self.vni));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::assert_short_emit_writes_nothing;
    use proptest::prelude::*;

    /// RFC 7348's header for VNI 0x123456, then 2 bytes of the inner frame.
    const HEADER: [u8; 10] = [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0, 0xaa, 0xbb];

    #[test]
    fn reads_header() {
        let packet = VxlanPacket::new_checked(&HEADER[..]).unwrap();
        assert_eq!(packet.flags(), FLAG_VNI);
        assert!(packet.vni_valid());
        assert_eq!(packet.vni(), 0x12_3456);
        assert_eq!(packet.payload(), &[0xaa, 0xbb]);
        assert_eq!(VxlanRepr::parse(&packet), Ok(VxlanRepr { vni: 0x12_3456 }));
        assert_eq!(parse_header(&HEADER), Ok(0x12_3456));
        assert_eq!(header(0x12_3456), HEADER[..8]);
    }

    #[test]
    fn reserved_bits_are_ignored_on_receipt() {
        let mut bytes = HEADER;
        bytes[0] = 0xff;
        bytes[1..4].copy_from_slice(&[0xff; 3]);
        bytes[7] = 0xff;
        assert_eq!(parse_header(&bytes), Ok(0x12_3456));
        let mut packet = VxlanPacket::new_unchecked(&mut bytes[..]);
        packet.set_vni(0xab_cdef);
        assert_eq!(packet.vni(), 0xab_cdef);
        assert_eq!(packet.flags(), 0xff);
        packet.clear_reserved();
        packet.set_flags(FLAG_VNI);
        assert_eq!(&bytes[..8], &header(0xab_cdef));
    }

    #[test]
    fn bad_headers() {
        assert_eq!(parse_header(&HEADER[..7]), Err(DropReason::VxlanTruncated));
        assert_eq!(
            VxlanPacket::new_checked(&HEADER[..7]),
            Err(DropReason::VxlanTruncated)
        );
        let mut bytes = HEADER;
        bytes[0] = 0xf7;
        assert_eq!(parse_header(&bytes), Err(DropReason::VxlanBadFlags));
        let packet = VxlanPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(VxlanRepr::parse(&packet), Err(DropReason::VxlanBadFlags));
        assert_eq!(VxlanPacket::new_unchecked(&bytes[..3]).vni(), 0);
    }

    #[test]
    fn emit_masks_the_vni_and_short_buffer_gets_nothing() {
        assert_eq!(header(0xff12_3456), HEADER[..8]);
        let repr = VxlanRepr { vni: 7 };
        assert_short_emit_writes_nothing(HEADER_LEN, |bytes| {
            repr.emit(&mut VxlanPacket::new_unchecked(bytes))
        });
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(vni in 0..=MAX_VNI, payload in any::<[u8; 4]>()) {
            let repr = VxlanRepr { vni };
            let mut bytes = [0xa5u8; HEADER_LEN + 4];
            bytes[HEADER_LEN..].copy_from_slice(&payload);
            repr.emit(&mut VxlanPacket::new_unchecked(&mut bytes[..])).unwrap();
            prop_assert_eq!(&bytes[..HEADER_LEN], &header(vni));
            let packet = VxlanPacket::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(packet.payload(), &payload);
            prop_assert_eq!(VxlanRepr::parse(&packet), Ok(repr));
            prop_assert_eq!(parse_header(&bytes), Ok(vni));
        }

        #[test]
        fn any_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            let packet = VxlanPacket::new_unchecked(&bytes[..]);
            let _ = (packet.flags(), packet.vni(), packet.vni_valid(), packet.payload());
            let parsed = VxlanRepr::parse(&packet).map(|repr| repr.vni);
            prop_assert_eq!(parsed, parse_header(&bytes));
            let mut packet = VxlanPacket::new_unchecked(&mut bytes[..]);
            packet.set_vni(u32::MAX);
            packet.set_flags(0);
            packet.clear_reserved();
            let _ = packet.payload_mut();
        }
    }
}
