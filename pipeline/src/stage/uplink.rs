//! The uplink: what arrives from the underlay for the switch's VTEP
//! addresses and is not tunnel traffic (which is decapsulated when it is
//! parsed, see [`crate::overlay::decap`]).
//!
//! - ARP (RFC 826) and IPv6 neighbour discovery (RFC 4861): the sender is
//!   learned as a neighbour (when the message is for us, or refreshes an
//!   entry we have: RFC 826's "merge" rule), and a request or solicitation
//!   for a VTEP address is answered.
//! - IPv4 to the uplink's MAC for a host of a network that leaves by this
//!   uplink is routed into the network ([`crate::l3::route`]).
//! - Anything else is dropped as not for us. (The outer source of tunnel
//!   traffic is not learned as a neighbour: a lookup per frame costs more
//!   than the one ARP exchange it would save.)

use std::net::IpAddr;

use super::{Stage, StageBurst, StageEnv};
use crate::action::{Action, CtNat};
use crate::context::PacketCtx;
use crate::datapath::PortRole;
use crate::drop::DropReason;
use crate::flow::is_multicast;
use crate::flow_cache::KeyFields;
use crate::l3::nat::{self, NatStep};
use crate::l3::{nat_zone, route};
use crate::overlay::decap::key_addr;
use crate::overlay::{arp_sender_mac, mac_to_word, Origin, Uplink};
use crate::trace::TraceEvent;
use crate::wire::ethernet::ethertype;
use crate::wire::{ip_proto, ndp};

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

    /// Its frames are few (neighbour discovery and strays), and each
    /// answer depends on the frame's addresses, not only the L2 key.
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
                Some(PortRole::Uplink(u)) => dp.uplink(u).map(|up| (u, up)),
                _ => None,
            };
            let Some((u, uplink)) = uplink else {
                env.drop(ctx, i, DropReason::PortNotInBridge);
                continue;
            };
            let frame = buf.get(ctx.offset as usize..).unwrap_or_default();
            let key = &ctx.parsed.key;
            let ndp = key.ethertype == ethertype::IPV6
                && key.ip_proto == ip_proto::ICMPV6
                && matches!(key.l4_src, 135 | 136);
            // Tunnel frames were decapsulated when they were parsed
            // (`overlay::decap`): what reaches the stage is neighbour
            // discovery or not for us.
            let ip = key.ethertype == ethertype::IPV4 || (key.ethertype == ethertype::IPV6 && !ndp);
            let routed = ip
                && key.eth_dst == uplink.spec.mac
                && dp.networks().iter().any(|n| {
                    n.spec.uplink == Some(u as usize)
                        && n.spec.contains_addr(route::addresses(ctx).1)
                });
            if routed {
                // The way back in to a network that leaves by this uplink
                // (translated back to it by the tracker, when masqueraded).
                nat::note_verdict(ctx, i, env);
                route::route_ip(ctx, i, env, route::Source::Uplink(u));
                continue;
            }
            let to_translate = key.ethertype == ethertype::IPV4
                && key.eth_dst == uplink.spec.mac
                && uplink.spec.owns(route::addresses(ctx).1)
                && dp
                    .networks()
                    .iter()
                    .any(|n| n.spec.needs_nat() && n.spec.uplink == Some(u as usize));
            if to_translate {
                // To the uplink's address: a new connection to a published
                // port, or an answer to a masqueraded one. Translated by
                // the tracker, it comes here again addressed to the
                // container and is routed in above.
                if ctx.ct.state != 0 {
                    if let NatStep::Tracked = nat::verdict(ctx, i, env) {
                        env.drop(ctx, i, DropReason::NatNoConnection);
                    }
                    continue;
                }
                let dst = route::v4(&key.ip_dst);
                let published = dp.networks().iter().enumerate().find_map(|(n, net)| {
                    let rule = net.spec.published(key.ip_proto, dst, key.l4_dst)?;
                    (net.spec.uplink == Some(u as usize)).then_some((n, rule))
                });
                let (commit, nat) = match published {
                    Some((network, rule)) => (
                        true,
                        CtNat::Publish {
                            network: network as u16,
                            rule: rule as u8,
                        },
                    ),
                    None => (false, CtNat::Apply),
                };
                nat::track(ctx, i, env, nat_zone(u), commit, nat);
                continue;
            }
            let action = match key.ethertype {
                ethertype::ARP => arp(ctx, frame, uplink, env),
                _ if ndp => neighbour_discovery(ctx, frame, uplink, env),
                _ => Action::Drop(DropReason::UplinkNotForUs),
            };
            match action {
                Action::Drop(reason) => env.drop(ctx, i, reason),
                action => ctx.actions.push(action),
            }
        }
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
