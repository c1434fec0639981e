//! Connection tracking: which connection a frame belongs to, in which
//! direction, and whether it fits that connection's state.
//!
//! One [`ConnTable`] is shared by every worker (the two directions of a
//! connection may arrive on ports that different workers poll); each worker
//! holds a [`Conntrack`] handle to it, which the `ct` action calls. Lookups
//! and updates take no lock (see [`table`]). The control thread calls
//! [`ConnTable::sweep`] periodically (as it sweeps MAC tables), lists
//! connections with [`ConnTable::dump`] and empties the table with
//! [`ConnTable::flush`].
//!
//! What is tracked: TCP (a state machine with sequence window checks, see
//! [`tcp`]), UDP, and ICMP/ICMPv6 echo by identifier, over IPv4 and IPv6,
//! each in a 16-bit zone. ICMP errors (destination unreachable, time
//! exceeded, parameter problem; ICMPv6's errors) are RELATED to the
//! connection of the packet they quote and change nothing. IPv4
//! fragments are held until their datagram is whole, which is then
//! tracked once and its translation applied to every fragment ([`frag`]).
//! IPv6 fragments, other protocols and other ICMP messages are INVALID.
//!
//! The state bits follow Open vSwitch (`ct_state`): every tracked frame
//! gets TRACKED; a frame of a connection not in the table, or in the
//! original direction of one that has not seen a reply yet, is NEW (and a
//! SYN is always NEW: a retransmitted SYN never looks established); once
//! a reply was seen, frames are ESTABLISHED; REPLY marks the reply
//! direction; INVALID replaces NEW and ESTABLISHED for a frame that does
//! not fit (it changes nothing). A NEW frame creates an entry only with
//! `commit`, as `ct(commit)` does.
//!
//! When the table is full, a new connection first evicts, from the two
//! buckets its tuple hashes to, an expired entry or else the least
//! recently seen one in an early state (no reply yet, TCP handshake not
//! complete, or closing); if there is none the frame is dropped and
//! counted as `ct_table_full`. Connections already tracked keep working.

mod entry;
pub mod frag;
pub mod nat;
mod packet;
pub mod table;
pub mod tcp;
mod track;

use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use nat::{NatRequest, Snat, Translation};
pub use packet::Tuple;
pub use table::ConnTable;
pub use tcp::{TcpState, Window};
pub use track::Verdict;

use crate::burst::MAX_BURST;
use crate::context::{ChecksumState, CtMeta, PacketCtx};
use crate::egress::{ConnTracker, Tracked};
use crate::flow::IpFrag;
use crate::wire::{ethernet, ip_proto};
use crate::DropReason;
use frag::{FragDrop, FragHeld, FragTable, Reassembled};
use table::State;

macro_rules! invalid_reasons {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, )+) => {
        /// Why the tracker found a frame INVALID.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum InvalidReason {
            $( $(#[$doc])* $variant, )+
        }

        impl InvalidReason {
            /// Every reason, in declaration order (the order of `as usize`).
            pub const ALL: &'static [InvalidReason] = &[ $( InvalidReason::$variant, )+ ];
            /// How many reasons there are.
            pub const COUNT: usize = Self::ALL.len();

            /// The stable snake_case name statistics print.
            pub const fn name(self) -> &'static str {
                match self { $( InvalidReason::$variant => $name, )+ }
            }
        }
    };
}

invalid_reasons! {
    /// Not an IPv4 or IPv6 packet.
    NotIp = "not_ip",
    /// An IP fragment judged alone: an IPv6 fragment (not reassembled),
    /// or an IPv4 fragment probed by a trace.
    Fragment = "fragment",
    /// A protocol the tracker does not follow.
    UnsupportedProtocol = "unsupported_protocol",
    /// A TCP segment with a combination of control bits no valid segment
    /// has (SYN with FIN, FIN without ACK, none at all).
    TcpBadFlags = "tcp_bad_flags",
    /// A TCP segment of no tracked connection that is not a SYN.
    TcpNoSyn = "tcp_no_syn",
    /// A TCP segment its connection's state does not expect (a SYN-ACK
    /// from the original end, a SYN on an established connection).
    TcpUnexpected = "tcp_unexpected",
    /// A TCP segment outside the sequence window.
    TcpOutOfWindow = "tcp_out_of_window",
    /// A TCP acknowledgment of data never sent, or older than a window.
    TcpBadAck = "tcp_bad_ack",
    /// A TCP reset outside the window (or, in SYN_SENT, not acknowledging
    /// the SYN).
    TcpRstOutOfWindow = "tcp_rst_out_of_window",
    /// An ICMP message shorter than its 8-byte header.
    IcmpTruncated = "icmp_truncated",
    /// An ICMP message that is neither echo nor an error about a packet.
    IcmpUntracked = "icmp_untracked",
    /// An echo reply of no tracked echo, or an echo in the wrong direction.
    IcmpUnexpected = "icmp_unexpected",
    /// An ICMP error whose quoted packet is cut short or not trackable.
    IcmpBadQuote = "icmp_bad_quote",
    /// An ICMP error quoting a packet of no tracked connection.
    IcmpUnrelated = "icmp_unrelated",
}

/// How long a connection lives without traffic, in seconds, by protocol
/// and state.
///
/// The defaults are Linux's nf_conntrack defaults (sysctl
/// `net.netfilter.nf_conntrack_*_timeout_*`) except two. TCP established
/// is 7440 s (2 h 4 min) instead of Linux's 432000 s (5 days): a switch
/// with a bounded table should not keep dead connections for days, and
/// RFC 5382 REQ-5 ("The value of the 'established connection idle-timeout'
/// MUST NOT be less than 2 hours 4 minutes") sets the floor for the NAT
/// built on this; it outlasts the 2-hour TCP keepalive (Linux's
/// `tcp_keepalive_time` 7200 s), so idle connections with keepalive
/// survive. ICMP echo is 60 s instead of 30 s: RFC 5508 REQ-1 ("ICMP
/// Query Mapping Timeout ... MUST NOT expire in less than 60 seconds").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// SYN_SENT and SYN_SENT2 (Linux `tcp_timeout_syn_sent` 120).
    pub tcp_syn_sent: u32,
    /// SYN_RECV (Linux `tcp_timeout_syn_recv` 60).
    pub tcp_syn_recv: u32,
    /// ESTABLISHED (Linux 432000; here 7440, see above).
    pub tcp_established: u32,
    /// FIN_WAIT (Linux `tcp_timeout_fin_wait` 120).
    pub tcp_fin_wait: u32,
    /// LAST_ACK (Linux `tcp_timeout_last_ack` 30).
    pub tcp_last_ack: u32,
    /// TIME_WAIT (Linux `tcp_timeout_time_wait` 120).
    pub tcp_time_wait: u32,
    /// CLOSE (Linux `tcp_timeout_close` 10).
    pub tcp_close: u32,
    /// UDP before a reply (Linux `udp_timeout` 30).
    pub udp_unreplied: u32,
    /// UDP once replied (Linux `udp_timeout_stream` 120; RFC 4787 REQ-5
    /// asks at least 120 for NAT).
    pub udp_replied: u32,
    /// ICMP echo (Linux `icmp_timeout` 30; here 60, see above).
    pub icmp: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_syn_sent: 120,
            tcp_syn_recv: 60,
            tcp_established: 7440,
            tcp_fin_wait: 120,
            tcp_last_ack: 30,
            tcp_time_wait: 120,
            tcp_close: 10,
            udp_unreplied: 30,
            udp_replied: 120,
            icmp: 60,
        }
    }
}

impl Timeouts {
    fn timeout(&self, proto: u8, state: State) -> u32 {
        match proto {
            ip_proto::TCP => match TcpState::from_u8(state.tcp) {
                Some(TcpState::SynSent | TcpState::SynSent2) | None => self.tcp_syn_sent,
                Some(TcpState::SynRecv) => self.tcp_syn_recv,
                Some(TcpState::Established) => self.tcp_established,
                Some(TcpState::FinWait) => self.tcp_fin_wait,
                Some(TcpState::LastAck) => self.tcp_last_ack,
                Some(TcpState::TimeWait) => self.tcp_time_wait,
                Some(TcpState::Close) => self.tcp_close,
            },
            ip_proto::UDP if state.reply_seen => self.udp_replied,
            ip_proto::UDP => self.udp_unreplied,
            _ => self.icmp,
        }
    }

    /// True when a connection in `state` has been idle past its timeout.
    /// Signed: a worker whose clock reads a second behind the one that
    /// last saw the connection sees it idle for -1 s, not for 136 years.
    pub(crate) fn expired(&self, proto: u8, state: State, now: u32) -> bool {
        let timeout = self.timeout(proto, state).min(i32::MAX as u32) as i32;
        now.wrapping_sub(state.last_seen) as i32 > timeout
    }
}

/// The protocol byte of a packed tuple's first word.
pub(crate) fn proto_of(first_word: u64) -> u8 {
    (first_word >> 40) as u8
}

/// A connection the full-table policy may evict: no reply seen, or a TCP
/// connection not established or already closing.
pub(crate) fn early(proto: u8, state: State) -> bool {
    !state.reply_seen
        || (proto == ip_proto::TCP && TcpState::from_u8(state.tcp) != Some(TcpState::Established))
}

/// The table's size and timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConntrackConfig {
    /// The most connections tracked at once; all their memory is
    /// allocated when the table is made.
    pub limit: u32,
    /// Idle timeouts.
    pub timeouts: Timeouts,
    /// Keys the hash, so that an attacker cannot aim connections at one
    /// bucket.
    pub seed: u64,
}

impl Default for ConntrackConfig {
    fn default() -> Self {
        ConntrackConfig {
            limit: 65_536,
            timeouts: Timeouts::default(),
            seed: 0x5eed_c0ff_ee15_600d,
        }
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    created: AtomicU64,
    expired: AtomicU64,
    evicted: AtomicU64,
    table_full: AtomicU64,
    pub(crate) nat_ports_exhausted: AtomicU64,
    invalid: [AtomicU64; InvalidReason::COUNT],
}

/// A snapshot of the tracker's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConntrackCounters {
    /// Connections tracked now.
    pub entries: u32,
    /// Connections created (committed).
    pub created: u64,
    /// Connections removed after their timeout (by the sweep, by a lookup
    /// that found them expired, or to make room).
    pub expired: u64,
    /// Connections in an early state removed to make room for a new one.
    pub evicted: u64,
    /// New connections dropped because the table was full
    /// (`ct_table_full`).
    pub table_full: u64,
    /// New translated connections dropped because no port of their range
    /// was free (`nat_ports_exhausted`).
    pub nat_ports_exhausted: u64,
    /// INVALID frames, per [`InvalidReason`] (`as usize`).
    pub invalid: [u64; InvalidReason::COUNT],
}

impl ConntrackCounters {
    /// INVALID frames counted for `reason`.
    pub fn invalid(&self, reason: InvalidReason) -> u64 {
        self.invalid[reason as usize]
    }
}

/// A tracked connection, as [`ConnTable::dump`] lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    /// The tuple of the first packet.
    pub original: Tuple,
    /// The tuple replies carry.
    pub reply: Tuple,
    /// The TCP state (None for UDP and ICMP).
    pub tcp_state: Option<TcpState>,
    /// A packet in the reply direction was seen.
    pub reply_seen: bool,
    /// Seconds since it was created.
    pub age: u32,
    /// Seconds until it expires without traffic.
    pub expires_in: u32,
    /// TCP windows of the original and reply ends (zero for others).
    pub windows: [Window; 2],
}

impl ConnTable {
    /// A table per `config`, all its memory allocated now.
    pub fn with_config(config: ConntrackConfig) -> ConnTable {
        ConnTable::new(config.limit, config.timeouts, config.seed)
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> ConntrackCounters {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ConntrackCounters {
            entries: self.len(),
            created: get(&c.created),
            expired: get(&c.expired),
            evicted: get(&c.evicted),
            table_full: get(&c.table_full),
            nat_ports_exhausted: get(&c.nat_ports_exhausted),
            invalid: core::array::from_fn(|i| get(&c.invalid[i])),
        }
    }

    /// The timeouts in force.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Removes connections idle past their timeout at `now` (seconds) and
    /// returns how many: called periodically by the control thread.
    /// Lookups already treat expired connections as gone (and remove
    /// them), so a late sweep only delays reclaiming their entries.
    pub fn sweep(&self, now: u32) -> usize {
        let timeouts = self.timeouts;
        let removed = self.remove_where(|tuple, state| timeouts.expired(tuple.proto, state, now));
        self.counters
            .expired
            .fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Removes every connection (of `zone` only, when given) and returns
    /// how many: a future `conntrack/flush`.
    pub fn flush(&self, zone: Option<u16>) -> usize {
        self.remove_where(|tuple, _| zone.is_none_or(|z| z == tuple.zone))
    }

    /// The live, unexpired connections at `now`, in table order, read one
    /// at a time (a connection created or removed during the walk may or
    /// may not be listed): a future `conntrack/show`.
    pub fn dump(&self, now: u32) -> impl Iterator<Item = ConnInfo> + '_ {
        (0..self.touched()).filter_map(move |index| {
            let (original, reply, state, windows, created) = self.snapshot(index)?;
            let timeout = self.timeouts.timeout(original.proto, state);
            let idle = now.wrapping_sub(state.last_seen);
            if self.timeouts.expired(original.proto, state, now) {
                return None;
            }
            Some(ConnInfo {
                original,
                reply,
                tcp_state: TcpState::from_u8(state.tcp),
                reply_seen: state.reply_seen,
                age: now.wrapping_sub(created),
                expires_in: timeout.saturating_sub(idle),
                windows,
            })
        })
    }
}

/// IPv4 datagrams a worker reassembles at once (about 70 KiB each, all
/// allocated with its handle).
pub const FRAG_DATAGRAMS: usize = 32;

/// Seconds a partial datagram is kept (Linux's `ipfrag_time`).
pub const FRAG_TIMEOUT: u32 = 30;

/// A worker's handle on the shared table: what [`crate::BurstRunner`]'s
/// `ct` action calls. It holds the worker's own IPv4 fragments in
/// progress ([`frag`]).
pub struct Conntrack {
    table: Arc<ConnTable>,
    frags: FragTable,
}

impl Clone for Conntrack {
    /// Another handle on the same table, with fragment buffers of its own.
    fn clone(&self) -> Conntrack {
        Conntrack::new(Arc::clone(&self.table))
    }
}

impl Conntrack {
    /// A handle on `table`.
    pub fn new(table: Arc<ConnTable>) -> Conntrack {
        Conntrack {
            table,
            frags: FragTable::new(FRAG_DATAGRAMS, FRAG_TIMEOUT),
        }
    }

    /// Holds the IPv4 fragment of `ctx`; once its datagram is whole,
    /// tracks it by its first fragment (which holds the L4 header) and
    /// gives every fragment the same translation.
    fn hold(
        &mut self,
        frame: &[u8],
        ctx: &PacketCtx,
        zone: u16,
        commit: bool,
        nat: NatRequest,
        now: u32,
    ) -> Result<Tracked, DropReason> {
        self.frags.expire(now);
        let current = frame.get(ctx.offset as usize..).unwrap_or_default();
        let l3 = usize::from(ctx.parsed.layout.l3);
        let slot = match self
            .frags
            .insert(current, l3, zone, ctx.in_port, now)
            .map_err(FragDrop::reason)?
        {
            FragHeld::Waiting => return Ok(Tracked::Held),
            FragHeld::Complete(slot) => slot,
        };
        let mut verdict = frag::Verdict {
            in_port: ctx.in_port,
            timestamp_ns: ctx.timestamp_ns,
            ct: CtMeta {
                zone,
                ..CtMeta::default()
            },
            dropped: None,
        };
        for (first, _, offset) in self.frags.fragments_mut(slot) {
            if offset != 0 {
                continue;
            }
            match crate::parse::parse(first) {
                Ok(mut parsed) => {
                    // The first fragment stands for its whole datagram.
                    parsed.key.ip_frag = IpFrag::None;
                    // Held fragments have complete checksums: the ct
                    // action settles a partial one before tracking.
                    let complete = ChecksumState::Complete;
                    let (judged, translation) = self
                        .table
                        .track_nat(first, &parsed, complete, zone, commit, nat, now, false);
                    verdict.ct.state = judged.state;
                    verdict.ct.nat = translation;
                    verdict.dropped = judged.result.err();
                }
                Err(reason) => verdict.dropped = Some(reason),
            }
        }
        if let Some(translation) = verdict.ct.nat {
            for (later, l3, offset) in self.frags.fragments_mut(slot) {
                if offset != 0 {
                    nat::rewrite_addresses(later, l3, &translation);
                }
            }
        }
        self.frags.set_verdict(slot, verdict);
        Ok(Tracked::Held)
    }

    /// The table.
    pub fn table(&self) -> &Arc<ConnTable> {
        &self.table
    }
}

impl ConnTracker for Conntrack {
    fn track(
        &mut self,
        frame: &mut [u8],
        ctx: &mut PacketCtx,
        zone: u16,
        commit: bool,
        nat: NatRequest,
        now: u32,
    ) -> Result<Tracked, DropReason> {
        // Probes (`vsctl trace`) hold nothing: a probed fragment is
        // INVALID, as the tracker cannot judge a fragment alone.
        let key = &ctx.parsed.key;
        if key.ip_frag != IpFrag::None && key.ethertype == ethernet::ethertype::IPV4 && !ctx.probe {
            return self.hold(frame, ctx, zone, commit, nat, now);
        }
        let current = frame.get_mut(ctx.offset as usize..).unwrap_or_default();
        // Only super-frames come here with a partial checksum: the ct
        // action completes the others first (`settle_in_place`).
        let checksum = ctx.offload.checksum;
        let (verdict, translation) = self.table.track_nat(
            current,
            &ctx.parsed,
            checksum,
            zone,
            commit,
            nat,
            now,
            ctx.probe,
        );
        ctx.ct.zone = zone;
        ctx.ct.state = verdict.state;
        ctx.ct.nat = translation;
        verdict.result.map(|()| Tracked::Recirculate)
    }

    fn has_reassembled(&self) -> bool {
        self.frags.has_reassembled()
    }

    fn warms(&self) -> bool {
        self.table.worth_warming()
    }

    fn warm(&self, frames: &[&mut [u8]], ctxs: &[PacketCtx], zones: &[Option<u16>; MAX_BURST]) {
        let current = frames.iter().zip(ctxs).map(|(frame, ctx)| {
            let current = frame.get(ctx.offset as usize..).unwrap_or_default();
            (current, &ctx.parsed)
        });
        self.table.warm_frames(current, zones);
    }

    fn reassembled(&mut self) -> Option<Reassembled<'_>> {
        self.frags.take_reassembled()
    }
}

#[cfg(test)]
pub(crate) mod tests;
