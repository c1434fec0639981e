//! `vswitch demo --overlay`: two hosts (network namespaces) joined by an
//! underlay veth, a `vswitchd` process in each, and containers on two
//! overlay networks, blue (VXLAN VNI 42) and red (VNI 43). Pings each pair
//! across the tunnels, sends a TCP stream, prints what both switches saw,
//! and tears everything down (also on Ctrl-C).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::daemon::render;
use crate::lab::overlay::{OverlayLab, OverlaySpec, TunnelType};

/// Where vswitchd is when not named: beside the running `vswitch` binary
/// (both are in target/release after `cargo build --release`).
fn default_vswitchd() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    Ok(exe.with_file_name("vswitchd"))
}

/// Runs the overlay demo with the daemon binary `vswitchd` (default:
/// beside this program); with `keep`, waits for Ctrl-C before tearing down.
pub fn run(vswitchd: Option<&Path>, keep: bool) -> Result<(), String> {
    let vswitchd = match vswitchd {
        Some(p) => p.to_path_buf(),
        None => default_vswitchd()?,
    };
    if !vswitchd.is_file() {
        return Err(format!(
            "no vswitchd at {}: build it (`cargo build --release`) or name it with --vswitchd PATH",
            vswitchd.display()
        ));
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    }
    let spec = OverlaySpec::new(TunnelType::Vxlan);
    println!(
        "vswitch demo --overlay: two hosts, VXLAN over a veth underlay, containers at MTU {} ({})",
        spec.container_mtu,
        vswitchd.display()
    );
    let lab = OverlayLab::up(&spec, &vswitchd)?;
    println!("\nhosts:");
    for h in &lab.hosts {
        println!(
            "  {} namespace {:<16} uplink {:<15} VTEP {:<12} config {}",
            h.name,
            h.netns.name(),
            h.uplink,
            h.vtep,
            h.config
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    println!("\ncontainers:");
    for e in &lab.endpoints {
        let vni = spec
            .networks
            .iter()
            .find(|n| n.name == e.network)
            .map(|n| n.vni)
            .unwrap_or_default();
        println!(
            "  {:<6} {:<10} host {}  VNI {vni}  namespace {}",
            e.name, e.ip, lab.hosts[e.host].name, e.netns_name
        );
    }
    if let Some(config) = &lab.hosts[0].config {
        println!("\nhost a's configuration ({}):", config.display());
        let text = std::fs::read_to_string(config).unwrap_or_default();
        for line in text.lines() {
            println!("  {line}");
        }
    }

    let mut failures = 0;
    println!("\nping across the tunnels:");
    for (from, to) in [
        ("a-blue", "b-blue"),
        ("b-blue", "a-blue"),
        ("a-red", "b-red"),
        ("b-red", "a-red"),
    ] {
        if interrupted.load(Ordering::Relaxed) {
            break;
        }
        match lab.ping(from, to, 3) {
            Ok(summary) => println!("  {from} -> {to}: {summary}"),
            Err(e) => {
                failures += 1;
                println!("  {e}");
            }
        }
    }
    if !interrupted.load(Ordering::Relaxed) {
        println!("\nTCP, a-blue -> b-blue (every byte checked):");
        match lab.tcp("a-blue", "b-blue", 32 << 20, Duration::from_secs(30)) {
            Ok(r) => println!(
                "  {} MiB in {:.2} s ({:.0} Mbit/s)",
                r.bytes >> 20,
                r.took.as_secs_f64(),
                r.mbit_per_s()
            ),
            Err(e) => {
                failures += 1;
                println!("  {e}");
            }
        }
    }

    // Counters are published every 50 ms.
    std::thread::sleep(Duration::from_millis(200));
    for (i, h) in lab.hosts.iter().enumerate() {
        for command in ["stats", "pmd-stats", "tunnel-show", "fdb-show blue"] {
            println!("\nhost {} (vsctl {command}):", h.name);
            match lab.request(i, command) {
                Ok(v) => print!("{}", render(command, &v)),
                Err(e) => println!("  {e}"),
            }
        }
    }
    if keep {
        let blue = lab.endpoint("a-blue")?;
        println!(
            "\nup until Ctrl-C. Try: vsctl --socket {} tunnel-show; ip netns exec {} ping {} (ping is in iputils-ping)",
            lab.socket(0)?.display(),
            blue.netns_name,
            lab.endpoint("b-blue")?.ip
        );
        while !interrupted.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    println!("\ntearing down");
    drop(lab);
    if failures > 0 {
        return Err(format!("{failures} check(s) failed"));
    }
    Ok(())
}
