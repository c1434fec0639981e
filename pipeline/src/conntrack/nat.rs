//! Network address translation on tracked connections, as Linux's and
//! Open vSwitch's: the translation lives in the connection's two tuples.
//!
//! A new connection committed with a [`Snat`] gets, instead of its
//! original tuple reversed, a reply tuple addressed to the translated
//! source (the uplink's address and a port of the range), so replies find
//! the connection by what they carry. Every later frame of the connection,
//! either way, is rewritten from the two tuples: a frame in the original
//! direction takes the reply tuple's destination as its source; a reply
//! takes the original source as its destination. Checksums are updated
//! incrementally (RFC 1624); an ICMP echo's identifier stands for its port.
//! A frame whose TCP/UDP checksum is partial (a super-frame a port handed
//! over with its checksum offloaded) keeps it partial: its field holds the
//! pseudo-header's sum, so an address changes it as a sum, and a port,
//! summed with the rest when the checksum is completed, does not (as
//! Linux's `inet_proto_csum_replace4` on CHECKSUM_PARTIAL).
//!
//! A port is free for a connection when no connection in the zone has
//! the reply tuple it would make (same remote address and port, same
//! protocol): the same port is reused towards different remotes, as
//! Linux's `nf_nat_used_tuple` allows. Ports come back when their
//! connection times out or is removed.

use std::net::Ipv4Addr;

use super::packet::{self, Kind, Tuple};
use super::table::{ConnTable, Found};
use super::track::Verdict;
use crate::context::{ct_state, ChecksumState};
use crate::flow::Parsed;
use crate::wire::checksum::{fold, internet_checksum, update_u16};
use crate::wire::{icmpv4, ip_proto, ipv4, read_u16, tcp, udp, write_u16};

/// Ports tried for one new connection before it is refused: Linux's
/// `nf_nat_l4proto_unique_tuple` gives up after 128 attempts too.
pub const MAX_PORT_TRIES: u32 = 128;

/// Source translation for a new connection: to `addr`, with a source port
/// (an ICMP echo identifier) from `ports` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snat {
    /// The address sources are translated to.
    pub addr: Ipv4Addr,
    /// The first and last port to allocate.
    pub ports: (u16, u16),
}

/// What a ct action asks of NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NatRequest {
    /// Nothing: the frame is tracked, not translated.
    #[default]
    None,
    /// Translate frames of connections that have a translation; set up
    /// none.
    Apply,
    /// As `Apply`, and a new connection committed gets its source
    /// translated.
    Snat(Snat),
    /// As `Apply`, and a new connection committed gets its destination
    /// translated to `to` (address, port), and its source by `snat` when
    /// given.
    Dnat {
        /// The new destination.
        to: (Ipv4Addr, u16),
        /// The source translation too (hairpin).
        snat: Option<Snat>,
    },
}

impl NatRequest {
    /// The translation a new connection gets, if any.
    pub(crate) fn for_new(&self) -> Option<NewNat> {
        match *self {
            NatRequest::None | NatRequest::Apply => None,
            NatRequest::Snat(snat) => Some(NewNat {
                dnat: None,
                snat: Some(snat),
            }),
            NatRequest::Dnat { to, snat } => Some(NewNat {
                dnat: Some(to),
                snat,
            }),
        }
    }
}

/// The translation of a new connection: its destination, its source, or
/// both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NewNat {
    pub dnat: Option<(Ipv4Addr, u16)>,
    pub snat: Option<Snat>,
}

/// Why no translation could be set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PortsExhausted;

impl ConnTable {
    /// [`ConnTable::track`] with NAT: judges the frame (a new connection
    /// committed with [`NatRequest::Snat`] gets a translated reply tuple)
    /// and, unless `nat` is `None` or this is a probe, rewrites the frame
    /// by its connection's translation, its L4 checksum updated as
    /// `checksum` says it stands (complete, or partial). Always inlined in
    /// [`super::Conntrack`]'s two calls: a call with nine arguments cost a
    /// tenth of its work.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn track_nat(
        &self,
        frame: &mut [u8],
        parsed: &Parsed,
        checksum: ChecksumState,
        zone: u16,
        commit: bool,
        nat: NatRequest,
        now: u32,
        probe: bool,
    ) -> (Verdict, Option<Translation>) {
        let (tuple, kind) = match packet::read(frame, parsed, zone) {
            Ok(read) => read,
            Err(reason) => return (self.invalid(reason, probe), None),
        };
        let (verdict, found) =
            self.judge(&tuple, &self.key(&tuple), kind, commit, now, probe, &nat);
        if nat == NatRequest::None || probe || verdict.result.is_err() {
            return (verdict, None);
        }
        let (l3, l4) = (parsed.layout.l3 as usize, parsed.layout.l4 as usize);
        let translation = match kind {
            Kind::IcmpError(quoted) if verdict.state & ct_state::RELATED != 0 => {
                self.apply_nat_related(frame, l3, l4, &tuple, &quoted)
            }
            _ => {
                let l4_sum = match checksum {
                    ChecksumState::Complete => L4Sum::Complete,
                    ChecksumState::Partial { .. } => L4Sum::Partial,
                };
                self.apply_nat(frame, l3, l4, &tuple, found, verdict.state, l4_sum)
            }
        };
        (verdict, translation)
    }

    /// The reply tuple of a new connection `original` translated by
    /// `nat`: replies come from the translated destination, and go to
    /// the translated source, `snat.addr` at a port of the range that no
    /// connection of the zone uses towards the same remote. `retry` counts
    /// the ports lost to racing workers ([`super::table::InsertError::ReplyTaken`]):
    /// each moves the search on by a step of the original tuple's own, so
    /// that two racers do not pick the same next port.
    pub(crate) fn nat_reply(
        &self,
        original: &Tuple,
        nat: &NewNat,
        retry: u32,
    ) -> Result<Tuple, PortsExhausted> {
        let mut reply = original.reversed();
        if original.ipv6 {
            return Ok(reply);
        }
        if let Some((addr, port)) = nat.dnat {
            reply.src = [0; 16];
            reply.src[..4].copy_from_slice(&addr.octets());
            reply.src_port = port;
        }
        let Some(snat) = &nat.snat else {
            // The destination alone: the connection is refused if another
            // already answers from there to the same source.
            return match self.find(&self.key(&reply)) {
                None => Ok(reply),
                Some(_) => Err(PortsExhausted),
            };
        };
        reply.dst = [0; 16];
        reply.dst[..4].copy_from_slice(&snat.addr.octets());
        let (first, last) = (
            snat.ports.0.min(snat.ports.1),
            snat.ports.0.max(snat.ports.1),
        );
        let size = u32::from(last - first) + 1;
        // Start where the original tuple hashes, so that connections spread
        // over the range instead of crowding its first ports.
        let hash = self.key(original).hash;
        let step = (hash >> 32) as u32 | 1;
        let start = ((hash % u64::from(size)) as u32).wrapping_add(retry.wrapping_mul(step)) % size;
        for k in 0..size.min(MAX_PORT_TRIES) {
            let port = first + ((start + k) % size) as u16;
            reply.dst_port = port;
            if original.proto == ip_proto::ICMP {
                // An echo's identifier is both "ports".
                reply.src_port = port;
            }
            if self.find(&self.key(&reply)).is_none() {
                return Ok(reply);
            }
        }
        Err(PortsExhausted)
    }

    /// Rewrites `frame` (the current frame, parsed at `l3`/`l4`, its L4
    /// checksum as `l4_sum` says) by its connection's translation, when it
    /// has one: what a frame of tuple `tuple` with `state` bits becomes.
    /// Returns the translation applied (`None`: none).
    /// Always inlined in its one caller, [`ConnTable::track_nat`] (a
    /// hint alone was not taken).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn apply_nat(
        &self,
        frame: &mut [u8],
        l3: usize,
        l4: usize,
        tuple: &Tuple,
        found: Option<Found>,
        state: u8,
        l4_sum: L4Sum,
    ) -> Option<Translation> {
        let tracked = ct_state::NEW | ct_state::ESTABLISHED;
        if tuple.ipv6 || state & tracked == 0 || state & ct_state::INVALID != 0 {
            return None;
        }
        // The tracker found the connection of a frame that was not its
        // first; a new one was stored after the lookup.
        let found = found.or_else(|| self.find(&self.key(tuple)))?;
        // The frame carries the entry's tuple of the direction it was found
        // by; it must carry the other one, reversed. A connection without
        // a translation has the two the reverse of each other: nothing to
        // do.
        let (other_src, other_dst) = packet::v4_ends(&self.other_tuple_words(&found)?);
        let translation = Translation {
            src: (v4(&tuple.src), tuple.src_port),
            dst: (v4(&tuple.dst), tuple.dst_port),
            to_src: other_dst,
            to_dst: other_src,
        };
        if translation.to_src == translation.src && translation.to_dst == translation.dst {
            return None;
        }
        rewrite(
            frame,
            l3,
            l4,
            tuple.proto,
            &translation,
            found.reply,
            l4_sum,
        );
        Some(translation)
    }
}

impl ConnTable {
    /// Rewrites the ICMP error `frame` (outer tuple `outer`, quoting a
    /// packet of tuple `quoted`) by the translation of the connection it
    /// is RELATED to, as Linux's `nf_nat_icmp_reply_translation`: the
    /// outer destination (and the source, when the error comes from the
    /// quoted packet's destination itself) as a packet of the connection
    /// going the error's way; the quoted header as its sender sent it.
    pub(crate) fn apply_nat_related(
        &self,
        frame: &mut [u8],
        l3: usize,
        l4: usize,
        outer: &Tuple,
        quoted: &Tuple,
    ) -> Option<Translation> {
        if outer.ipv6 {
            return None;
        }
        let found = self.find(&self.key(&quoted.reversed()))?;
        let (original, reply) = self.tuples(found.index as usize)?;
        if reply == original.reversed() {
            return None;
        }
        let want = if found.reply { original } else { reply }.reversed();
        let to_src = if outer.src == quoted.dst {
            want.src
        } else {
            outer.src
        };
        let translation = Translation {
            src: (v4(&outer.src), 0),
            dst: (v4(&outer.dst), 0),
            to_src: (v4(&to_src), 0),
            to_dst: (v4(&want.dst), 0),
        };
        // The outer header: addresses only (ICMP has no pseudo-header).
        rewrite(
            frame,
            l3,
            l4,
            ip_proto::ICMP,
            &translation,
            false,
            L4Sum::Complete,
        );
        // The quoted packet, as its sender sent it.
        let inner_l3 = l4 + QUOTE_OFFSET;
        let inner_ihl = usize::from(frame.get(inner_l3)? & 0x0f) * 4;
        let inner_l4 = inner_l3 + inner_ihl;
        let inner = Translation {
            src: (v4(&quoted.src), quoted.src_port),
            dst: (v4(&quoted.dst), quoted.dst_port),
            to_src: (v4(&want.dst), want.dst_port),
            to_dst: (v4(&want.src), want.src_port),
        };
        let quoted_len = frame.len().saturating_sub(inner_l4);
        // The quoted L4 checksum is updated when it was quoted (UDP's is in
        // the first 8 bytes; TCP's only when 18 bytes are).
        let inner_sum_quoted = match quoted.proto {
            ip_proto::TCP => quoted_len >= tcp::field::CHECKSUM.end,
            ip_proto::UDP => quoted_len >= udp::field::CHECKSUM.end,
            _ => true,
        };
        let inner_sum = if inner_sum_quoted {
            L4Sum::Complete
        } else {
            L4Sum::Absent
        };
        let proto = quoted.proto;
        rewrite(frame, inner_l3, inner_l4, proto, &inner, true, inner_sum);
        // The error's own checksum covers the quoted packet: summed anew.
        let end =
            (l3 + usize::from(read_u16(frame, l3 + ipv4::field::LENGTH.start))).min(frame.len());
        let sum_at = l4 + icmpv4::field::CHECKSUM.start;
        write_u16(frame, sum_at, 0);
        let sum = internet_checksum(frame.get(l4..end)?);
        write_u16(frame, sum_at, sum);
        Some(translation)
    }
}

/// RFC 1624's `~m + m'` for a 32-bit field changing from `old` to `new`,
/// as its two 16-bit halves: what a checksum over it takes in.
fn change_u32(old: u32, new: u32) -> u32 {
    let halves = |v: u32| (v >> 16) + (v & 0xffff);
    halves(!old) + halves(new)
}

/// Where an ICMP error's quoted packet starts.
const QUOTE_OFFSET: usize = 8;

/// The addresses and ports a frame had and was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// Source before.
    pub src: (Ipv4Addr, u16),
    /// Destination before.
    pub dst: (Ipv4Addr, u16),
    /// Source after.
    pub to_src: (Ipv4Addr, u16),
    /// Destination after.
    pub to_dst: (Ipv4Addr, u16),
}

impl core::fmt::Display for Translation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}:{} > {}:{} to {}:{} > {}:{}",
            self.src.0,
            self.src.1,
            self.dst.0,
            self.dst.1,
            self.to_src.0,
            self.to_src.1,
            self.to_dst.0,
            self.to_dst.1
        )
    }
}

fn v4(addr: &[u8; 16]) -> Ipv4Addr {
    Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])
}

/// Writes the addresses of `t` into the IPv4 header at `l3` (and its
/// checksum): a later fragment, which carries no L4 header.
pub(crate) fn rewrite_addresses(frame: &mut [u8], l3: usize, t: &Translation) {
    rewrite(frame, l3, 0, 0, t, false, L4Sum::Absent);
}

/// What the TCP/UDP checksum field of a frame to rewrite holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum L4Sum {
    /// The checksum: updated for addresses and ports (RFC 1624).
    Complete,
    /// A partial checksum, the pseudo-header's sum (uncomplemented):
    /// updated for addresses only, as a sum.
    Partial,
    /// Nothing to update: a quoted header cut before its checksum, or no
    /// L4 header.
    Absent,
}

/// Writes `t` into the IPv4 frame: addresses (IPv4 header checksum and
/// the TCP/UDP pseudo-header sum), ports or the echo identifier (L4
/// checksum), the TCP/UDP checksum updated as `l4_sum` says. `reply`: the
/// frame is an echo reply, whose identifier is its "destination port".
fn rewrite(
    frame: &mut [u8],
    l3: usize,
    l4: usize,
    proto: u8,
    t: &Translation,
    reply: bool,
    l4_sum: L4Sum,
) {
    let sum_at = match (proto, l4_sum) {
        (_, L4Sum::Absent) => None,
        (ip_proto::TCP, _) => Some(l4 + tcp::field::CHECKSUM.start),
        (ip_proto::UDP, L4Sum::Partial) => Some(l4 + udp::field::CHECKSUM.start),
        // A zero UDP checksum over IPv4 means "none" and stays so.
        (ip_proto::UDP, _) if read_u16(frame, l4 + udp::field::CHECKSUM.start) != 0 => {
            Some(l4 + udp::field::CHECKSUM.start)
        }
        _ => None,
    };
    let partial = l4_sum == L4Sum::Partial;
    // The changes, summed as RFC 1624's `~m + m'` terms and folded once per
    // checksum (one's-complement addition is associative): `addresses` for
    // the IPv4 header and the pseudo-header, `ports` for the L4 header
    // (`None`: nothing changed).
    let mut addresses: Option<u32> = None;
    let mut set_address = |frame: &mut [u8], at: usize, old: Ipv4Addr, new: Ipv4Addr| {
        if old != new {
            let (old, new) = (u32::from(old), u32::from(new));
            crate::wire::write_array(frame, l3 + at, new.to_be_bytes());
            addresses = Some(addresses.unwrap_or(0) + change_u32(old, new));
        }
    };
    set_address(frame, ipv4::field::SRC_ADDR.start, t.src.0, t.to_src.0);
    set_address(frame, ipv4::field::DST_ADDR.start, t.dst.0, t.to_dst.0);
    if let Some(change) = addresses {
        let ip_sum = l3 + ipv4::field::CHECKSUM.start;
        let field = u32::from(!read_u16(frame, ip_sum));
        write_u16(frame, ip_sum, !fold(u64::from(field + change)));
    }
    match proto {
        ip_proto::TCP | ip_proto::UDP => {
            let mut ports: Option<u32> = None;
            let mut set_port = |frame: &mut [u8], at: usize, old: u16, new: u16| {
                if old != new {
                    write_u16(frame, l4 + at, new);
                    ports = Some(ports.unwrap_or(0) + u32::from(!old) + u32::from(new));
                }
            };
            set_port(frame, tcp::field::SRC_PORT.start, t.src.1, t.to_src.1);
            set_port(frame, tcp::field::DST_PORT.start, t.dst.1, t.to_dst.1);
            let Some(c) = sum_at else {
                return;
            };
            let field = read_u16(frame, c);
            let updated = match (partial, addresses, ports) {
                // A sum takes the changes as they are, where a checksum
                // (its complement) takes their complement; it sums the
                // ports when it is completed.
                (true, Some(change), _) => fold(u64::from(u32::from(field) + change)),
                (false, Some(_), _) | (false, _, Some(_)) => !fold(u64::from(
                    u32::from(!field) + addresses.unwrap_or(0) + ports.unwrap_or(0),
                )),
                _ => return,
            };
            write_u16(frame, c, updated);
        }
        ip_proto::ICMP => {
            let (old, new) = if reply {
                (t.dst.1, t.to_dst.1)
            } else {
                (t.src.1, t.to_src.1)
            };
            if old != new {
                let at = l4 + icmpv4::field::ECHO_IDENT.start;
                let c = l4 + icmpv4::field::CHECKSUM.start;
                write_u16(frame, at, new);
                write_u16(frame, c, update_u16(read_u16(frame, c), old, new));
            }
        }
        _ => {}
    }
}
