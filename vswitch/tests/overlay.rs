//! Overlay networks end to end, as root: two hosts (network namespaces)
//! joined by an underlay veth, a `vswitchd` child process in each, and
//! containers on bridges whose tunnel ports carry them over VXLAN or
//! Geneve (`vswitch::lab::overlay`). Pings are our own ICMP echo, TCP
//! streams are checked byte by byte, and the daemons' control sockets show
//! that the frames went through the tunnels. One test has the Linux
//! kernel's VXLAN device as host B, to prove we speak real VXLAN and answer
//! ARP for our VTEP address. Everything a test creates is removed by the
//! lab's guards, also on failure. Not root, or no `ip`: a skip line (a
//! failure under CI).
//!
//! In the package of `vswitchd`, as daemon_process.rs, because only here
//! does Cargo build the binary before the tests and name it
//! (`CARGO_BIN_EXE_vswitchd`), from a fresh clone, with any test filter.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use vswitch::lab::overlay::{
    OverlayLab, OverlaySpec, TunnelType, CONTAINER_MTU, CONTAINER_MTU_V6, UNDERLAY_MTU,
};
use vswitch_ports::testing::require_netns;

const VSWITCHD: &str = env!("CARGO_BIN_EXE_vswitchd");
const A: usize = 0;
const B: usize = 1;
/// Bytes of each TCP stream.
const TCP_BYTES: usize = 8 << 20;
const TCP_TIMEOUT: Duration = Duration::from_secs(30);

fn up(test: &str, spec: &OverlaySpec) -> Option<OverlayLab> {
    if !require_netns(test) {
        return None;
    }
    Some(OverlayLab::up(spec, Path::new(VSWITCHD)).unwrap_or_else(|e| panic!("{test}: {e}")))
}

/// The daemons publish their counters every 50 ms.
fn settle() {
    std::thread::sleep(Duration::from_millis(250));
}

fn count(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

/// Drops of `reason` over every port of host `host`.
fn drops(lab: &OverlayLab, host: usize, reason: &str) -> u64 {
    let stats = lab.request(host, "stats").unwrap();
    stats["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["drop_reasons"][reason].as_u64().unwrap_or(0))
        .sum()
}

/// Everything both daemons would tell about a failure.
fn evidence(lab: &OverlayLab) -> String {
    let mut out = String::new();
    for (i, h) in lab.hosts.iter().enumerate() {
        if h.socket.is_none() {
            continue;
        }
        for command in ["stats", "pmd-stats", "tunnel-show"] {
            let answer = lab
                .request(i, command)
                .map(|v| v.to_string())
                .unwrap_or_else(|e| e);
            out += &format!("\nhost {} {command}: {answer}", h.name);
        }
        out += &format!("\nhost {} log: {}", h.name, lab.daemon_log(i).trim_end());
    }
    out
}

fn ping(lab: &OverlayLab, from: &str, to: &str) {
    match lab.ping(from, to, 3) {
        Ok(summary) => println!("ping {from} -> {to}: {summary}"),
        Err(e) => panic!("{e}{}", evidence(lab)),
    }
}

fn tcp(lab: &OverlayLab, from: &str, to: &str) {
    match lab.tcp(from, to, TCP_BYTES, TCP_TIMEOUT) {
        Ok(r) => println!(
            "TCP {from} -> {to}: {} bytes verified in {:.2} s ({:.0} Mbit/s)",
            r.bytes,
            r.took.as_secs_f64(),
            r.mbit_per_s()
        ),
        Err(e) => panic!("{e}{}", evidence(lab)),
    }
}

/// The tunnel port of `net` and the uplink of host `host` each sent and
/// received at least `min` frames, and the worker counted them: proof,
/// from the control socket, that the traffic went through the tunnel.
fn tunnel_carried(lab: &OverlayLab, host: usize, net: &str, min: u64) {
    settle();
    let tunnel = lab.port_stats(host, &lab.tunnel_port(net)).unwrap();
    let uplink = lab.port_stats(host, "up0").unwrap();
    for (what, v) in [("tunnel", &tunnel), ("uplink", &uplink)] {
        for key in ["rx_packets", "tx_packets"] {
            assert!(
                count(v, key) >= min,
                "host {host}: {what} {key} {} < {min}: {v}{}",
                count(v, key),
                evidence(lab)
            );
        }
    }
    let pmd = lab.request(host, "pmd-stats").unwrap();
    let packets: u64 = pmd["workers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| count(w, "packets"))
        .sum();
    assert!(packets >= 2 * min, "host {host}: pmd-stats {pmd}");
    println!(
        "host {}: {} rx {} tx {}, up0 rx {} tx {}, worker packets {packets}",
        lab.hosts[host].name,
        lab.tunnel_port(net),
        count(&tunnel, "rx_packets"),
        count(&tunnel, "tx_packets"),
        count(&uplink, "rx_packets"),
        count(&uplink, "tx_packets"),
    );
}

/// Frames of blue's VNI never reach red's containers: a-blue, given an
/// address in red's subnet, pings b-red's address and gets nothing, while
/// its ARP requests do cross blue's tunnel; b-red's switch port sends
/// nothing to it, red's tunnel on host B receives nothing, b-red's kernel
/// counts nothing.
fn isolated(lab: &OverlayLab) {
    let red_b = lab.endpoint("b-red").unwrap().ip;
    let [a, b, c, _] = red_b.octets();
    lab.add_address("a-blue", &format!("{}/24", Ipv4Addr::new(a, b, c, 9)))
        .unwrap();
    settle();
    let blue_rx = count(
        &lab.port_stats(B, &lab.tunnel_port("blue")).unwrap(),
        "rx_packets",
    );
    let red_rx = count(
        &lab.port_stats(B, &lab.tunnel_port("red")).unwrap(),
        "rx_packets",
    );
    let port_tx = count(&lab.port_stats(B, "b-red").unwrap(), "tx_packets");
    let kernel_rx = lab.kernel_rx_packets("b-red").unwrap();
    let report = lab.ping_addr("a-blue", red_b, 3).unwrap();
    settle();
    let blue_rx_after = count(
        &lab.port_stats(B, &lab.tunnel_port("blue")).unwrap(),
        "rx_packets",
    );
    let red_rx_after = count(
        &lab.port_stats(B, &lab.tunnel_port("red")).unwrap(),
        "rx_packets",
    );
    let port_tx_after = count(&lab.port_stats(B, "b-red").unwrap(), "tx_packets");
    let kernel_rx_after = lab.kernel_rx_packets("b-red").unwrap();
    println!(
        "isolation: a-blue -> {red_b}: {}; host B blue tunnel rx +{}, red tunnel rx +{}, b-red port tx +{}, b-red eth0 rx +{}",
        report.summary(),
        blue_rx_after - blue_rx,
        red_rx_after - red_rx,
        port_tx_after - port_tx,
        kernel_rx_after - kernel_rx
    );
    assert_eq!(report.received(), 0, "blue reached red{}", evidence(lab));
    assert!(
        blue_rx_after > blue_rx,
        "a-blue's ARP for {red_b} did not cross blue's tunnel{}",
        evidence(lab)
    );
    assert_eq!(
        red_rx_after,
        red_rx,
        "red's tunnel received{}",
        evidence(lab)
    );
    assert_eq!(port_tx_after, port_tx, "b-red's port sent{}", evidence(lab));
    assert_eq!(
        kernel_rx_after,
        kernel_rx,
        "b-red received{}",
        evidence(lab)
    );
}

#[test]
fn vxlan_two_hosts_two_vnis() {
    let Some(lab) = up(
        "vxlan_two_hosts_two_vnis",
        &OverlaySpec::new(TunnelType::Vxlan),
    ) else {
        return;
    };
    ping(&lab, "a-blue", "b-blue");
    ping(&lab, "b-blue", "a-blue");
    ping(&lab, "a-red", "b-red");
    ping(&lab, "b-red", "a-red");
    tcp(&lab, "a-blue", "b-blue");
    // A full segment is 1,450 bytes of IP: 8 MiB is over 5,000 of them.
    let segments = (TCP_BYTES / 1410) as u64;
    tunnel_carried(&lab, A, "blue", segments);
    tunnel_carried(&lab, B, "blue", segments);
    tunnel_carried(&lab, A, "red", 6);
    assert_eq!(drops(&lab, A, "encap_too_big"), 0, "{}", evidence(&lab));
    isolated(&lab);
}

#[test]
fn geneve_two_hosts() {
    let Some(lab) = up("geneve_two_hosts", &OverlaySpec::new(TunnelType::Geneve)) else {
        return;
    };
    ping(&lab, "a-blue", "b-blue");
    ping(&lab, "b-blue", "a-blue");
    tcp(&lab, "b-blue", "a-blue");
    let segments = (TCP_BYTES / 1410) as u64;
    tunnel_carried(&lab, A, "blue", segments);
    tunnel_carried(&lab, B, "blue", segments);
    isolated(&lab);
}

#[test]
fn vxlan_over_ipv6_underlay() {
    let spec = OverlaySpec::new(TunnelType::Vxlan).ipv6_underlay();
    let Some(lab) = up("vxlan_over_ipv6_underlay", &spec) else {
        return;
    };
    assert_eq!(lab.spec.container_mtu, CONTAINER_MTU_V6);
    ping(&lab, "a-blue", "b-blue");
    ping(&lab, "b-blue", "a-blue");
    ping(&lab, "a-red", "b-red");
    tcp(&lab, "a-blue", "b-blue");
    tcp(&lab, "b-blue", "a-blue");
    let segments = (TCP_BYTES / 1390) as u64;
    tunnel_carried(&lab, A, "blue", segments);
    tunnel_carried(&lab, B, "blue", segments);
    // 1,430 bytes of container MTU fit the IPv6 underlay exactly.
    assert_eq!(drops(&lab, A, "encap_too_big"), 0, "{}", evidence(&lab));
    assert_eq!(drops(&lab, B, "encap_too_big"), 0, "{}", evidence(&lab));
    let show = lab.request(A, "tunnel-show").map(|v| v.to_string());
    println!("host a tunnel-show: {show:?}");
}

#[test]
fn interop_with_the_kernel_vxlan_device() {
    let spec = OverlaySpec::new(TunnelType::Vxlan).kernel_peer();
    let Some(lab) = up("interop_with_the_kernel_vxlan_device", &spec) else {
        return;
    };
    // b-blue is host B's kernel VXLAN device itself.
    ping(&lab, "a-blue", "b-blue");
    ping(&lab, "b-blue", "a-blue");
    tcp(&lab, "a-blue", "b-blue");
    tcp(&lab, "b-blue", "a-blue");
    let segments = (TCP_BYTES / 1410) as u64;
    tunnel_carried(&lab, A, "blue", segments);
    // The kernel resolved our VTEP address to our uplink's MAC: we
    // answered its ARP for 10.200.0.1.
    let (a, b) = (&lab.hosts[A], &lab.hosts[B]);
    let link = a
        .netns
        .ip(&["-j", "link", "show", "dev", &a.uplink])
        .unwrap();
    let link: Value = serde_json::from_str(&link).unwrap();
    let mac = link[0]["address"].as_str().unwrap().to_string();
    let neigh = b
        .netns
        .ip(&["neigh", "show", &a.vtep.to_string(), "dev", &b.uplink])
        .unwrap();
    println!("host b's neighbour entry of our VTEP: {}", neigh.trim());
    assert!(
        neigh.contains(&mac),
        "host B's kernel has {neigh:?} for {}, not our uplink's MAC {mac}{}",
        a.vtep,
        evidence(&lab)
    );
    assert!(
        drops(&lab, A, "uplink_arp") > 0,
        "no ARP was consumed on the uplink{}",
        evidence(&lab)
    );
}

#[test]
fn encapsulation_too_big_for_the_uplink_is_reported_to_the_sender() {
    let Some(lab) = up(
        "encapsulation_too_big_for_the_uplink_is_reported_to_the_sender",
        &OverlaySpec::new(TunnelType::Vxlan),
    ) else {
        return;
    };
    // ARP settled at the overlay's MTU, then both containers believe they
    // can send 1,500 bytes.
    ping(&lab, "a-blue", "b-blue");
    lab.set_mtu("a-blue", UNDERLAY_MTU).unwrap();
    lab.set_mtu("b-blue", UNDERLAY_MTU).unwrap();
    let to = lab.endpoint("b-blue").unwrap().ip;
    let probe = lab.probe_path_mtu("a-blue", to, 1500, 10).unwrap();
    let route = lab
        .ip_in("a-blue", &["route", "get", &to.to_string()])
        .unwrap();
    settle();
    let too_big = drops(&lab, A, "encap_too_big");
    println!(
        "DF datagram of 1500 bytes from a-blue: {probe:?}; ip route get: {}; host a encap_too_big: {too_big}",
        route.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    assert!(
        probe.path_mtu <= CONTAINER_MTU && probe.path_mtu >= CONTAINER_MTU - 20,
        "no fragmentation-needed reached a-blue (path MTU {}){}",
        probe.path_mtu,
        evidence(&lab)
    );
    assert!(
        route.contains(&format!("mtu {}", probe.path_mtu)),
        "{route}"
    );
    assert!(
        too_big >= 1,
        "encap_too_big counted nothing{}",
        evidence(&lab)
    );
    // TCP at a 1,500-byte MTU on both ends crosses by path MTU discovery:
    // each switch's fragmentation-needed shrinks its sender's segments.
    tcp(&lab, "a-blue", "b-blue");
    tcp(&lab, "b-blue", "a-blue");
    assert!(drops(&lab, B, "encap_too_big") >= 1, "{}", evidence(&lab));
}
