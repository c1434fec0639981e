//! Any bytes as a pcap or pcapng capture: every frame or an error naming
//! the record, never a panic, and memory bounded whatever lengths the
//! input claims.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use vswitch_ports::pcap::{PcapReader, MAX_CAPTURED_LEN};

fuzz_target!(|bytes: &[u8]| {
    let Ok(mut reader) = PcapReader::from_reader("fuzz.pcap", Cursor::new(bytes)) else {
        return;
    };
    // Every record takes at least 12 bytes of input, so this bounds the loop.
    for _ in 0..=bytes.len() / 12 {
        match reader.next_frame() {
            Ok(Some(frame)) => assert!(frame.data.len() <= MAX_CAPTURED_LEN),
            Ok(None) | Err(_) => return,
        }
    }
    panic!("the reader returned more frames than the input can hold");
});
