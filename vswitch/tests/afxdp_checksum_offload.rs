//! TX-metadata checksum offload on an AF_XDP port, end to end as root: a
//! TAP container and an AF_PACKET veth container with the kernel's default
//! offloads (partial checksums and TSO super-frames) send TCP to an AF_XDP
//! container through the in-process daemon of `vswitch::lab`. The AF_XDP
//! port takes partial checksums (kernel 6.8 and later, copy mode): the
//! switch cuts the super-frames into segments that keep them, the kernel
//! completes them, and the receiving kernel accepts every byte (each
//! stream is checked by its receiver). The lab removes its namespaces and
//! links on drop, also on failure. Not root: a skip line (a failure under
//! CI).

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
name = "p1"
type = "afpacket"

[[bridge.port]]
name = "x1"
type = "afxdp"

[[container]]
name = "t1"
port = "t1"
address = "10.205.0.1/24"

[[container]]
name = "p1"
port = "p1"
address = "10.205.0.2/24"

[[container]]
name = "x1"
port = "x1"
address = "10.205.0.3/24"
"#;

/// 8 MiB: hundreds of 64 KiB super-frames.
const BYTES: usize = 8 << 20;

/// Full-sized TCP segments `BYTES` takes on a 1500-byte MTU.
const SEGMENTS: u64 = BYTES as u64 / 1448;

/// The stats of port `name`, as the control socket answers them.
fn port_stats(lab: &Lab, name: &str) -> Value {
    let stats = request(lab.socket(), "stats").unwrap();
    stats["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no port {name} in {stats}"))
}

fn transfer(lab: &Lab, from: &str, to: &str) {
    let (a, b) = (lab.container(from).unwrap(), lab.container(to).unwrap());
    let report = tcp_verified(
        a.netns.name(),
        b.netns.name(),
        b.ip,
        BYTES,
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("{from} -> {to}: {e}\n{}", port_stats(lab, to)));
    assert_eq!(report.bytes, BYTES);
    println!(
        "{from} -> {to}: {} bytes verified, {:.0} Mbit/s",
        report.bytes,
        report.mbit_per_s()
    );
}

#[test]
fn tcp_to_an_afxdp_container_leaves_checksums_to_the_kernel() {
    let test = "tcp_to_an_afxdp_container_leaves_checksums_to_the_kernel";
    if !require_netns(test)
        || !require(
            test,
            "/dev/net/tun (`modprobe tun`)",
            std::path::Path::new("/dev/net/tun").exists(),
        )
    {
        return;
    }
    let config = Config::parse(CONFIG, "afxdp_checksum_offload.toml").unwrap();
    let lab = Lab::up(&config).unwrap_or_else(|e| panic!("{test}: {e}"));
    let show = request(lab.socket(), "show").unwrap();
    assert!(
        show.to_string().contains("copy, TX checksum offload"),
        "the AF_XDP port's mode (kernel 6.8+): {show}"
    );

    let mut offloaded = 0;
    for from in ["t1", "p1"] {
        transfer(&lab, from, "x1");
        let x1 = port_stats(&lab, "x1");
        let counter = |key: &str| x1[key].as_u64().unwrap_or(0);
        // The super-frames were cut in software, their checksums left to
        // the kernel; none was completed by the switch.
        assert!(counter("csum_offloaded") > offloaded + SEGMENTS / 2, "{x1}");
        assert!(counter("sw_segmented") > 0, "{x1}");
        assert_eq!(counter("sw_checksum"), 0, "{x1}");
        offloaded = counter("csum_offloaded");
    }
    // And back: the AF_XDP container sends complete checksums (its TX
    // checksum offload is off, as AF_XDP receive needs).
    transfer(&lab, "x1", "t1");
}
