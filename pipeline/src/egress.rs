//! Egress: executes a frame's action list, writing the frame into each
//! output port's transmit slot with the edits that precede the output.
//!
//! Edits are not applied to the received bytes: they accumulate in
//! [`Edits`] and are done while the frame is copied into the slot (VLAN
//! tags pushed or popped in the copy, fields patched in the copy with
//! incremental checksum updates, RFC 1624). An action list of one `Output`
//! is one copy.

use crate::action::{Action, CtNat};
use crate::burst::MAX_BURST;
use crate::conntrack::frag::Reassembled;
use crate::conntrack::{NatRequest, Snat};
use crate::context::{ct_state, Offload, PacketCtx};
use crate::datapath::{Datapath, PortRole};
use crate::drop::DropReason;
use crate::flow::Mac;
use crate::l3::egress::{answer_gateway_neighbour, icmp_reply, resolve_in_network};
use crate::l3::route::addresses as route_addresses;
use crate::mac_table::PortId;
use crate::offload::{emit_offloaded, is_plain, settle_in_place};
use crate::overlay::egress::{answer_neighbour, next_hop_mac, replicate, to_vtep, Outgoing};
use crate::stats::Stats;
use crate::wire::checksum::{update_u16, update_u32};
use crate::wire::{ethernet, ip_proto, ipv4, ipv6, read_u16, tcp, udp, write_u16};

mod frame;
pub(crate) use frame::patch_fields;
use frame::{with_vid, NO_FIELD_EDITS};
pub use frame::{write_frame, write_vlan, Edits, FieldEdits, VlanEdit};

const TPID_8021Q: u16 = 0x8100;
const ETH_ADDRS_LEN: usize = 12;
const VLAN_TAG_LEN: usize = 4;
const VID_MASK: u16 = 0x0fff;

/// Where egress writes frames: the output ports' transmit queues.
pub trait TxSink {
    /// The buffer for the next frame out of `port`, or `None` when its
    /// queue is full (or there is no such port).
    fn slot(&mut self, port: PortId) -> Option<&mut [u8]>;
    /// Queues the first `len` bytes of the buffer last lent for `port`.
    fn commit(&mut self, port: PortId, len: usize, timestamp_ns: u64);
    /// What `port` takes besides complete frames, with its offload state
    /// passed to [`TxSink::commit_offload`]. The default,
    /// [`TxOffload::None`], has egress complete checksums and segment
    /// super-frames for the port.
    fn tx_offload(&self, _port: PortId) -> TxOffload {
        TxOffload::None
    }
    /// [`TxSink::commit`] of a frame with `offload` state, whose headers
    /// (up to the L4 payload) take `header_len` bytes; only with what
    /// [`TxSink::tx_offload`] says the port takes.
    fn commit_offload(
        &mut self,
        port: PortId,
        len: usize,
        timestamp_ns: u64,
        offload: Offload,
        header_len: u16,
    ) {
        let _ = (offload, header_len);
        self.commit(port, len, timestamp_ns);
    }
}

/// What an output port takes besides complete frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TxOffload {
    /// Complete frames only.
    #[default]
    None,
    /// Frames with a partial checksum, which its kernel completes (an
    /// AF_XDP port with TX metadata); super-frames are segmented for it,
    /// the segments' checksums left partial.
    Checksum,
    /// Partial checksums and GSO super-frames whole, in 64 KiB slots (TAP
    /// and AF_PACKET ports with virtio-net headers).
    ChecksumAndGso,
}

/// What executing a list left to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executed {
    /// Every output was written (or counted as dropped).
    Done,
    /// The frame must run through the pipeline again (decap, ct,
    /// recirculate): the context says from where.
    Recirculate,
}

/// The connection tracker the `ct` action runs: one handle per worker
/// (the tracker's state may be shared between workers, as
/// [`crate::conntrack::Conntrack`]'s is, without a lock).
pub trait ConnTracker: Send {
    /// Looks the frame (`frame` holds the whole received buffer, the
    /// current frame at `ctx.offset`) up in `zone` at `now` (seconds, the
    /// clock of learned state, which idle timeouts count in), committing a
    /// new connection when `commit`; fills `ctx.ct` and may translate the
    /// frame in place (NAT). `Err` drops the frame with that reason (a new
    /// connection refused by a full table, a fragment refused).
    fn track(
        &mut self,
        frame: &mut [u8],
        ctx: &mut PacketCtx,
        zone: u16,
        commit: bool,
        nat: NatRequest,
        now: u32,
    ) -> Result<Tracked, DropReason>;

    /// A datagram whose fragments the tracker held, now whole and tracked
    /// (or given up), to send on (or count as dropped); `None` when there
    /// is none. The runner asks after every burst.
    fn reassembled(&mut self) -> Option<Reassembled<'_>> {
        None
    }

    /// True when the frames of a burst are worth [`ConnTracker::warm`]ing
    /// before they are tracked (their table outgrows the caches): asked
    /// once a burst.
    fn warms(&self) -> bool {
        false
    }

    /// Reads ahead what tracking will read for the frames of a burst
    /// (`zones[k]`: the zone `frames[k]`, with context `ctxs[k]`, meets the
    /// tracker in, if it does), so that the cache misses of a large table
    /// overlap instead of following one another. Changes nothing else.
    fn warm(&self, frames: &[&mut [u8]], ctxs: &[PacketCtx], zones: &[Option<u16>; MAX_BURST]) {
        let _ = (frames, ctxs, zones);
    }

    /// True when [`ConnTracker::reassembled`] has something: asked once
    /// a burst, so that bursts without fragments pay one call.
    fn has_reassembled(&self) -> bool {
        false
    }
}

/// What the tracker did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    /// Tracked: it runs through the stages again, `ctx.ct` filled.
    Recirculate,
    /// Held, an IPv4 fragment: it goes on with its datagram, from
    /// [`ConnTracker::reassembled`].
    Held,
}

/// What a ct action's NAT part asks of the tracker: a masquerade becomes
/// the source translation to its network's uplink address and ports (no
/// translation of new connections when the uplink has no IPv4 address), a
/// published range the destination translation to its container (and, in
/// a hairpin, the source translation to the network's gateway).
fn nat_request(dp: &Datapath, ctx: &PacketCtx, nat: CtNat) -> NatRequest {
    let spec_of = |n: u16| dp.network(n).map(|n| &n.spec);
    let request = match nat {
        CtNat::None => return NatRequest::None,
        CtNat::Apply => None,
        CtNat::Masquerade { network } => spec_of(network).and_then(|spec| {
            let addr = spec
                .uplink
                .and_then(|u| dp.uplink(u as u16))
                .and_then(|up| up.spec.ipv4())?;
            Some(NatRequest::Snat(Snat {
                addr,
                ports: spec.nat_ports,
            }))
        }),
        CtNat::Publish { network, rule } | CtNat::Hairpin { network, rule } => spec_of(network)
            .and_then(|spec| {
                let publish = spec.publish.get(rule as usize)?;
                let port = publish.container_port_for(ctx.parsed.key.l4_dst);
                let snat = matches!(nat, CtNat::Hairpin { .. }).then_some(Snat {
                    addr: spec.gateway,
                    ports: spec.nat_ports,
                });
                Some(NatRequest::Dnat {
                    to: (publish.container, port),
                    snat,
                })
            }),
    };
    request.unwrap_or(NatRequest::Apply)
}

/// Executes `actions` (the frame's list, or the flow cache's copy of it)
/// for the frame of `ctx` in `buf` (the received
/// buffer; the current frame starts at `ctx.offset`), writing outputs into
/// `tx` and counting drops in `stats`. Every frame ends in exactly one
/// counted outcome: written to at least one output, dropped with a
/// reason, or handed back for recirculation. `now` (seconds) is the clock
/// of learned state (neighbour entries).
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn execute<T: TxSink>(
    dp: &Datapath,
    ctx: &mut PacketCtx,
    actions: &[Action],
    buf: &mut [u8],
    now: u32,
    tx: &mut T,
    conntrack: Option<&mut (dyn ConnTracker + 'static)>,
    stats: &mut Stats,
) -> Executed {
    if output_only(dp, ctx, actions, buf, tx, stats) {
        return Executed::Done;
    }
    let mut edits = Edits::default();
    let mut outputs = 0usize;
    // A flood whose only other member is a tunnel without remotes.
    let mut no_remotes = false;
    let tagged = ctx.parsed.layout.vlan_tags > 0;
    let in_port = ctx.in_port;
    let mut conntrack = conntrack;
    for &action in actions {
        let frame = buf.get(ctx.offset as usize..).unwrap_or_default();
        match action {
            Action::Output(port) => {
                match edits.encap {
                    Some((tunnel, vtep)) => {
                        if let Err(reason) = settle_in_place(buf, ctx) {
                            stats.drop(in_port, reason);
                            return Executed::Done;
                        }
                        let frame = buf.get(ctx.offset as usize..).unwrap_or_default();
                        let out = outgoing(frame, ctx, &edits, now);
                        to_vtep(dp, &out, tunnel, vtep, tx, stats)
                    }
                    None => emit(frame, ctx, edits.vlan, &edits.fields, port, tx, stats),
                }
                outputs += 1;
            }
            Action::Replicate(tunnel) => {
                if ctx.tunnel.present {
                    stats.drop(in_port, DropReason::TunnelSplitHorizon);
                    return Executed::Done;
                }
                if let Err(reason) = settle_in_place(buf, ctx) {
                    stats.drop(in_port, reason);
                    return Executed::Done;
                }
                let frame = buf.get(ctx.offset as usize..).unwrap_or_default();
                let out = outgoing(frame, ctx, &edits, now);
                if replicate(dp, &out, tunnel, tx, stats) == 0 {
                    stats.drop(in_port, DropReason::TunnelNoRemotes);
                    return Executed::Done;
                }
                outputs += 1;
            }
            Action::AnswerNeighbour => {
                let answered = match dp.port(in_port).map(|p| p.role) {
                    Some(PortRole::Uplink(_)) => answer_neighbour(dp, ctx, frame, tx, stats),
                    _ => answer_gateway_neighbour(dp, ctx, frame, tx, stats),
                };
                if !answered {
                    return Executed::Done;
                }
                outputs += 1;
            }
            Action::IcmpReply(kind) => {
                if icmp_reply(dp, ctx, frame, kind, tx, stats) {
                    outputs += 1;
                }
            }
            Action::ResolveInNetwork { network } => {
                resolve_in_network(dp, ctx, network, route_destination(ctx), now, tx, stats);
            }
            Action::ResolveOnUplink { uplink } => {
                if let Some(uplink) = dp.uplink(uplink) {
                    let destination = route_destination(ctx);
                    next_hop_mac(uplink, destination, destination, now, tx, stats);
                }
            }
            Action::Flood(group) => {
                if !is_plain(&ctx.offload)
                    && dp.flood_members(group).iter().any(|m| m.tunnel.is_some())
                {
                    if let Err(reason) = settle_in_place(buf, ctx) {
                        stats.drop(in_port, reason);
                        return Executed::Done;
                    }
                }
                let frame = buf.get(ctx.offset as usize..).unwrap_or_default();
                for member in dp.flood_members(group) {
                    // Split horizon: what came out of a tunnel is flooded
                    // to local ports only.
                    if member.port == in_port || (member.tunnel.is_some() && ctx.tunnel.present) {
                        continue;
                    }
                    let want = VlanEdit::for_egress(
                        edits.vlan.tagged_after(tagged),
                        current_vid(ctx, edits.vlan),
                        member.tag,
                    );
                    let vlan = want
                        .actions()
                        .try_fold(edits.vlan, |vlan, action| vlan.then(action));
                    match (vlan, member.tunnel) {
                        (Ok(vlan), Some(tunnel)) => {
                            let member_edits = Edits { vlan, ..edits };
                            let out = outgoing(frame, ctx, &member_edits, now);
                            let copies = replicate(dp, &out, tunnel, tx, stats);
                            no_remotes |= copies == 0;
                            outputs += copies;
                            continue;
                        }
                        (Ok(vlan), None) => {
                            emit(frame, ctx, vlan, &edits.fields, member.port, tx, stats)
                        }
                        (Err(reason), _) => stats.drop(member.port, reason),
                    }
                    outputs += 1;
                }
            }
            Action::Drop(reason) => {
                stats.drop(in_port, reason);
                return Executed::Done;
            }
            Action::Decap => {
                if !ctx.tunnel.present || !edits.is_empty() {
                    stats.drop(in_port, DropReason::UnsupportedRecirculation);
                    return Executed::Done;
                }
                ctx.offset = ctx.offset.saturating_add(ctx.tunnel.header_len);
                ctx.in_port = ctx.tunnel.port;
                // The tunnel port counts what comes out of the tunnel (the
                // uplink counted it encapsulated).
                stats.rx(ctx.in_port, buf.len().saturating_sub(ctx.offset as usize));
                return Executed::Recirculate;
            }
            Action::Ct { zone, commit, nat } => {
                let tracker = conntrack.take();
                return match track(dp, ctx, buf, &edits, tracker, zone, commit, nat, now) {
                    Ok(Tracked::Recirculate) => Executed::Recirculate,
                    Ok(Tracked::Held) => Executed::Done,
                    Err(reason) => {
                        stats.drop(in_port, reason);
                        Executed::Done
                    }
                };
            }
            Action::CtThrough { zone, nat } => {
                let tracker = conntrack.take();
                match track(dp, ctx, buf, &edits, tracker, zone, true, nat, now) {
                    Ok(Tracked::Recirculate) if ctx.ct.state & ct_state::INVALID == 0 => {
                        // Applied in place before the tracker.
                        edits = Edits::default();
                    }
                    Ok(Tracked::Recirculate) => {
                        stats.drop(in_port, DropReason::CtInvalid);
                        return Executed::Done;
                    }
                    Ok(Tracked::Held) => return Executed::Done,
                    Err(reason) => {
                        stats.drop(in_port, reason);
                        return Executed::Done;
                    }
                }
            }
            Action::Recirculate => {
                if let Err(reason) =
                    settle_in_place(buf, ctx).and_then(|()| apply_in_place(buf, ctx, &edits))
                {
                    stats.drop(in_port, reason);
                    return Executed::Done;
                }
                return Executed::Recirculate;
            }
            Action::Encap { tunnel, vtep } => {
                if dp.tunnel(tunnel).is_none() {
                    stats.drop(in_port, DropReason::UnsupportedRecirculation);
                    return Executed::Done;
                }
                edits.encap = Some((tunnel, vtep));
            }
            edit => {
                if let Err(reason) = edits.add(edit) {
                    stats.drop(in_port, reason);
                    return Executed::Done;
                }
            }
        }
    }
    if outputs == 0 {
        let reason = if no_remotes {
            DropReason::TunnelNoRemotes
        } else {
            DropReason::NoAction
        };
        stats.drop(in_port, reason);
    }
    Executed::Done
}

/// The ct action's work for both its forms: completes the frame's
/// checksum and applies `edits` in place, then runs it through `tracker`.
#[allow(clippy::too_many_arguments)]
fn track(
    dp: &Datapath,
    ctx: &mut PacketCtx,
    buf: &mut [u8],
    edits: &Edits,
    tracker: Option<&mut (dyn ConnTracker + 'static)>,
    zone: u16,
    commit: bool,
    nat: CtNat,
    now: u32,
) -> Result<Tracked, DropReason> {
    let tracker = tracker.ok_or(DropReason::NoConntrack)?;
    settle_in_place(buf, ctx)?;
    // A ct action usually comes first, with nothing to apply.
    if !edits.is_empty() {
        apply_in_place(buf, ctx, edits)?;
    }
    let nat = nat_request(dp, ctx, nat);
    tracker.track(buf, ctx, zone, commit, nat, now)
}

/// The common case, a list of one output of the frame as received: one
/// copy, inlined into the caller. Returns false for any other list.
#[inline(always)]
pub fn output_only<T: TxSink>(
    _dp: &Datapath,
    ctx: &PacketCtx,
    actions: &[Action],
    buf: &[u8],
    tx: &mut T,
    stats: &mut Stats,
) -> bool {
    let [Action::Output(port)] = actions else {
        return false;
    };
    let frame = buf.get(ctx.offset as usize..).unwrap_or_default();
    emit(
        frame,
        ctx,
        VlanEdit::Keep,
        &NO_FIELD_EDITS,
        *port,
        tx,
        stats,
    );
    true
}

/// The destination address of the IP frame of `ctx`.
fn route_destination(ctx: &PacketCtx) -> std::net::IpAddr {
    route_addresses(ctx).1
}

/// The outer VID the frame carries after `vlan` (0 when untagged).
fn current_vid(ctx: &PacketCtx, vlan: VlanEdit) -> u16 {
    match vlan {
        VlanEdit::Keep => ctx.parsed.key.vlan,
        VlanEdit::Pop => ctx.parsed.key.inner_vlan,
        VlanEdit::Push(tci) | VlanEdit::Replace(tci) => tci & VID_MASK,
        VlanEdit::SetVid(vid) => vid,
    }
}

/// Lends `write` the next slot of `port` and queues what it wrote, or
/// counts why not (no slot, or `write`'s reason) against `port`: for the
/// outputs that do more than copy. True when the frame was queued.
#[inline(always)]
pub(crate) fn into_slot<T: TxSink>(
    port: PortId,
    timestamp_ns: u64,
    tx: &mut T,
    stats: &mut Stats,
    write: impl FnOnce(&mut [u8]) -> Result<usize, DropReason>,
) -> bool {
    into_slot_then(port, tx, stats, write, |tx, len| {
        tx.commit(port, len, timestamp_ns)
    })
}

/// [`into_slot`] with the step that queues the `len` bytes written given
/// (a frame that keeps offload state is committed with it).
#[inline(always)]
pub(crate) fn into_slot_then<T: TxSink>(
    port: PortId,
    tx: &mut T,
    stats: &mut Stats,
    write: impl FnOnce(&mut [u8]) -> Result<usize, DropReason>,
    queue: impl FnOnce(&mut T, usize),
) -> bool {
    let Some(slot) = tx.slot(port) else {
        stats.drop(port, DropReason::TxQueueFull);
        return false;
    };
    match write(slot) {
        Ok(len) => {
            queue(tx, len);
            true
        }
        Err(reason) => {
            stats.drop(port, reason);
            false
        }
    }
}

/// Writes the frame into `port`'s next slot with its edits. The per-frame
/// path: written out rather than through [`into_slot`], whose closure the
/// compiler leaves as a call (40 instructions a frame under cachegrind).
#[inline(always)]
fn emit<T: TxSink>(
    frame: &[u8],
    ctx: &PacketCtx,
    vlan: VlanEdit,
    fields: &FieldEdits,
    port: PortId,
    tx: &mut T,
    stats: &mut Stats,
) {
    if !is_plain(&ctx.offload) {
        emit_offloaded(frame, ctx, vlan, fields, port, tx, stats);
        return;
    }
    let Some(slot) = tx.slot(port) else {
        stats.drop(port, DropReason::TxQueueFull);
        return;
    };
    match write_frame(frame, ctx, vlan, fields, slot) {
        Ok(len) => tx.commit(port, len, ctx.timestamp_ns),
        Err(reason) => stats.drop(port, reason),
    }
}

/// The frame and its edits so far, for the outputs into tunnels.
#[inline]
fn outgoing<'a>(frame: &'a [u8], ctx: &'a PacketCtx, edits: &'a Edits, now: u32) -> Outgoing<'a> {
    Outgoing {
        frame,
        ctx,
        vlan: edits.vlan,
        fields: &edits.fields,
        now,
    }
}

/// Applies `edits` to the received bytes themselves, before the frame runs
/// through the pipeline again: fields in place, a popped tag by moving the
/// addresses forward, a pushed tag into room in front of the frame (there
/// is some after a decapsulation).
fn apply_in_place(buf: &mut [u8], ctx: &mut PacketCtx, edits: &Edits) -> Result<(), DropReason> {
    let start = ctx.offset as usize;
    let tagged = ctx.parsed.layout.vlan_tags > 0;
    if edits.fields.any {
        let frame = buf.get_mut(start..).ok_or(DropReason::EthTruncated)?;
        patch_fields(frame, ctx, 0, &edits.fields)?;
    }
    let frame_len = buf.len().saturating_sub(start);
    match edits.vlan {
        VlanEdit::Keep => {}
        VlanEdit::SetVid(_) | VlanEdit::Replace(_) | VlanEdit::Pop if !tagged => {
            return Err(DropReason::UnsupportedVlanEdit)
        }
        VlanEdit::SetVid(vid) => {
            let at = start + ETH_ADDRS_LEN + 2;
            write_u16(buf, at, with_vid(read_u16(buf, at), vid));
        }
        VlanEdit::Replace(tci) => {
            write_u16(buf, start + ETH_ADDRS_LEN, TPID_8021Q);
            write_u16(buf, start + ETH_ADDRS_LEN + 2, tci);
        }
        VlanEdit::Pop => {
            if frame_len < ETH_ADDRS_LEN + VLAN_TAG_LEN {
                return Err(DropReason::VlanTruncated);
            }
            buf.copy_within(start..start + ETH_ADDRS_LEN, start + VLAN_TAG_LEN);
            ctx.offset += VLAN_TAG_LEN as u16;
        }
        VlanEdit::Push(tci) => {
            if start < VLAN_TAG_LEN || frame_len < ETH_ADDRS_LEN {
                return Err(DropReason::RecirculationNoRoom);
            }
            let new = start - VLAN_TAG_LEN;
            buf.copy_within(start..start + ETH_ADDRS_LEN, new);
            write_u16(buf, new + ETH_ADDRS_LEN, TPID_8021Q);
            write_u16(buf, new + ETH_ADDRS_LEN + 2, tci);
            ctx.offset = new as u16;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "egress_tests.rs"]
mod tests;
