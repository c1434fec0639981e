//! Counters as people and tools read them: the per-port and per-bridge
//! reports that replay writes to `summary.json` and the control socket
//! answers `stats` and `fdb-show` with.

use std::collections::BTreeMap;

use serde::Serialize;
use vswitch_pipeline::stats::PortCounters;
use vswitch_pipeline::MacTable;

/// Counters of one port.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PortSummary {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames sent whose partial checksum the switch completed.
    pub sw_checksum: u64,
    /// Segments sent that the switch cut from super-frames.
    pub sw_segmented: u64,
    /// Frames sent with a partial checksum for the port's kernel to
    /// complete.
    pub csum_offloaded: u64,
    /// All drops counted against the port.
    pub drops: u64,
    /// Drops by reason name.
    pub drop_reasons: BTreeMap<String, u64>,
}

impl PortSummary {
    /// The report of `c`.
    pub fn new(c: &PortCounters) -> PortSummary {
        PortSummary {
            rx_packets: c.rx_packets,
            rx_bytes: c.rx_bytes,
            tx_packets: c.tx_packets,
            tx_bytes: c.tx_bytes,
            sw_checksum: c.sw_checksum,
            sw_segmented: c.sw_segmented,
            csum_offloaded: c.csum_offloaded,
            drops: c.total_drops(),
            drop_reasons: c
                .drop_reasons()
                .map(|(r, n)| (r.name().to_string(), n))
                .collect(),
        }
    }
}

/// MAC-learning state of one bridge.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BridgeSummary {
    /// Learned entries in the table now (static ones excluded).
    pub mac_entries: u32,
    /// New entries learned.
    pub learned: u64,
    /// Entries that moved port.
    pub moved: u64,
    /// Entries aged out.
    pub aged: u64,
    /// Entries evicted to make room for a new MAC at the bridge limit.
    pub evicted: u64,
    /// MACs not learned: bridge at its limit and nothing to evict.
    pub bridge_limit_hits: u64,
    /// MACs not learned: port at its limit.
    pub port_limit_hits: u64,
    /// MACs not learned: hash buckets full.
    pub bucket_full: u64,
    /// Frames from a static MAC on another port.
    pub static_conflicts: u64,
}

impl BridgeSummary {
    /// The report of `table` at `now` (seconds, the aging clock).
    pub fn new(table: &MacTable, now: u32) -> BridgeSummary {
        let learned_now = table.entries(now).iter().filter(|e| !e.is_static).count();
        let c = table.counters();
        BridgeSummary {
            mac_entries: learned_now as u32,
            learned: c.learned,
            moved: c.moved,
            aged: c.aged,
            evicted: c.evicted,
            bridge_limit_hits: c.bridge_limit_hits,
            port_limit_hits: c.port_limit_hits,
            bucket_full: c.bucket_full,
            static_conflicts: c.static_conflicts,
        }
    }
}
