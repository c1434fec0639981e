//! The systemd unit `dist/vswitchd.service`: `systemd-analyze verify`
//! accepts it, and it holds what the daemon needs (its database and socket
//! directories, capabilities, memlock limit, restart and stop signal).
//! Without systemd-analyze: a skip line (a failure under CI).

use std::path::Path;
use std::process::Command;

use vswitch_ports::testing::{can_exec, require, TempDir};

const VSWITCHD: &str = env!("CARGO_BIN_EXE_vswitchd");
const INSTALLED: &str = "/usr/local/bin/vswitchd";

fn unit() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/vswitchd.service");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The value of `key=` in the unit, the one line that sets it.
fn setting(unit: &str, key: &str) -> String {
    let values: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect();
    assert_eq!(values.len(), 1, "{key} is set once: {values:?}");
    values[0].to_string()
}

fn verify(unit_path: &Path) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit_path)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    (out.status.success(), text)
}

#[test]
fn the_unit_verifies_and_runs_the_daemon_as_documented() {
    let unit = unit();
    assert_eq!(
        setting(&unit, "ExecStart"),
        format!("{INSTALLED} --db /var/lib/vswitch/conf.toml")
    );
    assert_eq!(setting(&unit, "StateDirectory"), "vswitch");
    assert_eq!(setting(&unit, "RuntimeDirectory"), "vswitch");
    // The socket the daemon listens on by default is in RuntimeDirectory.
    assert_eq!(
        Path::new(vswitch::config::DEFAULT_CONTROL_SOCKET).parent(),
        Some(Path::new("/run/vswitch"))
    );
    assert_eq!(setting(&unit, "Restart"), "on-failure");
    assert_eq!(setting(&unit, "KillSignal"), "SIGTERM");
    assert_eq!(setting(&unit, "LimitMEMLOCK"), "infinity");
    // What the AF_XDP port's permission error names (ports/src/afxdp).
    for key in ["CapabilityBoundingSet", "AmbientCapabilities"] {
        let caps = setting(&unit, key);
        for cap in ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_BPF", "CAP_IPC_LOCK"] {
            assert!(caps.split(' ').any(|c| c == cap), "{key} lacks {cap}");
        }
    }

    let test = "the_unit_verifies_and_runs_the_daemon_as_documented";
    if !require(
        test,
        "systemd-analyze",
        can_exec("systemd-analyze", "--version"),
    ) {
        return;
    }
    // verify checks that ExecStart's program exists: verify a copy that
    // runs the binary just built, and the unit itself once installed.
    let dir = TempDir::new("systemd").unwrap();
    let copy = dir.join("vswitchd.service");
    std::fs::write(&copy, unit.replace(INSTALLED, VSWITCHD)).unwrap();
    let (ok, text) = verify(&copy);
    assert!(
        ok && text.trim().is_empty(),
        "systemd-analyze verify: {text}"
    );
    if Path::new(INSTALLED).exists() {
        let (ok, text) =
            verify(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/vswitchd.service"));
        assert!(ok, "systemd-analyze verify: {text}");
    }
    // A mistake in the unit is reported: the check can tell.
    let broken = unit
        .replace(INSTALLED, VSWITCHD)
        .replace("Restart=on-failure", "Restart=sometimes");
    std::fs::write(&copy, broken).unwrap();
    let (_, text) = verify(&copy);
    assert!(text.contains("sometimes"), "{text}");
}
