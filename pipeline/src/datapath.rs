//! The datapath: the immutable configuration a worker runs frames
//! through (bridges, ports with stable ids, the chain of stages of each
//! port, flood groups), pointing at learned state that outlives it.
//!
//! A [`Datapath`] never changes once built: a configuration change builds
//! a new one with [`Datapath::rebuild`], which keeps the MAC tables of the
//! bridges that stay (learned state is not configuration), and workers
//! swap it in at a batch boundary. Frames run through it in bursts
//! ([`crate::burst::BurstRunner`]).

use std::collections::HashMap;
use std::sync::Arc;

use crate::acl::stage::AclStage;
use crate::acl::{build_acls, PortAcl, PortAclSpec};
use crate::flow::Mac;
use crate::flow_cache::{KeyFields, KeyMask};
use crate::l3::{Network, NetworkSpec, NetworkState};
use crate::mac_table::{MacTable, PortId, MAX_PORTS};
use crate::overlay::build::OverlayState;
use crate::overlay::{Tunnel, TunnelSpec, Uplink, UplinkSpec, NEIGHBOUR_AGING_SECS};
use crate::stage::ingress::Ingress;
use crate::stage::l2::L2Bridge;
use crate::stage::l3::Gateway;
use crate::stage::port_security::{PortSecurity, PortSecurityStage};
use crate::stage::tunnel::{TunnelIn, TunnelOut};
use crate::stage::uplink::UplinkStage;
use crate::stage::Stage;
use crate::wire::OuterLayout;

use crate::vlan::VLAN_SLOTS;
pub use crate::vlan::{VlanMode, VlanSet, VLAN_MAX};

/// A MAC address bound to a port for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticMac {
    /// The VLAN it is bound in.
    pub vlan: u16,
    /// The address.
    pub mac: Mac,
    /// The port.
    pub port: PortId,
}

/// What a bridge is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    /// Its name.
    pub name: String,
    /// Seconds a learned MAC lives without traffic.
    pub mac_aging_secs: u32,
    /// Learned MACs the bridge holds at most, over all VLANs.
    pub mac_limit: u32,
    /// Static entries.
    pub static_macs: Vec<StaticMac>,
}

/// What a port is, as far as the datapath cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// Its stable id: the same for the same port name across
    /// configurations, below [`MAX_PORTS`].
    pub id: PortId,
    /// Its name.
    pub name: String,
    /// Index of its bridge in [`DatapathSpec::bridges`].
    pub bridge: usize,
    /// VLAN handling.
    pub vlan_mode: VlanMode,
    /// Learned MACs the port may hold at most.
    pub mac_limit: u32,
    /// Set for a tunnel port: a port without a device whose frames are
    /// encapsulated towards remote VTEPs.
    pub tunnel: Option<TunnelSpec>,
    /// Set for a port bound to its container's addresses.
    pub security: Option<PortSecurity>,
}

/// Outer headers that [`crate::action::Action::Encap`] puts in front of a
/// frame: built once (with [`crate::wire::FrameBuilder`]), copied per frame
/// with its lengths, checksums and UDP source port fixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncapTemplate {
    /// Ethernet, IP, UDP and tunnel headers, lengths unset.
    pub header: Vec<u8>,
    /// Where the IP and UDP headers are in `header`.
    pub outer: OuterLayout,
    /// Compute the outer UDP checksum (always done for IPv6).
    pub udp_checksum: bool,
    /// For an IPv4 outer header, the partial sum of its fields that do not
    /// change per frame ([`crate::wire::builder::ipv4_fixed_sum`]).
    pub ipv4_fixed_sum: Option<u16>,
}

/// Everything needed to build a [`Datapath`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatapathSpec {
    /// The bridges.
    pub bridges: Vec<BridgeSpec>,
    /// The ports, each with its id.
    pub ports: Vec<PortSpec>,
    /// The uplinks (ports outside the bridges that carry tunnels).
    pub uplinks: Vec<UplinkSpec>,
    /// The container networks routed by the switch's gateways.
    pub networks: Vec<NetworkSpec>,
    /// The ACLs of ports, at most one per port.
    pub acls: Vec<PortAclSpec>,
}

impl DatapathSpec {
    /// The ids of the bridges' ports in order, then the uplinks'.
    pub fn port_ids(&self) -> impl Iterator<Item = PortId> + '_ {
        self.ports
            .iter()
            .map(|p| p.id)
            .chain(self.uplinks.iter().map(|u| u.id))
    }
}

/// One port of a flood group and the tag frames leave it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FloodMember {
    /// The port.
    pub port: PortId,
    /// The outer VID frames carry out of it (`None`: untagged).
    pub tag: Option<u16>,
    /// For a tunnel port, its tunnel's index: egress replicates the frame
    /// to the tunnel's remote VTEPs.
    pub tunnel: Option<u16>,
}

/// A bridge of the datapath.
pub struct Bridge {
    /// Its name.
    pub name: String,
    /// Its MAC table (shared with the datapaths before and after this one).
    pub macs: Arc<MacTable>,
    /// For each VLAN, its flood group.
    flood_index: Box<[u16]>,
}

impl Bridge {
    /// The flood group of `vlan`.
    #[inline(always)]
    pub fn flood_group(&self, vlan: u16) -> u16 {
        self.flood_index.get(vlan as usize).copied().unwrap_or(0)
    }
}

/// What a port is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortRole {
    /// A bridge port with a device.
    Bridge,
    /// A tunnel port: index of its tunnel.
    Tunnel(u16),
    /// An uplink: index of its uplink.
    Uplink(u16),
}

/// The bridge index of a port outside every bridge (an uplink).
pub const NO_BRIDGE: u16 = u16::MAX;

/// A port of the datapath.
pub struct Port {
    /// Its name.
    pub name: String,
    /// What it is.
    pub role: PortRole,
    /// Index of its bridge ([`NO_BRIDGE`] for an uplink).
    pub bridge: u16,
    /// VLAN handling.
    pub vlan_mode: VlanMode,
    /// The stages its frames meet, in order.
    pub chain: Box<[Arc<dyn Stage>]>,
    /// The flow-key fields those stages read.
    pub key_mask: KeyMask,
    /// False when a stage of the chain never lets its decisions be cached:
    /// the port's frames then skip the flow cache.
    pub cached: bool,
}

impl Port {
    fn new(
        name: String,
        role: PortRole,
        bridge: u16,
        vlan_mode: VlanMode,
        chain: Box<[Arc<dyn Stage>]>,
    ) -> Port {
        let key_mask = chain
            .iter()
            .fold(KeyFields::L2, |all, stage| all.with(stage.reads()))
            .mask();
        let cached = chain.iter().all(|stage| stage.cacheable());
        Port {
            name,
            role,
            bridge,
            vlan_mode,
            chain,
            key_mask,
            cached,
        }
    }
}

/// An immutable datapath built from a [`DatapathSpec`].
pub struct Datapath {
    bridges: Box<[Bridge]>,
    /// Indexed by port id; `None` for ids no port has.
    ports: Box<[Option<Port>]>,
    /// Flood group members; group 0 is empty.
    flood_groups: Vec<Box<[FloodMember]>>,
    tunnels: Box<[Tunnel]>,
    uplinks: Box<[Uplink]>,
    networks: Box<[Network]>,
    /// Indexed by port id; `None` for ports without an ACL.
    acls: Box<[Option<PortAcl>]>,
    spec: DatapathSpec,
}

/// Learned state a rebuild carries over: MAC tables by bridge name (with
/// the static entries the old configuration put in), and the overlay's.
#[derive(Default)]
struct Kept {
    bridges: HashMap<String, (Arc<MacTable>, Vec<StaticMac>)>,
    overlay: OverlayState,
    /// The networks' learned state, for the specs that keep it.
    networks: Vec<(NetworkSpec, Arc<NetworkState>)>,
}

/// Why a [`DatapathSpec`] cannot be built. Configuration validation catches
/// these first with file and line; this is the last line of defence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError(pub String);

impl core::fmt::Display for SpecError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

impl Datapath {
    /// Builds a datapath with new, empty MAC tables. `seed` keys their
    /// hashes.
    pub fn new(spec: &DatapathSpec, seed: u64) -> Result<Datapath, SpecError> {
        Self::build(spec, seed, &Kept::default())
    }

    /// Builds the datapath of `spec` keeping the learned state of this
    /// one: a bridge of the same name and MAC limit keeps its table (its
    /// aging time, port limits and static entries are updated). Entries of
    /// ports that left a kept bridge are not flushed here, because workers
    /// may still run the old datapath: call [`Datapath::retire`] once they
    /// all moved on.
    pub fn rebuild(&self, spec: &DatapathSpec, seed: u64) -> Result<Datapath, SpecError> {
        let kept = self
            .bridges
            .iter()
            .zip(&self.spec.bridges)
            .filter(|(_, old)| {
                spec.bridges
                    .iter()
                    .any(|b| b.name == old.name && b.mac_limit == old.mac_limit)
            })
            .map(|(b, old)| {
                (
                    b.name.clone(),
                    (Arc::clone(&b.macs), old.static_macs.clone()),
                )
            })
            .collect();
        let overlay = OverlayState::keep(&self.tunnels, &self.uplinks, spec);
        let networks = self
            .networks
            .iter()
            .map(|n| (n.spec.clone(), Arc::clone(&n.state)))
            .collect();
        Self::build(
            spec,
            seed,
            &Kept {
                bridges: kept,
                overlay,
                networks,
            },
        )
    }

    /// Removes from the kept MAC tables what `old` (the datapath this one
    /// replaced) learned for ports that are gone or moved to another
    /// bridge. Call it after every worker acknowledged this datapath.
    pub fn retire(&self, old: &Datapath) {
        for (id, port) in old.ports.iter().enumerate() {
            let Some(port) = port else { continue };
            let Some(old_bridge) = old.bridges.get(port.bridge as usize) else {
                continue;
            };
            let stays = self.port(id as PortId).is_some_and(|p| {
                self.bridges
                    .get(p.bridge as usize)
                    .is_some_and(|b| Arc::ptr_eq(&b.macs, &old_bridge.macs))
            });
            if !stays {
                old_bridge.macs.flush_port(id as PortId);
            }
        }
    }

    fn build(spec: &DatapathSpec, seed: u64, kept: &Kept) -> Result<Datapath, SpecError> {
        if spec.bridges.len() > u16::MAX as usize {
            return Err(SpecError("too many bridges".into()));
        }
        let mut ports: Vec<Option<Port>> = Vec::new();
        for p in &spec.ports {
            if p.id as usize >= MAX_PORTS {
                return Err(SpecError(format!(
                    "port {} has id {}, above the most ports a switch holds ({MAX_PORTS})",
                    p.name, p.id
                )));
            }
            if p.bridge >= spec.bridges.len() {
                return Err(SpecError(format!("port {} names no bridge", p.name)));
            }
            if ports.len() <= p.id as usize {
                ports.resize_with(p.id as usize + 1, || None);
            }
        }
        let mut ids: Vec<PortId> = spec.ports.iter().map(|p| p.id).collect();
        ids.extend(spec.uplinks.iter().map(|u| u.id));
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(SpecError(format!("two ports have id {}", w[0])));
        }
        let (tunnels, uplinks) = kept.overlay.build(spec, seed)?;
        let networks = crate::l3::build_networks(spec, seed, &kept.networks)?;
        for p in &spec.ports {
            let role = match tunnels.iter().position(|t| t.port == p.id) {
                Some(t) => PortRole::Tunnel(t as u16),
                None => PortRole::Bridge,
            };
            let bridge_has_tunnels = spec
                .ports
                .iter()
                .any(|o| o.bridge == p.bridge && o.tunnel.is_some());
            let bridge_has_networks = spec.networks.iter().any(|n| n.bridge == p.bridge);
            let bridge_has_acls = spec.acls.iter().any(|a| {
                spec.ports
                    .iter()
                    .any(|o| o.id == a.port && o.bridge == p.bridge)
            });
            // The gateway routes to ports of other bridges, whose ingress
            // rules decide too.
            let needs_acls = bridge_has_acls || (bridge_has_networks && !spec.acls.is_empty());
            ports[p.id as usize] = Some(Port::new(
                p.name.clone(),
                role,
                p.bridge as u16,
                p.vlan_mode.clone(),
                Self::chain(
                    role,
                    bridge_has_tunnels,
                    bridge_has_networks,
                    p.security.as_ref(),
                    needs_acls,
                ),
            ));
        }
        for (u, uplink) in spec.uplinks.iter().enumerate() {
            let id = uplink.id as usize;
            if id >= MAX_PORTS {
                return Err(SpecError(format!("uplink {} has id {id}", uplink.name)));
            }
            if ports.len() <= id {
                ports.resize_with(id + 1, || None);
            }
            let role = PortRole::Uplink(u as u16);
            ports[id] = Some(Port::new(
                uplink.name.clone(),
                role,
                NO_BRIDGE,
                VlanMode::default(),
                // What it routes in meets the ingress rules of the ports.
                Self::chain(role, false, false, None, !spec.acls.is_empty()),
            ));
        }

        let mut flood_groups: Vec<Box<[FloodMember]>> = vec![Box::new([])];
        let mut bridges = Vec::with_capacity(spec.bridges.len());
        for (b, bridge) in spec.bridges.iter().enumerate() {
            // Workers keep forwarding with the old configuration on the
            // kept table meanwhile: static entries that stay are replaced
            // in place (a moved one goes from its old port to its new one
            // with no moment unknown, when its frames would be flooded),
            // and only those gone from the new set are removed, last.
            let mut gone_statics: Vec<&StaticMac> = Vec::new();
            let macs = match kept.bridges.get(&bridge.name) {
                Some((table, old_statics)) => {
                    gone_statics.extend(old_statics.iter().filter(|old| {
                        !bridge
                            .static_macs
                            .iter()
                            .any(|new| new.vlan == old.vlan && new.mac == old.mac)
                    }));
                    Arc::clone(table)
                }
                None => Arc::new(MacTable::new(
                    bridge.mac_limit,
                    bridge.mac_aging_secs,
                    seed ^ (b as u64).wrapping_mul(0x9e37_79b9),
                )),
            };
            macs.set_aging_secs(bridge.mac_aging_secs);
            for p in spec.ports.iter().filter(|p| p.bridge == b) {
                macs.set_port_limit(p.id, p.mac_limit);
            }
            for s in &bridge.static_macs {
                if !spec.ports.iter().any(|p| p.id == s.port && p.bridge == b) {
                    return Err(SpecError(format!(
                        "static MAC on bridge {} names a port outside it",
                        bridge.name
                    )));
                }
                if !macs.insert_static(s.vlan, &s.mac, s.port) {
                    // The room gone entries hold, made first only when
                    // it is needed.
                    for g in gone_statics.drain(..) {
                        macs.remove_static(g.vlan, &g.mac);
                    }
                    if !macs.insert_static(s.vlan, &s.mac, s.port) {
                        return Err(SpecError(format!(
                            "too many static MACs in one hash bucket of bridge {}",
                            bridge.name
                        )));
                    }
                }
            }
            for s in gone_statics {
                macs.remove_static(s.vlan, &s.mac);
            }
            let flood_index = Self::flood_groups(spec, b, &tunnels, &mut flood_groups)?;
            bridges.push(Bridge {
                name: bridge.name.clone(),
                macs,
                flood_index,
            });
        }
        Ok(Datapath {
            bridges: bridges.into(),
            ports: ports.into(),
            flood_groups,
            tunnels: tunnels.into(),
            uplinks: uplinks.into(),
            networks,
            acls: build_acls(spec)?,
            spec: spec.clone(),
        })
    }

    /// The stages a port's frames meet, from its role, its bridge and its
    /// address binding: routing and policy stages join here the same way.
    fn chain(
        role: PortRole,
        bridge_has_tunnels: bool,
        bridge_has_networks: bool,
        security: Option<&PortSecurity>,
        acls: bool,
    ) -> Box<[Arc<dyn Stage>]> {
        // The gateway runs the L2 bridge on what it does not route.
        let l2: Arc<dyn Stage> = if bridge_has_networks {
            Arc::new(Gateway::default())
        } else {
            Arc::new(L2Bridge)
        };
        let mut chain: Vec<Arc<dyn Stage>> = match role {
            PortRole::Uplink(_) => vec![Arc::new(UplinkStage)],
            PortRole::Tunnel(_) => vec![Arc::new(TunnelIn), Arc::new(Ingress), l2],
            PortRole::Bridge => {
                let mut chain: Vec<Arc<dyn Stage>> = vec![Arc::new(Ingress)];
                // Port security checks the sender before anything else.
                if let Some(binding) = security {
                    chain.push(Arc::new(PortSecurityStage::new(binding.clone())));
                }
                chain.push(l2);
                chain
            }
        };
        // The ACLs decide once the bridge or the gateway chose the output
        // ports (routed frames: the endpoint on each side is known only
        // then), before a tunnel's output becomes an encapsulation.
        if acls {
            chain.push(Arc::new(AclStage));
        }
        if bridge_has_tunnels || matches!(role, PortRole::Tunnel(_)) {
            chain.push(Arc::new(TunnelOut));
        }
        chain.into()
    }

    /// For each VLAN, the group of the ports of bridge `b` that carry it,
    /// each with its egress tag; VLANs with the same members share a group.
    fn flood_groups(
        spec: &DatapathSpec,
        b: usize,
        tunnels: &[Tunnel],
        groups: &mut Vec<Box<[FloodMember]>>,
    ) -> Result<Box<[u16]>, SpecError> {
        let mut index = vec![0u16; VLAN_SLOTS];
        let mut known: HashMap<Box<[FloodMember]>, u16> = HashMap::new();
        for (vlan, slot) in index.iter_mut().enumerate() {
            let vlan = vlan as u16;
            let members: Box<[FloodMember]> = spec
                .ports
                .iter()
                .filter(|p| p.bridge == b && p.vlan_mode.carries(vlan))
                .map(|p| FloodMember {
                    port: p.id,
                    tag: p.vlan_mode.egress_tag(vlan),
                    tunnel: tunnels
                        .iter()
                        .position(|t| t.port == p.id)
                        .map(|t| t as u16),
                })
                .collect();
            *slot = match known.get(&members) {
                Some(group) => *group,
                None => {
                    let group = u16::try_from(groups.len())
                        .map_err(|_| SpecError("too many flood groups".into()))?;
                    groups.push(members.clone());
                    known.insert(members, group);
                    group
                }
            };
        }
        Ok(index.into())
    }

    /// The specification it was built from.
    pub fn spec(&self) -> &DatapathSpec {
        &self.spec
    }

    /// Port `id`.
    #[inline(always)]
    pub fn port(&self, id: PortId) -> Option<&Port> {
        self.ports.get(id as usize).and_then(Option::as_ref)
    }

    /// Bridge `index`.
    #[inline(always)]
    pub fn bridge(&self, index: u16) -> Option<&Bridge> {
        self.bridges.get(index as usize)
    }

    /// Tunnel `index`.
    #[inline(always)]
    pub fn tunnel(&self, index: u16) -> Option<&Tunnel> {
        self.tunnels.get(index as usize)
    }

    /// The tunnels.
    pub fn tunnels(&self) -> &[Tunnel] {
        &self.tunnels
    }

    /// Uplink `index`.
    #[inline(always)]
    pub fn uplink(&self, index: u16) -> Option<&Uplink> {
        self.uplinks.get(index as usize)
    }

    /// The uplinks.
    pub fn uplinks(&self) -> &[Uplink] {
        &self.uplinks
    }

    /// Network `index`.
    #[inline(always)]
    pub fn network(&self, index: u16) -> Option<&Network> {
        self.networks.get(index as usize)
    }

    /// The ACL of port `id`, if it has one.
    #[inline]
    pub fn acl(&self, id: PortId) -> Option<&PortAcl> {
        self.acls.get(id as usize)?.as_ref()
    }

    /// The networks.
    pub fn networks(&self) -> &[Network] {
        &self.networks
    }

    /// The network on VLAN `vlan` of bridge `bridge`, with its index.
    #[inline]
    pub fn network_at(&self, bridge: u16, vlan: u16) -> Option<(u16, &Network)> {
        self.networks
            .iter()
            .enumerate()
            .find(|(_, n)| n.spec.bridge == bridge as usize && n.spec.vlan == vlan)
            .map(|(i, n)| (i as u16, n))
    }

    /// The members of flood group `group`.
    #[inline(always)]
    pub fn flood_members(&self, group: u16) -> &[FloodMember] {
        self.flood_groups.get(group as usize).map_or(&[], |g| g)
    }

    /// The generation of the learned state cached decisions depend on: it
    /// moves whenever a MAC entry of any bridge moves or goes away, and
    /// whenever a neighbour of a network or uplink is added, removed or
    /// changes its MAC (routed decisions name the next hop's MAC).
    #[inline(always)]
    pub fn state_generation(&self) -> u64 {
        let bridges = self
            .bridges
            .iter()
            .fold(0u64, |sum, b| sum.wrapping_add(b.macs.generation()));
        let tunnels = self
            .tunnels
            .iter()
            .fold(bridges, |sum, t| sum.wrapping_add(t.state.generation()));
        if self.networks.is_empty() {
            return tunnels;
        }
        let networks = self.networks.iter().fold(tunnels, |sum, n| {
            sum.wrapping_add(n.state.neighbours.changes())
        });
        self.uplinks
            .iter()
            .fold(networks, |sum, u| sum.wrapping_add(u.neighbours.changes()))
    }

    /// One past the highest port id: the size of per-port arrays.
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// Ids of the ports, ascending.
    pub fn port_ids(&self) -> impl Iterator<Item = PortId> + '_ {
        self.ports
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_some())
            .map(|(id, _)| id as PortId)
    }

    /// The name of port `id`.
    pub fn port_name(&self, id: PortId) -> Option<&str> {
        self.port(id).map(|p| p.name.as_str())
    }

    /// The id of the port called `name`.
    pub fn port_id(&self, name: &str) -> Option<PortId> {
        self.port_ids().find(|id| self.port_name(*id) == Some(name))
    }

    /// The number of bridges.
    pub fn bridge_count(&self) -> usize {
        self.bridges.len()
    }

    /// The name of bridge `index`.
    pub fn bridge_name(&self, index: usize) -> Option<&str> {
        self.bridges.get(index).map(|b| b.name.as_str())
    }

    /// The MAC table of bridge `index`.
    pub fn mac_table(&self, index: usize) -> Option<&Arc<MacTable>> {
        self.bridges.get(index).map(|b| &b.macs)
    }

    /// Ages out expired MACs in every bridge and tunnel, learned remote
    /// VTEPs (with the MACs learned behind them) and neighbours; returns
    /// how many MACs were removed.
    pub fn sweep_macs(&self, now: u32) -> usize {
        let mut removed: usize = self.bridges.iter().map(|b| b.macs.sweep(now)).sum();
        for t in self.tunnels.iter() {
            let aging = self
                .spec
                .ports
                .iter()
                .find(|p| p.id == t.port)
                .and_then(|p| self.spec.bridges.get(p.bridge))
                .map_or(NEIGHBOUR_AGING_SECS, |b| b.mac_aging_secs);
            for vtep in t.state.vteps.sweep(now, aging) {
                removed += t.state.macs.flush_port(vtep as PortId);
            }
            removed += t.state.macs.sweep(now);
        }
        for u in self.uplinks.iter() {
            u.neighbours.sweep(now, NEIGHBOUR_AGING_SECS);
        }
        for n in self.networks.iter() {
            n.state.neighbours.sweep(now, NEIGHBOUR_AGING_SECS);
        }
        removed
    }
}

#[cfg(test)]
impl Datapath {
    /// Replaces port `id`'s chain (tests plug in stages of their own).
    pub(crate) fn set_chain(&mut self, id: PortId, chain: Box<[Arc<dyn Stage>]>) {
        if let Some(Some(port)) = self.ports.get_mut(id as usize) {
            *port = Port::new(
                port.name.clone(),
                port.role,
                port.bridge,
                port.vlan_mode.clone(),
                chain,
            );
        }
    }
}

#[cfg(test)]
#[path = "datapath_tests.rs"]
pub(crate) mod tests;
