//! Capture files: reading classic pcap and pcapng, writing classic pcap,
//! and a [`Port`] that receives from one capture and transmits into
//! another (offline replay, recording a port's traffic).

mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub use reader::PcapReader;
pub use writer::{PcapWriter, WRITER_SNAPLEN};

use std::io;

use crate::{Port, PortError, RxBatch, TxDone, Wakeup, FRAME_CAPACITY};

/// The largest captured packet [`PcapReader`] accepts, in bytes; a record
/// claiming more is treated as hostile. 256 KiB is libpcap's own limit.
pub const MAX_CAPTURED_LEN: usize = 256 * 1024;

/// `LINKTYPE_ETHERNET`: the only link type read and written.
const LINKTYPE_ETHERNET: u32 = 1;

/// A frame read from a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// When it was captured, in nanoseconds since the Unix epoch (0 when
    /// the capture does not say, as in a pcapng Simple Packet Block).
    pub timestamp_ns: u64,
    /// The Ethernet frame as captured (possibly cut to the snaplen), with
    /// no FCS.
    pub data: &'a [u8],
}

/// The name of a common link type, for messages.
fn link_type_name(link_type: u32) -> &'static str {
    match link_type {
        0 => "NULL, BSD loopback",
        1 => "ETHERNET",
        101 => "RAW, bare IP",
        105 => "IEEE802_11, Wi-Fi",
        113 => "LINUX_SLL, a Linux `any` capture",
        127 => "IEEE802_11_RADIOTAP, Wi-Fi",
        228 => "IPV4, bare IPv4",
        229 => "IPV6, bare IPv6",
        276 => "LINUX_SLL2, a Linux `any` capture",
        _ => "not Ethernet",
    }
}

/// A [`Port`] that receives the frames of a capture, in order, with their
/// timestamps, and writes the frames it transmits to another capture.
/// Either side may be absent: then it receives nothing, or refuses to
/// transmit (`tx_slot` gives `None`).
///
/// Frames longer than [`FRAME_CAPACITY`] in the input are skipped and
/// counted ([`PcapPort::rx_oversize`]).
///
/// Transmitted frames go to the writer's buffer at [`Port::tx_commit`], and
/// to the file at [`Port::tx_flush`] or when the buffer has no room for the
/// next record. A frame is sent once the write of the buffer holding it
/// succeeded. When a write fails, the frames of that buffer are refused and
/// the capture ends there: the buffer is discarded and every later frame is
/// refused too, since a capture with a hole is no record of the traffic.
pub struct PcapPort {
    name: String,
    rx: Option<PcapReader>,
    rx_exhausted: bool,
    rx_oversize: u64,
    rx_error: Option<PortError>,
    tx: Option<PcapWriter>,
    tx_slot: Box<[u8]>,
    /// Frames (and their bytes) in the writer's buffer, not yet in the file.
    tx_buffered_frames: u64,
    tx_buffered_bytes: u64,
    /// True once a write failed: the writer is gone.
    tx_failed: bool,
    tx_refused: u64,
    /// What became of frames since the last flush.
    tx_done: TxDone,
}

impl PcapPort {
    /// A port named `name` that receives from `rx` and transmits to `tx`.
    pub fn new(name: &str, rx: Option<PcapReader>, tx: Option<PcapWriter>) -> PcapPort {
        PcapPort {
            name: name.to_string(),
            rx_exhausted: rx.is_none(),
            rx,
            rx_oversize: 0,
            rx_error: None,
            tx,
            tx_slot: vec![0u8; FRAME_CAPACITY].into_boxed_slice(),
            tx_buffered_frames: 0,
            tx_buffered_bytes: 0,
            tx_failed: false,
            tx_refused: 0,
            tx_done: TxDone::default(),
        }
    }

    /// True once nothing more will be received: the input has ended, or
    /// failed and its error was returned, or there is none.
    pub fn rx_exhausted(&self) -> bool {
        self.rx_exhausted && self.rx_error.is_none()
    }

    /// How many input frames were skipped for being longer than
    /// [`FRAME_CAPACITY`].
    pub fn rx_oversize(&self) -> u64 {
        self.rx_oversize
    }

    /// How many transmitted frames could not be written.
    pub fn tx_refused(&self) -> u64 {
        self.tx_refused + self.tx_done.refused
    }

    /// Writes out the output capture, reporting any error that kept it
    /// from being complete. Frames committed since the last
    /// [`Port::tx_flush`] are written but not reported: flush first.
    pub fn finish(self) -> Result<(), PortError> {
        if self.tx_failed {
            return Err(self.output_failed());
        }
        match self.tx {
            Some(writer) => writer.finish().map(drop),
            None => Ok(()),
        }
    }

    /// Writes the buffered frames to the file: they are sent, or, if the
    /// write fails, refused with the capture given up.
    fn write_out(&mut self) {
        let Some(writer) = &mut self.tx else {
            return;
        };
        match writer.flush() {
            Ok(()) => {
                self.tx_done.sent += self.tx_buffered_frames;
                self.tx_done.sent_bytes += self.tx_buffered_bytes;
                self.tx_buffered_frames = 0;
                self.tx_buffered_bytes = 0;
            }
            Err(e) => self.give_up(e),
        }
    }

    /// Refuses the buffered frames for `error` and drops the writer without
    /// writing them, so that no refused frame reaches the file.
    fn give_up(&mut self, error: PortError) {
        self.tx_done.refused += self.tx_buffered_frames;
        self.tx_done.error.get_or_insert(error);
        self.tx_buffered_frames = 0;
        self.tx_buffered_bytes = 0;
        if let Some(writer) = self.tx.take() {
            writer.abandon();
        }
        self.tx_failed = true;
    }

    /// The error of a frame refused because the output failed earlier.
    fn output_failed(&self) -> PortError {
        PortError::io(
            format!("the capture output of port {} is incomplete", self.name),
            io::Error::other(format!(
                "a write failed; {} frame(s) were not written",
                self.tx_refused()
            )),
        )
    }
}

impl Port for PcapPort {
    fn name(&self) -> &str {
        &self.name
    }

    /// Fills the batch from the input. An error met after some frames were
    /// appended is returned by the next call, so those frames are not lost.
    fn rx_burst(&mut self, batch: &mut RxBatch) -> Result<usize, PortError> {
        if let Some(e) = self.rx_error.take() {
            return Err(e);
        }
        let Some(reader) = &mut self.rx else {
            return Ok(0);
        };
        let mut received = 0;
        while batch.free() > 0 {
            match reader.next_frame() {
                Ok(Some(frame)) if frame.data.len() > FRAME_CAPACITY => self.rx_oversize += 1,
                Ok(Some(frame)) => {
                    batch.push(frame.data, frame.timestamp_ns);
                    received += 1;
                }
                Ok(None) => {
                    self.rx_exhausted = true;
                    break;
                }
                Err(e) => {
                    self.rx_exhausted = true;
                    if received == 0 {
                        return Err(e);
                    }
                    self.rx_error = Some(e);
                    break;
                }
            }
        }
        Ok(received)
    }

    /// Lends a slot while there is an output, and after it failed, so that
    /// the frames it refuses count as refused, not as a full queue.
    fn tx_slot(&mut self) -> Option<&mut [u8]> {
        if self.tx.is_none() && !self.tx_failed {
            return None;
        }
        Some(&mut self.tx_slot)
    }

    fn tx_commit(&mut self, len: usize, timestamp_ns: u64) {
        let len = len.min(FRAME_CAPACITY);
        if self.tx.as_ref().is_some_and(|writer| !writer.fits(len)) {
            self.write_out();
        }
        match &mut self.tx {
            Some(writer) => match writer.write(&self.tx_slot[..len], timestamp_ns) {
                Ok(()) => {
                    self.tx_buffered_frames += 1;
                    self.tx_buffered_bytes += len as u64;
                }
                Err(e) => {
                    self.tx_done.refused += 1;
                    self.give_up(e);
                }
            },
            None if self.tx_failed => {
                if self.tx_done.error.is_none() {
                    self.tx_done.error = Some(self.output_failed());
                }
                self.tx_done.refused += 1;
            }
            None => {}
        }
    }

    fn tx_flush(&mut self) -> TxDone {
        self.write_out();
        let done = std::mem::take(&mut self.tx_done);
        self.tx_refused += done.refused;
        done
    }

    fn device_drops(&self, report: &mut dyn FnMut(&'static str, u64)) {
        report("pcap_rx_oversize", self.rx_oversize());
    }

    /// An input still being read must be polled; an exhausted one (or
    /// none) brings nothing more.
    fn wakeup(&self) -> Wakeup {
        if self.rx_exhausted && self.rx_error.is_none() {
            Wakeup::Never
        } else {
            Wakeup::Poll
        }
    }
}
