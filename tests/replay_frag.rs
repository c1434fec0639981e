//! IPv4 fragments through masquerade, by `replay --trace` into
//! configs/nat.toml: the fragments of a datagram are held until it is
//! whole, the datagram is tracked once, and every fragment leaves with the
//! same translation (addresses in all, the port and the UDP checksum of
//! the whole datagram in the first), in the order they came; the
//! fragmented answer comes back translated, its fragments out of order;
//! overlapping fragments are dropped with the datagram (`frag_overlap`);
//! a datagram never whole times out (`frag_timeout`).

mod common;

use common::*;
use vswitch_pipeline::wire::checksum::PseudoHeader;
use vswitch_pipeline::wire::{arp, FrameBuilder, Ipv4Outer, Ipv4Packet, UdpPacket};

const MAC1: [u8; 6] = [0x02, 0, 0, 0, 1, 2];
const GW_FRONT: [u8; 6] = [0x02, 0x47, 0, 0, 0, 1];
const UPLINK_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xee, 1];
const ROUTER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xee, 0xfe];
const H1: [u8; 4] = [10, 1, 0, 2];
const UPLINK: [u8; 4] = [192, 0, 2, 1];
const SERVER: [u8; 4] = [198, 51, 100, 7];

type Endpoint = ([u8; 4], u16);
type Run = TracedRun;

impl Run {
    fn sent(&self, port: &str) -> Vec<Vec<u8>> {
        read_pcap(&self.dir.join("out").join(format!("{port}.pcap")))
            .into_iter()
            .filter(|f| f[12..14] == [8, 0])
            .collect()
    }
}

fn run(inputs: &[(&str, Capture)]) -> Run {
    TracedRun::replay("nat.toml", inputs)
}

/// A whole UDP datagram of 40 payload bytes, may be fragmented.
fn datagram(eth: ([u8; 6], [u8; 6]), src: Endpoint, dst: Endpoint, ident: u16) -> Vec<u8> {
    let payload: Vec<u8> = (0..40u8).collect();
    let mut buf = vec![0u8; 256];
    let end = buf.len();
    let built = FrameBuilder::new(&mut buf, end)
        .and_then(|b| b.push_bytes(&payload))
        .and_then(|b| b.push_udp(src.1, dst.1))
        .and_then(|b| {
            b.push_ipv4(Ipv4Outer {
                src: src.0,
                dst: dst.0,
                ttl: 64,
                tos: 0,
                dont_fragment: false,
                ident,
            })
        })
        .and_then(|b| b.push_ethernet(eth.0, eth.1))
        .unwrap();
    let range = built.finish(true).unwrap();
    buf[range].to_vec()
}

/// `frame`'s IPv4 packet cut into fragments of the payload ranges
/// `cuts` (byte offsets, multiples of 8, ending at the payload's end).
fn fragment(frame: &[u8], cuts: &[(usize, usize)]) -> Vec<Vec<u8>> {
    let header = &frame[..14 + 20];
    let payload = &frame[14 + 20..];
    cuts.iter()
        .map(|&(start, end)| {
            let mut f = header.to_vec();
            f.extend_from_slice(&payload[start..end]);
            let total = (20 + end - start) as u16;
            f[16..18].copy_from_slice(&total.to_be_bytes());
            let more = if end < payload.len() { 0x2000 } else { 0 };
            f[20..22].copy_from_slice(&(more | (start / 8) as u16).to_be_bytes());
            Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
            f
        })
        .collect()
}

const CUTS: [(usize, usize); 3] = [(0, 16), (16, 32), (32, 48)];

/// The datagram the IPv4 fragments `frames` make, each fragment's header
/// checksum and the whole datagram's UDP checksum checked: its source,
/// its destination, and the fragments' offsets in the order they came.
fn reassemble(frames: &[Vec<u8>]) -> (Endpoint, Endpoint, Vec<u32>) {
    let mut payload = [0u8; 48];
    let mut offsets = Vec::new();
    let mut addrs = None;
    for f in frames {
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert!(ip.verify_checksum(), "header checksum of {f:?}");
        let at = usize::from(u16::from_be_bytes([f[20], f[21]]) & 0x1fff) * 8;
        payload[at..at + ip.payload().len()].copy_from_slice(ip.payload());
        offsets.push(at as u32);
        let these = (ip.src_addr(), ip.dst_addr());
        assert_eq!(*addrs.get_or_insert(these), these, "every fragment alike");
    }
    let (src, dst) = addrs.unwrap();
    let udp = UdpPacket::new_checked(&payload[..]).unwrap();
    assert!(
        udp.verify_checksum(&PseudoHeader::Ipv4 { src, dst }),
        "the whole datagram's UDP checksum"
    );
    ((src, udp.src_port()), (dst, udp.dst_port()), offsets)
}

fn c1_arps() -> (f64, Vec<u8>) {
    let mut buf = [0u8; 64];
    let len = arp::write_request(&mut buf, MAC1, H1, [10, 1, 0, 1]).unwrap();
    (0.0, buf[..len].to_vec())
}

fn at(time: f64, frames: Vec<Vec<u8>>) -> Capture {
    frames.into_iter().map(|f| (time, f)).collect()
}

#[test]
fn a_fragmented_datagram_is_masqueraded_and_its_fragmented_answer_comes_back() {
    let out = fragment(
        &datagram((GW_FRONT, MAC1), (H1, 5000), (SERVER, 53), 41),
        &CUTS,
    );
    let mut c1 = vec![c1_arps()];
    c1.extend(at(1.0, out.clone()));
    let first = run(&[("c1", c1.clone())]);
    let sent = first.sent("up");
    assert_eq!(sent.len(), 3, "three fragments out");
    let ((src, port), dst, offsets) = reassemble(&sent);
    assert_eq!((src, dst, offsets), (UPLINK, (SERVER, 53), vec![0, 16, 32]));
    assert!((40000..=40001).contains(&port));
    has(
        first.frame(2),
        &[
            "ct(zone=32768,commit,nat(masquerade=0),continue): tracked on the way out",
            "an IPv4 fragment: held until its datagram is whole",
        ],
    );
    assert!(!first.frame(2).contains("recirculation"));
    has(
        first.frame(4),
        &[
            "datagram whole: its 3 fragments go on, as received, tracked as one",
            &format!("ct zone 32768: +trk+new, nat 10.1.0.2:5000 > 198.51.100.7:53 to 192.0.2.1:{port} > 198.51.100.7:53"),
            "route 198.51.100.7: default via uplink up",
        ],
    );
    assert_eq!(first.summary.conntrack.created, 1);

    // The answer, fragmented too, its fragments last first.
    let answer = fragment(
        &datagram((UPLINK_MAC, ROUTER_MAC), (SERVER, 53), (UPLINK, port), 99),
        &CUTS,
    );
    let r = run(&[
        ("c1", c1),
        (
            "up",
            at(
                1.5,
                vec![answer[2].clone(), answer[0].clone(), answer[1].clone()],
            ),
        ),
    ]);
    let back = r.sent("c1");
    assert_eq!(back.len(), 3, "three fragments back");
    let (src, dst, offsets) = reassemble(&back);
    assert_eq!(
        (src, dst, offsets),
        ((SERVER, 53), (H1, 5000), vec![32, 0, 16]),
        "translated, in the order they came"
    );
    has(
        r.frame(7),
        &[
            "datagram whole: its 3 fragments go on",
            &format!("ct zone 32768: +trk+est+rpl, nat 198.51.100.7:53 > 192.0.2.1:{port} to 198.51.100.7:53 > 10.1.0.2:5000"),
            "route 10.1.0.2: into network front",
        ],
    );
    assert_eq!(r.summary.conntrack.created, 1);
}

#[test]
fn overlapping_fragments_are_dropped_with_their_datagram() {
    let whole = datagram((GW_FRONT, MAC1), (H1, 5000), (SERVER, 53), 41);
    let pieces = fragment(&whole, &CUTS);
    let overlapping = fragment(&whole, &[(8, 24)]).remove(0);
    let mut c1 = vec![c1_arps()];
    c1.extend(at(
        1.0,
        vec![pieces[0].clone(), overlapping, pieces[2].clone()],
    ));
    let r = run(&[("c1", c1)]);
    assert!(r.sent("up").is_empty());
    assert_eq!(
        r.drops("c1", "frag_overlap"),
        2,
        "the held one and the overlapping one"
    );
    has(
        r.frame(3),
        &[
            "an IPv4 fragment: held until its datagram is whole",
            "1 held fragments of the datagram dropped: frag_overlap",
        ],
    );
    assert_eq!(r.summary.conntrack.created, 0);
}

#[test]
fn a_datagram_never_whole_times_out_after_30_seconds() {
    let first = fragment(
        &datagram((GW_FRONT, MAC1), (H1, 5000), (SERVER, 53), 41),
        &CUTS,
    )
    .remove(0);
    let later = fragment(
        &datagram((GW_FRONT, MAC1), (H1, 5001), (SERVER, 53), 42),
        &CUTS,
    )
    .remove(0);
    let r = run(&[(
        "c1",
        vec![
            c1_arps(),
            (1.0, first.clone()),
            (31.0, later.clone()),
            (32.0, later),
        ],
    )]);
    assert_eq!(r.drops("c1", "frag_timeout"), 1, "the first, at 32 s");
    assert_eq!(r.drops("c1", "frag_duplicate"), 1, "the repeated later one");
    has(
        r.frame(4),
        &["1 held fragments of the datagram dropped: frag_timeout"],
    );
    assert!(r.sent("up").is_empty());
}
