//! TCP throughput between two containers: the Linux bridge with the
//! kernel's default offloads against vswitchd, per container port type,
//! in the same run (issue 12, item 6).
//!
//! Runs, each with its own namespaces (every name from `unique_name`,
//! every piece removed on drop, also on a panic or an error):
//!
//! - `linux-bridge`: two namespaces on veth pairs enslaved to a bridge,
//!   default offloads (TSO, checksum offload on);
//! - `vswitchd tap-tap`: two TAP containers of `vswitch::lab`, default
//!   offloads: super-frames and partial checksums cross the switch whole;
//! - `vswitchd afpacket-afpacket`: two veth containers on AF_PACKET ports,
//!   default offloads;
//! - `vswitchd afxdp-afxdp`: two veth containers on AF_XDP ports, TX
//!   checksum offload off inside them (what AF_XDP needs);
//! - `vswitchd tap-afpacket`: a TAP container to an AF_PACKET one;
//! - `vswitchd tap-afxdp`, `afxdp-tap`: a TAP container to an AF_XDP one
//!   (the switch segments the TAP's super-frames in software), and back;
//! - `vswitchd afpacket-afxdp`: a veth container on AF_PACKET to an
//!   AF_XDP one.
//!
//! Each run is `iperf3 -c` for [`SECONDS`] (`TCP_SECONDS` in the
//! environment changes it) from the first container to an `iperf3 -s` in
//! the second; the benchmark prints Gbit/s and the ratio to the bridge.
//! `TCP_PAIRINGS` (for example `afpacket-afpacket,tap-tap`) runs only the
//! vswitchd pairings it names, beside the bridge. `TCP_CONTAINER_CPUS`
//! (for example `0`) runs both iperf3 ends on those CPUs only, in every
//! run, the bridge's included: the switch then has core 1 to itself, as on
//! a host that gives its switch a core, instead of sharing it with the
//! containers (this VM has two). `TCP_COUNTERS=1` also
//! prints, for each run, the sender's TCP retransmissions (iperf3's count)
//! and, for each vswitchd port, frames and bytes each way (so the mean
//! frame size: how whole the super-frames cross), drops and the kernel's
//! drops (`afpacket_rx_ring_full`, ...), read from the daemon's `stats`
//! right after the run, and the worker's busy cycles per KiB moved (what a
//! change saves even when a busy host hides it in the throughput).
//! Needs root and iperf3 (`apt-get install iperf3`); prints a skip line
//! otherwise. One vswitchd worker, on core 1.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vswitch::config::Config;
use vswitch::lab::Lab;
use vswitch_ports::netns::{ip, is_root, unique_name, LinuxBridge, NetNs, Veth};

/// How long each run sends, by default.
const SECONDS: u64 = 10;

fn main() {
    if !is_root() {
        println!("tcp_offload: skipped (needs root: network namespaces, TAP, XDP)");
        return;
    }
    if Command::new("iperf3").arg("--version").output().is_err() {
        println!("tcp_offload: skipped (needs iperf3: apt-get install iperf3)");
        return;
    }
    let seconds = std::env::var("TCP_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SECONDS);
    let mut runs: Vec<(String, f64)> = Vec::new();
    let mut run = |label: &str, result: Result<f64, String>| match result {
        Ok(gbit) => {
            println!("tcp_offload: {label}: {gbit:.2} Gbit/s");
            runs.push((label.to_string(), gbit));
        }
        Err(e) => {
            eprintln!("tcp_offload: {label}: failed: {e}");
            std::process::exit(1);
        }
    };
    let counters = std::env::var("TCP_COUNTERS").is_ok_and(|v| v == "1");
    let pairings = std::env::var("TCP_PAIRINGS").unwrap_or_default();
    let wanted = |first: &str, second: &str| {
        let pairing = format!("{first}-{second}");
        pairings.is_empty() || pairings.split(',').any(|p| p.trim() == pairing)
    };
    run("linux-bridge", bridge_run(seconds, counters));
    for (label, first, second) in [
        ("vswitchd tap-tap", "tap", "tap"),
        ("vswitchd afpacket-afpacket", "afpacket", "afpacket"),
        ("vswitchd afxdp-afxdp", "afxdp", "afxdp"),
        ("vswitchd tap-afpacket", "tap", "afpacket"),
        ("vswitchd tap-afxdp", "tap", "afxdp"),
        ("vswitchd afpacket-afxdp", "afpacket", "afxdp"),
        ("vswitchd afxdp-tap", "afxdp", "tap"),
    ] {
        if !wanted(first, second) {
            continue;
        }
        // Ports released a moment ago may be busy for about a second.
        std::thread::sleep(Duration::from_secs(1));
        run(label, lab_run(first, second, seconds, counters));
    }
    let bridge = runs.first().map_or(f64::NAN, |r| r.1);
    println!();
    println!("{:<28} {:>10} {:>12}", "switch", "Gbit/s", "vs bridge");
    for (label, gbit) in &runs {
        println!("{label:<28} {gbit:>10.2} {:>11.2}x", gbit / bridge);
    }
}

/// The Linux bridge between two namespaces, default offloads.
fn bridge_run(seconds: u64, counters: bool) -> Result<f64, String> {
    let err = |what: &'static str| move |e: vswitch_ports::PortError| format!("{what}: {e}");
    let c1 = NetNs::create(&unique_name("tob1")).map_err(err("cannot create a namespace"))?;
    let c2 = NetNs::create(&unique_name("tob2")).map_err(err("cannot create a namespace"))?;
    let a = Veth::create(&unique_name("toa"), &unique_name("top"), Some(&c1))
        .map_err(err("cannot create a veth pair"))?;
    let b = Veth::create(&unique_name("tob"), &unique_name("top"), Some(&c2))
        .map_err(err("cannot create a veth pair"))?;
    for (ns, veth, addr) in [(&c1, &a, "10.203.0.1/24"), (&c2, &b, "10.203.0.2/24")] {
        ns.ip(&["link", "set", veth.peer(), "name", "eth0"])
            .and_then(|_| ns.ip(&["addr", "add", addr, "dev", "eth0"]))
            .and_then(|_| ns.ip(&["link", "set", "eth0", "up"]))
            .and_then(|_| ip(&["link", "set", veth.host(), "up"]))
            .map_err(err("cannot set up a veth pair"))?;
    }
    let _bridge = LinuxBridge::create("tobr", a.host(), b.host()).map_err(|e| e.to_string())?;
    iperf(c1.name(), c2.name(), "10.203.0.2", seconds, counters)
}

/// vswitchd (in-process, one worker on core 1) with two containers on
/// ports of kinds `first` and `second`; with `counters`, the ports'
/// counters after the run.
fn lab_run(first: &str, second: &str, seconds: u64, counters: bool) -> Result<f64, String> {
    let config = format!(
        r#"
[switch]
workers = [1]
idle = "adaptive"

[[bridge]]
name = "br0"

[[bridge.port]]
name = "c1"
type = "{first}"

[[bridge.port]]
name = "c2"
type = "{second}"

[[container]]
name = "c1"
port = "c1"
address = "10.204.0.1/24"

[[container]]
name = "c2"
port = "c2"
address = "10.204.0.2/24"
"#
    );
    let config = Config::parse(&config, "tcp_offload.toml").map_err(|e| e.to_string())?;
    let lab = Lab::up(&config)?;
    let (a, b) = (lab.container("c1")?, lab.container("c2")?);
    let gbit = iperf(
        a.netns.name(),
        b.netns.name(),
        "10.204.0.2",
        seconds,
        counters,
    )?;
    if counters {
        print_worker_counters(&lab, gbit * 1e9 / 8.0 * seconds as f64)?;
        print_port_counters(&lab)?;
    }
    Ok(gbit)
}

/// The worker's cycles in iterations that found work, per KiB of the
/// `bytes` the run moved (the switch's cost, the kernel's inside its
/// system calls included, without the polling of idle iterations), and
/// how often it blocked and was woken.
fn print_worker_counters(lab: &Lab, bytes: f64) -> Result<(), String> {
    let stats = vswitch::daemon::request(lab.socket(), "pmd-stats").map_err(|e| e.to_string())?;
    for worker in stats["workers"].as_array().into_iter().flatten() {
        let count = |key: &str| worker[key].as_u64().unwrap_or(0);
        println!(
            "tcp_offload:   worker on core {}: {:.0} busy cycles per KiB, {} frames, \
             blocked {} times, {} ms",
            worker["core"],
            count("busy_cycles") as f64 / (bytes / 1024.0),
            count("packets"),
            count("sleeps"),
            count("blocked_us") / 1000,
        );
    }
    Ok(())
}

/// Each port's frames and bytes each way, with the mean frame size, its
/// drops and every drop reason that is not zero.
fn print_port_counters(lab: &Lab) -> Result<(), String> {
    let stats = vswitch::daemon::request(lab.socket(), "stats").map_err(|e| e.to_string())?;
    for port in stats["ports"].as_array().into_iter().flatten() {
        let count = |key: &str| port[key].as_u64().unwrap_or(0);
        let mean = |bytes: u64, frames: u64| bytes.checked_div(frames).unwrap_or(0);
        let (rx, rx_bytes) = (count("rx_packets"), count("rx_bytes"));
        let (tx, tx_bytes) = (count("tx_packets"), count("tx_bytes"));
        let mut drops = format!(" drops {}", count("drops"));
        for key in ["drop_reasons", "device_drops"] {
            for (cause, n) in port[key].as_object().into_iter().flatten() {
                if n.as_u64().unwrap_or(0) > 0 {
                    drops.push_str(&format!(" {cause}={n}"));
                }
            }
        }
        println!(
            "tcp_offload:   port {}: rx {rx} frames ({} B mean), tx {tx} frames ({} B mean),{drops}",
            port["name"].as_str().unwrap_or("?"),
            mean(rx_bytes, rx),
            mean(tx_bytes, tx),
        );
    }
    Ok(())
}

/// A process killed and reaped on drop.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `iperf3 -c` from `client_ns` to an `iperf3 -s` in `server_ns` on
/// `server_ip` for `seconds`; the receiver's Gbit/s. With `counters`,
/// prints the sender's retransmissions.
fn iperf(
    client_ns: &str,
    server_ns: &str,
    server_ip: &str,
    seconds: u64,
    counters: bool,
) -> Result<f64, String> {
    // `ip netns exec NS [taskset -c CPUS] iperf3`.
    let cpus = std::env::var("TCP_CONTAINER_CPUS").unwrap_or_default();
    let iperf3 = |ns: &str| {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns]);
        if !cpus.is_empty() {
            command.args(["taskset", "-c", &cpus]);
        }
        command.arg("iperf3");
        command
    };
    let _server = Reaped(
        iperf3(server_ns)
            .args(["-s", "-1", "-B", server_ip])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start iperf3 -s: {e}"))?,
    );
    // The server needs a moment to listen; the client retries, bounded.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = iperf3(client_ns)
            .args(["-c", server_ip, "-J", "-t"])
            .arg(seconds.to_string())
            .output()
            .map_err(|e| format!("cannot run iperf3 -c: {e}"))?;
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if let Some(bps) = report["end"]["sum_received"]["bits_per_second"].as_f64() {
            if counters {
                println!(
                    "tcp_offload:   sender retransmissions: {}",
                    report["end"]["sum_sent"]["retransmits"]
                );
            }
            return Ok(bps / 1e9);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "iperf3 -c {server_ip} failed: {}",
                report["error"].as_str().unwrap_or("no report")
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
