//! Ethernet II frames (IEEE 802.3 clause 3.2.6, "Length/Type" used as a
//! type): destination MAC, source MAC, EtherType.
//!
//! Supported: the 14-byte header of Ethernet II frames. Not supported: the
//! preamble and frame check sequence (the NIC strips both), and 802.3
//! length-field frames with LLC/SNAP (a Length/Type value below 0x0600 is
//! reported as an EtherType like any other; the switch forwards such frames
//! on L2 fields only). VLAN tags are the [`super::vlan`] module's.

use crate::flow::Mac;
use crate::DropReason;

use super::{
    check_min_len, check_room, clipped, clipped_mut, read_array, read_u16, write_array, write_u16,
    EmitError,
};

/// Byte offsets of the Ethernet header fields.
pub mod field {
    use core::ops::{Range, RangeFrom};

    /// Destination MAC address.
    pub const DESTINATION: Range<usize> = 0..6;
    /// Source MAC address.
    pub const SOURCE: Range<usize> = 6..12;
    /// EtherType of the payload, or the TPID of a VLAN tag.
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// The payload (after an untagged header).
    pub const PAYLOAD: RangeFrom<usize> = 14..;
}

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// EtherType values the switch knows by name (IEEE registry).
pub mod ethertype {
    /// IPv4 (RFC 894).
    pub const IPV4: u16 = 0x0800;
    /// ARP (RFC 826).
    pub const ARP: u16 = 0x0806;
    /// IEEE 802.1Q customer VLAN tag (C-tag) TPID.
    pub const VLAN: u16 = 0x8100;
    /// IPv6 (RFC 2464).
    pub const IPV6: u16 = 0x86dd;
    /// MPLS unicast (RFC 3032).
    pub const MPLS: u16 = 0x8847;
    /// IEEE 802.1ad service VLAN tag (S-tag) TPID, QinQ's outer tag.
    pub const QINQ: u16 = 0x88a8;
    /// IEEE 802.1AB Link Layer Discovery Protocol.
    pub const LLDP: u16 = 0x88cc;
}

/// The length rule of an Ethernet frame: `Err(EthTruncated)` if `frame` is
/// shorter than the header. Shared by [`EthernetFrame::check_len`] and the
/// fast path.
#[inline(always)]
pub fn check_len(frame: &[u8]) -> Result<(), DropReason> {
    check_min_len(frame, HEADER_LEN, DropReason::EthTruncated)
}

/// A view of an Ethernet II frame in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps a buffer without checking its length (accessors of fields past
    /// the end read 0 and write nothing).
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps a buffer that holds at least a full header.
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// `Err(EthTruncated)` if the buffer is shorter than the header (the
    /// rule of [`check_len`]).
    pub fn check_len(&self) -> Result<(), DropReason> {
        check_len(self.buffer.as_ref())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC address.
    pub fn dst_addr(&self) -> Mac {
        read_array(self.buffer.as_ref(), field::DESTINATION.start)
    }

    /// Source MAC address.
    pub fn src_addr(&self) -> Mac {
        read_array(self.buffer.as_ref(), field::SOURCE.start)
    }

    /// EtherType, or a VLAN TPID for a tagged frame.
    pub fn ethertype(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ETHERTYPE.start)
    }

    /// Everything after the 14-byte header (VLAN tags included, if any).
    pub fn payload(&self) -> &[u8] {
        let buffer = self.buffer.as_ref();
        clipped(buffer, field::PAYLOAD.start, buffer.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC address.
    pub fn set_dst_addr(&mut self, addr: Mac) {
        write_array(self.buffer.as_mut(), field::DESTINATION.start, addr);
    }

    /// Sets the source MAC address.
    pub fn set_src_addr(&mut self, addr: Mac) {
        write_array(self.buffer.as_mut(), field::SOURCE.start, addr);
    }

    /// Sets the EtherType (or TPID).
    pub fn set_ethertype(&mut self, ethertype: u16) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE.start, ethertype);
    }

    /// The payload, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let buffer = self.buffer.as_mut();
        let end = buffer.len();
        clipped_mut(buffer, field::PAYLOAD.start, end)
    }
}

/// The fields of an Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Destination MAC address.
    pub dst_addr: Mac,
    /// Source MAC address.
    pub src_addr: Mac,
    /// EtherType (or the TPID of the first VLAN tag).
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Reads the header of a frame. Any address and EtherType is accepted:
    /// which ones to drop is the ingress stage's decision.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        frame: &EthernetFrame<&T>,
    ) -> Result<EthernetRepr, DropReason> {
        frame.check_len()?;
        Ok(EthernetRepr {
            dst_addr: frame.dst_addr(),
            src_addr: frame.src_addr(),
            ethertype: frame.ethertype(),
        })
    }

    /// Length of the header this emits.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `frame`, or
    /// nothing if the buffer is shorter.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        frame: &mut EthernetFrame<T>,
    ) -> Result<(), EmitError> {
        check_room(frame.buffer.as_ref(), HEADER_LEN)?;
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::assert_short_emit_writes_nothing;
    use proptest::prelude::*;

    /// An ARP request from 52:54:00:12:34:56, broadcast, with 18 bytes of
    /// the ARP body shown.
    const ARP_BROADCAST: [u8; 20] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04,
    ];

    #[test]
    fn reads_header_fields() {
        let frame = EthernetFrame::new_checked(&ARP_BROADCAST[..]).unwrap();
        assert_eq!(frame.dst_addr(), [0xff; 6]);
        assert_eq!(frame.src_addr(), [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert_eq!(frame.ethertype(), ethertype::ARP);
        assert_eq!(frame.payload(), &[0x00, 0x01, 0x08, 0x00, 0x06, 0x04]);
        let repr = EthernetRepr::parse(&frame).unwrap();
        assert_eq!(repr.ethertype, ethertype::ARP);
        assert_eq!(repr.header_len(), 14);
    }

    #[test]
    fn short_frame_is_truncated() {
        assert_eq!(
            EthernetFrame::new_checked(&ARP_BROADCAST[..13]).unwrap_err(),
            DropReason::EthTruncated
        );
        let frame = EthernetFrame::new_unchecked(&ARP_BROADCAST[..13]);
        assert_eq!(frame.ethertype(), 0);
        assert_eq!(frame.payload(), &[] as &[u8]);
        assert_eq!(
            EthernetRepr::parse(&frame).unwrap_err(),
            DropReason::EthTruncated
        );
    }

    #[test]
    fn setters_write_fields() {
        let mut bytes = ARP_BROADCAST;
        let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
        frame.set_dst_addr([1, 2, 3, 4, 5, 6]);
        frame.set_src_addr([7, 8, 9, 10, 11, 12]);
        frame.set_ethertype(ethertype::IPV6);
        frame.payload_mut()[0] = 0xaa;
        assert_eq!(
            &bytes[..15],
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x86, 0xdd, 0xaa]
        );
    }

    #[test]
    fn emit_into_short_buffer_writes_nothing() {
        let repr = EthernetRepr::parse(&EthernetFrame::new_unchecked(&ARP_BROADCAST[..])).unwrap();
        assert_short_emit_writes_nothing(HEADER_LEN, |bytes| {
            repr.emit(&mut EthernetFrame::new_unchecked(bytes))
        });
    }

    fn arbitrary_repr() -> impl Strategy<Value = EthernetRepr> {
        (any::<Mac>(), any::<Mac>(), any::<u16>()).prop_map(|(dst_addr, src_addr, ethertype)| {
            EthernetRepr {
                dst_addr,
                src_addr,
                ethertype,
            }
        })
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(repr in arbitrary_repr()) {
            let mut bytes = vec![0u8; repr.header_len()];
            repr.emit(&mut EthernetFrame::new_unchecked(&mut bytes[..])).unwrap();
            let frame = EthernetFrame::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(EthernetRepr::parse(&frame), Ok(repr));
        }

        #[test]
        fn any_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let frame = EthernetFrame::new_unchecked(&bytes[..]);
            let _ = (frame.dst_addr(), frame.src_addr(), frame.ethertype(), frame.payload());
            let _ = EthernetRepr::parse(&frame);
            if let Ok(frame) = EthernetFrame::new_checked(&bytes[..]) {
                prop_assert!(EthernetRepr::parse(&frame).is_ok());
            }
            let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
            frame.set_dst_addr([1; 6]);
            frame.set_src_addr([2; 6]);
            frame.set_ethertype(3);
            let _ = frame.payload_mut();
        }
    }
}
