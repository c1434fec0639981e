//! Port security: a port bound to its container's MAC and IP addresses
//! accepts only frames that carry them (anti-spoofing), and no DHCP server
//! or router-advertisement messages unless the binding allows them.
//!
//! It runs right after ingress, only on ports with a binding. Checks, in
//! order:
//! - the source MAC is the bound one (`spoofed_mac`);
//! - DHCP server messages (UDP 67 → 68, DHCPv6 547 → 546) need
//!   `dhcp_server` (`dhcp_server_denied`); router advertisements (ICMPv6
//!   134) need `router_advertisements` (`router_advertisement_denied`);
//! - ARP: the sender hardware address is the bound MAC, the sender
//!   protocol address a bound IPv4 address or 0.0.0.0 (an RFC 5227 probe)
//!   (`spoofed_arp`);
//! - IPv4 and IPv6: the source address is bound, or the link-local
//!   address derived from the bound MAC (modified EUI-64, RFC 4291), or
//!   unspecified in a message a host without an address sends: a DHCP
//!   DISCOVER/REQUEST (UDP 68 → 67) from 0.0.0.0, a router solicitation,
//!   a duplicate-address-detection neighbour solicitation or an MLD
//!   report from :: (`spoofed_ip`);
//! - neighbour discovery: a neighbour advertisement's target is one of the
//!   port's IPv6 addresses, and every link-layer address option of a
//!   solicitation or advertisement is the bound MAC (`spoofed_nd`).
//!
//! Other frames (other EtherTypes) are checked for their source MAC only.
//! The ARP hardware address and the neighbour-discovery target and options
//! are not in the flow key, so those frames' decisions are never cached;
//! every other check reads key fields only (L2, L3, L4).

use super::{Stage, StageBurst, StageEnv};
use crate::context::PacketCtx;
use crate::drop::DropReason;
use crate::flow::{FlowKey, Mac};
use crate::flow_cache::KeyFields;
use crate::overlay::arp_sender_mac;
use crate::trace::{mac_text, TraceEvent};
use crate::wire::ethernet::ethertype;
use crate::wire::ip_proto;
use std::net::{Ipv4Addr, Ipv6Addr};

/// What a port is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSecurity {
    /// The only source MAC the port's frames may carry.
    pub mac: Mac,
    /// The IPv4 and IPv6 source addresses they may carry (the link-local
    /// address derived from `mac` is allowed without being listed).
    pub ips: Vec<std::net::IpAddr>,
    /// Whether DHCP server messages may come from the port.
    pub dhcp_server: bool,
    /// Whether router advertisements may come from the port.
    pub router_advertisements: bool,
}

const DHCP_SERVER: u16 = 67;
const DHCP_CLIENT: u16 = 68;
const DHCPV6_CLIENT: u16 = 546;
const DHCPV6_SERVER: u16 = 547;
const ROUTER_SOLICITATION: u16 = 133;
const ROUTER_ADVERTISEMENT: u16 = 134;
const NEIGHBOUR_SOLICITATION: u16 = 135;
const NEIGHBOUR_ADVERTISEMENT: u16 = 136;
const MLDV2_REPORT: u16 = 143;
/// Neighbour-discovery options (RFC 4861 section 4.6.1).
const SOURCE_LINK_LAYER: u8 = 1;
const TARGET_LINK_LAYER: u8 = 2;

/// The link-local address of `mac` by modified EUI-64 (RFC 4291 appendix A).
pub fn eui64_link_local(mac: &Mac) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0xfe;
    a[1] = 0x80;
    a[8..16].copy_from_slice(&[
        mac[0] ^ 2,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ]);
    a
}

/// The port-security stage of one bound port.
#[derive(Debug)]
pub struct PortSecurityStage {
    binding: PortSecurity,
    ipv4: Box<[[u8; 4]]>,
    /// The listed IPv6 addresses and the derived link-local one.
    ipv6: Box<[[u8; 16]]>,
}

/// A check's outcome: allowed (with why, for traces) or dropped.
enum Verdict {
    Allow(&'static str),
    Drop(DropReason, String),
}

impl PortSecurityStage {
    /// The stage enforcing `binding`.
    pub fn new(binding: PortSecurity) -> PortSecurityStage {
        let ipv4 = binding
            .ips
            .iter()
            .filter_map(|ip| match ip {
                std::net::IpAddr::V4(a) => Some(a.octets()),
                std::net::IpAddr::V6(_) => None,
            })
            .collect();
        let mut ipv6: Vec<[u8; 16]> = binding
            .ips
            .iter()
            .filter_map(|ip| match ip {
                std::net::IpAddr::V6(a) => Some(a.octets()),
                std::net::IpAddr::V4(_) => None,
            })
            .collect();
        ipv6.push(eui64_link_local(&binding.mac));
        PortSecurityStage {
            binding,
            ipv4,
            ipv6: ipv6.into(),
        }
    }

    fn v4_bound(&self, addr: &[u8; 16]) -> bool {
        self.ipv4.iter().any(|a| addr[..4] == a[..])
    }

    fn decide(&self, ctx: &mut PacketCtx, frame: &[u8]) -> Verdict {
        let key = ctx.parsed.key;
        let mac = &self.binding.mac;
        if key.eth_src != *mac {
            return Verdict::Drop(
                DropReason::SpoofedMac,
                format!(
                    "source MAC {} is not the port's {}",
                    mac_text(&key.eth_src),
                    mac_text(mac)
                ),
            );
        }
        match key.ethertype {
            ethertype::ARP => {
                // The sender hardware address is not in the flow key.
                ctx.cacheable = false;
                let sender_mac = arp_sender_mac(frame, ctx.parsed.layout.l3);
                if sender_mac != *mac {
                    return Verdict::Drop(
                        DropReason::SpoofedArp,
                        format!("ARP sender MAC {} is not the port's", mac_text(&sender_mac)),
                    );
                }
                if !self.v4_bound(&key.ip_src) && key.ip_src[..4] != [0; 4] {
                    return Verdict::Drop(
                        DropReason::SpoofedArp,
                        format!("ARP sender {} is not bound to the port", v4(&key)),
                    );
                }
                Verdict::Allow("ARP sender bound to the port")
            }
            ethertype::IPV4 => self.ipv4(&key),
            ethertype::IPV6 => self.ipv6(ctx, frame),
            _ => Verdict::Allow("source MAC bound to the port"),
        }
    }

    fn ipv4(&self, key: &FlowKey) -> Verdict {
        let udp = key.ip_proto == ip_proto::UDP;
        if udp
            && (key.l4_src, key.l4_dst) == (DHCP_SERVER, DHCP_CLIENT)
            && !self.binding.dhcp_server
        {
            return Verdict::Drop(
                DropReason::DhcpServerDenied,
                "DHCP server message (UDP 67 -> 68) from a port without dhcp_server".into(),
            );
        }
        if self.v4_bound(&key.ip_src) {
            return Verdict::Allow("IPv4 source bound to the port");
        }
        if key.ip_src[..4] == [0; 4]
            && udp
            && (key.l4_src, key.l4_dst) == (DHCP_CLIENT, DHCP_SERVER)
        {
            return Verdict::Allow("DHCP client message from 0.0.0.0");
        }
        Verdict::Drop(
            DropReason::SpoofedIp,
            format!("IPv4 source {} is not bound to the port", v4(key)),
        )
    }

    fn ipv6(&self, ctx: &mut PacketCtx, frame: &[u8]) -> Verdict {
        let key = ctx.parsed.key;
        let icmp = key.ip_proto == ip_proto::ICMPV6 && key.ip_frag != crate::flow::IpFrag::Later;
        let udp = key.ip_proto == ip_proto::UDP;
        if icmp && key.l4_src == ROUTER_ADVERTISEMENT && !self.binding.router_advertisements {
            return Verdict::Drop(
                DropReason::RouterAdvertisementDenied,
                "router advertisement from a port without router_advertisements".into(),
            );
        }
        if udp
            && (key.l4_src, key.l4_dst) == (DHCPV6_SERVER, DHCPV6_CLIENT)
            && !self.binding.dhcp_server
        {
            return Verdict::Drop(
                DropReason::DhcpServerDenied,
                "DHCPv6 server message (UDP 547 -> 546) from a port without dhcp_server".into(),
            );
        }
        let src_bound = self.ipv6.contains(&key.ip_src);
        let unspecified_ok = key.ip_src == [0; 16]
            && icmp
            && matches!(
                key.l4_src,
                ROUTER_SOLICITATION | NEIGHBOUR_SOLICITATION | MLDV2_REPORT
            );
        if !src_bound && !unspecified_ok {
            return Verdict::Drop(
                DropReason::SpoofedIp,
                format!(
                    "IPv6 source {} is not bound to the port",
                    Ipv6Addr::from(key.ip_src)
                ),
            );
        }
        if icmp && (ROUTER_SOLICITATION..=NEIGHBOUR_ADVERTISEMENT).contains(&key.l4_src) {
            // Targets and link-layer options are not in the flow key.
            ctx.cacheable = false;
            if let Some(problem) = self.neighbour_discovery(ctx, frame) {
                return Verdict::Drop(DropReason::SpoofedNd, problem);
            }
            return Verdict::Allow("neighbour discovery for the port's addresses");
        }
        if src_bound {
            Verdict::Allow("IPv6 source bound to the port")
        } else {
            Verdict::Allow("address configuration message from ::")
        }
    }

    /// What is wrong with a neighbour-discovery message's target or
    /// link-layer address options, if anything.
    fn neighbour_discovery(&self, ctx: &PacketCtx, frame: &[u8]) -> Option<String> {
        let key = &ctx.parsed.key;
        let l4 = ctx.parsed.layout.l4 as usize;
        let end = (ctx.parsed.layout.l3_end as usize).min(frame.len());
        let message = frame.get(l4..end).unwrap_or_default();
        let options_at = match key.l4_src {
            ROUTER_SOLICITATION => 8,
            ROUTER_ADVERTISEMENT => 16,
            _ => 24,
        };
        if key.l4_src == NEIGHBOUR_ADVERTISEMENT {
            let Some(target) = message.get(8..24) else {
                return Some("neighbour advertisement cut short".into());
            };
            if !self.ipv6.iter().any(|a| a[..] == *target) {
                let mut t = [0u8; 16];
                t.copy_from_slice(target);
                return Some(format!(
                    "neighbour advertisement for {}, not an address of the port",
                    Ipv6Addr::from(t)
                ));
            }
        }
        let mut options = message.get(options_at..).unwrap_or_default();
        // Each option is type, length in units of 8 bytes, data.
        while let [kind, units, ..] = *options {
            let len = units as usize * 8;
            let Some(option) = options.get(..len).filter(|_| len > 0) else {
                return Some("neighbour-discovery option of a bad length".into());
            };
            if matches!(kind, SOURCE_LINK_LAYER | TARGET_LINK_LAYER)
                && option.get(2..8) != Some(&self.binding.mac[..])
            {
                return Some(format!(
                    "link-layer address option {} is not the port's MAC",
                    option
                        .get(2..8)
                        .and_then(|m| <Mac>::try_from(m).ok())
                        .map_or_else(|| "cut short".into(), |m| mac_text(&m))
                ));
            }
            options = options.get(len..).unwrap_or_default();
        }
        None
    }
}

fn v4(key: &FlowKey) -> Ipv4Addr {
    Ipv4Addr::new(key.ip_src[0], key.ip_src[1], key.ip_src[2], key.ip_src[3])
}

impl Stage for PortSecurityStage {
    fn name(&self) -> &'static str {
        "port_security"
    }

    fn reads(&self) -> KeyFields {
        KeyFields::L2.with(KeyFields::L3).with(KeyFields::L4)
    }

    fn run(&self, burst: &mut StageBurst<'_>, env: &mut StageEnv<'_>) {
        for &i in burst.active {
            let i = i as usize;
            let (Some(ctx), Some(buf)) = (burst.ctxs.get_mut(i), burst.frames.get(i)) else {
                continue;
            };
            env.note(ctx, i, || TraceEvent::Stage("port_security"));
            let frame = buf.get(ctx.offset as usize..).unwrap_or_default();
            match self.decide(ctx, frame) {
                Verdict::Allow(why) => {
                    env.note(ctx, i, || TraceEvent::Note(format!("allowed: {why}")))
                }
                Verdict::Drop(reason, why) => {
                    env.note(ctx, i, || TraceEvent::Note(why));
                    env.drop(ctx, i, reason);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "port_security_tests.rs"]
mod tests;
