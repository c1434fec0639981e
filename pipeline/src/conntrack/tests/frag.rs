//! The fragment table: datagrams made whole from fragments in any order,
//! and the fragments it refuses.

use super::frames::{ipv4, A, B};
use crate::conntrack::frag::{FragDrop, FragHeld, FragTable, Verdict, MAX_FRAGMENTS};
use crate::drop::DropReason;
use crate::wire::ip_proto;

const L3: usize = 14;
const PORT: u16 = 3;

/// The fragment of datagram `ident` carrying `payload` at byte `offset`,
/// with More Fragments when `more`.
fn fragment(ident: u16, offset: u32, more: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = ipv4(A, B, ip_proto::UDP, payload);
    f[L3 + 4..L3 + 6].copy_from_slice(&ident.to_be_bytes());
    let flags = if more { 0x2000 } else { 0 } | (offset / 8) as u16;
    f[L3 + 6..L3 + 8].copy_from_slice(&flags.to_be_bytes());
    f
}

/// The three fragments of a 40-byte datagram: 16 + 16 + 8 bytes.
fn three(ident: u16) -> [Vec<u8>; 3] {
    [
        fragment(ident, 0, true, &[1; 16]),
        fragment(ident, 16, true, &[2; 16]),
        fragment(ident, 32, false, &[3; 8]),
    ]
}

fn held(table: &FragTable, slot: usize) -> Vec<(Vec<u8>, u32)> {
    table
        .fragments(slot)
        .map(|f| (f.frame.to_vec(), f.offset))
        .collect()
}

#[test]
fn fragments_in_order_make_the_datagram_whole() {
    let mut t = FragTable::new(4, 30);
    let [a, b, c] = three(7);
    assert_eq!(t.insert(&a, L3, 0, PORT, 1), Ok(FragHeld::Waiting));
    assert_eq!(t.insert(&b, L3, 0, PORT, 1), Ok(FragHeld::Waiting));
    let Ok(FragHeld::Complete(slot)) = t.insert(&c, L3, 0, PORT, 1) else {
        panic!("the last fragment completes the datagram");
    };
    assert_eq!(held(&t, slot), vec![(a, 0), (b, 16), (c, 32)]);
    t.release(slot);
    assert_eq!(t.in_progress(), 0);
    assert_eq!(
        t.fragments(slot).count(),
        0,
        "a released slot lists nothing"
    );
}

#[test]
fn fragments_out_of_order_are_kept_in_arrival_order() {
    let mut t = FragTable::new(4, 30);
    let [a, b, c] = three(7);
    assert_eq!(t.insert(&c, L3, 0, PORT, 1), Ok(FragHeld::Waiting));
    assert_eq!(t.insert(&a, L3, 0, PORT, 1), Ok(FragHeld::Waiting));
    let Ok(FragHeld::Complete(slot)) = t.insert(&b, L3, 0, PORT, 1) else {
        panic!("the middle fragment completes the datagram");
    };
    assert_eq!(held(&t, slot), vec![(c, 32), (a, 0), (b, 16)]);
}

#[test]
fn a_duplicate_fragment_is_dropped_alone() {
    let mut t = FragTable::new(4, 30);
    let [a, b, c] = three(7);
    assert_eq!(t.insert(&a, L3, 0, PORT, 1), Ok(FragHeld::Waiting));
    assert_eq!(t.insert(&a, L3, 0, PORT, 1), Err(FragDrop::Duplicate));
    assert_eq!(t.insert(&b, L3, 0, PORT, 1), Ok(FragHeld::Waiting));
    assert!(matches!(
        t.insert(&c, L3, 0, PORT, 1),
        Ok(FragHeld::Complete(_))
    ));
}

#[test]
fn an_overlapping_fragment_drops_the_datagram() {
    let mut t = FragTable::new(4, 30);
    let [a, _, c] = three(7);
    assert_eq!(t.insert(&a, L3, 0, PORT, 1), Ok(FragHeld::Waiting));
    let overlapping = fragment(7, 8, true, &[9; 16]);
    assert_eq!(
        t.insert(&overlapping, L3, 0, PORT, 1),
        Err(FragDrop::Overlap)
    );
    assert_eq!(t.in_progress(), 0, "the datagram is gone");
    let dropped = t.take_reassembled().expect("the held fragment comes back");
    assert_eq!(
        (
            dropped.verdict.dropped,
            dropped.verdict.in_port,
            dropped.count
        ),
        (Some(DropReason::FragOverlap), PORT, 1)
    );
    assert!(t.take_reassembled().is_none());
    // What comes after starts a new datagram that never completes.
    assert_eq!(t.insert(&c, L3, 0, PORT, 1), Ok(FragHeld::Waiting));
}

#[test]
fn a_datagram_past_65535_bytes_is_too_big() {
    let mut t = FragTable::new(4, 30);
    // 20 header bytes + 65,520 + 16 = 65,556.
    let last = fragment(7, 65_520, false, &[0; 16]);
    assert_eq!(t.insert(&last, L3, 0, PORT, 1), Err(FragDrop::TooBig));
    assert_eq!(t.in_progress(), 0);
}

#[test]
fn a_datagram_in_too_many_pieces_is_too_big() {
    let mut t = FragTable::new(4, 30);
    for piece in 0..MAX_FRAGMENTS as u32 {
        let f = fragment(7, piece * 8, true, &[0; 8]);
        assert_eq!(t.insert(&f, L3, 0, PORT, 1), Ok(FragHeld::Waiting));
    }
    let one_more = fragment(7, MAX_FRAGMENTS as u32 * 8, false, &[0; 8]);
    assert_eq!(t.insert(&one_more, L3, 0, PORT, 1), Err(FragDrop::TooBig));
    assert_eq!(t.in_progress(), 0);
}

#[test]
fn lengths_that_contradict_the_datagram_are_malformed() {
    let mut t = FragTable::new(4, 30);
    let odd = fragment(7, 0, true, &[0; 12]);
    assert_eq!(t.insert(&odd, L3, 0, PORT, 1), Err(FragDrop::Malformed));
    let [_, _, c] = three(8);
    assert_eq!(t.insert(&c, L3, 0, PORT, 1), Ok(FragHeld::Waiting));
    let past_the_end = fragment(8, 40, true, &[0; 8]);
    assert_eq!(
        t.insert(&past_the_end, L3, 0, PORT, 1),
        Err(FragDrop::Malformed)
    );
    assert_eq!(t.in_progress(), 0);
}

#[test]
fn a_partial_datagram_expires_after_the_timeout() {
    let mut t = FragTable::new(4, 30);
    let [a, b, c] = three(7);
    assert_eq!(t.insert(&a, L3, 0, PORT, 100), Ok(FragHeld::Waiting));
    assert_eq!(t.expire(130), 0, "not yet: 30 s is the timeout");
    assert_eq!(t.expire(99), 0, "a clock behind does not expire it");
    assert_eq!(t.expire(131), 1, "one fragment held");
    assert_eq!(t.in_progress(), 0);
    let expired = t.take_reassembled().expect("counted as dropped");
    assert_eq!(expired.verdict.dropped, Some(DropReason::FragTimeout));
    // The rest alone never completes it.
    assert_eq!(t.insert(&b, L3, 0, PORT, 131), Ok(FragHeld::Waiting));
    assert_eq!(t.insert(&c, L3, 0, PORT, 131), Ok(FragHeld::Waiting));
}

#[test]
fn a_full_table_refuses_new_datagrams_but_completes_held_ones() {
    let mut t = FragTable::new(2, 30);
    let [a1, b1, c1] = three(1);
    let [a2, ..] = three(2);
    let [a3, ..] = three(3);
    assert_eq!(t.insert(&a1, L3, 0, PORT, 1), Ok(FragHeld::Waiting));
    assert_eq!(t.insert(&a2, L3, 0, PORT, 1), Ok(FragHeld::Waiting));
    assert_eq!(t.insert(&a3, L3, 0, PORT, 1), Err(FragDrop::TableFull));
    assert_eq!(t.insert(&b1, L3, 0, PORT, 1), Ok(FragHeld::Waiting));
    let Ok(FragHeld::Complete(slot)) = t.insert(&c1, L3, 0, PORT, 1) else {
        panic!("a held datagram completes in a full table");
    };
    t.release(slot);
    assert_eq!(t.insert(&a3, L3, 0, PORT, 1), Ok(FragHeld::Waiting));
}

#[test]
fn the_same_ident_in_two_zones_is_two_datagrams() {
    let mut t = FragTable::new(4, 30);
    let [a, b, c] = three(7);
    assert_eq!(t.insert(&a, L3, 1, PORT, 1), Ok(FragHeld::Waiting));
    assert_eq!(t.insert(&b, L3, 2, PORT, 1), Ok(FragHeld::Waiting));
    assert_eq!(t.insert(&c, L3, 1, PORT, 1), Ok(FragHeld::Waiting));
    assert_eq!(t.in_progress(), 2);
}

#[test]
fn padding_after_the_ip_packet_is_not_held() {
    let mut t = FragTable::new(4, 30);
    let [a, b, mut c] = three(7);
    let exact = c.clone();
    c.extend_from_slice(&[0xee; 10]);
    t.insert(&a, L3, 0, PORT, 1).unwrap();
    t.insert(&b, L3, 0, PORT, 1).unwrap();
    let Ok(FragHeld::Complete(slot)) = t.insert(&c, L3, 0, PORT, 1) else {
        panic!("complete");
    };
    assert_eq!(held(&t, slot)[2].0, exact);
}

#[test]
fn a_tracked_datagram_is_handed_back_once_translated() {
    let mut t = FragTable::new(4, 30);
    let [a, b, c] = three(7);
    t.insert(&b, L3, 0, PORT, 1).unwrap();
    t.insert(&a, L3, 0, PORT, 1).unwrap();
    let Ok(FragHeld::Complete(slot)) = t.insert(&c, L3, 0, PORT, 1) else {
        panic!("complete");
    };
    let offsets: Vec<_> = t
        .fragments_mut(slot)
        .map(|(f, l3, o)| {
            f[l3 + 12] = 99; // as a translation would
            o
        })
        .collect();
    assert_eq!(offsets, vec![16, 0, 32]);
    assert!(t.take_reassembled().is_none(), "not before its verdict");
    assert!(!t.has_reassembled());
    let verdict = Verdict {
        in_port: PORT,
        timestamp_ns: 5,
        ct: Default::default(),
        dropped: None,
    };
    t.set_verdict(slot, verdict);
    assert!(t.has_reassembled());
    {
        let whole = t.take_reassembled().unwrap();
        assert_eq!((whole.verdict, whole.count), (verdict, 3));
        let mut expected = b.clone();
        expected[L3 + 12] = 99;
        assert_eq!(&*whole.frames[0], &expected[..]);
        assert!(whole.frames[3].is_empty());
    }
    assert!(!t.has_reassembled());
    assert!(t.take_reassembled().is_none(), "handed back once");
    assert_eq!(t.in_progress(), 0);
}
