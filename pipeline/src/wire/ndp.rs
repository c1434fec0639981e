//! IPv6 neighbour discovery: Neighbor Solicitation and Advertisement (RFC
//! 4861 sections 4.3, 4.4 and 7.1), the IPv6 counterpart of ARP.
//!
//! RFC 4861 section 4.3 (4.4 is alike, its Reserved field starting with
//! the R, S and O flags):
//!
//! ```text
//! |     Type      |     Code      |          Checksum             |
//! |                           Reserved                            |
//! +                       Target Address (16 bytes)               +
//! |   Options ...
//! ```
//!
//! Supported: reading the two messages with the checks of section 7.1 that
//! need only the ICMPv6 message ([`parse`]), and their Source and Target
//! Link-Layer Address options for Ethernet (RFC 2464 section 6); writing
//! whole solicitation and advertisement frames. The checks that need the
//! IPv6 header (Hop Limit 255, the checksum, an unspecified source) are
//! the caller's, who has it. Not supported: Router Solicitation and
//! Advertisement, Redirect, and every option but the link-layer address
//! ones ("Receivers MUST silently ignore any options they do not recognize
//! and continue processing the message", section 4.3).

use crate::flow::Mac;
use crate::DropReason;

use super::ethernet::{self, ethertype, EthernetFrame, EthernetRepr};
use super::icmpv6::{message_type, Icmpv6Packet, Icmpv6Repr};
use super::ipv6::{self, Ipv6Packet, Ipv6Repr};
use super::{
    check_min_len, check_room, clipped, clipped_mut, ip_proto, read_array, read_u8, write_array,
    write_u32, write_u8, EmitError,
};

/// Byte offsets of the fields of a Neighbor Solicitation or Advertisement,
/// counted from the ICMPv6 Type.
pub mod field {
    use core::ops::{Range, RangeFrom};

    /// Type (135 or 136).
    pub const TYPE: usize = 0;
    /// Code (0).
    pub const CODE: usize = 1;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Reserved; in an advertisement, its first byte holds R, S and O.
    pub const RESERVED: Range<usize> = 4..8;
    /// The flags of an advertisement.
    pub const FLAGS: usize = 4;
    /// Target Address.
    pub const TARGET: Range<usize> = 8..24;
    /// The options.
    pub const OPTIONS: RangeFrom<usize> = 24..;
}

/// Byte offsets of the fields of an option (RFC 4861 section 4.6), counted
/// from its Type.
pub mod option_field {
    use core::ops::Range;

    /// Type.
    pub const TYPE: usize = 0;
    /// Length, in units of 8 bytes.
    pub const LENGTH: usize = 1;
    /// The link-layer address of a link-layer address option, on Ethernet.
    pub const LINK_LAYER_ADDR: Range<usize> = 2..8;
}

/// Length of either message without options. Section 7.1.1: "ICMP length
/// (derived from the IP length) is 24 or more octets."
pub const MESSAGE_LEN: usize = field::OPTIONS.start;

/// Option types (RFC 4861 section 4.6).
pub mod option_type {
    /// Source Link-Layer Address.
    pub const SOURCE_LINK_LAYER_ADDR: u8 = 1;
    /// Target Link-Layer Address.
    pub const TARGET_LINK_LAYER_ADDR: u8 = 2;
}

/// Length of a link-layer address option for Ethernet: RFC 2464 section 6,
/// "Length: 1 (in units of 8 octets)".
pub const LINK_LAYER_OPTION_LEN: usize = option_field::LINK_LAYER_ADDR.end;

/// The R flag: "the sender is a router".
pub const FLAG_ROUTER: u8 = 0x80;
/// The S flag: "the advertisement was sent in response to a Neighbor
/// Solicitation from the Destination address".
pub const FLAG_SOLICITED: u8 = 0x40;
/// The O flag: "the advertisement should override an existing cache entry
/// and update the cached link-layer address".
pub const FLAG_OVERRIDE: u8 = 0x20;

/// The IPv6 Hop Limit of every message sent. Section 7.1: a receiver
/// discards messages unless "The IP Hop Limit field has a value of 255,
/// i.e., the packet could not possibly have been forwarded by a router."
pub const HOP_LIMIT: u8 = 255;

/// Length of a frame [`write_solicit`] or [`write_advert`] writes with a
/// link-layer address option: Ethernet, IPv6, the message and the option.
pub const FRAME_LEN: usize = ICMP_START + MESSAGE_LEN + LINK_LAYER_OPTION_LEN;

/// Where the ICMPv6 message starts in a frame this writes.
const ICMP_START: usize = ethernet::HEADER_LEN + ipv6::HEADER_LEN;

/// A Neighbor Solicitation or Advertisement, as [`parse`] read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdpMessage {
    /// A Neighbor Solicitation: who has `target`?
    Solicit {
        /// Target Address.
        target: [u8; 16],
        /// The Source Link-Layer Address option's MAC, if there is one.
        source_mac: Option<Mac>,
    },
    /// A Neighbor Advertisement: `target` is at `target_mac`.
    Advert {
        /// Target Address.
        target: [u8; 16],
        /// The Target Link-Layer Address option's MAC, if there is one.
        target_mac: Option<Mac>,
        /// The S flag.
        solicited: bool,
        /// The O flag.
        override_: bool,
    },
}

/// The length rule of both messages, shared by [`parse`] and the fast
/// path: `IcmpTruncated` if `message` is shorter than [`MESSAGE_LEN`].
#[inline(always)]
pub fn check_len(message: &[u8]) -> Result<(), DropReason> {
    check_min_len(message, MESSAGE_LEN, DropReason::IcmpTruncated)
}

/// Walks an options block and returns the MAC of the first link-layer
/// address option of type `kind` (a later one is ignored, as Linux
/// does), or `None` if there is none.
///
/// RFC 4861 section 4.6, Length: "The length of the option (including the
/// type and length fields) in units of 8 octets. The value 0 is invalid.
/// Nodes MUST silently discard an ND packet that contains an option with a
/// length of zero." `IcmpTruncated` for a zero Length or an option that
/// runs past the block, wherever it is. An address option longer than 8
/// bytes (another link layer's) gives its first 6 bytes.
pub fn link_layer_option(options: &[u8], kind: u8) -> Result<Option<Mac>, DropReason> {
    let mut found = None;
    let mut rest = options;
    while !rest.is_empty() {
        let len = usize::from(read_u8(rest, option_field::LENGTH)) * 8;
        let (Some(option), Some(after)) = (rest.get(..len), rest.get(len..)) else {
            return Err(DropReason::IcmpTruncated);
        };
        if len == 0 {
            return Err(DropReason::IcmpTruncated);
        }
        if found.is_none() && read_u8(option, option_field::TYPE) == kind {
            found = Some(read_array(option, option_field::LINK_LAYER_ADDR.start));
        }
        rest = after;
    }
    Ok(found)
}

/// Reads a Neighbor Solicitation or Advertisement; `icmp` is the ICMPv6
/// message, from its Type to the end of the IPv6 payload.
///
/// The checks of RFC 4861 sections 7.1.1 and 7.1.2 that the message alone
/// allows: `IcmpTruncated` if it is shorter than 24 bytes ("ICMP length
/// ... is 24 or more octets") or an option's length is zero or runs past
/// the end ("All included options have a length that is greater than
/// zero"); `UplinkNotForUs` if the Type is neither 135 nor 136, the Code
/// is not 0 ("ICMP Code is 0") or the Target Address is multicast
/// ("Target Address is not a multicast address"): none of those is
/// neighbour discovery for any address. The Reserved bits and the R flag
/// are ignored ("MUST be ignored by the receiver").
pub fn parse(icmp: &[u8]) -> Result<NdpMessage, DropReason> {
    check_len(icmp)?;
    let msg_type = read_u8(icmp, field::TYPE);
    let target: [u8; 16] = read_array(icmp, field::TARGET.start);
    if !matches!(
        msg_type,
        message_type::NEIGHBOR_SOLICITATION | message_type::NEIGHBOR_ADVERTISEMENT
    ) || read_u8(icmp, field::CODE) != 0
        || target[0] == 0xff
    {
        return Err(DropReason::UplinkNotForUs);
    }
    let options = clipped(icmp, field::OPTIONS.start, icmp.len());
    if msg_type == message_type::NEIGHBOR_SOLICITATION {
        let source_mac = link_layer_option(options, option_type::SOURCE_LINK_LAYER_ADDR)?;
        return Ok(NdpMessage::Solicit { target, source_mac });
    }
    let flags = read_u8(icmp, field::FLAGS);
    Ok(NdpMessage::Advert {
        target,
        target_mac: link_layer_option(options, option_type::TARGET_LINK_LAYER_ADDR)?,
        solicited: flags & FLAG_SOLICITED != 0,
        override_: flags & FLAG_OVERRIDE != 0,
    })
}

/// The solicited-node multicast address of `addr`. RFC 4291 section 2.7.1:
/// it "is formed by taking the low-order 24 bits of an address (unicast or
/// anycast) and appending those bits to the prefix FF02:0:0:0:0:1:FF00::/104".
pub const fn solicited_node(addr: &[u8; 16]) -> [u8; 16] {
    [
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, addr[13], addr[14], addr[15],
    ]
}

/// The Ethernet address of an IPv6 multicast `group`. RFC 2464 section 7:
/// "the Ethernet multicast address whose first two octets are the value
/// 3333 hexadecimal and whose last four octets are the last four octets of
/// DST."
pub const fn multicast_mac(group: &[u8; 16]) -> Mac {
    [0x33, 0x33, group[12], group[13], group[14], group[15]]
}

/// The Ethernet address of the solicited-node multicast address of `addr`:
/// 33:33:ff and its low 24 bits.
pub const fn solicited_node_mac(addr: &[u8; 16]) -> Mac {
    multicast_mac(&solicited_node(addr))
}

/// A message to write in a whole frame.
struct NdpFrame {
    eth_dst: Mac,
    src_mac: Mac,
    src_ip: [u8; 16],
    dst_ip: [u8; 16],
    msg_type: u8,
    flags: u8,
    target: [u8; 16],
    /// The type of the link-layer address option that carries `src_mac`.
    option: Option<u8>,
}

impl NdpFrame {
    /// Writes the frame into the start of `out`, or nothing if it is too
    /// short; on success, the frame's length.
    fn write(&self, out: &mut [u8]) -> Result<usize, EmitError> {
        let icmp_len = MESSAGE_LEN + self.option.map_or(0, |_| LINK_LAYER_OPTION_LEN);
        let len = ICMP_START + icmp_len;
        check_room(out, len)?;
        let ethernet = EthernetRepr {
            dst_addr: self.eth_dst,
            src_addr: self.src_mac,
            ethertype: ethertype::IPV6,
        };
        ethernet.emit(&mut EthernetFrame::new_unchecked(&mut *out))?;
        let ip = Ipv6Repr {
            src_addr: self.src_ip,
            dst_addr: self.dst_ip,
            next_header: ip_proto::ICMPV6,
            // At most 32.
            payload_len: icmp_len as u16,
            hop_limit: HOP_LIMIT,
            traffic_class: 0,
            flow_label: 0,
        };
        let l3 = clipped_mut(out, ethernet::HEADER_LEN, len);
        ip.emit(&mut Ipv6Packet::new_unchecked(l3))?;
        let icmp = clipped_mut(out, ICMP_START, len);
        write_u32(icmp, field::RESERVED.start, u32::from(self.flags) << 24);
        write_array(icmp, field::TARGET.start, self.target);
        if let Some(kind) = self.option {
            let option = clipped_mut(icmp, field::OPTIONS.start, icmp_len);
            write_u8(option, option_field::TYPE, kind);
            write_u8(option, option_field::LENGTH, 1);
            write_array(option, option_field::LINK_LAYER_ADDR.start, self.src_mac);
        }
        let repr = Icmpv6Repr {
            msg_type: self.msg_type,
            code: 0,
            body_len: icmp_len - super::icmpv6::HEADER_LEN,
        };
        repr.emit(
            &mut Icmpv6Packet::new_unchecked(icmp),
            &self.src_ip,
            &self.dst_ip,
        )?;
        Ok(len)
    }
}

/// Writes a whole Neighbor Solicitation frame, "who has `target`?", from
/// `src_mac` and `src_ip` into the start of `out`: to the solicited-node
/// multicast address of `target` and its MAC (section 7.2.2: "the
/// solicitation is sent to the solicited-node multicast address
/// corresponding to the target address"), Hop Limit 255, a Source
/// Link-Layer Address option with `src_mac`, the checksum filled.
///
/// Section 4.3: the option "MUST NOT be included when the source IP
/// address is the unspecified address", so for `src_ip` `::` (duplicate
/// address detection) there is none and the frame is 8 bytes shorter. On
/// success, the frame's length ([`FRAME_LEN`] with the option);
/// `Truncated`, writing nothing, if `out` is shorter.
pub fn write_solicit(
    out: &mut [u8],
    src_mac: Mac,
    src_ip: [u8; 16],
    target: [u8; 16],
) -> Result<usize, EmitError> {
    NdpFrame {
        eth_dst: solicited_node_mac(&target),
        src_mac,
        src_ip,
        dst_ip: solicited_node(&target),
        msg_type: message_type::NEIGHBOR_SOLICITATION,
        flags: 0,
        target,
        option: (src_ip != [0; 16]).then_some(option_type::SOURCE_LINK_LAYER_ADDR),
    }
    .write(out)
}

/// Writes a whole solicited Neighbor Advertisement frame, "`target` is at
/// `src_mac`", from `src_mac` and `src_ip` to `dst_mac` and `dst_ip` (the
/// soliciting node) into the start of `out`: S and O set, R clear, Hop
/// Limit 255, a Target Link-Layer Address option with `src_mac` (section
/// 4.4: it "MUST be included on link layers that have addresses when
/// responding to multicast solicitations"), the checksum filled. On
/// success, [`FRAME_LEN`]; `Truncated`, writing nothing, if `out` is
/// shorter.
pub fn write_advert(
    out: &mut [u8],
    src_mac: Mac,
    src_ip: [u8; 16],
    dst_mac: Mac,
    dst_ip: [u8; 16],
    target: [u8; 16],
) -> Result<usize, EmitError> {
    NdpFrame {
        eth_dst: dst_mac,
        src_mac,
        src_ip,
        dst_ip,
        msg_type: message_type::NEIGHBOR_ADVERTISEMENT,
        flags: FLAG_SOLICITED | FLAG_OVERRIDE,
        target,
        option: Some(option_type::TARGET_LINK_LAYER_ADDR),
    }
    .write(out)
}

#[cfg(test)]
mod tests;
