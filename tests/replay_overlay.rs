//! Tunnel termination against captures of real stacks (tcpdump's VXLAN and
//! Geneve captures in ../shared/pcap): the switch plays the VTEP the
//! captured frames were sent to.

mod common;

use std::path::Path;

use common::*;
use vswitch::replay::{replay, ReplayOptions, ReplaySummary};

/// Replays `capture` into the uplink of the configuration `toml`; the
/// summary and what the container port `c` was sent.
fn run(toml: &str, capture: &Path) -> (ReplaySummary, Vec<Vec<u8>>) {
    let dir = TempDir::new("replay-overlay").unwrap();
    let config = dir.join("overlay.toml");
    std::fs::write(&config, toml).unwrap();
    let output_dir = dir.join("out");
    let summary = replay(&ReplayOptions {
        config,
        inputs: vec![("up".into(), capture.to_path_buf())],
        output_dir: output_dir.clone(),
    })
    .unwrap();
    let sent = read_pcap(&output_dir.join("c.pcap"));
    (summary, sent)
}

fn drops(summary: &ReplaySummary, port: &str, reason: &str) -> u64 {
    summary.ports[port]
        .drop_reasons
        .get(reason)
        .copied()
        .unwrap_or(0)
}

/// The frames of `capture` to UDP port `udp_dst` at IPv4 address `dst`.
fn tunnel_frames(capture: &Path, dst: [u8; 4], udp_dst: u16) -> Vec<Vec<u8>> {
    read_pcap(capture)
        .into_iter()
        .filter(|f| {
            f.len() > 42
                && f[12..14] == [0x08, 0x00]
                && f[30..34] == dst
                && f[36..38] == udp_dst.to_be_bytes()
        })
        .collect()
}

fn mac_text(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[test]
fn vxlan_from_a_real_vtep_is_decapsulated_into_its_bridge() {
    let Some(dir) = shared_pcap_dir("vxlan_from_a_real_vtep_is_decapsulated_into_its_bridge")
    else {
        return;
    };
    let capture = dir.join("vxlan.pcap");
    // The capture's VTEPs are 192.168.203.1 and 192.168.202.1; the switch
    // is 192.168.202.1, whose MAC the captured frames are addressed to.
    let to_us = tunnel_frames(&capture, [192, 168, 202, 1], 4789);
    assert_eq!(to_us.len(), 5);
    let toml = format!(
        r#"
[[uplink]]
name = "up"
type = "pcap"
addresses = ["192.168.202.1/24"]
mac = "{}"
gateway = "192.168.202.254"

[[bridge]]
name = "overlay"
[[bridge.port]]
name = "c"
type = "pcap"
[[bridge.port]]
name = "vx100"
type = "vxlan"
options = {{ uplink = "up", vni = 100, remote = ["192.168.203.1"] }}
"#,
        mac_text(&to_us[0][..6])
    );
    let (summary, sent) = run(&toml, &capture);
    // Every inner frame (ICMP echo requests, an ARP reply) reaches the
    // container port exactly as it was inside; the frames the other way
    // (sent by this VTEP in the capture) are not for us.
    let inner: Vec<Vec<u8>> = to_us.iter().map(|f| f[50..].to_vec()).collect();
    assert_eq!(sent, inner);
    assert_eq!(drops(&summary, "up", "uplink_not_for_us"), 5);
    assert_eq!(summary.ports["up"].rx_packets, 10);
    assert_eq!(summary.ports["up"].drops, 5);

    // `--trace` says what the uplink did with each frame.
    let dir2 = TempDir::new("replay-overlay-trace").unwrap();
    let config = dir2.join("overlay.toml");
    std::fs::write(&config, &toml).unwrap();
    let (_, trace) = vswitch::replay::replay_traced(&ReplayOptions {
        config,
        inputs: vec![("up".into(), capture.clone())],
        output_dir: dir2.join("out"),
    })
    .unwrap();
    assert!(
        trace.contains("decapsulate VNI 100 from 192.168.203.1"),
        "{trace}"
    );
    assert!(trace.contains("stage tunnel_in"), "{trace}");
    assert!(trace.contains("uplink_not_for_us"), "{trace}");

    // The same traffic for another VNI, or from an unknown VTEP, is
    // dropped with its reason.
    let (summary, sent) = run(&toml.replace("vni = 100", "vni = 101"), &capture);
    assert!(sent.is_empty());
    assert_eq!(drops(&summary, "up", "tunnel_unknown_vni"), 5);
    let (summary, _) = run(
        &toml.replace("192.168.203.1\"]", "192.168.203.9\"]"),
        &capture,
    );
    assert_eq!(drops(&summary, "up", "tunnel_unknown_remote"), 5);
}

#[test]
fn geneve_critical_options_are_understood_only_when_configured() {
    let Some(dir) = shared_pcap_dir("geneve_critical_options_are_understood_only_when_configured")
    else {
        return;
    };
    let capture = dir.join("geneve.pcap");
    // 20.0.0.1 sends VNI 0xa to 20.0.0.2 with a critical option (class 0,
    // type 0x80); the switch is 20.0.0.2.
    let to_us = tunnel_frames(&capture, [20, 0, 0, 2], 6081);
    assert!(to_us.len() > 10, "{}", to_us.len());
    let toml = |options: &str| {
        format!(
            r#"
[[uplink]]
name = "up"
type = "pcap"
addresses = ["20.0.0.2/24"]
mac = "{}"

[[bridge]]
name = "overlay"
[[bridge.port]]
name = "c"
type = "pcap"
[[bridge.port]]
name = "gnv"
type = "geneve"
options = {{ uplink = "up", vni = 10, remote = ["20.0.0.1"]{options} }}
"#,
            mac_text(&to_us[0][..6])
        )
    };
    let (summary, sent) = run(&toml(""), &capture);
    assert!(sent.is_empty());
    assert_eq!(
        drops(&summary, "up", "geneve_critical_option"),
        to_us.len() as u64
    );
    let (summary, sent) = run(
        &toml(r#", geneve_options = ["0000:80:0000000c"]"#),
        &capture,
    );
    assert_eq!(sent.len(), to_us.len(), "{:?}", summary.ports["up"]);
    // Each inner frame follows the 8-byte Geneve header and its 8 bytes of
    // options.
    for (inner, outer) in sent.iter().zip(&to_us) {
        assert_eq!(inner[..], outer[42 + 16..]);
    }
}
