//! Why a frame was dropped.
//!
//! Every frame the switch does not deliver is counted under exactly one
//! [`DropReason`]. The names are stable: they appear in replay summaries,
//! live statistics and packet traces, so operators can grep for them.

macro_rules! drop_reasons {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, )+) => {
        /// A named reason for dropping a frame.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum DropReason {
            $( $(#[$doc])* $variant, )+
        }

        impl DropReason {
            /// Every reason, in declaration order (the order of `as usize`).
            pub const ALL: &'static [DropReason] = &[ $( DropReason::$variant, )+ ];
            /// How many reasons there are: the size of a per-reason counter array.
            pub const COUNT: usize = Self::ALL.len();

            /// The stable snake_case name used in statistics and summaries.
            pub const fn name(self) -> &'static str {
                match self { $( DropReason::$variant => $name, )+ }
            }

            /// The reason with this stable name, if any.
            pub fn from_name(name: &str) -> Option<DropReason> {
                match name { $( $name => Some(DropReason::$variant), )+ _ => None }
            }
        }
    };
}

drop_reasons! {
    // --- parsing: the frame's headers are malformed or cut short ---
    /// Shorter than an Ethernet header (14 bytes).
    EthTruncated = "eth_truncated",
    /// A VLAN tag (802.1Q / 802.1ad) cut short.
    VlanTruncated = "vlan_truncated",
    /// More than two stacked VLAN tags.
    VlanTooManyTags = "vlan_too_many_tags",
    /// ARP shorter than its fixed part or than its stated address lengths.
    ArpTruncated = "arp_truncated",
    /// ARP for something other than Ethernet/IPv4 address lengths.
    ArpUnsupported = "arp_unsupported",
    /// IPv4 header cut short.
    Ipv4Truncated = "ipv4_truncated",
    /// IPv4 version field is not 4.
    Ipv4BadVersion = "ipv4_bad_version",
    /// IPv4 IHL below 5 or past the end of the frame.
    Ipv4BadHeaderLength = "ipv4_bad_header_length",
    /// IPv4 total length smaller than the header or larger than the frame.
    Ipv4BadTotalLength = "ipv4_bad_total_length",
    /// IPv6 header cut short.
    Ipv6Truncated = "ipv6_truncated",
    /// IPv6 version field is not 6.
    Ipv6BadVersion = "ipv6_bad_version",
    /// IPv6 payload length larger than the frame.
    Ipv6BadPayloadLength = "ipv6_bad_payload_length",
    /// An IPv6 extension header cut short, or a chain too long to follow.
    Ipv6BadExtensionHeader = "ipv6_bad_extension_header",
    /// TCP header cut short, or data offset below 5 or past the packet.
    TcpBadHeader = "tcp_bad_header",
    /// UDP header cut short, or its length field disagrees with the packet.
    UdpBadHeader = "udp_bad_header",
    /// ICMP or ICMPv6 header cut short.
    IcmpTruncated = "icmp_truncated",

    // --- ingress ---
    /// Source MAC is multicast, broadcast or all zeros.
    InvalidSourceMac = "invalid_source_mac",
    /// IEEE link-local control frame (01:80:c2:00:00:0x: STP, LLDP, pause);
    /// a switch must not forward it.
    LinkLocalControl = "link_local_control",
    /// A tagged frame arrived on an access port.
    TaggedOnAccessPort = "tagged_on_access_port",
    /// An untagged frame arrived on a trunk port with no native VLAN.
    UntaggedOnTrunkPort = "untagged_on_trunk_port",
    /// The frame's VLAN is not in the port's list of allowed VLANs.
    VlanNotAllowed = "vlan_not_allowed",
    /// The frame arrived on a port that belongs to no bridge.
    PortNotInBridge = "port_not_in_bridge",

    // --- port security (ports bound to their container's addresses) ---
    /// A source MAC other than the one the port is bound to.
    SpoofedMac = "spoofed_mac",
    /// An IPv4 or IPv6 source address the port is not bound to.
    SpoofedIp = "spoofed_ip",
    /// An ARP whose sender hardware or protocol address is not the port's.
    SpoofedArp = "spoofed_arp",
    /// A neighbour advertisement for an address that is not the port's, or
    /// a neighbour-discovery link-layer address option that is not its MAC.
    SpoofedNd = "spoofed_nd",
    /// A DHCP or DHCPv6 server message from a port not allowed to send them.
    DhcpServerDenied = "dhcp_server_denied",
    /// An IPv6 router advertisement from a port not allowed to send them.
    RouterAdvertisementDenied = "router_advertisement_denied",

    // --- L2 forwarding ---
    /// The destination was learned on the port the frame came in on.
    DestinationIsIngressPort = "destination_is_ingress_port",
    /// Flooding found no port other than the ingress port in the VLAN.
    NoFloodPorts = "no_flood_ports",

    // --- actions ---
    /// The stages decided more actions than a list holds.
    TooManyActions = "too_many_actions",
    /// No stage decided anything for the frame.
    NoAction = "no_action",
    /// A VLAN edit the frame's tags do not allow (pop or rewrite of a tag
    /// it does not have, a second push).
    UnsupportedVlanEdit = "unsupported_vlan_edit",
    /// A set-field action on a frame without that header (an IPv4 rewrite
    /// of a non-IPv4 frame, a port rewrite of a fragment).
    SetFieldPrerequisite = "set_field_prerequisite",
    /// TTL or hop limit would reach zero.
    TtlExpired = "ttl_expired",
    /// Decapsulation or recirculation of a frame it cannot apply to (no
    /// tunnel header recorded, edits pending before a decap).
    UnsupportedRecirculation = "unsupported_recirculation",
    /// A pushed VLAN tag before a recirculation found no room in front of
    /// the frame.
    RecirculationNoRoom = "recirculation_no_room",
    /// The frame re-entered the pipeline too often.
    RecirculationLimit = "recirculation_limit",
    /// A ct action on a worker without a connection tracker.
    NoConntrack = "no_conntrack",
    /// A new connection committed by a ct action while the connection
    /// table was full and nothing in it could be evicted.
    CtTableFull = "ct_table_full",
    /// A new connection to translate (masquerade) for which no port of
    /// the range was free towards its destination.
    NatPortsExhausted = "nat_ports_exhausted",
    /// A frame of a network with NAT that connection tracking found
    /// INVALID (out of window, not starting a connection, ...).
    CtInvalid = "ct_invalid",
    /// An IPv4 fragment overlapping another of its datagram: the whole
    /// datagram is dropped (see `conntrack::frag`).
    FragOverlap = "frag_overlap",
    /// An IPv4 fragment that would make its datagram longer than 65,535
    /// bytes or cut into more than 64 fragments.
    FragTooBig = "frag_too_big",
    /// An IPv4 fragment of a new datagram while the worker holds as many
    /// partial datagrams as it may.
    FragTableFull = "frag_table_full",
    /// A fragment of a datagram not whole within the timeout (30 s).
    FragTimeout = "frag_timeout",
    /// An IPv4 fragment whose lengths contradict its datagram's (a
    /// non-last fragment not a multiple of 8 bytes, two different ends).
    FragMalformed = "frag_malformed",
    /// An exact copy of a fragment already held.
    FragDuplicate = "frag_duplicate",
    /// A frame to an uplink's address that belongs to no translated
    /// connection.
    NatNoConnection = "nat_no_connection",
    /// A frame between two containers of a network with `icc = false`.
    IccDenied = "icc_denied",
    /// A frame starting a connection the ACLs of its ports do not allow.
    AclDenied = "acl_denied",

    // --- tunnels (VXLAN, RFC 7348; Geneve, RFC 8926) and their uplink ---
    /// A VXLAN header cut short (fewer than 8 bytes after the UDP header).
    VxlanTruncated = "vxlan_truncated",
    /// A VXLAN header without the I flag (RFC 7348 section 5: "The I flag
    /// MUST be set to 1 for a valid VXLAN Network ID").
    VxlanBadFlags = "vxlan_bad_flags",
    /// A Geneve header or its options cut short.
    GeneveTruncated = "geneve_truncated",
    /// A Geneve version other than 0 (RFC 8926 section 3.4: "Packets
    /// received by a tunnel endpoint with an unknown version MUST be
    /// dropped").
    GeneveBadVersion = "geneve_bad_version",
    /// Geneve options whose lengths do not add up to the header's.
    GeneveBadOptions = "geneve_bad_options",
    /// A Geneve payload that is not an Ethernet frame (Protocol Type other
    /// than 0x6558).
    GeneveNotEthernet = "geneve_not_ethernet",
    /// A Geneve option with the critical bit that this tunnel does not
    /// understand (RFC 8926 section 3.5).
    GeneveCriticalOption = "geneve_critical_option",
    /// A tunnel frame for our address and port whose VNI no tunnel has.
    TunnelUnknownVni = "tunnel_unknown_vni",
    /// A tunnel frame from a VTEP that is not among the tunnel's remotes.
    TunnelUnknownRemote = "tunnel_unknown_remote",
    /// A tunnel frame whose outer UDP checksum is non-zero and wrong.
    TunnelBadUdpChecksum = "tunnel_bad_udp_checksum",
    /// A tunnel frame that is an outer IP fragment (VTEPs do not
    /// reassemble; RFC 7348 section 4.3).
    TunnelOuterFragment = "tunnel_outer_fragment",
    /// A frame on an uplink that is neither tunnel traffic nor neighbour
    /// discovery for one of the switch's VTEP addresses.
    UplinkNotForUs = "uplink_not_for_us",
    /// An ARP frame on an uplink, consumed: answered when it asks for a
    /// VTEP address, its sender learned as a neighbour.
    UplinkArp = "uplink_arp",
    /// An IPv6 neighbour discovery frame on an uplink, consumed as ARP is.
    UplinkNdp = "uplink_ndp",
    /// A frame from one tunnel towards another (split horizon: tunnels
    /// form a full mesh, so one never forwards into another).
    TunnelSplitHorizon = "tunnel_split_horizon",
    /// A frame to be replicated into a tunnel that knows no remote VTEP.
    TunnelNoRemotes = "tunnel_no_remotes",
    /// A frame for a VTEP whose next hop's MAC is not known yet (an ARP or
    /// neighbour solicitation is sent).
    NeighbourUnresolved = "neighbour_unresolved",
    /// A frame that no longer fits the uplink's MTU once encapsulated (an
    /// ICMP fragmentation-needed or packet-too-big goes back to its sender
    /// when it is an IP packet a router would report).
    EncapTooBig = "encap_too_big",

    // --- gateways of container networks (L3) ---
    /// A frame to route whose TTL is 1 or 0 (an ICMP time exceeded goes
    /// back to its sender).
    RouteTtlExpired = "route_ttl_expired",
    /// A frame to route to a destination no network or uplink leads to
    /// (an ICMP net unreachable goes back).
    NoRoute = "no_route",
    /// A frame to route into a network its own network may not route to
    /// (an ICMP administratively prohibited goes back).
    RouteNotAllowed = "route_not_allowed",
    /// A frame to route whose next hop's MAC is not known yet (an ARP
    /// request goes out from the gateway).
    RouteNeighbourUnresolved = "route_neighbour_unresolved",
    /// A frame to route to a network's broadcast address (directed
    /// broadcasts are not forwarded, RFC 2644).
    RouteBroadcast = "route_broadcast",
    /// A frame for a gateway address that is not an echo request.
    GatewayNotEcho = "gateway_not_echo",
    /// An ARP or NDP frame for a gateway that is not a request it answers
    /// (a reply to the gateway's own request, duplicate address
    /// detection): consumed, its sender learned.
    GatewayArp = "gateway_arp",
    /// A frame to a gateway MAC of a family its network routes not: IPv6
    /// to a network without an IPv6 subnet, or neither IPv4 nor IPv6.
    RouteFamilyUnconfigured = "route_family_unconfigured",

    // --- egress ---
    /// The output port's transmit queue was full.
    TxQueueFull = "tx_queue_full",
    /// The frame does not fit the output buffer after egress edits.
    TxFrameTooLong = "tx_frame_too_long",
    /// The frame's partial checksum or segmentation offload does not fit
    /// its headers (offsets past the frame, a GSO type that is not its
    /// protocol, a segment size of 0), so it cannot be completed.
    BadOffload = "bad_offload",
    /// The output port refused the frame (a TAP write failed, the device
    /// is gone, an inbox of another worker was full): counted per frame.
    TxError = "tx_error",
    /// The output port is down: its interface is gone (deleted, or
    /// replaced by another of the same name) until it returns.
    PortDown = "port_down",
    /// A receive buffer could not hold the frame (longer than the port's frame capacity).
    RxFrameTooLong = "rx_frame_too_long",
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert!(seen.insert(r.name()), "duplicate name {}", r.name());
            assert_eq!(DropReason::from_name(r.name()), Some(*r));
        }
        assert_eq!(DropReason::from_name("no_such_reason"), None);
    }
}
