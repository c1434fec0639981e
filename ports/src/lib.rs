//! Where frames come from and go to.
//!
//! Every port kind implements [`Port`]: batched receive into an [`RxBatch`]
//! the worker owns, and transmit by writing each frame straight into a
//! buffer the port lends ([`Port::tx_slot`]), so that egress edits (VLAN
//! push/pop, later tunnel encapsulation) are done while the frame is copied
//! to its destination, never in a second pass. [`Port::tx_flush`] hands the
//! queued frames to the device (at most one system call per batch) and
//! reports, in a [`TxDone`], what became of them: every frame queued ends
//! exactly once as sent or refused in the reports of later flushes.
//!
//! This crate knows nothing of the pipeline or of threads. `unsafe` code of
//! the project lives here only (rings, mmap, ioctls, bpf), each block with a
//! `// SAFETY:` comment.

pub mod afpacket;
pub mod afxdp;
pub mod cpu;
pub mod ethtool;
pub mod memory;
pub mod netlink;
pub mod netns;
pub mod pcap;
pub mod ping;
pub mod pmtu;
pub mod tap;
pub mod testing;
pub mod unix_socket;
pub mod vnet;
pub mod wait;

mod batch;
mod error;

pub use batch::{RxBatch, BATCH_SUPER_FRAMES, FRAME_CAPACITY, SUPER_FRAME_CAPACITY};
pub use error::PortError;
pub use vnet::VnetHeader;

/// What became of transmitted frames, as one [`Port::tx_flush`] reports it.
/// Each frame committed with [`Port::tx_commit`] is counted exactly once,
/// as sent or as refused, by the flush that learns its fate; a port that
/// passes frames on to another port (a worker's stand-in for a port
/// another worker owns) leaves the sent ones for that port to report.
#[derive(Debug, Default)]
#[must_use = "a flush's report is the only record of what became of the frames"]
pub struct TxDone {
    /// Frames the device accepted: a TAP's write succeeded, the kernel
    /// took an AF_XDP descriptor (its completion came back) and the device
    /// did not report it dropped (copy mode: a veth whose peer is down takes
    /// frames and drops them; those are refused), the record
    /// reached the capture file. What the device loses after accepting shows
    /// in [`Port::device_drops`].
    pub sent: u64,
    /// The bytes of the `sent` frames.
    pub sent_bytes: u64,
    /// Frames the device or the port refused: each one is lost and is a
    /// drop for the caller to count.
    pub refused: u64,
    /// Frames queued whose fate is not known yet (on an AF_XDP ring):
    /// later flushes report them.
    pub in_flight: u32,
    /// The first error met since the previous flush, for logs: the cause of
    /// the refusals, or of a delay that refused nothing (a kick the kernel
    /// failed while frames stay on the ring).
    pub error: Option<PortError>,
}

impl TxDone {
    /// Counts one frame of `len` bytes as sent.
    pub(crate) fn add_sent(&mut self, len: usize) {
        self.sent += 1;
        self.sent_bytes += len as u64;
    }

    /// Counts one frame as refused because of `error`, keeping the first
    /// error.
    pub(crate) fn add_refused(&mut self, error: impl FnOnce() -> PortError) {
        self.refused += 1;
        if self.error.is_none() {
            self.error = Some(error());
        }
    }
}

/// What a port's transmit side takes besides complete frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TxOffloads {
    /// Complete frames only.
    #[default]
    None,
    /// Frames with a partial checksum (`VNET_F_NEEDS_CSUM` with
    /// `csum_start` and `csum_offset`), which the kernel completes, in
    /// ordinary slots; no GSO super-frames. An AF_XDP port with TX
    /// metadata.
    Checksum,
    /// Partial checksums and GSO super-frames, in slots of
    /// [`SUPER_FRAME_CAPACITY`] bytes: TAP and AF_PACKET ports with
    /// virtio-net headers.
    ChecksumAndGso,
}

/// How a worker that wants to block learns that a port has frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakeup {
    /// The descriptor becomes readable (epoll, level-triggered) when
    /// frames wait.
    Fd(std::os::fd::RawFd),
    /// Nothing arrives here by itself (a port that only sends, an input
    /// that is exhausted): a worker may block without watching it.
    Never,
    /// Frames can come without a descriptor to wait on (frames in memory,
    /// a capture file): a worker must keep polling it, or block for short
    /// times only.
    Poll,
}

/// A source and sink of Ethernet frames.
///
/// Methods are called from one worker thread at a time; a port is moved to
/// its worker, never shared.
pub trait Port: Send {
    /// The port's name, for messages and statistics.
    fn name(&self) -> &str;

    /// Appends up to `batch.free()` received frames to `batch` and returns
    /// how many were appended. Returns `Ok(0)` when nothing is waiting: a
    /// poll-mode port never blocks.
    fn rx_burst(&mut self, batch: &mut RxBatch) -> Result<usize, PortError>;

    /// Lends the buffer for the next frame to transmit, or `None` when the
    /// transmit queue is full (the caller counts a drop). It is
    /// [`FRAME_CAPACITY`] bytes long, less what a port keeps in front of
    /// the frame for the kernel (an AF_XDP port's TX metadata, 24 bytes);
    /// a frame longer than the slot is the caller's drop. Writing into it
    /// sends nothing until [`Port::tx_commit`].
    fn tx_slot(&mut self) -> Option<&mut [u8]>;

    /// Queues the first `len` bytes of the buffer last lent by
    /// [`Port::tx_slot`] as a frame. `timestamp_ns` is the time the frame was
    /// received, for ports that record it (pcap); others ignore it. Queued
    /// is not sent: the frame's outcome comes in a later [`TxDone`].
    fn tx_commit(&mut self, len: usize, timestamp_ns: u64);

    /// What the port takes besides complete frames, through
    /// [`Port::tx_commit_offloaded`]. The default, [`TxOffloads::None`],
    /// is always correct: the pipeline then completes checksums and
    /// segments super-frames for the port.
    fn tx_offloads(&self) -> TxOffloads {
        TxOffloads::None
    }

    /// [`Port::tx_commit`] for a frame whose offload state is `vnet`
    /// (only called with what [`Port::tx_offloads`] says the port takes).
    fn tx_commit_offloaded(&mut self, len: usize, timestamp_ns: u64, vnet: VnetHeader) {
        let _ = vnet;
        self.tx_commit(len, timestamp_ns);
    }

    /// Hands every queued frame to the device and reports the outcome of
    /// the frames finished since the previous flush. A port may be flushed
    /// with nothing queued: it then reports what finished meanwhile (AF_XDP
    /// completions), so a caller keeps flushing while
    /// [`TxDone::in_flight`] is not 0. Device errors are not returned
    /// apart: they refuse frames, or delay them, and show in
    /// [`TxDone::error`].
    fn tx_flush(&mut self) -> TxDone;

    /// Reports frames lost outside the pipeline (in the kernel or the
    /// device: a full receive ring, a bad descriptor), as (cause, total)
    /// pairs; refused sends are not among them, since [`Port::tx_flush`]
    /// reports those to the caller. Called every few tens of milliseconds, never per packet, so
    /// it may make a system call. Ports that lose nothing report nothing.
    fn device_drops(&self, _report: &mut dyn FnMut(&'static str, u64)) {}

    /// How a worker blocked in epoll learns of frames here. Asked when
    /// the worker's set of ports changes, not per packet. The default,
    /// [`Wakeup::Poll`], is always correct.
    fn wakeup(&self) -> Wakeup {
        Wakeup::Poll
    }

    /// Called just before the worker blocks: arms whatever makes the
    /// [`Wakeup::Fd`] descriptor readable on the next frame (an AF_XDP
    /// port refills its fill ring and kicks the driver when it asks for
    /// it), and returns true when frames already wait (the worker then
    /// polls instead of blocking). Never called per packet.
    fn prepare_wait(&mut self) -> bool {
        false
    }
}
