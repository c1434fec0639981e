//! NetworkPolicy semantics through `replay`: the examples of the
//! Kubernetes documentation ("Network Policies": the test-network-policy
//! example, default deny all ingress, allow all ingress, default deny all
//! egress, default deny all, ports with endPort) and policies adding up,
//! each a table of connections that must or must not get through, on six
//! endpoints of one bridge. Every probe starts a new connection (a TCP
//! SYN or a UDP datagram); reply probes answer an earlier one and show
//! the policies are stateful.

mod common;

use common::*;
use vswitch::replay::{replay_traced, ReplayOptions};

/// The endpoints: port name, MAC number, address, namespace, labels.
const PODS: &[(&str, u32, [u8; 4], &str, &str)] = &[
    ("db", 1, [172, 17, 0, 10], "default", "role = \"db\""),
    (
        "frontend",
        2,
        [172, 17, 1, 2],
        "default",
        "role = \"frontend\"",
    ),
    ("other", 3, [172, 17, 1, 3], "default", "role = \"other\""),
    ("ipb", 4, [172, 17, 0, 5], "default", "role = \"ipb\""),
    ("prodpod", 5, [172, 18, 0, 4], "prod", "role = \"x\""),
    ("ext", 6, [10, 0, 0, 7], "ext", "role = \"ext\""),
];

const TCP: u8 = 6;
const UDP: u8 = 17;

/// A connection attempt: from, to, protocol, source port, destination
/// port, whether it must arrive.
type Probe = (&'static str, &'static str, u8, u16, u16, bool);

fn pod(name: &str) -> (u32, [u8; 4]) {
    let p = PODS.iter().find(|p| p.0 == name).unwrap();
    (p.1, p.2)
}

fn config(policies: &str) -> String {
    let mut c = String::from("[[bridge]]\nname = \"br0\"\n");
    for (name, _, _, ns, labels) in PODS {
        c += &format!(
            "[[bridge.port]]\nname = \"{name}\"\ntype = \"null\"\nnamespace = \"{ns}\"\nlabels = {{ {labels} }}\n"
        );
    }
    c += "[[namespace]]\nname = \"prod\"\nlabels = { project = \"myproject\" }\n";
    c += "[[namespace]]\nname = \"ext\"\n";
    c + policies
}

/// A TCP SYN (a SYN-ACK for `reply`) or a UDP datagram.
fn ipv4(from: &str, to: &str, proto: u8, sport: u16, dport: u16, reply: bool) -> Vec<u8> {
    let ((src_mac, src), (dst_mac, dst)) = (pod(from), pod(to));
    let mut l4 = Vec::new();
    l4.extend_from_slice(&sport.to_be_bytes());
    l4.extend_from_slice(&dport.to_be_bytes());
    if proto == TCP {
        let (ack, flags) = if reply { (2, 0x12) } else { (0, 0x02) };
        l4.extend_from_slice(&[
            0, 0, 0, 1, 0, 0, 0, ack, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0,
        ]);
    } else {
        l4.extend_from_slice(&[0, 8, 0, 0]);
    }
    let mut f = Vec::new();
    f.extend_from_slice(&mac(dst_mac));
    f.extend_from_slice(&mac(src_mac));
    f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
    f.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&l4);
    f
}

/// Replays the probes through `policies`, in order, after every endpoint
/// announced its MAC; checks each arrived or not.
fn check(case: &str, policies: &str, probes: &[Probe]) {
    let dir = TempDir::new("replay-policy").unwrap();
    let config_path = dir.join("switch.toml");
    std::fs::write(&config_path, config(policies)).unwrap();
    let mut inputs = Vec::new();
    for (p, (name, n, ..)) in PODS.iter().enumerate() {
        let mut frames = vec![(0.5 + p as f64 * 0.01, eth(BROADCAST, mac(*n), None, 1))];
        for (k, probe) in probes.iter().enumerate().filter(|(_, pr)| pr.0 == *name) {
            let reply = probes[..k].iter().any(|p| {
                (p.1, p.0, p.2, p.4, p.3) == (probe.0, probe.1, probe.2, probe.3, probe.4)
            });
            let frame = ipv4(probe.0, probe.1, probe.2, probe.3, probe.4, reply);
            frames.push((1.0 + k as f64 * 0.01, frame));
        }
        let path = dir.join(&format!("in-{name}.pcap"));
        write_pcap(&path, &frames);
        inputs.push((name.to_string(), path));
    }
    let (_, trace) = replay_traced(&ReplayOptions {
        config: config_path,
        inputs,
        output_dir: dir.join("out"),
    })
    .unwrap_or_else(|e| panic!("{case}: {e}"));
    for &(from, to, proto, sport, dport, expected) in probes {
        let out = read_pcap(&dir.join("out").join(format!("{to}.pcap")));
        let arrived = out.iter().any(|f| {
            f.len() >= 38
                && f[12..14] == [8, 0]
                && f[23] == proto
                && f[26..30] == pod(from).1
                && f[34..36] == sport.to_be_bytes()
                && f[36..38] == dport.to_be_bytes()
        });
        assert_eq!(
            arrived,
            expected,
            "{case}: {from} -> {to} proto {proto} {sport}->{dport} should {}arrive\n{trace}",
            if expected { "" } else { "not " }
        );
    }
}

#[test]
fn the_documentation_example_test_network_policy() {
    let policy = r#"
[[policy]]
name = "test-network-policy"
pod_selector = { role = "db" }
policy_types = ["Ingress", "Egress"]

[[policy.ingress]]
from = [
    { ip_block = { cidr = "172.17.0.0/16", except = ["172.17.1.0/24"] } },
    { namespace_selector = { project = "myproject" } },
    { pod_selector = { role = "frontend" } },
]
ports = [{ protocol = "TCP", port = 6379 }]

[[policy.egress]]
to = [{ ip_block = { cidr = "10.0.0.0/24" } }]
ports = [{ protocol = "TCP", port = 5978 }]
"#;
    check(
        "test-network-policy",
        policy,
        &[
            ("frontend", "db", TCP, 1001, 6379, true),  // podSelector
            ("other", "db", TCP, 1002, 6379, false),    // inside the except
            ("ipb", "db", TCP, 1003, 6379, true),       // ipBlock
            ("prodpod", "db", TCP, 1004, 6379, true),   // namespaceSelector
            ("ext", "db", TCP, 1005, 6379, false),      // none of the three
            ("frontend", "db", TCP, 1006, 80, false),   // another port
            ("frontend", "db", UDP, 1007, 6379, false), // another protocol
            ("db", "ext", TCP, 1008, 5978, true),       // egress allowed
            ("db", "ext", TCP, 1009, 5979, false),
            ("db", "frontend", UDP, 1010, 53, false), // egress to no allowed block
            ("ext", "db", TCP, 5978, 1008, true),     // the reply of the allowed egress
            ("other", "frontend", UDP, 1011, 53, true), // not selected: not isolated
        ],
    );
}

#[test]
fn default_deny_all_ingress_keeps_egress_and_its_replies() {
    let policy = r#"
[[policy]]
name = "default-deny-ingress"
pod_selector = {}
policy_types = ["Ingress"]
"#;
    check(
        "default-deny-ingress",
        policy,
        &[
            ("frontend", "db", TCP, 2001, 80, false),
            ("ext", "db", UDP, 2002, 53, false),
            ("db", "prodpod", UDP, 2003, 53, true), // another namespace: not isolated
            ("prodpod", "db", UDP, 53, 2003, true), // the reply comes back in
            ("prodpod", "ext", UDP, 2004, 53, true),
        ],
    );
}

#[test]
fn allow_all_ingress() {
    let policy = r#"
[[policy]]
name = "default-deny-ingress"
pod_selector = {}
policy_types = ["Ingress"]

[[policy]]
name = "allow-all-ingress"
pod_selector = {}
ingress = [{}]
policy_types = ["Ingress"]
"#;
    check(
        "allow-all-ingress",
        policy,
        &[
            ("frontend", "db", TCP, 3001, 80, true),
            ("ext", "other", UDP, 3002, 53, true),
        ],
    );
}

#[test]
fn default_deny_all_egress_and_default_deny_all() {
    let egress = r#"
[[policy]]
name = "default-deny-egress"
pod_selector = {}
policy_types = ["Egress"]
"#;
    check(
        "default-deny-egress",
        egress,
        &[
            ("db", "frontend", TCP, 4001, 80, false),
            ("db", "ext", UDP, 4002, 53, false),
            ("ext", "db", UDP, 4003, 53, true), // ingress is not isolated
            ("db", "ext", UDP, 53, 4003, true), // and the reply leaves
        ],
    );
    let all = r#"
[[policy]]
name = "default-deny-all"
pod_selector = {}
policy_types = ["Ingress", "Egress"]
"#;
    check(
        "default-deny-all",
        all,
        &[
            ("db", "ext", UDP, 4101, 53, false),
            ("ext", "db", UDP, 4102, 53, false),
            ("ext", "prodpod", UDP, 4103, 53, true), // other namespaces
        ],
    );
}

#[test]
fn ports_with_end_port() {
    let policy = r#"
[[policy]]
name = "multi-port-egress"
pod_selector = { role = "db" }
policy_types = ["Egress"]

[[policy.egress]]
to = [{ ip_block = { cidr = "10.0.0.0/24" } }]
ports = [{ protocol = "TCP", port = 32000, end_port = 32768 }]
"#;
    check(
        "multi-port-egress",
        policy,
        &[
            ("db", "ext", TCP, 5001, 32000, true),
            ("db", "ext", TCP, 5002, 32768, true),
            ("db", "ext", TCP, 5003, 31999, false),
            ("db", "ext", TCP, 5004, 32769, false),
            ("db", "ext", UDP, 5005, 32000, false),
        ],
    );
}

#[test]
fn policies_add_up() {
    let policy = r#"
[[policy]]
name = "redis-from-frontend"
pod_selector = { role = "db" }
ingress = [{ from = [{ pod_selector = { role = "frontend" } }], ports = [{ port = 6379 }] }]

[[policy]]
name = "web-from-other"
pod_selector = { role = "db" }
ingress = [{ from = [{ pod_selector = { role = "other" } }], ports = [{ protocol = "UDP", port = 80 }] }]
"#;
    check(
        "policies add up",
        policy,
        &[
            ("frontend", "db", TCP, 6001, 6379, true),
            ("other", "db", UDP, 6002, 80, true),
            ("other", "db", TCP, 6003, 6379, false),
            ("frontend", "db", UDP, 6004, 80, false),
            ("ext", "db", UDP, 6005, 80, false),
        ],
    );
}

#[test]
fn the_trace_names_the_rule_that_decided() {
    let dir = TempDir::new("replay-policy-trace").unwrap();
    let config_path = dir.join("switch.toml");
    let policy = "[[policy]]\nname = \"deny-in\"\npod_selector = { role = \"db\" }\n";
    std::fs::write(&config_path, config(policy)).unwrap();
    let frames = [
        (0.5, eth(BROADCAST, mac(1), None, 1)),
        (1.0, ipv4("frontend", "db", UDP, 7001, 53, false)),
    ];
    let path = dir.join("in.pcap");
    write_pcap(&path, &frames[1..]);
    let announce = dir.join("announce.pcap");
    write_pcap(&announce, &frames[..1]);
    let (summary, trace) = replay_traced(&ReplayOptions {
        config: config_path,
        inputs: vec![("db".into(), announce), ("frontend".into(), path)],
        output_dir: dir.join("out"),
    })
    .unwrap();
    for line in [
        "acl port db ingress: rule default ingress denies",
        "acl_denied",
    ] {
        assert!(trace.contains(line), "missing {line:?} in\n{trace}");
    }
    assert_eq!(
        summary.ports["frontend"].drop_reasons.get("acl_denied"),
        Some(&1)
    );
}
