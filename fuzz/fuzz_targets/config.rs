//! Any text through the configuration loader: a configuration or an error
//! naming where, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = vswitch::config::Config::parse(text, "fuzz.toml");
    }
});
