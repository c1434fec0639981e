//! Where frames come from and go to.
//!
//! Every port kind implements [`Port`]: batched receive into an [`RxBatch`]
//! the worker owns, and transmit by writing each frame straight into a
//! buffer the port lends ([`Port::tx_slot`]), so that egress edits (VLAN
//! push/pop, later tunnel encapsulation) are done while the frame is copied
//! to its destination, never in a second pass. [`Port::tx_flush`] hands the
//! queued frames to the device: at most one system call per batch.
//!
//! This crate knows nothing of the pipeline or of threads. `unsafe` code of
//! the project lives here only (rings, mmap, ioctls, bpf), each block with a
//! `// SAFETY:` comment.

pub mod afxdp;
pub mod cpu;
pub mod ethtool;
pub mod memory;
pub mod netns;
pub mod pcap;
pub mod ping;
pub mod tap;
pub mod testing;

mod batch;
mod error;

pub use batch::{RxBatch, FRAME_CAPACITY};
pub use error::PortError;

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

    /// Lends the buffer for the next frame to transmit, at least
    /// [`FRAME_CAPACITY`] bytes long, or `None` when the transmit queue is
    /// full (the caller counts a drop). Writing into it sends nothing until
    /// [`Port::tx_commit`].
    fn tx_slot(&mut self) -> Option<&mut [u8]>;

    /// Queues the first `len` bytes of the buffer last lent by
    /// [`Port::tx_slot`] as a frame. `timestamp_ns` is the time the frame was
    /// received, for ports that record it (pcap); others ignore it.
    fn tx_commit(&mut self, len: usize, timestamp_ns: u64);

    /// Hands every queued frame to the device. Frames the device refused are
    /// counted by the port and returned in the error.
    fn tx_flush(&mut self) -> Result<(), PortError>;

    /// Reports frames lost outside the pipeline (in the kernel or the
    /// device: a full receive ring, a refused send), as (cause, total)
    /// pairs. Called every few tens of milliseconds, never per packet, so
    /// it may make a system call. Ports that lose nothing report nothing.
    fn device_drops(&self, _report: &mut dyn FnMut(&'static str, u64)) {}
}
