//! The parsed flow key: what every stage reads instead of the frame's bytes.
//!
//! A frame is parsed once ([`crate::parse::parse`]) into a [`FlowKey`] (the
//! fields stages match on) and a [`Layout`] (where each header starts, so a
//! stage that rewrites bytes, like NAT or VLAN egress, does not search again).
//! Both are plain `Copy` values with no pointers into the frame.

/// A MAC address, in wire order.
pub type Mac = [u8; 6];

/// The all-ones broadcast address.
pub const BROADCAST: Mac = [0xff; 6];

/// True if the group bit (I/G, the least significant bit of the first
/// octet) is set: broadcast and multicast addresses.
#[inline]
pub const fn is_multicast(mac: &Mac) -> bool {
    mac[0] & 1 == 1
}

/// True for the IEEE 802.1D reserved link-local group 01:80:C2:00:00:00-0F
/// (STP, pause, LACP, 802.1X, LLDP). Bridges must not forward these.
#[inline]
pub const fn is_link_local_control(mac: &Mac) -> bool {
    mac[0] == 0x01
        && mac[1] == 0x80
        && mac[2] == 0xc2
        && mac[3] == 0x00
        && mac[4] == 0x00
        && mac[5] & 0xf0 == 0
}

/// Fragment state of an IP packet, as far as the flow key cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum IpFrag {
    /// Not a fragment (or not IP).
    #[default]
    None = 0,
    /// The first fragment: L4 header present.
    First = 1,
    /// A later fragment: no L4 header, L4 fields are zero.
    Later = 2,
}

/// The fields of a frame that stages match on. All integers are in host
/// order; addresses are byte arrays in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    /// Destination MAC.
    pub eth_dst: Mac,
    /// Source MAC.
    pub eth_src: Mac,
    /// VLAN ID of the outermost tag (802.1Q or 802.1ad), 0 when untagged or
    /// priority-tagged.
    pub vlan: u16,
    /// VLAN ID of the second tag in a QinQ frame, 0 when there is none.
    pub inner_vlan: u16,
    /// Ethertype after any VLAN tags (0x0800 IPv4, 0x86dd IPv6, 0x0806 ARP, ...).
    pub ethertype: u16,
    /// IPv4: source address in the first 4 bytes, rest zero. IPv6: the full
    /// source address. ARP: the sender protocol address (first 4 bytes).
    pub ip_src: [u8; 16],
    /// IPv4/IPv6 destination, or the ARP target protocol address, laid out
    /// like `ip_src`.
    pub ip_dst: [u8; 16],
    /// IP protocol / IPv6 next header after extension headers; ARP opcode's
    /// low byte for ARP; 0 otherwise.
    pub ip_proto: u8,
    /// IPv4 TOS / IPv6 traffic class.
    pub ip_tos: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub ip_ttl: u8,
    /// Fragment state.
    pub ip_frag: IpFrag,
    /// TCP/UDP source port; ICMP/ICMPv6 type.
    pub l4_src: u16,
    /// TCP/UDP destination port; ICMP/ICMPv6 code.
    pub l4_dst: u16,
    /// TCP flags (the low 8 bits: FIN..CWR); 0 for other protocols.
    pub tcp_flags: u8,
}

/// Header offsets within a frame, from the start of the Ethernet header.
/// An offset of 0 for L3/L4 means "not present" (no real header starts at 0
/// except Ethernet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layout {
    /// Number of VLAN tags present (0, 1 or 2), starting at byte 12.
    pub vlan_tags: u8,
    /// Where the L3 header (IPv4, IPv6, ARP or unknown payload) starts:
    /// 14 + 4 per VLAN tag.
    pub l3: u16,
    /// Where the L4 header (TCP, UDP, ICMP) starts, or 0 if none was parsed.
    pub l4: u16,
    /// Where the L4 payload starts, or 0 if no L4 header was parsed.
    pub payload: u16,
    /// End of the L3 packet as given by its length field (IPv4 total length,
    /// IPv6 40 + payload length); bytes past it are Ethernet padding. 0 for
    /// non-IP frames.
    pub l3_end: u16,
}

/// The result of parsing a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Parsed {
    /// Fields for matching.
    pub key: FlowKey,
    /// Header offsets for rewriting.
    pub layout: Layout,
}

impl Parsed {
    /// Back to `Parsed::default()`, what the general parse starts from
    /// (see [`crate::parse::parse_into`]), written field by field:
    /// assigning a default value built apart costs a stalled store-to-load
    /// forward per frame (seen under perf).
    #[inline(always)]
    pub fn clear(&mut self) {
        // Destructured, so that a field added to either struct must be
        // cleared here too.
        let FlowKey {
            eth_dst,
            eth_src,
            vlan,
            inner_vlan,
            ethertype,
            ip_src,
            ip_dst,
            ip_proto,
            ip_tos,
            ip_ttl,
            ip_frag,
            l4_src,
            l4_dst,
            tcp_flags,
        } = &mut self.key;
        (*eth_dst, *eth_src) = ([0; 6], [0; 6]);
        (*vlan, *inner_vlan, *ethertype) = (0, 0, 0);
        (*ip_src, *ip_dst) = ([0; 16], [0; 16]);
        (*ip_proto, *ip_tos, *ip_ttl, *ip_frag) = (0, 0, 0, IpFrag::None);
        (*l4_src, *l4_dst, *tcp_flags) = (0, 0, 0);
        let Layout {
            vlan_tags,
            l3,
            l4,
            payload,
            l3_end,
        } = &mut self.layout;
        *vlan_tags = 0;
        (*l3, *l4, *payload, *l3_end) = (0, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_range() {
        assert!(is_link_local_control(&[0x01, 0x80, 0xc2, 0, 0, 0x00]));
        assert!(is_link_local_control(&[0x01, 0x80, 0xc2, 0, 0, 0x0e]));
        assert!(is_link_local_control(&[0x01, 0x80, 0xc2, 0, 0, 0x0f]));
        assert!(!is_link_local_control(&[0x01, 0x80, 0xc2, 0, 0, 0x10]));
        assert!(!is_link_local_control(&[0x01, 0x00, 0x5e, 0, 0, 0x01]));
    }

    #[test]
    fn clear_is_default() {
        let mut p = Parsed::default();
        p.key.eth_dst = BROADCAST;
        p.key.ip_src = [7; 16];
        p.key.ip_frag = IpFrag::Later;
        p.layout.l3_end = 99;
        p.clear();
        assert_eq!(p, Parsed::default());
    }

    #[test]
    fn multicast_bit() {
        assert!(is_multicast(&BROADCAST));
        assert!(is_multicast(&[0x33, 0x33, 0, 0, 0, 1]));
        assert!(!is_multicast(&[0x02, 0, 0, 0, 0, 1]));
    }
}
