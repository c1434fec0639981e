//! Any frames on any ports through the whole pipeline, under each
//! configuration in configs/: parse, flow cache, stages, action lists and
//! egress into memory ports, as offline replay drives it (with tracing on
//! for one input in four, so the trace path is fuzzed too), with a
//! connection tracker of a few entries for the ct actions of the gateway,
//! NAT and ACL configurations. Never a panic.
//!
//! Input: one byte picks the configuration, then records of
//! `[port] [seconds later] [length, 2 bytes LE] [frame]`; the port byte may
//! name a port the configuration lacks, the clock steps age the MAC table.
//!
//! Building a datapath costs a millisecond (its flood lists), which held a
//! fresh one per input to 1,300 runs a second; so each configuration's
//! datapath is built once, and every input starts on a clock later than
//! any MAC learned before by more than the aging time, after a sweep of
//! every datapath: the tables hold only their static entries again, as
//! when new. (The MAC table's
//! clock arithmetic wraps, so the ever-growing clock may too.) MAC limits
//! are cut to [`MAC_LIMIT`] so the sweep is cheap and limits are reached.
#![no_main]

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use vswitch::config::Config;
use vswitch::forward::TxPorts;
use vswitch_pipeline::conntrack::{ConnTable, Conntrack, ConntrackConfig};
use vswitch_pipeline::trace::{NoTrace, TraceLog, TraceSink};
use vswitch_pipeline::{BurstRunner, Datapath, PortId, Stats};
use vswitch_ports::memory::MemoryPort;

const CONFIGS: [(&str, &str); 11] = [
    ("demo.toml", include_str!("../../configs/demo.toml")),
    (
        "overlay-host-a.toml",
        include_str!("../../configs/overlay-host-a.toml"),
    ),
    (
        "overlay-geneve.toml",
        include_str!("../../configs/overlay-geneve.toml"),
    ),
    (
        "l2-three-ports.toml",
        include_str!("../../configs/l2-three-ports.toml"),
    ),
    (
        "mac-limits.toml",
        include_str!("../../configs/mac-limits.toml"),
    ),
    ("per-core.toml", include_str!("../../configs/per-core.toml")),
    ("vlans.toml", include_str!("../../configs/vlans.toml")),
    ("gateway.toml", include_str!("../../configs/gateway.toml")),
    ("nat.toml", include_str!("../../configs/nat.toml")),
    (
        "routed-policy.toml",
        include_str!("../../configs/routed-policy.toml"),
    ),
    (
        "port-security.toml",
        include_str!("../../configs/port-security.toml"),
    ),
];

/// The largest MAC limit, per bridge and per port, of a fuzzed datapath.
const MAC_LIMIT: u32 = 64;

struct Case {
    config: Config,
    datapath: Datapath,
}

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        CONFIGS
            .iter()
            .map(|(name, text)| {
                let config = Config::parse(text, name).expect("configs/ parse");
                let mut spec = config.datapath_spec();
                for bridge in &mut spec.bridges {
                    bridge.mac_limit = bridge.mac_limit.min(MAC_LIMIT);
                }
                for port in &mut spec.ports {
                    port.mac_limit = port.mac_limit.min(MAC_LIMIT);
                }
                Case {
                    datapath: Datapath::new(&spec, 1).expect("configs/ are valid"),
                    config,
                }
            })
            .collect()
    })
}

/// The longest MAC aging time of any bridge.
fn max_aging_secs() -> u32 {
    static MAX: OnceLock<u32> = OnceLock::new();
    *MAX.get_or_init(|| {
        cases()
            .iter()
            .flat_map(|c| c.config.bridges.iter().map(|b| b.mac_aging_secs))
            .max()
            .unwrap_or(0)
    })
}

/// Where the next input's clock starts (seconds, wrapping).
static CLOCK: AtomicU32 = AtomicU32::new(0);

/// The connections a fuzzed tracker holds: few, so that inputs reach a
/// full table.
const CONNTRACK_LIMIT: u32 = 16;

thread_local! {
    /// The tracker's table, flushed before each input.
    static CONNTRACK: Arc<ConnTable> = Arc::new(ConnTable::with_config(ConntrackConfig {
        limit: CONNTRACK_LIMIT,
        ..ConntrackConfig::default()
    }));
    /// One runner for every input (its flow cache emptied each time): a
    /// fresh one per input spent most of the time allocating. Its ct
    /// actions run the tracker (gateway, NAT and ACL configurations).
    static RUNNER: RefCell<BurstRunner> = RefCell::new({
        let mut runner = BurstRunner::new(64);
        let table = CONNTRACK.with(Arc::clone);
        runner.set_conntrack(Box::new(Conntrack::new(table)));
        runner
    });
}

fuzz_target!(|bytes: &[u8]| {
    let Some((&pick, mut rest)) = bytes.split_first() else {
        return;
    };
    let mut now = CLOCK.load(Ordering::Relaxed);
    for case in cases() {
        case.datapath.sweep_macs(now);
    }
    let case = &cases()[pick as usize % CONFIGS.len()];
    let datapath = &case.datapath;
    let mut tx = TxPorts::new(Vec::new());
    for id in datapath.port_ids() {
        let name = datapath.port_name(id).unwrap_or("?");
        tx.insert(id, Box::new(MemoryPort::new(name)));
    }
    let mut stats = Stats::new(datapath.port_count());
    CONNTRACK.with(|table| table.flush(None));
    RUNNER.with_borrow_mut(|runner| {
        runner.cache.clear();
        runner.trace_all = pick & 0xc0 == 0xc0;
        let mut log = TraceLog::default();
        while let [port, later, len_lo, len_hi, tail @ ..] = rest {
            let len = (u16::from_le_bytes([*len_lo, *len_hi]) as usize).min(tail.len());
            let (frame, next) = tail.split_at(len);
            rest = next;
            // One id past the last port: frames on a port that does not exist.
            let in_port = (*port as usize % (datapath.port_count() + 1)) as PortId;
            if *later > 0 {
                now = now.wrapping_add(*later as u32);
                datapath.sweep_macs(now);
            }
            let mut bytes = frame.to_vec();
            let sink: &mut dyn TraceSink = if runner.trace_all {
                &mut log
            } else {
                &mut NoTrace
            };
            runner.process(
                datapath,
                in_port,
                &mut [&mut bytes[..]],
                &[now as u64 * 1_000_000_000],
                now,
                &mut tx,
                &mut stats,
                sink,
            );
            tx.flush(&mut stats);
            log.events.clear();
        }
    });
    CLOCK.store(
        now.wrapping_add(max_aging_secs()).wrapping_add(1),
        Ordering::Relaxed,
    );
});
