use super::*;
use crate::flow::{FlowKey, IpFrag, Layout, Parsed};
use crate::parse::parse;
use etherparse::{
    IpDscp, IpEcn, IpHeaders, Ipv4Extensions, Ipv4Header, Ipv6Extensions, Ipv6FlowLabel,
    Ipv6Header, PacketBuilder, SingleVlanHeader, VlanId, VlanPcp,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// A VXLAN header (RFC 7348 section 5): flags with I set, VNI 0x123456.
const VXLAN: [u8; 8] = [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0];

/// What the headroom left unwritten holds.
const FILL: u8 = 0xa5;

#[derive(Debug, Clone, Copy)]
enum OuterIp {
    V4(Ipv4Outer),
    V6(Ipv6Outer),
}

#[derive(Debug, Clone)]
struct Spec {
    dst: [u8; 6],
    src: [u8; 6],
    tci: Option<u16>,
    ip: OuterIp,
    src_port: u16,
    dst_port: u16,
    tunnel: Vec<u8>,
    payload: Vec<u8>,
    udp_checksum: bool,
}

/// A built frame: the buffer, where the frame is in it, and its layout.
struct Built {
    buf: Vec<u8>,
    frame: Range<usize>,
    layout: OuterLayout,
}

impl Built {
    fn frame(&self) -> &[u8] {
        &self.buf[self.frame.clone()]
    }
}

/// `headroom` bytes of [`FILL`], then the payload of `spec`.
fn buffer(spec: &Spec, headroom: usize) -> Vec<u8> {
    let mut buf = vec![FILL; headroom];
    buf.extend_from_slice(&spec.payload);
    buf
}

/// Builds `spec` with `headroom` bytes in front of the payload.
fn build(spec: &Spec, headroom: usize) -> Result<Built, EmitError> {
    let mut buf = buffer(spec, headroom);
    let (frame, layout) = build_in(spec, &mut buf, headroom)?;
    Ok(Built { buf, frame, layout })
}

/// Builds `spec` in `buf`, whose payload starts at `headroom`.
fn build_in(
    spec: &Spec,
    buf: &mut [u8],
    headroom: usize,
) -> Result<(Range<usize>, OuterLayout), EmitError> {
    let udp = FrameBuilder::new(buf, headroom)?
        .push_bytes(&spec.tunnel)?
        .push_udp(spec.src_port, spec.dst_port)?;
    let ip = match spec.ip {
        OuterIp::V4(outer) => udp.push_ipv4(outer)?,
        OuterIp::V6(outer) => udp.push_ipv6(outer)?,
    };
    let ethernet = match spec.tci {
        Some(tci) => ip.push_vlan(tci)?.push_ethernet(spec.dst, spec.src)?,
        None => ip.push_ethernet(spec.dst, spec.src)?,
    };
    let layout = ethernet.layout();
    Ok((ethernet.finish(spec.udp_checksum)?, layout))
}

/// Bytes of outer headers `spec` puts in front of its payload.
fn outer_len(spec: &Spec) -> usize {
    let ip = match spec.ip {
        OuterIp::V4(_) => ipv4::HEADER_LEN,
        OuterIp::V6(_) => ipv6::HEADER_LEN,
    };
    let tags = if spec.tci.is_some() {
        vlan::HEADER_LEN
    } else {
        0
    };
    ethernet::HEADER_LEN + tags + ip + udp::HEADER_LEN + spec.tunnel.len()
}

/// What `parse` must find in the frame built from `spec`.
fn expected(spec: &Spec) -> Parsed {
    let l3 = ethernet::HEADER_LEN + spec.tci.map_or(0, |_| vlan::HEADER_LEN);
    let mut key = FlowKey {
        eth_dst: spec.dst,
        eth_src: spec.src,
        vlan: spec.tci.map_or(0, |tci| tci & vlan::VID_MASK),
        ip_proto: ip_proto::UDP,
        ip_frag: IpFrag::None,
        l4_src: spec.src_port,
        l4_dst: spec.dst_port,
        ..FlowKey::default()
    };
    let l4 = match spec.ip {
        OuterIp::V4(outer) => {
            key.ethertype = ethertype::IPV4;
            key.ip_src[..4].copy_from_slice(&outer.src);
            key.ip_dst[..4].copy_from_slice(&outer.dst);
            (key.ip_tos, key.ip_ttl) = (outer.tos, outer.ttl);
            l3 + ipv4::HEADER_LEN
        }
        OuterIp::V6(outer) => {
            key.ethertype = ethertype::IPV6;
            (key.ip_src, key.ip_dst) = (outer.src, outer.dst);
            (key.ip_tos, key.ip_ttl) = (outer.traffic_class, outer.hop_limit);
            l3 + ipv6::HEADER_LEN
        }
    };
    let layout = Layout {
        vlan_tags: u8::from(spec.tci.is_some()),
        l3: l3 as u16,
        l4: l4 as u16,
        payload: (l4 + udp::HEADER_LEN) as u16,
        l3_end: (outer_len(spec) + spec.payload.len()) as u16,
    };
    Parsed { key, layout }
}

/// The same frame as etherparse, an independent implementation, builds it
/// (it always computes the UDP checksum).
fn etherparse_frame(spec: &Spec) -> Vec<u8> {
    let ip = match spec.ip {
        OuterIp::V4(outer) => IpHeaders::Ipv4(
            Ipv4Header {
                dscp: IpDscp::try_new(outer.tos >> 2).unwrap(),
                ecn: IpEcn::try_new(outer.tos & 0x03).unwrap(),
                identification: outer.ident,
                dont_fragment: outer.dont_fragment,
                time_to_live: outer.ttl,
                source: outer.src,
                destination: outer.dst,
                ..Default::default()
            },
            Ipv4Extensions::default(),
        ),
        OuterIp::V6(outer) => IpHeaders::Ipv6(
            Ipv6Header {
                traffic_class: outer.traffic_class,
                flow_label: Ipv6FlowLabel::try_new(outer.flow_label & ipv6::FLOW_LABEL_MASK)
                    .unwrap(),
                hop_limit: outer.hop_limit,
                source: outer.src,
                destination: outer.dst,
                ..Default::default()
            },
            Ipv6Extensions::default(),
        ),
    };
    let base = PacketBuilder::ethernet2(spec.src, spec.dst);
    let step = match spec.tci {
        Some(tci) => base
            .vlan(etherparse::VlanHeader::Single(SingleVlanHeader {
                pcp: VlanPcp::try_new((tci >> 13) as u8).unwrap(),
                drop_eligible_indicator: tci & 0x1000 != 0,
                vlan_id: VlanId::try_new(tci & vlan::VID_MASK).unwrap(),
                ether_type: etherparse::EtherType(0),
            }))
            .ip(ip),
        None => base.ip(ip),
    };
    let mut datagram = spec.tunnel.clone();
    datagram.extend_from_slice(&spec.payload);
    let mut frame = Vec::new();
    step.udp(spec.src_port, spec.dst_port)
        .write(&mut frame, &datagram)
        .unwrap();
    frame
}

fn outer_ip() -> impl Strategy<Value = OuterIp> {
    prop_oneof![
        any::<([u8; 4], [u8; 4], u8, u8, bool, u16)>().prop_map(
            |(src, dst, ttl, tos, dont_fragment, ident)| OuterIp::V4(Ipv4Outer {
                src,
                dst,
                ttl,
                tos,
                dont_fragment,
                ident,
            })
        ),
        any::<([u8; 16], [u8; 16], u8, u8, u32)>().prop_map(
            |(src, dst, hop_limit, traffic_class, flow_label)| OuterIp::V6(Ipv6Outer {
                src,
                dst,
                hop_limit,
                traffic_class,
                flow_label,
            })
        ),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        any::<([u8; 6], [u8; 6], Option<u16>)>(),
        outer_ip(),
        any::<(u16, u16, bool)>(),
        prop_oneof![Just(VXLAN.to_vec()), vec(any::<u8>(), 0..16)],
        vec(any::<u8>(), 0..128),
    )
        .prop_map(
            |((dst, src, tci), ip, (src_port, dst_port, udp_checksum), tunnel, payload)| Spec {
                dst,
                src,
                tci,
                ip,
                src_port,
                dst_port,
                tunnel,
                payload,
                udp_checksum,
            },
        )
}

fn pseudo_header(ip: &OuterIp) -> PseudoHeader {
    match *ip {
        OuterIp::V4(outer) => PseudoHeader::Ipv4 {
            src: outer.src,
            dst: outer.dst,
        },
        OuterIp::V6(outer) => PseudoHeader::Ipv6 {
            src: outer.src,
            dst: outer.dst,
        },
    }
}

proptest! {
    #[test]
    fn built_frames_parse_back(spec in spec(), spare in 0usize..8) {
        let built = build(&spec, outer_len(&spec) + spare).unwrap();
        prop_assert_eq!(built.frame.clone(), spare..built.buf.len());
        prop_assert!(built.buf[..spare].iter().all(|&byte| byte == FILL));
        let frame = built.frame();
        let parsed = parse(frame).unwrap();
        prop_assert_eq!(parsed, expected(&spec));

        let l3 = usize::from(parsed.layout.l3);
        if let OuterIp::V4(outer) = spec.ip {
            let packet = Ipv4Packet::new_checked(&frame[l3..]).unwrap();
            prop_assert!(packet.verify_checksum());
            prop_assert_eq!(packet.dont_frag(), outer.dont_fragment);
        }
        let udp = UdpPacket::new_checked(&frame[usize::from(parsed.layout.l4)..]).unwrap();
        let ipv6 = matches!(spec.ip, OuterIp::V6(_));
        if spec.udp_checksum || ipv6 {
            prop_assert_ne!(udp.checksum(), 0);
            prop_assert!(udp.verify_checksum(&pseudo_header(&spec.ip)));
        } else {
            prop_assert_eq!(udp.checksum(), 0);
        }
        let (tunnel, payload) = udp.payload().split_at(spec.tunnel.len());
        prop_assert_eq!(tunnel, &spec.tunnel[..]);
        prop_assert_eq!(payload, &spec.payload[..]);
    }

    #[test]
    fn built_frames_match_etherparse(mut spec in spec()) {
        spec.udp_checksum = true;
        let built = build(&spec, outer_len(&spec)).unwrap();
        prop_assert_eq!(built.frame(), &etherparse_frame(&spec)[..]);
    }

    #[test]
    fn template_then_fix_matches_building_afresh(
        spec in spec(),
        payload in vec(any::<u8>(), 0..128),
    ) {
        // The fast path's way: copy the outer headers of an earlier frame
        // in front of a new payload, then fix the lengths.
        let template = build(&spec, outer_len(&spec)).unwrap();
        let mut frame = template.frame()[..outer_len(&spec)].to_vec();
        frame.extend_from_slice(&payload);
        fix_outer_lengths(&mut frame, &template.layout, spec.udp_checksum).unwrap();
        let afresh = build(&Spec { payload, ..spec.clone() }, outer_len(&spec)).unwrap();
        prop_assert_eq!(&frame[..], afresh.frame());
        prop_assert_eq!(template.layout, afresh.layout);
    }

    #[test]
    fn short_headroom_fails_writing_nothing(spec in spec(), short in any::<prop::sample::Index>()) {
        let headroom = short.index(outer_len(&spec));
        let mut buf = buffer(&spec, headroom);
        let Err(EmitError::Truncated { needed, available }) = build_in(&spec, &mut buf, headroom)
        else {
            return Err(TestCaseError::fail("a build without room succeeded"));
        };
        prop_assert!(needed > available);
        // The push that failed wrote nothing into the headroom left to it.
        prop_assert!(buf[..available].iter().all(|&byte| byte == FILL));
    }
}

#[test]
fn each_push_without_room_writes_nothing() {
    let outer = Ipv4Outer {
        src: [10, 0, 0, 1],
        dst: [10, 0, 0, 2],
        ttl: 64,
        tos: 0,
        dont_fragment: true,
        ident: 0,
    };
    let mut buf = [FILL; 60];
    let bytes = FrameBuilder::new(&mut buf, 7).unwrap().push_bytes(&VXLAN);
    assert_eq!(
        bytes.unwrap_err(),
        EmitError::Truncated {
            needed: 8,
            available: 7
        }
    );
    let udp = FrameBuilder::new(&mut buf, 7).unwrap().push_udp(1, 2);
    assert_eq!(
        udp.unwrap_err(),
        EmitError::Truncated {
            needed: 8,
            available: 7
        }
    );
    let ip = FrameBuilder::new(&mut buf, 27)
        .and_then(|builder| builder.push_udp(1, 2))
        .and_then(|builder| builder.push_ipv4(outer));
    assert_eq!(
        ip.unwrap_err(),
        EmitError::Truncated {
            needed: 20,
            available: 19
        }
    );
    let tag = FrameBuilder::new(&mut buf, 31)
        .and_then(|builder| builder.push_udp(1, 2))
        .and_then(|builder| builder.push_ipv4(outer))
        .and_then(|builder| builder.push_vlan(5));
    assert_eq!(
        tag.unwrap_err(),
        EmitError::Truncated {
            needed: 4,
            available: 3
        }
    );
    // Only the UDP and IPv4 headers of the last try were written.
    assert!(buf[..3].iter().all(|&byte| byte == FILL));
    assert!(buf[31..].iter().all(|&byte| byte == FILL));
    assert_eq!(
        FrameBuilder::new(&mut buf, 61).unwrap_err(),
        EmitError::Truncated {
            needed: 61,
            available: 60
        }
    );
}

#[test]
fn fix_outer_lengths_checks_before_writing() {
    let layout = OuterLayout {
        l3: ethernet::HEADER_LEN,
        ipv6: true,
        udp: Some(ethernet::HEADER_LEN + ipv6::HEADER_LEN),
    };
    let mut short = [FILL; 14 + 40 + 7];
    assert_eq!(
        fix_outer_lengths(&mut short, &layout, true),
        Err(EmitError::Truncated {
            needed: 14 + 40 + 8,
            available: 14 + 40 + 7
        })
    );
    assert!(short.iter().all(|&byte| byte == FILL));

    // An IPv6 payload may reach 65535 bytes; one more does not fit.
    let mut long = vec![FILL; 14 + 40 + MAX_FIELD_LEN + 1];
    assert_eq!(
        fix_outer_lengths(&mut long, &layout, true),
        Err(EmitError::TooLong {
            len: MAX_FIELD_LEN + 1,
            max: MAX_FIELD_LEN
        })
    );
    assert!(long.iter().all(|&byte| byte == FILL));
    long.pop();
    // At 65535 bytes both the IPv6 payload and the UDP datagram fit.
    assert_eq!(fix_outer_lengths(&mut long, &layout, false), Ok(()));
    let ipv4 = OuterLayout {
        ipv6: false,
        udp: Some(ethernet::HEADER_LEN + ipv4::HEADER_LEN),
        ..layout
    };
    let mut long = vec![FILL; 14 + MAX_FIELD_LEN + 1];
    assert!(matches!(
        fix_outer_lengths(&mut long, &ipv4, false),
        Err(EmitError::TooLong { .. })
    ));
}

proptest! {
    /// The template path's IPv4 checksum is the full one, for any source,
    /// destination, TTL, TOS and payload length.
    #[test]
    fn template_lengths_match_the_full_computation(
        src in any::<[u8; 4]>(),
        dst in any::<[u8; 4]>(),
        ttl in any::<u8>(),
        tos in any::<u8>(),
        payload in 0usize..1500,
    ) {
        let mut template = [0u8; 64];
        let built = FrameBuilder::new(&mut template, 64)
            .and_then(|b| b.push_udp(0, 4789))
            .and_then(|b| b.push_ipv4(Ipv4Outer { src, dst: [0; 4], ttl, tos, dont_fragment: true, ident: 0 }))
            .and_then(|b| b.push_ethernet([2; 6], [4; 6]))
            .unwrap();
        let layout = built.layout();
        let range = built.finish(false).unwrap();
        let header = template[range].to_vec();
        let fixed = ipv4_fixed_sum(&header[layout.l3..]);
        let mut frame = header.clone();
        frame.resize(header.len() + payload, 0x5a);
        frame[layout.l3 + 16..layout.l3 + 20].copy_from_slice(&dst);
        let mut full = frame.clone();
        fix_outer_lengths(&mut full, &layout, false).unwrap();
        fix_template_lengths(&mut frame, &layout, false, fixed).unwrap();
        prop_assert_eq!(&frame, &full);
        prop_assert!(Ipv4Packet::new_checked(&frame[layout.l3..]).unwrap().verify_checksum());
    }
}
