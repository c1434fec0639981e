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
//!   [`DropReason`]) and `emit` (writes a correct header,
//!   checksum included, into a view, or fails with an [`EmitError`] and
//!   writes nothing when the view's buffer is too small).
//!
//! The per-packet fast path ([`crate::parse::parse`]) reads frames directly
//! with the offsets and helpers here rather than building representations.
//! Each header's length rules are stated once, as a free function of its
//! module taking a byte slice (`ipv4::check_lengths`, `tcp::header_len_checked`,
//! ...), which both the view's `check_len` and the fast path call.
//!
//! [`builder`] builds encapsulated frames back to front and fixes their
//! length fields afterwards.
//!
//! Checksums are never verified implicitly: a bridge forwards frames with bad
//! checksums unchanged. Each view with a checksum has `verify_checksum`.

pub mod arp;
pub mod builder;
pub mod checksum;
pub mod ethernet;
pub mod geneve;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ndp;
pub mod tcp;
pub mod udp;
pub mod vlan;
pub mod vxlan;

pub use arp::{ArpPacket, ArpRepr};
pub use builder::{fix_outer_lengths, FrameBuilder, Ipv4Outer, Ipv6Outer, OuterLayout};
pub use checksum::PseudoHeader;
pub use ethernet::{EthernetFrame, EthernetRepr};
pub use geneve::{GeneveOption, GenevePacket, GeneveRepr};
pub use icmpv4::{Icmpv4Packet, Icmpv4Repr};
pub use icmpv6::{Icmpv6Packet, Icmpv6Repr};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use ndp::NdpMessage;
pub use tcp::{TcpPacket, TcpRepr};
pub use udp::{UdpPacket, UdpRepr};
pub use vlan::{VlanHeader, VlanRepr};
pub use vxlan::{VxlanPacket, VxlanRepr};

use crate::DropReason;

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

/// Why a header could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmitError {
    /// The buffer (or, for [`FrameBuilder`], the headroom in front of the
    /// frame) is shorter than what is to be written.
    Truncated {
        /// Bytes the write needs.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// A length is larger than the header field that states it can hold
    /// (an IPv4 Total Length, IPv6 Payload Length or UDP Length past 65535).
    TooLong {
        /// The length to be stated.
        len: usize,
        /// The largest the field holds.
        max: usize,
    },
    /// What the write is to be made of is not valid: the original frame an
    /// ICMP error quotes does not parse ([`icmpv4::write_frag_needed`]),
    /// or a length is not one the header can state at all (Geneve option
    /// data that is not whole 4-byte words).
    Malformed {
        /// What a parser would say of the input.
        reason: DropReason,
    },
}

impl core::fmt::Display for EmitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EmitError::Truncated { needed, available } => {
                write!(
                    f,
                    "buffer too small: {needed} bytes needed, {available} available"
                )
            }
            EmitError::TooLong { len, max } => {
                write!(f, "length {len} does not fit its field (at most {max})")
            }
            EmitError::Malformed { reason } => write!(f, "malformed input: {reason}"),
        }
    }
}

impl std::error::Error for EmitError {}

/// `Err(EmitError::Truncated)` unless `buffer` holds at least `needed`
/// bytes: the check every `emit` makes before writing anything.
#[inline]
pub(crate) fn check_room(buffer: &[u8], needed: usize) -> Result<(), EmitError> {
    let available = buffer.len();
    if available < needed {
        return Err(EmitError::Truncated { needed, available });
    }
    Ok(())
}

/// `Err(reason)` unless `buffer` holds at least `len` bytes: the length
/// rule of the fixed-size headers.
#[inline(always)]
pub(crate) fn check_min_len(
    buffer: &[u8],
    len: usize,
    reason: DropReason,
) -> Result<(), DropReason> {
    if buffer.len() < len {
        return Err(reason);
    }
    Ok(())
}

/// The version rule of IPv4 and IPv6, whose version is the high 4 bits of
/// the first byte: `Err(truncated)` if `packet` is empty, `Err(bad)`
/// unless the version is `version`.
#[inline(always)]
pub(crate) fn check_ip_version(
    packet: &[u8],
    version: u8,
    truncated: DropReason,
    bad: DropReason,
) -> Result<(), DropReason> {
    match packet.first() {
        None => Err(truncated),
        Some(&first) if first >> 4 != version => Err(bad),
        Some(_) => Ok(()),
    }
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

/// Copies `bytes` to `at`; writes nothing if they do not all fit.
#[inline(always)]
pub(crate) fn write_slice(buffer: &mut [u8], at: usize, bytes: &[u8]) {
    let end = at.saturating_add(bytes.len());
    if let Some(field) = buffer.get_mut(at..end) {
        field.copy_from_slice(bytes);
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

/// Checks that `emit`, given any buffer shorter than `needed`, fails with
/// the sizes and leaves the buffer as it was.
#[cfg(test)]
pub(crate) fn assert_short_emit_writes_nothing(
    needed: usize,
    emit: impl Fn(&mut [u8]) -> Result<(), EmitError>,
) {
    for available in 0..needed {
        let mut bytes = vec![0xa5u8; available];
        assert_eq!(
            emit(&mut bytes),
            Err(EmitError::Truncated { needed, available })
        );
        assert!(bytes.iter().all(|&byte| byte == 0xa5), "{available} bytes");
    }
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

    #[test]
    fn emit_error_says_what_is_missing() {
        assert_eq!(check_room(&[0; 4], 4), Ok(()));
        let error = check_room(&[0; 3], 8).unwrap_err();
        assert_eq!(
            error,
            EmitError::Truncated {
                needed: 8,
                available: 3
            }
        );
        assert_eq!(
            error.to_string(),
            "buffer too small: 8 bytes needed, 3 available"
        );
    }
}
