//! Tests of configuration parsing and validation.

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "test.toml")
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn full_example_parses() {
    let c = parse(
        r#"
[[bridge]]
name = "br0"
mac_aging_secs = 60
[[bridge.port]]
name = "c1"
type = "afxdp"
vlan = 10
mac_limit = 5
options = { interface = "veth-c1", queues = 2 }
[[bridge.port]]
name = "up"
type = "tap"
trunks = [10, 20]
native_vlan = 10
[[bridge.port]]
name = "cap"
type = "pcap"
options = { input = "in.pcap", loop = true }
[[bridge.static_mac]]
mac = "02:00:00:00:00:01"
port = "c1"
"#,
    )
    .unwrap();
    let b = &c.bridges[0];
    assert_eq!(b.mac_aging_secs, 60);
    assert_eq!(b.mac_limit, DEFAULT_MAC_LIMIT);
    assert_eq!(b.ports[0].vlan_mode, VlanMode::Access { vlan: 10 });
    assert_eq!(b.ports[0].mac_limit, 5);
    assert!(
        matches!(&b.ports[0].kind, PortKind::AfXdp { interface, queues: 2, .. } if interface == "veth-c1")
    );
    assert_eq!(
        b.ports[1].vlan_mode,
        VlanMode::Trunk {
            allowed: VlanSet::of(&[10, 20]),
            native: Some(10)
        }
    );
    assert_eq!(b.ports[2].vlan_mode, VlanMode::default());
    assert_eq!(b.static_macs[0].vlan, 10);
    let spec = c.datapath_spec();
    assert_eq!(spec.ports.len(), 3);
    assert_eq!(spec.bridges[0].static_macs[0].port, 0);
}

#[test]
fn errors_name_file_line_and_field() {
    let e = parse("[[bridge]]\nname = \"br0\"\n[[bridge.port]]\nname = \"p\"\ntype = \"afxdp\"\nvlan = 5000\n").unwrap_err();
    assert_eq!((e.file.as_str(), e.line, e.column), ("test.toml", 6, 8));
    assert_eq!(e.field, "bridge[0].port[0].vlan");
    assert!(e.message.contains("VLAN 5000 is outside 1..4094"), "{e}");
}

#[test]
fn duplicate_port_across_bridges() {
    let e = error("[[bridge]]\nname=\"a\"\n[[bridge.port]]\nname=\"p\"\ntype=\"null\"\n[[bridge]]\nname=\"b\"\n[[bridge.port]]\nname=\"p\"\ntype=\"null\"\n");
    assert!(
        e.starts_with("test.toml:9:6: bridge[1].port[0].name: duplicate port \"p\""),
        "{e}"
    );
}

#[test]
fn each_mistake_has_its_message() {
    let port =
        |body: &str| format!("[[bridge]]\nname=\"br\"\n[[bridge.port]]\nname=\"p\"\n{body}\n");
    let cases = [
        (port("type=\"vxlan2\""), "unknown port type \"vxlan2\""),
        (
            port("type=\"vxlan\"\noptions = { vni = 1, remote = \"learn\" }"),
            "names its uplink",
        ),
        (port("type=\"null\"\nvlan=0"), "VLAN 0 is outside 1..4094"),
        (port("type=\"null\"\ntrunks=[10, 4095]"), "trunks[1]: VLAN 4095 is outside"),
        (port("type=\"null\"\ntrunks=[10, 10]"), "VLAN 10 is listed twice"),
        (port("type=\"null\"\ntrunks=[]"), "trunks is empty"),
        (port("type=\"null\"\nvlan=3\ntrunks=[4]"), "not both"),
        (port("type=\"null\"\ncolour=\"red\""), "unknown field `colour`"),
        (port("type=\"afxdp\"\noptions={queue=2}"), "unknown option \"queue\" for a afxdp port"),
        (port("type=\"afxdp\"\noptions={ring_size=1000}"), "must be a power of two"),
        (port("type=\"afxdp\"\noptions={mode=\"fast\"}"), "not an XDP mode"),
        (port("type=\"pcap\"\noptions={loop=true}"), "loop needs an input"),
        (port("type=\"tap\"\noptions={interface=\"much-too-long-name\"}"), "1 to 15 characters"),
        (port("type=\"null\"\nmac_limit=0"), "MAC limit 0 is outside"),
        ("[[bridge]]\nname=\"br\"\nmac_aging_secs=0\n".into(), "aging time 0 is outside"),
        ("[[bridge]]\nname=\"a b\"\n".into(), "bridge name \"a b\" must be"),
        ("[[bridge]]\nname=\"br\"\n[[bridge]]\nname=\"br\"\n".into(), "duplicate bridge \"br\""),
        ("[[bridge]]\nname=\"br\"\n[[bridge.port]]\nname=\"a\"\ntype=\"tap\"\noptions={interface=\"x\"}\n[[bridge.port]]\nname=\"b\"\ntype=\"afxdp\"\noptions={interface=\"x\"}\n".into(), "interface \"x\" is already used by port \"a\""),
        (port("type=\"null\"\n[[bridge.static_mac]]\nmac=\"zz\"\nport=\"p\""), "is not a MAC address"),
        (port("type=\"null\"\n[[bridge.static_mac]]\nmac=\"01:00:00:00:00:01\"\nport=\"p\""), "must be unicast"),
        (port("type=\"null\"\n[[bridge.static_mac]]\nmac=\"02:00:00:00:00:01\"\nport=\"q\""), "no port \"q\" in this bridge"),
        ("[[bridge]]\nname=\"br\"\n[[bridge.port]]\nname=\"p\"\n".into(), "missing field `type`"),
        ("[bridge\n".into(), "test.toml:1:"),
    ];
    for (text, expected) in cases {
        let e = error(&text);
        assert!(
            e.contains(expected),
            "for\n{text}\ngot: {e}\nwanted: {expected}"
        );
        assert!(e.starts_with("test.toml:"), "{e}");
    }
}

#[test]
fn switch_and_containers() {
    let c = parse("[switch]\nworkers=[1,0]\nidle=\"spin\"\ncontrol_socket=\"/tmp/x.sock\"\n[[bridge]]\nname=\"br\"\n[[bridge.port]]\nname=\"p\"\ntype=\"tap\"\n[[container]]\nname=\"c1\"\nport=\"p\"\naddress=\"10.1.0.1/24\"\n").unwrap();
    assert_eq!(c.switch.workers, vec![1, 0]);
    assert_eq!(c.switch.idle, IdlePolicy::Spin);
    assert_eq!(c.switch.control_socket, PathBuf::from("/tmp/x.sock"));
    assert_eq!(c.containers[0].address, "10.1.0.1/24");
    assert_eq!(parse("").unwrap().switch, SwitchConfig::default());
    let idle = |text: &str| parse(text).unwrap().switch.idle;
    assert_eq!(
        idle("[switch]\nidle=\"adaptive\""),
        IdlePolicy::Adaptive {
            quiet_us: DEFAULT_IDLE_QUIET_US
        }
    );
    assert_eq!(
        idle(""),
        IdlePolicy::Adaptive {
            quiet_us: DEFAULT_IDLE_QUIET_US
        },
        "adaptive is the default"
    );
    assert_eq!(
        idle("[switch]\nidle=\"adaptive\"\nidle_quiet_us=0"),
        IdlePolicy::Adaptive { quiet_us: 0 }
    );
    assert_eq!(
        idle("[switch]\nidle=\"sleep\"\nidle_sleep_us=50"),
        IdlePolicy::Sleep { max_us: 50 }
    );
    let base = "[[bridge]]\nname=\"br\"\n[[bridge.port]]\nname=\"p\"\ntype=\"null\"\n";
    for (extra, expected) in [
        ("[switch]\nworkers=[]", "at least one core"),
        ("[switch]\nworkers=[1,1]", "core 1 is listed twice"),
        ("[switch]\nidle=\"nap\"", "use adaptive, sleep or spin"),
        ("[switch]\nidle_quiet_us=-1", "quiet time -1 is outside"),
        ("[switch]\nbatch_size=0", "batch size 0 is outside"),
        (
            "[[container]]\nname=\"c\"\nport=\"p\"\naddress=\"10.0.0.1/24\"",
            "not an afxdp or tap port",
        ),
        (
            "[[container]]\nname=\"c\"\nport=\"q\"\naddress=\"10.0.0.1/24\"",
            "no port \"q\"",
        ),
        (
            "[[container]]\nname=\"much-too-long\"\nport=\"p\"\naddress=\"x\"",
            "at most 8",
        ),
    ] {
        let e = error(&format!("{base}{extra}\n"));
        assert!(e.contains(expected), "{extra}: {e}");
    }
    let e = error("[[bridge]]\nname=\"br\"\n[[bridge.port]]\nname=\"p\"\ntype=\"tap\"\n[[container]]\nname=\"c\"\nport=\"p\"\naddress=\"10.0.0.1\"\n");
    assert!(e.contains("with a prefix length"), "{e}");
}

#[test]
fn mac_parsing() {
    assert_eq!(parse_mac("02:00:00:00:00:0a"), Some([2, 0, 0, 0, 0, 10]));
    assert_eq!(parse_mac("02-00-00-00-00-0A"), Some([2, 0, 0, 0, 0, 10]));
    assert_eq!(parse_mac("02:00:00:00:00"), None);
    assert_eq!(parse_mac("02:00:00:00:00:00:00"), None);
    assert_eq!(parse_mac("2:0:0:0:0:0"), None);
}

#[test]
fn port_ids_stay_and_freed_ids_wait_a_change() {
    let ports = |names: &[&str]| {
        let mut text = String::from("[[bridge]]\nname = \"br0\"\n");
        for n in names {
            text += &format!("[[bridge.port]]\nname = \"{n}\"\ntype = \"null\"\n");
        }
        parse(&text).unwrap()
    };
    let ids = |spec: &DatapathSpec| {
        spec.ports
            .iter()
            .map(|p| (p.name.clone(), p.id))
            .collect::<Vec<_>>()
    };
    let first = ports(&["a", "b", "c"]).datapath_spec();
    assert_eq!(
        ids(&first),
        [("a".into(), 0), ("b".into(), 1), ("c".into(), 2)]
    );
    // b leaves and d comes in the same change: d does not take b's id.
    let second = ports(&["a", "c", "d"]).datapath_spec_after(&first);
    assert_eq!(
        ids(&second),
        [("a".into(), 0), ("c".into(), 2), ("d".into(), 3)]
    );
    // One change later, b's id is free again.
    let third = ports(&["e", "a", "c", "d"]).datapath_spec_after(&second);
    assert_eq!(
        ids(&third),
        [
            ("e".into(), 1),
            ("a".into(), 0),
            ("c".into(), 2),
            ("d".into(), 3)
        ]
    );
}

#[test]
fn control_group_by_name_or_gid() {
    let group = |text: &str| parse(text).unwrap().switch.control_group;
    assert_eq!(group(""), None);
    let root = ControlGroup {
        name: "root".into(),
        gid: 0,
    };
    assert_eq!(
        group("[switch]\ncontrol_group = \"root\""),
        Some(root.clone())
    );
    assert_eq!(group("[switch]\ncontrol_group = 0"), Some(root));
    // A gid need not have a name.
    assert_eq!(
        group("[switch]\ncontrol_group = 4000000001").map(|g| g.gid),
        Some(4_000_000_001)
    );
    let e = error("[switch]\ncontrol_group = \"no-such-vswitch-group\"");
    assert!(
        e.contains("switch.control_group")
            && e.contains("no group \"no-such-vswitch-group\"")
            && e.contains("groupadd"),
        "{e}"
    );
    let e = error("[switch]\ncontrol_group = -1");
    assert!(e.contains("gid -1 is out of range"), "{e}");
    let e = error("[switch]\ncontrol_group = true");
    assert!(
        e.contains("switch.control_group: true is not a group"),
        "{e}"
    );
}
