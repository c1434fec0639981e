//! The uplink: what arrives from the underlay for the switch's VTEP
//! addresses.
//!
//! - ARP (RFC 826) and IPv6 neighbour discovery (RFC 4861): the sender is
//!   learned as a neighbour (when the message is for us, or refreshes an
//!   entry we have: RFC 826's "merge" rule), and a request or solicitation
//!   for a VTEP address is answered.
//! - VXLAN and Geneve to a VTEP address and a tunnel's UDP port: the
//!   headers are checked (flags, version, options, outer UDP checksum when
//!   it is not zero), the VNI picks the tunnel, and the frame is
//!   decapsulated: its inner frame enters the tunnel's bridge from the
//!   tunnel port. (The outer source is not learned as a neighbour: a lookup
//!   per frame costs more than the one ARP exchange it would save.)
//! - Anything else is dropped as not for us.

use std::net::IpAddr;

use super::{Stage, StageBurst, StageEnv};
use crate::action::Action;
use crate::context::{PacketCtx, TunnelMeta, TUNNEL_OPTIONS_MAX};
use crate::datapath::{Datapath, PortRole};
use crate::drop::DropReason;
use crate::flow::{is_multicast, IpFrag};
use crate::flow_cache::KeyFields;
use crate::overlay::addr_table::to_words;
use crate::overlay::{arp_sender_mac, mac_to_word, Origin, TunnelKind, Uplink};
use crate::trace::TraceEvent;
use crate::wire::checksum::PseudoHeader;
use crate::wire::ethernet::ethertype;
use crate::wire::{geneve, ip_proto, ndp, vxlan, UdpPacket};

/// The uplink stage.
#[derive(Debug, Default)]
pub struct UplinkStage;

impl Stage for UplinkStage {
    fn name(&self) -> &'static str {
        "uplink"
    }

    fn reads(&self) -> KeyFields {
        KeyFields::L2
    }

    /// Decapsulation fills the context's tunnel metadata, which a cache hit
    /// would not.
    fn cacheable(&self) -> bool {
        false
    }

    fn run(&self, burst: &mut StageBurst<'_>, env: &mut StageEnv<'_>) {
        let dp = env.dp;
        for &i in burst.active {
            let i = i as usize;
            let (Some(ctx), Some(buf)) = (burst.ctxs.get_mut(i), burst.frames.get(i)) else {
                continue;
            };
            env.note(ctx, i, || TraceEvent::Stage("uplink"));
            let uplink = match dp.port(ctx.in_port).map(|p| p.role) {
                Some(PortRole::Uplink(u)) => dp.uplink(u),
                _ => None,
            };
            let Some(uplink) = uplink else {
                env.drop(ctx, i, DropReason::PortNotInBridge);
                continue;
            };
            let frame = buf.get(ctx.offset as usize..).unwrap_or_default();
            let key = &ctx.parsed.key;
            let ours = key.eth_dst == uplink.spec.mac || is_multicast(&key.eth_dst);
            let ndp = key.ethertype == ethertype::IPV6
                && key.ip_proto == ip_proto::ICMPV6
                && matches!(key.l4_src, 135 | 136);
            let outcome = match key.ethertype {
                ethertype::ARP => Ok(arp(ctx, frame, uplink, env)),
                _ if ndp => Ok(neighbour_discovery(ctx, frame, uplink, env)),
                ethertype::IPV4 | ethertype::IPV6 if ours => decapsulate(ctx, frame, uplink, dp),
                _ => Err(DropReason::UplinkNotForUs),
            };
            match outcome {
                Ok(action) => {
                    if let Action::Drop(reason) = action {
                        env.drop(ctx, i, reason);
                        continue;
                    }
                    if action == Action::Decap && ctx.trace {
                        let text = decap_text(&ctx.tunnel, dp);
                        env.note(ctx, i, || TraceEvent::Note(text));
                    }
                    ctx.actions.push(action);
                }
                Err(reason) => env.drop(ctx, i, reason),
            }
        }
    }
}

fn decap_text(t: &TunnelMeta, dp: &Datapath) -> String {
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

/// An address of the flow key (IPv4 in its first 4 bytes).
fn key_addr(addr: &[u8; 16], ipv6: bool) -> IpAddr {
    if ipv6 {
        IpAddr::from(*addr)
    } else {
        IpAddr::from([addr[0], addr[1], addr[2], addr[3]])
    }
}

/// Learns `addr` at `mac` when the message is for us (`add`) or we already
/// have an entry for it.
fn learn_neighbour(uplink: &Uplink, addr: IpAddr, mac: [u8; 6], add: bool, now: u32) {
    if addr.is_unspecified() || is_multicast(&mac) || mac == [0; 6] {
        return;
    }
    let known = uplink.neighbours.find(addr);
    let current = known.is_some_and(|e| e.value == mac_to_word(&mac) && e.seen == now);
    if (add || known.is_some()) && !current {
        uplink
            .neighbours
            .upsert(addr, mac_to_word(&mac), now, Origin::Learned);
    }
}

fn arp(ctx: &PacketCtx, frame: &[u8], uplink: &Uplink, env: &mut StageEnv<'_>) -> Action {
    let key = &ctx.parsed.key;
    let sender = key_addr(&key.ip_src, false);
    let target = key_addr(&key.ip_dst, false);
    let mac = arp_sender_mac(frame, ctx.parsed.layout.l3);
    let for_us = uplink.spec.owns(target);
    learn_neighbour(uplink, sender, mac, for_us, env.now);
    if key.ip_proto == 1 && for_us {
        Action::AnswerNeighbour
    } else {
        Action::Drop(DropReason::UplinkArp)
    }
}

fn neighbour_discovery(
    ctx: &PacketCtx,
    frame: &[u8],
    uplink: &Uplink,
    env: &mut StageEnv<'_>,
) -> Action {
    let key = &ctx.parsed.key;
    let icmp = frame
        .get(ctx.parsed.layout.l4 as usize..)
        .unwrap_or_default();
    match ndp::parse(icmp) {
        Ok(ndp::NdpMessage::Solicit { target, source_mac }) => {
            let for_us = uplink.spec.owns(IpAddr::from(target));
            if let Some(mac) = source_mac {
                learn_neighbour(uplink, key_addr(&key.ip_src, true), mac, for_us, env.now);
            }
            if for_us {
                return Action::AnswerNeighbour;
            }
        }
        Ok(ndp::NdpMessage::Advert {
            target, target_mac, ..
        }) => {
            if let Some(mac) = target_mac {
                learn_neighbour(uplink, IpAddr::from(target), mac, false, env.now);
            }
        }
        Err(_) => {}
    }
    Action::Drop(DropReason::UplinkNdp)
}

/// Checks a tunnel frame for us and fills the context's tunnel metadata:
/// `Ok(Decap)`, or why it is dropped.
fn decapsulate(
    ctx: &mut PacketCtx,
    frame: &[u8],
    uplink: &Uplink,
    dp: &Datapath,
) -> Result<Action, DropReason> {
    let key = &ctx.parsed.key;
    let layout = ctx.parsed.layout;
    let ipv6 = key.ethertype == ethertype::IPV6;
    let dst = key_addr(&key.ip_dst, ipv6);
    let src = key_addr(&key.ip_src, ipv6);
    if key.ip_proto != ip_proto::UDP || !uplink.spec.owns(dst) {
        return Err(DropReason::UplinkNotForUs);
    }
    if key.ip_frag != IpFrag::None {
        return Err(DropReason::TunnelOuterFragment);
    }
    let mut candidates = uplink
        .tunnels
        .iter()
        .filter_map(|&t| dp.tunnel(t))
        .filter(|t| t.spec.udp_port == key.l4_dst && t.spec.local == dst);
    let Some(kind) = candidates.clone().next().map(|t| t.spec.kind) else {
        return Err(DropReason::UplinkNotForUs);
    };
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
    Ok(Action::Decap)
}
