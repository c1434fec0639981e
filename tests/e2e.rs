//! End to end, as root: containers in network namespaces, joined to the
//! switch by veth pairs (AF_XDP) or a TAP, with the kernel's own stack as
//! the peer. Everything a test creates is removed by guards, also on
//! failure. Skipped, with a message, when not root or when `ping` is
//! missing.

mod common;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use vswitch::config::Config;
use vswitch::lab::Lab;
use vswitch_ports::netns::{ip, unique_name, NetNs, Veth};

fn can_run() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    let ping = Command::new("ping").arg("-V").output().is_ok();
    if !root || !ping {
        eprintln!("skipped: end-to-end tests need root and ping (apt-get install iputils-ping)");
    }
    root && ping
}

/// A configuration of one bridge with the given ports (name, type, extra
/// TOML lines) and a container on each, addressed 10.210.0.<n>/24.
fn lab_config(ports: &[(&str, &str, &str)]) -> Config {
    let mut text = String::from("[switch]\nworkers = [1]\n[[bridge]]\nname = \"br0\"\n");
    for (name, kind, extra) in ports {
        text += &format!("[[bridge.port]]\nname = \"{name}\"\ntype = \"{kind}\"\n{extra}\n");
    }
    for (i, (name, _, _)) in ports.iter().enumerate() {
        text += &format!(
            "[[container]]\nname = \"{name}\"\nport = \"{name}\"\naddress = \"10.210.0.{}/24\"\n",
            i + 1
        );
    }
    Config::parse(&text, "e2e").unwrap()
}

fn all_pairs_ping(lab: &Lab) {
    for a in &lab.containers {
        for b in &lab.containers {
            if a.name != b.name {
                lab.ping(&a.name, &b.name, 2).unwrap();
            }
        }
    }
}

fn tcp(lab: &Lab, from: &str, to: &str) {
    let bytes = 4 << 20;
    let (got, _) = lab
        .tcp_transfer(from, to, bytes, Duration::from_secs(20))
        .unwrap();
    assert_eq!(got, bytes);
}

#[test]
fn two_containers_ping_and_hold_a_tcp_connection() {
    if !can_run() {
        return;
    }
    let lab = Lab::up(&lab_config(&[("c1", "afxdp", ""), ("c2", "afxdp", "")])).unwrap();
    all_pairs_ping(&lab);
    tcp(&lab, "c1", "c2");
    tcp(&lab, "c2", "c1");
    let stats = vswitch::daemon::request(&lab.socket, "stats").unwrap();
    let c1 = &stats["ports"][0];
    assert!(c1["rx_packets"].as_u64().unwrap() > 100, "{stats}");
    let fdb = vswitch::daemon::request(&lab.socket, "fdb-show br0").unwrap();
    assert_eq!(fdb["entries"].as_array().unwrap().len(), 2, "{fdb}");
}

#[test]
fn three_containers_on_one_bridge() {
    if !can_run() {
        return;
    }
    let lab = Lab::up(&lab_config(&[
        ("c1", "afxdp", ""),
        ("c2", "afxdp", ""),
        ("c3", "afxdp", ""),
    ]))
    .unwrap();
    all_pairs_ping(&lab);
    tcp(&lab, "c1", "c3");
}

#[test]
fn access_vlans_are_isolated() {
    if !can_run() {
        return;
    }
    // All four share one subnet; only the VLANs keep them apart.
    let lab = Lab::up(&lab_config(&[
        ("a10", "afxdp", "vlan = 10"),
        ("b10", "afxdp", "vlan = 10"),
        ("a20", "afxdp", "vlan = 20"),
        ("b20", "afxdp", "vlan = 20"),
    ]))
    .unwrap();
    lab.ping("a10", "b10", 2).unwrap();
    lab.ping("a20", "b20", 2).unwrap();
    assert!(
        lab.ping("a10", "a20", 2).is_err(),
        "VLAN 10 reached VLAN 20"
    );
    assert!(
        lab.ping("b20", "b10", 2).is_err(),
        "VLAN 20 reached VLAN 10"
    );
}

#[test]
fn tap_container_talks_to_veth_container() {
    if !can_run() {
        return;
    }
    let lab = Lab::up(&lab_config(&[("veth1", "afxdp", ""), ("tap1", "tap", "")])).unwrap();
    all_pairs_ping(&lab);
    tcp(&lab, "veth1", "tap1");
    tcp(&lab, "tap1", "veth1");
}

/// Kills its child on drop (a test that fails half-way leaves no daemon).
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn has_xdp(interface: &str) -> bool {
    ip(&["link", "show", "dev", interface])
        .map(|out| out.contains("xdp"))
        .unwrap_or(false)
}

/// The daemon run as a child process by `sigkill_leaves_no_xdp_program`:
/// does nothing unless that test sets the variable.
#[test]
fn daemon_child() {
    if let Ok(path) = std::env::var("VSWITCH_E2E_DAEMON_CONFIG") {
        let _ = vswitch::daemon::main_with_config(std::path::Path::new(&path));
    }
}

#[test]
fn sigkill_leaves_no_xdp_program() {
    if !can_run() {
        return;
    }
    let dir = common::TempDir::new("e2e");
    let ns = NetNs::create(&unique_name("kill")).unwrap();
    let host = unique_name("vk");
    let _veth = Veth::create(&host, &unique_name("vk"), Some(&ns)).unwrap();
    ip(&["link", "set", &host, "up"]).unwrap();
    let socket = dir.join("vswitchd.sock");
    let config = dir.join("vswitchd.toml");
    std::fs::write(
        &config,
        format!(
            "[switch]\nworkers = [0]\ncontrol_socket = \"{}\"\n[[bridge]]\nname = \"br0\"\n\
             [[bridge.port]]\nname = \"p\"\ntype = \"afxdp\"\noptions = {{ interface = \"{host}\" }}\n\
             [[bridge.port]]\nname = \"sink\"\ntype = \"null\"\n",
            socket.display()
        ),
    )
    .unwrap();
    let mut child = ChildGuard(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "daemon_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("VSWITCH_E2E_DAEMON_CONFIG", &config)
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(socket.exists() && has_xdp(&host)) {
        assert!(Instant::now() < deadline, "the daemon did not start");
        assert!(child.0.try_wait().unwrap().is_none(), "the daemon exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while has_xdp(&host) {
        assert!(
            Instant::now() < deadline,
            "an XDP program stayed attached to {host}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn start_errors_name_the_problem_and_leave_nothing_attached() {
    if !can_run() {
        return;
    }
    let dir = common::TempDir::new("e2e");
    let ns = NetNs::create(&unique_name("err")).unwrap();
    let host = unique_name("ve");
    let _veth = Veth::create(&host, &unique_name("ve"), Some(&ns)).unwrap();
    let text = format!(
        "[switch]\ncontrol_socket = \"{}\"\n[[bridge]]\nname = \"br0\"\n\
         [[bridge.port]]\nname = \"good\"\ntype = \"afxdp\"\noptions = {{ interface = \"{host}\" }}\n\
         [[bridge.port]]\nname = \"bad\"\ntype = \"afxdp\"\noptions = {{ interface = \"nosuchif0\" }}\n",
        dir.join("s.sock").display()
    );
    let config = Config::parse(&text, "e2e").unwrap();
    let e = vswitch::daemon::Daemon::start(&config)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("port \"bad\"") && e.contains("nosuchif0"), "{e}");
    assert!(
        !has_xdp(&host),
        "the first port stayed attached after the second failed"
    );
    assert!(!dir.join("s.sock").exists());
}
