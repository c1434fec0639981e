//! One tracked connection's storage in the table's pool, and its state
//! word (see [`super::table`] for how the table reads and writes them
//! without a lock).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::packet::{Tuple, TUPLE_WORDS};
use super::tcp::Window;

pub(super) const STATE_LIVE: u64 = 1 << 47;
const STATE_REPLY_SEEN: u64 = 1 << 36;
const STATE_TCP_SHIFT: u32 = 32;
const STATE_FIN_SHIFT: u32 = 37;
pub(super) const GEN_SHIFT: u32 = 48;

/// One tracked connection: 128 bytes.
#[repr(C, align(64))]
pub(crate) struct Entry {
    pub(super) state: AtomicU64,
    pub(super) created: AtomicU32,
    /// Index + 1 of the next free entry while this one is free.
    pub(super) next_free: AtomicU32,
    pub(super) original: [AtomicU64; TUPLE_WORDS],
    pub(super) reply: [AtomicU64; TUPLE_WORDS],
    /// Original end's window, then the reply end's (two words each).
    pub(super) windows: [AtomicU64; 4],
}

impl Entry {
    pub(super) fn new() -> Entry {
        Entry {
            state: AtomicU64::new(0),
            created: AtomicU32::new(0),
            next_free: AtomicU32::new(0),
            original: Default::default(),
            reply: Default::default(),
            windows: Default::default(),
        }
    }

    pub(crate) fn tuple_words(&self, reply: bool) -> [u64; TUPLE_WORDS] {
        let words = if reply { &self.reply } else { &self.original };
        core::array::from_fn(|i| words[i].load(Ordering::Relaxed))
    }

    /// The original and the reply tuple.
    pub(super) fn tuples(&self) -> (Tuple, Tuple) {
        (
            Tuple::from_words(self.tuple_words(false)),
            Tuple::from_words(self.tuple_words(true)),
        )
    }

    pub(crate) fn windows(&self) -> [Window; 2] {
        let w = |i: usize| self.windows[i].load(Ordering::Relaxed);
        [
            Window::from_words([w(0), w(1)]),
            Window::from_words([w(2), w(3)]),
        ]
    }
}

/// The decoded state word of a live entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    pub last_seen: u32,
    /// [`super::tcp::TcpState`] as a number; 0 for other protocols.
    pub tcp: u8,
    pub reply_seen: bool,
    pub fins: u8,
}

impl State {
    pub(crate) fn decode(word: u64) -> State {
        State {
            last_seen: word as u32,
            tcp: ((word >> STATE_TCP_SHIFT) & 0xf) as u8,
            reply_seen: word & STATE_REPLY_SEEN != 0,
            fins: ((word >> STATE_FIN_SHIFT) & 0b11) as u8,
        }
    }

    /// The word for this state in an entry whose generation and LIVE bit
    /// `word` carries.
    pub(crate) fn encode(self, word: u64) -> u64 {
        (word & !((1 << GEN_SHIFT) - 1))
            | STATE_LIVE
            | u64::from(self.last_seen)
            | u64::from(self.tcp & 0xf) << STATE_TCP_SHIFT
            | if self.reply_seen { STATE_REPLY_SEEN } else { 0 }
            | u64::from(self.fins & 0b11) << STATE_FIN_SHIFT
    }
}
