use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::netns::unique_name;

/// Every frame of `bytes` as (data, timestamp), or the first error.
fn read_all(bytes: &[u8]) -> Result<Vec<(Vec<u8>, u64)>, PortError> {
    let mut reader = PcapReader::from_reader("test.pcap", bytes)?;
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame()? {
        frames.push((frame.data.to_vec(), frame.timestamp_ns));
    }
    Ok(frames)
}

fn error_text(bytes: &[u8]) -> String {
    match read_all(bytes) {
        Ok(frames) => panic!("expected an error, read {} frames", frames.len()),
        Err(e) => e.to_string(),
    }
}

fn put16(out: &mut Vec<u8>, v: u16, big: bool) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

fn put32(out: &mut Vec<u8>, v: u32, big: bool) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

/// A classic pcap file header.
fn classic_header(big: bool, nanosecond: bool, snaplen: u32, link_type: u32) -> Vec<u8> {
    let mut out = Vec::new();
    put32(
        &mut out,
        if nanosecond { 0xa1b2_3c4d } else { 0xa1b2_c3d4 },
        big,
    );
    put16(&mut out, 2, big);
    put16(&mut out, 4, big);
    put32(&mut out, 0, big);
    put32(&mut out, 0, big);
    put32(&mut out, snaplen, big);
    put32(&mut out, link_type, big);
    out
}

/// A classic pcap record whose header claims `captured` bytes.
fn classic_record(
    out: &mut Vec<u8>,
    big: bool,
    seconds: u32,
    fraction: u32,
    captured: u32,
    data: &[u8],
) {
    put32(out, seconds, big);
    put32(out, fraction, big);
    put32(out, captured, big);
    put32(out, data.len() as u32, big);
    out.extend_from_slice(data);
}

/// Builds pcapng files block by block, in one byte order.
struct PcapNg {
    big: bool,
    bytes: Vec<u8>,
}

impl PcapNg {
    fn new(big: bool) -> PcapNg {
        let mut ng = PcapNg {
            big,
            bytes: Vec::new(),
        };
        ng.section(big);
        ng
    }

    /// Starts a new section in byte order `big`.
    fn section(&mut self, big: bool) {
        self.big = big;
        let mut body = Vec::new();
        put32(&mut body, 0x1a2b_3c4d, big);
        put16(&mut body, 1, big);
        put16(&mut body, 0, big);
        body.extend_from_slice(&[0xff; 8]); // section length unknown (-1)
        self.block(0x0a0d_0d0a, &body);
    }

    fn block(&mut self, block_type: u32, body: &[u8]) {
        let total = 12 + body.len().next_multiple_of(4) as u32;
        put32(&mut self.bytes, block_type, self.big);
        put32(&mut self.bytes, total, self.big);
        self.bytes.extend_from_slice(body);
        self.bytes.resize(
            self.bytes.len() + body.len().next_multiple_of(4) - body.len(),
            0,
        );
        put32(&mut self.bytes, total, self.big);
    }

    fn interface(&mut self, link_type: u16, snaplen: u32, options: &[(u16, &[u8])]) {
        let mut body = Vec::new();
        put16(&mut body, link_type, self.big);
        put16(&mut body, 0, self.big);
        put32(&mut body, snaplen, self.big);
        for (code, value) in options {
            put16(&mut body, *code, self.big);
            put16(&mut body, value.len() as u16, self.big);
            body.extend_from_slice(value);
            body.resize(body.len().next_multiple_of(4), 0);
        }
        if !options.is_empty() {
            put32(&mut body, 0, self.big); // opt_endofopt
        }
        self.block(1, &body);
    }

    fn enhanced_packet(&mut self, interface: u32, units: u64, data: &[u8]) {
        let mut body = Vec::new();
        put32(&mut body, interface, self.big);
        put32(&mut body, (units >> 32) as u32, self.big);
        put32(&mut body, units as u32, self.big);
        put32(&mut body, data.len() as u32, self.big);
        put32(&mut body, data.len() as u32, self.big);
        body.extend_from_slice(data);
        self.block(6, &body);
    }

    fn simple_packet(&mut self, original: u32, data: &[u8]) {
        let mut body = Vec::new();
        put32(&mut body, original, self.big);
        body.extend_from_slice(data);
        self.block(3, &body);
    }
}

/// A pcapng file of two frames on one Ethernet interface, in byte order
/// `big`.
fn small_pcapng(big: bool) -> Vec<u8> {
    let mut ng = PcapNg::new(big);
    ng.interface(1, 0, &[]);
    ng.enhanced_packet(0, 1_500_000_000_000_001, &[1, 2, 3, 4, 5]);
    ng.block(0x0000_0bad, &[9; 10]); // unknown: skipped
    ng.simple_packet(3, &[7, 7, 7]);
    ng.bytes
}

#[test]
fn pcapng_both_byte_orders() {
    for big in [false, true] {
        let frames = read_all(&small_pcapng(big)).unwrap();
        assert_eq!(
            frames,
            vec![
                (vec![1, 2, 3, 4, 5], 1_500_000_000_000_001_000),
                (vec![7, 7, 7], 0)
            ],
            "big endian: {big}"
        );
    }
}

#[test]
fn pcapng_sections_and_clock_options() {
    let mut ng = PcapNg::new(false);
    ng.interface(1, 0, &[(9, &[9])]); // nanoseconds
    ng.enhanced_packet(0, 1_234_567_890_123_456_789, &[1]);
    ng.section(true);
    ng.interface(1, 0, &[(9, &[0x80 | 10]), (14, &100i64.to_be_bytes())]); // 2^-10 s, +100 s
    ng.interface(1, 64, &[(9, &[3]), (13, &[4])]); // milliseconds, 4-byte FCS
    ng.enhanced_packet(0, 5 * 1024, &[2]);
    ng.enhanced_packet(1, 7, &[3, 3, 3, 3, 0xfc, 0xfc, 0xfc, 0xfc]);
    let frames = read_all(&ng.bytes).unwrap();
    assert_eq!(
        frames,
        vec![
            (vec![1], 1_234_567_890_123_456_789),
            (vec![2], 105_000_000_000),
            (vec![3, 3, 3, 3], 7_000_000),
        ]
    );
}

#[test]
fn pcapng_interfaces_do_not_outlive_their_section() {
    let mut ng = PcapNg::new(false);
    ng.interface(1, 0, &[]);
    ng.section(false);
    ng.enhanced_packet(0, 0, &[1]);
    let text = error_text(&ng.bytes);
    assert!(
        text.contains("interface 0") && text.contains("0 interface(s)"),
        "{text}"
    );
}

#[test]
fn pcapng_non_ethernet_interface_is_named() {
    let mut ng = PcapNg::new(true);
    ng.interface(1, 0, &[]);
    ng.interface(113, 0, &[]);
    ng.enhanced_packet(0, 0, &[1]);
    ng.enhanced_packet(1, 0, &[1]);
    let text = error_text(&ng.bytes);
    assert!(text.contains("test.pcap"), "{text}");
    assert!(
        text.contains("interface 1 of link type 113 (LINUX_SLL"),
        "{text}"
    );
}

#[test]
fn pcapng_bad_block_lengths() {
    let valid = small_pcapng(false);
    // Block 2 (the interface description) starts after the 28-byte
    // section header; its length field is at 32.
    let with_length = |len: u32| {
        let mut bytes = valid.clone();
        bytes[32..36].copy_from_slice(&len.to_le_bytes());
        bytes
    };
    assert!(error_text(&with_length(22)).contains("not a multiple of 4"));
    assert!(error_text(&with_length(8)).contains("at least 12"));
    assert!(error_text(&with_length(24)).contains("trailing length"));
    assert!(error_text(&with_length(1 << 24)).contains("more than the"));

    // An unknown block longer than the file.
    let mut ng = PcapNg::new(false);
    ng.block(0x0000_0bad, &[0; 8]);
    ng.bytes[32..36].copy_from_slice(&4000u32.to_le_bytes());
    let text = error_text(&ng.bytes);
    assert!(
        text.contains("byte offset 28") && text.contains("past the end"),
        "{text}"
    );

    // A file cut inside a block.
    let text = error_text(&valid[..valid.len() - 2]);
    assert!(
        text.contains("past the end") || text.contains("cut short"),
        "{text}"
    );
}

#[test]
fn pcapng_packet_longer_than_the_snaplen_is_cut_to_it() {
    // As libpcap does: the record is cut, and reading goes on.
    let mut ng = PcapNg::new(false);
    ng.interface(1, 4, &[]);
    ng.enhanced_packet(0, 0, &[1, 2, 3, 4, 5]);
    ng.enhanced_packet(0, 0, &[6, 7]);
    assert_first_cut_to_4_then_6_7(&ng.bytes);
}

#[test]
fn pcapng_captured_length_checked_against_block() {
    let mut ng = PcapNg::new(false);
    ng.interface(1, 0, &[]);
    ng.enhanced_packet(0, 0, &[1, 2, 3, 4]);
    // Captured length (at 28 + 20 + 8 + 12) claims more than the block.
    ng.bytes[68..72].copy_from_slice(&9u32.to_le_bytes());
    assert!(error_text(&ng.bytes).contains("runs past the end of the block"));
}

#[test]
fn classic_both_byte_orders_and_resolutions() {
    for big in [false, true] {
        for nanosecond in [false, true] {
            let mut bytes = classic_header(big, nanosecond, 0, 1);
            classic_record(&mut bytes, big, 10, 20, 3, &[1, 2, 3]);
            classic_record(&mut bytes, big, 11, 0, 0, &[]);
            let scale = if nanosecond { 1 } else { 1_000 };
            assert_eq!(
                read_all(&bytes).unwrap(),
                vec![
                    (vec![1, 2, 3], 10_000_000_000 + 20 * scale),
                    (vec![], 11_000_000_000)
                ]
            );
        }
    }
}

#[test]
fn classic_other_link_type_refused_at_open() {
    let bytes = classic_header(false, false, 65535, 113);
    let text = PcapReader::from_reader("any.pcap", &bytes[..])
        .err()
        .unwrap()
        .to_string();
    assert!(
        text.contains("any.pcap") && text.contains("link type 113"),
        "{text}"
    );
}

#[test]
fn classic_fcs_is_cut_off() {
    // FCS present, 2 words (4 bytes).
    let mut bytes = classic_header(false, false, 0, 1 | 0x0400_0000 | 2 << 28);
    classic_record(&mut bytes, false, 0, 0, 6, &[1, 2, 0xf, 0xf, 0xf, 0xf]);
    assert_eq!(read_all(&bytes).unwrap(), vec![(vec![1, 2], 0)]);
}

#[test]
fn classic_record_longer_than_the_snaplen_is_cut_to_it() {
    // As libpcap does: the rest of the record is skipped, reading goes on.
    let mut bytes = classic_header(false, false, 4, 1);
    classic_record(&mut bytes, false, 0, 0, 5, &[1, 2, 3, 4, 5]);
    classic_record(&mut bytes, false, 1, 0, 2, &[6, 7]);
    assert_first_cut_to_4_then_6_7(&bytes);
}

/// A capture of snaplen 4 with records [1, 2, 3, 4, 5] and [6, 7] reads as
/// the first cut to the snaplen, then the second whole.
fn assert_first_cut_to_4_then_6_7(bytes: &[u8]) {
    let mut reader = PcapReader::from_reader("cut.pcap", bytes).unwrap();
    assert_eq!(reader.next_frame().unwrap().unwrap().data, &[1, 2, 3, 4]);
    assert_eq!(reader.next_frame().unwrap().unwrap().data, &[6, 7]);
    assert!(reader.next_frame().unwrap().is_none());
    assert_eq!(reader.cut_to_snaplen(), 1);
}

#[test]
fn classic_hostile_records() {
    let mut bytes = classic_header(false, false, 0, 1);
    classic_record(&mut bytes, false, 0, 0, u32::MAX, &[]);
    assert!(error_text(&bytes).contains("limit"));

    let mut bytes = classic_header(false, false, 0, 1);
    classic_record(&mut bytes, false, 0, 0, 1, &[1]);
    classic_record(&mut bytes, false, 0, 0, 100, &[0; 10]);
    let text = error_text(&bytes);
    assert!(
        text.contains("record at byte offset 41") && text.contains("past the end"),
        "{text}"
    );

    let text = error_text(&bytes[..24 + 17 + 5]);
    assert!(text.contains("cut short"), "{text}");

    let text = PcapReader::from_reader("x", &[0u8, 1, 2, 3, 4][..])
        .err()
        .unwrap()
        .to_string();
    assert!(text.contains("magic"), "{text}");
}

#[test]
fn reader_stops_after_an_error() {
    let mut bytes = classic_header(false, false, 0, 1);
    classic_record(&mut bytes, false, 0, 0, 100, &[0; 10]);
    let mut reader = PcapReader::from_reader("x", &bytes[..]).unwrap();
    assert!(reader.next_frame().is_err());
    assert_eq!(reader.next_frame().unwrap(), None);
}

#[test]
fn write_then_read_round_trip() {
    let frames: Vec<(Vec<u8>, u64)> = vec![
        (vec![0xaa; 60], 1_700_000_000_123_456_789),
        (vec![], 0),
        ((0..=255).collect(), 4_000_000_000_999_999_999),
    ];
    let mut writer = PcapWriter::from_writer("mem", Vec::new()).unwrap();
    for (frame, ts) in &frames {
        writer.write(frame, *ts).unwrap();
    }
    let bytes = writer.finish().unwrap();
    assert_eq!(&bytes[..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
    assert_eq!(read_all(&bytes).unwrap(), frames);
}

#[test]
fn writer_cuts_frames_to_its_snaplen() {
    let mut writer = PcapWriter::from_writer("mem", Vec::new()).unwrap();
    writer.write(&vec![1; 70_000], 5).unwrap();
    let bytes = writer.finish().unwrap();
    let frames = read_all(&bytes).unwrap();
    assert_eq!(frames[0].0.len(), WRITER_SNAPLEN as usize);
    assert_eq!(&bytes[24 + 12..24 + 16], &70_000u32.to_le_bytes());
}

/// A path in the temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(suffix: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!("{}-{suffix}", unique_name("vswpc"))))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn pcap_port_replays_and_records() {
    let input = TempFile::new("in.pcap");
    let output = TempFile::new("out.pcap");
    let mut writer = PcapWriter::create(&input.0).unwrap();
    writer.write(&[1; 60], 1).unwrap();
    writer.write(&vec![2; FRAME_CAPACITY + 1], 2).unwrap();
    writer.write(&[3; 64], 3).unwrap();
    writer.write(&[4; 64], 4).unwrap();
    writer.finish().unwrap();

    let mut port = PcapPort::new(
        "p0",
        Some(PcapReader::open(&input.0).unwrap()),
        Some(PcapWriter::create(&output.0).unwrap()),
    );
    let mut batch = RxBatch::new(2);
    let mut received = Vec::new();
    let (mut sent, mut sent_bytes) = (0, 0);
    while !port.rx_exhausted() {
        batch.clear();
        port.rx_burst(&mut batch).unwrap();
        for i in 0..batch.len() {
            let frame = batch.frame(i);
            let slot = port.tx_slot().unwrap();
            slot[..frame.len()].copy_from_slice(frame);
            port.tx_commit(frame.len(), batch.timestamp(i));
            received.push(batch.timestamp(i));
        }
        let done = port.tx_flush();
        assert!(done.error.is_none(), "{:?}", done.error);
        sent += done.sent;
        sent_bytes += done.sent_bytes;
    }
    assert_eq!(received, [1, 3, 4]);
    assert_eq!((sent, sent_bytes), (3, 60 + 64 + 64));
    assert_eq!(port.rx_oversize(), 1);
    assert_eq!(port.tx_refused(), 0);
    port.finish().unwrap();

    let frames = read_all(&std::fs::read(&output.0).unwrap()).unwrap();
    assert_eq!(
        frames,
        vec![(vec![1; 60], 1), (vec![3; 64], 3), (vec![4; 64], 4)]
    );
}

#[test]
fn pcap_port_without_sides() {
    let mut port = PcapPort::new("p0", None, None);
    assert!(port.rx_exhausted());
    assert_eq!(port.rx_burst(&mut RxBatch::new(4)).unwrap(), 0);
    assert!(port.tx_slot().is_none());
    let done = port.tx_flush();
    assert_eq!((done.sent, done.refused), (0, 0));
    port.finish().unwrap();
}

fn commit(port: &mut PcapPort, frame: &[u8]) {
    let slot = port.tx_slot().expect("the output lends a slot");
    slot[..frame.len()].copy_from_slice(frame);
    port.tx_commit(frame.len(), 0);
}

/// Writes to /dev/full fail with ENOSPC: every frame since the last good
/// write is refused, once, and so is every frame after.
#[test]
fn pcap_port_refuses_frames_it_could_not_write() {
    let writer = PcapWriter::create("/dev/full").unwrap();
    let mut port = PcapPort::new("full", None, Some(writer));
    for _ in 0..5 {
        commit(&mut port, &[7; 60]);
    }
    let done = port.tx_flush();
    assert_eq!((done.sent, done.refused, done.in_flight), (0, 5, 0));
    let text = done.error.expect("the write error").to_string();
    assert!(text.contains("/dev/full"), "{text}");

    commit(&mut port, &[7; 60]);
    commit(&mut port, &[7; 60]);
    let done = port.tx_flush();
    assert_eq!((done.sent, done.refused), (0, 2));
    assert!(done.error.is_some());
    assert_eq!(port.tx_flush().refused, 0, "each frame is reported once");
    assert_eq!(port.tx_refused(), 7);
    let text = port
        .finish()
        .expect_err("the capture is incomplete")
        .to_string();
    assert!(text.contains("7 frame(s)"), "{text}");
}

/// A flush that fills the writer's buffer writes it out itself: frames
/// still count once, as sent, with their bytes.
#[test]
fn pcap_port_counts_frames_written_between_flushes() {
    let output = TempFile::new("many.pcap");
    let mut port = PcapPort::new("p0", None, Some(PcapWriter::create(&output.0).unwrap()));
    const FRAMES: u64 = 100;
    for _ in 0..FRAMES {
        commit(&mut port, &[5; 1500]);
    }
    let done = port.tx_flush();
    assert_eq!(
        (done.sent, done.sent_bytes, done.refused),
        (FRAMES, FRAMES * 1500, 0)
    );
    port.finish().unwrap();
    let frames = read_all(&std::fs::read(&output.0).unwrap()).unwrap();
    assert_eq!(frames.len(), FRAMES as usize);
}

#[test]
fn pcap_port_keeps_frames_read_before_an_error() {
    let input = TempFile::new("bad.pcap");
    let mut bytes = classic_header(false, false, 0, 1);
    classic_record(&mut bytes, false, 0, 0, 1, &[1]);
    classic_record(&mut bytes, false, 0, 0, 100, &[0; 10]);
    std::fs::write(&input.0, &bytes).unwrap();
    let mut port = PcapPort::new("p0", Some(PcapReader::open(&input.0).unwrap()), None);
    let mut batch = RxBatch::new(8);
    assert_eq!(port.rx_burst(&mut batch).unwrap(), 1);
    assert!(!port.rx_exhausted());
    assert!(matches!(
        port.rx_burst(&mut batch),
        Err(PortError::BadCapture { .. })
    ));
    assert!(port.rx_exhausted());
}

#[test]
fn open_missing_file_names_it() {
    let text = PcapReader::open("/nonexistent/x.pcap")
        .err()
        .unwrap()
        .to_string();
    assert!(text.contains("/nonexistent/x.pcap"), "{text}");
}

/// The folder of tcpdump's captures: `$VSWITCH_PCAP_DIR/tcpdump`, by
/// default `shared/pcap/tcpdump` beside the project.
fn tcpdump_dir(test: &str) -> Option<PathBuf> {
    let root = std::env::var_os("VSWITCH_PCAP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcap"));
    let dir = root.join("tcpdump");
    let needs = format!(
        "the capture folder {} (set VSWITCH_PCAP_DIR)",
        dir.display()
    );
    crate::testing::require(test, &needs, dir.is_dir()).then_some(dir)
}

fn count_frames(path: &Path) -> Result<usize, PortError> {
    let mut reader = PcapReader::open(path)?;
    let mut count = 0;
    while reader.next_frame()?.is_some() {
        count += 1;
    }
    Ok(count)
}

#[test]
fn tcpdump_captures() {
    let Some(dir) = tcpdump_dir("tcpdump_captures") else {
        return;
    };
    // Counts from tcpdump's .out files where there is one, else from
    // walking the records.
    let expected = [
        ("vxlan.pcap", 10),
        ("geneve.pcap", 39),
        ("802.1ad_QinQ.pcap", 2),
        ("LLDP_and_CDP.pcap", 12),
        ("dns_udp.pcap", 2),
        ("icmpv6.pcap", 5),
        ("ipv4_tcp_http_xml.pcap", 1),
        ("arp-too-long-tha.pcap", 1),
        ("ip6_frag_asan.pcap", 1),
        ("ipv4_invalid_hdr_length.pcap", 1),
        ("ipv4_invalid_length.pcap", 1),
        ("ipv4_invalid_total_length.pcap", 1),
        ("ipv4_invalid_total_length_2.pcap", 1),
    ];
    for (name, count) in expected {
        let path = dir.join(name);
        assert_eq!(count_frames(&path).unwrap(), count, "{}", path.display());
    }

    let mut reader = PcapReader::open(dir.join("vxlan.pcap")).unwrap();
    let first = reader.next_frame().unwrap().unwrap();
    assert_eq!(first.timestamp_ns, 1_368_908_504_837_063_000);
    assert_eq!(first.data.len(), 148);

    // Everything else, the fuzzer-found files included: an error or a
    // clean read, never a panic.
    let mut hostile = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "pcap") {
            let result = count_frames(&path);
            if path.to_string_lossy().contains("heapoverflow") {
                hostile += 1;
                println!(
                    "{}: {:?}",
                    path.display(),
                    result.map_err(|e| e.to_string())
                );
            }
        }
    }
    assert!(
        hostile >= 3,
        "expected the *heapoverflow* files in {}",
        dir.display()
    );
}

/// Reads `bytes` to the end or the first error, bounded.
fn drain(bytes: &[u8]) {
    if let Ok(mut reader) = PcapReader::from_reader("fuzz", bytes) {
        for _ in 0..100_000 {
            match reader.next_frame() {
                Ok(Some(frame)) => assert!(frame.data.len() <= MAX_CAPTURED_LEN),
                _ => break,
            }
        }
    }
}

/// Valid files for the mutation test.
fn seeds() -> Vec<Vec<u8>> {
    let mut classic = classic_header(true, true, 100, 1);
    classic_record(&mut classic, true, 1, 2, 4, &[1, 2, 3, 4]);
    classic_record(&mut classic, true, 1, 3, 2, &[5, 6]);
    let mut ng = PcapNg::new(false);
    ng.interface(1, 0, &[(9, &[9]), (14, &[1; 8])]);
    ng.enhanced_packet(0, 77, &[1, 2, 3]);
    ng.section(true);
    ng.interface(1, 0, &[]);
    ng.simple_packet(2, &[4, 5]);
    vec![classic, ng.bytes, small_pcapng(true)]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        magic in prop::sample::select(vec![
            [0xd4u8, 0xc3, 0xb2, 0xa1],
            [0xa1, 0xb2, 0x3c, 0x4d],
            [0x0a, 0x0d, 0x0d, 0x0a],
            [0, 0, 0, 0],
        ]),
        rest in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = magic.to_vec();
        bytes.extend_from_slice(&rest);
        drain(&bytes);
        drain(&rest);
    }

    #[test]
    fn mutated_valid_files_never_panic(
        seed in 0..3usize,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = seeds().swap_remove(seed);
        for (at, value) in edits {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        drain(&bytes);
        let cut = cut.index(bytes.len());
        drain(&bytes[..cut]);
    }
}
