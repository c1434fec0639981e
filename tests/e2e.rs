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
    lab_config_with("", workers, ports)
}

/// [`lab_config_on`] with more `[switch]` lines.
fn lab_config_with(switch: &str, workers: &[usize], ports: &[(&str, &str, &str)]) -> Config {
    let mut text =
        format!("[switch]\nworkers = {workers:?}\n{switch}\n[[bridge]]\nname = \"br0\"\n");
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

/// The idle counters of every worker: (sleeps, wakeups), summed.
fn idle_counters(lab: &Lab) -> (u64, u64) {
    let pmd = vswitch::daemon::request(lab.socket(), "pmd-stats").unwrap();
    let sum = |key: &str| {
        pmd["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w[key].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    (sum("sleeps"), sum("wakeups"))
}

/// Waits (bounded) until the workers have blocked at least once more
/// than `sleeps`.
fn wait_until_blocked(lab: &Lab, sleeps: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while idle_counters(lab).0 <= sleeps {
        assert!(
            std::time::Instant::now() < deadline,
            "no adaptive worker blocked within 10 s: {}",
            vswitch::daemon::request(lab.socket(), "pmd-stats").unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One echo request from `from` to `to`; its round-trip time.
fn ping_once(lab: &Lab, from: &str, to: &str) -> Duration {
    let (a, b) = (lab.container(from).unwrap(), lab.container(to).unwrap());
    let pinger =
        vswitch_ports::netns::run_in_netns(a.netns.name(), vswitch_ports::ping::Pinger::open)
            .unwrap()
            .unwrap();
    let report = pinger
        .ping(b.ip, 1, Duration::from_millis(10), Duration::from_secs(3))
        .unwrap();
    *report
        .rtts
        .first()
        .unwrap_or_else(|| panic!("no answer to the first ping {from} -> {to} after quiet"))
}

/// After a second of silence each pair still answers the first ping.
fn first_ping_after_quiet(lab: &Lab, pairs: &[(&str, &str)]) {
    // Learn every MAC and ARP entry first: the first frame after the
    // quiet is then the echo request itself.
    all_pairs_ping(lab);
    for (from, to) in pairs {
        let (sleeps, wakeups) = idle_counters(lab);
        wait_until_blocked(lab, sleeps);
        std::thread::sleep(Duration::from_secs(1));
        // A worker that missed its wake-up would answer only at its 1 s
        // safety timeout: half of that is far above any real RTT.
        let rtt = ping_once(lab, from, to);
        assert!(
            rtt < Duration::from_millis(500),
            "the first ping {from} -> {to} after 1 s of quiet took {rtt:?}: a missed wake-up?"
        );
        // Counters are published before the worker blocks again.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while idle_counters(lab).1 <= wakeups {
            assert!(
                std::time::Instant::now() < deadline,
                "the ping {from} -> {to} woke no worker: {}",
                vswitch::daemon::request(lab.socket(), "pmd-stats").unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let pmd = vswitch::daemon::request(lab.socket(), "pmd-stats").unwrap();
    for w in pmd["workers"].as_array().unwrap() {
        assert!(w["blocked_us"].as_u64().unwrap() > 0, "{pmd}");
        assert!(w["poll_us"].as_u64().unwrap() > 0, "{pmd}");
        // Every worker moved frames: its rx-to-tx histogram has them.
        assert!(w["latency"]["frames"].as_u64().unwrap() > 0, "{pmd}");
        let (p50, p999) = (
            w["latency"]["p50_ns"].as_u64().unwrap(),
            w["latency"]["p999_ns"].as_u64().unwrap(),
        );
        assert!(0 < p50 && p50 <= p999, "{pmd}");
    }
}

#[test]
fn adaptive_worker_wakes_on_the_first_frame_after_quiet() {
    if !require_netns("adaptive_worker_wakes_on_the_first_frame_after_quiet") {
        return;
    }
    // AF_XDP sockets and a TAP in one worker's epoll set.
    let lab = Lab::up(&lab_config_with(
        "idle = \"adaptive\"",
        &[1],
        &[("c1", "afxdp", ""), ("c2", "afxdp", ""), ("c3", "tap", "")],
    ))
    .unwrap();
    first_ping_after_quiet(&lab, &[("c1", "c2"), ("c3", "c1"), ("c2", "c3")]);
    tcp(&lab, "c1", "c3");
}

#[test]
fn adaptive_workers_wake_each_other_for_hand_offs() {
    let Some(cores) = two_cores("adaptive_workers_wake_each_other_for_hand_offs") else {
        return;
    };
    // Every frame crosses from one worker to the other: the owner of the
    // destination port is woken by its doorbell, not by its own sockets.
    let lab = Lab::up(&lab_config_with(
        "idle = \"adaptive\"",
        &cores,
        &[("c1", "afxdp", ""), ("c2", "afxdp", "")],
    ))
    .unwrap();
    first_ping_after_quiet(&lab, &[("c1", "c2"), ("c2", "c1")]);
    tcp(&lab, "c1", "c2");
}
