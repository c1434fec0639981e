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
