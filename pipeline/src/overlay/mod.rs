//! Overlay networks: VXLAN (RFC 7348) and Geneve (RFC 8926) tunnels whose
//! endpoint (VTEP) is the switch, carried over an uplink port.
//!
//! - A **tunnel port** is a bridge port without a device: frames the bridge
//!   sends to it are encapsulated towards remote VTEPs and leave by the
//!   tunnel's uplink; frames decapsulated on the uplink enter the bridge
//!   from it. One tunnel port carries one VNI.
//! - An **uplink** is a port outside every bridge, towards the underlay. It
//!   owns the VTEP addresses: it answers ARP and IPv6 neighbour
//!   solicitations for them, keeps a neighbour table (IP to MAC, with
//!   aging) for the next hops of remote VTEPs, and decapsulates what is
//!   sent to them.
//!
//! Learned state lives here beside the configuration, as the MAC tables do:
//! each tunnel's remote VTEPs ([`TunnelState::vteps`]) and which inner MAC
//! sits behind which VTEP ([`TunnelState::macs`], learned from the outer
//! source of decapsulated frames); each uplink's neighbours.

pub mod addr_table;
pub(crate) mod build;
pub(crate) mod decap;
pub mod egress;

use std::net::IpAddr;
use std::sync::Arc;

pub use addr_table::{AddrEntry, AddrTable, Origin};

use crate::datapath::EncapTemplate;
use crate::flow::Mac;
use crate::mac_table::{MacTable, PortId};
use crate::wire::{geneve, vxlan, FrameBuilder, Ipv4Outer, Ipv6Outer};

/// Remote VTEPs one tunnel knows at most.
pub const MAX_VTEPS: usize = 1024;

/// Neighbours one uplink keeps at most.
pub const MAX_NEIGHBOURS: usize = 1024;

/// Seconds a neighbour entry is used without being confirmed; after that
/// the frames that use it trigger a new request (once a second) while it
/// stays in use.
pub const NEIGHBOUR_REFRESH_SECS: u32 = 30;

/// Seconds after which an unconfirmed neighbour entry is removed.
pub const NEIGHBOUR_AGING_SECS: u32 = 300;

/// Which tunnel protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelKind {
    /// VXLAN, RFC 7348.
    Vxlan,
    /// Geneve, RFC 8926.
    Geneve,
}

impl TunnelKind {
    /// Its name in configuration and traces.
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
        }
    }

    /// The IANA-assigned UDP port.
    pub fn default_port(self) -> u16 {
        match self {
            TunnelKind::Vxlan => vxlan::DEFAULT_PORT,
            TunnelKind::Geneve => geneve::DEFAULT_PORT,
        }
    }
}

/// A Geneve option a tunnel sends and understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneveOptionSpec {
    /// Option Class.
    pub class: u16,
    /// Type (its high bit is the critical bit).
    pub kind: u8,
    /// Data, a multiple of 4 bytes.
    pub data: Vec<u8>,
}

/// A tunnel port's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelSpec {
    /// Protocol.
    pub kind: TunnelKind,
    /// The uplink port that carries it.
    pub uplink: PortId,
    /// Its VNI (24 bits).
    pub vni: u32,
    /// UDP destination port.
    pub udp_port: u16,
    /// The local VTEP address (one of the uplink's).
    pub local: IpAddr,
    /// Configured remote VTEPs.
    pub remotes: Vec<IpAddr>,
    /// Inner MACs configured behind a remote VTEP (one of `remotes`).
    pub static_macs: Vec<(Mac, IpAddr)>,
    /// Accept frames from any VTEP and add it to the remotes (flooding
    /// then reaches it); otherwise only `remotes` are accepted.
    pub learn_remotes: bool,
    /// Outer TTL / hop limit.
    pub ttl: u8,
    /// Outer TOS / traffic class.
    pub tos: u8,
    /// Outer IPv4 Don't Fragment.
    pub dont_fragment: bool,
    /// Compute the outer UDP checksum over IPv4 (always done over IPv6).
    pub udp_checksum: bool,
    /// Geneve options sent on every frame; the critical options received
    /// that the tunnel understands are these.
    pub geneve_options: Vec<GeneveOptionSpec>,
}

/// An uplink's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UplinkSpec {
    /// Its stable port id.
    pub id: PortId,
    /// Its name.
    pub name: String,
    /// The MAC it sends from and answers neighbour discovery with.
    pub mac: Mac,
    /// Its VTEP addresses with their prefix lengths (on-link subnets).
    pub addresses: Vec<(IpAddr, u8)>,
    /// The next hop for remote VTEPs outside those subnets.
    pub gateway: Option<IpAddr>,
    /// The largest IP packet the underlay carries.
    pub mtu: u16,
    /// Neighbours configured rather than resolved (never aged).
    pub static_neighbours: Vec<(IpAddr, Mac)>,
}

impl UplinkSpec {
    /// Its first IPv4 address: what masquerade translates sources to.
    pub fn ipv4(&self) -> Option<std::net::Ipv4Addr> {
        self.addresses.iter().find_map(|(a, _)| match a {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        })
    }

    /// True if `addr` is one of its VTEP addresses.
    #[inline]
    pub fn owns(&self, addr: IpAddr) -> bool {
        self.addresses.iter().any(|(a, _)| *a == addr)
    }

    /// The address frames to `remote` are sent to on the link: `remote`
    /// itself when it is inside one of the uplink's subnets, else the
    /// gateway.
    #[inline]
    pub fn next_hop(&self, remote: IpAddr) -> Option<IpAddr> {
        if self
            .addresses
            .iter()
            .any(|(a, len)| same_subnet(*a, remote, *len))
        {
            return Some(remote);
        }
        self.gateway
    }
}

/// True if `a` and `b` share their first `len` bits (and a family).
pub fn same_subnet(a: IpAddr, b: IpAddr, len: u8) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// A tunnel's learned state, kept across configuration changes that keep
/// the tunnel.
pub struct TunnelState {
    /// Remote VTEPs, configured and learned; a slot's index is what
    /// [`crate::action::Action::Encap`] names.
    pub vteps: AddrTable,
    /// Inner MAC to the VTEP slot it was learned behind (VLAN 0).
    pub macs: MacTable,
}

impl TunnelState {
    /// Empty state for a tunnel whose bridge holds `mac_limit` MACs.
    pub fn new(mac_limit: u32, aging_secs: u32, seed: u64) -> TunnelState {
        TunnelState {
            vteps: AddrTable::new(MAX_VTEPS, seed),
            macs: MacTable::new(mac_limit, aging_secs, seed.rotate_left(17)),
        }
    }

    /// What cached decisions through the tunnel depend on.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.macs.generation().wrapping_add(self.vteps.generation())
    }
}

/// A tunnel port of the datapath.
pub struct Tunnel {
    /// Its port id.
    pub port: PortId,
    /// Its name.
    pub name: String,
    /// Configuration.
    pub spec: TunnelSpec,
    /// Index of its uplink in the datapath.
    pub uplink: u16,
    /// Outer headers with the remote's addresses left zero.
    pub template: EncapTemplate,
    /// Learned state.
    pub state: Arc<TunnelState>,
}

/// An uplink of the datapath.
pub struct Uplink {
    /// Configuration.
    pub spec: UplinkSpec,
    /// Its neighbours (IP to MAC as the low 48 bits; 0 while unresolved).
    pub neighbours: Arc<AddrTable>,
    /// The tunnels it carries, by index in the datapath.
    pub tunnels: Box<[u16]>,
}

/// The sender hardware address of the ARP packet at `l3` in `frame` (the
/// parser checked it is Ethernet/IPv4 ARP); zeros if it is cut short.
pub(crate) fn arp_sender_mac(frame: &[u8], l3: u16) -> Mac {
    let packet =
        crate::wire::ArpPacket::new_unchecked(frame.get(l3 as usize..).unwrap_or_default());
    let mut mac = [0u8; 6];
    if let Some(bytes) = packet.source_hardware_addr().get(..6) {
        mac.copy_from_slice(bytes);
    }
    mac
}

/// A MAC as the low 48 bits of a word.
#[inline]
pub fn mac_to_word(mac: &Mac) -> u64 {
    mac.iter().fold(0u64, |w, b| (w << 8) | u64::from(*b))
}

/// The MAC in the low 48 bits of `word`.
#[inline]
pub fn word_to_mac(word: u64) -> Mac {
    let b = word.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// Builds the outer headers of `spec` sent from `uplink_mac`, with the
/// destination MAC and address zero (filled per frame from the VTEP and
/// its neighbour) and the UDP source port zero (set per frame from the
/// inner flow's hash).
pub fn build_template(spec: &TunnelSpec, uplink_mac: Mac) -> Result<EncapTemplate, String> {
    let mut buf = [0u8; 512];
    let end = buf.len();
    let mut options = [0u8; geneve::MAX_OPTIONS_LEN];
    let mut options_len = 0;
    for option in &spec.geneve_options {
        let view = geneve::GeneveOption {
            class: option.class,
            kind: option.kind,
            data: &option.data,
        };
        let rest = options.get_mut(options_len..).unwrap_or_default();
        options_len +=
            geneve::write_option(&view, rest).map_err(|e| format!("geneve option: {e}"))?;
    }
    let mut header = [0u8; geneve::HEADER_LEN + geneve::MAX_OPTIONS_LEN];
    let tunnel_header: &[u8] = match spec.kind {
        TunnelKind::Vxlan => {
            header[..vxlan::HEADER_LEN].copy_from_slice(&vxlan::header(spec.vni));
            &header[..vxlan::HEADER_LEN]
        }
        TunnelKind::Geneve => {
            let critical = spec.geneve_options.iter().any(|o| o.kind & 0x80 != 0);
            let len = geneve::emit_header(
                &mut header,
                spec.vni,
                geneve::PROTOCOL_ETHERNET,
                &options[..options_len],
                critical,
            )
            .map_err(|e| format!("geneve header: {e}"))?;
            &header[..len]
        }
    };
    let built = FrameBuilder::new(&mut buf, end)
        .and_then(|b| b.push_bytes(tunnel_header))
        .and_then(|b| b.push_udp(0, spec.udp_port));
    let built = match spec.local {
        IpAddr::V4(local) => built.and_then(|b| {
            b.push_ipv4(Ipv4Outer {
                src: local.octets(),
                dst: [0; 4],
                ttl: spec.ttl,
                tos: spec.tos,
                dont_fragment: spec.dont_fragment,
                ident: 0,
            })
        }),
        IpAddr::V6(local) => built.and_then(|b| {
            b.push_ipv6(Ipv6Outer {
                src: local.octets(),
                dst: [0; 16],
                hop_limit: spec.ttl,
                traffic_class: spec.tos,
                flow_label: 0,
            })
        }),
    };
    let builder = built
        .and_then(|b| b.push_ethernet([0; 6], uplink_mac))
        .map_err(|e| format!("tunnel headers: {e}"))?;
    let outer = builder.layout();
    let range = builder
        .finish(spec.udp_checksum)
        .map_err(|e| format!("tunnel headers: {e}"))?;
    let header = buf[range].to_vec();
    let ipv4_fixed_sum = (!outer.ipv6)
        .then(|| crate::wire::builder::ipv4_fixed_sum(header.get(outer.l3..).unwrap_or_default()));
    Ok(EncapTemplate {
        header,
        outer,
        udp_checksum: spec.udp_checksum,
        ipv4_fixed_sum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_hop_is_the_remote_on_link_else_the_gateway() {
        let uplink = UplinkSpec {
            id: 3,
            name: "up0".into(),
            mac: [2, 0, 0, 0, 0, 1],
            addresses: vec![
                ("10.200.0.1".parse().unwrap(), 24),
                ("fd00:200::1".parse().unwrap(), 64),
            ],
            gateway: Some("10.200.0.254".parse().unwrap()),
            mtu: 1500,
            static_neighbours: vec![],
        };
        let on_link: IpAddr = "10.200.0.7".parse().unwrap();
        assert_eq!(uplink.next_hop(on_link), Some(on_link));
        assert_eq!(uplink.next_hop("10.9.0.7".parse().unwrap()), uplink.gateway);
        let v6: IpAddr = "fd00:200::9".parse().unwrap();
        assert_eq!(uplink.next_hop(v6), Some(v6));
        assert!(uplink.owns("10.200.0.1".parse().unwrap()));
        assert!(!same_subnet(on_link, v6, 0));
        assert!(same_subnet(on_link, "1.2.3.4".parse().unwrap(), 0));
    }

    #[test]
    fn mac_words_round_trip() {
        let mac = [0x02, 0xab, 0, 0x10, 0xff, 7];
        assert_eq!(word_to_mac(mac_to_word(&mac)), mac);
        assert_eq!(mac_to_word(&mac) >> 48, 0);
    }
}

#[cfg(test)]
mod datapath_tests;
