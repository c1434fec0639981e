//! Zero-copy views of protocol headers, in the style of smoltcp's `wire`.
//!
//! Each header has two layers:
//!
//! - a *packet view* (`EthernetFrame`, `Ipv4Packet`, ...) wrapping any
//!   `T: AsRef<[u8]>`, with named field offsets (`field::*`), getters, and
//!   setters when `T: AsMut<[u8]>`. `new_checked` verifies the lengths the
//!   header itself states, so the view's slices are then exactly the header,
//!   options and payload. Accessors never panic on any buffer, even one
//!   wrapped with `new_unchecked`: a getter whose field lies past the end
//!   returns 0 (or an empty slice), and a setter whose field lies past the
//!   end writes nothing.
//! - a validated *representation* (`Ipv4Repr`, ...): a plain value with
//!   `parse` (from a view; rejects what the header rules forbid, with a
//!   [`DropReason`](crate::DropReason)) and `emit` (writes a correct header,
//!   checksum included, into a view).
//!
//! The per-packet fast path ([`crate::parse::parse`]) reads frames directly
//! with the offsets and helpers here rather than building representations.
//!
//! Checksums are never verified implicitly: a bridge forwards frames with bad
//! checksums unchanged. Each view with a checksum has `verify_checksum`.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;
pub mod vlan;

pub use arp::{ArpPacket, ArpRepr};
pub use checksum::PseudoHeader;
pub use ethernet::{EthernetFrame, EthernetRepr};
pub use icmpv4::{Icmpv4Packet, Icmpv4Repr};
pub use icmpv6::{Icmpv6Packet, Icmpv6Repr};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use tcp::{TcpPacket, TcpRepr};
pub use udp::{UdpPacket, UdpRepr};
pub use vlan::{VlanHeader, VlanRepr};

/// IP protocol numbers (IPv4 Protocol field, IPv6 Next Header field), as
/// assigned by IANA.
pub mod ip_proto {
    /// IPv6 Hop-by-Hop Options extension header (RFC 8200 section 4.3).
    pub const HOP_BY_HOP: u8 = 0;
    /// ICMP for IPv4 (RFC 792).
    pub const ICMP: u8 = 1;
    /// TCP (RFC 9293).
    pub const TCP: u8 = 6;
    /// UDP (RFC 768).
    pub const UDP: u8 = 17;
    /// IPv6 Routing extension header (RFC 8200 section 4.4).
    pub const ROUTING: u8 = 43;
    /// IPv6 Fragment extension header (RFC 8200 section 4.5).
    pub const FRAGMENT: u8 = 44;
    /// Encapsulating Security Payload (RFC 4303).
    pub const ESP: u8 = 50;
    /// Authentication Header (RFC 4302).
    pub const AH: u8 = 51;
    /// ICMP for IPv6 (RFC 4443).
    pub const ICMPV6: u8 = 58;
    /// IPv6 "No Next Header" (RFC 8200 section 4.7).
    pub const NO_NEXT_HEADER: u8 = 59;
    /// IPv6 Destination Options extension header (RFC 8200 section 4.6).
    pub const DESTINATION_OPTIONS: u8 = 60;
}

/// `N` bytes at `at`, or `None` if the buffer is too short.
#[inline(always)]
pub(crate) fn get_array<const N: usize>(buffer: &[u8], at: usize) -> Option<[u8; N]> {
    buffer
        .get(at..)
        .and_then(|rest| rest.first_chunk::<N>())
        .copied()
}

/// `N` bytes at `at`, or all zeros if the buffer is too short.
#[inline(always)]
pub(crate) fn read_array<const N: usize>(buffer: &[u8], at: usize) -> [u8; N] {
    get_array(buffer, at).unwrap_or([0; N])
}

/// The byte at `at`, or 0 if the buffer is too short.
#[inline(always)]
pub(crate) fn read_u8(buffer: &[u8], at: usize) -> u8 {
    buffer.get(at).copied().unwrap_or(0)
}

/// The big-endian `u16` at `at`, or 0 if the buffer is too short.
#[inline(always)]
pub(crate) fn read_u16(buffer: &[u8], at: usize) -> u16 {
    u16::from_be_bytes(read_array(buffer, at))
}

/// The big-endian `u32` at `at`, or 0 if the buffer is too short.
#[inline(always)]
pub(crate) fn read_u32(buffer: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(read_array(buffer, at))
}

/// Writes `bytes` at `at`; writes nothing if they do not fit.
#[inline(always)]
pub(crate) fn write_array<const N: usize>(buffer: &mut [u8], at: usize, bytes: [u8; N]) {
    if let Some(field) = buffer
        .get_mut(at..)
        .and_then(|rest| rest.first_chunk_mut::<N>())
    {
        *field = bytes;
    }
}

/// Writes one byte at `at`; writes nothing if it does not fit.
#[inline(always)]
pub(crate) fn write_u8(buffer: &mut [u8], at: usize, value: u8) {
    if let Some(byte) = buffer.get_mut(at) {
        *byte = value;
    }
}

/// Writes a big-endian `u16` at `at`; writes nothing if it does not fit.
#[inline(always)]
pub(crate) fn write_u16(buffer: &mut [u8], at: usize, value: u16) {
    write_array(buffer, at, value.to_be_bytes());
}

/// Writes a big-endian `u32` at `at`; writes nothing if it does not fit.
#[inline(always)]
pub(crate) fn write_u32(buffer: &mut [u8], at: usize, value: u32) {
    write_array(buffer, at, value.to_be_bytes());
}

/// `buffer[range]` clipped to the buffer: empty when the range starts past
/// the end, shortened when it ends past it.
#[inline(always)]
pub(crate) fn clipped(buffer: &[u8], start: usize, end: usize) -> &[u8] {
    let end = end.min(buffer.len());
    buffer.get(start..end).unwrap_or(&[])
}

/// Mutable counterpart of [`clipped`].
#[inline(always)]
pub(crate) fn clipped_mut(buffer: &mut [u8], start: usize, end: usize) -> &mut [u8] {
    let end = end.min(buffer.len());
    buffer.get_mut(start..end).unwrap_or(&mut [])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_on_short_buffers() {
        let buffer = [0x12, 0x34, 0x56];
        assert_eq!(read_u16(&buffer, 1), 0x3456);
        assert_eq!(read_u16(&buffer, 2), 0);
        assert_eq!(read_u32(&buffer, 0), 0);
        assert_eq!(read_u8(&buffer, usize::MAX), 0);
        assert_eq!(get_array::<2>(&buffer, usize::MAX), None);
        assert_eq!(clipped(&buffer, 1, 10), &[0x34, 0x56]);
        assert_eq!(clipped(&buffer, 5, 10), &[] as &[u8]);
        assert_eq!(clipped(&buffer, 2, 1), &[] as &[u8]);
        let mut buffer = [0u8; 3];
        write_u16(&mut buffer, 2, 0xffff);
        write_u32(&mut buffer, usize::MAX, 0xffff_ffff);
        write_u8(&mut buffer, 3, 0xff);
        assert_eq!(buffer, [0, 0, 0]);
        write_u16(&mut buffer, 1, 0xabcd);
        assert_eq!(buffer, [0, 0xab, 0xcd]);
    }
}
