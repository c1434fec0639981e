//! Container networks with a gateway: the switch as the L3 router of
//! IPv4 subnets that live on bridge VLANs, as Docker's bridge driver makes
//! the Linux bridge and the kernel's router.
//!
//! - A **network** is an IPv4 subnet (and optionally an IPv6 one) on one
//!   bridge and VLAN with a gateway address in each that the switch owns:
//!   it answers ARP and neighbour solicitations for the gateway with the
//!   network's gateway MAC, answers pings to it, and routes what is sent to
//!   the gateway MAC and not for the gateway itself.
//! - **Routing** is a longest-prefix match over the local networks, and a
//!   default via the network's uplink (its gateway, or on-link): a frame
//!   goes from network A to network B only when both list each other in
//!   `routes_to` (one listing the other alone routes nothing), and comes
//!   back in from
//!   an uplink only to a network that leaves by that uplink.
//! - **Next hops** are resolved by ARP (neighbour solicitations for IPv6)
//!   with a neighbour table per network ([`AddrTable`], aged like the
//!   uplinks'); an unresolved next hop gets a request from the gateway (at
//!   most one a second) and the frame is dropped as
//!   `route_neighbour_unresolved`, as the overlay does.
//! - **ICMP errors** (time exceeded, net unreachable, administratively
//!   prohibited; their ICMPv6 counterparts) go back to the sender from the
//!   gateway, at most [`ICMP_ERRORS_PER_SEC`] a second per network
//!   ([`IcmpLimiter`]).

pub(crate) mod egress;
pub mod nat;
pub(crate) mod route;

use core::sync::atomic::{AtomicU64, Ordering};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::datapath::{DatapathSpec, SpecError};
use crate::flow::Mac;
use crate::overlay::{AddrTable, MAX_NEIGHBOURS};

/// ICMP errors one network sends a second at most; the rest are counted
/// as suppressed.
pub const ICMP_ERRORS_PER_SEC: u32 = 100;

/// A network's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    /// Its name.
    pub name: String,
    /// Index of its bridge in [`crate::datapath::DatapathSpec::bridges`].
    pub bridge: usize,
    /// The VLAN of the bridge it lives on (0: untagged).
    pub vlan: u16,
    /// The subnet's address (host bits zero) and prefix length.
    pub subnet: (Ipv4Addr, u8),
    /// The switch's address in it.
    pub gateway: Ipv4Addr,
    /// The IPv6 subnet and prefix length, if it has one.
    pub subnet6: Option<(Ipv6Addr, u8)>,
    /// The switch's IPv6 address in it (set with `subnet6`).
    pub gateway6: Option<Ipv6Addr>,
    /// The MAC the gateway answers ARP with and routes from.
    pub gateway_mac: Mac,
    /// Indices (in [`crate::datapath::DatapathSpec::networks`]) of the
    /// networks it may route to.
    pub routes_to: Vec<usize>,
    /// Index (in [`crate::datapath::DatapathSpec::uplinks`]) of the uplink
    /// destinations outside every local network leave by.
    pub uplink: Option<usize>,
    /// Sources of connections leaving by the uplink are translated to the
    /// uplink's IPv4 address (Docker's `enable_ip_masquerade`).
    pub masquerade: bool,
    /// The source ports (ICMP echo identifiers) masquerade allocates,
    /// first and last.
    pub nat_ports: (u16, u16),
    /// Ports of the uplink's addresses published to containers of the
    /// network (`docker run -p`).
    pub publish: Vec<Publish>,
    /// Containers of the network may reach each other on L2 (Docker's
    /// `enable_icc`); when false only the gateway is reachable.
    pub icc: bool,
}

/// A published port range: new connections from outside to `host_ip` at
/// a port of `host_ports` are sent to `container` at the port as far into
/// its range (destination NAT), their source kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish {
    /// TCP or UDP (the IP protocol number).
    pub proto: u8,
    /// The uplink address it is published on.
    pub host_ip: Ipv4Addr,
    /// First and last published port.
    pub host_ports: (u16, u16),
    /// The container's address.
    pub container: Ipv4Addr,
    /// The container port the first published port maps to.
    pub container_port: u16,
}

impl Publish {
    /// True if a frame of `proto` to `addr` at `port` is for this range.
    pub fn matches(&self, proto: u8, addr: Ipv4Addr, port: u16) -> bool {
        self.proto == proto
            && self.host_ip == addr
            && (self.host_ports.0..=self.host_ports.1).contains(&port)
    }

    /// The container port `host_port` maps to.
    pub fn container_port_for(&self, host_port: u16) -> u16 {
        self.container_port
            .wrapping_add(host_port.wrapping_sub(self.host_ports.0))
    }
}

impl NetworkSpec {
    /// Connections from or to the network are tracked when they may be
    /// translated.
    pub fn needs_nat(&self) -> bool {
        self.masquerade || !self.publish.is_empty()
    }

    /// The index of the published range a frame of `proto` to `addr` at
    /// `port` is for.
    pub fn published(&self, proto: u8, addr: Ipv4Addr, port: u16) -> Option<usize> {
        self.publish
            .iter()
            .position(|p| p.matches(proto, addr, port))
    }
}

/// The most published ranges a network has (a ct action names one in a
/// byte).
pub const MAX_PUBLISHED: usize = 256;

/// The ports masquerade allocates unless configured: Linux's default
/// `net.ipv4.ip_local_port_range`.
pub const DEFAULT_NAT_PORTS: (u16, u16) = (32768, 60999);

/// The conntrack zone of the connections that leave by uplink `u`
/// translated: one per uplink (not per network), because replies come in
/// on the uplink addressed to its address and must find their connection
/// without knowing the network (as OVN's SNAT zone is the router's).
pub fn nat_zone(uplink: u16) -> u16 {
    0x8000 | uplink
}

impl NetworkSpec {
    /// True if `addr` is inside the subnet.
    #[inline]
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        let (net, len) = self.subnet;
        let mask = prefix_mask(len);
        u32::from(addr) & mask == u32::from(net) & mask
    }

    /// True if a rebuild from this spec to `other` keeps the network's
    /// learned state: the same name, bridge, VLAN and subnet.
    pub fn keeps_state_for(&self, other: &NetworkSpec) -> bool {
        self.name == other.name
            && self.bridge == other.bridge
            && self.vlan == other.vlan
            && self.subnet == other.subnet
            && self.subnet6 == other.subnet6
    }

    /// True if `addr` is inside the IPv4 or the IPv6 subnet.
    #[inline]
    pub fn contains_addr(&self, addr: IpAddr) -> bool {
        match (addr, self.subnet6) {
            (IpAddr::V4(a), _) => self.contains(a),
            (IpAddr::V6(a), Some((net, len))) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(len.min(128)))
                    .unwrap_or(0);
                u128::from(a) & mask == u128::from(net) & mask
            }
            (IpAddr::V6(_), None) => false,
        }
    }

    /// The gateway's address of `addr`'s family, if it has one.
    #[inline]
    pub fn gateway_for(&self, addr: IpAddr) -> Option<IpAddr> {
        match addr {
            IpAddr::V4(_) => Some(IpAddr::V4(self.gateway)),
            IpAddr::V6(_) => self.gateway6.map(IpAddr::V6),
        }
    }

    /// The subnet's directed broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        let (net, len) = self.subnet;
        Ipv4Addr::from(u32::from(net) | !prefix_mask(len))
    }
}

/// The mask of a prefix of `len` bits.
#[inline]
pub fn prefix_mask(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

/// A fixed-window rate limit shared by the workers without a lock: one
/// atomic holds the current second (high half) and what was sent in it
/// (low half).
#[derive(Debug, Default)]
pub struct IcmpLimiter {
    window: AtomicU64,
    suppressed: AtomicU64,
}

impl IcmpLimiter {
    /// True when one more message may go at `now`; counts it, or counts it
    /// suppressed.
    pub fn allow(&self, now: u32) -> bool {
        let mut current = self.window.load(Ordering::Relaxed);
        // Bounded: each failed exchange means another worker sent one.
        for _ in 0..8 {
            let (second, sent) = ((current >> 32) as u32, current as u32);
            let next = if second != now {
                (u64::from(now) << 32) | 1
            } else if sent < ICMP_ERRORS_PER_SEC {
                current + 1
            } else {
                break;
            };
            match self.window.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Messages not sent because of the limit, since the network was made.
    pub fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }
}

/// A network's learned state, kept across configuration changes that keep
/// the network (same name, bridge, VLAN and subnet).
pub struct NetworkState {
    /// Its hosts and next hops: IP to MAC (low 48 bits; 0 while unresolved).
    pub neighbours: AddrTable,
    /// The limit on the ICMP errors it sends.
    pub icmp: IcmpLimiter,
}

/// A network of the datapath.
pub struct Network {
    /// Configuration.
    pub spec: NetworkSpec,
    /// Learned state.
    pub state: Arc<NetworkState>,
}

impl Network {
    /// Builds `spec`'s network, with `kept` state or new state.
    pub fn new(spec: &NetworkSpec, kept: Option<Arc<NetworkState>>, seed: u64) -> Network {
        let state = kept.unwrap_or_else(|| {
            Arc::new(NetworkState {
                neighbours: AddrTable::new(MAX_NEIGHBOURS, seed),
                icmp: IcmpLimiter::default(),
            })
        });
        Network {
            spec: spec.clone(),
            state,
        }
    }
}

/// The networks of `spec`, keeping the learned state of those in `kept`
/// with the same name, bridge, VLAN and subnets.
pub(crate) fn build_networks(
    spec: &DatapathSpec,
    seed: u64,
    kept: &[(NetworkSpec, Arc<NetworkState>)],
) -> Result<Box<[Network]>, SpecError> {
    if spec.networks.len() > u16::MAX as usize {
        return Err(SpecError("too many networks".into()));
    }
    let mut networks = Vec::with_capacity(spec.networks.len());
    for (n, net) in spec.networks.iter().enumerate() {
        if net.bridge >= spec.bridges.len() {
            return Err(SpecError(format!("network {} names no bridge", net.name)));
        }
        if net.uplink.is_some_and(|u| u >= spec.uplinks.len()) {
            return Err(SpecError(format!("network {} names no uplink", net.name)));
        }
        if net.publish.len() > MAX_PUBLISHED {
            return Err(SpecError(format!(
                "network {} publishes more than {MAX_PUBLISHED} ranges",
                net.name
            )));
        }
        if net.routes_to.iter().any(|r| *r >= spec.networks.len()) {
            return Err(SpecError(format!(
                "network {} routes to a network that is not there",
                net.name
            )));
        }
        if spec.networks[..n]
            .iter()
            .any(|o| o.bridge == net.bridge && o.vlan == net.vlan)
        {
            return Err(SpecError(format!(
                "network {} shares its bridge VLAN with another network",
                net.name
            )));
        }
        let state = kept
            .iter()
            .find_map(|(old, state)| old.keeps_state_for(net).then(|| Arc::clone(state)));
        networks.push(Network::new(
            net,
            state,
            seed ^ (n as u64 + 1).wrapping_mul(0x5851_f42d),
        ));
    }
    Ok(networks.into())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod datapath_tests;

#[cfg(test)]
mod datapath6_tests;

#[cfg(test)]
mod nat_tests;
