//! The `security` table of a port: parsed into the datapath's binding,
//! each mistake refused with its field and fix.

use super::*;

fn parse(security: &str, kind: &str) -> Result<Config, ConfigError> {
    let text = format!(
        "[[bridge]]\nname = \"br0\"\n[[bridge.port]]\nname = \"c1\"\ntype = \"{kind}\"\nsecurity = {security}\n"
    );
    Config::parse(&text, "test.toml")
}

fn error(security: &str) -> String {
    parse(security, "null").unwrap_err().to_string()
}

#[test]
fn a_binding_reaches_the_datapath_spec() {
    let c = parse(
        r#"{ mac = "02:00:00:00:01:02", ips = ["10.1.0.2", "fd00:1::2"], dhcp_server = true }"#,
        "tap",
    )
    .unwrap();
    let expected = PortSecurity {
        mac: [2, 0, 0, 0, 1, 2],
        ips: vec!["10.1.0.2".parse().unwrap(), "fd00:1::2".parse().unwrap()],
        dhcp_server: true,
        router_advertisements: false,
    };
    assert_eq!(c.bridges[0].ports[0].security.as_ref(), Some(&expected));
    assert_eq!(c.datapath_spec().ports[0].security, Some(expected));
    let c = parse(r#"{ mac = "02:00:00:00:01:02", ips = [] }"#, "null").unwrap();
    assert!(c.bridges[0].ports[0]
        .security
        .as_ref()
        .unwrap()
        .ips
        .is_empty());
}

#[test]
fn each_mistake_has_its_message() {
    for (security, expected) in [
        (r#"{ mac = "02:00:00:00:01", ips = [] }"#, "test.toml:6:20: bridge[0].port[0].security.mac: \"02:00:00:00:01\" is not a MAC address"),
        (r#"{ mac = "01:00:5e:00:00:01", ips = [] }"#, "must be unicast"),
        (r#"{ mac = "00:00:00:00:00:00", ips = [] }"#, "must be unicast"),
        (r#"{ mac = "02:00:00:00:01:02", ips = ["10.1.0.2/24"] }"#, "security.ips[0]: \"10.1.0.2/24\" is not an IP address"),
        (r#"{ mac = "02:00:00:00:01:02", ips = ["0.0.0.0"] }"#, "cannot be a host's source address"),
        (r#"{ mac = "02:00:00:00:01:02", ips = ["ff02::1"] }"#, "cannot be a host's source address"),
        (r#"{ mac = "02:00:00:00:01:02", ips = ["10.1.0.2", "10.1.0.2"] }"#, "security.ips[1]: 10.1.0.2 is listed twice"),
        (r#"{ mac = "02:00:00:00:01:02" }"#, "missing field `ips`"),
        (r#"{ mac = "02:00:00:00:01:02", ips = [], dhcp = true }"#, "unknown field `dhcp`"),
    ] {
        let message = error(security);
        assert!(message.contains(expected), "{security}: {message}");
    }
}

#[test]
fn a_tunnel_port_cannot_be_bound() {
    let text = r#"
[[uplink]]
name = "up0"
type = "null"
addresses = ["192.0.2.1/24"]
[[bridge]]
name = "br0"
[[bridge.port]]
name = "vx"
type = "vxlan"
options = { uplink = "up0", vni = 42, remote = ["192.0.2.2"] }
security = { mac = "02:00:00:00:01:02", ips = [] }
"#;
    let message = Config::parse(text, "test.toml").unwrap_err().to_string();
    assert!(
        message.contains("bridge[0].port[0].security: security binds a container's port"),
        "{message}"
    );
}
