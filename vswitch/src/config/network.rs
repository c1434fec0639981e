//! Container networks (`[[network]]`): an IPv4 subnet on a bridge VLAN
//! with a gateway address the switch owns and routes from.
//!
//! ```toml
//! [[network]]
//! name = "front"
//! bridge = "br0"              # the L2 domain it lives on
//! vlan = 0                    # optional: the bridge VLAN, default 0 (untagged)
//! subnet = "10.1.0.0/24"
//! gateway = "10.1.0.1"        # the switch's address in it
//! subnet6 = "fd00:1::/64"     # optional: an IPv6 subnet too, routed the same way
//! gateway6 = "fd00:1::1"      # the switch's IPv6 address in it (with subnet6)
//! gateway_mac = "02:00:00:00:01:01"  # optional: default derived from the name
//! routes_to = ["back"]        # networks it may route to: routed when both list each other
//! uplink = "up0"              # optional: other destinations leave by this
//!                             # [[uplink]], via its gateway; answers come back in on it
//! masquerade = true           # with an uplink: sources leaving by it are translated to
//!                             # the uplink's IPv4 address (default true when there is an uplink)
//! nat_ports = "32768-60999"   # the source ports masquerade allocates (default)
//! icc = false                 # optional: no traffic between its containers (default true)
//! publish = [{ proto = "tcp", host_port = 8080, container = "10.1.0.2", container_port = 80 }]
//!                             # ports of the uplink's address published to containers
//!                             # (see config/publish.rs)
//! ```
//!
//! The switch answers ARP (IPv6: neighbour solicitations) for the gateway,
//! answers pings to it, routes between networks that list each other and
//! to the uplink (IPv6 there when the uplink has an IPv6 address), and
//! sends ICMP (ICMPv6) time exceeded and destination unreachable as a
//! router does.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Deserialize;
use toml::Spanned;
use vswitch_pipeline::l3::prefix_mask;
use vswitch_pipeline::Mac;

use vswitch_pipeline::l3::NetworkSpec;

use super::{parse_mac, BridgeConfig, Config, ConfigError, Validator};

/// A validated network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Its name.
    pub name: String,
    /// Its bridge's name.
    pub bridge: String,
    /// The bridge VLAN (0: untagged).
    pub vlan: u16,
    /// The subnet (host bits zero) and its prefix length.
    pub subnet: (Ipv4Addr, u8),
    /// The gateway's address.
    pub gateway: Ipv4Addr,
    /// The IPv6 subnet (host bits zero) and its prefix length, if any.
    pub subnet6: Option<(Ipv6Addr, u8)>,
    /// The gateway's IPv6 address (set with `subnet6`).
    pub gateway6: Option<Ipv6Addr>,
    /// The gateway's MAC.
    pub gateway_mac: Mac,
    /// The networks it may route to, by name.
    pub routes_to: Vec<String>,
    /// The uplink other destinations leave by, by name.
    pub uplink: Option<String>,
    /// Sources leaving by the uplink are translated to its address.
    pub masquerade: bool,
    /// The ports masquerade allocates, first and last.
    pub nat_ports: (u16, u16),
    /// Its published ports.
    pub publish: Vec<vswitch_pipeline::l3::Publish>,
    /// Its containers may reach each other.
    pub icc: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNetwork {
    name: Spanned<String>,
    bridge: Spanned<String>,
    vlan: Option<Spanned<i64>>,
    subnet: Spanned<String>,
    gateway: Spanned<String>,
    subnet6: Option<Spanned<String>>,
    gateway6: Option<Spanned<String>>,
    gateway_mac: Option<Spanned<String>>,
    #[serde(default)]
    routes_to: Vec<Spanned<String>>,
    uplink: Option<Spanned<String>>,
    masquerade: Option<Spanned<bool>>,
    nat_ports: Option<Spanned<String>>,
    #[serde(default)]
    publish: Vec<super::publish::RawPublish>,
    icc: Option<bool>,
}

/// The MAC a network's gateway has unless configured: locally
/// administered, from the network's name.
pub fn gateway_mac_of(name: &str) -> Mac {
    super::derived_mac(&format!("network/{name}"))
}

impl Config {
    /// The datapath's networks: bridges, networks and uplinks by their
    /// index in this configuration.
    pub(super) fn network_specs(&self) -> Vec<NetworkSpec> {
        self.networks
            .iter()
            .map(|network| NetworkSpec {
                name: network.name.clone(),
                bridge: self
                    .bridges
                    .iter()
                    .position(|b| b.name == network.bridge)
                    .unwrap_or_default(),
                vlan: network.vlan,
                subnet: network.subnet,
                gateway: network.gateway,
                subnet6: network.subnet6,
                gateway6: network.gateway6,
                gateway_mac: network.gateway_mac,
                routes_to: network
                    .routes_to
                    .iter()
                    .filter_map(|to| self.networks.iter().position(|n| &n.name == to))
                    .collect(),
                uplink: network
                    .uplink
                    .as_ref()
                    .and_then(|u| self.uplinks.iter().position(|up| &up.port.name == u)),
                masquerade: network.masquerade,
                nat_ports: network.nat_ports,
                publish: network.publish.clone(),
                icc: network.icc,
            })
            .collect()
    }
}

/// "32768-60999" (or one port, "40000"): first and last, both nonzero.
pub(super) fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let (first, last) = text.split_once('-').unwrap_or((text, text));
    let (first, last): (u16, u16) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
    (first >= 1 && first <= last).then_some((first, last))
}

/// "10.1.0.0/24".
fn parse_subnet(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = text.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some((ip, len))
}

/// "fd00:1::/64".
fn parse_subnet6(text: &str) -> Option<(Ipv6Addr, u8)> {
    let (ip, len) = text.split_once('/')?;
    let ip: Ipv6Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    (len <= 128).then_some((ip, len))
}

fn mask6(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

impl Validator<'_> {
    /// The networks, checked against the bridges and uplinks and against
    /// each other.
    pub(super) fn networks(
        &self,
        raw: Vec<RawNetwork>,
        bridges: &[BridgeConfig],
    ) -> Result<Vec<NetworkConfig>, ConfigError> {
        let mut networks: Vec<NetworkConfig> = Vec::new();
        let mut spans = Vec::new();
        for (n, raw) in raw.into_iter().enumerate() {
            let field = format!("network[{n}]");
            let network = self.network(&raw, &field, bridges, &networks)?;
            networks.push(network);
            spans.push(raw);
        }
        // A one-sided entry is accepted (so that two networks can be made
        // to list each other one change at a time) and routes nothing:
        // the datapath routes between networks that list each other.
        for (n, (network, raw)) in networks.iter().zip(&spans).enumerate() {
            for (r, to) in raw.routes_to.iter().enumerate() {
                let field = format!("network[{n}].routes_to[{r}]");
                let Some(other) = networks.iter().find(|o| &o.name == to.get_ref()) else {
                    let known: Vec<&str> = networks.iter().map(|o| o.name.as_str()).collect();
                    return self.err(
                        to.span(),
                        &field,
                        format!(
                            "no network {:?}: name one of {known:?}, or add a [[network]] with that name",
                            to.get_ref()
                        ),
                    );
                };
                if other.name == network.name {
                    return self.err(
                        to.span(),
                        &field,
                        "a network routes within itself anyway: remove it from its own routes_to",
                    );
                }
            }
        }
        Ok(networks)
    }

    fn network(
        &self,
        raw: &RawNetwork,
        field: &str,
        bridges: &[BridgeConfig],
        before: &[NetworkConfig],
    ) -> Result<NetworkConfig, ConfigError> {
        self.name(&raw.name, &format!("{field}.name"), "network")?;
        let name = raw.name.get_ref().clone();
        if let Some(first) = before.iter().position(|o| o.name == name) {
            return self.err(
                raw.name.span(),
                &format!("{field}.name"),
                format!("duplicate network {name:?}: network[{first}] already has this name"),
            );
        }
        let bridge = raw.bridge.get_ref();
        if !bridges.iter().any(|b| &b.name == bridge) {
            return self.err(
                raw.bridge.span(),
                &format!("{field}.bridge"),
                format!("no bridge {bridge:?}: name one of the [[bridge]] tables, or add one"),
            );
        }
        let vlan = match &raw.vlan {
            Some(v) => self.ranged(v, &format!("{field}.vlan"), 0..4095, "VLAN")? as u16,
            None => 0,
        };
        if let Some(other) = before
            .iter()
            .find(|o| &o.bridge == bridge && o.vlan == vlan)
        {
            return self.err(
                raw.bridge.span(),
                &format!("{field}.vlan"),
                format!(
                    "network {:?} is on VLAN {vlan} of bridge {bridge:?} already: a bridge VLAN holds one network (give this one another vlan)",
                    other.name
                ),
            );
        }
        let Some((address, len)) = parse_subnet(raw.subnet.get_ref()) else {
            return self.err(
                raw.subnet.span(),
                &format!("{field}.subnet"),
                format!(
                    "{:?} is not an IPv4 subnet with a prefix length, like 10.1.0.0/24",
                    raw.subnet.get_ref()
                ),
            );
        };
        let mask = prefix_mask(len);
        let net = Ipv4Addr::from(u32::from(address) & mask);
        if net != address {
            return self.err(
                raw.subnet.span(),
                &format!("{field}.subnet"),
                format!("{address}/{len} has host bits set: write {net}/{len}"),
            );
        }
        if len > 30 {
            return self.err(
                raw.subnet.span(),
                &format!("{field}.subnet"),
                format!("a /{len} holds no host beside the gateway: use /30 or shorter"),
            );
        }
        if let Some(other) = before.iter().find(|o| {
            let common = prefix_mask(len.min(o.subnet.1));
            u32::from(o.subnet.0) & common == u32::from(net) & common
        }) {
            return self.err(
                raw.subnet.span(),
                &format!("{field}.subnet"),
                format!(
                    "{net}/{len} overlaps network {:?}'s {}/{}: networks need subnets of their own",
                    other.name, other.subnet.0, other.subnet.1
                ),
            );
        }
        let gateway = match raw.gateway.get_ref().parse::<Ipv4Addr>() {
            Ok(g) => g,
            Err(_) => {
                return self.err(
                    raw.gateway.span(),
                    &format!("{field}.gateway"),
                    format!("{:?} is not an IPv4 address", raw.gateway.get_ref()),
                )
            }
        };
        let host = u32::from(gateway) & !mask;
        if u32::from(gateway) & mask != u32::from(net) || host == 0 || host == !mask {
            return self.err(
                raw.gateway.span(),
                &format!("{field}.gateway"),
                format!(
                    "the gateway {gateway} must be a host address inside {net}/{len} (not its first or last address)"
                ),
            );
        }
        let (subnet6, gateway6) = self.ipv6(raw, field, before)?;
        let gateway_mac = match &raw.gateway_mac {
            None => gateway_mac_of(&name),
            Some(m) => match parse_mac(m.get_ref()) {
                Some(mac) if !vswitch_pipeline::flow::is_multicast(&mac) && mac != [0; 6] => mac,
                _ => {
                    return self.err(
                        m.span(),
                        &format!("{field}.gateway_mac"),
                        format!("{:?} is not a unicast MAC address", m.get_ref()),
                    )
                }
            },
        };
        let uplink = match &raw.uplink {
            None => None,
            Some(u) => {
                let Some(uplink) = self.uplinks.iter().find(|up| &up.port.name == u.get_ref())
                else {
                    return self.err(
                        u.span(),
                        &format!("{field}.uplink"),
                        format!(
                            "no uplink {:?}: name one of the [[uplink]] tables, or add one",
                            u.get_ref()
                        ),
                    );
                };
                if !uplink.addresses.iter().any(|(a, _)| a.is_ipv4()) {
                    return self.err(
                        u.span(),
                        &format!("{field}.uplink"),
                        format!("uplink {:?} has no IPv4 address to route from: add one to its addresses", u.get_ref()),
                    );
                }
                Some(u.get_ref().clone())
            }
        };
        let masquerade =
            match &raw.masquerade {
                Some(m) if *m.get_ref() && uplink.is_none() => return self.err(
                    m.span(),
                    &format!("{field}.masquerade"),
                    "masquerade translates what leaves by the uplink: name an uplink, or remove it",
                ),
                Some(m) => *m.get_ref(),
                None => uplink.is_some(),
            };
        let nat_ports = match &raw.nat_ports {
            None => vswitch_pipeline::l3::DEFAULT_NAT_PORTS,
            Some(p) => match parse_port_range(p.get_ref()) {
                Some(range) => range,
                None => {
                    return self.err(
                        p.span(),
                        &format!("{field}.nat_ports"),
                        format!(
                            "{:?} is not a port range: write \"FIRST-LAST\" with 1 <= FIRST <= LAST <= 65535, e.g. \"32768-60999\"",
                            p.get_ref()
                        ),
                    )
                }
            },
        };
        let publish = self.publish(&raw.publish, field, (net, len), uplink.as_deref(), before)?;
        Ok(NetworkConfig {
            icc: raw.icc.unwrap_or(true),
            publish,
            masquerade,
            nat_ports,
            name,
            bridge: bridge.clone(),
            vlan,
            subnet: (net, len),
            gateway,
            subnet6,
            gateway6,
            gateway_mac,
            routes_to: raw.routes_to.iter().map(|r| r.get_ref().clone()).collect(),
            uplink,
        })
    }

    /// `subnet6` and `gateway6`: both or neither.
    #[allow(clippy::type_complexity)]
    fn ipv6(
        &self,
        raw: &RawNetwork,
        field: &str,
        before: &[NetworkConfig],
    ) -> Result<(Option<(Ipv6Addr, u8)>, Option<Ipv6Addr>), ConfigError> {
        let (subnet_text, gateway_text) = match (&raw.subnet6, &raw.gateway6) {
            (None, None) => return Ok((None, None)),
            (Some(s), Some(g)) => (s, g),
            (Some(s), None) => {
                return self.err(
                    s.span(),
                    &format!("{field}.gateway6"),
                    "an IPv6 subnet needs the switch's address in it: add gateway6",
                )
            }
            (None, Some(g)) => {
                return self.err(
                    g.span(),
                    &format!("{field}.subnet6"),
                    "gateway6 needs the IPv6 subnet it is in: add subnet6",
                )
            }
        };
        let Some((address, len)) = parse_subnet6(subnet_text.get_ref()) else {
            return self.err(
                subnet_text.span(),
                &format!("{field}.subnet6"),
                format!(
                    "{:?} is not an IPv6 subnet with a prefix length, like fd00:1::/64",
                    subnet_text.get_ref()
                ),
            );
        };
        let mask = mask6(len);
        let net = Ipv6Addr::from(u128::from(address) & mask);
        if net != address {
            return self.err(
                subnet_text.span(),
                &format!("{field}.subnet6"),
                format!("{address}/{len} has host bits set: write {net}/{len}"),
            );
        }
        if len > 126 {
            return self.err(
                subnet_text.span(),
                &format!("{field}.subnet6"),
                format!("a /{len} holds no host beside the gateway: use /126 or shorter"),
            );
        }
        if let Some(other) = before.iter().find(|o| {
            o.subnet6.is_some_and(|(o_net, o_len)| {
                let common = mask6(len.min(o_len));
                u128::from(o_net) & common == u128::from(net) & common
            })
        }) {
            return self.err(
                subnet_text.span(),
                &format!("{field}.subnet6"),
                format!(
                    "{net}/{len} overlaps network {:?}'s IPv6 subnet: networks need subnets of their own",
                    other.name
                ),
            );
        }
        let inside = gateway_text.get_ref().parse::<Ipv6Addr>().ok().filter(|g| {
            let host = u128::from(*g) & !mask;
            u128::from(*g) & mask == u128::from(net) && host != 0
        });
        let Some(gateway6) = inside else {
            return self.err(
                gateway_text.span(),
                &format!("{field}.gateway6"),
                format!(
                    "{:?} must be an IPv6 host address inside {net}/{len}",
                    gateway_text.get_ref()
                ),
            );
        };
        Ok((Some((net, len)), Some(gateway6)))
    }
}

#[cfg(test)]
#[path = "network_tests.rs"]
mod tests;
