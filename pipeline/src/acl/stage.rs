//! The ACL stage: after the L2 bridge (or the gateway) chose where a
//! frame goes, the egress rules of its input port and the ingress rules of
//! the ports it goes out of decide whether its connection may start.
//!
//! First pass (the frame has not met the tracker): the rules decide from
//! the flow key alone. When they allow the frame and would allow its
//! replies as well, it passes untracked (stateless, as its replies need
//! no state); otherwise the frame's actions become one `ct` in the ACL
//! zone of its network (or bridge), committing when allowed. Second
//! pass, after recirculation: `+est` and `+rel` frames pass (a connection
//! allowed before, or a reply of one), `+new` frames pass when the rules
//! allowed them, `+inv` ones are dropped. Both passes are cacheable: the
//! first depends on the key, the second on the key and the ct state.
//!
//! Only IP frames bridged between ports (output or flood) are concerned:
//! ARP and neighbour discovery (ICMPv6 135, 136) always pass, and routed frames are the
//! gateway's (which tracks them itself for NAT).

use crate::acl::{Decision, Direction, PortAcl};
use crate::action::{Action, CtNat};
use crate::context::{ct_state, PacketCtx};
use crate::datapath::Datapath;
use crate::drop::DropReason;
use crate::flow::FlowKey;
use crate::flow_cache::KeyFields;
use crate::l3::nat::state_text;
use crate::mac_table::PortId;
use crate::stage::{Stage, StageBurst, StageEnv};
use crate::trace::TraceEvent;
use crate::wire::ethernet::ethertype;
use crate::wire::ip_proto;

/// The zones ACLs track connections in: `ACL_ZONE | network` for a
/// network's VLAN, `ACL_ZONE | BRIDGE_ZONE | bridge` elsewhere (below
/// the NAT zones, [`crate::l3::nat_zone`]).
pub const ACL_ZONE: u16 = 0x4000;
const BRIDGE_ZONE: u16 = 0x2000;

/// The ACL stage.
#[derive(Debug, Default)]
pub struct AclStage;

impl Stage for AclStage {
    fn name(&self) -> &'static str {
        "acl"
    }

    fn reads(&self) -> KeyFields {
        KeyFields::L3.with(KeyFields::L4).with(KeyFields::CT)
    }

    fn run(&self, burst: &mut StageBurst<'_>, env: &mut StageEnv<'_>) {
        for &i in burst.active {
            let i = i as usize;
            if let Some(ctx) = burst.ctxs.get_mut(i) {
                decide(ctx, i, env);
            }
        }
    }
}

/// The ports frame `ctx` leaves by, by its actions; `None` when it is not
/// bridged (routed, answered by the gateway).
fn out_ports(dp: &Datapath, ctx: &PacketCtx) -> Option<Vec<PortId>> {
    let mut ports = Vec::new();
    for action in ctx.actions.as_slice() {
        match *action {
            Action::Output(port) => ports.push(port),
            Action::Flood(group) => ports.extend(
                dp.flood_members(group)
                    .iter()
                    .map(|m| m.port)
                    .filter(|p| *p != ctx.in_port),
            ),
            Action::PushVlan(_) | Action::PopVlan | Action::SetVlanVid(_) => {}
            _ => return None,
        }
    }
    Some(ports)
}

/// One direction's decision, with the ACL that made it.
struct Ruling<'a> {
    acl: &'a PortAcl,
    direction: Direction,
    decision: Decision,
}

fn decide(ctx: &mut PacketCtx, i: usize, env: &mut StageEnv<'_>) {
    let dp = env.dp;
    let key = ctx.parsed.key;
    if key.ethertype != ethertype::IPV4 && key.ethertype != ethertype::IPV6 {
        return;
    }
    // Neighbour discovery is IPv6's ARP (and no connection to track).
    let neighbour_discovery = key.ethertype == ethertype::IPV6
        && key.ip_proto == ip_proto::ICMPV6
        && matches!(key.l4_src, 135 | 136);
    if neighbour_discovery {
        return;
    }
    let Some(out) = out_ports(dp, ctx) else {
        return;
    };
    let count = !ctx.probe && ctx.ct.state == 0;
    let (now, in_port) = (env.now, ctx.in_port);
    // Egress of the input port towards each output port, ingress of each
    // output port from the input port.
    let egress = dp.acl(in_port);
    let mut rulings: Vec<Ruling<'_>> = Vec::new();
    for &to in &out {
        let sides = [
            egress.map(|acl| (acl, Direction::Egress, to)),
            dp.acl(to).map(|acl| (acl, Direction::Ingress, in_port)),
        ];
        for (acl, direction, peer) in sides.into_iter().flatten() {
            rulings.push(Ruling {
                acl,
                direction,
                decision: acl.decide(direction, &key, peer, now, count),
            });
        }
    }
    if rulings.is_empty() {
        return;
    }
    env.note(ctx, i, || TraceEvent::Stage("acl"));
    if rulings.iter().any(|r| r.decision.logged) {
        ctx.cacheable = false;
    }
    let denied = rulings.iter().find(|r| !r.decision.allow);
    let state = ctx.ct.state;
    if state == 0 {
        for r in &rulings {
            env.note(ctx, i, || {
                TraceEvent::Note(format!(
                    "acl port {} {}: rule {} {}",
                    dp.port_name(r.acl.port).unwrap_or("?"),
                    r.direction.name(),
                    r.acl.rule_name(r.decision.rule, r.direction),
                    if r.decision.allow { "allows" } else { "denies" }
                ))
            });
        }
        if denied.is_none() && replies_allowed(dp, &key, in_port, &out, now) {
            env.note(ctx, i, || {
                TraceEvent::Note("acl: the rules allow it and its replies: not tracked".into())
            });
            return;
        }
        let zone = zone(dp, ctx.bridge, ctx.vlan);
        let action = Action::Ct {
            zone,
            commit: denied.is_none(),
            nat: CtNat::None,
        };
        env.note(ctx, i, || {
            TraceEvent::Note(format!("{action}: track first"))
        });
        ctx.actions.clear();
        ctx.actions.push(action);
        return;
    }
    let zone = ctx.ct.zone;
    env.note(ctx, i, || {
        TraceEvent::Note(format!("ct zone {zone}: {}", state_text(state)))
    });
    if state & ct_state::INVALID != 0 {
        env.drop(ctx, i, DropReason::CtInvalid);
    } else if state & (ct_state::ESTABLISHED | ct_state::RELATED) != 0 {
        env.note(ctx, i, || {
            TraceEvent::Note("acl: a tracked connection's frame passes".into())
        });
    } else if let Some(r) = denied {
        let rule = r.acl.rule_name(r.decision.rule, r.direction);
        let port = dp.port_name(r.acl.port).unwrap_or("?").to_string();
        let direction = r.direction.name();
        env.note(ctx, i, || {
            TraceEvent::Note(format!(
                "acl port {port} {direction}: denied by rule {rule}"
            ))
        });
        env.drop(ctx, i, DropReason::AclDenied);
    }
}

/// True when the rules would allow the replies of a frame with `key` from
/// `in_port` to `out` as new connections too: then the frame needs no
/// tracking (its replies pass anyway), as Open vSwitch's stateless ACLs.
fn replies_allowed(
    dp: &Datapath,
    key: &FlowKey,
    in_port: PortId,
    out: &[PortId],
    now: u32,
) -> bool {
    let mut reply = *key;
    core::mem::swap(&mut reply.ip_src, &mut reply.ip_dst);
    core::mem::swap(&mut reply.l4_src, &mut reply.l4_dst);
    let back_in = dp.acl(in_port);
    out.iter().all(|&from| {
        let sides = [
            dp.acl(from).map(|acl| (acl, Direction::Egress, in_port)),
            back_in.map(|acl| (acl, Direction::Ingress, from)),
        ];
        sides
            .into_iter()
            .flatten()
            .all(|(acl, direction, peer)| acl.decide(direction, &reply, peer, now, false).allow)
    })
}

/// The zone frames of `vlan` on bridge `bridge` are tracked in.
fn zone(dp: &Datapath, bridge: u16, vlan: u16) -> u16 {
    match dp.network_at(bridge, vlan) {
        Some((n, _)) => ACL_ZONE | (n & (BRIDGE_ZONE - 1)),
        None => ACL_ZONE | BRIDGE_ZONE | (bridge & (BRIDGE_ZONE - 1)),
    }
}
