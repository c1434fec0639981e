//! Overlay configuration: uplinks (`[[uplink]]`) and tunnel ports (bridge
//! ports of type `vxlan` or `geneve`).
//!
//! ```toml
//! [[uplink]]                  # a port outside the bridges, to the underlay
//! name = "up0"
//! type = "afxdp"              # afxdp | afpacket | tap | pcap | null, options as for bridge ports
//! options = { interface = "eth1" }
//! addresses = ["10.200.0.1/24", "fd00:200::1/64"]  # VTEP addresses and on-link subnets
//! gateway = "10.200.0.254"    # optional: next hop for remote VTEPs off those subnets
//! mac = "02:00:00:00:00:01"   # optional: default the interface's MAC
//! mtu = 1500                  # the underlay's IP MTU, default 1500
//! neighbours = { "10.200.0.254" = "02:00:00:00:00:fe" }  # optional: next-hop MACs
//!                             # configured instead of resolved by ARP / NDP
//!
//! [[bridge.port]]
//! name = "vx42"
//! type = "vxlan"              # or "geneve"
//! options = { uplink = "up0", vni = 42, remote = ["10.200.0.2", "10.200.0.3"] }
//! # remote = "learn": accept any VTEP, flood to the VTEPs seen
//! # dst_port (default 4789 / 6081), local_ip (default: the uplink's
//! # address of the remotes' family), ttl = 64, tos = 0, df = true,
//! # udp_checksum = false, geneve_options = ["0102:80:0a0b0c0d"]
//! #   (class:type:data in hex; the options this tunnel sends, and the
//! #   critical options it understands when received)
//! ```

use std::net::IpAddr;

use serde::Deserialize;
use toml::Spanned;
use vswitch_pipeline::overlay::{GeneveOptionSpec, TunnelKind};
use vswitch_pipeline::Mac;

use super::{parse_mac, ConfigError, Options, PortConfig, PortKind, RawPort, Validator};

/// The default underlay MTU.
pub const DEFAULT_UPLINK_MTU: u16 = 1500;

/// Bytes VXLAN or Geneve (without options) add over IPv4: outer Ethernet,
/// IPv4, UDP and the tunnel header minus nothing (the inner Ethernet header
/// is inside). Containers on a 1500 underlay use MTU 1500 - 50 = 1450.
pub const OVERLAY_OVERHEAD_V4: u16 = 50;

/// A validated uplink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UplinkConfig {
    /// The port (its name, device type and options).
    pub port: PortConfig,
    /// VTEP addresses with their prefix lengths.
    pub addresses: Vec<(IpAddr, u8)>,
    /// Next hop for remotes outside the address's subnets.
    pub gateway: Option<IpAddr>,
    /// MAC, when configured.
    pub mac: Option<Mac>,
    /// The underlay's IP MTU.
    pub mtu: u16,
    /// Static neighbours (next hops whose MAC is configured, not resolved).
    pub neighbours: Vec<(IpAddr, Mac)>,
}

/// A validated tunnel port's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelConfig {
    /// Protocol.
    pub kind: TunnelKind,
    /// The uplink's name.
    pub uplink: String,
    /// VNI.
    pub vni: u32,
    /// UDP destination port.
    pub udp_port: u16,
    /// Local VTEP address.
    pub local: IpAddr,
    /// Configured remote VTEPs.
    pub remotes: Vec<IpAddr>,
    /// Learn remote VTEPs from traffic.
    pub learn_remotes: bool,
    /// Outer TTL.
    pub ttl: u8,
    /// Outer TOS.
    pub tos: u8,
    /// Outer Don't Fragment.
    pub dont_fragment: bool,
    /// Outer UDP checksum over IPv4.
    pub udp_checksum: bool,
    /// Geneve options.
    pub geneve_options: Vec<GeneveOptionSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUplink {
    name: Spanned<String>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    options: std::collections::BTreeMap<String, Spanned<toml::Value>>,
    addresses: Spanned<Vec<Spanned<String>>>,
    gateway: Option<Spanned<String>>,
    mac: Option<Spanned<String>>,
    mtu: Option<Spanned<i64>>,
    #[serde(default)]
    neighbours: std::collections::BTreeMap<String, Spanned<String>>,
}

/// "10.0.0.1/24" or "fd00::1/64".
fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = text.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((ip, len))
}

/// "0102:80:0a0b0c0d": class, type, data in hex.
fn parse_geneve_option(text: &str) -> Option<GeneveOptionSpec> {
    let mut parts = text.split(':');
    let class = u16::from_str_radix(parts.next()?, 16).ok()?;
    let kind = u8::from_str_radix(parts.next()?, 16).ok()?;
    let hex = parts.next().unwrap_or("");
    if parts.next().is_some() || hex.len() & 7 != 0 || hex.len() > 248 {
        return None;
    }
    let data = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(GeneveOptionSpec { class, kind, data })
}

impl Validator<'_> {
    pub(super) fn uplink(
        &mut self,
        raw: RawUplink,
        field: &str,
    ) -> Result<UplinkConfig, ConfigError> {
        let as_port = RawPort {
            name: raw.name.clone(),
            kind: raw.kind.clone(),
            vlan: None,
            trunks: None,
            native_vlan: None,
            mac_limit: None,
            options: raw.options,
            security: None,
            labels: None,
            namespace: None,
        };
        if matches!(raw.kind.get_ref().as_str(), "vxlan" | "geneve") {
            return self.err(
                raw.kind.span(),
                &format!("{field}.type"),
                "an uplink is a device port (afxdp, tap, pcap or null); tunnels are bridge ports that name it",
            );
        }
        let port = self.port(as_port, field, 1)?;
        let mut addresses = Vec::new();
        for (i, text) in raw.addresses.get_ref().iter().enumerate() {
            let Some(cidr) = parse_cidr(text.get_ref()) else {
                return self.err(
                    text.span(),
                    &format!("{field}.addresses[{i}]"),
                    format!(
                        "{:?} is not an address with a prefix length, like 10.200.0.1/24 or fd00::1/64",
                        text.get_ref()
                    ),
                );
            };
            addresses.push(cidr);
        }
        if addresses.is_empty() {
            return self.err(
                raw.addresses.span(),
                &format!("{field}.addresses"),
                "list the uplink's VTEP address, like [\"10.200.0.1/24\"]",
            );
        }
        let gateway = match &raw.gateway {
            None => None,
            Some(g) => match g.get_ref().parse::<IpAddr>() {
                Ok(ip)
                    if addresses
                        .iter()
                        .any(|(a, len)| vswitch_pipeline::overlay::same_subnet(*a, ip, *len)) =>
                {
                    Some(ip)
                }
                Ok(_) => {
                    return self.err(
                        g.span(),
                        &format!("{field}.gateway"),
                        "the gateway must be inside one of the uplink's subnets",
                    )
                }
                Err(_) => {
                    return self.err(
                        g.span(),
                        &format!("{field}.gateway"),
                        format!("{:?} is not an IP address", g.get_ref()),
                    )
                }
            },
        };
        let mac = match &raw.mac {
            None => None,
            Some(m) => match parse_mac(m.get_ref()) {
                Some(mac) if !vswitch_pipeline::flow::is_multicast(&mac) && mac != [0; 6] => {
                    Some(mac)
                }
                _ => {
                    return self.err(
                        m.span(),
                        &format!("{field}.mac"),
                        format!("{:?} is not a unicast MAC address", m.get_ref()),
                    )
                }
            },
        };
        let mtu = self.ranged_or(&raw.mtu, &format!("{field}.mtu"), 576..9217, "MTU", 1500)? as u16;
        let mut neighbours = Vec::new();
        for (ip, mac_text) in &raw.neighbours {
            let at = format!("{field}.neighbours.{ip}");
            let Ok(addr) = ip.parse::<IpAddr>() else {
                return self.err(mac_text.span(), &at, format!("{ip:?} is not an IP address"));
            };
            match parse_mac(mac_text.get_ref()) {
                Some(m) if !vswitch_pipeline::flow::is_multicast(&m) => neighbours.push((addr, m)),
                _ => {
                    return self.err(
                        mac_text.span(),
                        &at,
                        format!("{:?} is not a unicast MAC address", mac_text.get_ref()),
                    )
                }
            }
        }
        Ok(UplinkConfig {
            port,
            addresses,
            gateway,
            mac,
            mtu,
            neighbours,
        })
    }

    /// The options of a `vxlan` or `geneve` port; `uplinks` are those the
    /// file declares.
    pub(super) fn tunnel(
        &self,
        opts: &Options<'_, '_>,
        kind: TunnelKind,
        uplinks: &[UplinkConfig],
    ) -> Result<TunnelConfig, ConfigError> {
        let Some(uplink_name) = opts.string("uplink")? else {
            return opts.bad(
                "uplink",
                format!(
                    "a {} port names its uplink: options = {{ uplink = \"up0\", ... }}",
                    kind.name()
                ),
            );
        };
        let Some(uplink) = uplinks.iter().find(|u| u.port.name == uplink_name) else {
            return opts.bad(
                "uplink",
                format!("no [[uplink]] named {uplink_name:?}: declare it first"),
            );
        };
        let Some(vni) = opts.int("vni", 0..1 << 24)? else {
            return opts.bad("vni", "a tunnel needs its vni (0 to 16777215)".into());
        };
        let (remotes, learn_remotes) = match opts.raw.get("remote").map(|v| v.get_ref()) {
            Some(toml::Value::String(s)) if s == "learn" => (Vec::new(), true),
            Some(toml::Value::String(s)) => match s.parse::<IpAddr>() {
                Ok(ip) => (vec![ip], false),
                Err(_) => {
                    return opts.bad("remote", format!("{s:?} is not an IP address or \"learn\""))
                }
            },
            Some(toml::Value::Array(list)) => {
                let mut remotes = Vec::new();
                for v in list {
                    match v.as_str().and_then(|s| s.parse::<IpAddr>().ok()) {
                        Some(ip) if !remotes.contains(&ip) => remotes.push(ip),
                        Some(ip) => {
                            return opts.bad("remote", format!("remote {ip} is listed twice"))
                        }
                        None => return opts.bad("remote", format!("{v} is not an IP address")),
                    }
                }
                if remotes.is_empty() {
                    return opts.bad(
                        "remote",
                        "list at least one remote VTEP, or write remote = \"learn\"".into(),
                    );
                }
                (remotes, false)
            }
            Some(_) => {
                return opts.bad(
                    "remote",
                    "remote is an address, a list of them, or \"learn\"".into(),
                )
            }
            None => return opts.bad(
                "remote",
                "a tunnel needs its remote VTEPs: remote = [\"10.200.0.2\"] or remote = \"learn\""
                    .into(),
            ),
        };
        let family_v4 = remotes.first().map_or_else(
            || uplink.addresses.first().is_some_and(|(a, _)| a.is_ipv4()),
            |r| r.is_ipv4(),
        );
        let local = match opts.string("local_ip")? {
            Some(text) => match text.parse::<IpAddr>() {
                Ok(ip) if uplink.addresses.iter().any(|(a, _)| *a == ip) => ip,
                _ => {
                    return opts.bad(
                        "local_ip",
                        format!("{text:?} is not one of uplink {uplink_name:?}'s addresses"),
                    )
                }
            },
            None => match uplink
                .addresses
                .iter()
                .find(|(a, _)| a.is_ipv4() == family_v4)
            {
                Some((a, _)) => *a,
                None => {
                    return opts.bad(
                        "remote",
                        format!("uplink {uplink_name:?} has no address of the remotes' family"),
                    )
                }
            },
        };
        if let Some(r) = remotes.iter().find(|r| r.is_ipv4() != local.is_ipv4()) {
            return opts.bad(
                "remote",
                format!("remote {r} is not of the local address {local}'s family"),
            );
        }
        if remotes.contains(&local) {
            return opts.bad("remote", format!("remote {local} is the local address"));
        }
        let mut geneve_options = Vec::new();
        if let Some(value) = opts.raw.get("geneve_options") {
            if kind != TunnelKind::Geneve {
                return opts.bad(
                    "geneve_options",
                    "geneve_options is for geneve ports".into(),
                );
            }
            let list = value.get_ref().as_array().cloned().unwrap_or_default();
            for v in &list {
                match v.as_str().and_then(parse_geneve_option) {
                    Some(o) => geneve_options.push(o),
                    None => return opts.bad("geneve_options", format!("{v} is not a Geneve option written class:type:data in hex, like \"0102:80:0a0b0c0d\" (data a multiple of 4 bytes)")),
                }
            }
            let total: usize = geneve_options.iter().map(|o| 4 + o.data.len()).sum();
            if total > 252 {
                return opts.bad(
                    "geneve_options",
                    format!("the options take {total} bytes; Geneve carries at most 252"),
                );
            }
        }
        Ok(TunnelConfig {
            kind,
            uplink: uplink_name,
            vni,
            udp_port: opts
                .int("dst_port", 1..65536)?
                .map_or(kind.default_port(), |p| p as u16),
            local,
            remotes,
            learn_remotes,
            ttl: opts.int("ttl", 1..256)?.unwrap_or(64) as u8,
            tos: opts.int("tos", 0..256)?.unwrap_or(0) as u8,
            dont_fragment: opts.bool("df")?.unwrap_or(true),
            udp_checksum: opts.bool("udp_checksum")?.unwrap_or(false),
            geneve_options,
        })
    }

    /// Two tunnels that would receive the same frames.
    pub(super) fn check_tunnels_distinct(
        &self,
        bridges: &[super::BridgeConfig],
    ) -> Result<(), ConfigError> {
        let tunnels: Vec<(&str, &TunnelConfig)> = bridges
            .iter()
            .flat_map(|b| b.ports.iter())
            .filter_map(|p| match &p.kind {
                PortKind::Tunnel(t) => Some((p.name.as_str(), t)),
                _ => None,
            })
            .collect();
        for (k, (name, t)) in tunnels.iter().enumerate() {
            for (other, o) in &tunnels[..k] {
                let same_socket =
                    t.uplink == o.uplink && t.local == o.local && t.udp_port == o.udp_port;
                let clash = if !same_socket {
                    None
                } else if t.kind != o.kind {
                    Some(format!("tunnels {other:?} ({}) and {name:?} ({}) share UDP port {} on {}: one protocol per port", o.kind.name(), t.kind.name(), t.udp_port, t.local))
                } else if t.vni == o.vni {
                    Some(format!(
                        "tunnels {other:?} and {name:?} both take VNI {} on {}:{}",
                        t.vni, t.local, t.udp_port
                    ))
                } else {
                    None
                };
                if let Some(message) = clash {
                    return Err(self.at.error(None, &format!("port {name}"), message));
                }
            }
        }
        Ok(())
    }
}

/// The MAC of Linux interface `name`, from sysfs.
pub fn interface_mac(name: &str) -> Option<Mac> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).ok()?;
    parse_mac(text.trim())
}

/// A locally administered unicast MAC derived from `name`, for uplinks
/// without a device MAC (pcap, null).
pub fn derived_mac(name: &str) -> Mac {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let b = h.to_be_bytes();
    [0x02, b[1], b[2], b[3], b[4], b[5]]
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    const BASE: &str = r#"
[[uplink]]
name = "up0"
type = "null"
addresses = ["10.200.0.1/24", "fd00:200::1/64"]
mac = "02:00:00:00:00:01"

[[bridge]]
name = "blue"
[[bridge.port]]
name = "c1"
type = "null"
[[bridge.port]]
name = "vx42"
"#;

    fn parse(tunnel: &str) -> Result<Config, String> {
        Config::parse(&format!("{BASE}{tunnel}\n"), "t.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn a_tunnel_port_and_its_uplink() {
        let c = parse(
            r#"type = "vxlan"
options = { uplink = "up0", vni = 42, remote = ["10.200.0.2", "10.200.0.3"], dst_port = 8472 }"#,
        )
        .unwrap();
        let PortKind::Tunnel(t) = &c.bridges[0].ports[1].kind else {
            panic!("not a tunnel")
        };
        assert_eq!(
            (t.vni, t.udp_port, t.ttl, t.dont_fragment),
            (42, 8472, 64, true)
        );
        assert_eq!(t.local, "10.200.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(t.remotes.len(), 2);
        let spec = c.datapath_spec();
        assert_eq!(spec.uplinks[0].mac, [2, 0, 0, 0, 0, 1]);
        assert_eq!(spec.port_ids().collect::<Vec<_>>(), vec![0, 1, 2]);
        let tunnel = spec.ports[1].tunnel.as_ref().unwrap();
        assert_eq!(tunnel.uplink, spec.uplinks[0].id);
        vswitch_pipeline::Datapath::new(&spec, 1).unwrap();

        let c = parse(
            r#"type = "vxlan"
options = { uplink = "up0", vni = 42, remote = ["10.200.0.2"] }
[[bridge.static_mac]]
mac = "02:00:00:00:00:33"
port = "vx42"
vtep = "10.200.0.3""#,
        )
        .unwrap();
        let spec = c.datapath_spec();
        let tunnel = spec.ports[1].tunnel.as_ref().unwrap();
        let third: IpAddr = "10.200.0.3".parse().unwrap();
        assert_eq!(tunnel.static_macs, vec![([2, 0, 0, 0, 0, 0x33], third)]);
        assert!(tunnel.remotes.contains(&third), "its VTEP is a remote");
        vswitch_pipeline::Datapath::new(&spec, 1).unwrap();
        let e = parse(
            r#"type = "vxlan"
options = { uplink = "up0", vni = 42, remote = ["10.200.0.2"] }
[[bridge.static_mac]]
mac = "02:00:00:00:00:33"
port = "c1"
vtep = "10.200.0.3""#,
        )
        .unwrap_err();
        assert!(e.contains("behind a tunnel port"), "{e}");

        let c = parse(r#"type = "geneve"
options = { uplink = "up0", vni = 7, remote = "fd00:200::2", geneve_options = ["0102:80:0a0b0c0d"] }"#)
        .unwrap();
        let PortKind::Tunnel(t) = &c.bridges[0].ports[1].kind else {
            panic!("not a tunnel")
        };
        assert_eq!(t.udp_port, 6081);
        assert_eq!(
            t.local,
            "fd00:200::1".parse::<IpAddr>().unwrap(),
            "the remote's family"
        );
        assert_eq!(t.geneve_options[0].data, vec![0x0a, 0x0b, 0x0c, 0x0d]);
        vswitch_pipeline::Datapath::new(&c.datapath_spec(), 1).unwrap();
    }

    #[test]
    fn an_uplink_keeps_its_id_when_a_tunnel_port_is_added() {
        // BASE without its second port: c1 is 0, the uplink 1.
        let without = BASE.replace("[[bridge.port]]\nname = \"vx42\"\n", "");
        let first = Config::parse(&without, "t.toml").unwrap().datapath_spec();
        assert_eq!((first.ports.len(), first.uplinks[0].id), (1, 1));
        let after = parse(
            r#"type = "vxlan"
options = { uplink = "up0", vni = 42, remote = "learn" }"#,
        )
        .unwrap();
        let spec = after.datapath_spec_after(&first);
        assert_eq!(spec.uplinks[0].id, first.uplinks[0].id);
        assert_ne!(
            spec.ports[1].id, first.uplinks[0].id,
            "the new port takes a free id"
        );
    }

    #[test]
    fn tunnel_mistakes_are_named() {
        let cases = [
            (
                r#"type = "vxlan"
options = { vni = 42, remote = "learn" }"#,
                "names its uplink",
            ),
            (
                r#"type = "vxlan"
options = { uplink = "up1", vni = 42, remote = "learn" }"#,
                "no [[uplink]] named \"up1\"",
            ),
            (
                r#"type = "vxlan"
options = { uplink = "up0", vni = 16777216, remote = "learn" }"#,
                "vni",
            ),
            (
                r#"type = "vxlan"
options = { uplink = "up0", vni = 1, remote = ["10.200.0.2", "fd00:200::2"] }"#,
                "family",
            ),
            (
                r#"type = "vxlan"
options = { uplink = "up0", vni = 1, remote = "10.200.0.1" }"#,
                "is the local address",
            ),
            (
                r#"type = "vxlan"
options = { uplink = "up0", vni = 1, remote = "learn", geneve_options = [] }"#,
                "for geneve ports",
            ),
            (
                r#"type = "geneve"
options = { uplink = "up0", vni = 1, remote = "learn", geneve_options = ["0102:80:0a0b"] }"#,
                "multiple of 4",
            ),
            (
                r#"type = "vxlan"
options = { uplink = "up0", vni = 1, remote = "learn", local_ip = "10.9.9.9" }"#,
                "not one of uplink",
            ),
            (
                r#"type = "vxlan"
options = { uplink = "up0", vni = 1, remote = "learn" }
[[bridge.port]]
name = "vx-again"
type = "vxlan"
options = { uplink = "up0", vni = 1, remote = "learn" }"#,
                "both take VNI 1",
            ),
        ];
        for (tunnel, want) in cases {
            let e = parse(tunnel).unwrap_err();
            assert!(e.contains(want), "{want:?} not in {e}");
        }
        let e = Config::parse(
            "[[uplink]]\nname = \"u\"\ntype = \"null\"\naddresses = [\"10.0.0.1\"]\n",
            "t.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("uplink[0].addresses[0]"), "{e}");
    }
}
