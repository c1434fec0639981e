//! The connection tracker seen from the control socket: `conntrack-show`
//! (every connection: zone, protocol, both tuples, state, translation,
//! age and expiry), `conntrack-flush` (all, or one zone), its counters in
//! `stats`, and for the Prometheus endpoint.

use std::fmt::Write as _;
use std::net::IpAddr;

use serde_json::{json, Value};
use vswitch_pipeline::conntrack::{ConnInfo, ConnTable, ConntrackCounters, InvalidReason, Tuple};
use vswitch_pipeline::wire::ip_proto;

use super::{ControlError, Shared};

/// The tracker's table.
fn table(shared: &Shared) -> &ConnTable {
    &shared.conntrack
}

fn addr(t: &Tuple, dst: bool) -> String {
    let a = if dst { t.dst } else { t.src };
    if t.ipv6 {
        IpAddr::from(a).to_string()
    } else {
        IpAddr::from([a[0], a[1], a[2], a[3]]).to_string()
    }
}

fn proto_name(proto: u8) -> String {
    match proto {
        ip_proto::TCP => "tcp".into(),
        ip_proto::UDP => "udp".into(),
        ip_proto::ICMP => "icmp".into(),
        ip_proto::ICMPV6 => "icmpv6".into(),
        other => other.to_string(),
    }
}

fn tuple_json(t: &Tuple) -> Value {
    json!({
        "src": addr(t, false),
        "dst": addr(t, true),
        "src_port": t.src_port,
        "dst_port": t.dst_port,
    })
}

/// What the two tuples say was translated: the source (the reply goes
/// to another address or port than the original came from) and the
/// destination.
fn nat_json(c: &ConnInfo) -> Value {
    let (o, r) = (&c.original, &c.reply);
    let mut nat = serde_json::Map::new();
    if (r.dst, r.dst_port) != (o.src, o.src_port) {
        nat.insert(
            "snat".into(),
            json!(format!("{}:{}", addr(r, true), r.dst_port)),
        );
    }
    // An echo's identifier is both its ports: a translated one is no
    // destination translation.
    let echo = matches!(o.proto, ip_proto::ICMP | ip_proto::ICMPV6);
    if r.src != o.dst || (!echo && r.src_port != o.dst_port) {
        nat.insert(
            "dnat".into(),
            json!(format!("{}:{}", addr(r, false), r.src_port)),
        );
    }
    Value::Object(nat)
}

/// `conntrack-show`: every live connection at `now`.
pub(crate) fn show(shared: &Shared, now: u32) -> Value {
    let t = table(shared);
    let connections: Vec<Value> = t
        .dump(now)
        .map(|c| {
            json!({
                "zone": c.original.zone,
                "proto": proto_name(c.original.proto),
                "original": tuple_json(&c.original),
                "reply": tuple_json(&c.reply),
                "state": c.tcp_state.map(|s| s.name()),
                "replied": c.reply_seen,
                "nat": nat_json(&c),
                "age_secs": c.age,
                "expires_in_secs": c.expires_in,
            })
        })
        .collect();
    json!({
        "limit": t.capacity(),
        "entries": t.len(),
        "connections": connections,
    })
}

/// `conntrack-flush`: removes every connection, or those of `zone`.
pub(crate) fn flush(shared: &Shared, zone: Option<u16>) -> Value {
    json!({ "flushed": table(shared).flush(zone) })
}

/// The counters, for `stats`.
pub(crate) fn counters_json(shared: &Shared) -> Value {
    let t = table(shared);
    let c = t.counters();
    let invalid: serde_json::Map<String, Value> = InvalidReason::ALL
        .iter()
        .filter(|r| c.invalid(**r) > 0)
        .map(|r| (r.name().to_string(), json!(c.invalid(*r))))
        .collect();
    json!({
        "limit": t.capacity(),
        "entries": c.entries,
        "created": c.created,
        "expired": c.expired,
        "evicted": c.evicted,
        "table_full": c.table_full,
        "nat_ports_exhausted": c.nat_ports_exhausted,
        "invalid": invalid,
    })
}

/// The counters, for the Prometheus endpoint.
pub(crate) fn counters(shared: &Shared) -> (u32, ConntrackCounters) {
    let t = table(shared);
    (t.capacity(), t.counters())
}

fn endpoint(t: &Value) -> String {
    format!(
        "{}:{} > {}:{}",
        s(&t["src"]),
        t["src_port"],
        s(&t["dst"]),
        t["dst_port"]
    )
}

fn s(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

/// `conntrack-show` for people: one line a connection.
pub(crate) fn render_show(o: &mut String, v: &Value) {
    let _ = writeln!(o, "{} connections of at most {}", v["entries"], v["limit"]);
    for c in v["connections"].as_array().into_iter().flatten() {
        let state = match &c["state"] {
            Value::String(state) => state.clone(),
            _ if c["replied"] == true => "replied".into(),
            _ => "unreplied".into(),
        };
        let nat: Vec<String> = c["nat"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(kind, to)| format!("{kind} {}", s(to)))
            .collect();
        let nat = if nat.is_empty() {
            String::new()
        } else {
            format!(" [{}]", nat.join(", "))
        };
        let _ = writeln!(
            o,
            "zone {} {} {} reply {} {state}{nat} age {} s expires in {} s",
            c["zone"],
            s(&c["proto"]),
            endpoint(&c["original"]),
            endpoint(&c["reply"]),
            c["age_secs"],
            c["expires_in_secs"]
        );
    }
}

/// The `conntrack` section of `stats` for people.
pub(crate) fn render_counters(o: &mut String, c: &Value) {
    if c.is_null() {
        return;
    }
    let _ = writeln!(
        o,
        "conntrack: {} of {} entries, {} created, {} expired, {} evicted, {} refused (table full), {} refused (nat ports exhausted)",
        c["entries"], c["limit"], c["created"], c["expired"], c["evicted"], c["table_full"], c["nat_ports_exhausted"]
    );
    for (reason, n) in c["invalid"].as_object().into_iter().flatten() {
        let _ = writeln!(o, "{:>14}invalid {reason}: {n}", "");
    }
}

/// The zone of `conntrack-flush ZONE` (none: every zone).
pub(crate) fn parse_zone(line: &str, zone: Option<&str>) -> Result<Option<u16>, ControlError> {
    zone.map(|z| {
        z.parse::<u16>()
            .map_err(|_| ControlError(format!("{line:?}: a zone is a number from 0 to 65535")))
    })
    .transpose()
}

/// `conntrack-flush` for people.
pub(crate) fn render_flush(o: &mut String, v: &Value) {
    let _ = writeln!(o, "{} connections removed", v["flushed"]);
}
