//! Per-worker counters: plain integers, written only by their worker, summed
//! when read. No atomics on the per-packet path.

use crate::drop::DropReason;
use crate::mac_table::PortId;

/// Counters of one port, as seen by one worker (or summed over workers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortCounters {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames transmitted.
    pub tx_packets: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Frames out of this port whose partial checksum the switch
    /// completed, because the port cannot take it.
    pub sw_checksum: u64,
    /// Segments this port sent that the switch cut from super-frames,
    /// because the port cannot take them.
    pub sw_segmented: u64,
    /// Frames out of this port with a partial checksum left for its
    /// kernel or device to complete (checksum offload).
    pub csum_offloaded: u64,
    /// Drops by reason: frames that came in on this port (pipeline drops)
    /// or were meant to go out of it (transmit drops).
    pub drops: [u64; DropReason::COUNT],
}

impl Default for PortCounters {
    fn default() -> Self {
        PortCounters {
            rx_packets: 0,
            rx_bytes: 0,
            tx_packets: 0,
            tx_bytes: 0,
            sw_checksum: 0,
            sw_segmented: 0,
            csum_offloaded: 0,
            drops: [0; DropReason::COUNT],
        }
    }
}

impl PortCounters {
    /// All drops, whatever the reason.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// The non-zero drop counters with their reasons.
    pub fn drop_reasons(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .zip(self.drops.iter())
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| (*r, *n))
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &PortCounters) {
        self.rx_packets += other.rx_packets;
        self.rx_bytes += other.rx_bytes;
        self.tx_packets += other.tx_packets;
        self.tx_bytes += other.tx_bytes;
        self.sw_checksum += other.sw_checksum;
        self.sw_segmented += other.sw_segmented;
        self.csum_offloaded += other.csum_offloaded;
        for (a, b) in self.drops.iter_mut().zip(other.drops.iter()) {
            *a += b;
        }
    }
}

/// The counters of one worker, one entry per port of the datapath.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Indexed by [`PortId`].
    pub ports: Vec<PortCounters>,
}

impl Stats {
    /// Counters for `ports` ports, all zero. Allocates once, up front.
    pub fn new(ports: usize) -> Stats {
        Stats {
            ports: vec![PortCounters::default(); ports],
        }
    }

    /// Counts a received frame.
    #[inline]
    pub fn rx(&mut self, port: PortId, bytes: usize) {
        if let Some(p) = self.ports.get_mut(port as usize) {
            p.rx_packets += 1;
            p.rx_bytes += bytes as u64;
        }
    }

    /// Counts `frames` received frames of `bytes` bytes in all.
    #[inline]
    pub fn rx_many(&mut self, port: PortId, frames: u64, bytes: u64) {
        if let Some(p) = self.ports.get_mut(port as usize) {
            p.rx_packets += frames;
            p.rx_bytes += bytes;
        }
    }

    /// Counts a frame of `bytes` sent by `port` (the ports whose
    /// transmit queue does not count for them: tunnels).
    #[inline]
    pub fn tx(&mut self, port: PortId, bytes: usize) {
        if let Some(p) = self.ports.get_mut(port as usize) {
            p.tx_packets += 1;
            p.tx_bytes += bytes as u64;
        }
    }

    /// Counts `frames` whose checksum was completed for `port`.
    #[inline]
    pub fn sw_checksum(&mut self, port: PortId, frames: u64) {
        if let Some(p) = self.ports.get_mut(port as usize) {
            p.sw_checksum += frames;
        }
    }

    /// Counts `segments` cut from super-frames for `port`.
    #[inline]
    pub fn sw_segmented(&mut self, port: PortId, segments: u64) {
        if let Some(p) = self.ports.get_mut(port as usize) {
            p.sw_segmented += segments;
        }
    }

    /// Counts `frames` handed to `port` with a partial checksum.
    #[inline]
    pub fn csum_offloaded(&mut self, port: PortId, frames: u64) {
        if let Some(p) = self.ports.get_mut(port as usize) {
            p.csum_offloaded += frames;
        }
    }

    /// Counts a dropped frame against `port`.
    #[inline]
    pub fn drop(&mut self, port: PortId, reason: DropReason) {
        if let Some(p) = self.ports.get_mut(port as usize) {
            p.drops[reason as usize] += 1;
        }
    }

    /// Adds `other` into `self` (summing workers).
    pub fn add(&mut self, other: &Stats) {
        if self.ports.len() < other.ports.len() {
            self.ports
                .resize(other.ports.len(), PortCounters::default());
        }
        for (a, b) in self.ports.iter_mut().zip(other.ports.iter()) {
            a.add(b);
        }
    }
}
