use std::net::Ipv4Addr;

use super::super::Config;
use super::gateway_mac_of;

const BASE: &str = r#"
[[uplink]]
name = "up0"
type = "null"
addresses = ["192.0.2.1/24"]
gateway = "192.0.2.254"

[[bridge]]
name = "br0"
[[bridge.port]]
name = "c1"
type = "null"

[[bridge]]
name = "br1"
[[bridge.port]]
name = "c2"
type = "null"
"#;

const TWO: &str = r#"
[[network]]
name = "front"
bridge = "br0"
subnet = "10.1.0.0/24"
gateway = "10.1.0.1"
subnet6 = "fd00:1::/64"
gateway6 = "fd00:1::1"
routes_to = ["back"]
uplink = "up0"

[[network]]
name = "back"
bridge = "br1"
vlan = 0
subnet = "10.2.0.0/24"
gateway = "10.2.0.1"
gateway_mac = "02:00:00:00:02:01"
routes_to = ["front"]
"#;

fn parse(networks: &str) -> Result<Config, String> {
    Config::parse(&format!("{BASE}{networks}\n"), "n.toml").map_err(|e| e.to_string())
}

#[test]
fn two_networks_that_route_to_each_other_and_the_uplink() {
    let c = parse(TWO).unwrap();
    assert_eq!(c.networks.len(), 2);
    let front = &c.networks[0];
    assert_eq!(front.subnet, (Ipv4Addr::new(10, 1, 0, 0), 24));
    assert_eq!(front.gateway_mac, gateway_mac_of("front"));
    assert_eq!(front.gateway_mac[0] & 3, 2, "locally administered unicast");
    let spec = c.datapath_spec();
    assert_eq!(spec.networks[0].bridge, 0);
    assert_eq!(spec.networks[0].routes_to, vec![1]);
    assert_eq!(spec.networks[0].uplink, Some(0));
    assert_eq!(spec.networks[1].bridge, 1);
    assert_eq!(spec.networks[1].gateway_mac, [2, 0, 0, 0, 2, 1]);
    assert_eq!(spec.networks[1].uplink, None);
    assert_eq!(
        spec.networks[0].subnet6,
        Some(("fd00:1::".parse().unwrap(), 64))
    );
    assert_eq!(
        spec.networks[0].gateway6,
        Some("fd00:1::1".parse().unwrap())
    );
    assert_eq!(spec.networks[1].subnet6, None);
    vswitch_pipeline::Datapath::new(&spec, 1).unwrap();
    // One side may list the other first (routing waits for both).
    let one_sided = parse(&TWO.replace("routes_to = [\"front\"]", "")).unwrap();
    assert_eq!(
        one_sided.datapath_spec().networks[1].routes_to,
        Vec::<usize>::new()
    );
}

#[test]
fn network_mistakes_are_named_with_their_fix() {
    let one = |fields: &str| format!("[[network]]\nname = \"n\"\nbridge = \"br0\"\n{fields}\n");
    let cases = [
        (
            one("subnet = \"10.1.0.0/24\"\ngateway = \"10.2.0.1\""),
            "network[0].gateway",
            "must be a host address inside 10.1.0.0/24",
        ),
        (
            one("subnet = \"10.1.0.0/24\"\ngateway = \"10.1.0.255\""),
            "network[0].gateway",
            "not its first or last",
        ),
        (
            one("subnet = \"10.1.0.7/24\"\ngateway = \"10.1.0.1\""),
            "network[0].subnet",
            "write 10.1.0.0/24",
        ),
        (
            one("subnet = \"fd00::/64\"\ngateway = \"10.1.0.1\""),
            "network[0].subnet",
            "not an IPv4 subnet",
        ),
        (
            "[[network]]\nname = \"n\"\nbridge = \"br9\"\nsubnet = \"10.1.0.0/24\"\ngateway = \"10.1.0.1\"\n".to_string(),
            "network[0].bridge",
            "no bridge \"br9\"",
        ),
        (
            one("subnet = \"10.1.0.0/24\"\ngateway = \"10.1.0.1\"\nuplink = \"up9\""),
            "network[0].uplink",
            "no uplink \"up9\"",
        ),
        (
            one("subnet = \"10.1.0.0/24\"\ngateway = \"10.1.0.1\"\nroutes_to = [\"nowhere\"]"),
            "network[0].routes_to[0]",
            "no network \"nowhere\"",
        ),
        (
            one("subnet = \"10.1.0.0/24\"\ngateway = \"10.1.0.1\"\ngateway_mac = \"01:00:5e:00:00:01\""),
            "network[0].gateway_mac",
            "not a unicast MAC",
        ),
        (
            format!(
                "{}[[network]]\nname = \"m\"\nbridge = \"br1\"\nsubnet = \"10.1.128.0/17\"\ngateway = \"10.1.128.1\"\n",
                one("subnet = \"10.1.0.0/16\"\ngateway = \"10.1.0.1\"")
            ),
            "network[1].subnet",
            "overlaps network \"n\"'s 10.1.0.0/16",
        ),
        (
            format!(
                "{}[[network]]\nname = \"m\"\nbridge = \"br0\"\nsubnet = \"10.2.0.0/24\"\ngateway = \"10.2.0.1\"\n",
                one("subnet = \"10.1.0.0/24\"\ngateway = \"10.1.0.1\"")
            ),
            "network[1].vlan",
            "a bridge VLAN holds one network",
        ),
        (
            one("subnet = \"10.1.0.0/24\"\ngateway = \"10.1.0.1\"\nsubnet6 = \"fd00:1::/64\""),
            "network[0].gateway6",
            "add gateway6",
        ),
        (
            one("subnet = \"10.1.0.0/24\"\ngateway = \"10.1.0.1\"\nsubnet6 = \"fd00:1::5/64\"\ngateway6 = \"fd00:1::1\""),
            "network[0].subnet6",
            "write fd00:1::/64",
        ),
        (
            one("subnet = \"10.1.0.0/24\"\ngateway = \"10.1.0.1\"\nsubnet6 = \"fd00:1::/64\"\ngateway6 = \"fd00:2::1\""),
            "network[0].gateway6",
            "inside fd00:1::/64",
        ),
        (
            one("subnet = \"10.1.0.0/24\"\ngateway = \"10.1.0.1\"\nroutes_to = [\"n\"]"),
            "network[0].routes_to[0]",
            "routes within itself anyway",
        ),
        (
            format!(
                "{}{}",
                one("subnet = \"10.1.0.0/24\"\ngateway = \"10.1.0.1\""),
                one("subnet = \"10.3.0.0/24\"\ngateway = \"10.3.0.1\"\nvlan = 3")
            ),
            "network[1].name",
            "duplicate network \"n\"",
        ),
    ];
    for (text, field, message) in cases {
        let err = parse(&text).expect_err(&text);
        assert!(err.contains(field), "{err} should name {field}");
        assert!(err.contains(message), "{err} should say {message:?}");
    }
}
