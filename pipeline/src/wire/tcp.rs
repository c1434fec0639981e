//! TCP headers (RFC 9293, formerly RFC 793).
//!
//! Supported: the 20-byte fixed header with its Data Offset checked; the
//! checksum with an IPv4 or IPv6 pseudo-header, computed on emit and
//! verified only on request. Options are skipped over by the Data Offset
//! but not interpreted, and [`TcpRepr`] neither keeps nor emits them.
//!
//! TCP has no length field: the segment is the whole buffer, so wrap the IP
//! payload exactly (up to the IP length, padding excluded).

use crate::DropReason;

use super::checksum::PseudoHeader;
use super::ip_proto;
use super::{
    check_room, clipped, clipped_mut, read_u16, read_u32, read_u8, write_u16, write_u32, write_u8,
    EmitError,
};

/// Byte offsets of the TCP header fields.
pub mod field {
    use core::ops::Range;

    /// Source Port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination Port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Sequence Number.
    pub const SEQ_NUM: Range<usize> = 4..8;
    /// Acknowledgment Number.
    pub const ACK_NUM: Range<usize> = 8..12;
    /// Data Offset (high 4 bits) and reserved bits.
    pub const DATA_OFFSET: usize = 12;
    /// Control bits, CWR (high) to FIN (low).
    pub const FLAGS: usize = 13;
    /// Window.
    pub const WINDOW: Range<usize> = 14..16;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 16..18;
    /// Urgent Pointer.
    pub const URGENT: Range<usize> = 18..20;
}

/// Length of the header without options.
pub const HEADER_LEN: usize = field::URGENT.end;

/// Control bits of the flags byte (RFC 9293 section 3.1, RFC 3168 for ECE
/// and CWR).
pub mod flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field is significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field is significant.
    pub const URG: u8 = 0x20;
    /// ECN-Echo.
    pub const ECE: u8 = 0x40;
    /// Congestion Window Reduced.
    pub const CWR: u8 = 0x80;
}

/// The length rule of a TCP segment, shared by [`TcpPacket::check_len`]
/// and the fast path; on success, the header length (Data Offset * 4).
///
/// RFC 9293 section 3.1: "Data Offset (DOffset): 4 bits. The number of
/// 32-bit words in the TCP header. This indicates where the data begins."
/// `TcpBadHeader` if `segment` is shorter than 20 bytes or the Data Offset
/// is below 5 or past the segment. TCP states no length of its own, so
/// `segment` must end where the IP packet does.
#[inline(always)]
pub fn header_len_checked(segment: &[u8]) -> Result<usize, DropReason> {
    if segment.len() < HEADER_LEN {
        return Err(DropReason::TcpBadHeader);
    }
    let header_len = data_offset_len(segment);
    if header_len < HEADER_LEN || header_len > segment.len() {
        return Err(DropReason::TcpBadHeader);
    }
    Ok(header_len)
}

/// Data Offset * 4 (0 if the byte is missing).
#[inline(always)]
fn data_offset_len(segment: &[u8]) -> usize {
    usize::from(read_u8(segment, field::DATA_OFFSET) >> 4) * 4
}

/// A view of a TCP segment in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps a buffer without checking its length (accessors of fields past
    /// the end read 0 or empty and write nothing).
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps a buffer that holds the header its Data Offset announces.
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `TcpBadHeader` if the buffer is shorter than 20 bytes or the Data
    /// Offset is below 5 or past the buffer (the rule of
    /// [`header_len_checked`]).
    pub fn check_len(&self) -> Result<(), DropReason> {
        header_len_checked(self.buffer.as_ref()).map(|_| ())
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

    /// Sequence Number.
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ_NUM.start)
    }

    /// Acknowledgment Number.
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK_NUM.start)
    }

    /// Header length in bytes (Data Offset * 4), options included.
    pub fn header_len(&self) -> usize {
        data_offset_len(self.buffer.as_ref())
    }

    /// The control bits (see [`flags`]).
    pub fn flags(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::FLAGS)
    }

    /// Window.
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WINDOW.start)
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Urgent Pointer.
    pub fn urgent_at(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT.start)
    }

    /// The options: the header past its first 20 bytes, uninterpreted.
    pub fn options(&self) -> &[u8] {
        clipped(self.buffer.as_ref(), HEADER_LEN, self.header_len())
    }

    /// The data after the header.
    pub fn payload(&self) -> &[u8] {
        let buffer = self.buffer.as_ref();
        clipped(buffer, self.header_len(), buffer.len())
    }

    /// True if the checksum over the pseudo-header and the whole buffer is
    /// correct.
    pub fn verify_checksum(&self, pseudo_header: &PseudoHeader) -> bool {
        pseudo_header.checksum(ip_proto::TCP, self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the Source Port.
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT.start, port);
    }

    /// Sets the Destination Port.
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT.start, port);
    }

    /// Sets the Sequence Number.
    pub fn set_seq_number(&mut self, seq_number: u32) {
        write_u32(self.buffer.as_mut(), field::SEQ_NUM.start, seq_number);
    }

    /// Sets the Acknowledgment Number.
    pub fn set_ack_number(&mut self, ack_number: u32) {
        write_u32(self.buffer.as_mut(), field::ACK_NUM.start, ack_number);
    }

    /// Sets the Data Offset from a header length in bytes (a multiple of 4,
    /// 20 to 60), keeping the reserved bits.
    pub fn set_header_len(&mut self, header_len: usize) {
        let reserved = read_u8(self.buffer.as_ref(), field::DATA_OFFSET) & 0x0f;
        let data_offset = (((header_len / 4) & 0x0f) as u8) << 4;
        write_u8(
            self.buffer.as_mut(),
            field::DATA_OFFSET,
            data_offset | reserved,
        );
    }

    /// Sets the control bits.
    pub fn set_flags(&mut self, flags: u8) {
        write_u8(self.buffer.as_mut(), field::FLAGS, flags);
    }

    /// Sets the Window.
    pub fn set_window_len(&mut self, window_len: u16) {
        write_u16(self.buffer.as_mut(), field::WINDOW.start, window_len);
    }

    /// Stores a checksum value as it is.
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, checksum);
    }

    /// Sets the Urgent Pointer.
    pub fn set_urgent_at(&mut self, urgent_at: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT.start, urgent_at);
    }

    /// Computes and stores the checksum over the pseudo-header and the
    /// whole buffer. RFC 9293 section 3.1: "While computing the checksum,
    /// the checksum field itself is replaced with zeros."
    pub fn fill_checksum(&mut self, pseudo_header: &PseudoHeader) {
        self.set_checksum(0);
        let checksum = pseudo_header.checksum(ip_proto::TCP, self.buffer.as_ref());
        self.set_checksum(checksum);
    }

    /// The data after the header, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let header_len = self.header_len();
        let buffer = self.buffer.as_mut();
        let end = buffer.len();
        clipped_mut(buffer, header_len, end)
    }
}

/// The fields of a TCP header, options aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpRepr {
    /// Source Port.
    pub src_port: u16,
    /// Destination Port.
    pub dst_port: u16,
    /// Sequence Number.
    pub seq_number: u32,
    /// Acknowledgment Number.
    pub ack_number: u32,
    /// Control bits (see [`flags`]).
    pub flags: u8,
    /// Window.
    pub window_len: u16,
    /// Urgent Pointer.
    pub urgent_at: u16,
    /// Bytes of data after the header.
    pub payload_len: usize,
}

impl TcpRepr {
    /// Reads a header ([`TcpPacket::check_len`]'s checks; options skipped,
    /// checksum not verified). The payload is the rest of the buffer.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &TcpPacket<&T>) -> Result<TcpRepr, DropReason> {
        packet.check_len()?;
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack_number(),
            flags: packet.flags(),
            window_len: packet.window_len(),
            urgent_at: packet.urgent_at(),
            payload_len: packet.payload().len(),
        })
    }

    /// Length of the header this emits (no options): 20 bytes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes a 20-byte header into `packet` and its checksum over the
    /// pseudo-header and the whole buffer: put the payload in place after
    /// the header first, and make the buffer [`TcpRepr::buffer_len`] long.
    /// Writes nothing if the buffer is shorter than that.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        pseudo_header: &PseudoHeader,
    ) -> Result<(), EmitError> {
        check_room(packet.buffer.as_ref(), self.buffer_len())?;
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq_number);
        packet.set_ack_number(self.ack_number);
        write_u8(packet.buffer.as_mut(), field::DATA_OFFSET, 0);
        packet.set_header_len(HEADER_LEN);
        packet.set_flags(self.flags);
        packet.set_window_len(self.window_len);
        packet.set_urgent_at(self.urgent_at);
        packet.fill_checksum(pseudo_header);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::assert_short_emit_writes_nothing;
    use proptest::prelude::*;

    /// A SYN from 10.0.0.1:40000 to 10.0.0.2:80 with MSS, SACK-permitted,
    /// timestamps, NOP and window scale options (40-byte header).
    const SYN: [u8; 40] = [
        0x9c, 0x40, 0x00, 0x50, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0x00, 0x00, 0x00, 0x00, // fixed header, checksum filled below
        0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x03, 0x03, 0x07, // options
    ];

    const PSEUDO: PseudoHeader = PseudoHeader::Ipv4 {
        src: [10, 0, 0, 1],
        dst: [10, 0, 0, 2],
    };

    #[test]
    fn reads_syn_with_options() {
        let packet = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!(packet.src_port(), 40000);
        assert_eq!(packet.dst_port(), 80);
        assert_eq!(packet.seq_number(), 0x1234_5678);
        assert_eq!(packet.header_len(), 40);
        assert_eq!(packet.flags(), flags::SYN);
        assert_eq!(packet.window_len(), 64240);
        assert_eq!(packet.options().len(), 20);
        assert!(packet.payload().is_empty());
        let repr = TcpRepr::parse(&packet).unwrap();
        assert_eq!((repr.flags, repr.payload_len), (flags::SYN, 0));
    }

    #[test]
    fn checksum_fill_and_verify() {
        let mut bytes = SYN;
        TcpPacket::new_unchecked(&mut bytes[..]).fill_checksum(&PSEUDO);
        // Computed independently: pseudo-header + segment sum.
        assert_eq!(&bytes[16..18], &[0x31, 0xcc]);
        let packet = TcpPacket::new_unchecked(&bytes[..]);
        assert!(packet.verify_checksum(&PSEUDO));
        let other = PseudoHeader::Ipv4 {
            src: [10, 0, 0, 1],
            dst: [10, 0, 0, 3],
        };
        assert!(!packet.verify_checksum(&other));
    }

    #[test]
    fn bad_headers() {
        let bad = Err(DropReason::TcpBadHeader);
        assert_eq!(TcpPacket::new_checked(&SYN[..19]).map(|_| ()), bad);
        assert_eq!(TcpPacket::new_checked(&SYN[..39]).map(|_| ()), bad);
        let mut bytes = SYN;
        bytes[12] = 0x40;
        assert_eq!(
            TcpRepr::parse(&TcpPacket::new_unchecked(&bytes[..])),
            Err(DropReason::TcpBadHeader)
        );
    }

    #[test]
    fn emit_into_short_buffer_writes_nothing() {
        let repr = TcpRepr {
            payload_len: 3,
            ..TcpRepr::parse(&TcpPacket::new_unchecked(&SYN[..])).unwrap()
        };
        assert_short_emit_writes_nothing(HEADER_LEN + 3, |bytes| {
            repr.emit(&mut TcpPacket::new_unchecked(bytes), &PSEUDO)
        });
    }

    fn arbitrary_repr() -> impl Strategy<Value = TcpRepr> {
        (
            any::<(u16, u16, u32, u32)>(),
            any::<(u8, u16, u16)>(),
            0usize..100,
        )
            .prop_map(
                |(
                    (src_port, dst_port, seq_number, ack_number),
                    (flags, window_len, urgent_at),
                    payload_len,
                )| {
                    TcpRepr {
                        src_port,
                        dst_port,
                        seq_number,
                        ack_number,
                        flags,
                        window_len,
                        urgent_at,
                        payload_len,
                    }
                },
            )
    }

    fn arbitrary_pseudo_header() -> impl Strategy<Value = PseudoHeader> {
        prop_oneof![
            any::<([u8; 4], [u8; 4])>().prop_map(|(src, dst)| PseudoHeader::Ipv4 { src, dst }),
            any::<([u8; 16], [u8; 16])>().prop_map(|(src, dst)| PseudoHeader::Ipv6 { src, dst }),
        ]
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips(
            repr in arbitrary_repr(),
            pseudo_header in arbitrary_pseudo_header(),
            fill in any::<u8>(),
        ) {
            let mut bytes = vec![fill; repr.buffer_len()];
            repr.emit(&mut TcpPacket::new_unchecked(&mut bytes[..]), &pseudo_header).unwrap();
            let packet = TcpPacket::new_checked(&bytes[..]).unwrap();
            prop_assert!(packet.verify_checksum(&pseudo_header));
            prop_assert_eq!(TcpRepr::parse(&packet), Ok(repr));
        }

        #[test]
        fn any_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let packet = TcpPacket::new_unchecked(&bytes[..]);
            let _ = (packet.src_port(), packet.dst_port(), packet.seq_number(), packet.ack_number());
            let _ = (packet.header_len(), packet.flags(), packet.window_len(), packet.checksum());
            let _ = (packet.urgent_at(), packet.options(), packet.payload());
            let _ = (packet.verify_checksum(&PSEUDO), TcpRepr::parse(&packet));
            if let Ok(packet) = TcpPacket::new_checked(&bytes[..]) {
                prop_assert_eq!(packet.header_len() + packet.payload().len(), bytes.len());
            }
            let mut packet = TcpPacket::new_unchecked(&mut bytes[..]);
            packet.set_header_len(60);
            packet.fill_checksum(&PSEUDO);
            let _ = packet.payload_mut();
        }
    }
}
