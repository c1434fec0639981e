//! Every example configuration in configs/ stays valid, and the capture
//! the per-core example loops holds what its comment says.

mod common;

use std::path::Path;

use vswitch::config::Config;

#[test]
fn every_example_configuration_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "found only {checked} configurations in {}",
        dir.display()
    );
}

#[test]
fn per_core_capture_holds_1000_flows_to_one_receiver() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/flows-1000.pcap");
    let frames = common::read_pcap(&path);
    assert_eq!(frames.len(), 1000);
    let sources: std::collections::BTreeSet<_> = frames.iter().map(|f| f[6..12].to_vec()).collect();
    assert_eq!(sources.len(), 1000);
    assert!(frames
        .iter()
        .all(|f| f.len() == 60 && f[..6] == [2, 0, 0, 0, 0xff, 0xff]));
}

/// The per-core conntrack configurations (Open vSwitch's `ct-snat-1kflow`
/// and `ct-fw-snat-1kflow` cases) do what their comments say: Open
/// vSwitch's capture of 1,000 flows, addressed to the gateway as
/// `benches/per-core/gateway_pcap.py` writes it, leaves by the uplink
/// whole, every flow from 203.0.113.1 with a port of its own towards its
/// destination (ports repeat only towards other destinations), one
/// connection each; nothing is dropped.
#[test]
fn per_core_conntrack_configurations_masquerade_every_flow() {
    const TEST: &str = "per_core_conntrack_configurations_masquerade_every_flow";
    let capture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/ovs-dpdk/pcap/l2_1kflow.pcap");
    let needs = format!("Open vSwitch's capture {}", capture.display());
    if !vswitch_ports::testing::require(TEST, &needs, capture.is_file()) {
        return;
    }
    let gateway: [u8; 6] = [0x02, 0x47, 0, 0, 0, 1];
    let frames: common::Capture = common::read_pcap(&capture)
        .into_iter()
        .map(|mut f| {
            f[..6].copy_from_slice(&gateway);
            (1.0, f)
        })
        .collect();
    assert_eq!(frames.len(), 4000);
    for config in [
        "per-core-ct-snat-1kflow.toml",
        "per-core-ct-fw-snat-1kflow.toml",
    ] {
        let run = common::TracedRun::replay(config, &[("gen", frames.clone())]);
        let sent = run.sent_frames("sink");
        assert_eq!(sent.len(), frames.len(), "{config}");
        let mut flows = std::collections::BTreeSet::new();
        for f in &sent {
            assert_eq!(&f[26..30], &[203, 0, 113, 1], "{config}: source translated");
            assert_eq!(&f[30..32], &[10, 2], "{config}: destination kept");
            flows.insert((f[30..34].to_vec(), [f[34], f[35]]));
        }
        assert_eq!(flows.len(), 1000, "{config}: a port a flow");
        assert_eq!(run.summary.conntrack.created, 1000, "{config}");
        assert_eq!(run.summary.ports["gen"].drops, 0, "{config}");
    }
}
