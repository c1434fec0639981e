//! Shared helpers for the integration tests: frame builders, capture files,
//! temporary directories that remove themselves, the shared captures.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::{Path, PathBuf};

use vswitch_ports::pcap::{PcapReader, PcapWriter};
use vswitch_ports::testing::require;

/// A locally administered unicast MAC numbered `n`.
pub fn mac(n: u32) -> [u8; 6] {
    let b = n.to_be_bytes();
    [0x02, 0x00, b[0], b[1], b[2], b[3]]
}

pub const BROADCAST: [u8; 6] = [0xff; 6];

/// An Ethernet frame of 64 bytes (60 + FCS the capture leaves out) with an
/// optional 802.1Q tag and a payload that carries `tag` so frames can be
/// told apart.
pub fn eth(dst: [u8; 6], src: [u8; 6], vlan: Option<u16>, tag: u8) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    if let Some(v) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&[0x88, 0xb5]); // IEEE local experimental ethertype
    f.push(tag);
    f.resize(if vlan.is_some() { 64 } else { 60 }, 0);
    f
}

/// The same frame with its 802.1Q tag removed or added, as a switch would.
pub fn retag(frame: &[u8], vlan: Option<u16>) -> Vec<u8> {
    let tagged = frame[12..14] == [0x81, 0x00];
    let mut out = frame[..12].to_vec();
    if let Some(v) = vlan {
        out.extend_from_slice(&[0x81, 0x00]);
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&frame[if tagged { 16 } else { 12 }..]);
    out
}

#[allow(unused_imports)]
// as dead_code above: not every test binary makes temporary directories
pub use vswitch_ports::testing::TempDir;

/// Writes frames with timestamps in seconds.
pub fn write_pcap(path: &Path, frames: &[(f64, Vec<u8>)]) {
    let mut w = PcapWriter::create(path).unwrap();
    for (secs, f) in frames {
        w.write(f, (secs * 1e9) as u64).unwrap();
    }
    w.finish().unwrap();
}

/// Every frame of a capture.
pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let mut r = PcapReader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(f) = r.next_frame().unwrap() {
        out.push(f.data.to_vec());
    }
    out
}

/// Where tcpdump's captures are: `tcpdump/` in $VSWITCH_PCAP_DIR, or in
/// ../shared/pcap beside the project. None, after [`require`]'s skip line
/// (a failure under CI), when absent.
pub fn shared_pcap_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("VSWITCH_PCAP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pcap"))
        .join("tcpdump");
    let needs = format!(
        "the capture folder {} (set VSWITCH_PCAP_DIR)",
        dir.display()
    );
    require(test, &needs, dir.is_dir()).then_some(dir)
}

/// Frames into one port, each with its time in seconds.
pub type Capture = Vec<(f64, Vec<u8>)>;

/// A traced replay of captures into `configs/<config>`: its summary, its
/// trace, and the directory holding its outputs.
pub struct TracedRun {
    pub summary: vswitch::replay::ReplaySummary,
    pub trace: String,
    pub dir: TempDir,
}

impl TracedRun {
    /// Replays `inputs` (port, frames) through `configs/<config>`, traced.
    pub fn replay(config: &str, inputs: &[(&str, Capture)]) -> TracedRun {
        let dir = TempDir::new("replay").unwrap();
        let mut files = Vec::new();
        for (port, frames) in inputs {
            let path = dir.join(&format!("in-{port}.pcap"));
            write_pcap(&path, frames);
            files.push((port.to_string(), path));
        }
        let (summary, trace) = vswitch::replay::replay_traced(&vswitch::replay::ReplayOptions {
            config: Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("configs")
                .join(config),
            inputs: files,
            output_dir: dir.join("out"),
        })
        .unwrap();
        TracedRun {
            summary,
            trace,
            dir,
        }
    }

    /// The frames port `port` sent.
    pub fn sent_frames(&self, port: &str) -> Vec<Vec<u8>> {
        read_pcap(&self.dir.join("out").join(format!("{port}.pcap")))
    }

    /// The trace of frame `n` (from 1).
    pub fn frame(&self, n: usize) -> &str {
        self.trace
            .split("frame ")
            .filter(|f| !f.is_empty())
            .nth(n - 1)
            .unwrap_or_else(|| panic!("no frame {n} in\n{}", self.trace))
    }

    /// Frames dropped on `port` for `reason`.
    pub fn drops(&self, port: &str, reason: &str) -> u64 {
        self.summary.ports[port]
            .drop_reasons
            .get(reason)
            .copied()
            .unwrap_or(0)
    }
}

/// Asserts that `text` holds every one of `lines`.
pub fn has(text: &str, lines: &[&str]) {
    for line in lines {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}
