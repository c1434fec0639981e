//! Egress into tunnels and for the uplink: encapsulation towards one VTEP,
//! head-end replication to all of them, neighbour resolution of the next
//! hop (with ARP requests and neighbour solicitations sent as needed), the
//! MTU check with its ICMP error, and answers to neighbour discovery.

use std::net::IpAddr;

use super::{word_to_mac, AddrEntry, Tunnel, Uplink, NEIGHBOUR_REFRESH_SECS};
use crate::context::{GsoType, PacketCtx};
use crate::datapath::{Datapath, PortRole};
use crate::drop::DropReason;
use crate::egress::{into_slot, patch_fields, write_frame, FieldEdits, TxSink, VlanEdit};
use crate::flow::Mac;
use crate::offload::Segments;
use crate::stats::Stats;
use crate::steer::symmetric_hash;
use crate::wire::builder::{fix_outer_lengths, fix_template_lengths};
use crate::wire::ethernet::ethertype;
use crate::wire::{arp, icmpv4, icmpv6, ipv4, ndp, udp, write_u16};

/// Bytes of an Ethernet header without tags.
const ETH_HEADER_LEN: usize = 14;

/// One frame and its edits on its way into a tunnel.
pub(crate) struct Outgoing<'a> {
    pub(crate) frame: &'a [u8],
    pub(crate) ctx: &'a PacketCtx,
    pub(crate) vlan: VlanEdit,
    pub(crate) fields: &'a FieldEdits,
    pub(crate) now: u32,
}

/// Sends the frame encapsulated to VTEP slot `vtep` of tunnel `t`; false
/// (counted) when the tunnel or the VTEP is gone.
pub(crate) fn to_vtep<T: TxSink>(
    dp: &Datapath,
    out: &Outgoing<'_>,
    t: u16,
    vtep: u16,
    tx: &mut T,
    stats: &mut Stats,
) {
    let Some((tunnel, uplink)) = tunnel_and_uplink(dp, t) else {
        stats.drop(out.ctx.in_port, DropReason::UnsupportedRecirculation);
        return;
    };
    match tunnel.state.vteps.get(vtep as usize) {
        Some(entry) => to_entry(tunnel, uplink, out, &entry, tx, stats),
        None => stats.drop(uplink.spec.id, DropReason::TunnelNoRemotes),
    }
}

/// Head-end replication: the frame to every remote VTEP of tunnel `t`.
/// Returns how many copies were attempted.
pub(crate) fn replicate<T: TxSink>(
    dp: &Datapath,
    out: &Outgoing<'_>,
    t: u16,
    tx: &mut T,
    stats: &mut Stats,
) -> usize {
    let Some((tunnel, uplink)) = tunnel_and_uplink(dp, t) else {
        return 0;
    };
    let mut copies = 0;
    for entry in tunnel.state.vteps.entries() {
        to_entry(tunnel, uplink, out, &entry, tx, stats);
        copies += 1;
    }
    copies
}

fn tunnel_and_uplink(dp: &Datapath, t: u16) -> Option<(&Tunnel, &Uplink)> {
    let tunnel = dp.tunnel(t)?;
    Some((tunnel, dp.uplink(tunnel.uplink)?))
}

fn to_entry<T: TxSink>(
    tunnel: &Tunnel,
    uplink: &Uplink,
    out: &Outgoing<'_>,
    vtep: &AddrEntry,
    tx: &mut T,
    stats: &mut Stats,
) {
    let uplink_port = uplink.spec.id;
    // The VTEP slot caches its next hop's MAC (value) with the neighbour
    // table's change count and the second it was resolved (aux): valid
    // while neither moved on, so most frames skip the neighbour lookup.
    let changes = uplink.neighbours.changes() as u32;
    let cached = vtep.value != 0
        && vtep.aux as u32 == changes
        && out.now.saturating_sub((vtep.aux >> 32) as u32) < NEIGHBOUR_REFRESH_SECS;
    let mac = if cached {
        word_to_mac(vtep.value)
    } else {
        let Some(mac) = next_hop_mac(uplink, vtep.addr, tunnel.spec.local, out.now, tx, stats)
        else {
            stats.drop(uplink_port, DropReason::NeighbourUnresolved);
            return;
        };
        let aux = (u64::from(out.now) << 32) | u64::from(changes);
        tunnel
            .state
            .vteps
            .cache_value(vtep, super::mac_to_word(&mac), aux);
        mac
    };
    let template = &tunnel.template;
    let head = template.header.len();
    // The outer IP packet: the headers after the outer Ethernet header,
    // and the inner frame as it leaves (each segment of a super-frame,
    // which is cut in software first: the uplink takes no offloads).
    let outer_overhead = head.saturating_sub(ETH_HEADER_LEN);
    let segments = match out.ctx.offload.gso {
        GsoType::None => None,
        _ => match Segments::new(out.frame, out.ctx) {
            Ok(segments) => Some(segments),
            Err(reason) => {
                stats.drop(uplink_port, reason);
                return;
            }
        },
    };
    let inner_len = match &segments {
        Some(segments) => segments.largest_len(),
        None => out.frame.len(),
    };
    let ip_len = outer_overhead as isize + inner_len as isize + out.vlan.growth();
    let mtu = usize::from(uplink.spec.mtu);
    if ip_len > mtu as isize {
        stats.drop(uplink_port, DropReason::EncapTooBig);
        too_big(out, mtu.saturating_sub(outer_overhead), tx, stats);
        return;
    }
    let encapsulate = |slot: &mut [u8], segment: Option<usize>| {
        let (outer, inner) = slot
            .split_at_mut_checked(head)
            .ok_or(DropReason::TxFrameTooLong)?;
        copy_header(outer, &template.header);
        let inner_len = match (&segments, segment) {
            (Some(segments), Some(index)) => {
                let tagged = out.ctx.parsed.layout.vlan_tags > 0;
                let len = segments.write(index, tagged, out.vlan, inner)?;
                if out.fields.any() {
                    let written = inner.get_mut(..len).ok_or(DropReason::TxFrameTooLong)?;
                    patch_fields(written, out.ctx, out.vlan.growth(), out.fields)?;
                }
                len
            }
            _ => write_frame(out.frame, out.ctx, out.vlan, out.fields, inner)?,
        };
        let len = head + inner_len;
        let frame = slot.get_mut(..len).ok_or(DropReason::TxFrameTooLong)?;
        fill_outer(frame, tunnel, &mac, vtep.addr, out)?;
        Ok(len)
    };
    let sent = match &segments {
        None => u64::from(into_slot(
            uplink_port,
            out.ctx.timestamp_ns,
            tx,
            stats,
            |slot| encapsulate(slot, None),
        )),
        Some(segments) => {
            let mut sent = 0;
            for index in 0..segments.count() {
                if !into_slot(uplink_port, out.ctx.timestamp_ns, tx, stats, |slot| {
                    encapsulate(slot, Some(index))
                }) {
                    break;
                }
                sent += 1;
            }
            stats.sw_segmented(tunnel.port, sent);
            sent
        }
    };
    if sent > 0 {
        // The tunnel port counts what goes into the tunnel (the uplink
        // counts it encapsulated): one frame, as the port handed it over.
        stats.tx(tunnel.port, out.frame.len());
    }
}

/// Fills in the per-frame parts of an encapsulated `frame` whose outer
/// headers are the tunnel's template: the next hop's MAC, the VTEP's
/// address, the outer UDP source port (the inner flow's hash), lengths and
/// checksums.
fn fill_outer(
    frame: &mut [u8],
    tunnel: &Tunnel,
    mac: &Mac,
    vtep: IpAddr,
    out: &Outgoing<'_>,
) -> Result<(), DropReason> {
    let template = &tunnel.template;
    if let Some(dst) = frame.get_mut(..6) {
        dst.copy_from_slice(mac);
    }
    let l3 = template.outer.l3;
    match vtep {
        IpAddr::V4(a) if !template.outer.ipv6 => {
            let at = l3 + ipv4::field::DST_ADDR.start;
            if let Some(dst) = frame.get_mut(at..at + 4) {
                dst.copy_from_slice(&a.octets());
            }
        }
        IpAddr::V6(a) if template.outer.ipv6 => {
            // Destination Address: bytes 24 to 40 of the IPv6 header.
            if let Some(dst) = frame.get_mut(l3 + 24..l3 + 40) {
                dst.copy_from_slice(&a.octets());
            }
        }
        _ => return Err(DropReason::TunnelNoRemotes),
    }
    if let Some(at) = template.outer.udp {
        // The dynamic range of RFC 6335, as Linux and Open vSwitch use.
        let source = 0xc000 | (symmetric_hash(&out.ctx.parsed.key) as u16 & 0x3fff);
        write_u16(frame, at + udp::field::SRC_PORT.start, source);
    }
    match template.ipv4_fixed_sum {
        Some(fixed) => fix_template_lengths(frame, &template.outer, template.udp_checksum, fixed),
        None => fix_outer_lengths(frame, &template.outer, template.udp_checksum),
    }
    .map_err(|_| DropReason::TxFrameTooLong)
}

/// Copies the outer headers of a template: the lengths of VXLAN and
/// option-less Geneve over IPv4 (50) and IPv6 (70) as fixed-size moves the
/// compiler inlines, since a call to memcpy for 50 bytes costs more than
/// the copy (a tenth of encapsulation's time under perf).
#[inline(always)]
fn copy_header(dst: &mut [u8], src: &[u8]) {
    fn fixed<const N: usize>(dst: &mut [u8], src: &[u8]) -> bool {
        match (<&mut [u8; N]>::try_from(dst), <&[u8; N]>::try_from(src)) {
            (Ok(d), Ok(s)) => {
                *d = *s;
                true
            }
            _ => false,
        }
    }
    let done = match src.len() {
        50 => fixed::<50>(dst, src),
        70 => fixed::<70>(dst, src),
        _ => false,
    };
    if !done {
        if let Some(dst) = dst.get_mut(..src.len()) {
            dst.copy_from_slice(src);
        }
    }
}

/// Resolves ahead of traffic the next hop of every remote VTEP whose
/// neighbour entry is missing, unresolved or due for confirmation, sending
/// the ARP requests and neighbour solicitations (at most one a second per
/// neighbour, whichever worker asks): what a worker runs once a second, so
/// that the first frame to a configured or newly learned VTEP is not lost
/// to resolution.
pub fn resolve_neighbours<T: TxSink>(dp: &Datapath, now: u32, tx: &mut T, stats: &mut Stats) {
    for tunnel in dp.tunnels() {
        let Some(uplink) = dp.uplink(tunnel.uplink) else {
            continue;
        };
        for vtep in tunnel.state.vteps.entries() {
            next_hop_mac(uplink, vtep.addr, tunnel.spec.local, now, tx, stats);
        }
    }
}

/// The MAC of the next hop towards `remote`, or `None` while it is not
/// known. Sends a request (once a second at most) when the entry is
/// missing, unresolved, or not confirmed for [`NEIGHBOUR_REFRESH_SECS`].
pub(crate) fn next_hop_mac<T: TxSink>(
    uplink: &Uplink,
    remote: IpAddr,
    local: IpAddr,
    now: u32,
    tx: &mut T,
    stats: &mut Stats,
) -> Option<Mac> {
    let hop = uplink.spec.next_hop(remote)?;
    let table = &uplink.neighbours;
    let (index, mac) = match table.find(hop) {
        Some(e) if e.value != 0 => {
            let mac = word_to_mac(e.value);
            if e.origin == super::Origin::Static
                || now.saturating_sub(e.seen) < NEIGHBOUR_REFRESH_SECS
            {
                return Some(mac);
            }
            (e.index, Some(mac))
        }
        Some(e) => (e.index, None),
        None => (table.upsert(hop, 0, now, super::Origin::Learned)?, None),
    };
    if table.claim_request(index, now) {
        let source = uplink
            .spec
            .addresses
            .iter()
            .map(|(a, _)| *a)
            .find(|a| a.is_ipv4() == hop.is_ipv4())
            .unwrap_or(local);
        let from = uplink.spec.mac;
        into_slot(uplink.spec.id, 0, tx, stats, |slot| {
            let written = match (source, hop) {
                (IpAddr::V4(s), IpAddr::V4(h)) => {
                    arp::write_request(slot, from, s.octets(), h.octets())
                }
                (IpAddr::V6(s), IpAddr::V6(h)) => {
                    ndp::write_solicit(slot, from, s.octets(), h.octets())
                }
                _ => return Err(DropReason::NeighbourUnresolved),
            };
            written.map_err(|_| DropReason::TxFrameTooLong)
        });
    }
    mac
}

/// Reports a frame too big for the tunnel to its sender, as a router
/// would: ICMP fragmentation-needed for an IPv4 packet with Don't
/// Fragment set, ICMPv6 packet-too-big for IPv6 (which routers never
/// fragment), for inner frames of at most `inner_frame_max` bytes. Tagged frames and other
/// payloads get no report.
fn too_big<T: TxSink>(out: &Outgoing<'_>, inner_frame_max: usize, tx: &mut T, stats: &mut Stats) {
    let ctx = out.ctx;
    let key = &ctx.parsed.key;
    // Never about a group destination or another ICMP error (RFC 1812
    // section 4.3.2.7, RFC 4443 section 2.4 (e)); tagged frames are not
    // quoted.
    let icmp_error = match key.ip_proto {
        crate::wire::ip_proto::ICMP => !matches!(key.l4_src, 0 | 8),
        crate::wire::ip_proto::ICMPV6 => key.l4_src < 128,
        _ => false,
    };
    if ctx.parsed.layout.vlan_tags > 0 || crate::flow::is_multicast(&key.eth_dst) || icmp_error {
        return;
    }
    let mtu = inner_frame_max.saturating_sub(ETH_HEADER_LEN);
    let l3 = ctx.parsed.layout.l3 as usize;
    match ctx.parsed.key.ethertype {
        ethertype::IPV4 => {
            let flags = out.frame.get(l3 + 6).copied().unwrap_or(0);
            if flags & 0x40 == 0 {
                return;
            }
            into_slot(ctx.in_port, 0, tx, stats, |slot| {
                icmpv4::write_frag_needed(slot, out.frame, mtu as u16)
                    .map_err(|_| DropReason::TxFrameTooLong)
            });
        }
        ethertype::IPV6 => {
            into_slot(ctx.in_port, 0, tx, stats, |slot| {
                icmpv6::write_packet_too_big(slot, out.frame, mtu as u32)
                    .map_err(|_| DropReason::TxFrameTooLong)
            });
        }
        _ => {}
    }
}

/// Answers the ARP request or neighbour solicitation in `frame` (received
/// on an uplink) for one of the uplink's addresses. False when there is
/// nothing to answer (counted).
pub(crate) fn answer_neighbour<T: TxSink>(
    dp: &Datapath,
    ctx: &PacketCtx,
    frame: &[u8],
    tx: &mut T,
    stats: &mut Stats,
) -> bool {
    let uplink = match dp.port(ctx.in_port).map(|p| p.role) {
        Some(PortRole::Uplink(u)) => dp.uplink(u),
        _ => None,
    };
    let Some(uplink) = uplink else {
        stats.drop(ctx.in_port, DropReason::UplinkNotForUs);
        return false;
    };
    let key = &ctx.parsed.key;
    let layout = &ctx.parsed.layout;
    let mac = uplink.spec.mac;
    match key.ethertype {
        ethertype::ARP => {
            let sender_mac = super::arp_sender_mac(frame, layout.l3);
            let ip = |a: &[u8; 16]| [a[0], a[1], a[2], a[3]];
            let (ours, sender) = (ip(&key.ip_dst), ip(&key.ip_src));
            into_slot(ctx.in_port, 0, tx, stats, |slot| {
                arp::write_reply(slot, mac, ours, sender_mac, sender)
                    .map_err(|_| DropReason::TxFrameTooLong)
            });
        }
        _ => {
            let icmp = frame.get(layout.l4 as usize..).unwrap_or_default();
            let Ok(ndp::NdpMessage::Solicit { target, source_mac }) = ndp::parse(icmp) else {
                stats.drop(ctx.in_port, DropReason::UplinkNdp);
                return false;
            };
            if key.ip_src == [0; 16] {
                // Duplicate address detection: nothing to answer to.
                stats.drop(ctx.in_port, DropReason::UplinkNdp);
                return false;
            }
            let to_mac = source_mac.unwrap_or(key.eth_src);
            into_slot(ctx.in_port, 0, tx, stats, |slot| {
                ndp::write_advert(slot, mac, target, to_mac, key.ip_src, target)
                    .map_err(|_| DropReason::TxFrameTooLong)
            });
        }
    }
    true
}
