//! IPv4 fragments held until their datagram is whole, so that the tracker
//! sees the datagram once (its L4 header is in the first fragment) and the
//! same translation can be applied to every fragment before they are sent
//! on, in the order they arrived: the policy of Linux (defrag before
//! conntrack) and of Open vSwitch's userspace datapath (`lib/ipf.c`).
//!
//! A [`FragTable`] belongs to one worker (fragments are rare; no lock, no
//! sharing) and allocates all its memory when made: `datagrams` slots,
//! each with room for a datagram of 65,535 bytes cut into up to
//! [`MAX_FRAGMENTS`] frames. Fragments may arrive in any order. What is
//! refused, with the reason counted by the caller:
//!
//! - a fragment that overlaps one already held (RFC 5722 forbids it for
//!   IPv6; for IPv4 it is treated as the attack it usually is, as many
//!   firewalls do): the whole datagram is dropped ([`FragDrop::Overlap`]);
//! - a fragment that would make the datagram longer than 65,535 bytes, or
//!   cut into more than [`MAX_FRAGMENTS`] pieces ([`FragDrop::TooBig`]);
//! - a new datagram when every slot holds one that has not timed out
//!   ([`FragDrop::TableFull`]);
//! - a fragment whose lengths make no sense: a non-last fragment not a
//!   multiple of 8 bytes, or a last fragment that disagrees with one seen
//!   before ([`FragDrop::Malformed`]).
//!
//! An exact copy of a fragment already held is dropped alone
//! ([`FragDrop::Duplicate`]); the datagram goes on. A datagram not whole
//! within the timeout (30 s by default, as Linux's `ipfrag_time`; RFC 791
//! suggests 15 s) is dropped by [`FragTable::expire`] and counted as
//! `frag_timeout` by the caller.

use crate::context::CtMeta;
use crate::drop::DropReason;
use crate::mac_table::PortId;
use crate::wire::{ipv4, read_array, read_u16, read_u8};

/// The most fragments one datagram may be cut into (a 65,535-byte
/// datagram in 64 pieces is about 1 KiB a piece).
pub const MAX_FRAGMENTS: usize = 64;

/// The largest IPv4 datagram (RFC 791: the Total Length field is 16 bits).
const MAX_DATAGRAM: usize = 65_535;

/// Room for the headers each held frame carries ahead of its fragment's
/// payload: Ethernet with two VLAN tags and an IPv4 header with options.
const MAX_FRAME_HEADERS: usize = 14 + 8 + 60;

/// The bytes one slot holds: the largest datagram's payload and the
/// headers of its most fragments.
const SLOT_BYTES: usize = MAX_DATAGRAM + MAX_FRAGMENTS * MAX_FRAME_HEADERS;

/// Why a fragment was not held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragDrop {
    /// It overlaps a fragment of the same datagram; the datagram is gone.
    Overlap,
    /// The datagram would exceed 65,535 bytes or [`MAX_FRAGMENTS`].
    TooBig,
    /// Every slot holds a datagram in progress.
    TableFull,
    /// Its lengths or offsets contradict the datagram's.
    Malformed,
    /// An exact copy of a fragment already held.
    Duplicate,
}

impl FragDrop {
    /// The drop reason statistics count it under.
    pub fn reason(self) -> DropReason {
        match self {
            FragDrop::Overlap => DropReason::FragOverlap,
            FragDrop::TooBig => DropReason::FragTooBig,
            FragDrop::TableFull => DropReason::FragTableFull,
            FragDrop::Malformed => DropReason::FragMalformed,
            FragDrop::Duplicate => DropReason::FragDuplicate,
        }
    }
}

/// What became of a fragment that was held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragHeld {
    /// The datagram still misses fragments.
    Waiting,
    /// The datagram is whole: read it with [`FragTable::fragments`] and
    /// free the slot with [`FragTable::release`].
    Complete(usize),
}

/// The datagram a fragment belongs to (RFC 791: source, destination,
/// protocol and identification), in a conntrack zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct DatagramKey {
    zone: u16,
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    ident: u16,
}

/// One held fragment: where its frame is in the slot's store and which
/// payload bytes of the datagram it carries.
#[derive(Debug, Clone, Copy, Default)]
struct Piece {
    frame_at: u32,
    frame_len: u32,
    /// The frame's IPv4 header offset.
    l3: u16,
    start: u32,
    end: u32,
}

/// What the tracker made of a whole datagram, for its fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The port the fragments came in by.
    pub in_port: PortId,
    /// When the fragment that completed the datagram was received (ns):
    /// the time the fragments are sent with.
    pub timestamp_ns: u64,
    /// The datagram's ct state and translation, which every fragment
    /// carries.
    pub ct: CtMeta,
    /// Why the datagram is dropped, if it is (a full conntrack table).
    pub dropped: Option<DropReason>,
}

/// A whole datagram handed back to be sent on: its fragments, in the
/// order they arrived, already translated.
pub struct Reassembled<'a> {
    /// What the tracker said.
    pub verdict: Verdict,
    /// The fragments' frames; the first `count` are used.
    pub frames: [&'a mut [u8]; MAX_FRAGMENTS],
    /// How many fragments.
    pub count: usize,
}

struct Slot {
    in_use: bool,
    /// Set once the datagram is whole and tracked, until it is sent.
    verdict: Option<Verdict>,
    key: DatagramKey,
    in_port: PortId,
    since: u32,
    /// The datagram's payload length, known once the last fragment came.
    total: Option<u32>,
    /// Payload bytes held (pieces never overlap, so this is their sum).
    covered: u32,
    store_used: usize,
    pieces: [Piece; MAX_FRAGMENTS],
    count: usize,
    store: Box<[u8]>,
}

/// One held fragment as [`FragTable::fragments`] lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// The whole frame as received.
    pub frame: &'a [u8],
    /// Its IPv4 header's offset in `frame`.
    pub l3: usize,
    /// The payload offset in the datagram, in bytes.
    pub offset: u32,
}

/// A worker's fragments in progress.
pub struct FragTable {
    slots: Vec<Slot>,
    timeout: u32,
    /// Slots with a verdict, not yet handed back: zero is the common
    /// case, which [`FragTable::has_reassembled`] answers at once.
    handed: usize,
}

/// The facts of a fragment's IPv4 header.
struct Header {
    key: DatagramKey,
    /// The frame's bytes ahead of the payload.
    headers: usize,
    start: u32,
    end: u32,
    more: bool,
}

fn read_header(frame: &[u8], l3: usize, zone: u16) -> Result<Header, FragDrop> {
    let ip = frame.get(l3..).ok_or(FragDrop::Malformed)?;
    let header_len = usize::from(read_u8(ip, 0) & 0x0f) * 4;
    let total_len = usize::from(read_u16(ip, ipv4::field::LENGTH.start));
    if read_u8(ip, 0) >> 4 != ipv4::VERSION
        || header_len < ipv4::HEADER_LEN
        || total_len < header_len
        || total_len > ip.len()
    {
        return Err(FragDrop::Malformed);
    }
    let flags_offset = read_u16(ip, ipv4::field::FLAGS_FRAG_OFFSET.start);
    let more = flags_offset & ipv4::FLAG_MORE_FRAGMENTS != 0;
    let start = u32::from(flags_offset & ipv4::FRAG_OFFSET_MASK) * 8;
    let end = start + (total_len - header_len) as u32;
    if end as usize + header_len > MAX_DATAGRAM {
        return Err(FragDrop::TooBig);
    }
    // RFC 791: every fragment but the last carries a multiple of 8 bytes;
    // an empty fragment carries nothing to reassemble.
    if end == start || (more && !(end - start).is_multiple_of(8)) {
        return Err(FragDrop::Malformed);
    }
    let key = DatagramKey {
        zone,
        src: read_array(ip, ipv4::field::SRC_ADDR.start),
        dst: read_array(ip, ipv4::field::DST_ADDR.start),
        proto: read_u8(ip, ipv4::field::PROTOCOL),
        ident: read_u16(ip, ipv4::field::IDENT.start),
    };
    Ok(Header {
        key,
        headers: l3 + header_len,
        start,
        end,
        more,
    })
}

impl FragTable {
    /// A table of `datagrams` slots (at least one) whose partial
    /// datagrams expire after `timeout` seconds; all memory allocated now
    /// (about 70 KiB a slot).
    pub fn new(datagrams: usize, timeout: u32) -> FragTable {
        let slots = (0..datagrams.max(1))
            .map(|_| Slot {
                in_use: false,
                verdict: None,
                key: DatagramKey::default(),
                in_port: 0,
                since: 0,
                total: None,
                covered: 0,
                store_used: 0,
                pieces: [Piece::default(); MAX_FRAGMENTS],
                count: 0,
                store: vec![0u8; SLOT_BYTES].into_boxed_slice(),
            })
            .collect();
        FragTable {
            slots,
            timeout,
            handed: 0,
        }
    }

    /// Datagrams in progress (not yet whole).
    pub fn in_progress(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.in_use && s.verdict.is_none())
            .count()
    }

    /// Holds the IPv4 fragment `frame` (its IPv4 header at `l3`) of
    /// `zone`, received by `in_port` at `now` (seconds). A datagram that
    /// times out is not reclaimed here; the caller runs
    /// [`FragTable::expire`] first. A fragment that drops its datagram
    /// leaves the fragments held before to [`FragTable::take_reassembled`],
    /// marked dropped, so that each is counted.
    pub fn insert(
        &mut self,
        frame: &[u8],
        l3: usize,
        zone: u16,
        in_port: PortId,
        now: u32,
    ) -> Result<FragHeld, FragDrop> {
        let header = read_header(frame, l3, zone)?;
        let index = match self
            .slots
            .iter()
            .position(|s| s.in_use && s.verdict.is_none() && s.key == header.key)
        {
            Some(index) => index,
            None => {
                let index = self
                    .slots
                    .iter()
                    .position(|s| !s.in_use)
                    .ok_or(FragDrop::TableFull)?;
                let slot = &mut self.slots[index];
                slot.in_use = true;
                slot.verdict = None;
                slot.key = header.key;
                slot.in_port = in_port;
                slot.since = now;
                slot.total = None;
                slot.covered = 0;
                slot.store_used = 0;
                slot.count = 0;
                index
            }
        };
        let outcome = self.slots[index].add(frame, l3, &header);
        match outcome {
            Err(FragDrop::Duplicate) => Err(FragDrop::Duplicate),
            Err(reason) => {
                self.handed += self.slots[index].drop_all(reason.reason());
                Err(reason)
            }
            Ok(true) => Ok(FragHeld::Complete(index)),
            Ok(false) => Ok(FragHeld::Waiting),
        }
    }

    /// The fragments of the whole datagram in `slot` (from
    /// [`FragHeld::Complete`]), in the order they arrived.
    pub fn fragments(&self, slot: usize) -> impl Iterator<Item = Fragment<'_>> + '_ {
        let slot = self.slots.get(slot).filter(|s| s.in_use);
        slot.into_iter().flat_map(|s| {
            s.pieces[..s.count].iter().map(|p| Fragment {
                frame: &s.store[p.frame_at as usize..(p.frame_at + p.frame_len) as usize],
                l3: usize::from(p.l3),
                offset: p.start,
            })
        })
    }

    /// Frees `slot` once its fragments were sent.
    pub fn release(&mut self, slot: usize) {
        if let Some(s) = self.slots.get_mut(slot) {
            s.in_use = false;
        }
    }

    /// The frames of the whole datagram in `slot`, in arrival order, to
    /// translate in place: (frame, its IPv4 header offset, the payload
    /// offset in the datagram).
    pub(crate) fn fragments_mut(
        &mut self,
        slot: usize,
    ) -> impl Iterator<Item = (&mut [u8], usize, u32)> + '_ {
        let slot = self.slots.get_mut(slot).filter(|s| s.in_use);
        slot.into_iter().flat_map(|s| {
            let mut rest: &mut [u8] = &mut s.store[..s.store_used];
            s.pieces[..s.count].iter().map(move |p| {
                let (frame, after) = core::mem::take(&mut rest).split_at_mut(p.frame_len as usize);
                rest = after;
                (frame, usize::from(p.l3), p.start)
            })
        })
    }

    /// Marks the whole datagram in `slot` tracked, to be sent on by
    /// [`FragTable::take_reassembled`].
    pub(crate) fn set_verdict(&mut self, slot: usize, verdict: Verdict) {
        if let Some(s) = self.slots.get_mut(slot).filter(|s| s.in_use) {
            self.handed += usize::from(s.verdict.is_none());
            s.verdict = Some(verdict);
        }
    }

    /// True when [`FragTable::take_reassembled`] has a datagram to give.
    #[inline(always)]
    pub fn has_reassembled(&self) -> bool {
        self.handed != 0
    }

    /// A tracked datagram to send on, its slot freed (the frames stay
    /// valid while borrowed: nothing can be held meanwhile).
    pub fn take_reassembled(&mut self) -> Option<Reassembled<'_>> {
        if self.handed == 0 {
            return None;
        }
        let s = self
            .slots
            .iter_mut()
            .find(|s| s.in_use && s.verdict.is_some())?;
        s.in_use = false;
        self.handed -= 1;
        let verdict = s.verdict.take()?;
        let mut frames: [&mut [u8]; MAX_FRAGMENTS] = core::array::from_fn(|_| &mut [][..]);
        let mut rest: &mut [u8] = &mut s.store[..s.store_used];
        for (piece, frame) in s.pieces[..s.count].iter().zip(frames.iter_mut()) {
            let (this, after) = core::mem::take(&mut rest).split_at_mut(piece.frame_len as usize);
            *frame = this;
            rest = after;
        }
        Some(Reassembled {
            verdict,
            frames,
            count: s.count,
        })
    }

    /// Drops the partial datagrams older than the timeout at `now` and
    /// returns how many fragments they held (each counted `frag_timeout`).
    /// Signed, as the tracker's timeouts: a clock a second behind is not
    /// 136 years ahead.
    pub fn expire(&mut self, now: u32) -> usize {
        let timeout = self.timeout.min(i32::MAX as u32) as i32;
        let mut expired = 0;
        for slot in self
            .slots
            .iter_mut()
            .filter(|s| s.in_use && s.verdict.is_none())
        {
            if now.wrapping_sub(slot.since) as i32 > timeout {
                expired += slot.count;
                self.handed += slot.drop_all(DropReason::FragTimeout);
            }
        }
        expired
    }
}

impl Slot {
    /// Gives up the datagram: its held fragments are handed back to be
    /// counted as dropped for `reason` (returns 1), an empty slot is just
    /// freed (returns 0).
    fn drop_all(&mut self, reason: DropReason) -> usize {
        if self.count == 0 {
            self.in_use = false;
            return 0;
        }
        self.verdict = Some(Verdict {
            in_port: self.in_port,
            timestamp_ns: 0,
            ct: CtMeta::default(),
            dropped: Some(reason),
        });
        1
    }

    /// Adds the fragment; true when the datagram is now whole.
    fn add(&mut self, frame: &[u8], l3: usize, header: &Header) -> Result<bool, FragDrop> {
        let (start, end) = (header.start, header.end);
        for piece in &self.pieces[..self.count] {
            if piece.start == start && piece.end == end {
                return Err(FragDrop::Duplicate);
            }
            if start < piece.end && piece.start < end {
                return Err(FragDrop::Overlap);
            }
        }
        if !header.more {
            if self.total.is_some_and(|total| total != end) {
                return Err(FragDrop::Malformed);
            }
            self.total = Some(end);
        }
        let past_end = |e: u32| self.total.is_some_and(|total| e > total);
        if past_end(end) || self.pieces[..self.count].iter().any(|p| past_end(p.end)) {
            return Err(FragDrop::Malformed);
        }
        if self.count == MAX_FRAGMENTS || header.headers > MAX_FRAME_HEADERS {
            return Err(FragDrop::TooBig);
        }
        let ip_len = usize::from(read_u16(frame, l3 + ipv4::field::LENGTH.start));
        let frame = &frame[..l3 + ip_len];
        let at = self.store_used;
        let room = self
            .store
            .get_mut(at..at + frame.len())
            .ok_or(FragDrop::TooBig)?;
        room.copy_from_slice(frame);
        self.store_used += frame.len();
        self.pieces[self.count] = Piece {
            frame_at: at as u32,
            frame_len: frame.len() as u32,
            l3: l3 as u16,
            start,
            end,
        };
        self.count += 1;
        self.covered += end - start;
        Ok(self.total == Some(self.covered))
    }
}
