//! What the end-to-end benches share: vswitchd with two AF_XDP (or
//! AF_PACKET) ports on the host ends of two veths, one worker.

use std::time::Duration;

use vswitch::config::Config;
use vswitch::daemon::{BackgroundDaemon, Daemon};
use vswitch_ports::netns::unique_name;

/// Starts vswitchd in the background with ports of type `port_type`
/// (`afxdp` or `afpacket`) named `names` on interfaces `interfaces`, its
/// worker on `core`, `switch_lines` added to its `[switch]` section (the
/// idle policy); `bench` names it in messages and in its socket's name. A
/// port released a moment ago can still be busy, so starting is retried,
/// at most three times.
pub fn start_two_port_daemon(
    port_type: &str,
    bench: &str,
    names: [&str; 2],
    interfaces: [&str; 2],
    core: usize,
    switch_lines: &str,
) -> Result<BackgroundDaemon, String> {
    let socket = std::env::temp_dir().join(format!("{}.sock", unique_name(bench)));
    let [a, b] = names;
    let [ia, ib] = interfaces;
    let toml = format!(
        r#"
[switch]
workers = [{core}]
{switch_lines}
control_socket = "{}"

[[bridge]]
name = "br0"

[[bridge.port]]
name = "{a}"
type = "{port_type}"
options = {{ interface = "{ia}" }}

[[bridge.port]]
name = "{b}"
type = "{port_type}"
options = {{ interface = "{ib}" }}
"#,
        socket.display()
    );
    let config = Config::parse(&toml, &format!("{bench}.toml")).map_err(|e| e.to_string())?;
    let mut attempts = 0;
    let daemon = loop {
        attempts += 1;
        match Daemon::start(&config) {
            Ok(daemon) => break daemon,
            Err(e) if attempts < 3 => {
                println!("{bench}: vswitchd did not start ({e}); retrying in 1 s");
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => return Err(format!("cannot start vswitchd: {e}")),
        }
    };
    daemon.spawn().map_err(|e| e.to_string())
}
