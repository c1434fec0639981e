use vswitch_pipeline::acl::{Direction, Peer, RuleAction};

use super::super::Config;

const BASE: &str = r#"
[[bridge]]
name = "br0"
[[bridge.port]]
name = "web"
type = "null"
vlan = 10
labels = { app = "web" }
[[bridge.port]]
name = "lb"
type = "null"
vlan = 10
labels = { app = "lb" }
[[bridge.port]]
name = "other"
type = "null"
vlan = 20

[[network]]
name = "front"
bridge = "br0"
vlan = 10
subnet = "10.1.0.0/24"
gateway = "10.1.0.1"
"#;

fn parse(extra: &str) -> Result<Config, String> {
    Config::parse(&format!("{BASE}{extra}\n"), "a.toml").map_err(|e| e.to_string())
}

#[test]
fn a_port_acl_with_every_kind_of_rule() {
    let config = parse(
        r#"
[[acl]]
port = "web"
default_ingress = "deny"
[[acl.rules]]
name = "http"
direction = "ingress"
action = "allow"
proto = "tcp"
ports = "80-81"
peers = [{ cidr = "10.1.0.0/24", except = ["10.1.0.9/32"] }, { labels = { app = "lb" } }]
[[acl.rules]]
direction = "egress"
action = "log"
"#,
    )
    .unwrap();
    let spec = config.datapath_spec();
    assert_eq!(spec.acls.len(), 1);
    let acl = &spec.acls[0];
    assert_eq!(acl.port, 0);
    assert!(!acl.default_ingress_allow && acl.default_egress_allow);
    let http = &acl.rules[0];
    assert_eq!(
        (http.direction, http.action),
        (Direction::Ingress, RuleAction::Allow)
    );
    assert_eq!((http.proto, http.ports), (Some(6), Some((80, 81))));
    assert!(matches!(&http.peers[0], Peer::Block(b) if b.except.len() == 1));
    assert_eq!(
        http.peers[1],
        Peer::Ports(vec![1]),
        "the lb port, by its label"
    );
    assert_eq!(acl.rules[1].name, "rule1");
}

#[test]
fn a_network_acl_goes_to_each_of_its_ports_unless_one_has_its_own() {
    let config = parse(
        r#"
[[acl]]
network = "front"
default_ingress = "deny"
[[acl]]
port = "lb"
"#,
    )
    .unwrap();
    let acls: Vec<(String, bool)> = config
        .acls
        .iter()
        .map(|a| (a.port.clone(), a.default_ingress_allow))
        .collect();
    assert_eq!(acls, [("web".into(), false), ("lb".into(), true)]);
}

#[test]
fn acl_and_policy_mistakes_are_named_with_their_fix() {
    let cases = [
        ("[[acl]]\nport = \"nope\"", "acl[0].port", "no port \"nope\""),
        ("[[acl]]\nnetwork = \"back\"", "acl[0].network", "no network \"back\""),
        ("[[acl]]", "acl[0]", "needs port"),
        ("[[acl]]\nport = \"web\"\n[[acl]]\nport = \"web\"", "acl[1].port", "has an [[acl]] already"),
        ("[[acl]]\nport = \"web\"\ndefault_ingress = \"drop\"", "acl[0].default_ingress", "use allow or deny"),
        ("[[acl]]\nport = \"web\"\n[[acl.rules]]\ndirection = \"in\"\naction = \"allow\"", "acl[0].rules[0].direction", "use ingress"),
        ("[[acl]]\nport = \"web\"\n[[acl.rules]]\ndirection = \"ingress\"\naction = \"accept\"", "acl[0].rules[0].action", "allow, deny or log"),
        ("[[acl]]\nport = \"web\"\n[[acl.rules]]\ndirection = \"ingress\"\naction = \"allow\"\nports = 80", "acl[0].rules[0].ports", "need proto"),
        ("[[acl]]\nport = \"web\"\n[[acl.rules]]\ndirection = \"ingress\"\naction = \"allow\"\nproto = \"gre\"", "acl[0].rules[0].proto", "not a protocol"),
        ("[[acl]]\nport = \"web\"\n[[acl.rules]]\ndirection = \"ingress\"\naction = \"allow\"\npeers = [{ cidr = \"10.1.0.1/24\" }]", "acl[0].rules[0].peers[0].cidr", "host bits zero"),
        ("[[acl]]\nport = \"web\"\n[[acl.rules]]\ndirection = \"ingress\"\naction = \"allow\"\npeers = [{ cidr = \"10.1.0.0/24\", except = [\"10.2.0.0/25\"] }]", "acl[0].rules[0].peers[0].except[0]", "not inside 10.1.0.0/24"),
        ("[[policy]]\nname = \"p\"\nnamespace = \"prod\"", "policy[0].namespace", "no namespace \"prod\""),
        ("[[policy]]\nname = \"p\"\npolicy_types = [\"ingress\"]", "policy[0].policy_types[0]", "\"Ingress\" or \"Egress\""),
        ("[[policy]]\nname = \"p\"\n[[policy.ingress]]\nports = [{ protocol = \"ICMP\", port = 1 }]", "policy[0].ingress[0].ports[0].protocol", "TCP, UDP or SCTP"),
        ("[[policy]]\nname = \"p\"\n[[policy.ingress]]\nports = [{ port = 90, end_port = 80 }]", "policy[0].ingress[0].ports[0].end_port", "at least port"),
        ("[[acl]]\nport = \"web\"\n[[policy]]\nname = \"p\"\npod_selector = { app = \"web\" }", "policy[0].pod_selector", "use one or the other"),
    ];
    for (extra, field, message) in cases {
        let err = parse(extra).unwrap_err();
        assert!(
            err.contains(field) && err.contains(message),
            "{extra}\n=> {err}"
        );
    }
}

#[test]
fn a_policy_isolates_what_it_selects_and_only_that() {
    let config = parse(
        r#"
[[policy]]
name = "web-from-lb"
pod_selector = { app = "web" }
[[policy.ingress]]
from = [{ pod_selector = { app = "lb" } }]
ports = [{ port = 80 }, { protocol = "UDP", port = 53, end_port = 54 }]
"#,
    )
    .unwrap();
    let spec = config.datapath_spec();
    assert_eq!(spec.acls.len(), 1);
    let acl = &spec.acls[0];
    assert!(!acl.default_ingress_allow && acl.default_egress_allow);
    let rules: Vec<_> = acl.rules.iter().map(|r| (r.proto, r.ports)).collect();
    assert_eq!(
        rules,
        [(Some(6), Some((80, 80))), (Some(17), Some((53, 54)))]
    );
    assert!(acl.rules.iter().all(|r| r.peers == [Peer::Ports(vec![1])]));
}
