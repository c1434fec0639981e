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
