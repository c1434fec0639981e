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

/// Proof from host `host`'s control socket that the traffic between its
/// container on `net` and the other host's went through the tunnel: the
/// uplink sent at least `sent` frames and received at least `received`,
/// the worker counted them, and `tunnel-show` has the remote endpoint's MAC learned behind
/// the other host's VTEP (so frames were decapsulated from it).
fn tunnel_carried(lab: &OverlayLab, host: usize, net: &str, sent: u64, received: u64) {
    settle();
    let uplink = lab.port_stats(host, "up0").unwrap();
    for (key, min) in [("tx_packets", sent), ("rx_packets", received)] {
        assert!(
            count(&uplink, key) >= min,
            "host {host}: uplink {key} {} < {min}: {uplink}{}",
            count(&uplink, key),
            evidence(lab)
        );
    }
    let pmd = lab.request(host, "pmd-stats").unwrap();
    let packets: u64 = pmd["workers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| count(w, "packets"))
        .sum();
    // Every frame from the tunnel is received on its own; what went into
    // it may have come from the container as fewer super-frames.
    assert!(packets >= received, "host {host}: pmd-stats {pmd}");
    let other = 1 - host;
    let remote = lab.hosts[other].vtep.to_string();
    let far = format!("{}-{net}", lab.hosts[other].name);
    let far_mac = lab.mac_of(&far).unwrap();
    let macs = lab.tunnel_macs(host, net).unwrap();
    assert!(
        macs.iter()
            .any(|(vtep, macs)| *vtep == remote && macs.contains(&far_mac)),
        "host {host}: {far}'s MAC {far_mac} is not learned behind VTEP {remote}: {macs:?}{}",
        evidence(lab)
    );
    // The tunnel port's own counters, for the record (the datapath counts
    // tunnel traffic on the uplink; see the report of these tests).
    let tunnel = lab.port_stats(host, &lab.tunnel_port(net)).unwrap();
    println!(
        "host {}: up0 rx {} tx {}, worker packets {packets}, {far_mac} behind {remote} in {}; {} port counters rx {} tx {}",
        lab.hosts[host].name,
        count(&uplink, "rx_packets"),
        count(&uplink, "tx_packets"),
        lab.tunnel_port(net),
        lab.tunnel_port(net),
        count(&tunnel, "rx_packets"),
        count(&tunnel, "tx_packets"),
    );
}

/// Frames of blue's VNI never reach red's containers: a-blue, given an
/// address in red's subnet, pings b-red's address and gets nothing. Its
/// ARP requests do cross blue's tunnel (host B floods them to b-blue),
/// while b-red's switch port sends nothing, b-red's kernel counts
/// nothing, and host B's red tunnel never learns a-blue's MAC.
fn isolated(lab: &OverlayLab) {
    // Red's own kernels keep quiet meanwhile: no ARP probes between them
    // (a probe due from the pings above would cross red's tunnel).
    lab.pin_neighbour("a-red", "b-red").unwrap();
    lab.pin_neighbour("b-red", "a-red").unwrap();
    let red_b = lab.endpoint("b-red").unwrap().ip;
    let [a, b, c, _] = red_b.octets();
    lab.add_address("a-blue", &format!("{}/24", Ipv4Addr::new(a, b, c, 9)))
        .unwrap();
    settle();
    let tx = |port: &str| count(&lab.port_stats(B, port).unwrap(), "tx_packets");
    let (blue_tx, red_tx) = (tx("b-blue"), tx("b-red"));
    let kernel_rx = lab.kernel_rx_packets("b-red").unwrap();
    let report = lab.ping_addr("a-blue", red_b, 3).unwrap();
    settle();
    // The workers publish their counters in snapshots: on a loaded machine
    // the ARP's crossing may show a moment late (bounded wait).
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while tx("b-blue") == blue_tx && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (blue_tx_after, red_tx_after) = (tx("b-blue"), tx("b-red"));
    let kernel_rx_after = lab.kernel_rx_packets("b-red").unwrap();
    let a_blue = lab.mac_of("a-blue").unwrap();
    let red_macs = lab.tunnel_macs(B, "red").unwrap();
    println!(
        "isolation: a-blue -> {red_b}: {}; host B: b-blue port tx +{}, b-red port tx +{}, b-red eth0 rx +{}, red tunnel's MACs {red_macs:?}",
        report.summary(),
        blue_tx_after - blue_tx,
        red_tx_after - red_tx,
        kernel_rx_after - kernel_rx
    );
    assert_eq!(report.received(), 0, "blue reached red{}", evidence(lab));
    assert!(
        blue_tx_after > blue_tx,
        "a-blue's ARP for {red_b} did not cross blue's tunnel{}",
        evidence(lab)
    );
    assert_eq!(red_tx_after, red_tx, "b-red's port sent{}", evidence(lab));
    assert_eq!(
        kernel_rx_after,
        kernel_rx,
        "b-red received{}",
        evidence(lab)
    );
    assert!(
        red_macs.iter().all(|(_, macs)| !macs.contains(&a_blue)),
        "host B's red tunnel learned a-blue's MAC {a_blue}{}",
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
    // The receiver's acknowledgements go back: a few hundred at least.
    let acks = 100;
    tunnel_carried(&lab, A, "blue", segments, acks);
    tunnel_carried(&lab, B, "blue", acks, segments);
    tunnel_carried(&lab, A, "red", 6, 6);
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
    let acks = 100;
    tunnel_carried(&lab, A, "blue", acks, segments);
    tunnel_carried(&lab, B, "blue", segments, acks);
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
    tunnel_carried(&lab, A, "blue", segments, segments);
    tunnel_carried(&lab, B, "blue", segments, segments);
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
    tunnel_carried(&lab, A, "blue", segments, segments);
    // The kernel resolved our VTEP address to our uplink's MAC: we
    // answered its ARP for 10.200.0.1.
    kernel_resolved_our_vtep(&lab, "uplink_arp");
}

/// Host B's kernel holds our uplink's MAC for our VTEP address, and our
/// uplink consumed the kernel's neighbour discovery (`reason`: ARP or NDP).
fn kernel_resolved_our_vtep(lab: &OverlayLab, reason: &str) {
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
        evidence(lab)
    );
    assert!(
        drops(lab, A, reason) > 0,
        "no {reason} consumed on the uplink{}",
        evidence(lab)
    );
}

/// The same against the kernel over an IPv6 underlay: our neighbour
/// discovery (solicitations, advertisements) against a real stack's.
#[test]
fn interop_with_the_kernel_vxlan_device_over_ipv6() {
    let spec = OverlaySpec::new(TunnelType::Vxlan)
        .ipv6_underlay()
        .kernel_peer();
    let Some(lab) = up("interop_with_the_kernel_vxlan_device_over_ipv6", &spec) else {
        return;
    };
    ping(&lab, "a-blue", "b-blue");
    ping(&lab, "b-blue", "a-blue");
    tcp(&lab, "a-blue", "b-blue");
    kernel_resolved_our_vtep(&lab, "uplink_ndp");
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
    let (a_ip, b_ip) = (
        lab.endpoint("a-blue").unwrap().ip,
        lab.endpoint("b-blue").unwrap().ip,
    );
    let route = |from: &str, to: Ipv4Addr| {
        let out = lab.ip_in(from, &["route", "get", &to.to_string()]).unwrap();
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    };

    // TCP first, from b-blue, while neither side knows a lower path MTU:
    // a-blue advertises an MSS of 1,460, b-blue's full segments do not fit
    // the tunnel, host B's switch answers fragmentation-needed and b-blue's
    // kernel shrinks them.
    tcp(&lab, "b-blue", "a-blue");
    settle();
    let b_too_big = drops(&lab, B, "encap_too_big");
    let b_route = route("b-blue", a_ip);
    println!("TCP at MTU 1500: host b encap_too_big {b_too_big}; b-blue: ip route get {b_route}");
    assert!(b_too_big >= 1, "{}", evidence(&lab));
    assert!(
        b_route.contains(&format!("mtu {CONTAINER_MTU}")),
        "{b_route}"
    );

    // A DF datagram of 1,500 bytes from a-blue.
    let a_before = drops(&lab, A, "encap_too_big");
    let probe = lab.probe_path_mtu("a-blue", b_ip, 1500, 10).unwrap();
    settle();
    let a_too_big = drops(&lab, A, "encap_too_big") - a_before;
    let a_route = route("a-blue", b_ip);
    println!(
        "DF datagram of 1500 bytes from a-blue: {probe:?}; ip route get {a_route}; host a encap_too_big +{a_too_big}"
    );
    assert_eq!(
        probe.path_mtu,
        CONTAINER_MTU,
        "no fragmentation-needed for {CONTAINER_MTU} reached a-blue{}",
        evidence(&lab)
    );
    assert!(
        a_route.contains(&format!("mtu {CONTAINER_MTU}")),
        "{a_route}"
    );
    assert!(
        a_too_big >= 1,
        "encap_too_big counted nothing{}",
        evidence(&lab)
    );
    tcp(&lab, "a-blue", "b-blue");
}
