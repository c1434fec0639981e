//! Capture files: reading classic pcap and pcapng, writing classic pcap,
//! and a [`Port`] that receives from one capture and transmits into
//! another (offline replay, recording a port's traffic).

mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub use reader::PcapReader;
pub use writer::{PcapWriter, WRITER_SNAPLEN};

use crate::{Port, PortError, RxBatch, FRAME_CAPACITY};

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
/// counted ([`PcapPort::rx_oversize`]). Transmitted frames go to the
/// writer's buffer at [`Port::tx_commit`], and to the file at
/// [`Port::tx_flush`].
pub struct PcapPort {
    name: String,
    rx: Option<PcapReader>,
    rx_exhausted: bool,
    rx_oversize: u64,
    rx_error: Option<PortError>,
    tx: Option<PcapWriter>,
    tx_slot: Box<[u8]>,
    tx_refused: u64,
    tx_error: Option<PortError>,
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
            tx_refused: 0,
            tx_error: None,
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
        self.tx_refused
    }

    /// Writes out the output capture, reporting any error that kept it
    /// from being complete.
    pub fn finish(self) -> Result<(), PortError> {
        if let Some(e) = self.tx_error {
            return Err(e);
        }
        match self.tx {
            Some(writer) => writer.finish().map(drop),
            None => Ok(()),
        }
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

    fn tx_slot(&mut self) -> Option<&mut [u8]> {
        self.tx.as_ref()?;
        Some(&mut self.tx_slot)
    }

    fn tx_commit(&mut self, len: usize, timestamp_ns: u64) {
        let Some(writer) = &mut self.tx else {
            return;
        };
        let frame = &self.tx_slot[..len.min(FRAME_CAPACITY)];
        if let Err(e) = writer.write(frame, timestamp_ns) {
            self.tx_refused += 1;
            self.tx_error.get_or_insert(e);
        }
    }

    fn tx_flush(&mut self) -> Result<(), PortError> {
        if let Some(e) = self.tx_error.take() {
            return Err(e);
        }
        match &mut self.tx {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }

    fn device_drops(&self, report: &mut dyn FnMut(&'static str, u64)) {
        report("pcap_rx_oversize", self.rx_oversize());
        report("pcap_tx_refused", self.tx_refused());
    }
}
