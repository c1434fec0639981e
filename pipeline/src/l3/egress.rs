//! The frames a gateway writes itself: ARP and neighbour advertisement
//! answers for its address, ARP requests and neighbour solicitations for
//! next hops, echo replies and ICMP (ICMPv6) errors. Each goes out of one
//! port (or a network's VLAN) with the tag that port gives the VLAN.

use std::net::IpAddr;

use super::route::v4;
use super::Network;
use crate::action::IcmpKind;
use crate::context::PacketCtx;
use crate::datapath::{Datapath, PortRole};
use crate::drop::DropReason;
use crate::egress::{into_slot, TxSink};
use crate::flow::Mac;
use crate::mac_table::PortId;
use crate::overlay::{arp_sender_mac, Origin};
use crate::stats::Stats;
use crate::wire::ethernet::ethertype;
use crate::wire::{arp, icmpv4, icmpv6, ndp, write_u16, EmitError};

const TPID_8021Q: u16 = 0x8100;
const ETH_ADDRS_LEN: usize = 12;
const VLAN_TAG_LEN: usize = 4;

/// Writes a frame with `write` (untagged) into `port`'s next slot, with an
/// 802.1Q tag of VID `tag` inserted when the port sends the VLAN tagged,
/// stamped with the time of the frame it answers.
fn send<T: TxSink>(
    port: PortId,
    tag: Option<u16>,
    timestamp_ns: u64,
    tx: &mut T,
    stats: &mut Stats,
    write: impl FnOnce(&mut [u8]) -> Result<usize, EmitError>,
) -> bool {
    into_slot(port, timestamp_ns, tx, stats, |slot| {
        let len = write(slot).map_err(|_| DropReason::TxFrameTooLong)?;
        let Some(vid) = tag else { return Ok(len) };
        if slot.len() < len + VLAN_TAG_LEN || len < ETH_ADDRS_LEN {
            return Err(DropReason::TxFrameTooLong);
        }
        slot.copy_within(ETH_ADDRS_LEN..len, ETH_ADDRS_LEN + VLAN_TAG_LEN);
        write_u16(slot, ETH_ADDRS_LEN, TPID_8021Q);
        write_u16(slot, ETH_ADDRS_LEN + 2, vid & 0x0fff);
        Ok(len + VLAN_TAG_LEN)
    })
}

/// The network frame `ctx` came in on (from its bridge port), with the
/// tag its port sends the network's VLAN with.
fn ingress_network<'a>(dp: &'a Datapath, ctx: &PacketCtx) -> Option<(&'a Network, Option<u16>)> {
    let port = dp.port(ctx.in_port)?;
    if matches!(port.role, PortRole::Uplink(_)) {
        return None;
    }
    let (_, network) = dp.network_at(ctx.bridge, ctx.vlan)?;
    Some((network, port.vlan_mode.egress_tag(ctx.vlan)))
}

/// Answers the ARP request or neighbour solicitation in `frame` for the
/// gateway of the network it came in on. False (counted) when it came in
/// on no network, or there is nothing to answer.
pub(crate) fn answer_gateway_neighbour<T: TxSink>(
    dp: &Datapath,
    ctx: &PacketCtx,
    frame: &[u8],
    tx: &mut T,
    stats: &mut Stats,
) -> bool {
    let Some((network, tag)) = ingress_network(dp, ctx) else {
        stats.drop(ctx.in_port, DropReason::UplinkNotForUs);
        return false;
    };
    let key = &ctx.parsed.key;
    let layout = &ctx.parsed.layout;
    let spec = &network.spec;
    if key.ethertype == ethertype::ARP {
        let sender_mac = arp_sender_mac(frame, layout.l3);
        let sender = v4(&key.ip_src).octets();
        let gateway = spec.gateway.octets();
        return send(ctx.in_port, tag, ctx.timestamp_ns, tx, stats, |slot| {
            arp::write_reply(slot, spec.gateway_mac, gateway, sender_mac, sender)
        });
    }
    let icmp = frame.get(layout.l4 as usize..).unwrap_or_default();
    let (Ok(ndp::NdpMessage::Solicit { target, source_mac }), Some(gateway6)) =
        (ndp::parse(icmp), spec.gateway6)
    else {
        stats.drop(ctx.in_port, DropReason::GatewayArp);
        return false;
    };
    if key.ip_src == [0; 16] || target != gateway6.octets() {
        // Duplicate address detection, or not for us: nothing to answer.
        stats.drop(ctx.in_port, DropReason::GatewayArp);
        return false;
    }
    let to_mac = source_mac.unwrap_or(key.eth_src);
    send(ctx.in_port, tag, ctx.timestamp_ns, tx, stats, |slot| {
        ndp::write_advert(slot, spec.gateway_mac, target, to_mac, key.ip_src, target)
    })
}

/// Where the gateway a frame came in through sends from: its MAC, the
/// tag of the port, and its address of `v6`'s family.
fn ingress_gateway(dp: &Datapath, ctx: &PacketCtx, v6: bool) -> Option<(Mac, Option<u16>, IpAddr)> {
    match dp.port(ctx.in_port)?.role {
        PortRole::Uplink(u) => {
            let up = dp.uplink(u)?;
            let ip = up
                .spec
                .addresses
                .iter()
                .map(|(a, _)| *a)
                .find(|a| a.is_ipv6() == v6)?;
            Some((up.spec.mac, None, ip))
        }
        _ => {
            let (network, tag) = ingress_network(dp, ctx)?;
            let spec = &network.spec;
            let ip = if v6 {
                IpAddr::V6(spec.gateway6?)
            } else {
                IpAddr::V4(spec.gateway)
            };
            Some((spec.gateway_mac, tag, ip))
        }
    }
}

/// Sends the ICMP (ICMPv6) message `kind` about the frame back out of the
/// port it came in on: an echo reply from the address the request was
/// for, an error from the gateway it came in through (a network's, or the
/// uplink's address). False (counted) when there is none.
pub(crate) fn icmp_reply<T: TxSink>(
    dp: &Datapath,
    ctx: &PacketCtx,
    frame: &[u8],
    kind: IcmpKind,
    tx: &mut T,
    stats: &mut Stats,
) -> bool {
    let key = &ctx.parsed.key;
    let v6 = key.ethertype == ethertype::IPV6;
    let Some((mac, tag, gateway)) = ingress_gateway(dp, ctx, v6) else {
        stats.drop(ctx.in_port, DropReason::NoRoute);
        return false;
    };
    let l3 = ctx.parsed.layout.l3 as usize;
    let packet = frame.get(l3..).unwrap_or_default();
    let to_mac = key.eth_src;
    match gateway {
        IpAddr::V4(gateway) => send(
            ctx.in_port,
            tag,
            ctx.timestamp_ns,
            tx,
            stats,
            |slot| match kind {
                IcmpKind::EchoReply => {
                    let ip = v4(&key.ip_dst).octets();
                    icmpv4::write_echo_reply(slot, packet, to_mac, icmpv4::ErrorSource { mac, ip })
                }
                _ => {
                    let (msg_type, code) = kind.type_code();
                    let message = icmpv4::ErrorMessage {
                        msg_type,
                        code,
                        rest_of_header: [0; 4],
                    };
                    let from = icmpv4::ErrorSource {
                        mac,
                        ip: gateway.octets(),
                    };
                    icmpv4::write_error(slot, packet, to_mac, from, message)
                }
            },
        ),
        IpAddr::V6(gateway) => send(
            ctx.in_port,
            tag,
            ctx.timestamp_ns,
            tx,
            stats,
            |slot| match kind {
                IcmpKind::EchoReply => {
                    let from = icmpv6::ErrorSource {
                        mac,
                        ip: key.ip_dst,
                    };
                    let icmp_at = (ctx.parsed.layout.l4 as usize).saturating_sub(l3);
                    icmpv6::write_echo_reply(slot, packet, icmp_at, to_mac, from)
                }
                _ => {
                    let (msg_type, code) = kind.type_code_v6();
                    let message = icmpv6::ErrorMessage {
                        msg_type,
                        code,
                        rest_of_header: 0,
                    };
                    let from = icmpv6::ErrorSource {
                        mac,
                        ip: gateway.octets(),
                    };
                    icmpv6::write_error(slot, packet, to_mac, from, message)
                }
            },
        ),
    }
}

/// Sends an ARP request (IPv6: a neighbour solicitation) for `target` from
/// network `n`'s gateway to every port of its VLAN, unless one went less
/// than a second ago (whichever worker sent it). `ctx` is the frame that
/// waits for it.
pub(crate) fn resolve_in_network<T: TxSink>(
    dp: &Datapath,
    ctx: &PacketCtx,
    n: u16,
    target: IpAddr,
    now: u32,
    tx: &mut T,
    stats: &mut Stats,
) {
    let Some(network) = dp.network(n) else {
        return;
    };
    let timestamp_ns = ctx.timestamp_ns;
    let spec = &network.spec;
    let source = spec.gateway_for(target);
    let (Some(bridge), Some(source)) = (dp.bridge(spec.bridge as u16), source) else {
        return;
    };
    let table = &network.state.neighbours;
    let index = match table.find(target) {
        Some(e) => Some(e.index),
        None => table.upsert(target, 0, now, Origin::Learned),
    };
    let Some(index) = index else { return };
    if !table.claim_request(index, now) {
        return;
    }
    for member in dp.flood_members(bridge.flood_group(spec.vlan)) {
        send(
            member.port,
            member.tag,
            timestamp_ns,
            tx,
            stats,
            |slot| match (source, target) {
                (IpAddr::V4(s), IpAddr::V4(t)) => {
                    arp::write_request(slot, spec.gateway_mac, s.octets(), t.octets())
                }
                (IpAddr::V6(s), IpAddr::V6(t)) => {
                    ndp::write_solicit(slot, spec.gateway_mac, s.octets(), t.octets())
                }
                _ => Err(EmitError::Malformed {
                    reason: DropReason::RouteFamilyUnconfigured,
                }),
            },
        );
    }
}

/// Learns `addr` at `mac` in `network` when the ARP or NDP message is for
/// its gateway (`add`) or the address is known already (RFC 826's merge
/// rule); only addresses inside the subnets.
pub(crate) fn learn_neighbour(network: &Network, addr: IpAddr, mac: Mac, add: bool, now: u32) {
    if !network.spec.contains_addr(addr)
        || network.spec.gateway_for(addr) == Some(addr)
        || addr == IpAddr::V4(network.spec.broadcast())
        || crate::flow::is_multicast(&mac)
        || mac == [0; 6]
    {
        return;
    }
    let table = &network.state.neighbours;
    let known = table.find(addr);
    let word = crate::overlay::mac_to_word(&mac);
    // Refreshed at most once a second, so that a busy sender does not
    // keep the slot's writers busy; a moved MAC at once.
    let current = known.is_some_and(|e| e.value == word && e.seen == now);
    let static_entry = known.is_some_and(|e| e.origin == Origin::Static);
    if (add || known.is_some()) && !current && !static_entry {
        table.upsert(addr, word, now, Origin::Learned);
    }
}
