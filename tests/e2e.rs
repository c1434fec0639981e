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
    let root = vswitch_ports::netns::is_root();
    let ping = Command::new("ping").arg("-V").output().is_ok();
    if !root || !ping {
        eprintln!("skipped: end-to-end tests need root and ping (apt-get install iputils-ping)");
    }
    root && ping
}

/// A configuration of one bridge with the given ports (name, type, extra
/// TOML lines) and a container on each, addressed 10.210.0.<n>/24.
fn lab_config(ports: &[(&str, &str, &str)]) -> Config {
    lab_config_on(&[1], ports)
}

/// [`lab_config`] with workers on the given cores.
fn lab_config_on(workers: &[usize], ports: &[(&str, &str, &str)]) -> Config {
    let mut text = format!("[switch]\nworkers = {workers:?}\n[[bridge]]\nname = \"br0\"\n");
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
    let stats = vswitch::daemon::request(lab.socket(), "stats").unwrap();
    let c1 = &stats["ports"][0];
    assert!(c1["rx_packets"].as_u64().unwrap() > 100, "{stats}");
    let fdb = vswitch::daemon::request(lab.socket(), "fdb-show br0").unwrap();
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

/// Two cores for two workers, when the end-to-end tests can run and the
/// machine has them.
fn two_cores() -> Option<[usize; 2]> {
    if !can_run() {
        return None;
    }
    match vswitch_ports::cpu::available_cores()[..] {
        [a, b, ..] => Some([a, b]),
        _ => {
            eprintln!("skipped: needs two cores");
            None
        }
    }
}

#[test]
fn two_workers_hand_frames_across() {
    let Some(cores) = two_cores() else { return };
    // Two ports, two workers: each port is polled by one worker, so every
    // frame between the containers crosses from one worker to the other.
    let lab = Lab::up(&lab_config_on(
        &cores,
        &[("c1", "afxdp", ""), ("c2", "afxdp", "")],
    ))
    .unwrap();
    let show = vswitch::daemon::request(lab.socket(), "show").unwrap();
    assert_ne!(
        show["ports"][0]["workers"], show["ports"][1]["workers"],
        "{show}"
    );
    all_pairs_ping(&lab);
    tcp(&lab, "c1", "c2");
    // Counters are published every 50 ms.
    std::thread::sleep(Duration::from_millis(200));
    let pmd = vswitch::daemon::request(lab.socket(), "pmd-stats").unwrap();
    for worker in pmd["workers"].as_array().unwrap() {
        assert!(worker["handoffs"].as_u64().unwrap() > 0, "{pmd}");
        assert!(worker["packets"].as_u64().unwrap() > 0, "{pmd}");
    }
}

#[test]
fn multi_queue_port_polled_by_two_workers() {
    let Some(cores) = two_cores() else { return };
    // c1's port has two queues: one socket each, on different workers, so
    // one worker polls a queue of a port whose transmit side the other owns.
    let lab = Lab::up(&lab_config_on(
        &cores,
        &[
            ("c1", "afxdp", "options = { queues = 2 }"),
            ("c2", "afxdp", ""),
        ],
    ))
    .unwrap();
    let show = vswitch::daemon::request(lab.socket(), "show").unwrap();
    assert_eq!(
        show["ports"][0]["workers"].as_array().unwrap().len(),
        2,
        "{show}"
    );
    assert!(
        show["ports"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("2 queue(s)"),
        "{show}"
    );
    all_pairs_ping(&lab);
    tcp(&lab, "c1", "c2");
    tcp(&lab, "c2", "c1");
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
        if let Err(e) = vswitch::daemon::main_with_config(std::path::Path::new(&path)) {
            eprintln!("vswitchd: {e}");
            std::process::exit(1);
        }
    }
}

/// A veth whose host end an AF_XDP port of a daemon child drives.
struct DaemonChild {
    child: ChildGuard,
    host: String,
    socket: std::path::PathBuf,
    _veth: Veth,
    _ns: NetNs,
    _dir: common::TempDir,
}

/// Starts the daemon as a child process on a fresh veth and waits until it
/// has attached its XDP program and opened its control socket.
fn daemon_child_on_veth() -> DaemonChild {
    let dir = common::TempDir::new("e2e");
    let ns = NetNs::create(&unique_name("kill")).unwrap();
    let host = unique_name("vk");
    let veth = Veth::create(&host, &unique_name("vk"), Some(&ns)).unwrap();
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
    DaemonChild {
        child,
        host,
        socket,
        _veth: veth,
        _ns: ns,
        _dir: dir,
    }
}

fn wait_for_no_xdp(host: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while has_xdp(host) {
        assert!(
            Instant::now() < deadline,
            "an XDP program stayed attached to {host}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigkill_leaves_no_xdp_program() {
    if !can_run() {
        return;
    }
    let mut d = daemon_child_on_veth();
    d.child.0.kill().unwrap();
    d.child.0.wait().unwrap();
    wait_for_no_xdp(&d.host);
}

#[test]
fn sigterm_stops_cleanly() {
    if !can_run() {
        return;
    }
    let mut d = daemon_child_on_veth();
    let pid = d.child.0.id().to_string();
    vswitch_ports::netns::run("kill", &["-TERM", &pid]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = d.child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "vswitchd did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    assert!(!has_xdp(&d.host), "the XDP program outlived a clean stop");
    assert!(
        !d.socket.exists(),
        "the control socket file was left behind"
    );
}

#[test]
fn second_daemon_on_the_same_interface_is_refused() {
    if !can_run() {
        return;
    }
    let d = daemon_child_on_veth();
    let dir = common::TempDir::new("e2e");
    let text = format!(
        "[switch]\ncontrol_socket = \"{}\"\n[[bridge]]\nname = \"br0\"\n\
         [[bridge.port]]\nname = \"p\"\ntype = \"afxdp\"\noptions = {{ interface = \"{}\" }}\n",
        dir.join("s.sock").display(),
        d.host
    );
    let e = vswitch::daemon::Daemon::start(&Config::parse(&text, "e2e").unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("already in use") && e.contains(&d.host), "{e}");
    // The first daemon is untouched.
    assert!(has_xdp(&d.host));
    vswitch::daemon::request(&d.socket, "show").unwrap();
    // And one on the same control socket is refused too.
    let same_socket = format!(
        "[switch]\ncontrol_socket = \"{}\"\n[[bridge]]\nname = \"br0\"\n",
        d.socket.display()
    );
    let e = vswitch::daemon::Daemon::start(&Config::parse(&same_socket, "e2e").unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("another vswitchd is running"), "{e}");
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

#[test]
fn lack_of_permission_is_explained() {
    if !can_run() {
        return;
    }
    let ns = NetNs::create(&unique_name("perm")).unwrap();
    let host = unique_name("vq");
    let _veth = Veth::create(&host, &unique_name("vq"), Some(&ns)).unwrap();
    // Everything the unprivileged child needs must be readable by it.
    let config = std::env::temp_dir().join(format!("{}.toml", unique_name("perm")));
    let socket = std::env::temp_dir().join(format!("{}.sock", unique_name("perm")));
    struct Remove(Vec<std::path::PathBuf>);
    impl Drop for Remove {
        fn drop(&mut self) {
            self.0.iter().for_each(|p| drop(std::fs::remove_file(p)));
        }
    }
    let _cleanup = Remove(vec![config.clone(), socket.clone()]);
    std::fs::write(
        &config,
        format!(
            "[switch]\nworkers = [0]\ncontrol_socket = \"{}\"\n[[bridge]]\nname = \"br0\"\n\
             [[bridge.port]]\nname = \"p\"\ntype = \"afxdp\"\noptions = {{ interface = \"{host}\" }}\n",
            socket.display()
        ),
    )
    .unwrap();
    let child = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "daemon_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("VSWITCH_E2E_DAEMON_CONFIG", &config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(child) = child else {
        eprintln!("skipped: setpriv cannot run");
        return;
    };
    let mut child = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the unprivileged daemon neither failed nor stopped"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("permission denied") && stderr.contains("CAP_NET_ADMIN"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&host),
        "the message names the interface: {stderr}"
    );
    assert!(!has_xdp(&host));
    assert!(!socket.exists(), "a failed start left its control socket");
}
