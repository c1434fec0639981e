//! `vswitch demo`: the main job on a built-in default. Brings up the
//! containers of a configuration (configs/demo.toml: two on veth pairs
//! driven by AF_PACKET, one on a TAP), pings every pair, sends a TCP stream
//! across, prints what the switch saw, and tears everything down.
//! [`overlay`] is `vswitch demo --overlay`: two hosts over VXLAN.

pub mod overlay;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::daemon::{render, request};
use crate::lab::Lab;

/// Runs the demo; with `keep`, waits for Ctrl-C before tearing down.
pub fn run(config_path: &Path, keep: bool) -> Result<(), String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    }
    println!("vswitch demo: {}", config_path.display());
    let lab = Lab::up(&config)?;
    let ask = |command: &str| -> Result<String, String> {
        request(lab.socket(), command)
            .map(|v| render(command, &v))
            .map_err(|e| e.to_string())
    };
    print!("{}", ask("show")?);
    println!("\ncontainers:");
    for c in &lab.containers {
        println!(
            "  {:<4} {:<12} namespace {:<18} port {}",
            c.name,
            c.ip,
            c.netns.name(),
            c.port
        );
    }

    println!("\nping, every pair:");
    let mut failures = 0;
    for a in &lab.containers {
        for b in &lab.containers {
            if a.name == b.name || interrupted.load(Ordering::Relaxed) {
                continue;
            }
            match lab.ping(&a.name, &b.name, 3) {
                Ok(summary) => println!("  {} -> {}: {summary}", a.name, b.name),
                Err(e) => {
                    failures += 1;
                    println!("  {e}");
                }
            }
        }
    }

    if let (Some(first), Some(last)) = (lab.containers.first(), lab.containers.last()) {
        println!("\nTCP, {} -> {}:", first.name, last.name);
        let bytes = 32 << 20;
        match lab.tcp_transfer(&first.name, &last.name, bytes, Duration::from_secs(20)) {
            Ok((n, took)) => println!(
                "  {} MiB in {:.2} s ({:.0} Mbit/s)",
                n >> 20,
                took.as_secs_f64(),
                n as f64 * 8.0 / took.as_secs_f64() / 1e6
            ),
            Err(e) => {
                failures += 1;
                println!("  {e}");
            }
        }
    }

    println!("\nport statistics (vsctl stats):");
    print!("{}", ask("stats")?);
    println!("\nworkers (vsctl pmd-stats):");
    print!("{}", ask("pmd-stats")?);
    for bridge in &lab.config.bridges {
        println!(
            "\nMAC table of {} (vsctl fdb-show {}):",
            bridge.name, bridge.name
        );
        print!("{}", ask(&format!("fdb-show {}", bridge.name))?);
    }
    if keep {
        println!(
            "\nup until Ctrl-C. Try: vsctl --socket {} stats; ip netns exec {} ping {} (ping is in iputils-ping)",
            lab.socket().display(),
            lab.containers[0].netns.name(),
            lab.containers
                .last()
                .map(|c| c.ip.to_string())
                .unwrap_or_default()
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
