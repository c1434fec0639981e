//! The declarative configuration: bridges, their ports, and each port's
//! interface type and options, in TOML.
//!
//! ```toml
//! [switch]                   # the daemon; every key optional
//! workers = [1]              # one poll-mode worker per listed core (default [0])
//! batch_size = 32            # frames per receive burst
//! idle = "adaptive"          # the default: busy-poll under load, block in
//!                            # epoll when quiet (idle: ~0.2% of a core);
//!                            # "spin": always busy-poll (a whole core);
//!                            # "sleep": back off with sleeps (~7% of a core)
//! idle_quiet_us = 200        # adaptive: quiet time before blocking
//! idle_sleep_us = 200        # sleep: longest idle sleep
//! log_level = "info"         # error | warn | info | debug (vswitchd --log-level overrides)
//! metrics = "127.0.0.1:9477" # Prometheus endpoint, loopback only; off when absent
//! conntrack_limit = 262144   # connections tracked at once (NAT), default 262144;
//!                            # allocated at start, a change needs a restart
//! control_socket = "/run/vswitch/vswitchd.sock"   # mode 0600, root's only
//! control_group = "vswitch"  # optional: this group (a name, or a numeric
//!                            # gid) may read (show, stats, ...) but not
//!                            # write; the socket is then mode 0660
//!
//! [[bridge]]
//! name = "br0"
//! mac_aging_secs = 300       # default 300
//! mac_limit = 8192           # learned MACs per bridge, default 8192
//!
//! [[bridge.port]]
//! name = "c1"
//! type = "afxdp"             # afxdp | afpacket | tap | pcap | null
//! vlan = 10                  # access port on VLAN 10
//! mac_limit = 256            # learned MACs on this port, default: the bridge's
//! options = { interface = "veth-c1" }
//!
//! [[bridge.port]]
//! name = "uplink"
//! type = "afxdp"
//! trunks = [10, 20]          # trunk port carrying VLANs 10 and 20 tagged
//! native_vlan = 10           # optional: untagged frames belong to VLAN 10
//!
//! [[bridge.static_mac]]
//! mac = "02:00:00:00:00:01"
//! port = "c1"
//! vlan = 10                  # default: the port's VLAN, or 0
//! ```
//!
//! `[[container]]` entries declare the example containers that `vswitch
//! demo` creates (a network namespace each, joined to its port by a veth
//! pair for `afxdp` ports, or holding the TAP for `tap` ports); the daemon
//! itself ignores them:
//!
//! ```toml
//! [[container]]
//! name = "c1"                # namespace name (made unique per run by the demo)
//! port = "c1"                # the switch port it is plugged into
//! address = "10.200.0.1/24"  # its eth0 address
//! ```
//!
//! A port with neither `vlan` nor `trunks` carries untagged frames and
//! keeps the tags of tagged ones (as in Open vSwitch).
//!
//! Every error names the file, the line and column, and the field, and says
//! what is wrong: [`ConfigError`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use vswitch_pipeline::datapath::{
    BridgeSpec, DatapathSpec, PortSpec, StaticMac, VlanMode, VlanSet, VLAN_MAX,
};
use vswitch_pipeline::overlay::{TunnelKind, TunnelSpec, UplinkSpec};
use vswitch_pipeline::{Mac, PortId};

pub mod acl;
mod bridge;
mod checks;
mod network;
mod options;
mod overlay;
pub mod policy;
mod port_security;
mod publish;
mod switch;

pub use checks::{MAX_CONFIG_BYTES, MAX_INTERFACE_NAME};
pub use network::{gateway_mac_of, NetworkConfig};
use options::Options;
pub use overlay::{
    derived_mac, interface_mac, TunnelConfig, UplinkConfig, DEFAULT_UPLINK_MTU, OVERLAY_OVERHEAD_V4,
};
use switch::RawSwitch;
pub use switch::{
    ControlGroup, IdlePolicy, SwitchConfig, ADAPTIVE_IDLE_ITERATIONS, DEFAULT_CONNTRACK_LIMIT,
    DEFAULT_CONTROL_SOCKET, DEFAULT_IDLE_QUIET_US, DEFAULT_IDLE_SLEEP_US,
};

/// Default seconds a learned MAC lives without traffic.
pub const DEFAULT_MAC_AGING_SECS: u32 = 300;
/// Default learned MACs per bridge.
pub const DEFAULT_MAC_LIMIT: u32 = 8192;
/// The largest `mac_limit` accepted (the table is allocated up front:
/// 32 bytes per allowed entry).
pub const MAX_MAC_LIMIT: u32 = 4_000_000;
/// The longest aging time accepted, in seconds (one day).
pub const MAX_MAC_AGING_SECS: u32 = 86_400;

/// A configuration error, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (or `<string>`).
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// The field, as a path (`bridge[0].port[1].vlan`), or empty.
    pub field: String,
    /// What is wrong and, where it helps, how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// How AF_XDP attaches its XDP program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XdpAttachMode {
    /// Native (driver) mode, falling back to generic.
    #[default]
    Auto,
    /// Native mode only.
    Native,
    /// Generic (SKB) mode only.
    Generic,
}

/// Whether AF_XDP uses zero-copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZeroCopyMode {
    /// Zero-copy where the driver supports it, copy otherwise.
    #[default]
    Auto,
    /// Zero-copy or fail.
    On,
    /// Copy mode.
    Off,
}

/// What a port is attached to, with its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortKind {
    /// AF_XDP sockets on a Linux interface (veth, NIC).
    AfXdp {
        /// Interface name (default: the port name).
        interface: String,
        /// Receive queues, one socket each (default 1).
        queues: u32,
        /// XDP attach mode.
        mode: XdpAttachMode,
        /// Zero-copy choice.
        zero_copy: ZeroCopyMode,
        /// RX and TX ring size (power of two; default 2048).
        ring_size: u32,
    },
    /// An AF_PACKET socket with virtio-net headers on a Linux interface
    /// (a veth): keeps the container's offloads (TSO super-frames,
    /// partial checksums) at one system call per frame.
    AfPacket {
        /// Interface name (default: the port name).
        interface: String,
    },
    /// A TAP device.
    Tap {
        /// Device name (default: the port name).
        interface: String,
        /// Network namespace to create the device in (a container's eth0).
        netns: Option<String>,
    },
    /// Frames from a capture file, and/or frames written to one.
    Pcap {
        /// Capture to read frames from.
        input: Option<PathBuf>,
        /// Replay the input forever from memory (throughput runs).
        looping: bool,
        /// Capture to write sent frames to.
        output: Option<PathBuf>,
    },
    /// Receives nothing; drops what is sent to it (counted as sent).
    Null,
    /// A VXLAN or Geneve tunnel port: no device; its frames go through an
    /// uplink (see [`UplinkConfig`]).
    Tunnel(TunnelConfig),
}

impl PortKind {
    /// The type name as written in the config.
    pub fn type_name(&self) -> &'static str {
        match self {
            PortKind::AfXdp { .. } => "afxdp",
            PortKind::AfPacket { .. } => "afpacket",
            PortKind::Tap { .. } => "tap",
            PortKind::Pcap { .. } => "pcap",
            PortKind::Null => "null",
            PortKind::Tunnel(t) => t.kind.name(),
        }
    }

    /// The Linux interface the port uses, if any.
    pub fn interface(&self) -> Option<&str> {
        match self {
            PortKind::AfXdp { interface, .. }
            | PortKind::AfPacket { interface }
            | PortKind::Tap { interface, .. } => Some(interface),
            _ => None,
        }
    }
}

/// A validated port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Unique name over all bridges.
    pub name: String,
    /// Type and options.
    pub kind: PortKind,
    /// VLAN handling.
    pub vlan_mode: VlanMode,
    /// Learned MACs the port may hold at most.
    pub mac_limit: u32,
    /// The container addresses the port is bound to, if it is.
    pub security: Option<vswitch_pipeline::stage::port_security::PortSecurity>,
    /// Its endpoint's labels, for ACL and policy selectors.
    pub labels: acl::Labels,
    /// Its endpoint's namespace, for policies.
    pub namespace: String,
}

/// A validated static MAC entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticMacConfig {
    /// The address.
    pub mac: Mac,
    /// The VLAN.
    pub vlan: u16,
    /// The port's name.
    pub port: String,
    /// For a tunnel port: the remote VTEP the MAC is behind.
    pub vtep: Option<std::net::IpAddr>,
}

/// A validated bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Unique name.
    pub name: String,
    /// Seconds a learned MAC lives without traffic.
    pub mac_aging_secs: u32,
    /// Learned MACs held at most.
    pub mac_limit: u32,
    /// Its ports, in order.
    pub ports: Vec<PortConfig>,
    /// Static MAC entries.
    pub static_macs: Vec<StaticMacConfig>,
}

/// An example container for `vswitch demo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    /// Its name.
    pub name: String,
    /// The port it is plugged into.
    pub port: String,
    /// Its eth0 address, CIDR.
    pub address: String,
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// Daemon settings.
    pub switch: SwitchConfig,
    /// The bridges, in file order.
    pub bridges: Vec<BridgeConfig>,
    /// The uplinks, in file order.
    pub uplinks: Vec<UplinkConfig>,
    /// The container networks, in file order.
    pub networks: Vec<NetworkConfig>,
    /// Example containers for the demo.
    pub containers: Vec<ContainerConfig>,
    /// The ports' ACLs, one per port at most.
    pub acls: Vec<acl::AclConfig>,
}

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = checks::read_capped(path).map_err(|message| ConfigError {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            field: String::new(),
            message,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Validates TOML text; `file` names it in errors. Relative paths in
    /// pcap options stay as written (resolved against the working
    /// directory).
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let at = Locator { text, file };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            at.error(
                e.span(),
                "",
                e.message().replace('\n', " ").trim().to_string(),
            )
        })?;
        Validator {
            at,
            ports_seen: HashMap::new(),
            interfaces_seen: HashMap::new(),
            uplinks: Vec::new(),
        }
        .config(raw)
    }

    /// Every port, the bridges' in order and then the uplinks: the order
    /// of [`DatapathSpec::port_ids`].
    pub fn ports(&self) -> impl Iterator<Item = &PortConfig> {
        self.bridges
            .iter()
            .flat_map(|b| b.ports.iter())
            .chain(self.uplinks.iter().map(|u| &u.port))
    }

    /// The datapath this configuration describes, port ids numbering the
    /// ports of all bridges in file order.
    pub fn datapath_spec(&self) -> DatapathSpec {
        self.datapath_spec_after(&DatapathSpec::default())
    }

    /// The datapath this configuration describes, replacing `previous`: a
    /// port keeps the id it had there (ids are stable while the port
    /// stays), and a new port takes the lowest id `previous` and this
    /// configuration leave free, so a removed port's id is not reused by
    /// the change that removes it (its learned MACs are flushed first).
    pub fn datapath_spec_after(&self, previous: &DatapathSpec) -> DatapathSpec {
        let old: HashMap<&str, PortId> = previous
            .ports
            .iter()
            .map(|p| (p.name.as_str(), p.id))
            .chain(previous.uplinks.iter().map(|u| (u.name.as_str(), u.id)))
            .collect();
        let mut taken: std::collections::BTreeSet<PortId> = old.values().copied().collect();
        let mut next_free = 0;
        let mut ids: HashMap<&str, PortId> = HashMap::new();
        for port in self.ports() {
            let id = match old.get(port.name.as_str()) {
                Some(id) => *id,
                None => {
                    while taken.contains(&next_free) {
                        next_free += 1;
                    }
                    taken.insert(next_free);
                    next_free
                }
            };
            ids.insert(port.name.as_str(), id);
        }
        let mut spec = DatapathSpec::default();
        for (b, bridge) in self.bridges.iter().enumerate() {
            spec.bridges.push(BridgeSpec {
                name: bridge.name.clone(),
                mac_aging_secs: bridge.mac_aging_secs,
                mac_limit: bridge.mac_limit,
                static_macs: bridge
                    .static_macs
                    .iter()
                    .filter_map(|s| {
                        Some(StaticMac {
                            vlan: s.vlan,
                            mac: s.mac,
                            port: *ids.get(s.port.as_str())?,
                        })
                    })
                    .collect(),
            });
            for port in &bridge.ports {
                let tunnel = match &port.kind {
                    PortKind::Tunnel(t) => Some(TunnelSpec {
                        kind: t.kind,
                        uplink: ids.get(t.uplink.as_str()).copied().unwrap_or_default(),
                        vni: t.vni,
                        udp_port: t.udp_port,
                        local: t.local,
                        // A VTEP a static MAC is behind is a remote too.
                        remotes: {
                            let mut remotes = t.remotes.clone();
                            for v in bridge
                                .static_macs
                                .iter()
                                .filter(|m| m.port == port.name)
                                .filter_map(|m| m.vtep)
                            {
                                if !remotes.contains(&v) {
                                    remotes.push(v);
                                }
                            }
                            remotes
                        },
                        static_macs: bridge
                            .static_macs
                            .iter()
                            .filter(|m| m.port == port.name)
                            .filter_map(|m| Some((m.mac, m.vtep?)))
                            .collect(),
                        learn_remotes: t.learn_remotes,
                        ttl: t.ttl,
                        tos: t.tos,
                        dont_fragment: t.dont_fragment,
                        udp_checksum: t.udp_checksum,
                        geneve_options: t.geneve_options.clone(),
                    }),
                    _ => None,
                };
                spec.ports.push(PortSpec {
                    id: ids.get(port.name.as_str()).copied().unwrap_or_default(),
                    name: port.name.clone(),
                    bridge: b,
                    vlan_mode: port.vlan_mode.clone(),
                    mac_limit: port.mac_limit,
                    tunnel,
                    security: port.security.clone(),
                });
            }
        }
        for uplink in &self.uplinks {
            let name = &uplink.port.name;
            // The device's own MAC, as the kernel would answer ARP with.
            let mac = uplink
                .mac
                .or_else(|| uplink.port.kind.interface().and_then(interface_mac))
                .unwrap_or_else(|| derived_mac(name));
            spec.uplinks.push(UplinkSpec {
                id: ids.get(name.as_str()).copied().unwrap_or_default(),
                name: name.clone(),
                mac,
                addresses: uplink.addresses.clone(),
                gateway: uplink.gateway,
                mtu: uplink.mtu,
                static_neighbours: uplink.neighbours.clone(),
            });
        }
        spec.networks = self.network_specs();
        spec.acls = acl::acl_specs(&self.acls, |name| ids.get(name).copied());
        spec
    }
}

// ---- the file as written ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default, deserialize_with = "checks::switch_table")]
    switch: Option<RawSwitch>,
    #[serde(default, rename = "bridge", deserialize_with = "checks::bridge_tables")]
    bridges: Vec<RawBridge>,
    #[serde(default, rename = "uplink", deserialize_with = "checks::uplink_tables")]
    uplinks: Vec<overlay::RawUplink>,
    #[serde(
        default,
        rename = "network",
        deserialize_with = "checks::network_tables"
    )]
    networks: Vec<network::RawNetwork>,
    #[serde(
        default,
        rename = "container",
        deserialize_with = "checks::container_tables"
    )]
    containers: Vec<RawContainer>,
    #[serde(default, rename = "acl", deserialize_with = "checks::acl_tables")]
    acls: Vec<acl::RawAcl>,
    #[serde(
        default,
        rename = "namespace",
        deserialize_with = "checks::namespace_tables"
    )]
    namespaces: Vec<policy::RawNamespace>,
    #[serde(default, rename = "policy", deserialize_with = "checks::policy_tables")]
    policies: Vec<policy::RawPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContainer {
    name: Spanned<String>,
    port: Spanned<String>,
    address: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBridge {
    name: Spanned<String>,
    mac_aging_secs: Option<Spanned<i64>>,
    mac_limit: Option<Spanned<i64>>,
    #[serde(default, rename = "port", deserialize_with = "checks::port_tables")]
    ports: Vec<RawPort>,
    #[serde(
        default,
        rename = "static_mac",
        deserialize_with = "checks::static_mac_tables"
    )]
    static_macs: Vec<RawStaticMac>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: Spanned<String>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    vlan: Option<Spanned<i64>>,
    trunks: Option<Spanned<Vec<Spanned<i64>>>>,
    native_vlan: Option<Spanned<i64>>,
    mac_limit: Option<Spanned<i64>>,
    #[serde(default)]
    options: BTreeMap<String, Spanned<toml::Value>>,
    security: Option<Spanned<port_security::RawSecurity>>,
    labels: Option<Spanned<acl::Labels>>,
    namespace: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStaticMac {
    mac: Spanned<String>,
    port: Spanned<String>,
    vlan: Option<Spanned<i64>>,
    vtep: Option<Spanned<String>>,
}

struct Locator<'a> {
    text: &'a str,
    file: &'a str,
}

impl Locator<'_> {
    fn error(&self, span: Option<Range<usize>>, field: &str, message: String) -> ConfigError {
        let (line, column) = span.map_or((0, 0), |s| self.line_column(s.start));
        ConfigError {
            file: self.file.to_string(),
            line,
            column,
            field: field.to_string(),
            message,
        }
    }

    fn line_column(&self, offset: usize) -> (usize, usize) {
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let column = before
            .rfind('\n')
            .map_or(before.len(), |nl| before.len() - nl - 1)
            + 1;
        (line, column)
    }
}

struct Validator<'a> {
    at: Locator<'a>,
    /// Port name → where it was first declared, across bridges.
    ports_seen: HashMap<String, String>,
    /// Interface name → the port using it.
    interfaces_seen: HashMap<String, String>,
    /// The uplinks validated so far (before the bridges, whose tunnel
    /// ports name them).
    uplinks: Vec<UplinkConfig>,
}

/// True for "a.b.c.d/len" with len in 0..=32.
fn valid_cidr(text: &str) -> bool {
    text.split_once('/').is_some_and(|(ip, len)| {
        ip.parse::<std::net::Ipv4Addr>().is_ok() && len.parse::<u8>().is_ok_and(|l| l <= 32)
    })
}

/// Parses a log level as `[switch] log_level` and `vswitchd --log-level`
/// take it.
pub fn parse_log_level(text: &str) -> Result<log::LevelFilter, String> {
    match text {
        "error" => Ok(log::LevelFilter::Error),
        "warn" => Ok(log::LevelFilter::Warn),
        "info" => Ok(log::LevelFilter::Info),
        "debug" => Ok(log::LevelFilter::Debug),
        other => Err(format!(
            "{other:?} is not a log level: use error, warn, info or debug"
        )),
    }
}

/// Parses "aa:bb:cc:dd:ee:ff" (also with '-').
pub fn parse_mac(text: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = text.split([':', '-']);
    for byte in mac.iter_mut() {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

impl Validator<'_> {
    fn err<T>(
        &self,
        span: Range<usize>,
        field: &str,
        message: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(self.at.error(Some(span), field, message.into()))
    }

    fn ranged(
        &self,
        value: &Spanned<i64>,
        field: &str,
        range: Range<i64>,
        what: &str,
    ) -> Result<u32, ConfigError> {
        let v = *value.get_ref();
        if !(range.start..range.end).contains(&v) {
            return self.err(
                value.span(),
                field,
                format!("{what} {v} is outside {}..{}", range.start, range.end - 1),
            );
        }
        Ok(v as u32)
    }

    /// [`Validator::ranged`] for an optional field, `default` when absent.
    fn ranged_or(
        &self,
        value: &Option<Spanned<i64>>,
        field: &str,
        range: Range<i64>,
        what: &str,
        default: u32,
    ) -> Result<u32, ConfigError> {
        match value {
            Some(v) => self.ranged(v, field, range, what),
            None => Ok(default),
        }
    }

    fn vlan(&self, value: &Spanned<i64>, field: &str) -> Result<u16, ConfigError> {
        self.ranged(value, field, 1..VLAN_MAX as i64 + 1, "VLAN")
            .map(|v| v as u16)
    }

    fn config(mut self, raw: RawConfig) -> Result<Config, ConfigError> {
        for (u, raw_uplink) in raw.uplinks.into_iter().enumerate() {
            let field = format!("uplink[{u}]");
            let uplink = self.uplink(raw_uplink, &field)?;
            self.uplinks.push(uplink);
        }
        let mut bridges: Vec<BridgeConfig> = Vec::new();
        let mut bridge_names: HashMap<String, usize> = HashMap::new();
        for (b, raw_bridge) in raw.bridges.into_iter().enumerate() {
            let field = format!("bridge[{b}]");
            let name = raw_bridge.name.get_ref().clone();
            self.name(&raw_bridge.name, &format!("{field}.name"), "bridge")?;
            if let Some(first) = bridge_names.insert(name.clone(), b) {
                return self.err(
                    raw_bridge.name.span(),
                    &format!("{field}.name"),
                    format!("duplicate bridge {name:?}: bridge[{first}] already has this name"),
                );
            }
            bridges.push(self.bridge(raw_bridge, &field)?);
        }
        let switch = match raw.switch {
            Some(raw_switch) => self.switch(raw_switch)?,
            None => SwitchConfig::default(),
        };
        let mut containers: Vec<ContainerConfig> = Vec::new();
        for (i, c) in raw.containers.into_iter().enumerate() {
            let field = format!("container[{i}]");
            self.name(&c.name, &format!("{field}.name"), "container")?;
            if c.name.get_ref().len() > 8 {
                return self.err(
                    c.name.span(),
                    &format!("{field}.name"),
                    "a container name is at most 8 characters (it prefixes interface names)",
                );
            }
            if containers.iter().any(|o| &o.name == c.name.get_ref()) {
                return self.err(
                    c.name.span(),
                    &format!("{field}.name"),
                    format!("duplicate container {:?}", c.name.get_ref()),
                );
            }
            let port = bridges
                .iter()
                .flat_map(|b| b.ports.iter())
                .find(|p| &p.name == c.port.get_ref());
            match port.map(|p| &p.kind) {
                Some(PortKind::AfXdp { .. } | PortKind::AfPacket { .. } | PortKind::Tap { .. }) => {}
                Some(_) => return self.err(c.port.span(), &format!("{field}.port"), format!("port {:?} is not an afxdp, afpacket or tap port: a container plugs into one of those", c.port.get_ref())),
                None => return self.err(c.port.span(), &format!("{field}.port"), format!("no port {:?} in any bridge", c.port.get_ref())),
            }
            if containers.iter().any(|o| &o.port == c.port.get_ref()) {
                return self.err(
                    c.port.span(),
                    &format!("{field}.port"),
                    format!("port {:?} already has a container", c.port.get_ref()),
                );
            }
            if !valid_cidr(c.address.get_ref()) {
                return self.err(
                    c.address.span(),
                    &format!("{field}.address"),
                    format!(
                        "{:?} is not an IPv4 address with a prefix length, like 10.200.0.1/24",
                        c.address.get_ref()
                    ),
                );
            }
            containers.push(ContainerConfig {
                name: c.name.into_inner(),
                port: c.port.into_inner(),
                address: c.address.into_inner(),
            });
        }
        self.check_tunnels_distinct(&bridges)?;
        let networks = self.networks(raw.networks, &bridges)?;
        let mut acls = self.acls(raw.acls, &bridges, &networks)?;
        let from_policies = self.policies(raw.namespaces, raw.policies, &bridges, &acls)?;
        acls.extend(from_policies);
        Ok(Config {
            acls,
            switch,
            bridges,
            networks,
            uplinks: std::mem::take(&mut self.uplinks),
            containers,
        })
    }

    fn name(&self, name: &Spanned<String>, field: &str, what: &str) -> Result<(), ConfigError> {
        let n = name.get_ref();
        let ok = !n.is_empty()
            && n.len() <= 64
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok {
            return self.err(
                name.span(),
                field,
                format!("{what} name {n:?} must be 1 to 64 characters of letters, digits, '-', '_' or '.'"),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
