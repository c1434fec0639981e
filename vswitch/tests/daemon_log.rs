//! What an in-process daemon logs when its configuration changes: the
//! ports added, removed and reopened, or the refusal. Its own test binary,
//! because the logger of a process is set once.

use std::io::Write;
use std::sync::{Arc, Mutex};

use vswitch::config::Config;
use vswitch::daemon::Daemon;
use vswitch::logging::{Logger, Style};
use vswitch_ports::testing::TempDir;

/// A writer whose bytes the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

fn config(dir: &TempDir, ports: &[(&str, &str)]) -> Config {
    let mut text = format!(
        "[switch]\nworkers = [0]\ncontrol_socket = \"{}\"\n[[bridge]]\nname = \"br0\"\n",
        dir.join("d.sock").display()
    );
    for (name, kind) in ports {
        text += &format!("[[bridge.port]]\nname = \"{name}\"\ntype = \"{kind}\"\n");
        if *kind == "pcap" {
            text += &format!(
                "options = {{ output = \"{}\" }}\n",
                dir.join(&format!("{name}.pcap")).display()
            );
        }
    }
    Config::parse(&text, "log-test").unwrap()
}

#[test]
fn configuration_changes_are_logged_one_line_each() {
    let captured = Captured::default();
    log::set_boxed_logger(Box::new(Logger::new(
        Style::Journal,
        log::LevelFilter::Info,
        captured.clone(),
    )))
    .unwrap();
    log::set_max_level(log::LevelFilter::Info);

    let dir = TempDir::new("daemon-log").unwrap();
    let daemon = Daemon::start(&config(&dir, &[("a", "null"), ("b", "null")]))
        .and_then(Daemon::spawn)
        .unwrap();
    assert_eq!(
        captured.take(),
        "<6>port \"a\" (null) open: drops what it is sent\n\
         <6>port \"b\" (null) open: drops what it is sent\n"
    );
    // b leaves, c comes, a changes type (and is opened again).
    daemon
        .reconfigure(&config(&dir, &[("a", "pcap"), ("c", "null")]))
        .unwrap();
    let log = captured.take();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(
        lines[0].starts_with("<6>port \"a\" (pcap) open: in -, out "),
        "{log}"
    );
    assert_eq!(lines[1], "<6>port \"c\" (null) open: drops what it is sent");
    assert_eq!(
        lines[2],
        "<6>configuration applied: ports added [\"c\"], removed [\"b\"], reopened [\"a\"]"
    );
    let mut refused = config(&dir, &[("a", "pcap")]);
    refused.switch.batch_size = 7;
    daemon.reconfigure(&refused).unwrap_err();
    let log = captured.take();
    assert!(
        log.starts_with("<3>configuration change refused, nothing changed: the [switch] section")
            && log.lines().count() == 1,
        "{log}"
    );
    drop(daemon);
    let log = captured.take();
    assert!(
        log.ends_with("<6>shutdown requested: stopping vswitchd\n<6>vswitchd stopped: workers joined, ports released\n"),
        "{log}"
    );
}
