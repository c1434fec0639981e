//! Stateful ACLs on the ports of a bridge.
//!
//! A port's [`PortAcl`] holds ordered rules for two directions: `egress`
//! rules decide what the port's endpoint may send (matched on the
//! destination as the peer), `ingress` rules what may be sent to it
//! (matched on the source as the peer). The first `allow` or `deny` rule
//! that matches decides; a `log` rule that matches writes one line
//! (rate-limited) and evaluation goes on; when no rule decides, the
//! direction's default does.
//!
//! Rules decide connections, not frames: the [`stage::AclStage`] sends a
//! frame the rules concern through the tracker in a zone of its network
//! (or bridge), committing it when the rules allow it; a frame of a
//! tracked connection (`+est`, and its replies `+est+rpl`) or an ICMP
//! error about one (`+rel`) passes whatever the rules say, so replies of
//! an allowed connection flow back through a default deny.

mod classifier;
pub mod stage;

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::net::IpAddr;

use crate::datapath::{DatapathSpec, SpecError};
use crate::flow::FlowKey;
use crate::mac_table::PortId;
use crate::wire::ethernet::ethertype;
use classifier::{Classifier, Probe};

/// Which way a rule looks, from the port's endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Traffic to the endpoint: the peer is the source.
    Ingress,
    /// Traffic from the endpoint: the peer is the destination.
    Egress,
}

impl Direction {
    /// Its name in configurations and traces.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    /// The connection may start.
    Allow,
    /// It may not.
    Deny,
    /// One log line, then the next rules decide.
    Log,
}

/// An address prefix (IPv4 or IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    /// The address, host bits zero.
    pub addr: IpAddr,
    /// Its length.
    pub len: u8,
}

impl Prefix {
    /// True if `addr` (laid out as in [`FlowKey::ip_src`]) of family
    /// `ipv6` is inside.
    fn contains(&self, addr: &[u8; 16], ipv6: bool) -> bool {
        let (bits, width, len) = match self.addr {
            IpAddr::V4(a) if !ipv6 => {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&a.octets());
                (u128::from_be_bytes(b), 32, self.len)
            }
            IpAddr::V6(a) if ipv6 => (u128::from_be_bytes(a.octets()), 128, self.len),
            _ => return false,
        };
        let len = u32::from(len.min(width));
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        };
        u128::from_be_bytes(*addr) & mask == bits & mask
    }
}

/// A prefix with the prefixes inside it that do not match (Kubernetes'
/// ipBlock with `except`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpBlock {
    /// What matches.
    pub cidr: Prefix,
    /// What does not, inside it.
    pub except: Vec<Prefix>,
}

impl IpBlock {
    fn contains(&self, addr: &[u8; 16], ipv6: bool) -> bool {
        self.cidr.contains(addr, ipv6) && !self.except.iter().any(|e| e.contains(addr, ipv6))
    }
}

/// Who a rule's peer may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// An address inside the block.
    Block(IpBlock),
    /// The endpoint of one of these ports (sorted): a label selector the
    /// configuration resolved.
    Ports(Vec<PortId>),
}

impl Peer {
    fn matches(&self, addr: &[u8; 16], ipv6: bool, port: PortId) -> bool {
        match self {
            Peer::Block(block) => block.contains(addr, ipv6),
            Peer::Ports(ports) => ports.binary_search(&port).is_ok(),
        }
    }
}

/// One rule, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// Its name, as logs, traces and counters show it.
    pub name: String,
    /// The direction it applies to.
    pub direction: Direction,
    /// What it does when it matches.
    pub action: RuleAction,
    /// The peers it matches (any of them); empty: every peer.
    pub peers: Vec<Peer>,
    /// The IP protocol it matches; `None`: every protocol.
    pub proto: Option<u8>,
    /// The destination ports it matches, first and last (TCP, UDP and
    /// SCTP); `None`: every port.
    pub ports: Option<(u16, u16)>,
}

impl RuleSpec {
    /// True if the rule matches a frame with `key` seen in its direction,
    /// `peer` the port on the other side.
    fn matches(&self, key: &FlowKey, peer_port: PortId) -> bool {
        let ipv6 = key.ethertype == ethertype::IPV6;
        let peer = match self.direction {
            Direction::Ingress => &key.ip_src,
            Direction::Egress => &key.ip_dst,
        };
        if !self.peers.is_empty() && !self.peers.iter().any(|p| p.matches(peer, ipv6, peer_port)) {
            return false;
        }
        if self.proto.is_some_and(|p| p != key.ip_proto) {
            return false;
        }
        match self.ports {
            Some((first, last)) => has_ports(key.ip_proto) && (first..=last).contains(&key.l4_dst),
            None => true,
        }
    }
}

/// True for the protocols whose flow key carries ports.
fn has_ports(proto: u8) -> bool {
    use crate::wire::ip_proto;
    matches!(proto, ip_proto::TCP | ip_proto::UDP | 132)
}

/// A port's ACL, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortAclSpec {
    /// The port.
    pub port: PortId,
    /// The rules, in order (both directions).
    pub rules: Vec<RuleSpec>,
    /// True when connections to the endpoint no rule allows are allowed.
    pub default_ingress_allow: bool,
    /// True when connections from the endpoint no rule allows are allowed.
    pub default_egress_allow: bool,
}

/// A rule of a built ACL, with its hit counter.
#[derive(Debug)]
pub struct Rule {
    /// What it is.
    pub spec: RuleSpec,
    /// Frames it decided (or logged), traced probes excluded.
    pub hits: AtomicU64,
    /// The second of the clock it last logged in (rate limit).
    last_log: AtomicU32,
}

/// What the rules said of a frame in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The connection may start.
    pub allow: bool,
    /// The rule that decided (index into [`PortAcl::rules`]); `None`: the
    /// default.
    pub rule: Option<usize>,
    /// A `log` rule matched: the decision must not be cached, so the next
    /// frame logs too (subject to the rate limit).
    pub logged: bool,
}

/// A port's ACL, built.
#[derive(Debug)]
pub struct PortAcl {
    /// Its port.
    pub port: PortId,
    /// The rules, in order.
    pub rules: Box<[Rule]>,
    ingress: Classifier,
    egress: Classifier,
    default_ingress_allow: bool,
    default_egress_allow: bool,
}

impl PortAcl {
    /// Builds the ACL `spec` describes.
    pub fn new(spec: &PortAclSpec) -> PortAcl {
        let rules: Box<[Rule]> = spec
            .rules
            .iter()
            .map(|r| Rule {
                spec: r.clone(),
                hits: AtomicU64::new(0),
                last_log: AtomicU32::new(u32::MAX),
            })
            .collect();
        PortAcl {
            port: spec.port,
            ingress: Classifier::new(&rules, |r| r.spec.direction == Direction::Ingress),
            egress: Classifier::new(&rules, |r| r.spec.direction == Direction::Egress),
            rules,
            default_ingress_allow: spec.default_ingress_allow,
            default_egress_allow: spec.default_egress_allow,
        }
    }

    /// Decides a frame with `key` in `direction`, from or to the endpoint
    /// of `peer`; `count` is false for a probe (a trace) and for a
    /// frame's second pass, which neither count nor log.
    pub fn decide(
        &self,
        direction: Direction,
        key: &FlowKey,
        peer: PortId,
        now: u32,
        count: bool,
    ) -> Decision {
        let mut logged = false;
        let ipv6 = key.ethertype == ethertype::IPV6;
        let probe = Probe {
            peer_addr: match direction {
                Direction::Ingress => &key.ip_src,
                Direction::Egress => &key.ip_dst,
            },
            ipv6,
            proto: key.ip_proto,
            port: has_ports(key.ip_proto).then_some(key.l4_dst),
            peer_port: peer,
        };
        let classifier = match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        };
        // Rules outside the tables, tried in order: a log rule logs and
        // goes on.
        let decided = classifier.lookup(&probe, |index| {
            let Some(rule) = self.rules.get(index as usize) else {
                return false;
            };
            if !rule.spec.matches(key, peer) {
                return false;
            }
            if rule.spec.action != RuleAction::Log {
                return true;
            }
            logged = true;
            if count {
                rule.hits.fetch_add(1, Ordering::Relaxed);
                if rule.last_log.swap(now, Ordering::Relaxed) != now {
                    log::info!(
                        "acl port {} rule {} ({}): {}",
                        self.port,
                        rule.spec.name,
                        direction.name(),
                        key_text(key)
                    );
                }
            }
            false
        });
        if let Some(rule) = decided.and_then(|i| self.rules.get(i as usize)) {
            if count {
                rule.hits.fetch_add(1, Ordering::Relaxed);
            }
            return Decision {
                allow: rule.spec.action == RuleAction::Allow,
                rule: decided.map(|i| i as usize),
                logged,
            };
        }
        let allow = match direction {
            Direction::Ingress => self.default_ingress_allow,
            Direction::Egress => self.default_egress_allow,
        };
        Decision {
            allow,
            rule: None,
            logged,
        }
    }

    /// True when connections no rule decides in `direction` are allowed.
    pub fn default_allows(&self, direction: Direction) -> bool {
        match direction {
            Direction::Ingress => self.default_ingress_allow,
            Direction::Egress => self.default_egress_allow,
        }
    }

    /// The name of rule `rule` (`default ingress` / `default egress` for
    /// `None`).
    pub fn rule_name(&self, rule: Option<usize>, direction: Direction) -> String {
        match rule.and_then(|r| self.rules.get(r)) {
            Some(r) => r.spec.name.clone(),
            None => format!("default {}", direction.name()),
        }
    }
}

/// The ACLs of `spec`'s ports, indexed by port id.
pub(crate) fn build_acls(spec: &DatapathSpec) -> Result<Box<[Option<PortAcl>]>, SpecError> {
    let mut acls: Vec<Option<PortAcl>> = Vec::new();
    for a in &spec.acls {
        if !spec.ports.iter().any(|p| p.id == a.port) {
            return Err(SpecError(format!(
                "an ACL names port id {}, no bridge port",
                a.port
            )));
        }
        let slot = a.port as usize;
        if acls.len() <= slot {
            acls.resize_with(slot + 1, || None);
        }
        if acls[slot].replace(PortAcl::new(a)).is_some() {
            return Err(SpecError(format!("port id {} has two ACLs", a.port)));
        }
    }
    Ok(acls.into())
}

/// A frame's key as a log line shows it: protocol, addresses and ports.
fn key_text(key: &FlowKey) -> String {
    let ip = |a: &[u8; 16]| -> IpAddr {
        if key.ethertype == ethertype::IPV6 {
            IpAddr::from(*a)
        } else {
            IpAddr::from([a[0], a[1], a[2], a[3]])
        }
    };
    format!(
        "proto {} {}:{} -> {}:{}",
        key.ip_proto,
        ip(&key.ip_src),
        key.l4_src,
        ip(&key.ip_dst),
        key.l4_dst
    )
}

#[cfg(test)]
mod tests;
