//! ARP packets (RFC 826).
//!
//! RFC 826 packet format: "ar$hrd 16 bits (Hardware address space),
//! ar$pro 16 bits (Protocol address space), ar$hln 8 bits (byte length of
//! each hardware address), ar$pln 8 bits (byte length of each protocol
//! address), ar$op 16 bits (opcode), ar$sha nbytes, ar$spa mbytes, ar$tha
//! nbytes, ar$tpa mbytes".
//!
//! [`ArpPacket`] reads any hardware and protocol address lengths.
//! [`ArpRepr`] supports only Ethernet/IPv4 (hardware type 1, protocol type
//! 0x0800, lengths 6 and 4), the only kind an Ethernet switch with IPv4
//! hosts meets; others are [`DropReason::ArpUnsupported`]. Trailing bytes
//! past the addresses (Ethernet padding) are ignored.

use core::ops::Range;

use crate::flow::{Mac, BROADCAST};
use crate::DropReason;

use super::ethernet::{self, ethertype, EthernetFrame, EthernetRepr};
use super::{
    check_min_len, check_room, clipped, clipped_mut, read_array, read_u16, read_u8, write_u16,
    write_u8, EmitError,
};

/// Byte offsets of the ARP fields. The address fields move with the
/// address lengths, so they are functions of them.
pub mod field {
    use core::ops::Range;

    /// Hardware type (ar$hrd).
    pub const HARDWARE_TYPE: Range<usize> = 0..2;
    /// Protocol type (ar$pro), an EtherType.
    pub const PROTOCOL_TYPE: Range<usize> = 2..4;
    /// Hardware address length (ar$hln).
    pub const HARDWARE_LEN: usize = 4;
    /// Protocol address length (ar$pln).
    pub const PROTOCOL_LEN: usize = 5;
    /// Opcode (ar$op).
    pub const OPERATION: Range<usize> = 6..8;
    /// Where the addresses start.
    pub const ADDRESSES: usize = 8;

    /// Sender hardware address (ar$sha).
    pub const fn source_hardware_addr(hardware_len: u8, _protocol_len: u8) -> Range<usize> {
        let start = ADDRESSES;
        start..start + hardware_len as usize
    }

    /// Sender protocol address (ar$spa).
    pub const fn source_protocol_addr(hardware_len: u8, protocol_len: u8) -> Range<usize> {
        let start = source_hardware_addr(hardware_len, protocol_len).end;
        start..start + protocol_len as usize
    }

    /// Target hardware address (ar$tha).
    pub const fn target_hardware_addr(hardware_len: u8, protocol_len: u8) -> Range<usize> {
        let start = source_protocol_addr(hardware_len, protocol_len).end;
        start..start + hardware_len as usize
    }

    /// Target protocol address (ar$tpa).
    pub const fn target_protocol_addr(hardware_len: u8, protocol_len: u8) -> Range<usize> {
        let start = target_hardware_addr(hardware_len, protocol_len).end;
        start..start + protocol_len as usize
    }
}

/// Length of the fixed part before the addresses.
pub const FIXED_LEN: usize = field::ADDRESSES;

/// ar$hln of Ethernet: a MAC is 6 bytes.
pub const ETHERNET_ADDR_LEN: u8 = 6;
/// ar$pln of IPv4: an address is 4 bytes.
pub const IPV4_ADDR_LEN: u8 = 4;

/// Length of an Ethernet/IPv4 ARP packet.
pub const ETHERNET_IPV4_LEN: usize =
    field::target_protocol_addr(ETHERNET_ADDR_LEN, IPV4_ADDR_LEN).end;

/// Hardware type of Ethernet (RFC 826: "ares_hrd$Ethernet").
pub const HARDWARE_ETHERNET: u16 = 1;

/// ARP opcodes.
pub mod operation {
    /// "ares_op$REQUEST".
    pub const REQUEST: u16 = 1;
    /// "ares_op$REPLY".
    pub const REPLY: u16 = 2;
}

/// The length rule of any ARP packet: `Err(ArpTruncated)` if `packet` is
/// shorter than the fixed part or than the four addresses at the lengths
/// ar$hln and ar$pln state. [`ArpPacket::check_len`] applies it.
#[inline(always)]
pub fn check_len(packet: &[u8]) -> Result<(), DropReason> {
    check_min_len(packet, FIXED_LEN, DropReason::ArpTruncated)?;
    let hardware_len = read_u8(packet, field::HARDWARE_LEN);
    let protocol_len = read_u8(packet, field::PROTOCOL_LEN);
    let end = field::target_protocol_addr(hardware_len, protocol_len).end;
    check_min_len(packet, end, DropReason::ArpTruncated)
}

/// The rules of an Ethernet/IPv4 ARP packet, the only kind [`ArpRepr`] and
/// the fast path accept: `ArpTruncated` if the fixed part is cut short,
/// then `ArpUnsupported` for another hardware or protocol type or address
/// lengths other than 6 and 4, then [`check_len`]'s rule (28 bytes). The
/// kind is checked before the addresses so that an unsupported packet is
/// reported as such even when it is also short.
#[inline(always)]
pub fn check_ethernet_ipv4(packet: &[u8]) -> Result<(), DropReason> {
    check_min_len(packet, FIXED_LEN, DropReason::ArpTruncated)?;
    if read_u16(packet, field::HARDWARE_TYPE.start) != HARDWARE_ETHERNET
        || read_u16(packet, field::PROTOCOL_TYPE.start) != ethertype::IPV4
        || read_u8(packet, field::HARDWARE_LEN) != ETHERNET_ADDR_LEN
        || read_u8(packet, field::PROTOCOL_LEN) != IPV4_ADDR_LEN
    {
        return Err(DropReason::ArpUnsupported);
    }
    check_min_len(packet, ETHERNET_IPV4_LEN, DropReason::ArpTruncated)
}

/// A view of an ARP packet in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps a buffer without checking its length (accessors of fields past
    /// the end read 0 or empty and write nothing).
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps a buffer that holds the fixed part and all four addresses at
    /// their stated lengths.
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(ArpTruncated)` if the buffer is shorter than the fixed part or
    /// than the addresses its length fields announce (the rule of
    /// [`check_len`], for any kind of ARP).
    pub fn check_len(&self) -> Result<(), DropReason> {
        check_len(self.buffer.as_ref())
    }

    fn address(&self, range: Range<usize>) -> &[u8] {
        clipped(self.buffer.as_ref(), range.start, range.end)
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type (1 for Ethernet).
    pub fn hardware_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::HARDWARE_TYPE.start)
    }

    /// Protocol type, an EtherType (0x0800 for IPv4).
    pub fn protocol_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PROTOCOL_TYPE.start)
    }

    /// Length of each hardware address.
    pub fn hardware_len(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::HARDWARE_LEN)
    }

    /// Length of each protocol address.
    pub fn protocol_len(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::PROTOCOL_LEN)
    }

    /// Opcode ([`operation::REQUEST`], [`operation::REPLY`], ...).
    pub fn operation(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::OPERATION.start)
    }

    /// Sender hardware address.
    pub fn source_hardware_addr(&self) -> &[u8] {
        self.address(field::source_hardware_addr(
            self.hardware_len(),
            self.protocol_len(),
        ))
    }

    /// Sender protocol address.
    pub fn source_protocol_addr(&self) -> &[u8] {
        self.address(field::source_protocol_addr(
            self.hardware_len(),
            self.protocol_len(),
        ))
    }

    /// Target hardware address.
    pub fn target_hardware_addr(&self) -> &[u8] {
        self.address(field::target_hardware_addr(
            self.hardware_len(),
            self.protocol_len(),
        ))
    }

    /// Target protocol address.
    pub fn target_protocol_addr(&self) -> &[u8] {
        self.address(field::target_protocol_addr(
            self.hardware_len(),
            self.protocol_len(),
        ))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::HARDWARE_TYPE.start, value);
    }

    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::PROTOCOL_TYPE.start, value);
    }

    /// Sets the hardware address length (set it before the addresses).
    pub fn set_hardware_len(&mut self, value: u8) {
        write_u8(self.buffer.as_mut(), field::HARDWARE_LEN, value);
    }

    /// Sets the protocol address length (set it before the addresses).
    pub fn set_protocol_len(&mut self, value: u8) {
        write_u8(self.buffer.as_mut(), field::PROTOCOL_LEN, value);
    }

    /// Sets the opcode.
    pub fn set_operation(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::OPERATION.start, value);
    }

    /// Copies `addr` into a field, as much of it as fits both.
    fn set_address(&mut self, range: Range<usize>, addr: &[u8]) {
        let field = clipped_mut(self.buffer.as_mut(), range.start, range.end);
        let len = field.len().min(addr.len());
        if let (Some(field), Some(addr)) = (field.get_mut(..len), addr.get(..len)) {
            field.copy_from_slice(addr);
        }
    }

    /// Sets the sender hardware address: its first `hardware_len()` bytes.
    pub fn set_source_hardware_addr(&mut self, addr: &[u8]) {
        let range = field::source_hardware_addr(self.hardware_len(), self.protocol_len());
        self.set_address(range, addr);
    }

    /// Sets the sender protocol address: its first `protocol_len()` bytes.
    pub fn set_source_protocol_addr(&mut self, addr: &[u8]) {
        let range = field::source_protocol_addr(self.hardware_len(), self.protocol_len());
        self.set_address(range, addr);
    }

    /// Sets the target hardware address: its first `hardware_len()` bytes.
    pub fn set_target_hardware_addr(&mut self, addr: &[u8]) {
        let range = field::target_hardware_addr(self.hardware_len(), self.protocol_len());
        self.set_address(range, addr);
    }

    /// Sets the target protocol address: its first `protocol_len()` bytes.
    pub fn set_target_protocol_addr(&mut self, addr: &[u8]) {
        let range = field::target_protocol_addr(self.hardware_len(), self.protocol_len());
        self.set_address(range, addr);
    }
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Opcode ([`operation::REQUEST`], [`operation::REPLY`]; others are
    /// carried as they are).
    pub operation: u16,
    /// Sender MAC.
    pub source_hardware_addr: Mac,
    /// Sender IPv4 address.
    pub source_protocol_addr: [u8; 4],
    /// Target MAC (ignored in requests).
    pub target_hardware_addr: Mac,
    /// Target IPv4 address.
    pub target_protocol_addr: [u8; 4],
}

impl ArpRepr {
    /// Reads an Ethernet/IPv4 ARP packet with the checks of
    /// [`check_ethernet_ipv4`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &ArpPacket<&T>) -> Result<ArpRepr, DropReason> {
        let buffer = packet.buffer.as_ref();
        check_ethernet_ipv4(buffer)?;
        Ok(ArpRepr {
            operation: packet.operation(),
            source_hardware_addr: read_array(buffer, field::source_hardware_addr(6, 4).start),
            source_protocol_addr: read_array(buffer, field::source_protocol_addr(6, 4).start),
            target_hardware_addr: read_array(buffer, field::target_hardware_addr(6, 4).start),
            target_protocol_addr: read_array(buffer, field::target_protocol_addr(6, 4).start),
        })
    }

    /// Length of the packet this emits: 28 bytes.
    pub const fn buffer_len(&self) -> usize {
        ETHERNET_IPV4_LEN
    }

    /// Writes the packet into the first 28 bytes of `packet`, or nothing if
    /// the buffer is shorter.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut ArpPacket<T>,
    ) -> Result<(), EmitError> {
        check_room(packet.buffer.as_ref(), ETHERNET_IPV4_LEN)?;
        packet.set_hardware_type(HARDWARE_ETHERNET);
        packet.set_protocol_type(ethertype::IPV4);
        packet.set_hardware_len(ETHERNET_ADDR_LEN);
        packet.set_protocol_len(IPV4_ADDR_LEN);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(&self.source_hardware_addr);
        packet.set_source_protocol_addr(&self.source_protocol_addr);
        packet.set_target_hardware_addr(&self.target_hardware_addr);
        packet.set_target_protocol_addr(&self.target_protocol_addr);
        Ok(())
    }
}

/// Length of an Ethernet frame holding an Ethernet/IPv4 ARP packet, before
/// any padding: 14 + 28 = 42 bytes.
pub const FRAME_LEN: usize = ethernet::HEADER_LEN + ETHERNET_IPV4_LEN;

/// Writes `repr` in an Ethernet frame to `eth_dst` from its sender into
/// the first [`FRAME_LEN`] bytes of `out`, or nothing if `out` is shorter.
fn write_frame(out: &mut [u8], eth_dst: Mac, repr: &ArpRepr) -> Result<usize, EmitError> {
    check_room(out, FRAME_LEN)?;
    let mut frame = EthernetFrame::new_unchecked(&mut *out);
    EthernetRepr {
        dst_addr: eth_dst,
        src_addr: repr.source_hardware_addr,
        ethertype: ethertype::ARP,
    }
    .emit(&mut frame)?;
    repr.emit(&mut ArpPacket::new_unchecked(clipped_mut(
        frame.payload_mut(),
        0,
        ETHERNET_IPV4_LEN,
    )))?;
    Ok(FRAME_LEN)
}

/// Writes a whole ARP request frame, "Who has `target_ip`? Tell
/// `sender_ip`", into the start of `out`: to the broadcast address, from
/// `sender_mac`, the target MAC zero (RFC 826 leaves it to the sender; RFC
/// 5227 section 2.1.1: it "is ignored and SHOULD be set to all zeroes", as
/// Linux does). No padding to the 60-byte Ethernet minimum: the port or
/// NIC adds it. On success, [`FRAME_LEN`]; `Truncated`, writing nothing,
/// if `out` is shorter.
pub fn write_request(
    out: &mut [u8],
    sender_mac: Mac,
    sender_ip: [u8; 4],
    target_ip: [u8; 4],
) -> Result<usize, EmitError> {
    let repr = ArpRepr {
        operation: operation::REQUEST,
        source_hardware_addr: sender_mac,
        source_protocol_addr: sender_ip,
        target_hardware_addr: [0; 6],
        target_protocol_addr: target_ip,
    };
    write_frame(out, BROADCAST, &repr)
}

/// Writes a whole ARP reply frame, "`sender_ip` is at `sender_mac`", to
/// `target_mac` (unicast) into the start of `out`. RFC 826: "Swap hardware
/// and protocol fields, putting the local hardware and protocol addresses
/// in the sender fields. Set the ar$op field to ares_op$REPLY. Send the
/// packet to the (new) target hardware address": so `target_mac` and
/// `target_ip` are the requester's. No padding; on success, [`FRAME_LEN`];
/// `Truncated`, writing nothing, if `out` is shorter.
pub fn write_reply(
    out: &mut [u8],
    sender_mac: Mac,
    sender_ip: [u8; 4],
    target_mac: Mac,
    target_ip: [u8; 4],
) -> Result<usize, EmitError> {
    let repr = ArpRepr {
        operation: operation::REPLY,
        source_hardware_addr: sender_mac,
        source_protocol_addr: sender_ip,
        target_hardware_addr: target_mac,
        target_protocol_addr: target_ip,
    };
    write_frame(out, target_mac, &repr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::assert_short_emit_writes_nothing;
    use proptest::prelude::*;

    /// "Who has 192.168.1.1? Tell 192.168.1.100" from 52:54:00:12:34:56.
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // fixed part
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 192, 168, 1, 100, // sender
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 192, 168, 1, 1, // target
    ];

    #[test]
    fn reads_request() {
        let packet = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(packet.hardware_type(), HARDWARE_ETHERNET);
        assert_eq!(packet.protocol_type(), 0x0800);
        assert_eq!(packet.operation(), operation::REQUEST);
        assert_eq!(packet.source_protocol_addr(), &[192, 168, 1, 100]);
        assert_eq!(packet.target_hardware_addr(), &[0; 6]);
        assert_eq!(
            ArpRepr::parse(&packet),
            Ok(ArpRepr {
                operation: operation::REQUEST,
                source_hardware_addr: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
                source_protocol_addr: [192, 168, 1, 100],
                target_hardware_addr: [0; 6],
                target_protocol_addr: [192, 168, 1, 1],
            })
        );
    }

    #[test]
    fn malformed_packets() {
        let short = ArpPacket::new_unchecked(&REQUEST[..7]);
        assert_eq!(ArpRepr::parse(&short), Err(DropReason::ArpTruncated));
        let cut = ArpPacket::new_unchecked(&REQUEST[..27]);
        assert_eq!(ArpRepr::parse(&cut), Err(DropReason::ArpTruncated));
        assert_eq!(
            ArpPacket::new_checked(&REQUEST[..27]),
            Err(DropReason::ArpTruncated)
        );

        let mut ipv6_over_arp = REQUEST;
        ipv6_over_arp[2..4].copy_from_slice(&0x86ddu16.to_be_bytes());
        let packet = ArpPacket::new_unchecked(&ipv6_over_arp[..]);
        assert_eq!(ArpRepr::parse(&packet), Err(DropReason::ArpUnsupported));

        // An unsupported kind is reported as such even when cut short.
        let mut long_addresses = REQUEST;
        long_addresses[4] = 20;
        let packet = ArpPacket::new_unchecked(&long_addresses[..]);
        assert_eq!(ArpRepr::parse(&packet), Err(DropReason::ArpUnsupported));
        assert_eq!(packet.check_len(), Err(DropReason::ArpTruncated));
        assert_eq!(packet.target_protocol_addr(), &[] as &[u8]);
    }

    #[test]
    fn emit_into_short_buffer_writes_nothing() {
        let repr = ArpRepr::parse(&ArpPacket::new_unchecked(&REQUEST[..])).unwrap();
        assert_short_emit_writes_nothing(ETHERNET_IPV4_LEN, |bytes| {
            repr.emit(&mut ArpPacket::new_unchecked(bytes))
        });
    }

    #[test]
    fn writes_request_frame() {
        let mut out = [0xa5u8; 64];
        let sender = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
        let len = write_request(&mut out, sender, [192, 168, 1, 100], [192, 168, 1, 1]);
        assert_eq!(len, Ok(42));
        assert_eq!(&out[..6], &[0xff; 6]);
        assert_eq!(&out[6..12], &sender);
        assert_eq!(&out[12..14], &[0x08, 0x06]);
        assert_eq!(&out[14..42], &REQUEST);
        assert_eq!(out[42], 0xa5);
        assert_short_emit_writes_nothing(FRAME_LEN, |bytes| {
            write_request(bytes, sender, [1; 4], [2; 4]).map(|_| ())
        });
    }

    #[test]
    fn writes_reply_frame() {
        let mut out = [0u8; FRAME_LEN];
        let (ours, theirs) = ([2, 0, 0, 0, 0, 1], [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        let len = write_reply(&mut out, ours, [192, 168, 1, 1], theirs, [192, 168, 1, 100]);
        assert_eq!(len, Ok(FRAME_LEN));
        let frame = EthernetFrame::new_checked(&out[..]).unwrap();
        assert_eq!((frame.dst_addr(), frame.src_addr()), (theirs, ours));
        assert_eq!(frame.ethertype(), ethertype::ARP);
        let packet = ArpPacket::new_checked(frame.payload()).unwrap();
        assert_eq!(
            ArpRepr::parse(&packet),
            Ok(ArpRepr {
                operation: operation::REPLY,
                source_hardware_addr: ours,
                source_protocol_addr: [192, 168, 1, 1],
                target_hardware_addr: theirs,
                target_protocol_addr: [192, 168, 1, 100],
            })
        );
        assert_short_emit_writes_nothing(FRAME_LEN, |bytes| {
            write_reply(bytes, ours, [1; 4], theirs, [2; 4]).map(|_| ())
        });
    }

    fn arbitrary_repr() -> impl Strategy<Value = ArpRepr> {
        (
            any::<u16>(),
            any::<Mac>(),
            any::<[u8; 4]>(),
            any::<Mac>(),
            any::<[u8; 4]>(),
        )
            .prop_map(|(operation, sha, spa, tha, tpa)| ArpRepr {
                operation,
                source_hardware_addr: sha,
                source_protocol_addr: spa,
                target_hardware_addr: tha,
                target_protocol_addr: tpa,
            })
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(repr in arbitrary_repr()) {
            let mut bytes = vec![0u8; repr.buffer_len()];
            repr.emit(&mut ArpPacket::new_unchecked(&mut bytes[..])).unwrap();
            let packet = ArpPacket::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(ArpRepr::parse(&packet), Ok(repr));
        }

        #[test]
        fn written_frames_parse_back(repr in arbitrary_repr()) {
            let mut out = [0u8; FRAME_LEN];
            let (sha, spa, tha, tpa) = (
                repr.source_hardware_addr,
                repr.source_protocol_addr,
                repr.target_hardware_addr,
                repr.target_protocol_addr,
            );
            for request in [true, false] {
                let (len, eth_dst, expected) = if request {
                    let len = write_request(&mut out, sha, spa, tpa);
                    let expected = ArpRepr { operation: operation::REQUEST, target_hardware_addr: [0; 6], ..repr };
                    (len, BROADCAST, expected)
                } else {
                    let len = write_reply(&mut out, sha, spa, tha, tpa);
                    (len, tha, ArpRepr { operation: operation::REPLY, ..repr })
                };
                prop_assert_eq!(len, Ok(FRAME_LEN));
                let frame = EthernetFrame::new_checked(&out[..]).unwrap();
                prop_assert_eq!(EthernetRepr::parse(&frame), Ok(EthernetRepr { dst_addr: eth_dst, src_addr: sha, ethertype: ethertype::ARP }));
                prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_unchecked(frame.payload())), Ok(expected));
            }
        }

        #[test]
        fn any_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let packet = ArpPacket::new_unchecked(&bytes[..]);
            let _ = (packet.hardware_type(), packet.protocol_type(), packet.operation());
            let _ = (packet.source_hardware_addr(), packet.source_protocol_addr());
            let _ = (packet.target_hardware_addr(), packet.target_protocol_addr());
            let _ = ArpRepr::parse(&packet);
            if let Ok(packet) = ArpPacket::new_checked(&bytes[..]) {
                let hardware_len = usize::from(packet.hardware_len());
                prop_assert_eq!(packet.target_hardware_addr().len(), hardware_len);
            }
            let mut packet = ArpPacket::new_unchecked(&mut bytes[..]);
            packet.set_source_hardware_addr(&[1; 300]);
            packet.set_target_protocol_addr(&[2; 3]);
            packet.set_operation(3);
        }
    }
}
