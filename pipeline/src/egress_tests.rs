//! Egress edits done in the copy: VLAN tags and set-field with checksums.

use super::*;
use crate::parse::parse;
use crate::wire::{FrameBuilder, Ipv4Outer, Ipv4Packet, PseudoHeader, UdpPacket};

/// An Ethernet/IPv4/UDP frame 10.0.0.1:1234 -> 10.0.0.2:53 with valid
/// checksums, TTL 64.
fn udp_frame() -> Vec<u8> {
    let payload = b"checksummed payload";
    let mut buf = vec![0u8; 42 + payload.len()];
    buf[42..].copy_from_slice(payload);
    let range = FrameBuilder::new(&mut buf, 42)
        .and_then(|b| b.push_udp(1234, 53))
        .and_then(|b| {
            b.push_ipv4(Ipv4Outer {
                src: [10, 0, 0, 1],
                dst: [10, 0, 0, 2],
                ttl: 64,
                tos: 0,
                dont_fragment: true,
                ident: 7,
            })
        })
        .and_then(|b| b.push_ethernet([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]))
        .and_then(|b| b.finish(true))
        .unwrap();
    buf[range].to_vec()
}

fn ctx_of(frame: &[u8]) -> PacketCtx {
    let mut ctx = PacketCtx::default();
    ctx.reset(0, 0, false);
    ctx.start_decision();
    ctx.parsed = parse(frame).unwrap();
    ctx
}

fn edited(frame: &[u8], actions: &[Action]) -> Result<Vec<u8>, DropReason> {
    let ctx = ctx_of(frame);
    let mut edits = Edits::default();
    for a in actions {
        edits.add(*a)?;
    }
    let mut out = vec![0u8; 256];
    let len = write_frame(frame, &ctx, edits.vlan, &edits.fields, &mut out)?;
    out.truncate(len);
    Ok(out)
}

fn checksums_hold(frame: &[u8], l3: usize) {
    let ip = Ipv4Packet::new_checked(&frame[l3..]).unwrap();
    assert!(ip.verify_checksum(), "IPv4 header checksum");
    let src: [u8; 4] = ip.src_addr();
    let dst: [u8; 4] = ip.dst_addr();
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert!(
        udp.verify_checksum(&PseudoHeader::Ipv4 { src, dst }),
        "UDP checksum"
    );
}

#[test]
fn set_field_updates_checksums_incrementally() {
    let frame = udp_frame();
    let out = edited(
        &frame,
        &[
            Action::SetIpv4Src([192, 0, 2, 9]),
            Action::SetIpv4Dst([198, 51, 100, 7]),
            Action::SetL4Src(40000),
            Action::SetL4Dst(5353),
            Action::DecTtl,
            Action::SetEthDst([2, 0, 0, 0, 0, 0x99]),
        ],
    )
    .unwrap();
    let key = parse(&out).unwrap().key;
    assert_eq!(&key.ip_src[..4], &[192, 0, 2, 9]);
    assert_eq!(&key.ip_dst[..4], &[198, 51, 100, 7]);
    assert_eq!((key.l4_src, key.l4_dst, key.ip_ttl), (40000, 5353, 63));
    assert_eq!(key.eth_dst, [2, 0, 0, 0, 0, 0x99]);
    checksums_hold(&out, 14);
}

#[test]
fn edits_follow_a_pushed_tag() {
    let frame = udp_frame();
    let out = edited(
        &frame,
        &[Action::PushVlan(42), Action::SetIpv4Src([192, 0, 2, 1])],
    )
    .unwrap();
    let parsed = parse(&out).unwrap();
    assert_eq!(parsed.key.vlan, 42);
    assert_eq!(&parsed.key.ip_src[..4], &[192, 0, 2, 1]);
    checksums_hold(&out, 18);
    // And popped again: the frame as it came, but for the address.
    let back = edited(&out, &[Action::PopVlan, Action::SetIpv4Src([10, 0, 0, 1])]).unwrap();
    assert_eq!(back, frame);
}

#[test]
fn vlan_edits_compose() {
    use VlanEdit::*;
    assert_eq!(Keep.then(Action::PushVlan(5)), Ok(Push(5)));
    assert_eq!(Push(5).then(Action::PopVlan), Ok(Keep));
    assert_eq!(Pop.then(Action::PushVlan(7)), Ok(Replace(7)));
    assert_eq!(Push(0x2005).then(Action::SetVlanVid(9)), Ok(Push(0x2009)));
    assert_eq!(
        Pop.then(Action::PopVlan),
        Err(DropReason::UnsupportedVlanEdit)
    );
    // A pop of a tag the frame does not have is a counted drop, not a
    // corrupted frame.
    assert_eq!(
        edited(&udp_frame(), &[Action::PopVlan]),
        Err(DropReason::UnsupportedVlanEdit)
    );
}

#[test]
fn prerequisites_and_ttl_are_checked() {
    let mut arp_like = udp_frame();
    arp_like[12..14].copy_from_slice(&[0x88, 0xb5]);
    assert_eq!(
        edited(&arp_like, &[Action::SetIpv4Src([1, 2, 3, 4])]),
        Err(DropReason::SetFieldPrerequisite)
    );
    let mut last_hop = udp_frame();
    last_hop[14 + 8] = 1;
    assert_eq!(
        edited(&last_hop, &[Action::DecTtl]),
        Err(DropReason::TtlExpired)
    );
}

#[test]
fn a_zero_udp_checksum_stays_zero() {
    let mut frame = udp_frame();
    frame[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0, 0]);
    let out = edited(&frame, &[Action::SetL4Dst(99)]).unwrap();
    assert_eq!(
        &out[14 + 20 + 6..14 + 20 + 8],
        &[0, 0],
        "RFC 768: zero means none"
    );
}
