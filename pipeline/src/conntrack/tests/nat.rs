//! NAT of frames whose TCP/UDP checksum is partial (super-frames a port
//! handed over with their checksum offloaded): the field must stay the
//! pseudo-header's sum, now of the translated addresses, so that whoever
//! completes it (a kernel, a NIC, the switch's own segmentation) gets it
//! right.

use proptest::prelude::*;

use super::frames::*;
use crate::conntrack::track::Verdict;
use crate::conntrack::{ConnTable, ConntrackConfig, NatRequest, Snat, Translation};
use crate::context::ct_state::{ESTABLISHED, NEW, REPLY, TRACKED};
use crate::context::ChecksumState;
use crate::offload::complete_checksum;
use crate::parse::parse;
use crate::wire::checksum::{internet_checksum, PseudoHeader};
use crate::wire::tcp::flags::{ACK, SYN};
use crate::wire::{ip_proto, read_u16, write_u16};

const UPLINK: [u8; 4] = [192, 0, 2, 1];
/// Where the L4 header starts in the frames of [`ipv4`].
const L4: usize = 14 + 20;
const SNAT: NatRequest = NatRequest::Snat(Snat {
    addr: std::net::Ipv4Addr::new(192, 0, 2, 1),
    ports: (40000, 40000),
});

fn table() -> ConnTable {
    ConnTable::with_config(ConntrackConfig {
        limit: 64,
        ..ConntrackConfig::default()
    })
}

/// Where the checksum field of a frame of `proto` is, from the L4 header.
fn checksum_offset(proto: u8) -> usize {
    if proto == ip_proto::TCP {
        16
    } else {
        6
    }
}

/// The frame's pseudo-header sum for its L4 packet: what a partial
/// checksum field holds.
fn pseudo_sum(frame: &[u8]) -> u16 {
    let pseudo = PseudoHeader::Ipv4 {
        src: frame[26..30].try_into().unwrap(),
        dst: frame[30..34].try_into().unwrap(),
    };
    pseudo.sum(frame[23], (frame.len() - L4) as u32)
}

/// The L4 checksum the frame should carry, summed from scratch.
fn full_checksum(frame: &[u8]) -> u16 {
    let mut copy = frame.to_vec();
    let at = L4 + checksum_offset(frame[23]);
    write_u16(&mut copy, at, 0);
    let pseudo = PseudoHeader::Ipv4 {
        src: frame[26..30].try_into().unwrap(),
        dst: frame[30..34].try_into().unwrap(),
    };
    pseudo.checksum(frame[23], &copy[L4..])
}

/// `frame` as a sender with checksum offload leaves it: the
/// pseudo-header's sum in the checksum field, and the state saying so.
fn partial(mut frame: Vec<u8>) -> (Vec<u8>, ChecksumState) {
    let offset = checksum_offset(frame[23]);
    let sum = pseudo_sum(&frame);
    write_u16(&mut frame, L4 + offset, sum);
    let state = ChecksumState::Partial {
        start: L4 as u16,
        offset: offset as u16,
    };
    (frame, state)
}

/// `frame` with its L4 checksum complete.
fn complete(mut frame: Vec<u8>) -> Vec<u8> {
    let (sum, at) = (full_checksum(&frame), L4 + checksum_offset(frame[23]));
    write_u16(&mut frame, at, sum);
    frame
}

/// Runs `frame` through the tracker with NAT in zone 0 at `now`.
fn track(
    t: &ConnTable,
    frame: &mut [u8],
    checksum: ChecksumState,
    nat: NatRequest,
    now: u32,
) -> (Verdict, Option<Translation>) {
    let parsed = parse(frame).expect("test frames parse");
    t.track_nat(frame, &parsed, checksum, 0, true, nat, now, false)
}

/// Checks that `frame`'s partial checksum is the pseudo-header sum of its
/// (translated) addresses, and that completing it gives the checksum
/// summed from scratch.
fn assert_partial_right(frame: &[u8], what: &str) {
    let at = L4 + checksum_offset(frame[23]);
    assert_eq!(
        read_u16(frame, at),
        pseudo_sum(frame),
        "{what}: the field is not the translated pseudo-header's sum"
    );
    let mut completed = frame.to_vec();
    complete_checksum(&mut completed, L4, checksum_offset(frame[23])).unwrap();
    assert_eq!(
        read_u16(&completed, at),
        full_checksum(frame),
        "{what}: completed, the checksum is wrong"
    );
}

#[test]
fn a_tcp_super_frame_keeps_a_right_partial_checksum_through_masquerade_both_ways() {
    let t = table();
    let complete_state = ChecksumState::Complete;
    let segment = |src, dst, sport, dport, seq, ack, flags, len| {
        ipv4(
            src,
            dst,
            ip_proto::TCP,
            &tcp(sport, dport, seq, ack, flags, 65535, None, len),
        )
    };
    let mut syn = complete(segment(A, B, 1000, 80, 100, 0, SYN, 0));
    let (verdict, translation) = track(&t, &mut syn, complete_state, SNAT, 1);
    assert_eq!(verdict.state, TRACKED | NEW);
    assert_eq!(translation.unwrap().to_src, (UPLINK.into(), 40000));
    assert_eq!(
        read_u16(&syn, L4 + 16),
        full_checksum(&syn),
        "a complete checksum"
    );
    let mut syn_ack = complete(segment(B, UPLINK, 80, 40000, 500, 101, SYN | ACK, 0));
    let (verdict, _) = track(&t, &mut syn_ack, complete_state, NatRequest::Apply, 2);
    assert_eq!(verdict.state, TRACKED | ESTABLISHED | REPLY);
    let mut ack = complete(segment(A, B, 1000, 80, 101, 501, ACK, 0));
    track(&t, &mut ack, complete_state, SNAT, 3);

    // Out: a 20,000-byte super-frame, its source translated.
    let (mut out, state) = partial(segment(A, B, 1000, 80, 101, 501, ACK, 20_000));
    let (verdict, translation) = track(&t, &mut out, state, SNAT, 4);
    assert_eq!(verdict.state, TRACKED | ESTABLISHED);
    assert_eq!(translation.unwrap().to_src, (UPLINK.into(), 40000));
    assert_eq!(&out[26..30], &UPLINK);
    assert_partial_right(&out, "out");

    // Back: a coalesced super-frame to the uplink, its destination
    // translated back.
    let (mut back, state) = partial(segment(B, UPLINK, 80, 40000, 501, 20_101, ACK, 9_000));
    let (verdict, translation) = track(&t, &mut back, state, NatRequest::Apply, 5);
    assert_eq!(verdict.state, TRACKED | ESTABLISHED | REPLY);
    assert_eq!(translation.unwrap().to_dst, (A.into(), 1000));
    assert_eq!(&back[30..34], &A);
    assert_partial_right(&back, "back");
}

#[test]
fn a_udp_datagram_with_a_partial_checksum_stays_right_through_masquerade() {
    let t = table();
    let (mut out, state) = partial(ipv4(A, B, ip_proto::UDP, &udp(5000, 53)));
    let (verdict, translation) = track(&t, &mut out, state, SNAT, 1);
    assert_eq!(verdict.state, TRACKED | NEW);
    assert_eq!(translation.unwrap().to_src, (UPLINK.into(), 40000));
    assert_partial_right(&out, "out");
    let (mut back, state) = partial(ipv4(B, UPLINK, ip_proto::UDP, &udp(53, 40000)));
    let (verdict, translation) = track(&t, &mut back, state, NatRequest::Apply, 2);
    assert_eq!(verdict.state, TRACKED | ESTABLISHED | REPLY);
    assert_eq!(translation.unwrap().to_dst, (A.into(), 5000));
    assert_partial_right(&back, "back");
}

/// `frame` with its IPv4 header checksum filled in.
fn with_header_checksum(mut frame: Vec<u8>) -> Vec<u8> {
    write_u16(&mut frame, 24, 0);
    let sum = internet_checksum(&frame[14..L4]);
    write_u16(&mut frame, 24, sum);
    frame
}

proptest! {
    /// Whatever the addresses and ports, the incremental updates give the
    /// checksums a full recomputation gives, both ways, complete or
    /// partial.
    #[test]
    fn translated_checksums_equal_summing_from_scratch(
        inside in any::<[u8; 4]>(),
        remote in any::<[u8; 4]>(),
        uplink in any::<[u8; 4]>(),
        (sport, dport, port) in (1u16.., 1u16.., 1u16..),
        is_tcp in any::<bool>(),
        offloaded in any::<bool>(),
    ) {
        prop_assume!(inside != remote && uplink != remote && inside != uplink);
        let proto = if is_tcp { ip_proto::TCP } else { ip_proto::UDP };
        let l4 = |sport, dport| if is_tcp {
            tcp(sport, dport, 7, 0, SYN, 65535, None, 3)
        } else {
            udp(sport, dport)
        };
        let frame = |src, dst, sport, dport| {
            let frame = with_header_checksum(ipv4(src, dst, proto, &l4(sport, dport)));
            if offloaded { partial(frame) } else { (complete(frame), ChecksumState::Complete) }
        };
        let (out, _) = frame(inside, remote, sport, dport);
        let (back, _) = frame(remote, uplink, dport, port);
        // A zero UDP checksum means "none" and is left so.
        prop_assume!(is_tcp || offloaded || (read_u16(&out, L4 + 6) != 0 && read_u16(&back, L4 + 6) != 0));
        let t = table();
        let snat = NatRequest::Snat(Snat { addr: uplink.into(), ports: (port, port) });
        for (mut frame, state, nat, what) in [
            (out, frame(inside, remote, sport, dport).1, snat, "out"),
            (back, frame(remote, uplink, dport, port).1, NatRequest::Apply, "back"),
        ] {
            let (verdict, translation) = track(&t, &mut frame, state, nat, 1);
            prop_assert!(translation.is_some(), "{what}: {verdict:?}");
            prop_assert_eq!(internet_checksum(&frame[14..L4]), 0, "{}: IPv4 header", what);
            if offloaded {
                assert_partial_right(&frame, what);
            } else {
                let at = L4 + checksum_offset(proto);
                prop_assert_eq!(read_u16(&frame, at), full_checksum(&frame), "{}: L4", what);
            }
        }
        prop_assert_eq!(t.len(), 1);
    }
}
