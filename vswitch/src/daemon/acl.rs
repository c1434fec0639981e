//! `acl-show`: each port's ACL, its defaults and its rules with their hit
//! counts (since the datapath was built: a configuration change starts
//! them again). A rule counts the frames it decided on a flow cache miss;
//! frames the flow cache decided after it (the rest of a flow) count on
//! the port's counters, not the rule's.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use serde_json::{json, Value};
use vswitch_pipeline::Datapath;

/// The ACLs of `dp`'s ports, in port id order.
pub(super) fn show(dp: &Datapath) -> Value {
    let acls: Vec<Value> = dp
        .port_ids()
        .filter_map(|id| Some((id, dp.acl(id)?)))
        .map(|(id, acl)| {
            let rules: Vec<Value> = acl
                .rules
                .iter()
                .map(|r| {
                    json!({
                        "name": r.spec.name,
                        "direction": r.spec.direction.name(),
                        "action": format!("{:?}", r.spec.action).to_lowercase(),
                        "hits": r.hits.load(Ordering::Relaxed),
                    })
                })
                .collect();
            json!({
                "port": dp.port_name(id).unwrap_or("?"),
                "default_ingress": if acl.default_allows(vswitch_pipeline::acl::Direction::Ingress) { "allow" } else { "deny" },
                "default_egress": if acl.default_allows(vswitch_pipeline::acl::Direction::Egress) { "allow" } else { "deny" },
                "rules": rules,
            })
        })
        .collect();
    json!({ "acls": acls })
}

/// `acl-show` for people.
pub(super) fn render_show(o: &mut String, v: &Value) {
    let s = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let acls = v["acls"].as_array().map_or(&[][..], |a| a.as_slice());
    if acls.is_empty() {
        let _ = writeln!(o, "no port has an ACL");
    }
    for acl in acls {
        let _ = writeln!(
            o,
            "port {}: default ingress {}, egress {}",
            s(&acl["port"]),
            s(&acl["default_ingress"]),
            s(&acl["default_egress"])
        );
        for r in acl["rules"].as_array().into_iter().flatten() {
            let _ = writeln!(
                o,
                "  {:<24} {:<7} {:<5} hits {}",
                s(&r["name"]),
                s(&r["direction"]),
                s(&r["action"]),
                r["hits"]
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_show_renders_each_rule_with_its_hits() {
        let v = json!({ "acls": [{ "port": "web", "default_ingress": "deny", "default_egress": "allow",
            "rules": [{ "name": "http", "direction": "ingress", "action": "allow", "hits": 7 }] }] });
        let mut o = String::new();
        render_show(&mut o, &v);
        assert!(
            o.contains("port web: default ingress deny, egress allow"),
            "{o}"
        );
        assert!(o.contains("http") && o.contains("hits 7"), "{o}");
        let mut none = String::new();
        render_show(&mut none, &json!({ "acls": [] }));
        assert_eq!(none, "no port has an ACL\n");
    }
}
