//! Building encapsulated frames back to front.
//!
//! A tunnel endpoint (VXLAN, RFC 7348; Geneve, RFC 8926) puts a frame
//! inside outer headers: Ethernet, maybe a VLAN tag, IPv4 or IPv6, UDP and
//! the tunnel header. [`FrameBuilder`] writes them in front of a payload
//! already in the caller's buffer, innermost first, so the payload is
//! never moved: each `push_*` takes bytes of headroom in front of what is
//! there. The type field of each header (IPv4 Protocol, IPv6 Next Header,
//! EtherType) names the header pushed before it, and the builder's type
//! parameter (a [`front`] marker) only offers the pushes that can sit in
//! front of it, so no type field is ever left unknown.
//!
//! Lengths and checksums depend on everything behind a header, so they are
//! filled in at the end by [`fix_outer_lengths`], which is also the step
//! the fast path runs after copying a prebuilt header template in front of
//! a new payload: one piece of code for both.

use core::marker::PhantomData;
use core::ops::Range;

use super::checksum::{self, PseudoHeader};
use super::ethernet::{ethertype, EthernetFrame, EthernetRepr};
use super::ipv4::{self, Ipv4Packet, Ipv4Repr};
use super::ipv6::{self, Ipv6Packet, Ipv6Repr};
use super::udp::{self, UdpPacket};
use super::vlan::{self, VlanHeader};
use super::{check_room, ethernet, ip_proto, EmitError};

/// The fields of an outer IPv4 header that the caller chooses; the rest
/// are fixed (version 4, no options, not a fragment), named by what is
/// inside (Protocol) or filled in by [`fix_outer_lengths`] (Total Length,
/// Header Checksum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Outer {
    /// Source Address.
    pub src: [u8; 4],
    /// Destination Address.
    pub dst: [u8; 4],
    /// Time to Live.
    pub ttl: u8,
    /// Type of Service byte (DSCP and ECN).
    pub tos: u8,
    /// Don't Fragment. RFC 7348 section 4.3: "VTEPs MUST NOT fragment
    /// VXLAN packets"; with DF set, routers on the path do not either.
    pub dont_fragment: bool,
    /// Identification. RFC 6864 section 4.1: an atomic datagram (DF set,
    /// not a fragment) may carry any value.
    pub ident: u16,
}

/// The fields of an outer IPv6 header that the caller chooses; Next Header
/// names what is inside and Payload Length is filled in by
/// [`fix_outer_lengths`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Outer {
    /// Source Address.
    pub src: [u8; 16],
    /// Destination Address.
    pub dst: [u8; 16],
    /// Hop Limit.
    pub hop_limit: u8,
    /// Traffic Class.
    pub traffic_class: u8,
    /// Flow Label (the low 20 bits). RFC 6438: a tunnel endpoint may set
    /// it from the inner flow, so that routers spread tunnels over paths.
    pub flow_label: u32,
}

/// Where the outer headers of a frame are, as offsets from its start:
/// what [`fix_outer_lengths`] needs to find the length fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OuterLayout {
    /// The IP header.
    pub l3: usize,
    /// True for IPv6, false for IPv4.
    pub ipv6: bool,
    /// The UDP header, if there is one.
    pub udp: Option<usize>,
}

/// The largest length a 16-bit length field states.
const MAX_FIELD_LEN: usize = u16::MAX as usize;

/// `len` as a 16-bit length field, or `TooLong`.
fn length_field(len: usize) -> Result<u16, EmitError> {
    u16::try_from(len).map_err(|_| EmitError::TooLong {
        len,
        max: MAX_FIELD_LEN,
    })
}

/// Fills in the length fields and checksums of the outer headers of
/// `frame`, whose payload runs to the end of `frame`:
///
/// - IPv4 Total Length (RFC 791: "the length of the datagram, measured in
///   octets, including internet header and data") and Header Checksum
///   (computed last, over the header as it then is);
/// - IPv6 Payload Length (RFC 8200 section 3: "the rest of the packet
///   following this IPv6 header");
/// - UDP Length (RFC 768: "this user datagram including this header and
///   the data") and Checksum. Over IPv4 the checksum is computed only if
///   `udp_checksum` is set, else stored as zero (RFC 768: "An all zero
///   transmitted checksum value means that the transmitter generated no
///   checksum"; RFC 7348 section 5: VXLAN's "UDP Checksum: It SHOULD be
///   transmitted as zero"). Over IPv6 it is always computed, whatever
///   `udp_checksum` says: RFC 8200 section 8.1, "unlike IPv4, the default
///   behavior when UDP packets are originated by an IPv6 node is that the
///   UDP checksum is not optional".
///
/// The IP header must have no options (an IPv4 header of 20 bytes), and
/// for IPv6 the pseudo-header's destination is the header's: no Routing
/// header. Fails, writing nothing, with `Truncated` if a header of
/// `outer` runs past `frame`, or `TooLong` if a length exceeds 65535.
pub fn fix_outer_lengths(
    frame: &mut [u8],
    outer: &OuterLayout,
    udp_checksum: bool,
) -> Result<(), EmitError> {
    fix_lengths(frame, outer, udp_checksum, None)
}

/// The partial sum (see [`checksum::data_sum`]) of an outer IPv4 header
/// with its Total Length, Header Checksum and Destination Address taken as
/// zero: what [`fix_template_lengths`] starts from.
pub fn ipv4_fixed_sum(header: &[u8]) -> u16 {
    let mut copy = [0u8; ipv4::HEADER_LEN];
    if let Some(h) = header.get(..ipv4::HEADER_LEN) {
        copy.copy_from_slice(h);
    }
    copy[ipv4::field::LENGTH].fill(0);
    copy[ipv4::field::CHECKSUM].fill(0);
    copy[ipv4::field::DST_ADDR].fill(0);
    checksum::data_sum(&copy)
}

/// [`fix_outer_lengths`] for a frame whose outer headers are a template's
/// copy with the IPv4 destination set: the IPv4 header checksum comes from
/// the template's `fixed_sum` ([`ipv4_fixed_sum`]) plus the two fields that
/// changed, not from reading back the header just written, whose 16-bit
/// stores a wider load cannot be forwarded from (two stalls a frame under
/// perf). RFC 1071 section 2 (C): the sum is the same in any order and
/// grouping.
pub fn fix_template_lengths(
    frame: &mut [u8],
    outer: &OuterLayout,
    udp_checksum: bool,
    fixed_sum: u16,
) -> Result<(), EmitError> {
    fix_lengths(frame, outer, udp_checksum, Some(fixed_sum))
}

fn fix_lengths(
    frame: &mut [u8],
    outer: &OuterLayout,
    udp_checksum: bool,
    ipv4_fixed: Option<u16>,
) -> Result<(), EmitError> {
    let ip_header_len = if outer.ipv6 {
        ipv6::HEADER_LEN
    } else {
        ipv4::HEADER_LEN
    };
    let ip_end = outer.l3.saturating_add(ip_header_len);
    let udp_end = outer
        .udp
        .map_or(0, |udp| udp.saturating_add(udp::HEADER_LEN));
    check_room(frame, ip_end.max(udp_end))?;
    // Every length is checked before anything is written. Within the
    // frame by the check above, so the subtractions cannot wrap.
    let ip_len = frame.len() - outer.l3;
    let ip_field = length_field(if outer.ipv6 {
        ip_len - ipv6::HEADER_LEN
    } else {
        ip_len
    })?;
    let udp_field = match outer.udp {
        Some(udp) => Some((udp, length_field(frame.len() - udp)?)),
        None => None,
    };

    let ip = frame.get_mut(outer.l3..).unwrap_or_default();
    let pseudo_header = if outer.ipv6 {
        let mut packet = Ipv6Packet::new_unchecked(ip);
        packet.set_payload_len(ip_field);
        PseudoHeader::Ipv6 {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
        }
    } else {
        let mut packet = Ipv4Packet::new_unchecked(ip);
        packet.set_total_len(ip_field);
        match ipv4_fixed {
            Some(fixed) => {
                let dst = packet.dst_addr();
                let sum = checksum::combine(&[
                    fixed,
                    ip_field,
                    u16::from_be_bytes([dst[0], dst[1]]),
                    u16::from_be_bytes([dst[2], dst[3]]),
                ]);
                packet.set_checksum(!sum);
            }
            None => packet.fill_checksum(),
        }
        PseudoHeader::Ipv4 {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
        }
    };
    if let Some((udp, udp_len)) = udp_field {
        let mut packet = UdpPacket::new_unchecked(frame.get_mut(udp..).unwrap_or_default());
        packet.set_len(udp_len);
        if udp_checksum || outer.ipv6 {
            packet.fill_checksum(&pseudo_header);
        } else {
            packet.set_checksum(0);
        }
    }
    Ok(())
}

/// Markers for what a [`FrameBuilder`] has at its front: they decide which
/// headers may be pushed next.
pub mod front {
    /// Untyped bytes: the payload, or bytes pushed in front of it (a tunnel
    /// header). UDP or more bytes may go in front.
    #[derive(Debug)]
    pub struct Data;
    /// A UDP header: IPv4 or IPv6 may go in front (Protocol 17).
    #[derive(Debug)]
    pub struct Udp;
    /// An IP header: a VLAN tag or Ethernet may go in front.
    #[derive(Debug)]
    pub struct Ip;
    /// A VLAN tag: another tag or Ethernet may go in front (EtherType
    /// 0x8100).
    #[derive(Debug)]
    pub struct Vlan;
    /// An Ethernet header: the frame is complete.
    #[derive(Debug)]
    pub struct Ethernet;
}

mod sealed {
    /// Keeps the marker traits to the [`super::front`] markers.
    pub trait Sealed {}
    impl Sealed for super::front::Ip {}
    impl Sealed for super::front::Vlan {}
    impl Sealed for super::front::Ethernet {}
}

/// Fronts that Ethernet or a VLAN tag can carry, named by an EtherType.
pub trait L2Payload: sealed::Sealed {}
impl L2Payload for front::Ip {}
impl L2Payload for front::Vlan {}

/// Fronts with an IP header behind them: the frame can be finished.
pub trait HasIp: sealed::Sealed {}
impl HasIp for front::Ip {}
impl HasIp for front::Vlan {}
impl HasIp for front::Ethernet {}

/// Builds a frame back to front in a caller's buffer; see the module docs.
///
/// Each push consumes the builder and returns it with its new front, or
/// [`EmitError::Truncated`] if the headroom is short, in which case
/// nothing was written.
#[derive(Debug)]
pub struct FrameBuilder<'a, F = front::Data> {
    /// Headroom, then the frame built so far from `start` to the end.
    buf: &'a mut [u8],
    /// Where the frame built so far starts.
    start: usize,
    /// The EtherType that names the front header (0 until an IP header is
    /// pushed: no Ethernet or VLAN push is offered before).
    ethertype: u16,
    /// Where the IP header starts (meaningful once one was pushed).
    l3: usize,
    /// Whether that header is IPv6.
    ipv6: bool,
    /// Where the UDP header starts (meaningful once one was pushed).
    udp: usize,
    front: PhantomData<F>,
}

impl<'a, F> FrameBuilder<'a, F> {
    /// Moves the start `len` bytes towards the front and returns the frame
    /// from there: the new header's room first.
    fn prepend(&mut self, len: usize) -> Result<&mut [u8], EmitError> {
        let Some(start) = self.start.checked_sub(len) else {
            return Err(EmitError::Truncated {
                needed: len,
                available: self.start,
            });
        };
        self.start = start;
        Ok(self.buf.get_mut(start..).unwrap_or_default())
    }

    /// The same builder with a new front.
    fn with_front<G>(self) -> FrameBuilder<'a, G> {
        FrameBuilder {
            buf: self.buf,
            start: self.start,
            ethertype: self.ethertype,
            l3: self.l3,
            ipv6: self.ipv6,
            udp: self.udp,
            front: PhantomData,
        }
    }
}

impl<'a> FrameBuilder<'a> {
    /// A builder for the payload `buf[start..]`, with `start` bytes of
    /// headroom in front of it (`Truncated` if `start` is past the end).
    pub fn new(buf: &'a mut [u8], start: usize) -> Result<Self, EmitError> {
        check_room(buf, start)?;
        Ok(FrameBuilder {
            buf,
            start,
            ethertype: 0,
            l3: 0,
            ipv6: false,
            udp: 0,
            front: PhantomData,
        })
    }

    /// Puts `bytes` (a VXLAN or Geneve header, say) in front.
    pub fn push_bytes(mut self, bytes: &[u8]) -> Result<Self, EmitError> {
        let room = self.prepend(bytes.len())?;
        if let Some(room) = room.get_mut(..bytes.len()) {
            room.copy_from_slice(bytes);
        }
        Ok(self)
    }

    /// Puts a UDP header in front; Length and Checksum are left zero for
    /// [`fix_outer_lengths`].
    pub fn push_udp(
        mut self,
        src_port: u16,
        dst_port: u16,
    ) -> Result<FrameBuilder<'a, front::Udp>, EmitError> {
        let mut packet = UdpPacket::new_unchecked(self.prepend(udp::HEADER_LEN)?);
        packet.set_src_port(src_port);
        packet.set_dst_port(dst_port);
        packet.set_len(0);
        packet.set_checksum(0);
        self.udp = self.start;
        Ok(self.with_front())
    }
}

impl<'a> FrameBuilder<'a, front::Udp> {
    /// Puts a 20-byte IPv4 header with Protocol UDP in front.
    pub fn push_ipv4(mut self, outer: Ipv4Outer) -> Result<FrameBuilder<'a, front::Ip>, EmitError> {
        let repr = Ipv4Repr {
            src_addr: outer.src,
            dst_addr: outer.dst,
            protocol: ip_proto::UDP,
            // Filled in by fix_outer_lengths.
            payload_len: 0,
            ttl: outer.ttl,
            tos: outer.tos,
            ident: outer.ident,
            dont_frag: outer.dont_fragment,
            more_frags: false,
            frag_offset: 0,
        };
        repr.emit(&mut Ipv4Packet::new_unchecked(
            self.prepend(ipv4::HEADER_LEN)?,
        ))?;
        self.l3 = self.start;
        self.ipv6 = false;
        self.ethertype = ethertype::IPV4;
        Ok(self.with_front())
    }

    /// Puts a 40-byte IPv6 header with Next Header UDP in front.
    pub fn push_ipv6(mut self, outer: Ipv6Outer) -> Result<FrameBuilder<'a, front::Ip>, EmitError> {
        let repr = Ipv6Repr {
            src_addr: outer.src,
            dst_addr: outer.dst,
            next_header: ip_proto::UDP,
            // Filled in by fix_outer_lengths.
            payload_len: 0,
            hop_limit: outer.hop_limit,
            traffic_class: outer.traffic_class,
            flow_label: outer.flow_label,
        };
        repr.emit(&mut Ipv6Packet::new_unchecked(
            self.prepend(ipv6::HEADER_LEN)?,
        ))?;
        self.l3 = self.start;
        self.ipv6 = true;
        self.ethertype = ethertype::IPV6;
        Ok(self.with_front())
    }
}

impl<'a, F: L2Payload> FrameBuilder<'a, F> {
    /// Puts an IEEE 802.1Q tag (TPID 0x8100, set by the header pushed in
    /// front of it) with Tag Control Information `tci` in front.
    pub fn push_vlan(mut self, tci: u16) -> Result<FrameBuilder<'a, front::Vlan>, EmitError> {
        let inner = self.ethertype;
        // The tag's TPID belongs to the header in front, like an EtherType.
        let mut header = VlanHeader::new_unchecked(self.prepend(vlan::HEADER_LEN)?);
        header.set_tci(tci);
        header.set_ethertype(inner);
        self.ethertype = ethertype::VLAN;
        Ok(self.with_front())
    }

    /// Puts the Ethernet header in front: the frame is complete.
    pub fn push_ethernet(
        mut self,
        dst_addr: [u8; 6],
        src_addr: [u8; 6],
    ) -> Result<FrameBuilder<'a, front::Ethernet>, EmitError> {
        let repr = EthernetRepr {
            dst_addr,
            src_addr,
            ethertype: self.ethertype,
        };
        repr.emit(&mut EthernetFrame::new_unchecked(
            self.prepend(ethernet::HEADER_LEN)?,
        ))?;
        Ok(self.with_front())
    }
}

impl<F: HasIp> FrameBuilder<'_, F> {
    /// Where the outer headers are in the frame built so far: with the
    /// frame's bytes up to the end of the UDP header, a template for
    /// [`fix_outer_lengths`].
    pub fn layout(&self) -> OuterLayout {
        // The start only moves towards the front, past l3 and udp.
        OuterLayout {
            l3: self.l3.saturating_sub(self.start),
            ipv6: self.ipv6,
            udp: Some(self.udp.saturating_sub(self.start)),
        }
    }

    /// Fills in lengths and checksums with [`fix_outer_lengths`] and
    /// returns where the finished frame is in the buffer.
    pub fn finish(self, udp_checksum: bool) -> Result<Range<usize>, EmitError> {
        let layout = self.layout();
        let frame = self.buf.get_mut(self.start..).unwrap_or_default();
        fix_outer_lengths(frame, &layout, udp_checksum)?;
        Ok(self.start..self.buf.len())
    }
}

#[cfg(test)]
mod tests;
