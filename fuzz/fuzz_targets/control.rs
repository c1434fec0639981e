//! The control-socket protocol: any bytes as a request line through
//! `Request::parse`, a transaction's ops through `db::transact` on a
//! small document, and any JSON answer through `render`, as `vsctl`
//! prints it. Never a panic; a request either parses or says what is
//! wrong with it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vswitch::daemon::{render, Request};
use vswitch::db;

const DOCUMENT: &str = "[[bridge]]\nname = \"br0\"\n[[bridge.port]]\nname = \"p1\"\ntype = \"tap\"\n\
    [[bridge.static_mac]]\nmac = \"02:00:00:00:00:01\"\nport = \"p1\"\n\
    [[container]]\nname = \"c1\"\nport = \"p1\"\naddress = \"10.0.0.1/24\"\n";

fuzz_target!(|bytes: &[u8]| {
    let line = String::from_utf8_lossy(bytes);
    match Request::parse(&line) {
        Ok(Request::Transact { ops }) => {
            let document: toml::Table = toml::from_str(DOCUMENT).unwrap();
            if let Ok(outcome) = db::transact(&document, &ops) {
                let _ = db::cli::render_results(&ops, &outcome.results);
            }
        }
        Ok(_) => {}
        Err(e) => assert!(!e.0.is_empty()),
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        for command in ["show", "stats", "pmd-stats", "fdb-show"] {
            let _ = render(command, &value);
        }
    }
});
