//! The one parse of a frame into a [`FlowKey`](crate::FlowKey) and a
//! [`Layout`](crate::Layout), done once per packet on the fast path.
//!
//! It reads the frame in place with the offsets of [`crate::wire`],
//! allocates nothing and builds no intermediate representation. What it
//! accepts:
//!
//! - Ethernet II with up to two VLAN tags, each with TPID 0x8100 or 0x88a8
//!   in either position; the outer VID goes to `vlan`, the second tag's to
//!   `inner_vlan`.
//! - ARP for Ethernet/IPv4, IPv4 (options skipped, checksum *not* verified:
//!   a bridge forwards what it gets), IPv6 (extension headers walked as in
//!   [`crate::wire::ipv6::walk_extension_headers`]).
//! - TCP, UDP, ICMP (in IPv4) and ICMPv6 (in IPv6) headers of unfragmented
//!   packets and first fragments. Other protocols keep L3 fields only;
//!   other EtherTypes keep L2 fields only.
//!
//! Every malformed case maps to one [`DropReason`], by the length rules
//! each header's module states once for both this parser and its view
//! (`ethernet::check_len`, `vlan::check_len`, `arp::check_ethernet_ipv4`,
//! `ipv4::check_version` and `check_lengths`, the same for `ipv6` plus
//! `walk_extension_headers`, `tcp::header_len_checked`, `udp::check_len`,
//! `icmpv4::check_len`, `icmpv6::check_len`). Only the tag count, the
//! protocol dispatch and the [`MAX_PARSED_LEN`] limit are this parser's
//! own. Layout offsets are
//! `u16`, so only the first [`MAX_PARSED_LEN`] bytes of a longer frame are
//! looked at: a packet whose stated length reaches past them is reported
//! as a bad length.

use crate::flow::{FlowKey, IpFrag, Layout, Parsed};
use crate::wire::{
    arp, ethernet, icmpv4, icmpv6, ip_proto, ipv4, ipv6, read_array, read_u16, read_u8, tcp, udp,
    vlan,
};
use crate::DropReason;

/// The most VLAN tags a frame may carry (QinQ).
pub const MAX_VLAN_TAGS: u8 = 2;

/// The most bytes of a frame that [`parse`] reads: the largest offset a
/// [`Layout`](crate::Layout) can hold.
pub const MAX_PARSED_LEN: usize = u16::MAX as usize;

/// Parses a frame into its flow key and header layout.
///
/// Errors name the first malformed header met; see the module docs and
/// [`DropReason`] for the rules.
#[inline]
pub fn parse(frame: &[u8]) -> Result<Parsed, DropReason> {
    let mut parsed = Parsed::default();
    parse_into(frame, &mut parsed)?;
    Ok(parsed)
}

/// [`parse`] into a value the caller owns, every field of which it
/// overwrites (those of headers the frame lacks with their defaults). The
/// fast path uses this form, because returning the result by value costs a
/// copy of it per frame. On error, `parsed` holds what was read before the
/// malformed header.
#[inline(always)]
pub fn parse_into(frame: &[u8], parsed: &mut Parsed) -> Result<(), DropReason> {
    if parse_plain_ipv4(frame, parsed) {
        return Ok(());
    }
    parse_any_into(frame, parsed)
}

/// The frames most traffic is made of, read at fixed offsets: untagged
/// IPv4 without options, not a fragment, carrying a well-formed TCP or UDP
/// header. Returns false, having written nothing, for any other frame;
/// [`parse_any_into`] then parses it (and reaches the same result as this
/// for the frames taken here: the tests compare the two). The lengths are
/// checked by the same functions of [`crate::wire`]; only the "plain" test
/// is this function's own. Inlined, it spares the common frame the general
/// parse's call and its walk of optional headers (about 100 of its 140
/// instructions).
#[inline(always)]
fn parse_plain_ipv4(frame: &[u8], parsed: &mut Parsed) -> bool {
    const L3: usize = ethernet::HEADER_LEN;
    /// Version 4, IHL 5: no options.
    const PLAIN_VER_IHL: u8 = 0x45;
    let Some(head) = frame.first_chunk::<{ L3 + ipv4::HEADER_LEN }>() else {
        return false;
    };
    let flags_offset = read_u16(head, L3 + ipv4::field::FLAGS_FRAG_OFFSET.start);
    if frame.len() > MAX_PARSED_LEN
        || read_u16(head, ethernet::field::ETHERTYPE.start) != ethernet::ethertype::IPV4
        || head[L3 + ipv4::field::VER_IHL] != PLAIN_VER_IHL
        || flags_offset & (ipv4::FLAG_MORE_FRAGMENTS | ipv4::FRAG_OFFSET_MASK) != 0
    {
        return false;
    }
    let Some(packet) = frame.get(L3..) else {
        return false;
    };
    let Ok(ipv4::Ipv4Lengths { total_len, .. }) = ipv4::check_lengths(packet) else {
        return false;
    };
    let segment = packet.get(ipv4::HEADER_LEN..total_len).unwrap_or_default();
    let proto = head[L3 + ipv4::field::PROTOCOL];
    let l4_header_len = match proto {
        ip_proto::TCP => tcp::header_len_checked(segment).ok(),
        ip_proto::UDP => udp::check_len(segment).ok().map(|_| udp::HEADER_LEN),
        _ => None,
    };
    let Some(l4_header_len) = l4_header_len else {
        return false;
    };
    // Every field, each stored in place: none is left to a clear
    // beforehand (a dozen stores a frame), and none is built apart and
    // copied (a stalled store-to-load forward). Destructured, so that a
    // field added to either struct must be written here too.
    let FlowKey {
        eth_dst,
        eth_src,
        vlan,
        inner_vlan,
        ethertype,
        ip_src,
        ip_dst,
        ip_proto,
        ip_tos,
        ip_ttl,
        ip_frag,
        l4_src,
        l4_dst,
        tcp_flags,
    } = &mut parsed.key;
    *eth_dst = read_array(head, ethernet::field::DESTINATION.start);
    *eth_src = read_array(head, ethernet::field::SOURCE.start);
    (*vlan, *inner_vlan) = (0, 0);
    *ethertype = ethernet::ethertype::IPV4;
    *ip_src = widen(read_array(head, L3 + ipv4::field::SRC_ADDR.start));
    *ip_dst = widen(read_array(head, L3 + ipv4::field::DST_ADDR.start));
    *ip_proto = proto;
    *ip_tos = head[L3 + ipv4::field::TOS];
    *ip_ttl = head[L3 + ipv4::field::TTL];
    *ip_frag = IpFrag::None;
    // TCP and UDP have their ports at the same offsets.
    *l4_src = read_u16(segment, tcp::field::SRC_PORT.start);
    *l4_dst = read_u16(segment, tcp::field::DST_PORT.start);
    *tcp_flags = match proto {
        ip_proto::TCP => read_u8(segment, tcp::field::FLAGS),
        _ => 0,
    };
    let Layout {
        vlan_tags,
        l3,
        l4,
        payload,
        l3_end,
    } = &mut parsed.layout;
    *vlan_tags = 0;
    *l3 = L3 as u16;
    // Within the frame, whose length is at most MAX_PARSED_LEN.
    *l3_end = (L3 + total_len) as u16;
    *l4 = (L3 + ipv4::HEADER_LEN) as u16;
    *payload = (L3 + ipv4::HEADER_LEN + l4_header_len) as u16;
    true
}

/// The parse of any frame: [`parse_into`]'s rules, without its shortcut.
#[inline(never)]
fn parse_any_into(frame: &[u8], parsed: &mut Parsed) -> Result<(), DropReason> {
    parsed.clear();
    let frame = frame.get(..MAX_PARSED_LEN).unwrap_or(frame);
    ethernet::check_len(frame)?;
    parsed.key.eth_dst = read_array(frame, ethernet::field::DESTINATION.start);
    parsed.key.eth_src = read_array(frame, ethernet::field::SOURCE.start);

    // Each tag is a TPID where the EtherType would be, followed by the TCI
    // and the next EtherType (IEEE 802.1Q clause 9.3).
    let mut ethertype_at = ethernet::field::ETHERTYPE.start;
    let mut ethertype = read_u16(frame, ethertype_at);
    let mut tags = 0;
    while vlan::is_tpid(ethertype) {
        if tags == MAX_VLAN_TAGS {
            return Err(DropReason::VlanTooManyTags);
        }
        let tag_at = ethertype_at + 2;
        vlan::check_len(frame.get(tag_at..).unwrap_or_default())?;
        let vid = read_u16(frame, tag_at + vlan::field::TCI.start) & vlan::VID_MASK;
        if tags == 0 {
            parsed.key.vlan = vid;
        } else {
            parsed.key.inner_vlan = vid;
        }
        ethertype_at = tag_at + vlan::field::ETHERTYPE.start;
        ethertype = read_u16(frame, ethertype_at);
        tags += 1;
    }
    let l3 = ethertype_at + 2;
    parsed.key.ethertype = ethertype;
    parsed.layout.vlan_tags = tags;
    // At most 14 + 2 * 4.
    parsed.layout.l3 = l3 as u16;

    match ethertype {
        ethernet::ethertype::IPV4 => parse_ipv4(frame, l3, parsed)?,
        ethernet::ethertype::IPV6 => parse_ipv6(frame, l3, parsed)?,
        ethernet::ethertype::ARP => parse_arp(frame, l3, parsed)?,
        _ => {}
    }
    Ok(())
}

/// Stores an IPv4 address in the first 4 bytes of a flow-key address.
#[inline(always)]
fn widen(addr: [u8; 4]) -> [u8; 16] {
    let mut wide = [0; 16];
    wide[..4].copy_from_slice(&addr);
    wide
}

#[inline(always)]
fn parse_arp(frame: &[u8], l3: usize, parsed: &mut Parsed) -> Result<(), DropReason> {
    let packet = frame.get(l3..).unwrap_or_default();
    arp::check_ethernet_ipv4(packet)?;
    let key = &mut parsed.key;
    key.ip_src = widen(read_array(
        packet,
        arp::field::source_protocol_addr(6, 4).start,
    ));
    key.ip_dst = widen(read_array(
        packet,
        arp::field::target_protocol_addr(6, 4).start,
    ));
    // The flow key keeps the opcode's low byte (1 request, 2 reply).
    key.ip_proto = read_u16(packet, arp::field::OPERATION.start) as u8;
    Ok(())
}

/// The fragment state from "more fragments" and "offset is nonzero".
#[inline(always)]
fn fragment_state(more_frags: bool, nonzero_offset: bool) -> IpFrag {
    match (more_frags, nonzero_offset) {
        (_, true) => IpFrag::Later,
        (true, false) => IpFrag::First,
        (false, false) => IpFrag::None,
    }
}

#[inline(always)]
fn parse_ipv4(frame: &[u8], l3: usize, parsed: &mut Parsed) -> Result<(), DropReason> {
    let packet = frame.get(l3..).unwrap_or_default();
    ipv4::check_version(packet)?;
    let ipv4::Ipv4Lengths {
        header_len,
        total_len,
    } = ipv4::check_lengths(packet)?;

    let key = &mut parsed.key;
    key.ip_tos = read_u8(packet, ipv4::field::TOS);
    key.ip_ttl = read_u8(packet, ipv4::field::TTL);
    key.ip_proto = read_u8(packet, ipv4::field::PROTOCOL);
    key.ip_src = widen(read_array(packet, ipv4::field::SRC_ADDR.start));
    key.ip_dst = widen(read_array(packet, ipv4::field::DST_ADDR.start));
    let flags_offset = read_u16(packet, ipv4::field::FLAGS_FRAG_OFFSET.start);
    key.ip_frag = fragment_state(
        flags_offset & ipv4::FLAG_MORE_FRAGMENTS != 0,
        flags_offset & ipv4::FRAG_OFFSET_MASK != 0,
    );
    // Within the frame, whose length is at most MAX_PARSED_LEN.
    parsed.layout.l3_end = (l3 + total_len) as u16;
    if key.ip_frag == IpFrag::Later {
        return Ok(());
    }
    let packet = packet.get(..total_len).unwrap_or_default();
    parse_l4(packet, l3, header_len, ip_proto::ICMP, parsed)
}

#[inline(always)]
fn parse_ipv6(frame: &[u8], l3: usize, parsed: &mut Parsed) -> Result<(), DropReason> {
    let packet = frame.get(l3..).unwrap_or_default();
    ipv6::check_version(packet)?;
    let end = ipv6::check_lengths(packet)?;

    let key = &mut parsed.key;
    // Traffic Class straddles the first two bytes, after the version.
    key.ip_tos = (read_u16(packet, ipv6::field::VER_TC_FLOW.start) >> 4) as u8;
    key.ip_ttl = read_u8(packet, ipv6::field::HOP_LIMIT);
    key.ip_src = read_array(packet, ipv6::field::SRC_ADDR.start);
    key.ip_dst = read_array(packet, ipv6::field::DST_ADDR.start);
    // Within the frame, whose length is at most MAX_PARSED_LEN.
    parsed.layout.l3_end = (l3 + end) as u16;

    let packet = packet.get(..end).unwrap_or_default();
    let payload = packet.get(ipv6::HEADER_LEN..).unwrap_or_default();
    let walk = ipv6::walk_extension_headers(read_u8(packet, ipv6::field::NEXT_HEADER), payload)?;
    key.ip_proto = walk.next_header;
    if let Some(fragment) = walk.fragment {
        key.ip_frag = fragment_state(fragment.more_frags, fragment.offset != 0);
        if key.ip_frag == IpFrag::Later {
            return Ok(());
        }
    }
    parse_l4(
        packet,
        l3,
        ipv6::HEADER_LEN + walk.headers_len,
        ip_proto::ICMPV6,
        parsed,
    )
}

/// Parses the L4 header of `packet` (the L3 packet up to its stated end,
/// starting at frame offset `l3`), found `l4_at` bytes into it. `icmp` is
/// the ICMP protocol number of this IP version.
#[inline(always)]
fn parse_l4(
    packet: &[u8],
    l3: usize,
    l4_at: usize,
    icmp: u8,
    parsed: &mut Parsed,
) -> Result<(), DropReason> {
    let segment = packet.get(l4_at..).unwrap_or_default();
    let key = &mut parsed.key;
    let header_len = match key.ip_proto {
        ip_proto::TCP => {
            let header_len = tcp::header_len_checked(segment)?;
            key.l4_src = read_u16(segment, tcp::field::SRC_PORT.start);
            key.l4_dst = read_u16(segment, tcp::field::DST_PORT.start);
            key.tcp_flags = read_u8(segment, tcp::field::FLAGS);
            header_len
        }
        ip_proto::UDP => {
            // A first fragment's UDP Length counts the whole datagram,
            // which the fragment does not hold: only its header must be.
            if key.ip_frag == IpFrag::First {
                udp::check_header(segment)?;
            } else {
                udp::check_len(segment)?;
            }
            key.l4_src = read_u16(segment, udp::field::SRC_PORT.start);
            key.l4_dst = read_u16(segment, udp::field::DST_PORT.start);
            udp::HEADER_LEN
        }
        proto if proto == icmp => {
            let header_len = if icmp == ip_proto::ICMP {
                icmpv4::check_len(segment)?;
                icmpv4::HEADER_LEN
            } else {
                icmpv6::check_len(segment)?;
                icmpv6::HEADER_LEN
            };
            // Type and Code sit at the same offsets in ICMP and ICMPv6.
            key.l4_src = u16::from(read_u8(segment, icmpv4::field::TYPE));
            key.l4_dst = u16::from(read_u8(segment, icmpv4::field::CODE));
            header_len
        }
        _ => return Ok(()),
    };
    // Both within the L3 packet, so within MAX_PARSED_LEN.
    let l4 = l3 + l4_at;
    parsed.layout.l4 = l4 as u16;
    parsed.layout.payload = (l4 + header_len) as u16;
    Ok(())
}

#[cfg(test)]
mod tests;
