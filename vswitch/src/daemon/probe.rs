//! Questions about the running pipeline that send nothing: `trace` (where
//! would this packet go, and why, as Open vSwitch's ofproto/trace),
//! `dump-pipeline` (which stages each port's frames meet) and `fdb-flush`.
//!
//! A trace runs a frame built from a flow description through the live
//! datapath as a probe: every stage reports, nothing is learned, and the
//! frames egress would send are collected here instead of sent.

use serde_json::{json, Value};
use vswitch_pipeline::datapath::PortRole;
use vswitch_pipeline::trace::TraceLog;
use vswitch_pipeline::{BurstRunner, PortId, Stats, TxSink};
use vswitch_ports::FRAME_CAPACITY;

use super::Shared;
use crate::flow_syntax::FlowDescription;

/// Collects what a probe would send.
struct Collected {
    slot: Vec<u8>,
    frames: Vec<(PortId, Vec<u8>)>,
}

impl TxSink for Collected {
    fn slot(&mut self, _port: PortId) -> Option<&mut [u8]> {
        Some(&mut self.slot)
    }

    fn commit(&mut self, port: PortId, len: usize, _timestamp_ns: u64) {
        let bytes = self.slot.get(..len).unwrap_or_default().to_vec();
        self.frames.push((port, bytes));
    }
}

/// The trace of the packet `flow` describes, entering `bridge`.
pub(crate) fn trace(shared: &Shared, bridge: &str, flow: &str, now: u32) -> Result<Value, String> {
    let dp = shared.datapath();
    let description = FlowDescription::parse(flow)?;
    let bridge_index = (0..dp.bridge_count())
        .find(|&b| dp.bridge_name(b) == Some(bridge))
        .ok_or_else(|| format!("no bridge {bridge:?}: `vsctl show` lists them"))?;
    let in_port = dp.port_id(&description.in_port).ok_or_else(|| {
        format!(
            "no port {:?}: `vsctl show` lists the ports",
            description.in_port
        )
    })?;
    match dp.port(in_port) {
        Some(p) if p.bridge as usize == bridge_index && p.role == PortRole::Bridge => {}
        Some(p) if p.role != PortRole::Bridge => {
            return Err(format!(
                "port {:?} is a tunnel or uplink port: trace a frame entering a bridge port of {bridge}",
                description.in_port
            ))
        }
        _ => {
            return Err(format!(
                "port {:?} is not in bridge {bridge}",
                description.in_port
            ))
        }
    }
    let mut frame = description.frame()?;
    let mut runner = BurstRunner::new(1);
    runner.trace_all = true;
    runner.probe = true;
    // A probe is judged by the tracker as a frame is, changing nothing.
    runner.set_conntrack(Box::new(vswitch_pipeline::conntrack::Conntrack::new(
        std::sync::Arc::clone(&shared.conntrack),
    )));
    let mut log = TraceLog::default();
    let mut sink = Collected {
        slot: vec![0; FRAME_CAPACITY],
        frames: Vec::new(),
    };
    let mut stats = Stats::new(dp.port_count());
    runner.process(
        &dp,
        in_port,
        &mut [&mut frame[..]],
        &[0],
        now,
        &mut sink,
        &mut stats,
        &mut log,
    );
    let name = |p: PortId| {
        dp.port_name(p)
            .map_or_else(|| format!("port{p}"), str::to_string)
    };
    let drops: Vec<Value> = stats
        .ports
        .iter()
        .enumerate()
        .flat_map(|(id, c)| {
            let port = name(id as PortId);
            c.drop_reasons().map(move |(reason, n)| {
                json!({ "port": port, "reason": reason.to_string(), "frames": n })
            })
        })
        .collect();
    Ok(json!({
        "bridge": bridge,
        "frame_len": frame.len(),
        "trace": log.events.iter().map(|(_, e)| e.render(&name)).collect::<Vec<_>>(),
        "outputs": sink.frames.iter().map(|(port, bytes)| json!({
            "port": name(*port),
            "len": bytes.len(),
        })).collect::<Vec<_>>(),
        "drops": drops,
    }))
}

/// Each port's role, bridge and the stages its frames meet, in order.
pub(crate) fn dump_pipeline(shared: &Shared) -> Value {
    let dp = shared.datapath();
    let ports: Vec<Value> = dp
        .port_ids()
        .filter_map(|id| {
            let p = dp.port(id)?;
            let (role, bridge) = match p.role {
                PortRole::Bridge => ("bridge", dp.bridge_name(p.bridge as usize)),
                PortRole::Tunnel(_) => ("tunnel", dp.bridge_name(p.bridge as usize)),
                PortRole::Uplink(_) => ("uplink", None),
            };
            Some(json!({
                "id": id,
                "name": p.name,
                "role": role,
                "bridge": bridge,
                "stages": p.chain.iter().map(|s| s.name()).collect::<Vec<_>>(),
                "flow_cache": p.cached,
            }))
        })
        .collect();
    json!({ "ports": ports })
}

/// Removes the learned MACs of `bridge` (static ones stay).
pub(crate) fn fdb_flush(shared: &Shared, bridge: &str) -> Result<Value, String> {
    let dp = shared.datapath();
    let table = (0..dp.bridge_count())
        .find(|&b| dp.bridge_name(b) == Some(bridge))
        .and_then(|b| dp.mac_table(b))
        .ok_or_else(|| format!("no bridge {bridge:?}: `vsctl show` lists them"))?;
    Ok(json!({ "bridge": bridge, "flushed": table.flush_learned() }))
}

/// `vsctl trace` as text: the stages' decisions, then what would be sent.
pub(crate) fn render_trace(o: &mut String, v: &Value) {
    use std::fmt::Write as _;
    let _ = writeln!(
        o,
        "probe: a {}-byte frame into {}; what it would learn is not stored, what it would send is not sent",
        v["frame_len"],
        v["bridge"].as_str().unwrap_or_default()
    );
    for line in v["trace"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "{}", line.as_str().unwrap_or_default());
    }
    let outputs = v["outputs"].as_array().map_or(&[][..], |a| a.as_slice());
    if outputs.is_empty() {
        let _ = writeln!(o, "sent: nothing");
    }
    for out in outputs {
        let _ = writeln!(
            o,
            "sent: {} bytes out of {}",
            out["len"],
            out["port"].as_str().unwrap_or_default()
        );
    }
    for d in v["drops"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "dropped: {} ({}, counted on {})",
            d["frames"],
            d["reason"].as_str().unwrap_or_default(),
            d["port"].as_str().unwrap_or_default()
        );
    }
}

/// `vsctl dump-pipeline` as text: one line per port.
pub(crate) fn render_pipeline(o: &mut String, v: &Value) {
    use std::fmt::Write as _;
    for p in v["ports"].as_array().into_iter().flatten() {
        let bridge = p["bridge"].as_str().unwrap_or("-");
        let stages: Vec<&str> = p["stages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let _ = writeln!(
            o,
            "{:<12} {:<7} bridge {bridge:<8} stages {}{}",
            p["name"].as_str().unwrap_or_default(),
            p["role"].as_str().unwrap_or_default(),
            stages.join(" -> "),
            if p["flow_cache"] == true {
                ""
            } else {
                " (not cached)"
            }
        );
    }
}
