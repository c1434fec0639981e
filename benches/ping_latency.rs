//! Ping round-trip time between two containers at low load: the Linux
//! bridge against vswitchd, in the same run (issue 13, item 3).
//!
//! Topology (every name from `unique_name`, every piece removed on drop,
//! also on a panic or an error):
//!
//! ```text
//!   netns c1: eth0 ⇄ host end A ── switch ── host end B ⇄ eth0 :netns c2
//! ```
//!
//! The switch is first a Linux bridge enslaving A and B, then vswitchd
//! (in-process, AF_XDP on A and B, one worker) with each idle policy:
//! `adaptive`, `spin`, `sleep`. For each, after a few warm-up echoes (ARP,
//! MAC learning), c1 sends 100 echo requests a second to c2 for
//! [`PING_TIME`] with the project's own ICMP echo (`vswitch_ports::ping`),
//! and the benchmark prints the average and maximum RTT and their ratio
//! to the bridge's. The target for `adaptive` is at most 1.2 times the
//! bridge.
//!
//! The pinging thread runs on core 0, the worker on core 1. Needs root
//! (namespaces, XDP); prints a skip line otherwise. `PING_SECONDS` in the
//! environment changes how long each run pings, `PING_POLICIES` which
//! policies run, `PING_WORKER_CORE` the worker's core (0 puts it beside
//! the pinger).

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use vswitch::daemon::BackgroundDaemon;
use vswitch_ports::cpu::{available_cores, pin_current_thread};
use vswitch_ports::netns::{ip, is_root, run_in_netns, unique_name, LinuxBridge, NetNs, Veth};
use vswitch_ports::ping::Pinger;

/// How long each run pings, by default.
const PING_TIME: Duration = Duration::from_secs(5);
/// One request every 10 ms: 100 a second.
const INTERVAL: Duration = Duration::from_millis(10);
/// Echoes before each measured run (ARP, MAC learning, warm caches).
const WARM_UP: u32 = 5;

const C1_IP: [u8; 4] = [10, 202, 0, 1];
const C2_IP: [u8; 4] = [10, 202, 0, 2];

const PING_CORE: usize = 0;
/// The worker's core unless `PING_WORKER_CORE` names another (0: the
/// pinger's own, to see what a cross-core wake-up costs).
const WORKER_CORE: usize = 1;

fn worker_core() -> usize {
    std::env::var("PING_WORKER_CORE")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(WORKER_CORE)
}

fn main() {
    // `cargo bench` passes --bench; a filter argument selects nothing here.
    if !is_root() {
        println!("ping_latency: skipped (needs root: network namespaces, veth pairs and XDP)");
        return;
    }
    let cores = available_cores();
    if !cores.contains(&PING_CORE) || !cores.contains(&worker_core()) {
        println!(
            "ping_latency: skipped (needs cores {PING_CORE} and {}; this process may use {cores:?})",
            worker_core()
        );
        return;
    }
    if let Err(e) = run_benchmark() {
        eprintln!("ping_latency: failed: {e}");
        std::process::exit(1);
    }
}

/// The RTTs of one run.
struct Run {
    label: String,
    sent: u32,
    rtts: Vec<Duration>,
}

impl Run {
    fn avg_us(&self) -> f64 {
        if self.rtts.is_empty() {
            return f64::NAN;
        }
        self.rtts.iter().map(|d| d.as_secs_f64()).sum::<f64>() / self.rtts.len() as f64 * 1e6
    }

    fn max_us(&self) -> f64 {
        self.rtts
            .iter()
            .max()
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
    }

    fn percentile_us(&self, p: f64) -> f64 {
        let mut sorted = self.rtts.clone();
        sorted.sort();
        match sorted.len() {
            0 => f64::NAN,
            n => sorted[((n - 1) as f64 * p).round() as usize].as_secs_f64() * 1e6,
        }
    }
}

/// Two containers on veth pairs whose host ends are A and B; removed on
/// drop (the namespaces, and the links with them).
struct Topology {
    c1: NetNs,
    c2: NetNs,
    a: Veth,
    b: Veth,
}

fn run_benchmark() -> Result<(), String> {
    let seconds = std::env::var("PING_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(PING_TIME, Duration::from_secs);
    let count = (seconds.as_millis() / INTERVAL.as_millis()).max(1) as u32;
    let topology = build_topology()?;
    let (host_a, host_b) = (topology.a.host().to_string(), topology.b.host().to_string());
    println!(
        "ping_latency: containers {} and {}, host ends A={host_a} B={host_b}; \
         {count} echo requests at 100/s per run, ping on core {PING_CORE}, worker on core {}",
        topology.c1.name(),
        topology.c2.name(),
        worker_core()
    );

    let mut runs = Vec::new();
    {
        let _bridge = LinuxBridge::create("plbr", &host_a, &host_b).map_err(|e| e.to_string())?;
        runs.push(ping_run("linux-bridge", &topology, count)?);
    }
    // PING_POLICIES=adaptive,adaptive:50,spin runs those (`:N` sets
    // idle_quiet_us of adaptive, idle_sleep_us of sleep).
    let policies = std::env::var("PING_POLICIES").unwrap_or_else(|_| "adaptive,spin,sleep".into());
    for idle in policies.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        // Ports released a moment ago (the bridge, the previous daemon)
        // may be busy for about a second.
        std::thread::sleep(Duration::from_secs(1));
        let daemon = start_daemon(&host_a, &host_b, idle)?;
        let run = ping_run(&format!("vswitchd ({idle})"), &topology, count)?;
        if let Ok(pmd) = vswitch::daemon::request(daemon.socket(), "pmd-stats") {
            print!("{}", vswitch::daemon::render("pmd-stats", &pmd));
        }
        drop(daemon);
        runs.push(run);
    }
    print_report(&runs);
    Ok(())
}

fn build_topology() -> Result<Topology, String> {
    let err = |what: &'static str| move |e: vswitch_ports::PortError| format!("{what}: {e}");
    let c1 = NetNs::create(&unique_name("plc1")).map_err(err("cannot create namespace c1"))?;
    let c2 = NetNs::create(&unique_name("plc2")).map_err(err("cannot create namespace c2"))?;
    let a = Veth::create(&unique_name("pla"), &unique_name("plp"), Some(&c1))
        .map_err(err("cannot create veth A"))?;
    let b = Veth::create(&unique_name("plb"), &unique_name("plp"), Some(&c2))
        .map_err(err("cannot create veth B"))?;
    for (ns, veth, addr) in [(&c1, &a, C1_IP), (&c2, &b, C2_IP)] {
        let addr = format!("{}.{}.{}.{}/24", addr[0], addr[1], addr[2], addr[3]);
        ns.ip(&["link", "set", veth.peer(), "name", "eth0"])
            .and_then(|_| ns.ip(&["addr", "add", &addr, "dev", "eth0"]))
            .and_then(|_| ns.ip(&["link", "set", "eth0", "up"]))
            .and_then(|_| ip(&["link", "set", veth.host(), "up"]))
            .map_err(err("cannot set up a veth pair"))?;
        // The switch forwards frames as they are: checksums must be
        // complete (the same setting for the bridge, for a fair compare).
        run_in_netns(ns.name(), || {
            vswitch_ports::ethtool::disable_tx_checksum_offload("eth0")
        })
        .and_then(|r| r)
        .map_err(err("cannot turn off checksum offload"))?;
    }
    Ok(Topology { c1, c2, a, b })
}

/// Warm-up echoes, then `count` at 100 a second from c1 to c2, from a
/// thread pinned to [`PING_CORE`] (this thread stays unpinned: the daemon
/// it starts checks that it may use the worker's core).
fn ping_run(label: &str, topology: &Topology, count: u32) -> Result<Run, String> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                pin_current_thread(PING_CORE).map_err(|e| e.to_string())?;
                ping_run_here(label, topology, count)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn ping_run_here(label: &str, topology: &Topology, count: u32) -> Result<Run, String> {
    let pinger = run_in_netns(topology.c1.name(), Pinger::open)
        .and_then(|p| p)
        .map_err(|e| format!("{label}: cannot open the pinger: {e}"))?;
    let to = C2_IP.into();
    // Bounded: the path may take a moment to forward (bridge ports
    // entering forwarding, XDP attaching).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let warm = pinger
            .ping(to, WARM_UP, INTERVAL, Duration::from_millis(500))
            .map_err(|e| format!("{label}: {e}"))?;
        if warm.received() == WARM_UP {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{label}: c1 cannot reach c2 ({})", warm.summary()));
        }
    }
    let report = pinger
        .ping(to, count, INTERVAL, Duration::from_secs(1))
        .map_err(|e| format!("{label}: {e}"))?;
    println!("ping_latency: {label}: {}", report.summary());
    Ok(Run {
        label: label.to_string(),
        sent: report.sent,
        rtts: report.rtts,
    })
}

/// vswitchd for policy `idle`, written `adaptive:US` or `sleep:US` to set
/// the quiet or sleep time.
fn start_daemon(host_a: &str, host_b: &str, idle: &str) -> Result<BackgroundDaemon, String> {
    let lines = match idle.split_once(':') {
        Some(("adaptive", us)) => format!("idle = \"adaptive\"\nidle_quiet_us = {us}"),
        Some(("sleep", us)) => format!("idle = \"sleep\"\nidle_sleep_us = {us}"),
        _ => format!("idle = \"{idle}\""),
    };
    common::start_two_port_daemon(
        "afxdp",
        "ping_latency",
        ["c1", "c2"],
        [host_a, host_b],
        worker_core(),
        &lines,
    )
}

fn print_report(runs: &[Run]) {
    let Some(bridge) = runs.first() else {
        return;
    };
    println!();
    println!(
        "{:<20} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "switch", "replies", "avg µs", "p50 µs", "p99 µs", "max µs", "avg ratio", "max ratio"
    );
    for run in runs {
        println!(
            "{:<20} {:>5}/{:<3} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.2}x {:>9.2}x",
            run.label,
            run.rtts.len(),
            run.sent,
            run.avg_us(),
            run.percentile_us(0.5),
            run.percentile_us(0.99),
            run.max_us(),
            run.avg_us() / bridge.avg_us(),
            run.max_us() / bridge.max_us()
        );
    }
    if let Some(adaptive) = runs.iter().find(|r| r.label.contains("adaptive")) {
        let (avg, max) = (
            adaptive.avg_us() / bridge.avg_us(),
            adaptive.max_us() / bridge.max_us(),
        );
        let verdict = if avg <= 1.2 && max <= 1.2 {
            "within"
        } else {
            "NOT within"
        };
        println!("\nadaptive / bridge: avg {avg:.2}x, max {max:.2}x: {verdict} the 1.2x target");
    }
}
