//! Tunnels added and removed while the daemon runs: VXLAN frames loop into
//! an uplink from memory, and a configuration swap gives them a tunnel,
//! then takes it away. Needs no root.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use vswitch::config::Config;
use vswitch::daemon::{request, Daemon};
use vswitch_pipeline::wire::{vxlan, FrameBuilder, Ipv4Outer};

const UPLINK_MAC: &str = "02:00:00:00:aa:01";

/// `inner` inside VXLAN VNI 42 from 10.200.0.2 to our 10.200.0.1.
fn from_remote(inner: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 128 + inner.len()];
    let start = buf.len() - inner.len();
    buf[start..].copy_from_slice(inner);
    let built = FrameBuilder::new(&mut buf, start)
        .and_then(|b| b.push_bytes(&vxlan::header(42)))
        .and_then(|b| b.push_udp(0xc001, vxlan::DEFAULT_PORT))
        .and_then(|b| {
            b.push_ipv4(Ipv4Outer {
                src: [10, 200, 0, 2],
                dst: [10, 200, 0, 1],
                ttl: 64,
                tos: 0,
                dont_fragment: true,
                ident: 0,
            })
        })
        .and_then(|b| b.push_ethernet([2, 0, 0, 0, 0xaa, 1], [2, 0, 0, 0, 0xaa, 2]))
        .unwrap();
    let range = built.finish(false).unwrap();
    buf[range].to_vec()
}

fn config(dir: &TempDir, input: &std::path::Path, with_tunnel: bool) -> Config {
    let mut text = format!(
        "[switch]\nworkers = [0]\nidle = \"spin\"\ncontrol_socket = \"{}\"\n\
         [[uplink]]\nname = \"up\"\ntype = \"pcap\"\noptions = {{ input = \"{}\", loop = true }}\n\
         addresses = [\"10.200.0.1/24\"]\nmac = \"{UPLINK_MAC}\"\n\
         [[bridge]]\nname = \"blue\"\n\
         [[bridge.port]]\nname = \"sink\"\ntype = \"null\"\n\
         [[bridge.static_mac]]\nmac = \"02:00:00:00:ff:01\"\nport = \"sink\"\n",
        dir.join("ovl.sock").display(),
        input.display()
    );
    if with_tunnel {
        text += "[[bridge.port]]\nname = \"vx42\"\ntype = \"vxlan\"\n\
                 options = { uplink = \"up\", vni = 42, remote = [\"10.200.0.2\"] }\n";
    }
    Config::parse(&text, "overlay-swap-test").unwrap()
}

/// (uplink rx, sink tx, uplink_not_for_us drops) from one snapshot.
fn counters(socket: &std::path::Path) -> (u64, u64, u64) {
    let stats = request(socket, "stats").unwrap();
    let port = |name: &str| -> Value {
        stats["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no port {name} in {stats}"))
    };
    let (up, sink) = (port("up"), port("sink"));
    let not_for_us = up["drop_reasons"]["uplink_not_for_us"]
        .as_u64()
        .unwrap_or(0);
    (
        up["rx_packets"].as_u64().unwrap(),
        sink["tx_packets"].as_u64().unwrap(),
        not_for_us,
    )
}

#[test]
fn a_tunnel_added_and_removed_live_takes_effect_at_once() {
    let dir = TempDir::new("overlay-swap").unwrap();
    let input = dir.join("vxlan.pcap");
    let frames: Vec<_> = (0..500)
        .map(|i| (0.001, from_remote(&eth(mac(0xff01), mac(i), None, i as u8))))
        .collect();
    write_pcap(&input, &frames);
    let daemon = Daemon::start(&config(&dir, &input, false))
        .and_then(Daemon::spawn)
        .unwrap();
    let wait_for = |what: &dyn Fn((u64, u64, u64)) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            std::thread::sleep(Duration::from_millis(60));
            let c = counters(daemon.socket());
            if what(c) {
                return c;
            }
            assert!(Instant::now() < deadline, "counters stuck at {c:?}");
        }
    };
    // No tunnel: every frame is for nobody.
    let before = wait_for(&|c| c.0 > 20_000);
    assert_eq!(before.1, 0, "{before:?}");
    assert!(before.2 > 0, "{before:?}");

    // The tunnel arrives: frames are decapsulated to the sink.
    daemon.reconfigure(&config(&dir, &input, true)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // The uplink kept its id and its place in `show`.
    let show = request(daemon.socket(), "show").unwrap();
    let names: Vec<&str> = show["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sink", "vx42", "up"], "{show}");
    let added = counters(daemon.socket());
    let later = wait_for(&|c| c.1 > added.1 + 20_000);
    assert_eq!(later.2, added.2, "not-for-us stopped: {added:?} {later:?}");
    let tunnels = request(daemon.socket(), "tunnel-show").unwrap();
    let vteps = &tunnels["tunnels"][0]["vteps"];
    assert_eq!(vteps[0]["remote"], "10.200.0.2", "{tunnels}");
    assert_eq!(vteps[0]["macs"].as_array().unwrap().len(), 500, "{tunnels}");

    // And goes: not for us again, the sink gets nothing more.
    daemon.reconfigure(&config(&dir, &input, false)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let removed = counters(daemon.socket());
    let last = wait_for(&|c| c.2 > removed.2 + 20_000);
    assert_eq!(last.1, removed.1, "{removed:?} {last:?}");
    let tunnels = request(daemon.socket(), "tunnel-show").unwrap();
    assert_eq!(tunnels["tunnels"].as_array().unwrap().len(), 0, "{tunnels}");
}
