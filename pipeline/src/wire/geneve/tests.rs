use super::*;
use crate::wire::assert_short_emit_writes_nothing;
use proptest::collection::vec;
use proptest::prelude::*;

/// VNI 0x123456 carrying Ethernet, C set, with two options: OVN's
/// (class 0x0102, critical type 0x80, 4 bytes of data) and one of class
/// 0xffff, type 1, no data; then 2 bytes of the inner frame.
const HEADER: [u8; 26] = [
    0x03, 0x40, 0x65, 0x58, 0x12, 0x34, 0x56, 0x00, // base header, Opt Len 3
    0x01, 0x02, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef, // OVN option
    0xff, 0xff, 0x01, 0x00, // empty option
    0xaa, 0xbb, // payload
    0, 0, 0, 0,
];

/// The header without the trailing zeros.
fn header() -> &'static [u8] {
    &HEADER[..22]
}

#[test]
fn reads_header_and_options() {
    let packet = GenevePacket::new_checked(header()).unwrap();
    assert_eq!(packet.version(), 0);
    assert_eq!(packet.options_len(), 12);
    assert_eq!(packet.header_len(), 20);
    assert!(!packet.oam());
    assert!(packet.critical());
    assert_eq!(packet.protocol_type(), PROTOCOL_ETHERNET);
    assert_eq!(packet.vni(), 0x12_3456);
    assert_eq!(packet.options(), &HEADER[8..20]);
    assert_eq!(packet.payload(), &[0xaa, 0xbb]);
    assert_eq!(check_header(header()), Ok(20));

    let walked: Vec<_> = options(packet.options()).collect();
    let ovn = GeneveOption {
        class: 0x0102,
        kind: 0x80,
        data: &[0xde, 0xad, 0xbe, 0xef],
    };
    let empty = GeneveOption {
        class: 0xffff,
        kind: 1,
        data: &[],
    };
    assert_eq!(walked, vec![Ok(ovn), Ok(empty)]);
    assert!(ovn.is_critical() && !empty.is_critical());
    assert_eq!((ovn.encoded_len(), empty.encoded_len()), (8, 4));

    assert_eq!(
        GeneveRepr::parse(&packet),
        Ok(GeneveRepr {
            vni: 0x12_3456,
            protocol: PROTOCOL_ETHERNET,
            oam: false,
            critical: true,
            options: &HEADER[8..20],
        })
    );
}

#[test]
fn reserved_bits_are_ignored_on_receipt() {
    let mut bytes = HEADER;
    bytes[1] |= 0x3f;
    bytes[7] = 0xff;
    bytes[11] |= 0xe0; // the R bits of the first option
    let packet = GenevePacket::new_checked(&bytes[..]).unwrap();
    let repr = GeneveRepr::parse(&packet).unwrap();
    assert_eq!(
        (repr.vni, repr.critical, repr.oam),
        (0x12_3456, true, false)
    );
    assert_eq!(
        options(repr.options).next(),
        Some(Ok(GeneveOption {
            class: 0x0102,
            kind: 0x80,
            data: &[0xde, 0xad, 0xbe, 0xef],
        }))
    );
}

#[test]
fn bad_headers() {
    assert_eq!(check_header(&HEADER[..7]), Err(DropReason::GeneveTruncated));
    assert_eq!(check_header(&[]), Err(DropReason::GeneveTruncated));
    assert_eq!(
        check_header(&HEADER[..19]),
        Err(DropReason::GeneveTruncated)
    );
    assert_eq!(
        GenevePacket::new_checked(&HEADER[..19]),
        Err(DropReason::GeneveTruncated)
    );
    let mut bytes = HEADER;
    for version in 1..4 {
        bytes[0] = (version << 6) | 0x3f;
        // The version is judged first: Opt Len means nothing in it.
        assert_eq!(check_header(&bytes), Err(DropReason::GeneveBadVersion));
        let packet = GenevePacket::new_unchecked(&bytes[..]);
        assert_eq!(
            GeneveRepr::parse(&packet),
            Err(DropReason::GeneveBadVersion)
        );
    }
    // An Opt Len of 1 word holds the first option's header, not its data.
    bytes[0] = 0x01;
    let packet = GenevePacket::new_checked(&bytes[..]).unwrap();
    assert_eq!(
        GeneveRepr::parse(&packet),
        Err(DropReason::GeneveBadOptions)
    );
    // An Opt Len of 4 words leaves 4 bytes that claim 31 words of data.
    bytes[0] = 0x04;
    bytes[20..24].copy_from_slice(&[0, 0, 0, 0x1f]);
    let packet = GenevePacket::new_checked(&bytes[..]).unwrap();
    assert_eq!(
        GeneveRepr::parse(&packet),
        Err(DropReason::GeneveBadOptions)
    );
    // A zero Opt Len and no options is valid.
    bytes[0] = 0;
    let packet = GenevePacket::new_checked(&bytes[..8]).unwrap();
    assert_eq!(
        GeneveRepr::parse(&packet).map(|repr| repr.options),
        Ok(&[][..])
    );
}

#[test]
fn a_walk_past_the_block_errs_once_then_ends() {
    let mut walk = options(&HEADER[8..18]);
    assert!(matches!(walk.next(), Some(Ok(option)) if option.class == 0x0102));
    assert_eq!(walk.next(), Some(Err(DropReason::GeneveBadOptions)));
    assert_eq!(walk.next(), None);
    let mut walk = options(&HEADER[8..14]);
    assert_eq!(walk.next(), Some(Err(DropReason::GeneveBadOptions)));
    assert_eq!(walk.next(), None);
    assert_eq!(options(&[]).next(), None);
}

#[test]
fn write_option_checks_the_data_length() {
    let data = [7u8; 128];
    let option = |len: usize| GeneveOption {
        class: 1,
        kind: 2,
        data: &data[..len],
    };
    let mut out = [0u8; 200];
    let malformed = Err(EmitError::Malformed {
        reason: DropReason::GeneveBadOptions,
    });
    for len in [1, 2, 3, 5, 123, 127] {
        assert_eq!(write_option(&option(len), &mut out), malformed);
    }
    assert_eq!(
        write_option(&option(128), &mut out),
        Err(EmitError::TooLong { len: 128, max: 124 })
    );
    assert!(out.iter().all(|&byte| byte == 0));
    assert_eq!(write_option(&option(124), &mut out), Ok(128));
    assert_eq!(&out[..4], &[0, 1, 2, 31]);
    assert_eq!(options(&out[..128]).next(), Some(Ok(option(124))));
    assert_short_emit_writes_nothing(12, |bytes| write_option(&option(8), bytes).map(|_| ()));
}

#[test]
fn emit_header_writes_what_it_is_given() {
    let mut out = [0xa5u8; 30];
    let len = emit_header(
        &mut out,
        0xff12_3456,
        PROTOCOL_ETHERNET,
        &HEADER[8..20],
        true,
    );
    assert_eq!(len, Ok(20));
    assert_eq!(&out[..20], &HEADER[..20]);
    assert_eq!(out[20], 0xa5);
    assert_eq!(
        emit_header(&mut out, 1, 2, &[0; 6], false),
        Err(EmitError::Malformed {
            reason: DropReason::GeneveBadOptions
        })
    );
    assert_eq!(
        emit_header(&mut out, 1, 2, &[0; 256], false),
        Err(EmitError::TooLong { len: 256, max: 252 })
    );
    assert_eq!(&out[..20], &HEADER[..20]);
    assert_short_emit_writes_nothing(20, |bytes| {
        emit_header(bytes, 1, 2, &HEADER[8..20], false).map(|_| ())
    });
    let repr = GeneveRepr::parse(&GenevePacket::new_unchecked(header())).unwrap();
    assert_short_emit_writes_nothing(20, |bytes| {
        repr.emit(&mut GenevePacket::new_unchecked(bytes))
    });
}

#[test]
fn setters_write_fields() {
    let mut bytes = [0u8; 16];
    let mut packet = GenevePacket::new_unchecked(&mut bytes[..]);
    packet.set_version(3);
    packet.set_options_len(8);
    packet.set_oam(true);
    packet.set_critical(true);
    packet.set_critical(false);
    packet.set_protocol_type(0x86dd);
    packet.set_vni(0xab_cdef);
    packet.options_mut().fill(1);
    packet.payload_mut().fill(2);
    assert_eq!(
        bytes,
        [0xc2, 0x80, 0x86, 0xdd, 0xab, 0xcd, 0xef, 0, 1, 1, 1, 1, 1, 1, 1, 1]
    );
}

/// Options whose encoded lengths add up to at most `MAX_OPTIONS_LEN`.
fn arbitrary_options() -> impl Strategy<Value = Vec<(u16, u8, Vec<u8>)>> {
    vec((any::<u16>(), any::<u8>(), (0usize..=31)), 0..8).prop_flat_map(|options| {
        let mut room = MAX_OPTIONS_LEN;
        let options: Vec<_> = options
            .into_iter()
            .map_while(|(class, kind, words)| {
                let words = words.min(room.checked_sub(OPTION_HEADER_LEN)? / 4);
                room -= OPTION_HEADER_LEN + words * 4;
                Some((class, kind, words))
            })
            .collect();
        options
            .into_iter()
            .map(|(class, kind, words)| (Just(class), Just(kind), vec(any::<u8>(), words * 4)))
            .collect::<Vec<_>>()
    })
}

proptest! {
    #[test]
    fn emit_then_parse_round_trips(
        vni in 0u32..=0x00ff_ffff,
        protocol in any::<u16>(),
        oam in any::<bool>(),
        critical in any::<bool>(),
        list in arbitrary_options(),
    ) {
        let list: Vec<_> = list
            .iter()
            .map(|(class, kind, data)| GeneveOption { class: *class, kind: *kind, data })
            .collect();
        let mut block = vec![0u8; list.iter().map(GeneveOption::encoded_len).sum()];
        let mut at = 0;
        for option in &list {
            at += write_option(option, &mut block[at..]).unwrap();
        }
        prop_assert_eq!(at, block.len());
        let repr = GeneveRepr { vni, protocol, oam, critical, options: &block };
        let mut bytes = vec![0xa5u8; repr.header_len() + 3];
        repr.emit(&mut GenevePacket::new_unchecked(&mut bytes[..])).unwrap();
        prop_assert_eq!(check_header(&bytes), Ok(repr.header_len()));
        let packet = GenevePacket::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(packet.payload(), &[0xa5; 3]);
        prop_assert_eq!(GeneveRepr::parse(&packet), Ok(repr));
        let walked: Result<Vec<_>, _> = options(packet.options()).collect();
        prop_assert_eq!(walked, Ok(list));
        if !oam {
            let mut again = vec![0u8; bytes.len()];
            let len = emit_header(&mut again, vni, protocol, &block, critical);
            prop_assert_eq!(len, Ok(repr.header_len()));
            prop_assert_eq!(&again[..repr.header_len()], &bytes[..repr.header_len()]);
        }
    }

    #[test]
    fn any_bytes_never_panic(mut bytes in vec(any::<u8>(), 0..48)) {
        let packet = GenevePacket::new_unchecked(&bytes[..]);
        let _ = (packet.version(), packet.options_len(), packet.oam(), packet.critical());
        let _ = (packet.protocol_type(), packet.vni(), packet.options(), packet.payload());
        let parsed = GeneveRepr::parse(&packet);
        if let Ok(repr) = parsed {
            prop_assert_eq!(repr.header_len(), packet.header_len());
        }
        let errors = options(&bytes).filter(Result::is_err).count();
        prop_assert!(errors <= 1);
        let walked: usize = options(&bytes).flatten().map(|option| option.encoded_len()).sum();
        prop_assert!(walked <= bytes.len());
        let mut packet = GenevePacket::new_unchecked(&mut bytes[..]);
        packet.set_options_len(usize::MAX);
        packet.set_vni(u32::MAX);
        packet.set_critical(true);
        let _ = (packet.options_mut().len(), packet.payload_mut().len());
    }
}
