//! A port's `security` column through transactions: the CNI-style attach
//! (add the port with its binding in one transaction), then set, get and
//! clear of the whole table and of its columns.

use serde_json::json;

use super::cli::parse_settings;
use super::*;

fn settings(args: &[&str]) -> toml::Table {
    parse_settings(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

fn start() -> toml::Table {
    toml::from_str("[[bridge]]\nname = \"br0\"\n").unwrap()
}

#[test]
fn attach_with_a_binding_then_set_get_clear() {
    let attach = [Op::AddPort {
        bridge: "br0".into(),
        port: "c1".into(),
        settings: settings(&[
            "type=null",
            r#"security={ mac = "02:00:00:00:01:02", ips = ["10.1.0.2", "fd00:1::2"] }"#,
        ]),
    }];
    let out = transact(&start(), &attach).unwrap();
    let bound = out.config.bridges[0].ports[0].security.as_ref().unwrap();
    assert_eq!(bound.mac, [2, 0, 0, 0, 1, 2]);
    assert_eq!(bound.ips.len(), 2);

    let change = [
        Op::Set {
            table: TableName::Port,
            record: "c1".into(),
            settings: settings(&[r#"security:ips=["10.1.0.3"]"#, "security:dhcp_server=true"]),
        },
        Op::Get {
            table: TableName::Port,
            record: "c1".into(),
            columns: vec!["security:ips".into(), "security:dhcp_server".into()],
        },
    ];
    let out = transact(&out.document, &change).unwrap();
    assert_eq!(out.results[1], json!([["10.1.0.3"], true]));
    let bound = out.config.bridges[0].ports[0].security.as_ref().unwrap();
    assert_eq!(
        bound.ips,
        vec!["10.1.0.3".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(bound.dhcp_server);

    let clear = [Op::Clear {
        table: TableName::Port,
        record: "c1".into(),
        columns: vec!["security".into()],
    }];
    let out = transact(&out.document, &clear).unwrap();
    assert_eq!(out.config.bridges[0].ports[0].security, None);
}

#[test]
fn a_bad_binding_refuses_the_whole_attach() {
    let attach = [Op::AddPort {
        bridge: "br0".into(),
        port: "c1".into(),
        settings: settings(&[
            "type=null",
            r#"security={ mac = "02:00:00:00:01:02", ips = ["10.1.0.300"] }"#,
        ]),
    }];
    let e = transact(&start(), &attach).unwrap_err();
    assert!(
        e.starts_with("op 1 (add-port br0 c1): bridge[0].port[0].security.ips[0]: \"10.1.0.300\" is not an IP address"),
        "{e}"
    );
}
