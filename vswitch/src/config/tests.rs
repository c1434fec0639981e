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
        (port("type=\"tap\"\noptions={interface=\"much-too-long-name\"}"), "more than Linux's 15"),
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
            "not an afxdp, afpacket or tap port",
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
fn interface_names_linux_would_read_differently_are_refused() {
    let tap = |interface: &str| {
        error(&format!(
            "[[bridge]]\nname=\"br\"\n[[bridge.port]]\nname=\"p\"\ntype=\"tap\"\noptions={{interface={interface:?}}}\n"
        ))
    };
    for (name, expected) in [
        (
            "eth0:1",
            "address label of \"eth0\", and the port would attach to \"eth0\"",
        ),
        ("veth a", "contains ' '"),
        ("veth\ta", "contains '\\t'"),
        ("a/b", "contains '/'"),
        (".", "is a directory name"),
        ("..", "is a directory name"),
        ("", "is empty"),
        ("sixteen-bytes-xx", "is 16 bytes, more than Linux's 15"),
    ] {
        let e = tap(name);
        assert!(
            e.contains("bridge[0].port[0].options.interface: ") && e.contains(expected),
            "{name:?}: {e}"
        );
        assert!(
            e.contains("use 1 to 15 bytes without ':', '/' or whitespace"),
            "{e}"
        );
    }
    assert!(parse("[[bridge]]\nname=\"br\"\n[[bridge.port]]\nname=\"p\"\ntype=\"tap\"\noptions={interface=\"fifteen-bytes-x\"}\n").is_ok());
    // The interface defaults to the port's name, which may be longer.
    let e = error("[[bridge]]\nname=\"br\"\n[[bridge.port]]\nname=\"a-very-long-port-name\"\ntype=\"afxdp\"\n");
    assert!(
        e.starts_with("test.toml:4:6: bridge[0].port[0].name: interface name \"a-very-long-port-name\" is 21 bytes")
            && e.contains("set options.interface"),
        "{e}"
    );
    // Uplinks are checked the same way.
    let e = error("[[uplink]]\nname=\"up\"\ntype=\"afxdp\"\naddresses=[\"10.0.0.1/24\"]\noptions={interface=\"eth0:0\"}\n");
    assert!(
        e.contains("uplink[0].options.interface: ") && e.contains("address label"),
        "{e}"
    );
}

#[test]
fn static_macs_bound_twice_or_on_a_vlan_the_port_lacks_are_refused() {
    let bridge = |macs: &str| {
        format!(
            "[[bridge]]\nname=\"br\"\n[[bridge.port]]\nname=\"a\"\ntype=\"null\"\nvlan=10\n\
             [[bridge.port]]\nname=\"b\"\ntype=\"null\"\ntrunks=[10,20]\n{macs}"
        )
    };
    let mac = |port: &str, vlan: Option<u16>| {
        let vlan = vlan.map_or(String::new(), |v| format!("vlan={v}\n"));
        format!("[[bridge.static_mac]]\nmac=\"02:00:00:00:00:01\"\nport=\"{port}\"\n{vlan}")
    };
    let e = error(&bridge(&(mac("a", None) + &mac("b", Some(10)))));
    assert!(
        e.contains("bridge[0].static_mac[1].mac: static MAC 02:00:00:00:00:01 on VLAN 10 is already bound to port \"a\" by bridge[0].static_mac[0]")
            && e.contains("remove one of the two"),
        "{e}"
    );
    // The same MAC on two VLANs is two entries.
    assert!(parse(&bridge(&(mac("a", None) + &mac("b", Some(20))))).is_ok());
    let e = error(&bridge(&mac("a", Some(20))));
    assert!(
        e.contains("bridge[0].static_mac[0].vlan: port \"a\" does not carry VLAN 20")
            && e.contains("set vlan to one the port carries"),
        "{e}"
    );
    let e = error(&bridge(&mac("b", Some(30))));
    assert!(e.contains("port \"b\" does not carry VLAN 30"), "{e}");
    // A trunk without a native VLAN carries no untagged frames.
    let e = error(&bridge(&mac("b", None)));
    assert!(
        e.contains("bridge[0].static_mac[0].vlan: port \"b\" does not carry untagged frames"),
        "{e}"
    );
}

#[test]
fn mistyped_tables_say_which_form_to_write() {
    for (text, expected) in [
        ("[bridge]\nname=\"br\"\n", "bridge: [bridge] is a single table, but there may be several: write [[bridge]]"),
        (
            "[[bridge]]\nname=\"br\"\n[bridge.port]\nname=\"p\"\ntype=\"null\"\n",
            "bridge.port: [bridge.port] is a single table, but there may be several: write [[bridge.port]]",
        ),
        (
            "[[bridge]]\nname=\"br\"\n[bridge.static_mac]\nmac=\"02:00:00:00:00:01\"\nport=\"p\"\n",
            "write [[bridge.static_mac]]",
        ),
        ("[uplink]\nname=\"u\"\n", "write [[uplink]]"),
        ("[container]\nname=\"c\"\n", "write [[container]]"),
        ("[[switch]]\nworkers=[0]\n", "switch: [[switch]] makes an array of tables, but there is one switch section: write [switch]"),
    ] {
        let e = error(text);
        assert!(e.starts_with("test.toml:") && e.contains(expected), "for\n{text}\ngot: {e}");
    }
    // The right forms still parse, spans and all.
    let c = parse("[switch]\nworkers=[0]\n[[bridge]]\nname=\"br\"\n[[bridge.port]]\nname=\"p\"\ntype=\"null\"\n").unwrap();
    assert_eq!(c.bridges[0].ports[0].name, "p");
    let e = error("[switch]\nbatch_size=0\n");
    assert!(e.starts_with("test.toml:2:12: switch.batch_size"), "{e}");
}

#[test]
fn a_file_over_the_size_cap_is_refused_at_once() {
    let e = Config::load(Path::new("/dev/zero")).unwrap_err();
    assert!(e.message.contains("larger than 1 MiB"), "{e}");
    let dir = std::env::temp_dir().join(format!("vswitch-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _remove = Remove(dir.clone());
    let big = dir.join("big.toml");
    // Comments only: valid TOML, one byte over the cap.
    let mut text = "#".repeat(MAX_CONFIG_BYTES as usize);
    text.push('\n');
    std::fs::write(&big, &text).unwrap();
    let e = Config::load(&big).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{}: the file is larger", big.display())),
        "{e}"
    );
    text.truncate(MAX_CONFIG_BYTES as usize - 1);
    text.push('\n');
    std::fs::write(&big, &text).unwrap();
    assert!(Config::load(&big).is_ok());
    std::fs::write(&big, [0xff, 0xfe]).unwrap();
    assert!(Config::load(&big)
        .unwrap_err()
        .message
        .contains("not UTF-8"));
}

#[test]
fn log_level_and_metrics_address() {
    let switch = |text: &str| parse(text).map(|c| c.switch);
    let s = switch("[switch]\nlog_level=\"debug\"\nmetrics=\"127.0.0.1:9477\"\n").unwrap();
    assert_eq!(s.log_level, log::LevelFilter::Debug);
    assert_eq!(s.metrics, Some("127.0.0.1:9477".parse().unwrap()));
    assert_eq!(switch("").unwrap().log_level, log::LevelFilter::Info);
    assert_eq!(switch("").unwrap().metrics, None, "off by default");
    for ok in ["127.0.0.2:1", "[::1]:9477"] {
        assert!(
            switch(&format!("[switch]\nmetrics={ok:?}\n")).is_ok(),
            "{ok}"
        );
    }
    for (text, expected) in [
        (
            "log_level=\"trace\"",
            "switch.log_level: \"trace\" is not a log level: use error, warn, info or debug",
        ),
        (
            "metrics=\"0.0.0.0:9477\"",
            "switch.metrics: \"0.0.0.0:9477\" is not a loopback address",
        ),
        (
            "metrics=\"10.0.0.1:9477\"",
            "listens on 127.0.0.0/8 or ::1 only",
        ),
        ("metrics=\"[::]:9477\"", "is not a loopback address"),
        (
            "metrics=\"localhost:9477\"",
            "write it like \"127.0.0.1:9477\"",
        ),
        ("metrics=\"127.0.0.1\"", "is not an address and port"),
    ] {
        let e = error(&format!("[switch]\n{text}\n"));
        assert!(
            e.starts_with("test.toml:2:") && e.contains(expected),
            "{text}: {e}"
        );
    }
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

#[test]
fn afpacket_ports_take_an_interface() {
    let config = parse(
        "[[bridge]]\nname=\"br\"\n[[bridge.port]]\nname=\"p\"\ntype=\"afpacket\"\n\
         options={interface=\"veth-p\"}\n[[bridge.port]]\nname=\"q\"\ntype=\"afpacket\"\n",
    )
    .unwrap();
    let kinds: Vec<&PortKind> = config.bridges[0].ports.iter().map(|p| &p.kind).collect();
    assert_eq!(
        kinds,
        [
            &PortKind::AfPacket {
                interface: "veth-p".into()
            },
            &PortKind::AfPacket {
                interface: "q".into()
            }
        ]
    );
    assert_eq!(kinds[0].type_name(), "afpacket");
    let e = error(
        "[[bridge]]\nname=\"br\"\n[[bridge.port]]\nname=\"p\"\ntype=\"afpacket\"\n\
         options={queues=2}\n",
    );
    assert!(e.contains("queues"), "{e}");
}
