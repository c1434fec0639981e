use super::*;
use crate::wire::assert_short_emit_writes_nothing;
use etherparse::{Icmpv6Type, NetSlice, SlicedPacket, TransportSlice};
use proptest::collection::vec;
use proptest::prelude::*;

const MAC_A: Mac = [0x52, 0x54, 0x00, 0x00, 0x00, 0x0a];
const MAC_B: Mac = [0x52, 0x54, 0x00, 0x00, 0x00, 0x0b];
/// 2001:db8::a and 2001:db8::12:3456.
const IP_A: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a,
];
const IP_B: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56,
];

/// A Neighbor Solicitation for 2001:db8::12:3456 with a nonce option
/// (type 14, RFC 3971) before the Source Link-Layer Address option, the
/// checksum left zero.
const SOLICIT: [u8; 40] = [
    135, 0, 0, 0, 0, 0, 0, 0, // header
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, // target
    14, 1, 1, 2, 3, 4, 5, 6, // nonce
    1, 1, 0x52, 0x54, 0x00, 0x00, 0x00, 0x0a, // source link-layer address
];

/// The frame etherparse makes of `frame`, checked to be Ethernet, IPv6 with
/// Hop Limit 255 and ICMPv6 with a valid checksum: the ICMPv6 type, and
/// the IPv6 destination.
fn check_with_etherparse(frame: &[u8], src: [u8; 16]) -> (Icmpv6Type, [u8; 16]) {
    let packet = SlicedPacket::from_ethernet(frame).unwrap();
    let Some(NetSlice::Ipv6(ip)) = packet.net else {
        panic!("not IPv6")
    };
    let header = ip.header();
    assert_eq!(header.hop_limit(), 255);
    assert_eq!(header.source(), src);
    let Some(TransportSlice::Icmpv6(icmp)) = packet.transport else {
        panic!("not ICMPv6")
    };
    assert!(icmp.is_checksum_valid(header.source(), header.destination()));
    (icmp.icmp_type(), header.destination())
}

#[test]
fn solicited_node_addresses() {
    let group = solicited_node(&IP_B);
    assert_eq!(
        group,
        [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0x12, 0x34, 0x56]
    );
    assert_eq!(
        solicited_node_mac(&IP_B),
        [0x33, 0x33, 0xff, 0x12, 0x34, 0x56]
    );
    assert_eq!(multicast_mac(&group), solicited_node_mac(&IP_B));
}

#[test]
fn reads_solicit_past_unknown_options() {
    assert_eq!(
        parse(&SOLICIT),
        Ok(NdpMessage::Solicit {
            target: IP_B,
            source_mac: Some(MAC_A),
        })
    );
    assert_eq!(
        parse(&SOLICIT[..32]),
        Ok(NdpMessage::Solicit {
            target: IP_B,
            source_mac: None,
        })
    );
    // A Target Link-Layer Address option means nothing in a solicitation.
    let mut bytes = SOLICIT;
    bytes[32] = option_type::TARGET_LINK_LAYER_ADDR;
    assert!(matches!(
        parse(&bytes),
        Ok(NdpMessage::Solicit {
            source_mac: None,
            ..
        })
    ));
}

#[test]
fn malformed_messages() {
    assert_eq!(parse(&SOLICIT[..23]), Err(DropReason::IcmpTruncated));
    assert_eq!(parse(&SOLICIT[..39]), Err(DropReason::IcmpTruncated));
    assert_eq!(parse(&SOLICIT[..25]), Err(DropReason::IcmpTruncated));
    let mut bytes = SOLICIT;
    bytes[25] = 0;
    assert_eq!(parse(&bytes), Err(DropReason::IcmpTruncated));
    // A zero length after the option that is wanted still invalidates.
    let mut bytes = SOLICIT;
    bytes[24..32].copy_from_slice(&SOLICIT[32..40]);
    bytes[33] = 0;
    assert_eq!(parse(&bytes), Err(DropReason::IcmpTruncated));
    for (at, value) in [(0, 128), (0, 134), (0, 137), (1, 1), (8, 0xff)] {
        let mut bytes = SOLICIT;
        bytes[at] = value;
        assert_eq!(
            parse(&bytes),
            Err(DropReason::UplinkNotForUs),
            "{at} {value}"
        );
    }
}

#[test]
fn writes_solicit_frame() {
    let mut out = [0xa5u8; 100];
    assert_eq!(write_solicit(&mut out, MAC_A, IP_A, IP_B), Ok(FRAME_LEN));
    assert_eq!(out[FRAME_LEN], 0xa5);
    let frame = &out[..FRAME_LEN];
    assert_eq!(&frame[..6], &[0x33, 0x33, 0xff, 0x12, 0x34, 0x56]);
    assert_eq!(&frame[6..12], &MAC_A);
    let (kind, dst) = check_with_etherparse(frame, IP_A);
    assert_eq!(kind, Icmpv6Type::NeighborSolicitation);
    assert_eq!(dst, solicited_node(&IP_B));
    let icmp = &frame[ICMP_START..];
    assert_eq!(&icmp[4..8], &[0; 4]);
    assert_eq!(&icmp[..2], &SOLICIT[..2]);
    assert_eq!(&icmp[4..], &[&SOLICIT[4..24], &SOLICIT[32..]].concat()[..]);
    assert_eq!(
        parse(icmp),
        Ok(NdpMessage::Solicit {
            target: IP_B,
            source_mac: Some(MAC_A),
        })
    );
    assert_short_emit_writes_nothing(FRAME_LEN, |bytes| {
        write_solicit(bytes, MAC_A, IP_A, IP_B).map(|_| ())
    });
}

#[test]
fn solicit_from_the_unspecified_address_has_no_option() {
    let mut out = [0u8; FRAME_LEN];
    let len = write_solicit(&mut out, MAC_A, [0; 16], IP_B).unwrap();
    assert_eq!(len, FRAME_LEN - LINK_LAYER_OPTION_LEN);
    check_with_etherparse(&out[..len], [0; 16]);
    assert_eq!(
        parse(&out[ICMP_START..len]),
        Ok(NdpMessage::Solicit {
            target: IP_B,
            source_mac: None,
        })
    );
}

#[test]
fn writes_advert_frame() {
    let mut out = [0u8; FRAME_LEN];
    let len = write_advert(&mut out, MAC_B, IP_B, MAC_A, IP_A, IP_B);
    assert_eq!(len, Ok(FRAME_LEN));
    assert_eq!(&out[..12], &[MAC_A, MAC_B].concat()[..]);
    let (kind, dst) = check_with_etherparse(&out, IP_B);
    let Icmpv6Type::NeighborAdvertisement(header) = kind else {
        panic!("{kind:?}")
    };
    assert!(header.solicited && header.r#override && !header.router);
    assert_eq!(dst, IP_A);
    assert_eq!(
        parse(&out[ICMP_START..]),
        Ok(NdpMessage::Advert {
            target: IP_B,
            target_mac: Some(MAC_B),
            solicited: true,
            override_: true,
        })
    );
    assert_short_emit_writes_nothing(FRAME_LEN, |bytes| {
        write_advert(bytes, MAC_B, IP_B, MAC_A, IP_A, IP_B).map(|_| ())
    });
}

proptest! {
    #[test]
    fn written_frames_parse_back(
        (src_mac, dst_mac) in any::<(Mac, Mac)>(),
        (src_ip, dst_ip, mut target) in any::<([u8; 16], [u8; 16], [u8; 16])>(),
    ) {
        target[0] &= 0xfe;
        let mut out = [0u8; FRAME_LEN];
        let len = write_solicit(&mut out, src_mac, src_ip, target).unwrap();
        let source_mac = (src_ip != [0; 16]).then_some(src_mac);
        prop_assert_eq!(parse(&out[ICMP_START..len]), Ok(NdpMessage::Solicit { target, source_mac }));
        let ip = Ipv6Packet::new_checked(&out[ethernet::HEADER_LEN..len]).unwrap();
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        prop_assert!(icmp.verify_checksum(&src_ip, &solicited_node(&target)));

        let len = write_advert(&mut out, src_mac, src_ip, dst_mac, dst_ip, target).unwrap();
        let advert = NdpMessage::Advert { target, target_mac: Some(src_mac), solicited: true, override_: true };
        prop_assert_eq!(parse(&out[ICMP_START..len]), Ok(advert));
        let frame = EthernetFrame::new_checked(&out[..]).unwrap();
        prop_assert_eq!((frame.dst_addr(), frame.src_addr()), (dst_mac, src_mac));
        let ip = Ipv6Packet::new_checked(frame.payload()).unwrap();
        prop_assert_eq!(ip.hop_limit(), HOP_LIMIT);
        prop_assert!(Icmpv6Packet::new_checked(ip.payload()).unwrap().verify_checksum(&src_ip, &dst_ip));
    }

    #[test]
    fn any_bytes_never_panic(bytes in vec(any::<u8>(), 0..80), kind in 1u8..3) {
        let _ = parse(&bytes);
        let _ = link_layer_option(&bytes, kind);
        let mut message = SOLICIT.to_vec();
        message.truncate(24);
        message.extend_from_slice(&bytes);
        let _ = parse(&message);
    }
}
