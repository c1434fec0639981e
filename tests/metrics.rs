//! The Prometheus endpoint of an in-process daemon (a pcap port looping
//! from memory into a null port: no root, no kernel I/O), scraped over
//! loopback: names, labels and moving counters; stalled, oversized and
//! wrong requests; a taken address; and the endpoint gone at shutdown.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use vswitch::config::Config;
use vswitch::daemon::{BackgroundDaemon, Daemon};

fn config(dir: &TempDir, name: &str, metrics: &str) -> Config {
    let input = dir.join("flows.pcap");
    let frames: Vec<_> = (0..100)
        .map(|i| (0.001, eth(mac(0xffff), mac(i), None, i as u8)))
        .collect();
    write_pcap(&input, &frames);
    let text = format!(
        "[switch]\nworkers = [0]\ncontrol_socket = \"{}\"\nmetrics = \"{metrics}\"\n\
         [[bridge]]\nname = \"br0\"\n\
         [[bridge.port]]\nname = \"gen\"\ntype = \"pcap\"\noptions = {{ input = \"{}\", loop = true }}\n\
         [[bridge.port]]\nname = \"sink\"\ntype = \"null\"\n\
         [[bridge.static_mac]]\nmac = \"02:00:00:00:ff:ff\"\nport = \"sink\"\n",
        dir.join(&format!("{name}.sock")).display(),
        input.display()
    );
    Config::parse(&text, "metrics-test").unwrap()
}

fn start(dir: &TempDir) -> (BackgroundDaemon, SocketAddr) {
    let daemon = Daemon::start(&config(dir, "d", "127.0.0.1:0"))
        .and_then(Daemon::spawn)
        .unwrap();
    let addr = daemon.metrics_address().expect("metrics configured");
    (daemon, addr)
}

/// Sends `request` and reads the whole answer (the server closes).
fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn scrape(addr: SocketAddr) -> String {
    let answer = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.0 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains("Content-Type: text/plain; version=0.0.4"),
        "{answer}"
    );
    answer
}

/// The value of the sample written exactly as `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn a_scrape_has_named_labelled_counters_that_move() {
    let dir = TempDir::new("metrics").unwrap();
    let (_daemon, addr) = start(&dir);
    let sent = r#"vswitch_port_tx_packets_total{port="sink",bridge="br0"}"#;
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        let text = scrape(addr);
        if sample(&text, sent).unwrap_or(0.0) > 0.0 {
            break text;
        }
        assert!(Instant::now() < deadline, "nothing forwarded: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    for family in [
        "vswitch_uptime_seconds gauge",
        "vswitch_port_rx_packets_total counter",
        "vswitch_port_rx_bytes_total counter",
        "vswitch_port_tx_packets_total counter",
        "vswitch_port_tx_bytes_total counter",
        "vswitch_port_drops_total counter",
        "vswitch_port_device_drops_total counter",
        "vswitch_worker_packets_total counter",
        "vswitch_worker_cycles_per_packet gauge",
        "vswitch_worker_poll_seconds_total counter",
        "vswitch_worker_blocked_seconds_total counter",
        "vswitch_worker_wakeups_total counter",
        "vswitch_worker_flow_cache_hits_total counter",
        "vswitch_worker_flow_cache_misses_total counter",
        "vswitch_worker_flow_cache_evictions_total counter",
        "vswitch_worker_rx_to_tx_seconds gauge",
        "vswitch_conntrack_entries gauge",
        "vswitch_conntrack_limit gauge",
        "vswitch_conntrack_created_total counter",
        "vswitch_conntrack_table_full_total counter",
        "vswitch_conntrack_nat_ports_exhausted_total counter",
        "vswitch_conntrack_invalid_total counter",
    ] {
        let name = family.split(' ').next().unwrap();
        assert!(
            first.contains(&format!("\n# TYPE {family}\n")),
            "{family}: {first}"
        );
        assert!(
            first.contains(&format!("\n# HELP {name} ")),
            "{name}: {first}"
        );
    }
    for series in [
        r#"vswitch_port_rx_packets_total{port="gen",bridge="br0"}"#,
        r#"vswitch_worker_packets_total{core="0"}"#,
        r#"vswitch_worker_flow_cache_hits_total{core="0"}"#,
        r#"vswitch_worker_cycles_per_packet{core="0"}"#,
        r#"vswitch_worker_rx_to_tx_seconds{core="0",quantile="0.99"}"#,
    ] {
        assert!(sample(&first, series).unwrap() > 0.0, "{series}: {first}");
    }
    // The tracker's table is there even where nothing is tracked.
    assert_eq!(sample(&first, "vswitch_conntrack_limit"), Some(262144.0));
    assert_eq!(sample(&first, "vswitch_conntrack_entries"), Some(0.0));
    // Every sample line is `name{labels} value` of a family declared above it.
    let mut declared = Vec::new();
    for line in first.lines().skip_while(|l| !l.is_empty()).skip(1) {
        if let Some(name) = line.strip_prefix("# TYPE ") {
            declared.push(name.split(' ').next().unwrap().to_string());
        } else if !line.starts_with('#') {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let name = series.split('{').next().unwrap();
            assert_eq!(declared.last().map(String::as_str), Some(name), "{line}");
            value.parse::<f64>().unwrap_or_else(|_| panic!("{line}"));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let before = sample(&first, sent).unwrap();
    while sample(&scrape(addr), sent).unwrap() <= before {
        assert!(Instant::now() < deadline, "the counter did not move");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn stalled_and_wrong_clients_block_no_scrape() {
    let dir = TempDir::new("metrics").unwrap();
    let (_daemon, addr) = start(&dir);
    // Clients that connect and send nothing, or half a request.
    let mut stalled: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
    stalled[0].write_all(b"GET /metr").unwrap();
    let answer = scrape(addr);
    assert!(answer.contains("vswitch_uptime_seconds"), "{answer}");
    // They are still open and unanswered: the scrape did not wait for
    // their time to run out.
    for s in &mut stalled {
        s.set_nonblocking(true).unwrap();
        let e = s.read(&mut [0u8; 16]).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::WouldBlock,
            "a stalled client got an answer"
        );
    }
    let answer = exchange(addr, b"GET / HTTP/1.0\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.0 404 "), "{answer}");
    let answer = exchange(addr, b"POST /metrics HTTP/1.0\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.0 405 "), "{answer}");
    let mut huge = b"GET /metrics HTTP/1.0\r\nX: ".to_vec();
    huge.resize(64 * 1024, b'a');
    let answer = exchange(addr, &huge);
    assert!(answer.starts_with("HTTP/1.0 431 "), "{answer}");
    // A stalled client is closed once its time is up.
    stalled[1].set_nonblocking(false).unwrap();
    stalled[1]
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(stalled[1].read(&mut [0u8; 16]).unwrap(), 0);
}

#[test]
fn a_taken_address_refuses_the_start_and_shutdown_closes_the_endpoint() {
    let dir = TempDir::new("metrics").unwrap();
    let (daemon, addr) = start(&dir);
    let second = config(&dir, "second", &addr.to_string());
    let e = Daemon::start(&second).err().expect("the address is taken");
    assert!(
        e.0.contains(&format!("[switch] metrics = \"{addr}\""))
            && e.0.contains("choose another port"),
        "{e}"
    );
    assert!(
        !second.switch.control_socket.exists(),
        "a refused start leaves no socket"
    );
    drop(daemon);
    let e = TcpStream::connect(addr).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
}
