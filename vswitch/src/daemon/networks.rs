//! The container networks as `show` reports them: each network's gateway,
//! what it routes to, its neighbours, and the ICMP errors its rate limit
//! held back.

use std::fmt::Write as _;

use serde_json::{json, Value};
use vswitch_pipeline::overlay::{word_to_mac, Origin};
use vswitch_pipeline::Datapath;

fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The networks of `dp` at second `now`.
pub(crate) fn networks_json(dp: &Datapath, now: u32) -> Value {
    let name_of = |n: usize| dp.networks().get(n).map(|n| n.spec.name.clone());
    let networks: Vec<Value> = dp
        .networks()
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let spec = &n.spec;
            let neighbours: Vec<Value> = n
                .state
                .neighbours
                .entries()
                .map(|e| {
                    json!({
                        "address": e.addr.to_string(),
                        "mac": (e.value != 0).then(|| mac_text(&word_to_mac(e.value))),
                        "origin": if e.origin == Origin::Static { "static" } else { "learned" },
                        "age": now.saturating_sub(e.seen),
                    })
                })
                .collect();
            json!({
                "name": spec.name,
                "bridge": dp.bridge_name(spec.bridge),
                "vlan": spec.vlan,
                "subnet": format!("{}/{}", spec.subnet.0, spec.subnet.1),
                "gateway": spec.gateway.to_string(),
                "gateway_mac": mac_text(&spec.gateway_mac),
                "routes_to": spec.routes_to.iter().filter_map(|r| name_of(*r)).collect::<Vec<_>>(),
                // Listed here, but not listing this one back: not routed yet.
                "routes_one_sided": spec
                    .routes_to
                    .iter()
                    .filter(|r| dp.networks().get(**r).is_some_and(|o| !o.spec.routes_to.contains(&i)))
                    .filter_map(|r| name_of(*r))
                    .collect::<Vec<_>>(),
                "uplink": spec.uplink.and_then(|u| dp.uplinks().get(u)).map(|u| u.spec.name.clone()),
                "neighbours": neighbours,
                "icmp_suppressed": n.state.icmp.suppressed(),
            })
        })
        .collect();
    Value::Array(networks)
}

/// `show`'s lines for the networks in `v` (what [`networks_json`] made).
pub(crate) fn render_networks(o: &mut String, v: &Value) {
    let s = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    for n in v.as_array().into_iter().flatten() {
        let routes: Vec<String> = n["routes_to"]
            .as_array()
            .into_iter()
            .flatten()
            .map(s)
            .collect();
        let one_sided: Vec<String> = n["routes_one_sided"]
            .as_array()
            .into_iter()
            .flatten()
            .map(s)
            .collect();
        let waiting = if one_sided.is_empty() {
            String::new()
        } else {
            format!(
                " (not routed until they list {} too: {})",
                s(&n["name"]),
                one_sided.join(", ")
            )
        };
        let uplink = match &n["uplink"] {
            Value::Null => String::new(),
            u => format!(", default via uplink {}", s(u)),
        };
        let _ = writeln!(
            o,
            "network {} on {} vlan {}: {} gateway {} ({}), routes to [{}]{waiting}{uplink}, icmp suppressed {}",
            s(&n["name"]),
            s(&n["bridge"]),
            n["vlan"],
            s(&n["subnet"]),
            s(&n["gateway"]),
            s(&n["gateway_mac"]),
            routes.join(", "),
            n["icmp_suppressed"]
        );
        for e in n["neighbours"].as_array().into_iter().flatten() {
            let mac = match &e["mac"] {
                Value::Null => "(incomplete)".to_string(),
                m => s(m),
            };
            let _ = writeln!(
                o,
                "  neighbour {:<16} {:<18} {:<8} age {}",
                s(&e["address"]),
                mac,
                s(&e["origin"]),
                e["age"]
            );
        }
    }
}
