//! TCP through the switch with the containers' kernel offloads, as root:
//! two TAP containers and two veth containers on AF_PACKET ports that keep
//! their default offloads (partial checksums and TSO super-frames reach
//! the switch whole), and an AF_XDP container (TX checksum offload off, as
//! AF_XDP needs), on one bridge in the
//! in-process daemon of `vswitch::lab`. Every stream is checked byte for
//! byte by its receiver. The lab removes its namespaces and links on drop,
//! also on failure. Not root: a skip line (a failure under CI).

use std::time::Duration;

use serde_json::Value;
use vswitch::config::Config;
use vswitch::daemon::request;
use vswitch::lab::traffic::tcp_verified;
use vswitch::lab::Lab;
use vswitch_ports::testing::{require, require_netns};

const CONFIG: &str = r#"
[switch]
workers = [1]
idle = "adaptive"

[[bridge]]
name = "br0"

[[bridge.port]]
name = "t1"
type = "tap"

[[bridge.port]]
name = "t2"
type = "tap"

[[bridge.port]]
name = "x1"
type = "afxdp"

[[bridge.port]]
name = "p1"
type = "afpacket"

[[bridge.port]]
name = "p2"
type = "afpacket"

[[container]]
name = "t1"
port = "t1"
address = "10.201.0.1/24"

[[container]]
name = "t2"
port = "t2"
address = "10.201.0.2/24"

[[container]]
name = "x1"
port = "x1"
address = "10.201.0.3/24"

[[container]]
name = "p1"
port = "p1"
address = "10.201.0.4/24"

[[container]]
name = "p2"
port = "p2"
address = "10.201.0.5/24"
"#;

/// 8 MiB: hundreds of 64 KiB super-frames.
const BYTES: usize = 8 << 20;

fn lab(test: &str) -> Option<Lab> {
    if !require_netns(test)
        || !require(
            test,
            "/dev/net/tun (`modprobe tun`)",
            std::path::Path::new("/dev/net/tun").exists(),
        )
    {
        return None;
    }
    let config = Config::parse(CONFIG, "offloads.toml").unwrap();
    Some(Lab::up(&config).unwrap_or_else(|e| panic!("{test}: {e}")))
}

/// The daemon's counters, shown when a transfer fails.
fn stats(lab: &Lab) -> Value {
    request(lab.socket(), "stats").unwrap()
}

/// Counter `field` of port `name`.
fn counter(lab: &Lab, name: &str, field: &str) -> u64 {
    let stats = stats(lab);
    let port = stats["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no port {name} in {stats}"));
    port[field].as_u64().unwrap_or(0)
}

/// Full-sized TCP segments `BYTES` takes on a 1500-byte MTU.
const SEGMENTS: u64 = BYTES as u64 / 1448;

fn transfer(lab: &Lab, from: &str, to: &str) {
    let (a, b) = (lab.container(from).unwrap(), lab.container(to).unwrap());
    let report = tcp_verified(
        a.netns.name(),
        b.netns.name(),
        b.ip,
        BYTES,
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("{from} -> {to}: {e}\nstats: {}", stats(lab)));
    assert_eq!(report.bytes, BYTES);
    println!(
        "{from} -> {to}: {} bytes verified, {:.0} Mbit/s",
        report.bytes,
        report.mbit_per_s()
    );
}

#[test]
fn tcp_between_tap_containers_with_default_offloads() {
    let Some(lab) = lab("tcp_between_tap_containers_with_default_offloads") else {
        return;
    };
    transfer(&lab, "t1", "t2");
    // Super-frames crossed whole: far fewer frames than MTU-sized
    // segments, none of them cut or completed by the switch.
    let frames = counter(&lab, "t2", "tx_packets");
    assert!(
        frames < SEGMENTS / 2,
        "{frames} frames to t2\n{}",
        stats(&lab)
    );
    transfer(&lab, "t2", "t1");
    for port in ["t1", "t2"] {
        assert_eq!(counter(&lab, port, "sw_segmented"), 0, "{}", stats(&lab));
    }
}

#[test]
fn tcp_between_a_tap_container_and_an_afxdp_container() {
    let Some(lab) = lab("tcp_between_a_tap_container_and_an_afxdp_container") else {
        return;
    };
    transfer(&lab, "t1", "x1");
    // The TAP's super-frames were cut for the AF_XDP port.
    let segmented = counter(&lab, "x1", "sw_segmented");
    assert!(
        segmented > SEGMENTS / 2,
        "{segmented} segments\n{}",
        stats(&lab)
    );
    transfer(&lab, "x1", "t1");
}

#[test]
fn tcp_between_afpacket_containers_keeps_super_frames() {
    let Some(lab) = lab("tcp_between_afpacket_containers_keeps_super_frames") else {
        return;
    };
    transfer(&lab, "p1", "p2");
    let frames = counter(&lab, "p2", "tx_packets");
    assert!(
        frames < SEGMENTS / 2,
        "{frames} frames to p2\n{}",
        stats(&lab)
    );
    transfer(&lab, "p2", "p1");
    transfer(&lab, "t1", "p1");
    transfer(&lab, "p2", "t2");
    transfer(&lab, "p1", "x1");
    for port in ["t1", "t2", "p1", "p2"] {
        assert_eq!(counter(&lab, port, "sw_segmented"), 0, "{}", stats(&lab));
    }
}
