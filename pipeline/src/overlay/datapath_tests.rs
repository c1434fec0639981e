//! Tunnels through the whole datapath: a container port, a tunnel port and
//! an uplink, with frames built as a remote VTEP would send them.

use std::net::IpAddr;

use crate::context::Offload;
use crate::datapath::tests::{frame, Harness, VecSink, A, B};
use crate::datapath::{BridgeSpec, Datapath, DatapathSpec, PortSpec, VlanMode};
use crate::drop::DropReason;
use crate::flow::Mac;
use crate::mac_table::PortId;
use crate::offload::tests::{check_segment, super_frame};
use crate::overlay::{GeneveOptionSpec, TunnelKind, TunnelSpec, UplinkSpec};
use crate::parse::parse;
use crate::stats::Stats;
use crate::trace::NoTrace;
use crate::wire::{arp, geneve, vxlan, FrameBuilder, Ipv4Outer, Ipv4Packet};

const C1: PortId = 0;
const VX: PortId = 1;
const UP: PortId = 2;
/// Our uplink's MAC and the remote VTEP's.
const U: Mac = [0x02, 0, 0, 0, 0xaa, 1];
const P: Mac = [0x02, 0, 0, 0, 0xaa, 2];
const LOCAL: [u8; 4] = [10, 200, 0, 1];
const REMOTE: [u8; 4] = [10, 200, 0, 2];

fn tunnel(kind: TunnelKind, options: Vec<GeneveOptionSpec>) -> TunnelSpec {
    TunnelSpec {
        kind,
        uplink: UP,
        vni: 42,
        udp_port: kind.default_port(),
        local: IpAddr::from(LOCAL),
        remotes: vec![IpAddr::from(REMOTE)],
        static_macs: vec![],
        learn_remotes: false,
        ttl: 64,
        tos: 0,
        dont_fragment: true,
        udp_checksum: false,
        geneve_options: options,
    }
}

fn overlay_spec(tunnel: TunnelSpec) -> DatapathSpec {
    let port = |id, name: &str, tunnel| PortSpec {
        id,
        name: name.into(),
        bridge: 0,
        vlan_mode: VlanMode::default(),
        mac_limit: 1000,
        tunnel,
        security: None,
    };
    DatapathSpec {
        bridges: vec![BridgeSpec {
            name: "br0".into(),
            mac_aging_secs: 300,
            mac_limit: 1000,
            static_macs: vec![],
        }],
        ports: vec![port(C1, "c1", None), port(VX, "vx", Some(tunnel))],
        uplinks: vec![UplinkSpec {
            id: UP,
            name: "up".into(),
            mac: U,
            addresses: vec![(IpAddr::from(LOCAL), 24)],
            gateway: None,
            mtu: 1500,
            static_neighbours: vec![],
        }],
        networks: vec![],
        acls: vec![],
    }
}

fn harness(kind: TunnelKind, options: Vec<GeneveOptionSpec>) -> Harness {
    let dp = Datapath::new(&overlay_spec(tunnel(kind, options)), 9).unwrap();
    Harness {
        stats: Stats::new(dp.port_count()),
        dp,
        runner: crate::burst::BurstRunner::new(64),
    }
}

/// `inner` inside outer headers from the remote VTEP: `header` is the
/// tunnel header, `src`/`dst_port`/`checksum` vary the outer ones.
fn encapsulated(
    inner: &[u8],
    header: &[u8],
    src: [u8; 4],
    dst_port: u16,
    checksum: bool,
) -> Vec<u8> {
    let mut buf = vec![0u8; 256 + inner.len()];
    let start = buf.len() - inner.len();
    buf[start..].copy_from_slice(inner);
    let end = buf.len();
    let built = FrameBuilder::new(&mut buf, start)
        .and_then(|b| b.push_bytes(header))
        .and_then(|b| b.push_udp(0xc123, dst_port))
        .and_then(|b| {
            b.push_ipv4(Ipv4Outer {
                src,
                dst: LOCAL,
                ttl: 64,
                tos: 0,
                dont_fragment: true,
                ident: 0,
            })
        })
        .and_then(|b| b.push_ethernet(U, P))
        .unwrap();
    let range = built.finish(checksum).unwrap();
    assert_eq!(range.end, end);
    buf[range].to_vec()
}

fn vxlan_from_remote(inner: &[u8], vni: u32) -> Vec<u8> {
    encapsulated(
        inner,
        &vxlan::header(vni),
        REMOTE,
        vxlan::DEFAULT_PORT,
        false,
    )
}

fn drops(stats: &Stats, reason: DropReason) -> u64 {
    stats.ports.iter().map(|p| p.drops[reason as usize]).sum()
}

/// Sends `f` in on `port`; what went out, with a roomy sink.
fn send(h: &mut Harness, port: PortId, f: &[u8], now: u32) -> Vec<(PortId, Vec<u8>)> {
    h.send_into(port, f, now, &mut VecSink::new(2048))
}

fn arp_reply_from_remote() -> Vec<u8> {
    let mut buf = [0u8; 64];
    let len = arp::write_reply(&mut buf, P, REMOTE, U, LOCAL).unwrap();
    buf[..len].to_vec()
}

/// Resolves the remote VTEP's MAC as the datapath would: a first frame
/// triggers an ARP request, the remote answers.
fn resolve_remote(h: &mut Harness) {
    let out = send(h, C1, &frame(B, A, None), 1);
    assert_eq!(out.len(), 1, "an ARP request, and the frame waits for it");
    let (port, request) = &out[0];
    assert_eq!(*port, UP);
    let parsed = parse(request).unwrap();
    assert_eq!(parsed.key.ethertype, 0x0806);
    assert_eq!(&parsed.key.ip_dst[..4], &REMOTE);
    assert_eq!(drops(&h.stats, DropReason::NeighbourUnresolved), 1);
    assert!(send(h, UP, &arp_reply_from_remote(), 1).is_empty());
    assert_eq!(drops(&h.stats, DropReason::UplinkArp), 1);
}

#[test]
fn flood_is_replicated_to_the_remote_once_its_mac_is_resolved() {
    let mut h = harness(TunnelKind::Vxlan, vec![]);
    resolve_remote(&mut h);
    let inner = frame(B, A, None);
    let out = send(&mut h, C1, &inner, 2);
    assert_eq!(out.len(), 1);
    let (port, bytes) = &out[0];
    assert_eq!(*port, UP);
    assert_eq!(&bytes[..6], &P, "to the neighbour learned by ARP");
    assert_eq!(&bytes[6..12], &U);
    let ip = Ipv4Packet::new_checked(&bytes[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!((ip.src_addr(), ip.dst_addr()), (LOCAL, REMOTE));
    let parsed = parse(bytes).unwrap();
    assert_eq!(parsed.key.l4_dst, vxlan::DEFAULT_PORT);
    assert!(
        parsed.key.l4_src >= 0xc000,
        "source port from the inner flow's hash"
    );
    let header = &bytes[parsed.layout.payload as usize..];
    assert_eq!(vxlan::parse_header(header), Ok(42));
    assert_eq!(&header[vxlan::HEADER_LEN..], &inner[..]);
    let vx = &h.stats.ports[VX as usize];
    assert_eq!(
        (vx.tx_packets, vx.tx_bytes),
        (1, inner.len() as u64),
        "into the tunnel"
    );
    assert_eq!(
        h.stats.ports[UP as usize].tx_packets, 0,
        "the sink counts the uplink's"
    );
}

#[test]
fn decapsulated_frames_enter_the_bridge_and_teach_where_their_source_is() {
    let mut h = harness(TunnelKind::Vxlan, vec![]);
    resolve_remote(&mut h);
    // B, behind the remote VTEP, broadcasts: only the local port gets it
    // (split horizon: never back into a tunnel).
    let broadcast = frame([0xff; 6], B, None);
    let out = send(&mut h, UP, &vxlan_from_remote(&broadcast, 42), 3);
    assert_eq!(out, vec![(C1, broadcast.clone())]);
    // A answers B: one encapsulated copy to B's VTEP, also from the cache.
    for now in [3, 4] {
        let out = send(&mut h, C1, &frame(B, A, None), now);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, UP);
        let ip = Ipv4Packet::new_checked(&out[0].1[14..]).unwrap();
        assert_eq!(ip.dst_addr(), REMOTE);
    }
    // And B's unicast to A comes out on c1 as it was inside.
    let unicast = frame(A, B, None);
    assert_eq!(
        send(&mut h, UP, &vxlan_from_remote(&unicast, 42), 5),
        vec![(C1, unicast)]
    );
    let vx = &h.stats.ports[VX as usize];
    assert_eq!(vx.rx_packets, 2, "out of the tunnel");
    assert_eq!(
        h.stats.ports[UP as usize].rx_packets, 3,
        "with the ARP reply"
    );
}

#[test]
fn tunnel_frames_that_are_wrong_are_dropped_with_their_reason() {
    let mut h = harness(TunnelKind::Vxlan, vec![]);
    let inner = frame(A, B, None);
    let mut no_flag = vxlan::header(42);
    no_flag[0] = 0;
    let cases = [
        (vxlan_from_remote(&inner, 43), DropReason::TunnelUnknownVni),
        (
            encapsulated(&inner, &no_flag, REMOTE, vxlan::DEFAULT_PORT, false),
            DropReason::VxlanBadFlags,
        ),
        (
            encapsulated(
                &inner,
                &vxlan::header(42),
                [10, 200, 0, 9],
                vxlan::DEFAULT_PORT,
                false,
            ),
            DropReason::TunnelUnknownRemote,
        ),
        (
            encapsulated(&inner, &vxlan::header(42), REMOTE, 4790, false),
            DropReason::UplinkNotForUs,
        ),
        (
            encapsulated(
                &[],
                &vxlan::header(42)[..4],
                REMOTE,
                vxlan::DEFAULT_PORT,
                false,
            ),
            DropReason::VxlanTruncated,
        ),
    ];
    for (f, reason) in cases {
        let before = drops(&h.stats, reason);
        assert!(send(&mut h, UP, &f, 1).is_empty(), "{reason}");
        assert_eq!(drops(&h.stats, reason), before + 1, "{reason}");
    }
    // A zero and a correct checksum are accepted, a wrong one is not.
    let good = encapsulated(
        &inner,
        &vxlan::header(42),
        REMOTE,
        vxlan::DEFAULT_PORT,
        true,
    );
    assert_eq!(send(&mut h, UP, &good, 1).len(), 1);
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert!(send(&mut h, UP, &bad, 1).is_empty());
    assert_eq!(drops(&h.stats, DropReason::TunnelBadUdpChecksum), 1);
    assert_eq!(
        h.stats.ports[UP as usize].rx_packets, 7,
        "every frame counted in"
    );
}

/// `f` (an IPv4 frame) made a fragment: More Fragments, at byte `offset`.
fn as_fragment(f: &[u8], offset: u16) -> Vec<u8> {
    let mut f = f.to_vec();
    f[20..22].copy_from_slice(&(0x2000 | (offset / 8)).to_be_bytes());
    Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
    f
}

#[test]
fn outer_fragments_for_a_tunnel_are_dropped_and_others_left_to_the_uplink() {
    let mut h = harness(TunnelKind::Vxlan, vec![]);
    let to_tunnel = vxlan_from_remote(&frame(A, B, None), 42);
    // A first fragment to the tunnel's port, and a later one (no ports)
    // to the tunnel's address.
    for f in [as_fragment(&to_tunnel, 0), as_fragment(&to_tunnel, 64)] {
        assert!(send(&mut h, UP, &f, 1).is_empty());
    }
    assert_eq!(drops(&h.stats, DropReason::TunnelOuterFragment), 2);
    // A first fragment to another port is no tunnel's: a masqueraded
    // datagram's answer would be.
    let other = encapsulated(&[0; 16], &[], REMOTE, 5353, false);
    assert!(send(&mut h, UP, &as_fragment(&other, 0), 1).is_empty());
    assert_eq!(drops(&h.stats, DropReason::TunnelOuterFragment), 2);
    assert_eq!(drops(&h.stats, DropReason::UplinkNotForUs), 1);
}

#[test]
fn the_uplink_answers_arp_for_its_vtep_address_only() {
    let mut h = harness(TunnelKind::Vxlan, vec![]);
    let mut buf = [0u8; 64];
    let len = arp::write_request(&mut buf, P, REMOTE, LOCAL).unwrap();
    let out = send(&mut h, UP, &buf[..len], 1);
    assert_eq!(out.len(), 1);
    let (port, reply) = &out[0];
    assert_eq!(*port, UP);
    assert_eq!(&reply[..6], &P);
    let parsed = parse(reply).unwrap();
    assert_eq!(
        (parsed.key.ip_proto, &parsed.key.ip_src[..4]),
        (2, &LOCAL[..])
    );
    assert_eq!(&reply[22..28], &U, "our MAC as the sender hardware address");
    let len = arp::write_request(&mut buf, P, REMOTE, [10, 200, 0, 77]).unwrap();
    assert!(send(&mut h, UP, &buf[..len], 1).is_empty());
    assert_eq!(drops(&h.stats, DropReason::UplinkArp), 1);
}

/// An IPv4 UDP frame from A to B with Don't Fragment, `ip_len` bytes of IP.
fn ipv4_df(ip_len: usize) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&B);
    f.extend_from_slice(&A);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (ip_len as u16).to_be_bytes();
    let mut ip = [
        0x45, 0, total[0], total[1], 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 42, 1, 10, 0, 42, 2,
    ];
    let sum = crate::wire::checksum::internet_checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    let udp_len = ((ip_len - 20) as u16).to_be_bytes();
    f.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, udp_len[0], udp_len[1], 0, 0]);
    f.resize(14 + ip_len, 0x5a);
    f
}

#[test]
fn a_frame_too_big_for_the_tunnel_gets_fragmentation_needed_back() {
    let mut h = harness(TunnelKind::Vxlan, vec![]);
    resolve_remote(&mut h);
    let fits = send(&mut h, C1, &ipv4_df(1450), 2);
    assert_eq!(fits.len(), 1);
    assert_eq!(fits[0].1.len(), 14 + 1500, "exactly the underlay MTU");
    let out = send(&mut h, C1, &ipv4_df(1451), 2);
    assert_eq!(drops(&h.stats, DropReason::EncapTooBig), 1);
    assert_eq!(out.len(), 1, "{out:?}");
    let (port, icmp) = &out[0];
    assert_eq!(*port, C1, "back to the sender");
    let parsed = parse(icmp).unwrap();
    assert_eq!(
        (parsed.key.ip_proto, parsed.key.l4_src),
        (1, 3),
        "ICMP destination unreachable"
    );
    let l4 = parsed.layout.l4 as usize;
    assert_eq!(icmp[l4 + 1], 4, "fragmentation needed");
    assert_eq!(u16::from_be_bytes([icmp[l4 + 6], icmp[l4 + 7]]), 1450);
}

fn geneve_header(options: &[(u16, u8)]) -> Vec<u8> {
    let mut block = [0u8; 64];
    let mut len = 0;
    for &(class, kind) in options {
        let option = geneve::GeneveOption {
            class,
            kind,
            data: &[1, 2, 3, 4],
        };
        len += geneve::write_option(&option, &mut block[len..]).unwrap();
    }
    let mut header = vec![0u8; geneve::HEADER_LEN + len];
    let n = geneve::emit_header(
        &mut header,
        42,
        geneve::PROTOCOL_ETHERNET,
        &block[..len],
        false,
    )
    .unwrap();
    header.truncate(n);
    header
}

#[test]
fn geneve_critical_options_we_do_not_understand_are_dropped() {
    let known = GeneveOptionSpec {
        class: 0x0102,
        kind: 0x80,
        data: vec![9, 9, 9, 9],
    };
    let mut h = harness(TunnelKind::Geneve, vec![known]);
    let inner = frame([0xff; 6], B, None);
    let from = |options: &[(u16, u8)]| {
        encapsulated(
            &inner,
            &geneve_header(options),
            REMOTE,
            geneve::DEFAULT_PORT,
            false,
        )
    };
    assert_eq!(send(&mut h, UP, &from(&[]), 1), vec![(C1, inner.clone())]);
    assert_eq!(
        send(&mut h, UP, &from(&[(0x0102, 0x80), (0x0103, 0x01)]), 1).len(),
        1
    );
    assert!(send(&mut h, UP, &from(&[(0x0103, 0x81)]), 1).is_empty());
    assert_eq!(drops(&h.stats, DropReason::GeneveCriticalOption), 1);
}

#[test]
fn geneve_options_travel_in_the_context_for_later_stages() {
    let mut meta = crate::context::TunnelMeta::default();
    let header = geneve_header(&[(0x0102, 0x80), (0x0103, 0x01)]);
    let block = &header[geneve::HEADER_LEN..];
    meta.options[..block.len()].copy_from_slice(block);
    meta.options_len = block.len() as u8;
    assert_eq!(meta.option(0x0103, 0x01), Some(&[1, 2, 3, 4][..]));
    assert_eq!(meta.option(0x0102, 0x80), Some(&[1, 2, 3, 4][..]));
    assert_eq!(
        meta.option(0x0102, 0x00),
        None,
        "the critical bit is part of the type"
    );
}

#[test]
fn geneve_encapsulation_carries_the_configured_options() {
    let option = GeneveOptionSpec {
        class: 0x0102,
        kind: 0x05,
        data: vec![0xde, 0xad, 0xbe, 0xef],
    };
    let mut h = harness(TunnelKind::Geneve, vec![option]);
    resolve_remote(&mut h);
    let inner = frame(B, A, None);
    let out = send(&mut h, C1, &inner, 2);
    assert_eq!(out.len(), 1);
    let bytes = &out[0].1;
    let parsed = parse(bytes).unwrap();
    assert_eq!(parsed.key.l4_dst, geneve::DEFAULT_PORT);
    let header = &bytes[parsed.layout.payload as usize..];
    let len = geneve::check_header(header).unwrap();
    let view = geneve::GenevePacket::new_unchecked(header);
    assert_eq!(
        (view.vni(), view.protocol_type()),
        (42, geneve::PROTOCOL_ETHERNET)
    );
    let options: Vec<_> = geneve::options(&header[geneve::HEADER_LEN..len])
        .map(|o| o.unwrap())
        .map(|o| (o.class, o.kind, o.data.to_vec()))
        .collect();
    assert_eq!(options, vec![(0x0102, 0x05, vec![0xde, 0xad, 0xbe, 0xef])]);
    assert_eq!(&header[len..], &inner[..]);
}

#[test]
fn a_configuration_swap_keeps_what_the_tunnel_learned() {
    let mut h = harness(TunnelKind::Vxlan, vec![]);
    resolve_remote(&mut h);
    send(&mut h, UP, &vxlan_from_remote(&frame(A, B, None), 42), 2);
    let rebuilt =
        h.dp.rebuild(&overlay_spec(tunnel(TunnelKind::Vxlan, vec![])), 9)
            .unwrap();
    let t = &rebuilt.tunnels()[0];
    let slot = t.state.vteps.find(IpAddr::from(REMOTE)).unwrap().index;
    assert_eq!(
        t.state.macs.lookup(0, &B, 2),
        Some(slot as PortId),
        "B still behind it"
    );
    assert!(rebuilt.uplinks()[0]
        .neighbours
        .find(IpAddr::from(REMOTE))
        .is_some());
    h.dp = rebuilt;
    let out = send(&mut h, C1, &frame(B, A, None), 3);
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0].1[..6], &P, "no new ARP needed");
}

#[test]
fn a_neighbour_that_moves_is_followed_at_once() {
    let mut h = harness(TunnelKind::Vxlan, vec![]);
    resolve_remote(&mut h);
    let to_b = frame(B, A, None);
    assert_eq!(&send(&mut h, C1, &to_b, 2)[0].1[..6], &P);
    // The remote VTEP's MAC changes (a new NIC, a failover): its ARP
    // reply updates the neighbour, and the next frame goes to the new MAC
    // although the VTEP slot had cached the old one.
    let moved: Mac = [0x02, 0, 0, 0, 0xaa, 9];
    let mut buf = [0u8; 64];
    let len = arp::write_reply(&mut buf, moved, REMOTE, U, LOCAL).unwrap();
    assert!(send(&mut h, UP, &buf[..len], 3).is_empty());
    assert_eq!(&send(&mut h, C1, &to_b, 3)[0].1[..6], &moved);
}

#[test]
fn a_learning_tunnel_adds_the_vteps_that_send_and_floods_to_them() {
    let mut spec = tunnel(TunnelKind::Vxlan, vec![]);
    spec.remotes.clear();
    spec.learn_remotes = true;
    let dp = Datapath::new(&overlay_spec(spec), 9).unwrap();
    let mut h = Harness {
        stats: Stats::new(dp.port_count()),
        dp,
        runner: crate::burst::BurstRunner::new(64),
    };
    // Nobody to flood to yet.
    assert!(send(&mut h, C1, &frame([0xff; 6], A, None), 1).is_empty());
    assert_eq!(drops(&h.stats, DropReason::TunnelNoRemotes), 1);
    // A VTEP nobody configured sends: accepted, and it is a remote now.
    let other = [10, 200, 0, 7];
    let from_other = encapsulated(
        &frame([0xff; 6], B, None),
        &vxlan::header(42),
        other,
        4789,
        false,
    );
    assert_eq!(send(&mut h, UP, &from_other, 2).len(), 1);
    let vteps = &h.dp.tunnels()[0].state.vteps;
    let entry = vteps.find(IpAddr::from(other)).unwrap();
    assert_eq!(entry.origin, crate::overlay::Origin::Learned);
    // A broadcast from A now goes to it (an ARP for its MAC first).
    let out = send(&mut h, C1, &frame([0xff; 6], A, None), 2);
    assert_eq!(out.len(), 1);
    assert_eq!(
        &parse(&out[0].1).unwrap().key.ip_dst[..4],
        &other,
        "ARP for it"
    );
    // It ages out with the bridge's MAC aging, and B with it.
    h.dp.sweep_macs(2 + 301);
    assert!(h.dp.tunnels()[0]
        .state
        .vteps
        .find(IpAddr::from(other))
        .is_none());
    assert_eq!(h.dp.tunnels()[0].state.macs.lookup(0, &B, 303), None);
}

#[test]
fn a_static_mac_goes_to_its_vtep_among_several() {
    let third = [10, 200, 0, 3];
    let mut spec = tunnel(TunnelKind::Vxlan, vec![]);
    spec.remotes.push(IpAddr::from(third));
    spec.static_macs.push((B, IpAddr::from(third)));
    let mut datapath_spec = overlay_spec(spec);
    datapath_spec.bridges[0]
        .static_macs
        .push(crate::datapath::StaticMac {
            vlan: 0,
            mac: B,
            port: VX,
        });
    datapath_spec.uplinks[0].static_neighbours = vec![(IpAddr::from(third), P)];
    let dp = Datapath::new(&datapath_spec, 9).unwrap();
    let mut h = Harness {
        stats: Stats::new(dp.port_count()),
        dp,
        runner: crate::burst::BurstRunner::new(64),
    };
    for now in [1, 2] {
        let out = send(&mut h, C1, &frame(B, A, None), now);
        assert_eq!(out.len(), 1, "one copy, not one per remote");
        let ip = Ipv4Packet::new_checked(&out[0].1[14..]).unwrap();
        assert_eq!(ip.dst_addr(), third);
    }
    // Kept across a rebuild, and gone with the configuration that drops it.
    let mut without = datapath_spec.clone();
    without.ports[1]
        .tunnel
        .as_mut()
        .unwrap()
        .static_macs
        .clear();
    let rebuilt = h.dp.rebuild(&without, 9).unwrap();
    assert_eq!(rebuilt.tunnels()[0].state.macs.lookup(0, &B, 3), None);
}

#[test]
fn neighbours_resolved_ahead_of_traffic_lose_no_first_frame() {
    let mut h = harness(TunnelKind::Vxlan, vec![]);
    let mut sink = VecSink::new(2048);
    crate::overlay::egress::resolve_neighbours(&h.dp, 1, &mut sink, &mut h.stats);
    assert_eq!(sink.sent.len(), 1, "one ARP request for the remote");
    assert_eq!(&parse(&sink.sent[0].1).unwrap().key.ip_dst[..4], &REMOTE);
    // Again in the same second: nothing more (rate-limited).
    sink.sent.clear();
    crate::overlay::egress::resolve_neighbours(&h.dp, 1, &mut sink, &mut h.stats);
    assert!(sink.sent.is_empty());
    assert!(send(&mut h, UP, &arp_reply_from_remote(), 1).is_empty());
    // The first frame goes out encapsulated.
    let out = send(&mut h, C1, &frame(B, A, None), 2);
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0].1[..6], &P);
    assert_eq!(drops(&h.stats, DropReason::NeighbourUnresolved), 0);
    // Resolved and fresh: nothing to send.
    crate::overlay::egress::resolve_neighbours(&h.dp, 3, &mut sink, &mut h.stats);
    assert!(sink.sent.is_empty());
}

#[test]
fn a_flood_into_a_tunnel_gets_the_tunnel_ports_vlan_tagging() {
    let mut spec = overlay_spec(tunnel(TunnelKind::Vxlan, vec![]));
    spec.ports[0].vlan_mode = VlanMode::Trunk {
        allowed: crate::datapath::VlanSet::of(&[10]),
        native: None,
    };
    spec.ports[1].vlan_mode = VlanMode::Access { vlan: 10 };
    spec.uplinks[0].static_neighbours = vec![(IpAddr::from(REMOTE), P)];
    let dp = Datapath::new(&spec, 9).unwrap();
    let mut h = Harness {
        stats: Stats::new(dp.port_count()),
        dp,
        runner: crate::burst::BurstRunner::new(64),
    };
    let tagged = frame([0xff; 6], A, Some(10));
    let out = send(&mut h, C1, &tagged, 1);
    assert_eq!(out.len(), 1);
    let inner = &out[0].1[50..];
    assert_eq!(
        inner,
        &frame([0xff; 6], A, None)[..],
        "the access tunnel port's frame is untagged"
    );
}

/// Sends `frame` in on the container port with `offload` state; what went
/// out where.
fn send_offloaded(h: &mut Harness, frame: &[u8], offload: Offload) -> Vec<(PortId, Vec<u8>)> {
    let mut sink = VecSink::new(2048);
    let mut bytes = frame.to_vec();
    h.runner.process_offloaded(
        &h.dp,
        C1,
        &mut [&mut bytes[..]],
        &[0],
        &[offload],
        2,
        &mut sink,
        &mut h.stats,
        &mut NoTrace,
    );
    sink.sent
}

/// A TCP super-frame from a container (TSO) flooded into the tunnel is cut
/// in software into segments that fit the uplink's MTU once encapsulated,
/// each encapsulated on its own with every checksum right; one too large
/// for the MTU even as segments is refused as a frame would be.
#[test]
fn a_super_frame_into_a_tunnel_is_segmented_then_encapsulated() {
    for ipv6 in [false, true] {
        let mut h = harness(TunnelKind::Vxlan, vec![]);
        resolve_remote(&mut h);
        let payload: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let (frame, mut ctx) = super_frame(ipv6, &payload, true);
        // 1,380 bytes of TCP payload a segment: 1,490 bytes of outer IPv6
        // packet with VXLAN, within the uplink's 1,500.
        ctx.offload.gso_size = 1380;
        let sent = send_offloaded(&mut h, &frame, ctx.offload);
        assert_eq!(sent.len(), 4, "ipv6 {ipv6}");
        let mut data = Vec::new();
        for (i, (port, bytes)) in sent.iter().enumerate() {
            assert_eq!(*port, UP);
            let ip = Ipv4Packet::new_checked(&bytes[14..]).unwrap();
            assert!(ip.verify_checksum());
            assert_eq!(usize::from(ip.total_len()), bytes.len() - 14);
            assert!(bytes.len() - 14 <= 1500, "within the MTU");
            let parsed = parse(bytes).unwrap();
            let header = &bytes[parsed.layout.payload as usize..];
            assert_eq!(vxlan::parse_header(header), Ok(42));
            let (_, chunk, fin, _) = check_segment(&header[vxlan::HEADER_LEN..], ipv6);
            assert_eq!(fin, i == 3, "FIN on the last segment only");
            data.extend(chunk);
        }
        assert_eq!(data, payload);
        let vx = &h.stats.ports[VX as usize];
        assert_eq!((vx.sw_segmented, vx.tx_packets), (4, 1));

        ctx.offload.gso_size = 1448;
        let sent = send_offloaded(&mut h, &frame, ctx.offload);
        assert!(sent.iter().all(|(port, _)| *port != UP));
        assert_eq!(drops(&h.stats, DropReason::EncapTooBig), 1);
    }
}
