//! A one-host lab of container networks with gateways: what the gateway
//! tests (vswitch/tests/gateway.rs) drive.
//!
//! ```text
//!  c1 (front 10.1.0.2 fd00:1::2) ─veth─┐                 outside (netns)
//!  c2 (back  10.2.0.2 fd00:2::2) ─veth─┤ vswitchd ── up0 ─veth─ 192.0.2.254/24
//!  c3 (iso   10.3.0.2 fd00:3::2) ─veth─┘  192.0.2.1      198.51.100.1/32 on lo
//! ```
//!
//! The host is a namespace running one `vswitchd` (its own `--db` in the
//! lab's directory); each container is a namespace whose eth0 is a veth to
//! a bridge of its network (one per network), with default routes via its
//! network's gateways (10.x.0.1 and fd00:x::1, the switch); IPv6 is on for
//! eth0 alone (addresses without duplicate address detection), off
//! elsewhere. Networks front and back route to each other; front leaves
//! by the uplink (via 192.0.2.254, the outside namespace, which routes
//! 10.1.0.0/24 back via 192.0.2.1) and masquerades (its uplink makes it
//! so); iso routes nowhere. [`LabOptions`] can leave the outside without
//! the route back, so that only the translation brings answers home, add
//! a second container to front (c4, 10.1.0.3), and add lines to the
//! configuration (also to a container's port: labels, a namespace).
//! Names are unique per run; dropping the lab stops the daemon, then
//! deletes the namespaces (and their links) and the files,
//! also on a panic.

use std::fs::File;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vswitch_ports::netns::{unique_name, NetNs};
use vswitch_ports::testing::TempDir;

use super::overlay::{disable_ipv6, enable_ipv6, err, no_tx_offload, DaemonProcess};

/// The uplink's address, and the outside's.
pub const UPLINK_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The outside namespace's address on the uplink's link.
pub const OUTSIDE_ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
/// An address of the outside behind that router (on its loopback).
pub const OUTSIDE_SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// How a lab differs from the default one.
#[derive(Debug, Clone, Default)]
pub struct LabOptions {
    /// The outside has no route to 10.1.0.0/24: front reaches it by
    /// masquerade alone.
    pub no_route_back: bool,
    /// Lines added to the `[switch]` table (`conntrack_limit = 4`).
    pub switch: String,
    /// Lines added to front's `[[network]]` table (`publish = [...]`).
    pub front: String,
    /// A second container in front: c4, 10.1.0.3.
    pub second_front: bool,
    /// Lines added to a container's `[[bridge.port]]` table, by its name:
    /// `("c1", "labels = { app = \"web\" }")` for `[[policy]]` selectors.
    pub port_lines: Vec<(String, String)>,
}

/// A container of the lab.
pub struct Container {
    /// `c1`, `c2`, `c3`.
    pub name: String,
    /// Its network.
    pub network: &'static str,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its gateway.
    pub gateway: Ipv4Addr,
    /// Its IPv6 address.
    pub ip6: Ipv6Addr,
    /// Its IPv6 gateway.
    pub gateway6: Ipv6Addr,
    /// The host end of its veth: its switch port's interface.
    pub port: String,
    /// Its namespace.
    pub netns: NetNs,
}

/// The host, its containers, the outside and the daemon.
pub struct GatewayLab {
    // Field order is drop order: the daemon stops before the namespaces
    // (and the links in them) go, the files last.
    daemon: Vec<DaemonProcess>,
    /// c1 (front), c2 (back), c3 (iso).
    pub containers: Vec<Container>,
    /// The outside namespace, behind the uplink.
    pub outside: NetNs,
    /// The host namespace the daemon runs in.
    pub host: NetNs,
    uplink: String,
    socket: PathBuf,
    config: PathBuf,
    options: LabOptions,
    dir: TempDir,
}

impl GatewayLab {
    /// Builds the lab and starts `vswitchd` (the binary at `vswitchd`),
    /// waiting until it serves its control socket with XDP attached.
    pub fn up(vswitchd: &Path) -> Result<GatewayLab, String> {
        GatewayLab::up_with(vswitchd, LabOptions::default())
    }

    /// [`GatewayLab::up`] as `options` say.
    pub fn up_with(vswitchd: &Path, options: LabOptions) -> Result<GatewayLab, String> {
        let dir = TempDir::new("gw").map_err(|e| format!("cannot make a temp dir: {e}"))?;
        let host = NetNs::create(&unique_name("gwhost"))
            .map_err(err("cannot create the host namespace"))?;
        disable_ipv6(host.name())?;
        let outside = NetNs::create(&unique_name("gwout"))
            .map_err(err("cannot create the outside namespace"))?;
        disable_ipv6(outside.name())?;
        let mut lab = GatewayLab {
            daemon: Vec::new(),
            containers: Vec::new(),
            uplink: unique_name("gwul"),
            socket: dir.join("vswitchd.sock"),
            config: dir.join("gateway.toml"),
            options,
            outside,
            host,
            dir,
        };
        lab.outside_link()?;
        for (i, network) in ["front", "back", "iso"].into_iter().enumerate() {
            let container = lab.container(i + 1, network, i as u8 + 1, 2)?;
            lab.containers.push(container);
        }
        if lab.options.second_front {
            let container = lab.container(4, "front", 1, 3)?;
            lab.containers.push(container);
        }
        let core = vswitch_ports::cpu::available_cores()
            .first()
            .copied()
            .unwrap_or(0);
        std::fs::write(&lab.config, lab.config_text(core))
            .map_err(|e| format!("cannot write {}: {e}", lab.config.display()))?;
        lab.start_daemon(vswitchd)?;
        lab.wait_until_ready()?;
        Ok(lab)
    }

    /// The uplink's veth: its switch end in the host, `eth0` in the outside.
    fn outside_link(&self) -> Result<(), String> {
        self.host
            .add_veth_into(&self.uplink, &self.outside, "eth0")
            .map_err(err("cannot create the uplink's veth pair"))?;
        // The uplink's veth stands for a wire to a router: what crosses it
        // has complete checksums, as a NIC puts them on the wire (the
        // uplink is AF_XDP, which cannot tell a partial checksum).
        no_tx_offload(self.host.name(), &self.uplink)?;
        let router = format!("{OUTSIDE_ROUTER}/24");
        let server = format!("{OUTSIDE_SERVER}/32");
        let via = UPLINK_ADDRESS.to_string();
        let route_back = &["route", "add", "10.1.0.0/24", "via", &via][..];
        for args in [
            &["addr", "add", &router, "dev", "eth0"][..],
            &["link", "set", "eth0", "up"],
            &["link", "set", "lo", "up"],
            &["addr", "add", &server, "dev", "lo"],
        ]
        .into_iter()
        // Back to front's containers through the switch, unless only
        // masquerade is to bring answers back.
        .chain((!self.options.no_route_back).then_some(route_back))
        {
            self.outside
                .ip(args)
                .map_err(err(format!("cannot set up the outside ({args:?})")))?;
        }
        no_tx_offload(self.outside.name(), "eth0")
    }

    /// Container `c{n}` in `network` (10.{third}.0.0/24), host `host`
    /// of its subnet.
    fn container(
        &self,
        n: usize,
        network: &'static str,
        third: u8,
        host: u8,
    ) -> Result<Container, String> {
        let name = format!("c{n}");
        let netns = NetNs::create(&unique_name(&format!("gw{name}")))
            .map_err(err("cannot create a container namespace"))?;
        disable_ipv6(netns.name())?;
        let port = unique_name("gwvh");
        self.host
            .add_veth_into(&port, &netns, "eth0")
            .map_err(err(format!("cannot create {name}'s veth pair")))?;
        let ip = Ipv4Addr::new(10, third, 0, host);
        let gateway = Ipv4Addr::new(10, third, 0, 1);
        let cidr = format!("{ip}/24");
        let via = gateway.to_string();
        for args in [
            &["addr", "add", &cidr, "dev", "eth0"][..],
            &["link", "set", "eth0", "up"],
            &["route", "add", "default", "via", &via],
        ] {
            netns
                .ip(args)
                .map_err(err(format!("cannot set up {name} ({args:?})")))?;
        }
        // The container keeps the kernel's default offloads: its veth is an
        // AF_PACKET port, which takes super-frames and partial checksums.
        enable_ipv6(netns.name(), "eth0")?;
        let ip6 = Ipv6Addr::new(0xfd00, u16::from(third), 0, 0, 0, 0, 0, u16::from(host));
        let gateway6 = Ipv6Addr::new(0xfd00, u16::from(third), 0, 0, 0, 0, 0, 1);
        let cidr6 = format!("{ip6}/64");
        let via6 = gateway6.to_string();
        for args in [
            &["-6", "addr", "add", &cidr6, "dev", "eth0", "nodad"][..],
            &["-6", "route", "add", "default", "via", &via6],
        ] {
            netns
                .ip(args)
                .map_err(err(format!("cannot set up {name} ({args:?})")))?;
        }
        Ok(Container {
            name,
            network,
            ip,
            gateway,
            ip6,
            gateway6,
            port,
            netns,
        })
    }

    /// The daemon's configuration, one worker on `core`.
    pub fn config_text(&self, core: usize) -> String {
        let mut text = format!(
            "# a gateway lab: three container networks and an uplink\n\
             [switch]\nworkers = [{core}]\ncontrol_socket = {:?}\n{}\n\
             [[uplink]]\nname = \"up0\"\ntype = \"afxdp\"\noptions = {{ interface = {:?} }}\n\
             addresses = [\"{UPLINK_ADDRESS}/24\"]\ngateway = \"{OUTSIDE_ROUTER}\"\n",
            self.socket.display().to_string(),
            self.options.switch,
            self.uplink,
        );
        // One bridge and network each, with every container of it as a
        // port (the first container of a network describes it).
        let first_of_network = self
            .containers
            .iter()
            .enumerate()
            .filter(|(i, c)| self.containers[..*i].iter().all(|o| o.network != c.network));
        for (_, c) in first_of_network {
            text += &format!("\n[[bridge]]\nname = {:?}\n", c.network);
            for member in self.containers.iter().filter(|m| m.network == c.network) {
                text += &format!(
                    "[[bridge.port]]\nname = {:?}\ntype = \"afpacket\"\noptions = {{ interface = {:?} }}\n",
                    member.name, member.port
                );
                for (_, line) in self
                    .options
                    .port_lines
                    .iter()
                    .filter(|(n, _)| *n == member.name)
                {
                    text += line;
                    text += "\n";
                }
            }
            let front = format!("\nuplink = \"up0\"\n{}", self.options.front);
            let (routes, uplink) = match c.network {
                "front" => ("[\"back\"]", front.as_str()),
                "back" => ("[\"front\"]", ""),
                _ => ("[]", ""),
            };
            let subnet = Ipv4Addr::from(u32::from(c.ip) & 0xffff_ff00);
            let subnet6 = Ipv6Addr::from(u128::from(c.ip6) & !0xffff_ffff_ffff_ffff);
            text += &format!(
                "\n[[network]]\nname = {:?}\nbridge = {:?}\nsubnet = \"{subnet}/24\"\ngateway = \"{}\"\n\
                 subnet6 = \"{subnet6}/64\"\ngateway6 = \"{}\"\nroutes_to = {routes}{uplink}\n",
                c.network, c.network, c.gateway, c.gateway6
            );
        }
        text
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("vswitchd.log")
    }

    fn start_daemon(&mut self, vswitchd: &Path) -> Result<(), String> {
        let log = File::create(self.log_path())
            .map_err(|e| format!("cannot create the daemon's log: {e}"))?;
        let log2 = log
            .try_clone()
            .map_err(|e| format!("cannot share the daemon's log: {e}"))?;
        let child = Command::new("ip")
            .args(["netns", "exec", self.host.name()])
            .arg(vswitchd)
            .arg("--db")
            .arg(self.dir.join("db.toml"))
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", vswitchd.display()))?;
        self.daemon.push(DaemonProcess {
            host: "gateway".into(),
            child,
        });
        Ok(())
    }

    /// What the daemon wrote to its standard output and error.
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        // The uplink is the one AF_XDP port (containers are on AF_PACKET).
        let interfaces = [self.uplink.clone()];
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(Ok(Some(status))) = self.daemon.first_mut().map(|d| d.child.try_wait()) {
                return Err(format!(
                    "vswitchd exited ({status}) before it was ready:\n{}\nits configuration:\n{}",
                    self.daemon_log().trim_end(),
                    std::fs::read_to_string(&self.config).unwrap_or_default(),
                ));
            }
            let attached = interfaces.iter().all(|ifname| {
                self.host
                    .ip(&["link", "show", "dev", ifname])
                    .map(|out| out.contains("xdp"))
                    .unwrap_or(false)
            });
            if attached && crate::daemon::request(&self.socket, "show").is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "vswitchd was not ready within 20 s:\n{}",
                    self.daemon_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The container called `name`.
    pub fn container_named(&self, name: &str) -> Result<&Container, String> {
        self.containers
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| format!("no container {name}"))
    }

    /// Asks the daemon `command` (`stats`, `show`, ...).
    pub fn request(&self, command: &str) -> Result<Value, String> {
        crate::daemon::request(&self.socket, command).map_err(|e| format!("{command}: {e}"))
    }

    /// Runs the system's `ping` in namespace `ns` with `args`: its
    /// standard output, whatever its exit status (a ping that gets an ICMP
    /// error instead of a reply exits 1 and says so there).
    pub fn system_ping(ns: &NetNs, args: &[&str]) -> Result<String, String> {
        let out = Command::new("ip")
            .args(["netns", "exec", ns.name(), "ping"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run ping: {e}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
