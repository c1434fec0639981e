//! Offline replay: capture files in, capture files and a summary out,
//! through the same datapath and forwarding step as the daemon.
//!
//! Frames of all inputs are processed in timestamp order (ties: the order
//! the inputs were given, then file order). Packet time is the clock: MAC
//! aging follows the captures' timestamps, so a test can show aging by
//! leaving a gap in its input. Every port of the configuration gets an
//! output capture `<output-dir>/<port>.pcap` (empty when nothing left by
//! it), and `<output-dir>/summary.json` holds per-port counters with drop
//! reasons and per-bridge MAC-learning counters.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use serde::Serialize;
use vswitch_pipeline::conntrack::{ConnTable, Conntrack, ConntrackConfig};
use vswitch_pipeline::trace::{NoTrace, TraceLog, TraceSink};
use vswitch_pipeline::{BurstRunner, Datapath, PortId, Stats};
use vswitch_ports::cpu::cycles;
use vswitch_ports::pcap::{PcapPort, PcapReader, PcapWriter};
use vswitch_ports::FRAME_CAPACITY;

use crate::config::Config;
use crate::daemon::latency::{Histogram, LatencySummary};
use crate::forward::{count_tx_done, TxPorts};
pub use crate::report::{BridgeSummary, PortSummary};

/// MAC tables are keyed with a fixed seed in replay so that runs repeat.
const REPLAY_HASH_SEED: u64 = 0x5eed_0f7e_91a7;

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The configuration file.
    pub config: PathBuf,
    /// (port name, capture file) pairs.
    pub inputs: Vec<(String, PathBuf)>,
    /// Where outputs and the summary go (created if missing).
    pub output_dir: PathBuf,
}

/// A replay that could not run, with what to fix.
#[derive(Debug)]
pub struct ReplayError(pub String);

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReplayError {}

/// What a replay did; also written as `summary.json`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Frames read from all inputs.
    pub frames: u64,
    /// Per port, by name.
    pub ports: BTreeMap<String, PortSummary>,
    /// Per bridge, by name.
    pub bridges: BTreeMap<String, BridgeSummary>,
    /// Time each frame spent in the switch, from the start of its
    /// processing to the end of its transmit flush (one frame per burst:
    /// replay feeds frames one at a time, in timestamp order).
    pub latency: LatencySummary,
    /// The connection tracker's counters at the end.
    pub conntrack: ConntrackSummary,
}

/// What connection tracking did in a replay.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
pub struct ConntrackSummary {
    /// Connections tracked at the end.
    pub entries: u32,
    /// Connections created.
    pub created: u64,
    /// Connections removed after their timeout.
    pub expired: u64,
    /// Early connections evicted to make room.
    pub evicted: u64,
    /// New connections refused by a full table.
    pub table_full: u64,
    /// New translated connections refused for want of a port.
    pub nat_ports_exhausted: u64,
    /// Frames found INVALID, all reasons.
    pub invalid: u64,
}

impl ConntrackSummary {
    /// From the tracker's counters.
    pub fn new(c: &vswitch_pipeline::conntrack::ConntrackCounters) -> ConntrackSummary {
        ConntrackSummary {
            entries: c.entries,
            created: c.created,
            expired: c.expired,
            evicted: c.evicted,
            table_full: c.table_full,
            nat_ports_exhausted: c.nat_ports_exhausted,
            invalid: c.invalid.iter().sum(),
        }
    }
}

struct Input {
    port: PortId,
    reader: PcapReader,
    /// The frame read ahead: (timestamp, bytes), or None at end of file.
    next: Option<(u64, Vec<u8>)>,
    path: PathBuf,
}

impl Input {
    fn advance(&mut self) -> Result<(), ReplayError> {
        let frame = self
            .reader
            .next_frame()
            .map_err(|e| ReplayError(format!("input {}: {e}", self.path.display())))?;
        match frame {
            Some(f) => {
                let (slot_ts, slot) = self.next.get_or_insert_with(|| (0, Vec::new()));
                *slot_ts = f.timestamp_ns;
                slot.clear();
                slot.extend_from_slice(f.data);
            }
            None => self.next = None,
        }
        Ok(())
    }
}

/// Seconds of packet time: the MAC-aging clock.
fn seconds(timestamp_ns: u64) -> u32 {
    (timestamp_ns / 1_000_000_000).min(u32::MAX as u64) as u32
}

/// Runs the replay and writes its outputs.
pub fn replay(options: &ReplayOptions) -> Result<ReplaySummary, ReplayError> {
    run(options, None)
}

/// [`replay`] with every frame traced: also returns, for each frame, the
/// stages it met and what each decided, as `replay --trace` prints it.
pub fn replay_traced(options: &ReplayOptions) -> Result<(ReplaySummary, String), ReplayError> {
    let mut text = String::new();
    let summary = run(options, Some(&mut text))?;
    Ok((summary, text))
}

/// The replay; with `trace_text`, every frame is traced and its trace
/// appended there.
fn run(
    options: &ReplayOptions,
    mut trace_text: Option<&mut String>,
) -> Result<ReplaySummary, ReplayError> {
    let mut log = TraceLog::default();
    // Two captures on one port would be merged by timestamp without a word.
    for (i, (name, path)) in options.inputs.iter().enumerate() {
        if let Some((_, first)) = options.inputs[..i].iter().find(|(n, _)| n == name) {
            return Err(ReplayError(format!(
                "--input {name}={} and --input {name}={}: port {name:?} is given twice; \
                 give each port one capture (merge captures with mergecap first)",
                first.display(),
                path.display()
            )));
        }
    }
    let config = Config::load(&options.config).map_err(|e| ReplayError(e.to_string()))?;
    let datapath = Datapath::new(&config.datapath_spec(), REPLAY_HASH_SEED)
        .map_err(|e| ReplayError(format!("{}: {e}", options.config.display())))?;
    std::fs::create_dir_all(&options.output_dir).map_err(|e| {
        ReplayError(format!(
            "cannot create output directory {}: {e}",
            options.output_dir.display()
        ))
    })?;

    let mut inputs = Vec::new();
    for (name, path) in &options.inputs {
        let port = datapath.port_id(name).ok_or_else(|| {
            let names: Vec<&str> = config.ports().map(|p| p.name.as_str()).collect();
            ReplayError(format!(
                "--input {name}={}: the configuration has no port {name:?} (ports: {})",
                path.display(),
                names.join(", ")
            ))
        })?;
        let reader = PcapReader::open(path).map_err(|e| ReplayError(e.to_string()))?;
        let mut input = Input {
            port,
            reader,
            next: None,
            path: path.clone(),
        };
        input.advance()?;
        inputs.push(input);
    }

    let mut tx = TxPorts::new(Vec::new());
    for port in config
        .ports()
        .filter(|p| !matches!(p.kind, crate::config::PortKind::Tunnel(_)))
    {
        let path = output_path(&options.output_dir, &port.name);
        let writer = PcapWriter::create(&path).map_err(|e| ReplayError(e.to_string()))?;
        let id = datapath.port_id(&port.name).unwrap_or_default();
        tx.insert(id, Box::new(PcapPort::new(&port.name, None, Some(writer))));
    }
    let mut runner = BurstRunner::default();
    runner.trace_all = trace_text.is_some();
    let conntrack = Arc::new(ConnTable::with_config(ConntrackConfig {
        limit: config.switch.conntrack_limit,
        ..ConntrackConfig::default()
    }));
    runner.set_conntrack(Box::new(Conntrack::new(Arc::clone(&conntrack))));
    let mut stats = Stats::new(datapath.port_count());
    let mut frames = 0u64;
    let mut swept_at = None;
    let mut latency = Histogram::new();
    let (started, started_cycles) = (std::time::Instant::now(), cycles());

    loop {
        // The earliest pending frame; ties go to the input given first.
        let next = inputs
            .iter()
            .enumerate()
            .filter_map(|(i, input)| input.next.as_ref().map(|(ts, _)| (*ts, i)))
            .min();
        let Some((timestamp_ns, i)) = next else { break };
        let now = seconds(timestamp_ns);
        if swept_at != Some(now) {
            datapath.sweep_macs(now);
            conntrack.sweep(now);
            swept_at = Some(now);
        }
        let input = &mut inputs[i];
        if let Some((_, frame)) = &mut input.next {
            frames += 1;
            if frame.len() > FRAME_CAPACITY {
                stats.rx(input.port, frame.len());
                stats.drop(input.port, vswitch_pipeline::DropReason::RxFrameTooLong);
            } else {
                let sink: &mut dyn TraceSink = match trace_text {
                    Some(_) => &mut log,
                    None => &mut NoTrace,
                };
                let start = cycles();
                runner.process(
                    &datapath,
                    input.port,
                    &mut [&mut frame[..]],
                    &[timestamp_ns],
                    now,
                    &mut tx,
                    &mut stats,
                    sink,
                );
                tx.flush(&mut stats);
                latency.record(cycles().wrapping_sub(start), 1);
            }
        }
        if let Some(text) = trace_text.as_deref_mut() {
            render_trace(text, frames, timestamp_ns, &datapath, &mut log);
        }
        input.advance()?;
    }
    // Flush every output (not only those with frames): capture ports
    // report what they wrote only at a flush, and write errors surface
    // here rather than in a destructor.
    for (id, mut port) in tx.into_inner() {
        let done = port.tx_flush();
        count_tx_done(&mut stats, id, &done);
        if let Some(e) = done.error {
            return Err(ReplayError(format!(
                "writing output of port {}: {e}",
                port.name()
            )));
        }
    }

    let secs = started.elapsed().as_secs_f64();
    let tsc_hz = cycles().wrapping_sub(started_cycles) as f64 / secs.max(1e-9);
    let mut summary = summarize(&datapath, &stats, frames, swept_at.unwrap_or(0));
    summary.latency = latency.summary(tsc_hz);
    summary.conntrack = ConntrackSummary::new(&conntrack.counters());
    let json = serde_json::to_string_pretty(&summary)
        .map_err(|e| ReplayError(format!("cannot encode the summary: {e}")))?;
    let path = options.output_dir.join("summary.json");
    std::fs::write(&path, json + "\n")
        .map_err(|e| ReplayError(format!("cannot write {}: {e}", path.display())))?;
    Ok(summary)
}

/// Appends the trace of frame number `n` (from 1) to `text` and empties
/// `log`.
fn render_trace(text: &mut String, n: u64, timestamp_ns: u64, dp: &Datapath, log: &mut TraceLog) {
    use std::fmt::Write as _;
    let name = |p: PortId| {
        dp.port_name(p)
            .map_or_else(|| format!("port{p}"), str::to_string)
    };
    let _ = writeln!(
        text,
        "frame {n} at {}.{:09}:",
        timestamp_ns / 1_000_000_000,
        timestamp_ns % 1_000_000_000
    );
    for (_, event) in log.events.drain(..) {
        let _ = writeln!(text, "  {}", event.render(&name));
    }
}

/// Where replay writes the frames sent out of `port`.
pub fn output_path(dir: &Path, port: &str) -> PathBuf {
    dir.join(format!("{port}.pcap"))
}

fn summarize(datapath: &Datapath, stats: &Stats, frames: u64, now: u32) -> ReplaySummary {
    let ports = stats
        .ports
        .iter()
        .enumerate()
        .filter_map(|(id, c)| {
            let name = datapath.port_name(id as PortId)?;
            Some((name.to_string(), PortSummary::new(c)))
        })
        .collect();
    let bridges = (0..datapath.bridge_count())
        .filter_map(|b| {
            Some((
                datapath.bridge_name(b)?.to_string(),
                BridgeSummary::new(datapath.mac_table(b)?, now),
            ))
        })
        .collect();
    ReplaySummary {
        frames,
        ports,
        bridges,
        latency: LatencySummary::default(),
        conntrack: ConntrackSummary::default(),
    }
}
