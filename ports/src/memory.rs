//! A port whose frames live in memory: the test double of every other port,
//! the "loop a pcap from memory" source of throughput benchmarks, and (in
//! discard mode) the null sink they send to.
//!
//! Received frames are stored back to back in one buffer with an index of
//! (offset, length, timestamp), so that looping over them costs one copy
//! into the batch per frame and nothing else.

use crate::pcap::PcapReader;
use crate::{Port, PortError, RxBatch, TxDone, Wakeup, FRAME_CAPACITY};
use std::io::Read;

/// Where one stored frame is in a [`MemoryPort`]'s data buffer.
#[derive(Clone, Copy)]
struct StoredFrame {
    offset: usize,
    len: usize,
    timestamp_ns: u64,
}

/// Frames stored back to back in one buffer.
#[derive(Default)]
struct FrameStore {
    data: Vec<u8>,
    index: Vec<StoredFrame>,
}

impl FrameStore {
    fn push(&mut self, frame: &[u8], timestamp_ns: u64) {
        self.index.push(StoredFrame {
            offset: self.data.len(),
            len: frame.len(),
            timestamp_ns,
        });
        self.data.extend_from_slice(frame);
    }

    fn get(&self, i: usize) -> Option<(&[u8], u64)> {
        let entry = self.index.get(i)?;
        let frame = self.data.get(entry.offset..entry.offset + entry.len)?;
        Some((frame, entry.timestamp_ns))
    }
}

/// A [`Port`] that receives frames preloaded with [`MemoryPort::push_rx`]
/// and keeps (or, in discard mode, only counts) the frames sent to it.
///
/// Receive serves the stored frames in order, once, or forever when
/// [`MemoryPort::set_looping`] is on; looping repeats the stored timestamps
/// unchanged. Neither receive nor transmit allocates in looping or discard
/// mode; collecting transmitted frames appends to one growing buffer.
///
/// Every committed frame is sent (kept or discarded): the next flush
/// reports it so, refusing nothing.
pub struct MemoryPort {
    name: String,
    rx: FrameStore,
    rx_next: usize,
    looping: bool,
    tx_slot: Box<[u8]>,
    tx: FrameStore,
    discard_tx: bool,
    tx_count: u64,
    /// The frames committed since the last flush.
    tx_done: TxDone,
}

impl MemoryPort {
    /// An empty port that receives nothing and keeps what it is sent.
    pub fn new(name: &str) -> MemoryPort {
        MemoryPort {
            name: name.to_string(),
            rx: FrameStore::default(),
            rx_next: 0,
            looping: false,
            tx_slot: vec![0u8; FRAME_CAPACITY].into_boxed_slice(),
            tx: FrameStore::default(),
            discard_tx: false,
            tx_count: 0,
            tx_done: TxDone::default(),
        }
    }

    /// A port that receives nothing and drops what it is sent, counting it:
    /// the sink of throughput benchmarks.
    pub fn null(name: &str) -> MemoryPort {
        let mut port = MemoryPort::new(name);
        port.set_discard_tx(true);
        port
    }

    /// Stores `frame`, received at `timestamp_ns`, after the frames already
    /// stored. Returns false, storing nothing, when the frame is longer than
    /// [`FRAME_CAPACITY`] (no port could receive it).
    #[must_use]
    pub fn push_rx(&mut self, frame: &[u8], timestamp_ns: u64) -> bool {
        if frame.len() > FRAME_CAPACITY {
            return false;
        }
        self.rx.push(frame, timestamp_ns);
        true
    }

    /// Stores every frame `reader` has left, with its timestamp, and returns
    /// how many were skipped for being longer than [`FRAME_CAPACITY`].
    pub fn push_rx_pcap<R: Read>(&mut self, reader: &mut PcapReader<R>) -> Result<u64, PortError> {
        let mut skipped = 0;
        while let Some(frame) = reader.next_frame()? {
            if !self.push_rx(frame.data, frame.timestamp_ns) {
                skipped += 1;
            }
        }
        Ok(skipped)
    }

    /// How many frames are stored for receive.
    pub fn rx_len(&self) -> usize {
        self.rx.index.len()
    }

    /// When on, receive starts over at the first stored frame after the
    /// last, forever; when off (the default), each stored frame is received
    /// once.
    pub fn set_looping(&mut self, looping: bool) {
        self.looping = looping;
    }

    /// When on, transmitted frames are counted and dropped instead of kept.
    pub fn set_discard_tx(&mut self, discard: bool) {
        self.discard_tx = discard;
    }

    /// How many frames were transmitted since the port was made, kept or
    /// discarded.
    pub fn tx_count(&self) -> u64 {
        self.tx_count
    }

    /// The frames transmitted and kept since the last call, in order, each
    /// with the timestamp given to [`Port::tx_commit`].
    pub fn take_tx(&mut self) -> Vec<(Vec<u8>, u64)> {
        let tx = std::mem::take(&mut self.tx);
        (0..tx.index.len())
            .filter_map(|i| tx.get(i))
            .map(|(frame, ts)| (frame.to_vec(), ts))
            .collect()
    }
}

impl Port for MemoryPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn rx_burst(&mut self, batch: &mut RxBatch) -> Result<usize, PortError> {
        let stored = self.rx.index.len();
        let mut received = 0;
        while batch.free() > 0 {
            if self.rx_next == stored {
                if !self.looping || stored == 0 {
                    break;
                }
                self.rx_next = 0;
            }
            if let Some((frame, timestamp_ns)) = self.rx.get(self.rx_next) {
                batch.push(frame, timestamp_ns);
                received += 1;
            }
            self.rx_next += 1;
        }
        Ok(received)
    }

    fn tx_slot(&mut self) -> Option<&mut [u8]> {
        Some(&mut self.tx_slot)
    }

    fn tx_commit(&mut self, len: usize, timestamp_ns: u64) {
        let len = len.min(FRAME_CAPACITY);
        self.tx_count += 1;
        self.tx_done.add_sent(len);
        if !self.discard_tx {
            self.tx.push(&self.tx_slot[..len], timestamp_ns);
        }
    }

    fn tx_flush(&mut self) -> TxDone {
        std::mem::take(&mut self.tx_done)
    }

    /// Frames still to receive (or looping) must be polled; once they
    /// are all received nothing more comes.
    fn wakeup(&self) -> Wakeup {
        let stored = self.rx.index.len();
        if (self.looping && stored > 0) || self.rx_next < stored {
            Wakeup::Poll
        } else {
            Wakeup::Never
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(port: &mut MemoryPort, frame: &[u8], timestamp_ns: u64) {
        let slot = port.tx_slot().expect("a memory port always lends a slot");
        slot[..frame.len()].copy_from_slice(frame);
        port.tx_commit(frame.len(), timestamp_ns);
    }

    #[test]
    fn serves_frames_once_in_order() {
        let mut port = MemoryPort::new("m0");
        assert!(port.push_rx(&[1, 2, 3], 10));
        assert!(port.push_rx(&[4], 20));
        assert!(port.push_rx(&[5, 6], 30));
        assert_eq!(port.rx_len(), 3);

        let mut batch = RxBatch::new(2);
        assert_eq!(port.rx_burst(&mut batch).unwrap(), 2);
        assert_eq!(batch.frame(0), &[1, 2, 3]);
        assert_eq!(batch.frame(1), &[4]);
        assert_eq!(batch.timestamp(1), 20);

        batch.clear();
        assert_eq!(port.rx_burst(&mut batch).unwrap(), 1);
        assert_eq!(batch.frame(0), &[5, 6]);
        assert_eq!(batch.timestamp(0), 30);

        batch.clear();
        assert_eq!(port.rx_burst(&mut batch).unwrap(), 0);
    }

    #[test]
    fn looping_wraps_around_and_fills_the_batch() {
        let mut port = MemoryPort::new("m0");
        assert!(port.push_rx(&[1], 1));
        assert!(port.push_rx(&[2], 2));
        port.set_looping(true);

        let mut batch = RxBatch::new(5);
        assert_eq!(port.rx_burst(&mut batch).unwrap(), 5);
        let firsts: Vec<u8> = (0..5).map(|i| batch.frame(i)[0]).collect();
        assert_eq!(firsts, [1, 2, 1, 2, 1]);

        batch.clear();
        assert_eq!(port.rx_burst(&mut batch).unwrap(), 5);
        assert_eq!(batch.frame(0), &[2]);
        assert_eq!(batch.timestamp(0), 2);
    }

    #[test]
    fn looping_with_no_frames_receives_nothing() {
        let mut port = MemoryPort::new("m0");
        port.set_looping(true);
        let mut batch = RxBatch::new(4);
        assert_eq!(port.rx_burst(&mut batch).unwrap(), 0);
    }

    #[test]
    fn oversize_frame_refused() {
        let mut port = MemoryPort::new("m0");
        assert!(!port.push_rx(&vec![0u8; FRAME_CAPACITY + 1], 0));
        assert!(port.push_rx(&vec![7u8; FRAME_CAPACITY], 0));
        assert_eq!(port.rx_len(), 1);
    }

    #[test]
    fn collects_transmitted_frames() {
        let mut port = MemoryPort::new("m0");
        send(&mut port, &[9, 8, 7], 100);
        send(&mut port, &[6], 200);
        let done = port.tx_flush();
        assert_eq!((done.sent, done.sent_bytes, done.refused), (2, 4, 0));
        assert_eq!(done.in_flight, 0);
        assert!(done.error.is_none());
        assert_eq!(port.tx_count(), 2);
        assert_eq!(port.take_tx(), vec![(vec![9, 8, 7], 100), (vec![6], 200)]);
        assert!(port.take_tx().is_empty());
        assert_eq!(port.tx_count(), 2);
    }

    #[test]
    fn tx_commit_clamps_length() {
        let mut port = MemoryPort::new("m0");
        port.tx_slot().unwrap();
        port.tx_commit(FRAME_CAPACITY + 100, 0);
        assert_eq!(port.take_tx()[0].0.len(), FRAME_CAPACITY);
    }

    #[test]
    fn null_port_counts_and_keeps_nothing() {
        let mut port = MemoryPort::null("null");
        for i in 0..1000 {
            send(&mut port, &[1, 2, 3, 4], i);
        }
        assert_eq!(port.tx_count(), 1000);
        let done = port.tx_flush();
        assert_eq!((done.sent, done.sent_bytes, done.refused), (1000, 4000, 0));
        assert_eq!(port.tx_flush().sent, 0, "each frame is reported once");
        assert!(port.take_tx().is_empty());
        let mut batch = RxBatch::new(4);
        assert_eq!(port.rx_burst(&mut batch).unwrap(), 0);
    }
}
