//! End to end, as root: containers in network namespaces, joined to the
//! switch by veth pairs (AF_XDP) or a TAP, with the kernel's own stack as
//! the peer. Everything a test creates is removed by guards, also on
//! failure. Pings are our own ICMP echo (`Lab::ping`), so nothing outside
//! the project is needed but iproute2. Not root, or no `ip`: one skip line
//! per test, and a failure when `CI` is set. The tests that run `vswitchd`
//! as a child process are in vswitch/tests/daemon_process.rs.

use std::time::Duration;

use vswitch::config::Config;
use vswitch::lab::Lab;
use vswitch_ports::testing::{require, require_netns};

/// A configuration of one bridge with the given ports (name, type, extra
/// TOML lines) and a container on each, addressed 10.210.0.<n>/24.
fn lab_config(ports: &[(&str, &str, &str)]) -> Config {
    lab_config_on(&[1], ports)
}

/// [`lab_config`] with workers on the given cores.
fn lab_config_on(workers: &[usize], ports: &[(&str, &str, &str)]) -> Config {
    let mut text = format!("[switch]\nworkers = {workers:?}\n[[bridge]]\nname = \"br0\"\n");
    for (name, kind, extra) in ports {
        text += &format!("[[bridge.port]]\nname = \"{name}\"\ntype = \"{kind}\"\n{extra}\n");
    }
    for (i, (name, _, _)) in ports.iter().enumerate() {
        text += &format!(
            "[[container]]\nname = \"{name}\"\nport = \"{name}\"\naddress = \"10.210.0.{}/24\"\n",
            i + 1
        );
    }
    Config::parse(&text, "e2e").unwrap()
}

fn all_pairs_ping(lab: &Lab) {
    for a in &lab.containers {
        for b in &lab.containers {
            if a.name != b.name {
                lab.ping(&a.name, &b.name, 2).unwrap();
            }
        }
    }
}

fn tcp(lab: &Lab, from: &str, to: &str) {
    let bytes = 4 << 20;
    let (got, _) = lab
        .tcp_transfer(from, to, bytes, Duration::from_secs(20))
        .unwrap();
    assert_eq!(got, bytes);
}

#[test]
fn two_containers_ping_and_hold_a_tcp_connection() {
    if !require_netns("two_containers_ping_and_hold_a_tcp_connection") {
        return;
    }
    let lab = Lab::up(&lab_config(&[("c1", "afxdp", ""), ("c2", "afxdp", "")])).unwrap();
    all_pairs_ping(&lab);
    tcp(&lab, "c1", "c2");
    tcp(&lab, "c2", "c1");
    let stats = vswitch::daemon::request(lab.socket(), "stats").unwrap();
    let c1 = &stats["ports"][0];
    assert!(c1["rx_packets"].as_u64().unwrap() > 100, "{stats}");
    let fdb = vswitch::daemon::request(lab.socket(), "fdb-show br0").unwrap();
    assert_eq!(fdb["entries"].as_array().unwrap().len(), 2, "{fdb}");
}

#[test]
fn three_containers_on_one_bridge() {
    if !require_netns("three_containers_on_one_bridge") {
        return;
    }
    let lab = Lab::up(&lab_config(&[
        ("c1", "afxdp", ""),
        ("c2", "afxdp", ""),
        ("c3", "afxdp", ""),
    ]))
    .unwrap();
    all_pairs_ping(&lab);
    tcp(&lab, "c1", "c3");
}

#[test]
fn access_vlans_are_isolated() {
    if !require_netns("access_vlans_are_isolated") {
        return;
    }
    // All four share one subnet; only the VLANs keep them apart.
    let lab = Lab::up(&lab_config(&[
        ("a10", "afxdp", "vlan = 10"),
        ("b10", "afxdp", "vlan = 10"),
        ("a20", "afxdp", "vlan = 20"),
        ("b20", "afxdp", "vlan = 20"),
    ]))
    .unwrap();
    lab.ping("a10", "b10", 2).unwrap();
    lab.ping("a20", "b20", 2).unwrap();
    assert!(
        lab.ping("a10", "a20", 2).is_err(),
        "VLAN 10 reached VLAN 20"
    );
    assert!(
        lab.ping("b20", "b10", 2).is_err(),
        "VLAN 20 reached VLAN 10"
    );
}

#[test]
fn tap_container_talks_to_veth_container() {
    if !require_netns("tap_container_talks_to_veth_container") {
        return;
    }
    let lab = Lab::up(&lab_config(&[("veth1", "afxdp", ""), ("tap1", "tap", "")])).unwrap();
    all_pairs_ping(&lab);
    tcp(&lab, "veth1", "tap1");
    tcp(&lab, "tap1", "veth1");
}

/// Two cores for two workers, when the end-to-end tests can run and the
/// machine has them.
fn two_cores(test: &str) -> Option<[usize; 2]> {
    if !require_netns(test) {
        return None;
    }
    let cores = match vswitch_ports::cpu::available_cores()[..] {
        [a, b, ..] => Some([a, b]),
        _ => None,
    };
    require(test, "two cores this process may use", cores.is_some()).then_some(cores?)
}

#[test]
fn two_workers_hand_frames_across() {
    let Some(cores) = two_cores("two_workers_hand_frames_across") else {
        return;
    };
    // Two ports, two workers: each port is polled by one worker, so every
    // frame between the containers crosses from one worker to the other.
    let lab = Lab::up(&lab_config_on(
        &cores,
        &[("c1", "afxdp", ""), ("c2", "afxdp", "")],
    ))
    .unwrap();
    let show = vswitch::daemon::request(lab.socket(), "show").unwrap();
    assert_ne!(
        show["ports"][0]["workers"], show["ports"][1]["workers"],
        "{show}"
    );
    all_pairs_ping(&lab);
    tcp(&lab, "c1", "c2");
    // Counters are published every 50 ms.
    std::thread::sleep(Duration::from_millis(200));
    let pmd = vswitch::daemon::request(lab.socket(), "pmd-stats").unwrap();
    for worker in pmd["workers"].as_array().unwrap() {
        assert!(worker["handoffs"].as_u64().unwrap() > 0, "{pmd}");
        assert!(worker["packets"].as_u64().unwrap() > 0, "{pmd}");
    }
}

#[test]
fn multi_queue_port_polled_by_two_workers() {
    let Some(cores) = two_cores("multi_queue_port_polled_by_two_workers") else {
        return;
    };
    // c1's port has two queues: one socket each, on different workers, so
    // one worker polls a queue of a port whose transmit side the other owns.
    let lab = Lab::up(&lab_config_on(
        &cores,
        &[
            ("c1", "afxdp", "options = { queues = 2 }"),
            ("c2", "afxdp", ""),
        ],
    ))
    .unwrap();
    let show = vswitch::daemon::request(lab.socket(), "show").unwrap();
    assert_eq!(
        show["ports"][0]["workers"].as_array().unwrap().len(),
        2,
        "{show}"
    );
    assert!(
        show["ports"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("2 queue(s)"),
        "{show}"
    );
    all_pairs_ping(&lab);
    tcp(&lab, "c1", "c2");
    tcp(&lab, "c2", "c1");
}
