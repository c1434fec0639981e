//! A two-host overlay lab: what `vswitch demo --overlay` shows and what the
//! overlay tests (vswitch/tests/overlay.rs) drive.
//!
//! ```text
//!  host A (netns)                                    host B (netns)
//!  a-blue ─veth─┐                                  ┌─veth─ b-blue
//!  a-red ──veth─┤ vswitchd ── up0 ══underlay══ up0 ── vswitchd ├─veth── b-red
//!               bridges blue (VNI 42), red (VNI 43), one tunnel port each
//! ```
//!
//! Each host is a network namespace; the underlay is one veth pair between
//! them whose ends are the uplinks. The VTEP addresses (10.200.0.1/24 and
//! 10.200.0.2/24, or fd00:200::1/64 and fd00:200::2/64) belong to the
//! switches, so the kernel has no address on the uplinks. Each container
//! is a namespace whose eth0 is a veth with its other end in its host's
//! namespace; its MTU is [`CONTAINER_MTU`], the 1,500 bytes of the
//! underlay less the 50 bytes of outer headers (Ethernet 14, IPv4 20, UDP
//! 8, VXLAN 8; Geneve without options is 8 too), or [`CONTAINER_MTU_V6`]
//! over an IPv6 underlay (20 bytes more of outer IP). One `vswitchd` child
//! process runs in each host namespace (`ip netns exec`), from a
//! configuration generated for the run ([`OverlayLab::config_text`]).
//!
//! Host B can instead be the Linux kernel's own VXLAN device ([`HostB::KernelVxlan`]):
//! no vswitchd there, 10.200.0.2/24 on the uplink veth, and a `vxlan` link
//! per network holding the container address itself.
//!
//! Names (namespaces, links, sockets, files) are unique per run. Dropping
//! the lab stops the daemons (SIGTERM, then SIGKILL), then deletes the
//! namespaces (and with them every link in them) and the generated files,
//! also on a panic. No link is ever created in the caller's namespace.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vswitch_ports::ethtool::disable_tx_checksum_offload;
use vswitch_ports::netns::{ip, run_in_netns, unique_name, NetNs};
use vswitch_ports::testing::{terminate, TempDir};

pub use super::traffic::TcpReport;

/// The underlay's MTU.
pub const UNDERLAY_MTU: u32 = 1500;
/// Outer headers of a VXLAN frame over IPv4: Ethernet 14, IPv4 20, UDP 8,
/// VXLAN 8 (Geneve without options: the same 8).
pub const OVERLAY_OVERHEAD: u32 = 50;
/// The containers' MTU over an IPv4 underlay: what fits a 1,500-byte
/// underlay frame once encapsulated (1,450).
pub const CONTAINER_MTU: u32 = UNDERLAY_MTU - OVERLAY_OVERHEAD;
/// The containers' MTU over an IPv6 underlay, whose outer IP header is 40
/// bytes instead of 20 (1,430).
pub const CONTAINER_MTU_V6: u32 = CONTAINER_MTU - 20;

/// The tunnel type of the overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelType {
    /// VXLAN (RFC 7348), UDP port 4789.
    Vxlan,
    /// Geneve (RFC 8926), UDP port 6081.
    Geneve,
}

impl TunnelType {
    /// The `type` of its tunnel ports in the configuration.
    pub fn type_name(self) -> &'static str {
        match self {
            TunnelType::Vxlan => "vxlan",
            TunnelType::Geneve => "geneve",
        }
    }

    /// The prefix of its tunnel ports' names (`vx-blue`, `gnv-blue`).
    pub fn port_prefix(self) -> &'static str {
        match self {
            TunnelType::Vxlan => "vx",
            TunnelType::Geneve => "gnv",
        }
    }
}

/// The family of the underlay (the VTEP addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Underlay {
    /// 10.200.0.1/24 and 10.200.0.2/24.
    V4,
    /// fd00:200::1/64 and fd00:200::2/64.
    V6,
}

impl Underlay {
    /// Host `i`'s VTEP address with its prefix (i = 0 for A, 1 for B).
    pub fn vtep_cidr(self, i: usize) -> String {
        match self {
            Underlay::V4 => format!("10.200.0.{}/24", i + 1),
            Underlay::V6 => format!("fd00:200::{}/64", i + 1),
        }
    }

    /// Host `i`'s VTEP address.
    pub fn vtep(self, i: usize) -> IpAddr {
        let cidr = self.vtep_cidr(i);
        let addr = cidr.split('/').next().unwrap_or_default();
        addr.parse().expect("the lab's own VTEP addresses parse")
    }
}

/// One overlay network: a bridge on each host, a VNI, a /24.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The bridge's name, and the suffix of its containers' (`a-blue`).
    pub name: String,
    /// Its VNI.
    pub vni: u32,
    /// Its containers' subnet, /24: host A's container is `.1`, B's `.2`.
    pub subnet: Ipv4Addr,
}

impl Network {
    /// A network named `name` of VNI `vni` on 10.0.`third`.0/24.
    pub fn new(name: &str, vni: u32, third: u8) -> Network {
        Network {
            name: name.to_string(),
            vni,
            subnet: Ipv4Addr::new(10, 0, third, 0),
        }
    }

    /// Host `i`'s container address on it.
    pub fn address(&self, i: usize) -> Ipv4Addr {
        let [a, b, c, _] = self.subnet.octets();
        Ipv4Addr::new(a, b, c, i as u8 + 1)
    }
}

/// What host B is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostB {
    /// vswitchd with containers, as host A.
    Vswitchd,
    /// The kernel's VXLAN device: no vswitchd, the network's address on a
    /// `vxlan` link in host B's namespace (`noudpcsum`: over veth the
    /// kernel leaves the outer UDP checksum unfinished otherwise).
    KernelVxlan,
}

/// What to bring up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlaySpec {
    /// VXLAN or Geneve (a kernel host B is always VXLAN).
    pub tunnel: TunnelType,
    /// IPv4 or IPv6 VTEP addresses.
    pub underlay: Underlay,
    /// The networks, one bridge and tunnel port each on every vswitchd host.
    pub networks: Vec<Network>,
    /// The containers' eth0 MTU ([`OverlaySpec::ipv6_underlay`] lowers it
    /// to [`CONTAINER_MTU_V6`]).
    pub container_mtu: u32,
    /// Host B: vswitchd or the kernel's VXLAN.
    pub host_b: HostB,
}

impl OverlaySpec {
    /// Two vswitchd hosts over an IPv4 underlay, networks blue (VNI 42,
    /// 10.0.42.0/24) and red (VNI 43, 10.0.43.0/24), containers at
    /// [`CONTAINER_MTU`].
    pub fn new(tunnel: TunnelType) -> OverlaySpec {
        OverlaySpec {
            tunnel,
            underlay: Underlay::V4,
            networks: vec![Network::new("blue", 42, 42), Network::new("red", 43, 43)],
            container_mtu: CONTAINER_MTU,
            host_b: HostB::Vswitchd,
        }
    }

    /// The same over the IPv6 underlay, the containers at
    /// [`CONTAINER_MTU_V6`].
    pub fn ipv6_underlay(mut self) -> OverlaySpec {
        self.underlay = Underlay::V6;
        self.container_mtu = CONTAINER_MTU_V6;
        self
    }

    /// Host B as the kernel's VXLAN device, network blue only.
    pub fn kernel_peer(mut self) -> OverlaySpec {
        self.tunnel = TunnelType::Vxlan;
        self.host_b = HostB::KernelVxlan;
        self.networks.truncate(1);
        self
    }
}

/// One host: a namespace with its uplink.
pub struct Host {
    /// "a" or "b".
    pub name: String,
    /// Its namespace.
    pub netns: NetNs,
    /// Its end of the underlay veth.
    pub uplink: String,
    /// Its VTEP address.
    pub vtep: IpAddr,
    /// Its daemon's control socket and configuration (None: no vswitchd).
    pub socket: Option<PathBuf>,
    /// The configuration file its daemon runs.
    pub config: Option<PathBuf>,
}

/// Something that sends and receives on an overlay network: a container,
/// or the kernel VXLAN device of host B.
pub struct Endpoint {
    /// `a-blue`, `b-red`, ...
    pub name: String,
    /// Its host (0 for A, 1 for B).
    pub host: usize,
    /// Its network's name.
    pub network: String,
    /// The namespace it lives in.
    pub netns_name: String,
    /// Its interface there (`eth0`, or the VXLAN link).
    pub interface: String,
    /// Its address.
    pub ip: Ipv4Addr,
    /// The switch port it is plugged into (None: the kernel's VXLAN).
    pub port: Option<String>,
    /// Its own namespace, when it has one (a container).
    _netns: Option<NetNs>,
}

/// A vswitchd child process; stopped on drop.
pub(super) struct DaemonProcess {
    pub(super) host: String,
    pub(super) child: Child,
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        // SIGTERM first, so the daemon removes its socket; SIGKILL if it
        // has not stopped within 5 s. The kernel detaches its XDP programs
        // either way (BPF links).
        if terminate(self.child.id()).is_ok() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The two hosts, their endpoints and daemons.
pub struct OverlayLab {
    // Field order is drop order: the daemons stop before the namespaces
    // (and the links in them) go, the files last.
    daemons: Vec<DaemonProcess>,
    /// Every endpoint, host A's first, in network order.
    pub endpoints: Vec<Endpoint>,
    /// Hosts A and B.
    pub hosts: Vec<Host>,
    /// What was brought up.
    pub spec: OverlaySpec,
    dir: TempDir,
}

pub(super) fn err(context: impl Into<String>) -> impl Fn(vswitch_ports::PortError) -> String {
    let context = context.into();
    move |e| format!("{context}: {e}")
}

/// Turns IPv6 off in the namespace `ns` for links that exist and links to
/// come, so nothing but the lab's own traffic is on the wire (no router
/// solicitations or MLD reports crossing the tunnels and counters).
pub(super) fn disable_ipv6(ns: &str) -> Result<(), String> {
    run_in_netns(ns, || -> std::io::Result<()> {
        for conf in ["all", "default"] {
            std::fs::write(format!("/proc/sys/net/ipv6/conf/{conf}/disable_ipv6"), "1")?;
        }
        Ok(())
    })
    .map_err(err(format!("cannot enter {ns}")))?
    .map_err(|e| format!("cannot turn IPv6 off in {ns}: {e}"))
}

/// Turns IPv6 on again for `interface` of namespace `ns`.
pub(super) fn enable_ipv6(ns: &str, interface: &str) -> Result<(), String> {
    run_in_netns(ns, || {
        std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{interface}/disable_ipv6"),
            "0",
        )
    })
    .map_err(err(format!("cannot enter {ns}")))?
    .map_err(|e| format!("cannot turn IPv6 on for {interface} in {ns}: {e}"))
}

/// Turns TX checksum offload off on `interface` of namespace `ns`.
pub(super) fn no_tx_offload(ns: &str, interface: &str) -> Result<(), String> {
    run_in_netns(ns, || disable_tx_checksum_offload(interface))
        .and_then(|r| r)
        .map_err(err(format!(
            "cannot turn off checksum offload on {interface} in {ns}"
        )))
}

impl OverlayLab {
    /// Builds the hosts, underlay and endpoints of `spec`, without daemons:
    /// [`OverlayLab::up`] starts them.
    pub fn build(spec: &OverlaySpec) -> Result<OverlayLab, String> {
        if spec.host_b == HostB::KernelVxlan && spec.tunnel != TunnelType::Vxlan {
            return Err("a kernel host B speaks VXLAN only".into());
        }
        let dir = TempDir::new("ovl").map_err(|e| format!("cannot make a temp dir: {e}"))?;
        let mut lab = OverlayLab {
            daemons: Vec::new(),
            endpoints: Vec::new(),
            hosts: Vec::new(),
            spec: spec.clone(),
            dir,
        };
        for (i, name) in ["a", "b"].iter().enumerate() {
            let netns = NetNs::create(&unique_name(&format!("host{name}")))
                .map_err(err("cannot create a host namespace"))?;
            disable_ipv6(netns.name())?;
            lab.hosts.push(Host {
                name: name.to_string(),
                netns,
                uplink: unique_name(&format!("ul{name}")),
                vtep: spec.underlay.vtep(i),
                socket: None,
                config: None,
            });
        }
        // The underlay: one veth pair, made inside host A with its peer
        // sent to host B, so it never exists in the caller's namespace.
        let (a, b) = (&lab.hosts[0], &lab.hosts[1]);
        a.netns
            .ip(&[
                "link",
                "add",
                &a.uplink,
                "type",
                "veth",
                "peer",
                "name",
                &b.uplink,
                "netns",
                b.netns.name(),
            ])
            .map_err(err("cannot create the underlay veth pair"))?;
        for h in &lab.hosts {
            h.netns
                .ip(&[
                    "link",
                    "set",
                    &h.uplink,
                    "mtu",
                    &UNDERLAY_MTU.to_string(),
                    "up",
                ])
                .map_err(err("cannot bring an uplink up"))?;
            // The underlay veth stands for a wire: what crosses it has
            // complete checksums, as a NIC puts them on the wire (the
            // uplink is AF_XDP, which cannot tell a partial checksum).
            no_tx_offload(h.netns.name(), &h.uplink)?;
        }
        if spec.host_b == HostB::KernelVxlan {
            let b = &lab.hosts[1];
            let cidr = spec.underlay.vtep_cidr(1);
            let mut add = vec!["addr", "add", &cidr, "dev", &b.uplink];
            if spec.underlay == Underlay::V6 {
                // IPv6 back on for the kernel's uplink alone (its neighbour
                // discovery is what is tested), without the DAD delay.
                enable_ipv6(b.netns.name(), &b.uplink)?;
                add.push("nodad");
            }
            b.netns
                .ip(&add)
                .map_err(err("cannot address host B's uplink"))?;
        }
        for i in 0..2 {
            let kernel = i == 1 && spec.host_b == HostB::KernelVxlan;
            for net in &spec.networks {
                let endpoint = if kernel {
                    lab.kernel_vxlan(net)?
                } else {
                    lab.container(i, net)?
                };
                lab.endpoints.push(endpoint);
            }
        }
        Ok(lab)
    }

    /// Builds `spec` ([`OverlayLab::build`]) and starts `vswitchd` (the
    /// binary at `vswitchd`) in each host that runs one, waiting until it
    /// serves its control socket with its XDP programs attached.
    pub fn up(spec: &OverlaySpec, vswitchd: &Path) -> Result<OverlayLab, String> {
        let mut lab = OverlayLab::build(spec)?;
        let cores = vswitch_ports::cpu::available_cores();
        for i in 0..2 {
            if i == 1 && spec.host_b == HostB::KernelVxlan {
                continue;
            }
            let name = lab.hosts[i].name.clone();
            let socket = lab.dir.join(&format!("{name}.sock"));
            let config = lab.dir.join(&format!("host-{name}.toml"));
            lab.hosts[i].socket = Some(socket);
            lab.hosts[i].config = Some(config.clone());
            // One worker each, on different cores where there are two.
            let core = cores.get(i % cores.len().max(1)).copied().unwrap_or(0);
            let text = lab.config_text(i, core);
            std::fs::write(&config, &text)
                .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
            lab.start_daemon(i, vswitchd)?;
        }
        for i in 0..lab.daemons.len() {
            lab.wait_until_ready(i)?;
        }
        Ok(lab)
    }

    /// A container of host `i` on `net`.
    fn container(&self, i: usize, net: &Network) -> Result<Endpoint, String> {
        let host = &self.hosts[i];
        let name = format!("{}-{}", host.name, net.name);
        let netns = NetNs::create(&unique_name(&name)).map_err(err("cannot create a namespace"))?;
        disable_ipv6(netns.name())?;
        let host_end = unique_name("vh");
        host.netns
            .add_veth_into(&host_end, &netns, "eth0")
            .map_err(err(format!("cannot create {name}'s veth pair")))?;
        let ip = net.address(i);
        let mtu = self.spec.container_mtu.to_string();
        let cidr = format!("{ip}/24");
        netns
            .ip(&["addr", "add", &cidr, "dev", "eth0"])
            .map_err(err(format!("cannot address {name}")))?;
        netns
            .ip(&["link", "set", "eth0", "mtu", &mtu, "up"])
            .map_err(err(format!("cannot bring {name}'s eth0 up")))?;
        // The container keeps the kernel's default offloads: its veth is
        // an AF_PACKET port, which takes super-frames and partial
        // checksums (segmented before the tunnel, docs/offloads.md).
        Ok(Endpoint {
            name,
            host: i,
            network: net.name.clone(),
            netns_name: netns.name().to_string(),
            interface: "eth0".into(),
            ip,
            port: Some(host_end),
            _netns: Some(netns),
        })
    }

    /// Host B as the kernel's VXLAN: a `vxlan` link for `net` over the
    /// uplink (which has the VTEP address), holding its container address.
    fn kernel_vxlan(&self, net: &Network) -> Result<Endpoint, String> {
        let (a, b) = (&self.hosts[0], &self.hosts[1]);
        let ns = &b.netns;
        let link = unique_name("kvx");
        let (vni, local, remote) = (net.vni.to_string(), b.vtep.to_string(), a.vtep.to_string());
        ns.ip(&[
            "link",
            "add",
            &link,
            "type",
            "vxlan",
            "id",
            &vni,
            "local",
            &local,
            "remote",
            &remote,
            "dstport",
            "4789",
            "dev",
            &b.uplink,
            "noudpcsum",
        ])
        .map_err(err("cannot create the kernel VXLAN device"))?;
        let ip = net.address(1);
        let cidr = format!("{ip}/24");
        ns.ip(&["addr", "add", &cidr, "dev", &link])
            .map_err(err("cannot address the kernel VXLAN device"))?;
        let mtu = self.spec.container_mtu.to_string();
        ns.ip(&["link", "set", &link, "mtu", &mtu, "up"])
            .map_err(err("cannot bring the kernel VXLAN device up"))?;
        Ok(Endpoint {
            name: format!("b-{}", net.name),
            host: 1,
            network: net.name.clone(),
            netns_name: ns.name().to_string(),
            interface: link,
            ip,
            port: None,
            _netns: None,
        })
    }

    /// The configuration of host `i`'s vswitchd, one worker on `core`.
    pub fn config_text(&self, i: usize, core: usize) -> String {
        let host = &self.hosts[i];
        let other = &self.hosts[1 - i];
        let socket = host
            .socket
            .clone()
            .unwrap_or_else(|| self.dir.join(&format!("{}.sock", host.name)));
        let mut text = format!(
            "# host {} of an overlay lab ({} over an IPv{} underlay)\n\
             [switch]\nworkers = [{core}]\nidle = \"adaptive\"\ncontrol_socket = {:?}\n\n\
             [[uplink]]\nname = \"up0\"\ntype = \"afxdp\"\n\
             options = {{ interface = {:?} }}\naddresses = [{:?}]\nmtu = {UNDERLAY_MTU}\n",
            host.name.to_uppercase(),
            self.spec.tunnel.type_name(),
            if self.spec.underlay == Underlay::V4 {
                4
            } else {
                6
            },
            socket.display().to_string(),
            host.uplink,
            self.spec.underlay.vtep_cidr(i),
        );
        for net in &self.spec.networks {
            text += &format!("\n[[bridge]]\nname = {:?}\n", net.name);
            for e in self
                .endpoints
                .iter()
                .filter(|e| e.host == i && e.network == net.name)
            {
                if let Some(port) = &e.port {
                    text += &format!(
                        "\n[[bridge.port]]\nname = {:?}\ntype = \"afpacket\"\noptions = {{ interface = {port:?} }}\n",
                        e.name
                    );
                }
            }
            text += &format!(
                "\n[[bridge.port]]\nname = {:?}\ntype = {:?}\n\
                 options = {{ uplink = \"up0\", vni = {}, remote = [\"{}\"] }}\n",
                self.tunnel_port(&net.name),
                self.spec.tunnel.type_name(),
                net.vni,
                other.vtep,
            );
        }
        text
    }

    /// The name of the tunnel port of network `net` (`vx-blue`).
    pub fn tunnel_port(&self, net: &str) -> String {
        format!("{}-{net}", self.spec.tunnel.port_prefix())
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir
            .join(&format!("vswitchd-{}.log", self.hosts[i].name))
    }

    fn start_daemon(&mut self, i: usize, vswitchd: &Path) -> Result<(), String> {
        let host = &self.hosts[i];
        let config = host.config.clone().ok_or("no configuration written")?;
        let log = File::create(self.log_path(i))
            .map_err(|e| format!("cannot create the daemon's log: {e}"))?;
        let log2 = log
            .try_clone()
            .map_err(|e| format!("cannot share the daemon's log: {e}"))?;
        // `ip netns exec` enters the namespace and execs the program in
        // the same process: the child's pid is vswitchd's.
        // Its own database in the lab's directory: runs never share
        // /var/lib/vswitch.
        let db = self.dir.join(&format!("host-{}-db.toml", host.name));
        let child = Command::new("ip")
            .args(["netns", "exec", host.netns.name()])
            .arg(vswitchd)
            .arg("--db")
            .arg(&db)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", vswitchd.display()))?;
        self.daemons.push(DaemonProcess {
            host: host.name.clone(),
            child,
        });
        Ok(())
    }

    /// What host `i`'s daemon wrote to its standard output and error.
    pub fn daemon_log(&self, i: usize) -> String {
        std::fs::read_to_string(self.log_path(i)).unwrap_or_default()
    }

    fn wait_until_ready(&mut self, d: usize) -> Result<(), String> {
        let i = self
            .hosts
            .iter()
            .position(|h| h.name == self.daemons[d].host)
            .ok_or("a daemon of no host")?;
        let host = &self.hosts[i];
        let socket = host.socket.clone().ok_or("no socket")?;
        // The uplink is the one AF_XDP port (containers are on AF_PACKET).
        let interfaces = [host.uplink.clone()];
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.daemons[d].child.try_wait() {
                return Err(format!(
                    "vswitchd of host {} exited ({status}) before it was ready:\n{}\nits configuration ({}):\n{}",
                    host.name,
                    self.daemon_log(i).trim_end(),
                    host.config.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                    host.config.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default(),
                ));
            }
            let attached = interfaces.iter().all(|ifname| {
                host.netns
                    .ip(&["link", "show", "dev", ifname])
                    .map(|out| out.contains("xdp"))
                    .unwrap_or(false)
            });
            if attached && crate::daemon::request(&socket, "show").is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "vswitchd of host {} was not ready within 20 s (control socket {}, XDP on {interfaces:?}):\n{}",
                    host.name,
                    socket.display(),
                    self.daemon_log(i)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The endpoint called `name`.
    pub fn endpoint(&self, name: &str) -> Result<&Endpoint, String> {
        self.endpoints
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| format!("no endpoint {name}"))
    }

    /// Host `i`'s control socket, when it runs vswitchd.
    pub fn socket(&self, i: usize) -> Result<&Path, String> {
        self.hosts[i]
            .socket
            .as_deref()
            .ok_or_else(|| format!("host {} runs no vswitchd", self.hosts[i].name))
    }

    /// Asks host `i`'s daemon `command` (`stats`, `pmd-stats`, ...).
    pub fn request(&self, i: usize, command: &str) -> Result<Value, String> {
        crate::daemon::request(self.socket(i)?, command)
            .map_err(|e| format!("host {}: {command}: {e}", self.hosts[i].name))
    }

    /// The `stats` entry of port `port` on host `i`.
    pub fn port_stats(&self, i: usize, port: &str) -> Result<Value, String> {
        let stats = self.request(i, "stats")?;
        stats["ports"]
            .as_array()
            .and_then(|ports| ports.iter().find(|p| p["name"] == port))
            .cloned()
            .ok_or_else(|| format!("host {}: no port {port} in {stats}", self.hosts[i].name))
    }

    /// Runs `ip` in endpoint `name`'s namespace.
    pub fn ip_in(&self, name: &str, args: &[&str]) -> Result<String, String> {
        let e = self.endpoint(name)?;
        let mut all = vec!["-n", e.netns_name.as_str()];
        all.extend_from_slice(args);
        ip(&all).map_err(|e| e.to_string())
    }

    /// Sets endpoint `name`'s interface MTU.
    pub fn set_mtu(&self, name: &str, mtu: u32) -> Result<(), String> {
        let e = self.endpoint(name)?;
        let mtu = mtu.to_string();
        self.ip_in(name, &["link", "set", &e.interface, "mtu", &mtu])
            .map(drop)
    }

    /// Adds `cidr` to endpoint `name`'s interface.
    pub fn add_address(&self, name: &str, cidr: &str) -> Result<(), String> {
        let e = self.endpoint(name)?;
        self.ip_in(name, &["addr", "add", cidr, "dev", &e.interface])
            .map(drop)
    }

    /// Makes endpoint `name`'s neighbour entry for endpoint `of`
    /// permanent, so that its kernel sends no more ARP probes for it (a
    /// network kept quiet while another is watched).
    pub fn pin_neighbour(&self, name: &str, of: &str) -> Result<(), String> {
        let (e, other) = (self.endpoint(name)?, self.endpoint(of)?);
        let (ip, mac) = (other.ip.to_string(), self.mac_of(of)?);
        self.ip_in(
            name,
            &[
                "neigh",
                "replace",
                &ip,
                "lladdr",
                &mac,
                "nud",
                "permanent",
                "dev",
                &e.interface,
            ],
        )
        .map(drop)
    }

    /// The MAC address of endpoint `name`'s interface.
    pub fn mac_of(&self, name: &str) -> Result<String, String> {
        let e = self.endpoint(name)?;
        let out = self.ip_in(name, &["-j", "link", "show", "dev", &e.interface])?;
        let v: Value = serde_json::from_str(&out).map_err(|e| format!("ip -j: {e}: {out}"))?;
        v[0]["address"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no MAC in {out}"))
    }

    /// The inner MACs host `i`'s tunnel of network `net` has learned
    /// behind each remote VTEP (`tunnel-show`), as (remote, MACs).
    pub fn tunnel_macs(&self, i: usize, net: &str) -> Result<Vec<(String, Vec<String>)>, String> {
        let show = self.request(i, "tunnel-show")?;
        let name = self.tunnel_port(net);
        let tunnel = show["tunnels"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["name"] == name.as_str()))
            .ok_or_else(|| format!("host {}: no tunnel {name} in {show}", self.hosts[i].name))?;
        Ok(tunnel["vteps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| {
                let macs = v["macs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.as_str().map(str::to_string))
                    .collect();
                (v["remote"].as_str().unwrap_or("?").to_string(), macs)
            })
            .collect())
    }

    /// Packets the kernel received on endpoint `name`'s interface.
    pub fn kernel_rx_packets(&self, name: &str) -> Result<u64, String> {
        let e = self.endpoint(name)?;
        let out = self.ip_in(name, &["-s", "-j", "link", "show", "dev", &e.interface])?;
        let v: Value = serde_json::from_str(&out).map_err(|e| format!("ip -j: {e}: {out}"))?;
        v[0]["stats64"]["rx"]["packets"]
            .as_u64()
            .ok_or_else(|| format!("no rx packets in {out}"))
    }
}
