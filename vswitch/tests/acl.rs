//! Stateful ACLs and NetworkPolicy end to end, as root: the gateway lab
//! (`vswitch::lab::gateway`) with c1 (10.1.0.2) and c4 (10.1.0.3) on
//! network front, bridged to each other by the real `vswitchd`, c2
//! (10.2.0.2) on network back, routed to and from front, and the
//! outside (198.51.100.1) behind the uplink, which front masquerades
//! to; an `[[acl]]` on c1's port, or `[[policy]]` tables selecting the
//! ports by the labels the lab gives them. The containers' kernels are
//! the peers (TCP connections and UDP echoes). Everything a test creates
//! is removed by the lab's guards, also on failure. Not root, or no `ip`:
//! a skip line (a failure under CI).

use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Duration;

use vswitch::lab::gateway::{GatewayLab, LabOptions, OUTSIDE_SERVER};
use vswitch::lab::traffic::{ping_from, tcp_verified};
use vswitch_ports::netns::run_in_netns;
use vswitch_ports::testing::require_netns;

const VSWITCHD: &str = env!("CARGO_BIN_EXE_vswitchd");
/// The port `tcp_verified` serves on.
const TCP_PORT: u16 = 5201;

fn up(test: &str, acl: &str) -> Option<GatewayLab> {
    up_labelled(test, acl, &[])
}

/// The lab with `tables` in its configuration and `labels` (container,
/// inline table) on the containers' ports.
fn up_labelled(test: &str, tables: &str, labels: &[(&str, &str)]) -> Option<GatewayLab> {
    if !require_netns(test) {
        return None;
    }
    let options = LabOptions {
        second_front: true,
        switch: tables.to_string(),
        port_lines: labels
            .iter()
            .map(|(name, labels)| (name.to_string(), format!("labels = {labels}")))
            .collect(),
        ..LabOptions::default()
    };
    Some(
        GatewayLab::up_with(Path::new(VSWITCHD), options).unwrap_or_else(|e| panic!("{test}: {e}")),
    )
}

fn evidence(lab: &GatewayLab) -> String {
    let acls = lab
        .request("acl-show")
        .map(|v| v.to_string())
        .unwrap_or_else(|e| e);
    let stats = lab
        .request("stats")
        .map(|v| v.to_string())
        .unwrap_or_else(|e| e);
    format!(
        "\nacl-show: {acls}\nstats: {stats}\nlog: {}",
        lab.daemon_log().trim_end()
    )
}

/// The namespace of container `name`, or of the outside.
fn ns<'a>(lab: &'a GatewayLab, name: &str) -> &'a str {
    match name {
        "outside" => lab.outside.name(),
        _ => lab.container_named(name).unwrap().netns.name(),
    }
}

/// The address of container `name`, or the outside's server.
fn ip(lab: &GatewayLab, name: &str) -> Ipv4Addr {
    match name {
        "outside" => OUTSIDE_SERVER,
        _ => lab.container_named(name).unwrap().ip,
    }
}

/// A TCP connection with the pattern from `from` to `to`, checked byte
/// for byte.
fn tcp_ok(lab: &GatewayLab, from: &str, to: &str) -> Result<(), String> {
    tcp_verified(
        ns(lab, from),
        ns(lab, to),
        ip(lab, to),
        64 * 1024,
        Duration::from_secs(5),
    )
    .map(|_| ())
}

/// Whether a TCP connection from `from` to port `port` of `to` (where
/// nothing listens: the kernel would answer a reset) gets any answer
/// within a second: refused means it went through, timed out that it
/// was dropped.
fn tcp_answered(lab: &GatewayLab, from: &str, to: &str, port: u16) -> bool {
    let addr = SocketAddr::from((ip(lab, to), port));
    let result = run_in_netns(ns(lab, from), || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(1))
    })
    .unwrap();
    match result {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
    }
}

/// Whether a datagram from `from` to `to`:`port` arrives, and whether
/// the echo back arrives (a few tries: the first may wait for ARP).
fn udp_echo(lab: &GatewayLab, from: &str, to: &str, port: u16) -> (bool, bool) {
    let listen = SocketAddr::from((ip(lab, to), port));
    let server = run_in_netns(ns(lab, to), || UdpSocket::bind(listen))
        .unwrap()
        .unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let client = run_in_netns(ns(lab, from), || {
        UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
    })
    .unwrap()
    .unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let (mut arrived, mut echoed) = (false, false);
    for _ in 0..4 {
        client.send_to(b"acl?", listen).unwrap();
        let mut buf = [0u8; 8];
        if let Ok((n, peer)) = server.recv_from(&mut buf) {
            arrived = true;
            server.send_to(&buf[..n], peer).unwrap();
            if client.recv_from(&mut buf).is_ok() {
                echoed = true;
                break;
            }
        }
    }
    (arrived, echoed)
}

/// `client` reaches `server` at the one allowed TCP port and the one
/// allowed UDP port (7001), the answers going out through `server`'s
/// egress default deny; other ports in (5202, 7002) and anything `server`
/// starts towards `client` are denied.
fn only_allowed_in(lab: &GatewayLab, client: &str, server: &str) {
    tcp_ok(lab, client, server)
        .unwrap_or_else(|e| panic!("{client} -> {server} tcp: {e}{}", evidence(lab)));
    assert_eq!(
        udp_echo(lab, client, server, 7001),
        (true, true),
        "{}",
        evidence(lab)
    );
    assert!(
        !tcp_answered(lab, client, server, 5202),
        "{}",
        evidence(lab)
    );
    assert!(!udp_echo(lab, client, server, 7002).0, "{}", evidence(lab));
    assert!(
        !tcp_answered(lab, server, client, TCP_PORT),
        "{}",
        evidence(lab)
    );
    assert!(!udp_echo(lab, server, client, 7001).0, "{}", evidence(lab));
}

#[test]
fn a_deny_rule_blocks_new_connections_while_replies_of_allowed_ones_flow() {
    let acl = "\n[[acl]]\nport = \"c1\"\n[[acl.rules]]\nname = \"no-c4\"\ndirection = \"ingress\"\naction = \"deny\"\npeers = [{ cidr = \"10.1.0.3/32\" }]\n";
    let Some(lab) = up(
        "a_deny_rule_blocks_new_connections_while_replies_of_allowed_ones_flow",
        acl,
    ) else {
        return;
    };
    // c1 starts: allowed (egress default allow), and c4's answers come in
    // through the deny rule as replies.
    tcp_ok(&lab, "c1", "c4").unwrap_or_else(|e| panic!("c1 -> c4 tcp: {e}{}", evidence(&lab)));
    assert_eq!(
        udp_echo(&lab, "c1", "c4", 7001),
        (true, true),
        "{}",
        evidence(&lab)
    );
    // c4 starts: denied, TCP and UDP.
    assert!(
        !tcp_answered(&lab, "c4", "c1", TCP_PORT),
        "{}",
        evidence(&lab)
    );
    assert!(!udp_echo(&lab, "c4", "c1", 7002).0, "{}", evidence(&lab));
    let show = lab.request("acl-show").unwrap();
    let hits = show["acls"][0]["rules"][0]["hits"].as_u64().unwrap();
    assert!(
        hits >= 2,
        "the deny rule decided the SYN and the datagram{}",
        evidence(&lab)
    );
}

#[test]
fn a_default_deny_acl_with_one_allow_rule_lets_exactly_that_through() {
    let acl = "\n[[acl]]\nport = \"c1\"\ndefault_ingress = \"deny\"\ndefault_egress = \"deny\"\n\
               [[acl.rules]]\nname = \"tcp-in\"\ndirection = \"ingress\"\naction = \"allow\"\nproto = \"tcp\"\nports = 5201\n\
               [[acl.rules]]\nname = \"udp-in\"\ndirection = \"ingress\"\naction = \"allow\"\nproto = \"udp\"\nports = 7001\n";
    let Some(lab) = up(
        "a_default_deny_acl_with_one_allow_rule_lets_exactly_that_through",
        acl,
    ) else {
        return;
    };
    only_allowed_in(&lab, "c4", "c1");
}

#[test]
fn a_deny_rule_blocks_routed_connections_from_another_network_while_replies_flow() {
    let acl = "\n[[acl]]\nport = \"c1\"\n[[acl.rules]]\nname = \"no-back\"\ndirection = \"ingress\"\naction = \"deny\"\npeers = [{ cidr = \"10.2.0.0/24\" }]\n";
    let test = "a_deny_rule_blocks_routed_connections_from_another_network_while_replies_flow";
    let Some(lab) = up(test, acl) else {
        return;
    };
    // c1 starts, through the gateway into back: c2's answers are routed
    // back in as replies.
    tcp_ok(&lab, "c1", "c2").unwrap_or_else(|e| panic!("c1 -> c2 tcp: {e}{}", evidence(&lab)));
    assert_eq!(
        udp_echo(&lab, "c1", "c2", 7001),
        (true, true),
        "{}",
        evidence(&lab)
    );
    // c2 starts: denied, TCP and UDP; c4, bridged, is not in back.
    assert!(
        !tcp_answered(&lab, "c2", "c1", TCP_PORT),
        "{}",
        evidence(&lab)
    );
    assert!(!udp_echo(&lab, "c2", "c1", 7002).0, "{}", evidence(&lab));
    tcp_ok(&lab, "c4", "c1").unwrap_or_else(|e| panic!("c4 -> c1 tcp: {e}{}", evidence(&lab)));
    let show = lab.request("acl-show").unwrap();
    let hits = show["acls"][0]["rules"][0]["hits"].as_u64().unwrap();
    assert!(
        hits >= 2,
        "the deny rule decided the SYN and the datagram{}",
        evidence(&lab)
    );
}

#[test]
fn rules_decide_what_leaves_masqueraded_and_what_comes_in_by_the_uplink() {
    let acl = "\n[[acl]]\nport = \"c1\"\ndefault_ingress = \"deny\"\n\
               [[acl.rules]]\nname = \"no-udp-out\"\ndirection = \"egress\"\naction = \"deny\"\nproto = \"udp\"\npeers = [{ cidr = \"198.51.100.0/24\" }]\n";
    let test = "rules_decide_what_leaves_masqueraded_and_what_comes_in_by_the_uplink";
    let Some(lab) = up(test, acl) else {
        return;
    };
    // Pings first, until one comes back: the uplink's next hop resolved
    // (echoes out are allowed, their replies pass as such).
    let pinged = (0..3)
        .any(|_| ping_from(ns(&lab, "c1"), OUTSIDE_SERVER, 3).is_ok_and(|r| r.received() > 0));
    assert!(pinged, "ping c1 -> outside{}", evidence(&lab));
    // Out, translated, with the answers through the ingress deny.
    tcp_ok(&lab, "c1", "outside")
        .unwrap_or_else(|e| panic!("c1 -> outside tcp: {e}{}", evidence(&lab)));
    // UDP out: denied by the rule.
    assert!(
        !udp_echo(&lab, "c1", "outside", 7001).0,
        "{}",
        evidence(&lab)
    );
    // The outside routes to c1 without translation: denied coming in.
    assert!(
        !tcp_answered(&lab, "outside", "c1", TCP_PORT),
        "{}",
        evidence(&lab)
    );
    assert!(
        !udp_echo(&lab, "outside", "c1", 7002).0,
        "{}",
        evidence(&lab)
    );
}

#[test]
fn a_default_deny_policy_with_one_allow_rule_lets_exactly_that_through() {
    let policy = r#"
[[policy]]
name = "web"
pod_selector = { app = "web" }
policy_types = ["Ingress", "Egress"]

[[policy.ingress]]
from = [{ pod_selector = { app = "client" } }]
ports = [{ protocol = "TCP", port = 5201 }, { protocol = "UDP", port = 7001 }]
"#;
    let labels = [
        ("c1", r#"{ app = "web" }"#),
        ("c2", r#"{ app = "client" }"#),
        ("c4", r#"{ app = "other" }"#),
    ];
    let test = "a_default_deny_policy_with_one_allow_rule_lets_exactly_that_through";
    let Some(lab) = up_labelled(test, policy, &labels) else {
        return;
    };
    // The client, routed from back.
    only_allowed_in(&lab, "c2", "c1");
    // A bridged endpoint that is no client, and anything else c1 starts
    // (egress isolated, no rule): denied.
    assert!(
        !tcp_answered(&lab, "c4", "c1", TCP_PORT),
        "{}",
        evidence(&lab)
    );
    assert!(!udp_echo(&lab, "c4", "c1", 7001).0, "{}", evidence(&lab));
    assert!(!udp_echo(&lab, "c1", "c4", 7001).0, "{}", evidence(&lab));
}
