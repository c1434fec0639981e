use std::net::Ipv4Addr;

use super::super::Config;
use vswitch_pipeline::l3::{Publish, DEFAULT_NAT_PORTS};
use vswitch_pipeline::wire::ip_proto;

const BASE: &str = r#"
[switch]
conntrack_limit = 1000

[[uplink]]
name = "up0"
type = "null"
addresses = ["192.0.2.1/24", "192.0.2.2/24"]
gateway = "192.0.2.254"

[[bridge]]
name = "br0"
[[bridge.port]]
name = "c1"
type = "null"
"#;

fn parse(network: &str) -> Result<Config, String> {
    let text = format!(
        "{BASE}[[network]]\nname = \"n\"\nbridge = \"br0\"\nsubnet = \"10.1.0.0/24\"\ngateway = \"10.1.0.1\"\n{network}\n"
    );
    Config::parse(&text, "n.toml").map_err(|e| e.to_string())
}

#[test]
fn masquerade_is_on_with_an_uplink_and_ports_are_published() {
    let c = parse(
        r#"uplink = "up0"
nat_ports = "40000-40099"
publish = [
  { proto = "tcp", host_port = 8080, container = "10.1.0.2", container_port = 80 },
  { proto = "udp", host_ip = "192.0.2.2", host_port = "8000-8010", container = "10.1.0.3", container_port = "9000-9010" },
  { proto = "tcp", host_port = "2000-2001", container = "10.1.0.4", container_port = 22 },
]"#,
    )
    .unwrap();
    assert_eq!(c.switch.conntrack_limit, 1000);
    let spec = &c.datapath_spec().networks[0];
    assert!(spec.masquerade);
    assert_eq!(spec.nat_ports, (40000, 40099));
    assert_eq!(
        spec.publish,
        vec![
            Publish {
                proto: ip_proto::TCP,
                host_ip: Ipv4Addr::new(192, 0, 2, 1),
                host_ports: (8080, 8080),
                container: Ipv4Addr::new(10, 1, 0, 2),
                container_port: 80,
            },
            Publish {
                proto: ip_proto::UDP,
                host_ip: Ipv4Addr::new(192, 0, 2, 2),
                host_ports: (8000, 8010),
                container: Ipv4Addr::new(10, 1, 0, 3),
                container_port: 9000,
            },
            Publish {
                proto: ip_proto::TCP,
                host_ip: Ipv4Addr::new(192, 0, 2, 1),
                host_ports: (2000, 2001),
                container: Ipv4Addr::new(10, 1, 0, 4),
                container_port: 22,
            },
        ]
    );
    assert_eq!(spec.publish[1].container_port_for(8004), 9004);
    // Without an uplink nothing is translated; masquerade may be off.
    let plain = parse("").unwrap();
    assert!(!plain.datapath_spec().networks[0].masquerade);
    assert_eq!(plain.switch.conntrack_limit, 1000);
    let off = parse("uplink = \"up0\"\nmasquerade = false").unwrap();
    assert!(!off.datapath_spec().networks[0].masquerade);
    assert_eq!(off.datapath_spec().networks[0].nat_ports, DEFAULT_NAT_PORTS);
    // Containers reach each other unless icc is off.
    assert!(plain.datapath_spec().networks[0].icc);
    assert!(!parse("icc = false").unwrap().datapath_spec().networks[0].icc);
}

#[test]
fn nat_mistakes_are_named_with_their_fix() {
    let publish = |rule: &str| format!("uplink = \"up0\"\npublish = [{rule}]");
    let cases = [
        ("masquerade = true".to_string(), "network[0].masquerade", "name an uplink"),
        ("uplink = \"up0\"\nnat_ports = \"9-3\"".into(), "network[0].nat_ports", "FIRST-LAST"),
        (
            "publish = [{ proto = \"tcp\", host_port = 1, container = \"10.1.0.2\", container_port = 1 }]".into(),
            "network[0].publish[0]",
            "give the network an uplink",
        ),
        (
            publish("{ proto = \"sctp\", host_port = 1, container = \"10.1.0.2\", container_port = 1 }"),
            "network[0].publish[0].proto",
            "use \"tcp\" or \"udp\"",
        ),
        (
            publish("{ proto = \"tcp\", host_ip = \"192.0.2.9\", host_port = 1, container = \"10.1.0.2\", container_port = 1 }"),
            "network[0].publish[0].host_ip",
            "not an IPv4 address of uplink \"up0\"",
        ),
        (
            publish("{ proto = \"tcp\", host_port = 0, container = \"10.1.0.2\", container_port = 1 }"),
            "network[0].publish[0].host_port",
            "ports 1 to 65535",
        ),
        (
            publish("{ proto = \"tcp\", host_port = \"1-3\", container = \"10.1.0.2\", container_port = \"1-2\" }"),
            "network[0].publish[0].container_port",
            "as many as host_port's (3)",
        ),
        (
            publish("{ proto = \"tcp\", host_port = 1, container = \"10.9.0.2\", container_port = 1 }"),
            "network[0].publish[0].container",
            "not a host address of the network's subnet 10.1.0.0/24",
        ),
        (
            publish("{ proto = \"tcp\", host_port = \"10-20\", container = \"10.1.0.2\", container_port = 1 }, { proto = \"tcp\", host_port = 15, container = \"10.1.0.3\", container_port = 1 }"),
            "network[0].publish[1].host_port",
            "192.0.2.1:15-15 is already published by this network",
        ),
    ];
    for (text, field, message) in cases {
        let err = parse(&text).expect_err(&text);
        assert!(err.contains(field), "{err} should name {field}");
        assert!(err.contains(message), "{err} should say {message:?}");
    }
}
