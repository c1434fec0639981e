//! Decapsulation, in the parse step of an uplink's frames (as Open
//! vSwitch pops tunnels in its datapath): a VXLAN or Geneve frame for one
//! of the uplink's VTEP addresses and a tunnel's UDP port is checked, its
//! tunnel metadata filled, and its inner frame parsed and keyed at once as
//! entering from the tunnel port, so it takes one pass through the
//! pipeline, not two. What is not tunnel traffic goes on to the uplink
//! stage (neighbour discovery, or dropped as not for us).
//!
//! The checks: an outer fragment; a non-zero outer UDP checksum that is
//! wrong (zero is accepted, RFC 7348 section 5 and RFC 6935); VXLAN's I
//! flag; Geneve's version, option lengths, payload type and critical
//! options the tunnel does not understand (RFC 8926 section 3.5); the VNI;
//! the sending VTEP when the tunnel does not learn remotes.

use std::net::IpAddr;

use super::{TunnelKind, Uplink};
use crate::context::{PacketCtx, TunnelMeta, TUNNEL_OPTIONS_MAX};
use crate::datapath::Datapath;
use crate::drop::DropReason;
use crate::flow::{is_multicast, IpFrag};
use crate::overlay::addr_table::to_words;
use crate::wire::checksum::PseudoHeader;
use crate::wire::ethernet::ethertype;
use crate::wire::{geneve, ip_proto, vxlan, UdpPacket};

/// What decapsulation made of a frame on an uplink.
pub(crate) enum Decap {
    /// Not tunnel traffic for us: the uplink stage decides.
    NotTunnel,
    /// Tunnel traffic for us that is wrong.
    Dropped(DropReason),
    /// Decapsulated: the context's offset, port and tunnel metadata are
    /// the inner frame's.
    Done,
}

/// Decapsulates `frame` (the current frame of `ctx`, received on
/// `uplink`) if it is tunnel traffic for us.
#[inline]
pub(crate) fn decapsulate(
    dp: &Datapath,
    uplink: &Uplink,
    ctx: &mut PacketCtx,
    frame: &[u8],
) -> Decap {
    let key = &ctx.parsed.key;
    let ours = key.eth_dst == uplink.spec.mac || is_multicast(&key.eth_dst);
    if !ours || !matches!(key.ethertype, ethertype::IPV4 | ethertype::IPV6) {
        return Decap::NotTunnel;
    }
    match check(ctx, frame, uplink, dp) {
        Ok(()) => {
            ctx.offset = ctx.offset.saturating_add(ctx.tunnel.header_len);
            ctx.in_port = ctx.tunnel.port;
            Decap::Done
        }
        Err(DropReason::UplinkNotForUs) => Decap::NotTunnel,
        Err(reason) => Decap::Dropped(reason),
    }
}

/// An address of the flow key (IPv4 in its first 4 bytes).
pub(crate) fn key_addr(addr: &[u8; 16], ipv6: bool) -> IpAddr {
    if ipv6 {
        IpAddr::from(*addr)
    } else {
        IpAddr::from([addr[0], addr[1], addr[2], addr[3]])
    }
}

/// Checks a tunnel frame for us and fills the context's tunnel metadata:
/// `Ok(())`, or why it is dropped (`UplinkNotForUs`: not tunnel traffic).
fn check(
    ctx: &mut PacketCtx,
    frame: &[u8],
    uplink: &Uplink,
    dp: &Datapath,
) -> Result<(), DropReason> {
    let key = &ctx.parsed.key;
    let layout = ctx.parsed.layout;
    let ipv6 = key.ethertype == ethertype::IPV6;
    let dst = key_addr(&key.ip_dst, ipv6);
    let src = key_addr(&key.ip_src, ipv6);
    if key.ip_proto != ip_proto::UDP || !uplink.spec.owns(dst) {
        return Err(DropReason::UplinkNotForUs);
    }
    // A later fragment has no ports: to a tunnel's address, it is taken
    // as the tunnel's. Fragments for no tunnel (a masqueraded datagram's
    // answer) are not tunnel traffic.
    let later = key.ip_frag == IpFrag::Later;
    let mut candidates = uplink
        .tunnels
        .iter()
        .filter_map(|&t| dp.tunnel(t))
        .filter(|t| (later || t.spec.udp_port == key.l4_dst) && t.spec.local == dst);
    let Some(kind) = candidates.clone().next().map(|t| t.spec.kind) else {
        return Err(DropReason::UplinkNotForUs);
    };
    if key.ip_frag != IpFrag::None {
        return Err(DropReason::TunnelOuterFragment);
    }
    let l3_end = (layout.l3_end as usize).min(frame.len());
    let datagram = frame.get(layout.l4 as usize..l3_end).unwrap_or_default();
    let udp = UdpPacket::new_unchecked(datagram);
    if udp.checksum() != 0 {
        let pseudo = if ipv6 {
            PseudoHeader::Ipv6 {
                src: key.ip_src,
                dst: key.ip_dst,
            }
        } else {
            PseudoHeader::Ipv4 {
                src: [key.ip_src[0], key.ip_src[1], key.ip_src[2], key.ip_src[3]],
                dst: [key.ip_dst[0], key.ip_dst[1], key.ip_dst[2], key.ip_dst[3]],
            }
        };
        if !udp.verify_checksum(&pseudo) {
            return Err(DropReason::TunnelBadUdpChecksum);
        }
    }
    let payload_at = layout.payload as usize;
    let header = frame.get(payload_at..l3_end).unwrap_or_default();
    let mut options: &[u8] = &[];
    let (vni, header_len) = match kind {
        TunnelKind::Vxlan => (vxlan::parse_header(header)?, vxlan::HEADER_LEN),
        TunnelKind::Geneve => {
            let len = geneve::check_header(header)?;
            let view = geneve::GenevePacket::new_unchecked(header);
            if view.protocol_type() != geneve::PROTOCOL_ETHERNET {
                return Err(DropReason::GeneveNotEthernet);
            }
            options = header.get(geneve::HEADER_LEN..len).unwrap_or_default();
            (view.vni(), len)
        }
    };
    let Some(tunnel) = candidates.find(|t| t.spec.vni == vni) else {
        return Err(DropReason::TunnelUnknownVni);
    };
    for option in geneve::options(options) {
        let option = option?;
        let understood = tunnel
            .spec
            .geneve_options
            .iter()
            .any(|o| o.class == option.class && o.kind == option.kind);
        if option.is_critical() && !understood {
            return Err(DropReason::GeneveCriticalOption);
        }
    }
    if options.len() > TUNNEL_OPTIONS_MAX {
        return Err(DropReason::GeneveBadOptions);
    }
    // (`tunnel_in` refreshes the remote when the inner frame enters.)
    if !tunnel.spec.learn_remotes && tunnel.state.vteps.index_of(to_words(src)).is_none() {
        return Err(DropReason::TunnelUnknownRemote);
    }
    let inner_at = payload_at + header_len;
    let meta = &mut ctx.tunnel;
    meta.present = true;
    meta.port = tunnel.port;
    meta.header_len = u16::try_from(inner_at).map_err(|_| DropReason::GeneveBadOptions)?;
    meta.vni = vni;
    meta.src = key.ip_src;
    meta.dst = key.ip_dst;
    meta.ipv6 = ipv6;
    meta.tos = key.ip_tos;
    meta.ttl = key.ip_ttl;
    meta.udp_src = key.l4_src;
    meta.udp_dst = key.l4_dst;
    meta.options_len = options.len() as u8;
    if let Some(room) = meta.options.get_mut(..options.len()) {
        room.copy_from_slice(options);
    }
    Ok(())
}

/// What trace says of a decapsulated frame.
pub(crate) fn decap_text(t: &TunnelMeta, dp: &Datapath) -> String {
    let port = dp.port_name(t.port).unwrap_or("?");
    let mut text = format!(
        "decapsulate VNI {} from {} (udp {} -> {}): enters from tunnel port {port}",
        t.vni,
        crate::stage::tunnel::outer_source(t),
        t.udp_src,
        t.udp_dst
    );
    if t.options_len > 0 {
        let options = t.options.get(..t.options_len as usize).unwrap_or_default();
        text.push_str(", geneve options");
        for option in geneve::options(options).flatten() {
            text.push_str(&format!(
                " [class {:#06x} type {:#04x}{} {} bytes]",
                option.class,
                option.kind,
                if option.is_critical() {
                    " critical"
                } else {
                    ""
                },
                option.data.len()
            ));
        }
    }
    text
}
