//! The TCP state machine and sequence window checks: pure functions from a
//! connection's state and one segment to the next state, or to a reason
//! the segment is INVALID (which changes nothing).
//!
//! The states follow the connection as both ends see it (RFC 9293 section
//! 3.3.2, the state diagram), named as Linux's nf_conntrack names them:
//! SYN_SENT, SYN_SENT2 (simultaneous open), SYN_RECV, ESTABLISHED,
//! FIN_WAIT (one side closed), LAST_ACK (both closed, the last FIN not yet
//! acknowledged), TIME_WAIT, CLOSE (reset).
//!
//! The window checks are Guido van Rooij's, "Real Stateful TCP Packet
//! Filtering in IP Filter" (2000), as Linux (`tcp_in_window` in
//! nf_conntrack_proto_tcp.c) and Open vSwitch (`tcp_conn_update` in
//! conntrack-tcp.c, from OpenBSD pf) implement them. Per direction the
//! tracker keeps, in van Rooij's names:
//!
//! - `end` (td_end): the highest sequence number sent plus its length,
//! - `maxend` (td_maxend): the highest ack + window the other side sent,
//!   the right edge of what this side may send,
//! - `maxwin` (td_maxwin): the largest window this side advertised,
//! - `scale` (td_scale): its Window Scale shift (RFC 7323 section 2).
//!
//! A segment from `sender` to `receiver` with sequence `seq`, acknowledging
//! `ack`, with `end = seq + len` (SYN and FIN count one each) and scaled
//! window `win`, is in window when
//!
//! 1. `seq <= sender.maxend` (it starts inside what the receiver allows),
//! 2. `end >= sender.end - receiver.maxwin` (it is not older than a whole
//!    window: a retransmission may be, an ancient segment may not),
//! 3. `ack <= receiver.end` (it acknowledges nothing not yet sent),
//! 4. `ack >= receiver.end - max(sender.maxwin, 66000)` (nor anything
//!    older than a window; 66000 is Linux's MAXACKWINDOW floor),
//!
//! all in sequence-number space (modulo 2^32, RFC 9293 section 3.4).
//! SACK blocks are not read: they only widen what condition 3 checks, so
//! ignoring them never makes a valid segment invalid.

use super::packet::Segment;
use super::InvalidReason;
use crate::wire::tcp::flags;

/// A tracked TCP connection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    /// The first SYN was seen.
    SynSent = 1,
    /// Both ends sent a SYN without ACK (simultaneous open, RFC 9293
    /// section 3.5 figure 7).
    SynSent2 = 2,
    /// The SYN was answered by a SYN-ACK.
    SynRecv = 3,
    /// The handshake completed.
    Established = 4,
    /// One end sent a FIN.
    FinWait = 5,
    /// Both ends sent a FIN; the last one is not acknowledged yet.
    LastAck = 6,
    /// Both FINs were sent and the last was acknowledged.
    TimeWait = 7,
    /// A RST closed the connection.
    Close = 8,
}

impl TcpState {
    /// The state with this number (as stored), if any.
    pub fn from_u8(value: u8) -> Option<TcpState> {
        use TcpState::*;
        [
            SynSent,
            SynSent2,
            SynRecv,
            Established,
            FinWait,
            LastAck,
            TimeWait,
            Close,
        ]
        .into_iter()
        .find(|s| *s as u8 == value)
    }

    /// The name `conntrack/show` prints (Linux's).
    pub fn name(self) -> &'static str {
        match self {
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynSent2 => "SYN_SENT2",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
        }
    }
}

/// One direction's window data (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    /// td_end.
    pub end: u32,
    /// td_maxend.
    pub maxend: u32,
    /// td_maxwin; 0 until this side sent its first segment.
    pub maxwin: u32,
    /// Window Scale shift of this side's windows.
    pub scale: u8,
    /// This side's SYN carried a Window Scale option.
    pub wscale_sent: bool,
}

impl Window {
    /// Packed as the table stores it: two words.
    pub(crate) fn to_words(self) -> [u64; 2] {
        [
            u64::from(self.end) | u64::from(self.maxend) << 32,
            u64::from(self.maxwin)
                | u64::from(self.scale) << 32
                | u64::from(self.wscale_sent) << 40,
        ]
    }

    pub(crate) fn from_words(w: [u64; 2]) -> Window {
        Window {
            end: w[0] as u32,
            maxend: (w[0] >> 32) as u32,
            maxwin: w[1] as u32,
            scale: (w[1] >> 32) as u8,
            wscale_sent: (w[1] >> 40) & 1 != 0,
        }
    }

    /// This and `other` (a concurrent update of the same direction)
    /// merged: each field only grows, in sequence space for the sequence
    /// numbers, so merging in any order gives the same result.
    pub(crate) fn merged(self, other: Window) -> Window {
        let later = |a: u32, b: u32| if after(b, a) { b } else { a };
        Window {
            end: later(self.end, other.end),
            maxend: later(self.maxend, other.maxend),
            maxwin: self.maxwin.max(other.maxwin),
            ..self
        }
    }
}

/// `a` is after `b` in sequence space.
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// `a` is before `b` in sequence space.
fn before(a: u32, b: u32) -> bool {
    after(b, a)
}

/// Linux's MAXACKWINDOW floor: how far back an acknowledgment may be.
const MAX_ACK_WINDOW_FLOOR: u32 = 66_000;

/// Which end sent a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// The end that sent the first SYN.
    Original = 0,
    /// The other end.
    Reply = 1,
}

/// What a segment is, by its control bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Syn,
    SynAck,
    Fin,
    Ack,
    Rst,
}

/// The control-bit combinations a segment may carry (PSH, URG, ECE and
/// CWR aside), as Linux's `tcp_valid_flags`: anything else (SYN with FIN,
/// FIN without ACK, no flags at all) is INVALID.
fn event(segment_flags: u8) -> Option<Event> {
    const IGNORED: u8 = flags::PSH | flags::URG | flags::ECE | flags::CWR;
    match segment_flags & !IGNORED {
        f if f == flags::SYN => Some(Event::Syn),
        f if f == flags::SYN | flags::ACK => Some(Event::SynAck),
        f if f == flags::FIN | flags::ACK => Some(Event::Fin),
        f if f == flags::ACK => Some(Event::Ack),
        f if f == flags::RST || f == flags::RST | flags::ACK => Some(Event::Rst),
        _ => None,
    }
}

/// A connection's TCP view: state, which ends sent a FIN, both windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TcpConn {
    /// The state.
    pub state: TcpState,
    /// Bit 0: the original end sent a FIN; bit 1: the reply end did.
    pub fins: u8,
    /// Windows of the original and the reply end.
    pub windows: [Window; 2],
}

/// What a valid segment does to its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The connection moves on (or stays) as `conn` says; `reset_windows`
    /// when the windows were set anew rather than grown (they are then
    /// stored, not merged).
    Update {
        /// The connection after the segment.
        conn: TcpConn,
        /// The windows were initialised, not grown.
        reset_windows: bool,
    },
    /// A SYN reopening a closed connection (TIME_WAIT or CLOSE, as Linux
    /// and Open vSwitch allow): the old entry goes, a new one may start.
    Reopen,
}

/// The connection a first SYN `segment` opens, or why the segment cannot
/// open one (only a SYN without ACK starts a connection).
pub(crate) fn open(segment: &Segment) -> Result<TcpConn, InvalidReason> {
    match event(segment.flags) {
        Some(Event::Syn) => Ok(TcpConn {
            state: TcpState::SynSent,
            fins: 0,
            windows: [syn_window(segment), Window::default()],
        }),
        None => Err(InvalidReason::TcpBadFlags),
        Some(_) => Err(InvalidReason::TcpNoSyn),
    }
}

/// The window data a SYN starts its sender with (Linux's `tcp_new` and
/// the initialisation in `tcp_in_window`): a SYN's window is never scaled
/// (RFC 7323 section 2.2).
fn syn_window(segment: &Segment) -> Window {
    let end = segment_end(segment);
    Window {
        end,
        maxend: end,
        maxwin: u32::from(segment.window).max(1),
        scale: segment.wscale.unwrap_or(0),
        wscale_sent: segment.wscale.is_some(),
    }
}

fn segment_end(segment: &Segment) -> u32 {
    let controls =
        u32::from(segment.flags & flags::SYN != 0) + u32::from(segment.flags & flags::FIN != 0);
    segment.seq.wrapping_add(segment.len).wrapping_add(controls)
}

/// What `segment`, sent by the `dir` end, does to `conn`.
pub(crate) fn step(conn: &TcpConn, dir: Dir, segment: &Segment) -> Result<Step, InvalidReason> {
    use TcpState::*;
    let ev = event(segment.flags).ok_or(InvalidReason::TcpBadFlags)?;
    let (d, o) = (dir as usize, 1 - dir as usize);
    let original = dir == Dir::Original;
    let mut next = *conn;
    let mut reset_windows = false;
    match (conn.state, ev) {
        // A SYN reopens a closed connection; only the original end's, as
        // the port it reuses is the original end's.
        (TimeWait | Close, Event::Syn) if original => return Ok(Step::Reopen),
        // A retransmitted SYN keeps the connection where it is; in
        // SYN_SENT it may carry a new initial sequence number (the end
        // restarted its attempt), so its window starts again.
        (SynSent, Event::Syn) if original => {
            next.windows[d] = syn_window(segment);
            return Ok(Step::Update {
                conn: next,
                reset_windows: true,
            });
        }
        (SynRecv, Event::Syn) if original => {
            // The SYN-ACK was lost past us: the same SYN again.
            if segment_end(segment) != conn.windows[d].end {
                return Err(InvalidReason::TcpUnexpected);
            }
            return Ok(Step::Update {
                conn: next,
                reset_windows: false,
            });
        }
        // RFC 9293 section 3.10.7.3, SYN-SENT: a segment with ACK is
        // acceptable only if it acknowledges the SYN ("If SEG.ACK =< ISS or
        // SEG.ACK > SND.NXT, send a reset"); with nothing else sent, the
        // only acceptable value is the SYN's sequence number plus one.
        (SynSent, Event::SynAck) if !original => {
            if segment.ack != conn.windows[o].end {
                return Err(InvalidReason::TcpBadAck);
            }
            start_second_end(&mut next, d, o, segment);
            next.state = SynRecv;
            reset_windows = true;
        }
        (SynSent, Event::Syn) => {
            start_second_end(&mut next, d, o, segment);
            next.state = SynSent2;
            reset_windows = true;
        }
        (SynSent, Event::Rst) => {
            // The same section: in SYN-SENT a reset is acceptable only if
            // it acknowledges the SYN; the original end's own reset must
            // sit at its next sequence number.
            let acceptable = if original {
                segment.seq == conn.windows[d].end
            } else {
                segment.flags & flags::ACK != 0 && segment.ack == conn.windows[o].end
            };
            if !acceptable {
                return Err(InvalidReason::TcpRstOutOfWindow);
            }
            next.state = Close;
        }
        (SynSent, _) => return Err(InvalidReason::TcpUnexpected),
        (state, ev) => {
            in_window(&mut next, d, o, segment, ev)?;
            next.state = match (state, ev) {
                (_, Event::Rst) => Close,
                (SynSent2, Event::Syn) => SynSent2,
                (SynSent2, Event::SynAck) => SynRecv,
                (SynRecv, Event::SynAck) if !original => SynRecv,
                (SynRecv, Event::Ack) => Established,
                (SynRecv | Established, Event::Fin) => {
                    next.fins |= 1 << d;
                    FinWait
                }
                // The reply end's SYN-ACK again: its ACK was lost.
                (Established, Event::SynAck) if !original => Established,
                (Established, Event::Ack) => Established,
                (FinWait, Event::Fin) => {
                    next.fins |= 1 << d;
                    if next.fins == 0b11 {
                        LastAck
                    } else {
                        FinWait
                    }
                }
                (FinWait, Event::Ack) => FinWait,
                (LastAck, Event::Fin) => LastAck,
                // The last FIN is acknowledged by an ACK covering it.
                (LastAck, Event::Ack) if segment.ack == conn.windows[o].end => TimeWait,
                (LastAck, Event::Ack) => LastAck,
                (TimeWait, Event::Ack | Event::Fin) => TimeWait,
                (Close, Event::Ack) => Close,
                _ => return Err(InvalidReason::TcpUnexpected),
            };
        }
    }
    Ok(Step::Update {
        conn: next,
        reset_windows,
    })
}

/// The first segment of the second end (a SYN-ACK, or a SYN in a
/// simultaneous open) starts its window. Window scaling is used only if
/// both SYNs offered it (RFC 7323 section 2.2: "both sides MUST send
/// Window Scale options in their <SYN> segments to enable window scaling
/// in either direction").
fn start_second_end(conn: &mut TcpConn, d: usize, o: usize, segment: &Segment) {
    let mut window = syn_window(segment);
    // The first end's window right edge: what the SYN-ACK allows it.
    let ack = if segment.flags & flags::ACK != 0 {
        segment.ack
    } else {
        conn.windows[o].end
    };
    let allowed = ack.wrapping_add(u32::from(segment.window).max(1));
    if after(allowed, conn.windows[o].maxend) {
        conn.windows[o].maxend = allowed;
    }
    window.maxend = window.end.wrapping_add(conn.windows[o].maxwin);
    if !(window.wscale_sent && conn.windows[o].wscale_sent) {
        window.scale = 0;
        conn.windows[o].scale = 0;
    }
    conn.windows[d] = window;
}

/// Van Rooij's four conditions (module docs); on success the windows grow
/// as Linux's `tcp_in_window` grows them.
fn in_window(
    conn: &mut TcpConn,
    d: usize,
    o: usize,
    segment: &Segment,
    ev: Event,
) -> Result<(), InvalidReason> {
    let sender = conn.windows[d];
    let receiver = conn.windows[o];
    if sender.maxwin == 0 || receiver.maxwin == 0 {
        // An end that never sent its SYN sends nothing else.
        return Err(InvalidReason::TcpUnexpected);
    }
    let seq = segment.seq;
    let end = segment_end(segment);
    let has_ack = segment.flags & flags::ACK != 0;
    let ack = if has_ack { segment.ack } else { receiver.end };
    let win = if segment.flags & flags::SYN != 0 {
        u32::from(segment.window)
    } else {
        u32::from(segment.window) << sender.scale
    };
    let seq_ok =
        !after(seq, sender.maxend) && !before(end, sender.end.wrapping_sub(receiver.maxwin));
    let max_ack_window = sender.maxwin.max(MAX_ACK_WINDOW_FLOOR);
    let ack_ok =
        !after(ack, receiver.end) && !before(ack, receiver.end.wrapping_sub(max_ack_window));
    match (seq_ok, ack_ok, ev) {
        (false, _, Event::Rst) => return Err(InvalidReason::TcpRstOutOfWindow),
        (false, _, _) => return Err(InvalidReason::TcpOutOfWindow),
        (true, false, _) => return Err(InvalidReason::TcpBadAck),
        (true, true, _) => {}
    }
    let sender = &mut conn.windows[d];
    if after(end, sender.end) {
        sender.end = end;
    }
    sender.maxwin = sender.maxwin.max(win);
    let right_edge = ack.wrapping_add(win.max(1));
    let receiver = &mut conn.windows[o];
    if has_ack && after(right_edge, receiver.maxend) {
        receiver.maxend = right_edge;
    }
    Ok(())
}
