use serde_json::json;
use vswitch_ports::testing::TempDir;

use super::cli::{parse_settings, parse_value, render_results};
use super::*;

const BASE: &str = r#"
[switch]
workers = [0]

[[bridge]]
name = "br0"

[[bridge.port]]
name = "p1"
type = "tap"

[[container]]
name = "c1"
port = "p1x"
address = "10.0.0.1/24"
"#;

fn doc(text: &str) -> toml::Table {
    toml::from_str(text).unwrap()
}

fn settings(args: &[&str]) -> toml::Table {
    parse_settings(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

fn empty() -> toml::Table {
    doc("[[bridge]]\nname = \"br0\"\n")
}

#[test]
fn values_parse_as_toml_or_stay_text() {
    assert_eq!(parse_value("10"), toml::Value::Integer(10));
    assert_eq!(parse_value("true"), toml::Value::Boolean(true));
    assert_eq!(
        parse_value("[10, 20]"),
        toml::Value::Array(vec![10.into(), 20.into()])
    );
    for text in ["veth1", "10.0.0.2", "02:00:00:00:00:01", "/tmp/a b.pcap"] {
        assert_eq!(parse_value(text), toml::Value::String(text.into()));
    }
    assert_eq!(parse_value("\"10\""), toml::Value::String("10".into()));
    let s = settings(&["options:interface=veth1", "vlan=10"]);
    assert_eq!(s["options:interface"].as_str(), Some("veth1"));
    assert!(parse_settings(&["vlan".into()])
        .unwrap_err()
        .contains("column=value"));
    assert!(parse_settings(&["=1".into()]).is_err());
}

#[test]
fn add_port_with_options_and_a_static_mac_is_one_transaction() {
    let ops = vec![
        Op::AddPort {
            bridge: "br0".into(),
            port: "c1".into(),
            settings: settings(&["type=tap", "options:interface=tap-c1", "vlan=10"]),
        },
        Op::Add {
            table: TableName::Bridge,
            record: "br0".into(),
            column: "static_mac".into(),
            values: vec![parse_value(r#"{mac = "02:00:00:00:00:01", port = "c1"}"#)],
        },
    ];
    let out = transact(&empty(), &ops).unwrap();
    let bridge = &out.config.bridges[0];
    assert_eq!(bridge.ports[0].name, "c1");
    assert_eq!(bridge.ports[0].kind.interface(), Some("tap-c1"));
    assert_eq!(bridge.static_macs[0].vlan, 10, "the port's VLAN");
    assert_eq!(out.results, vec![json!(null), json!(null)]);
    // The stored text parses back to the same document.
    let text = canonical(&out.document);
    assert_eq!(doc(&text), out.document);
}

#[test]
fn del_port_takes_its_static_macs_and_container_along() {
    let start = doc(r#"
[[bridge]]
name = "br0"
[[bridge.port]]
name = "c1"
type = "tap"
[[bridge.port]]
name = "c2"
type = "null"
[[bridge.static_mac]]
mac = "02:00:00:00:00:01"
port = "c1"
[[container]]
name = "c1"
port = "c1"
address = "10.0.0.1/24"
"#);
    let out = transact(&start, &[Op::DelPort { port: "c1".into() }]).unwrap();
    assert_eq!(out.config.bridges[0].ports.len(), 1);
    assert!(out.config.bridges[0].static_macs.is_empty());
    assert!(out.config.containers.is_empty());
    let text = canonical(&out.document);
    assert!(
        !text.contains("static_mac") && !text.contains("container"),
        "{text}"
    );
    let out = transact(
        &out.document,
        &[Op::DelBr {
            bridge: "br0".into(),
        }],
    )
    .unwrap();
    assert!(out.config.bridges.is_empty());
    assert_eq!(canonical(&out.document), "");
}

#[test]
fn set_get_list_clear_and_remove() {
    let start = doc(BASE.replace("p1x", "p1").as_str());
    let set = |table, record: &str, s: &[&str]| Op::Set {
        table,
        record: record.into(),
        settings: settings(s),
    };
    let ops = vec![
        set(
            TableName::Port,
            "p1",
            &["trunks=[10, 20]", "native_vlan=10"],
        ),
        set(TableName::Bridge, "br0", &["mac_limit=100"]),
        Op::Get {
            table: TableName::Port,
            record: "p1".into(),
            columns: vec!["trunks".into(), "type".into()],
        },
        Op::Remove {
            table: TableName::Port,
            record: "p1".into(),
            column: "trunks".into(),
            values: vec![20.into()],
        },
        Op::Clear {
            table: TableName::Port,
            record: "p1".into(),
            columns: vec!["native_vlan".into()],
        },
        Op::List {
            table: TableName::Port,
            record: None,
        },
        Op::List {
            table: TableName::Bridge,
            record: Some("br0".into()),
        },
    ];
    let out = transact(&start, &ops).unwrap();
    assert_eq!(out.results[2], json!([[10, 20], "tap"]));
    assert_eq!(
        out.results[5],
        json!([{"name": "p1", "type": "tap", "trunks": [10], "bridge": "br0"}])
    );
    assert_eq!(
        out.results[6],
        json!([{"name": "br0", "mac_limit": 100, "port": ["p1"]}])
    );
    assert_eq!(out.config.bridges[0].mac_limit, 100);
    let text = render_results(&ops, &out.results);
    assert!(text.starts_with("[10, 20]\ntap\n"), "{text}");
    assert!(text.contains("bridge : br0\nname   : p1\n"), "{text}");
    assert!(ops.iter().filter(|o| o.writes()).count() == 4);
}

#[test]
fn errors_name_the_op_and_the_field() {
    let start = empty();
    let bad_vlan = vec![
        Op::AddPort {
            bridge: "br0".into(),
            port: "c1".into(),
            settings: settings(&["type=null"]),
        },
        Op::Set {
            table: TableName::Port,
            record: "c1".into(),
            settings: settings(&["vlan=5000"]),
        },
    ];
    let e = transact(&start, &bad_vlan).unwrap_err();
    assert!(
        e.starts_with("op 2 (set port c1): bridge[0].port[0].vlan: VLAN 5000"),
        "{e}"
    );
    let e = transact(
        &start,
        &[Op::AddPort {
            bridge: "br9".into(),
            port: "c1".into(),
            settings: settings(&["type=null"]),
        }],
    )
    .unwrap_err();
    assert_eq!(e, "op 1 (add-port br9 c1): no bridge \"br9\"");
    let e = transact(
        &start,
        &[Op::AddPort {
            bridge: "br0".into(),
            port: "c1".into(),
            settings: settings(&["vlan=1"]),
        }],
    )
    .unwrap_err();
    assert!(e.contains("needs a type"), "{e}");
    let e = transact(
        &start,
        &[Op::Set {
            table: TableName::Bridge,
            record: "br0".into(),
            settings: settings(&["mac_agin_secs=1"]),
        }],
    )
    .unwrap_err();
    assert!(
        e.contains("op 1 (set bridge br0)") && e.contains("mac_agin_secs"),
        "{e}"
    );
    let e = transact(
        &start,
        &[Op::Set {
            table: TableName::Bridge,
            record: "br0".into(),
            settings: settings(&["name=br1"]),
        }],
    )
    .unwrap_err();
    assert!(e.contains("record name"), "{e}");
    let e = transact(
        &start,
        &[Op::Get {
            table: TableName::Switch,
            record: "x".into(),
            columns: vec!["workers".into()],
        }],
    )
    .unwrap_err();
    assert!(e.contains("one record, \".\""), "{e}");
    let e = transact(
        &start,
        &[Op::AddBr {
            bridge: "br0".into(),
            settings: toml::Table::new(),
        }],
    )
    .unwrap_err();
    assert!(e.contains("already exists"), "{e}");
}

#[test]
fn ops_travel_as_json() {
    let op: Op = serde_json::from_value(json!({
        "op": "add-port", "bridge": "br0", "port": "c1",
        "settings": {"type": "afxdp", "options": {"interface": "veth1"}, "vlan": 10}
    }))
    .unwrap();
    let out = transact(&empty(), std::slice::from_ref(&op)).unwrap();
    assert_eq!(
        out.config.bridges[0].ports[0].kind.interface(),
        Some("veth1")
    );
    let back: Op = serde_json::from_value(serde_json::to_value(&op).unwrap()).unwrap();
    assert_eq!(back, op);
    let e = serde_json::from_value::<Op>(json!({"op": "del-port", "port": "c1", "extra": 1}));
    assert!(e.is_err(), "unknown fields are refused");
    let e = serde_json::from_value::<Op>(
        json!({"op": "set", "table": "ports", "record": "c1", "settings": {}}),
    );
    assert!(e.is_err());
}

#[test]
fn the_atomic_writer_replaces_the_file_and_leaves_no_temporary() {
    let dir = TempDir::new("dbw").unwrap();
    let path = dir.join("sub/conf.toml");
    write_atomically(&path, b"one").unwrap();
    write_atomically(&path, b"two").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
    let names: Vec<_> = std::fs::read_dir(dir.join("sub"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("conf.toml")]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("sub"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "a directory it makes is root's only");
    // A directory where the file should be: an error, and no temporary left.
    let blocked = dir.join("blocked");
    std::fs::create_dir_all(blocked.join("inside")).unwrap();
    assert!(write_atomically(&blocked, b"x").is_err());
    assert!(!dir.join("blocked.tmp").exists());
}

#[test]
fn a_database_opens_empty_restores_and_commits() {
    let dir = TempDir::new("dbo").unwrap();
    let path = dir.join("conf.toml");
    let (mut db, config) = Database::open(&path).unwrap();
    assert!(config.bridges.is_empty() && db.document().is_empty());
    assert!(!path.exists(), "opening writes nothing");
    let out = transact(
        db.document(),
        &[Op::AddBr {
            bridge: "br0".into(),
            settings: settings(&["mac_aging_secs=60"]),
        }],
    )
    .unwrap();
    db.commit(out.document).unwrap();
    let (again, config) = Database::open(&path).unwrap();
    assert_eq!(again.document(), db.document());
    assert_eq!(config.bridges[0].mac_aging_secs, 60);
    // A broken database is refused, naming the file and the fix.
    std::fs::write(&path, "[[bridge]]\nname = 1\n").unwrap();
    let e = Database::open(&path).unwrap_err();
    assert!(
        e.contains(&path.display().to_string()) && e.contains("--config"),
        "{e}"
    );
    // A file loaded with --config is validated, and stored only by store().
    let file = dir.join("start.toml");
    std::fs::write(&file, BASE.replace("p1x", "p1")).unwrap();
    let (db, config) = Database::from_file(&path, &file).unwrap();
    assert_eq!(config.containers.len(), 1);
    db.store().unwrap();
    assert_eq!(Database::open(&path).unwrap().0.document(), db.document());
    std::fs::write(&file, BASE).unwrap();
    let e = Database::from_file(&path, &file).unwrap_err();
    assert!(
        e.contains("start.toml") && e.contains("container[0].port"),
        "{e}"
    );
}

#[test]
fn tunnel_ports_ride_on_uplinks_added_in_the_same_transaction() {
    let ops = vec![
        Op::AddUplink {
            uplink: "u0".into(),
            settings: settings(&["type=null", r#"addresses=["10.9.0.1/24"]"#]),
        },
        Op::AddPort {
            bridge: "br0".into(),
            port: "vx42".into(),
            settings: settings(&[
                "type=vxlan",
                "options:uplink=u0",
                "options:vni=42",
                r#"options:remote=["10.9.0.2"]"#,
            ]),
        },
    ];
    let out = transact(&empty(), &ops).unwrap();
    assert_eq!(out.config.uplinks[0].port.name, "u0");
    assert_eq!(out.config.bridges[0].ports[0].kind.type_name(), "vxlan");
    let e = transact(
        &out.document,
        &[Op::DelUplink {
            uplink: "u0".into(),
        }],
    )
    .unwrap_err();
    assert!(
        e.starts_with("op 1 (del-uplink u0): bridge[0].port[0].options.uplink"),
        "{e}"
    );
    let both = [
        Op::DelPort {
            port: "vx42".into(),
        },
        Op::DelUplink {
            uplink: "u0".into(),
        },
    ];
    assert_eq!(transact(&out.document, &both).unwrap().document, empty());
}

#[test]
fn networks_are_added_set_listed_and_removed_through_transactions() {
    let add = |name: &str, bridge: &str, third: u8, routes: &str| Op::AddNetwork {
        network: name.into(),
        settings: settings(&[
            &format!("bridge={bridge}"),
            &format!("subnet=10.{third}.0.0/24"),
            &format!("gateway=10.{third}.0.1"),
            &format!("routes_to={routes}"),
        ]),
    };
    // What vsctl does, one change at a time: each side lists the other in
    // a transaction of its own.
    let ops = vec![
        Op::AddBr {
            bridge: "br1".into(),
            settings: toml::Table::new(),
        },
        add("front", "br0", 1, "[]"),
    ];
    let out = transact(&empty(), &ops).unwrap();
    let out = transact(&out.document, &[add("back", "br1", 2, r#"["front"]"#)]).unwrap();
    let both = Op::Set {
        table: TableName::Network,
        record: "front".into(),
        settings: settings(&[r#"routes_to=["back"]"#]),
    };
    let out = transact(&out.document, &[both]).unwrap();
    assert_eq!(out.config.networks.len(), 2);
    assert_eq!(out.config.networks[0].routes_to, vec!["back".to_string()]);
    // A network another lists cannot go first: named, nothing changed.
    let e = transact(
        &out.document,
        &[Op::DelNetwork {
            network: "back".into(),
        }],
    )
    .unwrap_err();
    assert!(
        e.contains("network[0].routes_to[0]") && e.contains("no network \"back\""),
        "{e}"
    );
    let listed = Op::List {
        table: TableName::Network,
        record: None,
    }
    .apply(&mut out.document.clone())
    .unwrap();
    assert_eq!(listed[1]["name"], "back");
    assert_eq!(listed[1]["subnet"], "10.2.0.0/24");
    let gone = [
        Op::Set {
            table: TableName::Network,
            record: "back".into(),
            settings: settings(&["routes_to=[]"]),
        },
        Op::DelNetwork {
            network: "front".into(),
        },
    ];
    let out = transact(&out.document, &gone).unwrap();
    assert_eq!(out.config.networks.len(), 1);
    let e = transact(
        &out.document,
        &[Op::DelNetwork {
            network: "front".into(),
        }],
    )
    .unwrap_err();
    assert!(e.contains("no network \"front\""), "{e}");
}
