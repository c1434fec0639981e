//! Ordered action lists: what the stages decided for one frame, executed by
//! egress in order while the frame is copied into its output slots.
//!
//! As in OpenFlow, edits (VLAN push/pop/set, set-field) change the frame
//! that later outputs send, and a list may hold any number of outputs. A
//! list is a fixed array of small `Copy` values, so building, caching and
//! copying one allocates nothing.

use crate::drop::DropReason;
use crate::flow::Mac;
use crate::mac_table::PortId;

/// The most actions one frame's list holds; a stage that would add more
/// drops the frame with [`DropReason::TooManyActions`].
pub const MAX_ACTIONS: usize = 8;

/// One step of a frame's action list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send the frame, as edited so far, out of a port.
    Output(PortId),
    /// Send it out of every member of a flood group except the port it came
    /// in on, each member with its own VLAN tagging
    /// (see [`crate::datapath::FloodMember`]).
    Flood(u16),
    /// Insert an 802.1Q tag with this TCI as the outer tag.
    PushVlan(u16),
    /// Remove the outer VLAN tag.
    PopVlan,
    /// Rewrite the VID of the outer tag, keeping its TPID and priority.
    SetVlanVid(u16),
    /// Rewrite the source MAC.
    SetEthSrc(Mac),
    /// Rewrite the destination MAC.
    SetEthDst(Mac),
    /// Rewrite the IPv4 source address, updating the IPv4, TCP and UDP
    /// checksums incrementally (RFC 1624).
    SetIpv4Src([u8; 4]),
    /// Rewrite the IPv4 destination address, checksums as for `SetIpv4Src`.
    SetIpv4Dst([u8; 4]),
    /// Rewrite the TCP/UDP source port, updating the L4 checksum.
    SetL4Src(u16),
    /// Rewrite the TCP/UDP destination port, updating the L4 checksum.
    SetL4Dst(u16),
    /// Decrement the IPv4 TTL / IPv6 hop limit (checksum updated).
    DecTtl,
    /// Put the following outputs inside the outer headers of a tunnel,
    /// addressed to one of its remote VTEPs.
    Encap {
        /// The tunnel's index in the datapath.
        tunnel: u16,
        /// The remote's slot in the tunnel's VTEP table.
        vtep: u16,
    },
    /// Send the frame, encapsulated, to every remote VTEP of a tunnel
    /// (head-end replication: broadcast, multicast and destinations whose
    /// VTEP is not known).
    Replicate(u16),
    /// Answer the ARP request or IPv6 neighbour solicitation for one of
    /// the switch's addresses (an uplink's VTEP address, or the gateway of
    /// the network the frame came in on), out of the port it came in on.
    AnswerNeighbour,
    /// Send an ICMP message about the frame back to its sender, from the
    /// address of the gateway (network or uplink) it came in through.
    IcmpReply(IcmpKind),
    /// Send an ARP request (IPv6: a neighbour solicitation) for the
    /// frame's destination from network `network`'s gateway into its VLAN,
    /// unless one went less than a second ago.
    ResolveInNetwork {
        /// The network's index in the datapath.
        network: u16,
    },
    /// Send an ARP request (IPv6: a neighbour solicitation) for the next
    /// hop towards the frame's destination out of uplink `uplink`, unless
    /// one went less than a second ago.
    ResolveOnUplink {
        /// The uplink's index in the datapath.
        uplink: u16,
    },
    /// Strip the tunnel headers that decapsulation recorded and run the
    /// inner frame through the pipeline again from the tunnel's port.
    Decap,
    /// Run the frame through the connection tracker of `zone`; the tracker
    /// fills [`crate::context::CtMeta`] and the frame is recirculated.
    Ct {
        /// The zone.
        zone: u16,
        /// Commit a new connection to the table.
        commit: bool,
        /// What NAT does to the frame.
        nat: CtNat,
    },
    /// Run the frame through the connection tracker of `zone`, committing
    /// a new connection, and go on with the rest of the list, translated:
    /// for a frame whose decision after the tracker is known before it
    /// (masquerade out of the uplink, with no ACL to consult on the
    /// state), one pass instead of [`Action::Ct`]'s two. An INVALID frame
    /// is dropped (`ct_invalid`).
    CtThrough {
        /// The zone.
        zone: u16,
        /// What NAT does to the frame.
        nat: CtNat,
    },
    /// Apply the edits so far to the frame and run it through its port's
    /// stages again (with the context's tunnel and ct state).
    Recirculate,
    /// Drop the frame; nothing after this runs.
    Drop(DropReason),
}

/// The NAT part of a ct action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CtNat {
    /// No translation.
    #[default]
    None,
    /// Translate frames of connections that have a translation.
    Apply,
    /// As `Apply`, and a new connection gets its source translated to the
    /// IPv4 address of network `network`'s uplink, with a port of the
    /// network's `nat_ports` (masquerade).
    Masquerade {
        /// The network's index in the datapath.
        network: u16,
    },
    /// As `Apply`, and a new connection gets its destination translated
    /// by published range `rule` of network `network` (from outside).
    Publish {
        /// The network's index in the datapath.
        network: u16,
        /// The range's index in the network's `publish` (a network has
        /// at most 256: checked by the datapath).
        rule: u8,
    },
    /// As `Publish`, for a connection from inside network `network`
    /// itself (hairpin): its source is translated to the network's
    /// gateway too, so that the container's answer comes back through
    /// the switch.
    Hairpin {
        /// The network's index in the datapath.
        network: u16,
        /// The range's index in the network's `publish` (a network has
        /// at most 256: checked by the datapath).
        rule: u8,
    },
}

/// The ICMP messages a gateway sends about a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpKind {
    /// Echo reply to an echo request for the gateway address.
    EchoReply,
    /// Time exceeded in transit (type 11 code 0): TTL 1 or 0 to route.
    TimeExceeded,
    /// Destination unreachable, net unreachable (type 3 code 0).
    NetUnreachable,
    /// Destination unreachable, communication administratively prohibited
    /// (type 3 code 13, RFC 1812): routing there is not allowed.
    AdminProhibited,
}

impl IcmpKind {
    /// ICMP type and code.
    pub fn type_code(self) -> (u8, u8) {
        match self {
            IcmpKind::EchoReply => (0, 0),
            IcmpKind::TimeExceeded => (11, 0),
            IcmpKind::NetUnreachable => (3, 0),
            IcmpKind::AdminProhibited => (3, 13),
        }
    }

    /// Its name in action lists.
    pub fn name(self) -> &'static str {
        match self {
            IcmpKind::EchoReply => "echo_reply",
            IcmpKind::TimeExceeded => "time_exceeded",
            IcmpKind::NetUnreachable => "net_unreachable",
            IcmpKind::AdminProhibited => "admin_prohibited",
        }
    }

    /// ICMPv6 type and code (RFC 4443: time exceeded 3/0, no route 1/0,
    /// administratively prohibited 1/1, echo reply 129).
    pub fn type_code_v6(self) -> (u8, u8) {
        match self {
            IcmpKind::EchoReply => (129, 0),
            IcmpKind::TimeExceeded => (3, 0),
            IcmpKind::NetUnreachable => (1, 0),
            IcmpKind::AdminProhibited => (1, 1),
        }
    }
}

impl core::fmt::Display for IcmpKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            IcmpKind::EchoReply => "icmp echo reply",
            IcmpKind::TimeExceeded => "icmp time exceeded",
            IcmpKind::NetUnreachable => "icmp net unreachable",
            IcmpKind::AdminProhibited => "icmp administratively prohibited",
        })
    }
}

/// A frame's actions, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionList {
    actions: [Action; MAX_ACTIONS],
    len: u8,
}

impl Default for ActionList {
    fn default() -> Self {
        ActionList {
            actions: [Action::PopVlan; MAX_ACTIONS],
            len: 0,
        }
    }
}

impl ActionList {
    /// Empties the list.
    #[inline(always)]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `action`; when the list is full the frame is dropped instead
    /// (the last slot becomes `Drop(TooManyActions)`).
    #[inline(always)]
    pub fn push(&mut self, action: Action) {
        match self.actions.get_mut(self.len as usize) {
            Some(slot) if (self.len as usize) < MAX_ACTIONS - 1 || is_terminal(&action) => {
                *slot = action;
                self.len += 1;
            }
            _ => {
                if let Some(last) = self.actions.last_mut() {
                    *last = Action::Drop(DropReason::TooManyActions);
                }
                self.len = MAX_ACTIONS as u8;
            }
        }
    }

    /// Replaces the list with a single drop.
    #[inline(always)]
    pub fn set_drop(&mut self, reason: DropReason) {
        self.actions[0] = Action::Drop(reason);
        self.len = 1;
    }

    /// The actions, in order.
    #[inline(always)]
    pub fn as_slice(&self) -> &[Action] {
        self.actions.get(..self.len as usize).unwrap_or(&[])
    }

    /// True when no action was added.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Replaces the action at `index` by `first` followed by `second`,
    /// shifting the rest; false (and the list unchanged) when it is full.
    pub fn replace_with_two(&mut self, index: usize, first: Action, second: Action) -> bool {
        let len = self.len as usize;
        if index >= len || len >= MAX_ACTIONS {
            return false;
        }
        self.actions.copy_within(index + 1..len, index + 2);
        self.actions[index] = first;
        self.actions[index + 1] = second;
        self.len += 1;
        true
    }

    /// Replaces the action at `index`.
    pub fn set(&mut self, index: usize, action: Action) {
        if index < self.len as usize {
            self.actions[index] = action;
        }
    }

    /// The reason, when the list ends in a drop.
    #[inline(always)]
    pub fn drop_reason(&self) -> Option<DropReason> {
        match self.as_slice().last() {
            Some(Action::Drop(reason)) => Some(*reason),
            _ => None,
        }
    }
}

/// Actions after which nothing else of the list runs.
fn is_terminal(action: &Action) -> bool {
    matches!(action, Action::Drop(_))
}

impl Action {
    /// True for [`Action::CtThrough`].
    pub fn tracks_through(&self) -> bool {
        matches!(self, Action::CtThrough { .. })
    }

    /// The zone of a ct action ([`Action::Ct`], [`Action::CtThrough`]).
    pub fn ct_zone(&self) -> Option<u16> {
        match *self {
            Action::Ct { zone, .. } | Action::CtThrough { zone, .. } => Some(zone),
            _ => None,
        }
    }
}

impl core::fmt::Display for Action {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mac = |m: &Mac| {
            format!(
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            )
        };
        match self {
            Action::Output(p) => write!(f, "output:{p}"),
            Action::Flood(g) => write!(f, "flood:group{g}"),
            Action::PushVlan(tci) => write!(f, "push_vlan:{}", tci & 0x0fff),
            Action::PopVlan => f.write_str("pop_vlan"),
            Action::SetVlanVid(v) => write!(f, "set_vlan_vid:{v}"),
            Action::SetEthSrc(m) => write!(f, "set_eth_src:{}", mac(m)),
            Action::SetEthDst(m) => write!(f, "set_eth_dst:{}", mac(m)),
            Action::SetIpv4Src(a) => write!(f, "set_ipv4_src:{}", std::net::Ipv4Addr::from(*a)),
            Action::SetIpv4Dst(a) => write!(f, "set_ipv4_dst:{}", std::net::Ipv4Addr::from(*a)),
            Action::SetL4Src(p) => write!(f, "set_l4_src:{p}"),
            Action::SetL4Dst(p) => write!(f, "set_l4_dst:{p}"),
            Action::DecTtl => f.write_str("dec_ttl"),
            Action::Encap { tunnel, vtep } => write!(f, "encap(tunnel={tunnel},vtep={vtep})"),
            Action::Replicate(t) => write!(f, "replicate(tunnel={t})"),
            Action::AnswerNeighbour => f.write_str("answer_neighbour"),
            Action::IcmpReply(kind) => write!(f, "icmp_reply({})", kind.name()),
            Action::ResolveInNetwork { network } => write!(f, "resolve(network={network})"),
            Action::ResolveOnUplink { uplink } => write!(f, "resolve(uplink={uplink})"),
            Action::Decap => f.write_str("decap"),
            Action::Ct { zone, commit, nat } => {
                write!(f, "ct(zone={zone}{}", if *commit { ",commit" } else { "" })?;
                write_nat(f, nat)?;
                f.write_str(")")
            }
            Action::CtThrough { zone, nat } => {
                write!(f, "ct(zone={zone},commit")?;
                write_nat(f, nat)?;
                f.write_str(",continue)")
            }
            Action::Recirculate => f.write_str("recirculate"),
            Action::Drop(r) => write!(f, "drop({r})"),
        }
    }
}

/// The NAT part of a ct action, as `,nat(masquerade=0)`.
fn write_nat(f: &mut core::fmt::Formatter<'_>, nat: &CtNat) -> core::fmt::Result {
    match nat {
        CtNat::None => Ok(()),
        CtNat::Apply => f.write_str(",nat"),
        CtNat::Masquerade { network } => write!(f, ",nat(masquerade={network})"),
        CtNat::Publish { network, rule } => write!(f, ",nat(publish={network}.{rule})"),
        CtNat::Hairpin { network, rule } => write!(f, ",nat(hairpin={network}.{rule})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_keeps_order_and_overflow_drops() {
        let mut list = ActionList::default();
        assert!(list.is_empty());
        list.push(Action::PopVlan);
        list.push(Action::Output(3));
        assert_eq!(list.as_slice(), &[Action::PopVlan, Action::Output(3)]);
        assert_eq!(list.drop_reason(), None);
        for p in 0..20 {
            list.push(Action::Output(p));
        }
        assert_eq!(list.as_slice().len(), MAX_ACTIONS);
        assert_eq!(list.drop_reason(), Some(DropReason::TooManyActions));
        let mut two = ActionList::default();
        two.push(Action::PopVlan);
        two.push(Action::Output(3));
        two.push(Action::Output(4));
        assert!(two.replace_with_two(1, Action::Replicate(0), Action::Output(9)));
        assert_eq!(
            two.as_slice(),
            &[
                Action::PopVlan,
                Action::Replicate(0),
                Action::Output(9),
                Action::Output(4)
            ]
        );
        assert!(!list.replace_with_two(0, Action::PopVlan, Action::PopVlan));
        list.set_drop(DropReason::NoFloodPorts);
        assert_eq!(list.as_slice(), &[Action::Drop(DropReason::NoFloodPorts)]);
    }

    #[test]
    fn an_action_is_eight_bytes() {
        // Lists are copied into and out of the flow cache per packet.
        assert_eq!(core::mem::size_of::<Action>(), 8);
    }
}
