//! Port security end to end, as root: the real `vswitchd` on a database in
//! a temporary directory, three containers (namespaces behind veths on
//! AF_PACKET ports), each port bound to its container's MAC and address;
//! the third is attached by one `vsctl add-port` transaction that carries
//! its binding, as a CNI plugin would. When that container takes another
//! one's IP address, then its MAC, nothing it sends gets through (its own
//! kernel's ARP and pings), while the two honest ones keep reaching each
//! other; a DHCP server reply it crafts on a packet socket is dropped too.
//! The daemon is killed and every file, link and namespace removed by
//! guards, also on failure. Not root, or no `ip`: a skip line (a failure
//! under CI).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use vswitch::daemon::{call, Request};
use vswitch_ports::afpacket::AfPacketPort;
use vswitch_ports::netns::{ip, run_in_netns, unique_name, NetNs, Veth};
use vswitch_ports::ping::Pinger;
use vswitch_ports::testing::{require_netns, TempDir};
use vswitch_ports::Port;

const VSWITCHD: &str = env!("CARGO_BIN_EXE_vswitchd");
const VSCTL: &str = env!("CARGO_BIN_EXE_vsctl");

/// A `vswitchd` child; killed on drop.
struct Vswitchd(Child);

impl Drop for Vswitchd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A container: its namespace, the veth whose host end is its port.
struct Container {
    ns: NetNs,
    _veth: Veth,
    host: String,
    mac: String,
    ip: Ipv4Addr,
}

fn container(n: u8) -> Container {
    let ns = NetNs::create(&unique_name("psec")).unwrap();
    let host = unique_name("vps");
    let peer = unique_name("vps");
    let veth = Veth::create(&host, &peer, Some(&ns)).unwrap();
    let mac = format!("02:00:00:00:78:{n:02x}");
    let ip_addr = Ipv4Addr::new(10, 78, 0, n);
    ns.ip(&["link", "set", &peer, "name", "eth0"]).unwrap();
    ns.ip(&["link", "set", "eth0", "address", &mac]).unwrap();
    ns.ip(&["addr", "add", &format!("{ip_addr}/24"), "dev", "eth0"])
        .unwrap();
    ns.ip(&["link", "set", "eth0", "up"]).unwrap();
    ip(&["link", "set", &host, "up"]).unwrap();
    Container {
        ns,
        _veth: veth,
        host,
        mac,
        ip: ip_addr,
    }
}

fn binding(c: &Container) -> String {
    format!("{{ mac = \"{}\", ips = [\"{}\"] }}", c.mac, c.ip)
}

fn vsctl(socket: &Path, args: &[&str]) {
    let out = Command::new(VSCTL)
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "vsctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Echoes of `count` pings from `from` to `to` that came back.
fn pings(from: &Container, to: Ipv4Addr, count: u32) -> u32 {
    let pinger = run_in_netns(from.ns.name(), Pinger::open).unwrap().unwrap();
    pinger
        .ping(
            to,
            count,
            Duration::from_millis(100),
            Duration::from_secs(1),
        )
        .map_or(0, |r| r.received())
}

/// Pings until all of 3 come back (the first may be lost to ARP), at
/// most 3 rounds.
fn reaches(from: &Container, to: Ipv4Addr) -> bool {
    (0..3).any(|_| pings(from, to, 3) == 3)
}

/// Drops of `reason` on port `port`.
fn drops(socket: &Path, port: &str, reason: &str) -> u64 {
    let stats = call(socket, &Request::Stats).unwrap();
    stats["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == port)
        .map(|p| p["drop_reasons"][reason].as_u64().unwrap_or(0))
        .sum()
}

/// A DHCP OFFER-shaped frame: UDP 67 -> 68 from `mac`/`ip` to broadcast.
fn dhcp_offer(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let udp = [
        &67u16.to_be_bytes()[..],
        &68u16.to_be_bytes(),
        &12u16.to_be_bytes(),
        &[0, 0],
        b"offr",
    ]
    .concat();
    let total = (20 + udp.len()) as u16;
    let mut ipv4 = [
        &[0x45, 0][..],
        &total.to_be_bytes(),
        &[0, 0, 0, 0, 64, 17, 0, 0],
        &ip.octets(),
        &[255; 4],
    ]
    .concat();
    let sum = vswitch_pipeline::wire::checksum::internet_checksum(&ipv4);
    ipv4[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut f = [&[0xff; 6][..], &mac, &[0x08, 0x00], &ipv4, &udp].concat();
    f.resize(60, 0);
    f
}

/// Sends `frame` out of eth0 of `c`'s namespace on a packet socket.
fn send_raw(c: &Container, frame: Vec<u8>) {
    run_in_netns(c.ns.name(), move || {
        let mut port = AfPacketPort::open("eth0").unwrap();
        let slot = port.tx_slot().unwrap();
        slot[..frame.len()].copy_from_slice(&frame);
        port.tx_commit(frame.len(), 0);
        let done = port.tx_flush();
        assert_eq!(
            done.sent, 1,
            "the crafted frame was not sent: {:?}",
            done.error
        );
    })
    .unwrap();
}

#[test]
fn a_spoofing_container_gets_nothing_through_and_the_honest_ones_keep_working() {
    let test = "a_spoofing_container_gets_nothing_through_and_the_honest_ones_keep_working";
    if !require_netns(test) {
        return;
    }
    let (c1, c2, c3) = (container(1), container(2), container(3));
    let dir = TempDir::new("psec").unwrap();
    let socket: PathBuf = dir.join("vswitchd.sock");
    let port = |name: &str, c: &Container| {
        format!(
            "[[bridge.port]]\nname = \"{name}\"\ntype = \"afpacket\"\noptions = {{ interface = \"{}\" }}\nsecurity = {}\n",
            c.host,
            binding(c)
        )
    };
    let start = dir.join("start.toml");
    std::fs::write(
        &start,
        format!(
            "[switch]\nworkers = [0]\ncontrol_socket = \"{}\"\n[[bridge]]\nname = \"br0\"\n{}{}",
            socket.display(),
            port("c1", &c1),
            port("c2", &c2)
        ),
    )
    .unwrap();
    let child = Command::new(VSWITCHD)
        .arg("--db")
        .arg(dir.join("db/conf.toml"))
        .arg("--config")
        .arg(&start)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut daemon = Vswitchd(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while call(&socket, &Request::Show).is_err() {
        assert!(Instant::now() < deadline, "the daemon did not start");
        assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon exited");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The CNI-style attach: the port and its binding in one transaction.
    let interface = format!("options:interface={}", c3.host);
    let security = format!("security={}", binding(&c3));
    vsctl(
        &socket,
        &[
            "add-port",
            "br0",
            "c3",
            "type=afpacket",
            &interface,
            &security,
        ],
    );

    assert!(reaches(&c1, c2.ip), "c1 cannot reach c2");
    assert!(
        reaches(&c3, c1.ip),
        "c3 cannot reach c1 with its own address"
    );

    // c3 takes c2's address: its ARP and pings are dropped.
    c3.ns.ip(&["addr", "flush", "dev", "eth0"]).unwrap();
    c3.ns
        .ip(&["addr", "add", &format!("{}/24", c2.ip), "dev", "eth0"])
        .unwrap();
    c3.ns.ip(&["neigh", "flush", "dev", "eth0"]).unwrap();
    assert_eq!(pings(&c3, c1.ip, 3), 0, "c3 got through with c2's address");
    assert!(drops(&socket, "c3", "spoofed_arp") > 0);
    assert!(reaches(&c1, c2.ip), "c1 lost c2 to the spoofer");
    assert!(reaches(&c2, c1.ip), "c2 lost c1 to the spoofer");

    // c3 takes c1's MAC as well: still nothing.
    c3.ns.ip(&["addr", "flush", "dev", "eth0"]).unwrap();
    c3.ns
        .ip(&["addr", "add", &format!("{}/24", c3.ip), "dev", "eth0"])
        .unwrap();
    c3.ns
        .ip(&["link", "set", "eth0", "address", &c1.mac])
        .unwrap();
    c3.ns.ip(&["neigh", "flush", "dev", "eth0"]).unwrap();
    assert_eq!(pings(&c3, c2.ip, 3), 0, "c3 got through with c1's MAC");
    assert!(drops(&socket, "c3", "spoofed_mac") > 0);
    assert!(reaches(&c2, c1.ip), "c2 lost c1 to the spoofer");
    assert!(reaches(&c1, c2.ip), "c1 lost c2 to the spoofer");

    // c3, honest again, plays DHCP server: the offer is dropped.
    c3.ns
        .ip(&["link", "set", "eth0", "address", &c3.mac])
        .unwrap();
    let before = drops(&socket, "c3", "dhcp_server_denied");
    let mac = [2, 0, 0, 0, 0x78, 3];
    send_raw(&c3, dhcp_offer(mac, c3.ip));
    let deadline = Instant::now() + Duration::from_secs(2);
    while drops(&socket, "c3", "dhcp_server_denied") == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(drops(&socket, "c3", "dhcp_server_denied"), before + 1);
    drop(daemon);
}
