//! The control socket: a Unix stream socket speaking the JSON protocol of
//! `docs/control-protocol.md`: a client writes one request, a JSON object
//! on one line (`{"method":"show"}`), and reads one reply line,
//! `{"result":...}` or `{"error":"..."}`. A line of words (`show`,
//! `fdb-show br0`) is read as the request of that name, for people at a
//! socket.
//!
//! Methods: `show` (bridges, ports, what each is attached to), `stats`
//! (per-port packets, bytes, drops by reason in the pipeline, and frames
//! the kernel or device lost, by cause), `pmd-stats` (per-worker loop
//! counters and cycles per packet), `fdb-show` (the MAC table),
//! `tunnel-show`, `export` (the configuration document) and `transact`
//! (operations on the configuration, all or nothing: [`crate::db`]).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Shared;
use crate::db::Op;
use crate::report::{BridgeSummary, PortSummary};

/// What a connection may do, from its credentials (see
/// [`super::control_server`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    /// Root or the daemon's own user: every request.
    ReadWrite,
    /// A member of the control group: requests that change nothing.
    ReadOnly {
        /// The group's name, for messages.
        group: String,
    },
}

/// Refuses a request that writes on a read-only connection.
fn allowed(writes: bool, access: &Access) -> Result<(), ControlError> {
    match access {
        Access::ReadOnly { group } if writes => Err(ControlError(format!(
            "permission denied: members of group {group} may only read; changes need root (run vsctl as root)"
        ))),
        _ => Ok(()),
    }
}

/// A request of the control protocol: `{"method": NAME, "params": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "kebab-case")]
pub enum Request {
    /// Bridges, ports and what each is attached to.
    Show,
    /// Per-port counters.
    Stats,
    /// Per-worker loop and flow-cache counters.
    PmdStats,
    /// The MAC table of a bridge.
    FdbShow {
        /// The bridge.
        bridge: String,
    },
    /// Tunnels with their remote VTEPs and the MACs behind them, and the
    /// uplinks' neighbours.
    TunnelShow,
    /// The configuration document, as stored.
    Export,
    /// Operations on the configuration, applied all together or not at all.
    Transact {
        /// In order.
        ops: Vec<Op>,
    },
    /// Removes the learned MACs of a bridge (static ones stay).
    FdbFlush {
        /// The bridge.
        bridge: String,
    },
    /// Each port's stages.
    DumpPipeline,
    /// The tracked connections.
    ConntrackShow,
    /// Each port's ACL with the hits of its rules.
    AclShow,
    /// Removes the tracked connections (of one zone, when given).
    ConntrackFlush {
        /// The zone.
        zone: Option<u16>,
    },
    /// Where a packet described in flow syntax, entering a bridge, would go.
    Trace {
        /// The bridge.
        bridge: String,
        /// The packet, in flow syntax ([`crate::flow_syntax`]).
        flow: String,
    },
}

impl Request {
    /// Parses one request line: a JSON request, or the words of one
    /// (`show`, `fdb-show br0`, `trace br0 in_port=c1,...`); or says what
    /// is wrong with it.
    pub fn parse(line: &str) -> Result<Request, ControlError> {
        let line = line.trim();
        if line.starts_with('{') {
            return serde_json::from_str(line)
                .map_err(|e| ControlError(format!("bad request: {e}")));
        }
        let mut words = line.split_whitespace();
        if line.split_whitespace().next() == Some("trace") {
            let _ = words.next();
            return match (words.next(), words.collect::<Vec<_>>().join("")) {
                (Some(bridge), flow) if !flow.is_empty() => Ok(Request::Trace {
                    bridge: bridge.to_string(),
                    flow,
                }),
                _ => Err(ControlError(
                    "trace needs a bridge and a packet: trace br0 in_port=c1,dl_dst=02:00:00:00:00:02"
                        .into(),
                )),
            };
        }
        let request = match (words.next(), words.next()) {
            (Some("show"), None) => Request::Show,
            (Some("stats"), None) => Request::Stats,
            (Some("pmd-stats"), None) => Request::PmdStats,
            (Some("fdb-show"), Some(bridge)) => Request::FdbShow {
                bridge: bridge.to_string(),
            },
            (Some("tunnel-show"), None) => Request::TunnelShow,
            (Some("export"), None) => Request::Export,
            (Some("fdb-flush"), Some(bridge)) => Request::FdbFlush {
                bridge: bridge.to_string(),
            },
            (Some("dump-pipeline"), None) => Request::DumpPipeline,
            (Some("conntrack-show"), None) => Request::ConntrackShow,
            (Some("acl-show"), None) => Request::AclShow,
            (Some("conntrack-flush"), zone) => Request::ConntrackFlush {
                zone: super::conntrack::parse_zone(line, zone)?,
            },
            _ => {
                return Err(ControlError(format!(
                    "unknown command {line:?}: send a JSON request, or one of show, stats, pmd-stats, fdb-show <bridge>, fdb-flush <bridge>, tunnel-show, dump-pipeline, conntrack-show, conntrack-flush [zone], acl-show, trace <bridge> <packet>, export"
                )))
            }
        };
        match words.next() {
            None => Ok(request),
            Some(extra) => Err(ControlError(format!(
                "{line:?}: unexpected {extra:?} after the command"
            ))),
        }
    }

    /// Whether the request changes the daemon's state: such requests
    /// need read-write [`Access`]. Every request is named, so a new one
    /// must say.
    pub fn writes(&self) -> bool {
        match self {
            Request::Show
            | Request::Stats
            | Request::PmdStats
            | Request::FdbShow { .. }
            | Request::TunnelShow
            | Request::Export
            | Request::DumpPipeline
            | Request::Trace { .. }
            | Request::ConntrackShow
            | Request::AclShow => false,
            Request::FdbFlush { .. } | Request::ConntrackFlush { .. } => true,
            Request::Transact { ops } => ops.iter().any(Op::writes),
        }
    }

    /// The method's name.
    pub fn method(&self) -> &'static str {
        match self {
            Request::Show => "show",
            Request::Stats => "stats",
            Request::PmdStats => "pmd-stats",
            Request::FdbShow { .. } => "fdb-show",
            Request::TunnelShow => "tunnel-show",
            Request::Export => "export",
            Request::Transact { .. } => "transact",
            Request::FdbFlush { .. } => "fdb-flush",
            Request::DumpPipeline => "dump-pipeline",
            Request::Trace { .. } => "trace",
            Request::ConntrackShow => "conntrack-show",
            Request::AclShow => "acl-show",
            Request::ConntrackFlush { .. } => "conntrack-flush",
        }
    }
}

/// The reply to one request line from a connection with `access`.
pub(crate) fn answer(line: &str, access: &Access, shared: &Shared, now: u32) -> Value {
    let request = Request::parse(line).and_then(|r| allowed(r.writes(), access).map(|_| r));
    let result = request.and_then(|request| match request {
        Request::Show => Ok(show(shared, now)),
        Request::Stats => Ok(stats(shared)),
        Request::PmdStats => Ok(pmd_stats(shared)),
        Request::FdbShow { bridge } => fdb(shared, &bridge, now),
        Request::TunnelShow => Ok(tunnels(shared, now)),
        Request::Export => super::transact::export(shared).map_err(ControlError),
        Request::Transact { ops } => super::transact::run(shared, &ops).map_err(ControlError),
        Request::FdbFlush { bridge } => {
            super::probe::fdb_flush(shared, &bridge).map_err(ControlError)
        }
        Request::DumpPipeline => Ok(super::probe::dump_pipeline(shared)),
        Request::Trace { bridge, flow } => {
            super::probe::trace(shared, &bridge, &flow, now).map_err(ControlError)
        }
        Request::ConntrackShow => Ok(super::conntrack::show(shared, now)),
        Request::AclShow => Ok(super::acl::show(&shared.datapath())),
        Request::ConntrackFlush { zone } => Ok(super::conntrack::flush(shared, zone)),
    });
    match result {
        Ok(result) => json!({ "result": result }),
        Err(e) => json!({ "error": e.0 }),
    }
}

fn show(shared: &Shared, now: u32) -> Value {
    json!({
        "uptime_secs": shared.started.elapsed().as_secs(),
        "workers": shared.reports.iter().map(|(core, _)| core).collect::<Vec<_>>(),
        "ports": shared.port_infos(),
        "networks": super::networks::networks_json(&shared.datapath(), now),
    })
}

fn stats(shared: &Shared) -> Value {
    let total = shared.port_stats();
    let device = shared.device_drops();
    let dp = shared.datapath();
    let ports: Vec<Value> = dp
        .port_ids()
        .map(|id| {
            let counters = total.ports.get(id as usize).cloned().unwrap_or_default();
            let mut port = json!(PortSummary::new(&counters));
            port["name"] = json!(dp.port_name(id).unwrap_or("?"));
            port["device_drops"] = json!(device.get(id as usize).cloned().unwrap_or_default());
            port
        })
        .collect();
    json!({ "ports": ports, "conntrack": super::conntrack::counters_json(shared) })
}

fn pmd_stats(shared: &Shared) -> Value {
    let workers: Vec<Value> = shared
        .worker_figures()
        .iter()
        .map(|w| {
            let (loops, cache) = (&w.loops, &w.cache);
            json!({
                "core": w.core,
                "packets": loops.packets,
                "batches": loops.batches,
                "busy_iterations": loops.busy_iterations,
                "idle_iterations": loops.idle_iterations,
                "handoffs": loops.handoffs,
                "busy_cycles": loops.busy_cycles,
                "cycles_per_packet": (w.cycles_per_packet() * 10.0).round() / 10.0,
                "rx_errors": loops.rx_errors,
                "reconfigurations": loops.reconfigurations,
                "poll_us": loops.poll_ns / 1000,
                "blocked_us": loops.blocked_ns / 1000,
                "sleeps": loops.sleeps,
                "wakeups": loops.wakeups,
                "quiet_us": loops.quiet_us,
                "latency": w.latency,
                "flow_cache": {
                    "hits": cache.hits,
                    "misses": cache.misses,
                    "inserts": cache.inserts,
                    "evictions": cache.evictions,
                    "stale": cache.stale,
                    "bypassed_bursts": cache.bypassed_bursts,
                },
            })
        })
        .collect();
    json!({ "workers": workers })
}

fn fdb(shared: &Shared, bridge: &str, now: u32) -> Result<Value, ControlError> {
    let dp = shared.datapath();
    let table = (0..dp.bridge_count())
        .find(|&b| dp.bridge_name(b) == Some(bridge))
        .and_then(|b| dp.mac_table(b));
    let Some(table) = table else {
        return Err(ControlError(format!("no bridge {bridge:?}")));
    };
    let entries: Vec<Value> = table
        .entries(now)
        .iter()
        .map(|e| {
            json!({
                "port": dp.port_name(e.port).unwrap_or("?"),
                "vlan": e.vlan,
                "mac": e.mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
                "age": e.age,
                "static": e.is_static,
            })
        })
        .collect();
    let mut answer = json!(BridgeSummary::new(table, now));
    answer["bridge"] = json!(bridge);
    answer["entries"] = json!(entries);
    Ok(answer)
}

fn mac_text(mac: &[u8; 6]) -> String {
    vswitch_pipeline::trace::mac_text(mac)
}

fn tunnels(shared: &Shared, now: u32) -> Value {
    use vswitch_pipeline::overlay::{word_to_mac, Origin};
    let dp = shared.datapath();
    let origin = |o: Origin| match o {
        Origin::Static => "static",
        Origin::Learned => "learned",
    };
    let tunnels: Vec<Value> = dp
        .tunnels()
        .iter()
        .map(|t| {
            let vteps: Vec<Value> = t
                .state
                .vteps
                .entries()
                .map(|e| {
                    let macs: Vec<String> = t
                        .state
                        .macs
                        .entries(now)
                        .iter()
                        .filter(|m| m.port as usize == e.index)
                        .map(|m| mac_text(&m.mac))
                        .collect();
                    json!({
                        "remote": e.addr.to_string(),
                        "origin": origin(e.origin),
                        "age": now.saturating_sub(e.seen),
                        "macs": macs,
                    })
                })
                .collect();
            json!({
                "name": t.name,
                "type": t.spec.kind.name(),
                "vni": t.spec.vni,
                "local": t.spec.local.to_string(),
                "udp_port": t.spec.udp_port,
                "uplink": dp.uplink(t.uplink).map(|u| u.spec.name.clone()),
                "vteps": vteps,
            })
        })
        .collect();
    let uplinks: Vec<Value> = dp
        .uplinks()
        .iter()
        .map(|u| {
            let neighbours: Vec<Value> = u
                .neighbours
                .entries()
                .map(|e| {
                    json!({
                        "address": e.addr.to_string(),
                        "mac": (e.value != 0).then(|| mac_text(&word_to_mac(e.value))),
                        "origin": origin(e.origin),
                        "age": now.saturating_sub(e.seen),
                    })
                })
                .collect();
            json!({
                "name": u.spec.name,
                "mac": mac_text(&u.spec.mac),
                "addresses": u.spec.addresses.iter().map(|(a, l)| format!("{a}/{l}")).collect::<Vec<_>>(),
                "mtu": u.spec.mtu,
                "neighbours": neighbours,
            })
        })
        .collect();
    json!({ "tunnels": tunnels, "uplinks": uplinks })
}

/// Why a control request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlError(pub String);

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ControlError {}

/// Sends `command` (a request line: JSON, or words such as `show` or
/// `fdb-show br0`) to the daemon at `socket` and returns its result.
pub fn request(socket: &Path, command: &str) -> Result<Value, ControlError> {
    call(socket, &Request::parse(command)?)
}

/// Sends `request` to the daemon at `socket` and returns its result, or
/// the daemon's error.
pub fn call(socket: &Path, request: &Request) -> Result<Value, ControlError> {
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        ControlError(format!(
            "cannot reach vswitchd at {}: {e} (is it running? `--socket` names another path)",
            socket.display()
        ))
    })?;
    let io = |e: std::io::Error| ControlError(format!("control socket {}: {e}", socket.display()));
    // A transaction waits for every worker to take the change (5 s at most).
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(io)?;
    let line = serde_json::to_string(request)
        .map_err(|e| ControlError(format!("cannot encode the request: {e}")))?;
    let sent = stream.write_all(format!("{line}\n").as_bytes());
    // One line, even when sending failed: the daemon closes a connection
    // it refuses (or whose request it stopped reading) right after its
    // one-line reply, which then comes before the failed send and the
    // reset the kernel reports.
    let mut reply = String::new();
    let received = BufReader::new(&stream).read_line(&mut reply);
    if reply.is_empty() {
        sent.map_err(io)?;
        received.map_err(io)?;
    }
    let value: Value = serde_json::from_str(&reply)
        .map_err(|e| ControlError(format!("bad answer from vswitchd: {e}")))?;
    if let Some(message) = value.get("error") {
        return Err(ControlError(
            message
                .as_str()
                .map_or_else(|| message.to_string(), str::to_string),
        ));
    }
    value
        .get("result")
        .cloned()
        .ok_or_else(|| ControlError(format!("bad answer from vswitchd: no result in {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_or_say_what_is_wrong() {
        assert_eq!(Request::parse(" show \n"), Ok(Request::Show));
        assert_eq!(Request::parse("pmd-stats"), Ok(Request::PmdStats));
        assert_eq!(
            Request::parse("fdb-show br0"),
            Ok(Request::FdbShow {
                bridge: "br0".into()
            })
        );
        let e = Request::parse("fdb-show").unwrap_err().0;
        assert!(e.contains("fdb-show <bridge>"), "{e}");
        let e = Request::parse("stats now").unwrap_err().0;
        assert!(e.contains("stats now"), "{e}");
        let e = Request::parse("fdb-show br0 br1").unwrap_err().0;
        assert!(e.contains("unexpected \"br1\""), "{e}");
        assert!(Request::parse("").is_err());
    }

    #[test]
    fn read_only_access_refuses_writes_naming_the_group() {
        let read_only = Access::ReadOnly {
            group: "vsread".into(),
        };
        assert_eq!(allowed(false, &read_only), Ok(()));
        assert_eq!(allowed(true, &Access::ReadWrite), Ok(()));
        let e = allowed(true, &read_only).unwrap_err().0;
        assert!(e.contains("group vsread") && e.contains("need root"), "{e}");
        for line in [
            "show",
            "stats",
            "pmd-stats",
            "fdb-show br0",
            "tunnel-show",
            "export",
            "dump-pipeline",
            "acl-show",
            "trace br0 in_port=a",
        ] {
            assert!(!Request::parse(line).unwrap().writes(), "{line}");
        }
        assert!(Request::parse("fdb-flush br0").unwrap().writes());
    }

    #[test]
    fn json_requests_parse_and_say_whether_they_write() {
        assert_eq!(Request::parse(r#"{"method":"show"}"#), Ok(Request::Show));
        assert_eq!(
            Request::parse(r#"{"method":"fdb-show","params":{"bridge":"br0"}}"#),
            Ok(Request::FdbShow {
                bridge: "br0".into()
            })
        );
        let read = Request::parse(
            r#"{"method":"transact","params":{"ops":[{"op":"get","table":"port","record":"c1","columns":["vlan"]}]}}"#,
        )
        .unwrap();
        assert!(!read.writes(), "get and list only read");
        let write = Request::parse(
            r#"{"method":"transact","params":{"ops":[{"op":"list","table":"bridge"},{"op":"del-port","port":"c1"}]}}"#,
        )
        .unwrap();
        assert!(write.writes());
        assert!(!Request::Export.writes() && !Request::Stats.writes());
        let e = Request::parse(r#"{"method":"reboot"}"#).unwrap_err().0;
        assert!(
            e.starts_with("bad request: unknown variant `reboot`"),
            "{e}"
        );
        let e = Request::parse(r#"{"method":"fdb-show"}"#).unwrap_err().0;
        assert!(e.starts_with("bad request"), "{e}");
        // What the Rust client sends is what the daemon reads.
        for request in [Request::Show, write] {
            let line = serde_json::to_string(&request).unwrap();
            assert_eq!(Request::parse(&line), Ok(request));
        }
        assert_eq!(
            serde_json::to_string(&Request::Show).unwrap(),
            r#"{"method":"show"}"#
        );
    }
}
