//! The control-socket protocol: any bytes as a request line through
//! `Request::parse`, and any JSON answer through `render`, as `vsctl`
//! prints it. Never a panic; a request either parses or says what is
//! wrong with it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vswitch::daemon::{render, Request};

fuzz_target!(|bytes: &[u8]| {
    let line = String::from_utf8_lossy(bytes);
    match Request::parse(&line) {
        Ok(_) => {}
        Err(e) => assert!(!e.0.is_empty()),
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        for command in ["show", "stats", "pmd-stats", "fdb-show"] {
            let _ = render(command, &value);
        }
    }
});
