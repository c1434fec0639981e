//! Software checksum completion and segmentation, checked against
//! etherparse's parsers and checksums.

use super::*;
use crate::context::{ChecksumState, GsoType, Offload, PacketCtx};
use crate::parse::parse;
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use proptest::prelude::*;

const SRC4: [u8; 4] = [10, 0, 0, 1];
const DST4: [u8; 4] = [10, 0, 0, 2];
const SRC6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// A TCP super-frame as a kernel with TSO hands it over: complete IP
/// header, the TCP checksum field holding only the pseudo-header sum.
pub(crate) fn super_frame(ipv6: bool, payload: &[u8], fin: bool) -> (Vec<u8>, PacketCtx) {
    let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let builder = if ipv6 {
        builder.ipv6(SRC6, DST6, 64)
    } else {
        builder.ipv4(SRC4, DST4, 64)
    };
    let mut builder = builder.tcp(40000, 5201, 0xffff_f000, 512).ack(77).psh();
    if fin {
        builder = builder.fin();
    }
    let mut frame = Vec::new();
    builder.write(&mut frame, payload).unwrap();
    let mut ctx = PacketCtx {
        parsed: parse(&frame).unwrap(),
        ..PacketCtx::default()
    };
    let l4 = ctx.parsed.layout.l4 as usize;
    let tcp_len = (frame.len() - l4) as u32;
    let pseudo = if ipv6 {
        PseudoHeader::Ipv6 {
            src: SRC6,
            dst: DST6,
        }
    } else {
        PseudoHeader::Ipv4 {
            src: SRC4,
            dst: DST4,
        }
    };
    write_u16(&mut frame, l4 + 16, pseudo.sum(ip_proto::TCP, tcp_len));
    ctx.offload = Offload {
        checksum: ChecksumState::Partial {
            start: l4 as u16,
            offset: 16,
        },
        gso: if ipv6 { GsoType::Tcpv6 } else { GsoType::Tcpv4 },
        gso_size: 1448,
    };
    (frame, ctx)
}

/// Checks one segment with etherparse; returns its sequence number,
/// payload, and FIN, PSH flags.
pub(crate) fn check_segment(seg: &[u8], ipv6: bool) -> (u32, Vec<u8>, bool, bool) {
    let sliced = SlicedPacket::from_ethernet(seg).expect("etherparse parses the segment");
    let (src4, dst4, src6, dst6) = match &sliced.net {
        Some(NetSlice::Ipv4(ip)) => {
            assert!(!ipv6);
            let header = ip.header().to_header();
            assert_eq!(header.header_checksum, header.calc_header_checksum());
            assert_eq!(header.total_len as usize, seg.len() - 14);
            (header.source, header.destination, [0; 16], [0; 16])
        }
        Some(NetSlice::Ipv6(ip)) => {
            assert!(ipv6);
            let header = ip.header();
            assert_eq!(header.payload_length() as usize, seg.len() - 14 - 40);
            ([0; 4], [0; 4], header.source(), header.destination())
        }
        other => panic!("not IP: {other:?}"),
    };
    let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
        panic!("not TCP");
    };
    let want = if ipv6 {
        tcp.calc_checksum_ipv6(src6, dst6).unwrap()
    } else {
        tcp.calc_checksum_ipv4(src4, dst4).unwrap()
    };
    assert_eq!(tcp.checksum(), want, "TCP checksum");
    assert!(parse(seg).is_ok(), "the switch's own parser takes it");
    (
        tcp.sequence_number(),
        tcp.payload().to_vec(),
        tcp.fin(),
        tcp.psh(),
    )
}

fn segment_all(frame: &[u8], ctx: &PacketCtx, vlan: VlanEdit) -> Vec<Vec<u8>> {
    let segments = Segments::new(frame, ctx).unwrap();
    (0..segments.count())
        .map(|i| {
            let mut slot = vec![0u8; 4096];
            let len = segments.write(i, false, vlan, &mut slot).unwrap();
            slot.truncate(len);
            slot
        })
        .collect()
}

proptest! {
    #[test]
    fn segments_reassemble_to_the_payload_and_verify(
        ipv6 in any::<bool>(),
        fin in any::<bool>(),
        len in 1usize..20_000,
        mss in 1u16..2000,
        seed in any::<u8>(),
    ) {
        let payload: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
        let (frame, mut ctx) = super_frame(ipv6, &payload, fin);
        ctx.offload.gso_size = mss;
        let segments = segment_all(&frame, &ctx, VlanEdit::Keep);
        prop_assert_eq!(segments.len(), len.div_ceil(mss as usize));
        let mut reassembled = Vec::new();
        let mut ids = Vec::new();
        for (i, seg) in segments.iter().enumerate() {
            let (seq, data, seg_fin, psh) = check_segment(seg, ipv6);
            let last = i + 1 == segments.len();
            prop_assert_eq!(seq, 0xffff_f000u32.wrapping_add((i * mss as usize) as u32));
            prop_assert!(data.len() <= mss as usize);
            prop_assert_eq!((seg_fin, psh), (fin && last, last));
            if !ipv6 {
                ids.push(u16::from_be_bytes([seg[18], seg[19]]));
            }
            reassembled.extend_from_slice(&data);
        }
        prop_assert_eq!(reassembled, payload);
        for pair in ids.windows(2) {
            prop_assert_eq!(pair[1], pair[0].wrapping_add(1));
        }
    }

    #[test]
    fn completing_a_partial_checksum_verifies(ipv6 in any::<bool>(), len in 1usize..3000) {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let (mut frame, ctx) = super_frame(ipv6, &payload, false);
        let ChecksumState::Partial { start, offset } = ctx.offload.checksum else {
            unreachable!()
        };
        complete_checksum(&mut frame, start as usize, offset as usize).unwrap();
        let (_, data, _, _) = check_segment(&frame, ipv6);
        prop_assert_eq!(data, payload);
    }

    #[test]
    fn bad_offload_state_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        start in any::<u16>(),
        offset in any::<u16>(),
        mss in any::<u16>(),
    ) {
        let mut frame = bytes;
        let _ = complete_checksum(&mut frame, start as usize, offset as usize);
        let mut ctx = PacketCtx::default();
        if let Ok(parsed) = parse(&frame) {
            ctx.parsed = parsed;
        }
        for gso in [GsoType::Tcpv4, GsoType::Tcpv6, GsoType::Udp] {
            ctx.offload = Offload { checksum: ChecksumState::Complete, gso, gso_size: mss };
            if let Ok(segments) = Segments::new(&frame, &ctx) {
                let mut slot = vec![0u8; 4096];
                for i in 0..segments.count().min(8) {
                    let _ = segments.write(i, false, VlanEdit::Push(5), &mut slot);
                    let _ = segments.write_partial(i, true, VlanEdit::Pop, &mut slot);
                }
            }
        }
    }
}

#[test]
fn a_pushed_vlan_tag_is_in_every_segment() {
    let payload = vec![0xabu8; 5000];
    let (frame, ctx) = super_frame(false, &payload, false);
    let segments = segment_all(&frame, &ctx, VlanEdit::Push(42));
    assert_eq!(segments.len(), 4);
    for seg in &segments {
        assert_eq!(seg[12..16], [0x81, 0, 0, 42]);
        let parsed = parse(seg).unwrap();
        assert_eq!(parsed.key.vlan, 42);
        // The same segment without its tag verifies.
        let mut untagged = seg[..12].to_vec();
        untagged.extend_from_slice(&seg[16..]);
        check_segment(&untagged, false);
    }
}

/// A UDP super-frame of `payload` (over IPv6 when `ipv6`) as a socket
/// with UDP GSO hands it over: the checksum partial, segments of
/// `gso_size` payload bytes.
fn udp_super_frame(ipv6: bool, payload: &[u8], gso_size: u16) -> (Vec<u8>, PacketCtx) {
    let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let builder = if ipv6 {
        builder.ipv6(SRC6, DST6, 64)
    } else {
        builder.ipv4(SRC4, DST4, 64)
    };
    let mut frame = Vec::new();
    builder.udp(1000, 2000).write(&mut frame, payload).unwrap();
    let parsed = parse(&frame).unwrap();
    let ctx = PacketCtx {
        offload: Offload {
            checksum: ChecksumState::Partial {
                start: parsed.layout.l4,
                offset: 6,
            },
            gso: GsoType::Udp,
            gso_size,
        },
        parsed,
        ..PacketCtx::default()
    };
    (frame, ctx)
}

#[test]
fn udp_super_frames_are_cut_into_datagrams() {
    let payload: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
    let (frame, ctx) = udp_super_frame(false, &payload, 1472);
    let segments = segment_all(&frame, &ctx, VlanEdit::Keep);
    assert_eq!(segments.len(), 3);
    let mut reassembled = Vec::new();
    for seg in &segments {
        let sliced = SlicedPacket::from_ethernet(seg).unwrap();
        let Some(TransportSlice::Udp(udp)) = &sliced.transport else {
            panic!("not UDP");
        };
        assert_eq!(udp.length() as usize, seg.len() - 34);
        let want = udp
            .to_header()
            .calc_checksum_ipv4_raw(SRC4, DST4, udp.payload())
            .unwrap();
        assert_eq!(udp.checksum(), want);
        reassembled.extend_from_slice(udp.payload());
    }
    assert_eq!(reassembled, payload);
}

#[test]
fn a_gso_type_that_is_not_the_frames_protocol_is_refused() {
    let (frame, mut ctx) = super_frame(false, &[1; 3000], false);
    ctx.offload.gso = GsoType::Tcpv6;
    assert_eq!(
        Segments::new(&frame, &ctx).err(),
        Some(DropReason::BadOffload)
    );
    ctx.offload.gso = GsoType::Tcpv4;
    ctx.offload.gso_size = 0;
    assert_eq!(
        Segments::new(&frame, &ctx).err(),
        Some(DropReason::BadOffload)
    );
}

/// A frame a [`Sink`] was given: port, bytes, and offload state with the
/// header length when the port takes offloads.
type Sent = (PortId, Vec<u8>, Option<(Offload, u16)>);

/// A sink with a port that takes offloads (0), one that does not (1) and
/// one that takes partial checksums but not super-frames (2).
#[derive(Default)]
struct Sink {
    slot: Vec<u8>,
    sent: Vec<Sent>,
}

impl TxSink for Sink {
    fn slot(&mut self, port: PortId) -> Option<&mut [u8]> {
        self.slot = vec![0; [70_000, 4096, 4072][port as usize]];
        Some(&mut self.slot)
    }
    fn commit(&mut self, port: PortId, len: usize, _timestamp_ns: u64) {
        self.sent.push((port, self.slot[..len].to_vec(), None));
    }
    fn tx_offload(&self, port: PortId) -> TxOffload {
        match port {
            0 => TxOffload::ChecksumAndGso,
            2 => TxOffload::Checksum,
            _ => TxOffload::None,
        }
    }
    fn commit_offload(&mut self, port: PortId, len: usize, _ts: u64, offload: Offload, hdr: u16) {
        self.sent
            .push((port, self.slot[..len].to_vec(), Some((offload, hdr))));
    }
}

#[test]
fn egress_passes_super_frames_on_or_segments_them_and_counts() {
    let (frame, ctx) = super_frame(true, &vec![7u8; 10_000], false);
    let mut sink = Sink::default();
    let mut stats = Stats::new(2);
    let fields = FieldEdits::default();
    emit_offloaded(
        &frame,
        &ctx,
        VlanEdit::Push(9),
        &fields,
        0,
        &mut sink,
        &mut stats,
    );
    let (port, sent, offload) = &sink.sent[0];
    assert_eq!((*port, sent.len()), (0, frame.len() + 4));
    let (offload, header_len) = offload.unwrap();
    assert_eq!(
        offload.checksum,
        ChecksumState::Partial {
            start: 14 + 4 + 40,
            offset: 16
        }
    );
    assert_eq!(header_len, 14 + 4 + 40 + 20);
    assert_eq!((offload.gso, offload.gso_size), (GsoType::Tcpv6, 1448));

    sink.sent.clear();
    emit_offloaded(
        &frame,
        &ctx,
        VlanEdit::Keep,
        &fields,
        1,
        &mut sink,
        &mut stats,
    );
    assert_eq!(sink.sent.len(), 7);
    assert!(sink
        .sent
        .iter()
        .all(|(port, _, o)| *port == 1 && o.is_none()));
    assert_eq!(stats.ports[1].sw_segmented, 7);

    let mut small = ctx.clone();
    small.offload.gso = GsoType::None;
    let (mut one, _) = super_frame(true, &[3; 100], false);
    small.parsed = parse(&one).unwrap();
    sink.sent.clear();
    emit_offloaded(
        &one,
        &small,
        VlanEdit::Keep,
        &fields,
        1,
        &mut sink,
        &mut stats,
    );
    assert_eq!(stats.ports[1].sw_checksum, 1);
    complete_checksum(&mut one, 54, 16).unwrap();
    assert_eq!(sink.sent[0].1, one);
    check_segment(&one, true);
}

/// A routed super-frame (new MACs, TTL down by one) goes whole to a port
/// that takes offloads: neither rewrite touches what the TCP checksum
/// covers, so its partial checksum stays right; the IPv4 header checksum
/// is updated. A rewrite of an address or port still has it segmented.
#[test]
fn a_routed_super_frame_goes_whole_to_a_port_that_takes_offloads() {
    use crate::action::Action;
    use crate::egress::Edits;
    let (frame, ctx) = super_frame(false, &vec![5u8; 10_000], false);
    let mut routed = Edits::default();
    for action in [
        Action::SetEthSrc([2, 0, 0, 0, 0, 0xaa]),
        Action::SetEthDst([2, 0, 0, 0, 0, 0xbb]),
        Action::DecTtl,
    ] {
        routed.add(action).unwrap();
    }
    let mut sink = Sink::default();
    let mut stats = Stats::new(2);
    emit_offloaded(
        &frame,
        &ctx,
        VlanEdit::Keep,
        &routed.fields,
        0,
        &mut sink,
        &mut stats,
    );
    assert_eq!(sink.sent.len(), 1, "whole");
    let (_, sent, offload) = &sink.sent[0];
    let (offload, _) = offload.expect("with its offload state");
    assert_eq!(
        (offload.gso, offload.checksum),
        (ctx.offload.gso, ctx.offload.checksum)
    );
    assert_eq!(&sent[..12], &[2, 0, 0, 0, 0, 0xbb, 2, 0, 0, 0, 0, 0xaa]);
    assert_eq!(sent[14 + 8], 63, "TTL");
    let ip = etherparse::Ipv4HeaderSlice::from_slice(&sent[14..]).unwrap();
    assert_eq!(ip.header_checksum(), ip.to_header().calc_header_checksum());
    assert_eq!(
        &sent[34..],
        &frame[34..],
        "TCP header and payload as they were"
    );
    assert_eq!(stats.ports[0].sw_segmented, 0);

    let mut translated = routed;
    translated.add(Action::SetIpv4Src([192, 0, 2, 1])).unwrap();
    sink.sent.clear();
    emit_offloaded(
        &frame,
        &ctx,
        VlanEdit::Keep,
        &translated.fields,
        0,
        &mut sink,
        &mut stats,
    );
    assert_eq!(sink.sent.len(), 7, "segmented");
    assert_eq!(stats.ports[0].sw_segmented, 7);
}

/// Completes the partial checksum `segments` gave a segment, as the kernel
/// of a port that takes partial checksums does. A sum of zero has two
/// forms: completing writes 0xffff (as Linux's `skb_checksum_help`),
/// software TCP segmentation 0x0000 (as `tcp_gso_segment`); both verify.
/// The completed segment takes the software form, so that the two compare
/// byte for byte.
fn completed(mut segment: Vec<u8>, checksum: ChecksumState) -> Vec<u8> {
    let ChecksumState::Partial { start, offset } = checksum else {
        panic!("not partial: {checksum:?}");
    };
    let at = start as usize + offset as usize;
    complete_checksum(&mut segment, start as usize, offset as usize).unwrap();
    // TCP's checksum field is 16 bytes in, UDP's 6 (whose software form
    // of zero is 0xffff too).
    if offset == 16 && segment[at..at + 2] == [0xff, 0xff] {
        segment[at..at + 2].copy_from_slice(&[0, 0]);
    }
    segment
}

proptest! {
    #[test]
    fn partial_segments_complete_to_the_software_segments(
        ipv6 in any::<bool>(),
        fin in any::<bool>(),
        push in any::<bool>(),
        len in 1usize..20_000,
        mss in 1u16..2000,
    ) {
        let payload: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7)).collect();
        let (frame, mut ctx) = super_frame(ipv6, &payload, fin);
        ctx.offload.gso_size = mss;
        let vlan = if push { VlanEdit::Push(7) } else { VlanEdit::Keep };
        let segments = Segments::new(&frame, &ctx).unwrap();
        let checksum = segments.partial_checksum(vlan.growth());
        for (i, software) in segment_all(&frame, &ctx, vlan).into_iter().enumerate() {
            let mut slot = vec![0u8; 4096];
            let n = segments.write_partial(i, false, vlan, &mut slot).unwrap();
            slot.truncate(n);
            prop_assert_eq!(completed(slot, checksum), software);
        }
    }
}

#[test]
fn partial_udp_segments_complete_to_the_software_ones() {
    let payload: Vec<u8> = (0..4000u32).map(|i| (i * 3) as u8).collect();
    let (frame, ctx) = udp_super_frame(true, &payload, 1400);
    let segments = Segments::new(&frame, &ctx).unwrap();
    let checksum = segments.partial_checksum(0);
    assert_eq!(
        checksum,
        ChecksumState::Partial {
            start: 54,
            offset: 6
        }
    );
    let software = segment_all(&frame, &ctx, VlanEdit::Keep);
    assert_eq!(software.len(), 3);
    for (i, want) in software.into_iter().enumerate() {
        let mut slot = vec![0u8; 4096];
        let n = segments
            .write_partial(i, false, VlanEdit::Keep, &mut slot)
            .unwrap();
        slot.truncate(n);
        assert_eq!(completed(slot, checksum), want);
    }
}

/// A port that takes partial checksums but not super-frames (AF_XDP with
/// TX metadata) gets a super-frame as segments that keep partial
/// checksums, each of which completes to the segment software would have
/// sent; the other ports' counters and paths stay as they were.
#[test]
fn a_super_frame_to_a_port_that_takes_checksums_only_keeps_them_partial() {
    let (frame, ctx) = super_frame(false, &vec![9u8; 10_000], true);
    let mut stats = Stats::new(3);
    let fields = FieldEdits::default();
    let mut sink = Sink::default();
    emit_offloaded(
        &frame,
        &ctx,
        VlanEdit::Push(9),
        &fields,
        1,
        &mut sink,
        &mut stats,
    );
    let software: Vec<Vec<u8>> = sink.sent.drain(..).map(|(_, bytes, _)| bytes).collect();
    emit_offloaded(
        &frame,
        &ctx,
        VlanEdit::Push(9),
        &fields,
        2,
        &mut sink,
        &mut stats,
    );
    assert_eq!(sink.sent.len(), 7);
    for ((port, bytes, offload), want) in sink.sent.drain(..).zip(&software) {
        let (offload, header_len) = offload.expect("with offload state");
        assert_eq!(port, 2);
        assert_eq!((offload.gso, offload.gso_size), (GsoType::None, 0));
        assert_eq!(
            offload.checksum,
            ChecksumState::Partial {
                start: 14 + 4 + 20,
                offset: 16
            }
        );
        assert_eq!(header_len, 14 + 4 + 20 + 20);
        assert_eq!(&completed(bytes, offload.checksum), want);
    }
    let (to_checksum_port, to_software_port) = (&stats.ports[2], &stats.ports[1]);
    assert_eq!(
        (
            to_checksum_port.sw_segmented,
            to_checksum_port.csum_offloaded,
            to_checksum_port.sw_checksum
        ),
        (7, 7, 0)
    );
    assert_eq!(
        (
            to_software_port.sw_segmented,
            to_software_port.csum_offloaded
        ),
        (7, 0)
    );
}

/// A frame with a partial checksum goes to such a port as it is, its
/// checksum start moved by a VLAN edit. A rewrite that the L4 checksum
/// covers has it completed first; offsets outside the frame drop it.
#[test]
fn a_partial_checksum_goes_as_it_is_to_a_port_that_takes_it() {
    let (frame, mut ctx) = super_frame(true, &[3; 100], false);
    ctx.offload.gso = GsoType::None;
    let mut stats = Stats::new(3);
    let mut sink = Sink::default();
    let keep = FieldEdits::default();
    emit_offloaded(
        &frame,
        &ctx,
        VlanEdit::Keep,
        &keep,
        2,
        &mut sink,
        &mut stats,
    );
    let (port, bytes, offload) = sink.sent.pop().unwrap();
    assert_eq!((port, &bytes), (2, &frame), "not completed");
    let (offload, _) = offload.unwrap();
    assert_eq!(offload.checksum, ctx.offload.checksum);
    check_segment(&completed(bytes, offload.checksum), true);
    assert_eq!(
        (stats.ports[2].csum_offloaded, stats.ports[2].sw_checksum),
        (1, 0)
    );

    emit_offloaded(
        &frame,
        &ctx,
        VlanEdit::Push(5),
        &keep,
        2,
        &mut sink,
        &mut stats,
    );
    let (_, _, offload) = sink.sent.pop().unwrap();
    assert_eq!(
        offload.unwrap().0.checksum,
        ChecksumState::Partial {
            start: 14 + 4 + 40,
            offset: 16
        }
    );

    let mut translated = crate::egress::Edits::default();
    translated
        .add(crate::action::Action::SetL4Dst(8080))
        .unwrap();
    emit_offloaded(
        &frame,
        &ctx,
        VlanEdit::Keep,
        &translated.fields,
        2,
        &mut sink,
        &mut stats,
    );
    let (_, bytes, offload) = sink.sent.pop().unwrap();
    assert!(offload.is_none(), "completed in software");
    check_segment(&bytes, true);
    assert_eq!(stats.ports[2].sw_checksum, 1);

    ctx.offload.checksum = ChecksumState::Partial {
        start: frame.len() as u16 - 1,
        offset: 0,
    };
    emit_offloaded(
        &frame,
        &ctx,
        VlanEdit::Keep,
        &keep,
        2,
        &mut sink,
        &mut stats,
    );
    assert!(sink.sent.is_empty());
    assert_eq!(stats.ports[2].drops[DropReason::BadOffload as usize], 1);
    assert_eq!(stats.ports[2].csum_offloaded, 2);
}
