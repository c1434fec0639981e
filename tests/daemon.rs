//! The daemon without kernel I/O: a pcap port looping from memory into a
//! null port, the per-core measurement DESIGN.md describes. Needs no root.

mod common;

use std::time::{Duration, Instant};

use common::*;
use vswitch::config::Config;
use vswitch::daemon::{request, Daemon};

#[test]
fn looping_pcap_into_null_port_forwards_and_reports_cycles() {
    let dir = TempDir::new("daemon").unwrap();
    let input = dir.join("flows.pcap");
    // 1,000 flows from 1,000 senders to one receiver, a static MAC behind
    // the null port: every frame is a learned-destination forward.
    let frames: Vec<_> = (0..1000)
        .map(|i| (0.001, eth(mac(0xffff), mac(i), None, i as u8)))
        .collect();
    write_pcap(&input, &frames);
    let text = format!(
        "[switch]\nworkers = [0]\nidle = \"spin\"\ncontrol_socket = \"{}\"\n\
         [[bridge]]\nname = \"br0\"\n\
         [[bridge.port]]\nname = \"gen\"\ntype = \"pcap\"\noptions = {{ input = \"{}\", loop = true }}\n\
         [[bridge.port]]\nname = \"sink\"\ntype = \"null\"\n\
         [[bridge.static_mac]]\nmac = \"02:00:00:00:ff:ff\"\nport = \"sink\"\n",
        dir.join("d.sock").display(),
        input.display()
    );
    let config = Config::parse(&text, "daemon-test").unwrap();
    let daemon = Daemon::start(&config).and_then(Daemon::spawn).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (stats, pmd) = loop {
        std::thread::sleep(Duration::from_millis(100));
        let stats = request(daemon.socket(), "stats").unwrap();
        let pmd = request(daemon.socket(), "pmd-stats").unwrap();
        if stats["ports"][1]["tx_packets"].as_u64().unwrap_or(0) > 100_000 {
            break (stats, pmd);
        }
        assert!(Instant::now() < deadline, "too little forwarded: {stats}");
    };
    let (gen, sink) = (&stats["ports"][0], &stats["ports"][1]);
    assert_eq!(gen["drops"], 0, "{stats}");
    // Counters are snapshots taken by the worker at slightly different
    // moments; within one batch of each other.
    let (rx, tx) = (
        gen["rx_packets"].as_u64().unwrap(),
        sink["tx_packets"].as_u64().unwrap(),
    );
    assert!(rx.abs_diff(tx) <= 32, "{stats}");
    let worker = &pmd["workers"][0];
    assert!(worker["cycles_per_packet"].as_f64().unwrap() > 0.0, "{pmd}");
    assert!(worker["busy_iterations"].as_u64().unwrap() > 0, "{pmd}");
    let fdb = request(daemon.socket(), "fdb-show br0").unwrap();
    // The 1,000 senders, learned, and the static receiver.
    assert_eq!(fdb["entries"].as_array().unwrap().len(), 1001, "{fdb}");
}

/// The configuration of the swap test: a looping source, two sinks with
/// a static destination each, and `extra` ports.
fn swap_config(dir: &TempDir, input: &std::path::Path, y_on: &str, extra: &[&str]) -> Config {
    let mut text = format!(
        "[switch]\nworkers = [0]\nidle = \"spin\"\ncontrol_socket = \"{}\"\n\
         [[bridge]]\nname = \"br0\"\n\
         [[bridge.port]]\nname = \"gen\"\ntype = \"pcap\"\noptions = {{ input = \"{}\", loop = true }}\n\
         [[bridge.port]]\nname = \"sink1\"\ntype = \"null\"\n\
         [[bridge.port]]\nname = \"sink2\"\ntype = \"null\"\n",
        dir.join("swap.sock").display(),
        input.display()
    );
    for name in extra {
        text += &format!("[[bridge.port]]\nname = \"{name}\"\ntype = \"null\"\n");
    }
    text += &format!(
        "[[bridge.static_mac]]\nmac = \"02:00:00:00:ff:01\"\nport = \"sink1\"\n\
         [[bridge.static_mac]]\nmac = \"02:00:00:00:ff:02\"\nport = \"{y_on}\"\n"
    );
    Config::parse(&text, "swap-test").unwrap()
}

/// (gen rx, sink1 tx, sink2 tx, all drops), from one snapshot of the one
/// worker's counters.
type SwapCounters = (u64, u64, u64, u64);

/// The counters of the swap test and the ports `show` lists.
fn swap_counters(socket: &std::path::Path) -> (SwapCounters, Vec<String>) {
    let stats = request(socket, "stats").unwrap();
    let port = |name: &str| {
        stats["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_default()
    };
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or(0);
    let drops: u64 = stats["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| n(p, "drops"))
        .sum();
    let show = request(socket, "show").unwrap();
    let names = show["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    (
        (
            n(&port("gen"), "rx_packets"),
            n(&port("sink1"), "tx_packets"),
            n(&port("sink2"), "tx_packets"),
            drops,
        ),
        names,
    )
}

#[test]
fn configuration_swaps_under_traffic_lose_nothing_and_serve_nothing_stale() {
    let dir = TempDir::new("swap").unwrap();
    let input = dir.join("flows.pcap");
    // 1,000 senders, every other frame to X (static on sink1) or Y.
    let frames: Vec<_> = (0..1000)
        .map(|i| {
            let dst = if i % 2 == 0 { 0xff01 } else { 0xff02 };
            (0.001, eth(mac(dst), mac(i), None, i as u8))
        })
        .collect();
    write_pcap(&input, &frames);
    let first = swap_config(&dir, &input, "sink2", &["old"]);
    let daemon = Daemon::start(&first).and_then(Daemon::spawn).unwrap();
    let wait_for = |what: &dyn Fn(&SwapCounters) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            std::thread::sleep(Duration::from_millis(60));
            let (c, names) = swap_counters(daemon.socket());
            if what(&c) {
                return (c, names);
            }
            assert!(Instant::now() < deadline, "counters stuck at {c:?}");
        }
    };
    let (before, _) = wait_for(&|c| c.0 > 50_000);
    assert_eq!(before.0, before.1 + before.2, "{before:?}");

    // Add a port and remove another while frames flow; sinks keep theirs.
    daemon
        .reconfigure(&swap_config(&dir, &input, "sink2", &["new"]))
        .unwrap();
    let (after_add, names) = wait_for(&|c| c.0 > before.0 + 50_000);
    assert_eq!(names, ["gen", "sink1", "sink2", "new"]);
    assert_eq!(after_add.0, after_add.1 + after_add.2, "{after_add:?}");
    assert_eq!(after_add.3, 0, "no frame dropped: {after_add:?}");
    assert!(after_add.2 > before.2, "sink2 kept forwarding");

    // Move Y's static entry to sink1: from then on sink2 gets nothing,
    // though the flow cache had Y's frames going there.
    daemon
        .reconfigure(&swap_config(&dir, &input, "sink1", &["new"]))
        .unwrap();
    // Workers publish their counters every 50 ms: wait until what they
    // sent before the swap shows, then take the baseline.
    std::thread::sleep(Duration::from_millis(200));
    let (moved, _) = swap_counters(daemon.socket());
    // Until the cache has served frames of the new configuration too (a
    // stale hit would send Y's frames to sink2), however slow the machine.
    let hits = || {
        let pmd = request(daemon.socket(), "pmd-stats").unwrap();
        pmd["workers"][0]["flow_cache"]["hits"].as_u64().unwrap()
    };
    let hits_moved = hits();
    let (later, _) = wait_for(&|c| c.0 > moved.0 + 50_000 && hits() > hits_moved + 50_000);
    assert_eq!(
        later.2, moved.2,
        "frames to Y still went to sink2: {moved:?} {later:?}"
    );
    assert_eq!(later.0, later.1 + later.2, "{later:?}");
    assert_eq!(later.3, 0, "{later:?}");

    // What was learned survived every swap: the 1,000 senders and the two
    // static destinations.
    let fdb = request(daemon.socket(), "fdb-show br0").unwrap();
    assert_eq!(fdb["entries"].as_array().unwrap().len(), 1002, "{fdb}");
    let pmd = request(daemon.socket(), "pmd-stats").unwrap();
    assert_eq!(pmd["workers"][0]["reconfigurations"], 2, "{pmd}");
}

#[test]
fn a_swap_that_changes_switch_settings_is_refused_and_changes_nothing() {
    let dir = TempDir::new("swap").unwrap();
    let input = dir.join("flows.pcap");
    write_pcap(&input, &[(0.0, eth(mac(0xff01), mac(1), None, 0))]);
    let first = swap_config(&dir, &input, "sink2", &[]);
    let daemon = Daemon::start(&first).and_then(Daemon::spawn).unwrap();
    let mut other = swap_config(&dir, &input, "sink2", &["new"]);
    other.switch.batch_size = 16;
    let e = daemon.reconfigure(&other).unwrap_err().to_string();
    assert!(e.contains("[switch]") && e.contains("restart"), "{e}");
    let (_, names) = swap_counters(daemon.socket());
    assert_eq!(names, ["gen", "sink1", "sink2"]);
}

#[test]
fn a_swap_whose_new_port_cannot_open_changes_nothing() {
    let dir = TempDir::new("swap").unwrap();
    let input = dir.join("flows.pcap");
    write_pcap(&input, &[(0.0, eth(mac(0xff01), mac(1), None, 0))]);
    let first = swap_config(&dir, &input, "sink2", &["old"]);
    let daemon = Daemon::start(&first).and_then(Daemon::spawn).unwrap();
    let mut broken = swap_config(&dir, &input, "sink2", &[]);
    let missing = dir.join("no-such.pcap");
    let text = format!(
        "[[bridge.port]]\nname = \"replayed\"\ntype = \"pcap\"\noptions = {{ input = \"{}\" }}\n",
        missing.display()
    );
    let extra = Config::parse(&format!("[[bridge]]\nname = \"br0\"\n{text}"), "swap-test").unwrap();
    broken.bridges[0]
        .ports
        .push(extra.bridges[0].ports[0].clone());
    let e = daemon.reconfigure(&broken).unwrap_err().to_string();
    assert!(e.contains("replayed") && e.contains("no-such.pcap"), "{e}");
    // Nothing of it applied: "old" is still there, "replayed" is not.
    let (_, names) = swap_counters(daemon.socket());
    assert_eq!(names, ["gen", "sink1", "sink2", "old"]);
    // And the next good change still goes through.
    daemon
        .reconfigure(&swap_config(&dir, &input, "sink2", &[]))
        .unwrap();
    let (_, names) = swap_counters(daemon.socket());
    assert_eq!(names, ["gen", "sink1", "sink2"]);
}

/// An adaptive daemon whose ports bring nothing (null ports): its worker
/// blocks for good.
fn quiet_config(dir: &TempDir, ports: &[&str]) -> Config {
    let mut text = format!(
        "[switch]\nworkers = [0]\nidle = \"adaptive\"\ncontrol_socket = \"{}\"\n\
         [[bridge]]\nname = \"br0\"\n",
        dir.join("quiet.sock").display()
    );
    for name in ports {
        text += &format!("[[bridge.port]]\nname = \"{name}\"\ntype = \"null\"\n");
    }
    Config::parse(&text, "quiet-test").unwrap()
}

#[test]
fn a_blocked_adaptive_worker_takes_a_configuration_update_at_once() {
    let dir = TempDir::new("quiet").unwrap();
    let daemon = Daemon::start(&quiet_config(&dir, &["a", "b"]))
        .and_then(Daemon::spawn)
        .unwrap();
    let worker = |socket: &std::path::Path, counter: &str| {
        let pmd = request(socket, "pmd-stats").unwrap();
        pmd["workers"][0][counter].as_u64().unwrap()
    };
    let sleeps = |socket: &std::path::Path| worker(socket, "sleeps");
    let deadline = Instant::now() + Duration::from_secs(10);
    while sleeps(daemon.socket()) == 0 {
        assert!(Instant::now() < deadline, "the worker never blocked");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Blocked with nothing to wake it but its doorbell. A wake-up by an
    // event counts in `wakeups`; the 1 s safety timeout does not, so this
    // tells the doorbell from the timeout however loaded the machine is.
    std::thread::sleep(Duration::from_millis(100));
    let woken_before = worker(daemon.socket(), "wakeups");
    daemon
        .reconfigure(&quiet_config(&dir, &["a", "b", "c"]))
        .unwrap();
    // Published before the worker blocks again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pmd = request(daemon.socket(), "pmd-stats").unwrap();
        if pmd["workers"][0]["reconfigurations"] == 1 {
            assert!(
                pmd["workers"][0]["wakeups"].as_u64().unwrap() > woken_before,
                "the update was applied without a wake-up: not by the doorbell? {pmd}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{pmd}");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Stopping wakes it too (dropping the daemon joins the worker).
    let t0 = Instant::now();
    drop(daemon);
    assert!(
        t0.elapsed() < Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
}
