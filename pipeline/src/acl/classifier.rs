//! The rules of one direction as a tuple space (as Open vSwitch's
//! classifier): rules are grouped by which fields they match and how
//! (peer prefix length and family, protocol or not, one destination port
//! or not, a peer port or not), one hash table per group from the masked
//! fields to the first rule with those values. A lookup probes each table
//! once, tables in the order of their first rule, stopping when no table
//! left can hold an earlier rule: its cost follows the number of distinct
//! shapes, not the number of rules. Rules a table cannot hold (except
//! lists, wide port ranges, `log` rules, which never decide) are tried in
//! order, only those before the best match found.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::{Peer, Rule, RuleAction};
use crate::mac_table::PortId;

/// Port ranges up to this many ports are expanded into table entries.
const MAX_EXPANDED_PORTS: u32 = 64;

/// How a group of rules matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Shape {
    /// 0: any family (no address matched), 4 or 6.
    family: u8,
    /// Peer prefix length.
    prefix: u8,
    proto: bool,
    port: bool,
    peer_port: bool,
}

/// The fields of a frame under a shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Fields {
    addr: u128,
    proto: u8,
    port: u16,
    peer_port: PortId,
}

/// A multiply-shift hasher: the keys are a few integers.
#[derive(Default)]
struct FieldHasher(u64);

impl Hasher for FieldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }
    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

struct Table {
    shape: Shape,
    /// The first rule in it.
    first: u32,
    rules: HashMap<Fields, u32, BuildHasherDefault<FieldHasher>>,
}

/// The rules of one direction, classified.
#[derive(Default)]
pub(super) struct Classifier {
    tables: Vec<Table>,
    /// Rules outside the tables, in order.
    linear: Vec<u32>,
}

impl core::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Classifier")
            .field("tables", &self.tables.len())
            .field("linear", &self.linear.len())
            .finish()
    }
}

/// A frame's fields as the tables see them.
pub(super) struct Probe<'a> {
    pub(super) peer_addr: &'a [u8; 16],
    pub(super) ipv6: bool,
    pub(super) proto: u8,
    /// The destination port, for protocols with ports.
    pub(super) port: Option<u16>,
    pub(super) peer_port: PortId,
}

fn mask(addr: u128, len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len))
        .map_or(0, |m| addr & m)
}

impl Classifier {
    /// Classifies the rules `take` accepts, out of `rules`.
    pub(super) fn new(rules: &[Rule], take: impl Fn(&Rule) -> bool) -> Classifier {
        let mut classifier = Classifier::default();
        for (index, rule) in rules.iter().enumerate() {
            if !take(rule) {
                continue;
            }
            let index = index as u32;
            match entries(rule) {
                Some(entries) => {
                    for (shape, fields) in entries {
                        classifier.insert(shape, fields, index);
                    }
                }
                None => classifier.linear.push(index),
            }
        }
        classifier.tables.sort_by_key(|t| t.first);
        classifier
    }

    fn insert(&mut self, shape: Shape, fields: Fields, index: u32) {
        let table = match self.tables.iter_mut().position(|t| t.shape == shape) {
            Some(t) => &mut self.tables[t],
            None => {
                self.tables.push(Table {
                    shape,
                    first: index,
                    rules: HashMap::default(),
                });
                self.tables.last_mut().expect("just pushed")
            }
        };
        table.rules.entry(fields).or_insert(index);
    }

    /// The first rule that decides the probe (calling `linear` on each
    /// rule outside the tables that comes before the best match, which
    /// says whether it decides), or `None`.
    pub(super) fn lookup(
        &self,
        probe: &Probe<'_>,
        mut linear: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        let mut best = u32::MAX;
        let addr = u128::from_be_bytes(*probe.peer_addr);
        let family = if probe.ipv6 { 6 } else { 4 };
        for table in &self.tables {
            if table.first >= best {
                break;
            }
            let s = table.shape;
            if (s.family != 0 && s.family != family) || (s.port && probe.port.is_none()) {
                continue;
            }
            let fields = Fields {
                addr: if s.family == 0 {
                    0
                } else {
                    mask(addr, s.prefix)
                },
                proto: if s.proto { probe.proto } else { 0 },
                port: if s.port { probe.port.unwrap_or(0) } else { 0 },
                peer_port: if s.peer_port { probe.peer_port } else { 0 },
            };
            if let Some(&index) = table.rules.get(&fields) {
                best = best.min(index);
            }
        }
        for &index in &self.linear {
            if index >= best {
                break;
            }
            if linear(index) {
                return Some(index);
            }
        }
        (best != u32::MAX).then_some(best)
    }
}

/// The table entries of a rule, or `None` when it stays linear.
fn entries(rule: &Rule) -> Option<Vec<(Shape, Fields)>> {
    let spec = &rule.spec;
    if spec.action == RuleAction::Log {
        return None;
    }
    let ports: Vec<Option<u16>> = match spec.ports {
        None => vec![None],
        Some((first, last)) if u32::from(last - first) < MAX_EXPANDED_PORTS => {
            (first..=last).map(Some).collect()
        }
        Some(_) => return None,
    };
    // Each peer alternative: (family, prefix, address) or a peer port.
    let mut peers: Vec<(u8, u8, u128, Option<PortId>)> = Vec::new();
    for peer in &spec.peers {
        match peer {
            Peer::Block(block) if block.except.is_empty() => {
                let (family, addr, len) = match block.cidr.addr {
                    std::net::IpAddr::V4(a) => (4, u128::from(u32::from(a)) << 96, block.cidr.len),
                    std::net::IpAddr::V6(a) => (6, u128::from(a), block.cidr.len),
                };
                peers.push((family, len, mask(addr, len), None));
            }
            Peer::Block(_) => return None,
            Peer::Ports(ids) => peers.extend(ids.iter().map(|id| (0, 0, 0, Some(*id)))),
        }
    }
    if spec.peers.is_empty() {
        peers.push((0, 0, 0, None));
    }
    let mut out = Vec::with_capacity(peers.len() * ports.len());
    for &(family, prefix, addr, peer_port) in &peers {
        for &port in &ports {
            out.push((
                Shape {
                    family,
                    prefix,
                    proto: spec.proto.is_some(),
                    port: port.is_some(),
                    peer_port: peer_port.is_some(),
                },
                Fields {
                    addr,
                    proto: spec.proto.unwrap_or(0),
                    port: port.unwrap_or(0),
                    peer_port: peer_port.unwrap_or(0),
                },
            ));
        }
    }
    Some(out)
}
