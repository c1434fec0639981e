//! The virtio-net header (`struct virtio_net_hdr`, virtio spec 5.1.6) that
//! a TAP opened with `IFF_VNET_HDR` (and AF_PACKET with `PACKET_VNET_HDR`)
//! puts in front of every frame: whether the L4 checksum is still to be
//! completed (NEEDS_CSUM with where to sum from and where the field is) and
//! whether the frame is a GSO super-frame (type and segment size).
//!
//! The kernel writes it in the host's byte order for TAP devices that did
//! not ask for little-endian headers (TUNSETVNETLE); every Linux host this
//! switch runs on is little-endian, so the fields are read and written as
//! native-endian, as the kernel's `tun` driver does.

/// Bytes of the header without `num_buffers`: what TUNSETVNETHDRSZ sets.
pub const VNET_HDR_LEN: usize = 10;

/// `flags`: the checksum from `csum_start` to the end of the frame still
/// has to be folded into the field at `csum_start + csum_offset`.
pub const VNET_F_NEEDS_CSUM: u8 = 1;
/// `flags`: the checksum was verified (receive only; informational).
pub const VNET_F_DATA_VALID: u8 = 2;

/// `gso_type`: an ordinary frame.
pub const VNET_GSO_NONE: u8 = 0;
/// `gso_type`: TCP over IPv4 super-frame.
pub const VNET_GSO_TCPV4: u8 = 1;
/// `gso_type`: UDP super-frame (UFO; the kernel no longer makes them).
pub const VNET_GSO_UDP: u8 = 3;
/// `gso_type`: TCP over IPv6 super-frame.
pub const VNET_GSO_TCPV6: u8 = 4;
/// `gso_type`: UDP segmentation offload (USO), IPv4 or IPv6 (Linux 6.2).
pub const VNET_GSO_UDP_L4: u8 = 5;
/// `gso_type` bit: the super-frame carries ECN's CWR in its TCP flags.
pub const VNET_GSO_ECN: u8 = 0x80;

/// One virtio-net header, its fields as plain numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VnetHeader {
    /// `VNET_F_*` bits.
    pub flags: u8,
    /// `VNET_GSO_*` value (with [`VNET_GSO_ECN`] possibly or-ed in).
    pub gso_type: u8,
    /// Bytes of headers in front of the payload (a hint; may be 0).
    pub hdr_len: u16,
    /// Payload bytes per segment of a super-frame.
    pub gso_size: u16,
    /// Where checksumming starts, from the start of the frame.
    pub csum_start: u16,
    /// Where the checksum field is, from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHeader {
    /// The header at the start of `bytes`, or `None` when fewer than
    /// [`VNET_HDR_LEN`] bytes are given. Any 10 bytes are a header: what
    /// the values mean is checked by whoever acts on them.
    pub fn parse(bytes: &[u8]) -> Option<VnetHeader> {
        let b: &[u8; VNET_HDR_LEN] = bytes.get(..VNET_HDR_LEN)?.try_into().ok()?;
        let u16_at = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Some(VnetHeader {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    /// The header's [`VNET_HDR_LEN`] bytes.
    pub fn to_bytes(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }

    /// True for a frame that needs nothing done: complete checksums, no
    /// segmentation.
    pub fn is_plain(&self) -> bool {
        self.flags & VNET_F_NEEDS_CSUM == 0 && self.gso_type & !VNET_GSO_ECN == VNET_GSO_NONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_tcp_super_frame_header_reads_back() {
        let hdr = VnetHeader {
            flags: VNET_F_NEEDS_CSUM,
            gso_type: VNET_GSO_TCPV4,
            hdr_len: 66,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        let bytes = hdr.to_bytes();
        assert_eq!(bytes[0], 1);
        assert_eq!(bytes[1], 1);
        assert_eq!(VnetHeader::parse(&bytes), Some(hdr));
        assert!(!hdr.is_plain());
        assert!(VnetHeader::default().is_plain());
        assert!(VnetHeader {
            flags: VNET_F_DATA_VALID,
            ..VnetHeader::default()
        }
        .is_plain());
    }

    #[test]
    fn a_short_buffer_is_no_header() {
        assert_eq!(VnetHeader::parse(&[0; VNET_HDR_LEN - 1]), None);
        assert_eq!(VnetHeader::parse(&[]), None);
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panic_and_round_trip(
            bytes in proptest::collection::vec(any::<u8>(), 0..32)
        ) {
            match VnetHeader::parse(&bytes) {
                Some(hdr) => prop_assert_eq!(&hdr.to_bytes()[..], &bytes[..VNET_HDR_LEN]),
                None => prop_assert!(bytes.len() < VNET_HDR_LEN),
            }
        }
    }
}
