//! TCP through masquerade: the kernel doing Docker's job (a Linux bridge
//! holding the gateway address, ip_forward, nftables `masquerade`) against
//! vswitchd doing the same (a `[[network]]` with a gateway and masquerade
//! out of an uplink port), in the same run (issue 9, item 7).
//!
//! ```text
//!  kernel:   container eth0 ─veth─ bridge 172.30.7.1 │ host ns │ uplink 203.0.113.1 ─veth─ outside 203.0.113.2
//!                                       ip_forward + nft masquerade oifname <uplink>
//!  vswitchd: container eth0 ─veth (afpacket) or TAP─ vswitchd: gateway 172.30.8.1, uplink 203.0.113.1 (afpacket) ─veth─ outside 203.0.113.2
//! ```
//!
//! Each run has its own namespaces and links (names from `unique_name`,
//! all removed on drop, also on a panic or an error); the container keeps
//! the kernel's default offloads (TSO, checksum offload). The outside has
//! no route to the container subnets: an `iperf3 -s` there serves one
//! `iperf3 -c` from the container for [`SECONDS`] (`NAT_TCP_SECONDS` in
//! the environment changes it), and the run fails unless the server saw
//! the connections come from the uplink address. vswitchd runs in-process
//! (one worker, on core 1) with its ports on veth host ends in this
//! namespace; after its runs the benchmark prints what `vsctl stats` and
//! `vsctl pmd-stats` would, so the conntrack and NAT counters show the
//! traffic was translated.
//!
//! Needs root. Installs `iperf3` and `nftables` with `apt-get install`
//! when `iperf3` or `nft` is missing (it says so first).

use std::io::Read;
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vswitch::config::Config;
use vswitch::lab::Lab;
use vswitch_ports::netns::{is_root, unique_name, NetNs, Veth};

/// How long each run sends, by default.
const SECONDS: u64 = 8;
/// The uplink's address, in both runs: what the server must see.
const UPLINK_ADDRESS: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
/// The outside's address on the uplink's link, where iperf3 listens.
const OUTSIDE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

fn main() {
    if !is_root() {
        println!("nat_tcp: skipped (needs root: network namespaces, nftables, AF_PACKET)");
        return;
    }
    if let Err(e) = install_missing() {
        eprintln!("nat_tcp: {e}");
        std::process::exit(1);
    }
    let seconds = std::env::var("NAT_TCP_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SECONDS);
    let mut runs: Vec<(String, f64)> = Vec::new();
    let mut counters = Vec::new();
    let mut record = |label: &str, result: Result<f64, String>| match result {
        Ok(gbit) => {
            println!("nat_tcp: {label}: {gbit:.2} Gbit/s, the server saw {UPLINK_ADDRESS}");
            runs.push((label.to_string(), gbit));
        }
        Err(e) => {
            eprintln!("nat_tcp: {label}: failed: {e}");
            std::process::exit(1);
        }
    };
    record("kernel bridge+nftables", kernel_run(seconds));
    for kind in ["afpacket", "tap"] {
        // Ports released a moment ago may be busy for about a second.
        std::thread::sleep(Duration::from_secs(1));
        let result = vswitchd_run(kind, seconds).map(|(gbit, stats)| {
            counters.push((kind, stats));
            gbit
        });
        record(&format!("vswitchd {kind}"), result);
    }
    for (kind, stats) in &counters {
        println!("\nvswitchd {kind}, after the run:\n{stats}");
    }
    let kernel = runs.first().map_or(f64::NAN, |r| r.1);
    println!();
    println!(
        "{:<28} {:>10} {:>12}",
        "masquerade by", "Gbit/s", "vs kernel"
    );
    for (label, gbit) in &runs {
        println!("{label:<28} {gbit:>10.2} {:>11.2}x", gbit / kernel);
    }
}

/// Installs iperf3 and nftables with apt-get when their commands are
/// missing, saying so.
fn install_missing() -> Result<(), String> {
    let missing: Vec<&str> = [("iperf3", "iperf3"), ("nft", "nftables")]
        .into_iter()
        .filter(|(command, _)| Command::new(command).arg("--version").output().is_err())
        .map(|(_, package)| package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!("nat_tcp: installing {} with apt-get", missing.join(" "));
    let status = Command::new("apt-get")
        .args(["install", "-y", "-q"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    if !status.success() {
        return Err(format!(
            "apt-get install {} failed ({status}): install them by hand",
            missing.join(" ")
        ));
    }
    Ok(())
}

fn err<C: std::fmt::Display>(context: C) -> impl Fn(vswitch_ports::PortError) -> String {
    move |e| format!("{context}: {e}")
}

/// Runs `ip` in `ns` with each of `commands`, in order.
fn ip_all(ns: &NetNs, commands: &[&[&str]]) -> Result<(), String> {
    for args in commands {
        ns.ip(args).map_err(err(format!("in {}", ns.name())))?;
    }
    Ok(())
}

/// The kernel as Docker's bridge driver sets it up: the container on a
/// veth into a bridge of the host namespace that holds the gateway, the
/// host forwarding and masquerading out of its uplink to the outside.
fn kernel_run(seconds: u64) -> Result<f64, String> {
    let host = NetNs::create(&unique_name("ntkh")).map_err(err("cannot create a namespace"))?;
    let container =
        NetNs::create(&unique_name("ntkc")).map_err(err("cannot create a namespace"))?;
    let outside = NetNs::create(&unique_name("ntko")).map_err(err("cannot create a namespace"))?;
    let (bridge, port, uplink) = (
        unique_name("ntbr"),
        unique_name("ntvh"),
        unique_name("ntul"),
    );
    host.add_veth_into(&port, &container, "eth0")
        .map_err(err("cannot create the container's veth pair"))?;
    host.add_veth_into(&uplink, &outside, "eth0")
        .map_err(err("cannot create the uplink's veth pair"))?;
    let uplink_cidr = format!("{UPLINK_ADDRESS}/24");
    ip_all(
        &host,
        &[
            &["link", "add", &bridge, "type", "bridge"],
            &["addr", "add", "172.30.7.1/24", "dev", &bridge],
            &["link", "set", &bridge, "up"],
            &["link", "set", &port, "master", &bridge],
            &["addr", "add", &uplink_cidr, "dev", &uplink],
        ],
    )?;
    ip_all(
        &container,
        &[
            &["addr", "add", "172.30.7.2/24", "dev", "eth0"],
            &["link", "set", "eth0", "up"],
            &["route", "add", "default", "via", "172.30.7.1"],
        ],
    )?;
    outside_address(&outside)?;
    host.exec("sysctl", &["-qw", "net.ipv4.ip_forward=1"])
        .map_err(err("cannot turn ip_forward on"))?;
    // The rules Docker writes for a bridge network's masquerade.
    for rule in [
        &["add", "table", "ip", "nat"][..],
        &[
            "add",
            "chain",
            "ip",
            "nat",
            "postrouting",
            "{ type nat hook postrouting priority 100 ; }",
        ],
        &[
            "add",
            "rule",
            "ip",
            "nat",
            "postrouting",
            "ip",
            "saddr",
            "172.30.7.0/24",
            "oifname",
            &uplink,
            "masquerade",
        ],
    ] {
        host.exec("nft", rule)
            .map_err(err("cannot add nftables rules"))?;
    }
    iperf(&container, &outside, seconds)
}

/// The outside's end of the uplink: `eth0` with [`OUTSIDE`], and no route
/// to any container subnet.
fn outside_address(outside: &NetNs) -> Result<(), String> {
    let cidr = format!("{OUTSIDE}/24");
    ip_all(
        outside,
        &[
            &["addr", "add", &cidr, "dev", "eth0"],
            &["link", "set", "eth0", "up"],
        ],
    )
}

/// vswitchd doing the same job: the container on a port of type `kind`
/// of network front (gateway 172.30.8.1, masquerade), the uplink an
/// `afpacket` port on the outside's veth. The Gbit/s and what `vsctl
/// stats` and `vsctl pmd-stats` print after the run.
fn vswitchd_run(kind: &str, seconds: u64) -> Result<(f64, String), String> {
    let outside = NetNs::create(&unique_name("ntvo")).map_err(err("cannot create a namespace"))?;
    let uplink = Veth::create(&unique_name("ntul"), &unique_name("ntup"), Some(&outside))
        .map_err(err("cannot create the uplink's veth pair"))?;
    outside
        .ip(&["link", "set", uplink.peer(), "name", "eth0"])
        .map_err(err("cannot rename the outside's link"))?;
    vswitch_ports::netns::ip(&["link", "set", uplink.host(), "up"])
        .map_err(err("cannot bring the uplink up"))?;
    outside_address(&outside)?;
    let config = format!(
        r#"
[switch]
workers = [1]
idle = "adaptive"

[[uplink]]
name = "up"
type = "afpacket"
options = {{ interface = "{uplink}" }}
addresses = ["{UPLINK_ADDRESS}/24"]
gateway = "{OUTSIDE}"

[[bridge]]
name = "front"

[[bridge.port]]
name = "c1"
type = "{kind}"

[[network]]
name = "front"
bridge = "front"
subnet = "172.30.8.0/24"
gateway = "172.30.8.1"
uplink = "up"
masquerade = true

[[container]]
name = "c1"
port = "c1"
address = "172.30.8.2/24"
"#,
        uplink = uplink.host(),
    );
    let config = Config::parse(&config, "nat_tcp.toml").map_err(|e| e.to_string())?;
    let lab = Lab::up(&config)?;
    let container = &lab.container("c1")?.netns;
    container
        .ip(&["route", "add", "default", "via", "172.30.8.1"])
        .map_err(err("cannot route the container via its gateway"))?;
    let gbit = iperf(container, &outside, seconds)?;
    let mut shown = String::new();
    for command in ["stats", "pmd-stats"] {
        let answer = vswitch::daemon::request(lab.socket(), command)
            .map_err(|e| format!("vsctl {command}: {e}"))?;
        shown += &format!(
            "$ vsctl {command}\n{}",
            vswitch::daemon::render(command, &answer)
        );
    }
    Ok((gbit, shown))
}

/// A process killed and reaped on drop.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `iperf3 -c` from `client` to a one-test `iperf3 -s` in `server` on
/// [`OUTSIDE`] for `seconds`: the receiver's Gbit/s, after checking that
/// the server saw both of iperf3's connections come from
/// [`UPLINK_ADDRESS`]. Every step is bounded in time.
fn iperf(client: &NetNs, server: &NetNs, seconds: u64) -> Result<f64, String> {
    let listen = OUTSIDE.to_string();
    let mut child = Command::new("ip")
        .args(["netns", "exec", server.name(), "iperf3", "-s", "-1", "-J"])
        .args(["-B", &listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start iperf3 -s: {e}"))?;
    let mut stdout = child.stdout.take();
    let mut server_process = Reaped(child);
    // Read while it runs, so a full pipe never stalls it; done when it ends.
    let server_report = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_string(&mut text);
        }
        text
    });
    // The server needs a moment to listen; the client retries, bounded.
    let limit = (seconds + 20).to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let gbit = loop {
        let out = Command::new("ip")
            .args(["netns", "exec", client.name()])
            .args(["timeout", "-k", "5", &limit])
            .args(["iperf3", "-c", &listen, "-J", "-t", &seconds.to_string()])
            .output()
            .map_err(|e| format!("cannot run iperf3 -c: {e}"))?;
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if let Some(bps) = report["end"]["sum_received"]["bits_per_second"].as_f64() {
            break bps / 1e9;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "iperf3 -c {listen} failed: {}",
                report["error"].as_str().unwrap_or("no report")
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // The one-test server exits after the test: give it 5 s, then stop it.
    let stop = Instant::now() + Duration::from_secs(5);
    while matches!(server_process.0.try_wait(), Ok(None)) && Instant::now() < stop {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(server_process);
    let text = server_report
        .join()
        .map_err(|_| "the iperf3 -s reader panicked".to_string())?;
    let report: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("iperf3 -s printed no JSON report ({e}): {text}"))?;
    let start = &report["start"];
    let control = start["accepted_connection"]["host"].as_str();
    let data: Vec<Option<&str>> = start["connected"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["remote_host"].as_str())
        .collect();
    let uplink = UPLINK_ADDRESS.to_string();
    if control != Some(uplink.as_str()) || data.is_empty() || data.iter().any(|h| *h != control) {
        return Err(format!(
            "the server saw the control connection from {control:?} and the data from {data:?}, \
             not from the uplink address {uplink}: not masqueraded"
        ));
    }
    Ok(gbit)
}
