//! The L2 learning bridge: learn the source, look up the destination,
//! forward to where it was learned (with the output port's VLAN tagging),
//! or flood broadcast, multicast and unknown unicast within the bridge and
//! VLAN, never back out of the ingress port.

use super::{Stage, StageBurst, StageEnv};
use crate::action::Action;
use crate::context::PacketCtx;
use crate::datapath::Bridge;
use crate::drop::DropReason;
use crate::egress::VlanEdit;
use crate::flow::is_multicast;
use crate::flow_cache::{KeyFields, MacRefresh};
use crate::trace::TraceEvent;

/// Learns frame `i`'s source MAC where it came in (or, for a probe, says
/// what learning would do), and has cache hits of its decision refresh it.
pub(crate) fn learn_source(ctx: &mut PacketCtx, i: usize, bridge: &Bridge, env: &mut StageEnv<'_>) {
    let (vlan, in_port, src) = (ctx.vlan, ctx.in_port, ctx.parsed.key.eth_src);
    let outcome = if ctx.probe {
        bridge.macs.predict(vlan, &src, in_port)
    } else {
        ctx.learned = Some(MacRefresh {
            bridge: ctx.bridge,
            vlan,
            mac: src,
            port: in_port,
        });
        bridge.macs.learn(vlan, &src, in_port, env.now)
    };
    env.note(ctx, i, || TraceEvent::Learn {
        vlan,
        mac: src,
        port: in_port,
        outcome,
    });
}

/// The learning-bridge stage.
#[derive(Debug, Default)]
pub struct L2Bridge;

impl Stage for L2Bridge {
    fn name(&self) -> &'static str {
        "l2"
    }

    fn reads(&self) -> KeyFields {
        KeyFields::L2
    }

    fn run(&self, burst: &mut StageBurst<'_>, env: &mut StageEnv<'_>) {
        let dp = env.dp;
        for &i in burst.active {
            let i = i as usize;
            let Some(ctx) = burst.ctxs.get_mut(i) else {
                continue;
            };
            env.note(ctx, i, || TraceEvent::Stage("l2"));
            let Some(bridge) = dp.bridge(ctx.bridge) else {
                env.drop(ctx, i, DropReason::PortNotInBridge);
                continue;
            };
            let (vlan, in_port) = (ctx.vlan, ctx.in_port);
            let (dst, frame_vid) = (ctx.parsed.key.eth_dst, ctx.parsed.key.vlan);
            learn_source(ctx, i, bridge, env);
            if is_multicast(&dst) {
                env.note(ctx, i, || TraceEvent::Multicast { mac: dst });
            } else {
                // An entry of a port that left with the last configuration
                // change is flushed soon; until then it is not a destination.
                let hit = bridge
                    .macs
                    .lookup_entry(vlan, &dst, env.now)
                    .and_then(|h| Some((h, dp.port(h.port)?)));
                env.note(ctx, i, || TraceEvent::Lookup {
                    vlan,
                    mac: dst,
                    port: hit.map(|(h, _)| h.port),
                });
                match hit {
                    Some((hit, out)) => {
                        ctx.valid_until = ctx.valid_until.min(hit.valid_until);
                        if hit.port == in_port {
                            env.drop(ctx, i, DropReason::DestinationIsIngressPort);
                            continue;
                        }
                        let want = out.vlan_mode.egress_tag(vlan);
                        let tagged = ctx.parsed.layout.vlan_tags > 0;
                        for action in VlanEdit::for_egress(tagged, frame_vid, want).actions() {
                            ctx.actions.push(action);
                        }
                        ctx.actions.push(Action::Output(hit.port));
                        continue;
                    }
                    // The destination may be learned at any moment, and a
                    // new learn does not move the table's generation.
                    None => ctx.cacheable = false,
                }
            }
            let group = bridge.flood_group(vlan);
            let others = dp.flood_members(group).iter().filter(|m| m.port != in_port);
            if others.clone().next().is_none() {
                env.drop(ctx, i, DropReason::NoFloodPorts);
                continue;
            }
            env.note(ctx, i, || TraceEvent::Flood {
                group,
                ports: others.map(|m| (m.port, m.tag)).collect(),
            });
            ctx.actions.push(Action::Flood(group));
        }
    }
}
