//! Ports that come and go, with the real `vswitchd` binary as root: three
//! containers (namespaces) on AF_XDP veth ports; one container's host-side
//! veth is deleted under traffic and re-created. Every namespace, link,
//! file and process is removed by guards, also on failure. Not root, or no
//! `ip`: a skip line (a failure under CI).

use std::fs::File;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use vswitch::daemon::request;
use vswitch::lab::traffic::ping_from;
use vswitch_ports::ethtool::disable_tx_checksum_offload;
use vswitch_ports::netns::{ip, run_in_netns, unique_name, NetNs, Veth};
use vswitch_ports::testing::{require_netns, ChildGuard, TempDir};

const VSWITCHD: &str = env!("CARGO_BIN_EXE_vswitchd");

struct Container {
    ns: NetNs,
    host: String,
    peer: String,
    address: String,
    /// The peer end's MAC, kept when it is re-created (the same container
    /// comes back; the others' ARP caches stay right).
    mac: String,
}

impl Container {
    fn ip(&self) -> std::net::Ipv4Addr {
        self.address.split('/').next().unwrap().parse().unwrap()
    }

    /// Creates the veth pair (again), the peer end addressed and up in the
    /// namespace, the host end up.
    fn plug(&self) -> Veth {
        let veth = Veth::create(&self.host, &self.peer, Some(&self.ns)).unwrap();
        self.ns
            .ip(&["link", "set", &self.peer, "address", &self.mac])
            .unwrap();
        self.ns
            .ip(&["addr", "add", &self.address, "dev", &self.peer])
            .unwrap();
        self.ns.ip(&["link", "set", &self.peer, "up"]).unwrap();
        let peer = self.peer.clone();
        run_in_netns(self.ns.name(), move || disable_tx_checksum_offload(&peer))
            .unwrap()
            .unwrap();
        ip(&["link", "set", &self.host, "up"]).unwrap();
        veth
    }
}

/// Three containers on a daemon child whose stderr goes to a file.
struct LinkLab {
    // Field order is drop order: the daemon stops before the links go.
    _child: ChildGuard,
    socket: PathBuf,
    log: PathBuf,
    containers: Vec<Container>,
    veths: Vec<Veth>,
    _dir: TempDir,
}

fn has_xdp(interface: &str) -> bool {
    ip(&["link", "show", "dev", interface])
        .map(|out| out.contains("xdp"))
        .unwrap_or(false)
}

/// Polls `f` every 20 ms until it returns true or `limit` passes.
fn within(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl LinkLab {
    fn up() -> LinkLab {
        let dir = TempDir::new("links").unwrap();
        let mut containers = Vec::new();
        let mut veths = Vec::new();
        for i in 1..=3 {
            let c = Container {
                ns: NetNs::create(&unique_name(&format!("lc{i}"))).unwrap(),
                host: unique_name("lh"),
                peer: unique_name("lp"),
                address: format!("10.201.0.{i}/24"),
                mac: format!("02:00:5e:c9:00:{i:02x}"),
            };
            veths.push(c.plug());
            containers.push(c);
        }
        // Two workers where there are two cores: a port's frames then also
        // reach it through the other worker's stand-in.
        let cores = vswitch_ports::cpu::available_cores();
        let workers: Vec<String> = cores.iter().take(2).map(|c| c.to_string()).collect();
        let socket = dir.join("vswitchd.sock");
        let mut text = format!(
            "[switch]\nworkers = [{}]\ncontrol_socket = \"{}\"\n[[bridge]]\nname = \"br0\"\n",
            workers.join(", "),
            socket.display()
        );
        for (i, c) in containers.iter().enumerate() {
            text += &format!(
                "[[bridge.port]]\nname = \"c{}\"\ntype = \"afxdp\"\noptions = {{ interface = \"{}\" }}\n",
                i + 1,
                c.host
            );
        }
        let config = dir.join("vswitchd.toml");
        std::fs::write(&config, text).unwrap();
        let log = dir.join("vswitchd.log");
        let mut child = ChildGuard(
            Command::new(VSWITCHD)
                .arg("--db")
                .arg(dir.join("conf.toml"))
                .arg("--config")
                .arg(&config)
                .stdout(std::process::Stdio::null())
                .stderr(File::create(&log).unwrap())
                .spawn()
                .unwrap(),
        );
        let ready = within(Duration::from_secs(20), || {
            assert!(child.0.try_wait().unwrap().is_none(), "the daemon exited");
            socket.exists() && containers.iter().all(|c| has_xdp(&c.host))
        });
        assert!(ready, "the daemon did not start");
        LinkLab {
            _child: child,
            socket,
            log,
            containers,
            veths,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn port<'a>(answer: &'a Value, name: &str) -> &'a Value {
        answer["ports"]
            .as_array()
            .and_then(|ports| ports.iter().find(|p| p["name"] == name))
            .unwrap_or_else(|| panic!("no port {name} in {answer}"))
    }

    fn state(&self, port: &str) -> String {
        let show = request(&self.socket, "show").unwrap();
        Self::port(&show, port)["state"]
            .as_str()
            .unwrap_or("?")
            .to_string()
    }

    /// (tx_packets, port_down drops) of `port`.
    fn tx_and_port_down(&self, port: &str) -> (u64, u64) {
        let stats = request(&self.socket, "stats").unwrap();
        let p = Self::port(&stats, port);
        (
            p["tx_packets"].as_u64().unwrap(),
            p["drop_reasons"]["port_down"].as_u64().unwrap_or(0),
        )
    }

    fn ping(&self, from: usize, to: usize, count: u32) -> u32 {
        ping_from(
            self.containers[from].ns.name(),
            self.containers[to].ip(),
            count,
        )
        .unwrap()
        .received()
    }
}

#[test]
fn a_deleted_veth_goes_down_and_comes_back_while_the_rest_forwards() {
    if !require_netns("a_deleted_veth_goes_down_and_comes_back_while_the_rest_forwards") {
        return;
    }
    let mut lab = LinkLab::up();
    for (from, to) in [(0, 1), (1, 2), (2, 0)] {
        assert_eq!(
            lab.ping(from, to, 2),
            2,
            "ping c{} -> c{}",
            from + 1,
            to + 1
        );
    }
    assert_eq!(lab.state("c1"), "up");

    // c2 pings c3 all along: 20 echoes over 4 s.
    let (c2, c3) = (
        lab.containers[1].ns.name().to_string(),
        lab.containers[2].ip(),
    );
    let background = std::thread::spawn(move || ping_from(&c2, c3, 20));
    std::thread::sleep(Duration::from_millis(600));

    let host = lab.containers[0].host.clone();
    ip(&["link", "del", &host]).unwrap();
    assert!(
        within(Duration::from_secs(2), || lab.state("c1") == "down"),
        "show does not say c1 is down: {}",
        request(&lab.socket, "show").unwrap()
    );
    let gone = format!("WARN  port c1: interface {host} is gone");
    assert!(
        within(Duration::from_secs(2), || lab.log().contains(&gone)),
        "no {gone:?} in the log:\n{}",
        lab.log()
    );
    assert_eq!(lab.state("c2"), "up");

    // Frames toward the gone port (c1's MAC was flushed, so they flood)
    // are port_down drops, never sent.
    let (tx_before, down_before) = lab.tx_and_port_down("c1");
    assert_eq!(lab.ping(1, 0, 2), 0, "c1 answered while its veth is gone");
    assert!(
        within(Duration::from_secs(2), || lab.tx_and_port_down("c1").1
            > down_before),
        "no port_down drops on c1: {}",
        request(&lab.socket, "stats").unwrap()
    );
    assert_eq!(lab.tx_and_port_down("c1").0, tx_before, "tx_packets rose");

    let report = background.join().unwrap().unwrap();
    assert_eq!(report.received(), 20, "c2 -> c3 lost: {}", report.summary());

    // The same names again: the port is attached by itself.
    lab.veths.push(lab.containers[0].plug());
    let replugged = Instant::now();
    assert!(
        within(Duration::from_secs(3), || lab.state("c1") == "up"),
        "c1 is not up again: {}\nlog:\n{}",
        request(&lab.socket, "show").unwrap(),
        lab.log()
    );
    eprintln!(
        "c1 up again {:?} after its veth returned",
        replugged.elapsed()
    );
    assert!(has_xdp(&host));
    assert!(
        lab.log()
            .contains(&format!("INFO  port c1: interface {host} is back")),
        "{}",
        lab.log()
    );
    assert_eq!(lab.ping(1, 0, 3), 3, "ping c2 -> c1 after it came back");
    assert_eq!(lab.ping(0, 2, 3), 3, "ping c1 -> c3 after it came back");
}

/// Deletes a TAP device on drop (a persistent one outlives the daemon).
struct TapGuard(String);

impl Drop for TapGuard {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.0]);
    }
}

#[test]
fn a_deleted_tap_goes_down_and_a_tap_of_its_name_is_attached_again() {
    if !require_netns("a_deleted_tap_goes_down_and_a_tap_of_its_name_is_attached_again") {
        return;
    }
    let dir = TempDir::new("links").unwrap();
    let tap = unique_name("lt");
    let guard = TapGuard(tap.clone());
    let text = format!(
        "[switch]\nworkers = [0]\ncontrol_socket = \"{}\"\n[[bridge]]\nname = \"br0\"\n\
         [[bridge.port]]\nname = \"t\"\ntype = \"tap\"\noptions = {{ interface = \"{tap}\" }}\n\
         [[bridge.port]]\nname = \"sink\"\ntype = \"null\"\n",
        dir.join("s.sock").display()
    );
    let config = vswitch::config::Config::parse(&text, "links").unwrap();
    let daemon = vswitch::daemon::Daemon::start(&config)
        .and_then(vswitch::daemon::Daemon::spawn)
        .unwrap();
    let state = |port: &str| {
        let show = request(daemon.socket(), "show").unwrap();
        LinkLab::port(&show, port)["state"]
            .as_str()
            .unwrap_or("?")
            .to_string()
    };
    assert_eq!(state("t"), "up");

    ip(&["link", "del", &tap]).unwrap();
    assert!(
        within(Duration::from_secs(2), || state("t") == "down"),
        "the TAP's port is not down"
    );
    assert_eq!(state("sink"), "up");

    // A persistent TAP of that name: the port attaches to it once it is up.
    ip(&["tuntap", "add", "dev", &tap, "mode", "tap"]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(state("t"), "down", "attached before the TAP was up");
    ip(&["link", "set", &tap, "up"]).unwrap();
    assert!(
        within(Duration::from_secs(3), || state("t") == "up"),
        "the TAP's port is not up again"
    );
    drop(daemon);
    drop(guard);
}
