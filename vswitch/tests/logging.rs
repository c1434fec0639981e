//! The log of the real `vswitchd` binary (pcap and null ports: no root):
//! one line per event at the configured level, plain or with journal
//! priorities; and configuration refusals before anything starts.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vswitch_ports::pcap::PcapWriter;
use vswitch_ports::testing::{terminate, ChildGuard, TempDir};

const VSWITCHD: &str = env!("CARGO_BIN_EXE_vswitchd");

/// A configuration of a looping pcap port into a null port, with
/// `[switch]` lines `extra`.
fn write_config(dir: &TempDir, extra: &str) -> std::path::PathBuf {
    let input = dir.join("in.pcap");
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    frame.resize(60, 0);
    let mut pcap = PcapWriter::create(&input).unwrap();
    pcap.write(&frame, 0).unwrap();
    pcap.finish().unwrap();
    let config = dir.join("vswitchd.toml");
    std::fs::write(
        &config,
        format!(
            "[switch]\nworkers = [0]\ncontrol_socket = \"{}\"\n{extra}\n[[bridge]]\nname = \"br0\"\n\
             [[bridge.port]]\nname = \"gen\"\ntype = \"pcap\"\noptions = {{ input = \"{}\", loop = true }}\n\
             [[bridge.port]]\nname = \"sink\"\ntype = \"null\"\n",
            dir.join("vswitchd.sock").display(),
            input.display()
        ),
    )
    .unwrap();
    config
}

/// Runs the daemon with `args`, its stderr into `log`, optionally marked
/// as the journal; stops it with SIGTERM once its socket is up, and
/// returns what it logged.
fn run_and_stop(dir: &TempDir, args: &[&str], journal: bool) -> String {
    let log_path = dir.join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let meta = log.metadata().unwrap();
    let mut command = Command::new(VSWITCHD);
    command
        .arg("--db")
        .arg(dir.join("conf.toml"))
        .args(args)
        .stderr(Stdio::from(log))
        .env_remove("JOURNAL_STREAM");
    if journal {
        command.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
    }
    let mut child = ChildGuard(command.spawn().unwrap());
    let socket = dir.join("vswitchd.sock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the daemon did not start");
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!(
                "the daemon exited ({status}): {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    terminate(child.0.id()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "SIGTERM did not stop the daemon");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::read_to_string(&log_path).unwrap()
}

/// Runs the daemon with `args` and returns its exit success and stderr.
fn run_to_exit(args: &[&str]) -> (bool, String) {
    let db = TempDir::new("logdb").unwrap();
    let out = Command::new(VSWITCHD)
        .arg("--db")
        .arg(db.join("conf.toml"))
        .args(args)
        .env_remove("JOURNAL_STREAM")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn events_are_logged_one_line_each_with_time_and_level() {
    let dir = TempDir::new("logging").unwrap();
    let config = write_config(&dir, "");
    let log = run_and_stop(&dir, &["--config", config.to_str().unwrap()], false);
    let lines: Vec<&str> = log.lines().collect();
    let expected = [
        "INFO  port \"gen\" (pcap) open: 1 frames of".to_string(),
        "INFO  port \"sink\" (null) open: drops what it is sent".to_string(),
        format!(
            "INFO  vswitchd {} started: 2 port(s) (gen, sink) on 1 worker(s) on cores [0]; control socket",
            env!("CARGO_PKG_VERSION")
        ),
        "INFO  shutdown requested: stopping vswitchd".to_string(),
        "INFO  vswitchd stopped: workers joined, ports released".to_string(),
    ];
    assert_eq!(lines.len(), expected.len(), "{log}");
    for (line, want) in lines.iter().zip(expected) {
        // 2026-12-01T12:15:31.250Z INFO  ...
        let (time, rest) = line.split_at(24);
        assert!(
            time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{line}"
        );
        assert!(
            rest.starts_with(&format!(" {want}")),
            "{line}\nwanted {want}"
        );
    }
}

#[test]
fn the_level_comes_from_the_config_and_the_command_line_wins() {
    let dir = TempDir::new("logging").unwrap();
    let config = write_config(&dir, "log_level = \"debug\"");
    let config = config.to_str().unwrap();
    let log = run_and_stop(&dir, &["--config", config], true);
    // The journal keeps the level from the priority prefix, and the time.
    assert!(
        log.lines()
            .all(|l| l.starts_with("<6>") || l.starts_with("<7>")),
        "{log}"
    );
    assert!(
        log.contains("<7>worker 0 on core 0 polls [\"gen\", \"sink\"]\n"),
        "{log}"
    );
    assert!(
        log.contains("<6>shutdown requested: stopping vswitchd\n"),
        "{log}"
    );
    let log = run_and_stop(&dir, &["--config", config, "--log-level", "warn"], true);
    assert_eq!(log, "", "nothing at warn or above happened");
    let (ok, err) = run_to_exit(&["--config", config, "--log-level", "loud"]);
    assert!(
        !ok && err.contains("not a log level: use error, warn, info or debug"),
        "{err}"
    );
}

#[test]
fn bad_configuration_is_refused_before_anything_starts() {
    let (ok, err) = run_to_exit(&["--config", "/dev/zero"]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("ERROR vswitchd: /dev/zero: the file is larger than 1 MiB"),
        "{err}"
    );
    let dir = TempDir::new("logging").unwrap();
    let config = dir.join("bad.toml");
    std::fs::write(
        &config,
        format!(
            "[switch]\ncontrol_socket = \"{}\"\nmetrics = \"0.0.0.0:9477\"\n",
            dir.join("s.sock").display()
        ),
    )
    .unwrap();
    let (ok, err) = run_to_exit(&["--config", config.to_str().unwrap()]);
    assert!(
        !ok && err.contains("switch.metrics: \"0.0.0.0:9477\" is not a loopback address"),
        "{err}"
    );
    assert!(!Path::new(&dir.join("s.sock")).exists(), "nothing started");
}
