//! VLAN tags: IEEE 802.1Q customer tags (TPID 0x8100) and IEEE 802.1ad
//! service tags (TPID 0x88a8, the outer tag of QinQ).
//!
//! A tag sits where the EtherType would be: a 16-bit TPID, then the 16-bit
//! Tag Control Information (802.1Q clause 9.6: "PCP" 3 bits, "DEI" 1 bit,
//! "VID" 12 bits), then the EtherType of what the tag encloses. The TPID is
//! read as the EtherType of the header before it, so [`VlanHeader`] views
//! the 4 bytes *after* the TPID: TCI, then the inner EtherType (or the next
//! tag's TPID). Views then chain: an [`EthernetFrame`] whose EtherType is a
//! TPID has a `VlanHeader` as payload, whose payload is the next header.
//!
//! Every VID is accepted. 802.1Q Table 9-2: VID 0 "indicates that the tag
//! header contains only priority information" (a priority tag), and VID
//! 0xFFF is "reserved for implementation use"; what to do with them is the
//! ingress stage's decision. The obsolete 0x9100 QinQ TPID is not a tag.
//!
//! [`EthernetFrame`]: super::ethernet::EthernetFrame

use crate::DropReason;

use super::ethernet::ethertype;
use super::{check_min_len, check_room, clipped, clipped_mut, read_u16, write_u16, EmitError};

/// Byte offsets within a tag, counted from just after the TPID.
pub mod field {
    use core::ops::{Range, RangeFrom};

    /// Tag Control Information: PCP (3 bits), DEI (1 bit), VID (12 bits).
    pub const TCI: Range<usize> = 0..2;
    /// EtherType of the enclosed payload, or the next tag's TPID.
    pub const ETHERTYPE: Range<usize> = 2..4;
    /// What the tag encloses.
    pub const PAYLOAD: RangeFrom<usize> = 4..;
}

/// Bytes a tag adds to a frame.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// The VID bits of the TCI.
pub const VID_MASK: u16 = 0x0fff;

/// True if `ethertype` is a VLAN tag's TPID: 802.1Q (0x8100) or 802.1ad
/// (0x88a8).
#[inline]
pub const fn is_tpid(ethertype: u16) -> bool {
    matches!(ethertype, ethertype::VLAN | ethertype::QINQ)
}

/// The length rule of a tag: `Err(VlanTruncated)` if `tag` (the bytes
/// after the TPID) is shorter than the TCI and inner EtherType. Shared by
/// [`VlanHeader::check_len`] and the fast path.
#[inline(always)]
pub fn check_len(tag: &[u8]) -> Result<(), DropReason> {
    check_min_len(tag, HEADER_LEN, DropReason::VlanTruncated)
}

/// A view of a VLAN tag (after its TPID) in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VlanHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanHeader<T> {
    /// Wraps a buffer without checking its length (accessors of fields past
    /// the end read 0 and write nothing).
    pub const fn new_unchecked(buffer: T) -> Self {
        VlanHeader { buffer }
    }

    /// Wraps a buffer that holds at least the TCI and inner EtherType.
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// `Err(VlanTruncated)` if the buffer is shorter than the tag (the rule
    /// of [`check_len`]).
    pub fn check_len(&self) -> Result<(), DropReason> {
        check_len(self.buffer.as_ref())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole Tag Control Information field.
    pub fn tci(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::TCI.start)
    }

    /// Priority Code Point (0-7).
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop Eligible Indicator.
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier (12 bits).
    pub fn vid(&self) -> u16 {
        self.tci() & VID_MASK
    }

    /// EtherType of the enclosed payload, or the next tag's TPID.
    pub fn ethertype(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ETHERTYPE.start)
    }

    /// What the tag encloses.
    pub fn payload(&self) -> &[u8] {
        let buffer = self.buffer.as_ref();
        clipped(buffer, field::PAYLOAD.start, buffer.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanHeader<T> {
    /// Sets the whole Tag Control Information field.
    pub fn set_tci(&mut self, tci: u16) {
        write_u16(self.buffer.as_mut(), field::TCI.start, tci);
    }

    /// Sets the Priority Code Point (the low 3 bits of `pcp`).
    pub fn set_pcp(&mut self, pcp: u8) {
        let tci = (self.tci() & 0x1fff) | (u16::from(pcp & 0x07) << 13);
        self.set_tci(tci);
    }

    /// Sets the Drop Eligible Indicator.
    pub fn set_dei(&mut self, dei: bool) {
        let tci = (self.tci() & !0x1000) | (u16::from(dei) << 12);
        self.set_tci(tci);
    }

    /// Sets the VLAN identifier (the low 12 bits of `vid`).
    pub fn set_vid(&mut self, vid: u16) {
        let tci = (self.tci() & !VID_MASK) | (vid & VID_MASK);
        self.set_tci(tci);
    }

    /// Sets the inner EtherType (or next TPID).
    pub fn set_ethertype(&mut self, ethertype: u16) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE.start, ethertype);
    }

    /// The enclosed payload, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let buffer = self.buffer.as_mut();
        let end = buffer.len();
        clipped_mut(buffer, field::PAYLOAD.start, end)
    }
}

/// The fields of a VLAN tag (after its TPID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanRepr {
    /// Priority Code Point (0-7).
    pub pcp: u8,
    /// Drop Eligible Indicator.
    pub dei: bool,
    /// VLAN identifier (0-4095).
    pub vid: u16,
    /// EtherType of the enclosed payload, or the next tag's TPID.
    pub ethertype: u16,
}

impl VlanRepr {
    /// Reads a tag.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(header: &VlanHeader<&T>) -> Result<VlanRepr, DropReason> {
        header.check_len()?;
        Ok(VlanRepr {
            pcp: header.pcp(),
            dei: header.dei(),
            vid: header.vid(),
            ethertype: header.ethertype(),
        })
    }

    /// Length of the tag this emits (after its TPID).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the tag, or nothing if the buffer is shorter than
    /// [`HEADER_LEN`]; `pcp` and `vid` are masked to their widths.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        header: &mut VlanHeader<T>,
    ) -> Result<(), EmitError> {
        check_room(header.buffer.as_ref(), HEADER_LEN)?;
        let tci = (u16::from(self.pcp & 0x07) << 13)
            | (u16::from(self.dei) << 12)
            | (self.vid & VID_MASK);
        header.set_tci(tci);
        header.set_ethertype(self.ethertype);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::assert_short_emit_writes_nothing;
    use crate::wire::ethernet::EthernetFrame;
    use proptest::prelude::*;

    /// A QinQ frame: S-tag VID 100 PCP 5, C-tag VID 0x123 with DEI, then IPv4.
    const QINQ_FRAME: [u8; 24] = [
        0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, // MACs
        0x88, 0xa8, 0xa0, 0x64, // S-tag: TPID, PCP 5, VID 100
        0x81, 0x00, 0x11, 0x23, // C-tag: TPID, DEI, VID 0x123
        0x08, 0x00, // IPv4
        0x45, 0x00,
    ];

    #[test]
    fn chained_views_read_both_tags() {
        let frame = EthernetFrame::new_checked(&QINQ_FRAME[..]).unwrap();
        assert!(is_tpid(frame.ethertype()));
        let outer = VlanHeader::new_checked(frame.payload()).unwrap();
        assert_eq!((outer.pcp(), outer.dei(), outer.vid()), (5, false, 100));
        assert!(is_tpid(outer.ethertype()));
        let inner = VlanHeader::new_checked(outer.payload()).unwrap();
        assert_eq!((inner.pcp(), inner.dei(), inner.vid()), (0, true, 0x123));
        assert_eq!(inner.ethertype(), ethertype::IPV4);
        assert_eq!(inner.payload(), &[0x45, 0x00]);
        assert_eq!(
            VlanRepr::parse(&inner),
            Ok(VlanRepr {
                pcp: 0,
                dei: true,
                vid: 0x123,
                ethertype: ethertype::IPV4
            })
        );
    }

    #[test]
    fn tpids() {
        assert!(is_tpid(0x8100));
        assert!(is_tpid(0x88a8));
        assert!(!is_tpid(0x9100));
        assert!(!is_tpid(0x0800));
    }

    #[test]
    fn cut_tag_is_truncated() {
        assert_eq!(
            VlanHeader::new_checked(&QINQ_FRAME[14..17]).unwrap_err(),
            DropReason::VlanTruncated
        );
    }

    #[test]
    fn setters_keep_other_tci_bits() {
        let mut bytes = [0xa0, 0x64, 0x08, 0x00];
        let mut tag = VlanHeader::new_unchecked(&mut bytes[..]);
        tag.set_vid(0xfff);
        tag.set_dei(true);
        tag.set_pcp(1);
        tag.set_ethertype(ethertype::IPV6);
        assert_eq!(bytes, [0x3f, 0xff, 0x86, 0xdd]);
    }

    #[test]
    fn emit_into_short_buffer_writes_nothing() {
        let repr = VlanRepr::parse(&VlanHeader::new_unchecked(&QINQ_FRAME[14..])).unwrap();
        assert_short_emit_writes_nothing(HEADER_LEN, |bytes| {
            repr.emit(&mut VlanHeader::new_unchecked(bytes))
        });
    }

    fn arbitrary_repr() -> impl Strategy<Value = VlanRepr> {
        (0u8..8, any::<bool>(), 0u16..4096, any::<u16>()).prop_map(|(pcp, dei, vid, ethertype)| {
            VlanRepr {
                pcp,
                dei,
                vid,
                ethertype,
            }
        })
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(repr in arbitrary_repr()) {
            let mut bytes = [0u8; HEADER_LEN];
            repr.emit(&mut VlanHeader::new_unchecked(&mut bytes[..])).unwrap();
            let header = VlanHeader::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(VlanRepr::parse(&header), Ok(repr));
        }

        #[test]
        fn any_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..8)) {
            let header = VlanHeader::new_unchecked(&bytes[..]);
            let _ = (header.tci(), header.pcp(), header.dei(), header.vid());
            let _ = (header.ethertype(), header.payload(), VlanRepr::parse(&header));
            let _ = VlanHeader::new_checked(&bytes[..]).map(|h| VlanRepr::parse(&h));
            let mut header = VlanHeader::new_unchecked(&mut bytes[..]);
            header.set_pcp(7);
            header.set_dei(true);
            header.set_vid(1);
            header.set_ethertype(2);
            let _ = header.payload_mut();
        }
    }
}
