//! Any bytes through the frame parser: it must return a parse or a drop
//! reason, never panic or read out of bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    let _ = vswitch_pipeline::parse::parse(frame);
});
