//! Replay tests: captures built here go through `vswitch replay` with the
//! example configurations, and every output is checked frame by frame.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use vswitch::replay::{output_path, replay, ReplayOptions, ReplaySummary};

fn config(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(name)
}

struct Outcome {
    summary: ReplaySummary,
    out: BTreeMap<String, Vec<Vec<u8>>>,
}

impl Outcome {
    fn sent(&self, port: &str) -> &[Vec<u8>] {
        &self.out[port]
    }

    fn drops(&self, port: &str, reason: &str) -> u64 {
        self.summary.ports[port]
            .drop_reasons
            .get(reason)
            .copied()
            .unwrap_or(0)
    }
}

/// Replays `inputs` (port → frames with timestamps in seconds) through
/// `config_file` and reads back every port's output.
/// Frames with their timestamps in seconds.
type Capture = Vec<(f64, Vec<u8>)>;

fn run(config_file: &Path, inputs: &[(&str, Capture)]) -> Outcome {
    let dir = TempDir::new("replay").unwrap();
    let mut input_files = Vec::new();
    for (port, frames) in inputs {
        let path = dir.join(&format!("in-{port}.pcap"));
        write_pcap(&path, frames);
        input_files.push((port.to_string(), path));
    }
    let output_dir = dir.join("out");
    let summary = replay(&ReplayOptions {
        config: config_file.to_path_buf(),
        inputs: input_files,
        output_dir: output_dir.clone(),
    })
    .unwrap();
    let out = summary
        .ports
        .keys()
        .map(|p| (p.clone(), read_pcap(&output_dir.join(format!("{p}.pcap")))))
        .collect();
    let written: ReplaySummary = summary.clone();
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(output_dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(on_disk["frames"], written.frames);
    assert_eq!(
        on_disk["latency"]["frames"], written.frames,
        "every frame's time in the switch is sampled"
    );
    if written.frames > 0 {
        assert!(
            written.latency.p50_ns.is_some() && written.latency.p999_ns >= written.latency.p50_ns
        );
    }
    Outcome { summary, out }
}

#[test]
fn learning_replaces_flooding() {
    let (a, b, c) = (mac(0xa), mac(0xb), mac(0xc));
    let a_to_b_1 = eth(b, a, None, 1);
    let b_to_a = eth(a, b, None, 2);
    let a_to_b_2 = eth(b, a, None, 3);
    let c_bcast = eth(BROADCAST, c, None, 4);
    let o = run(
        &config("l2-three-ports.toml"),
        &[
            // Frames of several inputs interleave by timestamp.
            ("p1", vec![(0.0, a_to_b_1.clone()), (2.0, a_to_b_2.clone())]),
            ("p2", vec![(1.0, b_to_a.clone())]),
            ("p3", vec![(3.0, c_bcast.clone())]),
        ],
    );
    // B unknown at first: flooded to p2 and p3. Then learned: p2 only.
    assert_eq!(o.sent("p2"), &[a_to_b_1.clone(), a_to_b_2, c_bcast.clone()]);
    // A was learned from the first frame: B's reply goes to p1 only.
    assert_eq!(o.sent("p1"), &[b_to_a, c_bcast]);
    assert_eq!(o.sent("p3"), &[a_to_b_1]);
    assert_eq!(o.summary.frames, 4);
    assert_eq!(o.summary.ports["p1"].rx_packets, 2);
    assert_eq!(o.summary.ports["p2"].tx_packets, 3);
    assert_eq!(o.summary.bridges["br0"].learned, 3);
    assert_eq!(o.summary.bridges["br0"].mac_entries, 3);
}

#[test]
fn flooding_never_returns_to_ingress_and_hairpin_is_dropped() {
    let (a, b) = (mac(1), mac(2));
    let o = run(
        &config("l2-three-ports.toml"),
        &[(
            "p1",
            vec![
                (0.0, eth(BROADCAST, a, None, 1)),
                (0.1, eth(BROADCAST, b, None, 2)),
                // A and B both live on p1: a frame between them stays there.
                (0.2, eth(b, a, None, 3)),
            ],
        )],
    );
    assert!(o.sent("p1").is_empty());
    assert_eq!(o.sent("p2").len(), 2);
    assert_eq!(o.sent("p3").len(), 2);
    assert_eq!(o.drops("p1", "destination_is_ingress_port"), 1);
}

#[test]
fn moved_host_is_followed() {
    let (a, b) = (mac(1), mac(2));
    let to_a = eth(a, b, None, 4);
    let o = run(
        &config("l2-three-ports.toml"),
        &[
            ("p1", vec![(0.0, eth(BROADCAST, a, None, 1))]),
            // A moves to p3, then B talks to it.
            ("p3", vec![(2.0, eth(BROADCAST, a, None, 3))]),
            ("p2", vec![(3.0, to_a.clone())]),
        ],
    );
    assert_eq!(o.summary.bridges["br0"].moved, 1);
    assert_eq!(o.sent("p3"), &[eth(BROADCAST, a, None, 1), to_a.clone()]);
    assert!(!o.sent("p1").contains(&to_a));
}

#[test]
fn aging_forgets_silent_hosts() {
    // l2-three-ports.toml ages MACs after 10 s.
    let (a, b) = (mac(1), mac(2));
    let to_b = |t| eth(b, a, None, t);
    let o = run(
        &config("l2-three-ports.toml"),
        &[
            (
                "p1",
                vec![
                    (100.0, to_b(1)),
                    (102.0, to_b(2)),
                    (109.0, to_b(3)),
                    (125.0, to_b(4)),
                ],
            ),
            ("p2", vec![(101.0, eth(a, b, None, 9))]),
        ],
    );
    // t=100 flood; t=102 and t=109 B known (seen at 101); at t=125 B has
    // been silent 24 s > 10 s: flooded again.
    assert_eq!(o.sent("p2"), &[to_b(1), to_b(2), to_b(3), to_b(4)]);
    assert_eq!(o.sent("p3"), &[to_b(1), to_b(4)]);
    assert!(o.summary.bridges["br0"].aged >= 1);
}

#[test]
fn vlan_access_ports_are_isolated_and_trunk_tags() {
    let (a, b, c, d) = (mac(0xa), mac(0xb), mac(0xc), mac(0xd));
    let bcast10 = eth(BROADCAST, a, None, 1);
    let bcast20 = eth(BROADCAST, c, None, 2);
    let from_trunk20 = eth(c, d, Some(20), 3);
    let from_trunk10_to_a = eth(a, b, Some(10), 4);
    let o = run(
        &config("vlans.toml"),
        &[
            ("a10", vec![(0.0, bcast10.clone())]),
            ("a20", vec![(1.0, bcast20.clone())]),
            (
                "uplink",
                vec![
                    (2.0, from_trunk20.clone()),
                    (3.0, from_trunk10_to_a.clone()),
                    (4.0, eth(a, b, Some(30), 5)),
                    (5.0, eth(a, b, None, 6)),
                ],
            ),
            ("b10", vec![(6.0, eth(a, b, Some(10), 7))]),
        ],
    );
    // VLAN 10 broadcast: b10 untagged, uplink tagged 10, never a20.
    assert_eq!(o.sent("b10"), std::slice::from_ref(&bcast10));
    assert_eq!(
        o.sent("uplink"),
        &[retag(&bcast10, Some(10)), retag(&bcast20, Some(20))]
    );
    // From the trunk: tag removed towards access ports, by VLAN.
    assert_eq!(o.sent("a20"), &[retag(&from_trunk20, None)]);
    assert_eq!(o.sent("a10"), &[retag(&from_trunk10_to_a, None)]);
    assert_eq!(o.drops("uplink", "vlan_not_allowed"), 1);
    assert_eq!(o.drops("uplink", "untagged_on_trunk_port"), 1);
    assert_eq!(o.drops("b10", "tagged_on_access_port"), 1);
}

#[test]
fn mac_limits_cost_counters_not_forwarding() {
    // mac-limits.toml: bridge limit 8, p1 limit 5, a static MAC on p3.
    let flood: Vec<(f64, Vec<u8>)> = (0..20)
        .map(|i| (i as f64 * 0.01, eth(BROADCAST, mac(100 + i), None, i as u8)))
        .collect();
    let more: Vec<(f64, Vec<u8>)> = (0..10)
        .map(|i| {
            (
                1.0 + i as f64 * 0.01,
                eth(BROADCAST, mac(200 + i), None, i as u8),
            )
        })
        .collect();
    let replies: Vec<(f64, Vec<u8>)> = (0..20)
        .map(|i| {
            (
                2.0 + i as f64 * 0.01,
                eth(mac(100 + i), mac(999), None, 0x80 | i as u8),
            )
        })
        .collect();
    let to_static = eth([0x02, 0, 0, 0, 0xff, 0x01], mac(999), None, 0xff);
    let mut p2 = replies.clone();
    p2.push((3.0, to_static.clone()));
    let o = run(
        &config("mac-limits.toml"),
        &[("p1", flood.clone()), ("p3", more), ("p2", p2)],
    );
    let br = &o.summary.bridges["br0"];
    assert_eq!(br.port_limit_hits, 15, "p1 holds 5 of its 20 MACs");
    // 5 from p1, then p3 fills the bridge to 8. At the limit a new MAC
    // evicts the least recently seen entry of the port holding the most
    // (as Open vSwitch does), so p3's other 7 hosts and p2's own source
    // are learned too, never refused: a flood from one port cannot lock
    // out hosts on the others.
    assert_eq!(br.mac_entries, 8);
    assert_eq!(br.bridge_limit_hits, 0);
    assert_eq!(br.learned, 16);
    assert_eq!(br.evicted, 8);
    // Every flooded frame was still delivered.
    assert_eq!(o.summary.ports["p2"].tx_packets, 30);
    // p1 gets p3's 10 broadcasts and all 20 replies (to its MACs still
    // learned, or flooded). p3 gets p1's 20 broadcasts, the 16 replies to
    // p1 hosts that were not (or no longer) learned, flooded, and the frame
    // to its static MAC.
    assert_eq!(o.sent("p1").len(), 10 + 20);
    assert_eq!(o.sent("p3").len(), 20 + 16 + 1);
    // The static entry holds without learning.
    assert!(o.sent("p3").contains(&to_static));
    assert!(!o.sent("p1").contains(&to_static));
}

#[test]
fn link_local_control_frames_stay_local() {
    let lldp = {
        let mut f = eth([0x01, 0x80, 0xc2, 0, 0, 0x0e], mac(1), None, 0);
        f[12..14].copy_from_slice(&[0x88, 0xcc]);
        f
    };
    let stp = eth([0x01, 0x80, 0xc2, 0, 0, 0x00], mac(1), None, 0);
    let o = run(
        &config("l2-three-ports.toml"),
        &[("p1", vec![(0.0, lldp), (0.1, stp)])],
    );
    assert_eq!(o.drops("p1", "link_local_control"), 2);
    assert!(o.sent("p2").is_empty() && o.sent("p3").is_empty());
}

#[test]
fn malformed_frames_are_dropped_with_reasons() {
    let (a, b) = (mac(1), mac(2));
    let mut bad_ipv4 = eth(b, a, None, 0);
    bad_ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
    bad_ipv4[14] = 0x43; // IHL 3
    let mut short_vlan = eth(b, a, Some(10), 0);
    short_vlan.truncate(15);
    let o = run(
        &config("l2-three-ports.toml"),
        &[(
            "p1",
            vec![
                (0.0, vec![0u8; 10]),
                (0.1, short_vlan),
                (0.2, bad_ipv4),
                (0.3, eth(b, [0xff; 6], None, 0)),
            ],
        )],
    );
    assert_eq!(o.drops("p1", "eth_truncated"), 1);
    assert_eq!(o.drops("p1", "vlan_truncated"), 1);
    assert_eq!(o.drops("p1", "ipv4_bad_header_length"), 1);
    assert_eq!(o.drops("p1", "invalid_source_mac"), 1);
    assert_eq!(o.summary.ports["p1"].drops, 4);
    assert!(o.sent("p2").is_empty());
}

#[test]
fn replay_errors_name_the_problem() {
    let dir = TempDir::new("replay").unwrap();
    let input = dir.join("in.pcap");
    write_pcap(&input, &[(0.0, eth(BROADCAST, mac(1), None, 0))]);
    let err = |config: PathBuf, port: &str, file: PathBuf| {
        replay(&ReplayOptions {
            config,
            inputs: vec![(port.to_string(), file)],
            output_dir: dir.join("out"),
        })
        .unwrap_err()
        .to_string()
    };
    let e = err(config("l2-three-ports.toml"), "nope", input.clone());
    assert!(
        e.contains("no port \"nope\"") && e.contains("p1, p2, p3"),
        "{e}"
    );
    let e = err(config("missing.toml"), "p1", input.clone());
    assert!(
        e.contains("missing.toml") && e.contains("cannot read"),
        "{e}"
    );
    let e = err(config("l2-three-ports.toml"), "p1", dir.join("absent.pcap"));
    assert!(e.contains("absent.pcap"), "{e}");
}

#[test]
fn one_port_given_twice_is_refused_by_name() {
    let dir = TempDir::new("replay").unwrap();
    let (a, b) = (dir.join("a.pcap"), dir.join("b.pcap"));
    write_pcap(&a, &[(0.0, eth(BROADCAST, mac(1), None, 0))]);
    write_pcap(&b, &[(0.0, eth(BROADCAST, mac(2), None, 0))]);
    let e = replay(&ReplayOptions {
        config: config("l2-three-ports.toml"),
        inputs: vec![("p1".into(), a), ("p2".into(), b.clone()), ("p1".into(), b)],
        output_dir: dir.join("out"),
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("port \"p1\" is given twice") && e.contains("a.pcap") && e.contains("b.pcap"),
        "{e}"
    );
}

/// A record longer than its file's snaplen is cut to the snaplen, as
/// libpcap does, and the replay goes on to the frames after it.
#[test]
fn record_longer_than_the_snaplen_is_cut_and_replay_goes_on() {
    let dir = TempDir::new("replay").unwrap();
    let input = dir.join("cut.pcap");
    let snaplen = 40u32;
    // Classic pcap, little-endian, microseconds, Ethernet.
    let mut bytes = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&snaplen.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    let frames = [
        eth(BROADCAST, mac(1), None, 1),
        eth(BROADCAST, mac(2), None, 2)[..snaplen as usize].to_vec(),
    ];
    for (secs, frame) in frames.iter().enumerate() {
        let len = (frame.len() as u32).to_le_bytes();
        bytes.extend_from_slice(&(secs as u32).to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(&len);
        bytes.extend_from_slice(&len);
        bytes.extend_from_slice(frame);
    }
    std::fs::write(&input, bytes).unwrap();
    let out = dir.join("out");
    let summary = replay(&ReplayOptions {
        config: config("l2-three-ports.toml"),
        inputs: vec![("p1".into(), input)],
        output_dir: out.clone(),
    })
    .unwrap();
    assert_eq!(summary.frames, 2);
    let sent = read_pcap(&output_path(&out, "p2"));
    assert_eq!(sent, vec![frames[0][..40].to_vec(), frames[1].clone()]);
}

/// Every real capture in ../shared/pcap goes through the datapath: no
/// panic, and every frame is either sent (flooded to both other ports) or
/// dropped with a reason. Hostile files are refused with a message.
#[test]
fn every_shared_capture_replays() {
    let Some(dir) = shared_pcap_dir("every_shared_capture_replays") else {
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the tcpdump captures in {}",
        dir.display()
    );
    let out = TempDir::new("replay").unwrap();
    let mut seen = BTreeMap::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let result = replay(&ReplayOptions {
            config: config("l2-three-ports.toml"),
            inputs: vec![("p1".into(), file.clone())],
            output_dir: out.join(&name),
        });
        match result {
            Ok(s) => {
                let p1 = &s.ports["p1"];
                assert_eq!(p1.rx_packets, s.frames, "{name}");
                // Flooding sends each forwarded frame to p2 and p3.
                assert_eq!(s.ports["p2"].tx_packets, s.ports["p3"].tx_packets, "{name}");
                assert_eq!(s.ports["p2"].tx_packets + p1.drops, s.frames, "{name}");
                seen.insert(
                    name,
                    (s.frames, s.ports["p2"].tx_packets, p1.drop_reasons.clone()),
                );
            }
            Err(e) => {
                assert!(name.contains("heapoverflow"), "{name} failed: {e}");
                assert!(e.to_string().contains(&name), "{e}");
                seen.insert(name, (0, 0, BTreeMap::new()));
            }
        }
    }
    let get = |n: &str| {
        seen.get(n)
            .cloned()
            .unwrap_or_else(|| panic!("{n} missing"))
    };
    // Both ends of these conversations are learned on p1, so after the
    // first frames the rest stay there; none is malformed.
    for (file, frames) in [
        ("vxlan.pcap", 10),
        ("geneve.pcap", 39),
        ("802.1ad_QinQ.pcap", 2),
        ("dns_udp.pcap", 2),
    ] {
        let (n, sent, reasons) = get(file);
        assert_eq!(n, frames, "{file}");
        assert!(sent > 0, "{file}");
        assert!(
            reasons.keys().all(|r| r == "destination_is_ingress_port"),
            "{file}: {reasons:?}"
        );
    }
    let lldp = get("LLDP_and_CDP.pcap");
    assert!(
        lldp.2.get("link_local_control").copied().unwrap_or(0) > 0,
        "{lldp:?}"
    );
    for malformed in [
        "ipv4_invalid_hdr_length.pcap",
        "ipv4_invalid_length.pcap",
        "ipv4_invalid_total_length.pcap",
        "ipv4_invalid_total_length_2.pcap",
    ] {
        let (frames, sent, reasons) = get(malformed);
        assert!(frames > 0 && sent < frames, "{malformed}: {reasons:?}");
        assert!(
            reasons.keys().any(|r| r.starts_with("ipv4_")),
            "{malformed}: {reasons:?}"
        );
    }
    for malformed in ["arp-too-long-tha.pcap", "ip6_frag_asan.pcap"] {
        let (frames, sent, reasons) = get(malformed);
        assert_eq!((frames, sent), (1, 0), "{malformed}: {reasons:?}");
    }
    eprintln!("{seen:#?}");
}

#[test]
fn trace_says_what_every_stage_decided_and_changes_nothing() {
    // vlans.toml: a10/b10 access ports of VLAN 10, a20 of VLAN 20, and an
    // uplink trunk carrying both.
    let (a, b) = (mac(0xa), mac(0xb));
    let inputs = [
        ("a10", vec![(0.0, eth(b, a, None, 1))]),
        ("uplink", vec![(0.5, eth(a, b, Some(10), 2))]),
    ];
    let plain = run(&config("vlans.toml"), &inputs);
    let dir = TempDir::new("trace").unwrap();
    let mut files = Vec::new();
    for (port, frames) in &inputs {
        let path = dir.join(&format!("in-{port}.pcap"));
        write_pcap(&path, frames);
        files.push((port.to_string(), path));
    }
    let (mut summary, trace) = vswitch::replay::replay_traced(&ReplayOptions {
        config: config("vlans.toml"),
        inputs: files,
        output_dir: dir.join("out"),
    })
    .unwrap();
    // Only the time frames took may differ.
    summary.latency = plain.summary.latency;
    assert_eq!(summary, plain.summary, "tracing changed a decision");
    let frames: Vec<&str> = trace.split("frame ").filter(|f| !f.is_empty()).collect();
    assert_eq!(frames.len(), 2, "{trace}");
    // The first frame: learned on a10, unknown destination, flooded in
    // VLAN 10 to b10 and the uplink (tagged there).
    for line in [
        "in_port a10",
        "stage ingress",
        "ingress: bridge 0, vlan 10 (untagged)",
        "learn 02:00:00:00:00:0a vlan 10 on a10: learned",
        "lookup 02:00:00:00:00:0b vlan 10: miss, flood",
        "to b10 (untagged), uplink (tagged 10)",
        "actions: flood:group",
    ] {
        assert!(
            frames[0].contains(line),
            "missing {line:?} in\n{}",
            frames[0]
        );
    }
    assert!(
        !frames[0].contains("a20"),
        "flooded out of VLAN 20:\n{}",
        frames[0]
    );
    // The reply: a hit on a10, the tag popped for the access port.
    for line in [
        "in_port uplink",
        "ingress: bridge 0, vlan 10 (tagged)",
        "lookup 02:00:00:00:00:0a vlan 10: hit, on a10",
        "actions: pop_vlan, output:a10",
    ] {
        assert!(
            frames[1].contains(line),
            "missing {line:?} in\n{}",
            frames[1]
        );
    }
}
