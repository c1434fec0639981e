//! The ACL stage: after the L2 bridge or the gateway chose where a frame
//! goes, the egress rules of its input port and the ingress rules of the
//! ports it goes out of decide whether its connection may start.
//!
//! First pass (the frame has not met the tracker): the rules decide from
//! the flow key alone. When they allow the frame and would allow its
//! replies as well, it passes untracked (stateless, as its replies need
//! no state); otherwise the frame's actions become one `ct` in the ACL
//! zone of its network (or bridge; routed frames in [`ROUTED_ZONE`]),
//! committing when allowed. Second pass, after recirculation: `+est` and
//! `+rel` frames pass (a connection allowed before, or a reply of one),
//! `+new` frames pass when the rules allowed them, `+inv` ones are
//! dropped. Both passes are cacheable: the first depends on the key, the
//! second on the key and the ct state.
//!
//! Routed frames (between networks, to and from an uplink) are decided
//! the same way once the gateway chose their output: the source port's
//! egress rules and the destination port's ingress rules, an uplink being
//! no endpoint. Frames the gateway translates are tracked in its NAT zone
//! already, both ways, and decided after the translation (an ingress rule
//! sees a published port's container address and port): the NAT zone's
//! state is the connection's, and the NAT commit of a connection the
//! rules deny is withheld beforehand, so that it leaves no entry whose
//! replies would pass.
//!
//! ARP and neighbour discovery (ICMPv6 135, 136) always pass, and so do
//! frames to the gateway itself (pings it answers).

use std::net::IpAddr;

use crate::acl::{Decision, Direction, PortAcl};
use crate::action::{Action, CtNat};
use crate::context::{ct_state, PacketCtx};
use crate::datapath::Datapath;
use crate::drop::DropReason;
use crate::flow::FlowKey;
use crate::flow_cache::KeyFields;
use crate::l3::nat::state_text;
use crate::mac_table::PortId;
use crate::overlay::word_to_mac;
use crate::stage::{Stage, StageBurst, StageEnv};
use crate::trace::TraceEvent;
use crate::wire::ethernet::ethertype;
use crate::wire::ip_proto;

/// The zones ACLs track connections in: `ACL_ZONE | network` for a
/// network's VLAN, `ACL_ZONE | BRIDGE_ZONE | bridge` elsewhere (below
/// the NAT zones, [`crate::l3::nat_zone`]).
pub const ACL_ZONE: u16 = 0x4000;
const BRIDGE_ZONE: u16 = 0x2000;
/// The zone of routed connections: one for every network and uplink, as
/// a routed connection's two directions come in on different networks
/// (subnets do not overlap, so their addresses cannot clash).
pub const ROUTED_ZONE: u16 = ACL_ZONE | BRIDGE_ZONE | (BRIDGE_ZONE - 1);

/// True for the zones of [`crate::l3::nat_zone`].
fn is_nat_zone(zone: u16) -> bool {
    zone & 0x8000 != 0
}

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

/// Where a frame goes, by its actions.
enum Path {
    /// Out of these ports (`routed`: by the gateway, to its MAC).
    Out { ports: Vec<PortId>, routed: bool },
    /// To the tracker first, for the gateway's NAT.
    Nat { commit: bool, nat: CtNat },
    /// Through the gateway's NAT tracker on the way out of the uplink
    /// ([`Action::CtThrough`]).
    Through { zone: u16, nat: CtNat },
    /// Nowhere a rule concerns (answered by the switch, dropped).
    Elsewhere,
}

/// The path of frame `ctx`, from its actions.
fn path(dp: &Datapath, ctx: &PacketCtx) -> Path {
    let (mut ports, mut routed) = (Vec::new(), false);
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
            // The rewrite of a routed frame, and the neighbour requests
            // that may go along.
            Action::DecTtl | Action::SetEthSrc(_) | Action::SetEthDst(_) => routed = true,
            Action::ResolveInNetwork { .. } | Action::ResolveOnUplink { .. } => {}
            Action::Ct { zone, commit, nat } if is_nat_zone(zone) && ctx.ct.state == 0 => {
                return Path::Nat { commit, nat };
            }
            Action::CtThrough { zone, nat } => return Path::Through { zone, nat },
            _ => return Path::Elsewhere,
        }
    }
    Path::Out { ports, routed }
}

/// One direction's decision, with the ACL that made it.
struct Ruling<'a> {
    acl: &'a PortAcl,
    direction: Direction,
    decision: Decision,
}

/// The rulings on a frame with `key` from `in_port` to `out`: the egress
/// rules of the input port towards each output port, the ingress rules of
/// each output port from the input port.
fn rulings<'a>(
    dp: &'a Datapath,
    key: &FlowKey,
    in_port: PortId,
    out: &[PortId],
    now: u32,
    count: bool,
) -> Vec<Ruling<'a>> {
    let egress = dp.acl(in_port);
    let mut rulings = Vec::new();
    for &to in out {
        let sides = [
            egress.map(|acl| (acl, Direction::Egress, to)),
            dp.acl(to).map(|acl| (acl, Direction::Ingress, in_port)),
        ];
        for (acl, direction, peer) in sides.into_iter().flatten() {
            rulings.push(Ruling {
                acl,
                direction,
                decision: acl.decide(direction, key, peer, now, count),
            });
        }
    }
    rulings
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
    if neighbour_discovery || ctx.is_dropped() {
        return;
    }
    let (out, routed) = match path(dp, ctx) {
        Path::Out { ports, routed } => (ports, routed),
        Path::Nat { commit, nat } => return before_nat(ctx, i, env, commit, nat),
        Path::Through { zone, nat } => return through_nat(ctx, i, env, zone, nat),
        Path::Elsewhere => return,
    };
    let state = ctx.ct.state;
    let known = state & (ct_state::ESTABLISHED | ct_state::RELATED) != 0;
    // After the gateway's NAT tracker the frame is translated and its
    // connection tracked there (a new one committed when translated):
    // the rules decide it as the ACL's second pass. A new connection the
    // NAT zone did not take (nothing to translate, or its commit
    // withheld) is the ACL's to track, as an untranslated frame's.
    let nat_zone = state != 0 && is_nat_zone(ctx.ct.zone);
    let nat_holds = nat_zone && (known || ctx.ct.nat.is_some());
    let first = state == 0 || (nat_zone && !nat_holds);
    // Hits count the decisions of new connections.
    let count = !ctx.probe && (first || (nat_holds && !known));
    let (now, in_port) = (env.now, ctx.in_port);
    let rulings = rulings(dp, &key, in_port, &out, now, count);
    if rulings.is_empty() {
        return;
    }
    env.note(ctx, i, || TraceEvent::Stage("acl"));
    if rulings.iter().any(|r| r.decision.logged) {
        ctx.cacheable = false;
    }
    if first || nat_holds {
        for r in &rulings {
            note_ruling(ctx, i, env, r);
        }
    }
    let denied = rulings.iter().find(|r| !r.decision.allow);
    if first {
        if denied.is_none() && replies_allowed(dp, &key, in_port, &out, now) {
            env.note(ctx, i, || {
                TraceEvent::Note("acl: the rules allow it and its replies: not tracked".into())
            });
            return;
        }
        let zone = if routed {
            ROUTED_ZONE
        } else {
            zone(dp, ctx.bridge, ctx.vlan)
        };
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
    if !nat_holds {
        env.note(ctx, i, || {
            TraceEvent::Note(format!("ct zone {zone}: {}", state_text(state)))
        });
    }
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

fn note_ruling(ctx: &PacketCtx, i: usize, env: &mut StageEnv<'_>, r: &Ruling<'_>) {
    let dp = env.dp;
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

/// The uplink network `network` masquerades out of.
fn masquerade_uplink(dp: &Datapath, network: u16) -> Option<&crate::overlay::Uplink> {
    let u = dp.network(network)?.spec.uplink?;
    dp.uplink(u as u16)
}

/// A frame the gateway masquerades on its way out of the uplink, in one
/// pass: kept so when the rules allow it as a new connection (its
/// frames then pass whatever their state: the rules allow the new, the
/// state the established). Otherwise it takes the two passes of
/// [`before_nat`], whose second decides on the state: the NAT commit of
/// a denied new connection is withheld, an established one passes. The
/// rules read the destination and its port, which SNAT leaves alone.
fn through_nat(ctx: &mut PacketCtx, i: usize, env: &mut StageEnv<'_>, zone: u16, nat: CtNat) {
    let dp = env.dp;
    let CtNat::Masquerade { network } = nat else {
        return;
    };
    let Some(uplink) = masquerade_uplink(dp, network) else {
        return;
    };
    let (key, out) = (ctx.parsed.key, [uplink.spec.id]);
    // Counted (and logged) once the pass is known: a denied frame is
    // counted by its second pass, as before_nat's are.
    let decided = rulings(dp, &key, ctx.in_port, &out, env.now, false);
    if decided.is_empty() {
        return;
    }
    env.note(ctx, i, || TraceEvent::Stage("acl"));
    if decided.iter().any(|r| r.decision.logged) {
        ctx.cacheable = false;
    }
    for r in &decided {
        note_ruling(ctx, i, env, r);
    }
    if decided.iter().all(|r| r.decision.allow) {
        if !ctx.probe {
            rulings(dp, &key, ctx.in_port, &out, env.now, true);
        }
        env.note(ctx, i, || {
            TraceEvent::Note("acl: allowed new, so in any state: one pass".into())
        });
        return;
    }
    let action = Action::Ct {
        zone,
        commit: true,
        nat,
    };
    env.note(ctx, i, || {
        TraceEvent::Note(format!("acl: denied new: {action}, decided after it"))
    });
    ctx.actions.clear();
    ctx.actions.push(action);
    before_nat(ctx, i, env, true, nat);
}

/// A frame the gateway sends to its NAT tracker first, committing a new
/// connection: when the rules would deny the new connection it is to
/// open (masquerade: the container's egress; a published port: the
/// container's ingress, after the translation), the commit is withheld,
/// so that no NAT entry admits that connection's replies later. The
/// frame itself is decided after the tracker (an established one passes).
fn before_nat(ctx: &mut PacketCtx, i: usize, env: &mut StageEnv<'_>, commit: bool, nat: CtNat) {
    if !commit {
        return;
    }
    let dp = env.dp;
    let mut key = ctx.parsed.key;
    let (from, to) = match nat {
        CtNat::Masquerade { network } => match masquerade_uplink(dp, network) {
            Some(uplink) => (ctx.in_port, uplink.spec.id),
            None => return,
        },
        CtNat::Publish { network, rule } => {
            let Some(net) = dp.network(network) else {
                return;
            };
            let Some(publish) = net.spec.publish.get(rule as usize) else {
                return;
            };
            key.ip_dst = [0; 16];
            key.ip_dst[..4].copy_from_slice(&publish.container.octets());
            key.l4_dst = publish.container_port_for(key.l4_dst);
            // The container's port, where the bridge learned its MAC
            // (the uplink's decisions are not cached: no validity to
            // keep). Not known yet: the commit stays, and the frame is
            // decided after the tracker, once routed.
            let port = net
                .state
                .neighbours
                .find(IpAddr::V4(publish.container))
                .filter(|e| e.value != 0)
                .and_then(|e| {
                    let bridge = dp.bridge(net.spec.bridge as u16)?;
                    let mac = word_to_mac(e.value);
                    bridge.macs.lookup_entry(net.spec.vlan, &mac, env.now)
                });
            match port {
                Some(hit) => (ctx.in_port, hit.port),
                None => return,
            }
        }
        CtNat::None | CtNat::Apply | CtNat::Hairpin { .. } => return,
    };
    let rulings = rulings(dp, &key, from, &[to], env.now, false);
    let Some(r) = rulings.iter().find(|r| !r.decision.allow) else {
        return;
    };
    let rule = r.acl.rule_name(r.decision.rule, r.direction);
    let port = dp.port_name(r.acl.port).unwrap_or("?").to_string();
    let direction = r.direction.name();
    env.note(ctx, i, || TraceEvent::Stage("acl"));
    env.note(ctx, i, || {
        TraceEvent::Note(format!(
            "acl port {port} {direction}: rule {rule} would deny a new connection: not committed"
        ))
    });
    let actions = ctx.actions;
    for (index, action) in actions.as_slice().iter().enumerate() {
        if let Action::Ct { zone, nat, .. } = *action {
            let commit = false;
            ctx.actions.set(index, Action::Ct { zone, commit, nat });
        }
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
