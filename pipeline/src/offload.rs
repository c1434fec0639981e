//! Offload state at egress: what to do with a frame that a port handed
//! over with a partial checksum or as a GSO super-frame ([`Offload`]) when
//! it leaves by a port that cannot take it.
//!
//! A port that takes offloads (a TAP with virtio-net headers,
//! [`TxOffload::ChecksumAndGso`]) gets the frame as it is, its
//! `csum_start` moved by the VLAN edit. A port that takes partial
//! checksums but not super-frames (AF_XDP with TX metadata,
//! [`TxOffload::Checksum`]) gets a frame with a partial checksum so, and a
//! super-frame cut into segments whose checksums stay partial: each holds
//! its own pseudo-header sum for the kernel to complete, which spares the
//! pass over the payload. Any other port gets what a NIC would have put on
//! the wire: the checksum completed in the copy ([`complete_checksum`]) or
//! the super-frame cut into segments ([`Segments`]) of at most `gso_size`
//! payload bytes each, with their own lengths, IPv4 IDs, TCP sequence
//! numbers and checksums, FIN and PSH on the last segment only and CWR on
//! the first only (as Linux's `tcp_gso_segment`). Counters:
//! [`Stats::sw_checksum`], [`Stats::sw_segmented`],
//! [`Stats::csum_offloaded`].

use crate::context::{ChecksumState, GsoType, Offload, PacketCtx};
use crate::drop::DropReason;
use crate::egress::{
    into_slot_then, patch_fields, write_vlan, FieldEdits, TxOffload, TxSink, VlanEdit,
};
use crate::mac_table::PortId;
use crate::stats::Stats;
use crate::wire::checksum::{data_sum, internet_checksum, PseudoHeader};
use crate::wire::{ip_proto, read_u16, read_u32, write_u16, write_u32};

const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// True when the frame needs nothing done: complete checksums, no
/// segmentation. The check every output makes first.
#[inline(always)]
pub fn is_plain(offload: &Offload) -> bool {
    matches!(offload.checksum, ChecksumState::Complete) && matches!(offload.gso, GsoType::None)
}

/// Folds the sum from `start` to the end of `frame` into the checksum
/// field at `start + offset`, which holds the pseudo-header sum, as
/// Linux's `skb_checksum_help` does (a result of 0 is sent as 0xffff).
pub fn complete_checksum(frame: &mut [u8], start: usize, offset: usize) -> Result<(), DropReason> {
    let at = start.checked_add(offset).ok_or(DropReason::BadOffload)?;
    if at + 2 > frame.len() {
        return Err(DropReason::BadOffload);
    }
    let sum = !data_sum(frame.get(start..).unwrap_or_default());
    write_u16(frame, at, if sum == 0 { 0xffff } else { sum });
    Ok(())
}

/// Completes a partial checksum in the received bytes themselves, before
/// the frame goes where offload state is not carried (into a tunnel, the
/// connection tracker). Super-frames are left as they are: segmenting
/// computes their checksums.
pub fn settle_in_place(buf: &mut [u8], ctx: &mut PacketCtx) -> Result<(), DropReason> {
    if let (ChecksumState::Partial { start, offset }, GsoType::None) =
        (ctx.offload.checksum, ctx.offload.gso)
    {
        let frame = buf.get_mut(ctx.offset as usize..).unwrap_or_default();
        complete_checksum(frame, start as usize, offset as usize)?;
        ctx.offload.checksum = ChecksumState::Complete;
    }
    Ok(())
}

/// Which transport a super-frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Udp,
}

/// A super-frame seen as the segments it stands for.
#[derive(Debug)]
pub struct Segments<'a> {
    frame: &'a [u8],
    ipv6: bool,
    transport: Transport,
    l3: usize,
    l4: usize,
    /// Where the payload starts: the end of the headers every segment
    /// repeats.
    payload: usize,
    /// Where the payload ends (IP padding excluded).
    end: usize,
    mss: usize,
}

impl<'a> Segments<'a> {
    /// The segments of `frame`, whose headers `ctx` parsed and whose
    /// segmentation `ctx.offload` asks for.
    pub fn new(frame: &'a [u8], ctx: &PacketCtx) -> Result<Segments<'a>, DropReason> {
        let layout = &ctx.parsed.layout;
        let ipv6 = ctx.parsed.key.ethertype == crate::wire::ethernet::ethertype::IPV6;
        let ipv4 = ctx.parsed.key.ethertype == crate::wire::ethernet::ethertype::IPV4;
        let proto = ctx.parsed.key.ip_proto;
        let transport = match (ctx.offload.gso, proto) {
            (GsoType::Tcpv4, ip_proto::TCP) if ipv4 => Transport::Tcp,
            (GsoType::Tcpv6, ip_proto::TCP) if ipv6 => Transport::Tcp,
            (GsoType::Udp, ip_proto::UDP) if ipv4 || ipv6 => Transport::Udp,
            _ => return Err(DropReason::BadOffload),
        };
        let (l3, l4, payload) = (
            layout.l3 as usize,
            layout.l4 as usize,
            layout.payload as usize,
        );
        let end = match layout.l3_end as usize {
            0 => frame.len(),
            end => end.min(frame.len()),
        };
        if l3 == 0 || l4 <= l3 || payload <= l4 || payload > end || ctx.offload.gso_size == 0 {
            return Err(DropReason::BadOffload);
        }
        Ok(Segments {
            frame,
            ipv6,
            transport,
            l3,
            l4,
            payload,
            end,
            mss: ctx.offload.gso_size as usize,
        })
    }

    /// How many segments there are (at least one).
    pub fn count(&self) -> usize {
        (self.end - self.payload).div_ceil(self.mss).max(1)
    }

    /// The length of the largest segment before any VLAN edit: its
    /// headers and at most one segment size of payload (what an MTU is
    /// checked against).
    pub fn largest_len(&self) -> usize {
        self.payload + self.mss.min(self.end - self.payload)
    }

    /// Writes segment `index` into `dst` with `vlan` done to its Ethernet
    /// header (the frame has an outer tag when `tagged`), every length and
    /// checksum right; returns its length.
    pub fn write(
        &self,
        index: usize,
        tagged: bool,
        vlan: VlanEdit,
        dst: &mut [u8],
    ) -> Result<usize, DropReason> {
        self.write_segment(index, tagged, vlan, dst, false)
    }

    /// [`Segments::write`] with the L4 checksum left partial: the field
    /// holds the segment's pseudo-header sum, for a port whose kernel
    /// completes it (see [`Segments::partial_checksum`]). The payload is
    /// copied, never summed.
    pub fn write_partial(
        &self,
        index: usize,
        tagged: bool,
        vlan: VlanEdit,
        dst: &mut [u8],
    ) -> Result<usize, DropReason> {
        self.write_segment(index, tagged, vlan, dst, true)
    }

    /// The checksum state of a segment [`Segments::write_partial`] wrote
    /// with a VLAN edit that grew its headers by `shift` bytes.
    pub fn partial_checksum(&self, shift: isize) -> ChecksumState {
        ChecksumState::Partial {
            start: (self.l4 as isize + shift) as u16,
            offset: match self.transport {
                Transport::Tcp => 16,
                Transport::Udp => 6,
            },
        }
    }

    fn write_segment(
        &self,
        index: usize,
        tagged: bool,
        vlan: VlanEdit,
        dst: &mut [u8],
        partial: bool,
    ) -> Result<usize, DropReason> {
        let headers = self.frame.get(..self.payload).unwrap_or_default();
        let header_len = write_vlan(headers, tagged, vlan, dst)?;
        let shift = header_len as isize - self.payload as isize;
        let from = self.payload + index * self.mss;
        let to = (from + self.mss).min(self.end);
        let chunk = self.frame.get(from..to).ok_or(DropReason::BadOffload)?;
        let len = header_len + chunk.len();
        let out = dst.get_mut(..len).ok_or(DropReason::TxFrameTooLong)?;
        out[header_len..].copy_from_slice(chunk);
        let l3 = (self.l3 as isize + shift) as usize;
        let l4 = (self.l4 as isize + shift) as usize;
        let pseudo = if self.ipv6 {
            // Payload length: everything after the 40-byte fixed header.
            write_u16(out, l3 + 4, (len - l3 - 40) as u16);
            PseudoHeader::Ipv6 {
                src: read_array(out, l3 + 8),
                dst: read_array(out, l3 + 24),
            }
        } else {
            write_u16(out, l3 + 2, (len - l3) as u16);
            let id = read_u16(out, l3 + 4).wrapping_add(index as u16);
            write_u16(out, l3 + 4, id);
            write_u16(out, l3 + 10, 0);
            let sum = internet_checksum(out.get(l3..l4).unwrap_or_default());
            write_u16(out, l3 + 10, sum);
            PseudoHeader::Ipv4 {
                src: read_array(out, l3 + 12),
                dst: read_array(out, l3 + 16),
            }
        };
        let (proto, field) = match self.transport {
            Transport::Tcp => {
                let seq = read_u32(out, l4 + 4).wrapping_add((index * self.mss) as u32);
                write_u32(out, l4 + 4, seq);
                let mut flags = out[l4 + 13];
                if index + 1 < self.count() {
                    flags &= !(TCP_FIN | TCP_PSH);
                }
                if index > 0 {
                    flags &= !TCP_CWR;
                }
                out[l4 + 13] = flags;
                (ip_proto::TCP, l4 + 16)
            }
            Transport::Udp => {
                write_u16(out, l4 + 4, (len - l4) as u16);
                (ip_proto::UDP, l4 + 6)
            }
        };
        if partial {
            write_u16(out, field, pseudo.sum(proto, (len - l4) as u32));
            return Ok(len);
        }
        write_u16(out, field, 0);
        let sum = pseudo.checksum(proto, out.get(l4..).unwrap_or_default());
        let sum = if sum == 0 && proto == ip_proto::UDP {
            0xffff
        } else {
            sum
        };
        write_u16(out, field, sum);
        Ok(len)
    }
}

fn read_array<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    buf.get(at..at + N)
        .and_then(|b| b.try_into().ok())
        .unwrap_or([0; N])
}

/// [`crate::egress`]'s output of a frame that is not plain (see
/// [`is_plain`]) to `port`: as it is where the port takes its offload
/// state and no field is rewritten (a rewrite's incremental update needs
/// a complete checksum); a super-frame to a port that takes partial
/// checksums only cut into segments with partial checksums; completed or
/// segmented in software otherwise.
#[cold]
#[inline(never)]
pub(crate) fn emit_offloaded<T: TxSink>(
    frame: &[u8],
    ctx: &PacketCtx,
    vlan: VlanEdit,
    fields: &FieldEdits,
    port: PortId,
    tx: &mut T,
    stats: &mut Stats,
) {
    let tagged = ctx.parsed.layout.vlan_tags > 0;
    let shift = vlan.growth();
    let moved = |at: u16| (at as isize + shift) as u16;
    let header_len = moved(ctx.parsed.layout.payload);
    let takes = if fields.spares_l4_checksum() {
        tx.tx_offload(port)
    } else {
        TxOffload::None
    };
    let whole = match takes {
        TxOffload::ChecksumAndGso => true,
        TxOffload::Checksum => ctx.offload.gso == GsoType::None,
        TxOffload::None => false,
    };
    if whole {
        let checksum = match ctx.offload.checksum {
            ChecksumState::Partial { start, offset } => ChecksumState::Partial {
                start: moved(start),
                offset,
            },
            complete => complete,
        };
        let offload = Offload {
            checksum,
            ..ctx.offload
        };
        let commit =
            |tx: &mut T, len| tx.commit_offload(port, len, ctx.timestamp_ns, offload, header_len);
        let sent = into_slot_then(
            port,
            tx,
            stats,
            |slot| {
                let len = write_vlan(frame, tagged, vlan, slot)?;
                let out = slot.get_mut(..len).ok_or(DropReason::TxFrameTooLong)?;
                checksum_in_frame(checksum, len)?;
                if fields.any() {
                    patch_fields(out, ctx, shift, fields)?;
                }
                Ok(len)
            },
            commit,
        );
        if sent && checksum != ChecksumState::Complete {
            stats.csum_offloaded(port, 1);
        }
        return;
    }
    if ctx.offload.gso == GsoType::None {
        let ChecksumState::Partial { start, offset } = ctx.offload.checksum else {
            return;
        };
        let written = crate::egress::into_slot(port, ctx.timestamp_ns, tx, stats, |slot| {
            let len = write_vlan(frame, tagged, vlan, slot)?;
            let out = slot.get_mut(..len).ok_or(DropReason::TxFrameTooLong)?;
            complete_checksum(out, moved(start) as usize, offset as usize)?;
            if fields.any() {
                patch_fields(out, ctx, shift, fields)?;
            }
            Ok(len)
        });
        if written {
            stats.sw_checksum(port, 1);
        }
        return;
    }
    let segments = match Segments::new(frame, ctx) {
        Ok(segments) => segments,
        Err(reason) => {
            stats.drop(port, reason);
            return;
        }
    };
    let partial = takes == TxOffload::Checksum;
    let offload = Offload {
        checksum: segments.partial_checksum(shift),
        gso: GsoType::None,
        gso_size: 0,
    };
    let mut written = 0u64;
    for index in 0..segments.count() {
        let write = |slot: &mut [u8]| {
            let len = if partial {
                segments.write_partial(index, tagged, vlan, slot)?
            } else {
                segments.write(index, tagged, vlan, slot)?
            };
            if fields.any() {
                let out = slot.get_mut(..len).ok_or(DropReason::TxFrameTooLong)?;
                patch_fields(out, ctx, shift, fields)?;
            }
            Ok(len)
        };
        let queued = if partial {
            into_slot_then(port, tx, stats, write, |tx: &mut T, len| {
                tx.commit_offload(port, len, ctx.timestamp_ns, offload, header_len)
            })
        } else {
            crate::egress::into_slot(port, ctx.timestamp_ns, tx, stats, write)
        };
        if !queued {
            break;
        }
        written += 1;
    }
    stats.sw_segmented(port, written);
    if partial {
        stats.csum_offloaded(port, written);
    }
}

/// A partial checksum's field must lie inside the frame of `len` bytes:
/// the kernel refuses one that does not (an AF_XDP ring would stop at it).
fn checksum_in_frame(checksum: ChecksumState, len: usize) -> Result<(), DropReason> {
    match checksum {
        ChecksumState::Partial { start, offset } if start as usize + offset as usize + 2 > len => {
            Err(DropReason::BadOffload)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
#[path = "offload_tests.rs"]
pub(crate) mod tests;
