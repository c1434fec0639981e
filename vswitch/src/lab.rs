//! A lab of example containers on a running switch: what `vswitch demo`
//! shows and what the end-to-end tests drive.
//!
//! [`Lab::up`] takes a configuration with `[[container]]` entries and, for
//! each, creates a network namespace and plugs it into its port: a veth
//! pair for an `afxdp` or `afpacket` port (the host end becomes the port's interface, the
//! other end the container's eth0; with as many queues as the port has), or, for a `tap` port, the daemon
//! creates the TAP inside the namespace as its eth0. Interface, namespace
//! and socket names are made unique per run, so labs never collide. The
//! container side gets its address. A TAP container keeps the kernel's
//! default offloads: the TAP port takes its partial checksums and TCP
//! super-frames and completes or segments them for ports that cannot.
//! A veth container on an `afpacket` port keeps them too (the port's
//! virtio-net headers carry them); on an `afxdp` port its TX checksum
//! offload is turned off (AF_XDP cannot tell a partial checksum from a
//! complete one; see `vswitch_ports::ethtool`).
//!
//! Dropping the lab stops the daemon first (detaching every XDP program),
//! then removes the links and namespaces, also on a panic.
//!
//! [`overlay`] is the two-host lab of the overlay networks: a vswitchd
//! process per host namespace, tunnels over an underlay veth between them.

pub mod gateway;
pub mod overlay;
pub mod traffic;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use vswitch_ports::ethtool::disable_tx_checksum_offload;
use vswitch_ports::netns::{run_in_netns, unique_name, NetNs, Veth};
use vswitch_ports::ping::Pinger;

use crate::config::{Config, PortKind};
use crate::daemon::{BackgroundDaemon, Daemon};

/// One container of the lab.
pub struct Container {
    /// The name in the configuration.
    pub name: String,
    /// Its namespace.
    pub netns: NetNs,
    /// Its eth0 address.
    pub ip: Ipv4Addr,
    /// The switch port it is plugged into.
    pub port: String,
    /// True when its eth0 is a veth the switch drives with AF_XDP, which
    /// needs TX checksum offload off; false for AF_PACKET and TAP ports
    /// (the kernel's default offloads).
    pub checksum_offload_off: bool,
}

/// Containers on a running daemon.
pub struct Lab {
    // Field order is drop order: the daemon stops before links go.
    daemon: BackgroundDaemon,
    /// The containers, in configuration order.
    pub containers: Vec<Container>,
    /// Held so the links are deleted on drop, after the daemon.
    _veths: Vec<Veth>,
    /// The configuration as run (with the generated names).
    pub config: Config,
}

fn err(context: &str) -> impl Fn(vswitch_ports::PortError) -> String + '_ {
    move |e| format!("{context}: {e}")
}

/// Creates a veth pair with `queues` queues whose peer becomes eth0 of
/// namespace `netns`, brings the host end up, keeps the pair in `veths`
/// and returns the host end's name.
fn plug_veth(netns: &NetNs, queues: u32, veths: &mut Vec<Veth>) -> Result<String, String> {
    let host = unique_name("vh");
    let peer = unique_name("vp");
    let veth = Veth::create_with_queues(&host, &peer, Some(netns), queues)
        .map_err(err("cannot create a veth pair"))?;
    veths.push(veth);
    netns
        .ip(&["link", "set", &peer, "name", "eth0"])
        .map_err(err("cannot rename the container's link"))?;
    vswitch_ports::netns::ip(&["link", "set", &host, "up"])
        .map_err(err("cannot bring the host end up"))?;
    Ok(host)
}

impl Lab {
    /// Creates the containers and starts the daemon on `config`.
    pub fn up(config: &Config) -> Result<Lab, String> {
        if config.containers.is_empty() {
            return Err("the configuration declares no [[container]]: nothing to bring up".into());
        }
        let mut config = config.clone();
        config.switch.control_socket =
            std::env::temp_dir().join(format!("{}.sock", unique_name("vsw")));
        let mut containers = Vec::new();
        let mut veths = Vec::new();
        for c in config.containers.clone() {
            let netns =
                NetNs::create(&unique_name(&c.name)).map_err(err("cannot create a namespace"))?;
            let ip: Ipv4Addr = c
                .address
                .split('/')
                .next()
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| format!("container {}: bad address {}", c.name, c.address))?;
            let port = config
                .bridges
                .iter_mut()
                .flat_map(|b| b.ports.iter_mut())
                .find(|p| p.name == c.port)
                .ok_or_else(|| format!("container {}: no port {}", c.name, c.port))?;
            let checksum_offload_off = matches!(port.kind, PortKind::AfXdp { .. });
            match &mut port.kind {
                PortKind::AfXdp {
                    interface, queues, ..
                } => {
                    *interface = plug_veth(&netns, *queues, &mut veths)?;
                }
                PortKind::AfPacket { interface } => {
                    *interface = plug_veth(&netns, 1, &mut veths)?;
                }
                PortKind::Tap {
                    interface,
                    netns: tap_ns,
                } => {
                    *interface = "eth0".into();
                    *tap_ns = Some(netns.name().to_string());
                }
                _ => {
                    return Err(format!(
                        "container {}: port {} is not an afxdp, afpacket or tap port",
                        c.name, c.port
                    ))
                }
            }
            containers.push(Container {
                name: c.name.clone(),
                netns,
                ip,
                port: c.port.clone(),
                checksum_offload_off,
            });
        }

        let daemon = Daemon::start(&config)
            .and_then(Daemon::spawn)
            .map_err(|e| e.to_string())?;
        let lab = Lab {
            daemon,
            containers,
            _veths: veths,
            config,
        };
        // The TAPs exist now; give every container its address.
        for (c, declared) in lab.containers.iter().zip(&lab.config.containers) {
            c.netns
                .ip(&["addr", "add", &declared.address, "dev", "eth0"])
                .map_err(err("cannot address a container"))?;
            c.netns
                .ip(&["link", "set", "eth0", "up"])
                .map_err(err("cannot bring a container's eth0 up"))?;
            if c.checksum_offload_off {
                run_in_netns(c.netns.name(), || disable_tx_checksum_offload("eth0"))
                    .and_then(|r| r)
                    .map_err(err("cannot turn off checksum offload"))?;
            }
        }
        Ok(lab)
    }

    /// The daemon's control socket.
    pub fn socket(&self) -> &Path {
        self.daemon.socket()
    }

    /// The container called `name`.
    pub fn container(&self, name: &str) -> Result<&Container, String> {
        self.containers
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| format!("no container {name}"))
    }

    /// Pings `to`'s address from `from`, `count` times, with our own ICMP
    /// echo from a raw socket in `from`'s namespace; Ok with a summary line
    /// in `ping`'s words when every reply came.
    pub fn ping(&self, from: &str, to: &str, count: u32) -> Result<String, String> {
        let (a, b) = (self.container(from)?, self.container(to)?);
        let report = run_in_netns(a.netns.name(), Pinger::open)
            .and_then(|pinger| pinger)
            .and_then(|pinger| {
                pinger.ping(
                    b.ip,
                    count,
                    Duration::from_millis(200),
                    Duration::from_secs(2),
                )
            })
            .map_err(|e| format!("ping {from} -> {to}: {e}"))?;
        if report.received() == count {
            Ok(report.summary())
        } else {
            Err(format!("ping {from} -> {to}: {}", report.summary()))
        }
    }

    /// Sends `bytes` over TCP from `from` to a server in `to`, and returns
    /// how many arrived and how long it took. Bounded by `timeout`.
    pub fn tcp_transfer(
        &self,
        from: &str,
        to: &str,
        bytes: usize,
        timeout: Duration,
    ) -> Result<(usize, Duration), String> {
        let (a, b) = (self.container(from)?, self.container(to)?);
        let addr = SocketAddr::from((b.ip, 5201));
        let listener = run_in_netns(b.netns.name(), || TcpListener::bind(addr))
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot listen on {addr} in {to}: {e}"))?;
        let server = std::thread::spawn(move || -> std::io::Result<usize> {
            // Accept with a deadline, so a client that never connects
            // cannot leave this thread behind.
            listener.set_nonblocking(true)?;
            let deadline = Instant::now() + timeout;
            let mut conn = loop {
                match listener.accept() {
                    Ok((conn, _)) => break conn,
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            && Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => return Err(e),
                }
            };
            conn.set_nonblocking(false)?;
            conn.set_read_timeout(Some(timeout))?;
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0;
            loop {
                match conn.read(&mut buf)? {
                    0 => return Ok(total),
                    n => total += n,
                }
            }
        });
        let start = Instant::now();
        let sent = run_in_netns(a.netns.name(), move || -> std::io::Result<()> {
            let mut conn = TcpStream::connect_timeout(&addr, timeout)?;
            conn.set_write_timeout(Some(timeout))?;
            let chunk = vec![0x5au8; 64 * 1024];
            let mut left = bytes;
            while left > 0 {
                let n = left.min(chunk.len());
                conn.write_all(&chunk[..n])?;
                left -= n;
            }
            conn.shutdown(std::net::Shutdown::Write)
        })
        .map_err(|e| e.to_string())?;
        let received = server
            .join()
            .map_err(|_| "the TCP server thread panicked".to_string())?;
        sent.map_err(|e| format!("TCP {from} -> {to}: {e}"))?;
        let received = received.map_err(|e| format!("TCP {from} -> {to}: server: {e}"))?;
        Ok((received, start.elapsed()))
    }
}
