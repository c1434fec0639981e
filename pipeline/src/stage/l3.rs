//! The gateway of the container networks on a bridge: in front of the L2
//! bridge on the ports of a bridge with networks (see [`crate::l3`]).
//!
//! For a frame in a network's VLAN:
//! - an ARP request for the gateway address is answered with the gateway
//!   MAC; the ARP messages it sees teach the network's neighbour table
//!   (the sender, when the message is for the gateway or the sender is
//!   known: RFC 826's merge rule), and a reply to the gateway is consumed;
//! - a frame to the gateway MAC is routed ([`crate::l3::route`]): IPv4
//!   only, an echo request to a gateway address is answered;
//! - everything else, and every frame of a VLAN without a network, is the
//!   L2 bridge's.

use super::l2::{learn_source, L2Bridge};
use super::{Stage, StageBurst, StageEnv};
use crate::action::Action;
use crate::burst::MAX_BURST;
use crate::drop::DropReason;
use crate::flow_cache::KeyFields;
use crate::l3::egress::learn_neighbour;
use crate::l3::route::{route_ipv4, v4, Source};
use crate::overlay::arp_sender_mac;
use crate::trace::TraceEvent;
use crate::wire::ethernet::ethertype;

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
            let (sender, target) = (v4(&key.ip_src), v4(&key.ip_dst));
            let for_gateway = target == spec.gateway;
            if !ctx.probe {
                learn_neighbour(network, sender, sender_mac, for_gateway, env.now);
            }
            if !for_gateway {
                return Verdict::Bridged;
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
                env.drop(ctx, i, DropReason::GatewayArp);
            }
            return Verdict::Taken;
        }
        if key.eth_dst != spec.gateway_mac {
            return Verdict::Bridged;
        }
        env.note(ctx, i, || TraceEvent::Stage("l3"));
        learn_source(ctx, i, bridge, env);
        if key.ethertype == ethertype::IPV4 {
            route_ipv4(ctx, i, env, Source::Network(n));
        } else {
            env.drop(ctx, i, DropReason::RouteNotIpv4);
        }
        Verdict::Taken
    }
}
