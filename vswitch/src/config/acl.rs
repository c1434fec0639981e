//! ACLs (`[[acl]]`) on a port or on every port of a network: ordered rules
//! per direction and a default per direction, stateful (replies of an
//! allowed connection always pass). See [`vswitch_pipeline::acl`].
//!
//! ```toml
//! [[bridge.port]]
//! name = "web1"
//! type = "afxdp"
//! labels = { app = "web" }        # what label selectors match
//!
//! [[acl]]
//! port = "web1"                   # or network = "front": each of its ports
//! default_ingress = "deny"        # allow (default) or deny
//! default_egress = "allow"
//!
//! [[acl.rules]]                   # in order
//! name = "http"
//! direction = "ingress"           # or egress
//! action = "allow"                # allow, deny or log
//! proto = "tcp"                   # tcp, udp, sctp, icmp, icmpv6
//! ports = "80-81"                 # or 80
//! peers = [{ cidr = "10.1.0.0/24", except = ["10.1.0.9/32"] }, { labels = { app = "lb" } }]
//!
//! [[acl.rules]]
//! name = "audit"
//! direction = "egress"
//! action = "log"
//! ```
//!
//! `ingress` rules decide what may be sent to the port's endpoint (the
//! peer is the source), `egress` rules what it may send (the peer is the
//! destination). A rule without `peers` matches every peer, one without
//! `proto` or `ports` every protocol or port. The first `allow` or `deny`
//! that matches decides; `log` writes one line a second at most and goes
//! on. ACLs apply to IP traffic bridged between the ports of a bridge.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;
use toml::Spanned;
use vswitch_pipeline::acl::{Direction, IpBlock, Peer, PortAclSpec, Prefix, RuleAction, RuleSpec};
use vswitch_pipeline::mac_table::PortId;
use vswitch_pipeline::wire::ip_proto;

use super::{BridgeConfig, ConfigError, NetworkConfig, PortKind, Validator};

/// Labels of an endpoint, or a selector's (every pair must match).
pub type Labels = BTreeMap<String, String>;

/// A validated ACL of one port (a network's ACL is copied to each port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclConfig {
    /// The port's name.
    pub port: String,
    /// The rules, in order.
    pub rules: Vec<RuleConfig>,
    /// Connections to the endpoint no rule decides are allowed.
    pub default_ingress_allow: bool,
    /// Connections from the endpoint no rule decides are allowed.
    pub default_egress_allow: bool,
}

/// A validated rule: a [`RuleSpec`] whose port peers are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleConfig {
    /// The rule, without its port peers.
    pub spec: RuleSpec,
    /// The ports its label selectors matched (peers besides `spec.peers`).
    pub peer_ports: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAcl {
    port: Option<Spanned<String>>,
    network: Option<Spanned<String>>,
    default_ingress: Option<Spanned<String>>,
    default_egress: Option<Spanned<String>>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<Spanned<String>>,
    direction: Spanned<String>,
    action: Spanned<String>,
    proto: Option<Spanned<String>>,
    ports: Option<Spanned<toml::Value>>,
    #[serde(default)]
    peers: Vec<RawPeer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPeer {
    cidr: Option<Spanned<String>>,
    #[serde(default)]
    except: Vec<Spanned<String>>,
    labels: Option<Labels>,
}

/// A policy's `ip_block`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPeerBlock {
    pub(super) cidr: Spanned<String>,
    #[serde(default)]
    pub(super) except: Vec<Spanned<String>>,
}

/// "10.1.0.0/24" or "fd00::/64", host bits zero.
pub(super) fn parse_prefix(text: &str) -> Option<Prefix> {
    let (addr, len) = text.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    let width = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)) << 96,
        IpAddr::V6(a) => u128::from(a),
    };
    let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
    (len <= width && bits & host == 0).then_some(Prefix { addr, len })
}

/// "tcp", "udp", "sctp", "icmp", "icmpv6" (any case, as Kubernetes
/// writes them in capitals).
pub(super) fn parse_proto(text: &str) -> Option<u8> {
    Some(match text.to_ascii_lowercase().as_str() {
        "tcp" => ip_proto::TCP,
        "udp" => ip_proto::UDP,
        "sctp" => 132,
        "icmp" => 1,
        "icmpv6" => ip_proto::ICMPV6,
        _ => return None,
    })
}

/// The port names whose labels match `selector` (all of them when it is
/// empty), among the ports that `eligible` accepts.
pub(super) fn select<'a>(
    bridges: &'a [BridgeConfig],
    selector: &Labels,
    eligible: impl Fn(&super::PortConfig) -> bool + 'a,
) -> Vec<String> {
    bridges
        .iter()
        .flat_map(|b| b.ports.iter())
        .filter(|p| eligible(p) && selector.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
        .map(|p| p.name.clone())
        .collect()
}

/// True for a port that holds an endpoint (not a tunnel).
pub(super) fn is_endpoint(port: &super::PortConfig) -> bool {
    !matches!(port.kind, PortKind::Tunnel(_))
}

impl Validator<'_> {
    /// Label keys and values: 1 to 63 characters of letters, digits and
    /// `-_./`.
    pub(super) fn labels(
        &self,
        labels: &Labels,
        span: std::ops::Range<usize>,
        field: &str,
    ) -> Result<(), ConfigError> {
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        };
        match labels.iter().find(|(k, v)| !ok(k) || !ok(v)) {
            Some((k, v)) => self.err(
                span,
                field,
                format!("label {k:?} = {v:?}: keys and values are 1 to 63 letters, digits or -_./"),
            ),
            None => Ok(()),
        }
    }

    /// The ACLs, one per port at most (a port's own ACL replaces its
    /// network's).
    pub(super) fn acls(
        &self,
        raw: Vec<RawAcl>,
        bridges: &[BridgeConfig],
        networks: &[NetworkConfig],
    ) -> Result<Vec<AclConfig>, ConfigError> {
        let mut by_port: Vec<(AclConfig, bool)> = Vec::new();
        for (a, raw) in raw.iter().enumerate() {
            let field = format!("acl[{a}]");
            let (ports, own, span) = self.acl_ports(raw, &field, bridges, networks)?;
            let acl = self.acl(raw, &field, bridges)?;
            for port in ports {
                match by_port.iter_mut().find(|(o, _)| o.port == port) {
                    Some((_, true)) if own => {
                        return self.err(
                            span,
                            &format!("{field}.port"),
                            format!("port {port:?} has an [[acl]] already: put its rules in one"),
                        )
                    }
                    Some((_, true)) => {}
                    Some(slot) => {
                        *slot = (
                            AclConfig {
                                port,
                                ..acl.clone()
                            },
                            own,
                        );
                    }
                    None => by_port.push((
                        AclConfig {
                            port,
                            ..acl.clone()
                        },
                        own,
                    )),
                }
            }
        }
        Ok(by_port.into_iter().map(|(acl, _)| acl).collect())
    }

    /// The ports an ACL is for, whether it names the port itself, and the
    /// span naming them.
    fn acl_ports(
        &self,
        raw: &RawAcl,
        field: &str,
        bridges: &[BridgeConfig],
        networks: &[NetworkConfig],
    ) -> Result<(Vec<String>, bool, std::ops::Range<usize>), ConfigError> {
        match (&raw.port, &raw.network) {
            (Some(port), None) => {
                let found = bridges
                    .iter()
                    .flat_map(|b| b.ports.iter())
                    .find(|p| &p.name == port.get_ref());
                match found {
                    Some(p) if is_endpoint(p) => Ok((vec![p.name.clone()], true, port.span())),
                    Some(_) => self.err(
                        port.span(),
                        &format!("{field}.port"),
                        format!(
                            "port {:?} is a tunnel: ACLs are for the ports of endpoints",
                            port.get_ref()
                        ),
                    ),
                    None => self.err(
                        port.span(),
                        &format!("{field}.port"),
                        format!(
                            "no port {:?} in any bridge: name a [[bridge.port]]",
                            port.get_ref()
                        ),
                    ),
                }
            }
            (None, Some(network)) => {
                let Some(n) = networks.iter().find(|n| &n.name == network.get_ref()) else {
                    return self.err(
                        network.span(),
                        &format!("{field}.network"),
                        format!("no network {:?}: name a [[network]]", network.get_ref()),
                    );
                };
                let ports = bridges
                    .iter()
                    .filter(|b| b.name == n.bridge)
                    .flat_map(|b| b.ports.iter())
                    .filter(|p| is_endpoint(p) && p.vlan_mode.carries(n.vlan))
                    .map(|p| p.name.clone())
                    .collect();
                Ok((ports, false, network.span()))
            }
            (Some(port), Some(_)) => self.err(
                port.span(),
                &format!("{field}.port"),
                "an [[acl]] names a port or a network, not both",
            ),
            (None, None) => Err(self.at.error(
                None,
                field,
                "an [[acl]] needs port = \"...\" or network = \"...\"".into(),
            )),
        }
    }

    fn acl(
        &self,
        raw: &RawAcl,
        field: &str,
        bridges: &[BridgeConfig],
    ) -> Result<AclConfig, ConfigError> {
        let default = |value: &Option<Spanned<String>>, at: &str| match value {
            None => Ok(true),
            Some(v) => match v.get_ref().as_str() {
                "allow" => Ok(true),
                "deny" => Ok(false),
                other => self.err(
                    v.span(),
                    &format!("{field}.{at}"),
                    format!("{other:?} is not a default: use allow or deny"),
                ),
            },
        };
        let mut rules = Vec::new();
        for (r, rule) in raw.rules.iter().enumerate() {
            rules.push(self.rule(rule, &format!("{field}.rules[{r}]"), r, bridges)?);
        }
        Ok(AclConfig {
            port: String::new(),
            rules,
            default_ingress_allow: default(&raw.default_ingress, "default_ingress")?,
            default_egress_allow: default(&raw.default_egress, "default_egress")?,
        })
    }

    fn rule(
        &self,
        raw: &RawRule,
        field: &str,
        index: usize,
        bridges: &[BridgeConfig],
    ) -> Result<RuleConfig, ConfigError> {
        let name = match &raw.name {
            Some(n) => {
                self.name(n, &format!("{field}.name"), "rule")?;
                n.get_ref().clone()
            }
            None => format!("rule{index}"),
        };
        let direction = match raw.direction.get_ref().as_str() {
            "ingress" => Direction::Ingress,
            "egress" => Direction::Egress,
            other => return self.err(raw.direction.span(), &format!("{field}.direction"), format!("{other:?} is not a direction: use ingress (to the port's endpoint) or egress (from it)")),
        };
        let action = match raw.action.get_ref().as_str() {
            "allow" => RuleAction::Allow,
            "deny" => RuleAction::Deny,
            "log" => RuleAction::Log,
            other => {
                return self.err(
                    raw.action.span(),
                    &format!("{field}.action"),
                    format!("{other:?} is not an action: use allow, deny or log"),
                )
            }
        };
        let proto = match &raw.proto {
            Some(p) => Some(parse_proto(p.get_ref()).map_or_else(
                || {
                    self.err(
                        p.span(),
                        &format!("{field}.proto"),
                        format!(
                            "{:?} is not a protocol: use tcp, udp, sctp, icmp or icmpv6",
                            p.get_ref()
                        ),
                    )
                },
                Ok,
            )?),
            None => None,
        };
        let ports = match &raw.ports {
            Some(p) => {
                let range = match p.get_ref() {
                    toml::Value::Integer(n) => {
                        u16::try_from(*n).ok().filter(|n| *n > 0).map(|n| (n, n))
                    }
                    toml::Value::String(s) => super::network::parse_port_range(s),
                    _ => None,
                };
                let Some(range) = range else {
                    return self.err(
                        p.span(),
                        &format!("{field}.ports"),
                        "ports is a port (80) or a range (\"8000-8080\"), 1 to 65535",
                    );
                };
                if !proto.is_some_and(|p| matches!(p, ip_proto::TCP | ip_proto::UDP | 132)) {
                    return self.err(
                        p.span(),
                        &format!("{field}.ports"),
                        "ports need proto = \"tcp\", \"udp\" or \"sctp\"",
                    );
                }
                Some(range)
            }
            None => None,
        };
        let mut peers = Vec::new();
        let mut peer_ports: Option<Vec<String>> = None;
        for (p, peer) in raw.peers.iter().enumerate() {
            match self.peer(peer, &format!("{field}.peers[{p}]"), bridges)? {
                Ok(block) => peers.push(Peer::Block(block)),
                Err(names) => peer_ports.get_or_insert_with(Vec::new).extend(names),
            }
        }
        Ok(RuleConfig {
            spec: RuleSpec {
                name,
                direction,
                action,
                peers,
                proto,
                ports,
            },
            peer_ports,
        })
    }

    /// A peer: an address block (`Ok`) or the ports a label selector
    /// matches (`Err`).
    pub(super) fn peer(
        &self,
        raw: &RawPeer,
        field: &str,
        bridges: &[BridgeConfig],
    ) -> Result<Result<IpBlock, Vec<String>>, ConfigError> {
        match (&raw.cidr, &raw.labels) {
            (Some(cidr), None) => Ok(Ok(self.block(cidr, &raw.except, field)?)),
            (None, Some(labels)) if raw.except.is_empty() => Ok(Err(select(bridges, labels, is_endpoint))),
            _ => Err(self.at.error(None, field, "a peer is { cidr = \"10.0.0.0/8\", except = [...] } or { labels = { app = \"web\" } }".into())),
        }
    }

    /// An ipBlock: its prefix, and the prefixes inside it that do not match.
    pub(super) fn block(
        &self,
        cidr: &Spanned<String>,
        except: &[Spanned<String>],
        field: &str,
    ) -> Result<IpBlock, ConfigError> {
        let prefix = |p: &Spanned<String>, at: &str| {
            parse_prefix(p.get_ref()).map_or_else(
                || self.err(p.span(), at, format!("{:?} is not a prefix with its host bits zero, like \"10.1.0.0/24\" or \"fd00::/64\"", p.get_ref())),
                Ok,
            )
        };
        let cidr_prefix = prefix(cidr, &format!("{field}.cidr"))?;
        let mut excepts = Vec::new();
        for (e, ex) in except.iter().enumerate() {
            let at = format!("{field}.except[{e}]");
            let inner = prefix(ex, &at)?;
            let inside = inner.len >= cidr_prefix.len && same_network(inner, cidr_prefix);
            if !inside {
                return self.err(
                    ex.span(),
                    &at,
                    format!(
                        "{} is not inside {}: an except prefix lies inside the cidr",
                        ex.get_ref(),
                        cidr.get_ref()
                    ),
                );
            }
            excepts.push(inner);
        }
        Ok(IpBlock {
            cidr: cidr_prefix,
            except: excepts,
        })
    }
}

/// True if `inner`'s address is inside `outer` (same family).
fn same_network(inner: Prefix, outer: Prefix) -> bool {
    let bits = |a: IpAddr| match a {
        IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, false),
        IpAddr::V6(a) => (u128::from(a), true),
    };
    let ((i, i6), (o, o6)) = (bits(inner.addr), bits(outer.addr));
    // IPv4 addresses sit in the top 32 bits, so one mask serves both.
    let mask = u128::MAX
        .checked_shl(128 - u32::from(outer.len))
        .unwrap_or(0);
    i6 == o6 && i & mask == o & mask
}

/// The pipeline's ACLs: each port's rules with its label peers resolved
/// to port ids by `id`.
pub(super) fn acl_specs(
    acls: &[AclConfig],
    id: impl Fn(&str) -> Option<PortId>,
) -> Vec<PortAclSpec> {
    acls.iter()
        .filter_map(|acl| {
            Some(PortAclSpec {
                port: id(&acl.port)?,
                rules: acl
                    .rules
                    .iter()
                    .map(|rule| {
                        let mut spec = rule.spec.clone();
                        if let Some(names) = &rule.peer_ports {
                            let mut ids: Vec<PortId> = names.iter().filter_map(|n| id(n)).collect();
                            ids.sort_unstable();
                            ids.dedup();
                            spec.peers.push(Peer::Ports(ids));
                        }
                        spec
                    })
                    .collect(),
                default_ingress_allow: acl.default_ingress_allow,
                default_egress_allow: acl.default_egress_allow,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "acl_tests.rs"]
mod tests;
