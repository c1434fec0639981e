//! The frames a gateway writes itself: ARP answers for its address, ARP
//! requests for next hops, echo replies and ICMP errors. Each goes out of
//! one port (or a network's VLAN) with the tag that port gives the VLAN.

use std::net::Ipv4Addr;

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
use crate::wire::icmpv4::{self, ErrorMessage, ErrorSource};
use crate::wire::{arp, write_u16, EmitError};

const TPID_8021Q: u16 = 0x8100;
const ETH_ADDRS_LEN: usize = 12;
const VLAN_TAG_LEN: usize = 4;

/// Writes a frame with `write` (untagged) into `port`'s next slot, with an
/// 802.1Q tag of VID `tag` inserted when the port sends the VLAN tagged.
fn send<T: TxSink>(
    port: PortId,
    tag: Option<u16>,
    tx: &mut T,
    stats: &mut Stats,
    write: impl FnOnce(&mut [u8]) -> Result<usize, EmitError>,
) -> bool {
    into_slot(port, 0, tx, stats, |slot| {
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
    if port.role != PortRole::Bridge && !matches!(port.role, PortRole::Tunnel(_)) {
        return None;
    }
    let (_, network) = dp.network_at(ctx.bridge, ctx.vlan)?;
    Some((network, port.vlan_mode.egress_tag(ctx.vlan)))
}

/// Answers the ARP request in `frame` for the gateway of the network it
/// came in on. False (counted) when it came in on no network.
pub(crate) fn answer_gateway_arp<T: TxSink>(
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
    let sender_mac = arp_sender_mac(frame, ctx.parsed.layout.l3);
    let sender = v4(&key.ip_src).octets();
    let spec = &network.spec;
    send(ctx.in_port, tag, tx, stats, |slot| {
        arp::write_reply(
            slot,
            spec.gateway_mac,
            spec.gateway.octets(),
            sender_mac,
            sender,
        )
    })
}

/// Sends the ICMP message `kind` about the frame back out of the port it
/// came in on: an echo reply from the address the request was for, an
/// error from the gateway it came in through (a network's, or the
/// uplink's address). False (counted) when there is none.
pub(crate) fn icmp_reply<T: TxSink>(
    dp: &Datapath,
    ctx: &PacketCtx,
    frame: &[u8],
    kind: IcmpKind,
    tx: &mut T,
    stats: &mut Stats,
) -> bool {
    let from = match dp.port(ctx.in_port).map(|p| p.role) {
        Some(PortRole::Uplink(u)) => dp.uplink(u).and_then(|up| {
            let ip = up.spec.addresses.iter().find_map(|(a, _)| match a {
                std::net::IpAddr::V4(a) => Some(*a),
                _ => None,
            })?;
            Some((up.spec.mac, ip, None))
        }),
        _ => ingress_network(dp, ctx).map(|(n, tag)| (n.spec.gateway_mac, n.spec.gateway, tag)),
    };
    let Some((mac, gateway, tag)) = from else {
        stats.drop(ctx.in_port, DropReason::NoRoute);
        return false;
    };
    let packet = frame
        .get(ctx.parsed.layout.l3 as usize..)
        .unwrap_or_default();
    let to_mac = ctx.parsed.key.eth_src;
    send(ctx.in_port, tag, tx, stats, |slot| match kind {
        IcmpKind::EchoReply => {
            let ip = v4(&ctx.parsed.key.ip_dst).octets();
            icmpv4::write_echo_reply(slot, packet, to_mac, ErrorSource { mac, ip })
        }
        _ => {
            let (msg_type, code) = kind.type_code();
            let message = ErrorMessage {
                msg_type,
                code,
                rest_of_header: [0; 4],
            };
            let source = ErrorSource {
                mac,
                ip: gateway.octets(),
            };
            icmpv4::write_error(slot, packet, to_mac, source, message)
        }
    })
}

/// Sends an ARP request for `target` from network `n`'s gateway to every
/// port of its VLAN, unless one went less than a second ago (whichever
/// worker sent it).
pub(crate) fn resolve_in_network<T: TxSink>(
    dp: &Datapath,
    n: u16,
    target: Ipv4Addr,
    now: u32,
    tx: &mut T,
    stats: &mut Stats,
) {
    let Some(network) = dp.network(n) else {
        return;
    };
    let table = &network.state.neighbours;
    let index = match table.find(target.into()) {
        Some(e) => Some(e.index),
        None => table.upsert(target.into(), 0, now, Origin::Learned),
    };
    let Some(index) = index else { return };
    if !table.claim_request(index, now) {
        return;
    }
    let spec = &network.spec;
    let Some(bridge) = dp.bridge(spec.bridge as u16) else {
        return;
    };
    for member in dp.flood_members(bridge.flood_group(spec.vlan)) {
        send(member.port, member.tag, tx, stats, |slot| {
            arp::write_request(
                slot,
                spec.gateway_mac,
                spec.gateway.octets(),
                target.octets(),
            )
        });
    }
}

/// Learns `addr` at `mac` in `network` when the ARP message is for its
/// gateway (`add`) or the address is known already (RFC 826's merge rule);
/// only addresses inside the subnet.
pub(crate) fn learn_neighbour(network: &Network, addr: Ipv4Addr, mac: Mac, add: bool, now: u32) {
    if !network.spec.contains(addr)
        || addr == network.spec.gateway
        || addr == network.spec.broadcast()
        || crate::flow::is_multicast(&mac)
        || mac == [0; 6]
    {
        return;
    }
    let table = &network.state.neighbours;
    let known = table.find(addr.into());
    let word = crate::overlay::mac_to_word(&mac);
    // Refreshed at most once a second, so that a busy sender does not
    // keep the slot's writers busy; a moved MAC at once.
    let current = known.is_some_and(|e| e.value == word && e.seen == now);
    let static_entry = known.is_some_and(|e| e.origin == Origin::Static);
    if (add || known.is_some()) && !current && !static_entry {
        table.upsert(addr.into(), word, now, Origin::Learned);
    }
}
