//! The bridge's side of a tunnel.
//!
//! - [`TunnelIn`], first in a tunnel port's chain: a decapsulated frame
//!   enters the bridge from the tunnel port; the inner source MAC is learned
//!   behind the VTEP that sent it (its outer source), and a VTEP that is
//!   not yet known is added when the tunnel learns remotes.
//! - [`TunnelOut`], last in the chains of a bridge with tunnel ports: an
//!   output to a tunnel port becomes an encapsulation towards the VTEP
//!   learned (or configured) for the destination MAC, out of the tunnel's
//!   uplink, or head-end replication to every remote VTEP when none is
//!   known. A frame that came out of a tunnel never goes into another one
//!   (split horizon; floods are held to it at egress).

use std::net::IpAddr;

use super::{Stage, StageBurst, StageEnv};
use crate::action::Action;
use crate::context::{PacketCtx, TunnelMeta};
use crate::datapath::{Datapath, PortRole};
use crate::drop::DropReason;
use crate::flow::is_multicast;
use crate::flow_cache::KeyFields;
use crate::mac_table::{LearnOutcome, PortId};
use crate::overlay::addr_table::to_words;
use crate::overlay::decap::key_addr;
use crate::overlay::Origin;
use crate::trace::TraceEvent;

/// The outer source address of a decapsulated frame.
pub fn outer_source(meta: &TunnelMeta) -> IpAddr {
    key_addr(&meta.src, meta.ipv6)
}

/// Where decapsulated frames enter a bridge.
#[derive(Debug, Default)]
pub struct TunnelIn;

impl TunnelIn {
    /// Learns the frame's inner source behind the VTEP that sent it (adding
    /// the VTEP when the tunnel learns remotes): what the stage does, and
    /// what a flow-cache hit of a decapsulated frame replays, since the
    /// outer source is not part of the inner frame's key.
    #[inline]
    pub fn learn(
        dp: &Datapath,
        ctx: &PacketCtx,
        now: u32,
    ) -> Result<(IpAddr, LearnOutcome), DropReason> {
        let tunnel = match dp.port(ctx.in_port).map(|p| p.role) {
            Some(PortRole::Tunnel(t)) => dp.tunnel(t),
            _ => None,
        };
        let Some(tunnel) = tunnel.filter(|_| ctx.tunnel.present) else {
            return Err(DropReason::UnsupportedRecirculation);
        };
        let remote = outer_source(&ctx.tunnel);
        let vteps = &tunnel.state.vteps;
        let slot = match vteps.touch_words(to_words(remote), now) {
            Some(index) => Some(index),
            None if tunnel.spec.learn_remotes => vteps.upsert(remote, 0, now, Origin::Learned),
            None => None,
        };
        let slot = slot.ok_or(DropReason::TunnelUnknownRemote)?;
        let mac = ctx.parsed.key.eth_src;
        let outcome = tunnel.state.macs.learn(0, &mac, slot as PortId, now);
        Ok((remote, outcome))
    }
}

impl Stage for TunnelIn {
    fn name(&self) -> &'static str {
        "tunnel_in"
    }

    fn reads(&self) -> KeyFields {
        KeyFields::L2
    }

    fn run(&self, burst: &mut StageBurst<'_>, env: &mut StageEnv<'_>) {
        for &i in burst.active {
            let i = i as usize;
            let Some(ctx) = burst.ctxs.get_mut(i) else {
                continue;
            };
            env.note(ctx, i, || TraceEvent::Stage("tunnel_in"));
            match TunnelIn::learn(env.dp, ctx, env.now) {
                Ok((remote, outcome)) => {
                    let vni = ctx.tunnel.vni;
                    env.note(ctx, i, || {
                        TraceEvent::Note(format!(
                            "from VTEP {remote} (VNI {vni}): source learned behind it, {outcome:?}"
                        ))
                    });
                }
                Err(reason) => env.drop(ctx, i, reason),
            }
        }
    }
}

/// Where frames of a bridge go into its tunnels.
#[derive(Debug, Default)]
pub struct TunnelOut;

impl Stage for TunnelOut {
    fn name(&self) -> &'static str {
        "tunnel_out"
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
            let found = ctx
                .actions
                .as_slice()
                .iter()
                .enumerate()
                .find_map(|(k, a)| match a {
                    Action::Output(port) => match dp.port(*port).map(|p| p.role) {
                        Some(PortRole::Tunnel(t)) => Some((k, t)),
                        _ => None,
                    },
                    _ => None,
                });
            let Some((k, t)) = found else { continue };
            let Some(tunnel) = dp.tunnel(t) else { continue };
            env.note(ctx, i, || TraceEvent::Stage("tunnel_out"));
            if ctx.tunnel.present {
                env.drop(ctx, i, DropReason::TunnelSplitHorizon);
                continue;
            }
            let dst = ctx.parsed.key.eth_dst;
            let learned = tunnel
                .state
                .macs
                .lookup_entry(0, &dst, env.now)
                .and_then(|hit| Some((hit, tunnel.state.vteps.get(hit.port as usize)?)));
            // A tunnel to one configured remote sends everything there; the
            // VTEP table's generation covers the remote going away.
            let only = match tunnel.spec.remotes.as_slice() {
                [remote] if !tunnel.spec.learn_remotes && !is_multicast(&dst) => {
                    tunnel.state.vteps.find(*remote).map(|entry| {
                        let hit = crate::mac_table::MacHit {
                            port: entry.index as PortId,
                            valid_until: u32::MAX,
                        };
                        (hit, entry)
                    })
                }
                _ => None,
            };
            let vtep = learned.or(only);
            let uplink = dp.uplink(tunnel.uplink).map(|u| u.spec.id);
            match (vtep, uplink) {
                (Some((hit, entry)), Some(uplink)) => {
                    ctx.valid_until = ctx.valid_until.min(hit.valid_until);
                    let encap = Action::Encap {
                        tunnel: t,
                        vtep: hit.port,
                    };
                    if !ctx
                        .actions
                        .replace_with_two(k, encap, Action::Output(uplink))
                    {
                        env.drop(ctx, i, DropReason::TooManyActions);
                        continue;
                    }
                    let remote = entry.addr;
                    env.note(ctx, i, || {
                        TraceEvent::Note(format!(
                            "{} is behind VTEP {remote}: encapsulate, out of the uplink",
                            crate::trace::mac_text(&dst)
                        ))
                    });
                }
                _ => {
                    // The destination may be learned behind a VTEP at any
                    // moment.
                    ctx.cacheable = false;
                    ctx.actions.set(k, Action::Replicate(t));
                    env.note(ctx, i, || {
                        TraceEvent::Note(format!(
                            "{} has no known VTEP: replicate to every remote",
                            crate::trace::mac_text(&dst)
                        ))
                    });
                }
            }
        }
    }
}
