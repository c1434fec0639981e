//! Packets described in Open vSwitch's flow syntax, for `vsctl trace`:
//! `in_port=c1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,tcp,nw_src=10.0.0.1,tp_dst=80`.
//!
//! A description is comma-separated `field=value` pairs and protocol
//! words; what it leaves out takes Open vSwitch's defaults (zero
//! addresses and ports), except TTL 64 and an ICMP echo request. The
//! frame is then written with the pipeline's own header emitters, so it
//! parses exactly as a received one would.

use std::net::{Ipv4Addr, Ipv6Addr};

use vswitch_pipeline::wire::{
    self, ethernet::ethertype, ip_proto, ArpPacket, ArpRepr, EthernetFrame, EthernetRepr,
    Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr,
    PseudoHeader, TcpPacket, TcpRepr, UdpPacket, UdpRepr, VlanHeader, VlanRepr,
};
use vswitch_pipeline::Mac;

use crate::config::parse_mac;

/// The fields a description may set, as the error for an unknown one lists
/// them.
const FIELDS: &str = "in_port, dl_src, dl_dst, dl_vlan, dl_vlan_pcp, dl_type, nw_src, nw_dst, \
     ipv6_src, ipv6_dst, nw_proto, nw_ttl, nw_tos, tp_src, tp_dst, tcp_flags, icmp_type, \
     icmp_code, arp_op, arp_sha, arp_tha, arp_spa, arp_tpa, and the words ip, ipv6, arp, tcp, \
     udp, icmp, tcp6, udp6, icmp6";

/// Frames shorter than this are padded, as a NIC pads to the Ethernet
/// minimum (60 bytes without the FCS).
const MIN_FRAME: usize = 60;

/// The layer-3 header of a described packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Network {
    /// Only Ethernet, of `dl_type`.
    None,
    Ipv4,
    Ipv6,
    Arp,
}

/// One packet, as `vsctl trace` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowDescription {
    /// The port it arrives on.
    pub in_port: String,
    dl_src: Mac,
    dl_dst: Mac,
    vlan: Option<(u16, u8)>,
    dl_type: u16,
    network: Network,
    nw_src: [u8; 16],
    nw_dst: [u8; 16],
    nw_proto: u8,
    nw_ttl: u8,
    nw_tos: u8,
    tp_src: u16,
    tp_dst: u16,
    tcp_flags: u8,
    icmp_type: Option<u8>,
    icmp_code: u8,
    arp_op: u16,
    arp_sha: Option<Mac>,
    arp_tha: Mac,
}

impl FlowDescription {
    /// Parses a description, or says which field is wrong and why.
    pub fn parse(text: &str) -> Result<FlowDescription, String> {
        let mut d = FlowDescription {
            in_port: String::new(),
            dl_src: [0; 6],
            dl_dst: [0; 6],
            vlan: None,
            dl_type: 0,
            network: Network::None,
            nw_src: [0; 16],
            nw_dst: [0; 16],
            nw_proto: 0,
            nw_ttl: 64,
            nw_tos: 0,
            tp_src: 0,
            tp_dst: 0,
            tcp_flags: 0,
            icmp_type: None,
            icmp_code: 0,
            arp_op: 1,
            arp_sha: None,
            arp_tha: [0; 6],
        };
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item.split_once('=') {
                None => d.protocol(item)?,
                Some((field, value)) => d
                    .field(field.trim(), value.trim())
                    .map_err(|why| format!("{item:?}: {why}"))?,
            }
        }
        if d.in_port.is_empty() {
            return Err("the description needs in_port=<port>".into());
        }
        Ok(d)
    }

    fn protocol(&mut self, word: &str) -> Result<(), String> {
        let (network, proto) = match word {
            "ip" => (Network::Ipv4, None),
            "ipv6" => (Network::Ipv6, None),
            "arp" => (Network::Arp, None),
            "tcp" => (Network::Ipv4, Some(ip_proto::TCP)),
            "udp" => (Network::Ipv4, Some(ip_proto::UDP)),
            "icmp" => (Network::Ipv4, Some(ip_proto::ICMP)),
            "tcp6" => (Network::Ipv6, Some(ip_proto::TCP)),
            "udp6" => (Network::Ipv6, Some(ip_proto::UDP)),
            "icmp6" => (Network::Ipv6, Some(ip_proto::ICMPV6)),
            _ => return Err(format!("unknown word {word:?}: known are {FIELDS}")),
        };
        self.set_network(network)?;
        if let Some(p) = proto {
            self.nw_proto = p;
        }
        Ok(())
    }

    fn set_network(&mut self, network: Network) -> Result<(), String> {
        if self.network != Network::None && self.network != network {
            return Err(format!(
                "{network:?} conflicts with {:?} set earlier",
                self.network
            ));
        }
        self.network = network;
        self.dl_type = match network {
            Network::Ipv4 => ethertype::IPV4,
            Network::Ipv6 => ethertype::IPV6,
            Network::Arp => ethertype::ARP,
            Network::None => self.dl_type,
        };
        Ok(())
    }

    fn field(&mut self, field: &str, value: &str) -> Result<(), String> {
        match field {
            "in_port" => self.in_port = value.to_string(),
            "dl_src" => self.dl_src = mac(value)?,
            "dl_dst" => self.dl_dst = mac(value)?,
            "dl_vlan" => {
                let vid = number(value, 4095)? as u16;
                self.vlan = Some((vid, self.vlan.map_or(0, |v| v.1)));
            }
            "dl_vlan_pcp" => {
                let pcp = number(value, 7)? as u8;
                self.vlan = Some((self.vlan.map_or(0, |v| v.0), pcp));
            }
            "dl_type" => {
                self.dl_type = number(value, 0xffff)? as u16;
                let network = match self.dl_type {
                    ethertype::IPV4 => Network::Ipv4,
                    ethertype::IPV6 => Network::Ipv6,
                    ethertype::ARP => Network::Arp,
                    _ => Network::None,
                };
                self.set_network(network)?;
            }
            "nw_src" | "arp_spa" => self.nw_src = v4(value)?,
            "nw_dst" | "arp_tpa" => self.nw_dst = v4(value)?,
            "ipv6_src" => self.nw_src = v6(value)?,
            "ipv6_dst" => self.nw_dst = v6(value)?,
            "nw_proto" => self.nw_proto = number(value, 255)? as u8,
            "nw_ttl" => self.nw_ttl = number(value, 255)? as u8,
            "nw_tos" => self.nw_tos = number(value, 255)? as u8,
            "tp_src" => self.tp_src = number(value, 0xffff)? as u16,
            "tp_dst" => self.tp_dst = number(value, 0xffff)? as u16,
            "tcp_flags" => self.tcp_flags = tcp_flags(value)?,
            "icmp_type" | "icmpv6_type" => self.icmp_type = Some(number(value, 255)? as u8),
            "icmp_code" | "icmpv6_code" => self.icmp_code = number(value, 255)? as u8,
            "arp_op" => self.arp_op = number(value, 0xffff)? as u16,
            "arp_sha" => self.arp_sha = Some(mac(value)?),
            "arp_tha" => self.arp_tha = mac(value)?,
            _ => return Err(format!("unknown field: known are {FIELDS}")),
        }
        Ok(())
    }

    /// The frame the description stands for.
    pub fn frame(&self) -> Result<Vec<u8>, String> {
        let l2 = wire::ethernet::HEADER_LEN + if self.vlan.is_some() { 4 } else { 0 };
        let l4_len = match (self.network, self.nw_proto) {
            (Network::Ipv4 | Network::Ipv6, ip_proto::TCP) => wire::tcp::HEADER_LEN,
            (Network::Ipv4 | Network::Ipv6, ip_proto::UDP) => wire::udp::HEADER_LEN,
            (Network::Ipv4, ip_proto::ICMP) => wire::icmpv4::HEADER_LEN,
            // Type, code, checksum and an echo's identifier and sequence.
            (Network::Ipv6, ip_proto::ICMPV6) => wire::icmpv6::HEADER_LEN + 4,
            _ => 0,
        };
        let l3_len = match self.network {
            Network::None => 0,
            Network::Ipv4 => wire::ipv4::HEADER_LEN + l4_len,
            Network::Ipv6 => wire::ipv6::HEADER_LEN + l4_len,
            Network::Arp => wire::arp::ETHERNET_IPV4_LEN,
        };
        let mut frame = vec![0u8; (l2 + l3_len).max(MIN_FRAME)];
        self.emit(&mut frame, l2, l4_len)
            .map_err(|e| format!("cannot build the frame: {e:?}"))?;
        Ok(frame)
    }

    fn emit(&self, frame: &mut [u8], l2: usize, l4_len: usize) -> Result<(), wire::EmitError> {
        let tagged = self.vlan.is_some();
        EthernetRepr {
            dst_addr: self.dl_dst,
            src_addr: self.dl_src,
            ethertype: if tagged {
                ethertype::VLAN
            } else {
                self.dl_type
            },
        }
        .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]))?;
        if let Some((vid, pcp)) = self.vlan {
            VlanRepr {
                pcp,
                dei: false,
                vid,
                ethertype: self.dl_type,
            }
            .emit(&mut VlanHeader::new_unchecked(&mut frame[14..]))?;
        }
        let l3 = &mut frame[l2..];
        let v4 = |a: &[u8; 16]| [a[0], a[1], a[2], a[3]];
        let (pseudo, l4_at) = match self.network {
            Network::None => return Ok(()),
            Network::Arp => {
                return ArpRepr {
                    operation: self.arp_op,
                    source_hardware_addr: self.arp_sha.unwrap_or(self.dl_src),
                    source_protocol_addr: v4(&self.nw_src),
                    target_hardware_addr: self.arp_tha,
                    target_protocol_addr: v4(&self.nw_dst),
                }
                .emit(&mut ArpPacket::new_unchecked(l3));
            }
            Network::Ipv4 => {
                Ipv4Repr {
                    src_addr: v4(&self.nw_src),
                    dst_addr: v4(&self.nw_dst),
                    protocol: self.nw_proto,
                    payload_len: l4_len as u16,
                    ttl: self.nw_ttl,
                    tos: self.nw_tos,
                    ident: 0,
                    dont_frag: true,
                    more_frags: false,
                    frag_offset: 0,
                }
                .emit(&mut Ipv4Packet::new_unchecked(&mut l3[..]))?;
                let pseudo = PseudoHeader::Ipv4 {
                    src: v4(&self.nw_src),
                    dst: v4(&self.nw_dst),
                };
                (pseudo, wire::ipv4::HEADER_LEN)
            }
            Network::Ipv6 => {
                Ipv6Repr {
                    src_addr: self.nw_src,
                    dst_addr: self.nw_dst,
                    next_header: self.nw_proto,
                    payload_len: l4_len as u16,
                    hop_limit: self.nw_ttl,
                    traffic_class: self.nw_tos,
                    flow_label: 0,
                }
                .emit(&mut Ipv6Packet::new_unchecked(&mut l3[..]))?;
                let pseudo = PseudoHeader::Ipv6 {
                    src: self.nw_src,
                    dst: self.nw_dst,
                };
                (pseudo, wire::ipv6::HEADER_LEN)
            }
        };
        let l4 = &mut l3[l4_at..l4_at + l4_len];
        match self.nw_proto {
            ip_proto::TCP => TcpRepr {
                src_port: self.tp_src,
                dst_port: self.tp_dst,
                seq_number: 0,
                ack_number: 0,
                flags: self.tcp_flags,
                window_len: 65535,
                urgent_at: 0,
                payload_len: 0,
            }
            .emit(&mut TcpPacket::new_unchecked(l4), &pseudo),
            ip_proto::UDP => UdpRepr {
                src_port: self.tp_src,
                dst_port: self.tp_dst,
                payload_len: 0,
            }
            .emit(&mut UdpPacket::new_unchecked(l4), &pseudo),
            ip_proto::ICMP if self.network == Network::Ipv4 => Icmpv4Repr {
                msg_type: self.icmp_type.unwrap_or(8),
                code: self.icmp_code,
                rest_of_header: [0; 4],
                payload_len: 0,
            }
            .emit(&mut Icmpv4Packet::new_unchecked(l4)),
            ip_proto::ICMPV6 => Icmpv6Repr {
                msg_type: self.icmp_type.unwrap_or(128),
                code: self.icmp_code,
                body_len: l4_len - wire::icmpv6::HEADER_LEN,
            }
            .emit(
                &mut Icmpv6Packet::new_unchecked(l4),
                &self.nw_src,
                &self.nw_dst,
            ),
            _ => Ok(()),
        }
    }
}

fn mac(value: &str) -> Result<Mac, String> {
    parse_mac(value).ok_or_else(|| "not a MAC address (write 02:00:00:00:00:01)".to_string())
}

fn v4(value: &str) -> Result<[u8; 16], String> {
    let a: Ipv4Addr = value
        .parse()
        .map_err(|_| "not an IPv4 address (write 10.0.0.1)".to_string())?;
    let mut out = [0; 16];
    out[..4].copy_from_slice(&a.octets());
    Ok(out)
}

fn v6(value: &str) -> Result<[u8; 16], String> {
    value
        .parse::<Ipv6Addr>()
        .map(|a| a.octets())
        .map_err(|_| "not an IPv6 address (write fd00::1)".to_string())
}

/// A decimal or `0x` hexadecimal number up to `max`.
fn number(value: &str, max: u32) -> Result<u32, String> {
    let n = match value.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => value.parse(),
    }
    .map_err(|_| format!("not a number (0 to {max}, decimal or 0x hex)"))?;
    if n > max {
        return Err(format!("{n} is above {max}"));
    }
    Ok(n)
}

/// TCP flags by name joined with `|` or `+` (`syn|ack`), or a number.
fn tcp_flags(value: &str) -> Result<u8, String> {
    if value.starts_with(|c: char| c.is_ascii_digit()) {
        return number(value, 255).map(|n| n as u8);
    }
    let mut flags = 0;
    for name in value.split(['|', '+']) {
        flags |= match name {
            "fin" => 0x01,
            "syn" => 0x02,
            "rst" => 0x04,
            "psh" => 0x08,
            "ack" => 0x10,
            "urg" => 0x20,
            "ece" => 0x40,
            "cwr" => 0x80,
            _ => {
                return Err(format!(
                    "unknown TCP flag {name:?}: fin, syn, rst, psh, ack, urg, ece, cwr"
                ))
            }
        };
    }
    Ok(flags)
}

#[cfg(test)]
#[path = "flow_syntax_tests.rs"]
mod tests;
