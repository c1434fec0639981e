//! The real `vswitchd` binary as a child process, as root: stopped by
//! SIGKILL and SIGTERM, refused a second time on the same interface or
//! control socket, and started without privileges; and start errors. Every
//! link, namespace, file and process a test makes is removed by guards,
//! also on failure. Not root, or no `ip`: a skip line (a failure under CI).
//!
//! These tests live in the package of `vswitchd` because only there does
//! Cargo build the binary before the tests and name it
//! (`CARGO_BIN_EXE_vswitchd`), from a fresh clone, with any test filter.

use std::process::Command;
use std::time::{Duration, Instant};

use vswitch::config::Config;
use vswitch_ports::afxdp::{AfXdpConfig, AfXdpPort};
use vswitch_ports::netns::{ip, unique_name, NetNs, Veth};
use vswitch_ports::testing::{can_exec, require, require_netns, terminate, ChildGuard, TempDir};
use vswitch_ports::PortError;

const VSWITCHD: &str = env!("CARGO_BIN_EXE_vswitchd");

fn has_xdp(interface: &str) -> bool {
    ip(&["link", "show", "dev", interface])
        .map(|out| out.contains("xdp"))
        .unwrap_or(false)
}

/// A veth whose host end an AF_XDP port of a daemon child drives.
struct DaemonChild {
    child: ChildGuard,
    host: String,
    socket: std::path::PathBuf,
    _veth: Veth,
    _ns: NetNs,
    _dir: TempDir,
}

/// Starts the daemon as a child process on a fresh veth and waits until it
/// has attached its XDP program and opened its control socket.
fn daemon_child_on_veth() -> DaemonChild {
    let dir = TempDir::new("daemon").unwrap();
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
        Command::new(VSWITCHD)
            .arg("--db")
            .arg(dir.join("conf.toml"))
            .arg("--config")
            .arg(&config)
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

/// Waits (bounded) until `host` has no XDP program: the kernel frees a
/// closed BPF link, detaching its program, in deferred work.
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
    if !require_netns("sigkill_leaves_no_xdp_program") {
        return;
    }
    let mut d = daemon_child_on_veth();
    d.child.0.kill().unwrap();
    d.child.0.wait().unwrap();
    wait_for_no_xdp(&d.host);
    // The dead daemon's socket is released asynchronously: a new open may
    // meet InUse for a moment, then succeeds.
    let deadline = Instant::now() + Duration::from_secs(5);
    let reopened = loop {
        match AfXdpPort::open(&AfXdpConfig::new(&d.host)) {
            Err(PortError::InUse { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            other => break other,
        }
    };
    reopened.expect("reopen the interface after the daemon was killed");
}

#[test]
fn sigterm_stops_cleanly() {
    if !require_netns("sigterm_stops_cleanly") {
        return;
    }
    let mut d = daemon_child_on_veth();
    terminate(d.child.0.id()).unwrap();
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
    wait_for_no_xdp(&d.host);
    assert!(
        !d.socket.exists(),
        "the control socket file was left behind"
    );
}

#[test]
fn second_daemon_on_the_same_interface_is_refused() {
    if !require_netns("second_daemon_on_the_same_interface_is_refused") {
        return;
    }
    let d = daemon_child_on_veth();
    let dir = TempDir::new("daemon").unwrap();
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
    if !require_netns("start_errors_name_the_problem_and_leave_nothing_attached") {
        return;
    }
    let dir = TempDir::new("daemon").unwrap();
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
    // (The first port's program is detached by the kernel a moment after
    // its link closes.)
    wait_for_no_xdp(&host);
    assert!(!dir.join("s.sock").exists());
}

#[test]
fn lack_of_permission_is_explained() {
    let test = "lack_of_permission_is_explained";
    let setpriv = can_exec("setpriv", "--version");
    if !(require_netns(test) && require(test, "setpriv (apt-get install util-linux)", setpriv)) {
        return;
    }
    let ns = NetNs::create(&unique_name("perm")).unwrap();
    let host = unique_name("vq");
    let _veth = Veth::create(&host, &unique_name("vq"), Some(&ns)).unwrap();
    // Everything the unprivileged child needs must be readable by it.
    let config = std::env::temp_dir().join(format!("{}.toml", unique_name("perm")));
    let socket = std::env::temp_dir().join(format!("{}.sock", unique_name("perm")));
    let db = std::env::temp_dir().join(format!("{}-db.toml", unique_name("perm")));
    struct Remove(Vec<std::path::PathBuf>);
    impl Drop for Remove {
        fn drop(&mut self) {
            self.0.iter().for_each(|p| drop(std::fs::remove_file(p)));
        }
    }
    let _cleanup = Remove(vec![config.clone(), socket.clone(), db.clone()]);
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
        .arg(VSWITCHD)
        .arg("--db")
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = ChildGuard(child.expect("start setpriv"));
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
    wait_for_no_xdp(&host);
    assert!(!socket.exists(), "a failed start left its control socket");
}
