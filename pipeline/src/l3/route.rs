//! The routing decision for one IP frame sent to a gateway (a network's
//! gateway MAC, or an uplink's MAC for the way back in): which network or
//! uplink it leaves by, the next hop and its MAC, the rewrite (TTL, MACs,
//! VLAN tag), or the ICMP error and drop. Shared by the gateway stage and
//! the uplink stage; it writes actions, egress writes frames.

use std::net::{IpAddr, Ipv4Addr};

use super::nat::{self, NatStep};
use super::Network;
use crate::action::{Action, CtNat, IcmpKind};
use crate::context::PacketCtx;
use crate::drop::DropReason;
use crate::egress::VlanEdit;
use crate::flow::{is_multicast, IpFrag, Mac};
use crate::overlay::decap::key_addr;
use crate::overlay::{word_to_mac, AddrEntry, Origin, NEIGHBOUR_REFRESH_SECS};
use crate::stage::StageEnv;
use crate::trace::TraceEvent;
use crate::wire::ethernet::ethertype;
use crate::wire::{icmpv4, icmpv6, ip_proto};

/// Where a frame to route came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// A bridge port of network `n` (its index in the datapath).
    Network(u16),
    /// Uplink `u`.
    Uplink(u16),
}

/// Where the routing table sends a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    /// Into network `n`, to the destination itself.
    Network(u16),
    /// Out of uplink `u`, to next hop `hop`.
    Uplink(u16, IpAddr),
    /// Into network `n`, which the source may not route to.
    NotAllowed(u16),
    /// Nowhere.
    NoRoute,
}

/// The first four bytes of a key address.
#[inline]
pub(crate) fn v4(addr: &[u8; 16]) -> Ipv4Addr {
    Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])
}

/// The frame's source and destination addresses, of its family.
#[inline]
pub(crate) fn addresses(ctx: &PacketCtx) -> (IpAddr, IpAddr) {
    let key = &ctx.parsed.key;
    let v6 = key.ethertype == ethertype::IPV6;
    (key_addr(&key.ip_src, v6), key_addr(&key.ip_dst, v6))
}

fn lookup(env: &StageEnv<'_>, from: Source, dst: IpAddr) -> Lookup {
    let dp = env.dp;
    // Subnets do not overlap (validation): the containing one is the
    // longest match.
    let into = dp.networks().iter().position(|n| n.spec.contains_addr(dst));
    match (from, into) {
        (Source::Network(a), Some(b)) => {
            // Both must list each other: a one-sided entry would let
            // requests out and drop their answers.
            let lists = |from: usize, to: usize| {
                dp.networks()
                    .get(from)
                    .is_some_and(|n| n.spec.routes_to.contains(&to))
            };
            let allowed = a as usize == b || (lists(a as usize, b) && lists(b, a as usize));
            if allowed {
                Lookup::Network(b as u16)
            } else {
                Lookup::NotAllowed(b as u16)
            }
        }
        (Source::Uplink(u), Some(b)) => {
            if dp.networks()[b].spec.uplink == Some(u as usize) {
                Lookup::Network(b as u16)
            } else {
                Lookup::NotAllowed(b as u16)
            }
        }
        (Source::Network(a), None) => {
            let uplink = dp
                .network(a)
                .and_then(|n| n.spec.uplink)
                .and_then(|u| Some((u, dp.uplink(u as u16)?)));
            // The uplink routes a family it has an address of.
            let hop = uplink
                .filter(|(_, up)| {
                    up.spec
                        .addresses
                        .iter()
                        .any(|(a, _)| a.is_ipv4() == dst.is_ipv4())
                })
                .and_then(|(u, up)| Some((u, up.spec.next_hop(dst)?)));
            match hop {
                Some((u, hop)) => Lookup::Uplink(u as u16, hop),
                None => Lookup::NoRoute,
            }
        }
        (Source::Uplink(_), None) => Lookup::NoRoute,
    }
}

/// The network whose gateway address is `addr`, if the frame may reach it.
pub(crate) fn gateway_of(env: &StageEnv<'_>, from: Source, addr: IpAddr) -> Option<u16> {
    match lookup(env, from, addr) {
        Lookup::Network(n) if env.dp.network(n)?.spec.gateway_for(addr) == Some(addr) => Some(n),
        _ => None,
    }
}

/// Decides for frame `i`, an IPv4 or IPv6 packet sent to a gateway MAC:
/// answers an echo request to a gateway address, routes the rest, or
/// drops it with an ICMP error where a router sends one.
pub(crate) fn route_ip(ctx: &mut PacketCtx, i: usize, env: &mut StageEnv<'_>, from: Source) {
    let mut through = None;
    if let Source::Network(n) = from {
        match from_network(ctx, i, env, n) {
            NatStep::Tracking | NatStep::Dropped => return,
            NatStep::Through(ct) => through = Some(ct),
            NatStep::Tracked | NatStep::Untracked => {}
        }
    }
    let key = ctx.parsed.key;
    let (_, dst) = addresses(ctx);
    if gateway_of(env, from, dst).is_some() {
        return local(ctx, i, env, dst);
    }
    let found = lookup(env, from, dst);
    let limiter_net = match (from, found) {
        (Source::Network(a), _) => Some(a),
        (_, Lookup::Network(n) | Lookup::NotAllowed(n)) => Some(n),
        _ => None,
    };
    if key.ip_ttl <= 1 {
        env.note(ctx, i, || {
            TraceEvent::Note(format!("route {dst}: ttl {} expires here", key.ip_ttl))
        });
        return icmp_error(
            ctx,
            i,
            env,
            limiter_net,
            IcmpKind::TimeExceeded,
            DropReason::RouteTtlExpired,
        );
    }
    match found {
        Lookup::Network(n) => {
            let Some(out) = env.dp.network(n) else {
                return env.drop(ctx, i, DropReason::NoRoute);
            };
            if dst == IpAddr::V4(out.spec.broadcast()) {
                // RFC 2644: directed broadcasts are not forwarded.
                return env.drop(ctx, i, DropReason::RouteBroadcast);
            }
            env.note(ctx, i, || {
                TraceEvent::Note(format!(
                    "route {dst}: into network {} (ttl {} -> {})",
                    out.spec.name,
                    key.ip_ttl,
                    key.ip_ttl - 1
                ))
            });
            let entry = out.state.neighbours.find(dst);
            let resolve = Action::ResolveInNetwork { network: n };
            let Some(mac) = resolved(ctx, i, env, entry, dst, resolve) else {
                return;
            };
            into_network(ctx, i, env, out, mac);
        }
        Lookup::Uplink(u, hop) => {
            let Some(uplink) = env.dp.uplink(u) else {
                return env.drop(ctx, i, DropReason::NoRoute);
            };
            env.note(ctx, i, || {
                TraceEvent::Note(format!(
                    "route {dst}: default via uplink {} next hop {hop} (ttl {} -> {})",
                    uplink.spec.name,
                    key.ip_ttl,
                    key.ip_ttl - 1
                ))
            });
            let entry = uplink.neighbours.find(hop);
            let resolve = Action::ResolveOnUplink { uplink: u };
            let Some(mac) = resolved(ctx, i, env, entry, hop, resolve) else {
                return;
            };
            let tagged = ctx.parsed.layout.vlan_tags > 0;
            if let Some(ct) = through {
                ctx.actions.push(ct);
            }
            ctx.actions.push(Action::DecTtl);
            ctx.actions.push(Action::SetEthSrc(uplink.spec.mac));
            ctx.actions.push(Action::SetEthDst(mac));
            for action in VlanEdit::for_egress(tagged, key.vlan, None).actions() {
                ctx.actions.push(action);
            }
            ctx.actions.push(Action::Output(uplink.spec.id));
        }
        Lookup::NotAllowed(n) => {
            let dp = env.dp;
            env.note(ctx, i, || {
                let name = dp.network(n).map_or("", |n| n.spec.name.as_str());
                TraceEvent::Note(format!(
                    "route {dst}: into network {name}, not allowed from here"
                ))
            });
            icmp_error(
                ctx,
                i,
                env,
                limiter_net,
                IcmpKind::AdminProhibited,
                DropReason::RouteNotAllowed,
            )
        }
        Lookup::NoRoute => {
            env.note(ctx, i, || {
                TraceEvent::Note(format!("route {dst}: no route"))
            });
            icmp_error(
                ctx,
                i,
                env,
                limiter_net,
                IcmpKind::NetUnreachable,
                DropReason::NoRoute,
            )
        }
    }
}

/// Connection tracking for IPv4 frames routed from network `n` when it
/// translates addresses: to one of its published ports (hairpin: its
/// destination and source translated), to its gateway (the answers of
/// hairpin connections), or out by the uplink (masquerade, and the
/// answers of published ports). Other frames are not tracked.
fn from_network(ctx: &mut PacketCtx, i: usize, env: &mut StageEnv<'_>, n: u16) -> NatStep {
    if ctx.ct.state != 0 {
        return nat::verdict(ctx, i, env);
    }
    let key = ctx.parsed.key;
    let Some(spec) = env.dp.network(n).map(|net| &net.spec) else {
        return NatStep::Untracked;
    };
    let uplink = spec.uplink.filter(|_| spec.needs_nat());
    let (Some(u), true) = (uplink, key.ethertype == ethertype::IPV4) else {
        return NatStep::Untracked;
    };
    let dst = v4(&key.ip_dst);
    let (commit, nat) = if let Some(rule) = spec.published(key.ip_proto, dst, key.l4_dst) {
        (
            true,
            CtNat::Hairpin {
                network: n,
                rule: rule as u8,
            },
        )
    } else if dst == spec.gateway && !spec.publish.is_empty() {
        (false, CtNat::Apply)
    } else if matches!(
        lookup(env, Source::Network(n), IpAddr::V4(dst)),
        Lookup::Uplink(..)
    ) {
        match spec.masquerade {
            true if masquerades_through(env, u as u16) => {
                let zone = super::nat_zone(u as u16);
                let ct = Action::CtThrough {
                    zone,
                    nat: CtNat::Masquerade { network: n },
                };
                env.note(ctx, i, || {
                    TraceEvent::Note(format!("{ct}: tracked on the way out"))
                });
                nat::note_fragment(ctx, i, env);
                return NatStep::Through(ct);
            }
            true => (true, CtNat::Masquerade { network: n }),
            false => (false, CtNat::Apply),
        }
    } else {
        return NatStep::Untracked;
    };
    nat::track(ctx, i, env, super::nat_zone(u as u16), commit, nat)
}

/// True when a frame masqueraded out of uplink `u` may take one pass
/// ([`Action::CtThrough`]): no ACL on the uplink reads its state (the
/// ACL stage turns it back into two passes when its input port's rules
/// would deny it).
fn masquerades_through(env: &StageEnv<'_>, u: u16) -> bool {
    let dp = env.dp;
    dp.uplink(u).is_none_or(|up| dp.acl(up.spec.id).is_none())
}

/// The next hop's MAC from its neighbour entry. A missing or unresolved
/// entry: `resolve` (an ARP request, at most one a second) and a drop.
/// An entry due for confirmation: used, with `resolve` before it.
fn resolved(
    ctx: &mut PacketCtx,
    i: usize,
    env: &mut StageEnv<'_>,
    entry: Option<AddrEntry>,
    hop: IpAddr,
    resolve: Action,
) -> Option<Mac> {
    match entry {
        Some(e) if e.value != 0 => {
            let mac = word_to_mac(e.value);
            if e.origin == Origin::Learned {
                let fresh_until = e.seen.saturating_add(NEIGHBOUR_REFRESH_SECS);
                if env.now >= fresh_until {
                    ctx.actions.push(resolve);
                    ctx.cacheable = false;
                } else {
                    // The stage runs again when it is due for confirmation.
                    ctx.valid_until = ctx.valid_until.min(fresh_until - 1);
                }
            }
            env.note(ctx, i, || {
                TraceEvent::Note(format!("next hop {hop} is at {}", mac_text(&mac)))
            });
            Some(mac)
        }
        _ => {
            ctx.cacheable = false;
            let request = if hop.is_ipv4() {
                "ARP request"
            } else {
                "neighbour solicitation"
            };
            env.note(ctx, i, || {
                TraceEvent::Note(format!("next hop {hop} unresolved: {request}"))
            });
            ctx.actions.push(resolve);
            drop_after(ctx, i, env, DropReason::RouteNeighbourUnresolved);
            None
        }
    }
}

/// The rewrite into network `out` to `mac`, out of the port the next hop
/// was learned on, or flooded in the network's VLAN when it is not known.
fn into_network(ctx: &mut PacketCtx, i: usize, env: &mut StageEnv<'_>, out: &Network, mac: Mac) {
    let dp = env.dp;
    let key = ctx.parsed.key;
    ctx.actions.push(Action::DecTtl);
    ctx.actions.push(Action::SetEthSrc(out.spec.gateway_mac));
    ctx.actions.push(Action::SetEthDst(mac));
    let Some(bridge) = dp.bridge(out.spec.bridge as u16) else {
        return env.drop(ctx, i, DropReason::NoRoute);
    };
    let vlan = out.spec.vlan;
    let hit = bridge
        .macs
        .lookup_entry(vlan, &mac, env.now)
        .and_then(|h| Some((h, dp.port(h.port)?)));
    env.note(ctx, i, || TraceEvent::Lookup {
        vlan,
        mac,
        port: hit.map(|(h, _)| h.port),
    });
    match hit {
        Some((hit, port)) => {
            ctx.valid_until = ctx.valid_until.min(hit.valid_until);
            let tagged = ctx.parsed.layout.vlan_tags > 0;
            let want = port.vlan_mode.egress_tag(vlan);
            for action in VlanEdit::for_egress(tagged, key.vlan, want).actions() {
                ctx.actions.push(action);
            }
            ctx.actions.push(Action::Output(hit.port));
        }
        None => {
            ctx.cacheable = false;
            let group = bridge.flood_group(vlan);
            env.note(ctx, i, || TraceEvent::Flood {
                group,
                ports: dp
                    .flood_members(group)
                    .iter()
                    .map(|m| (m.port, m.tag))
                    .collect(),
            });
            ctx.actions.push(Action::Flood(group));
        }
    }
}

/// A frame for gateway address `addr`: an echo request is answered, the
/// rest dropped.
fn local(ctx: &mut PacketCtx, i: usize, env: &mut StageEnv<'_>, addr: IpAddr) {
    let key = ctx.parsed.key;
    ctx.cacheable = false;
    let echo_type = match addr {
        IpAddr::V4(_) => (ip_proto::ICMP, icmpv4::message_type::ECHO_REQUEST),
        IpAddr::V6(_) => (ip_proto::ICMPV6, icmpv6::message_type::ECHO_REQUEST),
    };
    let echo = key.ip_proto == echo_type.0
        && key.l4_src == u16::from(echo_type.1)
        && key.ip_frag == IpFrag::None;
    if echo {
        env.note(ctx, i, || {
            TraceEvent::Note(format!("echo request to gateway {addr}: answered"))
        });
        ctx.actions.push(Action::IcmpReply(IcmpKind::EchoReply));
    } else {
        env.note(ctx, i, || {
            TraceEvent::Note(format!("for gateway {addr}: only pings are answered"))
        });
        env.drop(ctx, i, DropReason::GatewayNotEcho);
    }
}

/// Drops frame `i` for `reason`, with an ICMP error of `kind` to its
/// sender before when a router sends one (RFC 1812 section 4.3.2.7: never
/// about an ICMP error, a later fragment, or a packet to or from a group
/// or broadcast address) and network `limiter`'s rate allows it.
fn icmp_error(
    ctx: &mut PacketCtx,
    i: usize,
    env: &mut StageEnv<'_>,
    limiter: Option<u16>,
    kind: IcmpKind,
    reason: DropReason,
) {
    ctx.cacheable = false;
    let key = ctx.parsed.key;
    let (src, dst) = addresses(ctx);
    let about_error = key.ip_frag != IpFrag::Later
        && match key.ip_proto {
            ip_proto::ICMP => src.is_ipv4() && icmpv4::is_error(key.l4_src as u8),
            ip_proto::ICMPV6 => !src.is_ipv4() && icmpv6::is_error(key.l4_src as u8),
            _ => false,
        };
    let group = |a: IpAddr| match a {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast() || a.is_unspecified(),
        IpAddr::V6(a) => a.is_multicast() || a.is_unspecified(),
    };
    let subnet_broadcast = env.dp.networks().iter().any(|n| {
        let broadcast = IpAddr::V4(n.spec.broadcast());
        broadcast == dst || broadcast == src
    });
    let why_not = if about_error {
        Some("it is an ICMP error")
    } else if key.ip_frag == IpFrag::Later {
        Some("it is a later fragment")
    } else if group(src) || group(dst) || subnet_broadcast || is_multicast(&key.eth_dst) {
        Some("it is to or from a group or broadcast address")
    } else {
        None
    };
    match why_not {
        Some(why) => env.note(ctx, i, || {
            TraceEvent::Note(format!("no {kind} sent: {why}"))
        }),
        None => {
            let allowed = limiter
                .and_then(|n| env.dp.network(n))
                .is_some_and(|n| n.state.icmp.allow(env.now));
            if allowed {
                env.note(ctx, i, || TraceEvent::Note(format!("{kind} sent to {src}")));
                ctx.actions.push(Action::IcmpReply(kind));
            } else {
                env.note(ctx, i, || {
                    TraceEvent::Note(format!("no {kind} sent: rate limit"))
                });
            }
        }
    }
    drop_after(ctx, i, env, reason);
}

/// Ends frame `i`'s list with a drop, keeping what came before (the
/// answers egress sends first).
fn drop_after(ctx: &mut PacketCtx, i: usize, env: &mut StageEnv<'_>, reason: DropReason) {
    ctx.actions.push(Action::Drop(reason));
    env.note(ctx, i, || TraceEvent::Drop(reason));
}

/// A MAC as traces write it.
pub(crate) fn mac_text(m: &Mac) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}
