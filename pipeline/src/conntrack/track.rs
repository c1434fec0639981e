//! One frame through the tracker: look its connection up, check the frame
//! against the connection's state, update the state, create the
//! connection on commit.

use std::hint::black_box;

use super::nat::NatRequest;
use super::packet::{self, Kind, Segment, Tuple};
use super::table::{bump, ConnTable, Found, InsertError, Key, State};
use super::tcp::{self, Dir, Step, TcpConn, Window};
use super::InvalidReason;
use crate::burst::MAX_BURST;
use crate::context::ct_state;
use crate::flow::Parsed;
use crate::wire::tcp::flags;
use crate::DropReason;

/// Compare-and-swap rounds a frame retries when other workers keep
/// changing its connection; past them it is judged on the state it read
/// last, without updating it.
const UPDATE_TRIES: usize = 8;

/// What the tracker said of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// [`ct_state`] bits.
    pub state: u8,
    /// `Err` when the frame must be dropped (`ct_table_full`).
    pub result: Result<(), DropReason>,
}

impl Default for Verdict {
    /// Not tracked yet: no bits, not dropped (a buffer to fill).
    fn default() -> Self {
        Verdict {
            state: 0,
            result: Ok(()),
        }
    }
}

impl Verdict {
    fn of(state: u8) -> Verdict {
        Verdict {
            state: ct_state::TRACKED | state,
            result: Ok(()),
        }
    }
}

/// What an update of a found connection came to.
enum Outcome {
    Bits(u8),
    Invalid(InvalidReason),
    /// A SYN reopening a closed TCP connection: treat as not found.
    Reopen,
    /// The state changed under us: look again.
    Retry,
}

impl ConnTable {
    /// Tracks the IP frame `frame`, parsed as `parsed`, in `zone` at `now`:
    /// creates its connection if it is NEW and `commit` is set. A `probe`
    /// is judged the same way but changes nothing and counts nothing.
    pub fn track(
        &self,
        frame: &[u8],
        parsed: &Parsed,
        zone: u16,
        commit: bool,
        now: u32,
        probe: bool,
    ) -> Verdict {
        match packet::read(frame, parsed, zone) {
            Ok((tuple, kind)) => {
                self.judge(
                    &tuple,
                    &self.key(&tuple),
                    kind,
                    commit,
                    now,
                    probe,
                    &NatRequest::None,
                )
                .0
            }
            Err(reason) => self.invalid(reason, probe),
        }
    }

    /// [`ConnTable::track`] for a burst of frames (at most
    /// [`MAX_BURST`]; `out[k]` is the verdict on `frames[k]`), faster than
    /// one call per frame on a table larger than the caches: every frame's
    /// bucket is read, then every entry those buckets point to, before any
    /// frame is judged, so that the cache misses of the burst overlap
    /// instead of following one another (as the flow cache's lookups do).
    /// Frames past the first [`MAX_BURST`] are not judged.
    #[allow(clippy::too_many_arguments)]
    pub fn track_burst(
        &self,
        frames: &[&[u8]],
        parsed: &[Parsed],
        zone: u16,
        commit: bool,
        now: u32,
        probe: bool,
        out: &mut [Verdict],
    ) {
        let mut read = [Err(InvalidReason::NotIp); MAX_BURST];
        for ((slot, frame), parsed) in read.iter_mut().zip(frames).zip(parsed) {
            *slot = packet::read(frame, parsed, zone)
                .map(|(tuple, kind)| (tuple, kind, self.key(&tuple)));
        }
        let keys: [Option<Key>; MAX_BURST] =
            core::array::from_fn(|k| read[k].as_ref().ok().map(|(_, _, key)| *key));
        if self.worth_warming() {
            black_box(self.warm(&keys));
        }
        let judged = read.iter().zip(out.iter_mut());
        for (slot, verdict) in judged.take(frames.len().min(parsed.len())) {
            *verdict = match slot {
                Ok((tuple, kind, key)) => {
                    self.judge(tuple, key, *kind, commit, now, probe, &NatRequest::None)
                        .0
                }
                Err(reason) => self.invalid(*reason, probe),
            };
        }
    }

    /// Warms the table for frames about to be tracked: `zones[k]` is the
    /// zone frame `k` (`frames[k]`, parsed as `parsed[k]`) meets the
    /// tracker in, if it does. Only the caches change.
    pub(crate) fn warm_frames<'a>(
        &self,
        frames: impl Iterator<Item = (&'a [u8], &'a Parsed)>,
        zones: &[Option<u16>; MAX_BURST],
    ) {
        let mut keys: [Option<Key>; MAX_BURST] = [None; MAX_BURST];
        for ((key, (frame, parsed)), zone) in keys.iter_mut().zip(frames).zip(zones) {
            if let Some(zone) = *zone {
                *key = packet::read(frame, parsed, zone)
                    .ok()
                    .map(|(tuple, _)| self.key(&tuple));
            }
        }
        black_box(self.warm(&keys));
    }

    /// Judges one frame of `tuple`; a new connection committed with
    /// `nat` gets its addresses translated as [`NatRequest::for_new`] says
    /// (see [`super::nat`]). Returns
    /// with the verdict the live connection the frame belongs to when it
    /// was found (not for a new one): the entry NAT reads next, so that it
    /// need not look it up again.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn judge(
        &self,
        tuple: &Tuple,
        key: &Key,
        kind: Kind,
        commit: bool,
        now: u32,
        probe: bool,
        nat: &NatRequest,
    ) -> (Verdict, Option<Found>) {
        if let Kind::IcmpError(quoted) = kind {
            // The error travels against the quoted packet: towards its
            // sender. The quoted packet is looked up reversed, as the
            // tuple of a packet in the error's own direction (as Linux
            // does): with NAT the error's sender saw the quoted packet
            // translated, as the reverse of the other direction's tuple.
            let key = self.key(&quoted.reversed());
            let verdict = match self.find_live(&key, quoted.proto, now, probe) {
                Some(found) => {
                    Verdict::of(ct_state::RELATED | if found.reply { ct_state::REPLY } else { 0 })
                }
                None => self.invalid(InvalidReason::IcmpUnrelated, probe),
            };
            return (verdict, None);
        }
        for _ in 0..UPDATE_TRIES {
            let Some(found) = self.find_live(key, tuple.proto, now, probe) else {
                return (
                    self.new_connection(tuple, key, kind, commit, now, probe, nat),
                    None,
                );
            };
            match self.update(found, kind, now, probe) {
                Outcome::Bits(bits) => return (Verdict::of(bits), Some(found)),
                Outcome::Invalid(reason) => return (self.invalid(reason, probe), None),
                Outcome::Reopen => {
                    if probe || self.remove(found.index, found.word) {
                        return (
                            self.new_connection(tuple, key, kind, commit, now, probe, nat),
                            None,
                        );
                    }
                }
                Outcome::Retry => {}
            }
        }
        // Others kept changing the connection: judge on a fresh read
        // without writing.
        let verdict = match self.find_live(key, tuple.proto, now, true) {
            Some(found) => match self.update(found, kind, now, true) {
                Outcome::Bits(bits) => Verdict::of(bits),
                Outcome::Invalid(reason) => self.invalid(reason, probe),
                Outcome::Reopen | Outcome::Retry => Verdict::of(ct_state::NEW),
            },
            None => Verdict::of(ct_state::NEW),
        };
        (verdict, None)
    }

    pub(crate) fn invalid(&self, reason: InvalidReason, probe: bool) -> Verdict {
        if !probe {
            bump(&self.counters.invalid[reason as usize]);
        }
        Verdict::of(ct_state::INVALID)
    }

    /// The connection of `key` (a tuple of protocol `proto`) unless it
    /// expired; an expired one found is removed (unless `probe`) and
    /// counted.
    fn find_live(&self, key: &Key, proto: u8, now: u32, probe: bool) -> Option<Found> {
        let found = self.find(key)?;
        if !self.timeouts.expired(proto, State::decode(found.word), now) {
            return Some(found);
        }
        if !probe && self.remove(found.index, found.word) {
            bump(&self.counters.expired);
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn new_connection(
        &self,
        tuple: &Tuple,
        key: &Key,
        kind: Kind,
        commit: bool,
        now: u32,
        probe: bool,
        nat: &NatRequest,
    ) -> Verdict {
        // Made here, not per frame: only a new connection needs it.
        let nat = nat.for_new();
        let nat = nat.as_ref();
        let (tcp_state, windows) = match kind {
            Kind::Tcp(segment) => match tcp::open(&segment) {
                Ok(conn) => (conn.state as u8, conn.windows),
                Err(reason) => return self.invalid(reason, probe),
            },
            Kind::Udp | Kind::EchoRequest => (0, [Window::default(); 2]),
            Kind::EchoReply => return self.invalid(InvalidReason::IcmpUnexpected, probe),
            Kind::IcmpError(_) => return self.invalid(InvalidReason::IcmpUnrelated, probe),
        };
        if !commit || probe {
            return Verdict::of(ct_state::NEW);
        }
        let state = State {
            last_seen: now,
            tcp: tcp_state,
            reply_seen: false,
            fins: 0,
        };
        let exhausted = || {
            bump(&self.counters.nat_ports_exhausted);
            Verdict {
                state: ct_state::TRACKED | ct_state::NEW,
                result: Err(DropReason::NatPortsExhausted),
            }
        };
        let mut reply = match nat.map(|nat| self.nat_reply(tuple, nat, 0)) {
            None => tuple.reversed(),
            Some(Ok(reply)) => reply,
            Some(Err(_)) => return exhausted(),
        };
        for attempt in 1..=UPDATE_TRIES as u32 {
            match self.insert(tuple, &reply, nat.is_some(), state, windows, now) {
                // A racing worker stored this connection from its other
                // direction first: this frame is its reply.
                Ok(found) if found.reply => return self.racer_kept(found, kind, now),
                Ok(_) => return Verdict::of(ct_state::NEW),
                Err(InsertError::Full) => {
                    bump(&self.counters.table_full);
                    return Verdict {
                        state: ct_state::TRACKED | ct_state::NEW,
                        result: Err(DropReason::CtTableFull),
                    };
                }
                Err(InsertError::Raced) => {
                    if let Some(found) = self.find(key) {
                        return self.racer_kept(found, kind, now);
                    }
                }
                Err(InsertError::ReplyTaken) => {
                    if let Some(found) = self.find(key) {
                        return self.racer_kept(found, kind, now);
                    }
                    match nat.map(|nat| self.nat_reply(tuple, nat, attempt)) {
                        Some(Ok(next)) => reply = next,
                        _ => return exhausted(),
                    }
                }
            }
        }
        if nat.is_some() {
            // Never stored: sent on untranslated, it would leak the
            // container's address.
            return exhausted();
        }
        Verdict::of(ct_state::NEW)
    }

    /// The frame that tried to create a connection, judged against the
    /// copy a racing worker stored.
    fn racer_kept(&self, found: Found, kind: Kind, now: u32) -> Verdict {
        match self.update(found, kind, now, false) {
            Outcome::Bits(bits) => Verdict::of(bits),
            Outcome::Invalid(reason) => self.invalid(reason, false),
            Outcome::Reopen | Outcome::Retry => Verdict::of(ct_state::NEW),
        }
    }

    /// Checks a frame of the connection `found` against its state, and
    /// writes the new state (unless `probe`). Always inlined in its three
    /// callers: the call cost a sixth of its work.
    #[inline(always)]
    fn update(&self, found: Found, kind: Kind, now: u32, probe: bool) -> Outcome {
        let dir = if found.reply {
            Dir::Reply
        } else {
            Dir::Original
        };
        let old = State::decode(found.word);
        let mut next = State {
            last_seen: now,
            reply_seen: old.reply_seen || found.reply,
            ..old
        };
        let mut windows = None;
        let mut syn = false;
        match kind {
            Kind::Tcp(segment) => {
                let Some(state) = tcp::TcpState::from_u8(old.tcp) else {
                    return Outcome::Invalid(InvalidReason::TcpUnexpected);
                };
                let conn = TcpConn {
                    state,
                    fins: old.fins,
                    windows: self.entry(found.index).windows(),
                };
                match tcp::step(&conn, dir, &segment) {
                    Ok(Step::Reopen) => return Outcome::Reopen,
                    Ok(Step::Update {
                        conn: after,
                        reset_windows,
                    }) => {
                        next.tcp = after.state as u8;
                        next.fins = after.fins;
                        // A segment that moved no edge (an ACK repeating
                        // the last one) writes nothing.
                        if after.windows != conn.windows {
                            windows = Some((after.windows, reset_windows));
                        }
                    }
                    Err(reason) => return Outcome::Invalid(reason),
                }
                syn = is_syn(&segment);
            }
            Kind::Udp => {}
            Kind::EchoRequest if !found.reply => {}
            Kind::EchoReply if found.reply => {}
            Kind::EchoRequest | Kind::EchoReply => {
                return Outcome::Invalid(InvalidReason::IcmpUnexpected)
            }
            Kind::IcmpError(_) => return Outcome::Invalid(InvalidReason::IcmpUnrelated),
        }
        if !probe {
            let word = next.encode(found.word);
            if !self.update_state(found.index, found.word, word) {
                return Outcome::Retry;
            }
            if let Some((windows, reset)) = windows {
                self.write_windows(found.index, windows, reset);
            }
        }
        let mut bits = if found.reply { ct_state::REPLY } else { 0 };
        bits |= if syn || (!found.reply && !next.reply_seen) {
            ct_state::NEW
        } else {
            ct_state::ESTABLISHED
        };
        Outcome::Bits(bits)
    }
}

/// A SYN without ACK: it asks for a connection, so it is NEW.
fn is_syn(segment: &Segment) -> bool {
    segment.flags & (flags::SYN | flags::ACK) == flags::SYN
}
