//! Tests of the fast-path parser: cases by header, and properties.

use super::*;

mod unit {
    use super::*;
    use crate::flow::{FlowKey, Layout};

    /// 192.168.1.10:12345 -> 192.168.1.20:53 UDP "ping", untagged, padded to 60 bytes.
    const UDP_FRAME: [u8; 60] = [
        0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00, 0x45,
        0x00, 0x00, 0x20, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x9b, 0x18, 0xc0, 0xa8, 0x01, 0x0a,
        0xc0, 0xa8, 0x01, 0x14, 0x30, 0x39, 0x00, 0x35, 0x00, 0x0c, 0x6d, 0x28, 0x70, 0x69, 0x6e,
        0x67, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    /// 10.1.1.1:40000 -> 10.1.1.2:443 TCP SYN with an MSS option, 802.1Q tag PCP 3 VID 42, TOS 0x10, TTL 63.
    const TCP_SYN_VLAN: [u8; 62] = [
        0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x81, 0x00, 0x60,
        0x2a, 0x08, 0x00, 0x45, 0x10, 0x00, 0x2c, 0x04, 0xd2, 0x40, 0x00, 0x3f, 0x06, 0x20, 0xe6,
        0x0a, 0x01, 0x01, 0x01, 0x0a, 0x01, 0x01, 0x02, 0x9c, 0x40, 0x01, 0xbb, 0x01, 0x02, 0x03,
        0x04, 0x00, 0x00, 0x00, 0x00, 0x60, 0x02, 0xfa, 0xf0, 0xe5, 0x2f, 0x00, 0x00, 0x02, 0x04,
        0x05, 0xb4,
    ];

    /// ARP "who has 192.168.1.20? tell 192.168.1.10", padded to 60 bytes.
    const ARP_REQUEST: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xc0, 0xa8,
        0x01, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x14, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    /// ICMPv6 Neighbor Solicitation fe80::1 -> ff02::1:ff00:2 for fe80::2, traffic class 0xe0, hop limit 255.
    const NEIGHBOR_SOLICITATION: [u8; 78] = [
        0x33, 0x33, 0xff, 0x00, 0x00, 0x02, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x86, 0xdd, 0x6e,
        0x00, 0x00, 0x00, 0x00, 0x18, 0x3a, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x02, 0x87, 0x00, 0x7d, 0xa1, 0x00, 0x00,
        0x00, 0x00, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x02,
    ];

    /// ICMP echo request 192.168.1.10 -> 192.168.1.20 (id 0x1234, seq 7) in QinQ: S-tag VID 100 PCP 5, C-tag VID 0x123.
    const PING_QINQ: [u8; 58] = [
        0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x88, 0xa8, 0xa0,
        0x64, 0x81, 0x00, 0x01, 0x23, 0x08, 0x00, 0x45, 0x00, 0x00, 0x24, 0x00, 0x02, 0x40, 0x00,
        0x40, 0x01, 0xb7, 0x68, 0xc0, 0xa8, 0x01, 0x0a, 0xc0, 0xa8, 0x01, 0x14, 0x08, 0x00, 0x54,
        0x2f, 0x12, 0x34, 0x00, 0x07, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    ];

    /// LLDP: chassis ID, port ID "10", TTL 120, end; padded to 60 bytes.
    const LLDP: [u8; 60] = [
        0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x88, 0xcc, 0x02,
        0x07, 0x04, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x04, 0x03, 0x05, 0x31, 0x30, 0x06, 0x02,
        0x00, 0x78, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    fn key_v4(addr: [u8; 4]) -> [u8; 16] {
        widen(addr)
    }

    /// A copy of `frame` with `bytes` written at `at`.
    fn patched(frame: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
        let mut copy = frame.to_vec();
        copy[at..at + bytes.len()].copy_from_slice(bytes);
        copy
    }

    /// An untagged IPv6 frame (addresses and hop limit of
    /// NEIGHBOR_SOLICITATION) carrying `payload` after `next_header`.
    fn ipv6_frame(next_header: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = NEIGHBOR_SOLICITATION[..54].to_vec();
        frame[18..20].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        frame[20] = next_header;
        frame.extend_from_slice(payload);
        frame
    }

    /// A TCP header from port 1000 to 2000 with the given flags byte.
    fn tcp_header(flags: u8) -> [u8; 20] {
        let mut header = [0u8; 20];
        header[0..4].copy_from_slice(&[0x03, 0xe8, 0x07, 0xd0]);
        header[12] = 0x50;
        header[13] = flags;
        header
    }

    #[test]
    fn udp_over_ipv4() {
        let parsed = parse(&UDP_FRAME).unwrap();
        assert_eq!(
            parsed.key,
            FlowKey {
                eth_dst: [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef],
                eth_src: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
                vlan: 0,
                inner_vlan: 0,
                ethertype: 0x0800,
                ip_src: key_v4([192, 168, 1, 10]),
                ip_dst: key_v4([192, 168, 1, 20]),
                ip_proto: 17,
                ip_tos: 0,
                ip_ttl: 64,
                ip_frag: IpFrag::None,
                l4_src: 12345,
                l4_dst: 53,
                tcp_flags: 0,
            }
        );
        // Total length 32: the 14 bytes of padding are not part of the packet.
        assert_eq!(
            parsed.layout,
            Layout {
                vlan_tags: 0,
                l3: 14,
                l4: 34,
                payload: 42,
                l3_end: 46,
            }
        );
    }

    #[test]
    fn eth_truncated() {
        assert_eq!(parse(&UDP_FRAME[..13]), Err(DropReason::EthTruncated));
        assert_eq!(parse(&[]), Err(DropReason::EthTruncated));
        // A bare header with an unknown EtherType is a valid L2 frame.
        let bare = patched(&UDP_FRAME[..14], 12, &[0x12, 0x34]);
        let parsed = parse(&bare).unwrap();
        assert_eq!((parsed.key.ethertype, parsed.layout.l3), (0x1234, 14));
    }

    #[test]
    fn tcp_syn_in_single_vlan() {
        let parsed = parse(&TCP_SYN_VLAN).unwrap();
        let key = parsed.key;
        assert_eq!((key.vlan, key.inner_vlan, key.ethertype), (42, 0, 0x0800));
        assert_eq!((key.ip_tos, key.ip_ttl, key.ip_proto), (0x10, 63, 6));
        assert_eq!(
            (key.ip_src, key.ip_dst),
            (key_v4([10, 1, 1, 1]), key_v4([10, 1, 1, 2]))
        );
        assert_eq!((key.l4_src, key.l4_dst, key.tcp_flags), (40000, 443, 0x02));
        assert_eq!(
            parsed.layout,
            Layout {
                vlan_tags: 1,
                l3: 18,
                l4: 38,
                payload: 62,
                l3_end: 62,
            }
        );
    }

    #[test]
    fn qinq_with_either_tpid_in_either_position() {
        let parsed = parse(&PING_QINQ).unwrap();
        assert_eq!((parsed.key.vlan, parsed.key.inner_vlan), (100, 0x123));
        assert_eq!((parsed.layout.vlan_tags, parsed.layout.l3), (2, 22));
        for (outer, inner) in [(0x8100u16, 0x8100u16), (0x8100, 0x88a8), (0x88a8, 0x88a8)] {
            let frame = patched(&PING_QINQ, 12, &outer.to_be_bytes());
            let frame = patched(&frame, 16, &inner.to_be_bytes());
            assert_eq!(parse(&frame), Ok(parsed));
        }
    }

    #[test]
    fn vlan_too_many_tags() {
        // A third tag where the IPv4 EtherType was.
        let frame = patched(&PING_QINQ, 20, &[0x81, 0x00]);
        assert_eq!(parse(&frame), Err(DropReason::VlanTooManyTags));
    }

    #[test]
    fn vlan_truncated() {
        assert_eq!(parse(&TCP_SYN_VLAN[..14]), Err(DropReason::VlanTruncated));
        assert_eq!(parse(&TCP_SYN_VLAN[..17]), Err(DropReason::VlanTruncated));
        assert_eq!(parse(&PING_QINQ[..21]), Err(DropReason::VlanTruncated));
        // A whole tag with nothing after it is an empty IPv4 packet.
        assert_eq!(parse(&TCP_SYN_VLAN[..18]), Err(DropReason::Ipv4Truncated));
    }

    #[test]
    fn vid_is_twelve_bits_and_priority_tags_are_vlan_zero() {
        let frame = patched(&TCP_SYN_VLAN, 14, &[0xff, 0xff]);
        assert_eq!(parse(&frame).unwrap().key.vlan, 0xfff);
        let frame = patched(&TCP_SYN_VLAN, 14, &[0xe0, 0x00]);
        let parsed = parse(&frame).unwrap();
        assert_eq!((parsed.key.vlan, parsed.layout.vlan_tags), (0, 1));
    }

    #[test]
    fn arp_request() {
        let parsed = parse(&ARP_REQUEST).unwrap();
        let key = parsed.key;
        assert_eq!((key.ethertype, key.ip_proto), (0x0806, 1));
        assert_eq!(key.ip_src, key_v4([192, 168, 1, 10]));
        assert_eq!(key.ip_dst, key_v4([192, 168, 1, 20]));
        assert_eq!((key.l4_src, key.l4_dst), (0, 0));
        assert_eq!(
            parsed.layout,
            Layout {
                l3: 14,
                ..Layout::default()
            }
        );
    }

    #[test]
    fn arp_unsupported() {
        for (at, value) in [(14, 6u8), (16, 0x86), (18, 8), (19, 16)] {
            let frame = patched(&ARP_REQUEST, at, &[value]);
            assert_eq!(parse(&frame), Err(DropReason::ArpUnsupported), "byte {at}");
        }
    }

    #[test]
    fn arp_truncated() {
        assert_eq!(parse(&ARP_REQUEST[..21]), Err(DropReason::ArpTruncated));
        assert_eq!(parse(&ARP_REQUEST[..41]), Err(DropReason::ArpTruncated));
        assert!(parse(&ARP_REQUEST[..42]).is_ok());
    }

    #[test]
    fn ipv4_bad_version() {
        let frame = patched(&UDP_FRAME, 14, &[0x65]);
        assert_eq!(parse(&frame), Err(DropReason::Ipv4BadVersion));
        // The version is checked first, even on a cut header.
        assert_eq!(parse(&frame[..15]), Err(DropReason::Ipv4BadVersion));
    }

    #[test]
    fn ipv4_truncated() {
        assert_eq!(parse(&UDP_FRAME[..14]), Err(DropReason::Ipv4Truncated));
        assert_eq!(parse(&UDP_FRAME[..33]), Err(DropReason::Ipv4Truncated));
    }

    #[test]
    fn ipv4_bad_header_length() {
        let frame = patched(&UDP_FRAME, 14, &[0x44]);
        assert_eq!(parse(&frame), Err(DropReason::Ipv4BadHeaderLength));
        // IHL 15 (60 bytes) with 46 bytes after the Ethernet header.
        let frame = patched(&UDP_FRAME, 14, &[0x4f]);
        assert_eq!(parse(&frame), Err(DropReason::Ipv4BadHeaderLength));
    }

    #[test]
    fn ipv4_bad_total_length() {
        let frame = patched(&UDP_FRAME, 16, &[0x00, 0x13]);
        assert_eq!(parse(&frame), Err(DropReason::Ipv4BadTotalLength));
        let frame = patched(&UDP_FRAME, 16, &[0x00, 47]);
        assert_eq!(parse(&frame), Err(DropReason::Ipv4BadTotalLength));
        // Up to the end of the frame is fine: padding becomes payload.
        let frame = patched(&UDP_FRAME, 16, &[0x00, 46]);
        assert_eq!(parse(&frame).unwrap().layout.l3_end, 60);
    }

    #[test]
    fn ipv4_checksum_is_not_verified() {
        let frame = patched(&UDP_FRAME, 24, &[0xde, 0xad]);
        assert_eq!(parse(&frame), parse(&UDP_FRAME));
    }

    #[test]
    fn ipv4_options_move_l4() {
        // IHL 6 with a Router Alert option: the UDP header moves 4 bytes.
        let mut frame = UDP_FRAME[..34].to_vec();
        frame[14] = 0x46;
        frame[17] = 36;
        frame.extend_from_slice(&[0x94, 0x04, 0x00, 0x00]);
        frame.extend_from_slice(&UDP_FRAME[34..46]);
        let parsed = parse(&frame).unwrap();
        assert_eq!((parsed.layout.l4, parsed.layout.payload), (38, 46));
        assert_eq!((parsed.key.l4_src, parsed.key.l4_dst), (12345, 53));
    }

    #[test]
    fn ipv4_first_fragment_keeps_l4() {
        let frame = patched(&UDP_FRAME, 20, &[0x20, 0x00]);
        let parsed = parse(&frame).unwrap();
        assert_eq!(parsed.key.ip_frag, IpFrag::First);
        assert_eq!((parsed.key.l4_src, parsed.layout.l4), (12345, 34));
    }

    #[test]
    fn ipv4_first_fragment_of_a_longer_udp_datagram_keeps_l4() {
        // UDP Length 4008: the datagram the fragment is the start of.
        let mut frame = patched(&UDP_FRAME, 20, &[0x20, 0x00]);
        frame[38..40].copy_from_slice(&4008u16.to_be_bytes());
        let parsed = parse(&frame).unwrap();
        assert_eq!(parsed.key.ip_frag, IpFrag::First);
        assert_eq!((parsed.key.l4_dst, parsed.layout.payload), (53, 42));
        // Its header must still be whole and sane.
        frame[38..40].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(parse(&frame), Err(DropReason::UdpBadHeader));
        // Unfragmented, the same Length is past the packet.
        let mut whole = UDP_FRAME.to_vec();
        whole[38..40].copy_from_slice(&4008u16.to_be_bytes());
        assert_eq!(parse(&whole), Err(DropReason::UdpBadHeader));
    }

    #[test]
    fn ipv4_later_fragment_has_no_l4() {
        for flags_offset in [[0x00, 0xb9], [0x20, 0xb9]] {
            let frame = patched(&UDP_FRAME, 20, &flags_offset);
            let parsed = parse(&frame).unwrap();
            assert_eq!(parsed.key.ip_frag, IpFrag::Later);
            assert_eq!(
                (parsed.key.ip_proto, parsed.key.l4_src, parsed.key.l4_dst),
                (17, 0, 0)
            );
            assert_eq!((parsed.layout.l4, parsed.layout.payload), (0, 0));
            assert_eq!(parsed.layout.l3_end, 46);
        }
        // A later fragment's "header" is data: a short one is no error.
        let mut frame = patched(&UDP_FRAME, 20, &[0x00, 0xb9]);
        frame[17] = 21;
        assert_eq!(parse(&frame).unwrap().key.ip_frag, IpFrag::Later);
    }

    #[test]
    fn dont_fragment_alone_is_not_a_fragment() {
        assert_eq!(parse(&UDP_FRAME).unwrap().key.ip_frag, IpFrag::None);
    }

    #[test]
    fn tcp_bad_header() {
        // Data offset 4.
        let frame = patched(&TCP_SYN_VLAN, 50, &[0x40]);
        assert_eq!(parse(&frame), Err(DropReason::TcpBadHeader));
        // Data offset 7 (28 bytes) past the 24-byte segment.
        let frame = patched(&TCP_SYN_VLAN, 50, &[0x70]);
        assert_eq!(parse(&frame), Err(DropReason::TcpBadHeader));
        // Segment of 19 bytes: total length cut, frame still long.
        let frame = patched(&TCP_SYN_VLAN, 20, &[0x00, 39]);
        assert_eq!(parse(&frame), Err(DropReason::TcpBadHeader));
    }

    #[test]
    fn tcp_data_offset_must_fit_before_padding() {
        // 20-byte TCP header in a 40-byte IPv4 packet, then 20 bytes of
        // padding: offset 6 would reach into the padding.
        let mut frame = TCP_SYN_VLAN[..58].to_vec();
        frame[20..22].copy_from_slice(&[0x00, 40]);
        frame.extend_from_slice(&[0; 20]);
        frame[50] = 0x50;
        assert_eq!(parse(&frame).unwrap().layout.payload, 58);
        frame[50] = 0x60;
        assert_eq!(parse(&frame), Err(DropReason::TcpBadHeader));
    }

    #[test]
    fn tcp_flags_are_the_low_byte() {
        // NS (the low bit of byte 12) is not part of the key.
        let frame = patched(&TCP_SYN_VLAN, 50, &[0x61, 0xff]);
        assert_eq!(parse(&frame).unwrap().key.tcp_flags, 0xff);
    }

    #[test]
    fn udp_bad_header() {
        let frame = patched(&UDP_FRAME, 38, &[0x00, 0x07]);
        assert_eq!(parse(&frame), Err(DropReason::UdpBadHeader));
        // 13 > the 12 bytes left in the IPv4 packet (padding does not count).
        let frame = patched(&UDP_FRAME, 38, &[0x00, 0x0d]);
        assert_eq!(parse(&frame), Err(DropReason::UdpBadHeader));
        let frame = patched(&UDP_FRAME, 16, &[0x00, 27]);
        assert_eq!(parse(&frame), Err(DropReason::UdpBadHeader));
        // Shorter than the IP payload is fine (the rest is UDP trailer).
        let frame = patched(&UDP_FRAME, 38, &[0x00, 0x08]);
        assert_eq!(parse(&frame).unwrap().layout.payload, 42);
    }

    #[test]
    fn icmp_echo() {
        let parsed = parse(&PING_QINQ).unwrap();
        assert_eq!(
            (parsed.key.ip_proto, parsed.key.l4_src, parsed.key.l4_dst),
            (1, 8, 0)
        );
        assert_eq!(
            parsed.layout,
            Layout {
                vlan_tags: 2,
                l3: 22,
                l4: 42,
                payload: 50,
                l3_end: 58,
            }
        );
    }

    #[test]
    fn icmp_truncated() {
        let mut frame = PING_QINQ[..49].to_vec();
        frame[25] = 27;
        assert_eq!(parse(&frame), Err(DropReason::IcmpTruncated));
        let frame = ipv6_frame(58, &[0x80, 0x00, 0x00]);
        assert_eq!(parse(&frame), Err(DropReason::IcmpTruncated));
        let frame = ipv6_frame(58, &[0x80, 0x00, 0x00, 0x00]);
        assert_eq!(parse(&frame).unwrap().layout.payload, 58);
    }

    #[test]
    fn icmpv6_neighbor_solicitation() {
        let parsed = parse(&NEIGHBOR_SOLICITATION).unwrap();
        let key = parsed.key;
        assert_eq!(
            (key.ethertype, key.ip_proto, key.ip_tos, key.ip_ttl),
            (0x86dd, 58, 0xe0, 255)
        );
        assert_eq!(key.ip_src, NEIGHBOR_SOLICITATION[22..38]);
        assert_eq!(key.ip_dst, NEIGHBOR_SOLICITATION[38..54]);
        assert_eq!((key.l4_src, key.l4_dst), (135, 0));
        assert_eq!(
            parsed.layout,
            Layout {
                vlan_tags: 0,
                l3: 14,
                l4: 54,
                payload: 58,
                l3_end: 78,
            }
        );
    }

    #[test]
    fn ipv6_bad_version() {
        let frame = patched(&NEIGHBOR_SOLICITATION, 14, &[0x4e]);
        assert_eq!(parse(&frame), Err(DropReason::Ipv6BadVersion));
    }

    #[test]
    fn ipv6_truncated() {
        assert_eq!(
            parse(&NEIGHBOR_SOLICITATION[..14]),
            Err(DropReason::Ipv6Truncated)
        );
        assert_eq!(
            parse(&NEIGHBOR_SOLICITATION[..53]),
            Err(DropReason::Ipv6Truncated)
        );
    }

    #[test]
    fn ipv6_bad_payload_length() {
        assert_eq!(
            parse(&NEIGHBOR_SOLICITATION[..77]),
            Err(DropReason::Ipv6BadPayloadLength)
        );
    }

    #[test]
    fn ipv6_padding_is_not_payload() {
        let mut frame = NEIGHBOR_SOLICITATION.to_vec();
        frame.extend_from_slice(&[0xee; 10]);
        assert_eq!(parse(&frame).unwrap().layout.l3_end, 78);
    }

    #[test]
    fn ipv6_extension_headers_are_walked() {
        // Hop-by-Hop (Router Alert), Destination Options, then TCP.
        let mut payload = vec![60, 0, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00];
        payload.extend_from_slice(&[6, 1]);
        payload.extend_from_slice(&[0; 14]);
        payload.extend_from_slice(&tcp_header(0x12));
        let parsed = parse(&ipv6_frame(0, &payload)).unwrap();
        assert_eq!(parsed.key.ip_proto, 6);
        assert_eq!(
            (parsed.key.l4_src, parsed.key.l4_dst, parsed.key.tcp_flags),
            (1000, 2000, 0x12)
        );
        assert_eq!(
            (parsed.layout.l4, parsed.layout.payload),
            (54 + 24, 54 + 44)
        );
    }

    #[test]
    fn ipv6_esp_ends_the_walk() {
        let parsed = parse(&ipv6_frame(50, &[0; 16])).unwrap();
        assert_eq!((parsed.key.ip_proto, parsed.layout.l4), (50, 0));
    }

    #[test]
    fn ipv6_bad_extension_header() {
        // A Routing header claiming 16 bytes in an 8-byte payload.
        let frame = ipv6_frame(43, &[6, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse(&frame), Err(DropReason::Ipv6BadExtensionHeader));
        // Nine Destination Options headers.
        let mut payload = Vec::new();
        for _ in 0..9 {
            payload.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        }
        let frame = ipv6_frame(60, &payload);
        assert_eq!(parse(&frame), Err(DropReason::Ipv6BadExtensionHeader));
    }

    #[test]
    fn ipv6_jumbogram_is_read_as_empty() {
        // Payload Length 0 with a Hop-by-Hop Jumbo Payload option: the
        // option lies past the stated (empty) payload.
        let mut frame = ipv6_frame(0, &[]);
        frame.extend_from_slice(&[6, 0, 0xc2, 0x04, 0x00, 0x01, 0x00, 0x00]);
        assert_eq!(parse(&frame), Err(DropReason::Ipv6BadExtensionHeader));
    }

    #[test]
    fn ipv6_fragments() {
        let udp = [0x03, 0xe8, 0x07, 0xd0, 0x00, 0x08, 0x00, 0x00];
        let mut first = vec![17, 0, 0x00, 0x01, 0, 0, 0, 9];
        first.extend_from_slice(&udp);
        let parsed = parse(&ipv6_frame(44, &first)).unwrap();
        assert_eq!(parsed.key.ip_frag, IpFrag::First);
        assert_eq!((parsed.key.ip_proto, parsed.key.l4_src), (17, 1000));
        assert_eq!(parsed.layout.l4, 62);

        let mut later = vec![17, 0, 0x00, 0x08, 0, 0, 0, 9];
        later.extend_from_slice(&[0xff; 3]);
        let parsed = parse(&ipv6_frame(44, &later)).unwrap();
        assert_eq!(parsed.key.ip_frag, IpFrag::Later);
        assert_eq!(
            (parsed.key.ip_proto, parsed.key.l4_src, parsed.layout.l4),
            (17, 0, 0)
        );

        let mut atomic = vec![17, 0, 0x00, 0x00, 0, 0, 0, 9];
        atomic.extend_from_slice(&udp);
        let parsed = parse(&ipv6_frame(44, &atomic)).unwrap();
        assert_eq!(
            (parsed.key.ip_frag, parsed.key.l4_dst),
            (IpFrag::None, 2000)
        );
    }

    #[test]
    fn other_ip_protocols_keep_l3_fields_only() {
        // GRE (47) over IPv4.
        let frame = patched(&UDP_FRAME, 23, &[47]);
        let parsed = parse(&frame).unwrap();
        assert_eq!((parsed.key.ip_proto, parsed.key.ip_ttl), (47, 64));
        assert_eq!(
            (parsed.key.l4_src, parsed.layout.l4, parsed.layout.payload),
            (0, 0, 0)
        );
        assert_eq!(parsed.layout.l3_end, 46);
        // ICMPv6's number inside IPv4, and ICMP's inside IPv6, are not ICMP.
        let frame = patched(&PING_QINQ, 31, &[58]);
        assert_eq!(parse(&frame).unwrap().layout.l4, 0);
        let frame = ipv6_frame(1, &[8, 0]);
        assert_eq!(parse(&frame).unwrap().layout.l4, 0);
    }

    #[test]
    fn unknown_ethertypes_keep_l2_fields_only() {
        let parsed = parse(&LLDP).unwrap();
        assert_eq!(parsed.key.eth_dst, [0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e]);
        assert_eq!(parsed.key.ethertype, 0x88cc);
        assert_eq!(
            parsed.layout,
            Layout {
                l3: 14,
                ..Layout::default()
            }
        );
        let mpls = patched(&UDP_FRAME, 12, &[0x88, 0x47]);
        let parsed = parse(&mpls).unwrap();
        assert_eq!(
            (
                parsed.key.ethertype,
                parsed.key.ip_proto,
                parsed.layout.l3_end
            ),
            (0x8847, 0, 0)
        );
    }

    #[test]
    fn frames_past_65535_bytes_are_read_up_to_it() {
        // An IPv4 packet inside a huge frame is fine while it ends by 65535.
        let mut frame = UDP_FRAME.to_vec();
        frame.resize(70_000, 0);
        assert_eq!(parse(&frame), parse(&UDP_FRAME));
        frame[16..18].copy_from_slice(&65_520u16.to_be_bytes());
        frame[38..40].copy_from_slice(&65_500u16.to_be_bytes());
        assert_eq!(parse(&frame).unwrap().layout.l3_end, 65_534);
        frame[16..18].copy_from_slice(&65_530u16.to_be_bytes());
        assert_eq!(parse(&frame), Err(DropReason::Ipv4BadTotalLength));
    }

    /// The shortcut parse of `frame`, if it takes the frame.
    fn plain(frame: &[u8]) -> Option<Parsed> {
        let mut parsed = Parsed::default();
        parse_plain_ipv4(frame, &mut parsed).then_some(parsed)
    }

    #[test]
    fn plain_udp_and_tcp_take_the_shortcut_to_the_general_result() {
        // The TCP frame without its tag.
        let mut tcp = TCP_SYN_VLAN[..12].to_vec();
        tcp.extend_from_slice(&TCP_SYN_VLAN[16..]);
        for frame in [&UDP_FRAME[..], &tcp] {
            let mut general = Parsed::default();
            parse_any_into(frame, &mut general).unwrap();
            assert_eq!(plain(frame), Some(general));
        }
    }

    #[test]
    fn parse_into_overwrites_what_an_earlier_frame_left() {
        let mut tcp = TCP_SYN_VLAN[..12].to_vec();
        tcp.extend_from_slice(&TCP_SYN_VLAN[16..]);
        let frames = [&UDP_FRAME[..], &tcp, &TCP_SYN_VLAN, &ARP_REQUEST];
        for earlier in frames {
            for frame in frames {
                let mut parsed = parse(earlier).unwrap();
                parse_into(frame, &mut parsed).unwrap();
                assert_eq!(Ok(parsed), parse(frame));
            }
        }
    }

    #[test]
    fn other_frames_are_left_to_the_general_parse() {
        let mut options = UDP_FRAME;
        options[14] = 0x46;
        let mut fragment = UDP_FRAME;
        fragment[20] = 0x20;
        let mut short_udp = UDP_FRAME;
        short_udp[38..40].copy_from_slice(&7u16.to_be_bytes());
        let mut icmp = UDP_FRAME;
        icmp[23] = ip_proto::ICMP;
        for frame in [
            &TCP_SYN_VLAN[..],
            &ARP_REQUEST,
            &options,
            &fragment,
            &short_udp,
            &icmp,
            &UDP_FRAME[..33],
        ] {
            assert_eq!(plain(frame), None, "{frame:02x?}");
        }
    }
}

/// Properties over random input, and a cross-check against etherparse
/// building random valid frames.
mod properties {
    use super::*;
    use crate::flow::{FlowKey, Layout};
    use etherparse::{
        ArpHardwareId, ArpOperation, ArpPacket, DoubleVlanHeader, EtherType, IpAuthHeader, IpDscp,
        IpEcn, IpFragOffset, IpHeaders, IpNumber, Ipv4Extensions, Ipv4Header, Ipv4Options,
        Ipv6Extensions, Ipv6FlowLabel, Ipv6FragmentHeader, Ipv6Header, Ipv6RawExtHeader,
        Ipv6RoutingExtensions, PacketBuilder, SingleVlanHeader, TcpHeader, VlanHeader, VlanId,
        VlanPcp,
    };
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Offsets in a successful parse stay within the frame and in order.
    fn assert_layout_consistent(frame: &[u8], parsed: &Parsed) -> Result<(), TestCaseError> {
        let layout = parsed.layout;
        let len = frame.len().min(MAX_PARSED_LEN);
        prop_assert!(usize::from(layout.l3) <= len);
        prop_assert_eq!(
            usize::from(layout.l3),
            14 + 4 * usize::from(layout.vlan_tags)
        );
        prop_assert!(usize::from(layout.l3_end) <= len);
        if layout.l4 != 0 {
            prop_assert!(layout.l3 < layout.l4);
            prop_assert!(layout.l4 < layout.payload);
            prop_assert!(layout.payload <= layout.l3_end);
        }
        Ok(())
    }

    /// One VLAN tag: TPID is 802.1ad (else 802.1Q), PCP, VID.
    #[derive(Debug, Clone)]
    struct Tag {
        service_tpid: bool,
        pcp: u8,
        vid: u16,
    }

    #[derive(Debug, Clone)]
    enum Net {
        Ipv4 {
            header: Ipv4Header,
        },
        Ipv6 {
            header: Ipv6Header,
            extensions: Box<Ipv6Extensions>,
        },
        Arp {
            operation: u16,
            spa: [u8; 4],
            tpa: [u8; 4],
        },
    }

    #[derive(Debug, Clone)]
    enum Transport {
        Tcp(TcpHeader),
        Udp { src: u16, dst: u16 },
        Echo { id: u16, seq: u16 },
    }

    #[derive(Debug, Clone)]
    struct FrameSpec {
        dst: [u8; 6],
        src: [u8; 6],
        tags: Vec<Tag>,
        net: Net,
        transport: Transport,
        payload: Vec<u8>,
        padding: Vec<u8>,
    }

    fn tag() -> impl Strategy<Value = Tag> {
        (any::<bool>(), 0u8..8, 0u16..4096).prop_map(|(service_tpid, pcp, vid)| Tag {
            service_tpid,
            pcp,
            vid,
        })
    }

    fn ipv4() -> impl Strategy<Value = Net> {
        (
            any::<([u8; 4], [u8; 4], u8, u16)>(),
            (0u8..64, 0u8..4),
            any::<(bool, bool)>(),
            prop_oneof![Just(0u16), 0u16..8192],
            0usize..=10,
        )
            .prop_map(
                |((source, destination, ttl, ident), (dscp, ecn), (df, mf), frag, words)| {
                    let options = [1u8; 40];
                    Net::Ipv4 {
                        header: Ipv4Header {
                            dscp: IpDscp::try_new(dscp).unwrap(),
                            ecn: IpEcn::try_new(ecn).unwrap(),
                            identification: ident,
                            dont_fragment: df,
                            more_fragments: mf,
                            fragment_offset: IpFragOffset::try_new(frag).unwrap(),
                            time_to_live: ttl,
                            source,
                            destination,
                            options: Ipv4Options::try_from(&options[..4 * words]).unwrap(),
                            ..Default::default()
                        },
                    }
                },
            )
    }

    fn ipv6() -> impl Strategy<Value = Net> {
        (
            any::<([u8; 16], [u8; 16], u8, u8)>(),
            0u32..0x10_0000,
            any::<(bool, bool, bool, bool)>(),
            proptest::option::of((prop_oneof![Just(0u16), 0u16..8192], any::<bool>())),
        )
            .prop_map(
                |(
                    (source, destination, hop_limit, traffic_class),
                    flow,
                    (hbh, dest, routing, auth),
                    fragment,
                )| {
                    let raw = |next: u8| {
                        Ipv6RawExtHeader::new_raw(IpNumber(next), &[1, 4, 0, 0, 0, 0]).unwrap()
                    };
                    let extensions = Ipv6Extensions {
                        hop_by_hop_options: hbh.then(|| raw(0)),
                        destination_options: dest.then(|| raw(0)),
                        routing: routing.then(|| Ipv6RoutingExtensions {
                            routing: raw(0),
                            final_destination_options: None,
                        }),
                        fragment: fragment.map(|(offset, more)| {
                            Ipv6FragmentHeader::new(
                                IpNumber(0),
                                IpFragOffset::try_new(offset).unwrap(),
                                more,
                                0x1234_5678,
                            )
                        }),
                        auth: auth.then(|| IpAuthHeader::new(IpNumber(0), 1, 2, &[0; 4]).unwrap()),
                    };
                    Net::Ipv6 {
                        header: Ipv6Header {
                            traffic_class,
                            flow_label: Ipv6FlowLabel::try_new(flow).unwrap(),
                            payload_length: 0,
                            next_header: IpNumber(0),
                            hop_limit,
                            source,
                            destination,
                        },
                        extensions: Box::new(extensions),
                    }
                },
            )
    }

    fn arp() -> impl Strategy<Value = Net> {
        (1u16..=2, any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(operation, spa, tpa)| Net::Arp {
            operation,
            spa,
            tpa,
        })
    }

    fn transport() -> impl Strategy<Value = Transport> {
        prop_oneof![
            (
                any::<(u16, u16, u32, u32, u16)>(),
                any::<u8>(),
                any::<bool>(),
                0usize..=10
            )
                .prop_map(|((src, dst, seq, ack, window), flags, ns, words)| {
                    let mut header = TcpHeader::new(src, dst, seq, window);
                    header.acknowledgment_number = ack;
                    header.fin = flags & 0x01 != 0;
                    header.syn = flags & 0x02 != 0;
                    header.rst = flags & 0x04 != 0;
                    header.psh = flags & 0x08 != 0;
                    header.ack = flags & 0x10 != 0;
                    header.urg = flags & 0x20 != 0;
                    header.ece = flags & 0x40 != 0;
                    header.cwr = flags & 0x80 != 0;
                    header.ns = ns;
                    header.set_options_raw(&[1u8; 40][..4 * words]).unwrap();
                    Transport::Tcp(header)
                }),
            any::<(u16, u16)>().prop_map(|(src, dst)| Transport::Udp { src, dst }),
            any::<(u16, u16)>().prop_map(|(id, seq)| Transport::Echo { id, seq }),
        ]
    }

    fn frame_spec() -> impl Strategy<Value = FrameSpec> {
        (
            any::<([u8; 6], [u8; 6])>(),
            vec(tag(), 0..=2),
            prop_oneof![4 => ipv4(), 4 => ipv6(), 1 => arp()],
            transport(),
            vec(any::<u8>(), 0..64),
            vec(any::<u8>(), 0..24),
        )
            .prop_map(
                |((dst, src), tags, net, transport, payload, padding)| FrameSpec {
                    dst,
                    src,
                    tags,
                    net,
                    transport,
                    payload,
                    padding,
                },
            )
    }

    fn single_vlan(tag: &Tag) -> SingleVlanHeader {
        SingleVlanHeader {
            pcp: VlanPcp::try_new(tag.pcp).unwrap(),
            drop_eligible_indicator: false,
            vlan_id: VlanId::try_new(tag.vid).unwrap(),
            ether_type: EtherType(0),
        }
    }

    /// The frame etherparse builds for `spec`, with the chosen TPIDs and
    /// the padding appended.
    fn build(spec: &FrameSpec) -> Vec<u8> {
        let vlan = match spec.tags.as_slice() {
            [] => None,
            [tag] => Some(VlanHeader::Single(single_vlan(tag))),
            [outer, inner, ..] => Some(VlanHeader::Double(DoubleVlanHeader {
                outer: single_vlan(outer),
                inner: single_vlan(inner),
            })),
        };
        let mut frame = Vec::new();
        let base = PacketBuilder::ethernet2(spec.src, spec.dst);
        let ip = match &spec.net {
            Net::Ipv4 { header } => IpHeaders::Ipv4(header.clone(), Ipv4Extensions::default()),
            Net::Ipv6 { header, extensions } => {
                IpHeaders::Ipv6(header.clone(), (**extensions).clone())
            }
            Net::Arp {
                operation,
                spa,
                tpa,
            } => {
                let packet = ArpPacket::new(
                    ArpHardwareId::ETHERNET,
                    EtherType::IPV4,
                    ArpOperation(*operation),
                    &spec.src,
                    spa,
                    &[0; 6],
                    tpa,
                )
                .unwrap();
                match vlan {
                    Some(vlan) => base.vlan(vlan).arp(packet).write(&mut frame).unwrap(),
                    None => base.arp(packet).write(&mut frame).unwrap(),
                }
                return finish(spec, frame);
            }
        };
        let ipv6 = matches!(spec.net, Net::Ipv6 { .. });
        let step = match vlan {
            Some(vlan) => base.vlan(vlan).ip(ip),
            None => base.ip(ip),
        };
        match &spec.transport {
            Transport::Tcp(header) => step
                .tcp_header(header.clone())
                .write(&mut frame, &spec.payload),
            Transport::Udp { src, dst } => step.udp(*src, *dst).write(&mut frame, &spec.payload),
            Transport::Echo { id, seq } if ipv6 => step
                .icmpv6_echo_request(*id, *seq)
                .write(&mut frame, &spec.payload),
            Transport::Echo { id, seq } => step
                .icmpv4_echo_request(*id, *seq)
                .write(&mut frame, &spec.payload),
        }
        .unwrap();
        finish(spec, frame)
    }

    fn finish(spec: &FrameSpec, mut frame: Vec<u8>) -> Vec<u8> {
        for (i, tag) in spec.tags.iter().enumerate() {
            let tpid: u16 = if tag.service_tpid { 0x88a8 } else { 0x8100 };
            frame[12 + 4 * i..14 + 4 * i].copy_from_slice(&tpid.to_be_bytes());
        }
        frame.extend_from_slice(&spec.padding);
        frame
    }

    /// What `parse` must find in the frame built from `spec`, where
    /// `unpadded_len` is the frame length before padding.
    fn expected(spec: &FrameSpec, unpadded_len: usize) -> Parsed {
        let mut key = FlowKey {
            eth_dst: spec.dst,
            eth_src: spec.src,
            vlan: spec.tags.first().map_or(0, |tag| tag.vid),
            inner_vlan: spec.tags.get(1).map_or(0, |tag| tag.vid),
            ..FlowKey::default()
        };
        let l3 = 14 + 4 * spec.tags.len();
        let mut layout = Layout {
            vlan_tags: spec.tags.len() as u8,
            l3: l3 as u16,
            ..Layout::default()
        };
        let (l4_proto, l4_at) = match &spec.net {
            Net::Arp {
                operation,
                spa,
                tpa,
            } => {
                key.ethertype = 0x0806;
                key.ip_src[..4].copy_from_slice(spa);
                key.ip_dst[..4].copy_from_slice(tpa);
                key.ip_proto = *operation as u8;
                return Parsed { key, layout };
            }
            Net::Ipv4 { header } => {
                key.ethertype = 0x0800;
                key.ip_src[..4].copy_from_slice(&header.source);
                key.ip_dst[..4].copy_from_slice(&header.destination);
                key.ip_tos = (header.dscp.value() << 2) | header.ecn.value();
                key.ip_ttl = header.time_to_live;
                key.ip_frag =
                    fragment_state(header.more_fragments, header.fragment_offset.value() != 0);
                let proto = match spec.transport {
                    Transport::Tcp(_) => 6,
                    Transport::Udp { .. } => 17,
                    Transport::Echo { .. } => 1,
                };
                key.ip_proto = proto;
                (proto, l3 + header.header_len())
            }
            Net::Ipv6 { header, extensions } => {
                key.ethertype = 0x86dd;
                key.ip_src = header.source;
                key.ip_dst = header.destination;
                key.ip_tos = header.traffic_class;
                key.ip_ttl = header.hop_limit;
                let proto = match spec.transport {
                    Transport::Tcp(_) => 6,
                    Transport::Udp { .. } => 17,
                    Transport::Echo { .. } => 58,
                };
                key.ip_proto = proto;
                if let Some(fragment) = &extensions.fragment {
                    key.ip_frag = fragment_state(
                        fragment.more_fragments,
                        fragment.fragment_offset.value() != 0,
                    );
                    if key.ip_frag == IpFrag::Later && extensions.auth.is_some() {
                        key.ip_proto = 51;
                    }
                }
                (proto, l3 + 40 + extensions.header_len())
            }
        };
        layout.l3_end = unpadded_len as u16;
        if key.ip_frag == IpFrag::Later {
            return Parsed { key, layout };
        }
        let header_len = match (&spec.transport, l4_proto) {
            (Transport::Tcp(header), _) => {
                key.l4_src = header.source_port;
                key.l4_dst = header.destination_port;
                key.tcp_flags = tcp_flags(header);
                header.header_len()
            }
            (Transport::Udp { src, dst }, _) => {
                key.l4_src = *src;
                key.l4_dst = *dst;
                8
            }
            (Transport::Echo { .. }, 1) => {
                key.l4_src = 8;
                8
            }
            (Transport::Echo { .. }, _) => {
                key.l4_src = 128;
                4
            }
        };
        layout.l4 = l4_at as u16;
        layout.payload = (l4_at + header_len) as u16;
        Parsed { key, layout }
    }

    fn tcp_flags(header: &TcpHeader) -> u8 {
        [
            header.fin, header.syn, header.rst, header.psh, header.ack, header.urg, header.ece,
            header.cwr,
        ]
        .iter()
        .enumerate()
        .map(|(bit, &set)| u8::from(set) << bit)
        .sum()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn any_bytes_never_panic(frame in vec(any::<u8>(), 0..128)) {
            if let Ok(parsed) = parse(&frame) {
                assert_layout_consistent(&frame, &parsed)?;
            }
        }

        #[test]
        fn etherparse_frames_parse_to_what_was_built(spec in frame_spec()) {
            let frame = build(&spec);
            let unpadded_len = frame.len() - spec.padding.len();
            let parsed = parse(&frame);
            prop_assert_eq!(parsed, Ok(expected(&spec, unpadded_len)));
            assert_layout_consistent(&frame, &parsed.unwrap())?;
        }

        #[test]
        fn the_shortcut_agrees_with_the_general_parse(
            spec in frame_spec(),
            cut in any::<prop::sample::Index>(),
            flips in vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        ) {
            let mut frame = build(&spec);
            for (at, value) in flips {
                let at = at.index(frame.len());
                frame[at] = value;
            }
            frame.truncate(cut.index(frame.len() + 1).max(frame.len() / 2));
            // Both start from what an earlier frame left.
            let earlier = parse(&build(&spec)).unwrap();
            let (mut plain, mut general) = (earlier, earlier);
            if parse_plain_ipv4(&frame, &mut plain) {
                prop_assert_eq!(parse_any_into(&frame, &mut general), Ok(()));
                prop_assert_eq!(plain, general);
            } else {
                prop_assert_eq!(plain, earlier);
            }
        }

        #[test]
        fn damaged_frames_never_panic(
            spec in frame_spec(),
            cut in any::<prop::sample::Index>(),
            flips in vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        ) {
            // Valid frames with a few bytes overwritten and cut short reach
            // the deep checks that random bytes rarely get past.
            let mut frame = build(&spec);
            for (at, value) in flips {
                let at = at.index(frame.len());
                frame[at] = value;
            }
            frame.truncate(cut.index(frame.len() + 1));
            if let Ok(parsed) = parse(&frame) {
                assert_layout_consistent(&frame, &parsed)?;
            }
        }
    }
}
