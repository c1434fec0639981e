//! How `vsctl` prints the daemon's answers for people.

use serde_json::Value;

/// Renders a daemon answer to `command` for people, as `vsctl` prints it.
pub fn render(command: &str, v: &Value) -> String {
    use std::fmt::Write as _;
    let s = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    let mut out = String::new();
    let o = &mut out;
    match command.split_whitespace().next().unwrap_or("") {
        "trace" => super::probe::render_trace(o, v),
        "dump-pipeline" => super::probe::render_pipeline(o, v),
        "conntrack-show" => super::conntrack::render_show(o, v),
        "acl-show" => super::acl::render_show(o, v),
        "conntrack-flush" => super::conntrack::render_flush(o, v),
        "show" => {
            let _ = writeln!(
                o,
                "uptime {} s, workers on cores {}",
                v["uptime_secs"], v["workers"]
            );
            for p in v["ports"].as_array().into_iter().flatten() {
                let polled = match p["workers"].as_array() {
                    _ if p["state"] == "down" => "not polled while down".into(),
                    Some(w) if w.is_empty() => "no device: frames go through its uplink".into(),
                    _ => format!("polled on core {}", p["workers"]),
                };
                let _ = writeln!(
                    o,
                    "  {}/{:<10} {:<6} {:<4} {} ({polled})",
                    s(&p["bridge"]),
                    s(&p["name"]),
                    s(&p["kind"]),
                    s(&p["state"]),
                    s(&p["detail"]),
                );
            }
            super::networks::render_networks(o, &v["networks"]);
        }
        "stats" => {
            let _ = writeln!(
                o,
                "{:<12} {:>11} {:>13} {:>11} {:>13} {:>8}",
                "port", "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "drops"
            );
            for p in v["ports"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    o,
                    "{:<12} {:>11} {:>13} {:>11} {:>13} {:>8}",
                    s(&p["name"]),
                    s(&p["rx_packets"]),
                    s(&p["rx_bytes"]),
                    s(&p["tx_packets"]),
                    s(&p["tx_bytes"]),
                    p["drops"]
                );
                for (reason, n) in p["drop_reasons"].as_object().into_iter().flatten() {
                    let _ = writeln!(o, "{:>14}{reason}: {n}", "");
                }
                for (cause, n) in p["device_drops"].as_object().into_iter().flatten() {
                    let _ = writeln!(o, "{:>14}{cause} (kernel/device): {n}", "");
                }
                for key in ["sw_checksum", "sw_segmented"] {
                    if p[key].as_u64().is_some_and(|n| n > 0) {
                        let _ =
                            writeln!(o, "{:>14}{key} (offload done in software): {}", "", p[key]);
                    }
                }
                let offloaded = &p["csum_offloaded"];
                if offloaded.as_u64().is_some_and(|n| n > 0) {
                    let _ = writeln!(
                        o,
                        "{:>14}csum_offloaded (checksum left to the kernel): {offloaded}",
                        ""
                    );
                }
            }
            super::conntrack::render_counters(o, &v["conntrack"]);
        }
        "pmd-stats" => {
            for w in v["workers"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    o,
                    "core {}: packets {} batches {} busy/idle iterations {}/{} handoffs {} cycles/packet {}",
                    w["core"],
                    w["packets"],
                    w["batches"],
                    w["busy_iterations"],
                    w["idle_iterations"],
                    w["handoffs"],
                    w["cycles_per_packet"]
                );
                let (poll, blocked) = (
                    w["poll_us"].as_u64().unwrap_or(0),
                    w["blocked_us"].as_u64().unwrap_or(0),
                );
                let share = if poll + blocked > 0 {
                    100.0 * poll as f64 / (poll + blocked) as f64
                } else {
                    0.0
                };
                let _ = writeln!(
                    o,
                    "  idle: polling {:.3} s ({share:.1}%) blocked {:.3} s sleeps {} wakeups {}{}",
                    poll as f64 / 1e6,
                    blocked as f64 / 1e6,
                    w["sleeps"],
                    w["wakeups"],
                    match w["quiet_us"].as_u64() {
                        Some(us) if us > 0 => format!(" quiet {us} us"),
                        _ => String::new(),
                    }
                );
                let l = &w["latency"];
                let us = |v: &Value| {
                    v.as_u64()
                        .map_or("-".to_string(), |ns| format!("{:.1}", ns as f64 / 1e3))
                };
                let _ = writeln!(
                    o,
                    "  rx-to-tx in the switch: p50 {} us p99 {} us p99.9 {} us ({} frames)",
                    us(&l["p50_ns"]),
                    us(&l["p99_ns"]),
                    us(&l["p999_ns"]),
                    l["frames"]
                );
                let c = &w["flow_cache"];
                let _ = writeln!(
                    o,
                    "  flow cache: hits {} misses {} inserts {} evictions {} stale {} bypassed bursts {}",
                    c["hits"],
                    c["misses"],
                    c["inserts"],
                    c["evictions"],
                    c["stale"],
                    c["bypassed_bursts"]
                );
            }
        }
        "fdb-show" => {
            let _ = writeln!(o, "{:<12} {:>5} {:<18} {:>6}", "port", "vlan", "mac", "age");
            for e in v["entries"].as_array().into_iter().flatten() {
                let age = if e["static"] == Value::Bool(true) {
                    "static".to_string()
                } else {
                    e["age"].to_string()
                };
                let _ = writeln!(
                    o,
                    "{:<12} {:>5} {:<18} {:>6}",
                    s(&e["port"]),
                    s(&e["vlan"]),
                    s(&e["mac"]),
                    age
                );
            }
            let _ = writeln!(
                o,
                "learned {} moved {} aged {} evicted {}; not learned at the bridge/port limit {}/{}",
                v["learned"],
                v["moved"],
                v["aged"],
                v["evicted"],
                v["bridge_limit_hits"],
                v["port_limit_hits"]
            );
        }
        "tunnel-show" => {
            for u in v["uplinks"].as_array().into_iter().flatten() {
                let addresses: Vec<String> = u["addresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(s)
                    .collect();
                let _ = writeln!(
                    o,
                    "uplink {} mac {} mtu {} addresses {}",
                    s(&u["name"]),
                    s(&u["mac"]),
                    u["mtu"],
                    addresses.join(", ")
                );
                for n in u["neighbours"].as_array().into_iter().flatten() {
                    let mac = match &n["mac"] {
                        Value::Null => "(incomplete)".to_string(),
                        m => s(m),
                    };
                    let _ = writeln!(
                        o,
                        "  neighbour {:<28} {:<18} {:<8} age {}",
                        s(&n["address"]),
                        mac,
                        s(&n["origin"]),
                        n["age"]
                    );
                }
            }
            for t in v["tunnels"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    o,
                    "tunnel {} {} vni {} {}:{} over {}",
                    s(&t["name"]),
                    s(&t["type"]),
                    t["vni"],
                    s(&t["local"]),
                    t["udp_port"],
                    s(&t["uplink"])
                );
                for r in t["vteps"].as_array().into_iter().flatten() {
                    let macs: Vec<String> =
                        r["macs"].as_array().into_iter().flatten().map(s).collect();
                    // The first few MACs; `--json` has them all.
                    let shown = macs.iter().take(4).cloned().collect::<Vec<_>>().join(" ");
                    let more = macs.len().saturating_sub(4);
                    let _ = writeln!(
                        o,
                        "  vtep {:<28} {:<8} age {:<5} MACs behind it: {}{}{}",
                        s(&r["remote"]),
                        s(&r["origin"]),
                        r["age"],
                        macs.len(),
                        if shown.is_empty() {
                            String::new()
                        } else {
                            format!(": {shown}")
                        },
                        if more > 0 {
                            format!(" and {more} more")
                        } else {
                            String::new()
                        }
                    );
                }
            }
        }
        _ => {
            let _ = writeln!(o, "{v:#}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pmd_stats_text_shows_polling_blocked_and_wakeups() {
        let v = json!({"workers": [{
            "core": 1, "poll_us": 250_000, "blocked_us": 750_000,
            "sleeps": 12, "wakeups": 11, "quiet_us": 400, "flow_cache": {},
            "latency": {"frames": 7, "p50_ns": 1500, "p99_ns": 20000, "p999_ns": null}
        }]});
        let text = render("pmd-stats", &v);
        assert!(
            text.contains("rx-to-tx in the switch: p50 1.5 us p99 20.0 us p99.9 - us (7 frames)"),
            "{text}"
        );
        assert!(
            text.contains(
                "idle: polling 0.250 s (25.0%) blocked 0.750 s sleeps 12 wakeups 11 quiet 400 us"
            ),
            "{text}"
        );
    }

    #[test]
    fn show_text_says_which_ports_are_down() {
        let port = |name: &str, state: &str| {
            json!({"bridge": "br0", "name": name, "kind": "afxdp", "state": state,
                   "detail": format!("veth-{name}, 1 queue(s), native XDP, copy"), "workers": [0]})
        };
        let v = json!({"uptime_secs": 5, "workers": [0],
                       "ports": [port("c1", "down"), port("c2", "up")]});
        let text = render("show", &v);
        assert!(
            text.contains("br0/c1         afxdp  down veth-c1, 1 queue(s), native XDP, copy (not polled while down)"),
            "{text}"
        );
        assert!(
            text.contains("br0/c2         afxdp  up   veth-c2, 1 queue(s), native XDP, copy (polled on core [0])"),
            "{text}"
        );
    }

    #[test]
    fn stats_text_shows_offload_work_done_in_software() {
        let v = json!({"ports": [{"name": "c1", "rx_packets": 1, "rx_bytes": 2, "tx_packets": 3,
                       "tx_bytes": 4, "drops": 0, "sw_checksum": 5, "sw_segmented": 0,
                       "csum_offloaded": 6}]});
        let text = render("stats", &v);
        assert!(
            text.contains("sw_checksum (offload done in software): 5"),
            "{text}"
        );
        assert!(!text.contains("sw_segmented"), "{text}");
        assert!(
            text.contains("csum_offloaded (checksum left to the kernel): 6"),
            "{text}"
        );
    }

    #[test]
    fn render_survives_any_answer_shape() {
        for command in ["show", "stats", "pmd-stats", "fdb-show", "other"] {
            for v in [
                json!(null),
                json!({"ports": 3}),
                json!({"ports": [{"name": 1, "drop_reasons": []}]}),
                json!({"workers": [{"flow_cache": "x"}], "entries": [1, {}]}),
            ] {
                let _ = render(command, &v);
            }
        }
    }
}
