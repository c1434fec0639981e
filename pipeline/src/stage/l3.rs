//! The gateway of the container networks on a bridge: in front of the L2
//! bridge on the ports of a bridge with networks (see [`crate::l3`]).
//!
//! For a frame in a network's VLAN:
//! - an ARP request (neighbour solicitation) for the gateway address is
//!   answered with the gateway MAC; the ARP and NDP messages it sees teach
//!   the network's neighbour table (the sender, when the message is for
//!   the gateway or the sender is known: RFC 826's merge rule), and a reply
//!   (advertisement) to the gateway is consumed;
//! - a frame to the gateway MAC is routed ([`crate::l3::route`]): IPv4,
//!   and IPv6 where the network has an IPv6 subnet; an echo request to a
//!   gateway address is answered;
//! - everything else, and every frame of a VLAN without a network, is the
//!   L2 bridge's.

use super::l2::{learn_source, L2Bridge};
use super::{Stage, StageBurst, StageEnv};
use crate::action::Action;
use crate::burst::MAX_BURST;
use crate::context::PacketCtx;
use crate::drop::DropReason;
use crate::flow_cache::KeyFields;
use crate::l3::egress::learn_neighbour;
use crate::l3::route::{addresses, mac_text, route_ip, v4, Source};
use crate::l3::Network;
use crate::overlay::arp_sender_mac;
use crate::trace::TraceEvent;
use crate::wire::ethernet::ethertype;
use crate::wire::{ip_proto, ndp};

/// The gateway stage, with the L2 bridge for what it does not take.
#[derive(Debug, Default)]
pub struct Gateway {
    l2: L2Bridge,
}

/// What the gateway does with a frame.
enum Verdict {
    /// Decided (actions or a drop).
    Taken,
    /// The L2 bridge's.
    Bridged,
}

impl Stage for Gateway {
    fn name(&self) -> &'static str {
        "l3"
    }

    fn reads(&self) -> KeyFields {
        KeyFields::L3.with(KeyFields::L4)
    }

    fn run(&self, burst: &mut StageBurst<'_>, env: &mut StageEnv<'_>) {
        let mut bridged = [0u8; MAX_BURST];
        let mut count = 0;
        for &i in burst.active {
            if let Verdict::Bridged = self.decide(burst, env, i as usize) {
                if let Some(slot) = bridged.get_mut(count) {
                    *slot = i;
                    count += 1;
                }
            }
        }
        let mut rest = StageBurst {
            ctxs: &mut *burst.ctxs,
            active: bridged.get(..count).unwrap_or_default(),
            frames: burst.frames,
        };
        self.l2.run(&mut rest, env);
    }
}

impl Gateway {
    fn decide(&self, burst: &mut StageBurst<'_>, env: &mut StageEnv<'_>, i: usize) -> Verdict {
        let dp = env.dp;
        let (Some(ctx), Some(buf)) = (burst.ctxs.get_mut(i), burst.frames.get(i)) else {
            return Verdict::Taken;
        };
        let Some((n, network)) = dp.network_at(ctx.bridge, ctx.vlan) else {
            return Verdict::Bridged;
        };
        let Some(bridge) = dp.bridge(ctx.bridge) else {
            return Verdict::Bridged;
        };
        let key = ctx.parsed.key;
        let spec = &network.spec;
        if key.ethertype == ethertype::ARP {
            let frame = buf.get(ctx.offset as usize..).unwrap_or_default();
            let sender_mac = arp_sender_mac(frame, ctx.parsed.layout.l3);
            let (sender, target) = (v4(&key.ip_src).into(), v4(&key.ip_dst));
            let for_gateway = target == spec.gateway;
            if !ctx.probe {
                learn_neighbour(network, sender, sender_mac, for_gateway, env.now);
            }
            if !for_gateway {
                return between_containers(ctx, i, env, network);
            }
            env.note(ctx, i, || TraceEvent::Stage("l3"));
            learn_source(ctx, i, bridge, env);
            // The answer carries the sender's ARP fields, which the flow key
            // does not hold.
            ctx.cacheable = false;
            if key.ip_proto == 1 {
                env.note(ctx, i, || {
                    TraceEvent::Note(format!(
                        "arp for gateway {} of network {}: answered",
                        spec.gateway, spec.name
                    ))
                });
                ctx.actions.push(Action::AnswerNeighbour);
            } else {
                env.note(ctx, i, || {
                    TraceEvent::Note(format!(
                        "arp reply to gateway {}: {sender} is at {}, a neighbour of network {}",
                        spec.gateway,
                        mac_text(&sender_mac),
                        spec.name
                    ))
                });
                env.drop(ctx, i, DropReason::GatewayArp);
            }
            return Verdict::Taken;
        }
        let ndp = key.ethertype == ethertype::IPV6
            && key.ip_proto == ip_proto::ICMPV6
            && matches!(key.l4_src, 135 | 136);
        if ndp {
            let frame = buf.get(ctx.offset as usize..).unwrap_or_default();
            let icmp = frame
                .get(ctx.parsed.layout.l4 as usize..)
                .unwrap_or_default();
            let Some(answer) = neighbour_discovery(ctx, icmp, network, env.now) else {
                return between_containers(ctx, i, env, network);
            };
            env.note(ctx, i, || TraceEvent::Stage("l3"));
            learn_source(ctx, i, bridge, env);
            ctx.cacheable = false;
            if answer {
                env.note(ctx, i, || {
                    TraceEvent::Note(format!(
                        "neighbour solicitation for gateway {} of network {}: answered",
                        spec.gateway6.map_or_else(String::new, |g| g.to_string()),
                        spec.name
                    ))
                });
                ctx.actions.push(Action::AnswerNeighbour);
            } else {
                env.drop(ctx, i, DropReason::GatewayArp);
            }
            return Verdict::Taken;
        }
        if key.eth_dst != spec.gateway_mac {
            return between_containers(ctx, i, env, network);
        }
        env.note(ctx, i, || TraceEvent::Stage("l3"));
        learn_source(ctx, i, bridge, env);
        let routed = key.ethertype == ethertype::IPV4
            || (key.ethertype == ethertype::IPV6 && spec.subnet6.is_some());
        if routed {
            route_ip(ctx, i, env, Source::Network(n));
        } else {
            env.drop(ctx, i, DropReason::RouteFamilyUnconfigured);
        }
        Verdict::Taken
    }
}

/// A frame from one container of `network` to others (not for the
/// gateway): the L2 bridge's, unless the network forbids traffic between
/// its containers (`icc = false`).
fn between_containers(
    ctx: &mut PacketCtx,
    i: usize,
    env: &mut StageEnv<'_>,
    network: &Network,
) -> Verdict {
    if network.spec.icc {
        return Verdict::Bridged;
    }
    env.note(ctx, i, || TraceEvent::Stage("l3"));
    env.note(ctx, i, || {
        TraceEvent::Note(format!(
            "network {}: no traffic between containers (icc = false)",
            network.spec.name
        ))
    });
    env.drop(ctx, i, DropReason::IccDenied);
    Verdict::Taken
}

/// Learns from a neighbour solicitation or advertisement in `network`:
/// `Some(true)` for a solicitation to answer (for the gateway),
/// `Some(false)` for one to consume (an advertisement to the gateway MAC),
/// `None` for the bridge's (between hosts).
fn neighbour_discovery(ctx: &PacketCtx, icmp: &[u8], network: &Network, now: u32) -> Option<bool> {
    let spec = &network.spec;
    let gateway6 = spec.gateway6?;
    let key = &ctx.parsed.key;
    let (src, _) = addresses(ctx);
    match ndp::parse(icmp).ok()? {
        ndp::NdpMessage::Solicit { target, source_mac } => {
            let for_gateway = target == gateway6.octets();
            if let (Some(mac), false) = (source_mac, ctx.probe) {
                learn_neighbour(network, src, mac, for_gateway, now);
            }
            for_gateway.then_some(true)
        }
        ndp::NdpMessage::Advert {
            target, target_mac, ..
        } => {
            let to_gateway = key.eth_dst == spec.gateway_mac;
            if let (Some(mac), false) = (target_mac, ctx.probe) {
                learn_neighbour(network, target.into(), mac, to_gateway, now);
            }
            to_gateway.then_some(false)
        }
    }
}
