//! Container networks with gateways end to end, as root: one host
//! namespace running the real `vswitchd`, three containers on networks
//! front, back and iso (IPv4 and IPv6), an outside namespace behind the
//! uplink
//! (`vswitch::lab::gateway`). The containers' kernels are the peers: they
//! ARP for their gateway, ping through it, and the system `ping` reports
//! the ICMP errors the gateway sends. Everything a test creates is
//! removed by the lab's guards, also on failure. Not root, or no `ip`: a
//! skip line (a failure under CI).

use std::path::Path;
use std::time::Duration;

use vswitch::lab::gateway::{GatewayLab, OUTSIDE_SERVER};
use vswitch::lab::traffic::{ping_from, tcp_verified};
use vswitch_ports::netns::NetNs;
use vswitch_ports::testing::require_netns;

const VSWITCHD: &str = env!("CARGO_BIN_EXE_vswitchd");

fn up(test: &str) -> Option<GatewayLab> {
    if !require_netns(test) {
        return None;
    }
    Some(GatewayLab::up(Path::new(VSWITCHD)).unwrap_or_else(|e| panic!("{test}: {e}")))
}

/// Drops of `reason` over every port.
fn drops(lab: &GatewayLab, reason: &str) -> u64 {
    let stats = lab.request("stats").unwrap();
    stats["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["drop_reasons"][reason].as_u64().unwrap_or(0))
        .sum()
}

fn evidence(lab: &GatewayLab) -> String {
    let stats = lab
        .request("stats")
        .map(|v| v.to_string())
        .unwrap_or_else(|e| e);
    format!("\nstats: {stats}\nlog: {}", lab.daemon_log().trim_end())
}

/// Pings `to` from container `from` until every one of 3 echoes comes
/// back (the first of a new path may be lost to ARP), at most 3 rounds.
fn ping_ok(lab: &GatewayLab, from: &str, to: std::net::Ipv4Addr) {
    let c = lab.container_named(from).unwrap();
    let mut last = String::new();
    for _ in 0..3 {
        match ping_from(c.netns.name(), to, 3) {
            Ok(report) if report.received() == 3 => return,
            Ok(report) => last = report.summary(),
            Err(e) => last = e,
        }
    }
    panic!("ping {from} -> {to}: {last}{}", evidence(lab));
}

#[test]
fn containers_ping_their_gateway_and_each_other_where_routing_is_allowed() {
    let Some(lab) = up("containers_ping_their_gateway_and_each_other_where_routing_is_allowed")
    else {
        return;
    };
    let (c1, c2) = (
        lab.container_named("c1").unwrap(),
        lab.container_named("c2").unwrap(),
    );
    ping_ok(&lab, "c1", c1.gateway);
    ping_ok(&lab, "c1", c2.ip);
    ping_ok(&lab, "c2", c1.ip);
    // c3's network routes nowhere: no echo comes back either way, and the
    // gateway says why.
    let c3 = lab.container_named("c3").unwrap();
    let report = ping_from(c1.netns.name(), c3.ip, 2).unwrap();
    assert_eq!(report.received(), 0, "{}", evidence(&lab));
    let out =
        GatewayLab::system_ping(&c1.netns, &["-c", "1", "-W", "2", &c3.ip.to_string()]).unwrap();
    assert!(
        out.contains(&format!("From {} icmp_seq=1 Packet filtered", c1.gateway)),
        "{out}{}",
        evidence(&lab)
    );
    assert!(drops(&lab, "route_not_allowed") >= 3, "{}", evidence(&lab));
    // `vsctl show` lists the networks with the neighbours they learned.
    let show = vswitch::daemon::render("show", &lab.request("show").unwrap());
    eprintln!("{show}");
    for line in [
        "network front on front vlan 0: 10.1.0.0/24 gateway 10.1.0.1",
        "routes to [back], default via uplink up0",
        "network iso on iso vlan 0: 10.3.0.0/24 gateway 10.3.0.1",
        "neighbour 10.2.0.2",
    ] {
        assert!(show.contains(line), "missing {line:?} in\n{show}");
    }
}

#[test]
fn ttl_expiry_gets_time_exceeded_from_the_gateway() {
    let Some(lab) = up("ttl_expiry_gets_time_exceeded_from_the_gateway") else {
        return;
    };
    let (c1, c2) = (
        lab.container_named("c1").unwrap(),
        lab.container_named("c2").unwrap(),
    );
    ping_ok(&lab, "c1", c2.ip);
    let to = c2.ip.to_string();
    let out = GatewayLab::system_ping(&c1.netns, &["-c", "1", "-W", "2", "-t", "1", &to]).unwrap();
    assert!(
        out.contains(&format!(
            "From {} icmp_seq=1 Time to live exceeded",
            c1.gateway
        )),
        "{out}{}",
        evidence(&lab)
    );
    // TTL 2 is one hop: it arrives.
    let out = GatewayLab::system_ping(&c1.netns, &["-c", "1", "-W", "2", "-t", "2", &to]).unwrap();
    assert!(out.contains("1 received"), "{out}{}", evidence(&lab));
    assert!(drops(&lab, "route_ttl_expired") >= 1);
}

#[test]
fn a_container_reaches_the_outside_by_the_uplink_tcp_too() {
    let Some(lab) = up("a_container_reaches_the_outside_by_the_uplink_tcp_too") else {
        return;
    };
    ping_ok(&lab, "c1", OUTSIDE_SERVER);
    let c1 = lab.container_named("c1").unwrap();
    let report = tcp_verified(
        c1.netns.name(),
        lab.outside.name(),
        OUTSIDE_SERVER,
        4 << 20,
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| panic!("tcp c1 -> outside: {e}{}", evidence(&lab)));
    assert_eq!(report.bytes, 4 << 20);
    // Network back does not leave by the uplink: the gateway says so.
    let c2 = lab.container_named("c2").unwrap();
    let out = GatewayLab::system_ping(
        &c2.netns,
        &["-c", "1", "-W", "2", &OUTSIDE_SERVER.to_string()],
    )
    .unwrap();
    assert!(
        out.contains(&format!(
            "From {} icmp_seq=1 Destination Net Unreachable",
            c2.gateway
        )),
        "{out}{}",
        evidence(&lab)
    );
}

#[test]
fn ipv6_containers_ping_their_gateway_and_each_other_and_hop_limits_expire() {
    let Some(lab) = up("ipv6_containers_ping_their_gateway_and_each_other_and_hop_limits_expire")
    else {
        return;
    };
    let (c1, c2, c3) = (
        lab.container_named("c1").unwrap(),
        lab.container_named("c2").unwrap(),
        lab.container_named("c3").unwrap(),
    );
    // The first echo of a path may go to neighbour discovery: 3 asked, at
    // least 2 back, with a second round if not.
    let ping6 = |from: &NetNs, to: &str| {
        let mut out = String::new();
        for _ in 0..2 {
            out = GatewayLab::system_ping(from, &["-6", "-c", "3", "-i", "0.2", "-W", "2", to])
                .unwrap();
            if out.contains(" 3 received") || out.contains(" 2 received") {
                return out;
            }
        }
        panic!("ping -6 {to}: {out}{}", evidence(&lab));
    };
    ping6(&c1.netns, &c1.gateway6.to_string());
    ping6(&c1.netns, &c2.ip6.to_string());
    ping6(&c2.netns, &c1.ip6.to_string());
    let to = c2.ip6.to_string();
    let out =
        GatewayLab::system_ping(&c1.netns, &["-6", "-c", "1", "-W", "2", "-t", "1", &to]).unwrap();
    assert!(
        out.contains(&format!(
            "From {} icmp_seq=1 Time exceeded: Hop limit",
            c1.gateway6
        )),
        "{out}{}",
        evidence(&lab)
    );
    let to = c3.ip6.to_string();
    let out = GatewayLab::system_ping(&c1.netns, &["-6", "-c", "1", "-W", "2", &to]).unwrap();
    assert!(
        out.contains(&format!(
            "From {} icmp_seq=1 Destination unreachable: Administratively prohibited",
            c1.gateway6
        )),
        "{out}{}",
        evidence(&lab)
    );
}
