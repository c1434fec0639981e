//! Masquerade end to end, as root: the gateway lab (`vswitch::lab::gateway`)
//! with the real `vswitchd`, whose outside namespace has NO route back to
//! front's subnet, so answers come home only through the translation.
//! Everything a test creates is removed by the lab's guards, also on
//! failure. Not root, or no `ip`: a skip line (a failure under CI).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use vswitch::lab::gateway::{
    GatewayLab, LabOptions, OUTSIDE_ROUTER, OUTSIDE_SERVER, UPLINK_ADDRESS,
};
use vswitch::lab::traffic::ping_from;
use vswitch_ports::netns::run_in_netns;
use vswitch_ports::testing::require_netns;

const VSWITCHD: &str = env!("CARGO_BIN_EXE_vswitchd");
const TIMEOUT: Duration = Duration::from_secs(5);

fn up(test: &str, switch: &str) -> Option<GatewayLab> {
    up_with(
        test,
        LabOptions {
            switch: switch.into(),
            ..LabOptions::default()
        },
    )
}

/// The lab as `options` say, always without the outside's route back.
fn up_with(test: &str, options: LabOptions) -> Option<GatewayLab> {
    if !require_netns(test) {
        return None;
    }
    let options = LabOptions {
        no_route_back: true,
        ..options
    };
    Some(
        GatewayLab::up_with(Path::new(VSWITCHD), options).unwrap_or_else(|e| panic!("{test}: {e}")),
    )
}

fn evidence(lab: &GatewayLab) -> String {
    let stats = lab
        .request("stats")
        .map(|v| v.to_string())
        .unwrap_or_else(|e| e);
    format!("\nstats: {stats}\nlog: {}", lab.daemon_log().trim_end())
}

/// Container `from` connects to a TCP server in the outside at `port`
/// and sends `message`, which comes back echoed: the address the server
/// saw the connection from.
fn tcp_echo(lab: &GatewayLab, from: &str, port: u16, message: &[u8]) -> Result<SocketAddr, String> {
    let from = lab.container_named(from)?.netns.name();
    let addr = SocketAddr::from((OUTSIDE_SERVER, port));
    tcp_echo_between(from, lab.outside.name(), addr, addr, message)
}

/// A client in namespace `from` connects to `to`, where a TCP server in
/// namespace `server_ns` listening on `listen` accepts, and sends
/// `message`, which comes back echoed: the address the server saw the
/// connection from. Bounded by [`TIMEOUT`] each way.
fn tcp_echo_between(
    from: &str,
    server_ns: &str,
    listen: SocketAddr,
    to: SocketAddr,
    message: &[u8],
) -> Result<SocketAddr, String> {
    let addr = to;
    let listener = run_in_netns(server_ns, || TcpListener::bind(listen))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let server = std::thread::spawn(move || -> Result<SocketAddr, String> {
        let deadline = Instant::now() + TIMEOUT;
        let (mut conn, peer) = loop {
            match listener.accept() {
                Ok(accepted) => break accepted,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => return Err(format!("server: no connection: {e}")),
            }
        };
        conn.set_nonblocking(false).map_err(|e| e.to_string())?;
        conn.set_read_timeout(Some(TIMEOUT))
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 256];
        let n = conn
            .read(&mut buf)
            .map_err(|e| format!("server read: {e}"))?;
        conn.write_all(&buf[..n])
            .map_err(|e| format!("server write: {e}"))?;
        Ok(peer)
    });
    let client = run_in_netns(from, || TcpStream::connect_timeout(&addr, TIMEOUT))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{from}: cannot connect to {addr}: {e}"));
    let echoed = client.and_then(|mut conn| {
        conn.set_read_timeout(Some(TIMEOUT))
            .map_err(|e| e.to_string())?;
        conn.write_all(message)
            .map_err(|e| format!("client write: {e}"))?;
        let mut back = vec![0u8; message.len()];
        conn.read_exact(&mut back)
            .map_err(|e| format!("client read: {e}"))?;
        Ok(back)
    });
    let peer = server.join().map_err(|_| "server panicked".to_string())?;
    let echoed = echoed?;
    if echoed != message {
        return Err(format!("echoed {echoed:?}, sent {message:?}"));
    }
    peer
}

/// Container `from` sends a datagram to a UDP echo in the outside at
/// `port`: the address the echo saw it from, after the echo came back.
fn udp_echo(lab: &GatewayLab, from: &str, port: u16) -> Result<SocketAddr, String> {
    let from = lab.container_named(from)?.netns.name();
    let addr = SocketAddr::from((OUTSIDE_SERVER, port));
    udp_echo_between(from, lab.outside.name(), addr, addr, b"ping")
}

/// A client in namespace `from` sends `message` to `to`, where a UDP echo
/// in namespace `server_ns` bound to `listen` answers: the address the
/// echo saw it from, after the echo came back whole.
fn udp_echo_between(
    from: &str,
    server_ns: &str,
    listen: SocketAddr,
    to: SocketAddr,
    message: &[u8],
) -> Result<SocketAddr, String> {
    let addr = to;
    let server = run_in_netns(server_ns, || UdpSocket::bind(listen))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot bind {listen}: {e}"))?;
    server
        .set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    let client = run_in_netns(from, || UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot bind in {from}: {e}"))?;
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    // The first datagram of a path may go to ARP: a few tries.
    let mut buf = vec![0u8; 65_536];
    for _ in 0..6 {
        client.send_to(message, addr).map_err(|e| e.to_string())?;
        let Ok((n, peer)) = server.recv_from(&mut buf) else {
            continue;
        };
        if &buf[..n] != message {
            return Err(format!(
                "the echo got {n} bytes, not the {} sent",
                message.len()
            ));
        }
        server.send_to(&buf[..n], peer).map_err(|e| e.to_string())?;
        if let Ok((n, _)) = client.recv_from(&mut buf) {
            if &buf[..n] == message {
                return Ok(peer);
            }
        }
    }
    Err(format!("no UDP echo from {addr} to {from}"))
}

/// Pings the outside from c1 until an echo comes back (ARP first).
fn ping_outside(lab: &GatewayLab) {
    let c1 = lab.container_named("c1").unwrap();
    for _ in 0..3 {
        if ping_from(c1.netns.name(), OUTSIDE_SERVER, 3).is_ok_and(|r| r.received() > 0) {
            return;
        }
    }
    panic!("ping c1 -> outside failed{}", evidence(lab));
}

#[test]
fn masquerade_takes_a_container_to_an_outside_with_no_route_back() {
    let Some(lab) = up(
        "masquerade_takes_a_container_to_an_outside_with_no_route_back",
        "",
    ) else {
        return;
    };
    ping_outside(&lab);
    let peer = tcp_echo(&lab, "c1", 7001, b"hello through the uplink")
        .unwrap_or_else(|e| panic!("tcp: {e}{}", evidence(&lab)));
    assert_eq!(peer.ip(), UPLINK_ADDRESS, "{}", evidence(&lab));
    assert!((32768..=60999).contains(&peer.port()), "{peer}");
    let peer = udp_echo(&lab, "c1", 7002).unwrap_or_else(|e| panic!("udp: {e}{}", evidence(&lab)));
    assert_eq!(peer.ip(), UPLINK_ADDRESS);
    // `vsctl conntrack-show` lists them with their translation; `stats`
    // counts them; `conntrack-flush` removes them.
    let show = vswitch::daemon::render("conntrack-show", &lab.request("conntrack-show").unwrap());
    eprintln!("{show}");
    let udp_reply = format!(
        "> {OUTSIDE_SERVER}:7002 reply {OUTSIDE_SERVER}:7002 > {UPLINK_ADDRESS}:{0} replied [snat {UPLINK_ADDRESS}:{0}]",
        peer.port()
    );
    assert!(show.contains("zone 32768 udp 10.1.0.2:"), "{show}");
    assert!(show.contains(&udp_reply), "{show}");
    assert!(show.contains("zone 32768 tcp 10.1.0.2:"), "{show}");
    let stats = vswitch::daemon::render("stats", &lab.request("stats").unwrap());
    assert!(stats.contains("conntrack: "), "{stats}");
    let flushed = lab.request("conntrack-flush 32768").unwrap();
    assert!(flushed["flushed"].as_u64().unwrap() >= 2, "{flushed}");
    assert_eq!(lab.request("conntrack-show").unwrap()["entries"], 0);
}

#[test]
fn a_full_conntrack_table_keeps_established_connections() {
    let Some(lab) = up(
        "a_full_conntrack_table_keeps_established_connections",
        "conntrack_limit = 2",
    ) else {
        return;
    };
    let addr = SocketAddr::from((OUTSIDE_SERVER, 7003));
    let listener = run_in_netns(lab.outside.name(), || TcpListener::bind(addr))
        .unwrap()
        .unwrap();
    listener.set_nonblocking(true).unwrap();
    let c1 = lab.container_named("c1").unwrap().netns.name().to_string();
    // The ARP for the router goes with the first SYN; connect retries.
    let mut client = run_in_netns(&c1, || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(5))
    })
    .unwrap()
    .unwrap_or_else(|e| panic!("connect: {e}{}", evidence(&lab)));
    let deadline = Instant::now() + TIMEOUT;
    let mut server = loop {
        match listener.accept() {
            Ok((conn, _)) => break conn,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("accept: {e}"),
        }
    };
    server.set_nonblocking(false).unwrap();
    server.set_read_timeout(Some(TIMEOUT)).unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    // Fill the table: a UDP flow takes the second entry, further ones are
    // refused (ct_table_full).
    for port in 7100..7104 {
        let _ = udp_echo(&lab, "c1", port);
    }
    // The established connection keeps working both ways.
    for round in 0..5u8 {
        client.write_all(&[round; 100]).unwrap();
        let mut buf = [0u8; 100];
        server
            .read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("round {round}: {e}{}", evidence(&lab)));
        server.write_all(&buf).unwrap();
        client.read_exact(&mut buf).unwrap();
        assert_eq!(buf, [round; 100]);
    }
    let full: u64 = lab.request("stats").unwrap()["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["drop_reasons"]["ct_table_full"].as_u64().unwrap_or(0))
        .sum();
    assert!(full >= 1, "{}", evidence(&lab));
}

/// front publishes TCP 8080 and UDP 8081-8082 of the uplink's address to
/// c1's 80 and 81-82.
const PUBLISH: &str = r#"publish = [
  { proto = "tcp", host_port = 8080, container = "10.1.0.2", container_port = 80 },
  { proto = "udp", host_port = "8081-8082", container = "10.1.0.2", container_port = "81-82" },
]"#;

#[test]
fn the_outside_reaches_a_container_by_a_published_port_tcp_and_udp() {
    let test = "the_outside_reaches_a_container_by_a_published_port_tcp_and_udp";
    let Some(lab) = up_with(
        test,
        LabOptions {
            front: PUBLISH.into(),
            ..LabOptions::default()
        },
    ) else {
        return;
    };
    let c1 = lab.container_named("c1").unwrap();
    let outside = lab.outside.name();
    let listen = SocketAddr::from((c1.ip, 80));
    let published = SocketAddr::from((UPLINK_ADDRESS, 8080));
    // The client's address is kept: the container sees the outside's.
    let peer = tcp_echo_between(
        outside,
        c1.netns.name(),
        listen,
        published,
        b"published tcp",
    )
    .unwrap_or_else(|e| panic!("tcp: {e}{}", evidence(&lab)));
    assert_eq!(peer.ip(), OUTSIDE_ROUTER, "{}", evidence(&lab));
    let listen = SocketAddr::from((c1.ip, 82));
    let published = SocketAddr::from((UPLINK_ADDRESS, 8082));
    let peer = udp_echo_between(outside, c1.netns.name(), listen, published, b"ping")
        .unwrap_or_else(|e| panic!("udp: {e}{}", evidence(&lab)));
    assert_eq!(peer.ip(), OUTSIDE_ROUTER);
}

#[test]
fn hairpin_to_a_published_port_from_the_network_and_from_the_container_itself() {
    let test = "hairpin_to_a_published_port_from_the_network_and_from_the_container_itself";
    let Some(lab) = up_with(
        test,
        LabOptions {
            front: PUBLISH.into(),
            second_front: true,
            ..LabOptions::default()
        },
    ) else {
        return;
    };
    let c1 = lab.container_named("c1").unwrap();
    let published = SocketAddr::from((UPLINK_ADDRESS, 8080));
    for from in ["c4", "c1"] {
        let client = lab.container_named(from).unwrap().netns.name();
        let listen = SocketAddr::from((c1.ip, 80));
        let peer = tcp_echo_between(client, c1.netns.name(), listen, published, b"hairpin")
            .unwrap_or_else(|e| panic!("{from}: {e}{}", evidence(&lab)));
        // Answers must come back through the switch: the server sees the
        // gateway.
        assert_eq!(peer.ip(), c1.gateway, "{from}{}", evidence(&lab));
    }
}

#[test]
fn without_icc_containers_of_a_network_reach_only_the_gateway() {
    let test = "without_icc_containers_of_a_network_reach_only_the_gateway";
    let Some(lab) = up_with(
        test,
        LabOptions {
            front: "icc = false".into(),
            second_front: true,
            ..LabOptions::default()
        },
    ) else {
        return;
    };
    let (c1, c4) = (
        lab.container_named("c1").unwrap(),
        lab.container_named("c4").unwrap(),
    );
    let report = ping_from(c4.netns.name(), c4.gateway, 3).unwrap();
    assert!(
        report.received() > 0,
        "{}{}",
        report.summary(),
        evidence(&lab)
    );
    let report = ping_from(c4.netns.name(), c1.ip, 2).unwrap();
    assert_eq!(report.received(), 0, "{}", evidence(&lab));
    let denied: u64 = lab.request("stats").unwrap()["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["drop_reasons"]["icc_denied"].as_u64().unwrap_or(0))
        .sum();
    assert!(denied >= 1, "{}", evidence(&lab));
}

/// A 4000-byte datagram, which the container's kernel cuts into three
/// fragments (MTU 1500), crosses masquerade whole, and the echo's answer,
/// fragmented by the outside's kernel, comes back whole: the switch holds
/// the fragments of each until the datagram is whole, translates them
/// alike and sends them on.
#[test]
fn a_fragmented_udp_datagram_crosses_masquerade_both_ways() {
    let Some(lab) = up("a_fragmented_udp_datagram_crosses_masquerade_both_ways", "") else {
        return;
    };
    ping_outside(&lab);
    let message: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
    let from = lab.container_named("c1").unwrap().netns.name();
    let addr = SocketAddr::from((OUTSIDE_SERVER, 7003));
    let peer = udp_echo_between(from, lab.outside.name(), addr, addr, &message)
        .unwrap_or_else(|e| panic!("udp: {e}{}", evidence(&lab)));
    assert_eq!(peer.ip(), UPLINK_ADDRESS, "{}", evidence(&lab));
    let stats = lab.request("stats").unwrap().to_string();
    assert!(!stats.contains("frag_"), "no fragment refused: {stats}");
    // Both kernels put datagrams together: fragments crossed each way.
    for ns in [from, lab.outside.name()] {
        assert!(
            reassembled(ns) > 0,
            "{ns} reassembled nothing{}",
            evidence(&lab)
        );
    }
}

/// IP datagrams the kernel of namespace `ns` reassembled (`ReasmOKs` of
/// /proc/net/snmp).
fn reassembled(ns: &str) -> u64 {
    let snmp = run_in_netns(ns, || std::fs::read_to_string("/proc/thread-self/net/snmp"))
        .unwrap()
        .unwrap();
    let mut ip = snmp.lines().filter(|l| l.starts_with("Ip: "));
    let (names, values) = (ip.next().unwrap(), ip.next().unwrap());
    let at = names
        .split_whitespace()
        .position(|n| n == "ReasmOKs")
        .unwrap();
    values.split_whitespace().nth(at).unwrap().parse().unwrap()
}
